//! Sensitive values in state: never stored in plaintext, stored as a keyed hash so a change is
//! still detected.
//!
//! A sensitive sub-value of an attribute (a password, a secret string) is written as
//!
//! ```json
//! {"__cutover_sensitive__": "hmac-sha256:5f2b…"}
//! ```
//!
//! where the hex is HMAC-SHA256, keyed with the *state key*, over the canonical JSON encoding of
//! the value (object keys sorted, no whitespace, integral numbers without a fraction, sensitive
//! marks ignored). When the engine plans, it compares the configuration's new value with the
//! stored hash through [`sensitive_matches`]; equal hashes mean "unchanged".
//!
//! # Why a keyed hash and not a plain SHA-256
//!
//! Secrets in this domain are often low-entropy (a SASL password, a short token). A plain hash
//! of such a value in a leaked state file can be brute-forced offline in seconds. With HMAC and
//! a 256-bit key kept *outside* the state file, the hash reveals nothing without the key, and
//! the state file (or its S3 object, or a CI artifact) can leak without leaking secrets.
//!
//! # Where the key comes from
//!
//! 1. `CUTOVER_STATE_KEY`: at least 32 bytes, hex or base64 encoded.
//!    An invalid value is an error; it does not fall back to the key file.
//! 2. Otherwise a key file: `CUTOVER_STATE_KEY_FILE`, else `$XDG_CONFIG_HOME/cutover/state.key`,
//!    else `~/.config/cutover/state.key`. Created on first use with 32 random bytes (written as
//!    hex, mode 0600, in a 0700 directory) and reused afterwards.
//!
//! # Teams and CI: share the key
//!
//! The key is per machine unless you share it. Everyone who plans or applies against one state
//! must use the same key: set `CUTOVER_STATE_KEY` in CI from a secret store (GitHub Actions
//! secret, AWS Secrets Manager, Vault), and copy the content of your key file there. With a
//! different key every sensitive attribute looks changed (the plan would rewrite every secret).
//! The state records a key id (an HMAC of a fixed string, which reveals nothing about the key)
//! so cutover can say "this state was written with another state key" instead of planning
//! those spurious changes silently. Rotating the key means one apply that rewrites the hashes.

use std::fmt;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::error::{KeyFileKind, Result, StateError};
use super::platform;
use crate::config::value::{Number, Value};

/// The single key of a marker object standing for a sensitive value.
pub const SENSITIVE_MARKER: &str = "__cutover_sensitive__";

/// The scheme prefix of a stored hash.
pub const HASH_PREFIX: &str = "hmac-sha256:";

/// The minimum key length in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// The environment variable holding the key itself.
pub const KEY_ENV: &str = "CUTOVER_STATE_KEY";

/// The environment variable naming the key file.
pub const KEY_FILE_ENV: &str = "CUTOVER_STATE_KEY_FILE";

/// A hash as stored: `hmac-sha256:<64 hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SensitiveHash(String);

impl SensitiveHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn parse(text: &str) -> Option<Self> {
        let digest = text.strip_prefix(HASH_PREFIX)?;
        (digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| SensitiveHash(text.to_owned()))
    }
}

impl fmt::Display for SensitiveHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a [`HashKey`] came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    Environment,
    File(PathBuf),
    /// Given directly (tests, or a caller with its own key management).
    Explicit,
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::Environment => f.write_str(KEY_ENV),
            KeyOrigin::File(path) => write!(f, "{}", path.display()),
            KeyOrigin::Explicit => f.write_str("the caller"),
        }
    }
}

/// The secret key of the sensitive-value hashes. Its `Debug` form does not show the key.
#[derive(Clone)]
pub struct HashKey {
    bytes: Vec<u8>,
    origin: KeyOrigin,
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashKey")
            .field("origin", &self.origin)
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl HashKey {
    /// A key from raw bytes (at least [`MIN_KEY_BYTES`]).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>, origin: KeyOrigin) -> Result<Self> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(StateError::InvalidKey {
                origin: origin.to_string(),
                reason: format!(
                    "it has {} bytes; at least {MIN_KEY_BYTES} are needed",
                    bytes.len()
                ),
            });
        }
        Ok(HashKey { bytes, origin })
    }

    /// A key from its text form: hex (even length, hex digits only) or base64 (standard or
    /// URL-safe, padded or not), surrounding whitespace ignored. Error messages never quote it.
    pub fn parse(text: &str, origin: KeyOrigin) -> Result<Self> {
        let invalid = |reason: String| StateError::InvalidKey {
            origin: origin.to_string(),
            reason,
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("it is empty".to_owned()));
        }
        let bytes = if text.len() % 2 == 0 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| invalid("it is not valid hex".to_owned()))?
        } else {
            use base64::engine::general_purpose::{
                STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
            };
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
                .ok_or_else(|| invalid("it is neither hex nor base64".to_owned()))?
        };
        if bytes.len() < MIN_KEY_BYTES {
            return Err(invalid(format!(
                "it decodes to {} bytes; at least {MIN_KEY_BYTES} are needed (64 hex or 44 base64 characters)",
                bytes.len()
            )));
        }
        Ok(HashKey { bytes, origin })
    }

    /// A fresh random key (not persisted).
    pub fn generate(origin: KeyOrigin) -> Result<Self> {
        let mut bytes = vec![0u8; MIN_KEY_BYTES];
        platform::fill_random(&mut bytes)
            .map_err(|error| StateError::io("read", "/dev/urandom", error))?;
        Ok(HashKey { bytes, origin })
    }

    /// The raw key, for deriving the encryption key from a key given in the same text form.
    pub(crate) fn bytes_for_encryption(&self) -> &[u8] {
        &self.bytes
    }

    pub fn origin(&self) -> &KeyOrigin {
        &self.origin
    }

    /// A short public identifier of this key: `hmac-sha256:` and 16 hex digits of the HMAC of
    /// a fixed label. It cannot collide with a value hash (no canonical JSON starts with `c`)
    /// and reveals nothing about the key.
    pub fn id(&self) -> String {
        let digest = self.mac(b"cutover state key id");
        format!("{HASH_PREFIX}{}", hex::encode(&digest[..8]))
    }

    /// The stored hash of `value` (marks ignored), or `None` when part of it is unknown.
    pub fn hash(&self, value: &Value) -> Option<SensitiveHash> {
        let canonical = canonical_json(value)?;
        Some(SensitiveHash(format!(
            "{HASH_PREFIX}{}",
            hex::encode(self.mac(canonical.as_bytes()))
        )))
    }

    /// A keyed hash of a value that may be partly unknown (a sensitive value built from an
    /// attribute known only after apply): the known parts in canonical JSON, each unknown part
    /// as `?`, under a label of its own so it never equals a [`HashKey::hash`]. Saved plans
    /// use it instead of a bare digest, which would let a weak secret be guessed offline.
    pub fn hash_partly_unknown(&self, value: &Value) -> SensitiveHash {
        let mut canonical = String::from("partly unknown:");
        write_canonical(value, &mut canonical, Unknowns::AsQuestionMark);
        SensitiveHash(format!(
            "{HASH_PREFIX}{}",
            hex::encode(self.mac(canonical.as_bytes()))
        ))
    }

    fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.bytes)
            .expect("HMAC accepts keys of any length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Finds the key as described in the module documentation.
    pub fn resolve(settings: &KeySettings) -> Result<Self> {
        if let Some(text) = settings.key.as_deref()
            && !text.trim().is_empty()
        {
            return HashKey::parse(text, KeyOrigin::Environment);
        }
        let path = settings.key_file_path().ok_or(StateError::NoKeyLocation)?;
        load_or_create_key_file(&path)
    }
}

/// The inputs of key resolution, gathered once so resolution itself reads no environment
/// (tests pass explicit values; environment variables are process-global).
#[derive(Clone, Default)]
pub struct KeySettings {
    /// `CUTOVER_STATE_KEY`.
    pub key: Option<String>,
    /// `CUTOVER_STATE_KEY_FILE`.
    pub key_file: Option<PathBuf>,
    /// `XDG_CONFIG_HOME` (ignored unless absolute, as the XDG specification says).
    pub config_home: Option<PathBuf>,
    /// `HOME`.
    pub home: Option<PathBuf>,
}

/// The key itself is never shown: only whether it is set.
impl std::fmt::Debug for KeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySettings")
            .field("key", &self.key.as_ref().map(|_| "(set)"))
            .field("key_file", &self.key_file)
            .field("config_home", &self.config_home)
            .field("home", &self.home)
            .finish()
    }
}

impl KeySettings {
    /// Read once per run, by `Settings::resolve` (the settings module).
    pub fn from_env() -> Self {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        KeySettings {
            key: std::env::var(KEY_ENV).ok(),
            key_file: path(KEY_FILE_ENV),
            config_home: path("XDG_CONFIG_HOME"),
            home: path("HOME"),
        }
    }

    /// Where the key file is (or will be created).
    pub fn key_file_path(&self) -> Option<PathBuf> {
        if let Some(file) = &self.key_file {
            return Some(file.clone());
        }
        let config_home = self
            .config_home
            .clone()
            .filter(|path| path.is_absolute())
            .or_else(|| self.home.as_ref().map(|home| home.join(".config")))?;
        Some(config_home.join("cutover").join("state.key"))
    }
}

/// Reads the key file, or creates it with a random key. Two processes creating it at once end
/// up with the same key: the file is published with a no-clobber hard link, and the loser
/// reads the winner's key.
fn load_or_create_key_file(path: &Path) -> Result<HashKey> {
    match read_private_key_file(path, KeyFileKind::State) {
        Ok(text) => return HashKey::parse(&text, KeyOrigin::File(path.to_path_buf())),
        Err(StateError::Io { error, .. }) if error.kind() == ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let directory = platform::parent_directory(path);
    create_private_directory(&directory)?;
    let key = HashKey::generate(KeyOrigin::File(path.to_path_buf()))?;
    let temporary = directory.join(format!(
        ".state.key.tmp-{}-{}",
        std::process::id(),
        platform::new_uuid().map_err(|error| StateError::io("read", "/dev/urandom", error))?
    ));
    let written = (|| {
        let mut file = platform::private_create_new()
            .open(&temporary)
            .map_err(|error| StateError::io("create", &temporary, error))?;
        file.write_all(format!("{}\n", hex::encode(&key.bytes)).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|error| StateError::io("write", &temporary, error))?;
        match fs::hard_link(&temporary, path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(error) => Err(StateError::io("create state key file", path, error)),
        }
    })();
    let _ = fs::remove_file(&temporary);
    if written? {
        platform::sync_directory(&directory)?;
        Ok(key)
    } else {
        let text = read_private_key_file(path, KeyFileKind::State)?;
        HashKey::parse(&text, KeyOrigin::File(path.to_path_buf()))
    }
}

/// The text of a key file, refused (as ssh refuses a private key) when its group or others
/// have any access to it; the mode is the one of the file opened, not of a path re-checked.
pub(crate) fn read_private_key_file(path: &Path, kind: KeyFileKind) -> Result<String> {
    use std::io::Read as _;
    let mut file =
        fs::File::open(path).map_err(|error| StateError::io(kind.reading(), path, error))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file
            .metadata()
            .map_err(|error| StateError::io(kind.reading(), path, error))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(StateError::KeyFileNotPrivate {
                path: path.to_path_buf(),
                mode,
                kind,
            });
        }
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|error| StateError::io(kind.reading(), path, error))?;
    Ok(text)
}

fn create_private_directory(directory: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(directory)
        .map_err(|error| StateError::io("create directory", directory, error))
}

/// One step of an [`AttributePath`]: an object key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathStep {
    Index(u64),
    Key(String),
}

/// The path of a value inside an attribute object, stored as a JSON array such as
/// `["users", 0, "password"]` and shown as `users[0].password`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttributePath(pub Vec<PathStep>);

impl AttributePath {
    /// Wraps the value at this path in a sensitive mark (nothing when the path is absent).
    pub fn mark_sensitive(&self, root: &mut Value) {
        let mut current = root;
        for step in &self.0 {
            let next = match (current, step) {
                (Value::Map(map), PathStep::Key(key)) => map.get_mut(key),
                (Value::List(items) | Value::Set(items), PathStep::Index(index)) => {
                    usize::try_from(*index)
                        .ok()
                        .and_then(|index| items.get_mut(index))
                }
                (Value::Sensitive(_), _) => return,
                _ => None,
            };
            match next {
                Some(next) => current = next,
                None => return,
            }
        }
        let taken = std::mem::take(current);
        *current = Value::sensitive(taken);
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(the whole value)");
        }
        for (position, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Index(index) => write!(f, "[{index}]")?,
                PathStep::Key(key) if is_identifier(key) => {
                    if position > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                PathStep::Key(key) => write!(f, "[{}]", serde_json::Value::String(key.clone()))?,
            }
        }
        Ok(())
    }
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Converts a value into the JSON stored in state: each sensitive sub-value becomes a hash
/// marker, and its path is returned. Hash markers already present (a value read back from
/// state and written again unchanged) are kept as they are. Unknown values are an error: state
/// stores known values only.
pub fn encode_value(
    value: &Value,
    key: &HashKey,
) -> Result<(serde_json::Value, Vec<AttributePath>)> {
    let mut paths = Vec::new();
    let mut path = Vec::new();
    let json = encode(value, key, &mut path, &mut paths)?;
    Ok((json, paths))
}

fn encode(
    value: &Value,
    key: &HashKey,
    path: &mut Vec<PathStep>,
    sensitive_paths: &mut Vec<AttributePath>,
) -> Result<serde_json::Value> {
    let unknown = |path: &[PathStep]| StateError::UnknownValue {
        path: AttributePath(path.to_vec()).to_string(),
    };
    if let Some(hash) = stored_hash(value) {
        sensitive_paths.push(AttributePath(path.clone()));
        return Ok(marker(&hash));
    }
    Ok(match value {
        Value::Sensitive(inner) => {
            let hash = key.hash(inner).ok_or_else(|| unknown(path))?;
            sensitive_paths.push(AttributePath(path.clone()));
            marker(&hash)
        }
        Value::Unknown => return Err(unknown(path)),
        Value::List(items) | Value::Set(items) => {
            let mut array = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                path.push(PathStep::Index(index as u64));
                array.push(encode(item, key, path, sensitive_paths)?);
                path.pop();
            }
            serde_json::Value::Array(array)
        }
        Value::Map(map) => {
            let mut object = serde_json::Map::new();
            for (name, item) in map {
                path.push(PathStep::Key(name.clone()));
                object.insert(name.clone(), encode(item, key, path, sensitive_paths)?);
                path.pop();
            }
            serde_json::Value::Object(object)
        }
        scalar => scalar.to_json().ok_or_else(|| unknown(path))?,
    })
}

fn marker(hash: &SensitiveHash) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    object.insert(
        SENSITIVE_MARKER.to_owned(),
        serde_json::Value::String(hash.0.clone()),
    );
    serde_json::Value::Object(object)
}

/// Reads stored JSON back into a [`Value`]. A hash marker becomes a *stored hash*: a sensitive
/// value (so it is never printed) wrapping the marker object, recognised by [`stored_hash`].
/// It is distinguishable from any real value, and comparing it naively with a new value shows a
/// change (the safe default); the engine compares with [`sensitive_matches`] instead.
pub fn decode_attributes(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Object(object) => {
            if let Some(hash) = marker_hash(object) {
                let mut map = std::collections::BTreeMap::new();
                map.insert(SENSITIVE_MARKER.to_owned(), Value::String(hash.0));
                return Value::sensitive(Value::Map(map));
            }
            Value::Map(
                object
                    .iter()
                    .map(|(name, item)| (name.clone(), decode_attributes(item)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            Value::List(items.iter().map(decode_attributes).collect())
        }
        scalar => Value::from_json(scalar),
    }
}

fn marker_hash(object: &serde_json::Map<String, serde_json::Value>) -> Option<SensitiveHash> {
    if object.len() != 1 {
        return None;
    }
    SensitiveHash::parse(object.get(SENSITIVE_MARKER)?.as_str()?)
}

/// The stored hash when `value` is one (as produced by [`decode_attributes`]), marked
/// sensitive or not.
pub fn stored_hash(value: &Value) -> Option<SensitiveHash> {
    let map = value.as_map()?;
    if map.len() != 1 {
        return None;
    }
    SensitiveHash::parse(map.get(SENSITIVE_MARKER)?.as_str()?)
}

/// True when `value` (a new configuration value, marks ignored) hashes to `stored` under `key`:
/// the sensitive attribute did not change. False when any part of `value` is unknown. A value
/// that is itself a stored hash matches when the hashes are equal.
pub fn sensitive_matches(key: &HashKey, stored: &SensitiveHash, value: &Value) -> bool {
    let candidate = match stored_hash(value) {
        Some(hash) => hash,
        None => match key.hash(value) {
            Some(hash) => hash,
            None => return false,
        },
    };
    constant_time_eq(candidate.0.as_bytes(), stored.0.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The canonical JSON text of a value: object keys sorted, no whitespace, integral numbers
/// without a fraction (`1.0` and `1` are the same), sets as arrays, sensitive marks ignored.
/// `None` when part of the value is unknown.
pub fn canonical_json(value: &Value) -> Option<String> {
    let mut out = String::new();
    write_canonical(value, &mut out, Unknowns::Refuse)?;
    Some(out)
}

/// What [`write_canonical`] does with an unknown part.
#[derive(Clone, Copy)]
enum Unknowns {
    Refuse,
    /// `?`, which no JSON text contains outside a string.
    AsQuestionMark,
}

fn write_canonical(value: &Value, out: &mut String, unknowns: Unknowns) -> Option<()> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&canonical_number(number)),
        Value::String(text) => out.push_str(&serde_json::Value::String(text.clone()).to_string()),
        Value::List(items) | Value::Set(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_canonical(item, out, unknowns)?;
            }
            out.push(']');
        }
        Value::Map(map) => {
            // BTreeMap iterates in key order.
            out.push('{');
            for (position, (name, item)) in map.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(name.clone()).to_string());
                out.push(':');
                write_canonical(item, out, unknowns)?;
            }
            out.push('}');
        }
        Value::Unknown => match unknowns {
            Unknowns::Refuse => return None,
            Unknowns::AsQuestionMark => out.push('?'),
        },
        Value::Sensitive(inner) => write_canonical(inner, out, unknowns)?,
    }
    Some(())
}

fn canonical_number(number: &Number) -> String {
    if let Some(int) = number.as_i64() {
        return int.to_string();
    }
    if let Some(unsigned) = number.as_u64() {
        return unsigned.to_string();
    }
    let Some(float) = number.as_f64() else {
        return "null".to_owned();
    };
    if float.fract() == 0.0 && float.abs() < 9.007_199_254_740_992e15 {
        return (float as i64).to_string();
    }
    serde_json::Number::from_f64(float).map_or_else(|| "null".to_owned(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    pub(crate) fn test_key() -> HashKey {
        HashKey::from_bytes(vec![7u8; 32], KeyOrigin::Explicit).unwrap()
    }

    fn temp_dir(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "cutover-state-key-{label}-{}-{}",
            std::process::id(),
            platform::new_uuid().unwrap()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231, through the same MAC the hashes use (key length rules do not
        // apply to `mac`, only to the public constructors).
        let key = HashKey {
            bytes: b"Jefe".to_vec(),
            origin: KeyOrigin::Explicit,
        };
        assert_eq!(
            hex::encode(key.mac(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn canonical_json_sorts_keys_and_normalises_numbers() {
        let mut map = BTreeMap::new();
        map.insert(
            "b".to_owned(),
            Value::Number(Number::from_f64(1.0).unwrap()),
        );
        map.insert(
            "a".to_owned(),
            Value::sensitive(Value::List(vec![Value::string("x\"y"), Value::Null])),
        );
        map.insert(
            "c".to_owned(),
            Value::Number(Number::from_f64(2.5).unwrap()),
        );
        assert_eq!(
            canonical_json(&Value::Map(map)).unwrap(),
            r#"{"a":["x\"y",null],"b":1,"c":2.5}"#
        );
        assert_eq!(canonical_json(&Value::List(vec![Value::Unknown])), None);
    }

    #[test]
    fn sensitive_values_are_stored_as_hashes_and_compared() {
        let key = test_key();
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_owned(), Value::string("prod/orders/kafka"));
        attributes.insert(
            "secret_string".to_owned(),
            Value::sensitive(Value::string("hunter2")),
        );
        let mut nested = BTreeMap::new();
        nested.insert("user".to_owned(), Value::string("app"));
        nested.insert(
            "password".to_owned(),
            Value::sensitive(Value::string("hunter3")),
        );
        attributes.insert("users".to_owned(), Value::List(vec![Value::Map(nested)]));
        let value = Value::Map(attributes);

        let (json, paths) = encode_value(&value, &key).unwrap();
        let text = json.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("hunter3"),
            "{text}"
        );
        let shown: Vec<String> = paths.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["secret_string", "users[0].password"]);
        assert_eq!(
            serde_json::to_string(&paths).unwrap(),
            r#"[["secret_string"],["users",0,"password"]]"#
        );
        let stored = json["secret_string"][SENSITIVE_MARKER].as_str().unwrap();
        assert!(stored.starts_with(HASH_PREFIX) && stored.len() == HASH_PREFIX.len() + 64);

        let decoded = decode_attributes(&json);
        let map = decoded.as_map().unwrap();
        assert_eq!(map["name"], Value::string("prod/orders/kafka"));
        let hash = stored_hash(&map["secret_string"]).expect("a stored hash");
        assert!(matches!(map["secret_string"], Value::Sensitive(_)));
        assert_eq!(map["secret_string"].to_string(), "(sensitive value)");
        assert!(sensitive_matches(
            &key,
            &hash,
            &Value::sensitive(Value::string("hunter2"))
        ));
        assert!(sensitive_matches(&key, &hash, &Value::string("hunter2")));
        assert!(!sensitive_matches(&key, &hash, &Value::string("hunter3")));
        assert!(!sensitive_matches(&key, &hash, &Value::Unknown));
        let other_key = HashKey::from_bytes(vec![8u8; 32], KeyOrigin::Explicit).unwrap();
        assert!(!sensitive_matches(
            &other_key,
            &hash,
            &Value::string("hunter2")
        ));

        // Writing back what was read keeps the hashes unchanged.
        let (again, again_paths) = encode_value(&decoded, &key).unwrap();
        assert_eq!(again, json);
        assert_eq!(again_paths, paths);
    }

    #[test]
    fn unknown_values_are_refused_with_their_path() {
        let mut map = BTreeMap::new();
        map.insert("arn".to_owned(), Value::Unknown);
        let error = encode_value(&Value::Map(map), &test_key()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "attribute arn is unknown (known after apply) and cannot be stored in state"
        );
    }

    #[test]
    fn keys_parse_from_hex_and_base64_and_errors_do_not_quote_them() {
        let hex_key = "ab".repeat(32);
        let from_hex = HashKey::parse(&format!(" {hex_key}\n"), KeyOrigin::Environment).unwrap();
        assert_eq!(from_hex.bytes, vec![0xab; 32]);
        let base64_key = base64::engine::general_purpose::STANDARD.encode([0xab; 32]);
        let from_base64 = HashKey::parse(&base64_key, KeyOrigin::Environment).unwrap();
        assert_eq!(from_base64.id(), from_hex.id());

        let short = "s3cr3t-but-short";
        let error = HashKey::parse(short, KeyOrigin::Environment).unwrap_err();
        let message = error.to_string();
        assert!(!message.contains(short), "{message}");
        assert!(message.starts_with("invalid state key from CUTOVER_STATE_KEY: "));
        let debug = format!("{from_hex:?}");
        assert!(!debug.contains(&hex_key), "{debug}");
    }

    #[test]
    fn environment_key_wins_over_the_key_file() {
        let dir = temp_dir("env");
        let settings = KeySettings {
            key: Some("cd".repeat(32)),
            key_file: Some(dir.join("state.key")),
            config_home: None,
            home: Some(dir.clone()),
        };
        let key = HashKey::resolve(&settings).unwrap();
        assert_eq!(key.origin(), &KeyOrigin::Environment);
        assert_eq!(key.bytes, vec![0xcd; 32]);
        assert!(!dir.join("state.key").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = temp_dir("file");
        let settings = KeySettings {
            key: None,
            key_file: None,
            config_home: Some(dir.join("config")),
            home: Some(dir.join("home")),
        };
        let expected = dir.join("config").join("cutover").join("state.key");
        assert_eq!(settings.key_file_path(), Some(expected.clone()));
        let first = HashKey::resolve(&settings).unwrap();
        assert_eq!(first.origin(), &KeyOrigin::File(expected.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&expected).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = fs::metadata(expected.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        let second = HashKey::resolve(&settings).unwrap();
        assert_eq!(first.bytes, second.bytes);
        assert_eq!(first.id(), second.id());
        // The file holds the key in hex, so it can be copied into CUTOVER_STATE_KEY.
        let text = fs::read_to_string(&expected).unwrap();
        let from_env = HashKey::parse(&text, KeyOrigin::Environment).unwrap();
        assert_eq!(from_env.id(), first.id());
        // No temporary files are left beside it.
        let names: Vec<_> = fs::read_dir(expected.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.key"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused_with_the_chmod_to_run() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("mode");
        let path = dir.join("state.key");
        fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        for mode in [0o644, 0o640, 0o604] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let settings = KeySettings {
                key_file: Some(path.clone()),
                ..KeySettings::default()
            };
            let message = HashKey::resolve(&settings).unwrap_err().to_string();
            assert!(
                message.contains(&format!("run `chmod 600 {}`", path.display()))
                    && message.contains(&format!("mode {mode:03o}")),
                "{message}"
            );
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        let settings = KeySettings {
            key_file: Some(path.clone()),
            ..KeySettings::default()
        };
        assert_eq!(HashKey::resolve(&settings).unwrap().bytes, vec![0xab; 32]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn key_file_location_falls_back_to_home_and_honours_the_override() {
        let settings = KeySettings {
            key: Some("  ".to_owned()),
            key_file: None,
            config_home: Some(PathBuf::from("relative/ignored")),
            home: Some(PathBuf::from("/home/alice")),
        };
        assert_eq!(
            settings.key_file_path(),
            Some(PathBuf::from("/home/alice/.config/cutover/state.key"))
        );
        let explicit = KeySettings {
            key_file: Some(PathBuf::from("/etc/cutover/key")),
            ..settings.clone()
        };
        assert_eq!(
            explicit.key_file_path(),
            Some(PathBuf::from("/etc/cutover/key"))
        );
        let nowhere = KeySettings::default();
        assert!(matches!(
            HashKey::resolve(&nowhere),
            Err(StateError::NoKeyLocation)
        ));
    }

    #[test]
    fn concurrent_key_creation_agrees_on_one_key() {
        let dir = temp_dir("race");
        let path = dir.join("state.key");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || load_or_create_key_file(&path).unwrap().id())
            })
            .collect();
        let ids: std::collections::BTreeSet<String> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(ids.len(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn marking_paths_wraps_the_value() {
        let mut value = decode_attributes(&serde_json::json!({"a": [{"b": "x"}], "c": 1}));
        AttributePath(vec![
            PathStep::Key("a".into()),
            PathStep::Index(0),
            PathStep::Key("b".into()),
        ])
        .mark_sensitive(&mut value);
        assert_eq!(value.to_string(), "{a = [{b = (sensitive value)}], c = 1}");
    }
}
