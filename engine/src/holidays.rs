//! Holidays changed at run time, and the deadlines they move.
//!
//! The calendar files (`config/calendars/*.toml`) are the base. The `holidays` table holds what
//! administrators changed while Corridor runs: a day added as a holiday, or a holiday of the
//! file taken away (`removed`, e.g. an Eid that fell a day later than printed). Every instance
//! merges the two at start and again on each scheduler poll ([`Engine::refresh_holidays`]),
//! so a change made on one instance reaches the others within a poll interval.
//!
//! Adding or removing a holiday moves the deadlines of open applications whose clock runs
//! across that day: the deadline keeps its number of working days from the day the
//! application entered its state, counted again on the changed calendar. Their pending
//! reminder, escalation and deadline jobs are re-timed, and each moved deadline is recorded in
//! that application's audit chain (action `deadline_recomputed`), all in one transaction per
//! application. Calendar-day and hour deadlines do not depend on holidays and stay.

use crate::role::Role;
use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use crate::actor::Actor;
use crate::calendar::{Calendar, Holiday};
use crate::error::{EngineError, EngineResult};
use crate::model::{ApplicationRecord, DeadlineChange, JobKind, NewAuditEvent, Reference, StoredHoliday};
use crate::service::Engine;
use crate::workflow::DurationUnit;

/// How far after a deadline a timer may still fire (an escalation "N working days after"):
/// applications whose deadline is this long before a changed day are not looked at.
const TIMER_REACH_DAYS: i64 = 60;
/// Applications read per page while recomputing.
const PAGE: i64 = 500;
/// Longest holiday name kept.
const MAX_NAME: usize = 200;

/// The loaded calendars: the files as read at start, and the same with the run-time changes
/// merged in (what deadlines are computed on).
///
/// The merged calendars are handed out as `&'static Calendar` so that callers keep the plain
/// borrow they had when calendars never changed. A rebuilt calendar is therefore leaked: it
/// happens only when the stored changes of that calendar differ from the last ones applied,
/// i.e. once per administrator change (a handful a year), never per poll.
#[derive(Debug, Default)]
pub struct Calendars {
    base: HashMap<String, Calendar>,
    merged: RwLock<HashMap<String, (Vec<StoredHoliday>, &'static Calendar)>>,
}

impl From<HashMap<String, Calendar>> for Calendars {
    fn from(base: HashMap<String, Calendar>) -> Self {
        let merged = base.iter().map(|(k, c)| (k.clone(), (Vec::new(), &*Box::leak(Box::new(c.clone()))))).collect();
        Calendars { base, merged: RwLock::new(merged) }
    }
}

impl Calendars {
    /// The calendar with its run-time holidays.
    pub fn get(&self, id: &str) -> Option<&'static Calendar> {
        self.merged.read().unwrap_or_else(|e| e.into_inner()).get(id).map(|(_, c)| *c)
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

    /// Rebuild the calendars whose stored changes differ from those applied last.
    pub fn apply(&self, stored: &[StoredHoliday]) {
        let mut merged = self.merged.write().unwrap_or_else(|e| e.into_inner());
        for (id, base) in &self.base {
            let mine: Vec<StoredHoliday> = stored.iter().filter(|h| &h.calendar == id).cloned().collect();
            if merged.get(id).is_some_and(|(applied, _)| *applied == mine) {
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
            merged.insert(id.clone(), (mine, Box::leak(Box::new(cal))));
        }
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

impl Engine {
    /// Merge the stored holiday changes into the calendars (at start, and on every scheduler
    /// poll so that other instances' changes arrive).
    pub async fn refresh_holidays(&self) -> EngineResult<()> {
        let stored = self.store.stored_holidays().await?;
        self.calendars.apply(&stored);
        Ok(())
    }

    fn calendar_by_id(&self, calendar: &str) -> EngineResult<&'static Calendar> {
        self.calendars.get(calendar).ok_or_else(|| {
            EngineError::NotFound(format!("calendar `{calendar}` (known: {})", self.calendars.ids().join(", ")))
        })
    }

    /// The holidays of a calendar as deadlines see them now, with those taken away at run time
    /// (source `removed`), by date.
    pub async fn holidays(&self, calendar: &str) -> EngineResult<Vec<HolidayEntry>> {
        self.refresh_holidays().await?;
        let merged = self.calendar_by_id(calendar)?;
        let stored: HashMap<NaiveDate, StoredHoliday> = self
            .store
            .stored_holidays()
            .await?
            .into_iter()
            .filter(|h| h.calendar == calendar)
            .map(|h| (h.date, h))
            .collect();
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
        self.store
            .put_holiday(&StoredHoliday {
                calendar: calendar.to_string(),
                date,
                name: name.to_string(),
                removed: false,
                changed_by: Some(actor.name.clone()),
                changed_at: Some(now),
            })
            .await?;
        self.refresh_holidays().await?;
        let after = self.calendar_by_id(calendar)?;
        tracing::info!(calendar, %date, name, by = %actor.name, "holiday added");
        let moved = self.recompute_deadlines(actor, calendar, date, name, true, before, after).await?;
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
        let in_file = self.calendars.file_calendar(calendar).is_some_and(|c| c.is_holiday(date));
        if in_file {
            self.store
                .put_holiday(&StoredHoliday {
                    calendar: calendar.to_string(),
                    date,
                    name: name.clone(),
                    removed: true,
                    changed_by: Some(actor.name.clone()),
                    changed_at: Some(self.now()),
                })
                .await?;
        } else {
            self.store.delete_holiday(calendar, date).await?;
        }
        self.refresh_holidays().await?;
        let after = self.calendar_by_id(calendar)?;
        tracing::info!(calendar, %date, name, by = %actor.name, "holiday removed");
        let moved = self.recompute_deadlines(actor, calendar, date, &name, false, before, after).await?;
        Ok(HolidayChange { calendar: calendar.into(), date, name, is_holiday: false, moved })
    }

    /// Move the working-day deadlines (and their timers) that `date` touches, from the
    /// calendar `before` to `after`.
    #[allow(clippy::too_many_arguments)]
    async fn recompute_deadlines(
        &self,
        actor: &Actor,
        calendar: &str,
        date: NaiveDate,
        name: &str,
        added: bool,
        before: &Calendar,
        after: &Calendar,
    ) -> EngineResult<Vec<MovedDeadline>> {
        let now = self.now();
        let from = before.start_of_day(date) - Duration::days(TIMER_REACH_DAYS);
        let entered_by = before.end_of_day(date);
        let mut moved = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.store.applications_with_deadline_from(from, entered_by, cursor, PAGE).await?;
            let Some(last) = page.last() else { break };
            cursor = last.deadline_at.map(|d| (d, last.id));
            for app in &page {
                if let Some(m) =
                    self.move_one_deadline(actor, calendar, date, name, added, before, after, app, now).await?
                {
                    moved.push(m);
                }
            }
            if (page.len() as i64) < PAGE {
                break;
            }
        }
        tracing::info!(calendar, %date, moved = moved.len(), "deadlines recomputed after a holiday change");
        Ok(moved)
    }

    #[allow(clippy::too_many_arguments)]
    async fn move_one_deadline(
        &self,
        actor: &Actor,
        calendar: &str,
        date: NaiveDate,
        name: &str,
        added: bool,
        before: &Calendar,
        after: &Calendar,
        app: &ApplicationRecord,
        now: DateTime<Utc>,
    ) -> EngineResult<Option<MovedDeadline>> {
        let Some(old_deadline) = app.deadline_at else {
            return Ok(None);
        };
        let Some(workflow) = self.workflows.get(&app.workflow_id, app.workflow_version as u32) else {
            return Ok(None);
        };
        if workflow.calendar != calendar {
            return Ok(None);
        }
        let Some(state) = workflow.state(&app.state) else {
            return Ok(None);
        };
        let Some(duration) = state.deadline else {
            return Ok(None);
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
            return Ok(None);
        }
        let timers_moved = timers.len();
        let written = self
            .store
            .move_deadline(DeadlineChange {
                application_id: app.id,
                state: app.state.clone(),
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
                        "calendar": calendar,
                        "date": date,
                        "holiday": name,
                        "change": if added { "holiday added" } else { "holiday removed" },
                        "old_deadline": old_deadline,
                        "deadline": new_deadline,
                    }),
                    at: now,
                },
                now,
            })
            .await?;
        Ok(written.then(|| MovedDeadline {
            reference: app.reference.clone(),
            state: app.state.clone(),
            old_deadline,
            new_deadline,
            timers_moved,
        }))
    }
}
