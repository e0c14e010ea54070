//! The scheduler against real parts: SQLite and PostgreSQL, a real SMTP server on loopback
//! (mailin-embedded), a real HTTP receiver for webhooks, and a manual clock moved by days.
//! Every store-bound test runs on both databases.
//!
//! Dates: Monday 25 May 2026 in Doha. On the Qatar calendar (Friday-Saturday weekend, Eid
//! al-Adha on 27-29 May in config/calendars/qatar.toml) "5 working days" from then are Tue 26,
//! Sun 31, Mon 1, Tue 2, Wed 3 June: the deadline is the end of Wednesday 3 June, the reminder
//! "1 working day before" starts Tuesday 2 June, and the escalation "1 working day after" is
//! at the end of Thursday 4 June.

use corridor_engine::role::Role;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Duration, TimeZone, Utc};
use corridor::startup;
use corridor_engine::actor::Actor;
use corridor_engine::clock::ManualClock;
use corridor_engine::error::EngineError;
use corridor_engine::model::jobs::{JobPayload, JobStatus, WebhookJob};
use corridor_engine::scheduler::{RunReport, Scheduler};
use corridor_engine::service::Engine;
use corridor_engine::store::{Job, NewJob, Reference, Store, User};
use corridor_engine::transition::MESSAGE_ATTEMPTS;
use corridor_engine::webhook::{self, DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, VerifyError};
use serde_json::json;

use crate::support::smtp::{self as scheduling, free_port, start_smtp, start_smtp_on};
use crate::support::{Backend, TestEnv, act, submitted, user};

/// A local time in Doha (UTC+3, no daylight saving) as an instant.
fn doha(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap() - Duration::hours(3)
}

#[allow(dead_code)]
struct Fx {
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    scheduler: Arc<Scheduler>,
    config: corridor::config::Config,
    applicant: Actor,
    applicant_user: User,
    reviewers: Vec<User>,
    supervisor: User,
    admin: Actor,
    _env: TestEnv,
}

impl Fx {
    async fn run(&self) -> RunReport {
        self.scheduler.run_due_once(self.engine.now()).await.expect("scheduler pass")
    }

    async fn app(&self, reference: &Reference) -> corridor_engine::store::ApplicationRecord {
        self.engine.application(&Actor::system(), reference).await.unwrap().record
    }

    async fn jobs(&self, kind: &str) -> Vec<Job> {
        self.store.jobs(None, 10_000).await.unwrap().into_iter().filter(|j| j.kind.as_str() == kind).collect()
    }

    fn reviewer(&self, i: usize) -> Actor {
        Actor::from_user(&self.reviewers[i])
    }
}

async fn fixture(backend: Backend, smtp_url: &str) -> Fx {
    let mut env = TestEnv::new(backend).await;
    env.config.mail.smtp_url = smtp_url.to_string();
    // The webhook receivers of these tests listen on loopback.
    env.config.webhooks.allow_private = vec!["127.0.0.1".into()];
    let config = env.config.clone();
    let clock = Arc::new(ManualClock::new());
    clock.set(doha(2026, 5, 25, 10, 0, 0));
    let (engine, store) = env.start(clock.clone()).await;
    let scheduler = startup::build_scheduler(engine.clone(), &config).expect("scheduler");
    // The firm's user reads Arabic: its messages come in Arabic where a template exists.
    let applicant_user = user(&*store, "visas@firm.test", "Visa desk", "applicant", "Lahore Soft", "ar").await;
    let reviewers = vec![
        user(&*store, "r1@ministry.test", "Reviewer One", "ministry_reviewer", "Ministry", "en").await,
        user(&*store, "r2@ministry.test", "Reviewer Two", "ministry_reviewer", "Ministry", "en").await,
    ];
    let supervisor = user(&*store, "chief@ministry.test", "Chief", "ministry_supervisor", "Ministry", "en").await;
    let admin = Actor { user_id: None, name: "test admin".into(), role: Role::ADMIN.into(), organisation_id: None };
    Fx {
        applicant: Actor::from_user(&applicant_user),
        applicant_user,
        engine,
        store,
        clock,
        scheduler,
        config,
        reviewers,
        supervisor,
        admin,
        _env: env,
    }
}

/// Messages about cases: everything but the weekly digests that Sundays bring.
fn case_mail(smtp: &scheduling::Smtp) -> Vec<scheduling::Received> {
    smtp.messages().into_iter().filter(|m| !m.subject().starts_with("Weekly summary")).collect()
}

fn recipients(messages: &[scheduling::Received]) -> BTreeSet<String> {
    messages.iter().flat_map(|m| m.to.clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// One test per database for each scenario below.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await
            }
        }
    )*};
}

on_both_databases!(
    reminder_and_escalation_across_the_weekend_and_eid,
    clock_pauses_for_more_information_and_resumes_with_the_time_left,
    unanswered_request_lapses_on_its_deadline,
    smtp_down_then_back_every_message_once_and_a_dead_letter_retried,
    webhooks_signed_wrong_secret_detected_500_retried,
    weekly_digest_runs_once_across_two_schedulers,
    holiday_added_at_run_time_moves_deadline_timers_and_is_audited,
);

async fn reminder_and_escalation_across_the_weekend_and_eid(backend: Backend) {
    let smtp = start_smtp();
    let fx = fixture(backend, &smtp.url()).await;
    let reference = submitted(&fx.engine, &fx.applicant, 0).await;
    assert_eq!(fx.app(&reference).await.deadline_at, Some(doha(2026, 6, 3, 23, 59, 59)));

    // The confirmation of the submission, in the firm's language.
    fx.run().await;
    let first = smtp.messages();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(recipients(&first), set(&["visas@firm.test"]));
    assert_eq!(first[0].header("Content-Language").as_deref(), Some("ar"));

    // Monday 1 June, last second: not yet.
    fx.clock.set(doha(2026, 6, 1, 23, 59, 59));
    fx.run().await;
    assert!(smtp.with_subject("Due soon").is_empty());

    // Tuesday 2 June, 00:00 in Doha: one working day before the deadline.
    fx.clock.set(doha(2026, 6, 2, 0, 0, 0));
    fx.run().await;
    let reminders = smtp.with_subject("Due soon");
    assert_eq!(recipients(&reminders), set(&["r1@ministry.test", "r2@ministry.test"]));
    assert_eq!(reminders.len(), 2);
    assert!(reminders[0].subject().contains(reference.as_str()));
    assert!(reminders[0].data.contains("Wednesday, 3 June 2026 at 23:59 (Qatar Time)"), "{}", reminders[0].data);
    // Message-IDs come from the deduplication keys of the per-recipient jobs.
    let keys: BTreeSet<String> = fx
        .jobs("message")
        .await
        .iter()
        .filter(|j| j.dedup_key.starts_with("reminder:"))
        .map(|j| corridor_engine::mail::message_id_for(&j.dedup_key, "corridor.local"))
        .collect();
    assert_eq!(keys, reminders.iter().map(|m| m.message_id()).collect::<BTreeSet<_>>());

    // Running again at the same time or later sends nothing twice.
    fx.run().await;
    fx.clock.set(doha(2026, 6, 3, 23, 59, 59));
    fx.run().await;
    assert_eq!(smtp.with_subject("Due soon").len(), 2);
    assert!(smtp.with_subject("Overdue").is_empty());

    // The escalation: the end of Thursday 4 June, one working day after the deadline.
    fx.clock.set(doha(2026, 6, 4, 23, 59, 58));
    fx.run().await;
    assert!(smtp.with_subject("Overdue").is_empty());
    assert_eq!(fx.app(&reference).await.escalated_at, None);
    fx.clock.set(doha(2026, 6, 4, 23, 59, 59));
    fx.run().await;
    let escalations = smtp.with_subject("Overdue");
    assert_eq!(recipients(&escalations), set(&["chief@ministry.test"]));
    assert_eq!(escalations.len(), 1);
    let app = fx.app(&reference).await;
    assert_eq!(app.escalated_at, Some(doha(2026, 6, 4, 23, 59, 59)), "marked for the queue");
    let history = fx.store.history(app.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!((last.action.as_str(), last.role.as_str()), ("escalate", "system"));
    assert_eq!(
        fx.engine.verify_audit(Some(reference.as_str())).await.unwrap().map_err(|b| b.problem),
        Ok(history.len())
    );

    fx.clock.set(doha(2026, 6, 10, 12, 0, 0));
    fx.run().await;
    assert_eq!(case_mail(&smtp).len(), 4, "confirmation, two reminders, one escalation; nothing twice");
}

async fn clock_pauses_for_more_information_and_resumes_with_the_time_left(backend: Backend) {
    let smtp = start_smtp();
    let fx = fixture(backend, &smtp.url()).await;
    let reference = submitted(&fx.engine, &fx.applicant, 1).await;
    fx.run().await;

    // Sunday 31 May: two working days used (Tue 26, Sun 31 counts from tomorrow); three left.
    fx.clock.set(doha(2026, 5, 31, 10, 0, 0));
    act(&fx.engine, &fx.reviewer(0), &reference, "request_information", Some("Send the tax certificate")).await;
    let paused = fx.app(&reference).await;
    assert_eq!(paused.state, "more_information");
    assert_eq!(paused.paused_remaining, Some(json!({"unit": "working_days", "days": 3})));
    fx.run().await;
    assert_eq!(case_mail(&smtp).len(), 2, "confirmation and the request for information");

    // Ten days with the applicant: the Ministry's clock does not run, no reminder, no escalation.
    fx.clock.set(doha(2026, 6, 10, 10, 0, 0));
    fx.run().await;
    assert!(smtp.with_subject("Due soon").is_empty());
    assert!(smtp.with_subject("Overdue").is_empty());
    assert!(
        fx.jobs("reminder").await.iter().any(|j| j.status == JobStatus::Cancelled),
        "the state's timers were cancelled"
    );

    // The answer on Wednesday 10 June: three working days again (Thu 11, Sun 14, Mon 15).
    act(&fx.engine, &fx.applicant, &reference, "respond", Some("Certificate attached")).await;
    let resumed = fx.app(&reference).await;
    assert_eq!(resumed.state, "ministry_review");
    assert_eq!(resumed.deadline_at, Some(doha(2026, 6, 15, 23, 59, 59)));
    assert_eq!(resumed.paused_remaining, None);

    fx.clock.set(doha(2026, 6, 13, 23, 59, 59));
    fx.run().await;
    assert!(smtp.with_subject("Due soon").is_empty());
    fx.clock.set(doha(2026, 6, 14, 0, 0, 0));
    fx.run().await;
    assert_eq!(recipients(&smtp.with_subject("Due soon")), set(&["r1@ministry.test", "r2@ministry.test"]));
}

async fn unanswered_request_lapses_on_its_deadline(backend: Backend) {
    let smtp = start_smtp();
    let fx = fixture(backend, &smtp.url()).await;
    let reference = submitted(&fx.engine, &fx.applicant, 2).await;
    // Tuesday 26 May: 30 calendar days to answer, to the end of Thursday 25 June; the
    // reminder 5 days before starts Saturday 20 June (calendar days count weekends).
    fx.clock.set(doha(2026, 5, 26, 10, 0, 0));
    act(&fx.engine, &fx.reviewer(1), &reference, "request_information", Some("Which client?")).await;
    assert_eq!(fx.app(&reference).await.deadline_at, Some(doha(2026, 6, 25, 23, 59, 59)));

    fx.clock.set(doha(2026, 6, 19, 23, 59, 59));
    fx.run().await;
    // The firm reads Arabic: "Reminder: information requested for application ...".
    assert!(smtp.with_subject("تذكير: معلومات مطلوبة").is_empty());
    fx.clock.set(doha(2026, 6, 20, 0, 0, 0));
    fx.run().await;
    assert_eq!(recipients(&smtp.with_subject("تذكير: معلومات مطلوبة")), set(&["visas@firm.test"]));

    fx.clock.set(doha(2026, 6, 25, 23, 59, 58));
    fx.run().await;
    assert_eq!(fx.app(&reference).await.state, "more_information");

    fx.clock.set(doha(2026, 6, 25, 23, 59, 59));
    let report = fx.run().await;
    assert_eq!(report.dead, 0);
    let app = fx.app(&reference).await;
    assert_eq!(app.state, "lapsed");
    let history = fx.store.history(app.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!((last.action.as_str(), last.role.as_str(), last.actor_id), ("lapse", "system", None));
    assert_eq!(smtp.with_subject("إغلاق الطلب").len(), 1, "the firm is told once that it lapsed");

    // The lapse happened once; later passes find nothing more to do for the case.
    let sent = case_mail(&smtp).len();
    fx.clock.set(doha(2026, 7, 30, 0, 0, 0));
    fx.run().await;
    assert_eq!(case_mail(&smtp).len(), sent);
    assert_eq!(fx.store.history(app.id).await.unwrap().len(), history.len());
}

async fn smtp_down_then_back_every_message_once_and_a_dead_letter_retried(backend: Backend) {
    let port = free_port();
    let fx = fixture(backend, &format!("smtp://127.0.0.1:{port}")).await;
    // A second user at the firm whose mailbox refuses mail for now (451, temporary).
    user(&*fx.store, "busy@firm.test", "Busy desk", "applicant", "Lahore Soft", "en").await;
    let mut references = Vec::new();
    for i in 0..3 {
        references.push(submitted(&fx.engine, &fx.applicant, 10 + i).await);
    }

    // The server is down: three notifications fan out to six messages, which all wait.
    let report = fx.run().await;
    assert_eq!((report.done, report.retried, report.dead), (3, 6, 0), "{report:?}");
    let waiting = fx.jobs("message").await;
    assert_eq!(waiting.len(), 6);
    assert!(waiting.iter().all(|j| j.status == JobStatus::Pending && j.attempts == 1 && j.run_at > fx.engine.now()));
    assert!(waiting[0].last_error.as_deref().unwrap_or_default().contains("SMTP"), "{:?}", waiting[0].last_error);
    fx.clock.advance(Duration::hours(1));
    let report = fx.run().await;
    assert_eq!(report.retried, 6, "still down: tried again, waiting again");

    // The server comes back on the same port.
    let smtp = start_smtp_on(port);
    fx.clock.advance(Duration::hours(2));
    fx.run().await;
    let arrived = smtp.messages();
    assert_eq!(arrived.len(), 3, "{arrived:?}");
    assert_eq!(recipients(&arrived), set(&["visas@firm.test"]));
    let ids: BTreeSet<String> = arrived.iter().map(|m| m.message_id()).collect();
    assert_eq!(ids.len(), 3, "three different messages, none twice");

    // The busy mailbox keeps refusing: after the last try, dead letters.
    for _ in 0..12 {
        fx.clock.advance(Duration::hours(2));
        fx.run().await;
    }
    assert_eq!(smtp.messages().len(), 3, "the delivered ones were never sent again");
    let dead = fx.engine.dead_letters(100).await.unwrap();
    assert_eq!(dead.len(), 3);
    assert!(
        dead.iter()
            .all(|j| j.attempts == MESSAGE_ATTEMPTS && j.last_error.as_deref().unwrap_or_default().contains("451"))
    );

    // Only an administrator retries; once the mailbox accepts, each arrives once.
    let reviewer = fx.reviewer(0);
    assert!(matches!(fx.engine.retry_job(&reviewer, dead[0].id).await, Err(EngineError::Forbidden(_))));
    smtp.refuse_busy.store(false, Ordering::SeqCst);
    for j in &dead {
        let again = fx.engine.retry_job(&fx.admin, j.id).await.unwrap();
        assert_eq!((again.status.as_str(), again.attempts), ("pending", 0));
    }
    assert!(
        matches!(fx.engine.retry_job(&fx.admin, dead[0].id).await, Err(EngineError::NotFound(_))),
        "no longer dead"
    );
    fx.run().await;
    fx.clock.advance(Duration::hours(2));
    fx.run().await;
    let all = smtp.messages();
    assert_eq!(all.len(), 6);
    assert_eq!(recipients(&all), set(&["visas@firm.test", "busy@firm.test"]));
    assert_eq!(all.iter().map(|m| m.message_id()).collect::<BTreeSet<_>>().len(), 6);
    assert!(fx.engine.dead_letters(100).await.unwrap().is_empty());
}

// ---- webhooks ----

const SECRET: &str = "embassy-shared-secret";

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<(Result<(), VerifyError>, serde_json::Value, Option<String>)>>>,
    failing_hits: Arc<AtomicUsize>,
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// Checks the signature as a real receiver does: raw body bytes, its own clock.
async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let result = webhook::verify(
        SECRET,
        &header(&headers, TIMESTAMP_HEADER),
        &body,
        &header(&headers, SIGNATURE_HEADER),
        Utc::now(),
        Duration::seconds(300),
    );
    let ok = result.is_ok();
    let id = headers.get(DELIVERY_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    r.seen.lock().unwrap().push((result, serde_json::from_slice(&body).unwrap_or_default(), id));
    if ok { StatusCode::NO_CONTENT } else { StatusCode::UNAUTHORIZED }
}

async fn failing(State(r): State<Receiver>) -> (StatusCode, &'static str) {
    r.failing_hits.fetch_add(1, Ordering::SeqCst);
    (StatusCode::INTERNAL_SERVER_ERROR, "database is down")
}

async fn start_receiver() -> (String, Receiver) {
    let receiver = Receiver::default();
    let app = Router::new().route("/hook", post(hook)).route("/failing", post(failing)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, receiver)
}

fn webhook_job(key: &str, url: String, secret: &str, now: DateTime<Utc>) -> NewJob {
    // The payload a transition writes for a workflow's `webhooks` entry (transition.rs).
    NewJob {
        dedup_key: key.into(),
        application_id: None,
        payload: JobPayload::Webhook(WebhookJob {
            about: None,
            url,
            secret: Some(secret.into()),
            event: json!({"type": "application.transition", "reference": "QA-BV-2026-000123-K", "to": "visa_issued"}),
        }),
        run_at: now,
        max_attempts: MESSAGE_ATTEMPTS,
    }
}

async fn webhooks_signed_wrong_secret_detected_500_retried(backend: Backend) {
    let (base, receiver) = start_receiver().await;
    let fx = fixture(backend, "").await;
    let now = fx.engine.now();
    fx.store
        .enqueue_jobs(vec![
            webhook_job("webhook:1:v9:hook0", format!("{base}/hook"), SECRET, now),
            webhook_job("webhook:2:v9:hook0", format!("{base}/hook"), "an-old-secret", now),
            webhook_job("webhook:3:v9:hook0", format!("{base}/failing"), SECRET, now),
        ])
        .await
        .unwrap();
    let report = fx.run().await;
    assert_eq!((report.done, report.dead, report.retried), (1, 1, 1), "{report:?}");

    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let good = seen.iter().find(|s| s.2.as_deref() == Some("webhook:1:v9:hook0")).unwrap();
    assert_eq!(good.0, Ok(()));
    assert_eq!(good.1["reference"], "QA-BV-2026-000123-K");
    let bad = seen.iter().find(|s| s.2.as_deref() == Some("webhook:2:v9:hook0")).unwrap();
    assert_eq!(bad.0, Err(VerifyError::Mismatch), "the receiver detects the wrong secret");
    let dead = fx.engine.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].last_error.as_deref().unwrap_or_default().contains("401"), "{:?}", dead[0].last_error);

    // A 500 is retried with backoff until the last try.
    assert_eq!(receiver.failing_hits.load(Ordering::SeqCst), 1);
    for _ in 0..12 {
        fx.clock.advance(Duration::hours(2));
        fx.run().await;
    }
    assert_eq!(receiver.failing_hits.load(Ordering::SeqCst), MESSAGE_ATTEMPTS as usize);
    let job = fx
        .store
        .jobs(Some(JobStatus::Dead), 10)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.dedup_key == "webhook:3:v9:hook0")
        .unwrap();
    assert!(job.last_error.as_deref().unwrap_or_default().contains("500"));
    assert_eq!(receiver.seen.lock().unwrap().len(), 2, "the delivered webhook was not sent again");
}

async fn weekly_digest_runs_once_across_two_schedulers(backend: Backend) {
    let smtp = start_smtp();
    let fx = fixture(backend, &smtp.url()).await;
    let other = startup::build_scheduler(fx.engine.clone(), &fx.config).unwrap();
    assert_ne!(other.settings().worker_id, fx.scheduler.settings().worker_id);
    let overdue = submitted(&fx.engine, &fx.applicant, 3).await;

    // Saturday 6 June: the schedule is first seen and set for Sunday 08:00 in Doha.
    fx.clock.set(doha(2026, 6, 6, 10, 0, 0));
    let now = fx.engine.now();
    let (a, b) = tokio::join!(fx.scheduler.run_due_once(now), other.run_due_once(now));
    assert_eq!(a.unwrap().schedules_fired + b.unwrap().schedules_fired, 0);
    // Both shipped workflows have a weekly digest; this test follows the business visa's.
    let rows = fx.store.schedules().await.unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, vec!["it-business-visa/weekly digest", "market-access/weekly digest"]);
    assert!(rows.iter().all(|r| r.next_fire_at == doha(2026, 6, 7, 8, 0, 0)));

    for (sunday, expected) in [(7, 2), (14, 4)] {
        fx.clock.set(doha(2026, 6, sunday, 8, 0, 0));
        let now = fx.engine.now();
        let (a, b) = tokio::join!(fx.scheduler.run_due_once(now), other.run_due_once(now));
        assert_eq!(
            a.unwrap().schedules_fired + b.unwrap().schedules_fired,
            2,
            "one run per schedule, not per instance"
        );
        let (a, b) = tokio::join!(fx.scheduler.run_due_once(now), other.run_due_once(now));
        assert_eq!(a.unwrap().schedules_fired + b.unwrap().schedules_fired, 0);
        let digests = smtp.with_subject("Weekly summary: Business visa");
        assert_eq!(digests.len(), expected, "one per reviewer per Sunday");
        assert_eq!(recipients(&digests), set(&["r1@ministry.test", "r2@ministry.test"]));
        assert!(digests.last().unwrap().data.contains(overdue.as_str()), "the overdue case is listed");
    }
}

async fn holiday_added_at_run_time_moves_deadline_timers_and_is_audited(backend: Backend) {
    let smtp = start_smtp();
    let fx = fixture(backend, &smtp.url()).await;
    let reference = submitted(&fx.engine, &fx.applicant, 4).await;
    let date = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();

    let refused = fx.engine.add_holiday(&fx.reviewer(0), "qatar", date, "Extra day").await;
    assert!(matches!(refused, Err(EngineError::Forbidden(_))));

    // Monday 1 June becomes a holiday: the fifth working day is now Thursday 4 June.
    let change = fx.engine.add_holiday(&fx.admin, "qatar", date, "Extra day").await.unwrap();
    assert_eq!(change.moved.len(), 1);
    assert_eq!(change.moved[0].reference, reference);
    assert_eq!(change.moved[0].new_deadline, doha(2026, 6, 4, 23, 59, 59));
    let app = fx.app(&reference).await;
    assert_eq!(app.deadline_at, Some(doha(2026, 6, 4, 23, 59, 59)));
    let timers = fx.store.pending_timers(app.id).await.unwrap();
    let at = |kind: &str| timers.iter().find(|j| j.kind.as_str() == kind).map(|j| j.run_at);
    assert_eq!(at("reminder"), Some(doha(2026, 6, 3, 0, 0, 0)));
    assert_eq!(at("escalation"), Some(doha(2026, 6, 7, 23, 59, 59)), "Thu 4 + 1 working day = Sun 7");
    let history = fx.store.history(app.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.action, "deadline_recomputed");
    assert_eq!(last.data["holiday"], "Extra day");
    assert_eq!(
        fx.engine.verify_audit(Some(reference.as_str())).await.unwrap().map_err(|b| b.problem),
        Ok(history.len())
    );
    let listed = fx.engine.holidays("qatar").await.unwrap();
    assert!(listed.iter().any(|h| h.date == date && h.source == corridor_engine::holidays::HolidaySource::Added));

    // The reminder follows: not on Tuesday 2 June any more, but on Wednesday 3 June.
    fx.run().await;
    fx.clock.set(doha(2026, 6, 2, 12, 0, 0));
    fx.run().await;
    assert!(smtp.with_subject("Due soon").is_empty());
    fx.clock.set(doha(2026, 6, 3, 0, 0, 0));
    fx.run().await;
    assert_eq!(smtp.with_subject("Due soon").len(), 2);

    // Taking it away again brings the deadline back (the clock is now on 3 June).
    let back = fx.engine.remove_holiday(&fx.admin, "qatar", date).await.unwrap();
    assert_eq!(back.moved.len(), 1);
    assert_eq!(fx.app(&reference).await.deadline_at, Some(doha(2026, 6, 3, 23, 59, 59)));
    assert!(!fx.engine.holidays("qatar").await.unwrap().iter().any(|h| h.date == date));
    // A holiday of the calendar file can be taken away too, and is listed as such.
    let eid = chrono::NaiveDate::from_ymd_opt(2026, 5, 27).unwrap();
    fx.engine.remove_holiday(&fx.admin, "qatar", eid).await.unwrap();
    let listed = fx.engine.holidays("qatar").await.unwrap();
    assert!(listed.iter().any(|h| h.date == eid && h.source == corridor_engine::holidays::HolidaySource::Removed));
    assert!(!fx.engine.calendar_named("qatar").unwrap().is_holiday(eid));
}
