//! `quiescent { cluster = cluster.legacy, topics = [...], groups = [...], for = "5m" }`: no end
//! offset of the topics (every non-internal topic when `topics` is omitted) moved, and no
//! listed consumer group (every group when `groups` is omitted) had an active member, for the
//! whole window — proof that producers and consumers have left the old cluster. The window
//! starts at the first poll and starts again at any write or member seen.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer as _;

use super::read::{all_topics, reader, watermarks};
use super::{CheckRun, parsed_duration};
use crate::config::decode::reference;
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::value::Value;
use crate::context::ProviderContext;
use crate::error::{OperationError as ProviderError, OperationResult as ProviderResult};
use crate::kafka::connection::{Cluster, blocking};

pub const NAME: &str = "quiescent";

pub fn schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::required("cluster", Type::Any)
                .describe("the cluster that must be quiet, e.g. cluster.legacy"),
            AttributeSchema::optional("topics", Type::list_of(Type::String))
                .describe("topics that must see no writes (default: every non-internal topic)")
                .pattern(crate::config::validate::Pattern::TopicName),
            AttributeSchema::optional("groups", Type::list_of(Type::String))
                .describe("consumer groups that must have no members (default: every group; [] checks none, for a cluster whose consumers have not moved yet)"),
            AttributeSchema::optional("for", Type::String)
                .describe("how long it must stay quiet, e.g. \"5m\"")
                .default_value(crate::config::value::Value::string("1m"))
                .pattern(crate::config::validate::Pattern::Duration),
        ],
        Vec::new(),
    )
}

/// The check's own arguments, decoded once (the schema judged them; `cluster` is a
/// reference, passed on as it is). `groups` unset means every group, `[]` none.
#[derive(Debug, Default, serde::Deserialize)]
struct QuiescentArgs {
    topics: Option<Vec<Option<String>>>,
    groups: Option<Vec<Option<String>>>,
    #[serde(rename = "for")]
    window: Option<String>,
}

pub struct Quiescent {
    cluster: Value,
    topics: Vec<String>,
    /// `None`: every group; `Some([])`: none.
    groups: Option<Vec<String>>,
    window: Duration,
    /// End offsets seen at the start of the current quiet window, and when it started.
    baseline: Option<(BTreeMap<String, i64>, Instant)>,
}

impl Quiescent {
    pub fn new(check: &Value) -> ProviderResult<Self> {
        let cluster = reference(check, "cluster").ok_or_else(|| {
            ProviderError::Invalid("quiescent needs cluster = cluster.NAME".to_owned())
        })?;
        let args: QuiescentArgs = crate::config::decode::decode_checked(NAME, &schema(), check)
            .map_err(ProviderError::Invalid)?;
        let known = |items: Vec<Option<String>>| items.into_iter().flatten().collect::<Vec<_>>();
        Ok(Quiescent {
            cluster,
            topics: args.topics.map(known).unwrap_or_default(),
            groups: args.groups.map(known),
            window: parsed_duration("for", args.window.as_deref())?
                .unwrap_or(Duration::from_secs(60)),
            baseline: None,
        })
    }

    pub async fn poll(&mut self, context: &ProviderContext) -> ProviderResult<CheckRun> {
        let cluster = Cluster::resolve(&context.connections, &self.cluster)?;
        let address = cluster.address.clone();
        let (topics, groups) = (self.topics.clone(), self.groups.clone());
        let (ends, active) = blocking(move || observe(&cluster, &topics, &groups)).await?;
        let now = Instant::now();
        let mut moved: Vec<String> = Vec::new();
        match &self.baseline {
            Some((previous, _)) => {
                for (key, end) in &ends {
                    let before = previous.get(key).copied().unwrap_or(0);
                    if *end != before {
                        moved.push(format!("{key} {before}→{end}"));
                    }
                }
            }
            None => self.baseline = Some((ends.clone(), now)),
        }
        if !moved.is_empty() || !active.is_empty() {
            self.baseline = Some((ends.clone(), now));
        }
        let quiet_for = self
            .baseline
            .as_ref()
            .map_or(Duration::ZERO, |(_, since)| now.duration_since(*since));
        let holds = moved.is_empty() && active.is_empty() && quiet_for >= self.window;
        let summary = if !moved.is_empty() {
            format!(
                "{} partition{} of {address} received writes ({}{})",
                moved.len(),
                if moved.len() == 1 { "" } else { "s" },
                moved.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                if moved.len() > 3 { ", …" } else { "" }
            )
        } else if !active.is_empty() {
            format!(
                "consumer groups with active members on {address}: {}",
                active
                    .iter()
                    .map(|(group, members)| format!("{group} ({members} members)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else if holds {
            format!(
                "{address}: no writes to {} partitions and no active group members for {}s",
                ends.len(),
                quiet_for.as_secs()
            )
        } else {
            format!(
                "{address} quiet for {}s of the {}s window",
                quiet_for.as_secs(),
                self.window.as_secs()
            )
        };
        Ok(CheckRun {
            holds,
            evidence: serde_json::json!({
                "holds": holds,
                "summary": summary,
                "cluster": address,
                "window_seconds": self.window.as_secs_f64(),
                "quiet_for_seconds": quiet_for.as_secs_f64(),
                "end_offsets": ends,
                "active_groups": active,
            }),
            summary,
        })
    }
}

/// End offsets by `topic/partition`, and the groups with members (name → member count).
/// Blocking.
fn observe(
    cluster: &Cluster,
    topics: &[String],
    groups: &Option<Vec<String>>,
) -> ProviderResult<(BTreeMap<String, i64>, BTreeMap<String, usize>)> {
    let consumer = reader(cluster)?;
    let topics = if topics.is_empty() {
        all_topics(cluster, &consumer)?
    } else {
        topics.to_vec()
    };
    let marks = watermarks(cluster, &consumer, &topics)?;
    let mut ends = BTreeMap::new();
    for (topic, partitions) in &marks {
        for (partition, (_, end)) in partitions.iter().enumerate() {
            ends.insert(format!("{topic}/{partition}"), *end);
        }
    }
    for topic in &topics {
        if !marks.contains_key(topic) {
            return Err(ProviderError::Failed(format!(
                "{topic} does not exist on {}",
                cluster.address
            )));
        }
    }
    let mut active = BTreeMap::new();
    if groups.as_ref().is_some_and(Vec::is_empty) {
        return Ok((ends, active));
    }
    let listed = consumer
        .fetch_group_list(None, cluster.timeout)
        .map_err(|error| {
            cluster.failure(
                "cannot list the consumer groups",
                &error,
                Some(consumer.context()),
            )
        })?;
    for group in listed.groups() {
        if let Some(groups) = groups
            && !groups.iter().any(|g| g == group.name())
        {
            continue;
        }
        if !group.members().is_empty() {
            active.insert(group.name().to_owned(), group.members().len());
        }
    }
    Ok((ends, active))
}
