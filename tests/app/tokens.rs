//! API tokens (issue 9, point 4), black box on both databases: a token is refused after it
//! expires, after it is revoked (from the command line or the admin page), after its owner's
//! password is reset and after the account is disabled, each time with 401 and a
//! `WWW-Authenticate: Bearer` challenge; its last use is written at most once a minute.

use chrono::{Duration, TimeZone, Utc};
use corridor_engine::model::{TokenId, User};
use serde_json::Value;

use crate::support::{Backend, TestApp, spawn};

on_both!(
    a_request_without_a_token_gets_the_bearer_challenge,
    a_token_is_refused_once_it_has_expired,
    a_token_made_on_the_command_line_is_listed_and_refused_once_revoked,
    a_token_revoked_on_the_admin_page_is_refused,
    resetting_the_owners_password_revokes_the_token,
    disabling_the_owner_revokes_the_token,
    last_use_is_written_at_most_once_a_minute,
);

/// The status, the `WWW-Authenticate` header and the body of a GET with `token`.
async fn call(app: &TestApp, token: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new().get(app.url("/api/v1/applications"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let r = request.send().await.expect("request");
    let status = r.status().as_u16();
    let challenge = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    (status, challenge, r.json().await.unwrap_or(Value::Null))
}

/// The token is refused as RFC 6750 says: 401, `Bearer` with `error="invalid_token"`.
async fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let (status, challenge, body) = call(app, Some(token)).await;
    assert_eq!(status, 401, "{why}: {body}");
    let challenge = challenge.unwrap_or_else(|| panic!("{why}: no WWW-Authenticate"));
    assert!(challenge.starts_with("Bearer "), "{why}: {challenge}");
    assert!(challenge.contains(r#"error="invalid_token""#), "{why}: {challenge}");
    assert_eq!(body["error"]["code"], "invalid_token", "{why}: {body}");
}

async fn assert_accepted(app: &TestApp, token: &str) {
    let (status, challenge, body) = call(app, Some(token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(challenge, None);
}

async fn firm_user(app: &TestApp) -> User {
    app.user("scripts@lahore-soft.example", "applicant", "Lahore Soft").await
}

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn only_token_of(app: &TestApp, user: &User) -> TokenId {
    let tokens = app.store.tokens(Some(user.id)).await.unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    tokens[0].id
}

async fn a_request_without_a_token_gets_the_bearer_challenge(backend: Backend) {
    let app = spawn(backend).await;
    let (status, challenge, body) = call(&app, None).await;
    assert_eq!(status, 401, "{body}");
    let challenge = challenge.expect("WWW-Authenticate");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!challenge.contains("error="), "no token was presented, so no error code: {challenge}");
    assert_refused(&app, "cor_not-a-token-anyone-made", "an unknown token").await;
}

async fn a_token_is_refused_once_it_has_expired(backend: Backend) {
    let app = spawn(backend).await;
    let user = firm_user(&app).await;
    let token = app.token(&user).await;
    let made = app.store.token(only_token_of(&app, &user).await).await.unwrap();
    assert_eq!(made.expires_at - made.created_at, Duration::days(90), "the default lifetime");
    assert_accepted(&app, &token).await;
    app.clock.advance(Duration::days(89));
    assert_accepted(&app, &token).await;
    app.clock.advance(Duration::days(1) + Duration::seconds(1));
    assert_refused(&app, &token, "90 days and a second after it was made").await;
    let (_, _, body) = call(&app, Some(&token)).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");
}

async fn a_token_made_on_the_command_line_is_listed_and_refused_once_revoked(backend: Backend) {
    let app = spawn(backend).await;
    let user = firm_user(&app).await;
    let out = app.cli(&["token", "create", "--email", &user.email, "--name", "nightly import", "--days", "7"]);
    let token = stdout(&out).trim().to_string();
    assert!(token.starts_with("cor_"), "{token}");
    let id = only_token_of(&app, &user).await;
    let made = app.store.token(id).await.unwrap();
    assert_eq!((made.name.as_str(), made.expires_at - made.created_at), ("nightly import", Duration::days(7)));
    assert_accepted(&app, &token).await;

    let list = stdout(&app.cli(&["token", "list", "--email", &user.email]));
    let row = list.lines().find(|l| l.starts_with(&format!("{id}\t"))).unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("nightly import") && row.contains(&user.email) && row.ends_with("active"), "{row}");
    assert!(!list.contains(&token), "the secret is never listed");

    let revoked = stdout(&app.cli(&["token", "revoke", &id.to_string()]));
    assert!(revoked.contains("revoked"), "{revoked}");
    assert_refused(&app, &token, "revoked with corridor token revoke").await;
    let list = stdout(&app.cli(&["token", "list"]));
    assert!(list.lines().any(|l| l.starts_with(&format!("{id}\t")) && l.contains("revoked")), "{list}");
    let again = stdout(&app.cli(&["token", "revoke", &id.to_string()]));
    assert!(again.contains("already revoked"), "{again}");
    let unknown = app.cli(&["token", "revoke", "999999"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no token 999999"));
    let bad_days = app.cli(&["token", "create", "--email", &user.email, "--days", "0"]);
    assert!(!bad_days.status.success(), "a token must live at least a day");
}

async fn a_token_revoked_on_the_admin_page_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let user = firm_user(&app).await;
    let token = app.token(&user).await;
    let id = only_token_of(&app, &user).await;
    app.user("admin@ministry.example", "admin", "Ministry").await;
    let admin = app.signed_in("admin@ministry.example").await;
    let page = admin.get("/admin/tokens").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!("id=\"token-{id}\"")) && page.body.contains(&user.email), "{}", page.body);
    assert!(page.body.contains(&format!("/admin/tokens/{id}/revoke")));
    assert!(!page.body.contains(&token), "the page never shows a secret");

    let revoked = admin.post_form("/admin/tokens", &format!("/admin/tokens/{id}/revoke"), &[]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_refused(&app, &token, "revoked on the admin page").await;
    let page = admin.get("/admin/tokens?notice=admin.token_revoked").await;
    assert!(!page.body.contains(&format!("/admin/tokens/{id}/revoke")), "a revoked token offers no button");

    // Someone who is not an administrator finds no such page.
    let firm = app.signed_in(&user.email).await;
    assert_eq!(firm.get("/admin/tokens").await.status, 404);
}

async fn resetting_the_owners_password_revokes_the_token(backend: Backend) {
    let app = spawn(backend).await;
    let user = firm_user(&app).await;
    let token = app.token(&user).await;
    assert_accepted(&app, &token).await;
    app.user("admin@ministry.example", "admin", "Ministry").await;
    let admin = app.signed_in("admin@ministry.example").await;
    let page = format!("/admin/users/{}", user.id);
    let reset = admin.post_form(&page, &format!("{page}/reset-password"), &[]).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_refused(&app, &token, "after the owner's password was reset").await;
    assert!(app.store.token(only_token_of(&app, &user).await).await.unwrap().revoked_at.is_some());
}

async fn disabling_the_owner_revokes_the_token(backend: Backend) {
    let app = spawn(backend).await;
    let user = firm_user(&app).await;
    let token = app.token(&user).await;
    app.user("admin@ministry.example", "admin", "Ministry").await;
    let admin = app.signed_in("admin@ministry.example").await;
    let page = format!("/admin/users/{}", user.id);
    let disabled = admin.post_form(&page, &format!("{page}/disable"), &[]).await;
    assert_eq!(disabled.status, 303, "{}", disabled.body);
    assert_refused(&app, &token, "after the owner was disabled").await;
    let enabled = admin.post_form(&page, &format!("{page}/enable"), &[]).await;
    assert_eq!(enabled.status, 303, "{}", enabled.body);
    assert_refused(&app, &token, "enabling the account again gives no token back").await;
}

async fn last_use_is_written_at_most_once_a_minute(backend: Backend) {
    let app = spawn(backend).await;
    let user = firm_user(&app).await;
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap();
    app.clock.set(start);
    let token = app.token(&user).await;
    let id = only_token_of(&app, &user).await;
    assert_eq!(app.store.token(id).await.unwrap().last_used_at, None);
    assert_accepted(&app, &token).await;
    assert_eq!(app.store.token(id).await.unwrap().last_used_at, Some(start));
    app.clock.advance(Duration::seconds(59));
    assert_accepted(&app, &token).await;
    assert_eq!(app.store.token(id).await.unwrap().last_used_at, Some(start), "not rewritten within the minute");
    app.clock.advance(Duration::seconds(2));
    assert_accepted(&app, &token).await;
    assert_eq!(app.store.token(id).await.unwrap().last_used_at, Some(start + Duration::seconds(61)));
}
