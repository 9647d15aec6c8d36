//! `msk_sizing { … cluster = aws_msk_cluster.NAME }`: holds when the MSK cluster is big enough
//! for the source's traffic by AWS's per-broker guidance (`economics::sizing`); fails with the
//! guideline it breaks and the broker type and count recommended.
//!
//! The traffic is either measured by the check when it runs (`source = cluster.legacy`, with
//! `topics` and `window`, as `data "kafka_traffic"` measures), or taken from a `data
//! "kafka_traffic"` read at plan time (`traffic = data.kafka_traffic.NAME`). Only the first
//! suits a saved plan: the assertion's arguments are part of what `apply FILE` compares, and a
//! measurement taken again differs. A check's figures do not change between polls of one
//! measurement: give the assertion `timeout = "0s"` to fail at once.

use std::collections::BTreeMap;

use crate::config::decode::reference;
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::validate::Pattern;
use crate::config::value::Value;
use crate::context::ProviderContext;
use crate::economics::prices::PriceTable;
use crate::economics::sizing::{self, Demand, Guidance, Target, Traffic};
use crate::error::{OperationError as ProviderError, OperationResult as ProviderResult};

use super::CheckRun;

pub const NAME: &str = "msk_sizing";

pub fn schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::optional("source", Type::Any)
                .describe("the cluster to measure when the check runs, e.g. cluster.legacy (suits saved plans)")
                .conflicts_with(&["traffic"]),
            AttributeSchema::optional("topics", Type::list_of(Type::String))
                .describe("with source: the topics to measure (default every non-internal topic)")
                .requires(&["source"]),
            AttributeSchema::optional("window", Type::String)
                .describe("with source: how long to measure, at most 15m")
                .default_value(Value::string("10s"))
                .pattern(Pattern::Duration),
            AttributeSchema::optional("traffic", Type::Any)
                .describe("instead of source: a data \"kafka_traffic\" read at plan time, e.g. data.kafka_traffic.legacy (not for saved plans: its figures change)"),
            AttributeSchema::required("cluster", Type::Any)
                .describe("the target, e.g. aws_msk_cluster.target (broker type, count and storage are read from it)"),
            AttributeSchema::optional("replication_factor", Type::Number)
                .describe("the replication factor the target's topics will have (default: each topic's on the source)")
                .int_range(1, 32),
        ],
        Vec::new(),
    )
}

/// The typed arguments besides the objects read whole (`source`, `traffic`, `cluster`).
#[derive(Debug, Default, serde::Deserialize)]
struct SizingArgs {
    topics: Option<Vec<Option<String>>>,
    window: Option<String>,
    replication_factor: Option<u64>,
}

/// What the verdict's words take from the target `cluster` (an evaluated aws_msk_cluster).
#[derive(Debug, serde::Deserialize)]
struct TargetName {
    cluster_name: Option<String>,
}

pub struct MskSizing {
    source: Option<Value>,
    topics: Option<Vec<String>>,
    window: String,
    traffic: Option<Value>,
    cluster: Value,
    replication_factor: Option<u64>,
}

impl MskSizing {
    pub fn new(check: &Value) -> ProviderResult<Self> {
        let args: SizingArgs =
            crate::config::decode::decode(NAME, check).map_err(ProviderError::Invalid)?;
        let (source, traffic) = (reference(check, "source"), reference(check, "traffic"));
        if source.is_none() && traffic.is_none() {
            return Err(ProviderError::Invalid(
                "msk_sizing needs source (a cluster to measure) or traffic (a data \"kafka_traffic\")"
                    .to_owned(),
            ));
        }
        Ok(MskSizing {
            source,
            topics: args
                .topics
                .map(|topics| topics.into_iter().flatten().collect()),
            window: args.window.unwrap_or_else(|| "10s".to_owned()),
            traffic,
            cluster: reference(check, "cluster").unwrap_or(Value::Null),
            replication_factor: args.replication_factor,
        })
    }

    pub async fn poll(&self, context: &ProviderContext) -> ProviderResult<CheckRun> {
        let measured = match (&self.source, &self.traffic) {
            (Some(source), _) => {
                let mut config = BTreeMap::from([
                    ("cluster".to_owned(), source.clone()),
                    ("window".to_owned(), Value::string(self.window.clone())),
                ]);
                if let Some(topics) = &self.topics {
                    config.insert(
                        "topics".to_owned(),
                        Value::List(topics.iter().cloned().map(Value::string).collect()),
                    );
                }
                (context.progress)(&format!(
                    "measuring the source's traffic for {}",
                    self.window
                ));
                crate::kafka::traffic::measure(context, &Value::Map(config)).await?
            }
            (None, Some(traffic)) => traffic.clone(),
            (None, None) => Value::Null,
        };
        Ok(self.judge(context, &measured))
    }

    fn judge(&self, context: &ProviderContext, measured: &Value) -> CheckRun {
        let guidance = Guidance::builtin();
        let prices = crate::economics::prices::price_table(&context.connections)
            .map(|(prices, _)| prices)
            .unwrap_or_else(|_| PriceTable::builtin());
        let Some(traffic) = Traffic::of(measured) else {
            return not_judged("traffic is not a data \"kafka_traffic\" that has been read");
        };
        let Some(target) = Target::of_msk_cluster(&self.cluster, &guidance) else {
            return not_judged(
                "cluster is not an aws_msk_cluster with a known broker type and count",
            );
        };
        // The name only words the verdict: a target without a known one is "the target".
        let address = crate::config::decode::decode::<TargetName>(NAME, &self.cluster)
            .ok()
            .and_then(|target| target.cluster_name)
            .map_or_else(
                || "the target".to_owned(),
                |name| format!("MSK cluster {name}"),
            );
        let demand = Demand::of(&traffic, self.replication_factor, &guidance);
        let verdict = sizing::assess(&address, &target, &demand, &guidance, &prices);
        CheckRun {
            holds: verdict.big_enough,
            summary: verdict.summary(),
            evidence: serde_json::to_value(&verdict).unwrap_or_default(),
        }
    }
}

fn not_judged(why: &str) -> CheckRun {
    CheckRun {
        holds: false,
        summary: why.to_owned(),
        evidence: serde_json::json!({ "holds": false, "summary": why }),
    }
}
