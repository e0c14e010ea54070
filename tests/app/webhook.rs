//! Webhooks against a real HTTP receiver on loopback (axum), which checks the signature.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use chrono::Utc;
use corridor_engine::retry::{FailureKind, RetryDecision, RetryPolicy};
use corridor_engine::webhook::{
    self, DELIVERY_HEADER, Destinations, SIGNATURE_HEADER, TIMESTAMP_HEADER, VerifyError, WebhookError, deliver,
    deliver_with,
};
use serde_json::json;

const SECRET: &str = "embassy-shared-secret";

#[derive(Clone, Default)]
struct Receiver {
    /// (verification result, body, delivery id) of each request to /hook.
    seen: Arc<Mutex<Vec<(Result<(), VerifyError>, serde_json::Value, Option<String>)>>>,
    flaky_hits: Arc<AtomicUsize>,
    failing_hits: Arc<AtomicUsize>,
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// Verifies as a real receiver would: raw body bytes, both headers, its own clock.
async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let result = webhook::verify(
        SECRET,
        &header(&headers, TIMESTAMP_HEADER),
        &body,
        &header(&headers, SIGNATURE_HEADER),
        Utc::now(),
        chrono::Duration::seconds(300),
    );
    let value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let id = headers.get(DELIVERY_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let status = if result.is_ok() { StatusCode::NO_CONTENT } else { StatusCode::UNAUTHORIZED };
    r.seen.lock().unwrap().push((result, value, id));
    status
}

async fn failing(State(r): State<Receiver>) -> impl IntoResponse {
    r.failing_hits.fetch_add(1, Ordering::SeqCst);
    (StatusCode::INTERNAL_SERVER_ERROR, "database is down")
}

/// Fails twice, then accepts.
async fn flaky(State(r): State<Receiver>) -> StatusCode {
    if r.flaky_hits.fetch_add(1, Ordering::SeqCst) < 2 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK }
}

async fn slow() -> StatusCode {
    tokio::time::sleep(Duration::from_secs(5)).await;
    StatusCode::OK
}

async fn start() -> (String, Receiver) {
    let receiver = Receiver::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .route("/failing", post(failing))
        .route("/flaky", post(flaky))
        .route("/slow", post(slow))
        .route("/gone", post(|| async { StatusCode::GONE }))
        .route("/busy", post(|| async { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")]) }))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, receiver)
}

/// The receivers here listen on loopback, which webhooks reach only when the configuration
/// lists it (`[webhooks] allow_private`).
fn loopback_allowed() -> Destinations {
    Destinations::parse(&["127.0.0.1"]).expect("allow-list")
}

fn body() -> serde_json::Value {
    json!({"event": "enter approved", "reference": "QA-BV-2026-000123-K", "state": "approved", "version": 4})
}

const TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn the_receiver_verifies_the_signature() {
    let (base, r) = start().await;
    let client = loopback_allowed();
    deliver_with(
        &client,
        &format!("{base}/hook"),
        SECRET,
        &body(),
        TIMEOUT,
        Some("webhook:QA-BV-2026-000123-K:4"),
        Utc::now(),
    )
    .await
    .unwrap();
    let seen = r.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, Ok(()));
    assert_eq!(seen[0].1, body());
    assert_eq!(seen[0].2.as_deref(), Some("webhook:QA-BV-2026-000123-K:4"));
}

#[tokio::test]
async fn a_wrong_secret_is_detected() {
    let (base, r) = start().await;
    let client = loopback_allowed();
    let err = deliver(&client, &format!("{base}/hook"), "not-the-secret", &body(), TIMEOUT).await.unwrap_err();
    assert!(matches!(err, WebhookError::Status { status: 401, .. }), "{err}");
    assert_eq!(err.kind(), FailureKind::Permanent);
    let seen = r.seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, Err(VerifyError::Mismatch));
}

#[tokio::test]
async fn an_old_timestamp_is_refused_by_the_receiver() {
    let (base, r) = start().await;
    let client = loopback_allowed();
    let an_hour_ago = Utc::now() - chrono::Duration::hours(1);
    let err =
        deliver_with(&client, &format!("{base}/hook"), SECRET, &body(), TIMEOUT, None, an_hour_ago).await.unwrap_err();
    assert!(matches!(err, WebhookError::Status { status: 401, .. }), "{err}");
    assert!(matches!(r.seen.lock().unwrap()[0].0, Err(VerifyError::Stale(_))));
}

#[tokio::test]
async fn a_receiver_answering_500_is_a_transient_failure_and_gets_retries() {
    let (base, r) = start().await;
    let client = loopback_allowed();
    let policy = RetryPolicy::default();
    let url = format!("{base}/failing");
    let mut attempt = 0;
    let last = loop {
        attempt += 1;
        let err = deliver(&client, &url, SECRET, &body(), TIMEOUT).await.unwrap_err();
        assert!(matches!(err, WebhookError::Status { status: 500, .. }), "{err}");
        assert!(err.to_string().contains("database is down"), "{err}");
        assert_eq!(err.kind(), FailureKind::Transient);
        // The scheduler would wait until the returned time; this test does not sleep.
        match policy.decide(
            attempt,
            Utc::now(),
            err.kind(),
            err.retry_after().map(|d| chrono::Duration::from_std(d).unwrap()),
        ) {
            RetryDecision::RetryAt(at) => assert!(at > Utc::now()),
            RetryDecision::DeadLetter => break attempt,
        }
    };
    assert_eq!(last, policy.max_attempts);
    assert_eq!(r.failing_hits.load(Ordering::SeqCst), policy.max_attempts as usize);
}

#[tokio::test]
async fn a_flaky_receiver_gets_the_message_on_a_later_try() {
    let (base, r) = start().await;
    let client = loopback_allowed();
    let url = format!("{base}/flaky");
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(deliver(&client, &url, SECRET, &body(), TIMEOUT).await.map_err(|e| e.kind()));
    }
    assert_eq!(outcomes, vec![Err(FailureKind::Transient), Err(FailureKind::Transient), Ok(())]);
    assert_eq!(r.flaky_hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn other_answers_and_network_failures_are_classified() {
    let (base, _r) = start().await;
    let client = loopback_allowed();
    let gone = deliver(&client, &format!("{base}/gone"), SECRET, &body(), TIMEOUT).await.unwrap_err();
    assert_eq!(gone.kind(), FailureKind::Permanent, "{gone}");
    let busy = deliver(&client, &format!("{base}/busy"), SECRET, &body(), TIMEOUT).await.unwrap_err();
    assert_eq!(busy.kind(), FailureKind::Transient, "{busy}");
    assert_eq!(busy.retry_after(), Some(Duration::from_secs(7)));
    let slow =
        deliver(&client, &format!("{base}/slow"), SECRET, &body(), Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(slow, WebhookError::Timeout(_)), "{slow}");
    assert_eq!(slow.kind(), FailureKind::Transient);
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let refused =
        deliver(&client, &format!("http://127.0.0.1:{port}/hook"), SECRET, &body(), TIMEOUT).await.unwrap_err();
    assert!(matches!(refused, WebhookError::Connect(_)), "{refused}");
    assert_eq!(refused.kind(), FailureKind::Transient);
}

#[tokio::test]
async fn loopback_is_refused_without_the_allow_list_and_nothing_is_sent() {
    let (base, r) = start().await;
    let port = base.rsplit(':').next().unwrap().to_string();
    for url in [format!("{base}/hook"), format!("http://localhost:{port}/hook"), format!("http://[::1]:{port}/hook")] {
        let err = deliver(&Destinations::default(), &url, SECRET, &body(), TIMEOUT).await.unwrap_err();
        assert!(matches!(err, WebhookError::Refused(_)), "{url}: {err}");
        assert_eq!(err.kind(), FailureKind::Permanent);
        assert!(err.to_string().contains("loopback") && err.to_string().contains("allow_private"), "{err}");
    }
    // Only the listed port opens the way.
    let other_port = Destinations::parse(&["127.0.0.1:1"]).unwrap();
    assert!(matches!(
        deliver(&other_port, &format!("{base}/hook"), SECRET, &body(), TIMEOUT).await,
        Err(WebhookError::Refused(_))
    ));
    let this_port = Destinations::parse(&[format!("127.0.0.1:{port}")]).unwrap();
    deliver(&this_port, &format!("{base}/hook"), SECRET, &body(), TIMEOUT).await.unwrap();
    assert_eq!(r.seen.lock().unwrap().len(), 1, "only the allowed delivery reached the receiver");
}
