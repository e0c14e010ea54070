//! Who is acting. Every read and transition names an actor; what an actor may see is decided
//! here, never only in a handler.
//!
//! Need to know: a firm reads its own applications; a member of staff reads an application
//! in a state when the workflow lets its role read that state ([`state_reading`]), or, for a
//! role the workflow names in `look_up`, any application past its draft by its reference.
//! Drafts are the firm's alone. Administrators and the scheduler read everything.

use serde::Serialize;

use crate::model::{ApplicationRecord, OrganisationId, User, UserId};
use crate::role::Role;
use crate::workflow::{Recipient, Workflow};

#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub name: String,
    pub role: Role,
    pub organisation_id: Option<OrganisationId>,
}

/// Whether an actor may read an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    Yes,
    No,
    /// Only if the actor's role has acted on the application (appears in its audit events):
    /// the default of a state that does not list its `readers`. The store answers it.
    IfActed,
}

/// How staff role `role` reads applications in `state`: always when it works the state (takes
/// a transition from it), owns it, or receives its escalation; else as the state's `readers`
/// say, or, where the state lists none, if it acted on the application. Never a draft.
pub fn state_reading(workflow: &Workflow, state: &str, role: &Role) -> Reading {
    let Some(def) = workflow.state(state) else { return Reading::No };
    if def.initial || *role == Role::APPLICANT || !workflow.roles.contains(role) {
        return Reading::No;
    }
    let owns = def.owner.as_ref() == Some(role);
    let works = workflow.transitions_from(state).any(|t| t.by == *role);
    let oversees = match def.escalate.as_ref().map(|e| &e.to) {
        Some(Recipient::Role(r)) => r == role,
        Some(Recipient::Owner) => owns,
        _ => false,
    };
    if owns || works || oversees {
        return Reading::Yes;
    }
    match &def.readers {
        Some(readers) if readers.contains(role) => Reading::Yes,
        Some(_) => Reading::No,
        None => Reading::IfActed,
    }
}

impl Actor {
    pub fn from_user(user: &User) -> Self {
        Actor {
            user_id: Some(user.id),
            name: user.name.clone(),
            role: user.role.clone(),
            organisation_id: Some(user.organisation_id),
        }
    }

    /// The scheduler, taking automatic transitions such as a lapse on deadline.
    pub fn system() -> Self {
        Actor { user_id: None, name: "Corridor scheduler".into(), role: Role::SYSTEM, organisation_id: None }
    }

    pub fn is_applicant(&self) -> bool {
        self.role == Role::APPLICANT
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::ADMIN
    }

    /// A person who works cases (reviewers, officers, supervisors): every role the workflows
    /// name besides the firm's, and never the scheduler or an administrator.
    pub fn is_staff(&self) -> bool {
        !self.is_applicant() && !self.is_admin() && self.role != Role::SYSTEM
    }

    /// The firm that applied, reading its own application.
    pub fn owns(&self, app: &ApplicationRecord) -> bool {
        self.is_applicant() && self.organisation_id == Some(app.organisation_id)
    }

    /// Reading one application by its reference: a role the workflow names in `look_up`
    /// reads any application past its draft; everyone else as in a list.
    pub fn may_see(&self, app: &ApplicationRecord, workflow: &Workflow) -> Reading {
        if self.is_staff() && app.state != workflow.initial_state().name && workflow.look_up.contains(&self.role) {
            return Reading::Yes;
        }
        self.may_list(app, workflow)
    }

    /// Reading an application in a list (queues, searches): by its state only.
    pub fn may_list(&self, app: &ApplicationRecord, workflow: &Workflow) -> Reading {
        if self.is_admin() || self.role == Role::SYSTEM {
            return Reading::Yes;
        }
        if self.is_applicant() {
            return if self.owns(app) { Reading::Yes } else { Reading::No };
        }
        state_reading(workflow, &app.state, &self.role)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::workflow::{LintContext, parse_workflow};

    fn visa() -> Workflow {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("qatar.toml"), "").expect("write calendar");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let ctx = LintContext {
            templates_dir: root.join("config/templates/email"),
            calendars_dir: dir.path().to_path_buf(),
            languages: crate::lang::LANGS.to_vec(),
        };
        let path = root.join("workflows/it-business-visa.yaml");
        let source = std::fs::read_to_string(&path).expect("read");
        parse_workflow(&path, &source, &ctx).expect("valid")
    }

    #[test]
    fn each_stage_is_read_by_the_roles_the_workflow_lets_read_it() {
        let w = visa();
        let role = |r: &str| Role::from(r);
        let reads = |state: &str, r: &str| state_reading(&w, state, &role(r));
        assert_eq!(reads("ministry_review", "ministry_reviewer"), Reading::Yes, "it works the stage");
        assert_eq!(reads("ministry_review", "ministry_supervisor"), Reading::Yes, "late cases escalate to it");
        assert_eq!(reads("ministry_review", "security_officer"), Reading::IfActed, "no `readers`: where it acted");
        assert_eq!(reads("security_clearance", "security_officer"), Reading::Yes);
        assert_eq!(reads("security_clearance", "ministry_reviewer"), Reading::No, "`readers` leaves it out");
        assert_eq!(reads("visa_refused", "ministry_reviewer"), Reading::IfActed);
        assert_eq!(reads("draft", "ministry_reviewer"), Reading::No, "a draft is the firm's");
        assert_eq!(reads("ministry_review", "applicant"), Reading::No, "the firm reads by organisation");
        assert_eq!(reads("ministry_review", "licensing_officer"), Reading::No, "not a role of this workflow");
        assert_eq!(w.look_up, [role("embassy_officer")]);
    }

    #[test]
    fn a_comment_reaches_the_firm_where_the_workflow_says() {
        let w = visa();
        let reaches = |from: &str, action: &str| w.comment_reaches_applicant(w.transition(from, action).expect("t"));
        assert!(reaches("ministry_review", "request_information"), "sends the case back to the firm");
        assert!(reaches("more_information", "respond"), "the firm's own");
        assert!(reaches("embassy_decision", "issue_visa"), "a decision");
        assert!(!reaches("ministry_review", "verify_firm"), "an internal note by default");
        assert!(!reaches("security_clearance", "clear"), "declared `comment_to_applicant: false`");
    }
}
