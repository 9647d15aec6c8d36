//! `cutover mirror run [-target ADDR] [--follow]`: runs the embedded mirrors of the
//! configuration outside an apply, for the time between pull requests (until cutover), as
//! workers of each mirror's worker group (any number, on any machines). It works from the
//! configuration and the recorded state, takes no lock and writes no state; SIGTERM or Ctrl-C
//! stops it cleanly (what was sent is flushed or committed first).
//!
//! `cutover mirror worker` (hidden) is one local worker process, started by an apply or a
//! mirror run with `workers` > 1; it reads its spec from stdin.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::common::{LockArgs, engine, report_diagnostics, runtime, shutdown_on_signals};
use crate::engine::planner::{PlanOptions, plan};
use crate::plan::{Action, PlanMode};
use crate::providers::kafka::mirror::{KAFKA_MIRROR, run_mirror};
use crate::settings::{ExitStatus, Settings};

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Copy new records now (until caught up, or continuously with --follow)
    Run(RunArgs),
    /// One local worker process (started by cutover itself; reads its spec from stdin)
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only this kafka_mirror (its address, e.g. kafka_mirror.main); repeatable
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// Keep running until SIGTERM or Ctrl-C
    #[arg(long)]
    pub follow: bool,
    /// How many workers this run starts (default: the mirror's `workers`); a fleet of
    /// machines each runs `mirror run --follow --workers 1`
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: Option<u16>,
    /// Accepted for scripts written for earlier versions, and ignored: workers follow the
    /// source continuously
    #[arg(long, hide = true)]
    pub interval: Option<String>,
}

pub fn run(command: &MirrorCommand, settings: &Settings) -> anyhow::Result<ExitStatus> {
    let args = match command {
        MirrorCommand::Run(args) => {
            if args.interval.is_some() {
                eprintln!(
                    "warning: --interval is no longer needed and is ignored: the mirror's workers follow the source continuously"
                );
            }
            args
        }
        MirrorCommand::Worker => {
            return Ok(if crate::mirror::fleet::worker_main() == 0 {
                ExitStatus::Success
            } else {
                ExitStatus::Error
            });
        }
    };
    runtime()?.block_on(async {
        let engine = engine(settings, 1, &LockArgs::default())?;
        let shutdown = shutdown_on_signals();
        // The configuration as a plan sees it (data sources read, e.g. the topics a module
        // derives from the source), evaluated with what state records; nothing is refreshed.
        let options = PlanOptions {
            mode: PlanMode::Normal,
            refresh: false,
            targets: Vec::new(),
        };
        let planned = plan(&engine, &options, &shutdown).await?;
        if report_diagnostics(&planned.diagnostics) {
            return Ok(ExitStatus::Error);
        }
        let mut mirrors = Vec::new();
        for change in &planned.plan.changes {
            if change.address.type_name != KAFKA_MIRROR
                || change.action == Action::Delete
                || !(args.targets.is_empty() || args.targets.contains(&change.address.to_string()))
            {
                continue;
            }
            let config = match change.action {
                Action::NoOp => change.before.clone(),
                _ => change.after.clone(),
            }
            .unwrap_or_default();
            if change.action == Action::Create {
                anyhow::bail!(
                    "{} has not been applied yet: apply it first (cutover apply), then keep it running with mirror run",
                    change.address
                );
            }
            mirrors.push((change.address.to_string(), config));
        }
        if mirrors.is_empty() {
            anyhow::bail!(if args.targets.is_empty() {
                "the configuration declares no kafka_mirror".to_owned()
            } else {
                format!("no kafka_mirror matches {}", args.targets.join(", "))
            });
        }
        let connections = planned.connections.clone();
        // The mirror's own stop flag. A mirror run is one long operation whose clean end is
        // what the first interrupt asks for: what was sent is flushed or committed first.
        let cancel = Arc::new(AtomicBool::new(false));
        {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                shutdown.stopping().await;
                eprintln!("stopping: flushing what was sent");
                cancel.store(true, Ordering::SeqCst);
            });
        }
        let registry = engine.registry.clone();
        let mut tasks = tokio::task::JoinSet::new();
        for (address, config) in mirrors {
            let provider = registry
                .resource(KAFKA_MIRROR)
                .context("kafka_mirror is not registered")?
                .clone();
            let config = provider.canonical_config(&config).unwrap_or(config);
            let (connections, cancel, follow) = (connections.clone(), cancel.clone(), args.follow);
            let workers = args.workers.map(usize::from);
            tasks.spawn_blocking(move || {
                let label = address.clone();
                let progress: Arc<dyn Fn(&str) + Send + Sync> =
                    Arc::new(move |line: &str| eprintln!("{label}: {line}"));
                let result = run_mirror(&connections, &config, follow, workers, &cancel, progress);
                (address, result)
            });
        }
        let mut failed = false;
        while let Some(joined) = tasks.join_next().await {
            let (address, result) = joined.context("a mirror task failed")?;
            match result {
                Ok(records) => println!("{address}: {records} records copied"),
                Err(crate::providers::ProviderError::Cancelled) => {
                    println!("{address}: stopped");
                }
                Err(error) => {
                    eprintln!("error: {address}: {error}");
                    failed = true;
                    cancel.store(true, Ordering::SeqCst);
                }
            }
        }
        Ok(if failed {
            ExitStatus::Error
        } else {
            ExitStatus::Success
        })
    })
}
