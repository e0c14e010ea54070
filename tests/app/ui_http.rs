//! The web UI over real HTTP, on a real database: sign-in and sessions, the CSRF and origin
//! guard, escaping, authorisation ("not found"), security headers, languages, the firm's
//! pages and the public status page.

use crate::support::{self, Backend, PASSWORD, input_value, pdf, png};
use corridor_engine::auth;
use corridor_engine::store::{ApplicationFilter, Reference, Session, SessionStage, User};
use corridor_engine::transition::TransitionRequest;
use serde_json::{Map, Value};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

fn assert_security_headers(page: &support::Page, what: &str) {
    assert_eq!(page.header("content-security-policy"), Some(CSP), "CSP on {what}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"), "nosniff on {what}");
    assert_eq!(page.header("referrer-policy"), Some("same-origin"), "Referrer-Policy on {what}");
}

fn set_cookies(page: &support::Page) -> Vec<String> {
    page.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
}

fn cookie_value(page: &support::Page, name: &str) -> Option<String> {
    set_cookies(page)
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c[name.len() + 1..].split(';').next().unwrap_or("").to_string())
}

/// The firm submits its draft through the engine (the pages under test come after).
async fn submit(app: &support::TestApp, firm: &User, reference: &Reference) {
    support::act(&app.engine, &app.actor(firm), reference, "submit", None).await;
}

async fn application_count(app: &support::TestApp) -> usize {
    app.store.applications(&ApplicationFilter { limit: 1000, ..Default::default() }).await.expect("list").len()
}

#[tokio::test]
async fn security_headers_on_every_page_and_plain_error_pages() {
    let app = support::spawn(Backend::Sqlite).await;
    let http = app.http();
    for path in ["/", "/login", "/status", "/static/corridor.css", "/no-such-page", "/applications"] {
        let page = http.get(path).await;
        assert_security_headers(&page, path);
    }
    let missing = http.get("/no-such-page").await;
    assert_eq!(missing.status, 404);
    assert!(missing.header("content-type").unwrap_or("").starts_with("text/html"));
    assert!(missing.body.contains("Page not found"), "{}", missing.body);
    assert!(missing.body.contains(r#"<html lang="en" dir="ltr""#));
    // The API keeps its JSON errors.
    let api = http.get("/api/v1/nothing-here").await;
    assert_eq!(api.status, 404);
    assert!(api.header("content-type").unwrap_or("").starts_with("application/json"), "{:?}", api.headers);
    // Pages need a session; they send you to sign in and back.
    let gated = http.get("/applications").await;
    assert_eq!(gated.status, 303);
    assert_eq!(gated.location(), Some("/login?next=/applications"));
    // No inline script or style anywhere.
    for path in ["/", "/login", "/status"] {
        let body = http.get(path).await.body;
        assert!(!body.contains("<script"), "{path} has a script tag");
        assert!(!body.contains("style=\""), "{path} has an inline style");
    }
}

#[tokio::test]
async fn sign_in_makes_a_new_httponly_session_in_the_database_and_sign_out_ends_it() {
    let app = support::spawn(Backend::Sqlite).await;
    app.user("amna@firm.example", "applicant", "Lahore Soft").await;
    let http = app.http();
    let login = http.get("/login").await;
    assert_eq!(login.status, 200);
    let anon = cookie_value(&login, "corridor_csrf").expect("pre-sign-in cookie");
    let anon = corridor_engine::sessions::pre_sign_in_form_token(&anon);
    assert_eq!(login.csrf().as_deref(), Some(anon.as_str()), "the form's token is derived from the cookie");

    let page = http.post_form("/login", "/login", &[("email", "amna@firm.example"), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), Some("/applications"));
    let raw = set_cookies(&page).into_iter().find(|c| c.starts_with("corridor_session=")).expect("session cookie");
    assert!(raw.contains("HttpOnly") && raw.contains("SameSite=Lax") && raw.contains("Path=/"), "{raw}");
    assert!(!raw.contains("Secure"), "not Secure unless configured: {raw}");
    let token = cookie_value(&page, "corridor_session").expect("token");
    // The database keeps only the digest of the cookie's token.
    let now = chrono::Utc::now();
    assert!(app.store.session(&token, now).await.expect("read").is_none());
    let stored = app.store.session(&auth::token_digest(&token), now).await.expect("read").expect("session row");
    assert!(stored.user_id.is_some());
    assert!(stored.csrf_token != anon, "the session has its own form token");

    let dash = http.get("/applications").await;
    assert_eq!(dash.status, 200, "{}", dash.body);
    assert!(dash.body.contains("Your applications"));

    // Signing in again gives a new session id and ends the old one.
    let again =
        http.post_form("/applications", "/login", &[("email", "amna@firm.example"), ("password", PASSWORD)]).await;
    assert_eq!(again.status, 303);
    let token2 = cookie_value(&again, "corridor_session").expect("new token");
    assert_ne!(token, token2);
    assert!(app.store.session(&auth::token_digest(&token), now).await.expect("read").is_none());
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let old = plain
        .get(app.url("/applications"))
        .header("cookie", format!("corridor_session={token}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(old.status().as_u16(), 303, "the old session no longer opens pages");

    // Sign out: the row goes, the cookie is cleared, pages ask to sign in again.
    let out = http.post_form("/applications", "/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert!(set_cookies(&out).iter().any(|c| c.starts_with("corridor_session=;") && c.contains("Max-Age=0")));
    assert!(app.store.session(&auth::token_digest(&token2), now).await.expect("read").is_none());
    assert_eq!(http.get("/applications").await.status, 303);
}

#[tokio::test]
async fn secure_cookies_when_configured() {
    let app = support::spawn(Backend::Sqlite).await;
    // Rebuild the router with secure_cookies on, on its own port.
    let mut settings = corridor::startup::web_settings(&app.config);
    settings.secure_cookies = true;
    let state = corridor_web::AppState::new(app.engine.clone(), settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            corridor_web::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    app.user("sec@firm.example", "applicant", "Secure Firm").await;
    let http = support::Http {
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        base: base.clone(),
    };
    let login = http.get("/login").await;
    assert!(set_cookies(&login).iter().all(|c| c.contains("; Secure")), "{:?}", set_cookies(&login));
    assert_eq!(login.header("strict-transport-security"), Some("max-age=31536000"));
    // Secure cookies carry the __Host- prefix: only this host, over TLS, may set them.
    assert!(cookie_value(&login, "corridor_csrf").is_none());
    let anon = cookie_value(&login, "__Host-corridor_csrf").expect("pre-sign-in cookie");
    let token = login.csrf().expect("token");
    let page = http
        .post_raw(
            "/login",
            &[("csrf", token.as_str()), ("email", "sec@firm.example"), ("password", PASSWORD)],
            &[("cookie", &format!("__Host-corridor_csrf={anon}")), ("origin", &base)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let sessions: Vec<String> =
        set_cookies(&page).into_iter().filter(|c| c.starts_with("__Host-corridor_session=")).collect();
    assert_eq!(sessions.len(), 1, "{:?}", set_cookies(&page));
    assert!(sessions.iter().all(|c| c.contains("; Secure") && c.contains("Path=/") && !c.contains("Domain")));
    let session = cookie_value(&page, "__Host-corridor_session").expect("session");
    let plain = http
        .client
        .get(format!("{base}/applications"))
        .header("cookie", format!("__Host-corridor_session={session}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(plain.status().as_u16(), 200, "the prefixed cookie opens the session");
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_sign_in_attempts_are_limited() {
    let app = support::spawn(Backend::Sqlite).await;
    app.user("bilal@firm.example", "applicant", "Karachi Soft").await;
    let http = app.http();
    let wrong = http.post_form("/login", "/login", &[("email", "bilal@firm.example"), ("password", "nope")]).await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("There is a problem") && wrong.body.contains("not right"), "{}", wrong.body);
    assert!(wrong.body.contains(r##"href="#email""##), "the summary links to the field");
    assert!(cookie_value(&wrong, "corridor_session").is_none());
    // Unknown accounts get the same answer.
    let unknown = http.post_form("/login", "/login", &[("email", "nobody@firm.example"), ("password", "nope")]).await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.body.contains("not right"));
    // Per account and address: three failures, then a wait, even for the right password.
    let mut last = 0;
    for _ in 0..10 {
        last =
            http.post_form("/login", "/login", &[("email", "bilal@firm.example"), ("password", "nope")]).await.status;
    }
    assert_eq!(last, 429);
    let right = http.post_form("/login", "/login", &[("email", "bilal@firm.example"), ("password", PASSWORD)]).await;
    assert_eq!(right.status, 429, "locked for the window");
    assert!(right.body.contains("Too many sign-in attempts"));
    assert!(right.header("retry-after").is_some());
}

#[tokio::test]
async fn forms_without_their_token_or_from_another_origin_are_refused_and_change_nothing() {
    let app = support::spawn(Backend::Sqlite).await;
    let user = app.user("csrf@firm.example", "applicant", "Token Firm").await;
    let http = app.signed_in("csrf@firm.example").await;
    let token = http.get("/applications/new").await.csrf().expect("token");
    let origin = app.base.clone();
    let evil = "http://evil.example";

    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        ("no token", vec![("workflow", "it-business-visa")], vec![("origin", origin.as_str())]),
        (
            "wrong token",
            vec![("csrf", "00112233445566778899aabbccddeeff00112233445566ff"), ("workflow", "it-business-visa")],
            vec![("origin", origin.as_str())],
        ),
        ("other origin", vec![("csrf", token.as_str()), ("workflow", "it-business-visa")], vec![("origin", evil)]),
        (
            "cross-site fetch",
            vec![("csrf", token.as_str()), ("workflow", "it-business-visa")],
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "same-site fetch",
            vec![("csrf", token.as_str()), ("workflow", "it-business-visa")],
            vec![("sec-fetch-site", "same-site")],
        ),
        ("null origin", vec![("csrf", token.as_str()), ("workflow", "it-business-visa")], vec![("origin", "null")]),
    ];
    for (what, fields, headers) in &cases {
        let page = http.post_raw("/applications/new", fields, headers).await;
        assert_eq!(page.status, 403, "{what}: {}", page.body);
        assert!(page.body.contains("The form could not be sent"), "{what}");
        assert_security_headers(&page, what);
    }
    assert_eq!(application_count(&app).await, 0, "nothing was created");

    // The same form, done right, works.
    let ok = http
        .post_raw("/applications/new", &[("csrf", &token), ("workflow", "it-business-visa")], &[("origin", &origin)])
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(application_count(&app).await, 1);

    // A draft's fields, an upload and sign-out: refused without the token, nothing changes.
    let reference = app.complete_draft(&user, "it-business-visa").await;
    let before = app.engine.application(&app.actor(&user), &reference).await.expect("read").record;
    let version = before.version.to_string();
    let edit = http
        .post_raw(
            &format!("/applications/{reference}/details"),
            &[("version", &version), ("employee_full_name", "Changed"), ("intent", "draft")],
            &[("origin", evil)],
        )
        .await;
    assert_eq!(edit.status, 403);
    let form = reqwest::multipart::Form::new()
        .text("kind", "photo")
        .part("file", reqwest::multipart::Part::bytes(png()).file_name("p.png"));
    let upload = http
        .client
        .post(app.url(&format!("/applications/{reference}/documents")))
        .header("origin", origin.clone())
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status().as_u16(), 403, "multipart without a token");
    let submit = http
        .post_raw(&format!("/applications/{reference}/submit"), &[("version", &version)], &[("origin", evil)])
        .await;
    assert_eq!(submit.status, 403);
    let after = app.engine.application(&app.actor(&user), &reference).await.expect("read").record;
    assert_eq!(after.version, before.version, "no change");
    assert_eq!(after.state, "draft");
    assert_eq!(after.fields, before.fields);
    let out = http.post_raw("/logout", &[], &[("origin", &origin)]).await;
    assert_eq!(out.status, 403);
    assert_eq!(http.get("/applications").await.status, 200, "still signed in");
}

#[tokio::test]
async fn a_script_in_a_field_is_shown_as_text_everywhere() {
    let app = support::spawn(Backend::Sqlite).await;
    let user = app.user("xss@firm.example", "applicant", "Escape Firm").await;
    let http = app.signed_in("xss@firm.example").await;
    let reference = app.complete_draft(&user, "it-business-visa").await;
    let evil = "<script>alert(1)</script>";
    let version = app.engine.application(&app.actor(&user), &reference).await.expect("read").record.version.to_string();
    let saved = http
        .post_form(
            &format!("/applications/{reference}/details"),
            &format!("/applications/{reference}/details"),
            &[("version", &version), ("employee_full_name", evil), ("host_organisation", evil), ("intent", "draft")],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let pages = [
        "/applications".to_string(),
        format!("/applications/{reference}"),
        format!("/applications/{reference}/details"),
        format!("/applications/{reference}/check"),
    ];
    for path in &pages {
        let page = http.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains("<script>alert(1)"), "{path} shows the script as markup");
        assert!(page.body.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"), "{path} shows it as text");
    }
    // Submitted, it is escaped in the staff's timeline comment too: answer a request with it.
    let reviewer = app.user("rev@ministry.example", "ministry_reviewer", "Ministry").await;
    submit(&app, &user, &reference).await;
    let v = app.engine.application(&app.actor(&reviewer), &reference).await.expect("read").record.version;
    app.engine
        .transition(
            &app.actor(&reviewer),
            &reference,
            &TransitionRequest {
                reason_code: None,
                action: "request_information".into(),
                expected_version: v,
                comment: Some(evil.into()),
                reason: None,
                fields: None,
            },
        )
        .await
        .expect("request information");
    for path in [format!("/applications/{reference}"), format!("/applications/{reference}/respond")] {
        let page = http.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains("<script>alert(1)"), "{path}");
    }
}

#[tokio::test]
async fn another_firms_application_is_not_found() {
    let app = support::spawn(Backend::Sqlite).await;
    let owner = app.user("owner@firm-a.example", "applicant", "Firm A").await;
    app.user("other@firm-b.example", "applicant", "Firm B").await;
    app.user("staff@ministry.example", "ministry_reviewer", "Ministry").await;
    let reference = app.complete_draft(&owner, "it-business-visa").await;
    let doc_id = app
        .store
        .documents(app.engine.application(&app.actor(&owner), &reference).await.expect("read").record.id)
        .await
        .expect("docs")[0]
        .id;

    let other = app.signed_in("other@firm-b.example").await;
    for rest in [
        "",
        "/details",
        "/documents",
        "/check",
        "/confirmation",
        "/respond",
        "/withdraw",
        &format!("/documents/{doc_id}"),
    ] {
        let page = other.get(&format!("/applications/{reference}{rest}")).await;
        assert_eq!(page.status, 404, "{rest}");
        assert!(page.body.contains("Page not found"), "{rest}: {}", page.body);
        assert!(!page.body.contains("Ayesha Khan") && !page.body.contains("AB1234567"), "{rest} shows nothing of it");
    }
    // Nor can it act on it.
    let version =
        app.engine.application(&app.actor(&owner), &reference).await.expect("read").record.version.to_string();
    let edit = other
        .post_form(
            "/applications",
            &format!("/applications/{reference}/details"),
            &[("version", &version), ("employee_full_name", "Stolen"), ("intent", "draft")],
        )
        .await;
    assert_eq!(edit.status, 404);
    let withdraw = other
        .post_form("/applications", &format!("/applications/{reference}/withdraw"), &[("version", &version)])
        .await;
    assert_eq!(withdraw.status, 404);
    let after = app.engine.application(&app.actor(&owner), &reference).await.expect("read").record;
    assert_eq!(after.state, "draft");
    assert_ne!(after.fields["employee_full_name"], "Stolen");
    // Its dashboard does not list it.
    assert!(!other.get("/applications").await.body.contains(reference.as_str()));
    // A mistyped reference is not found either.
    assert_eq!(other.get("/applications/QA-BV-2026-999999-Z").await.status, 404);
    // Staff are not firms: the firm pages are not theirs.
    let staff = app.signed_in("staff@ministry.example").await;
    assert_eq!(staff.get(&format!("/applications/{reference}")).await.status, 403);
    assert_eq!(staff.get("/applications").await.status, 403);
}

fn field(html: &str, name: &str) -> Option<String> {
    input_value(html, name)
}

#[tokio::test]
async fn the_firm_journey_over_http() {
    let app = support::spawn(Backend::Sqlite).await;
    let user = app.user("journey@firm.example", "applicant", "Journey Firm").await;
    let reviewer = app.user("reviewer@ministry.example", "ministry_reviewer", "Ministry").await;
    let http = app.signed_in("journey@firm.example").await;

    // Start: nothing chosen is an error; then a draft.
    let none = http.post_form("/applications/new", "/applications/new", &[]).await;
    assert_eq!(none.status, 422);
    assert!(none.body.contains("Select what you want to apply for"));
    let made = http.post_form("/applications/new", "/applications/new", &[("workflow", "it-business-visa")]).await;
    assert_eq!(made.status, 303);
    let app_path = made.location().expect("location").to_string();
    let reference = app_path.rsplit('/').next().expect("reference").to_string();
    let task_list = http.get(&app_path).await;
    assert!(task_list.body.contains("Fill in the details") && task_list.body.contains("Not started"));

    // The form, with mistakes: every problem in the summary, linked to its field; nothing saved.
    let details = format!("{app_path}/details");
    let form = http.get(&details).await;
    assert!(
        form.body.contains(r#"type="date""#)
            && form.body.contains(r#"type="email""#)
            && form.body.contains(r#"type="radio""#)
    );
    assert!(form.body.contains(r#"<select class="select" id="f-nationality""#), "country as a select");
    let version = field(&form.body, "version").expect("version");
    let bad = http
        .post_form(
            &details,
            &details,
            &[
                ("version", &version),
                ("employee_full_name", "Ayesha Khan"),
                ("passport_number", "12345"),
                ("contact_email", "not-an-email"),
                ("duration_of_stay", "500"),
                ("intent", "continue"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    for (id, text) in [
        ("f-passport_number", "Two capital letters then seven digits"),
        ("f-contact_email", "correct format"),
        ("f-duration_of_stay", "90 or less"),
        ("f-date_of_birth", "Enter date of birth"),
        ("f-purpose", "Enter purpose of the visit"),
    ] {
        assert!(bad.body.contains(&format!(r##"href="#{id}""##)), "summary links to {id}");
        assert!(bad.body.contains(text), "message {text:?}");
    }
    assert!(bad.body.contains(r#"id="f-passport_number-error""#), "inline error beside the field");
    assert!(bad.body.contains("<title>Error: "), "the title says there is an error");
    assert_eq!(field(&bad.body, "employee_full_name").as_deref(), Some("Ayesha Khan"), "what was typed is kept");
    assert_eq!(
        app.engine
            .application(&app.actor(&user), &reference.parse::<Reference>().expect("a reference"))
            .await
            .expect("read")
            .record
            .fields,
        Value::Object(Map::new())
    );

    // Corrected: saved, on to the documents.
    let examples = app.example_fields("it-business-visa");
    let mut pairs: Vec<(String, String)> =
        examples.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect();
    pairs.push(("version".into(), version.clone()));
    pairs.push(("intent".into(), "continue".into()));
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let good = http.post_form(&details, &details, &refs).await;
    assert_eq!(good.status, 303, "{}", good.body);
    assert_eq!(good.location(), Some(format!("{app_path}/documents?notice=details_saved").as_str()));

    // Documents: a bad file is refused inline; then every one.
    let fake = http.upload(&reference, "passport_bio_page", "passport.pdf", b"MZ\x90\x00 not a pdf".to_vec()).await;
    assert_eq!(fake.status, 422);
    assert!(
        fake.body.contains(r##"href="#doc-passport_bio_page""##) && fake.body.contains("must be a PDF, JPEG or PNG"),
        "{}",
        fake.body
    );
    let mut big = pdf();
    big.resize(5_500_000, b' ');
    let too_big = http.upload(&reference, "passport_bio_page", "big.pdf", big).await;
    assert_eq!(too_big.status, 422);
    assert!(too_big.body.contains("must be smaller than 5 MB"), "{}", too_big.body);
    let mut huge = pdf();
    huge.resize(12_000_000, b' ');
    let refused = http.upload(&reference, "passport_bio_page", "huge.pdf", huge).await;
    assert_eq!(refused.status, 413);
    assert!(refused.body.contains("The file is too large"));
    let empty = http.upload(&reference, "photo", "", vec![]).await;
    assert_eq!(empty.status, 422);
    assert!(empty.body.contains("Select the passport photograph to upload"), "{}", empty.body);
    for (kind, name, bytes) in [
        ("passport_bio_page", "passport.pdf", pdf()),
        ("employment_letter", "letter.pdf", pdf()),
        ("firm_registration_certificate", "secp.pdf", pdf()),
        ("photo", "photo.png", png()),
    ] {
        let up = http.upload(&reference, kind, name, bytes).await;
        assert_eq!(up.status, 303, "{kind}: {}", up.body);
    }
    let docs = http.get(&format!("{app_path}/documents")).await;
    assert!(docs.body.contains("letter.pdf"));

    // Check your answers, submit, confirmation.
    let check = http.get(&format!("{app_path}/check")).await;
    assert_eq!(check.status, 200);
    assert!(
        check.body.contains("Ayesha Khan") && check.body.contains("Client meetings") && check.body.contains("Pakistan")
    );
    assert!(check.body.contains("12 April 1990"), "dates read as dates");
    let version = field(&check.body, "version").expect("version");
    let sent =
        http.post_form(&format!("{app_path}/check"), &format!("{app_path}/submit"), &[("version", &version)]).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let confirmation = http.get(&format!("{app_path}/confirmation")).await;
    assert!(confirmation.body.contains("Application submitted") && confirmation.body.contains(&reference));
    // A second click does not submit twice.
    let twice = http
        .post_raw(
            &format!("{app_path}/submit"),
            &[("csrf", &confirmation.csrf().expect("t")), ("version", &version)],
            &[("origin", &app.base)],
        )
        .await;
    assert_eq!(twice.status, 303);
    let dash = http.get("/applications").await;
    assert!(dash.body.contains(&reference) && dash.body.contains("Under review by the Ministry"));

    // A request for more information: everything given before is pre-filled.
    let v = app
        .engine
        .application(&app.actor(&reviewer), &reference.parse::<Reference>().expect("a reference"))
        .await
        .expect("read")
        .record
        .version;
    app.engine
        .transition(
            &app.actor(&reviewer),
            &reference.parse::<Reference>().expect("a reference"),
            &TransitionRequest {
                reason_code: None,
                action: "request_information".into(),
                expected_version: v,
                comment: Some("Please correct the host organisation.".into()),
                reason: None,
                fields: None,
            },
        )
        .await
        .expect("request");
    let view = http.get(&app_path).await;
    assert!(
        view.body.contains("More information is needed") && view.body.contains("Please correct the host organisation.")
    );
    let respond = http.get(&format!("{app_path}/respond")).await;
    assert_eq!(respond.status, 200);
    for (name, value) in &examples {
        let shown = field(&respond.body, name);
        if let Some(v) = value.as_str().filter(|_| shown.is_some()) {
            assert_eq!(shown.as_deref(), Some(v), "{name} pre-filled");
        }
    }
    assert_eq!(field(&respond.body, "passport_number").as_deref(), Some("AB1234567"));
    let version = field(&respond.body, "version").expect("version");
    let no_comment = http
        .post_form(
            &format!("{app_path}/respond"),
            &format!("{app_path}/respond"),
            &[("version", &version), ("host_organisation", "Qatar Data Centre W.L.L.")],
        )
        .await;
    assert_eq!(no_comment.status, 422);
    assert!(
        no_comment.body.contains("Enter your answer to the request")
            && no_comment.body.contains(r##"href="#comment""##)
    );
    assert_eq!(
        field(&no_comment.body, "host_organisation").as_deref(),
        Some("Qatar Data Centre W.L.L."),
        "the change is kept"
    );
    let answered = http
        .post_form(
            &format!("{app_path}/respond"),
            &format!("{app_path}/respond"),
            &[
                ("version", &version),
                ("host_organisation", "Qatar Data Centre W.L.L."),
                ("comment", "Corrected, thank you."),
            ],
        )
        .await;
    assert_eq!(answered.status, 303, "{}", answered.body);
    let record = app
        .engine
        .application(&app.actor(&user), &reference.parse::<Reference>().expect("a reference"))
        .await
        .expect("read")
        .record;
    assert_eq!(record.state, "ministry_review");
    assert_eq!(record.fields["host_organisation"], "Qatar Data Centre W.L.L.");
    assert_eq!(record.fields["passport_number"], "AB1234567", "nothing retyped, nothing lost");

    // The timeline tells it in plain words, newest first.
    let page = http.get(&app_path).await;
    let timeline = &page.body[page.body.find("What has happened").expect("timeline")..];
    let order: Vec<usize> =
        ["Send the information", "Ask for more information", "Submit application", "Application started"]
            .iter()
            .map(|t| timeline.find(t).unwrap_or_else(|| panic!("timeline has {t}")))
            .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "newest first: {order:?}");
    assert!(timeline.contains("Ministry reviewer"), "officials by role");
}

#[tokio::test]
async fn a_firm_withdraws_an_application() {
    let app = support::spawn(Backend::Sqlite).await;
    let user = app.user("wd@firm.example", "applicant", "Withdraw Firm").await;
    let reference = app.complete_draft(&user, "market-access").await;
    let http = app.signed_in("wd@firm.example").await;
    let path = format!("/applications/{reference}/withdraw");
    let form = http.get(&path).await;
    assert_eq!(form.status, 200);
    let version = input_value(&form.body, "version").expect("version");
    let done = http.post_form(&path, &path, &[("version", &version), ("reason", "The project was cancelled.")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let record = app.engine.application(&app.actor(&user), &reference).await.expect("read").record;
    assert_eq!(record.state, "withdrawn");
    let page = http.get(&format!("/applications/{reference}?notice=withdrawn")).await;
    assert!(
        page.body.contains("The application has been withdrawn.") && page.body.contains("The project was cancelled.")
    );
    // Not open any more: the page sends you back to the application.
    assert_eq!(http.get(&path).await.status, 303);
}

#[tokio::test]
async fn public_status_gives_one_answer_for_unknown_and_wrong_and_is_limited() {
    let app = support::spawn(Backend::Sqlite).await;
    let user = app.user("pub@firm.example", "applicant", "Public Firm").await;
    let reference = app.complete_draft(&user, "it-business-visa").await;
    let http = app.http();
    // A draft is not public.
    let draft =
        http.post_form("/status", "/status", &[("reference", reference.as_str()), ("passport", "AB1234567")]).await;
    assert_eq!(draft.status, 404);
    submit(&app, &user, &reference).await;
    let found = http
        .post_form(
            "/status",
            "/status",
            &[("reference", &reference.as_str().to_lowercase()), ("passport", "ab 1234567")],
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(found.body.contains("Under review by the Ministry") && found.body.contains("verifying the firm"));
    assert!(!found.body.contains("Ayesha"), "nothing else is shown");
    let wrong =
        http.post_form("/status", "/status", &[("reference", reference.as_str()), ("passport", "ZZ0000000")]).await;
    let unknown =
        http.post_form("/status", "/status", &[("reference", "QA-BV-2026-999999-Z"), ("passport", "AB1234567")]).await;
    assert_eq!(wrong.status, unknown.status);
    let message =
        |b: &str| b[b.find("error-summary__list").expect("summary")..].split("</ul>").next().unwrap_or("").to_string();
    assert_eq!(message(&wrong.body), message(&unknown.body), "the same answer");
    let missing = http.post_form("/status", "/status", &[("reference", ""), ("passport", "")]).await;
    assert_eq!(missing.status, 422);
    assert!(missing.body.contains(r##"href="#reference""##) && missing.body.contains(r##"href="#passport""##));
    // 30 look-ups a minute per address (shared with the API's status route).
    let mut last = 0;
    for _ in 0..30 {
        last = http
            .post_form("/status", "/status", &[("reference", reference.as_str()), ("passport", "AB1234567")])
            .await
            .status;
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn the_language_switch_is_remembered_per_visitor_and_per_user() {
    let app = support::spawn(Backend::Sqlite).await;
    let user = app.user("lang@firm.example", "applicant", "Language Firm").await;
    let http = app.http();
    let home = http.get("/").await;
    assert!(home.body.contains(r#"<html lang="en" dir="ltr""#));
    let switched = http.post_form("/", "/language", &[("lang", "ar"), ("next", "/status")]).await;
    assert_eq!(switched.status, 303);
    assert_eq!(switched.location(), Some("/status"));
    assert!(set_cookies(&switched).iter().any(|c| c.starts_with("corridor_lang=ar")));
    let arabic = http.get("/status").await;
    assert!(arabic.body.contains(r#"<html lang="ar" dir="rtl""#), "{}", &arabic.body[..200]);
    assert!(arabic.body.contains("الاستعلام عن حالة طلب"));
    // The browser's preference counts for a first visit.
    let urdu = app
        .http()
        .client
        .get(app.url("/login"))
        .header("accept-language", "ur-PK,ur;q=0.9,en;q=0.5")
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    assert!(urdu.contains(r#"<html lang="ur" dir="rtl""#));
    // A signed-in user's choice is kept on the account.
    let signed = app.signed_in("lang@firm.example").await;
    let page = signed.post_form("/applications", "/language", &[("lang", "ar"), ("next", "/applications")]).await;
    assert_eq!(page.status, 303);
    assert_eq!(app.store.user(user.id).await.expect("user").language, "ar");
    let fresh = app.signed_in("lang@firm.example").await;
    let dash = fresh.get("/applications").await;
    assert!(dash.body.contains(r#"lang="ar" dir="rtl""#) && dash.body.contains("طلباتك"));
    // Unknown languages are refused.
    assert_eq!(signed.post_form("/applications", "/language", &[("lang", "xx")]).await.status, 404);
}

#[tokio::test]
async fn the_pages_ship_little_css_and_no_javascript() {
    let app = support::spawn(Backend::Sqlite).await;
    let http = app.http();
    let home = http.get("/").await;
    let mut total = 0;
    for part in home.body.split("href=\"").skip(1).chain(home.body.split("src=\"").skip(1)) {
        let url = part.split('"').next().unwrap_or("");
        if url.starts_with("/static/") && (url.contains(".css") || url.contains(".js")) {
            let asset = http.get(url).await;
            assert_eq!(asset.status, 200, "{url}");
            assert!(asset.header("cache-control").unwrap_or("").contains("max-age"));
            total += asset.body.len();
        }
    }
    assert!(total > 1000 && total < 100 * 1024, "{total} bytes of CSS and JS");
}

async fn session_store_roundtrip(backend: Backend) {
    let app = support::spawn(backend).await;
    let user = app.user("store@firm.example", "applicant", "Store Firm").await;
    let store = &app.store;
    let now = chrono::Utc::now();
    let session = Session {
        id: auth::token_digest("a-token"),
        user_id: Some(user.id),
        csrf_token: auth::random_id(),
        created_at: now,
        expires_at: now + chrono::Duration::hours(2),
        data: serde_json::json!({"k": "v"}),
        stage: SessionStage::SignedIn,
        last_seen_at: Some(now),
        client_address: "192.0.2.7".into(),
        user_agent: "Test browser".into(),
    };
    store.create_session(&session).await.expect("create");
    let read = store.session(&session.id, now).await.expect("read").expect("found");
    assert_eq!(read.user_id, Some(user.id));
    assert_eq!(read.csrf_token, session.csrf_token);
    assert_eq!(read.data, serde_json::json!({"k": "v"}));
    assert_eq!(
        (read.stage, read.client_address.as_str(), read.user_agent.as_str()),
        (SessionStage::SignedIn, "192.0.2.7", "Test browser")
    );
    assert!(store.session(&session.id, now + chrono::Duration::hours(3)).await.expect("read").is_none(), "expired");
    store
        .touch_session(&session.id, now + chrono::Duration::hours(5), now, &serde_json::json!({}))
        .await
        .expect("touch");
    assert!(store.session(&session.id, now + chrono::Duration::hours(3)).await.expect("read").is_some(), "extended");
    let second = Session { id: auth::token_digest("b-token"), ..session.clone() };
    store.create_session(&second).await.expect("create second");
    assert_eq!(store.delete_user_sessions(user.id).await.expect("delete all"), 2);
    assert!(store.session(&second.id, now).await.expect("read").is_none());
    store.create_session(&session).await.expect("again");
    store.delete_session(&session.id).await.expect("delete");
    store.delete_session(&session.id).await.expect("deleting twice is fine");
    assert_eq!(store.delete_expired_sessions(now).await.expect("sweep"), 0);

    // And the whole sign-in over HTTP on this database.
    let http = app.signed_in("store@firm.example").await;
    assert_eq!(http.get("/applications").await.status, 200);
    assert_eq!(http.post_form("/applications", "/logout", &[]).await.status, 303);
    assert_eq!(http.get("/applications").await.status, 303);
}

#[tokio::test]
async fn sessions_on_sqlite() {
    session_store_roundtrip(Backend::Sqlite).await;
}

#[tokio::test]
async fn sessions_on_postgres() {
    session_store_roundtrip(Backend::Postgres).await;
}

#[tokio::test]
async fn a_failure_on_our_side_is_a_plain_500_page_without_the_detail() {
    use sqlx::Connection;
    let app = support::spawn(Backend::Sqlite).await;
    let user = app.user("oops@firm.example", "applicant", "Oops Firm").await;
    let reference = app.complete_draft(&user, "it-business-visa").await;
    let http = app.signed_in("oops@firm.example").await;
    assert_eq!(http.get(&format!("/applications/{reference}")).await.status, 200);
    // Break the database under the running server.
    let url = format!("sqlite://{}", app.dir.path().join("corridor.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open the database");
    sqlx::raw_sql("ALTER TABLE documents RENAME TO documents_gone").execute(&mut conn).await.expect("rename");
    let page = http.get(&format!("/applications/{reference}")).await;
    assert_eq!(page.status, 500);
    assert!(page.body.contains("Sorry, there is a problem with the service"), "{}", page.body);
    assert!(!page.body.contains("no such table") && !page.body.contains("documents_gone"), "no internal detail");
    assert!(!page.body.to_lowercase().contains("sqlite"));
    assert_security_headers(&page, "500 page");
}
