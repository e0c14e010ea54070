//! The administrator's pages under `/admin`: users and organisations, the loaded workflows
//! with their diagrams, the audit log of any application with its chain verification, and
//! the jobs queue with its dead letters.
//!
//! Every handler takes [`Admin`], which lets only a signed-in administrator through: anyone
//! else signed in gets "page not found", so the pages do not announce themselves; someone
//! not signed in is sent to sign in and brought back. The engine checks the role again on
//! every call (`engine/src/admin.rs`), so a handler cannot forget it.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use corridor_engine::actor::Actor;
use corridor_engine::admin::{JobView, OrganisationInput, Problem, UserInput};
use corridor_engine::countries::COUNTRIES;
use corridor_engine::error::EngineError;
use corridor_engine::model::{JobId, JobKind, JobStatus, Organisation, OrganisationId, Reference, User, UserId};
use corridor_engine::organisation::OrganisationKind;
use corridor_engine::workflow::{Need, Target, Workflow, graph};
use serde::{Deserialize, Serialize};
use tera::Context;

use super::diagram::{self, DiagramText};
use super::error::{UiError, UiResult};
use super::forms::{FormData, FormErrors};
use super::i18n::{self, Lang};
use super::session::Ctx;
use super::timeline::role_label;
use super::views::{render, render_status};
use crate::AppState;
use crate::extract::reference as parse_reference;

mod holidays;
mod tokens;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(holidays::routes())
        .merge(tokens::routes())
        .route("/admin", get(index))
        .route("/admin/users", get(users))
        .route("/admin/users/new", get(new_user_form).post(create_user))
        .route("/admin/users/{id}", get(user_page))
        .route("/admin/users/{id}/role", post(change_role))
        .route("/admin/users/{id}/disable", post(disable_user))
        .route("/admin/users/{id}/enable", post(enable_user))
        .route("/admin/users/{id}/reset-password", post(reset_password))
        .route("/admin/users/{id}/reset-second-factor", post(reset_second_factor))
        .route("/admin/organisations", get(organisations))
        .route("/admin/organisations/new", get(new_organisation_form).post(create_organisation))
        .route("/admin/workflows", get(workflows))
        .route("/admin/workflows/{id}/{version}", get(workflow_page))
        .route("/admin/audit", get(audit_search))
        .route("/admin/audit/{reference}", get(audit_page))
        .route("/admin/jobs", get(jobs))
        .route("/admin/jobs/{id}/retry", post(retry_job))
}

/// The signed-in administrator of an `/admin` request.
pub struct Admin {
    pub ctx: Ctx,
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        let (_, actor) = ctx.signed_in()?;
        if !actor.is_admin() {
            return Err(UiError::NotFound);
        }
        let actor = actor.clone();
        Ok(Admin { ctx, actor })
    }
}

/// A numeric id from the path; anything else is a page that does not exist.
fn id_of<Id: std::str::FromStr>(raw: &str) -> UiResult<Id> {
    raw.parse().map_err(|_| UiError::NotFound)
}

fn kind_label(lang: Lang, kind: &str) -> String {
    let key = format!("admin.kind.{kind}");
    if i18n::has(&key) { i18n::t(lang, &key) } else { kind.to_string() }
}

fn language_name(code: &str) -> &'static str {
    Lang::from_code(code).map(Lang::native_name).unwrap_or("")
}

/// The first characters of a hash: enough to compare by eye.
fn short_hash(h: &str) -> String {
    h.chars().take(12).collect()
}

/// Problems from the engine as the form's errors, worded from the catalogue
/// (`admin.<form>_error.<field>.<kind>`), each linking to its input (`#<field>`).
fn problem_errors(lang: Lang, form: &str, problems: &[Problem]) -> FormErrors {
    let mut errors = FormErrors::default();
    for p in problems {
        let kind = serde_json::to_value(p.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let key = format!("admin.{form}_error.{}.{kind}", p.field);
        let message = if i18n::has(&key) { i18n::t(lang, &key) } else { p.to_string() };
        errors.add(p.field, &format!("#{}", p.field), message);
    }
    errors
}

// ---- overview ----

async fn index(State(state): State<AppState>, admin: Admin) -> UiResult<Response> {
    let users = state.engine.admin_users(&admin.actor).await?;
    let organisations = state.engine.admin_organisations(&admin.actor).await?;
    let dead = state.engine.admin_jobs(&admin.actor, Some(JobStatus::Dead), 500).await?;
    let workflows = state.engine.admin_workflows(&admin.actor)?;
    let lang = admin.ctx.lang;
    let count = |key: &str, n: usize| i18n::t_count(lang, key, n as i64, &[]);
    let disabled = users.iter().filter(|u| u.disabled).count();
    let mut page = Context::new();
    page.insert("users", &count("admin.index.users", users.len()));
    page.insert("disabled", &(disabled > 0).then(|| count("admin.index.disabled", disabled)));
    page.insert("organisations", &count("admin.index.organisations", organisations.len()));
    page.insert("workflows", &count("admin.index.workflows", workflows.len()));
    page.insert("dead", &(!dead.is_empty()).then(|| count("admin.index.dead", dead.len())));
    page.insert("calendar_warnings", &holidays::calendar_warnings(&state, lang));
    render(&admin.ctx, "admin/index.html", page)
}

// ---- users ----

#[derive(Serialize)]
struct UserRow {
    id: UserId,
    url: String,
    name: String,
    email: String,
    role: String,
    role_label: String,
    organisation: String,
    language: &'static str,
    disabled: bool,
    created_at: DateTime<Utc>,
}

fn user_row(lang: Lang, u: &User, orgs: &HashMap<OrganisationId, &Organisation>) -> UserRow {
    UserRow {
        id: u.id,
        url: format!("/admin/users/{}", u.id),
        name: u.name.clone(),
        email: u.email.clone(),
        role: u.role.to_string(),
        role_label: role_label(lang, &u.role),
        organisation: orgs.get(&u.organisation_id).map(|o| o.name.clone()).unwrap_or_default(),
        language: language_name(&u.language),
        disabled: u.disabled,
        created_at: u.created_at,
    }
}

async fn users(State(state): State<AppState>, admin: Admin) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let organisations = state.engine.admin_organisations(&admin.actor).await?;
    let by_id: HashMap<OrganisationId, &Organisation> = organisations.iter().map(|o| (o.id, o)).collect();
    let mut list = state.engine.admin_users(&admin.actor).await?;
    list.sort_by_key(|u| (u.disabled, u.name.to_lowercase()));
    let rows: Vec<UserRow> = list.iter().map(|u| user_row(lang, u, &by_id)).collect();
    let mut page = Context::new();
    page.insert("users", &rows);
    render(&admin.ctx, "admin/users.html", page)
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn role_choices(state: &AppState, lang: Lang, current: &str) -> Vec<Choice> {
    state
        .engine
        .assignable_roles()
        .into_iter()
        .map(|r| Choice { label: role_label(lang, &r), selected: r == current, value: r.to_string() })
        .collect()
}

fn user_form_page(
    admin: &Admin,
    state: &AppState,
    organisations: &[Organisation],
    input: &UserInput,
    errors: &FormErrors,
    status: StatusCode,
) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let org_choices: Vec<Choice> = organisations
        .iter()
        .map(|o| Choice {
            value: o.id.to_string(),
            label: format!("{} ({})", o.name, kind_label(lang, &o.kind)),
            selected: input.organisation_id == Some(o.id),
        })
        .collect();
    let languages: Vec<Choice> = super::i18n::LANGS
        .iter()
        .map(|l| Choice {
            value: l.to_string(),
            label: l.native_name().to_string(),
            selected: l.code() == input.language,
        })
        .collect();
    let mut page = Context::new();
    page.insert("roles", &role_choices(state, lang, &input.role));
    page.insert("organisations", &org_choices);
    page.insert("language_choices", &languages);
    page.insert("email", &input.email);
    page.insert("name", &input.name);
    errors.insert_into(&mut page);
    render_status(&admin.ctx, status, "admin/user_new.html", page)
}

async fn new_user_form(State(state): State<AppState>, admin: Admin) -> UiResult<Response> {
    let organisations = state.engine.admin_organisations(&admin.actor).await?;
    let input = UserInput { language: admin.ctx.lang.code().to_string(), ..Default::default() };
    user_form_page(&admin, &state, &organisations, &input, &FormErrors::default(), StatusCode::OK)
}

async fn create_user(State(state): State<AppState>, admin: Admin, Form(form): Form<FormData>) -> UiResult<Response> {
    let input = UserInput {
        email: form.get("email").unwrap_or("").to_string(),
        name: form.get("name").unwrap_or("").to_string(),
        role: form.get("role").unwrap_or("").to_string(),
        organisation_id: form.parse("organisation"),
        language: form.get("language").unwrap_or("").to_string(),
        password: form.get("password").unwrap_or("").to_string(),
    };
    match state.engine.admin_create_user(&admin.actor, &input).await? {
        Ok(created) => match created.generated_password {
            Some(password) => password_page(&admin, &created.user, &password, "admin.password.created"),
            None => {
                Ok(Redirect::to(&format!("/admin/users/{}?notice=admin.user_created", created.user.id)).into_response())
            }
        },
        Err(problems) => {
            let organisations = state.engine.admin_organisations(&admin.actor).await?;
            let errors = problem_errors(admin.ctx.lang, "user", &problems);
            user_form_page(&admin, &state, &organisations, &input, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

/// A password chosen by Corridor, shown this once (the page is not cached, and only the
/// hash is stored).
fn password_page(admin: &Admin, user: &User, password: &str, heading: &str) -> UiResult<Response> {
    let mut page = Context::new();
    page.insert("heading", heading);
    page.insert("account", &serde_json::json!({"id": user.id, "name": user.name, "email": user.email}));
    page.insert("password", password);
    render(&admin.ctx, "admin/password.html", page)
}

fn user_page_render(
    admin: &Admin,
    state: &AppState,
    user: &User,
    orgs: &[Organisation],
    errors: &FormErrors,
    status: StatusCode,
) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let by_id: HashMap<OrganisationId, &Organisation> = orgs.iter().map(|o| (o.id, o)).collect();
    let mut page = Context::new();
    page.insert("account", &user_row(lang, user, &by_id));
    page.insert("roles", &role_choices(state, lang, &user.role));
    page.insert("is_self", &(admin.actor.user_id == Some(user.id)));
    errors.insert_into(&mut page);
    render_status(&admin.ctx, status, "admin/user.html", page)
}

async fn user_page(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> UiResult<Response> {
    let user = state.engine.admin_user(&admin.actor, id_of(&id)?).await?;
    let orgs = state.engine.admin_organisations(&admin.actor).await?;
    user_page_render(&admin, &state, &user, &orgs, &FormErrors::default(), StatusCode::OK)
}

async fn change_role(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> UiResult<Response> {
    let id: UserId = id_of(&id)?;
    let role = form.get("role").unwrap_or("");
    match state.engine.admin_set_role(&admin.actor, id, role).await? {
        Ok(user) => Ok(Redirect::to(&format!("/admin/users/{}?notice=admin.role_changed", user.id)).into_response()),
        Err(problems) => {
            let user = state.engine.admin_user(&admin.actor, id).await?;
            let orgs = state.engine.admin_organisations(&admin.actor).await?;
            let errors = problem_errors(admin.ctx.lang, "user", &problems);
            user_page_render(&admin, &state, &user, &orgs, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

async fn disable_user(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> UiResult<Response> {
    let user = state.engine.admin_set_disabled(&admin.actor, id_of(&id)?, true).await?;
    Ok(Redirect::to(&format!("/admin/users/{}?notice=admin.user_disabled", user.id)).into_response())
}

async fn enable_user(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> UiResult<Response> {
    let user = state.engine.admin_set_disabled(&admin.actor, id_of(&id)?, false).await?;
    Ok(Redirect::to(&format!("/admin/users/{}?notice=admin.user_enabled", user.id)).into_response())
}

async fn reset_password(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> UiResult<Response> {
    let (user, password) = state.engine.admin_reset_password(&admin.actor, id_of(&id)?).await?;
    password_page(&admin, &user, &password, "admin.password.reset")
}

async fn reset_second_factor(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> UiResult<Response> {
    let user = state.engine.admin_reset_second_factor(&admin.actor, id_of(&id)?).await?;
    Ok(Redirect::to(&format!("/admin/users/{}?notice=admin.second_factor_reset", user.id)).into_response())
}

// ---- organisations ----

#[derive(Serialize)]
struct OrganisationRow {
    id: OrganisationId,
    name: String,
    kind: String,
    country: Option<String>,
    users: usize,
    created_at: DateTime<Utc>,
}

async fn organisations(State(state): State<AppState>, admin: Admin) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let list = state.engine.admin_organisations(&admin.actor).await?;
    let users = state.engine.admin_users(&admin.actor).await?;
    let rows: Vec<OrganisationRow> = list
        .iter()
        .map(|o| OrganisationRow {
            id: o.id,
            name: o.name.clone(),
            kind: kind_label(lang, &o.kind),
            country: o.country.clone(),
            users: users.iter().filter(|u| u.organisation_id == o.id).count(),
            created_at: o.created_at,
        })
        .collect();
    let mut page = Context::new();
    page.insert("organisations", &rows);
    render(&admin.ctx, "admin/organisations.html", page)
}

fn organisation_form_page(
    admin: &Admin,
    input: &OrganisationInput,
    errors: &FormErrors,
    status: StatusCode,
) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let kinds: Vec<Choice> = OrganisationKind::ALL
        .iter()
        .map(|k| Choice { value: k.to_string(), label: kind_label(lang, k.code()), selected: k.code() == input.kind })
        .collect();
    let country = input.country.trim().to_uppercase();
    let countries: Vec<Choice> = COUNTRIES
        .iter()
        .map(|(code, name)| Choice { value: code.to_string(), label: name.to_string(), selected: *code == country })
        .collect();
    let mut page = Context::new();
    page.insert("kinds", &kinds);
    page.insert("countries", &countries);
    page.insert("name", &input.name);
    errors.insert_into(&mut page);
    render_status(&admin.ctx, status, "admin/organisation_new.html", page)
}

async fn new_organisation_form(admin: Admin) -> UiResult<Response> {
    organisation_form_page(&admin, &OrganisationInput::default(), &FormErrors::default(), StatusCode::OK)
}

async fn create_organisation(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<FormData>,
) -> UiResult<Response> {
    let input = OrganisationInput {
        name: form.get("name").unwrap_or("").to_string(),
        kind: form.get("kind").unwrap_or("").to_string(),
        country: form.get("country").unwrap_or("").to_string(),
    };
    match state.engine.admin_create_organisation(&admin.actor, &input).await? {
        Ok(_) => Ok(Redirect::to("/admin/organisations?notice=admin.organisation_created").into_response()),
        Err(problems) => {
            let errors = problem_errors(admin.ctx.lang, "organisation", &problems);
            organisation_form_page(&admin, &input, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

// ---- workflows ----

#[derive(Serialize)]
struct WorkflowRow {
    id: String,
    version: u32,
    title: String,
    url: String,
    content_hash: String,
    states: usize,
    transitions: usize,
    newest: bool,
}

async fn workflows(State(state): State<AppState>, admin: Admin) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let list = state.engine.admin_workflows(&admin.actor)?;
    let rows: Vec<WorkflowRow> = list
        .iter()
        .map(|w| WorkflowRow {
            id: w.id.clone(),
            version: w.version,
            title: w.title.get(lang).to_string(),
            url: format!("/admin/workflows/{}/{}", w.id, w.version),
            content_hash: w.content_hash.clone(),
            states: w.states.len(),
            transitions: w.transitions.len(),
            newest: state.engine.workflow(&w.id).is_some_and(|l| l.version == w.version),
        })
        .collect();
    let mut page = Context::new();
    page.insert("workflows", &rows);
    render(&admin.ctx, "admin/workflows.html", page)
}

fn need_key(n: Need) -> &'static str {
    match n {
        Need::None => "admin.workflow.need.none",
        Need::Optional => "admin.workflow.need.optional",
        Need::Required => "admin.workflow.need.required",
    }
}

/// "5 working days", in the page's language.
fn duration_words(lang: Lang, d: &corridor_engine::workflow::Duration) -> String {
    use corridor_engine::workflow::DurationUnit;
    let unit = match d.unit {
        DurationUnit::WorkingDays => "working_days",
        DurationUnit::Days => "days",
        DurationUnit::Hours => "hours",
    };
    i18n::t_count(lang, &format!("admin.workflow.duration.{unit}"), d.amount as i64, &[])
}

/// The transitions in words a table can show; `$return` names the states it can go back to.
fn transition_rows(lang: Lang, w: &Workflow) -> Vec<serde_json::Value> {
    w.transitions
        .iter()
        .map(|t| {
            let to = match &t.to {
                Target::State(s) => vec![s.clone()],
                Target::Return => {
                    let mut back: Vec<String> = Vec::new();
                    for f in &t.from {
                        for s in graph::return_targets(w, f) {
                            if !back.iter().any(|b| b == s) {
                                back.push(s.to_string());
                            }
                        }
                    }
                    back
                }
            };
            let mut requires = Vec::new();
            if t.requires_fields {
                requires.push(i18n::t(lang, "admin.workflow.requires_fields"));
            }
            if t.requires_documents {
                requires.push(i18n::t(lang, "admin.workflow.requires_documents"));
            }
            serde_json::json!({
                "action": t.action,
                "label": t.label.get(lang),
                "from": t.from,
                "to": to,
                "returns": t.to == Target::Return,
                "by": t.by,
                "by_label": role_label(lang, &t.by),
                "four_eyes": t.four_eyes,
                "comment": i18n::t(lang, need_key(t.comment)),
                "reason": i18n::t(lang, need_key(t.reason)),
                "requires": requires.join(", "),
                "outcome": t.outcome,
            })
        })
        .collect()
}

async fn workflow_page(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, version)): Path<(String, String)>,
) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let version: u32 = version.parse().map_err(|_| UiError::NotFound)?;
    let w = state.engine.admin_workflow(&admin.actor, &id, version)?;
    let title = i18n::t_args(
        lang,
        "admin.workflow.diagram_title",
        &[("title", w.title.get(lang).to_string()), ("version", w.version.to_string())],
    );
    let edges = graph::edges(&w);
    let desc = i18n::t_args(
        lang,
        "admin.workflow.diagram_desc",
        &[
            ("states", corridor_engine::locale::number(lang, w.states.len() as i64)),
            ("transitions", corridor_engine::locale::number(lang, edges.len() as i64)),
            ("returns", corridor_engine::locale::number(lang, edges.iter().filter(|e| e.returns).count() as i64)),
        ],
    );
    let svg = diagram::svg(&w, &DiagramText { title: &title, desc: &desc, id: "workflow-diagram", lang });
    let states: Vec<serde_json::Value> = w
        .states
        .iter()
        .map(|s| {
            let deadline = s.deadline.as_ref().map(|d| duration_words(lang, d));
            serde_json::json!({
                "name": s.name, "label": s.label.get(lang), "public": s.public.get(lang),
                "owner": s.owner, "owner_label": s.owner.as_deref().map(|o| role_label(lang, o)),
                "initial": s.initial, "terminal": s.terminal, "pauses_clock": s.pauses_clock,
                "deadline": deadline, "on_deadline": s.on_deadline,
            })
        })
        .collect();
    let mut page = Context::new();
    page.insert(
        "workflow",
        &serde_json::json!({
            "id": w.id, "version": w.version, "title": w.title.get(lang),
            "description": w.description.as_ref().map(|d| d.get(lang)),
            "calendar": w.calendar, "reference_prefix": w.reference_prefix, "content_hash": w.content_hash,
            "roles": w.roles.iter().map(|r| role_label(lang, r)).collect::<Vec<_>>(),
        }),
    );
    page.insert("diagram", &svg);
    page.insert("states", &states);
    page.insert("transitions", &transition_rows(lang, &w));
    let fields: Vec<serde_json::Value> = w
        .fields
        .iter()
        .map(|f| {
            serde_json::json!({"name": f.name, "label": f.label.get(lang), "type": f.field_type,
                               "required": f.required, "sensitive": f.sensitive, "example": f.example})
        })
        .collect();
    let documents: Vec<serde_json::Value> = w
        .documents
        .iter()
        .map(|d| {
            serde_json::json!({"name": d.name, "label": d.label.get(lang), "required": d.required,
                               "accept": d.accept, "max_size": d.max_size})
        })
        .collect();
    page.insert("fields", &fields);
    page.insert("documents", &documents);
    render(&admin.ctx, "admin/workflow.html", page)
}

// ---- audit ----

#[derive(Deserialize)]
struct AuditQuery {
    reference: Option<String>,
    verify: Option<String>,
}

async fn audit_search(State(state): State<AppState>, admin: Admin, Query(q): Query<AuditQuery>) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let mut errors = FormErrors::default();
    let reference = q.reference.as_deref().map(str::trim).unwrap_or("").to_string();
    if q.reference.is_some() {
        if reference.is_empty() {
            errors.add("reference", "#reference", i18n::t(lang, "admin.audit.error.missing"));
        } else {
            let found = match parse_reference(&reference) {
                Ok(reference) => state.engine.application(&admin.actor, &reference).await,
                Err(unknown) => Err(unknown),
            };
            match found {
                Ok(view) => return Ok(Redirect::to(&format!("/admin/audit/{}", view.record.reference)).into_response()),
                Err(EngineError::NotFound(_)) => {
                    errors.add("reference", "#reference", i18n::t(lang, "admin.audit.error.not_found"))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let summary = match q.verify.as_deref() {
        Some("all") => Some(state.engine.admin_verify_all(&admin.actor).await?),
        _ => None,
    };
    let (latest, checkpoint_problems) = state.engine.admin_checkpoint(&admin.actor).await?;
    let mut page = Context::new();
    page.insert("reference", &reference);
    page.insert("summary", &summary);
    page.insert(
        "checkpoint",
        &latest.map(|s| {
            let c = s.checkpoint;
            serde_json::json!({"seq": c.seq, "at": c.created_at, "tree_size": c.tree_size, "root": c.root_hash,
                               "fingerprint": c.key_fingerprint, "verified": s.verified})
        }),
    );
    page.insert("checkpoint_problems", &checkpoint_problems);
    errors.insert_into(&mut page);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render_status(&admin.ctx, status, "admin/audit_search.html", page)
}

async fn audit_page(State(state): State<AppState>, admin: Admin, Path(reference): Path<String>) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let report = state.engine.admin_audit(&admin.actor, &parse_reference(&reference)?).await?;
    let organisations = state.engine.admin_organisations(&admin.actor).await?;
    let org_name: HashMap<OrganisationId, String> = organisations.into_iter().map(|o| (o.id, o.name)).collect();
    let broken_seq = report.verification.as_ref().err().map(|b| b.seq);
    let events: Vec<serde_json::Value> = report
        .events
        .iter()
        .map(|e| {
            serde_json::json!({
                "seq": e.seq, "at": e.at, "actor": e.actor_name, "role": role_label(lang, &e.role),
                "organisation": e.organisation_id.and_then(|id| org_name.get(&id).cloned()),
                "action": e.action, "from": e.from_state, "to": e.to_state,
                "comment": e.comment, "reason": e.reason,
                // Extra facts (fields changed, document, moved deadline), as stored.
                "data": e.data.as_object().filter(|o| !o.is_empty()).map(|_| e.data.to_string()),
                "prev_hash": short_hash(&e.prev_hash), "prev_hash_full": e.prev_hash,
                "hash": short_hash(&e.hash), "hash_full": e.hash,
                "broken": broken_seq == Some(e.seq),
                "after_break": broken_seq.is_some_and(|b| e.seq > b),
            })
        })
        .collect();
    let r = &report.application.record;
    let mut page = Context::new();
    page.insert(
        "application",
        &serde_json::json!({
            "reference": r.reference, "workflow": report.application.workflow.title.get(lang), "workflow_id": r.workflow_id,
            "workflow_version": r.workflow_version, "state": r.state, "version": r.version,
        }),
    );
    page.insert("events", &events);
    page.insert("row_problems", &report.row_problems);
    match &report.verification {
        Ok(count) => {
            page.insert("chain_ok", &true);
            page.insert("checked", &i18n::t_count(lang, "admin.audit.ok", *count as i64, &[]));
        }
        Err(b) => {
            page.insert("chain_ok", &false);
            page.insert("broken", &serde_json::json!({"seq": b.seq, "problem": b.problem}));
        }
    }
    render(&admin.ctx, "admin/audit.html", page)
}

// ---- jobs ----

#[derive(Deserialize)]
struct JobsQuery {
    status: Option<String>,
}

#[derive(Serialize)]
struct JobRow {
    id: JobId,
    kind: JobKind,
    status: JobStatus,
    tag: &'static str,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    reference: Option<Reference>,
    last_error: Option<String>,
    dedup_key: String,
}

fn status_tag(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Dead => "red",
        JobStatus::Running => "blue",
        JobStatus::Pending => "light",
        JobStatus::Done => "green",
        JobStatus::Cancelled => "grey",
    }
}

fn job_rows(jobs: Vec<JobView>) -> Vec<JobRow> {
    jobs.into_iter()
        .map(|JobView { job: j, reference }| {
            // Long errors (a server's whole reply) are cut for the table; the log has them all.
            let last_error = j.last_error.map(|e| {
                if e.chars().count() > 400 { format!("{}…", e.chars().take(400).collect::<String>()) } else { e }
            });
            JobRow {
                id: j.id,
                tag: status_tag(j.status),
                kind: j.kind,
                status: j.status,
                attempts: j.attempts,
                max_attempts: j.max_attempts,
                run_at: j.run_at,
                updated_at: j.updated_at,
                reference,
                last_error,
                dedup_key: j.dedup_key,
            }
        })
        .collect()
}

/// How many rows one list shows.
const JOBS_SHOWN: i64 = 100;

async fn jobs(State(state): State<AppState>, admin: Admin, Query(q): Query<JobsQuery>) -> UiResult<Response> {
    let status: Option<JobStatus> = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse().map_err(|_| UiError::NotFound)?),
        None => None,
    };
    let mut page = Context::new();
    match status {
        Some(s) => {
            let list = state.engine.admin_jobs(&admin.actor, Some(s), JOBS_SHOWN).await?;
            page.insert("jobs", &job_rows(list));
        }
        None => {
            // Dead letters first: they are what needs a person.
            let dead = state.engine.admin_jobs(&admin.actor, Some(JobStatus::Dead), JOBS_SHOWN).await?;
            let recent: Vec<JobView> = state
                .engine
                .admin_jobs(&admin.actor, None, JOBS_SHOWN)
                .await?
                .into_iter()
                .filter(|j| j.job.status != JobStatus::Dead)
                .collect();
            page.insert("dead", &job_rows(dead));
            page.insert("jobs", &job_rows(recent));
        }
    }
    let filters: Vec<serde_json::Value> = std::iter::once(
        serde_json::json!({"value": "", "key": "admin.jobs.filter.all", "current": status.is_none()}),
    )
    .chain(JobStatus::DISPLAY_ORDER.iter().map(
        |s| serde_json::json!({"value": s, "key": format!("admin.jobs.status.{s}"), "current": status == Some(*s)}),
    ))
    .collect();
    page.insert("status", &status);
    page.insert("filters", &filters);
    page.insert("shown", &i18n::t_count(admin.ctx.lang, "admin.jobs.shown", JOBS_SHOWN, &[]));
    render(&admin.ctx, "admin/jobs.html", page)
}

async fn retry_job(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> UiResult<Response> {
    let id: JobId = id.parse().map_err(|_| UiError::NotFound)?;
    match state.engine.admin_retry_job(&admin.actor, id).await {
        Ok(()) => Ok(Redirect::to("/admin/jobs?notice=admin.job_retried").into_response()),
        // Someone retried it first, or it is not a dead letter: say so, change nothing.
        Err(EngineError::NotFound(_)) => Ok(Redirect::to("/admin/jobs?notice=admin.job_not_dead").into_response()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use corridor_engine::admin::ProblemKind;

    use super::*;

    /// Every problem the engine can report on these forms has its sentence in the catalogue.
    #[test]
    fn every_form_problem_has_its_message() {
        use ProblemKind::*;
        let user: &[(&str, &[ProblemKind])] = &[
            ("email", &[Missing, TooLong, Invalid, Taken]),
            ("name", &[Missing, TooLong]),
            ("role", &[Missing, Unknown]),
            ("organisation", &[Missing, Unknown]),
            ("language", &[Unknown]),
            ("password", &[TooShort, TooLong, TooCommon]),
        ];
        let organisation: &[(&str, &[ProblemKind])] =
            &[("name", &[Missing, TooLong, Taken]), ("kind", &[Missing, Unknown]), ("country", &[Unknown])];
        for (form, list) in [("user", user), ("organisation", organisation)] {
            for (field, kinds) in list {
                for kind in *kinds {
                    let p = Problem { field, kind: *kind };
                    let errors = problem_errors(Lang::Ar, form, &[p]);
                    let message = errors.get(field).expect("an error");
                    assert_ne!(
                        message,
                        p.to_string(),
                        "admin.{form}_error.{field}.{kind:?} is missing from the catalogue"
                    );
                }
            }
        }
    }

    #[test]
    fn every_job_status_and_kind_has_its_words() {
        for s in JobStatus::ALL {
            assert!(i18n::has(&format!("admin.jobs.status.{s}")), "{s}");
        }
        for k in OrganisationKind::ALL {
            assert!(i18n::has(&format!("admin.kind.{k}")), "{k}");
        }
        for unit in ["working_days", "days", "hours"] {
            assert!(i18n::has(&format!("admin.workflow.duration.{unit}.one")), "{unit}");
        }
    }
}
