//! The PostgreSQL store, for one server shared by several Corridor instances.
//!
//! Transactions run at READ COMMITTED: a transition's `UPDATE ... WHERE version = $n` waits
//! for a concurrent writer of the same row and then finds the version moved (a conflict); the
//! row lock it holds serialises the audit chain of that application. Jobs are claimed with
//! `FOR UPDATE SKIP LOCKED`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row, Transaction};

use super::{
    ApplicationEdit, ApplicationFilter, ApplicationRecord, AuditEvent, DocumentRecord, Job, NewApplication,
    NewAuditEvent, NewDocument, NewJob, NewUser, Organisation, Session, Store, StoreError, StoreResult, StoredWorkflow,
    TransitionWrite, User,
};
use super::{DeadlineChange, ScheduleRow, StoredHoliday};
use crate::audit::storable_time;

/// Claims due work (see `claim_jobs`); public so that `corridor bench-scheduler` prints
/// the plan of exactly this statement.
pub const CLAIM_JOBS_SQL: &str = "WITH pending AS ( \
                 SELECT id FROM jobs WHERE status = 'pending' AND run_at <= $1 \
                 ORDER BY run_at, id LIMIT $2 \
                 FOR UPDATE SKIP LOCKED), \
             expired AS ( \
                 SELECT id FROM jobs WHERE status = 'running' AND locked_until < $1 \
                 ORDER BY locked_until LIMIT $2 \
                 FOR UPDATE SKIP LOCKED), \
             due AS (SELECT id FROM pending UNION SELECT id FROM expired LIMIT $2) \
             UPDATE jobs SET status = 'running', locked_by = $3, locked_until = $4, attempts = jobs.attempts + 1, \
                 updated_at = $1 \
             FROM due WHERE jobs.id = due.id \
             RETURNING jobs.*";

const MAX_CONNECTIONS: u32 = 10;

pub struct PostgresStore {
    pool: PgPool,
}

/// Times are written at the microsecond precision the column keeps.
fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    storable_time(t)
}

fn ts_opt(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.map(ts)
}

impl PostgresStore {
    /// Connect to a `postgres://` or `postgresql://` URL (at least one connection is opened
    /// here, so a wrong URL fails now).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("corridor");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        Ok(PostgresStore { pool })
    }

    /// The connection pool, for raw SQL (benchmarks, tests, maintenance).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `Conflict` when the application exists, `NotFound` otherwise.
    async fn version_error(tx: &mut Transaction<'static, Postgres>, id: i64, expected: i64) -> StoreError {
        match sqlx::query("SELECT 1 FROM applications WHERE id = $1").bind(id).fetch_optional(&mut **tx).await {
            Ok(Some(_)) => StoreError::Conflict { expected },
            Ok(None) => StoreError::NotFound("application"),
            Err(e) => e.into(),
        }
    }

    /// The caller holds the application row's lock, so the chain cannot fork.
    /// All of a transition's writes, inside the caller's transaction.
    async fn write_transition(
        tx: &mut Transaction<'static, Postgres>,
        before: &ApplicationRecord,
        write: TransitionWrite,
    ) -> StoreResult<ApplicationRecord> {
        let now = ts(write.now);
        let updated = sqlx::query(
            "UPDATE applications SET version = version + 1, state = $1, previous_state = $2, \
             fields = COALESCE($3, fields), applicant_name = COALESCE($4, applicant_name), \
             passport_number = COALESCE($5, passport_number), submitted_at = COALESCE($6, submitted_at), \
             deadline_at = $7, paused_remaining = $8, escalated_at = NULL, assigned_to = NULL, \
             state_entered_at = $9, updated_at = $9 \
             WHERE id = $10 AND version = $11",
        )
        .bind(&write.new_state)
        .bind(&write.previous_state)
        .bind(&write.fields)
        .bind(&write.applicant_name)
        .bind(&write.passport_number)
        .bind(ts_opt(write.submitted_at))
        .bind(ts_opt(write.deadline_at))
        .bind(&write.paused_remaining)
        .bind(now)
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
                "UPDATE jobs SET status = 'cancelled', updated_at = $1 \
                 WHERE application_id = $2 AND status = 'pending' AND kind IN ('deadline', 'reminder', 'escalation')",
            )
            .bind(now)
            .bind(record.id)
            .execute(&mut **tx)
            .await?;
        }
        Self::insert_jobs(tx, &write.jobs, write.now).await?;
        Ok(record)
    }

    async fn append_event(
        tx: &mut Transaction<'static, Postgres>,
        application_id: i64,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        Self::append_event_after(tx, application_id, audit, None).await
    }

    /// Append an event after `known_last` (the (seq, hash) of the last event as the caller
    /// read it), or after the last event read here. A stale `known_last` cannot fork the
    /// chain: its seq is taken, and the unique (application_id, seq) refuses the insert.
    async fn append_event_after(
        tx: &mut Transaction<'static, Postgres>,
        application_id: i64,
        audit: &NewAuditEvent,
        known_last: Option<(i64, String)>,
    ) -> StoreResult<()> {
        let last: Option<(i64, String)> = if known_last.is_some() {
            known_last
        } else {
            sqlx::query_as("SELECT seq, hash FROM audit_events WHERE application_id = $1 ORDER BY seq DESC LIMIT 1")
                .bind(application_id)
                .fetch_optional(&mut **tx)
                .await?
        };
        let (seq, prev_hash, hash, data) = super::chain_next(application_id, last, audit);
        sqlx::query(
            "INSERT INTO audit_events (application_id, seq, actor_id, actor_name, role, organisation_id, action, \
             from_state, to_state, comment, reason, data, at, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::json, $13, $14, $15)",
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
        tx: &mut Transaction<'static, Postgres>,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        for job in jobs {
            sqlx::query(
                "INSERT INTO jobs (kind, dedup_key, application_id, payload, status, attempts, max_attempts, run_at, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $7) \
                 ON CONFLICT (dedup_key) DO NOTHING",
            )
            .bind(&job.kind)
            .bind(&job.dedup_key)
            .bind(job.application_id)
            .bind(&job.payload)
            .bind(job.max_attempts)
            .bind(ts(job.run_at))
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
        let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM applications WHERE ");
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
                q.push(" AND state = ANY(").push_bind(states.clone()).push(")");
            }
        }
        if !filter.exclude_states.is_empty() {
            q.push(" AND state <> ALL(").push_bind(filter.exclude_states.clone()).push(")");
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

fn organisation(row: &PgRow) -> StoreResult<Organisation> {
    Ok(Organisation {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        country: row.try_get("country")?,
        created_at: row.try_get("created_at")?,
    })
}

fn user(row: &PgRow) -> StoreResult<User> {
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

fn application(row: &PgRow) -> StoreResult<ApplicationRecord> {
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
        fields: row.try_get::<Value, _>("fields")?,
        applicant_name: row.try_get("applicant_name")?,
        passport_number: row.try_get("passport_number")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        state_entered_at: row.try_get("state_entered_at")?,
        submitted_at: row.try_get("submitted_at")?,
        deadline_at: row.try_get("deadline_at")?,
        paused_remaining: row.try_get::<Option<Value>, _>("paused_remaining")?,
        escalated_at: row.try_get("escalated_at")?,
        assigned_to: row.try_get("assigned_to")?,
    })
}

fn document(row: &PgRow) -> StoreResult<DocumentRecord> {
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

fn event(row: &PgRow) -> StoreResult<AuditEvent> {
    // `data` is `json`: its text is exactly what was hashed.
    let data: String = row.try_get("data_text")?;
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
        data: serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(format!("audit data is not JSON: {e}")))?,
        at: row.try_get("at")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

fn job(row: &PgRow) -> StoreResult<Job> {
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        dedup_key: row.try_get("dedup_key")?,
        application_id: row.try_get("application_id")?,
        payload: row.try_get::<Value, _>("payload")?,
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
impl Store for PostgresStore {
    async fn migrate(&self) -> StoreResult<()> {
        // sqlx holds an advisory lock while migrating, so instances starting together are safe.
        super::MIGRATIONS_POSTGRES.run(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn create_organisation(&self, name: &str, kind: &str, country: Option<&str>) -> StoreResult<Organisation> {
        let row = sqlx::query(
            "INSERT INTO organisations (name, kind, country, created_at) VALUES ($1, $2, $3, $4) RETURNING *",
        )
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
        let row = sqlx::query("SELECT * FROM organisations WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        organisation(&row.ok_or(StoreError::NotFound("organisation"))?)
    }

    async fn organisation_by_name(&self, name: &str) -> StoreResult<Option<Organisation>> {
        let row =
            sqlx::query("SELECT * FROM organisations WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(organisation).transpose()
    }

    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        let rows = sqlx::query("SELECT * FROM organisations ORDER BY name, id").fetch_all(&self.pool).await?;
        rows.iter().map(organisation).collect()
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        let row = sqlx::query(
            "INSERT INTO users (email, name, role, organisation_id, password_hash, language, disabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, false, $7) RETURNING *",
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
        let row = sqlx::query("SELECT * FROM users WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
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

    async fn users_with_role(&self, role: &str) -> StoreResult<Vec<User>> {
        let rows =
            sqlx::query("SELECT * FROM users WHERE role = $1 ORDER BY id").bind(role).fetch_all(&self.pool).await?;
        rows.iter().map(user).collect()
    }

    async fn set_user_password(&self, id: i64, password_hash: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound("user")) } else { Ok(()) }
    }

    async fn set_user_role(&self, id: i64, role: &str) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE users SET role = $1 WHERE id = $2").bind(role).bind(id).execute(&self.pool).await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound("user")) } else { Ok(()) }
    }

    async fn set_user_disabled(&self, id: i64, disabled: bool) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(disabled)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound("user")) } else { Ok(()) }
    }

    async fn set_user_language(&self, id: i64, language: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET language = $1 WHERE id = $2")
            .bind(language)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound("user")) } else { Ok(()) }
    }

    async fn create_token(&self, user_id: i64, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3)")
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
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled",
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
        sqlx::query(
            "INSERT INTO workflow_definitions (workflow_id, version, content_hash, source, loaded_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workflow_id, version) DO NOTHING",
        )
        .bind(id)
        .bind(version)
        .bind(content_hash)
        .bind(source)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        let stored: String =
            sqlx::query_scalar("SELECT content_hash FROM workflow_definitions WHERE workflow_id = $1 AND version = $2")
                .bind(id)
                .bind(version)
                .fetch_one(&self.pool)
                .await?;
        if stored != content_hash {
            return Err(StoreError::WorkflowChanged { id: id.to_string(), version });
        }
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
        let mut tx = self.pool.begin().await?;
        let number: i64 = sqlx::query_scalar(
            "INSERT INTO reference_counters (prefix, year, last) VALUES ($1, $2, 1) \
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
             state_entered_at) VALUES ($1, $2, $3, $4, NULL, 1, $5, $6, $7, $8, $9, $10, $10, $10) RETURNING *",
        )
        .bind(&reference)
        .bind(&app.workflow_id)
        .bind(app.workflow_version)
        .bind(&app.state)
        .bind(app.organisation_id)
        .bind(app.created_by)
        .bind(&app.fields)
        .bind(&app.applicant_name)
        .bind(&app.passport_number)
        .bind(now)
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
        let row = sqlx::query("SELECT * FROM applications WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        application(&row.ok_or(StoreError::NotFound("application"))?)
    }

    async fn application_by_reference(&self, reference: &str) -> StoreResult<Option<ApplicationRecord>> {
        let row = sqlx::query("SELECT * FROM applications WHERE reference = $1")
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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
        let bumped = sqlx::query(
            "UPDATE applications SET version = version + 1, updated_at = $1 WHERE id = $2 AND version = $3",
        )
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
             uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
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
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT a.*, \
             (SELECT COALESCE(json_agg(json_build_array(seq, actor_id, action, from_state, to_state, hash) ORDER BY seq), \
               '[]') FROM audit_events WHERE application_id = a.id)::text AS context_steps, \
             (SELECT COALESCE(json_agg(kind), '[]') FROM documents WHERE application_id = a.id)::text \
               AS context_document_kinds \
             FROM applications a WHERE a.reference = $1",
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
        let rows = sqlx::query("SELECT * FROM documents WHERE application_id = $1 ORDER BY id")
            .bind(application_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(document).collect()
    }

    async fn document(&self, id: i64) -> StoreResult<DocumentRecord> {
        let row = sqlx::query("SELECT * FROM documents WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        document(&row.ok_or(StoreError::NotFound("document"))?)
    }

    async fn history(&self, application_id: i64) -> StoreResult<Vec<AuditEvent>> {
        let rows =
            sqlx::query("SELECT *, data::text AS data_text FROM audit_events WHERE application_id = $1 ORDER BY seq")
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
        let mut tx = self.pool.begin().await?;
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
        let now = ts(now);
        let until = now + chrono::Duration::seconds(lease_seconds);
        // SKIP LOCKED: rows another instance is claiming right now are left to it; the lock
        // re-checks the condition, so a row claimed and committed meanwhile no longer matches.
        // Two index range scans (the partial indexes of 0002_scheduler.sql): due pending jobs
        // in run order, and running jobs whose lease ran out.
        let rows =
            sqlx::query(CLAIM_JOBS_SQL).bind(now).bind(limit).bind(worker).bind(until).fetch_all(&self.pool).await?;
        let mut jobs = rows.iter().map(job).collect::<StoreResult<Vec<_>>>()?;
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    async fn complete_job(&self, id: i64, worker: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'done', locked_until = NULL, updated_at = $1 \
             WHERE id = $2 AND locked_by = $3 AND status = 'running'",
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
        let done = match retry_at {
            Some(at) => {
                sqlx::query(
                    "UPDATE jobs SET status = 'pending', run_at = $1, locked_by = NULL, locked_until = NULL, \
                     last_error = $2, updated_at = $3 WHERE id = $4 AND locked_by = $5 AND status = 'running'",
                )
                .bind(ts(at))
                .bind(error)
                .bind(ts(now))
                .bind(id)
                .bind(worker)
                .execute(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE jobs SET status = 'dead', locked_until = NULL, last_error = $1, updated_at = $2 \
                     WHERE id = $3 AND locked_by = $4 AND status = 'running'",
                )
                .bind(error)
                .bind(ts(now))
                .bind(id)
                .bind(worker)
                .execute(&self.pool)
                .await?
            }
        };
        if done.rows_affected() == 0 {
            tracing::warn!(job = id, worker, "job failure not recorded: this worker no longer holds its lease");
        }
        Ok(())
    }

    async fn jobs(&self, status: Option<&str>, limit: i64) -> StoreResult<Vec<Job>> {
        let rows = match status {
            Some(s) => {
                sqlx::query("SELECT * FROM jobs WHERE status = $1 ORDER BY id DESC LIMIT $2")
                    .bind(s)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM jobs ORDER BY id DESC LIMIT $1").bind(limit).fetch_all(&self.pool).await?
            }
        };
        rows.iter().map(job).collect()
    }

    async fn retry_job(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'pending', attempts = 0, run_at = $1, locked_by = NULL, locked_until = NULL, \
             updated_at = $1 WHERE id = $2 AND status = 'dead'",
        )
        .bind(ts(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound("dead job")) } else { Ok(()) }
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, csrf_token, created_at, expires_at, data) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.id)
        .bind(session.user_id)
        .bind(&session.csrf_token)
        .bind(ts(session.created_at))
        .bind(ts(session.expires_at))
        .bind(&session.data)
        .execute(&self.pool)
        .await
        .map_err(|e| super::write_error(e, || "this session".to_string(), "user"))?;
        Ok(())
    }

    async fn session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = $1 AND expires_at > $2")
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
                    data: r.try_get::<Value, _>("data")?,
                })
            })
            .transpose()
    }

    async fn touch_session(&self, id: &str, expires_at: DateTime<Utc>, data: &Value) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET expires_at = $1, data = $2 WHERE id = $3")
            .bind(ts(expires_at))
            .bind(data)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(ts(now)).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    // Scheduler

    async fn job(&self, id: i64) -> StoreResult<Job> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(job).transpose()?.ok_or(StoreError::NotFound("job"))
    }

    async fn job_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn pending_timers(&self, application_id: i64) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query(
            "SELECT * FROM jobs WHERE application_id = $1 AND status = 'pending' \
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
             WHERE deadline_at IS NOT NULL AND deadline_at >= $1 AND state_entered_at <= $2 \
               AND (deadline_at, id) > ($3, $4) \
             ORDER BY deadline_at, id LIMIT $5",
        )
        .bind(ts(from))
        .bind(ts(entered_by))
        .bind(after_deadline)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(application).collect()
    }

    async fn move_deadline(&self, change: DeadlineChange) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE applications SET deadline_at = $1, updated_at = $2 \
             WHERE id = $3 AND state = $4 AND deadline_at IS NOT DISTINCT FROM $5",
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
                "UPDATE jobs SET run_at = $1, payload = $2, updated_at = $3 \
                 WHERE id = $4 AND application_id = $5 AND status = 'pending'",
            )
            .bind(ts(*run_at))
            .bind(payload)
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
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE applications SET escalated_at = $1 WHERE id = $2 AND state = $3 AND escalated_at IS NULL",
        )
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
            "INSERT INTO holidays (calendar, date, name, removed, changed_by, changed_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (calendar, date) DO UPDATE SET name = excluded.name, removed = excluded.removed, \
             changed_by = excluded.changed_by, changed_at = excluded.changed_at",
        )
        .bind(&h.calendar)
        .bind(h.date)
        .bind(&h.name)
        .bind(h.removed)
        .bind(&h.changed_by)
        .bind(ts_opt(h.changed_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_holiday(&self, calendar: &str, date: chrono::NaiveDate) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM holidays WHERE calendar = $1 AND date = $2")
            .bind(calendar)
            .bind(date)
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
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
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
            "UPDATE schedules SET next_fire_at = $1, last_fired_at = $2, cron = $3, timezone = $4, updated_at = $5 \
             WHERE key = $6 AND next_fire_at = $7",
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
            "UPDATE jobs SET locked_until = $1 WHERE locked_by = $2 AND status = 'running' AND id = ANY($3)",
        )
        .bind(ts(until))
        .bind(worker)
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// A transition's write transaction, opened by `begin_transition`.
struct OpenTransition {
    tx: Transaction<'static, Postgres>,
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
        let record = PostgresStore::write_transition(&mut self.tx, &self.context.application, write).await?;
        self.tx.commit().await?;
        Ok(record)
    }
}
