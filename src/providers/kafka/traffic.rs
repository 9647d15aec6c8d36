//! `data "kafka_traffic"`: what a cluster carries, measured over a short window at plan time.
//! Per topic: records and bytes written per second, partitions and replicas, retention and the
//! bytes stored, summed over the topics. The plan's sizing verdict and cost section
//! (`economics::sizing`, `plan::cost`) and the `msk_sizing` check read these attributes.
//!
//! The data source is the schema and the notes; the measuring is
//! [`crate::kafka::traffic::measure`], which the `msk_sizing` check also runs. A window is
//! bounded (at most [`MAX_WINDOW`]) and ends early when the run is interrupted.

use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::validate::Pattern;
use crate::config::value::Value;
pub use crate::kafka::traffic::{DEFAULT_RETENTION_MS, KAFKA_TRAFFIC, MAX_WINDOW, measure};
use crate::providers::{BoxFuture, DataSourceType, ProviderContext, ProviderResult};

pub struct KafkaTrafficData {
    schema: Schema,
}

impl KafkaTrafficData {
    pub fn new() -> Self {
        KafkaTrafficData {
            schema: Schema::new(
                vec![
                    AttributeSchema::required("cluster", Type::Any)
                        .describe("the cluster to measure, e.g. cluster.legacy"),
                    AttributeSchema::optional("topics", Type::list_of(Type::String))
                        .describe("the topics to measure; every non-internal topic when unset"),
                    AttributeSchema::optional("window", Type::String)
                        .describe("how long to watch the end offsets (and log sizes) grow, at most 15m; longer windows smooth bursts")
                        .default_value(Value::string("10s"))
                        .pattern(Pattern::Duration),
                    AttributeSchema::optional("sample_records", Type::Number)
                        .describe("records read per partition to estimate record sizes where the brokers do not report log sizes (before 1.0, or over TLS/SASL)")
                        .default_value(Value::int(20))
                        .int_range(1, 1000),
                    AttributeSchema::computed("window_seconds", Type::Number)
                        .describe("the window actually measured, in seconds"),
                    AttributeSchema::computed("brokers", Type::Number)
                        .describe("brokers in the cluster's metadata"),
                    AttributeSchema::computed("records_in_per_second", Type::Number)
                        .describe("records written per second, all measured topics"),
                    AttributeSchema::computed("bytes_in_per_second", Type::Number)
                        .describe("bytes written per second (one copy, before replication)"),
                    AttributeSchema::computed("partitions", Type::Number)
                        .describe("partitions of the measured topics"),
                    AttributeSchema::computed("replicas", Type::Number)
                        .describe("partition replicas (partitions times replication factor)"),
                    AttributeSchema::computed("replication_factor", Type::Number)
                        .describe("the largest replication factor of the measured topics"),
                    AttributeSchema::computed("stored_bytes", Type::Number)
                        .describe("bytes stored, one copy of each partition"),
                    AttributeSchema::computed("stored_bytes_replicated", Type::Number)
                        .describe("bytes stored on all brokers (times each topic's replication factor)"),
                    AttributeSchema::computed("size_source", Type::String)
                        .describe("log_dirs (brokers' log sizes), sampled (record sizes read), mixed, or none"),
                    AttributeSchema::computed("by_topic", Type::Any).describe(
                        "by name: partitions, replication_factor, records_in_per_second, bytes_in_per_second, records, stored_bytes, average_record_bytes, retention_ms (-1: unlimited), retention_bytes, retention_source (topic or default), size_source",
                    ),
                    AttributeSchema::computed("notes", Type::list_of(Type::String))
                        .describe("why a figure is estimated or missing"),
                ],
                Vec::new(),
            ),
        }
    }
}

impl Default for KafkaTrafficData {
    fn default() -> Self {
        Self::new()
    }
}

pub use crate::economics::sizing::TopicTraffic;

impl DataSourceType for KafkaTrafficData {
    fn type_name(&self) -> &'static str {
        KAFKA_TRAFFIC
    }

    fn provider_name(&self) -> &'static str {
        super::PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move { measure(context, config).await })
    }

    fn notes(&self, value: &Value) -> Vec<String> {
        value
            .peel()
            .as_map()
            .and_then(|map| map.get("notes"))
            .and_then(Value::as_items)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_owned))
                    .filter(|note| !note.starts_with("retention:"))
                    .collect()
            })
            .unwrap_or_default()
    }
}
