//! `/nearest`: thin handler over [`crate::resolve`].

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, ErrorBody, Query};
use crate::resolve::{self, Landmark, NearestError, NearestQuery};

/// Query of `/nearest`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NearestParams {
    /// Latitude of the caller, WGS84 degrees.
    pub lat: f64,
    /// Longitude of the caller, WGS84 degrees.
    pub lon: f64,
    /// How many landmarks, 1..=50 (default 5).
    pub k: Option<usize>,
    /// Comma list of numbered point layers (default: all of them).
    pub layers: Option<String>,
    /// Search radius in metres, up to 50000 (default 1000).
    pub max_m: Option<f64>,
}

/// The answer of `/nearest`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Nearest {
    /// Nearest first.
    pub landmarks: Vec<Landmark>,
}

/// The numbered landmarks nearest to a position: "you are 12 m south-west of pole ОП-104273-5".
/// Broken or removed landmarks are marked by `status`, not hidden.
#[utoipa::path(get, path = "/nearest", tag = "resolve", params(NearestParams),
    responses(
        (status = 200, description = "Landmarks, nearest first", body = Nearest),
        (status = 400, description = "Bad position, k, radius or layers", body = ErrorBody),
    ))]
pub async fn nearest(
    State(app): State<AppState>,
    Query(p): Query<NearestParams>,
) -> Result<Json<Nearest>, ApiError> {
    let twin = app.registry.twin();
    let layers = match p.layers.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(list) => crate::tiles::parse_layers(list, twin.layers())
            .map_err(|e| ApiError::bad("layers", e.to_string()))?,
    };
    let q = NearestQuery {
        lat: p.lat,
        lon: p.lon,
        k: p.k.unwrap_or(5),
        layers,
        max_m: p.max_m.unwrap_or(1000.0),
    };
    let landmarks = resolve::nearest(&twin, &q).map_err(|e| match e {
        NearestError::Bad { field, reason } => ApiError::bad(field, reason),
    })?;
    Ok(Json(Nearest { landmarks }))
}
