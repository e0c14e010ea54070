//! Sign-in attempts are limited per account and per client address by the engine
//! (`Engine::sign_in`, `corridor_engine::auth::SignInLimits`: 10 per account, 50 per address,
//! each per 15 minutes). Guessing many accounts from one address is stopped, as is guessing one
//! account; one locked account does not lock the others; only failed attempts count against an
//! address, so an office behind one address can sign in all day.

use crate::support::{self, Backend, PASSWORD};

#[tokio::test]
async fn guessing_across_many_accounts_from_one_address_is_stopped() {
    let app = support::spawn(Backend::Sqlite).await;
    app.user("real@firm.example", "applicant", "Real Firm").await;
    let http = app.http();
    // Fifty tries, each on a different account, so no account reaches its own limit.
    for i in 0..50 {
        let email = format!("guess{i}@firm.example");
        let page = http.post_form("/login", "/login", &[("email", &email), ("password", "Winter2026!")]).await;
        assert_eq!(page.status, 422, "try {i} is answered normally");
    }
    // The next one is refused even with a real account's right password.
    let refused = http.post_form("/login", "/login", &[("email", "real@firm.example"), ("password", PASSWORD)]).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.body.contains("Too many sign-in attempts"));
    assert!(refused.header("retry-after").is_some());
    assert!(
        !refused
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap_or("").starts_with("corridor_session="))
    );
    // A new client (new cookies) from the same address is refused too: the limit is the address.
    let fresh = app.http();
    let again = fresh.post_form("/login", "/login", &[("email", "real@firm.example"), ("password", PASSWORD)]).await;
    assert_eq!(again.status, 429);
}

#[tokio::test]
async fn one_locked_account_does_not_lock_the_others_and_success_clears_the_count() {
    let app = support::spawn(Backend::Sqlite).await;
    app.user("target@firm.example", "applicant", "Target Firm").await;
    app.user("colleague@firm.example", "applicant", "Target Firm").await;
    app.user("forgetful@firm.example", "applicant", "Target Firm").await;
    let http = app.http();
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let page = http.post_form("/login", "/login", &[("email", "target@firm.example"), ("password", "nope")]).await;
        statuses.push(page.status);
    }
    assert_eq!(&statuses[..10], &[422; 10], "ten tries are answered");
    assert_eq!(statuses[10], 429, "the eleventh is refused");
    // Upper case is the same account.
    let upper = http.post_form("/login", "/login", &[("email", "TARGET@firm.example"), ("password", PASSWORD)]).await;
    assert_eq!(upper.status, 429, "still locked, whatever the case of the address");
    // Another account from the same address signs in.
    assert_eq!(
        app.http()
            .post_form("/login", "/login", &[("email", "colleague@firm.example"), ("password", PASSWORD)])
            .await
            .status,
        303
    );

    // Nine mistakes, then the right password: the count starts again.
    let other = app.http();
    for _ in 0..9 {
        assert_eq!(
            other
                .post_form("/login", "/login", &[("email", "forgetful@firm.example"), ("password", "nope")])
                .await
                .status,
            422
        );
    }
    assert_eq!(
        other
            .post_form("/login", "/login", &[("email", "forgetful@firm.example"), ("password", PASSWORD)])
            .await
            .status,
        303
    );
    let after = app.http();
    for _ in 0..2 {
        assert_eq!(
            after
                .post_form("/login", "/login", &[("email", "forgetful@firm.example"), ("password", "nope")])
                .await
                .status,
            422,
            "a success cleared the account's count"
        );
    }
}

#[tokio::test]
async fn many_successful_sign_ins_from_one_address_are_not_limited() {
    let app = support::spawn(Backend::Sqlite).await;
    app.user("desk@firm.example", "applicant", "Busy Firm").await;
    // Sixty sign-ins, past the address limit of fifty, every one with the right password.
    for i in 0..60 {
        let page =
            app.http().post_form("/login", "/login", &[("email", "desk@firm.example"), ("password", PASSWORD)]).await;
        assert_eq!(page.status, 303, "sign-in {i} succeeds");
    }
    // Failures still count: fifty wrong guesses on other accounts lock the address.
    let http = app.http();
    for i in 0..50 {
        let email = format!("guess{i}@firm.example");
        assert_eq!(http.post_form("/login", "/login", &[("email", &email), ("password", "nope")]).await.status, 422);
    }
    let refused = http.post_form("/login", "/login", &[("email", "desk@firm.example"), ("password", PASSWORD)]).await;
    assert_eq!(refused.status, 429);
}
