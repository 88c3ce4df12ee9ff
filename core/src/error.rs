//! The core's error type. Each variant maps to a stable [`ErrorCode`] for the UI.

use crate::model::{ApiError, ErrorCode};
use crate::validate::FieldError;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{what} not found: {id}")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error("the device's storage is full: nothing was saved; free some space and try again")]
    StorageFull,
    #[error("the local database is busy; try again")]
    Busy,
    #[error("storage error: {0}")]
    Storage(rusqlite::Error),
    #[error("document {doc} could not be read: {reason}")]
    Corrupt { doc: String, reason: String },
    #[error("import record {record}: {reason}")]
    Import { record: usize, reason: String },
    #[error("internal error: {0}")]
    Internal(String),
    /// A scanned loyalty code that is not valid, and why.
    #[error(transparent)]
    Token(#[from] crate::loyalty::TokenError),
}

impl CoreError {
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            what,
            id: id.to_string(),
        }
    }

    pub fn invalid(field: &str, reason: &str) -> Self {
        Self::Invalid(FieldError::new(field, reason))
    }

    /// Trouble of the side that reports it (storage, a busy database), not of what it was
    /// given: the same input may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::StorageFull | Self::Busy | Self::Storage(_) | Self::Internal(_)
        )
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Invalid(_) | Self::Import { .. } => ErrorCode::InvalidInput,
            Self::StorageFull => ErrorCode::StorageFull,
            Self::Busy => ErrorCode::Busy,
            Self::Storage(_) => ErrorCode::Storage,
            Self::Corrupt { .. } => ErrorCode::Corrupt,
            Self::Internal(_) => ErrorCode::Internal,
            Self::Token(_) => ErrorCode::InvalidInput,
        }
    }

    pub fn to_api(&self) -> ApiError {
        ApiError {
            code: self.code(),
            message: self.to_string(),
        }
    }
}

impl From<rusqlite::Error> for CoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Self::StorageFull,
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Self::Busy
            }
            _ => Self::Storage(err),
        }
    }
}

impl From<automerge::AutomergeError> for CoreError {
    fn from(err: automerge::AutomergeError) -> Self {
        Self::Internal(format!("automerge: {err}"))
    }
}

impl From<autosurgeon::ReconcileError> for CoreError {
    fn from(err: autosurgeon::ReconcileError) -> Self {
        Self::Internal(format!("reconcile: {err}"))
    }
}
