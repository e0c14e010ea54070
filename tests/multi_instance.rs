//! Several `corridor serve` processes on one PostgreSQL database share the jobs.
//!
//! The real binary is started twice (env!("CARGO_BIN_EXE_corridor")) with a 3-second lease,
//! a 1-second poll and a real SMTP server on loopback. Time is not faked across processes:
//! the 500 applications are submitted by this test through the engine with a manual clock set
//! days in the past, so that on the wall clock the servers run on, every reminder is already
//! due when they start (and no deadline has passed yet). Nothing is written to the jobs table
//! by hand: the reminders are the ones the submissions enqueued.

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use corridor_engine::actor::Actor;
use corridor_engine::clock::ManualClock;
use corridor_engine::model::{JobStatus, Reference};
use corridor_engine::service::Engine;
use corridor_engine::workflow::{Duration as WfDuration, DurationUnit};
use support::smtp::{self as scheduling, Smtp, start_smtp};
use support::{Backend, TestEnv, submitted, user};

/// A `corridor serve` child, killed when dropped (also when the test fails).
struct Instance {
    child: Child,
}

impl Instance {
    fn start(config: &std::path::Path, smtp_url: &str, log: &std::path::Path) -> Instance {
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_corridor"))
            .args(["--config", &config.display().to_string(), "serve"])
            .env("CORRIDOR_SCHEDULER_ENABLED", "true")
            .env("CORRIDOR_SCHEDULER_LEASE_SECONDS", "3")
            .env("CORRIDOR_SCHEDULER_POLL_SECONDS", "1")
            .env("CORRIDOR_SMTP_URL", smtp_url)
            .env(
                "CORRIDOR_LOG",
                std::env::var("CORRIDOR_TEST_CHILD_LOG")
                    .unwrap_or_else(|_| "warn,corridor_engine::scheduler=info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start corridor serve");
        Instance { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no clean-up, leases stay held.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Submit `count` applications at a past time chosen so that, now, their reminder ("1
/// working day before the deadline") is due and their deadline is still ahead.
async fn due_applications(
    engine: &Engine,
    clock: &ManualClock,
    applicant: &Actor,
    count: usize,
    first: usize,
) -> Vec<Reference> {
    let workflow = engine.workflow("it-business-visa").unwrap();
    let calendar = engine.calendar(&workflow).unwrap();
    let deadline = workflow.state("ministry_review").unwrap().deadline.unwrap();
    let one_day = WfDuration { amount: 1, unit: DurationUnit::WorkingDays };
    let now = Utc::now();
    let submitted_at = (1..30)
        .map(|days| now - chrono::Duration::days(days))
        .find(|t| {
            let d = calendar.add_duration(*t, &deadline);
            calendar.subtract_duration(d, &one_day) <= now && d > now + chrono::Duration::hours(1)
        })
        .expect("a past day whose reminder is due now");
    clock.set(submitted_at);
    let mut references = Vec::with_capacity(count);
    for i in 0..count {
        references.push(submitted(engine, applicant, first + i).await);
    }
    references
}

/// Wait until `pred` holds, up to `limit`.
async fn wait_for(limit: Duration, mut pred: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if pred().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// The end of each instance's log, for a failure message.
fn logs(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for name in ["a.log", "b.log", "stuck.log", "b2.log"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        out.push_str(&format!("\n--- {name} ---\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n")));
    }
    out
}

fn reminders(smtp: &Smtp) -> Vec<scheduling::Received> {
    smtp.with_subject("Due soon")
}

fn worker_of(locked_by: Option<&str>, pid: u32) -> bool {
    locked_by.is_some_and(|w| w.contains(&format!(":{pid}:")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_deliver_every_reminder_once_and_take_over_a_killed_ones_jobs() {
    let env = TestEnv::new(Backend::Postgres).await;
    let (dir, config_path) = (&env.dir, &env.config_path);
    let clock = Arc::new(ManualClock::new());
    let (engine, store) = env.start(clock.clone()).await;
    let applicant =
        Actor::from_user(&user(&*store, "visas@firm.test", "Visa desk", "applicant", "Karachi Code", "en").await);
    user(&*store, "reviewer@ministry.test", "Reviewer", "ministry_reviewer", "Ministry", "en").await;
    let smtp = start_smtp();

    // ---- 500 reminders due at once, two instances ----
    let first_batch = due_applications(&engine, &clock, &applicant, 500, 0).await;
    let mut a = Instance::start(config_path, &smtp.url(), &dir.path().join("a.log"));
    let mut b = Instance::start(config_path, &smtp.url(), &dir.path().join("b.log"));
    let all_arrived = wait_for(
        Duration::from_secs(std::env::var("CORRIDOR_TEST_WAIT").ok().and_then(|s| s.parse().ok()).unwrap_or(240)),
        async || reminders(&smtp).len() >= 500,
    )
    .await;
    assert!(all_arrived, "only {} of 500 reminders arrived{}", reminders(&smtp).len(), logs(dir.path()));
    // Give a straggler the chance to show up twice before counting.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = reminders(&smtp);
    let ids: BTreeSet<String> = got.iter().map(|m| m.message_id()).collect();
    assert_eq!(got.len(), 500, "every reminder exactly once");
    assert_eq!(ids.len(), 500);
    let references: BTreeSet<&Reference> = first_batch.iter().collect();
    assert!(got.iter().all(|m| references.iter().any(|r| m.subject().contains(r.as_str()))));
    // Both instances did part of the work.
    let done = store.jobs(Some(JobStatus::Done), 100_000).await.unwrap();
    let by_a = done.iter().filter(|j| worker_of(j.locked_by.as_deref(), a.pid())).count();
    let by_b = done.iter().filter(|j| worker_of(j.locked_by.as_deref(), b.pid())).count();
    assert!(by_a > 0 && by_b > 0, "work shared: a {by_a}, b {by_b}");
    assert_eq!(smtp.with_subject("").len(), 1000, "500 reminders and 500 confirmations, nothing twice");

    // ---- an instance killed while it holds jobs ----
    // A's replacement talks to an SMTP server that accepts connections and never answers, so
    // whatever it claims it holds until it is killed.
    // Both stop, so that the stuck instance below is alone when the next reminders come due
    // and surely claims some; the instance started after the kill must take them over.
    a.kill();
    b.kill();
    let black_hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("smtp://127.0.0.1:{}", black_hole.local_addr().unwrap().port());
    let mut stuck = Instance::start(config_path, &silent_url, &dir.path().join("stuck.log"));
    let second_batch = due_applications(&engine, &clock, &applicant, 100, 500).await;
    let mut held = BTreeMap::new();
    let holding = wait_for(Duration::from_secs(60), async || {
        let running = store.jobs(Some(JobStatus::Running), 10_000).await.unwrap();
        held = running
            .into_iter()
            .filter(|j| worker_of(j.locked_by.as_deref(), stuck.pid()))
            .map(|j| (j.id, j.locked_until))
            .collect();
        !held.is_empty()
    })
    .await;
    assert!(holding, "the stuck instance never claimed a job{}", logs(dir.path()));
    stuck.kill();
    let killed_at = Utc::now();
    let b = Instance::start(config_path, &smtp.url(), &dir.path().join("b2.log"));

    let expected = 600;
    let all_arrived = wait_for(Duration::from_secs(120), async || reminders(&smtp).len() >= expected).await;
    assert!(all_arrived, "only {} of {expected} reminders arrived{}", reminders(&smtp).len(), logs(dir.path()));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = reminders(&smtp);
    assert_eq!(got.len(), expected, "the held jobs were delivered once, by the other instance");
    assert_eq!(got.iter().map(|m| m.message_id()).collect::<BTreeSet<_>>().len(), expected);
    let second: BTreeSet<&Reference> = second_batch.iter().collect();
    assert_eq!(got.iter().filter(|m| second.iter().any(|r| m.subject().contains(r.as_str()))).count(), 100);
    for (id, locked_until) in held {
        let job = store.job(id).await.unwrap();
        assert_eq!(job.status, JobStatus::Done, "job {id} ({})", job.dedup_key);
        assert!(worker_of(job.locked_by.as_deref(), b.pid()), "taken over by the other instance: {:?}", job.locked_by);
        // Taken over only once the lease of the killed instance had run out.
        let until = locked_until.expect("a held job has a lease");
        assert!(job.updated_at >= until, "job {id} finished at {} before the lease ended at {until}", job.updated_at);
        assert!(until > killed_at - chrono::Duration::seconds(4));
    }
    drop(b);
}
