//! `corridor bench transitions`: the engine against the raw database doing the same writes,
//! measured in the same run on the same machine, at the same durability setting.
//!
//! Two fresh databases are filled alike (organisations, users, applications in draft with
//! their documents). On the first, every application is taken through the shipped workflow
//! to its happy ending by `Engine::transition`, one request after another, as the API would.
//! The rows the engine wrote (application update, audit event with its hash, follow-up jobs)
//! are then read back, and the same writes are replayed on the second database as plain SQL,
//! one transaction per transition, with no reads, checks or hashing. The ratio of the two
//! rates is the engine's overhead.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use corridor_engine::actor::Actor;
use corridor_engine::clock::SystemClock;
use corridor_engine::service::Engine;
use corridor_engine::store::{NewUser, User};
use corridor_engine::transition::TransitionRequest;
use corridor_engine::workflow::{Need, TransitionDef, Workflow};
use sqlx::Row;

use crate::config::Config;
use crate::demo;
use crate::startup;

/// What to measure.
pub struct TransitionBench {
    pub workflow: String,
    /// The state each application is taken to.
    pub target: String,
    pub applications: usize,
    /// SQLite `synchronous` setting for both sides: `full` (the default, every commit is on
    /// disk) or `normal`.
    pub synchronous: String,
    /// Also measure on PostgreSQL; the server URL of a role that may create databases.
    pub postgres: Option<String>,
}

pub struct Measurement {
    pub backend: String,
    pub transitions: usize,
    pub engine: Duration,
    pub raw: Duration,
}

impl Measurement {
    fn rate(&self, d: Duration) -> f64 {
        self.transitions as f64 / d.as_secs_f64()
    }
    pub fn engine_rate(&self) -> f64 {
        self.rate(self.engine)
    }
    pub fn raw_rate(&self) -> f64 {
        self.rate(self.raw)
    }
    pub fn ratio(&self) -> f64 {
        self.engine_rate() / self.raw_rate()
    }
}

pub async fn run(config: &Config, bench: &TransitionBench) -> anyhow::Result<Vec<Measurement>> {
    if !["full", "normal"].contains(&bench.synchronous.as_str()) {
        bail!("--synchronous: use full or normal");
    }
    if bench.applications == 0 {
        bail!("--applications: at least 1");
    }
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let mut results = Vec::new();
    let sqlite = |name: &str| format!("sqlite://{}?synchronous={}", dir.path().join(name).display(), bench.synchronous);
    results.push(
        measure(
            config,
            bench,
            dir.path(),
            &format!("SQLite (synchronous={})", bench.synchronous),
            sqlite("engine.db"),
            sqlite("raw.db"),
        )
        .await?,
    );
    if let Some(server) = &bench.postgres {
        let (engine_url, raw_url) = (create_database(server, "engine").await?, create_database(server, "raw").await?);
        let measured = measure(config, bench, dir.path(), "PostgreSQL", engine_url.clone(), raw_url.clone()).await;
        drop_database(server, &engine_url).await;
        drop_database(server, &raw_url).await;
        results.push(measured?);
    }
    Ok(results)
}

async fn measure(
    config: &Config,
    bench: &TransitionBench,
    dir: &Path,
    backend: &str,
    engine_url: String,
    raw_url: String,
) -> anyhow::Result<Measurement> {
    let engine = open_engine(config, dir, &engine_url, "engine").await?;
    let raw_engine = open_engine(config, dir, &raw_url, "raw").await?;
    let workflow = engine
        .workflows
        .latest(&bench.workflow)
        .with_context(|| format!("--workflow: no workflow `{}` is loaded", bench.workflow))?;
    if workflow.state(&bench.target).is_none() {
        bail!("--target: workflow `{}` has no state `{}`", workflow.id, bench.target);
    }
    let path = demo::path_to(&workflow, &bench.target)
        .with_context(|| format!("--target: `{}` cannot be reached by people's actions", bench.target))?;
    let engine_apps = fill(&engine, &workflow, bench.applications).await?;
    fill(&raw_engine, &workflow, bench.applications).await?;
    let watermark: i64 = max_audit_id(&engine_url).await?;

    let mut staff_by_role = HashMap::new();
    for t in &path {
        if !["applicant", "system"].contains(&t.by.as_str()) && !staff_by_role.contains_key(&t.by) {
            staff_by_role.insert(t.by.clone(), staff(&engine, &t.by).await?);
            staff(&raw_engine, &t.by).await?;
        }
    }

    eprintln!("{backend}: {} applications x {} transitions through the engine...", bench.applications, path.len());
    let started = Instant::now();
    for (reference, firm, version) in &engine_apps {
        take_path(&engine, &workflow, &path, &staff_by_role, reference, firm, *version).await?;
    }
    let engine_time = started.elapsed();

    let writes = read_back(&engine_url, watermark).await?;
    let transitions = writes.len();
    let jobs: usize = writes.iter().map(|w| w.jobs.len()).sum();
    eprintln!("{backend}: the engine wrote {transitions} audit events and {jobs} follow-up jobs");
    eprintln!("{backend}: the same {transitions} transitions as raw SQL...");
    drop(raw_engine);
    let raw_time = replay(&raw_url, &writes).await?;
    Ok(Measurement { backend: backend.into(), transitions, engine: engine_time, raw: raw_time })
}

async fn open_engine(config: &Config, dir: &Path, url: &str, name: &str) -> anyhow::Result<Arc<Engine>> {
    let mut config = config.clone();
    config.database.url = url.to_string();
    config.paths.data_dir = dir.join(format!("{name}-data"));
    startup::build_engine(&config, Arc::new(SystemClock)).await
}

/// Users for every role on the path and `count` drafts with every field and document.
async fn fill(engine: &Engine, workflow: &Workflow, count: usize) -> anyhow::Result<Vec<(String, Actor, i64)>> {
    let store = &engine.store;
    let hash = corridor_engine::auth::hash_password("benchmark-password")?;
    let mut apps = Vec::with_capacity(count);
    let mut firms = Vec::new();
    for i in 0..2 {
        let org = store.create_organisation(&format!("Benchmark Firm {i}"), "firm", Some("PK")).await?;
        firms.push(user(engine, &format!("firm{i}@bench.corridor"), "applicant", org.id, &hash).await?);
    }
    for i in 0..count {
        let firm = Actor::from_user(&firms[i % 2]);
        let view = engine.create_application(&firm, &workflow.id, &demo::example_fields(workflow, i)).await?;
        for doc in &workflow.documents {
            let (file, bytes) = demo::demo_document(doc);
            engine.upload_document(&firm, &view.record.reference, &doc.name, &file, bytes).await?;
        }
        // A client knows the version from the last answer it got; read it here, untimed.
        let version = engine.application(&firm, &view.record.reference).await?.record.version;
        apps.push((view.record.reference, firm, version));
    }
    Ok(apps)
}

async fn user(engine: &Engine, email: &str, role: &str, organisation_id: i64, hash: &str) -> anyhow::Result<User> {
    Ok(engine
        .store
        .create_user(NewUser {
            email: email.into(),
            name: email.into(),
            role: role.into(),
            organisation_id,
            password_hash: Some(hash.into()),
            language: "en".into(),
        })
        .await?)
}

/// Staff for a role, created on first use: two each, so that four-eyes can be met.
async fn staff(engine: &Engine, role: &str) -> anyhow::Result<Vec<User>> {
    let existing = engine.store.users_with_role(role).await?;
    if !existing.is_empty() {
        return Ok(existing);
    }
    let org = engine.store.create_organisation(&format!("Benchmark {role}"), "ministry", Some("QA")).await?;
    let hash = corridor_engine::auth::hash_password("benchmark-password")?;
    let mut users = Vec::new();
    for i in 0..2 {
        users.push(user(engine, &format!("{role}{i}@bench.corridor"), role, org.id, &hash).await?);
    }
    Ok(users)
}

async fn take_path(
    engine: &Engine,
    workflow: &Workflow,
    path: &[&TransitionDef],
    staff: &HashMap<String, Vec<User>>,
    reference: &str,
    firm: &Actor,
    mut version: i64,
) -> anyhow::Result<()> {
    let mut last_four_eyes = None;
    for t in path {
        let actor = match t.by.as_str() {
            "applicant" => firm.clone(),
            "system" => Actor::system(),
            role => {
                let users = staff.get(role).with_context(|| format!("no benchmark user with role {role}"))?;
                let user = users.iter().find(|u| Some(u.id) != last_four_eyes).unwrap_or(&users[0]);
                Actor::from_user(user)
            }
        };
        let request = TransitionRequest {
            action: t.action.clone(),
            expected_version: version,
            comment: (t.comment == Need::Required).then(|| "Checked against the register.".to_string()),
            reason: (t.reason == Need::Required).then(|| "Benchmark reason.".to_string()),
            fields: None,
        };
        let after = engine
            .transition(&actor, reference, &request)
            .await
            .with_context(|| format!("{} on {reference} in workflow {}", t.action, workflow.id))?;
        if t.four_eyes {
            last_four_eyes = actor.user_id;
        }
        version = after.record.version;
    }
    Ok(())
}

/// One transition's rows, as the engine wrote them.
struct TransitionRows {
    application_id: i64,
    from_version: i64,
    audit: Vec<AuditValue>,
    jobs: Vec<JobRow>,
}

#[derive(Clone)]
enum AuditValue {
    Int(Option<i64>),
    Text(Option<String>),
}

struct JobRow {
    kind: String,
    dedup_key: String,
    payload: String,
    max_attempts: i64,
    run_at: String,
    created_at: String,
}

const AUDIT_COLUMNS: &[(&str, bool)] = &[
    ("application_id", true),
    ("seq", true),
    ("actor_id", true),
    ("actor_name", false),
    ("role", false),
    ("organisation_id", true),
    ("action", false),
    ("from_state", false),
    ("to_state", false),
    ("comment", false),
    ("reason", false),
    ("data", false),
    ("at", false),
    ("prev_hash", false),
    ("hash", false),
];

/// A raw connection pool to the store's database, for writes that bypass the engine.
pub(crate) enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// A pool with the same connection settings (WAL, synchronous, pool size) as the store's.
pub(crate) async fn raw_pool(url: &str) -> anyhow::Result<Pool> {
    Ok(if url.starts_with("sqlite:") {
        Pool::Sqlite(corridor_engine::store::sqlite::SqliteStore::connect(url).await?.pool().clone())
    } else {
        Pool::Postgres(corridor_engine::store::postgres::PostgresStore::connect(url).await?.pool().clone())
    })
}

async fn max_audit_id(url: &str) -> anyhow::Result<i64> {
    Ok(match raw_pool(url).await? {
        Pool::Sqlite(p) => sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_events").fetch_one(&p).await?,
        Pool::Postgres(p) => sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_events").fetch_one(&p).await?,
    })
}

/// Text columns are read as text on both databases (timestamps and JSON cast).
const AUDIT_SELECT: &str = "SELECT id, application_id, seq, actor_id, actor_name, role, organisation_id, action, \
     from_state, to_state, comment, reason, CAST(data AS TEXT) AS data, CAST(at AS TEXT) AS at, prev_hash, hash \
     FROM audit_events WHERE id > $1 ORDER BY id";
const JOBS_SELECT: &str = "SELECT application_id, kind, dedup_key, CAST(payload AS TEXT) AS payload, max_attempts, \
     CAST(run_at AS TEXT) AS run_at, CAST(created_at AS TEXT) AS created_at FROM jobs ORDER BY id";

async fn read_back(url: &str, after_id: i64) -> anyhow::Result<Vec<TransitionRows>> {
    macro_rules! rows {
        ($pool:expr) => {{
            let events = sqlx::query(AUDIT_SELECT).bind(after_id).fetch_all($pool).await?;
            let jobs = sqlx::query(JOBS_SELECT).fetch_all($pool).await?;
            let mut by_app_time: HashMap<(i64, String), Vec<JobRow>> = HashMap::new();
            for j in &jobs {
                let app: Option<i64> = j.try_get("application_id")?;
                let Some(app) = app else { continue };
                let created_at: String = j.try_get("created_at")?;
                by_app_time.entry((app, created_at.clone())).or_default().push(JobRow {
                    kind: j.try_get("kind")?,
                    dedup_key: j.try_get("dedup_key")?,
                    payload: j.try_get("payload")?,
                    max_attempts: j
                        .try_get::<i64, _>("max_attempts")
                        .or_else(|_| j.try_get::<i32, _>("max_attempts").map(i64::from))?,
                    run_at: j.try_get("run_at")?,
                    created_at,
                });
            }
            let mut out = Vec::with_capacity(events.len());
            for e in &events {
                let mut audit = Vec::new();
                for (name, int) in AUDIT_COLUMNS {
                    audit.push(if *int {
                        AuditValue::Int(
                            e.try_get::<Option<i64>, _>(*name)
                                .or_else(|_| e.try_get::<Option<i32>, _>(*name).map(|v| v.map(i64::from)))?,
                        )
                    } else {
                        AuditValue::Text(e.try_get(*name)?)
                    });
                }
                let application_id: i64 = e.try_get("application_id")?;
                let seq: i64 = e.try_get::<i64, _>("seq").or_else(|_| e.try_get::<i32, _>("seq").map(i64::from))?;
                let at: String = e.try_get("at")?;
                out.push(TransitionRows {
                    application_id,
                    // An application starts at version 1 with event 1, and every later event
                    // (upload or transition) adds one to both; the replica was filled alike.
                    from_version: seq - 1,
                    audit,
                    jobs: by_app_time.remove(&(application_id, at)).unwrap_or_default(),
                });
            }
            let unmatched: usize = by_app_time.values().map(Vec::len).sum();
            if unmatched > 0 {
                bail!("{unmatched} jobs the engine wrote could not be matched to a transition");
            }
            out
        }};
    }
    Ok(match raw_pool(url).await? {
        Pool::Sqlite(p) => rows!(&p),
        Pool::Postgres(p) => rows!(&p),
    })
}

/// The engine's writes as plain SQL: one transaction per transition, the same statements
/// (version-checked update, audit insert, timer cancel, job inserts), nothing read first.
async fn replay(url: &str, writes: &[TransitionRows]) -> anyhow::Result<Duration> {
    macro_rules! replay {
        ($pool:expr, $begin:expr, $ts:literal, $json:literal, $jsonb:literal) => {{
            let started = Instant::now();
            for w in writes {
                let mut tx = $pool.begin_with($begin).await?;
                let to_state = match &w.audit[8] {
                    AuditValue::Text(s) => s.clone(),
                    AuditValue::Int(_) => None,
                };
                let from_state = match &w.audit[7] {
                    AuditValue::Text(s) => s.clone(),
                    AuditValue::Int(_) => None,
                };
                let at = match &w.audit[12] {
                    AuditValue::Text(s) => s.clone(),
                    AuditValue::Int(_) => None,
                };
                let updated = sqlx::query(concat!(
                    "UPDATE applications SET version = version + 1, state = $1, previous_state = $2, ",
                    "deadline_at = NULL, paused_remaining = NULL, escalated_at = NULL, assigned_to = NULL, ",
                    "state_entered_at = CAST($3 AS ", $ts, "), updated_at = CAST($3 AS ", $ts, ") WHERE id = $4 AND version = $5"
                ))
                .bind(&to_state)
                .bind(&from_state)
                .bind(&at)
                .bind(w.application_id)
                .bind(w.from_version)
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() != 1 {
                    bail!("raw replay: application {} was not at version {}", w.application_id, w.from_version);
                }
                let mut q = sqlx::query(concat!(
                    "INSERT INTO audit_events (application_id, seq, actor_id, actor_name, role, organisation_id, action, ",
                    "from_state, to_state, comment, reason, data, at, prev_hash, hash) VALUES ",
                    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CAST($12 AS ", $json, "), CAST($13 AS ", $ts, "), $14, $15)"
                ));
                for v in &w.audit {
                    q = match v {
                        AuditValue::Int(i) => q.bind(*i),
                        AuditValue::Text(t) => q.bind(t.clone()),
                    };
                }
                q.execute(&mut *tx).await?;
                sqlx::query(concat!(
                    "UPDATE jobs SET status = 'cancelled', updated_at = CAST($1 AS ", $ts, ") ",
                    "WHERE application_id = $2 AND status = 'pending' AND kind IN ('deadline', 'reminder', 'escalation')"
                ))
                .bind(&at)
                .bind(w.application_id)
                .execute(&mut *tx)
                .await?;
                for j in &w.jobs {
                    sqlx::query(concat!(
                        "INSERT INTO jobs (kind, dedup_key, application_id, payload, status, attempts, max_attempts, run_at, ",
                        "created_at, updated_at) VALUES ($1, $2, $3, CAST($4 AS ", $jsonb, "), 'pending', 0, $5, CAST($6 AS ", $ts,
                        "), CAST($7 AS ", $ts, "), CAST($7 AS ", $ts, ")) ON CONFLICT (dedup_key) DO NOTHING"
                    ))
                    .bind(&j.kind)
                    .bind(&j.dedup_key)
                    .bind(w.application_id)
                    .bind(&j.payload)
                    .bind(j.max_attempts)
                    .bind(&j.run_at)
                    .bind(&j.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
            started.elapsed()
        }};
    }
    Ok(match raw_pool(url).await? {
        Pool::Sqlite(p) => replay!(p, "BEGIN IMMEDIATE", "TEXT", "TEXT", "TEXT"),
        Pool::Postgres(p) => replay!(p, "BEGIN", "TIMESTAMPTZ", "JSON", "JSONB"),
    })
}

async fn create_database(server: &str, role: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let name = format!("corridor_bench_{}_{}", std::process::id(), role);
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .with_context(|| format!("--postgres: cannot connect to {}", startup::redact(server)))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating database {name}"))?;
    let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(server);
    Ok(format!("{base}/{name}"))
}

async fn drop_database(server: &str, url: &str) {
    use sqlx::Connection;
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    if let Ok(mut conn) = sqlx::PgConnection::connect(server).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&mut conn)
            .await;
    }
}

pub fn report(results: &[Measurement]) -> String {
    let mut out = String::from("backend                       transitions   engine tx/s   raw SQL tx/s   engine/raw\n");
    for m in results {
        out.push_str(&format!(
            "{:<29} {:>11} {:>13.1} {:>14.1} {:>11.1}%\n",
            m.backend,
            m.transitions,
            m.engine_rate(),
            m.raw_rate(),
            100.0 * m.ratio()
        ));
    }
    out
}

/// What `corridor bench queue` measures.
pub struct QueueBench {
    pub applications: usize,
    pub requests: usize,
    /// Measure on PostgreSQL (a server URL whose user may create databases) instead of SQLite.
    pub postgres: Option<String>,
}

pub struct QueueTiming {
    pub page: String,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

pub struct QueueMeasurement {
    pub backend: String,
    pub applications: usize,
    pub generate_seconds: f64,
    pub timings: Vec<QueueTiming>,
    /// The nearest deadline among the reviewer's stages, and whether the first page shows it.
    pub nearest_reference: String,
    pub nearest_on_first_page: bool,
}

/// The reviewer queue page over real HTTP on loopback, with `applications` in the database:
/// the time from sending the request to the last byte of the page, which bounds the server's
/// time from above.
pub async fn queue(config: &Config, bench: &QueueBench) -> anyhow::Result<QueueMeasurement> {
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let (backend, url) = match &bench.postgres {
        Some(server) => ("PostgreSQL".to_string(), create_database(server, "queue").await?),
        None => ("SQLite".to_string(), format!("sqlite://{}", dir.path().join("queue.db").display())),
    };
    let measured = queue_on(config, bench, dir.path(), &backend, &url).await;
    if let Some(server) = &bench.postgres {
        drop_database(server, &url).await;
    }
    measured
}

async fn queue_on(
    config: &Config,
    bench: &QueueBench,
    dir: &Path,
    backend: &str,
    url: &str,
) -> anyhow::Result<QueueMeasurement> {
    let mut config = config.clone();
    config.database.url = url.to_string();
    config.paths.data_dir = dir.join("data");
    config.scheduler.enabled = false;
    eprintln!("{backend}: generating {} applications...", bench.applications);
    let generated = crate::generate::run(&config, bench.applications, 200, 1).await?;

    let engine = startup::build_engine(&config, Arc::new(SystemClock)).await?;
    let ministry = engine.store.create_organisation("Benchmark Ministry", "ministry", Some("QA")).await?;
    let reviewer = user(&engine, "reviewer@bench.corridor", "ministry_reviewer", ministry.id, "-").await?;
    let actor = Actor::from_user(&reviewer);
    let stages = engine.stages(&actor);
    anyhow::ensure!(!stages.is_empty(), "the reviewer role works no stage");

    // The case nearest its deadline in the reviewer's stages, read straight from the database.
    let nearest = engine
        .queue(&actor, &corridor_engine::queue::QueueQuery { limit: 1, ..Default::default() })
        .await?
        .items
        .into_iter()
        .next()
        .map(|i| i.view.record)
        .context("the reviewer's queue is empty")?;
    let raw_nearest: Option<String> = {
        let states: Vec<String> = stages.iter().map(|s| s.state.clone()).collect();
        let placeholders = (1..=states.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT reference FROM applications WHERE state IN ({placeholders}) AND deadline_at IS NOT NULL ORDER BY deadline_at, id LIMIT 1"
        );
        match raw_pool(url).await? {
            Pool::Sqlite(p) => {
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
                for s in &states {
                    q = q.bind(s.clone());
                }
                q.fetch_optional(&p).await?
            }
            Pool::Postgres(p) => {
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
                for s in &states {
                    q = q.bind(s.clone());
                }
                q.fetch_optional(&p).await?
            }
        }
    };
    anyhow::ensure!(
        raw_nearest.as_deref() == Some(nearest.reference.as_str()),
        "the queue's first case {} is not the one nearest its deadline ({raw_nearest:?})",
        nearest.reference
    );

    // A signed-in session for the reviewer, made as the login page makes it.
    let token = corridor_engine::auth::random_id();
    let now = chrono::Utc::now();
    engine
        .store
        .create_session(&corridor_engine::store::Session {
            id: corridor_engine::auth::token_digest(&token),
            user_id: Some(reviewer.id),
            csrf_token: corridor_engine::auth::random_id(),
            created_at: now,
            expires_at: now + chrono::Duration::hours(8),
            data: serde_json::json!({}),
        })
        .await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let serve_engine = engine.clone();
    let serve_config = config.clone();
    let server = tokio::spawn(async move { startup::serve(serve_engine, &serve_config, listener).await });
    let http = reqwest::Client::builder().build()?;
    let cookie = format!("{}={token}", corridor_web::ui::session::SESSION_COOKIE);

    let first = get_page(&http, &format!("{base}/queue"), &cookie).await?;
    let nearest_on_first_page = first.contains(&nearest.reference);
    let next = first
        .split("href=\"/queue?after=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|cursor| format!("/queue?after={}", cursor.replace("&amp;", "&")));

    let stage = &stages[0];
    let mut pages = vec![
        ("first page".to_string(), "/queue".to_string()),
        (
            format!("one stage ({})", stage.state),
            format!("/queue?workflow={}&state={}", stage.workflow_id, stage.state),
        ),
        ("one firm".to_string(), format!("/queue?firm={}", nearest.organisation_id)),
        ("search by reference".to_string(), format!("/queue?q={}", nearest.reference)),
        ("search by name".to_string(), "/queue?q=ayesha+khan".to_string()),
    ];
    if let Some(next) = next {
        pages.insert(1, ("second page (keyset)".to_string(), next));
    }
    let mut timings = Vec::new();
    for (name, path) in pages {
        let target = format!("{base}{path}");
        for _ in 0..3 {
            get_page(&http, &target, &cookie).await?;
        }
        let mut samples = Vec::with_capacity(bench.requests);
        for _ in 0..bench.requests.max(1) {
            let started = Instant::now();
            get_page(&http, &target, &cookie).await?;
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        samples.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        timings.push(QueueTiming { page: name, median_ms: at(0.5), p95_ms: at(0.95), max_ms: at(1.0) });
    }
    server.abort();
    Ok(QueueMeasurement {
        backend: backend.to_string(),
        applications: generated.applications,
        generate_seconds: generated.seconds,
        timings,
        nearest_reference: nearest.reference,
        nearest_on_first_page,
    })
}

async fn get_page(http: &reqwest::Client, url: &str, cookie: &str) -> anyhow::Result<String> {
    let response = http.get(url).header("cookie", cookie).send().await?;
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(status.is_success(), "GET {url}: {status}");
    Ok(body)
}

pub fn queue_report(m: &QueueMeasurement) -> String {
    let mut out = format!(
        "{}: {} applications (generated in {:.1} s); first page shows the case nearest its deadline ({}): {}\n",
        m.backend,
        m.applications,
        m.generate_seconds,
        m.nearest_reference,
        if m.nearest_on_first_page { "yes" } else { "NO" }
    );
    out.push_str("queue page                     median ms    p95 ms    max ms\n");
    for t in &m.timings {
        out.push_str(&format!("{:<30} {:>9.1} {:>9.1} {:>9.1}\n", t.page, t.median_ms, t.p95_ms, t.max_ms));
    }
    out
}
