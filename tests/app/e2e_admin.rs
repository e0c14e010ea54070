//! The administrator's pages in headless Chromium: an administrator signs in, adds an
//! organisation and a user (first with mistakes), reads the password shown once, resets it,
//! disables the account, opens each workflow with its diagram, reads an audit log and
//! verifies every chain, retries a dead letter, and adds and removes a holiday. axe-core checks every page visited, in
//! English and in Arabic (and one in Urdu); screenshots go to `test-artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`, and `npm ci` in `tests/browser` (axe-core):
//! the test fails, never skips, without them.

use crate::support::{self, Backend, Browser, PASSWORD};
use chrono::Utc;
use corridor_engine::model::jobs::{JobPayload, MessageJob};
use corridor_engine::store::NewJob;

async fn switch_language(b: &Browser, code: &str) {
    b.submit(&format!("button[name=lang][value={code}]")).await;
    let (lang, dir) = b.lang_dir().await;
    assert_eq!(lang, code);
    assert_eq!(dir, if code == "en" { "ltr" } else { "rtl" });
}

#[tokio::test]
async fn an_administrator_looks_after_the_service_in_a_real_browser() {
    let app = support::spawn(Backend::Sqlite).await;
    // No second factor yet: the first sign-in sets it up.
    app.user_without_second_factor("root@ops.example", "admin", "Corridor Operations").await;
    let firm = app.user("ayesha@indus.example", "applicant", "Indus Software House").await;
    let reference = app.complete_draft(&firm, "it-business-visa").await;
    let actor = app.actor(&firm);
    support::act(&app.engine, &actor, &reference, "submit", None).await;
    // A message that failed its only attempt.
    let store = &app.store;
    let now = Utc::now();
    store
        .enqueue_jobs(vec![NewJob {
            dedup_key: "e2e:dead".into(),
            application_id: None,
            payload: JobPayload::Message(MessageJob {
                template: "deadline_near".into(),
                user_id: corridor_engine::model::UserId::new(1),
                context: serde_json::Map::new(),
            }),
            run_at: now,
            max_attempts: 1,
        }])
        .await
        .expect("enqueue");
    let job = store
        .claim_jobs("e2e", now, 60, 10)
        .await
        .expect("claim")
        .into_iter()
        .find(|j| j.dedup_key == "e2e:dead")
        .expect("job");
    store.fail_job(job.id, "e2e", "connection refused (os error 111)", None, now).await.expect("fail");

    let firm_token = app.token(&firm).await;
    // The firm's script downloads one of its documents: a line of the access log.
    let document =
        app.store.documents(app.store.application_by_reference(&reference).await.unwrap().unwrap().id).await.unwrap();
    let downloaded = reqwest::Client::new()
        .get(format!("{}/api/v1/applications/{reference}/documents/{}", app.base, document[0].id))
        .bearer_auth(&firm_token)
        .send()
        .await
        .expect("api");
    assert_eq!(downloaded.status(), 200);

    let mut b = support::browser(&app.base, "e2e-admin").await;

    // ---- sign in: the password, then the second factor is set up (QR code, key, one code,
    // recovery codes), then the administrator lands on the overview ----
    b.goto("/login").await;
    b.fill("#email", "root@ops.example").await;
    b.fill("#password", PASSWORD).await;
    b.submit("#sign-in").await;
    assert_eq!(b.path().await, "/login/enrol");
    assert!(b.exists("img#qr-code[src^='data:image/svg+xml;base64,']").await, "a QR code");
    b.axe("enrol").await;
    b.screenshot("enrol").await;
    let secret: String = b.text("#totp-secret").await.chars().filter(|c| !c.is_whitespace()).collect();
    b.fill("#code", &support::totp::code_at_step(&secret, support::totp::current_step())).await;
    b.submit("#confirm-enrolment").await;
    assert_eq!(
        b.find("#recovery-codes").await.find_all(fantoccini::Locator::Css("li")).await.expect("codes").len(),
        10
    );
    b.axe("recovery-codes").await;
    b.submit("#continue").await;
    assert_eq!(b.path().await, "/admin");
    assert!(b.exists("a[href='/admin/jobs?status=dead']").await, "the dead letter is announced");
    b.axe("overview").await;
    b.screenshot("overview").await;

    // ---- an organisation, first with a mistake ----
    b.goto("/admin/organisations/new").await;
    b.axe("organisation-new").await;
    b.submit("#create-organisation").await;
    assert!(b.exists(".error-summary").await);
    b.axe("organisation-new-errors").await;
    b.fill("#name", "Multan Data Systems").await;
    b.click("#kind").await;
    b.select("#country", "PK").await;
    b.submit("#create-organisation").await;
    assert_eq!(b.path().await, "/admin/organisations?notice=admin.organisation_created");
    b.axe("organisations").await;

    // ---- the administrator's own password page, empty and then with its mistakes ----
    b.goto("/account/password").await;
    b.axe("account-password").await;
    b.submit("#change-password").await;
    assert!(b.text(".error-summary").await.contains("Enter your current password"));
    b.axe("account-password-errors").await;

    // ---- a user, first with mistakes, then with a generated password ----
    b.goto("/admin/users").await;
    b.axe("users").await;
    b.submit("#add-user").await;
    b.axe("user-new").await;
    b.fill("#email", "not an address").await;
    b.fill("#password", "short").await;
    b.submit("#create-user").await;
    let summary = b.text(".error-summary").await;
    assert!(
        summary.contains("Enter an email address in the correct format") && summary.contains("Select a role"),
        "{summary}"
    );
    b.axe("user-new-errors").await;
    b.screenshot("user-new-errors").await;
    b.fill("#email", "sana@multan.example").await;
    b.fill("#name", "Sana Qureshi").await;
    b.select("#role", "applicant").await;
    let org = store.organisation_by_name("Multan Data Systems").await.expect("read").expect("org");
    b.select("#organisation", &org.id.to_string()).await;
    b.fill("#password", "").await;
    b.submit("#create-user").await;
    let password = b.text("#new-password").await;
    assert_eq!(password.chars().count(), 20);
    b.axe("password-once").await;
    b.screenshot("password-once").await;
    b.submit("#done").await;
    let user_path = b.path().await;
    assert!(user_path.starts_with("/admin/users/"), "{user_path}");
    b.axe("user").await;
    b.screenshot("user").await;
    b.submit("#reset-password").await;
    assert_ne!(b.text("#new-password").await, password);
    b.axe("password-reset").await;
    b.goto(&user_path).await;
    b.submit("#disable-user").await;
    assert!(b.text(".banner--success").await.contains("disabled"));
    assert!(b.exists("#enable-user").await);
    b.axe("user-disabled").await;

    // ---- workflows and their diagrams ----
    b.goto("/admin/workflows").await;
    b.axe("workflows").await;
    for w in app.engine.workflows() {
        let path = format!("/admin/workflows/{}/{}", w.id, w.version);
        b.goto(&path).await;
        assert!(b.exists("svg.diagram[role=img]").await, "{path}");
        for s in &w.states {
            assert!(b.exists(&format!("svg g[data-state='{}']", s.name)).await, "{path}: {}", s.name);
        }
        // The diagram fits the page: no box is cut off.
        let fits = b
            .client
            .execute(
                "const s = document.querySelector('svg.diagram').getBoundingClientRect(); return s.width > 300 && s.right <= window.innerWidth;",
                vec![],
            )
            .await
            .expect("measure");
        assert_eq!(fits.as_bool(), Some(true), "{path}: the diagram is visible and fits");
        b.axe(&format!("workflow-{}", w.id)).await;
        b.client.execute("document.querySelector('svg.diagram').scrollIntoView()", vec![]).await.expect("scroll");
        b.screenshot(&format!("workflow-{}", w.id)).await;
    }

    // ---- the audit log ----
    b.goto("/admin/audit").await;
    b.axe("audit-search").await;
    b.submit("#find-audit").await;
    assert!(b.exists(".error-summary").await, "an empty reference is an error");
    b.axe("audit-search-error").await;
    b.fill("#reference", &reference.as_str().to_lowercase()).await;
    b.submit("#find-audit").await;
    assert_eq!(b.path().await, format!("/admin/audit/{reference}"));
    assert!(b.text("#chain-result").await.contains("The chain is intact"));
    b.axe("audit").await;
    b.screenshot("audit").await;
    b.goto("/admin/audit").await;
    b.submit("#verify-all").await;
    assert!(b.text("#verify-result").await.contains("Every chain is intact"));
    b.axe("audit-verified").await;

    // ---- jobs: retry the dead letter ----
    b.goto("/admin/jobs").await;
    b.axe("jobs").await;
    b.screenshot("jobs").await;
    b.submit(&format!("#retry-{}", job.id)).await;
    assert!(b.text(".banner--success").await.contains("put back in the queue"));
    assert!(b.exists("#no-dead").await);
    b.axe("jobs-retried").await;

    // ---- holidays: add one (first with a mistake), see what it moved, remove it ----
    b.goto("/admin/holidays?calendar=qatar").await;
    b.axe("holidays").await;
    b.screenshot("holidays").await;
    b.submit("#add-holiday").await;
    assert!(b.exists(".error-summary").await);
    b.axe("holidays-errors").await;
    b.set_value("#date", "2031-01-05").await;
    b.fill("#name", "Extra day").await;
    b.submit("#add-holiday").await;
    assert!(b.text("h1").await.contains("Holiday added"));
    b.axe("holiday-added").await;
    b.submit("#back-to-holidays").await;
    b.submit("#remove-2031-01-05").await;
    assert!(b.text("h1").await.contains("working day again"));
    b.axe("holiday-removed").await;

    // ---- API tokens: the firm's token is listed and revoked ----
    b.goto("/admin/tokens").await;
    assert!(b.text("#tokens").await.contains("ayesha@indus.example"), "the firm's token is listed");
    b.axe("tokens").await;
    b.screenshot("tokens").await;
    b.submit("#tokens button[id^='revoke-']").await;
    assert!(!b.exists("#tokens button[id^='revoke-']").await, "no active token is left");
    b.axe("tokens-revoked").await;
    let refused = reqwest::Client::new()
        .get(format!("{}/api/v1/applications", app.base))
        .bearer_auth(&firm_token)
        .send()
        .await
        .expect("api");
    assert_eq!(refused.status(), 401, "the revoked token is refused");

    // ---- the access log, and the administrator's own sessions ----
    b.goto("/admin/access").await;
    assert!(b.text("main").await.contains(reference.as_str()), "the download is in the access log");
    b.axe("access").await;
    b.screenshot("access").await;
    b.goto("/account/sessions").await;
    assert!(b.exists("#sessions").await, "the administrator's sessions are listed");
    b.axe("account-sessions").await;
    b.screenshot("account-sessions").await;

    // ---- the same pages in Arabic ----
    switch_language(&b, "ar").await;
    let pages = [
        "/admin".to_string(),
        "/admin/users".into(),
        "/admin/users/new".into(),
        user_path.clone(),
        "/admin/organisations".into(),
        "/admin/organisations/new".into(),
        "/admin/workflows".into(),
        "/admin/workflows/it-business-visa/3".into(),
        "/admin/workflows/market-access/2".into(),
        "/admin/audit?verify=all".into(),
        format!("/admin/audit/{reference}"),
        "/admin/access".into(),
        "/admin/tokens".into(),
        "/account/sessions".into(),
        "/admin/jobs".into(),
        "/admin/jobs?status=pending".into(),
        "/admin/holidays?calendar=qatar".into(),
        "/admin/holidays?calendar=pakistan".into(),
    ];
    for path in &pages {
        b.goto(path).await;
        let (lang, dir) = b.lang_dir().await;
        assert_eq!((lang.as_str(), dir.as_str()), ("ar", "rtl"), "{path}");
        b.axe(&format!("ar-{path}")).await;
    }
    b.goto("/admin/workflows/it-business-visa/4").await;
    b.client.execute("document.querySelector('svg.diagram').scrollIntoView()", vec![]).await.expect("scroll");
    b.screenshot("workflow-ar").await;
    b.goto("/admin/users/new").await;
    b.submit("#create-user").await;
    assert!(b.exists(".error-summary").await);
    b.axe("user-new-errors-ar").await;
    b.screenshot("user-new-errors-ar").await;
    b.goto(&format!("/admin/audit/{reference}")).await;
    b.screenshot("audit-ar").await;

    // ---- one in Urdu ----
    switch_language(&b, "ur").await;
    b.goto("/admin/jobs").await;
    b.axe("jobs-ur").await;
    b.screenshot("jobs-ur").await;

    // ---- a phone-sized window ----
    switch_language(&b, "en").await;
    b.client.set_window_size(390, 844).await.expect("resize");
    for path in ["/admin/users", "/admin/workflows/it-business-visa/3", &format!("/admin/audit/{reference}")] {
        b.goto(path).await;
        b.axe(&format!("narrow-{path}")).await;
        let overflow = b
            .client
            .execute("return document.documentElement.scrollWidth > window.innerWidth + 1", vec![])
            .await
            .expect("measure");
        assert_eq!(overflow.as_bool(), Some(false), "{path}: no sideways scrolling at 390px");
    }
    b.screenshot("audit-narrow").await;

    let checked = b.checked.clone();
    b.close().await;
    assert!(checked.iter().filter(|c| c.starts_with("ar ")).count() >= 16, "{checked:#?}");
    assert!(checked.iter().filter(|c| c.starts_with("en ")).count() >= 25, "{checked:#?}");
    std::fs::write(support::artifacts_dir().join("e2e-admin-axe-pages.txt"), checked.join("\n")).expect("write list");
}
