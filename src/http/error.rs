//! Every error leaves as JSON: `{"status": 400, "code": "bad_bbox", "error": "…", "field": "bbox"}`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The JSON error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// HTTP status code, repeated.
    pub status: u16,
    /// Machine-readable error code, e.g. `not_found`, `bad_request`.
    pub code: String,
    /// What is wrong, for a person.
    pub error: String,
    /// The request field at fault, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn bad(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: format!("{field}: {}", message.into()),
            field: Some(field.to_string()),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "request failed");
        }
        let body = ErrorBody {
            status: self.status.as_u16(),
            code: self.code.to_string(),
            error: self.message,
            field: self.field,
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"citytwin\""),
            );
        }
        r
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("query string: {}", r.body_text()),
        )
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_path",
            format!("path: {}", r.body_text()),
        )
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_body"
        };
        ApiError::new(status, code, format!("request body: {}", r.body_text()))
    }
}

impl From<crate::registry::RegistryError> for ApiError {
    fn from(e: crate::registry::RegistryError) -> Self {
        use crate::registry::RegistryError as R;
        match &e {
            R::Gone(_) => ApiError::not_found(e.to_string()),
            R::NumberTaken { .. } | R::NumberRetired { .. } => {
                ApiError::new(StatusCode::CONFLICT, "number_taken", e.to_string())
            }
            R::Assign(_) => ApiError::new(StatusCode::CONFLICT, "no_number", e.to_string()),
            R::Empty(_) | R::Import(_) => ApiError::bad("body", e.to_string()),
            R::Store(_) | R::Poisoned(_) | R::WriterStopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            ),
        }
    }
}

impl From<crate::shelters::ShelterError> for ApiError {
    fn from(e: crate::shelters::ShelterError) -> Self {
        match e {
            crate::shelters::ShelterError::Bad { field, reason } => ApiError::bad(field, reason),
            crate::shelters::ShelterError::NoLayer => ApiError::not_found(e.to_string()),
        }
    }
}

impl From<crate::fibre::FibreError> for ApiError {
    fn from(e: crate::fibre::FibreError) -> Self {
        match e {
            crate::fibre::FibreError::Bad { field, reason } => ApiError::bad(field, reason),
            crate::fibre::FibreError::NotFound(m) => ApiError::not_found(m),
            crate::fibre::FibreError::Config(m) => ApiError::internal(m),
        }
    }
}

impl From<crate::resolve::ResolveError> for ApiError {
    fn from(e: crate::resolve::ResolveError) -> Self {
        ApiError::bad(e.field, e.reason)
    }
}

/// A JSON request body whose rejection (bad JSON, wrong type, too large) is a JSON error.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Body<T>(pub T);

/// `Query` whose rejection is a JSON error.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `Path` whose rejection is a JSON error.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);
