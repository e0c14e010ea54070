//! The records Corridor keeps: what the store reads and writes, and what the engine decides
//! on. Plain data, no database code: the store (`crate::store`) maps these to rows.

use crate::role::Role;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod ids;
pub mod jobs;
mod tokens;

pub use crate::reference::Reference;
pub use ids::{ApplicationId, OrganisationId, TokenId, UserId};
pub use jobs::{Job, JobId, JobKind, JobPayload, JobStatus, NewJob};
pub use tokens::{ApiToken, NewToken, TokenState};

/// Times are kept (and hashed) at microsecond precision, the precision both databases keep.
/// Fixed width, so that text order is time order.
pub fn canonical_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Truncate to what the databases store, so that the hash computed before the write is the
/// one recomputed after reading it back.
pub fn storable_time(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&canonical_time(at)).map(|t| t.with_timezone(&Utc)).unwrap_or(at)
}

#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    pub id: OrganisationId,
    pub name: String,
    /// `firm`, `ministry`, `embassy`, `authority`, `operator`.
    pub kind: String,
    pub country: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organisation_id: OrganisationId,
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// Preferred language (`en`, `ar`, `ur`).
    pub language: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organisation_id: OrganisationId,
    pub password_hash: Option<String>,
    pub language: String,
}

#[derive(Debug, Clone)]
pub struct StoredWorkflow {
    pub workflow_id: String,
    pub version: i64,
    pub content_hash: String,
    pub source: String,
    pub loaded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplicationRecord {
    pub id: ApplicationId,
    pub reference: Reference,
    pub workflow_id: String,
    pub workflow_version: i64,
    pub state: String,
    /// The state it was in before the current one (target of `to: $return`).
    pub previous_state: Option<String>,
    /// Increases with every change; compared on every write.
    pub version: i64,
    pub organisation_id: OrganisationId,
    pub created_by: UserId,
    pub fields: Value,
    /// Denormalised from fields for search and the public status check (lower-cased name,
    /// normalised passport number).
    pub applicant_name: String,
    pub passport_number: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub state_entered_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// Deadline of the current state, if it has one and its clock runs.
    pub deadline_at: Option<DateTime<Utc>>,
    /// While the clock is paused: what remained of the paused state's deadline, in seconds of
    /// working time, as recorded by the calendar code.
    pub paused_remaining: Option<Value>,
    pub escalated_at: Option<DateTime<Utc>>,
    /// Reviewer who claimed the case in its current state.
    pub assigned_to: Option<UserId>,
    /// The revision of the run-time holidays its deadline was counted with (see
    /// [`crate::holidays`]); 0 before any change.
    pub calendar_revision: i64,
    /// The head of its audit chain: the seq and hash of its last event, written with every
    /// event (0 and the genesis hash before the first).
    pub audit_seq: i64,
    pub audit_hash: String,
}

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub reference_prefix: String,
    pub year: i32,
    pub workflow_id: String,
    pub workflow_version: i64,
    pub state: String,
    pub organisation_id: OrganisationId,
    pub created_by: UserId,
    pub fields: Value,
    pub applicant_name: String,
    pub passport_number: Option<String>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentRecord {
    pub id: i64,
    pub application_id: ApplicationId,
    pub kind: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// File name under the upload folder; chosen by us, never by the user.
    #[serde(skip)]
    pub storage_key: String,
    pub uploaded_by: UserId,
    pub uploaded_at: DateTime<Utc>,
    /// When the retention rules deleted its content (the record and its hash stay).
    pub purged_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewDocument {
    pub application_id: ApplicationId,
    pub kind: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub storage_key: String,
    pub uploaded_by: UserId,
    pub now: DateTime<Utc>,
}

/// One link of an application's hash chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: i64,
    pub application_id: ApplicationId,
    /// 1, 2, 3... per application.
    pub seq: i64,
    pub actor_id: Option<UserId>,
    pub actor_name: String,
    pub role: Role,
    pub organisation_id: Option<OrganisationId>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub comment: Option<String>,
    pub reason: Option<String>,
    /// Extra facts (changed fields, document kind, new deadline...).
    pub data: Value,
    pub at: DateTime<Utc>,
    pub prev_hash: String,
    pub hash: String,
}

/// An audit event before the store links it into the chain.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub actor_id: Option<UserId>,
    pub actor_name: String,
    pub role: Role,
    pub organisation_id: Option<OrganisationId>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub comment: Option<String>,
    pub reason: Option<String>,
    pub data: Value,
    pub at: DateTime<Utc>,
}

/// Everything one transition writes, applied all or nothing.
#[derive(Debug, Clone)]
pub struct TransitionWrite {
    pub application_id: ApplicationId,
    pub expected_version: i64,
    pub new_state: String,
    pub previous_state: Option<String>,
    /// New field values, when the transition carries them (e.g. answering a request for
    /// information).
    pub fields: Option<Value>,
    pub applicant_name: Option<String>,
    pub passport_number: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub deadline_at: Option<DateTime<Utc>>,
    pub paused_remaining: Option<Value>,
    /// The revision of the run-time holidays the deadline was counted with.
    pub calendar_revision: i64,
    /// Timers of the state being left that must not fire any more.
    pub cancel_timers: bool,
    pub audit: NewAuditEvent,
    /// The (seq, hash) of the application's last event as read when deciding; `None` makes
    /// the store read it inside the write transaction.
    pub chain_after: Option<(i64, String)>,
    pub jobs: Vec<NewJob>,
    pub now: DateTime<Utc>,
}

impl TransitionWrite {
    /// The application as this write leaves it, given the record it was decided on. The
    /// stores' update sets exactly these columns, so the record need not be read back.
    pub(crate) fn applied_to(&self, before: &ApplicationRecord) -> ApplicationRecord {
        ApplicationRecord {
            version: self.expected_version + 1,
            state: self.new_state.clone(),
            previous_state: self.previous_state.clone(),
            fields: self.fields.clone().unwrap_or_else(|| before.fields.clone()),
            applicant_name: self.applicant_name.clone().unwrap_or_else(|| before.applicant_name.clone()),
            passport_number: self.passport_number.clone().or_else(|| before.passport_number.clone()),
            submitted_at: self.submitted_at.map(storable_time).or(before.submitted_at),
            deadline_at: self.deadline_at.map(storable_time),
            paused_remaining: self.paused_remaining.clone(),
            calendar_revision: self.calendar_revision,
            escalated_at: None,
            assigned_to: None,
            state_entered_at: storable_time(self.now),
            updated_at: storable_time(self.now),
            ..before.clone()
        }
    }
}

/// Editing an application without moving it (a draft's fields, a document, a claim).
#[derive(Debug, Clone)]
pub struct ApplicationEdit {
    pub application_id: ApplicationId,
    pub expected_version: i64,
    pub fields: Option<Value>,
    pub applicant_name: Option<String>,
    pub passport_number: Option<String>,
    /// `Some(None)` releases the claim.
    pub assigned_to: Option<Option<UserId>>,
    pub audit: NewAuditEvent,
    pub now: DateTime<Utc>,
}

/// What `corridor audit verify` compares with an application's chain: the row's state,
/// version and chain head.
#[derive(Debug, Clone)]
pub struct ApplicationHead {
    pub id: ApplicationId,
    pub reference: Reference,
    pub state: String,
    pub version: i64,
    pub audit_seq: i64,
    pub audit_hash: String,
}

/// One leaf of a checkpoint's Merkle tree: an application's chain head when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointHead {
    pub application_id: ApplicationId,
    pub reference: Reference,
    pub seq: i64,
    pub hash: String,
}

/// A signed checkpoint (an RFC 9162 signed tree head) over every application's chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// 1, 2, 3... without gaps.
    pub seq: i64,
    pub tree_size: i64,
    /// Hex SHA-256 Merkle tree hash.
    pub root_hash: String,
    pub created_at: DateTime<Utc>,
    /// Hex SHA-256 of the Ed25519 public key that signed it.
    pub key_fingerprint: String,
    /// Hex Ed25519 signature over the checkpoint's signed text.
    pub signature: String,
}

/// A signed-in web session (the UI's cookie names it). `id` is the SHA-256 hex digest of the
/// cookie's random token, so a copy of the table opens no session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user_id: Option<UserId>,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Small per-session facts for the UI (JSON object).
    pub data: Value,
    /// Signed in, or half-way through sign-in.
    pub stage: SessionStage,
    /// The last request, to within a few minutes (None: not since it started).
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Where it was started from, as the user sees it on their sessions page.
    pub client_address: String,
    pub user_agent: String,
}

/// How far a session is through sign-in. Only `SignedIn` opens pages; the two others are the
/// step after a right password, when a second factor is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStage {
    SignedIn,
    /// The user has a second factor: the code is owed.
    SecondFactor,
    /// The user's role requires a second factor and they have none yet: enrolment is owed.
    Enrol,
}

impl SessionStage {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStage::SignedIn => "signed_in",
            SessionStage::SecondFactor => "second_factor",
            SessionStage::Enrol => "enrol",
        }
    }

    pub fn parse(text: &str) -> Option<SessionStage> {
        match text {
            "signed_in" => Some(SessionStage::SignedIn),
            "second_factor" => Some(SessionStage::SecondFactor),
            "enrol" => Some(SessionStage::Enrol),
            _ => None,
        }
    }
}

/// A user's confirmed TOTP second factor.
#[derive(Clone)]
pub struct SecondFactor {
    pub user_id: UserId,
    /// Base32, as the authenticator app holds it.
    pub secret: String,
    /// The last time step whose code was accepted.
    pub last_step: Option<i64>,
    pub enabled_at: DateTime<Utc>,
}

impl std::fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondFactor").field("user_id", &self.user_id).field("enabled_at", &self.enabled_at).finish()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    /// Only this firm's applications.
    pub organisation_id: Option<OrganisationId>,
    pub workflow_id: Option<String>,
    pub states: Option<Vec<String>>,
    /// Leave out applications in these states (e.g. drafts for staff).
    pub exclude_states: Vec<String>,
    /// Reference prefix or part of the applicant's name.
    pub search: Option<String>,
    pub assigned_to: Option<UserId>,
    /// Only applications nobody holds.
    pub unassigned: bool,
    /// Keyset paging in deadline order: the (deadline, id) of the last row seen.
    pub after: Option<(Option<DateTime<Utc>>, ApplicationId)>,
    pub limit: i64,
    /// Only what one staff role may read (need to know); `None`: no such limit.
    pub readable: Option<Readable>,
}

/// The applications one staff role may read, as the store selects them: per workflow
/// version, the states the role always reads and those it reads where it has acted on the
/// application (an event of its role in the audit chain). No scope: nothing.
#[derive(Debug, Clone)]
pub struct Readable {
    pub role: Role,
    pub scopes: Vec<StateScope>,
}

/// Some states of one workflow version.
#[derive(Debug, Clone, Default)]
pub struct StateScope {
    pub workflow_id: String,
    pub workflow_version: i64,
    pub states: Vec<String>,
    /// (Readable only) states read where the role acted on the application.
    pub states_if_acted: Vec<String>,
}

/// What an access-log line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    /// A sensitive field shown in full.
    Field,
    /// A document's content sent.
    Document,
}

impl AccessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKind::Field => "field",
            AccessKind::Document => "document",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "field" => Some(AccessKind::Field),
            "document" => Some(AccessKind::Document),
            _ => None,
        }
    }
}

/// One read of personal data, before it is written to the append-only access log.
#[derive(Debug, Clone)]
pub struct NewAccess {
    pub user_id: Option<UserId>,
    pub actor_name: String,
    pub role: Role,
    pub organisation_id: Option<OrganisationId>,
    pub application_id: ApplicationId,
    pub reference: Reference,
    pub kind: AccessKind,
    /// The field's name, or the document's kind.
    pub item: String,
    pub document_id: Option<i64>,
    /// The client's network address, as the server saw it.
    pub client: Option<String>,
    pub at: DateTime<Utc>,
}

/// A line of the access log.
#[derive(Debug, Clone, Serialize)]
pub struct AccessRecord {
    pub id: i64,
    pub user_id: Option<UserId>,
    pub actor_name: String,
    pub role: Role,
    pub organisation_id: Option<OrganisationId>,
    pub application_id: ApplicationId,
    pub reference: Reference,
    pub kind: AccessKind,
    pub item: String,
    pub document_id: Option<i64>,
    pub client: Option<String>,
    pub at: DateTime<Utc>,
}

/// Which lines of the access log to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AccessQuery {
    pub reference: Option<Reference>,
    pub user_id: Option<UserId>,
    /// Keyset paging: lines older than this id.
    pub before: Option<i64>,
    pub limit: i64,
}

/// One past step of an application: as much of its audit event as a decision looks at.
/// Read as a JSON array `[seq, actor_id, action, from_state, to_state, hash]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Step {
    pub seq: i64,
    pub actor_id: Option<UserId>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    /// The event's hash: the last step's is where the next event is chained.
    pub hash: String,
}

impl From<&AuditEvent> for Step {
    fn from(e: &AuditEvent) -> Self {
        Step {
            seq: e.seq,
            actor_id: e.actor_id,
            action: e.action.clone(),
            from_state: e.from_state.clone(),
            to_state: e.to_state.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// An application with what its next transition is decided on.
#[derive(Debug, Clone)]
pub struct TransitionContext {
    pub application: ApplicationRecord,
    /// Its history, oldest first.
    pub steps: Vec<Step>,
    /// The kinds of the documents uploaded so far.
    pub document_kinds: Vec<String>,
    /// The revision of the run-time holidays, read in the same statement.
    pub calendar_revision: i64,
}

/// A holiday added (or a calendar-file holiday taken away) at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredHoliday {
    pub calendar: String,
    pub date: chrono::NaiveDate,
    pub name: String,
    /// True: the calendar file's holiday on this date is a working day after all.
    pub removed: bool,
    pub changed_by: Option<String>,
    pub changed_at: Option<DateTime<Utc>>,
}

/// The run-time holidays of every calendar as of one revision, read in one statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredHolidays {
    /// The newest holiday change's number; 0 before the first.
    pub revision: i64,
    pub holidays: Vec<StoredHoliday>,
}

/// One holiday change made at run time, numbered across all calendars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarChange {
    pub revision: i64,
    pub calendar: String,
    pub date: chrono::NaiveDate,
    /// The holiday added, or the one made a working day.
    pub name: String,
    /// True: the day became a holiday; false: a working day.
    pub is_holiday: bool,
    pub changed_by: Option<String>,
    pub changed_at: DateTime<Utc>,
}

/// A cron schedule's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleRow {
    /// `<workflow id>/<schedule name>`.
    pub key: String,
    pub cron: String,
    pub timezone: String,
    pub next_fire_at: DateTime<Utc>,
    pub last_fired_at: Option<DateTime<Utc>>,
}

/// A deadline moved by a calendar change, with the new times of its pending timers.
#[derive(Debug, Clone)]
pub struct DeadlineChange {
    pub application_id: ApplicationId,
    pub state: String,
    /// The version and the calendar revision the change was computed from (unchanged by it).
    pub version: i64,
    pub counted_with: i64,
    /// The calendar revision the new deadline is counted with.
    pub revision: i64,
    pub old_deadline: Option<DateTime<Utc>>,
    pub new_deadline: DateTime<Utc>,
    /// (job id, new run time, new payload as stored) of pending timers.
    pub timers: Vec<(JobId, DateTime<Utc>, Value)>,
    pub audit: NewAuditEvent,
    pub now: DateTime<Utc>,
}

/// A decision letter as stored: made once per application (see [`crate::letter`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LetterRecord {
    pub id: i64,
    pub application_id: ApplicationId,
    pub number: String,
    /// The verification code, canonical (no hyphens).
    pub code: String,
    /// Hex SHA-256 of the PDF.
    pub sha256: String,
    /// The signed content, the exact text the PDF carries and is rendered from.
    pub signed: String,
    pub issued_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A letter to keep, with its `letter_issued` audit event.
#[derive(Debug, Clone)]
pub struct NewLetter {
    pub application_id: ApplicationId,
    pub number: String,
    pub code: String,
    pub sha256: String,
    pub signed: String,
    pub issued_at: DateTime<Utc>,
}
