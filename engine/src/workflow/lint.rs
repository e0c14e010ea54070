//! The meaning of a workflow: references between states, roles and actions; one initial
//! state; every state reachable and able to finish; deadlines where someone must act; the
//! templates and calendar it names exist. Works on the decoded model plus the positions kept
//! by the parser, and reports every problem at the node at fault.

use crate::role::Role;
use std::collections::{HashMap, HashSet, VecDeque};

use super::graph::{duration_text, edges};
use super::model::*;
use super::parse::SourceMap;
use super::{LintContext, Problems};

pub(crate) fn check(w: &Workflow, m: &SourceMap, ctx: &LintContext, p: &mut Problems) {
    check_calendar(w, m, ctx, p);
    check_states(w, m, p);
    let references_ok = check_transitions(w, m, p);
    check_rules(w, m, p);
    check_readers(w, m, p);
    // With a part missing or a transition pointing nowhere, reachability would only repeat
    // that problem as a list of "unreachable" states.
    if !m.incomplete && references_ok {
        check_graph(w, m, p);
    }
    check_templates(w, m, ctx, p);
}

fn known_states(w: &Workflow) -> Vec<&str> {
    w.states.iter().map(|s| s.name.as_str()).collect()
}

/// "; did you mean `x`?" when a known name is close, else the list of known names.
fn hint(word: &str, known: &[&str], what: &str) -> String {
    let close = known.iter().find(|k| {
        let (a, b) = (word.len() as i64, k.len() as i64);
        (a - b).abs() <= 2 && (k.contains(word) || word.contains(*k) || near(word, k))
    });
    match close {
        Some(k) => format!("; did you mean `{k}`?"),
        None if known.is_empty() => format!("; no {what}s are declared"),
        None => format!("; the {what}s are: {}", known.join(", ")),
    }
}

/// At most two single-character edits apart.
fn near(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()] <= 2
}

fn check_role(w: &Workflow, role: &str, pos: Pos, context: &str, allow_system: bool, p: &mut Problems) {
    if w.roles.iter().any(|r| r == role) || (allow_system && role == Role::SYSTEM) {
        return;
    }
    let known: Vec<&str> = w.roles.iter().map(Role::as_str).collect();
    let extra = if role == Role::SYSTEM {
        " (`system` may only take transitions)".to_string()
    } else {
        hint(role, &known, "role")
    };
    p.error(pos, format!("unknown role `{role}` {context}{extra}"));
}

fn check_recipient(w: &Workflow, r: &Recipient, pos: Pos, context: &str, p: &mut Problems) {
    if let Recipient::Role(role) = r {
        check_role(w, role, pos, context, false, p);
    }
}

/// A staff role in `readers`, `look_up` or `visible_to`: declared, and not the firm's (which
/// always reads its own applications in full).
fn check_reader(w: &Workflow, role: &Role, pos: Pos, context: &str, p: &mut Problems) {
    if *role == Role::APPLICANT {
        p.error(
            pos,
            format!("`applicant` {context}: the firm always reads its own applications in full; list staff roles"),
        );
    } else {
        check_role(w, role, pos, context, false, p);
    }
}

/// Who may read what: every role named in `readers`, `look_up` and `visible_to` is a staff
/// role of the workflow.
fn check_readers(w: &Workflow, m: &SourceMap, p: &mut Problems) {
    for (s, sm) in w.states.iter().zip(&m.states) {
        for (role, pos) in s.readers.iter().flatten().zip(&sm.readers) {
            check_reader(w, role, *pos, &format!("in `readers` of state `{}`", s.name), p);
        }
    }
    for (role, pos) in w.look_up.iter().zip(&m.look_up) {
        check_reader(w, role, *pos, "in `look_up`", p);
    }
    for (f, positions) in w.fields.iter().zip(&m.fields_visible_to) {
        for (role, pos) in f.visible_to.iter().zip(positions) {
            check_reader(w, role, *pos, &format!("in `visible_to` of field `{}`", f.name), p);
        }
    }
}

fn check_calendar(w: &Workflow, m: &SourceMap, ctx: &LintContext, p: &mut Problems) {
    if w.calendar.is_empty() {
        return;
    }
    let path = ctx.calendars_dir.join(format!("{}.toml", w.calendar));
    if !path.is_file() {
        p.error(m.calendar, format!("calendar `{}` does not exist: no file {}", w.calendar, path.display()));
        return;
    }
    // An invalid calendar file is reported where calendars are loaded; here only its end.
    let Ok(calendar) = crate::calendar::Calendar::load(&path) else { return };
    let today = chrono::Utc::now().date_naive();
    if let Some(until) = calendar.holidays_known_until()
        && until < today + chrono::Duration::days(CALENDAR_WARNING_DAYS)
    {
        p.warning(
            m.calendar,
            format!(
                "calendar `{}` lists holidays only until {until}, less than {CALENDAR_WARNING_DAYS} days from \
                 today: deadlines counted past it skip weekends only; add the next year's holidays to {}",
                w.calendar,
                path.display()
            ),
        );
    }
}

/// A calendar in use whose holidays end sooner than this is warned of.
pub const CALENDAR_WARNING_DAYS: i64 = 180;

fn check_states(w: &Workflow, m: &SourceMap, p: &mut Problems) {
    let initials: Vec<(&StateDef, &super::parse::StateMap)> =
        w.states.iter().zip(&m.states).filter(|(s, _)| s.initial).collect();
    if initials.is_empty() && (!w.states.is_empty() || !m.incomplete) {
        p.error(m.states_key, "no initial state: mark the state where applications start with `initial: true`");
    }
    if initials.len() > 1 {
        let names: Vec<String> = initials.iter().map(|(s, _)| format!("`{}`", s.name)).collect();
        for (_, sm) in initials.iter().skip(1) {
            p.error(
                sm.initial,
                format!("several initial states ({}); exactly one state may be `initial: true`", names.join(", ")),
            );
        }
    }

    for (s, sm) in w.states.iter().zip(&m.states) {
        if let Some(owner) = &s.owner {
            check_role(w, owner, sm.owner, &format!("as owner of state `{}`", s.name), false, p);
        }
        if s.initial && s.terminal {
            p.error(sm.terminal, format!("state `{}` cannot be both initial and terminal", s.name));
        }
        if s.terminal {
            if s.deadline.is_some() {
                p.error(
                    sm.deadline,
                    format!("terminal state `{}` cannot have a deadline: nothing happens after it", s.name),
                );
            }
            if s.pauses_clock {
                p.error(sm.pauses_clock, format!("terminal state `{}` cannot pause the clock", s.name));
            }
            continue;
        }
        if s.owner.is_none() {
            p.error(
                sm.name,
                format!(
                    "state `{}` has no `owner`: name the role whose queue holds it, or mark it `terminal: true`",
                    s.name
                ),
            );
        }
        let has_deadline = s.deadline.is_some() || sm.deadline_given;
        let is_review = s.owner.as_deref().is_some_and(|o| o != Role::APPLICANT);
        if is_review && !has_deadline {
            p.error(
                sm.name,
                format!(
                    "review state `{}` (owner `{}`) has no `deadline`: give every review stage one, e.g. `deadline: 5 working days`",
                    s.name,
                    s.owner.as_deref().unwrap_or_default()
                ),
            );
        }
        if let Some(action) = &s.on_deadline {
            if !has_deadline {
                p.error(sm.on_deadline, format!("`on_deadline: {action}` needs a `deadline` in state `{}`", s.name));
            }
            match w.transition(&s.name, action) {
                None => {
                    let open: Vec<&str> = w.transitions_from(&s.name).map(|t| t.action.as_str()).collect();
                    let open = if open.is_empty() { "none".to_string() } else { open.join(", ") };
                    p.error(
                        sm.on_deadline,
                        format!("`on_deadline: {action}` is not an action open in state `{}` (open there: {open})", s.name),
                    );
                }
                Some(t) if t.by != Role::SYSTEM => p.error(
                    sm.on_deadline,
                    format!(
                        "`on_deadline: {action}` is taken automatically, so the transition `{action}` from `{}` must be `by: system`, not `by: {}`",
                        s.name, t.by
                    ),
                ),
                Some(_) => {}
            }
        }
        if !has_deadline && !s.remind.is_empty() {
            p.error(sm.remind_key, format!("state `{}` has reminders but no `deadline` to count from", s.name));
        }
        if !has_deadline && s.escalate.is_some() {
            p.error(sm.escalate_key, format!("state `{}` escalates but has no `deadline` to count from", s.name));
        }
        if let Some(deadline) = &s.deadline {
            for (r, (to_pos, _)) in s.remind.iter().zip(&sm.remind) {
                if r.before_deadline.unit == deadline.unit && r.before_deadline.amount >= deadline.amount {
                    p.error(
                        *to_pos,
                        format!(
                            "a reminder {} before a deadline of {} would be sent before the state is entered",
                            duration_text(&r.before_deadline),
                            duration_text(deadline)
                        ),
                    );
                }
            }
        }
        for (r, (to_pos, _)) in s.remind.iter().zip(&sm.remind) {
            check_recipient(w, &r.to, *to_pos, &format!("in a reminder of state `{}`", s.name), p);
        }
        if let Some(e) = &s.escalate {
            check_recipient(w, &e.to, sm.escalate.0, &format!("in the escalation of state `{}`", s.name), p);
        }
    }
}

/// False when a transition names a state that does not exist.
fn check_transitions(w: &Workflow, m: &SourceMap, p: &mut Problems) -> bool {
    let mut references_ok = true;
    let states = known_states(w);
    // (state, action) -> line of the first transition that opens it
    let mut open: HashMap<(&str, &str), u32> = HashMap::new();
    for (t, tm) in w.transitions.iter().zip(&m.transitions) {
        for (from, from_pos) in t.from.iter().zip(&tm.from) {
            match w.state(from) {
                None => {
                    references_ok = false;
                    p.error(
                        *from_pos,
                        format!("unknown state `{from}` in `from` of transition `{}`{}", t.action, hint(from, &states, "state")),
                    );
                }
                Some(s) if s.terminal => p.error(
                    *from_pos,
                    format!(
                        "terminal state `{from}` has an exit: transition `{}` leaves it; a terminal state ends the application",
                        t.action
                    ),
                ),
                Some(_) => {}
            }
            match open.get(&(from.as_str(), t.action.as_str())) {
                Some(line) => p.error(
                    *from_pos,
                    format!(
                        "action `{}` is already open from state `{from}` (line {line}); one state cannot have two transitions with the same action",
                        t.action
                    ),
                ),
                None => {
                    open.insert((from.as_str(), t.action.as_str()), tm.action.line);
                }
            }
        }
        if let Target::State(to) = &t.to {
            if w.state(to).is_none() {
                references_ok = false;
                p.error(
                    tm.to,
                    format!("unknown state `{to}` in `to` of transition `{}`{}", t.action, hint(to, &states, "state")),
                );
            }
        }
        check_role(w, &t.by, tm.by, &format!("in `by` of transition `{}`", t.action), true, p);
        let reasons: Vec<&str> = w.reasons.iter().map(|r| r.code.as_str()).collect();
        for (code, pos) in t.reason_codes.iter().zip(&tm.reason_codes) {
            if w.reason(code).is_none() {
                p.error(
                    *pos,
                    format!(
                        "unknown reason code `{code}` in `reason_codes` of transition `{}`{}",
                        t.action,
                        hint(code, &reasons, "reason code")
                    ),
                );
            }
        }
        if !t.reason_codes.is_empty() && t.by == Role::SYSTEM {
            p.error(
                tm.reason_codes[0],
                format!("transition `{}` is taken by the system, which cannot choose a reason code", t.action),
            );
        }
        if t.comment_to_applicant.is_some() && t.comment == Need::None {
            p.error(
                tm.comment_to_applicant,
                format!(
                    "transition `{}` takes no comment: `comment_to_applicant` needs `comment: optional` or `comment: required`",
                    t.action
                ),
            );
        }
        if t.by == Role::SYSTEM {
            if t.comment == Need::Required {
                p.error(
                    tm.comment,
                    format!(
                        "transition `{}` is taken by the system, which cannot write a comment: make it optional",
                        t.action
                    ),
                );
            }
            if t.reason == Need::Required {
                p.error(
                    tm.reason,
                    format!(
                        "transition `{}` is taken by the system, which cannot give a reason: make it optional",
                        t.action
                    ),
                );
            }
            if t.four_eyes {
                p.error(
                    tm.four_eyes,
                    format!("transition `{}` is taken by the system: `four_eyes` needs a person", t.action),
                );
            }
        }
    }
    references_ok
}

fn check_trigger(w: &Workflow, on: &Trigger, pos: Pos, p: &mut Problems) {
    let states = known_states(w);
    match on {
        Trigger::Enter(s) | Trigger::Leave(s) => {
            if w.state(s).is_none() {
                p.error(pos, format!("unknown state `{s}` in `on`{}", hint(s, &states, "state")));
            }
        }
        Trigger::Action(a) => {
            if !w.transitions.iter().any(|t| &t.action == a) {
                let mut actions: Vec<&str> = w.transitions.iter().map(|t| t.action.as_str()).collect();
                actions.dedup();
                p.error(pos, format!("unknown action `{a}` in `on`{}", hint(a, &actions, "action")));
            }
        }
    }
}

fn check_rules(w: &Workflow, m: &SourceMap, p: &mut Problems) {
    for (n, nm) in w.notify.iter().zip(&m.notify) {
        check_trigger(w, &n.on, nm.on, p);
        check_recipient(w, &n.email, nm.to, "in `email` of a notify rule", p);
        if n.email == Recipient::Owner {
            if let Trigger::Enter(s) = &n.on {
                if w.state(s).is_some_and(|s| s.owner.is_none()) {
                    p.error(nm.to, format!("`email: owner` on entering `{s}`, but state `{s}` has no owner"));
                }
            }
        }
    }
    for (s, sm) in w.schedules.iter().zip(&m.schedules) {
        check_recipient(w, &s.to, sm.to, &format!("in `to` of schedule `{}`", s.name), p);
        if s.to == Recipient::Owner {
            p.error(
                sm.to,
                format!("schedule `{}` is not about one application: send it to a role, not `owner`", s.name),
            );
        }
    }
    for (h, hm) in w.webhooks.iter().zip(&m.webhooks) {
        check_trigger(w, &h.on, hm.on, p);
        if let Some(what) = special_webhook_host(&h.url) {
            p.warning(
                hm.url,
                format!(
                    "webhook `url` points at {what}: delivery is refused unless `[webhooks] allow_private` in the \
                     configuration lists it"
                ),
            );
        }
    }
}

/// What a webhook URL written in the file names, when it is a loopback, private, link-local
/// or other special-purpose host (a literal address, or `localhost`). `env:` URLs are read
/// at delivery and checked then.
fn special_webhook_host(url: &str) -> Option<&'static str> {
    let parsed = reqwest::Url::parse(url.trim()).ok()?;
    match parsed.host()? {
        url::Host::Ipv4(ip) => crate::webhook::special_address(ip.into()),
        url::Host::Ipv6(ip) => crate::webhook::special_address(ip.into()),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost" || name.ends_with(".localhost")).then_some("a loopback address (localhost)")
        }
    }
}

fn check_graph(w: &Workflow, m: &SourceMap, p: &mut Problems) {
    let Some(initial) = w.states.iter().find(|s| s.initial) else { return };
    let all_edges = edges(w);
    let mut next: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut prev: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in &all_edges {
        next.entry(e.from).or_default().push(e.to);
        prev.entry(e.to).or_default().push(e.from);
    }
    let reachable = walk(initial.name.as_str(), &next);
    let terminals: Vec<&str> = w.states.iter().filter(|s| s.terminal).map(|s| s.name.as_str()).collect();
    let mut can_finish: HashSet<&str> = HashSet::new();
    for t in &terminals {
        can_finish.extend(walk(t, &prev));
    }

    for (s, sm) in w.states.iter().zip(&m.states) {
        let name = s.name.as_str();
        if !reachable.contains(name) {
            p.error(sm.name, format!("state `{name}` cannot be reached from the initial state `{}`", initial.name));
            continue;
        }
        if s.terminal {
            continue;
        }
        let has_exit = w.transitions_from(name).next().is_some();
        if !has_exit {
            p.error(sm.name, format!("state `{name}` is a dead end: it is not terminal and no transition leaves it"));
        } else if !terminals.is_empty() && !can_finish.contains(name) {
            p.error(
                sm.name,
                format!("no terminal state can be reached from state `{name}`: applications there could never finish"),
            );
        }
    }
    if terminals.is_empty() && !w.states.is_empty() {
        p.error(m.states_key, "no terminal state: mark the states where applications end with `terminal: true`");
    }
}

fn walk<'a>(start: &'a str, next: &HashMap<&'a str, Vec<&'a str>>) -> HashSet<&'a str> {
    let mut seen = HashSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some(s) = queue.pop_front() {
        for n in next.get(s).into_iter().flatten() {
            if seen.insert(n) {
                queue.push_back(n);
            }
        }
    }
    seen
}

fn check_templates(w: &Workflow, m: &SourceMap, ctx: &LintContext, p: &mut Problems) {
    let mut uses: Vec<(&str, Pos)> = Vec::new();
    for (s, sm) in w.states.iter().zip(&m.states) {
        for (r, (_, tpl_pos)) in s.remind.iter().zip(&sm.remind) {
            uses.push((&r.template, *tpl_pos));
        }
        if let Some(e) = &s.escalate {
            uses.push((&e.template, sm.escalate.1));
        }
    }
    for (n, nm) in w.notify.iter().zip(&m.notify) {
        uses.push((&n.template, nm.template));
    }
    for (s, sm) in w.schedules.iter().zip(&m.schedules) {
        uses.push((&s.template, sm.template));
    }
    let Some(&(_, first_use)) = uses.first() else { return };
    let dir = &ctx.templates_dir;
    let missing = |name: &str| {
        format!("template `{name}` does not exist: no file {}", dir.join(format!("{name}.en.txt")).display())
    };
    // The very loader the mailer uses, so that the linter and the mailer agree on what a
    // template is (subject line, languages, layouts, Tera syntax).
    match crate::mail::EmailTemplates::load(dir) {
        Ok(templates) => {
            for (name, pos) in uses {
                if !templates.contains(name) {
                    p.error(pos, missing(name));
                }
            }
        }
        Err(e) => {
            for (name, pos) in &uses {
                if !dir.join(format!("{name}.en.txt")).is_file() {
                    p.error(*pos, missing(name));
                }
            }
            if dir.is_dir() {
                let detail = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
                p.error(first_use, format!("the e-mail templates in {} cannot be loaded: {detail}", dir.display()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::workflow::{LintContext, parse_workflow};

    /// A small valid workflow; tests change one thing in it.
    const BASE: &str = r#"workflow: t
version: 1
title: {en: T, ar: ت, ur: ٹ}
calendar: qatar
reference_prefix: QA-T
roles: [applicant, ministry_reviewer]
fields:
  - {name: full_name, label: {en: Full name, ar: الاسم الكامل, ur: پورا نام}, type: text, example: Ayesha Khan}
states:
  draft: {initial: true, owner: applicant}
  review: {owner: ministry_reviewer, deadline: 5 working days}
  more_information: {owner: applicant, deadline: 30 days, on_deadline: lapse}
  done: {terminal: true}
  lapsed: {terminal: true}
transitions:
  - {action: submit, from: draft, to: review, by: applicant}
  - {action: approve, from: review, to: done, by: ministry_reviewer}
  - {action: ask, from: review, to: more_information, by: ministry_reviewer}
  - {action: respond, from: more_information, to: $return, by: applicant}
  - {action: lapse, from: more_information, to: lapsed, by: system}
notify:
  - {on: enter done, email: applicant, template: good_news}
"#;

    struct Setup {
        _dir: tempfile::TempDir,
        ctx: LintContext,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let templates = dir.path().join("templates");
        let calendars = dir.path().join("calendars");
        std::fs::create_dir_all(&templates).expect("mkdir");
        std::fs::create_dir_all(&calendars).expect("mkdir");
        std::fs::write(calendars.join("qatar.toml"), "").expect("write");
        for lang in crate::lang::LANGS {
            let code = lang.code();
            std::fs::write(
                templates.join(format!("good_news.{code}.txt")),
                "Subject: Good news {{ reference }}\n\n.\n",
            )
            .expect("write");
            std::fs::write(templates.join(format!("good_news.{code}.html")), "<p>{{ reference }}</p>").expect("write");
        }
        Setup {
            _dir: dir,
            ctx: LintContext {
                templates_dir: templates,
                calendars_dir: calendars,
                languages: crate::lang::LANGS.to_vec(),
            },
        }
    }

    fn errors_with(setup: &Setup, source: &str) -> Vec<String> {
        match parse_workflow(Path::new("t.yaml"), source, &setup.ctx) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect(),
        }
    }

    fn errors(source: &str) -> Vec<String> {
        errors_with(&setup(), source)
    }

    fn changed(old: &str, new: &str) -> String {
        assert!(BASE.contains(old), "{old}");
        BASE.replacen(old, new, 1)
    }

    fn assert_one(errs: &[String], fragment: &str) {
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains(fragment), "{errs:#?} should mention {fragment}");
    }

    #[test]
    fn base_is_valid() {
        assert_eq!(errors(BASE), Vec::<String>::new());
    }

    #[test]
    fn a_role_may_say_which_kind_of_organisation_holds_it() {
        let src = changed(
            "roles: [applicant, ministry_reviewer]",
            "roles:\n  - applicant\n  - {name: ministry_reviewer, organisation: ministry}",
        );
        let w = parse_workflow(Path::new("t.yaml"), &src, &setup().ctx).expect("valid");
        assert_eq!(w.roles, ["applicant", "ministry_reviewer"]);
        assert_eq!(
            w.role_organisations,
            [(crate::role::Role::from("ministry_reviewer"), crate::organisation::OrganisationKind::Ministry)]
        );
        let src = changed(
            "roles: [applicant, ministry_reviewer]",
            "roles:\n  - applicant\n  - {name: ministry_reviewer, organisation: palace}",
        );
        assert_one(&errors(&src), "8:45: `palace` is not a kind of organisation");
        let src =
            changed("roles: [applicant, ministry_reviewer]", "roles:\n  - applicant\n  - {organisation: ministry}");
        let errs = errors(&src);
        assert!(errs.iter().any(|e| e.starts_with("8:5: a role needs `name`")), "{errs:#?}");
    }

    #[test]
    fn return_goes_back_to_every_state_that_leads_in() {
        // `verify` is reached only by returning from more_information.
        let src = changed(
            "  - {action: respond,",
            "  - {action: ask_early, from: draft, to: more_information, by: applicant}\n  - {action: respond,",
        );
        assert_eq!(errors(&src), Vec::<String>::new());
        // With no way into more_information except from review, a state only `ask` leads from is unreachable.
        let src = changed("  done: {terminal: true}\n", "  done: {terminal: true}\n  orphan: {owner: applicant}\n");
        let errs = errors(&src);
        assert!(errs.iter().any(|e| e.contains("state `orphan` cannot be reached")), "{errs:#?}");
    }

    #[test]
    fn a_cycle_without_an_exit_to_a_terminal_state_is_reported() {
        // review2 and review3 send the application to each other and nowhere else.
        let src = changed(
            "  - {action: approve, from: review, to: done, by: ministry_reviewer}",
            "  - {action: approve, from: review, to: done, by: ministry_reviewer}\n  - {action: escalate, from: review, to: review2, by: ministry_reviewer}\n  - {action: pass, from: review2, to: review3, by: ministry_reviewer}\n  - {action: pass, from: review3, to: review2, by: ministry_reviewer}",
        )
        .replace(
            "  done: {terminal: true}\n",
            "  done: {terminal: true}\n  review2: {owner: ministry_reviewer, deadline: 2 days}\n  review3: {owner: ministry_reviewer, deadline: 2 days}\n",
        );
        let errs = errors(&src);
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].contains("no terminal state can be reached from state `review2`"), "{errs:#?}");
        assert!(errs[1].contains("no terminal state can be reached from state `review3`"), "{errs:#?}");
    }

    #[test]
    fn on_deadline_must_be_taken_by_the_system() {
        let src = changed("to: lapsed, by: system}", "to: lapsed, by: ministry_reviewer}");
        assert_one(&errors(&src), "must be `by: system`");
    }

    #[test]
    fn the_system_cannot_write_a_comment() {
        let src = changed("to: lapsed, by: system}", "to: lapsed, by: system, comment: required}");
        assert_one(&errors(&src), "cannot write a comment");
    }

    #[test]
    fn on_deadline_without_deadline() {
        let src = changed(
            "{owner: applicant, deadline: 30 days, on_deadline: lapse}",
            "{owner: applicant, on_deadline: lapse}",
        );
        assert_one(&errors(&src), "needs a `deadline`");
    }

    #[test]
    fn a_reminder_must_come_before_the_deadline() {
        let src = changed(
            "{owner: ministry_reviewer, deadline: 5 working days}",
            "{owner: ministry_reviewer, deadline: 5 working days, remind: [{before_deadline: 5 working days, to: owner, template: good_news}]}",
        );
        assert_one(&errors(&src), "would be sent before the state is entered");
    }

    #[test]
    fn unknown_recipient_role() {
        let src = changed("email: applicant, template: good_news", "email: embassy, template: good_news");
        assert_one(&errors(&src), "unknown role `embassy` in `email` of a notify rule");
    }

    #[test]
    fn unknown_action_in_trigger() {
        let src = changed("on: enter done", "on: action aprove");
        assert_one(&errors(&src), "unknown action `aprove` in `on`; did you mean `approve`?");
    }

    #[test]
    fn a_state_without_owner() {
        let src = changed(
            "review: {owner: ministry_reviewer, deadline: 5 working days}",
            "review: {deadline: 5 working days}",
        );
        assert_one(&errors(&src), "state `review` has no `owner`");
    }

    #[test]
    fn no_terminal_state_at_all() {
        let src = BASE
            .replace("  done: {terminal: true}\n", "")
            .replace("  lapsed: {terminal: true}\n", "")
            .replace("to: done,", "to: draft,")
            .replace("to: lapsed,", "to: draft,")
            .replace("  - {on: enter done, email: applicant, template: good_news}\n", "");
        let errs = errors(&src);
        assert!(errs.iter().any(|e| e.contains("no terminal state:")), "{errs:#?}");
    }

    #[test]
    fn template_without_subject_line() {
        let s = setup();
        std::fs::write(s.ctx.templates_dir.join("good_news.en.txt"), "Hello {{ reference }}\n").expect("write");
        assert_one(&errors_with(&s, BASE), "good_news.en.txt:1:1: the first line must be `Subject: ...`");
    }

    #[test]
    fn template_that_does_not_compile() {
        let s = setup();
        std::fs::write(s.ctx.templates_dir.join("good_news.en.txt"), "Subject: x\n\n{% if reference %}unclosed\n")
            .expect("write");
        assert_one(&errors_with(&s, BASE), "cannot be loaded");
    }

    #[test]
    fn arabic_variant_is_checked_too() {
        let s = setup();
        std::fs::write(s.ctx.templates_dir.join("good_news.ar.txt"), "بدون سطر الموضوع\n").expect("write");
        assert_one(&errors_with(&s, BASE), "good_news.ar.txt:1:1: the first line must be `Subject: ...`");
    }

    #[test]
    fn a_template_missing_a_language_or_a_part_is_named() {
        let s = setup();
        std::fs::remove_file(s.ctx.templates_dir.join("good_news.en.txt")).expect("rm");
        std::fs::remove_file(s.ctx.templates_dir.join("good_news.ur.html")).expect("rm");
        let errs = errors_with(&s, BASE);
        assert!(errs.iter().any(|e| e.contains("template `good_news` does not exist: no file")), "{errs:#?}");
        assert!(errs.iter().any(|e| e.contains("good_news.en.txt: missing")), "{errs:#?}");
        assert!(errs.iter().any(|e| e.contains("good_news.ur.html: missing")), "{errs:#?}");
    }

    #[test]
    fn a_missing_templates_folder_reports_each_template() {
        let s = setup();
        std::fs::remove_dir_all(&s.ctx.templates_dir).expect("rm");
        assert_one(&errors_with(&s, BASE), "template `good_news` does not exist");
    }

    #[test]
    fn template_names_cannot_leave_the_folder() {
        let src = changed("template: good_news", "template: ../../etc/passwd");
        assert_one(&errors(&src), "is not a valid template name");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let src = changed("by: applicant}", "by: firm}")
            .replace("deadline: 5 working days", "deadline: 5 weeks")
            .replace("type: text, example", "type: txt, example")
            .replace("on: enter done", "on: enter finished");
        let errs = errors(&src);
        assert_eq!(errs.len(), 4, "{errs:#?}");
    }
}
