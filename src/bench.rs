//! `corridor bench transitions`: the engine against the raw database doing the same writes,
//! measured in the same run on the same machine, at the same durability setting.
//!
//! Two fresh databases are filled alike (organisations, users, applications in draft with
//! their documents). Every application is taken through the shipped workflow to its happy
//! ending by `Engine::transition`, one request after another, as the API would. After each
//! transition the rows it wrote (the application's new values, the audit event with its
//! hash, the follow-up jobs) are read back, untimed, and the same writes are made on the
//! second database as plain SQL in one transaction, with no reads, checks or hashing. The
//! two sides alternate transition by transition, so that both meet the same disk and the
//! same machine load; the ratio of the two rates is the engine's overhead.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use corridor_engine::actor::Actor;
use corridor_engine::clock::SystemClock;
use corridor_engine::model::{NewUser, OrganisationId, Reference, User, UserId};
use corridor_engine::role::Role;
use corridor_engine::service::Engine;
use corridor_engine::store::Store;
use corridor_engine::transition::TransitionRequest;
use corridor_engine::workflow::{Need, TransitionDef, Workflow};
use sqlx::Row;

use corridor::config::Config;
use corridor::demo;
use corridor::startup;

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
    let startup::Built { engine, store } = open_engine(config, dir, &engine_url, "engine").await?;
    let raw_side = open_engine(config, dir, &raw_url, "raw").await?;
    let workflow = engine
        .workflow(&bench.workflow)
        .with_context(|| format!("--workflow: no workflow `{}` is loaded", bench.workflow))?;
    if workflow.state(&bench.target).is_none() {
        bail!("--target: workflow `{}` has no state `{}`", workflow.id, bench.target);
    }
    let path = demo::path_to(&workflow, &bench.target)
        .with_context(|| format!("--target: `{}` cannot be reached by people's actions", bench.target))?;
    let engine_apps = fill(&engine, store.as_ref(), &workflow, bench.applications).await?;
    fill(&raw_side.engine, raw_side.store.as_ref(), &workflow, bench.applications).await?;

    let mut staff_by_role = HashMap::new();
    for t in &path {
        if ![Role::APPLICANT, Role::SYSTEM].contains(&t.by) && !staff_by_role.contains_key(&t.by) {
            staff_by_role.insert(t.by.clone(), staff(store.as_ref(), &t.by).await?);
            staff(raw_side.store.as_ref(), &t.by).await?;
        }
    }
    drop(raw_side);
    let engine_db = raw_pool(&engine_url).await?;
    let raw_db = raw_pool(&raw_url).await?;
    let mut last_job = engine_db.max_job_id().await?;

    eprintln!(
        "{backend}: {} applications x {} transitions, engine and raw SQL in turn...",
        bench.applications,
        path.len()
    );
    let (mut engine_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
    let (mut transitions, mut jobs) = (0, 0);
    for (reference, firm, version) in &engine_apps {
        let mut version = *version;
        let mut last_four_eyes = None;
        for t in &path {
            let actor = actor_for(t, firm, &staff_by_role, last_four_eyes)?;
            let request = TransitionRequest {
                // A declared reason where the workflow offers some (required with a reason).
                reason_code: t.reason_codes.first().cloned(),
                action: t.action.clone(),
                expected_version: version,
                comment: (t.comment == Need::Required).then(|| "Checked against the register.".to_string()),
                reason: (t.reason == Need::Required).then(|| "Benchmark reason.".to_string()),
                fields: None,
            };
            let started = Instant::now();
            let after = engine
                .transition(&actor, reference, &request)
                .await
                .with_context(|| format!("{} on {reference} in workflow {}", t.action, workflow.id))?;
            engine_time += started.elapsed();
            if t.four_eyes {
                last_four_eyes = actor.user_id;
            }
            version = after.record.version;

            let rows = engine_db.read_transition(after.record.id.get(), last_job).await?;
            last_job = rows.jobs.iter().map(|j| j.id).max().unwrap_or(last_job);
            let started = Instant::now();
            raw_db.replay(&rows).await?;
            raw_time += started.elapsed();
            transitions += 1;
            jobs += rows.jobs.len();
        }
    }
    eprintln!("{backend}: each side wrote {transitions} transitions with {jobs} follow-up jobs");
    Ok(Measurement { backend: backend.into(), transitions, engine: engine_time, raw: raw_time })
}

async fn open_engine(config: &Config, dir: &Path, url: &str, name: &str) -> anyhow::Result<startup::Built> {
    let mut config = config.clone();
    config.database.url = url.to_string();
    config.paths.data_dir = dir.join(format!("{name}-data"));
    startup::build(&config, Arc::new(SystemClock)).await
}

/// Users for every role on the path and `count` drafts with every field and document.
async fn fill(
    engine: &Engine,
    store: &dyn Store,
    workflow: &Workflow,
    count: usize,
) -> anyhow::Result<Vec<(Reference, Actor, i64)>> {
    let hash = corridor_engine::auth::hash_password("benchmark-password")?;
    let mut apps = Vec::with_capacity(count);
    let mut firms = Vec::new();
    for i in 0..2 {
        let org = store.create_organisation(&format!("Benchmark Firm {i}"), "firm", Some("PK")).await?;
        firms.push(user(store, &format!("firm{i}@bench.corridor"), &Role::APPLICANT, org.id, &hash).await?);
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

async fn user(
    store: &dyn Store,
    email: &str,
    role: &Role,
    organisation_id: OrganisationId,
    hash: &str,
) -> anyhow::Result<User> {
    Ok(store
        .create_user(NewUser {
            email: email.into(),
            name: email.into(),
            role: role.clone(),
            organisation_id,
            password_hash: Some(hash.into()),
            language: "en".into(),
        })
        .await?)
}

/// Staff for a role, created on first use: two each, so that four-eyes can be met.
async fn staff(store: &dyn Store, role: &Role) -> anyhow::Result<Vec<User>> {
    let existing = store.users_with_role(role).await?;
    if !existing.is_empty() {
        return Ok(existing);
    }
    let org = store.create_organisation(&format!("Benchmark {role}"), "ministry", Some("QA")).await?;
    let hash = corridor_engine::auth::hash_password("benchmark-password")?;
    let mut users = Vec::new();
    for i in 0..2 {
        users.push(user(store, &format!("{role}{i}@bench.corridor"), role, org.id, &hash).await?);
    }
    Ok(users)
}

/// The role whose queue the benchmarks read: the owner of the first review stage of the
/// first loaded workflow.
pub fn reviewer_role(engine: &Engine) -> anyhow::Result<Role> {
    let mut workflows = engine.workflows();
    workflows.sort_by(|a, b| a.id.cmp(&b.id));
    workflows
        .iter()
        .flat_map(|w| &w.states)
        .filter_map(|s| s.owner.clone())
        .find(|owner| *owner != Role::APPLICANT)
        .context("no loaded workflow has a review stage")
}

/// Who takes a transition: the firm, the system, or a staff member of the role who did not
/// take the previous four-eyes approval.
fn actor_for(
    t: &TransitionDef,
    firm: &Actor,
    staff: &HashMap<Role, Vec<User>>,
    last_four_eyes: Option<UserId>,
) -> anyhow::Result<Actor> {
    Ok(match &t.by {
        role if *role == Role::APPLICANT => firm.clone(),
        role if *role == Role::SYSTEM => Actor::system(),
        role => {
            let users = staff.get(role).with_context(|| format!("no benchmark user with role {role}"))?;
            let user = users.iter().find(|u| Some(u.id) != last_four_eyes).unwrap_or(&users[0]);
            Actor::from_user(user)
        }
    })
}

/// One transition's rows, as the engine wrote them. Values are kept as the database's text
/// and cast back on replay, so both sides store the same values.
struct TransitionRows {
    application_id: i64,
    from_version: i64,
    application: ApplicationValues,
    audit: Vec<AuditValue>,
    jobs: Vec<JobRow>,
}

/// The columns of the application's update whose values the engine chose.
struct ApplicationValues {
    state: String,
    previous_state: Option<String>,
    /// Only when the transition changed the fields (the engine's update keeps them otherwise).
    fields: Option<String>,
    applicant_name: Option<String>,
    passport_number: Option<String>,
    /// Only on the transition that submitted.
    submitted_at: Option<String>,
    deadline_at: Option<String>,
    paused_remaining: Option<String>,
    at: String,
}

#[derive(Clone)]
enum AuditValue {
    Int(Option<i64>),
    Text(Option<String>),
}

struct JobRow {
    id: i64,
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

/// The pool the store writes through, with its connection settings (WAL, synchronous, pool
/// size): on SQLite its one writer connection.
pub(crate) async fn raw_pool(url: &str) -> anyhow::Result<Pool> {
    Ok(if url.starts_with("sqlite:") {
        Pool::Sqlite(corridor_engine::store::sqlite::SqliteStore::connect(url).await?.writer().clone())
    } else {
        Pool::Postgres(corridor_engine::store::postgres::PostgresStore::connect(url).await?.pool().clone())
    })
}

/// Text columns are read as text on both databases (timestamps and JSON cast).
const APPLICATION_SELECT: &str = "SELECT version, state, previous_state, CAST(fields AS TEXT) AS fields, \
     applicant_name, passport_number, CAST(submitted_at AS TEXT) AS submitted_at, \
     CAST(deadline_at AS TEXT) AS deadline_at, CAST(paused_remaining AS TEXT) AS paused_remaining \
     FROM applications WHERE id = $1";
const AUDIT_SELECT: &str = "SELECT application_id, seq, actor_id, actor_name, role, organisation_id, action, \
     from_state, to_state, comment, reason, CAST(data AS TEXT) AS data, CAST(at AS TEXT) AS at, prev_hash, hash \
     FROM audit_events WHERE application_id = $1 ORDER BY seq DESC LIMIT 1";
const JOBS_SELECT: &str = "SELECT id, application_id, kind, dedup_key, CAST(payload AS TEXT) AS payload, \
     max_attempts, CAST(run_at AS TEXT) AS run_at, CAST(created_at AS TEXT) AS created_at \
     FROM jobs WHERE id > $1 ORDER BY id";

/// An integer column, `bigint` or `integer` alike.
fn int<R: Row>(row: &R, name: &str) -> anyhow::Result<Option<i64>>
where
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i32>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    Ok(match row.try_get::<Option<i64>, _>(name) {
        Ok(v) => v,
        Err(_) => row.try_get::<Option<i32>, _>(name)?.map(i64::from),
    })
}

impl Pool {
    async fn max_job_id(&self) -> anyhow::Result<i64> {
        let q = "SELECT COALESCE(MAX(id), 0) FROM jobs";
        Ok(match self {
            Pool::Sqlite(p) => sqlx::query_scalar(q).fetch_one(p).await?,
            Pool::Postgres(p) => sqlx::query_scalar(q).fetch_one(p).await?,
        })
    }

    /// What the last transition of this application wrote: its row, its newest audit
    /// event, and every job inserted after `last_job`.
    async fn read_transition(&self, application_id: i64, last_job: i64) -> anyhow::Result<TransitionRows> {
        macro_rules! read {
            ($pool:expr) => {{
                let app = sqlx::query(APPLICATION_SELECT).bind(application_id).fetch_one($pool).await?;
                let event = sqlx::query(AUDIT_SELECT).bind(application_id).fetch_one($pool).await?;
                let mut audit = Vec::new();
                for (name, is_int) in AUDIT_COLUMNS {
                    audit.push(if *is_int {
                        AuditValue::Int(int(&event, name)?)
                    } else {
                        AuditValue::Text(event.try_get(*name)?)
                    });
                }
                let at: String = event.try_get("at")?;
                let data: String = event.try_get("data")?;
                let data: serde_json::Value = serde_json::from_str(&data)?;
                let changed_fields = data.get("fields_changed").is_some();
                let submitted_at: Option<String> = app.try_get("submitted_at")?;
                let mut jobs = Vec::new();
                for j in sqlx::query(JOBS_SELECT).bind(last_job).fetch_all($pool).await? {
                    if int(&j, "application_id")? != Some(application_id) {
                        bail!("a job of another application was written during a transition of {application_id}");
                    }
                    jobs.push(JobRow {
                        id: j.try_get("id")?,
                        kind: j.try_get("kind")?,
                        dedup_key: j.try_get("dedup_key")?,
                        payload: j.try_get("payload")?,
                        max_attempts: int(&j, "max_attempts")?.unwrap_or_default(),
                        run_at: j.try_get("run_at")?,
                        created_at: j.try_get("created_at")?,
                    });
                }
                let version: i64 = app.try_get("version")?;
                TransitionRows {
                    application_id,
                    from_version: version - 1,
                    application: ApplicationValues {
                        state: app.try_get("state")?,
                        previous_state: app.try_get("previous_state")?,
                        fields: if changed_fields { app.try_get("fields")? } else { None },
                        applicant_name: if changed_fields { app.try_get("applicant_name")? } else { None },
                        passport_number: if changed_fields { app.try_get("passport_number")? } else { None },
                        submitted_at: submitted_at.filter(|s| *s == at),
                        deadline_at: app.try_get("deadline_at")?,
                        paused_remaining: app.try_get("paused_remaining")?,
                        at,
                    },
                    audit,
                    jobs,
                }
            }};
        }
        Ok(match self {
            Pool::Sqlite(p) => read!(p),
            Pool::Postgres(p) => read!(p),
        })
    }

    /// One transition's writes as plain SQL in one transaction: the statements the store
    /// runs (version-checked update, audit insert, timer cancel, job inserts), nothing read.
    async fn replay(&self, w: &TransitionRows) -> anyhow::Result<()> {
        macro_rules! replay {
            ($pool:expr, $begin:expr, $ts:literal, $json:literal, $jsonb:literal) => {{
                let a = &w.application;
                let mut tx = $pool.begin_with($begin).await?;
                let updated = sqlx::query(concat!(
                    "UPDATE applications SET version = version + 1, state = $1, previous_state = $2, ",
                    "fields = COALESCE(CAST($3 AS ", $jsonb, "), fields), applicant_name = COALESCE($4, applicant_name), ",
                    "passport_number = COALESCE($5, passport_number), ",
                    "submitted_at = COALESCE(CAST($6 AS ", $ts, "), submitted_at), deadline_at = CAST($7 AS ", $ts, "), ",
                    "paused_remaining = CAST($8 AS ", $jsonb, "), escalated_at = NULL, assigned_to = NULL, ",
                    "state_entered_at = CAST($9 AS ", $ts, "), updated_at = CAST($9 AS ", $ts, ") ",
                    "WHERE id = $10 AND version = $11"
                ))
                .bind(&a.state)
                .bind(&a.previous_state)
                .bind(&a.fields)
                .bind(&a.applicant_name)
                .bind(&a.passport_number)
                .bind(&a.submitted_at)
                .bind(&a.deadline_at)
                .bind(&a.paused_remaining)
                .bind(&a.at)
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
                // The row's chain head moves with the event, as the store does it.
                let (AuditValue::Int(Some(seq)), Some(AuditValue::Text(Some(hash)))) = (&w.audit[1], w.audit.last())
                else {
                    bail!("raw replay: the audit event of application {} has no seq or hash", w.application_id);
                };
                sqlx::query("UPDATE applications SET audit_seq = $1, audit_hash = $2 WHERE id = $3")
                    .bind(*seq)
                    .bind(hash.clone())
                    .bind(w.application_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(concat!(
                    "UPDATE jobs SET status = 'cancelled', updated_at = CAST($1 AS ", $ts, ") ",
                    "WHERE application_id = $2 AND status = 'pending' AND kind IN (",
                    corridor_engine::sql_timer_kinds!(),
                    ")"
                ))
                .bind(&a.at)
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
            }};
        }
        match self {
            Pool::Sqlite(p) => replay!(p, "BEGIN IMMEDIATE", "TEXT", "TEXT", "TEXT"),
            Pool::Postgres(p) => replay!(p, "BEGIN", "TIMESTAMPTZ", "JSON", "JSONB"),
        }
        Ok(())
    }
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

    let startup::Built { engine, store } = startup::build(&config, Arc::new(SystemClock)).await?;
    let ministry = store.create_organisation("Benchmark Ministry", "ministry", Some("QA")).await?;
    let reviewer = user(store.as_ref(), "reviewer@bench.corridor", &reviewer_role(&engine)?, ministry.id, "-").await?;
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
    let token = engine.sessions().create(&reviewer, None, &Default::default()).await?.token;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let serve_engine = engine.clone();
    let serve_config = config.clone();
    let server = tokio::spawn(async move { startup::serve(serve_engine, &serve_config, listener).await });
    let http = reqwest::Client::builder().build()?;
    let cookie = format!("{}={token}", corridor_web::ui::session::SESSION_COOKIE);

    let first = get_page(&http, &format!("{base}/queue"), &cookie).await?;
    let nearest_on_first_page = first.contains(nearest.reference.as_str());
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
        nearest_reference: nearest.reference.to_string(),
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
