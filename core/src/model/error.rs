//! The error shape that crosses process boundaries (Tauri commands, HTTP): a stable code the
//! UI can classify, and a readable message.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Stable error codes. Never renumber or rename: the UI and logs key on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorCode {
    NotFound,
    InvalidInput,
    StorageFull,
    Storage,
    Corrupt,
    Busy,
    Internal,
    /// No credentials, or ones the relay does not know.
    Unauthorized,
    /// Known credentials, but this role or store may not do this.
    Forbidden,
    /// This device was revoked: it must stop syncing and be enrolled again.
    Revoked,
    /// Too many requests of this kind from this device: slow down.
    RateLimited,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::InvalidInput => "invalid_input",
            Self::StorageFull => "storage_full",
            Self::Storage => "storage",
            Self::Corrupt => "corrupt",
            Self::Busy => "busy",
            Self::Internal => "internal",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Revoked => "revoked",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// An error as the UI receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

impl std::error::Error for ApiError {}
