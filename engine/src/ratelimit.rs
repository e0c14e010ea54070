//! A fixed-window counter per key (client address, account). In memory: each instance limits
//! on its own, which bounds guessing well enough for sign-in and a public status page.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter { limit, window, windows: Mutex::new(HashMap::new()) }
    }

    /// Count one attempt; false when the key is over its limit for this window.
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.limit
    }

    /// Take back one counted attempt: it turned out well (a right password), and a busy
    /// office behind one address must not lock itself out by signing in.
    pub fn forgive(&self, key: &str) {
        if let Some(entry) = self.windows.lock().unwrap_or_else(|e| e.into_inner()).get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    /// Forget a key (e.g. after a successful login).
    pub fn reset(&self, key: &str) {
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}
