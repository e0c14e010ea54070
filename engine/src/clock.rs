//! Time as the engine sees it. Production uses the system clock; tests move a manual clock
//! forward by days without sleeping.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock shifted by an offset that tests (or an operator rehearsing deadlines)
/// can move forward.
#[derive(Default)]
pub struct ManualClock {
    offset: Mutex<Duration>,
    fixed: Mutex<Option<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stop the clock at `at`; `advance` then moves it from there.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.fixed.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
    }

    pub fn advance(&self, by: Duration) {
        let mut fixed = self.fixed.lock().unwrap_or_else(|e| e.into_inner());
        match fixed.as_mut() {
            Some(at) => *at += by,
            None => *self.offset.lock().unwrap_or_else(|e| e.into_inner()) += by,
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        if let Some(at) = *self.fixed.lock().unwrap_or_else(|e| e.into_inner()) {
            return at;
        }
        Utc::now() + *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }
}
