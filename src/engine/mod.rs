//! The engine: everything between a configuration and the real world. It loads and evaluates
//! the configuration, reads and locks state, refreshes through providers, computes the plan
//! (with [`crate::plan`]), and applies it (with [`executor`]), saving state after every
//! resource. Commands call it; providers are reached only through the [`Registry`].

pub mod executor;
pub mod planner;
pub mod saved;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::inputs::CommandLineVar;
use crate::providers::{Connections, IntentRecorder, ProviderContext, Registry};
use crate::state::{Backend, HashKey, KeySettings, LocalBackend};

/// Everything a plan or apply needs, resolved once by the command.
pub struct Engine {
    pub config_dir: PathBuf,
    pub environment_vars: Vec<(String, String)>,
    pub command_line_vars: Vec<CommandLineVar>,
    pub registry: Arc<Registry>,
    pub backend: Arc<dyn Backend>,
    pub key: HashKey,
    pub parallelism: usize,
    pub lock_timeout: Duration,
}

impl Engine {
    /// The engine for a configuration directory with the local state backend and the state
    /// key from the environment (`CUTOVER_STATE_KEY` or the key file).
    pub fn local(
        config_dir: PathBuf,
        environment_vars: Vec<(String, String)>,
        command_line_vars: Vec<CommandLineVar>,
    ) -> anyhow::Result<Self> {
        let key = HashKey::resolve(&KeySettings::from_env())?;
        Ok(Engine {
            backend: Arc::new(LocalBackend::in_directory(&config_dir)),
            config_dir,
            environment_vars,
            command_line_vars,
            registry: Arc::new(Registry::builtin()),
            key,
            parallelism: 10,
            lock_timeout: Duration::ZERO,
        })
    }
}

/// An intent recorder that does nothing: used for reads and plans, which start no long
/// operation worth resuming.
pub struct NoIntent;

impl IntentRecorder for NoIntent {
    fn record<'a>(
        &'a self,
        _handle: serde_json::Value,
        _detail: String,
    ) -> crate::providers::BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// A provider context for refreshes and plan-time reads.
pub fn read_context(
    cancel: tokio::sync::watch::Receiver<bool>,
    connections: Arc<Connections>,
) -> ProviderContext {
    ProviderContext {
        cancel,
        progress: Arc::new(|_: &str| {}),
        intent: Arc::new(NoIntent),
        resumed: None,
        connections,
    }
}
