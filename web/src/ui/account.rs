//! Signing in and out, and the language switch.

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use corridor_engine::auth::SignInRefusal;
use serde::Deserialize;
use tera::Context;

use super::error::{UiError, UiResult};
use super::forms::{FormData, FormErrors};
use super::i18n::{self, Lang};
use super::session::{self, Ctx, LANG_COOKIE};
use super::views::render_status;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
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

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

async fn login_form(ctx: Ctx, Query(q): Query<NextQuery>) -> UiResult<Response> {
    if let Some(actor) = &ctx.actor {
        return Ok(Redirect::to(super::home_path(Some(&actor))).into_response());
    }
    let mut page = Context::new();
    page.insert("next", &safe_next(q.next.as_deref()).filter(|n| !n.starts_with("/login")));
    page.insert("email", "");
    FormErrors::default().insert_into(&mut page);
    render_status(&ctx, StatusCode::OK, "login.html", page)
}

async fn login(State(state): State<AppState>, ctx: Ctx, Form(form): Form<FormData>) -> UiResult<Response> {
    let email = form.text("email").unwrap_or_default();
    let password = form.get("password").unwrap_or("").to_string();
    let next = safe_next(form.get("next")).filter(|n| !n.starts_with("/login"));
    let lang = ctx.lang;

    let mut errors = FormErrors::default();
    if email.is_empty() {
        errors.add("email", "#email", i18n::t(lang, "login.error.email_missing"));
    }
    if password.is_empty() {
        errors.add("password", "#password", i18n::t(lang, "login.error.password_missing"));
    }
    let retry = |errors: FormErrors, status: StatusCode| {
        let mut page = Context::new();
        page.insert("next", &next);
        page.insert("email", &email);
        errors.insert_into(&mut page);
        render_status(&ctx, status, "login.html", page)
    };
    if !errors.is_empty() {
        return retry(errors, StatusCode::UNPROCESSABLE_ENTITY);
    }

    let user = match state.engine.sign_in(&email, &password, &ctx.client_key()).await {
        Ok(user) => user,
        Err(SignInRefusal::TooManyAttempts { retry_after }) => {
            errors.add("email", "#email", i18n::t(lang, "login.error.rate_limited"));
            let mut r = retry(errors, StatusCode::TOO_MANY_REQUESTS)?;
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs()));
            return Ok(r);
        }
        Err(SignInRefusal::WrongCredentials) => {
            errors.add("email", "#email", i18n::t(lang, "login.error.wrong"));
            return retry(errors, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(SignInRefusal::Failed(e)) => return Err(e.into()),
    };
    let session_cookie = session::start_session(&state, &user, ctx.session.as_ref()).await?;
    let user_lang = Lang::from_code(&user.language).unwrap_or_default();
    let target =
        next.unwrap_or_else(|| super::home_path(Some(&corridor_engine::actor::Actor::from_user(&user))).to_string());
    let mut response = Redirect::to(&target).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session_cookie);
    headers.append(
        header::SET_COOKIE,
        session::cookie(LANG_COOKIE, user_lang.code(), state.settings.secure_cookies, Some(LANG_COOKIE_AGE)),
    );
    headers
        .append(header::SET_COOKIE, session::cookie(session::CSRF_COOKIE, "", state.settings.secure_cookies, Some(0)));
    tracing::info!(user = user.id.get(), "signed in");
    Ok(response)
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
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/applications/X")), Some("/applications/X".into()));
        assert_eq!(safe_next(Some("//evil.example/")), None);
        assert_eq!(safe_next(Some("/\\evil.example/")), None);
        assert_eq!(safe_next(Some("https://evil.example/")), None);
        assert_eq!(safe_next(None), None);
    }
}
