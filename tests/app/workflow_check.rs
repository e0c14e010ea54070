//! Workflow files, black box: the shipped workflows are valid, each file of the broken corpus
//! is refused with the expected message at the expected line and column, and `corridor
//! check` / `corridor graph` behave as DESIGN.md section 3 says.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use corridor_engine::workflow::{self, Diagnostic, LintContext, graph};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's e-mail templates and a calendars folder of our own holding `qatar.toml`,
/// so that these tests do not depend on the shipped calendars.
struct Ctx {
    _dir: tempfile::TempDir,
    ctx: LintContext,
}

fn ctx() -> Ctx {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("qatar.toml"), "# test calendar\n").expect("write calendar");
    let ctx = LintContext {
        templates_dir: repo().join("config/templates/email"),
        calendars_dir: dir.path().to_path_buf(),
        languages: corridor_engine::lang::LANGS.to_vec(),
    };
    Ctx { _dir: dir, ctx }
}

fn broken(name: &str) -> PathBuf {
    repo().join("tests/workflows/broken").join(format!("{name}.yaml"))
}

fn check_file(path: &Path, c: &Ctx) -> Result<workflow::Workflow, Vec<Diagnostic>> {
    let source = std::fs::read_to_string(path).expect("read workflow file");
    workflow::parse_workflow(path, &source, &c.ctx)
}

fn corridor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_corridor")).args(args).current_dir(repo()).output().expect("run corridor")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Each broken file, and every problem it must yield: line, column, part of the message.
/// Exactly these problems, no more: a mistake must not drown in consequences of itself.
const CORPUS: &[(&str, &[(u32, u32, &str)])] = &[
    ("syntax-error", &[(8, 7, "YAML syntax:")]),
    ("unknown-key", &[(12, 5, "unknown key `requried` in field `passport_number`; did you mean `required`?")]),
    (
        "unknown-state-in-transition",
        &[(25, 39, "unknown state `reveiw` in `to` of transition `submit`; did you mean `review`?")],
    ),
    ("unknown-role", &[(26, 55, "unknown role `embassy_officer` in `by` of transition `approve`")]),
    ("unknown-owner", &[(20, 19, "unknown role `ministry_reveiwer` as owner of state `review`")]),
    ("unknown-state-in-notify", &[(31, 10, "unknown state `aproved` in `on`")]),
    ("no-initial-state", &[(18, 1, "no initial state")]),
    ("several-initial-states", &[(20, 21, "several initial states (`draft`, `review`)")]),
    ("unreachable-state", &[(24, 3, "state `archived` cannot be reached from the initial state `draft`")]),
    ("dead-end", &[(22, 3, "state `approved` is a dead end: it is not terminal and no transition leaves it")]),
    ("terminal-with-exit", &[(29, 28, "terminal state `approved` has an exit: transition `reopen` leaves it")]),
    ("duplicate-action", &[(28, 29, "action `approve` is already open from state `review` (line 26)")]),
    ("invalid-regex", &[(13, 14, "invalid pattern `^[A-Z]{2}([0-9]{7}$`: unclosed group")]),
    ("invalid-duration", &[(20, 48, "invalid `deadline`: `5 workdays` is not a duration")]),
    ("invalid-cron", &[(33, 33, "invalid `cron`: `0 8 * *` has 4 fields")]),
    ("numeric-weekday", &[(33, 33, "write days of the week by name")]),
    ("invalid-timezone", &[(33, 58, "unknown time zone `Qatar/Doha`")]),
    ("missing-template", &[(31, 54, "template `approval_letter` does not exist")]),
    ("missing-calendar", &[(5, 11, "calendar `atlantis` does not exist")]),
    ("on-deadline-not-open", &[(21, 92, "`on_deadline: expire` is not an action open in state `more_information`")]),
    ("review-without-deadline", &[(20, 3, "review state `review` (owner `ministry_reviewer`) has no `deadline`")]),
    ("duplicate-field", &[(16, 12, "field `passport_number` is declared twice")]),
    ("duplicate-state", &[(24, 3, "state `review` is declared twice")]),
    ("example-mismatch", &[(15, 14, "example `A1234567` is not a valid value for field `passport_number`")]),
    ("not-a-boolean", &[(12, 15, "`required` must be true or false, found `yes`")]),
    ("secret-in-file", &[(33, 71, "`secret` must name an environment variable")]),
    ("choice-without-options", &[(16, 5, "field `purpose` is a choice: it needs `options`")]),
    (
        "unknown-reader",
        &[
            (9, 11, "unknown role `embassy_officer` in `look_up`"),
            (17, 18, "unknown role `security_oficer` in `visible_to` of field `passport_number`"),
            (23, 136, "`applicant` in `readers` of state `review`: the firm always reads its own applications"),
            (29, 113, "transition `approve` takes no comment: `comment_to_applicant` needs"),
        ],
    ),
    (
        "three-mistakes",
        &[
            (12, 5, "unknown key `requried` in field `passport_number`"),
            (21, 50, "invalid `deadline`: `thirty days` is not a duration"),
            (25, 39, "unknown state `reveiw` in `to` of transition `submit`"),
        ],
    ),
];

// ---------------------------------------------------------------------------------------------
// Through the library

#[test]
fn shipped_workflows_are_valid() {
    let c = ctx();
    let (workflows, problems) = workflow::check_paths(&[repo().join("workflows")], &c.ctx);
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{shown:#?}");
    let mut ids: Vec<&str> = workflows.iter().map(|w| w.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["it-business-visa", "market-access"]);
}

#[test]
fn the_test_base_workflow_is_valid() {
    let c = ctx();
    let w = check_file(&repo().join("tests/workflows/valid/minimal.yaml"), &c).expect("valid");
    assert_eq!(w.id, "minimal");
}

#[test]
fn every_broken_file_is_in_the_table() {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("tests/workflows/broken"))
        .expect("read corpus")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".yaml")).map(str::to_string))
        .collect();
    files.sort();
    let mut listed: Vec<String> = CORPUS.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "every file of tests/workflows/broken needs an entry in CORPUS");
    assert!(files.len() >= 15);
}

#[test]
fn each_broken_file_reports_its_mistake_at_its_line() {
    let c = ctx();
    let mut failures = Vec::new();
    for (name, expected) in CORPUS {
        let path = broken(name);
        let got = match check_file(&path, &c) {
            Ok(_) => {
                failures.push(format!("{name}: accepted, but it is broken"));
                continue;
            }
            Err(d) => d,
        };
        for (line, column, message) in *expected {
            let found = got.iter().any(|d| d.line == *line && d.column == *column && d.message.contains(message));
            if !found {
                failures.push(format!("{name}: expected {line}:{column} {message:?}, got {got:#?}"));
            }
        }
        if got.len() != expected.len() {
            failures.push(format!("{name}: expected {} problem(s), got {got:#?}", expected.len()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn three_mistakes_are_all_reported_as_path_line_column() {
    let c = ctx();
    let path = broken("three-mistakes");
    let lines: Vec<String> = check_file(&path, &c).expect_err("broken").iter().map(ToString::to_string).collect();
    let p = path.display();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with(&format!("{p}:12:5: error: unknown key `requried`")), "{lines:#?}");
    assert!(lines[1].starts_with(&format!("{p}:21:50: error: invalid `deadline`")), "{lines:#?}");
    assert!(lines[2].starts_with(&format!("{p}:25:39: error: unknown state `reveiw`")), "{lines:#?}");
}

#[test]
fn checking_a_folder_reports_every_broken_file() {
    let c = ctx();
    let (workflows, problems) = workflow::check_paths(&[repo().join("tests/workflows/broken")], &c.ctx);
    assert!(workflows.is_empty());
    for (name, _) in CORPUS {
        let file = format!("{name}.yaml");
        assert!(
            problems.iter().any(|d| d.path.file_name().and_then(|f| f.to_str()) == Some(file.as_str())),
            "{file} missing from the report"
        );
    }
}

#[test]
fn two_files_with_the_same_id_and_version_are_refused() {
    let c = ctx();
    let dir = tempfile::tempdir().expect("temp dir");
    let base = std::fs::read_to_string(repo().join("tests/workflows/valid/minimal.yaml")).expect("read");
    std::fs::write(dir.path().join("a.yaml"), &base).expect("write");
    std::fs::write(dir.path().join("b.yml"), base.replace("en: Minimal test workflow", "en: Changed test workflow"))
        .expect("write");
    let (workflows, problems) = workflow::check_paths(&[dir.path().to_path_buf()], &c.ctx);
    assert_eq!(workflows.len(), 1);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].path.ends_with("b.yml"));
    assert_eq!((problems[0].line, problems[0].column), (2, 11));
    assert!(problems[0].message.contains("workflow `minimal` version 1 is also declared in"), "{problems:#?}");

    // A new version of the same workflow is fine.
    std::fs::write(dir.path().join("b.yml"), base.replace("version: 1", "version: 2")).expect("write");
    let (workflows, problems) = workflow::check_paths(&[dir.path().to_path_buf()], &c.ctx);
    assert_eq!((workflows.len(), problems.len()), (2, 0), "{problems:#?}");
}

#[test]
fn a_missing_path_is_a_problem_not_a_panic() {
    let c = ctx();
    let (_, problems) = workflow::check_paths(&[repo().join("tests/workflows/no-such-file.yaml")], &c.ctx);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].to_string().contains(":1:1: error: cannot read file"), "{problems:#?}");
}

#[test]
fn content_hash_is_the_sha256_of_the_file() {
    let c = ctx();
    let path = repo().join("tests/workflows/valid/minimal.yaml");
    let w = check_file(&path, &c).expect("valid");
    assert_eq!(w.content_hash.len(), 64);
    let changed = std::fs::read_to_string(&path).expect("read").replace("Minimal test", "Minimal trial");
    let w2 = workflow::parse_workflow(&path, &changed, &c.ctx).expect("valid");
    assert_ne!(w.content_hash, w2.content_hash);
}

#[test]
fn mermaid_diagram_has_the_visa_route() {
    let c = ctx();
    let w = check_file(&repo().join("workflows/it-business-visa.yaml"), &c).expect("valid");
    let m = graph::mermaid(&w);
    for edge in [
        "stateDiagram-v2",
        "[*] --> draft",
        "draft --> ministry_review: submit (applicant)",
        "ministry_review --> ministry_approval: verify_firm (ministry_reviewer)",
        "ministry_approval --> security_clearance: approve (ministry_reviewer)",
        "security_clearance --> embassy_decision: clear (security_officer)",
        "embassy_decision --> visa_issued: issue_visa (embassy_officer)",
        "security_clearance --> more_information: request_information (security_officer)",
        "more_information --> security_clearance: respond (applicant, back)",
        "more_information --> lapsed: lapse (system)",
        "visa_issued --> [*]",
    ] {
        assert!(m.contains(edge), "missing {edge:?} in\n{m}");
    }
}

#[test]
fn dot_diagram_has_the_market_access_route() {
    let c = ctx();
    let w = check_file(&repo().join("workflows/market-access.yaml"), &c).expect("valid");
    let d = graph::dot(&w);
    assert!(d.starts_with("digraph \"market-access\" {"), "{d}");
    for edge in [
        "\"draft\" -> \"eligibility_check\" [label=\"submit\\n(applicant)\"]",
        "\"ministry_no_objection\" -> \"licensing_review\"",
        "\"licensing_review\" -> \"licence_granted\"",
        "\"more_information\" -> \"licensing_review\" [label=\"respond\\n(applicant)\", style=dashed]",
    ] {
        assert!(d.contains(edge), "missing {edge:?} in\n{d}");
    }
    assert!(d.trim_end().ends_with('}'));
}

// ---------------------------------------------------------------------------------------------
// Through the binary (run from the repository root, with its config/)

#[test]
fn cli_check_accepts_the_shipped_workflows() {
    let out = corridor(&["check"]);
    assert!(
        out.status.success(),
        "exit {:?}\n{}{}",
        out.status.code(),
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout(&out).contains("error:"), "{}", stdout(&out));
}

#[test]
fn cli_check_prints_all_three_mistakes() {
    let out = corridor(&["check", "tests/workflows/broken/three-mistakes.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let p = "tests/workflows/broken/three-mistakes.yaml";
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with(&format!("{p}:12:5: error: unknown key `requried`")), "{text}");
    assert!(lines[1].starts_with(&format!("{p}:21:50: error: invalid `deadline`")), "{text}");
    assert!(lines[2].starts_with(&format!("{p}:25:39: error: unknown state `reveiw`")), "{text}");
}

#[test]
fn cli_check_reports_each_broken_file_with_its_line() {
    let out = corridor(&["check", "tests/workflows/broken"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    for (name, expected) in CORPUS {
        for (line, column, message) in *expected {
            let prefix = format!("tests/workflows/broken/{name}.yaml:{line}:{column}: error: ");
            assert!(
                text.lines().any(|l| l.starts_with(&prefix) && l.contains(message)),
                "missing {prefix}{message} in\n{text}"
            );
        }
    }
}

#[test]
fn cli_check_exits_1_on_a_mix_of_good_and_bad() {
    let out = corridor(&["check", "workflows", "tests/workflows/broken/dead-end.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_eq!(text.lines().filter(|l| l.contains(": error: ")).count(), 1, "{text}");
}

#[test]
fn cli_graph_prints_mermaid_by_default() {
    let out = corridor(&["graph", "workflows/it-business-visa.yaml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.contains("stateDiagram-v2"), "{text}");
    assert!(text.contains("draft --> ministry_review: submit (applicant)"), "{text}");
    assert!(text.contains("more_information --> embassy_decision: respond (applicant, back)"), "{text}");
}

#[test]
fn cli_graph_prints_dot() {
    let out = corridor(&["graph", "workflows/market-access.yaml", "--format", "dot"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.starts_with("digraph \"market-access\""), "{text}");
    assert!(text.contains("\"eligibility_check\" -> \"ministry_no_objection\""), "{text}");
}

#[test]
fn cli_graph_refuses_a_broken_file() {
    let out = corridor(&["graph", "tests/workflows/broken/dead-end.yaml"]);
    assert!(!out.status.success());
}

#[test]
fn cli_check_warns_of_a_webhook_to_a_private_or_loopback_host_and_still_accepts_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let minimal = std::fs::read_to_string(repo().join("tests/workflows/valid/minimal.yaml")).unwrap();
    let hooks = "webhooks:\n  - {on: enter approved, url: \"http://127.0.0.1:9000/hook\", secret: env:HOOK_SECRET}\n  - {on: enter approved, url: \"http://169.254.169.254/latest\", secret: env:HOOK_SECRET}\n  - {on: enter approved, url: \"https://embassy.example/hook\", secret: env:HOOK_SECRET}\n";
    let text = format!("{}\n{hooks}", minimal.trim_end());
    let path = dir.path().join("hooks.yaml");
    std::fs::write(&path, &text).unwrap();
    let out = corridor(&["check", path.to_str().unwrap()]);
    let printed = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "warnings do not fail the check: {printed}");
    let warnings: Vec<&str> = printed.lines().filter(|l| l.contains(": warning: ")).collect();
    assert_eq!(warnings.len(), 2, "{printed}");
    let line = text.lines().position(|l| l.contains("127.0.0.1:9000")).unwrap() + 1;
    let column = text.lines().nth(line - 1).unwrap().find("\"http://127").unwrap() + 1;
    let expected = format!("{}:{line}:{column}: warning: ", path.display());
    assert!(warnings[0].starts_with(&expected), "{} does not start with {expected}", warnings[0]);
    assert!(warnings[0].contains("loopback") && warnings[0].contains("allow_private"), "{}", warnings[0]);
    assert!(warnings[1].contains("link-local"), "{}", warnings[1]);
    assert!(!printed.contains("error:"), "{printed}");
}

#[test]
fn check_warns_of_a_calendar_whose_holidays_end_within_180_days() {
    use chrono::Datelike;
    let dir = tempfile::tempdir().unwrap();
    let year = chrono::Utc::now().year();
    let calendar = |last_year: i32| {
        format!(
            "name = \"Qatar\"\ntimezone = \"Asia/Qatar\"\nweekend = [\"friday\", \"saturday\"]\n\
             holidays = [{{ date = {last_year}-12-18, name = \"Qatar National Day\" }}]\n"
        )
    };
    let calendars = dir.path().join("calendars");
    std::fs::create_dir(&calendars).unwrap();
    std::fs::write(calendars.join("qatar.toml"), calendar(year - 1)).unwrap();
    std::fs::write(calendars.join("later.toml"), calendar(year + 2)).unwrap();
    let ctx = LintContext {
        templates_dir: repo().join("config/templates/email"),
        calendars_dir: calendars,
        languages: corridor_engine::lang::LANGS.to_vec(),
    };
    let minimal_path = repo().join("tests/workflows/valid/minimal.yaml");
    let minimal = std::fs::read_to_string(&minimal_path).unwrap();

    let (loaded, problems) = workflow::check_paths(std::slice::from_ref(&minimal_path), &ctx);
    assert_eq!(loaded.len(), 1, "a warning does not reject the file: {problems:?}");
    assert_eq!(problems.len(), 1, "{problems:?}");
    let warning = &problems[0];
    assert!(!warning.is_error());
    let line = minimal.lines().position(|l| l.starts_with("calendar:")).unwrap() as u32 + 1;
    assert_eq!(warning.line, line, "{warning}");
    assert!(warning.message.contains(&format!("only until {}-12-31", year - 1)), "{warning}");

    let later = dir.path().join("later.yaml");
    std::fs::write(&later, minimal.replacen("calendar: qatar", "calendar: later", 1)).unwrap();
    let (_, problems) = workflow::check_paths(&[later], &ctx);
    assert!(problems.is_empty(), "a calendar known two years ahead is not warned of: {problems:?}");
}

#[test]
fn cli_check_reports_each_missing_or_plain_translation_at_its_position_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let minimal = std::fs::read_to_string(repo().join("tests/workflows/valid/minimal.yaml")).unwrap();
    // The field's label loses its Arabic; the document's label is a plain string; a state's
    // public label says `fr`; a refusal offers a reason code nobody declared.
    let text = minimal
        .replacen("label: {en: Passport number, ar: رقم جواز السفر, ur: پاسپورٹ نمبر}", "label: {en: Passport number, ur: پاسپورٹ نمبر}", 1)
        .replacen(
            "label: {en: Passport bio page, ar: صفحة البيانات في جواز السفر, ur: پاسپورٹ کا بائیو صفحہ}",
            "label: Passport bio page",
            1,
        )
        .replacen("public: {en: Approved, ar: تمت الموافقة, ur: منظور}", "public: {en: Approved, ar: تمت الموافقة, ur: منظور, fr: Approuvé}", 1)
        .replacen(
            "  - {action: approve, from: review, to: approved, by: ministry_reviewer, four_eyes: true}",
            "  - {action: approve, from: review, to: approved, by: ministry_reviewer, four_eyes: true, reason_codes: [made_up]}",
            1,
        );
    let path = dir.path().join("untranslated.yaml");
    std::fs::write(&path, &text).unwrap();
    let out = corridor(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let printed = stdout(&out);
    let errors: Vec<&str> = printed.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 4, "{printed}");
    let at = |needle: &str| {
        let line = text.lines().position(|l| l.contains(needle)).unwrap() + 1;
        let in_line = text.lines().nth(line - 1).unwrap();
        // Columns count characters, as the Arabic before them shows.
        let column = in_line[..in_line.find(needle).unwrap()].chars().count() + 1;
        format!("{}:{line}:{column}: error: ", path.display())
    };
    let expect = [
        (at("{en: Passport number, ur:"), "`label` of field `passport_number` has no ar wording"),
        (at("Passport bio page, required"), "`label` of document `passport_scan` is a plain text"),
        (at("fr: Approuvé"), "unknown language `fr` in `public` of state `approved`"),
        (at("made_up"), "unknown reason code `made_up` in `reason_codes` of transition `approve`"),
    ];
    for (prefix, message) in expect {
        assert!(
            errors.iter().any(|l| l.starts_with(&prefix) && l.contains(message)),
            "{prefix}{message} in\n{printed}"
        );
    }
    // The plain text names what is missing: every language the deployment enables.
    assert!(printed.contains("(missing en, ar, ur)"), "{printed}");
}
