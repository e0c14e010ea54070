//! The one test harness, shared by every test binary (`#[path = "../support/mod.rs"] mod
//! support;`):
//!
//! * [`db`]: a fresh SQLite file or a fresh PostgreSQL database per test, the latter dropped
//!   when the test ends (also when it panicked);
//! * [`app`]: the configuration, the engine and the application on 127.0.0.1:0 as the
//!   binary starts them, with a manual clock; users, tokens, drafts, transitions, the CLI;
//! * [`api`]: the JSON API with bearer tokens; [`http`]: pages, cookies and form tokens;
//! * [`browser`]: headless Chromium with axe-core; [`smtp`]: an SMTP server that records;
//! * [`totp`]: RFC 6238 codes, written apart from the engine's TOTP, for the second factor.
#![allow(dead_code, unused_imports)]

pub mod api;
pub mod app;
pub mod browser;
pub mod db;
pub mod http;
pub mod smtp;
pub mod totp;

pub use app::{TestApp, TestEnv, act, root, spawn, spawn_configured, submitted, user};
pub use browser::{Browser, artifacts_dir, browser};
pub use db::{Backend, TestDatabase};
pub use http::{Http, Page, input_value};

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery staple";

pub fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".to_vec()
}

pub fn png() -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    v.extend_from_slice(&[0u8; 64]);
    v
}
