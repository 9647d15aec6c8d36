//! The storage interface every state backend implements (the local file now, S3 later), the
//! lock holder record, the lock guard, and [`StateStore`], which tracks what was last persisted
//! so callers write with the optimistic check and the right serial without thinking about it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::document::{CUTOVER_VERSION, State, StateStamp};
use super::error::{LockHeld, Result, StateError};
use super::platform;

/// A boxed future, so [`Backend`] stays object-safe (`Arc<dyn Backend>` is chosen at run time
/// from the `backend` block) without an extra crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How often a waiting `lock` retries.
pub const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(250);

/// Who holds a state lock, stored in the lock (file or object) so a blocked run can name the
/// holder and `force-unlock` can check the id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A random UUID; `cutover force-unlock ID` must quote it.
    pub id: String,
    /// The command holding the lock: `plan`, `apply`, `destroy`, `import`, `state rm`, ...
    pub operation: String,
    /// `user@host`.
    pub who: String,
    /// RFC 3339 UTC time the lock was taken.
    pub created: String,
    pub pid: u32,
    pub host: String,
    /// The cutover version of the holder.
    pub version: String,
    /// The state the lock protects (file path or `s3://bucket/key`).
    pub path: String,
}

impl LockInfo {
    /// A lock record for this process, with a fresh id.
    pub fn for_this_process(operation: &str, path: &str) -> Result<Self> {
        let host = platform::host_name();
        Ok(LockInfo {
            id: platform::new_uuid()
                .map_err(|error| StateError::io("read", "/dev/urandom", error))?,
            operation: operation.to_owned(),
            who: format!("{}@{host}", platform::user_name()),
            created: platform::now_rfc3339(),
            pid: std::process::id(),
            host,
            version: CUTOVER_VERSION.to_owned(),
            path: path.to_owned(),
        })
    }

    /// True when the holder ran on this host and its process has exited: the lock is most
    /// likely left over from a crash. It is reported, never broken automatically (the pid may
    /// have been reused, or the host name may be shared by containers).
    pub fn holder_process_gone(&self) -> bool {
        self.host == platform::host_name() && platform::process_alive(self.pid) == Some(false)
    }
}

/// The result of one attempt to take the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAttempt {
    Acquired,
    HeldBy(LockInfo),
    /// A lock exists but its content cannot be read (being written right now, or damaged).
    HeldUnreadable(String),
}

/// Where a state lives. Implementations: [`super::LocalBackend`]; S3 later (read with
/// GetObject, write with a conditional PutObject after the same stamp check, lock with a lock
/// object written with `If-None-Match: *`).
///
/// The lock is advisory: `write` does not require it, but every command that writes holds it;
/// the stamp check in `write` catches a writer that did not (or lost it to a force-unlock).
pub trait Backend: Send + Sync {
    /// Where the state is, for messages: a file path or `s3://bucket/key`.
    fn location(&self) -> String;

    /// Where the lock is, for messages.
    fn lock_location(&self) -> String;

    /// The current state, or `None` when none was ever written.
    fn read(&self) -> BoxFuture<'_, Result<Option<State>>>;

    /// Replaces the stored state with `state`, refusing unless what is stored is still the
    /// version `expected` (the stamp of the state this run read, `None` when there was none),
    /// `state` has the stored lineage, and `state.serial` is greater than the stored serial.
    /// The previous version is kept where the backend can (a `.backup` file, object versions).
    fn write<'a>(
        &'a self,
        state: &'a State,
        expected: Option<&'a StateStamp>,
    ) -> BoxFuture<'a, Result<()>>;

    /// One attempt to take the lock with `info`; never waits.
    fn try_lock<'a>(&'a self, info: &'a LockInfo) -> BoxFuture<'a, Result<LockAttempt>>;

    /// The current lock holder, if any.
    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>>>;

    /// Releases the lock this run holds; refuses when the lock is not `id` (someone
    /// force-unlocked it and another run took it).
    fn unlock<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Releases a lock held by someone else (`cutover force-unlock ID`); refuses unless `id` is
    /// the current lock's id.
    fn force_unlock<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        self.unlock(id)
    }

    /// Releases the lock synchronously from a `Drop`, when the backend can do that without a
    /// runtime (a local file can). `None` means "cannot": the guard then spawns `unlock` on
    /// the current tokio runtime, best effort.
    fn unlock_now(&self, id: &str) -> Option<Result<()>> {
        let _ = id;
        None
    }

    /// True when the lock is an OS lock that ends with the process holding it (the local
    /// file): a held lock then always has a live holder, and nothing is left to force-unlock.
    fn lock_released_on_exit(&self) -> bool {
        false
    }

    /// Takes the lock for `operation`, retrying every [`LOCK_RETRY_INTERVAL`] until `timeout`
    /// has passed (`Duration::ZERO`: one attempt). On failure the error names the holder and
    /// the `cutover force-unlock ID` command.
    fn lock<'a>(
        &'a self,
        operation: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<LockInfo>> {
        Box::pin(async move {
            let info = LockInfo::for_this_process(operation, &self.location())?;
            let started = Instant::now();
            loop {
                let attempt = self.try_lock(&info).await?;
                if attempt == LockAttempt::Acquired {
                    return Ok(info);
                }
                let waited = started.elapsed();
                if waited >= timeout {
                    return Err(lock_held_error(
                        self.lock_location(),
                        attempt,
                        waited,
                        self.lock_released_on_exit(),
                    ));
                }
                tokio::time::sleep(LOCK_RETRY_INTERVAL.min(timeout - waited)).await;
            }
        })
    }
}

fn lock_held_error(
    location: String,
    attempt: LockAttempt,
    waited: Duration,
    released_on_exit: bool,
) -> StateError {
    let (holder, unreadable_reason) = match attempt {
        LockAttempt::HeldBy(holder) => (Some(holder), None),
        LockAttempt::HeldUnreadable(reason) => (None, Some(reason)),
        LockAttempt::Acquired => (None, None),
    };
    StateError::Locked(Box::new(LockHeld {
        location,
        holder_process_gone: !released_on_exit
            && holder.as_ref().is_some_and(LockInfo::holder_process_gone),
        holder,
        waited,
        unreadable_reason,
        released_on_exit,
    }))
}

/// A held lock. Call [`LockGuard::unlock`] to release it and see errors; dropping the guard
/// releases it best effort (an interrupted run should not leave the state locked).
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard {
    backend: Arc<dyn Backend>,
    info: LockInfo,
    held: bool,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("location", &self.backend.lock_location())
            .field("info", &self.info)
            .field("held", &self.held)
            .finish()
    }
}

impl LockGuard {
    /// Takes the lock of `backend` (see [`Backend::lock`]).
    pub async fn acquire(
        backend: Arc<dyn Backend>,
        operation: &str,
        timeout: Duration,
    ) -> Result<Self> {
        let info = backend.lock(operation, timeout).await?;
        Ok(LockGuard {
            backend,
            info,
            held: true,
        })
    }

    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// Releases the lock, reporting failure (for example, someone force-unlocked it).
    pub async fn unlock(mut self) -> Result<()> {
        self.held = false;
        self.backend.unlock(&self.info.id).await
    }
}

/// What a command says when it could not release its lock: the reason, and that whoever
/// holds the lock now (or nobody) is not this run.
pub fn lock_not_released(id: &str, error: &StateError) -> String {
    format!(
        "the state lock was not released: {error}; if no other run holds it, run `cutover force-unlock {id}`"
    )
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        let id = self.info.id.clone();
        // Printed, not logged: whoever runs next finds the state locked and must know why.
        if let Some(result) = self.backend.unlock_now(&id) {
            if let Err(error) = result {
                eprintln!("warning: {}", lock_not_released(&id, &error));
            }
            return;
        }
        let backend = Arc::clone(&self.backend);
        let unfinished = format!(
            "releasing state lock {id} on {} did not finish; if no other run holds it, run `cutover force-unlock {id}`",
            self.backend.lock_location()
        );
        let release_id = id.clone();
        let started = crate::shutdown::spawn_cleanup(unfinished, async move {
            if let Err(error) = backend.unlock(&release_id).await {
                eprintln!("warning: {}", lock_not_released(&release_id, &error));
            }
        });
        if !started {
            eprintln!(
                "warning: state lock {id} on {} was not released; run `cutover force-unlock {id}`",
                self.backend.lock_location()
            );
        }
    }
}

/// A backend together with the state as last read or written, so each save is checked against
/// it (optimistic concurrency) and gets the next serial only when something changed.
pub struct StateStore {
    backend: Arc<dyn Backend>,
    persisted: Option<State>,
}

impl StateStore {
    /// Reads the current state from `backend`.
    pub async fn open(backend: Arc<dyn Backend>) -> Result<Self> {
        let persisted = backend.read().await?;
        Ok(StateStore { backend, persisted })
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The state as last read or written (`None`: no state yet).
    pub fn persisted(&self) -> Option<&State> {
        self.persisted.as_ref()
    }

    /// A copy to modify: the persisted state, or a new empty one with a fresh lineage.
    pub fn working_copy(&self) -> Result<State> {
        match &self.persisted {
            Some(state) => Ok(state.clone()),
            None => State::new(),
        }
    }

    /// Writes `state` if it differs from the persisted one: sets its serial (see
    /// [`State::prepare_write`]), writes with the persisted stamp as the expected one, and
    /// remembers it. Returns whether anything was written.
    pub async fn save(&mut self, state: &mut State) -> Result<bool> {
        if let Some(persisted) = &self.persisted
            && persisted.lineage != state.lineage
        {
            return Err(StateError::LineageMismatch {
                location: self.backend.location(),
                stored: persisted.lineage.clone(),
                new: state.lineage.clone(),
            });
        }
        if !state.prepare_write(self.persisted.as_ref()) {
            return Ok(false);
        }
        let expected = self.persisted.as_ref().map(State::stamp);
        self.backend.write(state, expected.as_ref()).await?;
        self.persisted = Some(state.clone());
        Ok(true)
    }
}
