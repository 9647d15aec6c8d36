//! `cutover rollback ADDR`: put a versioned object back to its previous version — for a
//! secret flip, move AWSCURRENT back to the AWSPREVIOUS version in one call — under the state
//! lock, and record the result in state. The configuration is left alone: the next plan shows
//! that it and the live value disagree until the configuration is reverted (or the flip is
//! applied again).

use std::sync::Arc;

use anyhow::Context as _;

use super::common::{LockArgs, confirm, engine, lock, report_diagnostics, runtime};
use crate::config::evaluate::EvalMode;
use crate::config::value::Value;
use crate::engine::NoIntent;
use crate::engine::planner::mark_schema_sensitive;
use crate::providers::{Connections, ProviderContext};
use crate::settings::{ExitStatus, Settings};
use crate::state::{State, StateStore};

#[derive(Debug, Clone, clap::Args)]
pub struct RollbackArgs {
    /// The object to roll back, e.g. aws_secretsmanager_secret_version.producers
    pub address: String,
    /// Roll back without asking for confirmation
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// A version attribute for the summary line.
fn version_of(value: &Value, name: &str) -> String {
    value
        .as_map()
        .and_then(|map| map.get(name))
        .and_then(Value::as_str)
        .unwrap_or("(none)")
        .to_owned()
}

pub fn run(args: &RollbackArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    runtime()?.block_on(async {
        let engine = engine(settings, 1, &args.lock)?;
        let guard = lock(&engine, "rollback").await?;
        let mut store = StateStore::open(engine.backend.clone())
            .await
            .with_context(|| format!("reading state from {}", engine.backend.location()))?;
        let mut state: State = store
            .persisted()
            .cloned()
            .context("there is no state: nothing has been applied, so there is nothing to roll back")?;
        let resource = state
            .resource_by_display(&args.address)
            .cloned()
            .with_context(|| {
                format!(
                    "no object with address {} in state (see cutover state list)",
                    args.address
                )
            })?;
        if resource.mode == crate::config::model::Mode::Data {
            anyhow::bail!(
                "{} is a data source: it reads something and has no versions to roll back",
                args.address
            );
        }
        if let Some(pending) = &resource.pending {
            anyhow::bail!(
                "{} has an interrupted operation ({}): run cutover apply to finish it before rolling back",
                args.address,
                pending.detail
            );
        }
        let provider = engine
            .registry
            .resource(&resource.type_name)
            .cloned()
            .with_context(|| {
                format!(
                    "{} has type {}, which this version of cutover does not know",
                    args.address, resource.type_name
                )
            })?;

        // Provider settings (region, endpoint, role) come from the configuration. A rollback
        // is an emergency measure: problems elsewhere in the configuration are reported but
        // do not stop it.
        let loaded = crate::config::load_and_evaluate(
            &engine.config_dir,
            &engine.environment_vars,
            &engine.command_line_vars,
            engine.registry.as_ref(),
            EvalMode::Plan,
        );
        report_diagnostics(&loaded.diagnostics);
        let connections = loaded
            .configuration
            .as_ref()
            .map(Connections::from_configuration)
            .unwrap_or_default();

        if !args.auto_approve
            && !confirm(&format!(
                "Roll back {}?\n  Its current version is replaced by the previous one at once; whatever reads it (applications, consumers of the secret) gets the previous value.",
                args.address
            ))?
        {
            println!("Rollback cancelled.");
            return Ok(ExitStatus::Error);
        }

        // Installed after the prompt, which Ctrl-C ends as it ends any program.
        let shutdown = super::common::shutdown_on_signals();
        let address = args.address.clone();
        let context = ProviderContext {
            cancel: shutdown.cancel_signal(),
            progress: Arc::new(move |line: &str| println!("{address}: {line}")),
            intent: Arc::new(NoIntent),
            resumed: None,
            connections: Arc::new(connections),
            state_key: Some(engine.key.clone()),
        };
        let prior = resource.attributes_value();
        let marks = crate::config::redact::Marks::of_operation(&prior, &context.connections);
        let value = provider
            .rollback(&context, &prior)
            .await
            .map_err(|error| marks.scrub_error(error))
            .with_context(|| format!("rolling back {}", args.address))?;
        let value = mark_schema_sensitive(provider.schema(), value);
        let mut updated = resource.clone();
        updated.set_attributes(&value, &engine.key)?;
        state.record_key(&engine.key);
        state.upsert(updated);
        store
            .save(&mut state)
            .await
            .context("the rollback was made, but recording it in state failed; run cutover apply -refresh-only to record it")?;
        guard.unlock().await?;
        println!(
            "Rollback complete: {} is at version {} again (the version it left, {}, is now the previous one).",
            args.address,
            version_of(&value, "version_id"),
            version_of(&value, "previous_version_id"),
        );
        println!(
            "The configuration still asks for the newer value: the next plan shows the difference until the configuration is reverted."
        );
        Ok(ExitStatus::Success)
    })
}
