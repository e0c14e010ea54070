//! The engine's one error type. The web layer maps each kind to a status code; internal
//! failures keep their detail for the log and show users a plain sentence.

use serde::Serialize;

use crate::fields::FieldError;
use crate::store::StoreError;
use crate::transition::FourEyesBlock;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0} not found")]
    NotFound(String),
    /// The actor's role or organisation may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Four-eyes: the same person may not take two approvals or approve their own submission.
    #[error("{0}")]
    FourEyes(FourEyesBlock),
    /// Stale `expected_version`: someone else changed the application first.
    #[error(
        "the application has changed since you loaded it (you sent version {sent}, it is now at {current}); reload and try again"
    )]
    StaleVersion { sent: i64, current: i64 },
    #[error("`{action}` is not open while the application is in `{state}`")]
    ActionNotOpen { action: String, state: String, open: Vec<String> },
    /// Input that names its problems one by one (fields, documents, comment, reason).
    #[error("{message}")]
    Unprocessable { message: String, details: Vec<FieldError> },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    /// There once, deleted for good (a document's content under the retention rules).
    #[error("the content of {what} was deleted on {at} under the retention rules; its record and hash are kept")]
    Gone { what: String, at: chrono::DateTime<chrono::Utc> },
    #[error(transparent)]
    Store(StoreError),
    #[error("file storage failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { expected } => EngineError::StaleVersion { sent: expected, current: expected + 1 },
            StoreError::NotFound(what) => EngineError::NotFound(what.to_string()),
            StoreError::Duplicate(what) => {
                EngineError::Unprocessable { message: format!("{what} already exists"), details: vec![] }
            }
            StoreError::UnstorableText => EngineError::BadRequest(StoreError::UnstorableText.to_string()),
            other => EngineError::Store(other),
        }
    }
}

/// A stable machine-readable code for each kind, used in API error bodies.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    NotFound,
    Forbidden,
    FourEyes,
    Conflict,
    ActionNotOpen,
    Unprocessable,
    BadRequest,
    TooLarge,
    Gone,
    Internal,
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::NotFound(_) => ErrorKind::NotFound,
            EngineError::Forbidden(_) => ErrorKind::Forbidden,
            EngineError::FourEyes(_) => ErrorKind::FourEyes,
            EngineError::StaleVersion { .. } => ErrorKind::Conflict,
            EngineError::ActionNotOpen { .. } => ErrorKind::ActionNotOpen,
            EngineError::Unprocessable { .. } => ErrorKind::Unprocessable,
            EngineError::BadRequest(_) => ErrorKind::BadRequest,
            EngineError::TooLarge(_) => ErrorKind::TooLarge,
            EngineError::Gone { .. } => ErrorKind::Gone,
            EngineError::Store(_) | EngineError::Io(_) | EngineError::Internal(_) => ErrorKind::Internal,
        }
    }

    pub fn invalid(details: Vec<FieldError>) -> Self {
        let message = match details.len() {
            1 => "There is a problem with 1 field".to_string(),
            n => format!("There are problems with {n} fields"),
        };
        EngineError::Unprocessable { message, details }
    }
}

pub type EngineResult<T> = Result<T, EngineError>;
