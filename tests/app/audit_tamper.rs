//! The audit record against tampering (issue 9, point 1), on SQLite and PostgreSQL: each kind
//! of change is made with raw SQL on the database while no engine runs, and the real
//! `corridor audit verify` must exit 1 with a line naming the application and the problem;
//! untouched data exits 0. Signed checkpoints catch a chain recomputed after an edit, and
//! the witness file a checkpoint deleted or rolled back. An exported proof verifies offline
//! with the public key alone, and is refused after one byte is changed.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use chrono::Duration;
use corridor::startup;
use corridor_engine::actor::Actor;
use corridor_engine::audit;
use corridor_engine::clock::ManualClock;
use corridor_engine::store::Reference;
use sqlx::Connection;

use crate::support::{self, Backend, TestEnv, act, submitted, user};

on_both!(
    untampered_records_verify,
    an_edited_event_is_found,
    a_deleted_last_event_is_found,
    a_deleted_middle_event_is_found,
    reordered_events_are_found,
    an_application_whose_events_are_all_deleted_is_found,
    an_application_with_no_events_at_all_is_found,
    a_state_changed_without_an_event_is_found,
    a_version_changed_without_an_event_is_found,
    a_chain_recomputed_after_an_edit_is_found_by_the_checkpoint,
    a_deleted_application_is_found_by_the_checkpoint,
    a_deleted_checkpoint_is_found_by_the_witness,
    a_rolled_back_database_is_found_against_the_published_witness,
    a_forged_checkpoint_is_refused,
    an_exported_proof_verifies_offline_and_refuses_one_changed_byte,
    the_scheduler_signs_a_checkpoint_every_hour,
    the_admin_page_shows_the_last_checkpoint_and_its_verification,
    an_upgraded_database_takes_its_heads_from_its_events,
    a_key_file_others_may_read_is_refused_with_a_clear_message,
);

/// Two submitted applications, the first taken one step further; the engine is stopped
/// (dropped) before the test touches the database.
struct Case {
    env: TestEnv,
    /// The application that is tampered with, and its row id.
    target: Reference,
    id: i64,
    /// Its number of events.
    events: i64,
    /// An application left alone.
    other: Reference,
}

async fn case(backend: Backend) -> Case {
    let env = TestEnv::new(backend).await;
    let clock = Arc::new(ManualClock::new());
    let (target, other, id, events) = {
        let (engine, store) = env.start(clock.clone()).await;
        let firm = user(&*store, "hr@indus.example", "Ayesha Khan", "applicant", "Indus Software House", "en").await;
        let reviewer = user(&*store, "r1@moci.example", "Omar", "ministry_reviewer", "Ministry", "en").await;
        let firm = Actor::from_user(&firm);
        let target = submitted(&engine, &firm, 1).await;
        clock.advance(Duration::hours(1));
        act(&engine, &Actor::from_user(&reviewer), &target, "verify_firm", None).await;
        let other = submitted(&engine, &firm, 2).await;
        let app = store.application_by_reference(&target).await.unwrap().unwrap();
        (target, other, app.id.get(), app.audit_seq)
    };
    assert!(events >= 4, "the target has a chain worth tampering with ({events} events)");
    Case { env, target, id, events, other }
}

impl Case {
    fn cli(&self, args: &[&str]) -> Output {
        cli(&self.env.config_path, args)
    }

    async fn sql(&self, sql: &str) {
        raw_sql(&self.env.database.url, sql).await;
    }

    /// `audit verify` must fail with a line naming the target and containing `problem`.
    fn assert_found(&self, args: &[&str], problem: &str) -> String {
        let out = self.cli(&[&["audit", "verify"], args].concat());
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(1), "verify must fail: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            stdout.lines().any(|l| l.contains(self.target.as_str()) && l.contains(problem)),
            "a line names {} and `{problem}`:\n{stdout}",
            self.target
        );
        assert!(!stdout.contains(self.other.as_str()), "the untouched application is not reported:\n{stdout}");
        stdout
    }

    fn checkpoint(&self) {
        let out = self.cli(&["audit", "checkpoint"]);
        assert!(out.status.success(), "checkpoint: {}{}", text(&out.stdout), text(&out.stderr));
    }

    fn witness(&self) -> std::path::PathBuf {
        self.env.config.audit.witness.clone()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn cli(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_corridor"))
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(support::root())
        .output()
        .expect("run corridor")
}

/// SQL on the database behind the engine's back, as `sqlite3` or `psql` would run it.
async fn raw_sql(url: &str, sql: &str) {
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open SQLite");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await.expect("SQL runs");
        conn.close().await.ok();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("open PostgreSQL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await.expect("SQL runs");
        conn.close().await.ok();
    }
}

fn assert_intact(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "verify: {}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("intact"), "{}", text(&out.stdout));
}

async fn untampered_records_verify(backend: Backend) {
    let c = case(backend).await;
    assert_intact(&c.cli(&["audit", "verify"]));
    c.checkpoint();
    let out = c.cli(&["audit", "verify"]);
    assert_intact(&out);
    assert!(text(&out.stdout).contains("checkpoint 1 (tree size 2"), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("verified"), "{}", text(&out.stdout));
    assert_intact(&c.cli(&["audit", "verify", "--reference", c.target.as_str()]));
}

async fn an_edited_event_is_found(backend: Backend) {
    let c = case(backend).await;
    c.sql(&format!(
        "UPDATE audit_events SET comment = 'approved by phone' WHERE application_id = {} AND seq = 2",
        c.id
    ))
    .await;
    c.assert_found(&[], "event 2: its content does not match its hash");
    c.assert_found(&["--reference", c.target.as_str()], "event 2");
}

async fn a_deleted_last_event_is_found(backend: Backend) {
    let c = case(backend).await;
    c.sql(&format!("DELETE FROM audit_events WHERE application_id = {} AND seq = {}", c.id, c.events)).await;
    c.assert_found(&[], &format!("events {}..={} are missing at the end", c.events, c.events));
}

async fn a_deleted_middle_event_is_found(backend: Backend) {
    let c = case(backend).await;
    c.sql(&format!("DELETE FROM audit_events WHERE application_id = {} AND seq = 2", c.id)).await;
    c.assert_found(&[], "event 2: it is missing");
}

async fn reordered_events_are_found(backend: Backend) {
    let c = case(backend).await;
    let id = c.id;
    c.sql(&format!(
        "UPDATE audit_events SET seq = 1000 WHERE application_id = {id} AND seq = 2; \
         UPDATE audit_events SET seq = 2 WHERE application_id = {id} AND seq = 3; \
         UPDATE audit_events SET seq = 3 WHERE application_id = {id} AND seq = 1000;"
    ))
    .await;
    c.assert_found(&[], "event 2:");
}

async fn an_application_whose_events_are_all_deleted_is_found(backend: Backend) {
    let c = case(backend).await;
    c.sql(&format!("DELETE FROM audit_events WHERE application_id = {}", c.id)).await;
    c.assert_found(&[], "all its events are missing");
}

/// Events deleted and the row's head reset to match: the row has no record at all.
async fn an_application_with_no_events_at_all_is_found(backend: Backend) {
    let c = case(backend).await;
    c.sql(&format!(
        "DELETE FROM audit_events WHERE application_id = {id}; \
         UPDATE applications SET audit_seq = 0, audit_hash = '{genesis}' WHERE id = {id};",
        id = c.id,
        genesis = audit::GENESIS
    ))
    .await;
    c.assert_found(&[], "no audit events at all");
}

async fn a_state_changed_without_an_event_is_found(backend: Backend) {
    let c = case(backend).await;
    c.sql(&format!("UPDATE applications SET state = 'visa_issued' WHERE id = {}", c.id)).await;
    c.assert_found(&[], "its state is `visa_issued`");
}

async fn a_version_changed_without_an_event_is_found(backend: Backend) {
    let c = case(backend).await;
    c.sql(&format!("UPDATE applications SET version = version + 1, fields = '{{}}' WHERE id = {}", c.id)).await;
    c.assert_found(&[], "its version is");
}

/// Someone who can write to the database edits an event and recomputes every hash after it
/// and the row's head: every chain check passes; only the signed checkpoint catches it.
async fn a_chain_recomputed_after_an_edit_is_found_by_the_checkpoint(backend: Backend) {
    let c = case(backend).await;
    c.checkpoint();
    let store = corridor_engine::store::connect(&c.env.database.url).await.unwrap();
    let mut events = store.history(corridor_engine::model::ApplicationId::new(c.id)).await.unwrap();
    drop(store);
    let mut prev = events[0].hash.clone();
    let mut sql = String::new();
    for e in events.iter_mut().skip(1) {
        if e.seq == 2 {
            e.comment = Some("approved by phone".into());
        }
        e.prev_hash = prev.clone();
        e.hash = audit::hash_stored(e);
        prev = e.hash.clone();
        sql.push_str(&format!(
            "UPDATE audit_events SET comment = {}, prev_hash = '{}', hash = '{}' WHERE id = {};\n",
            e.comment.as_deref().map(|t| format!("'{}'", t.replace('\'', "''"))).unwrap_or_else(|| "NULL".into()),
            e.prev_hash,
            e.hash,
            e.id
        ));
    }
    sql.push_str(&format!("UPDATE applications SET audit_hash = '{prev}' WHERE id = {};", c.id));
    c.sql(&sql).await;
    let stdout = c.assert_found(&[], "the chain was rewritten after the checkpoint");
    assert_eq!(stdout.lines().filter(|l| l.contains(c.target.as_str())).count(), 1, "only the checkpoint: {stdout}");
}

async fn a_deleted_application_is_found_by_the_checkpoint(backend: Backend) {
    let c = case(backend).await;
    c.checkpoint();
    c.sql(&format!(
        "DELETE FROM audit_events WHERE application_id = {id}; DELETE FROM documents WHERE application_id = {id}; \
         DELETE FROM jobs WHERE application_id = {id}; DELETE FROM applications WHERE id = {id};",
        id = c.id
    ))
    .await;
    c.assert_found(&[], "gone from the database");
}

async fn a_deleted_checkpoint_is_found_by_the_witness(backend: Backend) {
    let c = case(backend).await;
    c.checkpoint();
    c.checkpoint();
    c.checkpoint();
    assert_intact(&c.cli(&["audit", "verify"]));
    // The newest deleted: a rollback only the witness shows.
    c.sql("DELETE FROM audit_checkpoints WHERE seq = 3").await;
    let out = c.cli(&["audit", "verify"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("checkpoint 3: it is in the witness file but not in the database"), "{stdout}");
    // One in the middle: a gap in the numbers.
    c.sql("DELETE FROM audit_checkpoints WHERE seq = 1").await;
    let stdout = text(&c.cli(&["audit", "verify"]).stdout);
    assert!(stdout.contains("checkpoint 1 is missing from the database"), "{stdout}");
}

/// The database (checkpoints and all) and the local witness file rolled back together: the
/// copy the ministry published still has the newer checkpoint.
async fn a_rolled_back_database_is_found_against_the_published_witness(backend: Backend) {
    let c = case(backend).await;
    c.checkpoint();
    let early = std::fs::read_to_string(c.witness()).unwrap();
    c.checkpoint();
    let published = c.env.dir.path().join("published-witness.log");
    std::fs::copy(c.witness(), &published).unwrap();
    // Nothing changed between the two checkpoints: the leaves of 2 are those of 1.
    c.sql("DELETE FROM audit_checkpoints WHERE seq = 2; UPDATE audit_checkpoint_heads SET checkpoint_seq = 1;").await;
    std::fs::write(c.witness(), early).unwrap();
    assert_intact(&c.cli(&["audit", "verify"]));
    let out = c.cli(&["audit", "verify", "--witness", &published.display().to_string()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("checkpoint 2: it is in the witness file but not in the database"), "{stdout}");
}

/// A checkpoint row rewritten in the database (a new root over rewritten heads) without the
/// key does not verify.
async fn a_forged_checkpoint_is_refused(backend: Backend) {
    let c = case(backend).await;
    c.checkpoint();
    let forged = "ab".repeat(32);
    c.sql(&format!("UPDATE audit_checkpoints SET root_hash = '{forged}' WHERE seq = 1")).await;
    let out = c.cli(&["audit", "verify"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("checkpoint 1: its signature does not verify"), "{stdout}");
    assert!(stdout.contains("checkpoint 1: the database's copy differs from the witness file's"), "{stdout}");
    // Signed by another key: the configured key's public key does not accept it.
    let other = c.env.dir.path().join("other.key");
    let key = corridor_engine::audit::checkpoint::AuditKey::load_or_create(&other).unwrap().0;
    let out = c.cli(&["audit", "verify", "--public-key", &key.public().to_text()]);
    assert!(text(&out.stdout).contains("signed by another key"), "{}", text(&out.stdout));
}

async fn an_exported_proof_verifies_offline_and_refuses_one_changed_byte(backend: Backend) {
    let c = case(backend).await;
    c.checkpoint();
    let public = text(&c.cli(&["audit", "public-key"]).stdout);
    let key = public.lines().find_map(|l| l.strip_prefix("audit public key: ")).expect("the public key").to_string();
    let proof = c.env.dir.path().join("proof.json");
    let out = c.cli(&["audit", "export", "--reference", c.target.as_str(), "--output", &proof.display().to_string()]);
    assert!(out.status.success(), "export: {}{}", text(&out.stdout), text(&out.stderr));
    let original = std::fs::read_to_string(&proof).unwrap();
    assert!(original.contains("\"inclusion_proof\"") && original.contains(c.target.as_str()));

    // Offline: another folder, no configuration, no database.
    let verify = |file: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_corridor"))
            .args(["--config", "/nonexistent/corridor.toml", "audit", "verify-proof"])
            .arg(file)
            .args(["--public-key", &key])
            .current_dir(std::env::temp_dir())
            .output()
            .expect("run corridor")
    };
    let out = verify(&proof);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("proof holds"), "{}", text(&out.stdout));

    // One byte of an event: a letter of its actor's name.
    let at = original.find("\"actor_name\": \"Ayesha").expect("the applicant's event") + "\"actor_name\": \"".len();
    let mut bytes = original.clone().into_bytes();
    bytes[at] = b'B';
    std::fs::write(&proof, &bytes).unwrap();
    let out = verify(&proof);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("REFUSED") && text(&out.stdout).contains("event 1"), "{}", text(&out.stdout));

    // One byte of the signature.
    let sig = original.rfind("\"signature\": \"").expect("the signature") + "\"signature\": \"".len();
    let mut bytes = original.clone().into_bytes();
    bytes[sig] = if bytes[sig] == b'0' { b'1' } else { b'0' };
    std::fs::write(&proof, &bytes).unwrap();
    let out = verify(&proof);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("signature"), "{}", text(&out.stdout));

    // And with another public key, the untouched proof is refused too.
    std::fs::write(&proof, &original).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_corridor"))
        .args(["audit", "verify-proof"])
        .arg(&proof)
        .args(["--public-key", &format!("ed25519:{}", "11".repeat(32))])
        .output()
        .expect("run corridor");
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

async fn the_scheduler_signs_a_checkpoint_every_hour(backend: Backend) {
    let mut env = TestEnv::new(backend).await;
    env.config.audit.checkpoint_cron = "0 * * * *".into();
    let clock = Arc::new(ManualClock::new());
    let (engine, store) = env.start(clock.clone()).await;
    let firm = user(&*store, "hr@indus.example", "Ayesha Khan", "applicant", "Indus Software House", "en").await;
    submitted(&engine, &Actor::from_user(&firm), 1).await;
    let scheduler = startup::build_scheduler(engine.clone(), &env.config).unwrap();
    scheduler.run_due_once(engine.now()).await.unwrap();
    assert!(store.checkpoints().await.unwrap().is_empty(), "the first pass only sets the schedule");
    for hour in 1..=2 {
        clock.advance(Duration::minutes(61));
        scheduler.run_due_once(engine.now()).await.unwrap();
        scheduler.run_due_once(engine.now()).await.unwrap();
        let checkpoints = store.checkpoints().await.unwrap();
        assert_eq!(checkpoints.len(), hour, "one checkpoint per hour");
        assert_eq!(checkpoints.last().unwrap().tree_size, 1);
    }
    let witness = std::fs::read_to_string(&env.config.audit.witness).unwrap();
    assert_eq!(witness.lines().count(), 2, "{witness}");
    assert_intact(&cli(&env.config_path, &["audit", "verify"]));
}

async fn the_admin_page_shows_the_last_checkpoint_and_its_verification(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user("root@ops.example", "admin", "Corridor Operations").await;
    let firm = app.user("hr@indus.example", "applicant", "Indus Software House").await;
    let reference = submitted(&app.engine, &app.actor(&firm), 1).await;
    let http = app.signed_in("root@ops.example").await;
    let page = http.get("/admin/audit").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No checkpoint has been signed yet."), "{}", page.body);

    let out = app.cli(&["audit", "checkpoint"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let checkpoint = app.store.latest_checkpoint().await.unwrap().expect("a checkpoint");
    let page = http.get("/admin/audit").await;
    assert!(page.body.contains(&checkpoint.root_hash), "the root is shown");
    assert!(page.body.contains(&checkpoint.key_fingerprint), "the key fingerprint is shown");
    assert!(page.body.contains("Its signature holds"), "{}", page.body);

    raw_sql(&app.config.database.url, "DELETE FROM audit_checkpoints").await;
    let page = http.get("/admin/audit").await;
    assert!(page.body.contains("The checkpoints do not verify"), "{}", page.body);
    assert!(page.body.contains("in the witness file but not in the database"), "{}", page.body);
    let all = http.get("/admin/audit?verify=all").await;
    assert!(all.body.contains("A chain is broken"), "{}", all.body);

    // A row changed without an event shows on the application's own page too.
    raw_sql(
        &app.config.database.url,
        &format!("UPDATE applications SET state = 'visa_issued' WHERE reference = '{reference}'"),
    )
    .await;
    let page = http.get(&format!("/admin/audit/{reference}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("does not match its events"), "{}", page.body);
    assert!(page.body.contains("its state is `visa_issued`"), "{}", page.body);
}

/// Rows written before migration 0004 have no chain head; the migration's backfill (its own
/// SQL, run again on rows reset to the column defaults) gives each the head of its events.
async fn an_upgraded_database_takes_its_heads_from_its_events(backend: Backend) {
    let c = case(backend).await;
    let dir = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
    let migration =
        std::fs::read_to_string(support::root().join(format!("migrations/{dir}/0004_audit_checkpoints.sql")))
            .expect("the migration");
    let start = migration.find("UPDATE applications SET").expect("the backfill");
    let backfill = &migration[start..start + migration[start..].find(';').expect("its end") + 1];
    c.sql(&format!("UPDATE applications SET audit_seq = 0, audit_hash = '{}';", audit::GENESIS)).await;
    let out = c.cli(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "rows without heads do not verify: {}", text(&out.stdout));
    c.sql(backfill).await;
    assert_intact(&c.cli(&["audit", "verify"]));
}

async fn a_key_file_others_may_read_is_refused_with_a_clear_message(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let c = case(backend).await;
    c.checkpoint();
    let key = &c.env.config.audit.signing_key;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = c.cli(&["audit", "verify"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("others may read this signing key") && stdout.contains("chmod 600"), "{stdout}");
    let out = c.cli(&["audit", "checkpoint"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("chmod 600"), "{}", text(&out.stderr));
}
