//! The job queue's vocabulary: what a job is for ([`JobKind`]), where it stands
//! ([`JobStatus`]), its id ([`JobId`]) and what it carries ([`JobPayload`]). Each list is
//! written here once; the stored text of a kind or status is its `as_str`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ApplicationId, UserId};
use crate::workflow::Recipient;

/// A job's id (the `jobs.id` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl JobId {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Why a text is not a job id, kind or status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseJobError {
    #[error("`{0}` is not a job id")]
    Id(String),
    #[error("`{0}` is not a job kind")]
    Kind(String),
    #[error("`{0}` is not a job status; use pending, running, done, dead or cancelled")]
    Status(String),
}

impl FromStr for JobId {
    type Err = ParseJobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(JobId).map_err(|_| ParseJobError::Id(s.to_string()))
    }
}

/// Defines a text-valued enum: `as_str`, `ALL`, `Display`, `FromStr` and serde as that text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $error:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl FromStr for $name {
            type Err = ParseJobError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(ParseJobError::$error(other.to_string())),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseJobError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for &'static str {
            fn from(v: $name) -> Self {
                v.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // `pad`, so that width and alignment work (the CLI's table).
                f.pad(self.as_str())
            }
        }
    };
}

text_enum! {
    /// What a job does when it runs (see the scheduler module for each).
    JobKind, Kind {
        /// A workflow `notify` rule: fans out to its recipients.
        Email = "email",
        /// Signs and posts an event.
        Webhook = "webhook",
        /// A state's automatic action when its deadline passes.
        Deadline = "deadline",
        /// A message before a deadline: fans out.
        Reminder = "reminder",
        /// After a deadline: marks the case escalated and fans out.
        Escalation = "escalation",
        /// A cron schedule's run: fans out.
        Digest = "digest",
        /// One rendered e-mail to one person.
        Message = "message",
        /// A scheduled audit checkpoint: sign the tree of every application's chain head.
        Checkpoint = "checkpoint",
        /// The daily retention run: document contents purged after their application ended.
        Retention = "retention",
    }
}

impl JobKind {
    /// The timers of an application's current state: cancelled when it leaves the state,
    /// re-timed when its deadline moves. `sql_timer_kinds!()` is this list as SQL.
    pub const TIMERS: &'static [JobKind] = &[JobKind::Deadline, JobKind::Reminder, JobKind::Escalation];

    pub fn is_timer(self) -> bool {
        Self::TIMERS.contains(&self)
    }
}

text_enum! {
    /// Where a job stands.
    JobStatus, Status {
        /// Waiting for its run time.
        Pending = "pending",
        /// Claimed by a worker, under a lease.
        Running = "running",
        Done = "done",
        /// Failed for good: a dead letter an administrator may retry.
        Dead = "dead",
        /// A timer of a state the application left.
        Cancelled = "cancelled",
    }
}

impl JobStatus {
    /// Dead letters first: the order an administrator reads them in.
    pub const DISPLAY_ORDER: &'static [JobStatus] =
        &[JobStatus::Dead, JobStatus::Running, JobStatus::Pending, JobStatus::Done, JobStatus::Cancelled];
}

/// What every job about a transition carries: the application and the state entry it was
/// made for (timers check it still holds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AboutApplication {
    pub application_id: ApplicationId,
    pub reference: String,
    /// The workflow id.
    pub workflow: String,
    /// The state entered by the transition.
    pub state: String,
    /// The application's version after the transition.
    pub version: i64,
}

/// A workflow `notify` rule's e-mail about a transition. Everything it states is frozen here
/// when the transition is taken (in its database transaction): the stage entered
/// (`about.state`), comment, reason, action and [`EventFacts`]. Sent later, after the case has
/// moved on, it still states what was true at its event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailJob {
    #[serde(flatten)]
    pub about: AboutApplication,
    pub template: String,
    pub to: Recipient,
    pub comment: Option<String>,
    pub reason: Option<String>,
    /// The action taken.
    pub action: String,
    /// Absent from jobs stored before the facts were frozen: those read the workflow version
    /// from the application, and its deadline only while nothing has happened to it since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<EventFacts>,
}

/// The facts of a transition a message states, beyond those [`EmailJob`] always carried.
/// Labels are not frozen as text: they are looked up, in the recipient's language, in the
/// workflow version named here (a version never changes once loaded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFacts {
    pub workflow_version: u32,
    /// The state left.
    pub from_state: String,
    /// The deadline of the stage the event opened, as this very transition computed it.
    pub deadline: Option<DateTime<Utc>>,
    /// The code given with the reason (refusals, requests for information), when the
    /// workflow declares codes.
    #[serde(default)]
    pub reason_code: Option<String>,
    /// When the transition was taken.
    pub at: DateTime<Utc>,
}

/// A reminder before a state's deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReminderJob {
    #[serde(flatten)]
    pub about: AboutApplication,
    pub template: String,
    pub to: Recipient,
    pub deadline: DateTime<Utc>,
}

/// An escalation after a state's deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationJob {
    #[serde(flatten)]
    pub about: AboutApplication,
    pub template: String,
    /// Nobody to write to: the case is only marked escalated.
    #[serde(default)]
    pub to: Option<Recipient>,
    pub deadline: DateTime<Utc>,
}

/// A state's automatic action when its deadline passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineJob {
    #[serde(flatten)]
    pub about: AboutApplication,
    pub action: String,
    /// Not written by transitions; kept up to date when a calendar change moved it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
}

/// A webhook call. A job a transition wrote carries [`AboutApplication`]; the call needs
/// only the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookJob {
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub about: Option<AboutApplication>,
    pub url: String,
    /// The HMAC secret; none makes the call fail for good.
    pub secret: Option<String>,
    /// The event posted, as it is signed.
    pub event: Value,
}

/// One e-mail to one person, rendered when it is sent, in the language the recipient has
/// chosen by then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageJob {
    pub template: String,
    pub user_id: UserId,
    /// Template values given as they are: the link for this recipient. Jobs stored before
    /// [`MessageJob::facts`] hold every value here, already worded (in English).
    #[serde(default)]
    pub context: Map<String, Value>,
    /// What the message states, worded in the recipient's language when it is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<MessageFacts>,
}

/// What a message is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "about", rename_all = "snake_case")]
pub enum MessageFacts {
    /// An event of one application, or a timer of its current stage.
    Application(ApplicationFacts),
    /// A cron schedule's summary.
    Digest(DigestFacts),
}

/// The facts of a message about one application, copied from the job that fanned it out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationFacts {
    pub reference: String,
    /// The workflow id and the version the application runs on: where labels are looked up.
    pub workflow: String,
    pub workflow_version: u32,
    /// The stage the event opened (a timer's: the stage it belongs to).
    pub state: String,
    /// That stage's deadline, as computed when it was opened (or moved by a calendar change,
    /// for a timer).
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// When the event happened (absent for timers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// The facts of a schedule's summary, as they stood when it fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestFacts {
    pub workflow: String,
    /// The version whose title heads the summary (the latest when it fired).
    pub workflow_version: u32,
    pub schedule: String,
    pub overdue: Vec<OverdueCase>,
}

/// One case past its deadline in a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverdueCase {
    pub reference: String,
    pub workflow_version: u32,
    pub state: String,
    pub deadline: Option<DateTime<Utc>>,
    pub escalated: bool,
}

/// A cron schedule's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestJob {
    /// The workflow id.
    pub workflow: String,
    pub schedule: String,
    pub template: String,
    pub to: Recipient,
    pub fired_at: DateTime<Utc>,
}

/// A scheduled audit checkpoint's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointJob {
    pub fired_at: DateTime<Utc>,
}

/// The daily retention run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionJob {
    /// Days after a terminal state that document contents are kept.
    pub documents_after_days: u32,
    pub fired_at: DateTime<Utc>,
}

/// What a job carries, by kind. Stored as the inner value alone (the kind has its own
/// column); serialised with both as `{"kind": ..., "payload": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum JobPayload {
    Email(EmailJob),
    Webhook(WebhookJob),
    Deadline(DeadlineJob),
    Reminder(ReminderJob),
    Escalation(EscalationJob),
    Digest(DigestJob),
    Message(MessageJob),
    Checkpoint(CheckpointJob),
    Retention(RetentionJob),
}

impl JobPayload {
    pub fn kind(&self) -> JobKind {
        match self {
            JobPayload::Email(_) => JobKind::Email,
            JobPayload::Webhook(_) => JobKind::Webhook,
            JobPayload::Deadline(_) => JobKind::Deadline,
            JobPayload::Reminder(_) => JobKind::Reminder,
            JobPayload::Escalation(_) => JobKind::Escalation,
            JobPayload::Digest(_) => JobKind::Digest,
            JobPayload::Message(_) => JobKind::Message,
            JobPayload::Checkpoint(_) => JobKind::Checkpoint,
            JobPayload::Retention(_) => JobKind::Retention,
        }
    }

    /// The JSON stored in `jobs.payload`.
    pub fn to_stored(&self) -> Value {
        let stored = match self {
            JobPayload::Email(p) => serde_json::to_value(p),
            JobPayload::Webhook(p) => serde_json::to_value(p),
            JobPayload::Deadline(p) => serde_json::to_value(p),
            JobPayload::Reminder(p) => serde_json::to_value(p),
            JobPayload::Escalation(p) => serde_json::to_value(p),
            JobPayload::Digest(p) => serde_json::to_value(p),
            JobPayload::Message(p) => serde_json::to_value(p),
            JobPayload::Checkpoint(p) => serde_json::to_value(p),
            JobPayload::Retention(p) => serde_json::to_value(p),
        };
        // Plain structs of strings, numbers, times and JSON values: serialising cannot fail.
        stored.unwrap_or(Value::Null)
    }

    /// Read a stored payload as its kind's.
    pub fn from_stored(kind: JobKind, stored: &Value) -> Result<Self, PayloadError> {
        serde_json::from_value(serde_json::json!({"kind": kind.as_str(), "payload": stored}))
            .map_err(|e| PayloadError { kind, message: e.to_string() })
    }

    /// The application and state entry a job about a transition was made for.
    pub fn about(&self) -> Option<&AboutApplication> {
        match self {
            JobPayload::Email(p) => Some(&p.about),
            JobPayload::Webhook(p) => p.about.as_ref(),
            JobPayload::Deadline(p) => Some(&p.about),
            JobPayload::Reminder(p) => Some(&p.about),
            JobPayload::Escalation(p) => Some(&p.about),
            JobPayload::Digest(_) | JobPayload::Message(_) | JobPayload::Checkpoint(_) | JobPayload::Retention(_) => {
                None
            }
        }
    }

    /// The deadline a timer counts from, moved (a calendar change). A deadline job records
    /// it only once it has been moved before.
    pub fn set_deadline(&mut self, deadline: DateTime<Utc>) {
        match self {
            JobPayload::Reminder(p) => p.deadline = deadline,
            JobPayload::Escalation(p) => p.deadline = deadline,
            JobPayload::Deadline(p) => {
                if p.deadline.is_some() {
                    p.deadline = Some(deadline);
                }
            }
            JobPayload::Email(_)
            | JobPayload::Webhook(_)
            | JobPayload::Digest(_)
            | JobPayload::Message(_)
            | JobPayload::Checkpoint(_)
            | JobPayload::Retention(_) => {}
        }
    }
}

/// A stored payload that is not what its kind carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {kind} job's payload does not fit its kind: {message}")]
pub struct PayloadError {
    pub kind: JobKind,
    pub message: String,
}

/// Work to do later: an e-mail, a webhook call, a deadline timer. Its kind is its payload's.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Unique: the same key enqueued twice is one job (never sent twice on purpose).
    pub dedup_key: String,
    pub application_id: Option<ApplicationId>,
    pub payload: JobPayload,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
}

impl NewJob {
    pub fn kind(&self) -> JobKind {
        self.payload.kind()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub dedup_key: String,
    pub application_id: Option<ApplicationId>,
    /// As stored; [`Job::parse_payload`] reads it as the kind's. Kept raw so that a payload
    /// that does not fit fails its job when it runs, not every read of the queue.
    pub payload: Value,
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Job {
    pub fn parse_payload(&self) -> Result<JobPayload, PayloadError> {
        JobPayload::from_stored(self.kind, &self.payload)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kinds_and_statuses_read_back_from_their_text() {
        for k in JobKind::ALL {
            assert_eq!(k.as_str().parse::<JobKind>(), Ok(*k));
            assert_eq!(k.to_string(), k.as_str());
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
        }
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>(), Ok(*s));
            assert_eq!(serde_json::from_value::<JobStatus>(json!(s.as_str())).unwrap(), *s);
        }
        assert_eq!("Dead".parse::<JobStatus>(), Err(ParseJobError::Status("Dead".into())));
        assert!("schedule".parse::<JobKind>().is_err());
        assert_eq!(format!("{:<6}|", JobKind::Email), "email |");
    }

    #[test]
    fn the_display_order_has_every_status_once() {
        let mut order = JobStatus::DISPLAY_ORDER.to_vec();
        assert_eq!(order[0], JobStatus::Dead);
        order.sort();
        assert_eq!(order, JobStatus::ALL);
    }

    #[test]
    fn the_sql_list_of_timer_kinds_is_the_enums() {
        let listed: Vec<String> = JobKind::TIMERS.iter().map(|k| format!("'{k}'")).collect();
        assert_eq!(crate::sql_timer_kinds!(), listed.join(", "));
        assert!(JobKind::ALL.iter().all(|k| k.is_timer() == JobKind::TIMERS.contains(k)));
    }

    #[test]
    fn job_ids_parse_and_print_as_numbers() {
        assert_eq!("42".parse::<JobId>(), Ok(JobId(42)));
        assert!("4x".parse::<JobId>().is_err());
        assert_eq!(JobId(7).to_string(), "7");
        assert_eq!(serde_json::to_value(JobId(7)).unwrap(), json!(7));
    }

    fn about() -> Value {
        json!({"application_id": 3, "reference": "QA-BV-2026-000003-X", "workflow": "business_visa",
               "state": "ministry_review", "version": 4})
    }

    fn with(extra: Value) -> Value {
        let mut v = about();
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    }

    /// The payloads as transitions and the scheduler have always written them read as their
    /// kind's and are written back unchanged.
    #[test]
    fn stored_payloads_round_trip_unchanged() {
        let deadline = "2026-03-08T20:59:59.999999Z";
        let stored = [
            (
                JobKind::Email,
                with(json!({"template": "t", "to": {"kind": "role", "role": "ministry_reviewer"},
                            "comment": null, "reason": "r", "action": "submit"})),
            ),
            (
                JobKind::Webhook,
                with(
                    json!({"url": "https://x.example/h", "secret": null, "event": {"type": "application.transition"}}),
                ),
            ),
            (JobKind::Webhook, json!({"url": "https://x.example/h", "secret": "s", "event": {"a": 1}})),
            (JobKind::Deadline, with(json!({"action": "lapse"}))),
            (JobKind::Deadline, with(json!({"action": "lapse", "deadline": deadline}))),
            (JobKind::Reminder, with(json!({"template": "t", "to": {"kind": "owner"}, "deadline": deadline}))),
            (JobKind::Escalation, with(json!({"template": "t", "to": {"kind": "applicant"}, "deadline": deadline}))),
            (JobKind::Escalation, with(json!({"template": "t", "to": null, "deadline": deadline}))),
            (
                JobKind::Digest,
                json!({"workflow": "w", "schedule": "weekly", "template": "t",
                       "to": {"kind": "role", "role": "supervisor"}, "fired_at": deadline}),
            ),
            (JobKind::Message, json!({"template": "t", "user_id": 9, "context": {"reference": "R", "n": [1]}})),
            (JobKind::Checkpoint, json!({"fired_at": deadline})),
        ];
        for (kind, value) in stored {
            let payload = JobPayload::from_stored(kind, &value).unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(payload.kind(), kind);
            assert_eq!(payload.to_stored(), value, "{kind}");
        }
    }

    /// The shape transitions write since the facts of an event are frozen into its e-mail
    /// job, and the shape of the message jobs it fans out to: written and read as this JSON.
    #[test]
    fn frozen_facts_are_stored_as_this_json() {
        let email = with(json!({
            "template": "application_received", "to": {"kind": "applicant"},
            "comment": null, "reason": null, "action": "submit",
            "facts": {"workflow_version": 3, "from_state": "draft",
                      "deadline": "2026-06-03T20:59:59.999999Z", "reason_code": null,
                      "at": "2026-05-25T07:00:00Z"}
        }));
        let payload = JobPayload::from_stored(JobKind::Email, &email).unwrap();
        let JobPayload::Email(job) = &payload else { panic!("{payload:?}") };
        let facts = job.facts.as_ref().unwrap();
        assert_eq!(facts.deadline, Some("2026-06-03T20:59:59.999999Z".parse().unwrap()));
        assert_eq!((facts.workflow_version, facts.from_state.as_str()), (3, "draft"));
        assert_eq!(payload.to_stored(), email);

        // Stored before the facts were frozen: loads, with none.
        let old = with(json!({"template": "t", "to": {"kind": "applicant"}, "comment": null,
                              "reason": null, "action": "submit"}));
        let JobPayload::Email(job) = JobPayload::from_stored(JobKind::Email, &old).unwrap() else { panic!() };
        assert_eq!(job.facts, None);
        // A code may be missing from facts written before reason codes.
        let mut no_code = email.clone();
        no_code["facts"].as_object_mut().unwrap().remove("reason_code");
        assert!(JobPayload::from_stored(JobKind::Email, &no_code).is_ok());

        let message = json!({
            "template": "application_received", "user_id": 9,
            "context": {"link": "https://corridor.example/applications/QA-BV-2026-000003-X"},
            "facts": {"about": "application", "reference": "QA-BV-2026-000003-X",
                      "workflow": "it-business-visa", "workflow_version": 3,
                      "state": "ministry_review", "deadline": "2026-06-03T20:59:59.999999Z",
                      "from_state": "draft", "action": "submit", "at": "2026-05-25T07:00:00Z"}
        });
        let payload = JobPayload::from_stored(JobKind::Message, &message).unwrap();
        let JobPayload::Message(MessageJob { facts: Some(MessageFacts::Application(f)), .. }) = &payload else {
            panic!("{payload:?}")
        };
        assert_eq!((f.state.as_str(), f.comment.as_deref()), ("ministry_review", None));
        assert_eq!(payload.to_stored(), message);

        let digest = json!({
            "template": "weekly_digest", "user_id": 9, "context": {"link": "https://corridor.example/queue"},
            "facts": {"about": "digest", "workflow": "it-business-visa", "workflow_version": 3,
                      "schedule": "weekly digest",
                      "overdue": [{"reference": "QA-BV-2026-000003-X", "workflow_version": 2,
                                   "state": "ministry_review", "deadline": "2026-06-03T20:59:59.999999Z",
                                   "escalated": true}]}
        });
        let payload = JobPayload::from_stored(JobKind::Message, &digest).unwrap();
        assert_eq!(payload.to_stored(), digest);
        // A message stored before: its worded context alone.
        let JobPayload::Message(old) = JobPayload::from_stored(
            JobKind::Message,
            &json!({"template": "t", "user_id": 9, "context": {"deadline": "Wednesday 3 June 2026"}}),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(old.facts, None);
    }

    #[test]
    fn a_payload_that_does_not_fit_is_an_error() {
        let e = JobPayload::from_stored(JobKind::Message, &json!({"template": "t"})).unwrap_err();
        assert_eq!(e.kind, JobKind::Message);
        assert!(e.to_string().contains("user_id"), "{e}");
        assert!(JobPayload::from_stored(JobKind::Reminder, &json!(null)).is_err());
        assert!(JobPayload::from_stored(JobKind::Email, &about()).is_err());
    }

    #[test]
    fn the_serde_tag_is_the_kind() {
        let p = JobPayload::Message(MessageJob {
            template: "t".into(),
            user_id: UserId::new(1),
            context: Map::new(),
            facts: None,
        });
        assert_eq!(serde_json::to_value(&p).unwrap()["kind"], json!(p.kind().as_str()));
    }

    #[test]
    fn moving_a_deadline_moves_the_timers_payloads() {
        let old: DateTime<Utc> = "2026-03-08T20:59:59.999999Z".parse().unwrap();
        let new: DateTime<Utc> = "2026-03-09T20:59:59.999999Z".parse().unwrap();
        let mut r = JobPayload::from_stored(
            JobKind::Reminder,
            &with(json!({"template": "t", "to": {"kind": "owner"}, "deadline": old})),
        )
        .unwrap();
        r.set_deadline(new);
        assert_eq!(r.to_stored()["deadline"], json!(new));
        let mut d = JobPayload::from_stored(JobKind::Deadline, &with(json!({"action": "lapse"}))).unwrap();
        d.set_deadline(new);
        assert!(d.to_stored().get("deadline").is_none(), "a deadline job records no deadline until it has one");
    }
}
