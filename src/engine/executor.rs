//! Applying a plan: walk the changes in dependency order (deletions in reverse), at most
//! `parallelism` provider operations at a time, saving state after every one. Values that were
//! unknown at plan time are filled in by evaluating the configuration again once what they
//! depend on exists. On a failure nothing new starts, running operations finish, state is
//! saved and the outcome lists what succeeded, failed and was skipped. A first interrupt does
//! the same; a second one also cancels the running provider operations.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::planner::{Planned, assertion_address, object_label};
use super::{Engine, NoIntent};
use crate::config::evaluate::{
    EvalMode, ResourceAddress, ResourceHook, ResourceInstance, evaluate_configuration_with,
};
use crate::config::model::Mode;
use crate::config::redact::{Marks, carry_marks};
use crate::config::value::Value;
use crate::config::{inputs, load};
use crate::plan::diff::diff_instance;
use crate::plan::{Action, PlanMode, ResourceChange};
use crate::providers::{
    BoxFuture, Connections, IntentRecorder, ProviderContext, ProviderError, ResourceType,
};
use crate::shutdown::Shutdown;
use crate::state::document::{ApplyOperation, ApplyOutcome, ApplyRecord, CheckedAssertion};
use crate::state::{
    OutputState, PendingIntent, PendingOperation, ResourceState, State, StateStore,
};

/// How each change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Failed(String),
    /// An assertion ran and did not hold (or timed out): the message has the numbers.
    AssertionFailed(String),
    /// Not started: a dependency failed, or the run stopped.
    Skipped(String),
}

#[derive(Debug, Default)]
pub struct ApplyReport {
    pub outcomes: Vec<(ResourceAddress, Action, Outcome)>,
    pub interrupted: bool,
}

impl ApplyReport {
    /// Whether the run failed only because assertions did not hold (exit code 3): nothing
    /// else failed and the run was not interrupted.
    pub fn only_assertions_failed(&self) -> bool {
        !self.interrupted
            && self
                .outcomes
                .iter()
                .any(|(_, _, outcome)| matches!(outcome, Outcome::AssertionFailed(_)))
            && !self
                .outcomes
                .iter()
                .any(|(_, _, outcome)| matches!(outcome, Outcome::Failed(_)))
    }

    pub fn failed(&self) -> bool {
        self.interrupted
            || self
                .outcomes
                .iter()
                .any(|(_, _, outcome)| !matches!(outcome, Outcome::Applied))
    }
}

/// Progress lines for the terminal or the log.
pub type Reporter = Arc<dyn Fn(&str) + Send + Sync>;

/// How long running operations get to stop by themselves after the second interrupt before
/// they are aborted.
pub const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

struct IntentMessage {
    address: ResourceAddress,
    operation: PendingOperation,
    handle: serde_json::Value,
    detail: String,
    done: oneshot::Sender<Result<(), String>>,
}

struct ChannelIntent {
    address: ResourceAddress,
    operation: PendingOperation,
    sender: mpsc::Sender<IntentMessage>,
}

impl IntentRecorder for ChannelIntent {
    fn record<'a>(
        &'a self,
        handle: serde_json::Value,
        detail: String,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let (done, wait) = oneshot::channel();
            self.sender
                .send(IntentMessage {
                    address: self.address.clone(),
                    operation: self.operation,
                    handle,
                    detail,
                    done,
                })
                .await
                .map_err(|_| "the run is shutting down".to_owned())?;
            wait.await
                .map_err(|_| "the run is shutting down".to_owned())?
        })
    }
}

/// Values other objects see during apply: applied values where the operation is done,
/// planned ones otherwise.
struct ApplyHook<'a> {
    applied: &'a BTreeMap<ResourceAddress, Value>,
    planned: &'a BTreeMap<ResourceAddress, Value>,
    instances: BTreeMap<ResourceAddress, ResourceInstance>,
}

impl ResourceHook for ApplyHook<'_> {
    fn instance_value(&mut self, instance: &ResourceInstance) -> Value {
        self.instances
            .insert(instance.address.clone(), instance.clone());
        self.applied
            .get(&instance.address)
            .or_else(|| self.planned.get(&instance.address))
            .cloned()
            .unwrap_or(Value::Unknown)
    }
}

fn operation_of(action: Action) -> PendingOperation {
    match action {
        Action::Create => PendingOperation::Create,
        Action::Delete => PendingOperation::Delete,
        Action::DeleteThenCreate | Action::CreateThenDelete => PendingOperation::Replace,
        _ => PendingOperation::Update,
    }
}

/// Runs one change against its provider.
async fn run_change(
    provider: Arc<dyn ResourceType>,
    context: ProviderContext,
    change: ResourceChange,
) -> Result<Option<Value>, ProviderError> {
    let before = change.before.clone().unwrap_or(Value::Null);
    let after = change.after.clone().unwrap_or(Value::Null);
    match change.action {
        Action::NoOp if change.importing.is_some() => Ok(Some(before)),
        Action::NoOp | Action::Read | Action::Check => Ok(Some(after)),
        Action::Create => provider
            .create(&context, &after)
            .await
            .map(|created| Some(carry_marks(&after, created))),
        Action::Update => provider
            .update(&context, &before, &after)
            .await
            .map(|updated| Some(carry_marks(&after, updated))),
        Action::DeleteThenCreate => {
            provider.delete(&context, &before).await?;
            let created = provider.create(&context, &after).await?;
            Ok(Some(carry_marks(&after, created)))
        }
        Action::CreateThenDelete => {
            let created = provider.create(&context, &after).await?;
            provider.delete(&context, &before).await?;
            Ok(Some(carry_marks(&after, created)))
        }
        Action::Delete => provider.delete(&context, &before).await.map(|()| None),
    }
}

/// Applies a computed plan. A first interrupt of `shutdown` stops starting new work, a second
/// also cancels running provider operations.
pub async fn apply(
    engine: &Engine,
    planned: Planned,
    shutdown: Shutdown,
    report: Reporter,
) -> anyhow::Result<ApplyReport> {
    let mut store = StateStore::open(engine.backend.clone())
        .await
        .with_context(|| format!("reading state from {}", engine.backend.location()))?;
    let started_at = crate::state::now_rfc3339();
    let mut state = match store.persisted() {
        Some(_) => store.working_copy()?,
        None => State::new()?,
    };
    state.record_key(&engine.key);
    let mut result = ApplyReport::default();

    if planned.plan.mode == PlanMode::RefreshOnly {
        for (address, live) in &planned.refreshed {
            match live {
                Some(value) => {
                    if let Some(resource) = state.resource_mut(address) {
                        resource.set_attributes(value, &engine.key)?;
                    }
                }
                None => {
                    state.remove(address);
                }
            }
        }
        store.save(&mut state).await?;
        return Ok(result);
    }

    let changes: Vec<ResourceChange> = planned.plan.changes.clone();
    let planned_values: BTreeMap<ResourceAddress, Value> = planned
        .data
        .iter()
        .map(|(address, value)| (address.clone(), value.clone()))
        .chain(changes.iter().filter_map(|c| {
            let value = if c.action == Action::NoOp {
                c.before.clone()
            } else {
                c.after.clone()
            };
            value.map(|v| (c.address.clone(), v))
        }))
        .collect();

    // No-op instances: record refreshed attributes, dependencies and protection.
    for change in changes
        .iter()
        .filter(|c| c.action == Action::NoOp && c.importing.is_none())
    {
        if let Some(before) = &change.before {
            upsert(&mut state, change, before, engine)?;
        }
    }
    // Objects found gone by refresh and no longer configured: drop them.
    for (address, live) in &planned.refreshed {
        if live.is_none() && !changes.iter().any(|c| &c.address == address) {
            state.remove(address);
        }
    }
    store.save(&mut state).await?;

    let work: Vec<usize> = (0..changes.len())
        .filter(|&i| changes[i].action != Action::NoOp || changes[i].importing.is_some())
        .collect();
    let waits_for = dependency_edges(&changes, &work, &state);

    // The cancellation signal of this apply's operations, raised by the second interrupt. Its
    // own channel, not the shutdown's: providers tell one apply from the next by it (the
    // decommission guard shares one observation of a cluster within an apply).
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let (intent_tx, mut intent_rx) = mpsc::channel::<IntentMessage>(16);
    let semaphore_limit = engine.parallelism.max(1);
    let mut started: BTreeSet<usize> = BTreeSet::new();
    let mut finished: BTreeMap<usize, bool> = BTreeMap::new();
    let mut applied: BTreeMap<ResourceAddress, Value> = BTreeMap::new();
    let mut running: JoinSet<(usize, Result<Option<Value>, ProviderError>)> = JoinSet::new();
    // Which change each task runs, to account for a task that panicked or was aborted.
    let mut task_index: BTreeMap<tokio::task::Id, usize> = BTreeMap::new();
    // Set by the second interrupt: when running operations are aborted if still running.
    let mut abort_at: Option<tokio::time::Instant> = None;
    let mut cancel_seen = false;
    let mut stop_reason: Option<String> = None;
    // Connections wait on objects being created (a cluster whose bootstrap servers an MSK
    // cluster provides): re-evaluated once something was applied since they were computed.
    let mut connections = planned.connections.clone();
    let mut connections_seen = 0usize;
    // How each assertion ended, by change index (its task returns no attributes).
    let assertion_runs: Arc<std::sync::Mutex<BTreeMap<usize, crate::verify::AssertionRun>>> =
        Arc::default();
    // Assertions that did not hold, with why: what depends on them is gated.
    let mut failed_assertions: BTreeMap<usize, String> = BTreeMap::new();

    loop {
        if stop_reason.is_none() && shutdown.is_stopping() {
            result.interrupted = true;
            stop_reason = Some("the run was interrupted".to_owned());
            report(
                "interrupt received: no new operations start; waiting for running ones (interrupt again to cancel them)",
            );
        }
        // Start what is ready.
        if stop_reason.is_none() {
            let ready: Vec<usize> = work
                .iter()
                .copied()
                .filter(|i| !started.contains(i))
                .filter(|i| waits_for[i].iter().all(|d| finished.get(d) == Some(&true)))
                .take(semaphore_limit.saturating_sub(running.len()))
                .collect();
            let needs_values = ready.iter().any(|&i| {
                changes[i]
                    .after
                    .as_ref()
                    .is_some_and(|a| !a.is_wholly_known())
            });
            let stale_connections = !ready.is_empty()
                && connections.has_unknowns()
                && applied.len() != connections_seen;
            let fresh = if needs_values || stale_connections {
                let (configuration, instances) =
                    evaluate_with_values(engine, &applied, &planned_values)?;
                connections = Arc::new(Connections::from_configuration(&configuration));
                connections_seen = applied.len();
                Some((configuration, instances))
            } else {
                None
            };
            for index in ready {
                if stop_reason.is_some() {
                    break;
                }
                started.insert(index);
                let mut change = changes[index].clone();
                if change.action == Action::Check {
                    // The assertion as evaluated now that what it depends on exists.
                    let value = fresh
                        .as_ref()
                        .and_then(|(configuration, _)| {
                            configuration.asserts.iter().find(|assertion| {
                                assertion_address(&assertion.module, &assertion.name)
                                    == change.address
                            })
                        })
                        .map(|assertion| assertion.value.clone())
                        .or_else(|| change.after.clone())
                        .unwrap_or(Value::Null);
                    report(&format!("{}: checking…", change.address));
                    let prior = state.assertions.get(&change.address.to_string()).cloned();
                    let context = ProviderContext {
                        cancel: cancel_rx.clone(),
                        progress: {
                            let report = report.clone();
                            let address = change.address.to_string();
                            Arc::new(move |line: &str| report(&format!("{address}: {line}")))
                        },
                        intent: Arc::new(NoIntent),
                        resumed: None,
                        connections: connections.clone(),
                        state_key: Some(engine.key.clone()),
                    };
                    let runs = assertion_runs.clone();
                    let task = running.spawn(async move {
                        let run =
                            crate::verify::run_assertion(&context, &value, prior.as_ref()).await;
                        let outcome = run.map(|run| {
                            if let Ok(mut runs) = runs.lock() {
                                runs.insert(index, run);
                            }
                            None
                        });
                        (index, outcome)
                    });
                    task_index.insert(task.id(), index);
                    continue;
                }
                if change.address.mode == Mode::Data {
                    // A data source read deferred to apply: its arguments are known now.
                    let config = fresh
                        .as_ref()
                        .and_then(|(_, instances)| instances.get(&change.address))
                        .map(|instance| instance.config.clone())
                        .or_else(|| change.after.clone())
                        .unwrap_or(Value::Null);
                    let Some(source) = engine
                        .registry
                        .data_source(&change.address.type_name)
                        .cloned()
                    else {
                        finished.insert(index, false);
                        result.outcomes.push((
                            change.address.clone(),
                            change.action,
                            Outcome::Failed(format!(
                                "unknown data source type {}",
                                change.address.type_name
                            )),
                        ));
                        stop_reason.get_or_insert_with(|| "an operation failed".to_owned());
                        continue;
                    };
                    report(&format!("{}: reading…", change.address));
                    let context = crate::engine::read_context(
                        cancel_rx.clone(),
                        connections.clone(),
                        &engine.key,
                    );
                    let marks = Marks::of_operation(&config, &connections);
                    let task = running.spawn(async move {
                        let read = source.read(&context, &config).await;
                        let read = read.map_err(|error| marks.scrub_error(error)).map(|value| {
                            Some(carry_marks(
                                &config,
                                crate::engine::planner::mark_schema_sensitive(
                                    source.schema(),
                                    value,
                                ),
                            ))
                        });
                        (index, read)
                    });
                    task_index.insert(task.id(), index);
                    continue;
                }
                let Some(provider) = engine.registry.resource(&change.address.type_name).cloned()
                else {
                    finished.insert(index, false);
                    result.outcomes.push((
                        change.address.clone(),
                        change.action,
                        Outcome::Failed(format!(
                            "unknown resource type {}",
                            change.address.type_name
                        )),
                    ));
                    stop_reason.get_or_insert_with(|| "an operation failed".to_owned());
                    continue;
                };
                if let Some((_, instances)) = &fresh
                    && let Some(instance) = instances.get(&change.address)
                    && change.action != Action::Delete
                {
                    match refreshed_change(&change, instance, provider.as_ref(), engine) {
                        Ok(updated) => change = updated,
                        Err(message) => {
                            finished.insert(index, false);
                            result.outcomes.push((
                                change.address.clone(),
                                change.action,
                                Outcome::Failed(message),
                            ));
                            stop_reason.get_or_insert_with(|| "an operation failed".to_owned());
                            continue;
                        }
                    }
                }
                report(&format!(
                    "{}: {}…",
                    change.address,
                    describe(change.action, true)
                ));
                let mut marks = Marks::of_operation(
                    change.after.as_ref().unwrap_or(&Value::Null),
                    &connections,
                );
                if let Some(before) = &change.before {
                    marks.absorb(before);
                }
                let context = ProviderContext {
                    cancel: cancel_rx.clone(),
                    progress: {
                        let report = report.clone();
                        let address = change.address.to_string();
                        let marks = marks.clone();
                        Arc::new(move |line: &str| {
                            report(&format!("{address}: {}", marks.scrub(line)))
                        })
                    },
                    intent: Arc::new(ChannelIntent {
                        address: change.address.clone(),
                        operation: operation_of(change.action),
                        sender: intent_tx.clone(),
                    }),
                    resumed: state
                        .resource(&change.address)
                        .and_then(|r| r.pending.as_ref())
                        .map(|p| p.handle.clone()),
                    connections: connections.clone(),
                    state_key: Some(engine.key.clone()),
                };
                let task = running.spawn(async move {
                    let outcome = run_change(provider, context, change).await;
                    (index, outcome.map_err(|error| marks.scrub_error(error)))
                });
                task_index.insert(task.id(), index);
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some(joined) = running.join_next_with_id() => {
                // Every task that has finished by now is recorded, then saved once: nothing new
                // starts before the save, and a save rewrites the whole state, so saving after
                // each of them made an apply of n objects cost O(n²).
                let mut next = Some(joined);
                while let Some(joined) = next.take() {
                    // A task that panicked (a provider bug) or was aborted fails its own change;
                    // the run goes on as after any failure, so what else is running is saved.
                    let (index, outcome) = match joined {
                        Ok((_, done)) => done,
                        Err(error) => {
                            let index = *task_index
                                .get(&error.id())
                                .context("an apply task ended that was never started")?;
                            let failure = if error.is_cancelled() {
                                ProviderError::Cancelled
                            } else {
                                ProviderError::Failed(format!(
                                    "the provider panicked: {}",
                                    panic_message(error)
                                ))
                            };
                            (index, Err(failure))
                        }
                    };
                    let change = &changes[index];
                    if change.action == Action::Check {
                        let run = assertion_runs.lock().ok().and_then(|mut runs| runs.remove(&index));
                        match (outcome, run) {
                            (Ok(_), Some(run)) => {
                                state.assertions.insert(change.address.to_string(), run.evidence);
                                if run.passed {
                                    finished.insert(index, true);
                                    report(&format!("{}: holds: {}", change.address, run.message));
                                    result.outcomes.push((change.address.clone(), change.action, Outcome::Applied));
                                } else {
                                    finished.insert(index, false);
                                    report(&format!("{}: does not hold: {}", change.address, run.message));
                                    failed_assertions.insert(index, format!("{}: {}", change.address, run.message));
                                    result.outcomes.push((change.address.clone(), change.action, Outcome::AssertionFailed(run.message)));
                                    stop_reason.get_or_insert_with(|| "an assertion did not hold".to_owned());
                                }
                            }
                            (outcome, _) => {
                                let message = match outcome {
                                    Err(error) => error.to_string(),
                                    Ok(_) => "the assertion ended without a result".to_owned(),
                                };
                                finished.insert(index, false);
                                report(&format!("{}: failed: {message}", change.address));
                                failed_assertions.insert(index, format!("{}: {message}", change.address));
                                result.outcomes.push((change.address.clone(), change.action, Outcome::Failed(message)));
                                stop_reason.get_or_insert_with(|| "an operation failed".to_owned());
                            }
                        }
                        next = running.try_join_next_with_id();
                        continue;
                    }
                    // Attributes the state cannot hold (a provider bug, e.g. an unknown value)
                    // fail the change instead of the whole run.
                    let outcome = outcome.and_then(|value| match &value {
                        Some(_) if change.address.mode == Mode::Data => Ok(value),
                        Some(attributes) => upsert(&mut state, change, attributes, engine)
                            .map(|()| value)
                            .map_err(|error| {
                                ProviderError::Failed(format!(
                                    "the provider returned attributes that cannot be stored: {error}"
                                ))
                            }),
                        None => Ok(value),
                    });
                    match outcome {
                        Ok(value) => {
                            match &value {
                                Some(value) => {
                                    applied.insert(change.address.clone(), value.clone());
                                }
                                None => {
                                    state.remove(&change.address);
                                }
                            }
                            finished.insert(index, true);
                            report(&format!("{}: {}", change.address, describe(change.action, false)));
                            result.outcomes.push((change.address.clone(), change.action, Outcome::Applied));
                        }
                        Err(error) => {
                            finished.insert(index, false);
                            let message = error.to_string();
                            report(&format!("{}: failed: {message}", change.address));
                            result.outcomes.push((change.address.clone(), change.action, Outcome::Failed(message)));
                            stop_reason.get_or_insert_with(|| "an operation failed".to_owned());
                        }
                    }
                    next = running.try_join_next_with_id();
                }
                store.save(&mut state).await.context("saving state")?;
            }
            Some(message) = intent_rx.recv() => {
                let resource = match state.resource_mut(&message.address) {
                    Some(resource) => resource,
                    None => {
                        let change = changes.iter().find(|c| c.address == message.address);
                        let provider = change.map_or("unknown".to_owned(), |c| c.provider.clone());
                        state.upsert(ResourceState::new(&message.address, provider));
                        state.resource_mut(&message.address).expect("just inserted")
                    }
                };
                resource.pending = Some(PendingIntent::now(message.operation, message.handle, message.detail));
                let saved = store.save(&mut state).await.map(|_| ()).map_err(|e| e.to_string());
                let _ = message.done.send(saved);
            }
            () = shutdown.stopping(), if stop_reason.is_none() => {}
            () = shutdown.cancelled(), if !cancel_seen => {
                cancel_seen = true;
                report("second interrupt: cancelling running operations; state is still saved");
                let _ = cancel_tx.send(true);
                abort_at.get_or_insert_with(|| tokio::time::Instant::now() + CANCEL_GRACE);
            }
            () = tokio::time::sleep_until(abort_at.unwrap_or_else(tokio::time::Instant::now)), if abort_at.is_some() => {
                report("running operations did not stop after the second interrupt: abandoning them");
                running.abort_all();
                abort_at = None;
            }
        }
    }

    for index in work.iter().copied().filter(|i| !started.contains(i)) {
        let change = &changes[index];
        let reason = match gating_assertion(index, &waits_for, &failed_assertions) {
            Some(gate) => format!("gated by {gate}"),
            None => stop_reason
                .clone()
                .unwrap_or_else(|| "a dependency failed".to_owned()),
        };
        result.outcomes.push((
            change.address.clone(),
            change.action,
            Outcome::Skipped(reason),
        ));
    }

    // Outputs, from the configuration evaluated with what now exists.
    let mut phase = None;
    if planned.plan.mode == PlanMode::Destroy && !result.failed() {
        state.outputs.clear();
    } else if !result.failed() {
        let (configuration, _) = evaluate_with_values(engine, &applied, &planned_values)?;
        phase = Some(phase_label(&configuration));
        state.outputs.clear();
        for (name, output) in &configuration.outputs {
            if output.value.is_wholly_known() {
                state.outputs.insert(
                    name.clone(),
                    OutputState::new(&output.value, output.sensitive, &engine.key)?,
                );
            }
        }
    }
    if let Some(mut record) = apply_record(&result, planned.plan.mode, started_at) {
        record.label = phase.unwrap_or_else(|| {
            // A failed run or a destroy wrote no outputs: the label is the configuration's.
            evaluate_with_values(engine, &applied, &planned_values)
                .ok()
                .and_then(|(configuration, _)| phase_label(&configuration))
        });
        state.record_apply(record);
    }
    store.save(&mut state).await.context("saving state")?;
    drop(intent_tx);
    Ok(result)
}

/// The root output that labels each apply in the timeline of `cutover show`.
const PHASE_OUTPUT: &str = "phase";

/// The value of the `phase` output: a string as is, anything else as JSON; `None` without one,
/// or when it is sensitive or unknown.
fn phase_label(configuration: &crate::config::evaluate::Configuration) -> Option<String> {
    let output = configuration.outputs.get(PHASE_OUTPUT)?;
    if output.sensitive || output.value.contains_sensitive() {
        return None;
    }
    match output.value.as_str() {
        Some(text) => Some(text.to_owned()),
        None => output.value.to_json().map(|json| json.to_string()),
    }
}

/// The timeline record of a run (without its label), counted as `apply` prints it; `None`
/// when the run had nothing to do (no change or assertion, only data sources read).
fn apply_record(result: &ApplyReport, mode: PlanMode, started_at: String) -> Option<ApplyRecord> {
    // A run that changed nothing (reads, and assertions checked as `verify` checks them) is
    // not a step of the migration: the timeline records only runs that planned a change.
    if result
        .outcomes
        .iter()
        .all(|(_, action, _)| matches!(action, Action::Read | Action::Check | Action::NoOp))
    {
        return None;
    }
    let (mut added, mut changed, mut destroyed) = (0, 0, 0);
    let mut assertions = Vec::new();
    for (address, action, outcome) in &result.outcomes {
        let applied = *outcome == Outcome::Applied;
        match action {
            Action::Check if !matches!(outcome, Outcome::Skipped(_)) => {
                assertions.push(CheckedAssertion {
                    address: address.to_string(),
                    passed: applied,
                });
            }
            _ if !applied => {}
            Action::Create => added += 1,
            Action::Update => changed += 1,
            Action::Delete => destroyed += 1,
            Action::DeleteThenCreate | Action::CreateThenDelete => {
                added += 1;
                destroyed += 1;
            }
            Action::NoOp | Action::Read | Action::Check => {}
        }
    }
    let outcome = if result.interrupted {
        ApplyOutcome::Interrupted
    } else if result.only_assertions_failed() {
        ApplyOutcome::AssertionFailed
    } else if result.failed() {
        ApplyOutcome::Failed
    } else {
        ApplyOutcome::Complete
    };
    Some(ApplyRecord {
        started_at,
        finished_at: crate::state::now_rfc3339(),
        operation: match mode {
            PlanMode::Destroy => ApplyOperation::Destroy,
            _ => ApplyOperation::Apply,
        },
        outcome,
        added,
        changed,
        destroyed,
        assertions,
        label: None,
        extra: BTreeMap::new(),
    })
}

/// The failed assertion `index` waits for, directly or through what it depends on
/// (`assert.caught_up: the mirror is 12 records behind …`).
fn gating_assertion<'a>(
    index: usize,
    waits_for: &BTreeMap<usize, Vec<usize>>,
    failed_assertions: &'a BTreeMap<usize, String>,
) -> Option<&'a str> {
    let mut seen = BTreeSet::new();
    let mut queue = vec![index];
    // Bounded: each change is visited once.
    while let Some(next) = queue.pop() {
        if !seen.insert(next) {
            continue;
        }
        for dependency in waits_for.get(&next).into_iter().flatten() {
            if let Some(message) = failed_assertions.get(dependency) {
                return Some(message);
            }
            queue.push(*dependency);
        }
    }
    None
}

/// The message a task panicked with.
fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned()),
        Err(error) => error.to_string(),
    }
}

fn describe(action: Action, starting: bool) -> &'static str {
    match (action, starting) {
        (Action::Create, true) => "creating",
        (Action::Create, false) => "created",
        (Action::Update, true) => "updating",
        (Action::Update, false) => "updated",
        (Action::Delete, true) => "destroying",
        (Action::Delete, false) => "destroyed",
        (Action::DeleteThenCreate | Action::CreateThenDelete, true) => "replacing",
        (Action::DeleteThenCreate | Action::CreateThenDelete, false) => "replaced",
        (Action::Read, true) => "reading",
        (Action::Read, false) => "read",
        (Action::NoOp, true) => "importing",
        (Action::NoOp, false) => "imported",
        (Action::Check, true) => "checking",
        (Action::Check, false) => "holds",
    }
}

/// For each change, the changes it must wait for. Creates, updates and reads wait for the
/// changes of what they depend on; a deletion waits for every change of an object that
/// depended on the deleted one (recorded in state), so nothing loses a dependency while it
/// still uses it.
fn dependency_edges(
    changes: &[ResourceChange],
    work: &[usize],
    state: &State,
) -> BTreeMap<usize, Vec<usize>> {
    let mut by_label: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &index in work {
        by_label
            .entry(object_label(&changes[index].address))
            .or_default()
            .push(index);
    }
    let mut edges: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &index in work {
        let change = &changes[index];
        let mut waits = Vec::new();
        if change.action == Action::Delete {
            // Assertions that gate the destruction (see the planner's gate_dropped_instances).
            for dependency in &change.dependencies {
                for &other in by_label.get(dependency).into_iter().flatten() {
                    if changes[other].action == Action::Check {
                        waits.push(other);
                    }
                }
            }
            let label = object_label(&change.address);
            for &other in work {
                if other == index {
                    continue;
                }
                let depended = state
                    .resource(&changes[other].address)
                    .is_some_and(|r| r.dependencies.contains(&label));
                if depended {
                    waits.push(other);
                }
            }
        } else {
            for dependency in &change.dependencies {
                for &other in by_label.get(dependency).into_iter().flatten() {
                    if changes[other].action != Action::Delete {
                        waits.push(other);
                    }
                }
            }
        }
        edges.insert(index, waits);
    }
    edges
}

fn upsert(
    state: &mut State,
    change: &ResourceChange,
    value: &Value,
    engine: &Engine,
) -> anyhow::Result<()> {
    let mut resource = state
        .resource(&change.address)
        .cloned()
        .unwrap_or_else(|| ResourceState::new(&change.address, change.provider.clone()));
    resource.set_attributes(value, &engine.key)?;
    resource.set_dependencies(change.dependencies.iter().cloned());
    resource.protection.prevent_destroy = change.prevent_destroy;
    resource.pending = None;
    state.upsert(resource);
    Ok(())
}

fn evaluate_with_values(
    engine: &Engine,
    applied: &BTreeMap<ResourceAddress, Value>,
    planned: &BTreeMap<ResourceAddress, Value>,
) -> anyhow::Result<(
    crate::config::evaluate::Configuration,
    BTreeMap<ResourceAddress, ResourceInstance>,
)> {
    let (tree, diagnostics) = load::load(&engine.config_dir);
    let tree = tree.with_context(|| {
        format!(
            "the configuration can no longer be loaded:\n{}",
            diagnostics.render(None)
        )
    })?;
    let (inputs, _) = inputs::collect(
        &engine.config_dir,
        &engine.environment_vars,
        &engine.command_line_vars,
    );
    let mut hook = ApplyHook {
        applied,
        planned,
        instances: BTreeMap::new(),
    };
    let (configuration, _) = evaluate_configuration_with(
        &tree,
        &inputs,
        engine.registry.as_ref(),
        EvalMode::Plan,
        &mut hook,
    );
    Ok((configuration, hook.instances))
}

/// The change again, with the configuration evaluated now that its dependencies exist. The
/// action must not change: a plan that was reviewed is the plan that is applied.
fn refreshed_change(
    change: &ResourceChange,
    instance: &ResourceInstance,
    provider: &dyn ResourceType,
    engine: &Engine,
) -> Result<ResourceChange, String> {
    if instance.address.mode == Mode::Data {
        return Ok(change.clone());
    }
    let canonical = provider.canonical_config(&instance.config);
    let diff = diff_instance(
        provider.schema(),
        change.before.as_ref(),
        canonical.as_ref().unwrap_or(&instance.config),
        &instance.lifecycle,
        &engine.key,
    );
    // Values unknown at plan time are known now: the schema's validators judged them while
    // the body was evaluated, with the words `validate` uses for values known earlier.
    if let Some(message) = instance.errors.first() {
        return Err(format!("planning {}: {message}", change.address));
    }
    let mut diff = diff;
    let planned = provider
        .plan(change.before.as_ref(), std::mem::take(&mut diff.planned))
        .map_err(|error| Marks::of(&instance.config).scrub_error(error))
        .map_err(|error| format!("planning {}: {error}", change.address))?;
    if let Some(before) = &change.before {
        crate::plan::diff::replace_if_required(
            &mut diff,
            provider.requires_replace(before, &planned),
            &instance.lifecycle,
        );
    }
    let compatible = diff.action == change.action
        || (change.action == Action::Update && diff.action == Action::NoOp);
    if !compatible {
        return Err(format!(
            "{} was planned as {:?} but now needs {:?}: values known only after apply changed the plan; run plan again",
            change.address, change.action, diff.action
        ));
    }
    let mut updated = change.clone();
    updated.after = Some(planned);
    Ok(updated)
}
