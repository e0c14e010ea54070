//! The scheduler: the one worker that does everything that happens later.
//!
//! Work is rows in the `jobs` table (written by transitions in the same database
//! transaction, or by this module). Each instance loops: it claims due jobs with a lease
//! (PostgreSQL: `FOR UPDATE SKIP LOCKED`), runs them, and completes them, or records the
//! failure with a retry time (exponential backoff with full jitter, [`RetryPolicy`]) or, after
//! the last try or a permanent failure, as a dead letter an administrator sees and can retry.
//! A job held by an instance that died is claimed again once its lease has run out.
//!
//! Job kinds:
//!
//! * `email` (a workflow's `notify` rule), `reminder`, `escalation` and `digest` (a cron
//!   schedule) *fan out*: they resolve their recipients (a role, the role owning the state or
//!   the assigned reviewer, or the applicant firm's users) and enqueue one `message` job per
//!   recipient, keyed `<parent key>:u<user id>`. The keys make a repeated fan-out (after a
//!   crash) enqueue nothing new.
//! * `message` renders its template in the recipient's language and sends it with a
//!   Message-ID derived from its key, so a message sent again after a crash carries the same
//!   id. One message per job: a retry never repeats messages to other recipients. What it
//!   states (stage, deadline, reason, comment) travels from the job that fanned it out, which
//!   a transition wrote: it is never read again from the application ([`messages`]).
//! * `webhook` signs and posts the event; 5xx, 408, 429 and time-outs are retried.
//! * `deadline` takes the state's automatic action (e.g. `lapse`) as the `system` actor.
//!
//! Timers (`reminder`, `escalation`, `deadline`) run only while the application is still in
//! the state entry they were made for: same state, entered no later than the job was
//! created. Otherwise they complete as obsolete. (Transitions also cancel the pending timers
//! of the state they leave; this check covers a timer already claimed at that moment.)
//!
//! Cron schedules of the workflow files live in the `schedules` table ([`schedules`]).
//!
//! Everything time-based takes `now` from the caller ([`Scheduler::run_due_once`]); the loop
//! ([`Scheduler::spawn`]) reads the engine's clock, so tests move a manual clock by days.

mod messages;
pub mod retention;
pub mod schedules;

pub use messages::describe_time;

use crate::role::Role;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, json};

use crate::actor::Actor;
use crate::error::EngineError;
use crate::lang::Lang;
use crate::mail::{EmailAddress, EmailTemplates, MailError, Mailer, OutgoingEmail, TemplateContext};
use crate::model::jobs::{
    AboutApplication, ApplicationFacts, DeadlineJob, DigestFacts, DigestJob, EmailJob, EscalationJob, JobPayload,
    MessageFacts, MessageJob, OverdueCase, ReminderJob, WebhookJob,
};
use crate::retry::{FailureKind, RetryDecision, RetryPolicy};
use crate::service::{ApplicationView, Engine};
use crate::store::{
    ApplicationFilter, ApplicationRecord, Job, JobId, JobStatus, NewAuditEvent, NewJob, StoreError, User,
};
use crate::transition::TransitionRequest;
use crate::webhook;
use crate::workflow::{Recipient, Workflow};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("webhook client: {0}")]
    Http(String),
}

/// How an instance's scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Names this instance in `jobs.locked_by`: host, process id and a random part.
    pub worker_id: String,
    /// How long a claimed job is held before another instance may take it over.
    pub lease_seconds: i64,
    /// Jobs claimed (and run concurrently) at a time.
    pub batch_size: i64,
    /// Pause between two looks for due work when there was none.
    pub poll_interval: StdDuration,
    /// Backoff; `max_attempts` comes from each job.
    pub retry: RetryPolicy,
    pub webhook_timeout: StdDuration,
    /// Special-purpose addresses webhooks may reach anyway (`[webhooks] allow_private`).
    pub webhook_destinations: webhook::Destinations,
    /// Base of the links in messages, e.g. `https://corridor.example.gov`.
    pub public_url: String,
    /// `retention.documents_after_days`: document contents are purged that many days after
    /// their application ended, by a daily run; 0 keeps them.
    pub documents_retention_days: u32,
}

impl SchedulerSettings {
    pub fn new(lease_seconds: i64, poll_interval: StdDuration, public_url: impl Into<String>) -> Self {
        SchedulerSettings {
            worker_id: worker_id(),
            lease_seconds: lease_seconds.max(1),
            batch_size: 32,
            poll_interval,
            retry: RetryPolicy::default(),
            webhook_timeout: webhook::DEFAULT_TIMEOUT,
            webhook_destinations: webhook::Destinations::default(),
            public_url: public_url.into().trim_end_matches('/').to_string(),
            documents_retention_days: 0,
        }
    }
}

/// `host:pid:random`: unique per process, readable in the jobs table.
pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}:{:08x}", std::process::id(), rand::random::<u32>())
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub claimed: usize,
    pub done: usize,
    /// Timers whose application had moved on, completed without effect.
    pub obsolete: usize,
    pub retried: usize,
    pub dead: usize,
    pub schedules_fired: usize,
}

impl RunReport {
    fn add(&mut self, outcome: &Outcome, dead: bool) {
        match outcome {
            Outcome::Done => self.done += 1,
            Outcome::Obsolete(_) => self.obsolete += 1,
            Outcome::Failed(_) if dead => self.dead += 1,
            Outcome::Failed(_) => self.retried += 1,
        }
    }
}

/// Why a try failed.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    kind: FailureKind,
    message: String,
    retry_after: Option<Duration>,
}

impl Failure {
    fn permanent(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::Permanent, message: message.into(), retry_after: None }
    }

    fn transient(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::Transient, message: message.into(), retry_after: None }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        // The database may come back; the job stays claimed until then.
        Failure::transient(e.to_string())
    }
}

impl From<MailError> for Failure {
    fn from(e: MailError) -> Self {
        Failure { kind: e.kind(), message: e.to_string(), retry_after: None }
    }
}

#[derive(Debug)]
pub(crate) enum Outcome {
    Done,
    Obsolete(String),
    Failed(Failure),
}

pub struct Scheduler {
    engine: Arc<Engine>,
    mailer: Mailer,
    templates: EmailTemplates,
    settings: SchedulerSettings,
}

impl Scheduler {
    pub fn new(
        engine: Arc<Engine>,
        mailer: Mailer,
        templates: EmailTemplates,
        settings: SchedulerSettings,
    ) -> Result<Arc<Self>, SchedulerError> {
        // Webhooks build their HTTP client per delivery, pinned to the addresses checked
        // (see `webhook::deliver_with`).
        Ok(Arc::new(Scheduler { engine, mailer, templates, settings }))
    }

    pub fn settings(&self) -> &SchedulerSettings {
        &self.settings
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Run the loop until the task is dropped or aborted: do all due work (the re-timing of
    /// deadlines counted on an older calendar first), sleep a poll interval.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            tracing::info!(worker = %self.settings.worker_id, mail = %self.mailer.describe(), "scheduler started");
            loop {
                match self.run_due_once(self.engine.now()).await {
                    Ok(r) if r.claimed > 0 || r.schedules_fired > 0 => {
                        tracing::info!(?r, "scheduler pass")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "scheduler pass failed"),
                }
                tokio::time::sleep(self.settings.poll_interval).await;
            }
        })
    }

    /// Do everything due at `now`: fire cron schedules, then claim and run due jobs until none
    /// is left (jobs enqueued on the way, e.g. the messages a reminder fans out to, included).
    /// Jobs that fail are retried later than `now`, so this returns.
    pub async fn run_due_once(self: &Arc<Self>, now: DateTime<Utc>) -> Result<RunReport, SchedulerError> {
        // Deadlines counted on an older calendar revision than the newest (a change made on
        // any instance) are repaired before their timers are looked at; with none, this is
        // one indexed read.
        // A failure here must not hold up the messages: the next pass tries again.
        if let Err(e) = self.engine.retime_deadlines(&crate::actor::Actor::system()).await {
            tracing::warn!(error = %e, "could not recount the deadlines on the changed calendars");
        }
        let fired = self.fire_schedules(now).await?
            + self.fire_checkpoint_schedule(now).await?
            + self.fire_retention(now).await?;
        let mut report = RunReport { schedules_fired: fired, ..RunReport::default() };
        loop {
            // A pass can take longer than a lease: each batch is claimed (and its lease
            // counted) from the clock's time when it is claimed, never from the start of the
            // pass, or another instance would find the lease already over.
            let now = self.engine.now().max(now);
            let jobs = self
                .engine
                .store
                .claim_jobs(&self.settings.worker_id, now, self.settings.lease_seconds, self.settings.batch_size)
                .await?;
            if jobs.is_empty() {
                return Ok(report);
            }
            report.claimed += jobs.len();
            let heartbeat = self.keep_leases(jobs.iter().map(|j| j.id).collect());
            let mut running = tokio::task::JoinSet::new();
            for job in jobs {
                let me = self.clone();
                running.spawn(async move {
                    let outcome = me.execute(&job, now).await;
                    let dead = me.settle(&job, &outcome, now).await;
                    (outcome, dead)
                });
            }
            while let Some(result) = running.join_next().await {
                match result {
                    Ok((outcome, Ok(dead))) => report.add(&outcome, dead),
                    Ok((_, Err(e))) => {
                        tracing::warn!(error = %e, "could not record a job's outcome; its lease will run out")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a job task failed; its lease will run out")
                    }
                }
            }
            heartbeat.abort();
        }
    }

    /// While a batch runs, move its lease forward every third of the lease, so that a slow
    /// message (an SMTP server taking its time) is not taken over and sent twice by another
    /// instance. An instance that dies stops its heartbeat: its jobs are free a lease later.
    fn keep_leases(self: &Arc<Self>, ids: Vec<JobId>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let lease = me.settings.lease_seconds.max(1);
            let beat = StdDuration::from_millis((lease as u64 * 1000 / 3).max(200));
            loop {
                tokio::time::sleep(beat).await;
                let until = me.engine.now() + Duration::seconds(lease);
                if let Err(e) = me.engine.store.extend_leases(&ids, &me.settings.worker_id, until).await {
                    tracing::warn!(error = %e, "could not extend the leases of running jobs");
                }
            }
        })
    }

    /// Complete or fail the job; returns whether it became a dead letter.
    async fn settle(&self, job: &Job, outcome: &Outcome, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let store = &self.engine.store;
        let worker = &self.settings.worker_id;
        match outcome {
            Outcome::Done => {
                store.complete_job(job.id, worker, now).await?;
                Ok(false)
            }
            Outcome::Obsolete(why) => {
                tracing::info!(job = job.id.get(), key = %job.dedup_key, why = %why, "timer no longer applies");
                store.complete_job(job.id, worker, now).await?;
                Ok(false)
            }
            Outcome::Failed(f) => {
                let policy = RetryPolicy { max_attempts: job.max_attempts.max(1) as u32, ..self.settings.retry };
                match policy.decide(job.attempts.max(1) as u32, now, f.kind, f.retry_after) {
                    RetryDecision::RetryAt(at) => {
                        tracing::warn!(job = job.id.get(), key = %job.dedup_key, attempt = job.attempts, retry_at = %at, error = %f.message, "job failed; will retry");
                        store.fail_job(job.id, worker, &f.message, Some(at), now).await?;
                        Ok(false)
                    }
                    RetryDecision::DeadLetter => {
                        tracing::error!(job = job.id.get(), key = %job.dedup_key, attempt = job.attempts, error = %f.message, "job failed for good: dead letter");
                        store.fail_job(job.id, worker, &f.message, None, now).await?;
                        Ok(true)
                    }
                }
            }
        }
    }

    async fn execute(&self, job: &Job, now: DateTime<Utc>) -> Outcome {
        let result = match job.parse_payload() {
            Ok(JobPayload::Email(p)) => self.notify(job, &p, now).await,
            Ok(JobPayload::Reminder(p)) => self.remind(job, &p, now).await,
            Ok(JobPayload::Escalation(p)) => self.escalate(job, &p, now).await,
            Ok(JobPayload::Deadline(p)) => self.deadline(job, &p, now).await,
            Ok(JobPayload::Webhook(p)) => self.webhook(job, &p).await,
            Ok(JobPayload::Message(p)) => self.send_message(job, &p).await,
            Ok(JobPayload::Digest(p)) => self.digest(job, &p, now).await,
            Ok(JobPayload::Checkpoint(_)) => self.checkpoint().await,
            Ok(JobPayload::Retention(p)) => self.retention(&p, now).await,
            Err(e) => Err(Failure::permanent(e.to_string())),
        };
        result.unwrap_or_else(Outcome::Failed)
    }

    // ---- applications and recipients ----

    async fn application(&self, job: &Job, about: &AboutApplication) -> Result<ApplicationView, Failure> {
        let id = job.application_id.unwrap_or(about.application_id);
        let record = match self.engine.store.application(id).await {
            Ok(r) => r,
            Err(StoreError::NotFound(_)) => {
                return Err(Failure::permanent(format!("application {id} does not exist")));
            }
            Err(e) => return Err(e.into()),
        };
        let workflow =
            self.engine.workflows.get(&record.workflow_id, record.workflow_version as u32).ok_or_else(|| {
                Failure::permanent(format!(
                    "workflow {} v{} is not loaded",
                    record.workflow_id, record.workflow_version
                ))
            })?;
        Ok(ApplicationView { record, workflow })
    }

    /// Whether a timer still belongs to the application's current stay in its state.
    fn timer_applies(job: &Job, about: &AboutApplication, app: &ApplicationRecord) -> Result<(), String> {
        let state = &about.state;
        if app.state != *state {
            return Err(format!("{} is now in `{}`, the timer was for `{state}`", app.reference, app.state));
        }
        if app.state_entered_at > job.created_at {
            return Err(format!("{} entered `{state}` again after the timer was set", app.reference));
        }
        Ok(())
    }

    async fn recipients(&self, to: &Recipient, view: &ApplicationView, state: &str) -> Result<Vec<User>, Failure> {
        let store = &self.engine.store;
        let users = match to {
            Recipient::Owner => {
                if let Some(assignee) = view.record.assigned_to.filter(|_| view.record.state == state) {
                    // The reviewer who claimed the case, not the whole team.
                    vec![store.user(assignee).await?]
                } else {
                    match view.workflow.state(state).and_then(|s| s.owner.clone()) {
                        Some(role) if role == Role::APPLICANT => self.applicant_users(&view.record).await?,
                        Some(role) => store.users_with_role(&role).await?,
                        None => Vec::new(),
                    }
                }
            }
            Recipient::Applicant => self.applicant_users(&view.record).await?,
            Recipient::Role(role) => store.users_with_role(role).await?,
        };
        Ok(users.into_iter().filter(|u| !u.disabled).collect())
    }

    async fn applicant_users(&self, app: &ApplicationRecord) -> Result<Vec<User>, Failure> {
        let users = self.engine.store.users_with_role(&Role::APPLICANT).await?;
        Ok(users.into_iter().filter(|u| u.organisation_id == app.organisation_id).collect())
    }

    fn link(&self, user_role: &str, reference: &str) -> String {
        if user_role == Role::APPLICANT {
            format!("{}/applications/{reference}", self.settings.public_url)
        } else {
            format!("{}/cases/{reference}", self.settings.public_url)
        }
    }

    /// Enqueue one `message` job per recipient, each carrying the facts to state.
    async fn fan_out(
        &self,
        job: &Job,
        template: &str,
        users: &[User],
        facts: MessageFacts,
        now: DateTime<Utc>,
    ) -> Result<usize, Failure> {
        if !self.templates.contains(template) {
            return Err(Failure::permanent(format!("there is no e-mail template `{template}`")));
        }
        let messages: Vec<NewJob> = users
            .iter()
            .map(|u| {
                let link = match &facts {
                    MessageFacts::Application(f) => self.link(&u.role, &f.reference),
                    MessageFacts::Digest(_) => format!("{}/queue", self.settings.public_url),
                };
                let mut context = Map::new();
                context.insert("link".into(), json!(link));
                NewJob {
                    dedup_key: format!("{}:u{}", job.dedup_key, u.id),
                    application_id: job.application_id,
                    payload: JobPayload::Message(MessageJob {
                        template: template.to_string(),
                        user_id: u.id,
                        context,
                        facts: Some(facts.clone()),
                    }),
                    run_at: now,
                    max_attempts: job.max_attempts,
                }
            })
            .collect();
        let count = messages.len();
        if count == 0 {
            tracing::warn!(key = %job.dedup_key, template, "no one to send this message to (no active user in the role)");
        }
        self.engine.store.enqueue_jobs(messages).await?;
        Ok(count)
    }

    // ---- job kinds ----

    /// A workflow `notify` rule: about an event that happened, so it is sent whatever state
    /// the application is in now, and states what was true at the event.
    async fn notify(&self, job: &Job, p: &EmailJob, now: DateTime<Utc>) -> Result<Outcome, Failure> {
        let view = self.application(job, &p.about).await?;
        let record = &view.record;
        let facts = match &p.facts {
            Some(f) => ApplicationFacts {
                reference: p.about.reference.clone(),
                workflow: p.about.workflow.clone(),
                workflow_version: f.workflow_version,
                state: p.about.state.clone(),
                deadline: f.deadline,
                from_state: Some(f.from_state.clone()),
                action: Some(p.action.clone()),
                comment: p.comment.clone(),
                reason: p.reason.clone(),
                reason_code: f.reason_code.clone(),
                at: Some(f.at),
            },
            // Written before the facts were frozen: the application's deadline is the event's
            // only while nothing has happened to it since; otherwise none is stated.
            None => ApplicationFacts {
                reference: p.about.reference.clone(),
                workflow: p.about.workflow.clone(),
                workflow_version: record.workflow_version as u32,
                state: p.about.state.clone(),
                deadline: record.deadline_at.filter(|_| record.version == p.about.version),
                from_state: None,
                action: Some(p.action.clone()),
                comment: p.comment.clone(),
                reason: p.reason.clone(),
                reason_code: None,
                at: None,
            },
        };
        self.send_about(job, &view, &p.template, &p.to, facts, now).await
    }

    /// A timer's message: the stage it belongs to and its deadline come from the timer.
    fn timer_facts(view: &ApplicationView, about: &AboutApplication, deadline: DateTime<Utc>) -> ApplicationFacts {
        ApplicationFacts {
            reference: about.reference.clone(),
            workflow: about.workflow.clone(),
            workflow_version: view.record.workflow_version as u32,
            state: about.state.clone(),
            deadline: Some(deadline),
            from_state: None,
            action: None,
            comment: None,
            reason: None,
            reason_code: None,
            at: None,
        }
    }

    /// Fan a message about an application out to its recipients.
    async fn send_about(
        &self,
        job: &Job,
        view: &ApplicationView,
        template: &str,
        to: &Recipient,
        facts: ApplicationFacts,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Failure> {
        let users = self.recipients(to, view, &facts.state).await?;
        self.fan_out(job, template, &users, MessageFacts::Application(facts), now).await?;
        Ok(Outcome::Done)
    }

    async fn remind(&self, job: &Job, p: &ReminderJob, now: DateTime<Utc>) -> Result<Outcome, Failure> {
        let view = self.application(job, &p.about).await?;
        if let Err(why) = Self::timer_applies(job, &p.about, &view.record) {
            return Ok(Outcome::Obsolete(why));
        }
        let facts = Self::timer_facts(&view, &p.about, p.deadline);
        self.send_about(job, &view, &p.template, &p.to, facts, now).await
    }

    /// After the deadline: mark the application escalated (the queue shows it; recorded in
    /// its audit chain) and write to the supervisors.
    async fn escalate(&self, job: &Job, p: &EscalationJob, now: DateTime<Utc>) -> Result<Outcome, Failure> {
        let view = self.application(job, &p.about).await?;
        if let Err(why) = Self::timer_applies(job, &p.about, &view.record) {
            return Ok(Outcome::Obsolete(why));
        }
        let system = Actor::system();
        self.engine
            .store
            .mark_escalated(
                view.record.id,
                &view.record.state,
                NewAuditEvent {
                    actor_id: None,
                    actor_name: system.name.clone(),
                    role: system.role.clone(),
                    organisation_id: None,
                    action: "escalate".into(),
                    from_state: Some(view.record.state.clone()),
                    to_state: Some(view.record.state.clone()),
                    comment: None,
                    reason: None,
                    data: json!({"deadline": view.record.deadline_at, "to": p.to}),
                    at: crate::audit::storable_time(now),
                },
            )
            .await?;
        let Some(to) = &p.to else {
            return Ok(Outcome::Done);
        };
        let facts = Self::timer_facts(&view, &p.about, p.deadline);
        self.send_about(job, &view, &p.template, to, facts, now).await
    }

    /// The state's automatic action when its deadline passes, taken as the `system` actor.
    async fn deadline(&self, job: &Job, p: &DeadlineJob, now: DateTime<Utc>) -> Result<Outcome, Failure> {
        let view = self.application(job, &p.about).await?;
        if let Err(why) = Self::timer_applies(job, &p.about, &view.record) {
            return Ok(Outcome::Obsolete(why));
        }
        if view.record.deadline_at.is_some_and(|d| d > now) {
            return Ok(Outcome::Obsolete(format!("the deadline of {} moved later", view.record.reference)));
        }
        let action = p.action.as_str();
        let request = TransitionRequest {
            reason_code: None,
            action: action.to_string(),
            expected_version: view.record.version,
            comment: None,
            reason: None,
            fields: None,
        };
        match self.engine.transition(&Actor::system(), &view.record.reference, &request).await {
            Ok(after) => {
                tracing::info!(reference = %after.record.reference, action, state = %after.record.state, "automatic transition on deadline");
                Ok(Outcome::Done)
            }
            Err(EngineError::ActionNotOpen { state, .. }) => {
                Ok(Outcome::Obsolete(format!("`{action}` is no longer open in `{state}`")))
            }
            // Someone changed the application meanwhile: look again on the next try.
            Err(e @ EngineError::StaleVersion { .. }) => Err(Failure::transient(e.to_string())),
            Err(EngineError::Store(e)) => Err(Failure::transient(e.to_string())),
            Err(e) => Err(Failure::permanent(e.to_string())),
        }
    }

    async fn webhook(&self, job: &Job, p: &WebhookJob) -> Result<Outcome, Failure> {
        let secret = p
            .secret
            .as_deref()
            .ok_or_else(|| Failure::permanent("the webhook has no secret; add `secret: env:NAME` to the workflow"))?;
        // The signature carries wall-clock time: the receiver compares it with its own clock.
        match webhook::deliver_with(
            &self.settings.webhook_destinations,
            &p.url,
            secret,
            &p.event,
            self.settings.webhook_timeout,
            Some(&job.dedup_key),
            Utc::now(),
        )
        .await
        {
            Ok(()) => Ok(Outcome::Done),
            Err(e) => Err(Failure {
                kind: e.kind(),
                message: e.to_string(),
                retry_after: e.retry_after().and_then(|d| Duration::from_std(d).ok()),
            }),
        }
    }

    /// One message to one person, in their language.
    async fn send_message(&self, job: &Job, p: &MessageJob) -> Result<Outcome, Failure> {
        let user_id = p.user_id;
        let user = match self.engine.store.user(user_id).await {
            Ok(u) => u,
            Err(StoreError::NotFound(_)) => {
                return Ok(Outcome::Obsolete(format!("user {user_id} no longer exists")));
            }
            Err(e) => return Err(e.into()),
        };
        if user.disabled {
            return Ok(Outcome::Obsolete(format!("the account of {} is disabled", user.email)));
        }
        // The preference stored now: a user who changed language since the event reads the
        // message in the new one.
        let lang = Lang::from_code(&user.language).unwrap_or_default();
        let mut context = TemplateContext::new();
        for (k, v) in &p.context {
            context.insert(k, v);
        }
        if let Some(facts) = &p.facts {
            for (k, v) in self.word(facts, lang)? {
                context.insert(k, &v);
            }
        }
        context.insert("recipient_name", &user.name);
        let rendered = self.templates.render(&p.template, lang, &context)?;
        let email = OutgoingEmail::new(
            vec![EmailAddress::new(user.name.clone(), user.email.clone())],
            rendered,
            self.mailer.message_id_for(&job.dedup_key),
        );
        self.mailer.send(&email).await?;
        Ok(Outcome::Done)
    }

    /// A cron run: to each recipient, the overdue cases in the states their role owns.
    async fn digest(&self, job: &Job, p: &DigestJob, now: DateTime<Utc>) -> Result<Outcome, Failure> {
        let workflow_id = p.workflow.as_str();
        let workflow = self
            .engine
            .workflows
            .latest(workflow_id)
            .ok_or_else(|| Failure::permanent(format!("workflow {workflow_id} is not loaded")))?;
        let role = match &p.to {
            Recipient::Role(r) => r.clone(),
            _ => return Err(Failure::permanent("a schedule writes to a role")),
        };
        let users: Vec<User> =
            self.engine.store.users_with_role(&role).await?.into_iter().filter(|u| !u.disabled).collect();
        let overdue = self.overdue(&workflow, &role, now).await?;
        let facts = MessageFacts::Digest(DigestFacts {
            workflow: workflow.id.clone(),
            workflow_version: workflow.version,
            schedule: p.schedule.clone(),
            overdue,
        });
        self.fan_out(job, &p.template, &users, facts, now).await?;
        Ok(Outcome::Done)
    }

    /// Cases past their deadline in the states `role` owns, most overdue first (at most 200).
    async fn overdue(&self, workflow: &Workflow, role: &str, now: DateTime<Utc>) -> Result<Vec<OverdueCase>, Failure> {
        let states: Vec<String> =
            workflow.states.iter().filter(|s| s.owner.as_deref() == Some(role)).map(|s| s.name.clone()).collect();
        if states.is_empty() {
            return Ok(Vec::new());
        }
        let records = self
            .engine
            .store
            .applications(&ApplicationFilter {
                workflow_id: Some(workflow.id.clone()),
                states: Some(states),
                limit: 200,
                ..ApplicationFilter::default()
            })
            .await?;
        Ok(records
            .into_iter()
            .filter(|r| r.deadline_at.is_some_and(|d| d < now))
            .map(|r| OverdueCase {
                reference: r.reference.to_string(),
                workflow_version: r.workflow_version as u32,
                state: r.state.clone(),
                deadline: r.deadline_at,
                escalated: r.escalated_at.is_some(),
            })
            .collect())
    }
}

impl Engine {
    /// Dead letters, newest first (the administrator's page, `corridor jobs list --status dead`).
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<Job>, EngineError> {
        Ok(self.store.jobs(Some(JobStatus::Dead), limit.clamp(1, 1000)).await?)
    }

    /// Jobs in one status (or all), newest first.
    pub async fn jobs(&self, status: Option<JobStatus>, limit: i64) -> Result<Vec<Job>, EngineError> {
        Ok(self.store.jobs(status, limit.clamp(1, 10_000)).await?)
    }

    /// Put a dead letter back in the queue, due now, with its tries counted afresh.
    pub async fn retry_job(&self, actor: &Actor, id: JobId) -> Result<Job, EngineError> {
        if !(actor.is_admin() || actor.role == Role::SYSTEM) {
            return Err(EngineError::Forbidden("only administrators retry dead letters".into()));
        }
        self.store.retry_job(id, self.now()).await.map_err(|e| match e {
            StoreError::NotFound(_) => EngineError::NotFound(format!("dead letter {id}")),
            other => other.into(),
        })?;
        tracing::info!(job = id.get(), by = %actor.name, "dead letter put back in the queue");
        Ok(self.store.job(id).await?)
    }
}
