//! The firm's (applicant's) pages: dashboard, start, the form generated from the workflow,
//! documents, check your answers, submit, confirmation, answering a request for more
//! information, withdrawal, and the timeline. Every read and write goes through the engine
//! with the signed-in user's actor: another firm's reference answers "not found".

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use corridor_engine::actor::Actor;
use corridor_engine::error::EngineError;
use corridor_engine::fields;
use corridor_engine::model::{ApplicationFilter, DocumentRecord, Reference};
use corridor_engine::role::Role;
use corridor_engine::service::ApplicationView;
use corridor_engine::timeline::TimelineEntry;
use corridor_engine::transition::TransitionRequest;
use corridor_engine::workflow::{Need, Target, TransitionDef, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tera::Context;

use super::error::{UiError, UiResult};
use super::forms::{self, FormData, FormErrors};
use super::i18n::{self, Lang};
use super::session::Ctx;
use super::timeline;
use super::views::{render, render_status};
use crate::AppState;
use crate::extract::reference as parse_reference;

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/applications", get(dashboard))
        .route("/applications/new", get(start_form).post(start))
        .route("/applications/{reference}", get(application))
        .route("/applications/{reference}/details", get(details_form).post(save_details))
        .route(
            "/applications/{reference}/documents",
            get(documents_page)
                .post(upload)
                .layer(DefaultBodyLimit::max(state.settings.max_upload_bytes + 1024 * 1024)),
        )
        .route("/applications/{reference}/documents/{id}", get(download))
        .route("/applications/{reference}/check", get(check_page))
        .route("/applications/{reference}/submit", axum::routing::post(submit))
        .route("/applications/{reference}/confirmation", get(confirmation))
        .route("/applications/{reference}/respond", get(respond_form).post(respond))
        .route("/applications/{reference}/withdraw", get(withdraw_form).post(withdraw))
}

fn applicant(ctx: &Ctx) -> UiResult<Actor> {
    ctx.require_role(&[Role::APPLICANT]).cloned()
}

fn app_url(reference: impl std::fmt::Display, rest: &str) -> String {
    format!("/applications/{reference}{rest}")
}

// ---- which of the workflow's transitions the firm's buttons take (whether the firm may take
// one now is the engine's answer, `Engine::available_actions`) ----

fn leads_to_terminal(wf: &Workflow, t: &TransitionDef) -> bool {
    match &t.to {
        Target::State(s) => wf.state(s).is_some_and(|s| s.terminal),
        Target::Return => false,
    }
}

/// The transition that submits a draft: from the initial state, by the applicant, onwards.
pub fn submit_action(wf: &Workflow) -> Option<&TransitionDef> {
    let initial = &wf.initial_state().name;
    wf.transitions_from(initial).find(|t| t.by == Role::APPLICANT && !leads_to_terminal(wf, t))
}

/// The transition that answers a request (e.g. `respond`), open in `state` after submission.
pub fn answer_action<'a>(wf: &'a Workflow, state: &'a str) -> Option<&'a TransitionDef> {
    if state == wf.initial_state().name {
        return None;
    }
    wf.transitions_from(state).find(|t| t.by == Role::APPLICANT && !leads_to_terminal(wf, t))
}

/// The applicant's way out (withdrawal), if open in `state`.
pub fn withdraw_action<'a>(wf: &'a Workflow, state: &'a str) -> Option<&'a TransitionDef> {
    wf.transitions_from(state).find(|t| t.by == Role::APPLICANT && leads_to_terminal(wf, t) && t.outcome.is_none())
}

fn need_str(n: Need) -> &'static str {
    match n {
        Need::None => "none",
        Need::Optional => "optional",
        Need::Required => "required",
    }
}

// ---- what templates show of an application ----

/// An application as the firm's pages show it.
#[derive(Debug, Serialize)]
pub struct AppCard {
    pub reference: Reference,
    pub url: String,
    pub workflow_title: String,
    pub name: String,
    pub state: String,
    pub status: String,
    /// Tag colour: `grey`, `blue`, `orange` (action needed), `green`, `red`.
    pub tag: &'static str,
    pub next_steps: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    pub is_draft: bool,
    pub with_applicant: bool,
    pub terminal: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
}

pub fn tag_for(wf: &Workflow, state: &str) -> &'static str {
    let Some(def) = wf.state(state) else { return "grey" };
    if def.initial {
        return "grey";
    }
    if def.terminal {
        let outcome = wf
            .transitions
            .iter()
            .find(|t| matches!(&t.to, Target::State(s) if s == state) && t.outcome.is_some())
            .and_then(|t| t.outcome.as_deref());
        return match outcome {
            Some("granted") => "green",
            Some("refused") => "red",
            _ => "grey",
        };
    }
    if def.owner.as_ref() == Some(&Role::APPLICANT) { "orange" } else { "blue" }
}

pub fn card(lang: Lang, view: &ApplicationView) -> AppCard {
    let r = &view.record;
    let wf = &view.workflow;
    let state = wf.state(&r.state);
    let values = r.fields.as_object().cloned().unwrap_or_default();
    AppCard {
        reference: r.reference.clone(),
        url: app_url(&r.reference, ""),
        workflow_title: wf.title.get(lang).to_string(),
        name: fields::applicant_name(wf, &values),
        state: r.state.clone(),
        status: wf.state_public(&r.state).get(lang).to_string(),
        tag: tag_for(wf, &r.state),
        next_steps: state.and_then(|s| s.next_steps.as_ref()).map(|n| n.get(lang).to_string()),
        deadline: r.deadline_at,
        is_draft: state.is_some_and(|s| s.initial),
        with_applicant: state.is_some_and(|s| s.owner.as_ref() == Some(&Role::APPLICANT)),
        terminal: state.is_some_and(|s| s.terminal),
        version: r.version,
        created_at: r.created_at,
        submitted_at: r.submitted_at,
    }
}

fn values_of(view: &ApplicationView) -> Map<String, Value> {
    view.record.fields.as_object().cloned().unwrap_or_default()
}

#[derive(Serialize)]
struct DocView {
    name: String,
    label: String,
    /// The label in the middle of a sentence.
    label_mid: String,
    hint: Option<String>,
    required: bool,
    accepts: String,
    accept_attr: String,
    id: String,
    error: Option<String>,
    files: Vec<FileView>,
}

#[derive(Serialize)]
struct FileView {
    id: i64,
    filename: String,
    size: i64,
    uploaded_at: DateTime<Utc>,
    url: String,
    /// Its content was deleted under the retention rules (the record stays).
    purged: bool,
}

fn doc_views(lang: Lang, view: &ApplicationView, docs: &[DocumentRecord], errors: &FormErrors) -> Vec<DocView> {
    view.workflow
        .documents
        .iter()
        .map(|d| {
            let id = format!("doc-{}", d.name);
            DocView {
                name: d.name.clone(),
                label: d.label.get(lang).to_string(),
                label_mid: forms::lower_label(d.label.get(lang)),
                hint: d.hint.as_ref().map(|h| h.get(lang).to_string()),
                required: d.required,
                accepts: forms::accepted_words(lang, d),
                accept_attr: d.accept.join(","),
                error: errors.get(&id).map(str::to_string),
                id,
                files: docs
                    .iter()
                    .filter(|f| f.kind == d.name)
                    .map(|f| FileView {
                        id: f.id,
                        filename: f.filename.clone(),
                        size: f.size,
                        uploaded_at: f.uploaded_at,
                        url: app_url(&view.record.reference, &format!("/documents/{}", f.id)),
                        purged: f.purged_at.is_some(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Task status of the form and of the documents: `completed`, `in_progress`, `not_started`.
fn task_status(view: &ApplicationView, docs: &[DocumentRecord]) -> (&'static str, &'static str) {
    let values = values_of(view);
    let details = if fields::check(&view.workflow, &values, true).is_ok() {
        "completed"
    } else if values.is_empty() {
        "not_started"
    } else {
        "in_progress"
    };
    let required: Vec<&str> = view.workflow.documents.iter().filter(|d| d.required).map(|d| d.name.as_str()).collect();
    let have = required.iter().filter(|k| docs.iter().any(|d| d.kind == **k)).count();
    let documents = if have == required.len() {
        "completed"
    } else if docs.is_empty() {
        "not_started"
    } else {
        "in_progress"
    };
    (details, documents)
}

/// The comment of the request the firm is answering (the step that entered this state), as
/// the firm's timeline gives it.
fn open_request(view: &ApplicationView, events: &[TimelineEntry]) -> Option<String> {
    events
        .iter()
        .rev()
        .find(|e| {
            e.to_state.as_deref() == Some(view.record.state.as_str())
                && e.from_state.as_deref() != Some(view.record.state.as_str())
        })
        .and_then(|e| e.comment.clone())
}

fn not_draft(view: &ApplicationView) -> bool {
    view.record.state != view.workflow.initial_state().name
}

// ---- dashboard and start ----

#[derive(Deserialize)]
struct PageQuery {
    after: Option<String>,
}

const PAGE_SIZE: i64 = 25;

async fn dashboard(State(state): State<AppState>, ctx: Ctx, Query(q): Query<PageQuery>) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let after = q.after.as_deref().and_then(crate::api::parse_cursor);
    let views =
        state.engine.applications(&actor, ApplicationFilter { after, limit: PAGE_SIZE, ..Default::default() }).await?;
    let next = (views.len() as i64 == PAGE_SIZE)
        .then(|| views.last().map(|v| crate::api::format_cursor(v.record.deadline_at, v.record.id)))
        .flatten();
    let cards: Vec<AppCard> = views.iter().map(|v| card(ctx.lang, v)).collect();
    let mut page = Context::new();
    page.insert("applications", &cards);
    page.insert("next", &next);
    page.insert("paged", &q.after.is_some());
    render(&ctx, "firm/dashboard.html", page)
}

fn startable(state: &AppState) -> Vec<std::sync::Arc<Workflow>> {
    state
        .engine
        .workflows()
        .into_iter()
        .filter(|w| w.roles.iter().any(|r| r == Role::APPLICANT) && submit_action(w).is_some())
        .collect()
}

fn start_page(ctx: &Ctx, state: &AppState, errors: &FormErrors, status: StatusCode) -> UiResult<Response> {
    let workflows: Vec<Value> = startable(state)
        .iter()
        .enumerate()
        .map(|(i, w)| {
            serde_json::json!({"id": w.id, "title": w.title.get(ctx.lang),
                               "description": w.description.as_ref().map(|d| d.get(ctx.lang)),
                               "input_id": if i == 0 { "workflow".to_string() } else { format!("workflow-{}", i + 1) }})
        })
        .collect();
    let mut page = Context::new();
    page.insert("workflows", &workflows);
    errors.insert_into(&mut page);
    render_status(ctx, status, "firm/start.html", page)
}

async fn start_form(State(state): State<AppState>, ctx: Ctx) -> UiResult<Response> {
    applicant(&ctx)?;
    start_page(&ctx, &state, &FormErrors::default(), StatusCode::OK)
}

async fn start(State(state): State<AppState>, ctx: Ctx, Form(form): Form<FormData>) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let chosen = form.text("workflow").filter(|w| startable(&state).iter().any(|s| s.id == *w));
    let Some(workflow) = chosen else {
        let mut errors = FormErrors::default();
        errors.add("workflow", "#workflow", i18n::t(ctx.lang, "start.error.choose"));
        return start_page(&ctx, &state, &errors, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let view = state.engine.create_application(&actor, &workflow, &Map::new()).await?;
    Ok(Redirect::to(&app_url(&view.record.reference, "")).into_response())
}

// ---- one application ----

async fn application(State(state): State<AppState>, ctx: Ctx, Path(reference): Path<String>) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let (view, docs) = state.engine.documents(&actor, &case).await?;
    let (_, events) = state.engine.timeline(&actor, &case).await?;
    let lang = ctx.lang;
    let (details_task, documents_task) = task_status(&view, &docs);
    let card = card(lang, &view);
    let mut page = Context::new();
    page.insert("fields", &forms::field_views(lang, &view.workflow, &values_of(&view), &FormErrors::default()));
    page.insert("documents", &doc_views(lang, &view, &docs, &FormErrors::default()));
    page.insert("details_task", details_task);
    page.insert("documents_task", documents_task);
    // What the firm may do now is the engine's answer; the task list only shows progress.
    let now = state.engine.actions_now(&actor, &view).await?;
    let wf = &view.workflow;
    let st = view.record.state.as_str();
    page.insert("ready", &submit_action(wf).is_some_and(|t| now.takeable(&t.action)));
    page.insert("timeline", &timeline::entries(lang, &events));
    page.insert("request", &if card.with_applicant && !card.is_draft { open_request(&view, &events) } else { None });
    // An answer still missing a field or document is put right on the answer page itself.
    let answer = answer_action(wf, st).filter(|t| now.takeable(&t.action) || now.blocked(&t.action).is_some());
    page.insert("answer", &answer.map(|t| t.label.get(lang)));
    page.insert("can_withdraw", &withdraw_action(wf, st).is_some_and(|t| now.takeable(&t.action)));
    // Once a decision closed it: the printable decision letter (the engine says whether there
    // is one; a withdrawal or a lapse has none).
    let letter_url = if card.terminal {
        state.engine.decision(&actor, &case).await.ok().map(|d| format!("/cases/{}/letter", d.view.record.reference))
    } else {
        None
    };
    page.insert("letter_url", &letter_url);
    page.insert("app", &card);
    render(&ctx, "firm/application.html", page)
}

// ---- the form ----

fn details_page(
    ctx: &Ctx,
    view: &ApplicationView,
    values: &Map<String, Value>,
    errors: &FormErrors,
    status: StatusCode,
) -> UiResult<Response> {
    let mut page = Context::new();
    page.insert("app", &card(ctx.lang, view));
    page.insert("fields", &forms::field_views(ctx.lang, &view.workflow, values, errors));
    errors.insert_into(&mut page);
    render_status(ctx, status, "firm/details.html", page)
}

fn editable_draft(view: &ApplicationView) -> bool {
    !not_draft(view)
}

async fn details_form(State(state): State<AppState>, ctx: Ctx, Path(reference): Path<String>) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let view = state.engine.application(&actor, &case).await?;
    if !editable_draft(&view) {
        return Ok(Redirect::to(&app_url(&view.record.reference, "")).into_response());
    }
    let values = values_of(&view);
    details_page(&ctx, &view, &values, &FormErrors::default(), StatusCode::OK)
}

fn stale_error(lang: Lang) -> FormErrors {
    let mut e = FormErrors::default();
    e.add("version", "#main-content", i18n::t(lang, "app.error.stale"));
    e
}

async fn save_details(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(reference): Path<String>,
    Form(form): Form<FormData>,
) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let view = state.engine.application(&actor, &case).await?;
    if !editable_draft(&view) {
        return Err(UiError::Conflict("the application is no longer a draft".into()));
    }
    let lang = ctx.lang;
    let given = form.field_values(&view.workflow);
    let mut merged = values_of(&view);
    merged.extend(given.clone());
    let finishing = form.get("intent") != Some("draft");
    let field_href = |name: &str| format!("#{}", forms::field_id(name));
    let doc_href = |kind: &str| app_url(&view.record.reference, &format!("/documents#doc-{kind}"));
    if finishing && let Err(details) = fields::check(&view.workflow, &merged, true) {
        let errors = forms::engine_errors(lang, &view.workflow, &details, field_href, doc_href);
        return details_page(&ctx, &view, &merged, &errors, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let version = form.i64("version").unwrap_or(-1);
    match state.engine.update_fields(&actor, &case, version, &given).await {
        Ok(saved) => {
            let next = if finishing { "/documents?notice=details_saved" } else { "?notice=saved" };
            Ok(Redirect::to(&app_url(&saved.record.reference, next)).into_response())
        }
        Err(EngineError::Unprocessable { details, .. }) => {
            let errors = forms::engine_errors(lang, &view.workflow, &details, field_href, doc_href);
            details_page(&ctx, &view, &merged, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(EngineError::StaleVersion { .. }) => {
            let fresh = state.engine.application(&actor, &case).await?;
            details_page(&ctx, &fresh, &merged, &stale_error(lang), StatusCode::CONFLICT)
        }
        Err(e) => Err(e.into()),
    }
}

// ---- documents ----

fn documents_view(
    ctx: &Ctx,
    view: &ApplicationView,
    docs: &[DocumentRecord],
    errors: &FormErrors,
    status: StatusCode,
) -> UiResult<Response> {
    let mut page = Context::new();
    let c = card(ctx.lang, view);
    page.insert("editable", &c.with_applicant);
    page.insert(
        "continue_url",
        &if c.is_draft {
            app_url(&c.reference, "/check")
        } else if answer_action(&view.workflow, &view.record.state).is_some() {
            app_url(&c.reference, "/respond")
        } else {
            c.url.clone()
        },
    );
    page.insert("app", &c);
    page.insert("documents", &doc_views(ctx.lang, view, docs, errors));
    errors.insert_into(&mut page);
    render_status(ctx, status, "firm/documents.html", page)
}

async fn documents_page(State(state): State<AppState>, ctx: Ctx, Path(reference): Path<String>) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let (view, docs) = state.engine.documents(&actor, &case).await?;
    documents_view(&ctx, &view, &docs, &FormErrors::default(), StatusCode::OK)
}

async fn upload(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(reference): Path<String>,
    mut multipart: Multipart,
) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let lang = ctx.lang;
    let upload = crate::extract::read_upload(&mut multipart, state.settings.max_upload_bytes).await.map_err(|e| {
        use crate::extract::UploadProblem;
        match e {
            UploadProblem::TooLarge { .. } => UiError::TooLarge,
            UploadProblem::Unreadable(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => UiError::TooLarge,
            UploadProblem::Unreadable(e) => UiError::Conflict(format!("unreadable upload: {e}")),
            UploadProblem::Repeated(field) => UiError::Conflict(format!("`{field}` sent twice")),
        }
    })?;
    let kind = upload.kind.unwrap_or_default();
    let file = upload.file;
    let case = parse_reference(&reference)?;
    let view = state.engine.application(&actor, &case).await?;
    let Some(def) = view.workflow.document(&kind).cloned() else { return Err(UiError::NotFound) };
    let key = format!("doc-{kind}");
    let href = format!("#{key}");
    let mut errors = FormErrors::default();
    match file {
        Some((name, bytes)) if !(name.is_empty() && bytes.is_empty()) => {
            match state.engine.upload_document(&actor, &case, &kind, &name, &bytes).await {
                Ok(_) => {
                    return Ok(Redirect::to(&app_url(
                        &view.record.reference,
                        &format!("/documents?notice=uploaded#{key}"),
                    ))
                    .into_response());
                }
                Err(EngineError::TooLarge(_)) => errors.add(
                    &key,
                    &href,
                    i18n::t_args(
                        lang,
                        "documents.error.too_large",
                        &[
                            ("label", forms::lower_label(def.label.get(lang))),
                            ("size", super::views::file_size(lang, def.max_size as i64)),
                        ],
                    ),
                ),
                Err(EngineError::Unprocessable { details, .. }) => {
                    for d in &details {
                        errors.add(&key, &href, forms::field_error_message(lang, d));
                    }
                }
                Err(e @ (EngineError::ActionNotOpen { .. } | EngineError::StaleVersion { .. })) => return Err(e.into()),
                Err(e) => return Err(e.into()),
            }
        }
        _ => errors.add(
            &key,
            &href,
            i18n::t_args(lang, "documents.error.choose", &[("label", forms::lower_label(def.label.get(lang)))]),
        ),
    }
    let (view, docs) = state.engine.documents(&actor, &case).await?;
    documents_view(&ctx, &view, &docs, &errors, StatusCode::UNPROCESSABLE_ENTITY)
}

async fn download(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path((reference, id)): Path<(String, i64)>,
) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let (doc, bytes) = state.engine.document_content(&actor, &case, id, &crate::api::client(&addr)).await?;
    Ok(crate::api::document_response(&doc, bytes, true))
}

// ---- check your answers, submit, confirmation ----

fn check_view(
    ctx: &Ctx,
    view: &ApplicationView,
    docs: &[DocumentRecord],
    errors: &FormErrors,
    status: StatusCode,
) -> UiResult<Response> {
    let mut page = Context::new();
    page.insert("app", &card(ctx.lang, view));
    page.insert("fields", &forms::field_views(ctx.lang, &view.workflow, &values_of(view), &FormErrors::default()));
    page.insert("documents", &doc_views(ctx.lang, view, docs, &FormErrors::default()));
    page.insert("submit_label", &submit_action(&view.workflow).map(|t| t.label.get(ctx.lang)));
    errors.insert_into(&mut page);
    render_status(ctx, status, "firm/check.html", page)
}

async fn check_page(State(state): State<AppState>, ctx: Ctx, Path(reference): Path<String>) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let (view, docs) = state.engine.documents(&actor, &case).await?;
    if not_draft(&view) {
        return Ok(Redirect::to(&app_url(&view.record.reference, "")).into_response());
    }
    check_view(&ctx, &view, &docs, &FormErrors::default(), StatusCode::OK)
}

async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(reference): Path<String>,
    Form(form): Form<FormData>,
) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let view = state.engine.application(&actor, &case).await?;
    let reference = view.record.reference.clone();
    if not_draft(&view) {
        // A second click after the first went through.
        return Ok(Redirect::to(&app_url(&reference, "/confirmation")).into_response());
    }
    let action = submit_action(&view.workflow).ok_or(UiError::NotFound)?.action.clone();
    let request = TransitionRequest {
        reason_code: None,
        action,
        expected_version: form.i64("version").unwrap_or(-1),
        comment: None,
        reason: None,
        fields: None,
    };
    match state.engine.transition(&actor, &case, &request).await {
        Ok(_) => Ok(Redirect::to(&app_url(&reference, "/confirmation")).into_response()),
        Err(EngineError::Unprocessable { details, .. }) => {
            let (view, docs) = state.engine.documents(&actor, &case).await?;
            let errors = forms::engine_errors(
                ctx.lang,
                &view.workflow,
                &details,
                |name| app_url(&reference, &format!("/details#{}", forms::field_id(name))),
                |kind| app_url(&reference, &format!("/documents#doc-{kind}")),
            );
            check_view(&ctx, &view, &docs, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(EngineError::StaleVersion { .. }) | Err(EngineError::ActionNotOpen { .. }) => {
            let (view, docs) = state.engine.documents(&actor, &case).await?;
            if not_draft(&view) {
                return Ok(Redirect::to(&app_url(&reference, "/confirmation")).into_response());
            }
            check_view(&ctx, &view, &docs, &stale_error(ctx.lang), StatusCode::CONFLICT)
        }
        Err(e) => Err(e.into()),
    }
}

async fn confirmation(State(state): State<AppState>, ctx: Ctx, Path(reference): Path<String>) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let view = state.engine.application(&actor, &case).await?;
    if !not_draft(&view) {
        return Ok(Redirect::to(&app_url(&view.record.reference, "")).into_response());
    }
    let mut page = Context::new();
    page.insert("app", &card(ctx.lang, &view));
    render(&ctx, "firm/confirmation.html", page)
}

// ---- answering a request for more information ----

#[allow(clippy::too_many_arguments)]
fn respond_view(
    ctx: &Ctx,
    view: &ApplicationView,
    docs: &[DocumentRecord],
    events: &[TimelineEntry],
    values: &Map<String, Value>,
    comment: &str,
    errors: &FormErrors,
    status: StatusCode,
) -> UiResult<Response> {
    let action = answer_action(&view.workflow, &view.record.state).ok_or(UiError::NotFound)?;
    let mut page = Context::new();
    page.insert("app", &card(ctx.lang, view));
    page.insert("request", &open_request(view, events));
    page.insert("action_label", action.label.get(ctx.lang));
    page.insert("comment_need", need_str(action.comment));
    page.insert("comment", comment);
    page.insert("fields", &forms::field_views(ctx.lang, &view.workflow, values, errors));
    page.insert("documents", &doc_views(ctx.lang, view, docs, errors));
    errors.insert_into(&mut page);
    render_status(ctx, status, "firm/respond.html", page)
}

async fn respond_form(State(state): State<AppState>, ctx: Ctx, Path(reference): Path<String>) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let (view, docs) = state.engine.documents(&actor, &case).await?;
    if answer_action(&view.workflow, &view.record.state).is_none() {
        return Ok(Redirect::to(&app_url(&view.record.reference, "")).into_response());
    }
    let (_, events) = state.engine.timeline(&actor, &case).await?;
    let values = values_of(&view);
    respond_view(&ctx, &view, &docs, &events, &values, "", &FormErrors::default(), StatusCode::OK)
}

async fn respond(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(reference): Path<String>,
    Form(form): Form<FormData>,
) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let view = state.engine.application(&actor, &case).await?;
    let reference = view.record.reference.clone();
    let Some(action) = answer_action(&view.workflow, &view.record.state).map(|t| t.action.clone()) else {
        return Err(UiError::Conflict("no request to answer".into()));
    };
    let given = form.field_values(&view.workflow);
    let comment = form.get("comment").unwrap_or("").to_string();
    let request = TransitionRequest {
        reason_code: None,
        action,
        expected_version: form.i64("version").unwrap_or(-1),
        comment: Some(comment.clone()),
        reason: None,
        fields: Some(given.clone()),
    };
    let result = state.engine.transition(&actor, &case, &request).await;
    let mut merged = values_of(&view);
    merged.extend(given);
    let errors = match result {
        Ok(_) => return Ok(Redirect::to(&app_url(&reference, "?notice=answered")).into_response()),
        Err(EngineError::Unprocessable { details, .. }) => forms::engine_errors(
            ctx.lang,
            &view.workflow,
            &details,
            |name| format!("#{}", forms::field_id(name)),
            |kind| format!("#doc-{kind}"),
        ),
        Err(EngineError::StaleVersion { .. }) => stale_error(ctx.lang),
        Err(e) => return Err(e.into()),
    };
    let (view, docs) = state.engine.documents(&actor, &case).await?;
    if answer_action(&view.workflow, &view.record.state).is_none() {
        return Ok(Redirect::to(&app_url(&reference, "")).into_response());
    }
    let (_, events) = state.engine.timeline(&actor, &case).await?;
    respond_view(&ctx, &view, &docs, &events, &merged, &comment, &errors, StatusCode::UNPROCESSABLE_ENTITY)
}

// ---- withdrawal ----

fn withdraw_view(
    ctx: &Ctx,
    view: &ApplicationView,
    reason: &str,
    errors: &FormErrors,
    status: StatusCode,
) -> UiResult<Response> {
    let action = withdraw_action(&view.workflow, &view.record.state).ok_or(UiError::NotFound)?;
    let mut page = Context::new();
    page.insert("app", &card(ctx.lang, view));
    page.insert("action_label", action.label.get(ctx.lang));
    page.insert("reason_need", need_str(action.reason));
    page.insert("reason", reason);
    errors.insert_into(&mut page);
    render_status(ctx, status, "firm/withdraw.html", page)
}

async fn withdraw_form(State(state): State<AppState>, ctx: Ctx, Path(reference): Path<String>) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let view = state.engine.application(&actor, &case).await?;
    if withdraw_action(&view.workflow, &view.record.state).is_none() {
        return Ok(Redirect::to(&app_url(&view.record.reference, "")).into_response());
    }
    withdraw_view(&ctx, &view, "", &FormErrors::default(), StatusCode::OK)
}

async fn withdraw(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(reference): Path<String>,
    Form(form): Form<FormData>,
) -> UiResult<Response> {
    let actor = applicant(&ctx)?;
    let case = parse_reference(&reference)?;
    let view = state.engine.application(&actor, &case).await?;
    let reference = view.record.reference.clone();
    let Some(action) = withdraw_action(&view.workflow, &view.record.state) else {
        return Err(UiError::Conflict("withdrawal is not open".into()));
    };
    let reason = form.get("reason").unwrap_or("").to_string();
    let request = TransitionRequest {
        reason_code: None,
        action: action.action.clone(),
        expected_version: form.i64("version").unwrap_or(-1),
        comment: None,
        reason: (action.reason != Need::None).then(|| reason.clone()),
        fields: None,
    };
    let errors = match state.engine.transition(&actor, &case, &request).await {
        Ok(_) => return Ok(Redirect::to(&app_url(&reference, "?notice=withdrawn")).into_response()),
        Err(EngineError::Unprocessable { details, .. }) => {
            forms::engine_errors(ctx.lang, &view.workflow, &details, |n| format!("#{n}"), |k| format!("#{k}"))
        }
        Err(EngineError::StaleVersion { .. }) => stale_error(ctx.lang),
        Err(e) => return Err(e.into()),
    };
    let view = state.engine.application(&actor, &case).await?;
    if withdraw_action(&view.workflow, &view.record.state).is_none() {
        return Ok(Redirect::to(&app_url(&reference, "")).into_response());
    }
    withdraw_view(&ctx, &view, &reason, &errors, StatusCode::UNPROCESSABLE_ENTITY)
}
