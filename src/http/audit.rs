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

/// The object a painted number named before it was deleted, from the history; only in a layer
/// the caller may read.
async fn deleted_object(
    app: &AppState,
    number: &str,
    access: &Access,
) -> Result<(u64, String, String), ApiError> {
    let painted = {
        let twin = app.registry.twin();
        crate::numbering::read_scheme(twin.layers(), twin.serial_width(), number).map(
            |(l, serial)| {
                crate::numbering::Number::scheme(serial, twin.serial_width())
                    .display(twin.layers().def(l), twin.serial_width())
            },
        )
    };
    let gone = || ApiError::not_found(format!("no object has or had number {number:?}"));
    let painted = painted.ok_or_else(gone)?;
    let registry = app.registry.clone();
    let p = painted.clone();
    let (id, layer) = tokio::task::spawn_blocking(move || registry.object_of_number(&p))
        .await
        .map_err(|e| ApiError::internal(format!("history task failed: {e}")))??
        .ok_or_else(gone)?;
    {
        let twin = app.registry.twin();
        // A hidden object that is still there is not "deleted" to a viewer who may not see it.
        let hidden_from_caller = twin
            .get(id)
            .is_some_and(|o| !access.view.visible().shows(o));
        if !access.view.can_read_name(twin.layers(), &layer) || hidden_from_caller {
            return Err(gone());
        }
    }
    Ok((id, layer, painted))
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
    let number = super::objects::painted_number(&p.number)?;
    let found = {
        let twin = app.registry.twin();
        let found = super::objects::readable_by_number(&twin, number, &access)?;
        match found.as_slice() {
            [o] => {
                let def = twin.layers().def(o.layer);
                Some((
                    o.id,
                    def.name.clone(),
                    o.number.as_ref().map_or_else(
                        || number.to_string(),
                        |n| n.display(def, twin.serial_width()),
                    ),
                ))
            }
            [] => None,
            _ => {
                return Err(ApiError::bad(
                    "number",
                    format!("several objects carry {number:?}"),
                ));
            }
        }
    };
    let (id, layer, shown) = match found {
        Some(f) => f,
        // Not in the twin: a deleted object is still in the history, under its painted number.
        None => deleted_object(&app, number, &access).await?,
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
