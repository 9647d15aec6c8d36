//! Encryption at rest of the state and of saved plans, with a key kept outside them.
//!
//! A state names infrastructure and a saved plan holds every non-sensitive variable value in
//! plaintext; both end up in buckets and CI artifacts. With an encryption key configured,
//! cutover writes them as an envelope:
//!
//! ```json
//! {"cutover_encrypted": 1, "method": "xchacha20poly1305", "purpose": "state",
//!  "key_id": "enc:0123456789abcdef", "nonce": "<48 hex>", "ciphertext": "<base64>"}
//! ```
//!
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`), a fresh random 192-bit nonce per
//! write, the purpose and key id authenticated with the ciphertext (a plan cannot pass for a
//! state, nor the other way round). The key id is an HMAC of a fixed label and says which key
//! was used without revealing it.
//!
//! The key: `CUTOVER_ENCRYPTION_KEY` (32 bytes, hex or base64), else the file named by
//! `CUTOVER_ENCRYPTION_KEY_FILE` (the same text; refused when group or others can read it),
//! else an AWS KMS key named by `CUTOVER_ENCRYPTION_KMS_KEY_ID` (id, ARN or `alias/NAME`):
//! envelope encryption, as AWS recommends. KMS makes a 256-bit data key (`GenerateDataKey`);
//! the file is sealed with it as above, and the data key, encrypted by KMS, is stored in the
//! envelope beside the ciphertext (`"kms_key_arn"`, `"encrypted_data_key"`). Reading asks KMS
//! to decrypt that data key (`Decrypt`, with the ARN recorded), so whoever may use the KMS key
//! may read the file and nobody else, and the key never leaves KMS. One data key serves a
//! whole run (one KMS call per run, not per state write); each write still has its own nonce.
//! The KMS calls use the standard AWS configuration (profile, region, `AWS_ENDPOINT_URL_KMS`).
//! Why settings and not an HCL block: see docs/decisions.md. A file that is not an envelope
//! is read as it is (so turning encryption on migrates on the next write); an envelope
//! without the key, or with another key, is an error that says so.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::error::{Result, StateError};
use super::platform;
use super::sensitive::{HashKey, KeyOrigin};

/// The environment variable holding the encryption key itself.
pub const ENCRYPTION_KEY_ENV: &str = "CUTOVER_ENCRYPTION_KEY";
/// The environment variable naming the encryption key file.
pub const ENCRYPTION_KEY_FILE_ENV: &str = "CUTOVER_ENCRYPTION_KEY_FILE";
/// The environment variable naming the AWS KMS key that encrypts the data keys.
pub const ENCRYPTION_KMS_KEY_ENV: &str = "CUTOVER_ENCRYPTION_KMS_KEY_ID";
/// The KMS encryption context of every data key: KMS refuses to decrypt a data key without
/// it, and CloudTrail shows it beside each call.
const KMS_CONTEXT: (&str, &str) = ("cutover", "state and plan encryption v1");
/// How long one KMS call may take, retries included.
const KMS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

const ENVELOPE_MARKER: &str = "cutover_encrypted";
const METHOD: &str = "xchacha20poly1305";

/// What an envelope holds; authenticated with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    State,
    Plan,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::State => "state",
            Purpose::Plan => "plan",
        }
    }
}

/// Where the key comes from, gathered once from the environment.
#[derive(Clone, Default)]
pub struct EncryptionSettings {
    /// `CUTOVER_ENCRYPTION_KEY`.
    pub key: Option<String>,
    /// `CUTOVER_ENCRYPTION_KEY_FILE`.
    pub key_file: Option<PathBuf>,
    /// `CUTOVER_ENCRYPTION_KMS_KEY_ID`.
    pub kms_key_id: Option<String>,
}

/// The key itself is never shown: only whether it is set.
impl std::fmt::Debug for EncryptionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionSettings")
            .field("key", &self.key.as_ref().map(|_| "(set)"))
            .field("key_file", &self.key_file)
            .field("kms_key_id", &self.kms_key_id)
            .finish()
    }
}

impl EncryptionSettings {
    /// Read once per run, by `Settings::resolve` (the settings module).
    pub fn from_env() -> Self {
        EncryptionSettings {
            key: std::env::var(ENCRYPTION_KEY_ENV)
                .ok()
                .filter(|key| !key.trim().is_empty()),
            key_file: std::env::var_os(ENCRYPTION_KEY_FILE_ENV)
                .filter(|path| !path.is_empty())
                .map(PathBuf::from),
            kms_key_id: std::env::var(ENCRYPTION_KMS_KEY_ENV)
                .ok()
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty()),
        }
    }
}

/// The key files are encrypted with. Its `Debug` form shows only the id.
pub struct Encryption {
    source: KeySource,
    /// For a key of our own: the cipher key (for KMS, each data key is its own).
    key: [u8; 32],
    id: String,
    origin: String,
}

enum KeySource {
    /// `CUTOVER_ENCRYPTION_KEY` or its file.
    Local,
    /// Data keys from AWS KMS.
    Kms(KmsKeys),
}

/// The KMS key, this run's data key (made on the first write) and the data keys decrypted so
/// far (by their encrypted form).
struct KmsKeys {
    key_id: String,
    /// Set in unit tests: a client with a mocked HTTP layer.
    client: Option<aws_sdk_kms::Client>,
    data_key: std::sync::Mutex<Option<DataKey>>,
    decrypted: std::sync::Mutex<std::collections::HashMap<Vec<u8>, [u8; 32]>>,
}

#[derive(Clone)]
struct DataKey {
    plaintext: [u8; 32],
    encrypted: Vec<u8>,
    key_arn: String,
}

impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encryption")
            .field("id", &self.id)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    cutover_encrypted: u32,
    method: String,
    purpose: String,
    key_id: String,
    /// With a KMS key: the key's ARN and the data key it encrypted (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_key_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encrypted_data_key: Option<String>,
    nonce: String,
    ciphertext: String,
}

impl Encryption {
    /// The configured key, or `None` when encryption is not configured.
    pub fn resolve(settings: &EncryptionSettings) -> Result<Option<Self>> {
        let configured = [
            settings.key.is_some().then_some(ENCRYPTION_KEY_ENV),
            settings
                .key_file
                .is_some()
                .then_some(ENCRYPTION_KEY_FILE_ENV),
            settings
                .kms_key_id
                .is_some()
                .then_some(ENCRYPTION_KMS_KEY_ENV),
        ];
        let configured: Vec<&str> = configured.into_iter().flatten().collect();
        if configured.len() > 1 {
            return Err(StateError::Encryption(format!(
                "{} are {} set: set only one of them, so that it is clear which key encrypts the state",
                configured.join(" and "),
                if configured.len() == 2 { "both" } else { "all" }
            )));
        }
        if let Some(key_id) = &settings.kms_key_id {
            return Ok(Some(Self::kms(key_id, None)));
        }
        let (text, origin) = if let Some(key) = &settings.key {
            (key.clone(), ENCRYPTION_KEY_ENV.to_owned())
        } else if let Some(path) = &settings.key_file {
            (
                super::sensitive::read_private_key_file(
                    path,
                    super::error::KeyFileKind::Encryption,
                )?,
                path.display().to_string(),
            )
        } else {
            return Ok(None);
        };
        // The same text forms as the state key (hex or base64, at least 32 bytes), and the
        // same care never to quote it in an error.
        let parsed = HashKey::parse(&text, KeyOrigin::Explicit).map_err(|error| match error {
            StateError::InvalidKey { reason, .. } => StateError::InvalidKey {
                origin: format!("{origin} (the encryption key)"),
                reason,
            },
            other => other,
        })?;
        Ok(Some(Self::from_key_bytes(
            parsed.bytes_for_encryption(),
            origin,
        )))
    }

    fn from_key_bytes(bytes: &[u8], origin: String) -> Self {
        // The cipher key and the public id are both derived, so the id says nothing of the key
        // and a key longer than 32 bytes is used whole.
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(bytes)
                .expect("HMAC accepts keys of any length");
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        let key = derive(b"cutover encryption key v1");
        let id = format!(
            "enc:{}",
            hex::encode(&derive(b"cutover encryption key id v1")[..8])
        );
        Encryption {
            source: KeySource::Local,
            key,
            id,
            origin,
        }
    }

    /// Data keys from the KMS key `key_id`, through `client` when given (tests), else
    /// through a client from the standard AWS configuration.
    fn kms(key_id: &str, client: Option<aws_sdk_kms::Client>) -> Self {
        Encryption {
            source: KeySource::Kms(KmsKeys {
                key_id: key_id.to_owned(),
                client,
                data_key: std::sync::Mutex::new(None),
                decrypted: std::sync::Mutex::default(),
            }),
            key: [0; 32],
            id: format!("kms:{key_id}"),
            origin: format!("{ENCRYPTION_KMS_KEY_ENV}={key_id}"),
        }
    }

    /// The public id of the key (recorded in every envelope): `enc:<16 hex>` for a key of our
    /// own, `kms:<the KMS key as configured>`.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn associated_data(purpose: &str, key_id: &str) -> Vec<u8> {
        format!("cutover {purpose} {METHOD} {key_id}").into_bytes()
    }

    /// `plaintext` as an envelope.
    pub fn seal(&self, purpose: Purpose, plaintext: &[u8]) -> Result<Vec<u8>> {
        let (key, key_id, kms_key_arn, encrypted_data_key) = match &self.source {
            KeySource::Local => (self.key, self.id.clone(), None, None),
            KeySource::Kms(kms) => {
                let data_key = kms.data_key()?;
                (
                    data_key.plaintext,
                    format!("kms:{}", data_key.key_arn),
                    Some(data_key.key_arn),
                    Some(base64::engine::general_purpose::STANDARD.encode(&data_key.encrypted)),
                )
            }
        };
        let mut nonce = [0u8; 24];
        platform::fill_random(&mut nonce)
            .map_err(|error| StateError::io("read", "/dev/urandom", error))?;
        let cipher = XChaCha20Poly1305::new((&key).into());
        let aad = Self::associated_data(purpose.as_str(), &key_id);
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| StateError::Encryption("encryption failed".to_owned()))?;
        let envelope = Envelope {
            cutover_encrypted: 1,
            method: METHOD.to_owned(),
            purpose: purpose.as_str().to_owned(),
            key_id,
            kms_key_arn,
            encrypted_data_key,
            nonce: hex::encode(nonce),
            ciphertext: base64::engine::general_purpose::STANDARD.encode(ciphertext),
        };
        let mut bytes = serde_json::to_vec(&envelope).map_err(StateError::Serialize)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

impl KmsKeys {
    /// This run's data key, asked of KMS on first use.
    fn data_key(&self) -> Result<DataKey> {
        let mut slot = self
            .data_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(data_key) = slot.as_ref() {
            return Ok(data_key.clone());
        }
        let key_id = self.key_id.clone();
        let made = self
            .call(None, move |client| async move {
                let output = client
                    .generate_data_key()
                    .key_id(&key_id)
                    .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
                    .encryption_context(KMS_CONTEXT.0, KMS_CONTEXT.1)
                    .send()
                    .await
                    .map_err(|error| kms_failure("GenerateDataKey", &key_id, &error))?;
                let plaintext: [u8; 32] = output
                    .plaintext()
                    .and_then(|blob| blob.as_ref().try_into().ok())
                    .ok_or_else(|| format!("AWS KMS returned no 256-bit data key for {key_id}"))?;
                let encrypted = output
                    .ciphertext_blob()
                    .map(|blob| blob.as_ref().to_vec())
                    .filter(|blob| !blob.is_empty())
                    .ok_or_else(|| {
                        format!("AWS KMS returned no encrypted data key for {key_id}")
                    })?;
                let key_arn = output.key_id().unwrap_or(&key_id).to_owned();
                Ok(DataKey {
                    plaintext,
                    encrypted,
                    key_arn,
                })
            })
            .map_err(StateError::Encryption)?;
        self.decrypted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(made.encrypted.clone(), made.plaintext);
        *slot = Some(made.clone());
        Ok(made)
    }

    /// The data key `encrypted` under the KMS key `key_arn`, asked of KMS once per run.
    fn decrypt(&self, key_arn: &str, encrypted: &[u8]) -> std::result::Result<[u8; 32], String> {
        if let Some(key) = self
            .decrypted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(encrypted)
        {
            return Ok(*key);
        }
        let key_arn = key_arn.to_owned();
        let blob = encrypted.to_vec();
        let key = self.call(Some(&key_arn.clone()), move |client| async move {
            let output = client
                .decrypt()
                .key_id(&key_arn)
                .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(blob))
                .encryption_context(KMS_CONTEXT.0, KMS_CONTEXT.1)
                .send()
                .await
                .map_err(|error| kms_failure("Decrypt", &key_arn, &error))?;
            output
                .plaintext()
                .and_then(|blob| <[u8; 32]>::try_from(blob.as_ref()).ok())
                .ok_or_else(|| format!("AWS KMS returned no 256-bit data key from {key_arn}"))
        })?;
        self.decrypted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(encrypted.to_vec(), key);
        Ok(key)
    }

    /// Runs one KMS call to completion on a thread of its own with its own runtime: sealing
    /// and opening are synchronous (they sit inside state and plan file I/O), and may be
    /// called from inside the command's runtime, which must not be blocked on itself.
    /// `key_arn` sets the client's region to the key's.
    fn call<T, F, Fut>(&self, key_arn: Option<&str>, work: F) -> std::result::Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(aws_sdk_kms::Client) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = std::result::Result<T, String>>,
    {
        let given = self.client.clone();
        let region = key_arn.and_then(region_of_arn);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| format!("cannot start the AWS KMS client: {error}"))?;
            runtime.block_on(async move {
                let client = match given {
                    Some(client) => client,
                    None => {
                        let mut loader =
                            aws_config::defaults(aws_config::BehaviorVersion::latest());
                        if let Some(region) = region {
                            loader = loader.region(aws_config::Region::new(region));
                        }
                        aws_sdk_kms::Client::new(&loader.load().await)
                    }
                };
                tokio::time::timeout(KMS_TIMEOUT, work(client))
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "AWS KMS did not answer within {}s; check the network, the region and AWS_ENDPOINT_URL_KMS",
                            KMS_TIMEOUT.as_secs()
                        ))
                    })
            })
        })
        .join()
        .unwrap_or_else(|_| Err("the AWS KMS call panicked".to_owned()))
    }
}

/// The region of a KMS key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`).
fn region_of_arn(arn: &str) -> Option<String> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("kms"), Some(region)) if !region.is_empty() => {
            Some(region.to_owned())
        }
        _ => None,
    }
}

/// A failed KMS call, with a hint for the usual causes. KMS errors name keys and
/// principals, never key material.
fn kms_failure<E, R>(
    action: &str,
    key_id: &str,
    error: &aws_sdk_kms::error::SdkError<E, R>,
) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_kms::error::SdkError;
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("an unnamed error");
            let detail = service
                .err()
                .message()
                .map(|message| format!(": {message}"))
                .unwrap_or_default();
            let hint = match code {
                "AccessDeniedException" => {
                    format!("; the AWS credentials in use must be allowed kms:{action} on {key_id}")
                }
                "NotFoundException" => format!(
                    "; check {ENCRYPTION_KMS_KEY_ENV} and the region: the key must exist there"
                ),
                "DisabledException" | "KMSInvalidStateException" => {
                    "; enable the key (or cancel its deletion) in AWS KMS".to_owned()
                }
                "InvalidCiphertextException" => {
                    "; the encrypted data key was changed or belongs to another key".to_owned()
                }
                _ => String::new(),
            };
            format!("AWS KMS {action} with {key_id} failed: {code}{detail}{hint}")
        }
        other => {
            let mut causes = Vec::new();
            let mut current: Option<&(dyn std::error::Error + 'static)> = Some(other);
            while let Some(cause) = current {
                let text = cause.to_string();
                if !text.is_empty() && !causes.iter().any(|seen: &String| seen.contains(&text)) {
                    causes.push(text);
                }
                current = cause.source();
            }
            format!(
                "AWS KMS {action} with {key_id} failed: {}; check the AWS credentials, the region and the network",
                causes.join(": ")
            )
        }
    }
}

/// True when `bytes` is an encrypted envelope (of any key).
pub fn is_envelope(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(format!("{{\"{ENVELOPE_MARKER}\"").as_bytes())
}

/// A saved plan must be encrypted when a key is configured: this configuration writes only
/// encrypted plans, so a plaintext one was written elsewhere (or swapped in), and applying it
/// would replay variables nobody encrypted. Falling back to plaintext is explicit: unset the
/// key. (State is different: a plaintext state is how encryption starts, and is read.)
pub fn refuse_plaintext_plan(
    encryption: Option<&Encryption>,
    bytes: &[u8],
    location: &str,
) -> Result<()> {
    if encryption.is_some() && !is_envelope(bytes) {
        return Err(StateError::Encryption(format!(
            "{location} is not encrypted, but an encryption key is configured ({ENCRYPTION_KEY_ENV}, {ENCRYPTION_KEY_FILE_ENV} or {ENCRYPTION_KMS_KEY_ENV}): plans written here are encrypted, so this one was written elsewhere; run plan -out again, or unset the key to use a plaintext plan deliberately"
        )));
    }
    Ok(())
}

/// The plaintext of a stored file: decrypted when it is an envelope, as it is otherwise.
/// `location` names the file or object in errors.
pub fn open<'b>(
    encryption: Option<&Encryption>,
    purpose: Purpose,
    bytes: &'b [u8],
    location: &str,
) -> Result<Cow<'b, [u8]>> {
    if !is_envelope(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    let failure = |message: String| StateError::Encryption(format!("{location}: {message}"));
    let envelope: Envelope = serde_json::from_slice(bytes)
        .map_err(|error| failure(format!("damaged encrypted file: {error}")))?;
    if envelope.cutover_encrypted != 1 || envelope.method != METHOD {
        return Err(failure(format!(
            "encrypted with {} (format {}), which this cutover cannot read",
            envelope.method, envelope.cutover_encrypted
        )));
    }
    if envelope.purpose != purpose.as_str() {
        return Err(failure(format!(
            "this is an encrypted {}, not a {}",
            envelope.purpose,
            purpose.as_str()
        )));
    }
    let kms_envelope = match (&envelope.kms_key_arn, &envelope.encrypted_data_key) {
        (Some(arn), Some(data_key)) => Some((arn, data_key)),
        (None, None) => None,
        _ => {
            return Err(failure(
                "damaged encrypted file: its KMS key or data key is missing".to_owned(),
            ));
        }
    };
    let Some(encryption) = encryption else {
        return Err(failure(match kms_envelope {
            Some((arn, _)) => format!(
                "it is encrypted with the AWS KMS key {arn}: set {ENCRYPTION_KMS_KEY_ENV} to that key (and use AWS credentials that may decrypt with it)"
            ),
            None => format!(
                "it is encrypted (key {}): set {ENCRYPTION_KEY_ENV} or {ENCRYPTION_KEY_FILE_ENV} to its key",
                envelope.key_id
            ),
        }));
    };
    let key = match (&encryption.source, kms_envelope) {
        (KeySource::Local, None) if envelope.key_id == encryption.id => encryption.key,
        // Any KMS key configured: the data key names its own KMS key, which KMS checks (the
        // configured one may be an alias of it, or the key it is being rotated away from).
        (KeySource::Kms(kms), Some((arn, data_key))) => {
            let data_key = base64::engine::general_purpose::STANDARD
                .decode(data_key)
                .map_err(|_| failure("damaged encrypted file: bad data key".to_owned()))?;
            kms.decrypt(arn, &data_key).map_err(&failure)?
        }
        _ => {
            return Err(failure(format!(
                "it is encrypted with key {}, but the configured key ({}) is {}",
                envelope.key_id, encryption.origin, encryption.id
            )));
        }
    };
    let nonce = hex::decode(&envelope.nonce)
        .ok()
        .filter(|nonce| nonce.len() == 24)
        .ok_or_else(|| failure("damaged encrypted file: bad nonce".to_owned()))?;
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(&envelope.ciphertext)
        .map_err(|_| failure("damaged encrypted file: bad ciphertext".to_owned()))?;
    let cipher = XChaCha20Poly1305::new((&key).into());
    let aad = Encryption::associated_data(&envelope.purpose, &envelope.key_id);
    cipher
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: &aad,
            },
        )
        .map(Cow::Owned)
        .map_err(|_| {
            failure(
                "cannot decrypt: the file was changed or damaged after it was written".to_owned(),
            )
        })
}

/// `plaintext` sealed when encryption is configured, as it is otherwise.
pub fn seal_if_configured(
    encryption: Option<&Encryption>,
    purpose: Purpose,
    plaintext: Vec<u8>,
) -> Result<Vec<u8>> {
    match encryption {
        Some(encryption) => encryption.seal(purpose, &plaintext),
        None => Ok(plaintext),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Encryption {
        Encryption::from_key_bytes(&[byte; 32], "test".to_owned())
    }

    #[cfg(unix)]
    #[test]
    fn an_encryption_key_file_others_can_read_is_refused_as_such() {
        use std::os::unix::fs::PermissionsExt as _;
        let path =
            std::env::temp_dir().join(format!("cutover-encryption-key-{}.key", std::process::id()));
        std::fs::write(&path, "ab".repeat(32)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let settings = EncryptionSettings {
            key_file: Some(path.clone()),
            ..EncryptionSettings::default()
        };
        let error = Encryption::resolve(&settings).unwrap_err().to_string();
        assert!(
            error.contains("the encryption key file") && error.contains("decrypt the state"),
            "{error}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Encryption::resolve(&settings).unwrap().is_some());
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn a_plaintext_plan_is_refused_when_a_key_is_configured() {
        let plain = br#"{"format_version": "1"}"#;
        let error = refuse_plaintext_plan(Some(&key(1)), plain, "pr.plan")
            .unwrap_err()
            .to_string();
        assert!(error.contains("pr.plan is not encrypted"), "{error}");
        refuse_plaintext_plan(None, plain, "pr.plan").unwrap();
        let sealed = key(1).seal(Purpose::Plan, plain).unwrap();
        refuse_plaintext_plan(Some(&key(1)), &sealed, "pr.plan").unwrap();
    }

    #[test]
    fn sealed_files_open_only_with_their_key_and_purpose() {
        let plaintext = br#"{"version": 1, "lineage": "secret-looking-name"}"#;
        let sealed = key(1).seal(Purpose::State, plaintext).unwrap();
        assert!(is_envelope(&sealed));
        let text = String::from_utf8(sealed.clone()).unwrap();
        assert!(!text.contains("secret-looking-name"), "{text}");
        // Fresh nonce per write.
        assert_ne!(sealed, key(1).seal(Purpose::State, plaintext).unwrap());

        let opened = open(Some(&key(1)), Purpose::State, &sealed, "s.json").unwrap();
        assert_eq!(opened.as_ref(), plaintext);

        let without = open(None, Purpose::State, &sealed, "s.json").unwrap_err();
        assert!(
            without.to_string().contains("set CUTOVER_ENCRYPTION_KEY"),
            "{without}"
        );
        let other = open(Some(&key(2)), Purpose::State, &sealed, "s.json").unwrap_err();
        assert!(
            other.to_string().contains("encrypted with key enc:"),
            "{other}"
        );
        let as_plan = open(Some(&key(1)), Purpose::Plan, &sealed, "s.json").unwrap_err();
        assert!(as_plan.to_string().contains("not a plan"), "{as_plan}");

        // Tampering is detected.
        let mut envelope: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        let mut ciphertext = base64::engine::general_purpose::STANDARD
            .decode(envelope["ciphertext"].as_str().unwrap())
            .unwrap();
        ciphertext[0] ^= 1;
        envelope["ciphertext"] = base64::engine::general_purpose::STANDARD
            .encode(ciphertext)
            .into();
        let tampered = serde_json::to_vec(&envelope).unwrap();
        let error = open(Some(&key(1)), Purpose::State, &tampered, "s.json").unwrap_err();
        assert!(error.to_string().contains("cannot decrypt"), "{error}");

        // A plaintext file is read as it is.
        assert_eq!(
            open(Some(&key(1)), Purpose::State, plaintext, "s.json")
                .unwrap()
                .as_ref(),
            plaintext
        );
    }

    #[test]
    fn the_key_comes_from_the_environment_or_a_private_file() {
        let settings = EncryptionSettings {
            key: Some("ab".repeat(32)),
            ..EncryptionSettings::default()
        };
        let from_env = Encryption::resolve(&settings).unwrap().unwrap();
        assert_eq!(from_env.id, key(0xab).id);
        assert!(!format!("{from_env:?}").contains(&"ab".repeat(32)));
        assert!(
            Encryption::resolve(&EncryptionSettings::default())
                .unwrap()
                .is_none()
        );
        let short = EncryptionSettings {
            key: Some("abcd".to_owned()),
            ..EncryptionSettings::default()
        };
        let error = Encryption::resolve(&short).unwrap_err().to_string();
        assert!(
            error.contains("the encryption key") && !error.contains("abcd"),
            "{error}"
        );
    }

    const KEY_ARN: &str =
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    /// A KMS client answering with `rules`, in order.
    fn mocked_kms(rules: &[&aws_smithy_mocks::Rule]) -> aws_sdk_kms::Client {
        use aws_smithy_mocks::{MockResponseInterceptor, RuleMode, create_mock_http_client};
        let interceptor = rules.iter().fold(
            MockResponseInterceptor::new().rule_mode(RuleMode::Sequential),
            |interceptor, rule| interceptor.with_rule(rule),
        );
        aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::Config::builder()
                .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
                .region(aws_sdk_kms::config::Region::new("eu-west-1"))
                .credentials_provider(aws_sdk_kms::config::Credentials::new(
                    "AKIDMOCKED",
                    "secret",
                    None,
                    None,
                    "mocked",
                ))
                .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
                .http_client(create_mock_http_client())
                .interceptor(interceptor)
                .build(),
        )
    }

    #[test]
    fn a_kms_data_key_seals_the_file_and_only_its_encrypted_form_is_stored() {
        use aws_smithy_mocks::mock;
        let data_key = [7u8; 32];
        let encrypted_data_key = b"kms-encrypted-data-key-blob".to_vec();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let generated = mock!(aws_sdk_kms::Client::generate_data_key)
            .sequence()
            .http_status(
                200,
                Some(format!(
                    r#"{{"KeyId":"{KEY_ARN}","Plaintext":"{}","CiphertextBlob":"{}"}}"#,
                    b64(&data_key),
                    b64(&encrypted_data_key)
                )),
            )
            .build();
        let writer = Encryption::kms("alias/cutover", Some(mocked_kms(&[&generated])));
        assert_eq!(writer.id(), "kms:alias/cutover");
        let plaintext = br#"{"lineage": "secret-looking-name"}"#;
        let sealed = writer.seal(Purpose::State, plaintext).unwrap();
        let second = writer.seal(Purpose::Plan, plaintext).unwrap();
        assert_eq!(generated.num_calls(), 1, "one data key per run");
        let envelope: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        assert_eq!(envelope["kms_key_arn"], KEY_ARN);
        assert_eq!(envelope["key_id"], format!("kms:{KEY_ARN}"));
        assert_eq!(envelope["encrypted_data_key"], b64(&encrypted_data_key));
        let text = String::from_utf8(sealed.clone()).unwrap();
        assert!(!text.contains("secret-looking-name"), "{text}");
        assert!(
            !text.contains(&b64(&data_key)),
            "the data key is never stored: {text}"
        );
        // The writer knows its data key; another run asks KMS to decrypt it.
        assert_eq!(
            open(Some(&writer), Purpose::Plan, &second, "p")
                .unwrap()
                .as_ref(),
            plaintext
        );
        let decrypted = mock!(aws_sdk_kms::Client::decrypt)
            .sequence()
            .http_status(
                200,
                Some(format!(
                    r#"{{"KeyId":"{KEY_ARN}","Plaintext":"{}"}}"#,
                    b64(&data_key)
                )),
            )
            .build();
        let reader = Encryption::kms(KEY_ARN, Some(mocked_kms(&[&decrypted])));
        assert_eq!(
            open(Some(&reader), Purpose::State, &sealed, "s")
                .unwrap()
                .as_ref(),
            plaintext
        );
        assert_eq!(
            open(Some(&reader), Purpose::Plan, &second, "p")
                .unwrap()
                .as_ref(),
            plaintext
        );
        assert_eq!(decrypted.num_calls(), 1, "each data key is decrypted once");
        // Without a KMS key configured the error names the key to configure.
        let error = open(None, Purpose::State, &sealed, "s.json")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("set {ENCRYPTION_KMS_KEY_ENV} to that key"))
                && error.contains(KEY_ARN),
            "{error}"
        );
        let error = open(Some(&key(1)), Purpose::State, &sealed, "s.json")
            .unwrap_err()
            .to_string();
        assert!(error.contains("encrypted with key kms:"), "{error}");
    }

    #[test]
    fn a_kms_access_denied_says_which_permission_is_missing() {
        use aws_smithy_mocks::mock;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let generated = mock!(aws_sdk_kms::Client::generate_data_key)
            .sequence()
            .http_status(
                200,
                Some(format!(
                    r#"{{"KeyId":"{KEY_ARN}","Plaintext":"{}","CiphertextBlob":"{}"}}"#,
                    b64(&[9u8; 32]),
                    b64(b"blob")
                )),
            )
            .build();
        let sealed = Encryption::kms(KEY_ARN, Some(mocked_kms(&[&generated])))
            .seal(Purpose::State, b"{}")
            .unwrap();
        let denied = mock!(aws_sdk_kms::Client::decrypt)
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: kms:Decrypt"}"#.into()),
            )
            .build();
        let reader = Encryption::kms(KEY_ARN, Some(mocked_kms(&[&denied])));
        let error = open(Some(&reader), Purpose::State, &sealed, "cutover.state.json")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!(
                "cutover.state.json: AWS KMS Decrypt with {KEY_ARN} failed: AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: kms:Decrypt; the AWS credentials in use must be allowed kms:Decrypt on {KEY_ARN}"
            )
        );
        let refused = mock!(aws_sdk_kms::Client::generate_data_key)
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"NotFoundException","message":"Alias arn:aws:kms:eu-west-1:123456789012:alias/missing is not found."}"#.into()),
            )
            .build();
        let error = Encryption::kms("alias/missing", Some(mocked_kms(&[&refused])))
            .seal(Purpose::Plan, b"{}")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("AWS KMS GenerateDataKey with alias/missing failed: NotFoundException")
                && error.contains(&format!("check {ENCRYPTION_KMS_KEY_ENV} and the region")),
            "{error}"
        );
    }

    #[test]
    fn only_one_key_source_may_be_configured() {
        let both = EncryptionSettings {
            key: Some("ab".repeat(32)),
            kms_key_id: Some("alias/cutover".to_owned()),
            ..EncryptionSettings::default()
        };
        let error = Encryption::resolve(&both).unwrap_err().to_string();
        assert!(
            error.contains("CUTOVER_ENCRYPTION_KEY and CUTOVER_ENCRYPTION_KMS_KEY_ID are both set")
                && !error.contains(&"ab".repeat(32)),
            "{error}"
        );
        let kms = EncryptionSettings {
            kms_key_id: Some("alias/cutover".to_owned()),
            ..EncryptionSettings::default()
        };
        let resolved = Encryption::resolve(&kms).unwrap().unwrap();
        assert_eq!(resolved.id(), "kms:alias/cutover");
        assert_eq!(region_of_arn(KEY_ARN).as_deref(), Some("eu-west-1"));
        assert_eq!(region_of_arn("alias/cutover"), None);
    }
}
