//! What happened to an application, as one actor may be told it. The firm reads the steps of
//! its application (transitions, its own edits and uploads, documents purged), never the
//! ministry's internal events (claims, releases, reassignments, escalations), never an
//! official's name or id (only the role), and a comment only where the workflow lets it
//! reach the applicant. Staff read every event with its author. The firm's pages and the API
//! both read this, so they cannot differ.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::actor::Actor;
use crate::error::EngineResult;
use crate::model::{AuditEvent, Reference, UserId};
use crate::role::Role;
use crate::service::{ApplicationView, Engine};
use crate::text::Text;
use crate::workflow::{ReasonDef, Workflow};

/// The audit action of a document whose content the retention rules deleted.
pub const PURGE_DOCUMENT: &str = "purge_document";

/// What a step was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// A transition of the workflow: its label, and the public status it led to.
    Transition {
        label: Text,
        status: Option<Text>,
    },
    Created,
    FieldsUpdated,
    /// A document uploaded: its kind and the label the workflow gives it.
    DocumentUploaded {
        document: String,
        label: Text,
    },
    /// A document's content deleted under the retention rules.
    DocumentPurged {
        document: String,
        label: Text,
    },
    /// Anything else (claims, releases, escalations...): staff only.
    Other,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub step: Step,
    pub role: Role,
    /// Who acted, by name: for the firm only its own people; for staff everyone.
    pub actor_name: Option<String>,
    /// Staff only.
    pub actor_id: Option<UserId>,
    pub comment: Option<String>,
    pub reason: Option<String>,
    /// The declared reason the actor chose (`reason_code` in the event data), with its
    /// wording; a code this version no longer declares is shown as it is.
    pub reason_code: Option<ReasonDef>,
}

fn document_label(workflow: &Workflow, e: &AuditEvent) -> (String, Text) {
    let kind = e.data.get("kind").and_then(|k| k.as_str()).unwrap_or("").to_string();
    let label = workflow.document(&kind).map(|d| d.label.clone()).unwrap_or_else(|| Text::same(kind.clone()));
    (kind, label)
}

/// The reason code an event carries (`reason_code` in its data), with the workflow's wording.
pub fn reason_of(workflow: &Workflow, e: &AuditEvent) -> Option<ReasonDef> {
    let code = e.data.get("reason_code")?.as_str()?;
    Some(workflow.reason(code).cloned().unwrap_or_else(|| ReasonDef {
        code: code.to_string(),
        label: Text::same(code.replace('_', " ")),
        pos: Default::default(),
    }))
}

/// The timeline of `events` (oldest first, as is the result) as `actor` may read it.
pub fn for_actor(actor: &Actor, workflow: &Workflow, events: &[AuditEvent]) -> Vec<TimelineEntry> {
    let firm = actor.is_applicant();
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let transition = e.from_state.as_deref().and_then(|from| workflow.transition(from, &e.action));
        let step = match (transition, e.action.as_str()) {
            (Some(t), _) => Step::Transition {
                label: t.label.clone(),
                status: e.to_state.as_deref().and_then(|s| workflow.state(s)).map(|s| s.public.clone()),
            },
            (None, "create") => Step::Created,
            (None, "update_fields") => Step::FieldsUpdated,
            (None, "upload_document") => {
                let (document, label) = document_label(workflow, e);
                Step::DocumentUploaded { document, label }
            }
            (None, PURGE_DOCUMENT) => {
                let (document, label) = document_label(workflow, e);
                Step::DocumentPurged { document, label }
            }
            (None, _) if firm => continue,
            (None, _) => Step::Other,
        };
        let comment = match transition {
            Some(t) if firm && !workflow.comment_reaches_applicant(t) => None,
            // Notes on claims and reassignments are internal.
            None if firm => None,
            _ => e.comment.clone(),
        };
        let by_firm = e.role == Role::APPLICANT;
        out.push(TimelineEntry {
            at: e.at,
            action: e.action.clone(),
            from_state: e.from_state.clone(),
            to_state: e.to_state.clone(),
            step,
            role: e.role.clone(),
            actor_name: (!firm || by_firm).then(|| e.actor_name.clone()),
            actor_id: if firm { None } else { e.actor_id },
            comment,
            reason: e.reason.clone(),
            reason_code: reason_of(workflow, e),
        });
    }
    out
}

impl Engine {
    /// The application and its timeline as `actor` may read them.
    pub async fn timeline(
        &self,
        actor: &Actor,
        reference: &Reference,
    ) -> EngineResult<(ApplicationView, Vec<TimelineEntry>)> {
        let view = self.application(actor, reference).await?;
        let events = self.store.history(view.record.id).await?;
        let entries = for_actor(actor, &view.workflow, &events);
        Ok((view, entries))
    }
}
