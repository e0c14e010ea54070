//! The whole application as the binary starts it (startup::build_engine, startup::serve),
//! with a manual clock, on 127.0.0.1:0, over a fresh database in a temporary folder.

use std::path::PathBuf;
use std::sync::Arc;

use corridor::config::Config;
use corridor::startup;
use corridor_engine::actor::Actor;
use corridor_engine::auth;
use corridor_engine::clock::ManualClock;
use corridor_engine::service::Engine;
use corridor_engine::store::{NewUser, Reference, Store, User};
use corridor_engine::transition::TransitionRequest;
use serde_json::{Map, Value};

use super::db::{Backend, TestDatabase};
use super::http::Http;
use super::{PASSWORD, pdf, png, totp};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A test's folder, database and configuration (config/corridor.toml with the database and
/// data folder replaced, port 0, no scheduler), also written to `config_path` so that the
/// `corridor` binary can be pointed at the same instance.
pub struct TestEnv {
    pub config: Config,
    pub config_path: PathBuf,
    pub database: TestDatabase,
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub async fn new(backend: Backend) -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = TestDatabase::new(backend, &dir.path().join("corridor.db")).await;
        let root = root();
        let text = std::fs::read_to_string(root.join("config/corridor.toml")).expect("config/corridor.toml");
        let mut table: toml::Table = toml::from_str(&text).expect("config is TOML");
        let set = |table: &mut toml::Table, section: &str, key: &str, value: toml::Value| {
            table
                .get_mut(section)
                .and_then(|s| s.as_table_mut())
                .unwrap_or_else(|| panic!("config has [{section}]"))
                .insert(key.into(), value);
        };
        let path = |p: PathBuf| toml::Value::String(p.display().to_string());
        set(&mut table, "server", "bind", toml::Value::String("127.0.0.1:0".into()));
        set(&mut table, "database", "url", toml::Value::String(database.url.clone()));
        set(&mut table, "paths", "data_dir", path(dir.path().join("data")));
        set(&mut table, "paths", "workflows", path(root.join("workflows")));
        set(&mut table, "paths", "templates", path(root.join("config/templates")));
        set(&mut table, "paths", "calendars", path(root.join("config/calendars")));
        set(&mut table, "scheduler", "enabled", toml::Value::Boolean(false));
        set(&mut table, "audit", "signing_key", path(dir.path().join("keys/audit-signing.key")));
        set(&mut table, "audit", "witness", path(dir.path().join("witness/audit-witness.log")));
        // Like the scheduler: tests that want scheduled checkpoints turn them on.
        set(&mut table, "audit", "checkpoint_cron", toml::Value::String(String::new()));
        let text = toml::to_string(&table).expect("config back to TOML");
        let config_path = dir.path().join("corridor.toml");
        std::fs::write(&config_path, &text).expect("write the test configuration");
        let config =
            Config::parse(&config_path.display().to_string(), &text, |_| None).expect("test configuration parses");
        TestEnv { config, config_path, database, dir }
    }

    /// The engine over this configuration, and the store under it for what a test checks or
    /// prepares directly.
    pub async fn start(&self, clock: Arc<ManualClock>) -> (Arc<Engine>, Arc<dyn Store>) {
        let startup::Built { engine, store } = startup::build(&self.config, clock).await.expect("engine starts");
        (engine, store)
    }
}

pub struct TestApp {
    pub base: String,
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    pub config_path: PathBuf,
    pub database: TestDatabase,
    pub dir: tempfile::TempDir,
}

/// The application, serving on a free loopback port.
pub async fn spawn(backend: Backend) -> TestApp {
    spawn_configured(backend, |_| {}).await
}

/// As [`spawn`], with the configuration changed first (timeouts, limits, allow-lists).
pub async fn spawn_configured(backend: Backend, change: impl FnOnce(&mut Config)) -> TestApp {
    let mut env = TestEnv::new(backend).await;
    change(&mut env.config);
    let clock = Arc::new(ManualClock::new());
    let (engine, store) = env.start(clock.clone()).await;
    let TestEnv { mut config, config_path, database, dir } = env;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    config.server.public_url = base.clone();
    let (serve_engine, serve_config) = (engine.clone(), config.clone());
    tokio::spawn(async move {
        let _ = startup::serve(serve_engine, &serve_config, listener).await;
    });
    TestApp { base, engine, store, clock, config, config_path, database, dir }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A user (and its organisation, made on first use) with [`PASSWORD`]. A user whose role
    /// needs a second factor (administrators) has one already, with the secret
    /// [`totp::secret_for`] their address, so that [`TestApp::signed_in`] can answer it.
    pub async fn user(&self, email: &str, role: &str, org: &str) -> User {
        let user = self.user_without_second_factor(email, role, org).await;
        if self.engine.second_factor_required(&user) {
            self.engine.enrol_with_secret(&user, &totp::secret_for(email)).await.expect("second factor");
        }
        user
    }

    /// A user with [`PASSWORD`] and no second factor, whatever their role.
    pub async fn user_without_second_factor(&self, email: &str, role: &str, org: &str) -> User {
        let name = format!("{} Tester", email.split('@').next().unwrap_or(email));
        let hash = auth::hash_password(PASSWORD).expect("hash");
        new_user(&*self.store, email, &name, role, org, "en", Some(hash)).await
    }

    /// A code of `email`'s second factor (secret [`totp::secret_for`]) that the engine has not
    /// taken yet: the earliest of the steps it accepts now (the one before, this one, the
    /// next) after the last one taken, waiting for the next step when all three were used.
    pub async fn fresh_code(&self, email: &str) -> String {
        let user = self.store.user_by_email(email).await.expect("read").expect("user");
        loop {
            let last = self.store.second_factor(user.id).await.expect("read").and_then(|f| f.last_step).unwrap_or(0);
            let now = totp::current_step();
            if let Some(step) = (now - 1..=now + 1).find(|s| *s as i64 > last) {
                return totp::code_at_step(&totp::secret_for(email), step);
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// A new API token for `user`, made at the engine's time with the default lifetime.
    pub async fn token(&self, user: &User) -> String {
        self.engine.issue_token(user, "test", corridor_engine::tokens::DEFAULT_DAYS).await.expect("token").secret
    }

    pub fn actor(&self, user: &User) -> Actor {
        Actor::from_user(user)
    }

    /// A new cookie-keeping client that does not follow redirects (tests look at them).
    pub fn http(&self) -> Http {
        Http::new(&self.base)
    }

    /// A new client connecting from another loopback address (`127.0.0.N`).
    pub fn http_from(&self, n: u8) -> Http {
        Http::from_address(&self.base, std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, n)))
    }

    /// A client signed in as `email` (answering the second factor when asked).
    pub async fn signed_in(&self, email: &str) -> Http {
        let http = self.http();
        self.sign_in_with(&http, email).await;
        http
    }

    /// Sign `http` in as `email`: the password, then the code when one is asked for.
    pub async fn sign_in_with(&self, http: &Http, email: &str) {
        let page = http.post_form("/login", "/login", &[("email", email), ("password", PASSWORD)]).await;
        assert_eq!(page.status, 303, "sign-in as {email} failed: {}", page.body);
        if page.location().is_some_and(|l| l.starts_with("/login/code")) {
            let code = self.fresh_code(email).await;
            let page = http.post_form("/login/code", "/login/code", &[("code", &code)]).await;
            assert_eq!(page.status, 303, "the second factor of {email} was refused: {}", page.body);
        }
    }

    /// Every field of a workflow filled with its published example.
    pub fn example_fields(&self, workflow: &str) -> Map<String, Value> {
        let wf = self.engine.workflow(workflow).expect("workflow");
        wf.fields.iter().map(|f| (f.name.clone(), Value::String(f.example.clone()))).collect()
    }

    /// A complete draft (fields and documents) made through the engine as `user`.
    pub async fn complete_draft(&self, user: &User, workflow: &str) -> Reference {
        let actor = self.actor(user);
        let view =
            self.engine.create_application(&actor, workflow, &self.example_fields(workflow)).await.expect("draft");
        let reference = view.record.reference.clone();
        for d in &view.workflow.documents {
            let (name, bytes) =
                if d.accept.iter().any(|a| a == "application/pdf") { ("doc.pdf", pdf()) } else { ("photo.png", png()) };
            self.engine.upload_document(&actor, &reference, &d.name, name, &bytes).await.expect("upload");
        }
        reference
    }

    /// Run the `corridor` binary against this instance's configuration.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_corridor"))
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .current_dir(root())
            .output()
            .expect("run corridor")
    }
}

/// A user (and its organisation, created when new: a firm for applicants, a ministry for
/// everyone else).
pub async fn new_user(
    store: &dyn Store,
    email: &str,
    name: &str,
    role: &str,
    org: &str,
    language: &str,
    password_hash: Option<String>,
) -> User {
    let organisation = match store.organisation_by_name(org).await.expect("organisation lookup") {
        Some(o) => o,
        None => {
            let kind = if role == "applicant" { "firm" } else { "ministry" };
            store.create_organisation(org, kind, Some("PK")).await.expect("organisation")
        }
    };
    store
        .create_user(NewUser {
            email: email.into(),
            name: name.into(),
            role: role.into(),
            organisation_id: organisation.id,
            password_hash,
            language: language.into(),
        })
        .await
        .expect("user")
}

/// A user without a password (for tests that never sign in through the pages).
pub async fn user(store: &dyn Store, email: &str, name: &str, role: &str, org: &str, language: &str) -> User {
    new_user(store, email, name, role, org, language, None).await
}

/// A business-visa application created, completed and submitted by `applicant` at the
/// engine's current time; returns its reference.
pub async fn submitted(engine: &Engine, applicant: &Actor, variant: usize) -> Reference {
    let workflow = engine.workflow("it-business-visa").expect("workflow loaded");
    let fields = corridor::demo::example_fields(&workflow, variant);
    let view = engine.create_application(applicant, "it-business-visa", &fields).await.expect("create");
    let reference = view.record.reference.clone();
    for doc in workflow.documents.iter().filter(|d| d.required) {
        let (name, bytes) = corridor::demo::demo_document(doc);
        engine.upload_document(applicant, &reference, &doc.name, &name, bytes).await.expect("upload");
    }
    act(engine, applicant, &reference, "submit", None).await;
    reference
}

/// Take a transition at the engine's current time.
pub async fn act(engine: &Engine, actor: &Actor, reference: &Reference, action: &str, comment: Option<&str>) {
    let version = engine.application(actor, reference).await.expect("visible").record.version;
    engine
        .transition(
            actor,
            reference,
            &TransitionRequest {
                reason_code: None,
                action: action.into(),
                expected_version: version,
                comment: comment.map(str::to_string),
                reason: None,
                fields: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{action} on {reference}: {e}"));
}
