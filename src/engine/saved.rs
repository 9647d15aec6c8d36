//! Saved plans (`plan -out FILE`, `apply FILE`). A saved plan holds no attribute values — so
//! no secret — only what binds it to the moment it was made: the state's lineage and serial,
//! a hash of every configuration file, the root variable values (sensitive ones as keyed
//! hashes), the tool version, and each change's action with a digest of its planned values.
//! `apply FILE` computes the plan again from the same inputs and refuses unless everything
//! matches, so what is applied is exactly what was reviewed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::load::ModuleTree;
use crate::config::value::Value;
use crate::plan::{Action, Plan, PlanMode};
use crate::state::encryption::{self, Encryption, Purpose};
use crate::state::{HashKey, StateStamp};

pub const SAVED_PLAN_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedChange {
    pub address: String,
    pub action: Action,
    /// SHA-256 over the planned values, sensitive ones hashed with the state key.
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importing: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format_version: u32,
    pub cutover_version: String,
    pub mode: PlanMode,
    pub refresh: bool,
    pub targets: Vec<String>,
    /// `None`: the plan was made with no state at all.
    pub prior_state: Option<StateStamp>,
    pub configuration_hash: String,
    /// Non-sensitive root variable values, replayed on apply.
    pub variables: BTreeMap<String, serde_json::Value>,
    /// Digest of all root variable values, sensitive ones included (hashed).
    pub variables_hash: String,
    pub changes: Vec<SavedChange>,
}

/// A saved plan holds digests and variable values, never a configuration: a few kilobytes, or
/// a few megabytes for thousands of changes. Anything larger (`apply /dev/zero`) is refused
/// before it is read into memory.
pub const MAX_PLAN_FILE_BYTES: u64 = 64 * 1024 * 1024;

fn read_plan_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let cannot = |error: std::io::Error| {
        anyhow::anyhow!("cannot read the plan file {}: {error}", path.display())
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        anyhow::bail!(
            "cannot read the plan file {}: it is not a regular file",
            path.display()
        );
    }
    let mut bytes = Vec::new();
    file.take(MAX_PLAN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_PLAN_FILE_BYTES {
        anyhow::bail!(
            "{} is not a cutover plan file: it is larger than {} MiB",
            path.display(),
            MAX_PLAN_FILE_BYTES / (1024 * 1024)
        );
    }
    Ok(bytes)
}

/// A digest of a value that distinguishes unknowns and never needs a secret in clear: each
/// sensitive part enters only as its keyed hash (HMAC with the state key), known or not.
pub fn value_digest(value: &Value, key: &HashKey) -> String {
    let mut hasher = Sha256::new();
    feed(value, key, &mut hasher);
    hex::encode(hasher.finalize())
}

fn feed(value: &Value, key: &HashKey, hasher: &mut Sha256) {
    match value {
        Value::Null => hasher.update(b"n"),
        Value::Bool(flag) => hasher.update(if *flag { b"t" } else { b"f" }),
        Value::Number(number) => {
            hasher.update(b"#");
            hasher.update(number.to_string().as_bytes());
            hasher.update(b";");
        }
        Value::String(text) => {
            hasher.update(b"s");
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
        Value::List(items) | Value::Set(items) => {
            hasher.update(b"[");
            for item in items {
                feed(item, key, hasher);
            }
            hasher.update(b"]");
        }
        Value::Map(map) => {
            hasher.update(b"{");
            for (name, item) in map {
                hasher.update((name.len() as u64).to_le_bytes());
                hasher.update(name.as_bytes());
                feed(item, key, hasher);
            }
            hasher.update(b"}");
        }
        Value::Unknown => hasher.update(b"?"),
        Value::Sensitive(inner) => {
            hasher.update(b"S");
            // Keyed even when part of it is unknown: a bare digest of the known parts (a
            // password merged with an id known after apply) could be brute-forced offline.
            let hash = key
                .hash(inner)
                .unwrap_or_else(|| key.hash_partly_unknown(inner));
            hasher.update(hash.to_string().as_bytes());
        }
    }
}

/// SHA-256 over every configuration file of the module tree (paths and contents).
pub fn configuration_hash(tree: &ModuleTree) -> String {
    let mut files: Vec<(String, String)> = Vec::new();
    fn collect(tree: &ModuleTree, files: &mut Vec<(String, String)>) {
        for file in &tree.module.files {
            files.push((file.path.display().to_string(), file.text.clone()));
        }
        for child in tree.children.values() {
            collect(child, files);
        }
    }
    collect(tree, &mut files);
    files.sort();
    let mut hasher = Sha256::new();
    for (path, text) in files {
        hasher.update((path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    hex::encode(hasher.finalize())
}

pub fn variables_hash(variables: &BTreeMap<String, Value>, key: &HashKey) -> String {
    let mut hasher = Sha256::new();
    for (name, value) in variables {
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        hasher.update(value_digest(value, key).as_bytes());
    }
    hex::encode(hasher.finalize())
}

pub fn saved_changes(plan: &Plan, key: &HashKey) -> Vec<SavedChange> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.importing.is_some())
        .map(|c| SavedChange {
            address: c.address.to_string(),
            action: c.action,
            digest: value_digest(c.after.as_ref().unwrap_or(&Value::Null), key),
            importing: c.importing.clone(),
        })
        .collect()
}

impl SavedPlan {
    /// Writes the plan as the state is written: 0600, a new temporary file, fsync, rename,
    /// never through a symbolic link; encrypted when a key is configured.
    pub fn write(&self, path: &Path, encryption: Option<&Encryption>) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        let bytes = encryption::seal_if_configured(encryption, Purpose::Plan, text.into_bytes())?;
        crate::state::write_private_file(path, &bytes)
            .map_err(|error| anyhow::anyhow!("cannot write the plan: {error}"))
    }

    pub fn read(path: &Path, encryption: Option<&Encryption>) -> anyhow::Result<Self> {
        let bytes = read_plan_file(path)?;
        encryption::refuse_plaintext_plan(encryption, &bytes, &path.display().to_string())?;
        let bytes = encryption::open(
            encryption,
            Purpose::Plan,
            &bytes,
            &path.display().to_string(),
        )?;
        let text = String::from_utf8(bytes.into_owned()).map_err(|_| {
            anyhow::anyhow!(
                "{} is not a cutover plan file: it is not UTF-8",
                path.display()
            )
        })?;
        let saved: SavedPlan = serde_json::from_str(&text).map_err(|error| {
            anyhow::anyhow!("{} is not a cutover plan file: {error}", path.display())
        })?;
        if saved.format_version != SAVED_PLAN_FORMAT {
            anyhow::bail!(
                "{} was written in plan format {} but this cutover reads format {SAVED_PLAN_FORMAT}",
                path.display(),
                saved.format_version
            );
        }
        Ok(saved)
    }

    /// Why `current` (the plan computed again at apply time) is not the reviewed plan, or
    /// `None` when they match.
    pub fn mismatch(&self, current: &SavedPlan) -> Option<String> {
        if self.cutover_version != current.cutover_version {
            return Some(format!(
                "the plan was made by cutover {} and this is cutover {}",
                self.cutover_version, current.cutover_version
            ));
        }
        match (&self.prior_state, &current.prior_state) {
            (None, Some(now)) => {
                return Some(format!(
                    "the plan was made against an empty state, but the state now exists (serial {})",
                    now.serial
                ));
            }
            (Some(then), Some(now)) if then.lineage != now.lineage => {
                return Some("the state now belongs to a different lineage".to_owned());
            }
            (Some(then), Some(now)) if then.serial != now.serial => {
                return Some(format!(
                    "the state changed since the plan was made (serial {} then, {} now)",
                    then.serial, now.serial
                ));
            }
            (Some(_), None) => {
                return Some("the state the plan was made against is gone".to_owned());
            }
            _ => {}
        }
        if self.configuration_hash != current.configuration_hash {
            return Some("the configuration files changed since the plan was made".to_owned());
        }
        if self.variables_hash != current.variables_hash {
            return Some("the variable values differ from those the plan was made with".to_owned());
        }
        if self.changes != current.changes {
            let then: Vec<String> = self
                .changes
                .iter()
                .map(|c| format!("{} {:?}", c.address, c.action))
                .collect();
            let now: Vec<String> = current
                .changes
                .iter()
                .map(|c| format!("{} {:?}", c.address, c.action))
                .collect();
            return Some(if then == now {
                "the live objects changed since the plan was made: planned values differ".to_owned()
            } else {
                format!(
                    "the changes differ: planned [{}], now [{}]",
                    then.join(", "),
                    now.join(", ")
                )
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::KeyOrigin;

    fn key(byte: u8) -> HashKey {
        HashKey::from_bytes(vec![byte; 32], KeyOrigin::Explicit).unwrap()
    }

    fn credentials_with_unknown_reference(password: &str) -> Value {
        let mut map = BTreeMap::new();
        map.insert("password".to_owned(), Value::string(password));
        map.insert("ref".to_owned(), Value::Unknown);
        Value::sensitive(Value::Map(map))
    }

    /// A digest of the known parts alone, as saved plans used to store for a sensitive value
    /// with an unknown part: anyone holding the plan file could test password guesses.
    fn unkeyed_digest(value: &Value) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"S");
        // Any key: the unkeyed fallback never used it.
        feed(value.peel(), &key(0), &mut hasher);
        hex::encode(hasher.finalize())
    }

    #[test]
    fn saved_plan_digest_of_a_partly_unknown_secret_is_keyed() {
        let value = credentials_with_unknown_reference("hunter2");
        let with_one_key = value_digest(&value, &key(1));
        let with_another_key = value_digest(&value, &key(2));
        // Without the state key the digest cannot be recomputed from a guess.
        assert_ne!(with_one_key, with_another_key);
        assert_ne!(with_one_key, unkeyed_digest(&value));
        // It still tells values apart, and is stable.
        assert_eq!(with_one_key, value_digest(&value, &key(1)));
        assert_ne!(
            with_one_key,
            value_digest(&credentials_with_unknown_reference("hunter3"), &key(1))
        );
        // A known secret keeps the state's own hash.
        let known = Value::sensitive(Value::string("hunter2"));
        assert_ne!(value_digest(&known, &key(1)), value_digest(&known, &key(2)));
    }
}
