//! Kafka providers against the local brokers (needs `scripts/env up`): topics through the
//! SCRAM listener of the target (create, no-op re-plan, config change and partition increase
//! in place, replace on decrease guarded by prevent_destroy, drift, destroy, import), the
//! `kafka_topics` data source on the legacy cluster, an unreachable cluster, and consumer-group
//! offsets copied for an idle group (coordinator- and ZooKeeper-stored) and refused for an active
//! one. Every result is checked with an independent client, not through cutover.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cutover::kafka::zookeeper::ZooKeeper;
use rdkafka::ClientConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::{Workspace, legacy_bootstrap, target_bootstrap, unique_name};

const TIMEOUT: Duration = Duration::from_secs(30);

fn scram_bootstrap() -> String {
    std::env::var("CUTOVER_TARGET_SCRAM_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:29094".into())
}

fn zookeeper_connect() -> String {
    std::env::var("CUTOVER_ZOOKEEPER").unwrap_or_else(|_| {
        format!(
            "127.0.0.1:{}",
            std::env::var("CUTOVER_ZK_PORT").unwrap_or_else(|_| "12181".into())
        )
    })
}

/// The cluster blocks every test configuration starts with.
fn clusters() -> String {
    format!(
        r#"
cluster "target" {{
  bootstrap_servers = ["{scram}"]
  security_protocol = "SASL_PLAINTEXT"
  sasl_mechanism    = "SCRAM-SHA-512"
  sasl_username     = "cutover"
  sasl_password     = var.scram_password
}}

cluster "legacy" {{
  bootstrap_servers = "{legacy}"
  zookeeper         = "{zookeeper}"
}}

variable "scram_password" {{
  type      = string
  sensitive = true
  default   = "cutover-secret"
}}
"#,
        scram = scram_bootstrap(),
        legacy = legacy_bootstrap(),
        zookeeper = zookeeper_connect(),
    )
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client")
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let results = admin(bootstrap)
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("create topic");
    for result in results {
        result.expect("topic created");
    }
    let deadline = Instant::now() + TIMEOUT;
    while partitions_of(bootstrap, name) != Some(partitions as usize) {
        assert!(Instant::now() < deadline, "topic {name} never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn partitions_of(bootstrap: &str, topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("metadata client");
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).ok()?;
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len())
}

/// The topic's own (non-default) configs, read with an independent admin client.
async fn topic_config(bootstrap: &str, topic: &str) -> BTreeMap<String, String> {
    let results = admin(bootstrap)
        .describe_configs(
            &[ResourceSpecifier::Topic(topic)],
            &AdminOptions::new().request_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("describe configs");
    let resource = results
        .into_iter()
        .next()
        .unwrap()
        .expect("config resource");
    resource
        .entries
        .into_iter()
        .filter(|e| e.source == rdkafka::admin::ConfigSource::DynamicTopic)
        .filter_map(|e| e.value.map(|v| (e.name, v)))
        .collect()
}

async fn produce(bootstrap: &str, topic: &str, partition: i32, count: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    for index in 0..count {
        let payload = format!("record-{index}");
        producer
            .send(
                FutureRecord::<(), _>::to(topic)
                    .partition(partition)
                    .payload(&payload),
                TIMEOUT,
            )
            .await
            .unwrap_or_else(|(error, _)| panic!("produce to {topic}: {error}"));
    }
}

fn commit_group(bootstrap: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for (partition, offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .unwrap();
    }
    consumer.commit(&list, CommitMode::Sync).expect("commit");
}

fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let found = consumer
        .committed_offsets(list, TIMEOUT)
        .expect("committed");
    (0..partitions)
        .map(
            |p| match found.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(offset)) => Some(offset),
                _ => None,
            },
        )
        .collect()
}

/// Plan output with the run-specific topic name replaced, for snapshots.
fn normalized(output: &str, name: &str) -> String {
    output.replace(name, "TOPIC")
}

fn topic_config_block(name: &str, partitions: i32, config: &str, lifecycle: &str) -> String {
    format!(
        r#"{clusters}
resource "kafka_topic" "orders" {{
  cluster    = cluster.target
  name       = "{name}"
  partitions = {partitions}
  config     = {{ {config} }}
  {lifecycle}
}}
"#,
        clusters = clusters()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_round_trip_through_the_scram_listener() {
    let plaintext = target_bootstrap();
    let name = unique_name("orders");
    let workspace = Workspace::new("kafka-topic");

    // Create.
    workspace.write(
        "main.hcl",
        &topic_config_block(&name, 2, r#""retention.ms" = 86400000"#, ""),
    );
    let plan = workspace.expect(&["plan"], 0);
    insta::assert_snapshot!("topic_create_plan", normalized(&plan, &name));
    workspace.expect(&["apply", "-auto-approve"], 0);
    assert_eq!(partitions_of(&plaintext, &name), Some(2));
    let config = topic_config(&plaintext, &name).await;
    assert_eq!(
        config.get("retention.ms").map(String::as_str),
        Some("86400000")
    );
    assert!(!workspace.state_text().contains("cutover-secret"));

    // Broker defaults are not drift: the re-plan is empty.
    let replan = workspace.expect(&["plan", "-detailed-exitcode"], 0);
    assert!(replan.contains("No changes"), "{replan}");

    // A config changed and partitions increased: one update in place.
    workspace.write(
        "main.hcl",
        &topic_config_block(
            &name,
            4,
            r#""retention.ms" = 3600000, "cleanup.policy" = "compact""#,
            "",
        ),
    );
    let update = workspace.expect(&["plan"], 0);
    insta::assert_snapshot!("topic_update_plan", normalized(&update, &name));
    workspace.expect(&["apply", "-auto-approve"], 0);
    assert_eq!(partitions_of(&plaintext, &name), Some(4));
    let config = topic_config(&plaintext, &name).await;
    assert_eq!(
        config.get("retention.ms").map(String::as_str),
        Some("3600000")
    );
    assert_eq!(
        config.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );

    // A config set outside cutover is drift, and the plan removes it (shown, not by accident).
    let alter = AlterConfig::new(ResourceSpecifier::Topic(&name))
        .set("retention.ms", "3600000")
        .set("cleanup.policy", "compact")
        .set("max.message.bytes", "2000000");
    admin(&plaintext)
        .alter_configs(
            &[alter],
            &AdminOptions::new().request_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("alter configs")
        .into_iter()
        .for_each(|r| {
            r.expect("altered");
        });
    let drift = workspace.expect(&["plan", "-detailed-exitcode"], 2);
    assert!(drift.contains("changed outside of cutover"), "{drift}");
    assert!(
        drift.contains("\"max.message.bytes\" = \"2000000\""),
        "{drift}"
    );
    workspace.expect(&["apply", "-auto-approve"], 0);
    let config = topic_config(&plaintext, &name).await;
    assert!(!config.contains_key("max.message.bytes"), "{config:?}");

    // A decrease is a replacement; prevent_destroy refuses it at plan time.
    workspace.write(
        "main.hcl",
        &topic_config_block(
            &name,
            3,
            r#""retention.ms" = 3600000, "cleanup.policy" = "compact""#,
            "lifecycle { prevent_destroy = true }",
        ),
    );
    let refused = workspace.expect(&["plan"], 1);
    assert!(refused.contains("prevent_destroy"), "{refused}");
    workspace.write(
        "main.hcl",
        &topic_config_block(
            &name,
            3,
            r#""retention.ms" = 3600000, "cleanup.policy" = "compact""#,
            "",
        ),
    );
    let replace = workspace.expect(&["plan"], 0);
    insta::assert_snapshot!("topic_replace_plan", normalized(&replace, &name));
    workspace.expect(&["apply", "-auto-approve"], 0);
    assert_eq!(partitions_of(&plaintext, &name), Some(3));

    // Destroy.
    let destroy = workspace.expect(&["destroy", "-auto-approve"], 0);
    assert!(destroy.contains("1 destroyed"), "{destroy}");
    assert_eq!(partitions_of(&plaintext, &name), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_topic_is_imported_by_name() {
    let plaintext = target_bootstrap();
    let name = unique_name("imported");
    create_topic(&plaintext, &name, 3).await;
    let workspace = Workspace::new("kafka-import");
    workspace.write("main.hcl", &topic_config_block(&name, 3, "", ""));
    let imported = workspace.expect(&["import", "kafka_topic.orders", &name], 0);
    assert!(imported.contains("Import successful"), "{imported}");
    let plan = workspace.expect(&["plan", "-detailed-exitcode"], 0);
    assert!(plan.contains("No changes"), "{plan}");

    // The import block form, shown in the plan before anything happens.
    let other = unique_name("imported-block");
    create_topic(&plaintext, &other, 1).await;
    let workspace = Workspace::new("kafka-import-block");
    workspace.write(
        "main.hcl",
        &format!(
            "{}\nimport {{\n  to = kafka_topic.orders\n  id = \"{other}\"\n}}\n",
            topic_config_block(&other, 1, "", "")
        ),
    );
    let plan = workspace.expect(&["plan"], 0);
    assert!(plan.contains("will be imported"), "{plan}");
    workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(workspace.state_text().contains(&other));
    workspace.expect(&["destroy", "-auto-approve"], 0);
    assert_eq!(partitions_of(&plaintext, &other), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_topics_lists_the_source_with_offsets_and_configs() {
    let legacy = legacy_bootstrap();
    let prefix = unique_name("listed");
    let first = format!("{prefix}-a");
    let second = format!("{prefix}-b");
    create_topic(&legacy, &first, 2).await;
    create_topic(&legacy, &second, 1).await;
    produce(&legacy, &first, 1, 5).await;
    let alter = AlterConfig::new(ResourceSpecifier::Topic(&second)).set("retention.ms", "120000");
    admin(&legacy)
        .alter_configs(
            &[alter],
            &AdminOptions::new().request_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("alter")
        .into_iter()
        .for_each(|r| {
            r.expect("altered");
        });

    let workspace = Workspace::new("kafka-topics-data");
    workspace.write(
        "main.hcl",
        &format!(
            r#"{clusters}
data "kafka_topics" "source" {{
  cluster = cluster.legacy
  include = ["{prefix}-.*"]
  exclude = [".*-b"]
}}
data "kafka_topics" "both" {{
  cluster = cluster.legacy
  include = ["{prefix}-.*"]
}}
output "names" {{ value = data.kafka_topics.source.names }}
output "first" {{ value = data.kafka_topics.both.topics["{first}"] }}
output "second_config" {{ value = data.kafka_topics.both.topics["{second}"].config }}
"#,
            clusters = clusters()
        ),
    );
    workspace.expect(&["apply", "-auto-approve"], 0);
    let output = workspace.expect(&["output", "-json"], 0);
    let json: serde_json::Value = serde_json::from_str(&output).expect("json");
    assert_eq!(json["names"]["value"], serde_json::json!([first]));
    let topic = &json["first"]["value"];
    assert_eq!(topic["partitions"], 2);
    assert_eq!(topic["replication_factor"], 1);
    assert_eq!(topic["config"], serde_json::json!({}));
    assert_eq!(
        topic["partition_offsets"],
        serde_json::json!([
            {"partition": 0, "log_start": 0, "log_end": 0},
            {"partition": 1, "log_start": 0, "log_end": 5},
        ])
    );
    assert_eq!(
        json["second_config"]["value"],
        serde_json::json!({"retention.ms": "120000"})
    );
}

#[test]
fn an_unreachable_cluster_fails_the_plan_naming_it() {
    let workspace = Workspace::new("kafka-unreachable");
    workspace.write(
        "main.hcl",
        r#"
cluster "gone" {
  bootstrap_servers = ["127.0.0.1:1"]
  timeout           = "3s"
}
resource "kafka_topic" "t" {
  cluster    = cluster.gone
  name       = "never"
  partitions = 1
}
"#,
    );
    let started = Instant::now();
    let output = workspace.expect(&["plan"], 1);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
    assert!(output.contains("cluster.gone"), "{output}");
    assert!(output.contains("127.0.0.1:1"), "{output}");
    assert!(
        output.to_lowercase().contains("connection refused"),
        "librdkafka's reason is missing: {output}"
    );
    assert!(workspace.state_text().is_empty());

    // A mistyped librdkafka property is refused by name.
    workspace.write(
        "main.hcl",
        r#"
cluster "typo" {
  bootstrap_servers = ["127.0.0.1:1"]
  properties        = { "fetch.wait.max.msec" = "10" }
}
data "kafka_topics" "t" { cluster = cluster.typo }
"#,
    );
    let output = workspace.expect(&["plan"], 1);
    assert!(output.contains("fetch.wait.max.msec"), "{output}");
}

fn offsets_config(topic: &str, groups: &[&str], strategy: &str) -> String {
    let groups: Vec<String> = groups.iter().map(|g| format!("\"{g}\"")).collect();
    format!(
        r#"{clusters}
resource "kafka_consumer_group_offsets" "moved" {{
  source   = cluster.legacy
  target   = cluster.target
  groups   = [{groups}]
  topics   = ["{topic}"]
  strategy = "{strategy}"
}}
output "offsets" {{ value = kafka_consumer_group_offsets.moved.offsets }}
"#,
        clusters = clusters(),
        groups = groups.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_offsets_are_copied_for_idle_groups_and_refused_for_active_ones() {
    let legacy = legacy_bootstrap();
    let target = target_bootstrap();
    let topic = unique_name("offsets");
    // The same records on both sides, as a mirror that preserves offsets leaves them.
    create_topic(&legacy, &topic, 2).await;
    create_topic(&target, &topic, 2).await;
    for bootstrap in [&legacy, &target] {
        produce(bootstrap, &topic, 0, 10).await;
        produce(bootstrap, &topic, 1, 4).await;
    }
    let group = unique_name("app");
    commit_group(&legacy, &group, &topic, &[(0, 7), (1, 4)]);
    // A 0.8-era consumer keeps its offsets in ZooKeeper.
    let zk_group = unique_name("zkapp");
    let mut zk = ZooKeeper::connect(&zookeeper_connect(), TIMEOUT)
        .await
        .expect("zookeeper");
    zk.create_all(&format!("/consumers/{zk_group}/offsets/{topic}/0"), b"3")
        .await
        .expect("write zookeeper offset");
    zk.close().await;

    let workspace = Workspace::new("kafka-offsets");
    workspace.write(
        "main.hcl",
        &offsets_config(&topic, &[&group, &zk_group], "translate"),
    );
    let plan = workspace.expect(&["plan"], 0);
    assert!(plan.contains(&format!("\"{topic}/0\" = 7")), "{plan}");
    workspace.expect(&["apply", "-auto-approve"], 0);
    assert_eq!(
        committed(&target, &group, &topic, 2),
        vec![Some(7), Some(4)]
    );
    assert_eq!(
        committed(&target, &zk_group, &topic, 2),
        vec![Some(3), None]
    );

    // Earliest: the target's log start.
    let early = unique_name("early");
    commit_group(&legacy, &early, &topic, &[(0, 9)]);
    workspace.write("main.hcl", &offsets_config(&topic, &[&early], "earliest"));
    workspace.expect(&["apply", "-auto-approve"], 0);
    assert_eq!(committed(&target, &early, &topic, 2), vec![Some(0), None]);

    // A group with a member on the target is refused, and nothing is committed.
    let active = unique_name("active");
    commit_group(&legacy, &active, &topic, &[(0, 5)]);
    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &target)
        .set("group.id", &active)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .create()
        .expect("member");
    member.subscribe(&[&topic]).expect("subscribe");
    let deadline = Instant::now() + TIMEOUT;
    while member.assignment().map(|a| a.count()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the member never joined");
        member.poll(Duration::from_millis(100));
    }
    workspace.write("main.hcl", &offsets_config(&topic, &[&active], "translate"));
    let refused = workspace.expect(&["apply", "-auto-approve"], 1);
    assert!(refused.contains("active member"), "{refused}");
    assert!(refused.contains(&active), "{refused}");
    member.poll(Duration::from_millis(10));
    drop(member);
    assert_eq!(committed(&target, &active, &topic, 2), vec![None, None]);
}

/// The 0.8.2 broker `scripts/test` starts beside the others (`CUTOVER_ENV_OLD_SOURCE=0.8.2`).
fn old_source() -> String {
    std::env::var("CUTOVER_OLD_SOURCE_BOOTSTRAP").expect(
        "the 0.8.2 source is not running: start the environment with scripts/test or CUTOVER_ENV_OLD_SOURCE=0.8.2 scripts/env up",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_8_2_source_is_read_without_newer_apis() {
    let old = old_source();
    let target = target_bootstrap();
    let topic = unique_name("old");
    let group = unique_name("oldgroup");
    // 0.8.2 has no admin API: topics are created the way its own tools did, in ZooKeeper.
    let chroot = format!("{}/old-source", zookeeper_connect());
    let mut zk = ZooKeeper::connect(&chroot, TIMEOUT)
        .await
        .expect("zookeeper");
    zk.create_all(
        &format!("/config/topics/{topic}"),
        br#"{"version":1,"config":{"retention.ms":"3600000"}}"#,
    )
    .await
    .expect("topic config");
    zk.create_all(
        &format!("/brokers/topics/{topic}"),
        br#"{"version":1,"partitions":{"0":[0],"1":[0]}}"#,
    )
    .await
    .expect("topic assignment");
    zk.create_all(&format!("/consumers/{group}/offsets/{topic}/1"), b"3")
        .await
        .expect("zookeeper offset");
    zk.close().await;

    // Produce 5 records to partition 1 with the settings a 0.8 broker needs.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &old)
        .set("api.version.request", "false")
        .set("broker.version.fallback", "0.8.2")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    for index in 0..5 {
        let payload = format!("old-{index}");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match producer
                .send(
                    FutureRecord::<(), _>::to(&topic)
                        .partition(1)
                        .payload(&payload),
                    TIMEOUT,
                )
                .await
            {
                Ok(_) => break,
                // The controller creates the partitions a moment after the ZooKeeper write.
                Err((error, _)) if Instant::now() < deadline => {
                    eprintln!("retrying produce: {error}");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err((error, _)) => panic!("produce to the 0.8.2 broker: {error}"),
            }
        }
    }
    // The target holds the same records (a mirror that preserved offsets).
    create_topic(&target, &topic, 2).await;
    produce(&target, &topic, 1, 5).await;

    let workspace = Workspace::new("kafka-old");
    let cluster = format!(
        r#"{clusters}
cluster "old" {{
  bootstrap_servers = ["{old}"]
  broker_version    = "0.8.2"
  zookeeper         = "{chroot}"
}}
"#,
        clusters = clusters()
    );
    workspace.write(
        "main.hcl",
        &format!(
            r#"{cluster}
data "kafka_topics" "old" {{
  cluster = cluster.old
  include = ["{topic}"]
}}
output "topic" {{ value = data.kafka_topics.old.topics["{topic}"] }}
resource "kafka_consumer_group_offsets" "moved" {{
  source = cluster.old
  target = cluster.target
  groups = ["{group}"]
  topics = ["{topic}"]
}}
"#
        ),
    );
    workspace.expect(&["apply", "-auto-approve"], 0);
    let output = workspace.expect(&["output", "-json"], 0);
    let json: serde_json::Value = serde_json::from_str(&output).expect("json");
    let listed = &json["topic"]["value"];
    assert_eq!(listed["partitions"], 2, "{listed}");
    assert_eq!(
        listed["config"],
        serde_json::json!({"retention.ms": "3600000"})
    );
    assert_eq!(
        listed["partition_offsets"],
        serde_json::json!([
            {"partition": 0, "log_start": 0, "log_end": 0},
            {"partition": 1, "log_start": 0, "log_end": 5},
        ])
    );
    assert_eq!(committed(&target, &group, &topic, 2), vec![None, Some(3)]);

    // Creating topics needs an API 0.8.2 lacks: said clearly, at plan time.
    workspace.write(
        "main.hcl",
        &format!(
            r#"{cluster}
resource "kafka_topic" "new" {{
  cluster    = cluster.old
  name       = "{topic}-new"
  partitions = 1
}}
"#
        ),
    );
    let refused = workspace.expect(&["plan"], 1);
    assert!(
        refused.contains("creating and deleting topics needs brokers 0.10.1 or newer"),
        "{refused}"
    );
}

async fn produce_at(bootstrap: &str, topic: &str, timestamps: &[i64]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    for timestamp in timestamps {
        let payload = format!("at-{timestamp}");
        producer
            .send(
                FutureRecord::<(), _>::to(topic)
                    .partition(0)
                    .payload(&payload)
                    .timestamp(*timestamp),
                TIMEOUT,
            )
            .await
            .unwrap_or_else(|(error, _)| panic!("produce to {topic}: {error}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timestamp_strategy_finds_the_same_moment_on_the_target() {
    let legacy = legacy_bootstrap();
    let target = target_bootstrap();
    let topic = unique_name("by-time");
    create_topic(&legacy, &topic, 1).await;
    create_topic(&target, &topic, 1).await;
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 600_000;
    let source_times: Vec<i64> = (0..10).map(|i| base + i * 1000).collect();
    produce_at(&legacy, &topic, &source_times).await;
    // The target holds 3 older records first: the same moments sit 3 offsets later.
    let mut target_times: Vec<i64> = (0..3).map(|i| base - 10_000 + i).collect();
    target_times.extend(&source_times);
    produce_at(&target, &topic, &target_times).await;
    let group = unique_name("by-time-group");
    commit_group(&legacy, &group, &topic, &[(0, 5)]);

    let workspace = Workspace::new("kafka-timestamp");
    workspace.write("main.hcl", &offsets_config(&topic, &[&group], "timestamp"));
    workspace.expect(&["apply", "-auto-approve"], 0);
    assert_eq!(committed(&target, &group, &topic, 1), vec![Some(8)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_credentials_come_from_a_secrets_manager_secret() {
    let secret_name = unique_name("msk-credentials");
    let secrets = aws_sdk_secretsmanager::Client::new(&crate::support::aws_config().await);
    secrets
        .create_secret()
        .name(&secret_name)
        .secret_string(r#"{"username":"cutover","password":"cutover-secret"}"#)
        .send()
        .await
        .expect("create secret");
    let topic = unique_name("from-secret");
    create_topic(&target_bootstrap(), &topic, 1).await;
    let workspace = Workspace::new("kafka-secret-credentials");
    workspace.write(
        "main.hcl",
        &format!(
            r#"
provider "aws" {{
  region       = "us-east-1"
  endpoint_url = "{moto}"
}}
data "aws_secretsmanager_secret_version" "msk" {{
  secret_id = "{secret_name}"
}}
locals {{
  credentials = jsondecode(data.aws_secretsmanager_secret_version.msk.secret_string)
}}
cluster "target" {{
  bootstrap_servers = ["{scram}"]
  security_protocol = "SASL_PLAINTEXT"
  sasl_mechanism    = "SCRAM-SHA-256"
  sasl_username     = local.credentials.username
  sasl_password     = local.credentials.password
}}
data "kafka_topics" "seen" {{
  cluster = cluster.target
  include = ["{topic}"]
}}
output "names" {{ value = data.kafka_topics.seen.names }}
"#,
            moto = crate::support::moto_endpoint(),
            scram = scram_bootstrap(),
        ),
    );
    let applied = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(!applied.contains("cutover-secret"), "{applied}");
    let output = workspace.expect(&["output", "-json"], 0);
    assert!(output.contains(&topic), "{output}");
    assert!(!workspace.state_text().contains("cutover-secret"));

    // A wrong password in the secret: the plan fails naming the cluster and the reason.
    secrets
        .put_secret_value()
        .secret_id(&secret_name)
        .secret_string(r#"{"username":"cutover","password":"wrong"}"#)
        .send()
        .await
        .expect("put secret value");
    workspace.write(
        "main.hcl",
        &std::fs::read_to_string(workspace.dir.join("main.hcl"))
            .unwrap()
            .replace(
                "bootstrap_servers = [",
                "timeout = \"5s\"\n  bootstrap_servers = [",
            ),
    );
    let refused = workspace.expect(&["plan"], 1);
    assert!(refused.contains("cluster.target"), "{refused}");
    assert!(
        refused.to_lowercase().contains("authentication"),
        "{refused}"
    );
    assert!(!refused.contains("wrong\""), "{refused}");
}
