//! Limits kept in memory, in bounded space: every key is stored as a 16-byte digest of what
//! it names (so a 1 MB e-mail address costs what a short one does), and each map holds at
//! most a fixed number of keys. When a map is full, the entries that ran out go first, then
//! the oldest half. Each instance limits on its own, which bounds guessing well enough for
//! sign-in and the public status look-up.
//!
//! The `governor` crate was considered: its keyed limiters hold every key as given, grow
//! until `retain_recent` is called, and do only token buckets, while sign-in needs
//! exponential delays per (account, address) pair. One small map serves both here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// A key as the maps hold it: the first 16 bytes of SHA-256 over its parts.
pub type Key = [u8; 16];

/// The digest of a key made of `parts` (a separator between them, so `("ab", "c")` and
/// `("a", "bc")` differ).
pub fn key(parts: &[&[u8]]) -> Key {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// A map of at most `cap` keys, each with a value and the instant it was last written.
pub struct BoundedMap<V> {
    cap: usize,
    /// Entries untouched this long are dropped first when the map is full.
    expiry: Duration,
    entries: Mutex<HashMap<Key, (Instant, V)>>,
}

impl<V: Clone> BoundedMap<V> {
    pub fn new(cap: usize, expiry: Duration) -> Self {
        BoundedMap { cap: cap.max(2), expiry, entries: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Instant, V)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of `key` and when it was written, unless it expired.
    pub fn get(&self, key: &Key) -> Option<(Instant, V)> {
        let now = Instant::now();
        self.lock().get(key).filter(|(at, _)| now.duration_since(*at) < self.expiry).cloned()
    }

    /// Change (or create, from `default`) the value of `key`, stamped now; returns the new value.
    pub fn update(&self, key: Key, default: V, change: impl FnOnce(&mut V)) -> V {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= self.cap && !entries.contains_key(&key) {
            make_room(&mut entries, self.cap, self.expiry, now);
        }
        let entry = entries.entry(key).or_insert((now, default.clone()));
        if now.duration_since(entry.0) >= self.expiry {
            entry.1 = default;
        }
        entry.0 = now;
        change(&mut entry.1);
        entry.1.clone()
    }

    pub fn remove(&self, key: &Key) {
        self.lock().remove(key);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drop what expired; if that is not enough, the older half.
fn make_room<V>(entries: &mut HashMap<Key, (Instant, V)>, cap: usize, expiry: Duration, now: Instant) {
    entries.retain(|_, (at, _)| now.duration_since(*at) < expiry);
    if entries.len() >= cap {
        let mut stamps: Vec<Instant> = entries.values().map(|(at, _)| *at).collect();
        let middle = stamps.len() / 2;
        let (_, median, _) = stamps.select_nth_unstable(middle);
        let median = *median;
        entries.retain(|_, (at, _)| *at > median);
    }
}

/// A fixed-window counter per key (e.g. public status look-ups per client address).
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    /// (window start, count); the map's own stamp is the last attempt.
    windows: BoundedMap<(Instant, u32)>,
}

/// Keys one limiter keeps at most (about 5 MB when full).
pub const MAX_KEYS: usize = 100_000;

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter { limit, window, windows: BoundedMap::new(MAX_KEYS, window) }
    }

    /// Count one attempt; false when the key is over its limit for this window.
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let window = self.window;
        let (_, count) = self.windows.update(self::key(&[key.as_bytes()]), (now, 0), |(start, count)| {
            if now.duration_since(*start) >= window {
                *start = now;
                *count = 0;
            }
            *count = count.saturating_add(1);
        });
        count <= self.limit
    }

    /// Forget a key.
    pub fn reset(&self, key: &str) {
        self.windows.remove(&self::key(&[key.as_bytes()]));
    }

    /// How many keys are held (for the tests of the bound).
    pub fn keys(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_keeps_its_bound_and_its_newest_keys() {
        let map: BoundedMap<u32> = BoundedMap::new(100, Duration::from_secs(3600));
        for i in 0..1000u32 {
            map.update(key(&[&i.to_be_bytes()]), 0, |v| *v += 1);
            assert!(map.len() <= 100);
        }
        assert!(map.get(&key(&[&999u32.to_be_bytes()])).is_some(), "the newest key is kept");
    }

    #[test]
    fn keys_of_any_length_cost_the_same() {
        let long = "x".repeat(1 << 20);
        assert_eq!(key(&[long.as_bytes()]).len(), 16);
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
    }

    #[test]
    fn the_fixed_window_counts_per_key() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.allow("a") && limiter.allow("a"));
        assert!(!limiter.allow("a"));
        assert!(limiter.allow("b"));
        limiter.reset("a");
        assert!(limiter.allow("a"));
    }
}
