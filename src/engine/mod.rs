//! The engine: everything between a configuration and the real world. It loads and evaluates
//! the configuration, reads and locks state, refreshes through providers, computes the plan
//! (with [`crate::plan`]), and applies it (with [`executor`]), saving state after every
//! resource. Commands call it; providers are reached only through the [`Registry`].

pub mod executor;
pub mod planner;
pub mod saved;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::body::decode_body;
use crate::config::eval::{Namespaces, Repetition, Scope};
use crate::config::inputs::CommandLineVar;
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::providers::{Connections, IntentRecorder, ProviderContext, Registry};
use crate::state::{
    Backend, Encryption, EncryptionSettings, HashKey, KeySettings, LocalBackend, S3Backend,
    S3Settings,
};

/// Everything a plan or apply needs, resolved once by the command.
pub struct Engine {
    pub config_dir: PathBuf,
    pub environment_vars: Vec<(String, String)>,
    pub command_line_vars: Vec<CommandLineVar>,
    pub registry: Arc<Registry>,
    pub backend: Arc<dyn Backend>,
    pub key: HashKey,
    /// The key state and saved plans are encrypted with, when one is configured.
    pub encryption: Option<Arc<Encryption>>,
    pub parallelism: usize,
    pub lock_timeout: Duration,
    /// False with `-lock=false`: the command takes no state lock.
    pub lock_enabled: bool,
}

impl Engine {
    /// The engine for a configuration directory: the state backend its `cutover { backend
    /// ... }` block names (the local file when there is none, see [`backend_for`]), with the
    /// state key and the encryption the settings resolved from the environment.
    pub fn local(
        config_dir: PathBuf,
        environment_vars: Vec<(String, String)>,
        command_line_vars: Vec<CommandLineVar>,
        state_key: &KeySettings,
        encryption: &EncryptionSettings,
    ) -> anyhow::Result<Self> {
        let key = HashKey::resolve(state_key)?;
        let encryption = Encryption::resolve(encryption)?.map(Arc::new);
        Ok(Engine {
            backend: backend_for(&config_dir, encryption.clone())?,
            encryption,
            config_dir,
            environment_vars,
            command_line_vars,
            registry: Arc::new(Registry::builtin()),
            key,
            parallelism: 10,
            lock_timeout: Duration::ZERO,
            lock_enabled: true,
        })
    }
}

/// The arguments of `backend "local" { ... }`.
fn local_backend_schema() -> Schema {
    Schema::new(
        vec![AttributeSchema::optional("path", Type::String).describe(
            "the state file, relative to the configuration directory (default cutover.state.json)",
        )],
        Vec::new(),
    )
}

/// The state backend of the configuration in `config_dir`: `backend "s3"` or `backend
/// "local"` from the root module's `cutover` block, else the local file beside the
/// configuration. The block's settings must be literal values (like Terraform's, they are
/// read before anything else is evaluated). A configuration that cannot be loaded gets the
/// default; the command reports its problems itself.
pub fn backend_for(
    config_dir: &Path,
    encryption: Option<Arc<Encryption>>,
) -> anyhow::Result<Arc<dyn Backend>> {
    let Some(decoded) = decode_backend(config_dir) else {
        return Ok(Arc::new(
            LocalBackend::in_directory(config_dir).with_encryption(encryption),
        ));
    };
    let DecodedBackend {
        kind,
        value,
        diagnostics,
        span,
    } = decoded?;
    if diagnostics.has_errors() {
        anyhow::bail!(
            "the backend block cannot be used:\n{}",
            diagnostics.render(None).trim_end()
        );
    }
    if kind == "local" {
        let path = value
            .as_map()
            .and_then(|map| map.get("path"))
            .and_then(|path| path.as_str())
            .map_or_else(
                || config_dir.join(crate::state::DEFAULT_STATE_FILE),
                |path| config_dir.join(path),
            );
        return Ok(Arc::new(
            LocalBackend::new(path).with_encryption(encryption),
        ));
    }
    let settings = S3Settings::from_value(&value).map_err(|message| {
        let diagnostic = Diagnostic::error(message).at(span.clone());
        anyhow::anyhow!(
            "the backend block cannot be used:\n{}",
            diagnostic.render(None).trim_end()
        )
    })?;
    Ok(Arc::new(
        S3Backend::new(settings).with_encryption(encryption),
    ))
}

/// The root module's backend block, decoded against its schema.
struct DecodedBackend {
    kind: String,
    value: crate::config::value::Value,
    /// Its problems, and the warnings of its settings' advice (an `http://` S3 endpoint).
    diagnostics: Diagnostics,
    span: crate::diagnostics::Span,
}

/// The backend block of the configuration in `config_dir`, decoded; `None` when there is none
/// (or the configuration cannot be loaded: the command reports that itself).
fn decode_backend(config_dir: &Path) -> Option<anyhow::Result<DecodedBackend>> {
    let (tree, _) = crate::config::load::load(config_dir);
    let block = tree.as_ref()?.module.backend.as_ref()?;
    let schema = match block.kind.as_str() {
        "local" => local_backend_schema(),
        "s3" => crate::state::s3::s3_backend_schema(),
        other => {
            let diagnostic = Diagnostic::error(format!(
                "unsupported backend \"{other}\": cutover stores state in \"local\" (the default) or \"s3\""
            ))
            .at(block.span.clone());
            return Some(Err(anyhow::anyhow!(
                "the backend block cannot be used:\n{}",
                diagnostic.render(None).trim_end()
            )));
        }
    };
    let namespaces = Namespaces::default();
    let scope = Scope {
        base_dir: config_dir,
        namespaces: &namespaces,
        repetition: &Repetition::None,
    };
    let mut diagnostics = Diagnostics::new();
    let value = decode_body(
        &block.body.body,
        &block.body.file,
        &schema,
        &scope,
        &format!("backend \"{}\"", block.kind),
        &block.span,
        &mut diagnostics,
    );
    Some(Ok(DecodedBackend {
        kind: block.kind.clone(),
        value,
        diagnostics,
        span: block.span.clone(),
    }))
}

/// The warnings of the backend block's settings (an `http://` endpoint to another host), for
/// `validate` and `plan` to print with their own diagnostics; its errors are the engine's.
pub fn backend_warnings(config_dir: &Path) -> Diagnostics {
    let mut warnings = Diagnostics::new();
    if let Some(Ok(decoded)) = decode_backend(config_dir)
        && !decoded.diagnostics.has_errors()
    {
        warnings.extend(decoded.diagnostics);
    }
    warnings
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

/// A provider context for refreshes, plan-time reads and operations outside an apply walk
/// (import): no progress lines, no intent recorded. `cancel` is the run's
/// [`crate::shutdown::Shutdown::cancel_signal`] (or, in an apply, the apply's own).
pub fn read_context(
    cancel: tokio::sync::watch::Receiver<bool>,
    connections: Arc<Connections>,
    key: &crate::state::HashKey,
) -> ProviderContext {
    ProviderContext {
        cancel,
        progress: Arc::new(|_: &str| {}),
        intent: Arc::new(NoIntent),
        resumed: None,
        connections,
        state_key: Some(key.clone()),
    }
}
