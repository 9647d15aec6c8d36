//! Assertions against the local brokers, through the binary: `zero_divergence` passes on
//! identical topics and names the partition and offset of a changed, missing, extra or
//! reordered record; `lag` of a real embedded mirror holds only after the producer stops, and
//! while it does not, the `cutover_data` gated behind it is not applied and apply exits 3;
//! `stable_for` rejects a lag that is within bounds only briefly; `quiescent` fails while a
//! producer writes and passes after it stops. Evidence lands in state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::support::{Workspace, legacy_bootstrap, target_bootstrap, transaction, unique_name};

const TIMEOUT: Duration = Duration::from_secs(30);
/// One timestamp base per test process (now: brokers reject timestamps far from it), so both
/// sides can be written with identical records.
fn base_millis() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as i64
    })
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    for result in admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("create topic")
    {
        result.expect("topic created");
    }
}

fn producer(bootstrap: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .create()
        .expect("producer")
}

/// Writes records `(key index, value text)` to one partition, in order, with timestamps
/// derived from the key index (so the same record written to both sides is identical).
fn write(producer: &BaseProducer, topic: &str, partition: i32, records: &[(usize, String)]) {
    for (index, value) in records {
        let key = format!("key-{index}");
        let record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
            .partition(partition)
            .key(key.as_bytes())
            .payload(value.as_bytes())
            .timestamp(base_millis() + *index as i64);
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

fn records(range: std::ops::Range<usize>) -> Vec<(usize, String)> {
    range.map(|i| (i, format!("value-{i}"))).collect()
}

fn clusters() -> String {
    format!(
        r#"
cluster "source" {{
  bootstrap_servers = ["{}"]
}}
cluster "target" {{
  bootstrap_servers = ["{}"]
}}
"#,
        legacy_bootstrap(),
        target_bootstrap()
    )
}

fn divergence_assert(name: &str, topic: &str) -> String {
    format!(
        r#"
assert "{name}" {{
  timeout       = "1s"
  poll_interval = "200ms"
  zero_divergence {{
    source = cluster.source
    target = cluster.target
    topics = ["{topic}"]
  }}
}}
"#
    )
}

/// Keeps writing to a partition from a thread until stopped.
struct BackgroundProducer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl BackgroundProducer {
    fn start(bootstrap: &str, topic: &str, pause: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (bootstrap, topic, flag) = (bootstrap.to_owned(), topic.to_owned(), stop.clone());
        let thread = std::thread::spawn(move || {
            let producer = producer(&bootstrap);
            let mut written = 0;
            // Bounded: stopped by the test (and at most 10 minutes).
            let deadline = std::time::Instant::now() + Duration::from_secs(600);
            while !flag.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                write(&producer, &topic, 0, &records(written..written + 1));
                written += 1;
                std::thread::sleep(pause);
            }
            written
        });
        BackgroundProducer {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map_or(0, |t| t.join().expect("producer thread"))
    }
}

impl Drop for BackgroundProducer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn zero_divergence_passes_on_identical_topics_and_names_the_first_diverging_offset() {
    let (source, target) = (legacy_bootstrap(), target_bootstrap());
    let base = unique_name("verify-div");
    // Partition 0 identical everywhere; partition 1 tampered with on the target at offset 5.
    let variants: Vec<(&str, Vec<(usize, String)>)> = vec![
        ("identical", records(0..20)),
        ("changed", {
            let mut r = records(0..20);
            r[5].1 = "tampered".to_owned();
            r
        }),
        ("missing", {
            let mut r = records(0..20);
            r.remove(5);
            r
        }),
        ("extra", {
            let mut r = records(0..20);
            r.insert(5, (99, "extra".to_owned()));
            r
        }),
        ("reordered", {
            let mut r = records(0..20);
            r.swap(5, 6);
            r
        }),
    ];
    let (source_producer, target_producer) = (producer(&source), producer(&target));
    let mut config = clusters();
    for (name, target_records) in &variants {
        let topic = format!("{base}-{name}");
        create_topic(&source, &topic, 2).await;
        create_topic(&target, &topic, 2).await;
        for partition in 0..2 {
            write(&source_producer, &topic, partition, &records(0..20));
        }
        write(&target_producer, &topic, 0, &records(0..20));
        write(&target_producer, &topic, 1, target_records);
        config.push_str(&divergence_assert(name, &topic));
    }
    let workspace = Workspace::new("verify-divergence");
    workspace.write("main.hcl", &config);

    let passed = workspace.expect(&["verify", "-target", "assert.identical"], 0);
    assert!(
        passed.contains("assert.identical: holds: zero_divergence: 2 partitions of 1 topic identical (40 records compared now"),
        "{passed}"
    );
    let state: serde_json::Value =
        serde_json::from_str(&workspace.state_text()).expect("state is JSON");
    let evidence = &state["assertions"]["assert.identical"];
    assert_eq!(evidence["passed"], true, "{evidence}");
    let partition =
        &evidence["checks"]["zero_divergence"]["partitions"][format!("{base}-identical/1")];
    assert_eq!(partition["verified_to"], 20, "{partition}");
    assert_eq!(partition["records_verified"], 20, "{partition}");
    assert_eq!(
        partition["digest"].as_str().map(str::len),
        Some(64),
        "{partition}"
    );

    // Incremental: a second run reads only what was written since.
    let topic = format!("{base}-identical");
    write(&source_producer, &topic, 0, &records(20..23));
    write(&target_producer, &topic, 0, &records(20..23));
    let again = workspace.expect(&["verify", "-target", "assert.identical"], 0);
    assert!(
        again.contains("(3 records compared now, 43 verified in all)"),
        "{again}"
    );

    for (name, expected) in [
        ("changed", "first diverging offset 5: the values differ"),
        ("missing", "first diverging offset 5: the keys differ"),
        ("extra", "first diverging offset 5: the keys differ"),
        ("reordered", "first diverging offset 5: the keys differ"),
    ] {
        let target_arg = format!("assert.{name}");
        let failed = workspace.expect(&["verify", "-target", &target_arg], 3);
        let named = format!("{base}-{name}/1: {expected}");
        assert!(
            failed.contains(&named),
            "{name}: expected {named:?} in:\n{failed}"
        );
        assert!(!failed.contains(&format!("{base}-{name}/0:")), "{failed}");
        let state: serde_json::Value =
            serde_json::from_str(&workspace.state_text()).expect("state is JSON");
        let partition = &state["assertions"][&target_arg]["checks"]["zero_divergence"]["partitions"]
            [format!("{base}-{name}/1")];
        assert_eq!(
            partition["first_diverging_offset"], 5,
            "{name}: {partition}"
        );
        assert_eq!(state["assertions"][&target_arg]["passed"], false);
    }
    // A missing record also shows in the end offsets once the records agree up to there.
    let shown = workspace.expect(&["show"], 0);
    assert!(shown.contains("assert.changed"), "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lag_holds_only_after_the_producer_stops_and_gates_what_depends_on_it() {
    let (source, target) = (legacy_bootstrap(), target_bootstrap());
    let topic = unique_name("verify-lag");
    create_topic(&source, &topic, 1).await;
    create_topic(&target, &topic, 1).await;
    write(&producer(&source), &topic, 0, &records(0..50));
    let workspace = Workspace::new("verify-lag");
    workspace.write(
        "main.hcl",
        &format!(
            r#"{clusters}
resource "kafka_mirror" "main" {{
  source = cluster.source
  target = cluster.target
  topics = ["{topic}"]
}}
assert "caught_up" {{
  timeout       = "3s"
  poll_interval = "300ms"
  lag {{
    mirror      = kafka_mirror.main
    max_records = 0
  }}
}}
resource "cutover_data" "flip" {{
  input      = "secret flipped"
  depends_on = [assert.caught_up]
}}
"#,
            clusters = clusters()
        ),
    );
    let plan = workspace.expect(&["plan"], 0);
    assert!(
        plan.contains("# assert.caught_up will be checked"),
        "{plan}"
    );
    assert!(plan.contains("# (gated by assert.caught_up"), "{plan}");

    // While the producer writes, the mirror (which copies up to the end it saw) stays behind.
    let running = BackgroundProducer::start(&source, &topic, Duration::from_millis(20));
    std::thread::sleep(Duration::from_millis(300));
    let gated = workspace.expect(&["apply", "-auto-approve"], 3);
    assert!(
        gated.contains("assertion failed  assert.caught_up: lag: the mirror is"),
        "{gated}"
    );
    assert!(
        gated.contains("skipped  cutover_data.flip (gated by assert.caught_up: lag: the mirror is"),
        "{gated}"
    );
    let state: serde_json::Value =
        serde_json::from_str(&workspace.state_text()).expect("state is JSON");
    assert!(
        !state["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .any(|r| r["address"] == "cutover_data.flip"),
        "the gated flip must not be applied: {state}"
    );
    assert_eq!(state["assertions"]["assert.caught_up"]["passed"], false);

    let written = running.stop();
    assert!(written > 0);
    let applied = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(
        applied.contains("assert.caught_up: holds: lag: mirror lag 0 records"),
        "{applied}"
    );
    assert!(applied.contains("cutover_data.flip: created"), "{applied}");
    let state: serde_json::Value =
        serde_json::from_str(&workspace.state_text()).expect("state is JSON");
    assert_eq!(state["assertions"]["assert.caught_up"]["passed"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn stable_for_rejects_a_lag_that_is_within_bounds_only_briefly() {
    let (source, target) = (legacy_bootstrap(), target_bootstrap());
    let topic = unique_name("verify-stable");
    create_topic(&source, &topic, 1).await;
    create_topic(&target, &topic, 1).await;
    write(&producer(&source), &topic, 0, &records(0..10));
    write(&producer(&target), &topic, 0, &records(0..10));
    let workspace = Workspace::new("verify-stable");
    let config = |stable_for: &str| {
        format!(
            r#"{clusters}
assert "caught_up" {{
  timeout       = "6s"
  poll_interval = "200ms"
  lag {{
    source      = cluster.source
    target      = cluster.target
    topics      = ["{topic}"]
    max_records = 0
    {stable_for}
  }}
}}
"#,
            clusters = clusters()
        )
    };
    // In bounds now, so without stable_for it holds at once.
    workspace.write("main.hcl", &config(""));
    workspace.expect(&["verify"], 0);

    // With stable_for, the source moves ahead while the window runs: rejected.
    workspace.write("main.hcl", &config("stable_for = \"4s\""));
    let writer = {
        let (source, topic) = (source.clone(), topic.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            write(&producer(&source), &topic, 0, &records(10..15));
        })
    };
    let rejected = workspace.expect(&["verify"], 3);
    writer.join().expect("writer");
    assert!(rejected.contains("stopped holding"), "{rejected}");
    assert!(
        rejected
            .contains("assertion failed  assert.caught_up: lag: the mirror is 5 records behind"),
        "{rejected}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn quiescence_fails_while_a_producer_writes_and_passes_after_it_stops() {
    let source = legacy_bootstrap();
    let topic = unique_name("verify-quiet");
    create_topic(&source, &topic, 1).await;
    let workspace = Workspace::new("verify-quiet");
    workspace.write(
        "main.hcl",
        &format!(
            r#"{clusters}
assert "legacy_quiet" {{
  timeout       = "3s"
  poll_interval = "250ms"
  quiescent {{
    cluster = cluster.source
    topics  = ["{topic}"]
    groups  = ["{topic}-consumers"]
    for     = "1s"
  }}
}}
"#,
            clusters = clusters()
        ),
    );
    let running = BackgroundProducer::start(&source, &topic, Duration::from_millis(50));
    std::thread::sleep(Duration::from_millis(300));
    let busy = workspace.expect(&["verify"], 3);
    assert!(
        busy.contains(&format!("received writes ({topic}/0 ")),
        "{busy}"
    );
    running.stop();
    let quiet = workspace.expect(&["verify"], 0);
    assert!(
        quiet.contains("holds: quiescent: cluster.source: no writes to 1 partitions"),
        "{quiet}"
    );
}

/// Every topic on the target, internal ones included.
fn target_topics() -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", target_bootstrap())
        .create()
        .expect("consumer");
    consumer
        .fetch_metadata(None, TIMEOUT)
        .expect("target metadata")
        .topics()
        .iter()
        .map(|topic| topic.name().to_owned())
        .collect()
}

/// A throughput assertion on the target: one 3s load test (the timeout is shorter than the
/// duration), throttled to 2 MB/s so the shared broker is not saturated.
fn throughput_assert(name: &str, bounds: &str) -> String {
    // A cap of 2 MB/s keeps the shared brokers light; a bound above it would be refused by
    // the schema (a cap below min_mb_per_s could never hold), so such a case sets its own.
    let cap = if bounds.contains("rate_mb_per_s") {
        ""
    } else {
        "rate_mb_per_s = 2"
    };
    format!(
        r#"{clusters}
assert "{name}" {{
  timeout = "1s"
  throughput {{
    cluster       = cluster.target
    {bounds}
    duration      = "3s"
    {cap}
    partitions    = 2
  }}
}}
"#,
        clusters = clusters()
    )
}

/// The evidence of the throughput check of `assert.NAME`, from state.
fn throughput_evidence(workspace: &Workspace, name: &str) -> serde_json::Value {
    let state: serde_json::Value =
        serde_json::from_str(&workspace.state_text()).expect("state is JSON");
    state["assertions"][format!("assert.{name}")]["checks"]["throughput"].clone()
}

/// The scratch topic the evidence names, checked to be gone from the target.
fn assert_scratch_topic_deleted(evidence: &serde_json::Value) {
    let topic = evidence["topic"].as_str().expect("topic in the evidence");
    assert!(topic.starts_with("_cutover.throughput."), "{evidence}");
    assert_eq!(evidence["topic_deleted"], true, "{evidence}");
    assert!(
        !target_topics().iter().any(|listed| listed == topic),
        "the scratch topic {topic} is still on the target"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throughput_holds_on_the_target_and_deletes_its_scratch_topic() {
    let workspace = Workspace::new("verify-throughput");
    workspace.write(
        "main.hcl",
        &throughput_assert(
            "target_takes_the_load",
            "min_mb_per_s = 0.1\n    max_p99_ms   = 10000",
        ),
    );
    let plan = workspace.expect(&["plan"], 0);
    assert!(
        plan.contains("# assert.target_takes_the_load will be checked"),
        "{plan}"
    );

    let held = workspace.expect(&["verify"], 0);
    assert!(
        held.contains("assert.target_takes_the_load: holds: throughput: "),
        "{held}"
    );
    assert!(
        held.contains(
            "over 3s on cluster.target (min 0.1 MB/s, max p99 10000 ms, capped at 2 MB/s)"
        ),
        "{held}"
    );
    let evidence = throughput_evidence(&workspace, "target_takes_the_load");
    assert_eq!(evidence["holds"], true, "{evidence}");
    for rate in ["produced_mb_per_s", "consumed_mb_per_s"] {
        let measured = evidence[rate].as_f64().unwrap_or_default();
        // Throttled to 2 MB/s: above the bound, and not much above the cap.
        assert!(measured > 0.1 && measured < 2.5, "{rate}: {evidence}");
    }
    let p99 = evidence["latency_ms"]["p99"].as_f64().unwrap_or_default();
    assert!(p99 > 0.0 && p99 <= 10_000.0, "{evidence}");
    assert!(
        evidence["records_delivered"].as_u64() > Some(0),
        "{evidence}"
    );
    assert_eq!(
        evidence["records_consumed"], evidence["records_delivered"],
        "{evidence}"
    );
    assert_eq!(evidence["records_failed"], 0, "{evidence}");
    assert_scratch_topic_deleted(&evidence);
}

#[tokio::test(flavor = "multi_thread")]
async fn throughput_below_min_mb_per_s_fails_with_exit_3_naming_the_measured_rate() {
    let workspace = Workspace::new("verify-throughput-slow");
    workspace.write(
        "main.hcl",
        &throughput_assert(
            "target_impossible",
            "min_mb_per_s  = 100000\n    rate_mb_per_s = 100000",
        ),
    );
    let failed = workspace.expect(&["verify"], 3);
    let evidence = throughput_evidence(&workspace, "target_impossible");
    let produced = evidence["produced_mb_per_s"].as_f64().unwrap_or_default();
    assert!(produced > 0.0, "{evidence}");
    assert!(
        failed.contains("assertion failed  assert.target_impossible: throughput: produced "),
        "{failed}"
    );
    assert!(
        failed.contains(" MB/s, less than min_mb_per_s = 100000; measured "),
        "{failed}"
    );
    assert!(failed.contains(" MB/s produced, "), "{failed}");
    assert_eq!(evidence["holds"], false, "{evidence}");
    assert_scratch_topic_deleted(&evidence);
}

/// The evidence of the `zero_divergence` check of `assert.NAME`, from state.
fn zero_divergence_evidence(workspace: &Workspace, name: &str) -> serde_json::Value {
    let state: serde_json::Value =
        serde_json::from_str(&workspace.state_text()).expect("state is JSON");
    state["assertions"][format!("assert.{name}")]["checks"]["zero_divergence"].clone()
}

/// A `zero_divergence` assertion over one topic with extra arguments (`mode`, …).
fn zero_divergence_assert_with(name: &str, topic: &str, arguments: &str) -> String {
    format!(
        r#"
assert "{name}" {{
  timeout       = "1s"
  poll_interval = "200ms"
  zero_divergence {{
    source = cluster.source
    target = cluster.target
    topics = ["{topic}"]
    {arguments}
  }}
}}
"#
    )
}

/// Moves the log start of `topic/partition` to `offset` (DeleteRecords).
async fn delete_records_before(bootstrap: &str, topic: &str, partition: i32, offset: i64) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let mut before = rdkafka::TopicPartitionList::new();
    before
        .add_partition_offset(topic, partition, rdkafka::Offset::Offset(offset))
        .expect("partition offset");
    admin
        .delete_records(
            &before,
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("delete records");
}

fn log_range(bootstrap: &str, topic: &str, partition: i32) -> (i64, i64) {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    consumer
        .fetch_watermarks(topic, partition, TIMEOUT)
        .expect("watermarks")
}

#[tokio::test(flavor = "multi_thread")]
async fn sampled_zero_divergence_states_the_fraction_compared_and_finds_changes_inside_its_windows()
{
    let (source, target) = (legacy_bootstrap(), target_bootstrap());
    let base = unique_name("verify-sample");
    // 4000 records a partition and sample_fraction = 0.5: two windows of 1000 records,
    // [0, 1000) and [3000, 4000) (the last one always at the end); [1000, 3000) is skipped.
    const RECORDS: usize = 4000;
    let changed_at = |offset: usize| {
        let mut changed = records(0..RECORDS);
        changed[offset].1 = "tampered".to_owned();
        changed
    };
    // (name, partitions, what the target's partition 1 holds)
    let variants = [
        ("identical", 3, records(0..RECORDS)),
        ("inside", 2, changed_at(3500)),
        ("between", 2, changed_at(2000)),
        ("short", 2, records(0..RECORDS - 1)),
    ];
    let (source_producer, target_producer) = (producer(&source), producer(&target));
    let mut config = clusters();
    let sampled_half = "mode            = \"sample\"\n    sample_fraction = 0.5";
    for (name, partitions, partition_1) in &variants {
        let topic = format!("{base}-{name}");
        create_topic(&source, &topic, *partitions).await;
        create_topic(&target, &topic, *partitions).await;
        for partition in 0..*partitions {
            write(&source_producer, &topic, partition, &records(0..RECORDS));
            let on_target = if partition == 1 {
                partition_1.clone()
            } else {
                records(0..RECORDS)
            };
            write(&target_producer, &topic, partition, &on_target);
        }
        config.push_str(&zero_divergence_assert_with(name, &topic, sampled_half));
    }
    // "short" also starts later on the target: its partition 0's log starts at 100 there.
    delete_records_before(&target, &format!("{base}-short"), 0, 100).await;
    config.push_str(&zero_divergence_assert_with(
        "identical_default_fraction",
        &format!("{base}-identical"),
        "mode = \"sample\"",
    ));
    config.push_str(&zero_divergence_assert_with(
        "between_in_full",
        &format!("{base}-between"),
        "",
    ));
    let workspace = Workspace::new("verify-sample");
    workspace.write("main.hcl", &config);

    // Identical: holds, and says how much was compared: 2 windows of 1000 of each 4000.
    let held = workspace.expect(&["verify", "-target", "assert.identical"], 0);
    assert!(
        held.contains("assert.identical: holds: zero_divergence: 3 partitions of 1 topic identical (6000 records compared now"),
        "{held}"
    );
    assert!(held.contains(", sampled 50.0%"), "{held}");
    let evidence = zero_divergence_evidence(&workspace, "identical");
    assert_eq!(evidence["mode"], "sample", "{evidence}");
    assert_eq!(evidence["sampled_fraction"], 0.5, "{evidence}");
    assert_eq!(evidence["records_compared"], 6000, "{evidence}");
    for partition in 0..3 {
        let compared = &evidence["partitions"][format!("{base}-identical/{partition}")];
        assert_eq!(compared["records_compared"], 2000, "{compared}");
        // Sampling is not incremental: nothing counts as verified up to an offset.
        assert_eq!(
            compared["verified_to"],
            serde_json::Value::Null,
            "{compared}"
        );
    }

    // The default fraction 0.1 of 4000 records is less than one window: the one window at
    // the end is compared, and the fraction stated is what it covers.
    let held = workspace.expect(
        &["verify", "-target", "assert.identical_default_fraction"],
        0,
    );
    assert!(held.contains("(3000 records compared now"), "{held}");
    assert!(held.contains(", sampled 25.0%"), "{held}");
    let evidence = zero_divergence_evidence(&workspace, "identical_default_fraction");
    assert_eq!(evidence["sampled_fraction"], 0.25, "{evidence}");

    // A change inside a window is found, with its partition and offset.
    let failed = workspace.expect(&["verify", "-target", "assert.inside"], 3);
    let named = format!("{base}-inside/1: first diverging offset 3500: the values differ");
    assert!(failed.contains(&named), "expected {named:?} in:\n{failed}");
    assert!(!failed.contains(&format!("{base}-inside/0:")), "{failed}");
    let evidence = zero_divergence_evidence(&workspace, "inside");
    let partition = &evidence["partitions"][format!("{base}-inside/1")];
    assert_eq!(partition["first_diverging_offset"], 3500, "{partition}");
    assert_eq!(
        evidence["partitions"][format!("{base}-inside/0")]["holds"],
        true,
        "{evidence}"
    );

    // A change between the windows is not compared, as documented: the sample holds; the
    // full comparison of the same topic finds it.
    let missed = workspace.expect(&["verify", "-target", "assert.between"], 0);
    assert!(
        missed.contains("assert.between: holds: zero_divergence: 2 partitions of 1 topic identical (4000 records compared now"),
        "{missed}"
    );
    assert!(missed.contains(", sampled 50.0%"), "{missed}");
    let full = workspace.expect(&["verify", "-target", "assert.between_in_full"], 3);
    let named = format!("{base}-between/1: first diverging offset 2000: the values differ");
    assert!(full.contains(&named), "expected {named:?} in:\n{full}");

    // Log start and end offsets are still compared whatever the sample: partition 0 starts
    // later on the target, partition 1 lacks its last record there, and both windows of each
    // were compared and agreed.
    let failed = workspace.expect(&["verify", "-target", "assert.short"], 3);
    let named = format!(
        "{base}-short/0: first diverging offset 0: log start offsets differ: source 0, target 100 (and 1 more partitions)"
    );
    assert!(failed.contains(&named), "expected {named:?} in:\n{failed}");
    let evidence = zero_divergence_evidence(&workspace, "short");
    let lacking = &evidence["partitions"][format!("{base}-short/1")];
    assert_eq!(lacking["first_diverging_offset"], 3999, "{lacking}");
    assert_eq!(
        lacking["reason"],
        "end offsets differ: source 4000, target 3999 (the target lacks 1 records)",
        "{lacking}"
    );
    assert_eq!(lacking["records_compared"], 2000, "{lacking}");
    let trimmed = &evidence["partitions"][format!("{base}-short/0")];
    assert_eq!(trimmed["records_compared"], 2000, "{trimmed}");
}

fn transactional_producer(bootstrap: &str) -> BaseProducer {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", unique_name("verify-tx"))
        .create()
        .expect("transactional producer");
    producer
        .init_transactions(TIMEOUT)
        .expect("init transactions");
    producer
}

/// Clusters and a translating mirror of one topic (its own offset map topic, named after it),
/// then `extra`.
fn translating_mirror_config(topic: &str, cluster_settings: &str, extra: &str) -> String {
    format!(
        r#"
cluster "source" {{
  bootstrap_servers = ["{source}"]
  {cluster_settings}
}}
cluster "target" {{
  bootstrap_servers = ["{target}"]
  {cluster_settings}
}}
resource "kafka_mirror" "main" {{
  source  = cluster.source
  target  = cluster.target
  topics  = ["{topic}"]
  offsets = "translate"
  name    = "{topic}"
}}
{extra}
"#,
        source = legacy_bootstrap(),
        target = target_bootstrap(),
    )
}

const MIRROR_DIVERGENCE_ASSERT: &str = r#"
assert "mirrored" {
  timeout       = "1s"
  poll_interval = "200ms"
  zero_divergence {
    mirror = kafka_mirror.main
  }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn zero_divergence_through_a_translating_mirror_pairs_records_by_the_offset_map() {
    let (source, target) = (legacy_bootstrap(), target_bootstrap());
    let topic = unique_name("verify-translate");
    create_topic(&source, &topic, 1).await;
    // Source: 10 committed (0-9, marker 10), 5 aborted (11-15, marker 16), 10 committed
    // (17-26, marker 27), then 5 plain records (28-32); the log start then moves to 5. The
    // comparison must skip the gap and start at 5.
    let transactional = transactional_producer(&source);
    transaction(&transactional, &topic, "a", 10, true);
    transaction(&transactional, &topic, "aborted", 5, false);
    transaction(&transactional, &topic, "b", 10, true);
    write(&producer(&source), &topic, 0, &records(0..5));
    delete_records_before(&source, &topic, 0, 5).await;
    assert_eq!(log_range(&source, &topic, 0), (5, 33));
    // The target partition holds 3 records of its own first: target offsets are shifted.
    create_topic(&target, &topic, 1).await;
    let target_producer = producer(&target);
    write(&target_producer, &topic, 0, &records(100..103));

    let workspace = Workspace::new("verify-translate");
    workspace.write(
        "main.hcl",
        &translating_mirror_config(&topic, "", MIRROR_DIVERGENCE_ASSERT),
    );
    let applied = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(
        applied.contains(
            "assert.mirrored: holds: zero_divergence: 1 partitions of 1 topic identical (20 records compared now"
        ),
        "{applied}"
    );
    // The mirror's own transactions add their commit markers on the target.
    let (_, mirrored_end) = log_range(&target, &topic, 0);
    assert!((24..=26).contains(&mirrored_end), "{mirrored_end}");
    let evidence = zero_divergence_evidence(&workspace, "mirrored");
    let partition = &evidence["partitions"][format!("{topic}/0")];
    assert_eq!(partition["records_compared"], 20, "{partition}");
    assert_eq!(partition["verified_to"], 33, "{partition}");
    assert_eq!(partition["source"]["log_start"], 5, "{partition}");

    // A record written on the target only, after the mirrored ones: the map does not account
    // for it, so it is someone else's write.
    let written_on_target = [(999, "written on the target".to_owned())];
    write(&target_producer, &topic, 0, &written_on_target);
    let extra = workspace.expect(&["verify"], 3);
    let named = format!(
        "{topic}/0: first diverging offset 33: the target holds a record the mirror did not write at offset {mirrored_end}"
    );
    assert!(extra.contains(&named), "expected {named:?} in:\n{extra}");

    // The source gets its own record 33, with the same key and timestamp but another value:
    // the mirror has not copied it (the target's record is not its copy).
    let written_on_source = [(999, "written on the source".to_owned())];
    write(&producer(&source), &topic, 0, &written_on_source);
    let differs = workspace.expect(&["verify"], 3);
    let named = format!(
        "{topic}/0: first diverging offset 33: the target holds source records up to 33, the source ends at 34"
    );
    assert!(
        differs.contains(&named),
        "expected {named:?} in:\n{differs}"
    );
    let evidence = zero_divergence_evidence(&workspace, "mirrored");
    let partition = &evidence["partitions"][format!("{topic}/0")];
    assert_eq!(partition["first_diverging_offset"], 33, "{partition}");
    assert_eq!(partition["target"]["end"], mirrored_end + 1, "{partition}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_target_ahead_accepts_writes_past_the_source_end_but_not_a_changed_mirrored_record() {
    let (source, target) = (legacy_bootstrap(), target_bootstrap());
    let ahead = unique_name("verify-ahead");
    let tampered = unique_name("verify-ahead-tampered");
    create_topic(&source, &ahead, 2).await;
    create_topic(&target, &ahead, 2).await;
    create_topic(&source, &tampered, 1).await;
    create_topic(&target, &tampered, 1).await;
    let (source_producer, target_producer) = (producer(&source), producer(&target));
    for partition in 0..2 {
        write(&source_producer, &ahead, partition, &records(0..100));
    }
    write(&source_producer, &tampered, 0, &records(0..100));
    // The tampered target already holds the first 50 records, record 5 changed (the record
    // before the mirror's resume point is the source's, so the mirror copies the rest).
    let mut first_half = records(0..50);
    first_half[5].1 = "tampered".to_owned();
    write(&target_producer, &tampered, 0, &first_half);

    let workspace = Workspace::new("verify-ahead");
    let mirror = format!(
        r#"{clusters}
resource "kafka_mirror" "main" {{
  source = cluster.source
  target = cluster.target
  topics = ["{ahead}", "{tampered}"]
}}
"#,
        clusters = clusters()
    );
    workspace.write("main.hcl", &mirror);
    workspace.expect(&["apply", "-auto-approve"], 0);
    assert_eq!(log_range(&target, &ahead, 0), (0, 100));
    assert_eq!(log_range(&target, &tampered, 0), (0, 100));

    // The producers move: 5 records written on the target, past the source's end.
    write(&target_producer, &ahead, 0, &records(100..105));
    write(&target_producer, &tampered, 0, &records(100..105));
    let check = |name: &str, topic: &str, allow: bool| {
        format!(
            r#"
assert "{name}" {{
  timeout       = "1s"
  poll_interval = "200ms"
  zero_divergence {{
    mirror             = kafka_mirror.main
    topics             = ["{topic}"]
    allow_target_ahead = {allow}
  }}
}}
"#
        )
    };
    workspace.write(
        "main.hcl",
        &format!(
            "{mirror}{}{}{}",
            check("strict", &ahead, false),
            check("ahead_allowed", &ahead, true),
            check("tampered_ahead_allowed", &tampered, true)
        ),
    );

    let strict = workspace.expect(&["verify", "-target", "assert.strict"], 3);
    let named = format!(
        "{ahead}/0: first diverging offset 100: end offsets differ: source 100, target 105 (the target has 5 extra records)"
    );
    assert!(strict.contains(&named), "expected {named:?} in:\n{strict}");
    assert!(!strict.contains(&format!("{ahead}/1:")), "{strict}");

    let allowed = workspace.expect(&["verify", "-target", "assert.ahead_allowed"], 0);
    assert!(
        allowed.contains("assert.ahead_allowed: holds: zero_divergence: 2 partitions of 1 topic identical (200 records compared now"),
        "{allowed}"
    );
    let evidence = zero_divergence_evidence(&workspace, "ahead_allowed");
    assert_eq!(
        evidence["partitions"][format!("{ahead}/0")]["verified_to"],
        100,
        "{evidence}"
    );

    // The flag excuses only what is past the source's end.
    let tampered_run = workspace.expect(&["verify", "-target", "assert.tampered_ahead_allowed"], 3);
    let named = format!("{tampered}/0: first diverging offset 5: the values differ");
    assert!(
        tampered_run.contains(&named),
        "expected {named:?} in:\n{tampered_run}"
    );
}

// Known verifier bugs, pinned: each test states the correct behaviour and fails today.

#[tokio::test(flavor = "multi_thread")]
async fn regression_sampled_fraction_counts_overlapping_windows_twice() {
    let (source, target) = (legacy_bootstrap(), target_bootstrap());
    let topic = unique_name("verify-sample-overlap");
    create_topic(&source, &topic, 1).await;
    create_topic(&target, &topic, 1).await;
    write(&producer(&source), &topic, 0, &records(0..1500));
    write(&producer(&target), &topic, 0, &records(0..1500));
    let workspace = Workspace::new("verify-sample-overlap");
    workspace.write(
        "main.hcl",
        &format!(
            "{}{}",
            clusters(),
            zero_divergence_assert_with(
                "whole",
                &topic,
                "mode            = \"sample\"\n    sample_fraction = 1"
            )
        ),
    );
    // Two windows of 1000 over 1500 records overlap by 500: 1500 records, not 2000, compared.
    let held = workspace.expect(&["verify"], 0);
    assert!(held.contains(", sampled 100.0%"), "{held}");
    let evidence = zero_divergence_evidence(&workspace, "whole");
    assert_eq!(evidence["sampled_fraction"], 1.0, "{evidence}");
    assert_eq!(evidence["records_compared"], 1500, "{evidence}");
}

#[tokio::test(flavor = "multi_thread")]
async fn regression_zero_divergence_waits_for_a_record_past_trailing_transaction_markers() {
    let (source, target) = (legacy_bootstrap(), target_bootstrap());
    let topic = unique_name("verify-trailing-marker");
    create_topic(&source, &topic, 1).await;
    create_topic(&target, &topic, 1).await;
    // 10 committed records (0-9) and the commit marker (10): the source ends at 11.
    transaction(&transactional_producer(&source), &topic, "a", 10, true);
    assert_eq!(log_range(&source, &topic, 0), (0, 11));
    let workspace = Workspace::new("verify-trailing-marker");
    workspace.write(
        "main.hcl",
        &translating_mirror_config(&topic, "timeout = \"3s\"", MIRROR_DIVERGENCE_ASSERT),
    );
    // Today: "cluster.source: reading …/0 returned nothing for 3s" (the comparison waits for
    // a record at offset 10 or later, which never comes).
    let applied = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(
        applied.contains("assert.mirrored: holds: zero_divergence: 1 partitions of 1 topic identical (10 records compared now"),
        "{applied}"
    );
}
