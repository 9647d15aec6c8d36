//! The plan's estimate of what an embedded `kafka_mirror` will copy ([`CopyEstimate`]):
//! records from the partitions' offsets (the source's end minus start, minus what the target
//! already holds), bytes from the source brokers' log sizes (DescribeLogDirs, over PLAINTEXT
//! connections to brokers of 1.0 or newer), and a duration at the rate the mirror's last apply
//! achieved (`records_per_second` in state) or [`DEFAULT_RECORDS_PER_SECOND`].
//!
//! Read-only and best effort: a cluster not known yet, not reachable, or not reporting sizes
//! leaves a figure out and says why; the plan never fails because of the estimate. Kept apart
//! from the mirror's copy code on purpose: it reads offsets on its own and shares nothing with
//! the copy loop.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::decode::reference;
use crate::config::value::Value;
use crate::kafka::connection::{Cluster, Feature, blocking};
use crate::kafka::extent::{Watermarks, log_sizes, watermarks};
use crate::mirror::estimate::{CopyEstimate, RateSource};
use crate::providers::ProviderContext;

/// The rate a mirror is assumed to copy at before an apply has measured it: well below what
/// the embedded mirror reaches on a small machine (README, `scripts/bench-mirror`), so a first
/// estimate errs long.
pub const DEFAULT_RECORDS_PER_SECOND: f64 = 20_000.0;

/// How long the estimate waits on a cluster: a plan should not stall on it.
const ESTIMATE_TIMEOUT: Duration = Duration::from_secs(10);

/// The estimate for a planned embedded mirror (`planned` as previewed: `records_per_second`
/// carried from state when an apply measured it).
pub async fn estimate(context: &ProviderContext, planned: &Value) -> Option<CopyEstimate> {
    let view = EstimateView::of(planned)?;
    if view.engine.as_deref() == Some("connect") {
        return None;
    }
    let topics: Vec<String> = view.topics?.into_iter().flatten().collect();
    let translate = view.offsets.as_deref() == Some("translate");
    let (records_per_second, rate_source) = match view
        .records_per_second
        .as_ref()
        .and_then(serde_json::Number::as_f64)
    {
        Some(rate) if rate > 0.0 => (rate, RateSource::LastApply),
        _ => (DEFAULT_RECORDS_PER_SECOND, RateSource::Default),
    };
    let mut notes = Vec::new();
    let source_value = reference(planned, "source").unwrap_or(Value::Null);
    let target_value = reference(planned, "target").unwrap_or(Value::Null);
    let source = match Cluster::resolve(&context.connections, &source_value) {
        Ok(source) => source,
        Err(error) => {
            notes.push(format!("the source cannot be read yet ({error})"));
            return Some(CopyEstimate {
                topics: topics.len(),
                partitions: 0,
                records: None,
                bytes: None,
                records_per_second,
                rate_source,
                seconds: None,
                notes,
            });
        }
    };
    let source_plaintext = source.is_plaintext();
    let target = Cluster::resolve(&context.connections, &target_value).ok();
    if target.is_none() {
        notes.push(
            "the target is not known yet (this plan creates it): counted as empty".to_owned(),
        );
    }
    let measured = blocking(move || {
        Ok(measure(
            &source,
            source_plaintext,
            target.as_ref(),
            &topics,
            translate,
        ))
    })
    .await;
    let measured = match measured {
        Ok(measured) => measured,
        Err(error) => Measured {
            topics: 0,
            partitions: 0,
            records: None,
            bytes: None,
            notes: vec![format!("the source cannot be read ({error})")],
        },
    };
    notes.extend(measured.notes);
    Some(CopyEstimate {
        topics: measured.topics,
        partitions: measured.partitions,
        records: measured.records,
        bytes: measured.bytes,
        records_per_second,
        rate_source,
        seconds: measured
            .records
            .map(|records| records as f64 / records_per_second),
        notes,
    })
}

/// The rate to record in state after a copy: what this one achieved when it copied anything,
/// otherwise what was recorded before (or nothing).
pub fn achieved_rate(planned: &Value, records: u64, elapsed: Duration) -> Value {
    let seconds = elapsed.as_secs_f64();
    if records > 0 && seconds > 0.0 {
        return Value::int((records as f64 / seconds).round() as i64);
    }
    EstimateView::of(planned)
        .and_then(|view| view.records_per_second)
        .map_or(Value::Null, |rate| {
            Value::from_json(&serde_json::Value::Number(rate))
        })
}

/// What the estimate reads of a planned `kafka_mirror` (arguments, and the rate a previous
/// apply recorded), decoded once; `source` and `target` are references, resolved as they are.
#[derive(Debug, Default, serde::Deserialize)]
struct EstimateView {
    engine: Option<String>,
    topics: Option<Vec<Option<String>>>,
    offsets: Option<String>,
    records_per_second: Option<serde_json::Number>,
}

impl EstimateView {
    /// `None` for a value that is not a mirror's object.
    fn of(planned: &Value) -> Option<EstimateView> {
        planned.peel().as_map()?;
        crate::config::decode::decode(super::mirror::KAFKA_MIRROR, planned).ok()
    }
}

struct Measured {
    topics: usize,
    partitions: usize,
    records: Option<u64>,
    bytes: Option<u64>,
    notes: Vec<String>,
}

/// Blocking: offsets of both sides, log sizes of the source.
fn measure(
    source: &Cluster,
    source_plaintext: bool,
    target: Option<&Cluster>,
    topics: &[String],
    translate: bool,
) -> Measured {
    let mut notes = Vec::new();
    let (source_marks, brokers, leaders) = match watermarks(source, topics) {
        Ok(found) => found,
        Err(error) => {
            return Measured {
                topics: topics.len(),
                partitions: 0,
                records: None,
                bytes: None,
                notes: vec![format!("the source cannot be read ({error})")],
            };
        }
    };
    let found_topics = topics
        .iter()
        .filter(|topic| source_marks.keys().any(|(t, _)| t == *topic))
        .count();
    if found_topics < topics.len() {
        notes.push(format!(
            "{} of {} topics not found on the source",
            topics.len() - found_topics,
            topics.len()
        ));
    }
    // The target: what it holds already (nothing when it or its topics do not exist yet).
    let target_marks = match target {
        Some(target) => match watermarks(target, topics) {
            Ok((marks, _, _)) => marks,
            Err(error) => {
                notes.push(format!(
                    "the target could not be read ({error}): counted as empty"
                ));
                Watermarks::new()
            }
        },
        None => Watermarks::new(),
    };
    let mut to_copy: BTreeMap<(String, i32), u64> = BTreeMap::new();
    for (key, &(start, end)) in &source_marks {
        let (target_start, target_end) = target_marks.get(key).copied().unwrap_or((0, 0));
        let records = if translate {
            // Target offsets are the map's, not the source's: compare record counts.
            (end - start) - (target_end - target_start)
        } else {
            // Offsets are preserved: the target's end is the next source offset to copy.
            end - start.max(target_end)
        };
        to_copy.insert(key.clone(), records.max(0) as u64);
    }
    let records: u64 = to_copy.values().sum();
    let bytes = if records == 0 {
        Some(0)
    } else if !source.supports(Feature::CreatePartitions) {
        notes.push("bytes: the source brokers (older than 1.0) do not report log sizes".to_owned());
        None
    } else if !source_plaintext {
        notes.push(
            "bytes: log sizes are read over PLAINTEXT connections only, and the source uses TLS or SASL"
                .to_owned(),
        );
        None
    } else {
        match log_sizes(&brokers, &leaders, source.timeout.min(ESTIMATE_TIMEOUT)) {
            Ok(sizes) => Some(
                to_copy
                    .iter()
                    .map(|(key, &records)| {
                        let (start, end) = source_marks[key];
                        let size = sizes.get(key).copied().unwrap_or(0).max(0) as f64;
                        let count = (end - start).max(1) as f64;
                        (size * records as f64 / count).round() as u64
                    })
                    .sum(),
            ),
            Err(error) => {
                notes.push(format!(
                    "bytes: the brokers' log sizes could not be read ({error})"
                ));
                None
            }
        }
    };
    Measured {
        topics: found_topics,
        partitions: source_marks.len(),
        // None of the topics on the source (yet): nothing to count, not "0 records".
        records: (found_topics > 0).then_some(records),
        bytes: bytes.filter(|_| found_topics > 0),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_recorded_is_the_last_copy_or_the_previous_one() {
        let planned = Value::Map(BTreeMap::from([(
            "records_per_second".to_owned(),
            Value::int(500),
        )]));
        assert_eq!(
            achieved_rate(&planned, 1_000, Duration::from_secs(2)),
            Value::int(500)
        );
        assert_eq!(
            achieved_rate(&planned, 3_000, Duration::from_secs(2)),
            Value::int(1_500)
        );
        assert_eq!(achieved_rate(&planned, 0, Duration::ZERO), Value::int(500));
        assert_eq!(
            achieved_rate(&Value::Map(BTreeMap::new()), 0, Duration::ZERO),
            Value::Null
        );
    }
}
