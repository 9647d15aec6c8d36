//! Kafka connections: a `cluster` block's settings turned into librdkafka configuration, with
//! the broker-version rules for old clusters, pass-through properties checked by name, and
//! errors that name the cluster, the servers tried and librdkafka's own reason.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;

use crate::config::connections::Connections;
use crate::config::evaluate::parse_duration;
use crate::config::redact::{Marks, shown};
use crate::config::value::Value;
use crate::error::{OperationError, OperationResult};
use crate::kafka::iam::IamTokenSource;

/// How long a connection may take before the operation fails, unless the block sets `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A broker version as `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BrokerVersion(pub u32, pub u32, pub u32);

impl BrokerVersion {
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().unwrap_or("0").parse().ok()?;
        let patch = parts.next().unwrap_or("0").parse().ok()?;
        if parts.clone().any(|p| p.parse::<u32>().is_err()) {
            return None;
        }
        Some(BrokerVersion(major, minor, patch))
    }
}

impl std::fmt::Display for BrokerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Broker features the providers use, with the version that introduced them.
#[derive(Debug, Clone, Copy)]
pub enum Feature {
    /// CreateTopics / DeleteTopics (KIP-4).
    TopicAdmin,
    /// DescribeConfigs / AlterConfigs.
    Configs,
    CreatePartitions,
    DeleteRecords,
    /// Kafka-coordinated consumer groups (JoinGroup, ListGroups, DescribeGroups).
    ConsumerGroups,
    Timestamps,
    Headers,
}

impl Feature {
    pub fn minimum(self) -> BrokerVersion {
        match self {
            Feature::TopicAdmin => BrokerVersion(0, 10, 1),
            Feature::Configs | Feature::DeleteRecords | Feature::Headers => BrokerVersion(0, 11, 0),
            Feature::CreatePartitions => BrokerVersion(1, 0, 0),
            Feature::ConsumerGroups => BrokerVersion(0, 9, 0),
            Feature::Timestamps => BrokerVersion(0, 10, 0),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Feature::TopicAdmin => "creating and deleting topics",
            Feature::Configs => "reading and changing topic configs",
            Feature::CreatePartitions => "adding partitions",
            Feature::DeleteRecords => "deleting records",
            Feature::ConsumerGroups => "Kafka-coordinated consumer groups",
            Feature::Timestamps => "record timestamps",
            Feature::Headers => "record headers",
        }
    }
}

/// One `cluster` block, decoded. Holds credentials: never printed (Debug is redacted).
#[derive(Clone)]
pub struct Cluster {
    /// `cluster.NAME`, module-qualified: how errors name it.
    pub address: String,
    pub servers: Vec<String>,
    pub broker_version: Option<BrokerVersion>,
    pub zookeeper: Option<String>,
    pub timeout: Duration,
    settings: Vec<(String, String)>,
    iam: Option<Arc<IamTokenSource>>,
    /// Which of the block's arguments are sensitive: messages show those as `(sensitive)`.
    pub marks: Marks,
}

/// A cluster as a worker process receives it from its parent, through a pipe (never on a
/// command line or on disk): it holds the connection's credentials.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ClusterWire {
    address: String,
    servers: Vec<String>,
    broker_version: Option<String>,
    zookeeper: Option<String>,
    timeout_ms: u64,
    settings: Vec<(String, String)>,
    /// `Some` for MSK IAM authentication: the region setting (which may itself be unset).
    iam: Option<Option<String>>,
    marks: Marks,
}

/// The cluster address a stored or configured `cluster` attribute holds.
pub fn cluster_address(value: &Value) -> Option<String> {
    match value.peel() {
        Value::String(address) => Some(address.clone()),
        Value::Map(map) => map
            .get("address")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

impl Cluster {
    pub fn to_wire(&self) -> ClusterWire {
        ClusterWire {
            address: self.address.clone(),
            servers: self.servers.clone(),
            broker_version: self.broker_version.map(|v| v.to_string()),
            zookeeper: self.zookeeper.clone(),
            timeout_ms: self.timeout.as_millis() as u64,
            settings: self.settings.clone(),
            iam: self.iam.as_ref().map(|source| source.region_setting()),
            marks: self.marks.clone(),
        }
    }

    pub fn from_wire(wire: ClusterWire) -> Cluster {
        Cluster {
            address: wire.address,
            servers: wire.servers,
            broker_version: wire
                .broker_version
                .as_deref()
                .and_then(BrokerVersion::parse),
            zookeeper: wire.zookeeper,
            timeout: Duration::from_millis(wire.timeout_ms),
            settings: wire.settings,
            iam: wire.iam.map(|region| Arc::new(IamTokenSource::new(region))),
            marks: wire.marks,
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("address", &self.address)
            .field(
                "servers",
                &self.marks.show("bootstrap_servers", &self.servers),
            )
            .field("broker_version", &self.broker_version)
            .finish_non_exhaustive()
    }
}

fn invalid(address: &str, message: impl std::fmt::Display) -> OperationError {
    OperationError::Invalid(format!("{address}: {message}"))
}

/// The arguments of an evaluated `cluster` block, decoded once after the cluster schema
/// judged them ([`crate::config::decode::decode_checked`]: the words of `validate`). Holds the
/// password in plain text: no `Debug`, never printed.
#[derive(serde::Deserialize)]
struct ClusterArgs {
    address: Option<String>,
    bootstrap_servers: Option<Servers>,
    broker_version: Option<String>,
    zookeeper: Option<String>,
    client_id: Option<String>,
    security_protocol: Option<String>,
    auth: Option<String>,
    sasl_mechanism: Option<String>,
    sasl_username: Option<String>,
    sasl_password: Option<String>,
    tls_ca_file: Option<String>,
    tls_cert_file: Option<String>,
    tls_key_file: Option<String>,
    properties: Option<BTreeMap<String, String>>,
    timeout: Option<String>,
    aws_region: Option<String>,
}

/// `bootstrap_servers`: a list of `host:port`, or one comma-separated string.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Servers {
    One(String),
    Many(Vec<String>),
}

impl Servers {
    fn list(self) -> Vec<String> {
        let parts: Vec<String> = match self {
            Servers::One(text) => text.split(',').map(str::to_owned).collect(),
            Servers::Many(items) => items,
        };
        parts
            .into_iter()
            .map(|server| server.trim().to_owned())
            .filter(|server| !server.is_empty())
            .collect()
    }
}

impl Cluster {
    /// The cluster a resource's `cluster` attribute names: the full block value (data sources
    /// and previews see it as written) or its address (what resources store).
    pub fn resolve(connections: &Connections, value: &Value) -> OperationResult<Cluster> {
        match value.peel() {
            Value::String(address) => match connections.clusters.get(address) {
                Some(cluster) => Cluster::from_value(cluster),
                None => Err(OperationError::Failed(format!(
                    "{} is not in the configuration: keep the cluster block until every object that uses it is destroyed",
                    shown(value)
                ))),
            },
            Value::Map(map) => match map.get("address").and_then(Value::as_str) {
                Some(address) if connections.clusters.contains_key(address) => {
                    Cluster::from_value(connections.cluster(address)?)
                }
                _ => Cluster::from_value(value),
            },
            Value::Unknown => Err(OperationError::Failed(
                "the cluster's connection is not known yet".to_owned(),
            )),
            other => Err(OperationError::Invalid(format!(
                "cluster must be a cluster reference such as cluster.source, not a {}",
                other.type_name()
            ))),
        }
    }

    /// Decodes an evaluated `cluster` block.
    pub fn from_value(value: &Value) -> OperationResult<Cluster> {
        if value.as_map().is_none() {
            return Err(OperationError::Invalid(
                "a cluster must be an object".to_owned(),
            ));
        }
        let address = value
            .as_map()
            .and_then(|map| map.get("address"))
            .and_then(Value::as_str)
            .unwrap_or("cluster")
            .to_owned();
        let mut marks = Marks::of(value);
        if !value.is_wholly_known() {
            return Err(OperationError::Failed(format!(
                "{address}: the connection depends on values known only after apply"
            )));
        }
        let args: ClusterArgs = crate::config::decode::decode_checked(
            &address,
            super::schema::cluster_schema_ref(),
            value,
        )
        .map_err(OperationError::Invalid)?;
        let servers = args
            .bootstrap_servers
            .map(Servers::list)
            .unwrap_or_default();
        if servers.is_empty() {
            return Err(invalid(&address, "bootstrap_servers is empty"));
        }
        if marks.is_sensitive("bootstrap_servers") {
            // librdkafka's reasons name one server, or its host, at a time.
            for server in &servers {
                marks.hide(server);
                if let Some((host, _)) = server.rsplit_once(':') {
                    marks.hide(host);
                }
            }
        }
        // The schema's patterns judged the version and the timeout.
        let broker_version = args
            .broker_version
            .as_deref()
            .and_then(BrokerVersion::parse);
        let timeout = args
            .timeout
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or(DEFAULT_TIMEOUT);

        let mut settings = vec![("bootstrap.servers".to_owned(), servers.join(","))];
        let client_id = args.client_id.unwrap_or_else(|| "cutover".to_owned());
        settings.push(("client.id".to_owned(), client_id));
        if let Some(version) = broker_version
            && version < BrokerVersion(0, 10, 0)
        {
            // Such brokers close the connection on an ApiVersions request.
            settings.push(("api.version.request".to_owned(), "false".to_owned()));
            settings.push(("broker.version.fallback".to_owned(), version.to_string()));
        } else if let Some(version) = broker_version {
            settings.push(("broker.version.fallback".to_owned(), version.to_string()));
        }

        let (mechanism, username, password) =
            (args.sasl_mechanism, args.sasl_username, args.sasl_password);
        // Judged by the schema: one of four protocols in any case; SASL ones when SASL is used.
        let mut protocol = args
            .security_protocol
            .map(|p| p.trim().to_ascii_uppercase());
        let mut iam = None;
        if args.auth.as_deref() == Some("aws_msk_iam") {
            if mechanism.is_some() || username.is_some() || password.is_some() {
                return Err(invalid(
                    &address,
                    "auth = \"aws_msk_iam\" takes no sasl_mechanism, sasl_username or sasl_password",
                ));
            }
            protocol.get_or_insert_with(|| "SASL_SSL".to_owned());
            settings.push(("sasl.mechanism".to_owned(), "OAUTHBEARER".to_owned()));
            iam = Some(Arc::new(IamTokenSource::new(args.aws_region)));
        }
        if let Some(mechanism) = &mechanism {
            let upper = mechanism.trim().to_ascii_uppercase();
            if username.is_none() || password.is_none() {
                return Err(invalid(
                    &address,
                    format!(
                        "sasl_mechanism {} needs sasl_username and sasl_password",
                        marks.show("sasl_mechanism", &upper)
                    ),
                ));
            }
            protocol.get_or_insert_with(|| "SASL_SSL".to_owned());
            settings.push(("sasl.mechanism".to_owned(), upper));
        } else if username.is_some() || password.is_some() {
            return Err(invalid(
                &address,
                "sasl_username and sasl_password need sasl_mechanism (SCRAM-SHA-256 or SCRAM-SHA-512)",
            ));
        }
        if let Some(username) = username {
            settings.push(("sasl.username".to_owned(), username));
        }
        if let Some(password) = password {
            settings.push(("sasl.password".to_owned(), password));
        }
        for (argument, path, property) in [
            ("tls_ca_file", args.tls_ca_file, "ssl.ca.location"),
            (
                "tls_cert_file",
                args.tls_cert_file,
                "ssl.certificate.location",
            ),
            ("tls_key_file", args.tls_key_file, "ssl.key.location"),
        ] {
            if let Some(path) = path {
                // Checked here, when connecting: the configuration reads no files it is not
                // asked to.
                if !std::path::Path::new(&path).is_file() {
                    return Err(invalid(
                        &address,
                        format!(
                            "{argument} {:?} is not a readable file",
                            marks.show(argument, &path)
                        ),
                    ));
                }
                settings.push((property.to_owned(), path));
                if protocol.is_none() {
                    protocol = Some("SSL".to_owned());
                }
            }
        }
        if let Some(protocol) = protocol {
            settings.push(("security.protocol".to_owned(), protocol));
        }
        // The schema's rule kept the block's own settings out of them.
        settings.extend(args.properties.unwrap_or_default());
        let cluster = Cluster {
            address: args.address.unwrap_or(address),
            servers,
            broker_version,
            zookeeper: args.zookeeper,
            timeout,
            settings,
            iam,
            marks,
        };
        cluster.check_properties()?;
        Ok(cluster)
    }

    /// Every property, checked by librdkafka itself (names and values), without connecting.
    fn check_properties(&self) -> OperationResult<()> {
        let mut config = ClientConfig::new();
        for (name, value) in &self.settings {
            config.set(name, value);
        }
        config.create_native_config().map(|_| ()).map_err(|error| {
            let reason = match error {
                KafkaError::ClientConfig(_, description, _, _) => description,
                other => other.to_string(),
            };
            invalid(
                &self.address,
                format!("invalid librdkafka property: {}", self.marks.scrub(&reason)),
            )
        })
    }

    /// Fails with a clear message when the declared broker version lacks `feature`.
    pub fn require(&self, feature: Feature) -> OperationResult<()> {
        match self.broker_version {
            Some(version) if version < feature.minimum() => Err(OperationError::Invalid(format!(
                "{}: {} needs brokers {} or newer; the cluster declares broker_version {}",
                self.address,
                feature.describe(),
                feature.minimum(),
                self.marks.show("broker_version", version)
            ))),
            _ => Ok(()),
        }
    }

    /// Whether the connection speaks plain Kafka: no TLS, no SASL (what a hand-written
    /// request such as DescribeLogDirs can use). Every way to turn either on sets
    /// `security.protocol`, which `properties` cannot override.
    pub fn is_plaintext(&self) -> bool {
        self.settings
            .iter()
            .find(|(name, _)| name == "security.protocol")
            .is_none_or(|(_, protocol)| protocol.eq_ignore_ascii_case("PLAINTEXT"))
    }

    /// Whether the connection authenticates with MSK IAM (where Kafka ACLs do not apply).
    pub fn uses_iam(&self) -> bool {
        self.iam.is_some()
    }

    /// Whether the declared broker version has `feature` (unknown versions are assumed new).
    pub fn supports(&self, feature: Feature) -> bool {
        self.require(feature).is_ok()
    }

    /// A librdkafka configuration for this cluster with `extra` settings on top.
    pub fn client_config(&self, extra: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (name, value) in &self.settings {
            config.set(name, value);
        }
        let timeout = self.timeout.as_millis().to_string();
        config.set("socket.timeout.ms", &timeout);
        for (name, value) in extra {
            config.set(*name, *value);
        }
        config
    }

    /// The client context: captures librdkafka's error reasons and serves IAM tokens.
    pub fn context(&self) -> KafkaContext {
        KafkaContext {
            reasons: Arc::new(Mutex::new(Vec::new())),
            deliveries_failed: Arc::new(Mutex::new(Vec::new())),
            iam: self.iam.clone(),
            marks: Arc::new(self.marks.clone()),
        }
    }

    /// A consumer for metadata, offsets and group operations. Blocking: call it from a
    /// blocking task.
    pub fn consumer(&self, extra: &[(&str, &str)]) -> OperationResult<BaseConsumer<KafkaContext>> {
        let context = self.context();
        self.client_config(extra)
            .create_with_context(context)
            .map_err(|error| self.failure("cannot create a client", &error, None))
    }

    /// An error naming the cluster, the servers and librdkafka's reason.
    pub fn failure(
        &self,
        what: &str,
        error: &KafkaError,
        context: Option<&KafkaContext>,
    ) -> OperationError {
        let reasons = context.map(KafkaContext::reasons).unwrap_or_default();
        let reason = if reasons.is_empty() {
            error.to_string()
        } else {
            format!("{error} ({})", reasons.join("; "))
        };
        OperationError::Failed(format!(
            "{}: {what} (servers tried: {}): {}",
            self.address,
            self.marks
                .show("bootstrap_servers", self.servers.join(", ")),
            self.marks.scrub(&reason)
        ))
    }

    /// Cluster metadata (all topics, or one), within the cluster's timeout. Blocking.
    pub fn metadata(
        &self,
        consumer: &BaseConsumer<KafkaContext>,
        topic: Option<&str>,
    ) -> OperationResult<Metadata> {
        consumer
            .fetch_metadata(topic, self.timeout)
            .map_err(|error| {
                // librdkafka reports why (refused, TLS, authentication) through error events on
                // its queue: serve them before naming the reason.
                for _ in 0..5 {
                    consumer.poll(Duration::from_millis(20));
                }
                self.failure("cannot reach the cluster", &error, Some(consumer.context()))
            })
    }

    /// Connects and fetches metadata: proves the cluster is reachable.
    pub async fn check_reachable(&self) -> OperationResult<()> {
        let cluster = self.clone();
        blocking(move || {
            let consumer = cluster.consumer(&[])?;
            cluster.metadata(&consumer, None).map(|_| ())
        })
        .await
    }
}

/// Whether a group-coordinator error is worth retrying (the coordinator is moving or loading).
pub fn coordinator_busy(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(
            Code::NotCoordinator
                | Code::CoordinatorLoadInProgress
                | Code::CoordinatorNotAvailable
                | Code::RequestTimedOut
        )
    )
}

/// Runs `attempt` until it succeeds, fails otherwise than with a busy coordinator, or
/// `timeout` passes. Blocking.
pub fn with_coordinator_retries<T>(
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<T, KafkaError>,
) -> Result<T, KafkaError> {
    let deadline = std::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(50);
    loop {
        match attempt() {
            Err(error) if coordinator_busy(&error) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            result => return result,
        }
    }
}

/// Runs blocking librdkafka work off the async runtime.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> OperationResult<T> + Send + 'static,
) -> OperationResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| OperationError::Failed(format!("a Kafka task failed: {error}")))?
}

/// The librdkafka client context of every cutover client.
#[derive(Clone)]
pub struct KafkaContext {
    reasons: Arc<Mutex<Vec<String>>>,
    deliveries_failed: Arc<Mutex<Vec<String>>>,
    iam: Option<Arc<IamTokenSource>>,
    /// The cluster's sensitive texts: librdkafka's lines name servers, and are scrubbed before
    /// they are logged or kept.
    marks: Arc<Marks>,
}

impl KafkaContext {
    /// The distinct error reasons librdkafka reported (at most a few).
    pub fn reasons(&self) -> Vec<String> {
        self.reasons.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Why records a producer with this context sent were not delivered (at most a few).
    pub fn delivery_failures(&self) -> Vec<String> {
        self.deliveries_failed
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl rdkafka::producer::ProducerContext for KafkaContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _opaque: ()) {
        if let Err((error, _)) = result
            && let Ok(mut failures) = self.deliveries_failed.lock()
            && failures.len() < 4
        {
            failures.push(error.to_string());
        }
    }
}

impl ClientContext for KafkaContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        let message = self.marks.scrub(message);
        tracing::debug!(?level, facility, message, "librdkafka");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let (error, reason) = (
            self.marks.scrub(&error.to_string()),
            self.marks.scrub(reason),
        );
        tracing::debug!(error, reason, "librdkafka error");
        if let Ok(mut reasons) = self.reasons.lock()
            && reasons.len() < 4
            && !reasons.contains(&reason)
        {
            reasons.push(reason);
        }
    }

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        match &self.iam {
            Some(source) => source.token(),
            None => Err("this connection has no OAUTHBEARER token source".into()),
        }
    }
}

impl ConsumerContext for KafkaContext {}

/// The [`ClientContext`] items of a context that wraps a [`KafkaContext`] in its field
/// `$field`: logging, error reasons and MSK IAM tokens all go to it. Used inside
/// `impl ClientContext for …` (further methods may follow it).
macro_rules! delegate_client_context {
    ($field:ident) => {
        const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

        fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
            self.$field.log(level, facility, message);
        }

        fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
            self.$field.error(error, reason);
        }

        fn generate_oauth_token(
            &self,
            config: Option<&str>,
        ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
            self.$field.generate_oauth_token(config)
        }
    };
}
pub(crate) use delegate_client_context;

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(pairs: &[(&str, Value)]) -> OperationResult<Cluster> {
        let mut map: BTreeMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        map.insert("address".to_owned(), Value::string("cluster.test"));
        Cluster::from_value(&Value::Map(map))
    }

    fn setting<'a>(cluster: &'a Cluster, name: &str) -> Option<&'a str> {
        cluster
            .settings
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn old_brokers_turn_off_api_version_requests() {
        let old = cluster(&[
            ("bootstrap_servers", Value::string("127.0.0.1:9092")),
            ("broker_version", Value::string("0.8.2")),
        ])
        .unwrap();
        assert_eq!(setting(&old, "api.version.request"), Some("false"));
        assert_eq!(setting(&old, "broker.version.fallback"), Some("0.8.2"));
        let error = old.require(Feature::TopicAdmin).unwrap_err().to_string();
        assert!(
            error.contains("creating and deleting topics needs brokers 0.10.1 or newer"),
            "{error}"
        );
        assert!(!old.supports(Feature::DeleteRecords));

        let new = cluster(&[
            (
                "bootstrap_servers",
                Value::List(vec![Value::string("a:1"), Value::string("b:2")]),
            ),
            ("broker_version", Value::string("3.9")),
        ])
        .unwrap();
        assert_eq!(setting(&new, "api.version.request"), None);
        assert_eq!(setting(&new, "bootstrap.servers"), Some("a:1,b:2"));
        assert!(new.supports(Feature::Headers));
    }

    #[test]
    fn sasl_scram_settings_and_their_mistakes() {
        let password = Value::sensitive(Value::string("s3cret"));
        let scram = cluster(&[
            ("bootstrap_servers", Value::string("h:9096")),
            ("sasl_mechanism", Value::string("scram-sha-512")),
            ("sasl_username", Value::string("u")),
            ("sasl_password", password.clone()),
        ])
        .unwrap();
        assert_eq!(setting(&scram, "sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(setting(&scram, "security.protocol"), Some("SASL_SSL"));
        assert!(!format!("{scram:?}").contains("s3cret"));

        let missing = cluster(&[
            ("bootstrap_servers", Value::string("h:9096")),
            ("sasl_mechanism", Value::string("SCRAM-SHA-256")),
            ("sasl_username", Value::string("u")),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            missing.contains("needs sasl_username and sasl_password"),
            "{missing}"
        );

        let wrong_protocol = cluster(&[
            ("bootstrap_servers", Value::string("h:9096")),
            ("security_protocol", Value::string("SSL")),
            ("sasl_mechanism", Value::string("SCRAM-SHA-256")),
            ("sasl_username", Value::string("u")),
            ("sasl_password", password),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            wrong_protocol.contains("needs a SASL_ security_protocol"),
            "{wrong_protocol}"
        );
    }

    #[test]
    fn properties_are_checked_by_name_and_cannot_override_owned_settings() {
        let mut properties = BTreeMap::new();
        properties.insert("fetch.wait.max.ms".to_owned(), Value::string("50"));
        let fine = cluster(&[
            ("bootstrap_servers", Value::string("h:1")),
            ("properties", Value::Map(properties.clone())),
        ]);
        assert!(fine.is_ok());

        properties.insert("fetch.wait.max.msec".to_owned(), Value::string("50"));
        let error = cluster(&[
            ("bootstrap_servers", Value::string("h:1")),
            ("properties", Value::Map(properties)),
        ])
        .unwrap_err()
        .to_string();
        assert!(error.contains("fetch.wait.max.msec"), "{error}");
        assert!(
            error.starts_with("cluster.test: invalid librdkafka property"),
            "{error}"
        );

        let mut owned = BTreeMap::new();
        owned.insert("security.protocol".to_owned(), Value::string("PLAINTEXT"));
        let error = cluster(&[
            ("bootstrap_servers", Value::string("h:1")),
            ("properties", Value::Map(owned)),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(
                "properties may not set \"security.protocol\": the block's own argument security_protocol sets it"
            ),
            "{error}"
        );
    }

    #[test]
    fn bad_servers_versions_and_protocols_are_refused() {
        for (pairs, expected) in [
            (
                vec![("bootstrap_servers", Value::string("nohost"))],
                "is not host:port",
            ),
            (
                vec![("bootstrap_servers", Value::string(" , "))],
                "holds \"\", which is not host:port",
            ),
            (
                vec![
                    ("bootstrap_servers", Value::string("h:1")),
                    ("broker_version", Value::string("zero")),
                ],
                "is not a version",
            ),
            (
                vec![
                    ("bootstrap_servers", Value::string("h:1")),
                    ("security_protocol", Value::string("TLS")),
                ],
                "\"TLS\" is not one of \"PLAINTEXT\", \"SSL\"",
            ),
            (
                vec![
                    ("bootstrap_servers", Value::string("h:1")),
                    ("auth", Value::string("kerberos")),
                ],
                "cluster.test: invalid value for \"auth\": \"kerberos\" is not one of \"aws_msk_iam\"",
            ),
            (
                vec![
                    ("bootstrap_servers", Value::string("h:1")),
                    ("timeout", Value::string("soon")),
                ],
                "is not a duration",
            ),
        ] {
            let error = cluster(&pairs).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
    }

    #[test]
    fn iam_auth_uses_oauthbearer_over_sasl_ssl() {
        let iam = cluster(&[
            ("bootstrap_servers", Value::string("b-1.msk:9098")),
            ("auth", Value::string("aws_msk_iam")),
        ])
        .unwrap();
        assert_eq!(setting(&iam, "sasl.mechanism"), Some("OAUTHBEARER"));
        assert_eq!(setting(&iam, "security.protocol"), Some("SASL_SSL"));
        assert!(iam.iam.is_some());
    }
}
