//! A mirror worker: one of any number of processes, on any machines, that share a mirror's
//! partitions through Kafka's own group membership on the target cluster.
//!
//! - The source partitions are divided into `shards` (fixed when the mirror is created: the
//!   partition count of its work topic `_cutover.mirror.ID.work`, which holds no records). A
//!   partition's shard is a pure function of its topic and number ([`super::shard_of`]), so
//!   every worker agrees without a coordinator of our own.
//! - Workers subscribe to the work topic in the consumer group `_cutover.mirror.ID.workers`: the
//!   group coordinator gives each a share of the work partitions, that is of the shards, and
//!   takes a dead worker's shards over after its session timeout.
//! - A worker runs one lane ([`super::copy::Lane`]) per shard it owns. When the group revokes a
//!   shard, the lane finishes (flush, commit) before the revocation completes, so the next
//!   owner starts after the last write; when the assignment is lost (the worker was expelled),
//!   the lane is abandoned without another write.
//! - The lease: every `session_timeout / 5` the worker commits its work partitions' offsets,
//!   which the coordinator accepts only from a current member; a commit sent at `t` gives a
//!   lease until `t + session_timeout / 2`. A preserving lane writes only under a valid lease,
//!   and a lane of either mode starts or restarts only under one. The coordinator expels a
//!   member no earlier than `session_timeout - heartbeat interval` (`0.8 × session_timeout`)
//!   after its last heartbeat, which it sent after that commit: so a worker paused past its
//!   session timeout (SIGSTOP, a long GC-like stall, a VM freeze) finds its lease expired when
//!   it resumes, before any other worker can have been given its shards. See the README's
//!   "Mirror workers" for what remains (records librdkafka had already framed for the wire).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::copy::{Lane, LaneControl, LaneEnd, LaneError, LaneStats, Lease, Writer};
use super::offset_map::{self, OffsetMap};
use super::survey::{self, PartitionTask};
use super::{MirrorSpec, shard_of};
use crate::error::{OperationError, OperationResult};
use crate::kafka::connection::{Cluster, KafkaContext};

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkerReport {
    pub records: u64,
    pub bytes: u64,
    pub padding: u64,
    pub transactions: u64,
}

/// Where a caught-up lane left each of its partitions (the next source offset), for the run
/// that waits for the fleet.
pub type CaughtUp = Arc<Mutex<BTreeMap<String, i64>>>;

struct RunningLane {
    control: Arc<LaneControl>,
    handle: JoinHandle<()>,
}

/// What the group consumer's rebalance callback and the worker's loop share.
struct Lanes {
    spec: Arc<MirrorSpec>,
    shards: i32,
    by_shard: BTreeMap<i32, Vec<(String, i32)>>,
    stops: Option<BTreeMap<String, i64>>,
    running: Mutex<BTreeMap<i32, RunningLane>>,
    assigned: Mutex<Vec<i32>>,
    lease: Arc<Lease>,
    stats: Arc<LaneStats>,
    fatal: Arc<Mutex<Option<String>>>,
    caught_up: CaughtUp,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
}

impl Lanes {
    /// Stops the lanes of `shards` and waits for them: `lost` abandons them without another
    /// write.
    fn stop(&self, shards: &[i32], lost: bool) {
        let stopped: Vec<RunningLane> = {
            let Ok(mut running) = self.running.lock() else {
                return;
            };
            shards.iter().filter_map(|s| running.remove(s)).collect()
        };
        for lane in &stopped {
            if lost {
                lane.control.lost.store(true, Ordering::SeqCst);
            }
            lane.control.stop.store(true, Ordering::SeqCst);
        }
        for lane in stopped {
            let _ = lane.handle.join();
        }
    }

    fn start(&self, shard: i32) {
        let Some(partitions) = self.by_shard.get(&shard).cloned() else {
            return; // a shard with none of this mirror's partitions
        };
        let control = Arc::new(LaneControl::default());
        // The worker's memory for records is shared by the lanes it may run.
        let settings = self.spec.settings.lane_budget(self.by_shard.len() as u64);
        let context = LaneThread {
            settings,
            spec: self.spec.clone(),
            shard,
            shards: self.shards,
            partitions,
            stops: self.stops.clone(),
            control: control.clone(),
            lease: self.lease.clone(),
            stats: self.stats.clone(),
            fatal: self.fatal.clone(),
            caught_up: self.caught_up.clone(),
            progress: self.progress.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("mirror-shard-{shard}"))
            .spawn(move || context.run());
        match handle {
            Ok(handle) => {
                if let Ok(mut running) = self.running.lock() {
                    running.insert(shard, RunningLane { control, handle });
                }
            }
            Err(error) => {
                if let Ok(mut fatal) = self.fatal.lock() {
                    *fatal = Some(format!("cannot start a lane thread: {error}"));
                }
            }
        }
    }
}

/// The group consumer's context: rebalances stop and start lanes.
struct WorkerContext {
    base: KafkaContext,
    lanes: Arc<Lanes>,
}

impl ClientContext for WorkerContext {
    crate::kafka::connection::delegate_client_context!(base);
}

fn shards_in(list: &TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            // The lanes finish before the revocation completes (the group waits for it), so
            // the next owner starts after this worker's last write; a lost assignment (this
            // worker was expelled, another may own the shards already) writes nothing more.
            let lost = consumer.assignment_lost();
            self.lanes.lease.invalidate();
            let shards = shards_in(list);
            if !shards.is_empty() {
                (self.lanes.progress)(&format!(
                    "shards {shards:?} {}",
                    if lost {
                        "lost (this worker was expelled from the group): abandoning them"
                    } else {
                        "revoked: finishing their writes"
                    }
                ));
            }
            self.lanes.stop(&shards, lost);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance
            && let Ok(mut assigned) = self.lanes.assigned.lock()
        {
            assigned.extend(shards_in(list));
        }
    }
}

/// Segments an earlier version wrote ahead, by `topic/partition` (translate).
type StaleSegments = BTreeMap<String, Vec<i64>>;

/// One lane's thread: surveys its partitions, copies, and retries transient failures.
struct LaneThread {
    spec: Arc<MirrorSpec>,
    /// The spec's settings with this lane's share of the worker's memory cap.
    settings: super::copy::CopySettings,
    shard: i32,
    shards: i32,
    partitions: Vec<(String, i32)>,
    stops: Option<BTreeMap<String, i64>>,
    control: Arc<LaneControl>,
    lease: Arc<Lease>,
    stats: Arc<LaneStats>,
    fatal: Arc<Mutex<Option<String>>>,
    caught_up: CaughtUp,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
}

impl LaneThread {
    fn halted(&self) -> bool {
        self.control.stop.load(Ordering::SeqCst) || self.control.lost.load(Ordering::SeqCst)
    }

    /// Sleeps up to `pause`, returning early when stopped.
    fn pause(&self, pause: Duration) {
        let until = Instant::now() + pause;
        while Instant::now() < until && !self.halted() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn run(self) {
        let writer = match self.spec.map_topic() {
            Some(map_topic) => Writer::Translate {
                transactional_id: self.spec.transactional_id(self.shard, self.shards),
                positions_group: offset_map::positions_group(&map_topic),
                map_topic,
            },
            None => Writer::Preserve,
        };
        let mut backoff = Duration::from_secs(1);
        // Bounded: each round ends by a stop, a lost assignment, a fatal error, catching up, or
        // a retry after a growing pause (the worker's loop stops it when asked).
        loop {
            if self.halted() {
                return;
            }
            if !self.lease.valid() {
                self.pause(Duration::from_millis(50));
                continue;
            }
            let result = self
                .tasks(&writer)
                .map_err(LaneError::from)
                .and_then(|(tasks, stale)| {
                    let lane = Lane {
                        source: &self.spec.source,
                        target: &self.spec.target,
                        settings: &self.settings,
                        writer: &writer,
                        lease: matches!(writer, Writer::Preserve).then_some(self.lease.as_ref()),
                        control: &self.control,
                        stats: &self.stats,
                        progress: self.progress.as_ref(),
                        message_timeout: self.spec.message_timeout(),
                    };
                    let end = lane.run(&tasks, &stale, self.stops.is_none())?;
                    Ok((end, tasks))
                });
            match result {
                Ok((LaneEnd::CaughtUp, tasks)) => {
                    if let Ok(mut caught_up) = self.caught_up.lock() {
                        for task in &tasks {
                            caught_up.insert(task.key(), task.stop);
                        }
                    }
                    return;
                }
                Ok((LaneEnd::Stopped, _)) => return,
                Err(LaneError::Fatal(message)) => {
                    if let Ok(mut fatal) = self.fatal.lock() {
                        fatal.get_or_insert(message);
                    }
                    return;
                }
                Err(LaneError::Fenced(message)) => {
                    // Another worker owns the shard: the group revokes it here shortly.
                    (self.progress)(&format!(
                        "shard {}: fenced by a newer owner ({message}): waiting for the group to reassign it",
                        self.shard
                    ));
                    self.lease.invalidate();
                    self.pause(Duration::from_secs(5));
                }
                Err(LaneError::Retry(message)) => {
                    if self.halted() {
                        return;
                    }
                    (self.progress)(&format!(
                        "shard {}: {message}; retrying in {}s",
                        self.shard,
                        backoff.as_secs()
                    ));
                    self.pause(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// The lane's partitions as they stand, with the stop offsets of a run that ends once
    /// caught up, and (translate) the stale segments an earlier version wrote ahead.
    fn tasks(&self, writer: &Writer) -> OperationResult<(Vec<PartitionTask>, StaleSegments)> {
        let (source, target) = (&self.spec.source, &self.spec.target);
        let map = match writer {
            Writer::Translate {
                map_topic,
                positions_group,
                ..
            } => Some(resume_map(
                target,
                map_topic,
                positions_group,
                &self.partitions,
            )?),
            Writer::Preserve => None,
        };
        let mut tasks = survey::survey(source, target, &self.partitions, map.as_ref(), true)?;
        if let Some(stops) = &self.stops {
            for task in &mut tasks {
                if let Some(&stop) = stops.get(&task.key()) {
                    task.stop = stop;
                }
            }
        }
        let stale = match &map {
            Some(map) => tasks
                .iter()
                .map(|t| (t.key(), map.stale(&t.key(), t.target_end)))
                .filter(|(_, stale)| !stale.is_empty())
                .collect(),
            None => BTreeMap::new(),
        };
        Ok((tasks, stale))
    }
}

/// Where a translating lane resumes: the positions committed with its transactions; for a
/// partition without one whose target holds data, the map an earlier version wrote (read
/// once, in full: such maps are small).
pub(crate) fn resume_map(
    target: &Cluster,
    map_topic: &str,
    positions_group: &str,
    partitions: &[(String, i32)],
) -> OperationResult<OffsetMap> {
    let positions = offset_map::read_positions(target, positions_group, partitions)?;
    let without: Vec<(String, i32)> = partitions
        .iter()
        .filter(|(t, p)| !positions.contains_key(&format!("{t}/{p}")))
        .cloned()
        .collect();
    let ends = survey::watermarks(target, &without)?;
    if without.iter().zip(&ends).all(|(_, (_, end))| *end == 0) {
        return Ok(OffsetMap {
            partitions: BTreeMap::new(),
            positions,
        });
    }
    let mut map = offset_map::read(target, map_topic)?;
    map.positions.extend(positions);
    Ok(map)
}

/// Creates the work topic when it is missing and returns its partition count: the mirror's
/// shards, fixed from then on.
pub fn ensure_work_topic(spec: &MirrorSpec) -> OperationResult<i32> {
    let topic = spec.work_topic();
    crate::kafka::admin::block_on(crate::kafka::admin::ensure_internal_topic(
        &spec.target,
        &topic,
        spec.shards,
        false,
    ))
}

/// Runs one worker until `cancel` is set: joins the worker group, copies the shards the group
/// gives it, and leaves the group when done. With `stops`, each lane stops once its partitions
/// reach them (the worker keeps its shards until cancelled, so no other worker copies them
/// again). Blocking.
pub fn work(
    spec: Arc<MirrorSpec>,
    stops: Option<BTreeMap<String, i64>>,
    expected_members: usize,
    cancel: &AtomicBool,
    caught_up: CaughtUp,
    stats: Arc<LaneStats>,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
) -> OperationResult<WorkerReport> {
    let partitions = survey::mirror_partitions(&spec.source, &spec.target, &spec.topics)?;
    if let Some(map_topic) = spec.map_topic() {
        crate::kafka::admin::block_on(offset_map::ensure_topic(&spec.target, &map_topic))?;
    }
    let shards = ensure_work_topic(&spec)?;
    if shards != spec.shards {
        progress(&format!(
            "the mirror has {shards} shards (fixed when it was created), not {}: using {shards}",
            spec.shards
        ));
    }
    let mut by_shard: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_shard
            .entry(shard_of(&topic, partition, shards))
            .or_default()
            .push((topic, partition));
    }
    let lanes = Arc::new(Lanes {
        spec: spec.clone(),
        shards,
        by_shard,
        stops,
        running: Mutex::new(BTreeMap::new()),
        assigned: Mutex::new(Vec::new()),
        lease: Arc::new(Lease::default()),
        stats: stats.clone(),
        fatal: Arc::new(Mutex::new(None)),
        caught_up,
        progress: progress.clone(),
    });
    let session = spec.session_timeout.as_millis().to_string();
    let heartbeat = (spec.session_timeout / 5).as_millis().max(100).to_string();
    let client_id = format!(
        "cutover-mirror-worker-{}-{}",
        hostname(),
        std::process::id()
    );
    let group = spec.workers_group();
    let config = spec.target.client_config(&[
        ("group.id", group.as_str()),
        ("client.id", client_id.as_str()),
        ("enable.auto.commit", "false"),
        ("session.timeout.ms", session.as_str()),
        ("heartbeat.interval.ms", heartbeat.as_str()),
        ("partition.assignment.strategy", "roundrobin"),
        ("max.poll.interval.ms", "300000"),
    ]);
    let consumer: BaseConsumer<WorkerContext> = config
        .create_with_context(WorkerContext {
            base: spec.target.context(),
            lanes: lanes.clone(),
        })
        .map_err(|e| {
            spec.target
                .failure("cannot join the worker group", &e, None)
        })?;
    consumer
        .subscribe(&[spec.work_topic().as_str()])
        .map_err(|e| {
            spec.target
                .failure("cannot join the worker group", &e, None)
        })?;
    progress(&format!(
        "worker {client_id} joined group {group} ({shards} shards)"
    ));
    let renew_every = spec.session_timeout / 5;
    let validity = spec.session_timeout / 2;
    let mut last_renewal: Option<Instant> = None;
    let mut last_progress = Instant::now();
    let started = Instant::now();
    let result = loop {
        if cancel.load(Ordering::SeqCst) {
            break Ok(());
        }
        if let Some(fatal) = lanes.fatal.lock().ok().and_then(|f| f.clone()) {
            break Err(OperationError::Failed(fatal));
        }
        // Rebalance callbacks run inside poll; the work topic holds no records.
        let _ = consumer.poll(Duration::from_millis(100));
        let assigned: Vec<i32> = lanes
            .assigned
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default();
        if !assigned.is_empty() {
            // A fresh assignment: renew the lease at once, then start its lanes.
            last_renewal = None;
        }
        if last_renewal.is_none_or(|at| at.elapsed() >= renew_every) {
            let owned = consumer.assignment().unwrap_or_default();
            if owned.count() > 0 {
                let mut offsets = TopicPartitionList::new();
                for element in owned.elements() {
                    let _ = offsets.add_partition_offset(
                        element.topic(),
                        element.partition(),
                        Offset::Offset(0),
                    );
                }
                let sent = Instant::now();
                if consumer.commit(&offsets, CommitMode::Sync).is_ok() {
                    lanes.lease.renew(sent, validity);
                }
                last_renewal = Some(sent);
            }
        }
        if !assigned.is_empty() && waiting_for_members(&spec, &group, expected_members, started) {
            // Workers started together: the group rebalances as each joins, so lanes start
            // once all have joined (or after a few seconds), not on the first member's
            // assignment of everything.
            if let Ok(mut pending) = lanes.assigned.lock() {
                pending.extend(assigned);
            }
            continue;
        }
        for shard in assigned {
            lanes.start(shard);
        }
        if last_progress.elapsed() >= spec.settings.progress_every {
            last_progress = Instant::now();
            let owned = lanes.running.lock().map(|r| r.len()).unwrap_or(0);
            let records = stats.records.load(Ordering::Relaxed);
            let bytes = stats.bytes.load(Ordering::Relaxed);
            let seconds = started.elapsed().as_secs_f64().max(0.001);
            progress(&format!(
                "{owned} shard(s): mirrored {records} records, {:.1} MB ({:.0} records/s, {:.1} MB/s)",
                bytes as f64 / 1e6,
                records as f64 / seconds,
                bytes as f64 / 1e6 / seconds
            ));
        }
    };
    // Finish every lane (flush, commit), then leave the group so the shards move at once.
    let all: Vec<i32> = lanes
        .running
        .lock()
        .map(|r| r.keys().copied().collect())
        .unwrap_or_default();
    lanes.stop(&all, false);
    consumer.unsubscribe();
    drop(consumer);
    let fatal = lanes.fatal.lock().ok().and_then(|f| f.clone());
    result?;
    if let Some(fatal) = fatal {
        return Err(OperationError::Failed(fatal));
    }
    Ok(WorkerReport {
        records: stats.records.load(Ordering::Relaxed),
        bytes: stats.bytes.load(Ordering::Relaxed),
        padding: stats.padding.load(Ordering::Relaxed),
        transactions: stats.transactions.load(Ordering::Relaxed),
    })
}

/// How long workers started together wait for each other before starting lanes.
const JOIN_WAIT: Duration = Duration::from_secs(8);

/// Whether fewer than `expected` workers are in the group yet, within [`JOIN_WAIT`].
fn waiting_for_members(spec: &MirrorSpec, group: &str, expected: usize, started: Instant) -> bool {
    if expected <= 1 || started.elapsed() >= JOIN_WAIT {
        return false;
    }
    std::thread::sleep(Duration::from_millis(200));
    crate::kafka::admin::group_members(&spec.target, group)
        .is_ok_and(|members| members.len() < expected)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}
