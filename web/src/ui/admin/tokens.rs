//! `/admin/tokens`: every API token with its owner, name, dates and state, and a button to
//! revoke one. Tokens are made with `corridor token create` (the secret is shown only there,
//! once); this page never shows a secret.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use corridor_engine::error::EngineError;
use corridor_engine::model::TokenId;
use tera::Context;

use super::Admin;
use crate::AppState;
use crate::ui::error::{UiError, UiResult};
use crate::ui::views::render;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/tokens", get(list)).route("/admin/tokens/{id}/revoke", post(revoke))
}

async fn list(State(state): State<AppState>, admin: Admin) -> UiResult<Response> {
    let now = state.engine.now();
    let rows: Vec<serde_json::Value> = state
        .engine
        .admin_tokens(&admin.actor)
        .await?
        .iter()
        .map(|t| {
            serde_json::json!({
                "id": t.id, "name": t.name, "user_id": t.user_id, "user_name": t.user_name,
                "user_email": t.user_email, "created_at": t.created_at, "expires_at": t.expires_at,
                "last_used_at": t.last_used_at, "revoked_at": t.revoked_at, "state": t.state(now),
            })
        })
        .collect();
    let mut page = Context::new();
    page.insert("tokens", &rows);
    render(&admin.ctx, "admin/tokens.html", page)
}

async fn revoke(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> UiResult<Response> {
    let id: TokenId = id.parse().map_err(|_| UiError::NotFound)?;
    match state.engine.admin_revoke_token(&admin.actor, id).await {
        Ok(true) => Ok(Redirect::to("/admin/tokens?notice=admin.token_revoked").into_response()),
        Ok(false) => Ok(Redirect::to("/admin/tokens?notice=admin.token_already_revoked").into_response()),
        Err(EngineError::NotFound(_)) => Err(UiError::NotFound),
        Err(e) => Err(e.into()),
    }
}
