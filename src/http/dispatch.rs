//! The call-taker's page (`/dispatch`) and the record of a call (`POST /dispatch/calls`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;
use super::access::Access;
use super::error::{ApiError, Body, ErrorBody};
use crate::resolve::call::CallRecord;

/// The dispatcher's console: a number or an address as heard → candidates on a map as the
/// call-taker types, the chosen place with its landmarks and the crew phrase.
#[utoipa::path(get, path = "/dispatch", tag = "resolve",
    responses((status = 200, description = "The call-taker's page", content_type = "text/html")))]
pub async fn page(headers: axum::http::HeaderMap) -> Result<axum::response::Response, ApiError> {
    let page = crate::assets::file("dispatch.html")
        .ok_or_else(|| ApiError::internal("dispatch page missing"))?;
    Ok(super::assets::embedded(
        &headers,
        page.content_type,
        bytes::Bytes::from_static(page.bytes),
        0,
    ))
}

/// Where a call's record went in the history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallKept {
    /// The history entry's sequence number.
    pub seq: u64,
    /// Its link in the hash chain (SHA-256, hex).
    pub hash: String,
}

/// Query of `GET /dispatch/calls`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CallsParams {
    /// How many, newest first, 1..=1000 (default 50).
    pub limit: Option<usize>,
}

/// One kept call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeptCall {
    pub seq: i64,
    /// RFC 3339 time it was kept.
    pub at: String,
    /// The token's name.
    pub actor: String,
    /// Its link in the hash chain (SHA-256, hex).
    pub hash: Option<String>,
    pub record: CallRecord,
}

/// The calls kept.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeptCalls {
    /// Newest first.
    pub calls: Vec<KeptCall>,
}

/// The newest call records, as kept in the history (`citytwin audit verify` proves them
/// unedited), leaving out those whose chosen place the reader may not see. For the roles of
/// `[access] dispatch`.
#[utoipa::path(get, path = "/dispatch/calls", tag = "resolve", params(CallsParams),
    responses(
        (status = 200, description = "Calls, newest first", body = KeptCalls),
        (status = 400, description = "Bad limit", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not read call records", body = ErrorBody),
    ))]
pub async fn calls(
    State(app): State<AppState>,
    access: Access,
    super::error::Query(p): super::error::Query<CallsParams>,
) -> Result<Json<KeptCalls>, ApiError> {
    access.view.check_dispatch()?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad(
            "limit",
            format!("{limit} is outside 1..=1000"),
        ));
    }
    let registry = app.registry.clone();
    let entries = tokio::task::spawn_blocking(move || registry.history_of("call", limit))
        .await
        .map_err(|e| ApiError::internal(format!("history task failed: {e}")))??;
    // A record whose chosen place the reader may not see (a hidden shelter, a layer of
    // another role) is left out.
    let twin = app.registry.twin();
    let visible = access.view.visible();
    let seen = |r: &CallRecord| match &r.chosen {
        None => true,
        Some(c) if c.kind == "object" => twin
            .find_number(&c.number)
            .iter()
            .any(|o| visible.shows(o) && twin.layers().def(o.layer).name == c.layer),
        Some(c) => c.layer.is_empty() || access.view.can_read_name(twin.layers(), &c.layer),
    };
    let calls = entries
        .into_iter()
        .filter_map(|e| {
            Some(KeptCall {
                seq: e.seq,
                at: e.at,
                actor: e.actor,
                hash: e.hash,
                record: serde_json::from_value(e.new?).ok()?,
            })
        })
        .filter(|k| seen(&k.record))
        .collect();
    Ok(Json(KeptCalls { calls }))
}

/// Keeps a call's record — the queries typed and the place chosen — in the tamper-evident
/// history (action `call`). Acknowledged only once durable.
#[utoipa::path(post, path = "/dispatch/calls", tag = "resolve",
    request_body = CallRecord,
    responses(
        (status = 201, description = "Kept", body = CallKept),
        (status = 400, description = "Bad body, or the chosen object is not where or what the record says", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not keep call records ([access] dispatch)", body = ErrorBody),
        (status = 422, description = "The body is not a call record (a field missing, unknown or of the wrong type)", body = ErrorBody),
        (status = 429, description = "Too many writes from this client (limits.<role>.writes_per_minute)", body = ErrorBody),
    ))]
pub async fn record(
    State(app): State<AppState>,
    access: Access,
    Body(call): Body<CallRecord>,
) -> Result<(StatusCode, Json<CallKept>), ApiError> {
    access.view.check_dispatch()?;
    let kept = {
        let twin = app.registry.twin();
        call.check(&twin, &access.view.visible())?
    };
    let actor = access.caller.actor();
    let registry = app.registry.clone();
    let (seq, hash) = tokio::task::spawn_blocking(move || registry.record(&actor, "call", &kept))
        .await
        .map_err(|e| ApiError::internal(format!("record task failed: {e}")))??;
    Ok((StatusCode::CREATED, Json(CallKept { seq, hash })))
}
