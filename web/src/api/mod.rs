//! The JSON API (DESIGN.md section 3). Bearer tokens; errors as `{"error": {...}}`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use corridor_engine::access::{Client, Disclosure, Shown};
use corridor_engine::actions::ActionsNow;
use corridor_engine::actor::Actor;
use corridor_engine::error::EngineError;
use corridor_engine::fields::{FieldError, FieldProblem};
use corridor_engine::model::{ApplicationFilter, ApplicationId, AuditEvent, DocumentRecord};
use corridor_engine::service::ApplicationView;
use corridor_engine::timeline::{Step, TimelineEntry};
use corridor_engine::transition::TransitionRequest;
use corridor_engine::workflow::{Target, Workflow};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::extract::{ApiJson, ApiLang, ApiUser, UploadProblem, read_upload, reference as parse_reference};
use crate::ui::i18n::Lang;
use crate::{ApiError, ApiResult, AppState};

pub mod letter;
mod openapi;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(letter::router())
        .route("/api/v1/applications", post(create_application).get(list_applications))
        .route("/api/v1/applications/{reference}", get(get_application).patch(update_fields))
        .route(
            "/api/v1/applications/{reference}/documents",
            post(upload_document)
                .get(list_documents)
                .layer(DefaultBodyLimit::max(state.settings.max_upload_bytes))
                .layer(axum::middleware::from_fn_with_state(state.clone(), refuse_oversized_upload)),
        )
        .route("/api/v1/applications/{reference}/documents/{id}", get(download_document))
        .route("/api/v1/applications/{reference}/transitions", post(take_transition))
        .route("/api/v1/applications/{reference}/history", get(history))
        .route("/api/v1/admin/access-log", get(access_log))
        .route("/api/v1/workflows", get(list_workflows))
        .route("/api/v1/workflows/{id}", get(get_workflow))
        .route("/api/v1/status", post(public_status))
        .route("/api/v1/status/{reference}", post(public_status_of).get(status_by_query_gone))
        .route("/api/openapi.json", get(openapi::spec))
        .fallback(|| async { ApiError::NotFound("No such API route".into()) })
}

/// `actions`: what the actor can take now; `blocked`: what the actor's role takes in this state
/// but the engine bars this actor from, with the reason as a code, its parameters and a
/// sentence. Both in the workflow file's order.
pub fn actions_json(lang: Lang, workflow: &Workflow, now: &ActionsNow) -> (Value, Value) {
    let codes = |a: &corridor_engine::actions::ActionInfo| -> Vec<Value> {
        a.reason_codes.iter().map(|r| json!({"code": r.code, "label": r.label.get(lang)})).collect()
    };
    let takeable = now
        .takeable
        .iter()
        .map(|a| {
            json!({"action": a.action, "label": a.label.get(lang), "comment": a.comment, "reason": a.reason,
                   "reason_codes": codes(a)})
        })
        .collect();
    let blocked = now
        .blocked
        .iter()
        .map(|b| {
            json!({
                "action": b.info.action,
                "label": b.info.label.get(lang),
                "reason": b.reason,
                "reason_codes": codes(&b.info),
                "message": crate::ui::case::block_message(lang, workflow, &b.reason),
            })
        })
        .collect();
    (Value::Array(takeable), Value::Array(blocked))
}

/// An application as the engine lets this caller be shown it ([`Shown`]: sensitive fields
/// masked unless the workflow names the caller's role, no holder for the firm).
pub fn application_json(lang: Lang, view: &ApplicationView, shown: &Shown, now: &ActionsNow) -> Value {
    let r = &view.record;
    let (actions, blocked) = actions_json(lang, &view.workflow, now);
    let state = view.workflow.state(&r.state);
    let mut body = json!({
        "reference": r.reference,
        "workflow": r.workflow_id,
        "workflow_version": r.workflow_version,
        "state": r.state,
        "state_label": state.map(|s| s.label.get(lang)),
        "public_status": state.map(|s| s.public.get(lang)),
        "version": r.version,
        "organisation_id": r.organisation_id,
        "fields": shown.fields,
        "masked": shown.masked,
        "deadline": r.deadline_at,
        "clock_paused": r.paused_remaining.is_some(),
        "escalated_at": shown.escalated_at,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "submitted_at": r.submitted_at,
        "actions": actions,
        "blocked": blocked,
    });
    if let Some(holder) = shown.assigned_to {
        body["assigned_to"] = json!(holder);
    }
    body
}

/// The client's address, for the access log.
pub fn client(addr: &SocketAddr) -> Client {
    Client::at(addr.ip())
}

/// An application as it is answered after a change: masked like a list (the firm sees its own
/// in full); `GET /api/v1/applications/{ref}` is the full view.
async fn changed_json(state: &AppState, lang: Lang, actor: &Actor, view: &ApplicationView) -> ApiResult<Value> {
    let now = state.engine.actions_now(actor, view).await?;
    let shown = state.engine.shown(actor, view, Disclosure::List, &Client::default()).await?;
    Ok(application_json(lang, view, &shown, &now))
}

fn document_json(d: &DocumentRecord) -> Value {
    json!({"id": d.id, "kind": d.kind, "filename": d.filename, "content_type": d.content_type,
           "size": d.size, "sha256": d.sha256, "uploaded_at": d.uploaded_at, "purged_at": d.purged_at})
}

/// One step of the firm's timeline: what its page shows, no more (no official's name or id,
/// no internal event, a comment only where the workflow lets it reach the applicant).
fn timeline_json(lang: Lang, e: &TimelineEntry) -> Value {
    let mut v = json!({
        "action": e.action, "from": e.from_state, "to": e.to_state, "at": e.at,
        "role": e.role,
        "actor": e.actor_name.clone().unwrap_or_else(|| crate::ui::timeline::role_label(lang, &e.role)),
        "comment": e.comment, "reason": e.reason,
        "reason_code": e.reason_code.as_ref().map(|r| &r.code),
        "reason_label": e.reason_code.as_ref().map(|r| r.label.get(lang)),
    });
    match &e.step {
        Step::Transition { label, status } => {
            v["label"] = json!(label.get(lang));
            v["status"] = json!(status.as_ref().map(|s| s.get(lang)));
        }
        Step::DocumentUploaded { document, .. } | Step::DocumentPurged { document, .. } => {
            v["document"] = json!(document);
        }
        Step::Created | Step::FieldsUpdated | Step::Other => {}
    }
    v
}

fn event_json(e: &AuditEvent) -> Value {
    json!({"seq": e.seq, "action": e.action, "from": e.from_state, "to": e.to_state,
           "actor": e.actor_name, "actor_id": e.actor_id, "role": e.role, "organisation_id": e.organisation_id,
           "comment": e.comment, "reason": e.reason, "data": e.data, "at": e.at, "hash": e.hash, "prev_hash": e.prev_hash})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateApplication {
    workflow: String,
    #[serde(default)]
    fields: Map<String, Value>,
}

async fn create_application(
    State(state): State<AppState>,
    ApiUser(actor): ApiUser,
    ApiLang(lang): ApiLang,
    ApiJson(body): ApiJson<CreateApplication>,
) -> ApiResult<Response> {
    let view = state.engine.create_application(&actor, &body.workflow, &body.fields).await?;
    let body = changed_json(&state, lang, &actor, &view).await?;
    let location = format!("/api/v1/applications/{}", view.record.reference);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(body)).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    workflow: Option<String>,
    q: Option<String>,
    limit: Option<i64>,
    /// Keyset cursor from the previous page's `next`.
    after: Option<String>,
}

async fn list_applications(
    State(state): State<AppState>,
    ApiUser(actor): ApiUser,
    ApiLang(lang): ApiLang,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let after = match q.after.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(
            parse_cursor(cursor)
                .ok_or_else(|| ApiError::BadRequest("`after` is not a cursor this API gave out".into()))?,
        ),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let filter = ApplicationFilter {
        workflow_id: q.workflow.filter(|s| !s.is_empty()),
        states: q.state.filter(|s| !s.is_empty()).map(|s| s.split(',').map(str::to_string).collect()),
        search: q.q.filter(|s| !s.trim().is_empty()),
        after,
        limit,
        ..Default::default()
    };
    let views = state.engine.applications(&actor, filter).await?;
    let next = (views.len() as i64 == limit)
        .then(|| views.last().map(|v| format_cursor(v.record.deadline_at, v.record.id)))
        .flatten();
    let mut items: Vec<Value> = Vec::with_capacity(views.len());
    for view in &views {
        let shown = state.engine.shown(&actor, view, Disclosure::List, &Client::default()).await?;
        items.push(application_json(lang, view, &shown, &state.engine.actions_now(&actor, view).await?));
    }
    Ok(Json(json!({"applications": items, "next": next})))
}

pub fn format_cursor(deadline: Option<chrono::DateTime<chrono::Utc>>, id: ApplicationId) -> String {
    match deadline {
        Some(d) => format!("{}_{id}", d.timestamp_micros()),
        None => format!("none_{id}"),
    }
}

pub fn parse_cursor(s: &str) -> Option<(Option<chrono::DateTime<chrono::Utc>>, ApplicationId)> {
    let (d, id) = s.split_once('_')?;
    let id = id.parse().ok()?;
    let deadline = if d == "none" { None } else { Some(chrono::DateTime::from_timestamp_micros(d.parse().ok()?)?) };
    Some((deadline, id))
}

async fn get_application(
    State(state): State<AppState>,
    ApiUser(actor): ApiUser,
    ApiLang(lang): ApiLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(reference): Path<String>,
) -> ApiResult<Json<Value>> {
    let reference = parse_reference(&reference)?;
    let (view, docs) = state.engine.documents(&actor, &reference).await?;
    let now = state.engine.actions_now(&actor, &view).await?;
    let shown = state.engine.shown(&actor, &view, Disclosure::Full, &client(&addr)).await?;
    let mut body = application_json(lang, &view, &shown, &now);
    body["documents"] = docs.iter().map(document_json).collect();
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateFields {
    expected_version: i64,
    fields: Map<String, Value>,
}

async fn update_fields(
    State(state): State<AppState>,
    ApiUser(actor): ApiUser,
    ApiLang(lang): ApiLang,
    Path(reference): Path<String>,
    ApiJson(body): ApiJson<UpdateFields>,
) -> ApiResult<Json<Value>> {
    let view =
        state.engine.update_fields(&actor, &parse_reference(&reference)?, body.expected_version, &body.fields).await?;
    Ok(Json(changed_json(&state, lang, &actor, &view).await?))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge("The file is too large to upload".into())
    } else {
        ApiError::BadRequest(format!("The upload could not be read: {}", e.body_text()))
    }
}

/// An upload whose declared length is over the limit is refused before it is parsed. The body
/// is read and dropped first (up to a bound) because closing a socket the client is still
/// writing to resets the connection, and the client would never see the 413 that explains why.
async fn refuse_oversized_upload(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let limit = state.settings.max_upload_bytes;
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let Some(declared) = declared.filter(|&n| n > limit as u64) else {
        return next.run(request).await;
    };
    // Only a caller with a valid token is worth reading a large body for.
    let (mut parts, body) = request.into_parts();
    if let Err(refused) =
        <ApiUser as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state).await
    {
        let mut response = refused.into_response();
        response.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        return response;
    }
    let request = axum::extract::Request::from_parts(parts, body);
    const DRAIN_AT_MOST: u64 = 128 * 1024 * 1024;
    if declared <= DRAIN_AT_MOST {
        use futures_util::StreamExt;
        let mut body = request.into_body().into_data_stream();
        while let Some(Ok(_)) = body.next().await {}
    }
    let mb = limit as f64 / (1024.0 * 1024.0);
    ApiError::TooLarge(format!("The file is too large to upload: the limit is {mb:.0} MB")).into_response()
}

async fn upload_document(
    State(state): State<AppState>,
    ApiUser(actor): ApiUser,
    Path(reference): Path<String>,
    mut multipart: Multipart,
) -> ApiResult<Response> {
    let upload = match read_upload(&mut multipart, state.settings.max_upload_bytes).await {
        Ok(u) => u,
        Err(UploadProblem::TooLarge { field: "file", max }) => {
            let mb = max as f64 / (1024.0 * 1024.0);
            return Err(ApiError::TooLarge(format!(
                "The file (`file`) is too large to upload: the limit is {mb:.0} MB"
            )));
        }
        Err(UploadProblem::TooLarge { field, .. }) => {
            return Err(EngineError::invalid(vec![FieldError::new(field, FieldProblem::TooLong { max: 200 })]).into());
        }
        Err(UploadProblem::Repeated(field)) => {
            return Err(ApiError::BadRequest(format!("Send one `{field}` per upload")));
        }
        Err(UploadProblem::Unreadable(e)) => return Err(multipart_error(e)),
    };
    let mut missing = Vec::new();
    if upload.kind.as_deref().is_none_or(str::is_empty) {
        missing.push(
            FieldError::new("kind", FieldProblem::Required)
                .labelled(&corridor_engine::text::Text::same("The kind of document (`kind`)")),
        );
    } else if upload.kind.as_deref().is_some_and(corridor_engine::fields::has_control) {
        missing.push(
            FieldError::new("kind", FieldProblem::ControlCharacter)
                .labelled(&corridor_engine::text::Text::same("The kind of document (`kind`)")),
        );
    }
    if upload.file.is_none() {
        missing.push(
            FieldError::new("file", FieldProblem::Required)
                .labelled(&corridor_engine::text::Text::same("File (`file`)")),
        );
    }
    if !missing.is_empty() {
        return Err(EngineError::invalid(missing).into());
    }
    let (kind, (filename, bytes)) = (upload.kind.unwrap_or_default(), upload.file.unwrap_or_default());
    let filename = if filename.is_empty() { "document".to_string() } else { filename };
    let doc = state.engine.upload_document(&actor, &parse_reference(&reference)?, &kind, &filename, &bytes).await?;
    Ok((StatusCode::CREATED, Json(document_json(&doc))).into_response())
}

async fn list_documents(
    State(state): State<AppState>,
    ApiUser(actor): ApiUser,
    Path(reference): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, docs) = state.engine.documents(&actor, &parse_reference(&reference)?).await?;
    Ok(Json(json!({"documents": docs.iter().map(document_json).collect::<Vec<_>>()})))
}

async fn download_document(
    State(state): State<AppState>,
    ApiUser(actor): ApiUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path((reference, id)): Path<(String, i64)>,
) -> ApiResult<Response> {
    let (doc, bytes) = state.engine.document_content(&actor, &parse_reference(&reference)?, id, &client(&addr)).await?;
    Ok(document_response(&doc, bytes, true))
}

/// A stored document, sent with its sniffed type; never rendered as HTML by the browser.
/// Never stored by a cache or a shared proxy: documents and personal data.
pub const NO_STORE: &str = "no-store";

pub fn document_response(doc: &DocumentRecord, bytes: Vec<u8>, attachment: bool) -> Response {
    (
        [
            (header::CONTENT_TYPE, doc.content_type.clone()),
            (header::CONTENT_DISPOSITION, content_disposition(&doc.filename, attachment)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox".to_string()),
            (header::CACHE_CONTROL, NO_STORE.to_string()),
        ],
        bytes,
    )
        .into_response()
}

/// RFC 6266: an ASCII `filename` for old clients, and the name itself as `filename*`
/// (RFC 8187, UTF-8, percent-encoded). The name is cleaned again here, so that one stored
/// before names were cleaned of bidi characters is not sent with them.
pub fn content_disposition(filename: &str, attachment: bool) -> String {
    let name = corridor_engine::service::clean_filename(filename);
    let ascii: String =
        name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ')).collect();
    // A name with no ASCII letters keeps at least its extension for old clients.
    let ascii = ascii.trim();
    let ascii = if ascii.is_empty() || ascii.starts_with('.') { format!("document{ascii}") } else { ascii.to_string() };
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let kind = if attachment { "attachment" } else { "inline" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

async fn take_transition(
    State(state): State<AppState>,
    ApiUser(actor): ApiUser,
    ApiLang(lang): ApiLang,
    Path(reference): Path<String>,
    ApiJson(request): ApiJson<TransitionRequest>,
) -> ApiResult<Json<Value>> {
    let reference = parse_reference(&reference)?;
    match state.engine.transition(&actor, &reference, &request).await {
        Ok(view) => {
            state.metrics.transitions.fetch_add(1, Ordering::Relaxed);
            Ok(Json(changed_json(&state, lang, &actor, &view).await?))
        }
        Err(e) => {
            if matches!(e, EngineError::StaleVersion { .. }) {
                state.metrics.transition_conflicts.fetch_add(1, Ordering::Relaxed);
            }
            Err(e.into())
        }
    }
}

async fn history(
    State(state): State<AppState>,
    ApiUser(actor): ApiUser,
    ApiLang(lang): ApiLang,
    Path(reference): Path<String>,
) -> ApiResult<Json<Value>> {
    let reference = parse_reference(&reference)?;
    // The firm reads exactly its page's timeline; staff read the audit record.
    if actor.is_applicant() {
        let (_, entries) = state.engine.timeline(&actor, &reference).await?;
        return Ok(Json(json!({"events": entries.iter().map(|e| timeline_json(lang, e)).collect::<Vec<_>>()})));
    }
    let events = state.engine.history(&actor, &reference).await?;
    Ok(Json(json!({"events": events.iter().map(event_json).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
struct AccessLogQuery {
    reference: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

/// The access log, newest first, for administrators (anyone else: 403).
async fn access_log(
    State(state): State<AppState>,
    ApiUser(actor): ApiUser,
    Query(q): Query<AccessLogQuery>,
) -> ApiResult<Json<Value>> {
    let reference = match q.reference.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => Some(parse_reference(r)?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100);
    let query = corridor_engine::model::AccessQuery { reference, user_id: None, before: q.before, limit };
    let lines = state.engine.access_log(&actor, query).await?;
    let next = (lines.len() as i64 == limit.clamp(1, corridor_engine::access::MAX_ACCESS_PAGE))
        .then(|| lines.last().map(|l| l.id))
        .flatten();
    let lines: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({"id": l.id, "at": l.at, "user_id": l.user_id, "actor": l.actor_name, "role": l.role,
                   "organisation_id": l.organisation_id, "reference": l.reference, "kind": l.kind,
                   "item": l.item, "document_id": l.document_id, "client": l.client})
        })
        .collect();
    Ok(Json(json!({"lines": lines, "next": next})))
}

/// A workflow as API clients and forms need it: fields with an example each, documents,
/// states, transitions and the role that may take each. Texts in `lang`; with `all_languages`
/// each item also carries `i18n`, every text of it as `{"en", "ar", "ur"}`.
pub fn workflow_json(lang: Lang, wf: &Workflow, all_languages: bool) -> Value {
    use corridor_engine::text::Text;
    let one = |t: &Text| json!(t.get(lang));
    let opt = |t: &Option<Text>| json!(t.as_ref().map(|t| t.get(lang)));
    let texts = |pairs: &[(&str, Option<&Text>)]| -> Option<Value> {
        all_languages
            .then(|| Value::Object(pairs.iter().filter_map(|(k, t)| t.map(|t| (k.to_string(), json!(t)))).collect()))
    };
    let with = |mut v: Value, i18n: Option<Value>| {
        if let Some(i18n) = i18n {
            v["i18n"] = i18n;
        }
        v
    };
    with(
        json!({
            "id": wf.id,
            "version": wf.version,
            "title": one(&wf.title),
            "description": opt(&wf.description),
            "calendar": wf.calendar,
            "roles": wf.roles,
            "look_up": wf.look_up,
            "reasons": wf.reasons.iter().map(|r| with(
                json!({"code": r.code, "label": one(&r.label)}),
                texts(&[("label", Some(&r.label))]),
            )).collect::<Vec<_>>(),
            "fields": wf.fields.iter().map(|f| with(json!({
                "name": f.name, "label": one(&f.label), "hint": opt(&f.hint), "type": f.field_type, "required": f.required,
                "pattern": f.pattern.as_ref().map(|p| p.as_str()), "pattern_message": opt(&f.pattern_message),
                "example": f.example,
                "options": f.options.iter().map(|o| with(
                    json!({"value": o.value, "label": one(&o.label)}),
                    texts(&[("label", Some(&o.label))]),
                )).collect::<Vec<_>>(),
                "min": f.min, "max": f.max, "sensitive": f.sensitive, "visible_to": f.visible_to,
            }), texts(&[("label", Some(&f.label)), ("hint", f.hint.as_ref()), ("pattern_message", f.pattern_message.as_ref())]))).collect::<Vec<_>>(),
            "documents": wf.documents.iter().map(|d| with(json!({
                "name": d.name, "label": one(&d.label), "hint": opt(&d.hint), "required": d.required, "accept": d.accept, "max_size": d.max_size,
            }), texts(&[("label", Some(&d.label)), ("hint", d.hint.as_ref())]))).collect::<Vec<_>>(),
            "states": wf.states.iter().map(|s| with(json!({
                "name": s.name, "label": one(&s.label), "public": one(&s.public), "next_steps": opt(&s.next_steps),
                "owner": s.owner, "initial": s.initial,
                "terminal": s.terminal, "deadline": s.deadline, "pauses_clock": s.pauses_clock, "on_deadline": s.on_deadline,
                "readers": s.readers,
            }), texts(&[("label", Some(&s.label)), ("public", Some(&s.public)), ("next_steps", s.next_steps.as_ref())]))).collect::<Vec<_>>(),
            "transitions": wf.transitions.iter().map(|t| with(json!({
                "action": t.action, "label": one(&t.label), "from": t.from,
                "to": match &t.to { Target::State(s) => s.clone(), Target::Return => "$return".into() },
                "by": t.by, "four_eyes": t.four_eyes, "comment": t.comment, "reason": t.reason,
                "reason_codes": t.reason_codes, "next_steps": opt(&t.next_steps),
                "comment_to_applicant": wf.comment_reaches_applicant(t),
                "requires": {"fields": t.requires_fields, "documents": t.requires_documents},
                // What the actor enters with it, sent as the transition's `fields`.
                "fields": t.fields.iter().map(|f| with(json!({
                    "name": f.name, "label": one(&f.label), "hint": opt(&f.hint), "type": f.field_type, "required": f.required,
                    "pattern": f.pattern.as_ref().map(|p| p.as_str()), "example": f.example,
                    "options": f.options.iter().map(|o| with(
                        json!({"value": o.value, "label": one(&o.label)}),
                        texts(&[("label", Some(&o.label))]),
                    )).collect::<Vec<_>>(),
                    "min": f.min, "max": f.max, "after": f.after,
                }), texts(&[("label", Some(&f.label)), ("hint", f.hint.as_ref())]))).collect::<Vec<_>>(),
            }), texts(&[("label", Some(&t.label)), ("next_steps", t.next_steps.as_ref())]))).collect::<Vec<_>>(),
        }),
        texts(&[("title", Some(&wf.title)), ("description", wf.description.as_ref())]),
    )
}

async fn list_workflows(
    State(state): State<AppState>,
    ApiUser(_actor): ApiUser,
    ApiLang(lang): ApiLang,
) -> Json<Value> {
    let items: Vec<Value> = state.engine.workflows().iter().map(|w| workflow_json(lang, w, false)).collect();
    Json(json!({"workflows": items}))
}

async fn get_workflow(
    State(state): State<AppState>,
    ApiUser(_actor): ApiUser,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let wf = state.engine.workflow(&id).ok_or_else(|| ApiError::NotFound(format!("There is no workflow `{id}`")))?;
    Ok(Json(workflow_json(lang, &wf, true)))
}

/// The public status look-up's body: the passport number travels here, never in the URL
/// (which proxies and logs keep).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    /// Given in the path instead for `POST /api/v1/status/{reference}`.
    reference: Option<String>,
    passport: String,
}

/// `POST /api/v1/status` with `{"reference", "passport"}`.
async fn public_status(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiLang(lang): ApiLang,
    ApiJson(body): ApiJson<StatusBody>,
) -> ApiResult<Response> {
    let Some(reference) = body.reference.clone().filter(|r| !r.trim().is_empty()) else {
        return Err(EngineError::invalid(vec![
            FieldError::new("reference", FieldProblem::Required)
                .labelled(&corridor_engine::text::Text::same("Reference (`reference`)")),
        ])
        .into());
    };
    look_up_status(&state, lang, addr, &reference, &body.passport).await
}

/// `POST /api/v1/status/{reference}` with `{"passport"}`.
async fn public_status_of(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(reference): Path<String>,
    ApiLang(lang): ApiLang,
    ApiJson(body): ApiJson<StatusBody>,
) -> ApiResult<Response> {
    if body.reference.as_deref().is_some_and(|r| r.trim() != reference) {
        return Err(ApiError::BadRequest("The body's `reference` differs from the one in the path".into()));
    }
    look_up_status(&state, lang, addr, &reference, &body.passport).await
}

/// The old `GET /api/v1/status/{reference}?passport=` put the passport number in the URL. It
/// is gone (410), and says what to send instead; nothing is looked up.
async fn status_by_query_gone() -> Response {
    let body = json!({"error": {
        "code": "gone",
        "message": "Send the passport number in a POST body: POST /api/v1/status/{reference} with {\"passport\": \"...\"}",
        "details": [],
    }});
    (StatusCode::GONE, Json(body)).into_response()
}

async fn look_up_status(
    state: &AppState,
    lang: Lang,
    addr: SocketAddr,
    reference: &str,
    passport: &str,
) -> ApiResult<Response> {
    if !state.status_limiter.allow(&addr.ip().to_string()) {
        return Err(ApiError::TooManyRequests(
            "Too many status look-ups from your address; wait a minute and try again".into(),
        ));
    }
    if passport.trim().is_empty() {
        return Err(EngineError::invalid(vec![
            FieldError::new("passport", FieldProblem::Required)
                .labelled(&corridor_engine::text::Text::same("Passport number (`passport`)")),
        ])
        .into());
    }
    let status = match parse_reference(reference.trim()) {
        Ok(reference) => state.engine.public_status(&reference, passport).await,
        Err(unknown) => Err(unknown),
    };
    match status {
        Ok(s) => {
            let next_steps = s.next_steps.as_ref().map(|n| n.get(lang));
            Ok(Json(json!({"reference": s.reference, "status": s.status.get(lang), "next_steps": next_steps}))
                .into_response())
        }
        Err(EngineError::NotFound(_)) => {
            Err(ApiError::NotFound("No application matches that reference and passport number".into()))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn downloads_name_the_file_as_rfc_6266_says() {
        assert_eq!(
            content_disposition("letter.pdf", true),
            "attachment; filename=\"letter.pdf\"; filename*=UTF-8''letter.pdf"
        );
        assert_eq!(
            content_disposition("invoice\u{202E}fdp.exe", false),
            "inline; filename=\"invoicefdp.exe\"; filename*=UTF-8''invoicefdp.exe",
            "a name stored before names were cleaned is cleaned again"
        );
        assert_eq!(
            content_disposition("خطاب التوظيف.pdf", true),
            "attachment; filename=\"document.pdf\"; filename*=UTF-8''%D8%AE%D8%B7%D8%A7%D8%A8%20%D8%A7%D9%84%D8%AA%D9%88%D8%B8%D9%8A%D9%81.pdf"
        );
        assert!(!content_disposition("a\"b;c.pdf", true).contains("a\"b"), "no quote breaks out of the header value");
    }
}
