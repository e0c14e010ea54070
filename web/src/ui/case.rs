//! The case page for staff (`/cases/{reference}`): the application's fields, its documents
//! (view in the browser or download), its history, who holds it, and exactly the actions the
//! workflow gives this user now (the engine's [`ActionsNow`]), each with its comment or reason
//! box. An action the engine bars (four-eyes, something missing) is shown with the reason
//! instead of a form. A firm user who opens a
//! case address is sent to their own application page, or gets "not found".

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use corridor_engine::access::{Client, Disclosure};
use corridor_engine::actions::{ActionInfo, ActionsNow, BlockReason};
use corridor_engine::actor::Actor;
use corridor_engine::error::EngineError;
use corridor_engine::fields::FieldProblem;
use corridor_engine::model::Reference;
use corridor_engine::service::ApplicationView;
use corridor_engine::transition::{FourEyesBlock, TransitionRequest};
use corridor_engine::workflow::{Need, Workflow};
use serde::Serialize;
use tera::Context;

use super::error::{UiError, UiResult};
use super::forms::{self, FormData, FormErrors};
use super::i18n::{self, Lang};
use super::queue::{case_url, staff, urgency_tag};
use super::session::Ctx;
use super::timeline;
use super::views::render_status;
use crate::AppState;
use crate::extract::reference as parse_reference;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cases/{reference}", get(case))
        .route("/cases/{reference}/act", get(super::queue::back_to_case).post(act))
        .route("/cases/{reference}/documents/{id}", get(download))
        .route("/cases/{reference}/documents/{id}/view", get(view_inline))
}

fn need_str(n: Need) -> &'static str {
    match n {
        Need::None => "none",
        Need::Optional => "optional",
        Need::Required => "required",
    }
}

/// Someone who may open case pages: staff, and administrators (who read but take no action).
/// A firm user is sent to their own application page when it is theirs; otherwise the
/// answer is "not found", as for any reference they may not see. Returns the reader with the
/// reference, parsed once signed in.
async fn case_reader(state: &AppState, ctx: &Ctx, reference: &str) -> UiResult<Result<(Actor, Reference), Response>> {
    let (_, actor) = ctx.signed_in()?;
    let reference = parse_reference(reference)?;
    if actor.is_applicant() {
        let view = state.engine.application(actor, &reference).await?;
        return Ok(Err(Redirect::to(&format!("/applications/{}", view.record.reference)).into_response()));
    }
    Ok(Ok((actor.clone(), reference)))
}

#[derive(Serialize)]
struct ActionView {
    action: String,
    label: String,
    comment_need: &'static str,
    reason_need: &'static str,
    comment_name: String,
    reason_name: String,
    comment: String,
    reason: String,
    /// The declared reasons offered, worded in the page's language; `reason_code_need` is
    /// `required` when the transition requires a reason.
    reason_codes: Vec<ReasonOption>,
    reason_code_name: String,
    reason_code_need: &'static str,
    /// A refusing decision (red button).
    warning: bool,
    /// Why the engine bars this user from it (in the page's language), and its code.
    blocked: Option<String>,
    blocked_code: Option<&'static str>,
    /// What the officer enters with it (the transition's `fields:`), named `{action}--{field}`.
    fields: Vec<forms::FieldView>,
}

#[derive(Serialize)]
struct ReasonOption {
    code: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct DocumentView {
    label: String,
    filename: String,
    content_type: String,
    size: i64,
    uploaded_at: DateTime<Utc>,
    view_url: String,
    download_url: String,
    /// Its content was deleted under the retention rules (the record stays).
    purged: bool,
}

#[derive(Serialize)]
struct CaseView {
    reference: Reference,
    url: String,
    workflow_title: String,
    name: String,
    firm: Option<String>,
    stage: String,
    status: String,
    tag: &'static str,
    terminal: bool,
    deadline: Option<DateTime<Utc>>,
    urgency: Option<&'static str>,
    urgency_colour: Option<&'static str>,
    escalated: bool,
    submitted_at: Option<DateTime<Utc>>,
    version: i64,
    holder: Option<String>,
    held_by_me: bool,
    /// The user's role works the current stage (may claim, release, reassign).
    works: bool,
    /// Some staff role works the current stage (who holds it is worth saying).
    staffed: bool,
    letter_url: Option<String>,
}

/// What the user typed into one action's form, to show again with its errors.
#[derive(Default)]
pub struct Typed {
    pub action: String,
    pub comment: String,
    pub reason: String,
    pub reason_code: String,
    /// The transition's own fields, by their input names (`{action}--{field}`).
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The input name of a transition's field on the case page.
pub fn transition_input(action: &str, field: &str) -> String {
    format!("{action}--{field}")
}

/// The fields an action takes (its `fields:`), from whichever state it leaves.
fn transition_fields<'w>(workflow: &'w Workflow, action: &str) -> &'w [corridor_engine::workflow::FieldDef] {
    workflow.transitions.iter().find(|t| t.action == action && !t.fields.is_empty()).map_or(&[], |t| &t.fields)
}

pub fn four_eyes_message(lang: Lang, block: FourEyesBlock) -> String {
    i18n::t(
        lang,
        match block {
            FourEyesBlock::Submitted => "case.four_eyes.submitted",
            FourEyesBlock::PreviousApproval => "case.four_eyes.previous_approval",
        },
    )
}

/// Why an action is barred, in `lang`; missing fields and documents by their labels.
pub fn block_message(lang: Lang, workflow: &Workflow, reason: &BlockReason) -> String {
    match reason {
        BlockReason::FourEyes { rule } => four_eyes_message(lang, *rule),
        BlockReason::Missing { fields, documents } => {
            let items: Vec<String> =
                fields
                    .iter()
                    .map(|f| workflow.field(f).map(|d| d.label.get(lang).to_string()).unwrap_or_else(|| f.clone()))
                    .chain(documents.iter().map(|k| {
                        workflow.document(k).map(|d| d.label.get(lang).to_string()).unwrap_or_else(|| k.clone())
                    }))
                    .collect();
            i18n::t_args(lang, "actions.missing", &[("items", items.join(", "))])
        }
    }
}

/// The user's actions in the workflow file's order, the barred ones with their reason.
fn action_views(
    lang: Lang,
    workflow: &Workflow,
    now: &ActionsNow,
    typed: &Typed,
    errors: &FormErrors,
) -> Vec<ActionView> {
    let view = |a: &ActionInfo, reason: Option<&BlockReason>| {
        let mine = typed.action == a.action;
        let empty = serde_json::Map::new();
        let fields = transition_fields(workflow, &a.action)
            .iter()
            .map(|def| {
                let mut named = def.clone();
                named.name = transition_input(&a.action, &def.name);
                forms::field_view(lang, &named, if mine { &typed.fields } else { &empty }, errors)
            })
            .collect();
        ActionView {
            action: a.action.clone(),
            label: a.label.get(lang).to_string(),
            comment_need: need_str(a.comment),
            reason_need: need_str(a.reason),
            comment_name: format!("comment-{}", a.action),
            reason_name: format!("reason-{}", a.action),
            comment: if mine { typed.comment.clone() } else { String::new() },
            reason: if mine { typed.reason.clone() } else { String::new() },
            reason_codes: a
                .reason_codes
                .iter()
                .map(|r| ReasonOption {
                    code: r.code.clone(),
                    label: r.label.get(lang).to_string(),
                    selected: mine && typed.reason_code == r.code,
                })
                .collect(),
            reason_code_name: format!("reason_code-{}", a.action),
            reason_code_need: if a.reason == Need::Required { "required" } else { "optional" },
            warning: a.outcome.as_deref() == Some("refused"),
            blocked: reason.map(|r| block_message(lang, workflow, r)),
            blocked_code: reason.map(BlockReason::code),
            fields,
        }
    };
    let mut out: Vec<(usize, ActionView)> = now
        .takeable
        .iter()
        .map(|a| (a, None))
        .chain(now.blocked.iter().map(|b| (&b.info, Some(&b.reason))))
        .map(|(a, reason)| {
            let position = workflow.transitions.iter().position(|t| t.action == a.action).unwrap_or(usize::MAX);
            (position, view(a, reason))
        })
        .collect();
    out.sort_by_key(|(position, _)| *position);
    out.into_iter().map(|(_, v)| v).collect()
}

/// Render the case page (also after a refused action, with its errors).
#[allow(clippy::too_many_arguments)]
pub async fn case_page(
    state: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    reference: &Reference,
    client: &Client,
    typed: &Typed,
    errors: &FormErrors,
    status: StatusCode,
) -> UiResult<Response> {
    let engine = &state.engine;
    let lang = ctx.lang;
    let (view, docs) = engine.documents(actor, reference).await?;
    let (_, events) = engine.timeline(actor, reference).await?;
    let actions = engine.actions_now(actor, &view).await?;
    let r = &view.record;
    let wf = &view.workflow;
    // Sensitive fields in full only where the workflow names this role (and logged).
    let shown = engine.shown(actor, &view, Disclosure::Full, client).await?;
    let values = shown.fields.clone();
    let state_def = wf.state(&r.state);
    let terminal = state_def.is_some_and(|s| s.terminal);
    let working = corridor_engine::queue::roles_working(wf, &r.state);
    let works = working.contains(&actor.role);
    // Staff work the stage (not the firm, not the system): someone may hold it.
    let staffed = !working.is_empty();
    let holder = match r.assigned_to {
        Some(id) => engine.user_name(id).await.ok(),
        None => None,
    };
    let urgency = if terminal { None } else { urgency_tag(engine.urgency(&view)) };
    let letter_url =
        (terminal && engine.decision(actor, reference).await.is_ok()).then(|| case_url(&r.reference, "/letter"));
    let case = CaseView {
        reference: r.reference.clone(),
        url: case_url(&r.reference, ""),
        workflow_title: wf.title.get(lang).to_string(),
        name: corridor_engine::fields::applicant_name(wf, &values),
        firm: engine.organisation_name(r.organisation_id).await.ok(),
        stage: wf.state_label(&r.state).get(lang).to_string(),
        status: wf.state_public(&r.state).get(lang).to_string(),
        tag: super::firm::tag_for(wf, &r.state),
        terminal,
        deadline: r.deadline_at.filter(|_| !terminal),
        urgency: urgency.map(|u| u.0),
        urgency_colour: urgency.map(|u| u.1),
        escalated: r.escalated_at.is_some() && !terminal,
        submitted_at: r.submitted_at,
        version: r.version,
        holder,
        held_by_me: r.assigned_to.is_some() && r.assigned_to == actor.user_id,
        works,
        staffed,
        letter_url,
    };
    let documents: Vec<DocumentView> = docs
        .iter()
        .map(|d| DocumentView {
            label: wf.document(&d.kind).map(|def| def.label.get(lang).to_string()).unwrap_or_else(|| d.kind.clone()),
            filename: d.filename.clone(),
            content_type: d.content_type.clone(),
            size: d.size,
            uploaded_at: d.uploaded_at,
            view_url: case_url(&r.reference, &format!("/documents/{}/view", d.id)),
            download_url: case_url(&r.reference, &format!("/documents/{}", d.id)),
            purged: d.purged_at.is_some(),
        })
        .collect();
    let assignees: Vec<serde_json::Value> = if works {
        engine
            .assignees(&view)
            .await?
            .into_iter()
            .filter(|u| Some(u.id) != actor.user_id)
            .map(|u| serde_json::json!({"id": u.id, "name": u.name, "role": timeline::role_label(lang, &u.role)}))
            .collect()
    } else {
        vec![]
    };
    // Back to where this user works from: an administrator's audit log of the case, a
    // supervisor's late cases when the case is there only for oversight, else the queue.
    let back = if actor.is_admin() {
        format!("/admin/audit/{}", r.reference)
    } else if !works && engine.supervised_stages(actor).iter().any(|s| s.workflow_id == wf.id && s.state == r.state) {
        "/queue/late".to_string()
    } else {
        "/queue".to_string()
    };
    let mut page = Context::new();
    page.insert("back", &back);
    page.insert("is_admin", &actor.is_admin());
    page.insert("case", &case);
    page.insert("fields", &forms::field_views(lang, wf, &values, &FormErrors::default()));
    page.insert("masked", &shown.masked);
    page.insert("documents", &documents);
    page.insert("timeline", &timeline::entries(lang, &events));
    page.insert("actions", &action_views(lang, wf, &actions, typed, errors));
    page.insert("open_actions", &actions.takeable.len());
    page.insert("assignees", &assignees);
    errors.insert_into(&mut page);
    render_status(ctx, status, "staff/case.html", page)
}

type PeerAddr = axum::extract::ConnectInfo<std::net::SocketAddr>;

async fn case(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::ConnectInfo(addr): PeerAddr,
    Path(reference): Path<String>,
) -> UiResult<Response> {
    let (actor, reference) = match case_reader(&state, &ctx, &reference).await? {
        Ok(reader) => reader,
        Err(redirect) => return Ok(redirect),
    };
    let client = crate::api::client(&addr);
    case_page(&state, &ctx, &actor, &reference, &client, &Typed::default(), &FormErrors::default(), StatusCode::OK)
        .await
}

/// The reassignment form was sent without a valid choice.
pub async fn reassign_error(
    state: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    reference: &Reference,
    client: &Client,
) -> UiResult<Response> {
    let mut errors = FormErrors::default();
    errors.add("assignee", "#assignee", i18n::t(ctx.lang, "case.error.assignee"));
    case_page(state, ctx, actor, reference, client, &Typed::default(), &errors, StatusCode::UNPROCESSABLE_ENTITY).await
}

async fn act(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::ConnectInfo(addr): PeerAddr,
    Path(reference): Path<String>,
    Form(form): Form<FormData>,
) -> UiResult<Response> {
    let actor = staff(&ctx)?;
    let lang = ctx.lang;
    let action = form.text("action").unwrap_or_default();
    let reference = parse_reference(&reference)?;
    let client = crate::api::client(&addr);
    let view: ApplicationView = state.engine.application(&actor, &reference).await?;
    let own_fields = transition_fields(&view.workflow, &action);
    let mut typed = Typed {
        comment: form.get(&format!("comment-{action}")).unwrap_or("").to_string(),
        reason: form.get(&format!("reason-{action}")).unwrap_or("").to_string(),
        reason_code: form.get(&format!("reason_code-{action}")).unwrap_or("").trim().to_string(),
        action: action.clone(),
        fields: serde_json::Map::new(),
    };
    let mut entered = serde_json::Map::new();
    for def in own_fields {
        let input = transition_input(&action, &def.name);
        if let Some(value) = form.text(&input) {
            typed.fields.insert(input, serde_json::Value::String(value.clone()));
            entered.insert(def.name.clone(), serde_json::Value::String(value));
        }
    }
    let request = TransitionRequest {
        action: action.clone(),
        expected_version: form.i64("version").unwrap_or(-1),
        comment: Some(typed.comment.clone()).filter(|c| !c.trim().is_empty()),
        reason: Some(typed.reason.clone()).filter(|r| !r.trim().is_empty()),
        reason_code: Some(typed.reason_code.clone()).filter(|c| !c.is_empty()),
        fields: (!own_fields.is_empty()).then_some(entered),
    };
    let mut errors = FormErrors::default();
    let status = match state.engine.transition(&actor, &view.record.reference, &request).await {
        Ok(moved) => {
            return Ok(Redirect::to(&case_url(&moved.record.reference, "?notice=action_taken")).into_response());
        }
        Err(EngineError::Unprocessable { details, .. }) => {
            for d in details {
                let (key, message) = match (d.field.as_str(), &d.problem) {
                    ("comment" | "reason", FieldProblem::Required | FieldProblem::TooLong { .. })
                    | ("reason_code", _) => (format!("{}-{action}", d.field), forms::field_error_message(lang, &d)),
                    // The officer's own entries: beside their input.
                    (name, _) if own_fields.iter().any(|f| f.name == name) => {
                        (transition_input(&action, name), forms::field_error_message(lang, &d))
                    }
                    // Anything else the workflow demands (a document, a field): staff cannot
                    // fix it here, but they should know why.
                    _ => ("action".to_string(), forms::field_error_message(lang, &d)),
                };
                let href = if key == "action" {
                    "#actions".to_string()
                } else if key.contains("--") {
                    format!("#{}", forms::field_id(&key))
                } else {
                    format!("#{key}")
                };
                errors.add(&key, &href, message);
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(EngineError::FourEyes(block)) => {
            // Four-eyes refused at the last moment (the page was opened before the other
            // approval): say why, on the page.
            errors.add("four-eyes", "#actions", four_eyes_message(lang, block));
            StatusCode::FORBIDDEN
        }
        Err(EngineError::StaleVersion { .. } | EngineError::ActionNotOpen { .. }) => {
            errors.add("version", "#case-status", i18n::t(lang, "case.error.stale"));
            return case_page(
                &state,
                &ctx,
                &actor,
                &reference,
                &client,
                &Typed::default(),
                &errors,
                StatusCode::CONFLICT,
            )
            .await;
        }
        Err(e) => return Err(UiError::from(e)),
    };
    case_page(&state, &ctx, &actor, &reference, &client, &typed, &errors, status).await
}

async fn document(
    state: &AppState,
    ctx: &Ctx,
    addr: &std::net::SocketAddr,
    reference: &str,
    id: i64,
    attachment: bool,
) -> UiResult<Response> {
    let (actor, reference) = match case_reader(state, ctx, reference).await? {
        Ok(reader) => reader,
        Err(_) => return Err(UiError::NotFound),
    };
    let (doc, bytes) = state.engine.document_content(&actor, &reference, id, &crate::api::client(addr)).await?;
    Ok(crate::api::document_response(&doc, bytes, attachment))
}

async fn download(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::ConnectInfo(addr): PeerAddr,
    Path((reference, id)): Path<(String, i64)>,
) -> UiResult<Response> {
    document(&state, &ctx, &addr, &reference, id, true).await
}

async fn view_inline(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::ConnectInfo(addr): PeerAddr,
    Path((reference, id)): Path<(String, i64)>,
) -> UiResult<Response> {
    document(&state, &ctx, &addr, &reference, id, false).await
}
