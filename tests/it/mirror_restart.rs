//! Restarting the target broker in the middle of a copy, and stalling it again and again: the
//! embedded mirror retries and the same apply finishes, with every record at its offset on the
//! target, none lost or duplicated.
//!
//! The shared environment's target must stay up for the other tests, so each test owns a
//! private single-node KRaft broker (combined broker and controller, configured like
//! `scripts/env`'s target) started from the jars the environment downloaded
//! (`CUTOVER_TARGET_LIBS`), on free ports, with its data in a temporary folder, one test after
//! the other. One is killed with SIGKILL once the copy is under way and started again on the
//! same ports and data; the other is stopped (SIGSTOP) and continued, twelve times.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::{STATE_KEY, Workspace, legacy_bootstrap, unique_name, watermarks};

const TIMEOUT: Duration = Duration::from_secs(30);
const PARTITIONS: i32 = 6;
/// 1.2 million small records (51 MB): an uninterrupted copy takes about 6 s in a debug build on
/// two cores, so a kill once a tenth is copied lands well inside it.
const RECORDS_PER_PARTITION: usize = 200_000;

/// A private Kafka 4.x broker: KRaft, one node as broker and controller, plaintext. Dropping it
/// stops the JVM (SIGTERM, then SIGKILL) and removes its folder.
struct PrivateBroker {
    dir: PathBuf,
    libs: String,
    broker_port: u16,
    controller_port: u16,
    process: Option<Child>,
}

/// Two ports no one listens on now: bound together so they differ, released for the broker.
fn free_ports() -> (u16, u16) {
    let first = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let second = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    (
        first.local_addr().expect("address").port(),
        second.local_addr().expect("address").port(),
    )
}

/// A KRaft cluster id: 16 bytes, URL-safe base64 without padding, not starting with `-` (as
/// Kafka's `Uuid.randomUuid` ensures). Derived from a unique name: no random-uuid JVM needed.
fn cluster_id(seed: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut bytes: [u8; 16] = sha2::Sha256::digest(seed.as_bytes())[..16]
        .try_into()
        .expect("16 bytes");
    bytes[0] &= 0x7f;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The log4j2 configuration `scripts/env` gives its Kafka 4.x JVMs.
fn log4j2_config() -> String {
    format!(
        "-Dlog4j2.configurationFile={}/env/conf/log4j2.properties",
        env!("CARGO_MANIFEST_DIR")
    )
}

impl PrivateBroker {
    /// Writes the configuration, formats the storage and launches the broker; does not wait
    /// for it to answer (see `wait_until_answering`).
    fn launch_new() -> Self {
        let libs = std::env::var("CUTOVER_TARGET_LIBS").unwrap_or_else(|_| {
            panic!(
                "CUTOVER_TARGET_LIBS is not set: this test starts its own Kafka 4.x broker from the environment's jars (run `scripts/env up`, then `source .run/env.sh`)"
            )
        });
        assert!(
            Path::new(&libs).is_dir(),
            "CUTOVER_TARGET_LIBS={libs} is not a folder: run `scripts/env up` to download the Kafka jars"
        );
        match Command::new("java").arg("-version").output() {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!(
                "`java -version` failed ({}): this test starts its own Kafka broker",
                output.status
            ),
            Err(error) => panic!(
                "java is missing ({error}): this test starts its own Kafka broker (Java 17+)"
            ),
        }
        let dir = std::env::temp_dir().join(unique_name("cutover-private-broker"));
        std::fs::create_dir_all(&dir).expect("create the broker folder");
        let (broker_port, controller_port) = free_ports();
        let mut broker = PrivateBroker {
            dir,
            libs,
            broker_port,
            controller_port,
            process: None,
        };
        broker.write_properties();
        broker.format_storage();
        broker.launch();
        broker
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.broker_port)
    }

    fn properties_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("broker.log")
    }

    /// `scripts/env`'s target (`start_target`, `write_common_broker_props`) without the SCRAM
    /// listener.
    fn write_properties(&self) {
        let host = "127.0.0.1";
        let (port, controller) = (self.broker_port, self.controller_port);
        let text = format!(
            "# written by tests/it/mirror_restart.rs: a private KRaft broker+controller
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}
advertised.listeners=PLAINTEXT://{host}:{port}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
# the log cleaner would take 128 MB of the heap by default
log.cleaner.dedupe.buffer.size=16777216
",
            data = self.dir.join("data").display(),
        );
        std::fs::write(self.properties_path(), text).expect("write server.properties");
    }

    /// `scripts/env`'s `storage_tool format`, in the foreground.
    fn format_storage(&self) {
        let output = Command::new("java")
            .args(["-Xms32m", "-Xmx256m", "-XX:+UseSerialGC"])
            .arg(log4j2_config())
            .arg("-Dlog4j2.rootLogger.level=WARN")
            .arg("-cp")
            .arg(format!("{}/*", self.libs))
            .arg("kafka.tools.StorageTool")
            .args(["format", "-t", &cluster_id(&self.dir.display().to_string())])
            .arg("-c")
            .arg(self.properties_path())
            .output()
            .expect("run kafka.tools.StorageTool");
        assert!(
            output.status.success(),
            "formatting the private broker's storage failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the JVM on the configured ports and data, its output appended to `broker.log`.
    fn launch(&mut self) {
        assert!(self.process.is_none(), "the private broker is running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open broker.log");
        let child = Command::new("java")
            .args([
                "-Xms64m",
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:+ExitOnOutOfMemoryError",
                "-Djava.awt.headless=true",
            ])
            .arg(log4j2_config())
            // Names the broker in `ps` output, should one outlive a crashed test run.
            .arg(format!("-Dcutover-test-broker={}", self.dir.display()))
            .arg("-cp")
            .arg(format!("{}/*", self.libs))
            .arg("kafka.Kafka")
            .arg(self.properties_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("start the private broker");
        self.process = Some(child);
    }

    /// Waits until the broker lists itself in a metadata response (registered and unfenced).
    fn wait_until_answering(&mut self, within: Duration) {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("reconnect.backoff.ms", "100")
            .set("reconnect.backoff.max.ms", "500")
            .create()
            .expect("metadata client");
        let deadline = Instant::now() + within;
        loop {
            if let Ok(metadata) = client.fetch_metadata(None, Duration::from_secs(1))
                && !metadata.brokers().is_empty()
            {
                return;
            }
            if let Some(status) = self
                .process
                .as_mut()
                .and_then(|child| child.try_wait().expect("wait for the broker"))
            {
                panic!(
                    "the private broker exited ({status}) before answering:\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the private broker did not answer within {within:?}:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Sends `signal` and waits up to `within` for the JVM to exit; true when it did.
    fn signal_and_wait(&mut self, signal: i32, within: Duration) -> bool {
        let Some(child) = self.process.as_mut() else {
            return true;
        };
        // SAFETY: the pid is our own child's, not yet reaped (`try_wait` below reaps it).
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if child.try_wait().expect("wait for the broker").is_some() {
                self.process = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// SIGKILL: no clean shutdown, the next start recovers the logs.
    fn kill_9(&mut self) {
        assert!(
            self.signal_and_wait(libc::SIGKILL, Duration::from_secs(10)),
            "the private broker outlived SIGKILL"
        );
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        if !self.signal_and_wait(libc::SIGTERM, Duration::from_secs(20)) {
            self.signal_and_wait(libc::SIGKILL, Duration::from_secs(10));
        }
        if std::thread::panicking() {
            eprintln!(
                "the private broker's log ({}), last lines:\n{}",
                self.log_path().display(),
                self.log_tail()
            );
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// Kills the apply if the test fails while it runs.
struct RunningApply(Child);

impl Drop for RunningApply {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for result in admin
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

async fn delete_topic(bootstrap: &str, name: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    for result in admin
        .delete_topics(
            &[name],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("delete topic")
    {
        result.expect("topic deleted");
    }
}

/// Waits until every partition of a new topic answers an offsets query: its leader is known.
fn wait_for_leaders(bootstrap: &str, topic: &str, partitions: i32) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    let deadline = Instant::now() + TIMEOUT;
    for partition in 0..partitions {
        while let Err(error) = consumer.fetch_watermarks(topic, partition, TIMEOUT) {
            assert!(
                Instant::now() < deadline,
                "{topic}/{partition} on {bootstrap} has no leader: {error}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A timestamp of now, in milliseconds (old timestamps would meet the target's retention).
fn recent_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Writes `count` small records to every partition: keys, values, timestamps, some headers,
/// an occasional null key or value.
fn fill_source(bootstrap: &str, topic: &str, partitions: i32, count: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .create()
        .expect("producer");
    let base_time = recent_millis();
    for index in 0..count {
        for partition in 0..partitions {
            let key = format!("key-{partition}-{index}");
            let value = format!("value-{partition}-{index}-{}", "v".repeat(index % 40));
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
                .partition(partition)
                .timestamp(base_time + index as i64);
            if index % 13 != 0 {
                record = record.key(key.as_bytes());
            }
            if index % 17 != 0 {
                record = record.payload(value.as_bytes());
            }
            if index % 5 == 0 {
                record = record.headers(OwnedHeaders::new().insert(Header {
                    key: "trace",
                    value: Some(key.as_bytes()),
                }));
            }
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, returned)) => {
                        record = returned;
                        producer.poll(Duration::from_millis(10));
                    }
                }
            }
        }
    }
    producer.flush(TIMEOUT).expect("flush the source producer");
}

/// One record as both sides must hold it.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: Option<i64>,
}

/// Every record of a partition from its log start to its end, read with a plain consumer.
fn read_partition(bootstrap: &str, topic: &str, partition: i32) -> Vec<Record> {
    let (start, end) = watermarks(bootstrap, topic, partition);
    if start == end {
        return Vec::new();
    }
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "mirror-restart-test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(start))
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let mut records = Vec::with_capacity((end - start) as usize);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "reading {topic}/{partition} from {bootstrap} timed out"
        );
        let message = match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(other) => other.expect("consume"),
        };
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
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

/// Per partition: the same log start and end, and the same record at every offset from the
/// start to the end (none missing, none twice). Both sides are read at the same time.
fn assert_identical(source: &str, target: &str, topic: &str, partitions: i32) {
    for partition in 0..partitions {
        let (start, end) = watermarks(source, topic, partition);
        assert_eq!(
            (start, end),
            watermarks(target, topic, partition),
            "{topic}/{partition}: log start and end differ"
        );
        let (source_records, target_records) = std::thread::scope(|scope| {
            let source_side = scope.spawn(|| read_partition(source, topic, partition));
            let target_records = read_partition(target, topic, partition);
            (source_side.join().expect("read the source"), target_records)
        });
        assert_eq!(
            source_records.len() as i64,
            end - start,
            "{topic}/{partition}: the source has gaps"
        );
        assert_eq!(
            source_records.len(),
            target_records.len(),
            "{topic}/{partition}: record counts differ"
        );
        for (expected, copied) in source_records.iter().zip(&target_records) {
            assert_eq!(
                expected, copied,
                "{topic}/{partition} differs at offset {}",
                expected.offset
            );
        }
    }
}

fn mirror_config(source: &str, target: &str, topic: &str) -> String {
    format!(
        r#"
cluster "legacy" {{
  bootstrap_servers = ["{source}"]
}}
cluster "target" {{
  bootstrap_servers = ["{target}"]
}}
resource "kafka_mirror" "main" {{
  source           = cluster.legacy
  target           = cluster.target
  topics           = ["{topic}"]
  max_in_flight_mb = 1
}}
output "copied" {{ value = kafka_mirror.main.records_copied }}
"#
    )
}

/// Waits for the apply to exit, up to `within`; its exit code.
fn wait_for_exit(apply: &mut RunningApply, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = apply.0.try_wait().expect("wait for the apply") {
            return Some(status.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Starts `cutover apply -auto-approve` in the workspace, its output into `apply.log`.
fn start_apply(workspace: &Workspace) -> (RunningApply, PathBuf) {
    let log_path = workspace.dir.join("apply.log");
    let log = File::create(&log_path).expect("create apply.log");
    let apply = RunningApply(
        Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["apply", "-auto-approve"])
            .current_dir(&workspace.dir)
            .env("CUTOVER_STATE_KEY", STATE_KEY)
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("start apply"),
    );
    (apply, log_path)
}

/// Waits until a tenth of `total` records are on the target (within 60 s, while the apply
/// runs); how many are.
fn wait_for_a_tenth(
    apply: &mut RunningApply,
    log_path: &Path,
    target: &str,
    topic: &str,
    total: i64,
) -> i64 {
    let apply_output = || std::fs::read_to_string(log_path).unwrap_or_default();
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", target)
        .create()
        .expect("consumer");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let copied: i64 = (0..PARTITIONS)
            .map(|partition| {
                // A metadata refresh may answer "not leader" for a moment: count 0 then.
                watcher
                    .fetch_watermarks(topic, partition, TIMEOUT)
                    .map_or(0, |(_, end)| end)
            })
            .sum();
        if copied >= total / 10 {
            return copied;
        }
        if let Some(status) = apply.0.try_wait().expect("wait for the apply") {
            panic!(
                "the apply ended ({status}) before a tenth was copied:\n{}",
                apply_output()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the copy did not start within 60 s ({copied} records on the target):\n{}",
            apply_output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The tests of this file start a private broker each: one after another, not side by side.
static ONE_PRIVATE_BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_broker_restarted_mid_copy_is_retried_and_the_copy_finishes() {
    let _one = ONE_PRIVATE_BROKER.lock().await;
    let test_started = Instant::now();
    // The JVM boots while the source is filled.
    let mut broker = PrivateBroker::launch_new();
    let legacy = legacy_bootstrap();
    let topic = unique_name("restarted");
    create_topic(&legacy, &topic, PARTITIONS).await;
    fill_source(&legacy, &topic, PARTITIONS, RECORDS_PER_PARTITION);
    let filled_after = test_started.elapsed();
    let total = (PARTITIONS as usize * RECORDS_PER_PARTITION) as i64;
    broker.wait_until_answering(Duration::from_secs(60));
    let target = broker.bootstrap();
    create_topic(&target, &topic, PARTITIONS).await;
    wait_for_leaders(&target, &topic, PARTITIONS);
    eprintln!(
        "source filled with {total} records in {filled_after:?}, private broker up at {target} after {:?}",
        test_started.elapsed()
    );

    let workspace = Workspace::new("mirror-restart");
    workspace.write("main.hcl", &mirror_config(&legacy, &target, &topic));
    let (mut apply, log_path) = start_apply(&workspace);
    let apply_started = Instant::now();
    let apply_output = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Kill the broker once a tenth of the records are on the target.
    let copied_at_kill = wait_for_a_tenth(&mut apply, &log_path, &target, &topic, total);
    broker.kill_9();
    let killed_after = apply_started.elapsed();
    assert!(
        copied_at_kill < total,
        "the copy finished before the kill ({copied_at_kill} of {total}): make it slower"
    );
    eprintln!(
        "killed the private broker (SIGKILL) {killed_after:?} into the apply, {copied_at_kill} of {total} records copied"
    );

    // Down for 5 s: the apply must keep waiting rather than give up.
    let exited_while_down = wait_for_exit(&mut apply, Duration::from_secs(5));
    broker.launch();
    broker.wait_until_answering(Duration::from_secs(60));
    eprintln!(
        "private broker answering again {:?} after the kill",
        apply_started.elapsed() - killed_after
    );

    let first = match exited_while_down {
        Some(code) => Some(code),
        None => wait_for_exit(&mut apply, Duration::from_secs(90)),
    };
    let first_output = apply_output();
    eprintln!(
        "first apply: exit {first:?} after {:?}\n{first_output}",
        apply_started.elapsed()
    );
    assert_eq!(
        exited_while_down, None,
        "the apply gave up while the target was down:\n{first_output}"
    );
    assert_eq!(
        first,
        Some(0),
        "the apply did not survive the target's restart:\n{first_output}"
    );

    let checking = Instant::now();
    assert_identical(&legacy, &target, &topic, PARTITIONS);
    eprintln!(
        "source and target compared record by record in {:?}",
        checking.elapsed()
    );
    // The state agrees: everything was copied by that one apply, nothing is left to do.
    let output = workspace.expect(&["output", "-json"], 0);
    assert!(output.contains(&format!("\"value\": {total}")), "{output}");
    let replan = workspace.expect(&["plan", "-detailed-exitcode"], 0);
    assert!(replan.contains("No changes"), "{replan}");
    // 51 MB the shared source need not keep (left there when the test fails, to look at).
    delete_topic(&legacy, &topic).await;
    eprintln!("whole test: {:?}", test_started.elapsed());
}

/// A target that stalls again and again in the middle of a `preserve` copy (the broker's JVM
/// stopped for 2 s, then let run for 150 ms, for 20 s: longer than the records' message
/// timeout, `session_timeout / 4`, but answering now and then). Records queued before a stall
/// time out while later ones could still be sent; the lane must not let them (librdkafka would
/// skip the timed-out ones: a gap, the target's offsets behind the source's for good). The
/// same apply retries and finishes, with every record at its offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_stalls_mid_copy_is_copied_without_a_gap() {
    let _one = ONE_PRIVATE_BROKER.lock().await;
    let mut broker = PrivateBroker::launch_new();
    let legacy = legacy_bootstrap();
    let topic = unique_name("stalled");
    create_topic(&legacy, &topic, PARTITIONS).await;
    fill_source(&legacy, &topic, PARTITIONS, RECORDS_PER_PARTITION);
    let total = (PARTITIONS as usize * RECORDS_PER_PARTITION) as i64;
    broker.wait_until_answering(Duration::from_secs(60));
    let target = broker.bootstrap();
    create_topic(&target, &topic, PARTITIONS).await;
    wait_for_leaders(&target, &topic, PARTITIONS);

    let workspace = Workspace::new("mirror-stall");
    // The default memory for records: much is queued behind what is in flight.
    workspace.write(
        "main.hcl",
        &mirror_config(&legacy, &target, &topic).replace("max_in_flight_mb = 1", ""),
    );
    let (mut apply, log_path) = start_apply(&workspace);
    let apply_output = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // The stalls start once a tenth of the records are on the target.
    wait_for_a_tenth(&mut apply, &log_path, &target, &topic, total);
    let pid = broker.process.as_ref().expect("the broker runs").id() as i32;
    let stalls_end = Instant::now() + Duration::from_secs(20);
    let mut stalls = 0;
    while Instant::now() < stalls_end {
        // SAFETY: the pid is our own child's, running (it is only reaped by the drop).
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        std::thread::sleep(Duration::from_millis(1500));
        unsafe { libc::kill(pid, libc::SIGCONT) };
        stalls += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("stalled the private broker {stalls} times");

    let exit = wait_for_exit(&mut apply, Duration::from_secs(180));
    let output = apply_output();
    // The lane stops itself before librdkafka times a record out (or, failing that, retries).
    let stops = output.matches("unacknowledged").count();
    let timeouts = output.matches("timed out").count();
    eprintln!("lanes stopped for records waiting long: {stops}, records timed out: {timeouts}");
    assert!(
        stops + timeouts > 0,
        "the stalls never held a record long enough to matter (the test proves nothing):\n{output}"
    );
    assert_eq!(
        exit,
        Some(0),
        "the apply did not survive the stalls:\n{output}"
    );
    assert_identical(&legacy, &target, &topic, PARTITIONS);
    delete_topic(&legacy, &topic).await;
}
