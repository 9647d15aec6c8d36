//! One file per command; each takes its parsed arguments and the resolved [`crate::settings::Settings`].

pub mod apply;
pub mod chart;
pub mod common;
pub mod fmt;
pub mod graph;
pub mod mirror;
pub mod plan;
pub mod providers;
pub mod rollback;
pub mod show;
pub mod state;
pub mod validate;
pub mod verify;
