//! `/tiles/{layers}/{z}/{x}/{y}.mvt` and `/tiles/{layers}.json`: thin handlers over
//! [`crate::tiles`].

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::access::Access;
use super::error::{ApiError, ErrorBody, Path, Query};
use crate::model::LayerId;
use crate::tiles::{self, Encoding, LayerListError, TileId, service::Source};

/// Media type of Mapbox Vector Tiles.
pub const MVT: &str = "application/vnd.mapbox-vector-tile";

/// Query of a tile request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TileQuery {
    /// Data version from the TileJSON's tile URL. A tile asked with the current version may be
    /// cached for a day (any edit gives a new version and so a new URL); any other value is
    /// served the current tile with the layers' own short cache lifetime.
    pub v: Option<String>,
}

fn layer_error(e: LayerListError) -> ApiError {
    match e {
        LayerListError::Empty(_) => ApiError::bad("layers", e.to_string()),
        LayerListError::Unknown { .. } => ApiError {
            status: StatusCode::NOT_FOUND,
            code: "unknown_layer",
            message: e.to_string(),
            field: Some("layers".into()),
        },
    }
}

/// The layers of a `{layers}` path segment, each one the caller may read.
fn readable_layers(
    twin: &crate::twin::Twin,
    list: &str,
    access: &Access,
) -> Result<Arc<[LayerId]>, ApiError> {
    let layers = tiles::parse_layers(list, twin.layers()).map_err(layer_error)?;
    access.view.check_read_all(&layers)?;
    Ok(layers.into())
}

/// One vector tile (Mapbox Vector Tile 2.1) with one MVT layer per requested layer. An empty
/// tile is answered `204 No Content`. Compressed with brotli or gzip as `Accept-Encoding`
/// allows; `If-None-Match` with the tile's ETag gives `304`.
#[utoipa::path(get, path = "/tiles/{layers}/{z}/{x}/{y}.mvt", tag = "tiles",
    params(
        ("layers" = String, Path, description = "A layer name or a comma list, e.g. poles,manholes"),
        ("z" = u8, Path, description = "Zoom, 0..=max_zoom"),
        ("x" = u32, Path, description = "Column, 0..2^z"),
        ("y" = u32, Path, description = "Row, 0..2^z (XYZ: row 0 is north)"),
        TileQuery,
    ),
    responses(
        (status = 200, description = "The tile", content_type = "application/vnd.mapbox-vector-tile"),
        (status = 204, description = "No feature in this tile"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "z, x or y out of range or not a number", body = ErrorBody),
        (status = 401, description = "A layer needs a token, or the token is not valid", body = ErrorBody),
        (status = 403, description = "The token's role may not read a layer", body = ErrorBody),
        (status = 404, description = "Unknown layer", body = ErrorBody),
    ))]
pub async fn tile(
    State(app): State<AppState>,
    access: Access,
    Path((list, z, x, y)): Path<(String, String, String, String)>,
    Query(q): Query<TileQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(y) = y.strip_suffix(".mvt") else {
        return Err(ApiError::bad(
            "y",
            format!("{y:?}: a tile address ends in .mvt, e.g. /tiles/poles/16/39155/22815.mvt"),
        ));
    };
    let tile = TileId::parse(&z, &x, y, app.tiles.settings.max_zoom).map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "bad_tile",
        message: e.to_string(),
        field: Some(e.field().into()),
    })?;
    // The data version is read before the tile is looked up: an edit bumps the version and
    // drops the tiles it touched in one step, so the tile found is never older than it.
    let (layers, max_age, version) = {
        let twin = app.registry.twin();
        let layers = readable_layers(&twin, &list, &access)?;
        let max_age = layers
            .iter()
            .map(|l| twin.layers().def(*l).max_age_s)
            .min()
            .unwrap_or(60);
        let version = tiles::tilejson::data_version(&twin, &layers);
        (layers, max_age, version)
    };
    let key = app.tiles.key(layers, tile, &access.view);
    let (entry, source) = match app.tiles.cached(&key) {
        Some(e) => (e, Source::Cache),
        None => {
            let _slot = app
                .tiles
                .render_slots
                .acquire()
                .await
                .map_err(|e| ApiError::internal(format!("render slots: {e}")))?;
            let (svc, registry) = (app.tiles.clone(), app.registry.clone());
            let started = Instant::now();
            let (e, source) = tokio::task::spawn_blocking(move || svc.render(&registry, key))
                .await
                .map_err(|e| ApiError::internal(format!("tile task failed: {e}")))?;
            if source == Source::Rendered {
                app.metrics
                    .tile_rendered(e.features, started.elapsed().as_secs_f64());
            }
            (e, source)
        }
    };
    match source {
        Source::Cache => app.metrics.tile_hits.inc(),
        Source::Rendered => app.metrics.tile_misses.inc(),
    };
    let current = q.v.as_deref() == Some(version.to_string().as_str());
    // A tile for a token holder may show what the public must not see: only the caller's
    // own cache may keep it (the URL is the same for every role).
    let scope = if access.caller.token.is_some() {
        "private"
    } else {
        "public"
    };
    let cache_control = if current {
        format!("{scope}, max-age=86400, immutable")
    } else {
        format!("{scope}, max-age={max_age}")
    };
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (enc, body) = entry.body(Encoding::negotiate(accept), app.tiles.settings.levels());
    let etag = entry.etag(enc);
    let mut h = HeaderMap::new();
    let put = |h: &mut HeaderMap, k: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    put(&mut h, header::ETAG, &etag);
    put(&mut h, header::CACHE_CONTROL, &cache_control);
    put(&mut h, header::VARY, "Accept-Encoding, Authorization");
    put(
        &mut h,
        header::HeaderName::from_static("x-tile-cache"),
        match source {
            Source::Cache => "hit",
            Source::Rendered => "miss",
        },
    );
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && entry.matches(inm)
    {
        app.metrics.tile_not_modified.inc();
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    if entry.is_empty() {
        return Ok((StatusCode::NO_CONTENT, h).into_response());
    }
    put(&mut h, header::CONTENT_TYPE, MVT);
    if let Some(e) = enc.header() {
        put(&mut h, header::CONTENT_ENCODING, e);
    }
    app.metrics.tile_sent(
        entry.raw().len(),
        body.len(),
        enc.header().unwrap_or("identity"),
    );
    Ok((StatusCode::OK, h, Body::from(body)).into_response())
}

/// This server's origin as the client reached it (`http://host:port`), for absolute URLs in
/// TileJSON and styles. A `Host` header that is not a plain host name falls back to the bind
/// address.
pub fn origin(app: &AppState, headers: &HeaderMap) -> String {
    if let Some(base) = &app.config.public_url {
        return base.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| app.config.bind.to_string());
    format!("http://{host}")
}

/// TileJSON 3.0.0 for a layer or a comma list of layers. The tile URL carries the layers' data
/// version (`?v=`), which changes with every edit of any of them.
#[utoipa::path(get, path = "/tiles/{layers}.json", tag = "tiles",
    params(("layers" = String, Path, description = "A layer name or a comma list, e.g. poles,manholes")),
    responses(
        (status = 200, description = "TileJSON 3.0.0", body = Object),
        (status = 401, description = "A layer needs a token, or the token is not valid", body = ErrorBody),
        (status = 403, description = "The token's role may not read a layer", body = ErrorBody),
        (status = 404, description = "Unknown layer", body = ErrorBody),
    ))]
pub async fn tilejson(
    State(app): State<AppState>,
    access: Access,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(list) = name.strip_suffix(".json") else {
        return Err(ApiError::not_found(format!(
            "/tiles/{name}: TileJSON is at /tiles/{{layers}}.json, tiles at /tiles/{{layers}}/{{z}}/{{x}}/{{y}}.mvt"
        )));
    };
    let base = origin(&app, &headers);
    let doc = {
        let twin = app.registry.twin();
        let layers = readable_layers(&twin, list, &access)?;
        let focus = app.tiles.focus.focus(&twin, &layers, &app.config.city);
        tiles::tilejson::tilejson(
            &twin,
            &layers,
            &base,
            &app.tiles,
            focus,
            &app.config.attribution,
            &access.view,
        )
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-cache"),
            (header::VARY, "Authorization"),
        ],
        Json(doc),
    )
        .into_response())
}
