//! A fresh database per test: a SQLite file in the test's folder, or a PostgreSQL database
//! made on the server that `CORRIDOR_TEST_POSTGRES_URL` names (default the local server) and
//! dropped when its guard goes, also when the test panicked. PostgreSQL tests fail, never
//! skip, when the server cannot be reached.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{AssertSqlSafe, Connection};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Every test database's name starts with this, so that leftovers are easy to find.
pub const POSTGRES_PREFIX: &str = "corridor_test_";

pub fn postgres_admin_url() -> String {
    std::env::var("CORRIDOR_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The same server URL with another database name.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map(|(b, q)| (b, format!("?{q}"))).unwrap_or((url, String::new()));
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// A name no other test (in this process or another) uses.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{POSTGRES_PREFIX}{}_{}_{:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos)
}

/// One test's database. Dropping it drops a PostgreSQL database; a SQLite file goes with the
/// folder it was made in.
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    postgres_name: Option<String>,
}

impl TestDatabase {
    /// SQLite: the file `sqlite_file` (not created here: the store does that, with its folder).
    pub async fn new(backend: Backend, sqlite_file: &Path) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                TestDatabase { backend, url: format!("sqlite://{}", sqlite_file.display()), postgres_name: None }
            }
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn postgres() -> TestDatabase {
        let admin = postgres_admin_url();
        let name = unique_name();
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL must run for these tests ({admin}, see CORRIDOR_TEST_POSTGRES_URL): {e}")
        });
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        conn.close().await.ok();
        TestDatabase { backend: Backend::Postgres, url: with_database(&admin, &name), postgres_name: Some(name) }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        // Drop runs inside the test's runtime, where nothing may block on a future: the
        // statement runs on a thread of its own with its own runtime, and is waited for, so
        // that the database is gone when the test ends.
        let admin = postgres_admin_url();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                // No new connection (a pool reconnecting) may slip in between the two steps.
                let _ = sqlx::raw_sql(AssertSqlSafe(format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false")))
                    .execute(&mut conn)
                    .await;
                for _ in 0..5 {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if sqlx::raw_sql(AssertSqlSafe(drop)).execute(&mut conn).await.is_ok() {
                        return Some(());
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                None
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop the test database {}", self.url);
        }
    }
}
