//! The state document: what cutover knows about the infrastructure it manages, as stored by a
//! backend. See the module documentation of [`crate::state`] for the format.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{Result, StateError};
use super::sensitive::{AttributePath, HashKey, decode_attributes, encode_value};
use crate::config::evaluate::{InstanceKey, ResourceAddress};
use crate::config::model::Mode;
use crate::config::value::Value;

/// The newest state format version this build reads and the one it writes.
pub const STATE_FORMAT_VERSION: u64 = 1;

/// The version of cutover recorded in states and locks it writes.
pub const CUTOVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole state.
///
/// Fields this version does not know (written by a newer cutover with the same format
/// `version`) are kept in `extra` and written back unchanged, so an older cutover does not
/// silently drop them. Incompatible changes bump `version` instead, which older builds refuse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Format version ([`STATE_FORMAT_VERSION`]).
    pub version: u64,
    /// Incremented by every write that changes anything; a saved plan records it.
    pub serial: u64,
    /// A random identifier created with the state and never changed: two states with different
    /// lineages are different states, whatever their serials.
    pub lineage: String,
    /// The cutover version that last wrote this state.
    pub cutover_version: String,
    /// Identifies (without revealing) the key used for the sensitive hashes, so a run with
    /// another key can say so instead of reporting every sensitive attribute as changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive_key_id: Option<String>,
    /// Kept sorted by address (see [`State::sort_resources`]).
    #[serde(default)]
    pub resources: Vec<ResourceState>,
    /// Root module outputs.
    #[serde(default)]
    pub outputs: BTreeMap<String, OutputState>,
    /// Evidence stored by assertions, by assertion address (`assert.caught_up`).
    #[serde(default)]
    pub assertions: BTreeMap<String, serde_json::Value>,
    /// The timeline of the migration: one record per apply or destroy that changed something
    /// or checked an assertion, oldest first, at most [`HISTORY_LIMIT`] (see
    /// [`State::record_apply`]). Absent from states written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<ApplyRecord>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// How many [`ApplyRecord`]s a state keeps: the oldest go first. A migration is a handful of
/// phases with a few retries each; the bound only keeps a state that is applied from a
/// schedule for years from growing without end.
pub const HISTORY_LIMIT: usize = 200;

/// One run of `apply` or `destroy`, as the timeline of `cutover show` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyRecord {
    /// RFC 3339 UTC time the run started applying.
    pub started_at: String,
    /// RFC 3339 UTC time the run saved state for the last time.
    pub finished_at: String,
    pub operation: ApplyOperation,
    pub outcome: ApplyOutcome,
    /// Objects created (a replacement counts one added and one destroyed, as apply prints).
    pub added: u64,
    pub changed: u64,
    pub destroyed: u64,
    /// The assertions the run checked, in the order they finished.
    #[serde(default)]
    pub assertions: Vec<CheckedAssertion>,
    /// The value of the root output named `phase` after the run (a string as is, anything
    /// else as JSON), `null` when the configuration has none or it is sensitive or unknown.
    #[serde(default)]
    pub label: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyOperation {
    Apply,
    Destroy,
}

/// How a run ended, as `apply` reported it (and as its exit code says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyOutcome {
    /// Everything planned was done (exit 0).
    #[serde(rename = "complete")]
    Complete,
    /// An operation failed (exit 1).
    #[serde(rename = "failed")]
    Failed,
    /// Ctrl-C or SIGTERM stopped it (exit 1).
    #[serde(rename = "interrupted")]
    Interrupted,
    /// Assertions that did not hold were the only failures (exit 3).
    #[serde(rename = "assertion failed")]
    AssertionFailed,
}

/// An assertion a run checked and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedAssertion {
    /// `assert.caught_up`, `module.migration.assert.no_divergence`.
    pub address: String,
    pub passed: bool,
}

/// What identifies one version of one state: a saved plan and an optimistic write check compare
/// these.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateStamp {
    pub lineage: String,
    pub serial: u64,
}

/// One resource or data source instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// The display form of the address (`module.m.aws_msk_cluster.target`, `kafka_topic.t["a"]`);
    /// derived from the fields below and checked against them on load.
    pub address: String,
    #[serde(default)]
    pub module: Vec<String>,
    #[serde(with = "mode_serde")]
    pub mode: Mode,
    #[serde(rename = "type")]
    pub type_name: String,
    pub name: String,
    /// `null` (no `count`/`for_each`), a number (`count`) or a string (`for_each`).
    #[serde(default, with = "index_serde")]
    pub index: Option<InstanceKey>,
    /// The provider that manages it (`aws`, `kafka`, `cutover`).
    pub provider: String,
    /// The provider's schema version of `attributes`, for upgrades.
    #[serde(default)]
    pub schema_version: u32,
    /// A JSON object; sensitive sub-values are replaced by hash markers (see
    /// [`crate::state::sensitive`]).
    pub attributes: serde_json::Value,
    /// Paths of the attributes that were sensitive when written.
    #[serde(default)]
    pub sensitive_paths: Vec<AttributePath>,
    /// Addresses this instance depended on when it was applied; a destroy without the
    /// configuration uses them for ordering.
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub protection: Protection,
    /// An operation started but not known to have finished (see [`PendingIntent`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingIntent>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Protections recorded at apply. Kept in state so that deleting `lifecycle { prevent_destroy }`
/// together with the resource block does not unprotect the resource: an apply that removes the
/// protection while the resource still exists has to come first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    #[serde(default)]
    pub prevent_destroy: bool,
}

/// Recorded before a long provider wait (an MSK cluster takes tens of minutes), so a re-run
/// after an interruption resumes waiting on `handle` instead of creating a second resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingIntent {
    pub operation: PendingOperation,
    /// What the provider needs to find the object again, e.g. `{"arn": "arn:aws:kafka:…"}`.
    pub handle: serde_json::Value,
    /// RFC 3339 UTC time the operation started.
    pub started_at: String,
    /// A human sentence: "creating MSK cluster orders".
    #[serde(default)]
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PendingOperation {
    Create,
    Update,
    Delete,
    Replace,
    Import,
}

/// A root module output. A sensitive output is stored as a hash marker like any sensitive
/// attribute, so `cutover output` cannot show it from state (by design).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputState {
    pub value: serde_json::Value,
    #[serde(default)]
    pub sensitive: bool,
}

impl OutputState {
    /// Encodes an output value; sensitive parts (and the whole value when `sensitive`) become
    /// hash markers.
    pub fn new(value: &Value, sensitive: bool, key: &HashKey) -> Result<Self> {
        let value = value.clone().marked(sensitive);
        let sensitive = sensitive || value.contains_sensitive();
        let (value, _) = encode_value(&value, key)?;
        Ok(OutputState { value, sensitive })
    }

    /// The output as a [`Value`], hash markers decoded as in [`decode_attributes`].
    pub fn to_value(&self) -> Value {
        decode_attributes(&self.value).marked(self.sensitive)
    }
}

impl State {
    /// A new, empty state with a fresh lineage, at serial 0 (the first write is serial 1).
    pub fn new() -> Result<Self> {
        let lineage = super::platform::new_uuid()
            .map_err(|error| StateError::io("read", "/dev/urandom", error))?;
        Ok(Self::with_lineage(lineage))
    }

    pub fn with_lineage(lineage: impl Into<String>) -> Self {
        State {
            version: STATE_FORMAT_VERSION,
            serial: 0,
            lineage: lineage.into(),
            cutover_version: CUTOVER_VERSION.to_owned(),
            sensitive_key_id: None,
            resources: Vec::new(),
            outputs: BTreeMap::new(),
            assertions: BTreeMap::new(),
            history: Vec::new(),
            extra: BTreeMap::new(),
        }
    }

    pub fn stamp(&self) -> StateStamp {
        StateStamp {
            lineage: self.lineage.clone(),
            serial: self.serial,
        }
    }

    /// The serial the next content-changing write gets.
    pub fn next_serial(&self) -> u64 {
        self.serial + 1
    }

    /// True when both states hold the same content, ignoring `serial` and `cutover_version`
    /// (which every write sets).
    pub fn same_content(&self, other: &State) -> bool {
        self.version == other.version
            && self.lineage == other.lineage
            && self.sensitive_key_id == other.sensitive_key_id
            && self.resources == other.resources
            && self.outputs == other.outputs
            && self.assertions == other.assertions
            && self.history == other.history
            && self.extra == other.extra
    }

    /// Prepares this state to be written over `persisted` (the state as last read or written):
    /// when the content differs, sets `serial` to `persisted.next_serial()` and returns true;
    /// when nothing changed, restores `persisted`'s serial and returns false (nothing to write).
    /// Without a persisted state, anything is a change and the serial becomes at least 1.
    pub fn prepare_write(&mut self, persisted: Option<&State>) -> bool {
        self.sort_resources();
        self.cutover_version = CUTOVER_VERSION.to_owned();
        match persisted {
            Some(persisted) if self.same_content(persisted) => {
                self.serial = persisted.serial;
                false
            }
            Some(persisted) => {
                self.serial = persisted.next_serial();
                true
            }
            None => {
                self.serial = self.serial.max(1);
                true
            }
        }
    }

    /// Appends a run to the timeline, dropping the oldest records beyond [`HISTORY_LIMIT`].
    pub fn record_apply(&mut self, record: ApplyRecord) {
        self.history.push(record);
        let excess = self.history.len().saturating_sub(HISTORY_LIMIT);
        self.history.drain(..excess);
    }

    /// Records which key the sensitive hashes of this state are made with.
    pub fn record_key(&mut self, key: &HashKey) {
        self.sensitive_key_id = Some(key.id());
    }

    /// `Some(false)` when this state's hashes were made with another key: every sensitive
    /// attribute will look changed. `None` when the state records no key (no sensitive values
    /// yet, or written before the id was recorded).
    pub fn key_matches(&self, key: &HashKey) -> Option<bool> {
        self.sensitive_key_id.as_ref().map(|id| *id == key.id())
    }

    /// The resource at `address`.
    pub fn resource(&self, address: &ResourceAddress) -> Option<&ResourceState> {
        self.position(address)
            .ok()
            .map(|index| &self.resources[index])
    }

    pub fn resource_mut(&mut self, address: &ResourceAddress) -> Option<&mut ResourceState> {
        self.position(address)
            .ok()
            .map(|index| &mut self.resources[index])
    }

    /// The resource whose display address is `address` (`module.m.aws_x.y["k"]`), as typed on
    /// the command line.
    pub fn resource_by_display(&self, address: &str) -> Option<&ResourceState> {
        self.resources
            .iter()
            .find(|resource| resource.address == address)
    }

    /// Inserts or replaces the resource with the same address, keeping resources sorted.
    /// Returns the previous entry.
    pub fn upsert(&mut self, resource: ResourceState) -> Option<ResourceState> {
        let address = resource.resource_address();
        match self.position(&address) {
            Ok(index) => Some(std::mem::replace(&mut self.resources[index], resource)),
            Err(index) => {
                self.resources.insert(index, resource);
                None
            }
        }
    }

    /// Removes and returns the resource at `address`.
    pub fn remove(&mut self, address: &ResourceAddress) -> Option<ResourceState> {
        self.position(address)
            .ok()
            .map(|index| self.resources.remove(index))
    }

    /// Sorts resources by address: module path, managed before data, type, name, then index
    /// (numbers numerically, before strings). Stable, so it is idempotent on sorted input.
    pub fn sort_resources(&mut self) {
        self.resources
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    }

    /// Resources with a pending intent: what an interrupted apply left to resume.
    pub fn pending(&self) -> impl Iterator<Item = &ResourceState> {
        self.resources
            .iter()
            .filter(|resource| resource.pending.is_some())
    }

    /// Where `address` is (`Ok`) or would be inserted (`Err`). Resources are kept sorted (every
    /// read sorts them, [`State::upsert`] and [`State::remove`] keep them so, and whoever
    /// pushes directly calls [`State::sort_resources`]), so this is a binary search: a scan
    /// on every miss made each new object of an apply cost O(n).
    fn position(&self, address: &ResourceAddress) -> std::result::Result<usize, usize> {
        let key = sort_key_of(address);
        let found = self
            .resources
            .binary_search_by(|resource| resource.sort_key().cmp(&key));
        // A hit is right whatever the order; a miss is only trustworthy if sorted.
        debug_assert!(
            found.is_ok()
                || self
                    .resources
                    .is_sorted_by(|a, b| a.sort_key() <= b.sort_key()),
            "state resources are not sorted: call State::sort_resources after pushing"
        );
        found
    }

    /// Serializes the state as written to storage: pretty JSON with a final newline.
    pub fn to_json_bytes(&self) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(StateError::Serialize)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Parses a stored state. `origin` names the file (or object) in errors. A newer format
    /// version is refused before the rest is interpreted; resources are checked (addresses
    /// consistent and unique) and sorted.
    pub fn from_json_bytes(bytes: &[u8], origin: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        struct VersionProbe {
            version: u64,
        }
        let unsupported = |found: u64| {
            (found == 0 || found > STATE_FORMAT_VERSION).then(|| StateError::UnsupportedVersion {
                path: origin.to_path_buf(),
                found,
                supported: STATE_FORMAT_VERSION,
                cutover_version: CUTOVER_VERSION,
            })
        };
        // One parse in the usual case. Only when it fails is the version probed, so that a
        // newer format is refused as such rather than reported as corrupt (and a document
        // that is not JSON at all reports the probe's error, as it always has).
        let mut state: State = match serde_json::from_slice(bytes) {
            Ok(state) => state,
            Err(error) => {
                let probe: VersionProbe = serde_json::from_slice(bytes)
                    .map_err(|error| StateError::corrupt("state JSON", origin, &error))?;
                return Err(unsupported(probe.version)
                    .unwrap_or_else(|| StateError::corrupt("state JSON", origin, &error)));
            }
        };
        if let Some(error) = unsupported(state.version) {
            return Err(error);
        }
        state.validate(origin)?;
        state.sort_resources();
        Ok(state)
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let invalid = |message: String| StateError::Invalid {
            path: origin.to_path_buf(),
            message,
        };
        if self.lineage.trim().is_empty() {
            return Err(invalid("lineage is empty".to_owned()));
        }
        // Positions whose address an earlier resource already has. Every earlier resource
        // passed the address check below before a later one is looked at, so comparing the
        // stored addresses finds exactly the repeats of the expected ones.
        let mut by_address: Vec<usize> = (0..self.resources.len()).collect();
        by_address.sort_by(|a, b| {
            (&self.resources[*a].address, a).cmp(&(&self.resources[*b].address, b))
        });
        let mut repeated = vec![false; self.resources.len()];
        for pair in by_address.windows(2) {
            if self.resources[pair[0]].address == self.resources[pair[1]].address {
                repeated[pair[1]] = true;
            }
        }
        let mut expected = String::new();
        for (position, resource) in self.resources.iter().enumerate() {
            expected.clear();
            resource.write_expected_address(&mut expected);
            if resource.address != expected {
                return Err(invalid(format!(
                    "resource {position} has address {:?} but its module, mode, type, name and index make {expected:?}",
                    resource.address
                )));
            }
            if !resource.attributes.is_object() {
                return Err(invalid(format!(
                    "attributes of {} are not a JSON object",
                    resource.address
                )));
            }
            if repeated[position] {
                return Err(invalid(format!("{expected} appears more than once")));
            }
        }
        Ok(())
    }
}

type SortKey<'a> = (
    &'a [String],
    Mode,
    &'a str,
    &'a str,
    Option<&'a InstanceKey>,
);

fn sort_key_of(address: &ResourceAddress) -> SortKey<'_> {
    (
        &address.module,
        address.mode,
        &address.type_name,
        &address.name,
        address.key.as_ref(),
    )
}

impl ResourceState {
    /// A resource with empty attributes, unprotected, nothing pending.
    pub fn new(address: &ResourceAddress, provider: impl Into<String>) -> Self {
        ResourceState {
            address: address.to_string(),
            module: address.module.clone(),
            mode: address.mode,
            type_name: address.type_name.clone(),
            name: address.name.clone(),
            index: address.key.clone(),
            provider: provider.into(),
            schema_version: 0,
            attributes: serde_json::Value::Object(serde_json::Map::new()),
            sensitive_paths: Vec::new(),
            dependencies: Vec::new(),
            protection: Protection::default(),
            pending: None,
            extra: BTreeMap::new(),
        }
    }

    /// Appends the display form of the address the fields make (what
    /// `self.resource_address().to_string()` gives, without building the address).
    fn write_expected_address(&self, out: &mut String) {
        use std::fmt::Write as _;
        for module in &self.module {
            let _ = write!(out, "module.{module}.");
        }
        if self.mode == Mode::Data {
            out.push_str("data.");
        }
        let _ = write!(out, "{}.{}", self.type_name, self.name);
        if let Some(index) = &self.index {
            let _ = write!(out, "{index}");
        }
    }

    pub fn resource_address(&self) -> ResourceAddress {
        ResourceAddress {
            module: self.module.clone(),
            mode: self.mode,
            type_name: self.type_name.clone(),
            name: self.name.clone(),
            key: self.index.clone(),
        }
    }

    /// Stores `attributes` (an object value with sensitive marks): sensitive sub-values become
    /// keyed-hash markers and their paths are recorded. Fails on unknown values.
    /// A null value stores an empty object; any other non-object value is refused.
    pub fn set_attributes(&mut self, attributes: &Value, key: &HashKey) -> Result<()> {
        if attributes.is_null() && !attributes.contains_sensitive() {
            self.attributes = serde_json::Value::Object(serde_json::Map::new());
            self.sensitive_paths = Vec::new();
            return Ok(());
        }
        let (json, sensitive_paths) = encode_value(attributes, key)?;
        if !json.is_object() {
            return Err(StateError::AttributesNotAnObject {
                address: self.address.clone(),
                found: attributes.type_name(),
            });
        }
        self.attributes = json;
        self.sensitive_paths = sensitive_paths;
        Ok(())
    }

    /// The stored attributes as a [`Value`]: hash markers come back as sensitive hash values
    /// (see [`crate::state::sensitive::stored_hash`]), and every recorded sensitive path is
    /// marked sensitive.
    pub fn attributes_value(&self) -> Value {
        let mut value = decode_attributes(&self.attributes);
        for path in &self.sensitive_paths {
            path.mark_sensitive(&mut value);
        }
        value
    }

    /// Sets the dependencies, sorted and without duplicates.
    pub fn set_dependencies<I, S>(&mut self, dependencies: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let set: BTreeSet<String> = dependencies.into_iter().map(Into::into).collect();
        self.dependencies = set.into_iter().collect();
    }

    fn sort_key(&self) -> SortKey<'_> {
        (
            &self.module,
            self.mode,
            &self.type_name,
            &self.name,
            self.index.as_ref(),
        )
    }
}

impl PendingIntent {
    /// An intent started now.
    pub fn now(
        operation: PendingOperation,
        handle: serde_json::Value,
        detail: impl Into<String>,
    ) -> Self {
        PendingIntent {
            operation,
            handle,
            started_at: super::platform::now_rfc3339(),
            detail: detail.into(),
        }
    }
}

impl ApplyOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyOperation::Apply => "apply",
            ApplyOperation::Destroy => "destroy",
        }
    }
}

impl ApplyOutcome {
    /// As stored: `complete`, `failed`, `interrupted`, `assertion failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyOutcome::Complete => "complete",
            ApplyOutcome::Failed => "failed",
            ApplyOutcome::Interrupted => "interrupted",
            ApplyOutcome::AssertionFailed => "assertion failed",
        }
    }
}

impl ApplyRecord {
    /// The `phase` label, else the operation (`apply`, `destroy`): what the timeline and the
    /// chart's markers show.
    pub fn display_label(&self) -> &str {
        self.label
            .as_deref()
            .unwrap_or_else(|| self.operation.as_str())
    }

    /// How long the run took, when both times can be read.
    pub fn duration(&self) -> Option<std::time::Duration> {
        let started = super::platform::parse_rfc3339(&self.started_at)?;
        let finished = super::platform::parse_rfc3339(&self.finished_at)?;
        finished
            .checked_sub(started)
            .map(std::time::Duration::from_secs)
    }

    /// [`ApplyRecord::duration`] as `45s`, `3m20s`, `2h5m`; `?` when unknown.
    pub fn duration_text(&self) -> String {
        self.duration()
            .map_or_else(|| "?".to_owned(), super::platform::human_duration)
    }

    /// `finished_at` in milliseconds since the Unix epoch (the time axis of the lag chart).
    pub fn finished_unix_millis(&self) -> Option<i64> {
        super::platform::parse_rfc3339(&self.finished_at)
            .and_then(|seconds| i64::try_from(seconds).ok())
            .map(|seconds| seconds * 1000)
    }
}

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC (second precision), the form of
/// every time in the state document.
pub fn format_unix_millis(millis: i64) -> String {
    super::platform::format_rfc3339(u64::try_from(millis.div_euclid(1000)).unwrap_or(0))
}

mod mode_serde {
    use super::*;

    pub fn serialize<S: Serializer>(mode: &Mode, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match mode {
            Mode::Managed => "managed",
            Mode::Data => "data",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Mode, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "managed" => Ok(Mode::Managed),
            "data" => Ok(Mode::Data),
            other => Err(serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(other),
                &"\"managed\" or \"data\"",
            )),
        }
    }
}

mod index_serde {
    use super::*;

    pub fn serialize<S: Serializer>(
        index: &Option<InstanceKey>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match index {
            None => serializer.serialize_none(),
            Some(InstanceKey::Int(number)) => serializer.serialize_i64(*number),
            Some(InstanceKey::String(key)) => serializer.serialize_str(key),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<InstanceKey>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            String(String),
        }
        Ok(
            Option::<Raw>::deserialize(deserializer)?.map(|raw| match raw {
                Raw::Int(number) => InstanceKey::Int(number),
                Raw::String(key) => InstanceKey::String(key),
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(type_name: &str, name: &str, key: Option<InstanceKey>) -> ResourceAddress {
        ResourceAddress {
            module: Vec::new(),
            mode: Mode::Managed,
            type_name: type_name.to_owned(),
            name: name.to_owned(),
            key,
        }
    }

    #[test]
    fn upsert_keeps_resources_sorted_and_replaces_by_address() {
        let mut state = State::with_lineage("l");
        for key in [10, 2, 1] {
            let address = address("kafka_topic", "t", Some(InstanceKey::Int(key)));
            assert!(
                state
                    .upsert(ResourceState::new(&address, "kafka"))
                    .is_none()
            );
        }
        let mut data = address("kafka_topics", "legacy", None);
        data.mode = Mode::Data;
        state.upsert(ResourceState::new(&data, "kafka"));
        state.upsert(ResourceState::new(
            &address("aws_msk_cluster", "target", None),
            "aws",
        ));
        let order: Vec<&str> = state.resources.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(
            order,
            [
                "aws_msk_cluster.target",
                "kafka_topic.t[1]",
                "kafka_topic.t[2]",
                "kafka_topic.t[10]",
                "data.kafka_topics.legacy",
            ]
        );
        let mut replacement =
            ResourceState::new(&address("kafka_topic", "t", Some(InstanceKey::Int(2))), "x");
        replacement.schema_version = 3;
        let previous = state.upsert(replacement).unwrap();
        assert_eq!(previous.provider, "kafka");
        assert_eq!(state.resources.len(), 5);
        let found = state
            .resource(&address("kafka_topic", "t", Some(InstanceKey::Int(2))))
            .unwrap();
        assert_eq!(found.schema_version, 3);
        assert!(state.resource_by_display("kafka_topic.t[10]").is_some());
        assert!(
            state
                .remove(&address("kafka_topic", "t", Some(InstanceKey::Int(1))))
                .is_some()
        );
        assert!(state.resource_by_display("kafka_topic.t[1]").is_none());
    }

    #[test]
    fn attributes_must_be_an_object() {
        let key = HashKey::from_bytes(vec![1u8; 32], super::super::sensitive::KeyOrigin::Explicit)
            .unwrap();
        let mut resource = ResourceState::new(&address("cutover_data", "x", None), "cutover");
        resource.set_attributes(&Value::Null, &key).unwrap();
        assert_eq!(resource.attributes, serde_json::json!({}));
        let error = resource
            .set_attributes(&Value::string("scalar"), &key)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "attributes of cutover_data.x must be an object, not a string"
        );
    }

    #[test]
    fn prepare_write_bumps_serial_only_on_change() {
        let mut persisted = State::with_lineage("l");
        assert!(persisted.prepare_write(None));
        assert_eq!(persisted.serial, 1);
        let mut same = persisted.clone();
        assert!(!same.prepare_write(Some(&persisted)));
        assert_eq!(same.serial, 1);
        let mut changed = persisted.clone();
        changed
            .assertions
            .insert("assert.caught_up".into(), serde_json::json!({"lag": 0}));
        assert!(changed.prepare_write(Some(&persisted)));
        assert_eq!(changed.serial, 2);
    }

    #[test]
    fn newer_format_versions_are_refused_with_the_path() {
        let bytes = br#"{"version": 2, "something": "new"}"#;
        let error = State::from_json_bytes(bytes, Path::new("dir/cutover.state.json")).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "dir/cutover.state.json has state format version 2, but cutover {CUTOVER_VERSION} reads versions up to 1; upgrade cutover to use this state"
            )
        );
    }

    #[test]
    fn corrupt_json_names_path_line_and_column() {
        let bytes = b"{\n  \"version\": 1,\n  \"serial\": oops\n}";
        let error = State::from_json_bytes(bytes, Path::new("s.json")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "s.json:3:13: invalid state JSON: expected value"
        );
    }

    #[test]
    fn unknown_fields_are_preserved_and_inconsistent_addresses_refused() {
        let text = r#"{
          "version": 1, "serial": 4, "lineage": "abc", "cutover_version": "9.9.9",
          "future_top_level": {"x": 1},
          "resources": [{
            "address": "module.m.kafka_topic.t[\"orders\"]", "module": ["m"], "mode": "managed",
            "type": "kafka_topic", "name": "t", "index": "orders", "provider": "kafka",
            "attributes": {"name": "orders"}, "future_resource_field": true
          }]
        }"#;
        let state = State::from_json_bytes(text.as_bytes(), Path::new("s.json")).unwrap();
        assert_eq!(state.extra["future_top_level"], serde_json::json!({"x": 1}));
        assert_eq!(
            state.resources[0].extra["future_resource_field"],
            serde_json::json!(true)
        );
        let written = String::from_utf8(state.to_json_bytes().unwrap()).unwrap();
        assert!(written.contains("future_top_level"));
        assert!(written.contains("future_resource_field"));
        let reread = State::from_json_bytes(written.as_bytes(), Path::new("s.json")).unwrap();
        assert_eq!(reread, state);

        let wrong = text.replace(r#""index": "orders""#, r#""index": 3"#);
        let error = State::from_json_bytes(wrong.as_bytes(), Path::new("s.json")).unwrap_err();
        assert!(
            error.to_string().contains(
                "but its module, mode, type, name and index make \"module.m.kafka_topic.t[3]\""
            ),
            "{error}"
        );
    }

    #[test]
    fn validation_reports_the_first_problem_in_file_order() {
        let resource = |address: &str, name: &str| {
            format!(
                r#"{{"address": "{address}", "mode": "managed", "type": "t", "name": "{name}", "provider": "p", "attributes": {{}}}}"#
            )
        };
        let document = |resources: &[String]| {
            format!(
                r#"{{"version": 1, "serial": 1, "lineage": "l", "cutover_version": "v", "resources": [{}]}}"#,
                resources.join(",")
            )
        };
        let error = |resources: &[String]| {
            State::from_json_bytes(document(resources).as_bytes(), Path::new("s.json"))
                .unwrap_err()
                .to_string()
        };
        // A repeat before a wrong address: the repeat is reported.
        let repeat_first = error(&[
            resource("t.b", "b"),
            resource("t.a", "a"),
            resource("t.b", "b"),
            resource("t.wrong", "c"),
        ]);
        assert!(
            repeat_first.ends_with("t.b appears more than once"),
            "{repeat_first}"
        );
        // A wrong address before a repeat: the address is reported.
        let address_first = error(&[
            resource("t.b", "b"),
            resource("t.wrong", "c"),
            resource("t.b", "b"),
        ]);
        assert!(
            address_first.contains(r#"resource 1 has address "t.wrong" but its module, mode, type, name and index make "t.c""#),
            "{address_first}"
        );
        let data_in_module = ResourceState {
            mode: Mode::Data,
            ..ResourceState::new(
                &ResourceAddress {
                    module: vec!["m".to_owned(), "n".to_owned()],
                    mode: Mode::Data,
                    type_name: "kafka_topic".to_owned(),
                    name: "t".to_owned(),
                    key: Some(InstanceKey::String("a\"b".to_owned())),
                },
                "kafka",
            )
        };
        let mut written = String::new();
        data_in_module.write_expected_address(&mut written);
        assert_eq!(written, data_in_module.resource_address().to_string());
    }

    fn record(label: Option<&str>, outcome: ApplyOutcome) -> ApplyRecord {
        ApplyRecord {
            started_at: "2025-06-01T10:00:00Z".to_owned(),
            finished_at: "2025-06-01T10:03:20Z".to_owned(),
            operation: ApplyOperation::Apply,
            outcome,
            added: 2,
            changed: 1,
            destroyed: 0,
            assertions: vec![CheckedAssertion {
                address: "assert.caught_up".to_owned(),
                passed: false,
            }],
            label: label.map(str::to_owned),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn states_without_history_load_and_are_written_without_it() {
        let text = r#"{"version": 1, "serial": 1, "lineage": "l", "cutover_version": "v"}"#;
        let state = State::from_json_bytes(text.as_bytes(), Path::new("s.json")).unwrap();
        assert!(state.history.is_empty());
        let written = String::from_utf8(state.to_json_bytes().unwrap()).unwrap();
        assert!(!written.contains("history"), "{written}");
    }

    #[test]
    fn apply_records_round_trip_and_count_as_content() {
        let mut state = State::with_lineage("l");
        assert!(state.prepare_write(None));
        let persisted = state.clone();
        state.record_apply(record(Some("mirror"), ApplyOutcome::AssertionFailed));
        assert!(!state.same_content(&persisted));
        let written = String::from_utf8(state.to_json_bytes().unwrap()).unwrap();
        assert!(
            written.contains(r#""outcome": "assertion failed""#),
            "{written}"
        );
        assert!(written.contains(r#""operation": "apply""#), "{written}");
        let reread = State::from_json_bytes(written.as_bytes(), Path::new("s.json")).unwrap();
        assert_eq!(reread.history, state.history);
        let without_label = serde_json::to_value(record(None, ApplyOutcome::Complete)).unwrap();
        assert_eq!(without_label["label"], serde_json::Value::Null);
    }

    #[test]
    fn history_keeps_the_most_recent_records() {
        let mut state = State::with_lineage("l");
        for number in 0..HISTORY_LIMIT + 5 {
            state.record_apply(record(Some(&number.to_string()), ApplyOutcome::Complete));
        }
        assert_eq!(state.history.len(), HISTORY_LIMIT);
        assert_eq!(state.history[0].label.as_deref(), Some("5"));
        let last = HISTORY_LIMIT + 4;
        assert_eq!(
            state.history.last().unwrap().label.as_deref(),
            Some(last.to_string().as_str())
        );
    }

    #[test]
    fn apply_records_derive_duration_label_and_time() {
        let labelled = record(Some("cutover_producers"), ApplyOutcome::Complete);
        assert_eq!(labelled.duration_text(), "3m20s");
        assert_eq!(labelled.display_label(), "cutover_producers");
        assert_eq!(labelled.finished_unix_millis(), Some(1_748_772_200_000));
        assert_eq!(
            format_unix_millis(1_748_772_200_999),
            "2025-06-01T10:03:20Z"
        );
        let mut unlabelled = record(None, ApplyOutcome::Failed);
        unlabelled.finished_at = "later".to_owned();
        assert_eq!(unlabelled.display_label(), "apply");
        assert_eq!(unlabelled.duration_text(), "?");
    }
}
