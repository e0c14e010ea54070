//! The SQLite store: one file, WAL journal, every write transaction started with
//! `BEGIN IMMEDIATE` so that concurrent writers queue on the busy timeout instead of failing
//! on a lock upgrade.
//!
//! Durability: `synchronous=FULL` by default (WAL is synced on every commit, so an
//! acknowledged decision survives a power cut). `?synchronous=normal` in the URL trades that
//! for speed (a power cut may lose the last commits; the file never corrupts).
//!
//! Times are stored as fixed-width RFC 3339 text (see the migration), JSON as text.
//! Every query is in `queries.rs`.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};

use super::{StoreError, StoreResult};
use crate::model::canonical_time;

type Db = Sqlite;
super::queries::shared_queries!(SqliteStore, "sqlite", crate::store::MIGRATIONS_SQLITE, "$12");

/// Claims due work (see `claim_jobs`); public so that `corridor bench-scheduler` prints
/// the plan of exactly this statement. One statement: SQLite takes the write lock before it
/// reads, so two workers can never pick the same row. Two index range scans (the partial
/// indexes of 0002_scheduler.sql): due pending jobs in run order, and running jobs whose
/// lease ran out. Never a scan of the table.
pub const CLAIM_JOBS_SQL: &str = "UPDATE jobs SET status = 'running', locked_by = $3, locked_until = $4, \
             attempts = attempts + 1, updated_at = $1 \
             WHERE id IN (SELECT id FROM (SELECT id FROM jobs WHERE status = 'pending' AND run_at <= $1 \
                                          ORDER BY run_at, id LIMIT $2) \
                          UNION ALL \
                          SELECT id FROM (SELECT id FROM jobs WHERE status = 'running' AND locked_until < $1 \
                                          ORDER BY locked_until LIMIT $2) \
                          LIMIT $2) \
             RETURNING *";

/// An application with its history and document kinds aggregated next to it.
const TRANSITION_CONTEXT_SQL: &str = "SELECT a.*, \
     (SELECT json_group_array(json_array(seq, actor_id, action, from_state, to_state, hash)) \
      FROM audit_events WHERE application_id = a.id) AS context_steps, \
     (SELECT json_group_array(kind) FROM documents WHERE application_id = a.id) AS context_document_kinds, \
     (SELECT COALESCE(MAX(revision), 0) FROM calendar_changes) AS context_calendar_revision \
     FROM applications a WHERE a.reference = $1";

/// Stored form of a time: fixed width, so that text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    canonical_time(t)
}

fn config_error(message: String) -> StoreError {
    StoreError::Database(sqlx::Error::Configuration(message.into()))
}

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
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;
    use crate::store::prelude::*;

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
