//! `corridor serve --demo`: an empty database is filled so that every role can log in and
//! every state of every workflow has an application; a second start adds nothing.

use std::collections::HashSet;

use crate::support::{Backend, spawn};
use corridor_engine::store::ApplicationFilter;

async fn demo_fills_every_state_once(backend: Backend) {
    let app = spawn(backend).await;
    corridor::demo::seed(&app.engine, app.store.as_ref()).await.expect("demo data is created");

    let users = app.store.users().await.unwrap();
    for role in [
        "applicant",
        "ministry_reviewer",
        "ministry_supervisor",
        "security_officer",
        "embassy_officer",
        "licensing_officer",
        "admin",
    ] {
        assert!(users.iter().any(|u| u.role == role), "a demo user with role {role}");
    }
    let apps = app.store.applications(&ApplicationFilter { limit: 10_000, ..Default::default() }).await.unwrap();
    let reached: HashSet<(String, String)> = apps.iter().map(|a| (a.workflow_id.clone(), a.state.clone())).collect();
    for wf in app.engine.workflows() {
        for state in &wf.states {
            assert!(
                reached.contains(&(wf.id.clone(), state.name.clone())),
                "{}: no demo application in `{}`",
                wf.id,
                state.name
            );
        }
    }
    assert!(app.engine.verify_audit(None).await.unwrap().is_ok(), "the demo's audit chain verifies");

    // The demo administrator has a second factor whose key is printed at start: a new user
    // can sign in with it.
    let admin = users.iter().find(|u| u.email == "admin@demo.corridor").expect("demo admin");
    let secret = app.store.second_factor(admin.id).await.unwrap().expect("the demo admin has a second factor").secret;
    let http = app.http();
    let page = http
        .post_form("/login", "/login", &[("email", "admin@demo.corridor"), ("password", corridor::demo::DEMO_PASSWORD)])
        .await;
    assert_eq!(page.location(), Some("/login/code"));
    let code = crate::support::totp::code_at_step(&secret, crate::support::totp::current_step());
    let page = http.post_form("/login/code", "/login/code", &[("code", &code)]).await;
    assert_eq!(page.location(), Some("/admin"), "{}", page.body);

    corridor::demo::seed(&app.engine, app.store.as_ref()).await.expect("second start");
    let again_secret = app.store.second_factor(admin.id).await.unwrap().expect("kept").secret;
    assert_eq!(again_secret, secret, "a second start keeps the key");
    let again = app.store.applications(&ApplicationFilter { limit: 10_000, ..Default::default() }).await.unwrap();
    assert_eq!(again.len(), apps.len(), "a second start adds nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_demo_fills_every_state_once() {
    demo_fills_every_state_once(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_demo_fills_every_state_once() {
    demo_fills_every_state_once(Backend::Postgres).await
}
