//! One file per command; each takes its parsed arguments and the resolved [`crate::cli::Settings`].

pub mod fmt;
pub mod validate;
