//! The mirror on many workers, against the local brokers: an apply with `workers = 3` (child
//! processes); then three `cutover mirror run --follow` processes share the mirror through its
//! worker group on the target while records keep arriving: one is killed with SIGKILL, a fourth
//! joins, one is paused with SIGSTOP past its session timeout and resumed with SIGCONT (a
//! zombie); then an apply waits for the fleet to catch up. Each time the independent comparison
//! of every record on both clusters shows 0 lost and 0 duplicated: offsets identical in
//! `preserve`; in `translate` (a transactional source, every tenth transaction aborted) every
//! committed source record exactly once on the target at the offset the map gives, the map
//! decoded here independently of cutover's own reader.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::mirror::{Record, create_topic, producer, read_all, recent_millis, write};
use crate::support::{
    STATE_KEY, Workspace, legacy_bootstrap, target_bootstrap, unique_name, watermarks,
};

const PARTITIONS: i32 = 6;
const TIMEOUT: Duration = Duration::from_secs(30);

/// The workers this test started: killed if it fails before stopping them.
struct Fleet {
    workers: Vec<Option<Child>>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in self.workers.iter_mut().flatten() {
            // SAFETY: signalling our own child; SIGCONT first in case it is stopped.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGCONT);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Fleet {
    fn start(&mut self, workspace: &Workspace) -> usize {
        let number = self.workers.len() + 1;
        let log = std::fs::File::create(workspace.dir.join(format!("worker-{number}.log")))
            .expect("worker log");
        let child = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["mirror", "run", "--follow", "--workers", "1"])
            .current_dir(&workspace.dir)
            .env("CUTOVER_STATE_KEY", STATE_KEY)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start a worker");
        self.workers.push(Some(child));
        number
    }

    fn signal(&self, number: usize, signal: i32) {
        let child = self.workers[number - 1].as_ref().expect("running");
        // SAFETY: the pid is our own child's, not yet waited on.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    }

    fn kill_9(&mut self, number: usize) {
        let mut child = self.workers[number - 1].take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }

    /// SIGTERM to every worker still running: each must stop cleanly (exit 0).
    fn stop_all(&mut self, workspace: &Workspace) {
        for (index, slot) in self.workers.iter_mut().enumerate() {
            let Some(child) = slot.as_mut() else {
                continue;
            };
            // SAFETY: our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            let status = loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    break status;
                }
                assert!(
                    Instant::now() < deadline,
                    "worker {} ignored SIGTERM",
                    index + 1
                );
                std::thread::sleep(Duration::from_millis(50));
            };
            let log = worker_log(workspace, index + 1);
            assert!(
                status.success(),
                "worker {} exited {status:?}:\n{log}",
                index + 1
            );
            *slot = None;
        }
    }
}

fn worker_log(workspace: &Workspace, number: usize) -> String {
    std::fs::read_to_string(workspace.dir.join(format!("worker-{number}.log"))).unwrap_or_default()
}

fn config(topic: &str, offsets: &str, workers: usize) -> String {
    format!(
        r#"
cluster "legacy" {{
  bootstrap_servers = ["{legacy}"]
}}
cluster "target" {{
  bootstrap_servers = ["{target}"]
}}
resource "kafka_topic" "copy" {{
  cluster    = cluster.target
  name       = "{topic}"
  partitions = {PARTITIONS}
}}
resource "kafka_mirror" "main" {{
  source          = cluster.legacy
  target          = cluster.target
  topics          = [kafka_topic.copy.name]
  name            = "{topic}"
  offsets         = "{offsets}"
  workers         = {workers}
  shards          = {PARTITIONS}
  session_timeout = "6s"
}}
"#,
        legacy = legacy_bootstrap(),
        target = target_bootstrap(),
    )
}

/// Writes to every partition until `stop`: plain rounds (`preserve`), or transactions of 50
/// records spread over the partitions with every tenth aborted (`translate`). Returns how many
/// records were committed.
fn keep_writing(
    topic: String,
    transactional: bool,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let legacy = legacy_bootstrap();
        let mut committed = 0u64;
        if !transactional {
            let plain = producer(&legacy);
            let mut round = 0usize;
            while !stop.load(Ordering::SeqCst) {
                for partition in 0..PARTITIONS {
                    write(&plain, &topic, partition, round * 200, 200);
                    committed += 200;
                }
                round += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            return committed;
        }
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &legacy)
            .set("transactional.id", unique_name("workers-tx"))
            .set("linger.ms", "5")
            .create()
            .expect("transactional producer");
        producer.init_transactions(TIMEOUT).expect("init");
        let mut number = 0usize;
        let mut transaction = 0usize;
        while !stop.load(Ordering::SeqCst) {
            for _ in 0..20 {
                producer.begin_transaction().expect("begin");
                for _ in 0..50 {
                    let key = format!("r-{number}");
                    let value = format!("value-{number}-{}", "x".repeat(number % 40));
                    let mut record: BaseRecord<'_, str, str> = BaseRecord::to(&topic)
                        .partition((number % PARTITIONS as usize) as i32)
                        .key(key.as_str())
                        .payload(value.as_str())
                        .timestamp(recent_millis());
                    loop {
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((_, returned)) => {
                                record = returned;
                                producer.poll(Duration::from_millis(5));
                            }
                        }
                    }
                    number += 1;
                }
                producer.flush(TIMEOUT).expect("flush");
                if transaction % 10 == 9 {
                    producer.abort_transaction(TIMEOUT).expect("abort");
                } else {
                    producer.commit_transaction(TIMEOUT).expect("commit");
                    committed += 50;
                }
                transaction += 1;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        committed
    })
}

/// The map of a translating mirror as its topic holds it, decoded here (format: the key
/// `topic/partition/first target offset`; the value a version byte 1, then varints: the
/// segment count and, per segment, the zigzag target gap, the zigzag source gap, the length).
fn decode_map(topic: &str) -> BTreeMap<i32, Vec<(i64, i64, i64)>> {
    fn varint(bytes: &[u8], at: &mut usize) -> u64 {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let byte = bytes[*at];
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
            shift += 7;
        }
    }
    fn unzigzag(value: u64) -> i64 {
        ((value >> 1) as i64) ^ -((value & 1) as i64)
    }
    let map_topic = format!("_cutover.mirror.{topic}.offsets");
    let target = target_bootstrap();
    let mut latest: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let (start, end) = watermarks(&target, &map_topic, 0);
    if end > start {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &target)
            .set("group.id", "workers-test-map-reader")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .create()
            .expect("consumer");
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&map_topic, 0, Offset::Offset(start))
            .expect("assign");
        consumer.assign(&list).expect("assign");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "reading the map timed out");
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                Some(Err(error)) => panic!("reading the map: {error}"),
                Some(Ok(message)) => {
                    let key =
                        String::from_utf8(message.key().expect("keyed").to_vec()).expect("utf-8");
                    latest.insert(key, message.payload().map(<[u8]>::to_vec));
                }
            }
        }
    }
    let mut map: BTreeMap<i32, Vec<(i64, i64, i64)>> = BTreeMap::new();
    for (key, value) in latest {
        let Some(bytes) = value else { continue };
        let mut parts = key.rsplitn(3, '/');
        let first: i64 = parts.next().expect("first").parse().expect("number");
        let partition: i32 = parts.next().expect("partition").parse().expect("number");
        assert_eq!(parts.next(), Some(topic), "{key}");
        assert_eq!(bytes[0], 1, "chunk version");
        let mut at = 1;
        let count = varint(&bytes, &mut at);
        let (mut target_end, mut source_end) = (first, 0i64);
        for _ in 0..count {
            let target = target_end + unzigzag(varint(&bytes, &mut at));
            let source = source_end + unzigzag(varint(&bytes, &mut at));
            let length = varint(&bytes, &mut at) as i64;
            map.entry(partition)
                .or_default()
                .push((target, source, length));
            target_end = target + length;
            source_end = source + length;
        }
        assert_eq!(at, bytes.len(), "{key}: trailing bytes");
    }
    map
}

fn same_content(a: &Record, b: &Record) -> bool {
    (&a.key, &a.value, &a.headers, a.timestamp) == (&b.key, &b.value, &b.headers, b.timestamp)
}

/// Every committed source record is on the target exactly once, in order, and (translate)
/// at the offset the map gives; (preserve) at the same offset, with equal log ranges.
fn assert_mirrored(topic: &str, translate: bool) -> usize {
    let (legacy, target) = (legacy_bootstrap(), target_bootstrap());
    let map = translate.then(|| decode_map(topic));
    let mut total = 0;
    for partition in 0..PARTITIONS {
        let source_records = read_all(&legacy, topic, partition);
        let target_records = read_all(&target, topic, partition);
        assert_eq!(
            source_records.len(),
            target_records.len(),
            "{topic}/{partition}: records lost or duplicated"
        );
        for (a, b) in source_records.iter().zip(&target_records) {
            assert!(
                same_content(a, b),
                "{topic}/{partition}: source offset {} differs: {a:?} / {b:?}",
                a.offset
            );
        }
        match &map {
            None => {
                assert_eq!(
                    watermarks(&legacy, topic, partition),
                    watermarks(&target, topic, partition),
                    "{topic}/{partition}: log ranges differ"
                );
                for (a, b) in source_records.iter().zip(&target_records) {
                    assert_eq!(a.offset, b.offset, "{topic}/{partition}");
                }
            }
            Some(map) => {
                let segments = map.get(&partition).cloned().unwrap_or_default();
                let mapped: usize = segments.iter().map(|(_, _, l)| *l as usize).sum();
                assert_eq!(
                    mapped,
                    source_records.len(),
                    "{topic}/{partition}: map entries"
                );
                for (a, b) in source_records.iter().zip(&target_records) {
                    let at = segments
                        .iter()
                        .find(|(_, s, l)| (*s..*s + *l).contains(&a.offset))
                        .map(|(t, s, _)| t + (a.offset - s));
                    assert_eq!(
                        at,
                        Some(b.offset),
                        "{topic}/{partition}: source offset {}",
                        a.offset
                    );
                }
            }
        }
        total += source_records.len();
    }
    total
}

async fn workers_share_the_mirror(offsets: &str) {
    let translate = offsets == "translate";
    let legacy = legacy_bootstrap();
    let topic = unique_name(&format!("workers-{offsets}"));
    create_topic(&legacy, &topic, PARTITIONS, &[]).await;
    let stop = Arc::new(AtomicBool::new(false));
    // A backlog first, copied by an apply with three local worker processes.
    let writer = keep_writing(topic.clone(), translate, stop.clone());
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    let workspace = Workspace::new("mirror-workers");
    workspace.write("main.hcl", &config(&topic, offsets, 3));
    let applied = workspace.expect(&["apply", "-auto-approve"], 0);
    for number in 1..=3 {
        assert!(applied.contains(&format!("worker {number}: ")), "{applied}");
    }
    assert_mirrored(&topic, translate);

    // Three followers while records keep arriving.
    let mut fleet = Fleet {
        workers: Vec::new(),
    };
    for _ in 0..3 {
        fleet.start(&workspace);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = keep_writing(topic.clone(), translate, stop.clone());
    std::thread::sleep(Duration::from_secs(5));
    fleet.kill_9(1);
    std::thread::sleep(Duration::from_secs(3));
    fleet.start(&workspace);
    std::thread::sleep(Duration::from_secs(3));
    // Paused past the 6 s session timeout: the group gives its shards to the others.
    fleet.signal(2, libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(11));
    fleet.signal(2, libc::SIGCONT);
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::SeqCst);
    let written = writer.join().expect("writer");
    assert!(written > 10_000, "{written}");

    // A run that ends once caught up (as an apply's copy does) finds the fleet and waits for
    // it instead of copying too.
    let waited = workspace.expect(&["mirror", "run"], 0);
    assert!(waited.contains("running elsewhere"), "{waited}");
    assert!(
        waited.contains("kafka_mirror.main: 0 records copied"),
        "{waited}"
    );
    fleet.stop_all(&workspace);
    let zombie = worker_log(&workspace, 2);
    assert!(
        zombie.contains("lost (this worker was expelled from the group)"),
        "the paused worker did not notice it was expelled:\n{zombie}"
    );
    let total = assert_mirrored(&topic, translate);
    assert!(total > written as usize, "{total} {written}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_a_preserving_mirror_through_kill_join_and_pause() {
    workers_share_the_mirror("preserve").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_a_translating_mirror_through_kill_join_and_pause() {
    workers_share_the_mirror("translate").await;
}
