//! Who is acting. Every read and transition names an actor; what an actor may see is decided
//! here, never only in a handler.

use serde::Serialize;

use crate::model::{ApplicationRecord, OrganisationId, User, UserId};
use crate::role::Role;
use crate::workflow::Workflow;

#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub name: String,
    pub role: Role,
    pub organisation_id: Option<OrganisationId>,
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

    /// A firm sees only its own applications; staff whose role the workflow names see that
    /// workflow's applications once submitted; administrators and the scheduler see all.
    pub fn may_see(&self, app: &ApplicationRecord, workflow: &Workflow) -> bool {
        if self.is_admin() || self.role == Role::SYSTEM {
            return true;
        }
        if self.is_applicant() {
            return self.organisation_id == Some(app.organisation_id);
        }
        app.state != workflow.initial_state().name && workflow.roles.iter().any(|r| *r == self.role)
    }
}
