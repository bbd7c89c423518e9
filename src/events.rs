//! Live changes, for `GET /events`: every history entry that changes what a map shows — an
//! object created, edited or deleted, an incident reported or moved, an import — becomes one
//! event whose id is the entry's sequence number. Live events and the events replayed after a
//! reconnection (`Last-Event-ID`) are made the same way, from the stored history, so a client
//! that resumes gets exactly what it missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, broadcast};

use crate::access::View;
use crate::model::{Attributes, LayerId, Value, hidden_flag};
use crate::registry::Registry;
use crate::store::HistoryEntry;
use crate::twin::Twin;

/// One change as sent: the JSON is made once, and each listener checks whether it may see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The history entry's sequence number: the SSE id.
    pub seq: u64,
    /// `object`, `incident` or `reload` (an import changed too much to list).
    pub name: &'static str,
    /// The object's layer; `None` for a reload.
    pub layer: Option<LayerId>,
    /// The object is hidden from the public.
    pub hidden: bool,
    /// Only for roles that handle incidents.
    pub incident: bool,
    pub data: String,
}

impl Event {
    /// The event of one history entry, if it changes what a map shows.
    pub fn of(e: &HistoryEntry, twin: &Twin) -> Option<Event> {
        let seq = e.seq.max(0) as u64;
        let layers = twin.layers();
        match e.action.as_str() {
            "report" | "incident" => {
                let v = e.new.as_ref()?;
                let layer = layers.by_name(v.get("layer")?.as_str()?)?;
                let object_id = v.get("object_id")?.as_u64()?;
                let at = v.get("object_at").cloned().unwrap_or_default();
                let ms = |k: &str| v.get(k).and_then(serde_json::Value::as_i64).unwrap_or(0);
                let data = serde_json::json!({
                    "seq": seq,
                    "incident": v.get("incident"),
                    "state": v.get("state"),
                    "count": v.get("count"),
                    "kind": v.get("main_kind"),
                    "layer": v.get("layer"),
                    "number": v.get("number"),
                    "object_id": object_id,
                    "lon": at.get(0),
                    "lat": at.get(1),
                    "opened": crate::store::format_ms(ms("opened_ms")),
                    "updated": crate::store::format_ms(ms("at_ms")),
                });
                Some(Event {
                    seq,
                    name: "incident",
                    layer: Some(layer),
                    hidden: twin.get(object_id).is_some_and(|o| o.is_hidden()),
                    incident: true,
                    data: data.to_string(),
                })
            }
            _ if e.object_id.is_some() => {
                let layer = layers.by_name(e.layer.as_deref()?)?;
                let (state, change) = match (&e.old, &e.new) {
                    (_, Some(n)) if n.is_object() => {
                        (n, if e.old.is_some() { "edited" } else { "created" })
                    }
                    (Some(o), _) if o.is_object() => (o, "deleted"),
                    _ => return None,
                };
                let anchor = state
                    .get("geometry")
                    .and_then(|g| serde_json::from_value::<crate::model::Geometry>(g.clone()).ok())
                    .map(|g| g.anchor());
                let hidden = state
                    .get("attributes")
                    .and_then(|a| a.get(crate::model::HIDDEN))
                    .and_then(Value::from_json)
                    .is_some_and(|v| {
                        let mut a = Attributes::new();
                        a.insert(crate::model::HIDDEN.to_string(), v);
                        hidden_flag(&a)
                    });
                let data = serde_json::json!({
                    "seq": seq,
                    "change": change,
                    "id": e.object_id,
                    "layer": e.layer,
                    "number": state.get("number"),
                    "status": state.get("status"),
                    "lon": anchor.map(|a| a[0]),
                    "lat": anchor.map(|a| a[1]),
                    "at": e.at,
                });
                Some(Event {
                    seq,
                    name: "object",
                    layer: Some(layer),
                    hidden,
                    incident: false,
                    data: data.to_string(),
                })
            }
            "import" => Some(Event {
                seq,
                name: "reload",
                layer: None,
                hidden: false,
                incident: false,
                data: serde_json::json!({"seq": seq}).to_string(),
            }),
            _ => None,
        }
    }

    /// Whether `view` may see this event (the same policy as every other answer).
    pub fn visible_to(&self, view: &View) -> bool {
        let layer_ok = self.layer.is_none_or(|l| view.can_read(l));
        layer_ok
            && (!self.hidden || view.sees_hidden())
            && (!self.incident || view.handles_incidents())
    }
}

/// Turns new history entries into events for every listener.
pub struct EventHub {
    tx: broadcast::Sender<Arc<Event>>,
    wake: Notify,
    /// The newest entry turned into an event.
    last: AtomicU64,
}

/// Entries read from the store at a time.
const PAGE: usize = 1000;

impl EventHub {
    /// A hub starting after the history's newest entry; `capacity` events are kept for
    /// listeners that fall behind (who then catch up from the store).
    pub fn new(registry: &Registry, capacity: usize) -> Arc<EventHub> {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Arc::new(EventHub {
            tx,
            wake: Notify::new(),
            last: AtomicU64::new(registry.last_seq().unwrap_or(0)),
        })
    }

    /// Something was committed: look for new entries.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// The newest sequence number sent.
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    /// Listeners now.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Runs until the process ends: after each poke, reads the new entries and sends their
    /// events in order. A store error is logged and retried at the next poke or after a second.
    pub async fn run(self: Arc<Self>, registry: Arc<Registry>) {
        loop {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(1), self.wake.notified()).await;
            loop {
                let after = self.last();
                let r = registry.clone();
                let read = tokio::task::spawn_blocking(move || {
                    let rows = r.history_after(after, &[], PAGE)?;
                    let twin = r.twin();
                    let events: Vec<Event> =
                        rows.iter().filter_map(|e| Event::of(e, &twin)).collect();
                    let last = rows.last().map(|e| e.seq.max(0) as u64);
                    Ok::<_, crate::registry::RegistryError>((events, last, rows.len()))
                })
                .await;
                let (events, last, n) = match read {
                    Ok(Ok(x)) => x,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "events: history not read");
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "events: reader failed");
                        break;
                    }
                };
                for ev in events {
                    // No listener is not an error.
                    let _ = self.tx.send(Arc::new(ev));
                }
                if let Some(l) = last {
                    self.last.store(l, Ordering::Release);
                }
                if n < PAGE {
                    break;
                }
            }
        }
    }
}

/// The events after `after` up to the hub's newest, for a listener that resumes: at most
/// `limit`; `None` when more were missed than that (the listener should reload).
pub fn missed(
    registry: &Registry,
    after: u64,
    upto: u64,
    limit: usize,
) -> Result<Option<Vec<Event>>, crate::registry::RegistryError> {
    let mut out = Vec::new();
    let mut from = after;
    while from < upto {
        let rows = registry.history_after(from, &[], PAGE)?;
        let Some(last) = rows.last() else { break };
        from = last.seq.max(0) as u64;
        let twin = registry.twin();
        for e in rows.iter().filter(|e| (e.seq.max(0) as u64) <= upto) {
            if let Some(ev) = Event::of(e, &twin) {
                out.push(ev);
            }
        }
        if out.len() > limit {
            return Ok(None);
        }
    }
    Ok(Some(out))
}
