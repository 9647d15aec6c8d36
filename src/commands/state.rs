//! Commands that read or edit state directly: `state list|show|rm`, `output`, `import` and
//! `force-unlock`.

use std::collections::BTreeMap;

use anyhow::Context as _;

use super::common::{LockArgs, engine, lock, report_diagnostics, runtime};
use crate::config::evaluate::EvalMode;
use crate::config::value::Value;
use crate::engine::planner::mark_schema_sensitive;
use crate::engine::read_context;
use crate::settings::{ExitStatus, Settings};
use crate::state::{ResourceState, State, StateStore};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum StateCommand {
    /// List the addresses in state (optionally only those starting with a prefix)
    List { prefixes: Vec<String> },
    /// Show one object's recorded attributes (sensitive ones hidden)
    Show { address: String },
    /// Forget objects: remove them from state without destroying them
    Rm {
        #[arg(required = true)]
        addresses: Vec<String>,
        #[command(flatten)]
        lock: LockArgs,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// One output's name (default: all)
    pub name: Option<String>,
    /// Print as JSON (sensitive values are omitted)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The resource address in the configuration, e.g. 'cutover_data.x["k"]'
    pub address: String,
    /// The provider's id of the existing object
    pub id: String,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ForceUnlockArgs {
    /// The lock id printed by the run that holds (or held) the lock
    pub lock_id: String,
    /// Do not ask for confirmation
    #[arg(long)]
    pub force: bool,
}

async fn read_state(settings: &Settings) -> anyhow::Result<(crate::engine::Engine, Option<State>)> {
    let engine = engine(settings, 1, &LockArgs::default())?;
    let state = engine
        .backend
        .read()
        .await
        .with_context(|| format!("reading state from {}", engine.backend.location()))?;
    Ok((engine, state))
}

/// Attributes one per line, `name = value`, aligned, sensitive values hidden.
pub fn render_attributes(resource: &ResourceState) -> String {
    let value = resource.attributes_value();
    let mut out = format!(
        "# {}:\n{} \"{}\" \"{}\" {{\n",
        resource.address,
        if resource.mode == crate::config::model::Mode::Data {
            "data"
        } else {
            "resource"
        },
        resource.type_name,
        resource.name
    );
    if let Some(map) = value.as_map() {
        let width = map.keys().map(String::len).max().unwrap_or(0);
        for (name, item) in map {
            if item.is_null() {
                continue;
            }
            out.push_str(&format!("    {name:<width$} = {item}\n"));
        }
    }
    out.push_str("}\n");
    out
}

pub fn run_state(command: &StateCommand, settings: &Settings) -> anyhow::Result<ExitStatus> {
    runtime()?.block_on(async {
        match command {
            StateCommand::List { prefixes } => {
                let (_, state) = read_state(settings).await?;
                for resource in state.iter().flat_map(|s| s.resources.iter()) {
                    if prefixes.is_empty()
                        || prefixes
                            .iter()
                            .any(|p| resource.address.starts_with(p.as_str()))
                    {
                        println!("{}", resource.address);
                    }
                }
                Ok(ExitStatus::Success)
            }
            StateCommand::Show { address } => {
                let (_, state) = read_state(settings).await?;
                let resource = state
                    .as_ref()
                    .and_then(|s| s.resource_by_display(address))
                    .with_context(|| {
                        format!(
                            "no object with address {address} in state (see cutover state list)"
                        )
                    })?;
                print!("{}", render_attributes(resource));
                Ok(ExitStatus::Success)
            }
            StateCommand::Rm {
                addresses,
                lock: lock_args,
            } => {
                let engine = engine(settings, 1, lock_args)?;
                let guard = lock(&engine, "state rm").await?;
                let mut store = StateStore::open(engine.backend.clone()).await?;
                let mut state = store
                    .working_copy()
                    .context("there is no state to remove objects from")?;
                for address in addresses {
                    let resource = state
                        .resource_by_display(address)
                        .cloned()
                        .with_context(|| format!("no object with address {address} in state"))?;
                    state.remove(&resource.resource_address());
                    println!("Removed {address} (the object itself still exists)");
                }
                store.save(&mut state).await?;
                guard.unlock().await?;
                Ok(ExitStatus::Success)
            }
        }
    })
}

pub fn run_output(args: &OutputArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    runtime()?.block_on(async {
        let (_, state) = read_state(settings).await?;
        let outputs = state.map(|s| s.outputs).unwrap_or_default();
        if let Some(name) = &args.name {
            let output = outputs
                .get(name)
                .with_context(|| format!("no output named \"{name}\" in state; outputs are recorded by apply"))?;
            if output.sensitive {
                anyhow::bail!("output \"{name}\" is sensitive: cutover stores only a keyed hash of it, never the value");
            }
            let value = output.to_value();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&value.to_json().unwrap_or_default())?);
            } else {
                match value.as_str() {
                    Some(text) => println!("{text}"),
                    None => println!("{value}"),
                }
            }
            return Ok(ExitStatus::Success);
        }
        if args.json {
            let mut json = BTreeMap::new();
            for (name, output) in &outputs {
                let mut entry = serde_json::Map::new();
                entry.insert("sensitive".to_owned(), output.sensitive.into());
                if !output.sensitive {
                    entry.insert("value".to_owned(), output.value.clone());
                }
                json.insert(name.clone(), serde_json::Value::Object(entry));
            }
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else {
            for (name, output) in &outputs {
                let value = output.to_value();
                println!("{name} = {}", if output.sensitive { Value::sensitive(value) } else { value });
            }
        }
        Ok(ExitStatus::Success)
    })
}

pub fn run_import(args: &ImportArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    runtime()?.block_on(async {
        let engine = engine(settings, 1, &args.lock)?;
        let shutdown = super::common::shutdown_on_signals();
        let guard = lock(&engine, "import").await?;
        let loaded = crate::config::load_and_evaluate(
            &engine.config_dir,
            &engine.environment_vars,
            &engine.command_line_vars,
            engine.registry.as_ref(),
            EvalMode::Plan,
        );
        if report_diagnostics(&loaded.diagnostics) {
            return Ok(ExitStatus::Error);
        }
        let configuration = loaded.configuration.context("no configuration")?;
        let instance = configuration
            .resources
            .iter()
            .find(|r| r.address.to_string() == args.address)
            .with_context(|| {
                format!(
                    "{} is not declared in the configuration: add its resource block first, then import",
                    args.address
                )
            })?;
        let provider = engine
            .registry
            .resource(&instance.address.type_name)
            .cloned()
            .with_context(|| format!("{} cannot be imported", instance.address.type_name))?;
        let mut store = StateStore::open(engine.backend.clone()).await?;
        let mut state = match store.persisted() {
            Some(_) => store.working_copy()?,
            None => State::new()?,
        };
        if state.resource(&instance.address).is_some() {
            anyhow::bail!("{} is already managed by cutover (see cutover state show)", args.address);
        }
        let config = provider
            .canonical_config(&instance.config)
            .unwrap_or_else(|| instance.config.clone());
        let value = provider
            .import(
                &read_context(
                    shutdown.cancel_signal(),
                    std::sync::Arc::new(
                        crate::providers::Connections::from_configuration(&configuration),
                    ),
                    &engine.key,
                ),
                &args.id,
                &config,
            )
            .await
            .with_context(|| format!("importing {} from {:?}", args.address, args.id))?;
        // What the block gives from a sensitive variable stays sensitive (state hashes it), as
        // for objects an apply creates.
        let value = crate::config::redact::carry_marks(
            &config,
            mark_schema_sensitive(provider.schema(), value),
        );
        let mut resource = ResourceState::new(&instance.address, provider.provider_name());
        resource.set_attributes(&value, &engine.key)?;
        resource.set_dependencies(instance.dependencies.iter().cloned());
        resource.protection.prevent_destroy = instance.lifecycle.prevent_destroy;
        state.record_key(&engine.key);
        state.upsert(resource);
        store.save(&mut state).await?;
        guard.unlock().await?;
        println!("Import successful: {} now manages the object {:?}.", args.address, args.id);
        Ok(ExitStatus::Success)
    })
}

pub fn run_force_unlock(args: &ForceUnlockArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    runtime()?.block_on(async {
        let engine = engine(settings, 1, &LockArgs::default())?;
        let holder = engine.backend.lock_holder().await?;
        let Some(holder) = holder else {
            anyhow::bail!("the state is not locked");
        };
        if holder.id != args.lock_id {
            anyhow::bail!(
                "the lock id does not match: the state is locked with id {} by {} for {}",
                holder.id,
                holder.who,
                holder.operation
            );
        }
        if !args.force && !super::common::confirm(&format!(
            "Do you really want to force-unlock?\n  The lock is held by {} for {} since {}; removing it while that run is alive can corrupt state.",
            holder.who, holder.operation, holder.created
        ))? {
            println!("force-unlock cancelled");
            return Ok(ExitStatus::Error);
        }
        engine.backend.force_unlock(&args.lock_id).await?;
        println!("The state lock {} has been removed.", args.lock_id);
        Ok(ExitStatus::Success)
    })
}
