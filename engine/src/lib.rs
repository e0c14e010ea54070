//! Corridor's engine: workflow model, transitions, storage, time and messages. No HTTP here.

pub mod audit;
pub mod reference;
pub mod store;
pub mod workflow;
