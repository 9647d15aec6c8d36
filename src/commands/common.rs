//! What the engine-driving commands share: the runtime, the engine from settings, the state
//! lock, the run's shutdown on SIGINT and SIGTERM, diagnostics output and the confirmation
//! prompt.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::diagnostics::Diagnostics;
use crate::engine::Engine;
use crate::settings::Settings;
use crate::shutdown::Shutdown;
use crate::state::LockGuard;

/// Options every state-touching command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct LockArgs {
    /// Take the state lock (-lock=false skips it, as in Terraform: only when nothing else can be using this state)
    #[arg(
        long = "lock",
        value_name = "BOOL",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub lock_enabled: bool,
    /// How long to wait for the state lock held by another run (e.g. 30s, 5m); 0s fails at once
    #[arg(long = "lock-timeout", default_value = "0s", value_parser = parse_duration_arg)]
    pub lock_timeout: Duration,
}

impl Default for LockArgs {
    fn default() -> Self {
        LockArgs {
            lock_enabled: true,
            lock_timeout: Duration::ZERO,
        }
    }
}

pub fn parse_duration_arg(text: &str) -> Result<Duration, String> {
    crate::config::evaluate::parse_duration(text)
        .ok_or_else(|| format!("\"{text}\" is not a duration like 30s, 5m or 1h"))
}

/// How long a command waits, once its work is done, for the clean-ups its `Drop`s started
/// (a lock release, a scratch topic deletion) before it exits and says which did not finish.
const CLEANUP_GRACE: Duration = Duration::from_secs(15);

/// A command's runtime: multi-threaded and sized for the machine (provider calls are
/// I/O-bound). [`CommandRuntime::block_on`] also waits for the clean-ups the command started
/// from `Drop`, so a warning they print is never lost to the runtime shutting down.
pub struct CommandRuntime(tokio::runtime::Runtime);

impl CommandRuntime {
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        let output = self.0.block_on(future);
        for warning in self
            .0
            .block_on(crate::shutdown::finish_cleanups(CLEANUP_GRACE))
        {
            eprintln!(
                "warning: {warning} (still running after {}s)",
                CLEANUP_GRACE.as_secs()
            );
        }
        output
    }
}

pub fn runtime() -> anyhow::Result<CommandRuntime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Evaluation recurses through nested expressions (bounded by the evaluation budget's
        // nesting limit); 2 MiB, tokio's default, is too little for that in a debug build.
        .thread_stack_size(8 * 1024 * 1024)
        .enable_all()
        .build()
        .map(CommandRuntime)
        .context("cannot start the async runtime")
}

pub fn engine(settings: &Settings, parallelism: usize, lock: &LockArgs) -> anyhow::Result<Engine> {
    let mut engine = Engine::local(
        settings.config_dir.clone(),
        settings.environment_vars.clone(),
        settings.command_line_vars.clone(),
        &settings.state_key,
        &settings.encryption,
    )?;
    engine.parallelism = parallelism.max(1);
    engine.lock_timeout = lock.lock_timeout;
    engine.lock_enabled = lock.lock_enabled;
    Ok(engine)
}

/// The state lock of one command: held until [`StateLock::unlock`] (or the process ends), or
/// not taken at all with `-lock=false`.
#[must_use = "the lock is released when this is dropped"]
pub struct StateLock(Option<LockGuard>);

impl StateLock {
    /// Releases the lock; a failure says so and how to free the lock by hand.
    pub async fn unlock(self) -> anyhow::Result<()> {
        if let Some(guard) = self.0 {
            let id = guard.id().to_owned();
            guard.unlock().await.map_err(|error| {
                anyhow::anyhow!(crate::state::backend::lock_not_released(&id, &error))
            })?;
        }
        Ok(())
    }
}

pub async fn lock(engine: &Engine, operation: &str) -> anyhow::Result<StateLock> {
    if !engine.lock_enabled {
        tracing::debug!("-lock=false: {operation} runs without the state lock");
        return Ok(StateLock(None));
    }
    Ok(StateLock(Some(
        LockGuard::acquire(engine.backend.clone(), operation, engine.lock_timeout).await?,
    )))
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

/// The run's [`Shutdown`], driven by SIGINT and SIGTERM: the first asks the run to stop
/// (running operations finish, nothing new starts), the second to cancel what runs. Installed
/// once per command, before its first operation; from then on Ctrl-C no longer ends the
/// process at once.
pub fn shutdown_on_signals() -> Shutdown {
    let (interrupter, shutdown) = Shutdown::new();
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
            interrupter.interrupt();
        }
    });
    shutdown
}

/// [`confirm`], answered "no" by an interrupt: once [`shutdown_on_signals`] is installed,
/// Ctrl-C at the prompt must still refuse.
pub async fn confirm_unless_interrupted(
    question: &str,
    shutdown: &Shutdown,
) -> anyhow::Result<bool> {
    ensure_terminal()?;
    ask(question)?;
    let (sender, answer) = tokio::sync::oneshot::channel();
    // A thread of its own rather than the runtime's blocking pool: after an interrupt it stays
    // blocked reading the terminal, and the runtime would wait for it when it shuts down.
    std::thread::spawn(move || {
        let mut answer = String::new();
        let read = std::io::stdin().lock().read_line(&mut answer);
        let _ = sender.send(read.map(|_| answer));
    });
    tokio::select! {
        answer = answer => Ok(answer.context("reading the answer")??.trim() == "yes"),
        () = shutdown.stopping() => {
            println!();
            Ok(false)
        }
    }
}

fn ensure_terminal() -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() && std::env::var_os("CUTOVER_ASSUME_TERMINAL").is_none() {
        anyhow::bail!(
            "the plan needs approval but standard input is not a terminal: review the plan and run with -auto-approve, or apply a saved plan file"
        );
    }
    Ok(())
}

fn ask(question: &str) -> anyhow::Result<()> {
    print!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stdout().flush()?;
    Ok(())
}

/// Terraform's prompt: only `yes` approves. Without a terminal the caller must pass
/// `-auto-approve`.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    ensure_terminal()?;
    ask(question)?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// A progress reporter printing one line per event to standard output.
pub fn line_reporter() -> crate::engine::executor::Reporter {
    Arc::new(|line: &str| {
        println!("{line}");
    })
}

/// The reporter of long runs (apply, destroy, verify): on a terminal, a live line per running
/// operation (a bar with records, rate and ETA where its progress says how far it is, e.g. a
/// mirror's `mirrored N records …, M behind`), and the events printed above them; otherwise
/// (a pipe, CI, `NO_COLOR`/`CUTOVER_NO_BARS` set) one line per event, with the periodic
/// progress lines the operations report.
pub fn progress_reporter() -> crate::engine::executor::Reporter {
    use std::io::IsTerminal as _;
    let plain = std::env::var_os("CUTOVER_NO_BARS").is_some()
        || std::env::var_os("NO_COLOR").is_some()
        || std::env::var("TERM").is_ok_and(|term| term == "dumb");
    if plain || !std::io::stdout().is_terminal() {
        return line_reporter();
    }
    let bars = Bars::default();
    Arc::new(move |line: &str| bars.report(line))
}

/// Live lines by address, under the lines already printed.
#[derive(Default)]
struct Bars {
    multi: indicatif::MultiProgress,
    running: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
}

impl Bars {
    fn report(&self, line: &str) {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Lines about one object are "ADDRESS: message".
        let Some((address, message)) = line
            .split_once(": ")
            .filter(|(address, _)| !address.contains(' '))
        else {
            let _ = self.multi.println(line);
            return;
        };
        if message.ends_with('…') {
            let bar = self.multi.add(indicatif::ProgressBar::new_spinner());
            bar.set_style(spinner_style());
            bar.set_prefix(address.to_owned());
            bar.set_message(message.to_owned());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            if let Some(old) = running.insert(address.to_owned(), bar) {
                old.finish_and_clear();
            }
            return;
        }
        let Some(bar) = running.get(address) else {
            let _ = self.multi.println(line);
            return;
        };
        if is_outcome(message) {
            bar.finish_and_clear();
            self.multi.remove(bar);
            running.remove(address);
            let _ = self.multi.println(line);
            return;
        }
        if let Some((done, behind)) = records_and_behind(message) {
            if bar.length().is_none() {
                bar.set_style(bar_style());
            }
            bar.set_length(done + behind);
            bar.set_position(done);
        }
        bar.set_message(message.to_owned());
    }
}

/// How an operation ended, as the executor reports it: the line stays.
fn is_outcome(message: &str) -> bool {
    const OUTCOMES: [&str; 14] = [
        "created",
        "updated",
        "destroyed",
        "replaced",
        "read",
        "imported",
        "holds:",
        "does not hold:",
        "failed",
        "skipped",
        "gated",
        "cancelled",
        "interrupted",
        "error",
    ];
    OUTCOMES.iter().any(|outcome| message.starts_with(outcome))
}

/// A mirror's progress (`mirrored 1200 records, … 300 behind`): records copied and behind.
fn records_and_behind(message: &str) -> Option<(u64, u64)> {
    let done = message
        .strip_prefix("mirrored ")?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    let (before, _) = message.split_once(" behind")?;
    let behind = before.rsplit(' ').next()?.parse().ok()?;
    Some((done, behind))
}

fn spinner_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template("{spinner} {prefix}: {wide_msg} {elapsed}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
}

fn bar_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(
        "{prefix}: [{bar:30}] {human_pos}/{human_len} records, {per_sec}, ETA {eta} | {wide_msg}",
    )
    .map(|style| style.progress_chars("=> "))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_progress_gives_records_and_behind() {
        let line = "mirrored 1200 records, 1.2 MB (600 records/s, 0.6 MB/s), 300 behind, ETA 1s";
        assert_eq!(records_and_behind(line), Some((1200, 300)));
        let done = "mirrored 5 records, 0.0 MB (5 records/s, 0.0 MB/s), 0 behind";
        assert_eq!(records_and_behind(done), Some((5, 0)));
        assert_eq!(records_and_behind("holds; stable for 2s of 5s"), None);
    }

    #[test]
    fn outcomes_end_a_live_line_and_progress_does_not() {
        assert!(is_outcome("created"));
        assert!(is_outcome("failed: the broker is down"));
        assert!(is_outcome("does not hold: lag 5"));
        assert!(!is_outcome(
            "mirrored 5 records, 0.0 MB (5 records/s, 0.0 MB/s), 0 behind"
        ));
        assert!(!is_outcome("does not hold yet (2s of 180s): lag"));
    }

    #[test]
    fn a_command_waits_for_the_cleanups_its_drops_started() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        runtime().unwrap().block_on(async move {
            crate::shutdown::spawn_cleanup("the test clean-up did not finish", async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                flag.store(true, Ordering::SeqCst);
            });
        });
        assert!(
            done.load(Ordering::SeqCst),
            "the clean-up was dropped with the runtime"
        );
    }
}
