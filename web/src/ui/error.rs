//! Errors of the HTML pages. A handler returns `UiResult<Response>`; an error becomes a marker
//! response that the page middleware ([`super::session::context`]) turns into a plain-language
//! page in the visitor's language (it has the state and the language; `IntoResponse` has not).
//! Internal errors are logged with their detail; the page only says that something went wrong.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use corridor_engine::error::{EngineError, ErrorKind};
use corridor_engine::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// Not there, or not the visitor's to see: the same page either way.
    #[error("not found")]
    NotFound,
    /// Signed in, but this page is for another role.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Not signed in: go to the sign-in page, then come back to `next`.
    #[error("sign in needed")]
    SignIn { next: String },
    /// The form's CSRF token or origin did not check out; nothing was done.
    #[error("form refused: {0}")]
    Csrf(&'static str),
    #[error("too many attempts")]
    RateLimited,
    /// The upload is larger than any we accept.
    #[error("request too large")]
    TooLarge,
    /// A document whose content was deleted under the retention rules.
    #[error("gone")]
    Gone,
    /// An action that is no longer open (someone moved the application on).
    #[error("no longer possible: {0}")]
    Conflict(String),
    /// Input the engine refused that the page has no form to show it on (a search with a
    /// control character in it).
    #[error("input refused: {0}")]
    Invalid(String),
    #[error("internal: {0}")]
    Internal(String),
}

pub type UiResult<T> = Result<T, UiError>;

impl From<EngineError> for UiError {
    fn from(e: EngineError) -> Self {
        match e.kind() {
            ErrorKind::NotFound => UiError::NotFound,
            ErrorKind::Forbidden | ErrorKind::FourEyes => UiError::Forbidden(e.to_string()),
            ErrorKind::Conflict | ErrorKind::ActionNotOpen => UiError::Conflict(e.to_string()),
            ErrorKind::TooLarge => UiError::TooLarge,
            ErrorKind::Gone => UiError::Gone,
            ErrorKind::Unprocessable => UiError::Invalid(e.to_string()),
            ErrorKind::BadRequest => UiError::Conflict(e.to_string()),
            ErrorKind::Internal => UiError::Internal(format!("{e:?}")),
        }
    }
}

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> Self {
        UiError::from(EngineError::from(e))
    }
}

impl From<tera::Error> for UiError {
    fn from(e: tera::Error) -> Self {
        // Tera's Display hides the cause; the chain is what helps.
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        UiError::Internal(detail)
    }
}

/// Which error page to show; carried in the response's extensions to the page middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageError {
    NotFound,
    Forbidden,
    Csrf,
    RateLimited,
    TooLarge,
    Conflict,
    Gone,
    Invalid,
    Internal,
}

impl PageError {
    pub fn status(self) -> StatusCode {
        match self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Forbidden | PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            PageError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            PageError::Conflict => StatusCode::CONFLICT,
            PageError::Gone => StatusCode::GONE,
            PageError::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Prefix of the page's message keys in the catalogue (`error.<key>.title`, `.body`).
    pub fn key(self) -> &'static str {
        match self {
            PageError::NotFound => "not_found",
            PageError::Forbidden => "forbidden",
            PageError::Csrf => "csrf",
            PageError::RateLimited => "rate_limited",
            PageError::TooLarge => "too_large",
            PageError::Conflict => "conflict",
            PageError::Gone => "gone",
            PageError::Invalid => "invalid",
            PageError::Internal => "internal",
        }
    }
}

/// A marker response: status and kind, no body yet.
pub fn page_error(kind: PageError) -> Response {
    let mut r = kind.status().into_response();
    r.extensions_mut().insert(kind);
    r
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::SignIn { next } => {
                let target = format!("/login?next={}", urlencode(&next));
                Redirect::to(&target).into_response()
            }
            UiError::NotFound => page_error(PageError::NotFound),
            UiError::Forbidden(why) => {
                tracing::info!(why, "page refused");
                page_error(PageError::Forbidden)
            }
            UiError::Csrf(why) => {
                tracing::warn!(why, "form refused: CSRF or origin check failed");
                page_error(PageError::Csrf)
            }
            UiError::RateLimited => {
                let mut r = page_error(PageError::RateLimited);
                r.headers_mut().insert(header::RETRY_AFTER, "60".parse().expect("static header"));
                r
            }
            UiError::TooLarge => page_error(PageError::TooLarge),
            UiError::Gone => page_error(PageError::Gone),
            UiError::Conflict(why) => {
                tracing::info!(why, "action no longer open");
                page_error(PageError::Conflict)
            }
            UiError::Invalid(why) => {
                tracing::info!(why, "input refused");
                page_error(PageError::Invalid)
            }
            UiError::Internal(detail) => {
                tracing::error!(detail, "page failed");
                page_error(PageError::Internal)
            }
        }
    }
}

/// Percent-encode for a query-string value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
