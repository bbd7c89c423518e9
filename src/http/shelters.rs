//! `/shelters/nearest` and `/audit/shelters`: thin handlers over [`crate::shelters`].

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::AppState;
use super::access::Access;
use super::error::{ApiError, ErrorBody, Query};
use crate::shelters::{self, NearestQuery};

/// Ok when the city has a shelters layer and the caller may read it.
fn check_shelters_readable(app: &AppState, access: &Access) -> Result<(), ApiError> {
    let twin = app.registry.twin();
    let layer = twin
        .layers()
        .by_name(shelters::LAYER)
        .ok_or_else(|| ApiError::from(shelters::ShelterError::NoLayer))?;
    Ok(access.view.check_read(layer)?)
}

/// Query of `/shelters/nearest`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NearestParams {
    pub lat: f64,
    pub lon: f64,
    /// How many shelters (default 3, at most `shelters.max_k`).
    pub k: Option<usize>,
    /// Only shelters with step-free entry, by routes without steps (default false).
    pub accessible: Option<bool>,
    /// Leave out shelters known to be closed now: by their hours in the city's time zone, or
    /// closed, or reported locked (default false). Shelters whose hours are not known stay,
    /// with `open_now: null`.
    pub open_now: Option<bool>,
    /// Farthest walk, metres (default `shelters.default_max_m`).
    pub max_m: Option<f64>,
}

/// The nearest shelters by walking route, nearest first: each with its route (a GeoJSON
/// LineString from the asked position), metres, minutes, and its facts (type, address,
/// capacity, step-free access, hours, status, last verified). Where no imported way reaches,
/// distances are straight lines and the answer says so (`routing`, `note`).
#[utoipa::path(get, path = "/shelters/nearest", tag = "shelters", params(NearestParams),
    responses(
        (status = 200, description = "Shelters, nearest first", body = shelters::NearestShelters),
        (status = 400, description = "Bad position, k or distance", body = ErrorBody),
        (status = 401, description = "The shelters need a token, or the token is not valid", body = ErrorBody),
        (status = 403, description = "The token's role may not read the shelters", body = ErrorBody),
        (status = 404, description = "This city has no shelters layer", body = ErrorBody),
    ))]
pub async fn nearest(
    State(app): State<AppState>,
    access: Access,
    Query(p): Query<NearestParams>,
) -> Result<Json<shelters::NearestShelters>, ApiError> {
    check_shelters_readable(&app, &access)?;
    let q = NearestQuery {
        lat: p.lat,
        lon: p.lon,
        k: p.k.unwrap_or(3),
        accessible: p.accessible.unwrap_or(false),
        open_now: p.open_now.unwrap_or(false),
        max_m: p.max_m,
    };
    let visible = access.view.visible();
    let registry = app.registry.clone();
    let service = app.shelters.clone();
    // A search (and, after an edit, a rebuild of the graph) can take milliseconds: off the
    // request threads.
    tokio::task::spawn_blocking(move || {
        let twin = registry.twin();
        service.nearest(&twin, &q, &visible, chrono::Utc::now())
    })
    .await
    .map_err(|e| ApiError::internal(format!("shelter search failed: {e}")))?
    .map(Json)
    .map_err(ApiError::from)
}

/// The shelter list's data-quality audit, for staff: rows the imports rejected for having no
/// coordinates (never on the map), shelters stacked on one point (a geocoder's fallback),
/// outside the city, listed twice at one address, without capacity or readable hours.
#[utoipa::path(get, path = "/audit/shelters", tag = "shelters",
    responses(
        (status = 200, description = "The audit", body = shelters::audit::ShelterAudit),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not read the audit", body = ErrorBody),
        (status = 404, description = "This city has no shelters layer", body = ErrorBody),
    ))]
pub async fn audit(
    State(app): State<AppState>,
    access: Access,
) -> Result<Json<shelters::audit::ShelterAudit>, ApiError> {
    access.view.check_audit()?;
    let registry = app.registry.clone();
    let bounds = app.config.city.bounds;
    let visible = access.view.visible();
    tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let rejects = registry.recent_rejects(AUDIT_SCAN)?;
        let twin = registry.twin();
        shelters::audit_twin(&twin, &visible, &rejects, bounds).map_err(ApiError::from)
    })
    .await
    .map_err(|e| ApiError::internal(format!("shelter audit failed: {e}")))?
    .map(Json)
}

/// History entries the audit looks through for the imports' rejected rows.
const AUDIT_SCAN: usize = 5000;

/// The residents' shelter page: the nearest open shelter by walking route, on a phone, in
/// Ukrainian or English, working offline once opened.
#[utoipa::path(get, path = "/shelters", tag = "shelters",
    responses((status = 200, description = "The residents' page", content_type = "text/html")))]
pub async fn page(headers: axum::http::HeaderMap) -> Result<axum::response::Response, ApiError> {
    let page = crate::assets::file("shelters.html")
        .ok_or_else(|| ApiError::internal("shelter page missing"))?;
    Ok(super::assets::embedded(
        &headers,
        page.content_type,
        bytes::Bytes::from_static(page.bytes),
        0,
    ))
}

/// The page's service worker: keeps the page, its scripts, the instructions, the last
/// shelter list and answers, and the city's PMTiles, for when the server is out of reach.
#[utoipa::path(get, path = "/shelters/sw.js", tag = "shelters",
    responses((status = 200, description = "The service worker", content_type = "text/javascript")))]
pub async fn service_worker(
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let sw = crate::assets::file("shelters-sw.js")
        .ok_or_else(|| ApiError::internal("service worker missing"))?;
    let mut r = super::assets::embedded(
        &headers,
        sw.content_type,
        bytes::Bytes::from_static(sw.bytes),
        0,
    );
    // It lives under /shelters/ and looks after the page at /shelters.
    r.headers_mut().insert(
        "service-worker-allowed",
        axum::http::HeaderValue::from_static("/shelters"),
    );
    Ok(r)
}

/// Query of `/shelters/instructions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InstructionsParams {
    /// `uk` (default) or `en`.
    pub lang: Option<String>,
}

/// What to do during an alert, from the files staff edit (`shelters.instructions_dir`).
#[utoipa::path(get, path = "/shelters/instructions", tag = "shelters", params(InstructionsParams),
    responses(
        (status = 200, description = "The instructions as HTML", body = shelters::instructions::Instructions),
        (status = 400, description = "Unknown language", body = ErrorBody),
    ))]
pub async fn instructions(
    State(app): State<AppState>,
    Query(p): Query<InstructionsParams>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let lang = p.lang.unwrap_or_else(|| "uk".into());
    let dir = app.config.shelters.instructions_dir.clone();
    let l = lang.clone();
    let i = tokio::task::spawn_blocking(move || shelters::instructions::instructions(&dir, &l))
        .await
        .map_err(|e| ApiError::internal(format!("instructions task failed: {e}")))?
        .ok_or_else(|| {
            ApiError::bad(
                "lang",
                format!(
                    "{:?}: use one of {}",
                    lang.chars().take(20).collect::<String>(),
                    shelters::instructions::LANGS.join(", ")
                ),
            )
        })?;
    Ok(([(axum::http::header::CACHE_CONTROL, "no-cache")], Json(i)).into_response())
}

/// Every shelter the caller may see, as GeoJSON with its facts and `open_now`.
#[utoipa::path(get, path = "/shelters/list", tag = "shelters",
    responses(
        (status = 200, description = "GeoJSON FeatureCollection of shelters", body = Object),
        (status = 401, description = "The shelters need a token, or the token is not valid", body = ErrorBody),
        (status = 403, description = "The token's role may not read the shelters", body = ErrorBody),
        (status = 404, description = "This city has no shelters layer", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<AppState>,
    access: Access,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_shelters_readable(&app, &access)?;
    let visible = access.view.visible();
    let registry = app.registry.clone();
    let tz = app.shelters.time_zone();
    tokio::task::spawn_blocking(move || {
        let twin = registry.twin();
        shelters::list(&twin, &visible, tz, chrono::Utc::now())
    })
    .await
    .map_err(|e| ApiError::internal(format!("shelter list failed: {e}")))?
    .map(Json)
    .map_err(ApiError::from)
}

/// Where the city's PMTiles archive is kept.
pub fn pmtiles_path(config: &crate::config::Config) -> std::path::PathBuf {
    config
        .shelters
        .pmtiles
        .clone()
        .unwrap_or_else(|| config.store.file.with_extension("pmtiles"))
}

/// The city's PMTiles archive (shelters and streets as the public sees them), with HTTP range
/// requests, for the residents' page to keep offline. When it is missing, this request has it
/// written, waiting up to 10 s for it; longer, it is answered 503 with `Retry-After`.
#[utoipa::path(get, path = "/shelters/city.pmtiles", tag = "shelters",
    responses(
        (status = 200, description = "The archive", content_type = "application/vnd.pmtiles"),
        (status = 206, description = "A range of it"),
        (status = 503, description = "Being written; ask again after Retry-After seconds", body = ErrorBody),
    ))]
pub async fn pmtiles(
    State(app): State<AppState>,
    req: axum::extract::Request,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let path = pmtiles_path(&app.config);
    if !path.exists() {
        if app.shelters.start_writing_pmtiles() {
            let (registry, config, service, p) = (
                app.registry.clone(),
                app.config.clone(),
                app.shelters.clone(),
                path.clone(),
            );
            let policy = app.policy.clone();
            std::thread::spawn(move || {
                let twin = registry.twin();
                let view = policy.view(crate::access::Role::Public);
                let layers: Vec<_> = [shelters::LAYER, crate::walk::STREETS]
                    .iter()
                    .filter_map(|n| twin.layers().by_name(n))
                    .filter(|l| view.can_read(*l) && twin.count(*l) > 0)
                    .collect();
                // The basemap of the same area: buildings, water and parks to find the way by.
                let basemap = twin
                    .layers()
                    .basemap()
                    .into_iter()
                    .filter(|l| view.can_read(*l) && twin.count(*l) > 0)
                    .collect();
                let plan = crate::export::pmtiles::PmtilesPlan {
                    layers,
                    basemap,
                    bbox: None,
                    min_zoom: 10,
                    max_zoom: 16.min(config.tiles.max_zoom),
                };
                match crate::export::pmtiles::write_pmtiles(
                    &twin,
                    &plan,
                    &config.tiles,
                    &view,
                    &config.attribution,
                    &p,
                ) {
                    Ok(r) => {
                        tracing::info!(tiles = r.tiles, bytes = r.bytes, path = %p.display(), "city PMTiles written")
                    }
                    Err(e) => tracing::warn!(error = %e, "city PMTiles not written"),
                }
                service.done_writing_pmtiles();
            });
        }
        // A city's archive takes a moment: wait for it a little before asking to come back.
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if !app.shelters.writing_pmtiles() {
                break;
            }
        }
        if path.exists() {
            return serve_archive(&path, req).await;
        }
        let mut r = ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "preparing",
            "the city's PMTiles archive is being written: ask again in a few seconds",
        )
        .into_response();
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        );
        return Ok(r);
    }
    serve_archive(&path, req).await
}

/// The archive at `path`, with range requests.
async fn serve_archive(
    path: &std::path::Path,
    req: axum::extract::Request,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    use tower::ServiceExt;
    let served = tower_http::services::ServeFile::new(path)
        .oneshot(req)
        .await
        .map_err(|e| ApiError::internal(format!("PMTiles file: {e}")))?;
    let mut r = served.map(axum::body::Body::new).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/vnd.pmtiles"),
    );
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-cache"),
    );
    Ok(r)
}
