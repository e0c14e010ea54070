//! Limits before and around authentication (issue 9, point 6), black box over real HTTP on
//! both databases: header and body read timeouts, the small body limit for everything but
//! uploads, control characters refused with 422 naming the input, `Cache-Control: no-store`
//! on personal data, file names cleaned of bidi characters, webhooks kept off loopback; and
//! the memory of the real binary under thirty unfinished anonymous 10 MB posts (SQLite only:
//! the database plays no part there).

use std::time::{Duration, Instant};

use corridor::startup;
use corridor_engine::clock::ManualClock;
use corridor_engine::model::JobStatus;
use corridor_engine::model::jobs::{JobPayload, NewJob, WebhookJob};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Backend, TestApp, TestEnv, pdf, spawn, spawn_configured};

on_both!(
    a_connection_sending_a_header_line_every_two_seconds_is_closed_while_healthz_answers,
    a_stalled_body_is_cut_after_the_body_timeout,
    large_anonymous_posts_are_refused_before_their_body_is_read,
    nul_in_a_field_a_comment_and_a_search_is_422_naming_it,
    nul_in_page_forms_and_searches_is_422,
    personal_data_and_downloads_are_never_cached,
    a_right_to_left_override_is_stripped_from_file_names,
    a_webhook_to_loopback_without_the_allow_list_is_a_failed_delivery_with_the_reason,
);

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Wait until the server closes `stream` (a read of 0 bytes or an error); how long it took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

async fn healthz_quickly(app: &TestApp) {
    let started = Instant::now();
    let r = reqwest::get(app.url("/healthz")).await.expect("healthz");
    assert_eq!(r.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(1), "healthz took {:?}", started.elapsed());
}

async fn a_connection_sending_a_header_line_every_two_seconds_is_closed_while_healthz_answers(backend: Backend) {
    let app = spawn(backend).await;
    let timeout = Duration::from_secs(app.config.server.header_timeout_seconds);
    assert_eq!(timeout, Duration::from_secs(5), "the documented default");
    let slow = TcpStream::connect(addr(&app)).await.unwrap();
    let (mut reader, mut writer) = slow.into_split();
    writer.write_all(b"POST /login HTTP/1.1\r\nHost: corridor\r\n").await.unwrap();
    let started = Instant::now();
    // The server's side: when the connection is closed (end of stream or reset).
    let closed = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => continue,
            }
        }
    });
    let mut lines = 0;
    while !closed.is_finished() && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if writer.write_all(format!("X-Slow-{lines}: still here\r\n").as_bytes()).await.is_err() {
            break;
        }
        lines += 1;
        healthz_quickly(&app).await;
    }
    let closed =
        tokio::time::timeout(Duration::from_secs(1), closed).await.expect("the connection was closed").unwrap();
    assert!(lines >= 2, "header lines kept coming until the close ({lines})");
    assert!(closed >= timeout - Duration::from_millis(500), "closed after {closed:?}, before the timeout");
    assert!(closed < timeout + Duration::from_secs(2), "closed after {closed:?}, the timeout is {timeout:?}");
    healthz_quickly(&app).await;
}

async fn a_stalled_body_is_cut_after_the_body_timeout(backend: Backend) {
    let app = spawn_configured(backend, |c| c.server.body_timeout_seconds = 2).await;
    let mut stalled = TcpStream::connect(addr(&app)).await.unwrap();
    stalled
        .write_all(b"POST /api/v1/status HTTP/1.1\r\nHost: corridor\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"reference\": \"Q")
        .await
        .unwrap();
    let started = Instant::now();
    healthz_quickly(&app).await;
    let closed = closed_within(&mut stalled, Duration::from_secs(10)).await.expect("the stalled body was cut");
    assert!(closed >= Duration::from_millis(1500), "cut after {closed:?}, before the timeout");
    assert!(started.elapsed() < Duration::from_secs(6), "cut after {:?}", started.elapsed());
}

async fn large_anonymous_posts_are_refused_before_their_body_is_read(backend: Backend) {
    let app = spawn(backend).await;
    // Thirty unfinished 10 MB posts: each is answered 413 from its headers alone and closed.
    let mut streams = Vec::new();
    for _ in 0..30 {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(
            b"POST /login HTTP/1.1\r\nHost: corridor\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 10485760\r\n\r\n--x\r\n",
        )
        .await
        .unwrap();
        streams.push(s);
    }
    healthz_quickly(&app).await;
    for s in &mut streams {
        let mut head = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut head)).await.expect("an answer").unwrap();
        let head = String::from_utf8_lossy(&head[..n]);
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        assert!(closed_within(s, Duration::from_secs(5)).await.is_some(), "the connection is closed");
    }
    // The firm's upload page takes large bodies only with a live session.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(
        b"POST /applications/QA-BV-2026-000001-X/documents HTTP/1.1\r\nHost: corridor\r\nCookie: corridor_session=0123456789abcdef0123456789abcdef0123456789abcdef\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 10485760\r\n\r\n--x\r\n",
    )
    .await
    .unwrap();
    let mut head = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut head)).await.expect("an answer").unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    // An upload route takes large bodies, but not from someone without a valid token: the
    // answer comes from the headers alone.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(
        b"POST /api/v1/applications/QA-BV-2026-000001-X/documents HTTP/1.1\r\nHost: corridor\r\nAuthorization: Bearer cor_forged\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 52428800\r\n\r\n--x\r\n",
    )
    .await
    .unwrap();
    let mut head = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut head)).await.expect("an answer").unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    // The same through the API, without a token.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/applications"))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await;
    if let Ok(r) = r {
        assert!(matches!(r.status().as_u16(), 413 | 401), "{}", r.status());
    }
    healthz_quickly(&app).await;
}

async fn api_user(app: &TestApp, email: &str, role: &str, org: &str) -> String {
    let user = app.user(email, role, org).await;
    app.token(&user).await
}

async fn send(app: &TestApp, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = reqwest::Client::new().request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn assert_names(body: &Value, field: &str) {
    let details = body["error"]["details"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert!(
        details.iter().any(|d| d["field"] == field && d["code"] == "control_character"),
        "no control_character for {field}: {body}"
    );
}

async fn nul_in_a_field_a_comment_and_a_search_is_422_naming_it(backend: Backend) {
    let app = spawn(backend).await;
    let firm = api_user(&app, "desk@lahore-soft.example", "applicant", "Lahore Soft").await;
    let mut fields = app.example_fields("it-business-visa");
    let name_field = fields.keys().find(|k| k.contains("name")).cloned().expect("a name field");
    fields.insert(name_field.clone(), json!("Amal\u{0}Khan"));
    let (status, body) = send(
        &app,
        &firm,
        reqwest::Method::POST,
        "/api/v1/applications",
        Some(json!({"workflow": "it-business-visa", "fields": fields})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_names(&body, &name_field);

    // A draft, then a comment with NUL on a transition.
    let (status, created) = send(
        &app,
        &firm,
        reqwest::Method::POST,
        "/api/v1/applications",
        Some(json!({"workflow": "it-business-visa", "fields": {}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let reference = created["reference"].as_str().unwrap();
    let version = created["version"].as_i64().unwrap();
    let (status, body) = send(
        &app,
        &firm,
        reqwest::Method::POST,
        &format!("/api/v1/applications/{reference}/transitions"),
        Some(json!({"action": "withdraw", "expected_version": version, "comment": "bye\u{0}"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_names(&body, "comment");
    let (status, after) =
        send(&app, &firm, reqwest::Method::GET, &format!("/api/v1/applications/{reference}"), None).await;
    assert_eq!((status, after["version"].as_i64()), (200, Some(version)), "nothing changed");

    // Searches and filters.
    for (query, field) in [("q=%00", "q"), ("state=draft%00", "state"), ("workflow=%00x", "workflow")] {
        let (status, body) =
            send(&app, &firm, reqwest::Method::GET, &format!("/api/v1/applications?{query}"), None).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_names(&body, field);
    }
    // A multi-line comment keeps its line breaks and tabs.
    let (status, body) = send(
        &app,
        &firm,
        reqwest::Method::PATCH,
        &format!("/api/v1/applications/{reference}"),
        Some(json!({"expected_version": version, "fields": {name_field.clone(): "Amal\tKhan"}})),
    )
    .await;
    assert_eq!(status, 200, "a tab is no control character to refuse: {body}");
}

async fn nul_in_page_forms_and_searches_is_422(backend: Backend) {
    let app = spawn(backend).await;
    let signin = app
        .http()
        .post_form("/login", "/login", &[("email", "reviewer\u{0}@ministry.example"), ("password", "long-enough-pass")])
        .await;
    assert_eq!(signin.status, 422, "{}", signin.body);
    assert!(signin.body.contains("href=\"#email\""), "the error names the e-mail input: {}", signin.body);
    assert!(signin.body.contains("no control characters"), "{}", signin.body);
    app.user("reviewer@ministry.example", "ministry_reviewer", "Ministry").await;
    let reviewer = app.signed_in("reviewer@ministry.example").await;
    let page = reviewer.get("/queue?q=%00").await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("href=\"#filter-q\""), "the error names the search input: {}", page.body);
    assert!(page.body.contains("control characters"), "{}", page.body);
    app.user("admin@ministry.example", "admin", "Ministry").await;
    let admin = app.signed_in("admin@ministry.example").await;
    let orgs = app.store.organisations().await.unwrap();
    let org = orgs.iter().find(|o| o.name == "Ministry").unwrap().id.to_string();
    let made = admin
        .post_form(
            "/admin/users/new",
            "/admin/users/new",
            &[
                ("email", "nul@ministry.example"),
                ("name", "Nul\u{0}Person"),
                ("role", "ministry_reviewer"),
                ("organisation", org.as_str()),
                ("language", "en"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(made.status, 422, "{}", made.body);
    assert!(made.body.contains("href=\"#name\""), "the error names the name input: {}", made.body);
    assert!(made.body.contains("The name must not contain control characters"), "{}", made.body);
    assert!(app.store.user_by_email("nul@ministry.example").await.unwrap().is_none());
    let holiday = admin
        .post_form(
            "/admin/holidays",
            "/admin/holidays/add",
            &[("calendar", "qatar"), ("date", "2031-01-02"), ("name", "Day\u{0}off")],
        )
        .await;
    assert_eq!(holiday.status, 422, "{}", holiday.body);
    assert!(holiday.body.contains("The name must not contain control characters"), "{}", holiday.body);
}

async fn personal_data_and_downloads_are_never_cached(backend: Backend) {
    let app = spawn(backend).await;
    let user = app.user("desk@lahore-soft.example", "applicant", "Lahore Soft").await;
    let token = app.token(&user).await;
    let reference = app.complete_draft(&user, "it-business-visa").await;
    let client = reqwest::Client::new();
    let cache = |r: &reqwest::Response| {
        r.headers().get("cache-control").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    };
    let application = client.get(app.url(&format!("/api/v1/applications/{reference}"))).bearer_auth(&token);
    let r = application.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(cache(&r), "no-store");
    let body: Value = r.json().await.unwrap();
    let doc = body["documents"][0]["id"].as_i64().expect("a document");
    for path in [
        "/api/v1/applications".to_string(),
        format!("/api/v1/applications/{reference}/history"),
        format!("/api/v1/applications/{reference}/documents"),
        format!("/api/v1/applications/{reference}/documents/{doc}"),
    ] {
        let r = client.get(app.url(&path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert_eq!(cache(&r), "no-store", "{path}");
    }
    let refused = client.get(app.url("/api/v1/applications")).send().await.unwrap();
    assert_eq!(cache(&refused), "no-store");
    // The firm's pages and its download.
    let firm = app.signed_in(&user.email).await;
    for path in [format!("/applications/{reference}"), format!("/applications/{reference}/documents/{doc}")] {
        let page = firm.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
    }
    // Public descriptions may be cached.
    let r = client.get(app.url("/api/v1/workflows")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_ne!(cache(&r), "no-store");
}

async fn a_right_to_left_override_is_stripped_from_file_names(backend: Backend) {
    let app = spawn(backend).await;
    let user = app.user("desk@lahore-soft.example", "applicant", "Lahore Soft").await;
    let token = app.token(&user).await;
    let draft = app.engine.create_application(&app.actor(&user), "it-business-visa", &Default::default()).await;
    let reference = draft.expect("draft").record.reference;
    let workflow = app.engine.workflow("it-business-visa").unwrap();
    let kind = workflow.documents.iter().find(|d| d.accept.iter().any(|a| a == "application/pdf")).unwrap();
    let tricky = "invoice\u{202E}fdp.exe\u{2066}\u{200F}";
    let form = reqwest::multipart::Form::new()
        .text("kind", kind.name.clone())
        .part("file", reqwest::multipart::Part::bytes(pdf()).file_name(tricky.to_string()));
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/applications/{reference}/documents")))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let doc: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["filename"], "invoicefdp.exe", "{doc}");
    let r = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/applications/{reference}/documents/{}", doc["id"])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert_eq!(disposition, "attachment; filename=\"invoicefdp.exe\"; filename*=UTF-8''invoicefdp.exe");
}

async fn a_webhook_to_loopback_without_the_allow_list_is_a_failed_delivery_with_the_reason(backend: Backend) {
    // A receiver that would accept anything, on loopback.
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { axum::http::StatusCode::NO_CONTENT }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });

    let env = TestEnv::new(backend).await;
    assert!(env.config.webhooks.allow_private.is_empty(), "the shipped configuration allows nothing");
    let (engine, store) = env.start(std::sync::Arc::new(ManualClock::new())).await;
    let scheduler = startup::build_scheduler(engine.clone(), &env.config).expect("scheduler");
    store
        .enqueue_jobs(vec![NewJob {
            dedup_key: "webhook:loopback".into(),
            application_id: None,
            payload: JobPayload::Webhook(WebhookJob {
                about: None,
                url: url.clone(),
                secret: Some("s3cret".into()),
                event: json!({"type": "application.transition"}),
            }),
            run_at: engine.now(),
            max_attempts: 5,
        }])
        .await
        .unwrap();
    let report = scheduler.run_due_once(engine.now()).await.expect("scheduler pass");
    assert_eq!(report.dead, 1, "refused at once, not retried: {report:?}");
    let dead = store.jobs(Some(JobStatus::Dead), 10).await.unwrap();
    let reason = dead[0].last_error.clone().unwrap_or_default();
    assert!(reason.contains("refused") && reason.contains("loopback") && reason.contains("allow_private"), "{reason}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing reached the receiver");
}

/// The real binary's resident memory, from `/proc/PID/status`, in kB.
fn resident_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number of kB")
}

/// A `corridor serve` child, killed when dropped (also when the test fails).
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 9's acceptance: thirty unfinished anonymous 10 MB posts raise the memory of the real
/// binary by under 20 MB, are closed, and `/healthz` answers throughout. The posts are
/// chunked (no length to refuse them by), so each is read up to the body limit before it is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_unfinished_anonymous_ten_megabyte_posts_raise_memory_by_under_20_mb() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_corridor"))
        .args(["--config", &env.config_path.display().to_string(), "serve"])
        .env("CORRIDOR_BIND", &bind)
        .env("CORRIDOR_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start corridor serve");
    let served = Served(child);
    let base = format!("http://{bind}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "corridor serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = served.0.id();
    let before = resident_kb(pid);
    let chunk = vec![b'x'; 64 * 1024];
    let frame = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk, b"\r\n".to_vec()].concat();
    let mut posts = Vec::new();
    for _ in 0..30 {
        let frame = frame.clone();
        let bind = bind.clone();
        posts.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&bind).await.unwrap();
            s.write_all(b"POST /login HTTP/1.1\r\nHost: corridor\r\nContent-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
            // Up to 10 MB, never the final chunk: the post stays unfinished.
            for _ in 0..160 {
                if s.write_all(&frame).await.is_err() {
                    break;
                }
            }
            s
        }));
    }
    let mut peak = before;
    let mut streams = Vec::new();
    for post in posts {
        streams.push(post.await.unwrap());
        peak = peak.max(resident_kb(pid));
    }
    let probe = Instant::now();
    assert_eq!(reqwest::get(format!("{base}/healthz")).await.unwrap().status().as_u16(), 200);
    assert!(probe.elapsed() < Duration::from_secs(1), "healthz took {:?}", probe.elapsed());
    for s in &mut streams {
        assert!(closed_within(s, Duration::from_secs(10)).await.is_some(), "every post is closed");
    }
    peak = peak.max(resident_kb(pid));
    let grown_mb = peak.saturating_sub(before) as f64 / 1024.0;
    eprintln!("corridor serve: {before} kB resident before, {peak} kB at the peak ({grown_mb:.1} MB more)");
    assert!(grown_mb < 20.0, "memory grew by {grown_mb:.1} MB ({before} kB before, {peak} kB at the peak)");
    drop(served);
}
