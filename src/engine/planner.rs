//! Planning: refresh what state records through the providers, evaluate the configuration
//! with a hook that diffs each resource instance against its refreshed prior (so references
//! see planned values), then add deletions for objects no longer configured, check
//! `prevent_destroy`, and compare outputs.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;

use super::{Engine, read_context};
use crate::config::evaluate::{
    Configuration, EvalMode, ResourceAddress, ResourceHook, ResourceInstance,
    evaluate_configuration_with,
};
use crate::config::model::Mode;
use crate::config::value::Value;
use crate::config::{inputs, load};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::plan::diff::{diff_instance, same_value};
use crate::plan::{Action, ChangeReason, Drift, OutputChange, Plan, PlanMode, ResourceChange};
use std::sync::Arc;

use crate::providers::{Connections, ProviderError, Registry};
use crate::state::{HashKey, PendingOperation, ResourceState, State};

/// What to plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub mode: PlanMode,
    pub refresh: bool,
    pub targets: Vec<String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            mode: PlanMode::Normal,
            refresh: true,
            targets: Vec::new(),
        }
    }
}

/// A plan together with what it was computed from.
pub struct Planned {
    pub plan: Plan,
    pub configuration: Option<Configuration>,
    pub diagnostics: Diagnostics,
    /// The state as read (not refreshed).
    pub state: Option<State>,
    /// Refreshed attributes of the objects in state (`None`: gone).
    pub refreshed: BTreeMap<ResourceAddress, Option<Value>>,
    /// SHA-256 over the configuration files (see [`super::saved`]).
    pub configuration_hash: String,
    /// Kafka connections and provider settings as planned (unknown where they wait on
    /// objects the plan creates).
    pub connections: Arc<Connections>,
}

/// Marks the attributes a schema declares sensitive, so values read from the live system are
/// protected like configured ones.
pub fn mark_schema_sensitive(schema: &crate::config::schema::Schema, value: Value) -> Value {
    match value {
        Value::Map(mut map) => {
            for attribute in &schema.attributes {
                if attribute.sensitive
                    && let Some(item) = map.remove(attribute.name)
                {
                    map.insert(attribute.name.to_owned(), Value::sensitive(item));
                }
            }
            Value::Map(map)
        }
        other => other,
    }
}

/// A state entry left by an interrupted creation: it holds the intent the provider recorded
/// (its handle) but no attributes of a finished object, so it is not refreshed. It is planned
/// as a creation again (the executor passes the handle back in `resumed`, so the provider
/// resumes the wait instead of creating a second object), or as a deletion by that handle when
/// it is no longer configured.
fn is_interrupted_create(resource: &ResourceState) -> bool {
    resource
        .pending
        .as_ref()
        .is_some_and(|pending| pending.operation == PendingOperation::Create)
}

/// Reads every managed object in state through its provider, `parallelism` at a time.
async fn refresh(
    registry: &Registry,
    state: &State,
    parallelism: usize,
    connections: &Arc<Connections>,
    diagnostics: &mut Diagnostics,
) -> BTreeMap<ResourceAddress, Option<Value>> {
    let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(parallelism.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut refreshed = BTreeMap::new();
    for resource in &state.resources {
        let address = resource.resource_address();
        let prior = resource.attributes_value();
        if resource.mode != Mode::Managed || is_interrupted_create(resource) {
            continue;
        }
        let Some(provider) = registry.resource(&resource.type_name).cloned() else {
            diagnostics.push(Diagnostic::error(format!(
                "{address} is in state but its type \"{}\" is unknown to this version of cutover",
                resource.type_name
            )));
            refreshed.insert(address, Some(prior));
            continue;
        };
        let semaphore = semaphore.clone();
        let context = read_context(cancel.clone(), connections.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let result = provider.read(&context, &prior).await;
            let result =
                result.map(|live| live.map(|v| mark_schema_sensitive(provider.schema(), v)));
            (address, prior, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((address, _prior, Ok(live))) => {
                refreshed.insert(address, live);
            }
            Ok((address, prior, Err(error))) => {
                diagnostics.push(Diagnostic::error(format!("refreshing {address}: {error}")));
                refreshed.insert(address, Some(prior));
            }
            Err(error) => {
                diagnostics.push(Diagnostic::error(format!("a refresh task failed: {error}")))
            }
        }
    }
    refreshed
}

/// Objects as state records them: what connections are evaluated from before the refresh.
struct RecordedHook<'a> {
    recorded: &'a BTreeMap<ResourceAddress, Value>,
}

impl ResourceHook for RecordedHook<'_> {
    fn instance_value(&mut self, instance: &ResourceInstance) -> Value {
        self.recorded
            .get(&instance.address)
            .cloned()
            .unwrap_or(Value::Unknown)
    }
}

struct PlanHook<'a> {
    registry: &'a Registry,
    key: &'a HashKey,
    priors: &'a BTreeMap<ResourceAddress, Option<Value>>,
    imports: &'a BTreeMap<ResourceAddress, String>,
    connections: &'a Arc<Connections>,
    changes: Vec<ResourceChange>,
    diagnostics: Diagnostics,
}

impl ResourceHook for PlanHook<'_> {
    fn instance_value(&mut self, instance: &ResourceInstance) -> Value {
        let address = &instance.address;
        if address.mode == Mode::Data {
            return self.read_data(instance);
        }
        let Some(provider) = self.registry.resource(&address.type_name) else {
            return Value::Unknown;
        };
        let prior = self.priors.get(address).cloned().flatten();
        let deleted_outside = self.priors.get(address).is_some_and(Option::is_none);
        let canonical = provider.canonical_config(&instance.config);
        let diff = diff_instance(
            provider.schema(),
            prior.as_ref(),
            canonical.as_ref().unwrap_or(&instance.config),
            &instance.lifecycle,
            self.key,
        );
        let planned = match provider.plan(prior.as_ref(), diff.planned) {
            Ok(planned) => planned,
            Err(error) => {
                self.diagnostics.push(
                    Diagnostic::error(format!("planning {address}: {error}"))
                        .at(instance.span.clone()),
                );
                Value::Unknown
            }
        };
        // A sensitive attribute whose new value matches the stored keyed hash is unchanged:
        // show it so (both sides stay marked sensitive; this copy lives only in memory).
        let prior = prior.map(|prior| unhash_unchanged(prior, &planned, self.key));
        let reason = if !diff.replace_because.is_empty() {
            Some(ChangeReason::ReplaceBecauseOf(diff.replace_because.clone()))
        } else if deleted_outside {
            Some(ChangeReason::DeletedOutsideCutover)
        } else {
            None
        };
        self.changes.push(ResourceChange {
            address: address.clone(),
            provider: provider.provider_name().to_owned(),
            action: diff.action,
            before: prior,
            after: Some(planned.clone()),
            reason,
            importing: self.imports.get(address).cloned(),
            dependencies: instance.dependencies.clone(),
            prevent_destroy: instance.lifecycle.prevent_destroy,
            create_before_destroy: instance.lifecycle.create_before_destroy,
        });
        planned
    }
}

/// `prior` with each top-level stored hash that `planned` matches replaced by the planned
/// (sensitive) value, so renderers see the attribute as unchanged.
fn unhash_unchanged(prior: Value, planned: &Value, key: &HashKey) -> Value {
    let Some(planned_map) = planned.as_map() else {
        return prior;
    };
    let mut prior_map = match prior {
        Value::Map(map) => map,
        other => return other,
    };
    for (name, value) in prior_map.iter_mut() {
        if let Some(new) = planned_map.get(name)
            && crate::state::stored_hash(value.peel()).is_some()
            && same_value(value, new, key)
        {
            *value = Value::sensitive(new.clone());
        }
    }
    Value::Map(prior_map)
}

impl PlanHook<'_> {
    /// Data sources are read during the plan when their arguments are known, otherwise during
    /// apply (`<= read`).
    fn read_data(&mut self, instance: &ResourceInstance) -> Value {
        let address = &instance.address;
        let Some(source) = self.registry.data_source(&address.type_name).cloned() else {
            return Value::Unknown;
        };
        let deferred = |hook: &mut Self| {
            hook.changes.push(ResourceChange {
                address: address.clone(),
                provider: source.provider_name().to_owned(),
                action: Action::Read,
                before: None,
                after: Some(instance.config.clone()),
                reason: None,
                importing: None,
                dependencies: instance.dependencies.clone(),
                prevent_destroy: false,
                create_before_destroy: false,
            });
            Value::Unknown
        };
        if !instance.config.is_wholly_known() {
            return deferred(self);
        }
        let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
        let context = read_context(cancel, self.connections.clone());
        let config = instance.config.clone();
        let result = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(source.read(&context, &config))
        });
        match result {
            Ok(value) => mark_schema_sensitive(source.schema(), value),
            Err(error) => {
                self.diagnostics.push(
                    Diagnostic::error(format!("reading {address}: {error}"))
                        .at(instance.span.clone()),
                );
                Value::Unknown
            }
        }
    }
}

/// Computes a plan. Errors that stop planning altogether (state unreadable) are returned;
/// problems with the configuration or the live objects are diagnostics in the result.
pub async fn plan(engine: &Engine, options: &PlanOptions) -> anyhow::Result<Planned> {
    let mut diagnostics = Diagnostics::new();
    let state = engine
        .backend
        .read()
        .await
        .with_context(|| format!("reading state from {}", engine.backend.location()))?;
    if let Some(state) = &state
        && state.key_matches(&engine.key) == Some(false)
    {
        diagnostics.push(
            Diagnostic::warning("the state was written with a different state key: every sensitive attribute will look changed")
                .with_hint("set CUTOVER_STATE_KEY to the key used before (see docs/state.md)"),
        );
    }

    let (tree, load_diagnostics) = load::load(&engine.config_dir);
    diagnostics.extend(load_diagnostics);
    let (inputs, input_diagnostics) = inputs::collect(
        &engine.config_dir,
        &engine.environment_vars,
        &engine.command_line_vars,
    );
    diagnostics.extend(input_diagnostics);
    let Some(tree) = tree else {
        return Ok(Planned {
            plan: empty_plan(options, state.as_ref()),
            configuration: None,
            diagnostics,
            state,
            refreshed: BTreeMap::new(),
            configuration_hash: String::new(),
            connections: Arc::default(),
        });
    };
    let configuration_hash = super::saved::configuration_hash(&tree);

    // Refreshing and importing objects of providers that connect somewhere (Kafka, AWS) needs
    // the connections: they come from an evaluation that sees the objects as state records
    // them. The built-in types connect nowhere, so a configuration of only those skips it.
    let has_imports = options.mode == PlanMode::Normal && !tree.module.imports.is_empty();
    let connects = state
        .iter()
        .flat_map(|s| s.resources.iter())
        .any(|r| r.provider != crate::providers::builtin::PROVIDER);
    let preliminary = (has_imports || connects).then(|| {
        let recorded: BTreeMap<ResourceAddress, Value> = state
            .iter()
            .flat_map(|s| s.resources.iter())
            .filter(|r| !is_interrupted_create(r))
            .map(|r| (r.resource_address(), r.attributes_value()))
            .collect();
        let mut hook = RecordedHook {
            recorded: &recorded,
        };
        evaluate_configuration_with(
            &tree,
            &inputs,
            engine.registry.as_ref(),
            EvalMode::Plan,
            &mut hook,
        )
        .0
    });
    let recorded_connections = Arc::new(
        preliminary
            .as_ref()
            .map(Connections::from_configuration)
            .unwrap_or_default(),
    );

    let mut refreshed = match (&state, options.refresh) {
        (Some(state), true) => {
            refresh(
                &engine.registry,
                state,
                engine.parallelism,
                &recorded_connections,
                &mut diagnostics,
            )
            .await
        }
        (Some(state), false) => state
            .resources
            .iter()
            .filter(|r| !is_interrupted_create(r))
            .map(|r| (r.resource_address(), Some(r.attributes_value())))
            .collect(),
        (None, _) => BTreeMap::new(),
    };

    // Imports: adopt objects not yet in state by reading them now (only the root module may
    // import).
    let mut imports = BTreeMap::new();
    if has_imports && let Some(configuration_for_imports) = &preliminary {
        for import in &configuration_for_imports.imports {
            if refreshed.contains_key(&import.to) {
                continue;
            }
            let Some(id) = import.id.as_str().map(str::to_owned) else {
                continue;
            };
            let Some(provider) = engine.registry.resource(&import.to.type_name).cloned() else {
                continue;
            };
            let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
            let context = read_context(cancel, recorded_connections.clone());
            match provider.import(&context, &id).await {
                Ok(value) => {
                    refreshed.insert(
                        import.to.clone(),
                        Some(mark_schema_sensitive(provider.schema(), value)),
                    );
                    imports.insert(import.to.clone(), id);
                }
                Err(error) => diagnostics.push(
                    Diagnostic::error(format!("importing {} from {id:?}: {error}", import.to))
                        .at(import.span.clone()),
                ),
            }
        }
    }

    let mut hook = PlanHook {
        registry: &engine.registry,
        key: &engine.key,
        priors: &refreshed,
        imports: &imports,
        connections: &recorded_connections,
        changes: Vec::new(),
        diagnostics: Diagnostics::new(),
    };
    let (configuration, evaluation_diagnostics) = evaluate_configuration_with(
        &tree,
        &inputs,
        engine.registry.as_ref(),
        EvalMode::Plan,
        &mut hook,
    );
    diagnostics.extend(evaluation_diagnostics);
    let PlanHook {
        changes: mut configured_changes,
        diagnostics: hook_diagnostics,
        ..
    } = hook;
    diagnostics.extend(hook_diagnostics);

    // Without a refresh the priors are the state's own attributes: nothing can have drifted.
    let drift = if options.refresh {
        drift(state.as_ref(), &refreshed, &engine.key)
    } else {
        Vec::new()
    };
    let mut changes = match options.mode {
        PlanMode::Normal => {
            let configured: BTreeSet<&ResourceAddress> =
                configured_changes.iter().map(|c| &c.address).collect();
            let mut deletions = deletions(
                state.as_ref(),
                &refreshed,
                &configured,
                ChangeReason::NotInConfiguration,
            );
            drop(configured);
            configured_changes.append(&mut deletions);
            configured_changes
        }
        PlanMode::Destroy => deletions(
            state.as_ref(),
            &refreshed,
            &BTreeSet::new(),
            ChangeReason::DestroyRequested,
        ),
        PlanMode::RefreshOnly => Vec::new(),
    };
    changes.sort_by(|a, b| a.address.cmp(&b.address));
    check_prevent_destroy(&changes, state.as_ref(), &configuration, &mut diagnostics);

    let outputs = match options.mode {
        PlanMode::Destroy => state
            .iter()
            .flat_map(|s| s.outputs.iter())
            .map(|(name, output)| OutputChange {
                name: name.clone(),
                before: Some(output.to_value()),
                after: None,
                sensitive: output.sensitive,
            })
            .collect(),
        _ => output_changes(state.as_ref(), &configuration, &engine.key),
    };
    let mut plan = Plan {
        mode: options.mode,
        changes,
        drift,
        outputs,
        prior_state: state.as_ref().map(State::stamp),
        targets: options.targets.clone(),
    };
    if !options.targets.is_empty() {
        apply_targets(&mut plan, &options.targets, &mut diagnostics);
    }
    diagnostics.sort();
    let connections = Arc::new(Connections::from_configuration(&configuration));
    Ok(Planned {
        plan,
        connections,
        configuration: Some(configuration),
        diagnostics,
        state,
        refreshed,
        configuration_hash,
    })
}

fn empty_plan(options: &PlanOptions, state: Option<&State>) -> Plan {
    Plan {
        mode: options.mode,
        changes: Vec::new(),
        drift: Vec::new(),
        outputs: Vec::new(),
        prior_state: state.map(State::stamp),
        targets: options.targets.clone(),
    }
}

fn drift(
    state: Option<&State>,
    refreshed: &BTreeMap<ResourceAddress, Option<Value>>,
    key: &HashKey,
) -> Vec<Drift> {
    let Some(state) = state else {
        return Vec::new();
    };
    let mut drift = Vec::new();
    for resource in &state.resources {
        let address = resource.resource_address();
        let before = resource.attributes_value();
        match refreshed.get(&address) {
            Some(Some(after)) if !same_value(&before, after, key) => drift.push(Drift {
                address,
                before,
                after: Some(after.clone()),
            }),
            Some(None) => drift.push(Drift {
                address,
                before,
                after: None,
            }),
            _ => {}
        }
    }
    drift
}

fn deletions(
    state: Option<&State>,
    refreshed: &BTreeMap<ResourceAddress, Option<Value>>,
    configured: &BTreeSet<&ResourceAddress>,
    reason: ChangeReason,
) -> Vec<ResourceChange> {
    let Some(state) = state else {
        return Vec::new();
    };
    state
        .resources
        .iter()
        .filter(|resource| resource.mode == Mode::Managed)
        .filter_map(|resource| {
            let address = resource.resource_address();
            if configured.contains(&address) {
                return None;
            }
            // Gone already: nothing to delete, the state entry is simply dropped on apply.
            let before = refreshed
                .get(&address)
                .cloned()
                .unwrap_or_else(|| Some(resource.attributes_value()))?;
            Some(ResourceChange {
                address,
                provider: resource.provider.clone(),
                action: Action::Delete,
                before: Some(before),
                after: None,
                reason: Some(reason.clone()),
                importing: None,
                dependencies: resource.dependencies.iter().cloned().collect(),
                prevent_destroy: resource.protection.prevent_destroy,
                create_before_destroy: false,
            })
        })
        .collect()
}

/// `prevent_destroy` in configuration or recorded in state refuses any plan that destroys
/// the object: deleting the block alone does not unprotect it.
fn check_prevent_destroy(
    changes: &[ResourceChange],
    state: Option<&State>,
    configuration: &Configuration,
    diagnostics: &mut Diagnostics,
) {
    for change in changes.iter().filter(|c| c.action.destroys()) {
        let in_state = state
            .and_then(|s| s.resource(&change.address))
            .is_some_and(|r| r.protection.prevent_destroy);
        let configured = configuration
            .resources
            .iter()
            .find(|r| r.address == change.address);
        let in_config = configured.is_some_and(|r| r.lifecycle.prevent_destroy);
        if !(in_state || in_config) {
            continue;
        }
        let what = if change.action == Action::Delete {
            "destroy"
        } else {
            "replace"
        };
        let diagnostic = Diagnostic::error(format!(
            "{} has lifecycle.prevent_destroy set, but the plan would {what} it",
            change.address
        ))
        .at_opt(configured.map(|r| r.span.clone()));
        diagnostics.push(if in_config {
            diagnostic.with_hint("remove prevent_destroy (and apply that) first, or change the plan so the object is kept")
        } else {
            diagnostic.with_hint("the protection is recorded in state: add the block back with prevent_destroy = false and apply, then remove it")
        });
    }
}

fn output_changes(
    state: Option<&State>,
    configuration: &Configuration,
    key: &HashKey,
) -> Vec<OutputChange> {
    let mut names: BTreeSet<&String> = configuration.outputs.keys().collect();
    if let Some(state) = state {
        names.extend(state.outputs.keys());
    }
    names
        .into_iter()
        .filter_map(|name| {
            let before = state
                .and_then(|s| s.outputs.get(name))
                .map(|o| o.to_value());
            let configured = configuration.outputs.get(name);
            let after = configured.map(|o| o.value.clone().marked(o.sensitive));
            let sensitive = configured.is_some_and(|o| o.sensitive)
                || state
                    .and_then(|s| s.outputs.get(name))
                    .is_some_and(|o| o.sensitive);
            let unchanged = match (&before, &after) {
                (Some(before), Some(after)) => same_value(before, after, key),
                (None, None) => true,
                _ => false,
            };
            (!unchanged).then(|| OutputChange {
                name: name.clone(),
                before,
                after,
                sensitive,
            })
        })
        .collect()
}

/// `-target`: keep only the targeted instances (an address without a key targets every
/// instance) and what they depend on, transitively.
fn apply_targets(plan: &mut Plan, targets: &[String], diagnostics: &mut Diagnostics) {
    let matches = |address: &ResourceAddress, target: &str| {
        let full = address.to_string();
        full == target || object_label(address) == target
    };
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = Vec::new();
    for target in targets {
        let found: Vec<&ResourceChange> = plan
            .changes
            .iter()
            .filter(|c| matches(&c.address, target))
            .collect();
        if found.is_empty() {
            diagnostics.push(Diagnostic::error(format!(
                "-target {target} matches no resource in the configuration or state"
            )));
        }
        for change in found {
            queue.push(change.address.to_string());
        }
    }
    while let Some(address) = queue.pop() {
        if !keep.insert(address.clone()) {
            continue;
        }
        if let Some(change) = plan
            .changes
            .iter()
            .find(|c| c.address.to_string() == address)
        {
            for dependency in &change.dependencies {
                for other in plan
                    .changes
                    .iter()
                    .filter(|c| object_label(&c.address) == *dependency)
                {
                    queue.push(other.address.to_string());
                }
            }
        }
    }
    plan.changes
        .retain(|change| keep.contains(&change.address.to_string()));
    plan.outputs.clear();
    diagnostics.push(
        Diagnostic::warning("resource targeting is in effect: the plan may not include every change the configuration needs")
            .with_hint("use -target only to recover from errors or mistakes; run a full plan afterwards"),
    );
}

/// The object an instance belongs to, as dependency labels name it (`module.m.t.n`).
pub fn object_label(address: &ResourceAddress) -> String {
    let mut object = address.clone();
    object.key = None;
    object.to_string()
}

/// Turns a provider error into a message with the address.
pub fn describe_error(address: &ResourceAddress, action: &str, error: &ProviderError) -> String {
    format!("{action} {address}: {error}")
}
