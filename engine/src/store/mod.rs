//! Storage by capability. Each capability is one trait (organisations, users, tokens,
//! workflows, applications with their documents and transitions, audit, deadlines, jobs,
//! schedules, calendars, sessions); [`Store`] is all of them plus migrations.
//!
//! Every query is written once, in `queries.rs`, and expanded for each database. What stays
//! per database (`sqlite.rs`, `postgres.rs`) is only what truly differs: connecting, how a
//! time is stored, which migrations run, and the statements that must differ (the job claim,
//! the one-statement read of a transition's context, the cast of the audit data).
//!
//! The engine decides; a store only reads and writes, and applies each transition in one
//! database transaction. Through `dyn Store` every capability's methods can be called as
//! they are; code that holds a concrete store (or is generic over one) imports
//! `corridor_engine::store::prelude::*`.

use crate::role::Role;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use crate::model::{AccessKind, AccessQuery, AccessRecord, NewAccess, Readable, StateScope};
pub use crate::model::{ApiToken, NewToken, TokenId};
pub use crate::model::{
    ApplicationEdit, ApplicationFilter, ApplicationHead, ApplicationId, ApplicationRecord, AuditEvent, Checkpoint,
    CheckpointHead, DeadlineChange, DocumentRecord, Job, JobId, JobKind, JobStatus, NewApplication, NewAuditEvent,
    NewDocument, NewJob, NewUser, Organisation, OrganisationId, Reference, ScheduleRow, SecondFactor, Session,
    SessionStage, Step, StoredHoliday, StoredWorkflow, TransitionContext, TransitionWrite, User, UserId,
};
pub use crate::model::{CalendarChange, StoredHolidays};
pub use crate::model::{LetterRecord, NewLetter};

pub mod postgres;
mod queries;
pub mod sqlite;

/// The capability traits, for `use corridor_engine::store::prelude::*;` where a concrete
/// store's (or a generic one's) methods are called.
pub mod prelude {
    pub use super::{AccessStore, RetentionStore};
    pub use super::{
        ApplicationStore, AuditStore, CalendarStore, CheckpointStore, DeadlineStore, JobStore, OrganisationStore,
        ScheduleStore, SecondFactorStore, SessionStore, Store, TokenStore, UserStore, WorkflowStore,
    };
}

/// The job kinds that are timers of an application's current state, as an SQL list: the
/// one place SQL names them; use it inside `concat!`. A test holds it equal to
/// `JobKind::TIMERS`.
#[macro_export]
macro_rules! sql_timer_kinds {
    () => {
        "'deadline', 'reminder', 'escalation'"
    };
}

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
    /// Text the database cannot store (PostgreSQL refuses NUL in text and in JSON strings).
    /// Inputs are checked before they get here; this keeps any that is not from a 500.
    #[error("the text given cannot be stored (it holds a NUL or another character the database refuses)")]
    UnstorableText,
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // 22021 character_not_in_repertoire (NUL in text), 22P05 untranslatable_character
        // (\u0000 in jsonb).
        match &e {
            sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("22021" | "22P05")) => {
                StoreError::UnstorableText
            }
            _ => StoreError::Database(e),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// All of storage: every capability, plus migrations.
#[async_trait]
pub trait Store:
    OrganisationStore
    + UserStore
    + TokenStore
    + WorkflowStore
    + ApplicationStore
    + AuditStore
    + CheckpointStore
    + DeadlineStore
    + JobStore
    + ScheduleStore
    + CalendarStore
    + SecondFactorStore
    + SessionStore
    + AccessStore
    + RetentionStore
    + LetterStore
    + 'static
{
    /// Apply pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}

#[async_trait]
pub trait OrganisationStore: Send + Sync {
    async fn create_organisation(&self, name: &str, kind: &str, country: Option<&str>) -> StoreResult<Organisation>;
    async fn organisation(&self, id: OrganisationId) -> StoreResult<Organisation>;
    async fn organisation_by_name(&self, name: &str) -> StoreResult<Option<Organisation>>;
    async fn organisations(&self) -> StoreResult<Vec<Organisation>>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn user(&self, id: UserId) -> StoreResult<User>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn users(&self) -> StoreResult<Vec<User>>;
    async fn users_with_role(&self, role: &Role) -> StoreResult<Vec<User>>;
    /// A new password, and in the same transaction every live API token of the user revoked
    /// at `now` and every session ended: whoever held the old secret holds nothing.
    async fn set_user_password(&self, id: UserId, password_hash: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// The user's own new password: in the same transaction every session but `keep_session`
    /// ended and, with `revoke_tokens`, every live API token revoked at `now`.
    async fn change_own_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep_session: &str,
        revoke_tokens: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn set_user_role(&self, id: UserId, role: &Role) -> StoreResult<()>;
    /// Disabling also revokes (at `now`) every live API token and ends every session of the
    /// user, in the same transaction. Enabling gives nothing back.
    async fn set_user_disabled(&self, id: UserId, disabled: bool, now: DateTime<Utc>) -> StoreResult<()>;
    async fn set_user_language(&self, id: UserId, language: &str) -> StoreResult<()>;
}

/// API tokens, stored by their SHA-256 hex digest.
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn create_token(&self, token: NewToken) -> StoreResult<ApiToken>;
    /// The token with this digest and its owner, whatever its state: the engine decides.
    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<(ApiToken, User)>>;
    async fn token(&self, id: TokenId) -> StoreResult<ApiToken>;
    /// Every token (only `user_id`'s when given), newest first.
    async fn tokens(&self, user_id: Option<UserId>) -> StoreResult<Vec<ApiToken>>;
    /// Revoke a token at `now`; false (nothing written) when it was already revoked.
    async fn revoke_token(&self, id: TokenId, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Record a use at `now` unless one is recorded after `not_since` (one conditional
    /// UPDATE, so that a busy token is written at most once per interval). True when written.
    async fn touch_token(&self, id: TokenId, now: DateTime<Utc>, not_since: DateTime<Utc>) -> StoreResult<bool>;
}

#[async_trait]
pub trait WorkflowStore: Send + Sync {
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
}

/// Applications, their documents, and the transitions that move them.
#[async_trait]
pub trait ApplicationStore: Send + Sync {
    /// Create the application with its reference and its first audit event, in one
    /// transaction.
    async fn create_application(&self, app: NewApplication, audit: NewAuditEvent) -> StoreResult<ApplicationRecord>;
    async fn application(&self, id: ApplicationId) -> StoreResult<ApplicationRecord>;
    async fn application_by_reference(&self, reference: &Reference) -> StoreResult<Option<ApplicationRecord>>;
    /// In deadline order (no deadline last), then id.
    async fn applications(&self, filter: &ApplicationFilter) -> StoreResult<Vec<ApplicationRecord>>;
    async fn edit_application(&self, edit: ApplicationEdit) -> StoreResult<ApplicationRecord>;
    /// Open a write transaction on the application with this reference and read, inside it,
    /// what its next transition is decided on (one statement). The caller decides, then
    /// commits; dropping the result writes nothing. `None` when no application has it.
    async fn begin_transition(&self, reference: &Reference) -> StoreResult<Option<Box<dyn OpenTransition>>>;
    /// A transition decided elsewhere (tools, tests), written as the engine writes its own:
    /// through [`ApplicationStore::begin_transition`], in one database transaction;
    /// `Conflict` when the version moved.
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
    async fn documents(&self, application_id: ApplicationId) -> StoreResult<Vec<DocumentRecord>>;
    async fn document(&self, id: i64) -> StoreResult<DocumentRecord>;
}

/// A write transaction holding the context of one application's next transition.
#[async_trait]
pub trait OpenTransition: Send {
    fn context(&self) -> &TransitionContext;
    /// The run-time holidays, read inside this transaction (when the context's revision is
    /// newer than the calendars the engine holds).
    async fn stored_holidays(&mut self) -> StoreResult<StoredHolidays>;
    /// Write the transition and commit; `Conflict` when the version moved. Returns the
    /// application as written.
    async fn commit(self: Box<Self>, write: TransitionWrite) -> StoreResult<ApplicationRecord>;
}

/// Reading the hash chains.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Oldest first.
    async fn history(&self, application_id: ApplicationId) -> StoreResult<Vec<AuditEvent>>;
    /// Ids of every application that has events, for a full verification.
    async fn audited_applications(&self) -> StoreResult<Vec<ApplicationId>>;
    /// The state, version and chain head of applications with an id after `after`, by id
    /// (keyset paging), for a full verification.
    async fn application_heads(&self, after: ApplicationId, limit: i64) -> StoreResult<Vec<ApplicationHead>>;
}

/// Signed checkpoints over every application's chain head, and the leaves of the newest.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Open a write transaction that numbers the next checkpoint and copies every
    /// application's chain head as its leaves (by application id), dropping the leaves of
    /// older checkpoints. The caller computes the root, signs, and commits; dropping the
    /// result writes nothing.
    async fn begin_checkpoint(&self) -> StoreResult<Box<dyn OpenCheckpoint>>;
    /// Every checkpoint, oldest first.
    async fn checkpoints(&self) -> StoreResult<Vec<Checkpoint>>;
    async fn latest_checkpoint(&self) -> StoreResult<Option<Checkpoint>>;
    /// The leaves of a checkpoint, by application id (kept for the newest only).
    async fn checkpoint_heads(&self, seq: i64) -> StoreResult<Vec<CheckpointHead>>;
}

/// A write transaction holding the leaves of the next checkpoint.
#[async_trait]
pub trait OpenCheckpoint: Send {
    /// The number the checkpoint gets.
    fn seq(&self) -> i64;
    /// Its leaves, by application id.
    fn heads(&self) -> &[CheckpointHead];
    /// Store the signed checkpoint and commit; `Duplicate` when another instance took the
    /// number first.
    async fn commit(self: Box<Self>, checkpoint: &Checkpoint) -> StoreResult<()>;
}

/// Need to know: whether a role has acted on an application, and the append-only access log
/// of full views of sensitive fields and of document downloads (no method changes or deletes
/// a line; the databases refuse it too).
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Some event of the application's audit chain was written by someone in `role`.
    async fn role_acted(&self, application_id: ApplicationId, role: &Role) -> StoreResult<bool>;
    async fn record_access(&self, lines: &[NewAccess]) -> StoreResult<()>;
    /// Newest first.
    async fn access_log(&self, query: &AccessQuery) -> StoreResult<Vec<AccessRecord>>;
}

/// Retention: document contents deleted some time after their application ended.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Documents not yet purged of applications in one of `ended` (terminal states, per
    /// workflow version) since `entered_by` or earlier, oldest first.
    async fn documents_to_purge(
        &self,
        ended: &[StateScope],
        entered_by: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<DocumentRecord>>;
    /// Mark the document purged and append `audit` to its application's chain, in one
    /// transaction. False (nothing written) when it was purged already.
    async fn mark_document_purged(&self, document_id: i64, audit: NewAuditEvent) -> StoreResult<bool>;
}

/// Decision letters: one per application, kept with its audit event.
#[async_trait]
pub trait LetterStore: Send + Sync {
    async fn letter(&self, application_id: ApplicationId) -> StoreResult<Option<LetterRecord>>;
    /// By its canonical verification code.
    async fn letter_by_code(&self, code: &str) -> StoreResult<Option<LetterRecord>>;
    /// Keep a new letter and append `audit` (its `letter_issued` event) to its application's
    /// chain, in one transaction. When the application has a letter already (another
    /// instance made it first), nothing is written and that letter is returned.
    async fn issue_letter(&self, letter: NewLetter, audit: NewAuditEvent) -> StoreResult<LetterRecord>;
}

/// What the scheduler does to applications: deadlines moved by a calendar change, and
/// escalations.
#[async_trait]
pub trait DeadlineStore: Send + Sync {
    /// Applications whose clock runs (a deadline is set) counted with a calendar revision
    /// before `revision`, in (revision, id) order after `after`: what the re-timing pass
    /// recounts.
    async fn applications_counted_before(
        &self,
        revision: i64,
        after: Option<(i64, ApplicationId)>,
        limit: i64,
    ) -> StoreResult<Vec<ApplicationRecord>>;
    /// Record that these applications' deadlines hold on calendar `revision` as they are:
    /// (id, version, revision counted with) each, written only where both are unchanged.
    async fn mark_counted(&self, applications: &[(ApplicationId, i64, i64)], revision: i64) -> StoreResult<u64>;
    /// Move an application's deadline and re-time its pending timers, with an audit event, in
    /// one transaction, and record the revision it is counted with. False (nothing written)
    /// when the application left `state`, its version or the revision it was counted with
    /// moved, or its deadline is no longer `old_deadline`.
    async fn move_deadline(&self, change: DeadlineChange) -> StoreResult<bool>;
    /// Mark an application escalated (the queue shows it) with an audit event, unless it left
    /// `state` or was already marked. True when this call marked it.
    async fn mark_escalated(
        &self,
        application_id: ApplicationId,
        state: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<bool>;
}

/// The job queue: work to do later, claimed with a lease.
#[async_trait]
pub trait JobStore: Send + Sync {
    async fn enqueue_jobs(&self, jobs: Vec<NewJob>) -> StoreResult<()>;
    /// Claim up to `limit` due jobs with a lease; a job whose lease ran out is claimable again.
    /// A claimed row that cannot be read (a kind this version does not know) becomes a dead
    /// letter with the reason, so that it cannot hold up the jobs after it.
    async fn claim_jobs(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_seconds: i64,
        limit: i64,
    ) -> StoreResult<Vec<Job>>;
    /// Move the lease of jobs `worker` still holds to `until` (a heartbeat while they run).
    async fn extend_leases(&self, ids: &[JobId], worker: &str, until: DateTime<Utc>) -> StoreResult<u64>;
    async fn complete_job(&self, id: JobId, worker: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Record a failed attempt: retry at `retry_at`, or dead when `retry_at` is None.
    async fn fail_job(
        &self,
        id: JobId,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Put a dead job back in the queue.
    async fn retry_job(&self, id: JobId, now: DateTime<Utc>) -> StoreResult<()>;
    /// One job by id (for `corridor jobs` and the dead-letter page).
    async fn job(&self, id: JobId) -> StoreResult<Job>;
    async fn jobs(&self, status: Option<JobStatus>, limit: i64) -> StoreResult<Vec<Job>>;
    /// How many jobs are in each status.
    async fn job_counts(&self) -> StoreResult<Vec<(JobStatus, i64)>>;
    /// The pending deadline, reminder and escalation jobs of one application.
    async fn pending_timers(&self, application_id: ApplicationId) -> StoreResult<Vec<Job>>;
}

/// The progress of the workflows' cron schedules.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
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
}

/// Holidays changed at run time, on top of the calendar files.
#[async_trait]
pub trait CalendarStore: Send + Sync {
    /// Holidays changed at run time, every calendar, with the revision they are at (one
    /// statement, so the two agree).
    async fn stored_holidays(&self) -> StoreResult<StoredHolidays>;
    /// Log `change` as the next revision and, in the same transaction, insert or replace the
    /// row of its (calendar, date) with `row`, or delete that row when `row` is `None`.
    /// Returns the revision. Two changes at once on PostgreSQL: one is a `Duplicate`.
    async fn change_holiday(&self, change: &CalendarChange, row: Option<&StoredHoliday>) -> StoreResult<i64>;
    /// The holiday changes numbered after `revision`, oldest first.
    async fn calendar_changes_after(&self, revision: i64) -> StoreResult<Vec<CalendarChange>>;
}

/// Web sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// The session with this id, if it has not expired at `now`.
    async fn session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>>;
    /// Move the expiry (and replace the data) of a session seen at `seen`.
    async fn touch_session(
        &self,
        id: &str,
        expires_at: DateTime<Utc>,
        seen: DateTime<Utc>,
        data: &Value,
    ) -> StoreResult<()>;
    /// End one session; no error when it is already gone.
    async fn delete_session(&self, id: &str) -> StoreResult<()>;
    /// End every session of a user (password reset, account disabled). Returns how many.
    async fn delete_user_sessions(&self, user_id: UserId) -> StoreResult<u64>;
    /// Remove sessions that expired before `now`. Returns how many.
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// A user's signed-in sessions live at `now`, newest first.
    async fn user_sessions(&self, user_id: UserId, now: DateTime<Utc>) -> StoreResult<Vec<Session>>;
    /// End one session of this user; false when it is not theirs or already gone.
    async fn delete_user_session(&self, user_id: UserId, id: &str) -> StoreResult<bool>;
}

/// The second factor (TOTP) and its recovery codes.
#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    async fn second_factor(&self, user_id: UserId) -> StoreResult<Option<SecondFactor>>;
    /// Set (or replace) the user's factor, with `first_step` already used (the code that
    /// confirmed it), and replace the recovery codes: one transaction.
    async fn set_second_factor(
        &self,
        user_id: UserId,
        secret: &str,
        first_step: i64,
        recovery_code_hashes: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Take a time step: true when it is later than every step taken before (compare-and-set,
    /// so two instances never both accept one code).
    async fn take_totp_step(&self, user_id: UserId, step: i64) -> StoreResult<bool>;
    /// Use a recovery code: true when it was the user's and unused.
    async fn use_recovery_code(&self, user_id: UserId, code_hash: &str, now: DateTime<Utc>) -> StoreResult<bool>;
    /// How many unused recovery codes the user has.
    async fn unused_recovery_codes(&self, user_id: UserId) -> StoreResult<i64>;
    /// Remove the factor and the recovery codes (an administrator's reset).
    async fn delete_second_factor(&self, user_id: UserId) -> StoreResult<()>;
}

/// A context whose steps and document kinds the database aggregated into JSON arrays next to
/// the application row: the whole read is one statement, one round trip.
fn transition_context(
    application: ApplicationRecord,
    steps: &str,
    document_kinds: &str,
    calendar_revision: i64,
) -> StoreResult<TransitionContext> {
    let corrupt =
        |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("{what} of {}: {e}", application.reference));
    let mut steps: Vec<Step> = serde_json::from_str(steps).map_err(|e| corrupt("history", e))?;
    // SQL does not promise the order of an aggregate's input.
    steps.sort_by_key(|s| s.seq);
    let document_kinds = serde_json::from_str(document_kinds).map_err(|e| corrupt("documents", e))?;
    Ok(TransitionContext { application, steps, document_kinds, calendar_revision })
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
        StoreError::from(e)
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
    application_id: ApplicationId,
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
    (4, "audit_checkpoints", include_str!("../../../migrations/sqlite/0004_audit_checkpoints.sql")),
    (5, "access log", include_str!("../../../migrations/sqlite/0005_access_log.sql")),
    (6, "sign in", include_str!("../../../migrations/sqlite/0006_sign_in.sql")),
    (7, "tokens", include_str!("../../../migrations/sqlite/0007_tokens.sql")),
    (8, "letters", include_str!("../../../migrations/sqlite/0008_letters.sql")),
    (9, "calendar revisions", include_str!("../../../migrations/sqlite/0009_calendar_revisions.sql")),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/postgres/0001_init.sql")),
    (2, "scheduler", include_str!("../../../migrations/postgres/0002_scheduler.sql")),
    (3, "queue", include_str!("../../../migrations/postgres/0003_queue.sql")),
    (4, "audit_checkpoints", include_str!("../../../migrations/postgres/0004_audit_checkpoints.sql")),
    (5, "access log", include_str!("../../../migrations/postgres/0005_access_log.sql")),
    (6, "sign in", include_str!("../../../migrations/postgres/0006_sign_in.sql")),
    (7, "tokens", include_str!("../../../migrations/postgres/0007_tokens.sql")),
    (8, "letters", include_str!("../../../migrations/postgres/0008_letters.sql")),
    (9, "calendar revisions", include_str!("../../../migrations/postgres/0009_calendar_revisions.sql")),
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

/// sqlx carries a model type that is stored as text (the model itself knows nothing of sqlx):
/// encoded and decoded as the `String` it is written as, on every database.
macro_rules! stored_as_text {
    ($t:ty) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $t
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $t
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut DB::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, DB>>::encode(self.to_string(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $t
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<String as sqlx::Decode<'r, DB>>::decode(value)?.into())
            }
        }
    };
}

stored_as_text!(crate::role::Role);
