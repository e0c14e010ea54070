//! Sessions as their user sees them, over real HTTP on both databases: at most
//! `sign_in.max_sessions` live sessions (the oldest ends), a page that lists one's sessions
//! (started, last seen, address, browser) and ends any of them, and the sign-in form's token
//! bound to the browser's pre-sign-in cookie. Passwords people choose are checked against the
//! shipped list of common and breached passwords wherever they are set.

use std::io::Write;
use std::process::Stdio;

use crate::support::{self, Backend, Http, PASSWORD};

on_both!(
    the_session_cap_ends_the_oldest,
    users_see_their_sessions_and_end_them,
    a_sign_in_token_from_another_browser_is_refused,
    guessable_passwords_are_refused_wherever_a_password_is_set,
);

const FIRM: &str = "amna@firm.example";

async fn the_session_cap_ends_the_oldest(backend: Backend) {
    let app = support::spawn_configured(backend, |c| c.sign_in.max_sessions = 3).await;
    let user = app.user(FIRM, "applicant", "Lahore Soft").await;
    let mut clients: Vec<Http> = Vec::new();
    for _ in 0..4 {
        clients.push(app.signed_in(FIRM).await);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(clients[0].get("/applications").await.status, 303, "the oldest session was ended");
    for (i, c) in clients.iter().enumerate().skip(1) {
        assert_eq!(c.get("/applications").await.status, 200, "session {i} lives");
    }
    let live = app.store.user_sessions(user.id, chrono::Utc::now()).await.expect("read");
    assert_eq!(live.len(), 3);
}

/// Every `name="session"` value on the page, in order.
fn session_ids(body: &str) -> Vec<String> {
    body.split(r#"name="session" value=""#).skip(1).filter_map(|p| p.split('"').next()).map(str::to_string).collect()
}

async fn users_see_their_sessions_and_end_them(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user(FIRM, "applicant", "Lahore Soft").await;
    app.user("other@firm.example", "applicant", "Other Soft").await;
    let here = app.signed_in(FIRM).await;
    let elsewhere = app.http_from(9);
    app.sign_in_with(&elsewhere, FIRM).await;

    let page = here.get("/account/sessions").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let ids = session_ids(&page.body);
    assert_eq!(ids.len(), 2, "{}", page.body);
    assert!(page.body.contains("127.0.0.9"), "the other session's address is shown");
    assert!(page.body.contains("This browser"));
    assert!(page.body.contains("<time datetime="), "started and last seen");

    // Another user cannot end these sessions.
    let stranger = app.signed_in("other@firm.example").await;
    let refused = stranger.post_form("/account/sessions", "/account/sessions/end", &[("session", &ids[0])]).await;
    assert_eq!(refused.status, 404);
    assert_eq!(elsewhere.get("/applications").await.status, 200);

    // Ending the other browser's session signs it out; this one stays.
    let newest_first_other = &ids[0];
    let ended = here.post_form("/account/sessions", "/account/sessions/end", &[("session", newest_first_other)]).await;
    assert_eq!(ended.status, 303, "{}", ended.body);
    assert_eq!(elsewhere.get("/applications").await.status, 303, "the other browser is signed out");
    assert_eq!(here.get("/applications").await.status, 200);
    assert_eq!(session_ids(&here.get("/account/sessions").await.body).len(), 1);

    // Ending one's own session is signing out.
    let mine = session_ids(&here.get("/account/sessions").await.body).remove(0);
    let out = here.post_form("/account/sessions", "/account/sessions/end", &[("session", &mine)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(here.get("/applications").await.status, 303);
}

async fn a_sign_in_token_from_another_browser_is_refused(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user(FIRM, "applicant", "Lahore Soft").await;
    let first = app.http();
    let second = app.http();
    let first_token = first.get("/login").await.csrf().expect("token");
    let second_page = second.get("/login").await;
    let second_token = second_page.csrf().expect("token");
    assert_ne!(first_token, second_token);
    // The page's token is not the cookie's value.
    let cookie = second_page.set_cookie("corridor_csrf").expect("pre-sign-in cookie");
    assert_ne!(cookie, second_token);
    let origin = app.base.clone();
    for (what, token) in [("another browser's token", first_token.as_str()), ("the cookie's value", cookie.as_str())] {
        let refused = second
            .post_raw(
                "/login",
                &[("csrf", token), ("email", FIRM), ("password", PASSWORD)],
                &[("origin", origin.as_str())],
            )
            .await;
        assert_eq!(refused.status, 403, "{what}: {}", refused.body);
    }
    let ok = second
        .post_raw(
            "/login",
            &[("csrf", second_token.as_str()), ("email", FIRM), ("password", PASSWORD)],
            &[("origin", origin.as_str())],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
}

async fn guessable_passwords_are_refused_wherever_a_password_is_set(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user("root@ops.example", "admin", "Corridor Operations").await;
    let org = app.store.organisation_by_name("Corridor Operations").await.expect("read").expect("org");
    let admin = app.signed_in("root@ops.example").await;
    for (i, weak) in ["aaaaaaaaaaaa", "password1234", "Password1234", "abcdefghijkl"].iter().enumerate() {
        let email = format!("weak{i}@ops.example");
        let page = admin.get("/admin/users/new").await;
        assert_eq!(page.status, 200);
        let fields = [
            ("email", email.as_str()),
            ("name", "Weak Password"),
            ("role", "admin"),
            ("organisation", &org.id.get().to_string()),
            ("language", "en"),
            ("password", weak),
        ];
        let refused = admin.post_form("/admin/users/new", "/admin/users/new", &fields).await;
        assert_eq!(refused.status, 422, "{weak}: {}", refused.body);
        assert!(refused.body.contains("This password is too easy to guess"), "{weak}: {}", refused.body);
        assert!(app.store.user_by_email(&email).await.expect("read").is_none(), "{weak}: no account made");
    }
    // In Arabic, the same refusal in Arabic.
    admin.post_form("/admin/users/new", "/language", &[("lang", "ar"), ("next", "/admin/users/new")]).await;
    let fields = [
        ("email", "weak-ar@ops.example"),
        ("name", "Weak Password"),
        ("role", "admin"),
        ("organisation", &org.id.get().to_string()),
        ("language", "en"),
        ("password", "aaaaaaaaaaaa"),
    ];
    let refused = admin.post_form("/admin/users/new", "/admin/users/new", &fields).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("كلمة المرور هذه سهلة التخمين"), "{}", refused.body);

    // `corridor user add` with the password on stdin.
    for weak in ["aaaaaaaaaaaa", "password1234"] {
        let out = user_add(&app, weak);
        assert!(!out.status.success(), "{weak} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("too easy to guess"), "{weak}: {err}");
    }
    assert!(app.store.user_by_email("cli@firm.example").await.expect("read").is_none());
    let good = user_add(&app, "tea at the Lahore fort");
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert!(app.store.user_by_email("cli@firm.example").await.expect("read").is_some());
}

/// `corridor user add` for cli@firm.example with `password` on stdin.
fn user_add(app: &support::TestApp, password: &str) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_corridor"))
        .arg("--config")
        .arg(&app.config_path)
        .args(["user", "add", "--email", "cli@firm.example", "--name", "Cli", "--role", "applicant"])
        .args(["--org", "Cli Firm", "--org-kind", "firm"])
        .current_dir(support::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run corridor");
    child.stdin.take().expect("stdin").write_all(format!("{password}\n").as_bytes()).expect("write");
    child.wait_with_output().expect("wait")
}
