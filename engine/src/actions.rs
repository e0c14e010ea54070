//! "What may this actor do now?", answered once for the API, the case page and the firm's
//! pages. Each action the actor's role takes in the application's current state is tried with
//! [`transition::decide`] itself (with placeholder comment and reason, which the real request
//! brings), so what is offered as takeable is exactly what a transition then accepts, and
//! what is barred says why, in the terms decide refused it.
//!
//! Holding a case (claim, release, reassign in [`crate::queue`]) is not a condition of taking
//! its actions, so it never bars one.

use serde::Serialize;

use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::service::{ApplicationView, Engine};
use crate::store::{AuditEvent, DocumentRecord, Step};
use crate::text::Text;
use crate::transition::{self, FourEyesBlock, TransitionInput, TransitionRequest};
use crate::workflow::{Need, ReasonDef, TransitionDef, Workflow};

/// One action of the workflow, as a button or an API client needs it.
#[derive(Debug, Clone, Serialize)]
pub struct ActionInfo {
    pub action: String,
    pub label: Text,
    pub comment: Need,
    pub reason: Need,
    /// The reason codes offered (one is required when `reason` is required), with their
    /// wording.
    pub reason_codes: Vec<ReasonDef>,
    pub outcome: Option<String>,
    pub four_eyes: bool,
}

impl ActionInfo {
    pub fn of(workflow: &Workflow, t: &TransitionDef) -> Self {
        ActionInfo {
            action: t.action.clone(),
            label: t.label.clone(),
            comment: t.comment,
            reason: t.reason,
            reason_codes: t.reason_codes.iter().filter_map(|c| workflow.reason(c)).cloned().collect(),
            outcome: t.outcome.clone(),
            four_eyes: t.four_eyes,
        }
    }
}

/// Why an action the actor's role takes in this state is barred to this actor now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum BlockReason {
    /// Four-eyes: someone else must take it.
    FourEyes { rule: FourEyesBlock },
    /// The action requires complete fields or documents: the workflow fields still without a
    /// (valid) value, and the required documents not uploaded yet, by name.
    Missing { fields: Vec<String>, documents: Vec<String> },
}

impl BlockReason {
    pub fn code(&self) -> &'static str {
        match self {
            BlockReason::FourEyes { .. } => "four_eyes",
            BlockReason::Missing { .. } => "missing",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockedAction {
    #[serde(flatten)]
    pub info: ActionInfo,
    pub reason: BlockReason,
}

/// The actor's actions on one application now, each in the workflow file's order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActionsNow {
    pub takeable: Vec<ActionInfo>,
    pub blocked: Vec<BlockedAction>,
}

impl ActionsNow {
    pub fn takeable(&self, action: &str) -> bool {
        self.takeable.iter().any(|a| a.action == action)
    }

    pub fn blocked(&self, action: &str) -> Option<&BlockReason> {
        self.blocked.iter().find(|b| b.info.action == action).map(|b| &b.reason)
    }
}

impl Engine {
    /// What `actor` may do now on the application, from its history and documents (as read
    /// with the view). Actions of other roles are not listed, neither are those of the
    /// `system` role nor anything for an administrator.
    pub fn available_actions(
        &self,
        actor: &Actor,
        view: &ApplicationView,
        history: &[AuditEvent],
        documents: &[DocumentRecord],
    ) -> EngineResult<ActionsNow> {
        let calendar = self.calendar(&view.workflow)?;
        let steps: Vec<Step> = history.iter().map(Step::from).collect();
        let document_kinds: Vec<String> = documents.iter().map(|d| d.kind.clone()).collect();
        let mut out = ActionsNow::default();
        for t in view.workflow.transitions_from(&view.record.state).filter(|t| t.by == actor.role) {
            // Placeholder texts: a comment or reason is part of the request, not a bar.
            let filled = |need: Need| (need != Need::None).then(|| "-".to_string());
            let request = TransitionRequest {
                reason_code: t.reason_codes.first().cloned(),
                action: t.action.clone(),
                expected_version: view.record.version,
                comment: filled(t.comment),
                reason: filled(t.reason),
                // Likewise the official's own entries (the transition's `fields:`): their
                // examples, so that only what the actor cannot give here bars the action.
                fields: (!t.fields.is_empty()).then(|| {
                    t.fields.iter().map(|f| (f.name.clone(), serde_json::Value::String(f.example.clone()))).collect()
                }),
            };
            let trial = transition::decide(TransitionInput {
                workflow: &view.workflow,
                application: &view.record,
                steps: &steps,
                document_kinds: &document_kinds,
                calendar,
                actor,
                request: &request,
                now: self.now(),
            });
            let reason = match trial {
                Ok(_) => None,
                Err(EngineError::FourEyes(rule)) => Some(BlockReason::FourEyes { rule }),
                Err(EngineError::Unprocessable { details, .. }) => {
                    let mut fields = Vec::new();
                    let mut documents = Vec::new();
                    for d in &details {
                        if let Some(kind) = d.field.strip_prefix("documents.") {
                            documents.push(kind.to_string());
                        } else if view.workflow.field(&d.field).is_some() {
                            fields.push(d.field.clone());
                        }
                        // Anything else concerns the placeholder texts: not a bar.
                    }
                    (!fields.is_empty() || !documents.is_empty()).then_some(BlockReason::Missing { fields, documents })
                }
                // Not this actor's to take at all (another firm's case, a broken workflow).
                Err(_) => continue,
            };
            match reason {
                None => out.takeable.push(ActionInfo::of(&view.workflow, t)),
                Some(reason) => out.blocked.push(BlockedAction { info: ActionInfo::of(&view.workflow, t), reason }),
            }
        }
        Ok(out)
    }

    /// [`Engine::available_actions`], reading the history and documents first.
    pub async fn actions_now(&self, actor: &Actor, view: &ApplicationView) -> EngineResult<ActionsNow> {
        let history = self.store.history(view.record.id).await?;
        let documents = self.store.documents(view.record.id).await?;
        self.available_actions(actor, view, &history, &documents)
    }
}
