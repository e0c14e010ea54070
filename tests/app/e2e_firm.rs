//! End to end in headless Chromium, through the pages alone: a firm user signs in, fills the
//! form (first with mistakes, seeing the error summary), uploads documents, checks the answers,
//! submits and gets a reference; answers a request for more information without retyping
//! anything; the public status page shows the label. axe-core checks every page visited, in
//! English and in Arabic (and one in Urdu); screenshots go to `test-artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`, and `npm ci` in `tests/browser` (axe-core):
//! the test fails, never skips, without them.

use crate::support::{self, Backend, Browser, PASSWORD};
use corridor_engine::transition::TransitionRequest;

const WORKFLOW: &str = "it-business-visa";

async fn sign_in(b: &mut Browser, email: &str) {
    b.goto("/login").await;
    b.axe("login").await;
    b.fill("#email", email).await;
    b.fill("#password", PASSWORD).await;
    b.submit("#sign-in").await;
}

async fn switch_language(b: &Browser, code: &str) {
    b.submit(&format!("button[name=lang][value={code}]")).await;
    let (lang, dir) = b.lang_dir().await;
    assert_eq!(lang, code);
    assert_eq!(dir, if code == "en" { "ltr" } else { "rtl" });
}

/// Fill the form with mistakes: a bad passport number, e-mail and duration; nothing else.
async fn fill_with_mistakes(b: &Browser) {
    b.fill("#f-employee_full_name", "Ayesha Khan").await;
    b.fill("#f-passport_number", "12345").await;
    b.fill("#f-contact_email", "not-an-email").await;
    b.fill("#f-duration_of_stay", "500").await;
    b.submit("#save-continue").await;
}

#[tokio::test]
async fn a_firm_applies_through_the_pages_in_a_real_browser() {
    let app = support::spawn(Backend::Sqlite).await;
    let firm = app.user("ayesha@indus.example", "applicant", "Indus Software House").await;
    let reviewer = app.user("fatima@ministry.example", "ministry_reviewer", "Ministry of Commerce and Industry").await;
    let mut b = support::browser(&app.base, "e2e-firm").await;
    let files = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, bytes: Vec<u8>| {
        let p = files.path().join(name);
        std::fs::write(&p, bytes).expect("write file");
        p
    };
    let passport_pdf = write("passport.pdf", support::pdf());
    let letter_pdf = write("employment-letter.pdf", support::pdf());
    let secp_pdf = write("secp-certificate.pdf", support::pdf());
    let photo_png = write("photo.png", support::png());
    let fake_pdf = write("not-really.pdf", b"MZ\x90\x00 this is a program, not a PDF".to_vec());

    // ---- axe itself finds violations (a page with an unlabelled field and an image without text) ----
    b.client
        .goto("data:text/html,<!DOCTYPE html><html><head><title>t</title></head><body><main><img src='x.png'><input></main></body></html>")
        .await
        .expect("open test page");
    let (violations, _) = b.axe_violations().await;
    let ids: Vec<&str> = violations.iter().filter_map(|v| v["id"].as_str()).collect();
    assert!(ids.contains(&"image-alt") && ids.contains(&"label") && ids.contains(&"html-has-lang"), "{ids:?}");

    // ---- start page, sign in, dashboard ----
    b.goto("/").await;
    b.axe("home").await;
    b.screenshot("home").await;
    sign_in(&mut b, "ayesha@indus.example").await;
    assert_eq!(b.path().await, "/applications");
    b.axe("dashboard-empty").await;

    // ---- start an application ----
    b.submit("#start-application").await;
    b.axe("start").await;
    b.submit("#continue").await;
    assert!(b.exists(".error-summary").await, "choosing nothing is an error");
    b.axe("start-error").await;
    b.click("#workflow").await;
    b.submit("#continue").await;
    let app_path = b.path().await;
    assert!(app_path.starts_with("/applications/QA-BV-"), "{app_path}");
    b.axe("task-list").await;
    b.screenshot("task-list").await;

    // ---- the form, first with mistakes ----
    b.submit("a[href$='/details']").await;
    b.axe("details").await;
    fill_with_mistakes(&b).await;
    assert!(b.exists(".error-summary").await, "the error summary is shown");
    let summary = b.text(".error-summary").await;
    assert!(summary.contains("There is a problem"), "{summary}");
    assert!(summary.contains("Two capital letters then seven digits"), "{summary}");
    assert!(summary.contains("90 or less"), "{summary}");
    assert!(summary.contains("Enter date of birth"), "{summary}");
    assert!(b.exists("#f-passport_number-error").await, "inline error beside the field");
    assert_eq!(
        b.find("#f-employee_full_name").await.prop("value").await.expect("value").as_deref(),
        Some("Ayesha Khan")
    );
    b.axe("details-errors").await;
    b.screenshot("details-errors").await;
    // The summary's link takes you to the field.
    b.click(".error-summary a[href='#f-passport_number']").await;
    let focused = b.client.execute("return document.activeElement.id", vec![]).await.expect("focus");
    assert_eq!(focused.as_str(), Some("f-passport_number"));

    // The same mistakes in Arabic.
    switch_language(&b, "ar").await;
    b.axe("details-ar").await;
    fill_with_mistakes(&b).await;
    assert!(b.text(".error-summary").await.contains("توجد مشكلة"));
    b.axe("details-errors-ar").await;
    b.screenshot("details-errors-ar").await;
    switch_language(&b, "en").await;

    // ---- the form, right ----
    b.fill_with_examples(&app.engine.workflow(WORKFLOW).expect("workflow")).await;
    b.submit("#save-continue").await;
    assert!(b.path().await.contains("/documents"), "{}", b.path().await);
    b.axe("documents").await;

    // ---- documents: a fake PDF is refused inline, then each one ----
    b.attach("#doc-passport_bio_page", &fake_pdf).await;
    b.submit("#upload-passport_bio_page").await;
    assert!(b.exists("#doc-passport_bio_page-error").await, "inline upload error");
    assert!(b.text(".error-summary").await.contains("must be a PDF, JPEG or PNG"));
    b.axe("documents-error").await;
    b.screenshot("documents-error").await;
    for (kind, file) in [
        ("passport_bio_page", &passport_pdf),
        ("employment_letter", &letter_pdf),
        ("firm_registration_certificate", &secp_pdf),
        ("photo", &photo_png),
    ] {
        b.attach(&format!("#doc-{kind}"), file).await;
        b.submit(&format!("#upload-{kind}")).await;
        assert!(!b.exists(".error-summary").await, "{kind} uploaded");
    }
    assert!(b.html().await.contains("employment-letter.pdf"));
    b.axe("documents-done").await;
    b.screenshot("documents").await;

    // ---- check your answers, submit, confirmation ----
    b.submit("#documents-continue").await;
    assert!(b.path().await.ends_with("/check"));
    let check = b.text("main").await;
    assert!(check.contains("Ayesha Khan") && check.contains("AB1234567") && check.contains("Client meetings"));
    b.axe("check").await;
    b.screenshot("check-answers").await;
    b.submit("#submit-application").await;
    assert!(b.path().await.ends_with("/confirmation"));
    let reference = b.text("#confirmation-reference").await;
    assert!(app_path.ends_with(&reference), "{reference} vs {app_path}");
    b.axe("confirmation").await;
    b.screenshot("confirmation").await;

    b.goto("/applications").await;
    assert!(b.text("#applications").await.contains(&reference));
    assert!(b.text("#applications").await.contains("Under review by the Ministry"));
    b.axe("dashboard").await;
    b.screenshot("dashboard").await;

    // ---- the Ministry asks for more information; the firm answers without retyping ----
    let case: corridor_engine::model::Reference = reference.parse().expect("a reference");
    let version = app.engine.application(&app.actor(&reviewer), &case).await.expect("read").record.version;
    app.engine
        .transition(
            &app.actor(&reviewer),
            &case,
            &TransitionRequest {
                reason_code: None,
                action: "request_information".into(),
                expected_version: version,
                comment: Some("Please give the full legal name of the host organisation.".into()),
                reason: None,
                fields: None,
            },
        )
        .await
        .expect("request information");
    b.goto(&app_path).await;
    assert!(b.text("main").await.contains("Please give the full legal name of the host organisation."));
    b.axe("application-request").await;
    b.screenshot("request-for-information").await;
    b.submit("#answer-request").await;
    b.axe("respond").await;
    let prefilled = |id: &'static str| {
        let b = &b;
        async move { b.find(id).await.prop("value").await.expect("value").unwrap_or_default() }
    };
    assert_eq!(prefilled("#f-passport_number").await, "AB1234567");
    assert_eq!(prefilled("#f-employee_full_name").await, "Ayesha Khan");
    assert_eq!(prefilled("#f-date_of_birth").await, "1990-04-12");
    assert_eq!(prefilled("#f-nationality").await, "PK");
    b.submit("#send-answer").await;
    assert!(b.exists("#comment-error").await, "the answer is required");
    b.axe("respond-error").await;
    b.fill("#comment", "The host is Doha Digital Services W.L.L., as registered with MOCI.").await;
    b.fill("#f-host_organisation", "Doha Digital Services W.L.L. (MOCI reg. 123456)").await;
    b.submit("#send-answer").await;
    assert!(b.text(".banner--success").await.contains("Your answer has been sent"));
    b.axe("answered").await;
    b.screenshot("answered-timeline").await;
    let record = app.engine.application(&app.actor(&firm), &case).await.expect("read").record;
    assert_eq!(record.state, "ministry_review");
    assert_eq!(record.fields["passport_number"], "AB1234567");

    // ---- sign out; the public status page ----
    b.submit(".header__account button").await;
    assert!(b.text(".banner--success").await.contains("You have signed out"));
    b.axe("signed-out").await;
    b.goto("/status").await;
    b.axe("status").await;
    b.fill("#reference", &reference).await;
    b.fill("#passport", "ZZ0000000").await;
    b.submit("#check-status").await;
    assert!(b.text(".error-summary").await.contains("No application matches"));
    b.axe("status-no-match").await;
    b.fill("#reference", &reference).await;
    b.fill("#passport", "AB1234567").await;
    b.submit("#check-status").await;
    assert_eq!(b.text(".status-label").await, "Under review by the Ministry");
    b.axe("status-result").await;
    b.screenshot("status-result").await;

    // ---- the same pages in Arabic ----
    switch_language(&b, "ar").await;
    b.axe("status-ar").await;
    b.fill("#reference", &reference).await;
    b.fill("#passport", "AB1234567").await;
    b.submit("#check-status").await;
    // The workflow's own Arabic wording of the public status.
    let public = app.engine.workflow(WORKFLOW).expect("workflow").state_public("ministry_review");
    assert_eq!(b.text(".status-label").await, public.get(corridor_engine::lang::Lang::Ar));
    b.axe("status-result-ar").await;
    b.screenshot("status-result-ar").await;
    b.goto("/").await;
    b.axe("home-ar").await;
    b.screenshot("home-ar").await;
    b.goto("/login").await;
    b.axe("login-ar").await;
    b.fill("#email", "ayesha@indus.example").await;
    b.fill("#password", "wrong password").await;
    b.submit("#sign-in").await;
    assert!(b.exists(".error-summary").await);
    b.axe("login-error-ar").await;
    sign_in(&mut b, "ayesha@indus.example").await;
    // The account's language (English) wins at sign-in; the firm switches to Arabic.
    switch_language(&b, "ar").await;
    assert_eq!(app.store.user(firm.id).await.expect("user").language, "ar", "remembered on the account");
    b.axe("dashboard-ar").await;
    b.screenshot("dashboard-ar").await;
    b.goto(&app_path).await;
    b.axe("application-ar").await;
    b.screenshot("application-ar").await;
    b.goto(&format!("{app_path}/confirmation")).await;
    b.axe("confirmation-ar").await;
    b.goto("/applications/new").await;
    b.axe("start-ar").await;
    b.click("#workflow-2").await;
    b.submit("#continue").await;
    let draft = b.path().await;
    b.axe("task-list-ar").await;
    b.goto(&format!("{draft}/details")).await;
    b.axe("details-market-ar").await;
    b.submit("#save-continue").await;
    assert!(b.exists(".error-summary").await);
    b.axe("details-market-errors-ar").await;
    b.goto(&format!("{draft}/documents")).await;
    b.axe("documents-ar").await;
    b.screenshot("documents-ar").await;
    b.goto(&format!("{draft}/withdraw")).await;
    b.axe("withdraw-ar").await;
    b.goto("/applications/QA-BV-2026-999999-Z").await;
    assert!(b.text("h1").await.contains("الصفحة غير موجودة"));
    b.axe("not-found-ar").await;

    // ---- and one in Urdu (Nastaliq) ----
    switch_language(&b, "ur").await;
    b.goto("/applications").await;
    b.axe("dashboard-ur").await;
    b.screenshot("dashboard-ur").await;
    switch_language(&b, "en").await;
    b.goto("/applications/QA-BV-2026-999999-Z").await;
    b.axe("not-found").await;

    // ---- a phone-sized window: the same pages reflow ----
    b.client.set_window_size(390, 844).await.expect("resize");
    b.goto("/applications").await;
    b.axe("dashboard-narrow").await;
    b.screenshot("dashboard-narrow").await;
    b.goto(&format!("{draft}/details")).await;
    b.axe("details-narrow").await;
    b.screenshot("details-narrow").await;
    let overflow = b
        .client
        .execute("return document.documentElement.scrollWidth > window.innerWidth + 1", vec![])
        .await
        .expect("measure");
    assert_eq!(overflow.as_bool(), Some(false), "no sideways scrolling at 390px");

    let checked = b.checked.clone();
    b.close().await;
    assert!(checked.iter().filter(|c| c.starts_with("ar ")).count() >= 15, "{checked:#?}");
    assert!(checked.iter().filter(|c| c.starts_with("en ")).count() >= 20, "{checked:#?}");
    std::fs::write(support::artifacts_dir().join("e2e-firm-axe-pages.txt"), checked.join("\n")).expect("write list");
}
