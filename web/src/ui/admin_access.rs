//! The administrator's access log (`/admin/access`): who saw a sensitive field in full or
//! downloaded a document, when, of which application, and from which address, newest first,
//! optionally for one application. The log is append-only; this page only reads it.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use corridor_engine::error::EngineError;
use corridor_engine::model::AccessQuery;
use serde::{Deserialize, Serialize};
use tera::Context;

use super::admin::Admin;
use super::error::UiResult;
use super::forms::FormErrors;
use super::i18n;
use super::timeline::role_label;
use super::views::render_status;
use crate::AppState;
use crate::extract::reference as parse_reference;

/// Lines on one page.
const PAGE: i64 = 100;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/access", get(access_log))
}

#[derive(Deserialize)]
struct AccessParams {
    reference: Option<String>,
    before: Option<i64>,
}

#[derive(Serialize)]
struct Line {
    id: i64,
    at: DateTime<Utc>,
    who: String,
    role: String,
    reference: String,
    /// `field` or `document`.
    kind: &'static str,
    /// The field's or the document kind's name in the workflow file.
    item: String,
    client: Option<String>,
}

async fn access_log(State(state): State<AppState>, admin: Admin, Query(q): Query<AccessParams>) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let given = q.reference.as_deref().map(str::trim).unwrap_or("").to_string();
    let mut errors = FormErrors::default();
    let mut status = StatusCode::OK;
    let mut query = AccessQuery { before: q.before, limit: PAGE, ..AccessQuery::default() };
    if !given.is_empty() {
        let found = match parse_reference(&given) {
            Ok(reference) => state.engine.access_log_reference(&admin.actor, &reference).await,
            Err(unknown) => Err(unknown),
        };
        match found {
            Ok(reference) => query.reference = Some(reference),
            Err(EngineError::NotFound(_)) => {
                errors.add("reference", "#reference", i18n::t(lang, "admin.access.error.not_found"));
                status = StatusCode::NOT_FOUND;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let records = if errors.is_empty() { state.engine.access_log(&admin.actor, query).await? } else { vec![] };
    let lines: Vec<Line> = records
        .iter()
        .map(|r| Line {
            id: r.id,
            at: r.at,
            who: r.actor_name.clone(),
            role: role_label(lang, &r.role),
            reference: r.reference.to_string(),
            kind: r.kind.as_str(),
            item: r.item.clone(),
            client: r.client.clone(),
        })
        .collect();
    let next = (lines.len() as i64 == PAGE).then(|| lines.last().map(|l| l.id)).flatten().map(|id| {
        let mut pairs = vec![("before".to_string(), id.to_string())];
        if !given.is_empty() {
            pairs.push(("reference".to_string(), given.clone()));
        }
        format!("/admin/access?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
    });
    let mut page = Context::new();
    page.insert("reference", &given);
    page.insert("lines", &lines);
    page.insert("next", &next);
    errors.insert_into(&mut page);
    render_status(&admin.ctx, status, "admin/access.html", page)
}
