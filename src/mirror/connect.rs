//! `kafka_mirror` with `engine = "connect"`: MirrorMaker 2 deployed to a Kafka Connect cluster
//! through its REST API, for fleets one machine cannot carry.
//!
//! - Two connectors per mirror, named after its `name` (default `cutover-mirror`):
//!   `NAME-source` (MirrorSourceConnector: the records) and `NAME-checkpoint`
//!   (MirrorCheckpointConnector: consumer-group offsets, translated approximately and synced to
//!   the target's groups). IdentityReplicationPolicy keeps the topic names; the offset-syncs
//!   topic lives on the target, so the source is only read; the connectors copy exactly the
//!   listed topics and leave topic configs and ACLs to the `kafka_topic` resources.
//! - Offsets are not preserved: MirrorMaker 2 writes at the target's own offsets and maps
//!   consumer offsets through its sparse offset syncs (checkpoints), which is approximate. Use
//!   the embedded engine when offsets must match.
//! - Applying writes a connector's config only when it differs from the live one (PUT
//!   /connectors/NAME/config), then waits until both connectors and every task are RUNNING and
//!   the copy has reached the source end offsets seen when the apply started. Progress is
//!   MirrorMaker 2's committed source offsets (GET /connectors/NAME/offsets, Connect 3.5+;
//!   older workers: the target's record counts, an approximation). The wait fails when nothing
//!   moves for [`STALL_TIMEOUT`], when a connector or task fails (with its trace), and stops on
//!   cancellation.
//! - Destroying deletes the connectors; their committed offsets stay in the Connect cluster,
//!   so a mirror declared again under the same name resumes instead of copying twice.
//! - Records go from the Connect workers' producers to the Kafka cluster the workers use.
//!   When that is not the target (compared by cluster id), the connectors carry
//!   `producer.override.*` settings for the target, which the workers' client override policy
//!   must allow.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rdkafka::consumer::Consumer as _;
use serde_json::{Value as Json, json};

use super::KAFKA_MIRROR;
use crate::config::value::Value;
use crate::context::ProviderContext;
use crate::error::{OperationError as ProviderError, OperationResult as ProviderResult};
use crate::kafka::admin::list_topics;
use crate::kafka::connection::{BrokerVersion, Cluster, blocking};

/// The connectors' name prefix when the mirror sets no `name`.
pub const DEFAULT_NAME: &str = "cutover-mirror";
const SOURCE_CONNECTOR_CLASS: &str = "org.apache.kafka.connect.mirror.MirrorSourceConnector";
const CHECKPOINT_CONNECTOR_CLASS: &str =
    "org.apache.kafka.connect.mirror.MirrorCheckpointConnector";
const IDENTITY_POLICY: &str = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy";
const BYTES_CONVERTER: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";
/// MirrorSourceConnector tasks at most: one per partition up to this many (Connect spreads
/// them over its workers).
const MAX_SOURCE_TASKS: usize = 32;

/// How long one REST request may take (Connect itself gives up on a request after 90 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a request is retried while the Connect cluster rebalances (409) or starts (503).
const BUSY_RETRY_WINDOW: Duration = Duration::from_secs(60);
/// Attempts for a request whose connection fails (a worker restarting).
const CONNECTION_ATTEMPTS: u32 = 3;
/// The wait fails when the copy has not advanced (and no connector changed state) this long.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(300);
const POLL_EVERY: Duration = Duration::from_secs(1);
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How long `delete` waits for the connectors to leave the Connect cluster's list.
const DELETE_TIMEOUT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------------------------------
// the mirror's arguments

/// The arguments of a `kafka_mirror` the connect engine reads, decoded once (the schema's
/// validators judged them: the URL, the name, the range of tasks_max, the embedded-only
/// arguments). Unknown values decode as `None`; `source` and `target` are references.
#[derive(Debug, Default, serde::Deserialize)]
struct ConnectArgs {
    engine: Option<String>,
    connect_url: Option<String>,
    name: Option<String>,
    topics: Option<Vec<Option<String>>>,
    #[serde(default, deserialize_with = "crate::config::decode::whole_number")]
    max_lag: Option<i64>,
    #[serde(default, deserialize_with = "crate::config::decode::whole_number")]
    tasks_max: Option<i64>,
    offsets: Option<String>,
    compression: Option<String>,
    max_in_flight_mb: Option<serde_json::Number>,
}

impl ConnectArgs {
    fn of(value: &Value) -> ProviderResult<ConnectArgs> {
        if value.is_null() {
            return Ok(ConnectArgs::default());
        }
        crate::config::decode::decode(KAFKA_MIRROR, value).map_err(ProviderError::Invalid)
    }
}

fn with(value: &Value, entries: Vec<(&str, Value)>) -> Value {
    let mut map = value.as_map().cloned().unwrap_or_default();
    for (name, entry) in entries {
        map.insert(name.to_owned(), entry);
    }
    Value::Map(map)
}

fn offsets_map(entries: impl IntoIterator<Item = (String, i64)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k, Value::int(v)))
            .collect(),
    )
}

/// Whether a resolution error only means "known after apply" (a cluster this plan creates).
fn unknown_connection(error: &ProviderError) -> bool {
    matches!(error, ProviderError::Failed(message)
        if message.contains("known only after apply") || message.contains("not known yet") || message.contains("does not exist"))
}

/// What the connect engine needs from a `kafka_mirror`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSpec {
    /// The REST endpoint, without a trailing slash.
    pub url: String,
    pub name: String,
    pub topics: Vec<String>,
    /// Per partition: the apply returns once the copy is at most this many records behind.
    pub max_lag: i64,
    /// The source connector's `tasks.max` (`None`: one per partition, at most 32).
    pub tasks_max: Option<usize>,
}

impl ConnectSpec {
    pub fn from_value(value: &Value) -> ProviderResult<ConnectSpec> {
        check(value)?;
        let args = ConnectArgs::of(value)?;
        let url = args.connect_url.ok_or_else(|| {
            ProviderError::Invalid(
                "engine = \"connect\" needs connect_url (the Kafka Connect REST endpoint) to be known"
                    .to_owned(),
            )
        })?;
        Ok(ConnectSpec {
            url: url.trim_end_matches('/').to_owned(),
            name: args.name.unwrap_or_else(|| DEFAULT_NAME.to_owned()),
            topics: args.topics.into_iter().flatten().flatten().collect(),
            max_lag: args.max_lag.unwrap_or(0).max(0),
            tasks_max: match args.tasks_max {
                None => None,
                Some(tasks @ 1..=1024) => Some(tasks as usize),
                Some(other) => {
                    return Err(ProviderError::Invalid(format!(
                        "tasks_max must be a whole number from 1 to 1024, got {other}"
                    )));
                }
            },
        })
    }

    pub fn source_connector(&self) -> String {
        format!("{}-source", self.name)
    }

    pub fn checkpoint_connector(&self) -> String {
        format!("{}-checkpoint", self.name)
    }

    pub fn connectors(&self) -> [String; 2] {
        [self.source_connector(), self.checkpoint_connector()]
    }
}

/// Plan-time checks of a mirror with `engine = "connect"`: no I/O. Values known only after
/// apply are checked when they are known.
pub fn check(value: &Value) -> ProviderResult<()> {
    let args = ConnectArgs::of(value)?;
    match &args.connect_url {
        // Unset, not unknown: an unknown URL is checked once known.
        None if value
            .as_map()
            .is_some_and(|map| crate::config::decode::rule::unset(map, "connect_url")) =>
        {
            return Err(ProviderError::Invalid(
                "engine = \"connect\" needs connect_url, the Kafka Connect REST endpoint (e.g. \"http://connect.internal:8083\")".to_owned(),
            ));
        }
        None => {}
        Some(url) => check_url(url)?,
    }
    if let Some(name) = &args.name {
        let valid = !name.is_empty()
            && name.len() <= 200
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(ProviderError::Invalid(format!(
                "name {name:?} must be 1-200 of a-z A-Z 0-9 . _ - (it prefixes the connector names)"
            )));
        }
    }
    if let Some(offsets) = &args.offsets {
        return Err(ProviderError::Invalid(format!(
            "offsets = {offsets:?} is not available with engine = \"connect\": MirrorMaker 2 writes at the target's own offsets and translates consumer offsets approximately (checkpoints); remove offsets, or use engine = \"embedded\" to keep them exact"
        )));
    }
    for (embedded_only, set) in [
        ("compression", args.compression.is_some()),
        ("max_in_flight_mb", args.max_in_flight_mb.is_some()),
    ] {
        if set {
            return Err(ProviderError::Invalid(format!(
                "{embedded_only} applies to engine = \"embedded\"; with engine = \"connect\" the Kafka Connect workers' producer settings apply"
            )));
        }
    }
    Ok(())
}

fn check_url(url: &str) -> ProviderResult<()> {
    let invalid = |why: &str| {
        ProviderError::Invalid(format!(
            "connect_url {url:?} {why}; use http://HOST:PORT or https://HOST:PORT"
        ))
    };
    let uri: hyper::Uri = url.parse().map_err(|_| invalid("is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(invalid("is not an http or https URL"));
    }
    let authority = uri.authority().ok_or_else(|| invalid("has no host"))?;
    if authority.as_str().contains('@') {
        // connect_url is stored in state as written: credentials do not belong in it.
        return Err(invalid(
            "holds credentials; they would be stored in state (Basic authentication is not supported)",
        ));
    }
    if uri.query().is_some() {
        return Err(invalid("has a query string"));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Kafka Connect REST

type Body = Full<Bytes>;

enum Transport {
    Plain(Client<HttpConnector, Body>),
    Tls(Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>),
}

/// A Kafka Connect REST endpoint.
struct Rest {
    base: String,
    transport: Transport,
}

/// An answer: its status and JSON body (`Null` when empty, a string when not JSON).
struct Reply {
    status: StatusCode,
    body: Json,
}

impl Reply {
    fn message(&self) -> String {
        match &self.body {
            Json::Object(map) => map
                .get("message")
                .and_then(Json::as_str)
                .map_or_else(|| self.body.to_string(), str::to_owned),
            Json::Null => String::new(),
            Json::String(text) => text.clone(),
            other => other.to_string(),
        }
    }
}

/// An error and its causes on one line ("client error (Connect): tcp connect error:
/// Connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The Connect worker's answer to `GET /`.
#[derive(Debug, Clone, Default)]
struct WorkerInfo {
    version: Option<BrokerVersion>,
    version_text: String,
    kafka_cluster_id: Option<String>,
}

/// `major.minor.patch` from the start of a version such as "3.7.0-ccs".
fn parse_version(text: &str) -> Option<BrokerVersion> {
    let numeric: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    BrokerVersion::parse(numeric.trim_end_matches('.'))
}

/// A connector's state and its tasks' states.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConnectorStatus {
    state: String,
    trace: Option<String>,
    /// (task id, state, trace)
    tasks: Vec<(i64, String, Option<String>)>,
}

impl ConnectorStatus {
    fn from_json(body: &Json) -> ConnectorStatus {
        let state_of = |value: Option<&Json>| {
            value
                .and_then(|v| v.get("state"))
                .and_then(Json::as_str)
                .unwrap_or("UNKNOWN")
                .to_owned()
        };
        let trace_of = |value: Option<&Json>| {
            value
                .and_then(|v| v.get("trace"))
                .and_then(Json::as_str)
                .map(first_line)
        };
        let connector = body.get("connector");
        let tasks = body
            .get("tasks")
            .and_then(Json::as_array)
            .map(|tasks| {
                tasks
                    .iter()
                    .map(|task| {
                        (
                            task.get("id").and_then(Json::as_i64).unwrap_or(-1),
                            state_of(Some(task)),
                            trace_of(Some(task)),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        ConnectorStatus {
            state: state_of(connector),
            trace: trace_of(connector),
            tasks,
        }
    }

    fn running_tasks(&self) -> usize {
        self.tasks
            .iter()
            .filter(|(_, state, _)| state == "RUNNING")
            .count()
    }

    /// The connector and every task run (a connector with no tasks counts when `tasks_needed`
    /// is false: a checkpoint connector has none while the source has no consumer groups).
    fn running(&self, tasks_needed: bool) -> bool {
        self.state == "RUNNING"
            && (!tasks_needed || !self.tasks.is_empty())
            && self.running_tasks() == self.tasks.len()
    }

    /// Why the connector failed, if it or a task did.
    fn failure(&self) -> Option<String> {
        if self.state == "FAILED" {
            return Some(format!(
                "the connector FAILED: {}",
                self.trace.as_deref().unwrap_or("no trace")
            ));
        }
        self.tasks
            .iter()
            .find(|(_, state, _)| state == "FAILED")
            .map(|(id, _, trace)| {
                format!(
                    "task {id} FAILED: {}",
                    trace.as_deref().unwrap_or("no trace")
                )
            })
    }

    fn summary(&self) -> String {
        format!(
            "{}, {}/{} tasks running",
            self.state,
            self.running_tasks(),
            self.tasks.len()
        )
    }
}

fn first_line(trace: &str) -> String {
    let line = trace.lines().next().unwrap_or("").trim();
    if line.len() > 400 {
        let mut end = 400;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &line[..end])
    } else {
        line.to_owned()
    }
}

impl Rest {
    fn new(url: &str) -> ProviderResult<Rest> {
        check_url(url)?;
        let base = url.trim_end_matches('/').to_owned();
        let transport = if base.starts_with("https://") {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_native_roots()
                .map_err(|error| {
                    ProviderError::Failed(format!(
                        "{base}: no trusted CA certificates for HTTPS: {error}"
                    ))
                })?
                .https_only()
                .enable_http1()
                .build();
            Transport::Tls(Client::builder(TokioExecutor::new()).build(connector))
        } else {
            Transport::Plain(Client::builder(TokioExecutor::new()).build_http())
        };
        Ok(Rest { base, transport })
    }

    async fn once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Json>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header(ACCEPT, "application/json");
        let payload = match body {
            Some(json) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(json).map_err(|e| e.to_string())?)
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(payload))
            .map_err(|error| error.to_string())?;
        let response = match &self.transport {
            Transport::Plain(client) => client.request(request).await,
            Transport::Tls(client) => client.request(request).await,
        }
        .map_err(|error| error_chain(&error))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| error_chain(&error))?
            .to_bytes();
        let body = if bytes.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                let text = String::from_utf8_lossy(&bytes);
                Json::String(first_line(&text))
            })
        };
        Ok(Reply { status, body })
    }

    /// One request, retried while the Connect cluster is busy (409 during a rebalance, 503
    /// while it starts) or a connection fails, within bounds.
    async fn send(&self, method: Method, path: &str, body: Option<&Json>) -> ProviderResult<Reply> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(250);
        let mut connection_failures = 0;
        loop {
            let outcome = tokio::time::timeout(REQUEST_TIMEOUT, self.once(&method, path, body))
                .await
                .unwrap_or_else(|_| {
                    Err(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()))
                });
            let retry = match &outcome {
                Ok(reply) => {
                    matches!(
                        reply.status,
                        StatusCode::CONFLICT | StatusCode::SERVICE_UNAVAILABLE
                    ) && started.elapsed() < BUSY_RETRY_WINDOW
                }
                Err(_) => {
                    connection_failures += 1;
                    connection_failures < CONNECTION_ATTEMPTS
                }
            };
            if !retry {
                return outcome.map_err(|reason| {
                    ProviderError::Failed(format!(
                        "Kafka Connect at {}: {method} {path} failed: {reason}",
                        self.base
                    ))
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(4));
        }
    }

    fn failure(&self, method: &str, path: &str, reply: &Reply) -> ProviderError {
        ProviderError::Failed(format!(
            "Kafka Connect at {}: {method} {path} answered {}: {}",
            self.base,
            reply.status,
            reply.message()
        ))
    }

    /// The answer to a request that must succeed.
    async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<&Json>,
    ) -> ProviderResult<Json> {
        let shown = method.to_string();
        let reply = self.send(method, path, body).await?;
        if reply.status.is_success() {
            Ok(reply.body)
        } else {
            Err(self.failure(&shown, path, &reply))
        }
    }

    /// `GET path`, or `None` when it is not found.
    async fn get_optional(&self, path: &str) -> ProviderResult<Option<Json>> {
        let reply = self.send(Method::GET, path, None).await?;
        match reply.status {
            status if status.is_success() => Ok(Some(reply.body)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.failure("GET", path, &reply)),
        }
    }

    async fn worker(&self) -> ProviderResult<WorkerInfo> {
        let body = self.expect(Method::GET, "/", None).await?;
        let version_text = body
            .get("version")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned();
        Ok(WorkerInfo {
            version: parse_version(&version_text),
            version_text,
            kafka_cluster_id: body
                .get("kafka_cluster_id")
                .and_then(Json::as_str)
                .map(str::to_owned),
        })
    }

    async fn plugins(&self) -> ProviderResult<BTreeSet<String>> {
        let body = self.expect(Method::GET, "/connector-plugins", None).await?;
        Ok(body
            .as_array()
            .map(|plugins| {
                plugins
                    .iter()
                    .filter_map(|p| p.get("class").and_then(Json::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn config(&self, connector: &str) -> ProviderResult<Option<BTreeMap<String, String>>> {
        let body = self
            .get_optional(&format!("/connectors/{connector}/config"))
            .await?;
        Ok(body.map(|body| {
            body.as_object()
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    async fn put_config(
        &self,
        connector: &str,
        config: &BTreeMap<String, String>,
    ) -> ProviderResult<()> {
        self.expect(
            Method::PUT,
            &format!("/connectors/{connector}/config"),
            Some(&json!(config)),
        )
        .await
        .map(|_| ())
    }

    async fn status(&self, connector: &str) -> ProviderResult<Option<ConnectorStatus>> {
        let body = self
            .get_optional(&format!("/connectors/{connector}/status"))
            .await?;
        Ok(body.as_ref().map(ConnectorStatus::from_json))
    }

    async fn connector_names(&self) -> ProviderResult<BTreeSet<String>> {
        let body = self.expect(Method::GET, "/connectors", None).await?;
        Ok(body
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(Json::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// MirrorSourceConnector's committed positions: the next source offset to copy per
    /// partition of the source cluster `alias` (the committed offset is the last record
    /// copied). `None` when the worker has no offsets endpoint (Connect before 3.5).
    async fn source_positions(
        &self,
        connector: &str,
        alias: &str,
    ) -> ProviderResult<Option<BTreeMap<(String, i32), i64>>> {
        let path = format!("/connectors/{connector}/offsets");
        let reply = self.send(Method::GET, &path, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            // A missing connector (its message names it) has no positions yet; a missing
            // endpoint is an old worker.
            return if reply.message().contains(connector) {
                Ok(Some(BTreeMap::new()))
            } else {
                Ok(None)
            };
        }
        if !reply.status.is_success() {
            return Err(self.failure("GET", &path, &reply));
        }
        Ok(Some(parse_source_offsets(&reply.body, alias)))
    }
}

fn parse_source_offsets(body: &Json, alias: &str) -> BTreeMap<(String, i32), i64> {
    let mut positions = BTreeMap::new();
    for entry in body
        .get("offsets")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let partition = entry.get("partition");
        let field = |name: &str| partition.and_then(|p| p.get(name));
        if field("cluster").and_then(Json::as_str) != Some(alias) {
            continue;
        }
        let (Some(topic), Some(number), Some(offset)) = (
            field("topic").and_then(Json::as_str),
            field("partition").and_then(Json::as_i64),
            entry
                .get("offset")
                .and_then(|o| o.get("offset"))
                .and_then(Json::as_i64),
        ) else {
            continue;
        };
        positions.insert((topic.to_owned(), number as i32), offset + 1);
    }
    positions
}

// ------------------------------------------------------------------------------------------
// connector configuration

/// Cluster aliases: the names of the `cluster` blocks (`cluster.legacy` → `legacy`). They name
/// MirrorMaker 2's internal topics and key its committed offsets, so they must stay stable.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Aliases {
    source: String,
    target: String,
}

fn alias_of(address: &str) -> String {
    let name = address.rsplit('.').next().unwrap_or(address);
    let alias: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if alias.is_empty() {
        "cluster".to_owned()
    } else {
        alias
    }
}

fn aliases(source: &Cluster, target: &Cluster) -> Aliases {
    let (source, target) = (alias_of(&source.address), alias_of(&target.address));
    if source == target {
        Aliases {
            source: "source".to_owned(),
            target: "target".to_owned(),
        }
    } else {
        Aliases { source, target }
    }
}

/// MirrorMaker 2's `topics` is a list of regexes: a topic name's `.` is escaped so it matches
/// only itself (Kafka topic names hold nothing else a regex would read).
fn topics_filter(topics: &[String]) -> String {
    topics
        .iter()
        .map(|topic| topic.replace('.', "\\."))
        .collect::<Vec<_>>()
        .join(",")
}

fn topics_from_filter(filter: &str) -> Vec<String> {
    filter
        .split(',')
        .map(|topic| topic.trim().replace("\\.", "."))
        .filter(|topic| !topic.is_empty())
        .collect()
}

fn jaas_quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A cluster's connection as Java client properties, for MirrorMaker 2's clients.
fn java_client_properties(cluster: &Cluster) -> ProviderResult<Vec<(String, String)>> {
    let config = cluster.client_config(&[]);
    let get = |name: &str| config.get(name).map(str::to_owned);
    let mut properties = vec![("bootstrap.servers".to_owned(), cluster.servers.join(","))];
    if let Some(protocol) = get("security.protocol") {
        properties.push(("security.protocol".to_owned(), protocol));
    }
    match get("sasl.mechanism").as_deref() {
        None => {}
        // The only OAUTHBEARER a cluster block sets is MSK IAM: the workers need the
        // aws-msk-iam-auth jar and AWS credentials of their own.
        Some("OAUTHBEARER") => properties.extend(
            [
                ("sasl.mechanism", "AWS_MSK_IAM"),
                (
                    "sasl.jaas.config",
                    "software.amazon.msk.auth.iam.IAMLoginModule required;",
                ),
                (
                    "sasl.client.callback.handler.class",
                    "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
                ),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        ),
        Some(mechanism) => {
            let module = if mechanism == "PLAIN" {
                "org.apache.kafka.common.security.plain.PlainLoginModule"
            } else {
                "org.apache.kafka.common.security.scram.ScramLoginModule"
            };
            let username = get("sasl.username").unwrap_or_default();
            let password = get("sasl.password").unwrap_or_default();
            properties.push(("sasl.mechanism".to_owned(), mechanism.to_owned()));
            properties.push((
                "sasl.jaas.config".to_owned(),
                format!(
                    "{module} required username=\"{}\" password=\"{}\";",
                    jaas_quote(&username),
                    jaas_quote(&password)
                ),
            ));
        }
    }
    // PEM files are read here and passed inline: the workers need not hold them.
    let read_pem = |path: &str, what: &str| {
        std::fs::read_to_string(path).map_err(|error| {
            ProviderError::Invalid(format!(
                "{}: cannot read {what} {path:?}: {error}",
                cluster.address
            ))
        })
    };
    if let Some(path) = get("ssl.ca.location") {
        properties.push(("ssl.truststore.type".to_owned(), "PEM".to_owned()));
        properties.push((
            "ssl.truststore.certificates".to_owned(),
            read_pem(&path, "tls_ca_file")?,
        ));
    }
    if let (Some(certificate), Some(key)) =
        (get("ssl.certificate.location"), get("ssl.key.location"))
    {
        let key = read_pem(&key, "tls_key_file")?;
        if !key.contains("-----BEGIN PRIVATE KEY-----")
            && !key.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        {
            return Err(ProviderError::Invalid(format!(
                "{}: tls_key_file must be a PKCS#8 PEM key (BEGIN PRIVATE KEY) for MirrorMaker 2's Java clients; convert it with `openssl pkcs8 -topk8 -nocrypt`",
                cluster.address
            )));
        }
        properties.push(("ssl.keystore.type".to_owned(), "PEM".to_owned()));
        properties.push((
            "ssl.keystore.certificate.chain".to_owned(),
            read_pem(&certificate, "tls_cert_file")?,
        ));
        properties.push(("ssl.keystore.key".to_owned(), key));
    }
    Ok(properties)
}

/// MirrorMaker 2's Java clients cannot read every broker librdkafka can.
fn check_broker_version(cluster: &Cluster, worker: Option<BrokerVersion>) -> ProviderResult<()> {
    let Some(version) = cluster.broker_version else {
        return Ok(());
    };
    if version < BrokerVersion(0, 10, 0) {
        return Err(ProviderError::Invalid(format!(
            "{}: MirrorMaker 2 cannot talk to brokers older than 0.10 (the cluster declares broker_version {version}); use engine = \"embedded\", which reads them through librdkafka",
            cluster.address
        )));
    }
    if let Some(worker) = worker
        && worker >= BrokerVersion(4, 0, 0)
        && version < BrokerVersion(2, 1, 0)
    {
        return Err(ProviderError::Invalid(format!(
            "{}: Kafka Connect {worker} (Java clients 4.x) needs brokers 2.1 or newer, and the cluster declares broker_version {version}; run MirrorMaker 2 on a Connect 3.9 cluster or use engine = \"embedded\"",
            cluster.address
        )));
    }
    Ok(())
}

/// The two connectors' configurations. `producer_overrides`: the workers write to another
/// Kafka cluster than the target, so the connectors point their producers at the target.
fn connector_configs(
    spec: &ConnectSpec,
    source: &Cluster,
    target: &Cluster,
    partitions: usize,
    producer_overrides: bool,
) -> ProviderResult<Vec<(String, BTreeMap<String, String>)>> {
    let aliases = aliases(source, target);
    let source_properties = java_client_properties(source)?;
    let target_properties = java_client_properties(target)?;
    let common = |class: &str, name: &str| {
        let mut config: BTreeMap<String, String> = [
            ("name", name),
            ("connector.class", class),
            ("source.cluster.alias", aliases.source.as_str()),
            ("target.cluster.alias", aliases.target.as_str()),
            ("replication.policy.class", IDENTITY_POLICY),
            // The offset syncs go to the target: the source is only read.
            ("offset-syncs.topic.location", "target"),
            // MirrorMaker 2 copies bytes; the workers' default converters could rewrite them.
            ("key.converter", BYTES_CONVERTER),
            ("value.converter", BYTES_CONVERTER),
            ("header.converter", BYTES_CONVERTER),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        config.insert("topics".to_owned(), topics_filter(&spec.topics));
        for (name, value) in &source_properties {
            config.insert(format!("source.cluster.{name}"), value.clone());
        }
        for (name, value) in &target_properties {
            config.insert(format!("target.cluster.{name}"), value.clone());
        }
        if producer_overrides {
            for (name, value) in &target_properties {
                config.insert(format!("producer.override.{name}"), value.clone());
            }
        }
        config
    };
    let tasks = spec
        .tasks_max
        .unwrap_or_else(|| partitions.clamp(1, MAX_SOURCE_TASKS))
        .to_string();
    let mut source_config = common(SOURCE_CONNECTOR_CLASS, &spec.source_connector());
    for (name, value) in [
        ("tasks.max", tasks.as_str()),
        // -1: the target broker's default replication factor.
        ("replication.factor", "-1"),
        ("offset-syncs.topic.replication.factor", "-1"),
        // Topic configs and ACLs belong to the kafka_topic resources, not to the mirror.
        ("sync.topic.configs.enabled", "false"),
        ("sync.topic.acls.enabled", "false"),
        // Only the listed topics.
        ("heartbeats.replication.enabled", "false"),
        ("refresh.topics.interval.seconds", "30"),
    ] {
        source_config.insert(name.to_owned(), value.to_owned());
    }
    let mut checkpoint_config = common(CHECKPOINT_CONNECTOR_CLASS, &spec.checkpoint_connector());
    for (name, value) in [
        ("tasks.max", "1"),
        ("checkpoints.topic.replication.factor", "-1"),
        ("emit.checkpoints.interval.seconds", "10"),
        // Translated group offsets are written to the target's groups (those without active
        // members there), so consumers that move find them.
        ("sync.group.offsets.enabled", "true"),
        ("sync.group.offsets.interval.seconds", "10"),
        ("refresh.groups.interval.seconds", "30"),
    ] {
        checkpoint_config.insert(name.to_owned(), value.to_owned());
    }
    Ok(vec![
        (spec.checkpoint_connector(), checkpoint_config),
        (spec.source_connector(), source_config),
    ])
}

// ------------------------------------------------------------------------------------------
// clusters and partitions

/// A source partition and its offsets when the operation started.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourcePartition {
    topic: String,
    partition: i32,
    start: i64,
    end: i64,
}

impl SourcePartition {
    fn key(&self) -> String {
        format!("{}/{}", self.topic, self.partition)
    }
}

fn clusters(context: &ProviderContext, value: &Value) -> ProviderResult<(Cluster, Cluster)> {
    let cluster = |name: &str| {
        let value = crate::config::decode::reference(value, name).unwrap_or(Value::Null);
        Cluster::resolve(&context.connections, &value)
    };
    Ok((cluster("source")?, cluster("target")?))
}

/// The source partitions of `topics` with their offsets, and the target's cluster id.
async fn survey(
    source: &Cluster,
    target: &Cluster,
    topics: &[String],
) -> ProviderResult<(Vec<SourcePartition>, Option<String>)> {
    let (source, target, topics) = (source.clone(), target.clone(), topics.to_vec());
    blocking(move || {
        let consumer = source.consumer(&[])?;
        let found = list_topics(&source, &consumer, None)?;
        let mut partitions = Vec::new();
        for topic in &topics {
            let Some(&(count, _)) = found.get(topic) else {
                return Err(ProviderError::Failed(format!(
                    "{}: topic {topic} does not exist",
                    source.address
                )));
            };
            for partition in 0..count {
                let (start, end) = consumer
                    .fetch_watermarks(topic, partition, source.timeout)
                    .map_err(|error| {
                        source.failure(
                            &format!("cannot read the offsets of {topic}/{partition}"),
                            &error,
                            Some(consumer.context()),
                        )
                    })?;
                partitions.push(SourcePartition {
                    topic: topic.clone(),
                    partition,
                    start,
                    end,
                });
            }
        }
        let target_consumer = target.consumer(&[])?;
        let target_id = target_consumer.client().fetch_cluster_id(target.timeout);
        Ok((partitions, target_id))
    })
    .await
}

/// For workers without the offsets endpoint: the next source offset of each partition
/// estimated from the target's record count (exact only when the target partition held
/// nothing else and the source has no gaps).
async fn positions_from_target(
    target: &Cluster,
    partitions: &[SourcePartition],
) -> ProviderResult<BTreeMap<(String, i32), i64>> {
    let (target, partitions) = (target.clone(), partitions.to_vec());
    blocking(move || {
        let consumer = target.consumer(&[])?;
        let mut positions = BTreeMap::new();
        for partition in &partitions {
            let (start, end) = consumer
                .fetch_watermarks(&partition.topic, partition.partition, target.timeout)
                .map_err(|error| {
                    target.failure(
                        &format!("cannot read the offsets of {}", partition.key()),
                        &error,
                        Some(consumer.context()),
                    )
                })?;
            positions.insert(
                (partition.topic.clone(), partition.partition),
                partition.start + (end - start),
            );
        }
        Ok(positions)
    })
    .await
}

/// Where the copy stands: per partition the next source offset, else the log start.
fn position_of(positions: &BTreeMap<(String, i32), i64>, partition: &SourcePartition) -> i64 {
    positions
        .get(&(partition.topic.clone(), partition.partition))
        .copied()
        .unwrap_or(partition.start)
}

fn lag_of(positions: &BTreeMap<(String, i32), i64>, partition: &SourcePartition) -> i64 {
    (partition.end - position_of(positions, partition).max(partition.start)).max(0)
}

/// Retention that removed records before MirrorMaker 2 copied them: its consumer jumps to the
/// log start (auto.offset.reset=earliest), so they are lost on the target.
fn retention_outran(
    positions: &BTreeMap<(String, i32), i64>,
    partitions: &[SourcePartition],
) -> Option<String> {
    partitions.iter().find_map(|partition| {
        let position = positions.get(&(partition.topic.clone(), partition.partition))?;
        (*position < partition.start).then(|| {
            format!(
                "{}: the source's log start {} passed MirrorMaker 2's position {position}: records {position}..{} were removed by retention before they were copied",
                partition.key(),
                partition.start,
                partition.start - 1
            )
        })
    })
}

// ------------------------------------------------------------------------------------------
// operations

/// What the connectors' progress is read from.
enum Positions {
    /// MirrorSourceConnector's committed offsets (Connect 3.5+).
    Connector,
    /// Target record counts (older workers).
    TargetCounts,
}

struct Deployment {
    rest: Rest,
    spec: ConnectSpec,
    target: Cluster,
    aliases: Aliases,
    worker: WorkerInfo,
    partitions: Vec<SourcePartition>,
    configs: Vec<(String, BTreeMap<String, String>)>,
}

impl Deployment {
    /// Reaches the Connect cluster and both Kafka clusters and builds the connector configs.
    async fn prepare(context: &ProviderContext, value: &Value) -> ProviderResult<Deployment> {
        let spec = ConnectSpec::from_value(value)?;
        let (source, target) = clusters(context, value)?;
        check_broker_version(&source, None)?;
        check_broker_version(&target, None)?;
        let rest = Rest::new(&spec.url)?;
        let worker = rest.worker().await?;
        check_broker_version(&source, worker.version)?;
        check_broker_version(&target, worker.version)?;
        let plugins = rest.plugins().await?;
        let missing: Vec<&str> = [SOURCE_CONNECTOR_CLASS, CHECKPOINT_CONNECTOR_CLASS]
            .into_iter()
            .filter(|class| !plugins.contains(*class))
            .collect();
        if !missing.is_empty() {
            return Err(ProviderError::Failed(format!(
                "Kafka Connect at {} has no {} plugin: install MirrorMaker 2 (the connect-mirror and connect-mirror-client jars) on its workers",
                spec.url,
                missing.join(" or ")
            )));
        }
        let (partitions, target_id) = survey(&source, &target, &spec.topics).await?;
        // Compared by cluster id; when either is unknown the workers are trusted to write to
        // the target, as MirrorMaker 2 on Connect is normally deployed.
        let producer_overrides = matches!(
            (&worker.kafka_cluster_id, &target_id),
            (Some(worker_id), Some(target_id)) if worker_id != target_id
        );
        let configs = connector_configs(
            &spec,
            &source,
            &target,
            partitions.len(),
            producer_overrides,
        )?;
        Ok(Deployment {
            aliases: aliases(&source, &target),
            rest,
            spec,
            target,
            worker,
            partitions,
            configs,
        })
    }

    fn positions_mode(&self) -> Positions {
        match self.worker.version {
            Some(version) if version < BrokerVersion(3, 5, 0) => Positions::TargetCounts,
            _ => Positions::Connector,
        }
    }

    async fn positions(&self, mode: &Positions) -> ProviderResult<BTreeMap<(String, i32), i64>> {
        if let Positions::Connector = mode
            && let Some(positions) = self
                .rest
                .source_positions(&self.spec.source_connector(), &self.aliases.source)
                .await?
        {
            return Ok(positions);
        }
        positions_from_target(&self.target, &self.partitions).await
    }

    /// Asks the Connect cluster to check the configs (PUT .../config/validate) and fails with
    /// every reported problem.
    async fn validate(&self) -> ProviderResult<()> {
        let mut problems = Vec::new();
        for (connector, config) in &self.configs {
            let class = config["connector.class"]
                .rsplit('.')
                .next()
                .unwrap_or_default();
            let body = self
                .rest
                .expect(
                    Method::PUT,
                    &format!("/connector-plugins/{class}/config/validate"),
                    Some(&json!(config)),
                )
                .await?;
            if body.get("error_count").and_then(Json::as_i64).unwrap_or(0) == 0 {
                continue;
            }
            for entry in body
                .get("configs")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let Some(value) = entry.get("value") else {
                    continue;
                };
                let name = value.get("name").and_then(Json::as_str).unwrap_or("?");
                for error in value
                    .get("errors")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(error) = error.as_str() {
                        problems.push(format!("{connector}: {name}: {error}"));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ProviderError::Invalid(format!(
                "Kafka Connect at {} refuses the MirrorMaker 2 configuration: {}",
                self.spec.url,
                problems.join("; ")
            )))
        }
    }

    /// Writes each connector's config when it differs from the live one; restarts failed
    /// connectors and tasks and resumes paused or stopped ones. Returns the connectors written.
    async fn deploy(&self, progress: &(dyn Fn(&str) + Send + Sync)) -> ProviderResult<Vec<String>> {
        let mut written = Vec::new();
        for (connector, config) in &self.configs {
            match self.rest.config(connector).await? {
                Some(live) if &live == config => {}
                live => {
                    progress(&format!(
                        "{} connector {connector} on {} (Kafka Connect {})",
                        if live.is_some() {
                            "updating"
                        } else {
                            "creating"
                        },
                        self.spec.url,
                        self.worker.version_text
                    ));
                    self.rest.put_config(connector, config).await?;
                    written.push(connector.clone());
                    continue;
                }
            }
            let Some(status) = self.rest.status(connector).await? else {
                continue;
            };
            if matches!(status.state.as_str(), "PAUSED" | "STOPPED") {
                progress(&format!(
                    "resuming connector {connector} ({})",
                    status.state
                ));
                self.rest
                    .expect(
                        Method::PUT,
                        &format!("/connectors/{connector}/resume"),
                        None,
                    )
                    .await?;
            }
            if status.failure().is_some() {
                progress(&format!(
                    "restarting connector {connector}: {}",
                    status.summary()
                ));
                self.rest
                    .expect(
                        Method::POST,
                        &format!(
                            "/connectors/{connector}/restart?includeTasks=true&onlyFailed=true"
                        ),
                        None,
                    )
                    .await?;
            }
        }
        Ok(written)
    }

    /// Waits until both connectors and their tasks run and every partition is within
    /// `max_lag` of the end offsets surveyed. Returns the final positions.
    async fn wait_caught_up(
        &self,
        context: &ProviderContext,
        initial: &BTreeMap<(String, i32), i64>,
    ) -> ProviderResult<BTreeMap<(String, i32), i64>> {
        let mode = self.positions_mode();
        let total: i64 = self.partitions.iter().map(|p| lag_of(initial, p)).sum();
        let started = Instant::now();
        let mut last_change = Instant::now();
        let mut last_progress: Option<Instant> = None;
        let mut best_lag = i64::MAX;
        let mut last_states = String::new();
        let mut cancel = context.cancel.clone();
        loop {
            if *cancel.borrow() {
                return Err(ProviderError::Cancelled);
            }
            let mut statuses = Vec::new();
            for (connector, _) in &self.configs {
                let status = self.rest.status(connector).await?;
                if let Some(failure) = status.as_ref().and_then(ConnectorStatus::failure) {
                    return Err(ProviderError::Failed(format!(
                        "MirrorMaker 2 connector {connector} on {}: {failure}",
                        self.spec.url
                    )));
                }
                statuses.push((connector.clone(), status));
            }
            let running = statuses.iter().all(|(connector, status)| {
                status
                    .as_ref()
                    .is_some_and(|s| s.running(*connector == self.spec.source_connector()))
            });
            let positions = self.positions(&mode).await?;
            if let Some(problem) = retention_outran(&positions, &self.partitions) {
                return Err(ProviderError::Failed(problem));
            }
            let lag: i64 = self.partitions.iter().map(|p| lag_of(&positions, p)).sum();
            let caught_up = self
                .partitions
                .iter()
                .all(|p| lag_of(&positions, p) <= self.spec.max_lag);
            let states = statuses
                .iter()
                .map(|(connector, status)| {
                    format!(
                        "{connector} {}",
                        status
                            .as_ref()
                            .map_or_else(|| "not started".to_owned(), ConnectorStatus::summary)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            if lag < best_lag || states != last_states {
                best_lag = best_lag.min(lag);
                last_states.clone_from(&states);
                last_change = Instant::now();
            }
            let copied = (total - lag).max(0);
            if running && caught_up {
                context.progress.as_ref()(&format!(
                    "MirrorMaker 2 caught up: {states}; {copied} records copied in {:.0}s, {lag} behind",
                    started.elapsed().as_secs_f64()
                ));
                return Ok(positions);
            }
            if last_progress.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
                last_progress = Some(Instant::now());
                let seconds = started.elapsed().as_secs_f64().max(0.001);
                let rate = copied as f64 / seconds;
                let eta = if rate > 0.0 && lag > 0 {
                    format!(", ETA {:.0}s", lag as f64 / rate)
                } else {
                    String::new()
                };
                context.progress.as_ref()(&format!(
                    "MirrorMaker 2: {states}; {copied} records copied ({rate:.0} records/s), {lag} behind{eta}"
                ));
            }
            if last_change.elapsed() >= STALL_TIMEOUT {
                return Err(ProviderError::Failed(format!(
                    "MirrorMaker 2 on {} made no progress for {}s: {states}; {lag} records behind (see the Connect workers' logs)",
                    self.spec.url,
                    STALL_TIMEOUT.as_secs()
                )));
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY) => {}
                changed = cancel.changed() => {
                    // A dropped sender never cancels: keep the pace.
                    if changed.is_err() {
                        tokio::time::sleep(POLL_EVERY).await;
                    }
                }
            }
        }
    }
}

/// Plan-time look at the live systems: the Connect cluster answers and has MirrorMaker 2, the
/// clusters' versions suit it, the source topics exist, and the Connect cluster accepts the
/// connector configs. Clusters known only after apply are checked then.
pub async fn preview(context: &ProviderContext, planned: &Value) -> ProviderResult<Value> {
    check(planned)?;
    if ConnectArgs::of(planned)?.connect_url.is_none() {
        return Ok(planned.clone());
    }
    let deployment = match Deployment::prepare(context, planned).await {
        Ok(deployment) => deployment,
        Err(error) if unknown_connection(&error) => {
            // Still show whether the Connect cluster answers.
            let spec = ConnectSpec::from_value(planned)?;
            Rest::new(&spec.url)?.worker().await?;
            return Ok(planned.clone());
        }
        Err(error) => return Err(error),
    };
    deployment.validate().await?;
    Ok(with(
        planned,
        vec![("padding", Value::Map(BTreeMap::new()))],
    ))
}

/// Creates or updates the connectors and waits until MirrorMaker 2 has caught up. `prior`:
/// the mirror as applied before (its connectors are removed first when the name or the
/// Connect cluster changed).
pub async fn apply(
    context: &ProviderContext,
    prior: Option<&Value>,
    planned: &Value,
) -> ProviderResult<Value> {
    let spec = ConnectSpec::from_value(planned)?;
    if let Some(prior) = prior
        && ConnectArgs::of(prior).is_ok_and(|old| old.engine.as_deref() == Some("connect"))
        && let Ok(old) = ConnectSpec::from_value(prior)
        && (old.url != spec.url || old.name != spec.name)
    {
        context.progress.as_ref()(&format!(
            "removing connectors {} from {} (renamed or moved)",
            old.connectors().join(", "),
            old.url
        ));
        delete_connectors(&old).await?;
    }
    let deployment = Deployment::prepare(context, planned).await?;
    if let Some(problem) = deployment
        .partitions
        .iter()
        .find(|p| p.start > p.end)
        .map(SourcePartition::key)
    {
        return Err(ProviderError::Failed(format!(
            "{problem}: inconsistent offsets on the source"
        )));
    }
    let mode = deployment.positions_mode();
    let initial = deployment.positions(&mode).await?;
    if let Some(problem) = retention_outran(&initial, &deployment.partitions) {
        return Err(ProviderError::Failed(problem));
    }
    let written = deployment.deploy(context.progress.as_ref()).await?;
    if !written.is_empty() {
        context
            .intent
            .record(
                json!({ "connect_url": spec.url, "connectors": spec.connectors() }),
                format!("deployed MirrorMaker 2 connectors {} to {}", written.join(", "), spec.url),
            )
            .await
            .map_err(|error| {
                ProviderError::Failed(format!(
                    "connectors {} were deployed to {} but this could not be recorded in state ({error}); apply again to adopt them",
                    written.join(", "),
                    spec.url
                ))
            })?;
    }
    let positions = deployment.wait_caught_up(context, &initial).await?;
    let copied: i64 = deployment
        .partitions
        .iter()
        .map(|p| (position_of(&positions, p) - position_of(&initial, p).max(p.start)).max(0))
        .sum();
    let lag: i64 = deployment
        .partitions
        .iter()
        .map(|p| lag_of(&positions, p))
        .sum();
    // Computed attributes of the embedded engine (its offset map topic) mean nothing here:
    // null rather than unknown.
    let known = match planned {
        Value::Map(map) => Value::Map(
            map.iter()
                .map(|(name, value)| {
                    let value = if value.is_unknown() {
                        Value::Null
                    } else {
                        value.clone()
                    };
                    (name.clone(), value)
                })
                .collect(),
        ),
        other => other.clone(),
    };
    Ok(with(
        &known,
        vec![
            (
                "positions",
                offsets_map(
                    deployment
                        .partitions
                        .iter()
                        .map(|p| (p.key(), position_of(&positions, p).max(p.start))),
                ),
            ),
            ("lag", Value::int(lag)),
            ("padding", Value::Map(BTreeMap::new())),
            ("records_copied", Value::int(copied)),
        ],
    ))
}

/// Refresh: `None` when a connector is gone (the plan creates it again), else the mirror with
/// the topics the source connector copies now and the records it is behind.
pub async fn read(context: &ProviderContext, prior: &Value) -> ProviderResult<Option<Value>> {
    let spec = ConnectSpec::from_value(prior)?;
    let rest = Rest::new(&spec.url)?;
    let mut source_config = None;
    for connector in spec.connectors() {
        match rest.config(&connector).await? {
            None => return Ok(None),
            Some(config) if connector == spec.source_connector() => source_config = Some(config),
            Some(_) => {}
        }
    }
    let mut topics = spec.topics.clone();
    if let Some(live) = source_config.as_ref().and_then(|c| c.get("topics")) {
        let live = topics_from_filter(live);
        let as_set = |list: &[String]| list.iter().cloned().collect::<BTreeSet<_>>();
        if as_set(&live) != as_set(&topics) {
            topics = live;
        }
    }
    let (source, target) = clusters(context, prior)?;
    let (partitions, _) = survey(&source, &target, &spec.topics).await?;
    let worker = rest.worker().await?;
    let aliases = aliases(&source, &target);
    let positions = match worker.version {
        Some(version) if version < BrokerVersion(3, 5, 0) => None,
        _ => {
            rest.source_positions(&spec.source_connector(), &aliases.source)
                .await?
        }
    };
    let positions = match positions {
        Some(positions) => positions,
        None => positions_from_target(&target, &partitions).await?,
    };
    let lag: i64 = partitions.iter().map(|p| lag_of(&positions, p)).sum();
    Ok(Some(with(
        prior,
        vec![
            (
                "topics",
                Value::List(topics.into_iter().map(Value::string).collect()),
            ),
            ("lag", Value::int(lag)),
        ],
    )))
}

async fn delete_connectors(spec: &ConnectSpec) -> ProviderResult<()> {
    let rest = Rest::new(&spec.url)?;
    // The source connector first: nothing new is copied while the checkpoints stop.
    for connector in [spec.source_connector(), spec.checkpoint_connector()] {
        let path = format!("/connectors/{connector}");
        let reply = rest.send(Method::DELETE, &path, None).await?;
        if !reply.status.is_success() && reply.status != StatusCode::NOT_FOUND {
            return Err(rest.failure("DELETE", &path, &reply));
        }
    }
    let deadline = Instant::now() + DELETE_TIMEOUT;
    loop {
        let names = rest.connector_names().await?;
        let left: Vec<String> = spec
            .connectors()
            .into_iter()
            .filter(|c| names.contains(c))
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ProviderError::Failed(format!(
                "Kafka Connect at {} still lists {} {}s after deleting",
                spec.url,
                left.join(", "),
                DELETE_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Destroy: deletes both connectors (already gone is fine). Their committed offsets stay in
/// the Connect cluster; the mirrored data and MirrorMaker 2's internal topics stay on the
/// target.
pub async fn delete(context: &ProviderContext, prior: &Value) -> ProviderResult<()> {
    let spec = ConnectSpec::from_value(prior)?;
    context.progress.as_ref()(&format!(
        "deleting connectors {} from {}",
        spec.connectors().join(", "),
        spec.url
    ));
    delete_connectors(&spec).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn cluster(address: &str, pairs: &[(&str, Value)]) -> Cluster {
        let mut map: BTreeMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        map.insert("address".to_owned(), Value::string(address));
        Cluster::from_value(&Value::Map(map)).unwrap()
    }

    fn mirror(extra: Vec<(&str, Value)>) -> Value {
        let mut pairs = vec![
            ("engine", Value::string("connect")),
            ("connect_url", Value::string("http://127.0.0.1:18083/")),
            (
                "topics",
                Value::List(vec![Value::string("orders.v1"), Value::string("payments")]),
            ),
        ];
        pairs.extend(extra);
        value(pairs)
    }

    #[test]
    fn the_spec_names_the_connectors_after_the_mirror() {
        let spec = ConnectSpec::from_value(&mirror(vec![])).unwrap();
        assert_eq!(spec.url, "http://127.0.0.1:18083");
        assert_eq!(
            spec.connectors(),
            ["cutover-mirror-source", "cutover-mirror-checkpoint"]
        );
        let named =
            ConnectSpec::from_value(&mirror(vec![("name", Value::string("orders"))])).unwrap();
        assert_eq!(named.source_connector(), "orders-source");
    }

    #[test]
    fn what_mirrormaker_2_cannot_do_is_refused_at_plan_time() {
        for (extra, expected) in [
            (
                vec![("offsets", Value::string("preserve"))],
                "translates consumer offsets approximately",
            ),
            (
                vec![("offsets", Value::string("translate"))],
                "use engine = \"embedded\"",
            ),
            (
                vec![("compression", Value::string("zstd"))],
                "compression applies to engine = \"embedded\"",
            ),
            (
                vec![("max_in_flight_mb", Value::int(8))],
                "max_in_flight_mb applies",
            ),
            (vec![("name", Value::string("a/b"))], "must be 1-200 of"),
            (
                vec![("connect_url", Value::string("ftp://h:1"))],
                "is not an http or https URL",
            ),
            (
                vec![("connect_url", Value::string("http://u:p@h:8083"))],
                "holds credentials",
            ),
            (vec![("connect_url", Value::Null)], "needs connect_url"),
        ] {
            let error = check(&mirror(extra)).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
        // Known only after apply: checked then.
        assert!(check(&mirror(vec![("connect_url", Value::Unknown)])).is_ok());
        assert!(check(&mirror(vec![("max_lag", Value::int(10))])).is_ok());
    }

    #[test]
    fn topic_names_are_exact_regexes_and_read_back() {
        let topics = vec!["orders.v1".to_owned(), "pay-ments_2".to_owned()];
        let filter = topics_filter(&topics);
        assert_eq!(filter, "orders\\.v1,pay-ments_2");
        assert_eq!(topics_from_filter(&filter), topics);
    }

    #[test]
    fn aliases_come_from_the_cluster_blocks() {
        let legacy = cluster(
            "cluster.legacy",
            &[("bootstrap_servers", Value::string("a:1"))],
        );
        let msk = cluster(
            "module.m.cluster.msk",
            &[("bootstrap_servers", Value::string("b:1"))],
        );
        assert_eq!(
            aliases(&legacy, &msk),
            Aliases {
                source: "legacy".to_owned(),
                target: "msk".to_owned()
            }
        );
        let same = cluster(
            "module.x.cluster.legacy",
            &[("bootstrap_servers", Value::string("c:1"))],
        );
        assert_eq!(aliases(&legacy, &same).source, "source");
    }

    #[test]
    fn scram_clusters_become_java_jaas_settings() {
        let scram = cluster(
            "cluster.msk",
            &[
                (
                    "bootstrap_servers",
                    Value::List(vec![Value::string("b-1:9096"), Value::string("b-2:9096")]),
                ),
                ("sasl_mechanism", Value::string("SCRAM-SHA-512")),
                ("sasl_username", Value::string("user")),
                ("sasl_password", Value::sensitive(Value::string("pa\"ss"))),
            ],
        );
        let properties: BTreeMap<String, String> = java_client_properties(&scram)
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(properties["bootstrap.servers"], "b-1:9096,b-2:9096");
        assert_eq!(properties["security.protocol"], "SASL_SSL");
        assert_eq!(properties["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(
            properties["sasl.jaas.config"],
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"user\" password=\"pa\\\"ss\";"
        );
        let iam = cluster(
            "cluster.iam",
            &[
                ("bootstrap_servers", Value::string("b:9098")),
                ("auth", Value::string("aws_msk_iam")),
            ],
        );
        let properties: BTreeMap<String, String> =
            java_client_properties(&iam).unwrap().into_iter().collect();
        assert_eq!(properties["sasl.mechanism"], "AWS_MSK_IAM");
    }

    #[test]
    fn the_connector_configs_copy_exactly_the_listed_topics() {
        let spec = ConnectSpec::from_value(&mirror(vec![("name", Value::string("m"))])).unwrap();
        let legacy = cluster(
            "cluster.legacy",
            &[("bootstrap_servers", Value::string("a:1"))],
        );
        let target = cluster(
            "cluster.target",
            &[("bootstrap_servers", Value::string("b:1"))],
        );
        let configs = connector_configs(&spec, &legacy, &target, 48, false).unwrap();
        let source = &configs.iter().find(|(n, _)| n == "m-source").unwrap().1;
        assert_eq!(source["connector.class"], SOURCE_CONNECTOR_CLASS);
        assert_eq!(source["replication.policy.class"], IDENTITY_POLICY);
        assert_eq!(source["topics"], "orders\\.v1,payments");
        assert_eq!(source["source.cluster.bootstrap.servers"], "a:1");
        assert_eq!(source["target.cluster.bootstrap.servers"], "b:1");
        assert_eq!(source["tasks.max"], MAX_SOURCE_TASKS.to_string());
        assert_eq!(source["sync.topic.configs.enabled"], "false");
        assert!(!source.keys().any(|k| k.starts_with("producer.override.")));
        let checkpoint = &configs.iter().find(|(n, _)| n == "m-checkpoint").unwrap().1;
        assert_eq!(checkpoint["connector.class"], CHECKPOINT_CONNECTOR_CLASS);
        assert_eq!(checkpoint["sync.group.offsets.enabled"], "true");
        let elsewhere = connector_configs(&spec, &legacy, &target, 2, true).unwrap();
        assert_eq!(elsewhere[1].1["producer.override.bootstrap.servers"], "b:1");
        assert_eq!(elsewhere[1].1["tasks.max"], "2");
        let capped = ConnectSpec::from_value(&mirror(vec![("tasks_max", Value::int(4))])).unwrap();
        let configs = connector_configs(&capped, &legacy, &target, 48, false).unwrap();
        let source = &configs
            .iter()
            .find(|(n, _)| n.ends_with("-source"))
            .unwrap()
            .1;
        assert_eq!(source["tasks.max"], "4");
        let zero = ConnectSpec::from_value(&mirror(vec![("tasks_max", Value::int(0))]));
        assert!(matches!(zero, Err(ProviderError::Invalid(m)) if m.contains("tasks_max")));
    }

    #[test]
    fn old_brokers_are_refused_with_the_reason() {
        let old = cluster(
            "cluster.old",
            &[
                ("bootstrap_servers", Value::string("a:1")),
                ("broker_version", Value::string("0.8.2")),
            ],
        );
        let error = check_broker_version(&old, None).unwrap_err().to_string();
        assert!(error.contains("older than 0.10"), "{error}");
        let v010 = cluster(
            "cluster.v010",
            &[
                ("bootstrap_servers", Value::string("a:1")),
                ("broker_version", Value::string("0.10.2")),
            ],
        );
        assert!(check_broker_version(&v010, Some(BrokerVersion(3, 9, 2))).is_ok());
        let error = check_broker_version(&v010, Some(BrokerVersion(4, 3, 1)))
            .unwrap_err()
            .to_string();
        assert!(error.contains("needs brokers 2.1 or newer"), "{error}");
    }

    #[test]
    fn statuses_offsets_and_versions_are_read_from_connect_answers() {
        let status = ConnectorStatus::from_json(&json!({
            "name": "m-source",
            "connector": { "state": "RUNNING", "worker_id": "w" },
            "tasks": [
                { "id": 0, "state": "RUNNING", "worker_id": "w" },
                { "id": 1, "state": "FAILED", "worker_id": "w", "trace": "org.apache.kafka.connect.errors.ConnectException: boom\n\tat x" }
            ],
            "type": "source"
        }));
        assert!(!status.running(true));
        assert_eq!(
            status.failure().unwrap(),
            "task 1 FAILED: org.apache.kafka.connect.errors.ConnectException: boom"
        );
        let idle = ConnectorStatus::from_json(
            &json!({ "connector": { "state": "RUNNING" }, "tasks": [] }),
        );
        assert!(idle.running(false) && !idle.running(true));

        let offsets = parse_source_offsets(
            &json!({ "offsets": [
                { "partition": { "cluster": "legacy", "partition": 0, "topic": "t" }, "offset": { "offset": 477 } },
                { "partition": { "cluster": "other", "partition": 1, "topic": "t" }, "offset": { "offset": 9 } }
            ]}),
            "legacy",
        );
        assert_eq!(offsets, BTreeMap::from([(("t".to_owned(), 0), 478)]));
        let partition = SourcePartition {
            topic: "t".to_owned(),
            partition: 0,
            start: 0,
            end: 500,
        };
        assert_eq!(lag_of(&offsets, &partition), 22);
        let untouched = SourcePartition {
            topic: "t".to_owned(),
            partition: 1,
            start: 5,
            end: 5,
        };
        assert_eq!(lag_of(&offsets, &untouched), 0);
        let outrun = SourcePartition {
            topic: "t".to_owned(),
            partition: 0,
            start: 600,
            end: 900,
        };
        assert!(
            retention_outran(&offsets, &[outrun])
                .unwrap()
                .contains("records 478..599")
        );

        assert_eq!(parse_version("3.7.0-ccs"), Some(BrokerVersion(3, 7, 0)));
        assert_eq!(parse_version("4.3.1"), Some(BrokerVersion(4, 3, 1)));
    }
}
