//! The HTTP API (axum). Handlers parse the request, call one library function and shape the
//! answer; errors become JSON in one place ([`error::ApiError`]). Every route is registered
//! through the OpenAPI router, so `/openapi.json` cannot miss one.

pub mod access;
mod assets;
mod audit;
mod dispatch;
pub mod error;
mod events;
mod fibre;
pub mod limits;
pub mod metrics;
mod objects;
mod reports;
mod resolve;
mod shelters;
mod stats;
mod tiles;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Config;
use crate::registry::Registry;
use error::ApiError;

/// What every handler gets: one shared [`App`]. Every middleware and extractor clones the
/// state once per request, so it is one reference count, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// The services of one server.
pub struct App {
    pub registry: Arc<Registry>,
    pub config: Arc<Config>,
    pub tiles: Arc<crate::tiles::TileService>,
    pub metrics: Arc<metrics::Metrics>,
    pub policy: Arc<crate::access::Policy>,
    pub auth: Arc<crate::access::Authenticator>,
    pub guard: Arc<limits::Guard>,
    pub shelters: Arc<crate::shelters::ShelterService>,
    pub streets: Arc<crate::resolve::streets::StreetCache>,
    pub fibre: Arc<crate::fibre::FibreService>,
    pub reports: Arc<crate::reports::ReportService>,
    pub events: Arc<crate::events::EventHub>,
    pub mqtt: Arc<crate::mqtt::MqttCounters>,
    /// The city's districts (`[city] districts`).
    pub districts: Arc<crate::districts::Districts>,
    /// Listeners of `/events`, set when `/metrics` is read.
    pub events_listeners: prometheus_client::metrics::gauge::Gauge,
}

impl AppState {
    /// The state of a server over `registry`: its tile service follows the registry's edits;
    /// callers are checked against the registry's tokens and the configured access rules.
    ///
    /// Fails when the store cannot be read (the incidents are rebuilt from its history).
    pub fn new(
        registry: Arc<Registry>,
        config: Arc<Config>,
    ) -> Result<AppState, crate::registry::RegistryError> {
        let layers = registry.twin().layers().clone();
        for name in crate::access::policy::unknown_layers(&config.access, &layers) {
            tracing::warn!(
                layer = name,
                "access rule for a layer this store does not have"
            );
        }
        let policy = Arc::new(crate::access::Policy::new(&config.access, &layers));
        let tiles = crate::tiles::TileService::new(config.tiles.clone(), &registry, policy.clone());
        let r = registry.clone();
        let auth = Arc::new(crate::access::Authenticator::new(Arc::new(move || {
            r.tokens().map_err(|e| crate::access::auth::LoadError {
                unavailable: matches!(
                    e,
                    crate::registry::RegistryError::Store(
                        crate::store::StoreError::Unavailable { .. }
                    )
                ),
                message: e.to_string(),
            })
        })));
        let shelters =
            crate::shelters::ShelterService::new(config.shelters.clone(), config.city.tz());
        registry.follow(shelters.clone());
        // Read and checked once already when the configuration was loaded.
        let renamings = config.city.renamings().unwrap_or_else(|e| {
            tracing::error!(error = e, "street renamings not read");
            Default::default()
        });
        let reports = crate::reports::ReportService::load(config.reports.clone(), &registry)?;
        let followed = reports.clone();
        registry.on_catch_up(Arc::new(move |r| {
            if let Err(err) = followed.follow(r) {
                tracing::warn!(%err, "could not read other instances' reports");
            }
        }));
        let events = crate::events::EventHub::new(&registry, 4096);
        let hub = events.clone();
        registry.on_commit(Arc::new(move || hub.poke()));
        let mqtt = Arc::new(crate::mqtt::MqttCounters::default());
        let events_listeners = prometheus_client::metrics::gauge::Gauge::default();
        let mut metrics = metrics::Metrics::new();
        metrics.register_live(&mqtt, events_listeners.clone());
        // Read and checked once already when the configuration was loaded.
        let districts = config.city.districts().unwrap_or_else(|e| {
            tracing::error!(error = e, "districts not read");
            Default::default()
        });
        Ok(AppState(Arc::new(App {
            districts: Arc::new(districts),
            reports,
            events,
            mqtt,
            events_listeners,
            fibre: Arc::new(crate::fibre::FibreService::new(config.fibre.clone())),
            streets: Arc::new(crate::resolve::streets::StreetCache::new(renamings)),
            shelters,
            guard: Arc::new(limits::Guard::new(&config.limits)),
            registry,
            config,
            tiles,
            metrics: Arc::new(metrics),
            policy,
            auth,
        })))
    }
}

/// Routes whose last path segment has a suffix (`{y}.mvt`, `{layers}.json`, `{name}.json`,
/// `{range}.pbf`) or is a file path (`/assets/…`), which the router cannot match as documented:
/// documented here, registered by hand in [`router`].
#[derive(OpenApi)]
#[openapi(paths(
    tiles::tile,
    tiles::tilejson,
    assets::file,
    assets::style,
    assets::glyphs,
    assets::sprite
))]
struct SuffixedRoutes;

#[derive(OpenApi)]
#[openapi(
    info(title = "citytwin", description = "Digital twin of a city's numbered objects: registry, vector tiles, emergency resolver."),
    tags((name = "registry", description = "Layers and numbered objects"), (name = "tiles", description = "Vector tiles and TileJSON"), (name = "map", description = "The map page, MapLibre styles, glyphs and sprites"), (name = "resolve", description = "Emergency location: numbers and positions"), (name = "shelters", description = "Nearest open shelters by walking route, and the shelter list's audit"), (name = "fibre", description = "Traces over the fibre network: paths, cuts, bridges"), (name = "reports", description = "Residents' reports by number, the incidents staff work on, and live events"), (name = "service", description = "Health, metrics and API description"))
)]
struct ApiDoc;

/// Health of the service.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when the registry answers.
    pub status: String,
    /// Objects in the layers the caller may see.
    pub objects: usize,
    /// Layers the caller may see.
    pub layers: usize,
    pub version: String,
    pub store: StoreHealth,
}

/// The store behind the service.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreHealth {
    /// `geopackage` or `postgis`.
    pub kind: String,
    /// PostGIS: whether this instance is connected to the database and follows the other
    /// instances' writes. While it is not, reads answer from memory and writes get 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
}

/// Liveness and size of the twin (the objects and layers the caller may see).
#[utoipa::path(get, path = "/health", tag = "service", responses(
    (status = 200, body = Health),
    (status = 401, description = "The token is not valid", body = error::ErrorBody),
))]
async fn health(State(app): State<AppState>, access: access::Access) -> Json<Health> {
    let twin = app.registry.twin();
    let readable = access.view.readable();
    Json(Health {
        status: "ok".into(),
        objects: readable
            .iter()
            .map(|l| twin.count_seen(*l, access.view.sees_hidden()))
            .sum(),
        layers: readable.len(),
        version: env!("CARGO_PKG_VERSION").into(),
        store: StoreHealth {
            kind: app.registry.store_kind().into(),
            connected: app
                .registry
                .feed
                .get()
                .map(|f| f.load(std::sync::atomic::Ordering::SeqCst)),
        },
    })
}

/// Adds to every operation the answers any request can get from the layers around the
/// handlers (and to operations with a body, those of body parsing), where it does not say
/// them already.
fn document_common_answers(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in api.paths.paths.values_mut() {
        let ops = [
            (item.get.as_mut(), false),
            (item.post.as_mut(), true),
            (item.patch.as_mut(), true),
            (item.delete.as_mut(), true),
        ];
        for (op, write) in ops {
            let Some(op) = op else { continue };
            let body = op.request_body.is_some();
            let r = &mut op.responses.responses;
            let mut add = |code: &str, what: &str| {
                r.entry(code.to_string())
                    .or_insert_with(|| error(what).into());
            };
            add(
                "401",
                "The token is not valid (wrong, unknown, revoked or expired)",
            );
            add(
                "414",
                "The query string is longer than limits.max_query_bytes",
            );
            add(
                "503",
                "This feature is at its limit of requests at once, or the request took longer than limits.timeout_ms",
            );
            if body {
                add("413", "The body is larger than max_body_bytes");
                add("415", "The body is not Content-Type: application/json");
                add("422", "The body is JSON of the wrong shape");
            }
            if write {
                add(
                    "429",
                    "Too many writes from this client (limits.<role>.writes_per_minute)",
                );
            }
        }
    }
}

/// The router with every route, and the OpenAPI document describing them.
pub fn router(state: AppState) -> Router {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(objects::layers))
        .routes(routes!(objects::object, objects::patch, objects::delete))
        .routes(routes!(objects::list, objects::create))
        .routes(routes!(metrics::metrics))
        .routes(routes!(assets::index))
        .routes(routes!(resolve::nearest))
        .routes(routes!(resolve::resolve))
        .routes(routes!(resolve::locate))
        .routes(routes!(resolve::audit_numbers))
        .routes(routes!(audit::history))
        .routes(routes!(shelters::nearest))
        .routes(routes!(shelters::audit))
        .routes(routes!(shelters::page))
        .routes(routes!(shelters::service_worker))
        .routes(routes!(shelters::instructions))
        .routes(routes!(shelters::list))
        .routes(routes!(shelters::pmtiles))
        .routes(routes!(stats::stats))
        .routes(routes!(dispatch::page))
        .routes(routes!(dispatch::record, dispatch::calls))
        .routes(routes!(fibre::path))
        .routes(routes!(fibre::isolate))
        .routes(routes!(fibre::bridges))
        .routes(routes!(fibre::connected))
        .routes({
            // A photo of up to reports.photo_max_bytes arrives as base64 inside JSON.
            let (schemas, paths, route) = routes!(reports::file);
            let limit = state.config.reports.photo_max_bytes / 3 * 4 + 64 * 1024;
            let limit = limit.max(state.config.max_body_bytes);
            (
                schemas,
                paths,
                route.layer(axum::extract::DefaultBodyLimit::max(limit)),
            )
        })
        .routes(routes!(reports::kinds))
        .routes(routes!(reports::report_page))
        .routes(routes!(reports::centre_page))
        .routes(routes!(reports::list))
        .routes(routes!(reports::one, reports::patch))
        .routes(routes!(reports::photo))
        .routes(routes!(events::events))
        .split_for_parts();
    let mut api = api;
    api.merge(SuffixedRoutes::openapi());
    document_common_answers(&mut api);
    let api = Arc::new(api);
    let router = router
        // Documented by `SuffixedRoutes` under the paths clients use.
        .route("/tiles/{layers}/{z}/{x}/{y}", get(tiles::tile))
        .route("/tiles/{name}", get(tiles::tilejson))
        .route("/styles/{name}", get(assets::style))
        .route("/fonts/{fontstack}/{range}", get(assets::glyphs))
        .route("/sprites/{file}", get(assets::sprite))
        .route("/assets/{*path}", get(assets::file))
        .route(
            "/openapi.json",
            get(move || {
                let api = api.clone();
                async move { Json(api.as_ref().clone()) }
            }),
        )
        .fallback(|| async { ApiError::not_found("no such route; see /openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route; see /openapi.json",
            )
        });
    harden(router, state)
}

/// The layers every request passes, outermost first: tracing, metrics, the limits and
/// bulkheads of [`limits::guard`], panic isolation, the body limit.
pub fn harden(router: Router<AppState>, state: AppState) -> Router {
    router
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.max_body_bytes,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            limits::panic_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hub = tokio::spawn(state.events.clone().run(state.registry.clone()));
    let mqtt = tokio::spawn(crate::mqtt::run(
        state.config.mqtt.clone(),
        state.registry.clone(),
        state.mqtt.clone(),
    ));
    let guard = state.guard.clone();
    let tidy = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            guard.tidy();
        }
    });
    let r = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    tidy.abort();
    hub.abort();
    mqtt.abort();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn state(dir: &std::path::Path, limits: crate::config::Limits) -> AppState {
        let layers = crate::model::Layers::default_city();
        let store = crate::store::gpkg::GpkgStore::open(&dir.join("s.gpkg"), &layers, 6).unwrap();
        let registry = Arc::new(Registry::open(Box::new(store), 1000.0).unwrap());
        let config = Config {
            limits,
            ..Config::default()
        };
        AppState::new(registry, Arc::new(config)).unwrap()
    }

    async fn call(app: &Router, path: &str) -> (StatusCode, serde_json::Value) {
        let r = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    /// A handler with a bug: an `expect` on something absent.
    async fn boom() -> &'static str {
        let absent: Option<&'static str> = std::hint::black_box(None);
        absent.expect("a bug in one feature")
    }

    /// A panic or a slow request in one feature stops neither the others nor the server.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_or_a_slow_feature_leaves_the_others_answering() {
        let dir = tempfile::tempdir().unwrap();
        let limits = crate::config::Limits {
            timeout_ms: 1500,
            concurrency: 2,
            ..Default::default()
        };
        let st = state(dir.path(), limits);
        let slow = || async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            "late"
        };
        let app = harden(
            Router::new()
                .route("/locate", get(boom))
                .route("/audit/numbers", get(slow))
                .route("/tiles/x", get(|| async { "tile" }))
                .route("/resolve", get(|| async { "resolved" })),
            st,
        );
        // The panic is one request's 500, in JSON.
        let (s, e) = call(&app, "/locate").await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e["code"], "internal");
        // The audit gets two slots; the third slow request is refused at once.
        let a = tokio::spawn({
            let app = app.clone();
            async move { call(&app, "/audit/numbers").await }
        });
        let b = tokio::spawn({
            let app = app.clone();
            async move { call(&app, "/audit/numbers").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (s, e) = call(&app, "/audit/numbers").await;
        assert_eq!(
            (s, e["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("overloaded"))
        );
        // Meanwhile tiles and the resolver answer at once, again and again.
        for _ in 0..20 {
            assert_eq!(call(&app, "/tiles/x").await.0, StatusCode::OK);
            assert_eq!(call(&app, "/resolve").await.0, StatusCode::OK);
        }
        // The slow ones end at the time limit with a JSON 503.
        for h in [a, b] {
            let (s, e) = h.await.unwrap();
            assert_eq!(
                (s, e["code"].as_str()),
                (StatusCode::SERVICE_UNAVAILABLE, Some("timeout"))
            );
        }
        // And the panicking route did not poison anything.
        assert_eq!(
            call(&app, "/locate").await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(call(&app, "/tiles/x").await.0, StatusCode::OK);
    }
}
