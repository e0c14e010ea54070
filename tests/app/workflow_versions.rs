//! Workflow versions: each loaded file is stored with its content hash; a changed file that
//! keeps its version is refused at start; a new version applies to new applications only, and
//! an application keeps the version it started on. On SQLite and on PostgreSQL.

use std::sync::Arc;

use corridor::startup;
use corridor_engine::actor::Actor;
use corridor_engine::clock::ManualClock;
use corridor_engine::store::NewUser;

use crate::support::{Backend, TestEnv, root};

const FILE: &str = "it-business-visa.yaml";

async fn changed_file_needs_new_version(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config.clone();
    let workflows = env.dir.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    // The shipped file at version 1, whatever version it is at now.
    let shipped = std::fs::read_to_string(root().join("workflows").join(FILE)).unwrap();
    let original: String = shipped
        .lines()
        .map(|l| if l.starts_with("version:") { "version: 1" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(workflows.join(FILE), &original).unwrap();
    config.paths.workflows = workflows.clone();

    let startup::Built { engine, store } =
        startup::build(&config, Arc::new(ManualClock::new())).await.expect("first start");
    let org = store.create_organisation("Indus Software House", "firm", Some("PK")).await.unwrap();
    let user = store
        .create_user(NewUser {
            email: "hr@indus.example".into(),
            name: "HR".into(),
            role: "applicant".into(),
            organisation_id: org.id,
            password_hash: None,
            language: "en".into(),
        })
        .await
        .unwrap();
    let firm = Actor::from_user(&user);
    let old = engine.create_application(&firm, "it-business-visa", &Default::default()).await.unwrap();
    assert_eq!(old.record.workflow_version, 1);
    drop((engine, store));

    // The same version with other content: refused, with a message that says what to do.
    let edited = original.replace("deadline: 5 working days", "deadline: 4 working days");
    assert_ne!(edited, original);
    std::fs::write(workflows.join(FILE), &edited).unwrap();
    let refused = startup::build_engine(&config, Arc::new(ManualClock::new()))
        .await
        .err()
        .expect("a changed file keeping its version is refused");
    let message = format!("{refused:#}");
    assert!(message.contains("it-business-visa version 1") && message.contains("raise `version`"), "{message}");

    // Raising the version: accepted; new applications start on it, the old one stays on 1.
    std::fs::write(workflows.join(FILE), edited.replacen("version: 1", "version: 2", 1)).unwrap();
    let engine = startup::build_engine(&config, Arc::new(ManualClock::new())).await.expect("new version loads");
    let new = engine.create_application(&firm, "it-business-visa", &Default::default()).await.unwrap();
    assert_eq!(new.record.workflow_version, 2);
    let old_again = engine.application(&firm, &old.record.reference).await.unwrap();
    assert_eq!(old_again.record.workflow_version, 1);
    assert_eq!(old_again.workflow.version, 1, "the old application is read with the definition it started on");
    assert_eq!(engine.workflow("it-business-visa").unwrap().version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_changed_file_needs_new_version() {
    changed_file_needs_new_version(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_changed_file_needs_new_version() {
    changed_file_needs_new_version(Backend::Postgres).await
}
