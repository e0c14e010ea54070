//! The whole journey in headless Chromium, through the pages alone: a firm applies (first with
//! mistakes, seeing the error summary), uploads documents, checks its answers, submits and
//! gets a reference; a Ministry reviewer claims the case and asks for more information; the
//! firm answers; the same reviewer verifies the firm and is then kept from the approval by
//! four-eyes (the page says why); a second reviewer approves; security clears; the embassy
//! finds the case by reference, issues the visa and prints the decision letter; the public
//! status page shows the final label. axe-core (WCAG 2.2 A/AA) checks every page visited in
//! English, and the staff pages in Arabic too; screenshots go to `test-artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`, and `npm ci` in `tests/browser` (axe-core):
//! the test fails, never skips, without them.

use crate::support::{self, Backend, Browser, PASSWORD};

const WORKFLOW: &str = "it-business-visa";

async fn sign_in(b: &mut Browser, email: &str) {
    b.goto("/login").await;
    b.fill("#email", email).await;
    b.fill("#password", PASSWORD).await;
    b.submit("#sign-in").await;
}

async fn sign_out(b: &Browser) {
    b.submit(".header__account button").await;
    assert!(b.text(".banner--success").await.contains("You have signed out"));
}

async fn switch_language(b: &Browser, code: &str) {
    b.submit(&format!("button[name=lang][value={code}]")).await;
    let (lang, dir) = b.lang_dir().await;
    assert_eq!(lang, code);
    assert_eq!(dir, if code == "en" { "ltr" } else { "rtl" });
}

/// axe on the current page in English, then in Arabic (right to left), then back.
async fn axe_both(b: &mut Browser, label: &str) {
    b.axe(label).await;
    switch_language(b, "ar").await;
    b.axe(&format!("{label}-ar")).await;
    b.screenshot(&format!("{label}-ar")).await;
    switch_language(b, "en").await;
}

/// Open the case from the queue (its reference is a link there).
async fn open_from_queue(b: &Browser, reference: &str) {
    assert_eq!(b.path().await, "/queue", "staff land on their queue");
    assert!(b.text("#queue").await.contains(reference), "{reference} is in the queue");
    b.submit(&format!("#queue a[href='/cases/{reference}']")).await;
    assert_eq!(b.text("#reference").await, reference);
}

async fn state_of(app: &support::TestApp, reference: &str) -> String {
    let admin = corridor_engine::actor::Actor::system();
    app.engine.application(&admin, &reference.parse().expect("a reference")).await.expect("read").record.state
}

#[tokio::test]
async fn the_whole_journey_through_the_pages_of_every_role() {
    let app = support::spawn(Backend::Sqlite).await;
    app.user("ayesha@indus.example", "applicant", "Indus Software House").await;
    app.user("fatima@moci.example", "ministry_reviewer", "Ministry of Commerce and Industry").await;
    app.user("omar@moci.example", "ministry_reviewer", "Ministry of Commerce and Industry").await;
    app.user("khalid@security.example", "security_officer", "State Security Service").await;
    app.user("noor@embassy.example", "embassy_officer", "Embassy of the State of Qatar, Islamabad").await;
    let mut b = support::browser(&app.base, "e2e-journey").await;
    let files = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, bytes: Vec<u8>| {
        let p = files.path().join(name);
        std::fs::write(&p, bytes).expect("write file");
        p
    };
    let uploads = [
        ("passport_bio_page", write("passport.pdf", support::pdf())),
        ("employment_letter", write("employment-letter.pdf", support::pdf())),
        ("firm_registration_certificate", write("secp-certificate.pdf", support::pdf())),
        ("photo", write("photo.png", support::png())),
    ];

    // ---- the firm applies ----
    b.goto("/login").await;
    b.axe("login").await;
    sign_in(&mut b, "ayesha@indus.example").await;
    assert_eq!(b.path().await, "/applications");
    b.axe("dashboard").await;
    b.submit("#start-application").await;
    b.click("#workflow").await;
    b.submit("#continue").await;
    let app_path = b.path().await;
    assert!(app_path.starts_with("/applications/QA-BV-"), "{app_path}");
    b.axe("task-list").await;
    b.submit("a[href$='/details']").await;
    b.axe("details").await;
    // First with mistakes: the error summary lists them.
    b.fill("#f-employee_full_name", "Ayesha Khan").await;
    b.fill("#f-passport_number", "12345").await;
    b.fill("#f-duration_of_stay", "500").await;
    b.submit("#save-continue").await;
    let summary = b.text(".error-summary").await;
    assert!(
        summary.contains("There is a problem") && summary.contains("Two capital letters then seven digits"),
        "{summary}"
    );
    b.axe("details-errors").await;
    b.screenshot("details-errors").await;
    b.fill_with_examples(&app.engine.workflow(WORKFLOW).expect("workflow")).await;
    b.submit("#save-continue").await;
    assert!(b.path().await.contains("/documents"));
    for (kind, file) in &uploads {
        b.attach(&format!("#doc-{kind}"), file).await;
        b.submit(&format!("#upload-{kind}")).await;
        assert!(!b.exists(".error-summary").await, "{kind} uploaded");
    }
    b.axe("documents").await;
    b.submit("#documents-continue").await;
    assert!(b.path().await.ends_with("/check"));
    assert!(b.text("main").await.contains("AB1234567"));
    b.axe("check").await;
    b.submit("#submit-application").await;
    let reference = b.text("#confirmation-reference").await;
    assert!(app_path.ends_with(&reference), "{reference}");
    b.axe("confirmation").await;
    b.screenshot("confirmation").await;
    sign_out(&b).await;

    // ---- a Ministry reviewer claims it and asks for more information ----
    sign_in(&mut b, "fatima@moci.example").await;
    assert!(b.text("#queue").await.contains("Ministry review (firm verification)"));
    b.screenshot("queue").await;
    axe_both(&mut b, "queue").await;
    open_from_queue(&b, &reference).await;
    axe_both(&mut b, "case").await;
    b.screenshot("case").await;
    b.submit("#claim").await;
    assert!(b.text(".banner--success").await.contains("You now hold this case"));
    assert!(b.text("#holder").await.contains("You hold this case"));
    b.axe("case-claimed").await;
    // Asking without saying what for is an error, shown in the summary and by the box.
    b.submit("#do-request_information").await;
    assert!(b.text(".error-summary").await.contains("Enter a comment"));
    assert!(b.exists("#comment-request_information-error").await);
    b.axe("case-errors").await;
    // The same refusal in Arabic (the switch reloads the case page; send the form again).
    switch_language(&b, "ar").await;
    b.submit("#do-request_information").await;
    assert!(b.exists("#comment-request_information-error").await);
    assert!(b.text(".error-summary").await.contains("توجد مشكلة"));
    b.axe("case-errors-ar").await;
    b.screenshot("case-errors-ar").await;
    switch_language(&b, "en").await;
    b.fill("#comment-request_information", "Please upload an invitation letter from the host in Doha.").await;
    b.submit("#do-request_information").await;
    assert!(b.text(".banner--success").await.contains("Your decision has been recorded"));
    assert_eq!(state_of(&app, &reference).await, "more_information");
    b.axe("case-after-request").await;
    sign_out(&b).await;

    // ---- the firm answers, without retyping anything ----
    sign_in(&mut b, "ayesha@indus.example").await;
    b.goto(&app_path).await;
    assert!(b.text("main").await.contains("Please upload an invitation letter from the host in Doha."));
    b.submit("#answer-request").await;
    assert_eq!(b.find("#f-passport_number").await.prop("value").await.expect("value").as_deref(), Some("AB1234567"));
    b.fill("#comment", "The invitation letter is now attached to the application.").await;
    b.submit("#send-answer").await;
    assert!(b.text(".banner--success").await.contains("Your answer has been sent"));
    assert_eq!(state_of(&app, &reference).await, "ministry_review");
    sign_out(&b).await;

    // ---- the same reviewer verifies the firm; four-eyes keeps her from the approval ----
    sign_in(&mut b, "fatima@moci.example").await;
    open_from_queue(&b, &reference).await;
    b.fill("#comment-verify_firm", "SECP and FBR records match the application.").await;
    b.submit("#do-verify_firm").await;
    assert_eq!(state_of(&app, &reference).await, "ministry_approval");
    let blocked = b.text("#four-eyes-approve").await;
    assert!(blocked.contains("you took the previous approval of this application"), "{blocked}");
    assert!(blocked.contains("Four-eyes rule"), "{blocked}");
    assert!(!b.exists("#do-approve").await, "no approve button for the same reviewer");
    b.screenshot("four-eyes").await;
    b.axe("case-four-eyes").await;
    switch_language(&b, "ar").await;
    assert!(b.text("#four-eyes-approve").await.contains("الأعين الأربع"), "explained in Arabic too");
    b.axe("case-four-eyes-ar").await;
    b.screenshot("four-eyes-ar").await;
    switch_language(&b, "en").await;
    sign_out(&b).await;

    // ---- a second reviewer approves ----
    sign_in(&mut b, "omar@moci.example").await;
    open_from_queue(&b, &reference).await;
    assert!(!b.exists("#four-eyes-approve").await);
    b.submit("#do-approve").await;
    assert_eq!(state_of(&app, &reference).await, "security_clearance");
    b.axe("case-approved").await;
    sign_out(&b).await;

    // ---- security clearance ----
    sign_in(&mut b, "khalid@security.example").await;
    b.axe("queue-security").await;
    open_from_queue(&b, &reference).await;
    assert!(!b.exists("#do-approve").await && !b.exists("#do-issue_visa").await, "only the security officer's actions");
    b.submit("#do-clear").await;
    assert_eq!(state_of(&app, &reference).await, "embassy_decision");
    sign_out(&b).await;

    // ---- the embassy finds the case by reference, decides, prints the letter ----
    sign_in(&mut b, "noor@embassy.example").await;
    b.submit("a.nav__link[href='/lookup']").await;
    axe_both(&mut b, "lookup").await;
    b.fill("#reference", "QA-BV-2026-999999-Z").await;
    b.submit("#find").await;
    assert!(b.text(".error-summary").await.contains("No application you may see has this reference"));
    b.axe("lookup-not-found").await;
    b.fill("#reference", &reference.to_lowercase()).await;
    b.submit("#find").await;
    assert_eq!(b.text("#reference").await, reference);
    axe_both(&mut b, "case-embassy").await;
    b.fill("#comment-issue_visa", "Single entry, valid for 90 days.").await;
    b.set_value("#f-issue_visa--valid_from", "2026-09-15").await;
    b.set_value("#f-issue_visa--valid_until", "2026-12-13").await;
    b.click("#f-issue_visa--entries").await;
    b.fill("#f-issue_visa--permitted_stay_days", "90").await;
    b.submit("#do-issue_visa").await;
    assert_eq!(state_of(&app, &reference).await, "visa_issued");
    b.axe("case-decided").await;
    b.submit("#decision-letter").await;
    assert_eq!(b.text("#letter-reference").await, reference);
    let decision = b.text("#letter-decision").await;
    assert!(decision.contains("Visa issued"), "{decision}");
    assert!(b.text("#letter-number").await.contains(&reference));
    assert!(b.exists("#letter-pdf").await);
    b.screenshot("decision-letter").await;
    axe_both(&mut b, "letter").await;
    sign_out(&b).await;

    // ---- the public status page shows the final label ----
    b.goto("/status").await;
    b.fill("#reference", &reference).await;
    b.fill("#passport", "AB1234567").await;
    b.submit("#check-status").await;
    assert_eq!(b.text(".status-label").await, "Visa issued");
    b.screenshot("status-final").await;
    b.axe("status-final").await;
    switch_language(&b, "ar").await;
    b.fill("#reference", &reference).await;
    b.fill("#passport", "AB1234567").await;
    b.submit("#check-status").await;
    let public = app.engine.workflow("it-business-visa").expect("workflow").state_public("visa_issued");
    assert_eq!(b.text(".status-label").await, public.get(corridor_engine::lang::Lang::Ar));
    b.axe("status-final-ar").await;
    b.screenshot("status-final-ar").await;

    let checked = b.checked.clone();
    b.close().await;
    assert!(checked.iter().filter(|c| c.starts_with("ar ")).count() >= 8, "{checked:#?}");
    std::fs::write(support::artifacts_dir().join("e2e-journey-axe-pages.txt"), checked.join("\n")).expect("write list");
}

/// Move an application on through the engine, as `email` (the browser is not the point here).
async fn engine_take(app: &support::TestApp, email: &str, reference: &str, action: &str, reason: Option<&str>) {
    let user = app.store.user_by_email(email).await.expect("read user").expect("user");
    let actor = app.actor(&user);
    let reference = reference.parse().expect("a reference");
    let version = app.engine.application(&actor, &reference).await.expect("read").record.version;
    app.engine
        .transition(
            &actor,
            &reference,
            &corridor_engine::transition::TransitionRequest {
                // A refusal names one of its declared reasons with its free text.
                reason_code: reason.and_then(|_| {
                    app.engine.workflow("it-business-visa").and_then(|w| {
                        w.transitions.iter().find(|t| t.action == action).and_then(|t| t.reason_codes.first().cloned())
                    })
                }),
                action: action.into(),
                expected_version: version,
                comment: None,
                reason: reason.map(str::to_string),
                fields: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{action}: {e}"));
}

/// The staff pages in Urdu (right to left, Nastaliq line height) and the supervisor's late
/// cases, with axe in English, Arabic and Urdu; the firm's way to its decision letter.
#[tokio::test]
async fn staff_pages_in_urdu_and_the_supervisors_late_cases() {
    let app = support::spawn(Backend::Sqlite).await;
    let firm = app.user("ayesha@indus.example", "applicant", "Indus Software House").await;
    for (email, role) in [("fatima@moci.example", "ministry_reviewer"), ("maryam@moci.example", "ministry_supervisor")]
    {
        app.user(email, role, "Ministry of Commerce and Industry").await;
    }
    // Submitted three weeks ago: the Ministry's review is overdue. Another one refused.
    app.clock.set(chrono::Utc::now() - chrono::Duration::days(21));
    let late = app.complete_draft(&firm, WORKFLOW).await.to_string();
    engine_take(&app, "ayesha@indus.example", &late, "submit", None).await;
    let refused = app.complete_draft(&firm, WORKFLOW).await.to_string();
    engine_take(&app, "ayesha@indus.example", &refused, "submit", None).await;
    engine_take(&app, "fatima@moci.example", &refused, "reject", Some("The firm is not registered with PSEB.")).await;
    app.clock.set(chrono::Utc::now());

    let mut b = support::browser(&app.base, "e2e-staff-ur").await;
    // A reviewer's queue and case page in Urdu, and the firm filter's error there.
    sign_in(&mut b, "fatima@moci.example").await;
    switch_language(&b, "ur").await;
    assert!(b.text("#queue").await.contains(&late));
    b.axe("queue-ur").await;
    b.screenshot("queue-ur").await;
    b.fill("#filter-firm", "Lahore").await;
    b.submit("#apply-filters").await;
    assert!(b.exists(".error-summary").await);
    b.axe("queue-firm-error-ur").await;
    b.fill("#filter-firm", "indus").await;
    b.select("#filter-holder", "nobody").await;
    b.submit("#apply-filters").await;
    assert!(b.text("#queue").await.contains(&late));
    b.submit(&format!("#queue a[href='/cases/{late}']")).await;
    assert_eq!(b.text("#reference").await, late);
    b.axe("case-ur").await;
    b.screenshot("case-ur").await;
    switch_language(&b, "en").await;
    sign_out(&b).await;

    // The supervisor's late cases: English, Arabic, Urdu; the case is read-only for her.
    sign_in(&mut b, "maryam@moci.example").await;
    b.submit("nav a[href='/queue/late']").await;
    assert!(b.text("#queue").await.contains(&late));
    assert!(b.text("#queue").await.contains("Overdue"));
    b.screenshot("late-cases").await;
    axe_both(&mut b, "late-cases").await;
    switch_language(&b, "ur").await;
    b.axe("late-cases-ur").await;
    b.screenshot("late-cases-ur").await;
    switch_language(&b, "en").await;
    b.submit(&format!("#queue a[href='/cases/{late}']")).await;
    assert!(!b.exists("#claim").await && !b.exists("form[action$='/act']").await);
    assert_eq!(b.find(".back-link").await.attr("href").await.expect("href").as_deref(), Some("/queue/late"));
    b.axe("case-supervisor").await;
    sign_out(&b).await;

    // The firm: from its refused application to the letter, in Urdu.
    sign_in(&mut b, "ayesha@indus.example").await;
    switch_language(&b, "ur").await;
    b.goto(&format!("/applications/{refused}")).await;
    b.axe("application-refused-ur").await;
    b.submit("#decision-letter").await;
    assert_eq!(b.text("#letter-reference").await, refused);
    assert!(b.text("main").await.contains("The firm is not registered with PSEB."));
    b.axe("letter-ur").await;
    b.screenshot("letter-ur").await;
    switch_language(&b, "en").await;
    b.close().await;
}
