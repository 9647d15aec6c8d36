//! What the checks share: the two clusters and topics a check compares (from a `mirror`
//! reference or from explicit `source`, `target` and `topics`), end offsets, and reading a
//! partition from an offset with bounded memory.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::decode::reference;
use crate::config::schema::Finding;
use crate::config::value::Value;
use crate::context::ProviderContext;
use crate::error::{OperationError as ProviderError, OperationResult as ProviderResult};
use crate::kafka::admin::list_topics;
use crate::kafka::connection::cluster_address;
use crate::kafka::connection::{Cluster, KafkaContext};

/// How a mirror maps source offsets to target offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offsets {
    /// Target offsets equal source offsets.
    Preserve,
    /// An exact offset map, in this topic on the target.
    Translate { map_topic: String },
}

/// The two sides a check compares, as configured (cluster values or addresses).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub source: Value,
    pub target: Value,
    pub topics: Vec<String>,
    pub offsets: Offsets,
}

/// What a check reads of the `kafka_mirror` it names: the mirror's own arguments and the
/// offset map topic it computed, decoded once. Elements unknown until apply are `None`.
#[derive(Debug, Default, serde::Deserialize)]
struct MirrorView {
    topics: Option<Vec<Option<String>>>,
    offsets: Option<String>,
    offset_map_topic: Option<String>,
}

impl Endpoints {
    /// From `mirror = kafka_mirror.x`, or from `source`, `target` and `topics` (the check's
    /// own `topics`, decoded by the check: they narrow a mirror's list). The schema has made
    /// sure one of the two ways is written ([`mirror_or_endpoints`]).
    pub fn from_check(check: &Value, topics: Vec<String>) -> ProviderResult<Endpoints> {
        let mirror = reference(check, "mirror");
        let holder = mirror.as_ref().unwrap_or(check);
        if !holder.is_wholly_known() {
            return Err(ProviderError::Failed(
                "the mirror's attributes are not known yet (it has not been applied)".to_owned(),
            ));
        }
        let (Some(source), Some(target)) =
            (reference(holder, "source"), reference(holder, "target"))
        else {
            return Err(ProviderError::Invalid(
                "set mirror = kafka_mirror.NAME, or source and target".into(),
            ));
        };
        let view: MirrorView = match &mirror {
            Some(mirror) => crate::config::decode::decode("the mirror", mirror)
                .map_err(ProviderError::Invalid)?,
            None => MirrorView::default(),
        };
        let mut topics = topics;
        if topics.is_empty() {
            topics = view.topics.iter().flatten().flatten().cloned().collect();
        }
        if topics.is_empty() {
            return Err(ProviderError::Invalid(
                "no topics to check: set topics, or name a mirror that has some".into(),
            ));
        }
        let offsets = match (mirror.is_some(), view.offsets.as_deref()) {
            (true, Some("translate")) => Offsets::Translate {
                map_topic: view.offset_map_topic.ok_or_else(|| {
                    ProviderError::Failed(
                        "the translating mirror has no offset_map_topic yet".to_owned(),
                    )
                })?,
            },
            _ => Offsets::Preserve,
        };
        Ok(Endpoints {
            source,
            target,
            topics,
            offsets,
        })
    }

    pub fn clusters(&self, context: &ProviderContext) -> ProviderResult<(Cluster, Cluster)> {
        Ok((
            Cluster::resolve(&context.connections, &self.source)?,
            Cluster::resolve(&context.connections, &self.target)?,
        ))
    }

    /// The addresses of the two clusters (`cluster.legacy`), for evidence.
    pub fn addresses(&self) -> (String, String) {
        (
            cluster_address(&self.source).unwrap_or_default(),
            cluster_address(&self.target).unwrap_or_default(),
        )
    }
}

/// The schema rule of the checks that compare a mirror's two sides (`zero_divergence`, `lag`):
/// without `mirror`, the explicit `source` and `target` need `topics`, since nothing else
/// names what to compare. An unknown `topics` may turn out set: judged once known.
pub fn mirror_or_endpoints(object: &BTreeMap<String, Value>) -> Vec<Finding> {
    use crate::config::decode::rule::{unset, unset_or_empty};
    if !unset(object, "mirror") || unset(object, "source") || !unset_or_empty(object, "topics") {
        return Vec::new();
    }
    vec![Finding {
        attribute: "topics",
        message: "without mirror, topics must name the topics to compare on source and target"
            .to_owned(),
        hint: Some(
            "add topics = [\"...\"], or name the mirror instead (mirror = kafka_mirror.NAME)"
                .to_owned(),
        ),
    }]
}

/// The rule's words, for the reference docs.
pub const MIRROR_OR_ENDPOINTS: &str =
    "without `mirror`, `source` and `target` need `topics` (at least one)";

/// A consumer that reads assigned partitions (no group, nothing committed), its prefetch queue
/// capped so memory does not grow with the data. Blocking.
pub fn reader(cluster: &Cluster) -> ProviderResult<BaseConsumer<KafkaContext>> {
    cluster.consumer(&[
        ("group.id", "cutover-verify"),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        // Reaching the end of what is readable is an event: records the compared range ends
        // with may be transaction markers, which are never delivered.
        ("enable.partition.eof", "true"),
        // Prefetch per reader: 4 MB keeps the lockstep fed (8 partitions x 2 readers x 4 MB).
        ("queued.max.messages.kbytes", "4096"),
        // librdkafka postpones the next fetch by this much once the prefetch is full (1 s by
        // default): a reader drained record by record must fetch again at once, or it spends
        // most of its time waiting (measured: 2.6x slower with the default).
        ("fetch.queue.backoff.ms", "10"),
        ("fetch.max.bytes", "16777216"),
    ])
}

/// Points `consumer` at `topic/partition` from `offset`. Blocking.
pub fn seek(
    cluster: &Cluster,
    consumer: &BaseConsumer<KafkaContext>,
    topic: &str,
    partition: i32,
    offset: i64,
) -> ProviderResult<()> {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(offset))
        .and_then(|()| consumer.assign(&list))
        .map_err(|error| {
            cluster.failure(
                &format!("cannot read {topic}/{partition}"),
                &error,
                Some(consumer.context()),
            )
        })
}

/// The next record, waiting at most the cluster's timeout for one. Blocking.
pub fn next_record<'a>(
    cluster: &Cluster,
    consumer: &'a BaseConsumer<KafkaContext>,
    what: &str,
) -> ProviderResult<BorrowedMessage<'a>> {
    match poll_record(cluster, consumer, what, false)? {
        Some(message) => Ok(message),
        None => Err(ProviderError::Failed(format!(
            "{}: reading {what} ended early",
            cluster.address
        ))),
    }
}

/// The next record, or `None` once the reader is at the end of what the partition holds
/// readable now (its high watermark, or the last stable offset): the offsets left below the
/// end seen earlier are transaction markers or aborted records. Blocking.
pub fn next_record_or_end<'a>(
    cluster: &Cluster,
    consumer: &'a BaseConsumer<KafkaContext>,
    what: &str,
) -> ProviderResult<Option<BorrowedMessage<'a>>> {
    poll_record(cluster, consumer, what, true)
}

fn poll_record<'a>(
    cluster: &Cluster,
    consumer: &'a BaseConsumer<KafkaContext>,
    what: &str,
    end_is_none: bool,
) -> ProviderResult<Option<BorrowedMessage<'a>>> {
    let deadline = Instant::now() + cluster.timeout;
    // Bounded by the deadline.
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => return Ok(Some(message)),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) if end_is_none => {
                return Ok(None);
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {}
            Some(Err(error)) => {
                return Err(cluster.failure(
                    &format!("cannot read {what}"),
                    &error,
                    Some(consumer.context()),
                ));
            }
            None if Instant::now() >= deadline => {
                return Err(ProviderError::Failed(format!(
                    "{}: reading {what} returned nothing for {:?}",
                    cluster.address, cluster.timeout
                )));
            }
            None => {}
        }
    }
}

/// Log start and end offset of every partition of `topics` (missing topics left out), with
/// the partition counts. Blocking.
pub fn watermarks(
    cluster: &Cluster,
    consumer: &BaseConsumer<KafkaContext>,
    topics: &[String],
) -> ProviderResult<BTreeMap<String, Vec<(i64, i64)>>> {
    let listed = list_topics(cluster, consumer, None)?;
    let mut found = BTreeMap::new();
    for topic in topics {
        let Some((partitions, _)) = listed.get(topic) else {
            continue;
        };
        let mut offsets = Vec::with_capacity(*partitions as usize);
        for partition in 0..*partitions {
            let marks = consumer
                .fetch_watermarks(topic, partition, cluster.timeout)
                .map_err(|error| {
                    cluster.failure(
                        &format!("cannot read the offsets of {topic}/{partition}"),
                        &error,
                        Some(consumer.context()),
                    )
                })?;
            offsets.push(marks);
        }
        found.insert(topic.clone(), offsets);
    }
    Ok(found)
}

/// Every non-internal topic of the cluster. Blocking.
pub fn all_topics(
    cluster: &Cluster,
    consumer: &BaseConsumer<KafkaContext>,
) -> ProviderResult<Vec<String>> {
    Ok(list_topics(cluster, consumer, None)?
        .into_keys()
        .filter(|name| !crate::kafka::admin::is_internal(name))
        .collect())
}
