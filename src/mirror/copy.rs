//! The mirror's data path: one *lane* copies the partitions of one shard from the source to the
//! target with librdkafka. A worker (see [`super::worker`]) runs one lane per shard it owns.
//!
//! - The source is read with assigned partitions (no consumer group), so 0.8.x sources work,
//!   with `read_committed` (librdkafka's default): aborted records are not copied.
//! - `preserve`: one idempotent producer (`acks=all`) per lane: per-partition order holds and
//!   retries never duplicate. Each delivery report's offset is checked against the source offset
//!   the record came from; the first mismatch stops the mirror loudly. A new target partition
//!   whose source log starts above 0 is padded with tiny records, and the padding removed with
//!   DeleteRecords, so its log start and every offset match. The position of a partition is the
//!   target's own end offset. A gap in the source offsets (compaction, transaction markers)
//!   fails before anything is written past it. Sends are gated by the worker's lease (its last
//!   successful commit in the worker group), so a worker paused past its session timeout stops
//!   writing before another one takes its shard over.
//! - `translate`: one transactional producer per lane, `transactional.id` tied to the shard, so
//!   a new owner of the shard fences the old one (its open transaction is aborted, its next
//!   write refused). Records are written in transactions of up to `commit_bytes` or
//!   `commit_interval`; each transaction also carries the offset map chunks of the records it
//!   wrote (taken from the delivery reports: the exact target offsets) and the partitions'
//!   positions, committed to the positions group with `send_offsets_to_transaction`. Data, map
//!   and positions commit or abort together: a crash at any moment leaves no record without its
//!   map entry and no position ahead of its data. A gap in the source costs nothing: the map
//!   simply starts a new segment.
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
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext, PurgeConfig,
};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::offset_map::{ChunkBuilder, segment_key};
use super::survey::PartitionTask;
use crate::error::{OperationError, OperationResult};
use crate::kafka::connection::{Cluster, KafkaContext};

/// How a lane copies.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CopySettings {
    pub compression: String,
    /// The memory for records, per worker (per lane once a worker divides it among its
    /// lanes, see [`CopySettings::lane_budget`]): two thirds for records sent to the target
    /// but not yet acknowledged, one third for the source consumer's prefetch queue.
    pub max_in_flight_bytes: u64,
    pub linger_ms: u32,
    /// How often a progress line is reported.
    pub progress_every: Duration,
    /// A run that stops once caught up, and waits for workers running elsewhere, returns once
    /// they are within this many records of each stop offset. Its own lanes copy to the stops.
    pub max_lag: i64,
    /// `translate`: a transaction is committed at least this often while records flow...
    pub commit_interval: Duration,
    /// ...or once it holds this many bytes.
    pub commit_bytes: u64,
    /// The most bytes of records (keys and values) a worker sends per second, all its lanes
    /// together (`worker_max_mb_per_s`); `None`: as fast as the brokers allow.
    #[serde(default)]
    pub worker_max_bytes_per_s: Option<u64>,
}

/// The least memory for records a lane gets, whatever the number of lanes.
pub const MIN_LANE_BUDGET: u64 = 3 << 20;

impl CopySettings {
    /// The settings of one of `lanes` lanes: the worker's budget divided among them (at least
    /// [`MIN_LANE_BUDGET`] each).
    pub fn lane_budget(&self, lanes: u64) -> CopySettings {
        let mut settings = self.clone();
        settings.max_in_flight_bytes =
            (self.max_in_flight_bytes / lanes.max(1)).max(MIN_LANE_BUDGET);
        settings
    }

    /// Bytes sent but not acknowledged, at most: two thirds of the budget.
    fn producer_bytes(&self) -> u64 {
        (self.max_in_flight_bytes / 3 * 2).max(1 << 20)
    }

    /// The source consumer's prefetch queue: the remaining third.
    fn queued_bytes(&self) -> u64 {
        (self.max_in_flight_bytes / 3).clamp(1 << 20, 1 << 30)
    }
}

impl Default for CopySettings {
    fn default() -> Self {
        CopySettings {
            compression: "lz4".to_owned(),
            max_in_flight_bytes: 64 << 20,
            linger_ms: 20,
            progress_every: Duration::from_secs(5),
            max_lag: 0,
            commit_interval: Duration::from_secs(1),
            commit_bytes: 32 << 20,
            worker_max_bytes_per_s: None,
        }
    }
}

/// How a lane writes to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writer {
    Preserve,
    Translate {
        transactional_id: String,
        map_topic: String,
        positions_group: String,
    },
}

/// What every lane of a worker adds to, for its progress lines and final report.
#[derive(Debug, Default)]
pub struct LaneStats {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub padding: AtomicU64,
    pub transactions: AtomicU64,
    /// The worker's rate cap, shared by its lanes.
    pub throttle: Throttle,
}

/// How much of a worker's rate cap an idle worker may send at once.
const THROTTLE_BURST: Duration = Duration::from_millis(50);

/// A worker's cap on the bytes its lanes send per second, shared by them: each send reserves
/// its bytes on a schedule at the capped rate (the time the bytes reserved so far would take,
/// a "theoretical arrival time") and waits until the schedule is within
/// [`THROTTLE_BURST`] of now. The wait is the lane's own; no lock is held while waiting.
#[derive(Debug, Default)]
pub struct Throttle {
    schedule: Mutex<Option<Instant>>,
}

impl Throttle {
    /// Reserves `bytes` at `bytes_per_s` and returns how long the sender waits first.
    fn reserve(&self, bytes: u64, bytes_per_s: u64, now: Instant) -> Duration {
        let Ok(mut schedule) = self.schedule.lock() else {
            return Duration::ZERO;
        };
        let start = schedule.map_or(now, |at| at.max(now));
        let due = start + Duration::from_secs_f64(bytes as f64 / bytes_per_s.max(1) as f64);
        *schedule = Some(due);
        due.saturating_duration_since(now)
            .saturating_sub(THROTTLE_BURST)
    }
}

/// How a worker stops a lane: `stop` finishes what was sent (flush, commit) and returns;
/// `lost` abandons it at once (the shard has a new owner: nothing more may be written).
#[derive(Debug, Default)]
pub struct LaneControl {
    pub stop: AtomicBool,
    pub lost: AtomicBool,
}

impl LaneControl {
    fn halted(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.lost.load(Ordering::SeqCst)
    }
}

/// A worker's right to write: valid until a moment derived from its last successful commit in
/// the worker group (which the group coordinator accepts only from a current member). A worker
/// paused past its session timeout finds its lease expired when it resumes, before the group
/// coordinator can have given its shards to another worker.
#[derive(Debug)]
pub struct Lease {
    base: Instant,
    /// Nanoseconds after `base`; 0: no lease.
    until: AtomicU64,
}

impl Default for Lease {
    fn default() -> Self {
        Lease {
            base: Instant::now(),
            until: AtomicU64::new(0),
        }
    }
}

impl Lease {
    /// A commit sent at `sent_at` succeeded: the lease runs until `sent_at + validity`.
    pub fn renew(&self, sent_at: Instant, validity: Duration) {
        let until = (sent_at + validity).duration_since(self.base).as_nanos() as u64;
        self.until.fetch_max(until.max(1), Ordering::SeqCst);
    }

    pub fn invalidate(&self) {
        self.until.store(0, Ordering::SeqCst);
    }

    pub fn valid(&self) -> bool {
        let until = self.until.load(Ordering::SeqCst);
        until > 0 && (Instant::now().duration_since(self.base).as_nanos() as u64) < until
    }
}

/// How a lane ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneEnd {
    /// Every partition reached its stop offset.
    CaughtUp,
    /// Stopped or abandoned on the worker's request.
    Stopped,
}

/// Why a lane failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaneError {
    /// Nothing a retry can fix: offsets diverge, retention outran the mirror, foreign data, a
    /// gap in a preserving mirror. The mirror stops.
    Fatal(String),
    /// Another worker owns the shard now (its producer fenced this one).
    Fenced(String),
    /// A transient failure (a broker, the network, an aborted transaction): retried.
    Retry(String),
}

impl LaneError {
    pub fn message(&self) -> &str {
        match self {
            LaneError::Fatal(m) | LaneError::Fenced(m) | LaneError::Retry(m) => m,
        }
    }
}

impl From<OperationError> for LaneError {
    fn from(error: OperationError) -> Self {
        match error {
            OperationError::Invalid(message) => LaneError::Fatal(message),
            other => LaneError::Retry(other.to_string()),
        }
    }
}

type LaneResult<T> = Result<T, LaneError>;

/// Shared between the lane and librdkafka's delivery callback (served on the lane's thread).
struct Shared {
    in_flight_bytes: AtomicU64,
    /// Records (and their key and value bytes) the target acknowledged.
    acked_records: AtomicU64,
    acked_bytes: AtomicU64,
    failure: Mutex<Option<LaneError>>,
    failed: AtomicBool,
    /// `translate`: the chunk each partition's records build in the open transaction.
    chunks: Mutex<Vec<ChunkBuilder>>,
    /// `preserve`: how long the oldest record sent has waited for its delivery report.
    ages: Ages,
    /// Set by [`Lane::check_ages`]: the oldest record has waited long, send nothing new.
    backlogged: AtomicBool,
}

/// The ring of [`Ages`]' epochs (6.4 s of them). Should it fill (a `session_timeout` over
/// 50 s lets a record wait longer than that), the current epoch stays open until a slot is
/// free: the age measured is then still an upper bound, only coarser.
const AGE_SLOTS: usize = 128;

/// How long one epoch of [`Ages`] lasts, at least: the precision of the age.
const AGE_EPOCH: Duration = Duration::from_millis(50);

/// How long the oldest record a lane sent has waited for its delivery report, to within an
/// epoch: each record is counted in the epoch (of at least [`AGE_EPOCH`]) it was sent in, and
/// again when its report (delivered or failed) arrives, so the start of the oldest epoch with
/// a record unreported bounds the age from above. Sends, reports and ticks all happen on the
/// lane's thread; the counters are atomics only because the callback's context is shared.
///
/// Why a `preserve` lane needs it: a record that times out in librdkafka's queue is skipped
/// by the idempotent producer, which sends the records queued after it under a new epoch
/// (librdkafka's INTRODUCTION.md, "Message timeout considerations"): a gap, after which every
/// target offset is behind the source's for good. The lane therefore stops itself, purging
/// everything it queued at once, well before librdkafka's `message.timeout.ms` could expire
/// any single record (`tests/it/mirror_restart.rs` stalls a target to prove it).
#[derive(Debug)]
struct Ages {
    sent: [AtomicU64; AGE_SLOTS],
    reported: [AtomicU64; AGE_SLOTS],
    current: AtomicU64,
    clock: Mutex<AgeClock>,
}

#[derive(Debug)]
struct AgeClock {
    starts: [Option<Instant>; AGE_SLOTS],
    /// The oldest epoch not yet known to be fully reported.
    oldest: u64,
}

impl Ages {
    fn new() -> Self {
        Ages::starting(Instant::now())
    }

    fn starting(now: Instant) -> Self {
        let mut starts = [None; AGE_SLOTS];
        starts[0] = Some(now);
        Ages {
            sent: std::array::from_fn(|_| AtomicU64::new(0)),
            reported: std::array::from_fn(|_| AtomicU64::new(0)),
            current: AtomicU64::new(0),
            clock: Mutex::new(AgeClock { starts, oldest: 0 }),
        }
    }

    /// The epoch a record sent now belongs to, counted as sent.
    fn sent(&self) -> u64 {
        let epoch = self.current.load(Ordering::Relaxed);
        self.sent[epoch as usize % AGE_SLOTS].fetch_add(1, Ordering::Relaxed);
        epoch
    }

    fn reported(&self, epoch: u64) {
        self.reported[epoch as usize % AGE_SLOTS].fetch_add(1, Ordering::Relaxed);
    }

    /// Starts a new epoch when the current one is old enough, forgets the fully reported
    /// ones, and returns how long the oldest unreported record has waited at most.
    fn tick(&self, now: Instant) -> Duration {
        let Ok(mut clock) = self.clock.lock() else {
            return Duration::ZERO;
        };
        let current = self.current.load(Ordering::Relaxed);
        let slot = |epoch: u64| epoch as usize % AGE_SLOTS;
        clock.starts[slot(current)].get_or_insert(now);
        let settled = |epoch: u64| {
            self.sent[slot(epoch)].load(Ordering::Relaxed)
                == self.reported[slot(epoch)].load(Ordering::Relaxed)
        };
        // No record is sent in an epoch once the next has begun: a settled one stays so.
        while clock.oldest < current && settled(clock.oldest) {
            let oldest = clock.oldest;
            self.sent[slot(oldest)].store(0, Ordering::Relaxed);
            self.reported[slot(oldest)].store(0, Ordering::Relaxed);
            clock.starts[slot(oldest)] = None;
            clock.oldest += 1;
        }
        let started = clock.starts[slot(current)].unwrap_or(now);
        if now.saturating_duration_since(started) >= AGE_EPOCH
            && current + 1 - clock.oldest < AGE_SLOTS as u64
        {
            self.current.store(current + 1, Ordering::Relaxed);
            clock.starts[slot(current + 1)] = Some(now);
        }
        if clock.oldest == current && settled(current) {
            return Duration::ZERO;
        }
        clock.starts[slot(clock.oldest)]
            .map_or(Duration::ZERO, |start| now.saturating_duration_since(start))
    }
}

impl Shared {
    fn fail(&self, error: LaneError) {
        if let Ok(mut failure) = self.failure.lock()
            && failure.is_none()
        {
            *failure = Some(error);
        }
        self.failed.store(true, Ordering::SeqCst);
    }

    /// Moves what the target acknowledged since the last call into `stats`.
    fn count(&self, stats: &LaneStats) {
        let records = self.acked_records.swap(0, Ordering::Relaxed);
        let bytes = self.acked_bytes.swap(0, Ordering::Relaxed);
        stats.records.fetch_add(records, Ordering::Relaxed);
        stats.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Forgets what was acknowledged since the last count (padding, an aborted transaction).
    fn forget(&self) {
        self.acked_records.store(0, Ordering::Relaxed);
        self.acked_bytes.store(0, Ordering::Relaxed);
    }

    fn check(&self) -> LaneResult<()> {
        if self.failed.load(Ordering::SeqCst) {
            let error = self
                .failure
                .lock()
                .ok()
                .and_then(|f| f.clone())
                .unwrap_or_else(|| LaneError::Retry("the mirror failed".to_owned()));
            return Err(error);
        }
        Ok(())
    }
}

/// What the delivery callback gets back with each record: the task (or [`MAP_RECORD`]), the
/// expected target offset (`preserve`) or the source offset (`translate`), the size, and the
/// [`Ages`] epoch it was sent in (`preserve`).
type Delivery = Box<(usize, i64, u64, u64)>;

/// The task index of an offset map record.
const MAP_RECORD: usize = usize::MAX;

/// How often a following lane commits while records keep coming (the latency of its records),
/// at least: see [`follow_commit_interval`].
const FOLLOW_COMMIT_INTERVAL: Duration = Duration::from_millis(100);

/// How long a following lane's transaction stays open at most.
const FOLLOW_COMMIT_MAX: Duration = Duration::from_millis(300);

/// How long a following lane keeps its transaction open: three times as long as its last
/// commit took, within [`FOLLOW_COMMIT_INTERVAL`] and [`FOLLOW_COMMIT_MAX`]. A commit stops the
/// lane (adding the positions, flushing the records in flight, writing the map and committing
/// are round trips; the first two overlap), so on busy brokers a fixed 100 ms spent most of the time committing and the
/// lane fell behind the source; this way at least three quarters of the time is copying, and
/// a record still waits at most about four commits' time to be visible.
fn follow_commit_interval(last_commit: Duration) -> Duration {
    (last_commit * 3).clamp(FOLLOW_COMMIT_INTERVAL, FOLLOW_COMMIT_MAX)
}

/// What a record costs in the in-flight count beyond its key and value: librdkafka's message
/// (about 200 bytes) and its share of the batch. At 64, a worker copying 100-byte records held
/// 340 MB for a 64 MB budget (scripts/bench-mirror).
const RECORD_OVERHEAD: u64 = 256;

/// The prefetch queue's message count per byte of its budget: librdkafka keeps fetching until
/// either bound is reached, and a small record costs far more than its bytes.
const QUEUED_BYTES_PER_MESSAGE: u64 = 512;

/// A lane serves delivery reports and checks its commit deadline once per this many records
/// (and whenever the source has nothing for it).
const HOUSEKEEPING_EVERY: u32 = 32;

struct CopyContext {
    base: KafkaContext,
    shared: Arc<Shared>,
    keys: Arc<Vec<String>>,
    translate: bool,
}

impl ClientContext for CopyContext {
    crate::kafka::connection::delegate_client_context!(base);
}

impl ProducerContext for CopyContext {
    type DeliveryOpaque = Delivery;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let (task, offset, size, epoch) = *opaque;
        self.shared
            .in_flight_bytes
            .fetch_sub(size, Ordering::SeqCst);
        if !self.translate && task != MAP_RECORD {
            self.shared.ages.reported(epoch);
        }
        if task == MAP_RECORD {
            if let Err((error, _)) = result {
                self.shared.fail(LaneError::Retry(format!(
                    "writing the offset map failed: {error}"
                )));
            }
            return;
        }
        let key = &self.keys[task];
        if result.is_ok() {
            self.shared.acked_records.fetch_add(1, Ordering::Relaxed);
            self.shared
                .acked_bytes
                .fetch_add(size.saturating_sub(RECORD_OVERHEAD), Ordering::Relaxed);
        }
        match result {
            Ok(message) if self.translate => {
                if let Ok(mut chunks) = self.shared.chunks.lock() {
                    chunks[task].push(offset, message.offset());
                }
            }
            Ok(message) => {
                if message.offset() != offset {
                    self.shared.fail(LaneError::Fatal(format!(
                        "{key}: the target wrote at offset {} the record expected at {offset}: offsets diverge, stopping",
                        message.offset()
                    )));
                }
            }
            Err((error, _)) => {
                let fenced = matches!(
                    error.rdkafka_error_code(),
                    Some(RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch)
                );
                let message =
                    format!("{key}: writing offset {offset} to the target failed: {error}");
                self.shared.fail(if fenced {
                    LaneError::Fenced(message)
                } else {
                    LaneError::Retry(message)
                });
            }
        }
    }
}

fn producer(
    target: &Cluster,
    settings: &CopySettings,
    shared: Arc<Shared>,
    keys: Arc<Vec<String>>,
    transactional_id: Option<&str>,
    message_timeout: Duration,
) -> OperationResult<BaseProducer<CopyContext>> {
    let buffering_kb = (settings.producer_bytes() / 1024)
        .clamp(1024, 2_097_151)
        .to_string();
    let linger = settings.linger_ms.to_string();
    let timeout = message_timeout.as_millis().max(1000).to_string();
    let mut extra = vec![
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("compression.type", settings.compression.as_str()),
        ("linger.ms", linger.as_str()),
        ("batch.size", "1048576"),
        ("batch.num.messages", "100000"),
        ("queue.buffering.max.kbytes", buffering_kb.as_str()),
        ("queue.buffering.max.messages", "2000000"),
        ("message.max.bytes", "16777216"),
        ("message.timeout.ms", timeout.as_str()),
    ];
    if let Some(id) = transactional_id {
        extra.push(("transactional.id", id));
        extra.push(("transaction.timeout.ms", "60000"));
    }
    let config = target.client_config(&extra);
    let context = CopyContext {
        base: target.context(),
        shared,
        keys,
        translate: transactional_id.is_some(),
    };
    config
        .create_with_context(context)
        .map_err(|error| target.failure("cannot create the mirror's producer", &error, None))
}

fn fenced_code(code: Option<RDKafkaErrorCode>) -> bool {
    matches!(
        code,
        Some(
            RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::Fenced
        )
    )
}

/// A transaction call's failure: fenced (another worker owns the shard) or transient.
fn transaction_error(what: &str, error: &KafkaError) -> LaneError {
    let code = match error {
        KafkaError::Transaction(e) => Some(e.code()),
        other => other.rdkafka_error_code(),
    };
    let message = format!("{what}: {error}");
    if fenced_code(code) {
        LaneError::Fenced(message)
    } else {
        LaneError::Retry(message)
    }
}

/// The open transaction of a translating lane and what it must commit with its records.
struct Transactions<'p> {
    producer: &'p BaseProducer<CopyContext>,
    map_topic: String,
    /// The positions group's metadata (generation -1: a plain offset commit in the
    /// transaction; fencing comes from the transactional id).
    group: rdkafka::consumer::ConsumerGroupMetadata,
    _group_client: BaseConsumer<KafkaContext>,
    timeout: Duration,
    opened: Option<Instant>,
    /// How long the open transaction may stay open while records flow: the commit interval
    /// drawn between 3/4 and 5/4 of it afresh for each transaction, so that a worker's lanes,
    /// started together, do not all stop to commit at the same moment (each commit drains
    /// its lane's records in flight: in step, the whole target would idle).
    interval: Duration,
    base_interval: Duration,
    /// The state of the generator the intervals are drawn from.
    jitter: u64,
    /// How long the last commit took (see [`follow_commit_interval`]).
    last_commit: Duration,
    bytes: u64,
    /// Partitions whose position changed in the open transaction.
    dirty: Vec<bool>,
    /// Keys of stale segments an earlier version wrote ahead: removed in the first transaction.
    tombstones: Vec<String>,
}

impl Transactions<'_> {
    fn touch(&mut self, index: usize, bytes: u64) -> LaneResult<()> {
        if self.opened.is_none() {
            self.producer
                .begin_transaction()
                .map_err(|e| transaction_error("cannot begin a transaction", &e))?;
            self.opened = Some(Instant::now());
            self.bytes = 0;
        }
        self.dirty[index] = true;
        self.bytes += bytes;
        Ok(())
    }

    fn due(&self, settings: &CopySettings, at_end: bool, follow: bool) -> bool {
        let Some(opened) = self.opened else {
            return false;
        };
        // Caught up with the source, or following it: commit soon, so that readers of the
        // target (read_committed) see the records quickly; a backlog commits by size or time.
        let age = opened.elapsed();
        self.bytes >= settings.commit_bytes
            || age >= self.interval
            || (at_end && age >= Duration::from_millis(50))
            || (follow && age >= follow_commit_interval(self.last_commit))
    }

    /// Adds the positions, flushes the records, adds their map chunks, and commits.
    fn commit(
        &mut self,
        shared: &Shared,
        tasks: &[PartitionTask],
        positions: &[i64],
        stats: &LaneStats,
    ) -> LaneResult<()> {
        if self.opened.is_none() && self.tombstones.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let open_for = self.opened.map(|o| o.elapsed());
        if self.opened.is_none() {
            self.producer
                .begin_transaction()
                .map_err(|e| transaction_error("cannot begin a transaction", &e))?;
            self.opened = Some(Instant::now());
        }
        // The positions first: they are known already (the source offsets after the records
        // sent), and their two round trips (AddOffsetsToTxn, TxnOffsetCommit) overlap the
        // acknowledgements of the records in flight, which the map chunks wait for. If any
        // record fails, the commit fails and the positions are aborted with it.
        let mut offsets = TopicPartitionList::new();
        for (index, task) in tasks.iter().enumerate() {
            if self.dirty[index] {
                offsets
                    .add_partition_offset(
                        &task.topic,
                        task.partition,
                        Offset::Offset(positions[index]),
                    )
                    .map_err(|e| LaneError::Retry(format!("cannot list positions: {e}")))?;
            }
        }
        if offsets.count() > 0 {
            self.producer
                .send_offsets_to_transaction(&offsets, &self.group, self.timeout)
                .map_err(|e| {
                    transaction_error("cannot add the positions to the transaction", &e)
                })?;
        }
        await_acks(self.producer, shared, self.timeout)?;
        let chunks: Vec<(usize, i64, Vec<u8>)> = {
            let mut chunks = shared
                .chunks
                .lock()
                .map_err(|_| LaneError::Retry("the chunk lock is poisoned".to_owned()))?;
            let taken = chunks
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((i, c.first_target()?, c.encode())))
                .collect();
            chunks.iter_mut().for_each(ChunkBuilder::clear);
            taken
        };
        let mut map_records: Vec<(String, Option<Vec<u8>>)> = std::mem::take(&mut self.tombstones)
            .into_iter()
            .map(|key| (key, None))
            .collect();
        for (index, first_target, bytes) in chunks {
            let task = &tasks[index];
            map_records.push((
                segment_key(&task.topic, task.partition, first_target),
                Some(bytes),
            ));
        }
        for (key, payload) in &map_records {
            let mut record: BaseRecord<'_, str, [u8], Delivery> =
                BaseRecord::with_opaque_to(&self.map_topic, Box::new((MAP_RECORD, 0, 0, 0)))
                    .key(key.as_str())
                    .partition(0);
            if let Some(payload) = payload {
                record = record.payload(payload.as_slice());
            }
            self.producer
                .send(record)
                .map_err(|(e, _)| transaction_error("cannot write the offset map", &e))?;
        }
        self.producer
            .commit_transaction(self.timeout)
            .map_err(|e| transaction_error("cannot commit the transaction", &e))?;
        shared.check()?;
        tracing::debug!(
            map_topic = %self.map_topic,
            open_ms = open_for.map_or(0, |d| d.as_millis() as u64),
            commit_ms = started.elapsed().as_millis() as u64,
            bytes = self.bytes,
            "committed a transaction"
        );
        self.last_commit = started.elapsed();
        self.opened = None;
        self.bytes = 0;
        self.interval = jittered(self.base_interval, &mut self.jitter);
        self.dirty.iter_mut().for_each(|d| *d = false);
        stats.transactions.fetch_add(1, Ordering::Relaxed);
        shared.count(stats);
        Ok(())
    }

    fn abort(&mut self, shared: &Shared) {
        if self.opened.take().is_some() {
            let _ = self.producer.abort_transaction(self.timeout);
        }
        shared.forget();
    }
}

/// One lane: the partitions of one shard, copied by one producer.
pub struct Lane<'a> {
    pub source: &'a Cluster,
    pub target: &'a Cluster,
    pub settings: &'a CopySettings,
    pub writer: &'a Writer,
    /// `preserve`: sends wait for a valid lease (`None`: a run outside any worker group).
    pub lease: Option<&'a Lease>,
    pub control: &'a LaneControl,
    pub stats: &'a LaneStats,
    pub progress: &'a (dyn Fn(&str) + Send + Sync),
    /// How long librdkafka may retry an unacknowledged record (`preserve`: with the lease, a
    /// bound on what a paused worker can still write after it resumes).
    pub message_timeout: Duration,
}

impl Lane<'_> {
    /// Copies `tasks` from their resume positions: up to their stop offsets, or, with
    /// `follow`, until stopped. Blocking.
    pub fn run(
        &self,
        tasks: &[PartitionTask],
        stale: &BTreeMap<String, Vec<i64>>,
        follow: bool,
    ) -> LaneResult<LaneEnd> {
        if let Some(problem) = tasks.iter().find_map(PartitionTask::problem) {
            return Err(LaneError::Fatal(problem));
        }
        let keys: Arc<Vec<String>> = Arc::new(tasks.iter().map(PartitionTask::key).collect());
        let shared = Arc::new(Shared {
            in_flight_bytes: AtomicU64::new(0),
            acked_records: AtomicU64::new(0),
            acked_bytes: AtomicU64::new(0),
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
            chunks: Mutex::new(vec![ChunkBuilder::default(); tasks.len()]),
            ages: Ages::new(),
            backlogged: AtomicBool::new(false),
        });
        let transactional_id = match self.writer {
            Writer::Translate {
                transactional_id, ..
            } => Some(transactional_id.as_str()),
            Writer::Preserve => None,
        };
        let producer = producer(
            self.target,
            self.settings,
            shared.clone(),
            keys.clone(),
            transactional_id,
            self.message_timeout,
        )?;
        let mut transactions = match self.writer {
            Writer::Translate {
                map_topic,
                positions_group,
                ..
            } => {
                // Fences every earlier owner of the shard: its open transaction is aborted.
                producer
                    .init_transactions(self.target.timeout.max(Duration::from_secs(30)))
                    .map_err(|e| transaction_error("cannot start the shard's transactions", &e))?;
                let client = self.target.consumer(&[
                    ("group.id", positions_group.as_str()),
                    ("enable.auto.commit", "false"),
                ])?;
                let group = client.group_metadata().ok_or_else(|| {
                    LaneError::Retry("no group metadata for the positions group".to_owned())
                })?;
                // Seeded by the shard's transactional id and the clock: lanes differ.
                let mut jitter = transactional_id
                    .unwrap_or_default()
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                    })
                    ^ std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos().into());
                let interval = jittered(self.settings.commit_interval, &mut jitter);
                Some(Transactions {
                    producer: &producer,
                    map_topic: map_topic.clone(),
                    interval,
                    base_interval: self.settings.commit_interval,
                    jitter,
                    last_commit: Duration::ZERO,
                    group,
                    _group_client: client,
                    timeout: self.target.timeout.max(Duration::from_secs(60)),
                    opened: None,
                    bytes: 0,
                    dirty: vec![false; tasks.len()],
                    tombstones: tasks
                        .iter()
                        .flat_map(|t| {
                            stale
                                .get(&t.key())
                                .into_iter()
                                .flatten()
                                .map(|target| segment_key(&t.topic, t.partition, *target))
                        })
                        .collect(),
                })
            }
            Writer::Preserve => None,
        };
        let result = self.copy(tasks, follow, &producer, &shared, transactions.as_mut());
        match &result {
            // The shard has a new owner: nothing more is sent, the open transaction is left
            // to the new owner's fencing.
            _ if self.control.lost.load(Ordering::SeqCst) => {
                producer.purge(PurgeConfig::default().queue().inflight());
            }
            Ok(_) => {}
            Err(_) => {
                if let Some(transactions) = transactions.as_mut() {
                    transactions.abort(&shared);
                } else {
                    // Nothing queued may go out after a failure. A record that timed out in
                    // librdkafka's queue is skipped: once the requests in flight drain, the
                    // idempotent producer bumps its epoch and sends the records queued after
                    // it (librdkafka's INTRODUCTION.md, "Message timeout considerations"), a
                    // gap that would leave the target's offsets behind the source's for good.
                    // Purged at once, the target keeps a prefix: what the broker persists of
                    // the requests in flight follows it in sequence, or is refused.
                    producer.purge(PurgeConfig::default().queue().inflight());
                    producer.poll(Duration::ZERO);
                }
            }
        }
        if transactions.is_none() {
            // What the target acknowledged is copied, whatever happened.
            producer.poll(Duration::ZERO);
            shared.count(self.stats);
        }
        result
    }

    /// The lane's source consumer: the partitions of `pending` not `done`, each from `next`,
    /// with the prefetch sized by `prefetch`.
    fn lane_consumer(
        &self,
        tasks: &[PartitionTask],
        pending: &[usize],
        next: &[i64],
        done: &[bool],
        prefetch: &Prefetch,
    ) -> LaneResult<BaseConsumer<FetchContext>> {
        let queued_kb = (prefetch.queued_bytes / 1024).to_string();
        let queued_messages = (prefetch.queued_bytes / QUEUED_BYTES_PER_MESSAGE)
            .max(1000)
            .to_string();
        let fetch_bytes = prefetch.fetch_bytes.to_string();
        let config = self.source.client_config(&[
            ("group.id", "cutover-mirror-unused"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "true"),
            ("auto.offset.reset", "error"),
            ("fetch.max.bytes", fetch_bytes.as_str()),
            // fetch.max.bytes may not be below it (a consumer uses it for nothing else).
            ("message.max.bytes", "1000"),
            // Brokers before 0.10.1 return no record larger than this: librdkafka then
            // raises it by itself.
            ("max.partition.fetch.bytes", fetch_bytes.as_str()),
            ("queued.max.messages.kbytes", queued_kb.as_str()),
            ("queued.min.messages", queued_messages.as_str()),
            ("fetch.queue.backoff.ms", "10"),
            ("check.crcs", "false"),
            ("statistics.interval.ms", PREFETCH_STATISTICS_MS),
        ]);
        let consumer: BaseConsumer<FetchContext> = config
            .create_with_context(FetchContext {
                base: self.source.context(),
                wire_bytes: AtomicU64::new(0),
                decoded_bytes: AtomicU64::new(0),
                decoded_records: AtomicU64::new(0),
            })
            .map_err(|error| {
                self.source
                    .failure("cannot create the mirror's consumer", &error, None)
            })?;
        let mut assignment = TopicPartitionList::new();
        for &index in pending.iter().filter(|&&i| !done[i]) {
            let task = &tasks[index];
            assignment
                .add_partition_offset(&task.topic, task.partition, Offset::Offset(next[index]))
                .map_err(|error| {
                    self.source
                        .failure("cannot assign partitions", &error, None)
                })?;
        }
        consumer.assign(&assignment).map_err(|error| {
            self.source
                .failure("cannot assign partitions", &error, None)
        })?;
        Ok(consumer)
    }

    fn wait_for_lease(
        &self,
        producer: &BaseProducer<CopyContext>,
        shared: &Shared,
    ) -> LaneResult<bool> {
        let Some(lease) = self.lease else {
            return Ok(true);
        };
        while !lease.valid() {
            if self.control.halted() {
                return Ok(false);
            }
            producer.poll(Duration::from_millis(10));
            self.check_ages(shared)?;
        }
        Ok(true)
    }

    /// `preserve`: waits until the target acknowledged everything the lane sent, watching the
    /// records' age as the copy does.
    fn drain(&self, producer: &BaseProducer<CopyContext>, shared: &Shared) -> LaneResult<()> {
        while shared.in_flight_bytes.load(Ordering::SeqCst) > 0 {
            producer.poll(Duration::from_millis(5));
            shared.check()?;
            self.check_ages(shared)?;
        }
        shared.check()?;
        // Nothing of the lane's is left in flight: this returns at once, unless something sent
        // outside the count (none today) is still queued.
        producer.flush(Duration::from_secs(300)).map_err(|error| {
            LaneError::from(self.target.failure(
                "the target did not acknowledge the mirrored records",
                &error,
                None,
            ))
        })
    }

    /// `preserve`: how long the lane's oldest record has waited for its delivery report
    /// ([`Ages`]). Past half of librdkafka's message timeout the lane stops (the caller purges
    /// what it queued, all at once, and the lane is retried from the target's end), before
    /// librdkafka could time out one record and send the ones after it; past a quarter it
    /// sends nothing new (`true`), so a slow target does not queue more than it can take.
    fn check_ages(&self, shared: &Shared) -> LaneResult<bool> {
        if !matches!(self.writer, Writer::Preserve) {
            return Ok(false);
        }
        let age = shared.ages.tick(Instant::now());
        let backlogged = age > self.message_timeout / 4;
        shared.backlogged.store(backlogged, Ordering::Relaxed);
        if age > self.message_timeout / 2 {
            return Err(LaneError::Retry(format!(
                "the target left records unacknowledged for {:.1} s: stopping the lane before they time out (a timed-out record would leave a gap in the target's offsets)",
                age.as_secs_f64()
            )));
        }
        Ok(backlogged)
    }

    fn copy(
        &self,
        tasks: &[PartitionTask],
        follow: bool,
        producer: &BaseProducer<CopyContext>,
        shared: &Shared,
        mut transactions: Option<&mut Transactions<'_>>,
    ) -> LaneResult<LaneEnd> {
        let settings = self.settings;
        // Padding: tiny records in large batches, then DeleteRecords up to the source's log
        // start (preserve only).
        let padded: Vec<&PartitionTask> = tasks.iter().filter(|t| t.padding() > 0).collect();
        for (index, task) in tasks.iter().enumerate() {
            let padding = task.padding();
            if padding == 0 || transactions.is_some() {
                continue;
            }
            (self.progress)(&format!(
                "{}: padding {padding} records so offsets match the source",
                task.key()
            ));
            for offset in 0..padding {
                if !self.wait_for_lease(producer, shared)? {
                    return Ok(LaneEnd::Stopped);
                }
                self.send(
                    producer,
                    shared,
                    task,
                    None,
                    Some(&[]),
                    None,
                    None,
                    (index, offset),
                )?;
                shared.check()?;
            }
            self.stats
                .padding
                .fetch_add(padding as u64, Ordering::Relaxed);
        }
        if !padded.is_empty() && transactions.is_none() {
            self.drain(producer, shared)?;
            shared.check()?;
            if self.control.halted() {
                return Ok(LaneEnd::Stopped);
            }
            delete_padding(self.target, &padded)?;
            shared.forget();
        }

        // A lane copies to its stops exactly: `max_lag` only bounds the wait for workers
        // running elsewhere (`fleet::run`).
        let behind = |i: usize, next: i64| follow || next < tasks[i].stop;
        let pending: Vec<usize> = (0..tasks.len())
            .filter(|&i| behind(i, tasks[i].resume()))
            .collect();
        let mut next: Vec<i64> = tasks.iter().map(PartitionTask::resume).collect();
        // Where each partition resumes: past its last record and any markers after it.
        let mut positions: Vec<i64> = next.clone();
        if pending.is_empty() {
            return Ok(LaneEnd::CaughtUp);
        }
        // The prefetch queue holds a third of the lane's budget, filled by responses of half
        // the queue at most: a response's buffer lives until its last record is sent, so one
        // far larger than the queue would overshoot the memory cap. Over the threshold
        // librdkafka (2.4+) postpones the next fetch by fetch.queue.backoff.ms, 1 s by
        // default, which idled the copy most of every second; 10 ms keeps the queue fed.
        // A response is decoded whole, so with compressed records it takes far more memory
        // than its size on the wire: the fetches start small and are resized once the lane
        // has seen how much (see [`Prefetch`]).
        let queued_bytes = settings.queued_bytes();
        let mut prefetch = Prefetch::new(queued_bytes);
        let mut by_partition: BTreeMap<(String, i32), usize> = BTreeMap::new();
        for &index in &pending {
            let task = &tasks[index];
            by_partition.insert((task.topic.clone(), task.partition), index);
        }
        let mut done = vec![false; tasks.len()];
        let mut consumer = self.lane_consumer(tasks, &pending, &next, &done, &prefetch)?;

        let mut remaining = pending.len();
        let mut last_record = Instant::now();
        let mut last_position_check = Instant::now();
        let mut at_end = false;
        let mut housekeeping: u32 = 1;
        while follow || remaining > 0 {
            if self.control.lost.load(Ordering::SeqCst) {
                return Ok(LaneEnd::Stopped);
            }
            if self.control.stop.load(Ordering::SeqCst) {
                match transactions.as_deref_mut() {
                    Some(t) => t.commit(shared, tasks, &positions, self.stats)?,
                    None => self.drain(producer, shared)?,
                }
                shared.check()?;
                return Ok(LaneEnd::Stopped);
            }
            shared.check()?;
            // Delivery reports, counts and the commit deadline every few records, not after
            // each one: each is a lock and a clock read, and per record they cost as much as
            // the copy itself.
            housekeeping = housekeeping.saturating_sub(1);
            if housekeeping == 0 {
                housekeeping = HOUSEKEEPING_EVERY;
                if prefetch.resize(consumer.context()) {
                    // What the old consumer prefetched past `next` is dropped with it.
                    drop(consumer);
                    consumer = self.lane_consumer(tasks, &pending, &next, &done, &prefetch)?;
                }
                producer.poll(Duration::ZERO);
                if transactions.is_none() {
                    shared.count(self.stats);
                    self.check_ages(shared)?;
                }
                if let Some(t) = transactions.as_deref_mut()
                    && t.due(settings, at_end, follow)
                {
                    t.commit(shared, tasks, &positions, self.stats)?;
                }
            }
            let polled = consumer.poll(Duration::from_millis(if at_end { 20 } else { 100 }));
            if !matches!(polled, Some(Ok(_))) {
                housekeeping = 1; // idle or at an end: at the next turn
            }
            let end_of_partition = matches!(polled, Some(Err(KafkaError::PartitionEOF(_))));
            if end_of_partition
                || (polled.is_none() && last_position_check.elapsed() > Duration::from_millis(500))
            {
                last_position_check = Instant::now();
                at_end = true;
                // A partition whose last offsets hold no records (transaction markers) is
                // caught up when the consumer's position passes them.
                if let Ok(list) = consumer.position() {
                    for element in list.elements() {
                        let Some(&index) =
                            by_partition.get(&(element.topic().to_owned(), element.partition()))
                        else {
                            continue;
                        };
                        let Offset::Offset(position) = element.offset() else {
                            continue;
                        };
                        if position > positions[index] && position >= next[index] {
                            positions[index] = position;
                            if let Some(t) = transactions.as_deref_mut() {
                                t.touch(index, 0)?;
                            }
                        }
                        if !done[index] && !behind(index, positions[index]) {
                            done[index] = true;
                            remaining -= 1;
                        }
                    }
                }
            }
            if end_of_partition {
                continue;
            }
            let Some(polled) = polled else {
                if !follow
                    && last_record.elapsed() > self.source.timeout.max(Duration::from_secs(60))
                {
                    return Err(LaneError::Retry(format!(
                        "{}: no records arrived for {:?} although {remaining} partition(s) are behind",
                        self.source.address,
                        last_record.elapsed()
                    )));
                }
                continue;
            };
            let message = polled.map_err(|error| {
                LaneError::from(self.source.failure(
                    "reading the source failed",
                    &error,
                    Some(&consumer.context().base),
                ))
            })?;
            at_end = false;
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
            let task = &tasks[index];
            if offset > next[index] && transactions.is_none() {
                return Err(LaneError::Fatal(format!(
                    "{}: the source jumps from offset {} to {offset} (compaction or transaction markers): offsets cannot be preserved; nothing was written past {}",
                    keys_of(task),
                    next[index],
                    next[index]
                )));
            }
            let timestamp = match message.timestamp() {
                Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) if t >= 0 => Some(t),
                _ => None,
            };
            let headers = message.headers().map(|h| h.detach());
            let size =
                message.key().map_or(0, <[u8]>::len) + message.payload().map_or(0, <[u8]>::len);
            match transactions.as_deref_mut() {
                Some(t) => t.touch(index, size as u64)?,
                None => {
                    if !self.wait_for_lease(producer, shared)? {
                        continue;
                    }
                }
            }
            self.send(
                producer,
                shared,
                task,
                message.key(),
                message.payload(),
                timestamp,
                headers,
                (index, offset),
            )?;
            next[index] = offset + 1;
            positions[index] = next[index];
            if !behind(index, next[index]) {
                done[index] = true;
                remaining -= 1;
            }
        }
        match transactions {
            Some(t) => t.commit(shared, tasks, &positions, self.stats)?,
            None => self.drain(producer, shared)?,
        }
        shared.check()?;
        Ok(LaneEnd::CaughtUp)
    }

    /// Sends one record, waiting (serving delivery reports) while the in-flight cap or
    /// librdkafka's queue is full.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        producer: &BaseProducer<CopyContext>,
        shared: &Shared,
        task: &PartitionTask,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        timestamp: Option<i64>,
        headers: Option<rdkafka::message::OwnedHeaders>,
        opaque: (usize, i64),
    ) -> LaneResult<()> {
        let bytes = (key.map_or(0, <[u8]>::len) + payload.map_or(0, <[u8]>::len)) as u64;
        let size = bytes + RECORD_OVERHEAD;
        if let Some(rate) = self.settings.worker_max_bytes_per_s {
            let wait = self.stats.throttle.reserve(bytes, rate, Instant::now());
            if !wait.is_zero() {
                // Serving delivery reports meanwhile; bounded by the reservation.
                let until = Instant::now() + wait;
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    producer.poll(left.min(Duration::from_millis(10)));
                    if shared.failed.load(Ordering::SeqCst)
                        || self.control.lost.load(Ordering::SeqCst)
                    {
                        return shared.check();
                    }
                }
            }
        }
        let max_in_flight = self.settings.producer_bytes();
        // Made at the first wait only: the common path reads no clock.
        let mut waiting: Option<Waiting> = None;
        // A preserving lane also waits while its oldest record has waited long (see
        // [`Lane::check_ages`]): a deep queue on a slow target would age past the timeout.
        while (shared.in_flight_bytes.load(Ordering::SeqCst) + size > max_in_flight
            || shared.backlogged.load(Ordering::Relaxed))
            && shared.in_flight_bytes.load(Ordering::SeqCst) > 0
        {
            producer.poll(Duration::from_millis(5));
            if shared.failed.load(Ordering::SeqCst) || self.control.lost.load(Ordering::SeqCst) {
                return shared.check();
            }
            self.check_ages(shared)?;
            waiting
                .get_or_insert_with(Waiting::new)
                .tell(shared, self.progress);
        }
        shared.in_flight_bytes.fetch_add(size, Ordering::SeqCst);
        let preserve = matches!(self.writer, Writer::Preserve);
        let epoch = if preserve { shared.ages.sent() } else { 0 };
        let mut record: BaseRecord<'_, [u8], [u8], Delivery> =
            BaseRecord::with_opaque_to(&task.topic, Box::new((opaque.0, opaque.1, size, epoch)))
                .partition(task.partition);
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
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    producer.poll(Duration::from_millis(10));
                    if let Err(error) = self.check_ages(shared) {
                        shared.ages.reported(epoch);
                        shared.in_flight_bytes.fetch_sub(size, Ordering::SeqCst);
                        return Err(error);
                    }
                    let waited = waiting.get_or_insert_with(Waiting::new);
                    waited.tell(shared, self.progress);
                    if waited.since.elapsed() > Duration::from_secs(300) {
                        return Err(LaneError::Retry(format!(
                            "{}: the target accepted nothing for 5 minutes",
                            task.key()
                        )));
                    }
                }
                Err((error, _)) => {
                    shared.in_flight_bytes.fetch_sub(size, Ordering::SeqCst);
                    if preserve {
                        shared.ages.reported(epoch);
                    }
                    let message = format!(
                        "{}: cannot send offset {} to the target: {error}",
                        task.key(),
                        opaque.1
                    );
                    return Err(if fenced_code(error.rdkafka_error_code()) {
                        LaneError::Fenced(message)
                    } else {
                        LaneError::Retry(message)
                    });
                }
            }
        }
    }
}

/// How often a lane's consumer reports what it received (for [`Prefetch`]).
const PREFETCH_STATISTICS_MS: &str = "1000";

/// What a record costs in the consumer's queue beyond its key and value: librdkafka's op and
/// message (about 300 bytes), with room for the allocator's share.
const QUEUED_RECORD_OVERHEAD: f64 = 400.0;

/// The smallest fetch a lane asks for.
const MIN_FETCH_BYTES: u64 = 32 << 10;

/// The fetch size a lane starts with, before it knows what its records take in memory.
const START_FETCH_BYTES: u64 = 64 << 10;

/// The source consumer's context: librdkafka's statistics give the bytes received on the wire
/// and the bytes of the records decoded from them.
struct FetchContext {
    base: KafkaContext,
    wire_bytes: AtomicU64,
    decoded_bytes: AtomicU64,
    decoded_records: AtomicU64,
}

/// The three totals of librdkafka's statistics a lane needs (the rest is ignored).
#[derive(serde::Deserialize)]
struct ReceivedTotals {
    rx_bytes: u64,
    rxmsg_bytes: u64,
    rxmsgs: u64,
}

impl ClientContext for FetchContext {
    crate::kafka::connection::delegate_client_context!(base);

    fn stats_raw(&self, statistics: &[u8]) {
        if let Ok(totals) = serde_json::from_slice::<ReceivedTotals>(statistics) {
            self.wire_bytes.store(totals.rx_bytes, Ordering::Relaxed);
            self.decoded_bytes
                .store(totals.rxmsg_bytes, Ordering::Relaxed);
            self.decoded_records.store(totals.rxmsgs, Ordering::Relaxed);
        }
    }
}

impl rdkafka::consumer::ConsumerContext for FetchContext {}

/// The size of a lane's fetches. librdkafka decodes a fetch response whole into its queue (an
/// op and a message per record), so a response of compressed small records takes many times
/// its size on the wire: 100-byte records that lz4 compresses ninefold made a 1 MB response
/// about 45 MB of queue, and a worker with 12 lanes held over 500 MB for a 64 MB budget. So a
/// lane starts with small fetches and, once the consumer's statistics show how much memory a
/// byte on the wire becomes, resizes them so that a response fits in half the prefetch
/// queue's share of the budget.
struct Prefetch {
    queued_bytes: u64,
    fetch_bytes: u64,
    /// The largest fetch: half the queue, at least 1 MB (what a lane used before it measured).
    max_fetch_bytes: u64,
    /// Resizes left (each one recreates the consumer).
    resizes: u32,
}

impl Prefetch {
    fn new(queued_bytes: u64) -> Self {
        let max_fetch_bytes = (queued_bytes / 2).clamp(1 << 20, 50 << 20);
        Prefetch {
            queued_bytes,
            fetch_bytes: START_FETCH_BYTES.min(max_fetch_bytes),
            max_fetch_bytes,
            resizes: 2,
        }
    }

    /// The fetch size at which a response of records taking `memory_per_wire_byte` bytes of
    /// queue per byte received fills half the queue.
    fn fitting(&self, memory_per_wire_byte: f64) -> Option<u64> {
        if !memory_per_wire_byte.is_finite() || memory_per_wire_byte <= 0.0 {
            return None;
        }
        let fitting = ((self.queued_bytes / 2) as f64 / memory_per_wire_byte) as u64;
        Some(fitting.clamp(MIN_FETCH_BYTES, self.max_fetch_bytes))
    }

    /// Resizes the fetches if the consumer's statistics call for it: at least twice as large
    /// or half as small as today (true: recreate the consumer with the new size).
    fn resize(&mut self, context: &FetchContext) -> bool {
        if self.resizes == 0 {
            return false;
        }
        let wire = context.wire_bytes.load(Ordering::Relaxed);
        let decoded = context.decoded_bytes.load(Ordering::Relaxed);
        let records = context.decoded_records.load(Ordering::Relaxed);
        // Enough seen to judge: a few fetches' worth.
        if wire < 4 * self.fetch_bytes || records == 0 || decoded == 0 {
            return false;
        }
        let per_record = decoded as f64 / records as f64;
        let memory = decoded as f64 * (1.0 + QUEUED_RECORD_OVERHEAD / per_record.max(1.0));
        let Some(bytes) = self.fitting(memory / wire as f64) else {
            return false;
        };
        self.resizes -= 1;
        if bytes < 2 * self.fetch_bytes && 2 * bytes > self.fetch_bytes {
            self.resizes = 0; // right as it is
            return false;
        }
        tracing::debug!(
            from = self.fetch_bytes,
            to = bytes,
            wire,
            decoded,
            records,
            "the lane's fetches are resized to what its records take in memory"
        );
        self.fetch_bytes = bytes;
        true
    }
}

/// `base` scaled by a factor between 3/4 and 5/4 drawn from `state` (xorshift64: spreading
/// commits needs no better randomness).
fn jittered(base: Duration, state: &mut u64) -> Duration {
    let mut x = (*state).max(1);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    // 0..=1000 in thousandths
    let spread = x % 1001;
    base.mul_f64(0.75 + spread as f64 / 2000.0)
}

fn keys_of(task: &PartitionTask) -> String {
    task.key()
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

/// Waits until the target acknowledged every record the lane sent (by the lane's own count of
/// bytes in flight), serving delivery reports.
///
/// Not `rd_kafka_flush`: while it runs, librdkafka wakes its broker threads at once for any
/// queued record (linger 1 µs), including records it may not send yet because the partition
/// already has its five requests in flight, so each producer's broker thread spins until the
/// responses come (scripts/bench-mirror's translate runs spent most of their CPU there, on the
/// cores the brokers need to acknowledge). Here the last batch waits out `linger.ms` instead.
fn await_acks(
    producer: &BaseProducer<CopyContext>,
    shared: &Shared,
    timeout: Duration,
) -> LaneResult<()> {
    let started = Instant::now();
    while shared.in_flight_bytes.load(Ordering::SeqCst) > 0 {
        producer.poll(Duration::from_millis(5));
        shared.check()?;
        if started.elapsed() > timeout {
            return Err(LaneError::Retry(format!(
                "the target did not acknowledge the mirrored records within {timeout:?}"
            )));
        }
    }
    shared.check()
}

fn failed(message: impl Into<String>) -> OperationError {
    OperationError::Failed(message.into())
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

    #[test]
    fn a_workers_memory_for_records_is_divided_among_its_lanes() {
        let worker = CopySettings::default();
        let lane = worker.lane_budget(12);
        assert_eq!(lane.max_in_flight_bytes, (64 << 20) / 12);
        // The producer's and the consumer's shares stay within the lane's budget.
        assert!(lane.producer_bytes() + lane.queued_bytes() <= lane.max_in_flight_bytes);
        // Many lanes: each still gets the least budget a lane can copy with.
        assert_eq!(
            worker.lane_budget(1000).max_in_flight_bytes,
            MIN_LANE_BUDGET
        );
        assert_eq!(worker.lane_budget(0).max_in_flight_bytes, 64 << 20);
    }

    #[test]
    fn fetches_are_sized_to_what_their_records_take_in_memory() {
        // A 12-lane worker's lane: 64 MB / 12 / 3 of prefetch queue.
        let prefetch = Prefetch::new((64 << 20) / 12 / 3);
        assert_eq!(prefetch.fetch_bytes, START_FETCH_BYTES);
        assert_eq!(prefetch.max_fetch_bytes, 1 << 20);
        let half = prefetch.queued_bytes / 2;
        // Uncompressed 1 KB records: a byte on the wire is about 1.4 bytes of queue.
        assert_eq!(prefetch.fitting(1.4), Some((half as f64 / 1.4) as u64));
        // Records smaller on the wire than in memory never get fetches above the largest.
        assert_eq!(prefetch.fitting(0.01), Some(prefetch.max_fetch_bytes));
        // Small records compressed fourfold: about 20 bytes of queue per byte received.
        assert_eq!(prefetch.fitting(20.0), Some(half / 20));
        // Never below the floor, and nothing from nonsense.
        assert_eq!(prefetch.fitting(1e9), Some(MIN_FETCH_BYTES));
        assert_eq!(prefetch.fitting(f64::NAN), None);
        assert_eq!(prefetch.fitting(0.0), None);
    }

    #[test]
    fn ages_bound_the_wait_of_the_oldest_unreported_record() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let ages = Ages::starting(t0);
        assert_eq!(ages.tick(t0 + ms(5)), Duration::ZERO, "nothing sent");
        let first = ages.sent();
        assert_eq!(ages.tick(t0 + ms(10)), ms(10), "from its epoch's start");
        // 60 ms in: a new epoch; a record sent now is younger.
        assert_eq!(ages.tick(t0 + ms(60)), ms(60));
        let second = ages.sent();
        assert_ne!(first, second);
        ages.reported(first);
        assert_eq!(
            ages.tick(t0 + ms(100)),
            ms(40),
            "the second is the oldest now"
        );
        ages.reported(second);
        assert_eq!(ages.tick(t0 + ms(200)), Duration::ZERO, "all reported");
        // A record unreported for long keeps its age, however many epochs pass.
        let stuck = ages.sent();
        for step in 1..=(3 * AGE_SLOTS as u64) {
            let _ = ages.sent();
            let age = ages.tick(t0 + ms(200 + 60 * step));
            assert!(age >= ms(60 * step), "{age:?} at step {step}");
        }
        ages.reported(stuck);
    }

    #[test]
    fn a_throttle_spaces_sends_at_its_rate_after_a_short_burst() {
        let throttle = Throttle::default();
        let start = Instant::now();
        // 1 MB/s: the first 50 ms' worth (52,428 bytes) go at once.
        let rate = 1 << 20;
        assert_eq!(throttle.reserve(50_000, rate, start), Duration::ZERO);
        let wait = throttle.reserve(1 << 20, rate, start);
        let expected = Duration::from_secs_f64((50_000.0 + 1_048_576.0) / 1_048_576.0)
            .saturating_sub(THROTTLE_BURST);
        assert!(
            wait.abs_diff(expected) < Duration::from_millis(1),
            "{wait:?}"
        );
        // Half a second later the schedule is half a second nearer.
        let later = start + Duration::from_millis(500);
        let wait = throttle.reserve(0, rate, later);
        assert!(wait.abs_diff(expected - Duration::from_millis(500)) < Duration::from_millis(1));
        // Idle long enough, the schedule restarts from now: no credit saved up beyond the burst.
        let idle = start + Duration::from_secs(60);
        assert_eq!(throttle.reserve(50_000, rate, idle), Duration::ZERO);
        assert!(throttle.reserve(1 << 20, rate, idle) > Duration::from_millis(900));
    }

    #[test]
    fn a_following_lane_commits_less_often_when_commits_are_slow() {
        assert_eq!(
            follow_commit_interval(Duration::ZERO),
            FOLLOW_COMMIT_INTERVAL
        );
        assert_eq!(
            follow_commit_interval(Duration::from_millis(50)),
            Duration::from_millis(150)
        );
        assert_eq!(
            follow_commit_interval(Duration::from_secs(2)),
            FOLLOW_COMMIT_MAX
        );
    }

    #[test]
    fn commit_intervals_are_spread_between_three_and_five_quarters() {
        let base = Duration::from_secs(1);
        let mut state = 42;
        let drawn: Vec<Duration> = (0..1000).map(|_| jittered(base, &mut state)).collect();
        assert!(
            drawn
                .iter()
                .all(|d| *d >= base.mul_f64(0.75) && *d <= base.mul_f64(1.25))
        );
        // Spread, not constant: lanes started together commit at different moments.
        let short = drawn.iter().filter(|d| **d < base.mul_f64(0.9)).count();
        let long = drawn.iter().filter(|d| **d > base.mul_f64(1.1)).count();
        assert!(short > 200 && long > 200, "{short} short, {long} long");
        // A zero state still moves.
        let mut zero = 0;
        assert_ne!(jittered(base, &mut zero), jittered(base, &mut zero));
    }

    #[test]
    fn a_lease_is_valid_until_its_deadline() {
        let lease = Lease::default();
        assert!(!lease.valid(), "no lease before the first commit");
        lease.renew(Instant::now(), Duration::from_secs(60));
        assert!(lease.valid());
        lease.renew(
            Instant::now() - Duration::from_secs(120),
            Duration::from_secs(60),
        );
        assert!(lease.valid(), "an older commit never shortens the lease");
        lease.invalidate();
        assert!(!lease.valid());
        lease.renew(
            Instant::now() - Duration::from_secs(61),
            Duration::from_secs(60),
        );
        assert!(
            !lease.valid(),
            "a lease from a commit sent too long ago has expired"
        );
    }

    #[test]
    fn operation_errors_classify_as_lane_errors() {
        assert!(matches!(
            LaneError::from(OperationError::Invalid("x".into())),
            LaneError::Fatal(_)
        ));
        assert!(matches!(
            LaneError::from(OperationError::Failed("x".into())),
            LaneError::Retry(_)
        ));
        assert!(fenced_code(Some(RDKafkaErrorCode::ProducerFenced)));
        assert!(!fenced_code(Some(RDKafkaErrorCode::RequestTimedOut)));
    }
}
