//! The command line: one clap-derived enum of commands, settings resolved once from flags and
//! the environment, and the mapping from outcomes to exit codes.
//!
//! cutover takes Terraform-style single-dash long flags (`-check`, `-var k=v`, `-json`); they
//! are rewritten to clap's double-dash form before parsing, so both spellings work.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::settings::{ExitStatus, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "cutover",
    version,
    about = "Migrate self-managed Apache Kafka clusters to Amazon MSK, declaratively",
    long_about = "cutover reads HCL that declares a source Kafka cluster, a target MSK cluster, \
                  topics, mirrors, assertions and the secrets applications read; `plan` shows the \
                  change against live state and `apply` carries it out in dependency order.",
    propagate_version = true
)]
pub struct Cli {
    /// Use the configuration in this directory instead of the current one
    #[arg(long, global = true, value_name = "DIR")]
    pub chdir: Option<PathBuf>,

    /// Set a root variable: -var name=value (repeatable; later values win)
    #[arg(long = "var", global = true, value_name = "NAME=VALUE")]
    pub vars: Vec<String>,

    /// Read root variable values from an HCL file of name = value lines (repeatable)
    #[arg(long = "var-file", global = true, value_name = "FILE")]
    pub var_files: Vec<PathBuf>,

    /// Multiply the evaluation budget (values, string bytes, file bytes, module and resource
    /// instances a configuration may produce) by this factor
    #[arg(
        long = "eval-budget",
        global = true,
        value_name = "FACTOR",
        env = "CUTOVER_EVAL_BUDGET",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub eval_budget: u32,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the changes apply would make, against the live objects
    Plan(commands::plan::PlanArgs),
    /// Make the changes: plan and apply after approval, or apply a saved plan
    Apply(commands::apply::ApplyArgs),
    /// Destroy every object cutover manages in this configuration
    Destroy(commands::apply::DestroyArgs),
    /// Show a saved plan (human, -json, -markdown) or, without a file, the state
    Show(commands::show::ShowArgs),
    /// Print the dependency graph as Graphviz DOT
    Graph(commands::graph::GraphArgs),
    /// Read or edit state: list, show, rm
    #[command(subcommand)]
    State(commands::state::StateCommand),
    /// Print the root module's outputs recorded by the last apply
    Output(commands::state::OutputArgs),
    /// Adopt an existing object into state under a configured address
    Import(commands::state::ImportArgs),
    /// Run the embedded mirrors outside an apply: once, or continuously with --follow
    #[command(subcommand)]
    Mirror(commands::mirror::MirrorCommand),
    /// Remove a state lock left behind by a run that died
    ForceUnlock(commands::state::ForceUnlockArgs),
    /// Put a flipped secret back to its previous version (AWSCURRENT to AWSPREVIOUS)
    Rollback(commands::rollback::RollbackArgs),
    /// Run the assertions (or -target assert.NAME) and record their evidence; applies nothing
    Verify(commands::verify::VerifyArgs),
    /// Check a configuration for errors without touching any cluster or AWS account
    Validate(commands::validate::ValidateArgs),
    /// Rewrite configuration files in the canonical format
    Fmt(commands::fmt::FmtArgs),
    /// Show what the providers accept: schema -json prints every schema with its validators
    #[command(subcommand)]
    Providers(commands::providers::ProvidersCommand),
    /// Print the version of cutover and of the bundled librdkafka
    Version,
}

/// Rewrites Terraform-style `-flag` and `-flag=value` to `--flag`; single-letter flags (`-h`,
/// `-V`) and a lone `-` (standard input) are left alone.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest_are_positional = false;
    for arg in args {
        if rest_are_positional || arg == "--" {
            rest_are_positional = true;
            out.push(arg);
            continue;
        }
        let long_single_dash = arg.starts_with('-')
            && !arg.starts_with("--")
            && arg.len() > 2
            && arg[1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && arg[1..].split('=').next().is_some_and(|name| {
                name.len() > 1 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if long_single_dash {
            out.push(format!("-{arg}"));
        } else {
            out.push(arg);
        }
    }
    out
}

/// Parse `std::env::args`, run the command, and return the process exit code.
pub fn run_from_env() -> i32 {
    install_log_subscriber();
    let args = normalize_args(std::env::args());
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => return report_usage_error(error),
    };
    let settings = Settings::resolve(cli.chdir.clone(), cli.eval_budget, &args);
    match run(cli, &settings) {
        Ok(status) => status as i32,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitStatus::Success as i32;
            }
            eprintln!("error: {error:#}");
            ExitStatus::Error as i32
        }
    }
}

/// The filter when neither `CUTOVER_LOG` nor `RUST_LOG` is set: cutover's own warnings, none
/// of its dependencies' chatter.
pub const DEFAULT_LOG_FILTER: &str = "cutover=warn";

/// The log filter: `CUTOVER_LOG`, else `RUST_LOG`, else [`DEFAULT_LOG_FILTER`]. A filter that
/// does not parse is named and the default used instead.
pub fn log_filter(
    cutover_log: Option<&str>,
    rust_log: Option<&str>,
) -> (tracing_subscriber::EnvFilter, Option<String>) {
    use tracing_subscriber::EnvFilter;
    let (variable, text) = match (cutover_log, rust_log) {
        (Some(text), _) if !text.trim().is_empty() => ("CUTOVER_LOG", text),
        (_, Some(text)) if !text.trim().is_empty() => ("RUST_LOG", text),
        _ => return (EnvFilter::new(DEFAULT_LOG_FILTER), None),
    };
    match EnvFilter::builder().parse(text) {
        Ok(filter) => (filter, None),
        Err(error) => (
            EnvFilter::new(DEFAULT_LOG_FILTER),
            Some(format!(
                "{variable}={text:?} is not a log filter ({error}); using {DEFAULT_LOG_FILTER}"
            )),
        ),
    }
}

/// Logs go to stderr, filtered by [`log_filter`]. What cutover logs never carries a sensitive
/// value: librdkafka's lines are scrubbed with the connection's marks before they are logged,
/// and warnings an operator must act on are printed as `warning:` lines in the normal output
/// rather than left to the log.
fn install_log_subscriber() {
    use std::io::IsTerminal as _;
    let cutover_log = std::env::var("CUTOVER_LOG").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, problem) = log_filter(cutover_log.as_deref(), rust_log.as_deref());
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let installed = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(ansi)
        .try_init()
        .is_ok();
    if installed && let Some(problem) = problem {
        eprintln!("warning: {problem}");
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `--help` and `--version` print to stdout and succeed; every other usage error exits 1
/// (clap's own default is 2, which cutover reserves for "changes present").
fn report_usage_error(error: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    let _ = error.print();
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitStatus::Success as i32,
        _ => ExitStatus::Error as i32,
    }
}

pub fn run(cli: Cli, settings: &Settings) -> anyhow::Result<ExitStatus> {
    crate::config::budget::set_factor(settings.eval_budget);
    match &cli.command {
        Command::Plan(args) => commands::plan::run(args, settings),
        Command::Apply(args) => commands::apply::run(args, settings),
        Command::Destroy(args) => commands::apply::run_destroy(args, settings),
        Command::Show(args) => commands::show::run(args, settings),
        Command::Graph(args) => commands::graph::run(args, settings),
        Command::State(command) => commands::state::run_state(command, settings),
        Command::Output(args) => commands::state::run_output(args, settings),
        Command::Import(args) => commands::state::run_import(args, settings),
        Command::Mirror(command) => commands::mirror::run(command, settings),
        Command::ForceUnlock(args) => commands::state::run_force_unlock(args, settings),
        Command::Rollback(args) => commands::rollback::run(args, settings),
        Command::Verify(args) => commands::verify::run(args, settings),
        Command::Validate(args) => commands::validate::run(args, settings),
        Command::Fmt(args) => commands::fmt::run(args),
        Command::Providers(command) => commands::providers::run(command),
        Command::Version => {
            let (_, librdkafka) = rdkafka::util::get_rdkafka_version();
            println!("cutover {}", env!("CARGO_PKG_VERSION"));
            println!("librdkafka {librdkafka}");
            Ok(ExitStatus::Success)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        assert_eq!(
            normalize_args(strings(&[
                "cutover", "fmt", "-check", "-diff", "-", "-c", "-var=a=b", "--", "-x"
            ])),
            strings(&[
                "cutover",
                "fmt",
                "--check",
                "--diff",
                "-",
                "-c",
                "--var=a=b",
                "--",
                "-x"
            ])
        );
    }

    #[test]
    fn the_log_filter_comes_from_cutover_log_then_rust_log_then_the_default() {
        let shown = |cutover: Option<&str>, rust: Option<&str>| {
            let (filter, problem) = log_filter(cutover, rust);
            (filter.to_string(), problem)
        };
        assert_eq!(shown(None, None), (DEFAULT_LOG_FILTER.to_owned(), None));
        assert_eq!(
            shown(Some("debug"), Some("trace")),
            ("debug".to_owned(), None)
        );
        assert_eq!(shown(Some(" "), Some("cutover=info")).0, "cutover=info");
        let (filter, problem) = shown(Some("cutover=loud"), None);
        assert_eq!(filter, DEFAULT_LOG_FILTER);
        let problem = problem.expect("a filter that does not parse is named");
        assert!(
            problem.starts_with("CUTOVER_LOG=\"cutover=loud\" is not a log filter"),
            "{problem}"
        );
    }
}
