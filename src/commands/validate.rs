//! `cutover validate`: load, parse, evaluate and check a configuration against the provider
//! schemas, with no network access; report every problem. Variables without a value are
//! unknown (as in Terraform); values given in `cutover.vars.hcl`, `*.auto.vars.hcl`, `-var`,
//! `-var-file` or `CUTOVER_VAR_*` are checked against their types and validation rules.

use std::io::Write as _;

use crate::config::{self, EvalMode};
use crate::providers::Registry;
use crate::settings::{ExitStatus, Settings};

#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// Print the result as JSON (`valid`, counts, each diagnostic with its range)
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ValidateArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    let registry = Registry::builtin();
    let loaded = config::load_and_evaluate(
        &settings.config_dir,
        &settings.environment_vars,
        &settings.command_line_vars,
        &registry,
        EvalMode::Validate,
    );
    let base = std::env::current_dir().ok();
    let mut diagnostics = loaded.diagnostics;
    diagnostics.extend(crate::engine::backend_warnings(&settings.config_dir));
    if args.json {
        let json = diagnostics.to_json(base.as_deref());
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        if !diagnostics.is_empty() {
            eprint!("{}", diagnostics.render(base.as_deref()));
            eprintln!();
        }
        if diagnostics.has_errors() {
            eprintln!(
                "{} error{}, {} warning{}: the configuration is not valid",
                diagnostics.error_count(),
                if diagnostics.error_count() == 1 {
                    ""
                } else {
                    "s"
                },
                diagnostics.warning_count(),
                if diagnostics.warning_count() == 1 {
                    ""
                } else {
                    "s"
                },
            );
        } else {
            println!("Success! The configuration is valid.");
        }
    }
    Ok(if diagnostics.has_errors() {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}
