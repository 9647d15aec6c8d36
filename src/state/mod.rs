//! State: the versioned JSON record of what cutover manages, where it is stored (backends),
//! how concurrent runs are kept apart (locking), and how sensitive values are kept out of it
//! (keyed hashes).
//!
//! # Reading order
//!
//! - [`document`]: [`State`], [`ResourceState`], outputs, assertion evidence, pending intents.
//! - [`sensitive`]: the state key and the hash markers that replace sensitive values.
//! - [`backend`]: the [`Backend`] trait (local now, S3 later), [`LockInfo`], [`LockGuard`],
//!   [`StateStore`].
//! - [`local`]: [`LocalBackend`], the `cutover.state.json` file.
//!
//! # The format (version 1)
//!
//! ```json
//! {
//!   "version": 1,
//!   "serial": 7,
//!   "lineage": "3f1c2a9e-5b7d-4e8f-9a01-23456789abcd",
//!   "cutover_version": "0.1.0",
//!   "sensitive_key_id": "hmac-sha256:9c1e0b7d44a2f3e1",
//!   "resources": [
//!     {
//!       "address": "aws_msk_cluster.target",
//!       "module": [],
//!       "mode": "managed",
//!       "type": "aws_msk_cluster",
//!       "name": "target",
//!       "index": null,
//!       "provider": "aws",
//!       "schema_version": 0,
//!       "attributes": { "arn": "arn:aws:kafka:eu-west-1:123456789012:cluster/orders/1", "cluster_name": "orders" },
//!       "sensitive_paths": [],
//!       "dependencies": ["aws_msk_configuration.target"],
//!       "protection": { "prevent_destroy": true },
//!       "pending": {
//!         "operation": "create",
//!         "handle": { "arn": "arn:aws:kafka:eu-west-1:123456789012:cluster/orders/1" },
//!         "started_at": "2025-06-01T10:00:00Z",
//!         "detail": "creating MSK cluster orders"
//!       }
//!     },
//!     {
//!       "address": "module.flip.aws_secretsmanager_secret_version.producers[\"orders\"]",
//!       "module": ["flip"],
//!       "mode": "managed",
//!       "type": "aws_secretsmanager_secret_version",
//!       "name": "producers",
//!       "index": "orders",
//!       "provider": "aws",
//!       "schema_version": 0,
//!       "attributes": {
//!         "secret_id": "prod/orders/kafka",
//!         "secret_string": { "__cutover_sensitive__": "hmac-sha256:6d2f…64 hex digits…" },
//!         "version_id": "v-1"
//!       },
//!       "sensitive_paths": [["secret_string"]],
//!       "dependencies": ["assert.caught_up", "assert.no_divergence"],
//!       "protection": { "prevent_destroy": false }
//!     }
//!   ],
//!   "outputs": {
//!     "bootstrap_servers": { "value": "b-1.orders:9098", "sensitive": false }
//!   },
//!   "assertions": {
//!     "assert.caught_up": { "lag_records": 0, "stable_for_seconds": 30, "checked_at": "2025-06-01T11:00:00Z" }
//!   }
//! }
//! ```
//!
//! - `serial` grows by one with every write that changes anything; `lineage` is created with
//!   the state and never changes. Together they are the [`StateStamp`] a saved plan records and
//!   a write checks (optimistic concurrency).
//! - `resources` are sorted by address (module path, managed before data, type, name, index
//!   with numbers numerically); `address` must agree with the fields it is made of.
//! - `pending` is present only while an operation is in flight (see [`PendingIntent`]).
//! - Versioning: a format change that older builds cannot read bumps `version`, and a build
//!   refuses (to read or overwrite) a state with a higher version than
//!   [`STATE_FORMAT_VERSION`]. Additive fields do not bump it: unknown fields at the top level
//!   and in resources are preserved on rewrite, so an older build does not drop them.
//! - Sensitive values never appear: see [`sensitive`] for the hash markers and the key.
//!
//! # Files of the local backend
//!
//! `cutover.state.json` (0600), `cutover.state.json.backup` (the previous version, 0600) and,
//! while a run holds the lock, `cutover.state.json.lock` (0600, the [`LockInfo`] as JSON).

pub mod backend;
pub mod document;
pub mod encryption;
pub mod error;
pub mod local;
mod platform;
pub mod s3;
pub mod sensitive;

pub use backend::{
    Backend, BoxFuture, LOCK_RETRY_INTERVAL, LockAttempt, LockGuard, LockInfo, StateStore,
};
pub use document::{
    CUTOVER_VERSION, OutputState, PendingIntent, PendingOperation, Protection, ResourceState,
    STATE_FORMAT_VERSION, State, StateStamp,
};
pub use encryption::{Encryption, EncryptionSettings, Purpose};
pub use error::{LockHeld, StateError};
pub use local::{DEFAULT_STATE_FILE, LocalBackend};
/// The writer of every private file: 0600, a new temporary file, fsync, rename, directory
/// fsync, symbolic links refused. Saved plans use it too.
pub use platform::write_atomically as write_private_file;
pub use s3::{S3Backend, S3Settings};
pub use sensitive::{
    AttributePath, HashKey, KeyOrigin, KeySettings, PathStep, SensitiveHash, decode_attributes,
    encode_value, sensitive_matches, stored_hash,
};

/// The current UTC time as RFC 3339 (`2025-06-01T10:00:00Z`), as used in locks and intents.
pub fn now_rfc3339() -> String {
    platform::now_rfc3339()
}
