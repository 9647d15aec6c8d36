//! Traffic, sizing and cost in the plan, against the local brokers and moto: `data
//! "kafka_traffic"` measures a topic a producer writes to during the plan (log sizes on the 3.9
//! source, sampled record sizes on the 0.8.2 one); the plan's cost section prices the EC2
//! instance moto runs and the MSK cluster to create, in the human, markdown and JSON plans; an
//! undersized cluster is a plan warning and fails an `msk_sizing` assertion (exit 3); removing
//! the instance shows the monthly saving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};

use crate::support::{Workspace, legacy_bootstrap, moto_endpoint, unique_name};

const TIMEOUT: Duration = Duration::from_secs(30);

async fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", legacy_bootstrap())
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

/// Writes 1,000-byte records to `topic` about every 5 ms until `stop` (bounded: 2 minutes).
fn keep_writing(
    bootstrap: String,
    settings: &'static [(&'static str, &'static str)],
    topic: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &bootstrap);
        for (key, value) in settings {
            config.set(*key, *value);
        }
        let producer: BaseProducer = config.create().expect("producer");
        let value = "x".repeat(1000);
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            if producer
                .send(BaseRecord::<(), _>::to(&topic).payload(&value))
                .is_ok()
            {
                sent += 1;
            }
            producer.poll(Duration::from_millis(5));
        }
        producer.flush(TIMEOUT).expect("flushed");
        sent
    })
}

fn config(topic: &str, cluster_name: &str, with_instance: bool, storage_gb: u32) -> String {
    let instance = if with_instance {
        r#"
resource "aws_ec2_instance" "broker" {
  ami           = "ami-12c6146b"
  instance_type = "m5.xlarge"
  tags = {
    Role = "kafka-broker"
  }
}
"#
    } else {
        ""
    };
    format!(
        r#"
provider "aws" {{
  region        = "us-east-1"
  endpoint_url  = "{moto}"
  poll_interval = "20ms"
}}

cluster "legacy" {{
  bootstrap_servers = ["{legacy}"]
}}

data "kafka_traffic" "legacy" {{
  cluster = cluster.legacy
  topics  = ["{topic}"]
  window  = "3s"
}}
{instance}
resource "aws_msk_cluster" "target" {{
  cluster_name           = "{cluster_name}"
  kafka_version          = "3.9.x"
  number_of_broker_nodes = 1
  broker_node_group_info {{
    instance_type  = "kafka.t3.small"
    client_subnets = ["subnet-a"]
    storage_gb     = {storage_gb}
  }}
}}

assert "msk_sized" {{
  timeout = "0s"
  msk_sizing {{
    source  = cluster.legacy
    topics  = ["{topic}"]
    window  = "2s"
    cluster = aws_msk_cluster.target
  }}
}}

# The measured attributes (the data source's own arguments hold the cluster, whose settings
# may be sensitive).
output "traffic" {{
  value = {{
    size_source           = data.kafka_traffic.legacy.size_source
    by_topic              = data.kafka_traffic.legacy.by_topic
    records_in_per_second = data.kafka_traffic.legacy.records_in_per_second
    bytes_in_per_second   = data.kafka_traffic.legacy.bytes_in_per_second
  }}
}}
"#,
        moto = moto_endpoint(),
        legacy = legacy_bootstrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_measures_traffic_prices_the_fleet_and_judges_the_target() {
    let topic = unique_name("traffic");
    let cluster_name = unique_name("sized");
    create_topic(&topic, 2).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = keep_writing(legacy_bootstrap(), &[], topic.clone(), stop.clone());
    std::thread::sleep(Duration::from_secs(1));

    let workspace = Workspace::new("traffic");
    // 1 GiB per broker cannot hold 7 days (the default retention) of the writer's ingress.
    workspace.write("main.hcl", &config(&topic, &cluster_name, true, 1));
    let plan = workspace.expect(&["plan", "-out", "first.plan"], 0);
    assert!(
        plan.contains("Cost and sizing (monthly, USD, us-east-1 prices of "),
        "{plan}"
    );
    assert!(plan.contains("built in: pricing/us-east-1.json"), "{plan}");
    // m5.xlarge: 0.192 $/h x 730 h.
    assert!(plan.contains("1 x m5.xlarge at 0.192/h"), "{plan}");
    assert!(plan.contains("140.16"), "{plan}");
    // kafka.t3.small: 0.0456 $/h x 730 h = 33.29; 1 GiB x 0.10 $.
    assert!(plan.contains("1 x kafka.t3.small broker hours"), "{plan}");
    assert!(plan.contains("33.29"), "{plan}");
    assert!(plan.contains("measured traffic: "), "{plan}");
    assert!(plan.contains("UNDERSIZED"), "{plan}");
    assert!(
        plan.contains("the target is undersized by AWS's per-broker guidance"),
        "{plan}"
    );
    assert!(plan.contains("GiB retained per broker"), "{plan}");
    assert!(
        plan.contains("recommended: 1 x kafka.t3.small with "),
        "{plan}"
    );

    // The document, then the plan's warning (the undersized target) on stderr.
    let shown = workspace.expect(&["show", "-json", "first.plan"], 0);
    let json: serde_json::Value = serde_json::Deserializer::from_str(&shown)
        .into_iter()
        .next()
        .expect("a document")
        .expect("plan JSON");
    let cost = &json["cost"];
    assert_eq!(cost["prices"]["region"], "us-east-1", "{cost}");
    assert_eq!(cost["legacy"]["instances"][0]["instance_type"], "m5.xlarge");
    assert_eq!(cost["targets"][0]["brokers"], 1, "{cost}");
    assert_eq!(cost["sizing"][0]["big_enough"], false, "{cost}");
    let traffic = &cost["traffic"];
    assert!(
        traffic["bytes_in_per_second"].as_f64().unwrap() > 1_000.0,
        "{traffic}"
    );
    assert!(
        traffic["records_in_per_second"].as_f64().unwrap() > 1.0,
        "{traffic}"
    );
    assert_eq!(traffic["partitions"], 2, "{traffic}");
    let markdown = workspace.expect(&["show", "-markdown", "first.plan"], 0);
    assert!(markdown.contains("#### Cost and sizing"), "{markdown}");
    assert!(markdown.contains("> [!CAUTION]"), "{markdown}");
    assert!(
        markdown.contains("| **legacy fleet: 1 EC2 instance** |"),
        "{markdown}"
    );

    // The assertion fails the apply: exit 3, with the guideline and the recommendation.
    let (code, applied) = workspace.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 3, "{applied}");
    assert!(applied.contains("UNDERSIZED"), "{applied}");
    // The apply stopped at the assertion, so no outputs were saved: the plan's figures say
    // what was measured (log sizes on this 3.9 source: about 1,000 bytes a record stored).
    let stored = traffic["stored_bytes"].as_f64().unwrap();
    assert!(stored > 1_000.0, "{traffic}");

    // Big enough storage: the plan says so, and the assertion holds.
    workspace.write("main.hcl", &config(&topic, &cluster_name, true, 16_384));
    let plan = workspace.expect(&["plan"], 0);
    assert!(
        plan.contains("big enough for the measured traffic"),
        "{plan}"
    );
    assert!(!plan.contains("UNDERSIZED"), "{plan}");

    // Decommission: the instance's block removed, its monthly cost is the saving.
    workspace.write("main.hcl", &config(&topic, &cluster_name, false, 16_384));
    let plan = workspace.expect(&["plan"], 0);
    assert!(
        plan.contains("decommission: this plan terminates 1 legacy instance, saving "),
        "{plan}"
    );
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().expect("writer") > 0);
    workspace.expect(&["destroy", "-auto-approve"], 0);
}

/// The 0.8.2 broker `scripts/test` starts beside the others.
fn old_source() -> String {
    std::env::var("CUTOVER_OLD_SOURCE_BOOTSTRAP").expect(
        "the 0.8.2 source is not running: start the environment with scripts/test or CUTOVER_ENV_OLD_SOURCE=0.8.2 scripts/env up",
    )
}

fn zookeeper_connect() -> String {
    std::env::var("CUTOVER_ZOOKEEPER").unwrap_or_else(|_| {
        format!(
            "127.0.0.1:{}",
            std::env::var("CUTOVER_ZK_PORT").unwrap_or_else(|_| "12181".into())
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_8_2_source_is_measured_from_offsets_and_sampled_records() {
    let old = old_source();
    let topic = unique_name("oldtraffic");
    // 0.8.2 has no admin API: the topic is created in ZooKeeper, as its own tools did.
    let chroot = format!("{}/old-source", zookeeper_connect());
    let mut zk = cutover::kafka::zookeeper::ZooKeeper::connect(&chroot, TIMEOUT)
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
        br#"{"version":1,"partitions":{"0":[0]}}"#,
    )
    .await
    .expect("topic assignment");
    zk.close().await;

    const OLD: &[(&str, &str)] = &[
        ("api.version.request", "false"),
        ("broker.version.fallback", "0.8.2"),
        ("message.timeout.ms", "30000"),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let writer = keep_writing(old.clone(), OLD, topic.clone(), stop.clone());
    // The controller creates the partition a moment after the ZooKeeper write.
    std::thread::sleep(Duration::from_secs(3));

    let workspace = Workspace::new("traffic-old");
    workspace.write(
        "main.hcl",
        &format!(
            r#"
cluster "old" {{
  bootstrap_servers = ["{old}"]
  broker_version    = "0.8.2"
  zookeeper         = "{chroot}"
}}

data "kafka_traffic" "old" {{
  cluster = cluster.old
  topics  = ["{topic}"]
  window  = "3s"
}}

output "traffic" {{
  value = {{
    size_source           = data.kafka_traffic.old.size_source
    by_topic              = data.kafka_traffic.old.by_topic
    records_in_per_second = data.kafka_traffic.old.records_in_per_second
    bytes_in_per_second   = data.kafka_traffic.old.bytes_in_per_second
  }}
}}
"#
        ),
    );
    let applied = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(
        applied.contains("do not report log sizes: estimated from sampled record sizes"),
        "{applied}"
    );
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().expect("writer") > 0);
    let output: serde_json::Value =
        serde_json::from_str(&workspace.expect(&["output", "-json"], 0)).expect("outputs");
    let measured = &output["traffic"]["value"];
    assert_eq!(measured["size_source"], "sampled", "{measured}");
    let per_topic = &measured["by_topic"][&topic];
    assert_eq!(per_topic["retention_ms"], 3_600_000, "{per_topic}");
    assert_eq!(per_topic["retention_source"], "topic", "{per_topic}");
    // A 1,000-byte value and the v0 format's 26 bytes of overhead.
    assert_eq!(per_topic["average_record_bytes"], 1_026.0, "{per_topic}");
    assert!(
        measured["records_in_per_second"].as_f64().unwrap() > 1.0,
        "{measured}"
    );
    assert!(
        measured["bytes_in_per_second"].as_f64().unwrap() > 1_000.0,
        "{measured}"
    );
}
