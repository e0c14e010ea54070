//! Every query of the store, written once for both databases.
//!
//! The SQL text is the same on SQLite and PostgreSQL: `$n` placeholders (SQLite reads `$1`
//! as parameter 1, and a `$n` used twice is one parameter), `TRUE`/`FALSE`, `NOT col`,
//! `IS NOT DISTINCT FROM` (SQLite 3.39+; sqlx bundles a newer one), lists as `IN (...)` of
//! single binds. JSON is bound and read as `serde_json::Value` on both (text on SQLite, jsonb
//! on PostgreSQL), except the audit `data`, whose exact text is what was hashed.
//!
//! [`shared_queries!`] expands into a module `sql` inside each backend's module. That
//! module provides, and the expansion imports from it by name:
//! - `Db`, the sqlx database;
//! - `ts(DateTime<Utc>)`: a time as that database keeps it (fixed-width text on SQLite,
//!   microsecond timestamptz on PostgreSQL);
//! - `CLAIM_JOBS_SQL` (binds `$1` now, `$2` limit, `$3` worker, `$4` lease end; returns the
//!   claimed rows) and `TRANSITION_CONTEXT_SQL` (bind `$1` reference; the application's
//!   columns plus `context_steps` and `context_document_kinds`, JSON arrays as text, and
//!   `context_calendar_revision`, the newest holiday change's number);
//! - the store type, with a field `pool` (reads and single-statement writes) and a method
//!   `write_tx()` (a write transaction);
//!
//! and passes, in this order, the store type, the backend's name, its migrator and the SQL of
//! the audit `data` parameter (`$12` there).

/// A record read from a row: each field before `;` from the column of its name; after
/// `wrap`, each from the column of its name through [`Column`] (ids, references); after
/// `local`, each from the local variable of its name.
macro_rules! from_row {
    ($row:ident, $record:ident {
        $($field:ident),* $(; wrap $($wrapped:ident),*)? $(; local $($local:ident),*)?
    }) => {
        $record {
            $($field: $row.try_get(stringify!($field))?,)*
            $($($wrapped: $crate::store::queries::Column::wrap($row.try_get(stringify!($wrapped))?),)*)?
            $($($local,)*)?
        }
    };
}

pub(super) use from_row;

use crate::model::{ApplicationId, OrganisationId, Reference, UserId};

/// A model type that a column holds as a plain database value: an id as its `i64`, a
/// reference as its text. Queries bind `.get()` / `.as_str()`; the row mappers wrap.
pub(super) trait Column: Sized {
    type Raw;
    fn wrap(raw: Self::Raw) -> Self;
}

impl Column for ApplicationId {
    type Raw = i64;
    fn wrap(raw: i64) -> Self {
        ApplicationId::new(raw)
    }
}

impl Column for UserId {
    type Raw = i64;
    fn wrap(raw: i64) -> Self {
        UserId::new(raw)
    }
}

impl Column for crate::model::TokenId {
    type Raw = i64;
    fn wrap(raw: i64) -> Self {
        crate::model::TokenId::new(raw)
    }
}

impl Column for OrganisationId {
    type Raw = i64;
    fn wrap(raw: i64) -> Self {
        OrganisationId::new(raw)
    }
}

impl Column for Reference {
    type Raw = String;
    fn wrap(raw: String) -> Self {
        Reference::stored(raw)
    }
}

impl<T: Column> Column for Option<T> {
    type Raw = Option<T::Raw>;
    fn wrap(raw: Option<T::Raw>) -> Self {
        raw.map(T::wrap)
    }
}

macro_rules! shared_queries {
    ($store:ident, $backend:literal, $migrator:expr, $audit_data:literal) => {
        mod sql {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use serde_json::Value;
            use sqlx::{QueryBuilder, Row, Transaction};

            use super::{CLAIM_JOBS_SQL, Db, TRANSITION_CONTEXT_SQL, $store, ts};
            use $crate::store::queries::from_row;
            use $crate::role::Role;
            use $crate::store::{ApiToken, NewToken, TokenId};
            use $crate::store::{LetterRecord, LetterStore, NewLetter};
            use $crate::store::{
                ApplicationEdit, ApplicationFilter, ApplicationId, ApplicationRecord, ApplicationStore, AuditEvent,
                AccessKind, AccessQuery, AccessRecord, AccessStore, NewAccess, RetentionStore, StateScope,
                AuditStore, CalendarStore, CalendarChange, StoredHolidays, ApplicationHead, Checkpoint, CheckpointHead, CheckpointStore, DeadlineChange, DeadlineStore, DocumentRecord, Job, JobId, JobKind, JobStatus,
                JobStore, NewApplication, NewAuditEvent, NewDocument, NewJob, NewUser, Organisation, OrganisationId,
                OrganisationStore, Reference, ScheduleRow, ScheduleStore, SecondFactor, SecondFactorStore, Session, SessionStage,
                SessionStore, Store, StoreError,
                StoreResult, StoredHoliday, StoredWorkflow, TokenStore, TransitionContext, TransitionWrite, User,
                UserId, UserStore, WorkflowStore, chain_next, search_patterns, transition_context, write_error,
            };

            type DbRow = <Db as sqlx::Database>::Row;
            type Tx = Transaction<'static, Db>;

            fn not_found_unless_one(done: u64, what: &'static str) -> StoreResult<()> {
                if done == 0 { Err(StoreError::NotFound(what)) } else { Ok(()) }
            }

            // ---- row mapping: each field from the column of its name ----

            fn organisation(row: &DbRow) -> StoreResult<Organisation> {
                Ok(from_row!(row, Organisation { name, kind, country, created_at; wrap id }))
            }

            fn user(row: &DbRow) -> StoreResult<User> {
                Ok(from_row!(row, User {
                    email, name, role, password_hash, language, disabled, created_at; wrap id, organisation_id
                }))
            }

            /// A token row read through [`TOKEN_COLUMNS`]'s names (they clash with the user's).
            fn api_token(row: &DbRow) -> StoreResult<ApiToken> {
                Ok(ApiToken {
                    id: TokenId::new(row.try_get("token_id")?),
                    user_id: UserId::new(row.try_get("token_user_id")?),
                    user_email: row.try_get("token_user_email")?,
                    user_name: row.try_get("token_user_name")?,
                    name: row.try_get("token_name")?,
                    created_at: row.try_get("token_created_at")?,
                    expires_at: row.try_get("token_expires_at")?,
                    last_used_at: row.try_get("token_last_used_at")?,
                    revoked_at: row.try_get("token_revoked_at")?,
                })
            }

            /// Revoke every live token of a user and end every session, inside `tx`.
            async fn revoke_user_credentials(tx: &mut Tx, id: UserId, now: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                    .bind(ts(now))
                    .bind(id.get())
                    .execute(&mut **tx)
                    .await?;
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.get()).execute(&mut **tx).await?;
                Ok(())
            }

            fn application(row: &DbRow) -> StoreResult<ApplicationRecord> {
                Ok(from_row!(row, ApplicationRecord {
                    workflow_id, workflow_version, state, previous_state, version, fields, applicant_name,
                    passport_number, created_at, updated_at, state_entered_at, submitted_at, deadline_at,
                    paused_remaining, escalated_at, audit_seq, audit_hash, calendar_revision;
                    wrap id, reference, organisation_id, created_by, assigned_to
                }))
            }

            fn application_head(row: &DbRow) -> StoreResult<ApplicationHead> {
                Ok(from_row!(row, ApplicationHead { state, version, audit_seq, audit_hash; wrap id, reference }))
            }

            fn checkpoint(row: &DbRow) -> StoreResult<Checkpoint> {
                Ok(from_row!(row, Checkpoint {
                    seq, tree_size, root_hash, created_at, key_fingerprint, signature
                }))
            }

            fn checkpoint_head(row: &DbRow) -> StoreResult<CheckpointHead> {
                let seq = row.try_get("head_seq")?;
                let hash = row.try_get("head_hash")?;
                Ok(from_row!(row, CheckpointHead { ; wrap application_id, reference; local seq, hash }))
            }

            fn document(row: &DbRow) -> StoreResult<DocumentRecord> {
                Ok(from_row!(row, DocumentRecord {
                    id, kind, filename, content_type, size, sha256, storage_key, uploaded_at, purged_at;
                    wrap application_id, uploaded_by
                }))
            }

            /// Reads `data_text`, the audit data as stored: its text is exactly what was hashed.
            fn event(row: &DbRow) -> StoreResult<AuditEvent> {
                let data: String = row.try_get("data_text")?;
                let data: Value = serde_json::from_str(&data)
                    .map_err(|e| StoreError::Corrupt(format!("audit data is not JSON: {e}")))?;
                Ok(from_row!(row, AuditEvent {
                    id, seq, actor_name, role, action, from_state, to_state, comment, reason, at, prev_hash, hash;
                    wrap application_id, actor_id, organisation_id;
                    local data
                }))
            }

            /// A kind or status this version does not know is `Corrupt`.
            fn job(row: &DbRow) -> StoreResult<Job> {
                let id = JobId(row.try_get("id")?);
                let kind: String = row.try_get("kind")?;
                let kind: JobKind =
                    kind.parse().map_err(|e| StoreError::Corrupt(format!("job {id}: {e}")))?;
                let status = job_status(&row.try_get::<String, _>("status")?)?;
                Ok(from_row!(row, Job {
                    dedup_key, payload, attempts, max_attempts, run_at, locked_by, locked_until,
                    last_error, created_at, updated_at; wrap application_id; local id, kind, status
                }))
            }

            fn job_status(text: &str) -> StoreResult<JobStatus> {
                text.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))
            }

            fn access(row: &DbRow) -> StoreResult<AccessRecord> {
                let kind: String = row.try_get("kind")?;
                let kind = AccessKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("access log kind `{kind}`")))?;
                Ok(from_row!(row, AccessRecord {
                    id, actor_name, role, item, document_id, client, at;
                    wrap user_id, organisation_id, application_id, reference;
                    local kind
                }))
            }

            /// ` AND (...)`: the rows in one of the scopes (states of a workflow version); with
            /// `acted_role`, also the rows in a scope's `states_if_acted` where that role has
            /// an event in the application's chain. No scope: no row.
            fn push_scopes(q: &mut QueryBuilder<Db>, table: &str, scopes: &[StateScope], acted_role: Option<&Role>) {
                q.push(" AND (");
                let mut first = true;
                for scope in scopes {
                    let acted = acted_role.filter(|_| !scope.states_if_acted.is_empty());
                    if scope.states.is_empty() && acted.is_none() {
                        continue;
                    }
                    if !first {
                        q.push(" OR ");
                    }
                    first = false;
                    q.push(format!("({table}.workflow_id = "))
                        .push_bind(scope.workflow_id.clone())
                        .push(format!(" AND {table}.workflow_version = "))
                        .push_bind(scope.workflow_version)
                        .push(" AND (");
                    if !scope.states.is_empty() {
                        q.push(format!("{table}.state IN "));
                        push_list(q, &scope.states);
                    }
                    if let Some(role) = acted {
                        if !scope.states.is_empty() {
                            q.push(" OR ");
                        }
                        q.push(format!("({table}.state IN "));
                        push_list(q, &scope.states_if_acted);
                        q.push(format!(
                            " AND EXISTS (SELECT 1 FROM audit_events e WHERE e.application_id = {table}.id AND e.role = "
                        ))
                        .push_bind(role.clone())
                        .push("))");
                    }
                    q.push("))");
                }
                if first {
                    q.push("FALSE");
                }
                q.push(")");
            }

            fn session(row: &DbRow) -> StoreResult<Session> {
                let stage: String = row.try_get("stage")?;
                let stage = SessionStage::parse(&stage)
                    .ok_or_else(|| StoreError::Corrupt(format!("session stage `{stage}`")))?;
                Ok(from_row!(row, Session {
                    id, csrf_token, created_at, expires_at, data, last_seen_at, client_address, user_agent;
                    wrap user_id; local stage
                }))
            }

            fn second_factor(row: &DbRow) -> StoreResult<SecondFactor> {
                Ok(from_row!(row, SecondFactor { secret, last_step, enabled_at; wrap user_id }))
            }

            fn calendar_change(row: &DbRow) -> StoreResult<CalendarChange> {
                Ok(from_row!(row, CalendarChange {
                    revision, calendar, date, name, is_holiday, changed_by, changed_at
                }))
            }

            /// The holidays and their revision in one statement (one snapshot): the revision
            /// row is joined to every holiday row, and stands alone when there is none.
            async fn read_stored_holidays<'e, E>(executor: E) -> StoreResult<StoredHolidays>
            where
                E: sqlx::Executor<'e, Database = Db>,
            {
                let rows = sqlx::query(
                    "SELECT r.revision, h.calendar, h.date, h.name, h.removed, h.changed_by, h.changed_at \
                     FROM (SELECT COALESCE(MAX(revision), 0) AS revision FROM calendar_changes) r \
                     LEFT JOIN holidays h ON TRUE ORDER BY h.calendar, h.date",
                )
                .fetch_all(executor)
                .await?;
                let mut out = StoredHolidays::default();
                for row in &rows {
                    out.revision = row.try_get("revision")?;
                    let calendar: Option<String> = row.try_get("calendar")?;
                    let (Some(calendar), Some(date), Some(name), Some(removed)) =
                        (calendar, row.try_get("date")?, row.try_get("name")?, row.try_get("removed")?)
                    else {
                        continue;
                    };
                    out.holidays.push(StoredHoliday {
                        calendar,
                        date,
                        name,
                        removed,
                        changed_by: row.try_get("changed_by")?,
                        changed_at: row.try_get("changed_at")?,
                    });
                }
                Ok(out)
            }

            fn schedule(row: &DbRow) -> StoreResult<ScheduleRow> {
                Ok(from_row!(row, ScheduleRow { key, cron, timezone, next_fire_at, last_fired_at }))
            }

            fn stored_workflow(row: &DbRow) -> StoreResult<StoredWorkflow> {
                Ok(from_row!(row, StoredWorkflow { workflow_id, version, content_hash, source, loaded_at }))
            }

            // ---- writes shared by several methods, inside the caller's transaction ----

            /// `Conflict` when the application exists, `NotFound` otherwise.
            async fn version_error(tx: &mut Tx, id: ApplicationId, expected: i64) -> StoreError {
                match sqlx::query("SELECT 1 FROM applications WHERE id = $1")
                    .bind(id.get())
                    .fetch_optional(&mut **tx)
                    .await
                {
                    Ok(Some(_)) => StoreError::Conflict { expected },
                    Ok(None) => StoreError::NotFound("application"),
                    Err(e) => e.into(),
                }
            }

            /// All of a transition's writes. The caller's transaction holds the application
            /// (SQLite: the write lock; PostgreSQL: the row lock of the update), so the chain
            /// cannot fork.
            async fn write_transition(
                tx: &mut Tx,
                before: &ApplicationRecord,
                write: TransitionWrite,
            ) -> StoreResult<ApplicationRecord> {
                let now = ts(write.now);
                let updated = sqlx::query(
                    "UPDATE applications SET version = version + 1, state = $1, previous_state = $2, \
                     fields = COALESCE($3, fields), applicant_name = COALESCE($4, applicant_name), \
                     passport_number = COALESCE($5, passport_number), submitted_at = COALESCE($6, submitted_at), \
                     deadline_at = $7, paused_remaining = $8, escalated_at = NULL, assigned_to = NULL, \
                     state_entered_at = $9, updated_at = $9, calendar_revision = $12 \
                     WHERE id = $10 AND version = $11",
                )
                .bind(&write.new_state)
                .bind(&write.previous_state)
                .bind(&write.fields)
                .bind(&write.applicant_name)
                .bind(&write.passport_number)
                .bind(write.submitted_at.map(ts))
                .bind(write.deadline_at.map(ts))
                .bind(&write.paused_remaining)
                .bind(&now)
                .bind(write.application_id.get())
                .bind(write.expected_version)
                .bind(write.calendar_revision)
                .execute(&mut **tx)
                .await?;
                if updated.rows_affected() == 0 {
                    return Err(version_error(tx, write.application_id, write.expected_version).await);
                }
                let mut record = write.applied_to(before);
                let expected = write.expected_version;
                (record.audit_seq, record.audit_hash) =
                    append_event_after(tx, record.id, &write.audit, write.chain_after.clone()).await.map_err(|e| {
                        match e {
                            // Another event landed since the caller read the history.
                            StoreError::Duplicate(_) if write.chain_after.is_some() => {
                                StoreError::Conflict { expected }
                            }
                            other => other,
                        }
                    })?;
                if write.cancel_timers {
                    sqlx::query(concat!(
                        "UPDATE jobs SET status = 'cancelled', updated_at = $1 \
                         WHERE application_id = $2 AND status = 'pending' AND kind IN (",
                        $crate::sql_timer_kinds!(),
                        ")"
                    ))
                    .bind(&now)
                    .bind(record.id.get())
                    .execute(&mut **tx)
                    .await?;
                }
                insert_jobs(tx, &write.jobs, write.now).await?;
                Ok(record)
            }

            /// Returns the new chain head (seq, hash).
            async fn append_event(
                tx: &mut Tx,
                application_id: ApplicationId,
                audit: &NewAuditEvent,
            ) -> StoreResult<(i64, String)> {
                append_event_after(tx, application_id, audit, None).await
            }

            /// Append an event after `known_last` (the (seq, hash) of the last event as the
            /// caller read it), or after the last event read here, and move the application
            /// row's chain head to it: the row and its chain change together or not at all. A
            /// stale `known_last` cannot fork the chain: its seq is taken, and the unique
            /// (application_id, seq) refuses the insert. Returns the new head (seq, hash).
            async fn append_event_after(
                tx: &mut Tx,
                application_id: ApplicationId,
                audit: &NewAuditEvent,
                known_last: Option<(i64, String)>,
            ) -> StoreResult<(i64, String)> {
                let last: Option<(i64, String)> = if known_last.is_some() {
                    known_last
                } else {
                    sqlx::query_as(
                        "SELECT seq, hash FROM audit_events WHERE application_id = $1 ORDER BY seq DESC LIMIT 1",
                    )
                    .bind(application_id.get())
                    .fetch_optional(&mut **tx)
                    .await?
                };
                let (seq, prev_hash, hash, data) = chain_next(application_id, last, audit);
                sqlx::query(concat!(
                    "INSERT INTO audit_events (application_id, seq, actor_id, actor_name, role, organisation_id, \
                     action, from_state, to_state, comment, reason, data, at, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, ",
                    $audit_data,
                    ", $13, $14, $15)"
                ))
                .bind(application_id.get())
                .bind(seq)
                .bind(audit.actor_id.map(UserId::get))
                .bind(&audit.actor_name)
                .bind(&audit.role)
                .bind(audit.organisation_id.map(OrganisationId::get))
                .bind(&audit.action)
                .bind(&audit.from_state)
                .bind(&audit.to_state)
                .bind(&audit.comment)
                .bind(&audit.reason)
                .bind(data)
                .bind(ts(audit.at))
                .bind(prev_hash)
                .bind(&hash)
                .execute(&mut **tx)
                .await
                .map_err(|e| {
                    write_error(e, || format!("audit event {seq} of application {application_id}"), "application")
                })?;
                sqlx::query("UPDATE applications SET audit_seq = $1, audit_hash = $2 WHERE id = $3")
                    .bind(seq)
                    .bind(&hash)
                    .bind(application_id.get())
                    .execute(&mut **tx)
                    .await?;
                Ok((seq, hash))
            }

            async fn insert_jobs(tx: &mut Tx, jobs: &[NewJob], now: DateTime<Utc>) -> StoreResult<()> {
                for job in jobs {
                    sqlx::query(
                        "INSERT INTO jobs (kind, dedup_key, application_id, payload, status, attempts, max_attempts, \
                         run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $7) \
                         ON CONFLICT (dedup_key) DO NOTHING",
                    )
                    .bind(job.kind().as_str())
                    .bind(&job.dedup_key)
                    .bind(job.application_id.map(ApplicationId::get))
                    .bind(job.payload.to_stored())
                    .bind(job.max_attempts)
                    .bind(ts(job.run_at))
                    .bind(ts(now))
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| write_error(e, || format!("job {}", job.dedup_key), "application of a job"))?;
                }
                Ok(())
            }

            /// `IN (...)` of one bind per value.
            fn push_list<'a>(q: &mut QueryBuilder<Db>, values: impl IntoIterator<Item = &'a String>) {
                q.push("(");
                let mut list = q.separated(", ");
                for v in values {
                    list.push_bind(v.clone());
                }
                q.push(")");
            }

            impl $store {
                /// One page part of `applications`: rows with a deadline, or rows without.
                async fn application_page(
                    &self,
                    filter: &ApplicationFilter,
                    with_deadline: bool,
                    limit: i64,
                ) -> StoreResult<Vec<ApplicationRecord>> {
                    let mut q = QueryBuilder::<Db>::new("SELECT * FROM applications WHERE ");
                    if with_deadline {
                        q.push("deadline_at IS NOT NULL");
                        if let Some((Some(deadline), id)) = &filter.after {
                            q.push(" AND (deadline_at, id) > (")
                                .push_bind(ts(*deadline))
                                .push(", ")
                                .push_bind(id.get())
                                .push(")");
                        }
                    } else {
                        q.push("deadline_at IS NULL");
                        if let Some((None, id)) = &filter.after {
                            q.push(" AND id > ").push_bind(id.get());
                        }
                    }
                    if let Some(org) = filter.organisation_id {
                        q.push(" AND organisation_id = ").push_bind(org.get());
                    }
                    if let Some(wf) = &filter.workflow_id {
                        q.push(" AND workflow_id = ").push_bind(wf.clone());
                    }
                    if let Some(states) = &filter.states {
                        if let [one] = states.as_slice() {
                            q.push(" AND state = ").push_bind(one.clone());
                        } else {
                            q.push(" AND state IN ");
                            push_list(&mut q, states);
                        }
                    }
                    if !filter.exclude_states.is_empty() {
                        q.push(" AND state NOT IN ");
                        push_list(&mut q, &filter.exclude_states);
                    }
                    if let Some((reference, name)) = filter.search.as_deref().and_then(search_patterns) {
                        q.push(" AND (reference LIKE ")
                            .push_bind(reference)
                            .push(" ESCAPE '\\' OR applicant_name LIKE ")
                            .push_bind(name)
                            .push(" ESCAPE '\\')");
                    }
                    if let Some(user) = filter.assigned_to {
                        q.push(" AND assigned_to = ").push_bind(user.get());
                    }
                    if filter.unassigned {
                        q.push(" AND assigned_to IS NULL");
                    }
                    if let Some(readable) = &filter.readable {
                        push_scopes(&mut q, "applications", &readable.scopes, Some(&readable.role));
                    }
                    q.push(if with_deadline { " ORDER BY deadline_at, id" } else { " ORDER BY id" });
                    q.push(" LIMIT ").push_bind(limit);
                    let rows = q.build().fetch_all(&self.pool).await?;
                    rows.iter().map(application).collect()
                }
            }

            /// A transition's write transaction, opened by `begin_transition`.
            struct OpenTransition {
                tx: Tx,
                context: TransitionContext,
            }

            #[async_trait]
            impl $crate::store::OpenTransition for OpenTransition {
                fn context(&self) -> &TransitionContext {
                    &self.context
                }

                async fn stored_holidays(&mut self) -> StoreResult<StoredHolidays> {
                    read_stored_holidays(&mut *self.tx).await
                }

                async fn commit(mut self: Box<Self>, write: TransitionWrite) -> StoreResult<ApplicationRecord> {
                    if write.application_id != self.context.application.id {
                        return Err(StoreError::NotFound("application"));
                    }
                    let record = write_transition(&mut self.tx, &self.context.application, write).await?;
                    self.tx.commit().await?;
                    Ok(record)
                }
            }

            // ---- the capabilities ----

            #[async_trait]
            impl Store for $store {
                async fn migrate(&self) -> StoreResult<()> {
                    $migrator.run(&self.pool).await?;
                    Ok(())
                }

                fn backend(&self) -> &'static str {
                    $backend
                }
            }

            #[async_trait]
            impl OrganisationStore for $store {
                async fn create_organisation(
                    &self,
                    name: &str,
                    kind: &str,
                    country: Option<&str>,
                ) -> StoreResult<Organisation> {
                    let row = sqlx::query(
                        "INSERT INTO organisations (name, kind, country, created_at) VALUES ($1, $2, $3, $4) \
                         RETURNING *",
                    )
                    .bind(name)
                    .bind(kind)
                    .bind(country)
                    .bind(ts(Utc::now()))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("an organisation named {name}"), "organisation"))?;
                    organisation(&row)
                }

                async fn organisation(&self, id: OrganisationId) -> StoreResult<Organisation> {
                    let row = sqlx::query("SELECT * FROM organisations WHERE id = $1")
                        .bind(id.get())
                        .fetch_optional(&self.pool)
                        .await?;
                    organisation(&row.ok_or(StoreError::NotFound("organisation"))?)
                }

                async fn organisation_by_name(&self, name: &str) -> StoreResult<Option<Organisation>> {
                    let row = sqlx::query("SELECT * FROM organisations WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(organisation).transpose()
                }

                async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
                    let rows =
                        sqlx::query("SELECT * FROM organisations ORDER BY name, id").fetch_all(&self.pool).await?;
                    rows.iter().map(organisation).collect()
                }
            }

            #[async_trait]
            impl UserStore for $store {
                async fn create_user(&self, new: NewUser) -> StoreResult<User> {
                    let row = sqlx::query(
                        "INSERT INTO users (email, name, role, organisation_id, password_hash, language, disabled, \
                         created_at) VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7) RETURNING *",
                    )
                    .bind(&new.email)
                    .bind(&new.name)
                    .bind(&new.role)
                    .bind(new.organisation_id.get())
                    .bind(&new.password_hash)
                    .bind(&new.language)
                    .bind(ts(Utc::now()))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("a user with e-mail {}", new.email), "organisation"))?;
                    user(&row)
                }

                async fn user(&self, id: UserId) -> StoreResult<User> {
                    let row = sqlx::query("SELECT * FROM users WHERE id = $1")
                        .bind(id.get())
                        .fetch_optional(&self.pool)
                        .await?;
                    user(&row.ok_or(StoreError::NotFound("user"))?)
                }

                async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
                    let row = sqlx::query("SELECT * FROM users WHERE lower(email) = lower($1)")
                        .bind(email.trim())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(user).transpose()
                }

                async fn users(&self) -> StoreResult<Vec<User>> {
                    let rows = sqlx::query("SELECT * FROM users ORDER BY id").fetch_all(&self.pool).await?;
                    rows.iter().map(user).collect()
                }

                async fn users_with_role(&self, role: &Role) -> StoreResult<Vec<User>> {
                    let rows = sqlx::query("SELECT * FROM users WHERE role = $1 ORDER BY id")
                        .bind(role)
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(user).collect()
                }

                async fn set_user_password(
                    &self,
                    id: UserId,
                    password_hash: &str,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    let mut tx = self.write_tx().await?;
                    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                        .bind(password_hash)
                        .bind(id.get())
                        .execute(&mut *tx)
                        .await?;
                    not_found_unless_one(done.rows_affected(), "user")?;
                    revoke_user_credentials(&mut tx, id, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn change_own_password(
                    &self,
                    id: UserId,
                    password_hash: &str,
                    keep_session: &str,
                    revoke_tokens: bool,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    let mut tx = self.write_tx().await?;
                    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                        .bind(password_hash)
                        .bind(id.get())
                        .execute(&mut *tx)
                        .await?;
                    not_found_unless_one(done.rows_affected(), "user")?;
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
                        .bind(id.get())
                        .bind(keep_session)
                        .execute(&mut *tx)
                        .await?;
                    if revoke_tokens {
                        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                            .bind(ts(now))
                            .bind(id.get())
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn set_user_role(&self, id: UserId, role: &Role) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                        .bind(role)
                        .bind(id.get())
                        .execute(&self.pool)
                        .await?;
                    not_found_unless_one(done.rows_affected(), "user")
                }

                async fn set_user_disabled(&self, id: UserId, disabled: bool, now: DateTime<Utc>) -> StoreResult<()> {
                    let mut tx = self.write_tx().await?;
                    let done = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                        .bind(disabled)
                        .bind(id.get())
                        .execute(&mut *tx)
                        .await?;
                    not_found_unless_one(done.rows_affected(), "user")?;
                    if disabled {
                        revoke_user_credentials(&mut tx, id, now).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn set_user_language(&self, id: UserId, language: &str) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE users SET language = $1 WHERE id = $2")
                        .bind(language)
                        .bind(id.get())
                        .execute(&self.pool)
                        .await?;
                    not_found_unless_one(done.rows_affected(), "user")
                }
            }

            #[async_trait]
            impl TokenStore for $store {
                async fn create_token(&self, new: NewToken) -> StoreResult<ApiToken> {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO api_tokens (user_id, token_hash, name, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(new.user_id.get())
                    .bind(&new.token_hash)
                    .bind(&new.name)
                    .bind(ts(new.created_at))
                    .bind(ts(new.expires_at))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || "this token".to_string(), "user"))?;
                    self.token(TokenId::new(id)).await
                }

                async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<(ApiToken, User)>> {
                    let row = sqlx::query(
                        "SELECT t.id AS token_id, t.user_id AS token_user_id, u.email AS token_user_email, u.name AS token_user_name, t.name AS token_name, t.created_at AS token_created_at, t.expires_at AS token_expires_at, t.last_used_at AS token_last_used_at, t.revoked_at AS token_revoked_at, u.* \
                         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
                    )
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(|r| Ok((api_token(&r)?, user(&r)?))).transpose()
                }

                async fn token(&self, id: TokenId) -> StoreResult<ApiToken> {
                    let row = sqlx::query(
                        "SELECT t.id AS token_id, t.user_id AS token_user_id, u.email AS token_user_email, u.name AS token_user_name, t.name AS token_name, t.created_at AS token_created_at, t.expires_at AS token_expires_at, t.last_used_at AS token_last_used_at, t.revoked_at AS token_revoked_at \
                         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1",
                    )
                    .bind(id.get())
                    .fetch_optional(&self.pool)
                    .await?;
                    api_token(&row.ok_or(StoreError::NotFound("token"))?)
                }

                async fn tokens(&self, user_id: Option<UserId>) -> StoreResult<Vec<ApiToken>> {
                    let rows = sqlx::query(
                        "SELECT t.id AS token_id, t.user_id AS token_user_id, u.email AS token_user_email, u.name AS token_user_name, t.name AS token_name, t.created_at AS token_created_at, t.expires_at AS token_expires_at, t.last_used_at AS token_last_used_at, t.revoked_at AS token_revoked_at \
                         FROM api_tokens t JOIN users u ON u.id = t.user_id \
                         WHERE $1 IS NULL OR t.user_id = $1 ORDER BY t.created_at DESC, t.id DESC",
                    )
                    .bind(user_id.map(|u| u.get()))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(api_token).collect()
                }

                async fn revoke_token(&self, id: TokenId, now: DateTime<Utc>) -> StoreResult<bool> {
                    let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                        .bind(ts(now))
                        .bind(id.get())
                        .execute(&self.pool)
                        .await?;
                    if done.rows_affected() == 0 {
                        // Tell an unknown token from one already revoked.
                        self.token(id).await?;
                        return Ok(false);
                    }
                    Ok(true)
                }

                async fn touch_token(
                    &self,
                    id: TokenId,
                    now: DateTime<Utc>,
                    not_since: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE api_tokens SET last_used_at = $1 \
                         WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
                    )
                    .bind(ts(now))
                    .bind(id.get())
                    .bind(ts(not_since))
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }
            }

            #[async_trait]
            impl WorkflowStore for $store {
                async fn register_workflow(
                    &self,
                    id: &str,
                    version: i64,
                    content_hash: &str,
                    source: &str,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    let mut tx = self.write_tx().await?;
                    sqlx::query(
                        "INSERT INTO workflow_definitions (workflow_id, version, content_hash, source, loaded_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workflow_id, version) DO NOTHING",
                    )
                    .bind(id)
                    .bind(version)
                    .bind(content_hash)
                    .bind(source)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await?;
                    let stored: String = sqlx::query_scalar(
                        "SELECT content_hash FROM workflow_definitions WHERE workflow_id = $1 AND version = $2",
                    )
                    .bind(id)
                    .bind(version)
                    .fetch_one(&mut *tx)
                    .await?;
                    if stored != content_hash {
                        return Err(StoreError::WorkflowChanged { id: id.to_string(), version });
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn stored_workflows(&self) -> StoreResult<Vec<StoredWorkflow>> {
                    let rows = sqlx::query("SELECT * FROM workflow_definitions ORDER BY workflow_id, version")
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(stored_workflow).collect()
                }
            }

            #[async_trait]
            impl ApplicationStore for $store {
                async fn create_application(
                    &self,
                    app: NewApplication,
                    audit: NewAuditEvent,
                ) -> StoreResult<ApplicationRecord> {
                    let mut tx = self.write_tx().await?;
                    let number: i64 = sqlx::query_scalar(
                        "INSERT INTO reference_counters (prefix, year, last) VALUES ($1, $2, 1) \
                         ON CONFLICT (prefix, year) DO UPDATE SET last = reference_counters.last + 1 RETURNING last",
                    )
                    .bind(&app.reference_prefix)
                    .bind(app.year)
                    .fetch_one(&mut *tx)
                    .await?;
                    let reference = Reference::format(&app.reference_prefix, app.year, number);
                    let row = sqlx::query(
                        "INSERT INTO applications (reference, workflow_id, workflow_version, state, previous_state, \
                         version, organisation_id, created_by, fields, applicant_name, passport_number, created_at, \
                         updated_at, state_entered_at) \
                         VALUES ($1, $2, $3, $4, NULL, 1, $5, $6, $7, $8, $9, $10, $10, $10) RETURNING *",
                    )
                    .bind(reference.as_str())
                    .bind(&app.workflow_id)
                    .bind(app.workflow_version)
                    .bind(&app.state)
                    .bind(app.organisation_id.get())
                    .bind(app.created_by.get())
                    .bind(&app.fields)
                    .bind(&app.applicant_name)
                    .bind(&app.passport_number)
                    .bind(ts(app.now))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| {
                        write_error(
                            e,
                            || format!("an application with reference {reference}"),
                            "workflow version, organisation or user",
                        )
                    })?;
                    let mut record = application(&row)?;
                    (record.audit_seq, record.audit_hash) = append_event(&mut tx, record.id, &audit).await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn application(&self, id: ApplicationId) -> StoreResult<ApplicationRecord> {
                    let row = sqlx::query("SELECT * FROM applications WHERE id = $1")
                        .bind(id.get())
                        .fetch_optional(&self.pool)
                        .await?;
                    application(&row.ok_or(StoreError::NotFound("application"))?)
                }

                async fn application_by_reference(
                    &self,
                    reference: &Reference,
                ) -> StoreResult<Option<ApplicationRecord>> {
                    let row = sqlx::query("SELECT * FROM applications WHERE reference = $1")
                        .bind(reference.as_str())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(application).transpose()
                }

                async fn applications(&self, filter: &ApplicationFilter) -> StoreResult<Vec<ApplicationRecord>> {
                    if filter.limit <= 0 || filter.states.as_ref().is_some_and(|s| s.is_empty()) {
                        return Ok(Vec::new());
                    }
                    let mut out = Vec::new();
                    if !matches!(filter.after, Some((None, _))) {
                        out = self.application_page(filter, true, filter.limit).await?;
                    }
                    let left = filter.limit - out.len() as i64;
                    if left > 0 {
                        out.extend(self.application_page(filter, false, left).await?);
                    }
                    Ok(out)
                }

                async fn edit_application(&self, edit: ApplicationEdit) -> StoreResult<ApplicationRecord> {
                    let mut tx = self.write_tx().await?;
                    let row = sqlx::query(
                        "UPDATE applications SET version = version + 1, \
                         fields = COALESCE($1, fields), applicant_name = COALESCE($2, applicant_name), \
                         passport_number = COALESCE($3, passport_number), \
                         assigned_to = CASE WHEN $4 THEN $5 ELSE assigned_to END, updated_at = $6 \
                         WHERE id = $7 AND version = $8 RETURNING *",
                    )
                    .bind(&edit.fields)
                    .bind(&edit.applicant_name)
                    .bind(&edit.passport_number)
                    .bind(edit.assigned_to.is_some())
                    .bind(edit.assigned_to.flatten().map(UserId::get))
                    .bind(ts(edit.now))
                    .bind(edit.application_id.get())
                    .bind(edit.expected_version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || "an application like this".into(), "assigned user"))?;
                    let Some(row) = row else {
                        return Err(version_error(&mut tx, edit.application_id, edit.expected_version).await);
                    };
                    let mut record = application(&row)?;
                    (record.audit_seq, record.audit_hash) = append_event(&mut tx, record.id, &edit.audit).await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn begin_transition(
                    &self,
                    reference: &Reference,
                ) -> StoreResult<Option<Box<dyn $crate::store::OpenTransition>>> {
                    let mut tx = self.write_tx().await?;
                    let row = sqlx::query(TRANSITION_CONTEXT_SQL)
                        .bind(reference.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else { return Ok(None) };
                    let steps: String = row.try_get("context_steps")?;
                    let document_kinds: String = row.try_get("context_document_kinds")?;
                    let revision: i64 = row.try_get("context_calendar_revision")?;
                    let context = transition_context(application(&row)?, &steps, &document_kinds, revision)?;
                    Ok(Some(Box::new(OpenTransition { tx, context })))
                }

                async fn add_document(
                    &self,
                    doc: NewDocument,
                    audit: NewAuditEvent,
                    expected_version: i64,
                ) -> StoreResult<DocumentRecord> {
                    let mut tx = self.write_tx().await?;
                    let bumped = sqlx::query(
                        "UPDATE applications SET version = version + 1, updated_at = $1 \
                         WHERE id = $2 AND version = $3",
                    )
                    .bind(ts(doc.now))
                    .bind(doc.application_id.get())
                    .bind(expected_version)
                    .execute(&mut *tx)
                    .await?;
                    if bumped.rows_affected() == 0 {
                        return Err(version_error(&mut tx, doc.application_id, expected_version).await);
                    }
                    let row = sqlx::query(
                        "INSERT INTO documents (application_id, kind, filename, content_type, size, sha256, \
                         storage_key, uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         RETURNING *",
                    )
                    .bind(doc.application_id.get())
                    .bind(&doc.kind)
                    .bind(&doc.filename)
                    .bind(&doc.content_type)
                    .bind(doc.size)
                    .bind(&doc.sha256)
                    .bind(&doc.storage_key)
                    .bind(doc.uploaded_by.get())
                    .bind(ts(doc.now))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| {
                        write_error(e, || format!("a document stored as {}", doc.storage_key), "uploading user")
                    })?;
                    let record = document(&row)?;
                    append_event(&mut tx, doc.application_id, &audit).await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn documents(&self, application_id: ApplicationId) -> StoreResult<Vec<DocumentRecord>> {
                    let rows = sqlx::query("SELECT * FROM documents WHERE application_id = $1 ORDER BY id")
                        .bind(application_id.get())
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(document).collect()
                }

                async fn document(&self, id: i64) -> StoreResult<DocumentRecord> {
                    let row = sqlx::query("SELECT * FROM documents WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                    document(&row.ok_or(StoreError::NotFound("document"))?)
                }
            }

            #[async_trait]
            impl AuditStore for $store {
                async fn history(&self, application_id: ApplicationId) -> StoreResult<Vec<AuditEvent>> {
                    let rows = sqlx::query(
                        "SELECT *, CAST(data AS TEXT) AS data_text FROM audit_events \
                         WHERE application_id = $1 ORDER BY seq",
                    )
                    .bind(application_id.get())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(event).collect()
                }

                async fn audited_applications(&self) -> StoreResult<Vec<ApplicationId>> {
                    let ids: Vec<i64> =
                        sqlx::query_scalar("SELECT DISTINCT application_id FROM audit_events ORDER BY application_id")
                            .fetch_all(&self.pool)
                            .await?;
                    Ok(ids.into_iter().map(ApplicationId::new).collect())
                }

                async fn application_heads(
                    &self,
                    after: ApplicationId,
                    limit: i64,
                ) -> StoreResult<Vec<ApplicationHead>> {
                    let rows = sqlx::query(
                        "SELECT id, reference, state, version, audit_seq, audit_hash FROM applications \
                         WHERE id > $1 ORDER BY id LIMIT $2",
                    )
                    .bind(after.get())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(application_head).collect()
                }
            }

            /// A checkpoint's write transaction, opened by `begin_checkpoint`: the heads it
            /// covers are copied inside it, so none moves between reading and signing.
            struct OpenCheckpoint {
                tx: Tx,
                seq: i64,
                heads: Vec<CheckpointHead>,
            }

            #[async_trait]
            impl $crate::store::OpenCheckpoint for OpenCheckpoint {
                fn seq(&self) -> i64 {
                    self.seq
                }

                fn heads(&self) -> &[CheckpointHead] {
                    &self.heads
                }

                async fn commit(mut self: Box<Self>, checkpoint: &Checkpoint) -> StoreResult<()> {
                    if checkpoint.seq != self.seq || checkpoint.tree_size != self.heads.len() as i64 {
                        return Err(StoreError::Corrupt("the checkpoint is not the one this transaction opened".into()));
                    }
                    sqlx::query(
                        "INSERT INTO audit_checkpoints (seq, tree_size, root_hash, created_at, key_fingerprint, \
                         signature) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(checkpoint.seq)
                    .bind(checkpoint.tree_size)
                    .bind(&checkpoint.root_hash)
                    .bind(ts(checkpoint.created_at))
                    .bind(&checkpoint.key_fingerprint)
                    .bind(&checkpoint.signature)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(|e| write_error(e, || format!("checkpoint {}", checkpoint.seq), "checkpoint"))?;
                    self.tx.commit().await?;
                    Ok(())
                }
            }

            #[async_trait]
            impl CheckpointStore for $store {
                async fn begin_checkpoint(&self) -> StoreResult<Box<dyn $crate::store::OpenCheckpoint>> {
                    let mut tx = self.write_tx().await?;
                    let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_checkpoints")
                        .fetch_one(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM audit_checkpoint_heads").execute(&mut *tx).await?;
                    sqlx::query(
                        "INSERT INTO audit_checkpoint_heads (checkpoint_seq, application_id, reference, head_seq, \
                         head_hash) SELECT $1, id, reference, audit_seq, audit_hash FROM applications",
                    )
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || format!("checkpoint {seq}"), "checkpoint"))?;
                    let rows = sqlx::query(
                        "SELECT * FROM audit_checkpoint_heads WHERE checkpoint_seq = $1 ORDER BY application_id",
                    )
                    .bind(seq)
                    .fetch_all(&mut *tx)
                    .await?;
                    let heads = rows.iter().map(checkpoint_head).collect::<StoreResult<Vec<_>>>()?;
                    Ok(Box::new(OpenCheckpoint { tx, seq, heads }))
                }

                async fn checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
                    let rows = sqlx::query("SELECT * FROM audit_checkpoints ORDER BY seq").fetch_all(&self.pool).await?;
                    rows.iter().map(checkpoint).collect()
                }

                async fn latest_checkpoint(&self) -> StoreResult<Option<Checkpoint>> {
                    let row = sqlx::query("SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(checkpoint).transpose()
                }

                async fn checkpoint_heads(&self, seq: i64) -> StoreResult<Vec<CheckpointHead>> {
                    let rows = sqlx::query(
                        "SELECT * FROM audit_checkpoint_heads WHERE checkpoint_seq = $1 ORDER BY application_id",
                    )
                    .bind(seq)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(checkpoint_head).collect()
                }
            }

            #[async_trait]
            impl DeadlineStore for $store {
                async fn applications_counted_before(
                    &self,
                    revision: i64,
                    after: Option<(i64, ApplicationId)>,
                    limit: i64,
                ) -> StoreResult<Vec<ApplicationRecord>> {
                    let (after_revision, after_id) = after.unwrap_or((-1, ApplicationId::new(0)));
                    let rows = sqlx::query(
                        "SELECT * FROM applications \
                         WHERE deadline_at IS NOT NULL AND calendar_revision < $1 \
                           AND (calendar_revision, id) > ($2, $3) \
                         ORDER BY calendar_revision, id LIMIT $4",
                    )
                    .bind(revision)
                    .bind(after_revision)
                    .bind(after_id.get())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(application).collect()
                }

                async fn mark_counted(
                    &self,
                    applications: &[(ApplicationId, i64, i64)],
                    revision: i64,
                ) -> StoreResult<u64> {
                    if applications.is_empty() {
                        return Ok(0);
                    }
                    let mut tx = self.write_tx().await?;
                    let mut marked = 0;
                    for (id, version, counted_with) in applications {
                        marked += sqlx::query(
                            "UPDATE applications SET calendar_revision = $1 \
                             WHERE id = $2 AND version = $3 AND calendar_revision = $4",
                        )
                        .bind(revision)
                        .bind(id.get())
                        .bind(version)
                        .bind(counted_with)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    }
                    tx.commit().await?;
                    Ok(marked)
                }

                async fn move_deadline(&self, change: DeadlineChange) -> StoreResult<bool> {
                    let mut tx = self.write_tx().await?;
                    let moved = sqlx::query(
                        "UPDATE applications SET deadline_at = $1, updated_at = $2, calendar_revision = $6 \
                         WHERE id = $3 AND state = $4 AND deadline_at IS NOT DISTINCT FROM $5 \
                           AND version = $7 AND calendar_revision = $8",
                    )
                    .bind(ts(change.new_deadline))
                    .bind(ts(change.now))
                    .bind(change.application_id.get())
                    .bind(&change.state)
                    .bind(change.old_deadline.map(ts))
                    .bind(change.revision)
                    .bind(change.version)
                    .bind(change.counted_with)
                    .execute(&mut *tx)
                    .await?;
                    if moved.rows_affected() == 0 {
                        return Ok(false);
                    }
                    for (id, run_at, payload) in &change.timers {
                        sqlx::query(
                            "UPDATE jobs SET run_at = $1, payload = $2, updated_at = $3 \
                             WHERE id = $4 AND application_id = $5 AND status = 'pending'",
                        )
                        .bind(ts(*run_at))
                        .bind(payload)
                        .bind(ts(change.now))
                        .bind(id.get())
                        .bind(change.application_id.get())
                        .execute(&mut *tx)
                        .await?;
                    }
                    append_event(&mut tx, change.application_id, &change.audit).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn mark_escalated(
                    &self,
                    application_id: ApplicationId,
                    state: &str,
                    audit: NewAuditEvent,
                ) -> StoreResult<bool> {
                    let mut tx = self.write_tx().await?;
                    let marked = sqlx::query(
                        "UPDATE applications SET escalated_at = $1 \
                         WHERE id = $2 AND state = $3 AND escalated_at IS NULL",
                    )
                    .bind(ts(audit.at))
                    .bind(application_id.get())
                    .bind(state)
                    .execute(&mut *tx)
                    .await?;
                    if marked.rows_affected() == 0 {
                        return Ok(false);
                    }
                    append_event(&mut tx, application_id, &audit).await?;
                    tx.commit().await?;
                    Ok(true)
                }
            }

            #[async_trait]
            impl JobStore for $store {
                async fn enqueue_jobs(&self, jobs: Vec<NewJob>) -> StoreResult<()> {
                    if jobs.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.write_tx().await?;
                    insert_jobs(&mut tx, &jobs, Utc::now()).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn claim_jobs(
                    &self,
                    worker: &str,
                    now: DateTime<Utc>,
                    lease_seconds: i64,
                    limit: i64,
                ) -> StoreResult<Vec<Job>> {
                    if limit <= 0 {
                        return Ok(Vec::new());
                    }
                    let until = now + chrono::Duration::seconds(lease_seconds);
                    let rows = sqlx::query(CLAIM_JOBS_SQL)
                        .bind(ts(now))
                        .bind(limit)
                        .bind(worker)
                        .bind(ts(until))
                        .fetch_all(&self.pool)
                        .await?;
                    let mut jobs = Vec::with_capacity(rows.len());
                    for row in &rows {
                        match job(row) {
                            Ok(j) => jobs.push(j),
                            Err(StoreError::Corrupt(why)) => {
                                let id: i64 = row.try_get("id")?;
                                tracing::error!(job = id, error = %why, "job cannot be read: dead letter");
                                self.fail_job(JobId(id), worker, &why, None, now).await?;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    jobs.sort_by_key(|j| (j.run_at, j.id));
                    Ok(jobs)
                }

                async fn extend_leases(&self, ids: &[JobId], worker: &str, until: DateTime<Utc>) -> StoreResult<u64> {
                    if ids.is_empty() {
                        return Ok(0);
                    }
                    let mut q = QueryBuilder::<Db>::new("UPDATE jobs SET locked_until = ");
                    q.push_bind(ts(until)).push(" WHERE locked_by = ").push_bind(worker);
                    q.push(" AND status = 'running' AND id IN (");
                    let mut list = q.separated(", ");
                    for id in ids {
                        list.push_bind(id.get());
                    }
                    q.push(")");
                    Ok(q.build().execute(&self.pool).await?.rows_affected())
                }

                async fn complete_job(&self, id: JobId, worker: &str, now: DateTime<Utc>) -> StoreResult<()> {
                    let done = sqlx::query(
                        "UPDATE jobs SET status = 'done', locked_until = NULL, updated_at = $1 \
                         WHERE id = $2 AND locked_by = $3 AND status = 'running'",
                    )
                    .bind(ts(now))
                    .bind(id.get())
                    .bind(worker)
                    .execute(&self.pool)
                    .await?;
                    if done.rows_affected() == 0 {
                        tracing::warn!(job = id.get(), worker, "job not completed: this worker no longer holds its lease");
                    }
                    Ok(())
                }

                async fn fail_job(
                    &self,
                    id: JobId,
                    worker: &str,
                    error: &str,
                    retry_at: Option<DateTime<Utc>>,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    let done = match retry_at {
                        Some(at) => {
                            sqlx::query(
                                "UPDATE jobs SET status = 'pending', run_at = $1, locked_by = NULL, \
                                 locked_until = NULL, last_error = $2, updated_at = $3 \
                                 WHERE id = $4 AND locked_by = $5 AND status = 'running'",
                            )
                            .bind(ts(at))
                        }
                        None => sqlx::query(
                            "UPDATE jobs SET status = 'dead', locked_until = NULL, last_error = $1, updated_at = $2 \
                             WHERE id = $3 AND locked_by = $4 AND status = 'running'",
                        ),
                    }
                    .bind(error)
                    .bind(ts(now))
                    .bind(id.get())
                    .bind(worker)
                    .execute(&self.pool)
                    .await?;
                    if done.rows_affected() == 0 {
                        tracing::warn!(
                            job = id.get(),
                            worker,
                            "job failure not recorded: this worker no longer holds its lease"
                        );
                    }
                    Ok(())
                }

                async fn retry_job(&self, id: JobId, now: DateTime<Utc>) -> StoreResult<()> {
                    let done = sqlx::query(
                        "UPDATE jobs SET status = 'pending', attempts = 0, run_at = $1, locked_by = NULL, \
                         locked_until = NULL, updated_at = $1 WHERE id = $2 AND status = 'dead'",
                    )
                    .bind(ts(now))
                    .bind(id.get())
                    .execute(&self.pool)
                    .await?;
                    not_found_unless_one(done.rows_affected(), "dead job")
                }

                async fn job(&self, id: JobId) -> StoreResult<Job> {
                    let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
                        .bind(id.get())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(job).transpose()?.ok_or(StoreError::NotFound("job"))
                }

                async fn jobs(&self, status: Option<JobStatus>, limit: i64) -> StoreResult<Vec<Job>> {
                    // Two statements, so that a status is looked up through its index.
                    let query = match status {
                        Some(s) => {
                            sqlx::query("SELECT * FROM jobs WHERE status = $1 ORDER BY id DESC LIMIT $2").bind(s.as_str())
                        }
                        None => sqlx::query("SELECT * FROM jobs ORDER BY id DESC LIMIT $1"),
                    };
                    let rows = query.bind(limit).fetch_all(&self.pool).await?;
                    rows.iter().map(job).collect()
                }

                async fn job_counts(&self) -> StoreResult<Vec<(JobStatus, i64)>> {
                    let counts: Vec<(String, i64)> =
                        sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
                            .fetch_all(&self.pool)
                            .await?;
                    counts.into_iter().map(|(s, n)| Ok((job_status(&s)?, n))).collect()
                }

                async fn pending_timers(&self, application_id: ApplicationId) -> StoreResult<Vec<Job>> {
                    let rows = sqlx::query(concat!(
                        "SELECT * FROM jobs WHERE application_id = $1 AND status = 'pending' AND kind IN (",
                        $crate::sql_timer_kinds!(),
                        ") ORDER BY id"
                    ))
                    .bind(application_id.get())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(job).collect()
                }
            }

            #[async_trait]
            impl ScheduleStore for $store {
                async fn schedules(&self) -> StoreResult<Vec<ScheduleRow>> {
                    let rows = sqlx::query("SELECT * FROM schedules ORDER BY key").fetch_all(&self.pool).await?;
                    rows.iter().map(schedule).collect()
                }

                async fn ensure_schedule(&self, row: &ScheduleRow, now: DateTime<Utc>) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO schedules (key, cron, timezone, next_fire_at, last_fired_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(&row.key)
                    .bind(&row.cron)
                    .bind(&row.timezone)
                    .bind(ts(row.next_fire_at))
                    .bind(row.last_fired_at.map(ts))
                    .bind(ts(now))
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn advance_schedule(
                    &self,
                    row: &ScheduleRow,
                    expected_next: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE schedules SET next_fire_at = $1, last_fired_at = $2, cron = $3, timezone = $4, \
                         updated_at = $5 WHERE key = $6 AND next_fire_at = $7",
                    )
                    .bind(ts(row.next_fire_at))
                    .bind(row.last_fired_at.map(ts))
                    .bind(&row.cron)
                    .bind(&row.timezone)
                    .bind(ts(now))
                    .bind(&row.key)
                    .bind(ts(expected_next))
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }
            }

            #[async_trait]
            impl CalendarStore for $store {
                async fn stored_holidays(&self) -> StoreResult<StoredHolidays> {
                    read_stored_holidays(&self.pool).await
                }

                async fn change_holiday(
                    &self,
                    change: &CalendarChange,
                    row: Option<&StoredHoliday>,
                ) -> StoreResult<i64> {
                    let mut tx = self.write_tx().await?;
                    let revision: i64 = sqlx::query_scalar(
                        "INSERT INTO calendar_changes \
                         (revision, calendar, date, name, is_holiday, changed_by, changed_at) \
                         SELECT COALESCE(MAX(revision), 0) + 1, $1, $2, $3, $4, $5, $6 FROM calendar_changes \
                         RETURNING revision",
                    )
                    .bind(&change.calendar)
                    .bind(change.date)
                    .bind(&change.name)
                    .bind(change.is_holiday)
                    .bind(&change.changed_by)
                    .bind(ts(change.changed_at))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || "a holiday change made at the same moment".into(), "calendar"))?;
                    match row {
                        Some(h) => put_holiday(&mut tx, h).await?,
                        None => {
                            sqlx::query("DELETE FROM holidays WHERE calendar = $1 AND date = $2")
                                .bind(&change.calendar)
                                .bind(change.date)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    tx.commit().await?;
                    Ok(revision)
                }

                async fn calendar_changes_after(&self, revision: i64) -> StoreResult<Vec<CalendarChange>> {
                    let rows = sqlx::query("SELECT * FROM calendar_changes WHERE revision > $1 ORDER BY revision")
                        .bind(revision)
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(calendar_change).collect()
                }
            }

            async fn put_holiday(tx: &mut Tx, h: &StoredHoliday) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO holidays (calendar, date, name, removed, changed_by, changed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (calendar, date) DO UPDATE SET name = excluded.name, removed = excluded.removed, \
                     changed_by = excluded.changed_by, changed_at = excluded.changed_at",
                )
                .bind(&h.calendar)
                .bind(h.date)
                .bind(&h.name)
                .bind(h.removed)
                .bind(&h.changed_by)
                .bind(h.changed_at.map(ts))
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            #[async_trait]
            impl AccessStore for $store {
                async fn role_acted(&self, application_id: ApplicationId, role: &Role) -> StoreResult<bool> {
                    let found: Option<i64> = sqlx::query_scalar(
                        "SELECT id FROM audit_events WHERE application_id = $1 AND role = $2 LIMIT 1",
                    )
                    .bind(application_id.get())
                    .bind(role)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(found.is_some())
                }

                async fn record_access(&self, lines: &[NewAccess]) -> StoreResult<()> {
                    if lines.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.write_tx().await?;
                    for l in lines {
                        sqlx::query(
                            "INSERT INTO access_log (user_id, actor_name, role, organisation_id, application_id, \
                             reference, kind, item, document_id, client, at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        )
                        .bind(l.user_id.map(UserId::get))
                        .bind(&l.actor_name)
                        .bind(&l.role)
                        .bind(l.organisation_id.map(OrganisationId::get))
                        .bind(l.application_id.get())
                        .bind(l.reference.as_str())
                        .bind(l.kind.as_str())
                        .bind(&l.item)
                        .bind(l.document_id)
                        .bind(&l.client)
                        .bind(ts(l.at))
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn access_log(&self, query: &AccessQuery) -> StoreResult<Vec<AccessRecord>> {
                    let mut q = QueryBuilder::<Db>::new("SELECT * FROM access_log WHERE TRUE");
                    if let Some(reference) = &query.reference {
                        q.push(" AND reference = ").push_bind(reference.as_str().to_string());
                    }
                    if let Some(user) = query.user_id {
                        q.push(" AND user_id = ").push_bind(user.get());
                    }
                    if let Some(before) = query.before {
                        q.push(" AND id < ").push_bind(before);
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(query.limit.max(0));
                    let rows = q.build().fetch_all(&self.pool).await?;
                    rows.iter().map(access).collect()
                }
            }

            fn letter(row: &DbRow) -> StoreResult<LetterRecord> {
                Ok(from_row!(row, LetterRecord {
                    id, number, code, sha256, signed, issued_at, revoked_at;
                    wrap application_id
                }))
            }

            #[async_trait]
            impl LetterStore for $store {
                async fn letter(&self, application_id: ApplicationId) -> StoreResult<Option<LetterRecord>> {
                    let row = sqlx::query("SELECT * FROM letters WHERE application_id = $1")
                        .bind(application_id.get())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(letter).transpose()
                }

                async fn letter_by_code(&self, code: &str) -> StoreResult<Option<LetterRecord>> {
                    let row = sqlx::query("SELECT * FROM letters WHERE code = $1")
                        .bind(code)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(letter).transpose()
                }

                async fn issue_letter(&self, new: NewLetter, audit: NewAuditEvent) -> StoreResult<LetterRecord> {
                    let mut tx = self.write_tx().await?;
                    let existing = sqlx::query("SELECT * FROM letters WHERE application_id = $1")
                        .bind(new.application_id.get())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(row) = existing {
                        return letter(&row);
                    }
                    let inserted = sqlx::query(
                        "INSERT INTO letters (application_id, number, code, sha256, signed, issued_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (application_id) DO NOTHING RETURNING *",
                    )
                    .bind(new.application_id.get())
                    .bind(&new.number)
                    .bind(&new.code)
                    .bind(&new.sha256)
                    .bind(&new.signed)
                    .bind(ts(new.issued_at))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || format!("the letter {}", new.number), "application"))?;
                    let Some(row) = inserted else {
                        // Another instance kept its letter between the read and the insert.
                        drop(tx);
                        return self.letter(new.application_id).await?.ok_or(StoreError::NotFound("letter"));
                    };
                    let record = letter(&row)?;
                    append_event(&mut tx, new.application_id, &audit).await?;
                    tx.commit().await?;
                    Ok(record)
                }
            }

            #[async_trait]
            impl RetentionStore for $store {
                async fn documents_to_purge(
                    &self,
                    ended: &[StateScope],
                    entered_by: DateTime<Utc>,
                    limit: i64,
                ) -> StoreResult<Vec<DocumentRecord>> {
                    let mut q = QueryBuilder::<Db>::new(
                        "SELECT d.* FROM documents d JOIN applications a ON a.id = d.application_id \
                         WHERE d.purged_at IS NULL AND a.state_entered_at <= ",
                    );
                    q.push_bind(ts(entered_by));
                    push_scopes(&mut q, "a", ended, None);
                    q.push(" ORDER BY d.id LIMIT ").push_bind(limit.max(0));
                    let rows = q.build().fetch_all(&self.pool).await?;
                    rows.iter().map(document).collect()
                }

                async fn mark_document_purged(&self, document_id: i64, audit: NewAuditEvent) -> StoreResult<bool> {
                    let mut tx = self.write_tx().await?;
                    let application_id: Option<i64> = sqlx::query_scalar(
                        "UPDATE documents SET purged_at = $1 WHERE id = $2 AND purged_at IS NULL \
                         RETURNING application_id",
                    )
                    .bind(ts(audit.at))
                    .bind(document_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(application_id) = application_id else {
                        return Ok(false);
                    };
                    append_event(&mut tx, ApplicationId::new(application_id), &audit).await?;
                    tx.commit().await?;
                    Ok(true)
                }
            }

            #[async_trait]
            impl SessionStore for $store {
                async fn create_session(&self, session: &Session) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO sessions (id, user_id, csrf_token, created_at, expires_at, data, stage, \
                         last_seen_at, client_address, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&session.id)
                    .bind(session.user_id.map(UserId::get))
                    .bind(&session.csrf_token)
                    .bind(ts(session.created_at))
                    .bind(ts(session.expires_at))
                    .bind(&session.data)
                    .bind(session.stage.as_str())
                    .bind(session.last_seen_at.map(ts))
                    .bind(&session.client_address)
                    .bind(&session.user_agent)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || "this session".to_string(), "user"))?;
                    Ok(())
                }

                async fn session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>> {
                    let row = sqlx::query("SELECT * FROM sessions WHERE id = $1 AND expires_at > $2")
                        .bind(id)
                        .bind(ts(now))
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(session).transpose()
                }

                async fn touch_session(
                    &self,
                    id: &str,
                    expires_at: DateTime<Utc>,
                    seen: DateTime<Utc>,
                    data: &Value,
                ) -> StoreResult<()> {
                    sqlx::query("UPDATE sessions SET expires_at = $1, data = $2, last_seen_at = $4 WHERE id = $3")
                        .bind(ts(expires_at))
                        .bind(data)
                        .bind(id)
                        .bind(ts(seen))
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn delete_session(&self, id: &str) -> StoreResult<()> {
                    sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(&self.pool).await?;
                    Ok(())
                }

                async fn delete_user_sessions(&self, user_id: UserId) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(user_id.get())
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected())
                }

                async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                        .bind(ts(now))
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected())
                }

                async fn user_sessions(&self, user_id: UserId, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
                    let rows = sqlx::query(
                        "SELECT * FROM sessions WHERE user_id = $1 AND stage = 'signed_in' AND expires_at > $2 \
                         ORDER BY created_at DESC, id",
                    )
                    .bind(user_id.get())
                    .bind(ts(now))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(session).collect()
                }

                async fn delete_user_session(&self, user_id: UserId, id: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id = $2")
                        .bind(user_id.get())
                        .bind(id)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                }
            }

            #[async_trait]
            impl SecondFactorStore for $store {
                async fn second_factor(&self, user_id: UserId) -> StoreResult<Option<SecondFactor>> {
                    let row = sqlx::query("SELECT * FROM second_factors WHERE user_id = $1")
                        .bind(user_id.get())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(second_factor).transpose()
                }

                async fn set_second_factor(
                    &self,
                    user_id: UserId,
                    secret: &str,
                    first_step: i64,
                    recovery_code_hashes: &[String],
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    let mut tx = self.write_tx().await?;
                    sqlx::query("DELETE FROM second_factors WHERE user_id = $1")
                        .bind(user_id.get())
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO second_factors (user_id, secret, last_step, enabled_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(user_id.get())
                    .bind(secret)
                    .bind(first_step)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || "this second factor".to_string(), "user"))?;
                    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                        .bind(user_id.get())
                        .execute(&mut *tx)
                        .await?;
                    for hash in recovery_code_hashes {
                        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                            .bind(user_id.get())
                            .bind(hash)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn take_totp_step(&self, user_id: UserId, step: i64) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE second_factors SET last_step = $2 \
                         WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)",
                    )
                    .bind(user_id.get())
                    .bind(step)
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn use_recovery_code(
                    &self,
                    user_id: UserId,
                    code_hash: &str,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE recovery_codes SET used_at = $3 \
                         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                    )
                    .bind(user_id.get())
                    .bind(code_hash)
                    .bind(ts(now))
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn unused_recovery_codes(&self, user_id: UserId) -> StoreResult<i64> {
                    let row = sqlx::query(
                        "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                    )
                    .bind(user_id.get())
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(row.try_get("n")?)
                }

                async fn delete_second_factor(&self, user_id: UserId) -> StoreResult<()> {
                    let mut tx = self.write_tx().await?;
                    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                        .bind(user_id.get())
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM second_factors WHERE user_id = $1")
                        .bind(user_id.get())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }
            }
        }
    };
}

pub(super) use shared_queries;
