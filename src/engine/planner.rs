//! Planning: refresh what state records through the providers, evaluate the configuration
//! with a hook that diffs each resource instance against its refreshed prior (so references
//! see planned values), then add deletions for objects no longer configured, check
//! `prevent_destroy`, and compare outputs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Mutex, OnceLock};

use anyhow::Context as _;

use super::{Engine, read_context};
use crate::config::evaluate::{
    Configuration, EvalMode, ResourceAddress, ResourceHook, ResourceInstance,
    evaluate_configuration_with,
};
use crate::config::model::Mode;
use crate::config::redact::{Marks, carry_marks};
use crate::config::value::Value;
use crate::config::{inputs, load};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::plan::diff::{diff_instance, same_value};
use crate::plan::{Action, ChangeReason, Drift, OutputChange, Plan, PlanMode, ResourceChange};
use crate::shutdown::Shutdown;
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
    /// Data sources read during the plan, by address: what the apply evaluates with.
    pub data: BTreeMap<ResourceAddress, Value>,
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

/// Reads every managed object in state through its provider, `parallelism` at a time. Once
/// `shutdown` stops the run, reads not yet started are not started (their priors stand).
async fn refresh(
    registry: &Registry,
    state: &State,
    parallelism: usize,
    connections: &Arc<Connections>,
    key: &HashKey,
    shutdown: &Shutdown,
    diagnostics: &mut Diagnostics,
) -> BTreeMap<ResourceAddress, Option<Value>> {
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
        let context = read_context(shutdown.cancel_signal(), connections.clone(), key);
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            if shutdown.is_stopping() {
                return (address, prior, Err(ProviderError::Cancelled));
            }
            let marks = Marks::of_operation(&prior, &context.connections);
            let result = provider.read(&context, &prior).await;
            let result = result.map_err(|error| marks.scrub_error(error));
            let result = result.map(|live| {
                live.map(|v| carry_marks(&prior, mark_schema_sensitive(provider.schema(), v)))
            });
            (address, prior, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((address, _prior, Ok(live))) => {
                refreshed.insert(address, live);
            }
            // Not read, or cancelled by a second interrupt: the plan reports the interrupt.
            Ok((address, prior, Err(ProviderError::Cancelled))) if shutdown.is_stopping() => {
                refreshed.insert(address, Some(prior));
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

/// The configuration evaluated with the objects as state records them (no refresh, no lock):
/// what commands that run the data plane between applies (`cutover mirror run`) work from.
pub async fn recorded_configuration(
    engine: &Engine,
) -> anyhow::Result<(Option<Configuration>, Diagnostics)> {
    let state = engine
        .backend
        .read()
        .await
        .with_context(|| format!("reading state from {}", engine.backend.location()))?;
    let (tree, mut diagnostics) = load::load(&engine.config_dir);
    let (inputs, input_diagnostics) = inputs::collect(
        &engine.config_dir,
        &engine.environment_vars,
        &engine.command_line_vars,
    );
    diagnostics.extend(input_diagnostics);
    let Some(tree) = tree else {
        return Ok((None, diagnostics));
    };
    let recorded: BTreeMap<ResourceAddress, Value> = state
        .iter()
        .flat_map(|s| s.resources.iter())
        .filter(|r| !is_interrupted_create(r))
        .map(|r| (r.resource_address(), r.attributes_value()))
        .collect();
    let mut hook = RecordedHook {
        recorded: &recorded,
    };
    let (configuration, evaluation_diagnostics) = evaluate_configuration_with(
        &tree,
        &inputs,
        engine.registry.as_ref(),
        EvalMode::Plan,
        &mut hook,
    );
    diagnostics.extend(evaluation_diagnostics);
    Ok((Some(configuration), diagnostics))
}

/// Whether every argument the configuration sets is known (computed attributes are unknown
/// until the object is read or created, whatever the configuration).
pub fn arguments_known(schema: &crate::config::schema::Schema, config: &Value) -> bool {
    let Some(map) = config.as_map() else {
        return config.is_wholly_known();
    };
    map.iter().all(|(name, value)| {
        let attribute = schema.attribute(name);
        // Computed attributes, and optional-computed ones left unset, are unknown by design.
        let computed_only = attribute.is_some_and(|a| !a.settable());
        let unset_computed = attribute.is_some_and(|a| a.optional_computed) && value.is_unknown();
        computed_only || unset_computed || value.is_wholly_known()
    })
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

/// An address as borrowed parts (equal parts, equal addresses), to find state entries by
/// address without building an address for each.
type AddressParts<'a> = (
    &'a [String],
    Mode,
    &'a str,
    &'a str,
    Option<&'a crate::config::evaluate::InstanceKey>,
);

fn address_parts(address: &ResourceAddress) -> AddressParts<'_> {
    (
        &address.module,
        address.mode,
        &address.type_name,
        &address.name,
        address.key.as_ref(),
    )
}

/// Where each state entry is in `state.resources`, by address. Instances are mostly planned
/// in state order (a block's instances in key order), so the entry after the last one found is
/// tried before the hash map.
struct StateIndex<'s> {
    resources: &'s [ResourceState],
    by_address: HashMap<AddressParts<'s>, usize>,
    next: usize,
}

fn state_address_parts(resource: &ResourceState) -> AddressParts<'_> {
    (
        &resource.module,
        resource.mode,
        &resource.type_name,
        &resource.name,
        resource.index.as_ref(),
    )
}

impl<'s> StateIndex<'s> {
    fn new(state: Option<&'s State>) -> Self {
        let resources = state.map_or(&[][..], |state| state.resources.as_slice());
        StateIndex {
            resources,
            by_address: resources
                .iter()
                .enumerate()
                .map(|(position, resource)| (state_address_parts(resource), position))
                .collect(),
            next: 0,
        }
    }

    fn position(&mut self, address: &ResourceAddress) -> Option<usize> {
        let wanted = address_parts(address);
        let found = match self.resources.get(self.next) {
            Some(resource) if state_address_parts(resource) == wanted => Some(self.next),
            _ => self.by_address.get(&wanted).copied(),
        };
        if let Some(position) = found {
            self.next = position + 1;
        }
        found
    }
}

/// What each instance is planned against.
enum Priors<'a> {
    /// Refreshed (or imported) objects by address; `None`: gone.
    Refreshed(&'a BTreeMap<ResourceAddress, Option<Value>>),
    /// Without a refresh: the state's own attributes.
    Recorded(&'a RecordedPriors<'a>),
}

/// One state entry's attributes, decoded twice: the prior planned against (which ends up in
/// `refreshed`), and a copy for the change's `before`.
struct Decoded {
    prior: Value,
    before: Mutex<Option<Value>>,
}

/// The priors of a plan without a refresh: each state entry's attributes, decoded on first
/// use. [`plan`] has a helper thread decode them in order while the configuration is being
/// evaluated, so the evaluation (which takes far longer) rarely waits for one, and makes
/// no copy of its own.
struct RecordedPriors<'s> {
    state: &'s State,
    /// By position in `state.resources`.
    decoded: Vec<OnceLock<Decoded>>,
}

impl<'s> RecordedPriors<'s> {
    fn new(state: &'s State) -> Self {
        RecordedPriors {
            state,
            decoded: state.resources.iter().map(|_| OnceLock::new()).collect(),
        }
    }

    /// The entry at `position`; `None` for an interrupted create (not a prior).
    fn get(&self, position: usize) -> Option<&Decoded> {
        let resource = &self.state.resources[position];
        if is_interrupted_create(resource) {
            return None;
        }
        Some(self.decoded[position].get_or_init(|| Decoded {
            prior: resource.attributes_value(),
            before: Mutex::new(Some(resource.attributes_value())),
        }))
    }

    /// The refreshed map's keys: every entry but interrupted creates, in state order (which
    /// is address order), each with a placeholder for its prior.
    fn skeleton(&self) -> BTreeMap<ResourceAddress, Option<Value>> {
        self.state
            .resources
            .iter()
            .filter(|resource| !is_interrupted_create(resource))
            .map(|resource| (resource.resource_address(), None))
            .collect()
    }

    /// The helper's work: decodes every entry in order (until `stop` is set), then builds
    /// the refreshed map's skeleton, all while the configuration is being evaluated.
    fn prepare(&self, stop: &AtomicBool) -> BTreeMap<ResourceAddress, Option<Value>> {
        for position in 0..self.decoded.len() {
            if stop.load(AtomicOrdering::Relaxed) {
                break;
            }
            self.get(position);
        }
        self.skeleton()
    }

    /// The map a refresh would have produced: the priors moved into the skeleton (in
    /// address order, as the state is kept; a state that is not is mapped by key instead).
    fn into_refreshed(
        self,
        skeleton: Option<BTreeMap<ResourceAddress, Option<Value>>>,
    ) -> BTreeMap<ResourceAddress, Option<Value>> {
        let mut refreshed = skeleton.unwrap_or_else(|| self.skeleton());
        let entries = || {
            self.state
                .resources
                .iter()
                .filter(|resource| !is_interrupted_create(resource))
        };
        let in_order = refreshed.len() == entries().count()
            && refreshed
                .keys()
                .zip(entries())
                .all(|(address, resource)| address_parts(address) == state_address_parts(resource));
        let priors = self
            .state
            .resources
            .iter()
            .zip(self.decoded)
            .filter(|(resource, _)| !is_interrupted_create(resource))
            .map(|(resource, decoded)| match decoded.into_inner() {
                Some(decoded) => (resource, decoded.prior),
                None => (resource, resource.attributes_value()),
            });
        if !in_order {
            return priors
                .map(|(resource, prior)| (resource.resource_address(), Some(prior)))
                .collect();
        }
        for (slot, (_, prior)) in refreshed.values_mut().zip(priors) {
            *slot = Some(prior);
        }
        refreshed
    }
}

/// Below this many state entries the priors are decoded as they are needed, without a
/// helper thread.
const BACKGROUND_DECODE_MIN: usize = 256;

struct PlanHook<'a> {
    registry: &'a Registry,
    /// Once it stops the run, no provider is called any more (previews, estimates and data
    /// sources are left out of the plan, which reports the interrupt).
    shutdown: &'a Shutdown,
    key: &'a HashKey,
    state_index: StateIndex<'a>,
    priors: Priors<'a>,
    imports: &'a BTreeMap<ResourceAddress, String>,
    /// Connections as this evaluation has them so far (clusters and providers are evaluated
    /// before the objects that use them).
    connections: Arc<Connections>,
    changes: Vec<ResourceChange>,
    /// The blocks (`module.m.kafka_acl.access`) of the changes in `changes[..n]` that do
    /// something, with `n`: kept up to date as changes are added, for [`Self::waits_for_a_change`].
    changed_blocks: (usize, BTreeSet<String>),
    data: BTreeMap<ResourceAddress, Value>,
    /// By position in `state.resources`: entries a configured managed instance planned
    /// (whatever is left is deleted).
    configured_in_state: Vec<bool>,
    diagnostics: Diagnostics,
}

impl ResourceHook for PlanHook<'_> {
    fn cluster_value(&mut self, address: &str, value: &Value) {
        Arc::make_mut(&mut self.connections)
            .clusters
            .insert(address.to_owned(), value.clone());
    }

    fn provider_value(&mut self, name: &str, value: &Value) {
        Arc::make_mut(&mut self.connections)
            .providers
            .insert(name.to_owned(), value.clone());
    }

    fn instance_value(&mut self, instance: &ResourceInstance) -> Value {
        let address = &instance.address;
        if address.mode == Mode::Data {
            return self.read_data(instance);
        }
        let Some(provider) = self.registry.resource(&address.type_name) else {
            return Value::Unknown;
        };
        let state_position = self.state_index.position(address);
        // Configured, whatever else is wrong with it: never planned for deletion.
        if let Some(position) = state_position {
            self.configured_in_state[position] = true;
        }
        // Its arguments were reported where they are written; planning it would only report
        // the same mistake again, at the block.
        if !instance.errors.is_empty() {
            return Value::Unknown;
        }
        // The prior is borrowed; `before` is its one copy (made by the helper thread when
        // planning without a refresh).
        let (prior, before, deleted_outside) = match &self.priors {
            Priors::Refreshed(refreshed) => {
                let refreshed = refreshed.get(address);
                let prior = refreshed.and_then(Option::as_ref);
                (
                    prior,
                    prior.cloned(),
                    refreshed.is_some_and(Option::is_none),
                )
            }
            Priors::Recorded(recorded) => {
                match state_position.and_then(|position| recorded.get(position)) {
                    Some(decoded) => {
                        let before = decoded
                            .before
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .take()
                            .unwrap_or_else(|| decoded.prior.clone());
                        (Some(&decoded.prior), Some(before), false)
                    }
                    None => (None, None, false),
                }
            }
        };
        let canonical = provider.canonical_config(&instance.config);
        let diff = diff_instance(
            provider.schema(),
            prior,
            canonical.as_ref().unwrap_or(&instance.config),
            &instance.lifecycle,
            self.key,
        );
        let mut diff = diff;
        let marks = Marks::of(&instance.config);
        let planned = match provider
            .plan(prior, std::mem::take(&mut diff.planned))
            .map_err(|error| marks.scrub_error(error))
        {
            Ok(planned) => planned,
            Err(error) => {
                self.diagnostics.push(
                    Diagnostic::error(format!("planning {address}: {error}"))
                        .at(instance.span.clone()),
                );
                // One cause, one diagnostic: the preview of an object that cannot be planned
                // would fail again on what the plan could not give it.
                return Value::Unknown;
            }
        };
        if let Some(prior) = &prior {
            crate::plan::diff::replace_if_required(
                &mut diff,
                provider.requires_replace(prior, &planned),
                &instance.lifecycle,
            );
            if diff.action == Action::NoOp && !provider.requires_update(prior, &planned).is_empty()
            {
                diff.action = Action::Update;
            }
        }
        let planned = self.preview(provider.as_ref(), diff.action, planned, instance);
        let copy_estimate = self.copy_estimate(provider.as_ref(), diff.action, &planned);
        // A sensitive attribute whose new value matches the stored keyed hash is unchanged:
        // show it so (both sides stay marked sensitive; this copy lives only in memory).
        let before = before.map(|before| unhash_unchanged(before, &planned, self.key));
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
            before,
            after: Some(planned.clone()),
            reason,
            importing: self.imports.get(address).cloned(),
            dependencies: instance.dependencies.clone(),
            prevent_destroy: instance.lifecycle.prevent_destroy,
            create_before_destroy: instance.lifecycle.create_before_destroy,
            copy_estimate,
        });
        if let Some(position) = state_position {
            self.configured_in_state[position] = true;
        }
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
    /// The provider's plan-time look at the live system, for objects created or updated.
    fn preview(
        &mut self,
        provider: &dyn crate::providers::ResourceType,
        action: Action,
        planned: Value,
        instance: &ResourceInstance,
    ) -> Value {
        if matches!(action, Action::NoOp | Action::Delete | Action::Read)
            || !arguments_known(provider.schema(), &instance.config)
            || self.shutdown.is_stopping()
        {
            return planned;
        }
        let context = read_context(
            self.shutdown.cancel_signal(),
            self.connections.clone(),
            self.key,
        );
        let marks = Marks::of_operation(&planned, &self.connections);
        let Some(future) = provider.preview(&context, &planned) else {
            return planned;
        };
        let result =
            tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
                .map_err(|error| marks.scrub_error(error));
        match result {
            Ok(previewed) => mark_schema_sensitive(provider.schema(), previewed),
            Err(error) => {
                self.diagnostics.push(
                    Diagnostic::error(format!("planning {}: {error}", instance.address))
                        .at(instance.span.clone()),
                );
                planned
            }
        }
    }

    /// The provider's estimate of what applying will copy, for objects created or updated.
    fn copy_estimate(
        &self,
        provider: &dyn crate::providers::ResourceType,
        action: Action,
        planned: &Value,
    ) -> Option<crate::plan::estimate::CopyEstimate> {
        // Unlike a preview, this runs with arguments still unknown: a mirror into a cluster
        // this plan creates copies everything, which the source alone tells.
        if matches!(action, Action::NoOp | Action::Delete | Action::Read)
            || self.shutdown.is_stopping()
        {
            return None;
        }
        let context = read_context(
            self.shutdown.cancel_signal(),
            self.connections.clone(),
            self.key,
        );
        let future = provider.copy_estimate(&context, planned)?;
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
    }

    /// Whether something `instance` depends on has a change in this plan: a create, update,
    /// replacement or a read deferred to apply (not an assertion: it changes nothing, and a
    /// read after one would be a change in every plan).
    fn waits_for_a_change(&mut self, instance: &ResourceInstance) -> bool {
        let (seen, blocks) = &mut self.changed_blocks;
        for change in &self.changes[*seen..] {
            if !matches!(change.action, Action::NoOp | Action::Check) {
                let block = ResourceAddress {
                    key: None,
                    ..change.address.clone()
                };
                blocks.insert(block.to_string());
            }
        }
        *seen = self.changes.len();
        instance
            .dependencies
            .iter()
            .any(|dependency| blocks.contains(dependency))
    }

    /// Data sources are read during the plan when their arguments are known and nothing they
    /// depend on changes in this plan, otherwise during apply (`<= read`).
    fn read_data(&mut self, instance: &ResourceInstance) -> Value {
        let address = &instance.address;
        let Some(source) = self.registry.data_source(&address.type_name).cloned() else {
            return Value::Unknown;
        };
        let deferred = |hook: &mut Self, reason: Option<ChangeReason>| {
            hook.changes.push(ResourceChange {
                address: address.clone(),
                provider: source.provider_name().to_owned(),
                action: Action::Read,
                before: None,
                after: Some(instance.config.clone()),
                reason,
                importing: None,
                dependencies: instance.dependencies.clone(),
                prevent_destroy: false,
                create_before_destroy: false,
                copy_estimate: None,
            });
            Value::Unknown
        };
        // As in Terraform: a data source that depends on an object this plan changes (by a
        // reference or `depends_on`) is read during apply, after that change, so it sees the
        // object as the change leaves it (the ACLs just created, not the ones before).
        if !arguments_known(source.schema(), &instance.config) {
            return deferred(self, None);
        }
        if self.waits_for_a_change(instance) {
            return deferred(self, Some(ChangeReason::DependencyPending));
        }
        if self.shutdown.is_stopping() {
            return Value::Unknown;
        }
        let context = read_context(
            self.shutdown.cancel_signal(),
            self.connections.clone(),
            self.key,
        );
        let config = instance.config.clone();
        let marks = Marks::of_operation(&config, &self.connections);
        let result = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(source.read(&context, &config))
        })
        .map_err(|error| marks.scrub_error(error));
        match result {
            Ok(value) => {
                for note in source.notes(&value) {
                    self.diagnostics.push(
                        Diagnostic::warning(format!("{address}: {}", marks.scrub(&note)))
                            .at(instance.span.clone()),
                    );
                }
                let value = carry_marks(&config, mark_schema_sensitive(source.schema(), value));
                self.data.insert(address.clone(), value.clone());
                value
            }
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
/// problems with the configuration or the live objects are diagnostics in the result. After
/// a first interrupt of `shutdown` the reads already running finish, no other provider call
/// starts, and the result holds an error diagnostic: an interrupted plan is not a plan.
pub async fn plan(
    engine: &Engine,
    options: &PlanOptions,
    shutdown: &Shutdown,
) -> anyhow::Result<Planned> {
    let mut diagnostics = super::backend_warnings(&engine.config_dir);
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
            data: BTreeMap::new(),
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

    // Without a refresh (and without imports, which add priors) the priors are the state's
    // own attributes, decoded while the configuration is evaluated.
    let recorded = match &state {
        Some(state) if !options.refresh && !has_imports => Some(RecordedPriors::new(state)),
        _ => None,
    };
    let mut refreshed = match (&state, options.refresh) {
        _ if recorded.is_some() => BTreeMap::new(),
        (Some(state), true) => {
            refresh(
                &engine.registry,
                state,
                engine.parallelism,
                &recorded_connections,
                &engine.key,
                shutdown,
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
            if shutdown.is_stopping() {
                break;
            }
            let context = read_context(
                shutdown.cancel_signal(),
                recorded_connections.clone(),
                &engine.key,
            );
            let config = configuration_for_imports
                .resources
                .iter()
                .find(|r| r.address == import.to)
                .map(|r| {
                    provider
                        .canonical_config(&r.config)
                        .unwrap_or_else(|| r.config.clone())
                })
                .unwrap_or(Value::Null);
            let marks = Marks::of_operation(&config, &recorded_connections);
            match provider
                .import(&context, &id, &config)
                .await
                .map_err(|error| marks.scrub_error(error))
            {
                Ok(value) => {
                    refreshed.insert(
                        import.to.clone(),
                        Some(carry_marks(
                            &config,
                            mark_schema_sensitive(provider.schema(), value),
                        )),
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
        shutdown,
        key: &engine.key,
        state_index: StateIndex::new(state.as_ref()),
        priors: match &recorded {
            Some(recorded) => Priors::Recorded(recorded),
            None => Priors::Refreshed(&refreshed),
        },
        imports: &imports,
        connections: Arc::new(Connections::default()),
        changes: Vec::new(),
        changed_blocks: (0, BTreeSet::new()),
        data: BTreeMap::new(),
        configured_in_state: vec![false; state.as_ref().map_or(0, |s| s.resources.len())],
        diagnostics: Diagnostics::new(),
    };
    let evaluate = |hook: &mut PlanHook| {
        evaluate_configuration_with(
            &tree,
            &inputs,
            engine.registry.as_ref(),
            EvalMode::Plan,
            hook,
        )
    };
    let ((configuration, evaluation_diagnostics), refreshed_skeleton) = match &recorded {
        Some(recorded) if recorded.decoded.len() >= BACKGROUND_DECODE_MIN => {
            let stop = AtomicBool::new(false);
            std::thread::scope(|scope| {
                let helper = scope.spawn(|| recorded.prepare(&stop));
                let evaluated = evaluate(&mut hook);
                stop.store(true, AtomicOrdering::Relaxed);
                (evaluated, helper.join().ok())
            })
        }
        _ => (evaluate(&mut hook), None),
    };
    diagnostics.extend(evaluation_diagnostics);
    let PlanHook {
        changes: mut configured_changes,
        configured_in_state,
        diagnostics: hook_diagnostics,
        data,
        ..
    } = hook;
    diagnostics.extend(hook_diagnostics);
    if let Some(recorded) = recorded {
        refreshed = recorded.into_refreshed(refreshed_skeleton);
    }

    // Without a refresh the priors are the state's own attributes: nothing can have drifted.
    let drift = if options.refresh {
        drift(state.as_ref(), &refreshed, &engine.key)
    } else {
        Vec::new()
    };
    let mut changes = match options.mode {
        PlanMode::Normal => {
            let mut deletions = deletions(
                state.as_ref(),
                &refreshed,
                &configured_in_state,
                ChangeReason::NotInConfiguration,
            );
            configured_changes.append(&mut deletions);
            configured_changes.extend(assertion_changes(&configuration));
            gate_dropped_instances(&configuration, &mut configured_changes);
            forget_disabled_assertions(&configuration, &mut configured_changes);
            configured_changes
        }
        PlanMode::Destroy => deletions(
            state.as_ref(),
            &refreshed,
            &[],
            ChangeReason::DestroyRequested,
        ),
        PlanMode::RefreshOnly => Vec::new(),
    };
    // Addresses are unique in a plan, so an unstable sort gives the same order (in place).
    changes.sort_unstable_by(|a, b| a.address.cmp(&b.address));
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
        economics: None,
    };
    if !options.targets.is_empty() {
        apply_targets(&mut plan, &options.targets, &mut diagnostics);
    }
    if shutdown.is_stopping() {
        diagnostics.push(Diagnostic::error(INTERRUPTED));
    }
    let connections = Arc::new(Connections::from_configuration(&configuration));
    attach_economics(&mut plan, &data, &connections, &mut diagnostics);
    diagnostics.sort();
    Ok(Planned {
        plan,
        connections,
        data,
        configuration: Some(configuration),
        diagnostics,
        state,
        refreshed,
        configuration_hash,
    })
}

/// The error of a plan stopped by an interrupt.
pub const INTERRUPTED: &str = "the plan was interrupted: objects not yet refreshed and data sources not yet read are missing from it, so it is not shown; nothing was changed";

fn empty_plan(options: &PlanOptions, state: Option<&State>) -> Plan {
    Plan {
        mode: options.mode,
        changes: Vec::new(),
        drift: Vec::new(),
        outputs: Vec::new(),
        prior_state: state.map(State::stamp),
        targets: options.targets.clone(),
        economics: None,
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

/// Deletions for the managed objects in state that no configured instance planned
/// (`configured_in_state`, by position in `state.resources`; missing means not configured).
fn deletions(
    state: Option<&State>,
    refreshed: &BTreeMap<ResourceAddress, Option<Value>>,
    configured_in_state: &[bool],
    reason: ChangeReason,
) -> Vec<ResourceChange> {
    let Some(state) = state else {
        return Vec::new();
    };
    state
        .resources
        .iter()
        .enumerate()
        .filter(|(index, resource)| {
            resource.mode == Mode::Managed && !configured_in_state.get(*index).is_some_and(|c| *c)
        })
        .filter_map(|(_, resource)| {
            let address = resource.resource_address();
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
                copy_estimate: None,
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
    let mut destroying = changes.iter().filter(|c| c.action.destroys()).peekable();
    if destroying.peek().is_none() {
        return;
    }
    // Reversed, so the first instance with an address is the one kept (as a search would).
    let instances: BTreeMap<&ResourceAddress, &ResourceInstance> = configuration
        .resources
        .iter()
        .rev()
        .map(|r| (&r.address, r))
        .collect();
    for change in destroying {
        let in_state = state
            .and_then(|s| s.resource(&change.address))
            .is_some_and(|r| r.protection.prevent_destroy);
        let configured = instances.get(&change.address).copied();
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
    // Each change's address and object label, computed once: a plan can hold thousands.
    let labels: Vec<(String, String)> = plan
        .changes
        .iter()
        .map(|c| (c.address.to_string(), object_label(&c.address)))
        .collect();
    let mut first_by_address: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_object: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (index, (full, object)) in labels.iter().enumerate() {
        first_by_address.entry(full).or_insert(index);
        by_object.entry(object).or_default().push(full);
    }
    let mut keep: BTreeSet<&str> = BTreeSet::new();
    let mut queue: Vec<&str> = Vec::new();
    for target in targets {
        let found: Vec<&str> = labels
            .iter()
            .filter(|(full, object)| full == target || object == target)
            .map(|(full, _)| full.as_str())
            .collect();
        if found.is_empty() {
            diagnostics.push(Diagnostic::error(format!(
                "-target {target} matches no resource in the configuration or state"
            )));
        }
        queue.extend(found);
    }
    while let Some(address) = queue.pop() {
        if !keep.insert(address) {
            continue;
        }
        if let Some(&index) = first_by_address.get(address) {
            for dependency in &plan.changes[index].dependencies {
                queue.extend(by_object.get(dependency.as_str()).into_iter().flatten());
            }
        }
    }
    let kept: Vec<bool> = labels
        .iter()
        .map(|(full, _)| keep.contains(full.as_str()))
        .collect();
    let mut position = 0;
    plan.changes.retain(|_| {
        position += 1;
        kept[position - 1]
    });
    plan.outputs.clear();
    diagnostics.push(
        Diagnostic::warning("resource targeting is in effect: the plan may not include every change the configuration needs")
            .with_hint("use -target only to recover from errors or mistakes; run a full plan afterwards"),
    );
}

/// Every `assert` block as a change of its own ([`Action::Check`]): a node of the apply walk
/// that runs the checks, addressed `assert.NAME` (module-qualified), so `depends_on =
/// [assert.NAME]` labels and `-target assert.NAME` match it as they match resources.
///
/// An assertion with `enabled = false` is not planned: it runs no checks and gates nothing
/// (what lists it in `depends_on` is not held back by it).
fn assertion_changes(configuration: &Configuration) -> Vec<ResourceChange> {
    configuration
        .asserts
        .iter()
        .filter(|assertion| crate::verify::enabled(&assertion.value))
        .map(|assertion| ResourceChange {
            address: assertion_address(&assertion.module, &assertion.name),
            provider: crate::verify::ASSERT.to_owned(),
            action: Action::Check,
            before: None,
            after: Some(assertion.value.clone()),
            reason: None,
            importing: None,
            dependencies: assertion.dependencies.clone(),
            prevent_destroy: false,
            create_before_destroy: false,
            copy_estimate: None,
        })
        .collect()
}

/// The instances a block no longer has (its `for_each` or `count` shrank, e.g. legacy brokers
/// being decommissioned) are destroyed behind the assertions the block depends on: their
/// deletions list those assertions, so they wait for them and are gated by them.
fn gate_dropped_instances(configuration: &Configuration, changes: &mut [ResourceChange]) {
    for change in changes {
        if change.action != Action::Delete {
            continue;
        }
        if let Some(assertions) = configuration
            .block_assertions
            .get(&object_label(&change.address))
        {
            change.dependencies.extend(assertions.iter().cloned());
        }
    }
}

/// Drops `depends_on` labels naming disabled assertions: they are not in the plan, so they
/// neither order nor gate anything.
fn forget_disabled_assertions(configuration: &Configuration, changes: &mut [ResourceChange]) {
    let disabled: HashSet<String> = configuration
        .asserts
        .iter()
        .filter(|assertion| !crate::verify::enabled(&assertion.value))
        .map(|assertion| assertion_address(&assertion.module, &assertion.name).to_string())
        .collect();
    if disabled.is_empty() {
        return;
    }
    for change in changes {
        change
            .dependencies
            .retain(|label| !disabled.contains(label));
    }
}

/// The address of an assertion node: displayed `assert.NAME` (`module.m.assert.NAME`).
pub fn assertion_address(module: &[String], name: &str) -> ResourceAddress {
    ResourceAddress {
        module: module.to_vec(),
        mode: Mode::Managed,
        type_name: crate::verify::ASSERT.to_owned(),
        name: name.to_owned(),
        key: None,
    }
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

/// Attaches the cost and sizing section to `plan`; a price file that cannot be used is an
/// error, an undersized target a warning (and the section says so).
fn attach_economics(
    plan: &mut Plan,
    data: &BTreeMap<ResourceAddress, Value>,
    connections: &Connections,
    diagnostics: &mut Diagnostics,
) {
    let (prices, name) = match crate::economics::prices::price_table(connections) {
        Ok(found) => found,
        Err(error) => {
            diagnostics.push(Diagnostic::error(format!("provider \"aws\": {error}")));
            return;
        }
    };
    plan.economics = crate::plan::cost::economics(
        plan,
        data,
        &prices,
        &name,
        &crate::economics::sizing::Guidance::builtin(),
    );
    if let Some(economics) = &plan.economics {
        for sizing in economics.undersized() {
            diagnostics.push(Diagnostic::warning(format!(
                "the target is undersized by AWS's per-broker guidance: {}",
                sizing.summary()
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::evaluate::InstanceKey;
    use crate::state::{KeyOrigin, PendingIntent};

    fn entry(name: &str, pending_create: bool) -> ResourceState {
        let key = HashKey::from_bytes([7u8; 32], KeyOrigin::Explicit).unwrap();
        let address = ResourceAddress {
            module: Vec::new(),
            mode: Mode::Managed,
            type_name: "cutover_data".to_owned(),
            name: "x".to_owned(),
            key: Some(InstanceKey::String(name.to_owned())),
        };
        let mut resource = ResourceState::new(&address, "builtin");
        let attributes = Value::Map([("input".to_owned(), Value::string(name))].into());
        resource.set_attributes(&attributes, &key).unwrap();
        if pending_create {
            resource.pending = Some(PendingIntent::now(
                PendingOperation::Create,
                serde_json::json!({"id": name}),
                "creating",
            ));
        }
        resource
    }

    /// The priors of a plan without a refresh end up in the same map as a refresh would make:
    /// every entry but interrupted creates, by address, from a state in address order (the
    /// skeleton is filled in order) or, should one ever not be, mapped by key.
    #[test]
    fn recorded_priors_become_the_refreshed_map_in_any_state_order() {
        let mut state = State::with_lineage("l");
        state.resources = vec![entry("b", false), entry("c", true), entry("a", false)];
        let expected: BTreeMap<ResourceAddress, Option<Value>> =
            [&state.resources[2], &state.resources[0]]
                .into_iter()
                .map(|r| (r.resource_address(), Some(r.attributes_value())))
                .collect();

        let recorded = RecordedPriors::new(&state);
        assert!(
            recorded.get(1).is_none(),
            "an interrupted create is no prior"
        );
        assert_eq!(
            recorded.get(0).map(|decoded| &decoded.prior),
            Some(&state.resources[0].attributes_value())
        );
        let skeleton = recorded.skeleton();
        assert_eq!(recorded.into_refreshed(Some(skeleton)), expected);

        state.sort_resources();
        let recorded = RecordedPriors::new(&state);
        recorded.get(2);
        assert_eq!(recorded.into_refreshed(None), expected);
    }
}
