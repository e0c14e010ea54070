//! The server-rendered web UI (axum + tera, no JavaScript needed). See `web/UI.md` for how to
//! add a page.
//!
//! Layout of this module:
//! * [`session`]: sessions in the database, the page context [`Ctx`], the CSRF/origin guard
//!   that every POST passes before a handler runs;
//! * [`views`]: templates (embedded), `t()` and the filters, [`views::render`];
//! * [`i18n`]: languages and message catalogues (`web/i18n/*.toml`);
//! * [`forms`]: reading forms, field views, error summaries;
//! * [`error`]: [`UiError`] and the error pages;
//! * [`assets`]: the files under `/static/`;
//! * pages: [`account`] (sign in/out, language), [`public`] (home, status), [`firm`].

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use corridor_engine::actor::Actor;

use crate::AppState;

pub mod account;
pub mod admin;
pub mod admin_access;
pub mod assets;
pub mod case;
pub mod diagram;
pub mod embassy;
pub mod error;
pub mod firm;
pub mod forms;
pub mod i18n;
pub mod public;
pub mod queue;
pub mod session;
pub mod timeline;
pub mod views;

pub use error::{UiError, UiResult};
pub use session::Ctx;
pub use views::{Audience, NavEntry};

/// The navigation bar. Order is display order.
pub const NAV: &[NavEntry] = &[
    NavEntry { shown_to: Audience::Applicant, href: "/applications", key: "nav.applications" },
    NavEntry { shown_to: Audience::Applicant, href: "/applications/new", key: "nav.new_application" },
    NavEntry { shown_to: Audience::Admin, href: "/admin/users", key: "admin.nav.users" },
    NavEntry { shown_to: Audience::Admin, href: "/admin/organisations", key: "admin.nav.organisations" },
    NavEntry { shown_to: Audience::Admin, href: "/admin/workflows", key: "admin.nav.workflows" },
    NavEntry { shown_to: Audience::Admin, href: "/admin/audit", key: "admin.nav.audit" },
    NavEntry { shown_to: Audience::Admin, href: "/admin/access", key: "admin.nav.access" },
    NavEntry { shown_to: Audience::Admin, href: "/admin/jobs", key: "admin.nav.jobs" },
    NavEntry { shown_to: Audience::Admin, href: "/admin/holidays", key: "admin.holidays.nav" },
    NavEntry { shown_to: Audience::Admin, href: "/admin/tokens", key: "admin.tokens.nav" },
    NavEntry { shown_to: Audience::Staff, href: "/queue", key: "nav.queue" },
    NavEntry { shown_to: Audience::Supervisor, href: "/queue/late", key: "nav.late" },
    NavEntry { shown_to: Audience::Staff, href: "/lookup", key: "nav.lookup" },
];

/// Where a signed-in user lands (after sign-in, and from the service name in the header).
pub fn home_path(actor: Option<&Actor>) -> &'static str {
    match actor {
        Some(a) if a.is_applicant() => "/applications",
        Some(a) if a.is_admin() => "/admin",
        Some(a) if a.is_staff() => "/queue",
        _ => "/",
    }
}

/// The Content-Security-Policy of every response: no inline script, nothing from elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// All page routes. Each runs behind [`session::context`] (session, language, CSRF guard).
pub fn router(state: &AppState) -> Router<AppState> {
    let pages = Router::new()
        .merge(public::routes())
        .merge(account::routes())
        .merge(firm::routes(state))
        .merge(admin::routes())
        .merge(admin_access::routes())
        .merge(queue::routes())
        .merge(case::routes())
        .merge(embassy::routes())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_page))
        .layer(from_fn_with_state(state.clone(), session::context));
    Router::new().merge(pages).merge(assets::routes())
}

/// A handler that panicked: log what it said, show the plain 500 page (rendered by the
/// page middleware, in the visitor's language).
fn panic_page(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!(detail, "page handler panicked");
    error::page_error(error::PageError::Internal)
}

/// Outermost layer for the whole application: security headers on every response (set only
/// where a handler did not set its own, e.g. a stricter one for downloads), and the HTML
/// "page not found" for unknown addresses outside `/api/`.
pub async fn site_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let is_api = path.starts_with("/api/");
    let lang = session::anonymous_lang(req.headers());
    let mut response = next.run(req).await;
    let unrouted = matches!(response.status(), StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED)
        && response.extensions().get::<error::PageError>().is_none()
        && !response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !is_api && unrouted && !matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics") {
        let ctx = Ctx::anonymous(lang, &path);
        response = views::error_page(&ctx, error::PageError::NotFound);
    }
    let headers = response.headers_mut();
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
    headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("same-origin"));
    headers.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    if state.settings.secure_cookies {
        // Served over TLS: browsers should never come back over plain HTTP.
        headers.entry(header::STRICT_TRANSPORT_SECURITY).or_insert(HeaderValue::from_static("max-age=31536000"));
    }
    headers
        .entry(header::HeaderName::from_static("permissions-policy"))
        .or_insert(HeaderValue::from_static("camera=(), microphone=(), geolocation=()"));
    headers
        .entry(header::HeaderName::from_static("cross-origin-opener-policy"))
        .or_insert(HeaderValue::from_static("same-origin"));
    response
}
