//! The acceptance test of the product: `examples/local` migrated phase by phase with
//! `modules/kafka-to-msk`, as four pull requests would (four separate `cutover apply` runs of
//! saved plans), while a producer keeps writing to the legacy cluster until its secret flips
//! and a consumer group keeps reading (the `cutover-sample` applications, which read their
//! bootstrap servers from the secrets). A producer rollback is exercised between the second
//! and third phase. Afterwards the target is read independently — a plain consumer, not
//! cutover's verifier — to check that every acknowledged record is there exactly once, at its
//! source offset, in order per partition, and that the consumer group resumed on the target
//! exactly where it stopped on the legacy cluster.
//!
//! Needs `scripts/env up` (legacy, target, moto).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

use super::support::{STATE_KEY, aws_config, legacy_bootstrap, moto_endpoint, target_bootstrap};

/// The topics legacy-fleet makes, with their partition counts.
const TOPICS: [(&str, i32); 4] = [("orders", 6), ("payments", 3), ("audit", 1), ("clicks", 12)];

/// A scratch copy of `examples/` and `modules/` (the module is referenced relatively).
struct Migration {
    root: PathBuf,
    prefix: String,
}

impl Migration {
    fn new() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let prefix = format!("e2e{millis}");
        let root = std::env::temp_dir().join(format!("cutover-{prefix}"));
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for part in ["examples", "modules"] {
            copy_dir(&repo.join(part), &root.join(part));
        }
        Migration { root, prefix }
    }

    fn local(&self) -> PathBuf {
        self.root.join("examples/local")
    }

    fn log(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn command(&self, program: &str, dir: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(dir)
            .env("CUTOVER_STATE_KEY", STATE_KEY)
            .env_remove("CUTOVER_STATE_KEY_FILE")
            .env("CUTOVER_VAR_prefix", &self.prefix)
            .env("CUTOVER_VAR_legacy_bootstrap", legacy_bootstrap())
            .env("CUTOVER_VAR_aws_endpoint", moto_endpoint())
            .env("AWS_ENDPOINT_URL", moto_endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1");
        command
    }

    /// Runs cutover in `dir`, expecting exit code `code`.
    fn cutover(&self, dir: &Path, args: &[&str], code: i32) -> String {
        let output = self
            .command(env!("CARGO_BIN_EXE_cutover"), dir)
            .args(args)
            .output()
            .expect("run cutover");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            output.status.code(),
            Some(code),
            "cutover {args:?} in {}:\n{text}",
            dir.display()
        );
        text
    }

    /// One pull request: the one-line phase change, `plan -out`, `apply` of the saved plan.
    fn phase(&self, phase: &str) -> String {
        std::fs::write(
            self.local().join("phase.auto.vars.hcl"),
            format!("phase = \"{phase}\"\n"),
        )
        .unwrap();
        let local = self.local();
        let plan = self.cutover(&local, &["plan", "-out", "pr.plan"], 0);
        let markdown = self.cutover(&local, &["show", "-markdown", "pr.plan"], 0);
        assert!(markdown.contains("module.migration"), "{markdown}");
        let applied = self.cutover(&local, &["apply", "pr.plan"], 0);
        format!("{plan}\n{applied}")
    }

    fn spawn(&self, program: &str, dir: &Path, args: &[&str], log: &str) -> Process {
        let stderr = std::fs::File::create(self.log(log)).unwrap();
        let child = self
            .command(program, dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start process");
        Process { child: Some(child) }
    }

    fn topic_list(&self) -> String {
        TOPICS
            .iter()
            .map(|(name, _)| format!("{}.{name}", self.prefix))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn start_producer(&self) -> Process {
        let log = self.log("producer.log");
        self.spawn(
            env!("CARGO_BIN_EXE_cutover-sample"),
            &self.root,
            &[
                "produce",
                "--secret",
                &format!("{}/producers", self.prefix),
                "--topics",
                &self.topic_list(),
                "--rate",
                "100",
                "--poll-interval-ms",
                "500",
                "--log",
                log.to_str().unwrap(),
            ],
            "producer.err",
        )
    }

    fn start_consumer(&self) -> Process {
        let log = self.log("consumer.log");
        self.spawn(
            env!("CARGO_BIN_EXE_cutover-sample"),
            &self.root,
            &[
                "consume",
                "--secret",
                &format!("{}/consumers", self.prefix),
                "--group",
                &format!("{}-billing", self.prefix),
                "--topics",
                &self.topic_list(),
                "--poll-interval-ms",
                "500",
                "--log",
                log.to_str().unwrap(),
            ],
            "consumer.err",
        )
    }

    fn start_follower(&self) -> Process {
        self.spawn(
            env!("CARGO_BIN_EXE_cutover"),
            &self.local(),
            &["mirror", "run", "--follow", "--interval", "1s"],
            "follower.err",
        )
    }

    fn lines(&self, log: &str) -> Vec<String> {
        std::fs::read_to_string(self.log(log))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits (bounded) until a line of `log` starts with `prefix`.
    fn wait_for_line(&self, log: &str, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.lines(log).into_iter().find(|l| l.starts_with(prefix)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix:?} line in {log} within {within:?}; stderr:\n{}",
                std::fs::read_to_string(self.log(&log.replace(".log", ".err"))).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn acked_on(&self, cluster: &str) -> usize {
        self.lines("producer.log")
            .iter()
            .filter(|l| l.starts_with("ack ") && l.split(' ').nth(1) == Some(cluster))
            .count()
    }
}

impl Drop for Migration {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::fs::remove_dir_all(&self.root).ok();
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("cutover.state")
        {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A child process stopped with SIGTERM (and waited for) when dropped or stopped.
struct Process {
    child: Option<Child>,
}

impl Process {
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the pid of a child this process started and has not reaped.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    child.kill().ok();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            child.wait().ok();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A record as the producer's log has it: (topic, partition, offset, seq) on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Logged {
    cluster: String,
    topic: String,
    partition: i32,
    offset: i64,
    seq: i64,
}

fn parse(lines: &[String], kind: &str) -> Vec<Logged> {
    lines
        .iter()
        .filter(|l| l.starts_with(&format!("{kind} ")))
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            Logged {
                cluster: fields[1].to_owned(),
                topic: fields[2].to_owned(),
                partition: fields[3].parse().unwrap(),
                offset: fields[4].parse().unwrap(),
                seq: fields[5].parse().unwrap(),
            }
        })
        .collect()
}

/// Every record of `topic` on the target, per partition: (offset, seq), read with a plain
/// consumer from the log start to the high watermark.
fn read_target(topic: &str, partitions: i32) -> BTreeMap<i32, Vec<(i64, i64)>> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", target_bootstrap())
        .set("group.id", "e2e-independent-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut found = BTreeMap::new();
    for partition in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(low))
            .unwrap();
        consumer.assign(&assignment).unwrap();
        let mut records = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut next = low;
        while next < high {
            assert!(
                Instant::now() < deadline,
                "reading {topic}/{partition} timed out"
            );
            if let Some(message) = consumer.poll(Duration::from_millis(500)) {
                let message = message.unwrap();
                let value: serde_json::Value =
                    serde_json::from_slice(message.payload().unwrap()).unwrap();
                records.push((message.offset(), value["seq"].as_i64().unwrap()));
                next = message.offset() + 1;
            }
        }
        found.insert(partition, records);
    }
    found
}

async fn instance_states(tag: &str) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(&aws_config().await);
    let described = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:Migration")
                .values(tag)
                .build(),
        )
        .send()
        .await
        .unwrap();
    described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            i.state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn a_live_fleet_moves_to_msk_in_four_pull_requests_with_nothing_lost_or_repeated() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let migration = Migration::new();
    let legacy = legacy_bootstrap();
    let target = target_bootstrap();

    // What exists before: topics, the fleet, the secrets; then the applications.
    migration.cutover(
        &migration.local().join("legacy-fleet"),
        &["apply", "-auto-approve"],
        0,
    );
    let mut producer = migration.start_producer();
    let mut consumer = migration.start_consumer();
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        migration.acked_on(&legacy) > 100,
        "the producer is not producing"
    );

    // PR 1: MSK, topics, the mirror caught up; then a follower keeps it running.
    let first = migration.phase("mirror");
    assert!(first.contains("Apply complete!"), "{first}");
    let mut follower = migration.start_follower();

    // PR 2, and its rollback: with the follower stopped, the producer cannot finish its move
    // (it waits for the target to hold every record it wrote to the legacy cluster), so the
    // rollback puts the secret back before it wrote anything to the target.
    follower.stop();
    let second = migration.phase("cutover_producers");
    assert!(second.contains("assert.mirror_keeps_up"), "{second}");
    migration.wait_for_line("producer.log", "drain ", Duration::from_secs(30));
    let rolled_back = migration.cutover(
        &migration.local(),
        &[
            "rollback",
            "module.migration.aws_secretsmanager_secret_version.producers",
            "-auto-approve",
        ],
        0,
    );
    assert!(rolled_back.contains("Rollback complete"), "{rolled_back}");
    migration.wait_for_line("producer.log", "abort ", Duration::from_secs(30));
    let before = migration.acked_on(&legacy);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        migration.acked_on(&legacy) > before,
        "after the rollback the producer writes to the legacy cluster again"
    );
    assert_eq!(migration.acked_on(&target), 0, "nothing reached the target");

    // PR 2 again (the plan shows the flip again: the live value is the legacy one).
    let mut follower = migration.start_follower();
    std::thread::sleep(Duration::from_secs(2));
    let again = migration.phase("cutover_producers");
    assert!(again.contains("bootstrap_servers"), "{again}");
    migration.wait_for_line("producer.log", "switch ", Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        migration.acked_on(&target) > 0,
        "the producer writes to the target"
    );

    // PR 3: the legacy topics are quiet, the mirror drained with zero divergence, the group
    // caught up; its offsets move, then the consumers' secret.
    let third = migration.phase("cutover_consumers");
    assert!(third.contains("kafka_consumer_group_offsets"), "{third}");
    migration.wait_for_line("consumer.log", "switch ", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(4));
    follower.stop();

    // PR 4: the guard finds the legacy cluster unused; the instances are terminated.
    let fourth = migration.phase("decommission");
    assert!(fourth.contains("destroyed"), "{fourth}");
    let states = runtime.block_on(instance_states(&migration.prefix));
    assert_eq!(states.len(), 4, "{states:?}");
    assert!(states.iter().all(|s| s == "terminated"), "{states:?}");

    std::thread::sleep(Duration::from_secs(2));
    producer.stop();
    std::thread::sleep(Duration::from_secs(3));
    consumer.stop();

    // Independent checks.
    let produced = parse(&migration.lines("producer.log"), "ack");
    let received = parse(&migration.lines("consumer.log"), "recv");
    assert!(
        !migration
            .lines("producer.log")
            .iter()
            .any(|l| l.starts_with("fail ")),
        "no record failed"
    );
    for (name, partitions) in TOPICS {
        let topic = format!("{}.{name}", migration.prefix);
        let on_target = read_target(&topic, partitions);
        let mut where_is: BTreeMap<i64, (i32, i64)> = BTreeMap::new();
        for (partition, records) in &on_target {
            let seqs: Vec<i64> = records.iter().map(|(_, seq)| *seq).collect();
            let mut sorted = seqs.clone();
            sorted.sort_unstable();
            assert_eq!(seqs, sorted, "{topic}/{partition}: records out of order");
            for (offset, seq) in records {
                assert!(
                    where_is.insert(*seq, (*partition, *offset)).is_none(),
                    "{topic}: seq {seq} is on the target twice"
                );
            }
        }
        let acked: Vec<&Logged> = produced.iter().filter(|r| r.topic == topic).collect();
        assert!(!acked.is_empty(), "{topic}: nothing was produced");
        for record in &acked {
            let Some(&(partition, offset)) = where_is.get(&record.seq) else {
                panic!("{topic}: acknowledged record {record:?} is not on the target");
            };
            assert_eq!(partition, record.partition, "{record:?}");
            // Acknowledged on the legacy cluster: the mirror preserved its offset; on the
            // target: where it was written.
            assert_eq!(offset, record.offset, "{record:?}: not at its offset");
        }
        assert_eq!(
            where_is.len(),
            acked.len(),
            "{topic}: the target holds records nobody acknowledged"
        );

        // The group: every record received exactly once; on the target it resumed right
        // after the last offset it had read on the legacy cluster.
        let got: Vec<&Logged> = received.iter().filter(|r| r.topic == topic).collect();
        let seqs: BTreeSet<i64> = got.iter().map(|r| r.seq).collect();
        assert_eq!(
            seqs.len(),
            got.len(),
            "{topic}: a record was delivered twice"
        );
        let acked_seqs: BTreeSet<i64> = acked.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, acked_seqs, "{topic}: the group missed records");
        for partition in 0..partitions {
            let last_legacy = got
                .iter()
                .filter(|r| r.partition == partition && r.cluster == legacy)
                .map(|r| r.offset)
                .max();
            let first_target = got
                .iter()
                .filter(|r| r.partition == partition && r.cluster == target)
                .map(|r| r.offset)
                .min();
            if let (Some(last), Some(first)) = (last_legacy, first_target) {
                assert_eq!(
                    first,
                    last + 1,
                    "{topic}/{partition}: the group resumed at {first}, it had read up to {last}"
                );
            }
        }
    }

    // The report a pull request gets after the last apply: the phases in order, the evidence,
    // the lag chart.
    let report = migration.cutover(
        &migration.local(),
        &["show", "-markdown", "-chart", "lag.svg"],
        0,
    );
    let timeline: Vec<usize> = [
        "mirror",
        "cutover_producers",
        "cutover_consumers",
        "decommission",
    ]
    .iter()
    .map(|phase| {
        report
            .find(&format!("| `{phase}` |"))
            .unwrap_or_else(|| panic!("no timeline row for {phase}:\n{report}"))
    })
    .collect();
    assert!(timeline.is_sorted(), "{report}");
    assert!(report.contains("legacy_drained"), "{report}");
    assert!(report.contains("lag.svg"), "{report}");
    let chart = std::fs::read_to_string(migration.local().join("lag.svg")).unwrap();
    assert!(
        chart.starts_with("<svg") && chart.contains("polyline"),
        "{chart}"
    );
}

/// The shipped configurations are valid as they stand: `examples/aws` (production-shaped,
/// never applied in tests), `examples/local` and its legacy fleet, in every phase.
#[test]
fn the_examples_validate_in_every_phase() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [
        "examples/aws",
        "examples/local",
        "examples/local/legacy-fleet",
    ] {
        for phase in [
            "mirror",
            "cutover_producers",
            "cutover_consumers",
            "decommission",
        ] {
            let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
                .args(["-chdir", dir, "validate", "-var", &format!("phase={phase}")])
                .current_dir(repo)
                .env("NO_COLOR", "1")
                .output()
                .expect("run cutover");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            if dir.ends_with("legacy-fleet") {
                // It declares no phase: the variable is refused, as a user would see.
                assert_eq!(output.status.code(), Some(1), "{dir}: {text}");
                assert!(text.contains("phase"), "{text}");
                let plain = Command::new(env!("CARGO_BIN_EXE_cutover"))
                    .args(["-chdir", dir, "validate"])
                    .current_dir(repo)
                    .output()
                    .expect("run cutover");
                assert_eq!(plain.status.code(), Some(0), "{dir}: {plain:?}");
                break;
            }
            assert_eq!(output.status.code(), Some(0), "{dir} ({phase}): {text}");
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args([
            "-chdir",
            "examples/local",
            "validate",
            "-var",
            "phase=cutover",
        ])
        .current_dir(repo)
        .output()
        .expect("run cutover");
    let text =
        String::from_utf8_lossy(&bad.stderr).to_string() + &String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(text.contains("phase must be one of"), "{text}");
}
