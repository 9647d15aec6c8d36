//! The plan's cost section ([`Economics`]): what the legacy fleet costs a month (its EC2
//! instances by type and hours, their EBS volumes by size and type, the inter-AZ replication
//! and client traffic the measured bytes and replication factors imply) against the target
//! (MSK broker hours, storage, client traffic) and the mirror while it runs; the monthly saving
//! of a plan that terminates legacy instances; and the sizing verdict of each target
//! ([`crate::economics::sizing`]).
//!
//! Pure: computed from the plan's changes and the data sources read for it, with prices from a
//! [`PriceTable`] (the built-in `pricing/us-east-1.json`, or a user's `price_file` merged over
//! it, read by the engine). Nothing is fetched.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Action, Plan};
use crate::config::evaluate::ResourceAddress;
use crate::config::value::Value;
pub use crate::economics::prices::{BUILTIN_PRICES_JSON, BUILTIN_PRICES_NAME};
use crate::economics::prices::{PriceTable, money};
use crate::economics::sizing::{self, Demand, Guidance, Sizing, Target, Traffic};

/// Which prices a plan used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceInfo {
    pub region: String,
    pub currency: String,
    pub date: String,
    /// `built in: pricing/us-east-1.json`, or the price file's path.
    pub table: String,
    pub sources: Vec<String>,
    pub hours_per_month: f64,
}

/// The plan's cost and sizing section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Economics {
    pub prices: PriceInfo,
    /// What `data "kafka_traffic"` measured (all of them together), when any did.
    pub traffic: Option<TrafficLine>,
    pub legacy: Option<LegacyCost>,
    pub targets: Vec<TargetCost>,
    pub mirror: Option<MirrorCost>,
    /// Legacy monthly total minus the targets' and the mirror's (positive: the target is
    /// cheaper), when both sides are in the plan.
    pub monthly_difference: Option<f64>,
    /// What the legacy instances this plan terminates cost a month.
    pub decommission_saving: Option<Saving>,
    pub sizing: Vec<Sizing>,
    /// Prices missing, figures assumed.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficLine {
    pub measured_by: Vec<String>,
    pub bytes_in_per_second: f64,
    pub records_in_per_second: f64,
    pub partitions: u64,
    pub stored_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyCost {
    pub instances: Vec<InstanceCost>,
    /// Distinct availability zones of the instances.
    pub zones: u64,
    pub instances_monthly: f64,
    pub ebs_monthly: f64,
    pub ebs_gb: u64,
    /// Followers copying from leaders in other zones (rack-aware placement assumed).
    pub inter_az_replication_monthly: f64,
    /// Producers and consumers reaching leaders in other zones.
    pub client_traffic_monthly: f64,
    pub total_monthly: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceCost {
    pub address: String,
    pub id: Option<String>,
    pub instance_type: String,
    pub availability_zone: Option<String>,
    /// `None` when the price table has no price for the type (counted as 0).
    pub hourly: Option<f64>,
    pub monthly: f64,
    pub ebs_gb: u64,
    pub ebs_monthly: f64,
    /// Terminated by this plan.
    pub destroyed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCost {
    pub address: String,
    pub instance_type: String,
    pub brokers: u64,
    pub storage_gib: u64,
    pub zones: u64,
    pub brokers_monthly: f64,
    pub storage_monthly: f64,
    pub client_traffic_monthly: f64,
    pub total_monthly: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MirrorCost {
    pub mirrors: Vec<String>,
    pub instance_type: String,
    pub host_monthly: f64,
    /// Reading from the source and writing to the target, both counted across zones.
    pub transfer_monthly: f64,
    pub total_monthly: f64,
    /// Once: copying what the source holds now.
    pub initial_copy: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Saving {
    pub instances: usize,
    pub monthly: f64,
}

/// The cost section of `plan`, `None` when the plan has no EC2 instance, MSK cluster or
/// traffic measurement. `data` holds the data sources read for the plan.
pub fn economics(
    plan: &Plan,
    data: &BTreeMap<ResourceAddress, Value>,
    prices: &PriceTable,
    price_table_name: &str,
    guidance: &Guidance,
) -> Option<Economics> {
    let mut notes = Vec::new();
    let mut instances: Vec<InstanceCost> = Vec::new();
    let mut targets: Vec<(String, Target, Option<String>)> = Vec::new();
    let mut mirrors = Vec::new();
    // The replication factor an `msk_sizing` check judges a cluster at, by cluster name: the
    // plan's verdict uses the same.
    let mut check_factors: BTreeMap<String, u64> = BTreeMap::new();
    for change in &plan.changes {
        let value = match change.action {
            Action::Delete => change.before.as_ref(),
            _ => change.after.as_ref().or(change.before.as_ref()),
        };
        let Some(value) = value else { continue };
        match change.address.type_name.as_str() {
            "aws_ec2_instance" => {
                if let Some(instance) = instance_cost(
                    &change.address.to_string(),
                    value,
                    change.action == Action::Delete,
                    prices,
                    &mut notes,
                ) {
                    instances.push(instance);
                }
            }
            "aws_msk_cluster" if change.action != Action::Delete => {
                match Target::of_msk_cluster(value, guidance) {
                    Some(target) => {
                        targets.push((change.address.to_string(), target, cluster_name(value)))
                    }
                    None => notes.push(format!(
                        "{}: broker type or count not known at plan time, or sensitive: not costed",
                        change.address
                    )),
                }
            }
            "kafka_mirror" if change.action != Action::Delete => {
                mirrors.push(change.address.to_string());
            }
            _ if change.action == Action::Check => {
                let check = value
                    .peel()
                    .as_map()
                    .and_then(|map| map.get(crate::verify::sizing::NAME))
                    .and_then(|check| check.peel().as_map());
                if let Some(check) = check
                    && let Some(factor) = check
                        .get("replication_factor")
                        .and_then(|factor| factor.peel().as_i64())
                    && let Some(name) = check.get("cluster").and_then(cluster_name)
                {
                    check_factors.insert(name, factor.max(1) as u64);
                }
            }
            _ => {}
        }
    }
    let mut measured = Vec::new();
    let mut measured_by = Vec::new();
    let mut records_in_per_second = 0.0;
    let mut partitions = 0;
    for (address, value) in data {
        match address.type_name.as_str() {
            "kafka_traffic" => {
                if let Some(traffic) = Traffic::of(value) {
                    records_in_per_second += traffic
                        .by_topic
                        .values()
                        .map(|t| t.records_in_per_second)
                        .sum::<f64>();
                    partitions += traffic.by_topic.values().map(|t| t.partitions).sum::<u64>();
                    measured.push(traffic);
                    measured_by.push(address.to_string());
                }
            }
            "aws_ec2_instances" => {
                let known: BTreeSet<String> =
                    instances.iter().filter_map(|i| i.id.clone()).collect();
                for (id, found) in value
                    .peel()
                    .as_map()
                    .and_then(|map| map.get("instances"))
                    .and_then(|v| v.peel().as_map())
                    .into_iter()
                    .flatten()
                {
                    if known.contains(id) {
                        continue;
                    }
                    if let Some(instance) = instance_cost(
                        &format!("{address}[{id:?}]"),
                        found,
                        false,
                        prices,
                        &mut notes,
                    ) {
                        instances.push(InstanceCost {
                            id: Some(id.clone()),
                            ..instance
                        });
                    }
                }
            }
            _ => {}
        }
    }
    let traffic = (!measured.is_empty()).then(|| Traffic::merge(&measured));
    if instances.is_empty() && targets.is_empty() && traffic.is_none() {
        return None;
    }
    if traffic.is_none() && (!instances.is_empty() || !targets.is_empty()) {
        notes.push(
            "no data \"kafka_traffic\" measured the source: traffic costs and sizing left out"
                .to_owned(),
        );
    }

    let bytes_in = traffic.as_ref().map_or(0.0, |t| t.bytes_in_per_second);
    let client_crossing = |zones: u64| {
        let zones = zones.max(1) as f64;
        bytes_in * (1.0 + prices.consumer_fanout) * (zones - 1.0) / zones
    };

    let legacy = (!instances.is_empty()).then(|| {
        let zones = instances
            .iter()
            .filter_map(|i| i.availability_zone.clone())
            .collect::<BTreeSet<_>>()
            .len()
            .max(1) as u64;
        let replication_crossing: f64 = traffic.as_ref().map_or(0.0, |traffic| {
            traffic
                .by_topic
                .values()
                .map(|t| {
                    let copies = t.replication_factor.saturating_sub(1).min(zones - 1);
                    t.bytes_in_per_second * copies as f64
                })
                .sum()
        });
        let instances_monthly = instances.iter().map(|i| i.monthly).sum::<f64>();
        let ebs_monthly = instances.iter().map(|i| i.ebs_monthly).sum::<f64>();
        let inter_az_replication_monthly = prices.transfer_monthly(replication_crossing);
        let client_traffic_monthly = prices.transfer_monthly(client_crossing(zones));
        LegacyCost {
            ebs_gb: instances.iter().map(|i| i.ebs_gb).sum(),
            instances: instances.clone(),
            zones,
            instances_monthly,
            ebs_monthly,
            inter_az_replication_monthly,
            client_traffic_monthly,
            total_monthly: instances_monthly
                + ebs_monthly
                + inter_az_replication_monthly
                + client_traffic_monthly,
        }
    });

    let target_costs: Vec<TargetCost> = targets
        .iter()
        .map(|(address, target, _)| {
            let hourly = prices.msk_broker_per_hour.get(&target.instance_type);
            if hourly.is_none() {
                notes.push(format!(
                    "no price for MSK broker type {}: its broker hours counted as 0",
                    target.instance_type
                ));
            }
            let brokers_monthly =
                hourly.copied().unwrap_or(0.0) * prices.hours_per_month * target.brokers as f64;
            let storage_monthly =
                target.storage_gib as f64 * target.brokers as f64 * prices.msk_storage_per_gb_month;
            let client_traffic_monthly = prices.transfer_monthly(client_crossing(target.zones));
            TargetCost {
                address: address.clone(),
                instance_type: target.instance_type.clone(),
                brokers: target.brokers,
                storage_gib: target.storage_gib,
                zones: target.zones,
                brokers_monthly,
                storage_monthly,
                client_traffic_monthly,
                total_monthly: brokers_monthly + storage_monthly + client_traffic_monthly,
            }
        })
        .collect();

    let mirror = (!mirrors.is_empty()).then(|| {
        let hourly = prices
            .ec2_instance_per_hour
            .get(&prices.mirror_instance_type)
            .copied()
            .unwrap_or(0.0);
        let host_monthly = hourly * prices.hours_per_month;
        let transfer_monthly = prices.transfer_monthly(2.0 * bytes_in);
        let stored = traffic.as_ref().map_or(0, |t| t.stored_bytes);
        MirrorCost {
            mirrors: mirrors.clone(),
            instance_type: prices.mirror_instance_type.clone(),
            host_monthly,
            transfer_monthly,
            total_monthly: host_monthly + transfer_monthly,
            initial_copy: 2.0 * stored as f64 / 1e9 * prices.inter_az_per_gb,
        }
    });

    let monthly_difference = match (&legacy, target_costs.is_empty()) {
        (Some(legacy), false) => Some(
            legacy.total_monthly
                - target_costs.iter().map(|t| t.total_monthly).sum::<f64>()
                - mirror.as_ref().map_or(0.0, |m| m.total_monthly),
        ),
        _ => None,
    };

    let destroyed: Vec<&InstanceCost> = instances.iter().filter(|i| i.destroyed).collect();
    let decommission_saving = (!destroyed.is_empty()).then(|| {
        let mut monthly: f64 = destroyed.iter().map(|i| i.monthly + i.ebs_monthly).sum();
        // The whole fleet goes: its replication traffic stops with it (the clients' moved to
        // the target already).
        if destroyed.len() == instances.len() {
            monthly += legacy
                .as_ref()
                .map_or(0.0, |legacy| legacy.inter_az_replication_monthly);
        }
        Saving {
            instances: destroyed.len(),
            monthly,
        }
    });

    let sizing = match &traffic {
        Some(traffic) => targets
            .iter()
            .map(|(address, target, name)| {
                let factor = name
                    .as_ref()
                    .and_then(|name| check_factors.get(name))
                    .copied();
                let demand = Demand::of(traffic, factor, guidance);
                sizing::assess(address, target, &demand, guidance, prices)
            })
            .collect(),
        None => Vec::new(),
    };

    notes.sort();
    notes.dedup();
    Some(Economics {
        prices: PriceInfo {
            region: prices.region.clone(),
            currency: prices.currency.clone(),
            date: prices.date.clone(),
            table: price_table_name.to_owned(),
            sources: prices.sources.clone(),
            hours_per_month: prices.hours_per_month,
        },
        traffic: traffic.as_ref().map(|traffic| TrafficLine {
            measured_by,
            bytes_in_per_second: traffic.bytes_in_per_second,
            records_in_per_second,
            partitions,
            stored_bytes: traffic.stored_bytes,
        }),
        legacy,
        targets: target_costs,
        mirror,
        monthly_difference,
        decommission_saving,
        sizing,
        notes,
    })
}

fn cluster_name(value: &Value) -> Option<String> {
    value
        .peel()
        .as_map()?
        .get("cluster_name")?
        .peel()
        .as_str()
        .map(str::to_owned)
}

/// An EC2 instance's monthly cost from its attributes (an `aws_ec2_instance`, or an entry of
/// `data "aws_ec2_instances"`); `None` while its type is unknown.
fn instance_cost(
    address: &str,
    value: &Value,
    destroyed: bool,
    prices: &PriceTable,
    notes: &mut Vec<String>,
) -> Option<InstanceCost> {
    let map = value.peel().as_map()?;
    let text = |name: &str| {
        map.get(name)
            .and_then(|v| v.peel().as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if map
        .get("instance_type")
        .is_some_and(Value::contains_sensitive)
    {
        notes.push(format!("{address}: instance type is sensitive: not costed"));
        return None;
    }
    let instance_type = text("instance_type")?;
    let hourly = prices.ec2_instance_per_hour.get(&instance_type).copied();
    if hourly.is_none() {
        notes.push(format!(
            "no price for EC2 instance type {instance_type}: counted as 0"
        ));
    }
    let (mut ebs_gb, mut ebs_monthly) = (0u64, 0.0);
    for volume in map
        .get("volumes")
        .and_then(|v| v.peel().as_items())
        .into_iter()
        .flatten()
    {
        let Some(volume) = volume.peel().as_map() else {
            continue;
        };
        let size = volume
            .get("size_gb")
            .and_then(|v| v.peel().as_i64())
            .unwrap_or(0)
            .max(0) as u64;
        let kind = volume
            .get("volume_type")
            .and_then(|v| v.peel().as_str())
            .unwrap_or("gp2");
        let price = prices
            .ebs_per_gb_month
            .get(kind)
            .copied()
            .unwrap_or_else(|| {
                notes.push(format!("no price for EBS volume type {kind}: counted as 0"));
                0.0
            });
        ebs_gb += size;
        ebs_monthly += size as f64 * price;
    }
    Some(InstanceCost {
        address: address.to_owned(),
        id: text("id").or_else(|| text("instance_id")),
        availability_zone: text("availability_zone"),
        hourly,
        monthly: hourly.unwrap_or(0.0) * prices.hours_per_month,
        instance_type,
        ebs_gb,
        ebs_monthly,
        destroyed,
    })
}

impl Economics {
    /// The heading line: `Cost (monthly, USD, us-east-1 prices of 2026-12-04, built in: …)`.
    pub fn heading(&self) -> String {
        format!(
            "Cost and sizing (monthly, {}, {} prices of {}, {}; {} hours a month)",
            self.prices.currency,
            self.prices.region,
            self.prices.date,
            self.prices.table,
            self.prices.hours_per_month
        )
    }

    /// The section as `(label, amount)` rows and text lines, shared by the human and markdown
    /// renderers: `depth` 0 for totals, 1 for their parts.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        if let Some(traffic) = &self.traffic {
            rows.push(Row::text(
                0,
                format!(
                    "measured traffic: {} in, {:.1} records/s, {} partitions, {} stored ({})",
                    sizing::rate(traffic.bytes_in_per_second),
                    traffic.records_in_per_second,
                    traffic.partitions,
                    super::estimate::human_bytes(traffic.stored_bytes),
                    traffic.measured_by.join(", ")
                ),
            ));
        }
        if let Some(legacy) = &self.legacy {
            rows.push(Row::amount(
                0,
                format!(
                    "legacy fleet: {} EC2 instance{}",
                    legacy.instances.len(),
                    plural(legacy.instances.len())
                ),
                legacy.total_monthly,
            ));
            let mut by_type: BTreeMap<&str, (usize, f64, Option<f64>)> = BTreeMap::new();
            for instance in &legacy.instances {
                let entry = by_type.entry(instance.instance_type.as_str()).or_insert((
                    0,
                    0.0,
                    instance.hourly,
                ));
                entry.0 += 1;
                entry.1 += instance.monthly;
            }
            for (kind, (count, monthly, hourly)) in by_type {
                rows.push(Row::amount(
                    1,
                    match hourly {
                        Some(hourly) => format!("{count} x {kind} at {hourly}/h"),
                        None => format!("{count} x {kind} (no price)"),
                    },
                    monthly,
                ));
            }
            rows.push(Row::amount(
                1,
                format!("EBS volumes: {} GB", group(legacy.ebs_gb)),
                legacy.ebs_monthly,
            ));
            rows.push(Row::amount(
                1,
                format!(
                    "inter-AZ replication ({} zone{})",
                    legacy.zones,
                    plural(legacy.zones as usize)
                ),
                legacy.inter_az_replication_monthly,
            ));
            rows.push(Row::amount(
                1,
                "client traffic across zones".to_owned(),
                legacy.client_traffic_monthly,
            ));
        }
        for target in &self.targets {
            rows.push(Row::amount(
                0,
                format!("target: {}", target.address),
                target.total_monthly,
            ));
            rows.push(Row::amount(
                1,
                format!("{} x {} broker hours", target.brokers, target.instance_type),
                target.brokers_monthly,
            ));
            rows.push(Row::amount(
                1,
                format!(
                    "storage: {} x {} GiB",
                    target.brokers,
                    group(target.storage_gib)
                ),
                target.storage_monthly,
            ));
            rows.push(Row::amount(
                1,
                format!(
                    "client traffic across zones ({} zone{}; no charge between brokers)",
                    target.zones,
                    plural(target.zones as usize)
                ),
                target.client_traffic_monthly,
            ));
        }
        if let Some(mirror) = &self.mirror {
            rows.push(Row::amount(
                0,
                format!("mirror while it runs: {}", mirror.mirrors.join(", ")),
                mirror.total_monthly,
            ));
            rows.push(Row::amount(
                1,
                format!("a {} host", mirror.instance_type),
                mirror.host_monthly,
            ));
            rows.push(Row::amount(
                1,
                "reading and writing across zones".to_owned(),
                mirror.transfer_monthly,
            ));
            rows.push(Row::amount(
                1,
                "once: the initial copy across zones".to_owned(),
                mirror.initial_copy,
            ));
        }
        if let Some(difference) = self.monthly_difference {
            rows.push(Row::text(
                0,
                if difference >= 0.0 {
                    format!(
                        "the target (with the mirror) costs {} less a month than the legacy fleet",
                        money(difference)
                    )
                } else {
                    format!(
                        "the target (with the mirror) costs {} more a month than the legacy fleet",
                        money(-difference)
                    )
                },
            ));
        }
        if let Some(saving) = &self.decommission_saving {
            rows.push(Row::text(
                0,
                format!(
                    "decommission: this plan terminates {} legacy instance{}, saving {} a month",
                    saving.instances,
                    plural(saving.instances),
                    money(saving.monthly)
                ),
            ));
        }
        for sizing in &self.sizing {
            rows.push(Row::text(0, format!("sizing: {}", sizing.summary())));
        }
        for note in &self.notes {
            rows.push(Row::text(0, format!("note: {note}")));
        }
        rows
    }

    /// Whether any target is undersized.
    pub fn undersized(&self) -> Vec<&Sizing> {
        self.sizing.iter().filter(|s| !s.big_enough).collect()
    }
}

/// A line of the cost section.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub depth: usize,
    pub label: String,
    pub amount: Option<f64>,
}

impl Row {
    fn amount(depth: usize, label: String, amount: f64) -> Row {
        Row {
            depth,
            label,
            amount: Some(amount),
        }
    }

    fn text(depth: usize, label: String) -> Row {
        Row {
            depth,
            label,
            amount: None,
        }
    }
}

/// The human plan's lines of the section.
pub fn human_lines(economics: &Economics) -> Vec<String> {
    let mut lines = vec![format!("{}:", economics.heading())];
    let rows = economics.rows();
    let width = rows
        .iter()
        .filter(|row| row.amount.is_some())
        .map(|row| 2 + 2 * row.depth + row.label.chars().count())
        .max()
        .unwrap_or(0);
    for row in rows {
        let lead = 2 + 2 * row.depth;
        match row.amount {
            Some(amount) => {
                let label = format!("{}{}", " ".repeat(lead), row.label);
                let pad = width.saturating_sub(label.chars().count());
                lines.push(format!("{label}{} {:>12}", " ".repeat(pad), money(amount)));
            }
            None => lines.push(format!("{}{}", " ".repeat(lead), row.label)),
        }
    }
    lines
}

/// The markdown section: a table of amounts, then the verdicts and notes.
pub fn markdown(economics: &Economics) -> String {
    let mut text = format!("#### {}\n\n", economics.heading());
    let undersized = economics.undersized();
    if !undersized.is_empty() {
        let mut banner = vec!["> [!CAUTION]".to_owned()];
        for sizing in undersized {
            banner.push(format!("> **{}**", escape(&sizing.summary())));
        }
        text.push_str(&banner.join("\n"));
        text.push_str("\n\n");
    }
    let rows = economics.rows();
    let mut table = vec![
        format!("| | {} a month |", economics.prices.currency),
        "|:--|--:|".to_owned(),
    ];
    let mut lines = Vec::new();
    for row in rows {
        match row.amount {
            Some(amount) if row.depth == 0 => table.push(format!(
                "| **{}** | **{}** |",
                escape(&row.label),
                money(amount)
            )),
            Some(amount) => table.push(format!(
                "| &nbsp;&nbsp;{} | {} |",
                escape(&row.label),
                money(amount)
            )),
            None => lines.push(format!("- {}", escape(&row.label))),
        }
    }
    if table.len() > 2 {
        text.push_str(&table.join("\n"));
        text.push_str("\n\n");
    }
    text.push_str(&lines.join("\n"));
    text.trim_end().to_owned()
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn group(value: u64) -> String {
    super::estimate::group_digits(value)
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::economics::sizing::TopicTraffic;
    use crate::plan::{PlanMode, ResourceChange};

    fn address(type_name: &str, name: &str) -> ResourceAddress {
        let (mode, type_name) = match type_name.strip_prefix("data.") {
            Some(type_name) => (crate::config::model::Mode::Data, type_name),
            None => (crate::config::model::Mode::Managed, type_name),
        };
        ResourceAddress {
            module: Vec::new(),
            mode,
            type_name: type_name.to_owned(),
            name: name.to_owned(),
            key: None,
        }
    }

    fn change(
        address: ResourceAddress,
        action: Action,
        value: serde_json::Value,
    ) -> ResourceChange {
        let value = Value::from_json(&value);
        ResourceChange {
            address,
            provider: "aws".to_owned(),
            action,
            before: (action != Action::Create).then(|| value.clone()),
            after: (action != Action::Delete).then_some(value),
            reason: None,
            importing: None,
            dependencies: BTreeSet::new(),
            prevent_destroy: false,
            create_before_destroy: false,
            copy_estimate: None,
        }
    }

    fn broker(zone: &str, action: Action, name: &str) -> ResourceChange {
        change(
            address("aws_ec2_instance", name),
            action,
            serde_json::json!({
                "id": format!("i-{name}"),
                "instance_type": "m5.2xlarge",
                "availability_zone": zone,
                "volumes": [{ "size_gb": 1000, "volume_type": "gp2" }],
            }),
        )
    }

    fn traffic() -> BTreeMap<ResourceAddress, Value> {
        let topic = TopicTraffic {
            partitions: 30,
            replication_factor: 3,
            records_in_per_second: 10_000.0,
            bytes_in_per_second: 10e6,
            records: 0,
            stored_bytes: 500e9 as u64,
            average_record_bytes: 1000.0,
            retention_ms: 86_400_000,
            retention_bytes: -1,
            retention_source: "topic".to_owned(),
            size_source: "log_dirs".to_owned(),
        };
        BTreeMap::from([(
            address("data.kafka_traffic", "legacy"),
            Value::from_json(&serde_json::json!({
                "bytes_in_per_second": 10e6,
                "stored_bytes": 500e9 as u64,
                "by_topic": { "orders": topic },
            })),
        )])
    }

    fn plan(changes: Vec<ResourceChange>) -> Plan {
        Plan {
            mode: PlanMode::Normal,
            changes,
            drift: Vec::new(),
            outputs: Vec::new(),
            prior_state: None,
            targets: Vec::new(),
            economics: None,
        }
    }

    /// Checked by hand: 3 m5.2xlarge brokers in 3 zones, 1,000 GB gp2 each, 10 MB/s written at
    /// replication factor 3, against 3 kafka.m5.2xlarge brokers with 1,000 GiB each.
    #[test]
    fn the_arithmetic_of_one_migration_checked_by_hand() {
        let msk = change(
            address("aws_msk_cluster", "target"),
            Action::Create,
            serde_json::json!({
                "number_of_broker_nodes": 3,
                "broker_node_group_info": {
                    "instance_type": "kafka.m5.2xlarge",
                    "client_subnets": ["a", "b", "c"],
                    "storage_gb": 1000
                }
            }),
        );
        let plan = plan(vec![
            broker("us-east-1a", Action::NoOp, "b1"),
            broker("us-east-1b", Action::NoOp, "b2"),
            broker("us-east-1c", Action::NoOp, "b3"),
            msk,
        ]);
        let prices = PriceTable::builtin();
        let economics = economics(
            &plan,
            &traffic(),
            &prices,
            BUILTIN_PRICES_NAME,
            &Guidance::builtin(),
        )
        .unwrap();
        let legacy = economics.legacy.as_ref().unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 0.005;
        // 0.384 $/h x 730 h = 280.32 per instance.
        assert!(close(legacy.instances_monthly, 3.0 * 280.32));
        // 1,000 GB x 0.10 $ = 100 per volume.
        assert!(close(legacy.ebs_monthly, 300.0));
        // Two follower copies cross zones: 20 MB/s x 2,628,000 s = 52,560 GB x 0.02 $.
        assert!(close(legacy.inter_az_replication_monthly, 1_051.20));
        // Producers and one consumer group, 2/3 of them in another zone than the leader:
        // 10 MB/s x 2 x 2/3 x 2,628,000 s = 35,040 GB x 0.02 $.
        assert!(close(legacy.client_traffic_monthly, 700.80));
        assert!(close(legacy.total_monthly, 2_892.96));
        let target = &economics.targets[0];
        // 0.84 $/h x 730 h x 3 brokers; 3 x 1,000 GiB x 0.10 $; the same client traffic.
        assert!(close(target.brokers_monthly, 1_839.60));
        assert!(close(target.storage_monthly, 300.0));
        assert!(close(target.client_traffic_monthly, 700.80));
        assert!(close(target.total_monthly, 2_840.40));
        assert!(close(economics.monthly_difference.unwrap(), 52.56));
        assert_eq!(economics.decommission_saving, None);
        // 90 replicas, 30 MB/s written (10 per broker, under 0.6 x 250 MiB/s), 10 MB/s for a
        // day x 3 x 1.2 = 3,110.4 GB retained: 965.6 GiB per broker, under 1,000.
        assert!(economics.sizing[0].big_enough, "{:?}", economics.sizing);
        let lines = human_lines(&economics).join("\n");
        assert!(lines.contains("2,892.96"), "{lines}");
        assert!(lines.contains("big enough"), "{lines}");
    }

    #[test]
    fn a_decommission_plan_shows_the_saving() {
        let plan = plan(vec![
            broker("us-east-1a", Action::Delete, "b1"),
            broker("us-east-1a", Action::Delete, "b2"),
        ]);
        let economics = economics(
            &plan,
            &BTreeMap::new(),
            &PriceTable::builtin(),
            BUILTIN_PRICES_NAME,
            &Guidance::builtin(),
        )
        .unwrap();
        let saving = economics.decommission_saving.unwrap();
        assert_eq!(saving.instances, 2);
        assert!((saving.monthly - 2.0 * (280.32 + 100.0)).abs() < 0.005);
    }

    #[test]
    fn a_price_file_replaces_entries() {
        let prices = PriceTable::with_overrides(
            r#"{ "region": "eu-west-1", "ec2_instance_per_hour": { "m5.2xlarge": 0.428 } }"#,
        )
        .unwrap();
        assert_eq!(prices.region, "eu-west-1");
        assert_eq!(prices.ec2_instance_per_hour["m5.2xlarge"], 0.428);
        assert_eq!(prices.ec2_instance_per_hour["m5.large"], 0.096);
        assert!(PriceTable::with_overrides(r#"{ "colour": 1 }"#).is_err());
        assert!(PriceTable::with_overrides("[").is_err());
        assert_eq!(money(1_234.565), "1,234.57");
        assert_eq!(money(-3.0), "-3.00");
    }
}
