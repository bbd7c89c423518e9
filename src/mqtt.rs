//! The city's IoT platform over MQTT: a camera's heartbeat, a cabinet's door sensor, a lamp
//! controller publish an object's status; each message sets it through the registry like any
//! edit (history, tile invalidation, live events). A bad message is counted and logged and
//! changes nothing; the subscriber reconnects on its own.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use serde::{Deserialize, Serialize};

use crate::model::{Status, now_ms};
use crate::registry::{Patch, Registry};

/// `[mqtt]`: where the broker is and what to read from it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MqttSettings {
    /// The broker, `mqtt://host:1883`; unset, no subscriber runs.
    pub url: Option<String>,
    /// This server's client id at the broker (each instance needs its own).
    pub client_id: String,
    /// What to subscribe to.
    pub topics: Vec<Topic>,
}

impl Default for MqttSettings {
    fn default() -> Self {
        MqttSettings {
            url: None,
            client_id: "citytwin".into(),
            topics: vec![Topic::default()],
        }
    }
}

/// One subscription: its topic filter and where in a message the number, status and time are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Topic {
    /// An MQTT topic filter (`+` and `#` wildcards).
    pub topic: String,
    /// Only objects of this layer (a number of another layer is refused).
    pub layer: Option<String>,
    /// JSON pointer to the painted number in the payload.
    pub number: String,
    /// Take the number from this topic level instead (0 is the first), e.g. 2 for
    /// `city/cameras/КМ-100231-7/heartbeat`.
    pub number_level: Option<usize>,
    /// JSON pointer to the status (a word such as `ok`, `broken`, `closed`, or a boolean:
    /// true is `ok`, false `broken`).
    pub status: String,
    /// JSON pointer to the time of the reading (RFC 3339 or epoch milliseconds); a reading
    /// older than the object's last status change is ignored.
    pub at: String,
}

impl Default for Topic {
    fn default() -> Self {
        Topic {
            topic: "citytwin/status/#".into(),
            layer: None,
            number: "/number".into(),
            number_level: None,
            status: "/status".into(),
            at: "/at".into(),
        }
    }
}

impl MqttSettings {
    pub fn check(&self, layers: &crate::model::Layers) -> Result<(), String> {
        if let Some(url) = &self.url {
            rumqttc::MqttOptions::parse_url(with_client_id(url, &self.client_id))
                .map_err(|e| format!("mqtt.url {url:?}: {e}"))?;
        }
        for (i, t) in self.topics.iter().enumerate() {
            if t.topic.is_empty() {
                return Err(format!("mqtt.topics[{i}].topic is empty"));
            }
            if let Some(l) = &t.layer
                && layers.by_name(l).is_none()
            {
                return Err(format!("mqtt.topics[{i}].layer {l:?} does not exist"));
            }
            for (name, p) in [("number", &t.number), ("status", &t.status), ("at", &t.at)] {
                if !p.is_empty() && !p.starts_with('/') {
                    return Err(format!(
                        "mqtt.topics[{i}].{name} {p:?} is not a JSON pointer (it starts with /)"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn with_client_id(url: &str, id: &str) -> String {
    if url.contains("client_id=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&client_id={id}")
    } else {
        format!("{url}?client_id={id}")
    }
}

/// The outcome of a message, as a metric label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

/// What became of the messages, for `/metrics`.
#[derive(Debug, Default)]
pub struct MqttCounters {
    /// 1 while connected to the broker.
    pub connected: Gauge,
    /// Messages by outcome: applied, unchanged, stale, unknown_number, bad_payload, failed.
    pub messages: Family<OutcomeLabel, Counter>,
    /// Connection attempts that failed (the subscriber tries again every second).
    pub reconnects: Counter,
}

/// What one message did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Applied,
    Unchanged,
    Stale,
    UnknownNumber(String),
    BadPayload(String),
    Failed(String),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Stale => "stale",
            Outcome::UnknownNumber(_) => "unknown_number",
            Outcome::BadPayload(_) => "bad_payload",
            Outcome::Failed(_) => "failed",
        }
    }
}

impl MqttCounters {
    fn count(&self, o: &Outcome) {
        self.messages
            .get_or_create(&OutcomeLabel {
                outcome: o.label().into(),
            })
            .inc();
    }
}

/// Whether topic `name` matches filter `filter` (`+` one level, `#` the rest).
pub fn matches(filter: &str, name: &str) -> bool {
    let mut f = filter.split('/');
    let mut n = name.split('/');
    loop {
        match (f.next(), n.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Applies one message on `topic` read by `t`.
pub fn apply(registry: &Registry, t: &Topic, topic: &str, payload: &[u8]) -> Outcome {
    let v: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return Outcome::BadPayload(format!("not JSON: {e}")),
    };
    let number = match t.number_level {
        Some(i) => topic.split('/').nth(i).map(str::to_string),
        None => v.pointer(&t.number).and_then(|n| match n {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
    };
    let Some(number) = number.filter(|n| !n.trim().is_empty()) else {
        return Outcome::BadPayload(format!("no number at {}", t.number));
    };
    let status = match v.pointer(&t.status) {
        Some(serde_json::Value::String(s)) => match Status::parse(s) {
            Some(st) => st,
            None => return Outcome::BadPayload(format!("unknown status {s:?}")),
        },
        Some(serde_json::Value::Bool(true)) => Status::Ok,
        Some(serde_json::Value::Bool(false)) => Status::Broken,
        _ => return Outcome::BadPayload(format!("no status at {}", t.status)),
    };
    let at = match v.pointer(&t.at) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => match crate::store::parse_ms(s) {
            Some(ms) => Some(ms),
            None => return Outcome::BadPayload(format!("time {s:?} is not RFC 3339")),
        },
        Some(other) => return Outcome::BadPayload(format!("time {other} is not a time")),
    };
    let (id, old) = {
        let twin = registry.twin();
        let layer = t.layer.as_deref().and_then(|l| twin.layers().by_name(l));
        let found: Vec<crate::model::Object> = twin
            .find_number(&number)
            .into_iter()
            .filter(|o| layer.is_none_or(|l| o.layer == l))
            .cloned()
            .collect();
        match <[crate::model::Object; 1]>::try_from(found) {
            Ok([o]) => (o.id, o),
            Err(_) => return Outcome::UnknownNumber(number),
        }
    };
    if old.status == status {
        return Outcome::Unchanged;
    }
    if let Some(at) = at
        && (at < old.status_changed || at > now_ms() + 300_000)
    {
        return Outcome::Stale;
    }
    let patch = Patch {
        status: Some(status),
        ..Default::default()
    };
    match registry.update(id, patch, "mqtt") {
        Ok(_) => Outcome::Applied,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// Runs the subscriber until the process ends: connects, subscribes to every topic (again
/// after each reconnection), applies each message in turn.
pub async fn run(settings: MqttSettings, registry: Arc<Registry>, counters: Arc<MqttCounters>) {
    let Some(url) = settings.url.clone() else {
        return;
    };
    let mut opts = match rumqttc::MqttOptions::parse_url(with_client_id(&url, &settings.client_id))
    {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(url, error = %e, "mqtt: bad url; no subscriber");
            return;
        }
    };
    opts.set_keep_alive(Duration::from_secs(15));
    opts.set_clean_session(true);
    let (client, mut events) = rumqttc::AsyncClient::new(opts, 64);
    let topics = Arc::new(settings.topics);
    loop {
        match events.poll().await {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                counters.connected.set(1);
                tracing::info!(url, "mqtt: connected");
                for t in topics.iter() {
                    if let Err(e) = client.try_subscribe(t.topic.clone(), rumqttc::QoS::AtLeastOnce)
                    {
                        tracing::warn!(topic = t.topic, error = %e, "mqtt: not subscribed");
                    }
                }
            }
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                let Some(t) = topics.iter().find(|t| matches(&t.topic, &p.topic)).cloned() else {
                    continue;
                };
                let (r, topic, payload) = (registry.clone(), p.topic.clone(), p.payload.clone());
                let outcome = tokio::task::spawn_blocking(move || apply(&r, &t, &topic, &payload))
                    .await
                    .unwrap_or_else(|e| Outcome::Failed(e.to_string()));
                counters.count(&outcome);
                match &outcome {
                    Outcome::BadPayload(why) | Outcome::Failed(why) => {
                        tracing::warn!(topic = p.topic, why, "mqtt: message not applied")
                    }
                    Outcome::UnknownNumber(n) => {
                        tracing::warn!(topic = p.topic, number = n, "mqtt: no such number")
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(e) => {
                if counters.connected.set(0) == 1 {
                    tracing::warn!(url, error = %e, "mqtt: connection lost; reconnecting");
                }
                counters.reconnects.inc();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_filters_match_as_mqtt_says() {
        assert!(matches("citytwin/status/#", "citytwin/status/cameras/1"));
        assert!(matches("citytwin/status/#", "citytwin/status"));
        assert!(matches("city/+/x", "city/cameras/x"));
        assert!(!matches("city/+/x", "city/cameras/y"));
        assert!(!matches("city/a", "city/a/b"));
    }
}
