//! Corridor's HTTP layer: the JSON API, health and metrics. Thin: every decision is the
//! engine's.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use corridor_engine::service::Engine;

pub mod api;
pub mod error;
pub mod extract;
pub mod health;
pub mod limits;
pub mod metrics;
mod serve;
pub mod ui;

pub use corridor_engine::ratelimit;
pub use error::{ApiError, ApiResult};

/// Settings the web layer needs from the configuration.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Base URL people reach the service at (links in e-mails, decision letters).
    pub public_url: String,
    /// Largest request body accepted on upload routes, in bytes.
    pub max_upload_bytes: usize,
    /// Largest request body on every other route, in bytes.
    pub max_body_bytes: usize,
    /// A request body that sends nothing for this long is cut off.
    pub body_timeout: Duration,
    /// Cookies marked Secure (set when served over TLS).
    pub secure_cookies: bool,
}

/// Everything a handler needs, as one context.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub settings: Arc<WebSettings>,
    pub metrics: Arc<metrics::Metrics>,
    /// Public status look-ups per client address.
    pub status_limiter: Arc<ratelimit::RateLimiter>,
    /// Letter verifications (`/verify/{code}`) per client address.
    pub verify_limiter: Arc<ratelimit::RateLimiter>,
}

impl AppState {
    pub fn new(engine: Arc<Engine>, settings: WebSettings) -> Self {
        AppState {
            engine,
            settings: Arc::new(settings),
            metrics: Arc::new(metrics::Metrics::default()),
            status_limiter: Arc::new(ratelimit::RateLimiter::new(30, Duration::from_secs(60))),
            verify_limiter: Arc::new(ratelimit::RateLimiter::new(30, Duration::from_secs(60))),
        }
    }
}

/// The whole application: feature routers merged, one state.
pub fn router(state: AppState) -> Router {
    let body_timeout = state.settings.body_timeout;
    Router::new()
        .merge(api::router(&state))
        .merge(health::router())
        .merge(ui::router(&state))
        .layer(axum::middleware::from_fn_with_state(state.clone(), ui::site_layer))
        .layer(axum::middleware::from_fn(limits::cache_control))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::body_limit))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_timeout))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}

pub use serve::serve;
