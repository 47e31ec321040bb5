//! HTTP errors: each maps to a status and a JSON body; database text never leaks.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// What an HTTP request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body or path is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The directory data is invalid: every problem.
    #[error("the directory data is invalid")]
    Invalid(Vec<String>),
    /// No bearer token, or an unknown one.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The token may not write this tenant.
    #[error("this token may not change tenant `{0}`")]
    Forbidden(String),
    /// No such thing.
    #[error("{0} not found")]
    NotFound(String),
    /// The daemon runs without a store, or the store failed.
    #[error("{0}")]
    Unavailable(String),
    /// A check from an address not in `http_check_peers`.
    #[error("this address may not ask for checks")]
    PeerRefused,
    /// A check of a tenant the caller's token is not for.
    #[error("this token may not check this tenant")]
    CheckForbidden,
    /// The body is larger than the route takes.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive in time.
    #[error("the body did not arrive in time")]
    Timeout,
    /// Too many admin bodies are being read at once.
    #[error("too many admin requests at once; try again")]
    Busy,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Invalid(d) => {
                ApiError::Invalid(d.problems().iter().map(ToString::to_string).collect())
            }
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::BadUrl(_) | StoreError::Database(_) | StoreError::Migrate(_) => {
                tracing::error!(error = ?e, "store error");
                ApiError::Unavailable("an internal database error occurred".into())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) | ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::PeerRefused | ApiError::CheckForbidden => {
                StatusCode::FORBIDDEN
            }
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let body = match &self {
            ApiError::Invalid(problems) => json!({"error": self.to_string(), "problems": problems}),
            _ => json!({"error": self.to_string()}),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED
            && let Ok(v) = "Bearer".parse()
        {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, v);
        }
        response
    }
}
