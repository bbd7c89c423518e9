//! `/layers`, `/objects/{number}` and `/objects`: thin handlers over the twin.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::AppState;
use super::access::Access;
use super::error::{ApiError, ErrorBody, Path, Query};
use crate::export::feature;
use crate::model::LayerId;
use crate::twin::LayerInfo;

/// The layers with counts, geometry type and extent.
#[utoipa::path(get, path = "/layers", tag = "registry",
    responses((status = 200, description = "Every layer", body = [LayerInfo])))]
pub async fn layers(State(app): State<AppState>, access: Access) -> Json<Vec<LayerInfo>> {
    let twin = app.registry.twin();
    Json(
        twin.layer_infos(access.view.sees_hidden())
            .into_iter()
            .filter(|i| access.view.can_read_name(twin.layers(), &i.name))
            .collect(),
    )
}

/// A painted number as asked (trimmed), refused when empty or longer than 64 characters.
pub(super) fn painted_number(asked: &str) -> Result<&str, ApiError> {
    let trimmed = asked.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 64 {
        return Err(ApiError::bad(
            "number",
            "give a painted number of 1–64 characters",
        ));
    }
    Ok(trimmed)
}

/// One object by its painted number, as a GeoJSON Feature. The number may be written in
/// Cyrillic or Latin letters, with or without dashes (`ОП-104273-5`, `OP1042735`); a number kept
/// from a source (no check digit) is found by its text.
#[utoipa::path(get, path = "/objects/{number}", tag = "registry",
    params(("number" = String, Path, description = "Painted number, e.g. ОП-104273-5 or OP-104273-5")),
    responses(
        (status = 200, description = "GeoJSON Feature; properties include number, number_latin, layer, status, attributes, and the district holding it when `[city] districts` is set", body = Object),
        (status = 400, description = "Not a number", body = ErrorBody),
        (status = 401, description = "The number's layer needs a token, or the token is not valid", body = ErrorBody),
        (status = 403, description = "The token's role may not read the number's layer", body = ErrorBody),
        (status = 404, description = "No object has this number", body = ErrorBody),
        (status = 409, description = "Several objects carry this source number", body = ErrorBody),
    ))]
pub async fn object(
    State(app): State<AppState>,
    access: Access,
    Path(number): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    let trimmed = painted_number(&number)?;
    if !trimmed.chars().any(|c| c.is_alphanumeric()) {
        return Err(ApiError::bad(
            "number",
            format!("{trimmed:?} has no letters or digits"),
        ));
    }
    let twin = app.registry.twin();
    let found = readable_by_number(&twin, trimmed, &access)?;
    match found.as_slice() {
        [] => Err(ApiError::not_found(format!(
            "no object has number {trimmed:?} (check the digits: the last one is a check digit)"
        ))),
        [o] => Ok(Json(shown(o, &twin, &access, &app.districts))),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|o| format!("{} #{}", twin.layers().def(o.layer).name, o.id))
                .collect();
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "ambiguous",
                format!(
                    "{} objects carry source number {trimmed:?}: {}",
                    many.len(),
                    list.join(", ")
                ),
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
        (status = 401, description = "A layer needs a token, or the token is not valid", body = ErrorBody),
        (status = 403, description = "The token's role may not read a layer", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<AppState>,
    access: Access,
    Query(q): Query<ListQuery>,
) -> Result<Json<Json_>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > app.config.max_page {
        return Err(ApiError::bad(
            "limit",
            format!("must be 1–{}", app.config.max_page),
        ));
    }
    let bbox = q.bbox.as_deref().map(parse_bbox).transpose()?;
    if let Some(b) = bbox {
        let km2 = bbox_km2(b);
        if km2 > app.config.limits.max_bbox_km2 {
            return Err(ApiError::bad(
                "bbox",
                format!(
                    "covers {km2:.0} km²; at most {} km² (setting limits.max_bbox_km2): page through smaller boxes",
                    app.config.limits.max_bbox_km2
                ),
            ));
        }
    }
    let after = q.after.unwrap_or(0);
    let twin = app.registry.twin();
    let layers = twin.layers();
    let selected: Vec<LayerId> = match q.layer.as_deref() {
        None | Some("") => access.view.readable(),
        Some(list) => list
            .split(',')
            .map(|name| {
                let l = layers.by_name(name.trim()).ok_or_else(|| {
                    let known: Vec<&str> = access
                        .view
                        .readable()
                        .into_iter()
                        .map(|l| layers.def(l).name.as_str())
                        .collect();
                    ApiError::bad(
                        "layer",
                        format!("unknown layer {name:?}; known: {}", known.join(", ")),
                    )
                })?;
                access.view.check_read(l)?;
                Ok(l)
            })
            .collect::<Result<_, ApiError>>()?,
    };
    let visible = access.view.visible();
    let shows = |id: &u64| twin.shows(&visible, *id);
    let mut ids: Vec<u64> = Vec::new();
    for l in selected {
        match bbox {
            Some(b) => ids.extend(
                twin.query(l, b)
                    .into_iter()
                    .filter(|id| *id > after)
                    .filter(shows),
            ),
            None => ids.extend(twin.ids_after(l, after).filter(shows).take(limit + 1)),
        }
    }
    ids.sort_unstable();
    let more = ids.len() > limit;
    ids.truncate(limit);
    let features: Vec<Json_> = ids
        .iter()
        .filter_map(|id| twin.get(*id))
        .map(|o| shown(o, &twin, &access, &app.districts))
        .collect();
    Ok(Json(json!({
        "type": "FeatureCollection",
        "number_returned": features.len(),
        "next_after": if more { ids.last().copied() } else { None },
        "features": features,
    })))
}

/// An object as the caller may see it: a GeoJSON Feature with the attributes their role
/// shows, and the district (`[city] districts`) that holds it.
fn shown(
    o: &crate::model::Object,
    twin: &crate::twin::Twin,
    access: &Access,
    districts: &crate::districts::Districts,
) -> Json_ {
    let mut f = feature(
        o,
        twin.layers(),
        twin.serial_width(),
        access.view.attrs(o.layer),
    );
    if let Some(d) = districts.at(o.geometry.anchor()) {
        f["properties"]["district"] = Json_::from(d);
    }
    f
}

/// The objects a written number names that the caller may read. A number whose layer code
/// names a layer the caller may not read is refused before it is looked up, so the answer
/// never tells whether such an object exists; an object found by a source number in such a
/// layer is simply not found.
pub(super) fn readable_by_number<'t>(
    twin: &'t crate::twin::Twin,
    number: &str,
    access: &Access,
) -> Result<Vec<&'t crate::model::Object>, ApiError> {
    let w = crate::numbering::split_written(number);
    if !w.code.is_empty()
        && let Some(l) = crate::numbering::layer_by_code(twin.layers(), &w.code)
    {
        access.view.check_read(l)?;
    }
    let mut found = twin.find_number(number);
    // A hidden object is not found at all by a viewer who may not see it.
    let visible = access.view.visible();
    found.retain(|o| visible.shows(o));
    Ok(found)
}

/// The area of a WGS84 box in km² (on a sphere).
fn bbox_km2(b: [f64; 4]) -> f64 {
    const R_KM: f64 = 6371.0088;
    let (s, n) = (b[1].to_radians(), b[3].to_radians());
    (b[2] - b[0]).to_radians() * R_KM * R_KM * (n.sin() - s.sin()).abs()
}

/// Parses `min_lon,min_lat,max_lon,max_lat`.
pub fn parse_bbox(s: &str) -> Result<[f64; 4], ApiError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        return Err(ApiError::bad(
            "bbox",
            format!(
                "expected 4 numbers min_lon,min_lat,max_lon,max_lat, got {}",
                parts.len()
            ),
        ));
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
        return Err(ApiError::bad(
            "bbox",
            "min must not exceed max (min_lon,min_lat,max_lon,max_lat)",
        ));
    }
    Ok(v)
}

/// The id of the one object a number names that the caller may change, or a JSON error.
fn writable_id(app: &AppState, number: &str, access: &Access) -> Result<u64, ApiError> {
    let twin = app.registry.twin();
    match readable_by_number(&twin, number.trim(), access)?.as_slice() {
        [o] => {
            access.view.check_write(o.layer)?;
            Ok(o.id)
        }
        [] => Err(ApiError::not_found(format!(
            "no object has number {:?}",
            number.trim()
        ))),
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ambiguous",
            format!("several objects carry {:?}", number.trim()),
        )),
    }
}

/// Runs a blocking registry write off the async workers and shapes the object as a Feature.
async fn write_feature(
    app: &AppState,
    access: &Access,
    f: impl FnOnce(
        &crate::registry::Registry,
    ) -> Result<crate::model::Object, crate::registry::RegistryError>
    + Send
    + 'static,
) -> Result<Json_, ApiError> {
    let registry = app.registry.clone();
    let o = tokio::task::spawn_blocking(move || f(&registry))
        .await
        .map_err(|e| ApiError::internal(format!("write task failed: {e}")))??;
    let twin = app.registry.twin();
    Ok(shown(&o, &twin, access, &app.districts))
}

/// Changes an object's status, attributes or geometry. Acknowledged only once durable.
#[utoipa::path(patch, path = "/objects/{number}", tag = "registry",
    params(("number" = String, Path, description = "Painted number")),
    request_body = crate::registry::Patch,
    responses(
        (status = 200, description = "The object as changed (GeoJSON Feature)", body = Object),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not change this layer", body = ErrorBody),
        (status = 404, description = "No such number", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    ))]
pub async fn patch(
    State(app): State<AppState>,
    access: Access,
    Path(number): Path<String>,
    super::error::Body(patch): super::error::Body<crate::registry::Patch>,
) -> Result<Json<Json_>, ApiError> {
    let id = writable_id(&app, &number, &access)?;
    if let Some(g) = &patch.geometry {
        let twin = app.registry.twin();
        let want = twin
            .layers()
            .def(twin.get(id).map_or(0, |o| o.layer))
            .geometry;
        if !g.fits(want) {
            return Err(ApiError::bad(
                "geometry",
                format!("this layer holds {} geometries", want.ogc_name()),
            ));
        }
    }
    let actor = access.caller.actor();
    Ok(Json(
        write_feature(&app, &access, move |r| r.update(id, patch, &actor)).await?,
    ))
}

/// Body of `POST /objects`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewObject {
    pub layer: String,
    /// GeoJSON Point or LineString in WGS84.
    #[schema(value_type = Object)]
    pub geometry: crate::model::Geometry,
    pub status: Option<crate::model::Status>,
    #[schema(value_type = Object)]
    pub attributes: Option<serde_json::Map<String, Json_>>,
    /// A number already painted on the object; a new one is given when absent.
    pub number: Option<String>,
}

/// Creates an object; it gets a number unless it brings one.
#[utoipa::path(post, path = "/objects", tag = "registry", request_body = NewObject,
    responses(
        (status = 201, description = "The new object (GeoJSON Feature)", body = Object),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not change this layer", body = ErrorBody),
        (status = 409, description = "The number is taken or retired", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<AppState>,
    access: Access,
    super::error::Body(body): super::error::Body<NewObject>,
) -> Result<(StatusCode, Json<Json_>), ApiError> {
    let layer = {
        let twin = app.registry.twin();
        let layers = twin.layers();
        let l = layers
            .by_name(&body.layer)
            .ok_or_else(|| ApiError::bad("layer", format!("unknown layer {:?}", body.layer)))?;
        access.view.check_write(l)?;
        let want = layers.def(l).geometry;
        if !body.geometry.fits(want) {
            return Err(ApiError::bad(
                "geometry",
                format!("layer {} holds {} geometries", body.layer, want.ogc_name()),
            ));
        }
        l
    };
    let draft = crate::model::Draft {
        layer,
        geometry: body.geometry,
        status: body.status.unwrap_or_default(),
        attributes: body
            .attributes
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, v)| crate::model::Value::from_json(v).map(|v| (k.clone(), v)))
            .collect(),
        source: crate::model::Source {
            file: "http".into(),
            id: String::new().into(),
        },
        source_number: body.number,
    };
    let actor = access.caller.actor();
    let f = write_feature(&app, &access, move |r| r.create(draft, &actor)).await?;
    Ok((StatusCode::CREATED, Json(f)))
}

/// Deletes an object. Its number is retired and never given again.
#[utoipa::path(delete, path = "/objects/{number}", tag = "registry",
    params(("number" = String, Path, description = "Painted number")),
    responses(
        (status = 200, description = "The deleted object (GeoJSON Feature)", body = Object),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not change this layer", body = ErrorBody),
        (status = 404, description = "No such number", body = ErrorBody),
    ))]
pub async fn delete(
    State(app): State<AppState>,
    access: Access,
    Path(number): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    let id = writable_id(&app, &number, &access)?;
    let actor = access.caller.actor();
    Ok(Json(
        write_feature(&app, &access, move |r| r.delete(id, &actor)).await?,
    ))
}
