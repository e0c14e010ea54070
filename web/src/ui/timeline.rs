//! The timeline of an application in plain language: the engine's [`TimelineEntry`]s (what
//! this actor may be told, decided in `corridor_engine::timeline`), worded for the page.

use chrono::{DateTime, Utc};
use corridor_engine::timeline::{Step, TimelineEntry};
use serde::Serialize;

use super::i18n::{self, Lang};

#[derive(Debug, Serialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    /// What happened: the transition's label in the page's language, or a sentence from the
    /// catalogue.
    pub title: String,
    pub who: String,
    /// The public status it led to, for transitions.
    pub status: Option<String>,
    pub comment: Option<String>,
    pub reason: Option<String>,
    /// The declared reason chosen (its wording in the page's language), beside the free text.
    pub reason_code: Option<String>,
}

/// A role's name for people (`role.<name>` in the catalogue, else the name in words).
pub fn role_label(lang: Lang, role: &str) -> String {
    let key = format!("role.{role}");
    if i18n::has(&key) { i18n::t(lang, &key) } else { role.replace('_', " ") }
}

/// Newest first. A person's name where the engine gives one (with the role for staff), else
/// the role.
pub fn entries(lang: Lang, timeline: &[TimelineEntry]) -> Vec<Entry> {
    timeline
        .iter()
        .rev()
        .map(|e| {
            let who = match &e.actor_name {
                Some(name) if e.role == corridor_engine::role::Role::APPLICANT => name.clone(),
                Some(name) => format!("{name} ({})", role_label(lang, &e.role)),
                None => role_label(lang, &e.role),
            };
            let (title, status) = match &e.step {
                Step::Transition { label, status } => {
                    (label.get(lang).to_string(), status.as_ref().map(|s| s.get(lang).to_string()))
                }
                Step::Created => (i18n::t(lang, "timeline.create"), None),
                Step::FieldsUpdated => (i18n::t(lang, "timeline.update_fields"), None),
                Step::DocumentUploaded { label, .. } => {
                    (i18n::t_args(lang, "timeline.upload_document", &[("label", label.get(lang).to_string())]), None)
                }
                Step::DocumentPurged { label, .. } => {
                    (i18n::t_args(lang, "timeline.purge_document", &[("label", label.get(lang).to_string())]), None)
                }
                Step::Other => {
                    let key = format!("timeline.{}", e.action);
                    let title = if i18n::has(&key) { i18n::t(lang, &key) } else { e.action.replace('_', " ") };
                    (title, None)
                }
            };
            Entry {
                at: e.at,
                title,
                who,
                status,
                comment: e.comment.clone(),
                reason: e.reason.clone(),
                reason_code: e.reason_code.as_ref().map(|r| r.label.get(lang).to_string()),
            }
        })
        .collect()
}
