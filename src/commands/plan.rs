//! `cutover plan`: show what `apply` would change, optionally saving the plan for
//! `apply FILE`. With `-detailed-exitcode`: 0 no changes, 1 error, 2 changes present.

use std::path::PathBuf;

use super::common::{LockArgs, engine, lock, report_diagnostics, runtime, shutdown_on_signals};
use crate::engine::Engine;
use crate::engine::planner::{PlanOptions, Planned, plan};
use crate::engine::saved::{SAVED_PLAN_FORMAT, SavedPlan, saved_changes, variables_hash};
use crate::plan::PlanMode;
use crate::plan::render::{HumanOptions, render_human};
use crate::settings::{ExitStatus, Settings};
use crate::state::CUTOVER_VERSION;

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Save the plan to this file, for `cutover apply FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 with no changes, 2 with changes, 1 on error
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub common: PlanFlags,
}

/// Flags shared by `plan` and `apply`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanFlags {
    /// Limit the plan to this resource (and what it depends on); repeatable
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    /// Read the live objects before planning (-refresh=false skips it)
    #[arg(
        long,
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub refresh: bool,
    /// Only record changes made outside cutover in state; change nothing
    #[arg(long = "refresh-only")]
    pub refresh_only: bool,
    /// Plan to destroy every object in state
    #[arg(long)]
    pub destroy: bool,
    /// How many provider operations may run at once
    #[arg(long, default_value_t = 10)]
    pub parallelism: usize,
    #[command(flatten)]
    pub lock: LockArgs,
}

impl PlanFlags {
    pub fn options(&self) -> PlanOptions {
        PlanOptions {
            mode: if self.destroy {
                PlanMode::Destroy
            } else if self.refresh_only {
                PlanMode::RefreshOnly
            } else {
                PlanMode::Normal
            },
            refresh: self.refresh,
            targets: self.targets.clone(),
        }
    }
}

/// Said by `plan -out`: what a saved plan reveals to whoever can read it (a CI artifact).
pub const SAVED_PLAN_PLAINTEXT_NOTE: &str = "The plan file stores every non-sensitive root variable value in plaintext (also those used\nonly inside sensitive arguments; sensitive ones only as keyed hashes): keep it as private\nas the state, or set CUTOVER_ENCRYPTION_KEY to encrypt it.";

/// The saved form of a computed plan.
pub fn saved_plan(engine: &Engine, planned: &Planned, options: &PlanOptions) -> SavedPlan {
    let variables = planned
        .configuration
        .as_ref()
        .map(|c| c.variables.clone())
        .unwrap_or_default();
    SavedPlan {
        format_version: SAVED_PLAN_FORMAT,
        cutover_version: CUTOVER_VERSION.to_owned(),
        mode: options.mode,
        refresh: options.refresh,
        targets: options.targets.clone(),
        prior_state: planned.plan.prior_state.clone(),
        configuration_hash: planned.configuration_hash.clone(),
        variables_hash: variables_hash(&variables, &engine.key),
        variables: variables
            .iter()
            .filter(|(_, value)| !value.contains_sensitive() && value.is_wholly_known())
            .filter_map(|(name, value)| Some((name.clone(), value.to_json()?)))
            .collect(),
        changes: saved_changes(&planned.plan, &engine.key),
    }
}

pub fn run(args: &PlanArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    runtime()?.block_on(async {
        let engine = engine(settings, args.common.parallelism, &args.common.lock)?;
        let shutdown = shutdown_on_signals();
        let notice = {
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                shutdown.stopping().await;
                eprintln!(
                    "interrupt received: the plan stops after the reads already running (interrupt again to cancel them)"
                );
            })
        };
        let guard = lock(&engine, "plan").await?;
        let options = args.common.options();
        let planned = plan(&engine, &options, &shutdown).await;
        notice.abort();
        // The lock is released before anything is printed, but a failed release is reported
        // after the plan's own errors: it must not hide them.
        let released = guard.unlock().await;
        let planned = match (planned, released) {
            (Ok(planned), released) => {
                if report_diagnostics(&planned.diagnostics) {
                    if let Err(error) = released {
                        eprintln!("error: {error:#}");
                    }
                    return Ok(ExitStatus::Error);
                }
                released?;
                planned
            }
            (Err(error), Ok(())) => return Err(error),
            (Err(error), Err(release)) => {
                eprintln!("error: {error:#}");
                return Err(release);
            }
        };
        print!("{}", render_human(&planned.plan, &HumanOptions::default()));
        if let Some(out) = &args.out {
            saved_plan(&engine, &planned, &options).write(out, engine.encryption.as_deref())?;
            let note = match &engine.encryption {
                Some(encryption) => format!(
                    "The plan file is encrypted with key {} (it holds non-sensitive variable\nvalues, which would otherwise be plaintext).",
                    encryption.id()
                ),
                None => SAVED_PLAN_PLAINTEXT_NOTE.to_owned(),
            };
            println!(
                "\nSaved the plan to: {}\n\n{note}\n\nTo perform exactly these actions, run:\n    cutover apply {}",
                out.display(),
                out.display()
            );
        }
        Ok(if args.detailed_exitcode && planned.plan.has_changes() {
            ExitStatus::ChangesPresent
        } else {
            ExitStatus::Success
        })
    })
}
