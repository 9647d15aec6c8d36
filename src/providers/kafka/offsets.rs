//! `resource "kafka_consumer_group_offsets"`: copies the committed offsets of consumer groups
//! from the source cluster to the target for the mirrored topics, so consumers that move to the
//! target resume where they stopped. The plan previews, per group and partition, what the
//! target has now and what it will get; the apply refuses groups with active members on the
//! target, computes the offsets again from the live clusters, and commits them.
//!
//! The stored object records what was copied; a later refresh does not compare it with the
//! target's live offsets, which the moved consumers advance (that is not drift).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use regex::Regex;

use super::topics::cluster_references_as_addresses;
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::value::Value;
use crate::kafka::admin::list_topics;
use crate::kafka::connection::{
    Cluster, Feature, KafkaContext, blocking, with_coordinator_retries,
};
use crate::kafka::zookeeper::{self, ZooKeeper};
use crate::providers::{BoxFuture, ProviderContext, ProviderError, ProviderResult, ResourceType};

pub const KAFKA_CONSUMER_GROUP_OFFSETS: &str = "kafka_consumer_group_offsets";

/// How target offsets are derived from the source's committed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The same offset (the mirror preserved offsets).
    Translate,
    /// The target partition's log start: consumers re-read everything mirrored.
    Earliest,
    /// The target partition's end: consumers skip to new records.
    Latest,
    /// The first target offset whose timestamp is at or after the source record's.
    Timestamp,
}

impl Strategy {
    fn parse(text: &str) -> ProviderResult<Strategy> {
        match text {
            "translate" => Ok(Strategy::Translate),
            "earliest" => Ok(Strategy::Earliest),
            "latest" => Ok(Strategy::Latest),
            "timestamp" => Ok(Strategy::Timestamp),
            other => Err(ProviderError::Invalid(format!(
                "strategy {other:?} is not one of translate, earliest, latest, timestamp"
            ))),
        }
    }
}

/// Offsets by group, then `topic/partition`.
pub type GroupOffsets = BTreeMap<String, BTreeMap<String, i64>>;

pub struct KafkaConsumerGroupOffsets {
    schema: Schema,
}

impl KafkaConsumerGroupOffsets {
    pub fn new() -> Self {
        KafkaConsumerGroupOffsets {
            schema: Schema::new(
                vec![
                    AttributeSchema::required("source", Type::Any)
                        .describe("the cluster the groups commit to now, e.g. cluster.source"),
                    AttributeSchema::required("target", Type::Any)
                        .describe("the cluster the groups move to, e.g. cluster.target"),
                    AttributeSchema::optional("groups", Type::list_of(Type::String))
                        .describe("group ids to copy"),
                    AttributeSchema::optional("group_regex", Type::String)
                        .describe("copy every source group whose whole id matches")
                        .pattern(crate::config::validate::Pattern::Regex),
                    AttributeSchema::required("topics", Type::list_of(Type::String))
                        .describe("the mirrored topics whose offsets are copied")
                        .pattern(crate::config::validate::Pattern::TopicName)
                        .validate(crate::config::validate::Validator::Length {
                            min: 1,
                            max: usize::MAX,
                        }),
                    AttributeSchema::optional("mirror", Type::Any).describe(
                        "the kafka_mirror that copied the topics; with offsets = \"translate\" its exact offset map translates",
                    ),
                    AttributeSchema::optional("strategy", Type::String)
                        .describe(
                            "translate: the same offsets (the mirror preserved them) or through the mirror's offset map; earliest, latest or timestamp",
                        )
                        .default_value(Value::string("translate"))
                        .validate(crate::config::validate::Validator::one_of_or(
                            &["translate", "earliest", "latest", "timestamp"],
                            &[("exact", "translate"), ("preserve", "translate"), ("beginning", "earliest"), ("smallest", "earliest"), ("largest", "latest"), ("end", "latest"), ("time", "timestamp")],
                        )),
                    AttributeSchema::computed("offsets", Type::Any).describe(
                        "by group and topic/partition: the offsets committed on the target",
                    ),
                    AttributeSchema::computed("previous_offsets", Type::Any).describe(
                        "by group and topic/partition: what the target had committed before",
                    ),
                ],
                Vec::new(),
            )
            .at_least_one_of(&["groups", "group_regex"]),
        }
    }
}

impl Default for KafkaConsumerGroupOffsets {
    fn default() -> Self {
        Self::new()
    }
}

/// The arguments of a `kafka_consumer_group_offsets`, decoded once; the schema's validators
/// (strategy, the regex, topic names, groups or group_regex) judged them before. Unknown values
/// decode as `None`. `source` and `target` are cluster references, resolved by
/// [`Cluster::resolve`].
#[derive(Debug, Default, serde::Deserialize)]
struct OffsetsArgs {
    groups: Option<Vec<Option<String>>>,
    group_regex: Option<String>,
    topics: Option<Vec<Option<String>>>,
    strategy: Option<String>,
    mirror: Option<MirrorReference>,
}

/// What `mirror` holds: the mirror object as evaluated, or its offset map topic once canonical.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum MirrorReference {
    OffsetMapTopic(String),
    Mirror { offset_map_topic: Option<String> },
    Other(serde::de::IgnoredAny),
}

impl OffsetsArgs {
    fn of(value: &Value) -> ProviderResult<OffsetsArgs> {
        crate::config::decode::decode(KAFKA_CONSUMER_GROUP_OFFSETS, value)
            .map_err(ProviderError::Invalid)
    }

    /// The offset map topic the `mirror` argument names.
    fn map_topic(&self) -> Option<String> {
        match &self.mirror {
            Some(MirrorReference::OffsetMapTopic(topic)) => Some(topic.clone()),
            Some(MirrorReference::Mirror { offset_map_topic }) => offset_map_topic.clone(),
            Some(MirrorReference::Other(_)) | None => None,
        }
    }

    fn strategy(&self) -> ProviderResult<Strategy> {
        Strategy::parse(self.strategy.as_deref().unwrap_or("translate"))
    }

    fn group_regex(&self) -> ProviderResult<Option<Regex>> {
        self.group_regex
            .as_deref()
            .map(|pattern| {
                Regex::new(&format!("^(?:{pattern})$")).map_err(|error| {
                    ProviderError::Invalid(format!(
                        "group_regex {pattern:?} is not a valid regex: {error}"
                    ))
                })
            })
            .transpose()
    }
}

/// The known strings of a list argument.
fn known(items: &Option<Vec<Option<String>>>) -> Vec<String> {
    items.iter().flatten().flatten().cloned().collect()
}

/// The settings of one copy, decoded from the planned value.
struct Copy {
    source: Cluster,
    target: Cluster,
    groups: Vec<String>,
    group_regex: Option<Regex>,
    topics: Vec<String>,
    strategy: Strategy,
    /// The offset map topic of a translating mirror.
    map_topic: Option<String>,
}

impl Copy {
    fn from_value(context: &ProviderContext, value: &Value) -> ProviderResult<Copy> {
        let cluster = |name: &str| {
            let value = value
                .as_map()
                .and_then(|map| map.get(name))
                .cloned()
                .unwrap_or(Value::Null);
            Cluster::resolve(&context.connections, &value)
        };
        let args = OffsetsArgs::of(value)?;
        Ok(Copy {
            source: cluster("source")?,
            target: cluster("target")?,
            groups: known(&args.groups),
            group_regex: args.group_regex()?,
            topics: known(&args.topics),
            strategy: args.strategy()?,
            map_topic: args.map_topic(),
        })
    }
}

/// Groups known to a cluster: from the group coordinator where the brokers have one, and from
/// ZooKeeper (0.8-era consumers) when the block names it.
async fn source_groups(cluster: &Cluster) -> ProviderResult<Vec<String>> {
    let mut groups = Vec::new();
    if cluster.supports(Feature::ConsumerGroups) {
        let cluster = cluster.clone();
        groups = blocking(move || {
            let consumer = cluster.consumer(&[])?;
            let list = consumer
                .fetch_group_list(None, cluster.timeout)
                .map_err(|error| {
                    cluster.failure(
                        "cannot list consumer groups",
                        &error,
                        Some(consumer.context()),
                    )
                })?;
            Ok(list.groups().iter().map(|g| g.name().to_owned()).collect())
        })
        .await?;
    }
    if let Some(connect) = &cluster.zookeeper {
        let mut zk = ZooKeeper::connect(connect, cluster.timeout)
            .await
            .map_err(|error| ProviderError::Failed(format!("{}: {error}", cluster.address)))?;
        let found = zookeeper::groups(&mut zk)
            .await
            .map_err(|error| ProviderError::Failed(format!("{}: {error}", cluster.address)));
        zk.close().await;
        groups.extend(found?);
    }
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// Partition counts of `topics` on a cluster; a missing topic is an error naming it.
fn partition_counts(
    cluster: &Cluster,
    consumer: &BaseConsumer<KafkaContext>,
    topics: &[String],
) -> ProviderResult<BTreeMap<String, i32>> {
    let all = list_topics(cluster, consumer, None)?;
    topics
        .iter()
        .map(|topic| {
            all.get(topic)
                .map(|(p, _)| (topic.clone(), *p))
                .ok_or_else(|| {
                    ProviderError::Failed(format!(
                        "{}: topic {topic} does not exist",
                        cluster.address
                    ))
                })
        })
        .collect()
}

/// Offsets a group has committed for the topics, through the group coordinator. Blocking.
fn committed(
    cluster: &Cluster,
    group: &str,
    partitions: &BTreeMap<String, i32>,
) -> ProviderResult<BTreeMap<String, i64>> {
    let consumer = cluster.consumer(&[("group.id", group), ("enable.auto.commit", "false")])?;
    let mut list = TopicPartitionList::new();
    for (topic, count) in partitions {
        for partition in 0..*count {
            list.add_partition(topic, partition);
        }
    }
    let committed = with_coordinator_retries(cluster.timeout, || {
        consumer.committed_offsets(list.clone(), cluster.timeout)
    })
    .map_err(|error| {
        cluster.failure(
            &format!("cannot read the committed offsets of group {group}"),
            &error,
            Some(consumer.context()),
        )
    })?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|element| match element.offset() {
            Offset::Offset(offset) if offset >= 0 => Some((
                format!("{}/{}", element.topic(), element.partition()),
                offset,
            )),
            _ => None,
        })
        .collect())
}

/// Source offsets of one group: coordinator-committed ones, and ZooKeeper-kept ones where the
/// coordinator has none.
async fn source_offsets(
    cluster: &Cluster,
    group: &str,
    partitions: &BTreeMap<String, i32>,
) -> ProviderResult<BTreeMap<String, i64>> {
    let from_coordinator = {
        let cluster = cluster.clone();
        let group = group.to_owned();
        let partitions = partitions.clone();
        blocking(move || committed(&cluster, &group, &partitions)).await
    };
    // Brokers before 0.9 keep most groups' offsets in ZooKeeper; when their coordinator cannot
    // answer, ZooKeeper is the record.
    let mut offsets = match from_coordinator {
        Ok(offsets) => offsets,
        Err(error) if !cluster.supports(Feature::ConsumerGroups) && cluster.zookeeper.is_some() => {
            tracing::debug!(%error, "no coordinator-stored offsets; reading ZooKeeper only");
            BTreeMap::new()
        }
        Err(error) => return Err(error),
    };
    if let Some(connect) = &cluster.zookeeper {
        let mut zk = ZooKeeper::connect(connect, cluster.timeout)
            .await
            .map_err(|error| ProviderError::Failed(format!("{}: {error}", cluster.address)))?;
        for topic in partitions.keys() {
            let found = zookeeper::group_offsets(&mut zk, group, topic)
                .await
                .map_err(|error| ProviderError::Failed(format!("{}: {error}", cluster.address)))?;
            for (partition, offset) in found {
                offsets
                    .entry(format!("{topic}/{partition}"))
                    .or_insert(offset);
            }
        }
        zk.close().await;
    }
    Ok(offsets)
}

fn split_key(key: &str) -> (&str, i32) {
    let (topic, partition) = key.rsplit_once('/').unwrap_or((key, "0"));
    (topic, partition.parse().unwrap_or(0))
}

/// The timestamp of the source record at `offset`, or `None` at the log end. Blocking.
fn record_timestamp(
    cluster: &Cluster,
    consumer: &BaseConsumer<KafkaContext>,
    topic: &str,
    partition: i32,
    offset: i64,
) -> ProviderResult<Option<i64>> {
    let (_, end) = consumer
        .fetch_watermarks(topic, partition, cluster.timeout)
        .map_err(|error| {
            cluster.failure("cannot read offsets", &error, Some(consumer.context()))
        })?;
    if offset >= end {
        return Ok(None);
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(offset))
        .map_err(|error| cluster.failure("cannot assign", &error, None))?;
    consumer
        .assign(&assignment)
        .map_err(|error| cluster.failure("cannot assign", &error, None))?;
    let deadline = Instant::now() + cluster.timeout;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) if message.offset() >= offset => {
                return message.timestamp().to_millis().map(Some).ok_or_else(|| {
                    ProviderError::Failed(format!(
                        "{}: the record at {topic}/{partition}@{offset} has no timestamp",
                        cluster.address
                    ))
                });
            }
            Some(Ok(_)) | None => {}
            Some(Err(error)) => {
                return Err(cluster.failure(
                    "cannot read a record",
                    &error,
                    Some(consumer.context()),
                ));
            }
        }
    }
    Err(ProviderError::Failed(format!(
        "{}: no record at {topic}/{partition}@{offset} within {:?}",
        cluster.address, cluster.timeout
    )))
}

/// What the target should get for one group's source offsets.
fn target_offsets(
    copy: &Copy,
    group: &str,
    source: &BTreeMap<String, i64>,
) -> ProviderResult<BTreeMap<String, i64>> {
    let target_consumer = copy.target.consumer(&[("enable.auto.commit", "false")])?;
    let map = match (&copy.map_topic, copy.strategy) {
        (Some(topic), Strategy::Translate) => {
            Some(crate::mirror::offset_map::read(&copy.target, topic)?)
        }
        _ => None,
    };
    let mut result = BTreeMap::new();
    let source_consumer = if copy.strategy == Strategy::Timestamp {
        copy.source.require(Feature::Timestamps)?;
        Some(copy.source.consumer(&[
            ("group.id", "cutover-timestamp-lookup"),
            ("enable.auto.commit", "false"),
        ])?)
    } else {
        None
    };
    for (key, &offset) in source {
        let (topic, partition) = split_key(key);
        let (start, end) = target_consumer
            .fetch_watermarks(topic, partition, copy.target.timeout)
            .map_err(|error| {
                copy.target.failure(
                    &format!("cannot read the offsets of {topic}/{partition}"),
                    &error,
                    Some(target_consumer.context()),
                )
            })?;
        let value = match copy.strategy {
            Strategy::Earliest => start,
            Strategy::Latest => end,
            Strategy::Translate if map.is_some() => {
                let map = map.as_ref().expect("checked");
                match map.translate(key, offset, end) {
                    crate::mirror::offset_map::Translation::Exact(target) => target,
                    crate::mirror::offset_map::Translation::NotMirrored
                        if map
                            .resume(key, end)
                            .is_none_or(|position| offset <= position) =>
                    {
                        end
                    }
                    crate::mirror::offset_map::Translation::NotMirrored => {
                        return Err(ProviderError::Failed(format!(
                            "group {group}: {topic}/{partition} is committed at {offset} on {} but the mirror has not copied that far: apply the mirror first",
                            copy.source.address
                        )));
                    }
                }
            }
            Strategy::Translate => {
                if offset > end {
                    return Err(ProviderError::Failed(format!(
                        "group {group}: {topic}/{partition} is committed at {offset} on {} but {} ends at {end}: the mirror has not caught up",
                        copy.source.address, copy.target.address
                    )));
                }
                offset.max(start)
            }
            Strategy::Timestamp => {
                let consumer = source_consumer.as_ref().expect("made for timestamp");
                match record_timestamp(&copy.source, consumer, topic, partition, offset)? {
                    None => end,
                    Some(timestamp) => {
                        let mut query = TopicPartitionList::new();
                        query
                            .add_partition_offset(topic, partition, Offset::Offset(timestamp))
                            .map_err(|error| copy.target.failure("cannot query", &error, None))?;
                        let found = target_consumer
                            .offsets_for_times(query, copy.target.timeout)
                            .map_err(|error| {
                                copy.target.failure(
                                    "cannot look offsets up by time",
                                    &error,
                                    Some(target_consumer.context()),
                                )
                            })?;
                        match found.find_partition(topic, partition).map(|e| e.offset()) {
                            Some(Offset::Offset(found)) if found >= 0 => found,
                            _ => end,
                        }
                    }
                }
            }
        };
        result.insert(key.clone(), value);
    }
    Ok(result)
}

/// Everything the plan shows and the apply commits: new and previous target offsets by group.
async fn compute(copy: &Copy) -> ProviderResult<(GroupOffsets, GroupOffsets)> {
    let mut groups = copy.groups.clone();
    if let Some(pattern) = &copy.group_regex {
        groups.extend(
            source_groups(&copy.source)
                .await?
                .into_iter()
                .filter(|g| pattern.is_match(g)),
        );
    }
    groups.sort();
    groups.dedup();
    let partitions = {
        let (source, target, topics) = (
            copy.source.clone(),
            copy.target.clone(),
            copy.topics.clone(),
        );
        blocking(move || {
            let source_consumer = source.consumer(&[])?;
            let counts = partition_counts(&source, &source_consumer, &topics)?;
            let target_consumer = target.consumer(&[])?;
            let target_counts = partition_counts(&target, &target_consumer, &topics)?;
            for (topic, count) in &counts {
                if target_counts.get(topic).is_some_and(|t| t < count) {
                    return Err(ProviderError::Failed(format!(
                        "topic {topic} has {count} partitions on {} but fewer on {}",
                        source.address, target.address
                    )));
                }
            }
            Ok(counts)
        })
        .await?
    };
    let mut new = GroupOffsets::new();
    let mut previous = GroupOffsets::new();
    for group in &groups {
        let source = source_offsets(&copy.source, group, &partitions).await?;
        let target_now = {
            let (target, group, partitions) =
                (copy.target.clone(), group.clone(), partitions.clone());
            blocking(move || committed(&target, &group, &partitions)).await?
        };
        let wanted = blocking({
            let copy = Copy {
                source: copy.source.clone(),
                target: copy.target.clone(),
                groups: Vec::new(),
                group_regex: None,
                topics: copy.topics.clone(),
                strategy: copy.strategy,
                map_topic: copy.map_topic.clone(),
            };
            let group = group.clone();
            move || target_offsets(&copy, &group, &source)
        })
        .await?;
        new.insert(group.clone(), wanted);
        previous.insert(group.clone(), target_now);
    }
    Ok((new, previous))
}

fn offsets_value(offsets: &GroupOffsets) -> Value {
    Value::Map(
        offsets
            .iter()
            .map(|(group, partitions)| {
                (
                    group.clone(),
                    Value::Map(
                        partitions
                            .iter()
                            .map(|(key, offset)| (key.clone(), Value::int(*offset)))
                            .collect(),
                    ),
                )
            })
            .collect(),
    )
}

/// Refuses groups that have members on the target: committing under a live group would be
/// overwritten or rejected, and would move consumers that are already reading.
fn check_idle(target: &Cluster, groups: &[String]) -> ProviderResult<()> {
    if !target.supports(Feature::ConsumerGroups) {
        return Ok(());
    }
    let consumer = target.consumer(&[])?;
    for group in groups {
        let list = consumer
            .fetch_group_list(Some(group), target.timeout)
            .map_err(|error| {
                target.failure(
                    "cannot describe consumer groups",
                    &error,
                    Some(consumer.context()),
                )
            })?;
        if let Some(info) = list.groups().iter().find(|g| g.name() == group)
            && !info.members().is_empty()
        {
            return Err(ProviderError::Failed(format!(
                "group {group} has {} active member(s) on {} (state {}): stop its consumers there before copying offsets",
                info.members().len(),
                target.address,
                info.state()
            )));
        }
    }
    Ok(())
}

/// Commits the offsets of each group on the target. Blocking.
fn commit(target: &Cluster, offsets: &GroupOffsets) -> ProviderResult<()> {
    for (group, partitions) in offsets {
        if partitions.is_empty() {
            continue;
        }
        let consumer = target.consumer(&[("group.id", group), ("enable.auto.commit", "false")])?;
        let mut list = TopicPartitionList::new();
        for (key, offset) in partitions {
            let (topic, partition) = split_key(key);
            list.add_partition_offset(topic, partition, Offset::Offset(*offset))
                .map_err(|error| target.failure("cannot build the commit", &error, None))?;
        }
        with_coordinator_retries(target.timeout, || consumer.commit(&list, CommitMode::Sync))
            .map_err(|error| {
                target.failure(
                    &format!("cannot commit the offsets of group {group}"),
                    &error,
                    Some(consumer.context()),
                )
            })?;
    }
    Ok(())
}

fn with_offsets(planned: &Value, new: &GroupOffsets, previous: &GroupOffsets) -> Value {
    let mut map = planned.as_map().cloned().unwrap_or_default();
    map.insert("offsets".to_owned(), offsets_value(new));
    map.insert("previous_offsets".to_owned(), offsets_value(previous));
    Value::Map(map)
}

impl ResourceType for KafkaConsumerGroupOffsets {
    fn type_name(&self) -> &'static str {
        KAFKA_CONSUMER_GROUP_OFFSETS
    }

    fn provider_name(&self) -> &'static str {
        super::PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn canonical_config(&self, config: &Value) -> Option<Value> {
        let mut map = config.as_map()?.clone();
        cluster_references_as_addresses(&mut map, &["source", "target"]);
        // A mirror is compared by the offset map it translates through, not by its progress.
        if let Some(mirror) = map.get("mirror")
            && mirror.as_map().is_some()
        {
            let topic = mirror
                .as_map()
                .and_then(|mirror| mirror.get("offset_map_topic"))
                .cloned();
            let topic = match topic {
                Some(Value::Unknown) => Value::Unknown,
                Some(value) if value.as_str().is_some() => value,
                _ => Value::Null,
            };
            map.insert("mirror".to_owned(), topic);
        }
        Some(Value::Map(map))
    }

    fn plan(&self, _prior: Option<&Value>, planned: Value) -> ProviderResult<Value> {
        // Groups or group_regex: the schema's at_least_one_of rule, checked before (an unknown
        // value decodes as absent here).
        let args = OffsetsArgs::of(&planned)?;
        args.strategy()?;
        args.group_regex()?;
        if args.topics.as_ref().is_some_and(Vec::is_empty) {
            return Err(ProviderError::Invalid("topics is empty".to_owned()));
        }
        Ok(planned)
    }

    fn preview<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> Option<BoxFuture<'a, ProviderResult<Value>>> {
        Some(Box::pin(async move {
            let copy = match Copy::from_value(context, planned) {
                Ok(copy) => copy,
                // Clusters created by this plan: offsets are computed on apply.
                Err(ProviderError::Failed(message))
                    if message.contains("known only after apply")
                        || message.contains("not known yet") =>
                {
                    return Ok(planned.clone());
                }
                Err(error) => return Err(error),
            };
            match compute(&copy).await {
                Ok((new, previous)) => Ok(with_offsets(planned, &new, &previous)),
                // Topics not on the target yet (created by this plan): shown on apply.
                Err(ProviderError::Failed(message)) if message.contains("does not exist") => {
                    Ok(planned.clone())
                }
                Err(error) => Err(error),
            }
        }))
    }

    fn read<'a>(
        &'a self,
        _context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>> {
        // What was copied stays the record: the moved consumers advance the target's offsets
        // and that is not drift.
        Box::pin(async move { Ok(Some(prior.clone())) })
    }

    fn create<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let copy = Copy::from_value(context, planned)?;
            let (new, previous) = compute(&copy).await?;
            let groups: Vec<String> = new.keys().cloned().collect();
            let target = copy.target.clone();
            let committed = new.clone();
            blocking(move || {
                check_idle(&target, &groups)?;
                commit(&target, &committed)
            })
            .await?;
            for (group, partitions) in &new {
                (context.progress)(&format!(
                    "group {group}: {} partition offsets committed on {}",
                    partitions.len(),
                    copy.target.address
                ));
            }
            Ok(with_offsets(planned, &new, &previous))
        })
    }

    fn update<'a>(
        &'a self,
        context: &'a ProviderContext,
        _prior: &'a Value,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        self.create(context, planned)
    }

    fn delete<'a>(
        &'a self,
        _context: &'a ProviderContext,
        _prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        // Committed offsets belong to the groups now: forgetting the copy leaves them.
        Box::pin(async { Ok(()) })
    }

    fn import<'a>(
        &'a self,
        _context: &'a ProviderContext,
        id: &'a str,
        _config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            Err(ProviderError::Invalid(format!(
                "kafka_consumer_group_offsets records a copy made by cutover and cannot be imported ({id:?}); apply it instead"
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_and_keys_parse() {
        assert_eq!(Strategy::parse("translate").unwrap(), Strategy::Translate);
        assert!(
            Strategy::parse("newest")
                .unwrap_err()
                .to_string()
                .contains("is not one of")
        );
        assert_eq!(split_key("orders.eu/12"), ("orders.eu", 12));
        assert_eq!(split_key("a/b/3"), ("a/b", 3));
    }

    #[test]
    fn plan_requires_topics_and_a_valid_regex() {
        let resource = KafkaConsumerGroupOffsets::new();
        let value = |pairs: Vec<(&str, Value)>| {
            Value::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        };
        let no_topics = resource
            .plan(
                None,
                value(vec![
                    ("groups", Value::List(vec![Value::string("g")])),
                    ("topics", Value::List(Vec::new())),
                ]),
            )
            .unwrap_err()
            .to_string();
        assert!(no_topics.contains("topics is empty"), "{no_topics}");
        assert_eq!(
            resource.schema().groups[0].text(),
            "at least one of \"groups\", \"group_regex\""
        );
        let bad_regex = resource
            .plan(None, value(vec![("group_regex", Value::string("(("))]))
            .unwrap_err()
            .to_string();
        assert!(bad_regex.contains("not a valid regex"), "{bad_regex}");
        let fine = resource.plan(
            None,
            value(vec![
                ("groups", Value::List(vec![Value::string("g")])),
                ("topics", Value::List(vec![Value::string("t")])),
                ("strategy", Value::string("earliest")),
            ]),
        );
        assert!(fine.is_ok());
    }
}
