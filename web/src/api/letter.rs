//! Decision letters over HTTP: the firm's or the embassy's PDF, and the public key anyone
//! checks a letter with.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use corridor_engine::letter::IssuedLetter;

use super::{NO_STORE, client, content_disposition};
use crate::extract::{ApiUser, reference as parse_reference};
use crate::{ApiResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/applications/{reference}/letter", get(letter))
        .route("/.well-known/corridor-letter-key", get(public_key))
}

/// The letter as a PDF file, named after its number.
pub fn letter_response(letter: &IssuedLetter, attachment: bool) -> Response {
    let name = format!("{}.pdf", letter.record.number.replace('/', "_"));
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, content_disposition(&name, attachment)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, NO_STORE.to_string()),
        ],
        letter.pdf.clone(),
    )
        .into_response()
}

/// `GET /api/v1/applications/{reference}/letter`: 404 `not_found` before a decision.
async fn letter(
    State(state): State<AppState>,
    ApiUser(actor): ApiUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(reference): Path<String>,
) -> ApiResult<Response> {
    let letter = state.engine.letter(&actor, &parse_reference(&reference)?, &client(&addr)).await?;
    Ok(letter_response(&letter, true))
}

/// The Ed25519 key that signs letters, `ed25519:<hex>`, for `corridor letter verify
/// --public-key` and anyone else who checks a letter.
async fn public_key(State(state): State<AppState>) -> ApiResult<Response> {
    let key = state.engine.letter_public_key()?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        format!("{}\n", key.to_text()),
    )
        .into_response())
}
