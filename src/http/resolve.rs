//! `/resolve` and `/nearest`: thin handlers over [`crate::resolve`].

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::Access;
use super::error::{ApiError, ErrorBody, Query};
use crate::resolve::{self, Landmark, NearestQuery, ResolveQuery, Resolved};

/// The `layers` parameter: a comma list of layer names the caller may read, or (empty) all
/// they may read.
fn optional_layers(
    twin: &crate::twin::Twin,
    list: Option<&str>,
    access: &Access,
) -> Result<Vec<crate::model::LayerId>, ApiError> {
    match list.map(str::trim) {
        None | Some("") => Ok(Vec::new()),
        Some(list) => {
            let layers = crate::tiles::parse_layers(list, twin.layers())
                .map_err(|e| ApiError::bad("layers", e.to_string()))?;
            access.view.check_read_all(&layers)?;
            Ok(layers)
        }
    }
}

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
        (status = 401, description = "A layer needs a token, or the token is not valid", body = ErrorBody),
        (status = 403, description = "The token's role may not read a layer", body = ErrorBody),
        (status = 429, description = "Too many resolver requests from this client (limits.<role>.resolve_per_minute)", body = ErrorBody),
    ))]
pub async fn nearest(
    State(app): State<AppState>,
    access: Access,
    Query(p): Query<NearestParams>,
) -> Result<Json<Nearest>, ApiError> {
    let twin = app.registry.twin();
    let layers = optional_layers(&twin, p.layers.as_deref(), &access)?;
    let q = NearestQuery {
        lat: p.lat,
        lon: p.lon,
        k: p.k.unwrap_or(5),
        layers,
        visible: access.view.visible(),
        max_m: p.max_m.unwrap_or(1000.0),
    };
    let landmarks = resolve::nearest(&twin, &q)?;
    Ok(Json(Nearest { landmarks }))
}

/// Query of `/resolve`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResolveParams {
    /// The number as heard or read, e.g. `ОП-104273-5`, `опора 104273 5`, `op1042735`.
    pub q: String,
    /// The caller's area as `lat,lon` (the phone mast's area or the district).
    pub near: Option<String>,
    /// How far from `near` the caller may be, metres (default 2000).
    pub radius_m: Option<f64>,
    /// Comma list of layers to consider (default: all).
    pub layers: Option<String>,
    /// Most candidates, 1..=20 (default 5).
    pub limit: Option<usize>,
}

/// Resolves a painted number as heard — even misheard or half-read — to the objects it can
/// be, best first, with place, address, Plus Code and a phrase for the crew. Says when the
/// check digit proves a mishearing and when two candidates are both plausible.
#[utoipa::path(get, path = "/resolve", tag = "resolve", params(ResolveParams),
    responses(
        (status = 200, description = "Candidates, best first", body = Resolved),
        (status = 400, description = "Bad query, position, radius, layers or limit", body = ErrorBody),
        (status = 401, description = "A layer needs a token, or the token is not valid", body = ErrorBody),
        (status = 403, description = "The token's role may not read a layer", body = ErrorBody),
        (status = 429, description = "Too many resolver requests from this client (limits.<role>.resolve_per_minute)", body = ErrorBody),
    ))]
pub async fn resolve(
    State(app): State<AppState>,
    access: Access,
    Query(p): Query<ResolveParams>,
) -> Result<Json<Resolved>, ApiError> {
    let near = match p.near.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => {
            let parts: Vec<&str> = s.split(',').map(str::trim).collect();
            let num = |t: &str| t.parse::<f64>().ok().filter(|v| v.is_finite());
            match parts.as_slice() {
                [la, lo] => match (num(la), num(lo)) {
                    (Some(lat), Some(lon)) => Some([lon, lat]),
                    _ => return Err(ApiError::bad("near", format!("{s:?} is not lat,lon"))),
                },
                _ => return Err(ApiError::bad("near", format!("{s:?} is not lat,lon"))),
            }
        }
    };
    let twin = app.registry.twin();
    let layers = optional_layers(&twin, p.layers.as_deref(), &access)?;
    let q = ResolveQuery {
        q: p.q,
        near,
        radius_m: p.radius_m.unwrap_or(2000.0),
        layers,
        visible: access.view.visible(),
        limit: p.limit.unwrap_or(5),
        streets: Some(app.streets.clone()),
    };
    resolve::resolve(&twin, &q)
        .map(Json)
        .map_err(ApiError::from)
}

/// Query of `/locate`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LocateParams {
    /// 2 to 6 numbers the caller reads around them, comma-separated.
    pub numbers: String,
    /// How far a painted number can be read from, metres (default 150).
    pub visible_m: Option<f64>,
}

/// Where a caller is who reads several numbers around them: the place within sight of all of
/// them, its uncertainty radius, and any number that cannot be seen together with the others.
#[utoipa::path(get, path = "/locate", tag = "resolve", params(LocateParams),
    responses(
        (status = 200, description = "The estimated place", body = resolve::Located),
        (status = 400, description = "Too few or too many numbers, bad distance", body = ErrorBody),
        (status = 401, description = "The token is not valid", body = ErrorBody),
        (status = 404, description = "A number matches no object", body = ErrorBody),
        (status = 429, description = "Too many resolver requests from this client (limits.<role>.resolve_per_minute)", body = ErrorBody),
    ))]
pub async fn locate(
    State(app): State<AppState>,
    access: Access,
    Query(p): Query<LocateParams>,
) -> Result<Json<resolve::Located>, ApiError> {
    let numbers: Vec<String> = p
        .numbers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let twin = app.registry.twin();
    resolve::locate(
        &twin,
        &numbers,
        p.visible_m.unwrap_or(150.0),
        &access.view.visible(),
    )
    .map(Json)
    .map_err(|e| match e {
        resolve::LocateError::Bad(bad) => bad.into(),
        resolve::LocateError::Unknown(_) => ApiError::not_found(e.to_string()),
    })
}

/// Query of `/audit/numbers`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Pairs closer than this, metres (default 1000, up to 100000).
    pub within_m: Option<f64>,
}

/// The answer of `/audit/numbers`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Audit {
    pub within_m: f64,
    /// Nearest first.
    pub pairs: Vec<resolve::audit::Pair>,
}

/// Objects closer than `within_m` whose numbers a caller could mistake for each other, with a
/// new number to suggest for the later one (nothing is changed). For staff.
#[utoipa::path(get, path = "/audit/numbers", tag = "resolve", params(AuditParams),
    responses(
        (status = 200, description = "Confusable pairs", body = Audit),
        (status = 400, description = "Bad distance", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not read the audit", body = ErrorBody),
    ))]
pub async fn audit_numbers(
    State(app): State<AppState>,
    access: Access,
    Query(p): Query<AuditParams>,
) -> Result<Json<Audit>, ApiError> {
    access.view.check_audit()?;
    let within_m = p.within_m.unwrap_or(1000.0);
    if !(within_m.is_finite() && within_m > 0.0 && within_m <= 100_000.0) {
        return Err(ApiError::bad(
            "within_m",
            format!("{within_m} is outside (0, 100000] metres"),
        ));
    }
    let registry = app.registry.clone();
    let pairs = tokio::task::spawn_blocking(move || registry.audit_numbers(within_m))
        .await
        .map_err(|e| ApiError::internal(format!("audit task failed: {e}")))??;
    // Only pairs whose both objects the caller may read.
    let pairs = {
        let twin = app.registry.twin();
        let readable = |name: &str| access.view.can_read_name(twin.layers(), name);
        let visible = access.view.visible();
        pairs
            .into_iter()
            .filter(|p| readable(&p.a.layer) && readable(&p.b.layer))
            .filter(|p| twin.shows(&visible, p.a.id) && twin.shows(&visible, p.b.id))
            .collect()
    };
    Ok(Json(Audit { within_m, pairs }))
}
