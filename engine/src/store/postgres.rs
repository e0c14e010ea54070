//! The PostgreSQL store, for one server shared by several Corridor instances.
//!
//! Transactions run at READ COMMITTED: a transition's `UPDATE ... WHERE version = $n` waits
//! for a concurrent writer of the same row and then finds the version moved (a conflict); the
//! row lock it holds serialises the audit chain of that application. Jobs are claimed with
//! `FOR UPDATE SKIP LOCKED`. Every query is in `queries.rs`.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::StoreResult;
use crate::model::storable_time;

type Db = Postgres;
// sqlx holds an advisory lock while migrating, so instances starting together are safe. The
// audit `data` column is `json`, not `jsonb`, so that it keeps the text that was hashed.
super::queries::shared_queries!(PostgresStore, "postgres", crate::store::MIGRATIONS_POSTGRES, "$12::json");

/// Claims due work (see `claim_jobs`); public so that `corridor bench-scheduler` prints
/// the plan of exactly this statement. SKIP LOCKED: rows another instance is claiming right
/// now are left to it; the lock re-checks the condition, so a row claimed and committed
/// meanwhile no longer matches. Two index range scans (the partial indexes of
/// 0002_scheduler.sql): due pending jobs in run order, and running jobs whose lease ran out.
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

/// An application with its history and document kinds aggregated next to it.
const TRANSITION_CONTEXT_SQL: &str = "SELECT a.*, \
     (SELECT COALESCE(json_agg(json_build_array(seq, actor_id, action, from_state, to_state, hash) ORDER BY seq), \
       '[]') FROM audit_events WHERE application_id = a.id)::text AS context_steps, \
     (SELECT COALESCE(json_agg(kind), '[]') FROM documents WHERE application_id = a.id)::text \
       AS context_document_kinds, \
     (SELECT COALESCE(MAX(revision), 0) FROM calendar_changes) AS context_calendar_revision \
     FROM applications a WHERE a.reference = $1";

/// Times are written at the microsecond precision the column keeps.
fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    storable_time(t)
}

const MAX_CONNECTIONS: u32 = 10;

pub struct PostgresStore {
    pool: PgPool,
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

    /// A write transaction, at READ COMMITTED.
    async fn write_tx(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}
