//! A real headless Chromium driven through chromedriver, with axe-core checks and
//! screenshots (saved under `test-artifacts/`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::app::root;

/// Where screenshots and accessibility reports go (gitignored).
pub fn artifacts_dir() -> PathBuf {
    let dir = root().join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create test-artifacts/");
    dir
}

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
    /// Fill every field of `workflow`'s application form with its example value, with the
    /// input its type calls for.
    pub async fn fill_with_examples(&self, workflow: &corridor_engine::workflow::Workflow) {
        use corridor_engine::workflow::FieldType;
        for f in &workflow.fields {
            let id = format!("#f-{}", f.name);
            match f.field_type {
                FieldType::Date => self.set_value(&id, &f.example).await,
                FieldType::Country => self.select(&id, &f.example).await,
                FieldType::Choice if f.options.len() <= 6 => {
                    let i = f.options.iter().position(|o| o.value == f.example).expect("example is an option");
                    let radio = if i == 0 { id.clone() } else { format!("{id}-{}", i + 1) };
                    self.click(&radio).await;
                }
                FieldType::Choice => self.select(&id, &f.example).await,
                _ => self.fill(&id, &f.example).await,
            }
        }
    }

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
