//! Liveness, readiness and metrics.
//!
//! `/readyz` answers 200 `{"status": "ready", "warnings": [...]}` when the database answers,
//! and 503 `{"status": "unavailable", ...}` when it does not. A warning (a calendar in use
//! whose holidays end within 180 days) is something for an operator to do, not a reason to
//! take the instance out of a load balancer: it stays 200.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::AppState;
use crate::ui::i18n::{self, Lang};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Ready when the database answers; the calendar warnings in the body either way.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let warnings: Vec<serde_json::Value> = state
        .engine
        .calendar_warnings(state.engine.now())
        .into_iter()
        .map(|w| {
            let message = match w.holidays_until {
                Some(until) => i18n::t_args(
                    Lang::En,
                    "calendar_warning.until",
                    &[("calendar", w.name.clone()), ("date", until.to_string())],
                ),
                None => i18n::t_args(Lang::En, "calendar_warning.none", &[("calendar", w.name.clone())]),
            };
            json!({"kind": "calendar_ends_soon", "calendar": w.calendar, "holidays_until": w.holidays_until,
                   "message": message})
        })
        .collect();
    match state.engine.ready().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready", "warnings": warnings}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "reason": "database unavailable", "warnings": warnings})),
            )
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
