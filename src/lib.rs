//! The `corridor` application: configuration, start-up and demo data, shared by the CLI and
//! the black-box tests.

pub mod config;
pub mod demo;
pub mod scheduler_cli;
pub mod startup;
