//! `throughput { cluster = cluster.target, min_mb_per_s = 20, max_p99_ms = 50, duration = "30s" }`:
//! a load test of a cluster. Each poll creates a scratch topic `_cutover.throughput.<random>`,
//! produces synthetic records to it while a consumer reads them back, for `duration`, and
//! measures the produced and consumed MB/s and the end-to-end latency of the records (the time
//! from handing a record to the producer to the consumer receiving it). The scratch topic is
//! deleted afterwards, also when the measurement fails or the run is interrupted; a deletion
//! that fails is reported, not hidden. Answers "does the new cluster need pre-warming, does it
//! meet our needs" before producers move to it.
//!
//! Bounded: memory (the producer queue and the consumer prefetch are capped, latencies go into
//! a fixed-size histogram, not a list of records) and time (topic creation and deletion within
//! the cluster's timeout, `duration` of load, then at most [`DRAIN_WINDOW`] for the last
//! records to be acknowledged and consumed).

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message as _};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _, ProducerContext, PurgeConfig};
use rdkafka::{Offset, TopicPartitionList};

use super::{CheckRun, parsed_duration};
use crate::config::decode::reference;
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::validate::Validator;
use crate::config::value::Value;
use crate::context::ProviderContext;
use crate::error::{OperationError as ProviderError, OperationResult as ProviderResult};
use crate::kafka::admin::{admin, list_topics};
use crate::kafka::connection::{Cluster, Feature, KafkaContext, blocking};

pub const NAME: &str = "throughput";

/// Scratch topics are named this and a random suffix. `_cutover` topics are internal to
/// cutover: `quiescent` and topic listings leave them out.
pub const SCRATCH_TOPIC_PREFIX: &str = "_cutover.throughput.";

const DEFAULT_DURATION: Duration = Duration::from_secs(30);
const DEFAULT_RECORD_SIZE: i64 = 1024;
const DEFAULT_PARTITIONS: i64 = 6;
const DEFAULT_ACKS: &str = "all";
/// After `duration`, how long the producer may take to have its queued records acknowledged
/// and the consumer to read them.
pub const DRAIN_WINDOW: Duration = Duration::from_secs(10);
/// A load test longer than this belongs in a load-testing tool, not in a gate.
const MAX_DURATION: Duration = Duration::from_secs(3600);
/// The payload starts with the send time (8 bytes); brokers refuse records over ~1 MB by
/// default.
const RECORD_SIZE_RANGE: std::ops::RangeInclusive<i64> = 16..=1_000_000;
const PARTITIONS_RANGE: std::ops::RangeInclusive<i64> = 1..=1000;
/// MB as kafka-producer-perf-test counts it.
const BYTES_PER_MB: f64 = 1024.0 * 1024.0;
/// The consumer starts this long before the producer, so its first fetch (connections, offset
/// lookup) is not counted as the latency of the first records.
const CONSUMER_WARM_UP: Duration = Duration::from_millis(500);
/// Retention of the scratch topic beyond the load test: a topic left behind (its deletion
/// failed, the process was killed) does not keep its data.
const SCRATCH_RETENTION_MARGIN: Duration = Duration::from_secs(600);

pub fn schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::required("cluster", Type::Any)
                .describe("the cluster to load, e.g. cluster.target"),
            AttributeSchema::optional("min_mb_per_s", Type::Number)
                .describe("the produced MB/s (acknowledged payload, 2^20 bytes) must be at least this")
                .validate(Validator::AtLeast(0.0)),
            AttributeSchema::optional("max_p99_ms", Type::Number)
                .describe(
                    "the 99th percentile of the end-to-end latency (send to consume) must be at most this",
                )
                .validate(Validator::Above { above: 0.0, at_most: f64::INFINITY }),
            AttributeSchema::optional("duration", Type::String)
                .describe("how long to produce")
                .default_value(Value::string("30s"))
                .duration_range(Duration::from_secs(1), MAX_DURATION),
            AttributeSchema::optional("record_size", Type::Number)
                .describe("the payload size of each record in bytes")
                .default_value(Value::int(DEFAULT_RECORD_SIZE))
                .int_range(*RECORD_SIZE_RANGE.start(), *RECORD_SIZE_RANGE.end()),
            AttributeSchema::optional("partitions", Type::Number)
                .describe("partitions of the scratch topic")
                .default_value(Value::int(DEFAULT_PARTITIONS))
                .int_range(*PARTITIONS_RANGE.start(), *PARTITIONS_RANGE.end()),
            AttributeSchema::optional("replication_factor", Type::Number)
                .describe("replication factor of the scratch topic (default: the broker default)")
                .int_range(1, 32767),
            AttributeSchema::optional("acks", Type::String)
                .describe("the producer's acks")
                .default_value(Value::string(DEFAULT_ACKS))
                .one_of(&["all", "-1", "1", "0"]),
            AttributeSchema::optional("rate_mb_per_s", Type::Number)
                .describe("cap the produced MB/s at this (default: as fast as the cluster takes)")
                .validate(Validator::Above { above: 0.0, at_most: f64::INFINITY }),
        ],
        Vec::new(),
    )
    // Without a bound the check could not fail.
    .at_least_one_of(&["min_mb_per_s", "max_p99_ms"])
    .with_check(
        "`rate_mb_per_s` is at least `min_mb_per_s` (a lower cap could never reach it)",
        rate_cap_reaches_minimum,
    )
}

/// The rule that a load capped at `rate_mb_per_s` can still reach `min_mb_per_s`.
fn rate_cap_reaches_minimum(
    object: &std::collections::BTreeMap<String, Value>,
) -> Vec<crate::config::schema::Finding> {
    use crate::config::decode::rule::number;
    match (
        number(object, "rate_mb_per_s"),
        number(object, "min_mb_per_s"),
    ) {
        (Some(cap), Some(minimum)) if cap > 0.0 && cap < minimum => {
            vec![crate::config::schema::Finding {
                attribute: "rate_mb_per_s",
                message: format!(
                    "rate_mb_per_s = {cap} caps the load below min_mb_per_s = {minimum}: the check could never hold"
                ),
                hint: Some(format!(
                    "raise rate_mb_per_s to at least {minimum}, or remove it"
                )),
            }]
        }
        _ => Vec::new(),
    }
}

/// The check's arguments, decoded once and judged by [`schema`] (`cluster` is a reference,
/// passed on as it is).
#[derive(Debug, Default, serde::Deserialize)]
struct ThroughputArgs {
    min_mb_per_s: Option<f64>,
    max_p99_ms: Option<f64>,
    duration: Option<String>,
    #[serde(default, deserialize_with = "crate::config::decode::whole_number")]
    record_size: Option<i64>,
    #[serde(default, deserialize_with = "crate::config::decode::whole_number")]
    partitions: Option<i64>,
    #[serde(default, deserialize_with = "crate::config::decode::whole_number")]
    replication_factor: Option<i64>,
    acks: Option<String>,
    rate_mb_per_s: Option<f64>,
}

/// What a run must show to hold.
#[derive(Debug, Clone, PartialEq)]
struct Limits {
    min_mb_per_s: Option<f64>,
    max_p99_ms: Option<f64>,
}

/// How the load is generated.
#[derive(Debug, Clone, PartialEq)]
struct Load {
    duration: Duration,
    record_size: usize,
    partitions: i32,
    replication_factor: Option<i32>,
    acks: String,
    rate_mb_per_s: Option<f64>,
}

pub struct Throughput {
    cluster: Value,
    limits: Limits,
    load: Load,
}

impl Throughput {
    pub fn new(check: &Value) -> ProviderResult<Self> {
        let cluster = reference(check, "cluster").ok_or_else(|| {
            ProviderError::Invalid(
                "throughput needs cluster = cluster.NAME: the cluster to load".to_owned(),
            )
        })?;
        let args: ThroughputArgs = crate::config::decode::decode_checked(NAME, &schema(), check)
            .map_err(ProviderError::Invalid)?;
        let limits = Limits {
            min_mb_per_s: args.min_mb_per_s,
            max_p99_ms: args.max_p99_ms,
        };
        let acks = match args.acks.as_deref().map(str::trim) {
            None | Some("all" | "-1") => DEFAULT_ACKS.to_owned(),
            Some(other) => other.to_owned(),
        };
        let load = Load {
            duration: parsed_duration("duration", args.duration.as_deref())?
                .unwrap_or(DEFAULT_DURATION),
            record_size: args.record_size.unwrap_or(DEFAULT_RECORD_SIZE) as usize,
            partitions: args.partitions.unwrap_or(DEFAULT_PARTITIONS) as i32,
            replication_factor: args.replication_factor.map(|n| n as i32),
            acks,
            rate_mb_per_s: args.rate_mb_per_s,
        };
        Ok(Throughput {
            cluster,
            limits,
            load,
        })
    }

    /// One load test: create the scratch topic, produce and consume for `duration`, delete the
    /// topic, judge the numbers.
    pub async fn poll(&mut self, context: &ProviderContext) -> ProviderResult<CheckRun> {
        let cluster = Cluster::resolve(&context.connections, &self.cluster)?;
        cluster.require(Feature::TopicAdmin)?;
        let topic = scratch_topic_name();
        // Armed before the topic is asked for: a creation that timed out may still happen.
        let scratch = ScratchTopic {
            cluster: cluster.clone(),
            name: topic.clone(),
            armed: true,
        };
        let measured = async {
            let replication = create_scratch_topic(context, &cluster, &topic, &self.load).await?;
            (context.progress)(&format!(
                "throughput: producing to {topic} on {} for {}",
                cluster.address,
                format_duration(self.load.duration)
            ));
            let (cluster, topic, load, cancel) = (
                cluster.clone(),
                topic.clone(),
                self.load.clone(),
                context.cancel.clone(),
            );
            let measurement = blocking(move || measure(&cluster, &topic, &load, cancel)).await?;
            Ok::<_, ProviderError>((measurement, replication))
        }
        .await;
        // Deleted on every path; when interrupted, not waited for beyond the request.
        let deletion = scratch.delete(!context.is_cancelled()).await;
        if let Err(reason) = &deletion {
            (context.progress)(&format!(
                "throughput: the scratch topic {topic} could not be deleted: {reason}"
            ));
        }
        let (measurement, replication) = match measured {
            Ok(measured) => measured,
            Err(ProviderError::Failed(reason)) => {
                return Err(ProviderError::Failed(match &deletion {
                    Ok(()) => reason,
                    Err(why) => {
                        format!("{reason}; the scratch topic {topic} could not be deleted: {why}")
                    }
                }));
            }
            Err(other) => return Err(other),
        };
        if measurement.cancelled || context.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        let problems = judge(&self.limits, &measurement);
        let holds = problems.is_empty();
        let numbers = format!(
            "{} over {} on {}",
            measurement.numbers(),
            format_duration(self.load.duration),
            cluster.address
        );
        let mut summary = if holds {
            format!(
                "{numbers} ({})",
                describe_limits(&self.limits, self.load.rate_mb_per_s)
            )
        } else {
            format!("{}; measured {numbers}", problems.join("; "))
        };
        if let Err(why) = &deletion {
            summary.push_str(&format!(
                "; the scratch topic {topic} could not be deleted: {why}"
            ));
        }
        let (limits, load) = (&self.limits, &self.load);
        let evidence = serde_json::json!({
            "holds": holds,
            "summary": summary,
            "cluster": cluster.address,
            "topic": topic,
            "topic_deleted": deletion.is_ok(),
            "topic_delete_error": deletion.as_ref().err(),
            "min_mb_per_s": limits.min_mb_per_s,
            "max_p99_ms": limits.max_p99_ms,
            "duration_seconds": load.duration.as_secs_f64(),
            "record_size": load.record_size,
            "partitions": load.partitions,
            "replication_factor": replication,
            "acks": load.acks,
            "rate_mb_per_s": load.rate_mb_per_s,
            "produced_mb_per_s": round3(measurement.produced_mb_per_s()),
            "consumed_mb_per_s": round3(measurement.consumed_mb_per_s()),
            "produce_seconds": round3(measurement.produce_elapsed.as_secs_f64()),
            "consume_seconds": round3(measurement.consume_elapsed.as_secs_f64()),
            "records_sent": measurement.records_sent,
            "records_delivered": measurement.records_delivered,
            "records_failed": measurement.records_failed,
            "records_consumed": measurement.records_consumed,
            "bytes_delivered": measurement.bytes_delivered,
            "bytes_consumed": measurement.bytes_consumed,
            "latency_ms": latency_evidence(&measurement.latency),
            "ack_latency_ms": latency_evidence(&measurement.ack_latency),
            "errors": measurement.errors,
        });
        Ok(CheckRun {
            holds,
            summary,
            evidence,
        })
    }
}

/// `_cutover.throughput.` and 16 random hex digits: no two runs (nor two cutover processes on
/// the same cluster) share a topic.
fn scratch_topic_name() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{SCRATCH_TOPIC_PREFIX}{:016x}", hasher.finish())
}

fn admin_options(cluster: &Cluster) -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(cluster.timeout))
        .operation_timeout(Some(cluster.timeout))
}

/// Creates the scratch topic and waits until every partition has a leader; returns the
/// replication factor it got.
async fn create_scratch_topic(
    context: &ProviderContext,
    cluster: &Cluster,
    name: &str,
    load: &Load,
) -> ProviderResult<i32> {
    let retention_ms = (load.duration + DRAIN_WINDOW + SCRATCH_RETENTION_MARGIN)
        .as_millis()
        .to_string();
    let topic = NewTopic::new(
        name,
        load.partitions,
        TopicReplication::Fixed(load.replication_factor.unwrap_or(-1)),
    )
    .set("retention.ms", &retention_ms);
    let admin = admin(cluster)?;
    let results = admin
        .create_topics(&[topic], &admin_options(cluster))
        .await
        .map_err(|error| cluster.failure("cannot create the scratch topic", &error, None))?;
    for result in results {
        result.map_err(|(topic, code)| {
            ProviderError::Failed(format!(
                "{}: creating the scratch topic {topic} failed: {code}",
                cluster.address
            ))
        })?;
    }
    let wait = cluster.timeout.max(Duration::from_secs(10));
    let deadline = Instant::now() + wait;
    // Bounded by the deadline.
    loop {
        let (cluster_copy, topic) = (cluster.clone(), name.to_owned());
        let led = blocking(move || {
            let consumer = cluster_copy.consumer(&[("allow.auto.create.topics", "false")])?;
            let metadata = cluster_copy.metadata(&consumer, Some(&topic))?;
            Ok(metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .filter(|t| t.partitions().iter().all(|p| p.leader() >= 0))
                .map(|t| {
                    let replicas = t.partitions().iter().map(|p| p.replicas().len());
                    (t.partitions().len(), replicas.max().unwrap_or(0) as i32)
                }))
        })
        .await?;
        if let Some((partitions, replication)) = led
            && partitions == load.partitions as usize
        {
            return Ok(replication);
        }
        if context.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        if Instant::now() >= deadline {
            return Err(ProviderError::Failed(format!(
                "{}: the scratch topic {name} did not get a leader for every partition within {wait:?}",
                cluster.address
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The scratch topic of one poll. Deleted by [`ScratchTopic::delete`]; dropped without it (the
/// poll's future abandoned), the deletion is started in the background, best effort.
struct ScratchTopic {
    cluster: Cluster,
    name: String,
    armed: bool,
}

impl ScratchTopic {
    /// Deletes the topic; with `confirm`, waits until the cluster no longer lists it.
    async fn delete(mut self, confirm: bool) -> Result<(), String> {
        self.armed = false;
        delete_topic(&self.cluster, &self.name, confirm).await
    }
}

impl Drop for ScratchTopic {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (cluster, name) = (self.cluster.clone(), std::mem::take(&mut self.name));
        let unfinished = format!(
            "{}: deleting scratch topic {name} did not finish; delete it by hand",
            cluster.address
        );
        let address = cluster.address.clone();
        let topic = name.clone();
        let started = crate::shutdown::spawn_cleanup(unfinished, async move {
            if let Err(reason) = delete_topic(&cluster, &topic, false).await {
                eprintln!(
                    "warning: {}: scratch topic {topic} was left behind ({reason}); delete it by hand",
                    cluster.address
                );
            }
        });
        if !started {
            eprintln!(
                "warning: {address}: scratch topic {name} was left behind; delete it by hand"
            );
        }
    }
}

async fn delete_topic(cluster: &Cluster, name: &str, confirm: bool) -> Result<(), String> {
    let admin = admin(cluster).map_err(|error| error.to_string())?;
    let results = admin
        .delete_topics(&[name], &admin_options(cluster))
        .await
        .map_err(|error| {
            cluster
                .failure("cannot delete topics", &error, None)
                .to_string()
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((_, code)) => return Err(code.to_string()),
        }
    }
    if !confirm {
        return Ok(());
    }
    let wait = cluster.timeout.max(Duration::from_secs(10));
    let deadline = Instant::now() + wait;
    // Bounded by the deadline.
    loop {
        let (cluster, topic) = (cluster.clone(), name.to_owned());
        let listed = blocking(move || {
            // Every topic, not this one: asking for a missing topic by name could create it.
            let consumer = cluster.consumer(&[("allow.auto.create.topics", "false")])?;
            Ok(list_topics(&cluster, &consumer, None)?.contains_key(&topic))
        })
        .await
        .map_err(|error| error.to_string())?;
        if !listed {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("still listed {wait:?} after it was deleted"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// End-to-end and acknowledgment latencies, in microseconds, in fixed buckets: exact below 16,
/// then 16 linear sub-buckets per power of two, so a percentile is within 1/16 (6.25%) above
/// the true value. Up to 2^40 µs (12 days); larger values count in the last bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

const SUB_BUCKET_BITS: u32 = 4;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// Values up to `2^MAX_MAGNITUDE_BITS - 1` get their own bucket.
const MAX_MAGNITUDE_BITS: u32 = 40;
const BUCKETS: usize =
    (SUB_BUCKETS + (MAX_MAGNITUDE_BITS - SUB_BUCKET_BITS) as u64 * SUB_BUCKETS) as usize;

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        LatencyHistogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    fn bucket(value: u64) -> usize {
        if value < SUB_BUCKETS {
            return value as usize;
        }
        let magnitude = 63 - value.leading_zeros();
        if magnitude >= MAX_MAGNITUDE_BITS {
            return BUCKETS - 1;
        }
        let shift = magnitude - SUB_BUCKET_BITS;
        let sub_bucket = (value >> shift) - SUB_BUCKETS;
        (SUB_BUCKETS + u64::from(shift) * SUB_BUCKETS + sub_bucket) as usize
    }

    /// The largest value that falls in `bucket`.
    fn bucket_upper_bound(bucket: usize) -> u64 {
        let bucket = bucket as u64;
        if bucket < SUB_BUCKETS {
            return bucket;
        }
        let shift = (bucket - SUB_BUCKETS) / SUB_BUCKETS;
        let sub_bucket = (bucket - SUB_BUCKETS) % SUB_BUCKETS;
        ((SUB_BUCKETS + sub_bucket + 1) << shift) - 1
    }

    pub fn record(&mut self, micros: u64) {
        self.counts[Self::bucket(micros)] += 1;
        self.count += 1;
        self.sum += u128::from(micros);
        self.min = self.min.min(micros);
        self.max = self.max.max(micros);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The value `quantile` (0 to 1) of the recorded values are at or below: the upper bound
    /// of the bucket holding that rank, never more than the largest value recorded.
    pub fn percentile(&self, quantile: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Self::bucket_upper_bound(bucket).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

/// What one load test measured.
#[derive(Debug, Clone, Default)]
struct Measurement {
    records_sent: u64,
    records_delivered: u64,
    records_failed: u64,
    bytes_delivered: u64,
    records_consumed: u64,
    bytes_consumed: u64,
    /// From the first send to the last acknowledgment.
    produce_elapsed: Duration,
    /// From the first send to the last record consumed.
    consume_elapsed: Duration,
    /// Send to consume.
    latency: LatencyHistogram,
    /// Send to acknowledgment.
    ack_latency: LatencyHistogram,
    /// Why records were not delivered or could not be read (at most a few).
    errors: Vec<String>,
    cancelled: bool,
}

impl Measurement {
    fn produced_mb_per_s(&self) -> f64 {
        mb_per_s(self.bytes_delivered, self.produce_elapsed)
    }

    fn consumed_mb_per_s(&self) -> f64 {
        mb_per_s(self.bytes_consumed, self.consume_elapsed)
    }

    fn p99_ms(&self) -> Option<f64> {
        self.latency.percentile(0.99).map(micros_to_ms)
    }

    /// `48.2 MB/s produced, 47.9 MB/s consumed, p50 3 ms, p99 18 ms`.
    fn numbers(&self) -> String {
        let mut numbers = format!(
            "{} MB/s produced, {} MB/s consumed",
            format_rate(self.produced_mb_per_s()),
            format_rate(self.consumed_mb_per_s())
        );
        if let (Some(p50), Some(p99)) =
            (self.latency.percentile(0.5), self.latency.percentile(0.99))
        {
            numbers.push_str(&format!(
                ", p50 {}, p99 {}",
                format_ms(micros_to_ms(p50)),
                format_ms(micros_to_ms(p99))
            ));
        }
        numbers
    }
}

fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    bytes as f64 / BYTES_PER_MB / elapsed.as_secs_f64()
}

fn micros_to_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// Why a measurement does not hold; empty when it does.
fn judge(limits: &Limits, measured: &Measurement) -> Vec<String> {
    let mut problems = Vec::new();
    if measured.records_failed > 0 {
        problems.push(format!(
            "{} of {} records were not delivered ({})",
            measured.records_failed,
            measured.records_sent,
            measured.errors.join("; ")
        ));
    }
    if let Some(min) = limits.min_mb_per_s {
        let produced = measured.produced_mb_per_s();
        if produced < min {
            problems.push(format!(
                "produced {} MB/s, less than min_mb_per_s = {min}",
                format_rate(produced)
            ));
        }
    }
    if let Some(max) = limits.max_p99_ms {
        match measured.p99_ms() {
            Some(p99) if p99 > max => problems.push(format!(
                "p99 latency {}, more than max_p99_ms = {max}",
                format_ms(p99)
            )),
            Some(_) => {}
            None => problems.push("no record was consumed: no latency to compare".to_owned()),
        }
    }
    if measured.records_consumed < measured.records_delivered {
        problems.push(format!(
            "{} of {} acknowledged records were not consumed within {}s after producing stopped{}",
            measured.records_delivered - measured.records_consumed,
            measured.records_delivered,
            DRAIN_WINDOW.as_secs(),
            if measured.errors.is_empty() || measured.records_failed > 0 {
                String::new()
            } else {
                format!(" ({})", measured.errors.join("; "))
            }
        ));
    }
    if measured.records_delivered == 0 && measured.records_failed == 0 {
        problems.push("no record was acknowledged".to_owned());
    }
    problems
}

/// `min 20 MB/s, max p99 50 ms`, and the rate cap when there is one.
fn describe_limits(limits: &Limits, rate_mb_per_s: Option<f64>) -> String {
    let mut parts = Vec::new();
    if let Some(min) = limits.min_mb_per_s {
        parts.push(format!("min {min} MB/s"));
    }
    if let Some(max) = limits.max_p99_ms {
        parts.push(format!("max p99 {max} ms"));
    }
    if let Some(rate) = rate_mb_per_s {
        parts.push(format!("capped at {rate} MB/s"));
    }
    parts.join(", ")
}

fn format_rate(mb_per_s: f64) -> String {
    if mb_per_s < 1.0 {
        format!("{mb_per_s:.2}")
    } else {
        format!("{mb_per_s:.1}")
    }
}

fn format_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn latency_evidence(histogram: &LatencyHistogram) -> serde_json::Value {
    let ms = |micros: Option<u64>| micros.map(|m| round3(micros_to_ms(m)));
    serde_json::json!({
        "records": histogram.count(),
        "min": ms(histogram.min()),
        "p50": ms(histogram.percentile(0.5)),
        "p90": ms(histogram.percentile(0.9)),
        "p99": ms(histogram.percentile(0.99)),
        "p999": ms(histogram.percentile(0.999)),
        "max": ms(histogram.max()),
        "mean": histogram.mean().map(|m| round3(m / 1000.0)),
    })
}

/// What the producer and consumer threads of one load test share. Times are nanoseconds since
/// `origin` (one monotonic clock for both: a record's latency does not depend on wall time).
struct Shared {
    origin: Instant,
    cancel: tokio::sync::watch::Receiver<bool>,
    consumer_ready: AtomicBool,
    consumer_stopped: AtomicBool,
    /// When the first record was sent (0: not yet).
    started_at: AtomicU64,
    producer_done: AtomicBool,
    producer_done_at: AtomicU64,
    records_delivered: AtomicU64,
}

impl Shared {
    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }
}

/// The producer's client context: counts acknowledgments and their latency, and keeps the
/// cutover context's error reasons, logging and IAM tokens.
struct LoadContext {
    inner: KafkaContext,
    origin: Instant,
    delivered: AtomicU64,
    delivered_bytes: AtomicU64,
    failed: AtomicU64,
    last_ack_at: AtomicU64,
    ack_latency: Mutex<LatencyHistogram>,
}

impl ClientContext for LoadContext {
    crate::kafka::connection::delegate_client_context!(inner);
}

impl ProducerContext for LoadContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        match result {
            Ok(message) => {
                let now = self.origin.elapsed().as_nanos() as u64;
                let payload = message.payload().unwrap_or_default();
                self.delivered.fetch_add(1, Ordering::Relaxed);
                self.delivered_bytes
                    .fetch_add(payload.len() as u64, Ordering::Relaxed);
                self.last_ack_at.fetch_max(now, Ordering::Relaxed);
                if let Some(sent) = sent_at(payload)
                    && let Ok(mut histogram) = self.ack_latency.lock()
                {
                    histogram.record(now.saturating_sub(sent) / 1000);
                }
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.inner.delivery(result, ());
            }
        }
    }
}

/// The send time a payload starts with (nanoseconds since the load test's origin).
fn sent_at(payload: &[u8]) -> Option<u64> {
    payload
        .get(..8)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_le_bytes)
}

/// Produces and consumes for `load.duration`. Blocking.
fn measure(
    cluster: &Cluster,
    topic: &str,
    load: &Load,
    cancel: tokio::sync::watch::Receiver<bool>,
) -> ProviderResult<Measurement> {
    let shared = Shared {
        origin: Instant::now(),
        cancel,
        consumer_ready: AtomicBool::new(false),
        consumer_stopped: AtomicBool::new(false),
        started_at: AtomicU64::new(0),
        producer_done: AtomicBool::new(false),
        producer_done_at: AtomicU64::new(0),
        records_delivered: AtomicU64::new(0),
    };
    let (produced, consumed) = std::thread::scope(|scope| {
        let consumer = scope.spawn(|| {
            let consumed = consume(cluster, topic, load, &shared);
            shared.consumer_stopped.store(true, Ordering::Release);
            consumed
        });
        let produced = produce(cluster, topic, load, &shared);
        // The consumer stops by itself (drained, drain window over, or its own deadline); this
        // only tells it not to wait for a producer that failed.
        shared.producer_done.store(true, Ordering::Release);
        let consumed = consumer
            .join()
            .unwrap_or_else(|_| Err(ProviderError::Failed("the consumer thread panicked".into())));
        (produced, consumed)
    });
    let mut measurement = consumed?;
    let produced = produced?;
    measurement.records_sent = produced.records_sent;
    measurement.records_delivered = produced.records_delivered;
    measurement.records_failed = produced.records_failed;
    measurement.bytes_delivered = produced.bytes_delivered;
    measurement.produce_elapsed = produced.elapsed;
    measurement.ack_latency = produced.ack_latency;
    measurement.cancelled |= produced.cancelled;
    let mut errors = produced.errors;
    errors.append(&mut measurement.errors);
    errors.truncate(4);
    measurement.errors = errors;
    Ok(measurement)
}

struct Produced {
    records_sent: u64,
    records_delivered: u64,
    records_failed: u64,
    bytes_delivered: u64,
    elapsed: Duration,
    ack_latency: LatencyHistogram,
    errors: Vec<String>,
    cancelled: bool,
}

fn produce(
    cluster: &Cluster,
    topic: &str,
    load: &Load,
    shared: &Shared,
) -> ProviderResult<Produced> {
    let context = LoadContext {
        inner: cluster.context(),
        origin: shared.origin,
        delivered: AtomicU64::new(0),
        delivered_bytes: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        last_ack_at: AtomicU64::new(0),
        ack_latency: Mutex::new(LatencyHistogram::new()),
    };
    let message_timeout = (load.duration + DRAIN_WINDOW).as_millis().to_string();
    let producer: BaseProducer<LoadContext> = cluster
        .client_config(&[
            ("acks", &load.acks),
            ("compression.type", "none"),
            ("linger.ms", "5"),
            ("batch.size", "262144"),
            ("enable.idempotence", "false"),
            // The local queue, and so memory, is capped: a full queue waits for the brokers.
            ("queue.buffering.max.kbytes", "32768"),
            ("queue.buffering.max.messages", "200000"),
            ("message.timeout.ms", &message_timeout),
        ])
        .create_with_context(context)
        .map_err(|error| cluster.failure("cannot create a producer", &error, None))?;
    // Connects before the clock starts.
    producer
        .client()
        .fetch_metadata(Some(topic), cluster.timeout)
        .map_err(|error| {
            cluster.failure(
                "cannot read the scratch topic's metadata",
                &error,
                Some(&producer.context().inner),
            )
        })?;
    let ready_deadline = Instant::now() + cluster.timeout;
    // Bounded by the cluster's timeout.
    while !shared.consumer_ready.load(Ordering::Acquire) {
        if shared.consumer_stopped.load(Ordering::Acquire) || Instant::now() >= ready_deadline {
            return Err(ProviderError::Failed(format!(
                "{}: the consumer of the scratch topic did not start within {:?}",
                cluster.address, cluster.timeout
            )));
        }
        if shared.cancelled() {
            return Ok(Produced::cancelled());
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    let mut payload = filler(load.record_size);
    let record_bytes = payload.len() as f64;
    let rate_bytes_per_s = load.rate_mb_per_s.map(|rate| rate * BYTES_PER_MB);
    let started = Instant::now();
    shared
        .started_at
        .store(shared.now().max(1), Ordering::Release);
    let end = started + load.duration;
    let (mut records_sent, mut bytes_sent) = (0_u64, 0_f64);
    let mut errors = Vec::new();
    let mut cancelled = false;
    let mut next_cancel_check = started;
    // Bounded by `duration`.
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if now >= next_cancel_check {
            if shared.cancelled() {
                cancelled = true;
                break;
            }
            next_cancel_check = now + Duration::from_millis(50);
        }
        if let Some(rate) = rate_bytes_per_s
            && bytes_sent + record_bytes > rate * now.duration_since(started).as_secs_f64()
        {
            producer.poll(Duration::from_millis(1));
            continue;
        }
        payload[..8].copy_from_slice(&shared.now().to_le_bytes());
        match producer.send(BaseRecord::<(), [u8]>::to(topic).payload(&payload[..])) {
            Ok(()) => {
                records_sent += 1;
                bytes_sent += record_bytes;
                producer.poll(Duration::ZERO);
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(1));
            }
            Err((error, _)) => {
                errors.push(format!("cannot send: {error}"));
                break;
            }
        }
    }
    let send_window = started.elapsed();
    if cancelled {
        producer.purge(PurgeConfig::default().queue().inflight());
    } else if producer.flush(DRAIN_WINDOW).is_err() {
        let waiting = producer.in_flight_count();
        producer.purge(PurgeConfig::default().queue().inflight());
        errors.push(format!(
            "{waiting} records not acknowledged {}s after producing stopped",
            DRAIN_WINDOW.as_secs()
        ));
    }
    // Delivery reports of purged records.
    producer.poll(Duration::from_millis(100));
    let context = producer.context();
    let records_delivered = context.delivered.load(Ordering::Relaxed);
    shared
        .records_delivered
        .store(records_delivered, Ordering::Release);
    shared
        .producer_done_at
        .store(shared.now(), Ordering::Release);
    shared.producer_done.store(true, Ordering::Release);
    let last_ack = Duration::from_nanos(context.last_ack_at.load(Ordering::Relaxed));
    let first_send = Duration::from_nanos(shared.started_at.load(Ordering::Acquire));
    errors.extend(context.inner.delivery_failures());
    errors.truncate(4);
    Ok(Produced {
        records_sent,
        records_delivered,
        records_failed: context.failed.load(Ordering::Relaxed),
        bytes_delivered: context.delivered_bytes.load(Ordering::Relaxed),
        // Acknowledgments still arriving after the send window count against it too.
        elapsed: last_ack.saturating_sub(first_send).max(send_window),
        ack_latency: context
            .ack_latency
            .lock()
            .map(|histogram| histogram.clone())
            .unwrap_or_default(),
        errors,
        cancelled,
    })
}

impl Produced {
    fn cancelled() -> Self {
        Produced {
            records_sent: 0,
            records_delivered: 0,
            records_failed: 0,
            bytes_delivered: 0,
            elapsed: Duration::ZERO,
            ack_latency: LatencyHistogram::new(),
            errors: Vec::new(),
            cancelled: true,
        }
    }
}

/// A payload of `size` bytes: 8 for the send time, then bytes that do not compress (a broker
/// or topic that compresses would otherwise measure less than it carries).
fn filler(size: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..size)
        .map(|_| {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn consume(
    cluster: &Cluster,
    topic: &str,
    load: &Load,
    shared: &Shared,
) -> ProviderResult<Measurement> {
    let consumer: BaseConsumer<KafkaContext> = cluster.consumer(&[
        ("group.id", "_cutover.throughput"),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("enable.partition.eof", "false"),
        ("allow.auto.create.topics", "false"),
        // Return what arrived promptly: latency, not fetch efficiency, is measured here.
        ("fetch.wait.max.ms", "10"),
        ("queued.max.messages.kbytes", "65536"),
    ])?;
    let mut partitions = TopicPartitionList::new();
    for partition in 0..load.partitions {
        partitions
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|error| cluster.failure("cannot read the scratch topic", &error, None))?;
    }
    consumer.assign(&partitions).map_err(|error| {
        cluster.failure(
            "cannot read the scratch topic",
            &error,
            Some(consumer.context()),
        )
    })?;
    let mut measurement = Measurement::default();
    let warm_up_end = Instant::now() + CONSUMER_WARM_UP;
    // Bounded: CONSUMER_WARM_UP.
    while Instant::now() < warm_up_end {
        if let Some(Err(error)) = consumer.poll(Duration::from_millis(50)) {
            return Err(cluster.failure(
                "cannot read the scratch topic",
                &error,
                Some(consumer.context()),
            ));
        }
    }
    shared.consumer_ready.store(true, Ordering::Release);
    // A last resort should the producer never say it is done.
    let deadline =
        Instant::now() + cluster.timeout + load.duration + DRAIN_WINDOW * 2 + CONSUMER_WARM_UP;
    let mut last_record_at = 0_u64;
    // Bounded: until every acknowledged record is read, DRAIN_WINDOW after producing stopped,
    // or the deadline.
    loop {
        if shared.cancelled() {
            measurement.cancelled = true;
            break;
        }
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(message)) => {
                let now = shared.now();
                let payload = message.payload().unwrap_or_default();
                measurement.records_consumed += 1;
                measurement.bytes_consumed += payload.len() as u64;
                last_record_at = now;
                if let Some(sent) = sent_at(payload) {
                    measurement.latency.record(now.saturating_sub(sent) / 1000);
                }
            }
            // The first few read errors are kept; librdkafka retries the fetch itself.
            Some(Err(error)) if measurement.errors.len() < 4 => {
                measurement.errors.push(format!("cannot read: {error}"));
            }
            Some(Err(_)) | None => {}
        }
        if shared.producer_done.load(Ordering::Acquire) {
            let delivered = shared.records_delivered.load(Ordering::Acquire);
            let done_at = shared.producer_done_at.load(Ordering::Acquire);
            if measurement.records_consumed >= delivered
                || shared.now().saturating_sub(done_at) >= DRAIN_WINDOW.as_nanos() as u64
            {
                break;
            }
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let started_at = shared.started_at.load(Ordering::Acquire);
    measurement.consume_elapsed = Duration::from_nanos(last_record_at.saturating_sub(started_at));
    Ok(measurement)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
        )
    }

    fn number(n: f64) -> Value {
        Value::Number(crate::config::value::Number::from_f64(n).unwrap())
    }

    fn error(pairs: &[(&str, Value)]) -> String {
        match Throughput::new(&check(pairs)) {
            Ok(_) => panic!("expected an error for {pairs:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn buckets_are_exact_below_16_then_within_a_sixteenth() {
        for value in 0..16 {
            let bucket = LatencyHistogram::bucket(value);
            assert_eq!(bucket, value as usize);
            assert_eq!(LatencyHistogram::bucket_upper_bound(bucket), value);
        }
        let mut previous = 0;
        for value in [
            16, 17, 31, 32, 33, 63, 64, 100, 1_000, 4_095, 4_096, 123_456, 9_999_999,
        ] {
            let bucket = LatencyHistogram::bucket(value);
            assert!(bucket >= previous, "buckets grow with values");
            previous = bucket;
            let upper = LatencyHistogram::bucket_upper_bound(bucket);
            assert!(upper >= value, "{value} ≤ {upper}");
            assert!(
                (upper - value) as f64 <= value as f64 / 16.0,
                "{value}: upper bound {upper} is within 1/16"
            );
            // The bucket below ends below the value.
            assert!(LatencyHistogram::bucket_upper_bound(bucket - 1) < value);
        }
        assert_eq!(LatencyHistogram::bucket(u64::MAX), BUCKETS - 1);
        assert_eq!(LatencyHistogram::bucket((1 << 40) - 1), BUCKETS - 1);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut histogram = LatencyHistogram::new();
        assert_eq!(histogram.percentile(0.99), None);
        assert_eq!(histogram.max(), None);
        // 1 ms … 1000 ms, once each.
        for ms in 1..=1000_u64 {
            histogram.record(ms * 1000);
        }
        assert_eq!(histogram.count(), 1000);
        let within = |quantile: f64, exact_ms: u64| {
            let found = histogram.percentile(quantile).unwrap();
            let exact = exact_ms * 1000;
            assert!(
                found >= exact && (found - exact) as f64 <= exact as f64 / 16.0,
                "p{quantile}: {found} µs, exact {exact} µs"
            );
        };
        within(0.5, 500);
        within(0.9, 900);
        within(0.99, 990);
        // Never beyond the largest value recorded, never below the smallest.
        assert_eq!(histogram.percentile(1.0), Some(1_000_000));
        within(0.0, 1);
        assert_eq!(histogram.max(), Some(1_000_000));
        assert_eq!(histogram.min(), Some(1000));
        assert_eq!(histogram.mean(), Some(500_500.0));
    }

    #[test]
    fn a_few_slow_records_move_p99_but_not_p50() {
        let mut histogram = LatencyHistogram::new();
        for _ in 0..985 {
            histogram.record(2_000);
        }
        for _ in 0..15 {
            histogram.record(250_000);
        }
        let p50 = histogram.percentile(0.5).unwrap();
        let p99 = histogram.percentile(0.99).unwrap();
        assert!((2_000..=2_125).contains(&p50), "{p50}");
        assert!((250_000..=265_625).contains(&p99), "{p99}");
        assert_eq!(histogram.max(), Some(250_000));
        // Fixed size, whatever was recorded.
        assert_eq!(histogram.counts.len(), BUCKETS);
    }

    #[test]
    fn arguments_get_defaults_and_are_checked() {
        let throughput = Throughput::new(&check(&[
            ("cluster", Value::string("cluster.target")),
            ("min_mb_per_s", number(20.0)),
        ]))
        .unwrap();
        assert_eq!(
            throughput.load,
            Load {
                duration: Duration::from_secs(30),
                record_size: 1024,
                partitions: 6,
                replication_factor: None,
                acks: "all".to_owned(),
                rate_mb_per_s: None,
            }
        );
        assert_eq!(throughput.limits.max_p99_ms, None);
        // As the schema converts them: "12" written for a number is 12, 1 for a string "1".
        let tuned = Throughput::new(&check(&[
            ("cluster", Value::string("cluster.target")),
            ("max_p99_ms", number(50.0)),
            ("duration", Value::string("1m")),
            ("record_size", Value::int(512)),
            ("partitions", number(12.0)),
            ("replication_factor", Value::int(3)),
            ("acks", Value::string("1")),
            ("rate_mb_per_s", number(5.5)),
        ]))
        .unwrap();
        assert_eq!(tuned.load.duration, Duration::from_secs(60));
        assert_eq!(tuned.load.record_size, 512);
        assert_eq!(tuned.load.partitions, 12);
        assert_eq!(tuned.load.replication_factor, Some(3));
        assert_eq!(tuned.load.acks, "1");
        assert_eq!(tuned.load.rate_mb_per_s, Some(5.5));
        assert_eq!(tuned.limits.max_p99_ms, Some(50.0));

        // A value that did not come through the configuration gets the words of `validate`.
        let target = ("cluster", Value::string("cluster.target"));
        let min = ("min_mb_per_s", number(1.0));
        assert!(error(std::slice::from_ref(&min)).contains("throughput needs cluster"));
        assert!(
            error(std::slice::from_ref(&target))
                .contains("throughput needs at least one of \"min_mb_per_s\", \"max_p99_ms\"")
        );
        for (pairs, expected) in [
            (
                vec![("min_mb_per_s", number(-1.0))],
                "\"min_mb_per_s\": -1 is out of range: a number of at least 0 allowed",
            ),
            (
                vec![("max_p99_ms", Value::int(0))],
                "\"max_p99_ms\": 0 is out of range: a number above 0 allowed",
            ),
            (
                vec![min.clone(), ("duration", Value::string("2h"))],
                "\"duration\": \"2h\" is out of range: a duration from 1s to 1h allowed",
            ),
            (
                vec![min.clone(), ("duration", Value::string("500ms"))],
                "a duration from 1s to 1h allowed",
            ),
            (
                vec![min.clone(), ("duration", Value::string("soon"))],
                "\"duration\": \"soon\" is not a duration",
            ),
            (
                vec![min.clone(), ("record_size", Value::int(8))],
                "a whole number from 16 to 1000000 allowed",
            ),
            (
                vec![min.clone(), ("partitions", number(2.5))],
                "2.5 is not a whole number",
            ),
            (
                vec![min.clone(), ("replication_factor", Value::int(0))],
                "a whole number from 1 to 32767 allowed",
            ),
            (
                vec![min.clone(), ("acks", Value::string("most"))],
                "\"most\" is not one of \"all\", \"-1\", \"1\", \"0\"",
            ),
            (
                vec![min.clone(), ("rate_mb_per_s", Value::int(0))],
                "\"rate_mb_per_s\": 0 is out of range: a number above 0 allowed",
            ),
            (
                vec![
                    ("min_mb_per_s", number(20.0)),
                    ("rate_mb_per_s", number(5.0)),
                ],
                "rate_mb_per_s = 5 caps the load below min_mb_per_s = 20: the check could never hold",
            ),
        ] {
            let mut pairs = pairs;
            pairs.push(target.clone());
            let found = error(&pairs);
            assert!(found.contains(expected), "{expected:?} in {found:?}");
        }
    }

    fn measured(mb: u64, seconds: u64, p99_micros: u64) -> Measurement {
        let mut latency = LatencyHistogram::new();
        for _ in 0..99 {
            latency.record(1_000);
        }
        latency.record(p99_micros);
        latency.record(p99_micros);
        Measurement {
            records_sent: 101,
            records_delivered: 101,
            records_consumed: 101,
            bytes_delivered: mb * 1024 * 1024,
            bytes_consumed: mb * 1024 * 1024,
            produce_elapsed: Duration::from_secs(seconds),
            consume_elapsed: Duration::from_secs(seconds),
            latency,
            ..Measurement::default()
        }
    }

    #[test]
    fn judging_compares_produced_mb_per_s_p99_and_losses() {
        let limits = Limits {
            min_mb_per_s: Some(20.0),
            max_p99_ms: Some(50.0),
        };
        let fast = measured(900, 30, 18_000);
        assert!(judge(&limits, &fast).is_empty());
        assert_eq!(
            fast.numbers(),
            "30.0 MB/s produced, 30.0 MB/s consumed, p50 1.0 ms, p99 18 ms"
        );

        let slow = measured(300, 30, 80_000);
        assert_eq!(
            judge(&limits, &slow),
            vec![
                "produced 10.0 MB/s, less than min_mb_per_s = 20",
                "p99 latency 80 ms, more than max_p99_ms = 50",
            ]
        );

        let mut lossy = measured(900, 30, 1_000);
        lossy.records_failed = 3;
        lossy.records_consumed = 100;
        lossy.errors = vec!["Message timed out".to_owned()];
        assert_eq!(
            judge(&limits, &lossy),
            vec![
                "3 of 101 records were not delivered (Message timed out)",
                "1 of 101 acknowledged records were not consumed within 10s after producing stopped",
            ]
        );

        let nothing = Measurement::default();
        assert_eq!(
            judge(&limits, &nothing),
            vec![
                "produced 0.00 MB/s, less than min_mb_per_s = 20",
                "no record was consumed: no latency to compare",
                "no record was acknowledged",
            ]
        );
        assert_eq!(
            describe_limits(&limits, Some(5.0)),
            "min 20 MB/s, max p99 50 ms, capped at 5 MB/s"
        );
    }

    #[test]
    fn scratch_topics_are_internal_and_unique() {
        let (one, two) = (scratch_topic_name(), scratch_topic_name());
        assert_ne!(one, two);
        assert!(one.starts_with(SCRATCH_TOPIC_PREFIX));
        assert_eq!(one.len(), SCRATCH_TOPIC_PREFIX.len() + 16);
        assert!(crate::kafka::admin::is_internal(&one));
    }

    #[test]
    fn payloads_carry_their_send_time() {
        let mut payload = filler(64);
        assert_eq!(payload.len(), 64);
        payload[..8].copy_from_slice(&123_456_789_u64.to_le_bytes());
        assert_eq!(sent_at(&payload), Some(123_456_789));
        assert_eq!(sent_at(&payload[..4]), None);
    }
}
