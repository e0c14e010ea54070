//! Looking up any application by its reference (`/lookup`, for staff; embassy officers see
//! every business-visa application once submitted), and the printable decision letter
//! (`/cases/{reference}/letter`) once a decision has ended the application.

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
use super::timeline;
use super::views::{render, render_status};
use crate::AppState;
use crate::extract::reference as parse_reference;

pub fn routes() -> Router<AppState> {
    Router::new().route("/lookup", get(lookup)).route("/cases/{reference}/letter", get(letter))
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

/// The decision letter: reference, decision, reasons, date and the issuing authority. Anyone
/// who may see the application may read it (the firm too); before a decision, "not found".
async fn letter(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path(reference): Path<String>,
) -> UiResult<Response> {
    let (_, actor) = ctx.signed_in()?;
    let decision = state.engine.decision(actor, &parse_reference(&reference)?).await?;
    let r = &decision.view.record;
    let wf = &decision.view.workflow;
    let shown = state
        .engine
        .shown(actor, &decision.view, corridor_engine::access::Disclosure::Full, &crate::api::client(&addr))
        .await?;
    let values = shown.fields.clone();
    let passport = shown.passport.clone();
    let firm = state.engine.organisation_name(r.organisation_id).await.ok();
    let mut page = Context::new();
    page.insert("reference", &r.reference);
    page.insert("workflow_title", wf.title.get(ctx.lang));
    page.insert("name", &corridor_engine::fields::applicant_name(wf, &values));
    page.insert("passport", &passport);
    page.insert("firm", &firm);
    page.insert("granted", &(decision.outcome == "granted"));
    page.insert("refused", &(decision.outcome == "refused"));
    page.insert("decision", decision.label.get(ctx.lang));
    page.insert("status", wf.state_public(&r.state).get(ctx.lang));
    page.insert("reason", &decision.event.reason);
    page.insert("comment", &decision.event.comment);
    page.insert("decided_at", &decision.event.at);
    page.insert("officer", &decision.event.actor_name);
    page.insert("officer_role", &timeline::role_label(ctx.lang, &decision.event.role));
    page.insert("authority", &decision.authority.as_ref().map(|o| o.name.clone()));
    page.insert(
        "back",
        &if actor.is_applicant() { format!("/applications/{}", r.reference) } else { case_url(&r.reference, "") },
    );
    render(&ctx, "staff/letter.html", page)
}
