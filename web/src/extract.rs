//! Extractors that turn bad input into our error body instead of axum's plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use corridor_engine::actor::Actor;
use corridor_engine::error::EngineError;
use corridor_engine::model::Reference;
use corridor_engine::tokens::TokenRefusal;
use serde::de::DeserializeOwned;

use crate::{ApiError, AppState};

/// A reference from a path segment or a form field, parsed where the handler first needs
/// it. Text that cannot be a reference answers as an unknown reference does.
pub fn reference(raw: &str) -> Result<Reference, EngineError> {
    raw.parse().map_err(|_| EngineError::NotFound("application".into()))
}

/// JSON body whose syntax and shape errors name the place (line and column, or the field).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => {
                let status = rejection.status();
                let message = rejection.body_text();
                Err(if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge(message)
                } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    ApiError::BadRequest("Send the body as JSON with `Content-Type: application/json`".into())
                } else {
                    ApiError::BadRequest(message)
                })
            }
        }
    }
}

/// The caller, from `Authorization: Bearer TOKEN`.
pub struct ApiUser(pub Actor);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::Unauthorized("Send an API token as `Authorization: Bearer TOKEN`".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::Unauthorized("The Authorization header must be `Bearer TOKEN`".into()))?;
        match state.engine.authenticate_token(token.trim()).await? {
            Ok(user) => Ok(ApiUser(Actor::from_user(&user))),
            Err(refusal) => Err(ApiError::InvalidToken(
                match refusal {
                    TokenRefusal::Unknown => "This API token is not valid",
                    TokenRefusal::Expired => "This API token has expired; ask for a new one",
                    TokenRefusal::Revoked => "This API token has been revoked",
                    TokenRefusal::Disabled => "The account this API token belongs to is disabled",
                }
                .into(),
            )),
        }
    }
}

/// A document upload as read from a multipart body: the `kind` and at most one `file`.
#[derive(Debug, Default)]
pub struct Upload {
    pub kind: Option<String>,
    /// The file's name as sent, and its bytes.
    pub file: Option<(String, Vec<u8>)>,
}

/// Why an upload's body could not be read.
#[derive(Debug)]
pub enum UploadProblem {
    /// The named input is over its limit (`file`: `max` bytes; `kind`: a short name).
    TooLarge { field: &'static str, max: usize },
    /// The named input came twice.
    Repeated(&'static str),
    /// Not multipart, cut off, or a body over the route's limit.
    Unreadable(axum::extract::multipart::MultipartError),
}

/// Longest `kind` read (document kinds are short names).
const MAX_KIND_BYTES: usize = 200;

/// Read `kind` and `file` chunk by chunk: the file stops at `max_file` bytes, other inputs are
/// skipped without being kept, and only one file is ever held.
pub async fn read_upload(multipart: &mut axum::extract::Multipart, max_file: usize) -> Result<Upload, UploadProblem> {
    let mut upload = Upload::default();
    while let Some(mut field) = multipart.next_field().await.map_err(UploadProblem::Unreadable)? {
        let (name, max): (&'static str, usize) = match field.name() {
            Some("kind") => ("kind", MAX_KIND_BYTES),
            Some("file") => ("file", max_file),
            _ => {
                while field.chunk().await.map_err(UploadProblem::Unreadable)?.is_some() {}
                continue;
            }
        };
        let taken = match name {
            "kind" => upload.kind.is_some(),
            _ => upload.file.is_some(),
        };
        if taken {
            return Err(UploadProblem::Repeated(name));
        }
        let filename = field.file_name().unwrap_or("").to_string();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(UploadProblem::Unreadable)? {
            if bytes.len() + chunk.len() > max {
                return Err(UploadProblem::TooLarge { field: name, max });
            }
            bytes.extend_from_slice(&chunk);
        }
        if name == "kind" {
            upload.kind = Some(String::from_utf8_lossy(&bytes).trim().to_string());
        } else {
            upload.file = Some((filename, bytes));
        }
    }
    Ok(upload)
}

/// The language of an API answer's workflow texts: `Accept-Language`, English when it names
/// none Corridor speaks.
pub struct ApiLang(pub corridor_engine::lang::Lang);

impl<S: Send + Sync> FromRequestParts<S> for ApiLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let lang = parts
            .headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(corridor_engine::lang::Lang::from_accept_language)
            .unwrap_or_default();
        Ok(ApiLang(lang))
    }
}
