//! The web layer's one error type: every failure becomes `{"error": {"code", "message",
//! "details"}}` with the right status. Internal failures are logged with their detail and shown
//! as a plain sentence.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corridor_engine::error::{EngineError, ErrorKind};
use corridor_engine::fields::FieldError;
use serde_json::json;

use crate::ui::i18n::Lang;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// No usable `Authorization: Bearer` header.
    #[error("{0}")]
    Unauthorized(String),
    /// A token was presented and does not open the API (unknown, expired, revoked, its owner
    /// disabled): RFC 6750's `invalid_token`.
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unprocessable(String, Vec<FieldError>),
}

impl From<corridor_engine::store::StoreError> for ApiError {
    fn from(e: corridor_engine::store::StoreError) -> Self {
        ApiError::Engine(e.into())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Engine(e) => match e.kind() {
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::Forbidden | ErrorKind::FourEyes => StatusCode::FORBIDDEN,
                ErrorKind::Conflict | ErrorKind::ActionNotOpen => StatusCode::CONFLICT,
                ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
                ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
                ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                ErrorKind::Gone => StatusCode::GONE,
                ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Unauthorized(_) | ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Engine(e) => match e.kind() {
                ErrorKind::NotFound => "not_found",
                ErrorKind::Forbidden => "forbidden",
                ErrorKind::FourEyes => "four_eyes",
                ErrorKind::Conflict => "stale_version",
                ErrorKind::ActionNotOpen => "action_not_open",
                ErrorKind::Unprocessable => "invalid",
                ErrorKind::BadRequest => "bad_request",
                ErrorKind::TooLarge => "too_large",
                ErrorKind::Gone => "gone",
                ErrorKind::Internal => "internal",
            },
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::TooLarge(_) => "too_large",
            ApiError::TooManyRequests(_) => "rate_limited",
            ApiError::NotFound(_) => "not_found",
            ApiError::Unprocessable(..) => "invalid",
        }
    }

    /// What a user may be told. Internal errors never show their detail.
    pub fn public_message(&self) -> String {
        if self.status() == StatusCode::INTERNAL_SERVER_ERROR {
            "Something went wrong on our side and nothing was changed. Please try again; if it keeps happening, contact the service desk.".into()
        } else {
            self.to_string()
        }
    }

    pub fn details(&self) -> serde_json::Value {
        match self {
            ApiError::Engine(EngineError::Unprocessable { details, .. }) | ApiError::Unprocessable(_, details) => {
                details.iter().map(detail_json).collect()
            }
            ApiError::Engine(EngineError::ActionNotOpen { open, state, .. }) => {
                json!({"state": state, "open_actions": open})
            }
            ApiError::Engine(EngineError::StaleVersion { current, .. }) => json!({"current_version": current}),
            ApiError::Engine(EngineError::Gone { at, .. }) => json!({"purged_at": at}),
            _ => json!([]),
        }
    }
}

/// One field problem: its code and parameters from the engine, the sentence worded here.
fn detail_json(d: &FieldError) -> serde_json::Value {
    json!({
        "field": d.field,
        "code": d.problem.code(),
        "params": d.problem.params(),
        "message": crate::ui::forms::field_error_message(Lang::En, d),
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, debug = ?self, "request failed");
        }
        let body = json!({"error": {"code": self.code(), "message": self.public_message(), "details": self.details()}});
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 section 3: every 401 names the scheme; `invalid_token` when one was sent.
            let challenge = match &self {
                ApiError::InvalidToken(_) => {
                    format!("Bearer realm=\"corridor\", error=\"invalid_token\", error_description=\"{self}\"")
                }
                _ => "Bearer realm=\"corridor\"".to_string(),
            };
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}
