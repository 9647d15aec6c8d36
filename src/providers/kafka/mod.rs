//! Kafka providers: `cluster` connections, topics and consumer-group offsets.

pub mod acls;
pub mod mirror;
pub mod mirror_estimate;
pub mod offsets;
pub mod topics;
pub mod traffic;

use std::sync::Arc;

/// The provider name recorded in state for Kafka types.
pub const PROVIDER: &str = "kafka";

use super::Registry;
pub use crate::kafka::schema::{BROKERS, OWNED_PROPERTIES, cluster_schema, cluster_schema_ref};

/// Adds the Kafka types to the registry.
pub fn register(registry: &mut Registry) {
    registry.add_resource(Arc::new(topics::KafkaTopic::new()));
    registry.add_data_source(Arc::new(topics::KafkaTopicsData::new()));
    registry.add_resource(Arc::new(offsets::KafkaConsumerGroupOffsets::new()));
    registry.add_resource(Arc::new(mirror::KafkaMirror::new()));
    registry.add_resource(Arc::new(acls::KafkaAcl::new()));
    registry.add_data_source(Arc::new(acls::KafkaAclsData::new()));
    registry.add_data_source(Arc::new(traffic::KafkaTrafficData::new()));
}
