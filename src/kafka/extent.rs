//! What a Kafka cluster says about its partitions' extent: their watermarks, leaders and
//! brokers (metadata and ListOffsets through librdkafka), and their size on disk
//! (DescribeLogDirs v1, spoken directly: librdkafka has no call for it; Kafka 1.0+, PLAINTEXT).
//! Read by the plan's copy estimate and the `kafka_traffic` measurement.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use rdkafka::consumer::Consumer as _;

use super::connection::Cluster;
use crate::config::connections::Connections;
use crate::config::value::Value;

/// How long a survey waits on a cluster: a plan should not stall on it.
pub const SURVEY_TIMEOUT: Duration = Duration::from_secs(10);

/// `(topic, partition)` → `(log start, end)`.
pub type Watermarks = BTreeMap<(String, i32), (i64, i64)>;

/// A cluster's watermarks, its brokers' addresses by id, and each partition's leader.
pub type Surveyed = (
    Watermarks,
    BTreeMap<i32, String>,
    BTreeMap<(String, i32), i32>,
);

/// `(topic, partition)` → a size from a DescribeLogDirs response.
pub type LogSizes = Vec<((String, i32), i64)>;

/// Log start and end of every partition of `topics` on `cluster` (missing topics left out),
/// the brokers' addresses by id, and each partition's leader.
pub fn watermarks(cluster: &Cluster, topics: &[String]) -> Result<Surveyed, String> {
    let timeout = cluster.timeout.min(SURVEY_TIMEOUT);
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
pub fn is_plaintext(connections: &Connections, value: &Value) -> bool {
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
pub fn log_sizes(
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
}
