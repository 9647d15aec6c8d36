//! Errors of the state layer. Messages start lower-case, have no trailing period, name the file
//! (or backend location) concerned, and never contain a sensitive value or key material.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::backend::LockInfo;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file-system operation failed; `action` says what was attempted ("read", "write", ...).
    /// The OS error is part of the message and deliberately not a `source`: an error printed
    /// with its chain (`{:#}`) would say it twice.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: io::Error,
    },

    /// A file cutover replaces atomically (state, backup, saved plan) is a symbolic link:
    /// the rename would replace the link with a regular file, not write where it points.
    #[error(
        "refusing to write {}: it is a symbolic link, which would be replaced by a regular file; write to the file it points to ({}) instead",
        path.display(),
        target.display()
    )]
    Symlink { path: PathBuf, target: PathBuf },

    /// The state (or lock) file is not valid JSON, or does not have the expected shape.
    #[error("{}:{line}:{column}: invalid {what}: {message}", path.display())]
    Corrupt {
        what: &'static str,
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    /// The document parsed but breaks a rule of the format (duplicate address, ...).
    #[error("{}: invalid state: {message}", path.display())]
    Invalid { path: PathBuf, message: String },

    #[error(
        "{} has state format version {found}, but cutover {cutover_version} reads versions up to {supported}; upgrade cutover to use this state",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u64,
        supported: u64,
        cutover_version: &'static str,
    },

    /// The optimistic check failed: what is stored is not what this run read.
    #[error(
        "refusing to write {location}: the stored state changed since this run read it (read {expected}, found {found}); another cutover run may have written it, re-run the command"
    )]
    StaleWrite {
        location: String,
        expected: StampDescription,
        found: StampDescription,
    },

    /// A write that would replace a state with one of another lineage.
    #[error(
        "refusing to write {location}: the stored state has lineage {stored} but the new state has lineage {new}; they are different states"
    )]
    LineageMismatch {
        location: String,
        stored: String,
        new: String,
    },

    /// A write whose serial does not move forward although the content changed.
    #[error(
        "refusing to write {location}: the new state changes its content but its serial {new} is not greater than the stored serial {stored}"
    )]
    SerialNotIncremented {
        location: String,
        stored: u64,
        new: u64,
    },

    /// Someone else holds the state lock.
    #[error("{0}")]
    Locked(Box<LockHeld>),

    /// `unlock` or `force-unlock` named a lock that is not the current one.
    #[error(
        "lock ID {given} does not match the lock on {location}, which is held by {} for {} (lock ID {})",
        holder.who, holder.operation, holder.id
    )]
    LockIdMismatch {
        location: String,
        given: String,
        holder: Box<LockInfo>,
    },

    /// `unlock` or `force-unlock` found no lock.
    #[error("{location} is not locked (lock ID {given} is not held)")]
    NotLocked { location: String, given: String },

    /// `force-unlock` of a local lock that a running process holds: an OS lock cannot be
    /// broken from outside, and it goes away by itself when that process ends.
    #[error(
        "{location} is held by a running process: {} for {} (pid {} on host {}, lock ID {}); it is an operating-system lock, released as soon as that process exits (even when killed with kill -9), so stop that run or wait for it: force-unlock cannot break it",
        holder.who, holder.operation, holder.pid, holder.host, holder.id
    )]
    HeldByRunningProcess {
        location: String,
        holder: Box<LockInfo>,
    },

    /// A lock is held but the holder's details cannot be read.
    #[error("{location} is locked but its holder cannot be read: {reason}")]
    LockUnreadable { location: String, reason: String },

    /// The state key from `CUTOVER_STATE_KEY` or a key file cannot be used.
    #[error("invalid state key from {origin}: {reason}")]
    InvalidKey { origin: String, reason: String },

    /// A key file others can read: like ssh with a private key, cutover will not use it.
    #[error(
        "the {} file {} is readable by others (mode {mode:03o}): anyone who can read it can {}; run `chmod 600 {}`",
        kind.name(),
        path.display(),
        kind.risk(),
        path.display()
    )]
    KeyFileNotPrivate {
        path: PathBuf,
        mode: u32,
        kind: KeyFileKind,
    },

    #[error(
        "cannot find where to keep the state key: set CUTOVER_STATE_KEY, CUTOVER_STATE_KEY_FILE, XDG_CONFIG_HOME or HOME"
    )]
    NoKeyLocation,

    /// An attribute still unknown when the state is written; state stores known values only.
    #[error("attribute {path} is unknown (known after apply) and cannot be stored in state")]
    UnknownValue { path: String },

    /// Resource attributes must be an object (a map value).
    #[error("attributes of {address} must be an object, not a {found}")]
    AttributesNotAnObject {
        address: String,
        found: &'static str,
    },

    /// An encrypted state or plan that cannot be read (no key, another key, damaged).
    #[error("{0}")]
    Encryption(String),

    #[error("cannot serialize the state: {0}")]
    Serialize(serde_json::Error),

    /// A damaged local state whose backup exists: the way back, as a command to run.
    #[error(
        "{error}; the version before the last write is in {}: restore it with `cp {} {}` (then run `cutover plan` to see what the last write had changed)",
        backup.display(),
        shell_quoted(backup),
        shell_quoted(path)
    )]
    CorruptWithBackup {
        error: Box<StateError>,
        path: PathBuf,
        backup: PathBuf,
    },

    /// A blocking task of a backend panicked or was cancelled.
    #[error("state backend task failed: {0}")]
    Task(String),
}

/// `path` as a shell word: as it is when it is plain, else in single quotes.
fn shell_quoted(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

impl StateError {
    /// `self` with the way back to `backup` when it says the state at `path` is damaged
    /// and a backup exists.
    pub(crate) fn with_backup_hint(self, path: &std::path::Path, backup: &std::path::Path) -> Self {
        match self {
            StateError::Corrupt { .. } | StateError::Invalid { .. } if backup.is_file() => {
                StateError::CorruptWithBackup {
                    error: Box::new(self),
                    path: path.to_path_buf(),
                    backup: backup.to_path_buf(),
                }
            }
            other => other,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, error: io::Error) -> Self {
        StateError::Io {
            action,
            path: path.into(),
            error,
        }
    }

    pub(crate) fn corrupt(
        what: &'static str,
        path: impl Into<PathBuf>,
        error: &serde_json::Error,
    ) -> Self {
        StateError::Corrupt {
            what,
            path: path.into(),
            line: error.line(),
            column: error.column(),
            message: strip_position(&error.to_string()),
        }
    }
}

/// serde_json appends " at line L column C" to its messages; the error shows the position as
/// `path:line:column` already.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// "lineage L serial N", or "no state", for [`StateError::StaleWrite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampDescription(pub Option<super::document::StateStamp>);

impl fmt::Display for StampDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(stamp) => write!(f, "lineage {} serial {}", stamp.lineage, stamp.serial),
            None => f.write_str("no state"),
        }
    }
}

/// The holder of a lock that could not be taken, with what an operator needs to decide whether
/// to force-unlock it.
#[derive(Debug, Clone)]
pub struct LockHeld {
    /// Where the lock lives (the lock file, or the lock object of a remote backend).
    pub location: String,
    /// `None` when the lock exists but its content could not be read (being written, or
    /// damaged).
    pub holder: Option<LockInfo>,
    /// How long this run waited before giving up.
    pub waited: std::time::Duration,
    /// True when the holder is on this host and its process is no longer running.
    pub holder_process_gone: bool,
    /// Why the holder could not be read, when it could not.
    pub unreadable_reason: Option<String>,
    /// True for an OS lock (the local backend): it ends with its process, so there is nothing
    /// to force-unlock.
    pub released_on_exit: bool,
}

impl fmt::Display for LockHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waited = if self.waited.is_zero() {
            String::new()
        } else {
            format!(" (waited {})", super::platform::human_duration(self.waited))
        };
        match &self.holder {
            Some(holder) => {
                let age = super::platform::age_of_rfc3339(&holder.created)
                    .map(|age| format!(", {} ago", super::platform::human_duration(age)))
                    .unwrap_or_default();
                write!(
                    f,
                    "state is locked{waited}: {} holds {} for {} since {}{age} (pid {} on host {}, cutover {}, lock ID {})",
                    holder.who,
                    self.location,
                    holder.operation,
                    holder.created,
                    holder.pid,
                    holder.host,
                    holder.version,
                    holder.id,
                )?;
                if self.released_on_exit {
                    return write!(
                        f,
                        "; the lock is released as soon as that process exits (even when killed), so wait for it (-lock-timeout) or stop it; -lock=false skips the lock, only when you know nothing else is using this state"
                    );
                }
                if self.holder_process_gone {
                    write!(
                        f,
                        "; process {} is no longer running on this host, so the lock is probably stale",
                        holder.pid
                    )?;
                }
                write!(
                    f,
                    "; if no other cutover run is using this state, run `cutover force-unlock {}`",
                    holder.id
                )
            }
            None => {
                write!(
                    f,
                    "state is locked{waited}: {} exists but its holder cannot be read",
                    self.location
                )?;
                if let Some(reason) = &self.unreadable_reason {
                    write!(f, " ({reason})")?;
                }
                if self.released_on_exit {
                    return write!(
                        f,
                        "; a running process holds it, and it is released as soon as that process exits (`fuser {}` names it)",
                        self.location
                    );
                }
                write!(
                    f,
                    "; if no other cutover run is using this state, remove {} by hand",
                    self.location
                )
            }
        }
    }
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;

/// Which secret a key file holds, for the message that refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileKind {
    /// `CUTOVER_STATE_KEY_FILE`: the key of the sensitive-value hashes.
    State,
    /// `CUTOVER_ENCRYPTION_KEY_FILE`: the key state and saved plans are encrypted with.
    Encryption,
}

impl KeyFileKind {
    fn name(self) -> &'static str {
        match self {
            KeyFileKind::State => "state key",
            KeyFileKind::Encryption => "encryption key",
        }
    }

    /// What failed, for an I/O error reading the file.
    pub fn reading(self) -> &'static str {
        match self {
            KeyFileKind::State => "read state key file",
            KeyFileKind::Encryption => "read encryption key file",
        }
    }

    fn risk(self) -> &'static str {
        match self {
            KeyFileKind::State => "test guesses of the secrets hashed in state",
            KeyFileKind::Encryption => "decrypt the state and the saved plans",
        }
    }
}
