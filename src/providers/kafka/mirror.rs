//! `resource "kafka_mirror"`: the embedded mirror, a thin adapter over [`crate::mirror`].
//! Applying it copies the listed topics from the source to the target until every partition has
//! caught up with the end offsets seen when the apply started (or is within `max_lag`), with
//! `workers` local workers, or by waiting for workers already running elsewhere (`cutover
//! mirror run --follow`). The plan shows the padding each new partition needs; a mirror that
//! has fallen behind since the last apply is planned as an update that catches it up.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::mirror_estimate::achieved_rate;
use super::topics::cluster_references_as_addresses;
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::validate::{Pattern, Validator};
use crate::config::value::Value;
use crate::kafka::admin::topic_configs;
use crate::kafka::connection::{Cluster, blocking};
use crate::mirror::estimate::CopyEstimate;
use crate::mirror::survey::PartitionTask;
use crate::mirror::{self, CopySettings, MirrorSpec, Offsets, RunMode, connect};
use crate::providers::{BoxFuture, ProviderContext, ProviderError, ProviderResult, ResourceType};

pub use crate::mirror::KAFKA_MIRROR;

pub struct KafkaMirror {
    schema: Schema,
}

impl KafkaMirror {
    pub fn new() -> Self {
        KafkaMirror {
            schema: Schema::new(
                vec![
                    AttributeSchema::required("source", Type::Any)
                        .describe("the cluster to copy from, e.g. cluster.legacy"),
                    AttributeSchema::required("target", Type::Any)
                        .describe("the cluster to copy to; the topics must exist there"),
                    AttributeSchema::required("topics", Type::list_of(Type::String))
                        .describe("the topics to mirror (same names on both sides)")
                        .pattern(Pattern::TopicName),
                    AttributeSchema::optional("engine", Type::String)
                        .describe("\"embedded\" or \"connect\" (MirrorMaker 2 on Kafka Connect)")
                        .default_value(Value::string("embedded"))
                        .validate(Validator::one_of_or(
                            &["embedded", "connect"],
                            &[("mm2", "connect"), ("mirrormaker", "connect"), ("mirrormaker2", "connect"), ("kafka_connect", "connect")],
                        )),
                    AttributeSchema::optional("connect_url", Type::String)
                        .describe("engine = \"connect\": the Kafka Connect REST endpoint")
                        .pattern(Pattern::HttpUrl)
                        .only_when("engine", &["connect"], "the embedded engine copies by itself")
                        .required_when("engine", &["connect"], "the Kafka Connect REST endpoint (e.g. \"http://connect.internal:8083\")"),
                    AttributeSchema::optional("tasks_max", Type::Number)
                        .describe(
                            "engine = \"connect\": the source connector's tasks.max (default one per partition, at most 32)",
                        )
                        .int_range(1, 1024)
                        .only_when("engine", &["connect"], "the embedded engine copies every partition itself"),
                    AttributeSchema::optional("name", Type::String)
                        .describe("names the mirror's internal topics, groups and connectors on the target: each mirror of one target needs its own (validate refuses two with the same)")
                        .default_value(Value::string("cutover-mirror"))
                        .pattern(Pattern::Name { max: 200 }),
                    AttributeSchema::optional("offsets", Type::String)
                        .describe(
                            "\"preserve\": target offsets equal the source's; \"translate\": an exact offset map",
                        )
                        .default_value(Value::string("preserve"))
                        .validate(Validator::one_of_or(
                            &["preserve", "translate"],
                            &[("exact", "translate"), ("map", "translate"), ("keep", "preserve"), ("same", "preserve"), ("identity", "preserve")],
                        ))
                        .only_when(
                            "engine",
                            &["embedded"],
                            "MirrorMaker 2 writes at the target's own offsets and translates consumer offsets approximately (checkpoints)",
                        ),
                    AttributeSchema::optional("compression", Type::String)
                        .describe("the target producer's compression")
                        .default_value(Value::string("lz4"))
                        .one_of(&["lz4", "zstd", "snappy", "gzip", "none"])
                        .only_when("engine", &["embedded"], "with engine = \"connect\" the Kafka Connect workers' producer settings apply"),
                    AttributeSchema::optional("max_in_flight_mb", Type::Number)
                        .describe("memory for records, megabytes per worker, divided among its lanes (at least 3 each): two thirds for records sent but not yet acknowledged, a third for the source prefetch")
                        .default_value(Value::int(64))
                        .int_range(1, 4096)
                        .only_when("engine", &["embedded"], "with engine = \"connect\" the Kafka Connect workers' producer settings apply"),
                    AttributeSchema::optional("worker_max_mb_per_s", Type::Number)
                        .describe("the most megabytes (2^20 bytes) of records each worker copies per second, its lanes together, to spare the source's brokers (N workers copy at most N times this); unset: as fast as the brokers allow")
                        .validate(Validator::Above { above: 0.0, at_most: 1e6 })
                        .only_when("engine", &["embedded"], "MirrorMaker 2 runs in the Kafka Connect workers"),
                    AttributeSchema::optional("max_lag", Type::Number)
                        .describe("apply returns once every partition is within this many records of the source end it saw, when workers running elsewhere (mirror run --follow) do the copy; its own workers copy to that end")
                        .default_value(Value::int(0))
                        .int_range(0, i64::MAX),
                    AttributeSchema::optional("workers", Type::Number)
                        .describe("local worker processes an apply or mirror run starts (1: in the cutover process itself)")
                        .default_value(Value::int(1))
                        .int_range(1, 64)
                        .only_when("engine", &["embedded"], "MirrorMaker 2 runs in the Kafka Connect workers"),
                    AttributeSchema::optional("shards", Type::Number)
                        .also_computed()
                        .describe("how many parts the partitions are divided into among workers (default one per partition, at most 16; fixed once the mirror exists)")
                        .int_range(1, 256)
                        .only_when("engine", &["embedded"], "MirrorMaker 2 divides partitions by its tasks_max"),
                    AttributeSchema::optional("session_timeout", Type::String)
                        .describe("how long a dead worker's shards wait before another worker takes them over (at least 6s, the brokers' group.min.session.timeout.ms)")
                        .default_value(Value::string("10s"))
                        .pattern(Pattern::Duration)
                        .only_when("engine", &["embedded"], "MirrorMaker 2 runs in the Kafka Connect workers"),
                    AttributeSchema::computed("positions", Type::Any).describe(
                        "by topic/partition: the next source offset to copy, as of the last apply",
                    ),
                    AttributeSchema::computed("lag", Type::Number)
                        .describe("records the target is behind the source (0 after an apply)"),
                    AttributeSchema::computed("padding", Type::Any).describe(
                        "by topic/partition: padding records a new target partition needs",
                    ),
                    AttributeSchema::computed("records_copied", Type::Number)
                        .describe("records copied by the last apply"),
                    AttributeSchema::computed("records_per_second", Type::Number).describe(
                        "the copy rate the last apply achieved (the plan's copy estimate uses it)",
                    ),
                    AttributeSchema::computed("offset_map_topic", Type::String).describe(
                        "offsets = \"translate\": the compacted topic on the target holding the offset map",
                    ),
                ],
                Vec::new(),
            )
            .identified_by(&["target", "name"], "mirror (its worker group, work topic and offset map)", "name"),
        }
    }
}

impl Default for KafkaMirror {
    fn default() -> Self {
        Self::new()
    }
}

/// The arguments of a `kafka_mirror` (and the computed `lag` of a stored one), decoded once.
/// The schema's validators judged them before the provider sees them; the checks that remain
/// here guard values the engine did not check (a direct call, an old state). Unknown values
/// decode as `None`. The `source` and `target` references are resolved from the value by
/// [`Cluster::resolve`], which knows both the stored address and the evaluated block.
#[derive(Debug, Default, serde::Deserialize)]
struct MirrorArgs {
    /// `None` while unknown (or unset in a direct call); an element unknown until apply is
    /// `None` too.
    topics: Option<Vec<Option<String>>>,
    engine: Option<String>,
    name: Option<String>,
    offsets: Option<String>,
    compression: Option<String>,
    max_in_flight_mb: Option<serde_json::Number>,
    worker_max_mb_per_s: Option<f64>,
    max_lag: Option<serde_json::Number>,
    workers: Option<serde_json::Number>,
    shards: Option<serde_json::Number>,
    session_timeout: Option<String>,
    lag: Option<serde_json::Number>,
}

impl MirrorArgs {
    fn of(value: &Value) -> ProviderResult<MirrorArgs> {
        if value.is_null() {
            return Ok(MirrorArgs::default());
        }
        crate::config::decode::decode(KAFKA_MIRROR, value).map_err(ProviderError::Invalid)
    }

    /// The mirror's id: its `name`, or `cutover-mirror`.
    fn id(&self) -> String {
        self.name.as_deref().unwrap_or("cutover-mirror").to_owned()
    }

    /// The topics known so far.
    fn topics(&self) -> Vec<String> {
        self.topics.iter().flatten().flatten().cloned().collect()
    }

    fn uses_connect(&self) -> bool {
        self.engine.as_deref() == Some("connect")
    }

    fn translates(&self) -> bool {
        self.offsets.as_deref() == Some("translate")
    }
}

/// A whole number argument within `range`, `None` when unset or unknown.
fn whole_number(
    number: Option<&serde_json::Number>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
) -> ProviderResult<Option<i64>> {
    match number {
        None => Ok(None),
        Some(n) => match n.as_i64() {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(ProviderError::Invalid(format!(
                "{name} must be a whole number from {} to {}, not {n}",
                range.start(),
                range.end()
            ))),
        },
    }
}

fn topics_of(value: &Value) -> Vec<String> {
    MirrorArgs::of(value)
        .map(|args| args.topics())
        .unwrap_or_default()
}

fn settings_of(args: &MirrorArgs) -> ProviderResult<CopySettings> {
    let mut settings = CopySettings::default();
    if let Some(compression) = &args.compression {
        const KNOWN: &[&str] = &["lz4", "zstd", "snappy", "gzip", "none"];
        if !KNOWN.contains(&compression.as_str()) {
            return Err(ProviderError::Invalid(format!(
                "compression {compression:?} is not one of {}",
                KNOWN.join(", ")
            )));
        }
        settings.compression = compression.clone();
    }
    if let Some(megabytes) = &args.max_in_flight_mb {
        match megabytes.as_i64() {
            Some(mb) if (1..=4096).contains(&mb) => {
                settings.max_in_flight_bytes = (mb as u64) << 20
            }
            _ => {
                return Err(ProviderError::Invalid(format!(
                    "max_in_flight_mb must be a whole number from 1 to 4096, not {megabytes}"
                )));
            }
        }
    }
    if let Some(megabytes) = args.worker_max_mb_per_s {
        if !(megabytes > 0.0 && megabytes <= 1e6) {
            return Err(ProviderError::Invalid(format!(
                "worker_max_mb_per_s must be a number above 0 and at most 1000000, not {megabytes}"
            )));
        }
        settings.worker_max_bytes_per_s = Some(((megabytes * 1_048_576.0) as u64).max(1));
    }
    if let Some(lag) = &args.max_lag {
        match lag.as_i64() {
            Some(lag) if lag >= 0 => settings.max_lag = lag,
            _ => {
                return Err(ProviderError::Invalid(format!(
                    "max_lag must be a whole number of records, not {lag}"
                )));
            }
        }
    }
    Ok(settings)
}

/// The offset map topic of a translating mirror, `None` when offsets are preserved.
fn map_topic(value: &Value) -> Option<String> {
    let args = MirrorArgs::of(value).ok()?;
    args.translates()
        .then(|| crate::mirror::offset_map::topic_name(&args.id()))
}

/// `workers`, `shards` and `session_timeout`, checked.
fn fleet_of(args: &MirrorArgs) -> ProviderResult<(usize, Option<i32>, Duration)> {
    let workers = whole_number(args.workers.as_ref(), "workers", 1..=64)?.unwrap_or(1) as usize;
    let shards = whole_number(args.shards.as_ref(), "shards", 1..=256)?.map(|n| n as i32);
    let session = match &args.session_timeout {
        None => mirror::DEFAULT_SESSION_TIMEOUT,
        Some(text) => {
            let session = crate::config::evaluate::parse_duration(text).ok_or_else(|| {
                ProviderError::Invalid(format!(
                    "session_timeout {text:?} is not a duration such as 10s"
                ))
            })?;
            if !(Duration::from_secs(6)..=Duration::from_secs(300)).contains(&session) {
                return Err(ProviderError::Invalid(format!(
                    "session_timeout {text:?} must be from 6s (the brokers' group.min.session.timeout.ms) to 5m"
                )));
            }
            session
        }
    };
    Ok((workers, shards, session))
}

/// A cluster reference (`source`, `target`): resolved by [`Cluster::resolve`] from the stored
/// address or the evaluated block.
fn cluster_reference(value: &Value, name: &str) -> Value {
    value
        .as_map()
        .and_then(|map| map.get(name))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The mirror as the workers see it, and how many local workers to run.
fn spec_of(
    connections: &crate::providers::Connections,
    value: &Value,
) -> ProviderResult<(MirrorSpec, usize)> {
    let cluster = |name: &str| Cluster::resolve(connections, &cluster_reference(value, name));
    let (source, target) = (cluster("source")?, cluster("target")?);
    let args = MirrorArgs::of(value)?;
    let (workers, shards, session_timeout) = fleet_of(&args)?;
    let spec = MirrorSpec {
        id: args.id(),
        source,
        target,
        offsets: if args.translates() {
            Offsets::Translate
        } else {
            Offsets::Preserve
        },
        settings: settings_of(&args)?,
        shards: shards.unwrap_or(0),
        session_timeout,
        topics: args.topics(),
    };
    Ok((spec, workers))
}

/// The spec with its default shard count filled in (one per partition, at most 16).
async fn with_shards(mut spec: MirrorSpec) -> ProviderResult<MirrorSpec> {
    if spec.shards > 0 {
        return Ok(spec);
    }
    blocking(move || {
        let partitions =
            crate::mirror::survey::mirror_partitions(&spec.source, &spec.target, &spec.topics)?;
        spec.shards = mirror::default_shards(partitions.len());
        Ok(spec)
    })
    .await
}

async fn survey_all(spec: &MirrorSpec) -> ProviderResult<Vec<PartitionTask>> {
    let spec = spec.clone();
    blocking(move || mirror::survey_all(&spec)).await
}

fn uses_connect(value: &Value) -> bool {
    MirrorArgs::of(value).is_ok_and(|args| args.uses_connect())
}

fn check_modes(value: &Value) -> ProviderResult<()> {
    let args = MirrorArgs::of(value)?;
    match args.engine.as_deref().unwrap_or("embedded") {
        "embedded" => {}
        // MirrorMaker 2 has its own rules (no offsets mode: it translates approximately).
        "connect" => return connect::check(value),
        other => {
            return Err(ProviderError::Invalid(format!(
                "engine {other:?} is not one of embedded, connect"
            )));
        }
    }
    fleet_of(&args)?;
    match args.offsets.as_deref().unwrap_or("preserve") {
        "preserve" | "translate" => Ok(()),
        other => Err(ProviderError::Invalid(format!(
            "offsets {other:?} is not one of preserve, translate"
        ))),
    }
}

/// Compacted source topics cannot keep their offsets (compaction leaves gaps): refused at plan
/// time when their config says so.
async fn check_compaction(source: &Cluster, topics: &[String]) -> ProviderResult<()> {
    let configs = topic_configs(source, topics).await?;
    for (topic, config) in configs {
        if config
            .get("cleanup.policy")
            .is_some_and(|policy| policy.contains("compact"))
        {
            return Err(ProviderError::Invalid(format!(
                "{}: topic {topic} is compacted (cleanup.policy={}): compaction leaves gaps in its offsets, so they cannot be preserved",
                source.address, config["cleanup.policy"]
            )));
        }
    }
    Ok(())
}

fn offsets_map(entries: impl IntoIterator<Item = (String, i64)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k, Value::int(v)))
            .collect(),
    )
}

fn with(planned: &Value, entries: Vec<(&str, Value)>) -> Value {
    let mut map = planned.as_map().cloned().unwrap_or_default();
    for (name, value) in entries {
        map.insert(name.to_owned(), value);
    }
    Value::Map(map)
}

fn unknown_connection(error: &ProviderError) -> bool {
    matches!(error, ProviderError::Failed(message)
        if message.contains("known only after apply") || message.contains("not known yet") || message.contains("does not exist"))
}

impl ResourceType for KafkaMirror {
    fn type_name(&self) -> &'static str {
        KAFKA_MIRROR
    }

    fn provider_name(&self) -> &'static str {
        super::PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn canonical_config(&self, config: &Value) -> Option<Value> {
        let mut map = config.as_map()?.clone();
        cluster_references_as_addresses(&mut map, &["source", "target"]);
        Some(Value::Map(map))
    }

    fn plan(&self, prior: Option<&Value>, planned: Value) -> ProviderResult<Value> {
        check_modes(&planned)?;
        let args = MirrorArgs::of(&planned)?;
        settings_of(&args)?;
        if args.topics.as_ref().is_some_and(Vec::is_empty) {
            return Err(ProviderError::Invalid("topics is empty".to_owned()));
        }
        // Applying catches the mirror up: its lag becomes 0.
        let _ = prior;
        Ok(with(&planned, vec![("lag", Value::int(0))]))
    }

    fn requires_update(&self, prior: &Value, _planned: &Value) -> Vec<String> {
        let args = MirrorArgs::of(prior).unwrap_or_default();
        let lag = args.lag.and_then(|n| n.as_i64()).unwrap_or(0);
        let allowed = args.max_lag.and_then(|n| n.as_i64()).unwrap_or(0);
        if lag > allowed {
            vec!["lag".to_owned()]
        } else {
            Vec::new()
        }
    }

    fn preview<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> Option<BoxFuture<'a, ProviderResult<Value>>> {
        Some(Box::pin(async move {
            if uses_connect(planned) {
                return connect::preview(context, planned).await;
            }
            // The source exists before the plan: its topics' configs are checked whatever the
            // target's state.
            let source_value = cluster_reference(planned, "source");
            match Cluster::resolve(&context.connections, &source_value) {
                Ok(source) if map_topic(planned).is_none() => {
                    check_compaction(&source, &topics_of(planned)).await?
                }
                Ok(_) => {}
                Err(error) if unknown_connection(&error) => {}
                Err(error) => return Err(error),
            }
            let tasks = match spec_of(&context.connections, planned) {
                Ok((spec, _)) => survey_all(&spec).await,
                Err(error) => Err(error),
            };
            let tasks = match tasks {
                Ok(tasks) => tasks,
                // Clusters or topics this plan creates: shown on apply.
                Err(error) if unknown_connection(&error) => return Ok(planned.clone()),
                Err(error) => return Err(error),
            };
            if let Some(problem) = tasks.iter().find_map(PartitionTask::problem) {
                return Err(ProviderError::Invalid(problem));
            }
            Ok(with(
                planned,
                vec![
                    (
                        "offset_map_topic",
                        map_topic(planned).map_or(Value::Null, Value::string),
                    ),
                    ("padding", padding_of(&tasks)),
                ],
            ))
        }))
    }

    fn copy_estimate<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> Option<BoxFuture<'a, Option<CopyEstimate>>> {
        Some(Box::pin(super::mirror_estimate::estimate(context, planned)))
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>> {
        Box::pin(async move {
            if uses_connect(prior) {
                return connect::read(context, prior).await;
            }
            // The live lag: how far the target is behind the source now.
            let (spec, _) = spec_of(&context.connections, prior)?;
            let tasks = survey_all(&spec).await?;
            let lag: i64 = tasks.iter().map(PartitionTask::lag).sum();
            Ok(Some(with(prior, vec![("lag", Value::int(lag))])))
        })
    }

    fn create<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            check_modes(planned)?;
            if uses_connect(planned) {
                return connect::apply(context, None, planned).await;
            }
            let (spec, workers) = spec_of(&context.connections, planned)?;
            if spec.offsets == Offsets::Preserve {
                check_compaction(&spec.source, &spec.topics).await?;
            }
            let spec = with_shards(spec).await?;
            let before = survey_all(&spec).await?;
            if let Some(problem) = before.iter().find_map(PartitionTask::problem) {
                return Err(ProviderError::Failed(problem));
            }
            let cancel = Arc::new(AtomicBool::new(false));
            let mut watch = context.cancel.clone();
            let flag = cancel.clone();
            let watcher = tokio::spawn(async move {
                while watch.changed().await.is_ok() {
                    if *watch.borrow() {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                        break;
                    }
                }
            });
            let progress = context.progress.clone();
            let spec = Arc::new(spec);
            let report = {
                let spec = spec.clone();
                blocking(move || {
                    mirror::run(spec, workers, RunMode::UntilCaughtUp, &cancel, progress)
                })
                .await
            };
            watcher.abort();
            let report = report?;
            Ok(with(
                planned,
                vec![
                    ("positions", offsets_map(report.positions.clone())),
                    ("lag", Value::int(0)),
                    ("padding", padding_of(&before)),
                    ("records_copied", Value::int(report.records as i64)),
                    ("shards", Value::int(i64::from(spec.shards))),
                    (
                        "records_per_second",
                        achieved_rate(planned, report.records, report.elapsed),
                    ),
                    (
                        "offset_map_topic",
                        spec.map_topic().map_or(Value::Null, Value::string),
                    ),
                ],
            ))
        })
    }

    fn update<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            if uses_connect(planned) {
                check_modes(planned)?;
                return connect::apply(context, Some(prior), planned).await;
            }
            if uses_connect(prior) {
                // Leaving MirrorMaker 2: its connectors go before the embedded copy starts.
                connect::delete(context, prior).await?;
            }
            self.create(context, planned).await
        })
    }

    fn delete<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        // The mirror's work topic and worker group go; a translating one also removes its
        // offset map and positions. The mirrored data belongs to the target topics.
        Box::pin(async move {
            if uses_connect(prior) {
                return connect::delete(context, prior).await;
            }
            let (spec, _) = spec_of(&context.connections, prior)?;
            if let Some(topic) = spec.map_topic() {
                crate::mirror::offset_map::delete_topic(&spec.target, &topic).await?;
            }
            crate::kafka::admin::delete_topic_if_present(&spec.target, &spec.work_topic()).await?;
            crate::kafka::admin::delete_group_if_present(&spec.target, &spec.workers_group())
                .await?;
            Ok(())
        })
    }

    fn import<'a>(
        &'a self,
        _context: &'a ProviderContext,
        id: &'a str,
        _config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            Err(ProviderError::Invalid(format!(
                "a kafka_mirror cannot be imported ({id:?}): declare it and apply; it resumes from the target's offsets"
            )))
        })
    }
}

/// `cutover mirror run`: runs the mirror outside an apply, until caught up or, with `follow`,
/// until `cancel` is set (SIGTERM or Ctrl-C), as `workers` (default: the mirror's own setting) workers
/// of its worker group. Writes no state and takes no lock. Blocking. Returns the records this
/// run copied.
pub fn run_mirror(
    connections: &crate::providers::Connections,
    config: &Value,
    follow: bool,
    workers: Option<usize>,
    cancel: &AtomicBool,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
) -> ProviderResult<u64> {
    check_modes(config)?;
    if uses_connect(config) {
        return Err(ProviderError::Invalid(
            "mirror run drives the embedded engine; a connect mirror runs in Kafka Connect"
                .to_owned(),
        ));
    }
    let (spec, configured) = spec_of(connections, config)?;
    let workers = workers.unwrap_or(configured);
    let spec = crate::kafka::admin::block_on(with_shards(spec))?;
    let mode = if follow {
        RunMode::Follow
    } else {
        RunMode::UntilCaughtUp
    };
    let report = mirror::run(Arc::new(spec), workers, mode, cancel, progress)?;
    Ok(report.records)
}

fn padding_of(tasks: &[PartitionTask]) -> Value {
    offsets_map(
        tasks
            .iter()
            .filter(|t| t.padding() > 0)
            .map(|t| (t.key(), t.padding())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    #[test]
    fn settings_and_modes_are_checked() {
        let mirror = KafkaMirror::new();
        let topics = ("topics", Value::List(vec![Value::string("t")]));
        let error = mirror
            .plan(
                None,
                value(vec![
                    topics.clone(),
                    ("compression", Value::string("brotli")),
                ]),
            )
            .unwrap_err()
            .to_string();
        assert!(error.contains("compression \"brotli\""), "{error}");
        let error = mirror
            .plan(
                None,
                value(vec![topics.clone(), ("max_in_flight_mb", Value::int(0))]),
            )
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_in_flight_mb"), "{error}");
        let error = mirror
            .plan(
                None,
                value(vec![
                    topics.clone(),
                    ("offsets", Value::string("approximate")),
                ]),
            )
            .unwrap_err()
            .to_string();
        assert!(error.contains("not one of preserve, translate"), "{error}");
        let translating = value(vec![
            topics.clone(),
            ("offsets", Value::string("translate")),
        ]);
        assert_eq!(
            map_topic(&translating).as_deref(),
            Some("_cutover.mirror.cutover-mirror.offsets")
        );
        let planned = mirror.plan(None, value(vec![topics])).unwrap();
        assert_eq!(MirrorArgs::of(&planned).unwrap().lag, Some(0.into()));
    }

    #[test]
    fn a_mirror_behind_its_max_lag_needs_an_update() {
        let mirror = KafkaMirror::new();
        let behind = value(vec![("lag", Value::int(50)), ("max_lag", Value::int(10))]);
        assert_eq!(
            mirror.requires_update(&behind, &Value::Null),
            vec!["lag".to_owned()]
        );
        let close = value(vec![("lag", Value::int(5)), ("max_lag", Value::int(10))]);
        assert!(mirror.requires_update(&close, &Value::Null).is_empty());
    }
}
