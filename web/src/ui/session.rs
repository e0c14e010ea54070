//! Sessions, the page context and the form guard.
//!
//! * Sessions are the engine's (`corridor_engine::sessions`: create, find, touch, end, expiry);
//!   the cookie holds the random token the engine gave, never stored. Cookies are HttpOnly,
//!   SameSite=Lax, and, when `secure_cookies` is set, Secure with the `__Host-` prefix (so no
//!   other host, not even a subdomain, can set them). A new session (new id) is made at every
//!   sign-in; sign-out ends it.
//! * Every page request passes through [`context`], which loads the session and the user,
//!   picks the language, and puts a [`Ctx`] in the request for handlers to extract. A
//!   half-signed-in session (second factor owed) gives no user: only the sign-in steps open.
//! * Every POST to a page is checked here, before any handler runs and before its body is
//!   buffered: a cross-site request (`Sec-Fetch-Site` / `Origin`) is refused, a request
//!   without a session (or pre-sign-in cookie) is refused, a declared length over the limit is
//!   refused, and the form token is taken from the `X-CSRF-Token` header or from the first
//!   [`TOKEN_PREFIX_BYTES`] of the body (forms put the `csrf` field first). Only then is the
//!   body handed on, under a limit: [`ANONYMOUS_FORM_BYTES`] before sign-in, [`MAX_FORM_BYTES`]
//!   for a signed-in form, the upload limit for a signed-in multipart form. Before sign-in
//!   the token is derived from the pre-sign-in cookie
//!   (`corridor_engine::sessions::pre_sign_in_form_token`), so one browser's token fails in
//!   another.

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
use corridor_engine::sessions::{ClientInfo, Visitor, pre_sign_in_form_token};
use corridor_engine::store::{Session, SessionStage, User};
use futures_util::StreamExt;
use http_body_util::BodyExt;

use super::error::{PageError, UiError, UiResult};
use super::i18n::Lang;
use crate::AppState;

pub const SESSION_COOKIE: &str = "corridor_session";
/// The pre-sign-in cookie: a random id the sign-in form's token is derived from.
pub const CSRF_COOKIE: &str = "corridor_csrf";
pub const LANG_COOKIE: &str = "corridor_lang";
/// The name of the hidden field every form carries.
pub const CSRF_FIELD: &str = "csrf";
/// A script may send the form token in this header instead.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie's name: with `__Host-` when cookies are Secure.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-corridor_session" } else { SESSION_COOKIE }
}

/// The pre-sign-in cookie's name: with `__Host-` when cookies are Secure.
pub fn csrf_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-corridor_csrf" } else { CSRF_COOKIE }
}

/// Largest URL-encoded form accepted from a signed-in user.
pub const MAX_FORM_BYTES: usize = 1024 * 1024;
/// Largest body accepted before sign-in (the sign-in form, the language switch, status).
pub const ANONYMOUS_FORM_BYTES: usize = 64 * 1024;
/// The form token must be within this many first bytes of the body.
pub const TOKEN_PREFIX_BYTES: usize = 16 * 1024;

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
    pub user_agent: String,
    /// Half signed in: the password was right, the second factor (or its enrolment) is owed.
    /// `session` is that session; `user` stays None.
    pub half_signed_in: Option<User>,
    /// A fresh pre-sign-in id, to be set as the pre-sign-in cookie.
    new_pre_session: Option<String>,
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
            user_agent: String::new(),
            half_signed_in: None,
            new_pre_session: None,
        }))
    }

    pub fn client_key(&self) -> String {
        self.client_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())
    }

    /// Where the request comes from, for a new session.
    pub fn client_info(&self) -> ClientInfo {
        ClientInfo { address: self.client_key(), user_agent: self.user_agent.clone() }
    }

    /// The half-signed-in user and what they owe, if that is where this visitor is.
    pub fn half_signed_in(&self) -> Option<(&User, SessionStage)> {
        let user = self.half_signed_in.as_ref()?;
        Some((user, self.session.as_ref()?.stage))
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
async fn load_session(state: &AppState, cookies: &Cookies) -> UiResult<Option<Visitor>> {
    let name = session_cookie_name(state.settings.secure_cookies);
    let Some(token) = cookies.get(name).filter(|t| looks_like_token(t)) else { return Ok(None) };
    Ok(state.engine.sessions().find(token).await?)
}

/// Start a signed-in session for `user`, ending `old` if there was one. Returns the cookie.
pub async fn start_session(state: &AppState, ctx: &Ctx, user: &User) -> UiResult<HeaderValue> {
    let started = state.engine.sessions().create(user, ctx.session.as_ref(), &ctx.client_info()).await?;
    let secure = state.settings.secure_cookies;
    Ok(cookie(session_cookie_name(secure), &started.token, secure, None))
}

/// Start a half-signed-in session (`stage` owed), ending the visitor's old one. Returns the
/// cookie.
pub async fn start_half_signed_in(
    state: &AppState,
    ctx: &Ctx,
    user: &User,
    stage: SessionStage,
) -> UiResult<HeaderValue> {
    let started =
        state.engine.sessions().create_half_signed_in(user, stage, ctx.session.as_ref(), &ctx.client_info()).await?;
    let secure = state.settings.secure_cookies;
    Ok(cookie(session_cookie_name(secure), &started.token, secure, None))
}

/// End the request's session. Returns the cookie that clears it.
pub async fn end_session(state: &AppState, ctx: &Ctx) -> UiResult<HeaderValue> {
    if let Some(s) = &ctx.session {
        state.engine.sessions().end(s).await?;
    }
    let secure = state.settings.secure_cookies;
    Ok(cookie(session_cookie_name(secure), "", secure, Some(0)))
}

/// The cookie that ends the pre-sign-in id (after sign-in).
pub fn clear_pre_session(state: &AppState) -> HeaderValue {
    let secure = state.settings.secure_cookies;
    cookie(csrf_cookie_name(secure), "", secure, Some(0))
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

/// Check a POST before its body is read (see the module comment); hand the body on, with the
/// part read to find the token put back in front, under the limit for this visitor and form.
async fn check_form(state: &AppState, ctx: &Ctx, headers: &HeaderMap, body: Body) -> UiResult<Body> {
    if !same_origin(headers, &state.settings.public_url) {
        return Err(UiError::Csrf("cross-origin request"));
    }
    // No session and no pre-sign-in cookie: no token can match; nothing is read.
    if ctx.csrf.is_empty() || ctx.new_pre_session.is_some() {
        return Err(UiError::Csrf("no session to compare with"));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let multipart = if content_type.starts_with("multipart/form-data") {
        true
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        false
    } else {
        return Err(UiError::Csrf("forms are sent URL-encoded or multipart"));
    };
    let limit = match (ctx.user.is_some(), multipart) {
        (false, _) => ANONYMOUS_FORM_BYTES,
        (true, false) => MAX_FORM_BYTES,
        (true, true) => state.settings.max_upload_bytes + MAX_FORM_BYTES,
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    if declared.is_some_and(|n: usize| n > limit) {
        return Err(UiError::TooLarge);
    }
    let from_header = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (prefix, rest, complete) = match from_header {
        Some(_) => (Bytes::new(), body, false),
        None => read_prefix(body, TOKEN_PREFIX_BYTES.min(limit)).await?,
    };
    let given = match from_header {
        Some(token) => Some(token),
        None if multipart => {
            let boundary =
                multer::parse_boundary(&content_type).map_err(|_| UiError::Csrf("multipart without boundary"))?;
            token_in_multipart(prefix.clone(), boundary).await
        }
        None => token_in_urlencoded(&prefix, complete),
    };
    match given {
        Some(token) if constant_time_eq(token.trim(), &ctx.csrf) => {}
        Some(_) => return Err(UiError::Csrf("wrong token")),
        None => return Err(UiError::Csrf("no token")),
    }
    if prefix.len() > limit {
        return Err(UiError::TooLarge);
    }
    let whole =
        futures_util::stream::once(async move { Ok::<Bytes, axum::Error>(prefix) }).chain(rest.into_data_stream());
    Ok(Body::new(http_body_util::Limited::new(Body::from_stream(whole), limit)))
}

/// Read at least `want` bytes of the body (less if it is shorter): the bytes, the rest of the
/// body, and whether that was all of it.
async fn read_prefix(mut body: Body, want: usize) -> UiResult<(Bytes, Body, bool)> {
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < want {
        match body.frame().await {
            None => return Ok((Bytes::from(buf), Body::empty(), true)),
            Some(Err(_)) => return Err(UiError::Csrf("the form did not arrive whole")),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
    Ok((Bytes::from(buf), body, false))
}

/// The `csrf` field among the pairs that arrived whole.
fn token_in_urlencoded(prefix: &[u8], complete: bool) -> Option<String> {
    let whole = if complete {
        prefix
    } else {
        let end = prefix.iter().rposition(|b| *b == b'&')?;
        &prefix[..end]
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(whole).ok()?;
    pairs.into_iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v)
}

/// The `csrf` field of a multipart body, if it is complete within `prefix`.
async fn token_in_multipart(prefix: Bytes, boundary: String) -> Option<String> {
    let stream = futures_util::stream::once(async move { Ok::<Bytes, Infallible>(prefix) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some(CSRF_FIELD) {
            return field.text().await.ok();
        }
    }
    None
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
    let secure = state.settings.secure_cookies;
    let stale_cookie = loaded.is_none() && cookies.get(session_cookie_name(secure)).is_some_and(|v| !v.is_empty());
    let (session, user, half_signed_in) = match loaded {
        Some(Visitor::SignedIn { session, user }) => (Some(session), Some(user), None),
        Some(Visitor::HalfSignedIn { session, user }) => (Some(session), None, Some(user)),
        None => (None, None, None),
    };
    let lang =
        user.as_ref().or(half_signed_in.as_ref()).and_then(|u| Lang::from_code(&u.language)).unwrap_or(fallback_lang);
    let (csrf, new_pre_session) = match &session {
        Some(s) => (s.csrf_token.clone(), None),
        None => match cookies.get(csrf_cookie_name(secure)).filter(|t| looks_like_token(t)) {
            Some(id) => (pre_sign_in_form_token(id), None),
            None => {
                let id = auth::random_id();
                (pre_sign_in_form_token(&id), Some(id))
            }
        },
    };
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(200).collect())
        .unwrap_or_default();
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
        user_agent,
        half_signed_in,
        new_pre_session,
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
    let name = session_cookie_name(secure);
    if stale_cookie
        && !response.headers().get_all(header::SET_COOKIE).iter().any(|c| c.as_bytes().starts_with(name.as_bytes()))
    {
        response.headers_mut().append(header::SET_COOKIE, cookie(name, "", secure, Some(0)));
    }
    response
}

fn set_anonymous_cookie(state: &AppState, ctx: &Ctx) -> Option<HeaderValue> {
    let secure = state.settings.secure_cookies;
    let id = ctx.new_pre_session.as_ref().filter(|_| ctx.session.is_none())?;
    Some(cookie(csrf_cookie_name(secure), id, secure, None))
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
