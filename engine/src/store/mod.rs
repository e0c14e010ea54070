//! Storage: one trait, one implementation per database, each with its own migrations.
//! The engine decides; a store only reads and writes, and applies each transition in one
//! database transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod postgres;
pub mod sqlite;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the application moved on since it was read.
    #[error("the application was changed by someone else (expected version {expected})")]
    Conflict { expected: i64 },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    Duplicate(String),
    /// A workflow file changed but kept its version number.
    #[error("workflow {id} version {version} is already stored with different content; raise `version` in the file")]
    WorkflowChanged { id: String, version: i64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    pub id: i64,
    pub name: String,
    /// `firm`, `ministry`, `embassy`, `authority`, `operator`.
    pub kind: String,
    pub country: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub organisation_id: i64,
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
    pub role: String,
    pub organisation_id: i64,
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
    pub id: i64,
    pub reference: String,
    pub workflow_id: String,
    pub workflow_version: i64,
    pub state: String,
    /// The state it was in before the current one (target of `to: $return`).
    pub previous_state: Option<String>,
    /// Increases with every change; compared on every write.
    pub version: i64,
    pub organisation_id: i64,
    pub created_by: i64,
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
    pub assigned_to: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub reference_prefix: String,
    pub year: i32,
    pub workflow_id: String,
    pub workflow_version: i64,
    pub state: String,
    pub organisation_id: i64,
    pub created_by: i64,
    pub fields: Value,
    pub applicant_name: String,
    pub passport_number: Option<String>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentRecord {
    pub id: i64,
    pub application_id: i64,
    pub kind: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// File name under the upload folder; chosen by us, never by the user.
    #[serde(skip)]
    pub storage_key: String,
    pub uploaded_by: i64,
    pub uploaded_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewDocument {
    pub application_id: i64,
    pub kind: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub storage_key: String,
    pub uploaded_by: i64,
    pub now: DateTime<Utc>,
}

/// One link of an application's hash chain.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub application_id: i64,
    /// 1, 2, 3... per application.
    pub seq: i64,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub role: String,
    pub organisation_id: Option<i64>,
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
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub role: String,
    pub organisation_id: Option<i64>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub comment: Option<String>,
    pub reason: Option<String>,
    pub data: Value,
    pub at: DateTime<Utc>,
}

/// Work to do later: an e-mail, a webhook call, a deadline timer.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// `email`, `webhook`, `deadline`, `reminder`, `escalation`, `schedule`.
    pub kind: String,
    /// Unique: the same key enqueued twice is one job (never sent twice on purpose).
    pub dedup_key: String,
    pub application_id: Option<i64>,
    pub payload: Value,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub dedup_key: String,
    pub application_id: Option<i64>,
    pub payload: Value,
    /// `pending`, `running`, `done`, `dead`, `cancelled`.
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Everything one transition writes, applied all or nothing.
#[derive(Debug, Clone)]
pub struct TransitionWrite {
    pub application_id: i64,
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
        use crate::audit::storable_time;
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
    pub application_id: i64,
    pub expected_version: i64,
    pub fields: Option<Value>,
    pub applicant_name: Option<String>,
    pub passport_number: Option<String>,
    /// `Some(None)` releases the claim.
    pub assigned_to: Option<Option<i64>>,
    pub audit: NewAuditEvent,
    pub now: DateTime<Utc>,
}

/// A signed-in web session (the UI's cookie names it). `id` is the SHA-256 hex digest of the
/// cookie's random token, so a copy of the table opens no session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user_id: Option<i64>,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Small per-session facts for the UI (JSON object).
    pub data: Value,
}

#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    /// Only this firm's applications.
    pub organisation_id: Option<i64>,
    pub workflow_id: Option<String>,
    pub states: Option<Vec<String>>,
    /// Leave out applications in these states (e.g. drafts for staff).
    pub exclude_states: Vec<String>,
    /// Reference prefix or part of the applicant's name.
    pub search: Option<String>,
    pub assigned_to: Option<i64>,
    /// Only applications nobody holds.
    pub unassigned: bool,
    /// Keyset paging in deadline order: the (deadline, id) of the last row seen.
    pub after: Option<(Option<DateTime<Utc>>, i64)>,
    pub limit: i64,
}

/// One past step of an application: as much of its audit event as a decision looks at.
/// Read as a JSON array `[seq, actor_id, action, from_state, to_state, hash]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Step {
    pub seq: i64,
    pub actor_id: Option<i64>,
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
}

/// A write transaction holding the context of one application's next transition.
#[async_trait]
pub trait OpenTransition: Send {
    fn context(&self) -> &TransitionContext;
    /// Write the transition and commit; `Conflict` when the version moved. Returns the
    /// application as written.
    async fn commit(self: Box<Self>, write: TransitionWrite) -> StoreResult<ApplicationRecord>;
}

impl TransitionContext {
    /// A context whose steps and document kinds the database aggregated into JSON arrays
    /// next to the application row: the whole read is one statement, one round trip.
    pub(crate) fn from_json(application: ApplicationRecord, steps: &str, document_kinds: &str) -> StoreResult<Self> {
        let corrupt =
            |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("{what} of {}: {e}", application.reference));
        let mut steps: Vec<Step> = serde_json::from_str(steps).map_err(|e| corrupt("history", e))?;
        // SQL does not promise the order of an aggregate's input.
        steps.sort_by_key(|s| s.seq);
        let document_kinds = serde_json::from_str(document_kinds).map_err(|e| corrupt("documents", e))?;
        Ok(TransitionContext { application, steps, document_kinds })
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Apply pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    async fn create_organisation(&self, name: &str, kind: &str, country: Option<&str>) -> StoreResult<Organisation>;
    async fn organisation(&self, id: i64) -> StoreResult<Organisation>;
    async fn organisation_by_name(&self, name: &str) -> StoreResult<Option<Organisation>>;
    async fn organisations(&self) -> StoreResult<Vec<Organisation>>;

    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn user(&self, id: i64) -> StoreResult<User>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn users(&self) -> StoreResult<Vec<User>>;
    async fn users_with_role(&self, role: &str) -> StoreResult<Vec<User>>;
    async fn set_user_password(&self, id: i64, password_hash: &str) -> StoreResult<()>;
    async fn set_user_role(&self, id: i64, role: &str) -> StoreResult<()>;
    async fn set_user_disabled(&self, id: i64, disabled: bool) -> StoreResult<()>;
    async fn set_user_language(&self, id: i64, language: &str) -> StoreResult<()>;

    /// Store an API token by its SHA-256 hex digest.
    async fn create_token(&self, user_id: i64, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()>;
    async fn user_by_token(&self, token_hash: &str) -> StoreResult<Option<User>>;

    /// Record a loaded workflow; refuse a different content under a stored (id, version).
    async fn register_workflow(
        &self,
        id: &str,
        version: i64,
        content_hash: &str,
        source: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn stored_workflows(&self) -> StoreResult<Vec<StoredWorkflow>>;

    /// Create the application with its reference and its first audit event, in one
    /// transaction.
    async fn create_application(&self, app: NewApplication, audit: NewAuditEvent) -> StoreResult<ApplicationRecord>;
    async fn application(&self, id: i64) -> StoreResult<ApplicationRecord>;
    async fn application_by_reference(&self, reference: &str) -> StoreResult<Option<ApplicationRecord>>;
    /// In deadline order (no deadline last), then id.
    async fn applications(&self, filter: &ApplicationFilter) -> StoreResult<Vec<ApplicationRecord>>;
    async fn edit_application(&self, edit: ApplicationEdit) -> StoreResult<ApplicationRecord>;
    /// A transition decided elsewhere (tools, tests), written as the engine writes its own:
    /// through [`Store::begin_transition`], in one database transaction; `Conflict` when the
    /// version moved.
    async fn commit_transition(&self, write: TransitionWrite) -> StoreResult<ApplicationRecord> {
        let reference = self.application(write.application_id).await?.reference;
        let open = self.begin_transition(&reference).await?.ok_or(StoreError::NotFound("application"))?;
        open.commit(write).await
    }

    async fn add_document(
        &self,
        doc: NewDocument,
        audit: NewAuditEvent,
        expected_version: i64,
    ) -> StoreResult<DocumentRecord>;
    async fn documents(&self, application_id: i64) -> StoreResult<Vec<DocumentRecord>>;
    async fn document(&self, id: i64) -> StoreResult<DocumentRecord>;

    /// Oldest first.
    async fn history(&self, application_id: i64) -> StoreResult<Vec<AuditEvent>>;
    /// Ids of every application that has events, for a full verification.
    async fn audited_applications(&self) -> StoreResult<Vec<i64>>;

    async fn enqueue_jobs(&self, jobs: Vec<NewJob>) -> StoreResult<()>;
    /// Claim up to `limit` due jobs with a lease; a job whose lease ran out is claimable again.
    async fn claim_jobs(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_seconds: i64,
        limit: i64,
    ) -> StoreResult<Vec<Job>>;
    async fn complete_job(&self, id: i64, worker: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Record a failed attempt: retry at `retry_at`, or dead when `retry_at` is None.
    async fn fail_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn jobs(&self, status: Option<&str>, limit: i64) -> StoreResult<Vec<Job>>;
    /// Put a dead job back in the queue.
    async fn retry_job(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()>;

    // ---- web sessions ----
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// The session with this id, if it has not expired at `now`.
    async fn session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>>;
    /// Move the expiry (and replace the data) of a session.
    async fn touch_session(&self, id: &str, expires_at: DateTime<Utc>, data: &Value) -> StoreResult<()>;
    /// End one session; no error when it is already gone.
    async fn delete_session(&self, id: &str) -> StoreResult<()>;
    /// End every session of a user (password reset, account disabled). Returns how many.
    async fn delete_user_sessions(&self, user_id: i64) -> StoreResult<u64>;
    /// Remove sessions that expired before `now`. Returns how many.
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Open a write transaction on the application with this reference and read, inside it,
    /// what its next transition is decided on (one statement). The caller decides, then
    /// commits; dropping the result writes nothing. `None` when no application has it.
    async fn begin_transition(&self, reference: &str) -> StoreResult<Option<Box<dyn OpenTransition>>>;

    // Scheduler
    /// One job by id (for `corridor jobs` and the dead-letter page).
    async fn job(&self, id: i64) -> StoreResult<Job>;
    /// How many jobs are in each status.
    async fn job_counts(&self) -> StoreResult<Vec<(String, i64)>>;
    /// The pending deadline, reminder and escalation jobs of one application.
    async fn pending_timers(&self, application_id: i64) -> StoreResult<Vec<Job>>;
    /// Applications whose clock runs (a deadline is set) with a deadline at or after `from`,
    /// that entered their state at or before `entered_by`; keyset paging in (deadline, id)
    /// order after `after`. Used to find the deadlines a holiday touches, through the
    /// deadline index.
    async fn applications_with_deadline_from(
        &self,
        from: DateTime<Utc>,
        entered_by: DateTime<Utc>,
        after: Option<(DateTime<Utc>, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<ApplicationRecord>>;
    /// Move an application's deadline and re-time its pending timers, with an audit event, in
    /// one transaction. False (nothing written) when the application left `state` or its
    /// deadline is no longer `old_deadline`.
    async fn move_deadline(&self, change: DeadlineChange) -> StoreResult<bool>;
    /// Mark an application escalated (the queue shows it) with an audit event, unless it left
    /// `state` or was already marked. True when this call marked it.
    async fn mark_escalated(&self, application_id: i64, state: &str, audit: NewAuditEvent) -> StoreResult<bool>;

    /// Holidays changed at run time, every calendar.
    async fn stored_holidays(&self) -> StoreResult<Vec<StoredHoliday>>;
    /// Insert or replace the row of (calendar, date).
    async fn put_holiday(&self, holiday: &StoredHoliday) -> StoreResult<()>;
    /// Delete the row of (calendar, date); false when there was none.
    async fn delete_holiday(&self, calendar: &str, date: chrono::NaiveDate) -> StoreResult<bool>;

    async fn schedules(&self) -> StoreResult<Vec<ScheduleRow>>;
    /// Create the schedule's row unless it exists.
    async fn ensure_schedule(&self, row: &ScheduleRow, now: DateTime<Utc>) -> StoreResult<()>;
    /// Compare-and-set: move `key` from `expected_next` to `row`'s next fire time (and cron,
    /// time zone, last fired). False when another instance moved it first.
    async fn advance_schedule(
        &self,
        row: &ScheduleRow,
        expected_next: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Move the lease of jobs `worker` still holds to `until` (a heartbeat while they run).
    async fn extend_leases(&self, ids: &[i64], worker: &str, until: DateTime<Utc>) -> StoreResult<u64>;
}

// Scheduler

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
    pub application_id: i64,
    pub state: String,
    pub old_deadline: Option<DateTime<Utc>>,
    pub new_deadline: DateTime<Utc>,
    /// (job id, new run time, new payload) of pending timers.
    pub timers: Vec<(i64, DateTime<Utc>, Value)>,
    pub audit: NewAuditEvent,
    pub now: DateTime<Utc>,
}

/// Open the store a database URL names: `sqlite://PATH` (or `sqlite::memory:`),
/// `postgres://...` or `postgresql://...`. Does not migrate; call [`Store::migrate`].
pub async fn connect(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
    match scheme.as_str() {
        "sqlite" => Ok(std::sync::Arc::new(sqlite::SqliteStore::connect(url).await?)),
        "postgres" | "postgresql" => Ok(std::sync::Arc::new(postgres::PostgresStore::connect(url).await?)),
        _ => Err(StoreError::Database(sqlx::Error::Configuration(
            format!(
                "unsupported database URL scheme {:?}: use sqlite://PATH or postgres://USER@HOST/DB",
                if scheme.is_empty() { url.chars().take(12).collect::<String>() } else { scheme }
            )
            .into(),
        ))),
    }
}

// ---- helpers shared by both implementations ----

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

/// Map a write error: a unique violation becomes `Duplicate(what)`, a foreign key violation
/// `NotFound(missing)`, anything else stays a database error.
fn write_error(e: sqlx::Error, duplicate: impl FnOnce() -> String, missing: &'static str) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Duplicate(duplicate())
    } else if is_foreign_key_violation(&e) {
        StoreError::NotFound(missing)
    } else {
        StoreError::Database(e)
    }
}

/// Serialise audit data as it will be stored and parse it back, so that the hash is computed
/// over exactly the value that a later read returns.
fn normalise_json(v: &Value) -> (String, Value) {
    let text = v.to_string();
    let back = serde_json::from_str(&text).unwrap_or_else(|_| v.clone());
    (text, back)
}

/// A search term as the two LIKE patterns: a reference prefix (references are upper case)
/// and a substring of the lower-cased applicant name. `\` is the escape character.
fn search_patterns(term: &str) -> Option<(String, String)> {
    let term = term.trim();
    if term.is_empty() {
        return None;
    }
    let escaped: String = term
        .chars()
        .flat_map(|c| match c {
            '\\' | '%' | '_' => vec!['\\', c],
            _ => vec![c],
        })
        .collect();
    Some((format!("{}%", escaped.to_uppercase()), format!("%{}%", escaped.to_lowercase())))
}

/// Link a new event after `(last_seq, last_hash)`; returns (seq, prev_hash, hash, data text).
fn chain_next(
    application_id: i64,
    last: Option<(i64, String)>,
    audit: &NewAuditEvent,
) -> (i64, String, String, String) {
    let (last_seq, prev) = last.unwrap_or((0, crate::audit::GENESIS.to_string()));
    let seq = last_seq + 1;
    let (data_text, data) = normalise_json(&audit.data);
    let mut event = audit.clone();
    event.data = data;
    event.at = crate::audit::storable_time(audit.at);
    let hash = crate::audit::hash_new(&prev, application_id, seq, &event);
    (seq, prev, hash, data_text)
}

/// Each database's migrations, embedded in the binary: (version, description, SQL).
/// (Equivalent to `sqlx::migrate!`, which needs sqlx's `macros` feature; same checksums.)
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/sqlite/0001_init.sql")),
    (2, "scheduler", include_str!("../../../migrations/sqlite/0002_scheduler.sql")),
    (3, "queue", include_str!("../../../migrations/sqlite/0003_queue.sql")),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/postgres/0001_init.sql")),
    (2, "scheduler", include_str!("../../../migrations/postgres/0002_scheduler.sql")),
    (3, "queue", include_str!("../../../migrations/postgres/0003_queue.sql")),
];

fn migrator(set: &'static [(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    sqlx::migrate::Migrator::with_migrations(
        set.iter()
            .map(|(version, description, sql)| {
                sqlx::migrate::Migration::new(
                    *version,
                    std::borrow::Cow::Borrowed(*description),
                    sqlx::migrate::MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

static MIGRATIONS_SQLITE: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| migrator(SQLITE_MIGRATIONS));
static MIGRATIONS_POSTGRES: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| migrator(POSTGRES_MIGRATIONS));
