//! `cutover verify [-target assert.NAME]`: runs the assertions of the configuration (or the
//! targeted ones) against the live clusters, with the state lock held, and records their
//! evidence in state; nothing else is applied. Exit code 3 when an assertion does not hold.

use std::sync::Arc;

use anyhow::Context as _;

use super::common::{
    LockArgs, engine, lock, progress_reporter, report_diagnostics, runtime, shutdown_on_signals,
};
use crate::engine::planner::{PlanOptions, plan};
use crate::plan::{Action, PlanMode};
use crate::providers::ProviderContext;
use crate::settings::{ExitStatus, Settings};
use crate::shutdown::Shutdown;
use crate::state::{State, StateStore};

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Run only this assertion (assert.NAME, module-qualified); repeatable
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub lock: LockArgs,
}

pub fn run(args: &VerifyArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    runtime()?.block_on(async {
        let engine = engine(settings, 1, &args.lock)?;
        let shutdown = shutdown_on_signals();
        let guard = lock(&engine, "verify").await?;
        let status = verify(&engine, args, &shutdown).await;
        guard.unlock().await?;
        status
    })
}

async fn verify(
    engine: &crate::engine::Engine,
    args: &VerifyArgs,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitStatus> {
    // The configuration evaluated with what state records: the assertions see the applied
    // objects (a mirror's source, target and offset map) as the last apply left them.
    let options = PlanOptions {
        mode: PlanMode::Normal,
        refresh: false,
        targets: Vec::new(),
    };
    let planned = plan(engine, &options, shutdown).await?;
    if report_diagnostics(&planned.diagnostics) {
        return Ok(ExitStatus::Error);
    }
    let assertions: Vec<_> = planned
        .plan
        .changes
        .iter()
        .filter(|change| change.action == Action::Check)
        .filter(|change| {
            args.targets.is_empty()
                || args
                    .targets
                    .iter()
                    .any(|target| *target == change.address.to_string())
        })
        .collect();
    for target in &args.targets {
        if !assertions.iter().any(|c| c.address.to_string() == *target) {
            anyhow::bail!(
                "-target {target} matches no enabled assertion in the configuration (an assertion with enabled = false is not run)"
            );
        }
    }
    if assertions.is_empty() {
        println!("No assertions in the configuration.");
        return Ok(ExitStatus::Success);
    }
    let mut store = StateStore::open(engine.backend.clone())
        .await
        .with_context(|| format!("reading state from {}", engine.backend.location()))?;
    let mut state = match store.persisted() {
        Some(_) => store.working_copy()?,
        None => State::new()?,
    };
    // A first interrupt lets the assertion being polled finish and starts no other; a second
    // cancels it (its evidence is then not recorded).
    let report = progress_reporter();
    let (mut held, mut failed, mut not_run) = (Vec::new(), Vec::new(), 0usize);
    for change in assertions {
        let address = change.address.to_string();
        if shutdown.is_stopping() {
            not_run += 1;
            continue;
        }
        let context = ProviderContext {
            cancel: shutdown.cancel_signal(),
            progress: {
                let report = report.clone();
                let address = address.clone();
                Arc::new(move |line: &str| report(&format!("{address}: {line}")))
            },
            intent: Arc::new(crate::engine::NoIntent),
            resumed: None,
            connections: planned.connections.clone(),
            state_key: Some(engine.key.clone()),
        };
        report(&format!("{address}: checking…"));
        let value = change.after.clone().unwrap_or_default();
        let prior = state.assertions.get(&address).cloned();
        match crate::verify::run_assertion(&context, &value, prior.as_ref()).await {
            Ok(run) => {
                state.assertions.insert(address.clone(), run.evidence);
                store.save(&mut state).await.context("saving state")?;
                if run.passed {
                    report(&format!("{address}: holds: {}", run.message));
                    held.push(address);
                } else {
                    report(&format!("{address}: does not hold: {}", run.message));
                    failed.push((address, run.message));
                }
            }
            Err(error) => anyhow::bail!("{address}: {error}"),
        }
    }
    if not_run > 0 {
        report(&format!(
            "interrupt received: {not_run} assertion{} not run",
            if not_run == 1 { "" } else { "s" }
        ));
    }
    if failed.is_empty() && not_run > 0 {
        anyhow::bail!(
            "verify interrupted: {} assertion{} held, {not_run} not run",
            held.len(),
            if held.len() == 1 { "" } else { "s" }
        );
    }
    if failed.is_empty() {
        println!(
            "\nVerify complete! {} assertion{} held.",
            held.len(),
            if held.len() == 1 { "" } else { "s" }
        );
        return Ok(ExitStatus::Success);
    }
    eprintln!();
    for (address, message) in &failed {
        eprintln!("  assertion failed  {address}: {message}");
    }
    eprintln!(
        "\nerror: {} of {} assertions did not hold; the evidence is in the state (cutover show)",
        failed.len(),
        failed.len() + held.len()
    );
    Ok(ExitStatus::AssertionFailed)
}
