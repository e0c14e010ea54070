//! Wording a message for its recipient: the facts a `message` job carries (frozen when its
//! event happened, see [`crate::model::jobs::EmailJob`]) become template values in the
//! recipient's language when the message is sent.
//!
//! Nothing here reads the application: the stage, its deadline, the reason and the comment come
//! from the job. Labels (title, stage, status, action) are looked up in the workflow version the
//! job names, which never changes once loaded; [`describe_time`] words every date.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{Map, Value, json};

use super::{Failure, Scheduler};
use crate::calendar::Calendar;
use crate::lang::Lang;
use crate::model::jobs::{ApplicationFacts, DigestFacts, MessageFacts};
use crate::workflow::Workflow;

// ---- workflow texts in the recipient's language ----
//
// The workflow files give each text once, in English, today: these are the one place messages
// read them, so that per-language texts replace these bodies alone.

fn workflow_title(workflow: &Workflow, _lang: Lang) -> String {
    workflow.title.clone()
}

fn state_label(workflow: &Workflow, state: &str, _lang: Lang) -> String {
    workflow.state(state).map(|s| s.label.clone()).unwrap_or_else(|| state.to_string())
}

fn public_label(workflow: &Workflow, state: &str, _lang: Lang) -> Option<String> {
    workflow.state(state).map(|s| s.public.clone())
}

fn action_label(workflow: &Workflow, from_state: &str, action: &str, _lang: Lang) -> Option<String> {
    workflow.transition(from_state, action).map(|t| t.label.clone())
}

/// The wording of a reason code. The workflows declare no codes yet: the code itself.
fn reason_code_label(_workflow: &Workflow, code: &str, _lang: Lang) -> String {
    code.to_string()
}

// ---- dates ----

const WEEKDAYS_AR: [&str; 7] = ["الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"];
const WEEKDAYS_UR: [&str; 7] = ["پیر", "منگل", "بدھ", "جمعرات", "جمعہ", "ہفتہ", "اتوار"];
// The Gregorian month names used in Qatar's official correspondence.
const MONTHS_AR: [&str; 12] =
    ["يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"];
const MONTHS_UR: [&str; 12] =
    ["جنوری", "فروری", "مارچ", "اپریل", "مئی", "جون", "جولائی", "اگست", "ستمبر", "اکتوبر", "نومبر", "دسمبر"];

/// The time zone as the sentence names it, in Arabic and Urdu.
fn zone_words(zone: Option<&str>, lang: Lang) -> String {
    match (lang, zone) {
        (Lang::Ar, Some("Asia/Qatar")) => "بتوقيت الدوحة".into(),
        (Lang::Ar, Some("Asia/Karachi")) => "بتوقيت باكستان".into(),
        (Lang::Ar, Some(other)) => format!("بتوقيت \u{2066}{other}\u{2069}"),
        (Lang::Ar, None) => "بالتوقيت العالمي المنسق".into(),
        (Lang::Ur, Some("Asia/Qatar")) => "دوحہ کے وقت کے مطابق".into(),
        (Lang::Ur, Some("Asia/Karachi")) => "پاکستان کے وقت کے مطابق".into(),
        (Lang::Ur, Some(other)) => format!("\u{2066}{other}\u{2069} کے وقت کے مطابق"),
        (Lang::Ur, None) => "عالمی معیاری وقت کے مطابق".into(),
        (Lang::En, Some(other)) => format!("({other})"),
        (Lang::En, None) => "UTC".into(),
    }
}

/// A date and time as the recipient reads it, in the calendar's time zone: "Wednesday 3 June
/// 2026, 23:59 (Asia/Qatar)", "الأربعاء 3 يونيو 2026، الساعة 23:59 (بتوقيت الدوحة)",
/// "بدھ 3 جون 2026، 23:59 بجے (دوحہ کے وقت کے مطابق)". Every date a message states goes
/// through here.
pub fn describe_time(at: DateTime<Utc>, calendar: Option<&Calendar>, lang: Lang) -> String {
    let (local, zone) = match calendar {
        Some(c) => {
            let tz = c.timezone();
            (at.with_timezone(&tz).naive_local(), Some(tz.name()))
        }
        None => (at.naive_utc(), None),
    };
    let weekday = local.weekday().num_days_from_monday() as usize;
    let month = local.month0() as usize;
    let (day, year, hour, minute) = (local.day(), local.year(), local.hour(), local.minute());
    let zone = zone_words(zone, lang);
    match lang {
        Lang::En => format!("{}, {hour:02}:{minute:02} {zone}", local.format("%A %-d %B %Y")),
        Lang::Ar => {
            format!("{} {day} {} {year}، الساعة {hour:02}:{minute:02} ({zone})", WEEKDAYS_AR[weekday], MONTHS_AR[month])
        }
        Lang::Ur => {
            format!("{} {day} {} {year}، {hour:02}:{minute:02} بجے ({zone})", WEEKDAYS_UR[weekday], MONTHS_UR[month])
        }
    }
}

impl Scheduler {
    fn workflow_version(&self, id: &str, version: u32) -> Result<std::sync::Arc<Workflow>, Failure> {
        self.engine
            .workflows
            .get(id, version)
            .ok_or_else(|| Failure::permanent(format!("workflow {id} v{version} is not loaded")))
    }

    /// The template values of a message's facts, worded in `lang`.
    pub(super) fn word(&self, facts: &MessageFacts, lang: Lang) -> Result<Map<String, Value>, Failure> {
        match facts {
            MessageFacts::Application(f) => self.word_application(f, lang),
            MessageFacts::Digest(f) => self.word_digest(f, lang),
        }
    }

    fn word_application(&self, f: &ApplicationFacts, lang: Lang) -> Result<Map<String, Value>, Failure> {
        let workflow = self.workflow_version(&f.workflow, f.workflow_version)?;
        let calendar = self.engine.calendar(&workflow).ok();
        let mut c = Map::new();
        c.insert("reference".into(), json!(f.reference));
        c.insert("workflow_title".into(), json!(workflow_title(&workflow, lang)));
        c.insert("state".into(), json!(f.state));
        c.insert("state_label".into(), json!(state_label(&workflow, &f.state, lang)));
        c.insert("public_status".into(), json!(public_label(&workflow, &f.state, lang)));
        c.insert("deadline".into(), json!(f.deadline.map(|d| describe_time(d, calendar, lang))));
        if let Some(at) = f.at {
            c.insert("at".into(), json!(describe_time(at, calendar, lang)));
        }
        if let Some(action) = &f.action {
            c.insert("action".into(), json!(action));
            if let Some(label) = f.from_state.as_deref().and_then(|from| action_label(&workflow, from, action, lang)) {
                c.insert("action_label".into(), json!(label));
            }
        }
        for (key, v) in [("comment", &f.comment), ("reason", &f.reason)] {
            if let Some(v) = v {
                c.insert(key.into(), json!(v));
            }
        }
        if let Some(code) = &f.reason_code {
            c.insert("reason_code".into(), json!(code));
            c.insert("reason_label".into(), json!(reason_code_label(&workflow, code, lang)));
        }
        Ok(c)
    }

    fn word_digest(&self, f: &DigestFacts, lang: Lang) -> Result<Map<String, Value>, Failure> {
        let workflow = self.workflow_version(&f.workflow, f.workflow_version)?;
        let calendar = self.engine.calendar(&workflow).ok();
        let mut overdue = Vec::new();
        for case in &f.overdue {
            let version = self.workflow_version(&f.workflow, case.workflow_version)?;
            overdue.push(json!({
                "reference": case.reference,
                "state_label": state_label(&version, &case.state, lang),
                "deadline": case.deadline.map(|d| describe_time(d, calendar, lang)),
                "escalated": case.escalated,
                "link": format!("{}/cases/{}", self.settings.public_url, case.reference),
            }));
        }
        let mut c = Map::new();
        c.insert("workflow_title".into(), json!(workflow_title(&workflow, lang)));
        c.insert("schedule".into(), json!(f.schedule));
        c.insert("overdue_count".into(), json!(overdue.len()));
        c.insert("overdue".into(), Value::Array(overdue));
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_worded_in_the_recipients_language() {
        // The end of Wednesday 3 June 2026 in Doha.
        let at: DateTime<Utc> = "2026-06-03T20:59:59Z".parse().unwrap();
        let qatar =
            Calendar::new("qatar", chrono_tz::Asia::Qatar, &[chrono::Weekday::Fri, chrono::Weekday::Sat]).unwrap();
        assert_eq!(describe_time(at, Some(&qatar), Lang::En), "Wednesday 3 June 2026, 23:59 (Asia/Qatar)");
        assert_eq!(describe_time(at, Some(&qatar), Lang::Ar), "الأربعاء 3 يونيو 2026، الساعة 23:59 (بتوقيت الدوحة)");
        assert_eq!(describe_time(at, Some(&qatar), Lang::Ur), "بدھ 3 جون 2026، 23:59 بجے (دوحہ کے وقت کے مطابق)");
        assert_eq!(describe_time(at, None, Lang::En), "Wednesday 3 June 2026, 20:59 UTC");
        assert_eq!(describe_time(at, None, Lang::Ar), "الأربعاء 3 يونيو 2026، الساعة 20:59 (بالتوقيت العالمي المنسق)");
    }
}
