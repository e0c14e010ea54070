//! The reviewer's queue (`/queue`): cases in the stages the user's role works, nearest
//! deadline first, with filters, search and keyset pages; and holding a case (claim, release,
//! reassign). What a role works, who may hold a case and the order of the queue are the
//! engine's (`corridor_engine::queue`); this module reads the query and renders.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use corridor_engine::access::{Client, Disclosure, Shown};
use corridor_engine::actor::Actor;
use corridor_engine::error::EngineError;
use corridor_engine::model::{Organisation, OrganisationId, Reference, UserId};
use corridor_engine::queue::{Assigned, QueueItem, QueueQuery, Scope, Urgency};
use serde::Serialize;
use tera::Context;

use super::error::{UiError, UiResult};
use super::forms::FormData;
use super::session::Ctx;
use super::views::{render, render_status};
use crate::AppState;
use crate::extract::reference as parse_reference;

/// Cases per queue page.
pub const PAGE_SIZE: i64 = 25;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/queue", get(queue))
        .route("/queue/late", get(late_queue))
        .route("/cases/{reference}/claim", get(back_to_case).post(claim))
        .route("/cases/{reference}/release", get(back_to_case).post(release))
        .route("/cases/{reference}/reassign", get(back_to_case).post(reassign))
}

/// A form's address opened as a page (reload, the language switch after a refused form):
/// the case page it belongs to.
pub async fn back_to_case(Path(reference): Path<String>) -> Response {
    Redirect::to(&case_url(super::error::urlencode(&reference), "")).into_response()
}

/// The signed-in member of staff; firms and administrators have no queue.
pub fn staff(ctx: &Ctx) -> UiResult<Actor> {
    let (_, actor) = ctx.signed_in()?;
    if actor.is_applicant() || actor.is_admin() {
        return Err(UiError::Forbidden(format!("{} has no review queue", actor.role)));
    }
    Ok(actor.clone())
}

pub fn case_url(reference: impl std::fmt::Display, rest: &str) -> String {
    format!("/cases/{reference}{rest}")
}

/// Urgency as the page words it (`case.urgency.<key>`) and its tag colour; never colour alone.
pub fn urgency_tag(u: Urgency) -> Option<(&'static str, &'static str)> {
    match u {
        Urgency::Overdue => Some(("overdue", "red")),
        Urgency::DueSoon => Some(("due_soon", "orange")),
        Urgency::OnTime | Urgency::NoDeadline => None,
    }
}

#[derive(Serialize)]
struct Row {
    reference: Reference,
    url: String,
    name: String,
    firm: Option<String>,
    workflow_title: String,
    stage: String,
    deadline: Option<DateTime<Utc>>,
    urgency: Option<&'static str>,
    urgency_colour: Option<&'static str>,
    escalated: bool,
    holder: Option<String>,
    held_by_me: bool,
    /// The user's role works the stage (may claim the case).
    works: bool,
    version: i64,
    /// The passport number, masked (a list shows no sensitive field in full).
    passport: Option<String>,
}

fn row(lang: super::i18n::Lang, item: &QueueItem, shown: &Shown, me: Option<UserId>) -> Row {
    let r = &item.view.record;
    let wf = &item.view.workflow;
    let values = r.fields.as_object().cloned().unwrap_or_default();
    let tag = urgency_tag(item.urgency);
    Row {
        reference: r.reference.clone(),
        url: case_url(&r.reference, ""),
        name: corridor_engine::fields::applicant_name(wf, &values),
        firm: item.organisation.as_ref().map(|o| o.name.clone()),
        workflow_title: wf.title.get(lang).to_string(),
        stage: wf.state_label(&r.state).get(lang).to_string(),
        deadline: r.deadline_at,
        urgency: tag.map(|t| t.0),
        urgency_colour: tag.map(|t| t.1),
        escalated: item.escalated,
        holder: item.assignee.as_ref().map(|u| u.name.clone()),
        held_by_me: r.assigned_to.is_some() && r.assigned_to == me,
        works: item.works,
        version: r.version,
        passport: shown.passport.clone(),
    }
}

/// The query string of the current filters (without the page position).
fn filters_query(q: &HashMap<String, String>) -> String {
    let pairs: Vec<(&str, &str)> = ["workflow", "state", "firm", "q", "holder", "mine"]
        .iter()
        .filter_map(|k| q.get(*k).map(|v| (*k, v.trim())).filter(|(_, v)| !v.is_empty()))
        .collect();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn given<'a>(q: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    q.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// The most firms listed when a firm filter matches several.
const FIRM_CHOICES: usize = 20;

/// What the firm filter's text stands for. Firms are many (thousands), so the filter is a
/// text box, not a list: a firm's id (the links of the pages) or its name, whole or in part.
enum FirmFilter {
    Any,
    One(Organisation),
    /// Several firms' names contain the text: the user picks one (the queue waits).
    Choose {
        firms: Vec<Organisation>,
        total: usize,
    },
    NoMatch,
}

async fn firm_filter(state: &AppState, text: Option<&str>) -> UiResult<FirmFilter> {
    let Some(text) = text else {
        return Ok(FirmFilter::Any);
    };
    if let Ok(id) = text.parse::<OrganisationId>() {
        return Ok(match state.engine.firm(id).await {
            Ok(Some(o)) => FirmFilter::One(o),
            _ => FirmFilter::NoMatch,
        });
    }
    let needle = text.to_lowercase();
    let mut firms: Vec<Organisation> =
        state.engine.firms().await?.into_iter().filter(|o| o.name.to_lowercase().contains(&needle)).collect();
    if let Some(exact) = firms.iter().position(|o| o.name.to_lowercase() == needle) {
        return Ok(FirmFilter::One(firms.swap_remove(exact)));
    }
    Ok(match firms.len() {
        0 => FirmFilter::NoMatch,
        1 => FirmFilter::One(firms.remove(0)),
        total => {
            firms.sort_by_key(|o| o.name.to_lowercase());
            firms.truncate(FIRM_CHOICES);
            FirmFilter::Choose { firms, total }
        }
    })
}

async fn queue(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> UiResult<Response> {
    queue_page(&state, &ctx, &q, Scope::Work).await
}

/// For supervisors: the overdue and escalated cases of every stage that escalates to their
/// role, oldest deadline first (the engine decides which stages and cases those are).
async fn late_queue(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> UiResult<Response> {
    queue_page(&state, &ctx, &q, Scope::Late).await
}

async fn queue_page(state: &AppState, ctx: &Ctx, q: &HashMap<String, String>, scope: Scope) -> UiResult<Response> {
    let actor = staff(ctx)?;
    let engine = &state.engine;
    let (base, stages) = match scope {
        Scope::Work => ("/queue", engine.stages(&actor)),
        Scope::Late => ("/queue/late", engine.supervised_stages(&actor)),
    };
    let firm = firm_filter(state, given(q, "firm")).await?;
    let holder = match (given(q, "holder"), given(q, "mine")) {
        (Some("me"), _) | (None, Some(_)) => "me",
        (Some("nobody"), _) => "nobody",
        _ => "",
    };
    let query = QueueQuery {
        workflow_id: given(q, "workflow").map(str::to_string),
        state: given(q, "state").map(str::to_string),
        organisation_id: match &firm {
            FirmFilter::One(o) => Some(o.id),
            _ => None,
        },
        search: given(q, "q").map(|s| s.chars().take(100).collect()),
        assigned: match holder {
            "me" => Assigned::Me,
            "nobody" => Assigned::Nobody,
            _ => Assigned::Anyone,
        },
        scope,
        after: given(q, "after").and_then(crate::api::parse_cursor),
        limit: PAGE_SIZE,
    };
    // A search the engine refuses (a control character) is shown on its input, with no rows.
    let mut search_errors = super::forms::FormErrors::default();
    let page = match firm {
        FirmFilter::Any | FirmFilter::One(_) => match engine.queue(&actor, &query).await {
            Ok(page) => Some(page),
            Err(EngineError::Unprocessable { details, .. }) if !details.is_empty() => {
                for problem in &details {
                    search_errors.add(
                        &problem.field,
                        &format!("#filter-{}", problem.field),
                        super::forms::field_error_message(ctx.lang, problem),
                    );
                }
                None
            }
            Err(e) => return Err(e.into()),
        },
        FirmFilter::Choose { .. } | FirmFilter::NoMatch => None,
    };
    let mut rows: Vec<Row> = Vec::new();
    for item in page.iter().flat_map(|p| p.items.iter()) {
        let shown = engine.shown(&actor, &item.view, Disclosure::List, &Client::default()).await?;
        rows.push(row(ctx.lang, item, &shown, actor.user_id));
    }
    let filters = filters_query(q);
    let with = |extra: String| {
        if filters.is_empty() { format!("{base}?{extra}") } else { format!("{base}?{filters}&{extra}") }
    };
    let next =
        page.as_ref().and_then(|p| p.next).map(|(d, id)| with(format!("after={}", crate::api::format_cursor(d, id))));
    let first =
        query.after.is_some().then(|| if filters.is_empty() { base.to_string() } else { format!("{base}?{filters}") });

    // The filter choices: only the workflows and stages of this view.
    let mut workflows: Vec<(String, String)> =
        stages.iter().map(|s| (s.workflow_id.clone(), s.workflow_title.get(ctx.lang).to_string())).collect();
    workflows.dedup();
    let mut page_ctx = Context::new();
    match &firm {
        FirmFilter::Choose { firms, total } => {
            // Each choice: the same filters with this firm's exact name.
            let mut others: HashMap<String, String> = q.clone();
            let choices: Vec<serde_json::Value> = firms
                .iter()
                .map(|o| {
                    others.insert("firm".into(), o.name.clone());
                    serde_json::json!({"name": o.name, "url": format!("{base}?{}", filters_query(&others))})
                })
                .collect();
            page_ctx.insert("firm_choices", &choices);
            page_ctx.insert("firm_total", total);
            page_ctx.insert(
                "firm_many",
                &super::i18n::t_count(
                    ctx.lang,
                    "queue.filter.firm_many",
                    *total as i64,
                    &[("name", given(q, "firm").unwrap_or("").to_string())],
                ),
            );
        }
        FirmFilter::NoMatch => {
            let mut errors = super::forms::FormErrors::default();
            errors.add(
                "firm",
                "#filter-firm",
                super::i18n::t_args(
                    ctx.lang,
                    "queue.filter.firm_none",
                    &[("name", given(q, "firm").unwrap_or("").to_string())],
                ),
            );
            errors.insert_into(&mut page_ctx);
        }
        FirmFilter::Any | FirmFilter::One(_) => {}
    }
    let refused = !search_errors.0.is_empty();
    if refused {
        search_errors.insert_into(&mut page_ctx);
    }
    page_ctx.insert("scope", if scope == Scope::Late { "late" } else { "work" });
    // The message group of the page's own texts (title, lead, empty...).
    page_ctx.insert("k", if scope == Scope::Late { "late" } else { "queue" });
    page_ctx.insert("base", base);
    page_ctx.insert("rows", &rows);
    let stage_choices: Vec<serde_json::Value> = stages
        .iter()
        .map(|s| serde_json::json!({"workflow_id": s.workflow_id, "state": s.state, "label": s.label.get(ctx.lang)}))
        .collect();
    page_ctx.insert("stages", &stage_choices);
    page_ctx.insert(
        "workflows",
        &workflows.iter().map(|(id, title)| serde_json::json!({"id": id, "title": title})).collect::<Vec<_>>(),
    );
    page_ctx.insert("f_workflow", given(q, "workflow").unwrap_or(""));
    page_ctx.insert("f_state", given(q, "state").unwrap_or(""));
    page_ctx.insert(
        "f_firm",
        &match &firm {
            FirmFilter::One(o) => o.name.clone(),
            _ => given(q, "firm").unwrap_or("").to_string(),
        },
    );
    page_ctx.insert("f_q", given(q, "q").unwrap_or(""));
    page_ctx.insert("f_holder", holder);
    page_ctx.insert("filtered", &!filters.is_empty());
    page_ctx.insert("next", &next);
    page_ctx.insert("first", &first);
    if refused {
        return render_status(ctx, StatusCode::UNPROCESSABLE_ENTITY, "staff/queue.html", page_ctx);
    }
    render(ctx, "staff/queue.html", page_ctx)
}

/// A refused claim, release or reassignment: someone else moved first, or the case left the
/// stage. The case page then shows where it stands now.
fn moved_on(reference: &str) -> Response {
    Redirect::to(&case_url(reference, "?notice=case_changed")).into_response()
}

async fn claim(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(reference): Path<String>,
    Form(form): Form<FormData>,
) -> UiResult<Response> {
    let actor = staff(&ctx)?;
    let version = form.i64("version").unwrap_or(-1);
    match state.engine.claim(&actor, &parse_reference(&reference)?, version).await {
        Ok(view) => Ok(Redirect::to(&case_url(&view.record.reference, "?notice=claimed")).into_response()),
        Err(EngineError::StaleVersion { .. } | EngineError::ActionNotOpen { .. }) => Ok(moved_on(&reference)),
        Err(e) => Err(e.into()),
    }
}

async fn release(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(reference): Path<String>,
    Form(form): Form<FormData>,
) -> UiResult<Response> {
    let actor = staff(&ctx)?;
    let version = form.i64("version").unwrap_or(-1);
    match state.engine.release(&actor, &parse_reference(&reference)?, version).await {
        Ok(_) => Ok(Redirect::to("/queue?notice=released").into_response()),
        Err(EngineError::StaleVersion { .. } | EngineError::ActionNotOpen { .. }) => Ok(moved_on(&reference)),
        Err(e) => Err(e.into()),
    }
}

async fn reassign(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path(reference): Path<String>,
    Form(form): Form<FormData>,
) -> UiResult<Response> {
    let actor = staff(&ctx)?;
    let case = parse_reference(&reference)?;
    let client = crate::api::client(&addr);
    let version = form.i64("version").unwrap_or(-1);
    let Some(to) = form.i64("assignee").map(UserId::new) else {
        return super::case::reassign_error(&state, &ctx, &actor, &case, &client).await;
    };
    match state.engine.reassign(&actor, &case, version, to, form.get("note")).await {
        Ok(view) => Ok(Redirect::to(&case_url(&view.record.reference, "?notice=reassigned")).into_response()),
        Err(EngineError::Unprocessable { .. }) => {
            super::case::reassign_error(&state, &ctx, &actor, &case, &client).await
        }
        Err(EngineError::StaleVersion { .. } | EngineError::ActionNotOpen { .. }) => Ok(moved_on(&reference)),
        Err(e) => Err(e.into()),
    }
}
