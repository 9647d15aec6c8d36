//! What a mirror run starts from: the partitions to copy (checked on both clusters), and each
//! partition's offsets on both sides with where copying resumes.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};

use super::offset_map::OffsetMap;
use crate::error::{OperationError, OperationResult};
use crate::kafka::admin::list_topics;
use crate::kafka::connection::{Cluster, KafkaContext};

/// One partition to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTask {
    pub topic: String,
    pub partition: i32,
    /// Source log start when the run began.
    pub source_start: i64,
    /// Source end offset when the run began: the copy stops there.
    pub stop: i64,
    /// The target's end offset (where copying resumes).
    pub target_end: i64,
    /// The target's log start.
    pub target_start: i64,
    /// `Some` for a translating mirror: where its offset map says to resume (`None` inside:
    /// nothing mirrored yet, start at the source's log start).
    pub translate: Option<Option<i64>>,
    /// Set when the target's last record is not the source's record at that offset: the
    /// partition holds data the mirror did not write.
    pub foreign: Option<String>,
}

impl PartitionTask {
    pub fn key(&self) -> String {
        format!("{}/{}", self.topic, self.partition)
    }

    /// Padding records a new target partition needs so its offsets match the source's.
    pub fn padding(&self) -> i64 {
        if self.translate.is_some() {
            return 0;
        }
        if self.target_end == 0 {
            self.source_start
        } else {
            0
        }
    }

    /// Where copying starts: after the padding, or at the target's end.
    pub fn resume(&self) -> i64 {
        match self.translate {
            Some(mapped) => mapped.unwrap_or(self.source_start),
            None => self.target_end.max(self.padding()),
        }
    }

    pub fn lag(&self) -> i64 {
        (self.stop - self.resume()).max(0)
    }

    /// Why this partition cannot be copied with its offsets, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let key = self.key();
        if let Some(mapped) = self.translate {
            return match mapped {
                Some(position) if position < self.source_start => Some(format!(
                    "{key}: the source's log start {} passed the mirror's position {position}: records {position}..{} were removed by retention before they were copied",
                    self.source_start,
                    self.source_start - 1
                )),
                _ => None,
            };
        }
        if let Some(foreign) = &self.foreign {
            return Some(format!(
                "{key}: {foreign}: the target partition holds other data, so offsets cannot be preserved (offsets = \"translate\" can mirror into it)"
            ));
        }
        if self.target_end > 0 && self.target_end < self.source_start {
            return Some(format!(
                "{key}: the source's log start {} passed the mirror's position {}: records {}..{} were removed by retention before they were copied",
                self.source_start,
                self.target_end,
                self.target_end,
                self.source_start - 1
            ));
        }
        None
    }
}

/// Reads the tasks' current offsets: source log start and end, target log start and end.
/// Blocking.
pub fn survey(
    source: &Cluster,
    target: &Cluster,
    partitions: &[(String, i32)],
    map: Option<&OffsetMap>,
    check_records: bool,
) -> OperationResult<Vec<PartitionTask>> {
    let reader = [
        ("group.id", "cutover-mirror-survey"),
        ("enable.auto.commit", "false"),
        // One record is read at a time: answer at once rather than waiting for more.
        ("fetch.wait.max.ms", "10"),
    ];
    let source_consumer = source.consumer(&reader)?;
    let target_consumer = target.consumer(&reader)?;
    partitions
        .iter()
        .map(|(topic, partition)| {
            let (source_start, stop) = source_consumer
                .fetch_watermarks(topic, *partition, source.timeout)
                .map_err(|e| {
                    source.failure(
                        &format!("cannot read the offsets of {topic}/{partition}"),
                        &e,
                        Some(source_consumer.context()),
                    )
                })?;
            let (target_start, target_end) = target_consumer
                .fetch_watermarks(topic, *partition, target.timeout)
                .map_err(|e| {
                    target.failure(
                        &format!("cannot read the offsets of {topic}/{partition}"),
                        &e,
                        Some(target_consumer.context()),
                    )
                })?;
            let translate = map.map(|map| map.resume(&format!("{topic}/{partition}"), target_end));
            // A preserving mirror resumes at the target's end: the record before it must be the
            // source's, or the partition holds someone else's data.
            // A target that goes on past the source's end has been handed over (producers
            // moved to it): the source's last record must be there at its offset, or the
            // source was written after the move and those records can no longer be placed.
            let last = target_end.min(stop) - 1;
            let foreign = if check_records
                && translate.is_none()
                && target_end > target_start
                && last >= target_start
                && last >= source_start
            {
                let ours = record_at(target, &target_consumer, topic, *partition, last)?;
                let theirs = record_at(source, &source_consumer, topic, *partition, last)?;
                (ours != theirs).then(|| {
                    if target_end > stop {
                        format!(
                            "the target goes on past the source's end {stop} (written there directly), but its record at offset {last} differs from the source's: the source was written after the move, or before the mirror copied it"
                        )
                    } else {
                        format!("its record at offset {last} differs from the source's")
                    }
                })
            } else {
                None
            };
            Ok(PartitionTask {
                topic: topic.clone(),
                partition: *partition,
                source_start,
                stop,
                target_end,
                target_start,
                translate,
                foreign,
            })
        })
        .collect()
}

/// A record's key, value and timestamp.
type RecordFacts = (Option<Vec<u8>>, Option<Vec<u8>>, Option<i64>);

/// The key, value and timestamp of the record at `offset` (`None` when there is none, e.g. a
/// transaction marker). Blocking.
fn record_at(
    cluster: &Cluster,
    consumer: &BaseConsumer<KafkaContext>,
    topic: &str,
    partition: i32,
    offset: i64,
) -> OperationResult<Option<RecordFacts>> {
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(offset))
        .map_err(|error| cluster.failure("cannot assign", &error, None))?;
    consumer
        .assign(&assignment)
        .map_err(|error| cluster.failure("cannot assign", &error, None))?;
    let deadline = Instant::now() + cluster.timeout;
    let found = loop {
        if Instant::now() > deadline {
            break None;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) if message.offset() >= offset => {
                break (message.offset() == offset).then(|| {
                    (
                        message.key().map(<[u8]>::to_vec),
                        message.payload().map(<[u8]>::to_vec),
                        message.timestamp().to_millis(),
                    )
                });
            }
            Some(Ok(_)) | None => {}
            Some(Err(error)) => {
                return Err(cluster.failure(
                    &format!("cannot read {topic}/{partition}@{offset}"),
                    &error,
                    Some(consumer.context()),
                ));
            }
        }
    };
    let _ = consumer.unassign();
    Ok(found)
}

/// Every partition of `topics`, checked: each topic exists on both clusters with the same
/// partition count. Blocking.
pub fn mirror_partitions(
    source: &Cluster,
    target: &Cluster,
    topics: &[String],
) -> OperationResult<Vec<(String, i32)>> {
    let source_topics = list_topics(source, &source.consumer(&[])?, None)?;
    let target_topics = list_topics(target, &target.consumer(&[])?, None)?;
    let mut partitions = Vec::new();
    for topic in topics {
        let Some(&(count, _)) = source_topics.get(topic) else {
            return Err(OperationError::Failed(format!(
                "{}: topic {topic} does not exist",
                source.address
            )));
        };
        match target_topics.get(topic) {
            None => {
                return Err(OperationError::Failed(format!(
                    "{}: topic {topic} does not exist: declare it with a kafka_topic the mirror depends on",
                    target.address
                )));
            }
            Some(&(target_count, _)) if target_count != count => {
                return Err(OperationError::Failed(format!(
                    "topic {topic} has {count} partitions on {} but {target_count} on {}: the mirror copies partition by partition, so the counts must match",
                    source.address, target.address
                )));
            }
            Some(_) => {}
        }
        partitions.extend((0..count).map(|p| (topic.clone(), p)));
    }
    Ok(partitions)
}

/// The log start and end offsets of `partitions`, in their order. Blocking.
pub fn watermarks(
    cluster: &Cluster,
    partitions: &[(String, i32)],
) -> OperationResult<Vec<(i64, i64)>> {
    let consumer = cluster.consumer(&[("group.id", "cutover-mirror-survey")])?;
    partitions
        .iter()
        .map(|(topic, partition)| {
            consumer
                .fetch_watermarks(topic, *partition, cluster.timeout)
                .map_err(|e| {
                    cluster.failure(
                        &format!("cannot read the offsets of {topic}/{partition}"),
                        &e,
                        Some(consumer.context()),
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(source_start: i64, stop: i64, target_start: i64, target_end: i64) -> PartitionTask {
        PartitionTask {
            topic: "t".to_owned(),
            partition: 0,
            source_start,
            stop,
            target_start,
            target_end,
            translate: None,
            foreign: None,
        }
    }

    #[test]
    fn padding_resume_and_lag() {
        let fresh = task(100, 150, 0, 0);
        assert_eq!(
            (fresh.padding(), fresh.resume(), fresh.lag()),
            (100, 100, 50)
        );
        let resumed = task(100, 150, 100, 120);
        assert_eq!(
            (resumed.padding(), resumed.resume(), resumed.lag()),
            (0, 120, 30)
        );
        assert_eq!(task(0, 0, 0, 0).lag(), 0);
        assert!(fresh.problem().is_none() && resumed.problem().is_none());
    }

    #[test]
    fn retention_and_foreign_data_are_refused() {
        let outrun = task(200, 300, 0, 150).problem().unwrap();
        assert!(
            outrun.contains("passed the mirror's position 150"),
            "{outrun}"
        );
        assert!(outrun.contains("records 150..199"), "{outrun}");
        let mut foreign = task(0, 10, 0, 20);
        foreign.foreign = Some("its record at offset 9 differs from the source's".to_owned());
        let foreign = foreign.problem().unwrap();
        assert!(foreign.contains("holds other data"), "{foreign}");
    }

    #[test]
    fn a_handed_over_partition_has_nothing_to_copy() {
        // Producers moved to the target after the mirror copied all ten source records.
        let handed_over = task(0, 10, 0, 20);
        assert!(handed_over.problem().is_none());
        assert_eq!((handed_over.resume(), handed_over.lag()), (20, 0));
    }
}
