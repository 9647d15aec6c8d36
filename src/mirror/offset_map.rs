//! The exact offset map of a translating mirror: for each partition, run-length segments
//! `(target start, source start)`, each covering the records up to the next segment's target
//! start, so every mirrored source offset has exactly one target offset.
//!
//! Segments live in a compacted topic on the target, one record per segment (key
//! `topic/partition/target_start`, JSON value), and are written ahead: a segment is durable
//! before any record it describes is sent. After a crash, segments at or beyond the target's end
//! (written ahead for records that never landed) are tombstoned before the copy resumes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::error::{OperationError, OperationResult};
use crate::kafka::connection::{Cluster, KafkaContext};

/// Segments of one partition: target start → source start.
pub type Segments = BTreeMap<i64, i64>;

/// Segments of every partition, by `topic/partition`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetMap {
    pub partitions: BTreeMap<String, Segments>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SegmentRecord {
    topic: String,
    partition: i32,
    target: i64,
    source: i64,
}

pub fn segment_key(topic: &str, partition: i32, target: i64) -> String {
    format!("{topic}/{partition}/{target}")
}

/// The map topic of a mirror on the target.
pub fn topic_name(mirror_name: &str) -> String {
    format!("_cutover.mirror.{mirror_name}.offsets")
}

/// Where a source offset is on the target: exact for mirrored records; an offset inside a gap
/// (removed by compaction, a transaction marker) maps to the next mirrored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    Exact(i64),
    /// The source offset is at or past what was mirrored.
    NotMirrored,
}

impl OffsetMap {
    /// The target offset of `source` on `key`'s partition, given the target's end offset.
    pub fn translate(&self, key: &str, source: i64, target_end: i64) -> Translation {
        let Some(segments) = self.partitions.get(key) else {
            return Translation::NotMirrored;
        };
        let mut found = None;
        let entries: Vec<(i64, i64)> = segments.iter().map(|(t, s)| (*t, *s)).collect();
        for (index, (target_start, source_start)) in entries.iter().enumerate() {
            let target_stop = entries
                .get(index + 1)
                .map_or(target_end, |(next_target, _)| *next_target);
            let length = target_stop - target_start;
            if source < *source_start {
                // Before this segment and after the previous one: a gap; the next record is
                // this segment's first.
                found = Some(*target_start);
                break;
            }
            if source < source_start + length {
                found = Some(target_start + (source - source_start));
                break;
            }
        }
        match found {
            Some(target) => Translation::Exact(target),
            None => Translation::NotMirrored,
        }
    }

    /// Segments beyond the target's end: written ahead for records that never landed. (A
    /// segment at the end itself says where the next record comes from, and stays.)
    pub fn stale(&self, key: &str, target_end: i64) -> Vec<i64> {
        self.partitions
            .get(key)
            .map(|segments| segments.range(target_end + 1..).map(|(t, _)| *t).collect())
            .unwrap_or_default()
    }

    /// The next source offset to copy for a partition whose target ends at `target_end`, from
    /// the last segment below it.
    pub fn resume(&self, key: &str, target_end: i64) -> Option<i64> {
        let segments = self.partitions.get(key)?;
        let (target_start, source_start) = segments.range(..=target_end).next_back()?;
        Some(source_start + (target_end - target_start))
    }
}

/// Reads the whole map topic (it is compacted: about one record per segment). Blocking.
pub fn read(target: &Cluster, topic: &str) -> OperationResult<OffsetMap> {
    let consumer: BaseConsumer<KafkaContext> = target.consumer(&[
        ("group.id", "cutover-offset-map"),
        ("enable.auto.commit", "false"),
    ])?;
    let (start, end) = match consumer.fetch_watermarks(topic, 0, target.timeout) {
        Ok(found) => found,
        Err(error)
            if matches!(
                error.rdkafka_error_code(),
                Some(
                    rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition
                        | rdkafka::types::RDKafkaErrorCode::UnknownPartition
                        | rdkafka::types::RDKafkaErrorCode::UnknownTopic
                )
            ) =>
        {
            return Ok(OffsetMap::default());
        }
        Err(error) => {
            return Err(target.failure(
                "cannot read the offset map",
                &error,
                Some(consumer.context()),
            ));
        }
    };
    let mut map = OffsetMap::default();
    if end <= start {
        return Ok(map);
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(start))
        .map_err(|error| target.failure("cannot read the offset map", &error, None))?;
    consumer
        .assign(&assignment)
        .map_err(|error| target.failure("cannot read the offset map", &error, None))?;
    let deadline = Instant::now() + target.timeout.max(Duration::from_secs(30));
    let mut next = start;
    while next < end {
        if Instant::now() > deadline {
            return Err(OperationError::Failed(format!(
                "{}: reading the offset map {topic} did not finish within {:?}",
                target.address,
                target.timeout.max(Duration::from_secs(30))
            )));
        }
        let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = polled.map_err(|error| {
            target.failure(
                "cannot read the offset map",
                &error,
                Some(consumer.context()),
            )
        })?;
        next = message.offset() + 1;
        let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
            continue;
        };
        let Some((partition_key, target_start)) = key.rsplit_once('/') else {
            continue;
        };
        let Ok(target_start) = target_start.parse::<i64>() else {
            continue;
        };
        match message.payload() {
            None => {
                if let Some(segments) = map.partitions.get_mut(partition_key) {
                    segments.remove(&target_start);
                }
            }
            Some(payload) => {
                let record: SegmentRecord = serde_json::from_slice(payload).map_err(|error| {
                    OperationError::Failed(format!(
                        "{}: the offset map {topic} holds a record that is not a segment ({error})",
                        target.address
                    ))
                })?;
                map.partitions
                    .entry(partition_key.to_owned())
                    .or_default()
                    .insert(record.target, record.source);
            }
        }
    }
    Ok(map)
}

/// A producer for map records (idempotent, `acks=all`).
pub fn producer(target: &Cluster) -> OperationResult<BaseProducer<KafkaContext>> {
    target
        .client_config(&[("enable.idempotence", "true"), ("acks", "all")])
        .create_with_context(target.context())
        .map_err(|error| target.failure("cannot write the offset map", &error, None))
}

/// Writes segments `(topic, partition, target start, source start)` (a `None` source start
/// writes a tombstone) and waits until the target has them. Blocking.
pub fn write(
    producer: &BaseProducer<KafkaContext>,
    target: &Cluster,
    topic: &str,
    segments: &[(String, i32, i64, Option<i64>)],
) -> OperationResult<()> {
    if segments.is_empty() {
        return Ok(());
    }
    for (source_topic, partition, target_start, source_start) in segments {
        let key = segment_key(source_topic, *partition, *target_start);
        let payload = source_start.map(|source| {
            serde_json::to_vec(&SegmentRecord {
                topic: source_topic.clone(),
                partition: *partition,
                target: *target_start,
                source,
            })
            .expect("a segment serializes")
        });
        let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic).key(&key);
        if let Some(payload) = &payload {
            record = record.payload(payload);
        }
        producer
            .send(record)
            .map_err(|(error, _)| target.failure("cannot write the offset map", &error, None))?;
    }
    producer
        .flush(target.timeout)
        .map_err(|error| target.failure("the offset map was not acknowledged", &error, None))?;
    let failures = producer.context().delivery_failures();
    if !failures.is_empty() {
        return Err(OperationError::Failed(format!(
            "{}: writing the offset map failed: {}",
            target.address,
            failures.join("; ")
        )));
    }
    Ok(())
}

/// Creates the compacted map topic when it is missing.
pub async fn ensure_topic(target: &Cluster, topic: &str) -> OperationResult<()> {
    let admin = crate::kafka::admin::admin(target)?;
    let new = rdkafka::admin::NewTopic::new(topic, 1, rdkafka::admin::TopicReplication::Fixed(-1))
        .set("cleanup.policy", "compact");
    let options = rdkafka::admin::AdminOptions::new().operation_timeout(Some(target.timeout));
    let results = admin
        .create_topics(&[new], &options)
        .await
        .map_err(|error| target.failure("cannot create the offset map topic", &error, None))?;
    for result in results {
        match result {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(OperationError::Failed(format!(
                    "{}: creating the offset map topic {topic} failed: {code}",
                    target.address
                )));
            }
        }
    }
    Ok(())
}

/// Deletes the map topic (destroy of a translating mirror).
pub async fn delete_topic(target: &Cluster, topic: &str) -> OperationResult<()> {
    let admin = crate::kafka::admin::admin(target)?;
    let options = rdkafka::admin::AdminOptions::new().operation_timeout(Some(target.timeout));
    let results = admin
        .delete_topics(&[topic], &options)
        .await
        .map_err(|error| target.failure("cannot delete the offset map topic", &error, None))?;
    for result in results {
        match result {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((_, code)) => {
                return Err(OperationError::Failed(format!(
                    "{}: deleting the offset map topic {topic} failed: {code}",
                    target.address
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(segments: &[(i64, i64)], key: &str) -> OffsetMap {
        let mut map = OffsetMap::default();
        map.partitions
            .insert(key.to_owned(), segments.iter().copied().collect());
        map
    }

    #[test]
    fn translation_is_exact_across_gaps() {
        // Source 0..10 copied to target 100..110; source 15..20 (after a gap) to 110..115.
        let map = map(&[(100, 0), (110, 15)], "t/0");
        assert_eq!(map.translate("t/0", 0, 115), Translation::Exact(100));
        assert_eq!(map.translate("t/0", 9, 115), Translation::Exact(109));
        // 10..14 were removed by compaction: the next record is target 110.
        assert_eq!(map.translate("t/0", 12, 115), Translation::Exact(110));
        assert_eq!(map.translate("t/0", 17, 115), Translation::Exact(112));
        assert_eq!(map.translate("t/0", 20, 115), Translation::NotMirrored);
        assert_eq!(map.translate("t/1", 0, 115), Translation::NotMirrored);
    }

    #[test]
    fn resume_follows_the_last_segment_below_the_target_end() {
        let map = map(&[(100, 0), (110, 15), (130, 60)], "t/0");
        assert_eq!(map.resume("t/0", 115), Some(20));
        // A segment at the end says where the next record comes from.
        assert_eq!(map.resume("t/0", 110), Some(15));
        assert_eq!(map.resume("t/0", 100), Some(0));
        assert_eq!(map.resume("t/0", 99), None);
        assert_eq!(map.stale("t/0", 110), vec![130]);
        assert_eq!(map.resume("t/1", 5), None);
    }
}
