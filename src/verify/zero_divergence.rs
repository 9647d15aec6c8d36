//! `zero_divergence { mirror = kafka_mirror.x }` (or `source`, `target`, `topics`): the target
//! holds exactly the source's records. Per partition it compares the log start, the end offset
//! and, record by record over the overlapping range, the offset, key, value, headers and
//! create-time timestamp, reading both sides in lockstep; a translating mirror's records are
//! paired through its offset map. It reports the first diverging offset (in source offsets)
//! and a SHA-256 digest of what was verified.
//!
//! Incremental: the verified position of each partition (and the digest up to it, chained
//! run after run) is kept in the evidence, so a later poll or run reads only newer records —
//! Kafka records below the end offset never change; retention only removes them.
//! `mode = "sample"` compares evenly spaced windows of the range instead (`sample_fraction`,
//! default 0.1) and states the fraction compared.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _, Timestamp};
use sha2::{Digest as _, Sha256};

use super::CheckRun;
use super::read::{
    Endpoints, MIRROR_OR_ENDPOINTS, Offsets, mirror_or_endpoints, next_record, next_record_or_end,
    reader, seek, watermarks,
};
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::value::Value;
use crate::context::ProviderContext;
use crate::error::{OperationError as ProviderError, OperationResult as ProviderResult};
use crate::kafka::connection::{Cluster, KafkaContext, blocking};
use crate::mirror::offset_map;

pub const NAME: &str = "zero_divergence";

/// Records per sampled window.
const SAMPLE_WINDOW: i64 = 1000;
/// Partitions compared at once (each with one reader per cluster).
const WORKERS: usize = 8;

pub fn schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::optional("mirror", Type::Any)
                .describe("the kafka_mirror whose source and target are compared"),
            AttributeSchema::optional("source", Type::Any)
                .describe("without mirror: the source cluster, e.g. cluster.legacy")
                .conflicts_with(&["mirror"])
                .requires(&["target"]),
            AttributeSchema::optional("target", Type::Any)
                .describe("without mirror: the target cluster")
                .conflicts_with(&["mirror"])
                .requires(&["source"]),
            AttributeSchema::optional("topics", Type::list_of(Type::String))
                .describe("the topics to compare (default: the mirror's)")
                .pattern(crate::config::validate::Pattern::TopicName),
            AttributeSchema::optional("mode", Type::String)
                .describe("compare every record, or a sample of each partition")
                .default_value(Value::string("full"))
                .validate(crate::config::validate::Validator::one_of_or(
                    &["full", "sample"],
                    &[("all", "full"), ("complete", "full"), ("sampled", "sample"), ("partial", "sample")],
                )),
            AttributeSchema::optional("sample_fraction", Type::Number)
                .describe("mode = \"sample\": the fraction of each partition compared")
                .default_value(Value::Number(crate::config::value::Number::from_f64(0.1).expect("0.1 is finite")))
                .validate(crate::config::validate::Validator::Above { above: 0.0, at_most: 1.0 })
                .only_when("mode", &["sample"], "a full comparison reads every record"),
            AttributeSchema::optional("allow_target_ahead", Type::Bool).describe(
                "records on the target past the source's end are writes made there after the producers moved: not compared, not extra (default false)",
            ),
        ],
        Vec::new(),
    )
    .at_least_one_of(&["mirror", "source"])
    .with_check(MIRROR_OR_ENDPOINTS, mirror_or_endpoints)
}

/// The check's own arguments, decoded once (the schema judged them; `mirror`, `source` and
/// `target` are references, read by [`Endpoints::from_check`]). Unknown values decode as
/// unset.
#[derive(Debug, Default, serde::Deserialize)]
struct ZeroDivergenceArgs {
    topics: Option<Vec<Option<String>>>,
    mode: Option<String>,
    sample_fraction: Option<f64>,
    allow_target_ahead: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Full,
    Sample(f64),
}

/// What is verified of one partition: every source offset below `verified_to`, with `digest`
/// chained over the ranges verified so far, and how many records that took (offsets are not
/// records: transaction markers, compacted gaps and padding are not counted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Progress {
    verified_to: i64,
    digest: String,
    records_verified: u64,
}

pub struct ZeroDivergence {
    endpoints: Endpoints,
    mode: Mode,
    progress: BTreeMap<String, Progress>,
    /// Target records past the source's end are not divergence (producers moved there).
    allow_target_ahead: bool,
}

impl ZeroDivergence {
    pub fn new(check: &Value, prior: Option<&serde_json::Value>) -> ProviderResult<Self> {
        let args: ZeroDivergenceArgs =
            crate::config::decode::decode_checked(NAME, &schema(), check)
                .map_err(ProviderError::Invalid)?;
        let topics = args.topics.into_iter().flatten().flatten().collect();
        let endpoints = Endpoints::from_check(check, topics)?;
        // Judged by the schema: "full" or "sample", a fraction above 0 and at most 1.
        let mode = match args.mode.as_deref() {
            Some("sample") => Mode::Sample(args.sample_fraction.unwrap_or(0.1)),
            _ => Mode::Full,
        };
        // The previous run's verified positions count only for the same clusters and mode.
        let (source, target) = endpoints.addresses();
        let mut progress = BTreeMap::new();
        if let Some(prior) = prior
            && mode == Mode::Full
            && prior.get("source").and_then(|v| v.as_str()) == Some(source.as_str())
            && prior.get("target").and_then(|v| v.as_str()) == Some(target.as_str())
            && let Some(partitions) = prior.get("partitions").and_then(|p| p.as_object())
        {
            for (key, partition) in partitions {
                let verified_to = partition.get("verified_to").and_then(|v| v.as_i64());
                let digest = partition.get("digest").and_then(|v| v.as_str());
                // Evidence without the count (older versions) is verified again from the start.
                let records_verified = partition.get("records_verified").and_then(|v| v.as_u64());
                if let (Some(verified_to), Some(digest), Some(records_verified)) =
                    (verified_to, digest, records_verified)
                {
                    progress.insert(
                        key.clone(),
                        Progress {
                            verified_to,
                            digest: digest.to_owned(),
                            records_verified,
                        },
                    );
                }
            }
        }
        let allow_target_ahead = args.allow_target_ahead == Some(true);
        Ok(ZeroDivergence {
            endpoints,
            mode,
            progress,
            allow_target_ahead,
        })
    }

    pub async fn poll(&mut self, context: &ProviderContext) -> ProviderResult<CheckRun> {
        let (source, target) = self.endpoints.clusters(context)?;
        let endpoints = self.endpoints.clone();
        let mode = self.mode;
        let progress = self.progress.clone();
        let cancel = context.cancel.clone();
        let allow_target_ahead = self.allow_target_ahead;
        let results = blocking(move || {
            let cancelled = || *cancel.borrow();
            let scope = Scope {
                mode,
                allow_target_ahead,
                cancelled: &cancelled,
            };
            compare_all(&source, &target, &endpoints, &scope, &progress)
        })
        .await?;
        Ok(self.record(results))
    }

    fn record(&mut self, results: Vec<PartitionResult>) -> CheckRun {
        let (source, target) = self.endpoints.addresses();
        let mut partitions = serde_json::Map::new();
        let mut failing = Vec::new();
        let mut compared: u64 = 0;
        let mut sampled_of: i64 = 0;
        let mut verified_records: u64 = 0;
        for result in &results {
            compared += result.compared;
            sampled_of += result.range_length;
            if let Some(progress) = &result.progress {
                self.progress.insert(result.key.clone(), progress.clone());
                verified_records += progress.records_verified;
            }
            if let Some((offset, reason)) = &result.divergence {
                failing.push(match offset {
                    Some(offset) => {
                        format!("{}: first diverging offset {offset}: {reason}", result.key)
                    }
                    None => format!("{}: {reason}", result.key),
                });
            }
            let progress = self.progress.get(&result.key);
            partitions.insert(
                result.key.clone(),
                serde_json::json!({
                    "holds": result.divergence.is_none(),
                    "source": { "log_start": result.source.0, "end": result.source.1 },
                    "target": { "log_start": result.target.0, "end": result.target.1 },
                    "records_compared": result.compared,
                    "verified_to": progress.map(|p| p.verified_to),
                    "digest": progress.map(|p| p.digest.clone()),
                    "records_verified": progress.map(|p| p.records_verified),
                    "first_diverging_offset": result.divergence.as_ref().and_then(|(o, _)| *o),
                    "reason": result.divergence.as_ref().map(|(_, r)| r.clone()),
                }),
            );
        }
        let holds = failing.is_empty();
        let topics = self.endpoints.topics.len();
        let mut summary = if holds {
            format!(
                "{} partitions of {topics} topic{} identical ({compared} records compared now, {verified_records} verified in all)",
                results.len(),
                if topics == 1 { "" } else { "s" }
            )
        } else {
            let mut text = failing[0].clone();
            if failing.len() > 1 {
                text.push_str(&format!(" (and {} more partitions)", failing.len() - 1));
            }
            text
        };
        let sampled_fraction = match self.mode {
            Mode::Sample(_) if sampled_of > 0 => Some(compared as f64 / sampled_of as f64),
            Mode::Sample(_) => Some(1.0),
            Mode::Full => None,
        };
        if let Some(fraction) = sampled_fraction
            && holds
        {
            summary.push_str(&format!(", sampled {:.1}%", fraction * 100.0));
        }
        CheckRun {
            holds,
            evidence: serde_json::json!({
                "holds": holds,
                "summary": summary,
                "source": source,
                "target": target,
                "mode": match self.mode { Mode::Full => "full", Mode::Sample(_) => "sample" },
                "sampled_fraction": sampled_fraction,
                "records_compared": compared,
                "partitions": partitions,
            }),
            summary,
        }
    }
}

/// The comparison of one partition.
#[derive(Debug, Clone)]
struct PartitionResult {
    key: String,
    source: (i64, i64),
    target: (i64, i64),
    compared: u64,
    /// Source offsets in the range compared (for the sampled fraction).
    range_length: i64,
    /// `Some` after a full comparison that found the range identical: the new position.
    progress: Option<Progress>,
    /// The first diverging source offset (when one can be named) and why.
    divergence: Option<(Option<i64>, String)>,
}

struct Job {
    topic: String,
    partition: i32,
    source: (i64, i64),
    target: (i64, i64),
    segments: Option<Vec<(i64, i64)>>,
    /// A translating mirror: the next source offset it would copy (its committed position).
    mirrored_to: Option<i64>,
    /// Records on the target past the source's end are writes made there after the move.
    allow_target_ahead: bool,
}

/// How a comparison runs.
struct Scope<'a> {
    mode: Mode,
    allow_target_ahead: bool,
    cancelled: &'a (dyn Fn() -> bool + Sync),
}

fn compare_all(
    source: &Cluster,
    target: &Cluster,
    endpoints: &Endpoints,
    scope: &Scope<'_>,
    progress: &BTreeMap<String, Progress>,
) -> ProviderResult<Vec<PartitionResult>> {
    let (mode, cancelled) = (scope.mode, scope.cancelled);
    let source_consumer = reader(source)?;
    let target_consumer = reader(target)?;
    let source_marks = watermarks(source, &source_consumer, &endpoints.topics)?;
    let target_marks = watermarks(target, &target_consumer, &endpoints.topics)?;
    drop((source_consumer, target_consumer));
    let mut results = Vec::new();
    let mut jobs = Vec::new();
    for topic in &endpoints.topics {
        let (Some(on_source), Some(on_target)) = (source_marks.get(topic), target_marks.get(topic))
        else {
            let side = if source_marks.contains_key(topic) {
                target.address.as_str()
            } else {
                source.address.as_str()
            };
            results.push(PartitionResult {
                key: topic.clone(),
                source: (0, 0),
                target: (0, 0),
                compared: 0,
                range_length: 0,
                progress: None,
                divergence: Some((None, format!("the topic does not exist on {side}"))),
            });
            continue;
        };
        if on_source.len() != on_target.len() {
            results.push(PartitionResult {
                key: topic.clone(),
                source: (0, 0),
                target: (0, 0),
                compared: 0,
                range_length: 0,
                progress: None,
                divergence: Some((
                    None,
                    format!(
                        "{} partitions on the source, {} on the target",
                        on_source.len(),
                        on_target.len()
                    ),
                )),
            });
            continue;
        }
        let map = match &endpoints.offsets {
            Offsets::Preserve => None,
            Offsets::Translate { map_topic } => Some(offset_map::read(target, map_topic)?),
        };
        for (partition, (source_range, target_range)) in on_source.iter().zip(on_target).enumerate()
        {
            let partition = partition as i32;
            let key = format!("{topic}/{partition}");
            let segments = map.as_ref().map(|map| map.pairs(&key));
            let mirrored_to = map
                .as_ref()
                .and_then(|map| map.resume(&key, target_range.1));
            jobs.push(Job {
                topic: topic.clone(),
                partition,
                source: *source_range,
                target: *target_range,
                allow_target_ahead: scope.allow_target_ahead,
                segments,
                mirrored_to,
            });
        }
    }
    let queue = Mutex::new(jobs);
    let done: Mutex<Vec<ProviderResult<PartitionResult>>> = Mutex::new(Vec::new());
    let workers = WORKERS
        .min(queue.lock().map(|q| q.len()).unwrap_or(0))
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                // Bounded: each job is taken once.
                loop {
                    let job = match queue.lock() {
                        Ok(mut queue) => queue.pop(),
                        Err(_) => None,
                    };
                    let Some(job) = job else { break };
                    let result = if cancelled() {
                        Err(ProviderError::Cancelled)
                    } else {
                        let key = format!("{}/{}", job.topic, job.partition);
                        compare_partition(source, target, &job, mode, progress.get(&key))
                    };
                    if let Ok(mut done) = done.lock() {
                        done.push(result);
                    }
                }
            });
        }
    });
    for result in done.into_inner().unwrap_or_default() {
        results.push(result?);
    }
    results.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(results)
}

/// Where a source offset is on the target, walking the segments of a translating mirror
/// forward (`cursor` only moves forward, so a whole range costs one pass).
fn expected_target(segments: &[(i64, i64)], cursor: &mut usize, source_offset: i64) -> i64 {
    while *cursor + 1 < segments.len() && segments[*cursor + 1].1 <= source_offset {
        *cursor += 1;
    }
    match segments.get(*cursor) {
        Some((target_start, source_start)) => target_start + (source_offset - source_start),
        None => source_offset,
    }
}

/// The offset of the first committed record of `topic/partition` at or after `from`, below
/// `end` (`None`: only transaction markers or aborted records there). Blocking.
fn first_record_from(
    target: &Cluster,
    topic: &str,
    partition: i32,
    from: i64,
    end: i64,
) -> ProviderResult<Option<i64>> {
    if from >= end {
        return Ok(None);
    }
    let consumer = reader(target)?;
    seek(target, &consumer, topic, partition, from)?;
    let what = format!("{topic}/{partition}");
    Ok(next_record_or_end(target, &consumer, &what)?
        .map(|message| message.offset())
        .filter(|offset| *offset < end))
}

fn compare_partition(
    source: &Cluster,
    target: &Cluster,
    job: &Job,
    mode: Mode,
    prior: Option<&Progress>,
) -> ProviderResult<PartitionResult> {
    let key = format!("{}/{}", job.topic, job.partition);
    let (source_start, source_end) = job.source;
    let (target_start, target_end) = job.target;
    let mut result = PartitionResult {
        key: key.clone(),
        source: job.source,
        target: job.target,
        compared: 0,
        range_length: 0,
        progress: None,
        divergence: None,
    };
    // The source range the target should hold, and where the target's copy of it starts.
    let (range_start, range_end, end_problem) = match &job.segments {
        None => {
            let start = source_start.max(target_start);
            let end = source_end.min(target_end);
            // Writes made on the target after the move come after the source's end.
            let ahead = job.allow_target_ahead && target_end > source_end;
            let problem = if source_end != target_end && !ahead {
                Some((
                    Some(end),
                    format!(
                        "end offsets differ: source {source_end}, target {target_end} ({})",
                        if target_end < source_end {
                            format!("the target lacks {} records", source_end - target_end)
                        } else {
                            format!("the target has {} extra records", target_end - source_end)
                        }
                    ),
                ))
            } else if source_start != target_start {
                Some((
                    Some(source_start.min(target_start)),
                    format!(
                        "log start offsets differ: source {source_start}, target {target_start}"
                    ),
                ))
            } else {
                None
            };
            (start, end, problem)
        }
        Some(segments) => {
            let first_mirrored = segments.first().map_or(source_end, |(_, s)| *s);
            let mirrored_to = job.mirrored_to.unwrap_or(source_start);
            // A map an earlier version wrote: its last segment is taken to run to the target's
            // end (records a crashed mirror wrote past its map); writes made on the target
            // after the move make it run past the source's end, which allow_target_ahead
            // accepts.
            let mirrored_to = if job.allow_target_ahead {
                mirrored_to.min(source_end)
            } else {
                mirrored_to
            };
            let mut problem = (mirrored_to != source_end).then(|| {
                (
                    Some(mirrored_to.min(source_end)),
                    format!(
                        "the target holds source records up to {mirrored_to}, the source ends at {source_end}"
                    ),
                )
            });
            // Records on the target after the last one the map accounts for were written there
            // by someone else (after the move, or into the mirror's partitions meanwhile).
            if problem.is_none() && !job.allow_target_ahead && mirrored_to > first_mirrored {
                let mut cursor = 0;
                let after = expected_target(segments, &mut cursor, mirrored_to - 1) + 1;
                if let Some(offset) =
                    first_record_from(target, &job.topic, job.partition, after, target_end)?
                {
                    problem = Some((
                        Some(mirrored_to),
                        format!(
                            "the target holds a record the mirror did not write at offset {offset}, after the mirrored ones (allow_target_ahead accepts writes made there after the move)"
                        ),
                    ));
                }
            }
            (
                source_start.max(first_mirrored),
                mirrored_to.min(source_end),
                problem,
            )
        }
    };
    let prior = prior.filter(|p| p.verified_to >= range_start && p.verified_to <= range_end);
    let source_reader = reader(source)?;
    let target_reader = reader(target)?;
    let mut pair = Pair {
        source,
        target,
        source_reader: &source_reader,
        target_reader: &target_reader,
        topic: &job.topic,
        partition: job.partition,
        segments: job.segments.as_deref(),
    };
    match mode {
        Mode::Full => {
            let from = prior.map_or(range_start, |p| p.verified_to);
            result.range_length = range_end - from;
            let compared = pair.compare(from, range_end)?;
            result.compared = compared.records;
            match compared.divergence {
                Some(divergence) => result.divergence = Some(divergence),
                None => {
                    let (digest, records_verified) = match prior {
                        // Nothing new to verify: the digest stays what it was.
                        Some(prior) if from >= range_end => {
                            (prior.digest.clone(), prior.records_verified)
                        }
                        Some(prior) if from > range_start => {
                            let mut chained = Sha256::new();
                            chained.update(prior.digest.as_bytes());
                            chained.update(compared.digest);
                            (
                                hex::encode(chained.finalize()),
                                prior.records_verified + compared.records,
                            )
                        }
                        _ => (hex::encode(compared.digest), compared.records),
                    };
                    result.progress = Some(Progress {
                        verified_to: range_end,
                        digest,
                        records_verified,
                    });
                }
            }
        }
        Mode::Sample(fraction) => {
            let length = range_end - range_start;
            result.range_length = length;
            let windows = ((length as f64 * fraction) / SAMPLE_WINDOW as f64).ceil() as i64;
            let windows = windows.max(1);
            let window = SAMPLE_WINDOW.min(length);
            // Windows that would cover the range (or overlap) compare it once, whole.
            let (windows, window) = if windows * window >= length {
                (1, length)
            } else {
                (windows, window)
            };
            let spacing = if windows > 1 {
                (length - window) / (windows - 1)
            } else {
                0
            };
            for index in 0..windows {
                let from = if index == windows - 1 {
                    range_end - window
                } else {
                    range_start + index * spacing
                };
                let compared = pair.compare(from, from + window)?;
                result.compared += compared.records;
                if let Some(divergence) = compared.divergence {
                    result.divergence = Some(divergence);
                    break;
                }
            }
        }
    }
    if result.divergence.is_none() {
        result.divergence = end_problem;
    }
    Ok(result)
}

struct Pair<'a> {
    source: &'a Cluster,
    target: &'a Cluster,
    source_reader: &'a BaseConsumer<KafkaContext>,
    target_reader: &'a BaseConsumer<KafkaContext>,
    topic: &'a str,
    partition: i32,
    segments: Option<&'a [(i64, i64)]>,
}

struct Compared {
    records: u64,
    digest: [u8; 32],
    divergence: Option<(Option<i64>, String)>,
}

impl Pair<'_> {
    /// Compares the source records in `[from, to)` with the target's, in lockstep.
    fn compare(&mut self, from: i64, to: i64) -> ProviderResult<Compared> {
        let mut digest = Sha256::new();
        let mut compared = Compared {
            records: 0,
            digest: [0; 32],
            divergence: None,
        };
        if from >= to {
            compared.digest = digest.finalize().into();
            return Ok(compared);
        }
        let mut cursor = 0usize;
        let target_from = match self.segments {
            Some(segments) => expected_target(segments, &mut cursor, from),
            None => from,
        };
        let what = format!("{}/{}", self.topic, self.partition);
        seek(
            self.source,
            self.source_reader,
            self.topic,
            self.partition,
            from,
        )?;
        seek(
            self.target,
            self.target_reader,
            self.topic,
            self.partition,
            target_from,
        )?;
        let mut scratch = Vec::with_capacity(256);
        // Bounded: every iteration consumes one source record below `to`.
        loop {
            // The source's range may end with transaction markers: the end of its readable
            // records ends the comparison too.
            let Some(source_record) = next_record_or_end(self.source, self.source_reader, &what)?
            else {
                break;
            };
            let source_offset = source_record.offset();
            if source_offset >= to {
                break;
            }
            let target_record = next_record(self.target, self.target_reader, &what)?;
            let expected = match self.segments {
                Some(segments) => expected_target(segments, &mut cursor, source_offset),
                None => source_offset,
            };
            if let Some(reason) = difference(&source_record, &target_record, expected) {
                compared.divergence = Some((Some(source_offset), reason));
                break;
            }
            scratch.clear();
            encode(&source_record, source_offset, &mut scratch);
            digest.update(&scratch);
            compared.records += 1;
            if source_offset + 1 >= to {
                break;
            }
        }
        compared.digest = digest.finalize().into();
        Ok(compared)
    }
}

fn create_time(message: &BorrowedMessage<'_>) -> Option<i64> {
    match message.timestamp() {
        Timestamp::CreateTime(millis) => Some(millis),
        _ => None,
    }
}

fn headers_of(message: &BorrowedMessage<'_>) -> Vec<(String, Option<Vec<u8>>)> {
    message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default()
}

/// Why the target record is not the source record (at its expected offset), if it is not.
fn difference(
    source: &BorrowedMessage<'_>,
    target: &BorrowedMessage<'_>,
    expected_offset: i64,
) -> Option<String> {
    if target.offset() != expected_offset {
        return Some(format!(
            "the target's next record is at offset {}, expected {expected_offset} (a record is missing or extra)",
            target.offset()
        ));
    }
    if source.key() != target.key() {
        return Some("the keys differ".to_owned());
    }
    if source.payload() != target.payload() {
        return Some(format!(
            "the values differ ({} bytes on the source, {} on the target)",
            source.payload_len(),
            target.payload_len()
        ));
    }
    let same_headers = match (source.headers(), target.headers()) {
        (None, None) => true,
        (Some(_), _) | (_, Some(_)) => headers_of(source) == headers_of(target),
    };
    if !same_headers {
        return Some("the headers differ".to_owned());
    }
    // Timestamps count where both sides keep the producer's create time (a target topic with
    // LogAppendTime stamps its own).
    if let (Some(a), Some(b)) = (create_time(source), create_time(target))
        && a != b
    {
        return Some(format!("the timestamps differ ({a} and {b})"));
    }
    None
}

/// The canonical bytes of a record digested: offset, key, value, headers, create time.
fn encode(message: &BorrowedMessage<'_>, offset: i64, out: &mut Vec<u8>) {
    fn bytes(out: &mut Vec<u8>, value: Option<&[u8]>) {
        match value {
            Some(value) => {
                out.extend_from_slice(&(value.len() as i64).to_be_bytes());
                out.extend_from_slice(value);
            }
            None => out.extend_from_slice(&(-1i64).to_be_bytes()),
        }
    }
    out.extend_from_slice(&offset.to_be_bytes());
    bytes(out, message.key());
    bytes(out, message.payload());
    match message.headers() {
        Some(headers) => {
            out.extend_from_slice(&(headers.count() as i64).to_be_bytes());
            for header in headers.iter() {
                bytes(out, Some(header.key.as_bytes()));
                bytes(out, header.value);
            }
        }
        None => out.extend_from_slice(&0i64.to_be_bytes()),
    }
    out.extend_from_slice(&create_time(message).unwrap_or(-1).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translated_offsets_follow_the_segments() {
        // target 0.. ← source 10..; target 5.. ← source 20.. (a gap at source 15..20).
        let segments = [(0, 10), (5, 20)];
        let mut cursor = 0;
        let found: Vec<i64> = [10, 14, 20, 23]
            .iter()
            .map(|offset| expected_target(&segments, &mut cursor, *offset))
            .collect();
        assert_eq!(found, vec![0, 4, 5, 8]);
    }
}
