//! Outgoing webhooks: a JSON body, signed with a per-endpoint secret.
//!
//! Each request carries
//!
//! * `X-Corridor-Timestamp: <unix seconds>`
//! * `X-Corridor-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`
//! * `X-Corridor-Delivery: <id>` when the caller gives one (the same on every retry of one
//!   message, so that a receiver can drop duplicates).
//!
//! A receiver recomputes the HMAC over the raw body bytes with the shared secret, compares in
//! constant time ([`verify`]) and refuses timestamps too far from its own clock (replays).
//!
//! URLs and secrets in workflow files may be written `env:NAME`: the value is read from the
//! environment variable `NAME` when the webhook is sent ([`resolve_env`]).
//!
//! Destinations: a webhook never reaches loopback, private, link-local (cloud metadata),
//! unspecified or other special-purpose addresses unless [`Destinations`] (`[webhooks]
//! allow_private`) lists them. The host is resolved here, every address it resolves to is
//! checked, and the request connects only to the checked addresses, so a name that resolves
//! differently a moment later (DNS rebinding) cannot slip through.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::retry::FailureKind;

pub const TIMESTAMP_HEADER: &str = "X-Corridor-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Corridor-Signature";
pub const DELIVERY_HEADER: &str = "X-Corridor-Delivery";

/// Default time allowed for one delivery.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default clock difference a receiver accepts ([`verify`]).
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Hex HMAC-SHA256 over `"{timestamp}.{body}"`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret.as_bytes(), &timestamp.to_string(), body).finalize().into_bytes())
}

/// The value of the `X-Corridor-Signature` header: `sha256=<hex>`.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("sha256={}", sign(secret, timestamp, body))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the timestamp header is missing or not a number of seconds")]
    BadTimestamp,
    #[error("the timestamp is {0} s away from now, more than allowed")]
    Stale(i64),
    #[error("the signature header is not of the form sha256=<hex>")]
    Malformed,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a received webhook: `timestamp` and `header` are the raw header values, `body` the
/// raw body bytes. `header` may hold several comma-separated signatures (secret rotation);
/// one match is enough. The comparison is constant-time.
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    header: &str,
    now: DateTime<Utc>,
    tolerance: chrono::Duration,
) -> Result<(), VerifyError> {
    let ts_text = timestamp.trim();
    let ts: i64 = ts_text.parse().map_err(|_| VerifyError::BadTimestamp)?;
    let skew = now.timestamp().saturating_sub(ts);
    if skew.saturating_abs() > tolerance.num_seconds().saturating_abs() {
        return Err(VerifyError::Stale(skew));
    }
    let mut any_well_formed = false;
    for part in header.split(',') {
        let Some(hex_sig) = part.trim().strip_prefix("sha256=") else { continue };
        let Ok(sig) = hex::decode(hex_sig.trim()) else { continue };
        any_well_formed = true;
        // Sign the canonical number, so that "0100" and "100" are the same timestamp to
        // sender and receiver alike.
        if mac(secret.as_bytes(), &ts.to_string(), body).verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    if any_well_formed { Err(VerifyError::Mismatch) } else { Err(VerifyError::Malformed) }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// `env:NAME` names a variable that is not set, an empty secret, a URL that is not
    /// http(s).
    #[error("webhook configuration: {0}")]
    Config(String),
    /// The receiver answered with a status other than 2xx.
    #[error("webhook receiver answered {status}{}", body_note(.body))]
    Status { status: u16, body: String, retry_after: Option<Duration> },
    #[error("webhook timed out after {0:?}")]
    Timeout(Duration),
    #[error("webhook could not connect: {0}")]
    Connect(String),
    #[error("webhook request failed: {0}")]
    Request(String),
    /// The destination resolves to an address webhooks may not reach.
    #[error("webhook destination refused: {0}")]
    Refused(String),
}

fn body_note(body: &str) -> String {
    if body.is_empty() { String::new() } else { format!(": {body}") }
}

impl WebhookError {
    /// 2xx is success; 408, 429 and 5xx, time-outs and connection failures are worth another
    /// try; other answers and configuration errors are not.
    pub fn kind(&self) -> FailureKind {
        match self {
            WebhookError::Config(_) | WebhookError::Refused(_) => FailureKind::Permanent,
            WebhookError::Status { status, .. } => status_kind(*status),
            WebhookError::Timeout(_) | WebhookError::Connect(_) | WebhookError::Request(_) => FailureKind::Transient,
        }
    }

    pub fn is_transient(&self) -> bool {
        self.kind() == FailureKind::Transient
    }

    /// The receiver's `Retry-After`, in seconds form, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            WebhookError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// How a non-2xx status is classified.
pub fn status_kind(status: u16) -> FailureKind {
    match status {
        408 | 425 | 429 => FailureKind::Transient,
        500..=599 => FailureKind::Transient,
        _ => FailureKind::Permanent,
    }
}

/// `env:NAME` becomes the value of the environment variable `NAME`; anything else is returned
/// as written.
pub fn resolve_env(value: &str) -> Result<String, WebhookError> {
    resolve_with(value, |name| std::env::var(name).ok())
}

/// [`resolve_env`] with a given lookup (tests, or configuration read elsewhere).
pub fn resolve_with(value: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, WebhookError> {
    let Some(name) = value.trim().strip_prefix("env:") else {
        return Ok(value.to_string());
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(WebhookError::Config("`env:` needs a variable name, e.g. env:EMBASSY_WEBHOOK_URL".into()));
    }
    match lookup(name) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(WebhookError::Config(format!("the environment variable {name} is not set"))),
    }
}

/// What kind of special-purpose address `ip` is, if it is one a webhook may not reach
/// without being listed.
pub fn special_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return special_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("the unspecified address")
            } else if first & 0xfe00 == 0xfc00 {
                Some("a private address (fc00::/7)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address (fe80::/10)")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else if first == 0x2001 && v6.segments()[1] == 0x0db8 {
                Some("a documentation address")
            } else if first == 0x0064 && v6.segments()[1] == 0xff9b {
                // NAT64 carries an IPv4 address in its last 32 bits.
                let [.., a, b] = v6.segments();
                special_v4(Ipv4Addr::from(((a as u32) << 16) | b as u32))
            } else {
                None
            }
        }
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() || a == 0 {
        Some("the unspecified address")
    } else if ip.is_private() {
        Some("a private address (RFC 1918)")
    } else if ip.is_link_local() {
        Some("a link-local address (169.254.0.0/16, where cloud metadata lives)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared address (100.64.0.0/10)")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) {
        Some("a documentation or benchmarking address")
    } else {
        None
    }
}

/// One entry of the allow-list: a network, or one address and port.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    Network(ipnet::IpNet),
    Socket(SocketAddr),
}

/// The special-purpose destinations webhooks may reach anyway (`[webhooks] allow_private`).
/// The default allows none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destinations {
    allowed: Vec<Allowed>,
}

impl Destinations {
    /// Entries as the configuration writes them: `10.0.0.5`, `127.0.0.1:9000`, `[::1]:9000`,
    /// `10.20.0.0/16`, `fd00::/8`. The error names the entry that is none of these.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Destinations, String> {
        let mut allowed = Vec::new();
        for entry in entries {
            let entry = entry.as_ref().trim();
            let parsed = if let Ok(net) = entry.parse::<ipnet::IpNet>() {
                Allowed::Network(net)
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                Allowed::Network(ipnet::IpNet::from(ip))
            } else if let Ok(socket) = entry.parse::<SocketAddr>() {
                Allowed::Socket(socket)
            } else {
                return Err(format!(
                    "`{entry}` is not an address, address:port or network (e.g. 127.0.0.1:9000, 10.20.0.0/16)"
                ));
            };
            allowed.push(parsed);
        }
        Ok(Destinations { allowed })
    }

    fn allows(&self, addr: SocketAddr) -> bool {
        self.allowed.iter().any(|a| match a {
            Allowed::Network(net) => net.contains(&addr.ip()),
            Allowed::Socket(s) => *s == addr,
        })
    }

    /// Whether a webhook may connect to `addr`; the error says why not.
    pub fn check(&self, addr: SocketAddr) -> Result<(), WebhookError> {
        match special_address(addr.ip()) {
            Some(what) if !self.allows(addr) => Err(WebhookError::Refused(format!(
                "{addr} is {what}; webhooks reach it only when `[webhooks] allow_private` in the configuration lists it"
            ))),
            _ => Ok(()),
        }
    }

    /// Resolve the URL's host and check every address; the addresses to connect to.
    pub async fn resolve(&self, url: &reqwest::Url) -> Result<Vec<SocketAddr>, WebhookError> {
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(name)) => tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| WebhookError::Connect(format!("cannot resolve {name}: {e}")))?
                .collect(),
            None => return Err(WebhookError::Config("the URL has no host".into())),
        };
        if addrs.is_empty() {
            return Err(WebhookError::Connect(format!("{} resolves to no address", url.host_str().unwrap_or(""))));
        }
        // One refused address refuses the name: which one a connection would take is not ours
        // to choose.
        for addr in &addrs {
            self.check(*addr)?;
        }
        Ok(addrs)
    }
}

/// Sends one signed webhook (timestamp: now; no delivery id).
pub async fn deliver(
    destinations: &Destinations,
    url: &str,
    secret: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<(), WebhookError> {
    deliver_with(destinations, url, secret, body, timeout, None, Utc::now()).await
}

/// Sends one signed webhook. `url` and `secret` may be `env:NAME`. `delivery_id` goes into
/// `X-Corridor-Delivery` (use the job's deduplication key); `now` is the signed timestamp.
/// The destination is checked against `destinations` first, and only the checked addresses
/// are connected to; redirects are not followed and no proxy is used.
pub async fn deliver_with(
    destinations: &Destinations,
    url: &str,
    secret: &str,
    body: &serde_json::Value,
    timeout: Duration,
    delivery_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    let url = resolve_env(url)?;
    let secret = resolve_env(secret)?;
    if secret.is_empty() {
        return Err(WebhookError::Config("the webhook secret is empty".into()));
    }
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| WebhookError::Config(format!("bad URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(WebhookError::Config(format!("the URL must be http or https, not {}", parsed.scheme())));
    }
    let addrs = destinations.resolve(&parsed).await?;
    let mut client = reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none()).no_proxy();
    if let Some(url::Host::Domain(name)) = parsed.host() {
        client = client.resolve_to_addrs(name, &addrs);
    }
    let client = client.build().map_err(|e| WebhookError::Config(format!("HTTP client: {e}")))?;
    let bytes = serde_json::to_vec(body).map_err(|e| WebhookError::Config(format!("body: {e}")))?;
    let ts = now.timestamp();
    let mut request = client
        .post(parsed)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, concat!("Corridor/", env!("CARGO_PKG_VERSION")))
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, signature_header(&secret, ts, &bytes));
    if let Some(id) = delivery_id {
        request = request.header(DELIVERY_HEADER, id);
    }
    let response = match request.body(bytes).send().await {
        Ok(r) => r,
        Err(e) => return Err(classify_reqwest(e, timeout)),
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // A little of the answer helps whoever reads the dead letter; never much of it.
    let text = match tokio::time::timeout(Duration::from_secs(2), response.bytes()).await {
        Ok(Ok(b)) => String::from_utf8_lossy(&b[..b.len().min(300)]).trim().to_string(),
        _ => String::new(),
    };
    Err(WebhookError::Status { status: status.as_u16(), body: text, retry_after })
}

fn classify_reqwest(e: reqwest::Error, timeout: Duration) -> WebhookError {
    let text = error_chain(&e);
    if e.is_timeout() {
        WebhookError::Timeout(timeout)
    } else if e.is_connect() {
        WebhookError::Connect(text)
    } else if e.is_builder() {
        WebhookError::Config(text)
    } else {
        WebhookError::Request(text)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 5, 10, 0, 0).unwrap()
    }

    #[test]
    fn signs_timestamp_dot_body() {
        // Reference value computed independently (Python's hmac module).
        assert_eq!(
            sign("secret", 1_700_000_000, br#"{"a":1}"#),
            "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
        let s = sign("secret", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(s.len(), 64);
        assert!(s.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(s, sign("secret", 1_700_000_001, br#"{"a":1}"#));
        assert_ne!(s, sign("secret2", 1_700_000_000, br#"{"a":1}"#));
        assert!(signature_header("k", 1, b"x").starts_with("sha256="));
    }

    #[test]
    fn verify_accepts_the_right_secret_only() {
        let body = br#"{"event":"enter approved"}"#;
        let ts = now().timestamp();
        let header = signature_header("right", ts, body);
        let tol = chrono::Duration::seconds(300);
        assert_eq!(verify("right", &ts.to_string(), body, &header, now(), tol), Ok(()));
        assert_eq!(verify("wrong", &ts.to_string(), body, &header, now(), tol), Err(VerifyError::Mismatch));
        // A changed body or timestamp fails.
        assert_eq!(verify("right", &ts.to_string(), b"{}", &header, now(), tol), Err(VerifyError::Mismatch));
        assert_eq!(verify("right", &(ts - 1).to_string(), body, &header, now(), tol), Err(VerifyError::Mismatch));
        // Rotation: any of several signatures.
        let both = format!("sha256=00ff, {header}");
        assert_eq!(verify("right", &ts.to_string(), body, &both, now(), tol), Ok(()));
        // Old or future timestamps are refused.
        let old = ts - 301;
        let h = signature_header("right", old, body);
        assert_eq!(verify("right", &old.to_string(), body, &h, now(), tol), Err(VerifyError::Stale(301)));
        let future = ts + 301;
        let h = signature_header("right", future, body);
        assert_eq!(verify("right", &future.to_string(), body, &h, now(), tol), Err(VerifyError::Stale(-301)));
        // Garbage.
        assert_eq!(verify("right", "soon", body, &header, now(), tol), Err(VerifyError::BadTimestamp));
        assert_eq!(verify("right", &ts.to_string(), body, "md5=abc", now(), tol), Err(VerifyError::Malformed));
        assert_eq!(verify("right", &ts.to_string(), body, "sha256=zz", now(), tol), Err(VerifyError::Malformed));
        assert_eq!(verify("right", &ts.to_string(), body, "", now(), tol), Err(VerifyError::Malformed));
        assert_eq!(verify("right", &ts.to_string(), body, "sha256=", now(), tol), Err(VerifyError::Mismatch));
        let _ = verify("", &i64::MIN.to_string(), b"", "sha256=00", now(), chrono::Duration::MIN);
        let _ = verify("", &i64::MAX.to_string(), b"", "sha256=00", DateTime::<Utc>::MIN_UTC, chrono::Duration::MAX);
    }

    #[test]
    fn env_references_resolve() {
        let lookup = |name: &str| match name {
            "HOOK_URL" => Some("http://127.0.0.1:9/hook".to_string()),
            "EMPTY" => Some("  ".to_string()),
            _ => None,
        };
        assert_eq!(resolve_with("env:HOOK_URL", lookup).unwrap(), "http://127.0.0.1:9/hook");
        assert_eq!(resolve_with(" env: HOOK_URL ", lookup).unwrap(), "http://127.0.0.1:9/hook");
        assert_eq!(resolve_with("https://example.org/x", lookup).unwrap(), "https://example.org/x");
        let e = resolve_with("env:MISSING", lookup).unwrap_err();
        assert!(e.to_string().contains("MISSING"), "{e}");
        assert_eq!(e.kind(), FailureKind::Permanent);
        assert!(resolve_with("env:EMPTY", lookup).is_err());
        assert!(resolve_with("env:", lookup).is_err());
    }

    #[test]
    fn statuses_are_classified() {
        for s in [400, 401, 403, 404, 410, 422, 301] {
            assert_eq!(status_kind(s), FailureKind::Permanent, "{s}");
        }
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(status_kind(s), FailureKind::Transient, "{s}");
        }
        let e = WebhookError::Status { status: 503, body: String::new(), retry_after: Some(Duration::from_secs(5)) };
        assert!(e.is_transient());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(5)));
    }

    #[tokio::test]
    async fn bad_urls_are_permanent_and_nothing_is_sent() {
        let allow = Destinations::parse(&["127.0.0.1"]).unwrap();
        let body = serde_json::json!({"a": 1});
        for url in ["not a url", "ftp://127.0.0.1/x", "env:CORRIDOR_TEST_SURELY_UNSET_VARIABLE"] {
            let e = deliver(&allow, url, "s", &body, DEFAULT_TIMEOUT).await.unwrap_err();
            assert_eq!(e.kind(), FailureKind::Permanent, "{url}: {e}");
        }
        let e = deliver(&allow, "http://127.0.0.1:9/", "", &body, DEFAULT_TIMEOUT).await.unwrap_err();
        assert!(matches!(e, WebhookError::Config(_)), "{e}");
    }

    #[test]
    fn special_addresses_are_refused_unless_listed() {
        let none = Destinations::default();
        for addr in [
            "127.0.0.1:80",
            "127.9.9.9:80",
            "10.1.2.3:443",
            "172.16.0.1:443",
            "172.31.255.255:443",
            "192.168.1.1:80",
            "169.254.169.254:80",
            "0.0.0.0:80",
            "100.100.100.200:80",
            "255.255.255.255:80",
            "[::1]:80",
            "[::]:80",
            "[fd00:ec2::254]:80",
            "[fe80::1]:80",
            "[::ffff:127.0.0.1]:80",
            "[::ffff:169.254.169.254]:80",
            "[64:ff9b::a9fe:a9fe]:80",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            let e = none.check(addr).unwrap_err();
            assert_eq!(e.kind(), FailureKind::Permanent, "{addr}");
            assert!(e.to_string().contains("allow_private"), "{e}");
        }
        for addr in ["93.184.215.14:443", "8.8.8.8:53", "172.32.0.1:80", "[2606:4700::1111]:443"] {
            assert!(none.check(addr.parse().unwrap()).is_ok(), "{addr}");
        }
        let some = Destinations::parse(&["127.0.0.1:9000", "10.20.0.0/16", "fd00::/8", "192.168.1.5"]).unwrap();
        assert!(some.check("127.0.0.1:9000".parse().unwrap()).is_ok());
        assert!(some.check("127.0.0.1:9001".parse().unwrap()).is_err());
        assert!(some.check("10.20.3.4:443".parse().unwrap()).is_ok());
        assert!(some.check("10.21.3.4:443".parse().unwrap()).is_err());
        assert!(some.check("[fd12::1]:443".parse().unwrap()).is_ok());
        assert!(some.check("192.168.1.5:8080".parse().unwrap()).is_ok());
        assert!(some.check("169.254.169.254:80".parse().unwrap()).is_err());
        let e = Destinations::parse(&["localhost"]).unwrap_err();
        assert!(e.contains("localhost"), "{e}");
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let url = reqwest::Url::parse("http://localhost:9/hook").unwrap();
        let e = Destinations::default().resolve(&url).await.unwrap_err();
        assert!(matches!(e, WebhookError::Refused(_)), "{e}");
    }
}
