//! When to try a failed delivery again: exponential backoff with full jitter, and when to give
//! up and keep the job as a dead letter.
//!
//! Attempt `k` (1 = the first try, which failed) waits a random time between one second and
//! `min(max, base * 2^(k-1))` ("full jitter"), so that many jobs failing together do not retry
//! together. A receiver's `Retry-After` hint, when given, is a floor.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Connection refused, timeout, 4xx SMTP reply, HTTP 5xx/408/429: retry later.
    Transient,
    /// Rejected address, 5xx SMTP reply, HTTP 4xx: retrying will not help; dead letter now.
    Permanent,
}

/// Default number of tries (the first one included) before a job becomes a dead letter.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// Default first backoff ceiling.
pub const DEFAULT_BASE_SECONDS: i64 = 30;
/// Default longest wait between two tries.
pub const DEFAULT_MAX_SECONDS: i64 = 3600;

/// The smallest wait, so that a retry never spins.
const MIN_WAIT_MS: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    /// Tries in all, the first included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 8 tries, waits growing from up to 30 s to up to an hour: about 2 hours 10 minutes in
    /// the worst case before a dead letter.
    fn default() -> Self {
        RetryPolicy {
            base: Duration::seconds(DEFAULT_BASE_SECONDS),
            max: Duration::seconds(DEFAULT_MAX_SECONDS),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// What to do after a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAt(DateTime<Utc>),
    DeadLetter,
}

impl RetryPolicy {
    /// After try number `attempt` (1-based) failed with `kind`: when to try again, or give up.
    /// `retry_after` is the receiver's hint (HTTP `Retry-After`), used as a floor.
    pub fn decide(
        &self,
        attempt: u32,
        now: DateTime<Utc>,
        kind: FailureKind,
        retry_after: Option<Duration>,
    ) -> RetryDecision {
        if kind == FailureKind::Permanent || attempt >= self.max_attempts {
            return RetryDecision::DeadLetter;
        }
        let at = next_attempt_at(attempt, now, self.base, self.max);
        let at = match retry_after.and_then(|hint| now.checked_add_signed(hint.min(self.max))) {
            Some(floor) if floor > at => floor,
            _ => at,
        };
        RetryDecision::RetryAt(at)
    }
}

/// The upper bound of the wait after try `attempt`: `min(max, base * 2^(attempt-1))`, never
/// below one second.
pub fn backoff_ceiling(attempt: u32, base: Duration, max: Duration) -> Duration {
    let base_ms = base.num_milliseconds().max(MIN_WAIT_MS);
    let max_ms = max.num_milliseconds().max(MIN_WAIT_MS);
    let exp = attempt.saturating_sub(1).min(62);
    let ms = base_ms.checked_mul(1i64 << exp).unwrap_or(i64::MAX).min(max_ms);
    Duration::milliseconds(ms)
}

/// When to try again after try `attempt` (1-based) failed: `now` plus a uniformly random
/// wait in `[1 s, backoff_ceiling]` (full jitter).
pub fn next_attempt_at(attempt: u32, now: DateTime<Utc>, base: Duration, max: Duration) -> DateTime<Utc> {
    next_attempt_at_with(&mut rand::rng(), attempt, now, base, max)
}

/// [`next_attempt_at`] with a given random source (tests use a seeded one).
pub fn next_attempt_at_with<R: Rng + ?Sized>(
    rng: &mut R,
    attempt: u32,
    now: DateTime<Utc>,
    base: Duration,
    max: Duration,
) -> DateTime<Utc> {
    let ceiling = backoff_ceiling(attempt, base, max).num_milliseconds();
    let wait = if ceiling <= MIN_WAIT_MS { MIN_WAIT_MS } else { rng.random_range(MIN_WAIT_MS..=ceiling) };
    now.checked_add_signed(Duration::milliseconds(wait)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 5, 10, 0, 0).unwrap()
    }

    #[test]
    fn ceiling_doubles_up_to_the_maximum() {
        let base = Duration::seconds(30);
        let max = Duration::seconds(3600);
        let secs: Vec<i64> = (1..=10).map(|a| backoff_ceiling(a, base, max).num_seconds()).collect();
        assert_eq!(secs, vec![30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(backoff_ceiling(0, base, max).num_seconds(), 30);
        assert_eq!(backoff_ceiling(u32::MAX, base, max).num_seconds(), 3600);
        // Zero or negative settings still wait a second.
        assert_eq!(backoff_ceiling(3, Duration::zero(), Duration::seconds(-5)).num_seconds(), 1);
    }

    #[test]
    fn full_jitter_stays_within_bounds_and_spreads() {
        let mut rng = StdRng::seed_from_u64(7);
        let base = Duration::seconds(30);
        let max = Duration::seconds(3600);
        for attempt in 1..12 {
            let ceiling = backoff_ceiling(attempt, base, max);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..200 {
                let at = next_attempt_at_with(&mut rng, attempt, now(), base, max);
                assert!(at >= now() + Duration::seconds(1), "attempt {attempt}");
                assert!(at <= now() + ceiling, "attempt {attempt}");
                seen.insert(at);
            }
            assert!(seen.len() > 50, "jitter spreads retries (attempt {attempt})");
        }
        // With the thread rng too.
        let at = next_attempt_at(3, now(), base, max);
        assert!(at > now() && at <= now() + Duration::seconds(120));
        // No overflow at the end of time.
        let _ = next_attempt_at(3, DateTime::<Utc>::MAX_UTC, base, max);
    }

    #[test]
    fn policy_gives_up_after_the_last_try_or_on_a_permanent_failure() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert!(matches!(p.decide(1, now(), FailureKind::Transient, None), RetryDecision::RetryAt(t) if t > now()));
        assert!(matches!(p.decide(7, now(), FailureKind::Transient, None), RetryDecision::RetryAt(_)));
        assert_eq!(p.decide(8, now(), FailureKind::Transient, None), RetryDecision::DeadLetter);
        assert_eq!(p.decide(1, now(), FailureKind::Permanent, None), RetryDecision::DeadLetter);
        // Retry-After is a floor, capped by the maximum wait.
        let RetryDecision::RetryAt(t) = p.decide(1, now(), FailureKind::Transient, Some(Duration::seconds(600))) else {
            panic!()
        };
        assert_eq!(t, now() + Duration::seconds(600));
        let RetryDecision::RetryAt(t) = p.decide(1, now(), FailureKind::Transient, Some(Duration::days(30))) else {
            panic!()
        };
        assert_eq!(t, now() + Duration::seconds(3600));
    }

    #[test]
    fn failure_kind_serialises_in_snake_case() {
        assert_eq!(serde_json::to_string(&FailureKind::Transient).unwrap(), "\"transient\"");
        assert_eq!(serde_json::to_string(&FailureKind::Permanent).unwrap(), "\"permanent\"");
    }
}
