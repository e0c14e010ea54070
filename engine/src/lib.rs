//! Corridor's engine: workflow model, transitions, storage, time and messages. No HTTP here.

pub mod actor;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod clock;
pub mod countries;
pub mod error;
pub mod fields;
pub mod holidays;
pub mod mail;
pub mod model;
pub mod queue;
pub mod reference;
pub mod registry;
pub mod retry;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod transition;
pub mod webhook;
pub mod workflow;
