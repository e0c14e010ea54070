//! The staff pages over real HTTP on a real database: the review queue (stages of the role,
//! deadline order, urgency in words, filters and search), claim/release/reassign, the case
//! page (exactly the user's actions, four-eyes explained, stale versions, documents), the
//! embassy's look-up and decision letter; and the refusals: forms without their token change
//! nothing, scripts in fields are text, a firm gets "not found" for another firm's case.

use crate::support::{self, Backend, TestApp};
use chrono::{Duration, TimeZone, Utc};
use corridor_engine::store::{Reference, User};
use corridor_engine::transition::TransitionRequest;

const WF: &str = "it-business-visa";

/// A complete application made and submitted by `firm` through the engine; its reference.
async fn submitted(app: &TestApp, firm: &User) -> Reference {
    let reference = app.complete_draft(firm, WF).await;
    take(app, firm, &reference, "submit", None, None).await;
    reference
}

/// The same, for an employee of another name.
async fn submitted_for(app: &TestApp, firm: &User, employee: &str) -> Reference {
    let reference = app.complete_draft(firm, WF).await;
    let actor = app.actor(firm);
    let version = app.engine.application(&actor, &reference).await.expect("read").record.version;
    let mut name = serde_json::Map::new();
    name.insert("employee_full_name".into(), employee.into());
    app.engine.update_fields(&actor, &reference, version, &name).await.expect("rename");
    take(app, firm, &reference, "submit", None, None).await;
    reference
}

async fn take(
    app: &TestApp,
    who: &User,
    reference: &Reference,
    action: &str,
    comment: Option<&str>,
    reason: Option<&str>,
) {
    let actor = app.actor(who);
    let view = app.engine.application(&actor, reference).await.expect("read");
    let version = view.record.version;
    // A refusal names one of its declared reasons with its free text.
    let reason_code =
        view.workflow.transition(&view.record.state, action).and_then(|t| t.reason_codes.first().cloned());
    app.engine
        .transition(
            &actor,
            reference,
            &TransitionRequest {
                reason_code: reason.and(reason_code),
                action: action.into(),
                expected_version: version,
                comment: comment.map(str::to_string),
                reason: reason.map(str::to_string),
                fields: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{action} on {reference}: {e}"));
}

/// The application as stored (what a test checks, whoever may read it through the pages).
async fn record(app: &TestApp, _who: &User, reference: &Reference) -> corridor_engine::store::ApplicationRecord {
    app.store.application_by_reference(reference).await.expect("read").expect("the application exists")
}

/// Monday 2 March 2026, 09:00 in Doha: a working day in Qatar.
fn monday_morning() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).single().expect("date")
}

struct Team {
    firm: User,
    reviewer: User,
    reviewer2: User,
    security: User,
    embassy: User,
}

async fn team(app: &TestApp) -> Team {
    Team {
        firm: app.user("ayesha@indus.example", "applicant", "Indus Software House").await,
        reviewer: app.user("fatima@moci.example", "ministry_reviewer", "Ministry of Commerce and Industry").await,
        reviewer2: app.user("omar@moci.example", "ministry_reviewer", "Ministry of Commerce and Industry").await,
        security: app.user("khalid@security.example", "security_officer", "State Security").await,
        embassy: app.user("noor@embassy.example", "embassy_officer", "Embassy of the State of Qatar").await,
    }
}

fn position(body: &str, needle: &str) -> usize {
    body.find(needle).unwrap_or_else(|| panic!("{needle} not on the page"))
}

#[tokio::test]
async fn the_queue_lists_the_roles_stages_nearest_deadline_first_with_urgency_in_words() {
    let app = support::spawn(Backend::Sqlite).await;
    let t = team(&app).await;
    // Submitted two weeks apart: by Sunday 8 March the oldest (due late February) is overdue,
    // the middle one (due Monday 9 March) is within its reminder window of one working day,
    // the newest (due Wednesday 11 March) is on time.
    app.clock.set(monday_morning() - Duration::days(14));
    let oldest = submitted(&app, &t.firm).await;
    app.clock.set(monday_morning());
    let middle = submitted(&app, &t.firm).await;
    app.clock.advance(Duration::days(2));
    let newest = submitted(&app, &t.firm).await;
    // A draft is never in a queue.
    let draft = app.complete_draft(&t.firm, WF).await;
    app.clock.set(monday_morning() + Duration::days(6) + Duration::hours(3));

    let http = app.signed_in("fatima@moci.example").await;
    let login_home = http.get("/").await;
    assert_eq!(login_home.location(), Some("/queue"), "staff land on their queue");
    let page = http.get("/queue").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (a, b, c) = (
        position(&page.body, oldest.as_str()),
        position(&page.body, middle.as_str()),
        position(&page.body, newest.as_str()),
    );
    assert!(a < b && b < c, "nearest deadline first");
    assert!(!page.body.contains(draft.as_str()), "drafts are not in the queue");
    assert!(page.body.contains("Overdue"), "overdue is said in words, not only colour");
    assert!(page.body.contains("Due soon"));
    assert!(page.body.contains("Ministry review (firm verification)"));
    // (Tera writes `/` in attributes as `&#x2F;`.)
    assert!(page.body.contains(r#"href="&#x2F;queue" aria-current="page""#), "the menu marks the queue");

    // Filters: the stage, the firm, a search by reference and by name.
    let other_firm = app.user("bilal@ravi.example", "applicant", "Ravi Systems").await;
    let ravi = submitted_for(&app, &other_firm, "Bilal Ahmed").await;
    let ravi_org = other_firm.organisation_id.to_string();
    let by_firm = http.get(&format!("/queue?firm={ravi_org}")).await;
    assert!(by_firm.body.contains(ravi.as_str()) && !by_firm.body.contains(oldest.as_str()), "firm filter");
    let by_stage = http.get("/queue?state=ministry_approval").await;
    assert!(!by_stage.body.contains(oldest.as_str()) && by_stage.body.contains("No case matches these filters"));
    let by_reference = http.get(&format!("/queue?q={}", middle.as_str().to_lowercase())).await;
    assert!(
        by_reference.body.contains(middle.as_str()) && !by_reference.body.contains(oldest.as_str()),
        "search by reference"
    );
    let by_name = http.get("/queue?q=ayesha").await;
    assert!(by_name.body.contains(oldest.as_str()) && !by_name.body.contains(ravi.as_str()), "search by name");
    let by_other_name = http.get("/queue?q=Bilal").await;
    assert!(
        by_other_name.body.contains(ravi.as_str()) && !by_other_name.body.contains(oldest.as_str()),
        "search by name"
    );

    // The security officer's stage is empty; an applicant has no queue.
    let security = app.signed_in("khalid@security.example").await;
    let theirs = security.get("/queue").await;
    assert_eq!(theirs.status, 200);
    assert!(theirs.body.contains("No case is waiting in your stages"), "{}", theirs.body);
    assert!(!theirs.body.contains(oldest.as_str()));
    let firm = app.signed_in("ayesha@indus.example").await;
    assert_eq!(firm.get("/queue").await.status, 403);
    let _ = (t.reviewer2, t.embassy, t.security);
}

#[tokio::test]
async fn claim_release_and_reassign_are_recorded_and_a_stale_claim_changes_nothing() {
    let app = support::spawn(Backend::Sqlite).await;
    let t = team(&app).await;
    let reference = submitted(&app, &t.firm).await;
    let fatima = app.signed_in("fatima@moci.example").await;
    let omar = app.signed_in("omar@moci.example").await;

    let before = record(&app, &t.reviewer, &reference).await;
    let v = before.version.to_string();
    let claimed = fatima.post_form("/queue", &format!("/cases/{reference}/claim"), &[("version", &v)]).await;
    assert_eq!(claimed.status, 303, "{}", claimed.body);
    assert_eq!(claimed.location(), Some(format!("/cases/{reference}?notice=claimed").as_str()));
    assert_eq!(record(&app, &t.reviewer, &reference).await.assigned_to, Some(t.reviewer.id));
    let case = fatima.get(&format!("/cases/{reference}?notice=claimed")).await;
    assert!(case.body.contains("You hold this case"), "{}", case.body);
    assert!(fatima.get("/queue?mine=1").await.body.contains(reference.as_str()), "the holder's own list");
    assert!(!omar.get("/queue?mine=1").await.body.contains(reference.as_str()));

    // Omar, with the page he opened before the claim, claims too: a conflict, nothing changes.
    let stale = omar.post_form("/queue", &format!("/cases/{reference}/claim"), &[("version", &v)]).await;
    assert_eq!(stale.status, 303);
    assert_eq!(stale.location(), Some(format!("/cases/{reference}?notice=case_changed").as_str()));
    assert_eq!(record(&app, &t.reviewer, &reference).await.assigned_to, Some(t.reviewer.id));
    let seen = omar.get(&format!("/cases/{reference}?notice=case_changed")).await;
    assert!(seen.body.contains("Someone else changed this case first"));
    assert!(seen.body.contains("fatima Tester holds this case"), "{}", seen.body);

    // Fatima hands it to Omar with a note; the history says so.
    let v = record(&app, &t.reviewer, &reference).await.version.to_string();
    let omar_id = t.reviewer2.id.to_string();
    let moved = fatima
        .post_form(
            &format!("/cases/{reference}"),
            &format!("/cases/{reference}/reassign"),
            &[("version", &v), ("assignee", &omar_id), ("note", "Omar knows this firm")],
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    assert_eq!(record(&app, &t.reviewer, &reference).await.assigned_to, Some(t.reviewer2.id));
    // Reassigning to someone of another role is refused and says so.
    let v = record(&app, &t.reviewer, &reference).await.version.to_string();
    let wrong = fatima
        .post_form(
            &format!("/cases/{reference}"),
            &format!("/cases/{reference}/reassign"),
            &[("version", &v), ("assignee", &t.security.id.to_string())],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("Choose who should hold the case"));
    assert_eq!(record(&app, &t.reviewer, &reference).await.assigned_to, Some(t.reviewer2.id));

    // Omar releases it back to the queue.
    let released = omar
        .post_form(&format!("/cases/{reference}"), &format!("/cases/{reference}/release"), &[("version", &v)])
        .await;
    assert_eq!(released.status, 303, "{}", released.body);
    assert_eq!(record(&app, &t.reviewer, &reference).await.assigned_to, None);
    let history = app.engine.history(&app.actor(&t.reviewer), &reference).await.expect("history");
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.ends_with(&["claim", "reassign", "release"]), "{actions:?}");
    assert_eq!(
        history.iter().find(|e| e.action == "reassign").and_then(|e| e.comment.as_deref()),
        Some("Omar knows this firm")
    );
    let case = fatima.get(&format!("/cases/{reference}")).await;
    assert!(case.body.contains("Case reassigned") && case.body.contains("Omar knows this firm"));
    assert!(
        app.engine.verify_audit(Some(reference.as_str())).await.expect("verify").is_ok(),
        "claims are in the hash chain"
    );
}

#[tokio::test]
async fn the_case_page_offers_exactly_the_users_actions_and_explains_four_eyes() {
    let app = support::spawn(Backend::Sqlite).await;
    let t = team(&app).await;
    let reference = submitted(&app, &t.firm).await;
    let fatima = app.signed_in("fatima@moci.example").await;
    let omar = app.signed_in("omar@moci.example").await;
    let security = app.signed_in("khalid@security.example").await;
    let embassy = app.signed_in("noor@embassy.example").await;
    let url = format!("/cases/{reference}");

    let page = fatima.get(&url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for id in ["do-verify_firm", "do-reject", "do-request_information"] {
        assert!(page.body.contains(&format!(r#"id="{id}""#)), "{id} offered");
    }
    for id in
        ["do-approve", "do-clear", "do-deny_clearance", "do-issue_visa", "do-refuse_visa", "do-submit", "do-withdraw"]
    {
        assert!(!page.body.contains(&format!(r#"id="{id}""#)), "{id} is not the reviewer's now");
    }
    // Need to know: the security officer does not read a case in the Ministry's review.
    let hidden = security.get(&url).await;
    assert_eq!(hidden.status, 404, "security reads no case before clearance");
    // The embassy looks any reference up (`look_up`), but has no action at this stage.
    for (who, http) in [("embassy", &embassy)] {
        let p = http.get(&url).await;
        assert_eq!(p.status, 200, "{who}");
        assert!(p.body.contains(r#"id="no-actions""#) && !p.body.contains("do-verify_firm"), "{who}");
        // Their forms are refused by the engine too, whatever they post.
        let v = record(&app, &t.reviewer, &reference).await.version.to_string();
        let forced = http.post_form(&url, &format!("{url}/act"), &[("version", &v), ("action", "verify_firm")]).await;
        assert_eq!(forced.status, 403, "{who} may not verify");
    }
    assert_eq!(record(&app, &t.reviewer, &reference).await.state, "ministry_review");

    // A comment is required to ask for information: the error is shown beside the box.
    let v = record(&app, &t.reviewer, &reference).await.version.to_string();
    let missing =
        fatima.post_form(&url, &format!("{url}/act"), &[("version", &v), ("action", "request_information")]).await;
    assert_eq!(missing.status, 422);
    assert!(missing.body.contains("error-summary") && missing.body.contains("Enter a comment"));
    assert!(missing.body.contains(r##"href="#comment-request_information""##));

    // Fatima verifies the firm; then four-eyes keeps her from the approval, and says why.
    let done = fatima
        .post_form(
            &url,
            &format!("{url}/act"),
            &[("version", &v), ("action", "verify_firm"), ("comment-verify_firm", "SECP and FBR records match")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(record(&app, &t.reviewer, &reference).await.state, "ministry_approval");
    let blocked = fatima.get(&url).await;
    assert!(blocked.body.contains(r#"id="four-eyes-approve""#), "{}", blocked.body);
    assert!(blocked.body.contains("you took the previous approval of this application"));
    assert!(!blocked.body.contains(r#"id="do-approve""#), "no approve button for her");
    // Posting it anyway is refused with the same explanation; nothing changes.
    let v = record(&app, &t.reviewer, &reference).await.version.to_string();
    let forced = fatima.post_form(&url, &format!("{url}/act"), &[("version", &v), ("action", "approve")]).await;
    assert_eq!(forced.status, 403);
    assert!(forced.body.contains("Four-eyes rule"));
    assert_eq!(record(&app, &t.reviewer, &reference).await.state, "ministry_approval");

    // A stale page: Omar approves with an old version number, is told plainly, nothing moves.
    let old = (record(&app, &t.reviewer, &reference).await.version - 1).to_string();
    let stale = omar.post_form(&url, &format!("{url}/act"), &[("version", &old), ("action", "approve")]).await;
    assert_eq!(stale.status, 409);
    assert!(stale.body.contains("Someone else changed this case while you had it open"));
    assert_eq!(record(&app, &t.reviewer, &reference).await.state, "ministry_approval");
    // With the current one, his approval goes through.
    let ok = omar.post_form(&url, &format!("{url}/act"), &[("version", &v), ("action", "approve")]).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(record(&app, &t.reviewer, &reference).await.state, "security_clearance");
    assert!(security.get(&url).await.body.contains(r#"id="do-clear""#));
    // Under clearance the Ministry's reviewers, who acted on it, no longer read it.
    assert_eq!(fatima.get(&url).await.status, 404, "a reviewer's view of a case in security clearance");
    assert_eq!(omar.get(&url).await.status, 404);
}

/// The case page and the API give one answer: the approval four-eyes bars is explained, has
/// no button, and the other reviewer gets the button.
async fn four_eyes_explained_without_a_button(backend: Backend) {
    let app = support::spawn(backend).await;
    let t = team(&app).await;
    let reference = submitted(&app, &t.firm).await;
    take(&app, &t.reviewer, &reference, "verify_firm", None, None).await;
    let url = format!("/cases/{reference}");

    let fatima = app.signed_in("fatima@moci.example").await;
    let page = fatima.get(&url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"id="four-eyes-approve""#), "{}", page.body);
    assert!(page.body.contains("you took the previous approval of this application"), "{}", page.body);
    assert!(!page.body.contains(r#"id="do-approve""#), "no approve button for her");
    assert!(page.body.contains(r#"id="do-reject""#), "her other actions keep their buttons");

    let omar = app.signed_in("omar@moci.example").await;
    let page = omar.get(&url).await;
    assert!(page.body.contains(r#"id="do-approve""#) && !page.body.contains("four-eyes-approve"), "{}", page.body);
}

#[tokio::test]
async fn four_eyes_explained_without_a_button_on_sqlite() {
    four_eyes_explained_without_a_button(Backend::Sqlite).await;
}

#[tokio::test]
async fn four_eyes_explained_without_a_button_on_postgres() {
    four_eyes_explained_without_a_button(Backend::Postgres).await;
}

#[tokio::test]
async fn documents_open_inline_or_download_with_their_own_type() {
    let app = support::spawn(Backend::Sqlite).await;
    let t = team(&app).await;
    let reference = submitted(&app, &t.firm).await;
    let id = app
        .store
        .documents(record(&app, &t.reviewer, &reference).await.id)
        .await
        .expect("docs")
        .into_iter()
        .find(|d| d.kind == "employment_letter")
        .expect("letter")
        .id;
    let fatima = app.signed_in("fatima@moci.example").await;
    let case = fatima.get(&format!("/cases/{reference}")).await;
    assert!(case.body.replace("&#x2F;", "/").contains(&format!(r#"href="/cases/{reference}/documents/{id}/view""#)));
    let download = fatima.get(&format!("/cases/{reference}/documents/{id}")).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.header("content-type"), Some("application/pdf"));
    assert!(download.header("content-disposition").unwrap_or("").starts_with("attachment"));
    assert_eq!(download.header("x-content-type-options"), Some("nosniff"));
    assert!(download.body.starts_with("%PDF-"));
    let inline = fatima.get(&format!("/cases/{reference}/documents/{id}/view")).await;
    assert_eq!(inline.status, 200);
    assert!(inline.header("content-disposition").unwrap_or("").starts_with("inline"));
    assert_eq!(inline.header("content-type"), Some("application/pdf"));
    assert_eq!(inline.header("x-content-type-options"), Some("nosniff"));
    // A document of another application, under this reference: not found.
    let other = submitted(&app, &t.firm).await;
    let foreign = fatima.get(&format!("/cases/{other}/documents/{id}")).await;
    assert_eq!(foreign.status, 404);
}

#[tokio::test]
async fn staff_forms_without_their_token_or_from_another_origin_change_nothing() {
    let app = support::spawn(Backend::Sqlite).await;
    let t = team(&app).await;
    let reference = submitted(&app, &t.firm).await;
    let fatima = app.signed_in("fatima@moci.example").await;
    let token = fatima.get("/queue").await.csrf().expect("token");
    let before = record(&app, &t.reviewer, &reference).await;
    let v = before.version.to_string();
    let origin = app.base.clone();
    let omar = t.reviewer2.id.to_string();
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("/cases/{reference}/claim"), vec![("version", &v)]),
        (format!("/cases/{reference}/reassign"), vec![("version", &v), ("assignee", &omar)]),
        (format!("/cases/{reference}/act"), vec![("version", &v), ("action", "verify_firm")]),
        (format!("/cases/{reference}/act"), vec![("version", &v), ("action", "reject"), ("reason-reject", "Forged")]),
    ];
    for (path, fields) in &posts {
        let no_token = fatima.post_raw(path, fields, &[("origin", &origin)]).await;
        assert_eq!(no_token.status, 403, "{path} without a token");
        assert!(no_token.body.contains("The form could not be sent"));
        let mut with_token = fields.clone();
        with_token.push(("csrf", &token));
        let cross = fatima.post_raw(path, &with_token, &[("origin", "http://evil.example")]).await;
        assert_eq!(cross.status, 403, "{path} from another origin");
        let cross_site = fatima.post_raw(path, &with_token, &[("sec-fetch-site", "cross-site")]).await;
        assert_eq!(cross_site.status, 403, "{path} cross-site");
    }
    let after = record(&app, &t.reviewer, &reference).await;
    assert_eq!(
        (after.version, after.state.as_str(), after.assigned_to),
        (before.version, "ministry_review", None),
        "nothing changed"
    );
}

#[tokio::test]
async fn a_script_in_a_field_is_text_on_the_queue_and_the_case_page() {
    let app = support::spawn(Backend::Sqlite).await;
    let t = team(&app).await;
    let evil = "<script>alert(1)</script>";
    let actor = app.actor(&t.firm);
    let mut fields = app.example_fields(WF);
    fields.insert("employee_full_name".into(), evil.into());
    fields.insert("host_organisation".into(), evil.into());
    let view = app.engine.create_application(&actor, WF, &fields).await.expect("draft");
    let reference = view.record.reference.clone();
    for d in &view.workflow.documents {
        let (name, bytes) = if d.accept.iter().any(|a| a == "application/pdf") {
            ("<script>.pdf", support::pdf())
        } else {
            ("p.png", support::png())
        };
        app.engine.upload_document(&actor, &reference, &d.name, name, &bytes).await.expect("upload");
    }
    take(&app, &t.firm, &reference, "submit", None, None).await;
    take(&app, &t.reviewer, &reference, "request_information", Some(evil), None).await;
    take(&app, &t.firm, &reference, "respond", Some(evil), None).await;
    let fatima = app.signed_in("fatima@moci.example").await;
    let escaped = "&lt;script&gt;alert(1)&lt;&#x2F;script&gt;";
    for path in [
        "/queue".to_string(),
        format!("/queue?q={}", "%3Cscript%3E"),
        format!("/cases/{reference}"),
        format!("/lookup?reference=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
    ] {
        let page = fatima.get(&path).await;
        assert!(
            !page.body.contains("<script>alert(1)") && !page.body.contains("<script>.pdf"),
            "{path} shows the script as markup"
        );
        if path != "/queue?q=%3Cscript%3E" {
            assert!(page.body.contains(escaped), "{path} shows it as text: {}", page.body);
        }
    }
}

#[tokio::test]
async fn a_firm_typing_a_case_address_gets_its_own_application_or_not_found() {
    let app = support::spawn(Backend::Sqlite).await;
    let t = team(&app).await;
    let theirs = submitted(&app, &t.firm).await;
    let other = app.user("bilal@ravi.example", "applicant", "Ravi Systems").await;
    let own = submitted(&app, &other).await;
    let doc = app.store.documents(record(&app, &t.reviewer, &theirs).await.id).await.expect("docs")[0].id;
    let bilal = app.signed_in("bilal@ravi.example").await;
    for path in [
        format!("/cases/{theirs}"),
        format!("/cases/{theirs}/documents/{doc}"),
        format!("/cases/{theirs}/documents/{doc}/view"),
        format!("/cases/{theirs}/letter"),
    ] {
        let page = bilal.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(page.body.contains("Page not found"));
        assert!(!page.body.contains("AB1234567"));
    }
    let v = record(&app, &t.reviewer, &theirs).await.version.to_string();
    assert_eq!(
        bilal
            .post_form("/applications", &format!("/cases/{theirs}/act"), &[("version", &v), ("action", "withdraw")])
            .await
            .status,
        403
    );
    assert_eq!(
        bilal.post_form("/applications", &format!("/cases/{theirs}/claim"), &[("version", &v)]).await.status,
        403
    );
    assert_eq!(record(&app, &t.reviewer, &theirs).await.state, "ministry_review");
    // Its own case address leads to its own application page.
    let mine = bilal.get(&format!("/cases/{own}")).await;
    assert_eq!(mine.status, 303);
    assert_eq!(mine.location(), Some(format!("/applications/{own}").as_str()));
    assert_eq!(bilal.get("/lookup").await.status, 403, "looking up is for staff");
}

#[tokio::test]
async fn the_embassy_looks_up_decides_and_prints_the_letter() {
    let app = support::spawn(Backend::Sqlite).await;
    let t = team(&app).await;
    let granted = submitted(&app, &t.firm).await;
    let refused = submitted(&app, &t.firm).await;
    for reference in [&granted, &refused] {
        take(&app, &t.reviewer, reference, "verify_firm", None, None).await;
        take(&app, &t.reviewer2, reference, "approve", None, None).await;
        take(&app, &t.security, reference, "clear", None, None).await;
    }
    let noor = app.signed_in("noor@embassy.example").await;
    let lookup = noor.get("/lookup").await;
    assert_eq!(lookup.status, 200);
    let found = noor.get(&format!("/lookup?reference={}", granted.as_str().to_lowercase())).await;
    assert_eq!(found.status, 303);
    assert_eq!(found.location(), Some(format!("/cases/{granted}").as_str()));
    let unknown = noor.get("/lookup?reference=QA-BV-2026-999999-Z").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("No application you may see has this reference"));
    let empty = noor.get("/lookup?reference=+").await;
    assert_eq!(empty.status, 422);
    assert!(empty.body.contains("Enter the reference"));

    // No letter before the decision.
    assert_eq!(noor.get(&format!("/cases/{granted}/letter")).await.status, 404);
    let url = format!("/cases/{granted}");
    let page = noor.get(&url).await;
    assert!(page.body.contains(r#"id="do-issue_visa""#) && page.body.contains(r#"id="do-refuse_visa""#));
    let v = record(&app, &t.embassy, &granted).await.version.to_string();
    // The validity is entered with the decision: a backwards one is refused beside its input.
    let backwards = noor
        .post_form(
            &url,
            &format!("{url}/act"),
            &[
                ("version", &v),
                ("action", "issue_visa"),
                ("issue_visa--valid_from", "2026-09-15"),
                ("issue_visa--valid_until", "2026-09-01"),
                ("issue_visa--entries", "single"),
                ("issue_visa--permitted_stay_days", "30"),
            ],
        )
        .await;
    assert_eq!(backwards.status, 422, "{}", backwards.body);
    assert!(backwards.body.contains("Valid until must be after valid from"), "{}", backwards.body);
    assert!(backwards.body.contains(r##"href="#f-issue_visa--valid_until""##));
    assert_eq!(record(&app, &t.embassy, &granted).await.state, "embassy_decision");
    let issued = noor
        .post_form(
            &url,
            &format!("{url}/act"),
            &[
                ("version", &v),
                ("action", "issue_visa"),
                ("comment-issue_visa", "Single entry, 30 days"),
                ("issue_visa--valid_from", "2026-09-15"),
                ("issue_visa--valid_until", "2026-10-14"),
                ("issue_visa--entries", "single"),
                ("issue_visa--permitted_stay_days", "30"),
            ],
        )
        .await;
    assert_eq!(issued.status, 303, "{}", issued.body);
    let letter = noor.get(&format!("/cases/{granted}/letter")).await;
    assert_eq!(letter.status, 200, "{}", letter.body);
    for text in [granted.as_str(), "Visa issued", "QE-ISB&#x2F;", "noor Tester", "letter.pdf", "verify&#x2F;"] {
        assert!(letter.body.contains(text), "the letter page holds {text}");
    }
    let pdf = noor.get(&format!("/cases/{granted}/letter.pdf")).await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    assert!(noor.get(&url).await.body.contains(r#"id="decision-letter""#));

    // A refusal needs its reason, which the letter gives.
    let url = format!("/cases/{refused}");
    let v = record(&app, &t.embassy, &refused).await.version.to_string();
    let no_reason = noor.post_form(&url, &format!("{url}/act"), &[("version", &v), ("action", "refuse_visa")]).await;
    assert_eq!(no_reason.status, 422);
    assert!(no_reason.body.contains("Enter the reason for this decision"));
    assert!(no_reason.body.contains("Choose the reason code for this decision"));
    let done = noor
        .post_form(
            &url,
            &format!("{url}/act"),
            &[
                ("version", &v),
                ("action", "refuse_visa"),
                ("reason-refuse_visa", "The invitation letter could not be verified"),
                ("reason_code-refuse_visa", "host_not_confirmed"),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    let letter = noor.get(&format!("/cases/{refused}/letter")).await;
    assert!(
        letter.body.contains("Application refused")
            && letter.body.contains("The invitation letter could not be verified")
    );
    // The firm reads its own letter.
    let firm = app.signed_in("ayesha@indus.example").await;
    let theirs = firm.get(&format!("/cases/{refused}/letter")).await;
    assert_eq!(theirs.status, 200);
    assert!(theirs.body.contains("The invitation letter could not be verified"));
    assert_eq!(firm.get(&format!("/cases/{refused}/letter.pdf")).await.status, 200);
}

/// The supervisor's own organisation, for the tests below.
async fn supervisor(app: &TestApp) -> User {
    app.user("maryam@moci.example", "ministry_supervisor", "Ministry of Commerce and Industry").await
}

#[tokio::test]
async fn supervisors_see_the_late_cases_of_every_stage_that_escalates_to_them() {
    let app = support::spawn(Backend::Sqlite).await;
    let t = team(&app).await;
    let boss = supervisor(&app).await;
    let admin = app.user("root@corridor.example", "admin", "Corridor Operations").await;
    // Four weeks ago: one case passed on to security clearance (a stage the supervisor does
    // not work, but which escalates to her); two weeks ago, one in the Ministry's review;
    // today, a fresh one.
    app.clock.set(monday_morning() - Duration::days(28));
    let at_security = submitted(&app, &t.firm).await;
    take(&app, &t.reviewer, &at_security, "verify_firm", None, None).await;
    take(&app, &t.reviewer2, &at_security, "approve", None, None).await;
    app.clock.set(monday_morning() - Duration::days(14));
    let at_review = submitted(&app, &t.firm).await;
    app.clock.set(monday_morning());
    let fresh = submitted(&app, &t.firm).await;
    app.clock.advance(Duration::hours(3));
    // The scheduler's escalation of the review case, as it records it.
    let r = record(&app, &t.reviewer, &at_review).await;
    assert!(
        app.store
            .mark_escalated(
                r.id,
                &r.state,
                corridor_engine::store::NewAuditEvent {
                    actor_id: None,
                    actor_name: "Corridor".into(),
                    role: "system".into(),
                    organisation_id: None,
                    action: "escalate".into(),
                    from_state: Some(r.state.clone()),
                    to_state: Some(r.state.clone()),
                    comment: None,
                    reason: None,
                    data: serde_json::json!({}),
                    at: app.engine.now(),
                },
            )
            .await
            .expect("escalate")
    );

    let maryam = app.signed_in("maryam@moci.example").await;
    let late = maryam.get("/queue/late").await;
    assert_eq!(late.status, 200, "{}", late.body);
    assert!(late.body.contains(r#"href="&#x2F;queue&#x2F;late" aria-current="page""#), "the menu has the late cases");
    let (a, b) = (position(&late.body, at_security.as_str()), position(&late.body, at_review.as_str()));
    assert!(a < b, "oldest deadline first");
    assert!(!late.body.contains(fresh.as_str()), "a case on time is not late");
    assert!(late.body.contains("Overdue") && late.body.contains("Escalated"));
    assert!(
        !late.body.contains(&format!(r#"id="claim-{at_security}""#)),
        "no claim where the supervisor's role does not work the stage"
    );
    // Filters keep to the late view.
    let only_security = maryam.get("/queue/late?state=security_clearance").await;
    assert!(only_security.body.contains(at_security.as_str()) && !only_security.body.contains(at_review.as_str()));

    // Read-only: the case page offers no holding and no action; Back leads to the late cases.
    let case = maryam.get(&format!("/cases/{at_security}")).await;
    assert_eq!(case.status, 200);
    assert!(case.body.contains(r#"href="&#x2F;queue&#x2F;late" class="back-link""#), "{}", case.body);
    assert!(!case.body.contains(r#"id="claim""#) && !case.body.contains(r#"id="do-"#));
    assert!(case.body.contains("Nobody holds this case yet."), "who holds it is said, read-only");
    let before = record(&app, &t.security, &at_security).await;
    let claim = maryam
        .post_form(
            &format!("/cases/{at_security}"),
            &format!("/cases/{at_security}/claim"),
            &[("version", &before.version.to_string())],
        )
        .await;
    assert_eq!(claim.status, 403, "the engine refuses the claim");
    assert_eq!(record(&app, &t.security, &at_security).await.version, before.version);

    // Others: a reviewer has no stage escalating to her role; a firm has no such page.
    let fatima = app.signed_in("fatima@moci.example").await;
    let none = fatima.get("/queue/late").await;
    assert_eq!(none.status, 200);
    assert!(none.body.contains("No stage of any workflow escalates late cases to your role"));
    assert!(!none.body.contains(at_review.as_str()));
    assert!(!fatima.get("/queue").await.body.contains("&#x2F;queue&#x2F;late"));
    let firm = app.signed_in("ayesha@indus.example").await;
    assert_eq!(firm.get("/queue/late").await.status, 403);

    // Unclaimed only / mine only.
    let v = record(&app, &t.reviewer, &at_review).await.version.to_string();
    let claimed = fatima.post_form("/queue", &format!("/cases/{at_review}/claim"), &[("version", &v)]).await;
    assert_eq!(claimed.status, 303);
    let unclaimed = fatima.get("/queue?holder=nobody").await;
    assert!(unclaimed.body.contains(fresh.as_str()) && !unclaimed.body.contains(at_review.as_str()));
    assert!(unclaimed.body.contains(r#"<option value="nobody" selected>"#));
    let mine = fatima.get("/queue?holder=me").await;
    assert!(mine.body.contains(at_review.as_str()) && !mine.body.contains(fresh.as_str()));
    let old_link = fatima.get("/queue?mine=1").await;
    assert!(old_link.body.contains(at_review.as_str()) && !old_link.body.contains(fresh.as_str()));
    let by_reference = fatima.get(&format!("/queue?holder=nobody&q={at_review}")).await;
    assert!(!by_reference.body.contains(&format!(r#">{at_review}<"#)));

    // An administrator reads the case and goes back to its audit log, not to a queue.
    let root = app.signed_in(&admin.email).await;
    let read = root.get(&format!("/cases/{at_review}")).await;
    assert_eq!(read.status, 200);
    assert!(read.body.contains(&format!(r#"href="&#x2F;admin&#x2F;audit&#x2F;{at_review}" class="back-link""#)));
    assert!(read.body.contains("Administrators read cases"));
    assert!(read.body.contains("fatima Tester holds this case."));
    assert!(!read.body.contains(r#"id="reassign""#));
    assert!(!read.body.contains(r#"href="&#x2F;queue""#));
    let _ = (t.embassy, boss);
}

#[tokio::test]
async fn the_firm_filter_is_typed_not_a_list_of_every_firm() {
    let app = support::spawn(Backend::Sqlite).await;
    let t = team(&app).await;
    let systems = app.user("a@ravi-systems.example", "applicant", "Ravi Systems").await;
    let soft = app.user("b@ravi-soft.example", "applicant", "Ravi Soft").await;
    let indus = submitted(&app, &t.firm).await;
    let by_systems = submitted(&app, &systems).await;
    let by_soft = submitted(&app, &soft).await;
    let fatima = app.signed_in("fatima@moci.example").await;

    let all = fatima.get("/queue").await;
    assert!(all.body.contains(r#"id="filter-firm" name="firm" type="search""#), "a text box, not a list of every firm");
    // Part of one firm's name (any case) picks that firm.
    let one = fatima.get("/queue?firm=ravi+sys").await;
    assert!(
        one.body.contains(by_systems.as_str())
            && !one.body.contains(by_soft.as_str())
            && !one.body.contains(indus.as_str())
    );
    assert!(one.body.contains(r#"value="Ravi Systems""#), "the box shows the firm found");
    // A part that several names share: choose one, with the other filters kept.
    let many = fatima.get("/queue?firm=RAVI&state=ministry_review").await;
    assert_eq!(many.status, 200);
    assert!(many.body.contains("2 firms"), "{}", many.body);
    assert!(!many.body.contains(by_systems.as_str()) && !many.body.contains(by_soft.as_str()));
    assert!(many.body.contains("firm=Ravi+Soft") && many.body.contains("state=ministry_review"));
    let chosen = fatima.get("/queue?firm=Ravi+Soft&state=ministry_review").await;
    assert!(chosen.body.contains(by_soft.as_str()) && !chosen.body.contains(by_systems.as_str()));
    // No firm of that name: said beside the box and in the summary.
    let none = fatima.get("/queue?firm=Lahore").await;
    assert!(none.body.contains("There is a problem") && none.body.contains("No firm"));
    assert!(none.body.contains("<title>Error:"));
    // A firm's id (links, scripts) still works; a ministry is not a firm.
    let by_id = fatima.get(&format!("/queue?firm={}", soft.organisation_id)).await;
    assert!(by_id.body.contains(by_soft.as_str()) && !by_id.body.contains(indus.as_str()));
    let ministry = fatima.get(&format!("/queue?firm={}", t.reviewer.organisation_id)).await;
    assert!(ministry.body.contains("No firm"));
}

#[tokio::test]
async fn the_firm_reaches_its_decision_letter_from_its_application() {
    let app = support::spawn(Backend::Sqlite).await;
    let t = team(&app).await;
    let refused = submitted(&app, &t.firm).await;
    take(&app, &t.reviewer, &refused, "reject", None, Some("The firm is not registered with PSEB.")).await;
    let open = submitted(&app, &t.firm).await;
    let withdrawn = submitted(&app, &t.firm).await;
    take(&app, &t.firm, &withdrawn, "withdraw", None, Some("Trip cancelled")).await;
    let ayesha = app.signed_in("ayesha@indus.example").await;
    let page = ayesha.get(&format!("/applications/{refused}")).await;
    assert_eq!(page.status, 200);
    let link = format!(r#"href="&#x2F;cases&#x2F;{refused}&#x2F;letter" id="decision-letter""#);
    assert!(page.body.contains(&link), "{}", page.body);
    let letter = ayesha.get(&format!("/cases/{refused}/letter")).await;
    assert_eq!(letter.status, 200);
    assert!(letter.body.contains("The firm is not registered with PSEB."));
    for other in [&open, &withdrawn] {
        let page = ayesha.get(&format!("/applications/{other}")).await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains(r#"id="decision-letter""#), "no decision, no letter");
    }
}
