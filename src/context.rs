//! What an operation against a remote system gets besides its arguments: a provider's
//! `read`, `create` or `delete`, and an assertion's check alike. Below `providers` and `verify`,
//! which both take a [`ProviderContext`]; the engine builds it.

use std::sync::Arc;

pub use crate::config::connections::Connections;
use crate::state::BoxFuture;

/// Records what a long operation is doing in state before waiting on it, so an interrupted run
/// resumes the wait instead of creating a second object.
pub trait IntentRecorder: Send + Sync {
    fn record<'a>(
        &'a self,
        handle: serde_json::Value,
        detail: String,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// What a provider operation or an assertion gets besides its arguments.
#[derive(Clone)]
pub struct ProviderContext {
    /// Becomes `true` when the run is cancelled (the second interrupt of its
    /// [`crate::shutdown::Shutdown`]); long waits should stop promptly.
    pub cancel: tokio::sync::watch::Receiver<bool>,
    /// One-line progress messages ("waiting for ACTIVE: CREATING, 3m12s").
    pub progress: Arc<dyn Fn(&str) + Send + Sync>,
    pub intent: Arc<dyn IntentRecorder>,
    /// The intent recorded by an earlier, interrupted run of this operation, if any.
    pub resumed: Option<serde_json::Value>,
    /// The configured Kafka connections and provider settings, as evaluated for this run.
    pub connections: Arc<Connections>,
    /// The state's key, so a provider can find an object whose identifying arguments state
    /// keeps only as keyed hashes (a `kafka_acl` with a sensitive principal): it lists the
    /// candidates and keeps the one whose parts hash the same. `None` outside the engine.
    pub state_key: Option<crate::state::HashKey>,
}

impl ProviderContext {
    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }
}
