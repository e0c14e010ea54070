//! Pages anyone may open: the start page and the public status check.

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use corridor_engine::error::EngineError;
use tera::Context;

use super::error::UiResult;
use super::forms::{FormData, FormErrors};
use super::i18n;
use super::session::Ctx;
use super::views::{render, render_status};
use crate::AppState;
use crate::extract::reference as parse_reference;

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(home)).route("/status", get(status_form).post(status_check))
}

async fn home(ctx: Ctx) -> UiResult<Response> {
    if let Some(actor) = &ctx.actor {
        let home = super::home_path(Some(&actor));
        if home != "/" {
            return Ok(Redirect::to(home).into_response());
        }
    }
    render(&ctx, "home.html", Context::new())
}

async fn status_form(ctx: Ctx) -> UiResult<Response> {
    let mut page = Context::new();
    page.insert("reference", "");
    page.insert("passport", "");
    FormErrors::default().insert_into(&mut page);
    render(&ctx, "status.html", page)
}

/// The answer is the same for an unknown reference and a wrong passport number; look-ups
/// are limited per address. Sent by POST so that the passport number stays out of URLs and
/// logs.
async fn status_check(State(state): State<AppState>, ctx: Ctx, Form(form): Form<FormData>) -> UiResult<Response> {
    let lang = ctx.lang;
    let reference = form.text("reference").unwrap_or_default();
    let passport = form.text("passport").unwrap_or_default();
    let mut page = Context::new();
    page.insert("reference", &reference);
    page.insert("passport", "");
    let mut errors = FormErrors::default();
    if reference.is_empty() {
        errors.add("reference", "#reference", i18n::t(lang, "status.error.reference_missing"));
    }
    if passport.is_empty() {
        errors.add("passport", "#passport", i18n::t(lang, "status.error.passport_missing"));
    }
    if !errors.is_empty() {
        page.insert("passport", &passport);
        errors.insert_into(&mut page);
        return render_status(&ctx, StatusCode::UNPROCESSABLE_ENTITY, "status.html", page);
    }
    if !state.status_limiter.allow(&ctx.client_key()) {
        errors.add("reference", "#reference", i18n::t(lang, "status.error.rate_limited"));
        errors.insert_into(&mut page);
        return render_status(&ctx, StatusCode::TOO_MANY_REQUESTS, "status.html", page);
    }
    let status = match parse_reference(&reference) {
        Ok(reference) => state.engine.public_status(&reference, &passport).await,
        Err(unknown) => Err(unknown),
    };
    match status {
        Ok(found) => {
            page.insert(
                "result",
                &serde_json::json!({
                    "reference": found.reference,
                    "status": found.status.get(lang),
                    "next_steps": found.next_steps.as_ref().map(|n| n.get(lang)),
                }),
            );
            FormErrors::default().insert_into(&mut page);
            render(&ctx, "status.html", page)
        }
        Err(EngineError::NotFound(_)) => {
            errors.add("reference", "#reference", i18n::t(lang, "status.error.no_match"));
            errors.insert_into(&mut page);
            render_status(&ctx, StatusCode::NOT_FOUND, "status.html", page)
        }
        Err(e) => Err(e.into()),
    }
}
