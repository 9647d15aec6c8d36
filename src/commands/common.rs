//! What the engine-driving commands share: the runtime, the engine from settings, the state
//! lock, interrupt handling, diagnostics output and the confirmation prompt.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use crate::cli::Settings;
use crate::diagnostics::Diagnostics;
use crate::engine::Engine;
use crate::state::LockGuard;

/// Options every state-touching command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct LockArgs {
    /// How long to wait for the state lock held by another run (e.g. 30s, 5m); 0s fails at once
    #[arg(long = "lock-timeout", default_value = "0s", value_parser = parse_duration_arg)]
    pub lock_timeout: Duration,
}

pub fn parse_duration_arg(text: &str) -> Result<Duration, String> {
    crate::config::evaluate::parse_duration(text)
        .ok_or_else(|| format!("\"{text}\" is not a duration like 30s, 5m or 1h"))
}

/// A multi-threaded runtime sized for the machine; provider calls are I/O-bound.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn engine(
    settings: &Settings,
    parallelism: usize,
    lock_timeout: Duration,
) -> anyhow::Result<Engine> {
    let mut engine = Engine::local(
        settings.config_dir.clone(),
        settings.environment_vars.clone(),
        settings.command_line_vars.clone(),
    )?;
    engine.parallelism = parallelism.max(1);
    engine.lock_timeout = lock_timeout;
    Ok(engine)
}

pub async fn lock(engine: &Engine, operation: &str) -> anyhow::Result<LockGuard> {
    Ok(LockGuard::acquire(engine.backend.clone(), operation, engine.lock_timeout).await?)
}

/// Prints diagnostics to stderr (paths relative to the working directory); true when any is
/// an error.
pub fn report_diagnostics(diagnostics: &Diagnostics) -> bool {
    if !diagnostics.is_empty() {
        let base = std::env::current_dir().ok();
        eprint!("{}", diagnostics.render(base.as_deref()));
        eprintln!();
    }
    diagnostics.has_errors()
}

/// Counts SIGINT/SIGTERM: the executor stops starting work at 1 and cancels running
/// operations at 2.
pub fn interrupts() -> watch::Receiver<u32> {
    let (sender, receiver) = watch::channel(0u32);
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            #[cfg(unix)]
            let terminated = async {
                match terminate.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let terminated = std::future::pending::<()>();
            tokio::select! {
                result = tokio::signal::ctrl_c() => {
                    if result.is_err() {
                        return;
                    }
                }
                () = terminated => {}
            }
            let count = *sender.borrow() + 1;
            if sender.send(count).is_err() {
                return;
            }
        }
    });
    receiver
}

/// Terraform's prompt: only `yes` approves. Without a terminal the caller must pass
/// `-auto-approve`.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() && std::env::var_os("CUTOVER_ASSUME_TERMINAL").is_none() {
        anyhow::bail!(
            "the plan needs approval but standard input is not a terminal: review the plan and run with -auto-approve, or apply a saved plan file"
        );
    }
    print!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// A progress reporter printing one line per event to standard output.
pub fn line_reporter() -> crate::engine::executor::Reporter {
    Arc::new(|line: &str| {
        println!("{line}");
    })
}
