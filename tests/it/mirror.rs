//! The embedded mirror against the local brokers (legacy 3.9 source, KRaft target), through the
//! binary: offsets preserved with padding for a partition whose log starts above 0, keys,
//! values, nulls, headers and timestamps kept, a 1 MB record, catching up after new writes, a
//! compacted topic refused at plan time, a copy held to its rate cap, and kill -9 at random
//! moments of a copy followed by a run that converges with every record at its offset, none
//! lost or duplicated. Every check reads both clusters with independent clients.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::{
    Workspace, legacy_bootstrap, target_bootstrap, transaction, unique_name, watermarks,
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client")
}

pub(crate) async fn create_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    config: &[(&str, &str)],
) {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in config {
        topic = topic.set(key, value);
    }
    for result in admin(bootstrap)
        .create_topics(
            &[topic],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("create topic")
    {
        result.expect("topic created");
    }
}

/// One record as both sides must hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) offset: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
    pub(crate) timestamp: Option<i64>,
}

pub(crate) fn producer(bootstrap: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.max.bytes", "2000000")
        .create()
        .expect("producer")
}

/// A timestamp of now, in milliseconds. (Records with old timestamps roll segments on the
/// target at once and are removed by its 7-day retention.)
pub(crate) fn recent_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Writes `count` records to a partition: keys and values of a few shapes, nulls, headers.
pub(crate) fn write(
    producer: &BaseProducer,
    topic: &str,
    partition: i32,
    start: usize,
    count: usize,
) {
    for index in start..start + count {
        let key = format!("key-{index}");
        let value = format!("value-{index}-{}", "x".repeat(index % 50));
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
            .partition(partition)
            .timestamp(recent_millis() + index as i64);
        if index % 7 != 0 {
            record = record.key(key.as_bytes());
        }
        if index % 11 != 0 {
            record = record.payload(value.as_bytes());
        }
        if index % 3 == 0 {
            record = record.headers(
                OwnedHeaders::new()
                    .insert(Header {
                        key: "trace",
                        value: Some(key.as_bytes()),
                    })
                    .insert(Header::<&[u8]> {
                        key: "empty",
                        value: None,
                    }),
            );
        }
        let mut pending = record;
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                Err((_, returned)) => {
                    pending = returned;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(TIMEOUT).expect("flush");
}

/// Every record of a partition from its log start to its end.
pub(crate) fn read_all(bootstrap: &str, topic: &str, partition: i32) -> Vec<Record> {
    let (start, end) = watermarks(bootstrap, topic, partition);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "mirror-test-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    if start == end {
        return Vec::new();
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(start))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Until the end-of-partition event: the last offsets may hold transaction markers, which
    // no consumer sees.
    loop {
        assert!(
            Instant::now() < deadline,
            "reading {topic}/{partition} timed out"
        );
        let message = match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
            Some(other) => other.expect("consume"),
        };
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|header| (header.key.to_owned(), header.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        records.push(Record {
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: message.timestamp().to_millis(),
        });
    }
    records
}

fn assert_identical(topic: &str, partitions: i32) {
    for partition in 0..partitions {
        let source = watermarks(&legacy_bootstrap(), topic, partition);
        let target = watermarks(&target_bootstrap(), topic, partition);
        assert_eq!(
            source, target,
            "{topic}/{partition}: log start and end differ"
        );
        let source_records = read_all(&legacy_bootstrap(), topic, partition);
        let target_records = read_all(&target_bootstrap(), topic, partition);
        assert_eq!(
            source_records.len(),
            target_records.len(),
            "{topic}/{partition}"
        );
        for (a, b) in source_records.iter().zip(&target_records) {
            assert_eq!(a, b, "{topic}/{partition} differs at offset {}", a.offset);
        }
    }
}

fn mirror_config(topic: &str, partitions: i32, extra: &str) -> String {
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
  partitions = {partitions}
}}
resource "kafka_mirror" "main" {{
  source     = cluster.legacy
  target     = cluster.target
  topics     = [kafka_topic.copy.name]
  {extra}
}}
output "copied" {{ value = kafka_mirror.main.records_copied }}
"#,
        legacy = legacy_bootstrap(),
        target = target_bootstrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_preserves_offsets_records_and_catches_up() {
    let legacy = legacy_bootstrap();
    let topic = unique_name("mirrored");
    create_topic(&legacy, &topic, 3, &[]).await;
    let source = producer(&legacy);
    write(&source, &topic, 0, 0, 1000);
    write(&source, &topic, 1, 0, 300);
    // Partition 1's log starts at 120: the new target partition needs 120 padding records.
    let mut before = TopicPartitionList::new();
    before
        .add_partition_offset(&topic, 1, Offset::Offset(120))
        .unwrap();
    admin(&legacy)
        .delete_records(
            &before,
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("delete records");
    // Partition 2: a 1 MB record between small ones.
    write(&source, &topic, 2, 0, 2);
    let big = vec![b'm'; 1_000_000];
    source
        .send(
            BaseRecord::<[u8], [u8]>::to(&topic)
                .partition(2)
                .key(b"big")
                .payload(&big),
        )
        .map_err(|(e, _)| e)
        .expect("send 1 MB");
    source.flush(TIMEOUT).expect("flush");
    write(&source, &topic, 2, 2, 3);

    let workspace = Workspace::new("mirror");
    workspace.write("main.hcl", &mirror_config(&topic, 3, ""));
    let plan = workspace.expect(&["plan"], 0);
    assert!(plan.contains("kafka_mirror.main will be created"), "{plan}");
    let applied = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(applied.contains("padding 120 records"), "{applied}");
    assert_identical(&topic, 3);
    assert_eq!(watermarks(&target_bootstrap(), &topic, 1), (120, 300));

    // Nothing new: nothing to do.
    let replan = workspace.expect(&["plan", "-detailed-exitcode"], 0);
    assert!(replan.contains("No changes"), "{replan}");

    // New writes: the plan shows the lag and the apply catches up.
    write(&source, &topic, 0, 1000, 250);
    write(&source, &topic, 1, 300, 10);
    let behind = workspace.expect(&["plan", "-detailed-exitcode"], 2);
    assert!(
        behind.contains("lag") && behind.contains("260 -> 0"),
        "{behind}"
    );
    let caught_up = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(caught_up.contains("1 changed"), "{caught_up}");
    assert_identical(&topic, 3);
    let output = workspace.expect(&["output", "-json"], 0);
    assert!(output.contains("\"value\": 260"), "{output}");
}

/// `worker_max_mb_per_s`: a capped worker copies every record exactly, and no faster than its
/// cap: 3 MB of records at a quarter of a megabyte per second take at least 11.4 s (the cap's
/// time less its 50 ms burst). That is a lower bound only, which a busy machine cannot break;
/// the same apply uncapped took 3.7 s here, most of it planning and joining the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_mirror_copies_exactly_and_no_faster_than_its_cap() {
    let legacy = legacy_bootstrap();
    let topic = unique_name("capped");
    create_topic(&legacy, &topic, 2, &[]).await;
    let source = producer(&legacy);
    let value = vec![b'c'; 10_000];
    let mut bytes = 0usize;
    for index in 0..300 {
        let key = format!("key-{index}");
        bytes += key.len() + value.len();
        source
            .send(
                BaseRecord::<[u8], [u8]>::to(&topic)
                    .partition(index % 2)
                    .key(key.as_bytes())
                    .payload(&value),
            )
            .map_err(|(e, _)| e)
            .expect("send");
    }
    source.flush(TIMEOUT).expect("flush");

    let workspace = Workspace::new("mirror-capped");
    workspace.write(
        "main.hcl",
        &mirror_config(&topic, 2, "worker_max_mb_per_s = 0.25"),
    );
    let started = Instant::now();
    workspace.expect(&["apply", "-auto-approve"], 0);
    let took = started.elapsed().as_secs_f64();
    let least = bytes as f64 / (0.25 * 1_048_576.0) - 0.05;
    assert!(
        took >= least,
        "{bytes} bytes copied in {took:.2} s, faster than the cap allows ({least:.2} s)"
    );
    assert_identical(&topic, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_topic_is_refused_at_plan_time() {
    let legacy = legacy_bootstrap();
    let topic = unique_name("compacted");
    create_topic(&legacy, &topic, 1, &[("cleanup.policy", "compact")]).await;
    let workspace = Workspace::new("mirror-compacted");
    workspace.write("main.hcl", &mirror_config(&topic, 1, ""));
    // The target topic is created by the same plan, so the check runs on the source config.
    let refused = workspace.expect(&["plan"], 1);
    assert!(refused.contains("is compacted"), "{refused}");
    assert!(refused.contains("cannot be preserved"), "{refused}");
}

/// A small xorshift generator: the kill points differ per run but need no dependency.
fn random(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let legacy = legacy_bootstrap();
    let topic = unique_name("killed");
    create_topic(&legacy, &topic, 4, &[]).await;
    let source = producer(&legacy);
    for partition in 0..4 {
        write(&source, &topic, partition, 0, 100_000);
    }
    let workspace = Workspace::new("mirror-kill");
    // A small in-flight cap makes the copy take long enough to be killed in the middle.
    workspace.write(
        "main.hcl",
        &mirror_config(&topic, 4, "max_in_flight_mb = 1"),
    );
    // Create the target topic first, so every kill lands in the copy.
    workspace.expect(
        &["apply", "-auto-approve", "-target", "kafka_topic.copy"],
        0,
    );
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut kills = 0;
    let mut partial = false;
    let target_consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", target_bootstrap())
        .create()
        .expect("consumer");
    let copied_so_far = || -> i64 {
        (0..4)
            .map(|p| {
                target_consumer
                    .fetch_watermarks(&topic, p, TIMEOUT)
                    .expect("watermarks")
                    .1
            })
            .sum()
    };
    let mut written: i64 = 400_000;
    for round in 0..10 {
        let before = copied_so_far();
        // Every run must have a copy to be killed in: top the source up when the mirror is
        // close to done (the copy is fast on a quiet machine).
        if before + 50_000 >= written {
            for partition in 0..4 {
                write(&source, &topic, partition, 100_000 + round * 25_000, 25_000);
            }
            written += 100_000;
        }
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["apply", "-auto-approve"])
            .current_dir(&workspace.dir)
            .env("CUTOVER_STATE_KEY", crate::support::STATE_KEY)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start apply");
        // Kill at a random moment once this run has started copying.
        let deadline = Instant::now() + Duration::from_secs(60);
        while copied_so_far() == before
            && child.try_wait().expect("wait").is_none()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(random(&mut seed) % 300));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("kill -9");
            kills += 1;
        }
        child.wait().expect("reap");
        let copied = copied_so_far();
        partial |= copied > 0 && copied < written;
        // A killed run leaves no lock behind (an OS lock ends with its process): the next
        // run needs no force-unlock.
        let (_, output) = workspace.run(&["plan"]);
        assert!(!output.contains("state is locked"), "{output}");
    }
    eprintln!("killed the mirror {kills} times");
    assert!(
        kills >= 8,
        "the copy ended before most kills ({kills} of 10)"
    );
    assert!(partial, "no kill landed in the middle of the copy");
    workspace.expect(&["apply", "-auto-approve"], 0);
    assert_identical(&topic, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_mode_copies_live_writes_and_stops_cleanly_on_sigterm() {
    let legacy = legacy_bootstrap();
    let topic = unique_name("followed");
    create_topic(&legacy, &topic, 2, &[]).await;
    let workspace = Workspace::new("mirror-follow");
    workspace.write("main.hcl", &mirror_config(&topic, 2, ""));
    workspace.expect(&["apply", "-auto-approve"], 0);

    /// Kills the follower if the test fails before stopping it.
    struct Reap(Option<std::process::Child>);
    impl Drop for Reap {
        fn drop(&mut self) {
            if let Some(child) = self.0.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let follower = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["mirror", "run", "--follow"])
        .current_dir(&workspace.dir)
        .env("CUTOVER_STATE_KEY", crate::support::STATE_KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the follower");
    let mut guard = Reap(Some(follower));
    let follower = guard.0.as_mut().expect("just started");
    // Producers keep writing while the follower runs.
    let source = producer(&legacy);
    for round in 0..20 {
        write(&source, &topic, round % 2, round as usize * 100, 100);
        std::thread::sleep(Duration::from_millis(50));
    }
    // It catches up by itself.
    let deadline = Instant::now() + Duration::from_secs(60);
    while (0..2)
        .any(|p| watermarks(&target_bootstrap(), &topic, p) != watermarks(&legacy, &topic, p))
    {
        assert!(Instant::now() < deadline, "the follower did not catch up");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGTERM: a clean stop with exit 0.
    // SAFETY: the pid is our own child's, still running (not yet waited on).
    let killed = unsafe { libc::kill(follower.id() as i32, libc::SIGTERM) };
    assert_eq!(killed, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = follower.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the follower ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = guard
        .0
        .take()
        .expect("still held")
        .wait_with_output()
        .expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(status.success(), "{status:?}: {text}");
    assert!(text.contains("kafka_mirror.main"), "{text}");
    assert_identical(&topic, 2);
    // The state is untouched by the follower: the next plan has nothing to do.
    let plan = workspace.expect(&["plan", "-detailed-exitcode"], 0);
    assert!(plan.contains("No changes"), "{plan}");
}

fn committed_values(bootstrap: &str, topic: &str) -> Vec<(i64, Option<Vec<u8>>)> {
    read_all(bootstrap, topic, 0)
        .into_iter()
        .map(|r| (r.offset, r.key))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translate_mode_keeps_an_exact_map_across_transaction_gaps() {
    let legacy = legacy_bootstrap();
    let target = target_bootstrap();
    let topic = unique_name("translated");
    create_topic(&legacy, &topic, 1, &[]).await;
    // Source: 10 committed (0-9, marker 10), 5 aborted (11-15, marker 16), 10 committed
    // (17-26, marker 27).
    let transactional: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &legacy)
        .set("transactional.id", unique_name("tx"))
        .create()
        .expect("transactional producer");
    transactional
        .init_transactions(TIMEOUT)
        .expect("init transactions");
    transaction(&transactional, &topic, "a", 10, true);
    transaction(&transactional, &topic, "aborted", 5, false);
    transaction(&transactional, &topic, "b", 10, true);
    assert_eq!(watermarks(&legacy, &topic, 0), (0, 28));
    // The target partition already holds 3 records of its own: translation allows that.
    create_topic(&target, &topic, 1, &[]).await;
    let foreign = producer(&target);
    write(&foreign, &topic, 0, 0, 3);

    let workspace = Workspace::new("mirror-translate");
    let config = |mode: &str, extra: &str| {
        format!(
            r#"
cluster "legacy" {{
  bootstrap_servers = ["{legacy}"]
}}
cluster "target" {{
  bootstrap_servers = ["{target}"]
}}
resource "kafka_mirror" "main" {{
  source  = cluster.legacy
  target  = cluster.target
  topics  = ["{topic}"]
  offsets = "{mode}"
  name    = "{topic}"
}}
{extra}
"#
        )
    };
    // Preserving offsets is impossible here: the first gap stops it before writing past it.
    workspace.write("main.hcl", &config("preserve", ""));
    let refused = workspace.expect(&["apply", "-auto-approve"], 1);
    assert!(
        refused.contains("its record at offset 2 differs from the source's"),
        "{refused}"
    );
    assert!(refused.contains("holds other data"), "{refused}");

    workspace.write("main.hcl", &config("translate", ""));
    workspace.expect(&["apply", "-auto-approve"], 0);
    let source_records: Vec<_> = committed_values(&legacy, &topic)
        .into_iter()
        .map(|(_, key)| key)
        .collect();
    let target_records: Vec<_> = committed_values(&target, &topic)
        .into_iter()
        .skip(3)
        .map(|(_, key)| key)
        .collect();
    assert_eq!(
        source_records.len(),
        20,
        "read_committed sees the committed records only"
    );
    assert_eq!(source_records, target_records);
    // The mirror writes in transactions of its own: each adds a commit marker on the target.
    let first_end = watermarks(&target, &topic, 0).1;
    assert!((24..=26).contains(&first_end), "{first_end}");

    // More writes; the next apply resumes from its committed positions.
    transaction(&transactional, &topic, "c", 4, true);
    workspace.expect(&["apply", "-auto-approve"], 0);
    let target_keys = committed_values(&target, &topic);
    assert_eq!(target_keys.len(), 3 + 24, "every committed record once");
    let target_of = |key: &str| {
        target_keys
            .iter()
            .find(|(_, k)| k.as_deref() == Some(key.as_bytes()))
            .map(|(offset, _)| *offset)
            .unwrap_or_else(|| panic!("{key} is not on the target"))
    };

    // Group offsets translate exactly through the map: 5 → a-5; 12 (aborted, in the gap) → the
    // next mirrored record (b-0, source 17); 20 → b-3; 28 (marker, then c-0 at 29) → c-0.
    let cases = [
        (5, target_of("a-5")),
        (12, target_of("b-0")),
        (20, target_of("b-3")),
        (28, target_of("c-0")),
    ];
    let groups: Vec<String> = cases
        .iter()
        .map(|(offset, _)| unique_name(&format!("translated-{offset}")))
        .collect();
    for ((source_offset, _), group) in cases.iter().zip(&groups) {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &legacy)
            .set("group.id", group)
            .create()
            .expect("consumer");
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&topic, 0, Offset::Offset(*source_offset))
            .unwrap();
        consumer
            .commit(&list, rdkafka::consumer::CommitMode::Sync)
            .expect("commit");
    }
    let quoted: Vec<String> = groups.iter().map(|g| format!("\"{g}\"")).collect();
    workspace.write(
        "main.hcl",
        &config(
            "translate",
            &format!(
                r#"
resource "kafka_consumer_group_offsets" "moved" {{
  source   = cluster.legacy
  target   = cluster.target
  groups   = [{}]
  topics   = ["{topic}"]
  mirror   = kafka_mirror.main
  strategy = "translate"
}}
"#,
                quoted.join(", ")
            ),
        ),
    );
    workspace.expect(&["apply", "-auto-approve"], 0);
    for ((source_offset, expected), group) in cases.iter().zip(&groups) {
        let target_consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &target)
            .set("group.id", group)
            .create()
            .expect("consumer");
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition(&topic, 0);
        let found = target_consumer
            .committed_offsets(wanted, TIMEOUT)
            .expect("committed");
        assert_eq!(
            found.find_partition(&topic, 0).map(|e| e.offset()),
            Some(Offset::Offset(*expected)),
            "source offset {source_offset}"
        );
    }

    // Destroy removes the offset map topic.
    workspace.expect(&["destroy", "-auto-approve"], 0);
    let map_topic = format!("_cutover.mirror.{topic}.offsets");
    let metadata_consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &target)
        .create()
        .expect("consumer");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let metadata = metadata_consumer
            .fetch_metadata(None, TIMEOUT)
            .expect("metadata");
        if !metadata.topics().iter().any(|t| t.name() == map_topic) {
            break;
        }
        assert!(Instant::now() < deadline, "{map_topic} was not deleted");
        std::thread::sleep(Duration::from_millis(200));
    }
}
