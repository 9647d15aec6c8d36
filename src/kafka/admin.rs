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

/// Runs an admin future from blocking code (the mirror's threads), on a private runtime.
pub fn block_on<T>(
    future: impl std::future::Future<Output = OperationResult<T>>,
) -> OperationResult<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| OperationError::Failed(format!("cannot start a runtime: {error}")))?;
    runtime.block_on(future)
}

/// Creates a compacted internal topic with `partitions` partitions when it is missing (the
/// target's default replication factor), and, with `grow`, adds partitions when it has fewer.
/// Returns its partition count.
pub async fn ensure_internal_topic(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
    grow: bool,
) -> OperationResult<i32> {
    use rdkafka::admin::{NewPartitions, NewTopic, TopicReplication};
    use rdkafka::types::RDKafkaErrorCode as Code;
    let admin = admin(cluster)?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1))
        .set("cleanup.policy", "compact")
        .set("max.message.bytes", "8388608");
    let results = admin
        .create_topics(&[new], &options(cluster))
        .await
        .map_err(|error| cluster.failure(&format!("cannot create topic {topic}"), &error, None))?;
    for result in results {
        match result {
            Ok(_) => return Ok(partitions),
            Err((_, Code::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(OperationError::Failed(format!(
                    "{}: creating topic {topic} failed: {code}",
                    cluster.address
                )));
            }
        }
    }
    let existing = {
        let consumer = cluster.consumer(&[])?;
        list_topics(cluster, &consumer, Some(topic))?
            .get(topic)
            .map_or(0, |(count, _)| *count)
    };
    if grow && existing < partitions {
        let results = admin
            .create_partitions(
                &[NewPartitions::new(topic, partitions as usize)],
                &options(cluster),
            )
            .await
            .map_err(|error| {
                cluster.failure(&format!("cannot add partitions to {topic}"), &error, None)
            })?;
        for result in results {
            if let Err((_, code)) = result
                && code != Code::InvalidPartitions
            {
                return Err(OperationError::Failed(format!(
                    "{}: adding partitions to {topic} failed: {code}",
                    cluster.address
                )));
            }
        }
    }
    Ok(if grow {
        existing.max(partitions)
    } else {
        existing
    })
}

/// Deletes a topic; a topic that does not exist is no error.
pub async fn delete_topic_if_present(cluster: &Cluster, topic: &str) -> OperationResult<()> {
    let admin = admin(cluster)?;
    let results = admin
        .delete_topics(&[topic], &options(cluster))
        .await
        .map_err(|error| cluster.failure(&format!("cannot delete topic {topic}"), &error, None))?;
    for result in results {
        match result {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((_, code)) => {
                return Err(OperationError::Failed(format!(
                    "{}: deleting topic {topic} failed: {code}",
                    cluster.address
                )));
            }
        }
    }
    Ok(())
}

/// Deletes a consumer group; a group that does not exist is no error.
pub async fn delete_group_if_present(cluster: &Cluster, group: &str) -> OperationResult<()> {
    use rdkafka::types::RDKafkaErrorCode as Code;
    let admin = admin(cluster)?;
    let results = admin
        .delete_groups(&[group], &options(cluster))
        .await
        .map_err(|error| cluster.failure(&format!("cannot delete group {group}"), &error, None))?;
    for result in results {
        match result {
            Ok(_) | Err((_, Code::GroupIdNotFound)) => {}
            Err((_, code)) => {
                return Err(OperationError::Failed(format!(
                    "{}: deleting group {group} failed: {code}",
                    cluster.address
                )));
            }
        }
    }
    Ok(())
}

/// The client ids of a consumer group's members (empty when it has none or does not exist).
/// Blocking.
pub fn group_members(cluster: &Cluster, group: &str) -> OperationResult<Vec<String>> {
    let consumer = cluster.consumer(&[])?;
    let list = crate::kafka::connection::with_coordinator_retries(cluster.timeout, || {
        consumer.fetch_group_list(Some(group), cluster.timeout)
    })
    .map_err(|error| {
        cluster.failure(
            &format!("cannot describe group {group}"),
            &error,
            Some(consumer.context()),
        )
    })?;
    Ok(list
        .groups()
        .iter()
        .filter(|g| g.name() == group)
        .flat_map(|g| g.members().iter().map(|m| m.client_id().to_owned()))
        .collect())
}
