//! Proof that the local environment is real and reachable through the same clients the
//! providers use: rdkafka against both brokers, and the AWS SDK against moto (with the
//! environment's MSK and Secrets Manager extensions).

use std::time::Duration;

use aws_sdk_kafka::types::{BrokerNodeGroupInfo, ClusterState, ProvisionedRequest};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::{aws_config, legacy_bootstrap, target_bootstrap, unique_name};

const KAFKA_TIMEOUT: Duration = Duration::from_secs(30);

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
            &AdminOptions::new().operation_timeout(Some(KAFKA_TIMEOUT)),
        )
        .await
        .unwrap_or_else(|error| panic!("create topic {name} on {bootstrap}: {error}"));
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("create topic {topic}: {code}"));
    }
}

fn partition_count(bootstrap: &str, topic: &str) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("metadata client");
    let metadata = consumer
        .fetch_metadata(Some(topic), KAFKA_TIMEOUT)
        .expect("fetch metadata");
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len())
        .unwrap_or(0)
}

#[tokio::test]
async fn legacy_broker_round_trips_records_through_rdkafka() {
    let bootstrap = legacy_bootstrap();
    let topic = unique_name("wiring-legacy");
    create_topic(&bootstrap, &topic, 2).await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    for index in 0..10i32 {
        let key = format!("key-{index}");
        let value = format!("value-{index}");
        let delivery = producer
            .send(
                FutureRecord::to(&topic)
                    .partition(index % 2)
                    .key(&key)
                    .payload(&value),
                KAFKA_TIMEOUT,
            )
            .await
            .unwrap_or_else(|(error, _)| panic!("produce to {topic}: {error}"));
        assert_eq!(delivery.partition, index % 2);
        assert_eq!(delivery.offset, i64::from(index / 2));
    }

    // Assigned partitions, no consumer group: the way the mirror reads old brokers.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "unused-no-commits")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..2 {
        assignment
            .add_partition_offset(&topic, partition, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");

    let mut received = Vec::new();
    let deadline = std::time::Instant::now() + KAFKA_TIMEOUT;
    while received.len() < 10 && std::time::Instant::now() < deadline {
        if let Some(result) = consumer.poll(Duration::from_millis(200)) {
            let message = result.expect("consume");
            received.push((
                message.partition(),
                message.offset(),
                String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned(),
            ));
        }
    }
    received.sort();
    let expected: Vec<_> = (0..10i32)
        .map(|i| {
            (
                i % 2,
                i64::from(i / 2),
                format!("key-{i}"),
                format!("value-{i}"),
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn target_broker_creates_a_topic() {
    let bootstrap = target_bootstrap();
    let topic = unique_name("wiring-target");
    create_topic(&bootstrap, &topic, 3).await;
    // KRaft propagates metadata asynchronously; a bounded wait, not a sleep.
    let deadline = std::time::Instant::now() + KAFKA_TIMEOUT;
    while partition_count(&bootstrap, &topic) != 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "topic {topic} never showed 3 partitions on {bootstrap}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn msk_cluster_turns_active_and_returns_the_local_bootstrap_address() {
    let client = aws_sdk_kafka::Client::new(&aws_config().await);
    let name = unique_name("wiring-msk");
    let created = client
        .create_cluster_v2()
        .cluster_name(&name)
        .provisioned(
            ProvisionedRequest::builder()
                .kafka_version("3.9.x")
                .number_of_broker_nodes(3)
                .broker_node_group_info(
                    BrokerNodeGroupInfo::builder()
                        .instance_type("kafka.m5.large")
                        .client_subnets("subnet-1")
                        .client_subnets("subnet-2")
                        .client_subnets("subnet-3")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("create cluster");
    let arn = created.cluster_arn().expect("cluster arn").to_owned();

    let mut states = Vec::new();
    for _ in 0..20 {
        let described = client
            .describe_cluster_v2()
            .cluster_arn(&arn)
            .send()
            .await
            .expect("describe cluster");
        let state = described
            .cluster_info()
            .and_then(|info| info.state())
            .cloned()
            .expect("cluster state");
        states.push(state.clone());
        if state == ClusterState::Active {
            break;
        }
    }
    assert_eq!(states.first(), Some(&ClusterState::Creating), "{states:?}");
    assert_eq!(states.last(), Some(&ClusterState::Active), "{states:?}");

    let brokers = client
        .get_bootstrap_brokers()
        .cluster_arn(&arn)
        .send()
        .await
        .expect("bootstrap brokers");
    assert_eq!(
        brokers.bootstrap_broker_string(),
        Some(target_bootstrap().as_str())
    );

    // An unknown ARN is a NotFound the providers can recognise, not a server error.
    let missing = client
        .describe_cluster_v2()
        .cluster_arn(arn.replace(&name, "no-such-cluster"))
        .send()
        .await
        .expect_err("unknown cluster");
    assert!(
        missing
            .as_service_error()
            .is_some_and(|error| error.is_not_found_exception()),
        "{missing:?}"
    );

    client
        .delete_cluster()
        .cluster_arn(&arn)
        .send()
        .await
        .expect("delete cluster");
}

#[tokio::test]
async fn secret_is_put_read_back_flipped_and_rolled_back() {
    let client = aws_sdk_secretsmanager::Client::new(&aws_config().await);
    let name = unique_name("wiring/kafka");
    client
        .create_secret()
        .name(&name)
        .secret_string(r#"{"bootstrap_servers":"legacy:9092"}"#)
        .send()
        .await
        .expect("create secret");
    let first = client
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .expect("get secret");
    let first_version = first.version_id().expect("version id").to_owned();
    assert_eq!(
        first.secret_string(),
        Some(r#"{"bootstrap_servers":"legacy:9092"}"#)
    );

    let flipped = client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(r#"{"bootstrap_servers":"msk:9098"}"#)
        .send()
        .await
        .expect("put secret value");
    let second_version = flipped.version_id().expect("version id").to_owned();
    let current = client
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .expect("get current");
    assert_eq!(
        current.secret_string(),
        Some(r#"{"bootstrap_servers":"msk:9098"}"#)
    );
    let previous = client
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .expect("get previous");
    assert_eq!(previous.version_id(), Some(first_version.as_str()));

    // Rollback: move AWSCURRENT back in one call; the default read follows it.
    client
        .update_secret_version_stage()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .move_to_version_id(&first_version)
        .remove_from_version_id(&second_version)
        .send()
        .await
        .expect("move AWSCURRENT back");
    let rolled_back = client
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .expect("get after rollback");
    assert_eq!(rolled_back.version_id(), Some(first_version.as_str()));
    assert_eq!(
        rolled_back.secret_string(),
        Some(r#"{"bootstrap_servers":"legacy:9092"}"#)
    );

    client
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete secret");
}

#[tokio::test]
async fn ec2_instance_runs_is_found_by_tag_and_terminates() {
    use aws_sdk_ec2::types::{Filter, InstanceStateName, ResourceType, Tag, TagSpecification};

    let client = aws_sdk_ec2::Client::new(&aws_config().await);
    let images = client
        .describe_images()
        .send()
        .await
        .expect("describe images");
    let image_id = images
        .images()
        .iter()
        .find_map(|image| image.image_id())
        .expect("moto provides at least one AMI")
        .to_owned();
    let fleet = unique_name("legacy-kafka");
    let run = client
        .run_instances()
        .image_id(image_id)
        .instance_type(aws_sdk_ec2::types::InstanceType::M52xlarge)
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key("fleet").value(&fleet).build())
                .tags(Tag::builder().key("role").value("kafka-broker").build())
                .build(),
        )
        .send()
        .await
        .expect("run instances");
    let instance_id = run.instances()[0]
        .instance_id()
        .expect("instance id")
        .to_owned();

    let found = client
        .describe_instances()
        .filters(Filter::builder().name("tag:fleet").values(&fleet).build())
        .send()
        .await
        .expect("describe by tag");
    let found_ids: Vec<_> = found
        .reservations()
        .iter()
        .flat_map(|reservation| reservation.instances())
        .filter_map(|instance| instance.instance_id())
        .collect();
    assert_eq!(found_ids, vec![instance_id.as_str()]);

    client
        .terminate_instances()
        .instance_ids(&instance_id)
        .send()
        .await
        .expect("terminate");
    let mut state = None;
    for _ in 0..20 {
        let described = client
            .describe_instances()
            .instance_ids(&instance_id)
            .send()
            .await
            .expect("describe instance");
        state = described
            .reservations()
            .iter()
            .flat_map(|reservation| reservation.instances())
            .find_map(|instance| instance.state().and_then(|s| s.name()).cloned());
        if state == Some(InstanceStateName::Terminated) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, Some(InstanceStateName::Terminated));
}
