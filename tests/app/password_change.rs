//! A signed-in user changes their own password at `/account/password` (reached from
//! `/account/sessions`), over real HTTP on both databases: the current password must be right
//! (wrong ones count toward the sign-in throttle), the new one obeys the rules of every chosen
//! password and is typed twice alike; on success every other session ends, this one stays,
//! and the API tokens are revoked unless the user clears the box.

use crate::support::{self, Backend, Http, PASSWORD, TestApp};

on_both!(
    the_page_is_reached_from_the_account_page,
    the_right_current_password_changes_it,
    tokens_stay_when_the_box_is_cleared,
    a_wrong_current_password_is_refused_and_changes_nothing,
    a_guessable_new_password_is_refused,
    two_different_new_passwords_are_refused,
    wrong_current_passwords_count_toward_the_sign_in_throttle,
);

const FIRM: &str = "amna@firm.example";
const NEW: &str = "copper kettle river lantern";
const PAGE: &str = "/account/password";

/// The status of an API call with `token`.
async fn api_status(app: &TestApp, token: &str) -> u16 {
    let r =
        reqwest::Client::new().get(app.url("/api/v1/applications")).bearer_auth(token).send().await.expect("request");
    r.status().as_u16()
}

/// The status of a sign-in as `email` with `password` from a new client at `127.0.0.N`.
async fn sign_in_status(app: &TestApp, n: u8, email: &str, password: &str) -> u16 {
    app.http_from(n).post_form("/login", "/login", &[("email", email), ("password", password)]).await.status
}

async fn change(http: &Http, current: &str, new: &str, again: &str, revoke: bool) -> support::http::Page {
    let mut fields = vec![("current_password", current), ("new_password", new), ("new_password_again", again)];
    if revoke {
        fields.push(("revoke_tokens", "yes"));
    }
    http.post_form(PAGE, PAGE, &fields).await
}

async fn the_page_is_reached_from_the_account_page(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user(FIRM, "applicant", "Lahore Soft").await;
    let here = app.signed_in(FIRM).await;
    let account = here.get("/account/sessions").await;
    assert!(account.body.contains(r#"href="/account/password""#), "{}", account.body);
    let page = here.get(PAGE).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for input in ["current_password", "new_password", "new_password_again"] {
        assert!(page.body.contains(&format!(r#"name="{input}""#)), "{input}: {}", page.body);
    }
    assert!(page.body.contains(r#"name="revoke_tokens" type="checkbox" value="yes" checked"#), "on by default");
    assert_eq!(app.http().get(PAGE).await.status, 303, "signed-out visitors are sent to sign in");
}

async fn the_right_current_password_changes_it(backend: Backend) {
    let app = support::spawn(backend).await;
    let user = app.user(FIRM, "applicant", "Lahore Soft").await;
    let here = app.signed_in(FIRM).await;
    let elsewhere = app.http_from(9);
    app.sign_in_with(&elsewhere, FIRM).await;
    let token = app.token(&user).await;
    assert_eq!(api_status(&app, &token).await, 200);

    let done = change(&here, PASSWORD, NEW, NEW, true).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), Some("/account/sessions?notice=password_changed"));
    let account = here.get("/account/sessions?notice=password_changed").await;
    assert_eq!(account.status, 200, "this session continues");
    assert!(account.body.contains("Your password has been changed"), "{}", account.body);
    assert_eq!(elsewhere.get("/applications").await.status, 303, "the other session ended");
    let live = app.store.user_sessions(user.id, chrono::Utc::now()).await.expect("read");
    assert_eq!(live.len(), 1);
    assert_eq!(api_status(&app, &token).await, 401, "the token was revoked");

    assert_eq!(sign_in_status(&app, 20, FIRM, NEW).await, 303, "the new password signs in");
    assert_eq!(sign_in_status(&app, 21, FIRM, PASSWORD).await, 422, "the old one does not");
}

async fn tokens_stay_when_the_box_is_cleared(backend: Backend) {
    let app = support::spawn(backend).await;
    let user = app.user(FIRM, "applicant", "Lahore Soft").await;
    let here = app.signed_in(FIRM).await;
    let token = app.token(&user).await;
    let done = change(&here, PASSWORD, NEW, NEW, false).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(api_status(&app, &token).await, 200, "the token still works");
    assert_eq!(sign_in_status(&app, 20, FIRM, NEW).await, 303);
}

/// The error summary links to `field` and the page says `message` (twice: summary and input).
fn assert_refused(page: &support::http::Page, field: &str, message: &str) {
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains(&format!(r##"href="#{field}""##)), "summary names {field}: {}", page.body);
    assert!(page.body.contains(&format!(r#"id="{field}-error""#)), "message beside {field}: {}", page.body);
    assert!(page.body.matches(message).count() >= 2, "{message}: {}", page.body);
}

async fn a_wrong_current_password_is_refused_and_changes_nothing(backend: Backend) {
    let app = support::spawn(backend).await;
    let user = app.user(FIRM, "applicant", "Lahore Soft").await;
    let here = app.signed_in(FIRM).await;
    let elsewhere = app.http_from(9);
    app.sign_in_with(&elsewhere, FIRM).await;
    let token = app.token(&user).await;

    let refused = change(&here, "not my password at all", NEW, NEW, true).await;
    assert_refused(&refused, "current_password", "The current password is not right");
    assert_eq!(elsewhere.get("/applications").await.status, 200, "the other session lives");
    assert_eq!(api_status(&app, &token).await, 200, "the token lives");
    assert_eq!(sign_in_status(&app, 20, FIRM, NEW).await, 422, "the new password was not set");
    assert_eq!(sign_in_status(&app, 21, FIRM, PASSWORD).await, 303, "the old one still works");

    let missing = change(&here, "", NEW, NEW, true).await;
    assert_refused(&missing, "current_password", "Enter your current password");
}

async fn a_guessable_new_password_is_refused(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user(FIRM, "applicant", "Lahore Soft").await;
    let here = app.signed_in(FIRM).await;
    let refused = change(&here, PASSWORD, "password1234", "password1234", true).await;
    assert_refused(&refused, "new_password", "This password is too easy to guess");
    let short = change(&here, PASSWORD, "kettle", "kettle", true).await;
    assert_refused(&short, "new_password", "at least 12 characters");
    assert_eq!(sign_in_status(&app, 20, FIRM, "password1234").await, 422);
    assert_eq!(sign_in_status(&app, 21, FIRM, PASSWORD).await, 303);

    // In the user's language too.
    let urdu = app.http_from(22);
    app.sign_in_with(&urdu, FIRM).await;
    urdu.post_form("/account/sessions", "/language", &[("lang", "ur"), ("next", PAGE)]).await;
    let refused = change(&urdu, PASSWORD, "password1234", "password1234", true).await;
    assert_refused(&refused, "new_password", "یہ پاس ورڈ آسانی سے بوجھا جا سکتا ہے");
}

async fn two_different_new_passwords_are_refused(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user(FIRM, "applicant", "Lahore Soft").await;
    let here = app.signed_in(FIRM).await;
    let refused = change(&here, PASSWORD, NEW, "copper kettle river lanterns", true).await;
    assert_refused(&refused, "new_password_again", "The two new passwords are not the same");
    let missing = change(&here, PASSWORD, NEW, "", true).await;
    assert_refused(&missing, "new_password_again", "Enter the new password again");
    assert_eq!(sign_in_status(&app, 20, FIRM, NEW).await, 422);
    assert_eq!(sign_in_status(&app, 21, FIRM, PASSWORD).await, 303);
}

async fn wrong_current_passwords_count_toward_the_sign_in_throttle(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user(FIRM, "applicant", "Lahore Soft").await;
    let here = app.http_from(30);
    app.sign_in_with(&here, FIRM).await;
    for i in 0..corridor_engine::auth::FREE_FAILURES {
        let refused = change(&here, "a wrong guess", NEW, NEW, true).await;
        assert_eq!(refused.status, 422, "guess {i}: {}", refused.body);
    }
    // The right password now waits too (a second after the last failure), at sign-in from
    // the same address and on this page.
    assert_eq!(sign_in_status(&app, 30, FIRM, PASSWORD).await, 429, "the same (account, address) pair");
    let throttled = change(&here, PASSWORD, NEW, NEW, true).await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.header("retry-after").is_some());
    assert!(throttled.body.contains(r##"href="#current_password""##), "{}", throttled.body);
    assert_eq!(sign_in_status(&app, 31, FIRM, PASSWORD).await, 303, "another address is not slowed");
    assert_eq!(sign_in_status(&app, 32, FIRM, NEW).await, 422, "nothing was changed");
}
