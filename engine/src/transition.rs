//! The one function every transition goes through. It decides, purely, from the application,
//! its history and documents, the actor and the request, what one transition writes; the store
//! then applies that write in one database transaction, comparing the version it was decided on.

use crate::role::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::actor::Actor;
use crate::audit::storable_time;
use crate::calendar::Calendar;
use crate::error::{EngineError, EngineResult};
use crate::fields::{self, FieldError, FieldProblem};
use crate::model::jobs::{
    AboutApplication, DeadlineJob, EmailJob, EscalationJob, EventFacts, JobPayload, ReminderJob, WebhookJob,
};
use crate::model::{ApplicationRecord, NewAuditEvent, NewJob, Step, TransitionWrite, UserId};
use crate::workflow::{Need, StateDef, Target, Trigger, Workflow};

/// Attempts before a message becomes a dead letter.
pub const MESSAGE_ATTEMPTS: i32 = 8;
/// Longest comment or reason kept.
const MAX_TEXT: usize = 4000;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub action: String,
    pub expected_version: i64,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// One of the transition's `reason_codes` (a refusal's or a request's declared reason);
    /// stored in the event data as `reason_code`.
    #[serde(default)]
    pub reason_code: Option<String>,
    /// New field values given with the transition (e.g. when answering a request for more
    /// information); merged over what was given before.
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
}

/// Everything the decision needs, read before it is taken.
pub struct TransitionInput<'a> {
    pub workflow: &'a Workflow,
    pub application: &'a ApplicationRecord,
    /// The application's history, oldest first.
    pub steps: &'a [Step],
    /// The kinds of the documents uploaded.
    pub document_kinds: &'a [String],
    pub calendar: &'a Calendar,
    pub actor: &'a Actor,
    pub request: &'a TransitionRequest,
    pub now: DateTime<Utc>,
}

fn text(given: &Option<String>) -> Option<String> {
    given.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// The comment and the reason are the page's own inputs: the caller words their label.
fn need(what: &str, need: Need, value: &Option<String>, details: &mut Vec<FieldError>) {
    let problem = |p| FieldError::new(what, p);
    if need == Need::Required && value.is_none() {
        details.push(problem(FieldProblem::Required));
    }
    if need == Need::None && value.is_some() && what == "reason" {
        details.push(problem(FieldProblem::NotAllowed));
    }
    if value.as_ref().is_some_and(|v| v.chars().count() > MAX_TEXT) {
        details.push(problem(FieldProblem::TooLong { max: MAX_TEXT }));
    }
    if value.as_deref().is_some_and(crate::fields::has_control) {
        details.push(problem(FieldProblem::ControlCharacter));
    }
}

/// Why four-eyes keeps an actor from a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FourEyesBlock {
    /// The actor submitted the application.
    Submitted,
    /// The actor took the previous four-eyes step.
    PreviousApproval,
}

impl std::fmt::Display for FourEyesBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FourEyesBlock::Submitted => "You submitted this application, so someone else must approve it",
            FourEyesBlock::PreviousApproval => {
                "You took the previous approval of this application, so a second reviewer must take this one"
            }
        })
    }
}

/// The one who submitted, and the actor who took the last four-eyes step.
fn four_eyes_blockers(workflow: &Workflow, history: &[Step]) -> (Option<UserId>, Option<UserId>) {
    let initial = &workflow.initial_state().name;
    let submitter = history
        .iter()
        .find(|e| e.from_state.as_deref() == Some(initial.as_str()) && e.to_state.as_deref() != Some(initial.as_str()))
        .and_then(|e| e.actor_id);
    let last_approver = history
        .iter()
        .rev()
        .find(|e| {
            e.from_state.as_deref().and_then(|from| workflow.transition(from, &e.action)).is_some_and(|t| t.four_eyes)
        })
        .and_then(|e| e.actor_id);
    (submitter, last_approver)
}

/// Whether four-eyes keeps `actor` from a four-eyes step of this application.
pub fn four_eyes_block(workflow: &Workflow, history: &[Step], actor: &Actor) -> Option<FourEyesBlock> {
    let (submitter, last_approver) = four_eyes_blockers(workflow, history);
    let me = actor.user_id?;
    if submitter == Some(me) {
        Some(FourEyesBlock::Submitted)
    } else if last_approver == Some(me) {
        Some(FourEyesBlock::PreviousApproval)
    } else {
        None
    }
}

/// Decide a transition. Checks, in order: the action is open in this state (409), the actor's
/// role and organisation (403), the version (409), comment, reason, fields and documents (422),
/// four-eyes (403).
pub fn decide(input: TransitionInput<'_>) -> EngineResult<TransitionWrite> {
    let TransitionInput { workflow, application: app, steps, document_kinds, calendar, actor, request, now } = input;
    let now = storable_time(now);
    let Some(transition) = workflow.transition(&app.state, &request.action) else {
        return Err(EngineError::ActionNotOpen {
            action: request.action.clone(),
            state: app.state.clone(),
            open: workflow.transitions_from(&app.state).map(|t| t.action.clone()).collect(),
        });
    };
    if actor.role != transition.by {
        return Err(EngineError::Forbidden(format!(
            "only the {} role may take `{}`",
            transition.by.replace('_', " "),
            transition.action
        )));
    }
    if transition.by == Role::APPLICANT && actor.organisation_id != Some(app.organisation_id) {
        return Err(EngineError::NotFound("application".into()));
    }
    if request.expected_version != app.version {
        return Err(EngineError::StaleVersion { sent: request.expected_version, current: app.version });
    }

    let comment = text(&request.comment);
    let reason = text(&request.reason);
    let mut details = Vec::new();
    need("comment", transition.comment, &comment, &mut details);
    need("reason", transition.reason, &reason, &mut details);
    let reason_code = text(&request.reason_code);
    if let Some(problem) = reason_code_problem(transition, reason_code.as_deref()) {
        details.push(FieldError::new("reason_code", problem));
    }

    let mut values = app.fields.as_object().cloned().unwrap_or_default();
    let mut fields_changed = Vec::new();
    // The official's own entries (the transition's `fields:`), not the application's.
    let mut entered = None;
    if !transition.fields.is_empty() && actor.role != Role::APPLICANT {
        let given = request.fields.clone().unwrap_or_default();
        match fields::check_defs(&transition.fields, &given, true) {
            Ok(v) => entered = Some(v),
            Err(errs) => details.extend(errs),
        }
    }
    let applicant_fields =
        if transition.fields.is_empty() || actor.role == Role::APPLICANT { request.fields.as_ref() } else { None };
    if let Some(given) = applicant_fields {
        if actor.role != Role::APPLICANT {
            details.push(FieldError::new("fields", FieldProblem::NotAllowed));
        } else {
            for (k, v) in given {
                if values.get(k) != Some(v) {
                    fields_changed.push(k.clone());
                }
                values.insert(k.clone(), v.clone());
            }
        }
    }
    let checked = fields::check(workflow, &values, transition.requires_fields);
    let values = match checked {
        Ok(v) => v,
        Err(errs) => {
            details.extend(errs);
            values
        }
    };
    if transition.requires_documents {
        for doc in workflow.documents.iter().filter(|d| d.required) {
            if !document_kinds.contains(&doc.name) {
                details.push(
                    FieldError::new(&format!("documents.{}", doc.name), FieldProblem::Required).labelled(&doc.label),
                );
            }
        }
    }
    if !details.is_empty() {
        let message = format!("`{}` cannot be taken yet: {} to put right", transition.action, details.len());
        return Err(EngineError::Unprocessable { message, details });
    }

    if transition.four_eyes
        && let Some(block) = four_eyes_block(workflow, steps, actor)
    {
        return Err(EngineError::FourEyes(block));
    }

    let to_name = match &transition.to {
        Target::State(s) => s.clone(),
        Target::Return => app
            .previous_state
            .clone()
            .ok_or_else(|| EngineError::Internal(format!("{} has no state to return to", app.reference)))?,
    };
    let from_state = workflow
        .state(&app.state)
        .ok_or_else(|| EngineError::Internal(format!("state {} is not in the workflow", app.state)))?;
    let to_state = workflow
        .state(&to_name)
        .ok_or_else(|| EngineError::Internal(format!("state {to_name} is not in the workflow")))?;

    let (deadline_at, paused_remaining) =
        deadline_on_entry(calendar, app, from_state, to_state, transition.to == Target::Return, now);
    let new_version = app.version + 1;
    let initial = &workflow.initial_state().name;

    let mut data = Map::new();
    if !fields_changed.is_empty() {
        data.insert("fields_changed".into(), json!(fields_changed));
    }
    if let Some(d) = deadline_at {
        data.insert("deadline".into(), json!(d));
    }
    if let Some(outcome) = &transition.outcome {
        data.insert("outcome".into(), json!(outcome));
    }
    if let Some(code) = &reason_code {
        data.insert("reason_code".into(), json!(code));
    }
    if let Some(entered) = entered {
        data.insert("fields".into(), Value::Object(entered));
    }

    let mut jobs = follow_up_jobs(
        workflow,
        app,
        transition,
        from_state,
        to_state,
        new_version,
        deadline_at,
        calendar,
        now,
        &comment,
        &reason,
        &reason_code,
    );
    jobs.sort_by(|a, b| a.dedup_key.cmp(&b.dedup_key));

    Ok(TransitionWrite {
        chain_after: steps.last().map(|s| (s.seq, s.hash.clone())),
        application_id: app.id,
        expected_version: app.version,
        new_state: to_state.name.clone(),
        previous_state: Some(app.state.clone()),
        applicant_name: applicant_fields.map(|_| fields::applicant_name(workflow, &values).to_lowercase()),
        passport_number: applicant_fields.and_then(|_| fields::passport_number(workflow, &values)),
        fields: applicant_fields.map(|_| Value::Object(values)),
        submitted_at: (app.state == *initial && to_state.name != *initial).then_some(now),
        deadline_at,
        paused_remaining,
        // Set by the caller, which knows the revision of the calendar it passed.
        calendar_revision: 0,
        cancel_timers: true,
        audit: NewAuditEvent {
            actor_id: actor.user_id,
            actor_name: actor.name.clone(),
            role: actor.role.clone(),
            organisation_id: actor.organisation_id,
            action: transition.action.clone(),
            from_state: Some(app.state.clone()),
            to_state: Some(to_state.name.clone()),
            comment,
            reason,
            data: Value::Object(data),
            at: now,
        },
        jobs,
        now,
    })
}

/// What is wrong with the reason code given (`code`) for `transition`: one of its
/// `reason_codes` is needed when it has some and `reason: required`; none may be given when it
/// offers none; a code it does not offer is not a choice.
pub fn reason_code_problem(transition: &crate::workflow::TransitionDef, code: Option<&str>) -> Option<FieldProblem> {
    match code {
        None if transition.reason == Need::Required && !transition.reason_codes.is_empty() => {
            Some(FieldProblem::Required)
        }
        None => None,
        Some(_) if transition.reason_codes.is_empty() => Some(FieldProblem::NotAllowed),
        Some(c) if !transition.reason_codes.iter().any(|r| r == c) => {
            Some(FieldProblem::NotAChoice { options: transition.reason_codes.clone() })
        }
        Some(_) => None,
    }
}

/// The deadline of the state being entered, and the time left on a paused clock.
/// Entering a state that pauses the clock keeps what was left of the deadline being left;
/// returning from it to that state resumes with that time.
fn deadline_on_entry(
    calendar: &Calendar,
    app: &ApplicationRecord,
    from: &StateDef,
    to: &StateDef,
    returning: bool,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<Value>) {
    let own = to.deadline.map(|d| storable_time(calendar.add_duration(now, &d)));
    if to.pauses_clock {
        let kept = match (app.deadline_at, from.deadline) {
            (Some(deadline), Some(d)) => serde_json::to_value(calendar.remaining(deadline, now, d.unit)).ok(),
            _ => None,
        };
        return (own, kept);
    }
    if from.pauses_clock && returning {
        if let Some(remaining) = app.paused_remaining.as_ref().and_then(|v| serde_json::from_value(v.clone()).ok()) {
            return (Some(storable_time(calendar.resume(&remaining, now))), None);
        }
    }
    (own, None)
}

/// Notifications, webhooks and the timers of the state being entered.
#[allow(clippy::too_many_arguments)]
fn follow_up_jobs(
    workflow: &Workflow,
    app: &ApplicationRecord,
    transition: &crate::workflow::TransitionDef,
    from: &StateDef,
    to: &StateDef,
    new_version: i64,
    deadline_at: Option<DateTime<Utc>>,
    calendar: &Calendar,
    now: DateTime<Utc>,
    comment: &Option<String>,
    reason: &Option<String>,
    reason_code: &Option<String>,
) -> Vec<NewJob> {
    let action = transition.action.as_str();
    // An internal note never goes out to the firm: only a comment the workflow lets reach it.
    let to_applicant = |r: &crate::workflow::Recipient| match r {
        crate::workflow::Recipient::Applicant => true,
        crate::workflow::Recipient::Owner => to.owner.as_ref() == Some(&crate::role::Role::APPLICANT),
        crate::workflow::Recipient::Role(role) => *role == crate::role::Role::APPLICANT,
    };
    let fires = |on: &Trigger| match on {
        Trigger::Enter(s) => *s == to.name,
        Trigger::Leave(s) => *s == from.name,
        Trigger::Action(a) => a == action,
    };
    let key = |kind: &str, suffix: String| format!("{kind}:{}:v{new_version}:{suffix}", app.id);
    let about = AboutApplication {
        application_id: app.id,
        reference: app.reference.to_string(),
        workflow: workflow.id.clone(),
        state: to.name.clone(),
        version: new_version,
    };
    let mut jobs = Vec::new();
    for (i, rule) in workflow.notify.iter().enumerate() {
        if fires(&rule.on) {
            jobs.push(NewJob {
                dedup_key: key("email", format!("notify{i}")),
                application_id: Some(app.id),
                payload: JobPayload::Email(EmailJob {
                    about: about.clone(),
                    template: rule.template.clone(),
                    to: rule.email.clone(),
                    comment: comment
                        .clone()
                        .filter(|_| !to_applicant(&rule.email) || workflow.comment_reaches_applicant(transition)),
                    reason: reason.clone(),
                    action: action.to_string(),
                    // What the message will state, as of this transition: it may be sent
                    // after the case has moved on (a mail server down, a busy queue).
                    facts: Some(EventFacts {
                        workflow_version: workflow.version,
                        from_state: from.name.clone(),
                        deadline: deadline_at,
                        reason_code: reason_code.clone(),
                        at: now,
                    }),
                }),
                run_at: now,
                max_attempts: MESSAGE_ATTEMPTS,
            });
        }
    }
    for (i, hook) in workflow.webhooks.iter().enumerate() {
        if fires(&hook.on) {
            jobs.push(NewJob {
                dedup_key: key("webhook", format!("hook{i}")),
                application_id: Some(app.id),
                payload: JobPayload::Webhook(WebhookJob {
                    about: Some(about.clone()),
                    url: hook.url.clone(),
                    secret: hook.secret.clone(),
                    event: json!({
                        "type": "application.transition",
                        "reference": app.reference,
                        "workflow": workflow.id,
                        "action": action,
                        "from": from.name,
                        "to": to.name,
                        "public_status": to.public.en(),
                        "at": now,
                    }),
                }),
                run_at: now,
                max_attempts: MESSAGE_ATTEMPTS,
            });
        }
    }
    if let Some(deadline) = deadline_at {
        if let Some(action) = &to.on_deadline {
            jobs.push(NewJob {
                dedup_key: key("deadline", action.clone()),
                application_id: Some(app.id),
                payload: JobPayload::Deadline(DeadlineJob {
                    about: about.clone(),
                    action: action.clone(),
                    deadline: None,
                }),
                run_at: deadline,
                max_attempts: MESSAGE_ATTEMPTS,
            });
        }
        for (i, r) in to.remind.iter().enumerate() {
            let at = storable_time(calendar.subtract_duration(deadline, &r.before_deadline));
            jobs.push(NewJob {
                dedup_key: key("reminder", i.to_string()),
                application_id: Some(app.id),
                payload: JobPayload::Reminder(ReminderJob {
                    about: about.clone(),
                    template: r.template.clone(),
                    to: r.to.clone(),
                    deadline,
                }),
                run_at: at.max(now),
                max_attempts: MESSAGE_ATTEMPTS,
            });
        }
        if let Some(e) = &to.escalate {
            let at = storable_time(calendar.add_duration(deadline, &e.after_deadline));
            jobs.push(NewJob {
                dedup_key: key("escalation", "0".into()),
                application_id: Some(app.id),
                payload: JobPayload::Escalation(EscalationJob {
                    about: about.clone(),
                    template: e.template.clone(),
                    to: Some(e.to.clone()),
                    deadline,
                }),
                run_at: at,
                max_attempts: MESSAGE_ATTEMPTS,
            });
        }
    }
    jobs
}
