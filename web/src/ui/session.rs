//! Sessions, the page context and the form guard.
//!
//! * Sessions are the engine's (`corridor_engine::sessions`: create, find, touch, end, expiry);
//!   the cookie holds the random token the engine gave, never stored. Cookies are HttpOnly,
//!   SameSite=Lax, and Secure when `secure_cookies` is set. A new session (new id) is made at
//!   every sign-in; sign-out ends it.
//! * Every page request passes through [`context`], which loads the session and the user,
//!   picks the language, and puts a [`Ctx`] in the request for handlers to extract.
//! * Every POST to a page is checked here, before any handler runs: a cross-site request
//!   (`Sec-Fetch-Site` / `Origin`) is refused, and the form must carry the `csrf` field equal to
//!   the session's token (or, before sign-in, to the `corridor_csrf` cookie: double submit).
//!   URL-encoded and multipart bodies are both read and checked, then handed on unchanged.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use corridor_engine::actor::Actor;
use corridor_engine::auth;
use corridor_engine::role::Role;
use corridor_engine::store::{Session, User};

use super::error::{PageError, UiError, UiResult};
use super::i18n::Lang;
use crate::AppState;

pub const SESSION_COOKIE: &str = "corridor_session";
pub const CSRF_COOKIE: &str = "corridor_csrf";
pub const LANG_COOKIE: &str = "corridor_lang";
/// The name of the hidden field every form carries.
pub const CSRF_FIELD: &str = "csrf";

/// Largest URL-encoded form accepted.
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// The cookies of a request.
#[derive(Debug, Default)]
pub struct Cookies(HashMap<String, String>);

impl Cookies {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut map = HashMap::new();
        for value in headers.get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            for pair in text.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=') {
                    map.entry(k.trim().to_string()).or_insert_with(|| v.trim().trim_matches('"').to_string());
                }
            }
        }
        Cookies(map)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A `Set-Cookie` value with our attributes. `max_age` None: until the browser closes;
/// `Some(0)`: delete.
pub fn cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

fn looks_like_token(s: &str) -> bool {
    (32..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What every page handler knows about the request: who, in which language, the form token.
#[derive(Clone)]
pub struct Ctx(Arc<CtxInner>);

pub struct CtxInner {
    pub lang: Lang,
    pub user: Option<User>,
    pub actor: Option<Actor>,
    /// The signed-in user receives escalations of some stage (the late-cases view).
    pub supervisor: bool,
    pub session: Option<Session>,
    /// The token forms must carry (`{{ csrf_field() }}` in templates).
    pub csrf: String,
    /// Path and query of this request (for `next=` links and the language switch).
    pub path: String,
    pub client_ip: Option<IpAddr>,
    /// A fresh anonymous token to be set as the `corridor_csrf` cookie.
    new_anonymous_token: bool,
}

impl Deref for Ctx {
    type Target = CtxInner;
    fn deref(&self) -> &CtxInner {
        &self.0
    }
}

impl Ctx {
    /// The signed-in user and actor, or a redirect to the sign-in page that comes back here.
    pub fn signed_in(&self) -> UiResult<(&User, &Actor)> {
        match (&self.user, &self.actor) {
            (Some(u), Some(a)) => Ok((u, a)),
            _ => Err(UiError::SignIn { next: self.path.clone() }),
        }
    }

    /// The actor, who must hold one of `roles`; a page for another role answers 403.
    pub fn require_role(&self, roles: &[Role]) -> UiResult<&Actor> {
        let (_, actor) = self.signed_in()?;
        if roles.contains(&actor.role) {
            Ok(actor)
        } else {
            Err(UiError::Forbidden(format!("{} may not open {}", actor.role, self.path)))
        }
    }

    /// A bare context (no request), for rendering outside the page middleware.
    pub fn anonymous(lang: Lang, path: &str) -> Ctx {
        Ctx(Arc::new(CtxInner {
            lang,
            user: None,
            actor: None,
            supervisor: false,
            session: None,
            csrf: String::new(),
            path: path.to_string(),
            client_ip: None,
            new_anonymous_token: false,
        }))
    }

    pub fn client_key(&self) -> String {
        self.client_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or_else(|| UiError::Internal("page route without the ui::session::context layer".into()))
    }
}

/// The language of a request without a session: the cookie, then the browser's preference.
pub fn anonymous_lang(headers: &HeaderMap) -> Lang {
    let cookies = Cookies::from_headers(headers);
    cookies
        .get(LANG_COOKIE)
        .and_then(Lang::from_code)
        .or_else(|| {
            headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Lang::from_accept_language)
        })
        .unwrap_or_default()
}

/// The live session a cookie names, with its user (the engine ends sessions that ran out and
/// those of disabled users).
async fn load_session(state: &AppState, cookies: &Cookies) -> UiResult<Option<(Session, User)>> {
    let Some(token) = cookies.get(SESSION_COOKIE).filter(|t| looks_like_token(t)) else { return Ok(None) };
    Ok(state.engine.sessions().find(token).await?)
}

/// Start a signed-in session for `user`, ending `old` if there was one. Returns the cookie.
pub async fn start_session(state: &AppState, user: &User, old: Option<&Session>) -> UiResult<HeaderValue> {
    let started = state.engine.sessions().create(user, old).await?;
    Ok(cookie(SESSION_COOKIE, &started.token, state.settings.secure_cookies, None))
}

/// End the request's session. Returns the cookie that clears it.
pub async fn end_session(state: &AppState, ctx: &Ctx) -> UiResult<HeaderValue> {
    if let Some(s) = &ctx.session {
        state.engine.sessions().end(s).await?;
    }
    Ok(cookie(SESSION_COOKIE, "", state.settings.secure_cookies, Some(0)))
}

/// Whether a state-changing request comes from our own pages. Browsers send
/// `Sec-Fetch-Site`; older ones at least `Origin` on POST. A request with neither (a script,
/// curl) must still carry the right token.
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else { return false };
        let origin = origin.trim_end_matches('/');
        if origin == public_url.trim_end_matches('/') {
            return true;
        }
        let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or("");
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        return !authority.is_empty() && authority.eq_ignore_ascii_case(host);
    }
    true
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Read a POST body, find its `csrf` field, compare; hand the body back unchanged.
async fn check_form(state: &AppState, ctx: &Ctx, headers: &HeaderMap, body: Body) -> UiResult<Body> {
    if !same_origin(headers, &state.settings.public_url) {
        return Err(UiError::Csrf("cross-origin request"));
    }
    if ctx.csrf.is_empty() {
        return Err(UiError::Csrf("no token to compare with"));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let given: Option<String>;
    let bytes: Bytes;
    if content_type.starts_with("application/x-www-form-urlencoded") {
        bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| UiError::TooLarge)?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| UiError::Csrf("unreadable form"))?;
        given = pairs.into_iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v);
    } else if content_type.starts_with("multipart/form-data") {
        let boundary =
            multer::parse_boundary(&content_type).map_err(|_| UiError::Csrf("multipart without boundary"))?;
        let limit = state.settings.max_upload_bytes + MAX_FORM_BYTES;
        bytes = axum::body::to_bytes(body, limit).await.map_err(|_| UiError::TooLarge)?;
        let stream = futures_util::stream::once({
            let b = bytes.clone();
            async move { Ok::<Bytes, Infallible>(b) }
        });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut found = None;
        while let Ok(Some(field)) = multipart.next_field().await {
            if field.name() == Some(CSRF_FIELD) {
                found = field.text().await.ok();
                break;
            }
        }
        given = found;
    } else {
        return Err(UiError::Csrf("forms are sent URL-encoded or multipart"));
    }
    match given {
        Some(token) if constant_time_eq(token.trim(), &ctx.csrf) => Ok(Body::from(bytes)),
        Some(_) => Err(UiError::Csrf("wrong token")),
        None => Err(UiError::Csrf("no token")),
    }
}

/// The page middleware: session, language, form guard, error pages, cookies, headers.
pub async fn context(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let cookies = Cookies::from_headers(&parts.headers);
    let path = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let client_ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let fallback_lang = anonymous_lang(&parts.headers);

    let loaded = match load_session(&state, &cookies).await {
        Ok(l) => l,
        Err(e) => {
            let ctx = Ctx::anonymous(fallback_lang, &path);
            return finish(&ctx, e.into_response());
        }
    };
    let stale_cookie = loaded.is_none() && cookies.get(SESSION_COOKIE).is_some_and(|v| !v.is_empty());
    let (session, user) = match loaded {
        Some((s, u)) => (Some(s), Some(u)),
        None => (None, None),
    };
    let lang = user.as_ref().and_then(|u| Lang::from_code(&u.language)).unwrap_or(fallback_lang);
    let (csrf, new_anonymous_token) = match &session {
        Some(s) => (s.csrf_token.clone(), false),
        None => match cookies.get(CSRF_COOKIE).filter(|t| looks_like_token(t)) {
            Some(t) => (t.to_string(), false),
            None => (auth::random_id(), true),
        },
    };
    let actor = user.as_ref().map(Actor::from_user);
    let ctx = Ctx(Arc::new(CtxInner {
        lang,
        supervisor: actor.as_ref().is_some_and(|a| !state.engine.supervised_stages(a).is_empty()),
        actor,
        user,
        session,
        csrf,
        path,
        client_ip,
        new_anonymous_token,
    }));

    let body = if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        body
    } else {
        match check_form(&state, &ctx, &parts.headers, body).await {
            Ok(b) => b,
            Err(e) => {
                let mut r = finish(&ctx, e.into_response());
                if let Some(c) = set_anonymous_cookie(&state, &ctx) {
                    r.headers_mut().append(header::SET_COOKIE, c);
                }
                return r;
            }
        }
    };
    parts.extensions.insert(ctx.clone());
    let response = next.run(Request::from_parts(parts, body)).await;
    let mut response = finish(&ctx, response);
    if let Some(c) = set_anonymous_cookie(&state, &ctx) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    if stale_cookie
        && !response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.as_bytes().starts_with(SESSION_COOKIE.as_bytes()))
    {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie(SESSION_COOKIE, "", state.settings.secure_cookies, Some(0)));
    }
    response
}

fn set_anonymous_cookie(state: &AppState, ctx: &Ctx) -> Option<HeaderValue> {
    (ctx.new_anonymous_token && ctx.session.is_none())
        .then(|| cookie(CSRF_COOKIE, &ctx.csrf, state.settings.secure_cookies, None))
}

/// Render the error page a handler asked for; pages are never cached.
fn finish(ctx: &Ctx, mut response: Response) -> Response {
    if let Some(kind) = response.extensions().get::<PageError>().copied() {
        let kept: Vec<(header::HeaderName, HeaderValue)> = response
            .headers()
            .iter()
            .filter(|(k, _)| *k == header::RETRY_AFTER || *k == header::SET_COOKIE)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        response = super::views::error_page(ctx, kind);
        for (k, v) in kept {
            response.headers_mut().append(k, v);
        }
    }
    response.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}
