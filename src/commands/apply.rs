//! `cutover apply [FILE]` and `cutover destroy`: plan (or check a saved plan is still exactly
//! right), ask for approval, then carry the changes out in dependency order, saving state
//! after every resource.

use std::path::PathBuf;

use super::common::{
    LockArgs, confirm_unless_interrupted, engine, lock, progress_reporter, report_diagnostics,
    runtime, shutdown_on_signals,
};
use super::plan::{PlanFlags, saved_plan};
use crate::config::inputs::CommandLineVar;
use crate::engine::executor::{Outcome, apply};
use crate::engine::planner::{PlanOptions, plan};
use crate::engine::saved::SavedPlan;
use crate::plan::render::{HumanOptions, render_human};
use crate::plan::{Action, PlanMode};
use crate::settings::{ExitStatus, Settings};
use crate::shutdown::Shutdown;

#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// A plan saved with `cutover plan -out FILE`: applied without a prompt, and only if it is
    /// still exactly what would be done now
    pub plan_file: Option<PathBuf>,
    /// Skip the interactive approval
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    #[command(flatten)]
    pub common: PlanFlags,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DestroyArgs {
    /// Skip the interactive approval
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// Destroy only this resource (and what depends on it is not touched); repeatable
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    /// How many provider operations may run at once
    #[arg(long, default_value_t = 10)]
    pub parallelism: usize,
    #[command(flatten)]
    pub lock: LockArgs,
}

pub fn run(args: &ApplyArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    match &args.plan_file {
        Some(file) => apply_saved(file, args, settings),
        None => plan_and_apply(
            settings,
            args.common.options(),
            args.auto_approve,
            args.common.parallelism,
            &args.common.lock,
        ),
    }
}

pub fn run_destroy(args: &DestroyArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    let options = PlanOptions {
        mode: PlanMode::Destroy,
        refresh: true,
        targets: args.targets.clone(),
    };
    plan_and_apply(
        settings,
        options,
        args.auto_approve,
        args.parallelism,
        &args.lock,
    )
}

fn plan_and_apply(
    settings: &Settings,
    options: PlanOptions,
    auto_approve: bool,
    parallelism: usize,
    lock_args: &LockArgs,
) -> anyhow::Result<ExitStatus> {
    runtime()?.block_on(async {
        let engine = engine(settings, parallelism, lock_args)?;
        let shutdown = shutdown_on_signals();
        let operation = if options.mode == PlanMode::Destroy { "destroy" } else { "apply" };
        let guard = lock(&engine, operation).await?;
        let planned = plan(&engine, &options, &shutdown).await?;
        if report_diagnostics(&planned.diagnostics) {
            guard.unlock().await?;
            return Ok(ExitStatus::Error);
        }
        print!("{}", render_human(&planned.plan, &HumanOptions::default()));
        let has_checks = planned
            .plan
            .changes
            .iter()
            .any(|change| change.action == Action::Check);
        if !planned.plan.has_changes() {
            // Nothing to change, but what refresh found (objects deleted outside cutover and
            // no longer configured, updated attributes) is still recorded, as Terraform does,
            // and assertions are checked (as `verify` does, without a prompt: checking changes
            // nothing), so a CI gate of assertions alone fails when one does not hold.
            let status = if planned.plan.drift.is_empty() && !has_checks {
                ExitStatus::Success
            } else {
                execute(&engine, planned, shutdown).await?
            };
            guard.unlock().await?;
            return Ok(status);
        }
        if !auto_approve {
            let question = match options.mode {
                PlanMode::Destroy => "Do you really want to destroy all resources?\n  cutover will destroy all the objects listed above. There is no undo.",
                _ => "Do you want to perform these actions?\n  cutover will perform the actions described above.",
            };
            if !confirm_unless_interrupted(question, &shutdown).await? {
                println!("\nApply cancelled.");
                guard.unlock().await?;
                return Ok(ExitStatus::Error);
            }
        }
        let status = execute(&engine, planned, shutdown).await?;
        guard.unlock().await?;
        Ok(status)
    })
}

fn apply_saved(
    file: &std::path::Path,
    args: &ApplyArgs,
    settings: &Settings,
) -> anyhow::Result<ExitStatus> {
    runtime()?.block_on(async {
        let shutdown = shutdown_on_signals();
        let (engine, guard, planned) = replan_saved(
            file,
            settings,
            args.common.parallelism,
            &args.common.lock,
            "apply",
            &shutdown,
        )
        .await?;
        if report_diagnostics(&planned.diagnostics) {
            guard.unlock().await?;
            return Ok(ExitStatus::Error);
        }
        let status = execute(&engine, planned, shutdown).await?;
        guard.unlock().await?;
        Ok(status)
    })
}

/// Computes the plan saved in `file` again from the same inputs (its non-sensitive variable
/// values replayed, sensitive ones from the environment and var files as before) and fails
/// unless it is exactly the saved one. Returns with the state lock held.
pub async fn replan_saved(
    file: &std::path::Path,
    settings: &Settings,
    parallelism: usize,
    lock_args: &LockArgs,
    operation: &str,
    shutdown: &Shutdown,
) -> anyhow::Result<(
    crate::engine::Engine,
    super::common::StateLock,
    crate::engine::planner::Planned,
)> {
    let encryption = crate::state::Encryption::resolve(&settings.encryption)?;
    let saved = SavedPlan::read(file, encryption.as_ref())?;
    let mut settings = settings.clone();
    // Replayed as values: re-read as `-var` text, a string holding `${` or `%{` inside a
    // list or map would be parsed as a template.
    let mut replayed: Vec<CommandLineVar> = saved
        .variables
        .iter()
        .map(|(name, value)| {
            CommandLineVar::Saved(name.clone(), crate::config::value::Value::from_json(value))
        })
        .collect();
    replayed.extend(settings.command_line_vars.clone());
    settings.command_line_vars = replayed;
    let options = PlanOptions {
        mode: saved.mode,
        refresh: saved.refresh,
        targets: saved.targets.clone(),
    };
    let engine = engine(&settings, parallelism, lock_args)?;
    let guard = lock(&engine, operation).await?;
    let planned = plan(&engine, &options, shutdown).await?;
    if !planned.diagnostics.has_errors()
        && let Some(reason) = saved.mismatch(&saved_plan(&engine, &planned, &options))
    {
        guard.unlock().await?;
        anyhow::bail!(
            "the saved plan {} is stale: {reason}\nrun cutover plan -out {} again and review the new plan",
            file.display(),
            file.display()
        );
    }
    Ok((engine, guard, planned))
}

async fn execute(
    engine: &crate::engine::Engine,
    planned: crate::engine::planner::Planned,
    shutdown: Shutdown,
) -> anyhow::Result<ExitStatus> {
    let mode = planned.plan.mode;
    println!();
    let report = apply(engine, planned, shutdown, progress_reporter()).await?;
    let (mut added, mut changed, mut destroyed, mut imported, mut checked) = (0, 0, 0, 0, 0);
    for (_, action, outcome) in &report.outcomes {
        if *outcome != Outcome::Applied {
            continue;
        }
        match action {
            Action::Create => added += 1,
            Action::Update => changed += 1,
            Action::Delete => destroyed += 1,
            Action::DeleteThenCreate | Action::CreateThenDelete => {
                added += 1;
                destroyed += 1;
            }
            Action::NoOp => imported += 1,
            Action::Read => {}
            Action::Check => checked += 1,
        }
    }
    if report.failed() {
        eprintln!();
        let mut skipped = Vec::new();
        for (address, _, outcome) in &report.outcomes {
            match outcome {
                Outcome::Applied => {}
                Outcome::Failed(message) => eprintln!("  failed   {address}: {message}"),
                Outcome::AssertionFailed(message) => {
                    eprintln!("  assertion failed  {address}: {message}")
                }
                Outcome::Skipped(reason) => skipped.push((address, reason)),
            }
        }
        // Long lists are summarised: the state and the next plan say exactly what is left.
        for (address, reason) in skipped.iter().take(10) {
            eprintln!("  skipped  {address} ({reason})");
        }
        if skipped.len() > 10 {
            eprintln!("  ... and {} more not started", skipped.len() - 10);
        }
        if report.only_assertions_failed() {
            eprintln!(
                "\nerror: apply stopped: an assertion did not hold; nothing that depends on it was applied ({added} added, {changed} changed, {destroyed} destroyed before stopping). The evidence is in the state: cutover show"
            );
            return Ok(ExitStatus::AssertionFailed);
        }
        eprintln!(
            "\nerror: apply {}: {added} added, {changed} changed, {destroyed} destroyed before stopping; the state records what was done, and running apply again continues from there",
            if report.interrupted {
                "interrupted"
            } else {
                "failed"
            }
        );
        return Ok(ExitStatus::Error);
    }
    match mode {
        PlanMode::Destroy => println!("\nDestroy complete! Resources: {destroyed} destroyed."),
        PlanMode::RefreshOnly => {
            println!("\nApply complete! The state now records the live objects.")
        }
        PlanMode::Normal if imported > 0 => println!(
            "\nApply complete! Resources: {imported} imported, {added} added, {changed} changed, {destroyed} destroyed."
        ),
        PlanMode::Normal => println!(
            "\nApply complete! Resources: {added} added, {changed} changed, {destroyed} destroyed."
        ),
    }
    if checked > 0 {
        println!("Assertions: {checked} held.");
    }
    Ok(ExitStatus::Success)
}
