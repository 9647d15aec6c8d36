//! The local backend: `cutover.state.json` beside the configuration, its previous version in
//! `cutover.state.json.backup`, and the lock on `cutover.state.json.lock`. Every file is
//! written 0600; the state and backup are replaced atomically (temporary file, fsync, rename,
//! fsync of the directory).
//!
//! The lock is an operating-system lock (`flock`) on the lock file, held for as long as this
//! process keeps the file open, as Terraform's local backend does with `fcntl`: a run that
//! dies in any way (`kill -9`, a panic, a power cut) releases it, so the next run never needs
//! `force-unlock`. The holder writes its [`LockInfo`] JSON into the file for the "locked by"
//! message, and empties it when it lets go; the file itself stays (removing it would let a run
//! that opened the old file and a run that creates a new one both hold "the" lock). What the
//! file says counts only while someone holds the OS lock on it.
//!
//! An apply saves after every batch of finished objects, so a write must not cost more than
//! the new state's bytes: the backend remembers which version of the file it last wrote or
//! read (its stamp and the file's identity), so a write over that same file neither reads nor
//! parses it again, and the backup is that file itself, hard-linked (it is never modified in
//! place, only replaced), not a copy.

use std::ffi::OsString;
use std::fs;
use std::io::{ErrorKind, Read as _, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::backend::{Backend, BoxFuture, LockAttempt, LockInfo};
use super::document::{CUTOVER_VERSION, STATE_FORMAT_VERSION, State, StateStamp};
use super::encryption::{self, Encryption, Purpose};
use super::error::{Result, StampDescription, StateError};
use super::platform;

/// The state file name in the configuration directory.
pub const DEFAULT_STATE_FILE: &str = "cutover.state.json";

/// Clones share what they know of the file (a write runs on a clone, off the async threads)
/// and the lock they hold.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    path: PathBuf,
    known: Arc<Mutex<Option<KnownVersion>>>,
    held: Arc<Mutex<Option<HeldLock>>>,
    /// Set: the state is written encrypted (see [`super::encryption`]).
    encryption: Option<Arc<Encryption>>,
}

/// The lock this backend holds: the open lock file carries the OS lock, closing it releases it.
#[derive(Debug)]
struct HeldLock {
    id: String,
    file: fs::File,
}

impl PartialEq for LocalBackend {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for LocalBackend {}

/// The version of the state file this backend last wrote or read.
#[derive(Debug, Clone)]
struct KnownVersion {
    identity: FileIdentity,
    stamp: StateStamp,
}

/// What tells one version of the file from another without reading it: every write replaces
/// the file (a new inode), and an edit in place changes its size or times.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl FileIdentity {
    #[cfg(unix)]
    fn of(metadata: &fs::Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        Some(FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
            len: metadata.len(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        })
    }

    /// Elsewhere every write reads the stored file again.
    #[cfg(not(unix))]
    fn of(_metadata: &fs::Metadata) -> Option<Self> {
        None
    }
}

impl LocalBackend {
    /// A backend storing the state at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalBackend {
            path: path.into(),
            known: Arc::default(),
            held: Arc::default(),
            encryption: None,
        }
    }

    /// Writes the state encrypted with `encryption` (and reads encrypted states with it).
    pub fn with_encryption(mut self, encryption: Option<Arc<Encryption>>) -> Self {
        self.encryption = encryption;
        self
    }

    fn plaintext<'b>(&self, bytes: &'b [u8]) -> Result<std::borrow::Cow<'b, [u8]>> {
        encryption::open(
            self.encryption.as_deref(),
            Purpose::State,
            bytes,
            &self.path.display().to_string(),
        )
    }

    /// The default: `cutover.state.json` in the configuration directory.
    pub fn in_directory(directory: impl AsRef<Path>) -> Self {
        Self::new(directory.as_ref().join(DEFAULT_STATE_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<state>.backup`: the version before the last write.
    pub fn backup_path(&self) -> PathBuf {
        with_suffix(&self.path, ".backup")
    }

    /// `<state>.lock`.
    pub fn lock_path(&self) -> PathBuf {
        with_suffix(&self.path, ".lock")
    }

    fn remember(&self, known: Option<KnownVersion>) {
        *self
            .known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = known;
    }

    fn read_blocking(&self) -> Result<Option<State>> {
        let mut file = match fs::File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == ErrorKind::NotFound => {
                self.remember(None);
                return Ok(None);
            }
            Err(error) => return Err(StateError::io("read", &self.path, error)),
        };
        // The identity of the file actually read (an edit while reading changes it, so the
        // next write reads the file again).
        let identity = file.metadata().ok().as_ref().and_then(FileIdentity::of);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|error| StateError::io("read", &self.path, error))?;
        let state = State::from_json_bytes(&self.plaintext(&bytes)?, &self.path)
            .map_err(|error| error.with_backup_hint(&self.path, &self.backup_path()))?;
        self.remember(identity.map(|identity| KnownVersion {
            identity,
            stamp: state.stamp(),
        }));
        Ok(Some(state))
    }

    fn write_blocking(
        &self,
        bytes: &[u8],
        new: &StateStamp,
        expected: Option<&StateStamp>,
    ) -> Result<()> {
        let result = self.write_checked(bytes, new, expected);
        if result.is_err() {
            self.remember(None);
        }
        result
    }

    fn write_checked(
        &self,
        bytes: &[u8],
        new: &StateStamp,
        expected: Option<&StateStamp>,
    ) -> Result<()> {
        // Before anything is written (the backup included): a symlinked state or backup is
        // refused whole, never half-replaced.
        platform::refuse_symlink(&self.path)?;
        platform::refuse_symlink(&self.backup_path())?;
        let current = match fs::metadata(&self.path) {
            Ok(metadata) => Some(metadata),
            Err(error) if error.kind() == ErrorKind::NotFound => None,
            Err(error) => return Err(StateError::io("read", &self.path, error)),
        };
        let known = self
            .known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let unchanged = match (&current, &known) {
            (Some(metadata), Some(known)) => {
                FileIdentity::of(metadata).is_some_and(|identity| identity == known.identity)
            }
            _ => false,
        };
        // The stored version: known without reading when the file is the one this backend
        // last wrote or read, otherwise read and probed (it may be missing, newer or corrupt).
        let (stored, stored_bytes) = match known {
            Some(known) if unchanged => (Some(known.stamp), None),
            _ => {
                let stored_bytes = match fs::read(&self.path) {
                    Ok(bytes) => Some(bytes),
                    Err(error) if error.kind() == ErrorKind::NotFound => None,
                    Err(error) => return Err(StateError::io("read", &self.path, error)),
                };
                let stored = match &stored_bytes {
                    Some(bytes) => {
                        Some(stored_stamp(&self.plaintext(bytes)?, &self.path).map_err(
                            |error| error.with_backup_hint(&self.path, &self.backup_path()),
                        )?)
                    }
                    None => None,
                };
                (stored, stored_bytes)
            }
        };
        if stored.as_ref() != expected {
            return Err(StateError::StaleWrite {
                location: self.path.display().to_string(),
                expected: StampDescription(expected.cloned()),
                found: StampDescription(stored),
            });
        }
        if let Some(stored) = &stored {
            if stored.lineage != new.lineage {
                return Err(StateError::LineageMismatch {
                    location: self.path.display().to_string(),
                    stored: stored.lineage.clone(),
                    new: new.lineage.clone(),
                });
            }
            if new.serial <= stored.serial {
                return Err(StateError::SerialNotIncremented {
                    location: self.path.display().to_string(),
                    stored: stored.serial,
                    new: new.serial,
                });
            }
        }
        if stored.is_some() {
            self.back_up(current.as_ref(), stored_bytes.as_deref())?;
        }
        let identity = self.replace_with(bytes)?;
        self.remember(identity.map(|identity| KnownVersion {
            identity,
            stamp: new.clone(),
        }));
        Ok(())
    }

    /// Makes the stored file the backup. A hard link is enough (the file is only ever
    /// replaced, never changed in place) and is atomic: linked under a temporary name, then
    /// renamed over the old backup. A copy is written instead where links are not possible,
    /// or when the file is not private (the backup is always 0600).
    fn back_up(&self, current: Option<&fs::Metadata>, stored_bytes: Option<&[u8]>) -> Result<()> {
        let backup = self.backup_path();
        #[cfg(unix)]
        let private = current.is_some_and(|metadata| {
            use std::os::unix::fs::PermissionsExt;
            metadata.permissions().mode() & 0o777 == platform::PRIVATE_FILE_MODE
        });
        #[cfg(not(unix))]
        let private = {
            let _ = current;
            false
        };
        if private {
            let temporary = temporary_sibling(&backup)?;
            if fs::hard_link(&self.path, &temporary).is_ok() {
                if let Err(error) = fs::rename(&temporary, &backup) {
                    let _ = fs::remove_file(&temporary);
                    return Err(StateError::io("replace", &backup, error));
                }
                return Ok(());
            }
        }
        let read;
        let previous = match stored_bytes {
            Some(bytes) => bytes,
            None => {
                read = fs::read(&self.path)
                    .map_err(|error| StateError::io("read", &self.path, error))?;
                &read
            }
        };
        platform::write_atomically(&backup, previous)
    }

    /// Replaces the state file with `bytes` (temporary file, fsync, rename, fsync of the
    /// directory, which also makes the backup's rename durable) and returns the new file's
    /// identity, taken from the file written rather than from the path (which another writer
    /// could have replaced again by then).
    fn replace_with(&self, bytes: &[u8]) -> Result<Option<FileIdentity>> {
        platform::refuse_symlink(&self.path)?;
        platform::remove_stale_temporaries(&self.path);
        platform::remove_stale_temporaries(&self.backup_path());
        let temporary = temporary_sibling(&self.path)?;
        let result = (|| {
            let mut file = platform::private_create_new()
                .open(&temporary)
                .map_err(|error| StateError::io("create", &temporary, error))?;
            file.write_all(bytes)
                .map_err(|error| StateError::io("write", &temporary, error))?;
            file.sync_all()
                .map_err(|error| StateError::io("flush", &temporary, error))?;
            fs::rename(&temporary, &self.path)
                .map_err(|error| StateError::io("replace", &self.path, error))?;
            // After the rename, which changes the file's ctime.
            let identity = file.metadata().ok().as_ref().and_then(FileIdentity::of);
            drop(file);
            platform::sync_directory(&platform::parent_directory(&self.path))?;
            Ok(identity)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        result
    }

    fn try_lock_blocking(&self, info: &LockInfo) -> Result<LockAttempt> {
        let lock_path = self.lock_path();
        let mut file = platform::open_lock_file(&lock_path)
            .map_err(|error| StateError::io("open", &lock_path, error))?;
        let acquired = platform::try_flock(&file, true)
            .map_err(|error| StateError::io("lock", &lock_path, error))?;
        if !acquired {
            return Ok(match self.read_holder_with_retry()? {
                Some(Ok(holder)) => LockAttempt::HeldBy(holder),
                Some(Err(reason)) => LockAttempt::HeldUnreadable(reason),
                // Released between our attempt and the read: the caller's next attempt will
                // usually succeed.
                None => LockAttempt::HeldUnreadable("it was released while being read".to_owned()),
            });
        }
        let mut bytes = serde_json::to_vec_pretty(info).map_err(StateError::Serialize)?;
        bytes.push(b'\n');
        // A holder that died left its details behind: replace them, from the start.
        let written = file
            .set_len(0)
            .and_then(|()| file.write_all(&bytes))
            .and_then(|()| file.sync_all());
        if let Err(error) = written {
            return Err(StateError::io("write", &lock_path, error));
        }
        *self.held_lock() = Some(HeldLock {
            id: info.id.clone(),
            file,
        });
        Ok(LockAttempt::Acquired)
    }

    fn held_lock(&self) -> std::sync::MutexGuard<'_, Option<HeldLock>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The holder named in the lock file while someone holds the OS lock on it: `None` when
    /// nobody does (whatever the file says), `Some(Err(reason))` when its content cannot be
    /// parsed. The file is empty for a moment after the lock is taken (not yet written), so it
    /// is read again briefly before being called unreadable.
    fn read_holder_with_retry(&self) -> Result<Option<std::result::Result<LockInfo, String>>> {
        let lock_path = self.lock_path();
        for attempt in 0..5 {
            let file = match fs::File::open(&lock_path) {
                Ok(file) => file,
                Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(StateError::io("open", &lock_path, error)),
            };
            // A shared lock is granted only when nobody holds the exclusive one.
            if platform::try_flock(&file, false)
                .map_err(|error| StateError::io("lock", &lock_path, error))?
            {
                return Ok(None);
            }
            let mut bytes = Vec::new();
            (&file)
                .read_to_end(&mut bytes)
                .map_err(|error| StateError::io("read", &lock_path, error))?;
            match serde_json::from_slice::<LockInfo>(&bytes) {
                Ok(info) => return Ok(Some(Ok(info))),
                Err(_) if attempt < 4 => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(error) => {
                    return Ok(Some(Err(StateError::corrupt(
                        "lock file JSON",
                        &lock_path,
                        &error,
                    )
                    .to_string())));
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    fn lock_holder_blocking(&self) -> Result<Option<LockInfo>> {
        match self.read_holder_with_retry()? {
            None => Ok(None),
            Some(Ok(holder)) => Ok(Some(holder)),
            Some(Err(reason)) => Err(StateError::LockUnreadable {
                location: self.lock_path().display().to_string(),
                reason,
            }),
        }
    }

    /// Releases the lock `id` when this backend holds it; otherwise explains who does.
    fn unlock_blocking(&self, id: &str) -> Result<()> {
        let lock_path = self.lock_path();
        {
            let mut held = self.held_lock();
            if held.as_ref().is_some_and(|lock| lock.id == id) {
                let lock = held.take().expect("checked above");
                // Nobody can take the lock before the file is closed, so nobody reads a
                // holder that has let go.
                if let Err(error) = lock.file.set_len(0) {
                    tracing::debug!("cannot empty {}: {error}", lock_path.display());
                }
                drop(lock.file);
                return Ok(());
            }
        }
        let location = lock_path.display().to_string();
        match self.lock_holder_blocking()? {
            None => Err(StateError::NotLocked {
                location,
                given: id.to_owned(),
            }),
            Some(holder) if holder.id != id => Err(StateError::LockIdMismatch {
                location,
                given: id.to_owned(),
                holder: Box::new(holder),
            }),
            Some(holder) => Err(StateError::HeldByRunningProcess {
                location,
                holder: Box::new(holder),
            }),
        }
    }

    /// Runs blocking file work off the async threads.
    async fn blocking<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(LocalBackend) -> Result<T> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(this))
            .await
            .map_err(|error| StateError::Task(error.to_string()))?
    }
}

/// The lineage and serial of a stored state, checking its version so a newer format is never
/// overwritten.
fn stored_stamp(bytes: &[u8], path: &Path) -> Result<StateStamp> {
    #[derive(Deserialize)]
    struct Probe {
        version: u64,
        serial: u64,
        lineage: String,
    }
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|error| StateError::corrupt("state JSON", path, &error))?;
    if probe.version == 0 || probe.version > STATE_FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: probe.version,
            supported: STATE_FORMAT_VERSION,
            cutover_version: CUTOVER_VERSION,
        });
    }
    Ok(StateStamp {
        lineage: probe.lineage,
        serial: probe.serial,
    })
}

/// `.NAME.tmp-PID-RANDOM` beside `path`.
fn temporary_sibling(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cutover".to_owned());
    let mut random = [0u8; 6];
    platform::fill_random(&mut random)
        .map_err(|error| StateError::io("read", "/dev/urandom", error))?;
    Ok(platform::parent_directory(path).join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        hex::encode(random)
    )))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl Backend for LocalBackend {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn lock_location(&self) -> String {
        self.lock_path().display().to_string()
    }

    fn read(&self) -> BoxFuture<'_, Result<Option<State>>> {
        Box::pin(self.blocking(|this| this.read_blocking()))
    }

    fn write<'a>(
        &'a self,
        state: &'a State,
        expected: Option<&'a StateStamp>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let bytes = encryption::seal_if_configured(
                self.encryption.as_deref(),
                Purpose::State,
                state.to_json_bytes()?,
            )?;
            let new = state.stamp();
            let expected = expected.cloned();
            self.blocking(move |this| this.write_blocking(&bytes, &new, expected.as_ref()))
                .await
        })
    }

    fn try_lock<'a>(&'a self, info: &'a LockInfo) -> BoxFuture<'a, Result<LockAttempt>> {
        let info = info.clone();
        Box::pin(self.blocking(move |this| this.try_lock_blocking(&info)))
    }

    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>>> {
        Box::pin(self.blocking(|this| this.lock_holder_blocking()))
    }

    fn unlock<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        let id = id.to_owned();
        Box::pin(self.blocking(move |this| this.unlock_blocking(&id)))
    }

    fn unlock_now(&self, id: &str) -> Option<Result<()>> {
        Some(self.unlock_blocking(id))
    }

    fn lock_released_on_exit(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    use super::*;
    use crate::config::evaluate::{InstanceKey, ResourceAddress};
    use crate::config::model::Mode;
    use crate::config::value::Value;
    use crate::state::backend::{LockGuard, StateStore};
    use crate::state::document::{PendingIntent, PendingOperation, ResourceState};
    use crate::state::sensitive::{HashKey, KeyOrigin, SENSITIVE_MARKER};

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(label: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "cutover-state-{label}-{}-{}",
                std::process::id(),
                platform::new_uuid().unwrap()
            ));
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        fn names(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn key() -> HashKey {
        HashKey::from_bytes(vec![42u8; 32], KeyOrigin::Explicit).unwrap()
    }

    fn secret_resource(secret: &str) -> ResourceState {
        let address = ResourceAddress {
            module: vec!["flip".to_owned()],
            mode: Mode::Managed,
            type_name: "aws_secretsmanager_secret_version".to_owned(),
            name: "producers".to_owned(),
            key: Some(InstanceKey::String("orders".to_owned())),
        };
        let mut resource = ResourceState::new(&address, "aws");
        let mut attributes = BTreeMap::new();
        attributes.insert("secret_id".to_owned(), Value::string("prod/orders/kafka"));
        attributes.insert(
            "secret_string".to_owned(),
            Value::sensitive(Value::string(secret)),
        );
        attributes.insert("version_id".to_owned(), Value::string("v-1"));
        resource
            .set_attributes(&Value::Map(attributes), &key())
            .unwrap();
        resource.set_dependencies(["assert.caught_up", "assert.no_divergence"]);
        resource.protection.prevent_destroy = true;
        resource
    }

    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn round_trip_with_backup_private_files_and_no_temporaries() {
        let dir = TempDir::new("roundtrip");
        let backend = LocalBackend::in_directory(&dir.0);
        runtime().block_on(async {
            assert_eq!(backend.read().await.unwrap(), None);

            let mut first = State::new().unwrap();
            first.upsert(secret_resource("hunter2"));
            first.outputs.insert(
                "bootstrap".to_owned(),
                crate::state::OutputState::new(&Value::string("b-1:9098"), false, &key()).unwrap(),
            );
            first.serial = 1;
            backend.write(&first, None).await.unwrap();
            assert_eq!(dir.names(), [DEFAULT_STATE_FILE]);
            assert_eq!(backend.read().await.unwrap().as_ref(), Some(&first));

            let mut second = first.clone();
            second.serial = 2;
            second.resources[0].pending = Some(PendingIntent::now(
                PendingOperation::Update,
                serde_json::json!({"arn": "arn:aws:secretsmanager:eu-west-1:1:secret:x"}),
                "putting a new secret version",
            ));
            backend.write(&second, Some(&first.stamp())).await.unwrap();
            assert_eq!(backend.read().await.unwrap().as_ref(), Some(&second));
            let backup = State::from_json_bytes(
                &fs::read(backend.backup_path()).unwrap(),
                &backend.backup_path(),
            )
            .unwrap();
            assert_eq!(backup, first);

            assert_eq!(
                dir.names(),
                [DEFAULT_STATE_FILE, "cutover.state.json.backup"]
            );
            assert_eq!(mode_of(backend.path()), 0o600);
            assert_eq!(mode_of(&backend.backup_path()), 0o600);
        });
    }

    /// The backend trusts what it knows of the file only while the file is the one it wrote:
    /// an edit in place (same inode) is still found and refused as a stale write.
    #[test]
    fn an_edit_in_place_after_a_write_is_still_noticed() {
        let dir = TempDir::new("edited");
        let backend = LocalBackend::in_directory(&dir.0);
        runtime().block_on(async {
            let mut first = State::with_lineage("lineage-e");
            first.serial = 1;
            backend.write(&first, None).await.unwrap();

            let mut edited = first.clone();
            edited.serial = 5;
            edited
                .assertions
                .insert("assert.edited".to_owned(), serde_json::json!("by hand"));
            let mut file = fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(backend.path())
                .unwrap();
            file.write_all(&edited.to_json_bytes().unwrap()).unwrap();
            drop(file);

            let mut ours = first.clone();
            ours.serial = 2;
            let error = backend.write(&ours, Some(&first.stamp())).await.unwrap_err();
            assert!(
                matches!(&error, StateError::StaleWrite { found, .. } if found.0.as_ref().map(|s| s.serial) == Some(5)),
                "{error}"
            );
            assert_eq!(backend.read().await.unwrap(), Some(edited.clone()));

            // Read again, the edited file is known: the next write goes through and backs it up.
            let mut next = edited.clone();
            next.serial = 6;
            backend.write(&next, Some(&edited.stamp())).await.unwrap();
            let backup = State::from_json_bytes(
                &fs::read(backend.backup_path()).unwrap(),
                &backend.backup_path(),
            )
            .unwrap();
            assert_eq!(backup, edited);
        });
    }

    /// The backup is the previous version, a file of its own (a hard link to the version
    /// just replaced, never to the current one), and private even when the state file was not.
    #[test]
    fn each_write_backs_up_the_version_it_replaces() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = TempDir::new("backups");
        let backend = LocalBackend::in_directory(&dir.0);
        runtime().block_on(async {
            let mut versions = Vec::new();
            let mut expected = None;
            for serial in 1..=3 {
                let mut state = State::with_lineage("lineage-b");
                state.serial = serial;
                state
                    .assertions
                    .insert("assert.serial".to_owned(), serde_json::json!(serial));
                backend.write(&state, expected.as_ref()).await.unwrap();
                expected = Some(state.stamp());
                versions.push(state);
            }
            let read =
                |path: &Path| State::from_json_bytes(&fs::read(path).unwrap(), path).unwrap();
            assert_eq!(read(backend.path()), versions[2]);
            assert_eq!(read(&backend.backup_path()), versions[1]);
            let state_inode = fs::metadata(backend.path()).unwrap().ino();
            assert_ne!(
                state_inode,
                fs::metadata(backend.backup_path()).unwrap().ino()
            );
            assert_eq!(fs::metadata(backend.path()).unwrap().nlink(), 1);
            assert_eq!(
                dir.names(),
                [DEFAULT_STATE_FILE, "cutover.state.json.backup"]
            );

            // A state file someone made readable: copied into a private backup instead.
            fs::set_permissions(backend.path(), fs::Permissions::from_mode(0o644)).unwrap();
            let mut fourth = versions[2].clone();
            fourth.serial = 4;
            backend.write(&fourth, expected.as_ref()).await.unwrap();
            assert_eq!(read(&backend.backup_path()), versions[2]);
            assert_eq!(mode_of(&backend.backup_path()), 0o600);
            assert_eq!(mode_of(backend.path()), 0o600);
        });
    }

    /// A state (or backup) that is a symbolic link is refused, never replaced by a regular
    /// file, and what it points to is left as it was.
    #[test]
    fn a_symlinked_state_or_backup_is_refused_and_left_alone() {
        let dir = TempDir::new("symlinked");
        let elsewhere = dir.0.join("elsewhere.json");
        let mut first = State::with_lineage("lineage-s");
        first.serial = 1;
        fs::write(&elsewhere, first.to_json_bytes().unwrap()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.0.join(DEFAULT_STATE_FILE)).unwrap();
        let backend = LocalBackend::in_directory(&dir.0);
        runtime().block_on(async {
            let read = backend.read().await.unwrap().unwrap();
            assert_eq!(read, first, "a symlinked state is read through the link");
            let mut second = first.clone();
            second.serial = 2;
            let error = backend
                .write(&second, Some(&first.stamp()))
                .await
                .unwrap_err();
            assert!(
                matches!(error, StateError::Symlink { .. })
                    && error.to_string().contains("it is a symbolic link"),
                "{error}"
            );
            assert!(
                fs::symlink_metadata(backend.path())
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
            assert_eq!(
                State::from_json_bytes(&fs::read(&elsewhere).unwrap(), &elsewhere).unwrap(),
                first
            );

            // The same for the backup: the state is a file, its backup a link.
            fs::remove_file(backend.path()).unwrap();
            let plain = LocalBackend::in_directory(&dir.0);
            plain.write(&first, None).await.unwrap();
            std::os::unix::fs::symlink(&elsewhere, plain.backup_path()).unwrap();
            let error = plain
                .write(&second, Some(&first.stamp()))
                .await
                .unwrap_err();
            assert!(matches!(error, StateError::Symlink { .. }), "{error}");
            assert!(
                fs::symlink_metadata(plain.backup_path())
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
        });
    }

    /// Temporary files of a run that died mid-write are removed by the next write; those of
    /// a live process, recent ones, and files that merely look alike stay.
    #[test]
    fn the_next_write_removes_temporaries_a_crashed_run_left() {
        let dir = TempDir::new("stale");
        let backend = LocalBackend::in_directory(&dir.0);
        // A process that has exited: its pid is free (and not reused this quickly).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        let make = |name: String, old: bool| {
            let path = dir.0.join(name);
            let file = fs::File::create(&path).unwrap();
            if old {
                file.set_modified(hour_ago).unwrap();
            }
            path
        };
        let stale_state = make(format!(".cutover.state.json.tmp-{dead}-0123456789ab"), true);
        let stale_backup = make(
            format!(".cutover.state.json.backup.tmp-{dead}-ba9876543210"),
            true,
        );
        let live = make(
            format!(
                ".cutover.state.json.tmp-{}-0123456789ab",
                std::process::id()
            ),
            true,
        );
        let recent = make(
            format!(".cutover.state.json.tmp-{dead}-aaaaaaaaaaaa"),
            false,
        );
        let unlike = make(format!(".cutover.state.json.tmp-{dead}-notours"), true);
        let other = make(format!(".other.json.tmp-{dead}-0123456789ab"), true);
        runtime().block_on(async {
            let mut state = State::with_lineage("lineage-t");
            state.serial = 1;
            backend.write(&state, None).await.unwrap();
        });
        assert!(!stale_state.exists());
        assert!(!stale_backup.exists());
        for kept in [&live, &recent, &unlike, &other] {
            assert!(kept.exists(), "{} was removed", kept.display());
        }
        // Plan files and other atomically written files are cleaned the same way.
        let plan = dir.0.join("tf.plan");
        let stale_plan = make(format!(".tf.plan.tmp-{dead}-0123456789ab"), true);
        platform::write_atomically(&plan, b"{}").unwrap();
        assert!(!stale_plan.exists());
    }

    /// A damaged state names the backup and the command that restores it; the OS error of a
    /// state that cannot be read is said once.
    #[test]
    fn a_corrupt_state_says_how_to_restore_the_backup() {
        let dir = TempDir::new("corrupt");
        let backend = LocalBackend::in_directory(&dir.0);
        runtime().block_on(async {
            let mut first = State::with_lineage("lineage-c");
            first.serial = 1;
            backend.write(&first, None).await.unwrap();
            // Without a backup there is nothing to suggest.
            fs::write(backend.path(), b"{\"version\": 1, \"serial\": ").unwrap();
            let fresh = LocalBackend::in_directory(&dir.0);
            let error = fresh.read().await.unwrap_err().to_string();
            assert!(!error.contains("restore"), "{error}");

            let mut second = first.clone();
            second.serial = 2;
            fs::write(backend.path(), first.to_json_bytes().unwrap()).unwrap();
            let fresh = LocalBackend::in_directory(&dir.0);
            fresh.read().await.unwrap();
            fresh.write(&second, Some(&first.stamp())).await.unwrap();
            fs::write(backend.path(), b"{\"version\": 1, \"serial\": ").unwrap();
            let path = backend.path().display().to_string();
            let backup = backend.backup_path().display().to_string();
            for error in [
                LocalBackend::in_directory(&dir.0).read().await.unwrap_err(),
                LocalBackend::in_directory(&dir.0)
                    .write(&second, Some(&first.stamp()))
                    .await
                    .unwrap_err(),
            ] {
                let text = error.to_string();
                assert!(text.starts_with(&format!("{path}:1:")), "{text}");
                assert!(
                    text.contains(&format!("restore it with `cp {backup} {path}`")),
                    "{text}"
                );
            }

            // An unreadable state: the OS error once, even with the error's chain.
            fs::remove_file(backend.path()).unwrap();
            fs::create_dir(backend.path()).unwrap();
            let error = LocalBackend::in_directory(&dir.0).read().await.unwrap_err();
            let chained = format!("{:#}", anyhow::Error::from(error));
            assert_eq!(chained.matches("os error 21").count(), 1, "{chained}");
        });
    }

    #[test]
    fn plaintext_secret_never_reaches_the_file() {
        let dir = TempDir::new("secret");
        let backend = LocalBackend::in_directory(&dir.0);
        let secret = "correct-horse-battery-staple";
        runtime().block_on(async {
            let mut state = State::new().unwrap();
            state.upsert(secret_resource(secret));
            state.outputs.insert(
                "credentials".to_owned(),
                crate::state::OutputState::new(&Value::string(secret), true, &key()).unwrap(),
            );
            state.record_key(&key());
            state.serial = 1;
            backend.write(&state, None).await.unwrap();
            let mut next = state.clone();
            next.resources[0]
                .set_attributes(
                    &Value::sensitive(Value::Map(BTreeMap::from([(
                        "secret_string".to_owned(),
                        Value::string(secret),
                    )]))),
                    &key(),
                )
                .unwrap();
            next.serial = 2;
            backend.write(&next, Some(&state.stamp())).await.unwrap();
        });
        for path in [backend.path().to_path_buf(), backend.backup_path()] {
            let bytes = fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(secret),
                "{} contains the secret",
                path.display()
            );
            assert!(text.contains(SENSITIVE_MARKER));
            // Not even a substring survives (e.g. in an escaped form).
            assert!(!text.contains("horse"));
        }
        let state = runtime().block_on(backend.read()).unwrap().unwrap();
        assert_eq!(state.key_matches(&key()), Some(true));
        let attributes = state.resources[0].attributes_value();
        let stored = crate::state::stored_hash(&attributes).expect("whole value hashed");
        assert!(crate::state::sensitive_matches(
            &key(),
            &stored,
            &Value::Map(BTreeMap::from([(
                "secret_string".to_owned(),
                Value::string(secret)
            )]))
        ));
    }

    #[test]
    fn stale_and_foreign_writes_are_refused() {
        let dir = TempDir::new("stale");
        let backend = LocalBackend::in_directory(&dir.0);
        runtime().block_on(async {
            let mut base = State::with_lineage("lineage-a");
            base.serial = 1;
            backend.write(&base, None).await.unwrap();

            // Another run writes serial 2 after we read serial 1.
            let mut theirs = base.clone();
            theirs.serial = 2;
            theirs
                .assertions
                .insert("assert.x".to_owned(), serde_json::json!(1));
            backend.write(&theirs, Some(&base.stamp())).await.unwrap();

            let mut ours = base.clone();
            ours.serial = 2;
            let error = backend.write(&ours, Some(&base.stamp())).await.unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "refusing to write {}: the stored state changed since this run read it (read lineage lineage-a serial 1, found lineage lineage-a serial 2); another cutover run may have written it, re-run the command",
                    backend.path().display()
                )
            );

            // Starting from "no state" while one exists is stale too.
            let fresh = State::with_lineage("lineage-b");
            let error = backend.write(&fresh, None).await.unwrap_err();
            assert!(matches!(error, StateError::StaleWrite { .. }), "{error}");

            // A different lineage cannot replace the state.
            let mut foreign = State::with_lineage("lineage-b");
            foreign.serial = 3;
            let error = backend
                .write(&foreign, Some(&theirs.stamp()))
                .await
                .unwrap_err();
            assert!(matches!(error, StateError::LineageMismatch { .. }), "{error}");

            // The serial must move forward.
            let error = backend
                .write(&theirs, Some(&theirs.stamp()))
                .await
                .unwrap_err();
            assert!(
                matches!(error, StateError::SerialNotIncremented { .. }),
                "{error}"
            );
            assert_eq!(backend.read().await.unwrap(), Some(theirs));
        });
    }

    #[test]
    fn state_store_bumps_serial_once_per_change() {
        let dir = TempDir::new("store");
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::in_directory(&dir.0));
        runtime().block_on(async {
            let mut store = StateStore::open(Arc::clone(&backend)).await.unwrap();
            let mut state = store.working_copy().unwrap();
            assert!(store.save(&mut state).await.unwrap());
            assert_eq!(state.serial, 1);
            assert!(!store.save(&mut state).await.unwrap());
            assert_eq!(state.serial, 1);
            state.upsert(secret_resource("s"));
            assert!(store.save(&mut state).await.unwrap());
            assert_eq!(state.serial, 2);
            let reread = StateStore::open(Arc::clone(&backend)).await.unwrap();
            assert_eq!(reread.persisted(), Some(&state));

            // A second store that read serial 2 cannot write after the first wrote serial 3.
            let mut other = StateStore::open(Arc::clone(&backend)).await.unwrap();
            state
                .assertions
                .insert("assert.a".into(), serde_json::json!(true));
            assert!(store.save(&mut state).await.unwrap());
            let mut stale = other.working_copy().unwrap();
            stale
                .assertions
                .insert("assert.b".into(), serde_json::json!(true));
            let error = other.save(&mut stale).await.unwrap_err();
            assert!(matches!(error, StateError::StaleWrite { .. }), "{error}");
        });
    }

    #[test]
    fn corrupt_state_reports_path_line_and_column() {
        let dir = TempDir::new("corrupt");
        let backend = LocalBackend::in_directory(&dir.0);
        fs::write(
            backend.path(),
            "{\n  \"version\": 1,\n  \"serial\": 3,\n}\n",
        )
        .unwrap();
        let error = runtime().block_on(backend.read()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}:4:1: invalid state JSON: trailing comma",
                backend.path().display()
            )
        );
        // And a write refuses to overwrite it.
        let error = runtime()
            .block_on(backend.write(&State::with_lineage("l"), None))
            .unwrap_err();
        assert!(matches!(error, StateError::Corrupt { .. }), "{error}");
    }

    #[test]
    fn second_lock_times_out_naming_the_holder() {
        let dir = TempDir::new("lock");
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::in_directory(&dir.0));
        runtime().block_on(async {
            let guard = LockGuard::acquire(Arc::clone(&backend), "apply", Duration::ZERO)
                .await
                .unwrap();
            let lock_path = dir.0.join("cutover.state.json.lock");
            assert_eq!(mode_of(&lock_path), 0o600);
            let holder = backend.lock_holder().await.unwrap().unwrap();
            assert_eq!(&holder, guard.info());
            assert_eq!(holder.pid, std::process::id());
            assert_eq!(holder.operation, "apply");
            assert!(holder.who.ends_with(&format!("@{}", holder.host)));

            let started = std::time::Instant::now();
            let error = backend
                .lock("plan", Duration::from_millis(600))
                .await
                .unwrap_err();
            let waited = started.elapsed();
            assert!(waited >= Duration::from_millis(600), "{waited:?}");
            assert!(waited < Duration::from_secs(3), "{waited:?}");
            let message = error.to_string();
            for expected in [
                "state is locked (waited ".to_owned(),
                format!("{} holds {}", holder.who, lock_path.display()),
                format!("for apply since {}", holder.created),
                format!("pid {} on host {}", holder.pid, holder.host),
                format!("lock ID {}", holder.id),
                "the lock is released as soon as that process exits".to_owned(),
            ] {
                assert!(message.contains(&expected), "{expected:?} not in {message}");
            }
            assert!(!message.contains("no longer running"), "{message}");
            // An OS lock has nothing to force-unlock: the message does not suggest it.
            assert!(!message.contains("force-unlock"), "{message}");

            guard.unlock().await.unwrap();
            assert!(backend.lock_holder().await.unwrap().is_none());
            let again = backend.lock("plan", Duration::ZERO).await.unwrap();
            backend.unlock(&again.id).await.unwrap();
        });
    }

    #[test]
    fn a_lock_file_left_by_a_dead_run_is_no_lock() {
        let dir = TempDir::new("dead");
        let backend = LocalBackend::in_directory(&dir.0);
        // What a run killed with kill -9 leaves: its details in the file, no OS lock on it.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let mut holder = LockInfo::for_this_process("apply", "x").unwrap();
        holder.pid = dead_pid;
        fs::write(backend.lock_path(), serde_json::to_vec(&holder).unwrap()).unwrap();
        assert_eq!(runtime().block_on(backend.lock_holder()).unwrap(), None);
        let info = runtime()
            .block_on(backend.lock("plan", Duration::ZERO))
            .unwrap();
        // The file now names the new holder only.
        let written: LockInfo =
            serde_json::from_slice(&fs::read(backend.lock_path()).unwrap()).unwrap();
        assert_eq!(written, info);
        runtime().block_on(backend.unlock(&info.id)).unwrap();
        assert_eq!(fs::read(backend.lock_path()).unwrap(), b"");
    }

    #[test]
    fn racing_threads_exactly_one_wins() {
        let dir = TempDir::new("race");
        let backend = LocalBackend::in_directory(&dir.0);
        let contenders = 16;
        let barrier = Arc::new(Barrier::new(contenders));
        let handles: Vec<_> = (0..contenders)
            .map(|_| {
                let backend = backend.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let runtime = runtime();
                    barrier.wait();
                    runtime.block_on(backend.lock("apply", Duration::ZERO))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<&LockInfo> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1);
        for result in &results {
            if let Err(error) = result {
                assert!(matches!(error, StateError::Locked(_)), "{error}");
            }
        }
        let holder = runtime().block_on(backend.lock_holder()).unwrap().unwrap();
        assert_eq!(&holder, winners[0]);
    }

    const CHILD_LOCK_PATH_ENV: &str = "CUTOVER_STATE_TEST_CHILD_STATE_PATH";

    /// Runs this test binary as a child process executing `child_process_takes_the_lock`
    /// against `state_path`; its stdin is kept open (a winner holds the lock until it closes).
    fn spawn_lock_child(state_path: &Path) -> std::process::Child {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "state::local::tests::child_process_takes_the_lock",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_LOCK_PATH_ENV, state_path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    /// The child's "lock outcome: ..." line (`won ID`, `lost`, `error ...`).
    fn lock_outcome(child: &mut std::process::Child) -> String {
        use std::io::BufRead as _;
        let stdout = child.stdout.as_mut().expect("piped stdout");
        let mut reader = std::io::BufReader::new(stdout);
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("no outcome in child output: {seen}");
            }
            if let Some((_, outcome)) = line.trim_end().split_once("lock outcome: ") {
                return outcome.to_owned();
            }
            seen.push_str(&line);
        }
    }

    #[test]
    fn racing_processes_exactly_one_wins() {
        let dir = TempDir::new("procs");
        let state_path = dir.0.join(DEFAULT_STATE_FILE);
        let mut children: Vec<_> = (0..6).map(|_| spawn_lock_child(&state_path)).collect();
        // Every child tries while the winner still holds the lock (it waits for its stdin).
        let outcomes: Vec<String> = children.iter_mut().map(lock_outcome).collect();
        let winners: Vec<&String> = outcomes.iter().filter(|o| o.starts_with("won ")).collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        assert!(
            outcomes.iter().filter(|o| *o == "lost").count() == outcomes.len() - 1,
            "{outcomes:?}"
        );
        let backend = LocalBackend::new(&state_path);
        let holder = runtime().block_on(backend.lock_holder()).unwrap().unwrap();
        assert_eq!(winners[0], &format!("won {}", holder.id));
        for mut child in children {
            drop(child.stdin.take());
            child.wait().unwrap();
        }
        // The winner released it by exiting.
        assert_eq!(runtime().block_on(backend.lock_holder()).unwrap(), None);
    }

    /// The issue this lock exists for: a run killed with kill -9 (no chance to clean up)
    /// leaves nothing that blocks the next run, and no force-unlock is needed.
    #[cfg(unix)]
    #[test]
    fn a_holder_killed_with_sigkill_releases_the_lock() {
        let dir = TempDir::new("sigkill");
        let state_path = dir.0.join(DEFAULT_STATE_FILE);
        let mut child = spawn_lock_child(&state_path);
        let outcome = lock_outcome(&mut child);
        assert!(outcome.starts_with("won "), "{outcome}");
        let backend = LocalBackend::new(&state_path);
        let holder = runtime().block_on(backend.lock_holder()).unwrap().unwrap();
        assert_eq!(holder.pid, child.id());
        // While the child lives, neither a lock nor a force-unlock gets through.
        let error = runtime()
            .block_on(backend.lock("apply", Duration::ZERO))
            .unwrap_err();
        assert!(matches!(error, StateError::Locked(_)), "{error}");
        let error = runtime()
            .block_on(backend.force_unlock(&holder.id))
            .unwrap_err();
        assert!(
            error.to_string().contains("is held by a running process"),
            "{error}"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Its details are still in the file, but nobody holds it.
        assert!(!fs::read(backend.lock_path()).unwrap().is_empty());
        assert_eq!(runtime().block_on(backend.lock_holder()).unwrap(), None);
        let info = runtime()
            .block_on(backend.lock("apply", Duration::ZERO))
            .unwrap();
        runtime().block_on(backend.unlock(&info.id)).unwrap();
    }

    /// Run only as a child of the tests above: takes the lock once, says so, and when it won
    /// holds it until its stdin closes (or it is killed).
    #[test]
    #[ignore = "helper process of racing_processes_exactly_one_wins"]
    fn child_process_takes_the_lock() {
        let Some(path) = std::env::var_os(CHILD_LOCK_PATH_ENV) else {
            return;
        };
        let backend = LocalBackend::new(PathBuf::from(path));
        match runtime().block_on(backend.lock("apply", Duration::ZERO)) {
            Ok(info) => {
                println!("lock outcome: won {}", info.id);
                let _ = std::io::stdin().read_to_end(&mut Vec::new());
            }
            Err(StateError::Locked(_)) => println!("lock outcome: lost"),
            Err(error) => println!("lock outcome: error {error}"),
        }
    }

    #[test]
    fn force_unlock_needs_the_right_id() {
        let dir = TempDir::new("force");
        let backend = LocalBackend::in_directory(&dir.0);
        runtime().block_on(async {
            let error = backend.force_unlock("nope").await.unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "{} is not locked (lock ID nope is not held)",
                    backend.lock_path().display()
                )
            );
            let held = backend.lock("apply", Duration::ZERO).await.unwrap();
            let error = backend.force_unlock("wrong-id").await.unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "lock ID wrong-id does not match the lock on {}, which is held by {} for apply (lock ID {})",
                    backend.lock_path().display(),
                    held.who,
                    held.id
                )
            );
            backend.force_unlock(&held.id).await.unwrap();
            assert!(backend.lock_holder().await.unwrap().is_none());
        });
    }

    #[test]
    fn dropping_the_guard_releases_the_lock() {
        let dir = TempDir::new("drop");
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::in_directory(&dir.0));
        runtime().block_on(async {
            let guard = LockGuard::acquire(Arc::clone(&backend), "apply", Duration::ZERO)
                .await
                .unwrap();
            assert!(backend.lock_holder().await.unwrap().is_some());
            drop(guard);
            assert!(backend.lock_holder().await.unwrap().is_none());

            // A guard whose lock was force-unlocked and retaken does not remove the new lock.
            let guard = LockGuard::acquire(Arc::clone(&backend), "apply", Duration::ZERO)
                .await
                .unwrap();
            backend.force_unlock(guard.id()).await.unwrap();
            let other = backend.lock("plan", Duration::ZERO).await.unwrap();
            let error = guard.unlock().await.unwrap_err();
            assert!(
                matches!(error, StateError::LockIdMismatch { .. }),
                "{error}"
            );
            assert_eq!(backend.lock_holder().await.unwrap(), Some(other));
        });
    }

    #[test]
    fn a_newer_state_is_not_overwritten() {
        let dir = TempDir::new("newer");
        let backend = LocalBackend::in_directory(&dir.0);
        fs::write(
            backend.path(),
            r#"{"version": 9, "serial": 1, "lineage": "l"}"#,
        )
        .unwrap();
        let mut state = State::with_lineage("l");
        state.serial = 2;
        let stamp = StateStamp {
            lineage: "l".into(),
            serial: 1,
        };
        let error = runtime()
            .block_on(backend.write(&state, Some(&stamp)))
            .unwrap_err();
        assert!(
            matches!(error, StateError::UnsupportedVersion { found: 9, .. }),
            "{error}"
        );
    }
}
