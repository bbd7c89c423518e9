//! `/layers`, `/objects/{number}` and `/objects`: thin handlers over the twin.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json_, json};

use super::AppState;
use super::error::{ApiError, ErrorBody, Path, Query};
use crate::export::feature;
use crate::model::{GeometryKind, LayerId};

/// One layer as listed by `GET /layers`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LayerInfo {
    pub name: String,
    /// Objects in the layer.
    pub count: usize,
    pub geometry: GeometryKind,
    /// `[min_lon, min_lat, max_lon, max_lat]`, null when the layer is empty.
    pub bbox: Option<[f64; 4]>,
    /// Painted layer code in Ukrainian letters and its Latin transliteration (empty when the
    /// layer is not numbered).
    pub code: String,
    pub code_latin: String,
    pub numbered: bool,
    pub title_uk: String,
    pub title_en: String,
    /// Data version: changes whenever an object of the layer changes.
    pub version: u64,
}

/// The layers with counts, geometry type and extent.
#[utoipa::path(get, path = "/layers", tag = "registry",
    responses((status = 200, description = "Every layer", body = [LayerInfo])))]
pub async fn layers(State(app): State<AppState>) -> Json<Vec<LayerInfo>> {
    let twin = app.registry.twin();
    let layers = twin.layers();
    Json(
        layers
            .ids()
            .map(|l| {
                let d = layers.def(l);
                LayerInfo {
                    name: d.name.clone(),
                    count: twin.count(l),
                    geometry: d.geometry,
                    bbox: twin.bbox(l),
                    code: d.code.clone(),
                    code_latin: d.latin.clone(),
                    numbered: d.numbered,
                    title_uk: d.title_uk.clone(),
                    title_en: d.title_en.clone(),
                    version: twin.version(l),
                }
            })
            .collect(),
    )
}

/// One object by its painted number, as a GeoJSON Feature. The number may be written in
/// Cyrillic or Latin letters, with or without dashes (`ОП-104273-5`, `OP1042735`); a number kept
/// from a source (no check digit) is found by its text.
#[utoipa::path(get, path = "/objects/{number}", tag = "registry",
    params(("number" = String, Path, description = "Painted number, e.g. ОП-104273-5 or OP-104273-5")),
    responses(
        (status = 200, description = "GeoJSON Feature; properties include number, number_latin, layer, status, attributes", body = Object),
        (status = 400, description = "Not a number", body = ErrorBody),
        (status = 404, description = "No object has this number", body = ErrorBody),
        (status = 409, description = "Several objects carry this source number", body = ErrorBody),
    ))]
pub async fn object(
    State(app): State<AppState>,
    Path(number): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    let trimmed = number.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 64 {
        return Err(ApiError::bad("number", "give a painted number of 1–64 characters"));
    }
    if !trimmed.chars().any(|c| c.is_alphanumeric()) {
        return Err(ApiError::bad("number", format!("{trimmed:?} has no letters or digits")));
    }
    let twin = app.registry.twin();
    let found = twin.find_number(trimmed);
    match found.as_slice() {
        [] => Err(ApiError::not_found(format!(
            "no object has number {trimmed:?} (check the digits: the last one is a check digit)"
        ))),
        [o] => Ok(Json(feature(o, twin.layers(), twin.serial_width()))),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|o| format!("{} #{}", twin.layers().def(o.layer).name, o.id))
                .collect();
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "ambiguous",
                format!("{} objects carry source number {trimmed:?}: {}", many.len(), list.join(", ")),
            ))
        }
    }
}

/// Query of `GET /objects`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Layer name, or several separated by commas; all layers when absent.
    pub layer: Option<String>,
    /// `min_lon,min_lat,max_lon,max_lat` in WGS84 degrees.
    pub bbox: Option<String>,
    /// Page size (default 100, at most the configured `max_page`).
    pub limit: Option<usize>,
    /// Cursor: return objects with an id greater than this (the previous page's `next_after`).
    pub after: Option<u64>,
}

/// Objects as a GeoJSON FeatureCollection in id order, paged with `after`.
#[utoipa::path(get, path = "/objects", tag = "registry", params(ListQuery),
    responses(
        (status = 200, description = "FeatureCollection with `number_returned` and `next_after` (null on the last page)", body = Object),
        (status = 400, description = "Bad layer, bbox or limit", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Json_>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > app.config.max_page {
        return Err(ApiError::bad("limit", format!("must be 1–{}", app.config.max_page)));
    }
    let bbox = q.bbox.as_deref().map(parse_bbox).transpose()?;
    let after = q.after.unwrap_or(0);
    let twin = app.registry.twin();
    let layers = twin.layers();
    let selected: Vec<LayerId> = match q.layer.as_deref() {
        None | Some("") => layers.ids().collect(),
        Some(list) => list
            .split(',')
            .map(|name| {
                layers.by_name(name.trim()).ok_or_else(|| {
                    let known: Vec<&str> = layers.defs().iter().map(|d| d.name.as_str()).collect();
                    ApiError::bad("layer", format!("unknown layer {name:?}; known: {}", known.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let mut ids: Vec<u64> = Vec::new();
    for l in selected {
        match bbox {
            Some(b) => ids.extend(twin.query(l, b).into_iter().filter(|id| *id > after)),
            None => ids.extend(twin.ids_after(l, after).take(limit + 1)),
        }
    }
    ids.sort_unstable();
    let more = ids.len() > limit;
    ids.truncate(limit);
    let features: Vec<Json_> = ids
        .iter()
        .filter_map(|id| twin.get(*id))
        .map(|o| feature(o, layers, twin.serial_width()))
        .collect();
    Ok(Json(json!({
        "type": "FeatureCollection",
        "number_returned": features.len(),
        "next_after": if more { ids.last().copied() } else { None },
        "features": features,
    })))
}

/// Parses `min_lon,min_lat,max_lon,max_lat`.
pub fn parse_bbox(s: &str) -> Result<[f64; 4], ApiError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        return Err(ApiError::bad("bbox", format!("expected 4 numbers min_lon,min_lat,max_lon,max_lat, got {}", parts.len())));
    }
    let mut v = [0f64; 4];
    for (i, p) in parts.iter().enumerate() {
        v[i] = p
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| ApiError::bad("bbox", format!("{p:?} is not a finite number")))?;
    }
    if !(-180.0..=180.0).contains(&v[0]) || !(-180.0..=180.0).contains(&v[2]) {
        return Err(ApiError::bad("bbox", "longitudes must be within −180…180"));
    }
    if !(-90.0..=90.0).contains(&v[1]) || !(-90.0..=90.0).contains(&v[3]) {
        return Err(ApiError::bad("bbox", "latitudes must be within −90…90"));
    }
    if v[0] > v[2] || v[1] > v[3] {
        return Err(ApiError::bad("bbox", "min must not exceed max (min_lon,min_lat,max_lon,max_lat)"));
    }
    Ok(v)
}
