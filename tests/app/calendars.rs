//! Working-day calendars as a user meets them: a 2028 deadline on the shipped Qatar
//! calendar, a holiday added with `corridor holiday add` while two instances serve the same
//! database, a deadline left on the old calendar and repaired, and the warning of a calendar
//! that runs out. Every scenario on both databases.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use corridor::startup;
use corridor_engine::actor::Actor;
use corridor_engine::calendar::{Calendar, Holiday};
use corridor_engine::clock::ManualClock;
use corridor_engine::model::{CalendarChange, StoredHoliday};
use corridor_engine::service::Engine;
use corridor_engine::store::{ApplicationRecord, Reference};

use crate::support::{Backend, TestApp, root, spawn, submitted};

on_both!(
    a_deadline_counted_from_3_february_2028_skips_sports_day,
    an_application_submitted_right_after_holiday_add_gets_the_new_deadline_on_every_instance,
    a_deadline_left_on_the_old_calendar_is_repaired_by_the_next_scheduler_pass,
    readyz_and_the_admin_index_warn_of_a_calendar_ending_within_180_days,
);

/// A local time in Doha (UTC+3, no daylight saving) as an instant.
fn doha(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap() - Duration::hours(3)
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn shipped_qatar() -> Calendar {
    Calendar::load(&root().join("config/calendars/qatar.toml")).expect("the shipped Qatar calendar")
}

/// The business-visa review deadline of an application submitted at `at`, on `calendar`.
fn review_deadline(engine: &Engine, calendar: &Calendar, at: DateTime<Utc>) -> DateTime<Utc> {
    let workflow = engine.workflow("it-business-visa").expect("workflow");
    let review = workflow.state("ministry_review").expect("the review state");
    calendar.add_duration(at, &review.deadline.expect("the review has a deadline"))
}

async fn record(engine: &Engine, reference: &Reference) -> ApplicationRecord {
    engine.application(&Actor::system(), reference).await.expect("visible").record
}

async fn applicant(app: &TestApp) -> Actor {
    app.actor(&app.user("visas@firm.test", "applicant", "Lahore Soft").await)
}

/// A second instance on the same database and configuration, with its own clock.
async fn second_instance(app: &TestApp, at: DateTime<Utc>) -> Arc<Engine> {
    let clock = Arc::new(ManualClock::new());
    clock.set(at);
    startup::build(&app.config, clock).await.expect("second instance").engine
}

async fn a_deadline_counted_from_3_february_2028_skips_sports_day(backend: Backend) {
    let app = spawn(backend).await;
    let firm = applicant(&app).await;
    // Thursday 3 February 2028, 10:00 in Doha. Friday and Saturday are the weekend; Tuesday 8
    // February is National Sports Day.
    app.clock.set(doha(2028, 2, 3, 10));
    let reference = submitted(&app.engine, &firm, 0).await;
    let app_record = record(&app.engine, &reference).await;
    assert_eq!(app_record.state, "ministry_review");
    let workflow = app.engine.workflow("it-business-visa").unwrap();
    let days = workflow.state("ministry_review").unwrap().deadline.unwrap().amount as usize;
    let working = [day(2028, 2, 6), day(2028, 2, 7), day(2028, 2, 9), day(2028, 2, 10), day(2028, 2, 13)];
    let last = working[days - 1];
    let expected = Utc.with_ymd_and_hms(2028, 2, last.day(), 23, 59, 59).unwrap() - Duration::hours(3);
    assert_eq!(app_record.deadline_at, Some(expected), "{days} working days from Thu 3 Feb 2028 skip Tue 8 Feb");
}

async fn an_application_submitted_right_after_holiday_add_gets_the_new_deadline_on_every_instance(backend: Backend) {
    let app = spawn(backend).await;
    let firm = applicant(&app).await;
    // Sunday 3 January 2027 in Doha, before the change.
    let at = doha(2027, 1, 3, 10);
    app.clock.set(at);
    let other = second_instance(&app, at).await;
    let before = submitted(&app.engine, &firm, 0).await;
    let old = review_deadline(&app.engine, &shipped_qatar(), at);
    assert_eq!(record(&app.engine, &before).await.deadline_at, Some(old));

    // An operator adds Tuesday 5 January 2027 with the command line, against the database the
    // two running instances share.
    let out = app.cli(&["holiday", "add", "--calendar", "qatar", "--date", "2027-01-05", "--name", "Extra day"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new =
        review_deadline(&app.engine, &shipped_qatar().with_holidays([Holiday::new(day(2027, 1, 5), "Extra day")]), at);
    assert_ne!(old, new, "the day added is inside the deadline's count");

    // The very next submission, on either instance, counts the new day; neither has run a
    // scheduler pass.
    let here = submitted(&app.engine, &firm, 1).await;
    let there = submitted(&other, &firm, 2).await;
    assert_eq!(record(&app.engine, &here).await.deadline_at, Some(new));
    assert_eq!(record(&other, &there).await.deadline_at, Some(new));
    // The one open before the change was moved by the command itself.
    assert_eq!(record(&app.engine, &before).await.deadline_at, Some(new));
}

async fn a_deadline_left_on_the_old_calendar_is_repaired_by_the_next_scheduler_pass(backend: Backend) {
    let app = spawn(backend).await;
    let firm = applicant(&app).await;
    let at = doha(2027, 1, 3, 10);
    app.clock.set(at);
    let other = second_instance(&app, at).await;
    let counted_old = submitted(&app.engine, &firm, 0).await;
    let old = review_deadline(&app.engine, &shipped_qatar(), at);
    assert_eq!(record(&app.engine, &counted_old).await.deadline_at, Some(old));

    // The change is committed, but the instance that made it stops before it re-times any
    // deadline: `counted_old` keeps the deadline counted on the old calendar.
    let date = day(2027, 1, 5);
    let row = StoredHoliday {
        calendar: "qatar".into(),
        date,
        name: "Extra day".into(),
        removed: false,
        changed_by: Some("operator".into()),
        changed_at: Some(at),
    };
    let change = CalendarChange {
        revision: 0,
        calendar: "qatar".into(),
        date,
        name: "Extra day".into(),
        is_holiday: true,
        changed_by: Some("operator".into()),
        changed_at: at,
    };
    let revision = app.store.change_holiday(&change, Some(&row)).await.expect("change written");
    assert_eq!(record(&app.engine, &counted_old).await.deadline_at, Some(old));
    assert!(record(&app.engine, &counted_old).await.calendar_revision < revision);

    // Any instance's next scheduler pass repairs it, with its reminder and an audit event.
    let scheduler = startup::build_scheduler(other.clone(), &app.config).expect("scheduler");
    scheduler.run_due_once(at).await.expect("scheduler pass");
    let new = review_deadline(&app.engine, &shipped_qatar().with_holidays([Holiday::new(date, "Extra day")]), at);
    assert_ne!(old, new);
    let repaired = record(&app.engine, &counted_old).await;
    assert_eq!(repaired.deadline_at, Some(new));
    assert_eq!(repaired.calendar_revision, revision);
    let timers = app.store.pending_timers(repaired.id).await.unwrap();
    let reminder = timers.iter().find(|j| j.kind.as_str() == "reminder").expect("a reminder");
    assert_eq!(
        reminder.run_at,
        shipped_qatar().with_holidays([Holiday::new(date, "Extra day")]).subtract_working_days(new, 1)
    );
    let history = app.store.history(repaired.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.action, "deadline_recomputed");
    assert_eq!(last.data["holiday"], "Extra day");
    assert_eq!(last.data["counted_with"], 0);
    // A second pass finds nothing left to repair.
    scheduler.run_due_once(at).await.expect("scheduler pass");
    assert_eq!(app.store.history(repaired.id).await.unwrap().len(), history.len());
    assert_eq!(
        app.engine.verify_audit(Some(counted_old.as_str())).await.unwrap().map_err(|b| b.problem),
        Ok(history.len())
    );
}

async fn readyz_and_the_admin_index_warn_of_a_calendar_ending_within_180_days(backend: Backend) {
    let app = spawn(backend).await;
    app.user("root@ministry.test", "admin", "Ministry").await;
    let readyz = |app: &TestApp| {
        let url = app.url("/readyz");
        async move {
            let r = reqwest::get(url).await.expect("GET /readyz");
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.expect("JSON body"))
        }
    };

    // Today (December 2026) the shipped calendars run to the end of 2028: no warning.
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["warnings"], serde_json::json!([]), "{body}");
    let admin = app.signed_in("root@ministry.test").await;
    let index = admin.get("/admin").await;
    assert_eq!(index.status, 200);
    assert!(!index.body.contains("calendar-warnings"), "{}", index.body);

    // 15 July 2028: Qatar's holidays end on 31 December 2028, within 180 days. Still ready.
    app.clock.set(doha(2028, 7, 15, 10));
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "a warning is not unreadiness");
    let warnings = body["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{body}");
    assert_eq!(warnings[0]["kind"], "calendar_ends_soon");
    assert_eq!(warnings[0]["calendar"], "qatar");
    assert_eq!(warnings[0]["holidays_until"], "2028-12-31");
    let index = admin.get("/admin").await;
    assert_eq!(index.status, 200);
    assert!(index.body.contains("id=\"calendar-warnings\""), "{}", index.body);
    assert!(index.body.contains("The calendar Qatar lists holidays only until"), "{}", index.body);
    let holidays = admin.get("/admin/holidays").await;
    assert!(holidays.body.contains("id=\"calendar-warnings\""), "{}", holidays.body);
}
