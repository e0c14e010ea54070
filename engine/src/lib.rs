//! Corridor's engine: workflow model, transitions, storage, time and messages. No HTTP here.

pub mod actor;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod mail;
pub mod retry;
pub mod webhook;
pub mod clock;
pub mod countries;
pub mod error;
pub mod fields;
pub mod reference;
pub mod store;
pub mod workflow;
