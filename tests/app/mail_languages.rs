//! E-mails in the recipient's language, through a real SMTP server on loopback, and the facts
//! of an event frozen in its job.
//!
//! Every notifying event of both shipped workflows (their `notify` rules, the reminders and
//! escalations of their stages and their weekly schedule) reaches users who read English,
//! Arabic and Urdu, each in their own language: subject, text and HTML (with `lang` and `dir`).
//! In Arabic and Urdu, the only Latin letters are the isolated fragments (references, names,
//! workflow texts not yet translated) and links alone on their line.
//!
//! Dates: Monday 25 May 2026, 10:00 in Doha. On the Qatar calendar (Friday-Saturday weekend,
//! Eid al-Adha 27-29 May) "5 working days" end on Wednesday 3 June.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use corridor::startup;
use corridor_engine::actor::Actor;
use corridor_engine::clock::ManualClock;
use corridor_engine::lang::{LANGS, Lang};
use corridor_engine::model::jobs::JobPayload;
use corridor_engine::scheduler::Scheduler;
use corridor_engine::service::Engine;
use corridor_engine::store::{Reference, Store, User};
use corridor_engine::transition::TransitionRequest;

use crate::support::smtp::{Received, Smtp, free_port, start_smtp, start_smtp_on};
use crate::support::{Backend, TestEnv, user};

fn doha(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap() - Duration::hours(3)
}

/// Roles that act or receive, each held by one user per language: `ar.embassy_officer@...`.
const STAFF: &[&str] =
    &["ministry_reviewer", "ministry_supervisor", "security_officer", "embassy_officer", "licensing_officer"];

struct Fx {
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    scheduler: Arc<Scheduler>,
    /// By language: the firm's user, and a user in each staff role.
    firm: BTreeMap<Lang, User>,
    staff: BTreeMap<(Lang, &'static str), User>,
    _env: TestEnv,
}

async fn fixture(backend: Backend, smtp_url: &str) -> Fx {
    let mut env = TestEnv::new(backend).await;
    env.config.mail.smtp_url = smtp_url.to_string();
    let config = env.config.clone();
    let clock = Arc::new(ManualClock::new());
    clock.set(doha(2026, 5, 25, 10, 0));
    let (engine, store) = env.start(clock.clone()).await;
    let scheduler = startup::build_scheduler(engine.clone(), &config).expect("scheduler");
    let mut firm = BTreeMap::new();
    let mut staff = BTreeMap::new();
    for &lang in LANGS {
        let code = lang.code();
        let u = user(&*store, &format!("{code}.firm@firm.test"), "Ayesha Khan", "applicant", "Lahore Soft", code).await;
        firm.insert(lang, u);
        for &role in STAFF {
            let email = format!("{code}.{role}@gov.test");
            let u = user(&*store, &email, "Noura Al-Kuwari", role, "Ministry", code).await;
            staff.insert((lang, role), u);
        }
    }
    Fx { engine, store, clock, scheduler, firm, staff, _env: env }
}

impl Fx {
    async fn run(&self) {
        self.scheduler.run_due_once(self.engine.now()).await.expect("scheduler pass");
    }

    fn firm(&self) -> Actor {
        Actor::from_user(&self.firm[&Lang::En])
    }

    fn staff(&self, lang: Lang, role: &'static str) -> Actor {
        Actor::from_user(&self.staff[&(lang, role)])
    }

    async fn submitted(&self, workflow_id: &str, variant: usize) -> Reference {
        let actor = self.firm();
        let workflow = self.engine.workflow(workflow_id).expect("workflow loaded");
        let fields = corridor::demo::example_fields(&workflow, variant);
        let view = self.engine.create_application(&actor, workflow_id, &fields).await.expect("create");
        let reference = view.record.reference.clone();
        for doc in workflow.documents.iter().filter(|d| d.required) {
            let (name, bytes) = corridor::demo::demo_document(doc);
            self.engine.upload_document(&actor, &reference, &doc.name, &name, bytes).await.expect("upload");
        }
        self.act(&actor, &reference, "submit", None, None).await;
        reference
    }

    async fn act(
        &self,
        actor: &Actor,
        reference: &Reference,
        action: &str,
        comment: Option<&str>,
        reason: Option<&str>,
    ) {
        let view = self.engine.application(actor, reference).await.expect("visible");
        // A refusal names the first reason code its transition declares.
        let transition = view.workflow.transition(&view.record.state, action);
        let reason_code = transition.filter(|_| reason.is_some()).and_then(|t| t.reason_codes.first().cloned());
        // A decision's own entries (the visa's validity, a licence number): their examples.
        let entries: serde_json::Map<String, serde_json::Value> = transition
            .map(|t| t.fields.iter().map(|f| (f.name.clone(), serde_json::Value::String(f.example.clone()))).collect())
            .unwrap_or_default();
        let request = TransitionRequest {
            action: action.into(),
            expected_version: view.record.version,
            comment: comment.map(str::to_string),
            reason: reason.map(str::to_string),
            reason_code,
            fields: (!entries.is_empty()).then_some(entries),
        };
        self.engine
            .transition(actor, reference, &request)
            .await
            .unwrap_or_else(|e| panic!("{action} on {reference}: {e}"));
    }

    /// Every message the SMTP server received, with the template and the user of the job that
    /// sent it (found by its Message-ID, which comes from the job's key).
    async fn delivered(&self, smtp: &Smtp) -> Vec<(String, User, Received)> {
        let by_id: BTreeMap<String, Received> = smtp.messages().into_iter().map(|m| (m.message_id(), m)).collect();
        let users: BTreeMap<_, _> = self.firm.values().chain(self.staff.values()).map(|u| (u.id, u.clone())).collect();
        let mut out = Vec::new();
        for job in self.store.jobs(None, 10_000).await.unwrap() {
            let Ok(JobPayload::Message(m)) = job.parse_payload() else { continue };
            let id = corridor_engine::mail::message_id_for(&job.dedup_key, "corridor.local");
            if let Some(received) = by_id.get(&id) {
                out.push((m.template.clone(), users[&m.user_id].clone(), received.clone()));
            }
        }
        assert_eq!(out.len(), by_id.len(), "every message received was sent by one message job");
        out
    }
}

/// Arabic script, and the letters only Urdu uses (ہ ی ے ک ٹ ں).
fn arabic_script(text: &str) -> bool {
    text.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
}

fn urdu_letters(text: &str) -> bool {
    text.chars().any(|c| matches!(c, '\u{06C1}' | '\u{06CC}' | '\u{06D2}' | '\u{06A9}' | '\u{0679}' | '\u{06BA}'))
}

/// Plain text without its isolated fragments (U+2066/2067/2068 … U+2069) and without the
/// lines that are a link alone.
fn outside_isolates(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '\u{2066}' | '\u{2067}' | '\u{2068}' => depth += 1,
            '\u{2069}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.lines().filter(|l| !l.trim().starts_with("http")).collect::<Vec<_>>().join("\n")
}

/// The visible text of an HTML part without `<bdi>` fragments, the head and the tags.
fn html_outside_bdi(html: &str) -> String {
    let mut rest = html.to_string();
    if let (Some(a), Some(b)) = (rest.find("<head>"), rest.find("</head>")) {
        rest.replace_range(a..b + "</head>".len(), "");
    }
    while let Some(a) = rest.find("<bdi") {
        let Some(b) = rest[a..].find("</bdi>") else { break };
        rest.replace_range(a..a + b + "</bdi>".len(), "");
    }
    let mut out = String::new();
    let mut in_tag = false;
    for c in rest.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    // Entities (&amp; ...) are not words.
    let entity = regex_free_entities(&out);
    entity.lines().filter(|l| !l.trim().starts_with("http")).collect::<Vec<_>>().join("\n")
}

fn regex_free_entities(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '&' {
            let mut word = String::new();
            while let Some(&n) = chars.peek() {
                chars.next();
                if n == ';' {
                    break;
                }
                word.push(n);
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn latin_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// The message is written in `lang` through and through.
fn assert_in_language(template: &str, lang: Lang, m: &Received) {
    let what = format!("{template} in {}", lang.code());
    let (subject, text, html) = (m.subject(), m.text(), m.html());
    assert_eq!(m.header("Content-Language").as_deref(), Some(lang.code()), "{what}");
    let root = format!("lang=\"{}\" dir=\"{}\"", lang.code(), lang.dir());
    assert!(html.contains(&format!("<html {root}>")), "{what}: the HTML root names its language and direction\n{html}");
    assert!(html.contains(&format!("<div {root}")), "{what}: so does its body block\n{html}");
    match lang {
        Lang::En => {
            for part in [&subject, &text] {
                assert!(!arabic_script(part), "{what}: {part}");
            }
            assert!(text.starts_with("Dear "), "{what}: {text}");
        }
        Lang::Ar | Lang::Ur => {
            for (name, part, outside) in [
                ("subject", &subject, outside_isolates(&subject)),
                ("text", &text, outside_isolates(&text)),
                ("HTML", &html, html_outside_bdi(&html)),
            ] {
                assert!(arabic_script(part), "{what}: the {name} is in Arabic script\n{part}");
                assert_eq!(
                    latin_words(&outside),
                    Vec::<String>::new(),
                    "{what}: no English in the {name} but isolated fragments\n{part}"
                );
                assert_eq!(
                    urdu_letters(&outside),
                    lang == Lang::Ur,
                    "{what}: the {name} is {}\n{part}",
                    lang.native_name()
                );
            }
        }
    }
}

on_both!(every_notifying_event_reaches_each_user_in_their_language, a_message_states_the_facts_of_its_event);

async fn every_notifying_event_reaches_each_user_in_their_language(backend: Backend) {
    let smtp = start_smtp();
    let fx = fixture(backend, &smtp.url()).await;
    let en = |role| fx.staff(Lang::En, role);
    let ar = |role| fx.staff(Lang::Ar, role);

    // The business visa: one case left to its reminder and escalation, one asked for
    // information and left to lapse, one refused, one withdrawn, one issued.
    let _late = fx.submitted("it-business-visa", 0).await;
    let asked = fx.submitted("it-business-visa", 1).await;
    fx.act(&en("ministry_reviewer"), &asked, "request_information", Some("Send the FBR tax certificate."), None).await;
    let refused = fx.submitted("it-business-visa", 2).await;
    fx.act(&en("ministry_reviewer"), &refused, "reject", None, Some("The firm is not registered with SECP.")).await;
    let withdrawn = fx.submitted("it-business-visa", 3).await;
    fx.act(&fx.firm(), &withdrawn, "withdraw", None, Some("The trip was cancelled.")).await;
    let issued = fx.submitted("it-business-visa", 4).await;
    fx.act(&en("ministry_reviewer"), &issued, "verify_firm", None, None).await;
    fx.act(&ar("ministry_reviewer"), &issued, "approve", None, None).await;
    fx.act(&en("security_officer"), &issued, "clear", None, None).await;
    fx.act(&en("embassy_officer"), &issued, "issue_visa", Some("Valid for a single entry."), None).await;

    // Market access, the same paths.
    let _late = fx.submitted("market-access", 5).await;
    let asked = fx.submitted("market-access", 6).await;
    fx.act(&en("ministry_reviewer"), &asked, "request_information", Some("Which sector?"), None).await;
    let refused = fx.submitted("market-access", 7).await;
    fx.act(&en("ministry_reviewer"), &refused, "find_ineligible", None, Some("Not an IT firm.")).await;
    let withdrawn = fx.submitted("market-access", 8).await;
    fx.act(&fx.firm(), &withdrawn, "withdraw", None, None).await;
    let granted = fx.submitted("market-access", 9).await;
    fx.act(&en("ministry_reviewer"), &granted, "confirm_eligibility", None, None).await;
    fx.act(&en("ministry_supervisor"), &granted, "issue_no_objection", None, None).await;
    fx.act(&en("licensing_officer"), &granted, "grant_licence", None, None).await;
    fx.run().await;

    // Reminders (Tuesday 2 June), escalations (the end of Thursday 4 June), the weekly
    // summaries (Sunday 7 June, 08:00), the information reminders (5 days before the end of
    // Wednesday 24 June) and the lapses.
    for at in [
        doha(2026, 6, 2, 0, 0),
        doha(2026, 6, 5, 9, 0),
        doha(2026, 6, 7, 8, 0),
        doha(2026, 6, 20, 9, 0),
        doha(2026, 6, 25, 9, 0),
    ] {
        fx.clock.set(at);
        fx.run().await;
    }

    let delivered = fx.delivered(&smtp).await;
    let mut seen = BTreeSet::new();
    for (template, user, message) in &delivered {
        let lang = Lang::from_code(&user.language).unwrap();
        assert_eq!(message.to, vec![user.email.clone()]);
        assert_in_language(template, lang, message);
        seen.insert((template.clone(), lang));
    }
    let templates = [
        "application_received",
        "information_requested",
        "information_reminder",
        "application_lapsed",
        "application_withdrawn",
        "visa_issued",
        "visa_refused",
        "licence_granted",
        "licence_refused",
        "deadline_near",
        "deadline_passed",
        "weekly_digest",
    ];
    let expected: BTreeSet<(String, Lang)> =
        templates.iter().flat_map(|t| LANGS.iter().map(move |l| (t.to_string(), *l))).collect();
    assert_eq!(seen, expected, "every notifying event, in every language");

    // What the Arabic and Urdu readers are told, in their words.
    let find = |template: &str, lang: Lang| {
        delivered
            .iter()
            .find(|(t, u, _)| t == template && u.language == lang.code())
            .map(|(_, _, m)| m.text())
            .unwrap_or_else(|| panic!("{template} in {}", lang.code()))
    };
    let near = find("deadline_near", Lang::Ar);
    assert!(near.contains("الأربعاء، 3 يونيو 2026 في 23:59 (توقيت قطر)"), "{near}");
    let near = find("deadline_near", Lang::Ur);
    assert!(near.contains("بدھ، 3 جون، 2026 23:59 (قطر وقت)"), "{near}");
    let refusal = find("visa_refused", Lang::Ar);
    // The declared reason in Arabic, then the reviewer's own words, isolated.
    let visa = fx.engine.workflow("it-business-visa").expect("workflow loaded");
    let code = visa.transition("ministry_review", "reject").and_then(|t| t.reason_codes.first()).expect("a code");
    let wording = visa.reason(code).expect("declared").label.get(Lang::Ar);
    assert!(
        refusal.contains(&format!(
            "سبب الرفض: \u{2068}{wording}\u{2069} (\u{2068}The firm is not registered with SECP.\u{2069})"
        )),
        "{refusal}"
    );
    let digest = find("weekly_digest", Lang::Ur);
    assert!(digest.contains("مقررہ تاریخ: بدھ، 3 جون، 2026"), "the overdue case is listed: {digest}");
}

async fn a_message_states_the_facts_of_its_event(backend: Backend) {
    // The mail server is down while the case moves on.
    let port = free_port();
    let fx = fixture(backend, &format!("smtp://127.0.0.1:{port}")).await;
    let reference = fx.submitted("it-business-visa", 0).await;
    // Tuesday 26 May: the reviewer asks for information; that stage's deadline is 30 days
    // later, the end of Thursday 25 June.
    fx.clock.set(doha(2026, 5, 26, 9, 0));
    let reviewer = fx.staff(Lang::En, "ministry_reviewer");
    fx.act(&reviewer, &reference, "request_information", Some("Send the FBR tax certificate."), None).await;
    fx.run().await;
    assert!(fx.store.jobs(None, 1000).await.unwrap().iter().any(|j| j.kind.as_str() == "message" && j.attempts == 1));

    let smtp = start_smtp_on(port);
    fx.clock.advance(Duration::hours(2));
    fx.run().await;
    let delivered = fx.delivered(&smtp).await;
    let to_firm = |template: &str, lang: Lang| {
        delivered
            .iter()
            .find(|(t, u, _)| t == template && u.id == fx.firm[&lang].id)
            .map(|(_, _, m)| m.text())
            .unwrap_or_else(|| panic!("{template} to the firm in {}", lang.code()))
    };
    // The receipt states the review stage and its deadline (5 working days from Monday 25
    // May), not the stage the case is in when it is sent; and when it was received.
    let visa = fx.engine.workflow("it-business-visa").expect("workflow loaded");
    for (lang, review_deadline, information_deadline, received) in [
        (
            Lang::En,
            "Wednesday, 3 June 2026 at 23:59",
            "Thursday, 25 June 2026 at 23:59",
            "Monday, 25 May 2026 at 10:00",
        ),
        (Lang::Ar, "الأربعاء، 3 يونيو 2026 في 23:59", "الخميس، 25 يونيو 2026 في 23:59", "الاثنين، 25 مايو 2026 في 10:00"),
        (Lang::Ur, "بدھ، 3 جون، 2026 23:59", "جمعرات، 25 جون، 2026 23:59", "پیر، 25 مئی، 2026 10:00"),
    ] {
        let receipt = to_firm("application_received", lang);
        assert!(receipt.contains(review_deadline), "{receipt}");
        assert!(receipt.contains(received), "{receipt}");
        assert!(!receipt.contains(information_deadline), "{receipt}");
        let stage = visa.state_label("ministry_review");
        assert!(receipt.contains(stage.get(lang)), "the stage its event opened: {receipt}");
        let request = to_firm("information_requested", lang);
        assert!(request.contains(information_deadline), "{request}");
        assert!(request.contains("Send the FBR tax certificate."), "{request}");
    }
}
