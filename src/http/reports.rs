//! Residents' reports (`POST /reports`) and the incidents staff work on (`/incidents`): thin
//! handlers over [`crate::reports`].

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::Access;
use super::error::{ApiError, Body, ErrorBody, Path, Query};
use crate::reports::{Incident, NewReport, Receipt, ReportError, State as IncidentState};
use crate::resolve::Candidate;

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Bad { field, reason } => ApiError::bad(field, reason),
            ReportError::NoIncident(_) => ApiError::not_found(e.to_string()),
            ReportError::Move { .. } => {
                ApiError::new(StatusCode::CONFLICT, "bad_move", e.to_string())
            }
            ReportError::RateLimited(m, _) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", m)
            }
            ReportError::Registry(r) => r.into(),
            ReportError::UnknownNumber { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_number", e.to_string())
            }
        }
    }
}

/// A 404 for a number no object has: the error, and the objects the resident may have meant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnknownNumber {
    pub status: u16,
    /// `unknown_number`.
    pub code: String,
    pub error: String,
    /// `number`.
    pub field: String,
    /// The resolver's guesses, best first (a digit misread, two swapped…).
    pub suggestions: Vec<Candidate>,
}

fn report_error(e: ReportError) -> Response {
    match e {
        ReportError::UnknownNumber {
            number,
            suggestions,
        } => {
            let error = if suggestions.is_empty() {
                format!("no object has the number {number:?}; check the number on the plate")
            } else {
                format!(
                    "no object has the number {number:?}; did you mean {}?",
                    suggestions
                        .iter()
                        .map(|c| c.number.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            };
            (
                StatusCode::NOT_FOUND,
                Json(UnknownNumber {
                    status: 404,
                    code: "unknown_number".into(),
                    error,
                    field: "number".into(),
                    suggestions,
                }),
            )
                .into_response()
        }
        ReportError::RateLimited(m, wait) => {
            let mut r =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", m).into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&wait.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        other => ApiError::from(other).into_response(),
    }
}

fn page(headers: &axum::http::HeaderMap, name: &str) -> Result<Response, ApiError> {
    let page =
        crate::assets::file(name).ok_or_else(|| ApiError::internal(format!("{name} missing")))?;
    Ok(super::assets::embedded(
        headers,
        page.content_type,
        bytes::Bytes::from_static(page.bytes),
        0,
    ))
}

/// The residents' page to report a problem by the number on an object (`?number=` fills it
/// in): a misread number gets the objects it may be; the receipt tells the incident's state.
#[utoipa::path(get, path = "/report", tag = "reports",
    responses((status = 200, description = "The report page", content_type = "text/html")))]
pub async fn report_page(headers: axum::http::HeaderMap) -> Result<Response, ApiError> {
    page(&headers, "report.html")
}

/// The Situational Centre's page (staff sign in with a token): incidents on the map and in a
/// live list, counts by category and district, filters, and the workflow's moves.
#[utoipa::path(get, path = "/centre", tag = "reports",
    responses((status = 200, description = "The Situational Centre page", content_type = "text/html")))]
pub async fn centre_page(headers: axum::http::HeaderMap) -> Result<Response, ApiError> {
    page(&headers, "centre.html")
}

/// Reports a problem with a numbered object: by the number painted on it, one of the layer's
/// kinds, a few words and a photo if wanted. No token needed. A number no object has gives
/// 404 with the objects the resident may have meant; nothing is filed against a guess. The
/// same reporter reporting the same object again adds nothing (`duplicate`). The answer says
/// that the report was received and its incident's state, never who else reported or what
/// they wrote.
#[utoipa::path(post, path = "/reports", tag = "reports",
    request_body = NewReport,
    responses(
        (status = 201, description = "Received", body = Receipt),
        (status = 200, description = "This reporter had reported this object already: nothing added", body = Receipt),
        (status = 400, description = "A bad kind, text, position or photo", body = ErrorBody),
        (status = 404, description = "No object has this number; the objects meant, maybe", body = UnknownNumber),
        (status = 429, description = "Too many reports from this address, or about this object", body = ErrorBody),
    ))]
pub async fn file(
    State(app): State<AppState>,
    access: Access,
    connected: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
    Body(r): Body<NewReport>,
) -> Response {
    let photo = match r.photo.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(b64) => {
            // A data URL's head is taken off.
            let b64 = b64.split_once(";base64,").map_or(b64, |(_, d)| d);
            let bytes = match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(b) => b,
                Err(e) => {
                    return ApiError::bad("photo", format!("not base64: {e}")).into_response();
                }
            };
            let max = app.reports.settings.photo_max_bytes;
            match tokio::task::spawn_blocking(move || crate::reports::photo::clean(&bytes, max))
                .await
            {
                Ok(Ok(p)) => Some(p),
                Ok(Err(e)) => return ApiError::bad("photo", e.0).into_response(),
                Err(e) => return ApiError::internal(format!("photo task: {e}")).into_response(),
            }
        }
    };
    let who = match access.caller.token {
        Some((id, _)) => format!("token:{id}"),
        None => super::limits::caller(
            &headers,
            connected.map(|c| c.0.0),
            &app.config.limits.trusted_proxies,
        ),
    };
    let actor = access.caller.actor();
    let visible = access.view.visible();
    let (reports, registry) = (app.reports.clone(), app.registry.clone());
    let filed = tokio::task::spawn_blocking(move || {
        reports.file(&registry, &r, photo, &visible, &who, &actor)
    })
    .await;
    match filed {
        Ok(Ok(receipt)) => {
            let status = if receipt.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (status, Json(receipt)).into_response()
        }
        Ok(Err(e)) => report_error(e),
        Err(e) => ApiError::internal(format!("report task: {e}")).into_response(),
    }
}

/// A kind's name for people.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KindLabel {
    pub uk: String,
    pub en: String,
}

/// What may be reported, per layer the caller may read.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Kinds {
    /// Layer name → kinds (the last is always `other`).
    pub layers: std::collections::BTreeMap<String, Vec<String>>,
    /// Kind → its name in Ukrainian and English.
    pub labels: std::collections::BTreeMap<String, KindLabel>,
}

/// The kinds of report each layer takes (for the layers the caller may read).
#[utoipa::path(get, path = "/reports/kinds", tag = "reports",
    responses((status = 200, description = "Kinds per layer", body = Kinds)))]
pub async fn kinds(State(app): State<AppState>, access: Access) -> Json<Kinds> {
    let twin = app.registry.twin();
    let layers = access
        .view
        .readable()
        .into_iter()
        .map(|l| twin.layers().def(l))
        .filter(|d| d.numbered)
        .map(|d| (d.name.clone(), app.reports.settings.kinds_of(&d.name)))
        .collect::<std::collections::BTreeMap<_, _>>();
    let labels = layers
        .values()
        .flatten()
        .map(|k| {
            let (uk, en) = crate::reports::kind_label(k);
            (k.clone(), KindLabel { uk, en })
        })
        .collect();
    Json(Kinds { layers, labels })
}

/// One report of an incident, as staff see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffReport {
    pub report: u64,
    /// RFC 3339.
    pub at: String,
    pub kind: String,
    pub text: Option<String>,
    /// Where the resident said they were.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// `/reports/{report}/photo` when a photo came with it.
    pub photo: Option<String>,
}

/// An incident as staff see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffIncident {
    pub incident: u64,
    pub state: IncidentState,
    /// The object's layer: the incident's category.
    pub layer: String,
    pub number: String,
    pub object_id: u64,
    /// The kind reported most.
    pub kind: String,
    /// Reports per kind.
    pub kinds: std::collections::BTreeMap<String, u32>,
    pub count: usize,
    pub lon: f64,
    pub lat: f64,
    /// The object's status now.
    pub object_status: crate::model::Status,
    /// A status a rule set on the object because of this incident.
    pub rule_status: Option<crate::model::Status>,
    /// RFC 3339.
    pub opened: String,
    pub updated: String,
    pub closed: Option<String>,
    /// Seconds since the first report.
    pub age_s: f64,
    /// The object's district: the `[city] districts` polygon holding it, else its `district`
    /// attribute.
    pub district: Option<String>,
    /// The nearest address, and the numbered landmarks around, for the crew.
    pub address: Option<String>,
    pub landmarks: Vec<crate::resolve::Landmark>,
    pub reports: Vec<StaffReport>,
    pub moves: Vec<crate::reports::Move>,
}

fn staff_view(
    app: &AppState,
    i: &Incident,
    visible: &crate::access::Visible,
    detail: bool,
) -> StaffIncident {
    let twin = app.registry.twin();
    let now = crate::model::now_ms();
    let (address, landmarks) = if detail {
        let address =
            crate::resolve::place::nearest_address(&twin, i.at, 500.0, visible).map(|a| a.text);
        let q = crate::resolve::NearestQuery {
            lat: i.at[1],
            lon: i.at[0],
            k: 4,
            layers: Vec::new(),
            visible: visible.clone(),
            max_m: 300.0,
        };
        let marks = crate::resolve::nearest(&twin, &q)
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.number != i.number)
            .take(3)
            .collect();
        (address, marks)
    } else {
        (None, Vec::new())
    };
    StaffIncident {
        incident: i.id,
        state: i.state,
        layer: twin.layers().def(i.layer).name.clone(),
        number: i.number.clone(),
        object_id: i.object_id,
        kind: i.main_kind().to_string(),
        kinds: i.kinds(),
        count: i.reports.len(),
        lon: i.at[0],
        lat: i.at[1],
        object_status: twin.get(i.object_id).map(|o| o.status).unwrap_or_default(),
        rule_status: i.applied.map(|a| a.status),
        opened: crate::store::format_ms(i.opened_ms),
        updated: crate::store::format_ms(i.updated_ms),
        closed: i.closed_ms.map(crate::store::format_ms),
        age_s: ((now - i.opened_ms).max(0) as f64) / 1000.0,
        district: crate::reports::district_of(&twin, &app.districts, i),
        address,
        landmarks,
        reports: i
            .reports
            .iter()
            .map(|r| StaffReport {
                report: r.id,
                at: crate::store::format_ms(r.at_ms),
                kind: r.kind.clone(),
                text: r.text.clone(),
                lon: r.position.map(|p| p[0]),
                lat: r.position.map(|p| p[1]),
                photo: r.photo.as_ref().map(|_| format!("/reports/{}/photo", r.id)),
            })
            .collect(),
        moves: i.moves.clone(),
    }
}

/// Whether the caller may see the incident's object at all.
fn sees(app: &AppState, access: &Access, i: &Incident) -> bool {
    i.seen_by(&app.registry.twin(), &access.view.visible())
}

/// Query of `GET /incidents`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IncidentsParams {
    /// Comma list of states (`new,confirmed`); `open` means every state but resolved and
    /// rejected.
    pub state: Option<String>,
    /// Comma list of layers (the categories).
    pub layer: Option<String>,
    /// Changed at or after this time (RFC 3339) or this many hours ago (`24h`).
    pub since: Option<String>,
    /// At most this many, 1..=1000 (default 200).
    pub limit: Option<usize>,
}

/// Incidents, most recently changed first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Incidents {
    pub incidents: Vec<StaffIncident>,
}

/// Incidents for staff (`[access] incidents`): each with its reports' kinds and texts, its
/// moves, the nearest address and landmarks; filtered by state, layer and time.
#[utoipa::path(get, path = "/incidents", tag = "reports", params(IncidentsParams),
    responses(
        (status = 200, description = "Incidents, most recently changed first", body = Incidents),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role does not handle incidents", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<AppState>,
    access: Access,
    Query(p): Query<IncidentsParams>,
) -> Result<Json<Incidents>, ApiError> {
    access.view.check_incidents()?;
    let limit = p.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad(
            "limit",
            format!("{limit} is outside 1..=1000"),
        ));
    }
    let states: Option<Vec<IncidentState>> = match p.state.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(list) => {
            let mut v = Vec::new();
            for s in list.split(',').map(str::trim) {
                if s == "open" {
                    v.extend(IncidentState::ALL.into_iter().filter(|x| !x.is_closed()));
                } else {
                    v.push(IncidentState::parse(s).ok_or_else(|| {
                        ApiError::bad(
                            "state",
                            format!(
                                "{s:?}: one of new, confirmed, assigned, resolved, rejected, open"
                            ),
                        )
                    })?);
                }
            }
            Some(v)
        }
    };
    let layers: Option<Vec<crate::model::LayerId>> = match p.layer.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(list) => {
            let twin = app.registry.twin();
            Some(
                crate::tiles::parse_layers(list, twin.layers())
                    .map_err(|e| ApiError::bad("layer", e.to_string()))?,
            )
        }
    };
    let since = match p.since.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            s.strip_suffix('h')
                .and_then(|h| h.trim().parse::<f64>().ok())
                .filter(|h| h.is_finite() && *h >= 0.0)
                .map(|h| crate::model::now_ms() - (h * 3_600_000.0) as i64)
                .or_else(|| crate::store::parse_ms(s))
                .ok_or_else(|| {
                    ApiError::bad("since", format!("{s:?}: RFC 3339 or hours as 24h"))
                })?,
        ),
    };
    let all = app.reports.list(usize::MAX, |i| {
        states.as_ref().is_none_or(|s| s.contains(&i.state))
            && layers.as_ref().is_none_or(|l| l.contains(&i.layer))
            && since.is_none_or(|t| i.updated_ms >= t)
    });
    let visible = access.view.visible();
    let seen: Vec<&Incident> = {
        let twin = app.registry.twin();
        all.iter()
            .filter(|i| i.seen_by(&twin, &visible))
            .take(limit)
            .collect()
    };
    let incidents = seen
        .into_iter()
        .map(|i| staff_view(&app, i, &visible, true))
        .collect();
    Ok(Json(Incidents { incidents }))
}

/// One incident: in full for staff; for anyone else, its state and count only (never who
/// reported, their words or photos), and only if they may see its object.
#[utoipa::path(get, path = "/incidents/{id}", tag = "reports",
    params(("id" = u64, Path, description = "The incident's number")),
    responses(
        (status = 200, description = "The incident (staff: `StaffIncident`; others: `PublicIncident`)", body = Object),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such incident (or not one the caller may see)", body = ErrorBody),
    ))]
pub async fn one(
    State(app): State<AppState>,
    access: Access,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let i = app
        .reports
        .get(id)
        .filter(|i| sees(&app, &access, i))
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    if access.view.handles_incidents() {
        let visible = access.view.visible();
        return Ok(Json(staff_view(&app, &i, &visible, true)).into_response());
    }
    let twin = app.registry.twin();
    let status = twin.get(i.object_id).map(|o| o.status).unwrap_or_default();
    let layer = twin.layers().def(i.layer).name.clone();
    Ok(Json(i.public(&layer, status)).into_response())
}

/// A staff move of an incident.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// confirmed, assigned, resolved or rejected.
    pub state: IncidentState,
    /// What was done or found (kept in the history).
    #[serde(default)]
    pub note: String,
}

/// Moves an incident along new → confirmed → assigned → resolved, or rejects it, with a note
/// kept in the history. Resolving or rejecting undoes the status a rule set on the object
/// (a shelter `locked-reported` turns back), unless staff changed it since.
#[utoipa::path(patch, path = "/incidents/{id}", tag = "reports",
    params(("id" = u64, Path, description = "The incident's number")),
    request_body = MoveBody,
    responses(
        (status = 200, description = "Moved", body = StaffIncident),
        (status = 400, description = "The id is not a number, or the note is too long", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role does not handle incidents", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 409, description = "Not a move from its state (a closed incident stays closed)", body = ErrorBody),
    ))]
pub async fn patch(
    State(app): State<AppState>,
    access: Access,
    Path(id): Path<u64>,
    Body(m): Body<MoveBody>,
) -> Result<Json<StaffIncident>, ApiError> {
    access.view.check_incidents()?;
    if app.reports.get(id).is_none_or(|i| !sees(&app, &access, &i)) {
        return Err(ApiError::not_found(format!("no incident {id}")));
    }
    let actor = access.caller.actor();
    let (reports, registry) = (app.reports.clone(), app.registry.clone());
    let moved = tokio::task::spawn_blocking(move || {
        reports.move_to(&registry, id, m.state, &m.note, &actor)
    })
    .await
    .map_err(|e| ApiError::internal(format!("incident task: {e}")))??;
    let visible = access.view.visible();
    Ok(Json(staff_view(&app, &moved, &visible, true)))
}

/// A report's photo (re-encoded, without metadata), for staff.
#[utoipa::path(get, path = "/reports/{id}/photo", tag = "reports",
    params(("id" = u64, Path, description = "The report's number")),
    responses(
        (status = 200, description = "The photo", content_type = "image/jpeg"),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role does not handle incidents", body = ErrorBody),
        (status = 404, description = "No such report, or no photo with it", body = ErrorBody),
    ))]
pub async fn photo(
    State(app): State<AppState>,
    access: Access,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    access.view.check_incidents()?;
    let key = app
        .reports
        .photo_of(id)
        .filter(|(i, _)| sees(&app, &access, i))
        .and_then(|(_, key)| key)
        .ok_or_else(|| ApiError::not_found(format!("no photo with report {id}")))?;
    let registry = app.registry.clone();
    let photo = tokio::task::spawn_blocking(move || registry.photo(&key))
        .await
        .map_err(|e| ApiError::internal(format!("photo task: {e}")))??
        .ok_or_else(|| ApiError::not_found(format!("no photo with report {id}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, photo.mime.clone()),
            (header::CACHE_CONTROL, "private, max-age=86400".to_string()),
        ],
        photo.bytes,
    )
        .into_response())
}
