//! Signing in (the password, then the second factor or its enrolment), signing out, the
//! language switch, and the user's own sessions and password.

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use corridor_engine::actor::Actor;
use corridor_engine::admin::ProblemKind;
use corridor_engine::auth::{
    MAX_EMAIL_BYTES, PasswordAccepted, PasswordChange, PasswordChangeProblem, PasswordChangeRefusal, SignInRefusal,
};
use corridor_engine::store::{SessionStage, User};
use serde::Deserialize;
use std::time::Duration;
use tera::Context;

use super::error::{UiError, UiResult};
use super::forms::{FormData, FormErrors};
use super::i18n::{self, Lang};
use super::session::{self, Ctx, LANG_COOKIE};
use super::views::{render, render_status};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/login/code", get(code_form).post(code))
        .route("/login/enrol", get(enrol_form).post(enrol))
        .route("/account/second-factor", get(enrol_form).post(enrol))
        .route("/account/sessions", get(sessions_page))
        .route("/account/sessions/end", post(end_session))
        .route("/account/password", get(password_form).post(change_password))
        .route("/logout", post(logout))
        .route("/language", post(language))
}

/// A local path to return to after a form: never another site (`//host`, `/\host`).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?.trim();
    let ok = n.starts_with('/')
        && !n.starts_with("//")
        && !n.starts_with("/\\")
        && !n.chars().any(|c| c.is_control() || c == '\\')
        && n.len() < 2000;
    ok.then(|| n.to_string())
}

fn next_of(form_next: Option<&str>) -> Option<String> {
    safe_next(form_next).filter(|n| !n.starts_with("/login"))
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The page a half-signed-in visitor owes.
fn owed_step(stage: SessionStage) -> &'static str {
    match stage {
        SessionStage::Enrol => "/login/enrol",
        _ => "/login/code",
    }
}

async fn login_form(ctx: Ctx, Query(q): Query<NextQuery>) -> UiResult<Response> {
    if let Some(actor) = &ctx.actor {
        return Ok(Redirect::to(super::home_path(Some(actor))).into_response());
    }
    let next = next_of(q.next.as_deref());
    if let Some((_, stage)) = ctx.half_signed_in() {
        return Ok(Redirect::to(&with_next(owed_step(stage), next.as_deref())).into_response());
    }
    let mut page = Context::new();
    page.insert("next", &next);
    page.insert("email", "");
    FormErrors::default().insert_into(&mut page);
    render_status(&ctx, StatusCode::OK, "login.html", page)
}

fn with_next(path: &str, next: Option<&str>) -> String {
    match next {
        Some(n) => format!("{path}?{}", serde_urlencoded::to_string([("next", n)]).unwrap_or_default()),
        None => path.to_string(),
    }
}

/// How long to wait, in the visitor's words.
fn wait_words(lang: Lang, wait: Duration) -> String {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as i64;
    if seconds < 120 {
        i18n::t_count(lang, "login.wait.seconds", seconds, &[])
    } else {
        i18n::t_count(lang, "login.wait.minutes", (seconds + 59) / 60, &[])
    }
}

/// The 429 answer to a throttled step: the page with the wait, and `Retry-After`.
fn throttled(
    lang: Lang,
    retry_after: Duration,
    field: &str,
    render_page: impl FnOnce(FormErrors, StatusCode) -> UiResult<Response>,
) -> UiResult<Response> {
    let mut errors = FormErrors::default();
    let message = i18n::t_args(lang, "login.error.rate_limited", &[("wait", wait_words(lang, retry_after))]);
    errors.add(field, &format!("#{field}"), message);
    let mut r = render_page(errors, StatusCode::TOO_MANY_REQUESTS)?;
    let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    Ok(r)
}

async fn login(State(state): State<AppState>, ctx: Ctx, Form(form): Form<FormData>) -> UiResult<Response> {
    let email = form.text("email").unwrap_or_default();
    let password = form.get("password").unwrap_or("").to_string();
    let next = next_of(form.get("next"));
    let lang = ctx.lang;

    let mut errors = FormErrors::default();
    if email.is_empty() {
        errors.add("email", "#email", i18n::t(lang, "login.error.email_missing"));
    } else if email.len() > MAX_EMAIL_BYTES {
        errors.add("email", "#email", i18n::t(lang, "login.error.email_too_long"));
    } else if corridor_engine::fields::has_control(&email) {
        errors.add("email", "#email", i18n::t(lang, "login.error.email_control"));
    }
    if password.is_empty() {
        errors.add("password", "#password", i18n::t(lang, "login.error.password_missing"));
    }
    let shown_email = if email.len() > MAX_EMAIL_BYTES || corridor_engine::fields::has_control(&email) {
        String::new()
    } else {
        email.clone()
    };
    let retry = |errors: FormErrors, status: StatusCode| {
        let mut page = Context::new();
        page.insert("next", &next);
        page.insert("email", &shown_email);
        errors.insert_into(&mut page);
        render_status(&ctx, status, "login.html", page)
    };
    if !errors.is_empty() {
        return retry(errors, StatusCode::UNPROCESSABLE_ENTITY);
    }

    let accepted = match state.engine.sign_in(&email, &password, &ctx.client_key()).await {
        Ok(a) => a,
        Err(SignInRefusal::TooManyAttempts { retry_after }) => return throttled(lang, retry_after, "email", retry),
        Err(SignInRefusal::EmailTooLong) => {
            errors.add("email", "#email", i18n::t(lang, "login.error.email_too_long"));
            return retry(errors, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(SignInRefusal::EmailHasControl) => {
            errors.add("email", "#email", i18n::t(lang, "login.error.email_control"));
            return retry(errors, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(SignInRefusal::WrongCredentials | SignInRefusal::WrongCode) => {
            errors.add("email", "#email", i18n::t(lang, "login.error.wrong"));
            return retry(errors, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(SignInRefusal::Failed(e)) => return Err(e.into()),
    };
    let (user, stage) = match accepted {
        PasswordAccepted::SignedIn(user) => return signed_in(&state, &ctx, &user, next, None).await,
        PasswordAccepted::SecondFactor(user) => (user, SessionStage::SecondFactor),
        PasswordAccepted::Enrol(user) => (user, SessionStage::Enrol),
    };
    let cookie = session::start_half_signed_in(&state, &ctx, &user, stage).await?;
    let mut response = Redirect::to(&with_next(owed_step(stage), next.as_deref())).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response.headers_mut().append(header::SET_COOKIE, session::clear_pre_session(&state));
    tracing::info!(user = user.id.get(), stage = stage.as_str(), "password accepted, second factor owed");
    Ok(response)
}

/// Fully signed in: a new session (the half-signed-in one ends), the user's language, then
/// `next` or their home page; or, with `page`, that page rendered (the recovery codes).
async fn signed_in(
    state: &AppState,
    ctx: &Ctx,
    user: &User,
    next: Option<String>,
    page: Option<Response>,
) -> UiResult<Response> {
    let session_cookie = session::start_session(state, ctx, user).await?;
    let user_lang = Lang::from_code(&user.language).unwrap_or_default();
    let target = next.unwrap_or_else(|| super::home_path(Some(&Actor::from_user(user))).to_string());
    let mut response = page.unwrap_or_else(|| Redirect::to(&target).into_response());
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session_cookie);
    headers.append(
        header::SET_COOKIE,
        session::cookie(LANG_COOKIE, user_lang.code(), state.settings.secure_cookies, Some(LANG_COOKIE_AGE)),
    );
    headers.append(header::SET_COOKIE, session::clear_pre_session(state));
    tracing::info!(user = user.id.get(), "signed in");
    Ok(response)
}

// ---- the second factor ----

/// The half-signed-in user who owes `stage`, or back to the sign-in page.
fn owing(ctx: &Ctx, stage: SessionStage) -> UiResult<&User> {
    match ctx.half_signed_in() {
        Some((user, owed)) if owed == stage => Ok(user),
        _ => Err(UiError::SignIn { next: "/".into() }),
    }
}

async fn code_form(ctx: Ctx, Query(q): Query<NextQuery>) -> UiResult<Response> {
    owing(&ctx, SessionStage::SecondFactor)?;
    let mut page = Context::new();
    page.insert("next", &next_of(q.next.as_deref()));
    render(&ctx, "login_code.html", page)
}

async fn code(State(state): State<AppState>, ctx: Ctx, Form(form): Form<FormData>) -> UiResult<Response> {
    let user = owing(&ctx, SessionStage::SecondFactor)?.clone();
    let next = next_of(form.get("next"));
    let code = form.text("code").unwrap_or_default();
    let lang = ctx.lang;
    let retry = |errors: FormErrors, status: StatusCode| {
        let mut page = Context::new();
        page.insert("next", &next);
        errors.insert_into(&mut page);
        render_status(&ctx, status, "login_code.html", page)
    };
    let mut errors = FormErrors::default();
    if code.is_empty() {
        errors.add("code", "#code", i18n::t(lang, "login.code.error.missing"));
        return retry(errors, StatusCode::UNPROCESSABLE_ENTITY);
    }
    match state.engine.check_second_factor(&user, &code, &ctx.client_key()).await {
        Ok(()) => signed_in(&state, &ctx, &user, next.clone(), None).await,
        Err(SignInRefusal::TooManyAttempts { retry_after }) => throttled(lang, retry_after, "code", retry),
        Err(SignInRefusal::Failed(e)) => Err(e.into()),
        Err(_) => {
            errors.add("code", "#code", i18n::t(lang, "login.code.error.wrong"));
            retry(errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

/// Who is setting up a second factor: a half-signed-in user who must, or a signed-in user
/// who chose to (from their account).
fn enrolling(ctx: &Ctx) -> UiResult<(&User, bool)> {
    if let Some(user) = &ctx.user {
        return Ok((user, false));
    }
    Ok((owing(ctx, SessionStage::Enrol)?, true))
}

const ENROL_SECRET: &str = "enrol_secret";

/// The secret being set up in this session (made on the first visit, kept until confirmed).
async fn enrolment(state: &AppState, ctx: &Ctx, user: &User) -> UiResult<corridor_engine::auth::Enrolment> {
    let session = ctx.session.as_ref().ok_or(UiError::SignIn { next: ctx.path.clone() })?;
    let kept = session.data.get(ENROL_SECRET).and_then(|v| v.as_str());
    let enrolment = state.engine.begin_enrolment(user, kept)?;
    if kept.is_none() {
        let mut data = session.data.clone();
        if let Some(map) = data.as_object_mut() {
            map.insert(ENROL_SECRET.into(), enrolment.secret.clone().into());
        }
        state.engine.sessions().set_data(session, data).await?;
    }
    Ok(enrolment)
}

fn enrol_page(
    ctx: &Ctx,
    status: StatusCode,
    enrolment: &corridor_engine::auth::Enrolment,
    next: &Option<String>,
    required: bool,
    errors: FormErrors,
) -> UiResult<Response> {
    let mut page = Context::new();
    page.insert("qr", &format!("data:image/svg+xml;base64,{}", base64_encode(enrolment.qr_svg.as_bytes())));
    // Grouped in fours, as people type it.
    let grouped: Vec<String> =
        enrolment.secret.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    page.insert("secret", &grouped.join(" "));
    page.insert("otpauth", &enrolment.otpauth_url);
    page.insert("next", next);
    page.insert("required", &required);
    page.insert("action", if required { "/login/enrol" } else { "/account/second-factor" });
    errors.insert_into(&mut page);
    render_status(ctx, status, "login_enrol.html", page)
}

/// Standard base64 (RFC 4648), for the QR code's data address.
fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn enrol_form(State(state): State<AppState>, ctx: Ctx, Query(q): Query<NextQuery>) -> UiResult<Response> {
    let (user, required) = enrolling(&ctx)?;
    let enrolment = enrolment(&state, &ctx, user).await?;
    enrol_page(&ctx, StatusCode::OK, &enrolment, &next_of(q.next.as_deref()), required, FormErrors::default())
}

async fn enrol(State(state): State<AppState>, ctx: Ctx, Form(form): Form<FormData>) -> UiResult<Response> {
    let (user, required) = enrolling(&ctx)?;
    let user = user.clone();
    let next = next_of(form.get("next"));
    let code = form.text("code").unwrap_or_default();
    let lang = ctx.lang;
    let enrolment = enrolment(&state, &ctx, &user).await?;
    let mut errors = FormErrors::default();
    // Signed in already: the password again, so that a stolen session cannot set up its own.
    let password = form.get("password").unwrap_or("");
    if !required && password.is_empty() {
        errors.add("password", "#password", i18n::t(lang, "login.error.password_missing"));
    }
    if code.is_empty() {
        errors.add("code", "#code", i18n::t(lang, "login.code.error.missing"));
    }
    if !errors.is_empty() {
        return enrol_page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &enrolment, &next, required, errors);
    }
    if !required {
        match state.engine.confirm_password(&user, password, &ctx.client_key()).await {
            Ok(()) => {}
            Err(SignInRefusal::TooManyAttempts { retry_after }) => {
                return throttled(lang, retry_after, "password", |errors, status| {
                    enrol_page(&ctx, status, &enrolment, &next, required, errors)
                });
            }
            Err(SignInRefusal::Failed(e)) => return Err(e.into()),
            Err(_) => {
                errors.add("password", "#password", i18n::t(lang, "login.enrol.wrong_password"));
                return enrol_page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &enrolment, &next, required, errors);
            }
        }
    }
    let codes = match state.engine.confirm_enrolment(&user, &enrolment.secret, &code, &ctx.client_key()).await {
        Ok(codes) => codes,
        Err(SignInRefusal::TooManyAttempts { retry_after }) => {
            return throttled(lang, retry_after, "code", |errors, status| {
                enrol_page(&ctx, status, &enrolment, &next, required, errors)
            });
        }
        Err(SignInRefusal::Failed(e)) => return Err(e.into()),
        Err(_) => {
            errors.add("code", "#code", i18n::t(lang, "login.code.error.wrong"));
            return enrol_page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &enrolment, &next, required, errors);
        }
    };
    let target = next.clone().unwrap_or_else(|| super::home_path(Some(&Actor::from_user(&user))).to_string());
    let mut page = Context::new();
    page.insert("codes", &codes);
    page.insert("continue_to", &target);
    if required {
        // Shown once, in the answer that starts the fully signed-in session; the page has no
        // form, only the way on.
        let page = render(&ctx, "recovery_codes.html", page)?;
        signed_in(&state, &ctx, &user, next, Some(page)).await
    } else {
        // A signed-in user's other sessions end: the account's sign-in changed.
        for s in state.engine.sessions().list(&user).await? {
            if ctx.session.as_ref().is_none_or(|mine| mine.id != s.id) {
                state.engine.sessions().end(&s).await?;
            }
        }
        if let Some(session) = &ctx.session {
            let mut data = session.data.clone();
            if let Some(map) = data.as_object_mut() {
                map.remove(ENROL_SECRET);
            }
            state.engine.sessions().set_data(session, data).await?;
        }
        render(&ctx, "recovery_codes.html", page)
    }
}

// ---- the user's own sessions ----

async fn sessions_page(State(state): State<AppState>, ctx: Ctx) -> UiResult<Response> {
    let (user, _) = ctx.signed_in()?;
    let mine = ctx.session.as_ref().map(|s| s.id.clone()).unwrap_or_default();
    let list: Vec<serde_json::Value> = state
        .engine
        .sessions()
        .list(user)
        .await?
        .into_iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id,
                "started": s.created_at,
                "last_seen": s.last_seen_at.unwrap_or(s.created_at),
                "address": s.client_address,
                "user_agent": s.user_agent,
                "current": s.id == mine,
            })
        })
        .collect();
    let mut page = Context::new();
    page.insert("sessions", &list);
    page.insert("has_second_factor", &state.engine.has_second_factor(user).await?);
    page.insert("second_factor_required", &state.engine.second_factor_required(user));
    let left = state.engine.unused_recovery_codes(user).await?;
    page.insert("second_factor_on", &i18n::t_count(ctx.lang, "account.second_factor.on", left, &[]));
    render(&ctx, "account_sessions.html", page)
}

async fn end_session(State(state): State<AppState>, ctx: Ctx, Form(form): Form<FormData>) -> UiResult<Response> {
    let (user, _) = ctx.signed_in()?;
    let id = form.get("session").unwrap_or("");
    if !state.engine.sessions().end_own(user, id).await? {
        return Err(UiError::NotFound);
    }
    if ctx.session.as_ref().is_some_and(|s| s.id == id) {
        let secure = state.settings.secure_cookies;
        let mut response = Redirect::to("/?notice=signed_out").into_response();
        response
            .headers_mut()
            .append(header::SET_COOKIE, session::cookie(session::session_cookie_name(secure), "", secure, Some(0)));
        return Ok(response);
    }
    Ok(Redirect::to("/account/sessions?notice=session_ended").into_response())
}

// ---- the user's own password ----

fn password_page(ctx: &Ctx, status: StatusCode, revoke_tokens: bool, errors: FormErrors) -> UiResult<Response> {
    let mut page = Context::new();
    page.insert("revoke_tokens", &revoke_tokens);
    errors.insert_into(&mut page);
    render_status(ctx, status, "account_password.html", page)
}

async fn password_form(ctx: Ctx) -> UiResult<Response> {
    ctx.signed_in()?;
    // Revoking the API tokens is offered, on unless the user turns it off.
    password_page(&ctx, StatusCode::OK, true, FormErrors::default())
}

fn password_problem_key(problem: PasswordChangeProblem) -> &'static str {
    use PasswordChangeProblem as P;
    match problem {
        P::CurrentMissing => "account.password.error.current_missing",
        P::CurrentWrong => "account.password.error.current_wrong",
        P::NewMissing => "account.password.error.new_missing",
        P::NewRefused(ProblemKind::TooShort) => "account.password.error.new_too_short",
        P::NewRefused(ProblemKind::TooLong) => "account.password.error.new_too_long",
        // Too easy to guess: the only other rule of a chosen password.
        P::NewRefused(_) => "account.password.error.new_too_common",
        P::AgainMissing => "account.password.error.again_missing",
        P::AgainDifferent => "account.password.error.again_different",
    }
}

async fn change_password(State(state): State<AppState>, ctx: Ctx, Form(form): Form<FormData>) -> UiResult<Response> {
    let (user, _) = ctx.signed_in()?;
    let session = ctx.session.as_ref().ok_or(UiError::SignIn { next: ctx.path.clone() })?;
    let change = PasswordChange {
        current: form.get("current_password").unwrap_or("").to_string(),
        new: form.get("new_password").unwrap_or("").to_string(),
        again: form.get("new_password_again").unwrap_or("").to_string(),
        revoke_tokens: form.get("revoke_tokens").is_some(),
    };
    let lang = ctx.lang;
    match state.engine.change_own_password(user, &session.id, &change, &ctx.client_key()).await {
        Ok(()) => Ok(Redirect::to("/account/sessions?notice=password_changed").into_response()),
        Err(PasswordChangeRefusal::Problems(problems)) => {
            let mut errors = FormErrors::default();
            for p in problems {
                errors.add(p.field(), &format!("#{}", p.field()), i18n::t(lang, password_problem_key(p)));
            }
            password_page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, change.revoke_tokens, errors)
        }
        Err(PasswordChangeRefusal::TooManyAttempts { retry_after }) => {
            throttled(lang, retry_after, "current_password", |errors, status| {
                password_page(&ctx, status, change.revoke_tokens, errors)
            })
        }
        Err(PasswordChangeRefusal::Failed(e)) => Err(e.into()),
    }
}

/// The language cookie lasts a year.
const LANG_COOKIE_AGE: i64 = 365 * 24 * 3600;

async fn logout(State(state): State<AppState>, ctx: Ctx) -> UiResult<Response> {
    let clear = session::end_session(&state, &ctx).await?;
    let mut response = Redirect::to("/?notice=signed_out").into_response();
    response.headers_mut().append(header::SET_COOKIE, clear);
    Ok(response)
}

async fn language(State(state): State<AppState>, ctx: Ctx, Form(form): Form<FormData>) -> UiResult<Response> {
    let lang = form.get("lang").and_then(Lang::from_code).ok_or(UiError::NotFound)?;
    if let Some(user) = &ctx.user {
        state.engine.set_user_language(user.id, lang.code()).await?;
    }
    let target = safe_next(form.get("next")).unwrap_or_else(|| "/".into());
    let mut response = Redirect::to(&target).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::cookie(LANG_COOKIE, lang.code(), state.settings.secure_cookies, Some(LANG_COOKIE_AGE)),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::{base64_encode, safe_next};

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/applications/X")), Some("/applications/X".into()));
        assert_eq!(safe_next(Some("//evil.example/")), None);
        assert_eq!(safe_next(Some("/\\evil.example/")), None);
        assert_eq!(safe_next(Some("https://evil.example/")), None);
        assert_eq!(safe_next(None), None);
    }

    #[test]
    fn base64_is_rfc_4648() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }
}
