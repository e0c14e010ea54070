//! Workflow files: the checked model, the parser, the linter of meaning and diagrams.

pub mod model;

pub use model::*;
