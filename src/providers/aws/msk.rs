//! Amazon MSK: `aws_msk_configuration` (server properties with revisions),
//! `aws_msk_cluster` (provisioned clusters through CreateClusterV2) and
//! `data "aws_msk_cluster"` (an existing cluster by ARN or name).
//!
//! MSK operations take tens of minutes. A cluster's ARN (and, for updates, the operation's
//! ARN) is recorded as an intent in state before any wait, so an interrupted apply resumes the
//! wait instead of creating a second cluster; every wait polls at the provider's
//! `poll_interval`, reports progress, honours cancellation and the `timeouts` block.
//!
//! Updates go through the operation MSK has for each setting, one at a time (MSK refuses a
//! second operation while one runs), each with the cluster's `current_version` read just
//! before it (optimistic concurrency: a change made meanwhile by someone else fails the call
//! instead of being overwritten). What MSK cannot change in place (subnets, security groups,
//! at-rest encryption key, in-cluster encryption) plans a replacement.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kafka::primitives::Blob;
use aws_sdk_kafka::types::{
    BrokerEbsVolumeInfo, BrokerNodeGroupInfo, ClientAuthentication, ClientBroker, Cluster,
    ClusterState, ConfigurationInfo, EbsStorageInfo, EncryptionAtRest, EncryptionInTransit,
    EncryptionInfo, EnhancedMonitoring, Iam, ProvisionedRequest, Sasl, Scram, StorageInfo, Tls,
    Unauthenticated,
};

use super::support::{
    Poll, Timeouts, attributes, aws_error, block, boolean, integer, is_not_found, keep_unset,
    required_text, string_list, string_map, string_value, strings, tag_changes, text,
    timeouts_block, wait_until,
};
use super::{Aws, Clients, PROVIDER};
use crate::config::schema::{AttributeSchema, BlockSchema, Nesting, Schema};
use crate::config::types::Type;
use crate::config::value::Value;
use crate::providers::{
    BoxFuture, DataSourceType, ProviderContext, ProviderError, ProviderResult, ResourceType,
};

/// Default time limits of cluster operations (MSK documents up to about an hour for
/// creations and broker-type changes on large clusters).
pub const CLUSTER_TIMEOUTS: Timeouts = Timeouts::minutes(120, 120, 120);
/// Default time limits of configuration operations (only the deletion waits).
pub const CONFIGURATION_TIMEOUTS: Timeouts = Timeouts::minutes(10, 10, 10);

/// At most this many MSK operations run for one update (there are seven kinds, each needed at
/// most once; the margin covers an operation someone else started meanwhile).
const MAX_UPDATE_OPERATIONS: usize = 10;

// =============================================================================================
// aws_msk_configuration

pub fn configuration_schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::required("name", Type::String)
                .forces_replacement()
                .describe("the configuration's name, unique in the account and region"),
            AttributeSchema::optional("kafka_versions", Type::list_of(Type::String))
                .forces_replacement()
                .describe("the Kafka versions the configuration may be used with")
                .pattern(crate::config::validate::Pattern::MskVersion),
            AttributeSchema::required("server_properties", Type::String)
                .describe("broker properties, one per line; a change makes a new revision"),
            AttributeSchema::optional("description", Type::String)
                .describe("the description of the latest revision"),
            AttributeSchema::computed("arn", Type::String).describe("the configuration's ARN"),
            AttributeSchema::computed("latest_revision", Type::Number)
                .describe("the revision number clusters should use"),
        ],
        vec![timeouts_block("time limit of the deletion (default 10m)")],
    )
}

/// The typed configuration of an `aws_msk_configuration`.
struct ConfigurationSpec {
    name: String,
    kafka_versions: Option<Vec<String>>,
    server_properties: String,
    description: Option<String>,
}

impl ConfigurationSpec {
    fn from_value(value: &Value) -> ProviderResult<Self> {
        let map = attributes(value);
        let what = "aws_msk_configuration";
        Ok(ConfigurationSpec {
            name: required_text(&map, "name", what)?,
            kafka_versions: strings(&map, "kafka_versions"),
            server_properties: required_text(&map, "server_properties", what)?,
            description: text(&map, "description"),
        })
    }
}

pub struct MskConfiguration {
    aws: Arc<Aws>,
    schema: Schema,
}

impl MskConfiguration {
    pub fn new(aws: Arc<Aws>) -> Self {
        MskConfiguration {
            aws,
            schema: configuration_schema(),
        }
    }

    /// The configuration's attributes, or `None` when it no longer exists.
    async fn describe(
        &self,
        clients: &Clients,
        arn: &str,
        timeouts: Value,
    ) -> ProviderResult<Option<Value>> {
        let described = match clients.kafka.describe_configuration().arn(arn).send().await {
            Ok(described) => described,
            Err(error) if is_not_found(&error) => return Ok(None),
            Err(error) => {
                return Err(aws_error(
                    &format!("reading MSK configuration {arn}"),
                    error,
                ));
            }
        };
        if described
            .state()
            .is_some_and(|state| state.as_str() == "DELETING")
        {
            return Ok(None);
        }
        let revision = described
            .latest_revision()
            .and_then(|revision| revision.revision())
            .ok_or_else(|| {
                ProviderError::Failed(format!("MSK configuration {arn} has no revision"))
            })?;
        let detail = clients
            .kafka
            .describe_configuration_revision()
            .arn(arn)
            .revision(revision)
            .send()
            .await
            .map_err(|error| {
                aws_error(
                    &format!("reading revision {revision} of MSK configuration {arn}"),
                    error,
                )
            })?;
        let properties = detail
            .server_properties()
            .map(|blob| String::from_utf8_lossy(blob.as_ref()).into_owned())
            .unwrap_or_default();
        let kafka_versions = described.kafka_versions();
        Ok(Some(Value::Map(BTreeMap::from([
            ("arn".to_owned(), Value::string(arn)),
            ("name".to_owned(), string_value(described.name())),
            (
                "kafka_versions".to_owned(),
                if kafka_versions.is_empty() {
                    Value::Null
                } else {
                    string_list(kafka_versions.iter().cloned())
                },
            ),
            ("server_properties".to_owned(), Value::String(properties)),
            ("description".to_owned(), string_value(detail.description())),
            ("latest_revision".to_owned(), Value::int(revision)),
            ("timeouts".to_owned(), timeouts),
        ]))))
    }
}

impl ResourceType for MskConfiguration {
    fn type_name(&self) -> &'static str {
        "aws_msk_configuration"
    }

    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    /// A change of the properties or the description makes a new revision: its number is
    /// known only after apply, so clusters that use `latest_revision` see the change.
    fn plan(&self, prior: Option<&Value>, planned: Value) -> ProviderResult<Value> {
        let mut object = attributes(&planned);
        Timeouts::of(&object, CONFIGURATION_TIMEOUTS)?;
        if let Some(prior) = prior {
            let prior = attributes(prior);
            let changed = ["server_properties", "description"].iter().any(|name| {
                !crate::config::eval::values_equal(
                    prior.get(*name).unwrap_or(&Value::Null),
                    object.get(*name).unwrap_or(&Value::Null),
                )
            });
            if changed {
                object.insert("latest_revision".to_owned(), Value::Unknown);
            }
        }
        Ok(Value::Map(object))
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>> {
        Box::pin(async move {
            let prior = attributes(prior);
            let arn = required_text(&prior, "arn", "reading aws_msk_configuration")?;
            let clients = self.aws.clients(context).await?;
            let timeouts = prior.get("timeouts").cloned().unwrap_or(Value::Null);
            let live = self.describe(&clients, &arn, timeouts).await?;
            Ok(live.map(|live| keep_unset(&Value::Map(prior), live)))
        })
    }

    fn create<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let spec = ConfigurationSpec::from_value(planned)?;
            let clients = self.aws.clients(context).await?;
            let mut request = clients
                .kafka
                .create_configuration()
                .name(&spec.name)
                .server_properties(Blob::new(spec.server_properties.as_bytes()));
            for version in spec.kafka_versions.iter().flatten() {
                request = request.kafka_versions(version);
            }
            if let Some(description) = &spec.description {
                request = request.description(description);
            }
            let created = request.send().await.map_err(|error| {
                aws_error(&format!("creating MSK configuration {}", spec.name), error)
            })?;
            let arn = created.arn().ok_or_else(|| {
                ProviderError::Failed(format!(
                    "creating MSK configuration {}: the answer has no ARN",
                    spec.name
                ))
            })?;
            let mut object = attributes(planned);
            object.insert("arn".to_owned(), Value::string(arn));
            object.insert(
                "latest_revision".to_owned(),
                created
                    .latest_revision()
                    .and_then(|revision| revision.revision())
                    .map_or(Value::Null, Value::int),
            );
            Ok(Value::Map(object))
        })
    }

    fn update<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let spec = ConfigurationSpec::from_value(planned)?;
            let before = attributes(prior);
            let arn = required_text(&before, "arn", "updating aws_msk_configuration")?;
            let mut object = attributes(planned);
            object.insert("arn".to_owned(), Value::string(&arn));
            let new_revision = text(&before, "server_properties").as_deref()
                != Some(spec.server_properties.as_str())
                || text(&before, "description") != spec.description;
            if !new_revision {
                // Only the timeouts changed: nothing to do in AWS.
                object.insert(
                    "latest_revision".to_owned(),
                    before
                        .get("latest_revision")
                        .cloned()
                        .unwrap_or(Value::Null),
                );
                return Ok(Value::Map(object));
            }
            let clients = self.aws.clients(context).await?;
            let mut request = clients
                .kafka
                .update_configuration()
                .arn(&arn)
                .server_properties(Blob::new(spec.server_properties.as_bytes()));
            if let Some(description) = &spec.description {
                request = request.description(description);
            }
            let updated = request.send().await.map_err(|error| {
                aws_error(&format!("updating MSK configuration {}", spec.name), error)
            })?;
            object.insert(
                "latest_revision".to_owned(),
                updated
                    .latest_revision()
                    .and_then(|revision| revision.revision())
                    .map_or(Value::Null, Value::int),
            );
            Ok(Value::Map(object))
        })
    }

    fn delete<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move {
            let before = attributes(prior);
            let arn = required_text(&before, "arn", "deleting aws_msk_configuration")?;
            let timeouts = Timeouts::of(&before, CONFIGURATION_TIMEOUTS)?;
            let clients = self.aws.clients(context).await?;
            match clients.kafka.delete_configuration().arn(&arn).send().await {
                Ok(_) => {}
                Err(error) if is_not_found(&error) => return Ok(()),
                Err(error) => {
                    return Err(aws_error(
                        &format!("deleting MSK configuration {arn}"),
                        error,
                    ));
                }
            }
            let what = format!("deleting MSK configuration {arn}");
            wait_until(
                context,
                &what,
                timeouts.delete,
                clients.settings.poll_interval,
                || async {
                    match clients
                        .kafka
                        .describe_configuration()
                        .arn(&arn)
                        .send()
                        .await
                    {
                        Err(error) if is_not_found(&error) => Ok(Poll::Done(())),
                        Err(error) => Err(aws_error(&what, error)),
                        Ok(described) => match described.state().map(|s| s.as_str().to_owned()) {
                            Some(state) if state == "DELETE_FAILED" => Err(ProviderError::Failed(
                                format!("{what}: MSK reports DELETE_FAILED"),
                            )),
                            state => Ok(Poll::Waiting(
                                state.unwrap_or_else(|| "DELETING".to_owned()),
                            )),
                        },
                    }
                },
            )
            .await
        })
    }

    fn import<'a>(
        &'a self,
        context: &'a ProviderContext,
        id: &'a str,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            if !id.starts_with("arn:") {
                return Err(ProviderError::Invalid(format!(
                    "import an aws_msk_configuration by its ARN (arn:aws:kafka:REGION:ACCOUNT:configuration/NAME/ID), not \"{id}\""
                )));
            }
            let clients = self.aws.clients(context).await?;
            let timeouts = attributes(config)
                .get("timeouts")
                .cloned()
                .unwrap_or(Value::Null);
            let live = self
                .describe(&clients, id, timeouts)
                .await?
                .ok_or_else(|| {
                    ProviderError::Failed(format!("there is no MSK configuration {id}"))
                })?;
            Ok(imported(config, live))
        })
    }
}

/// An imported object's attributes: what is live, with the settings the configuration leaves
/// unset left unset (they are not managed).
fn imported(config: &Value, live: Value) -> Value {
    if config.as_map().is_some() {
        keep_unset(config, live)
    } else {
        live
    }
}

// =============================================================================================
// aws_msk_cluster

pub fn cluster_schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::required("cluster_name", Type::String)
                .forces_replacement()
                .describe("the cluster's name: letters, digits and hyphens, starting with a letter")
                .pattern(crate::config::validate::Pattern::MskClusterName),
            AttributeSchema::required("kafka_version", Type::String)
                .describe("e.g. \"3.9.x\"; an upgrade is an UpdateClusterKafkaVersion")
                .pattern(crate::config::validate::Pattern::MskVersion),
            AttributeSchema::required("number_of_broker_nodes", Type::Number)
                .describe("a multiple of the number of client subnets")
                .int_range(1, 1000),
            AttributeSchema::optional("configuration_arn", Type::String)
                .describe("an aws_msk_configuration's arn")
                .pattern(crate::config::validate::Pattern::Arn { service: "kafka" }),
            AttributeSchema::optional("configuration_revision", Type::Number)
                .describe(
                    "the revision to use; unset: the latest one when the cluster is created or configuration_arn changes, not followed later (write aws_msk_configuration.NAME.latest_revision to follow new revisions)",
                )
                .int_range(1, i64::MAX)
                .requires(&["configuration_arn"]),
            AttributeSchema::optional("enhanced_monitoring", Type::String)
                .also_computed()
                .describe("how much CloudWatch monitoring MSK does")
                .one_of(MONITORING_LEVELS),
            AttributeSchema::optional("tags", Type::map_of(Type::String))
                .also_computed()
                .describe("tags; unset: the cluster's tags are not managed"),
            AttributeSchema::computed("arn", Type::String)
                .describe("the cluster's ARN"),
        ]
        .into_iter()
        .chain(live_attribute_schemas())
        .collect(),
        vec![
            BlockSchema {
                name: "broker_node_group_info",
                nesting: Nesting::Single,
                required: true,
                schema: Schema::new(
                    vec![
                        AttributeSchema::required("instance_type", Type::String)
                            .describe("e.g. kafka.m5.large; a change is an UpdateBrokerType"),
                        AttributeSchema::required("client_subnets", Type::list_of(Type::String))
                            .describe("one subnet per availability zone; a change replaces the cluster")
                            .validate(crate::config::validate::Validator::Length { min: 1, max: 3 }),
                        AttributeSchema::optional("security_groups", Type::list_of(Type::String))
                            .describe("a change replaces the cluster"),
                        AttributeSchema::optional("storage_gb", Type::Number)
                            .describe(
                                "EBS storage per broker in GiB; it can grow (UpdateBrokerStorage), never shrink",
                            )
                            .int_range(1, 16384),
                    ],
                    Vec::new(),
                ),
                description: "the brokers: instance type, subnets, security groups, storage",
            },
            BlockSchema {
                name: "encryption_info",
                nesting: Nesting::Single,
                required: false,
                schema: Schema::new(
                    vec![
                        AttributeSchema::optional("encryption_at_rest_kms_key_arn", Type::String)
                            .describe("a change replaces the cluster")
                            .pattern(crate::config::validate::Pattern::Arn { service: "kms" }),
                        AttributeSchema::optional("client_broker", Type::String)
                            .describe("encryption between clients and brokers (UpdateSecurity)")
                            .one_of(CLIENT_BROKER_MODES),
                        AttributeSchema::optional("in_cluster", Type::Bool)
                            .describe("TLS between brokers; a change replaces the cluster"),
                    ],
                    Vec::new(),
                ),
                description: "encryption at rest and in transit",
            },
            BlockSchema {
                name: "client_authentication",
                nesting: Nesting::Single,
                required: false,
                schema: Schema::new(
                    vec![
                        AttributeSchema::optional("sasl_iam", Type::Bool)
                            .describe("IAM access control (cluster { auth = \"aws_msk_iam\" }); a change is an UpdateSecurity"),
                        AttributeSchema::optional("sasl_scram", Type::Bool)
                            .describe("SASL/SCRAM with secrets associated to the cluster; a change is an UpdateSecurity"),
                        AttributeSchema::optional(
                            "tls_certificate_authority_arns",
                            Type::list_of(Type::String),
                        )
                        .describe("ACM Private CA ARNs for mutual TLS")
                        .pattern(crate::config::validate::Pattern::Arn { service: "acm-pca" }),
                        AttributeSchema::optional("unauthenticated", Type::Bool)
                            .describe("clients without authentication allowed; a change is an UpdateSecurity"),
                    ],
                    Vec::new(),
                ),
                description: "how clients authenticate (UpdateSecurity)",
            },
            timeouts_block("time limits of create, update and delete (default 120m each)"),
        ],
    )
}

/// What only a live cluster has besides its ARN ([`LiveDetails`]), in the resource and the
/// data source alike.
fn live_attribute_schemas() -> [AttributeSchema; 7] {
    [
        AttributeSchema::computed("current_version", Type::String)
            .describe("MSK's version of the cluster's settings, changed by every operation"),
        AttributeSchema::computed("state", Type::String)
            .describe("the cluster's state: ACTIVE, UPDATING, ..."),
        AttributeSchema::computed("bootstrap_brokers", Type::String)
            .describe("host:port list of the PLAINTEXT listeners"),
        AttributeSchema::computed("bootstrap_brokers_tls", Type::String)
            .describe("the TLS bootstrap brokers, host:port,..."),
        AttributeSchema::computed("bootstrap_brokers_sasl_iam", Type::String)
            .describe("the SASL/IAM bootstrap brokers, for cluster { auth = \"aws_msk_iam\" }"),
        AttributeSchema::computed("bootstrap_brokers_sasl_scram", Type::String)
            .describe("the SASL/SCRAM bootstrap brokers"),
        AttributeSchema::computed("zookeeper_connect_string", Type::String)
            .describe("for clusters that still have ZooKeeper"),
    ]
}

const MONITORING_LEVELS: &[&str] = &[
    "DEFAULT",
    "PER_BROKER",
    "PER_TOPIC_PER_BROKER",
    "PER_TOPIC_PER_PARTITION",
];
const CLIENT_BROKER_MODES: &[&str] = &["TLS", "TLS_PLAINTEXT", "PLAINTEXT"];

#[derive(Debug, Clone, PartialEq, Default)]
struct EncryptionSpec {
    at_rest_kms_key: Option<String>,
    client_broker: Option<String>,
    in_cluster: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct ClientAuthSpec {
    sasl_iam: Option<bool>,
    sasl_scram: Option<bool>,
    tls_certificate_authorities: Option<Vec<String>>,
    unauthenticated: Option<bool>,
}

impl ClientAuthSpec {
    /// Whether `live` has every setting this (desired) spec makes; unset ones are not managed.
    fn satisfied_by(&self, live: &ClientAuthSpec) -> bool {
        let flag = |want: Option<bool>, have: Option<bool>| {
            want.is_none_or(|want| want == have.unwrap_or(false))
        };
        flag(self.sasl_iam, live.sasl_iam)
            && flag(self.sasl_scram, live.sasl_scram)
            && flag(self.unauthenticated, live.unauthenticated)
            && self
                .tls_certificate_authorities
                .as_ref()
                .is_none_or(|want| {
                    want == live
                        .tls_certificate_authorities
                        .as_ref()
                        .unwrap_or(&Vec::new())
                })
    }

    fn to_sdk(&self) -> ClientAuthentication {
        let mut sasl = Sasl::builder();
        if let Some(enabled) = self.sasl_iam {
            sasl = sasl.iam(Iam::builder().enabled(enabled).build());
        }
        if let Some(enabled) = self.sasl_scram {
            sasl = sasl.scram(Scram::builder().enabled(enabled).build());
        }
        let mut auth = ClientAuthentication::builder().sasl(sasl.build());
        if let Some(arns) = &self.tls_certificate_authorities {
            let mut tls = Tls::builder().enabled(!arns.is_empty());
            for arn in arns {
                tls = tls.certificate_authority_arn_list(arn);
            }
            auth = auth.tls(tls.build());
        }
        if let Some(enabled) = self.unauthenticated {
            auth = auth.unauthenticated(Unauthenticated::builder().enabled(enabled).build());
        }
        auth.build()
    }

    fn to_value(&self) -> Value {
        Value::Map(BTreeMap::from([
            (
                "sasl_iam".to_owned(),
                self.sasl_iam.map_or(Value::Null, Value::Bool),
            ),
            (
                "sasl_scram".to_owned(),
                self.sasl_scram.map_or(Value::Null, Value::Bool),
            ),
            (
                "tls_certificate_authority_arns".to_owned(),
                self.tls_certificate_authorities
                    .clone()
                    .map_or(Value::Null, string_list),
            ),
            (
                "unauthenticated".to_owned(),
                self.unauthenticated.map_or(Value::Null, Value::Bool),
            ),
        ]))
    }
}

/// The typed configuration of an `aws_msk_cluster` (what CreateClusterV2 and the update
/// operations take), or the same read from a described cluster.
#[derive(Debug, Clone, PartialEq, Default)]
struct ClusterSpec {
    name: String,
    kafka_version: String,
    broker_count: i32,
    instance_type: String,
    client_subnets: Vec<String>,
    security_groups: Option<Vec<String>>,
    storage_gb: Option<i32>,
    /// The configuration ARN and revision (`None`: latest, resolved when applied).
    configuration: Option<(String, Option<i64>)>,
    encryption: Option<EncryptionSpec>,
    client_auth: Option<ClientAuthSpec>,
    enhanced_monitoring: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

fn whole(map: &BTreeMap<String, Value>, name: &str, what: &str) -> ProviderResult<Option<i32>> {
    match map.get(name) {
        None => Ok(None),
        Some(value) if value.is_null() || value.is_unknown() => Ok(None),
        Some(value) => match value.as_i64() {
            Some(number) if (1..=i64::from(i32::MAX)).contains(&number) => Ok(Some(number as i32)),
            _ => Err(ProviderError::Invalid(format!(
                "{what}: {name} must be a positive whole number, not {value}"
            ))),
        },
    }
}

impl ClusterSpec {
    fn from_value(value: &Value) -> ProviderResult<Self> {
        let map = attributes(value);
        let what = "aws_msk_cluster";
        let nodes = block(&map, "broker_node_group_info").ok_or_else(|| {
            ProviderError::Invalid(format!(
                "{what}: the broker_node_group_info block is required"
            ))
        })?;
        let configuration = text(&map, "configuration_arn")
            .map(|arn| (arn, integer(&map, "configuration_revision")));
        let encryption = block(&map, "encryption_info").map(|encryption| EncryptionSpec {
            at_rest_kms_key: text(&encryption, "encryption_at_rest_kms_key_arn"),
            client_broker: text(&encryption, "client_broker"),
            in_cluster: boolean(&encryption, "in_cluster"),
        });
        if let Some(mode) = encryption.as_ref().and_then(|e| e.client_broker.as_deref())
            && !CLIENT_BROKER_MODES.contains(&mode)
        {
            return Err(ProviderError::Invalid(format!(
                "{what}: encryption_info.client_broker must be one of {}, not \"{mode}\"",
                CLIENT_BROKER_MODES.join(", ")
            )));
        }
        let client_auth = block(&map, "client_authentication").map(|auth| ClientAuthSpec {
            sasl_iam: boolean(&auth, "sasl_iam"),
            sasl_scram: boolean(&auth, "sasl_scram"),
            tls_certificate_authorities: strings(&auth, "tls_certificate_authority_arns"),
            unauthenticated: boolean(&auth, "unauthenticated"),
        });
        let enhanced_monitoring = text(&map, "enhanced_monitoring");
        if let Some(level) = enhanced_monitoring.as_deref()
            && !MONITORING_LEVELS.contains(&level)
        {
            return Err(ProviderError::Invalid(format!(
                "{what}: enhanced_monitoring must be one of {}, not \"{level}\"",
                MONITORING_LEVELS.join(", ")
            )));
        }
        Ok(ClusterSpec {
            name: required_text(&map, "cluster_name", what)?,
            kafka_version: required_text(&map, "kafka_version", what)?,
            broker_count: whole(&map, "number_of_broker_nodes", what)?.ok_or_else(|| {
                ProviderError::Invalid(format!("{what}: number_of_broker_nodes is required"))
            })?,
            instance_type: required_text(&nodes, "instance_type", "broker_node_group_info")?,
            client_subnets: strings(&nodes, "client_subnets").unwrap_or_default(),
            security_groups: strings(&nodes, "security_groups"),
            storage_gb: whole(&nodes, "storage_gb", "broker_node_group_info")?,
            configuration,
            encryption,
            client_auth,
            enhanced_monitoring,
            tags: string_map(&map, "tags"),
        })
    }

    /// What a described cluster is, in the same terms.
    fn from_cluster(cluster: &Cluster) -> ProviderResult<Self> {
        let arn = cluster.cluster_arn().unwrap_or("the cluster");
        let provisioned = cluster.provisioned().ok_or_else(|| {
            ProviderError::Failed(format!(
                "{arn} is not a provisioned cluster (serverless clusters are not supported)"
            ))
        })?;
        let nodes = provisioned.broker_node_group_info();
        let software = provisioned.current_broker_software_info();
        let encryption = provisioned.encryption_info().map(|info| EncryptionSpec {
            at_rest_kms_key: info
                .encryption_at_rest()
                .and_then(|rest| rest.data_volume_kms_key_id())
                .map(str::to_owned),
            client_broker: info
                .encryption_in_transit()
                .and_then(|transit| transit.client_broker())
                .map(|mode| mode.as_str().to_owned()),
            in_cluster: info
                .encryption_in_transit()
                .and_then(|transit| transit.in_cluster()),
        });
        let client_auth = provisioned.client_authentication().map(|auth| {
            let sasl = auth.sasl();
            ClientAuthSpec {
                sasl_iam: Some(
                    sasl.and_then(|s| s.iam())
                        .and_then(|i| i.enabled())
                        .unwrap_or(false),
                ),
                sasl_scram: Some(
                    sasl.and_then(|s| s.scram())
                        .and_then(|s| s.enabled())
                        .unwrap_or(false),
                ),
                tls_certificate_authorities: Some(
                    auth.tls()
                        .map(|tls| tls.certificate_authority_arn_list().to_vec())
                        .unwrap_or_default(),
                ),
                unauthenticated: Some(
                    auth.unauthenticated()
                        .and_then(|u| u.enabled())
                        .unwrap_or(false),
                ),
            }
        });
        Ok(ClusterSpec {
            name: cluster.cluster_name().unwrap_or_default().to_owned(),
            kafka_version: software
                .and_then(|s| s.kafka_version())
                .unwrap_or_default()
                .to_owned(),
            broker_count: provisioned.number_of_broker_nodes().unwrap_or(0),
            instance_type: nodes
                .and_then(|n| n.instance_type())
                .unwrap_or_default()
                .to_owned(),
            client_subnets: nodes
                .map(|n| n.client_subnets().to_vec())
                .unwrap_or_default(),
            security_groups: nodes.map(|n| n.security_groups().to_vec()),
            storage_gb: nodes
                .and_then(|n| n.storage_info())
                .and_then(|s| s.ebs_storage_info())
                .and_then(|e| e.volume_size()),
            configuration: software
                .and_then(|s| s.configuration_arn())
                .filter(|arn| !arn.is_empty())
                .map(|arn| {
                    (
                        arn.to_owned(),
                        software.and_then(|s| s.configuration_revision()),
                    )
                }),
            encryption,
            client_auth,
            enhanced_monitoring: provisioned
                .enhanced_monitoring()
                .map(|level| level.as_str().to_owned()),
            tags: Some(
                cluster
                    .tags()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        })
    }

    fn broker_node_group_info(&self) -> BrokerNodeGroupInfo {
        let mut info = BrokerNodeGroupInfo::builder().instance_type(&self.instance_type);
        for subnet in &self.client_subnets {
            info = info.client_subnets(subnet);
        }
        for group in self.security_groups.iter().flatten() {
            info = info.security_groups(group);
        }
        if let Some(size) = self.storage_gb {
            info = info.storage_info(
                StorageInfo::builder()
                    .ebs_storage_info(EbsStorageInfo::builder().volume_size(size).build())
                    .build(),
            );
        }
        info.build()
    }

    fn encryption_info(&self) -> Option<EncryptionInfo> {
        let encryption = self.encryption.as_ref()?;
        let mut info = EncryptionInfo::builder();
        if let Some(key) = &encryption.at_rest_kms_key {
            info = info.encryption_at_rest(
                EncryptionAtRest::builder()
                    .data_volume_kms_key_id(key)
                    .build(),
            );
        }
        if encryption.client_broker.is_some() || encryption.in_cluster.is_some() {
            let mut transit = EncryptionInTransit::builder();
            if let Some(mode) = &encryption.client_broker {
                transit = transit.client_broker(ClientBroker::from(mode.as_str()));
            }
            if let Some(in_cluster) = encryption.in_cluster {
                transit = transit.in_cluster(in_cluster);
            }
            info = info.encryption_in_transit(transit.build());
        }
        Some(info.build())
    }

    /// The attributes of this spec; `live` adds what only a live cluster has (ARN, version,
    /// state, bootstrap strings).
    fn to_value(&self, live: Option<&LiveDetails>, timeouts: Value) -> Value {
        let mut object = BTreeMap::new();
        object.insert("cluster_name".to_owned(), Value::string(&self.name));
        object.insert(
            "kafka_version".to_owned(),
            Value::string(&self.kafka_version),
        );
        object.insert(
            "number_of_broker_nodes".to_owned(),
            Value::int(i64::from(self.broker_count)),
        );
        object.insert(
            "broker_node_group_info".to_owned(),
            Value::Map(BTreeMap::from([
                (
                    "instance_type".to_owned(),
                    Value::string(&self.instance_type),
                ),
                (
                    "client_subnets".to_owned(),
                    string_list(self.client_subnets.iter().cloned()),
                ),
                (
                    "security_groups".to_owned(),
                    self.security_groups
                        .clone()
                        .map_or(Value::Null, string_list),
                ),
                (
                    "storage_gb".to_owned(),
                    self.storage_gb
                        .map_or(Value::Null, |size| Value::int(i64::from(size))),
                ),
            ])),
        );
        let (arn, revision) = match &self.configuration {
            Some((arn, revision)) => (Value::string(arn), revision.map_or(Value::Null, Value::int)),
            None => (Value::Null, Value::Null),
        };
        object.insert("configuration_arn".to_owned(), arn);
        object.insert("configuration_revision".to_owned(), revision);
        object.insert(
            "encryption_info".to_owned(),
            self.encryption.as_ref().map_or(Value::Null, |encryption| {
                Value::Map(BTreeMap::from([
                    (
                        "encryption_at_rest_kms_key_arn".to_owned(),
                        string_value(encryption.at_rest_kms_key.clone()),
                    ),
                    (
                        "client_broker".to_owned(),
                        string_value(encryption.client_broker.clone()),
                    ),
                    (
                        "in_cluster".to_owned(),
                        encryption.in_cluster.map_or(Value::Null, Value::Bool),
                    ),
                ]))
            }),
        );
        object.insert(
            "client_authentication".to_owned(),
            self.client_auth
                .as_ref()
                .map_or(Value::Null, ClientAuthSpec::to_value),
        );
        object.insert(
            "enhanced_monitoring".to_owned(),
            string_value(self.enhanced_monitoring.clone()),
        );
        object.insert(
            "tags".to_owned(),
            self.tags.clone().map_or(Value::Null, |tags| {
                Value::Map(
                    tags.into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect(),
                )
            }),
        );
        object.insert("timeouts".to_owned(), timeouts);
        if let Some(live) = live {
            live.insert_into(&mut object);
        }
        Value::Map(object)
    }
}

/// What only a live cluster has: identity, version, state and connection strings.
#[derive(Debug, Clone, Default)]
struct LiveDetails {
    arn: Option<String>,
    current_version: Option<String>,
    state: Option<String>,
    bootstrap_brokers: Option<String>,
    bootstrap_brokers_tls: Option<String>,
    bootstrap_brokers_sasl_iam: Option<String>,
    bootstrap_brokers_sasl_scram: Option<String>,
    zookeeper_connect_string: Option<String>,
}

impl LiveDetails {
    /// What `cluster` (as DescribeClusterV2 gave it) has live, with its bootstrap strings
    /// (GetBootstrapBrokers, asked only once the cluster has brokers).
    async fn of(clients: &Clients, cluster: &Cluster) -> ProviderResult<Self> {
        let arn = cluster.cluster_arn().unwrap_or_default().to_owned();
        let state = cluster.state().map(|s| s.as_str().to_owned());
        let mut live = LiveDetails {
            arn: Some(arn.clone()),
            current_version: cluster.current_version().map(str::to_owned),
            state: state.clone(),
            zookeeper_connect_string: cluster
                .provisioned()
                .and_then(|p| p.zookeeper_connect_string())
                .map(str::to_owned),
            ..LiveDetails::default()
        };
        let has_brokers = !matches!(state.as_deref(), Some("CREATING") | Some("FAILED") | None);
        if has_brokers {
            let brokers = clients
                .kafka
                .get_bootstrap_brokers()
                .cluster_arn(&arn)
                .send()
                .await
                .map_err(|error| {
                    aws_error(&format!("reading the bootstrap brokers of {arn}"), error)
                })?;
            live.bootstrap_brokers = brokers.bootstrap_broker_string().map(str::to_owned);
            live.bootstrap_brokers_tls = brokers.bootstrap_broker_string_tls().map(str::to_owned);
            live.bootstrap_brokers_sasl_iam = brokers
                .bootstrap_broker_string_sasl_iam()
                .map(str::to_owned);
            live.bootstrap_brokers_sasl_scram = brokers
                .bootstrap_broker_string_sasl_scram()
                .map(str::to_owned);
        }
        Ok(live)
    }

    /// Adds these details to a cluster's attributes (null where MSK gives none).
    fn insert_into(&self, object: &mut BTreeMap<String, Value>) {
        for (name, value) in [
            ("arn", &self.arn),
            ("current_version", &self.current_version),
            ("state", &self.state),
            ("bootstrap_brokers", &self.bootstrap_brokers),
            ("bootstrap_brokers_tls", &self.bootstrap_brokers_tls),
            (
                "bootstrap_brokers_sasl_iam",
                &self.bootstrap_brokers_sasl_iam,
            ),
            (
                "bootstrap_brokers_sasl_scram",
                &self.bootstrap_brokers_sasl_scram,
            ),
            ("zookeeper_connect_string", &self.zookeeper_connect_string),
        ] {
            object.insert(name.to_owned(), string_value(value.clone()));
        }
    }
}

/// One MSK update operation.
#[derive(Debug, Clone, PartialEq)]
enum Operation {
    KafkaVersion {
        version: String,
        configuration: Option<(String, i64)>,
    },
    Configuration(String, i64),
    BrokerCount(i32),
    Storage(i32),
    BrokerType(String),
    Security,
    Monitoring(String),
}

impl Operation {
    fn describe(&self) -> String {
        match self {
            Operation::KafkaVersion { version, .. } => format!("upgrading Kafka to {version}"),
            Operation::Configuration(arn, revision) => {
                format!("applying configuration {arn} revision {revision}")
            }
            Operation::BrokerCount(count) => format!("changing the broker count to {count}"),
            Operation::Storage(size) => format!("growing broker storage to {size} GiB"),
            Operation::BrokerType(kind) => format!("changing the broker type to {kind}"),
            Operation::Security => "changing client authentication and encryption".to_owned(),
            Operation::Monitoring(level) => format!("setting enhanced monitoring to {level}"),
        }
    }
}

/// The next operation that brings `live` closer to `desired` (whose configuration revision is
/// resolved), in MSK's safe order: software first, then capacity, then security, monitoring.
fn next_operation(live: &ClusterSpec, desired: &ClusterSpec) -> Option<Operation> {
    let wanted_configuration = desired
        .configuration
        .as_ref()
        .and_then(|(arn, revision)| revision.map(|revision| (arn.clone(), revision)));
    let live_configuration = live
        .configuration
        .as_ref()
        .map(|(arn, revision)| (arn.clone(), revision.unwrap_or(0)));
    let configuration_changes =
        wanted_configuration.is_some() && wanted_configuration != live_configuration;
    if desired.kafka_version != live.kafka_version {
        return Some(Operation::KafkaVersion {
            version: desired.kafka_version.clone(),
            configuration: wanted_configuration.filter(|_| configuration_changes),
        });
    }
    if configuration_changes && let Some((arn, revision)) = wanted_configuration {
        return Some(Operation::Configuration(arn, revision));
    }
    if desired.broker_count != live.broker_count {
        return Some(Operation::BrokerCount(desired.broker_count));
    }
    if let Some(size) = desired.storage_gb
        && Some(size) != live.storage_gb
    {
        return Some(Operation::Storage(size));
    }
    if desired.instance_type != live.instance_type {
        return Some(Operation::BrokerType(desired.instance_type.clone()));
    }
    let auth_changes = desired.client_auth.as_ref().is_some_and(|want| {
        !want.satisfied_by(
            live.client_auth
                .as_ref()
                .unwrap_or(&ClientAuthSpec::default()),
        )
    });
    let client_broker_changes = desired
        .encryption
        .as_ref()
        .and_then(|e| e.client_broker.as_ref())
        .is_some_and(|want| {
            live.encryption
                .as_ref()
                .and_then(|e| e.client_broker.as_ref())
                != Some(want)
        });
    if auth_changes || client_broker_changes {
        return Some(Operation::Security);
    }
    if let Some(level) = &desired.enhanced_monitoring
        && Some(level) != live.enhanced_monitoring.as_ref()
    {
        return Some(Operation::Monitoring(level.clone()));
    }
    None
}

/// The names of the settings that differ between `prior` and `planned` and that MSK cannot
/// change in place.
fn replacement_reasons(prior: &ClusterSpec, planned: &ClusterSpec) -> Vec<String> {
    let mut reasons = Vec::new();
    if !planned.client_subnets.is_empty() && planned.client_subnets != prior.client_subnets {
        reasons.push("broker_node_group_info.client_subnets".to_owned());
    }
    if planned.security_groups.is_some()
        && prior.security_groups.is_some()
        && planned.security_groups != prior.security_groups
    {
        reasons.push("broker_node_group_info.security_groups".to_owned());
    }
    let (before, after) = (
        prior.encryption.clone().unwrap_or_default(),
        planned.encryption.clone().unwrap_or_default(),
    );
    if after.at_rest_kms_key.is_some()
        && before.at_rest_kms_key.is_some()
        && after.at_rest_kms_key != before.at_rest_kms_key
    {
        reasons.push("encryption_info.encryption_at_rest_kms_key_arn".to_owned());
    }
    if after.in_cluster.is_some()
        && before.in_cluster.is_some()
        && after.in_cluster != before.in_cluster
    {
        reasons.push("encryption_info.in_cluster".to_owned());
    }
    reasons
}

pub struct MskCluster {
    aws: Arc<Aws>,
    schema: Schema,
}

/// The described cluster, or `None` when it does not exist.
async fn describe_cluster(clients: &Clients, arn: &str) -> ProviderResult<Option<Cluster>> {
    match clients
        .kafka
        .describe_cluster_v2()
        .cluster_arn(arn)
        .send()
        .await
    {
        Ok(described) => Ok(described.cluster_info().cloned()),
        Err(error) if is_not_found(&error) => Ok(None),
        Err(error) => Err(aws_error(&format!("reading MSK cluster {arn}"), error)),
    }
}

/// The ARN (and operation ARN) recorded before a wait.
fn handle_arn(handle: Option<&serde_json::Value>, key: &str) -> Option<String> {
    handle
        .and_then(|handle| handle.get(key))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

impl MskCluster {
    pub fn new(aws: Arc<Aws>) -> Self {
        MskCluster {
            aws,
            schema: cluster_schema(),
        }
    }

    /// The cluster's attributes: the described settings plus bootstrap strings (read once the
    /// cluster has brokers), with the settings `config` leaves unset left unset.
    async fn attributes_of(
        &self,
        clients: &Clients,
        cluster: &Cluster,
        config: &Value,
    ) -> ProviderResult<Value> {
        let spec = ClusterSpec::from_cluster(cluster)?;
        let live = LiveDetails::of(clients, cluster).await?;
        let timeouts = attributes(config)
            .get("timeouts")
            .cloned()
            .unwrap_or(Value::Null);
        let value = spec.to_value(Some(&live), timeouts);
        Ok(if config.as_map().is_some() {
            keep_unset(config, value)
        } else {
            value
        })
    }

    /// Waits until the cluster is ACTIVE; a FAILED cluster or one that disappears is an error.
    async fn wait_active(
        &self,
        context: &ProviderContext,
        clients: &Clients,
        arn: &str,
        what: &str,
        timeout: Duration,
    ) -> ProviderResult<Cluster> {
        wait_until(
            context,
            what,
            timeout,
            clients.settings.poll_interval,
            || async {
                let cluster = describe_cluster(clients, arn).await?.ok_or_else(|| {
                    ProviderError::Failed(format!("{what}: the cluster {arn} no longer exists"))
                })?;
                match cluster.state() {
                    Some(ClusterState::Active) => Ok(Poll::Done(cluster)),
                    Some(ClusterState::Failed) => {
                        let info = cluster
                            .state_info()
                            .map(|info| {
                                format!(
                                    " ({}: {})",
                                    info.code().unwrap_or("no code"),
                                    info.message().unwrap_or("no message")
                                )
                            })
                            .unwrap_or_default();
                        Err(ProviderError::Failed(format!(
                            "{what}: the cluster {arn} is FAILED{info}"
                        )))
                    }
                    state => Ok(Poll::Waiting(
                        state.map_or("no state".to_owned(), |s| s.as_str().to_owned()),
                    )),
                }
            },
        )
        .await
    }

    /// Waits until an update operation is complete.
    async fn wait_operation(
        &self,
        context: &ProviderContext,
        clients: &Clients,
        operation_arn: &str,
        what: &str,
        timeout: Duration,
    ) -> ProviderResult<()> {
        wait_until(
            context,
            what,
            timeout,
            clients.settings.poll_interval,
            || async {
                let described = clients
                    .kafka
                    .describe_cluster_operation_v2()
                    .cluster_operation_arn(operation_arn)
                    .send()
                    .await
                    .map_err(|error| aws_error(what, error))?;
                let operation = described.cluster_operation_info().ok_or_else(|| {
                    ProviderError::Failed(format!(
                        "{what}: the operation {operation_arn} is not described"
                    ))
                })?;
                match operation.operation_state() {
                    Some("UPDATE_COMPLETE") => Ok(Poll::Done(())),
                    Some(state @ ("UPDATE_FAILED" | "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED")) => {
                        let error = operation
                            .error_info()
                            .map(|info| {
                                format!(
                                    ": {} {}",
                                    info.error_code().unwrap_or_default(),
                                    info.error_string().unwrap_or_default()
                                )
                            })
                            .unwrap_or_default();
                        Err(ProviderError::Failed(format!(
                            "{what}: the operation {operation_arn} ended {state}{error}"
                        )))
                    }
                    state => {
                        let step = operation
                            .provisioned()
                            .and_then(|p| {
                                p.operation_steps().iter().find(|step| {
                                    step.step_info()
                                        .and_then(|info| info.step_status())
                                        .is_some_and(|status| status == "IN_PROGRESS")
                                })
                            })
                            .and_then(|step| step.step_name())
                            .map(|name| format!(" ({name})"))
                            .unwrap_or_default();
                        Ok(Poll::Waiting(format!(
                            "{}{step}",
                            state.unwrap_or("UPDATE_IN_PROGRESS")
                        )))
                    }
                }
            },
        )
        .await
    }

    /// `spec` with its configuration revision resolved: the latest one when unset.
    async fn resolve_revision(
        &self,
        clients: &Clients,
        mut spec: ClusterSpec,
    ) -> ProviderResult<ClusterSpec> {
        if let Some((arn, revision @ None)) = &mut spec.configuration {
            let described = clients
                .kafka
                .describe_configuration()
                .arn(arn.as_str())
                .send()
                .await
                .map_err(|error| aws_error(&format!("reading MSK configuration {arn}"), error))?;
            *revision = described.latest_revision().and_then(|r| r.revision());
            if revision.is_none() {
                return Err(ProviderError::Failed(format!(
                    "MSK configuration {arn} has no revision"
                )));
            }
        }
        Ok(spec)
    }

    /// Starts one update operation; returns its ARN.
    async fn start(
        &self,
        clients: &Clients,
        arn: &str,
        current_version: &str,
        operation: &Operation,
        desired: &ClusterSpec,
    ) -> ProviderResult<String> {
        let what = format!("{} of MSK cluster {}", operation.describe(), desired.name);
        let kafka = &clients.kafka;
        let operation_arn = match operation {
            Operation::KafkaVersion {
                version,
                configuration,
            } => {
                let mut request = kafka
                    .update_cluster_kafka_version()
                    .cluster_arn(arn)
                    .current_version(current_version)
                    .target_kafka_version(version);
                if let Some((configuration_arn, revision)) = configuration {
                    request = request.configuration_info(
                        ConfigurationInfo::builder()
                            .arn(configuration_arn)
                            .revision(*revision)
                            .build(),
                    );
                }
                request
                    .send()
                    .await
                    .map_err(|e| aws_error(&what, e))?
                    .cluster_operation_arn()
                    .map(str::to_owned)
            }
            Operation::Configuration(configuration_arn, revision) => kafka
                .update_cluster_configuration()
                .cluster_arn(arn)
                .current_version(current_version)
                .configuration_info(
                    ConfigurationInfo::builder()
                        .arn(configuration_arn)
                        .revision(*revision)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws_error(&what, e))?
                .cluster_operation_arn()
                .map(str::to_owned),
            Operation::BrokerCount(count) => kafka
                .update_broker_count()
                .cluster_arn(arn)
                .current_version(current_version)
                .target_number_of_broker_nodes(*count)
                .send()
                .await
                .map_err(|e| aws_error(&what, e))?
                .cluster_operation_arn()
                .map(str::to_owned),
            Operation::Storage(size) => kafka
                .update_broker_storage()
                .cluster_arn(arn)
                .current_version(current_version)
                .target_broker_ebs_volume_info(
                    BrokerEbsVolumeInfo::builder()
                        .kafka_broker_node_id("All")
                        .volume_size_gb(*size)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws_error(&what, e))?
                .cluster_operation_arn()
                .map(str::to_owned),
            Operation::BrokerType(kind) => kafka
                .update_broker_type()
                .cluster_arn(arn)
                .current_version(current_version)
                .target_instance_type(kind)
                .send()
                .await
                .map_err(|e| aws_error(&what, e))?
                .cluster_operation_arn()
                .map(str::to_owned),
            Operation::Security => {
                let mut request = kafka
                    .update_security()
                    .cluster_arn(arn)
                    .current_version(current_version);
                if let Some(auth) = &desired.client_auth {
                    request = request.client_authentication(auth.to_sdk());
                }
                if let Some(mode) = desired
                    .encryption
                    .as_ref()
                    .and_then(|e| e.client_broker.as_deref())
                {
                    request = request.encryption_info(
                        EncryptionInfo::builder()
                            .encryption_in_transit(
                                EncryptionInTransit::builder()
                                    .client_broker(ClientBroker::from(mode))
                                    .build(),
                            )
                            .build(),
                    );
                }
                request
                    .send()
                    .await
                    .map_err(|e| aws_error(&what, e))?
                    .cluster_operation_arn()
                    .map(str::to_owned)
            }
            Operation::Monitoring(level) => kafka
                .update_monitoring()
                .cluster_arn(arn)
                .current_version(current_version)
                .enhanced_monitoring(EnhancedMonitoring::from(level.as_str()))
                .send()
                .await
                .map_err(|e| aws_error(&what, e))?
                .cluster_operation_arn()
                .map(str::to_owned),
        };
        operation_arn
            .ok_or_else(|| ProviderError::Failed(format!("{what}: MSK returned no operation ARN")))
    }

    async fn update_tags(
        &self,
        clients: &Clients,
        arn: &str,
        live: &ClusterSpec,
        desired: &ClusterSpec,
    ) -> ProviderResult<()> {
        let Some(wanted) = &desired.tags else {
            return Ok(());
        };
        let (removed, set) = tag_changes(live.tags.as_ref().unwrap_or(&BTreeMap::new()), wanted);
        if !removed.is_empty() {
            let mut request = clients.kafka.untag_resource().resource_arn(arn);
            for key in removed {
                request = request.tag_keys(key);
            }
            request
                .send()
                .await
                .map_err(|e| aws_error(&format!("removing tags of MSK cluster {arn}"), e))?;
        }
        if !set.is_empty() {
            let mut request = clients.kafka.tag_resource().resource_arn(arn);
            for (key, value) in set {
                request = request.tags(key, value);
            }
            request
                .send()
                .await
                .map_err(|e| aws_error(&format!("tagging MSK cluster {arn}"), e))?;
        }
        Ok(())
    }
}

impl ResourceType for MskCluster {
    fn type_name(&self) -> &'static str {
        "aws_msk_cluster"
    }

    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Checks what the service would refuse (shrinking storage, bad timeouts) and marks what
    /// an update changes: `current_version` always, the configuration revision when the
    /// configuration ARN changes and the revision is left to default.
    fn plan(&self, prior: Option<&Value>, planned: Value) -> ProviderResult<Value> {
        let mut object = attributes(&planned);
        Timeouts::of(&object, CLUSTER_TIMEOUTS)?;
        let Some(prior) = prior else {
            return Ok(Value::Map(object));
        };
        let before = attributes(prior);
        let size = |map: &BTreeMap<String, Value>| {
            block(map, "broker_node_group_info").and_then(|b| integer(&b, "storage_gb"))
        };
        if let (Some(old), Some(new)) = (size(&before), size(&object))
            && new < old
        {
            return Err(ProviderError::Invalid(format!(
                "broker_node_group_info.storage_gb cannot shrink from {old} to {new} GiB: MSK only grows broker storage; keep {old} or replace the cluster"
            )));
        }
        let settable = self
            .schema
            .attributes
            .iter()
            .filter(|a| a.settable())
            .map(|a| a.name)
            .chain([
                "broker_node_group_info",
                "encryption_info",
                "client_authentication",
            ]);
        let changed = settable.into_iter().any(|name| {
            let new = object.get(name).unwrap_or(&Value::Null);
            !new.is_unknown()
                && !crate::config::eval::values_equal(before.get(name).unwrap_or(&Value::Null), new)
        });
        if changed {
            object.insert("current_version".to_owned(), Value::Unknown);
        }
        Ok(Value::Map(object))
    }

    fn requires_replace(&self, prior: &Value, planned: &Value) -> Vec<String> {
        match (
            ClusterSpec::from_value(prior),
            ClusterSpec::from_value(planned),
        ) {
            (Ok(prior), Ok(planned)) => replacement_reasons(&prior, &planned),
            _ => Vec::new(),
        }
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>> {
        Box::pin(async move {
            let arn = required_text(&attributes(prior), "arn", "reading aws_msk_cluster")?;
            let clients = self.aws.clients(context).await?;
            let Some(cluster) = describe_cluster(&clients, &arn).await? else {
                return Ok(None);
            };
            if cluster.state() == Some(&ClusterState::Deleting) {
                return Ok(None);
            }
            self.attributes_of(&clients, &cluster, prior)
                .await
                .map(Some)
        })
    }

    fn create<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let object = attributes(planned);
            let timeouts = Timeouts::of(&object, CLUSTER_TIMEOUTS)?;
            let clients = self.aws.clients(context).await?;
            let spec = self
                .resolve_revision(&clients, ClusterSpec::from_value(planned)?)
                .await?;
            let resumed = handle_arn(context.resumed.as_ref(), "arn");
            let resumed = match resumed {
                Some(arn) => match describe_cluster(&clients, &arn).await? {
                    Some(cluster) if cluster.state() != Some(&ClusterState::Deleting) => {
                        (context.progress)(&format!(
                            "resuming the wait for {arn}, created by an interrupted run"
                        ));
                        Some(arn)
                    }
                    _ => {
                        (context.progress)(&format!(
                            "{arn}, created by an interrupted run, no longer exists: creating the cluster again"
                        ));
                        None
                    }
                },
                None => None,
            };
            let arn = match resumed {
                Some(arn) => arn,
                None => {
                    let mut provisioned = ProvisionedRequest::builder()
                        .broker_node_group_info(spec.broker_node_group_info())
                        .kafka_version(&spec.kafka_version)
                        .number_of_broker_nodes(spec.broker_count);
                    if let Some((arn, Some(revision))) = &spec.configuration {
                        provisioned = provisioned.configuration_info(
                            ConfigurationInfo::builder()
                                .arn(arn)
                                .revision(*revision)
                                .build(),
                        );
                    }
                    if let Some(encryption) = spec.encryption_info() {
                        provisioned = provisioned.encryption_info(encryption);
                    }
                    if let Some(auth) = &spec.client_auth {
                        provisioned = provisioned.client_authentication(auth.to_sdk());
                    }
                    if let Some(level) = &spec.enhanced_monitoring {
                        provisioned = provisioned
                            .enhanced_monitoring(EnhancedMonitoring::from(level.as_str()));
                    }
                    let mut request = clients
                        .kafka
                        .create_cluster_v2()
                        .cluster_name(&spec.name)
                        .provisioned(provisioned.build());
                    for (key, value) in spec.tags.iter().flatten() {
                        request = request.tags(key, value);
                    }
                    let created = request.send().await.map_err(|error| {
                        aws_error(&format!("creating MSK cluster {}", spec.name), error)
                    })?;
                    let arn = created.cluster_arn().map(str::to_owned).ok_or_else(|| {
                        ProviderError::Failed(format!(
                            "creating MSK cluster {}: the answer has no ARN",
                            spec.name
                        ))
                    })?;
                    context
                        .intent
                        .record(
                            serde_json::json!({ "arn": arn }),
                            format!("creating MSK cluster {} ({arn})", spec.name),
                        )
                        .await
                        .map_err(|error| {
                            ProviderError::Failed(format!(
                                "MSK cluster {arn} is being created but its ARN could not be recorded in state ({error}); import it with `cutover import` once it is ACTIVE"
                            ))
                        })?;
                    arn
                }
            };
            let what = format!("creating MSK cluster {}", spec.name);
            let cluster = self
                .wait_active(context, &clients, &arn, &what, timeouts.create)
                .await?;
            // A revision the configuration leaves unset stays unset (the latest was used).
            self.attributes_of(&clients, &cluster, planned).await
        })
    }

    fn update<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let arn = required_text(&attributes(prior), "arn", "updating aws_msk_cluster")?;
            let timeouts = Timeouts::of(&attributes(planned), CLUSTER_TIMEOUTS)?;
            let clients = self.aws.clients(context).await?;
            // An unset revision is resolved (to the latest) only when the configuration
            // changes; otherwise whatever revision the cluster runs is fine.
            let mut desired = ClusterSpec::from_value(planned)?;
            if let Some((configuration_arn, None)) = &desired.configuration
                && text(&attributes(prior), "configuration_arn").as_deref()
                    != Some(configuration_arn.as_str())
            {
                desired = self.resolve_revision(&clients, desired).await?;
            }
            let mut waiting_on = handle_arn(context.resumed.as_ref(), "operation_arn");
            let mut done = 0usize;
            let live = loop {
                if let Some(operation_arn) = waiting_on.take() {
                    let what = format!("updating MSK cluster {} ({operation_arn})", desired.name);
                    self.wait_operation(context, &clients, &operation_arn, &what, timeouts.update)
                        .await?;
                }
                let what = format!("updating MSK cluster {}", desired.name);
                let cluster = describe_cluster(&clients, &arn).await?.ok_or_else(|| {
                    ProviderError::Failed(format!("{what}: the cluster {arn} no longer exists"))
                })?;
                let cluster = match cluster.state() {
                    Some(ClusterState::Active) => cluster,
                    Some(ClusterState::Updating) if cluster.active_operation_arn().is_some() => {
                        // An operation runs (started by an earlier run, or by someone else):
                        // MSK takes one at a time.
                        waiting_on = cluster.active_operation_arn().map(str::to_owned);
                        (context.progress)(&format!(
                            "waiting for the running operation {} first",
                            waiting_on.as_deref().unwrap_or_default()
                        ));
                        continue;
                    }
                    _ => {
                        self.wait_active(context, &clients, &arn, &what, timeouts.update)
                            .await?
                    }
                };
                let live = ClusterSpec::from_cluster(&cluster)?;
                let Some(operation) = next_operation(&live, &desired) else {
                    break live;
                };
                if done == MAX_UPDATE_OPERATIONS {
                    return Err(ProviderError::Failed(format!(
                        "{what}: still not as configured after {done} operations (next: {}); is someone else changing the cluster?",
                        operation.describe()
                    )));
                }
                done += 1;
                let current_version = cluster.current_version().unwrap_or_default().to_owned();
                let operation_arn = self
                    .start(&clients, &arn, &current_version, &operation, &desired)
                    .await?;
                context
                    .intent
                    .record(
                        serde_json::json!({ "arn": arn, "operation_arn": operation_arn }),
                        format!(
                            "{} of MSK cluster {} ({operation_arn})",
                            operation.describe(),
                            desired.name
                        ),
                    )
                    .await
                    .map_err(ProviderError::Failed)?;
                (context.progress)(&operation.describe());
                waiting_on = Some(operation_arn);
            };
            self.update_tags(&clients, &arn, &live, &desired).await?;
            let cluster = describe_cluster(&clients, &arn).await?.ok_or_else(|| {
                ProviderError::Failed(format!("MSK cluster {arn} no longer exists"))
            })?;
            self.attributes_of(&clients, &cluster, planned).await
        })
    }

    fn delete<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move {
            let before = attributes(prior);
            let arn = text(&before, "arn")
                .or_else(|| handle_arn(context.resumed.as_ref(), "arn"))
                .ok_or_else(|| {
                    ProviderError::Failed(
                        "deleting aws_msk_cluster: neither state nor a recorded intent holds its ARN"
                            .to_owned(),
                    )
                })?;
            let timeouts = Timeouts::of(&before, CLUSTER_TIMEOUTS)?;
            let clients = self.aws.clients(context).await?;
            let Some(cluster) = describe_cluster(&clients, &arn).await? else {
                return Ok(());
            };
            let name = cluster.cluster_name().unwrap_or(&arn).to_owned();
            if cluster.state() != Some(&ClusterState::Deleting) {
                let mut request = clients.kafka.delete_cluster().cluster_arn(&arn);
                if let Some(version) = cluster.current_version() {
                    request = request.current_version(version);
                }
                match request.send().await {
                    Ok(_) => {}
                    Err(error) if is_not_found(&error) => return Ok(()),
                    Err(error) => {
                        return Err(aws_error(&format!("deleting MSK cluster {name}"), error));
                    }
                }
                context
                    .intent
                    .record(
                        serde_json::json!({ "arn": arn }),
                        format!("deleting MSK cluster {name} ({arn})"),
                    )
                    .await
                    .map_err(ProviderError::Failed)?;
            }
            let what = format!("deleting MSK cluster {name}");
            wait_until(
                context,
                &what,
                timeouts.delete,
                clients.settings.poll_interval,
                || async {
                    match describe_cluster(&clients, &arn).await? {
                        None => Ok(Poll::Done(())),
                        Some(cluster) => match cluster.state() {
                            Some(ClusterState::Failed) => Err(ProviderError::Failed(format!(
                                "{what}: the cluster is FAILED instead of being deleted"
                            ))),
                            state => Ok(Poll::Waiting(
                                state.map_or("DELETING".to_owned(), |s| s.as_str().to_owned()),
                            )),
                        },
                    }
                },
            )
            .await
        })
    }

    fn import<'a>(
        &'a self,
        context: &'a ProviderContext,
        id: &'a str,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            if !id.starts_with("arn:") {
                return Err(ProviderError::Invalid(format!(
                    "import an aws_msk_cluster by its ARN (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/ID), not \"{id}\""
                )));
            }
            let clients = self.aws.clients(context).await?;
            let cluster = describe_cluster(&clients, id)
                .await?
                .ok_or_else(|| ProviderError::Failed(format!("there is no MSK cluster {id}")))?;
            let config = if config.as_map().is_some() {
                config.clone()
            } else {
                Value::Null
            };
            let value = self.attributes_of(&clients, &cluster, &config).await?;
            Ok(imported(&config, value))
        })
    }
}

// =============================================================================================
// data "aws_msk_cluster"

pub fn cluster_data_schema() -> Schema {
    Schema::new(
        [
            AttributeSchema::optional("arn", Type::String)
                .describe("the cluster's ARN; give either arn or cluster_name")
                .pattern(crate::config::validate::Pattern::Arn { service: "kafka" }),
            AttributeSchema::optional("cluster_name", Type::String).describe(
                "the cluster's exact name, which one cluster of the region must have; give either arn or cluster_name",
            ),
            AttributeSchema::computed("kafka_version", Type::String)
                .describe("the cluster's Kafka version"),
            AttributeSchema::computed("number_of_broker_nodes", Type::Number)
                .describe("how many brokers the cluster has"),
        ]
        .into_iter()
        .chain(live_attribute_schemas())
        .collect(),
        Vec::new(),
    )
    .exactly_one_of(&["arn", "cluster_name"])
}

/// `data "aws_msk_cluster"`: an existing cluster, by ARN or by name, read with the same
/// DescribeClusterV2 and GetBootstrapBrokers calls as the resource.
pub struct MskClusterData {
    aws: Arc<Aws>,
    schema: Schema,
}

impl MskClusterData {
    pub fn new(aws: Arc<Aws>) -> Self {
        MskClusterData {
            aws,
            schema: cluster_data_schema(),
        }
    }
}

/// How the configuration names the cluster.
enum ClusterLookup {
    Arn(String),
    Name(String),
}

impl ClusterLookup {
    fn of(map: &BTreeMap<String, Value>) -> ProviderResult<Self> {
        match (text(map, "arn"), text(map, "cluster_name")) {
            (Some(arn), None) if arn.starts_with("arn:") => Ok(ClusterLookup::Arn(arn)),
            (Some(arn), None) => Err(ProviderError::Invalid(format!(
                "data \"aws_msk_cluster\": arn must be an MSK cluster ARN (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/ID), not \"{arn}\""
            ))),
            (None, Some(name)) => Ok(ClusterLookup::Name(name)),
            _ => Err(ProviderError::Invalid(
                "data \"aws_msk_cluster\" needs exactly one of arn and cluster_name".to_owned(),
            )),
        }
    }
}

/// The ARN of the one cluster named exactly `name`. ListClustersV2's name filter matches
/// prefixes, so the exact name is checked here; clusters being deleted do not count.
async fn arn_of_cluster_named(clients: &Clients, name: &str) -> ProviderResult<String> {
    let listed = clients
        .kafka
        .list_clusters_v2()
        .cluster_name_filter(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|error| aws_error(&format!("listing MSK clusters named {name}"), error))?;
    let mut arns: Vec<String> = listed
        .iter()
        .filter(|cluster| {
            cluster.cluster_name() == Some(name) && cluster.state() != Some(&ClusterState::Deleting)
        })
        .filter_map(|cluster| cluster.cluster_arn().map(str::to_owned))
        .collect();
    match arns.len() {
        0 => Err(ProviderError::Failed(format!(
            "MSK cluster named \"{name}\" not found in {}; check the name (it must match exactly) and the provider \"aws\" region",
            clients.region
        ))),
        1 => Ok(arns.remove(0)),
        count => Err(ProviderError::Failed(format!(
            "{count} MSK clusters are named \"{name}\" ({}); give the arn of the one to read instead",
            arns.join(", ")
        ))),
    }
}

impl DataSourceType for MskClusterData {
    fn type_name(&self) -> &'static str {
        "aws_msk_cluster"
    }

    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let mut object = attributes(config);
            let lookup = ClusterLookup::of(&object)?;
            let clients = self.aws.clients(context).await?;
            let arn = match lookup {
                ClusterLookup::Arn(arn) => arn,
                ClusterLookup::Name(name) => arn_of_cluster_named(&clients, &name).await?,
            };
            let cluster = match describe_cluster(&clients, &arn).await? {
                None => {
                    return Err(ProviderError::Failed(format!(
                        "MSK cluster {arn} not found in {}; check the ARN and the provider \"aws\" region",
                        clients.region
                    )));
                }
                Some(cluster) if cluster.state() == Some(&ClusterState::Deleting) => {
                    return Err(ProviderError::Failed(format!(
                        "MSK cluster {arn} not found: it is being deleted"
                    )));
                }
                Some(cluster) => cluster,
            };
            let spec = ClusterSpec::from_cluster(&cluster)?;
            object.insert("cluster_name".to_owned(), Value::string(&spec.name));
            object.insert(
                "kafka_version".to_owned(),
                Value::string(&spec.kafka_version),
            );
            object.insert(
                "number_of_broker_nodes".to_owned(),
                Value::int(i64::from(spec.broker_count)),
            );
            LiveDetails::of(&clients, &cluster)
                .await?
                .insert_into(&mut object);
            Ok(Value::Map(object))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClusterSpec {
        ClusterSpec {
            name: "orders".into(),
            kafka_version: "3.9.x".into(),
            broker_count: 3,
            instance_type: "kafka.m5.large".into(),
            client_subnets: vec!["subnet-a".into(), "subnet-b".into(), "subnet-c".into()],
            security_groups: Some(vec!["sg-1".into()]),
            storage_gb: Some(1000),
            configuration: Some(("arn:conf".into(), Some(1))),
            encryption: None,
            client_auth: Some(ClientAuthSpec {
                sasl_iam: Some(true),
                ..ClientAuthSpec::default()
            }),
            enhanced_monitoring: Some("DEFAULT".into()),
            tags: None,
        }
    }

    #[test]
    fn operations_come_one_at_a_time_in_a_safe_order() {
        let live = spec();
        assert_eq!(next_operation(&live, &live), None);
        let mut desired = spec();
        desired.broker_count = 6;
        desired.instance_type = "kafka.m5.2xlarge".into();
        desired.configuration = Some(("arn:conf".into(), Some(2)));
        assert_eq!(
            next_operation(&live, &desired),
            Some(Operation::Configuration("arn:conf".into(), 2))
        );
        let mut step = live.clone();
        step.configuration = desired.configuration.clone();
        assert_eq!(
            next_operation(&step, &desired),
            Some(Operation::BrokerCount(6))
        );
        step.broker_count = 6;
        assert_eq!(
            next_operation(&step, &desired),
            Some(Operation::BrokerType("kafka.m5.2xlarge".into()))
        );
        desired.kafka_version = "4.0.x".into();
        assert_eq!(
            next_operation(&live, &desired),
            Some(Operation::KafkaVersion {
                version: "4.0.x".into(),
                configuration: Some(("arn:conf".into(), 2)),
            })
        );
    }

    #[test]
    fn unset_client_authentication_settings_are_not_managed() {
        let live = ClientAuthSpec {
            sasl_iam: Some(true),
            sasl_scram: Some(true),
            tls_certificate_authorities: Some(Vec::new()),
            unauthenticated: Some(false),
        };
        let want = ClientAuthSpec {
            sasl_iam: Some(true),
            ..ClientAuthSpec::default()
        };
        assert!(want.satisfied_by(&live));
        let want = ClientAuthSpec {
            sasl_scram: Some(false),
            ..ClientAuthSpec::default()
        };
        assert!(!want.satisfied_by(&live));
    }

    #[test]
    fn subnets_security_groups_and_encryption_force_replacement() {
        let prior = spec();
        assert!(replacement_reasons(&prior, &prior).is_empty());
        let mut planned = spec();
        planned.client_subnets.pop();
        planned.security_groups = Some(vec!["sg-2".into()]);
        planned.broker_count = 6;
        assert_eq!(
            replacement_reasons(&prior, &planned),
            vec![
                "broker_node_group_info.client_subnets",
                "broker_node_group_info.security_groups"
            ]
        );
        // Unset security groups are not managed: no replacement.
        planned = spec();
        planned.security_groups = None;
        assert!(replacement_reasons(&prior, &planned).is_empty());
    }

    #[test]
    fn plan_refuses_to_shrink_storage_and_marks_the_version_unknown() {
        let aws = Arc::new(Aws::new());
        let cluster = MskCluster::new(aws);
        let prior = spec().to_value(
            Some(&LiveDetails {
                arn: Some("arn:cluster".into()),
                current_version: Some("K1".into()),
                ..LiveDetails::default()
            }),
            Value::Null,
        );
        let mut smaller = spec();
        smaller.storage_gb = Some(500);
        let error = cluster
            .plan(Some(&prior), smaller.to_value(None, Value::Null))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "broker_node_group_info.storage_gb cannot shrink from 1000 to 500 GiB: MSK only grows broker storage; keep 1000 or replace the cluster"
        );
        let mut more = attributes(&prior);
        more.insert("number_of_broker_nodes".into(), Value::int(6));
        let planned = cluster.plan(Some(&prior), Value::Map(more)).unwrap();
        assert_eq!(attributes(&planned)["current_version"], Value::Unknown);
        let same = cluster.plan(Some(&prior), prior.clone()).unwrap();
        assert_eq!(attributes(&same)["current_version"], Value::string("K1"));
    }
}

#[cfg(test)]
mod mocked_errors {
    use aws_smithy_mocks::mock;

    use super::*;
    use crate::providers::aws::support::mocked;

    fn planned() -> Value {
        let mut spec = ClusterSpec {
            name: "orders".into(),
            kafka_version: "3.9.x".into(),
            broker_count: 3,
            instance_type: "kafka.m5.large".into(),
            client_subnets: vec!["subnet-a".into()],
            ..ClusterSpec::default()
        };
        spec.configuration = None;
        spec.to_value(None, Value::Null)
    }

    #[tokio::test]
    async fn throttling_is_retried_then_explained() {
        let throttled = mock!(aws_sdk_kafka::Client::create_cluster_v2)
            .sequence()
            .http_status(
                429,
                Some(
                    r#"{"__type":"TooManyRequestsException","message":"Too Many Requests"}"#.into(),
                ),
            )
            .times(mocked::ATTEMPTS as usize)
            .build();
        let aws = mocked::aws(mocked::clients(&[&throttled], &[], &[])).await;
        let cluster = MskCluster::new(aws);
        let error = cluster
            .create(&mocked::context(), &planned())
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "creating MSK cluster orders: AWS throttled the request (TooManyRequestsException: Too Many Requests) and it was still throttled after the SDK's retries; wait and apply again, lower -parallelism, or raise max_attempts in the provider \"aws\" block"
        );
        assert_eq!(throttled.num_calls(), mocked::ATTEMPTS as usize, "retried");
    }

    #[tokio::test]
    async fn a_stale_current_version_is_a_conflict_that_asks_for_a_new_plan() {
        let described = mock!(aws_sdk_kafka::Client::describe_cluster_v2)
            .sequence()
            .http_status(
                200,
                Some(r#"{"clusterInfo":{"clusterArn":"arn:aws:kafka:us-east-1:123456789012:cluster/orders/1","clusterName":"orders","clusterType":"PROVISIONED","state":"ACTIVE","currentVersion":"K1","provisioned":{"brokerNodeGroupInfo":{"clientSubnets":["subnet-a"],"instanceType":"kafka.m5.large"},"currentBrokerSoftwareInfo":{"kafkaVersion":"3.9.x"},"numberOfBrokerNodes":3}}}"#.into()),
            )
            .build();
        let conflict = mock!(aws_sdk_kafka::Client::update_broker_count)
            .sequence()
            .http_status(
                409,
                Some(r#"{"__type":"ConflictException","message":"The cluster's current version K1 is not the latest version K2."}"#.into()),
            )
            .build();
        let aws = mocked::aws(mocked::clients(&[&described, &conflict], &[], &[])).await;
        let cluster = MskCluster::new(aws);
        let mut prior = attributes(&planned());
        prior.insert(
            "arn".into(),
            Value::string("arn:aws:kafka:us-east-1:123456789012:cluster/orders/1"),
        );
        let mut wanted = prior.clone();
        wanted.insert("number_of_broker_nodes".into(), Value::int(6));
        let error = cluster
            .update(&mocked::context(), &Value::Map(prior), &Value::Map(wanted))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "changing the broker count to 6 of MSK cluster orders: the object was changed by someone else meanwhile (ConflictException: The cluster's current version K1 is not the latest version K2.); run plan again to see its current state"
        );
        assert_eq!(conflict.num_calls(), 1, "a conflict is not retried");
    }

    fn lookup(pairs: &[(&str, &str)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), Value::string(*value)))
                .collect(),
        )
    }

    async fn read_data(kafka: &[&aws_smithy_mocks::Rule], config: Value) -> ProviderError {
        let aws = mocked::aws(mocked::clients(kafka, &[], &[])).await;
        MskClusterData::new(aws)
            .read(&mocked::context(), &config)
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_missing_cluster_is_named_in_the_data_source_error() {
        let arn = "arn:aws:kafka:us-east-1:123456789012:cluster/gone/1";
        let missing = mock!(aws_sdk_kafka::Client::describe_cluster_v2)
            .sequence()
            .http_status(
                404,
                Some(format!(
                    r#"{{"__type":"NotFoundException","message":"The cluster {arn} does not exist."}}"#
                )),
            )
            .build();
        let error = read_data(&[&missing], lookup(&[("arn", arn)])).await;
        assert_eq!(
            error.to_string(),
            format!(
                "MSK cluster {arn} not found in us-east-1; check the ARN and the provider \"aws\" region"
            )
        );

        // ListClustersV2 filters by prefix: a longer name is not the cluster asked for.
        let prefixed = mock!(aws_sdk_kafka::Client::list_clusters_v2)
            .sequence()
            .http_status(
                200,
                Some(r#"{"clusterInfoList":[{"clusterArn":"arn:aws:kafka:us-east-1:123456789012:cluster/orders-old/1","clusterName":"orders-old","state":"ACTIVE"}]}"#.into()),
            )
            .build();
        let error = read_data(&[&prefixed], lookup(&[("cluster_name", "orders")])).await;
        assert_eq!(
            error.to_string(),
            "MSK cluster named \"orders\" not found in us-east-1; check the name (it must match exactly) and the provider \"aws\" region"
        );
    }

    #[tokio::test]
    async fn a_cluster_name_must_match_exactly_one_cluster_not_being_deleted() {
        let listed = mock!(aws_sdk_kafka::Client::list_clusters_v2)
            .sequence()
            .http_status(
                200,
                Some(r#"{"clusterInfoList":[{"clusterArn":"arn:aws:kafka:us-east-1:123456789012:cluster/orders/1","clusterName":"orders","state":"ACTIVE"},{"clusterArn":"arn:aws:kafka:us-east-1:123456789012:cluster/orders/2","clusterName":"orders","state":"ACTIVE"},{"clusterArn":"arn:aws:kafka:us-east-1:123456789012:cluster/orders/0","clusterName":"orders","state":"DELETING"}]}"#.into()),
            )
            .build();
        let error = read_data(&[&listed], lookup(&[("cluster_name", "orders")])).await;
        assert_eq!(
            error.to_string(),
            "2 MSK clusters are named \"orders\" (arn:aws:kafka:us-east-1:123456789012:cluster/orders/1, arn:aws:kafka:us-east-1:123456789012:cluster/orders/2); give the arn of the one to read instead"
        );
    }

    #[tokio::test]
    async fn data_source_errors_are_explained_like_the_resource_s() {
        let denied = mock!(aws_sdk_kafka::Client::list_clusters_v2)
            .sequence()
            .http_status(
                403,
                Some(r#"{"__type":"AccessDeniedException","message":"not allowed"}"#.into()),
            )
            .build();
        let error = read_data(&[&denied], lookup(&[("cluster_name", "orders")])).await;
        assert!(
            error
                .to_string()
                .starts_with("listing MSK clusters named orders: access denied (AccessDeniedException: not allowed); check which credentials"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn the_data_source_takes_exactly_one_of_arn_and_cluster_name() {
        for config in [
            lookup(&[]),
            lookup(&[
                (
                    "arn",
                    "arn:aws:kafka:us-east-1:123456789012:cluster/orders/1",
                ),
                ("cluster_name", "orders"),
            ]),
        ] {
            assert_eq!(
                read_data(&[], config).await.to_string(),
                "data \"aws_msk_cluster\" needs exactly one of arn and cluster_name"
            );
        }
        assert_eq!(
            read_data(&[], lookup(&[("arn", "orders")]))
                .await
                .to_string(),
            "data \"aws_msk_cluster\": arn must be an MSK cluster ARN (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/ID), not \"orders\""
        );
    }
}
