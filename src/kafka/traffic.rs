//! Measuring what a cluster carries over a short window: per topic, records and bytes written
//! per second, partitions and replicas, retention and the bytes stored, summed over the topics.
//! The `kafka_traffic` data source (in the providers) and the `msk_sizing` check (in `verify`,
//! when it measures the source itself) both run [`measure`].
//!
//! Records come from the partitions' end offsets at the start and the end of the window (the
//! same reads as the mirror's plan estimate, [`super::extent::watermarks`]). Bytes come from the
//! brokers' log sizes (DescribeLogDirs, [`super::extent::log_sizes`]) where the brokers report
//! them (1.0 or newer, over PLAINTEXT); elsewhere, such as on 0.8.2, from a sample of each
//! topic's newest records (key, value and the message format's per-record overhead), multiplied
//! by the records counted.
//!
//! Read-only. A window is bounded (at most [`MAX_WINDOW`]) and ends early when the run is
//! interrupted; so is the sample ([`SAMPLE_TIMEOUT`] per topic).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;

use super::admin::{is_internal, list_topics, topic_configs};
use super::connection::{BrokerVersion, Cluster, Feature, KafkaContext, blocking};
use super::extent::{Watermarks, is_plaintext, log_sizes, watermarks};
use crate::config::value::Value;
use crate::context::ProviderContext;
use crate::economics::sizing::TopicTraffic;
use crate::error::{OperationError as ProviderError, OperationResult as ProviderResult};

pub const KAFKA_TRAFFIC: &str = "kafka_traffic";

/// The longest measuring window accepted: a plan should not wait longer.
pub const MAX_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long sampling one topic's records may take.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Kafka's default `log.retention.hours` (168): assumed where a topic sets no retention.
pub const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;
/// Per-record overhead of the message formats (v0: offset, size, CRC, magic, attributes, key
/// and value lengths; v1 adds a timestamp). Record batches (v2) are smaller per record, so the
/// estimate errs large on brokers that use them, which only the sampled path does.
const RECORD_OVERHEAD_V0: u64 = 26;
const RECORD_OVERHEAD_V1: u64 = 34;

/// The typed arguments (the schema checked them).
#[derive(Debug, Default, Deserialize)]
struct TrafficArgs {
    topics: Option<Vec<Option<String>>>,
    window: Option<String>,
    sample_records: Option<serde_json::Number>,
}

/// Measures what `config` (the data source's arguments: `cluster`, `topics`, `window`,
/// `sample_records`) describes and returns them with the computed attributes. Also what the
/// `msk_sizing` check runs when it measures the source itself.
pub async fn measure(context: &ProviderContext, config: &Value) -> ProviderResult<Value> {
    let args: TrafficArgs =
        crate::config::decode::decode(KAFKA_TRAFFIC, config).map_err(ProviderError::Invalid)?;
    let window = match args.window.as_deref() {
        None => Duration::from_secs(10),
        Some(text) => crate::config::evaluate::parse_duration(text)
            .filter(|window| *window <= MAX_WINDOW)
            .ok_or_else(|| {
                ProviderError::Invalid(format!(
                    "window must be a duration of at most 15m, such as \"10s\", not {text:?}"
                ))
            })?,
    };
    let sample_records = args
        .sample_records
        .as_ref()
        .and_then(serde_json::Number::as_u64)
        .unwrap_or(20)
        .clamp(1, 1000);
    let cluster_value = config
        .as_map()
        .and_then(|map| map.get("cluster"))
        .cloned()
        .unwrap_or(Value::Null);
    let cluster = Cluster::resolve(&context.connections, &cluster_value)?;
    let plaintext = is_plaintext(&context.connections, &cluster_value);
    let wanted: Option<Vec<String>> = args
        .topics
        .map(|topics| topics.into_iter().flatten().collect());

    // The topics, their partition counts and replication factors.
    let topics: BTreeMap<String, (i32, i32)> = {
        let cluster = cluster.clone();
        let wanted = wanted.clone();
        blocking(move || {
            let consumer = cluster.consumer(&[])?;
            Ok(list_topics(&cluster, &consumer, None)?
                .into_iter()
                .filter(|(name, _)| match &wanted {
                    Some(wanted) => wanted.contains(name),
                    None => !is_internal(name),
                })
                .collect())
        })
        .await?
    };
    let mut notes = Vec::new();
    if let Some(wanted) = &wanted {
        // Counted, not named: the list may be sensitive.
        let missing = wanted
            .iter()
            .filter(|name| !topics.contains_key(*name))
            .count();
        if missing > 0 {
            notes.push(format!(
                "{missing} of the {} topics are not on the cluster: not measured",
                wanted.len()
            ));
        }
    }
    let names: Vec<String> = topics.keys().cloned().collect();
    let configs = topic_configs(&cluster, &names).await.unwrap_or_else(|error| {
            notes.push(format!(
                "topic configs could not be read ({error}): retention assumed to be the broker default"
            ));
            BTreeMap::new()
        });

    let log_dirs = cluster.supports(Feature::CreatePartitions) && plaintext;
    let first = {
        let (cluster, names) = (cluster.clone(), names.clone());
        blocking(move || snapshot(&cluster, &names, log_dirs)).await?
    };
    let started = Instant::now();
    wait(context, window).await;
    let (second, sampled) = {
        let (cluster, names) = (cluster.clone(), names.clone());
        blocking(move || {
            let second = snapshot(&cluster, &names, log_dirs)?;
            // Record sizes are sampled where the brokers gave no log sizes.
            let sampled = if second.sizes.is_none() {
                sample_sizes(&cluster, &second.marks, sample_records)
            } else {
                BTreeMap::new()
            };
            Ok((second, sampled))
        })
        .await?
    };
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    notes.extend(first.notes.iter().cloned());
    if !log_dirs {
        notes.push(if cluster.supports(Feature::CreatePartitions) {
                "bytes: log sizes are read over PLAINTEXT only: estimated from sampled record sizes".to_owned()
            } else {
                "bytes: the brokers (older than 1.0) do not report log sizes: estimated from sampled record sizes".to_owned()
            });
    }
    let overhead = if cluster
        .broker_version
        .is_some_and(|version| version < BrokerVersion(0, 10, 0))
    {
        RECORD_OVERHEAD_V0
    } else {
        RECORD_OVERHEAD_V1
    };

    let mut by_topic = BTreeMap::new();
    for (name, (partitions, replication_factor)) in &topics {
        let config = configs.get(name);
        let setting = |key: &str| {
            config
                .and_then(|config| config.get(key))
                .and_then(|value| value.trim().parse::<i64>().ok())
        };
        let (retention_ms, retention_source) = match setting("retention.ms") {
            Some(ms) => (ms, "topic"),
            None => (DEFAULT_RETENTION_MS, "default"),
        };
        let sample = sampled.get(name).map(|(bytes, count)| {
            (*bytes as f64 + (*count * overhead) as f64) / (*count).max(1) as f64
        });
        let figures = topic_figures(name, &first, &second, seconds, sample);
        by_topic.insert(
            name.clone(),
            TopicTraffic {
                partitions: (*partitions).max(0) as u64,
                replication_factor: (*replication_factor).max(0) as u64,
                records_in_per_second: figures.records_per_second,
                bytes_in_per_second: figures.bytes_per_second,
                records: figures.records,
                stored_bytes: figures.stored_bytes,
                average_record_bytes: figures.average_record_bytes,
                retention_ms,
                retention_bytes: setting("retention.bytes").unwrap_or(-1),
                retention_source: retention_source.to_owned(),
                size_source: figures.size_source.to_owned(),
            },
        );
    }
    if by_topic.values().any(|t| t.retention_source == "default") {
        notes.push(
            "retention: topics without retention.ms are counted at Kafka's default, 7 days"
                .to_owned(),
        );
    }
    let summary = summarise(&by_topic, seconds, first.brokers, notes);
    let mut result = config.as_map().cloned().unwrap_or_default();
    let topics_sensitive = result.get("topics").is_some_and(Value::contains_sensitive);
    if let Value::Map(computed) = Value::from_json(&summary) {
        result.extend(computed);
    }
    // Topic names are keys of `by_topic`: as sensitive as the list they came from.
    if topics_sensitive && let Some(by_topic) = result.remove("by_topic") {
        result.insert("by_topic".to_owned(), Value::sensitive(by_topic));
    }
    Ok(Value::Map(result))
}

/// Sleeps `window`, or less when the run is interrupted.
async fn wait(context: &ProviderContext, window: Duration) {
    let mut cancel = context.cancel.clone();
    let sleep = tokio::time::sleep(window);
    tokio::pin!(sleep);
    loop {
        if *cancel.borrow() {
            return;
        }
        tokio::select! {
            () = &mut sleep => return,
            changed = cancel.changed() => {
                // No sender any more: nobody can interrupt, the window runs out.
                if changed.is_err() {
                    sleep.await;
                    return;
                }
            }
        }
    }
}

/// Offsets (and log sizes where read) at one moment.
struct Snapshot {
    marks: Watermarks,
    sizes: Option<BTreeMap<(String, i32), i64>>,
    brokers: usize,
    notes: Vec<String>,
}

/// Blocking: the topics' watermarks and, with `log_dirs`, their leaders' log sizes.
fn snapshot(cluster: &Cluster, names: &[String], log_dirs: bool) -> ProviderResult<Snapshot> {
    let (marks, brokers, leaders) =
        watermarks(cluster, names).map_err(|error| ProviderError::Failed(error.to_string()))?;
    let mut notes = Vec::new();
    let sizes = if log_dirs {
        match log_sizes(
            &brokers,
            &leaders,
            cluster.timeout.min(Duration::from_secs(10)),
        ) {
            Ok(sizes) => Some(sizes),
            Err(error) => {
                notes.push(format!(
                    "bytes: the brokers' log sizes could not be read ({error}): estimated from sampled record sizes"
                ));
                None
            }
        }
    } else {
        None
    };
    Ok(Snapshot {
        marks,
        sizes,
        brokers: brokers.len(),
        notes,
    })
}

/// `topic` → (key and value bytes, records) of up to `per_partition` newest records of each
/// partition. Best effort and bounded: a topic that cannot be read is left out.
fn sample_sizes(
    cluster: &Cluster,
    marks: &Watermarks,
    per_partition: u64,
) -> BTreeMap<String, (u64, u64)> {
    let mut by_topic: BTreeMap<&str, Vec<(i32, i64, i64)>> = BTreeMap::new();
    for ((topic, partition), &(start, end)) in marks {
        if end > start {
            by_topic
                .entry(topic.as_str())
                .or_default()
                .push((*partition, start, end));
        }
    }
    let mut sampled = BTreeMap::new();
    let Ok(consumer) = cluster.consumer(&[
        ("group.id", "cutover-traffic-sample"),
        ("enable.auto.commit", "false"),
        ("enable.partition.eof", "false"),
    ]) else {
        return sampled;
    };
    for (topic, partitions) in by_topic {
        if let Some(found) = sample_topic(&consumer, topic, &partitions, per_partition) {
            sampled.insert(topic.to_owned(), found);
        }
    }
    sampled
}

fn sample_topic(
    consumer: &BaseConsumer<KafkaContext>,
    topic: &str,
    partitions: &[(i32, i64, i64)],
    per_partition: u64,
) -> Option<(u64, u64)> {
    let mut assignment = TopicPartitionList::new();
    let mut wanted: u64 = 0;
    for &(partition, start, end) in partitions {
        let from = start.max(end - per_partition as i64);
        wanted += (end - from) as u64;
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(from))
            .ok()?;
    }
    consumer.assign(&assignment).ok()?;
    let deadline = Instant::now() + SAMPLE_TIMEOUT;
    let (mut bytes, mut count) = (0u64, 0u64);
    while count < wanted && Instant::now() < deadline {
        // Errors and empty polls only use up the time.
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            bytes += message.key().map_or(0, <[u8]>::len) as u64
                + message.payload().map_or(0, <[u8]>::len) as u64;
            count += 1;
        }
    }
    let _ = consumer.unassign();
    (count > 0).then_some((bytes, count))
}

/// One topic's figures from two snapshots.
struct Figures {
    records_per_second: f64,
    bytes_per_second: f64,
    records: u64,
    stored_bytes: u64,
    average_record_bytes: f64,
    size_source: &'static str,
}

/// The figures of `topic` from the snapshots `seconds` apart; `sample` is the sampled bytes
/// per record where the brokers gave no log sizes.
fn topic_figures(
    topic: &str,
    first: &Snapshot,
    second: &Snapshot,
    seconds: f64,
    sample: Option<f64>,
) -> Figures {
    let (mut written, mut records, mut stored, mut grown) = (0u64, 0u64, 0u64, 0f64);
    let mut sized = true;
    for (key, &(start, end)) in second.marks.range((topic.to_owned(), i32::MIN)..) {
        if key.0 != topic {
            break;
        }
        let (start_before, end_before) = first.marks.get(key).copied().unwrap_or((start, end));
        let added = (end - end_before).max(0) as u64;
        let held = (end - start).max(0) as u64;
        written += added;
        records += held;
        match (&first.sizes, &second.sizes) {
            (Some(before), Some(after)) => {
                let size_after = after.get(key).copied().unwrap_or(0).max(0);
                let size_before = before.get(key).copied().unwrap_or(0).max(0);
                stored += size_after as u64;
                // Growth of the log is the bytes written, unless retention removed a segment
                // meanwhile: then the records written at the log's average size.
                if start == start_before && size_after >= size_before {
                    grown += (size_after - size_before) as f64;
                } else if held > 0 {
                    grown += added as f64 * size_after as f64 / held as f64;
                }
            }
            _ => sized = false,
        }
    }
    let (bytes_per_second, stored_bytes, average, source) = if sized {
        let average = if records > 0 {
            stored as f64 / records as f64
        } else {
            0.0
        };
        (grown / seconds, stored, average, "log_dirs")
    } else {
        match sample {
            Some(average) => (
                written as f64 * average / seconds,
                (records as f64 * average).round() as u64,
                average,
                "sampled",
            ),
            None => (0.0, 0, 0.0, "none"),
        }
    };
    Figures {
        records_per_second: written as f64 / seconds,
        bytes_per_second,
        records,
        stored_bytes,
        average_record_bytes: average,
        size_source: source,
    }
}

/// The computed attributes, as JSON.
fn summarise(
    by_topic: &BTreeMap<String, TopicTraffic>,
    seconds: f64,
    brokers: usize,
    notes: Vec<String>,
) -> serde_json::Value {
    let sum = |f: fn(&TopicTraffic) -> f64| by_topic.values().map(f).sum::<f64>();
    let sources: std::collections::BTreeSet<&str> = by_topic
        .values()
        .filter(|topic| topic.records > 0 || topic.size_source != "none")
        .map(|topic| topic.size_source.as_str())
        .collect();
    let size_source = match sources.len() {
        0 => "none",
        1 => sources.iter().next().copied().unwrap_or("none"),
        _ => "mixed",
    };
    serde_json::json!({
        "window_seconds": round(seconds, 3),
        "brokers": brokers,
        "records_in_per_second": round(sum(|t| t.records_in_per_second), 3),
        "bytes_in_per_second": round(sum(|t| t.bytes_in_per_second), 3),
        "partitions": by_topic.values().map(|t| t.partitions).sum::<u64>(),
        "replicas": by_topic.values().map(|t| t.partitions * t.replication_factor).sum::<u64>(),
        "replication_factor": by_topic.values().map(|t| t.replication_factor).max().unwrap_or(0),
        "stored_bytes": by_topic.values().map(|t| t.stored_bytes).sum::<u64>(),
        "stored_bytes_replicated": by_topic.values().map(|t| t.stored_bytes * t.replication_factor).sum::<u64>(),
        "size_source": size_source,
        "by_topic": by_topic.iter().map(|(name, topic)| {
            let mut topic = topic.clone();
            topic.records_in_per_second = round(topic.records_in_per_second, 3);
            topic.bytes_in_per_second = round(topic.bytes_in_per_second, 3);
            topic.average_record_bytes = round(topic.average_record_bytes, 1);
            (name.clone(), serde_json::to_value(topic).unwrap_or_default())
        }).collect::<serde_json::Map<_, _>>(),
        "notes": notes,
    })
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(marks: &[(i32, i64, i64)], sizes: Option<&[i64]>) -> Snapshot {
        Snapshot {
            marks: marks
                .iter()
                .map(|&(p, s, e)| (("t".to_owned(), p), (s, e)))
                .collect(),
            sizes: sizes.map(|sizes| {
                marks
                    .iter()
                    .zip(sizes)
                    .map(|(&(p, _, _), &size)| (("t".to_owned(), p), size))
                    .collect()
            }),
            brokers: 1,
            notes: Vec::new(),
        }
    }

    #[test]
    fn rates_come_from_log_growth_or_sampled_sizes() {
        // Two partitions; 100 and 50 records written in 10 s; logs grew 10,000 and 5,000 bytes.
        let first = snapshot(&[(0, 0, 900), (1, 0, 450)], Some(&[90_000, 45_000]));
        let second = snapshot(&[(0, 0, 1_000), (1, 0, 500)], Some(&[100_000, 50_000]));
        let figures = topic_figures("t", &first, &second, 10.0, None);
        assert_eq!(figures.records_per_second, 15.0);
        assert_eq!(figures.bytes_per_second, 1_500.0);
        assert_eq!(figures.stored_bytes, 150_000);
        assert_eq!(figures.average_record_bytes, 100.0);
        assert_eq!(figures.size_source, "log_dirs");
        // Retention removed a segment of partition 0: its records at the log's average size.
        let trimmed = snapshot(&[(0, 400, 1_000), (1, 0, 500)], Some(&[60_000, 50_000]));
        let figures = topic_figures("t", &first, &trimmed, 10.0, None);
        assert_eq!(figures.bytes_per_second, (100.0 * 100.0 + 5_000.0) / 10.0);
        // No log sizes (0.8.2): 150 records at a sampled 60 bytes.
        let first = snapshot(&[(0, 0, 900), (1, 0, 450)], None);
        let second = snapshot(&[(0, 0, 1_000), (1, 0, 500)], None);
        let figures = topic_figures("t", &first, &second, 10.0, Some(60.0));
        assert_eq!(figures.bytes_per_second, 900.0);
        assert_eq!(figures.stored_bytes, 90_000);
        assert_eq!(figures.size_source, "sampled");
        assert_eq!(
            topic_figures("t", &first, &second, 10.0, None).size_source,
            "none"
        );
    }
}
