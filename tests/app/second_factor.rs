//! The second factor at sign-in (TOTP, RFC 6238), over real HTTP on both databases: required
//! for administrators and for the roles `sign_in.second_factor_roles` names; enrolment with a
//! QR code, the key as text and one code, then ten one-time recovery codes; a code is taken
//! once. Every code here comes from the tests' own RFC 6238 (`support::totp`), not from the
//! crate under test.

use crate::support::{self, Backend, Http, PASSWORD, totp};

on_both!(
    an_administrator_cannot_sign_in_without_the_second_factor,
    an_administrator_without_one_must_enrol_and_can_do_nothing_else_first,
    a_recovery_code_signs_in_once,
    roles_named_in_the_configuration_need_a_second_factor_and_others_do_not,
);

const ADMIN: &str = "root@ops.example";

async fn password(http: &Http, email: &str) -> support::Page {
    http.post_form("/login", "/login", &[("email", email), ("password", PASSWORD)]).await
}

async fn an_administrator_cannot_sign_in_without_the_second_factor(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user(ADMIN, "admin", "Corridor Operations").await;
    let http = app.http();
    let page = password(&http, ADMIN).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), Some("/login/code"));
    // Half signed in: no page opens, and the sign-in page sends back to the code.
    for path in ["/admin", "/admin/users", "/account/sessions"] {
        let refused = http.get(path).await;
        assert_eq!(refused.status, 303, "{path}");
        assert!(refused.location().is_some_and(|l| l.starts_with("/login")), "{path}: {:?}", refused.location());
    }
    assert_eq!(http.get("/login").await.location(), Some("/login/code"));
    let form = http.get("/login/code").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Enter your security code"));

    // A wrong code, and a code from ten minutes ago, are refused.
    let secret = totp::secret_for(ADMIN);
    let now = totp::current_step();
    for (what, code) in [("wrong", "000000".to_string()), ("old", totp::code_at_step(&secret, now - 20))] {
        let refused = http.post_form("/login/code", "/login/code", &[("code", &code)]).await;
        assert_eq!(refused.status, 422, "{what}: {}", refused.body);
        assert!(refused.body.contains("The code is not right"), "{what}");
        assert_eq!(http.get("/admin").await.status, 303, "{what}: still not signed in");
    }
    // The right code signs in.
    let code = app.fresh_code(ADMIN).await;
    let done = http.post_form("/login/code", "/login/code", &[("code", &code)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), Some("/admin"));
    assert_eq!(http.get("/admin").await.status, 200);

    // The same code again, from another browser with the password: refused (taken once).
    let other = app.http();
    assert_eq!(password(&other, ADMIN).await.location(), Some("/login/code"));
    let reused = other.post_form("/login/code", "/login/code", &[("code", &code)]).await;
    assert_eq!(reused.status, 422, "a code is taken once: {}", reused.body);
    assert_eq!(other.get("/admin").await.status, 303);
}

/// The key shown on the enrolment page, without the spaces that group it.
fn shown_secret(body: &str) -> String {
    let at = body.find(r#"id="totp-secret""#).expect("the key is shown");
    let rest = &body[at..];
    let start = rest.find('>').expect("tag") + 1;
    let end = rest.find("</code>").expect("end");
    rest[start..end].chars().filter(|c| !c.is_whitespace()).collect()
}

fn recovery_codes(body: &str) -> Vec<String> {
    body.split(r#"<li><code dir="ltr">"#).skip(1).filter_map(|p| p.split('<').next()).map(str::to_string).collect()
}

async fn an_administrator_without_one_must_enrol_and_can_do_nothing_else_first(backend: Backend) {
    let app = support::spawn(backend).await;
    let admin = app.user_without_second_factor(ADMIN, "admin", "Corridor Operations").await;
    let http = app.http();
    let page = password(&http, ADMIN).await;
    assert_eq!(page.location(), Some("/login/enrol"));
    assert_eq!(http.get("/admin").await.status, 303, "nothing opens before enrolment");
    assert_eq!(http.get("/login/code").await.status, 303, "nor the code step");

    let enrol = http.get("/login/enrol").await;
    assert_eq!(enrol.status, 200, "{}", enrol.body);
    assert!(enrol.body.contains(r#"src="data:image/svg+xml;base64,"#), "a QR code");
    let secret = shown_secret(&enrol.body);
    assert!(totp::base32_decode(&secret).is_some_and(|k| k.len() >= 20), "a 160-bit key: {secret}");
    let shown = enrol.body.replace("&#x2F;", "/").replace("&amp;", "&");
    assert!(shown.contains(&format!("secret={secret}")), "the otpauth address carries the key");
    assert!(shown.contains("otpauth://totp/Corridor:root%40ops.example?"), "{shown}");
    // Reloading shows the same key until it is confirmed.
    assert_eq!(shown_secret(&http.get("/login/enrol").await.body), secret);

    let wrong = http.post_form("/login/enrol", "/login/enrol", &[("code", "123456")]).await;
    assert_eq!(wrong.status, 422);
    assert!(app.store.second_factor(admin.id).await.expect("read").is_none(), "nothing stored on a wrong code");

    let code = totp::code_at_step(&secret, totp::current_step());
    let done = http.post_form("/login/enrol", "/login/enrol", &[("code", &code)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let codes = recovery_codes(&done.body);
    assert_eq!(codes.len(), 10, "{}", done.body);
    assert!(codes.iter().all(|c| c.len() == 11), "{codes:?}");
    assert_eq!(http.get("/admin").await.status, 200, "signed in once enrolled");
    let stored = app.store.second_factor(admin.id).await.expect("read").expect("stored");
    assert_eq!(stored.secret, secret);
    assert_eq!(app.store.unused_recovery_codes(admin.id).await.expect("count"), 10);

    // From now on the password alone is not enough, and the enrolled key gives the codes.
    let next = app.http();
    assert_eq!(password(&next, ADMIN).await.location(), Some("/login/code"));
    let step = (totp::current_step() - 1..=totp::current_step() + 1)
        .find(|s| *s as i64 > stored.last_step.unwrap_or(0))
        .expect("a step after the enrolment's");
    let signed = next.post_form("/login/code", "/login/code", &[("code", &totp::code_at_step(&secret, step))]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
}

async fn a_recovery_code_signs_in_once(backend: Backend) {
    let app = support::spawn(backend).await;
    let admin = app.user_without_second_factor(ADMIN, "admin", "Corridor Operations").await;
    let http = app.http();
    password(&http, ADMIN).await;
    let secret = shown_secret(&http.get("/login/enrol").await.body);
    let done = http
        .post_form("/login/enrol", "/login/enrol", &[("code", &totp::code_at_step(&secret, totp::current_step()))])
        .await;
    let codes = recovery_codes(&done.body);
    assert_eq!(codes.len(), 10);
    let recovery = &codes[3];

    // Typed in capitals and without the dash, it still works.
    let first = app.http();
    password(&first, ADMIN).await;
    let typed = recovery.replace('-', "").to_uppercase();
    let page = first.post_form("/login/code", "/login/code", &[("code", &typed)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(first.get("/admin").await.status, 200);
    assert_eq!(app.store.unused_recovery_codes(admin.id).await.expect("count"), 9);

    let second = app.http();
    password(&second, ADMIN).await;
    let again = second.post_form("/login/code", "/login/code", &[("code", recovery)]).await;
    assert_eq!(again.status, 422, "a recovery code works once: {}", again.body);
    assert_eq!(second.get("/admin").await.status, 303);
    // The account page says how many are left.
    let account = first.get("/account/sessions").await;
    assert!(account.body.contains("You have 9 recovery codes left"), "{}", account.body);
}

async fn roles_named_in_the_configuration_need_a_second_factor_and_others_do_not(backend: Backend) {
    let app = support::spawn_configured(backend, |c| {
        c.sign_in.second_factor_roles = vec!["admin".into(), "security_officer".into()];
    })
    .await;
    app.user_without_second_factor("khalid@security.example", "security_officer", "State Security").await;
    app.user_without_second_factor("fatima@moci.example", "ministry_reviewer", "Ministry").await;
    let officer = app.http();
    assert_eq!(password(&officer, "khalid@security.example").await.location(), Some("/login/enrol"));
    assert_eq!(officer.get("/queue").await.status, 303, "the officer must enrol first");
    let reviewer = app.http();
    assert_eq!(password(&reviewer, "fatima@moci.example").await.location(), Some("/queue"));
    assert_eq!(reviewer.get("/queue").await.status, 200);

    // A reviewer may still choose a second factor from their account page; from then on it
    // is asked for.
    let page = reviewer.get("/account/second-factor").await;
    assert_eq!(page.status, 200);
    let secret = shown_secret(&page.body);
    let code = totp::code_at_step(&secret, totp::current_step());
    // Signed in already, the password is asked again: a stolen session cannot set one up.
    let without = reviewer.post_form("/account/second-factor", "/account/second-factor", &[("code", &code)]).await;
    assert_eq!(without.status, 422);
    let wrong = reviewer
        .post_form(
            "/account/second-factor",
            "/account/second-factor",
            &[("code", &code), ("password", "not mine at all")],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("The password is not right"));
    let done = reviewer
        .post_form("/account/second-factor", "/account/second-factor", &[("code", &code), ("password", PASSWORD)])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(recovery_codes(&done.body).len(), 10);
    assert_eq!(reviewer.get("/queue").await.status, 200, "still signed in");
    assert_eq!(password(&app.http(), "fatima@moci.example").await.location(), Some("/login/code"));
}

/// A lost phone: an administrator (or `corridor user reset-second-factor`) removes the factor;
/// the person is signed out and sets up a new one at the next sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_factor_is_reset_by_an_administrator_or_the_command_line() {
    let app = support::spawn(Backend::Sqlite).await;
    app.user(ADMIN, "admin", "Corridor Operations").await;
    let other = app.user("second@ops.example", "admin", "Corridor Operations").await;
    let their_session = app.signed_in("second@ops.example").await;
    let admin = app.signed_in(ADMIN).await;
    let path = format!("/admin/users/{}", other.id);
    let done = admin.post_form(&path, &format!("{path}/reset-second-factor"), &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(app.store.second_factor(other.id).await.expect("read").is_none());
    assert_eq!(their_session.get("/admin").await.status, 303, "signed out");
    assert_eq!(password(&app.http(), "second@ops.example").await.location(), Some("/login/enrol"));

    let me = app.store.user_by_email(ADMIN).await.expect("read").expect("admin");
    let out = app.cli(&["user", "reset-second-factor", "--email", ADMIN]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(app.store.second_factor(me.id).await.expect("read").is_none());
    assert_eq!(admin.get("/admin").await.status, 303, "signed out");
}
