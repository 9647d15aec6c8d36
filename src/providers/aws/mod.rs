//! AWS providers: MSK configurations and clusters, Secrets Manager secrets and versions, EC2
//! instances, configured by the root `provider "aws"` block (or the standard AWS environment
//! variables and profiles when there is none).
//!
//! # Reading order
//!
//! - this file: the `provider "aws"` settings, the SDK clients built once per distinct
//!   settings and shared by every type, and the registration.
//! - [`support`]: attribute helpers, `timeouts { create, update, delete }`, the polling loop
//!   (progress, cancellation, time limits) and the translation of SDK errors into
//!   [`ProviderError`]s that say what to do (throttling, access denied, conflicts).
//! - [`msk`]: `aws_msk_configuration` and `aws_msk_cluster` (CreateClusterV2, waits for
//!   ACTIVE with the ARN recorded first, updates through the matching operation) and
//!   `data "aws_msk_cluster"` (an existing cluster by ARN or name).
//! - [`secretsmanager`]: `aws_secretsmanager_secret` and `aws_secretsmanager_secret_version`
//!   (the flip: a new AWSCURRENT version; `cutover rollback` moves it back).
//! - [`ec2`]: `aws_ec2_instance` (adopted by import or created; destroy terminates after the
//!   decommission guard) and `data "aws_ec2_instances"`.
//! - [`guard`]: the decommission guard: watches a Kafka cluster for writes and active consumer
//!   groups before any instance of it is terminated.

pub mod ec2;
pub mod guard;
pub mod msk;
pub mod scram;
pub mod secretsmanager;
pub mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{ProviderContext, ProviderError, ProviderResult, Registry};
use crate::config::schema::{AttributeSchema, BlockSchema, Nesting, Schema};
use crate::config::types::Type;
use crate::config::value::Value;

/// The provider name recorded in state for every AWS type.
pub const PROVIDER: &str = "aws";

/// The most attempts per request `max_attempts` allows: with the SDK's exponential backoff,
/// more only delays the error.
const MAX_ATTEMPTS: i64 = 20;

/// How often long operations are polled when `poll_interval` is not set.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);

/// The settings a `provider "aws" { ... }` block takes.
pub fn provider_schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::optional("region", Type::String)
                .describe("the AWS region (default: AWS_REGION or the profile's region)")
                .pattern(crate::config::validate::Pattern::AwsRegion),
            AttributeSchema::optional("profile", Type::String)
                .describe("a named profile of ~/.aws/config and ~/.aws/credentials"),
            AttributeSchema::optional("endpoint_url", Type::String)
                .describe(
                    "send every request to this endpoint (a local emulator, a VPC endpoint); default AWS_ENDPOINT_URL or the public endpoints",
                )
                .pattern(crate::config::validate::Pattern::HttpUrl),
            AttributeSchema::optional("max_attempts", Type::Number)
                .describe(
                    "attempts per request, retries of throttled and transient failures included",
                )
                .default_value(crate::config::value::Value::int(3))
                .int_range(1, MAX_ATTEMPTS),
            AttributeSchema::optional("poll_interval", Type::String)
                .describe(
                    "how often long operations (MSK create/update/delete, EC2 state changes) are polled",
                )
                .default_value(crate::config::value::Value::string("15s"))
                .duration_range(Duration::from_millis(1), Duration::MAX),
            AttributeSchema::optional("price_file", Type::String)
                .describe("a JSON price table merged over the built-in one (pricing/us-east-1.json) for the plan's cost section; read at plan time, relative to the working directory"),
        ],
        vec![BlockSchema {
            name: "assume_role",
            nesting: Nesting::Single,
            required: false,
            schema: Schema::new(
                vec![
                    AttributeSchema::required("role_arn", Type::String)
                        .describe("the role to assume with STS AssumeRole")
                        .pattern(crate::config::validate::Pattern::Arn { service: "iam" }),
                    AttributeSchema::optional("session_name", Type::String)
                        .describe("the role session name")
                        .default_value(crate::config::value::Value::string("cutover")),
                    AttributeSchema::optional("external_id", Type::String)
                        .describe("the external id the role's trust policy requires"),
                ],
                Vec::new(),
            ),
            description: "assume this role with the base credentials before any call",
        }],
    )
    .with_advice(provider_advice)
}

/// An `http://` endpoint sends every signed request, and what it returns (secret values from
/// Secrets Manager), in clear; only a local emulator on this machine is exempt.
fn provider_advice(
    settings: &std::collections::BTreeMap<String, Value>,
) -> Vec<crate::config::schema::AdviceItem> {
    let Some(url) = settings
        .get("endpoint_url")
        .and_then(|value| value.peel().as_str())
    else {
        return Vec::new();
    };
    if crate::config::schema::is_cleartext_remote_url(url) {
        vec![(
            "endpoint_url",
            "endpoint_url uses http:// to a host that is not this machine: AWS requests and responses, secret values included, cross the network unencrypted; use https://".to_owned(),
        )]
    } else {
        Vec::new()
    }
}

/// `assume_role { ... }` of the provider block.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
}

/// The evaluated `provider "aws"` block. Equal settings share one set of SDK clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub max_attempts: Option<u32>,
    pub poll_interval: Duration,
    pub assume_role: Option<AssumeRole>,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            region: None,
            profile: None,
            endpoint_url: None,
            max_attempts: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            assume_role: None,
        }
    }
}

/// The `provider "aws"` block's value, decoded once after the provider schema judged it.
#[derive(Debug, Default, serde::Deserialize)]
struct ProviderArgs {
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
    #[serde(default, deserialize_with = "crate::config::decode::whole_number")]
    max_attempts: Option<i64>,
    poll_interval: Option<String>,
    assume_role: Option<AssumeRoleArgs>,
}

#[derive(Debug, serde::Deserialize)]
struct AssumeRoleArgs {
    role_arn: Option<String>,
    session_name: Option<String>,
    external_id: Option<String>,
}

impl AwsSettings {
    /// Decodes the provider block's value (an empty map when there is no block).
    pub fn from_value(value: &Value) -> ProviderResult<Self> {
        const WHAT: &str = "provider \"aws\"";
        if !matches!(value.peel(), Value::Map(_) | Value::Null) {
            return Err(ProviderError::Invalid(format!(
                "{WHAT} settings must be an object, not a {}",
                value.type_name()
            )));
        }
        // Settings pick the clients every plan-time read uses: they must be known then.
        if let Some(map) = value.as_map()
            && let Some((name, _)) = map.iter().find(|(_, setting)| !setting.is_wholly_known())
        {
            return Err(ProviderError::Invalid(format!(
                "{WHAT}: {name} is not known until apply; provider settings must be known when planning"
            )));
        }
        let args: ProviderArgs = if value.is_null() {
            ProviderArgs::default()
        } else {
            crate::config::decode::decode_checked(WHAT, &provider_schema(), value)
                .map_err(ProviderError::Invalid)?
        };
        let assume_role = match args.assume_role {
            None => None,
            Some(role) => Some(AssumeRole {
                role_arn: role.role_arn.ok_or_else(|| {
                    ProviderError::Invalid(format!("{WHAT}: assume_role needs role_arn"))
                })?,
                session_name: role.session_name,
                external_id: role.external_id,
            }),
        };
        Ok(AwsSettings {
            region: args.region,
            profile: args.profile,
            endpoint_url: args.endpoint_url,
            max_attempts: args.max_attempts.map(|count| count as u32),
            poll_interval: args
                .poll_interval
                .as_deref()
                .and_then(crate::config::evaluate::parse_duration)
                .unwrap_or(DEFAULT_POLL_INTERVAL),
            assume_role,
        })
    }

    /// Loads the SDK configuration these settings describe: the standard chain (environment,
    /// profiles, container and instance credentials) with the block's values on top, then the
    /// assumed role when there is one.
    pub async fn load_sdk_config(&self) -> ProviderResult<aws_config::SdkConfig> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(attempts) = self.max_attempts {
            loader = loader.retry_config(
                aws_config::retry::RetryConfig::standard().with_max_attempts(attempts),
            );
        }
        let base = loader.load().await;
        if base.region().is_none() {
            return Err(ProviderError::Invalid(
                "no AWS region is configured: set region in the provider \"aws\" block, or AWS_REGION, or a region in the AWS profile".to_owned(),
            ));
        }
        let Some(role) = &self.assume_role else {
            return Ok(base);
        };
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(role.role_arn.clone())
            .session_name(
                role.session_name
                    .clone()
                    .unwrap_or_else(|| "cutover".to_owned()),
            )
            .configure(&base);
        if let Some(external_id) = &role.external_id {
            builder = builder.external_id(external_id.clone());
        }
        let provider = builder.build().await;
        Ok(base
            .into_builder()
            .credentials_provider(aws_credential_provider(provider))
            .build())
    }
}

fn aws_credential_provider(
    provider: aws_config::sts::AssumeRoleProvider,
) -> aws_sdk_kafka::config::SharedCredentialsProvider {
    aws_sdk_kafka::config::SharedCredentialsProvider::new(provider)
}

/// The SDK clients of one set of settings.
pub struct Clients {
    pub settings: AwsSettings,
    pub kafka: aws_sdk_kafka::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ec2: aws_sdk_ec2::Client,
    /// The region requests go to, for messages.
    pub region: String,
}

impl Clients {
    pub fn from_sdk_config(settings: AwsSettings, config: &aws_config::SdkConfig) -> Self {
        Clients {
            region: config
                .region()
                .map(|region| region.to_string())
                .unwrap_or_default(),
            settings,
            kafka: aws_sdk_kafka::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
        }
    }
}

/// What every AWS type shares: the clients, built once per distinct provider settings (the
/// SDK clients hold connection pools and credential caches), and the per-run results of
/// decommission guards.
#[derive(Default)]
pub struct Aws {
    clients: tokio::sync::Mutex<HashMap<AwsSettings, Arc<Clients>>>,
    pub(crate) guards: guard::GuardRuns,
}

impl Aws {
    pub fn new() -> Self {
        Self::default()
    }

    /// Pre-built clients for the settings that decode from `settings` (tests use clients whose
    /// HTTP layer is mocked).
    pub async fn with_clients(self, clients: Clients) -> Self {
        self.clients
            .lock()
            .await
            .insert(clients.settings.clone(), Arc::new(clients));
        self
    }

    /// The clients for the `provider "aws"` settings this run evaluated.
    pub async fn clients(&self, context: &ProviderContext) -> ProviderResult<Arc<Clients>> {
        let settings = AwsSettings::from_value(&context.connections.provider(PROVIDER))?;
        let mut clients = self.clients.lock().await;
        if let Some(existing) = clients.get(&settings) {
            return Ok(existing.clone());
        }
        let config = settings.load_sdk_config().await?;
        let built = Arc::new(Clients::from_sdk_config(settings.clone(), &config));
        clients.insert(settings, built.clone());
        Ok(built)
    }
}

/// Adds the AWS types and the `provider "aws"` settings to the registry. The types share one
/// [`Aws`]: one set of clients per provider settings, one guard observation per cluster.
pub fn register(registry: &mut Registry) {
    let aws = Arc::new(Aws::new());
    registry.add_provider_schema(PROVIDER, provider_schema());
    registry.add_resource(Arc::new(msk::MskConfiguration::new(aws.clone())));
    registry.add_resource(Arc::new(msk::MskCluster::new(aws.clone())));
    registry.add_data_source(Arc::new(msk::MskClusterData::new(aws.clone())));
    registry.add_resource(Arc::new(scram::ScramSecretAssociation::new(aws.clone())));
    registry.add_resource(Arc::new(secretsmanager::Secret::new(aws.clone())));
    registry.add_resource(Arc::new(secretsmanager::SecretVersion::new(aws.clone())));
    registry.add_resource(Arc::new(ec2::Instance::new(aws.clone())));
    registry.add_data_source(Arc::new(secretsmanager::SecretVersionData::new(
        aws.clone(),
    )));
    registry.add_data_source(Arc::new(ec2::InstancesData::new(aws)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, Value)]) -> ProviderResult<AwsSettings> {
        AwsSettings::from_value(&Value::Map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        ))
    }

    #[test]
    fn settings_decode_and_reject_bad_values() {
        let decoded = settings(&[
            ("region", Value::string("eu-west-1")),
            ("endpoint_url", Value::string("http://127.0.0.1:15000")),
            ("poll_interval", Value::string("250ms")),
            ("max_attempts", Value::int(5)),
            (
                "assume_role",
                Value::Map(
                    [(
                        "role_arn".to_owned(),
                        Value::string("arn:aws:iam::123456789012:role/cutover"),
                    )]
                    .into(),
                ),
            ),
        ])
        .unwrap();
        assert_eq!(decoded.region.as_deref(), Some("eu-west-1"));
        assert_eq!(decoded.poll_interval, Duration::from_millis(250));
        assert_eq!(decoded.max_attempts, Some(5));
        assert_eq!(
            decoded.assume_role.unwrap().role_arn,
            "arn:aws:iam::123456789012:role/cutover"
        );
        assert_eq!(
            AwsSettings::from_value(&Value::Null).unwrap(),
            AwsSettings::default()
        );

        let error = settings(&[("endpoint_url", Value::string("127.0.0.1:15000"))]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "provider \"aws\": invalid value for \"endpoint_url\": \"127.0.0.1:15000\" is not an http:// or https:// URL with a host, without credentials or a query string"
        );
        let error = settings(&[("poll_interval", Value::string("soon"))]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"poll_interval\": \"soon\" is not a duration"),
            "{error}"
        );
        let error = settings(&[("poll_interval", Value::string("0s"))]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("a duration of at least 1ms allowed"),
            "{error}"
        );
        let error = settings(&[("max_attempts", Value::int(0))]).unwrap_err();
        assert!(error.to_string().contains("from 1 to 20"), "{error}");
        let error = settings(&[("region", Value::string("us_east_1"))]).unwrap_err();
        assert!(
            error.to_string().contains("is not an AWS region"),
            "{error}"
        );
        let error = settings(&[("region", Value::Unknown)]).unwrap_err();
        assert!(
            error.to_string().contains("not known until apply"),
            "{error}"
        );
    }
}
