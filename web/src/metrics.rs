//! Prometheus counters, kept in atomics and written out in the text format.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

#[derive(Default)]
pub struct Metrics {
    pub requests_2xx: AtomicU64,
    pub requests_3xx: AtomicU64,
    pub requests_4xx: AtomicU64,
    pub requests_5xx: AtomicU64,
    pub transitions: AtomicU64,
    pub transition_conflicts: AtomicU64,
}

impl Metrics {
    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "# HELP corridor_http_requests_total HTTP requests answered, by status class.\n\
             # TYPE corridor_http_requests_total counter\n\
             corridor_http_requests_total{{class=\"2xx\"}} {}\n\
             corridor_http_requests_total{{class=\"3xx\"}} {}\n\
             corridor_http_requests_total{{class=\"4xx\"}} {}\n\
             corridor_http_requests_total{{class=\"5xx\"}} {}\n\
             # HELP corridor_transitions_total Transitions taken.\n\
             # TYPE corridor_transitions_total counter\n\
             corridor_transitions_total {}\n\
             # HELP corridor_transition_conflicts_total Transitions refused for a stale version.\n\
             # TYPE corridor_transition_conflicts_total counter\n\
             corridor_transition_conflicts_total {}\n",
            get(&self.requests_2xx),
            get(&self.requests_3xx),
            get(&self.requests_4xx),
            get(&self.requests_5xx),
            get(&self.transitions),
            get(&self.transition_conflicts),
        )
    }
}

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let counter = match response.status().as_u16() {
        200..=299 => &state.metrics.requests_2xx,
        300..=399 => &state.metrics.requests_3xx,
        400..=499 => &state.metrics.requests_4xx,
        _ => &state.metrics.requests_5xx,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    response
}
