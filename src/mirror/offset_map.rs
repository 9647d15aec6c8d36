//! The exact offset map of a translating mirror: for each partition, segments `(target start,
//! source start, length)`, each a run of records contiguous on both sides, so every mirrored
//! source offset has exactly one target offset.
//!
//! The map lives on the target in a compacted topic, `_cutover.mirror.ID.offsets`. Each record
//! is one *chunk*: the segments one transaction wrote for one partition, keyed
//! `topic/partition/first target offset`, in a compact binary form (version byte 1, then
//! varints: the segment count and, per segment, the target gap, the source start or gap, and
//! the length). Chunks are written in the same target transaction as the records they
//! describe, so the map and the data commit or abort together: no write-ahead, no round trip
//! per gap, and nothing to clean up after a crash (readers use `read_committed`).
//!
//! Where the next record of a partition comes from (its *position*, past any transaction
//! markers at the end) is committed in the same transaction as the offset of the target
//! partition in the consumer group `_cutover.mirror.ID.positions`: one OffsetFetch finds where
//! to resume, without reading the map.
//!
//! Maps written by earlier versions hold one JSON record per segment (no length: a segment
//! runs to the next one, or to the target's end) and are read as such; segments such a
//! version wrote ahead for records that never landed are stale and removed by
//! [`super::copy`] before a partition is continued.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;

use crate::error::{OperationError, OperationResult};
use crate::kafka::connection::{Cluster, KafkaContext};

/// One run of records contiguous on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub target: i64,
    pub source: i64,
    /// `None` for a segment an earlier version wrote: it runs to the next segment's target
    /// start, or to the target's end.
    pub length: Option<i64>,
}

/// Segments of every partition by `topic/partition`, sorted by target offset, and where each
/// partition resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetMap {
    pub partitions: BTreeMap<String, Vec<Segment>>,
    /// The next source offset to copy, by `topic/partition`, from the positions group.
    pub positions: BTreeMap<String, i64>,
}

#[derive(Debug, Deserialize)]
struct LegacySegment {
    target: i64,
    source: i64,
}

pub fn segment_key(topic: &str, partition: i32, target: i64) -> String {
    format!("{topic}/{partition}/{target}")
}

/// The map topic of a mirror on the target.
pub fn topic_name(mirror_id: &str) -> String {
    format!("_cutover.mirror.{mirror_id}.offsets")
}

/// The consumer group whose committed offsets are a translating mirror's positions, from the
/// name of its map topic.
pub fn positions_group(map_topic: &str) -> String {
    match map_topic.strip_suffix(".offsets") {
        Some(stem) => format!("{stem}.positions"),
        None => format!("{map_topic}.positions"),
    }
}

/// Where a source offset is on the target: exact for mirrored records; an offset inside a gap
/// (removed by compaction, a transaction marker) maps to the next mirrored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    Exact(i64),
    /// The source offset is at or past what was mirrored.
    NotMirrored,
}

/// Resolves the lengths of segments an earlier version wrote.
fn resolved(segments: &[Segment], target_end: i64) -> Vec<(i64, i64, i64)> {
    segments
        .iter()
        .enumerate()
        .map(|(index, segment)| {
            let length = segment.length.unwrap_or_else(|| {
                let stop = segments
                    .get(index + 1)
                    .map_or(target_end, |next| next.target);
                (stop - segment.target).max(0)
            });
            (segment.target, segment.source, length)
        })
        .collect()
}

impl OffsetMap {
    /// The target offset of `source` on `key`'s partition, given the target's end offset.
    pub fn translate(&self, key: &str, source: i64, target_end: i64) -> Translation {
        let Some(segments) = self.partitions.get(key) else {
            return Translation::NotMirrored;
        };
        for (target_start, source_start, length) in resolved(segments, target_end) {
            if source < source_start {
                // After the previous segment and before this one: a gap; the next record is
                // this segment's first.
                return Translation::Exact(target_start);
            }
            if source < source_start + length {
                return Translation::Exact(target_start + (source - source_start));
            }
        }
        Translation::NotMirrored
    }

    /// `(target start, source start)` of every segment of `key`, in order: a record at source
    /// offset `s` is at `t + (s - s0)` of the last pair with `s0 <= s`.
    pub fn pairs(&self, key: &str) -> Vec<(i64, i64)> {
        self.partitions
            .get(key)
            .map(|segments| segments.iter().map(|s| (s.target, s.source)).collect())
            .unwrap_or_default()
    }

    /// Segments an earlier version wrote ahead, beyond the target's end, for records that
    /// never landed. (A segment at the end itself says where the next record comes from.)
    pub fn stale(&self, key: &str, target_end: i64) -> Vec<i64> {
        self.partitions
            .get(key)
            .map(|segments| {
                segments
                    .iter()
                    .filter(|s| s.length.is_none() && s.target > target_end)
                    .map(|s| s.target)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The next source offset to copy for a partition whose target ends at `target_end`: the
    /// committed position, else (a map an earlier version wrote) the last segment below the
    /// end.
    pub fn resume(&self, key: &str, target_end: i64) -> Option<i64> {
        if let Some(position) = self.positions.get(key) {
            return Some(*position);
        }
        let segments = self.partitions.get(key)?;
        let resolved = resolved(segments, target_end);
        let (target_start, source_start, length) = resolved
            .iter()
            .rev()
            .find(|(target, _, _)| *target <= target_end)?;
        let into = (target_end - target_start).min(*length).max(0);
        Some(source_start + into)
    }

    /// Segments of the map, all partitions, and the bytes their chunks take (for reports).
    pub fn segment_count(&self) -> usize {
        self.partitions.values().map(Vec::len).sum()
    }
}

// --- the chunk format -------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(input: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *input.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

const CHUNK_VERSION: u8 = 1;

/// Encodes the segments of one chunk (each with a length), first target offset first.
pub fn encode_chunk(segments: &[(i64, i64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + segments.len() * 4);
    out.push(CHUNK_VERSION);
    put_varint(&mut out, segments.len() as u64);
    let (mut target_end, mut source_end) = match segments.first() {
        Some((target, _, _)) => (*target, 0),
        None => (0, 0),
    };
    for (target, source, length) in segments {
        put_varint(&mut out, zigzag(target - target_end));
        put_varint(&mut out, zigzag(source - source_end));
        put_varint(&mut out, *length as u64);
        target_end = target + length;
        source_end = source + length;
    }
    out
}

/// Decodes a chunk whose first segment starts at `first_target`.
pub fn decode_chunk(first_target: i64, bytes: &[u8]) -> Option<Vec<Segment>> {
    if bytes.first() != Some(&CHUNK_VERSION) {
        return None;
    }
    let mut at = 1;
    let count = get_varint(bytes, &mut at)?;
    let mut segments = Vec::with_capacity(count.min(1 << 20) as usize);
    let (mut target_end, mut source_end) = (first_target, 0i64);
    for _ in 0..count {
        let target = target_end + unzigzag(get_varint(bytes, &mut at)?);
        let source = source_end + unzigzag(get_varint(bytes, &mut at)?);
        let length = get_varint(bytes, &mut at)? as i64;
        segments.push(Segment {
            target,
            source,
            length: Some(length),
        });
        target_end = target + length;
        source_end = source + length;
    }
    (at == bytes.len()).then_some(segments)
}

/// Builds one partition's chunk while a transaction runs: records are added in order.
#[derive(Debug, Clone, Default)]
pub struct ChunkBuilder {
    segments: Vec<(i64, i64, i64)>,
}

impl ChunkBuilder {
    /// A record from `source` written at `target`.
    pub fn push(&mut self, source: i64, target: i64) {
        if let Some((t, s, length)) = self.segments.last_mut()
            && *t + *length == target
            && *s + *length == source
        {
            *length += 1;
            return;
        }
        self.segments.push((target, source, 1));
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn first_target(&self) -> Option<i64> {
        self.segments.first().map(|(t, _, _)| *t)
    }

    pub fn encode(&self) -> Vec<u8> {
        encode_chunk(&self.segments)
    }

    pub fn clear(&mut self) {
        self.segments.clear();
    }
}

// --- reading ------------------------------------------------------------------------------

fn unknown_topic(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(Code::UnknownTopicOrPartition | Code::UnknownPartition | Code::UnknownTopic)
    )
}

/// Reads the whole map topic (committed chunks only) and the positions of `partitions`.
/// Blocking.
pub fn read(target: &Cluster, topic: &str) -> OperationResult<OffsetMap> {
    let mut map = read_chunks(target, topic)?;
    let keys: Vec<String> = map.partitions.keys().cloned().collect();
    let partitions: Vec<(String, i32)> = keys
        .iter()
        .filter_map(|key| {
            let (topic, partition) = key.rsplit_once('/')?;
            Some((topic.to_owned(), partition.parse().ok()?))
        })
        .collect();
    map.positions = read_positions(target, &positions_group(topic), &partitions)?;
    Ok(map)
}

fn read_chunks(target: &Cluster, topic: &str) -> OperationResult<OffsetMap> {
    let consumer: BaseConsumer<KafkaContext> = target.consumer(&[
        ("group.id", "cutover-offset-map"),
        ("enable.auto.commit", "false"),
        ("isolation.level", "read_committed"),
        ("enable.partition.eof", "true"),
    ])?;
    // With read_committed the high mark is the last stable offset: open transactions of
    // running workers are not waited for.
    let (start, end) = match consumer.fetch_watermarks(topic, 0, target.timeout) {
        Ok(found) => found,
        Err(error) if unknown_topic(&error) => return Ok(OffsetMap::default()),
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
    let limit = target.timeout.max(Duration::from_secs(30));
    let mut deadline = Instant::now() + limit;
    let position_reached = |consumer: &BaseConsumer<KafkaContext>| {
        consumer
            .position()
            .ok()
            .and_then(|list| {
                list.find_partition(topic, 0)
                    .and_then(|e| e.offset().to_raw())
            })
            .is_some_and(|position| position >= end)
    };
    loop {
        if Instant::now() > deadline {
            return Err(OperationError::Failed(format!(
                "{}: reading the offset map {topic} stalled for {limit:?}",
                target.address
            )));
        }
        let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
            if position_reached(&consumer) {
                break;
            }
            continue;
        };
        let message = match polled {
            Ok(message) => message,
            Err(rdkafka::error::KafkaError::PartitionEOF(_)) => {
                if position_reached(&consumer) {
                    break;
                }
                continue;
            }
            Err(error) => {
                return Err(target.failure(
                    "cannot read the offset map",
                    &error,
                    Some(consumer.context()),
                ));
            }
        };
        // Progress: a large map may take longer than one timeout in all.
        deadline = Instant::now() + limit;
        let offset = message.offset();
        if let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok())
            && let Some((partition_key, first_target)) = key.rsplit_once('/')
            && let Ok(first_target) = first_target.parse::<i64>()
        {
            let segments = map.partitions.entry(partition_key.to_owned()).or_default();
            match message.payload() {
                None => segments.retain(|s| s.target != first_target),
                Some(payload) if payload.first() == Some(&b'{') => {
                    let record: LegacySegment =
                        serde_json::from_slice(payload).map_err(|error| {
                            OperationError::Failed(format!(
                                "{}: the offset map {topic} holds a record that is not a segment ({error})",
                                target.address
                            ))
                        })?;
                    segments.retain(|s| s.target != record.target);
                    segments.push(Segment {
                        target: record.target,
                        source: record.source,
                        length: None,
                    });
                }
                Some(payload) => {
                    let chunk = decode_chunk(first_target, payload).ok_or_else(|| {
                        OperationError::Failed(format!(
                            "{}: the offset map {topic} holds an unreadable chunk at offset {offset}",
                            target.address
                        ))
                    })?;
                    segments.extend(chunk);
                }
            }
        }
        if offset + 1 >= end {
            break;
        }
    }
    for segments in map.partitions.values_mut() {
        segments.sort_by_key(|s| s.target);
    }
    map.partitions.retain(|_, segments| !segments.is_empty());
    Ok(map)
}

/// The committed positions (next source offset) of `partitions` in the positions group; a
/// partition with none is left out. Blocking.
pub fn read_positions(
    target: &Cluster,
    group: &str,
    partitions: &[(String, i32)],
) -> OperationResult<BTreeMap<String, i64>> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    let consumer: BaseConsumer<KafkaContext> =
        target.consumer(&[("group.id", group), ("enable.auto.commit", "false")])?;
    let mut list = TopicPartitionList::new();
    for (topic, partition) in partitions {
        list.add_partition(topic, *partition);
    }
    let committed = crate::kafka::connection::with_coordinator_retries(target.timeout, || {
        consumer.committed_offsets(list.clone(), target.timeout)
    })
    .map_err(|error| {
        target.failure(
            "cannot read the mirror's positions",
            &error,
            Some(consumer.context()),
        )
    })?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|element| {
            let offset = element.offset().to_raw().filter(|o| *o >= 0)?;
            Some((
                format!("{}/{}", element.topic(), element.partition()),
                offset,
            ))
        })
        .collect())
}

/// Creates the compacted map topic when it is missing.
pub async fn ensure_topic(target: &Cluster, topic: &str) -> OperationResult<()> {
    crate::kafka::admin::ensure_internal_topic(target, topic, 1, true)
        .await
        .map(|_| ())
}

/// Deletes the map topic and the positions group (destroy of a translating mirror).
pub async fn delete_topic(target: &Cluster, topic: &str) -> OperationResult<()> {
    crate::kafka::admin::delete_topic_if_present(target, topic).await?;
    crate::kafka::admin::delete_group_if_present(target, &positions_group(topic)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(segments: &[(i64, i64)], key: &str) -> OffsetMap {
        let mut map = OffsetMap::default();
        map.partitions.insert(
            key.to_owned(),
            segments
                .iter()
                .map(|(target, source)| Segment {
                    target: *target,
                    source: *source,
                    length: None,
                })
                .collect(),
        );
        map
    }

    #[test]
    fn translation_is_exact_across_gaps() {
        // Source 0..10 copied to target 100..110; source 15..20 (after a gap) to 110..115.
        let map = legacy(&[(100, 0), (110, 15)], "t/0");
        assert_eq!(map.translate("t/0", 0, 115), Translation::Exact(100));
        assert_eq!(map.translate("t/0", 9, 115), Translation::Exact(109));
        // 10..14 were removed by compaction: the next record is target 110.
        assert_eq!(map.translate("t/0", 12, 115), Translation::Exact(110));
        assert_eq!(map.translate("t/0", 17, 115), Translation::Exact(112));
        assert_eq!(map.translate("t/0", 20, 115), Translation::NotMirrored);
        assert_eq!(map.translate("t/1", 0, 115), Translation::NotMirrored);
    }

    #[test]
    fn segments_with_lengths_skip_the_target_markers_between_transactions() {
        // Transaction 1: source 0..5 at target 0..5, commit marker at 5; transaction 2:
        // source 5..8 at 6..9 (marker at 9), then a source gap: 12..14 at 10..12.
        let mut map = OffsetMap::default();
        let chunk1 = encode_chunk(&[(0, 0, 5)]);
        let chunk2 = encode_chunk(&[(6, 5, 3), (10, 12, 2)]);
        let mut segments = decode_chunk(0, &chunk1).unwrap();
        segments.extend(decode_chunk(6, &chunk2).unwrap());
        map.partitions.insert("t/0".to_owned(), segments);
        assert_eq!(map.translate("t/0", 4, 13), Translation::Exact(4));
        assert_eq!(map.translate("t/0", 5, 13), Translation::Exact(6));
        assert_eq!(map.translate("t/0", 7, 13), Translation::Exact(8));
        assert_eq!(map.translate("t/0", 9, 13), Translation::Exact(10));
        assert_eq!(map.translate("t/0", 13, 13), Translation::Exact(11));
        assert_eq!(map.translate("t/0", 14, 13), Translation::NotMirrored);
        // Without a committed position, the end of the last segment.
        assert_eq!(map.resume("t/0", 13), Some(14));
        map.positions.insert("t/0".to_owned(), 16);
        assert_eq!(map.resume("t/0", 13), Some(16));
        assert_eq!(map.pairs("t/0"), vec![(0, 0), (6, 5), (10, 12)]);
    }

    #[test]
    fn chunks_round_trip_and_stay_small() {
        let mut builder = ChunkBuilder::default();
        // A compacted partition: every third record survives.
        for (index, source) in (1_000_000..1_003_000).step_by(3).enumerate() {
            builder.push(source, 500_000 + index as i64);
        }
        let bytes = builder.encode();
        let decoded = decode_chunk(builder.first_target().unwrap(), &bytes).unwrap();
        assert_eq!(decoded.len(), 1000);
        assert_eq!(
            decoded[999],
            Segment {
                target: 500_999,
                source: 1_002_997,
                length: Some(1)
            }
        );
        // About three bytes a gap.
        assert!(bytes.len() < 3_100, "{}", bytes.len());
        assert!(decode_chunk(0, &bytes[..bytes.len() - 1]).is_none());
        assert!(decode_chunk(0, b"{}").is_none());
        let mut contiguous = ChunkBuilder::default();
        for offset in 0..100_000 {
            contiguous.push(offset, offset + 7);
        }
        assert!(contiguous.encode().len() < 12);
    }

    #[test]
    fn resume_follows_the_last_segment_below_the_target_end() {
        let map = legacy(&[(100, 0), (110, 15), (130, 60)], "t/0");
        assert_eq!(map.resume("t/0", 115), Some(20));
        // A segment at the end says where the next record comes from.
        assert_eq!(map.resume("t/0", 110), Some(15));
        assert_eq!(map.resume("t/0", 100), Some(0));
        assert_eq!(map.resume("t/0", 99), None);
        assert_eq!(map.stale("t/0", 110), vec![130]);
        assert_eq!(map.resume("t/1", 5), None);
        assert_eq!(
            positions_group("_cutover.mirror.m.offsets"),
            "_cutover.mirror.m.positions"
        );
    }
}
