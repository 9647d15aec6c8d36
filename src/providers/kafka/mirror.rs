//! `resource "kafka_mirror"`: the embedded mirror. Applying it copies the listed topics from the
//! source to the target until every partition has caught up with the end offsets seen when the
//! apply started (or is within `max_lag`), preserving offsets (see [`super::copy`]). The plan
//! shows the padding each new partition needs and the records behind; a mirror that has fallen
//! behind since the last apply is planned as an update that catches it up.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rdkafka::consumer::Consumer;

use super::connect;
use super::topics::cluster_references_as_addresses;
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::validate::{Pattern, Validator};
use crate::config::value::Value;
use crate::kafka::admin::{list_topics, topic_configs};
use crate::kafka::connection::{Cluster, blocking};
use crate::mirror::copy::{self, CopySettings, PartitionTask};
use crate::mirror::offset_map;
use crate::providers::{BoxFuture, ProviderContext, ProviderError, ProviderResult, ResourceType};

pub const KAFKA_MIRROR: &str = "kafka_mirror";

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
                        .describe("engine = \"connect\": the prefix of the connector names")
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
                        .describe("memory cap: megabytes sent but not yet acknowledged")
                        .default_value(Value::int(64))
                        .int_range(1, 4096)
                        .only_when("engine", &["embedded"], "with engine = \"connect\" the Kafka Connect workers' producer settings apply"),
                    AttributeSchema::optional("max_lag", Type::Number)
                        .describe("apply returns once every partition is within this many records")
                        .default_value(Value::int(0))
                        .int_range(0, i64::MAX),
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
                    AttributeSchema::computed("offset_map_topic", Type::String).describe(
                        "offsets = \"translate\": the compacted topic on the target holding the offset map",
                    ),
                ],
                Vec::new(),
            ),
        }
    }
}

impl Default for KafkaMirror {
    fn default() -> Self {
        Self::new()
    }
}

fn attribute<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value.as_map().and_then(|m| m.get(name))
}

fn text<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    attribute(value, name).and_then(Value::as_str)
}

fn topics_of(value: &Value) -> Vec<String> {
    attribute(value, "topics")
        .and_then(Value::as_items)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn settings_of(value: &Value) -> ProviderResult<CopySettings> {
    let mut settings = CopySettings::default();
    if let Some(compression) = text(value, "compression") {
        const KNOWN: &[&str] = &["lz4", "zstd", "snappy", "gzip", "none"];
        if !KNOWN.contains(&compression) {
            return Err(ProviderError::Invalid(format!(
                "compression {compression:?} is not one of {}",
                KNOWN.join(", ")
            )));
        }
        settings.compression = compression.to_owned();
    }
    if let Some(megabytes) = attribute(value, "max_in_flight_mb").filter(|v| !v.is_null()) {
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
    if let Some(lag) = attribute(value, "max_lag").filter(|v| !v.is_null()) {
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
    (text(value, "offsets") == Some("translate"))
        .then(|| offset_map::topic_name(text(value, "name").unwrap_or("cutover-mirror")))
}

fn uses_connect(value: &Value) -> bool {
    text(value, "engine") == Some("connect")
}

fn check_modes(value: &Value) -> ProviderResult<()> {
    match text(value, "engine").unwrap_or("embedded") {
        "embedded" => {}
        // MirrorMaker 2 has its own rules (no offsets mode: it translates approximately).
        "connect" => return connect::check(value),
        other => {
            return Err(ProviderError::Invalid(format!(
                "engine {other:?} is not one of embedded, connect"
            )));
        }
    }
    match text(value, "offsets").unwrap_or("preserve") {
        "preserve" | "translate" => Ok(()),
        other => Err(ProviderError::Invalid(format!(
            "offsets {other:?} is not one of preserve, translate"
        ))),
    }
}

/// The source and target clusters and every partition to mirror, with their offsets now.
/// What a run starts from: the clusters, every partition with its offsets, and the segments of
/// the offset map written ahead for records that never landed.
struct Survey {
    source: Cluster,
    target: Cluster,
    tasks: Vec<PartitionTask>,
    stale: std::collections::BTreeMap<String, Vec<i64>>,
}

/// The mirror's partitions as they stand. `Check::Records` also compares the last record each
/// target partition holds with the source's (is it the mirror's data?): a few reads per
/// partition, done when a run starts; rounds that follow a run's own writes skip it (every
/// delivery is checked against its source offset anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Records,
    OffsetsOnly,
}

async fn survey(context: &ProviderContext, value: &Value, check: Check) -> ProviderResult<Survey> {
    let cluster = |name: &str| {
        let value = attribute(value, name).cloned().unwrap_or(Value::Null);
        Cluster::resolve(&context.connections, &value)
    };
    let (source, target) = (cluster("source")?, cluster("target")?);
    let topics = topics_of(value);
    let map_topic = map_topic(value);
    let (tasks, stale) = {
        let (source, target, topics) = (source.clone(), target.clone(), topics.clone());
        blocking(move || {
            let source_topics = list_topics(&source, &source.consumer(&[])?, None)?;
            let target_topics = list_topics(&target, &target.consumer(&[])?, None)?;
            let mut partitions = Vec::new();
            for topic in &topics {
                let Some(&(count, _)) = source_topics.get(topic) else {
                    return Err(ProviderError::Failed(format!(
                        "{}: topic {topic} does not exist",
                        source.address
                    )));
                };
                match target_topics.get(topic) {
                    None => {
                        return Err(ProviderError::Failed(format!(
                            "{}: topic {topic} does not exist: declare it with a kafka_topic the mirror depends on",
                            target.address
                        )));
                    }
                    Some(&(target_count, _)) if target_count != count => {
                        return Err(ProviderError::Failed(format!(
                            "topic {topic} has {count} partitions on {} but {target_count} on {}: offsets are preserved partition by partition, so the counts must match",
                            source.address, target.address
                        )));
                    }
                    Some(_) => {}
                }
                partitions.extend((0..count).map(|p| (topic.clone(), p)));
            }
            let map = match &map_topic {
                Some(topic) => Some(offset_map::read(&target, topic)?),
                None => None,
            };
            let tasks = copy::survey(
                &source,
                &target,
                &partitions,
                map.as_ref(),
                check == Check::Records,
            )?;
            let stale = match &map {
                Some(map) => tasks
                    .iter()
                    .map(|t| (t.key(), map.stale(&t.key(), t.target_end)))
                    .filter(|(_, stale)| !stale.is_empty())
                    .collect(),
                None => Default::default(),
            };
            Ok((tasks, stale))
        })
        .await?
    };
    Ok(Survey {
        source,
        target,
        tasks,
        stale,
    })
}

/// How waiting for another copier ended.
enum Waited {
    /// It brought every partition within `max_lag`: the positions it reached.
    CaughtUp(Vec<(String, i64)>),
    /// It stopped moving before that: copy from this fresh survey.
    Gone(Box<Survey>),
}

/// How long an apply waits for another copier (`cutover mirror run --follow`) to catch up.
const OTHER_COPIER_WAIT: std::time::Duration = std::time::Duration::from_secs(1800);

/// Two copiers must never write into the same target partitions: both would send the same
/// source records, and the second copy of each would land at the next offset. When this apply
/// has records to copy, it first watches the target's end offsets for a moment; if they move
/// (a `cutover mirror run --follow` is copying), it waits for that run to catch up instead of
/// copying too, and copies itself only if the other run stops before that. `None`: nobody
/// else is copying.
async fn wait_for_other_copier(
    context: &ProviderContext,
    planned: &Value,
    found: &Survey,
    settings: &CopySettings,
) -> ProviderResult<Option<Waited>> {
    let behind = |survey: &Survey| {
        survey
            .tasks
            .iter()
            .any(|t| t.problem().is_none() && t.lag() > settings.max_lag.max(0))
    };
    if !behind(found) || found.tasks.iter().all(|t| t.target_end == 0) {
        return Ok(None);
    }
    let mut ends: Vec<i64> = found.tasks.iter().map(|t| t.target_end).collect();
    let deadline = std::time::Instant::now() + OTHER_COPIER_WAIT;
    let mut waiting = false;
    // Bounded by OTHER_COPIER_WAIT and cancellation; one round every 2 seconds.
    loop {
        if context.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        let pause = if waiting { 2000 } else { 1500 };
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        let now = target_ends(&found.target, &found.tasks).await?;
        let moving = now.iter().zip(&ends).any(|(now, before)| now > before);
        ends = now;
        if !moving {
            return Ok(if waiting {
                (context.progress)("the other copier stopped: copying the rest");
                Some(Waited::Gone(Box::new(
                    survey(context, planned, Check::Records).await?,
                )))
            } else {
                None
            });
        }
        let fresh = survey(context, planned, Check::OffsetsOnly).await?;
        if !behind(&fresh) {
            (context.progress)("the other copier caught up");
            return Ok(Some(Waited::CaughtUp(
                fresh.tasks.iter().map(|t| (t.key(), t.resume())).collect(),
            )));
        }
        if !waiting {
            (context.progress)(
                "another run is copying into the target (cutover mirror run --follow?): waiting for it to catch up instead of copying twice",
            );
            waiting = true;
        }
        if std::time::Instant::now() > deadline {
            return Err(ProviderError::Failed(format!(
                "another run kept copying into the target for {} min without catching up to max_lag = {}: stop it (or raise max_lag) and apply again",
                OTHER_COPIER_WAIT.as_secs() / 60,
                settings.max_lag
            )));
        }
    }
}

/// The target's end offset of every task's partition, in the tasks' order.
async fn target_ends(target: &Cluster, tasks: &[PartitionTask]) -> ProviderResult<Vec<i64>> {
    let target = target.clone();
    let partitions: Vec<(String, i32)> = tasks
        .iter()
        .map(|t| (t.topic.clone(), t.partition))
        .collect();
    blocking(move || {
        let consumer = target.consumer(&[("group.id", "cutover-mirror-survey")])?;
        partitions
            .iter()
            .map(|(topic, partition)| {
                consumer
                    .fetch_watermarks(topic, *partition, target.timeout)
                    .map(|(_, end)| end)
                    .map_err(|e| {
                        target.failure(
                            &format!("cannot read the offsets of {topic}/{partition}"),
                            &e,
                            Some(consumer.context()),
                        )
                    })
            })
            .collect()
    })
    .await
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
        settings_of(&planned)?;
        if topics_of(&planned).is_empty()
            && attribute(&planned, "topics").is_some_and(Value::is_wholly_known)
        {
            return Err(ProviderError::Invalid("topics is empty".to_owned()));
        }
        // Applying catches the mirror up: its lag becomes 0.
        let _ = prior;
        Ok(with(&planned, vec![("lag", Value::int(0))]))
    }

    fn requires_update(&self, prior: &Value, _planned: &Value) -> Vec<String> {
        let lag = attribute(prior, "lag").and_then(Value::as_i64).unwrap_or(0);
        let allowed = attribute(prior, "max_lag")
            .and_then(Value::as_i64)
            .unwrap_or(0);
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
            let source_value = attribute(planned, "source").cloned().unwrap_or(Value::Null);
            match Cluster::resolve(&context.connections, &source_value) {
                Ok(source) if map_topic(planned).is_none() => {
                    check_compaction(&source, &topics_of(planned)).await?
                }
                Ok(_) => {}
                Err(error) if unknown_connection(&error) => {}
                Err(error) => return Err(error),
            }
            let Survey { tasks, .. } = match survey(context, planned, Check::Records).await {
                Ok(found) => found,
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
                    (
                        "padding",
                        offsets_map(
                            tasks
                                .iter()
                                .filter(|t| t.padding() > 0)
                                .map(|t| (t.key(), t.padding())),
                        ),
                    ),
                ],
            ))
        }))
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
            let Survey { tasks, .. } = survey(context, prior, Check::Records).await?;
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
            let mut settings = settings_of(planned)?;
            settings.map_topic = map_topic(planned);
            if let Some(topic) = &settings.map_topic {
                let target_value = attribute(planned, "target").cloned().unwrap_or(Value::Null);
                let target = Cluster::resolve(&context.connections, &target_value)?;
                offset_map::ensure_topic(&target, topic).await?;
            }
            let mut found = survey(context, planned, Check::Records).await?;
            if let Some(waited) = wait_for_other_copier(context, planned, &found, &settings).await?
            {
                match waited {
                    Waited::CaughtUp(positions) => {
                        return Ok(with(
                            planned,
                            vec![
                                ("positions", offsets_map(positions)),
                                ("lag", Value::int(0)),
                                ("records_copied", Value::int(0)),
                                (
                                    "offset_map_topic",
                                    settings
                                        .map_topic
                                        .clone()
                                        .map_or(Value::Null, Value::string),
                                ),
                            ],
                        ));
                    }
                    Waited::Gone(fresh) => found = *fresh,
                }
            }
            let Survey {
                source,
                target,
                tasks,
                stale,
            } = found;
            if settings.map_topic.is_none() {
                check_compaction(&source, &topics_of(planned)).await?;
            }
            let padding = offsets_map(
                tasks
                    .iter()
                    .filter(|t| t.padding() > 0)
                    .map(|t| (t.key(), t.padding())),
            );
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
            let map_topic = settings.map_topic.clone();
            let report = blocking(move || {
                copy::copy(
                    &source,
                    &target,
                    &tasks,
                    &stale,
                    &settings,
                    &cancel,
                    progress.as_ref(),
                )
            })
            .await;
            watcher.abort();
            let report = report?;
            Ok(with(
                planned,
                vec![
                    ("positions", offsets_map(report.positions.clone())),
                    ("lag", Value::int(0)),
                    ("padding", padding),
                    ("records_copied", Value::int(report.records as i64)),
                    (
                        "offset_map_topic",
                        map_topic.map_or(Value::Null, Value::string),
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
        // A preserving mirror keeps no internal topics: its position is the target's own end
        // offset. A translating one removes its offset map. The mirrored data belongs to the
        // target topics.
        Box::pin(async move {
            if uses_connect(prior) {
                return connect::delete(context, prior).await;
            }
            if let Some(topic) = map_topic(prior) {
                let target_value = attribute(prior, "target").cloned().unwrap_or(Value::Null);
                let target = Cluster::resolve(&context.connections, &target_value)?;
                offset_map::delete_topic(&target, &topic).await?;
            }
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

/// `cutover mirror run --follow`: keeps copying new records until `cancel` is set (SIGTERM or
/// Ctrl-C), one round after another: survey the offsets, copy up to the ends seen, wait
/// `interval` when there was nothing to do. Without `follow`, one round. Writes no state and
/// takes no lock: the position of a preserving mirror is the target's own end offset, so
/// applies in between stay possible. Blocking.
pub fn run_rounds(
    connections: &crate::providers::Connections,
    config: &Value,
    follow: bool,
    interval: std::time::Duration,
    cancel: &AtomicBool,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> ProviderResult<u64> {
    use std::sync::atomic::Ordering;
    check_modes(config)?;
    if text(config, "engine").is_some_and(|engine| engine != "embedded") {
        return Err(ProviderError::Invalid(
            "mirror run drives the embedded engine; a connect mirror runs in Kafka Connect"
                .to_owned(),
        ));
    }
    let settings = settings_of(config)?;
    let settings = CopySettings {
        max_lag: 0,
        map_topic: map_topic(config),
        ..settings
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| ProviderError::Failed(format!("cannot start a runtime: {error}")))?;
    let (_cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let context = crate::engine::read_context(cancel_rx, Arc::new(connections.clone()));
    let mut total = 0u64;
    let mut check = Check::Records;
    loop {
        let Survey {
            source,
            target,
            tasks,
            stale,
        } = runtime.block_on(survey(&context, config, check))?;
        check = Check::OffsetsOnly;
        let behind: i64 = tasks.iter().map(PartitionTask::lag).sum();
        if behind > 0 {
            let report = copy::copy(
                &source, &target, &tasks, &stale, &settings, cancel, progress,
            )?;
            total += report.records;
        }
        if !follow || cancel.load(Ordering::SeqCst) {
            return Ok(total);
        }
        if behind == 0 {
            let deadline = std::time::Instant::now() + interval;
            while std::time::Instant::now() < deadline {
                if cancel.load(Ordering::SeqCst) {
                    return Ok(total);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
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
        assert_eq!(attribute(&planned, "lag"), Some(&Value::int(0)));
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
