//! The administrator's pages over real HTTP, on SQLite and PostgreSQL where the store
//! matters: accounts and organisations, disabling and password resets (which end sessions),
//! 404 for everyone else, the CSRF guard, the audit log before and after a row is tampered
//! with, dead-letter retry, and the workflow diagrams.

use crate::support::{self, Backend, PASSWORD, TestApp};
use chrono::Utc;
use corridor_engine::model::jobs::{JobId, JobPayload, JobStatus, MessageJob};
use corridor_engine::store::NewJob;
use corridor_engine::transition::TransitionRequest;
use sqlx::Connection;

const ADMIN: &str = "root@ops.example";

async fn app_with_admin(backend: Backend) -> TestApp {
    let app = support::spawn(backend).await;
    app.user(ADMIN, "admin", "Corridor Operations").await;
    app
}

/// The text of `<code ... id="new-password" ...>PASSWORD</code>`.
fn shown_password(html: &str) -> String {
    let at = html.find(r#"id="new-password""#).unwrap_or_else(|| panic!("no password on the page: {html}"));
    let rest = &html[at..];
    let start = rest.find('>').expect("tag end") + 1;
    let end = rest[start..].find('<').expect("closing tag");
    rest[start..start + end].to_string()
}

async fn sign_in_status(app: &TestApp, email: &str, password: &str) -> u16 {
    app.http().post_form("/login", "/login", &[("email", email), ("password", password)]).await.status
}

/// Run SQL against the app's own database, behind the engine's back.
async fn raw_sql(app: &TestApp, sql: &str) {
    let url = &app.config.database.url;
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open SQLite");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await.expect("SQL runs");
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("open PostgreSQL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await.expect("SQL runs");
    }
}

// ---------------------------------------------------------------------------------------
// Accounts and organisations
// ---------------------------------------------------------------------------------------

async fn admin_creates_an_organisation_and_users_who_can_sign_in(backend: Backend) {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let app = app_with_admin(backend).await;
    let http = app.signed_in(ADMIN).await;
    let home = http.get("/admin").await;
    assert_eq!(home.status, 200, "{}", home.body);
    for link in ["/admin/users", "/admin/organisations", "/admin/workflows", "/admin/audit", "/admin/jobs"] {
        assert!(home.body.contains(&format!(r#"href="{link}""#)), "nav links to {link}");
    }

    // An organisation, first with mistakes.
    let bad = http
        .post_form(
            "/admin/organisations/new",
            "/admin/organisations/new",
            &[("name", " "), ("kind", "club"), ("country", "XX")],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    for message in
        ["Enter the name of the organisation", "Select one of the kinds offered", "Select a country from the list"]
    {
        assert!(bad.body.contains(message), "{message}");
    }
    assert!(bad.body.contains(r##"href="#name""##), "the summary links to the field");
    let made = http
        .post_form(
            "/admin/organisations/new",
            "/admin/organisations/new",
            &[("name", "Multan Data Systems"), ("kind", "firm"), ("country", "PK")],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let org = app.store.organisation_by_name("Multan Data Systems").await.expect("read").expect("created");
    assert_eq!((org.kind.as_str(), org.country.as_deref()), ("firm", Some("PK")));
    let list = http.get(made.location().expect("redirect")).await;
    assert!(list.body.contains("The organisation has been added.") && list.body.contains("Multan Data Systems"));
    let again = http
        .post_form(
            "/admin/organisations/new",
            "/admin/organisations/new",
            &[("name", "Multan Data Systems"), ("kind", "firm")],
        )
        .await;
    assert_eq!(again.status, 422);
    assert!(again.body.contains("There is already an organisation with this name"));

    // A user with a generated password, shown once.
    let org_id = org.id.to_string();
    let fields = [
        ("email", "Sana@Multan.example"),
        ("name", "Sana Qureshi"),
        ("role", "applicant"),
        ("organisation", org_id.as_str()),
        ("language", "ar"),
        ("password", ""),
    ];
    let created = http.post_form("/admin/users/new", "/admin/users/new", &fields).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("Account created"));
    let password = shown_password(&created.body);
    assert_eq!(password.chars().count(), 20, "{password}");
    let stored = app.store.user_by_email("sana@multan.example").await.expect("read").expect("created");
    assert_eq!((stored.role.as_str(), stored.language.as_str(), stored.organisation_id), ("applicant", "ar", org.id));
    let hash = stored.password_hash.clone().expect("hash");
    assert!(hash.starts_with("$argon2id$") && !hash.contains(&password), "only an argon2id hash is stored");
    assert_eq!(created.header("cache-control"), Some("no-store"), "the password page is not cached");
    let user_page = http.get(&format!("/admin/users/{}", stored.id)).await;
    assert!(!user_page.body.contains(&password), "the password is not shown again");

    // The new user signs in with it and lands on the firm's pages, in Arabic.
    let sana = app.http();
    let login = sana.post_form("/login", "/login", &[("email", "sana@multan.example"), ("password", &password)]).await;
    assert_eq!(login.status, 303, "{}", login.body);
    assert_eq!(login.location(), Some("/applications"));
    assert!(sana.get("/applications").await.body.contains(r#"<html lang="ar" dir="rtl""#));

    // A user with a chosen password; mistakes first.
    let wrong = http
        .post_form(
            "/admin/users/new",
            "/admin/users/new",
            &[
                ("email", "not-an-address"),
                ("name", ""),
                ("role", "system"),
                ("organisation", "99999"),
                ("language", "en"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    for message in [
        "Enter an email address in the correct format",
        "Enter the person&#x27;s full name",
        "Select one of the roles offered",
        "Select one of the organisations offered",
        "The password must be at least 12 characters",
    ] {
        assert!(wrong.body.contains(message), "{message}: {}", wrong.body);
    }
    assert!(wrong.body.contains(r#"value="not-an-address""#), "what was typed is kept");
    let taken = http.post_form("/admin/users/new", "/admin/users/new", &fields).await;
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains("There is already an account with this email address"));

    let chosen = "a long chosen passphrase";
    let ministry =
        app.store.organisation_by_name("Corridor Operations").await.expect("read").expect("org").id.to_string();
    let with_password = http
        .post_form(
            "/admin/users/new",
            "/admin/users/new",
            &[
                ("email", "omar@ops.example"),
                ("name", "Omar Farooq"),
                ("role", "ministry_reviewer"),
                ("organisation", &ministry),
                ("language", "en"),
                ("password", chosen),
            ],
        )
        .await;
    assert_eq!(with_password.status, 303, "{}", with_password.body);
    assert!(with_password.location().unwrap_or("").starts_with("/admin/users/"));
    assert_eq!(sign_in_status(&app, "omar@ops.example", chosen).await, 303);

    // Both appear in the list.
    let users = http.get("/admin/users").await;
    assert!(
        users.body.contains("Sana Qureshi")
            && users.body.contains("Omar Farooq")
            && users.body.contains("Ministry reviewer")
    );
}

#[tokio::test]
async fn accounts_and_organisations_on_sqlite() {
    admin_creates_an_organisation_and_users_who_can_sign_in(Backend::Sqlite).await;
}

#[tokio::test]
async fn accounts_and_organisations_on_postgres() {
    admin_creates_an_organisation_and_users_who_can_sign_in(Backend::Postgres).await;
}

async fn disabling_and_resetting_end_sessions(backend: Backend) {
    let app = app_with_admin(backend).await;
    let user = app.user("hina@firm.example", "applicant", "Hina Firm").await;
    let admin = app.signed_in(ADMIN).await;

    // Disable: the open session stops working at once, and sign-in is refused.
    let hina = app.signed_in("hina@firm.example").await;
    assert_eq!(hina.get("/applications").await.status, 200);
    let page = format!("/admin/users/{}", user.id);
    let disabled = admin.post_form(&page, &format!("{page}/disable"), &[]).await;
    assert_eq!(disabled.status, 303, "{}", disabled.body);
    assert!(app.store.user(user.id).await.expect("read").disabled);
    assert_eq!(app.store.delete_user_sessions(user.id).await.expect("count"), 0, "no session is left");
    let gone = hina.get("/applications").await;
    assert_eq!(gone.status, 303, "the old session no longer opens pages");
    assert!(gone.location().unwrap_or("").starts_with("/login"));
    let refused =
        app.http().post_form("/login", "/login", &[("email", "hina@firm.example"), ("password", PASSWORD)]).await;
    assert_eq!(refused.status, 422, "a disabled account cannot sign in");
    let shown = admin.get(disabled.location().expect("redirect")).await;
    assert!(shown.body.contains("The account has been disabled") && shown.body.contains("Disabled"));

    // Enable again: the same password works.
    assert_eq!(admin.post_form(&page, &format!("{page}/enable"), &[]).await.status, 303);
    assert_eq!(sign_in_status(&app, "hina@firm.example", PASSWORD).await, 303);

    // Reset: the new password is shown once, the old one and every session stop working.
    let hina = app.signed_in("hina@firm.example").await;
    let second = app.signed_in("hina@firm.example").await;
    assert_eq!(hina.get("/applications").await.status, 200);
    let reset = admin.post_form(&page, &format!("{page}/reset-password"), &[]).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert!(reset.body.contains("Password reset"));
    let new_password = shown_password(&reset.body);
    assert_ne!(new_password, PASSWORD);
    assert_eq!(hina.get("/applications").await.status, 303, "signed out");
    assert_eq!(second.get("/applications").await.status, 303, "signed out everywhere");
    assert_eq!(sign_in_status(&app, "hina@firm.example", PASSWORD).await, 422, "the old password no longer works");
    assert_eq!(sign_in_status(&app, "hina@firm.example", &new_password).await, 303);

    // Change of role.
    let role = admin.post_form(&page, &format!("{page}/role"), &[("role", "ministry_reviewer")]).await;
    assert_eq!(role.status, 303, "{}", role.body);
    assert_eq!(app.store.user(user.id).await.expect("read").role, "ministry_reviewer");
    let unknown = admin.post_form(&page, &format!("{page}/role"), &[("role", "system")]).await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.body.contains("Select one of the roles offered"));
    assert_eq!(app.store.user(user.id).await.expect("read").role, "ministry_reviewer");
}

#[tokio::test]
async fn disable_and_reset_on_sqlite() {
    disabling_and_resetting_end_sessions(Backend::Sqlite).await;
}

#[tokio::test]
async fn disable_and_reset_on_postgres() {
    disabling_and_resetting_end_sessions(Backend::Postgres).await;
}

#[tokio::test]
async fn an_administrator_cannot_lock_themselves_out() {
    let app = app_with_admin(Backend::Sqlite).await;
    let me = app.store.user_by_email(ADMIN).await.expect("read").expect("admin");
    let http = app.signed_in(ADMIN).await;
    let page = format!("/admin/users/{}", me.id);
    let own = http.get(&page).await;
    assert!(own.body.contains("This is your own account") && !own.body.contains(r#"id="disable-user""#));
    assert_eq!(http.post_form(&page, &format!("{page}/disable"), &[]).await.status, 403);
    assert_eq!(http.post_form(&page, &format!("{page}/role"), &[("role", "applicant")]).await.status, 403);
    let after = app.store.user(me.id).await.expect("read");
    assert!(!after.disabled && after.role == "admin");
}

// ---------------------------------------------------------------------------------------
// Who may see the pages, and the form guard
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn everyone_but_an_administrator_gets_not_found() {
    let app = app_with_admin(Backend::Sqlite).await;
    let firm = app.user("zara@firm.example", "applicant", "Zara Firm").await;
    let reference = app.complete_draft(&firm, "it-business-visa").await;
    app.user("rev@ministry.example", "ministry_reviewer", "Ministry").await;
    let pages = [
        "/admin".to_string(),
        "/admin/users".into(),
        "/admin/users/new".into(),
        format!("/admin/users/{}", firm.id),
        "/admin/organisations".into(),
        "/admin/organisations/new".into(),
        "/admin/workflows".into(),
        "/admin/workflows/it-business-visa/3".into(),
        "/admin/audit".into(),
        format!("/admin/audit/{reference}"),
        "/admin/audit?verify=all".into(),
        "/admin/jobs".into(),
        "/admin/access".into(),
    ];
    for email in ["zara@firm.example", "rev@ministry.example"] {
        let http = app.signed_in(email).await;
        for path in &pages {
            let page = http.get(path).await;
            assert_eq!(page.status, 404, "{email} {path}");
            assert!(page.body.contains("Page not found"), "{email} {path}");
        }
        // A well-formed POST with a valid token is not found either, and changes nothing.
        let post = http.post_form("/status", &format!("/admin/users/{}/disable", firm.id), &[]).await;
        assert_eq!(post.status, 404, "{email}");
        let reset = http.post_form("/status", &format!("/admin/users/{}/reset-password", firm.id), &[]).await;
        assert_eq!(reset.status, 404, "{email}");
        let home = if email.starts_with("zara") { "/applications" } else { "/queue" };
        let home = http.get(home).await;
        assert_eq!(home.status, 200, "{email}");
        assert!(!home.body.contains(r#"href="/admin"#), "{email} sees no admin link");
    }
    let after = app.store.user(firm.id).await.expect("read");
    assert!(!after.disabled);
    assert_eq!(sign_in_status(&app, "zara@firm.example", PASSWORD).await, 303, "the password was not reset");

    // Not signed in: sign in first, then come back.
    let anonymous = app.http().get("/admin/users").await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.location(), Some("/login?next=/admin/users"));
    // The administrator gives the password, then the second factor, and lands on the overview.
    let http = app.http();
    let login = http.post_form("/login", "/login", &[("email", ADMIN), ("password", PASSWORD)]).await;
    assert_eq!(login.location(), Some("/login/code"));
    let code = app.fresh_code(ADMIN).await;
    let done = http.post_form("/login/code", "/login/code", &[("code", &code)]).await;
    assert_eq!(done.location(), Some("/admin"));
}

#[tokio::test]
async fn admin_forms_without_their_token_or_from_elsewhere_are_refused_and_change_nothing() {
    let app = app_with_admin(Backend::Sqlite).await;
    let user = app.user("ali@firm.example", "applicant", "Ali Firm").await;
    let job_id = dead_letter(&app, "csrf").await;
    let http = app.signed_in(ADMIN).await;
    let token = http.get("/admin/users/new").await.csrf().expect("token");
    let origin = app.base.clone();
    let org = user.organisation_id.to_string();
    let id = user.id;
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/admin/users/new".into(),
            vec![
                ("email", "new@x.example"),
                ("name", "New"),
                ("role", "applicant"),
                ("organisation", &org),
                ("language", "en"),
            ],
        ),
        ("/admin/organisations/new".into(), vec![("name", "Sneaky Org"), ("kind", "firm")]),
        (format!("/admin/users/{id}/disable"), vec![]),
        (format!("/admin/users/{id}/reset-password"), vec![]),
        (format!("/admin/users/{id}/role"), vec![("role", "admin")]),
        (format!("/admin/jobs/{job_id}/retry"), vec![]),
    ];
    for (path, fields) in &posts {
        let no_token = http.post_raw(path, fields, &[("origin", &origin)]).await;
        assert_eq!(no_token.status, 403, "{path} without a token");
        assert!(no_token.body.contains("The form could not be sent"), "{path}");
        let mut with_token = fields.clone();
        with_token.push(("csrf", &token));
        let elsewhere = http.post_raw(path, &with_token, &[("origin", "http://evil.example")]).await;
        assert_eq!(elsewhere.status, 403, "{path} from another origin");
    }
    let after = app.store.user(id).await.expect("read");
    assert!(!after.disabled && after.role == "applicant");
    assert_eq!(after.password_hash, user.password_hash, "the password was not reset");
    assert!(app.store.user_by_email("new@x.example").await.expect("read").is_none());
    assert!(app.store.organisation_by_name("Sneaky Org").await.expect("read").is_none());
    let job = app.store.jobs(Some(JobStatus::Dead), 10).await.expect("jobs");
    assert!(job.iter().any(|j| j.id == job_id), "the dead letter was not retried");
    // The same request with its token, from our own pages, works.
    let ok = http.post_raw(&format!("/admin/users/{id}/disable"), &[("csrf", &token)], &[("origin", &origin)]).await;
    assert_eq!(ok.status, 303);
}

// ---------------------------------------------------------------------------------------
// The audit log
// ---------------------------------------------------------------------------------------

async fn audit_chain_is_shown_and_a_tampered_row_is_found(backend: Backend) {
    let app = app_with_admin(backend).await;
    let firm = app.user("bano@firm.example", "applicant", "Bano Soft").await;
    let reference = app.complete_draft(&firm, "it-business-visa").await;
    let actor = app.actor(&firm);
    let view = app.engine.application(&actor, &reference).await.expect("read");
    app.engine
        .transition(
            &actor,
            &reference,
            &TransitionRequest {
                reason_code: None,
                action: "submit".into(),
                expected_version: view.record.version,
                comment: Some("Please <b>hurry</b>".into()),
                reason: None,
                fields: None,
            },
        )
        .await
        .expect("submit");
    let other = app.complete_draft(&firm, "it-business-visa").await;
    let events = app.store.history(view.record.id).await.expect("history");
    assert!(events.len() >= 3, "create, uploads, submit");

    let http = app.signed_in(ADMIN).await;
    // Search by reference, typed loosely.
    let found = http.get(&format!("/admin/audit?reference={}", reference.as_str().to_lowercase())).await;
    assert_eq!(found.status, 303, "{}", found.body);
    assert_eq!(found.location(), Some(format!("/admin/audit/{reference}").as_str()));
    let missing = http.get("/admin/audit?reference=QA-BV-2026-999999-X").await;
    assert_eq!(missing.status, 422);
    assert!(missing.body.contains("There is no application with this reference"));

    let page = http.get(&format!("/admin/audit/{reference}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("The chain is intact"), "{}", page.body);
    assert!(page.body.contains(&format!("{} events checked", events.len())));
    for e in &events {
        assert!(page.body.contains(&format!(r#"id="event-{}""#, e.seq)));
        assert!(page.body.contains(&e.hash[..12]), "hash of event {} abbreviated", e.seq);
        assert!(page.body.contains(&format!(r#"title="{}""#, e.hash)), "full hash kept");
    }
    assert!(page.body.contains("bano Tester") && page.body.contains("Bano Soft") && page.body.contains("submit"));
    assert!(page.body.contains("Please &lt;b&gt;hurry&lt;&#x2F;b&gt;"), "comments are escaped");
    assert!(!page.body.contains("Does not match"));
    let all = http.get("/admin/audit?verify=all").await;
    assert!(all.body.contains("Every chain is intact"), "{}", all.body);
    assert!(all.body.contains("2 applications"));

    // Edit one row behind the engine's back.
    let target = events.iter().find(|e| e.action == "submit").expect("submit event");
    raw_sql(&app, &format!("UPDATE audit_events SET comment = 'Approved by phone' WHERE id = {}", target.id)).await;
    let broken = http.get(&format!("/admin/audit/{reference}")).await;
    assert_eq!(broken.status, 200);
    assert!(broken.body.contains("The chain is broken"), "{}", broken.body);
    assert!(broken.body.contains(&format!("Event {} does not match", target.seq)));
    assert!(broken.body.contains("the row was edited"), "the engine's finding is shown");
    assert!(broken.body.contains("Approved by phone"));
    let row_start = broken.body.find(&format!(r#"id="event-{}""#, target.seq)).expect("row");
    assert!(
        broken.body[row_start..].split("</tr>").next().unwrap_or("").contains("Does not match"),
        "the row is marked"
    );
    let all = http.get("/admin/audit?verify=all").await;
    assert!(all.body.contains("A chain is broken"), "{}", all.body);
    assert!(all.body.contains(&format!("/admin/audit/{reference}")), "names the application");
    // The other application's chain is untouched.
    assert!(http.get(&format!("/admin/audit/{other}")).await.body.contains("The chain is intact"));
}

#[tokio::test]
async fn audit_log_on_sqlite() {
    audit_chain_is_shown_and_a_tampered_row_is_found(Backend::Sqlite).await;
}

#[tokio::test]
async fn audit_log_on_postgres() {
    audit_chain_is_shown_and_a_tampered_row_is_found(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------
// Jobs and dead letters
// ---------------------------------------------------------------------------------------

/// A job that failed its only attempt: a dead letter. Returns its id.
async fn dead_letter(app: &TestApp, key: &str) -> JobId {
    let store = &app.store;
    let now = Utc::now();
    store
        .enqueue_jobs(vec![NewJob {
            dedup_key: format!("test:{key}"),
            application_id: None,
            payload: JobPayload::Message(MessageJob {
                template: "deadline_near".into(),
                user_id: corridor_engine::model::UserId::new(1),
                context: serde_json::Map::new(),
                facts: None,
            }),
            run_at: now,
            max_attempts: 1,
        }])
        .await
        .expect("enqueue");
    let claimed = store.claim_jobs("test-worker", now, 60, 10).await.expect("claim");
    let job = claimed.into_iter().find(|j| j.dedup_key == format!("test:{key}")).expect("claimed");
    store
        .fail_job(job.id, "test-worker", "550 5.1.1 <reviewer@ministry.example>: mailbox unavailable", None, now)
        .await
        .expect("fail");
    job.id
}

async fn dead_letters_are_listed_first_and_can_be_retried(backend: Backend) {
    let app = app_with_admin(backend).await;
    let firm = app.user("kiran@firm.example", "applicant", "Kiran Soft").await;
    let reference = app.complete_draft(&firm, "it-business-visa").await;
    let actor = app.actor(&firm);
    // A real submission enqueues its own jobs (a pending deadline timer, e-mails).
    support::act(&app.engine, &actor, &reference, "submit", None).await;
    let job_id = dead_letter(&app, "dead-1").await;

    let http = app.signed_in(ADMIN).await;
    let page = http.get("/admin/jobs").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let dead_at = page.body.find(r#"id="dead-letters""#).expect("a dead-letter table");
    let others_at = page.body.find(r#"id="jobs""#).expect("the other jobs");
    assert!(dead_at < others_at, "dead letters come first");
    let row = &page.body[page.body.find(&format!(r#"id="job-{job_id}""#)).expect("the dead job's row")..];
    let row = row.split("</tr>").next().unwrap_or("");
    assert!(row.contains("mailbox unavailable"), "its last error: {row}");
    assert!(row.contains(&format!(r#"action="/admin/jobs/{job_id}/retry""#)), "a retry button");
    assert!(page.body[others_at..].contains(reference.as_str()), "submission jobs link to their application");
    let dead_only = http.get("/admin/jobs?status=dead").await;
    assert!(dead_only.body.contains(&format!(r#"id="job-{job_id}""#)));
    assert_eq!(http.get("/admin/jobs?status=nonsense").await.status, 404);

    let retried = http.post_form("/admin/jobs", &format!("/admin/jobs/{job_id}/retry"), &[]).await;
    assert_eq!(retried.status, 303, "{}", retried.body);
    let pending = app.store.jobs(Some(JobStatus::Pending), 100).await.expect("jobs");
    let job = pending.iter().find(|j| j.id == job_id).expect("the job is pending again");
    assert_eq!(job.attempts, 0, "with a fresh set of attempts");
    let after = http.get(retried.location().expect("redirect")).await;
    assert!(after.body.contains("The job has been put back in the queue"));
    assert!(after.body.contains("There are no dead letters."));
    // Retrying again changes nothing and says so.
    let twice = http.post_form("/admin/jobs", &format!("/admin/jobs/{job_id}/retry"), &[]).await;
    assert_eq!(twice.status, 303);
    assert!(http.get(twice.location().expect("redirect")).await.body.contains("no longer a dead letter"));
}

#[tokio::test]
async fn dead_letters_on_sqlite() {
    dead_letters_are_listed_first_and_can_be_retried(Backend::Sqlite).await;
}

#[tokio::test]
async fn dead_letters_on_postgres() {
    dead_letters_are_listed_first_and_can_be_retried(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------
// Workflows
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn each_workflow_page_draws_every_state_in_an_inline_svg() {
    let app = app_with_admin(Backend::Sqlite).await;
    let http = app.signed_in(ADMIN).await;
    let list = http.get("/admin/workflows").await;
    assert_eq!(list.status, 200);
    let workflows: Vec<_> = app.engine.workflow_versions();
    assert!(workflows.len() >= 2);
    for w in &workflows {
        let url = format!("/admin/workflows/{}/{}", w.id, w.version);
        assert!(list.body.contains(&format!(r#"href="{url}""#)), "{url} listed");
        assert!(list.body.contains(&w.content_hash), "content hash of {}", w.id);
        let page = http.get(&url).await;
        assert_eq!(page.status, 200, "{url}: {}", page.body);
        let start = page.body.find("<svg").expect("an inline svg");
        let end = page.body[start..].find("</svg>").expect("svg end") + start;
        let svg = &page.body[start..end];
        assert!(
            svg.contains(r#"role="img""#) && svg.contains("<title id=") && svg.contains("<desc id="),
            "accessible name and description"
        );
        for s in &w.states {
            assert!(svg.contains(&format!(r#"data-state="{}""#, s.name)), "{}: state {} in the diagram", w.id, s.name);
            assert!(
                svg.contains(&format!(">{}</text>", s.label.en())) || s.label.en().len() > 30,
                "{}: label of {}",
                w.id,
                s.name
            );
        }
        let edges = corridor_engine::workflow::graph::edges(w);
        assert_eq!(svg.matches("<path class=\"diagram__edge").count(), edges.len(), "{}: one arrow per edge", w.id);
        assert!(svg.contains("diagram__edge--return"), "{}: return edges drawn distinctly", w.id);
        // The same facts as text.
        for t in &w.transitions {
            assert!(page.body[end..].contains(&format!(">{}</code>", t.action)), "{}: {} in the table", w.id, t.action);
        }
        assert!(!page.body.contains("<script") && !page.body.contains("style=\""), "no inline script or style");
    }
    assert_eq!(http.get("/admin/workflows/it-business-visa/999").await.status, 404);
    assert_eq!(http.get("/admin/workflows/no-such-workflow/1").await.status, 404);
    assert_eq!(http.get("/admin/workflows/it-business-visa/one").await.status, 404);
}

// ---------------------------------------------------------------------------------------
// Holidays
// ---------------------------------------------------------------------------------------

async fn a_holiday_moves_open_deadlines_and_is_audited(backend: Backend) {
    use chrono::{Datelike, Weekday};
    let app = app_with_admin(backend).await;
    let firm = app.user("nadia@firm.example", "applicant", "Nadia Soft").await;
    let reference = app.complete_draft(&firm, "it-business-visa").await;
    let actor = app.actor(&firm);
    let version = app.engine.application(&actor, &reference).await.expect("read").record.version;
    let submitted = app
        .engine
        .transition(
            &actor,
            &reference,
            &TransitionRequest {
                reason_code: None,
                action: "submit".into(),
                expected_version: version,
                comment: None,
                reason: None,
                fields: None,
            },
        )
        .await
        .expect("submit");
    let before = submitted.record.deadline_at.expect("the review has a deadline");
    // The next Qatari working day (not Friday or Saturday, not a holiday yet).
    let known = app.engine.holidays("qatar").await.expect("holidays");
    let qatar = app.engine.calendar_named("qatar").expect("the Qatar calendar").timezone();
    let mut day = app.engine.now().with_timezone(&qatar).date_naive();
    loop {
        day = day.succ_opt().expect("next day");
        if !matches!(day.weekday(), Weekday::Fri | Weekday::Sat) && !known.iter().any(|h| h.date == day) {
            break;
        }
    }
    let date = day.format("%Y-%m-%d").to_string();

    let http = app.signed_in(ADMIN).await;
    // Without a choice the page opens on the calendar the workflows count on.
    let first = http.get("/admin/holidays").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.body.contains("Qatar National Day"), "opens on Qatar: {}", first.body);
    let page = http.get("/admin/holidays?calendar=qatar").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Qatar National Day") && page.body.contains("Friday, Saturday"), "{}", page.body);
    assert_eq!(http.get("/admin/holidays?calendar=atlantis").await.status, 404);

    // Mistakes first.
    let empty = http
        .post_form(
            "/admin/holidays?calendar=qatar",
            "/admin/holidays/add",
            &[("calendar", "qatar"), ("date", "2026-02-30"), ("name", "")],
        )
        .await;
    assert_eq!(empty.status, 422);
    assert!(
        empty.body.contains("The date must be a real date") && empty.body.contains("Enter the name of the holiday")
    );
    let national_day =
        known.iter().find(|h| h.name == "Qatar National Day").expect("in the file").date.format("%Y-%m-%d").to_string();
    let taken = http
        .post_form(
            "/admin/holidays?calendar=qatar",
            "/admin/holidays/add",
            &[("calendar", "qatar"), ("date", &national_day), ("name", "Again")],
        )
        .await;
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains("That day is already a holiday"));

    // Add: the review's deadline moves later, and the change is in the application's chain.
    let added = http
        .post_form(
            "/admin/holidays?calendar=qatar",
            "/admin/holidays/add",
            &[("calendar", "qatar"), ("date", &date), ("name", "Extra Eid day")],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(added.body.contains("Holiday added") && added.body.contains(reference.as_str()), "{}", added.body);
    assert!(added.body.contains("Calendar: Qatar"), "the confirmation names the calendar: {}", added.body);
    let after = app.engine.application(&actor, &reference).await.expect("read").record.deadline_at.expect("deadline");
    assert!(after > before, "{before} -> {after}");
    let list = http.get("/admin/holidays?calendar=qatar").await;
    assert!(list.body.contains("Extra Eid day") && list.body.contains(&format!(r#"id="remove-{date}""#)));
    let audit = http.get(&format!("/admin/audit/{reference}")).await;
    assert!(audit.body.contains("deadline_recomputed"), "{}", audit.body);
    assert!(audit.body.contains("The chain is intact"));

    // Remove it again: the deadline comes back.
    let removed = http
        .post_form(
            "/admin/holidays?calendar=qatar",
            "/admin/holidays/remove",
            &[("calendar", "qatar"), ("date", &date)],
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(removed.body.contains("It is a working day again") && removed.body.contains(reference.as_str()));
    let back = app.engine.application(&actor, &reference).await.expect("read").record.deadline_at.expect("deadline");
    assert_eq!(back, before);
    assert!(!http.get("/admin/holidays?calendar=qatar").await.body.contains("Extra Eid day"));

    // Not for anyone else, and not without the form token.
    let firm_http = app.signed_in("nadia@firm.example").await;
    assert_eq!(firm_http.get("/admin/holidays").await.status, 404);
    let sneaky = firm_http
        .post_form("/status", "/admin/holidays/add", &[("calendar", "qatar"), ("date", &date), ("name", "Sneaky")])
        .await;
    assert_eq!(sneaky.status, 404);
    let no_token = http
        .post_raw(
            "/admin/holidays/add",
            &[("calendar", "qatar"), ("date", &date), ("name", "Sneaky")],
            &[("origin", &app.base)],
        )
        .await;
    assert_eq!(no_token.status, 403);
    assert!(!app.engine.holidays("qatar").await.expect("holidays").iter().any(|h| h.name == "Sneaky"));
}

#[tokio::test]
async fn holidays_on_sqlite() {
    a_holiday_moves_open_deadlines_and_is_audited(Backend::Sqlite).await;
}

#[tokio::test]
async fn holidays_on_postgres() {
    a_holiday_moves_open_deadlines_and_is_audited(Backend::Postgres).await;
}

/// The engine refuses every administrative call from anyone but an administrator, whatever
/// the page does (a page that forgot its check would still change nothing).
#[tokio::test]
async fn the_engine_refuses_administration_to_other_roles() {
    use corridor_engine::admin::{OrganisationInput, UserInput};
    use corridor_engine::error::EngineError;
    let app = app_with_admin(Backend::Sqlite).await;
    let firm = app.user("ikram@firm.example", "applicant", "Ikram Soft").await;
    let reviewer = app.user("rev@ministry.example", "ministry_reviewer", "Ministry").await;
    let reference = app.complete_draft(&firm, "it-business-visa").await;
    let job = dead_letter(&app, "engine").await;
    let engine = &app.engine;
    for user in [&firm, &reviewer] {
        let actor = app.actor(user);
        let forbidden = |r: Result<(), EngineError>, what: &str| {
            assert!(matches!(r, Err(EngineError::Forbidden(_))), "{} may not {what}: {r:?}", user.role);
        };
        forbidden(engine.admin_users(&actor).await.map(drop), "list users");
        forbidden(engine.admin_organisations(&actor).await.map(drop), "list organisations");
        forbidden(engine.admin_user(&actor, firm.id).await.map(drop), "read a user");
        let org = OrganisationInput { name: "Rogue".into(), kind: "firm".into(), country: String::new() };
        forbidden(engine.admin_create_organisation(&actor, &org).await.map(drop), "create an organisation");
        let new_user = UserInput {
            email: "rogue@x.example".into(),
            name: "Rogue".into(),
            role: "admin".into(),
            organisation_id: Some(firm.organisation_id),
            language: "en".into(),
            password: String::new(),
        };
        forbidden(engine.admin_create_user(&actor, &new_user).await.map(drop), "create a user");
        forbidden(engine.admin_set_disabled(&actor, reviewer.id, true).await.map(drop), "disable a user");
        forbidden(engine.admin_reset_password(&actor, firm.id).await.map(drop), "reset a password");
        forbidden(engine.admin_set_role(&actor, user.id, "admin").await.map(drop), "change a role (even their own)");
        forbidden(engine.admin_workflows(&actor).map(drop), "list workflows");
        forbidden(engine.admin_audit(&actor, &reference).await.map(drop), "read the audit report");
        forbidden(engine.admin_verify_all(&actor).await.map(drop), "verify every chain");
        forbidden(engine.admin_jobs(&actor, None, 10).await.map(drop), "list jobs");
        forbidden(engine.admin_retry_job(&actor, job).await.map(drop), "retry a job");
        forbidden(engine.admin_holidays(&actor, "qatar").await.map(drop), "list holidays");
    }
    let store = &app.store;
    assert!(store.organisation_by_name("Rogue").await.expect("read").is_none());
    assert!(store.user_by_email("rogue@x.example").await.expect("read").is_none());
    assert!(!store.user(reviewer.id).await.expect("read").disabled);
    assert_eq!(store.user(firm.id).await.expect("read").role, "applicant");
    assert!(store.jobs(Some(JobStatus::Dead), 10).await.expect("jobs").iter().any(|j| j.id == job));
}
