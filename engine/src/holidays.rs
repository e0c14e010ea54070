//! Holidays changed at run time, and the deadlines they move.
//!
//! The calendar files (`config/calendars/*.toml`) are the base. The `holidays` table holds what
//! administrators changed while Corridor runs: a day added as a holiday, or a holiday of the
//! file taken away (`removed`, e.g. an Eid that fell a day later than printed).
//!
//! # Revisions
//!
//! Each change is also a numbered row of `calendar_changes` (one sequence for all calendars),
//! written in the same transaction: the newest number is the *revision* of the run-time
//! holidays. The engine holds the merged calendars of one revision ([`Calendars`]). Every
//! transition reads the revision in the statement that reads the application, inside its
//! database transaction, and reloads the holidays in that transaction when the engine's are
//! older ([`Engine::counting_calendar`]): a change committed on any instance applies to the
//! very next transition on every instance. The application records the revision its deadline
//! was counted with (`applications.calendar_revision`).
//!
//! # Re-timing
//!
//! [`Engine::retime_deadlines`] recounts every open application counted with an older
//! revision, after each change and at the start of each scheduler pass (so a transition that
//! read the old revision just before a change committed on another instance, or a change whose
//! instance stopped before re-timing, is repaired by the next pass anywhere). The calendar it
//! was counted on is the current one with the newer changes undone; the deadline keeps its
//! number of working days from the day the application entered its state, counted again on the
//! current calendar. Its pending reminder, escalation and deadline jobs are re-timed, and each
//! moved deadline is recorded in that application's audit chain (action
//! `deadline_recomputed`), all in one transaction per application, compared on its version and
//! the revision read. A deadline that holds (calendar days, hours, or a change elsewhere) only
//! gets the new revision.

use crate::role::Role;
use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use crate::actor::Actor;
use crate::calendar::{Calendar, Holiday};
use crate::error::{EngineError, EngineResult};
use crate::model::{
    ApplicationRecord, CalendarChange, DeadlineChange, JobKind, NewAuditEvent, Reference, StoredHoliday, StoredHolidays,
};
use crate::service::Engine;
use crate::workflow::CALENDAR_WARNING_DAYS;
use crate::workflow::DurationUnit;

/// Applications read per page while recomputing.
const PAGE: i64 = 500;
/// Longest holiday name kept.
const MAX_NAME: usize = 200;

/// The loaded calendars: the files as read at start, and the same with the run-time changes
/// merged in (what deadlines are computed on), as of one revision of those changes.
///
/// The merged calendars are handed out as `&'static Calendar` so that callers keep the plain
/// borrow they had when calendars never changed. A rebuilt calendar is therefore leaked: it
/// happens only when the stored changes of that calendar differ from the last ones applied,
/// i.e. once per administrator change (a handful a year), never per poll.
#[derive(Debug, Default)]
pub struct Calendars {
    base: HashMap<String, Calendar>,
    merged: RwLock<Merged>,
}

#[derive(Debug, Default)]
struct Merged {
    /// The revision of the run-time holidays merged in; -1 before they were first read.
    revision: i64,
    calendars: HashMap<String, (Vec<StoredHoliday>, &'static Calendar)>,
}

impl From<HashMap<String, Calendar>> for Calendars {
    fn from(base: HashMap<String, Calendar>) -> Self {
        let calendars = base.iter().map(|(k, c)| (k.clone(), (Vec::new(), &*Box::leak(Box::new(c.clone()))))).collect();
        Calendars { base, merged: RwLock::new(Merged { revision: -1, calendars }) }
    }
}

impl Calendars {
    /// The calendar with its run-time holidays.
    pub fn get(&self, id: &str) -> Option<&'static Calendar> {
        self.merged.read().unwrap_or_else(|e| e.into_inner()).calendars.get(id).map(|(_, c)| *c)
    }

    /// The calendar and the revision it is at, when that revision is `revision` or newer.
    fn at_least(&self, id: &str, revision: i64) -> Option<(i64, &'static Calendar)> {
        let merged = self.merged.read().unwrap_or_else(|e| e.into_inner());
        if merged.revision < revision {
            return None;
        }
        merged.calendars.get(id).map(|(_, c)| (merged.revision, *c))
    }

    /// Every calendar and the revision they are at, read together.
    fn snapshot(&self) -> (i64, HashMap<String, &'static Calendar>) {
        let merged = self.merged.read().unwrap_or_else(|e| e.into_inner());
        (merged.revision, merged.calendars.iter().map(|(k, (_, c))| (k.clone(), *c)).collect())
    }

    /// The calendar as its file describes it.
    pub fn file_calendar(&self, id: &str) -> Option<&Calendar> {
        self.base.get(id)
    }

    /// Calendar ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.base.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Rebuild the calendars whose stored changes differ from those applied last. Holidays
    /// older than those applied (read before another task's newer read) are ignored.
    pub fn apply(&self, stored: &StoredHolidays) {
        let mut merged = self.merged.write().unwrap_or_else(|e| e.into_inner());
        if stored.revision < merged.revision {
            return;
        }
        for (id, base) in &self.base {
            let mine: Vec<StoredHoliday> = stored.holidays.iter().filter(|h| &h.calendar == id).cloned().collect();
            if merged.calendars.get(id).is_some_and(|(applied, _)| *applied == mine) {
                continue;
            }
            let mut cal = base.clone();
            for h in &mine {
                if h.removed {
                    cal.remove_holiday(h.date);
                } else {
                    cal.add_holiday(Holiday::new(h.date, h.name.clone()));
                }
            }
            merged.calendars.insert(id.clone(), (mine, Box::leak(Box::new(cal))));
        }
        merged.revision = stored.revision;
    }

    /// `current` (calendar `id` at revision `at`) as it was at the older revision `then`: the
    /// changes of that calendar numbered after `then` undone, newest first. A day made a
    /// holiday was a working day before (adding refuses a holiday); a day made a working day
    /// had its file's holidays, or else the one named.
    fn as_at(&self, id: &str, current: &Calendar, changes: &[CalendarChange], then: i64, at: i64) -> Calendar {
        let mut cal = current.clone();
        for c in changes.iter().rev().filter(|c| c.calendar == id && c.revision > then && c.revision <= at) {
            if c.is_holiday {
                cal.remove_holiday(c.date);
            } else {
                let file = self.base.get(id).map(|b| b.holidays_on(c.date).to_vec()).unwrap_or_default();
                if file.is_empty() {
                    cal.add_holiday(Holiday::new(c.date, c.name.clone()));
                }
                for h in file {
                    cal.add_holiday(h);
                }
            }
        }
        cal
    }
}

/// Where a holiday in the effective list comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HolidaySource {
    /// Listed in the calendar file.
    File,
    /// Added by an administrator at run time.
    Added,
    /// Listed in the file but made a working day at run time (shown so it can be restored).
    Removed,
}

/// One line of a calendar's holiday list (admin page, `corridor holiday list`).
#[derive(Debug, Clone, Serialize)]
pub struct HolidayEntry {
    pub date: NaiveDate,
    pub name: String,
    pub approximate: bool,
    pub source: HolidaySource,
    pub changed_by: Option<String>,
    pub changed_at: Option<DateTime<Utc>>,
}

/// A deadline that a holiday change moved.
#[derive(Debug, Clone, Serialize)]
pub struct MovedDeadline {
    pub reference: Reference,
    pub state: String,
    pub old_deadline: DateTime<Utc>,
    pub new_deadline: DateTime<Utc>,
    /// Pending timers re-timed (reminders, escalation, automatic action).
    pub timers_moved: usize,
}

/// What an add or remove did.
#[derive(Debug, Clone, Serialize)]
pub struct HolidayChange {
    pub calendar: String,
    pub date: NaiveDate,
    pub name: String,
    /// True: the day became a holiday; false: a working day.
    pub is_holiday: bool,
    pub moved: Vec<MovedDeadline>,
}

fn may_change_holidays(actor: &Actor) -> EngineResult<()> {
    if actor.is_admin() || actor.role == Role::SYSTEM {
        Ok(())
    } else {
        Err(EngineError::Forbidden("only administrators change the holiday calendars".into()))
    }
}

fn sensible_date(date: NaiveDate) -> EngineResult<()> {
    use chrono::Datelike;
    if (2000..=2200).contains(&date.year()) {
        Ok(())
    } else {
        Err(EngineError::BadRequest(format!("{date} is not a date Corridor keeps holidays for (years 2000 to 2200)")))
    }
}

/// A calendar in use whose holidays end soon: deadlines counted past its last listed year
/// skip weekends only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarWarning {
    /// The calendar's id (`qatar`), as workflow files name it.
    pub calendar: String,
    /// Its display name (`Qatar`).
    pub name: String,
    /// The last day it knows the holidays of; `None` when it lists none.
    pub holidays_until: Option<NaiveDate>,
}

/// What the re-timing pass did with one application.
enum Retimed {
    Moved(MovedDeadline),
    /// The deadline holds on the newer calendar: only the revision is recorded.
    Holds,
    /// The application changed meanwhile; the transition that changed it counted anew.
    Raced,
}

impl Engine {
    /// Merge the stored holiday changes into the calendars (at start, and on every scheduler
    /// poll). Transitions do not wait for this: each reads the revision itself
    /// ([`Engine::counting_calendar`]).
    pub async fn refresh_holidays(&self) -> EngineResult<()> {
        let stored = self.store.stored_holidays().await?;
        self.calendars.apply(&stored);
        Ok(())
    }

    /// The calendar a transition counts its deadline on, and the revision it is at: the one
    /// held when it is at least as new as the revision the transition read in its own
    /// database transaction, else the holidays read again inside that transaction. So a
    /// holiday change committed on any instance applies to the very next transition on every
    /// instance, at the cost of one primary-key read per transition.
    pub(crate) async fn counting_calendar(
        &self,
        calendar: &str,
        open: &mut dyn crate::store::OpenTransition,
    ) -> EngineResult<(i64, &'static Calendar)> {
        let needed = open.context().calendar_revision;
        if let Some(found) = self.calendars.at_least(calendar, needed) {
            return Ok(found);
        }
        let stored = open.stored_holidays().await?;
        self.calendars.apply(&stored);
        self.calendars
            .at_least(calendar, needed)
            .ok_or_else(|| EngineError::Internal(format!("calendar `{calendar}` is not loaded")))
    }

    fn calendar_by_id(&self, calendar: &str) -> EngineResult<&'static Calendar> {
        self.calendars.get(calendar).ok_or_else(|| {
            EngineError::NotFound(format!("calendar `{calendar}` (known: {})", self.calendars.ids().join(", ")))
        })
    }

    /// The calendars in use (see [`Engine::calendars_in_use`]) whose holidays end within
    /// [`CALENDAR_WARNING_DAYS`] of `now` (the calendar's own day), or that list none: the
    /// same rule as `corridor check`, on the calendars as deadlines see them now.
    pub fn calendar_warnings(&self, now: DateTime<Utc>) -> Vec<CalendarWarning> {
        self.calendars_in_use()
            .into_iter()
            .filter_map(|id| {
                let cal = self.calendars.get(&id)?;
                let horizon = cal.local_date(now) + Duration::days(CALENDAR_WARNING_DAYS);
                let until = cal.holidays_known_until();
                until.is_none_or(|u| u < horizon).then(|| CalendarWarning {
                    calendar: id.clone(),
                    name: cal.name().to_string(),
                    holidays_until: until,
                })
            })
            .collect()
    }

    /// The holidays of a calendar as deadlines see them now, with those taken away at run time
    /// (source `removed`), by date.
    pub async fn holidays(&self, calendar: &str) -> EngineResult<Vec<HolidayEntry>> {
        let stored = self.store.stored_holidays().await?;
        self.calendars.apply(&stored);
        let merged = self.calendar_by_id(calendar)?;
        let stored: HashMap<NaiveDate, StoredHoliday> =
            stored.holidays.into_iter().filter(|h| h.calendar == calendar).map(|h| (h.date, h)).collect();
        let mut out: Vec<HolidayEntry> = merged
            .holidays()
            .map(|h| {
                let row = stored.get(&h.date).filter(|s| !s.removed && s.name == h.name);
                HolidayEntry {
                    date: h.date,
                    name: h.name.clone(),
                    approximate: h.approximate,
                    source: if row.is_some() { HolidaySource::Added } else { HolidaySource::File },
                    changed_by: row.and_then(|r| r.changed_by.clone()),
                    changed_at: row.and_then(|r| r.changed_at),
                }
            })
            .collect();
        out.extend(stored.values().filter(|s| s.removed).map(|s| HolidayEntry {
            date: s.date,
            name: s.name.clone(),
            approximate: false,
            source: HolidaySource::Removed,
            changed_by: s.changed_by.clone(),
            changed_at: s.changed_at,
        }));
        out.sort_by(|a, b| (a.date, &a.name).cmp(&(b.date, &b.name)));
        Ok(out)
    }

    /// Make `date` a holiday in `calendar`, then move the deadlines it touches.
    pub async fn add_holiday(
        &self,
        actor: &Actor,
        calendar: &str,
        date: NaiveDate,
        name: &str,
    ) -> EngineResult<HolidayChange> {
        may_change_holidays(actor)?;
        sensible_date(date)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(EngineError::BadRequest(format!("give the holiday a name of 1 to {MAX_NAME} characters")));
        }
        self.refresh_holidays().await?;
        let before = self.calendar_by_id(calendar)?;
        if let Some(h) = before.holidays_on(date).first() {
            return Err(EngineError::BadRequest(format!("{date} is already a holiday in {calendar}: {}", h.name)));
        }
        let now = self.now();
        let row = StoredHoliday {
            calendar: calendar.to_string(),
            date,
            name: name.to_string(),
            removed: false,
            changed_by: Some(actor.name.clone()),
            changed_at: Some(now),
        };
        let revision = self.store.change_holiday(&self.change_of(actor, &row, true, now), Some(&row)).await?;
        tracing::info!(calendar, %date, name, revision, by = %actor.name, "holiday added");
        let moved = self.retime_deadlines(actor).await?;
        Ok(HolidayChange { calendar: calendar.into(), date, name: name.into(), is_holiday: true, moved })
    }

    /// Make `date` a working day again in `calendar` (whether the holiday came from the file
    /// or was added at run time), then move the deadlines it touches.
    pub async fn remove_holiday(&self, actor: &Actor, calendar: &str, date: NaiveDate) -> EngineResult<HolidayChange> {
        may_change_holidays(actor)?;
        self.refresh_holidays().await?;
        let before = self.calendar_by_id(calendar)?;
        let Some(name) = before.holidays_on(date).first().map(|h| h.name.clone()) else {
            return Err(EngineError::NotFound(format!("holiday on {date} in {calendar}")));
        };
        let now = self.now();
        let row = StoredHoliday {
            calendar: calendar.to_string(),
            date,
            name: name.clone(),
            removed: true,
            changed_by: Some(actor.name.clone()),
            changed_at: Some(now),
        };
        // A file's holiday is kept as taken away; one added at run time is simply deleted.
        let in_file = self.calendars.file_calendar(calendar).is_some_and(|c| c.is_holiday(date));
        let change = self.change_of(actor, &row, false, now);
        let revision = self.store.change_holiday(&change, in_file.then_some(&row)).await?;
        tracing::info!(calendar, %date, name, revision, by = %actor.name, "holiday removed");
        let moved = self.retime_deadlines(actor).await?;
        Ok(HolidayChange { calendar: calendar.into(), date, name, is_holiday: false, moved })
    }

    fn change_of(&self, actor: &Actor, row: &StoredHoliday, is_holiday: bool, now: DateTime<Utc>) -> CalendarChange {
        CalendarChange {
            revision: 0,
            calendar: row.calendar.clone(),
            date: row.date,
            name: row.name.clone(),
            is_holiday,
            changed_by: Some(actor.name.clone()),
            changed_at: now,
        }
    }

    /// The re-timing pass: every open application whose deadline was counted on an older
    /// revision of the run-time holidays is counted again on the newest, with its timers, an
    /// audit event where the deadline moved, and the revision recorded either way. Run after
    /// each holiday change and on every scheduler poll (where, with nothing to do, it is one
    /// indexed read), so a deadline counted on the old calendar while a change was being made
    /// on another instance is repaired too.
    pub async fn retime_deadlines(&self, actor: &Actor) -> EngineResult<Vec<MovedDeadline>> {
        self.refresh_holidays().await?;
        let (revision, calendars) = self.calendars.snapshot();
        let now = self.now();
        let mut moved = Vec::new();
        let mut changes: Option<Vec<CalendarChange>> = None;
        let mut as_at: HashMap<(String, i64), Calendar> = HashMap::new();
        let mut cursor = None;
        loop {
            let page = self.store.applications_counted_before(revision, cursor, PAGE).await?;
            let (Some(first), Some(last)) = (page.first(), page.last()) else { break };
            cursor = Some((last.calendar_revision, last.id));
            // Pages come in revision order: the first one holds the oldest.
            if changes.is_none() {
                changes = Some(self.store.calendar_changes_after(first.calendar_revision).await?);
            }
            let changes = changes.as_deref().unwrap_or_default();
            let mut holding = Vec::new();
            for app in &page {
                let retimed = match self.workflows.get(&app.workflow_id, app.workflow_version as u32) {
                    Some(workflow) => match calendars.get(&workflow.calendar) {
                        Some(after) => {
                            let key = (workflow.calendar.clone(), app.calendar_revision);
                            let before = as_at.entry(key).or_insert_with(|| {
                                self.calendars.as_at(
                                    &workflow.calendar,
                                    after,
                                    changes,
                                    app.calendar_revision,
                                    revision,
                                )
                            });
                            let applied: Vec<&CalendarChange> = changes
                                .iter()
                                .filter(|c| {
                                    c.calendar == workflow.calendar
                                        && c.revision > app.calendar_revision
                                        && c.revision <= revision
                                })
                                .collect();
                            self.retime_one(actor, &workflow, &applied, before, after, app, revision, now).await?
                        }
                        None => Retimed::Holds,
                    },
                    None => Retimed::Holds,
                };
                match retimed {
                    Retimed::Moved(m) => moved.push(m),
                    Retimed::Holds => holding.push((app.id, app.version, app.calendar_revision)),
                    Retimed::Raced => {}
                }
            }
            self.store.mark_counted(&holding, revision).await?;
            if (page.len() as i64) < PAGE {
                break;
            }
        }
        if !moved.is_empty() {
            tracing::info!(revision, moved = moved.len(), "deadlines recounted on the changed calendars");
        }
        Ok(moved)
    }

    #[allow(clippy::too_many_arguments)]
    async fn retime_one(
        &self,
        actor: &Actor,
        workflow: &crate::workflow::Workflow,
        applied: &[&CalendarChange],
        before: &Calendar,
        after: &Calendar,
        app: &ApplicationRecord,
        revision: i64,
        now: DateTime<Utc>,
    ) -> EngineResult<Retimed> {
        let (Some(old_deadline), Some(newest)) = (app.deadline_at, applied.last()) else {
            return Ok(Retimed::Holds);
        };
        let Some(state) = workflow.state(&app.state) else {
            return Ok(Retimed::Holds);
        };
        let Some(duration) = state.deadline else {
            return Ok(Retimed::Holds);
        };
        // Working days from the day the state was entered (or the clock resumed) to the
        // deadline's day, on the old calendar; the same count on the new one.
        let new_deadline = if duration.unit == DurationUnit::WorkingDays {
            let entered = before.local_date(app.state_entered_at);
            let days = before.working_days_between(entered, before.local_date(old_deadline));
            if days < 0 {
                old_deadline
            } else {
                let day = after.nth_working_day_after(
                    after.local_date(app.state_entered_at),
                    u32::try_from(days).unwrap_or(u32::MAX),
                );
                crate::audit::storable_time(after.end_of_day(day))
            }
        } else {
            old_deadline
        };
        let mut timers = Vec::new();
        for job in self.store.pending_timers(app.id).await? {
            let run_at = match job.kind {
                JobKind::Deadline => Some(new_deadline),
                JobKind::Reminder => job
                    .dedup_key
                    .rsplit(':')
                    .next()
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| state.remind.get(i))
                    .map(|r| after.subtract_duration(new_deadline, &r.before_deadline).max(now)),
                JobKind::Escalation => {
                    state.escalate.as_ref().map(|e| after.add_duration(new_deadline, &e.after_deadline))
                }
                _ => None,
            };
            let Some(run_at) = run_at.map(crate::audit::storable_time) else {
                continue;
            };
            if run_at == job.run_at && new_deadline == old_deadline {
                continue;
            }
            // A payload that does not fit its kind is left as it is: its job fails when it runs.
            let payload = match job.parse_payload() {
                Ok(mut p) => {
                    p.set_deadline(new_deadline);
                    p.to_stored()
                }
                Err(_) => job.payload.clone(),
            };
            timers.push((job.id, run_at, payload));
        }
        if new_deadline == old_deadline && timers.is_empty() {
            return Ok(Retimed::Holds);
        }
        let change_word = |c: &CalendarChange| if c.is_holiday { "holiday added" } else { "holiday removed" };
        let timers_moved = timers.len();
        let written = self
            .store
            .move_deadline(DeadlineChange {
                application_id: app.id,
                state: app.state.clone(),
                version: app.version,
                counted_with: app.calendar_revision,
                revision,
                old_deadline: Some(old_deadline),
                new_deadline,
                timers,
                audit: NewAuditEvent {
                    actor_id: actor.user_id,
                    actor_name: actor.name.clone(),
                    role: actor.role.clone(),
                    organisation_id: actor.organisation_id,
                    action: "deadline_recomputed".into(),
                    from_state: Some(app.state.clone()),
                    to_state: Some(app.state.clone()),
                    comment: None,
                    reason: None,
                    data: json!({
                        "calendar": workflow.calendar,
                        "date": newest.date,
                        "holiday": newest.name,
                        "change": change_word(newest),
                        "changes": applied.iter().map(|c| json!({
                            "revision": c.revision,
                            "date": c.date,
                            "holiday": c.name,
                            "change": change_word(c),
                        })).collect::<Vec<_>>(),
                        "counted_with": app.calendar_revision,
                        "revision": revision,
                        "old_deadline": old_deadline,
                        "deadline": new_deadline,
                    }),
                    at: now,
                },
                now,
            })
            .await?;
        Ok(if written {
            Retimed::Moved(MovedDeadline {
                reference: app.reference.clone(),
                state: app.state.clone(),
                old_deadline,
                new_deadline,
                timers_moved,
            })
        } else {
            Retimed::Raced
        })
    }
}
