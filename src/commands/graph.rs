//! `cutover graph [-type plan|destroy]`: the dependency graph of the configuration as DOT
//! (pipe it to `dot -Tsvg`).

use crate::config::{self, EvalMode};
use crate::graph::{Graph, Ordering};
use crate::providers::Registry;
use crate::settings::{ExitStatus, Settings};

#[derive(Debug, Clone, clap::Args)]
pub struct GraphArgs {
    /// Edge direction: plan (what depends on what) or destroy (reverse)
    #[arg(long = "type", value_enum, default_value = "plan")]
    pub ordering: Ordering,
}

pub fn run(args: &GraphArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    let registry = Registry::builtin();
    let loaded = config::load_and_evaluate(
        &settings.config_dir,
        &settings.environment_vars,
        &settings.command_line_vars,
        &registry,
        EvalMode::Validate,
    );
    if super::common::report_diagnostics(&loaded.diagnostics) {
        return Ok(ExitStatus::Error);
    }
    let Some(configuration) = loaded.configuration else {
        return Ok(ExitStatus::Error);
    };
    print!(
        "{}",
        Graph::from_configuration(&configuration).to_dot(args.ordering)
    );
    Ok(ExitStatus::Success)
}
