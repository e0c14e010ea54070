//! The shape of the workflow language: from a YAML tree to the model, checking keys, types
//! and self-contained values (identifiers, durations, sizes, patterns, examples, cron
//! expressions, time zones). Every problem is collected with the position of its node; the
//! meaning (references between parts) is checked afterwards by `lint`, which needs the
//! positions kept here in a [`SourceMap`].

use std::collections::HashSet;
use std::str::FromStr;

use regex::RegexBuilder;
use sha2::{Digest, Sha256};

use super::model::*;
use super::yaml::{Node, Value};
use super::{Problems, humanise};
use crate::lang::Lang;
use crate::role::Role;
use crate::text::Text;

/// Positions of the nodes that the linter may need to point at. The vectors run parallel to
/// the model's (`states[i]` describes `workflow.states[i]`, and so on).
#[derive(Debug, Default, Clone)]
pub(crate) struct SourceMap {
    /// The `workflow:` id value (or the document start).
    pub id: Pos,
    /// The `calendar:` value.
    pub calendar: Pos,
    /// The `states:` key (or the document start).
    pub states_key: Pos,
    pub roles: Vec<Pos>,
    pub states: Vec<StateMap>,
    pub transitions: Vec<TransitionMap>,
    pub notify: Vec<RuleMap>,
    pub schedules: Vec<RuleMap>,
    pub webhooks: Vec<RuleMap>,
    /// The roles of `look_up`.
    pub look_up: Vec<Pos>,
    /// The roles of each field's `visible_to`, parallel to the fields.
    pub fields_visible_to: Vec<Vec<Pos>>,
    /// A state or transition could not be read: checks over the whole graph (reachability,
    /// dead ends) would only repeat that problem in other words, so they are skipped.
    pub incomplete: bool,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct StateMap {
    pub name: Pos,
    pub owner: Pos,
    pub initial: Pos,
    pub terminal: Pos,
    pub deadline: Pos,
    /// A `deadline` was written, even if it could not be read (no "missing deadline" then).
    pub deadline_given: bool,
    pub on_deadline: Pos,
    pub pauses_clock: Pos,
    /// `to` and `template` of each reminder.
    pub remind: Vec<(Pos, Pos)>,
    /// `to` and `template` of the escalation.
    pub escalate: (Pos, Pos),
    pub remind_key: Pos,
    pub escalate_key: Pos,
    /// The roles of `readers`.
    pub readers: Vec<Pos>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct TransitionMap {
    pub action: Pos,
    pub from: Vec<Pos>,
    pub to: Pos,
    pub by: Pos,
    pub comment: Pos,
    pub reason: Pos,
    pub four_eyes: Pos,
    pub comment_to_applicant: Pos,
    /// Each code of `reason_codes`.
    pub reason_codes: Vec<Pos>,
}

/// A notify rule, schedule or webhook: its trigger, recipient and template.
#[derive(Debug, Default, Clone)]
pub(crate) struct RuleMap {
    pub on: Pos,
    pub to: Pos,
    pub template: Pos,
    /// A webhook's `url`.
    pub url: Pos,
}

/// A value and where it was written.
#[derive(Debug, Clone)]
struct Sp<T> {
    v: T,
    pos: Pos,
}

// ---------------------------------------------------------------------------------------------
// Reading mappings

/// The entries of a YAML mapping whose keys were checked against a list of known keys.
struct Entries<'a> {
    /// Where the mapping starts (its first key, or `{`).
    pos: Pos,
    /// What the mapping is, for messages: "state `draft`", "the workflow".
    what: String,
    items: Vec<(&'a str, Pos, &'a Node)>,
}

impl<'a> Entries<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.items.iter().find(|(k, _, _)| *k == key).map(|(_, _, n)| *n)
    }

    fn key_pos(&self, key: &str) -> Pos {
        self.items.iter().find(|(k, _, _)| *k == key).map(|(_, p, _)| *p).unwrap_or(self.pos)
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// Open `node` as a mapping with the given known keys. Unknown and repeated keys are
/// reported (and left out); `None` when the node is not a mapping at all.
fn entries<'a>(p: &mut Problems, node: &'a Node, what: impl Into<String>, known: &[&str]) -> Option<Entries<'a>> {
    let what = what.into();
    let Value::Map(map) = &node.value else {
        p.error(node.pos, format!("{what} must be a mapping of `key: value` lines, found {}", node.kind()));
        return None;
    };
    let mut items: Vec<(&'a str, Pos, &'a Node)> = Vec::new();
    for (key, value) in map {
        let Value::Str(name) = &key.value else {
            p.error(key.pos, format!("keys in {what} must be words, found {}", key.kind()));
            continue;
        };
        if !known.contains(&name.as_str()) {
            p.error(key.pos, format!("unknown key `{name}` in {what}{}", suggest(name, known)));
            continue;
        }
        if items.iter().any(|(k, _, _)| k == name) {
            p.error(key.pos, format!("`{name}` is given twice in {what}"));
            continue;
        }
        items.push((name.as_str(), key.pos, value));
    }
    Some(Entries { pos: node.pos, what, items })
}

/// The text of `key` in a mapping node, to name the mapping in messages before it is read.
fn peek(node: &Node, key: &str) -> Option<String> {
    let Value::Map(pairs) = &node.value else { return None };
    pairs.iter().find_map(|(k, v)| match (&k.value, &v.value) {
        (Value::Str(k), Value::Str(v)) if k == key && is_name(v) => Some(v.clone()),
        _ => None,
    })
}

fn text_of(node: &Node, key: &str) -> Option<String> {
    let Value::Map(pairs) = &node.value else { return None };
    pairs.iter().find_map(|(k, v)| match (&k.value, &v.value) {
        (Value::Str(k), Value::Str(v)) if k == key => Some(v.clone()),
        _ => None,
    })
}

/// A description such as "field `passport_number`", or "a field" while the name is unknown.
fn describe(node: &Node, key: &str, kind: &str) -> String {
    match peek(node, key) {
        Some(n) => format!("{kind} `{n}`"),
        None => format!("a {kind}"),
    }
}

/// "; did you mean `required`?" for a near miss, otherwise the list of known keys.
fn suggest(word: &str, known: &[&str]) -> String {
    let best = known.iter().map(|k| (edit_distance(word, k), *k)).min_by_key(|(d, _)| *d);
    match best {
        Some((d, k)) if d <= 2 || (d <= 3 && word.len() > 6) => format!("; did you mean `{k}`?"),
        _ => format!("; expected one of: {}", known.join(", ")),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

// ---------------------------------------------------------------------------------------------
// Reading values

/// Text value of `key`. Numbers are accepted as their spelling (a label may be `2026`);
/// true/false, lists and mappings are not. Reports a missing required key.
fn text(p: &mut Problems, e: &Entries, key: &str, required: bool) -> Option<Sp<String>> {
    let Some(node) = e.get(key) else {
        if required {
            p.error(e.pos, format!("{} needs `{key}`", e.what));
        }
        return None;
    };
    node_text(p, node, key)
}

fn node_text(p: &mut Problems, node: &Node, key: &str) -> Option<Sp<String>> {
    match &node.value {
        Value::Str(_) | Value::Int(_) | Value::Float(_) => {
            let s = node.scalar_text().unwrap_or_default();
            if s.trim().is_empty() {
                p.error(node.pos, format!("`{key}` must not be empty"));
                None
            } else {
                Some(Sp { v: s.trim().to_string(), pos: node.pos })
            }
        }
        Value::Null => {
            p.error(node.pos, format!("`{key}` must not be empty"));
            None
        }
        _ => {
            p.error(node.pos, format!("`{key}` must be text, found {}", node.kind()));
            None
        }
    }
}

/// A text users read, written in each enabled language: `key: {en: …, ar: …, ur: …}`.
/// Reports a plain string, a missing, empty or unknown language, each at its node; gives the
/// text whenever its English wording could be read, so that later checks still run.
fn translated(p: &mut Problems, e: &Entries, key: &str, required: bool, langs: &[Lang]) -> Option<Sp<Text>> {
    let Some(node) = e.get(key) else {
        if required {
            p.error(e.pos, format!("{} needs `{key}`, given in {}", e.what, codes(langs)));
        }
        return None;
    };
    node_translated(p, node, key, &e.what, langs)
}

fn codes(langs: &[Lang]) -> String {
    langs.iter().map(|l| l.code()).collect::<Vec<_>>().join(", ")
}

fn node_translated(p: &mut Problems, node: &Node, key: &str, what: &str, langs: &[Lang]) -> Option<Sp<Text>> {
    let example = langs.iter().map(|l| format!("{}: …", l.code())).collect::<Vec<_>>().join(", ");
    let pairs = match &node.value {
        Value::Map(pairs) => pairs,
        Value::Str(_) | Value::Int(_) | Value::Float(_) => {
            p.error(
                node.pos,
                format!(
                    "`{key}` of {what} is a plain text: give it in each language, `{key}: {{{example}}}` (missing {})",
                    codes(langs)
                ),
            );
            return None;
        }
        Value::Null => {
            p.error(node.pos, format!("`{key}` of {what} must not be empty"));
            return None;
        }
        _ => {
            p.error(node.pos, format!("`{key}` of {what} must be a mapping `{{{example}}}`, found {}", node.kind()));
            return None;
        }
    };
    let mut wordings: Vec<(Lang, String)> = Vec::new();
    for (k, v) in pairs {
        let code = k.scalar_text().unwrap_or_default();
        let Ok(lang) = code.parse::<Lang>() else {
            p.error(k.pos, format!("unknown language `{code}` in `{key}` of {what}; write {}", codes(langs)));
            continue;
        };
        if wordings.iter().any(|(l, _)| *l == lang) {
            p.error(k.pos, format!("language `{code}` is given twice in `{key}` of {what}"));
            continue;
        }
        match &v.value {
            Value::Str(_) | Value::Int(_) | Value::Float(_) => {
                let s = v.scalar_text().unwrap_or_default();
                if s.trim().is_empty() {
                    p.error(v.pos, format!("`{key}` of {what} is empty in `{code}`"));
                } else {
                    wordings.push((lang, s.trim().to_string()));
                }
            }
            Value::Null => p.error(v.pos, format!("`{key}` of {what} is empty in `{code}`")),
            _ => p.error(v.pos, format!("`{key}` of {what} in `{code}` must be text, found {}", v.kind())),
        }
    }
    let missing: Vec<&str> =
        langs.iter().filter(|l| !wordings.iter().any(|(w, _)| w == *l)).map(|l| l.code()).collect();
    let given_empty = pairs.iter().any(|(k, _)| k.scalar_text().is_some_and(|c| missing.contains(&c.as_str())));
    if !missing.is_empty() && !given_empty {
        p.error(
            node.pos,
            format!("`{key}` of {what} has no {} wording: give it in {}", missing.join(", "), codes(langs)),
        );
    }
    Text::from_pairs(wordings).map(|v| Sp { v, pos: node.pos })
}

/// A name used to refer to something (state, role, action, field): lower-case letters,
/// digits and underscores, starting with a letter.
fn name(p: &mut Problems, e: &Entries, key: &str, required: bool) -> Option<Sp<String>> {
    let s = text(p, e, key, required)?;
    check_name(p, &s, key).then_some(s)
}

fn check_name(p: &mut Problems, s: &Sp<String>, key: &str) -> bool {
    if is_name(&s.v) {
        true
    } else {
        p.error(
            s.pos,
            format!(
                "`{}` is not a valid {key} name: use lower-case letters, digits and underscores, starting with a letter",
                s.v
            ),
        );
        false
    }
}

pub(crate) fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z')) && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// Names of files under `config/` (templates, calendars): no paths, no dots.
fn is_file_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '0'..='9')) && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
}

fn flag(p: &mut Problems, e: &Entries, key: &str) -> Option<Sp<bool>> {
    let node = e.get(key)?;
    match node.value {
        Value::Bool(b) => Some(Sp { v: b, pos: node.pos }),
        _ => {
            p.error(node.pos, format!("`{key}` must be true or false, found {}", shown(node)));
            None
        }
    }
}

fn number(p: &mut Problems, e: &Entries, key: &str) -> Option<Sp<f64>> {
    let node = e.get(key)?;
    match node.value {
        Value::Int(i) => Some(Sp { v: i as f64, pos: node.pos }),
        Value::Float(f) if f.is_finite() => Some(Sp { v: f, pos: node.pos }),
        _ => {
            p.error(node.pos, format!("`{key}` must be a number, found {}", shown(node)));
            None
        }
    }
}

/// How a node is shown in a message: the scalar itself, or its kind.
fn shown(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => format!("`{s}`"),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => format!("`{}`", node.scalar_text().unwrap_or_default()),
        _ => node.kind().to_string(),
    }
}

/// A list of items, or a single item where `single_ok`.
fn list<'a>(p: &mut Problems, e: &Entries<'a>, key: &str, single_ok: bool) -> Option<(Pos, Vec<&'a Node>)> {
    let node = e.get(key)?;
    match &node.value {
        Value::Seq(items) => Some((node.pos, items.iter().collect())),
        Value::Str(_) if single_ok => Some((node.pos, vec![node])),
        _ => {
            p.error(node.pos, format!("`{key}` must be a list, found {}", node.kind()));
            None
        }
    }
}

/// A list of texts (or one text where `single_ok`).
fn texts(p: &mut Problems, e: &Entries, key: &str, single_ok: bool) -> Option<(Pos, Vec<Sp<String>>)> {
    let (pos, items) = list(p, e, key, single_ok)?;
    let mut out = Vec::new();
    for item in items {
        if let Some(s) = node_text(p, item, key) {
            out.push(s);
        }
    }
    Some((pos, out))
}

/// A list of role names (checked against `roles:` by the linter), with their positions.
fn role_list(p: &mut Problems, e: &Entries, key: &str) -> Option<Vec<Sp<String>>> {
    let (_, items) = texts(p, e, key, false)?;
    let mut out: Vec<Sp<String>> = Vec::new();
    for r in items {
        if !check_name(p, &r, "role") {
            continue;
        }
        if out.iter().any(|o| o.v == r.v) {
            p.error(r.pos, format!("role `{}` is listed twice in `{key}`", r.v));
            continue;
        }
        out.push(r);
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Small value languages

/// "5 working days", "1 working day", "30 days", "48 hours".
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let usage = "write it like `5 working days`, `30 days` or `48 hours`";
    let Some((amount, unit)) = words.split_first() else {
        return Err(format!("a duration is missing; {usage}"));
    };
    let Ok(amount) = amount.parse::<u32>() else {
        return Err(format!("`{text}` is not a duration; {usage}"));
    };
    let unit = match unit.iter().map(|w| w.to_lowercase()).collect::<Vec<_>>().join(" ").as_str() {
        "working day" | "working days" => DurationUnit::WorkingDays,
        "day" | "days" => DurationUnit::Days,
        "hour" | "hours" => DurationUnit::Hours,
        _ => return Err(format!("`{text}` is not a duration; {usage}")),
    };
    if amount == 0 {
        return Err(format!("`{text}` is zero; a duration must be at least 1"));
    }
    if amount > 3650 {
        return Err(format!("`{text}` is too long; a duration may be at most 3650"));
    }
    Ok(Duration { amount, unit })
}

fn duration(p: &mut Problems, e: &Entries, key: &str, required: bool) -> Option<Sp<Duration>> {
    if let Some(node) = e.get(key) {
        if matches!(node.value, Value::Int(_)) {
            p.error(
                node.pos,
                format!(
                    "`{key}: {}` has no unit; write e.g. `5 working days`, `30 days` or `48 hours`",
                    shown(node).trim_matches('`')
                ),
            );
            return None;
        }
    }
    let s = text(p, e, key, required)?;
    match parse_duration(&s.v) {
        Ok(d) => Some(Sp { v: d, pos: s.pos }),
        Err(msg) => {
            p.error(s.pos, format!("invalid `{key}`: {msg}"));
            None
        }
    }
}

/// "5MB", "500 KB", "2 MiB", "1048576" (bytes). 1 KB = 1024 bytes.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let usage = format!("`{text}` is not a size; write it like `5MB`, `500KB` or a number of bytes");
    let amount: u64 = digits.parse().map_err(|_| usage.clone())?;
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" | "KIB" | "K" => 1 << 10,
        "MB" | "MIB" | "M" => 1 << 20,
        "GB" | "GIB" | "G" => 1 << 30,
        _ => return Err(usage),
    };
    let bytes = amount.checked_mul(factor).ok_or_else(|| format!("`{text}` is too large"))?;
    if bytes == 0 {
        return Err("a size limit must be more than zero".into());
    }
    if bytes > 1 << 30 {
        return Err(format!("`{text}` is too large; the limit may be at most 1GB"));
    }
    Ok(bytes)
}

/// A recipient: `owner`, `applicant` or a role name (checked against the roles by the linter).
fn who(p: &mut Problems, e: &Entries, key: &str) -> Option<Sp<String>> {
    let s = text(p, e, key, true)?;
    if is_name(&s.v) {
        Some(s)
    } else {
        p.error(s.pos, format!("`{}` is not a valid recipient: write `owner`, `applicant` or a role name", s.v));
        None
    }
}

fn recipient(s: &str) -> Recipient {
    match s {
        "owner" => Recipient::Owner,
        applicant if applicant == Role::APPLICANT.as_str() => Recipient::Applicant,
        role => Recipient::Role(role.into()),
    }
}

fn trigger(p: &mut Problems, e: &Entries) -> Option<Sp<Trigger>> {
    let s = text(p, e, "on", true)?;
    let parsed = s.v.split_once(char::is_whitespace).and_then(|(kind, what)| {
        let what = what.trim().to_string();
        match kind {
            "enter" => Some(Trigger::Enter(what)),
            "leave" => Some(Trigger::Leave(what)),
            "action" => Some(Trigger::Action(what)),
            _ => None,
        }
    });
    match parsed {
        Some(t) => Some(Sp { v: t, pos: s.pos }),
        None => {
            p.error(
                s.pos,
                format!("`on: {}` is not a trigger; write `enter STATE`, `leave STATE` or `action ACTION`", s.v),
            );
            None
        }
    }
}

/// A template name: the file `NAME.txt` must exist (checked by the linter).
fn template(p: &mut Problems, e: &Entries, required: bool) -> Option<Sp<String>> {
    let s = text(p, e, "template", required)?;
    if is_file_name(&s.v) {
        Some(s)
    } else {
        p.error(
            s.pos,
            format!(
                "`{}` is not a valid template name: use lower-case letters, digits, `_` and `-` (the file is NAME.txt)",
                s.v
            ),
        );
        None
    }
}

/// Check a cron expression in the usual 5-field form (minute hour day month weekday).
pub(crate) fn check_cron(expr: &str) -> Result<(), String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "`{expr}` has {} fields; write the usual 5: minute hour day-of-month month day-of-week, e.g. `0 8 * * SUN`",
            fields.len()
        ));
    }
    // The cron crate counts weekdays 1-7 from Sunday, classic cron 0-6 from Sunday: a number
    // would silently mean another day than the author thinks.
    if fields[4].chars().any(|c| c.is_ascii_digit()) {
        return Err(format!(
            "write days of the week by name (SUN, MON, TUE, WED, THU, FRI, SAT), not `{}`: numbers mean different days in different cron dialects",
            fields[4]
        ));
    }
    cron::Schedule::from_str(&format!("0 {}", fields.join(" ")))
        .map(|_| ())
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))
}

fn is_env_ref(s: &str) -> bool {
    s.strip_prefix("env:").is_some_and(|name| {
        let mut c = name.chars();
        matches!(c.next(), Some('A'..='Z' | '_')) && c.all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'))
    })
}

fn is_http_url(s: &str) -> bool {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !r.chars().any(char::is_whitespace)
    })
}

const CONTENT_TYPES: &[&str] = &["application/pdf", "image/jpeg", "image/png"];

// ---------------------------------------------------------------------------------------------
// The document

const TOP_KEYS: &[&str] = &[
    "workflow",
    "version",
    "title",
    "description",
    "calendar",
    "reference_prefix",
    "roles",
    "fields",
    "documents",
    "states",
    "transitions",
    "notify",
    "schedules",
    "webhooks",
    "look_up",
    "reasons",
];

/// Decode the whole file. Always returns a model (possibly with gaps) and its source map;
/// the problems found are added to `p`.
pub(crate) fn decode(root: &Node, source: &str, l: &[Lang], p: &mut Problems) -> (Workflow, SourceMap) {
    let mut map = SourceMap { id: root.pos, states_key: root.pos, calendar: root.pos, ..SourceMap::default() };
    let mut w = Workflow {
        id: String::new(),
        version: 0,
        title: Text::default(),
        description: None,
        calendar: String::new(),
        reference_prefix: String::new(),
        roles: Vec::new(),
        role_organisations: Vec::new(),
        fields: Vec::new(),
        documents: Vec::new(),
        states: Vec::new(),
        transitions: Vec::new(),
        notify: Vec::new(),
        schedules: Vec::new(),
        webhooks: Vec::new(),
        look_up: Vec::new(),
        reasons: Vec::new(),
        content_hash: hex::encode(Sha256::digest(source.as_bytes())),
        source: source.to_string(),
    };
    if matches!(root.value, Value::Null) {
        p.error(root.pos, "the file is empty; a workflow starts with `workflow: ID`");
        map.incomplete = true;
        return (w, map);
    }
    let Some(top) = entries(p, root, "the workflow", TOP_KEYS) else {
        map.incomplete = true;
        return (w, map);
    };

    if let Some(id) = text(p, &top, "workflow", true) {
        map.id = id.pos;
        let ok =
            id.v.split('-').all(|part| !part.is_empty() && part.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9')));
        if !ok {
            p.error(
                id.pos,
                format!("`{}` is not a valid workflow id: use lower-case letters, digits and single hyphens", id.v),
            );
        }
        w.id = id.v;
    }
    match top.get("version") {
        None => p.error(top.pos, "the workflow needs `version` (a whole number, 1 or more)"),
        Some(node) => match node.value {
            Value::Int(v) if v >= 1 => w.version = u32::try_from(v).unwrap_or(u32::MAX),
            _ => p.error(node.pos, format!("`version` must be a whole number, 1 or more, found {}", shown(node))),
        },
    }
    if let Some(t) = translated(p, &top, "title", true, l) {
        w.title = t.v;
    }
    w.description = translated(p, &top, "description", false, l).map(|d| d.v);
    if let Some(c) = text(p, &top, "calendar", true) {
        map.calendar = c.pos;
        if is_file_name(&c.v) {
            w.calendar = c.v;
        } else {
            p.error(c.pos, format!("`{}` is not a valid calendar name (the file is config/calendars/NAME.toml)", c.v));
        }
    }
    if let Some(r) = text(p, &top, "reference_prefix", true) {
        let ok = r.v.len() <= 12
            && r.v
                .split('-')
                .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        if ok {
            w.reference_prefix = r.v;
        } else {
            p.error(
                r.pos,
                format!("`{}` is not a valid reference prefix: use capital letters and digits in parts joined by hyphens, e.g. QA-BV", r.v),
            );
        }
    }

    // Roles
    match list(p, &top, "roles", false) {
        None if !top.has("roles") => p.error(top.pos, "the workflow needs `roles`, the list of roles that act in it"),
        None => {}
        Some((_, items)) => {
            for item in items {
                // `- ROLE`, or `- {name: ROLE, organisation: KIND}`.
                let (role, organisation) = if matches!(item.value, Value::Map(_)) {
                    let Some(e) = entries(p, item, "a role", &["name", "organisation"]) else { continue };
                    let Some(role) = text(p, &e, "name", true) else { continue };
                    let organisation = text(p, &e, "organisation", false).and_then(|k| {
                        match k.v.parse::<crate::organisation::OrganisationKind>() {
                            Ok(kind) => Some(kind),
                            Err(e) => {
                                p.error(k.pos, e.to_string());
                                None
                            }
                        }
                    });
                    (role, organisation)
                } else {
                    let Some(role) = node_text(p, item, "roles") else { continue };
                    (role, None)
                };
                if !check_name(p, &role, "role") {
                    continue;
                }
                if w.roles.iter().any(|r| *r == role.v) {
                    p.error(role.pos, format!("role `{}` is listed twice", role.v));
                    continue;
                }
                if matches!(role.v.as_str(), "owner") {
                    p.error(role.pos, "`owner` is a reserved word (the role that holds the current state), not a role");
                    continue;
                }
                map.roles.push(role.pos);
                if let Some(kind) = organisation {
                    w.role_organisations.push((role.v.as_str().into(), kind));
                }
                w.roles.push(role.v.into());
            }
        }
    }

    // Fields
    match list(p, &top, "fields", false) {
        None if !top.has("fields") => {
            p.error(top.pos, "the workflow needs `fields`, the information the applicant gives")
        }
        None => {}
        Some((_, items)) => {
            let mut names = HashSet::new();
            let mut passport_seen = false;
            for item in items {
                if let Some((field, name_pos, passport_pos, visible_to)) = decode_field(p, item, l) {
                    if !names.insert(field.name.clone()) {
                        p.error(name_pos, format!("field `{}` is declared twice", field.name));
                        continue;
                    }
                    map.fields_visible_to.push(visible_to);
                    if field.is_passport {
                        if passport_seen {
                            p.error(passport_pos, "only one field may be the passport number (`passport: true`)");
                        }
                        passport_seen = true;
                    }
                    w.fields.push(field);
                }
            }
            check_after(p, &w.fields);
        }
    }

    // Documents
    if let Some((_, items)) = list(p, &top, "documents", false) {
        let mut names = HashSet::new();
        for item in items {
            if let Some((doc, name_pos)) = decode_document(p, item, l) {
                if !names.insert(doc.name.clone()) {
                    p.error(name_pos, format!("document `{}` is declared twice", doc.name));
                    continue;
                }
                w.documents.push(doc);
            }
        }
    }

    // States
    match top.get("states") {
        None => {
            p.error(top.pos, "the workflow needs `states`");
            map.incomplete = true;
        }
        Some(node) => {
            map.states_key = top.key_pos("states");
            match &node.value {
                Value::Map(pairs) => {
                    for (key, value) in pairs {
                        let Some(state_name) = node_text(p, key, "state") else {
                            map.incomplete = true;
                            continue;
                        };
                        if !check_name(p, &state_name, "state") {
                            map.incomplete = true;
                            continue;
                        }
                        if w.states.iter().any(|s| s.name == state_name.v) {
                            p.error(key.pos, format!("state `{}` is declared twice", state_name.v));
                            continue;
                        }
                        match decode_state(p, &state_name, value, l) {
                            Some((state, smap)) => {
                                w.states.push(state);
                                map.states.push(smap);
                            }
                            None => map.incomplete = true,
                        }
                    }
                }
                _ => {
                    p.error(
                        node.pos,
                        format!("`states` must map each state name to its definition, found {}", node.kind()),
                    );
                    map.incomplete = true;
                }
            }
        }
    }

    // Transitions
    match list(p, &top, "transitions", false) {
        None => {
            if !top.has("transitions") {
                p.error(top.pos, "the workflow needs `transitions`");
            }
            map.incomplete = true;
        }
        Some((_, items)) => {
            for item in items {
                match decode_transition(p, item, l) {
                    Some((t, tmap)) => {
                        w.transitions.push(t);
                        map.transitions.push(tmap);
                    }
                    None => map.incomplete = true,
                }
            }
        }
    }

    // Reason codes
    if let Some((_, items)) = list(p, &top, "reasons", false) {
        for item in items {
            let Some(re) = entries(p, item, describe(item, "code", "reason"), &["code", "label"]) else { continue };
            let code = name(p, &re, "code", true);
            let label = translated(p, &re, "label", true, l);
            let (Some(code), Some(label)) = (code, label) else { continue };
            if w.reasons.iter().any(|r| r.code == code.v) {
                p.error(code.pos, format!("reason `{}` is declared twice", code.v));
                continue;
            }
            w.reasons.push(ReasonDef { code: code.v, label: label.v, pos: code.pos });
        }
    }

    if let Some(roles) = role_list(p, &top, "look_up") {
        map.look_up = roles.iter().map(|r| r.pos).collect();
        w.look_up = roles.into_iter().map(|r| Role::from(r.v)).collect();
    }

    // Notifications, schedules, webhooks
    if let Some((_, items)) = list(p, &top, "notify", false) {
        for item in items {
            if let Some((rule, rmap)) = decode_notify(p, item) {
                w.notify.push(rule);
                map.notify.push(rmap);
            }
        }
    }
    if let Some((_, items)) = list(p, &top, "schedules", false) {
        for item in items {
            if let Some((s, rmap)) = decode_schedule(p, item) {
                if w.schedules.iter().any(|o| o.name == s.name) {
                    p.error(s.pos, format!("schedule `{}` is declared twice", s.name));
                    continue;
                }
                w.schedules.push(s);
                map.schedules.push(rmap);
            }
        }
    }
    if let Some((_, items)) = list(p, &top, "webhooks", false) {
        for item in items {
            if let Some((h, rmap)) = decode_webhook(p, item) {
                w.webhooks.push(h);
                map.webhooks.push(rmap);
            }
        }
    }

    (w, map)
}

// ---------------------------------------------------------------------------------------------
// Fields and documents

const FIELD_KEYS: &[&str] = &[
    "name",
    "label",
    "hint",
    "type",
    "required",
    "pattern",
    "pattern_message",
    "example",
    "options",
    "min",
    "max",
    "sensitive",
    "passport",
    "visible_to",
    "after",
];

/// A field, the position of its name, of its `passport` flag and of its `visible_to` roles.
fn decode_field(p: &mut Problems, node: &Node, l: &[Lang]) -> Option<(FieldDef, Pos, Pos, Vec<Pos>)> {
    let e = entries(p, node, describe(node, "name", "field"), FIELD_KEYS)?;
    let field_name = name(p, &e, "name", true)?;

    let label = translated(p, &e, "label", true, l).map(|s| s.v).unwrap_or_else(|| Text::same(humanise(&field_name.v)));
    let hint = translated(p, &e, "hint", false, l).map(|s| s.v);
    let field_type = match text(p, &e, "type", true) {
        None => None,
        Some(t) => match t.v.as_str() {
            "text" => Some(FieldType::Text),
            "date" => Some(FieldType::Date),
            "number" => Some(FieldType::Number),
            "choice" => Some(FieldType::Choice),
            "country" => Some(FieldType::Country),
            "email" => Some(FieldType::Email),
            other => {
                p.error(
                    t.pos,
                    format!("unknown field type `{other}`; use text, date, number, choice, country or email"),
                );
                None
            }
        },
    };
    let required = flag(p, &e, "required").is_some_and(|f| f.v);
    let sensitive = flag(p, &e, "sensitive").is_some_and(|f| f.v);
    let passport = flag(p, &e, "passport");
    let is_passport = passport.as_ref().is_some_and(|f| f.v);
    let passport_pos = passport.as_ref().map_or(e.pos, |f| f.pos);
    let visible_to = role_list(p, &e, "visible_to").unwrap_or_default();
    if !visible_to.is_empty() && !sensitive && !is_passport {
        p.error(
            e.key_pos("visible_to"),
            format!("{} is not `sensitive: true`: `visible_to` names who sees a sensitive field in full", e.what),
        );
    }

    let mut pattern_ok = true;
    let pattern =
        text(p, &e, "pattern", false).and_then(|s| match RegexBuilder::new(&s.v).size_limit(1 << 20).build() {
            Ok(re) => Some((re, s.pos)),
            Err(err) => {
                pattern_ok = false;
                p.error(s.pos, format!("invalid pattern `{}`: {}", s.v, regex_error_summary(&err)));
                None
            }
        });
    let pattern_message = translated(p, &e, "pattern_message", false, l).map(|s| s.v);
    if let Some((_, pos)) = &pattern {
        if !matches!(field_type, Some(FieldType::Text | FieldType::Email) | None) {
            p.error(*pos, "`pattern` applies to text and email fields only");
        }
    }
    if pattern_message.is_some() && pattern.is_none() && pattern_ok {
        p.error(e.key_pos("pattern_message"), "`pattern_message` is given but there is no `pattern`");
    }

    // Options of a choice field: plain strings, or {value, label}.
    let mut options: Vec<ChoiceOption> = Vec::new();
    let options_given = e.get("options");
    if let Some((pos, items)) = list(p, &e, "options", false) {
        if field_type.is_some() && field_type != Some(FieldType::Choice) {
            p.error(pos, "`options` apply to choice fields only");
        }
        for item in items {
            let option = match &item.value {
                Value::Map(_) => entries(p, item, "an option", &["value", "label"]).and_then(|oe| {
                    let value = text(p, &oe, "value", true)?;
                    let what = format!("option `{}`", value.v);
                    let label = match oe.get("label") {
                        Some(node) => node_translated(p, node, "label", &what, l).map(|t| t.v),
                        None => None,
                    };
                    let label = label.unwrap_or_else(|| Text::same(value.v.clone()));
                    Some((value, label))
                }),
                // A plain option is a value shown as it is (a code, a year).
                _ => node_text(p, item, "option").map(|v| {
                    let label = Text::same(v.v.clone());
                    (v, label)
                }),
            };
            if let Some((value, label)) = option {
                if options.iter().any(|o| o.value == value.v) {
                    p.error(value.pos, format!("option `{}` is listed twice", value.v));
                    continue;
                }
                options.push(ChoiceOption { value: value.v, label });
            }
        }
        if options.is_empty() && field_type == Some(FieldType::Choice) {
            p.error(pos, "a choice field needs at least one option");
        }
    }
    if field_type == Some(FieldType::Choice) && options_given.is_none() {
        p.error(e.pos, format!("{} is a choice: it needs `options`", e.what));
    }

    let min = number(p, &e, "min");
    let max = number(p, &e, "max");
    for bound in [&min, &max].into_iter().flatten() {
        if field_type.is_some() && field_type != Some(FieldType::Number) {
            p.error(bound.pos, "`min` and `max` apply to number fields only");
        }
    }
    if let (Some(lo), Some(hi)) = (&min, &max) {
        if lo.v > hi.v {
            p.error(hi.pos, format!("`max` ({}) is below `min` ({})", hi.v, lo.v));
        }
    }
    if is_passport && field_type.is_some() && field_type != Some(FieldType::Text) {
        p.error(passport_pos, "the passport number field must be of type text");
    }

    let example = match e.get("example") {
        None => {
            p.error(e.pos, format!("{} needs an `example` value (the API publishes it and tests use it)", e.what));
            None
        }
        Some(node) => node_text(p, node, "example"),
    };

    let field_type = field_type?;
    let def = FieldDef {
        name: field_name.v.clone(),
        label,
        hint,
        field_type,
        required,
        pattern: pattern.map(|(re, _)| re),
        pattern_message,
        example: example.as_ref().map(|s| s.v.clone()).unwrap_or_default(),
        options,
        min: min.map(|m| m.v),
        max: max.map(|m| m.v),
        sensitive: sensitive || is_passport,
        visible_to: visible_to.iter().map(|r| Role::from(r.v.as_str())).collect(),
        is_passport,
        after: text(p, &e, "after", false).map(|a| a.v),
        pos: node.pos,
    };
    // The example must pass the very check that applications go through.
    if let Some(example) = example {
        let fits_options = field_type != FieldType::Choice || !def.options.is_empty();
        if pattern_ok && fits_options {
            match crate::fields::check_value(&def, &serde_json::Value::String(example.v.clone())) {
                Ok(Some(_)) => {}
                Ok(None) => p.error(example.pos, "`example` must not be empty"),
                Err(problem) => {
                    let msg = crate::fields::FieldError::of(&def, problem);
                    p.error(
                        example.pos,
                        format!("example `{}` is not a valid value for field `{}`: {msg}", example.v, def.name),
                    )
                }
            }
        }
    }
    Some((def, field_name.pos, passport_pos, visible_to.iter().map(|r| r.pos).collect()))
}

/// `after: OTHER` names another date field of the same list, and is on a date field itself.
fn check_after(p: &mut Problems, fields: &[FieldDef]) {
    for f in fields {
        let Some(other) = &f.after else { continue };
        if f.field_type != FieldType::Date {
            p.error(f.pos, format!("field `{}`: `after` applies to date fields only", f.name));
        }
        match fields.iter().find(|o| &o.name == other) {
            Some(o) if o.field_type == FieldType::Date && o.name != f.name => {}
            _ => p.error(
                f.pos,
                format!("field `{}`: `after` must name another date field of the same list, not `{other}`", f.name),
            ),
        }
    }
}

/// The last line of the regex crate's message ("error: unclosed group") without its prefix.
fn regex_error_summary(err: &regex::Error) -> String {
    let text = err.to_string();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    last.trim().trim_start_matches("error:").trim().to_string()
}

const DOCUMENT_KEYS: &[&str] = &["name", "label", "hint", "required", "accept", "max_size"];

fn decode_document(p: &mut Problems, node: &Node, l: &[Lang]) -> Option<(DocumentDef, Pos)> {
    let e = entries(p, node, describe(node, "name", "document"), DOCUMENT_KEYS)?;
    let doc_name = name(p, &e, "name", true)?;
    let label = translated(p, &e, "label", true, l).map(|s| s.v).unwrap_or_else(|| Text::same(humanise(&doc_name.v)));
    let hint = translated(p, &e, "hint", false, l).map(|s| s.v);
    let required = flag(p, &e, "required").is_some_and(|f| f.v);
    let mut accept = Vec::new();
    match texts(p, &e, "accept", true) {
        None if !e.has("accept") => p.error(
            e.pos,
            format!("{} needs `accept`, the list of accepted file types ({})", e.what, CONTENT_TYPES.join(", ")),
        ),
        None => {}
        Some((pos, types)) => {
            for t in types {
                if !CONTENT_TYPES.contains(&t.v.as_str()) {
                    p.error(
                        t.pos,
                        format!("unknown content type `{}`; accepted types are {}", t.v, CONTENT_TYPES.join(", ")),
                    );
                } else if !accept.contains(&t.v) {
                    accept.push(t.v);
                }
            }
            if accept.is_empty() && e.get("accept").is_some_and(|n| matches!(&n.value, Value::Seq(s) if s.is_empty())) {
                p.error(pos, "`accept` must list at least one file type");
            }
        }
    }
    let max_size = match e.get("max_size") {
        None => {
            p.error(e.pos, format!("{} needs `max_size`, e.g. `5MB`", e.what));
            0
        }
        Some(node) => {
            let text = match &node.value {
                Value::Int(i) => Some(i.to_string()),
                Value::Str(s) => Some(s.clone()),
                _ => None,
            };
            match text.map(|t| parse_size(&t)) {
                Some(Ok(bytes)) => bytes,
                Some(Err(msg)) => {
                    p.error(node.pos, format!("invalid `max_size`: {msg}"));
                    0
                }
                None => {
                    p.error(node.pos, format!("`max_size` must be a size like `5MB`, found {}", node.kind()));
                    0
                }
            }
        }
    };
    Some((DocumentDef { name: doc_name.v, label, hint, required, accept, max_size, pos: node.pos }, doc_name.pos))
}

// ---------------------------------------------------------------------------------------------
// States

const STATE_KEYS: &[&str] = &[
    "label",
    "public",
    "next_steps",
    "owner",
    "initial",
    "terminal",
    "deadline",
    "pauses_clock",
    "on_deadline",
    "remind",
    "escalate",
    "readers",
];

fn decode_state(p: &mut Problems, state_name: &Sp<String>, node: &Node, l: &[Lang]) -> Option<(StateDef, StateMap)> {
    let e = entries(p, node, format!("state `{}`", state_name.v), STATE_KEYS)?;
    let mut m = StateMap { name: state_name.pos, ..StateMap::default() };
    // A state without a `label` shows its name in words, as it is, in every language.
    let label =
        translated(p, &e, "label", false, l).map(|s| s.v).unwrap_or_else(|| Text::same(humanise(&state_name.v)));
    let public = translated(p, &e, "public", false, l).map(|s| s.v).unwrap_or_else(|| label.clone());
    let next_steps = translated(p, &e, "next_steps", false, l).map(|s| s.v);
    let owner = name(p, &e, "owner", false).map(|o| {
        m.owner = o.pos;
        o.v
    });
    let initial = flag(p, &e, "initial").inspect(|f| m.initial = f.pos).is_some_and(|f| f.v);
    let terminal = flag(p, &e, "terminal").inspect(|f| m.terminal = f.pos).is_some_and(|f| f.v);
    let pauses_clock = flag(p, &e, "pauses_clock").inspect(|f| m.pauses_clock = f.pos).is_some_and(|f| f.v);
    m.deadline_given = e.has("deadline");
    let deadline = duration(p, &e, "deadline", false).map(|d| {
        m.deadline = d.pos;
        d.v
    });
    let on_deadline = name(p, &e, "on_deadline", false).map(|a| {
        m.on_deadline = a.pos;
        a.v
    });

    let mut remind = Vec::new();
    if let Some((pos, items)) = list(p, &e, "remind", false) {
        m.remind_key = pos;
        for item in items {
            let Some(re) = entries(p, item, "a reminder", &["before_deadline", "to", "template"]) else { continue };
            let before = duration(p, &re, "before_deadline", true);
            let to = who(p, &re, "to");
            let tpl = template(p, &re, true);
            if let (Some(before), Some(to), Some(tpl)) = (before, to, tpl) {
                m.remind.push((to.pos, tpl.pos));
                remind.push(Reminder { before_deadline: before.v, to: recipient(&to.v), template: tpl.v });
            }
        }
    }
    let readers = role_list(p, &e, "readers").map(|roles| {
        m.readers = roles.iter().map(|r| r.pos).collect();
        roles.into_iter().map(|r| Role::from(r.v)).collect()
    });
    let mut escalate = None;
    if let Some(node) = e.get("escalate") {
        m.escalate_key = e.key_pos("escalate");
        if let Some(ee) = entries(p, node, "the escalation", &["after_deadline", "to", "template"]) {
            let after = duration(p, &ee, "after_deadline", true);
            let to = who(p, &ee, "to");
            let tpl = template(p, &ee, true);
            if let (Some(after), Some(to), Some(tpl)) = (after, to, tpl) {
                m.escalate = (to.pos, tpl.pos);
                escalate = Some(Escalation { after_deadline: after.v, to: recipient(&to.v), template: tpl.v });
            }
        }
    }

    Some((
        StateDef {
            name: state_name.v.clone(),
            label,
            owner: owner.map(Role::from),
            initial,
            terminal,
            public,
            next_steps,
            deadline,
            pauses_clock,
            on_deadline,
            remind,
            escalate,
            readers,
            pos: state_name.pos,
        },
        m,
    ))
}

// ---------------------------------------------------------------------------------------------
// Transitions

const TRANSITION_KEYS: &[&str] = &[
    "action",
    "label",
    "from",
    "to",
    "by",
    "requires",
    "four_eyes",
    "comment",
    "reason",
    "outcome",
    "comment_to_applicant",
    "reason_codes",
    "next_steps",
    "fields",
];

fn decode_transition(p: &mut Problems, node: &Node, l: &[Lang]) -> Option<(TransitionDef, TransitionMap)> {
    let e = entries(p, node, describe(node, "action", "transition"), TRANSITION_KEYS)?;
    let action = name(p, &e, "action", true)?;
    let mut m = TransitionMap { action: action.pos, ..TransitionMap::default() };
    let label = translated(p, &e, "label", false, l).map(|s| s.v).unwrap_or_else(|| Text::same(humanise(&action.v)));

    let mut complete = true;
    let mut from = Vec::new();
    match texts(p, &e, "from", true) {
        None => {
            if !e.has("from") {
                p.error(e.pos, format!("{} needs `from`, the state or list of states it leaves", e.what));
            }
            complete = false;
        }
        Some((pos, states)) => {
            if states.is_empty() {
                p.error(pos, "`from` must name at least one state");
                complete = false;
            }
            for s in states {
                if !check_name(p, &s, "state") {
                    complete = false;
                    continue;
                }
                if from.contains(&s.v) {
                    p.error(s.pos, format!("state `{}` is listed twice in `from`", s.v));
                    continue;
                }
                m.from.push(s.pos);
                from.push(s.v);
            }
        }
    }
    let to = match text(p, &e, "to", true) {
        None => None,
        Some(t) if t.v == "$return" => {
            m.to = t.pos;
            Some(Target::Return)
        }
        Some(t) => {
            m.to = t.pos;
            check_name(p, &t, "state").then_some(Target::State(t.v))
        }
    };
    let by = name(p, &e, "by", true).map(|b| {
        m.by = b.pos;
        b.v
    });

    let (mut requires_fields, mut requires_documents) = (false, false);
    if let Some((_, reqs)) = texts(p, &e, "requires", true) {
        for r in reqs {
            match r.v.as_str() {
                "fields" => requires_fields = true,
                "documents" => requires_documents = true,
                other => p.error(
                    r.pos,
                    format!("`requires` lists `fields` (every required field filled) and `documents` (every required document uploaded), not `{other}`"),
                ),
            }
        }
    }
    let four_eyes = flag(p, &e, "four_eyes").inspect(|f| m.four_eyes = f.pos).is_some_and(|f| f.v);
    let mut need = |key: &str, pos: &mut Pos| -> Need {
        match text(p, &e, key, false) {
            None => Need::None,
            Some(s) => {
                *pos = s.pos;
                match s.v.as_str() {
                    "required" => Need::Required,
                    "optional" => Need::Optional,
                    other => {
                        p.error(s.pos, format!("`{key}` must be `required` or `optional`, not `{other}`"));
                        Need::None
                    }
                }
            }
        }
    };
    let comment = need("comment", &mut m.comment);
    let reason = need("reason", &mut m.reason);
    let outcome = name(p, &e, "outcome", false).map(|o| o.v);
    let comment_to_applicant = flag(p, &e, "comment_to_applicant").map(|f| {
        m.comment_to_applicant = f.pos;
        f.v
    });
    let mut reason_codes: Vec<String> = Vec::new();
    if let Some((_, codes)) = texts(p, &e, "reason_codes", false) {
        for c in codes {
            if !check_name(p, &c, "reason code") {
                continue;
            }
            if reason_codes.contains(&c.v) {
                p.error(c.pos, format!("reason code `{}` is listed twice in `reason_codes`", c.v));
                continue;
            }
            m.reason_codes.push(c.pos);
            reason_codes.push(c.v);
        }
    }
    let next_steps = translated(p, &e, "next_steps", false, l).map(|s| s.v);
    // The same field language as the workflow's own `fields:`; no passport or sensitive
    // marks, which describe the applicant's data.
    let mut fields: Vec<FieldDef> = Vec::new();
    if let Some((_, items)) = list(p, &e, "fields", false) {
        for item in items {
            if let Some((field, name_pos, passport_pos, _)) = decode_field(p, item, l) {
                if fields.iter().any(|f| f.name == field.name) {
                    p.error(name_pos, format!("field `{}` is declared twice", field.name));
                    continue;
                }
                if field.sensitive || !field.visible_to.is_empty() {
                    p.error(
                        passport_pos,
                        "a transition's fields are the official's entries: no `passport`, `sensitive` or `visible_to`",
                    );
                }
                fields.push(field);
            }
        }
        check_after(p, &fields);
    }

    if !complete {
        return None;
    }
    let (to, by) = (to?, by?);
    Some((
        TransitionDef {
            action: action.v,
            label,
            from,
            to,
            by: by.into(),
            requires_fields,
            requires_documents,
            four_eyes,
            comment,
            reason,
            outcome,
            comment_to_applicant,
            reason_codes,
            next_steps,
            fields,
            pos: node.pos,
        },
        m,
    ))
}

// ---------------------------------------------------------------------------------------------
// Notifications, schedules, webhooks

fn decode_notify(p: &mut Problems, node: &Node) -> Option<(NotifyRule, RuleMap)> {
    let e = entries(p, node, "a notify rule", &["on", "email", "template"])?;
    let on = trigger(p, &e);
    let to = who(p, &e, "email");
    let tpl = template(p, &e, true);
    let (on, to, tpl) = (on?, to?, tpl?);
    Some((
        NotifyRule { on: on.v, email: recipient(&to.v), template: tpl.v, pos: node.pos },
        RuleMap { on: on.pos, to: to.pos, template: tpl.pos, ..RuleMap::default() },
    ))
}

fn decode_schedule(p: &mut Problems, node: &Node) -> Option<(ScheduleDef, RuleMap)> {
    let e = entries(p, node, "a schedule", &["name", "cron", "timezone", "to", "template"])?;
    let e = Entries { what: text_of(node, "name").map_or(e.what.clone(), |n| format!("schedule `{n}`")), ..e };
    let sched_name = text(p, &e, "name", true);
    let cron = text(p, &e, "cron", true).filter(|c| match check_cron(&c.v) {
        Ok(()) => true,
        Err(msg) => {
            p.error(c.pos, format!("invalid `cron`: {msg}"));
            false
        }
    });
    let tz = text(p, &e, "timezone", true).filter(|t| match t.v.parse::<chrono_tz::Tz>() {
        Ok(_) => true,
        Err(_) => {
            p.error(t.pos, format!("unknown time zone `{}`; use a name such as Asia/Qatar or Asia/Karachi", t.v));
            false
        }
    });
    let to = who(p, &e, "to");
    let tpl = template(p, &e, true);
    let (sched_name, cron, tz, to, tpl) = (sched_name?, cron?, tz?, to?, tpl?);
    Some((
        ScheduleDef {
            name: sched_name.v,
            cron: cron.v,
            timezone: tz.v,
            to: recipient(&to.v),
            template: tpl.v,
            pos: node.pos,
        },
        RuleMap { on: cron.pos, to: to.pos, template: tpl.pos, ..RuleMap::default() },
    ))
}

fn decode_webhook(p: &mut Problems, node: &Node) -> Option<(WebhookDef, RuleMap)> {
    let e = entries(p, node, "a webhook", &["on", "url", "secret"])?;
    let on = trigger(p, &e);
    let url = text(p, &e, "url", true).filter(|u| {
        let ok = is_env_ref(&u.v) || is_http_url(&u.v);
        if !ok {
            p.error(u.pos, format!("`url` must be an http(s) URL or `env:NAME`, not `{}`", u.v));
        }
        ok
    });
    let secret = match text(p, &e, "secret", false) {
        Some(s) if is_env_ref(&s.v) => Some(s.v),
        Some(s) => {
            p.error(s.pos, "`secret` must name an environment variable, `env:NAME`: never write a secret in the file");
            return None;
        }
        None => None,
    };
    let (on, url) = (on?, url?);
    Some((
        WebhookDef { on: on.v, url: url.v, secret, pos: node.pos },
        RuleMap { on: on.pos, url: url.pos, ..RuleMap::default() },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5 working days"), Ok(Duration { amount: 5, unit: DurationUnit::WorkingDays }));
        assert_eq!(parse_duration("1 working day"), Ok(Duration { amount: 1, unit: DurationUnit::WorkingDays }));
        assert_eq!(parse_duration("30 days"), Ok(Duration { amount: 30, unit: DurationUnit::Days }));
        assert_eq!(parse_duration("48  Hours"), Ok(Duration { amount: 48, unit: DurationUnit::Hours }));
        assert!(parse_duration("five days").is_err());
        assert!(parse_duration("5 workdays").is_err());
        assert!(parse_duration("0 days").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-3 days").is_err());
        assert!(parse_duration("99999999999 days").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5MB"), Ok(5 * 1024 * 1024));
        assert_eq!(parse_size("500 KB"), Ok(500 * 1024));
        assert_eq!(parse_size("1048576"), Ok(1048576));
        assert!(parse_size("5 XB").is_err());
        assert!(parse_size("MB").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("99999999999999999999GB").is_err());
        assert!(parse_size("2GB").is_err());
    }

    #[test]
    fn cron_expressions() {
        assert!(check_cron("0 8 * * SUN").is_ok());
        assert!(check_cron("30 7 1 * *").is_ok());
        assert!(check_cron("0 8 * * SUN-THU").is_ok());
        assert!(check_cron("0 8 * *").is_err());
        assert!(check_cron("0 25 * * *").is_err());
        assert!(check_cron("0 8 * * 1-5").unwrap_err().contains("by name"));
        assert!(check_cron("0 0 8 * * SUN").is_err());
    }

    #[test]
    fn names_and_references() {
        assert!(is_name("ministry_review"));
        assert!(!is_name("Ministry"));
        assert!(!is_name("1st"));
        assert!(!is_name(""));
        assert!(is_env_ref("env:EMBASSY_WEBHOOK_URL"));
        assert!(!is_env_ref("env:"));
        assert!(!is_env_ref("env:lower"));
        assert!(is_http_url("https://embassy.example/hook"));
        assert!(!is_http_url("ftp://x"));
        assert!(!is_http_url("https://"));
        assert!(!is_file_name("../etc/passwd"));
        assert!(is_file_name("decision-granted"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("requried", FIELD_KEYS), "; did you mean `required`?");
        assert!(suggest("zzz", &["a", "b"]).starts_with("; expected one of"));
    }
}
