//! `corridor bench-scheduler`: the scheduler at scale (issue 4).
//!
//! On a fresh SQLite file and, with `--postgres`, a fresh PostgreSQL database:
//!
//! 1. fill `applications` with N applications in review (raw `INSERT ... SELECT`, for speed),
//!    each with its pending reminder job (the job a submission enqueues), of which D are due
//!    now and the rest later; plus N finished (`done`) jobs as a busy system's history;
//! 2. print the query plan of the statement that claims due work (the store's own SQL);
//! 3. **find and enqueue**: claim every due reminder with a lease, in batches, and enqueue its
//!    per-recipient message job (what the scheduler's fan-out writes), completing the
//!    reminder; time it;
//! 4. **e-mails per second**: run the real scheduler ([`Scheduler::run_due_once`]) over those
//!    messages, rendering the templates and sending through lettre to an SMTP sink on
//!    loopback (a minimal SMTP server in this file, which accepts every message).
//!
//! SQLite runs with `synchronous=normal` (WAL, no fsync per commit) because the claim,
//! complete and enqueue statements each commit on their own; `full` is the product default
//! and is slower per commit on this disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use corridor_engine::clock::SystemClock;
use corridor_engine::mail::{EmailTemplates, MailConfig, Mailer};
use corridor_engine::model::jobs::{JobKind, JobPayload, JobStatus, MessageJob};
use corridor_engine::scheduler::{Scheduler, SchedulerSettings};
use corridor_engine::store::{NewJob, Store, postgres, sqlite};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use corridor::config::Config;
use corridor::startup;

#[derive(Args, Debug, Clone)]
pub struct BenchSchedulerArgs {
    /// Applications in the database.
    #[arg(long, default_value_t = 1_000_000)]
    pub applications: i64,
    /// Of which have a reminder due now.
    #[arg(long, default_value_t = 100_000)]
    pub due: i64,
    /// Jobs claimed per batch while finding and enqueueing.
    #[arg(long, default_value_t = 1000)]
    pub batch: i64,
    /// Also measure on PostgreSQL: a server URL whose user may create databases.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Skip SQLite.
    #[arg(long)]
    pub no_sqlite: bool,
}

#[derive(Debug)]
pub struct SchedulerMeasurement {
    pub backend: String,
    pub fill: Duration,
    pub plan: Vec<String>,
    pub found: usize,
    pub find_and_enqueue: Duration,
    pub emails: usize,
    pub sending: Duration,
}

pub async fn run(config: &Config, args: &BenchSchedulerArgs) -> anyhow::Result<Vec<SchedulerMeasurement>> {
    if args.due > args.applications || args.applications <= 0 {
        bail!("--due must be between 0 and --applications");
    }
    let sink = start_sink().await?;
    let mut out = Vec::new();
    if !args.no_sqlite {
        let dir = tempfile::tempdir().context("creating a temporary folder")?;
        let url = format!("sqlite://{}?synchronous=normal", dir.path().join("bench.db").display());
        out.push(measure(config, args, &url, "SQLite (WAL, synchronous=normal)", &sink).await?);
    }
    if let Some(server) = &args.postgres {
        let url = create_database(server).await?;
        let result = measure(config, args, &url, "PostgreSQL", &sink).await;
        drop_database(server, &url).await;
        out.push(result?);
    }
    Ok(out)
}

async fn measure(
    config: &Config,
    args: &BenchSchedulerArgs,
    url: &str,
    label: &str,
    sink: &Sink,
) -> anyhow::Result<SchedulerMeasurement> {
    eprintln!("{label}: filling {} applications ({} due)...", args.applications, args.due);
    let mut config = config.clone();
    config.database.url = url.to_string();
    let dir = tempfile::tempdir()?;
    config.paths.data_dir = dir.path().to_path_buf();
    let startup::Built { engine, store } = startup::build(&config, Arc::new(SystemClock)).await?;
    let reviewer = store
        .create_user(corridor_engine::store::NewUser {
            email: "reviewer@ministry.test".into(),
            name: "Reviewer".into(),
            role: crate::bench::reviewer_role(&engine)?,
            organisation_id: store.create_organisation("Ministry", "ministry", Some("QA")).await?.id,
            password_hash: None,
            language: "en".into(),
        })
        .await?;
    let started = Instant::now();
    fill(store.as_ref(), url, args, reviewer.organisation_id.get(), reviewer.id.get()).await?;
    let fill_time = started.elapsed();
    let plan = claim_plan(store.as_ref(), url).await?;
    eprintln!("{label}: filled in {:.1} s; finding and enqueueing...", fill_time.as_secs_f64());

    // Find and enqueue: claim due reminders with a lease, write one message job each.
    let now = Utc::now();
    let worker = corridor_engine::scheduler::worker_id();
    let started = Instant::now();
    let mut found = 0;
    loop {
        let jobs = store.claim_jobs(&worker, now, 300, args.batch).await?;
        if jobs.is_empty() {
            break;
        }
        found += jobs.len();
        let messages: Vec<NewJob> = jobs
            .iter()
            .map(|j| NewJob {
                dedup_key: format!("{}:u{}", j.dedup_key, reviewer.id),
                application_id: j.application_id,
                payload: JobPayload::Message(MessageJob {
                    template: "deadline_near".into(),
                    user_id: reviewer.id,
                    context: message_context(j.payload["reference"].as_str().unwrap_or_default()),
                    facts: None,
                }),
                // Due just after the instant this phase claims at, so that it finds only the
                // reminders; the sending phase below runs later and finds the messages.
                run_at: now + chrono::Duration::milliseconds(1),
                max_attempts: 8,
            })
            .collect();
        store.enqueue_jobs(messages).await?;
        for j in &jobs {
            store.complete_job(j.id, &worker, now).await?;
        }
    }
    let find_and_enqueue = started.elapsed();
    eprintln!("{label}: {found} due found and enqueued in {:.1} s; sending...", find_and_enqueue.as_secs_f64());

    // E-mails per second through the real scheduler and lettre.
    let mailer = Mailer::new(&MailConfig::new(Some(sink.url()), config.mail.from.clone(), config.outbox_dir()))?;
    let templates = EmailTemplates::load(&config.email_templates_dir())?;
    let settings = SchedulerSettings::new(300, Duration::from_secs(5), "http://127.0.0.1:8080");
    let scheduler = Scheduler::new(engine.clone(), mailer, templates, settings)?;
    let before = sink.count();
    let started = Instant::now();
    let report = scheduler.run_due_once(Utc::now()).await?;
    let sending = started.elapsed();
    let emails = sink.count() - before;
    if report.dead > 0 || report.retried > 0 {
        eprintln!("{label}: warning: {} retried, {} dead", report.retried, report.dead);
    }
    Ok(SchedulerMeasurement { backend: label.into(), fill: fill_time, plan, found, find_and_enqueue, emails, sending })
}

/// What the scheduler's fan-out would put in a reminder's message.
fn message_context(reference: &str) -> serde_json::Map<String, serde_json::Value> {
    let context = json!({
        "reference": reference, "workflow_title": "Business visa for IT professionals",
        "state_label": "Ministry review", "deadline": "Sunday 8 March 2026, 23:59 (Asia/Qatar)",
        "link": format!("http://127.0.0.1:8080/cases/{reference}"),
    });
    match context {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// Applications in `ministry_review`, one pending reminder each (`due` of them due now),
/// and as many finished jobs.
async fn fill(store: &dyn Store, url: &str, args: &BenchSchedulerArgs, org: i64, user: i64) -> anyhow::Result<()> {
    let n = args.applications;
    let due = args.due;
    match store.backend() {
        "sqlite" => {
            let store = sqlite::SqliteStore::connect(url).await?;
            let pool = store.pool();
            // Times in the store's text form (see migrations/sqlite/0001_init.sql).
            let t = "strftime('%Y-%m-%dT%H:%M:%S', 'now', ?) || '.000000Z'";
            let apps = format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) \
                 INSERT INTO applications (reference, workflow_id, workflow_version, state, version, organisation_id, \
                   created_by, fields, applicant_name, created_at, updated_at, state_entered_at, submitted_at, deadline_at) \
                 SELECT printf('QA-BV-2026-%07d-X', i), 'it-business-visa', 1, 'ministry_review', 2, ?, ?, '{{}}', \
                   'applicant ' || i, {t}, {t}, {t}, {t}, \
                   strftime('%Y-%m-%dT%H:%M:%S', 'now', '+' || (i % 900 + 1) || ' hours') || '.000000Z' FROM s"
            );
            sqlx::query(sqlx::AssertSqlSafe(apps))
                .bind(n)
                .bind(org)
                .bind(user)
                .bind("-10 days")
                .bind("-10 days")
                .bind("-10 days")
                .bind("-10 days")
                .execute(pool)
                .await?;
            let jobs = |status: &str, kind: &str| {
                format!(
                    "INSERT INTO jobs (kind, dedup_key, application_id, payload, status, attempts, max_attempts, run_at, \
                       created_at, updated_at) \
                     SELECT '{kind}', '{kind}:' || id || ':v2:0', id, \
                       json_object('application_id', id, 'reference', reference, 'workflow', 'it-business-visa', \
                         'state', 'ministry_review', 'version', 2, 'template', 'deadline_near', 'to', json_object('kind', 'owner')), \
                       '{status}', 0, 8, \
                       CASE WHEN id <= ? THEN strftime('%Y-%m-%dT%H:%M:%S', 'now', '-' || (id % 3600) || ' seconds') \
                            ELSE strftime('%Y-%m-%dT%H:%M:%S', 'now', '+' || (id % 900 + 1) || ' hours') END || '.000000Z', \
                       {t}, {t} FROM applications"
                )
            };
            sqlx::query(sqlx::AssertSqlSafe(jobs(JobStatus::Pending.as_str(), JobKind::Reminder.as_str())))
                .bind(due)
                .bind("-5 days")
                .bind("-5 days")
                .execute(pool)
                .await?;
            sqlx::query(sqlx::AssertSqlSafe(jobs(JobStatus::Done.as_str(), JobKind::Email.as_str())))
                .bind(0)
                .bind("-9 days")
                .bind("-9 days")
                .execute(pool)
                .await?;
            sqlx::query("ANALYZE").execute(pool).await?;
        }
        _ => {
            let store = postgres::PostgresStore::connect(url).await?;
            let pool = store.pool();
            sqlx::query(
                "INSERT INTO applications (reference, workflow_id, workflow_version, state, version, organisation_id, \
                   created_by, fields, applicant_name, created_at, updated_at, state_entered_at, submitted_at, deadline_at) \
                 SELECT 'QA-BV-2026-' || lpad(i::text, 7, '0') || '-X', 'it-business-visa', 1, 'ministry_review', 2, $2, $3, \
                   '{}', 'applicant ' || i, now() - interval '10 days', now() - interval '10 days', \
                   now() - interval '10 days', now() - interval '10 days', now() + (i % 900 + 1) * interval '1 hour' \
                 FROM generate_series(1, $1) AS i",
            )
            .bind(n)
            .bind(org)
            .bind(user)
            .execute(pool)
            .await?;
            for (kind, status, due, age) in
                [(JobKind::Reminder, JobStatus::Pending, due, "5 days"), (JobKind::Email, JobStatus::Done, 0, "9 days")]
            {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO jobs (kind, dedup_key, application_id, payload, status, attempts, max_attempts, run_at, \
                       created_at, updated_at) \
                     SELECT '{kind}', '{kind}:' || id || ':v2:0', id, \
                       jsonb_build_object('application_id', id, 'reference', reference, 'workflow', 'it-business-visa', \
                         'state', 'ministry_review', 'version', 2, 'template', 'deadline_near', 'to', jsonb_build_object('kind', 'owner')), \
                       '{status}', 0, 8, \
                       CASE WHEN id <= $1 THEN now() - (id % 3600) * interval '1 second' \
                            ELSE now() + (id % 900 + 1) * interval '1 hour' END, \
                       now() - interval '{age}', now() - interval '{age}' FROM applications"
                )))
                .bind(due)
                .execute(pool)
                .await?;
            }
            sqlx::query("ANALYZE").execute(pool).await?;
        }
    }
    Ok(())
}

/// The plan of the claim statement the store runs (its own SQL text).
async fn claim_plan(store: &dyn Store, url: &str) -> anyhow::Result<Vec<String>> {
    let now = Utc::now();
    Ok(match store.backend() {
        "sqlite" => {
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {}", sqlite::CLAIM_JOBS_SQL)))
                    .bind(corridor_engine::audit::canonical_time(now))
                    .bind(32i64)
                    .bind("w")
                    .bind(corridor_engine::audit::canonical_time(now))
                    .fetch_all(sqlite::SqliteStore::connect(url).await?.pool())
                    .await?;
            rows.into_iter().map(|(_, _, _, d)| d).collect()
        }
        _ => {
            let rows: Vec<(String,)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN {}", postgres::CLAIM_JOBS_SQL)))
                    .bind(now)
                    .bind(32i64)
                    .bind("w")
                    .bind(now)
                    .fetch_all(postgres::PostgresStore::connect(url).await?.pool())
                    .await?;
            rows.into_iter().map(|(l,)| l).collect()
        }
    })
}

pub fn report(results: &[SchedulerMeasurement]) -> String {
    let mut s = String::new();
    for r in results {
        s.push_str(&format!("== {} ==\n", r.backend));
        s.push_str(&format!("fill (raw SQL):            {:.1} s\n", r.fill.as_secs_f64()));
        s.push_str(&format!(
            "find and enqueue due jobs: {} in {:.2} s ({:.0} jobs/s)\n",
            r.found,
            r.find_and_enqueue.as_secs_f64(),
            r.found as f64 / r.find_and_enqueue.as_secs_f64().max(1e-9)
        ));
        s.push_str(&format!(
            "e-mails sent (SMTP sink):  {} in {:.2} s ({:.0} e-mails/s)\n",
            r.emails,
            r.sending.as_secs_f64(),
            r.emails as f64 / r.sending.as_secs_f64().max(1e-9)
        ));
        s.push_str("plan of the claim statement:\n");
        for line in &r.plan {
            s.push_str(&format!("  {line}\n"));
        }
    }
    s
}

// ---- a minimal SMTP sink on loopback ----

struct Sink {
    port: u16,
    count: Arc<AtomicUsize>,
}

impl Sink {
    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// Accepts every message (RFC 5321 replies, no checks); counts them.
async fn start_sink() -> anyhow::Result<Sink> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                if write.write_all(b"220 sink ESMTP\r\n").await.is_err() {
                    return;
                }
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                        counter.fetch_add(1, Ordering::SeqCst);
                        b"250 queued\r\n"
                    } else {
                        match line.get(..4).map(|c| c.to_ascii_uppercase()).as_deref() {
                            Some("EHLO") | Some("HELO") => b"250 sink\r\n",
                            Some("DATA") => {
                                in_data = true;
                                b"354 end with .\r\n"
                            }
                            Some("QUIT") => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 OK\r\n",
                        }
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(Sink { port, count })
}

async fn create_database(server: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let name = format!("corridor_bench_scheduler_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .with_context(|| format!("--postgres: cannot connect to {}", startup::redact(server)))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
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
