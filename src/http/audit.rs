//! `GET /audit?number=`: an object's change history, for staff.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::Access;
use super::error::{ApiError, ErrorBody, Query};
use crate::store::HistoryEntry;

/// Query of `/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// The object's painted number.
    pub number: String,
    /// Most entries, newest first, 1..=1000 (default 100).
    pub limit: Option<usize>,
}

/// The answer of `/audit`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    pub number: String,
    pub object_id: u64,
    pub layer: String,
    /// Newest first; each entry carries its link in the hash chain.
    pub entries: Vec<HistoryEntry>,
}

/// Every recorded change of one object (who, when, what, old → new), newest first, from the
/// hash-chained history (`citytwin audit verify` proves it unedited). For staff.
#[utoipa::path(get, path = "/audit", tag = "registry", params(HistoryParams),
    responses(
        (status = 200, description = "The object's history", body = History),
        (status = 400, description = "Bad number or limit", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not read the history or the layer", body = ErrorBody),
        (status = 404, description = "No object has this number", body = ErrorBody),
    ))]
pub async fn history(
    State(app): State<AppState>,
    access: Access,
    Query(p): Query<HistoryParams>,
) -> Result<Json<History>, ApiError> {
    access.view.check_audit()?;
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("limit", "must be 1–1000"));
    }
    let number = p.number.trim();
    if number.is_empty() || number.chars().count() > 64 {
        return Err(ApiError::bad(
            "number",
            "give a painted number of 1–64 characters",
        ));
    }
    let (id, layer, shown) = {
        let twin = app.registry.twin();
        let found = super::objects::readable_by_number(&twin, number, &access)?;
        let [o] = found.as_slice() else {
            return Err(if found.is_empty() {
                ApiError::not_found(format!("no object has number {number:?}"))
            } else {
                ApiError::bad("number", format!("several objects carry {number:?}"))
            });
        };
        let def = twin.layers().def(o.layer);
        (
            o.id,
            def.name.clone(),
            o.number.as_ref().map_or_else(
                || number.to_string(),
                |n| n.display(def, twin.serial_width()),
            ),
        )
    };
    let registry = app.registry.clone();
    let entries = tokio::task::spawn_blocking(move || registry.history(Some(id), limit))
        .await
        .map_err(|e| ApiError::internal(format!("history task failed: {e}")))??;
    Ok(Json(History {
        number: shown,
        object_id: id,
        layer,
        entries,
    }))
}
