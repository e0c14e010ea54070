//! Limits every request meets before any handler: the largest body (small everywhere but the
//! upload routes) and `Cache-Control: no-store` on everything that may carry personal data.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

/// `POST /applications/{reference}/documents` (the firm's page) and its API twin: the only
/// routes that take a file. Everything else gets the small limit, so that an anonymous
/// request can never make the server hold a large body.
pub fn is_upload(method: &Method, path: &str) -> bool {
    if method != Method::POST {
        return false;
    }
    let rest = path.strip_prefix("/api/v1").unwrap_or(path);
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    matches!(parts.as_slice(), ["applications", reference, "documents"] if !reference.is_empty())
}

/// Every body but an upload's is limited to `max_body_bytes`: a declared length over it is
/// refused at once (413, the connection closed), and a body without one is cut where it passes
/// the limit (the extractors then answer 413). Upload routes keep their own, larger limit
/// (`DefaultBodyLimit` and the 413 of `max_upload_bytes` on those routes).
pub async fn body_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_upload(request.method(), request.uri().path()) && large_body_allowed(&state, session_of(&request)).await {
        return next.run(request).await;
    }
    let limit = state.settings.max_body_bytes;
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let mut response =
            ApiError::TooLarge(format!("The request body is too large: the limit here is {limit} bytes"))
                .into_response();
        // The rest of the body will not be read.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let (parts, body) = request.into_parts();
    let limited = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, limited)).await
}

/// What names the caller of an upload: the API (whose handler checks the token before it
/// reads the body), or the page's session cookie.
enum Caller {
    Api,
    Session(Option<String>),
}

fn session_of(request: &Request) -> Caller {
    if request.uri().path().starts_with("/api/") {
        return Caller::Api;
    }
    let cookies = crate::ui::session::Cookies::from_headers(request.headers());
    Caller::Session(cookies.get(crate::ui::session::SESSION_COOKIE).filter(|t| !t.is_empty()).map(str::to_string))
}

/// An upload's large limit is for signed-in users only: a page upload must come with a live
/// session that is fully signed in (not one still owing its second factor). Anyone else gets the small limit, whatever the route.
async fn large_body_allowed(state: &AppState, caller: Caller) -> bool {
    match caller {
        Caller::Api => true,
        Caller::Session(None) => false,
        Caller::Session(Some(token)) => {
            matches!(
                state.engine.sessions().find(&token).await,
                Ok(Some(corridor_engine::sessions::Visitor::SignedIn { .. }))
            )
        }
    }
}

/// Whether an answer to `path` is free of personal data and may be cached: static files, the
/// public workflow descriptions and the OpenAPI document, the probes.
fn cacheable(path: &str) -> bool {
    path.starts_with("/static/")
        || path == "/api/v1/workflows"
        || path.starts_with("/api/v1/workflows/")
        || matches!(path, "/api/openapi.json" | "/healthz" | "/readyz" | "/metrics")
}

/// `Cache-Control: no-store` on every API answer that may carry personal data, every
/// document and every page (pages show who is signed in and their cases), unless the handler
/// set its own.
pub async fn cache_control(request: Request, next: Next) -> Response {
    let store = !cacheable(request.uri().path());
    let mut response = next.run(request).await;
    if store {
        response.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_document_posts_are_uploads() {
        assert!(is_upload(&Method::POST, "/applications/QA-BV-2026-000001-X/documents"));
        assert!(is_upload(&Method::POST, "/api/v1/applications/QA-BV-2026-000001-X/documents"));
        assert!(!is_upload(&Method::GET, "/applications/QA-BV-2026-000001-X/documents"));
        assert!(!is_upload(&Method::POST, "/login"));
        assert!(!is_upload(&Method::POST, "/applications//documents"));
        assert!(!is_upload(&Method::POST, "/applications/x/documents/3"));
        assert!(!is_upload(&Method::POST, "/api/v1/applications"));
    }
}
