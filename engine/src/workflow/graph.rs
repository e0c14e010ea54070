//! The workflow as a graph: its edges (with `$return` resolved to the states it can go back
//! to), and diagrams in Mermaid and Graphviz DOT.

use std::fmt::Write;

use super::model::*;

/// One possible move between two states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub action: &'a str,
    pub label: &'a crate::text::Text,
    pub by: &'a str,
    /// The transition goes back to the state the application came from (`to: $return`);
    /// this edge is one of the states it can return to.
    pub returns: bool,
}

/// The states a `$return` transition leaving `state` can go back to: every state that has a
/// transition into `state`.
pub fn return_targets<'a>(w: &'a Workflow, state: &str) -> Vec<&'a str> {
    let mut out: Vec<&'a str> = Vec::new();
    for t in &w.transitions {
        if t.to == Target::State(state.to_string()) {
            for f in &t.from {
                if f != state && !out.contains(&f.as_str()) {
                    out.push(f.as_str());
                }
            }
        }
    }
    out
}

/// Every edge of the workflow, in file order.
pub fn edges(w: &Workflow) -> Vec<Edge<'_>> {
    let mut out = Vec::new();
    for t in &w.transitions {
        for from in &t.from {
            match &t.to {
                Target::State(to) => {
                    out.push(Edge { from, to, action: &t.action, label: &t.label, by: &t.by, returns: false })
                }
                Target::Return => {
                    for to in return_targets(w, from) {
                        out.push(Edge { from, to, action: &t.action, label: &t.label, by: &t.by, returns: true });
                    }
                }
            }
        }
    }
    out
}

/// Mermaid `stateDiagram-v2`: paste into any Markdown renderer that knows Mermaid.
pub fn mermaid(w: &Workflow) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "---\ntitle: {} (version {})\n---", mermaid_text(w.title.en()), w.version);
    out.push_str("stateDiagram-v2\n");
    for s in &w.states {
        let _ = writeln!(out, "    state \"{}\" as {}", mermaid_text(s.label.en()), s.name);
    }
    for s in w.states.iter().filter(|s| s.initial) {
        let _ = writeln!(out, "    [*] --> {}", s.name);
    }
    for e in edges(w) {
        let back = if e.returns { ", back" } else { "" };
        let _ = writeln!(out, "    {} --> {}: {} ({}{})", e.from, e.to, e.action, e.by, back);
    }
    for s in w.states.iter().filter(|s| s.terminal) {
        let _ = writeln!(out, "    {} --> [*]", s.name);
    }
    for s in &w.states {
        let mut notes = Vec::new();
        if let Some(owner) = &s.owner {
            notes.push(format!("held by {owner}"));
        }
        if let Some(d) = &s.deadline {
            notes.push(format!("deadline {}", duration_text(d)));
        }
        if s.pauses_clock {
            notes.push("clock paused".to_string());
        }
        if let Some(a) = &s.on_deadline {
            notes.push(format!("then {a}"));
        }
        if !notes.is_empty() && !s.terminal {
            let _ = writeln!(out, "    note right of {}: {}", s.name, mermaid_text(&notes.join(", ")));
        }
    }
    out
}

/// Graphviz DOT: `corridor graph FILE --format dot | dot -Tsvg > workflow.svg`.
pub fn dot(w: &Workflow) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", dot_id(&w.id));
    let _ = writeln!(out, "  label={};", dot_id(&format!("{} (version {})", w.title.en(), w.version)));
    out.push_str("  labelloc=t;\n  rankdir=LR;\n");
    out.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for s in &w.states {
        let mut label = s.label.en().to_string();
        if let Some(owner) = &s.owner {
            label.push_str(&format!("\n({owner})"));
        }
        if let Some(d) = &s.deadline {
            label.push_str(&format!("\n{}", duration_text(d)));
        }
        let mut attrs = vec![format!("label={}", dot_id(&label))];
        if s.initial {
            attrs.push("style=\"rounded,bold\"".to_string());
        }
        if s.terminal {
            attrs.push("peripheries=2".to_string());
        }
        let _ = writeln!(out, "  {} [{}];", dot_id(&s.name), attrs.join(", "));
    }
    for e in edges(w) {
        let mut attrs = vec![format!("label={}", dot_id(&format!("{}\n({})", e.action, e.by)))];
        if e.returns {
            attrs.push("style=dashed".to_string());
        }
        let _ = writeln!(out, "  {} -> {} [{}];", dot_id(e.from), dot_id(e.to), attrs.join(", "));
    }
    out.push_str("}\n");
    out
}

pub(crate) fn duration_text(d: &Duration) -> String {
    let unit = match (d.unit, d.amount) {
        (DurationUnit::WorkingDays, 1) => "working day",
        (DurationUnit::WorkingDays, _) => "working days",
        (DurationUnit::Days, 1) => "day",
        (DurationUnit::Days, _) => "days",
        (DurationUnit::Hours, 1) => "hour",
        (DurationUnit::Hours, _) => "hours",
    };
    format!("{} {unit}", d.amount)
}

/// Text safe inside a Mermaid label: no quotes, colons, semicolons or line breaks.
fn mermaid_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => '\'',
            ':' | ';' => ',',
            '\n' | '\r' | '\t' => ' ',
            '#' => ' ',
            c => c,
        })
        .collect()
}

/// A quoted DOT identifier.
fn dot_id(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::workflow::{LintContext, parse_workflow};

    fn visa() -> (tempfile::TempDir, Workflow) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("qatar.toml"), "").expect("write");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let ctx = LintContext {
            templates_dir: root.join("config/templates/email"),
            calendars_dir: dir.path().to_path_buf(),
            languages: crate::lang::LANGS.to_vec(),
        };
        let path = root.join("workflows/it-business-visa.yaml");
        let source = std::fs::read_to_string(&path).expect("read");
        let w = parse_workflow(&path, &source, &ctx).expect("valid");
        (dir, w)
    }

    #[test]
    fn return_edges_lead_back_to_each_asking_stage() {
        let (_dir, w) = visa();
        let back: Vec<(&str, &str)> = edges(&w).into_iter().filter(|e| e.returns).map(|e| (e.from, e.to)).collect();
        assert_eq!(
            back,
            [
                ("more_information", "ministry_review"),
                ("more_information", "ministry_approval"),
                ("more_information", "security_clearance"),
                ("more_information", "embassy_decision"),
            ]
        );
    }

    #[test]
    fn diagrams_print_every_state_once() {
        let (_dir, w) = visa();
        let m = mermaid(&w);
        let d = dot(&w);
        for s in &w.states {
            assert_eq!(m.matches(&format!("as {}\n", s.name)).count(), 1, "{m}");
            assert_eq!(d.matches(&format!("  \"{}\" [label=", s.name)).count(), 1, "{d}");
        }
        assert!(d.contains("\"visa_issued\" [label=\"Visa issued\", peripheries=2]"), "{d}");
        assert!(m.contains("note right of ministry_review: held by ministry_reviewer, deadline 5 working days"), "{m}");
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(dot_id("say \"hi\"\\\nnow"), "\"say \\\"hi\\\"\\\\\\nnow\"");
        assert_eq!(mermaid_text("a: \"b\"; c\n#d"), "a, 'b', c  d");
    }
}
