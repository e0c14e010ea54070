//! The timeline of an application in plain language: the engine's [`TimelineEntry`]s (what
//! this actor may be told, decided in `corridor_engine::timeline`), worded for the page.

use chrono::{DateTime, Utc};
use corridor_engine::timeline::{Step, TimelineEntry};
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
            let (title, title_lang, status) = match &e.step {
                Step::Transition { label, status } => (label.clone(), Some("en"), status.clone()),
                Step::Created => (i18n::t(lang, "timeline.create"), None, None),
                Step::FieldsUpdated => (i18n::t(lang, "timeline.update_fields"), None, None),
                Step::DocumentUploaded { label, .. } => {
                    (i18n::t_args(lang, "timeline.upload_document", &[("label", label.clone())]), None, None)
                }
                Step::DocumentPurged { label, .. } => {
                    (i18n::t_args(lang, "timeline.purge_document", &[("label", label.clone())]), None, None)
                }
                Step::Other => {
                    let key = format!("timeline.{}", e.action);
                    let title = if i18n::has(&key) { i18n::t(lang, &key) } else { e.action.replace('_', " ") };
                    (title, None, None)
                }
            };
            Entry { at: e.at, title, title_lang, who, status, comment: e.comment.clone(), reason: e.reason.clone() }
        })
        .collect()
}
