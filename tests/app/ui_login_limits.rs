//! Sign-in throttling that cannot be turned against users (`corridor_engine::auth`): per
//! (account, client address) pair, 3 free failures and then waits of 1 s, 2 s, 4 s ... (at
//! most 15 minutes); per address, after 50 failures in 15 minutes only the accounts that
//! signed in from it before may try. Clients come from different loopback addresses
//! (127.0.0.N), so the server sees different client addresses. And the guard before sign-in:
//! an oversized anonymous post is refused before its body is read.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::support::{self, Backend, PASSWORD};

on_both!(
    twenty_wrong_passwords_from_one_address_do_not_stop_the_right_password_from_another,
    the_waits_grow_after_three_failures_and_the_right_password_works_after_the_wait,
    an_address_over_its_ceiling_keeps_the_accounts_that_signed_in_from_it,
    many_successful_sign_ins_from_one_address_are_not_limited,
);

async fn try_password(http: &support::Http, email: &str, password: &str) -> support::Page {
    http.post_form("/login", "/login", &[("email", email), ("password", password)]).await
}

async fn twenty_wrong_passwords_from_one_address_do_not_stop_the_right_password_from_another(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user("reviewer@moci.example", "ministry_reviewer", "Ministry").await;
    app.user("colleague@moci.example", "ministry_reviewer", "Ministry").await;
    let attacker = app.http_from(2);
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(try_password(&attacker, "reviewer@moci.example", "Winter2026!").await.status);
    }
    assert_eq!(&statuses[..3], &[422; 3], "three failures are answered normally");
    assert!(statuses[3..].iter().all(|s| *s == 429 || *s == 422), "{statuses:?}");
    assert!(statuses.contains(&429), "the attacker is slowed down: {statuses:?}");
    // The attacker's own address waits, even with the right password...
    let refused = try_password(&attacker, "reviewer@moci.example", PASSWORD).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.body.contains("Too many sign-in attempts"));
    let wait: u64 = refused.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=15 * 60).contains(&wait), "{wait}");
    // ...but the reviewer, from their own address, signs in at once,
    let reviewer = app.http_from(3);
    let page = try_password(&reviewer, "reviewer@moci.example", PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(reviewer.get("/queue").await.status, 200);
    // and other accounts from the attacker's address are not affected.
    assert_eq!(try_password(&app.http_from(2), "colleague@moci.example", PASSWORD).await.status, 303);
}

async fn the_waits_grow_after_three_failures_and_the_right_password_works_after_the_wait(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user("bilal@firm.example", "applicant", "Karachi Soft").await;
    let http = app.http();
    for i in 0..3 {
        assert_eq!(try_password(&http, "bilal@firm.example", "nope").await.status, 422, "failure {i}");
    }
    let mut waits = Vec::new();
    for _ in 0..3 {
        // Straight after a failure: refused, even with the right password, with the wait.
        let refused = try_password(&http, "BILAL@firm.example", PASSWORD).await;
        assert_eq!(refused.status, 429, "the pair is the account in any case: {}", refused.body);
        assert!(refused.body.contains("Wait"), "the page says to wait");
        let wait: u64 = refused.header("retry-after").expect("Retry-After").parse().expect("seconds");
        waits.push(wait);
        tokio::time::sleep(Duration::from_millis(wait * 1000 + 100)).await;
        assert_eq!(try_password(&http, "bilal@firm.example", "nope").await.status, 422, "answered after the wait");
    }
    assert_eq!(waits, [1, 2, 4], "each failure doubles the wait");
    tokio::time::sleep(Duration::from_millis(8100)).await;
    // After the wait the right password works, and clears the count.
    assert_eq!(try_password(&http, "bilal@firm.example", PASSWORD).await.status, 303);
    let again = app.http();
    for i in 0..3 {
        assert_eq!(try_password(&again, "bilal@firm.example", "nope").await.status, 422, "free again: {i}");
    }
}

async fn an_address_over_its_ceiling_keeps_the_accounts_that_signed_in_from_it(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user("desk@office.example", "applicant", "Office Firm").await;
    app.user("newcomer@office.example", "applicant", "Office Firm").await;
    // Someone at the office signed in before.
    assert_eq!(try_password(&app.http_from(4), "desk@office.example", PASSWORD).await.status, 303);
    // Fifty wrong guesses from the office's address, each on another account.
    let guesser = app.http_from(4);
    for i in 0..50 {
        let email = format!("guess{i}@office.example");
        assert_eq!(try_password(&guesser, &email, "nope").await.status, 422, "guess {i}");
    }
    // An account that never signed in from there must wait...
    let refused = try_password(&app.http_from(4), "newcomer@office.example", PASSWORD).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.header("retry-after").is_some());
    // ...the account that did still signs in there, and the newcomer does from elsewhere.
    assert_eq!(try_password(&app.http_from(4), "desk@office.example", PASSWORD).await.status, 303);
    assert_eq!(try_password(&app.http_from(5), "newcomer@office.example", PASSWORD).await.status, 303);
}

async fn many_successful_sign_ins_from_one_address_are_not_limited(backend: Backend) {
    let app = support::spawn(backend).await;
    app.user("desk@firm.example", "applicant", "Busy Firm").await;
    for i in 0..60 {
        assert_eq!(try_password(&app.http(), "desk@firm.example", PASSWORD).await.status, 303, "sign-in {i}");
    }
}

/// An e-mail field longer than any address is refused before anything else, with a message.
#[tokio::test]
async fn an_overlong_email_address_is_refused_early() {
    let app = support::spawn(Backend::Sqlite).await;
    let long = format!("{}@firm.example", "a".repeat(300));
    let page = try_password(&app.http(), &long, "whatever it is").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("at most 254 characters"), "{}", page.body);
    assert!(!page.body.contains(&long), "the address is not echoed back");
}

/// An anonymous post to /login over the sign-in form's limit (64 KiB) but under the server's
/// (256 KiB; larger declared bodies are the `limits` tests') is answered before its body is
/// sent: 413 with a pre-sign-in cookie, 403 without one; the server never waits for the body.
#[tokio::test]
async fn an_anonymous_post_over_the_sign_in_limit_is_refused_without_being_read() {
    let app = support::spawn(Backend::Sqlite).await;
    let http = app.http();
    let login = http.get("/login").await;
    let cookie = login.set_cookie("corridor_csrf").expect("pre-sign-in cookie");
    let address = app.base.trim_start_matches("http://").to_string();
    for (what, cookie_header, expected) in [
        ("with the pre-sign-in cookie", format!("Cookie: corridor_csrf={cookie}\r\n"), 413),
        ("without", String::new(), 403),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
        let head = format!(
            "POST /login HTTP/1.1\r\nHost: {address}\r\nOrigin: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: 200000\r\n{cookie_header}\r\n",
            app.base
        );
        stream.write_all(head.as_bytes()).await.expect("send the head");
        stream.write_all(b"csrf=").await.expect("send the first bytes");
        // Nothing more is sent: the answer must come anyway.
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer before the body"))
            .expect("read");
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(text.starts_with(&format!("HTTP/1.1 {expected}")), "{what}: {text}");
    }
    assert_eq!(app.http().get("/healthz").await.status, 200);
}

/// The resident memory of a process, in KiB (`VmRSS` in /proc).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// 80 sign-ins with distinct 1 MB e-mail addresses, against the real binary: half with their
/// length declared, half chunked (so the guard reads the start and the handler hits the
/// limit), each with a valid pre-sign-in cookie and token. The server's resident memory grows
/// by under 5 MB, and it keeps answering. Then 30 unfinished 10 MB posts: under 20 MB more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eighty_sign_ins_with_one_megabyte_addresses_cost_under_five_megabytes() {
    let env = support::TestEnv::new(Backend::Sqlite).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_corridor"))
        .arg("--config")
        .arg(&env.config_path)
        .arg("serve")
        .current_dir(support::root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start corridor serve");
    let pid = child.id().expect("pid");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the server starts")
            .expect("read")
            .expect("a line");
        if let Some(rest) = line.strip_prefix("Corridor is running at ") {
            break rest.split_whitespace().next().expect("address").trim_end_matches('/').to_string();
        }
    };
    let http = support::Http::new(&base);
    let login = http.get("/login").await;
    let token = login.csrf().expect("token");
    let cookie = login.set_cookie("corridor_csrf").expect("pre-sign-in cookie");
    // Warm up: a few ordinary requests, so that start-up allocations are behind us.
    for _ in 0..5 {
        http.post_form("/login", "/login", &[("email", "warm@firm.example"), ("password", "x")]).await;
    }
    let before = rss_kib(pid);
    let address = base.trim_start_matches("http://").to_string();
    for i in 0..80 {
        let email = format!("{i:04}{}@firm.example", "a".repeat(1 << 20));
        let body = format!("csrf={token}&email={email}&password=whatever");
        if i % 2 == 0 {
            let page = http
                .client
                .post(format!("{base}/login"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", base.as_str())
                .header("cookie", format!("corridor_csrf={cookie}"))
                .body(body)
                .send()
                .await;
            // The server may answer and close before the whole body is sent.
            if let Ok(r) = page {
                assert_eq!(r.status().as_u16(), 413, "post {i}");
            }
        } else {
            let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
            let head = format!(
                "POST /login HTTP/1.1\r\nHost: {address}\r\nOrigin: {base}\r\nCookie: corridor_csrf={cookie}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await.expect("head");
            for chunk in body.as_bytes().chunks(64 * 1024) {
                let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
                if stream.write_all(&framed).await.is_err() {
                    break;
                }
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
            let mut answer = vec![0u8; 512];
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
                .await
                .expect("an answer")
                .unwrap_or(0);
            let text = String::from_utf8_lossy(&answer[..n]);
            assert!(text.starts_with("HTTP/1.1 413"), "post {i}: {text}");
        }
    }
    let after = rss_kib(pid);
    let grown = after.saturating_sub(before);
    println!("80 sign-ins: VmRSS before {before} KiB, after {after} KiB: +{grown} KiB");
    assert!(grown < 5 * 1024, "memory grew by {grown} KiB");

    // 30 unfinished anonymous 10 MB posts: the head and 1 MB, then nothing. Each is answered
    // at once, and none is kept in memory.
    let mut open = Vec::new();
    for i in 0..30 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
        let head = format!(
            "POST /login HTTP/1.1\r\nHost: {address}\r\nOrigin: {base}\r\nCookie: corridor_csrf={cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10485760\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("head");
        let _ = stream.write_all(&vec![b'a'; 1 << 20]).await;
        let mut answer = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
            .await
            .expect("an answer")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(text.starts_with("HTTP/1.1 413"), "post {i}: {text}");
        open.push(stream);
    }
    let unfinished = rss_kib(pid);
    println!("30 unfinished 10 MB posts: VmRSS {unfinished} KiB: +{} KiB", unfinished.saturating_sub(after));
    assert!(unfinished.saturating_sub(after) < 20 * 1024, "memory grew to {unfinished} KiB");
    assert_eq!(http.get("/healthz").await.status, 200);
    child.kill().await.expect("stop");
}
