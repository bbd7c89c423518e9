//! The map page, its files, the styles, the glyphs and the sprites: thin handlers over
//! [`crate::assets`].

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, ErrorBody, Path};
use crate::assets::{self, fonts, sprites, styles};

/// Answers embedded bytes with their type, an ETag and `304` when the client has them.
pub(super) fn embedded(
    headers: &HeaderMap,
    content_type: &'static str,
    bytes: bytes::Bytes,
    max_age: u32,
) -> Response {
    let etag = assets::etag(&bytes);
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    (StatusCode::OK, h, bytes).into_response()
}

/// The map page: MapLibre with the three styles, object details on click, search by number.
#[utoipa::path(get, path = "/", tag = "map",
    responses((status = 200, description = "The map page", content_type = "text/html")))]
pub async fn index(headers: HeaderMap) -> Result<Response, ApiError> {
    let page = assets::file("index.html").ok_or_else(|| ApiError::internal("map page missing"))?;
    Ok(embedded(
        &headers,
        page.content_type,
        bytes::Bytes::from_static(page.bytes),
        0,
    ))
}

/// A file of the map page: its script and style sheet, and MapLibre GL JS.
#[utoipa::path(get, path = "/assets/{path}", tag = "map",
    params(("path" = String, Path, description = "e.g. app.js or vendor/maplibre-gl/maplibre-gl.mjs")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file", body = ErrorBody),
    ))]
pub async fn file(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let a = assets::file(&path)
        .filter(|a| {
            !matches!(
                a.path,
                "index.html" | "shelters.html" | "shelters-sw.js" | "dispatch.html"
            )
        })
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no asset {:?}",
                path.chars().take(80).collect::<String>()
            ))
        })?;
    Ok(embedded(
        &headers,
        a.content_type,
        bytes::Bytes::from_static(a.bytes),
        300,
    ))
}

/// A MapLibre style (`dispatcher`, `residents`, its night variant `residents-dark`, or `engineers`) with this server's tile and
/// glyph URLs, opening where `[city]` says or else on the densest area of its layers' data.
#[utoipa::path(get, path = "/styles/{name}.json", tag = "map",
    params(("name" = String, Path, description = "dispatcher, residents, residents-dark or engineers")),
    responses(
        (status = 200, description = "MapLibre style JSON (version 8)", body = Object),
        (status = 404, description = "No such style", body = ErrorBody),
    ))]
pub async fn style(
    State(app): State<AppState>,
    access: super::access::Access,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(name) = name.strip_suffix(".json") else {
        return Err(ApiError::not_found("styles are at /styles/{name}.json"));
    };
    let origin = super::tiles::origin(&app, &headers);
    let twin = app.registry.twin();
    let focus = |layers: &[_]| app.tiles.focus.focus(&twin, layers, &app.config.city);
    let s = styles::style(name, &origin, &twin, &access.view, focus).map_err(|e| match e {
        styles::StyleError::Unknown(_) => ApiError::not_found(e.to_string()),
        styles::StyleError::Broken { .. } => ApiError::internal(e.to_string()),
    })?;
    drop(twin);
    Ok((
        [
            (header::CACHE_CONTROL, "no-cache"),
            (header::VARY, "Authorization"),
        ],
        Json(s),
    )
        .into_response())
}

/// Glyphs for map labels: one range of 256 code points of a font stack.
#[utoipa::path(get, path = "/fonts/{fontstack}/{range}.pbf", tag = "map",
    params(
        ("fontstack" = String, Path, description = "Font stack, e.g. DejaVu Sans"),
        ("range" = String, Path, description = "START-END, e.g. 0-255"),
    ),
    responses(
        (status = 200, description = "Glyph PBF", content_type = "application/x-protobuf"),
        (status = 400, description = "Bad range", body = ErrorBody),
        (status = 404, description = "Unknown font", body = ErrorBody),
    ))]
pub async fn glyphs(
    Path((stack, range)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let start = fonts::parse_range(&range).map_err(|e| ApiError::bad("range", e.to_string()))?;
    let pbf = tokio::task::spawn_blocking(move || fonts::glyphs(&stack, start))
        .await
        .map_err(|e| ApiError::internal(format!("glyph task failed: {e}")))?
        .map_err(|e| match e {
            fonts::GlyphError::UnknownFont(_) => ApiError::not_found(e.to_string()),
            other => ApiError::internal(other.to_string()),
        })?;
    Ok(embedded(&headers, "application/x-protobuf", pbf, 86_400))
}

/// The map icons as a MapLibre sprite: the index (`.json`) and the image (`.png`), at pixel
/// ratio 1 (`citytwin`) or 2 (`citytwin@2x`).
#[utoipa::path(get, path = "/sprites/{file}", tag = "map",
    params(("file" = String, Path, description = "citytwin.json, citytwin.png, citytwin@2x.json or citytwin@2x.png")),
    responses(
        (status = 200, description = "Sprite index (JSON) or image (PNG)"),
        (status = 404, description = "No such sprite file", body = ErrorBody),
    ))]
pub async fn sprite(Path(file): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (ratio, png) = sprites::parse(&file).map_err(|e| ApiError::not_found(e.to_string()))?;
    let sheet = tokio::task::spawn_blocking(move || sprites::sheet(ratio))
        .await
        .map_err(|e| ApiError::internal(format!("sprite task failed: {e}")))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(if png {
        embedded(&headers, "image/png", sheet.png.clone(), 86_400)
    } else {
        embedded(&headers, "application/json", sheet.json.clone(), 86_400)
    })
}
