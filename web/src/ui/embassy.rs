//! Looking up any application by its reference (`/lookup`, for staff; embassy officers see
//! every business-visa application once submitted), the decision letter once a decision has
//! ended the application (`/cases/{reference}/letter`, a page about it, and
//! `/cases/{reference}/letter.pdf`, the signed PDF itself), and the public check of a
//! letter's verification code (`/verify`, `/verify/{code}`).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use corridor_engine::error::EngineError;
use tera::Context;

use super::error::UiResult;
use super::forms::FormErrors;
use super::i18n;
use super::queue::{case_url, staff};
use super::session::Ctx;
use super::views::{render, render_status};
use crate::AppState;
use crate::extract::reference as parse_reference;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/lookup", get(lookup))
        .route("/cases/{reference}/letter", get(letter))
        .route("/cases/{reference}/letter.pdf", get(letter_pdf))
        .route("/verify", get(verify_form))
        .route("/verify/{code}", get(verify))
}

async fn lookup(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> UiResult<Response> {
    let actor = staff(&ctx)?;
    let given = q.get("reference").map(|r| r.trim().to_string());
    let mut errors = FormErrors::default();
    let mut status = StatusCode::OK;
    match given.as_deref() {
        None => {}
        Some("") => {
            errors.add("reference", "#reference", i18n::t(ctx.lang, "lookup.error.empty"));
            status = StatusCode::UNPROCESSABLE_ENTITY;
        }
        Some(reference) => {
            let found = match parse_reference(reference) {
                Ok(reference) => state.engine.application(&actor, &reference).await,
                Err(unknown) => Err(unknown),
            };
            match found {
                Ok(view) => {
                    return Ok(Redirect::to(&case_url(&view.record.reference, "")).into_response());
                }
                // Unknown, malformed and not visible read the same.
                Err(EngineError::NotFound(_)) => {
                    errors.add("reference", "#reference", i18n::t(ctx.lang, "lookup.error.not_found"));
                    status = StatusCode::NOT_FOUND;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let mut page = Context::new();
    page.insert("reference", &given.unwrap_or_default());
    errors.insert_into(&mut page);
    render_status(&ctx, status, "staff/lookup.html", page)
}

/// The decision letter's page: its number, date and verification code, and the PDF to open,
/// download or print. Anyone who may read the letter may open it (the firm too); before a
/// decision, "not found", and nothing is written.
async fn letter(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path(reference): Path<String>,
) -> UiResult<Response> {
    let (_, actor) = ctx.signed_in()?;
    let reference = parse_reference(&reference)?;
    let issued = state.engine.letter(actor, &reference, &crate::api::client(&addr)).await?;
    let c = &issued.letter.content;
    let mut page = Context::new();
    page.insert("reference", &c.reference);
    page.insert("number", &c.number);
    page.insert("code", &c.code.grouped());
    page.insert("verify_url", &c.verify_url);
    page.insert("decided_at", &c.decided_at);
    page.insert("granted", &(c.outcome == corridor_engine::letter::Outcome::Granted));
    page.insert("decision", &c.decision.en);
    page.insert("holder", &c.holder.full_name);
    page.insert("authority", &c.authority);
    page.insert("officer", &c.signatory.name);
    page.insert("reason", &c.refusal.as_ref().and_then(|r| r.reason.clone()));
    page.insert("sha256", &issued.record.sha256);
    page.insert("pdf_url", &format!("/cases/{}/letter.pdf", c.reference));
    page.insert(
        "back",
        &if actor.is_applicant() { format!("/applications/{}", c.reference) } else { case_url(&reference, "") },
    );
    render(&ctx, "staff/letter.html", page)
}

/// The signed PDF, shown in the browser (to print) or saved.
async fn letter_pdf(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path(reference): Path<String>,
) -> UiResult<Response> {
    let (_, actor) = ctx.signed_in()?;
    let issued = state.engine.letter(actor, &parse_reference(&reference)?, &crate::api::client(&addr)).await?;
    Ok(crate::api::letter::letter_response(&issued, false))
}

/// `/verify?code=…`: the form to type a code, or on to its answer.
async fn verify_form(ctx: Ctx, Query(q): Query<HashMap<String, String>>) -> UiResult<Response> {
    if let Some(code) = q.get("code").map(|c| c.trim()).filter(|c| !c.is_empty()) {
        let target: String = code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(64).collect();
        if !target.is_empty() {
            return Ok(Redirect::to(&format!("/verify/{target}")).into_response());
        }
    }
    let mut page = Context::new();
    page.insert("code", "");
    FormErrors::default().insert_into(&mut page);
    render(&ctx, "verify.html", page)
}

/// Whether a letter with this code was issued here and still holds: public, limited per
/// address. A malformed code is 400 ("not a code"), an unknown one 404.
async fn verify(State(state): State<AppState>, ctx: Ctx, Path(code): Path<String>) -> UiResult<Response> {
    let lang = ctx.lang;
    let mut page = Context::new();
    page.insert("code", &code.chars().take(64).collect::<String>());
    let mut errors = FormErrors::default();
    if !state.verify_limiter.allow(&ctx.client_key()) {
        errors.add("code", "#code", i18n::t(lang, "verify.error.rate_limited"));
        errors.insert_into(&mut page);
        let mut r = render_status(&ctx, StatusCode::TOO_MANY_REQUESTS, "verify.html", page)?;
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("60"));
        return Ok(r);
    }
    let Ok(parsed) = code.parse::<corridor_engine::letter::VerificationCode>() else {
        errors.add("code", "#code", i18n::t(lang, "verify.error.malformed"));
        errors.insert_into(&mut page);
        return render_status(&ctx, StatusCode::BAD_REQUEST, "verify.html", page);
    };
    match state.engine.check_letter(&parsed).await {
        Ok(found) => {
            page.insert("code", &parsed.grouped());
            if let Some(days) = found.permitted_stay_days {
                page.insert("stay", &i18n::t_count(lang, "verify.days", days.into(), &[]));
            }
            page.insert("result", &found);
            page.insert("validity", &i18n::t(lang, &format!("verify.validity.{}", validity_key(found.validity))));
            FormErrors::default().insert_into(&mut page);
            render(&ctx, "verify.html", page)
        }
        Err(EngineError::NotFound(_)) => {
            page.insert("code", &parsed.grouped());
            errors.add("code", "#code", i18n::t(lang, "verify.error.not_found"));
            errors.insert_into(&mut page);
            render_status(&ctx, StatusCode::NOT_FOUND, "verify.html", page)
        }
        Err(e) => Err(e.into()),
    }
}

fn validity_key(v: corridor_engine::letter::LetterValidity) -> &'static str {
    use corridor_engine::letter::LetterValidity::*;
    match v {
        Valid => "valid",
        Expired => "expired",
        Revoked => "revoked",
        Refusal => "refusal",
    }
}
