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
//! `CUTOVER_ENCRYPTION_KEY_FILE` (the same text; refused when group or others can read it).
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
#[derive(Debug, Clone, Default)]
pub struct EncryptionSettings {
    /// `CUTOVER_ENCRYPTION_KEY`.
    pub key: Option<String>,
    /// `CUTOVER_ENCRYPTION_KEY_FILE`.
    pub key_file: Option<PathBuf>,
}

impl EncryptionSettings {
    pub fn from_env() -> Self {
        EncryptionSettings {
            key: std::env::var(ENCRYPTION_KEY_ENV)
                .ok()
                .filter(|key| !key.trim().is_empty()),
            key_file: std::env::var_os(ENCRYPTION_KEY_FILE_ENV)
                .filter(|path| !path.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// The key files are encrypted with. Its `Debug` form shows only the id.
#[derive(Clone)]
pub struct Encryption {
    key: [u8; 32],
    id: String,
    origin: String,
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
    nonce: String,
    ciphertext: String,
}

impl Encryption {
    /// The configured key, or `None` when encryption is not configured.
    pub fn resolve(settings: &EncryptionSettings) -> Result<Option<Self>> {
        let (text, origin) = if let Some(key) = &settings.key {
            (key.clone(), ENCRYPTION_KEY_ENV.to_owned())
        } else if let Some(path) = &settings.key_file {
            (
                super::sensitive::read_private_key_file(path)?,
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
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(bytes)
                .expect("HMAC accepts keys of any length");
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        let key = derive(b"cutover encryption key v1");
        let id = format!(
            "enc:{}",
            hex::encode(&derive(b"cutover encryption key id v1")[..8])
        );
        Encryption { key, id, origin }
    }

    /// The public id of the key (recorded in every envelope).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn associated_data(purpose: &str, key_id: &str) -> Vec<u8> {
        format!("cutover {purpose} {METHOD} {key_id}").into_bytes()
    }

    /// `plaintext` as an envelope.
    pub fn seal(&self, purpose: Purpose, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        platform::fill_random(&mut nonce)
            .map_err(|error| StateError::io("read", "/dev/urandom", error))?;
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let aad = Self::associated_data(purpose.as_str(), &self.id);
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
            key_id: self.id.clone(),
            nonce: hex::encode(nonce),
            ciphertext: base64::engine::general_purpose::STANDARD.encode(ciphertext),
        };
        let mut bytes = serde_json::to_vec(&envelope).map_err(StateError::Serialize)?;
        bytes.push(b'\n');
        Ok(bytes)
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
    let Some(encryption) = encryption else {
        return Err(failure(format!(
            "it is encrypted (key {}): set {ENCRYPTION_KEY_ENV} or {ENCRYPTION_KEY_FILE_ENV} to its key",
            envelope.key_id
        )));
    };
    if envelope.key_id != encryption.id {
        return Err(failure(format!(
            "it is encrypted with key {}, but the configured key ({}) is {}",
            envelope.key_id, encryption.origin, encryption.id
        )));
    }
    let nonce = hex::decode(&envelope.nonce)
        .ok()
        .filter(|nonce| nonce.len() == 24)
        .ok_or_else(|| failure("damaged encrypted file: bad nonce".to_owned()))?;
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(&envelope.ciphertext)
        .map_err(|_| failure("damaged encrypted file: bad ciphertext".to_owned()))?;
    let cipher = XChaCha20Poly1305::new((&encryption.key).into());
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
            key_file: None,
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
            key_file: None,
        };
        let error = Encryption::resolve(&short).unwrap_err().to_string();
        assert!(
            error.contains("the encryption key") && !error.contains("abcd"),
            "{error}"
        );
    }
}
