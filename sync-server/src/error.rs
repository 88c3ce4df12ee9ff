//! Errors as the HTTP API returns them: JSON `{code, message}` with a status that matches the
//! stable code, so clients classify refusals by code, never by message.

use aisle_core::CoreError;
use aisle_core::model::{ApiError, ErrorCode};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct HttpError(pub StatusCode, pub ApiError);

impl HttpError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(
            status_of(code),
            ApiError {
                code,
                message: message.into(),
            },
        )
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
}

/// The HTTP status each error code is sent with.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorCode::Busy => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Unauthorized | ErrorCode::Revoked => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::StorageFull | ErrorCode::Storage | ErrorCode::Corrupt | ErrorCode::Internal => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        Self(status_of(e.code), e)
    }
}

impl From<CoreError> for HttpError {
    fn from(e: CoreError) -> Self {
        e.to_api().into()
    }
}

impl From<anyhow::Error> for HttpError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<CoreError>() {
            Ok(core) => core.into(),
            Err(other) => Self::new(ErrorCode::Internal, other.to_string()),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}
