//! One test binary for the black-box tests: linked once, and its tests share the test
//! threads instead of running binary after binary. Each module is one former test file; run
//! one with `cargo test --test app ui_http::` (or `store::postgres::` and so on).
//!
//! `tests/multi_instance.rs` stays a binary of its own: it times leases against the wall
//! clock with two `corridor serve` processes and must not share the machine with other tests.

#[path = "../support/mod.rs"]
mod support;

/// Each named scenario `async fn NAME(Backend)` of a module, as one test on SQLite
/// (`MODULE::sqlite::NAME`) and one on PostgreSQL (`MODULE::postgres::NAME`).
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

mod api;
mod audit_tamper;
mod calendars;
mod demo;
mod e2e_admin;
mod e2e_firm;
mod e2e_journey;
mod letters;
mod limits;
mod mail_languages;
mod mail_smtp;
mod need_to_know;
mod password_change;
mod retention;
mod scheduler;
mod second_factor;
mod sessions;
mod store;
mod store_queue;
mod tokens;
mod ui_admin_http;
mod ui_http;
mod ui_languages;
mod ui_login_limits;
mod ui_staff_http;
mod webhook;
mod workflow_check;
mod workflow_content;
mod workflow_versions;
