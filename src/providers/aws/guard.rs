//! The decommission guard: before an EC2 instance that serves a Kafka cluster is terminated,
//! prove that the cluster is quiet. One observation samples the high watermark of every
//! partition (internal topics such as `__consumer_offsets` left out), waits the observation
//! window, samples again, and lists consumer groups: any partition that grew, or any group
//! with members, is evidence that producers or consumers still use the cluster, and the
//! termination is refused with that evidence.
//!
//! Instances of one cluster share one observation per run, so the check passes (or fails)
//! once, before any of them is terminated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::Consumer as _;
use regex::Regex;
use tokio::sync::{OnceCell, watch};

use super::support::{Stored, attributes, human, known, sleep_or_cancel, text};
use crate::config::schema::{AttributeSchema, BlockSchema, Nesting, Schema};
use crate::config::types::Type;
use crate::config::value::Value;
use crate::kafka::connection::{Cluster, blocking};
use crate::providers::{ProviderContext, ProviderError, ProviderResult};

/// How long the guard watches when `observe_for` is not set.
pub const DEFAULT_OBSERVE_FOR: Duration = Duration::from_secs(30);
/// How long an instance without a guard is watched when it serves a configured cluster.
pub const UNGUARDED_OBSERVE_FOR: Duration = Duration::from_secs(10);
/// Topics never counted as writes: Kafka's own (`__consumer_offsets`, `__transaction_state`).
const INTERNAL_TOPIC_PREFIX: &str = "__";
/// At most this many pieces of evidence are quoted in a message.
const QUOTED: usize = 5;

pub fn guard_block() -> BlockSchema {
    BlockSchema {
        name: "decommission_guard",
        nesting: Nesting::Single,
        required: false,
        schema: Schema::new(
            vec![
                AttributeSchema::required("cluster", Type::Any)
                    .describe("the Kafka cluster these instances serve, e.g. cluster.legacy"),
                AttributeSchema::optional("observe_for", Type::String)
                    .describe("how long to watch for writes before terminating")
                    .default_value(crate::config::value::Value::string("30s"))
                    .pattern(crate::config::validate::Pattern::Duration),
                AttributeSchema::optional("topics", Type::list_of(Type::String))
                    .describe(
                        "regular expressions of the topics to watch (default: every topic); for a cluster shared with topics that stay",
                    )
                    .pattern(crate::config::validate::Pattern::Regex),
                AttributeSchema::optional("groups", Type::list_of(Type::String))
                    .describe("regular expressions of the consumer groups to check (default: every group)")
                    .pattern(crate::config::validate::Pattern::Regex),
                AttributeSchema::optional("ignore_topics", Type::list_of(Type::String))
                    .describe(
                        "regular expressions of topics whose writes do not count (internal __ topics never count)",
                    )
                    .pattern(crate::config::validate::Pattern::Regex),
                AttributeSchema::optional("ignore_groups", Type::list_of(Type::String))
                    .describe("regular expressions of consumer groups that do not count")
                    .pattern(crate::config::validate::Pattern::Regex),
                AttributeSchema::optional("require_reachable", Type::Bool).describe(
                    "refuse when the cluster cannot be reached (default true); false treats an unreachable cluster as quiet",
                ),
            ],
            Vec::new(),
        ),
        description: "a check that must pass before any instance of the block is terminated",
    }
}

/// The decoded guard settings (as stored in state: the cluster is its address).
#[derive(Debug, Clone)]
pub struct GuardSpec {
    pub cluster: String,
    pub observe_for: Duration,
    /// What is watched: topics and groups matching these (all when empty), except the
    /// ignored ones.
    pub selection: Selection,
    pub require_reachable: bool,
}

/// Which topics and consumer groups an observation looks at.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub topics: Vec<Regex>,
    pub groups: Vec<Regex>,
    pub ignore_topics: Vec<Regex>,
    pub ignore_groups: Vec<Regex>,
}

impl Selection {
    fn selects(only: &[Regex], ignore: &[Regex], name: &str) -> bool {
        (only.is_empty() || only.iter().any(|pattern| pattern.is_match(name)))
            && !ignore.iter().any(|pattern| pattern.is_match(name))
    }

    /// Internal topics (`__consumer_offsets`, ...) are never watched.
    pub fn topic(&self, name: &str) -> bool {
        !name.starts_with(INTERNAL_TOPIC_PREFIX)
            && Self::selects(&self.topics, &self.ignore_topics, name)
    }

    pub fn group(&self, name: &str) -> bool {
        Self::selects(&self.groups, &self.ignore_groups, name)
    }

    fn key(&self) -> String {
        fn list(patterns: &[Regex]) -> Vec<&str> {
            patterns.iter().map(Regex::as_str).collect()
        }
        format!(
            "{:?}|{:?}|{:?}|{:?}",
            list(&self.topics),
            list(&self.groups),
            list(&self.ignore_topics),
            list(&self.ignore_groups)
        )
    }
}

/// The arguments of a `decommission_guard` block, decoded once (the schema checked the
/// duration and the regular expressions before). `cluster` is a reference, taken as it is
/// ([`crate::config::decode::reference`]). State keeps a sensitive argument only as its
/// keyed hash; the guard then watches more, never less: every topic and group, none ignored,
/// the default window, an unreachable cluster refused.
#[derive(Debug, Default, serde::Deserialize)]
struct GuardArgs {
    observe_for: Option<Stored<String>>,
    topics: Option<Stored<Vec<String>>>,
    groups: Option<Stored<Vec<String>>>,
    ignore_topics: Option<Stored<Vec<String>>>,
    ignore_groups: Option<Stored<Vec<String>>>,
    require_reachable: Option<Stored<bool>>,
}

/// The address of the guard's `cluster`: what state stores, or the evaluated block's own
/// `address` in a plan.
fn cluster_address(guard: &Value) -> Option<String> {
    match crate::config::decode::reference(guard, "cluster")?.peel() {
        Value::String(address) => Some(address.clone()),
        Value::Map(block) => block.get("address")?.peel().as_str().map(str::to_owned),
        _ => None,
    }
}

fn patterns(name: &str, texts: &Option<Stored<Vec<String>>>) -> ProviderResult<Vec<Regex>> {
    known(texts)
        .into_iter()
        .flatten()
        .map(|pattern| {
            Regex::new(pattern).map_err(|error| {
                ProviderError::Invalid(format!(
                    "decommission_guard.{name}: \"{pattern}\" is not a regular expression: {error}"
                ))
            })
        })
        .collect()
}

impl GuardSpec {
    /// The guard of an instance (its attributes as planned or stored), `None` when it has
    /// none.
    pub fn of(instance: &Value) -> ProviderResult<Option<GuardSpec>> {
        let Some(guard) = crate::config::decode::reference(instance, "decommission_guard")
            .filter(|guard| guard.as_map().is_some())
        else {
            return Ok(None);
        };
        let args: GuardArgs = crate::config::decode::decode("decommission_guard", &guard)
            .map_err(ProviderError::Invalid)?;
        let Some(cluster) = cluster_address(&guard) else {
            return Err(ProviderError::Invalid(
                "decommission_guard.cluster must be a cluster reference such as cluster.legacy"
                    .to_owned(),
            ));
        };
        let observe_for = match known(&args.observe_for) {
            None => DEFAULT_OBSERVE_FOR,
            Some(text) => crate::config::evaluate::parse_duration(text)
                .filter(|duration| !duration.is_zero())
                .ok_or_else(|| {
                    ProviderError::Invalid(format!(
                        "decommission_guard.observe_for \"{text}\" is not a positive duration like 30s or 5m"
                    ))
                })?,
        };
        Ok(Some(GuardSpec {
            cluster,
            observe_for,
            selection: Selection {
                topics: patterns("topics", &args.topics)?,
                groups: patterns("groups", &args.groups)?,
                ignore_topics: patterns("ignore_topics", &args.ignore_topics)?,
                ignore_groups: patterns("ignore_groups", &args.ignore_groups)?,
            },
            require_reachable: known(&args.require_reachable).copied().unwrap_or(true),
        }))
    }

    /// What the observation depends on, so equal guards share one.
    fn key(&self) -> String {
        format!(
            "{}|{:?}|{}",
            self.cluster,
            self.observe_for,
            self.selection.key()
        )
    }
}

/// The guard's value as stored: the cluster reference replaced by its address.
pub fn canonical_guard(guard: &Value) -> Option<Value> {
    let map = guard.as_map()?;
    let address = match map.get("cluster").map(Value::peel) {
        Some(Value::Map(cluster)) => text(cluster, "address")?,
        _ => return None,
    };
    let mut map = map.clone();
    map.insert("cluster".to_owned(), Value::String(address));
    Some(Value::Map(map))
}

/// A partition that received writes during the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub topic: String,
    pub partition: i32,
    pub before: i64,
    pub after: i64,
}

/// A consumer group with members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveGroup {
    pub name: String,
    pub state: String,
    pub members: usize,
}

/// What one look at a cluster found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// The cluster could not be reached (the reason).
    Unreachable(String),
    Observed {
        window: Duration,
        partitions: usize,
        writes: Vec<Write>,
        groups: Vec<ActiveGroup>,
        /// Why consumer groups could not be listed (brokers older than 0.9 keep them in
        /// ZooKeeper), when they could not.
        groups_unchecked: Option<String>,
    },
}

impl Observation {
    /// True when something still writes to or reads from the cluster.
    pub fn busy(&self) -> bool {
        matches!(self, Observation::Observed { writes, groups, .. } if !writes.is_empty() || !groups.is_empty())
    }

    /// The evidence, in words.
    pub fn describe(&self, cluster: &str) -> String {
        match self {
            Observation::Unreachable(reason) => format!("{cluster} cannot be reached ({reason})"),
            Observation::Observed {
                window,
                partitions,
                writes,
                groups,
                groups_unchecked,
            } => {
                let mut parts = Vec::new();
                if writes.is_empty() {
                    parts.push(format!(
                        "no writes to its {partitions} partitions during {}",
                        human(*window)
                    ));
                } else {
                    let total: i64 = writes.iter().map(|w| w.after - w.before).sum();
                    let quoted: Vec<String> = writes
                        .iter()
                        .take(QUOTED)
                        .map(|w| format!("{}[{}] {} → {}", w.topic, w.partition, w.before, w.after))
                        .collect();
                    parts.push(format!(
                        "{total} records were written to {} of its {partitions} partitions during {} ({}{})",
                        writes.len(),
                        human(*window),
                        quoted.join(", "),
                        if writes.len() > QUOTED { ", …" } else { "" }
                    ));
                }
                if !groups.is_empty() {
                    let quoted: Vec<String> = groups
                        .iter()
                        .take(QUOTED)
                        .map(|g| {
                            format!(
                                "{} ({}, {} member{})",
                                g.name,
                                g.state,
                                g.members,
                                if g.members == 1 { "" } else { "s" }
                            )
                        })
                        .collect();
                    parts.push(format!(
                        "{} consumer group{} still active: {}{}",
                        groups.len(),
                        if groups.len() == 1 { " is" } else { "s are" },
                        quoted.join(", "),
                        if groups.len() > QUOTED { ", …" } else { "" }
                    ));
                } else if let Some(reason) = groups_unchecked {
                    parts.push(format!("consumer groups not checked: {reason}"));
                } else {
                    parts.push("no active consumer groups".to_owned());
                }
                format!("{cluster}: {}", parts.join("; "))
            }
        }
    }
}

/// High watermarks of every selected partition.
fn watermarks(
    cluster: &Cluster,
    selection: &Selection,
) -> ProviderResult<BTreeMap<(String, i32), i64>> {
    let consumer = cluster.consumer(&[])?;
    let metadata = cluster.metadata(&consumer, None)?;
    let mut marks = BTreeMap::new();
    for topic in metadata.topics() {
        let name = topic.name();
        if !selection.topic(name) {
            continue;
        }
        for partition in topic.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(name, partition.id(), cluster.timeout)
                .map_err(|error| {
                    cluster.failure(
                        &format!("cannot read the offsets of {name}[{}]", partition.id()),
                        &error,
                        Some(consumer.context()),
                    )
                })?;
            marks.insert((name.to_owned(), partition.id()), high);
        }
    }
    Ok(marks)
}

/// Selected consumer groups with members, or why they could not be listed.
fn active_groups(cluster: &Cluster, selection: &Selection) -> Result<Vec<ActiveGroup>, String> {
    let consumer = cluster.consumer(&[]).map_err(|error| error.to_string())?;
    let list = consumer
        .fetch_group_list(None, cluster.timeout)
        .map_err(|error| error.to_string())?;
    Ok(list
        .groups()
        .iter()
        .filter(|group| !group.members().is_empty())
        .filter(|group| selection.group(group.name()))
        .map(|group| ActiveGroup {
            name: group.name().to_owned(),
            state: group.state().to_owned(),
            members: group.members().len(),
        })
        .collect())
}

/// Watches `cluster` for `window`: partitions that grew, and consumer groups with members.
pub async fn observe(
    context: &ProviderContext,
    cluster: &Cluster,
    window: Duration,
    selection: &Selection,
) -> ProviderResult<Observation> {
    let first = {
        let (cluster, selection) = (cluster.clone(), selection.clone());
        match blocking(move || watermarks(&cluster, &selection)).await {
            Ok(marks) => marks,
            Err(ProviderError::Failed(reason)) => return Ok(Observation::Unreachable(reason)),
            Err(other) => return Err(other),
        }
    };
    (context.progress)(&format!(
        "watching {} ({} partitions) for writes during {}",
        cluster.address,
        first.len(),
        human(window)
    ));
    sleep_or_cancel(context, window).await?;
    let (cluster_for_task, chosen) = (cluster.clone(), selection.clone());
    let second = blocking(move || watermarks(&cluster_for_task, &chosen)).await?;
    let writes: Vec<Write> = second
        .iter()
        .filter_map(|((topic, partition), after)| {
            let before = first
                .get(&(topic.clone(), *partition))
                .copied()
                .unwrap_or(0);
            (*after > before).then(|| Write {
                topic: topic.clone(),
                partition: *partition,
                before,
                after: *after,
            })
        })
        .collect();
    let (cluster_for_task, chosen) = (cluster.clone(), selection.clone());
    let groups = blocking(move || Ok(active_groups(&cluster_for_task, &chosen))).await?;
    let (groups, groups_unchecked) = match groups {
        Ok(groups) => (groups, None),
        Err(reason) => (Vec::new(), Some(reason)),
    };
    Ok(Observation::Observed {
        window,
        partitions: second.len(),
        writes,
        groups,
        groups_unchecked,
    })
}

type SharedObservation = Arc<OnceCell<Result<Observation, String>>>;

/// Observations of the current runs, shared by the instances of one cluster. A run is
/// recognised by its cancellation channel (each apply has its own), so a later run observes
/// afresh.
#[derive(Default)]
pub struct GuardRuns {
    entries: Mutex<Vec<(watch::Receiver<bool>, String, SharedObservation)>>,
}

impl GuardRuns {
    fn slot(&self, context: &ProviderContext, key: &str) -> SharedObservation {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Runs that ended (their sender is gone) are forgotten.
        entries.retain(|(run, _, _)| run.has_changed().is_ok());
        if let Some((_, _, slot)) = entries
            .iter()
            .find(|(run, entry_key, _)| run.same_channel(&context.cancel) && entry_key == key)
        {
            return slot.clone();
        }
        let slot = SharedObservation::default();
        entries.push((context.cancel.clone(), key.to_owned(), slot.clone()));
        slot
    }

    /// The observation of `spec`'s cluster in this run: made once, shared.
    pub async fn observe(
        &self,
        context: &ProviderContext,
        spec: &GuardSpec,
    ) -> ProviderResult<Observation> {
        let slot = self.slot(context, &spec.key());
        let result = slot
            .get_or_init(|| async {
                let cluster = match context.connections.cluster(&spec.cluster) {
                    Ok(value) => Cluster::from_value(value),
                    Err(error) => Err(error),
                };
                let cluster = match cluster {
                    Ok(cluster) => cluster,
                    Err(error) => return Err(error.to_string()),
                };
                observe(context, &cluster, spec.observe_for, &spec.selection)
                    .await
                    .map_err(|error| error.to_string())
            })
            .await;
        result.clone().map_err(|message| {
            if message == ProviderError::Cancelled.to_string() {
                ProviderError::Cancelled
            } else {
                ProviderError::Failed(message)
            }
        })
    }
}

/// The guard's verdict for terminating `instance`: `Ok` with the evidence that the cluster is
/// quiet, or the refusal.
pub fn verdict(
    spec: &GuardSpec,
    instance: &str,
    observation: &Observation,
) -> ProviderResult<String> {
    let evidence = observation.describe(&spec.cluster);
    match observation {
        Observation::Unreachable(_) if spec.require_reachable => {
            Err(ProviderError::Failed(format!(
                "refusing to terminate {instance}: the decommission guard cannot prove the cluster is quiet: {evidence}; fix the connection, or set require_reachable = false if the brokers are already shut down"
            )))
        }
        _ if observation.busy() => Err(ProviderError::Failed(format!(
            "refusing to terminate {instance}: the decommission guard found the cluster still in use: {evidence}; stop the producers and consumers (and the mirror) first, then apply again"
        ))),
        _ => Ok(evidence),
    }
}

/// The guard as configured in an instance's arguments (for `canonical_config`).
pub fn with_canonical_guard(config: &Value) -> Option<Value> {
    let mut map = attributes(config);
    let guard = map.get("decommission_guard")?;
    let canonical = canonical_guard(guard)?;
    map.insert("decommission_guard".to_owned(), canonical);
    Some(Value::Map(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(pairs: &[(&str, Value)]) -> Value {
        Value::Map(BTreeMap::from([(
            "decommission_guard".to_owned(),
            Value::Map(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            ),
        )]))
    }

    #[test]
    fn guard_settings_decode_with_defaults_and_errors() {
        let spec = GuardSpec::of(&guard(&[("cluster", Value::string("cluster.legacy"))]))
            .unwrap()
            .unwrap();
        assert_eq!(spec.cluster, "cluster.legacy");
        assert_eq!(spec.observe_for, DEFAULT_OBSERVE_FOR);
        assert!(spec.require_reachable);
        assert!(
            GuardSpec::of(&Value::Map(BTreeMap::new()))
                .unwrap()
                .is_none()
        );
        assert!(GuardSpec::of(&Value::Null).unwrap().is_none());
        let error = GuardSpec::of(&guard(&[
            ("cluster", Value::string("cluster.legacy")),
            ("ignore_topics", Value::List(vec![Value::string("(")])),
        ]))
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("decommission_guard.ignore_topics: \"(\" is not a regular expression"),
            "{error}"
        );
        let error = GuardSpec::of(&guard(&[("cluster", Value::int(1))])).unwrap_err();
        assert!(error.to_string().contains("cluster reference"), "{error}");
    }

    #[test]
    fn a_guard_in_a_plan_or_stored_with_hashes_watches_more_never_less() {
        // Planned: the evaluated cluster block, by its address.
        let block = Value::Map(BTreeMap::from([
            ("address".to_owned(), Value::string("cluster.legacy")),
            (
                "bootstrap_servers".to_owned(),
                Value::sensitive(Value::List(vec![Value::string("10.0.1.10:9092")])),
            ),
        ]));
        let spec = GuardSpec::of(&guard(&[("cluster", block)]))
            .unwrap()
            .unwrap();
        assert_eq!(spec.cluster, "cluster.legacy");
        // Stored: what state keeps only as a hash is not known here.
        let hash = Value::sensitive(Value::Map(BTreeMap::from([(
            crate::state::sensitive::SENSITIVE_MARKER.to_owned(),
            Value::string(format!(
                "{}{}",
                crate::state::sensitive::HASH_PREFIX,
                "ab".repeat(32)
            )),
        )])));
        let spec = GuardSpec::of(&guard(&[
            ("cluster", Value::string("cluster.legacy")),
            ("observe_for", hash.clone()),
            ("topics", hash.clone()),
            ("ignore_groups", hash.clone()),
            ("require_reachable", hash.clone()),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(spec.observe_for, DEFAULT_OBSERVE_FOR);
        assert!(spec.selection.topic("orders") && spec.selection.group("billing"));
        assert!(spec.require_reachable);
        let error = GuardSpec::of(&guard(&[("cluster", hash)])).unwrap_err();
        assert!(error.to_string().contains("cluster reference"), "{error}");
    }

    #[test]
    fn the_verdict_quotes_the_evidence() {
        let spec = GuardSpec::of(&guard(&[("cluster", Value::string("cluster.legacy"))]))
            .unwrap()
            .unwrap();
        let busy = Observation::Observed {
            window: Duration::from_secs(30),
            partitions: 4,
            writes: vec![Write {
                topic: "orders".into(),
                partition: 0,
                before: 10,
                after: 25,
            }],
            groups: vec![ActiveGroup {
                name: "billing".into(),
                state: "Stable".into(),
                members: 2,
            }],
            groups_unchecked: None,
        };
        let refused = verdict(&spec, "i-1", &busy).unwrap_err().to_string();
        assert_eq!(
            refused,
            "refusing to terminate i-1: the decommission guard found the cluster still in use: cluster.legacy: 15 records were written to 1 of its 4 partitions during 30s (orders[0] 10 → 25); 1 consumer group is still active: billing (Stable, 2 members); stop the producers and consumers (and the mirror) first, then apply again"
        );
        let quiet = Observation::Observed {
            window: Duration::from_secs(30),
            partitions: 4,
            writes: Vec::new(),
            groups: Vec::new(),
            groups_unchecked: None,
        };
        assert_eq!(
            verdict(&spec, "i-1", &quiet).unwrap(),
            "cluster.legacy: no writes to its 4 partitions during 30s; no active consumer groups"
        );
        let gone = Observation::Unreachable("connection refused".into());
        assert!(verdict(&spec, "i-1", &gone).is_err());
        let relaxed = GuardSpec {
            require_reachable: false,
            ..spec
        };
        assert!(verdict(&relaxed, "i-1", &gone).is_ok());
    }
}
