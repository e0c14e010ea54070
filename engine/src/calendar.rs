//! Working-day calendars: weekend days, public holidays and a time zone per country.
//!
//! # The deadline rule
//!
//! Deadlines are counted in the calendar's own time zone, in whole days; the day on which
//! the clock starts never counts:
//!
//! * **N working days** from an instant end at the *end of the Nth working day after the
//!   local day of that instant*. Submitted on a Thursday in Doha, "1 working day" ends at the
//!   end of Sunday (Friday and Saturday are the weekend); submitted on the Friday, it ends at
//!   the end of Sunday too. With N = 0 the deadline is the end of that same day, or of the next
//!   working day when the day itself is not one.
//! * **N days** (calendar days) end at the end of the local day N days after the day of the
//!   instant, weekends and holidays included.
//! * **N hours** are exact: the instant plus N hours.
//!
//! "End of the day" is the last second of the local day (23:59:59), or the end of business
//! when the calendar sets `business_hours` (e.g. 14:00). "Start of the day" is 00:00 local, or
//! the start of business.
//!
//! Going backwards (a reminder "1 working day before the deadline") gives the *start* of the
//! Nth working day before the deadline's day: for a deadline at the end of Sunday in Qatar,
//! one working day before is the start of Thursday, so the reviewer has Thursday and Sunday.
//! It is the inverse of the forward rule: `add_working_days(subtract_working_days(d, n), n)
//! == d` for a deadline `d` at the end of a working day.
//!
//! # Pausing the clock
//!
//! When an application waits on the applicant, [`Calendar::remaining`] records what was left in
//! the unit the deadline was given in (whole working days after the day the clock stopped, up
//! to and including the deadline's day; or calendar days; or seconds), serialisable to JSON.
//! [`Calendar::resume`] counts the same amount again from the day the clock restarts, with the
//! same rule, so pausing and resuming on the same day gives the same deadline back.
//!
//! # Files
//!
//! `config/calendars/NAME.toml`; the file stem is the calendar's id (`calendar: qatar` in a
//! workflow file):
//!
//! ```toml
//! name = "Qatar"                       # display name (default: the file stem)
//! timezone = "Asia/Qatar"              # IANA name
//! weekend = ["friday", "saturday"]     # full or three-letter English names
//! # business_hours = { start = "07:00", end = "14:00" }   # optional
//! holidays = [
//!   { date = 2026-12-18, name = "National Day" },
//!   { date = 2026-03-20, until = 2026-03-22, name = "Eid al-Fitr", approximate = true },
//! ]
//! ```
//!
//! Dates may be TOML dates or `"YYYY-MM-DD"` strings; `until` (inclusive, at most 31 days
//! after `date`) makes one entry per day. Holidays added at run time (kept by the store) are
//! merged with [`Calendar::with_holidays`] / [`Calendar::add_holiday`] and taken out with
//! [`Calendar::remove_holiday`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::Path;

use chrono::{
    DateTime, Datelike, Duration as ChronoDuration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::workflow::model::{Duration, DurationUnit};

/// No deadline is computed past this day; arithmetic that would go further stops here
/// instead of overflowing.
fn last_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX)
}

fn first_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// Longest range one holiday entry (`date` .. `until`) may cover.
const MAX_HOLIDAY_RANGE_DAYS: i64 = 31;

/// One day off. Several holidays may fall on the same date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: String,
    /// The date follows a moon sighting (Eid) or an announcement and may move by a day or two.
    #[serde(default)]
    pub approximate: bool,
}

impl Holiday {
    pub fn new(date: NaiveDate, name: impl Into<String>) -> Self {
        Holiday { date, name: name.into(), approximate: false }
    }

    pub fn approximate(date: NaiveDate, name: impl Into<String>) -> Self {
        Holiday { date, name: name.into(), approximate: true }
    }
}

/// Local working hours. Deadlines end at `end`; counting backwards lands on `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BusinessHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// What was left of a deadline when its clock paused, in the unit the deadline was set in.
/// Stored as JSON while the application waits, e.g. `{"unit":"working_days","days":3}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "unit", rename_all = "snake_case")]
pub enum Remaining {
    /// Working days after the day the clock stopped, up to and including the deadline's day.
    /// 0: the deadline was due at the end of that same day. Negative: already overdue by that
    /// many working days.
    WorkingDays { days: i64 },
    /// Calendar days from the day the clock stopped to the deadline's day (negative: overdue).
    Days { days: i64 },
    /// Exact time left (negative: overdue).
    Seconds { seconds: i64 },
}

/// A problem in a calendar file, shown as `path:line:column: error: message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarProblem {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for CalendarProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: error: {}", self.path, self.line, self.column, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found, one per line.
    #[error("{}", join_problems(.0))]
    Invalid(Vec<CalendarProblem>),
    /// A calendar built in code with impossible settings.
    #[error("{0}")]
    Rule(String),
}

impl CalendarError {
    /// The located problems (empty for I/O and rule errors).
    pub fn problems(&self) -> &[CalendarProblem] {
        match self {
            CalendarError::Invalid(p) => p,
            _ => &[],
        }
    }
}

fn join_problems(problems: &[CalendarProblem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// A working-day calendar: which days count, in which time zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    id: String,
    name: String,
    timezone: Tz,
    /// Indexed by `Weekday::num_days_from_monday`.
    weekend: [bool; 7],
    business_hours: Option<BusinessHours>,
    holidays: BTreeMap<NaiveDate, Vec<Holiday>>,
}

impl Calendar {
    /// A calendar without holidays. At least one day of the week must be a working day.
    pub fn new(id: impl Into<String>, timezone: Tz, weekend: &[Weekday]) -> Result<Self, CalendarError> {
        let mut days = [false; 7];
        for d in weekend {
            days[d.num_days_from_monday() as usize] = true;
        }
        if days.iter().all(|d| *d) {
            return Err(CalendarError::Rule("a calendar needs at least one working day in the week".into()));
        }
        let id = id.into();
        Ok(Calendar { name: id.clone(), id, timezone, weekend: days, business_hours: None, holidays: BTreeMap::new() })
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Deadlines end at `end` and backward counts land on `start` (local times), instead of
    /// the end and start of the calendar day.
    pub fn with_business_hours(mut self, start: NaiveTime, end: NaiveTime) -> Result<Self, CalendarError> {
        if start >= end {
            return Err(CalendarError::Rule(format!("business hours must start before they end ({start} - {end})")));
        }
        self.business_hours = Some(BusinessHours { start, end });
        Ok(self)
    }

    /// The calendar with extra holidays merged in (e.g. those an administrator added at run
    /// time). A holiday already present (same date and name) is not doubled.
    pub fn with_holidays(mut self, extra: impl IntoIterator<Item = Holiday>) -> Self {
        for h in extra {
            self.add_holiday(h);
        }
        self
    }

    /// Adds a holiday; returns false when the same date and name were already there.
    pub fn add_holiday(&mut self, holiday: Holiday) -> bool {
        let day = self.holidays.entry(holiday.date).or_default();
        if day.iter().any(|h| h.name == holiday.name) {
            return false;
        }
        day.push(holiday);
        true
    }

    /// Makes `date` a normal day again; returns the holidays that were on it.
    pub fn remove_holiday(&mut self, date: NaiveDate) -> Vec<Holiday> {
        self.holidays.remove(&date).unwrap_or_default()
    }

    /// The file stem (`qatar`), as workflow files name it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Display name (`Qatar`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    pub fn weekend(&self) -> Vec<Weekday> {
        WEEK.iter().copied().filter(|d| self.weekend[d.num_days_from_monday() as usize]).collect()
    }

    pub fn business_hours(&self) -> Option<BusinessHours> {
        self.business_hours
    }

    /// All holidays, by date.
    pub fn holidays(&self) -> impl Iterator<Item = &Holiday> {
        self.holidays.values().flatten()
    }

    /// The last day this calendar knows the holidays of: 31 December of the last year it
    /// lists any. Deadlines counted past it skip weekends only. None without holidays.
    pub fn holidays_known_until(&self) -> Option<NaiveDate> {
        let last = self.holidays().map(|h| h.date).max()?;
        NaiveDate::from_ymd_opt(last.year(), 12, 31)
    }

    /// The holidays on one date (empty when none).
    pub fn holidays_on(&self, date: NaiveDate) -> &[Holiday] {
        self.holidays.get(&date).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn is_weekend(&self, date: NaiveDate) -> bool {
        self.weekend[date.weekday().num_days_from_monday() as usize]
    }

    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains_key(&date)
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !self.is_weekend(date) && !self.is_holiday(date)
    }

    /// The local date of an instant in this calendar's zone.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        // chrono panics when the local time of an extreme instant is out of its range; this
        // does not.
        let utc = at.naive_utc();
        let offset = self.timezone.offset_from_utc_datetime(&utc).fix().local_minus_utc();
        utc.checked_add_signed(ChronoDuration::seconds(i64::from(offset))).unwrap_or(utc).date()
    }

    /// When `date` ends for deadlines: 23:59:59 local, or the end of business.
    pub fn end_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let time = match self.business_hours {
            Some(h) => h.end,
            None => NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN),
        };
        self.resolve_local(date.and_time(time), true)
    }

    /// When `date` starts for backward counts: 00:00 local, or the start of business.
    pub fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let time = self.business_hours.map(|h| h.start).unwrap_or(NaiveTime::MIN);
        self.resolve_local(date.and_time(time), false)
    }

    /// The Nth working day after `date` (N = 0: `date` itself if it is a working day, else the
    /// next one). Stops at 9999-12-31.
    pub fn nth_working_day_after(&self, date: NaiveDate, n: u32) -> NaiveDate {
        let last = last_date();
        let mut d = date.min(last);
        if n == 0 {
            while !self.is_working_day(d) {
                match d.succ_opt() {
                    Some(next) if next <= last => d = next,
                    _ => return last,
                }
            }
            return d;
        }
        let mut left = n;
        while left > 0 {
            match d.succ_opt() {
                Some(next) if next <= last => d = next,
                _ => return last,
            }
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// The Nth working day before `date` (N = 0: `date` itself if it is a working day, else
    /// the previous one). Stops at 0001-01-01.
    pub fn nth_working_day_before(&self, date: NaiveDate, n: u32) -> NaiveDate {
        let first = first_date();
        let mut d = date.max(first);
        if n == 0 {
            while !self.is_working_day(d) {
                match d.pred_opt() {
                    Some(prev) if prev >= first => d = prev,
                    _ => return first,
                }
            }
            return d;
        }
        let mut left = n;
        while left > 0 {
            match d.pred_opt() {
                Some(prev) if prev >= first => d = prev,
                _ => return first,
            }
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// Working days in `(from, to]`; negative (minus the working days in `(to, from]`) when
    /// `to` is before `from`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        let (lo, hi, sign) = if to >= from { (from, to, 1) } else { (to, from, -1) };
        // Whole weeks at once, then the rest day by day, then the holidays on weekdays.
        let days = (hi - lo).num_days();
        let per_week = self.weekend.iter().filter(|w| !**w).count() as i64;
        let mut count = (days / 7) * per_week;
        let mut weekday = lo.weekday();
        for _ in 0..days % 7 {
            weekday = weekday.succ();
            if !self.weekend[weekday.num_days_from_monday() as usize] {
                count += 1;
            }
        }
        if let Some(after) = lo.succ_opt().filter(|a| *a <= hi) {
            count -= self.holidays.range(after..=hi).filter(|(date, _)| !self.is_weekend(**date)).count() as i64;
        }
        sign * count
    }

    /// The deadline N working days from `from`: the end of the Nth working day after the
    /// local day of `from` (see the module documentation).
    pub fn add_working_days(&self, from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        self.end_of_day(self.nth_working_day_after(self.local_date(from), n))
    }

    /// N working days before `deadline`: the start of the Nth working day before the
    /// deadline's local day (N = 0: the start of the deadline's day, or of the working day
    /// before it when that day is not one).
    pub fn subtract_working_days(&self, deadline: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        self.start_of_day(self.nth_working_day_before(self.local_date(deadline), n))
    }

    /// `from` moved forward by a workflow duration, with the rule of the module documentation.
    pub fn add_duration(&self, from: DateTime<Utc>, duration: &Duration) -> DateTime<Utc> {
        match duration.unit {
            DurationUnit::WorkingDays => self.add_working_days(from, duration.amount),
            DurationUnit::Days => {
                let day = add_days(self.local_date(from), i64::from(duration.amount));
                self.end_of_day(day)
            }
            DurationUnit::Hours => add_seconds(from, i64::from(duration.amount) * 3600),
        }
    }

    /// `deadline` moved back by a workflow duration: for reminders ("1 working day before the
    /// deadline"). Working and calendar days land on the start of a day; hours are exact.
    pub fn subtract_duration(&self, deadline: DateTime<Utc>, duration: &Duration) -> DateTime<Utc> {
        match duration.unit {
            DurationUnit::WorkingDays => self.subtract_working_days(deadline, duration.amount),
            DurationUnit::Days => {
                let day = add_days(self.local_date(deadline), -i64::from(duration.amount));
                self.start_of_day(day)
            }
            DurationUnit::Hours => add_seconds(deadline, -i64::from(duration.amount) * 3600),
        }
    }

    /// What is left of `deadline` at `now`, counted in `unit` (the unit the deadline was set
    /// in), to keep while the clock is paused.
    pub fn remaining(&self, deadline: DateTime<Utc>, now: DateTime<Utc>, unit: DurationUnit) -> Remaining {
        match unit {
            DurationUnit::WorkingDays => Remaining::WorkingDays {
                days: self.working_days_between(self.local_date(now), self.local_date(deadline)),
            },
            DurationUnit::Days => {
                Remaining::Days { days: (self.local_date(deadline) - self.local_date(now)).num_days() }
            }
            DurationUnit::Hours => Remaining::Seconds { seconds: (deadline - now).num_seconds() },
        }
    }

    /// The new deadline when a paused clock restarts at `now` with `remaining` left.
    pub fn resume(&self, remaining: &Remaining, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = self.local_date(now);
        match *remaining {
            Remaining::WorkingDays { days } if days >= 0 => {
                self.end_of_day(self.nth_working_day_after(today, clamp_u32(days)))
            }
            Remaining::WorkingDays { days } => {
                // Overdue when paused: still overdue by as many working days.
                let base = self.nth_working_day_after(today, 0);
                self.end_of_day(self.nth_working_day_before(base, clamp_u32(days.saturating_neg())))
            }
            Remaining::Days { days } => self.end_of_day(add_days(today, days)),
            Remaining::Seconds { seconds } => add_seconds(now, seconds),
        }
    }

    /// A local wall-clock time as an instant. Times that occur twice (clocks going back) take
    /// the later occurrence for ends of days and the earlier for starts; times skipped by a
    /// clock change are shifted forward by the size of the gap.
    fn resolve_local(&self, local: NaiveDateTime, later: bool) -> DateTime<Utc> {
        match self.timezone.from_local_datetime(&local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, b) => {
                if later {
                    a.max(b).with_timezone(&Utc)
                } else {
                    a.min(b).with_timezone(&Utc)
                }
            }
            LocalResult::None => {
                // Use the offset in force a day earlier, i.e. before the jump.
                let probe = local.checked_sub_signed(ChronoDuration::days(1)).unwrap_or(local);
                let offset = self.timezone.offset_from_utc_datetime(&probe).fix().local_minus_utc();
                let utc = local.checked_sub_signed(ChronoDuration::seconds(i64::from(offset))).unwrap_or(local);
                utc.and_utc()
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // Loading

    /// Reads one calendar file; its stem is the id.
    pub fn load(path: &Path) -> Result<Calendar, CalendarError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CalendarError::Io { path: shown.clone(), source })?;
        let id = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        Calendar::from_toml_str(&id, &text, &shown)
    }

    /// Parses calendar TOML; `path` is only used in messages.
    pub fn from_toml_str(id: &str, text: &str, path: &str) -> Result<Calendar, CalendarError> {
        let mut problems = Vec::new();
        let cal = parse_calendar(id, text, path, &mut problems);
        match cal {
            Some(cal) if problems.is_empty() => Ok(cal),
            _ => Err(CalendarError::Invalid(problems)),
        }
    }
}

/// Every `*.toml` in `dir`, keyed by file stem. All problems of all files are reported at once.
pub fn load_calendars(dir: &Path) -> Result<HashMap<String, Calendar>, CalendarError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|source| CalendarError::Io { path: shown.clone(), source })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| CalendarError::Io { path: shown.clone(), source })?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) == Some("toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut calendars = HashMap::new();
    let mut problems = Vec::new();
    for path in paths {
        let display = path.display().to_string();
        let Some(id) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else {
            problems.push(CalendarProblem {
                path: display,
                line: 1,
                column: 1,
                message: "the file name is not valid UTF-8".into(),
            });
            continue;
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(source) => return Err(CalendarError::Io { path: display, source }),
        };
        if let Some(cal) = parse_calendar(&id, &text, &display, &mut problems) {
            calendars.insert(id, cal);
        }
    }
    if problems.is_empty() { Ok(calendars) } else { Err(CalendarError::Invalid(problems)) }
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    name: Option<Spanned<String>>,
    timezone: Spanned<String>,
    #[serde(default)]
    weekend: Vec<Spanned<String>>,
    business_hours: Option<Spanned<RawHours>>,
    #[serde(default)]
    holidays: Vec<Spanned<RawHoliday>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    start: Spanned<String>,
    end: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    date: Spanned<toml::Value>,
    until: Option<Spanned<toml::Value>>,
    name: Spanned<String>,
    #[serde(default)]
    approximate: bool,
}

const WEEK: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

/// `friday`, `Fri`, `FRIDAY`.
pub fn parse_weekday(text: &str) -> Option<Weekday> {
    let t = text.trim().to_ascii_lowercase();
    let names = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    names.iter().zip(WEEK).find(|(name, _)| t == **name || (t.len() == 3 && name.starts_with(&t))).map(|(_, d)| d)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut line = 1;
    let mut col = 1;
    for (i, ch) in text.char_indices() {
        if i >= offset {
            break;
        }
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

struct Ctx<'a> {
    text: &'a str,
    path: &'a str,
    problems: &'a mut Vec<CalendarProblem>,
}

impl Ctx<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.problems.push(CalendarProblem { path: self.path.to_string(), line, column, message: message.into() });
    }
}

fn parse_calendar(id: &str, text: &str, path: &str, problems: &mut Vec<CalendarProblem>) -> Option<Calendar> {
    let mut cx = Ctx { text, path, problems };
    let raw: RawCalendar = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().replace('\n', " ");
            cx.error(span, message);
            return None;
        }
    };
    let before = cx.problems.len();

    let timezone = match raw.timezone.get_ref().trim().parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            cx.error(
                raw.timezone.span(),
                format!("unknown time zone `{}`; use an IANA name such as `Asia/Qatar`", raw.timezone.get_ref()),
            );
            None
        }
    };

    let mut weekend = Vec::new();
    for day in &raw.weekend {
        match parse_weekday(day.get_ref()) {
            Some(d) if weekend.contains(&d) => cx.error(day.span(), format!("`{}` is listed twice", day.get_ref())),
            Some(d) => weekend.push(d),
            None => cx.error(day.span(), format!("unknown weekday `{}`; write e.g. `friday` or `fri`", day.get_ref())),
        }
    }
    if weekend.len() == 7 {
        cx.error(raw.weekend[0].span(), "every day of the week is a weekend day; a calendar needs a working day");
    }

    let mut hours = None;
    if let Some(h) = &raw.business_hours {
        let start = parse_time(&mut cx, &h.get_ref().start);
        let end = parse_time(&mut cx, &h.get_ref().end);
        if let (Some(start), Some(end)) = (start, end) {
            if start >= end {
                cx.error(h.span(), format!("business hours must start before they end ({start} - {end})"));
            } else {
                hours = Some((start, end));
            }
        }
    }

    let mut holidays = Vec::new();
    for entry in &raw.holidays {
        let h = entry.get_ref();
        let name = h.name.get_ref().trim();
        if name.is_empty() {
            cx.error(h.name.span(), "a holiday needs a name");
        }
        let Some(date) = parse_date(&mut cx, &h.date, "date") else { continue };
        let until = match &h.until {
            Some(u) => match parse_date(&mut cx, u, "until") {
                Some(u) if u < date => {
                    cx.error(u_span(&h.until), format!("`until` ({u}) is before `date` ({date})"));
                    continue;
                }
                Some(u) if (u - date).num_days() > MAX_HOLIDAY_RANGE_DAYS => {
                    cx.error(
                        u_span(&h.until),
                        format!("a holiday range may cover at most {} days", MAX_HOLIDAY_RANGE_DAYS + 1),
                    );
                    continue;
                }
                Some(u) => u,
                None => continue,
            },
            None => date,
        };
        let mut d = date;
        loop {
            holidays.push(Holiday { date: d, name: name.to_string(), approximate: h.approximate });
            match d.succ_opt() {
                Some(next) if next <= until => d = next,
                _ => break,
            }
        }
    }

    if cx.problems.len() > before {
        return None;
    }
    let mut cal = Calendar::new(id, timezone?, &weekend).ok()?;
    if let Some(name) = &raw.name {
        let n = name.get_ref().trim();
        if !n.is_empty() {
            cal = cal.with_name(n);
        }
    }
    if let Some((start, end)) = hours {
        cal = cal.with_business_hours(start, end).ok()?;
    }
    Some(cal.with_holidays(holidays))
}

fn u_span(v: &Option<Spanned<toml::Value>>) -> Range<usize> {
    v.as_ref().map(|s| s.span()).unwrap_or(0..0)
}

fn parse_time(cx: &mut Ctx, value: &Spanned<String>) -> Option<NaiveTime> {
    let t = value.get_ref().trim();
    match NaiveTime::parse_from_str(t, "%H:%M").or_else(|_| NaiveTime::parse_from_str(t, "%H:%M:%S")) {
        Ok(time) => Some(time),
        Err(_) => {
            cx.error(value.span(), format!("bad time `{t}`; write it as HH:MM, e.g. `07:00`"));
            None
        }
    }
}

fn parse_date(cx: &mut Ctx, value: &Spanned<toml::Value>, key: &str) -> Option<NaiveDate> {
    let bad = |shown: &str| format!("bad `{key}` {shown}; write a date like 2026-12-18");
    match value.get_ref() {
        toml::Value::String(s) => match NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                cx.error(value.span(), bad(&format!("`{s}`")));
                None
            }
        },
        toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
            (Some(d), None, None) => {
                match NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day)) {
                    Some(date) => Some(date),
                    None => {
                        cx.error(value.span(), bad(&format!("`{dt}`")));
                        None
                    }
                }
            }
            _ => {
                cx.error(value.span(), bad(&format!("`{dt}` (a date without a time is needed)")));
                None
            }
        },
        other => {
            cx.error(value.span(), bad(&format!("(found a {})", other.type_str())));
            None
        }
    }
}

fn clamp_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn add_days(date: NaiveDate, days: i64) -> NaiveDate {
    let target = ChronoDuration::try_days(days).and_then(|d| date.checked_add_signed(d));
    match target {
        Some(t) => t.clamp(first_date(), last_date()),
        None if days >= 0 => last_date(),
        None => first_date(),
    }
}

fn add_seconds(at: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    let far = |date: NaiveDate| date.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(at);
    match ChronoDuration::try_seconds(seconds).and_then(|d| at.checked_add_signed(d)) {
        Some(t) => t,
        None if seconds >= 0 => far(last_date()),
        None => far(first_date()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// An instant given as local wall time in `tz`.
    fn local(tz: Tz, y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, m, day, h, min, 0).single().unwrap().with_timezone(&Utc)
    }

    fn qatar() -> Calendar {
        Calendar::new("qatar", chrono_tz::Asia::Qatar, &[Weekday::Fri, Weekday::Sat])
            .unwrap()
            .with_holidays([Holiday::new(d(2026, 12, 18), "National Day"), Holiday::new(d(2026, 2, 10), "Sports Day")])
    }

    fn pakistan() -> Calendar {
        Calendar::new("pakistan", chrono_tz::Asia::Karachi, &[Weekday::Sat, Weekday::Sun]).unwrap()
    }

    fn wd(n: u32) -> Duration {
        Duration { amount: n, unit: DurationUnit::WorkingDays }
    }

    /// Local date and time of an instant in the calendar's zone.
    fn shown(cal: &Calendar, t: DateTime<Utc>) -> String {
        t.with_timezone(&cal.timezone()).format("%a %Y-%m-%d %H:%M:%S").to_string()
    }

    fn shipped_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/calendars")
    }

    #[test]
    fn weekends_differ_by_country() {
        let q = qatar();
        let p = pakistan();
        // 2026-03-05 is a Thursday.
        assert_eq!(d(2026, 3, 5).weekday(), Weekday::Thu);
        assert!(q.is_working_day(d(2026, 3, 5)));
        assert!(!q.is_working_day(d(2026, 3, 6))); // Fri
        assert!(!q.is_working_day(d(2026, 3, 7))); // Sat
        assert!(q.is_working_day(d(2026, 3, 8))); // Sun
        assert!(p.is_working_day(d(2026, 3, 6))); // Fri
        assert!(!p.is_working_day(d(2026, 3, 7))); // Sat
        assert!(!p.is_working_day(d(2026, 3, 8))); // Sun
        assert_eq!(q.weekend(), vec![Weekday::Fri, Weekday::Sat]);
    }

    #[test]
    fn working_days_skip_the_qatar_weekend_and_end_at_end_of_day() {
        let q = qatar();
        // Thursday 10:00 in Doha, 1 working day: the end of Sunday.
        let t = local(chrono_tz::Asia::Qatar, 2026, 3, 5, 10, 0);
        assert_eq!(shown(&q, q.add_working_days(t, 1)), "Sun 2026-03-08 23:59:59");
        // Submitted on the Friday or the Saturday: still the end of Sunday.
        let fri = local(chrono_tz::Asia::Qatar, 2026, 3, 6, 9, 0);
        let sat = local(chrono_tz::Asia::Qatar, 2026, 3, 7, 23, 30);
        assert_eq!(shown(&q, q.add_working_days(fri, 1)), "Sun 2026-03-08 23:59:59");
        assert_eq!(shown(&q, q.add_working_days(sat, 1)), "Sun 2026-03-08 23:59:59");
        // 5 working days from Thursday: Sun, Mon, Tue, Wed, Thu.
        assert_eq!(shown(&q, q.add_working_days(t, 5)), "Thu 2026-03-12 23:59:59");
        // 0: the same day when it is a working day, else the next one.
        assert_eq!(shown(&q, q.add_working_days(t, 0)), "Thu 2026-03-05 23:59:59");
        assert_eq!(shown(&q, q.add_working_days(fri, 0)), "Sun 2026-03-08 23:59:59");
        // The deadline is 20:59:59 UTC (Doha is UTC+3, no DST).
        assert_eq!(q.add_working_days(t, 1).to_rfc3339(), "2026-03-08T20:59:59+00:00");
    }

    #[test]
    fn the_local_day_decides_not_the_utc_day() {
        let q = qatar();
        // 22:30 UTC on Wednesday is 01:30 on Thursday in Doha: counting starts from Thursday.
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 22, 30, 0).unwrap();
        assert_eq!(q.local_date(t), d(2026, 3, 5));
        assert_eq!(shown(&q, q.add_working_days(t, 1)), "Sun 2026-03-08 23:59:59");
    }

    #[test]
    fn a_holiday_is_skipped() {
        let q = qatar();
        // Sports Day 2026 is Tuesday 10 February. From Monday 9 Feb, 1 working day: Wednesday.
        let mon = local(chrono_tz::Asia::Qatar, 2026, 2, 9, 8, 0);
        assert!(!q.is_working_day(d(2026, 2, 10)));
        assert_eq!(shown(&q, q.add_working_days(mon, 1)), "Wed 2026-02-11 23:59:59");
        // From Thursday 5 Feb, 3 working days: Sun 8, Mon 9, (Tue 10 holiday), Wed 11.
        let thu = local(chrono_tz::Asia::Qatar, 2026, 2, 5, 8, 0);
        assert_eq!(shown(&q, q.add_working_days(thu, 3)), "Wed 2026-02-11 23:59:59");
    }

    #[test]
    fn holidays_added_and_removed_at_run_time() {
        let mut q = qatar();
        let thu = local(chrono_tz::Asia::Qatar, 2026, 3, 5, 8, 0);
        assert_eq!(shown(&q, q.add_working_days(thu, 1)), "Sun 2026-03-08 23:59:59");
        assert!(q.add_holiday(Holiday::new(d(2026, 3, 8), "Extra day")));
        assert!(!q.add_holiday(Holiday::new(d(2026, 3, 8), "Extra day")), "same holiday twice is one");
        assert!(q.add_holiday(Holiday::new(d(2026, 3, 8), "Another name, same day")));
        assert_eq!(q.holidays_on(d(2026, 3, 8)).len(), 2);
        assert_eq!(shown(&q, q.add_working_days(thu, 1)), "Mon 2026-03-09 23:59:59");
        let removed = q.remove_holiday(d(2026, 3, 8));
        assert_eq!(removed.len(), 2);
        assert!(q.remove_holiday(d(2026, 3, 8)).is_empty());
        assert_eq!(shown(&q, q.add_working_days(thu, 1)), "Sun 2026-03-08 23:59:59");
        // Removing a shipped holiday makes it a working day again.
        q.remove_holiday(d(2026, 2, 10));
        assert!(q.is_working_day(d(2026, 2, 10)));
    }

    #[test]
    fn across_year_end_and_national_day() {
        let q = qatar();
        // Wed 16 Dec 2026, 5 working days: Thu 17, (Fri 18 National Day + weekend, Sat 19),
        // Sun 20, Mon 21, Tue 22, Wed 23.
        let t = local(chrono_tz::Asia::Qatar, 2026, 12, 16, 12, 0);
        assert_eq!(shown(&q, q.add_working_days(t, 5)), "Wed 2026-12-23 23:59:59");
        // Tue 29 Dec 2026, 3 working days: Wed 30, Thu 31, (Fri 1, Sat 2), Sun 3 Jan 2027.
        let t = local(chrono_tz::Asia::Qatar, 2026, 12, 29, 12, 0);
        assert_eq!(shown(&q, q.add_working_days(t, 3)), "Sun 2027-01-03 23:59:59");
        // Pakistan over the same year end: Wed 30, Thu 31, Fri 1 Jan.
        let p = pakistan();
        let t = local(chrono_tz::Asia::Karachi, 2026, 12, 29, 12, 0);
        assert_eq!(shown(&p, p.add_working_days(t, 3)), "Fri 2027-01-01 23:59:59");
    }

    #[test]
    fn reminders_count_backwards_to_the_start_of_a_day() {
        let q = qatar();
        let thu = local(chrono_tz::Asia::Qatar, 2026, 3, 5, 10, 0);
        let deadline = q.add_working_days(thu, 1); // end of Sunday
        // One working day before: the start of Thursday (the working day before Sunday).
        assert_eq!(shown(&q, q.subtract_working_days(deadline, 1)), "Thu 2026-03-05 00:00:00");
        assert_eq!(shown(&q, q.subtract_working_days(deadline, 0)), "Sun 2026-03-08 00:00:00");
        // Across a holiday: deadline end of Wed 11 Feb; 1 working day before is Monday 9
        // (Tuesday 10 is Sports Day).
        let deadline = q.end_of_day(d(2026, 2, 11));
        assert_eq!(shown(&q, q.subtract_working_days(deadline, 1)), "Mon 2026-02-09 00:00:00");
        assert_eq!(shown(&q, q.subtract_duration(deadline, &wd(2))), "Sun 2026-02-08 00:00:00");
        // The inverse of the forward rule.
        for day in 1..=60 {
            let start = q.start_of_day(d(2026, 11, 1) + ChronoDuration::days(day));
            for n in 0..8 {
                let deadline = q.add_working_days(start, n);
                let back = q.subtract_working_days(deadline, n);
                assert_eq!(q.add_working_days(back, n), deadline, "day {day} n {n}");
            }
        }
    }

    #[test]
    fn calendar_days_and_hours() {
        let q = qatar();
        let thu = local(chrono_tz::Asia::Qatar, 2026, 3, 5, 10, 0);
        let days = Duration { amount: 30, unit: DurationUnit::Days };
        assert_eq!(shown(&q, q.add_duration(thu, &days)), "Sat 2026-04-04 23:59:59");
        let hours = Duration { amount: 48, unit: DurationUnit::Hours };
        assert_eq!(q.add_duration(thu, &hours), thu + ChronoDuration::hours(48));
        assert_eq!(q.subtract_duration(thu, &hours), thu - ChronoDuration::hours(48));
        let one_day = Duration { amount: 1, unit: DurationUnit::Days };
        assert_eq!(shown(&q, q.subtract_duration(thu, &one_day)), "Wed 2026-03-04 00:00:00");
        assert_eq!(shown(&q, q.add_duration(thu, &wd(1))), "Sun 2026-03-08 23:59:59");
    }

    #[test]
    fn business_hours_move_the_ends_of_days() {
        let q = qatar()
            .with_business_hours(NaiveTime::from_hms_opt(7, 0, 0).unwrap(), NaiveTime::from_hms_opt(14, 0, 0).unwrap())
            .unwrap();
        let thu = local(chrono_tz::Asia::Qatar, 2026, 3, 5, 10, 0);
        let deadline = q.add_working_days(thu, 1);
        assert_eq!(shown(&q, deadline), "Sun 2026-03-08 14:00:00");
        assert_eq!(shown(&q, q.subtract_working_days(deadline, 1)), "Thu 2026-03-05 07:00:00");
        assert!(qatar().with_business_hours(NaiveTime::MIN, NaiveTime::MIN).is_err());
    }

    #[test]
    fn a_zone_with_daylight_saving() {
        // Europe/London: clocks go forward at 01:00 on Sun 29 Mar 2026 and back at 02:00 on
        // Sun 25 Oct 2026. A Monday-Friday calendar.
        let uk = Calendar::new("uk", chrono_tz::Europe::London, &[Weekday::Sat, Weekday::Sun]).unwrap();
        let fri = local(chrono_tz::Europe::London, 2026, 3, 27, 12, 0);
        let deadline = uk.add_working_days(fri, 1);
        assert_eq!(shown(&uk, deadline), "Mon 2026-03-30 23:59:59");
        assert_eq!(deadline.to_rfc3339(), "2026-03-30T22:59:59+00:00", "BST is UTC+1");
        let before = local(chrono_tz::Europe::London, 2026, 3, 26, 12, 0);
        assert_eq!(uk.add_working_days(before, 1).to_rfc3339(), "2026-03-27T23:59:59+00:00", "GMT");
        // Autumn: back to GMT.
        let fri = local(chrono_tz::Europe::London, 2026, 10, 23, 12, 0);
        assert_eq!(uk.add_working_days(fri, 1).to_rfc3339(), "2026-10-26T23:59:59+00:00");
        // 48 hours across the change are 48 real hours, whatever the wall clock says.
        let sat = local(chrono_tz::Europe::London, 2026, 3, 28, 12, 0);
        let h = uk.add_duration(sat, &Duration { amount: 48, unit: DurationUnit::Hours });
        assert_eq!(shown(&uk, h), "Mon 2026-03-30 13:00:00");
        // Business hours inside the skipped hour: 01:30 on 29 Mar does not exist; it moves
        // forward by the gap, to 02:30 BST.
        let odd = uk
            .clone()
            .with_business_hours(NaiveTime::from_hms_opt(1, 30, 0).unwrap(), NaiveTime::from_hms_opt(1, 45, 0).unwrap())
            .unwrap();
        let s = odd.start_of_day(d(2026, 3, 29));
        assert_eq!(s.to_rfc3339(), "2026-03-29T01:30:00+00:00");
        assert_eq!(s.with_timezone(&chrono_tz::Europe::London).hour(), 2);
        // 01:30 on 25 Oct happens twice: the end of the day takes the later one.
        let e = odd.end_of_day(d(2026, 10, 25));
        assert_eq!(e.to_rfc3339(), "2026-10-25T01:45:00+00:00");
        assert_eq!(odd.start_of_day(d(2026, 10, 25)).to_rfc3339(), "2026-10-25T00:30:00+00:00");
    }

    #[test]
    fn pause_and_resume_keeps_the_working_days_left() {
        let q = qatar();
        let tz = chrono_tz::Asia::Qatar;
        // Entered review on Wed 4 Mar 2026 with 5 working days: due end of Wed 11 Mar.
        let entered = local(tz, 2026, 3, 4, 9, 0);
        let deadline = q.add_working_days(entered, 5);
        assert_eq!(shown(&q, deadline), "Wed 2026-03-11 23:59:59");
        // Paused on Sunday 8 Mar: left are Mon 9, Tue 10, Wed 11.
        let paused = local(tz, 2026, 3, 8, 11, 0);
        let left = q.remaining(deadline, paused, DurationUnit::WorkingDays);
        assert_eq!(left, Remaining::WorkingDays { days: 3 });
        let json = serde_json::to_string(&left).unwrap();
        assert_eq!(json, r#"{"unit":"working_days","days":3}"#);
        let back: Remaining = serde_json::from_str(&json).unwrap();
        // The applicant answers on Thursday 19 Mar: 3 working days from then: Sun 22, Mon 23,
        // Tue 24.
        let resumed = local(tz, 2026, 3, 19, 16, 0);
        assert_eq!(shown(&q, q.resume(&back, resumed)), "Tue 2026-03-24 23:59:59");
        // Resumed on the weekend: counting starts after the weekend day the same way.
        let resumed = local(tz, 2026, 3, 20, 16, 0);
        assert_eq!(shown(&q, q.resume(&back, resumed)), "Tue 2026-03-24 23:59:59");
        // Pausing and resuming on the same day changes nothing.
        for h in [0, 9, 23] {
            let at = local(tz, 2026, 3, 8, h, 0);
            let r = q.remaining(deadline, at, DurationUnit::WorkingDays);
            assert_eq!(q.resume(&r, at), deadline);
        }
        // Paused on the last day: 0 left, the resumed clock ends with the day it restarts.
        let last = local(tz, 2026, 3, 11, 10, 0);
        let r = q.remaining(deadline, last, DurationUnit::WorkingDays);
        assert_eq!(r, Remaining::WorkingDays { days: 0 });
        assert_eq!(shown(&q, q.resume(&r, local(tz, 2026, 3, 13, 10, 0))), "Sun 2026-03-15 23:59:59");
        // Paused when already overdue by 2 working days: still overdue by 2 on resumption.
        let late = local(tz, 2026, 3, 15, 10, 0); // Sunday; Thu 12 and Sun 15 are past the deadline
        let r = q.remaining(deadline, late, DurationUnit::WorkingDays);
        assert_eq!(r, Remaining::WorkingDays { days: -2 });
        let resumed = local(tz, 2026, 3, 24, 10, 0); // Tuesday
        let again = q.resume(&r, resumed);
        assert_eq!(shown(&q, again), "Sun 2026-03-22 23:59:59");
        assert!(again < resumed);
    }

    #[test]
    fn pause_and_resume_across_a_holiday() {
        let q = qatar();
        let tz = chrono_tz::Asia::Qatar;
        // Deadline end of Thu 17 Dec 2026; paused Tue 15 Dec: Wed 16, Thu 17 are left.
        let deadline = q.end_of_day(d(2026, 12, 17));
        let r = q.remaining(deadline, local(tz, 2026, 12, 15, 10, 0), DurationUnit::WorkingDays);
        assert_eq!(r, Remaining::WorkingDays { days: 2 });
        // Resumed Thursday 17 Dec: Fri 18 (National Day, weekend), Sat 19, then Sun 20, Mon 21.
        assert_eq!(shown(&q, q.resume(&r, local(tz, 2026, 12, 17, 10, 0))), "Mon 2026-12-21 23:59:59");
    }

    #[test]
    fn pause_and_resume_in_calendar_units() {
        let q = qatar();
        let tz = chrono_tz::Asia::Qatar;
        let start = local(tz, 2026, 3, 1, 10, 0);
        let deadline = q.add_duration(start, &Duration { amount: 30, unit: DurationUnit::Days });
        let paused = local(tz, 2026, 3, 21, 10, 0);
        let r = q.remaining(deadline, paused, DurationUnit::Days);
        assert_eq!(r, Remaining::Days { days: 10 });
        assert_eq!(shown(&q, q.resume(&r, local(tz, 2026, 4, 1, 8, 0))), "Sat 2026-04-11 23:59:59");
        let deadline = start + ChronoDuration::hours(48);
        let r = q.remaining(deadline, start + ChronoDuration::hours(10), DurationUnit::Hours);
        assert_eq!(r, Remaining::Seconds { seconds: 38 * 3600 });
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"unit":"seconds","seconds":136800}"#);
        let now = local(tz, 2026, 5, 1, 0, 0);
        assert_eq!(q.resume(&r, now), now + ChronoDuration::hours(38));
    }

    #[test]
    fn working_days_between_counts_half_open() {
        let q = qatar();
        assert_eq!(q.working_days_between(d(2026, 3, 5), d(2026, 3, 5)), 0);
        assert_eq!(q.working_days_between(d(2026, 3, 5), d(2026, 3, 8)), 1);
        assert_eq!(q.working_days_between(d(2026, 3, 8), d(2026, 3, 5)), -1);
        // 2 to 31 March 2026: 30 days, 8 of them Fridays or Saturdays.
        assert_eq!(q.working_days_between(d(2026, 3, 1), d(2026, 3, 31)), 22);
        // The week-at-a-time count agrees with counting day by day, holidays included.
        let q =
            q.with_holidays([Holiday::new(d(2026, 12, 19), "on a Saturday"), Holiday::new(d(2027, 1, 3), "Sunday")]);
        let start = d(2026, 11, 20);
        for a in 0..50 {
            for len in 0..70 {
                let from = start + ChronoDuration::days(a);
                let to = from + ChronoDuration::days(len);
                let mut naive = 0;
                let mut x = from;
                while x < to {
                    x = x.succ_opt().unwrap();
                    if q.is_working_day(x) {
                        naive += 1;
                    }
                }
                assert_eq!(q.working_days_between(from, to), naive, "{from} {to}");
                assert_eq!(q.working_days_between(to, from), -naive, "{to} {from}");
            }
        }
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let q = qatar();
        let now = Utc.with_ymd_and_hms(2026, 3, 5, 10, 0, 0).unwrap();
        let far = q.add_working_days(now, u32::MAX);
        assert_eq!(q.local_date(far), d(9999, 12, 31));
        let _ = q.subtract_working_days(now, u32::MAX);
        let _ = q.add_duration(now, &Duration { amount: u32::MAX, unit: DurationUnit::Days });
        let _ = q.add_duration(now, &Duration { amount: u32::MAX, unit: DurationUnit::Hours });
        let _ = q.subtract_duration(now, &Duration { amount: u32::MAX, unit: DurationUnit::Days });
        let _ = q.subtract_duration(now, &Duration { amount: u32::MAX, unit: DurationUnit::Hours });
        for r in [
            Remaining::WorkingDays { days: i64::MAX },
            Remaining::WorkingDays { days: i64::MIN },
            Remaining::Days { days: i64::MAX },
            Remaining::Days { days: i64::MIN },
            Remaining::Seconds { seconds: i64::MAX },
            Remaining::Seconds { seconds: i64::MIN },
        ] {
            let _ = q.resume(&r, now);
        }
        let max = DateTime::<Utc>::MAX_UTC;
        let min = DateTime::<Utc>::MIN_UTC;
        let _ = q.add_working_days(max, 3);
        let _ = q.add_working_days(min, 3);
        let _ = q.subtract_working_days(min, 3);
        let _ = q.remaining(max, min, DurationUnit::Hours);
        let _ = q.remaining(max, min, DurationUnit::Days);
        assert!(Calendar::new("x", chrono_tz::UTC, &WEEK).is_err());
    }

    #[test]
    fn parses_a_calendar_file() {
        let text = r#"
name = "Testland"
timezone = "Asia/Karachi"
weekend = ["Sat", "sunday"]
business_hours = { start = "09:00", end = "17:00" }
holidays = [
  { date = 2026-02-05, name = "Kashmir Day" },
  { date = "2026-03-20", until = 2026-03-22, name = "Eid al-Fitr", approximate = true },
]
"#;
        let cal = Calendar::from_toml_str("testland", text, "testland.toml").unwrap();
        assert_eq!(cal.id(), "testland");
        assert_eq!(cal.name(), "Testland");
        assert_eq!(cal.timezone(), chrono_tz::Asia::Karachi);
        assert_eq!(cal.weekend(), vec![Weekday::Sat, Weekday::Sun]);
        assert_eq!(cal.holidays().count(), 4);
        assert!(cal.holidays_on(d(2026, 3, 21))[0].approximate);
        assert!(!cal.holidays_on(d(2026, 2, 5))[0].approximate);
        assert_eq!(cal.business_hours().unwrap().end, NaiveTime::from_hms_opt(17, 0, 0).unwrap());
    }

    fn problems(text: &str) -> Vec<String> {
        match Calendar::from_toml_str("x", text, "x.toml") {
            Ok(_) => vec![],
            Err(e) => e.problems().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn bad_values_are_named_with_line_and_column() {
        let p = problems("timezone = \"Asia/Nowhere\"\nweekend = [\"friday\", \"funday\"]\n");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("x.toml:1:12: error: unknown time zone `Asia/Nowhere`"), "{p:?}");
        assert!(p[1].starts_with("x.toml:2:22: error: unknown weekday `funday`"), "{p:?}");
        // 2026-02-30 is not a date: toml itself refuses it, with its position.
        let p = problems("timezone = \"UTC\"\nholidays = [\n  { date = 2026-02-30, name = \"x\" },\n]\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("x.toml:3:12: error: invalid date"), "{p:?}");
        let p = problems("timezone = \"UTC\"\nholidays = [\n  { date = \"2026-02-30\", name = \"x\" },\n]\n");
        assert!(p[0].starts_with("x.toml:3:12: error: bad `date` `2026-02-30`"), "{p:?}");
        let p = problems(
            "timezone = \"UTC\"\nholidays = [\n  { date = \"18 Dec\", name = \"y\" },\n  { date = 2026-12-18T10:00:00, name = \"z\" },\n  { date = 2026-12-20, until = 2026-12-19, name = \"w\" },\n  { date = 2026-12-01, name = \"  \" },\n]\n",
        );
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].starts_with("x.toml:3:12: error: bad `date` `18 Dec`"), "{p:?}");
        assert!(p[1].starts_with("x.toml:4:12: error: bad `date`"), "{p:?}");
        assert!(p[2].starts_with("x.toml:5:32: error: `until`"), "{p:?}");
        assert!(p[3].starts_with("x.toml:6:31: error: a holiday needs a name"), "{p:?}");
    }

    #[test]
    fn bad_toml_and_unknown_keys_are_located() {
        let p = problems("timezone = \"UTC\"\nweekend = [\"friday\"\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("x.toml:"), "{p:?}");
        let p = problems("timezone = \"UTC\"\nweekends = [\"friday\"]\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("x.toml:2:1: error: unknown field `weekends`"), "{p:?}");
        let p = problems("weekend = [\"friday\"]\n");
        assert!(p[0].contains("timezone"), "{p:?}");
        let p = problems("timezone = \"UTC\"\nweekend = [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\",\"sat\",\"sun\"]\n");
        assert!(p[0].contains("needs a working day"), "{p:?}");
        let p = problems("timezone = \"UTC\"\nweekend = [\"fri\", \"Friday\"]\n");
        assert!(p[0].starts_with("x.toml:2:19: error: `Friday` is listed twice"), "{p:?}");
        let p = problems("timezone = \"UTC\"\nbusiness_hours = { start = \"7am\", end = \"14:00\" }\n");
        assert!(p[0].starts_with("x.toml:2:28: error: bad time `7am`"), "{p:?}");
        let p = problems("timezone = \"UTC\"\nbusiness_hours = { start = \"15:00\", end = \"14:00\" }\n");
        assert!(p[0].contains("must start before"), "{p:?}");
        let p =
            problems("timezone = \"UTC\"\nholidays = [{ date = 2026-01-01, until = 2026-03-01, name = \"long\" }]\n");
        assert!(p[0].contains("at most 32 days"), "{p:?}");
        // Garbage never panics.
        for text in [
            "",
            "\u{0}",
            "[[[",
            "timezone = 5",
            "holidays = 3\ntimezone=\"UTC\"",
            "timezone = \"UTC\"\nholidays = [{ date = true, name = \"x\" }]",
        ] {
            let _ = Calendar::from_toml_str("x", text, "x.toml");
        }
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 3), (2, 1));
        assert_eq!(line_col("abc", 99), (1, 4));
    }

    #[test]
    fn load_calendars_reports_every_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.toml"), "timezone = \"Asia/Qatar\"\nweekend = [\"fri\", \"sat\"]\n")
            .unwrap();
        std::fs::write(dir.path().join("bad.toml"), "timezone = \"Mars/Olympus\"\n").unwrap();
        std::fs::write(dir.path().join("worse.toml"), "timezone = \n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let err = load_calendars(dir.path()).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems().len(), 2, "{text}");
        assert!(text.contains("bad.toml:1:12: error: unknown time zone"), "{text}");
        assert!(text.contains("worse.toml:1:"), "{text}");
        std::fs::remove_file(dir.path().join("bad.toml")).unwrap();
        std::fs::remove_file(dir.path().join("worse.toml")).unwrap();
        let cals = load_calendars(dir.path()).unwrap();
        assert_eq!(cals.keys().collect::<Vec<_>>(), vec!["good"]);
        assert!(matches!(load_calendars(&dir.path().join("missing")), Err(CalendarError::Io { .. })));
    }

    /// The second Tuesday of February (Qatar's National Sports Day).
    fn second_tuesday_of_february(year: i32) -> NaiveDate {
        NaiveDate::from_weekday_of_month_opt(year, 2, Weekday::Tue, 2).unwrap()
    }

    #[test]
    fn shipped_calendars_load_and_hold_the_fixed_holidays() {
        let cals = load_calendars(&shipped_dir()).unwrap();
        let q = &cals["qatar"];
        assert_eq!(q.timezone(), chrono_tz::Asia::Qatar);
        assert_eq!(q.weekend(), vec![Weekday::Fri, Weekday::Sat]);
        let p = &cals["pakistan"];
        assert_eq!(p.timezone(), chrono_tz::Asia::Karachi);
        assert_eq!(p.weekend(), vec![Weekday::Sat, Weekday::Sun]);
        for year in [2026, 2027, 2028] {
            let sports = second_tuesday_of_february(year);
            assert!(q.holidays_on(sports).iter().any(|h| h.name.contains("Sports")), "{year}");
            assert!(q.holidays_on(d(year, 12, 18)).iter().any(|h| h.name.contains("National Day")));
            for (m, day, name) in [
                (2, 5, "Kashmir"),
                (3, 23, "Pakistan Day"),
                (5, 1, "Labour"),
                (8, 14, "Independence"),
                (11, 9, "Iqbal"),
                (12, 25, "Quaid"),
            ] {
                assert!(
                    p.holidays_on(d(year, m, day)).iter().any(|h| h.name.contains(name)),
                    "{year}-{m}-{day} {name}"
                );
                // (Eid al-Fitr 2026 ends on Pakistan Day: only the fixed holiday is fixed.)
                assert!(
                    p.holidays_on(d(year, m, day)).iter().filter(|h| h.name.contains(name)).all(|h| !h.approximate),
                    "{name} is fixed"
                );
            }
            for cal in [q, p] {
                let fitr: Vec<_> =
                    cal.holidays().filter(|h| h.date.year() == year && h.name.contains("Fitr")).collect();
                let adha: Vec<_> =
                    cal.holidays().filter(|h| h.date.year() == year && h.name.contains("Adha")).collect();
                assert!(fitr.len() >= 3 && fitr.iter().all(|h| h.approximate), "{} {year}", cal.id());
                assert!(adha.len() >= 3 && adha.iter().all(|h| h.approximate), "{} {year}", cal.id());
            }
        }
        assert_eq!(second_tuesday_of_february(2026), d(2026, 2, 10));
        assert_eq!(second_tuesday_of_february(2027), d(2027, 2, 9));
        assert_eq!(second_tuesday_of_february(2028), d(2028, 2, 8));
    }

    /// Pakistan's 2026 Islamic holidays are those of the Cabinet Division's circular for 2026.
    #[test]
    fn pakistan_2026_follows_the_cabinet_division_circular() {
        let cals = load_calendars(&shipped_dir()).unwrap();
        let p = &cals["pakistan"];
        let days = |name: &str| -> Vec<NaiveDate> {
            p.holidays().filter(|h| h.date.year() == 2026 && h.name.contains(name)).map(|h| h.date).collect()
        };
        assert_eq!(days("Adha"), vec![d(2026, 5, 27), d(2026, 5, 28), d(2026, 5, 29)]);
        assert_eq!(days("Ashura"), vec![d(2026, 6, 24), d(2026, 6, 25)]);
        assert_eq!(days("Fitr"), vec![d(2026, 3, 21), d(2026, 3, 22), d(2026, 3, 23)]);
        assert_eq!(days("Milad"), vec![d(2026, 8, 25)]);
        // 2027 is Pakistan's own (a day after the Gulf), not a copy of Qatar's.
        let q = &cals["qatar"];
        assert!(p.is_holiday(d(2027, 5, 19)) && !q.is_holiday(d(2027, 5, 20)));
        assert!(p.is_holiday(d(2027, 6, 16)));
        assert_eq!(p.holidays_known_until(), Some(d(2028, 12, 31)));
        assert_eq!(q.holidays_known_until(), Some(d(2028, 12, 31)));
    }
}
