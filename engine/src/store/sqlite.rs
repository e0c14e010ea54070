//! The SQLite store: one file, WAL journal, every write transaction started with
//! `BEGIN IMMEDIATE` so that concurrent writers queue on the busy timeout instead of failing
//! on a lock upgrade.
//!
//! Durability: `synchronous=FULL` by default (WAL is synced on every commit, so an
//! acknowledged decision survives a power cut). `?synchronous=normal` in the URL trades that
//! for speed (a power cut may lose the last commits; the file never corrupts).
//!
//! Times are stored as fixed-width RFC 3339 text (see the migration), JSON as text.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::{
    ApplicationEdit, ApplicationFilter, ApplicationRecord, AuditEvent, DocumentRecord, Job, NewApplication,
    NewAuditEvent, NewDocument, NewJob, NewUser, Organisation, Session, Store, StoreError, StoreResult, StoredWorkflow,
    TransitionWrite, User,
};
use super::{DeadlineChange, ScheduleRow, StoredHoliday};
use crate::audit::canonical_time;

/// Claims due work (see `claim_jobs`); public so that `corridor bench-scheduler` prints
/// the plan of exactly this statement.
pub const CLAIM_JOBS_SQL: &str = "UPDATE jobs SET status = 'running', locked_by = ?, locked_until = ?, attempts = attempts + 1, updated_at = ? \
             WHERE id IN (SELECT id FROM (SELECT id FROM jobs WHERE status = 'pending' AND run_at <= ? \
                                          ORDER BY run_at, id LIMIT ?) \
                          UNION ALL \
                          SELECT id FROM (SELECT id FROM jobs WHERE status = 'running' AND locked_until < ? \
                                          ORDER BY locked_until LIMIT ?) \
                          LIMIT ?) \
             RETURNING *";

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONNECTIONS: u32 = 8;

pub struct SqliteStore {
    /// Reads, and single-statement writes.
    pool: SqlitePool,
    /// Write transactions. SQLite takes one writer at a time; one connection queues writers
    /// in the pool, in order, instead of in SQLite's busy handler, and keeps its page cache
    /// warm (a connection drops its cache whenever another one wrote).
    writer: SqlitePool,
}

/// Stored form of a time: fixed width, so that text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    canonical_time(t)
}

fn ts_opt(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(ts)
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

fn config_error(message: String) -> StoreError {
    StoreError::Database(sqlx::Error::Configuration(message.into()))
}

impl SqliteStore {
    /// Open (and create, with its folder) the database a `sqlite://PATH` URL names.
    /// `sqlite::memory:` gives a private in-memory database on a single connection.
    /// Accepts `?synchronous=full|normal` besides sqlx's own parameters.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut synchronous = SqliteSynchronous::Full;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("synchronous") => {
                    synchronous = match v.to_ascii_lowercase().as_str() {
                        "full" => SqliteSynchronous::Full,
                        "normal" => SqliteSynchronous::Normal,
                        "extra" => SqliteSynchronous::Extra,
                        other => return Err(config_error(format!("unknown synchronous={other}: use full or normal"))),
                    }
                }
                _ => rest.push(pair),
            }
        }
        let sqlx_url = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
        let in_memory = base.contains(":memory:") || rest.iter().any(|p| p.eq_ignore_ascii_case("mode=memory"));

        let mut options = SqliteConnectOptions::from_str(&sqlx_url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(synchronous)
            .pragma("temp_store", "memory");
        if !in_memory {
            options = options.journal_mode(SqliteJournalMode::Wal);
            let path = options.get_filename();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| config_error(format!("cannot create the database folder {}: {e}", dir.display())))?;
            }
        }
        if in_memory {
            // Each connection would see its own empty database: keep exactly one, forever.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            return Ok(SqliteStore { writer: pool.clone(), pool });
        }
        // A connection to a local file does not go stale the way a network connection can,
        // so the ping before each checkout would be a wasted round trip.
        let pool_of = |size| {
            SqlitePoolOptions::new()
                .max_connections(size)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
        };
        let pool = pool_of(MAX_CONNECTIONS).connect_with(options.clone()).await?;
        let writer = pool_of(1).connect_with(options).await?;
        Ok(SqliteStore { pool, writer })
    }

    /// The connection pool, for raw SQL (benchmarks, tests, maintenance).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The pool of write transactions (one connection), for raw SQL that writes the way
    /// the store does (benchmarks).
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// A write transaction that holds the write lock from its first statement.
    async fn write_tx(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// `Conflict` when the application exists, `NotFound` otherwise.
    async fn version_error(tx: &mut Transaction<'static, Sqlite>, id: i64, expected: i64) -> StoreError {
        match sqlx::query("SELECT 1 FROM applications WHERE id = ?").bind(id).fetch_optional(&mut **tx).await {
            Ok(Some(_)) => StoreError::Conflict { expected },
            Ok(None) => StoreError::NotFound("application"),
            Err(e) => e.into(),
        }
    }

    /// All of a transition's writes, inside the caller's transaction.
    async fn write_transition(
        tx: &mut Transaction<'static, Sqlite>,
        before: &ApplicationRecord,
        write: TransitionWrite,
    ) -> StoreResult<ApplicationRecord> {
        let now = ts(write.now);
        let updated = sqlx::query(
            "UPDATE applications SET version = version + 1, state = ?, previous_state = ?, \
             fields = COALESCE(?, fields), applicant_name = COALESCE(?, applicant_name), \
             passport_number = COALESCE(?, passport_number), submitted_at = COALESCE(?, submitted_at), \
             deadline_at = ?, paused_remaining = ?, escalated_at = NULL, assigned_to = NULL, \
             state_entered_at = ?, updated_at = ? \
             WHERE id = ? AND version = ?",
        )
        .bind(&write.new_state)
        .bind(&write.previous_state)
        .bind(write.fields.as_ref().map(json_text))
        .bind(&write.applicant_name)
        .bind(&write.passport_number)
        .bind(ts_opt(write.submitted_at))
        .bind(ts_opt(write.deadline_at))
        .bind(write.paused_remaining.as_ref().map(json_text))
        .bind(&now)
        .bind(&now)
        .bind(write.application_id)
        .bind(write.expected_version)
        .execute(&mut **tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(Self::version_error(tx, write.application_id, write.expected_version).await);
        }
        let record = write.applied_to(before);
        let expected = write.expected_version;
        Self::append_event_after(tx, record.id, &write.audit, write.chain_after.clone()).await.map_err(
            |e| match e {
                // Another event landed since the caller read the history.
                StoreError::Duplicate(_) if write.chain_after.is_some() => StoreError::Conflict { expected },
                other => other,
            },
        )?;
        if write.cancel_timers {
            sqlx::query(
                "UPDATE jobs SET status = 'cancelled', updated_at = ? \
                 WHERE application_id = ? AND status = 'pending' AND kind IN ('deadline', 'reminder', 'escalation')",
            )
            .bind(&now)
            .bind(record.id)
            .execute(&mut **tx)
            .await?;
        }
        Self::insert_jobs(tx, &write.jobs, write.now).await?;
        Ok(record)
    }

    async fn append_event(
        tx: &mut Transaction<'static, Sqlite>,
        application_id: i64,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        Self::append_event_after(tx, application_id, audit, None).await
    }

    /// Append an event after `known_last` (the (seq, hash) of the last event as the caller
    /// read it), or after the last event read here. A stale `known_last` cannot fork the
    /// chain: its seq is taken, and the unique (application_id, seq) refuses the insert.
    async fn append_event_after(
        tx: &mut Transaction<'static, Sqlite>,
        application_id: i64,
        audit: &NewAuditEvent,
        known_last: Option<(i64, String)>,
    ) -> StoreResult<()> {
        let last: Option<(i64, String)> = if known_last.is_some() {
            known_last
        } else {
            sqlx::query_as("SELECT seq, hash FROM audit_events WHERE application_id = ? ORDER BY seq DESC LIMIT 1")
                .bind(application_id)
                .fetch_optional(&mut **tx)
                .await?
        };
        let (seq, prev_hash, hash, data) = super::chain_next(application_id, last, audit);
        sqlx::query(
            "INSERT INTO audit_events (application_id, seq, actor_id, actor_name, role, organisation_id, action, \
             from_state, to_state, comment, reason, data, at, prev_hash, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(application_id)
        .bind(seq)
        .bind(audit.actor_id)
        .bind(&audit.actor_name)
        .bind(&audit.role)
        .bind(audit.organisation_id)
        .bind(&audit.action)
        .bind(&audit.from_state)
        .bind(&audit.to_state)
        .bind(&audit.comment)
        .bind(&audit.reason)
        .bind(data)
        .bind(ts(audit.at))
        .bind(prev_hash)
        .bind(hash)
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            super::write_error(e, || format!("audit event {seq} of application {application_id}"), "application")
        })?;
        Ok(())
    }

    async fn insert_jobs(
        tx: &mut Transaction<'static, Sqlite>,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        for job in jobs {
            sqlx::query(
                "INSERT INTO jobs (kind, dedup_key, application_id, payload, status, attempts, max_attempts, run_at, \
                 created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?) \
                 ON CONFLICT (dedup_key) DO NOTHING",
            )
            .bind(&job.kind)
            .bind(&job.dedup_key)
            .bind(job.application_id)
            .bind(json_text(&job.payload))
            .bind(job.max_attempts)
            .bind(ts(job.run_at))
            .bind(ts(now))
            .bind(ts(now))
            .execute(&mut **tx)
            .await
            .map_err(|e| super::write_error(e, || format!("job {}", job.dedup_key), "application of a job"))?;
        }
        Ok(())
    }

    /// One page part of `applications`: rows with a deadline, or rows without.
    async fn application_page(
        &self,
        filter: &ApplicationFilter,
        with_deadline: bool,
        limit: i64,
    ) -> StoreResult<Vec<ApplicationRecord>> {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM applications WHERE ");
        if with_deadline {
            q.push("deadline_at IS NOT NULL");
            if let Some((Some(deadline), id)) = &filter.after {
                q.push(" AND (deadline_at, id) > (").push_bind(ts(*deadline)).push(", ").push_bind(*id).push(")");
            }
        } else {
            q.push("deadline_at IS NULL");
            if let Some((None, id)) = &filter.after {
                q.push(" AND id > ").push_bind(*id);
            }
        }
        if let Some(org) = filter.organisation_id {
            q.push(" AND organisation_id = ").push_bind(org);
        }
        if let Some(wf) = &filter.workflow_id {
            q.push(" AND workflow_id = ").push_bind(wf.clone());
        }
        if let Some(states) = &filter.states {
            if let [one] = states.as_slice() {
                q.push(" AND state = ").push_bind(one.clone());
            } else {
                q.push(" AND state IN (");
                let mut list = q.separated(", ");
                for s in states {
                    list.push_bind(s.clone());
                }
                q.push(")");
            }
        }
        if !filter.exclude_states.is_empty() {
            q.push(" AND state NOT IN (");
            let mut list = q.separated(", ");
            for s in &filter.exclude_states {
                list.push_bind(s.clone());
            }
            q.push(")");
        }
        if let Some((reference, name)) = filter.search.as_deref().and_then(super::search_patterns) {
            q.push(" AND (reference LIKE ")
                .push_bind(reference)
                .push(" ESCAPE '\\' OR applicant_name LIKE ")
                .push_bind(name)
                .push(" ESCAPE '\\')");
        }
        if let Some(user) = filter.assigned_to {
            q.push(" AND assigned_to = ").push_bind(user);
        }
        if filter.unassigned {
            q.push(" AND assigned_to IS NULL");
        }
        q.push(if with_deadline { " ORDER BY deadline_at, id" } else { " ORDER BY id" });
        q.push(" LIMIT ").push_bind(limit);
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(application).collect()
    }
}

// ---- row mapping ----

fn json_col(row: &SqliteRow, col: &str) -> StoreResult<Value> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("column {col} is not JSON: {e}")))
}

fn opt_json_col(row: &SqliteRow, col: &str) -> StoreResult<Option<Value>> {
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("column {col} is not JSON: {e}"))))
        .transpose()
}

fn organisation(row: &SqliteRow) -> StoreResult<Organisation> {
    Ok(Organisation {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        country: row.try_get("country")?,
        created_at: row.try_get("created_at")?,
    })
}

fn user(row: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        organisation_id: row.try_get("organisation_id")?,
        password_hash: row.try_get("password_hash")?,
        language: row.try_get("language")?,
        disabled: row.try_get("disabled")?,
        created_at: row.try_get("created_at")?,
    })
}

fn application(row: &SqliteRow) -> StoreResult<ApplicationRecord> {
    Ok(ApplicationRecord {
        id: row.try_get("id")?,
        reference: row.try_get("reference")?,
        workflow_id: row.try_get("workflow_id")?,
        workflow_version: row.try_get("workflow_version")?,
        state: row.try_get("state")?,
        previous_state: row.try_get("previous_state")?,
        version: row.try_get("version")?,
        organisation_id: row.try_get("organisation_id")?,
        created_by: row.try_get("created_by")?,
        fields: json_col(row, "fields")?,
        applicant_name: row.try_get("applicant_name")?,
        passport_number: row.try_get("passport_number")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        state_entered_at: row.try_get("state_entered_at")?,
        submitted_at: row.try_get("submitted_at")?,
        deadline_at: row.try_get("deadline_at")?,
        paused_remaining: opt_json_col(row, "paused_remaining")?,
        escalated_at: row.try_get("escalated_at")?,
        assigned_to: row.try_get("assigned_to")?,
    })
}

fn document(row: &SqliteRow) -> StoreResult<DocumentRecord> {
    Ok(DocumentRecord {
        id: row.try_get("id")?,
        application_id: row.try_get("application_id")?,
        kind: row.try_get("kind")?,
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        storage_key: row.try_get("storage_key")?,
        uploaded_by: row.try_get("uploaded_by")?,
        uploaded_at: row.try_get("uploaded_at")?,
    })
}

fn event(row: &SqliteRow) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: row.try_get("id")?,
        application_id: row.try_get("application_id")?,
        seq: row.try_get("seq")?,
        actor_id: row.try_get("actor_id")?,
        actor_name: row.try_get("actor_name")?,
        role: row.try_get("role")?,
        organisation_id: row.try_get("organisation_id")?,
        action: row.try_get("action")?,
        from_state: row.try_get("from_state")?,
        to_state: row.try_get("to_state")?,
        comment: row.try_get("comment")?,
        reason: row.try_get("reason")?,
        data: json_col(row, "data")?,
        at: row.try_get("at")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

fn job(row: &SqliteRow) -> StoreResult<Job> {
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        dedup_key: row.try_get("dedup_key")?,
        application_id: row.try_get("application_id")?,
        payload: json_col(row, "payload")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        run_at: row.try_get("run_at")?,
        locked_by: row.try_get("locked_by")?,
        locked_until: row.try_get("locked_until")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        super::MIGRATIONS_SQLITE.run(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn create_organisation(&self, name: &str, kind: &str, country: Option<&str>) -> StoreResult<Organisation> {
        let row =
            sqlx::query("INSERT INTO organisations (name, kind, country, created_at) VALUES (?, ?, ?, ?) RETURNING *")
                .bind(name)
                .bind(kind)
                .bind(country)
                .bind(ts(Utc::now()))
                .fetch_one(&self.pool)
                .await
                .map_err(|e| super::write_error(e, || format!("an organisation named {name}"), "organisation"))?;
        organisation(&row)
    }

    async fn organisation(&self, id: i64) -> StoreResult<Organisation> {
        let row = sqlx::query("SELECT * FROM organisations WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        organisation(&row.ok_or(StoreError::NotFound("organisation"))?)
    }

    async fn organisation_by_name(&self, name: &str) -> StoreResult<Option<Organisation>> {
        let row =
            sqlx::query("SELECT * FROM organisations WHERE name = ?").bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(organisation).transpose()
    }

    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        let rows = sqlx::query("SELECT * FROM organisations ORDER BY name, id").fetch_all(&self.pool).await?;
        rows.iter().map(organisation).collect()
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        let row = sqlx::query(
            "INSERT INTO users (email, name, role, organisation_id, password_hash, language, disabled, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, 0, ?) RETURNING *",
        )
        .bind(&new.email)
        .bind(&new.name)
        .bind(&new.role)
        .bind(new.organisation_id)
        .bind(&new.password_hash)
        .bind(&new.language)
        .bind(ts(Utc::now()))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| super::write_error(e, || format!("a user with e-mail {}", new.email), "organisation"))?;
        user(&row)
    }

    async fn user(&self, id: i64) -> StoreResult<User> {
        let row = sqlx::query("SELECT * FROM users WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        user(&row.ok_or(StoreError::NotFound("user"))?)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE lower(email) = lower(?)")
            .bind(email.trim())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user).transpose()
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(user).collect()
    }

    async fn users_with_role(&self, role: &str) -> StoreResult<Vec<User>> {
        let rows =
            sqlx::query("SELECT * FROM users WHERE role = ? ORDER BY id").bind(role).fetch_all(&self.pool).await?;
        rows.iter().map(user).collect()
    }

    async fn set_user_password(&self, id: i64, password_hash: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound("user")) } else { Ok(()) }
    }

    async fn set_user_role(&self, id: i64, role: &str) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE users SET role = ? WHERE id = ?").bind(role).bind(id).execute(&self.pool).await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound("user")) } else { Ok(()) }
    }

    async fn set_user_disabled(&self, id: i64, disabled: bool) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(disabled)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound("user")) } else { Ok(()) }
    }

    async fn set_user_language(&self, id: i64, language: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET language = ? WHERE id = ?")
            .bind(language)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound("user")) } else { Ok(()) }
    }

    async fn create_token(&self, user_id: i64, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES (?, ?, ?)")
            .bind(user_id)
            .bind(token_hash)
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map_err(|e| super::write_error(e, || "this token".to_string(), "user"))?;
        Ok(())
    }

    async fn user_by_token(&self, token_hash: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "SELECT u.* FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.disabled = 0",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user).transpose()
    }

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
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (workflow_id, version) DO NOTHING",
        )
        .bind(id)
        .bind(version)
        .bind(content_hash)
        .bind(source)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        let stored: String =
            sqlx::query_scalar("SELECT content_hash FROM workflow_definitions WHERE workflow_id = ? AND version = ?")
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
        rows.iter()
            .map(|r| {
                Ok(StoredWorkflow {
                    workflow_id: r.try_get("workflow_id")?,
                    version: r.try_get("version")?,
                    content_hash: r.try_get("content_hash")?,
                    source: r.try_get("source")?,
                    loaded_at: r.try_get("loaded_at")?,
                })
            })
            .collect()
    }

    async fn create_application(&self, app: NewApplication, audit: NewAuditEvent) -> StoreResult<ApplicationRecord> {
        let mut tx = self.write_tx().await?;
        let number: i64 = sqlx::query_scalar(
            "INSERT INTO reference_counters (prefix, year, last) VALUES (?, ?, 1) \
             ON CONFLICT (prefix, year) DO UPDATE SET last = reference_counters.last + 1 RETURNING last",
        )
        .bind(&app.reference_prefix)
        .bind(app.year)
        .fetch_one(&mut *tx)
        .await?;
        let reference = crate::reference::format(&app.reference_prefix, app.year, number);
        let now = ts(app.now);
        let row = sqlx::query(
            "INSERT INTO applications (reference, workflow_id, workflow_version, state, previous_state, version, \
             organisation_id, created_by, fields, applicant_name, passport_number, created_at, updated_at, \
             state_entered_at) VALUES (?, ?, ?, ?, NULL, 1, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(&reference)
        .bind(&app.workflow_id)
        .bind(app.workflow_version)
        .bind(&app.state)
        .bind(app.organisation_id)
        .bind(app.created_by)
        .bind(json_text(&app.fields))
        .bind(&app.applicant_name)
        .bind(&app.passport_number)
        .bind(&now)
        .bind(&now)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            super::write_error(
                e,
                || format!("an application with reference {reference}"),
                "workflow version, organisation or user",
            )
        })?;
        let record = application(&row)?;
        Self::append_event(&mut tx, record.id, &audit).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn application(&self, id: i64) -> StoreResult<ApplicationRecord> {
        let row = sqlx::query("SELECT * FROM applications WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        application(&row.ok_or(StoreError::NotFound("application"))?)
    }

    async fn application_by_reference(&self, reference: &str) -> StoreResult<Option<ApplicationRecord>> {
        let row = sqlx::query("SELECT * FROM applications WHERE reference = ?")
            .bind(reference)
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
             fields = COALESCE(?, fields), applicant_name = COALESCE(?, applicant_name), \
             passport_number = COALESCE(?, passport_number), \
             assigned_to = CASE WHEN ? THEN ? ELSE assigned_to END, updated_at = ? \
             WHERE id = ? AND version = ? RETURNING *",
        )
        .bind(edit.fields.as_ref().map(json_text))
        .bind(&edit.applicant_name)
        .bind(&edit.passport_number)
        .bind(edit.assigned_to.is_some())
        .bind(edit.assigned_to.flatten())
        .bind(ts(edit.now))
        .bind(edit.application_id)
        .bind(edit.expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| super::write_error(e, || "an application like this".into(), "assigned user"))?;
        let Some(row) = row else {
            return Err(Self::version_error(&mut tx, edit.application_id, edit.expected_version).await);
        };
        let record = application(&row)?;
        Self::append_event(&mut tx, record.id, &edit.audit).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn add_document(
        &self,
        doc: NewDocument,
        audit: NewAuditEvent,
        expected_version: i64,
    ) -> StoreResult<DocumentRecord> {
        let mut tx = self.write_tx().await?;
        let bumped =
            sqlx::query("UPDATE applications SET version = version + 1, updated_at = ? WHERE id = ? AND version = ?")
                .bind(ts(doc.now))
                .bind(doc.application_id)
                .bind(expected_version)
                .execute(&mut *tx)
                .await?;
        if bumped.rows_affected() == 0 {
            return Err(Self::version_error(&mut tx, doc.application_id, expected_version).await);
        }
        let row = sqlx::query(
            "INSERT INTO documents (application_id, kind, filename, content_type, size, sha256, storage_key, \
             uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(doc.application_id)
        .bind(&doc.kind)
        .bind(&doc.filename)
        .bind(&doc.content_type)
        .bind(doc.size)
        .bind(&doc.sha256)
        .bind(&doc.storage_key)
        .bind(doc.uploaded_by)
        .bind(ts(doc.now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| super::write_error(e, || format!("a document stored as {}", doc.storage_key), "uploading user"))?;
        let record = document(&row)?;
        Self::append_event(&mut tx, doc.application_id, &audit).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn begin_transition(&self, reference: &str) -> StoreResult<Option<Box<dyn super::OpenTransition>>> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "SELECT a.*, \
             (SELECT json_group_array(json_array(seq, actor_id, action, from_state, to_state, hash)) \
              FROM audit_events WHERE application_id = a.id) AS context_steps, \
             (SELECT json_group_array(kind) FROM documents WHERE application_id = a.id) AS context_document_kinds \
             FROM applications a WHERE a.reference = ?",
        )
        .bind(reference)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let steps: String = row.try_get("context_steps")?;
        let document_kinds: String = row.try_get("context_document_kinds")?;
        let context = super::TransitionContext::from_json(application(&row)?, &steps, &document_kinds)?;
        Ok(Some(Box::new(OpenTransition { tx, context })))
    }

    async fn documents(&self, application_id: i64) -> StoreResult<Vec<DocumentRecord>> {
        let rows = sqlx::query("SELECT * FROM documents WHERE application_id = ? ORDER BY id")
            .bind(application_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(document).collect()
    }

    async fn document(&self, id: i64) -> StoreResult<DocumentRecord> {
        let row = sqlx::query("SELECT * FROM documents WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        document(&row.ok_or(StoreError::NotFound("document"))?)
    }

    async fn history(&self, application_id: i64) -> StoreResult<Vec<AuditEvent>> {
        let rows = sqlx::query("SELECT * FROM audit_events WHERE application_id = ? ORDER BY seq")
            .bind(application_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event).collect()
    }

    async fn audited_applications(&self) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar("SELECT DISTINCT application_id FROM audit_events ORDER BY application_id")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn enqueue_jobs(&self, jobs: Vec<NewJob>) -> StoreResult<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        Self::insert_jobs(&mut tx, &jobs, Utc::now()).await?;
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
        // One statement: SQLite takes the write lock before it reads, so two workers can
        // never pick the same row.
        // Two index range scans (the partial indexes of 0002_scheduler.sql): due pending jobs
        // in run order, and running jobs whose lease ran out. Never a scan of the table.
        let rows = sqlx::query(CLAIM_JOBS_SQL)
            .bind(worker)
            .bind(ts(until))
            .bind(ts(now))
            .bind(ts(now))
            .bind(limit)
            .bind(ts(now))
            .bind(limit)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut jobs = rows.iter().map(job).collect::<StoreResult<Vec<_>>>()?;
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    async fn complete_job(&self, id: i64, worker: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'done', locked_until = NULL, updated_at = ? \
             WHERE id = ? AND locked_by = ? AND status = 'running'",
        )
        .bind(ts(now))
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            tracing::warn!(job = id, worker, "job not completed: this worker no longer holds its lease");
        }
        Ok(())
    }

    async fn fail_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let query = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE jobs SET status = 'pending', run_at = ?, locked_by = NULL, locked_until = NULL, \
                 last_error = ?, updated_at = ? WHERE id = ? AND locked_by = ? AND status = 'running'",
            )
            .bind(ts(at)),
            None => sqlx::query(
                "UPDATE jobs SET status = 'dead', locked_until = NULL, last_error = ?, updated_at = ? \
                 WHERE id = ? AND locked_by = ? AND status = 'running'",
            ),
        };
        let done = query.bind(error).bind(ts(now)).bind(id).bind(worker).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            tracing::warn!(job = id, worker, "job failure not recorded: this worker no longer holds its lease");
        }
        Ok(())
    }

    async fn jobs(&self, status: Option<&str>, limit: i64) -> StoreResult<Vec<Job>> {
        let rows = match status {
            Some(s) => {
                sqlx::query("SELECT * FROM jobs WHERE status = ? ORDER BY id DESC LIMIT ?")
                    .bind(s)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM jobs ORDER BY id DESC LIMIT ?").bind(limit).fetch_all(&self.pool).await?
            }
        };
        rows.iter().map(job).collect()
    }

    async fn retry_job(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'pending', attempts = 0, run_at = ?, locked_by = NULL, locked_until = NULL, \
             updated_at = ? WHERE id = ? AND status = 'dead'",
        )
        .bind(ts(now))
        .bind(ts(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound("dead job")) } else { Ok(()) }
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, csrf_token, created_at, expires_at, data) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&session.id)
        .bind(session.user_id)
        .bind(&session.csrf_token)
        .bind(ts(session.created_at))
        .bind(ts(session.expires_at))
        .bind(json_text(&session.data))
        .execute(&self.pool)
        .await
        .map_err(|e| super::write_error(e, || "this session".to_string(), "user"))?;
        Ok(())
    }

    async fn session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = ? AND expires_at > ?")
            .bind(id)
            .bind(ts(now))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(|r| {
                Ok(Session {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    csrf_token: r.try_get("csrf_token")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    data: json_col(r, "data")?,
                })
            })
            .transpose()
    }

    async fn touch_session(&self, id: &str, expires_at: DateTime<Utc>, data: &Value) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET expires_at = ?, data = ? WHERE id = ?")
            .bind(ts(expires_at))
            .bind(json_text(data))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = ?").bind(user_id).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?").bind(ts(now)).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    // Scheduler

    async fn job(&self, id: i64) -> StoreResult<Job> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(job).transpose()?.ok_or(StoreError::NotFound("job"))
    }

    async fn job_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn pending_timers(&self, application_id: i64) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query(
            "SELECT * FROM jobs WHERE application_id = ? AND status = 'pending' \
             AND kind IN ('deadline', 'reminder', 'escalation') ORDER BY id",
        )
        .bind(application_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job).collect()
    }

    async fn applications_with_deadline_from(
        &self,
        from: DateTime<Utc>,
        entered_by: DateTime<Utc>,
        after: Option<(DateTime<Utc>, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<ApplicationRecord>> {
        let (after_deadline, after_id) = after.map(|(d, i)| (ts(d), i)).unwrap_or_else(|| (ts(from), 0));
        let rows = sqlx::query(
            "SELECT * FROM applications \
             WHERE deadline_at IS NOT NULL AND deadline_at >= ? AND state_entered_at <= ? \
               AND (deadline_at > ? OR (deadline_at = ? AND id > ?)) \
             ORDER BY deadline_at, id LIMIT ?",
        )
        .bind(ts(from))
        .bind(ts(entered_by))
        .bind(&after_deadline)
        .bind(&after_deadline)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(application).collect()
    }

    async fn move_deadline(&self, change: DeadlineChange) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let moved = sqlx::query(
            "UPDATE applications SET deadline_at = ?, updated_at = ? \
             WHERE id = ? AND state = ? AND deadline_at IS ?",
        )
        .bind(ts(change.new_deadline))
        .bind(ts(change.now))
        .bind(change.application_id)
        .bind(&change.state)
        .bind(ts_opt(change.old_deadline))
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Ok(false);
        }
        for (id, run_at, payload) in &change.timers {
            sqlx::query(
                "UPDATE jobs SET run_at = ?, payload = ?, updated_at = ? \
                 WHERE id = ? AND application_id = ? AND status = 'pending'",
            )
            .bind(ts(*run_at))
            .bind(json_text(payload))
            .bind(ts(change.now))
            .bind(id)
            .bind(change.application_id)
            .execute(&mut *tx)
            .await?;
        }
        Self::append_event(&mut tx, change.application_id, &change.audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn mark_escalated(&self, application_id: i64, state: &str, audit: NewAuditEvent) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let marked =
            sqlx::query("UPDATE applications SET escalated_at = ? WHERE id = ? AND state = ? AND escalated_at IS NULL")
                .bind(ts(audit.at))
                .bind(application_id)
                .bind(state)
                .execute(&mut *tx)
                .await?;
        if marked.rows_affected() == 0 {
            return Ok(false);
        }
        Self::append_event(&mut tx, application_id, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn stored_holidays(&self) -> StoreResult<Vec<StoredHoliday>> {
        let rows = sqlx::query("SELECT * FROM holidays ORDER BY calendar, date").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(StoredHoliday {
                    calendar: row.try_get("calendar")?,
                    date: row.try_get("date")?,
                    name: row.try_get("name")?,
                    removed: row.try_get("removed")?,
                    changed_by: row.try_get("changed_by")?,
                    changed_at: row.try_get("changed_at")?,
                })
            })
            .collect()
    }

    async fn put_holiday(&self, h: &StoredHoliday) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO holidays (calendar, date, name, removed, changed_by, changed_at) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (calendar, date) DO UPDATE SET name = excluded.name, removed = excluded.removed, \
             changed_by = excluded.changed_by, changed_at = excluded.changed_at",
        )
        .bind(&h.calendar)
        .bind(h.date.format("%Y-%m-%d").to_string())
        .bind(&h.name)
        .bind(h.removed)
        .bind(&h.changed_by)
        .bind(ts_opt(h.changed_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_holiday(&self, calendar: &str, date: chrono::NaiveDate) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM holidays WHERE calendar = ? AND date = ?")
            .bind(calendar)
            .bind(date.format("%Y-%m-%d").to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn schedules(&self) -> StoreResult<Vec<ScheduleRow>> {
        let rows = sqlx::query("SELECT * FROM schedules ORDER BY key").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(ScheduleRow {
                    key: row.try_get("key")?,
                    cron: row.try_get("cron")?,
                    timezone: row.try_get("timezone")?,
                    next_fire_at: row.try_get("next_fire_at")?,
                    last_fired_at: row.try_get("last_fired_at")?,
                })
            })
            .collect()
    }

    async fn ensure_schedule(&self, row: &ScheduleRow, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO schedules (key, cron, timezone, next_fire_at, last_fired_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&row.key)
        .bind(&row.cron)
        .bind(&row.timezone)
        .bind(ts(row.next_fire_at))
        .bind(ts_opt(row.last_fired_at))
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
            "UPDATE schedules SET next_fire_at = ?, last_fired_at = ?, cron = ?, timezone = ?, updated_at = ? \
             WHERE key = ? AND next_fire_at = ?",
        )
        .bind(ts(row.next_fire_at))
        .bind(ts_opt(row.last_fired_at))
        .bind(&row.cron)
        .bind(&row.timezone)
        .bind(ts(now))
        .bind(&row.key)
        .bind(ts(expected_next))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn extend_leases(&self, ids: &[i64], worker: &str, until: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET locked_until = ? WHERE locked_by = ? AND status = 'running' \
             AND id IN (SELECT value FROM json_each(?))",
        )
        .bind(ts(until))
        .bind(worker)
        .bind(serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reviewer queue for one state is read in index order, without a sort.
    #[tokio::test]
    async fn queue_uses_the_index_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(&format!("sqlite://{}/plan.db", dir.path().display())).await.unwrap();
        store.migrate().await.unwrap();
        for (sql, index) in [
            (
                "EXPLAIN QUERY PLAN SELECT * FROM applications WHERE deadline_at IS NOT NULL \
                 AND (deadline_at, id) > ('2026-01-01T00:00:00.000000Z', 3) AND state = 'ministry_review' \
                 AND state NOT IN ('draft') ORDER BY deadline_at, id LIMIT 50",
                "applications_queue",
            ),
            (
                "EXPLAIN QUERY PLAN SELECT * FROM applications WHERE deadline_at IS NULL AND id > 3 \
                 AND state = 'ministry_review' ORDER BY id LIMIT 50",
                "applications_queue",
            ),
            (
                "EXPLAIN QUERY PLAN SELECT * FROM applications WHERE deadline_at IS NOT NULL \
                 AND organisation_id = 4 ORDER BY deadline_at, id LIMIT 50",
                "applications_organisation",
            ),
        ] {
            let rows = sqlx::query(sql).fetch_all(store.pool()).await.unwrap();
            let detail: Vec<String> = rows.iter().map(|r| r.get::<String, _>("detail")).collect();
            assert!(detail.iter().any(|d| d.contains(index)), "{sql}: {detail:?}");
            assert!(!detail.iter().any(|d| d.contains("TEMP B-TREE")), "{sql} sorts: {detail:?}");
        }
    }

    #[tokio::test]
    async fn memory_database_keeps_its_tables() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        store.create_organisation("Ministry", "ministry", Some("QA")).await.unwrap();
        assert_eq!(store.organisations().await.unwrap().len(), 1);
    }
}

/// A transition's write transaction, opened by `begin_transition`.
struct OpenTransition {
    tx: Transaction<'static, Sqlite>,
    context: super::TransitionContext,
}

#[async_trait]
impl super::OpenTransition for OpenTransition {
    fn context(&self) -> &super::TransitionContext {
        &self.context
    }

    async fn commit(mut self: Box<Self>, write: TransitionWrite) -> StoreResult<ApplicationRecord> {
        if write.application_id != self.context.application.id {
            return Err(StoreError::NotFound("application"));
        }
        let record = SqliteStore::write_transition(&mut self.tx, &self.context.application, write).await?;
        self.tx.commit().await?;
        Ok(record)
    }
}
