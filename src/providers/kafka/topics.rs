//! `data "kafka_topics"` (what a cluster has: partitions, replication, non-default configs,
//! per-partition log start and end offsets) and `resource "kafka_topic"` (create, configs
//! updated as a complete set, partitions increased in place, replaced when they would shrink or
//! the replication factor changes, deleted, imported by name).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AlterConfig, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication};
use regex::Regex;

use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::validate::Pattern;
use crate::config::value::Value;
use crate::kafka::admin::{
    PartitionOffsets, admin, is_internal, list_topics, options, partition_offsets, topic_configs,
};
use crate::kafka::connection::{Cluster, Feature, blocking, cluster_address};
use crate::providers::{
    BoxFuture, DataSourceType, ProviderContext, ProviderError, ProviderResult, ResourceType,
};

pub const KAFKA_TOPIC: &str = "kafka_topic";
const MAX_PARTITIONS: i64 = 100_000;
const MAX_REPLICATION_FACTOR: i64 = 32;
pub const KAFKA_TOPICS: &str = "kafka_topics";

/// What a topic looks like on a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// Configs set on the topic itself (not broker defaults).
    pub config: BTreeMap<String, String>,
}

/// One topic as it is now, or `None` when it does not exist.
pub async fn describe_topic(cluster: &Cluster, name: &str) -> ProviderResult<Option<TopicInfo>> {
    let topics = {
        let cluster = cluster.clone();
        let name = name.to_owned();
        blocking(move || {
            let consumer = cluster.consumer(&[("allow.auto.create.topics", "false")])?;
            list_topics(&cluster, &consumer, Some(&name))
        })
        .await?
    };
    let Some(&(partitions, replication_factor)) = topics.get(name) else {
        return Ok(None);
    };
    let mut configs = topic_configs(cluster, &[name.to_owned()]).await?;
    Ok(Some(TopicInfo {
        name: name.to_owned(),
        partitions,
        replication_factor,
        config: configs.remove(name).unwrap_or_default(),
    }))
}

fn string_list(config: &Value, name: &str) -> ProviderResult<Vec<String>> {
    match config.as_map().and_then(|m| m.get(name)) {
        None => Ok(Vec::new()),
        Some(value) if value.is_null() => Ok(Vec::new()),
        Some(value) => value
            .as_items()
            .ok_or_else(|| ProviderError::Invalid(format!("{name} must be a list of strings")))?
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    ProviderError::Invalid(format!("{name} must be a list of strings"))
                })
            })
            .collect(),
    }
}

/// The arguments of `data "kafka_topics"`, decoded once.
#[derive(Debug, serde::Deserialize)]
struct TopicsSpec {
    #[serde(default, deserialize_with = "crate::config::decode::null_as_default")]
    include: Vec<String>,
    #[serde(default, deserialize_with = "crate::config::decode::null_as_default")]
    exclude: Vec<String>,
    include_internal: Option<bool>,
    offsets: Option<bool>,
}

/// Regexes matched against whole names (`orders.*` matches `orders-eu`, not `old-orders`).
pub fn whole_name_patterns(config: &Value, name: &str) -> ProviderResult<Vec<Regex>> {
    whole_name_regexes(name, &string_list(config, name)?)
}

fn whole_name_regexes(name: &str, patterns: &[String]) -> ProviderResult<Vec<Regex>> {
    patterns
        .iter()
        .map(|pattern| {
            Regex::new(&format!("^(?:{pattern})$")).map_err(|error| {
                ProviderError::Invalid(format!("{name}: {pattern:?} is not a valid regex: {error}"))
            })
        })
        .collect()
}

fn attribute<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value.as_map().and_then(|m| m.get(name))
}

fn strings_value(map: &BTreeMap<String, String>) -> Value {
    Value::Map(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::string(v.clone())))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// data "kafka_topics"

pub struct KafkaTopicsData {
    schema: Schema,
}

impl KafkaTopicsData {
    pub fn new() -> Self {
        KafkaTopicsData {
            schema: Schema::new(
                vec![
                    AttributeSchema::required("cluster", Type::Any)
                        .describe("the cluster to list, e.g. cluster.source"),
                    AttributeSchema::optional("include", Type::list_of(Type::String))
                        .describe("regexes a topic name must match (whole name); all when unset")
                        .pattern(Pattern::Regex),
                    AttributeSchema::optional("exclude", Type::list_of(Type::String))
                        .describe("regexes of names to leave out")
                        .pattern(Pattern::Regex),
                    AttributeSchema::optional("include_internal", Type::Bool)
                        .describe("list internal topics (__consumer_offsets, *.internal) too"),
                    AttributeSchema::optional("offsets", Type::Bool)
                        .describe("read per-partition log start and end offsets")
                        .default_value(Value::Bool(true)),
                    AttributeSchema::computed("names", Type::list_of(Type::String))
                        .describe("the matching topic names, sorted"),
                    AttributeSchema::computed("topics", Type::Any).describe(
                        "by name: partitions, replication_factor, config (non-default), partition_offsets",
                    ),
                ],
                Vec::new(),
            ),
        }
    }
}

impl Default for KafkaTopicsData {
    fn default() -> Self {
        Self::new()
    }
}

impl DataSourceType for KafkaTopicsData {
    fn type_name(&self) -> &'static str {
        KAFKA_TOPICS
    }

    fn provider_name(&self) -> &'static str {
        super::PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let cluster_value = attribute(config, "cluster").cloned().unwrap_or(Value::Null);
            let cluster = Cluster::resolve(&context.connections, &cluster_value)?;
            let spec: TopicsSpec = crate::config::decode::decode(KAFKA_TOPICS, config)
                .map_err(ProviderError::Invalid)?;
            let include = whole_name_regexes("include", &spec.include)?;
            let exclude = whole_name_regexes("exclude", &spec.exclude)?;
            let internal = spec.include_internal.unwrap_or(false);
            let with_offsets = spec.offsets.unwrap_or(true);
            let (topics, offsets) = {
                let cluster = cluster.clone();
                blocking(move || {
                    let consumer = cluster.consumer(&[])?;
                    let topics: BTreeMap<String, (i32, i32)> =
                        list_topics(&cluster, &consumer, None)?
                            .into_iter()
                            .filter(|(name, _)| internal || !is_internal(name))
                            .filter(|(name, _)| {
                                include.is_empty() || include.iter().any(|r| r.is_match(name))
                            })
                            .filter(|(name, _)| !exclude.iter().any(|r| r.is_match(name)))
                            .collect();
                    let mut offsets = BTreeMap::new();
                    if with_offsets {
                        for (name, (partitions, _)) in &topics {
                            offsets.insert(
                                name.clone(),
                                partition_offsets(&cluster, &consumer, name, *partitions)?,
                            );
                        }
                    }
                    Ok((topics, offsets))
                })
                .await?
            };
            let names: Vec<String> = topics.keys().cloned().collect();
            let configs = topic_configs(&cluster, &names).await?;
            let mut described = BTreeMap::new();
            for (name, (partitions, replication_factor)) in &topics {
                let mut topic = BTreeMap::new();
                topic.insert("name".to_owned(), Value::string(name.clone()));
                topic.insert("partitions".to_owned(), Value::int(i64::from(*partitions)));
                topic.insert(
                    "replication_factor".to_owned(),
                    Value::int(i64::from(*replication_factor)),
                );
                topic.insert(
                    "config".to_owned(),
                    strings_value(&configs.get(name).cloned().unwrap_or_default()),
                );
                let partition_list = offsets
                    .get(name)
                    .map(|list: &Vec<PartitionOffsets>| {
                        list.iter()
                            .map(|p| {
                                Value::Map(BTreeMap::from([
                                    ("partition".to_owned(), Value::int(i64::from(p.partition))),
                                    ("log_start".to_owned(), Value::int(p.log_start)),
                                    ("log_end".to_owned(), Value::int(p.log_end)),
                                ]))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                topic.insert("partition_offsets".to_owned(), Value::List(partition_list));
                described.insert(name.clone(), Value::Map(topic));
            }
            let mut result = config.as_map().cloned().unwrap_or_default();
            result.insert(
                "names".to_owned(),
                Value::List(names.into_iter().map(Value::string).collect()),
            );
            result.insert("topics".to_owned(), Value::Map(described));
            Ok(Value::Map(result))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// resource "kafka_topic"

pub struct KafkaTopic {
    schema: Schema,
}

impl KafkaTopic {
    pub fn new() -> Self {
        KafkaTopic {
            schema: Schema::new(
                vec![
                    AttributeSchema::required("cluster", Type::Any)
                        .forces_replacement()
                        .describe("the cluster the topic lives on, e.g. cluster.target"),
                    AttributeSchema::required("name", Type::String)
                        .forces_replacement()
                        .describe("the topic's name")
                        .pattern(Pattern::TopicName),
                    AttributeSchema::required("partitions", Type::Number)
                        .describe(
                            "the partition count; an increase is made in place, a decrease replaces the topic",
                        )
                        .int_range(1, MAX_PARTITIONS),
                    AttributeSchema::optional("replication_factor", Type::Number)
                        .also_computed()
                        .forces_replacement()
                        .describe("replicas per partition; the broker default when unset")
                        .int_range(1, MAX_REPLICATION_FACTOR),
                    AttributeSchema::optional("config", Type::map_of(Type::String)).describe(
                        "topic configs; the complete set: configs set on the topic but not listed are removed",
                    ),
                ],
                Vec::new(),
            )
            .identified_by(&["cluster", "name"], "topic", "name"),
        }
    }
}

impl Default for KafkaTopic {
    fn default() -> Self {
        Self::new()
    }
}

/// The attributes cutover stores for a topic.
fn topic_value(cluster_address: &str, topic: &TopicInfo) -> Value {
    Value::Map(BTreeMap::from([
        ("cluster".to_owned(), Value::string(cluster_address)),
        ("name".to_owned(), Value::string(topic.name.clone())),
        (
            "partitions".to_owned(),
            Value::int(i64::from(topic.partitions)),
        ),
        (
            "replication_factor".to_owned(),
            Value::int(i64::from(topic.replication_factor)),
        ),
        ("config".to_owned(), strings_value(&topic.config)),
    ]))
}

/// Replaces the cluster objects that `names` hold with their addresses: what resources store
/// and compare (never a cluster's credentials).
pub fn cluster_references_as_addresses(map: &mut BTreeMap<String, Value>, names: &[&str]) {
    for name in names {
        if let Some(cluster) = map.get(*name)
            && cluster.as_map().is_some()
        {
            let address = cluster_address(cluster).map_or(Value::Unknown, Value::string);
            map.insert((*name).to_owned(), address);
        }
    }
}

fn cluster_of(context: &ProviderContext, value: &Value) -> ProviderResult<Cluster> {
    let cluster = attribute(value, "cluster").cloned().unwrap_or(Value::Null);
    Cluster::resolve(&context.connections, &cluster)
}

/// A `kafka_topic` as planned or stored, decoded once. Its values were checked against the
/// schema's validators (name pattern, partition and replication ranges) before it got here.
#[derive(Debug, Clone, serde::Deserialize)]
struct TopicSpec {
    name: String,
    /// `None` in a prior from an import that could not read it (never in a plan).
    partitions: Option<i32>,
    /// `None`: the broker's default (unset, so unknown until created).
    replication_factor: Option<i32>,
    #[serde(default, deserialize_with = "crate::config::decode::null_as_default")]
    config: BTreeMap<String, String>,
}

impl TopicSpec {
    fn from_value(value: &Value) -> ProviderResult<TopicSpec> {
        crate::config::decode::decode(KAFKA_TOPIC, value).map_err(ProviderError::Invalid)
    }
}

/// Waits until metadata shows the topic with `partitions` partitions, each with a leader (a
/// new topic's partitions are not readable or writable before), or gone, for `None`.
async fn wait_for_topic(
    context: &ProviderContext,
    cluster: &Cluster,
    name: &str,
    partitions: Option<i32>,
) -> ProviderResult<()> {
    let deadline = Instant::now() + cluster.timeout.max(Duration::from_secs(10));
    loop {
        let seen = {
            let cluster = cluster.clone();
            let name = name.to_owned();
            blocking(move || {
                let consumer = cluster.consumer(&[("allow.auto.create.topics", "false")])?;
                let metadata = cluster.metadata(&consumer, Some(&name))?;
                Ok(metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == name && t.error().is_none() && !t.partitions().is_empty())
                    .map(|topic| {
                        let led = topic
                            .partitions()
                            .iter()
                            .all(|p| p.leader() >= 0 && p.error().is_none());
                        (topic.partitions().len() as i32, led)
                    }))
            })
            .await?
        };
        let done = match partitions {
            Some(expected) => seen == Some((expected, true)),
            None => seen.is_none(),
        };
        if done {
            return Ok(());
        }
        if context.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        if Instant::now() >= deadline {
            return Err(ProviderError::Failed(format!(
                "{}: topic {name} did not reach the expected state within {:?} (seen: {seen:?} partitions)",
                cluster.address,
                cluster.timeout.max(Duration::from_secs(10))
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn check_code(
    cluster: &Cluster,
    what: &str,
    result: Result<String, (String, rdkafka::types::RDKafkaErrorCode)>,
) -> ProviderResult<()> {
    result.map(|_| ()).map_err(|(topic, code)| {
        ProviderError::Failed(format!(
            "{}: {what} {topic} failed: {code}",
            cluster.address
        ))
    })
}

async fn alter_topic_configs(
    cluster: &Cluster,
    name: &str,
    config: &BTreeMap<String, String>,
) -> ProviderResult<()> {
    cluster.require(Feature::Configs)?;
    let admin = admin(cluster)?;
    let mut alter = AlterConfig::new(ResourceSpecifier::Topic(name));
    for (key, value) in config {
        alter = alter.set(key, value);
    }
    let results = admin
        .alter_configs(&[alter], &options(cluster))
        .await
        .map_err(|error| cluster.failure("cannot change topic configs", &error, None))?;
    for result in results {
        result.map_err(|(_, code)| {
            ProviderError::Failed(format!(
                "{}: changing the configs of topic {name} failed: {code}",
                cluster.address
            ))
        })?;
    }
    Ok(())
}

async fn read_topic(cluster: &Cluster, name: &str) -> ProviderResult<Value> {
    let topic = describe_topic(cluster, name).await?.ok_or_else(|| {
        ProviderError::Failed(format!("{}: topic {name} does not exist", cluster.address))
    })?;
    Ok(topic_value(&cluster.address, &topic))
}

impl ResourceType for KafkaTopic {
    fn type_name(&self) -> &'static str {
        KAFKA_TOPIC
    }

    fn provider_name(&self) -> &'static str {
        super::PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn canonical_config(&self, config: &Value) -> Option<Value> {
        let mut map = config.as_map()?.clone();
        cluster_references_as_addresses(&mut map, &["cluster"]);
        if map.get("config").is_none_or(Value::is_null) {
            map.insert("config".to_owned(), Value::Map(BTreeMap::new()));
        }
        Some(Value::Map(map))
    }

    fn requires_replace(&self, prior: &Value, planned: &Value) -> Vec<String> {
        let partitions = |value| {
            TopicSpec::from_value(value)
                .ok()
                .and_then(|spec| spec.partitions)
        };
        match (partitions(prior), partitions(planned)) {
            (Some(before), Some(after)) if after < before => vec!["partitions".to_owned()],
            _ => Vec::new(),
        }
    }

    fn preview<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> Option<BoxFuture<'a, ProviderResult<Value>>> {
        Some(Box::pin(async move {
            // A plan against a cluster that cannot be reached fails here, naming it. A cluster
            // whose connection waits on objects this plan creates is checked on apply.
            match cluster_of(context, planned) {
                Ok(cluster) => {
                    cluster.require(Feature::TopicAdmin)?;
                    cluster.check_reachable().await?;
                }
                Err(ProviderError::Failed(message))
                    if message.contains("known only after apply")
                        || message.contains("not known yet") => {}
                Err(error) => return Err(error),
            }
            Ok(planned.clone())
        }))
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>> {
        Box::pin(async move {
            let cluster = cluster_of(context, prior)?;
            let name = TopicSpec::from_value(prior)?.name;
            Ok(describe_topic(&cluster, &name)
                .await?
                .map(|topic| topic_value(&cluster.address, &topic)))
        })
    }

    fn create<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let cluster = cluster_of(context, planned)?;
            cluster.require(Feature::TopicAdmin)?;
            let TopicSpec {
                name,
                partitions,
                replication_factor,
                config,
            } = TopicSpec::from_value(planned)?;
            let partitions = partitions
                .ok_or_else(|| ProviderError::Invalid("partitions is required".to_owned()))?;
            let replication = replication_factor.unwrap_or(-1);
            let admin = admin(&cluster)?;
            let mut topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(replication));
            for (key, value) in &config {
                topic = topic.set(key, value);
            }
            let results = admin
                .create_topics(&[topic], &options(&cluster))
                .await
                .map_err(|error| cluster.failure("cannot create topics", &error, None))?;
            for result in results {
                check_code(&cluster, "creating topic", result)?;
            }
            wait_for_topic(context, &cluster, &name, Some(partitions)).await?;
            read_topic(&cluster, &name).await
        })
    }

    fn update<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let cluster = cluster_of(context, planned)?;
            let wanted = TopicSpec::from_value(planned)?;
            let had = TopicSpec::from_value(prior)?;
            let name = wanted.name.clone();
            let before = i64::from(had.partitions.unwrap_or(0));
            let after = wanted.partitions.map_or(before, i64::from);
            if after > before {
                cluster.require(Feature::CreatePartitions)?;
                let admin = admin(&cluster)?;
                let results = admin
                    .create_partitions(
                        &[NewPartitions::new(&name, after as usize)],
                        &options(&cluster),
                    )
                    .await
                    .map_err(|error| cluster.failure("cannot add partitions", &error, None))?;
                for result in results {
                    check_code(&cluster, "adding partitions to", result)?;
                }
                wait_for_topic(context, &cluster, &name, Some(after as i32)).await?;
            }
            if wanted.config != had.config {
                alter_topic_configs(&cluster, &name, &wanted.config).await?;
            }
            read_topic(&cluster, &name).await
        })
    }

    fn delete<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move {
            let cluster = cluster_of(context, prior)?;
            cluster.require(Feature::TopicAdmin)?;
            let name = TopicSpec::from_value(prior)?.name;
            let admin = admin(&cluster)?;
            let results = admin
                .delete_topics(&[name.as_str()], &options(&cluster))
                .await
                .map_err(|error| cluster.failure("cannot delete topics", &error, None))?;
            for result in results {
                match result {
                    Ok(_) => {}
                    Err((_, rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                    Err((topic, code)) => {
                        return Err(ProviderError::Failed(format!(
                            "{}: deleting topic {topic} failed: {code}",
                            cluster.address
                        )));
                    }
                }
            }
            wait_for_topic(context, &cluster, &name, None).await
        })
    }

    fn import<'a>(
        &'a self,
        context: &'a ProviderContext,
        id: &'a str,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let cluster = cluster_of(context, config).map_err(|error| {
                ProviderError::Failed(format!(
                    "importing topic {id}: the resource block's cluster is needed: {error}"
                ))
            })?;
            read_topic(&cluster, id).await
        })
    }
}
