//! The configuration language: load `*.hcl` files and modules, parse them with `hcl-edit`
//! (keeping spans), evaluate expressions into [`value::Value`]s with unknown and sensitive
//! marks, and validate blocks against provider schemas. Does no I/O beyond reading the
//! configuration's own files.

pub mod body;
pub mod budget;
pub mod connections;
pub mod decode;
pub mod eval;
pub mod evaluate;
pub mod format;
pub mod functions;
pub mod identity;
pub mod inputs;
pub mod load;
pub mod model;
pub mod parse;
pub mod redact;
pub mod references;
pub mod schema;
pub mod types;
pub mod validate;
pub mod value;

use std::path::Path;

pub use evaluate::{Configuration, EvalMode};

use crate::diagnostics::Diagnostics;
use schema::SchemaSource;

/// The result of loading and evaluating a configuration directory.
pub struct Loaded {
    pub configuration: Option<Configuration>,
    pub diagnostics: Diagnostics,
}

/// Loads the configuration in `dir` with its modules, gathers variable values and evaluates
/// everything. Diagnostics from every stage are collected; evaluation still runs when loading
/// found problems in some files, so one run reports as much as it can.
pub fn load_and_evaluate(
    dir: &Path,
    environment: &[(String, String)],
    command_line: &[inputs::CommandLineVar],
    schemas: &dyn SchemaSource,
    mode: EvalMode,
) -> Loaded {
    let (tree, mut diagnostics) = load::load(dir);
    let Some(tree) = tree else {
        return Loaded {
            configuration: None,
            diagnostics,
        };
    };
    let (inputs, input_diagnostics) = inputs::collect(dir, environment, command_line);
    diagnostics.extend(input_diagnostics);
    let (configuration, evaluation_diagnostics) =
        evaluate::evaluate_configuration(&tree, &inputs, schemas, mode);
    diagnostics.extend(evaluation_diagnostics);
    diagnostics.sort();
    Loaded {
        configuration: Some(configuration),
        diagnostics,
    }
}
