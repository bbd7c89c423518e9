//! The caller of a request and what they may see: the one extractor every handler that shows
//! or changes data takes.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use super::AppState;
use super::error::ApiError;
use crate::access::{AccessError, Caller, View};

/// Who is asking ([`Caller`]) and their [`View`] of the twin.
pub struct Access {
    pub caller: Caller,
    pub view: Arc<View>,
}

impl FromRequestParts<AppState> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        let caller = app.auth.authenticate(header).await?;
        let view = app.policy.view(caller.role);
        Ok(Access { caller, view })
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Unauthenticated(m) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
            }
            AccessError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
        }
    }
}
