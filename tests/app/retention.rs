//! Retention (issue 9, point 3), on SQLite and on PostgreSQL: with
//! `retention.documents_after_days` set, the daily scheduler run deletes the contents of the
//! documents of applications that ended that long ago; their records and hashes stay, each
//! deletion is an audit event, the hash chains still verify, and a download says "gone".

use chrono::Duration;
use serde_json::json;

use crate::support::Backend;
use crate::support::api::{ApiApp as TestApp, spawn as spawn_app};
use corridor::startup;
use corridor_engine::store::Reference;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_documents_are_purged_after_the_retention_period() {
    documents_are_purged_after_the_retention_period(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_documents_are_purged_after_the_retention_period() {
    documents_are_purged_after_the_retention_period(Backend::Postgres).await
}

async fn withdrawn(app: &TestApp, firm: &str) -> String {
    let reference = app.complete_draft(firm, "it-business-visa").await;
    let (status, body) = app.act(firm, &reference, "withdraw", json!({})).await;
    assert_eq!(status, 200, "{body}");
    reference
}

async fn download(app: &TestApp, token: &str, reference: &str, id: i64) -> (u16, serde_json::Value) {
    let r = app
        .http
        .get(app.url(&format!("/api/v1/applications/{reference}/documents/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

async fn documents_are_purged_after_the_retention_period(backend: Backend) {
    let app = spawn_app(backend).await;
    let firm = app.user("hr@indus.example", "applicant", "Indus Software House").await;
    let mut config = app.config.clone();
    config.retention.documents_after_days = 30;
    let scheduler = startup::build_scheduler(app.engine.clone(), &config).expect("scheduler");
    let run = || async { scheduler.run_due_once(app.engine.now()).await.expect("scheduler pass") };

    // Ended on day 0; ended on day 20; still under review.
    let old = withdrawn(&app, &firm).await;
    app.clock.advance(Duration::days(20));
    let recent = withdrawn(&app, &firm).await;
    let open = app.complete_draft(&firm, "it-business-visa").await;
    assert_eq!(app.act(&firm, &open, "submit", json!({})).await.0, 200);

    app.clock.advance(Duration::days(11));
    run().await; // the first pass with retention on schedules the first run now
    run().await;

    let store = &app.store;
    let record = |r: &str| {
        let r: Reference = r.parse().unwrap();
        async move { store.application_by_reference(&r).await.unwrap().unwrap() }
    };
    let old_app = record(&old).await;
    let docs = store.documents(old_app.id).await.unwrap();
    assert!(!docs.is_empty());
    let uploads = app.config.uploads_dir();
    for d in &docs {
        assert!(d.purged_at.is_some(), "{} purged", d.kind);
        assert!(!uploads.join(&d.storage_key).exists(), "its content is gone from the disk");
        assert_eq!(d.sha256.len(), 64, "the hash stays");
        assert!(d.size > 0, "the metadata stays");
    }
    let history = store.history(old_app.id).await.unwrap();
    let purges: Vec<_> = history.iter().filter(|e| e.action == "purge_document").collect();
    assert_eq!(purges.len(), docs.len(), "one audit event per document");
    assert!(purges.iter().all(|e| e.role == "system" && e.data["sha256"].as_str().is_some_and(|h| h.len() == 64)));
    assert!(app.engine.verify_audit(None).await.expect("verify").is_ok(), "every chain verifies with the purge events");

    // Not yet: ended 11 days ago; not ended at all.
    for r in [&recent, &open] {
        let a = record(r).await;
        for d in store.documents(a.id).await.unwrap() {
            assert!(d.purged_at.is_none() && uploads.join(&d.storage_key).exists(), "{r} keeps {}", d.kind);
        }
    }

    // A download of a purged document says so: 410 over the API, a page in the browser.
    let (status, body) = download(&app, &firm, &old, docs[0].id).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"]["code"], "gone");
    assert!(body["error"]["message"].as_str().unwrap().contains("retention"), "{body}");
    assert!(body["error"]["details"]["purged_at"].is_string(), "{body}");
    let recent_docs = store.documents(record(&recent).await.id).await.unwrap();
    assert_eq!(download(&app, &firm, &recent, recent_docs[0].id).await.0, 200);
    let page =
        app.signed_in("hr@indus.example").await.get(&format!("/applications/{old}/documents/{}", docs[0].id)).await;
    assert_eq!(page.status, 410);
    assert!(page.body.contains("This document has been deleted"), "{}", page.body);
    let listed = app.signed_in("hr@indus.example").await.get(&format!("/applications/{old}/documents")).await;
    assert!(listed.body.contains("(deleted under the retention rules)"), "the documents page says so");
    assert!(!listed.body.contains(&format!("/documents/{}\"", docs[0].id)), "and offers no link to it");
    // The firm's timeline says what happened.
    let (_, timeline) = app.get(&firm, &format!("/api/v1/applications/{old}/history")).await;
    assert!(timeline["events"].as_array().unwrap().iter().any(|e| e["action"] == "purge_document"), "{timeline}");

    // Once a day: another pass the same day purges nothing more.
    run().await;
    let again = store.history(old_app.id).await.unwrap();
    assert_eq!(again.len(), history.len());
    // The next day's run takes the case that has now been over for 31 days.
    app.clock.advance(Duration::days(20));
    run().await;
    for d in store.documents(record(&recent).await.id).await.unwrap() {
        assert!(d.purged_at.is_some(), "{} purged on a later run", d.kind);
    }
    assert!(app.engine.verify_audit(None).await.expect("verify").is_ok());
}
