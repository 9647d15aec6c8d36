//! `kafka_mirror` with `engine = "connect"` against the local Kafka Connect worker
//! (`CUTOVER_ENV_CONNECT=1 scripts/env up`; `scripts/test` starts it): MirrorMaker 2 deployed
//! through the REST API copies a legacy topic to the target, a changed topic list updates the
//! connector config in place, destroy deletes the connectors; plan-time refusals of what
//! MirrorMaker 2 cannot do. Checks read the Connect REST API and both clusters with
//! independent clients.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::{Workspace, legacy_bootstrap, target_bootstrap, unique_name, watermarks};

const TIMEOUT: Duration = Duration::from_secs(30);

/// The worker's REST endpoint: `.run/env.sh` exports it when the worker runs.
fn connect_url() -> String {
    std::env::var("CUTOVER_CONNECT_URL").unwrap_or_else(|_| {
        let port = std::env::var("CUTOVER_CONNECT_PORT").unwrap_or_else(|_| "18083".to_owned());
        format!("http://127.0.0.1:{port}")
    })
}

/// One request to the worker (HTTP/1.0, so the answer is not chunked): status and JSON body.
fn rest(method: &str, path: &str) -> (u16, serde_json::Value) {
    let url = connect_url();
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(authority).unwrap_or_else(|error| {
        panic!("the Kafka Connect worker at {url} does not answer ({error}): run CUTOVER_ENV_CONNECT=1 scripts/env up")
    });
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Deletes a mirror's connectors when a test ends, passed or not: a failed run must not leave
/// MirrorMaker 2 running in the shared worker.
struct ConnectorsGuard(Vec<String>);

impl Drop for ConnectorsGuard {
    fn drop(&mut self) {
        for connector in &self.0 {
            let _ =
                std::panic::catch_unwind(|| rest("DELETE", &format!("/connectors/{connector}")));
        }
    }
}

fn connector_names() -> Vec<String> {
    let (status, body) = rest("GET", "/connectors");
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    // The records carry 2023 timestamps: without this, the broker's time retention may delete
    // them in the middle of the test.
    let topic =
        NewTopic::new(name, partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1");
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

/// Writes `count` records to a partition: keys, values, nulls, headers, timestamps.
fn write(topic: &str, partition: i32, count: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", legacy_bootstrap())
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for index in 0..count {
        let key = format!("key-{index}");
        let value = format!("value-{index}-{}", "y".repeat(index % 40));
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
            .partition(partition)
            .timestamp(1_700_000_000_000 + index as i64);
        if index % 5 != 0 {
            record = record.key(key.as_bytes());
        }
        if index % 9 != 0 {
            record = record.payload(value.as_bytes());
        }
        if index % 4 == 0 {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: "trace",
                value: Some(key.as_bytes()),
            }));
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

/// A record as MirrorMaker 2 must copy it (offsets are its own business).
type Record = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
    Option<i64>,
);

fn read_all(bootstrap: &str, topic: &str, partition: i32) -> Vec<Record> {
    let (start, end) = watermarks(bootstrap, topic, partition);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "connect-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(start))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let mut next = start;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while next < end {
        assert!(
            std::time::Instant::now() < deadline,
            "reading {topic}/{partition} timed out"
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("consume");
        next = message.offset() + 1;
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|header| (header.key.to_owned(), header.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        records.push((
            message.key().map(<[u8]>::to_vec),
            message.payload().map(<[u8]>::to_vec),
            headers,
            message.timestamp().to_millis(),
        ));
    }
    records
}

fn assert_copied(topic: &str, partitions: i32) {
    for partition in 0..partitions {
        let source = read_all(&legacy_bootstrap(), topic, partition);
        let target = read_all(&target_bootstrap(), topic, partition);
        assert!(
            !source.is_empty(),
            "{topic}/{partition}: nothing read from the source (watermarks {:?})",
            watermarks(&legacy_bootstrap(), topic, partition)
        );
        assert_eq!(
            source.len(),
            target.len(),
            "{topic}/{partition}: record counts differ"
        );
        for (index, (a, b)) in source.iter().zip(&target).enumerate() {
            assert_eq!(a, b, "{topic}/{partition}: record {index} differs");
        }
    }
}

fn config(name: &str, topics: &[(&str, &str, i32)], extra: &str) -> String {
    let mut text = format!(
        r#"
cluster "legacy" {{
  bootstrap_servers = ["{legacy}"]
}}
cluster "target" {{
  bootstrap_servers = ["{target}"]
}}
"#,
        legacy = legacy_bootstrap(),
        target = target_bootstrap(),
    );
    for (resource, topic, partitions) in topics {
        text.push_str(&format!(
            "resource \"kafka_topic\" \"{resource}\" {{\n  cluster    = cluster.target\n  name       = \"{topic}\"\n  partitions = {partitions}\n}}\n"
        ));
    }
    let names: Vec<String> = topics
        .iter()
        .map(|(resource, _, _)| format!("kafka_topic.{resource}.name"))
        .collect();
    text.push_str(&format!(
        r#"resource "kafka_mirror" "main" {{
  source      = cluster.legacy
  target      = cluster.target
  topics      = [{topics}]
  engine      = "connect"
  connect_url = "{url}"
  name        = "{name}"
  {extra}
}}
output "copied" {{ value = kafka_mirror.main.records_copied }}
"#,
        topics = names.join(", "),
        url = connect_url(),
    ));
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrormaker_2_on_connect_copies_updates_and_is_deleted() {
    let legacy = legacy_bootstrap();
    // A dot in the name: MirrorMaker 2 reads topics as regexes.
    let orders = format!("{}.v1", unique_name("viaconnect"));
    let payments = unique_name("viaconnect-payments");
    create_topic(&legacy, &orders, 2).await;
    create_topic(&legacy, &payments, 1).await;
    write(&orders, 0, 700);
    write(&orders, 1, 300);
    write(&payments, 0, 250);
    let name = unique_name("mm2");
    let (source_connector, checkpoint_connector) =
        (format!("{name}-source"), format!("{name}-checkpoint"));
    let _cleanup = ConnectorsGuard(vec![source_connector.clone(), checkpoint_connector.clone()]);

    let workspace = Workspace::new("connect");
    workspace.write("main.hcl", &config(&name, &[("orders", &orders, 2)], ""));
    let plan = workspace.expect(&["plan"], 0);
    assert!(plan.contains("kafka_mirror.main will be created"), "{plan}");
    let applied = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(
        applied.contains(&format!("creating connector {source_connector}")),
        "{applied}"
    );
    assert!(applied.contains("MirrorMaker 2 caught up"), "{applied}");
    assert_copied(&orders, 2);
    let output = workspace.expect(&["output", "-json"], 0);
    assert!(output.contains("\"value\": 1000"), "{output}");

    let (status, body) = rest("GET", &format!("/connectors/{source_connector}/status"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connector"]["state"], "RUNNING", "{body}");
    let (_, checkpoint) = rest("GET", &format!("/connectors/{checkpoint_connector}/status"));
    assert_eq!(checkpoint["connector"]["state"], "RUNNING", "{checkpoint}");
    let (_, live) = rest("GET", &format!("/connectors/{source_connector}/config"));
    assert_eq!(live["topics"], orders.replace('.', "\\."), "{live}");
    assert_eq!(
        live["replication.policy.class"],
        "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
    );
    // Credentials never reach the state file.
    assert!(!workspace.state_text().contains("sasl.jaas.config"));

    // Nothing changed: nothing to do.
    let replan = workspace.expect(&["plan", "-detailed-exitcode"], 0);
    assert!(replan.contains("No changes"), "{replan}");

    // Another topic: the connectors' configs are updated in place.
    workspace.write(
        "main.hcl",
        &config(
            &name,
            &[("orders", &orders, 2), ("payments", &payments, 1)],
            "",
        ),
    );
    let plan = workspace.expect(&["plan", "-detailed-exitcode"], 2);
    assert!(
        plan.contains("kafka_mirror.main will be updated in place"),
        "{plan}"
    );
    let updated = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(
        updated.contains(&format!("updating connector {source_connector}")),
        "{updated}"
    );
    assert_copied(&payments, 1);
    let (_, live) = rest("GET", &format!("/connectors/{source_connector}/config"));
    assert_eq!(
        live["topics"],
        format!("{},{payments}", orders.replace('.', "\\.")),
        "{live}"
    );
    let output = workspace.expect(&["output", "-json"], 0);
    assert!(output.contains("\"value\": 250"), "{output}");

    // A connector deleted behind cutover's back: the plan creates it again.
    let (status, _) = rest("DELETE", &format!("/connectors/{checkpoint_connector}"));
    assert_eq!(status, 204);
    let drifted = workspace.expect(&["plan", "-detailed-exitcode"], 2);
    assert!(
        drifted.contains("kafka_mirror.main will be created"),
        "{drifted}"
    );
    let recreated = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(
        recreated.contains(&format!("creating connector {checkpoint_connector}")),
        "{recreated}"
    );
    // The source connector's config did not change: it is not written (nor restarted).
    assert!(
        !recreated.contains(&format!("connector {source_connector} on")),
        "{recreated}"
    );
    assert!(connector_names().contains(&checkpoint_connector));

    workspace.expect(&["destroy", "-auto-approve"], 0);
    let names = connector_names();
    assert!(
        !names.contains(&source_connector) && !names.contains(&checkpoint_connector),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_mirrormaker_2_cannot_do_is_refused_at_plan_time() {
    let topic = unique_name("viaconnect-refused");
    create_topic(&legacy_bootstrap(), &topic, 1).await;
    let workspace = Workspace::new("connect-refused");
    workspace.write(
        "main.hcl",
        &config("refused", &[("t", &topic, 1)], "offsets = \"translate\""),
    );
    let refused = workspace.expect(&["plan"], 1);
    assert!(
        refused.contains("translates consumer offsets approximately"),
        "{refused}"
    );

    // A 0.8.2 source: MirrorMaker 2's Java clients cannot talk to it.
    let old = config("refused", &[("t", &topic, 1)], "").replace(
        &format!(
            "bootstrap_servers = [\"{}\"]\n}}\ncluster \"target\"",
            legacy_bootstrap()
        ),
        &format!(
            "bootstrap_servers = [\"{}\"]\n  broker_version = \"0.8.2\"\n}}\ncluster \"target\"",
            legacy_bootstrap()
        ),
    );
    assert!(old.contains("0.8.2"), "{old}");
    workspace.write("main.hcl", &old);
    let refused = workspace.expect(&["plan"], 1);
    assert!(
        refused.contains("cannot talk to brokers older than 0.10"),
        "{refused}"
    );
}
