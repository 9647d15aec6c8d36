//! `lag { mirror = kafka_mirror.x, max_records = 0, max_seconds = 30, stable_for = "30s" }`:
//! replication lag of a mirror — per partition, the source end offset minus the mirrored
//! position (the target's end offset when offsets are preserved, the offset map's resume
//! point when they are translated), summed over partitions, and in seconds the age of the
//! oldest source record not yet mirrored. And/or `cluster = …, groups = [...]` (with optional
//! `topics`): consumer-group lag, end offset minus committed offset, per group.
//!
//! Every poll also adds a sample `[unix_millis, total_records_behind]` to the evidence
//! (`samples`), after the samples of the previous runs of the same assertion: the chart of
//! `cutover show -markdown -chart FILE` draws them over the whole migration.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::Consumer as _;
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};

use super::read::{
    Endpoints, MIRROR_OR_ENDPOINTS, Offsets, all_topics, mirror_or_endpoints, next_record, reader,
    seek, watermarks,
};
use super::{CheckRun, parsed_duration};
use crate::config::decode::reference;
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::value::Value;
use crate::context::ProviderContext;
use crate::error::{OperationError as ProviderError, OperationResult as ProviderResult};
use crate::kafka::connection::{Cluster, blocking, with_coordinator_retries};
use crate::mirror::offset_map;

pub const NAME: &str = "lag";

/// The most samples the evidence keeps, over every run of the assertion: the first one and the
/// most recent ones. 500 polls at the default 5s interval are 40 minutes of lag.
pub const SAMPLE_LIMIT: usize = 500;

pub fn schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::optional("mirror", Type::Any)
                .describe("the kafka_mirror whose replication lag is measured"),
            AttributeSchema::optional("source", Type::Any)
                .describe("without mirror: the source cluster (offsets compared as preserved)")
                .conflicts_with(&["mirror"])
                .requires(&["target"]),
            AttributeSchema::optional("target", Type::Any)
                .describe("without mirror: the target cluster")
                .conflicts_with(&["mirror"])
                .requires(&["source"]),
            AttributeSchema::optional("cluster", Type::Any)
                .describe("with groups: the cluster whose consumer-group lag is measured")
                .requires(&["groups"]),
            AttributeSchema::optional("groups", Type::list_of(Type::String))
                .describe("consumer groups whose lag is measured on cluster")
                .requires(&["cluster"]),
            AttributeSchema::optional("topics", Type::list_of(Type::String))
                .describe("limit to these topics (default: the mirror's, or every topic)")
                .pattern(crate::config::validate::Pattern::TopicName),
            AttributeSchema::optional("max_records", Type::Number)
                .describe("the most records behind that still holds, summed over partitions")
                .default_value(crate::config::value::Value::int(0))
                .int_range(0, i64::MAX),
            AttributeSchema::optional("max_seconds", Type::Number)
                .describe("the oldest unmirrored source record may be at most this old")
                .validate(crate::config::validate::Validator::AtLeast(0.0)),
            AttributeSchema::optional("stable_for", Type::String)
                .describe("the lag must stay within bounds this long, e.g. \"30s\"")
                .pattern(crate::config::validate::Pattern::Duration),
        ],
        Vec::new(),
    )
    .at_least_one_of(&["mirror", "source", "groups"])
    .with_check(MIRROR_OR_ENDPOINTS, mirror_or_endpoints)
}

/// The check's own arguments, decoded once (the schema judged them; `mirror`, `source`,
/// `target` and `cluster` are references, passed on as they are). Unknown values decode as
/// unset, an unknown element of a list as `None`.
#[derive(Debug, Default, serde::Deserialize)]
struct LagArgs {
    topics: Option<Vec<Option<String>>>,
    groups: Option<Vec<Option<String>>>,
    #[serde(default, deserialize_with = "crate::config::decode::whole_number")]
    max_records: Option<i64>,
    max_seconds: Option<f64>,
    stable_for: Option<String>,
}

fn known(items: &Option<Vec<Option<String>>>) -> Vec<String> {
    items.iter().flatten().flatten().cloned().collect()
}

pub struct Lag {
    mirror: Option<Endpoints>,
    groups: Option<(Value, Vec<String>, Vec<String>)>,
    max_records: i64,
    max_seconds: Option<f64>,
    pub stable_for: Duration,
    /// `[unix_millis, total_records_behind]`, oldest first, at most [`SAMPLE_LIMIT`].
    samples: Vec<[i64; 2]>,
}

impl Lag {
    /// `prior` is the evidence this check stored in the assertion's previous run: its samples
    /// are continued.
    pub fn new(check: &Value, prior: Option<&serde_json::Value>) -> ProviderResult<Self> {
        let args: LagArgs = crate::config::decode::decode_checked(NAME, &schema(), check)
            .map_err(ProviderError::Invalid)?;
        let topics = known(&args.topics);
        let explicit = reference(check, "source").is_some() && reference(check, "target").is_some();
        let mirror = (reference(check, "mirror").is_some() || explicit)
            .then(|| Endpoints::from_check(check, topics.clone()))
            .transpose()?;
        let groups = known(&args.groups);
        let groups = match (reference(check, "cluster"), groups.is_empty()) {
            (Some(cluster), false) => Some((cluster, groups, topics)),
            (None, false) => {
                return Err(ProviderError::Invalid(
                    "groups needs cluster: the cluster the groups consume from".to_owned(),
                ));
            }
            _ => None,
        };
        if mirror.is_none() && groups.is_none() {
            return Err(ProviderError::Invalid(
                "lag needs mirror = kafka_mirror.NAME, or cluster and groups".to_owned(),
            ));
        }
        Ok(Lag {
            mirror,
            groups,
            max_records: args.max_records.unwrap_or(0),
            max_seconds: args.max_seconds,
            stable_for: parsed_duration("stable_for", args.stable_for.as_deref())?
                .unwrap_or(Duration::ZERO),
            samples: prior_samples(prior),
        })
    }

    /// Measures the lag and records a sample. A measurement that fails (a cluster out of
    /// reach) does not hold and adds no sample, but keeps the samples in its evidence: it may
    /// be the last poll, whose evidence the next run continues from.
    pub async fn poll(&mut self, context: &ProviderContext) -> ProviderResult<CheckRun> {
        match self.measure(context).await {
            Ok((mut run, total_records_behind)) => {
                push_sample(&mut self.samples, [unix_millis_now(), total_records_behind]);
                if let Some(evidence) = run.evidence.as_object_mut() {
                    evidence.insert("samples".to_owned(), serde_json::json!(self.samples));
                }
                Ok(run)
            }
            Err(ProviderError::Failed(reason)) => Ok(CheckRun {
                holds: false,
                summary: reason.clone(),
                evidence: serde_json::json!({
                    "holds": false,
                    "error": reason,
                    "samples": self.samples,
                }),
            }),
            Err(other) => Err(other),
        }
    }

    /// One measurement, and the total records behind it found: the mirror's plus every
    /// group's.
    async fn measure(&self, context: &ProviderContext) -> ProviderResult<(CheckRun, i64)> {
        let mut total_records_behind = 0;
        let mut evidence = serde_json::Map::new();
        let mut problems = Vec::new();
        let mut numbers = Vec::new();
        if let Some(endpoints) = &self.mirror {
            let (source, target) = endpoints.clusters(context)?;
            let endpoints = endpoints.clone();
            let want_seconds = self.max_seconds.is_some();
            let measured =
                blocking(move || mirror_lag(&source, &target, &endpoints, want_seconds)).await?;
            let total: i64 = measured.values().map(|(records, _)| *records).sum();
            total_records_behind += total;
            let oldest = measured
                .values()
                .filter_map(|(_, seconds)| *seconds)
                .fold(None, |max: Option<f64>, s| {
                    Some(max.map_or(s, |m| m.max(s)))
                });
            numbers.push(format!("mirror lag {total} records"));
            if total > self.max_records {
                let worst = measured
                    .iter()
                    .max_by_key(|(_, (records, _))| *records)
                    .map(|(key, (records, _))| format!(" (most on {key}: {records})"))
                    .unwrap_or_default();
                problems.push(format!(
                    "the mirror is {total} records behind, more than max_records = {}{worst}",
                    self.max_records
                ));
            }
            if let (Some(limit), Some(seconds)) = (self.max_seconds, oldest) {
                numbers.push(format!("{seconds:.1}s"));
                if seconds > limit {
                    problems.push(format!(
                        "the oldest unmirrored record is {seconds:.1}s old, more than max_seconds = {limit}"
                    ));
                }
            }
            evidence.insert(
                "mirror".to_owned(),
                serde_json::json!({
                    "records": total,
                    "oldest_unmirrored_seconds": oldest,
                    "partitions": measured
                        .iter()
                        .map(|(key, (records, seconds))| (key.clone(), serde_json::json!({ "records": records, "seconds": seconds })))
                        .collect::<serde_json::Map<_, _>>(),
                }),
            );
        }
        if let Some((cluster, groups, topics)) = &self.groups {
            let cluster = Cluster::resolve(&context.connections, cluster)?;
            let (groups, topics) = (groups.clone(), topics.clone());
            let measured = blocking(move || group_lag(&cluster, &groups, &topics)).await?;
            let mut by_group = serde_json::Map::new();
            for (group, partitions) in &measured {
                let total: i64 = partitions.values().sum();
                total_records_behind += total;
                numbers.push(format!("group {group} lag {total}"));
                if total > self.max_records {
                    problems.push(format!(
                        "group {group} is {total} records behind, more than max_records = {}",
                        self.max_records
                    ));
                }
                by_group.insert(
                    group.clone(),
                    serde_json::json!({ "records": total, "partitions": partitions }),
                );
            }
            evidence.insert("groups".to_owned(), serde_json::Value::Object(by_group));
        }
        let holds = problems.is_empty();
        let summary = if holds {
            format!(
                "{} (max_records = {})",
                numbers.join(", "),
                self.max_records
            )
        } else {
            problems.join("; ")
        };
        evidence.insert("holds".to_owned(), holds.into());
        evidence.insert("summary".to_owned(), summary.clone().into());
        evidence.insert("max_records".to_owned(), self.max_records.into());
        let run = CheckRun {
            holds,
            summary,
            evidence: serde_json::Value::Object(evidence),
        };
        Ok((run, total_records_behind))
    }
}

/// The samples of a previous run's evidence; malformed entries (an older cutover stored
/// none) are left out.
fn prior_samples(prior: Option<&serde_json::Value>) -> Vec<[i64; 2]> {
    let Some(stored) = prior
        .and_then(|prior| prior.get("samples"))
        .and_then(serde_json::Value::as_array)
    else {
        return Vec::new();
    };
    let mut samples = Vec::new();
    for sample in stored {
        if let Some([at, records]) = sample.as_array().map(Vec::as_slice)
            && let (Some(at), Some(records)) = (at.as_i64(), records.as_i64())
        {
            push_sample(&mut samples, [at, records]);
        }
    }
    samples
}

/// Appends a sample; beyond [`SAMPLE_LIMIT`] the oldest but the first go, so the series still
/// starts where the migration's lag was first measured.
fn push_sample(samples: &mut Vec<[i64; 2]>, sample: [i64; 2]) {
    samples.push(sample);
    if samples.len() > SAMPLE_LIMIT {
        let excess = samples.len() - SAMPLE_LIMIT;
        samples.drain(1..1 + excess);
    }
}

fn unix_millis_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// Per partition: records behind, and (when asked) the age in seconds of the oldest source
/// record not yet mirrored. Blocking.
fn mirror_lag(
    source: &Cluster,
    target: &Cluster,
    endpoints: &Endpoints,
    want_seconds: bool,
) -> ProviderResult<BTreeMap<String, (i64, Option<f64>)>> {
    let source_reader = reader(source)?;
    let target_reader = reader(target)?;
    let source_marks = watermarks(source, &source_reader, &endpoints.topics)?;
    let target_marks = watermarks(target, &target_reader, &endpoints.topics)?;
    let mut lag = BTreeMap::new();
    for topic in &endpoints.topics {
        let Some(on_source) = source_marks.get(topic) else {
            return Err(ProviderError::Failed(format!(
                "{topic} does not exist on {}",
                source.address
            )));
        };
        let on_target = target_marks.get(topic);
        let map = match &endpoints.offsets {
            Offsets::Preserve => None,
            Offsets::Translate { map_topic } => Some(offset_map::read(target, map_topic)?),
        };
        for (partition, (source_start, source_end)) in on_source.iter().enumerate() {
            let key = format!("{topic}/{partition}");
            let target_end = on_target
                .and_then(|t| t.get(partition))
                .map_or(0, |(_, end)| *end);
            let position = match &map {
                None => target_end,
                Some(map) => map.resume(&key, target_end).unwrap_or(*source_start),
            }
            .max(*source_start);
            let behind = (source_end - position).max(0);
            let seconds = if want_seconds && behind > 0 {
                seek(source, &source_reader, topic, partition as i32, position)?;
                let record = next_record(source, &source_reader, &key)?;
                record.timestamp().to_millis().map(|millis| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    ((now - millis).max(0)) as f64 / 1000.0
                })
            } else if want_seconds {
                Some(0.0)
            } else {
                None
            };
            lag.insert(key, (behind, seconds));
        }
    }
    Ok(lag)
}

/// Per group, per partition: end offset minus the committed offset (the whole partition when
/// nothing is committed). Blocking.
fn group_lag(
    cluster: &Cluster,
    groups: &[String],
    topics: &[String],
) -> ProviderResult<BTreeMap<String, BTreeMap<String, i64>>> {
    let consumer = reader(cluster)?;
    let topics = if topics.is_empty() {
        all_topics(cluster, &consumer)?
    } else {
        topics.to_vec()
    };
    let marks = watermarks(cluster, &consumer, &topics)?;
    let mut found = BTreeMap::new();
    for group in groups {
        let group_consumer = cluster.consumer(&[
            ("group.id", group.as_str()),
            ("enable.auto.commit", "false"),
        ])?;
        let mut list = TopicPartitionList::new();
        for (topic, partitions) in &marks {
            for partition in 0..partitions.len() {
                list.add_partition(topic, partition as i32);
            }
        }
        let committed = with_coordinator_retries(cluster.timeout, || {
            group_consumer.committed_offsets(list.clone(), cluster.timeout)
        })
        .map_err(|error| {
            cluster.failure(
                &format!("cannot read the committed offsets of group {group}"),
                &error,
                Some(group_consumer.context()),
            )
        })?;
        let mut lag = BTreeMap::new();
        for element in committed.elements() {
            let Some((start, end)) = marks
                .get(element.topic())
                .and_then(|p| p.get(element.partition() as usize))
            else {
                continue;
            };
            let position = match element.offset() {
                Offset::Offset(offset) if offset >= 0 => offset,
                _ => *start,
            };
            lag.insert(
                format!("{}/{}", element.topic(), element.partition()),
                (end - position).max(0),
            );
        }
        found.insert(group.clone(), lag);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_the_first_and_the_most_recent() {
        let mut samples = Vec::new();
        for at in 0..SAMPLE_LIMIT as i64 + 10 {
            push_sample(&mut samples, [at, 100 - at]);
        }
        assert_eq!(samples.len(), SAMPLE_LIMIT);
        assert_eq!(samples[0], [0, 100]);
        assert_eq!(samples[1], [11, 89]);
        assert_eq!(
            samples.last(),
            Some(&[SAMPLE_LIMIT as i64 + 9, 91 - SAMPLE_LIMIT as i64])
        );
    }

    #[test]
    fn prior_samples_are_continued_and_bounded() {
        let stored: Vec<[i64; 2]> = (0..SAMPLE_LIMIT as i64 + 3).map(|at| [at, at]).collect();
        let mut prior = serde_json::json!({ "holds": true, "samples": stored });
        prior["samples"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(["not", "numbers"]));
        let samples = prior_samples(Some(&prior));
        assert_eq!(samples.len(), SAMPLE_LIMIT);
        assert_eq!(samples[0], [0, 0]);
        assert_eq!(samples[SAMPLE_LIMIT - 1], [SAMPLE_LIMIT as i64 + 2; 2]);
        assert!(prior_samples(Some(&serde_json::json!({ "holds": false }))).is_empty());
        assert!(prior_samples(None).is_empty());
    }

    #[test]
    fn a_lag_check_starts_from_the_prior_samples() {
        let check = Value::Map(
            [
                ("cluster".to_owned(), Value::string("cluster.source")),
                (
                    "groups".to_owned(),
                    Value::List(vec![Value::string("orders-app")]),
                ),
            ]
            .into_iter()
            .collect(),
        );
        let prior = serde_json::json!({ "samples": [[1_000, 12], [2_000, 0]] });
        let lag = Lag::new(&check, Some(&prior)).unwrap();
        assert_eq!(lag.samples, vec![[1_000, 12], [2_000, 0]]);
        assert!(Lag::new(&check, None).unwrap().samples.is_empty());
    }
}
