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
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use rdkafka::consumer::Consumer as _;

use crate::config::decode::reference;
use crate::config::value::Value;
use crate::kafka::connection::{Cluster, Feature, blocking};
use crate::mirror::estimate::{CopyEstimate, RateSource};
use crate::providers::ProviderContext;

/// The rate a mirror is assumed to copy at before an apply has measured it: well below what
/// the embedded mirror reaches on a small machine (README, `scripts/bench-mirror`), so a first
/// estimate errs long.
pub const DEFAULT_RECORDS_PER_SECOND: f64 = 20_000.0;

/// How long the estimate waits on a cluster: a plan should not stall on it.
const ESTIMATE_TIMEOUT: Duration = Duration::from_secs(10);

/// `(topic, partition)` → `(log start, end)`.
pub(crate) type Watermarks = BTreeMap<(String, i32), (i64, i64)>;

/// A cluster's watermarks, its brokers' addresses by id, and each partition's leader.
pub(crate) type Surveyed = (
    Watermarks,
    BTreeMap<i32, String>,
    BTreeMap<(String, i32), i32>,
);

/// `(topic, partition)` → a size from a DescribeLogDirs response.
type LogSizes = Vec<((String, i32), i64)>;

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

/// Log start and end of every partition of `topics` on `cluster` (missing topics left out),
/// the brokers' addresses by id, and each partition's leader.
pub(crate) fn watermarks(cluster: &Cluster, topics: &[String]) -> Result<Surveyed, String> {
    let timeout = cluster.timeout.min(ESTIMATE_TIMEOUT);
    let consumer = cluster.consumer(&[]).map_err(|error| error.to_string())?;
    let metadata = consumer
        .fetch_metadata(None, timeout)
        .map_err(|error| format!("{}: {error}", cluster.address))?;
    let brokers = metadata
        .brokers()
        .iter()
        .map(|broker| (broker.id(), format!("{}:{}", broker.host(), broker.port())))
        .collect();
    let mut marks = Watermarks::new();
    let mut leaders = BTreeMap::new();
    for topic in metadata.topics() {
        if topic.error().is_some() || !topics.iter().any(|name| name == topic.name()) {
            continue;
        }
        for partition in topic.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic.name(), partition.id(), timeout)
                .map_err(|error| format!("{}: {error}", cluster.address))?;
            let key = (topic.name().to_owned(), partition.id());
            marks.insert(key.clone(), (low, high));
            leaders.insert(key, partition.leader());
        }
    }
    Ok((marks, brokers, leaders))
}

/// Whether a cluster reference connects without TLS or SASL (what [`log_sizes`] can speak).
pub(crate) fn is_plaintext(connections: &Connections, value: &Value) -> bool {
    let resolved = match value.peel() {
        Value::String(address) => connections.cluster(address).ok(),
        Value::Map(map) => match map.get("address").and_then(Value::as_str) {
            Some(address) => connections.cluster(address).ok().or(Some(value)),
            None => Some(value),
        },
        _ => None,
    };
    let Some(map) = resolved.and_then(|value| value.peel().as_map()) else {
        return false;
    };
    let set = |name: &str| map.get(name).is_some_and(|v| !v.peel().is_null());
    let protocol_plain = map
        .get("security_protocol")
        .and_then(Value::as_str)
        .is_none_or(|protocol| protocol.eq_ignore_ascii_case("PLAINTEXT"));
    protocol_plain && !set("auth") && !set("sasl_mechanism")
}

/// The size on disk of each partition of `leaders`, from its leader (DescribeLogDirs v1,
/// Kafka 1.0+, one request per broker leading any of them).
pub(crate) fn log_sizes(
    brokers: &BTreeMap<i32, String>,
    leaders: &BTreeMap<(String, i32), i32>,
    timeout: Duration,
) -> Result<BTreeMap<(String, i32), i64>, String> {
    let mut by_broker: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
    for ((topic, partition), leader) in leaders {
        by_broker
            .entry(*leader)
            .or_default()
            .entry(topic.as_str())
            .or_default()
            .push(*partition);
    }
    let mut sizes = BTreeMap::new();
    for (broker, topics) in by_broker {
        let address = brokers
            .get(&broker)
            .ok_or_else(|| format!("broker {broker} is not in the metadata"))?;
        let request = describe_log_dirs_request(&topics);
        let response = round_trip(address, &request, timeout)
            .map_err(|error| format!("broker {address}: {error}"))?;
        for ((topic, partition), size) in parse_describe_log_dirs(&response)
            .map_err(|error| format!("broker {address}: {error}"))?
        {
            if topics
                .get(topic.as_str())
                .is_some_and(|partitions| partitions.contains(&partition))
            {
                let entry = sizes.entry((topic, partition)).or_insert(0);
                *entry = (*entry).max(size);
            }
        }
    }
    Ok(sizes)
}

const DESCRIBE_LOG_DIRS: i16 = 35;
const CORRELATION_ID: i32 = 0x6375_7400;

/// A size-prefixed DescribeLogDirs v1 request (header v1) for these partitions.
fn describe_log_dirs_request(topics: &BTreeMap<&str, Vec<i32>>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&DESCRIBE_LOG_DIRS.to_be_bytes());
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    put_string(&mut body, "cutover-plan");
    body.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for (topic, partitions) in topics {
        put_string(&mut body, topic);
        body.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
        for partition in partitions {
            body.extend_from_slice(&partition.to_be_bytes());
        }
    }
    let mut request = (body.len() as i32).to_be_bytes().to_vec();
    request.extend(body);
    request
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as i16).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Sends `request` and returns the response without its size prefix.
fn round_trip(address: &str, request: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let socket = address.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no address for the broker")
    })?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    if !(0..=64 << 20).contains(&size) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("implausible response size {size}"),
        ));
    }
    let mut response = vec![0u8; size as usize];
    stream.read_exact(&mut response)?;
    Ok(response)
}

/// `(topic, partition)` → size from a DescribeLogDirs v1 response (header v0).
fn parse_describe_log_dirs(bytes: &[u8]) -> Result<LogSizes, String> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.i32()? != CORRELATION_ID {
        return Err("the response does not answer the request".to_owned());
    }
    let _throttle_ms = reader.i32()?;
    let mut sizes = Vec::new();
    for _ in 0..reader.count()? {
        let error_code = reader.i16()?;
        let _log_dir = reader.string()?;
        for _ in 0..reader.count()? {
            let topic = reader.string()?;
            for _ in 0..reader.count()? {
                let partition = reader.i32()?;
                let size = reader.i64()?;
                let _offset_lag = reader.i64()?;
                let is_future = reader.i8()? != 0;
                if error_code == 0 && !is_future {
                    sizes.push(((topic.clone(), partition), size));
                }
            }
        }
    }
    Ok(sizes)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let slice = self
            .bytes
            .get(self.at..self.at + N)
            .ok_or_else(|| "the response is truncated".to_owned())?;
        self.at += N;
        Ok(slice.try_into().expect("N bytes"))
    }

    fn i8(&mut self) -> Result<i8, String> {
        Ok(i8::from_be_bytes(self.take()?))
    }

    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.take()?))
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take()?))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.take()?))
    }

    /// An array length (a null array counts as empty).
    fn count(&mut self) -> Result<usize, String> {
        Ok(self.i32()?.max(0) as usize)
    }

    fn string(&mut self) -> Result<String, String> {
        let length = self.i16()?.max(0) as usize;
        let slice = self
            .bytes
            .get(self.at..self.at + length)
            .ok_or_else(|| "the response is truncated".to_owned())?;
        self.at += length;
        Ok(String::from_utf8_lossy(slice).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_describe_log_dirs_response_is_read() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&CORRELATION_ID.to_be_bytes());
        bytes.extend_from_slice(&0i32.to_be_bytes()); // throttle
        bytes.extend_from_slice(&1i32.to_be_bytes()); // one log dir
        bytes.extend_from_slice(&0i16.to_be_bytes());
        put_string(&mut bytes, "/data");
        bytes.extend_from_slice(&1i32.to_be_bytes()); // one topic
        put_string(&mut bytes, "orders");
        bytes.extend_from_slice(&2i32.to_be_bytes());
        for (partition, size, future) in [(0i32, 4096i64, 0i8), (1, 999, 1)] {
            bytes.extend_from_slice(&partition.to_be_bytes());
            bytes.extend_from_slice(&size.to_be_bytes());
            bytes.extend_from_slice(&0i64.to_be_bytes());
            bytes.push(future as u8);
        }
        assert_eq!(
            parse_describe_log_dirs(&bytes).unwrap(),
            vec![(("orders".to_owned(), 0), 4096)]
        );
        assert!(parse_describe_log_dirs(&bytes[..bytes.len() - 3]).is_err());
    }

    #[test]
    fn the_request_names_the_partitions() {
        let topics = BTreeMap::from([("ab", vec![0, 1])]);
        let request = describe_log_dirs_request(&topics);
        let size = i32::from_be_bytes(request[..4].try_into().unwrap()) as usize;
        assert_eq!(size, request.len() - 4);
        assert_eq!(&request[4..6], &35i16.to_be_bytes());
        assert_eq!(&request[6..8], &1i16.to_be_bytes());
    }

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
