//! `GET /metrics`: Prometheus text format. Requests and latency per route, tile cache hits and
//! misses, tile bytes and features per tile.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::AppState;
use super::error::ApiError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EncodingLabels {
    encoding: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pub tile_hits: Counter,
    pub tile_misses: Counter,
    pub tile_not_modified: Counter,
    tile_bytes: Family<EncodingLabels, Counter>,
    tile_size: Histogram,
    tile_features: Histogram,
    tile_render_seconds: Histogram,
    cache_entries: Gauge,
    cache_bytes: Gauge,
    cache_invalidated: Gauge,
    objects: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let mut m = Metrics {
            requests,
            latency,
            tile_hits: Counter::default(),
            tile_misses: Counter::default(),
            tile_not_modified: Counter::default(),
            tile_bytes: Family::default(),
            tile_size: Histogram::new(exponential_buckets(64.0, 4.0, 10)),
            tile_features: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            tile_render_seconds: Histogram::new(exponential_buckets(0.00005, 3.0, 12)),
            cache_entries: Gauge::default(),
            cache_bytes: Gauge::default(),
            cache_invalidated: Gauge::default(),
            objects: Gauge::default(),
            registry: Registry::with_prefix("citytwin"),
        };
        m.registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            m.requests.clone(),
        );
        m.registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route",
            m.latency.clone(),
        );
        m.registry.register(
            "tile_cache_hits",
            "Tiles answered from the cache",
            m.tile_hits.clone(),
        );
        m.registry.register(
            "tile_cache_misses",
            "Tiles that had to be rendered",
            m.tile_misses.clone(),
        );
        m.registry.register(
            "tile_not_modified",
            "Tile requests answered 304 Not Modified",
            m.tile_not_modified.clone(),
        );
        m.registry.register(
            "tile_bytes",
            "Tile body bytes sent, by content encoding",
            m.tile_bytes.clone(),
        );
        m.registry.register(
            "tile_size_bytes",
            "Uncompressed size of tiles sent",
            m.tile_size.clone(),
        );
        m.registry.register(
            "tile_features",
            "Features per rendered tile",
            m.tile_features.clone(),
        );
        m.registry.register(
            "tile_render_seconds",
            "Time to render one tile from the twin",
            m.tile_render_seconds.clone(),
        );
        m.registry.register(
            "tile_cache_entries",
            "Tiles held in the cache",
            m.cache_entries.clone(),
        );
        m.registry.register(
            "tile_cache_bytes",
            "Weight of the tile cache in bytes",
            m.cache_bytes.clone(),
        );
        m.registry.register(
            "tile_cache_invalidated",
            "Cached tiles dropped by edits since start",
            m.cache_invalidated.clone(),
        );
        m.registry
            .register("objects", "Objects in the twin", m.objects.clone());
        m
    }

    /// Notes one tile sent: its uncompressed size, the bytes on the wire and their encoding.
    /// Registers the MQTT subscriber's counters and the live events' listeners.
    pub fn register_live(&mut self, mqtt: &crate::mqtt::MqttCounters, listeners: Gauge) {
        self.registry.register(
            "mqtt_connected",
            "1 while connected to the MQTT broker",
            mqtt.connected.clone(),
        );
        self.registry.register(
            "mqtt_messages",
            "MQTT messages by outcome",
            mqtt.messages.clone(),
        );
        self.registry.register(
            "mqtt_reconnects",
            "Failed connection attempts to the MQTT broker",
            mqtt.reconnects.clone(),
        );
        self.registry
            .register("event_listeners", "Listeners of /events now", listeners);
    }

    pub fn tile_sent(&self, raw: usize, wire: usize, encoding: &str) {
        self.tile_size.observe(raw as f64);
        self.tile_bytes
            .get_or_create(&EncodingLabels {
                encoding: encoding.to_string(),
            })
            .inc_by(wire as u64);
    }

    /// Notes one tile rendered.
    pub fn tile_rendered(&self, features: usize, seconds: f64) {
        self.tile_features.observe(features as f64);
        self.tile_render_seconds.observe(seconds);
    }
}

/// Latency buckets from 0.1 ms to about 15 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.5, 14))
}

/// Counts every request and its latency under its route pattern (not its concrete path, so
/// the label set stays small).
pub async fn track(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let resp = next.run(req).await;
    let m = &app.metrics;
    m.requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: resp.status().as_u16(),
        })
        .inc();
    m.latency
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// Prometheus metrics of this server.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain"),
        (status = 401, description = "No valid token", body = super::error::ErrorBody),
        (status = 403, description = "The token's role may not read metrics", body = super::error::ErrorBody),
    ))]
pub async fn metrics(
    State(app): State<AppState>,
    access: super::access::Access,
) -> Result<Response, ApiError> {
    access.view.check_metrics()?;
    let stats = app.tiles.cache.stats();
    let m: &Arc<Metrics> = &app.metrics;
    m.cache_entries.set(stats.entries as i64);
    m.cache_bytes.set(stats.bytes as i64);
    m.cache_invalidated.set(stats.invalidated as i64);
    m.objects.set(app.registry.twin().len() as i64);
    app.events_listeners.set(app.events.listeners() as i64);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &m.registry)
        .map_err(|e| ApiError::internal(format!("metrics: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
