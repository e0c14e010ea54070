//! Extractors that turn bad input into our error body instead of axum's plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use corridor_engine::actor::Actor;
use corridor_engine::error::EngineError;
use corridor_engine::model::Reference;
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
        let user = state.engine.user_by_token(token).await?.ok_or_else(|| {
            ApiError::Unauthorized("This API token is not valid (unknown, revoked, or its user is disabled)".into())
        })?;
        Ok(ApiUser(Actor::from_user(&user)))
    }
}
