//! The S3 backend: `cutover { backend "s3" { bucket, key, ... } }`. The state is one object;
//! the lock is a second object (`<key>.lock` unless `lock_key` says otherwise) holding the
//! [`LockInfo`] JSON.
//!
//! Every write is conditional, so two runs can never both win:
//! - the lock is created with `If-None-Match: *` (S3 refuses with 412 when it exists) and
//!   removed with `If-Match: <its ETag>` (a lock someone else took after a force-unlock is
//!   never removed by the run that lost it);
//! - the state is replaced with `If-Match: <ETag of the version this run checked>` (or
//!   `If-None-Match: *` for the first write), after the same lineage/serial checks as the local
//!   backend: a writer that did not hold the lock cannot overwrite a newer state.
//!
//! Turn on bucket versioning: S3 then keeps every previous state (the local backend's
//! `.backup`, and more). The bucket is not created by cutover.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::backend::{Backend, BoxFuture, LockAttempt, LockInfo};
use super::document::{CUTOVER_VERSION, STATE_FORMAT_VERSION, State, StateStamp};
use super::encryption::{self, Encryption, Purpose};
use super::error::{Result, StampDescription, StateError};
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::value::Value;

/// How long releasing the lock from a `Drop` may take before it is given up (and reported).
const UNLOCK_ON_DROP_TIMEOUT: Duration = Duration::from_secs(15);

/// The arguments of `backend "s3" { ... }`.
pub fn s3_backend_schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::required("bucket", Type::String)
                .describe("the bucket holding the state (created beforehand, versioning on)"),
            AttributeSchema::required("key", Type::String)
                .describe("the state object's key, e.g. orders/cutover.state.json"),
            AttributeSchema::optional("region", Type::String)
                .describe("the bucket's region (default: AWS_REGION or the profile's)"),
            AttributeSchema::optional("endpoint_url", Type::String)
                .describe("an S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or AWS)"),
            AttributeSchema::optional("profile", Type::String)
                .describe("a named AWS profile for the backend's credentials"),
            AttributeSchema::optional("lock_key", Type::String)
                .describe("the lock object's key (default: key + \".lock\")"),
            AttributeSchema::optional("use_path_style", Type::Bool).describe(
                "address the bucket in the path (http://host/bucket/key); default true with endpoint_url",
            ),
            AttributeSchema::optional("server_side_encryption", Type::String)
                .describe(
                    "the server-side encryption S3 is asked for on every write of the state and lock objects: AES256 (SSE-S3, the default) or aws:kms (SSE-KMS)",
                )
                .one_of(&[SSE_S3, SSE_KMS]),
            AttributeSchema::optional("kms_key_id", Type::String)
                .describe(
                    "the KMS key (id, ARN or alias/NAME) for server_side_encryption = \"aws:kms\" (default: the account's aws/s3 key)",
                )
                .only_when(
                    "server_side_encryption",
                    &[SSE_KMS],
                    "S3 uses a KMS key only for SSE-KMS",
                ),
        ],
        Vec::new(),
    )
    .with_advice(s3_advice)
}

/// An `http://` endpoint to another host carries the state (secrets' keyed hashes, every
/// attribute) in clear; a local emulator on this machine is exempt.
fn s3_advice(
    settings: &std::collections::BTreeMap<String, Value>,
) -> Vec<crate::config::schema::AdviceItem> {
    match settings
        .get("endpoint_url")
        .and_then(|value| value.peel().as_str())
    {
        Some(url) if crate::config::schema::is_cleartext_remote_url(url) => vec![(
            "endpoint_url",
            "endpoint_url uses http:// to a host that is not this machine: the state and its lock cross the network unencrypted; use https://".to_owned(),
        )],
        _ => Vec::new(),
    }
}

/// `server_side_encryption` values (S3's own spelling).
const SSE_S3: &str = "AES256";
const SSE_KMS: &str = "aws:kms";

/// The server-side encryption asked for on every `PutObject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSideEncryption {
    /// SSE-S3: keys managed by S3 (`AES256`).
    S3Managed,
    /// SSE-KMS with the given key, or the account's `aws/s3` key when `None`.
    Kms { key_id: Option<String> },
}

/// The decoded `backend "s3"` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    pub key: String,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
    pub lock_key: String,
    pub use_path_style: bool,
    pub server_side_encryption: ServerSideEncryption,
}

impl S3Settings {
    /// Decodes the evaluated block (checked against [`s3_backend_schema`]); errors say which
    /// setting is wrong.
    pub fn from_value(value: &Value) -> std::result::Result<Self, String> {
        let map = value
            .as_map()
            .ok_or_else(|| "the s3 backend block must be a block of settings".to_owned())?;
        let text = |name: &str| -> std::result::Result<Option<String>, String> {
            match map.get(name) {
                None => Ok(None),
                Some(value) if value.is_null() => Ok(None),
                Some(value) => match value.as_str() {
                    Some(text) if !text.is_empty() => Ok(Some(text.to_owned())),
                    Some(_) => Err(format!("backend \"s3\": {name} must not be empty")),
                    None => Err(format!("backend \"s3\": {name} must be a string")),
                },
            }
        };
        let bucket = text("bucket")?.ok_or("backend \"s3\": bucket is required")?;
        let key = text("key")?.ok_or("backend \"s3\": key is required")?;
        if key.ends_with('/') {
            return Err(format!(
                "backend \"s3\": key \"{key}\" names a folder; give the state object's full key, e.g. {key}cutover.state.json"
            ));
        }
        let endpoint_url = text("endpoint_url")?;
        if let Some(url) = &endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "backend \"s3\": endpoint_url \"{url}\" must start with http:// or https://"
            ));
        }
        let lock_key = text("lock_key")?.unwrap_or_else(|| format!("{key}.lock"));
        if lock_key == key {
            return Err("backend \"s3\": lock_key must differ from key".to_owned());
        }
        let use_path_style = match map.get("use_path_style").map(Value::peel) {
            None | Some(Value::Null) => endpoint_url.is_some(),
            Some(Value::Bool(flag)) => *flag,
            Some(_) => {
                return Err("backend \"s3\": use_path_style must be true or false".to_owned());
            }
        };
        let kms_key_id = text("kms_key_id")?;
        let server_side_encryption = match text("server_side_encryption")?.as_deref() {
            None | Some(SSE_S3) if kms_key_id.is_none() => ServerSideEncryption::S3Managed,
            None | Some(SSE_S3) => {
                return Err(format!(
                    "backend \"s3\": kms_key_id needs server_side_encryption = \"{SSE_KMS}\""
                ));
            }
            Some(SSE_KMS) => ServerSideEncryption::Kms { key_id: kms_key_id },
            Some(other) => {
                return Err(format!(
                    "backend \"s3\": server_side_encryption \"{other}\" is not one of \"{SSE_S3}\", \"{SSE_KMS}\""
                ));
            }
        };
        Ok(S3Settings {
            bucket,
            key,
            region: text("region")?,
            endpoint_url,
            profile: text("profile")?,
            lock_key,
            use_path_style,
            server_side_encryption,
        })
    }

    /// An S3 client for these settings, from the standard AWS configuration chain.
    pub async fn client(&self) -> aws_sdk_s3::Client {
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
        let config = loader.load().await;
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(self.use_path_style)
            .build();
        aws_sdk_s3::Client::from_conf(s3)
    }
}

/// The state in S3. The client is made on first use (constructing the backend does no I/O).
pub struct S3Backend {
    settings: S3Settings,
    client: OnceCell<aws_sdk_s3::Client>,
    /// False when the client was given (tests): a `Drop` then cannot make its own.
    rebuildable: bool,
    /// Set: the state object is written encrypted (see [`super::encryption`]).
    encryption: Option<Arc<Encryption>>,
}

/// The object, its ETag, as last read.
struct Stored {
    bytes: Vec<u8>,
    etag: Option<String>,
}

impl S3Backend {
    pub fn new(settings: S3Settings) -> Self {
        S3Backend {
            settings,
            client: OnceCell::new(),
            rebuildable: true,
            encryption: None,
        }
    }

    /// Writes the state encrypted with `encryption` (and reads encrypted states with it).
    pub fn with_encryption(mut self, encryption: Option<Arc<Encryption>>) -> Self {
        self.encryption = encryption;
        self
    }

    fn plaintext<'b>(&self, bytes: &'b [u8]) -> Result<std::borrow::Cow<'b, [u8]>> {
        encryption::open(
            self.encryption.as_deref(),
            Purpose::State,
            bytes,
            &self.location(),
        )
    }

    /// A backend using `client` (with a mocked HTTP layer in unit tests).
    pub fn with_client(settings: S3Settings, client: aws_sdk_s3::Client) -> Self {
        S3Backend {
            settings,
            client: OnceCell::new_with(Some(client)),
            rebuildable: false,
            encryption: None,
        }
    }

    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    async fn client(&self) -> &aws_sdk_s3::Client {
        self.client.get_or_init(|| self.settings.client()).await
    }

    /// `request` asking S3 for the configured server-side encryption.
    fn encrypted(
        &self,
        request: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        use aws_sdk_s3::types::ServerSideEncryption as Sse;
        match &self.settings.server_side_encryption {
            ServerSideEncryption::S3Managed => request.server_side_encryption(Sse::Aes256),
            ServerSideEncryption::Kms { key_id } => request
                .server_side_encryption(Sse::AwsKms)
                .set_ssekms_key_id(key_id.clone()),
        }
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.settings.bucket)
    }

    /// An error for a failed S3 call on `key`, with a hint for the usual causes.
    fn failure<E, R>(&self, action: &'static str, key: &str, error: SdkError<E, R>) -> StateError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let message = match &error {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("an unnamed error");
                let detail = service
                    .err()
                    .message()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                let hint = match code {
                    "NoSuchBucket" => format!(
                        "; create the bucket {} (with versioning on) first",
                        self.settings.bucket
                    ),
                    "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" => {
                        "; check the AWS credentials the backend uses (profile, AWS_PROFILE, AWS_ACCESS_KEY_ID) and that they may read and write the state and lock objects".to_owned()
                    }
                    "SlowDown" | "Throttling" | "ThrottlingException" => {
                        "; S3 throttled the request even after retries: wait and run again".to_owned()
                    }
                    _ => String::new(),
                };
                format!("{code}{detail}{hint}")
            }
            _ => {
                let causes = causes(&error);
                if causes.contains("credentials") {
                    format!(
                        "no AWS credentials could be loaded ({causes}); set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or profile in the backend block"
                    )
                } else {
                    format!("{causes}; check the network, the region and endpoint_url")
                }
            }
        };
        StateError::io(action, self.url(key), std::io::Error::other(message))
    }

    /// The object at `key`, or `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Stored>> {
        let answer = self
            .client()
            .await
            .get_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(error) if is_missing(&error) => return Ok(None),
            Err(error) => return Err(self.failure("read", key, error)),
        };
        let etag = output.e_tag().map(str::to_owned);
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|error| StateError::io("read", self.url(key), std::io::Error::other(error)))?
            .into_bytes()
            .to_vec();
        Ok(Some(Stored { bytes, etag }))
    }

    /// The lineage and serial of stored state bytes, refusing a newer format.
    fn stored_stamp(&self, bytes: &[u8]) -> Result<StateStamp> {
        #[derive(Deserialize)]
        struct Probe {
            version: u64,
            serial: u64,
            lineage: String,
        }
        let location = self.location();
        let bytes = self.plaintext(bytes)?;
        let probe: Probe = serde_json::from_slice(&bytes)
            .map_err(|error| StateError::corrupt("state JSON", &location, &error))?;
        if probe.version == 0 || probe.version > STATE_FORMAT_VERSION {
            return Err(StateError::UnsupportedVersion {
                path: location.into(),
                found: probe.version,
                supported: STATE_FORMAT_VERSION,
                cutover_version: CUTOVER_VERSION,
            });
        }
        Ok(StateStamp {
            lineage: probe.lineage,
            serial: probe.serial,
        })
    }

    async fn write_checked(&self, state: &State, expected: Option<&StateStamp>) -> Result<()> {
        let bytes = encryption::seal_if_configured(
            self.encryption.as_deref(),
            Purpose::State,
            state.to_json_bytes()?,
        )?;
        let new = state.stamp();
        let stored = self.get(&self.settings.key).await?;
        let stored_stamp = match &stored {
            Some(object) => Some(self.stored_stamp(&object.bytes)?),
            None => None,
        };
        if stored_stamp.as_ref() != expected {
            return Err(StateError::StaleWrite {
                location: self.location(),
                expected: StampDescription(expected.cloned()),
                found: StampDescription(stored_stamp),
            });
        }
        if let Some(stored) = &stored_stamp {
            if stored.lineage != new.lineage {
                return Err(StateError::LineageMismatch {
                    location: self.location(),
                    stored: stored.lineage.clone(),
                    new: new.lineage.clone(),
                });
            }
            if new.serial <= stored.serial {
                return Err(StateError::SerialNotIncremented {
                    location: self.location(),
                    stored: stored.serial,
                    new: new.serial,
                });
            }
        }
        let mut request = self.encrypted(
            self.client()
                .await
                .put_object()
                .bucket(&self.settings.bucket)
                .key(&self.settings.key)
                .content_type("application/json")
                .body(ByteStream::from(bytes)),
        );
        request = match stored.as_ref().and_then(|object| object.etag.as_deref()) {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) if is_conflict(&error) => {
                // Someone wrote between our check and our write.
                let found = match self.get(&self.settings.key).await? {
                    Some(object) => Some(self.stored_stamp(&object.bytes)?),
                    None => None,
                };
                Err(StateError::StaleWrite {
                    location: self.location(),
                    expected: StampDescription(expected.cloned()),
                    found: StampDescription(found),
                })
            }
            Err(error) => Err(self.failure("write", &self.settings.key, error)),
        }
    }

    async fn try_lock_once(&self, info: &LockInfo) -> Result<LockAttempt> {
        let mut bytes = serde_json::to_vec_pretty(info).map_err(StateError::Serialize)?;
        bytes.push(b'\n');
        let answer = self
            .encrypted(
                self.client()
                    .await
                    .put_object()
                    .bucket(&self.settings.bucket)
                    .key(&self.settings.lock_key)
                    .content_type("application/json")
                    .if_none_match("*")
                    .body(ByteStream::from(bytes)),
            )
            .send()
            .await;
        match answer {
            Ok(_) => Ok(LockAttempt::Acquired),
            Err(error) if is_conflict(&error) => match self.get(&self.settings.lock_key).await? {
                Some(object) => Ok(match serde_json::from_slice::<LockInfo>(&object.bytes) {
                    Ok(holder) => LockAttempt::HeldBy(holder),
                    Err(error) => LockAttempt::HeldUnreadable(
                        StateError::corrupt("lock JSON", self.lock_location(), &error).to_string(),
                    ),
                }),
                None => Ok(LockAttempt::HeldUnreadable(
                    "it was released while being read".to_owned(),
                )),
            },
            Err(error) => Err(self.failure("create", &self.settings.lock_key, error)),
        }
    }

    async fn holder(&self) -> Result<Option<(LockInfo, Option<String>)>> {
        let Some(object) = self.get(&self.settings.lock_key).await? else {
            return Ok(None);
        };
        let info = serde_json::from_slice::<LockInfo>(&object.bytes)
            .map_err(|error| StateError::corrupt("lock JSON", self.lock_location(), &error))?;
        Ok(Some((info, object.etag)))
    }

    async fn unlock_checked(&self, id: &str) -> Result<()> {
        let Some((holder, etag)) = self.holder().await? else {
            return Err(StateError::NotLocked {
                location: self.lock_location(),
                given: id.to_owned(),
            });
        };
        if holder.id != id {
            return Err(StateError::LockIdMismatch {
                location: self.lock_location(),
                given: id.to_owned(),
                holder: Box::new(holder),
            });
        }
        let mut request = self
            .client()
            .await
            .delete_object()
            .bucket(&self.settings.bucket)
            .key(&self.settings.lock_key);
        if let Some(etag) = etag {
            request = request.if_match(etag);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) if is_conflict(&error) => match self.holder().await? {
                Some((holder, _)) => Err(StateError::LockIdMismatch {
                    location: self.lock_location(),
                    given: id.to_owned(),
                    holder: Box::new(holder),
                }),
                None => Ok(()),
            },
            Err(error) => Err(self.failure("remove", &self.settings.lock_key, error)),
        }
    }
}

/// An error and its causes, each once, as `a: b: c`.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = current {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = cause.source();
    }
    parts.join(": ")
}

type S3Error<E> = SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

/// The object does not exist.
fn is_missing<E: ProvideErrorMetadata>(error: &S3Error<E>) -> bool {
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code();
            matches!(code, Some("NoSuchKey" | "NotFound"))
                || (service.raw().status().as_u16() == 404 && code != Some("NoSuchBucket"))
        }
        _ => false,
    }
}

/// A conditional write lost: the object changed (412) or a concurrent conditional write is in
/// progress (409).
fn is_conflict<E: ProvideErrorMetadata>(error: &S3Error<E>) -> bool {
    match error {
        SdkError::ServiceError(service) => {
            matches!(
                service.err().code(),
                Some("PreconditionFailed" | "ConditionalRequestConflict")
            ) || matches!(service.raw().status().as_u16(), 412 | 409)
        }
        _ => false,
    }
}

impl Backend for S3Backend {
    fn location(&self) -> String {
        self.url(&self.settings.key)
    }

    fn lock_location(&self) -> String {
        self.url(&self.settings.lock_key)
    }

    fn read(&self) -> BoxFuture<'_, Result<Option<State>>> {
        Box::pin(async move {
            match self.get(&self.settings.key).await? {
                Some(object) => State::from_json_bytes(
                    &self.plaintext(&object.bytes)?,
                    Path::new(&self.location()),
                )
                .map(Some),
                None => Ok(None),
            }
        })
    }

    fn write<'a>(
        &'a self,
        state: &'a State,
        expected: Option<&'a StateStamp>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.write_checked(state, expected))
    }

    fn try_lock<'a>(&'a self, info: &'a LockInfo) -> BoxFuture<'a, Result<LockAttempt>> {
        Box::pin(self.try_lock_once(info))
    }

    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>>> {
        Box::pin(async move { Ok(self.holder().await?.map(|(info, _)| info)) })
    }

    fn unlock<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.unlock_checked(id))
    }

    /// Releases the lock from a `Drop` (an interrupted or failed command): on a thread of its
    /// own with its own runtime and client, because the command's runtime may be shutting down
    /// and would drop a spawned release half-way, leaving the state locked.
    fn unlock_now(&self, id: &str) -> Option<Result<()>> {
        if !self.rebuildable {
            return None;
        }
        let backend = Arc::new(S3Backend::new(self.settings.clone()));
        let id = id.to_owned();
        let released = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| StateError::Task(error.to_string()))?;
            runtime.block_on(async move {
                tokio::time::timeout(UNLOCK_ON_DROP_TIMEOUT, backend.unlock_checked(&id))
                    .await
                    .unwrap_or_else(|_| {
                        Err(StateError::Task(format!(
                            "releasing the lock took longer than {}s",
                            UNLOCK_ON_DROP_TIMEOUT.as_secs()
                        )))
                    })
            })
        })
        .join()
        .unwrap_or_else(|_| {
            Err(StateError::Task(
                "the lock release thread panicked".to_owned(),
            ))
        });
        Some(released)
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_mocks::{MockResponseInterceptor, RuleMode, create_mock_http_client, mock};

    use super::*;

    fn settings() -> S3Settings {
        S3Settings::from_value(&Value::Map(
            [
                ("bucket".to_owned(), Value::string("cutover-state")),
                ("key".to_owned(), Value::string("orders/cutover.state.json")),
            ]
            .into(),
        ))
        .unwrap()
    }

    #[test]
    fn settings_default_the_lock_key_and_refuse_bad_ones() {
        let decoded = settings();
        assert_eq!(decoded.lock_key, "orders/cutover.state.json.lock");
        assert!(!decoded.use_path_style);
        let backend = S3Backend::new(decoded);
        assert_eq!(
            backend.location(),
            "s3://cutover-state/orders/cutover.state.json"
        );
        assert_eq!(
            backend.lock_location(),
            "s3://cutover-state/orders/cutover.state.json.lock"
        );
        let with = |pairs: &[(&str, Value)]| {
            let mut map: std::collections::BTreeMap<String, Value> = [
                ("bucket".to_owned(), Value::string("b")),
                ("key".to_owned(), Value::string("k")),
            ]
            .into();
            for (k, v) in pairs {
                map.insert((*k).to_owned(), v.clone());
            }
            S3Settings::from_value(&Value::Map(map))
        };
        assert_eq!(
            with(&[("key", Value::string("dir/"))]).unwrap_err(),
            "backend \"s3\": key \"dir/\" names a folder; give the state object's full key, e.g. dir/cutover.state.json"
        );
        assert_eq!(
            with(&[("lock_key", Value::string("k"))]).unwrap_err(),
            "backend \"s3\": lock_key must differ from key"
        );
        assert!(
            with(&[("endpoint_url", Value::string("http://127.0.0.1:15000"))])
                .unwrap()
                .use_path_style
        );
        assert!(
            with(&[("endpoint_url", Value::string("localhost:9000"))])
                .unwrap_err()
                .contains("must start with http://")
        );
    }

    #[tokio::test]
    async fn access_denied_names_the_object_and_the_credentials() {
        let denied = mock!(aws_sdk_s3::Client::get_object)
            .sequence()
            .http_status(
                403,
                Some("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>".into()),
            )
            .build();
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "AKIDMOCKED",
                    "secret",
                    None,
                    None,
                    "mocked",
                ))
                .http_client(create_mock_http_client())
                .interceptor(
                    MockResponseInterceptor::new()
                        .rule_mode(RuleMode::Sequential)
                        .with_rule(&denied),
                )
                .build(),
        );
        let backend = S3Backend::with_client(settings(), client);
        let error = backend.read().await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot read s3://cutover-state/orders/cutover.state.json: AccessDenied: Access Denied; check the AWS credentials the backend uses (profile, AWS_PROFILE, AWS_ACCESS_KEY_ID) and that they may read and write the state and lock objects"
        );
        // A backend with a given client cannot rebuild it to release a lock from a Drop.
        assert!(backend.unlock_now("id").is_none());
    }
}
