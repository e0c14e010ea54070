//! Wording a message for its recipient: the facts a `message` job carries (frozen when its
//! event happened, see [`crate::model::jobs::EmailJob`]) become template values in the
//! recipient's language when the message is sent.
//!
//! Nothing here reads the application: the stage, its deadline, the reason and the comment come
//! from the job. Labels (title, stage, status, action) are looked up in the workflow version the
//! job names, which never changes once loaded; [`describe_time`] words every date.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{Failure, Scheduler};
use crate::calendar::Calendar;
use crate::lang::Lang;
use crate::model::jobs::{ApplicationFacts, DigestFacts, MessageFacts};
use crate::workflow::Workflow;

// ---- workflow texts in the recipient's language ----

fn workflow_title(workflow: &Workflow, lang: Lang) -> String {
    workflow.title.get(lang).to_string()
}

fn state_label(workflow: &Workflow, state: &str, lang: Lang) -> String {
    workflow.state_label(state).get(lang).to_string()
}

fn public_label(workflow: &Workflow, state: &str, lang: Lang) -> Option<String> {
    workflow.state(state).map(|s| s.public.get(lang).to_string())
}

fn action_label(workflow: &Workflow, from_state: &str, action: &str, lang: Lang) -> Option<String> {
    workflow.transition(from_state, action).map(|t| t.label.get(lang).to_string())
}

/// The wording of a reason code the workflow version declares (the code itself if it no
/// longer does).
fn reason_code_label(workflow: &Workflow, code: &str, lang: Lang) -> String {
    workflow.reason(code).map(|r| r.label.get(lang).to_string()).unwrap_or_else(|| code.to_string())
}

/// A date and time as the recipient reads it, in the calendar's time zone (UTC without one),
/// through ICU4X: "Wednesday, 3 June 2026 at 23:59 (Qatar Time)". Every date a message states
/// goes through here.
pub fn describe_time(at: DateTime<Utc>, calendar: Option<&Calendar>, lang: Lang) -> String {
    let tz = calendar.map(|c| c.timezone()).unwrap_or(chrono_tz::UTC);
    crate::locale::format_deadline(lang, at, tz)
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
        assert_eq!(describe_time(at, Some(&qatar), Lang::En), "Wednesday, 3 June 2026 at 23:59 (Qatar Time)");
        assert_eq!(describe_time(at, Some(&qatar), Lang::Ar), "الأربعاء، 3 يونيو 2026 في 23:59 (توقيت قطر)");
        assert_eq!(describe_time(at, Some(&qatar), Lang::Ur), "بدھ، 3 جون، 2026 23:59 (قطر وقت)");
        assert_eq!(describe_time(at, None, Lang::En), "Wednesday, 3 June 2026 at 20:59 (GMT+00:00)");
    }
}
