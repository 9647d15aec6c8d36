//! Secrets Manager: `aws_secretsmanager_secret` (the secret itself: name, description, KMS
//! key, tags) and `aws_secretsmanager_secret_version` (what applications read: the flip).
//!
//! A flip puts a new version, which Secrets Manager labels AWSCURRENT while the version it
//! replaces becomes AWSPREVIOUS. The version resource always describes the secret's *current*
//! value, so a value changed outside cutover (or by `cutover rollback`, which moves AWSCURRENT
//! back to the AWSPREVIOUS version in one UpdateSecretVersionStage call) shows as drift and
//! the next plan puts the configured value back until the configuration is reverted.
//!
//! `secret_string` is sensitive: the engine keeps only a keyed hash of it in state and never
//! prints it. So that a plan can still say *what* a flip changes, `secret_keys` holds the
//! secret's top-level JSON keys, each value sensitive unless listed in `visible_keys` (such as
//! `bootstrap_servers`): the plan renders it as a map diff that names the changed keys and
//! shows only the visible values.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_secretsmanager::types::Tag;

use super::support::{
    attributes, aws_error, error_code, is_not_found, keep_unset, string_value, tag_changes,
    tag_map, text,
};
use super::{Aws, Clients, PROVIDER};
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::value::Value;
use crate::providers::{BoxFuture, ProviderContext, ProviderError, ProviderResult, ResourceType};

const CURRENT: &str = "AWSCURRENT";
/// Secrets Manager takes at most 50 tags per secret.
const MAX_TAGS: usize = 50;
const SECRET: &str = "aws_secretsmanager_secret";
const PREVIOUS: &str = "AWSPREVIOUS";

/// True for the answer Secrets Manager gives about a secret scheduled for deletion.
fn is_deleted<E: aws_sdk_secretsmanager::error::ProvideErrorMetadata, R>(
    error: &aws_sdk_secretsmanager::error::SdkError<E, R>,
) -> bool {
    error_code(error) == Some("InvalidRequestException")
        && match error {
            aws_sdk_secretsmanager::error::SdkError::ServiceError(service) => service
                .err()
                .message()
                .is_some_and(|message| message.contains("delet")),
            _ => false,
        }
}

// =============================================================================================
// aws_secretsmanager_secret

pub fn secret_schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::required("name", Type::String)
                .forces_replacement()
                .describe("the secret's name, e.g. prod/orders/kafka")
                .pattern(crate::config::validate::Pattern::SecretName),
            AttributeSchema::optional("description", Type::String)
                .describe("the secret's description; a change is an UpdateSecret"),
            AttributeSchema::optional("kms_key_id", Type::String)
                .describe("the KMS key that encrypts the secret (default: aws/secretsmanager)"),
            AttributeSchema::optional("recovery_window_in_days", Type::Number)
                .describe(
                    "days a destroyed secret can still be restored: 7 to 30, or 0 to delete it at once",
                )
                .default_value(crate::config::value::Value::int(30))
                .validate(crate::config::validate::Validator::IntRanges(&[(0, 0), (7, 30)])),
            AttributeSchema::optional("tags", Type::map_of(Type::String))
                .also_computed()
                .describe("tags; unset: the secret's tags are not managed")
                .validate(crate::config::validate::Validator::Length { min: 0, max: MAX_TAGS }),
            AttributeSchema::computed("arn", Type::String)
                .describe("the secret's ARN"),
        ],
        Vec::new(),
    )
}

pub struct Secret {
    aws: Arc<Aws>,
    schema: Schema,
}

impl Secret {
    pub fn new(aws: Arc<Aws>) -> Self {
        Secret {
            aws,
            schema: secret_schema(),
        }
    }

    /// The secret's attributes by name or ARN, or `None` when it does not exist or is
    /// scheduled for deletion.
    async fn describe(
        &self,
        clients: &Clients,
        id: &str,
        prior: &Value,
    ) -> ProviderResult<Option<Value>> {
        let described = match clients.secrets.describe_secret().secret_id(id).send().await {
            Ok(described) => described,
            Err(error) if is_not_found(&error) || is_deleted(&error) => return Ok(None),
            Err(error) => return Err(aws_error(&format!("reading secret {id}"), error)),
        };
        if described.deleted_date().is_some() {
            return Ok(None);
        }
        let prior_map = attributes(prior);
        let live = Value::Map(BTreeMap::from([
            ("arn".to_owned(), string_value(described.arn())),
            ("name".to_owned(), string_value(described.name())),
            (
                "description".to_owned(),
                string_value(described.description()),
            ),
            (
                "kms_key_id".to_owned(),
                string_value(described.kms_key_id()),
            ),
            (
                "recovery_window_in_days".to_owned(),
                prior_map
                    .get("recovery_window_in_days")
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
            (
                "tags".to_owned(),
                tag_map(described.tags().iter().filter_map(|tag| {
                    Some((
                        tag.key()?.to_owned(),
                        tag.value().unwrap_or_default().to_owned(),
                    ))
                })),
            ),
        ]));
        Ok(Some(if prior.as_map().is_some() {
            keep_unset(prior, live)
        } else {
            live
        }))
    }
}

/// An `aws_secretsmanager_secret` as planned or stored, decoded once (a plan judges it by the
/// schema first: the words of `validate`, for a value that came another way).
/// Unknown values decode as `None`; a tag whose value is unknown is left out until known.
#[derive(Debug, Default, serde::Deserialize)]
struct SecretArgs {
    arn: Option<String>,
    name: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    #[serde(default, deserialize_with = "crate::config::decode::whole_number")]
    recovery_window_in_days: Option<i64>,
    tags: Option<BTreeMap<String, Option<String>>>,
}

impl SecretArgs {
    fn of(value: &Value) -> ProviderResult<SecretArgs> {
        if value.is_null() {
            return Ok(SecretArgs::default());
        }
        crate::config::decode::decode(SECRET, value).map_err(ProviderError::Invalid)
    }

    /// The managed tags; `None` when unset (the secret's tags are not managed).
    fn tags(&self) -> Option<BTreeMap<String, String>> {
        self.tags.as_ref().map(|tags| {
            tags.iter()
                .filter_map(|(key, value)| Some((key.clone(), value.clone()?)))
                .collect()
        })
    }
}

impl ResourceType for Secret {
    fn type_name(&self) -> &'static str {
        "aws_secretsmanager_secret"
    }

    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn plan(&self, _prior: Option<&Value>, planned: Value) -> ProviderResult<Value> {
        crate::config::decode::decode_checked::<SecretArgs>(SECRET, &self.schema, &planned)
            .map_err(ProviderError::Invalid)?;
        Ok(planned)
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>> {
        Box::pin(async move {
            let map = attributes(prior);
            let id = text(&map, "arn")
                .or_else(|| text(&map, "name"))
                .ok_or_else(|| {
                    ProviderError::Failed(
                        "reading aws_secretsmanager_secret: state has neither arn nor name"
                            .to_owned(),
                    )
                })?;
            let clients = self.aws.clients(context).await?;
            self.describe(&clients, &id, prior).await
        })
    }

    fn create<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let map = attributes(planned);
            let args = SecretArgs::of(planned)?;
            let name = args
                .name
                .clone()
                .ok_or_else(|| ProviderError::Invalid(format!("{SECRET}: name is required")))?;
            let clients = self.aws.clients(context).await?;
            let mut request = clients.secrets.create_secret().name(&name);
            if let Some(description) = &args.description {
                request = request.description(description);
            }
            if let Some(key) = &args.kms_key_id {
                request = request.kms_key_id(key);
            }
            for (key, value) in args.tags().into_iter().flatten() {
                request = request.tags(Tag::builder().key(key).value(value).build());
            }
            let created = request
                .send()
                .await
                .map_err(|error| aws_error(&format!("creating secret {name}"), error))?;
            let mut object = map;
            object.insert("arn".to_owned(), string_value(created.arn()));
            if object.get("tags").is_some_and(Value::is_unknown) {
                object.insert("tags".to_owned(), Value::Map(BTreeMap::new()));
            }
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
            let before = attributes(prior);
            let mut after = attributes(planned);
            let (old, new) = (SecretArgs::of(prior)?, SecretArgs::of(planned)?);
            let arn = old.arn.clone().ok_or_else(|| {
                ProviderError::Invalid(format!("updating {SECRET}: arn is required"))
            })?;
            let clients = self.aws.clients(context).await?;
            let description = new.description.clone();
            let kms_key_id = new.kms_key_id.clone();
            let description_changes = description.is_some() && description != old.description;
            let key_changes = kms_key_id.is_some() && kms_key_id != old.kms_key_id;
            if description_changes || key_changes {
                let mut request = clients.secrets.update_secret().secret_id(&arn);
                if let Some(description) = description.filter(|_| description_changes) {
                    request = request.description(description);
                }
                if let Some(key) = kms_key_id.filter(|_| key_changes) {
                    request = request.kms_key_id(key);
                }
                request
                    .send()
                    .await
                    .map_err(|error| aws_error(&format!("updating secret {arn}"), error))?;
            }
            if let Some(wanted) = new.tags() {
                let (removed, set) = tag_changes(&old.tags().unwrap_or_default(), &wanted);
                if !removed.is_empty() {
                    let mut request = clients.secrets.untag_resource().secret_id(&arn);
                    for key in removed {
                        request = request.tag_keys(key);
                    }
                    request
                        .send()
                        .await
                        .map_err(|e| aws_error(&format!("removing tags of secret {arn}"), e))?;
                }
                if !set.is_empty() {
                    let mut request = clients.secrets.tag_resource().secret_id(&arn);
                    for (key, value) in set {
                        request = request.tags(Tag::builder().key(key).value(value).build());
                    }
                    request
                        .send()
                        .await
                        .map_err(|e| aws_error(&format!("tagging secret {arn}"), e))?;
                }
            } else {
                after.insert(
                    "tags".to_owned(),
                    before.get("tags").cloned().unwrap_or(Value::Null),
                );
            }
            after.insert("arn".to_owned(), Value::string(arn));
            Ok(Value::Map(after))
        })
    }

    fn delete<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move {
            let args = SecretArgs::of(prior)?;
            let arn = args.arn.clone().ok_or_else(|| {
                ProviderError::Invalid(format!("deleting {SECRET}: arn is required"))
            })?;
            let clients = self.aws.clients(context).await?;
            let mut request = clients.secrets.delete_secret().secret_id(&arn);
            match args.recovery_window_in_days {
                Some(0) => request = request.force_delete_without_recovery(true),
                Some(days) => request = request.recovery_window_in_days(days),
                None => {}
            }
            match request.send().await {
                Ok(_) => Ok(()),
                Err(error) if is_not_found(&error) || is_deleted(&error) => Ok(()),
                Err(error) => Err(aws_error(&format!("deleting secret {arn}"), error)),
            }
        })
    }

    fn import<'a>(
        &'a self,
        context: &'a ProviderContext,
        id: &'a str,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let clients = self.aws.clients(context).await?;
            let prior = if config.as_map().is_some() {
                config.clone()
            } else {
                Value::Null
            };
            self.describe(&clients, id, &prior)
                .await?
                .ok_or_else(|| ProviderError::Failed(format!("there is no secret {id}")))
        })
    }
}

// =============================================================================================
// aws_secretsmanager_secret_version

pub fn version_schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::required("secret_id", Type::String)
                .forces_replacement()
                .describe("the secret's name or ARN")
                .pattern(crate::config::validate::Pattern::SecretId),
            AttributeSchema::required("secret_string", Type::String)
                .sensitive()
                .describe("the value applications read, usually jsonencode({...}); never shown, stored only as a keyed hash"),
            AttributeSchema::optional("visible_keys", Type::list_of(Type::String)).describe(
                "top-level JSON keys of secret_string whose values are not secret (e.g. bootstrap_servers): plans show them",
            ),
            AttributeSchema::computed("arn", Type::String).describe("the secret's ARN"),
            AttributeSchema::computed("version_id", Type::String)
                .describe("the version labelled AWSCURRENT"),
            AttributeSchema::computed("previous_version_id", Type::String)
                .describe("the version labelled AWSPREVIOUS: what `cutover rollback` returns to"),
            AttributeSchema::computed("secret_keys", Type::map_of(Type::Any)).describe(
                "the JSON keys of secret_string, values sensitive unless in visible_keys; plans show which keys change",
            ),
        ],
        Vec::new(),
    )
}

/// `secret_string`'s top-level JSON object as a map whose values are sensitive unless
/// `visible` lists their key; `Null` when the string is not a JSON object.
pub fn secret_keys(secret: &str, visible: &[String]) -> Value {
    match serde_json::from_str::<serde_json::Value>(secret) {
        Ok(serde_json::Value::Object(object)) => Value::Map(
            object
                .iter()
                .map(|(key, value)| {
                    let value = Value::from_json(value);
                    let shown = visible.iter().any(|name| name == key);
                    (key.clone(), value.marked(!shown))
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

const VERSION: &str = "aws_secretsmanager_secret_version";

/// An `aws_secretsmanager_secret_version` as planned or stored, decoded once. Unknown values
/// decode as `None`. Holds the secret's value in plain text: no `Debug`, never printed
/// (messages name the secret by `secret_id`, never by its value).
#[derive(Default, serde::Deserialize)]
struct VersionArgs {
    secret_id: Option<Stored<String>>,
    secret_string: Option<Stored<String>>,
    visible_keys: Option<Stored<Vec<Option<String>>>>,
}

/// An argument as planned, or as state holds it: state keeps a sensitive value only as its
/// keyed hash, which only the engine compares.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Stored<T> {
    Known(T),
    /// `{"__cutover_sensitive__": "hmac-sha256:…"}` ([`crate::state::sensitive::SENSITIVE_MARKER`]).
    Hashed {
        #[serde(rename = "__cutover_sensitive__")]
        _hash: String,
    },
    /// Not a value of the argument's type: treated as unset, as a hash is.
    Other(serde::de::IgnoredAny),
}

impl<T> Stored<T> {
    fn known(&self) -> Option<&T> {
        match self {
            Stored::Known(value) => Some(value),
            Stored::Hashed { .. } | Stored::Other(_) => None,
        }
    }
}

impl VersionArgs {
    fn of(value: &Value) -> ProviderResult<VersionArgs> {
        if value.is_null() {
            return Ok(VersionArgs::default());
        }
        crate::config::decode::decode(VERSION, value).map_err(ProviderError::Invalid)
    }

    /// The known `secret_id`; `None` when unset, unknown or stored only as a hash.
    fn secret_id(&self) -> Option<&str> {
        self.secret_id.as_ref()?.known().map(String::as_str)
    }

    /// The known `secret_id`, or an error naming it; `what` says what was being done.
    fn required_secret_id(&self, what: &str) -> ProviderResult<String> {
        self.secret_id()
            .map(str::to_owned)
            .ok_or_else(|| ProviderError::Invalid(format!("{what}: secret_id is required")))
    }

    /// The known value of `secret_string` (not a stored hash).
    fn secret_string(&self) -> Option<&str> {
        self.secret_string.as_ref()?.known().map(String::as_str)
    }

    /// The known names of `visible_keys` (none when unset, unknown or hashed).
    fn visible_keys(&self) -> Vec<String> {
        self.visible_keys
            .as_ref()
            .and_then(Stored::known)
            .map(|keys| keys.iter().flatten().cloned().collect())
            .unwrap_or_default()
    }
}

/// `visible_keys` as `given` (the configuration or state) writes it, passed on with its marks
/// (or as the hash state keeps of it); null when unset or still unknown.
fn visible_keys_as_given(given: &Value) -> Value {
    crate::config::decode::reference(given, "visible_keys")
        .filter(|visible| !visible.is_unknown())
        .unwrap_or(Value::Null)
}

/// The live current version of a secret.
struct CurrentVersion {
    arn: Option<String>,
    version_id: Option<String>,
    previous_version_id: Option<String>,
    secret_string: Option<String>,
}

pub struct SecretVersion {
    aws: Arc<Aws>,
    schema: Schema,
}

impl SecretVersion {
    pub fn new(aws: Arc<Aws>) -> Self {
        SecretVersion {
            aws,
            schema: version_schema(),
        }
    }

    /// The AWSCURRENT version of `secret_id`, or `None` when the secret does not exist, is
    /// scheduled for deletion or has no current value.
    async fn current(
        &self,
        clients: &Clients,
        secret_id: &str,
    ) -> ProviderResult<Option<CurrentVersion>> {
        let value = match clients
            .secrets
            .get_secret_value()
            .secret_id(secret_id)
            .version_stage(CURRENT)
            .send()
            .await
        {
            Ok(value) => value,
            Err(error) if is_not_found(&error) || is_deleted(&error) => return Ok(None),
            Err(error) => {
                return Err(aws_error(
                    &format!("reading the current value of secret {secret_id}"),
                    error,
                ));
            }
        };
        let described = clients
            .secrets
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|error| aws_error(&format!("reading secret {secret_id}"), error))?;
        let previous = described.version_ids_to_stages().and_then(|stages| {
            stages
                .iter()
                .find(|(_, labels)| labels.iter().any(|label| label == PREVIOUS))
                .map(|(id, _)| id.clone())
        });
        Ok(Some(CurrentVersion {
            arn: value.arn().map(str::to_owned),
            version_id: value.version_id().map(str::to_owned),
            previous_version_id: previous,
            secret_string: value.secret_string().map(str::to_owned),
        }))
    }

    /// The resource's attributes for `current`, with `secret_id` and `visible_keys` as the
    /// configuration (or state) `given` has them (`args` is `given` decoded).
    fn attributes_of(
        current: CurrentVersion,
        secret_id: &str,
        args: &VersionArgs,
        given: &Value,
    ) -> Value {
        let visible_keys = args.visible_keys();
        let keys = current
            .secret_string
            .as_deref()
            .map_or(Value::Null, |secret| secret_keys(secret, &visible_keys));
        Value::Map(BTreeMap::from([
            ("secret_id".to_owned(), Value::string(secret_id)),
            (
                "secret_string".to_owned(),
                Value::sensitive(string_value(current.secret_string)),
            ),
            ("visible_keys".to_owned(), visible_keys_as_given(given)),
            ("arn".to_owned(), string_value(current.arn)),
            ("version_id".to_owned(), string_value(current.version_id)),
            (
                "previous_version_id".to_owned(),
                string_value(current.previous_version_id),
            ),
            ("secret_keys".to_owned(), keys),
        ]))
    }

    /// Makes `planned`'s value the secret's current one (a new AWSCURRENT version) unless it
    /// already is; returns the resulting attributes.
    async fn put(&self, context: &ProviderContext, planned: &Value) -> ProviderResult<Value> {
        let args = VersionArgs::of(planned)?;
        let secret_id = args.required_secret_id(VERSION)?;
        let secret = args
            .secret_string()
            .ok_or_else(|| {
                ProviderError::Invalid(format!(
                    "the new value of secret {secret_id} is not a known string"
                ))
            })?
            .to_owned();
        let clients = self.aws.clients(context).await?;
        let live = self.current(&clients, &secret_id).await?;
        let unchanged =
            live.as_ref().and_then(|live| live.secret_string.as_deref()) == Some(secret.as_str());
        if !unchanged {
            clients
                .secrets
                .put_secret_value()
                .secret_id(&secret_id)
                .secret_string(secret)
                .send()
                .await
                .map_err(|error| {
                    aws_error(
                        &format!("putting a new version of secret {secret_id}"),
                        error,
                    )
                })?;
        }
        let current = self.current(&clients, &secret_id).await?.ok_or_else(|| {
            ProviderError::Failed(format!(
                "secret {secret_id} has no current version after the new one was put"
            ))
        })?;
        Ok(Self::attributes_of(current, &secret_id, &args, planned))
    }
}

impl ResourceType for SecretVersion {
    fn type_name(&self) -> &'static str {
        "aws_secretsmanager_secret_version"
    }

    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    /// `secret_keys` follows the planned value; a new value makes a new version, whose ids
    /// are known only after apply.
    fn plan(&self, prior: Option<&Value>, planned: Value) -> ProviderResult<Value> {
        let args = VersionArgs::of(&planned)?;
        let mut object = attributes(&planned);
        // The typed decode reads an unknown value as unset; here the difference matters: the
        // keys of a value not known yet are unknown, those of an unset one null.
        let unknown = |name: &str| object.get(name).is_some_and(Value::is_unknown);
        let keys = match (args.secret_string(), &args.secret_string) {
            (Some(secret), _) if !unknown("visible_keys") => {
                secret_keys(secret, &args.visible_keys())
            }
            (None, None) if !unknown("secret_string") => Value::Null,
            _ => Value::Unknown,
        };
        object.insert("secret_keys".to_owned(), keys);
        let changes_value = match prior.map(VersionArgs::of).transpose()? {
            None => true,
            Some(prior) => match (&prior.secret_string, args.secret_string()) {
                (Some(Stored::Known(before)), Some(after)) => before != after,
                // A stored hash (planned without refresh): the engine compares it.
                (Some(Stored::Hashed { .. }), _) => false,
                _ => true,
            },
        };
        if changes_value {
            object.insert("version_id".to_owned(), Value::Unknown);
            object.insert("previous_version_id".to_owned(), Value::Unknown);
        }
        Ok(Value::Map(object))
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>> {
        Box::pin(async move {
            let args = VersionArgs::of(prior)?;
            let secret_id = args.required_secret_id("reading aws_secretsmanager_secret_version")?;
            let clients = self.aws.clients(context).await?;
            Ok(self
                .current(&clients, &secret_id)
                .await?
                .map(|current| Self::attributes_of(current, &secret_id, &args, prior)))
        })
    }

    fn create<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(self.put(context, planned))
    }

    fn update<'a>(
        &'a self,
        context: &'a ProviderContext,
        _prior: &'a Value,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(self.put(context, planned))
    }

    /// Destroying a version resource leaves the secret's value as it is: applications keep
    /// reading the current version (Secrets Manager cannot take AWSCURRENT away from a secret
    /// without putting another version in its place). Destroy the `aws_secretsmanager_secret`
    /// to delete the secret itself.
    fn delete<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move {
            let args = VersionArgs::of(prior)?;
            let Some(secret_id) = args.secret_id() else {
                return Ok(());
            };
            (context.progress)(&format!(
                "secret {secret_id} keeps its current value; only cutover stops managing it"
            ));
            Ok(())
        })
    }

    fn import<'a>(
        &'a self,
        context: &'a ProviderContext,
        id: &'a str,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let clients = self.aws.clients(context).await?;
            let current = self.current(&clients, id).await?.ok_or_else(|| {
                ProviderError::Failed(format!(
                    "secret {id} does not exist or has no current (AWSCURRENT) value"
                ))
            })?;
            let args = VersionArgs::of(config)?;
            // The configuration may name the secret by ARN or by name: keep its spelling.
            let secret_id = args.secret_id().unwrap_or(id).to_owned();
            Ok(Self::attributes_of(current, &secret_id, &args, config))
        })
    }

    /// Moves AWSCURRENT back to the AWSPREVIOUS version in one UpdateSecretVersionStage call
    /// (Secrets Manager then labels the version it came from AWSPREVIOUS), and returns the
    /// attributes of the secret's new current version.
    fn rollback<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let args = VersionArgs::of(prior)?;
            let secret_id =
                args.required_secret_id("rolling back aws_secretsmanager_secret_version")?;
            let clients = self.aws.clients(context).await?;
            let described = clients
                .secrets
                .describe_secret()
                .secret_id(&secret_id)
                .send()
                .await
                .map_err(|error| aws_error(&format!("reading secret {secret_id}"), error))?;
            let stages = described
                .version_ids_to_stages()
                .cloned()
                .unwrap_or_default();
            let labelled = |label: &str| {
                stages
                    .iter()
                    .find(|(_, labels)| labels.iter().any(|l| l == label))
                    .map(|(id, _)| id.clone())
            };
            let current = labelled(CURRENT).ok_or_else(|| {
                ProviderError::Failed(format!("secret {secret_id} has no AWSCURRENT version"))
            })?;
            let previous = labelled(PREVIOUS).ok_or_else(|| {
                ProviderError::Invalid(format!(
                    "secret {secret_id} has no AWSPREVIOUS version to roll back to (current version {current})"
                ))
            })?;
            clients
                .secrets
                .update_secret_version_stage()
                .secret_id(&secret_id)
                .version_stage(CURRENT)
                .move_to_version_id(&previous)
                .remove_from_version_id(&current)
                .send()
                .await
                .map_err(|error| {
                    aws_error(
                        &format!(
                            "moving AWSCURRENT of secret {secret_id} back to version {previous}"
                        ),
                        error,
                    )
                })?;
            (context.progress)(&format!(
                "secret {secret_id}: AWSCURRENT moved from version {current} back to {previous}"
            ));
            let now = self.current(&clients, &secret_id).await?.ok_or_else(|| {
                ProviderError::Failed(format!(
                    "secret {secret_id} has no current value after the rollback"
                ))
            })?;
            if now.version_id.as_deref() != Some(previous.as_str()) {
                return Err(ProviderError::Failed(format!(
                    "secret {secret_id}: AWSCURRENT is version {} after moving it to {previous}; someone else changed the secret meanwhile",
                    now.version_id.as_deref().unwrap_or("(none)")
                )));
            }
            Ok(Self::attributes_of(now, &secret_id, &args, prior))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_hide_values_unless_visible() {
        let keys = secret_keys(
            r#"{"bootstrap_servers":"b-1:9098","password":"hunter2","port":9098}"#,
            &["bootstrap_servers".to_owned()],
        );
        let map = attributes(&keys);
        assert_eq!(map["bootstrap_servers"], Value::string("b-1:9098"));
        assert_eq!(map["password"], Value::sensitive(Value::string("hunter2")));
        assert_eq!(map["port"], Value::sensitive(Value::int(9098)));
        assert_eq!(secret_keys("not json", &[]), Value::Null);
        assert_eq!(secret_keys("[1, 2]", &[]), Value::Null);
    }

    #[test]
    fn a_new_value_makes_version_ids_unknown() {
        let version = SecretVersion::new(Arc::new(Aws::new()));
        let prior = Value::Map(BTreeMap::from([
            ("secret_id".to_owned(), Value::string("s")),
            (
                "secret_string".to_owned(),
                Value::sensitive(Value::string(r#"{"a":"1"}"#)),
            ),
            ("version_id".to_owned(), Value::string("v1")),
            ("previous_version_id".to_owned(), Value::Null),
            ("visible_keys".to_owned(), Value::Null),
        ]));
        let same = version.plan(Some(&prior), prior.clone()).unwrap();
        assert_eq!(attributes(&same)["version_id"], Value::string("v1"));
        let mut changed = attributes(&prior);
        changed.insert(
            "secret_string".to_owned(),
            Value::sensitive(Value::string(r#"{"a":"2"}"#)),
        );
        let planned = version.plan(Some(&prior), Value::Map(changed)).unwrap();
        let planned = attributes(&planned);
        assert_eq!(planned["version_id"], Value::Unknown);
        assert_eq!(
            attributes(&planned["secret_keys"])["a"],
            Value::sensitive(Value::string("2"))
        );
    }
}

#[cfg(test)]
mod decoded_arguments {
    use super::*;

    fn hashed() -> Value {
        Value::sensitive(Value::Map(BTreeMap::from([(
            crate::state::sensitive::SENSITIVE_MARKER.to_owned(),
            Value::string(format!(
                "{}{}",
                crate::state::sensitive::HASH_PREFIX,
                "ab".repeat(32)
            )),
        )])))
    }

    #[test]
    fn stored_hashes_decode_as_unset_and_are_left_to_the_engine() {
        let version = SecretVersion::new(Arc::new(Aws::new()));
        let stored = Value::Map(BTreeMap::from([
            ("secret_id".to_owned(), Value::string("s")),
            ("secret_string".to_owned(), hashed()),
            ("version_id".to_owned(), Value::string("v1")),
            ("visible_keys".to_owned(), hashed()),
        ]));
        let args = VersionArgs::of(&stored).unwrap();
        assert_eq!(args.secret_id(), Some("s"));
        assert_eq!(args.secret_string(), None);
        assert!(args.visible_keys().is_empty());
        // The visible keys are passed on as state has them (the hash), not dropped.
        assert_eq!(visible_keys_as_given(&stored), hashed());
        let mut planned = attributes(&stored);
        planned.insert(
            "secret_string".to_owned(),
            Value::sensitive(Value::string(r#"{"a":"1"}"#)),
        );
        planned.insert("visible_keys".to_owned(), Value::Null);
        let planned = version.plan(Some(&stored), Value::Map(planned)).unwrap();
        assert_eq!(attributes(&planned)["version_id"], Value::string("v1"));
        let hashed_id = Value::Map(BTreeMap::from([("secret_id".to_owned(), hashed())]));
        assert_eq!(
            VersionArgs::of(&hashed_id)
                .unwrap()
                .required_secret_id("reading aws_secretsmanager_secret_version")
                .unwrap_err()
                .to_string(),
            "reading aws_secretsmanager_secret_version: secret_id is required"
        );
    }

    #[test]
    fn secret_keys_are_unknown_until_the_value_and_visible_keys_are_known() {
        let version = SecretVersion::new(Arc::new(Aws::new()));
        let planned = |secret: Value, visible: Value| {
            let planned = Value::Map(BTreeMap::from([
                ("secret_id".to_owned(), Value::string("s")),
                ("secret_string".to_owned(), secret),
                ("visible_keys".to_owned(), visible),
            ]));
            attributes(&version.plan(None, planned).unwrap())["secret_keys"].clone()
        };
        let secret = || Value::sensitive(Value::string(r#"{"a":"1","b":"2"}"#));
        assert_eq!(planned(Value::Unknown, Value::Null), Value::Unknown);
        assert_eq!(planned(secret(), Value::Unknown), Value::Unknown);
        assert_eq!(planned(Value::Null, Value::Null), Value::Null);
        let keys = planned(secret(), Value::List(vec![Value::string("a")]));
        assert_eq!(attributes(&keys)["a"], Value::string("1"));
        assert_eq!(attributes(&keys)["b"], Value::sensitive(Value::string("2")));
    }
}

#[cfg(test)]
mod mocked_errors {
    use aws_smithy_mocks::mock;

    use super::*;
    use crate::providers::aws::support::mocked;

    #[tokio::test]
    async fn access_denied_says_which_credentials_to_check() {
        let current = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .sequence()
            .http_status(
                200,
                Some(r#"{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/orders/kafka-AbCdEf","Name":"prod/orders/kafka","VersionId":"v1","SecretString":"{\"bootstrap_servers\":\"old:9092\"}","VersionStages":["AWSCURRENT"]}"#.into()),
            )
            .build();
        let described = mock!(aws_sdk_secretsmanager::Client::describe_secret)
            .sequence()
            .http_status(
                200,
                Some(r#"{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/orders/kafka-AbCdEf","Name":"prod/orders/kafka","VersionIdsToStages":{"v1":["AWSCURRENT"]}}"#.into()),
            )
            .build();
        let denied = mock!(aws_sdk_secretsmanager::Client::put_secret_value)
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"AccessDeniedException","Message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: secretsmanager:PutSecretValue"}"#.into()),
            )
            .build();
        let aws = mocked::aws(mocked::clients(&[], &[&current, &described, &denied], &[])).await;
        let version = SecretVersion::new(aws);
        let planned = Value::Map(BTreeMap::from([
            ("secret_id".to_owned(), Value::string("prod/orders/kafka")),
            (
                "secret_string".to_owned(),
                Value::sensitive(Value::string(
                    r#"{"bootstrap_servers":"new:9098","password":"hunter2"}"#,
                )),
            ),
            ("visible_keys".to_owned(), Value::Null),
        ]));
        let error = version
            .create(&mocked::context(), &planned)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "putting a new version of secret prod/orders/kafka: access denied (AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: secretsmanager:PutSecretValue); check which credentials cutover uses (provider \"aws\" profile or assume_role, AWS_PROFILE, AWS_ACCESS_KEY_ID) and that their policy allows this call"
        );
        assert!(!error.contains("hunter2"));
        assert_eq!(denied.num_calls(), 1, "access denied is not retried");
    }
}

/// `data "aws_secretsmanager_secret_version"`: reads a secret's value (AWSCURRENT unless
/// `version_stage` or `version_id` says otherwise), e.g. the SCRAM credentials of a `cluster`
/// block: `sasl_password = jsondecode(data.aws_secretsmanager_secret_version.msk.secret_string).password`.
/// The value is sensitive: never printed, never stored.
/// The data source's arguments, decoded once after its schema judged them.
#[derive(Debug, serde::Deserialize)]
struct VersionDataArgs {
    secret_id: Option<String>,
    version_stage: Option<String>,
    version_id: Option<String>,
}

pub struct SecretVersionData {
    aws: Arc<Aws>,
    schema: Schema,
}

impl SecretVersionData {
    pub fn new(aws: Arc<Aws>) -> Self {
        SecretVersionData {
            aws,
            schema: Schema::new(
                vec![
                    AttributeSchema::required("secret_id", Type::String)
                        .describe("the secret's name or ARN")
                        .pattern(crate::config::validate::Pattern::SecretId),
                    AttributeSchema::optional("version_stage", Type::String)
                        .describe("a staging label")
                        .default_value(crate::config::value::Value::string("AWSCURRENT")),
                    AttributeSchema::optional("version_id", Type::String)
                        .describe("read this version (default: the one labelled version_stage)")
                        .pattern(crate::config::validate::Pattern::Name { max: 64 }),
                    AttributeSchema::computed("secret_string", Type::String).sensitive(),
                    AttributeSchema::computed("arn", Type::String).describe("the secret's ARN"),
                ],
                Vec::new(),
            ),
        }
    }
}

impl crate::providers::DataSourceType for SecretVersionData {
    fn type_name(&self) -> &'static str {
        "aws_secretsmanager_secret_version"
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
            let mut map = config.as_map().cloned().unwrap_or_default();
            let args: VersionDataArgs = crate::config::decode::decode_checked(
                "data \"aws_secretsmanager_secret_version\"",
                &self.schema,
                config,
            )
            .map_err(ProviderError::Invalid)?;
            let secret_id = args
                .secret_id
                .ok_or_else(|| ProviderError::Invalid("secret_id is required".to_owned()))?;
            let clients = self.aws.clients(context).await?;
            let mut request = clients.secrets.get_secret_value().secret_id(&secret_id);
            if let Some(stage) = args.version_stage {
                request = request.version_stage(stage);
            }
            if let Some(id) = args.version_id {
                request = request.version_id(id);
            }
            let value = request.send().await.map_err(|error| {
                aws_error(&format!("reading the value of secret {secret_id}"), error)
            })?;
            map.insert(
                "secret_string".to_owned(),
                Value::sensitive(string_value(value.secret_string().map(str::to_owned))),
            );
            map.insert(
                "arn".to_owned(),
                string_value(value.arn().map(str::to_owned)),
            );
            Ok(Value::Map(map))
        })
    }
}
