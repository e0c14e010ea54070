//! The store test suite: every scenario is written once and runs against SQLite (a fresh
//! temporary file per test) and PostgreSQL (a fresh database per test, created through
//! CORRIDOR_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres).
//! The PostgreSQL tests fail, never skip, when the server cannot be reached.
//!
//! Run one backend: `cargo test --test app store::sqlite::` or `cargo test --test app store::postgres::`.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use corridor_engine::audit;
use corridor_engine::model::jobs::{
    AboutApplication, CheckpointJob, DeadlineJob, DigestJob, EmailJob, EscalationJob, JobKind, JobPayload, JobStatus,
    MessageJob, ReminderJob, WebhookJob,
};
use corridor_engine::store::postgres::PostgresStore;
use corridor_engine::store::sqlite::SqliteStore;
use corridor_engine::store::{
    self, ApplicationEdit, ApplicationFilter, ApplicationId, ApplicationRecord, NewApplication, NewAuditEvent,
    NewDocument, NewJob, NewToken, NewUser, Organisation, OrganisationId, Reference, Store, StoreError, TokenId,
    TransitionWrite, User, UserId,
};
use corridor_engine::workflow::Recipient;
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;

use crate::support::{Backend, TestDatabase};

/// Records have no PartialEq: compare what they serialise to.
macro_rules! same {
    ($a:expr, $b:expr) => {
        serde_json::to_value($a).unwrap() == serde_json::to_value($b).unwrap()
    };
}

// ---------------------------------------------------------------- harness

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

struct TestDb {
    store: Arc<dyn Store>,
    raw: Raw,
    url: String,
    _dir: Option<tempfile::TempDir>,
    /// Dropped after the pools above (fields drop in order); a PostgreSQL database goes with it.
    _database: TestDatabase,
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        // A folder that does not exist yet: the store creates it.
        let database = TestDatabase::new(Backend::Sqlite, &dir.path().join("data/corridor.db")).await;
        let url = database.url.clone();
        let store = SqliteStore::connect(&url).await.expect("open SQLite");
        let raw = Raw::Sqlite(store.pool().clone());
        store.migrate().await.expect("migrate SQLite");
        TestDb { store: Arc::new(store), raw, url, _dir: Some(dir), _database: database }
    }

    async fn postgres() -> TestDb {
        let database = TestDatabase::postgres().await;
        let url = database.url.clone();
        let store = PostgresStore::connect(&url).await.expect("open PostgreSQL");
        let raw = Raw::Postgres(store.pool().clone());
        store.migrate().await.expect("migrate PostgreSQL");
        TestDb { store: Arc::new(store), raw, url, _dir: None, _database: database }
    }

    fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Raw SQL written for both databases (no parameters).
    async fn exec(&self, sql: &str) -> u64 {
        match &self.raw {
            Raw::Sqlite(p) => sqlx::raw_sql(AssertSqlSafe(sql.to_string())).execute(p).await.unwrap().rows_affected(),
            Raw::Postgres(p) => sqlx::raw_sql(AssertSqlSafe(sql.to_string())).execute(p).await.unwrap().rows_affected(),
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        match &self.raw {
            Raw::Sqlite(p) => sqlx::query_scalar(AssertSqlSafe(sql.to_string())).fetch_one(p).await.unwrap(),
            Raw::Postgres(p) => sqlx::query_scalar(AssertSqlSafe(sql.to_string())).fetch_one(p).await.unwrap(),
        }
    }
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::TestDb::postgres().await;
                    super::$name(&db).await;
                }
            )*
        }
    };
}

scenarios!(
    migrate_twice_is_idempotent,
    connect_by_url,
    organisations_users_and_tokens,
    create_application_numbers_references,
    commit_transition_writes_state_event_and_jobs,
    open_transition_reads_its_context_and_dropping_it_writes_nothing,
    stale_version_writes_nothing,
    stale_chain_position_writes_nothing,
    failed_write_rolls_back_everything,
    twenty_concurrent_commits_one_wins,
    edits_and_documents,
    jobs_are_deduplicated,
    job_claim_lease_and_retry,
    unreadable_jobs_are_corrupt_and_never_block_the_queue,
    concurrent_claimers_never_share_a_job,
    keyset_paging_in_deadline_order,
    audit_chain_verifies_and_detects_tampering,
    workflow_changed_content_is_refused,
    timestamps_and_json_round_trip,
);

// ---------------------------------------------------------------- helpers

const WORKFLOW: &str = "it-business-visa";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn t0() -> DateTime<Utc> {
    at("2026-03-01T08:00:00.000000Z")
}

struct Fx {
    firm: Organisation,
    other_firm: Organisation,
    applicant: User,
    reviewer: User,
}

async fn fixture(s: &dyn Store) -> Fx {
    s.register_workflow(WORKFLOW, 1, "hash-v1", "workflow: it-business-visa\nversion: 1\n", t0()).await.unwrap();
    let firm = s.create_organisation("Doha Software LLC", "firm", Some("QA")).await.unwrap();
    let other_firm = s.create_organisation("Lahore Systems", "firm", Some("PK")).await.unwrap();
    let ministry = s.create_organisation("Ministry of Commerce", "ministry", Some("QA")).await.unwrap();
    let applicant = s
        .create_user(NewUser {
            email: "amal@doha-soft.example".into(),
            name: "Amal".into(),
            role: "applicant".into(),
            organisation_id: firm.id,
            password_hash: None,
            language: "en".into(),
        })
        .await
        .unwrap();
    let reviewer = s
        .create_user(NewUser {
            email: "reviewer@moc.example".into(),
            name: "Rashid".into(),
            role: "ministry_reviewer".into(),
            organisation_id: ministry.id,
            password_hash: Some("$argon2id$stub".into()),
            language: "ar".into(),
        })
        .await
        .unwrap();
    Fx { firm, other_firm, applicant, reviewer }
}

fn event(action: &str, from: Option<&str>, to: Option<&str>, when: DateTime<Utc>) -> NewAuditEvent {
    NewAuditEvent {
        actor_id: Some(UserId::new(1)),
        actor_name: "Amal".into(),
        role: "applicant".into(),
        organisation_id: Some(OrganisationId::new(1)),
        action: action.into(),
        from_state: from.map(Into::into),
        to_state: to.map(Into::into),
        comment: None,
        reason: None,
        data: json!({}),
        at: when,
    }
}

fn new_app(fx: &Fx, org: &Organisation, name: &str, when: DateTime<Utc>) -> NewApplication {
    NewApplication {
        reference_prefix: "QA-BV".into(),
        year: 2026,
        workflow_id: WORKFLOW.into(),
        workflow_version: 1,
        state: "draft".into(),
        organisation_id: org.id,
        created_by: fx.applicant.id,
        fields: json!({"applicant_name": name, "passport_number": "AB1234567"}),
        applicant_name: name.to_lowercase(),
        passport_number: Some("AB1234567".into()),
        now: when,
    }
}

async fn create(s: &dyn Store, fx: &Fx, name: &str) -> ApplicationRecord {
    s.create_application(new_app(fx, &fx.firm, name, t0()), event("create", None, Some("draft"), t0())).await.unwrap()
}

fn move_to(app: &ApplicationRecord, to: &str, deadline: Option<DateTime<Utc>>, when: DateTime<Utc>) -> TransitionWrite {
    TransitionWrite {
        chain_after: None,
        application_id: app.id,
        expected_version: app.version,
        new_state: to.into(),
        previous_state: Some(app.state.clone()),
        fields: None,
        applicant_name: None,
        passport_number: None,
        submitted_at: None,
        deadline_at: deadline,
        paused_remaining: None,
        calendar_revision: 0,
        cancel_timers: true,
        audit: event("move", Some(&app.state), Some(to), when),
        jobs: vec![],
        now: when,
    }
}

fn job(kind: &str, key: &str, app: Option<ApplicationId>, run_at: DateTime<Utc>) -> NewJob {
    NewJob { dedup_key: key.into(), application_id: app, payload: payload(kind, key), run_at, max_attempts: 3 }
}

/// A payload of `kind` that names `key` (as its template, reference or event).
fn payload(kind: &str, key: &str) -> JobPayload {
    let about = AboutApplication {
        application_id: ApplicationId::new(1),
        reference: key.into(),
        workflow: "it-business-visa".into(),
        state: "ministry_review".into(),
        version: 2,
    };
    let (template, to, deadline) = (key.to_string(), Recipient::Owner, t0());
    match kind.parse::<JobKind>().expect("a job kind") {
        JobKind::Email => JobPayload::Email(EmailJob {
            about,
            template,
            to,
            comment: None,
            reason: None,
            action: "submit".into(),
            facts: None,
        }),
        JobKind::Webhook => JobPayload::Webhook(WebhookJob {
            about: Some(about),
            url: "http://127.0.0.1:9/hook".into(),
            secret: None,
            event: json!({"key": key}),
        }),
        JobKind::Deadline => JobPayload::Deadline(DeadlineJob { about, action: "lapse".into(), deadline: None }),
        JobKind::Reminder => JobPayload::Reminder(ReminderJob { about, template, to, deadline }),
        JobKind::Escalation => JobPayload::Escalation(EscalationJob { about, template, to: Some(to), deadline }),
        JobKind::Digest => JobPayload::Digest(DigestJob {
            workflow: "it-business-visa".into(),
            schedule: key.into(),
            template,
            to: Recipient::Role("ministry_reviewer".into()),
            fired_at: deadline,
        }),
        JobKind::Message => JobPayload::Message(MessageJob {
            template,
            user_id: UserId::new(1),
            context: Default::default(),
            facts: None,
        }),
        JobKind::Checkpoint => JobPayload::Checkpoint(CheckpointJob { fired_at: deadline }),
        JobKind::Retention => JobPayload::Retention(corridor_engine::model::jobs::RetentionJob {
            documents_after_days: 30,
            fired_at: deadline,
        }),
    }
}

async fn job_by_key(s: &dyn Store, key: &str) -> Option<corridor_engine::store::Job> {
    s.jobs(None, 10_000).await.unwrap().into_iter().find(|j| j.dedup_key == key)
}

// ---------------------------------------------------------------- scenarios

async fn migrate_twice_is_idempotent(db: &TestDb) {
    let s = db.store();
    s.migrate().await.expect("second migration");
    s.create_organisation("Ministry", "ministry", None).await.unwrap();
    s.migrate().await.expect("third migration");
    assert_eq!(s.organisations().await.unwrap().len(), 1, "migrating again keeps the data");
    // One row per migration file of this backend, each applied once.
    let files = std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(s.backend()))
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql")))
        .count() as i64;
    assert_eq!(db.count("SELECT COUNT(*) FROM _sqlx_migrations").await, files);
    if let Raw::Sqlite(pool) = &db.raw {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(pool).await.unwrap();
        assert_eq!(fk, 1);
    }
}

async fn connect_by_url(db: &TestDb) {
    let other = store::connect(&db.url).await.expect("connect by URL");
    assert_eq!(other.backend(), db.store().backend());
    other.migrate().await.unwrap();
    let err = store::connect("mysql://root@localhost/corridor").await.err().expect("mysql is refused");
    assert!(err.to_string().contains("unsupported database URL scheme"), "{err}");
    assert!(store::connect("corridor.db").await.is_err());
}

async fn organisations_users_and_tokens(db: &TestDb) {
    let s = db.store();
    let firm = s.create_organisation("Doha Software LLC", "firm", Some("QA")).await.unwrap();
    assert_eq!(firm.kind, "firm");
    assert_eq!(firm.country.as_deref(), Some("QA"));
    assert!(same!(&s.organisation(firm.id).await.unwrap(), &firm));
    assert!(same!(&s.organisation_by_name("Doha Software LLC").await.unwrap().unwrap(), &firm));
    assert!(s.organisation_by_name("Nobody").await.unwrap().is_none());
    assert!(matches!(s.organisation(OrganisationId::new(firm.id.get() + 100)).await, Err(StoreError::NotFound(_))));
    match s.create_organisation("Doha Software LLC", "firm", None).await {
        Err(StoreError::Duplicate(m)) => assert!(m.contains("Doha Software LLC"), "{m}"),
        other => panic!("expected Duplicate, got {other:?}"),
    }

    let new = |email: &str, role: &str| NewUser {
        email: email.into(),
        name: "Amal Haddad".into(),
        role: role.into(),
        organisation_id: firm.id,
        password_hash: Some("$argon2id$x".into()),
        language: "en".into(),
    };
    let amal = s.create_user(new("Amal@Doha-Soft.example", "applicant")).await.unwrap();
    assert_eq!(amal.email, "Amal@Doha-Soft.example");
    assert!(!amal.disabled);
    assert_eq!(amal.password_hash.as_deref(), Some("$argon2id$x"));
    let found = s.user_by_email("amal@doha-soft.EXAMPLE").await.unwrap().expect("case-insensitive e-mail");
    assert_eq!(found.id, amal.id);
    match s.create_user(new("AMAL@doha-soft.example", "applicant")).await {
        Err(StoreError::Duplicate(m)) => assert!(m.contains("e-mail") && m.contains("AMAL@doha-soft.example"), "{m}"),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    let mut bad = new("ghost@example.com", "applicant");
    bad.organisation_id = OrganisationId::new(firm.id.get() + 1000);
    assert!(matches!(s.create_user(bad).await, Err(StoreError::NotFound(_))));

    let omar = s.create_user(new("omar@doha-soft.example", "ministry_reviewer")).await.unwrap();
    assert_eq!(s.users().await.unwrap().iter().map(|u| u.id).collect::<Vec<_>>(), vec![amal.id, omar.id]);
    assert_eq!(s.users_with_role(&"ministry_reviewer".into()).await.unwrap().len(), 1);

    s.set_user_password(amal.id, "$argon2id$new", t0()).await.unwrap();
    s.set_user_role(amal.id, &"embassy_officer".into()).await.unwrap();
    s.set_user_language(amal.id, "ur").await.unwrap();
    let amal = s.user(amal.id).await.unwrap();
    assert_eq!(amal.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(amal.role, "embassy_officer");
    assert_eq!(amal.language, "ur");
    assert!(matches!(s.set_user_role(UserId::new(99_999), &"x".into()).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.user(UserId::new(99_999)).await, Err(StoreError::NotFound(_))));

    let new_token = |user: UserId, hash: &str| NewToken {
        user_id: user,
        token_hash: hash.into(),
        name: "import script".into(),
        created_at: t0(),
        expires_at: t0() + Duration::days(90),
    };
    let made = s.create_token(new_token(amal.id, "a1b2c3")).await.unwrap();
    assert_eq!((made.name.as_str(), made.user_email.as_str()), ("import script", amal.email.as_str()));
    assert_eq!((made.created_at, made.expires_at), (t0(), t0() + Duration::days(90)));
    assert_eq!((made.last_used_at, made.revoked_at), (None, None));
    let (found, owner) = s.token_by_hash("a1b2c3").await.unwrap().expect("found");
    assert_eq!((found.id, owner.id), (made.id, amal.id));
    assert!(s.token_by_hash("ffff").await.unwrap().is_none());
    assert!(matches!(s.create_token(new_token(omar.id, "a1b2c3")).await, Err(StoreError::Duplicate(_))));
    assert!(matches!(s.create_token(new_token(UserId::new(99_999), "other")).await, Err(StoreError::NotFound(_))));
    let omars = s.create_token(new_token(omar.id, "d4e5")).await.unwrap();
    assert_eq!(s.tokens(Some(omar.id)).await.unwrap().iter().map(|t| t.id).collect::<Vec<_>>(), [omars.id]);
    assert_eq!(s.tokens(None).await.unwrap().len(), 2);
    // Last use: written, then not again within the interval.
    let used = t0() + Duration::minutes(5);
    assert!(s.touch_token(made.id, used, used - Duration::seconds(60)).await.unwrap());
    let soon = used + Duration::seconds(30);
    assert!(!s.touch_token(made.id, soon, soon - Duration::seconds(60)).await.unwrap());
    assert_eq!(s.token(made.id).await.unwrap().last_used_at, Some(used));
    // Disabling revokes every live token of the user; enabling gives none back.
    s.set_user_disabled(amal.id, true, t0() + Duration::hours(1)).await.unwrap();
    assert!(s.user(amal.id).await.unwrap().disabled);
    assert_eq!(s.token(made.id).await.unwrap().revoked_at, Some(t0() + Duration::hours(1)));
    assert_eq!(s.token(omars.id).await.unwrap().revoked_at, None, "another user's token is untouched");
    s.set_user_disabled(amal.id, false, t0() + Duration::hours(2)).await.unwrap();
    assert!(s.token(made.id).await.unwrap().revoked_at.is_some());
    // A password change revokes too; revoking twice says so.
    s.set_user_password(omar.id, "$argon2id$other", t0() + Duration::hours(3)).await.unwrap();
    assert!(s.token(omars.id).await.unwrap().revoked_at.is_some());
    assert!(!s.revoke_token(omars.id, t0() + Duration::hours(4)).await.unwrap());
    assert!(matches!(s.revoke_token(TokenId::new(99_999), t0()).await, Err(StoreError::NotFound(_))));
}

async fn create_application_numbers_references(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let a1 = create(s, &fx, "Ali Raza").await;
    let a2 = create(s, &fx, "Sara Khan").await;
    assert_eq!(a1.reference, Reference::format("QA-BV", 2026, 1));
    assert_eq!(a2.reference, Reference::format("QA-BV", 2026, 2));
    assert!(a1.reference.as_str().starts_with("QA-BV-2026-000001-"));
    assert_eq!(a1.reference.as_str().to_lowercase().parse::<Reference>().ok(), Some(a1.reference.clone()));
    let mut typo = a1.reference.as_str().as_bytes().to_vec();
    typo[12] = if typo[12] == b'7' { b'8' } else { b'7' };
    assert!(String::from_utf8(typo).unwrap().parse::<Reference>().is_err(), "a mistyped digit is caught");

    let mut other_prefix = new_app(&fx, &fx.firm, "X", t0());
    other_prefix.reference_prefix = "PK-MA".into();
    let p = s.create_application(other_prefix, event("create", None, Some("draft"), t0())).await.unwrap();
    assert_eq!(p.reference, Reference::format("PK-MA", 2026, 1));
    let mut next_year = new_app(&fx, &fx.firm, "X", t0());
    next_year.year = 2027;
    let y = s.create_application(next_year, event("create", None, Some("draft"), t0())).await.unwrap();
    assert_eq!(y.reference, Reference::format("QA-BV", 2027, 1));

    assert_eq!(a1.version, 1);
    assert_eq!(a1.state, "draft");
    assert_eq!(a1.previous_state, None);
    assert_eq!(a1.created_at, t0());
    assert_eq!(a1.state_entered_at, t0());
    assert_eq!(a1.fields["applicant_name"], "Ali Raza");
    assert_eq!(a1.applicant_name, "ali raza");
    assert!(same!(&s.application(a1.id).await.unwrap(), &a1));
    assert!(same!(&s.application_by_reference(&a1.reference).await.unwrap().unwrap(), &a1));
    assert!(s.application_by_reference(&Reference::format("QA-BV", 2026, 999_999)).await.unwrap().is_none());
    assert!(matches!(s.application(ApplicationId::new(99_999)).await, Err(StoreError::NotFound(_))));

    let history = s.history(a1.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].seq, 1);
    assert_eq!(history[0].prev_hash, audit::GENESIS);
    assert_eq!(history[0].hash, audit::hash_new(audit::GENESIS, a1.id, 1, &event("create", None, Some("draft"), t0())));
    audit::verify_chain(a1.id, &history).unwrap();

    // An unregistered workflow version is refused, and uses no number.
    let mut unknown = new_app(&fx, &fx.firm, "X", t0());
    unknown.workflow_version = 9;
    assert!(matches!(
        s.create_application(unknown, event("create", None, Some("draft"), t0())).await,
        Err(StoreError::NotFound(_))
    ));

    // Numbers handed out concurrently are all different.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = db.store.clone();
        let app = new_app(&fx, &fx.firm, &format!("Concurrent {i}"), t0());
        tasks.push(tokio::spawn(async move {
            store.create_application(app, event("create", None, Some("draft"), t0())).await.unwrap().reference
        }));
    }
    let mut refs = HashSet::new();
    for t in tasks {
        refs.insert(t.await.unwrap());
    }
    let expected: HashSet<Reference> = (3..13).map(|n| Reference::format("QA-BV", 2026, n)).collect();
    assert_eq!(refs, expected);
    assert_eq!(s.audited_applications().await.unwrap().len(), 14);
}

async fn commit_transition_writes_state_event_and_jobs(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let app = create(s, &fx, "Ali Raza").await;
    s.enqueue_jobs(vec![
        job("deadline", "old-deadline", Some(app.id), t0()),
        job("email", "old-email", Some(app.id), t0()),
    ])
    .await
    .unwrap();
    // A claim that the transition must release.
    let app = s
        .edit_application(ApplicationEdit {
            application_id: app.id,
            expected_version: 1,
            fields: None,
            applicant_name: None,
            passport_number: None,
            assigned_to: Some(Some(fx.reviewer.id)),
            audit: event("claim", None, None, t0()),
            now: t0(),
        })
        .await
        .unwrap();
    assert_eq!(app.assigned_to, Some(fx.reviewer.id));

    let t1 = t0() + Duration::minutes(5);
    let deadline = at("2026-03-08T14:00:00.000000Z");
    let mut write = move_to(&app, "ministry_review", Some(deadline), t1);
    write.fields = Some(json!({"applicant_name": "Ali Raza", "passport_number": "AB7654321"}));
    write.passport_number = Some("AB7654321".into());
    write.submitted_at = Some(t1);
    write.jobs =
        vec![job("deadline", "deadline:v3", Some(app.id), deadline), job("email", "email:v3", Some(app.id), t1)];
    let moved = s.commit_transition(write).await.unwrap();
    assert_eq!(moved.version, 3);
    assert_eq!(moved.state, "ministry_review");
    assert_eq!(moved.previous_state.as_deref(), Some("draft"));
    assert_eq!(moved.deadline_at, Some(deadline));
    assert_eq!(moved.submitted_at, Some(t1));
    assert_eq!(moved.state_entered_at, t1);
    assert_eq!(moved.updated_at, t1);
    assert_eq!(moved.created_at, t0());
    assert_eq!(moved.assigned_to, None, "moving releases the claim");
    assert_eq!(moved.passport_number.as_deref(), Some("AB7654321"));
    assert_eq!(moved.applicant_name, "ali raza", "kept when not given");
    assert_eq!(moved.fields["passport_number"], "AB7654321");
    assert!(same!(&s.application(app.id).await.unwrap(), &moved));

    let history = s.history(app.id).await.unwrap();
    assert_eq!(history.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(history[2].action, "move");
    assert_eq!(history[2].from_state.as_deref(), Some("draft"));
    assert_eq!(history[2].to_state.as_deref(), Some("ministry_review"));
    assert_eq!(history[2].prev_hash, history[1].hash);
    audit::verify_chain(app.id, &history).unwrap();

    assert_eq!(job_by_key(s, "old-deadline").await.unwrap().status, JobStatus::Cancelled);
    assert_eq!(job_by_key(s, "old-email").await.unwrap().status, JobStatus::Pending, "only timers are cancelled");
    let new_deadline = job_by_key(s, "deadline:v3").await.unwrap();
    assert_eq!(new_deadline.status, JobStatus::Pending);
    assert_eq!(new_deadline.run_at, deadline);
    assert_eq!(new_deadline.application_id, Some(app.id));
    assert_eq!(new_deadline.attempts, 0);
    assert_eq!(new_deadline.max_attempts, 3);
    assert_eq!(job_by_key(s, "email:v3").await.unwrap().status, JobStatus::Pending);

    // Pausing: the deadline is cleared, what remains is kept, submitted_at stays.
    let t2 = t1 + Duration::hours(1);
    let mut pause = move_to(&moved, "more_information", None, t2);
    pause.paused_remaining = Some(json!({"working_seconds": 129600, "state": "ministry_review"}));
    pause.cancel_timers = false;
    let paused = s.commit_transition(pause).await.unwrap();
    assert_eq!(paused.version, 4);
    assert_eq!(paused.deadline_at, None);
    assert_eq!(paused.submitted_at, Some(t1));
    assert_eq!(paused.paused_remaining, Some(json!({"working_seconds": 129600, "state": "ministry_review"})));
    assert!(same!(&s.application(app.id).await.unwrap(), &paused), "the returned record is the stored one");
    assert_eq!(
        job_by_key(s, "deadline:v3").await.unwrap().status,
        JobStatus::Pending,
        "cancel_timers=false keeps timers"
    );
    // Back: paused_remaining is always written (None clears it).
    let back = s.commit_transition(move_to(&paused, "ministry_review", Some(deadline), t2)).await.unwrap();
    assert_eq!(back.paused_remaining, None);
    assert_eq!(back.previous_state.as_deref(), Some("more_information"));
    assert!(same!(&s.application(app.id).await.unwrap(), &back));
    assert_eq!(job_by_key(s, "deadline:v3").await.unwrap().status, JobStatus::Cancelled);
}

async fn open_transition_reads_its_context_and_dropping_it_writes_nothing(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let app = create(s, &fx, "Ali Raza").await;
    let other = create(s, &fx, "Sara Khan").await;
    for (i, kind) in ["passport_scan", "employment_letter"].into_iter().enumerate() {
        let doc = NewDocument {
            application_id: app.id,
            kind: kind.into(),
            filename: format!("{kind}.pdf"),
            content_type: "application/pdf".into(),
            size: 1000 + i as i64,
            sha256: "0f".repeat(32),
            storage_key: format!("ctx-{i}"),
            uploaded_by: fx.applicant.id,
            now: at("2026-03-01T09:00:00.654321Z"),
        };
        s.add_document(doc, event("upload", None, None, t0()), 1 + i as i64).await.unwrap();
    }
    s.commit_transition(move_to(&s.application(other.id).await.unwrap(), "ministry_review", None, t0())).await.unwrap();
    let app = s
        .commit_transition(move_to(&s.application(app.id).await.unwrap(), "ministry_review", None, t0()))
        .await
        .unwrap();

    let open = s.begin_transition(&app.reference).await.unwrap().expect("the application exists");
    let context = open.context();
    assert!(same!(&context.application, &app));
    let history = s.history(app.id).await.unwrap();
    assert_eq!(history.len(), 4, "create, two uploads, the move");
    assert_eq!(context.steps, history.iter().map(store::Step::from).collect::<Vec<_>>(), "every step, in order");
    assert_eq!(context.steps[3].from_state.as_deref(), Some("draft"));
    assert_eq!(context.steps[3].actor_id, history[3].actor_id);
    assert_eq!(context.steps.last().map(|s| (s.seq, s.hash.as_str())), Some((4, history[3].hash.as_str())));
    let mut kinds = context.document_kinds.clone();
    kinds.sort();
    assert_eq!(kinds, vec!["employment_letter", "passport_scan"]);
    drop(open);

    // Nothing was written, and the application is free for the next writer.
    assert!(same!(&s.application(app.id).await.unwrap(), &app));
    assert_eq!(s.history(app.id).await.unwrap().len(), 4);
    let next = s.commit_transition(move_to(&app, "security_clearance", None, t0())).await.unwrap();
    assert_eq!(next.version, app.version + 1);
    assert!(s.begin_transition(&Reference::format("QA-BV", 2026, 999_999)).await.unwrap().is_none());
}

async fn stale_version_writes_nothing(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let app = create(s, &fx, "Ali Raza").await;
    s.enqueue_jobs(vec![job("reminder", "reminder:v1", Some(app.id), t0())]).await.unwrap();
    let mut first = move_to(&app, "ministry_review", None, t0());
    first.cancel_timers = false;
    s.commit_transition(first).await.unwrap();

    let mut stale = move_to(&app, "withdrawn", None, t0());
    stale.jobs = vec![job("email", "stale:email", Some(app.id), t0())];
    match s.commit_transition(stale).await {
        Err(StoreError::Conflict { expected }) => assert_eq!(expected, 1),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let now = s.application(app.id).await.unwrap();
    assert_eq!((now.version, now.state.as_str()), (2, "ministry_review"));
    assert_eq!(s.history(app.id).await.unwrap().len(), 2, "no event for a lost race");
    assert!(job_by_key(s, "stale:email").await.is_none(), "no job for a lost race");
    assert_eq!(job_by_key(s, "reminder:v1").await.unwrap().status, JobStatus::Pending, "timers not cancelled");

    let mut ghost = move_to(&app, "x", None, t0());
    ghost.application_id = ApplicationId::new(99_999);
    assert!(matches!(s.commit_transition(ghost).await, Err(StoreError::NotFound(_))));

    let edit = ApplicationEdit {
        application_id: app.id,
        expected_version: 1,
        fields: Some(json!({"applicant_name": "Changed"})),
        applicant_name: Some("changed".into()),
        passport_number: None,
        assigned_to: None,
        audit: event("update_fields", None, None, t0()),
        now: t0(),
    };
    assert!(matches!(s.edit_application(edit.clone()).await, Err(StoreError::Conflict { expected: 1 })));
    assert!(matches!(
        s.edit_application(ApplicationEdit { application_id: ApplicationId::new(99_999), ..edit }).await,
        Err(StoreError::NotFound(_))
    ));
    let doc = NewDocument {
        application_id: app.id,
        kind: "passport_scan".into(),
        filename: "passport.pdf".into(),
        content_type: "application/pdf".into(),
        size: 1234,
        sha256: "ab".repeat(32),
        storage_key: "stale-key".into(),
        uploaded_by: fx.applicant.id,
        now: t0(),
    };
    assert!(matches!(
        s.add_document(doc, event("upload", None, None, t0()), 1).await,
        Err(StoreError::Conflict { expected: 1 })
    ));
    assert!(s.documents(app.id).await.unwrap().is_empty());
    let after = s.application(app.id).await.unwrap();
    assert_eq!(after.version, 2);
    assert_eq!(after.applicant_name, "ali raza");
    assert_eq!(s.history(app.id).await.unwrap().len(), 2);
}

/// The engine passes the last event it read (its seq and hash) so that the store need not read
/// it again. An event written since without a version bump (an escalation) makes that stale:
/// the write is refused as a conflict and the chain does not fork.
async fn stale_chain_position_writes_nothing(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let app = create(s, &fx, "Hira Siddiqui").await;
    let read = s.history(app.id).await.unwrap();
    let last = read.last().map(|e| (e.seq, e.hash.clone()));
    assert_eq!(read.len(), 1);

    // Someone appends an event to the same application without changing its version.
    let mut other = move_to(&app, "ministry_review", None, t0());
    other.chain_after = last.clone();
    s.commit_transition(other).await.unwrap();
    let now = s.application(app.id).await.unwrap();

    let mut stale = move_to(&now, "withdrawn", None, t0());
    stale.chain_after = last;
    match s.commit_transition(stale).await {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(s.application(app.id).await.unwrap().state, "ministry_review", "nothing written");
    assert_eq!(s.history(app.id).await.unwrap().len(), 2);

    // With the position read afresh, the same write goes through and the chain verifies.
    let fresh = s.history(app.id).await.unwrap().last().map(|e| (e.seq, e.hash.clone()));
    let mut retry = move_to(&now, "withdrawn", None, t0());
    retry.chain_after = fresh;
    s.commit_transition(retry).await.unwrap();
    let events = s.history(app.id).await.unwrap();
    assert_eq!(events.len(), 3);
    assert!(audit::verify_chain(app.id, &events).is_ok());
}

async fn failed_write_rolls_back_everything(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let app = create(s, &fx, "Ali Raza").await;
    s.enqueue_jobs(vec![job("deadline", "deadline:v1", Some(app.id), t0())]).await.unwrap();
    // The last write of the transaction fails (a job for an application that does not exist).
    let mut write = move_to(&app, "ministry_review", Some(t0()), t0());
    write.jobs =
        vec![job("email", "fine", Some(app.id), t0()), job("email", "broken", Some(ApplicationId::new(99_999)), t0())];
    assert!(s.commit_transition(write).await.is_err());
    let now = s.application(app.id).await.unwrap();
    assert_eq!((now.version, now.state.as_str()), (1, "draft"));
    assert_eq!(s.history(app.id).await.unwrap().len(), 1);
    assert!(job_by_key(s, "fine").await.is_none());
    assert_eq!(job_by_key(s, "deadline:v1").await.unwrap().status, JobStatus::Pending, "the cancel was rolled back");
    // The application can still move with the version it had.
    s.commit_transition(move_to(&app, "ministry_review", None, t0())).await.unwrap();
    audit::verify_chain(app.id, &s.history(app.id).await.unwrap()).unwrap();
}

async fn twenty_concurrent_commits_one_wins(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let app = create(s, &fx, "Ali Raza").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = db.store.clone();
        let mut write = move_to(&app, "ministry_review", Some(t0() + Duration::days(7)), t0() + Duration::seconds(i));
        write.jobs = vec![job("email", &format!("race:{i}"), Some(app.id), t0())];
        write.audit.comment = Some(format!("attempt {i}"));
        tasks.push(tokio::spawn(async move { store.commit_transition(write).await }));
    }
    let (mut ok, mut conflict, mut other) = (0, 0, Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => {
                assert_eq!(r.version, 2);
                ok += 1
            }
            Err(StoreError::Conflict { expected: 1 }) => conflict += 1,
            Err(e) => other.push(e.to_string()),
        }
    }
    assert!(other.is_empty(), "unexpected errors: {other:?}");
    assert_eq!((ok, conflict), (1, 19));
    let history = s.history(app.id).await.unwrap();
    assert_eq!(history.len(), 2, "exactly one new event");
    audit::verify_chain(app.id, &history).unwrap();
    let winner = history[1].comment.clone().unwrap();
    let race_jobs: Vec<_> =
        s.jobs(None, 1000).await.unwrap().into_iter().filter(|j| j.dedup_key.starts_with("race:")).collect();
    assert_eq!(race_jobs.len(), 1, "only the winner's job");
    assert_eq!(race_jobs[0].dedup_key, winner.replace("attempt ", "race:"));
    assert_eq!(s.application(app.id).await.unwrap().version, 2);
}

async fn edits_and_documents(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let app = create(s, &fx, "Ali Raza").await;
    let edit = |version: i64| ApplicationEdit {
        application_id: app.id,
        expected_version: version,
        fields: None,
        applicant_name: None,
        passport_number: None,
        assigned_to: None,
        audit: event("edit", None, None, t0()),
        now: t0() + Duration::minutes(version),
    };
    let e1 = s
        .edit_application(ApplicationEdit {
            fields: Some(json!({"applicant_name": "Ali Raza Khan", "passport_number": "CD1234567"})),
            applicant_name: Some("ali raza khan".into()),
            passport_number: Some("CD1234567".into()),
            ..edit(1)
        })
        .await
        .unwrap();
    assert_eq!(e1.version, 2);
    assert_eq!(e1.applicant_name, "ali raza khan");
    assert_eq!(e1.passport_number.as_deref(), Some("CD1234567"));
    assert_eq!(e1.fields["applicant_name"], "Ali Raza Khan");
    assert_eq!(e1.updated_at, t0() + Duration::minutes(1));
    assert_eq!(e1.state_entered_at, t0(), "an edit does not move the state");
    let e2 = s.edit_application(ApplicationEdit { assigned_to: Some(Some(fx.reviewer.id)), ..edit(2) }).await.unwrap();
    assert_eq!(e2.assigned_to, Some(fx.reviewer.id));
    assert_eq!(e2.applicant_name, "ali raza khan", "kept when not given");
    let e3 = s.edit_application(edit(3)).await.unwrap();
    assert_eq!(e3.assigned_to, Some(fx.reviewer.id), "None leaves the claim");
    let e4 = s.edit_application(ApplicationEdit { assigned_to: Some(None), ..edit(4) }).await.unwrap();
    assert_eq!(e4.assigned_to, None, "Some(None) releases the claim");
    assert_eq!(e4.version, 5);

    let new_doc = |key: &str| NewDocument {
        application_id: app.id,
        kind: "passport_scan".into(),
        filename: "passport bio page.pdf".into(),
        content_type: "application/pdf".into(),
        size: 245_123,
        sha256: "0f".repeat(32),
        storage_key: key.into(),
        uploaded_by: fx.applicant.id,
        now: at("2026-03-01T09:00:00.654321Z"),
    };
    let doc = s.add_document(new_doc("k-1"), event("upload", None, None, t0()), 5).await.unwrap();
    assert_eq!(doc.application_id, app.id);
    assert_eq!(doc.size, 245_123);
    assert_eq!(doc.storage_key, "k-1");
    assert_eq!(doc.uploaded_at, at("2026-03-01T09:00:00.654321Z"));
    assert!(same!(&s.document(doc.id).await.unwrap(), &doc));
    assert_eq!(s.application(app.id).await.unwrap().version, 6);
    match s.add_document(new_doc("k-1"), event("upload", None, None, t0()), 6).await {
        Err(StoreError::Duplicate(_)) => {}
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert_eq!(s.application(app.id).await.unwrap().version, 6, "the failed upload changed nothing");
    let doc2 = s.add_document(new_doc("k-2"), event("upload", None, None, t0()), 6).await.unwrap();
    assert_eq!(s.documents(app.id).await.unwrap().iter().map(|d| d.id).collect::<Vec<_>>(), vec![doc.id, doc2.id]);
    assert!(matches!(s.document(99_999).await, Err(StoreError::NotFound(_))));
    let history = s.history(app.id).await.unwrap();
    assert_eq!(history.len(), 7);
    audit::verify_chain(app.id, &history).unwrap();
}

async fn jobs_are_deduplicated(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let app = create(s, &fx, "Ali Raza").await;
    let first = job("email", "email:1:v2:notify0", Some(app.id), t0());
    let mut again = first.clone();
    again.payload = payload("email", "the second");
    s.enqueue_jobs(vec![first.clone()]).await.unwrap();
    s.enqueue_jobs(vec![again.clone(), again.clone(), job("email", "other", None, t0())]).await.unwrap();
    let all = s.jobs(None, 100).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        job_by_key(s, "email:1:v2:notify0").await.unwrap().parse_payload().unwrap(),
        first.payload,
        "the first one stays"
    );
    // The same key from a transition is not an error either.
    let mut write = move_to(&app, "ministry_review", None, t0());
    write.jobs = vec![again];
    s.commit_transition(write).await.unwrap();
    assert_eq!(s.jobs(None, 100).await.unwrap().len(), 2);
    s.enqueue_jobs(vec![]).await.unwrap();
}

async fn job_claim_lease_and_retry(db: &TestDb) {
    let s = db.store();
    let t = t0();
    s.enqueue_jobs(vec![
        job("email", "late", None, t - Duration::seconds(5)),
        job("webhook", "early", None, t - Duration::seconds(10)),
        job("deadline", "future", None, t + Duration::hours(1)),
    ])
    .await
    .unwrap();
    let claimed = s.claim_jobs("w1", t, 60, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.dedup_key.as_str()).collect::<Vec<_>>(), vec!["early", "late"]);
    for j in &claimed {
        assert_eq!(j.status, JobStatus::Running);
        assert_eq!(j.locked_by.as_deref(), Some("w1"));
        assert_eq!(j.locked_until, Some(t + Duration::seconds(60)));
        assert_eq!(j.attempts, 1);
    }
    let (early, late) = (claimed[0].id, claimed[1].id);
    assert!(s.claim_jobs("w2", t + Duration::seconds(1), 60, 10).await.unwrap().is_empty(), "leased jobs are taken");

    // Only the lease holder completes.
    s.complete_job(early, "w2", t).await.unwrap();
    assert_eq!(job_by_key(s, "early").await.unwrap().status, JobStatus::Running);
    s.complete_job(early, "w1", t).await.unwrap();
    let done = job_by_key(s, "early").await.unwrap();
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.locked_until, None);

    // A failure with a retry time goes back to pending.
    s.fail_job(late, "w1", "SMTP 451 try later", Some(t + Duration::seconds(30)), t).await.unwrap();
    let retry = job_by_key(s, "late").await.unwrap();
    assert_eq!(retry.status, JobStatus::Pending);
    assert_eq!(retry.run_at, t + Duration::seconds(30));
    assert_eq!(retry.last_error.as_deref(), Some("SMTP 451 try later"));
    assert_eq!(retry.locked_by, None);
    assert!(s.claim_jobs("w1", t + Duration::seconds(29), 60, 10).await.unwrap().is_empty());
    let again = s.claim_jobs("w1", t + Duration::seconds(30), 60, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);

    // The lease runs out: another worker takes it over, and the first one can no longer write.
    let t_expired = t + Duration::seconds(30 + 61);
    let taken = s.claim_jobs("w2", t_expired, 60, 10).await.unwrap();
    assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), vec![late]);
    assert_eq!(taken[0].attempts, 3);
    assert_eq!(taken[0].locked_by.as_deref(), Some("w2"));
    s.fail_job(late, "w1", "too late", None, t_expired).await.unwrap();
    s.complete_job(late, "w1", t_expired).await.unwrap();
    let j = job_by_key(s, "late").await.unwrap();
    assert_eq!((j.status.as_str(), j.locked_by.as_deref()), ("running", Some("w2")));

    // No retry time: dead, visible, and not claimed any more.
    s.fail_job(late, "w2", "550 mailbox unavailable", None, t_expired).await.unwrap();
    let dead = s.jobs(Some(JobStatus::Dead), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, late);
    assert_eq!(dead[0].last_error.as_deref(), Some("550 mailbox unavailable"));
    assert!(s.claim_jobs("w3", t + Duration::minutes(30), 60, 10).await.unwrap().is_empty());

    // An administrator puts it back.
    let t_retry = t + Duration::minutes(40);
    s.retry_job(late, t_retry).await.unwrap();
    let back = job_by_key(s, "late").await.unwrap();
    assert_eq!((back.status.as_str(), back.attempts, back.run_at), ("pending", 0, t_retry));
    assert!(matches!(s.retry_job(late, t_retry).await, Err(StoreError::NotFound(_))), "only dead jobs");
    assert!(matches!(s.retry_job(early, t_retry).await, Err(StoreError::NotFound(_))));
    let claimed = s.claim_jobs("w3", t + Duration::hours(2), 60, 1).await.unwrap();
    assert_eq!(claimed.len(), 1, "limit is respected");
    assert_eq!(claimed[0].id, late, "oldest run_at first");
    assert_eq!(claimed[0].attempts, 1);
    let claimed = s.claim_jobs("w3", t + Duration::hours(2), 60, 5).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.dedup_key.as_str()).collect::<Vec<_>>(), vec!["future"]);
    assert_eq!(s.jobs(Some(JobStatus::Running), 10).await.unwrap().len(), 2);
    assert_eq!(s.jobs(None, 2).await.unwrap().len(), 2, "limit");
}

/// A kind this version does not know (a newer version's, or a hand edit) is `Corrupt` when
/// read; a claimed one becomes a dead letter and the jobs after it still run. (Statuses are
/// held to the known ones by the tables' CHECK.)
async fn unreadable_jobs_are_corrupt_and_never_block_the_queue(db: &TestDb) {
    let s = db.store();
    let t = t0();
    s.enqueue_jobs(vec![job("email", "first", None, t - Duration::seconds(20)), job("email", "second", None, t)])
        .await
        .unwrap();
    assert_eq!(db.exec("UPDATE jobs SET kind = 'carrier_pigeon' WHERE dedup_key = 'first'").await, 1);
    let claimed = s.claim_jobs("w1", t, 60, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.dedup_key.as_str()).collect::<Vec<_>>(), vec!["second"]);
    let dead = "SELECT COUNT(*) FROM jobs WHERE dedup_key = 'first' AND status = 'dead' \
                AND last_error LIKE '%`carrier_pigeon` is not a job kind%'";
    assert_eq!(db.count(dead).await, 1, "a dead letter, saying why");
    assert!(matches!(s.jobs(Some(JobStatus::Dead), 10).await, Err(StoreError::Corrupt(_))));
    assert_eq!(s.job(claimed[0].id).await.unwrap().status, JobStatus::Running);
}

async fn concurrent_claimers_never_share_a_job(db: &TestDb) {
    let s = db.store();
    let total = 150;
    s.enqueue_jobs((0..total).map(|i| job("email", &format!("bulk:{i}"), None, t0() - Duration::seconds(i))).collect())
        .await
        .unwrap();
    let mut workers = Vec::new();
    for w in 0..4 {
        let store = db.store.clone();
        workers.push(tokio::spawn(async move {
            let name = format!("worker-{w}");
            let mut mine = Vec::new();
            loop {
                let jobs = store.claim_jobs(&name, t0(), 300, 7).await.unwrap();
                if jobs.is_empty() {
                    break;
                }
                for j in jobs {
                    assert_eq!(j.locked_by.as_deref(), Some(name.as_str()));
                    store.complete_job(j.id, &name, t0()).await.unwrap();
                    mine.push(j.id);
                }
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut count = 0;
    for w in workers {
        for id in w.await.unwrap() {
            count += 1;
            assert!(seen.insert(id), "job {id} was claimed twice");
        }
    }
    assert_eq!(count, total as usize);
    assert_eq!(s.jobs(Some(JobStatus::Done), 1000).await.unwrap().len(), total as usize);
    for j in s.jobs(None, 1000).await.unwrap() {
        assert_eq!(j.attempts, 1, "{} ran more than once", j.dedup_key);
    }
}

async fn keyset_paging_in_deadline_order(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let d = |h: i64| Some(t0() + Duration::hours(h));
    // (name, organisation, state, deadline, assigned)
    let plan: Vec<(&str, &Organisation, &str, Option<DateTime<Utc>>, bool)> = vec![
        ("Ali Raza", &fx.firm, "ministry_review", d(30), false),
        ("Sara Khan", &fx.firm, "ministry_review", d(10), true),
        ("Omar Farooq", &fx.other_firm, "ministry_review", None, false),
        ("Fatima Ali", &fx.firm, "security_clearance", d(10), false),
        ("Bilal Ahmed", &fx.other_firm, "ministry_review", d(10), false),
        ("Hina Aslam", &fx.firm, "draft", None, false),
        ("Zain Malik", &fx.other_firm, "security_clearance", d(5), true),
        ("Noor Alvi", &fx.firm, "ministry_review", None, false),
        ("Yusuf Qasim", &fx.firm, "ministry_review", d(50), false),
        ("Ayesha 100%_Real", &fx.firm, "draft", None, false),
        ("Kamal Ali", &fx.other_firm, "ministry_review", d(30), false),
    ];
    let mut apps = Vec::new();
    for (name, org, state, deadline, assigned) in &plan {
        let app = s
            .create_application(new_app(&fx, org, name, t0()), event("create", None, Some("draft"), t0()))
            .await
            .unwrap();
        let app = if *state != "draft" {
            s.commit_transition(move_to(&app, state, *deadline, t0())).await.unwrap()
        } else {
            app
        };
        let app = if *assigned {
            s.edit_application(ApplicationEdit {
                application_id: app.id,
                expected_version: app.version,
                fields: None,
                applicant_name: None,
                passport_number: None,
                assigned_to: Some(Some(fx.reviewer.id)),
                audit: event("claim", None, None, t0()),
                now: t0(),
            })
            .await
            .unwrap()
        } else {
            app
        };
        apps.push(app);
    }

    let expect = |keep: &dyn Fn(&ApplicationRecord) -> bool| -> Vec<ApplicationId> {
        let mut v: Vec<&ApplicationRecord> = apps.iter().filter(|a| keep(a)).collect();
        v.sort_by_key(|a| (a.deadline_at.is_none(), a.deadline_at, a.id));
        v.iter().map(|a| a.id).collect()
    };
    let page_all = |filter: ApplicationFilter| async move {
        let mut seen = Vec::new();
        let mut f = filter;
        for _ in 0..50 {
            let page = s.applications(&f).await.unwrap();
            assert!(page.len() as i64 <= f.limit);
            let Some(last) = page.last() else { break };
            f.after = Some((last.deadline_at, last.id));
            seen.extend(page.iter().map(|a| a.id));
        }
        seen
    };
    for limit in [1, 2, 3, 100] {
        let base = ApplicationFilter { limit, ..Default::default() };
        assert_eq!(page_all(base.clone()).await, expect(&|_| true), "all, limit {limit}");
        assert_eq!(
            page_all(ApplicationFilter { states: Some(vec!["ministry_review".into()]), ..base.clone() }).await,
            expect(&|a| a.state == "ministry_review"),
            "one state, limit {limit}"
        );
        assert_eq!(
            page_all(ApplicationFilter {
                states: Some(vec!["ministry_review".into(), "security_clearance".into()]),
                organisation_id: Some(fx.other_firm.id),
                ..base.clone()
            })
            .await,
            expect(&|a| a.state != "draft" && a.organisation_id == fx.other_firm.id),
            "two states of one firm, limit {limit}"
        );
        assert_eq!(
            page_all(ApplicationFilter { exclude_states: vec!["draft".into()], ..base.clone() }).await,
            expect(&|a| a.state != "draft"),
            "without drafts, limit {limit}"
        );
    }
    let first = s.applications(&ApplicationFilter { limit: 3, ..Default::default() }).await.unwrap();
    assert_eq!(first[0].state, "security_clearance", "earliest deadline first");
    let one = |f: ApplicationFilter| async move {
        s.applications(&ApplicationFilter { limit: 100, ..f }).await.unwrap().iter().map(|a| a.id).collect::<Vec<_>>()
    };
    assert_eq!(
        one(ApplicationFilter { search: Some("ali".into()), ..Default::default() }).await,
        expect(&|a| a.applicant_name.contains("ali")),
        "name substring"
    );
    assert_eq!(
        one(ApplicationFilter { search: Some("  ALI ".into()), ..Default::default() }).await,
        expect(&|a| a.applicant_name.contains("ali")),
        "search is trimmed and case-insensitive"
    );
    let target = &apps[4];
    let reference = target.reference.as_str();
    let prefix = reference[..reference.len() - 2].to_lowercase();
    assert_eq!(
        one(ApplicationFilter { search: Some(prefix), ..Default::default() }).await,
        vec![target.id],
        "reference"
    );
    assert_eq!(
        one(ApplicationFilter { search: Some("qa-bv-2026".into()), ..Default::default() }).await.len(),
        apps.len()
    );
    assert_eq!(
        one(ApplicationFilter { search: Some("100%_".into()), ..Default::default() }).await,
        vec![apps[9].id],
        "% and _ are literal"
    );
    assert!(
        one(ApplicationFilter {
            search: Some("%".into()),
            states: Some(vec!["ministry_review".into()]),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        one(ApplicationFilter { assigned_to: Some(fx.reviewer.id), ..Default::default() }).await,
        expect(&|a| a.assigned_to == Some(fx.reviewer.id))
    );
    assert_eq!(
        one(ApplicationFilter { workflow_id: Some(WORKFLOW.into()), ..Default::default() }).await.len(),
        apps.len()
    );
    assert!(
        one(ApplicationFilter { workflow_id: Some("market-access".into()), ..Default::default() }).await.is_empty()
    );
    assert!(one(ApplicationFilter { states: Some(vec![]), ..Default::default() }).await.is_empty());
    assert!(s.applications(&ApplicationFilter::default()).await.unwrap().is_empty(), "limit 0");
}

async fn audit_chain_verifies_and_detects_tampering(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let app = create(s, &fx, "Ali Raza").await;
    let mut submit = move_to(&app, "ministry_review", Some(t0() + Duration::days(7)), t0() + Duration::minutes(1));
    submit.audit.data = json!({"fields_changed": ["passport_number"], "deadline": "2026-03-08T08:00:00Z"});
    let app = s.commit_transition(submit).await.unwrap();
    let app = s
        .edit_application(ApplicationEdit {
            application_id: app.id,
            expected_version: app.version,
            fields: None,
            applicant_name: None,
            passport_number: None,
            assigned_to: Some(Some(fx.reviewer.id)),
            audit: event("claim", None, None, t0() + Duration::minutes(2)),
            now: t0() + Duration::minutes(2),
        })
        .await
        .unwrap();
    let mut ask = move_to(&app, "more_information", None, at("2026-03-02T10:11:12.131415Z"));
    ask.audit.actor_name = "Rashid Al-Kuwari / راشد".into();
    ask.audit.role = "ministry_reviewer".into();
    ask.audit.comment = Some("Please send a clearer passport scan.\nThe MRZ is cut off — thanks 🙏".into());
    ask.audit.reason = Some("document_unreadable".into());
    ask.audit.data =
        json!({"ratio": 0.1, "big": 9007199254740993u64, "neg": -17, "nested": {"z": [1.5e300, null, true], "a": "ü"}});
    let app = s.commit_transition(ask).await.unwrap();
    s.add_document(
        NewDocument {
            application_id: app.id,
            kind: "passport_scan".into(),
            filename: "scan.png".into(),
            content_type: "image/png".into(),
            size: 10,
            sha256: "aa".repeat(32),
            storage_key: "k".into(),
            uploaded_by: fx.applicant.id,
            now: t0(),
        },
        event("upload", None, None, t0() + Duration::days(1)),
        app.version,
    )
    .await
    .unwrap();
    let other = create(s, &fx, "Sara Khan").await;
    s.commit_transition(move_to(&other, "ministry_review", None, t0())).await.unwrap();
    s.commit_transition(move_to(&s.application(other.id).await.unwrap(), "security_clearance", None, t0()))
        .await
        .unwrap();

    assert_eq!(s.audited_applications().await.unwrap(), vec![app.id, other.id]);
    let history = s.history(app.id).await.unwrap();
    assert_eq!(history.len(), 5);
    assert_eq!(history.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        history[3].comment.as_deref(),
        Some("Please send a clearer passport scan.\nThe MRZ is cut off — thanks 🙏")
    );
    audit::verify_chain(app.id, &history).expect("the chain verifies");
    audit::verify_chain(other.id, &s.history(other.id).await.unwrap()).expect("the other chain verifies");

    // Someone edits a comment directly in the database.
    let changed = db
        .exec(&format!("UPDATE audit_events SET comment = 'All fine' WHERE application_id = {} AND seq = 4", app.id))
        .await;
    assert_eq!(changed, 1);
    let broken = audit::verify_chain(app.id, &s.history(app.id).await.unwrap()).expect_err("tampering is detected");
    assert_eq!(broken.seq, 4);
    assert_eq!(broken.event_id, Some(history[3].id));

    // Someone deletes an event of the other application.
    db.exec(&format!("DELETE FROM audit_events WHERE application_id = {} AND seq = 2", other.id)).await;
    let broken = audit::verify_chain(other.id, &s.history(other.id).await.unwrap()).expect_err("deletion is detected");
    assert_eq!(broken.seq, 2);

    // Someone changes a time by one microsecond.
    let app3 = create(s, &fx, "Third").await;
    let shift = match db.raw {
        Raw::Sqlite(_) => {
            format!("UPDATE audit_events SET at = '2026-03-01T08:00:00.000001Z' WHERE application_id = {}", app3.id)
        }
        Raw::Postgres(_) => {
            format!("UPDATE audit_events SET at = at + interval '1 microsecond' WHERE application_id = {}", app3.id)
        }
    };
    db.exec(&shift).await;
    assert!(audit::verify_chain(app3.id, &s.history(app3.id).await.unwrap()).is_err());
}

async fn workflow_changed_content_is_refused(db: &TestDb) {
    let s = db.store();
    let t = at("2026-01-05T10:00:00.250000Z");
    s.register_workflow("market-access", 1, "aaa", "workflow: market-access\nversion: 1\n", t).await.unwrap();
    s.register_workflow("market-access", 1, "aaa", "workflow: market-access\nversion: 1\n", t0()).await.unwrap();
    match s.register_workflow("market-access", 1, "bbb", "workflow: market-access\nversion: 1\n# edited\n", t0()).await
    {
        Err(StoreError::WorkflowChanged { id, version }) => assert_eq!((id.as_str(), version), ("market-access", 1)),
        other => panic!("expected WorkflowChanged, got {other:?}"),
    }
    s.register_workflow("market-access", 2, "bbb", "workflow: market-access\nversion: 2\n", t0()).await.unwrap();
    let stored = s.stored_workflows().await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!((stored[0].workflow_id.as_str(), stored[0].version), ("market-access", 1));
    assert_eq!(stored[0].content_hash, "aaa", "the first content stays");
    assert_eq!(stored[0].loaded_at, t);
    assert_eq!(stored[1].source, "workflow: market-access\nversion: 2\n");
    let err = s.register_workflow("market-access", 2, "ccc", "", t0()).await.unwrap_err();
    assert!(err.to_string().contains("raise `version`"), "{err}");
}

async fn timestamps_and_json_round_trip(db: &TestDb) {
    let s = db.store();
    let fx = fixture(s).await;
    let created = at("2026-03-01T09:30:00.123456Z");
    let fields = json!({
        "applicant_name": "Nūr Al-Hāshimī نور",
        "passport_number": "AB1234567",
        "salary": 12500.75,
        "ratio": 0.1,
        "employees": 18446744073709551615u64,
        "negative": -9223372036854775808i64,
        "start": "2026-04-01",
        "skills": ["rust", "postgres", {"level": null}],
        "verified": true,
        "emoji": "✈️🇶🇦",
        "quote": "he said \"hi\"\\",
    });
    let mut new = new_app(&fx, &fx.firm, "x", created);
    new.fields = fields.clone();
    let app = s.create_application(new, event("create", None, Some("draft"), created)).await.unwrap();
    assert_eq!(app.created_at, created);
    assert_eq!(app.fields, fields);

    let moved_at = at("1999-12-31T23:59:59.999999Z");
    let deadline = at("2099-02-28T00:00:00.000001Z");
    let mut write = move_to(&app, "ministry_review", Some(deadline), moved_at);
    write.submitted_at = Some(at("2026-03-01T09:30:00.000000Z"));
    write.paused_remaining = Some(json!({"seconds": 3600.5}));
    write.jobs = vec![job("deadline", "deadline:rt", Some(app.id), at("2026-03-08T12:00:00.000007Z"))];
    let moved = s.commit_transition(write).await.unwrap();
    let read = s.application(app.id).await.unwrap();
    for r in [&moved, &read] {
        assert_eq!(r.state_entered_at, moved_at);
        assert_eq!(r.updated_at, moved_at);
        assert_eq!(r.deadline_at, Some(deadline));
        assert_eq!(r.submitted_at, Some(at("2026-03-01T09:30:00Z")));
        assert_eq!(r.created_at, created);
        assert_eq!(r.paused_remaining, Some(json!({"seconds": 3600.5})));
        assert_eq!(r.fields, fields);
    }
    let history = s.history(app.id).await.unwrap();
    assert_eq!(history[0].at, created);
    assert_eq!(history[1].at, moved_at);
    let j = job_by_key(s, "deadline:rt").await.unwrap();
    assert_eq!(j.run_at, at("2026-03-08T12:00:00.000007Z"));
    let lease_from = at("2026-03-08T12:00:00.000008Z");
    let claimed = s.claim_jobs("w", lease_from, 90, 1).await.unwrap();
    assert_eq!(claimed[0].locked_until, Some(lease_from + Duration::seconds(90)));
    let tok_time = at("2026-03-01T09:30:00.5Z");
    let tok = s
        .create_token(NewToken {
            user_id: fx.applicant.id,
            token_hash: "tok".into(),
            name: String::new(),
            created_at: tok_time,
            expires_at: tok_time + Duration::days(1),
        })
        .await
        .unwrap();
    assert_eq!((tok.created_at, tok.expires_at), (tok_time, tok_time + Duration::days(1)));

    // Times finer than a microsecond are truncated, never rounded up, and the chain still verifies.
    let fine = created + Duration::nanoseconds(999);
    let mut new = new_app(&fx, &fx.firm, "y", fine);
    new.fields = json!({});
    let app2 = s.create_application(new, event("create", None, Some("draft"), fine)).await.unwrap();
    let app2 = s.application(app2.id).await.unwrap();
    assert_eq!(app2.created_at, created);
    assert_eq!(app2.fields, json!({}));
    let h2 = s.history(app2.id).await.unwrap();
    assert_eq!(h2[0].at, created);
    audit::verify_chain(app2.id, &h2).unwrap();
    audit::verify_chain(app.id, &history).unwrap();
    let _: Value = serde_json::to_value(&history).unwrap();
}
