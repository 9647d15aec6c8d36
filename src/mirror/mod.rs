//! The mirror: copies topics from a source cluster to a target cluster exactly, with offsets
//! preserved or translated through an exact offset map, on any number of workers.
//!
//! - [`survey`]: the partitions to copy and where each resumes.
//! - [`estimate`]: what a plan says a mirror will copy (records, bytes, time).
//! - [`copy`]: a lane, the copy of one shard's partitions (preserve or translate).
//! - [`offset_map`]: the exact offset map of a translating mirror and its positions.
//! - [`worker`]: a worker, one member of the mirror's worker group on the target cluster.
//! - [`fleet`]: local worker processes, and the wait until every partition is caught up.
//! - [`connect`]: the other engine, `engine = "connect"`: MirrorMaker 2 deployed to a Kafka
//!   Connect cluster through its REST API.
//!
//! [`run`] is the one entry point of the embedded engine, used by `apply` (through the
//! `kafka_mirror` resource) and by `cutover mirror run`. The mirror imports nothing from the
//! engine or the providers. The embedded engine takes a [`MirrorSpec`]; the Connect engine takes
//! the evaluated `kafka_mirror` arguments and the operation's context (the connectors' config
//! is built from those arguments, and the state the resource records is what it returns).

pub mod connect;
pub mod copy;
pub mod estimate;
pub mod fleet;
pub mod offset_map;
pub mod survey;
pub mod worker;

use std::time::Duration;

pub use copy::CopySettings;
pub use fleet::{RunMode, RunReport, run};

use crate::kafka::connection::{Cluster, ClusterWire};

/// The resource type both engines serve (errors about its arguments name it).
pub const KAFKA_MIRROR: &str = "kafka_mirror";

/// How target offsets relate to the source's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Offsets {
    /// Target offsets equal the source's.
    Preserve,
    /// An exact offset map relates them (compacted or transactional sources).
    Translate,
}

/// One embedded mirror, as every worker of it must see it.
#[derive(Debug, Clone)]
pub struct MirrorSpec {
    /// Names the mirror's internal topics, groups and transactional ids on the target.
    pub id: String,
    pub source: Cluster,
    pub target: Cluster,
    pub topics: Vec<String>,
    pub offsets: Offsets,
    pub settings: CopySettings,
    /// Shards when the mirror is created (fixed from then on by its work topic).
    pub shards: i32,
    /// The worker group's session timeout: how long a dead worker's shards wait.
    pub session_timeout: Duration,
}

/// The default session timeout of a worker (the broker's minimum is 6 s by default).
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The default shard count: one per partition, at most this many.
pub const MAX_DEFAULT_SHARDS: i32 = 16;

impl MirrorSpec {
    pub fn work_topic(&self) -> String {
        format!("_cutover.mirror.{}.work", self.id)
    }

    pub fn workers_group(&self) -> String {
        format!("_cutover.mirror.{}.workers", self.id)
    }

    /// The offset map topic of a translating mirror.
    pub fn map_topic(&self) -> Option<String> {
        (self.offsets == Offsets::Translate).then(|| offset_map::topic_name(&self.id))
    }

    /// The transactional id of a shard: a new owner of the shard fences the previous one.
    pub fn transactional_id(&self, shard: i32, shards: i32) -> String {
        format!("_cutover.mirror.{}.shard-{shard}-of-{shards}", self.id)
    }

    /// How long librdkafka may retry an unacknowledged record: a quarter of the session
    /// timeout for a preserving mirror (with the lease, a bound on what a paused worker can
    /// still write), a minute for a translating one (transactions fence instead).
    pub fn message_timeout(&self) -> Duration {
        match self.offsets {
            Offsets::Preserve => (self.session_timeout / 4).max(Duration::from_secs(1)),
            Offsets::Translate => Duration::from_secs(55),
        }
    }

    pub fn to_wire(&self) -> SpecWire {
        SpecWire {
            id: self.id.clone(),
            source: self.source.to_wire(),
            target: self.target.to_wire(),
            topics: self.topics.clone(),
            offsets: self.offsets,
            settings: self.settings.clone(),
            shards: self.shards,
            session_timeout_ms: self.session_timeout.as_millis() as u64,
        }
    }

    pub fn from_wire(wire: SpecWire) -> MirrorSpec {
        MirrorSpec {
            id: wire.id,
            source: Cluster::from_wire(wire.source),
            target: Cluster::from_wire(wire.target),
            topics: wire.topics,
            offsets: wire.offsets,
            settings: wire.settings,
            shards: wire.shards,
            session_timeout: Duration::from_millis(wire.session_timeout_ms),
        }
    }
}

/// A spec as a worker process receives it from its parent, through a pipe: it holds the
/// clusters' credentials, so it is never on a command line or on disk.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SpecWire {
    id: String,
    source: ClusterWire,
    target: ClusterWire,
    topics: Vec<String>,
    offsets: Offsets,
    settings: CopySettings,
    shards: i32,
    session_timeout_ms: u64,
}

/// The shard of a partition: a pure function of the topic, the partition and the shard
/// count, so every worker agrees. Partitions of one topic go round the shards in turn,
/// starting at a shard given by the topic's name (FNV-1a), so a topic's partitions spread
/// evenly and different topics start at different shards.
pub fn shard_of(topic: &str, partition: i32, shards: i32) -> i32 {
    let shards = shards.max(1) as u64;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in topic.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    ((hash % shards + partition.max(0) as u64) % shards) as i32
}

/// Every partition of the mirror as it stands (a plan's preview, a refresh's lag): offsets on
/// both sides, where each resumes, and the last record of each target partition compared
/// with the source's. Blocking.
pub fn survey_all(spec: &MirrorSpec) -> crate::error::OperationResult<Vec<survey::PartitionTask>> {
    let partitions = survey::mirror_partitions(&spec.source, &spec.target, &spec.topics)?;
    let map = match spec.map_topic() {
        Some(map_topic) => Some(worker::resume_map(
            &spec.target,
            &map_topic,
            &offset_map::positions_group(&map_topic),
            &partitions,
        )?),
        None => None,
    };
    survey::survey(&spec.source, &spec.target, &partitions, map.as_ref(), true)
}

/// The default shard count for `partitions` partitions.
pub fn default_shards(partitions: usize) -> i32 {
    (partitions as i32).clamp(1, MAX_DEFAULT_SHARDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topics_partitions_spread_over_the_shards() {
        let mut counts = vec![0; 6];
        for partition in 0..12 {
            counts[shard_of("orders", partition, 6) as usize] += 1;
        }
        assert_eq!(counts, vec![2; 6]);
        // Stable: the same inputs give the same shard, whatever else is mirrored.
        assert_eq!(shard_of("orders", 5, 6), shard_of("orders", 5, 6));
        assert_eq!(shard_of("t", 3, 1), 0);
        assert_eq!(default_shards(0), 1);
        assert_eq!(default_shards(6), 6);
        assert_eq!(default_shards(1000), MAX_DEFAULT_SHARDS);
    }
}
