//! Black-box test support: the whole application on 127.0.0.1:0, on a fresh SQLite file or a
//! fresh PostgreSQL database, spoken to over real HTTP.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use corridor::config::Config;
use corridor::startup;
use corridor_engine::auth;
use corridor_engine::clock::ManualClock;
use corridor_engine::service::Engine;
use corridor_engine::store::NewUser;
use serde_json::{Value, json};
use sqlx::Connection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn postgres_admin_url() -> String {
    std::env::var("CORRIDOR_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty PostgreSQL database; fails the test when the server is unreachable.
pub async fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let name = format!("corridor_test_{}", uuid_like());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must run for these tests ({admin}): {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
    format!("{base}/{name}")
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}

pub struct TestApp {
    pub base: String,
    pub engine: Arc<Engine>,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    pub config_path: PathBuf,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

/// The configuration a test instance runs with, written to a file so that the CLI can be
/// pointed at the same database.
pub async fn test_config(backend: Backend, dir: &tempfile::TempDir) -> (Config, PathBuf) {
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("corridor.db").display()),
        Backend::Postgres => fresh_postgres_database().await,
    };
    let root = root();
    let text = std::fs::read_to_string(root.join("config/corridor.toml")).expect("config/corridor.toml");
    let text = text
        .replace("bind = \"127.0.0.1:8080\"", "bind = \"127.0.0.1:0\"")
        .replace("url = \"sqlite://data/corridor.db\"", &format!("url = \"{database_url}\""))
        .replace("data_dir = \"data\"", &format!("data_dir = \"{}\"", dir.path().join("data").display()))
        .replace("workflows = \"workflows\"", &format!("workflows = \"{}\"", root.join("workflows").display()))
        .replace(
            "templates = \"config/templates\"",
            &format!("templates = \"{}\"", root.join("config/templates").display()),
        )
        .replace(
            "calendars = \"config/calendars\"",
            &format!("calendars = \"{}\"", root.join("config/calendars").display()),
        )
        .replace("enabled = true", "enabled = false");
    let path = dir.path().join("corridor.toml");
    std::fs::write(&path, &text).expect("write test config");
    let config = Config::parse(&path.display().to_string(), &text, |_| None).expect("test config parses");
    (config, path)
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, config_path) = test_config(backend, &dir).await;
    let clock = Arc::new(ManualClock::new());
    let engine = startup::build_engine(&config, clock.clone()).await.expect("engine starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let serve_engine = engine.clone();
    let serve_config = config.clone();
    tokio::spawn(async move {
        let _ = startup::serve(serve_engine, &serve_config, listener).await;
    });
    TestApp { base, engine, clock, config, config_path, http: reqwest::Client::new(), dir }
}

impl TestApp {
    /// A user with an API token.
    pub async fn user(&self, email: &str, role: &str, org: &str) -> String {
        let store = &self.engine.store;
        let organisation = match store.organisation_by_name(org).await.expect("org lookup") {
            Some(o) => o,
            None => store.create_organisation(org, "firm", None).await.expect("org"),
        };
        let user = store
            .create_user(NewUser {
                email: email.into(),
                name: email.split('@').next().unwrap_or(email).into(),
                role: role.into(),
                organisation_id: organisation.id,
                password_hash: Some(auth::hash_password("correct horse battery").expect("hash")),
                language: "en".into(),
            })
            .await
            .expect("user");
        let token = auth::new_token();
        store.create_token(user.id, &auth::token_digest(&token), chrono::Utc::now()).await.expect("token");
        token
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).bearer_auth(token).send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(self.url(path)).bearer_auth(token).json(&body).send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn upload(
        &self,
        token: &str,
        reference: &str,
        kind: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .text("kind", kind.to_string())
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()));
        let r = self
            .http
            .post(self.url(&format!("/api/v1/applications/{reference}/documents")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Every field of the workflow filled with its published example.
    pub async fn example_fields(&self, token: &str, workflow: &str) -> Value {
        let (status, wf) = self.get(token, &format!("/api/v1/workflows/{workflow}")).await;
        assert_eq!(status, 200, "{wf}");
        let mut fields = serde_json::Map::new();
        for f in wf["fields"].as_array().expect("fields") {
            fields.insert(f["name"].as_str().expect("name").into(), f["example"].clone());
        }
        Value::Object(fields)
    }

    /// A draft with every field and document, ready to submit. Returns its reference.
    pub async fn complete_draft(&self, token: &str, workflow: &str) -> String {
        let fields = self.example_fields(token, workflow).await;
        let (status, app) =
            self.post(token, "/api/v1/applications", json!({"workflow": workflow, "fields": fields})).await;
        assert_eq!(status, 201, "{app}");
        let reference = app["reference"].as_str().expect("reference").to_string();
        let (_, wf) = self.get(token, &format!("/api/v1/workflows/{workflow}")).await;
        for d in wf["documents"].as_array().expect("documents") {
            let accept: Vec<&str> = d["accept"].as_array().expect("accept").iter().filter_map(Value::as_str).collect();
            let (name, bytes) =
                if accept.contains(&"application/pdf") { ("doc.pdf", pdf()) } else { ("photo.png", png()) };
            let (status, body) =
                self.upload(token, &reference, d["name"].as_str().expect("doc name"), name, bytes).await;
            assert_eq!(status, 201, "{body}");
        }
        reference
    }

    pub async fn version(&self, token: &str, reference: &str) -> i64 {
        let (status, app) = self.get(token, &format!("/api/v1/applications/{reference}")).await;
        assert_eq!(status, 200, "{app}");
        app["version"].as_i64().expect("version")
    }

    /// Take an action at the application's current version.
    pub async fn act(&self, token: &str, reference: &str, action: &str, extra: Value) -> (u16, Value) {
        let version = self.version(token, reference).await;
        let mut body = json!({"action": action, "expected_version": version});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.post(token, &format!("/api/v1/applications/{reference}/transitions"), body).await
    }

    pub async fn history_len(&self, token: &str, reference: &str) -> usize {
        let (status, h) = self.get(token, &format!("/api/v1/applications/{reference}/history")).await;
        assert_eq!(status, 200, "{h}");
        h["events"].as_array().expect("events").len()
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

pub fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".to_vec()
}

pub fn png() -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    v.extend_from_slice(&[0u8; 64]);
    v
}
