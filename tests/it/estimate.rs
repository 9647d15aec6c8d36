//! The plan's copy estimate of an embedded `kafka_mirror` against the local brokers: records
//! from the offsets (minus what the target holds), bytes from the source's log sizes, a time
//! at the default rate before the first apply and at the recorded rate after it, the same
//! figures in the human, JSON and markdown plans; and an assertion's mirror shown by address.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};

use crate::support::{Workspace, legacy_bootstrap, target_bootstrap, unique_name};

const TIMEOUT: Duration = Duration::from_secs(30);

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

/// `count` records of about 100 bytes to each of `partitions` partitions.
fn write(topic: &str, partitions: i32, count: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", legacy_bootstrap())
        .create()
        .expect("producer");
    let value = "v".repeat(100);
    for partition in 0..partitions {
        for index in 0..count {
            let key = format!("key-{index}");
            producer
                .send(
                    BaseRecord::to(topic)
                        .partition(partition)
                        .key(&key)
                        .payload(&value),
                )
                .expect("queued");
        }
    }
    producer.flush(TIMEOUT).expect("flushed");
}

fn config(topic: &str) -> String {
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
  partitions = 3
}}
resource "kafka_mirror" "main" {{
  source = cluster.legacy
  target = cluster.target
  topics = [kafka_topic.copy.name]
}}
assert "same" {{
  timeout = "30s"
  zero_divergence {{
    mirror = kafka_mirror.main
  }}
}}
"#,
        legacy = legacy_bootstrap(),
        target = target_bootstrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_estimates_what_a_mirror_will_copy() {
    let topic = unique_name("estimate");
    create_topic(&legacy_bootstrap(), &topic, 3).await;
    write(&topic, 3, 30);
    let workspace = Workspace::new("estimate");
    workspace.write("main.hcl", &config(&topic));

    let plan = workspace.expect(&["plan", "-out", "first.plan"], 0);
    assert!(plan.contains("# (will copy about 90 records ("), "{plan}");
    assert!(
        plan.contains("at 20,000 records/s (a default rate: no apply has measured it yet)"),
        "{plan}"
    );
    assert!(
        plan.contains("zero_divergence { mirror = kafka_mirror.main }"),
        "{plan}"
    );
    assert!(!plan.contains("(a mirror)"), "{plan}");

    let json: serde_json::Value =
        serde_json::from_str(&workspace.expect(&["show", "-json", "first.plan"], 0))
            .expect("plan JSON");
    let mirror = json["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["address"] == "kafka_mirror.main")
        .expect("the mirror's change");
    let estimate = &mirror["copy_estimate"];
    assert_eq!(estimate["records"], 90, "{estimate}");
    assert_eq!(estimate["partitions"], 3, "{estimate}");
    assert_eq!(estimate["rate_source"], "default", "{estimate}");
    // About 100-byte values with keys and batch overhead: at least the payloads.
    let bytes = estimate["bytes"]
        .as_u64()
        .expect("the brokers report log sizes");
    assert!(bytes >= 90 * 100, "{estimate}");
    let markdown = workspace.expect(&["show", "-markdown", "first.plan"], 0);
    assert!(
        markdown.contains("will copy about 90 records ("),
        "{markdown}"
    );

    workspace.expect(&["apply", "first.plan"], 0);
    let state: serde_json::Value =
        serde_json::from_str(&workspace.state_text()).expect("state JSON");
    let mirror = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|resource| resource["address"] == "kafka_mirror.main")
        .expect("the mirror in state");
    let rate = mirror["attributes"]["records_per_second"]
        .as_u64()
        .expect("the rate the apply achieved");
    assert!(rate > 0, "{mirror}");
    // The assertion's evidence counts records compared.
    let evidence = &state["assertions"]["assert.same"]["checks"]["zero_divergence"];
    assert!(
        evidence["summary"]
            .as_str()
            .is_some_and(|summary| summary.contains("90 verified in all")),
        "{evidence}"
    );

    // New records on the source: the mirror is behind, and the estimate uses the last rate.
    write(&topic, 3, 10);
    let plan = workspace.expect(&["plan"], 0);
    assert!(plan.contains("# (will copy about 30 records ("), "{plan}");
    assert!(plan.contains("(the rate of its last apply)"), "{plan}");
}
