//! Admin helpers every Kafka user of the crate shares: an admin client, the topic list,
//! topic configs (DescribeConfigs, or ZooKeeper on brokers that predate it) and partition
//! offsets.

use std::collections::BTreeMap;

use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
use rdkafka::consumer::{BaseConsumer, Consumer as _};

use crate::error::{OperationError, OperationResult};
use crate::kafka::connection::{Cluster, Feature, KafkaContext};
use crate::kafka::zookeeper::ZooKeeper;

/// Log start and end offsets of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub partition: i32,
    pub log_start: i64,
    pub log_end: i64,
}

pub fn admin(cluster: &Cluster) -> OperationResult<AdminClient<KafkaContext>> {
    cluster
        .client_config(&[])
        .create_with_context(cluster.context())
        .map_err(|error| cluster.failure("cannot create an admin client", &error, None))
}

pub fn options(cluster: &Cluster) -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(cluster.timeout))
        .operation_timeout(Some(cluster.timeout))
}

/// Topics on the cluster (name → partition count, replication factor), internal ones included.
/// Blocking.
pub fn list_topics(
    cluster: &Cluster,
    consumer: &BaseConsumer<KafkaContext>,
    only: Option<&str>,
) -> OperationResult<BTreeMap<String, (i32, i32)>> {
    let metadata = cluster.metadata(consumer, only)?;
    let mut topics = BTreeMap::new();
    for topic in metadata.topics() {
        if topic.error().is_some() {
            continue;
        }
        let partitions = topic.partitions();
        if partitions.is_empty() {
            continue;
        }
        let replication = partitions
            .iter()
            .map(|p| p.replicas().len())
            .max()
            .unwrap_or(0);
        topics.insert(
            topic.name().to_owned(),
            (partitions.len() as i32, replication as i32),
        );
    }
    Ok(topics)
}

/// Configs set on each topic. From DescribeConfigs where the brokers have it (only the
/// topic's own, dynamic entries: broker defaults never show as drift), otherwise from
/// ZooKeeper's `/config/topics/NAME` when the cluster block names ZooKeeper.
pub async fn topic_configs(
    cluster: &Cluster,
    names: &[String],
) -> OperationResult<BTreeMap<String, BTreeMap<String, String>>> {
    let mut configs = BTreeMap::new();
    if names.is_empty() {
        return Ok(configs);
    }
    if cluster.supports(Feature::Configs) {
        let admin = admin(cluster)?;
        let specifiers: Vec<ResourceSpecifier> = names
            .iter()
            .map(|name| ResourceSpecifier::Topic(name))
            .collect();
        let results = admin
            .describe_configs(&specifiers, &options(cluster))
            .await
            .map_err(|error| {
                cluster.failure(
                    "cannot describe topic configs",
                    &error,
                    Some(admin.inner().context()),
                )
            })?;
        for (name, result) in names.iter().zip(results) {
            let resource = result.map_err(|code| {
                OperationError::Failed(format!(
                    "{}: describing the configs of topic {name} failed: {code}",
                    cluster.address
                ))
            })?;
            let entries = resource
                .entries
                .into_iter()
                .filter(|entry| entry.source == ConfigSource::DynamicTopic && !entry.is_default)
                .filter_map(|entry| entry.value.map(|value| (entry.name, value)))
                .collect();
            configs.insert(name.clone(), entries);
        }
        return Ok(configs);
    }
    let Some(connect) = &cluster.zookeeper else {
        return Ok(configs);
    };
    let mut zookeeper = ZooKeeper::connect(connect, cluster.timeout)
        .await
        .map_err(|error| OperationError::Failed(format!("{}: {error}", cluster.address)))?;
    for name in names {
        let data = match zookeeper.data(&format!("/config/topics/{name}")).await {
            Ok(data) => data.unwrap_or_default(),
            Err(crate::kafka::zookeeper::ZkError::NoNode(_)) => Vec::new(),
            Err(error) => {
                return Err(OperationError::Failed(format!(
                    "{}: {error}",
                    cluster.address
                )));
            }
        };
        let parsed: serde_json::Value = serde_json::from_slice(&data).unwrap_or_default();
        let entries = parsed
            .get("config")
            .and_then(|c| c.as_object())
            .map(|object| {
                object
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        configs.insert(name.clone(), entries);
    }
    zookeeper.close().await;
    Ok(configs)
}

/// Log start and end offsets of every partition of `topic`. Blocking.
pub fn partition_offsets(
    cluster: &Cluster,
    consumer: &BaseConsumer<KafkaContext>,
    topic: &str,
    partitions: i32,
) -> OperationResult<Vec<PartitionOffsets>> {
    (0..partitions)
        .map(|partition| {
            let (log_start, log_end) = consumer
                .fetch_watermarks(topic, partition, cluster.timeout)
                .map_err(|error| {
                    cluster.failure(
                        &format!("cannot read the offsets of {topic}/{partition}"),
                        &error,
                        Some(consumer.context()),
                    )
                })?;
            Ok(PartitionOffsets {
                partition,
                log_start,
                log_end,
            })
        })
        .collect()
}

/// Internal topics: Kafka's own (`__consumer_offsets`, `__transaction_state`) and the internal
/// topics of MirrorMaker 2 and Kafka Connect.
pub fn is_internal(name: &str) -> bool {
    name.starts_with("__")
        || name.ends_with(".internal")
        || name.starts_with("connect-")
        || name.starts_with("_cutover")
}
