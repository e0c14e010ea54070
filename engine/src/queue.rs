//! Review queues: which stages a role works, the cases waiting there in deadline order (keyset
//! pages, so a page costs the same at the first case and the millionth), how urgent each one
//! is, and who holds it (claim, release, reassign, each an audit event).
//!
//! A role *works* a stage when the workflow lets it take a transition out of that state; that
//! is the only rule, so a new workflow file brings its queues with it. Holding a case does not
//! decide who may take its actions; [`crate::actions`] answers that.

use crate::role::Role;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::model::{
    ApplicationEdit, ApplicationFilter, ApplicationId, ApplicationRecord, AuditEvent, Organisation, OrganisationId,
    Reference, User, UserId,
};
use crate::service::{ApplicationView, Engine};
use crate::text::Text;
use crate::workflow::{DurationUnit, Workflow};

/// Largest queue page.
pub const MAX_PAGE: i64 = 100;

/// One stage (a workflow's state) that a role works.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub workflow_id: String,
    pub workflow_title: Text,
    pub state: String,
    /// The state's label for staff, as the workflow file writes it.
    pub label: Text,
}

/// How near its deadline a case is. `DueSoon` starts where the workflow's first reminder for
/// the state would fire (the ministry's own idea of "nearly due"), else one working day before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Overdue,
    DueSoon,
    OnTime,
    NoDeadline,
}

/// Whose cases to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assigned {
    #[default]
    Anyone,
    /// Claimed by the actor.
    Me,
    /// Claimed by nobody yet.
    Nobody,
}

/// Which cases a queue lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The stages the actor's role works.
    #[default]
    Work,
    /// Oversight: the overdue or escalated cases of every stage whose escalation goes to the
    /// actor's role (read-only where the role does not also work the stage).
    Late,
}

/// Keyset position: the (deadline, id) of the last case seen (no deadline sorts last).
pub type Cursor = (Option<DateTime<Utc>>, ApplicationId);

#[derive(Debug, Clone, Default)]
pub struct QueueQuery {
    pub workflow_id: Option<String>,
    pub state: Option<String>,
    /// One firm's cases.
    pub organisation_id: Option<OrganisationId>,
    /// A reference (whole or its start) or part of the applicant's name.
    pub search: Option<String>,
    pub assigned: Assigned,
    pub scope: Scope,
    pub after: Option<Cursor>,
    pub limit: i64,
}

#[derive(Debug, Clone)]
pub struct QueueItem {
    pub view: ApplicationView,
    pub urgency: Urgency,
    pub escalated: bool,
    pub assignee: Option<User>,
    pub organisation: Option<Organisation>,
    /// The actor's role works the case's stage (may claim it); false for cases shown to a
    /// supervisor for oversight only.
    pub works: bool,
}

#[derive(Debug, Clone)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    /// Where the next page starts, when there is one.
    pub next: Option<Cursor>,
}

/// A decision that ended an application, for the decision letter.
#[derive(Debug, Clone)]
pub struct Decision {
    pub view: ApplicationView,
    /// The transition's label ("Issue visa").
    pub label: Text,
    /// `granted`, `refused`... as the workflow names it.
    pub outcome: String,
    pub event: AuditEvent,
    /// The deciding official's organisation (the issuing authority).
    pub authority: Option<Organisation>,
    /// The declared reason the official chose (`reason_code` in the event data), with its
    /// wording in each language.
    pub reason_code: Option<crate::workflow::ReasonDef>,
    /// What the applicant may do next (the transition's `next_steps`), e.g. on a refusal.
    pub next_steps: Option<Text>,
}

fn sort_key(r: &ApplicationRecord) -> (bool, Option<DateTime<Utc>>, ApplicationId) {
    (r.deadline_at.is_none(), r.deadline_at, r.id)
}

/// Roles that take a transition out of `state`.
pub fn roles_working(workflow: &Workflow, state: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = workflow
        .transitions_from(state)
        .map(|t| t.by.clone())
        .filter(|r| r != Role::APPLICANT && r != Role::SYSTEM)
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

fn works(actor: &Actor, workflow: &Workflow, state: &str) -> bool {
    !actor.is_applicant() && workflow.transitions_from(state).any(|t| t.by == actor.role)
}

/// The state's late cases escalate to the actor's role.
fn supervises(actor: &Actor, state: &crate::workflow::StateDef) -> bool {
    use crate::workflow::Recipient;
    !actor.is_applicant()
        && match state.escalate.as_ref().map(|e| &e.to) {
            Some(Recipient::Role(role)) => *role == actor.role,
            Some(Recipient::Owner) => state.owner.as_deref() == Some(actor.role.as_str()),
            _ => false,
        }
}

/// Overdue (the deadline has passed) or already escalated.
fn late(record: &ApplicationRecord, now: DateTime<Utc>) -> bool {
    record.escalated_at.is_some() || record.deadline_at.is_some_and(|d| d <= now)
}

impl Engine {
    /// The stages the actor's role works, over every loaded workflow version (an application
    /// stays on the version it started with); labels from the newest version.
    pub fn stages(&self, actor: &Actor) -> Vec<Stage> {
        self.stages_where(actor, |wf, state| works(actor, wf, &state.name))
    }

    /// The stages whose late cases escalate to the actor's role (`escalate: {to: ROLE}`), in
    /// the same order as [`Engine::stages`]: what a supervisor oversees.
    pub fn supervised_stages(&self, actor: &Actor) -> Vec<Stage> {
        self.stages_where(actor, |_, state| supervises(actor, state))
    }

    fn stages_where(&self, actor: &Actor, pick: impl Fn(&Workflow, &crate::workflow::StateDef) -> bool) -> Vec<Stage> {
        let mut out: BTreeMap<(String, String), Stage> = BTreeMap::new();
        for wf in self.workflows.all_versions() {
            if !wf.roles.contains(&actor.role) {
                continue;
            }
            for state in wf.states.iter().filter(|s| !s.terminal && !s.initial) {
                if pick(wf, state) {
                    out.insert(
                        (wf.id.clone(), state.name.clone()),
                        Stage {
                            workflow_id: wf.id.clone(),
                            workflow_title: wf.title.clone(),
                            state: state.name.clone(),
                            label: state.label.clone(),
                        },
                    );
                }
            }
        }
        // Workflow order, then the order the file lists its states (the order cases move).
        let mut stages: Vec<Stage> = out.into_values().collect();
        let position = |s: &Stage| {
            self.workflows
                .latest(&s.workflow_id)
                .and_then(|w| w.states.iter().position(|st| st.name == s.state))
                .unwrap_or(usize::MAX)
        };
        stages.sort_by(|a, b| a.workflow_id.cmp(&b.workflow_id).then(position(a).cmp(&position(b))));
        stages
    }

    /// How near its deadline the application is, on its workflow's calendar.
    pub fn urgency(&self, view: &ApplicationView) -> Urgency {
        let Some(deadline) = view.record.deadline_at else {
            return Urgency::NoDeadline;
        };
        let now = self.now();
        if deadline <= now {
            return Urgency::Overdue;
        }
        let Ok(calendar) = self.calendar(&view.workflow) else {
            return Urgency::OnTime;
        };
        let warn_from = match view.workflow.state(&view.record.state).and_then(|s| s.remind.first()) {
            Some(r) => calendar.subtract_duration(deadline, &r.before_deadline),
            None => calendar
                .subtract_duration(deadline, &crate::workflow::Duration { amount: 1, unit: DurationUnit::WorkingDays }),
        };
        if now >= warn_from { Urgency::DueSoon } else { Urgency::OnTime }
    }

    /// One page of the actor's queue: cases in the stages the actor works (or, with
    /// [`Scope::Late`], the late cases of the stages it oversees), nearest deadline first.
    /// Each stage is read by its own keyset query on (state, deadline, id) and the pages are
    /// merged, so the cost does not grow with the number of cases. Late cases are a prefix of
    /// that order (deadline passed), so they cost no more.
    pub async fn queue(&self, actor: &Actor, query: &QueueQuery) -> EngineResult<QueuePage> {
        let limit = query.limit.clamp(1, MAX_PAGE);
        let now = self.now();
        let only_late = query.scope == Scope::Late;
        let all_stages = match query.scope {
            Scope::Work => self.stages(actor),
            Scope::Late => self.supervised_stages(actor),
        };
        let stages: Vec<Stage> = all_stages
            .into_iter()
            .filter(|s| query.workflow_id.as_ref().is_none_or(|w| *w == s.workflow_id))
            .filter(|s| query.state.as_ref().is_none_or(|st| *st == s.state))
            .collect();
        if stages.is_empty() {
            return Ok(QueuePage { items: vec![], next: None });
        }
        let me = actor.user_id;
        let search = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
        crate::fields::check_query_text([("q", search)]).map_err(EngineError::invalid)?;
        let mut records: Vec<ApplicationRecord> = Vec::new();
        if let Some(reference) = search.and_then(|s| s.parse::<Reference>().ok()) {
            // A whole reference: one indexed read instead of a scan.
            if let Some(r) = self.store.application_by_reference(&reference).await? {
                let keep = stages.iter().any(|s| s.workflow_id == r.workflow_id && s.state == r.state)
                    && query.organisation_id.is_none_or(|o| o == r.organisation_id)
                    && match query.assigned {
                        Assigned::Anyone => true,
                        Assigned::Me => r.assigned_to.is_some() && r.assigned_to == me,
                        Assigned::Nobody => r.assigned_to.is_none(),
                    }
                    && (!only_late || late(&r, now))
                    && query.after.is_none();
                if keep {
                    records.push(r);
                }
            }
        } else {
            for stage in &stages {
                let filter = ApplicationFilter {
                    organisation_id: query.organisation_id,
                    workflow_id: Some(stage.workflow_id.clone()),
                    states: Some(vec![stage.state.clone()]),
                    exclude_states: vec![],
                    search: search.map(str::to_string),
                    assigned_to: if query.assigned == Assigned::Me {
                        Some(me.unwrap_or(UserId::new(-1)))
                    } else {
                        None
                    },
                    unassigned: query.assigned == Assigned::Nobody,
                    after: query.after,
                    limit: limit + 1,
                    // A stage the actor works or oversees is one its role reads.
                    readable: None,
                };
                let mut found = self.store.applications(&filter).await?;
                if only_late {
                    // Deadline order: the late ones come first; the rest are not late either.
                    found.retain(|r| late(r, now));
                }
                records.extend(found);
            }
            records.sort_by_key(sort_key);
        }
        let more = records.len() as i64 > limit;
        records.truncate(limit as usize);
        let next = if more { records.last().map(|r| (r.deadline_at, r.id)) } else { None };

        let mut users: HashMap<UserId, Option<User>> = HashMap::new();
        let mut organisations: HashMap<OrganisationId, Option<Organisation>> = HashMap::new();
        let mut items = Vec::with_capacity(records.len());
        for record in records {
            let workflow =
                self.workflows.get(&record.workflow_id, record.workflow_version as u32).ok_or_else(|| {
                    EngineError::Internal(format!(
                        "workflow {} v{} is not loaded",
                        record.workflow_id, record.workflow_version
                    ))
                })?;
            if actor.may_list(&record, &workflow) != crate::actor::Reading::Yes {
                continue;
            }
            let assignee = match record.assigned_to {
                Some(id) => match users.get(&id) {
                    Some(u) => u.clone(),
                    None => {
                        let u = self.store.user(id).await.ok();
                        users.insert(id, u.clone());
                        u
                    }
                },
                None => None,
            };
            let organisation = match organisations.get(&record.organisation_id) {
                Some(o) => o.clone(),
                None => {
                    let o = self.store.organisation(record.organisation_id).await.ok();
                    organisations.insert(record.organisation_id, o.clone());
                    o
                }
            };
            let works = works(actor, &workflow, &record.state);
            let view = ApplicationView { record, workflow };
            items.push(QueueItem {
                works,
                urgency: self.urgency(&view),
                escalated: view.record.escalated_at.is_some(),
                assignee,
                organisation,
                view,
            });
        }
        Ok(QueuePage { items, next })
    }

    /// The case, for an actor whose role works its current stage.
    async fn worked_case(
        &self,
        actor: &Actor,
        reference: &Reference,
        expected_version: i64,
    ) -> EngineResult<ApplicationView> {
        let view = self.application(actor, reference).await?;
        if !works(actor, &view.workflow, &view.record.state) {
            return Err(EngineError::Forbidden(format!(
                "the {} role does not work the stage `{}`",
                actor.role.replace('_', " "),
                view.record.state
            )));
        }
        if expected_version != view.record.version {
            return Err(EngineError::StaleVersion { sent: expected_version, current: view.record.version });
        }
        Ok(view)
    }

    async fn assign(
        &self,
        actor: &Actor,
        view: &ApplicationView,
        expected_version: i64,
        to: Option<&User>,
        action: &str,
        note: Option<String>,
    ) -> EngineResult<ApplicationView> {
        let now = self.now();
        let record = self
            .store
            .edit_application(ApplicationEdit {
                application_id: view.record.id,
                expected_version,
                fields: None,
                applicant_name: None,
                passport_number: None,
                assigned_to: Some(to.map(|u| u.id)),
                audit: crate::store::NewAuditEvent {
                    actor_id: actor.user_id,
                    actor_name: actor.name.clone(),
                    role: actor.role.clone(),
                    organisation_id: actor.organisation_id,
                    action: action.to_string(),
                    from_state: Some(view.record.state.clone()),
                    to_state: Some(view.record.state.clone()),
                    comment: note,
                    reason: None,
                    data: json!({
                        "assigned_to": to.map(|u| u.id),
                        "assignee": to.map(|u| u.name.clone()),
                        "previous_assignee": view.record.assigned_to,
                    }),
                    at: now,
                },
                now,
            })
            .await?;
        Ok(ApplicationView { record, workflow: view.workflow.clone() })
    }

    /// Take the case: the actor becomes its holder in this stage (until it moves on, or is
    /// released or reassigned). Claiming one's own case again changes nothing.
    pub async fn claim(
        &self,
        actor: &Actor,
        reference: &Reference,
        expected_version: i64,
    ) -> EngineResult<ApplicationView> {
        let view = self.worked_case(actor, reference, expected_version).await?;
        match view.record.assigned_to {
            Some(holder) if Some(holder) == actor.user_id => Ok(view),
            Some(_) => Err(EngineError::ActionNotOpen {
                action: "claim".into(),
                state: view.record.state.clone(),
                open: vec![],
            }),
            None => {
                let me = self
                    .store
                    .user(
                        actor
                            .user_id
                            .ok_or_else(|| EngineError::Forbidden("only a signed-in user claims a case".into()))?,
                    )
                    .await?;
                self.assign(actor, &view, expected_version, Some(&me), "claim", None).await
            }
        }
    }

    /// Give the case back to the stage's queue. Only its holder releases it; others reassign.
    pub async fn release(
        &self,
        actor: &Actor,
        reference: &Reference,
        expected_version: i64,
    ) -> EngineResult<ApplicationView> {
        let view = self.worked_case(actor, reference, expected_version).await?;
        if view.record.assigned_to.is_none() || view.record.assigned_to != actor.user_id {
            return Err(EngineError::ActionNotOpen {
                action: "release".into(),
                state: view.record.state.clone(),
                open: vec![],
            });
        }
        self.assign(actor, &view, expected_version, None, "release", None).await
    }

    /// Users who could hold the case in its current stage (active, with a role that works
    /// it), other than its holder.
    pub async fn assignees(&self, view: &ApplicationView) -> EngineResult<Vec<User>> {
        let mut out = Vec::new();
        for role in roles_working(&view.workflow, &view.record.state) {
            for user in self.store.users_with_role(&role).await? {
                if !user.disabled && Some(user.id) != view.record.assigned_to {
                    out.push(user);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Hand the case to another user who works its stage, with an optional note (kept in
    /// the audit event).
    pub async fn reassign(
        &self,
        actor: &Actor,
        reference: &Reference,
        expected_version: i64,
        to_user: UserId,
        note: Option<&str>,
    ) -> EngineResult<ApplicationView> {
        let view = self.worked_case(actor, reference, expected_version).await?;
        let not_eligible = || {
            EngineError::invalid(vec![crate::fields::FieldError::new(
                "assignee",
                crate::fields::FieldProblem::NotEligible,
            )])
        };
        let target = self.assignees(&view).await?.into_iter().find(|u| u.id == to_user).ok_or_else(not_eligible)?;
        let note = note.map(str::trim).filter(|n| !n.is_empty()).map(|n| n.chars().take(4000).collect());
        self.assign(actor, &view, expected_version, Some(&target), "reassign", note).await
    }

    /// The decision that ended the application (a transition with an outcome into its
    /// current, terminal state); "not found" before there is one.
    pub async fn decision(&self, actor: &Actor, reference: &Reference) -> EngineResult<Decision> {
        let view = self.application(actor, reference).await?;
        let not_decided = || EngineError::NotFound("decision".into());
        let terminal = view.workflow.state(&view.record.state).is_some_and(|s| s.terminal);
        if !terminal {
            return Err(not_decided());
        }
        let history = self.store.history(view.record.id).await?;
        let (event, transition) = history
            .iter()
            .rev()
            .find(|e| {
                e.to_state.as_deref() == Some(view.record.state.as_str())
                    && e.from_state.as_deref() != Some(view.record.state.as_str())
            })
            .and_then(|e| {
                e.from_state
                    .as_deref()
                    .and_then(|from| view.workflow.transition(from, &e.action))
                    .map(|t| (e.clone(), t.clone()))
            })
            .ok_or_else(not_decided)?;
        let outcome = transition.outcome.clone().ok_or_else(not_decided)?;
        let mut event = event;
        if actor.is_applicant() && !view.workflow.comment_reaches_applicant(&transition) {
            event.comment = None;
        }
        let authority = match event.organisation_id {
            Some(id) => self.store.organisation(id).await.ok(),
            None => None,
        };
        let reason_code = crate::timeline::reason_of(&view.workflow, &event);
        Ok(Decision {
            label: transition.label.clone(),
            outcome,
            event,
            authority,
            reason_code,
            next_steps: transition.next_steps.clone(),
            view,
        })
    }
}
