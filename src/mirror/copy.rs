//! The embedded mirror's data path: copies partitions from the source to the target with
//! librdkafka, preserving offsets.
//!
//! - The source is read with assigned partitions (no consumer group), so 0.8.x sources work.
//! - The target is written by one idempotent producer (`acks=all`): per-partition order holds and
//!   retries never duplicate. Each delivery report's offset is checked against the source offset
//!   the record came from; the first mismatch stops the copy loudly.
//! - A new target partition whose source log starts above 0 is padded with tiny records in large
//!   batches, and the padding removed with DeleteRecords, so its log start and every offset match.
//! - The position of a partition is the target's own high watermark: after a crash (kill -9 at any
//!   moment) the next run resumes there, and nothing is lost or duplicated, because the target
//!   holds exactly a prefix of the source.
//! - A gap in the source offsets (compaction, transaction markers) fails before anything is
//!   written past it: such a partition cannot keep its offsets.
//! - Retention that removed records the mirror has not copied yet (source log start above the
//!   mirror's position) fails loudly.
//! - Memory is bounded: bytes sent but not yet acknowledged are capped, and the consumer's
//!   prefetch queue is capped, whatever the backlog.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message as _, Timestamp};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::error::{OperationError, OperationResult};
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

/// How the copy runs.
#[derive(Debug, Clone)]
pub struct CopySettings {
    pub compression: String,
    /// Bytes sent to the target but not yet acknowledged, at most.
    pub max_in_flight_bytes: u64,
    pub linger_ms: u32,
    /// How often a progress line is reported.
    pub progress_every: Duration,
    /// Stop once every partition is within this many records of the stop offsets.
    pub max_lag: i64,
    /// The offset map topic of a translating mirror (`None`: offsets are preserved).
    pub map_topic: Option<String>,
}

impl Default for CopySettings {
    fn default() -> Self {
        CopySettings {
            compression: "lz4".to_owned(),
            max_in_flight_bytes: 64 << 20,
            linger_ms: 20,
            progress_every: Duration::from_secs(5),
            max_lag: 0,
            map_topic: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopyReport {
    pub records: u64,
    pub bytes: u64,
    pub padding: u64,
    /// Next source offset to copy, per `topic/partition`, as the target acknowledged it.
    pub positions: BTreeMap<String, i64>,
    pub elapsed: Duration,
}

/// Shared between the copy loop and librdkafka's delivery callback.
struct Shared {
    in_flight_bytes: AtomicU64,
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
}

impl Shared {
    fn fail(&self, message: String) {
        if let Ok(mut failure) = self.failure.lock()
            && failure.is_none()
        {
            *failure = Some(message);
        }
        self.failed.store(true, Ordering::SeqCst);
    }
}

struct CopyContext {
    base: KafkaContext,
    shared: Arc<Shared>,
    keys: Arc<Vec<String>>,
}

impl ClientContext for CopyContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        self.base.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.base.error(error, reason);
    }

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        self.base.generate_oauth_token(config)
    }
}

impl ProducerContext for CopyContext {
    type DeliveryOpaque = Delivery;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let (task, expected, size) = *opaque;
        self.shared
            .in_flight_bytes
            .fetch_sub(size, Ordering::SeqCst);
        let key = &self.keys[task];
        match result {
            Ok(message) => {
                if message.offset() != expected {
                    self.shared.fail(format!(
                        "{key}: the target wrote at offset {} the record expected at {expected}: offsets diverge, stopping",
                        message.offset()
                    ));
                }
            }
            Err((error, _)) => {
                self.shared.fail(format!(
                    "{key}: writing offset {expected} to the target failed: {error}"
                ));
            }
        }
    }
}

fn failed(message: impl Into<String>) -> OperationError {
    OperationError::Failed(message.into())
}

/// Reads the tasks' current offsets: source log start and end, target log start and end.
/// Blocking.
pub fn survey(
    source: &Cluster,
    target: &Cluster,
    partitions: &[(String, i32)],
    map: Option<&crate::mirror::offset_map::OffsetMap>,
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

/// What the delivery callback gets back with each record: task, expected target offset, size.
type Delivery = Box<(usize, i64, u64)>;

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

fn producer(
    target: &Cluster,
    settings: &CopySettings,
    shared: Arc<Shared>,
    keys: Arc<Vec<String>>,
) -> OperationResult<BaseProducer<CopyContext>> {
    let buffering_kb = (settings.max_in_flight_bytes / 1024)
        .clamp(1024, 2_097_151)
        .to_string();
    let linger = settings.linger_ms.to_string();
    let config = target.client_config(&[
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("compression.type", settings.compression.as_str()),
        ("linger.ms", linger.as_str()),
        ("batch.size", "1048576"),
        ("batch.num.messages", "100000"),
        ("queue.buffering.max.kbytes", buffering_kb.as_str()),
        ("queue.buffering.max.messages", "2000000"),
        ("message.max.bytes", "16777216"),
        ("message.timeout.ms", "300000"),
    ]);
    let context = CopyContext {
        base: target.context(),
        shared,
        keys,
    };
    config
        .create_with_context(context)
        .map_err(|error| target.failure("cannot create the mirror's producer", &error, None))
}

/// A send blocked on the target: said every 10 seconds, so an unreachable target (librdkafka
/// retries until it is back) is not silence.
struct Waiting {
    since: Instant,
    told: Instant,
}

impl Waiting {
    fn new() -> Self {
        let now = Instant::now();
        Waiting {
            since: now,
            told: now,
        }
    }

    fn tell(&mut self, shared: &Shared, progress: &(dyn Fn(&str) + Send + Sync)) {
        if self.told.elapsed() >= Duration::from_secs(10) {
            self.told = Instant::now();
            progress(&format!(
                "waiting {}s for the target to acknowledge {:.1} MB in flight (it is retried until it answers)",
                self.since.elapsed().as_secs(),
                shared.in_flight_bytes.load(Ordering::SeqCst) as f64 / 1e6
            ));
        }
    }
}

/// Sends one record, waiting (serving delivery reports) while the in-flight cap or librdkafka's
/// queue is full.
#[allow(clippy::too_many_arguments)]
fn send(
    producer: &BaseProducer<CopyContext>,
    shared: &Shared,
    max_in_flight: u64,
    topic: &str,
    partition: i32,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    timestamp: Option<i64>,
    headers: Option<rdkafka::message::OwnedHeaders>,
    opaque: (usize, i64),
    cancel: &AtomicBool,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> OperationResult<()> {
    let size = (key.map_or(0, <[u8]>::len) + payload.map_or(0, <[u8]>::len) + 64) as u64;
    let mut waiting = Waiting::new();
    while shared.in_flight_bytes.load(Ordering::SeqCst) + size > max_in_flight
        && shared.in_flight_bytes.load(Ordering::SeqCst) > 0
    {
        producer.poll(Duration::from_millis(5));
        if shared.failed.load(Ordering::SeqCst) || cancel.load(Ordering::SeqCst) {
            return Ok(());
        }
        waiting.tell(shared, progress);
    }
    shared.in_flight_bytes.fetch_add(size, Ordering::SeqCst);
    let mut record: BaseRecord<'_, [u8], [u8], Delivery> =
        BaseRecord::with_opaque_to(topic, Box::new((opaque.0, opaque.1, size)))
            .partition(partition);
    if let Some(key) = key {
        record = record.key(key);
    }
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    if let Some(timestamp) = timestamp {
        record = record.timestamp(timestamp);
    }
    if let Some(headers) = headers {
        record = record.headers(headers);
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                producer.poll(Duration::from_millis(10));
                waiting.tell(shared, progress);
                if Instant::now() > deadline {
                    return Err(failed(format!(
                        "{topic}/{partition}: the target accepted nothing for 5 minutes"
                    )));
                }
            }
            Err((error, _)) => {
                shared.in_flight_bytes.fetch_sub(size, Ordering::SeqCst);
                return Err(failed(format!(
                    "{topic}/{partition}: cannot send offset {} to the target: {error}",
                    opaque.1
                )));
            }
        }
    }
}

/// Waits until everything sent is acknowledged (or failed), serving delivery reports.
fn drain(producer: &BaseProducer<CopyContext>, target: &Cluster) -> OperationResult<()> {
    producer.flush(Duration::from_secs(300)).map_err(|error| {
        target.failure(
            "the target did not acknowledge the mirrored records",
            &error,
            None,
        )
    })
}

/// Copies every task from its resume position to its stop offset. Blocking; `cancel` stops it
/// promptly (what was sent is flushed first, so the target still holds a prefix).
pub fn copy(
    source: &Cluster,
    target: &Cluster,
    tasks: &[PartitionTask],
    stale_segments: &BTreeMap<String, Vec<i64>>,
    settings: &CopySettings,
    cancel: &AtomicBool,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> OperationResult<CopyReport> {
    let started = Instant::now();
    if let Some(problem) = tasks.iter().find_map(PartitionTask::problem) {
        return Err(failed(problem));
    }
    let keys: Arc<Vec<String>> = Arc::new(tasks.iter().map(PartitionTask::key).collect());
    let shared = Arc::new(Shared {
        in_flight_bytes: AtomicU64::new(0),
        failure: Mutex::new(None),
        failed: AtomicBool::new(false),
    });
    let producer = producer(target, settings, shared.clone(), keys.clone())?;
    let mut report = CopyReport::default();

    // Padding: tiny records in large batches, then DeleteRecords up to the source's log start.
    let padded: Vec<&PartitionTask> = tasks.iter().filter(|t| t.padding() > 0).collect();
    for (index, task) in tasks.iter().enumerate() {
        let padding = task.padding();
        if padding == 0 {
            continue;
        }
        progress(&format!(
            "{}: padding {padding} records so offsets match the source",
            task.key()
        ));
        for offset in 0..padding {
            send(
                &producer,
                &shared,
                settings.max_in_flight_bytes,
                &task.topic,
                task.partition,
                None,
                Some(&[]),
                None,
                None,
                (index, offset),
                cancel,
                progress,
            )?;
            if shared.failed.load(Ordering::SeqCst) || cancel.load(Ordering::SeqCst) {
                break;
            }
        }
        report.padding += padding as u64;
    }
    if !padded.is_empty() {
        drain(&producer, target)?;
        check_failure(&shared)?;
        if cancel.load(Ordering::SeqCst) {
            return Err(OperationError::Cancelled);
        }
        delete_padding(target, &padded)?;
    }

    // The copy itself.
    let pending: Vec<usize> = (0..tasks.len())
        .filter(|&i| tasks[i].resume() + settings.max_lag.max(0) < tasks[i].stop)
        .collect();
    let mut next: Vec<i64> = tasks.iter().map(PartitionTask::resume).collect();
    // Where a partition's position ended past its last record (markers at the end).
    let mut skipped: Vec<i64> = next.clone();
    // Where each partition's next record lands on the target.
    let mut next_target: Vec<i64> = tasks
        .iter()
        .map(|t| {
            if t.translate.is_some() {
                t.target_end
            } else {
                t.resume()
            }
        })
        .collect();
    let map_writer = match &settings.map_topic {
        Some(topic) => Some((topic.clone(), crate::mirror::offset_map::producer(target)?)),
        None => None,
    };
    if let Some((map_topic, map_producer)) = &map_writer {
        // Segments written ahead for records that never landed are removed; partitions with
        // nothing mirrored below the target's end start a segment.
        let mut writes = Vec::new();
        for (index, task) in tasks.iter().enumerate() {
            for stale in stale_segments.get(&task.key()).into_iter().flatten() {
                writes.push((task.topic.clone(), task.partition, *stale, None));
            }
            if task.translate == Some(None) && pending.contains(&index) {
                writes.push((
                    task.topic.clone(),
                    task.partition,
                    task.target_end,
                    Some(next[index]),
                ));
            }
        }
        crate::mirror::offset_map::write(map_producer, target, map_topic, &writes)?;
    }
    if !pending.is_empty() {
        // The prefetch queue holds half the in-flight cap, filled by responses of half the
        // queue at most: a response's buffer lives until its last record is sent, so one far
        // larger than the queue would overshoot the memory cap. Over the threshold librdkafka
        // (2.4+) postpones the next fetch by fetch.queue.backoff.ms, 1 s by default, which
        // idled the copy most of every second (1 KB records: 55k records/s at 25% CPU); 10 ms
        // keeps the queue fed (see scripts/bench-mirror).
        let queued_bytes = (settings.max_in_flight_bytes / 2).clamp(1 << 20, 1 << 30);
        let queued_kb = (queued_bytes / 1024).to_string();
        let fetch_bytes = (queued_bytes / 2).clamp(1 << 20, 50 << 20).to_string();
        let consumer: BaseConsumer<KafkaContext> = source.consumer(&[
            ("group.id", "cutover-mirror-unused"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "true"),
            ("auto.offset.reset", "error"),
            ("fetch.max.bytes", fetch_bytes.as_str()),
            // Brokers before 0.10.1 return no record larger than this: librdkafka then
            // raises it by itself.
            ("max.partition.fetch.bytes", fetch_bytes.as_str()),
            ("queued.max.messages.kbytes", queued_kb.as_str()),
            ("fetch.queue.backoff.ms", "10"),
            ("check.crcs", "false"),
        ])?;
        let mut assignment = TopicPartitionList::new();
        let mut by_partition: BTreeMap<(String, i32), usize> = BTreeMap::new();
        for &index in &pending {
            let task = &tasks[index];
            assignment
                .add_partition_offset(&task.topic, task.partition, Offset::Offset(next[index]))
                .map_err(|error| source.failure("cannot assign partitions", &error, None))?;
            by_partition.insert((task.topic.clone(), task.partition), index);
        }
        consumer
            .assign(&assignment)
            .map_err(|error| source.failure("cannot assign partitions", &error, None))?;

        let mut remaining = pending.len();
        let mut done = vec![false; tasks.len()];
        let mut last_progress = Instant::now();
        let mut last_record = Instant::now();
        let mut last_position_check = Instant::now();
        let total_lag: i64 = pending.iter().map(|&i| tasks[i].lag()).sum();
        // A partition whose last offsets hold no records (transaction markers) is caught up
        // when the consumer's position passes them: checked at end-of-partition events and
        // while idle.
        let caught_up =
            |done: &mut Vec<bool>, remaining: &mut usize, skipped: &mut Vec<i64>, next: &[i64]| {
                let Ok(positions) = consumer.position() else {
                    return;
                };
                for element in positions.elements() {
                    let Some(&index) =
                        by_partition.get(&(element.topic().to_owned(), element.partition()))
                    else {
                        continue;
                    };
                    if let Offset::Offset(position) = element.offset()
                        && !done[index]
                        && position >= next[index]
                        && position + settings.max_lag.max(0) >= tasks[index].stop
                    {
                        skipped[index] = position;
                        done[index] = true;
                        *remaining -= 1;
                    }
                }
            };
        while remaining > 0 {
            if cancel.load(Ordering::SeqCst) {
                // Stop promptly: give what was sent a short while to land (the target keeps a
                // prefix either way), then go.
                let _ = producer.flush(Duration::from_secs(10));
                return Err(OperationError::Cancelled);
            }
            check_failure(&shared)?;
            producer.poll(Duration::ZERO);
            if last_progress.elapsed() >= settings.progress_every {
                last_progress = Instant::now();
                progress(&progress_line(&report, total_lag, started));
            }
            let polled = consumer.poll(Duration::from_millis(100));
            let end_of_partition = matches!(polled, Some(Err(KafkaError::PartitionEOF(_))));
            if end_of_partition
                || (polled.is_none() && last_position_check.elapsed() > Duration::from_millis(500))
            {
                last_position_check = Instant::now();
                caught_up(&mut done, &mut remaining, &mut skipped, &next);
            }
            if end_of_partition {
                continue;
            }
            let Some(polled) = polled else {
                if last_record.elapsed() > source.timeout.max(Duration::from_secs(60)) {
                    return Err(failed(format!(
                        "{}: no records arrived for {:?} although {remaining} partition(s) are behind",
                        source.address,
                        last_record.elapsed()
                    )));
                }
                continue;
            };
            let message = polled.map_err(|error| {
                source.failure(
                    "reading the source failed",
                    &error,
                    Some(consumer.context()),
                )
            })?;
            last_record = Instant::now();
            let Some(&index) = by_partition.get(&(message.topic().to_owned(), message.partition()))
            else {
                continue;
            };
            if done[index] {
                continue;
            }
            let offset = message.offset();
            if offset < next[index] {
                continue; // a re-delivery after a fetch retry
            }
            if offset > next[index] {
                let Some((map_topic, map_producer)) = &map_writer else {
                    return Err(failed(format!(
                        "{}: the source jumps from offset {} to {offset} (compaction or transaction markers): offsets cannot be preserved; nothing was written past {}",
                        keys[index], next[index], next[index]
                    )));
                };
                // A gap: a new segment, durable before its first record is sent.
                let task = &tasks[index];
                crate::mirror::offset_map::write(
                    map_producer,
                    target,
                    map_topic,
                    &[(
                        task.topic.clone(),
                        task.partition,
                        next_target[index],
                        Some(offset),
                    )],
                )?;
            }
            let timestamp = match message.timestamp() {
                Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) if t >= 0 => Some(t),
                _ => None,
            };
            let headers = message.headers().map(|h| h.detach());
            let size =
                message.key().map_or(0, <[u8]>::len) + message.payload().map_or(0, <[u8]>::len);
            send(
                &producer,
                &shared,
                settings.max_in_flight_bytes,
                message.topic(),
                message.partition(),
                message.key(),
                message.payload(),
                timestamp,
                headers,
                (index, next_target[index]),
                cancel,
                progress,
            )?;
            next_target[index] += 1;
            report.records += 1;
            report.bytes += size as u64;
            next[index] = offset + 1;
            if next[index] + settings.max_lag.max(0) >= tasks[index].stop {
                done[index] = true;
                remaining -= 1;
            }
        }
    }
    drain(&producer, target)?;
    check_failure(&shared)?;
    // A translating mirror records that the next record comes after the skipped markers.
    if let Some((map_topic, map_producer)) = &map_writer {
        let mut writes = Vec::new();
        for (index, task) in tasks.iter().enumerate() {
            if skipped[index] > next[index] {
                writes.push((
                    task.topic.clone(),
                    task.partition,
                    next_target[index],
                    Some(skipped[index]),
                ));
                next[index] = skipped[index];
            }
        }
        crate::mirror::offset_map::write(map_producer, target, map_topic, &writes)?;
    }
    // Everything sent was acknowledged at its expected offset (checked per record).
    report.positions = tasks
        .iter()
        .enumerate()
        .map(|(i, task)| (task.key(), next[i]))
        .collect();
    report.elapsed = started.elapsed();
    progress(&progress_line(&report, 0, started));
    Ok(report)
}

fn check_failure(shared: &Shared) -> OperationResult<()> {
    if shared.failed.load(Ordering::SeqCst) {
        let message = shared
            .failure
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_else(|| "the mirror failed".to_owned());
        return Err(failed(message));
    }
    Ok(())
}

fn progress_line(report: &CopyReport, total_lag: i64, started: Instant) -> String {
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    let rate = report.records as f64 / seconds;
    let left = (total_lag - report.records as i64).max(0);
    let eta = if rate > 0.0 && left > 0 {
        format!(", ETA {:.0}s", left as f64 / rate)
    } else {
        String::new()
    };
    format!(
        "mirrored {} records, {:.1} MB ({:.0} records/s, {:.1} MB/s), {left} behind{eta}",
        report.records,
        report.bytes as f64 / 1e6,
        rate,
        report.bytes as f64 / 1e6 / seconds,
    )
}

/// Removes the padding: DeleteRecords up to each padded partition's source log start.
fn delete_padding(target: &Cluster, tasks: &[&PartitionTask]) -> OperationResult<()> {
    let admin = crate::kafka::admin::admin(target)?;
    let mut list = TopicPartitionList::new();
    for task in tasks {
        list.add_partition_offset(
            &task.topic,
            task.partition,
            Offset::Offset(task.source_start),
        )
        .map_err(|error| target.failure("cannot build DeleteRecords", &error, None))?;
    }
    let options = rdkafka::admin::AdminOptions::new().operation_timeout(Some(target.timeout));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| failed(format!("cannot start a runtime: {error}")))?;
    let result = runtime
        .block_on(admin.delete_records(&list, &options))
        .map_err(|error| target.failure("cannot delete the padding records", &error, None))?;
    for element in result.elements() {
        if let Err(error) = element.error() {
            return Err(failed(format!(
                "{}/{}: deleting the padding failed: {error}",
                element.topic(),
                element.partition()
            )));
        }
    }
    Ok(())
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
