//! `/fibre/*`: traces over the fibre network for engineers; thin handlers over
//! [`crate::fibre`]. Every route asks the one check: the caller reads both fibre layers.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::AppState;
use super::access::Access;
use super::error::{ApiError, ErrorBody, Query};
use crate::fibre::{self, BridgesAnswer, ConnectedAnswer, IsolateAnswer, PathAnswer};

/// The caller may read the fibre layers (401 without a token, 403 for a role that may not).
fn check(app: &AppState, access: &Access) -> Result<(), ApiError> {
    let twin = app.registry.twin();
    for name in [fibre::graph::NODES, fibre::graph::SPANS] {
        let l = twin
            .layers()
            .by_name(name)
            .ok_or_else(|| ApiError::not_found(format!("this city has no layer {name}")))?;
        access.view.check_read(l)?;
    }
    Ok(())
}

/// Runs `f` over the graph off the async threads.
async fn with_graph<T: Send + 'static>(
    app: &AppState,
    access: &Access,
    f: impl FnOnce(
        &crate::twin::Twin,
        &fibre::graph::Graph,
        &fibre::FibreService,
    ) -> Result<T, fibre::FibreError>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    check(app, access)?;
    let (registry, service, visible) = (
        app.registry.clone(),
        app.fibre.clone(),
        access.view.visible(),
    );
    tokio::task::spawn_blocking(move || {
        let twin = registry.twin();
        let g = service.graph(&twin, &visible);
        f(&twin, &g, &service)
    })
    .await
    .map_err(|e| ApiError::internal(format!("fibre task failed: {e}")))?
    .map_err(ApiError::from)
}

/// Query of `/fibre/path`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PathParams {
    /// A node: OFDS id (`network/node` or `node`), number, or `lon,lat` (the nearest node).
    pub from: String,
    /// The other node, the same ways.
    pub to: String,
}

/// The shortest path by cable length between two nodes over working spans: the nodes and
/// spans in order, the total length, and the trace as GeoJSON. For engineers and dispatchers.
#[utoipa::path(get, path = "/fibre/path", tag = "fibre", params(PathParams),
    responses(
        (status = 200, description = "The path", body = PathAnswer),
        (status = 400, description = "A node that is not one", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not read the fibre layers", body = ErrorBody),
        (status = 404, description = "No working path", body = ErrorBody),
    ))]
pub async fn path(
    State(app): State<AppState>,
    access: Access,
    Query(p): Query<PathParams>,
) -> Result<Json<PathAnswer>, ApiError> {
    with_graph(&app, &access, move |twin, g, _| {
        fibre::path(twin, g, &p.from, &p.to)
    })
    .await
    .map(Json)
}

/// Query of `/fibre/isolate`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IsolateParams {
    /// Spans cut, comma-separated (OFDS ids or numbers): a trench takes every cable in it.
    pub span: Option<String>,
    /// Or the place of the cut: the nearest span to `lon`,`lat`.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
}

/// What a cut leaves without any path to the core (`[fibre] core`: the data centre and
/// points of presence): the nodes, counted per layer, and the cut and isolated parts as
/// GeoJSON.
#[utoipa::path(get, path = "/fibre/isolate", tag = "fibre", params(IsolateParams),
    responses(
        (status = 200, description = "What goes dark", body = IsolateAnswer),
        (status = 400, description = "No span named, or one that is not one", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not read the fibre layers", body = ErrorBody),
    ))]
pub async fn isolate(
    State(app): State<AppState>,
    access: Access,
    Query(p): Query<IsolateParams>,
) -> Result<Json<IsolateAnswer>, ApiError> {
    let mut spans: Vec<String> = p
        .span
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    match (p.lon, p.lat) {
        (Some(lon), Some(lat)) => spans.push(format!("{lon},{lat}")),
        (None, None) => {}
        _ => return Err(ApiError::bad("lon", "give both lon and lat, or neither")),
    }
    with_graph(&app, &access, move |twin, g, service| {
        let core = service.core(twin, g)?;
        fibre::isolate(twin, g, &core, &spans)
    })
    .await
    .map(Json)
}

/// Every span whose cut disconnects something (a span with a parallel twin is none), the
/// articulation nodes, and per node whether it has two edge-disjoint paths to the core; with
/// what is wrong with the network's data.
#[utoipa::path(get, path = "/fibre/bridges", tag = "fibre",
    responses(
        (status = 200, description = "Bridges and redundancy", body = BridgesAnswer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not read the fibre layers", body = ErrorBody),
    ))]
pub async fn bridges(
    State(app): State<AppState>,
    access: Access,
) -> Result<Json<BridgesAnswer>, ApiError> {
    with_graph(&app, &access, move |twin, g, service| {
        let core = service.core(twin, g)?;
        Ok(fibre::bridges(twin, g, &core))
    })
    .await
    .map(Json)
}

/// Query of `/fibre/connected`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConnectedParams {
    /// A node: OFDS id, number, or `lon,lat`.
    pub node: String,
}

/// Everything reachable from a node over working spans.
#[utoipa::path(get, path = "/fibre/connected", tag = "fibre", params(ConnectedParams),
    responses(
        (status = 200, description = "The nodes and spans reachable", body = ConnectedAnswer),
        (status = 400, description = "A node that is not one", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not read the fibre layers", body = ErrorBody),
    ))]
pub async fn connected(
    State(app): State<AppState>,
    access: Access,
    Query(p): Query<ConnectedParams>,
) -> Result<Json<ConnectedAnswer>, ApiError> {
    with_graph(&app, &access, move |twin, g, _| {
        fibre::connected(twin, g, &p.node)
    })
    .await
    .map(Json)
}
