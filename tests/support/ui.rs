//! Support for the web UI tests: the whole application on 127.0.0.1:0 with a fresh database,
//! users made through the store, an HTTP client that keeps cookies and reads form tokens,
//! and a real headless Chromium driven through chromedriver, with axe-core checks and
//! screenshots (saved under `test-artifacts/`).
//!
//! Use from a test file with `#[path = "support/ui.rs"] mod ui;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor::config::Config;
use corridor::startup;
use corridor_engine::actor::Actor;
use corridor_engine::auth;
use corridor_engine::clock::ManualClock;
use corridor_engine::service::Engine;
use corridor_engine::store::{NewUser, User};
use sqlx::Connection;

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where screenshots and accessibility reports go (gitignored).
pub fn artifacts_dir() -> PathBuf {
    let dir = root().join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create test-artifacts/");
    dir
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}{:x}{}", nanos, std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A fresh PostgreSQL database (`CORRIDOR_TEST_POSTGRES_URL`, default the local server).
pub async fn fresh_postgres_database() -> String {
    let admin = std::env::var("CORRIDOR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("corridor_ui_{}", unique());
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

pub struct UiApp {
    /// The PostgreSQL database made for this app, dropped by [`UiApp::drop_database`].
    pub postgres_database: Option<String>,
    pub base: String,
    pub engine: Arc<Engine>,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

/// config/corridor.toml with a temp database and data folder, port 0, no scheduler.
pub async fn config(backend: Backend, dir: &tempfile::TempDir) -> Config {
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("corridor.db").display()),
        Backend::Postgres => fresh_postgres_database().await,
    };
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
    let s = |v: String| toml::Value::String(v);
    set(&mut table, "server", "bind", s("127.0.0.1:0".into()));
    set(&mut table, "database", "url", s(database_url));
    set(&mut table, "paths", "data_dir", s(dir.path().join("data").display().to_string()));
    set(&mut table, "paths", "workflows", s(root.join("workflows").display().to_string()));
    set(&mut table, "paths", "templates", s(root.join("config/templates").display().to_string()));
    set(&mut table, "paths", "calendars", s(root.join("config/calendars").display().to_string()));
    set(&mut table, "scheduler", "enabled", toml::Value::Boolean(false));
    let text = toml::to_string(&table).expect("config back to TOML");
    Config::parse("ui-test.toml", &text, |_| None).expect("test config parses")
}

/// The application, serving on a free loopback port.
pub async fn spawn(backend: Backend) -> UiApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(backend, &dir).await;
    let clock = Arc::new(ManualClock::new());
    let engine = startup::build_engine(&config, clock.clone()).await.expect("engine starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    config.server.public_url = base.clone();
    let (serve_engine, serve_config) = (engine.clone(), config.clone());
    tokio::spawn(async move {
        let _ = startup::serve(serve_engine, &serve_config, listener).await;
    });
    let postgres_database =
        (backend == Backend::Postgres).then(|| config.database.url.rsplit('/').next().unwrap_or("").to_string());
    UiApp { postgres_database, base, engine, clock, config, dir }
}

impl UiApp {
    /// Drop this test's PostgreSQL database (a no-op on SQLite).
    pub async fn drop_database(&self) {
        let Some(name) = &self.postgres_database else { return };
        let admin = std::env::var("CORRIDOR_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                .execute(&mut conn)
                .await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A user (and its organisation, made on first use) with [`PASSWORD`].
    pub async fn user(&self, email: &str, role: &str, org: &str) -> User {
        let store = &self.engine.store;
        let kind = if role == "applicant" { "firm" } else { "ministry" };
        let organisation = match store.organisation_by_name(org).await.expect("org lookup") {
            Some(o) => o,
            None => store.create_organisation(org, kind, Some("PK")).await.expect("org"),
        };
        store
            .create_user(NewUser {
                email: email.into(),
                name: format!("{} Tester", email.split('@').next().unwrap_or(email)),
                role: role.into(),
                organisation_id: organisation.id,
                password_hash: Some(auth::hash_password(PASSWORD).expect("hash")),
                language: "en".into(),
            })
            .await
            .expect("user")
    }

    pub fn actor(&self, user: &User) -> Actor {
        Actor::from_user(user)
    }

    /// A new cookie-keeping client that does not follow redirects (tests look at them).
    pub fn http(&self) -> Http {
        Http {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: self.base.clone(),
        }
    }

    /// A client signed in as `email`.
    pub async fn signed_in(&self, email: &str) -> Http {
        let http = self.http();
        let page = http.post_form("/login", "/login", &[("email", email), ("password", PASSWORD)]).await;
        assert_eq!(page.status, 303, "sign-in as {email} failed: {}", page.body);
        http
    }

    /// Every field of a workflow filled with its published example.
    pub fn example_fields(&self, workflow: &str) -> serde_json::Map<String, serde_json::Value> {
        let wf = self.engine.workflows.latest(workflow).expect("workflow");
        wf.fields.iter().map(|f| (f.name.clone(), serde_json::Value::String(f.example.clone()))).collect()
    }

    /// A complete draft (fields and documents) made through the engine as `user`.
    pub async fn complete_draft(&self, user: &User, workflow: &str) -> String {
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
}

/// A page as a test sees it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// The form token in this page (the first `name="csrf"` field).
    pub fn csrf(&self) -> Option<String> {
        csrf_in(&self.body)
    }
}

pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)?;
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest.split('"').next().map(str::to_string)
}

/// The value of `<input ... name="NAME" ... value="...">` (first match).
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!(r#"name="{name}""#);
    let at = html.find(&needle)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find(r#"value=""#)?;
    tag[v + 7..].split('"').next().map(str::to_string)
}

/// `application/x-www-form-urlencoded`, as a browser sends it.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

impl Http {
    pub async fn get(&self, path: &str) -> Page {
        let r = self.client.get(format!("{}{}", self.base, path)).send().await.expect("GET");
        Self::page(r).await
    }

    async fn page(r: reqwest::Response) -> Page {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap_or_default();
        Page { status, headers, body }
    }

    /// POST a form exactly as given (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)], extra_headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(fields));
        for (k, v) in extra_headers {
            req = req.header(*k, *v);
        }
        Self::page(req.send().await.expect("POST")).await
    }

    /// Open `form_page`, take its token, and POST `fields` (plus the token) to `action`, as a
    /// browser on our own origin would.
    pub async fn post_form(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(form_page).await;
        let token =
            page.csrf().unwrap_or_else(|| panic!("no csrf token on {form_page} ({}): {}", page.status, page.body));
        let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        let origin = self.base.clone();
        self.post_raw(action, &all, &[("origin", origin.as_str()), ("sec-fetch-site", "same-origin")]).await
    }

    /// Upload one document through the documents page's form.
    pub async fn upload(&self, reference: &str, kind: &str, filename: &str, bytes: Vec<u8>) -> Page {
        let path = format!("/applications/{reference}/documents");
        let page = self.get(&path).await;
        let token = page.csrf().expect("csrf on documents page");
        let form = reqwest::multipart::Form::new()
            .text("csrf", token)
            .text("kind", kind.to_string())
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()));
        let r = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("origin", self.base.clone())
            .multipart(form)
            .send()
            .await
            .expect("upload");
        Self::page(r).await
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

// ---------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------

/// WCAG 2.2 A and AA, as axe-core tags them.
pub const AXE_TAGS: &[&str] = &["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

fn find_program(env: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() && p.exists() {
            return p.to_path_buf();
        }
        if let Some(found) = std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(c)).find(|p| p.exists()))
        {
            return found;
        }
    }
    panic!(
        "{} not found (looked for {candidates:?}, or set {env}). The browser tests need Debian's \
         `chromium` and `chromium-driver`: apt-get install chromium chromium-driver",
        candidates[0]
    );
}

/// axe-core's script, from `tests/browser/node_modules` (`npm ci` there installs it).
pub fn axe_source() -> String {
    let path = std::env::var("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("tests/browser/node_modules/axe-core/axe.min.js"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("axe-core is missing at {} ({e}): run `npm ci` in tests/browser", path.display()))
}

pub struct Browser {
    pub client: fantoccini::Client,
    pub base: String,
    driver: Child,
    _profile: tempfile::TempDir,
    axe: String,
    /// Screenshot file prefix (the test's name).
    prefix: String,
    shots: usize,
    /// Every page checked by axe, with the number of rules run.
    pub checked: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port()
}

/// Headless Chromium under chromedriver, on a fresh profile. Panics (the test fails) when
/// either program or axe-core is missing.
pub async fn browser(base: &str, prefix: &str) -> Browser {
    let chromedriver = find_program("CHROMEDRIVER", &["chromedriver", "/usr/bin/chromedriver"]);
    let chromium =
        find_program("CHROMIUM", &["/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome"]);
    let axe = axe_source();
    let port = free_port();
    let driver = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
    let profile = tempfile::tempdir().expect("profile dir");
    let webdriver = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if reqwest::get(format!("{webdriver}/status")).await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start on port {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium.display().to_string(),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--disable-sync", "--disable-extensions", "--window-size=1280,1000",
                "--lang=en-GB", format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let client = fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&webdriver)
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session through chromedriver: {e}"));
    Browser {
        client,
        base: base.to_string(),
        driver,
        _profile: profile,
        axe,
        prefix: prefix.to_string(),
        shots: 0,
        checked: vec![],
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

use fantoccini::Locator;

impl Browser {
    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{}", self.base, path)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        let mut p = url.path().to_string();
        if let Some(q) = url.query() {
            p.push('?');
            p.push_str(q);
        }
        p
    }

    pub async fn html(&self) -> String {
        self.client.source().await.expect("page source")
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el,
            Err(e) => panic!("no element {css} on {}: {e}", self.path().await),
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find_all(Locator::Css(css)).await.map(|v| !v.is_empty()).unwrap_or(false)
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Type into an input (after clearing it).
    pub async fn fill(&self, css: &str, value: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("clear");
        if !value.is_empty() {
            el.send_keys(value).await.expect("type");
        }
    }

    /// Set an input's value directly (date inputs, whose typing order depends on the locale).
    pub async fn set_value(&self, css: &str, value: &str) {
        self.find(css).await;
        self.client
            .execute(
                "const el = document.querySelector(arguments[0]); el.value = arguments[1]; el.dispatchEvent(new Event('change'));",
                vec![css.into(), value.into()],
            )
            .await
            .expect("set value");
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Click a submit button and wait until the next page has loaded.
    pub async fn submit(&self, css: &str) {
        let old = self.find("html").await;
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        // The old document's element goes stale once the new page replaces it.
        while old.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "clicking {css} did not load a new page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.wait_ready().await;
    }

    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let state = self.client.execute("return document.readyState", vec![]).await;
            if state.ok().and_then(|v| v.as_str().map(str::to_string)).as_deref() == Some("complete") {
                return;
            }
            assert!(Instant::now() < deadline, "page did not finish loading");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Attach a local file to a file input.
    pub async fn attach(&self, css: &str, file: &Path) {
        self.find(css).await.send_keys(&file.display().to_string()).await.expect("attach file");
    }

    /// Save a screenshot as `test-artifacts/<prefix>-NN-<name>.png`.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        self.shots += 1;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = artifacts_dir().join(format!("{}-{:02}-{name}.png", self.prefix, self.shots));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// The page's `lang` and `dir`.
    pub async fn lang_dir(&self) -> (String, String) {
        let v = self
            .client
            .execute("return [document.documentElement.lang, document.documentElement.dir]", vec![])
            .await
            .expect("lang");
        (v[0].as_str().unwrap_or("").to_string(), v[1].as_str().unwrap_or("").to_string())
    }

    /// axe-core's WCAG 2.2 A/AA violations on the current page, and how many rules passed.
    pub async fn axe_violations(&self) -> (Vec<serde_json::Value>, usize) {
        self.wait_ready().await;
        let present = self.client.execute("return typeof window.axe", vec![]).await.expect("typeof axe");
        if present.as_str() != Some("object") {
            self.client.execute(&self.axe, vec![]).await.expect("inject axe-core");
        }
        let script = r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: 'tag', values: arguments[0] }, resultTypes: ['violations'] })
              .then(r => done(JSON.stringify({
                  passes: r.passes.length,
                  violations: r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\s+/g, ' '))
                  }))
              })))
              .catch(e => done(JSON.stringify({ error: String(e) })));
        "#;
        let tags: Vec<serde_json::Value> = AXE_TAGS.iter().map(|t| serde_json::Value::from(*t)).collect();
        let out = self.client.execute_async(script, vec![serde_json::Value::Array(tags)]).await.expect("axe.run");
        let report: serde_json::Value = serde_json::from_str(out.as_str().unwrap_or("{}")).expect("axe report");
        assert!(report.get("error").is_none(), "axe failed on {}: {report}", self.path().await);
        let passes = report["passes"].as_u64().unwrap_or(0) as usize;
        (report["violations"].as_array().cloned().unwrap_or_default(), passes)
    }

    /// Run axe-core on the current page (WCAG 2.2 A/AA); panic listing every violation.
    pub async fn axe(&mut self, label: &str) {
        let (violations, passes) = self.axe_violations().await;
        let path = self.path().await;
        let (lang, _) = self.lang_dir().await;
        assert!(passes > 0, "axe ran no rule on {path}");
        if !violations.is_empty() {
            let file = artifacts_dir().join(format!("{}-axe-{}.json", self.prefix, label.replace(['/', ' '], "_")));
            let _ = std::fs::write(&file, serde_json::to_string_pretty(&violations).unwrap_or_default());
            let mut shot = self.screenshot(&format!("axe-failure-{label}")).await;
            shot.set_extension("png");
            panic!(
                "axe-core found WCAG 2.2 A/AA violations on {path} ({label}, lang={lang}):\n{}",
                serde_json::to_string_pretty(&violations).unwrap_or_default()
            );
        }
        self.checked.push(format!("{lang} {path}"));
    }

    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
    }
}
