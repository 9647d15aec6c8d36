//! Is the target big enough? The measured traffic of a `data "kafka_traffic"` against an
//! `aws_msk_cluster`'s broker type, count and storage, by AWS's published per-broker guidance
//! (`pricing/msk-broker-guidance.json`, built in): partitions per broker, write throughput per
//! broker, storage with headroom. When it is not, the cheapest broker type and count from the
//! table that is. Pure: the plan (`plan::cost`) and the `msk_sizing` check call it with values
//! already read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::prices::PriceTable;
use crate::config::value::Value;

/// One topic's figures, as stored in `by_topic`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicTraffic {
    pub partitions: u64,
    pub replication_factor: u64,
    pub records_in_per_second: f64,
    pub bytes_in_per_second: f64,
    /// Records held (end minus log start, summed over partitions).
    pub records: u64,
    pub stored_bytes: u64,
    pub average_record_bytes: f64,
    /// `-1`: kept forever.
    pub retention_ms: i64,
    /// `-1`: no size limit (per partition, as Kafka's `retention.bytes`).
    pub retention_bytes: i64,
    pub retention_source: String,
    pub size_source: String,
}

/// The guidance table, as built in.
pub const GUIDANCE_JSON: &str = include_str!("../../pricing/msk-broker-guidance.json");

const GIB: f64 = (1u64 << 30) as f64;
const MIB: f64 = (1u64 << 20) as f64;

#[derive(Debug, Clone, Deserialize)]
pub struct Guidance {
    pub date: String,
    pub sources: BTreeMap<String, String>,
    pub volume_throughput_mib_per_second: f64,
    pub throughput_utilisation: f64,
    pub storage_headroom: f64,
    pub max_storage_gib: u64,
    pub default_storage_gib: u64,
    pub brokers: Vec<BrokerGuidance>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BrokerGuidance {
    pub instance_type: String,
    pub partitions: u64,
    pub ebs_baseline_mb_per_second: f64,
}

impl BrokerGuidance {
    /// The write throughput (bytes/s, replication included) AWS's figures allow one broker of
    /// this type to sustain with the table's utilisation target.
    pub fn write_bytes_per_second(&self, guidance: &Guidance) -> f64 {
        let volume = guidance.volume_throughput_mib_per_second * MIB;
        let instance = self.ebs_baseline_mb_per_second * 1e6;
        volume.min(instance) * guidance.throughput_utilisation
    }
}

impl Guidance {
    pub fn builtin() -> Guidance {
        serde_json::from_str(GUIDANCE_JSON).expect("the built-in guidance table is valid")
    }

    pub fn broker(&self, instance_type: &str) -> Option<&BrokerGuidance> {
        self.brokers
            .iter()
            .find(|broker| broker.instance_type == instance_type)
    }
}

/// What `data "kafka_traffic"` measured, as far as sizing needs it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Traffic {
    #[serde(default)]
    pub bytes_in_per_second: f64,
    #[serde(default)]
    pub stored_bytes: u64,
    #[serde(default)]
    pub by_topic: BTreeMap<String, TopicTraffic>,
}

impl Traffic {
    /// The measured attributes of a `data "kafka_traffic"` value, `None` when it holds none
    /// (not read yet).
    pub fn of(value: &Value) -> Option<Traffic> {
        let map = value.peel().as_map()?;
        map.get("by_topic")?.peel().as_map()?;
        crate::config::decode::decode("kafka_traffic", value).ok()
    }

    /// Sums several measurements (topics measured twice count once, the later one).
    pub fn merge(all: &[Traffic]) -> Traffic {
        let mut merged = Traffic::default();
        for traffic in all {
            merged.by_topic.extend(traffic.by_topic.clone());
        }
        merged.bytes_in_per_second = merged
            .by_topic
            .values()
            .map(|t| t.bytes_in_per_second)
            .sum();
        merged.stored_bytes = merged.by_topic.values().map(|t| t.stored_bytes).sum();
        merged
    }
}

/// The target as sizing sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub instance_type: String,
    pub brokers: u64,
    pub storage_gib: u64,
    /// Availability zones: one per client subnet.
    pub zones: u64,
}

impl Target {
    /// From an `aws_msk_cluster`'s attributes (planned or read); `None` while its broker type
    /// or count is unknown, or when either is sensitive.
    pub fn of_msk_cluster(value: &Value, guidance: &Guidance) -> Option<Target> {
        let map = value.peel().as_map()?;
        let brokers = map.get("number_of_broker_nodes")?;
        if brokers.contains_sensitive() {
            return None;
        }
        let brokers = brokers.peel().as_i64()?;
        let group = match map.get("broker_node_group_info")?.peel() {
            Value::List(items) | Value::Set(items) => items.first()?.peel().as_map()?,
            Value::Map(group) => group,
            _ => return None,
        };
        // A sensitive broker type is never named in a plan, so it is not sized or priced.
        let instance_type = group.get("instance_type")?;
        if instance_type.contains_sensitive() {
            return None;
        }
        let instance_type = instance_type.peel().as_str()?.to_owned();
        let storage_gib = group
            .get("storage_gb")
            .and_then(|value| value.peel().as_i64())
            .map_or(guidance.default_storage_gib, |gib| gib.max(0) as u64);
        let zones = group
            .get("client_subnets")
            .and_then(|value| value.peel().as_items())
            .map_or(3, |subnets| subnets.len().max(1) as u64);
        Some(Target {
            instance_type,
            brokers: brokers.max(0) as u64,
            storage_gib,
            zones,
        })
    }
}

/// What the target needs, from the traffic and the replication factor it will use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Demand {
    /// Partition replicas (leaders and followers).
    pub replicas: u64,
    /// Bytes written per second, replication included.
    pub write_bytes_per_second: f64,
    /// Bytes retained, replication and headroom included.
    pub storage_bytes: f64,
    /// The largest replication factor counted: brokers must be at least this many.
    pub replication_factor: u64,
}

impl Demand {
    /// Each topic at `replication_factor`, or its own when `None`. Retained bytes: what the
    /// topic holds now or what its ingress fills in its retention time, whichever is larger,
    /// capped by `retention.bytes`; a topic kept forever counts what it holds now.
    pub fn of(traffic: &Traffic, replication_factor: Option<u64>, guidance: &Guidance) -> Demand {
        let mut demand = Demand {
            replicas: 0,
            write_bytes_per_second: 0.0,
            storage_bytes: 0.0,
            replication_factor: 0,
        };
        for topic in traffic.by_topic.values() {
            let factor = replication_factor
                .unwrap_or(topic.replication_factor)
                .max(1);
            demand.replication_factor = demand.replication_factor.max(factor);
            demand.replicas += topic.partitions * factor;
            demand.write_bytes_per_second += topic.bytes_in_per_second * factor as f64;
            let mut retained = topic.stored_bytes as f64;
            if topic.retention_ms >= 0 {
                retained =
                    retained.max(topic.bytes_in_per_second * topic.retention_ms as f64 / 1000.0);
            }
            if topic.retention_bytes > 0 {
                retained = retained.min((topic.retention_bytes as u64 * topic.partitions) as f64);
            }
            demand.storage_bytes += retained * factor as f64 * (1.0 + guidance.storage_headroom);
        }
        demand
    }
}

/// The verdict on one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sizing {
    /// The target's address (`module.migration.aws_msk_cluster.this[0]`).
    pub target_address: String,
    pub target: Target,
    pub demand: Demand,
    pub big_enough: bool,
    /// One line per guideline: the figure and its limit.
    pub findings: Vec<Finding>,
    /// The cheapest broker type and count from the table that is big enough, when the target
    /// is not.
    pub recommendation: Option<Recommendation>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// `partitions`, `throughput`, `storage`, `brokers` or `broker_type`.
    pub guideline: String,
    pub holds: bool,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub instance_type: String,
    pub brokers: u64,
    pub storage_gib: u64,
    /// The monthly cost of the recommendation's broker hours and storage, when priced.
    pub monthly_cost: Option<f64>,
}

/// Judges `target` for `demand`.
pub fn assess(
    target_address: &str,
    target: &Target,
    demand: &Demand,
    guidance: &Guidance,
    prices: &PriceTable,
) -> Sizing {
    let mut findings = Vec::new();
    let brokers = target.brokers.max(1);
    match guidance.broker(&target.instance_type) {
        None => findings.push(Finding {
            guideline: "broker_type".to_owned(),
            holds: false,
            text: format!(
                "{} is not in the guidance table (pricing/msk-broker-guidance.json): it cannot be judged",
                target.instance_type
            ),
        }),
        Some(broker) => {
            let per_broker = demand.replicas.div_ceil(brokers);
            findings.push(Finding {
                guideline: "partitions".to_owned(),
                holds: per_broker <= broker.partitions,
                text: format!(
                    "{per_broker} partition replicas per broker (recommended at most {} on {})",
                    broker.partitions, target.instance_type
                ),
            });
            let write = demand.write_bytes_per_second / brokers as f64;
            let limit = broker.write_bytes_per_second(guidance);
            findings.push(Finding {
                guideline: "throughput".to_owned(),
                holds: write <= limit,
                text: format!(
                    "{} written per broker, replication included (at most {} on {}: {:.0}% of its storage throughput)",
                    rate(write),
                    rate(limit),
                    target.instance_type,
                    guidance.throughput_utilisation * 100.0
                ),
            });
        }
    }
    let storage = demand.storage_bytes / brokers as f64 / GIB;
    findings.push(Finding {
        guideline: "storage".to_owned(),
        holds: storage <= target.storage_gib as f64,
        text: format!(
            "{storage:.1} GiB retained per broker with {:.0}% headroom (it has {} GiB)",
            guidance.storage_headroom * 100.0,
            target.storage_gib
        ),
    });
    if target.brokers < demand.replication_factor {
        findings.push(Finding {
            guideline: "brokers".to_owned(),
            holds: false,
            text: format!(
                "{} broker{} for replication factor {}",
                target.brokers,
                if target.brokers == 1 { "" } else { "s" },
                demand.replication_factor
            ),
        });
    }
    let big_enough = findings.iter().all(|finding| finding.holds);
    let recommendation = (!big_enough)
        .then(|| recommend(demand, target.zones, guidance, prices))
        .flatten();
    Sizing {
        target_address: target_address.to_owned(),
        target: target.clone(),
        demand: demand.clone(),
        big_enough,
        findings,
        recommendation,
    }
}

/// The cheapest type and count of the table that meets `demand` (the first that does, by the
/// table's order, where prices are missing). Counts are multiples of the zones.
pub fn recommend(
    demand: &Demand,
    zones: u64,
    guidance: &Guidance,
    prices: &PriceTable,
) -> Option<Recommendation> {
    let zones = zones.max(1);
    let mut best: Option<Recommendation> = None;
    for broker in &guidance.brokers {
        let by_partitions = demand.replicas.div_ceil(broker.partitions.max(1));
        let by_throughput =
            (demand.write_bytes_per_second / broker.write_bytes_per_second(guidance)).ceil() as u64;
        let by_storage =
            (demand.storage_bytes / GIB / guidance.max_storage_gib as f64).ceil() as u64;
        let needed = by_partitions
            .max(by_throughput)
            .max(by_storage)
            .max(demand.replication_factor)
            .max(1);
        let brokers = needed.div_ceil(zones) * zones;
        let storage_gib = ((demand.storage_bytes / GIB / brokers as f64).ceil() as u64).max(1);
        let monthly_cost = prices
            .msk_broker_per_hour
            .get(&broker.instance_type)
            .map(|hourly| {
                brokers as f64
                    * (hourly * prices.hours_per_month
                        + storage_gib as f64 * prices.msk_storage_per_gb_month)
            });
        let candidate = Recommendation {
            instance_type: broker.instance_type.clone(),
            brokers,
            storage_gib,
            monthly_cost,
        };
        best = match best {
            None => Some(candidate),
            Some(current) => match (current.monthly_cost, candidate.monthly_cost) {
                (Some(a), Some(b)) if b < a => Some(candidate),
                (None, Some(_)) => Some(candidate),
                _ => Some(current),
            },
        };
    }
    best
}

impl Sizing {
    /// One line: `big enough for the measured traffic` or `undersized: …; recommended: …`.
    pub fn summary(&self) -> String {
        if self.big_enough {
            return format!(
                "{}: big enough for the measured traffic ({} x {}, {} GiB each)",
                self.target_address,
                self.target.brokers,
                self.target.instance_type,
                self.target.storage_gib
            );
        }
        let problems: Vec<&str> = self
            .findings
            .iter()
            .filter(|finding| !finding.holds)
            .map(|finding| finding.text.as_str())
            .collect();
        let mut text = format!(
            "{}: UNDERSIZED ({} x {}, {} GiB each): {}",
            self.target_address,
            self.target.brokers,
            self.target.instance_type,
            self.target.storage_gib,
            problems.join("; ")
        );
        if let Some(recommendation) = &self.recommendation {
            text.push_str(&format!("; recommended: {}", recommendation.describe()));
        }
        text
    }
}

impl Recommendation {
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} x {} with {} GiB each",
            self.brokers, self.instance_type, self.storage_gib
        );
        if let Some(cost) = self.monthly_cost {
            text.push_str(&format!(" (about {} a month)", super::prices::money(cost)));
        }
        text
    }
}

/// `12.3 MB/s`, `512 B/s`.
pub fn rate(bytes_per_second: f64) -> String {
    if bytes_per_second >= 1e6 {
        format!("{:.1} MB/s", bytes_per_second / 1e6)
    } else if bytes_per_second >= 1e3 {
        format!("{:.1} kB/s", bytes_per_second / 1e3)
    } else {
        format!("{bytes_per_second:.0} B/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(partitions: u64, factor: u64, bytes_per_second: f64, stored: u64) -> TopicTraffic {
        TopicTraffic {
            partitions,
            replication_factor: factor,
            records_in_per_second: 0.0,
            bytes_in_per_second: bytes_per_second,
            records: 0,
            stored_bytes: stored,
            average_record_bytes: 0.0,
            retention_ms: 86_400_000,
            retention_bytes: -1,
            retention_source: "topic".to_owned(),
            size_source: "log_dirs".to_owned(),
        }
    }

    #[test]
    fn a_small_target_is_undersized_and_a_bigger_one_recommended() {
        let guidance = Guidance::builtin();
        let prices = PriceTable::builtin();
        // 2,000 partitions at RF 3 and 12 MB/s in: 6,000 replicas, 36 MB/s written, and
        // 12 MB/s for a day (1,036.8 GB) times 3 with 20% headroom retained.
        let traffic = Traffic {
            by_topic: BTreeMap::from([("orders".to_owned(), topic(2_000, 3, 12e6, 0))]),
            ..Traffic::default()
        };
        let demand = Demand::of(&traffic, None, &guidance);
        assert_eq!(demand.replicas, 6_000);
        assert_eq!(demand.write_bytes_per_second, 36e6);
        assert!((demand.storage_bytes - 1_036.8e9 * 3.0 * 1.2).abs() < 1.0);
        let target = Target {
            instance_type: "kafka.m5.large".to_owned(),
            brokers: 3,
            storage_gib: 1000,
            zones: 3,
        };
        let sizing = assess("aws_msk_cluster.t", &target, &demand, &guidance, &prices);
        assert!(!sizing.big_enough);
        let failed: Vec<&str> = sizing
            .findings
            .iter()
            .filter(|f| !f.holds)
            .map(|f| f.guideline.as_str())
            .collect();
        // 2,000 replicas per broker over 1,000; 12 MB/s per broker is under 0.6 x 81.25 MB/s;
        // 1,244 GB (1,158.7 GiB) per broker over 1,000 GiB.
        assert_eq!(failed, vec!["partitions", "storage"]);
        let recommendation = sizing.recommendation.clone().unwrap();
        assert_eq!(recommendation.brokers % 3, 0);
        assert!(
            sizing.summary().contains("UNDERSIZED"),
            "{}",
            sizing.summary()
        );
        // The recommendation is itself big enough.
        let recommended = Target {
            instance_type: recommendation.instance_type.clone(),
            brokers: recommendation.brokers,
            storage_gib: recommendation.storage_gib,
            zones: 3,
        };
        assert!(assess("t", &recommended, &demand, &guidance, &prices).big_enough);
    }

    #[test]
    fn the_target_reads_from_msk_cluster_attributes() {
        let guidance = Guidance::builtin();
        let value = Value::from_json(&serde_json::json!({
            "number_of_broker_nodes": 3,
            "broker_node_group_info": {
                "instance_type": "kafka.m7g.large",
                "client_subnets": ["a", "b", "c"]
            }
        }));
        assert_eq!(
            Target::of_msk_cluster(&value, &guidance),
            Some(Target {
                instance_type: "kafka.m7g.large".to_owned(),
                brokers: 3,
                storage_gib: 1000,
                zones: 3
            })
        );
    }
}
