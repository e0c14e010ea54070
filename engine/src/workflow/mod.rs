//! Workflow files: the checked model, the parser, the linter of meaning and diagrams.
//!
//! A file goes through three steps, and becomes a [`Workflow`] only if none finds a problem:
//! 1. `yaml`: YAML syntax, into a tree where every node keeps its line and column;
//! 2. `parse`: the shape of the language (known keys, types, values such as durations,
//!    patterns, cron expressions and examples), every problem at its own position;
//! 3. `lint`: the meaning (references between states, roles and actions, reachability,
//!    dead ends, deadlines, templates and calendars that must exist).
//!
//! Every problem of a file is reported at once, each as `path:line:column: error: message`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::lang::{LANGS, Lang};

pub mod graph;
mod lint;
pub mod model;
mod parse;
mod yaml;

pub use lint::CALENDAR_WARNING_DAYS;
pub use model::*;

/// Where the files that a workflow names live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintContext {
    /// E-mail templates, `NAME.LANG.txt` and `NAME.LANG.html` for every language:
    /// usually `config/templates/email`.
    pub templates_dir: PathBuf,
    /// Working-day calendars, `NAME.toml`: usually `config/calendars`.
    pub calendars_dir: PathBuf,
    /// The languages the deployment enables (`[i18n] languages`): every text a user reads
    /// must be written in each. English is always among them (the fallback).
    pub languages: Vec<Lang>,
}

impl LintContext {
    /// The usual layout under a configuration directory (`config/`).
    pub fn from_config_dir(config_dir: &Path) -> Self {
        LintContext {
            templates_dir: config_dir.join("templates").join("email"),
            calendars_dir: config_dir.join("calendars"),
            languages: LANGS.to_vec(),
        }
    }
}

/// An error rejects the file; a warning is shown by `corridor check` and the file still loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a workflow file, at the line and column (1-based) of the node at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub severity: Severity,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}:{}: {severity}: {}", self.path.display(), self.line, self.column, self.message)
    }
}

/// A problem found by the parser or the linter, before the file's path is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub pos: Pos,
    pub message: String,
    pub severity: Severity,
}

/// Collects the problems of one file.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        // A position of 0 means "unknown" (serde-saphyr cannot always tell); point at the
        // start of the file rather than at a line that does not exist.
        let pos = if pos.line == 0 { Pos { line: 1, column: 1 } } else { pos };
        self.0.push(Problem { pos, message: message.into(), severity: Severity::Error });
    }

    /// Something worth a look that does not make the file invalid.
    pub fn warning(&mut self, pos: Pos, message: impl Into<String>) {
        let pos = if pos.line == 0 { Pos { line: 1, column: 1 } } else { pos };
        self.0.push(Problem { pos, message: message.into(), severity: Severity::Warning });
    }

    /// No errors (warnings may be there).
    pub fn is_empty(&self) -> bool {
        !self.0.iter().any(|p| p.severity == Severity::Error)
    }

    fn into_diagnostics(self, path: &Path) -> Vec<Diagnostic> {
        let mut problems = self.0;
        problems.sort_by_key(|p| (p.pos.line, p.pos.column));
        problems.dedup();
        problems
            .into_iter()
            .map(|p| Diagnostic {
                path: path.to_path_buf(),
                line: p.pos.line,
                column: p.pos.column,
                message: p.message,
                severity: p.severity,
            })
            .collect()
    }
}

/// Parse and check one workflow file. `path` is used in messages only; `source` is the
/// file's text. Either the checked workflow, or every problem found, sorted by position.
pub fn parse_workflow(path: &Path, source: &str, ctx: &LintContext) -> Result<Workflow, Vec<Diagnostic>> {
    parse_with_position(path, source, ctx).map(|(w, _, _)| w)
}

/// As [`parse_workflow`], also giving the position of the workflow's id (for messages about
/// the file as a whole) and the warnings of a valid file.
fn parse_with_position(
    path: &Path,
    source: &str,
    ctx: &LintContext,
) -> Result<(Workflow, Pos, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut problems = Problems::default();
    let tree = match yaml::load(source) {
        Ok(tree) => tree,
        Err(e) => {
            problems.error(e.pos, e.message);
            return Err(problems.into_diagnostics(path));
        }
    };
    let (workflow, map) = parse::decode(&tree, source, &ctx.languages, &mut problems);
    lint::check(&workflow, &map, ctx, &mut problems);
    if problems.is_empty() {
        Ok((workflow, map.id, problems.into_diagnostics(path)))
    } else {
        Err(problems.into_diagnostics(path))
    }
}

/// Check files or directories (every `*.yaml` / `*.yml` directly inside a directory, in name
/// order). Returns the valid workflows and every problem found (errors and warnings; a file
/// with warnings only is valid). Two files that declare the same workflow id and version are
/// an error.
pub fn check_paths(paths: &[PathBuf], ctx: &LintContext) -> (Vec<Workflow>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| {
                            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                        })
                        .collect();
                    found.sort();
                    files.extend(found);
                }
                Err(e) => diagnostics.push(file_problem(path, format!("cannot read directory: {e}"))),
            }
        } else {
            files.push(path.clone());
        }
    }

    let mut workflows: Vec<Workflow> = Vec::new();
    let mut seen: HashMap<(String, u32), PathBuf> = HashMap::new();
    for file in files {
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) => {
                diagnostics.push(file_problem(&file, format!("cannot read file: {e}")));
                continue;
            }
        };
        let Ok(source) = String::from_utf8(bytes) else {
            diagnostics.push(file_problem(&file, "the file is not UTF-8 text".to_string()));
            continue;
        };
        match parse_with_position(&file, &source, ctx) {
            Ok((workflow, id_pos, mut warnings)) => {
                diagnostics.append(&mut warnings);
                let key = (workflow.id.clone(), workflow.version);
                if let Some(first) = seen.get(&key) {
                    diagnostics.push(Diagnostic {
                        path: file.clone(),
                        line: id_pos.line.max(1),
                        column: id_pos.column.max(1),
                        message: format!(
                            "workflow `{}` version {} is also declared in {}; raise the version or change the id",
                            workflow.id,
                            workflow.version,
                            first.display()
                        ),
                        severity: Severity::Error,
                    });
                } else {
                    seen.insert(key, file.clone());
                    workflows.push(workflow);
                }
            }
            Err(mut d) => diagnostics.append(&mut d),
        }
    }
    (workflows, diagnostics)
}

fn file_problem(path: &Path, message: String) -> Diagnostic {
    Diagnostic { path: path.to_path_buf(), line: 1, column: 1, message, severity: Severity::Error }
}

/// "ministry_review" -> "Ministry review".
pub(crate) fn humanise(name: &str) -> String {
    let spaced = name.replace(['_', '-'], " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's templates and a calendars folder holding `qatar.toml`.
    fn ctx() -> (tempfile::TempDir, LintContext) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("qatar.toml"), "").expect("write calendar");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let ctx = LintContext {
            templates_dir: root.join("config/templates/email"),
            calendars_dir: dir.path().to_path_buf(),
            languages: LANGS.to_vec(),
        };
        (dir, ctx)
    }

    fn shipped(name: &str) -> (PathBuf, String) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows").join(name);
        let source = std::fs::read_to_string(&path).expect("read shipped workflow");
        (path, source)
    }

    fn problems(source: &str) -> Vec<String> {
        let (_dir, ctx) = ctx();
        match parse_workflow(Path::new("t.yaml"), source, &ctx) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn shipped_workflows_are_valid() {
        let (_dir, ctx) = ctx();
        for name in ["it-business-visa.yaml", "market-access.yaml"] {
            let (path, source) = shipped(name);
            match parse_workflow(&path, &source, &ctx) {
                Ok(w) => {
                    assert_eq!(w.initial_state().name, "draft");
                    assert_eq!(w.content_hash.len(), 64);
                }
                Err(d) => panic!("{name}:\n{}", d.iter().map(|d| d.to_string() + "\n").collect::<String>()),
            }
        }
    }

    #[test]
    fn visa_workflow_has_the_agreed_shape() {
        let (_dir, ctx) = ctx();
        let (path, source) = shipped("it-business-visa.yaml");
        let w = parse_workflow(&path, &source, &ctx).expect("valid");
        assert_eq!(w.reference_prefix, "QA-BV");
        assert_eq!(w.passport_field().map(|f| f.name.as_str()), Some("passport_number"));
        let respond = w.transition("more_information", "respond").expect("respond");
        assert_eq!(respond.to, Target::Return);
        let back = graph::return_targets(&w, "more_information");
        assert_eq!(back, ["ministry_review", "ministry_approval", "security_clearance", "embassy_decision"]);
        assert_eq!(w.state("more_information").and_then(|s| s.on_deadline.as_deref()), Some("lapse"));
        assert!(w.transition("ministry_approval", "approve").is_some_and(|t| t.four_eyes));
        for s in [
            "draft",
            "ministry_review",
            "ministry_approval",
            "security_clearance",
            "embassy_decision",
            "more_information",
        ] {
            assert!(w.transition(s, "withdraw").is_some(), "withdraw from {s}");
        }
        for f in &w.fields {
            assert!(!f.example.is_empty(), "{} has an example", f.name);
        }
    }

    #[test]
    fn diagnostic_display() {
        let d = Diagnostic {
            path: "w/x.yaml".into(),
            line: 3,
            column: 7,
            message: "bad".into(),
            severity: Severity::Error,
        };
        assert_eq!(d.to_string(), "w/x.yaml:3:7: error: bad");
    }

    #[test]
    fn syntax_error_is_one_diagnostic_with_position() {
        let p = problems("workflow: x\nstates: [a, b\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("t.yaml:"), "{p:?}");
        assert!(p[0].contains("YAML syntax"), "{p:?}");
    }

    #[test]
    fn empty_and_odd_documents_do_not_panic() {
        let deep = "[".repeat(10_000);
        for src in [
            "",
            "---\n",
            "[]",
            "42",
            "workflow:",
            "states: 3",
            "\u{feff}workflow: x",
            "a: *nope",
            "{{{{",
            &deep,
            "a: 1\n---\nb: 2\n",
        ] {
            let p = problems(src);
            assert!(!p.is_empty(), "{src:?} should be refused");
        }
    }

    /// Every prefix of a real file, and the file with any one line removed: refused or
    /// accepted, never a panic.
    #[test]
    fn mangled_files_do_not_panic() {
        let (_dir, ctx) = ctx();
        let (_, source) = shipped("it-business-visa.yaml");
        let mut end = 0;
        while end < source.len() {
            if source.is_char_boundary(end) {
                let _ = parse_workflow(Path::new("t.yaml"), &source[..end], &ctx);
            }
            end += 53;
        }
        let lines: Vec<&str> = source.lines().collect();
        for skip in 0..lines.len() {
            let text: String =
                lines.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, l)| format!("{l}\n")).collect();
            let _ = parse_workflow(Path::new("t.yaml"), &text, &ctx);
        }
    }

    #[test]
    fn humanised_labels() {
        assert_eq!(humanise("ministry_review"), "Ministry review");
        assert_eq!(humanise(""), "");
    }
}
