//! What happened to an application, in plain language, from its audit events.

use chrono::{DateTime, Utc};
use corridor_engine::role::Role;
use corridor_engine::store::AuditEvent;
use corridor_engine::workflow::Workflow;
use serde::Serialize;

use super::i18n::{self, Lang};

#[derive(Debug, Serialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    /// What happened: the transition's label, or a sentence from the catalogue.
    pub title: String,
    /// `Some("en")` when the title is the workflow's own words (not in the page's language).
    pub title_lang: Option<&'static str>,
    pub who: String,
    /// The public status it led to, for transitions.
    pub status: Option<String>,
    pub comment: Option<String>,
    pub reason: Option<String>,
}

/// A role's name for people (`role.<name>` in the catalogue, else the name in words).
pub fn role_label(lang: Lang, role: &str) -> String {
    let key = format!("role.{role}");
    if i18n::has(&key) { i18n::t(lang, &key) } else { role.replace('_', " ") }
}

/// Newest first. `staff_view`: show officials' names and internal steps (claims, field
/// edits); the firm sees the role instead of an official's name.
pub fn entries(lang: Lang, workflow: &Workflow, events: &[AuditEvent], staff_view: bool) -> Vec<Entry> {
    let mut out = Vec::with_capacity(events.len());
    for e in events.iter().rev() {
        let who = if e.role == Role::APPLICANT || staff_view {
            if e.role == Role::APPLICANT {
                e.actor_name.clone()
            } else {
                format!("{} ({})", e.actor_name, role_label(lang, &e.role))
            }
        } else {
            role_label(lang, &e.role)
        };
        let transition = e.from_state.as_deref().and_then(|from| workflow.transition(from, &e.action));
        let title_lang = transition.is_some().then_some("en");
        let (title, status) = match (transition, e.action.as_str()) {
            (Some(t), _) => {
                (t.label.clone(), e.to_state.as_deref().and_then(|s| workflow.state(s)).map(|s| s.public.clone()))
            }
            (None, "create") => (i18n::t(lang, "timeline.create"), None),
            (None, "update_fields") => (i18n::t(lang, "timeline.update_fields"), None),
            (None, "upload_document") => {
                let kind = e.data.get("kind").and_then(|k| k.as_str()).unwrap_or("");
                let label = workflow.document(kind).map(|d| d.label.clone()).unwrap_or_else(|| kind.to_string());
                (i18n::t_args(lang, "timeline.upload_document", &[("label", label)]), None)
            }
            (None, other) => {
                if !staff_view {
                    continue;
                }
                let key = format!("timeline.{other}");
                (if i18n::has(&key) { i18n::t(lang, &key) } else { other.replace('_', " ") }, None)
            }
        };
        out.push(Entry {
            at: e.at,
            title,
            title_lang,
            who,
            status,
            comment: e.comment.clone(),
            reason: e.reason.clone(),
        });
    }
    out
}
