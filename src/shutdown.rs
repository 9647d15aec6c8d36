//! How a run is asked to stop. One [`Shutdown`] per run, handed to everything that runs
//! operations or waits (the planner, the executor, `verify`, `mirror run`): the first
//! interrupt asks the run to *stop* (running operations finish, nothing new starts), the
//! second to *cancel* (running operations are cancelled: long waits end at once, and the
//! executor abandons what does not stop within its grace period). `commands` drives it from
//! SIGINT and SIGTERM; tests drive it with the [`Interrupter`] directly.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How far a run has been asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Running,
    /// After the first interrupt: finish running operations, start nothing new.
    Stopping,
    /// After the second: cancel running operations.
    Cancelled,
}

/// The receiving side, cloned into whatever needs to know.
#[derive(Debug, Clone)]
pub struct Shutdown {
    stage: watch::Receiver<Stage>,
    /// `true` from [`Stage::Cancelled`] on: the signal a `ProviderContext` carries to the
    /// operations it is given to.
    cancelled: watch::Receiver<bool>,
}

/// The sending side: what an interrupt does to its [`Shutdown`].
#[derive(Debug)]
pub struct Interrupter {
    stage: watch::Sender<Stage>,
    cancelled: watch::Sender<bool>,
}

impl Shutdown {
    /// A shutdown and the interrupter that drives it.
    pub fn new() -> (Interrupter, Shutdown) {
        let (stage_sender, stage) = watch::channel(Stage::Running);
        let (cancelled_sender, cancelled) = watch::channel(false);
        (
            Interrupter {
                stage: stage_sender,
                cancelled: cancelled_sender,
            },
            Shutdown { stage, cancelled },
        )
    }

    /// A shutdown nothing ever triggers: for runs that cannot be interrupted (a benchmark, a
    /// test that does not interrupt).
    pub fn never() -> Shutdown {
        Shutdown::new().1
    }

    pub fn stage(&self) -> Stage {
        *self.stage.borrow()
    }

    /// True from the first interrupt on: start nothing new.
    pub fn is_stopping(&self) -> bool {
        self.stage() >= Stage::Stopping
    }

    /// True from the second interrupt on: cancel what runs.
    pub fn is_cancelled(&self) -> bool {
        self.stage() >= Stage::Cancelled
    }

    /// Resolves at the first interrupt (at once when it came already); never for a shutdown
    /// nothing can trigger any more.
    pub async fn stopping(&self) {
        self.reached(Stage::Stopping).await;
    }

    /// Resolves at the second interrupt (at once when it came already).
    pub async fn cancelled(&self) {
        self.reached(Stage::Cancelled).await;
    }

    async fn reached(&self, stage: Stage) {
        let mut receiver = self.stage.clone();
        if receiver.wait_for(|now| *now >= stage).await.is_err() {
            // The interrupter is gone, so the stage can no longer change.
            std::future::pending::<()>().await;
        }
    }

    /// The cancellation signal of a `ProviderContext`: `true` once the run is cancelled.
    pub fn cancel_signal(&self) -> watch::Receiver<bool> {
        self.cancelled.clone()
    }
}

impl Interrupter {
    /// One interrupt: the first stops the run, the second cancels it, later ones change
    /// nothing. Returns the stage the run is in now.
    pub fn interrupt(&self) -> Stage {
        let next = match *self.stage.borrow() {
            Stage::Running => Stage::Stopping,
            Stage::Stopping | Stage::Cancelled => Stage::Cancelled,
        };
        self.advance(next)
    }

    /// Both interrupts at once: cancel the run.
    pub fn cancel(&self) -> Stage {
        self.advance(Stage::Cancelled)
    }

    fn advance(&self, stage: Stage) -> Stage {
        self.stage.send_if_modified(|now| {
            let changed = stage > *now;
            if changed {
                *now = stage;
            }
            changed
        });
        if stage == Stage::Cancelled {
            self.cancelled.send_replace(true);
        }
        *self.stage.borrow()
    }

    /// Another receiving side of the same shutdown.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            stage: self.stage.subscribe(),
            cancelled: self.cancelled.subscribe(),
        }
    }
}

/// Clean-ups started from a `Drop` (a lock released, a scratch topic deleted) that must not
/// be lost when the command's runtime shuts down: each is a task on the runtime and the
/// warning to print if it has not finished by the time the command ends.
static CLEANUPS: Mutex<Vec<(String, JoinHandle<()>)>> = Mutex::new(Vec::new());

/// Starts `task` on the current tokio runtime as a clean-up the command waits for before it
/// exits ([`finish_cleanups`]); `unfinished` is the warning printed if it does not finish in
/// time. Returns false (nothing started) outside a runtime.
pub fn spawn_cleanup(
    unfinished: impl Into<String>,
    task: impl Future<Output = ()> + Send + 'static,
) -> bool {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    let handle = runtime.spawn(task);
    CLEANUPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((unfinished.into(), handle));
    true
}

/// Waits, up to `limit` in all, for every clean-up started so far (and any they start), and
/// returns the warnings of those that did not finish; those are aborted.
pub async fn finish_cleanups(limit: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut unfinished = Vec::new();
    loop {
        let batch = std::mem::take(
            &mut *CLEANUPS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if batch.is_empty() {
            return unfinished;
        }
        for (warning, mut handle) in batch {
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                handle.abort();
                unfinished.push(warning);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_first_interrupt_stops_and_the_second_cancels() {
        let (interrupter, shutdown) = Shutdown::new();
        assert_eq!(shutdown.stage(), Stage::Running);
        let cancel = shutdown.cancel_signal();
        assert_eq!(interrupter.interrupt(), Stage::Stopping);
        assert!(shutdown.is_stopping() && !shutdown.is_cancelled());
        assert!(!*cancel.borrow());
        tokio::time::timeout(Duration::from_secs(1), shutdown.stopping())
            .await
            .expect("stopping resolves after the first interrupt");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), shutdown.cancelled())
                .await
                .is_err(),
            "one interrupt does not cancel"
        );
        assert_eq!(interrupter.interrupt(), Stage::Cancelled);
        assert!(shutdown.is_cancelled());
        assert!(*cancel.borrow());
        tokio::time::timeout(Duration::from_secs(1), shutdown.cancelled())
            .await
            .expect("cancelled resolves after the second interrupt");
        assert_eq!(interrupter.interrupt(), Stage::Cancelled);
    }

    #[tokio::test]
    async fn cancel_is_both_interrupts_and_a_dropped_interrupter_changes_nothing() {
        let (interrupter, shutdown) = Shutdown::new();
        let subscribed = interrupter.subscribe();
        assert_eq!(interrupter.cancel(), Stage::Cancelled);
        assert!(shutdown.is_stopping() && subscribed.is_cancelled());

        let never = Shutdown::never();
        assert!(!never.is_stopping());
        assert!(
            tokio::time::timeout(Duration::from_millis(50), never.stopping())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn cleanups_are_awaited_and_the_unfinished_named() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        assert!(spawn_cleanup("quick did not finish", async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            flag.store(true, Ordering::SeqCst);
        }));
        assert!(spawn_cleanup(
            "slow did not finish",
            std::future::pending::<()>()
        ));
        let unfinished = finish_cleanups(Duration::from_millis(500)).await;
        assert!(
            done.load(Ordering::SeqCst),
            "the quick clean-up ran to its end"
        );
        assert!(unfinished.contains(&"slow did not finish".to_owned()));
        assert!(!unfinished.contains(&"quick did not finish".to_owned()));
    }

    #[test]
    fn outside_a_runtime_nothing_is_started() {
        assert!(!spawn_cleanup("never", async {}));
    }
}
