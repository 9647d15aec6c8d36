//! The small pieces of the operating system the state layer needs: random bytes, UUIDs, UTC
//! timestamps, the user and host names, whether a process is alive, atomic file writes and OS file locks.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::{Result, StateError};

/// Permissions of every file the state layer writes: the state, its backup, the lock and the
/// key file. State is not secret in plaintext, but it names infrastructure and holds hashes.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Fills `buffer` from the kernel's CSPRNG.
pub fn fill_random(buffer: &mut [u8]) -> io::Result<()> {
    File::open("/dev/urandom")?.read_exact(buffer)
}

/// A random (version 4) UUID in its usual hyphenated form.
pub fn new_uuid() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// The current UTC time as RFC 3339 with second precision: `2025-06-01T10:00:00Z`.
pub fn now_rfc3339() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    format_rfc3339(seconds)
}

/// Formats seconds since the Unix epoch as an RFC 3339 UTC timestamp.
pub fn format_rfc3339(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let second_of_day = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        (second_of_day / 60) % 60,
        second_of_day % 60
    )
}

/// Parses the timestamps this module writes (`YYYY-MM-DDTHH:MM:SS` followed by `Z`, optional
/// fractional seconds ignored). Other offsets are not needed: every writer uses UTC.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't')
    {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' || !matches!(bytes[bytes.len() - 1], b'Z' | b'z') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = days_from_civil(year as i64, month as u32, day as u32);
    u64::try_from(days)
        .ok()
        .map(|days| days * 86_400 + hour * 3600 + minute * 60 + second.min(60))
}

/// How long ago an RFC 3339 timestamp was, when it can be parsed and is in the past.
pub fn age_of_rfc3339(text: &str) -> Option<Duration> {
    let then = parse_rfc3339(text)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    now.checked_sub(then).map(Duration::from_secs)
}

/// `45s`, `3m20s`, `2h5m`, `3d4h`.
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 60 {
        if seconds == 0 && duration.as_millis() > 0 {
            return format!("{}ms", duration.as_millis());
        }
        format!("{seconds}s")
    } else if seconds < 3600 {
        format!("{}m{}s", seconds / 60, seconds % 60)
    } else if seconds < 86_400 {
        format!("{}h{}m", seconds / 3600, (seconds / 60) % 60)
    } else {
        format!("{}d{}h", seconds / 86_400, (seconds / 3600) % 24)
    }
}

// Howard Hinnant's algorithms (http://howardhinnant.github.io/date_algorithms.html).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// This machine's host name.
pub fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buffer = [0u8; 256];
        // SAFETY: the buffer is valid for `buffer.len()` bytes; gethostname writes at most that
        // many and the result is read only up to the first NUL.
        let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
        if status == 0 {
            let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
            let name = String::from_utf8_lossy(&buffer[..end]).into_owned();
            if !name.is_empty() {
                return name;
            }
        }
    }
    std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .unwrap_or_else(|_| "unknown-host".to_owned())
}

/// The user running this process: `$USER`, `$LOGNAME`, `$USERNAME`, else `uid<N>`.
pub fn user_name() -> String {
    for variable in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(name) = std::env::var(variable)
            && !name.is_empty()
        {
            return name;
        }
    }
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        format!("uid{}", unsafe { libc::getuid() })
    }
    #[cfg(not(unix))]
    {
        "unknown-user".to_owned()
    }
}

/// Whether a process with this id exists on this machine. `None` when it cannot be told.
pub fn process_alive(pid: u32) -> Option<bool> {
    #[cfg(unix)]
    {
        let pid = libc::pid_t::try_from(pid).ok()?;
        if pid <= 0 {
            return None;
        }
        // SAFETY: signal 0 performs only the existence and permission checks.
        if unsafe { libc::kill(pid, 0) } == 0 {
            return Some(true);
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::ESRCH) => Some(false),
            // EPERM: the process exists but belongs to someone else.
            Some(libc::EPERM) => Some(true),
            _ => None,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        None
    }
}

/// Opens options that create a new file readable and writable by its owner only.
pub fn private_create_new() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE_MODE);
    }
    options
}

/// Opens (creating it 0600 when missing, never truncating) a file that carries an OS lock.
pub fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE_MODE);
    }
    options.open(path)
}

/// One attempt at an OS lock on `file` (`flock`, exclusive or shared), never waiting: true
/// when taken. The lock belongs to this open file: closing it, or the process ending in any
/// way (`kill -9` included), releases it, and another open of the same file in this process
/// conflicts with it like any other process would.
#[cfg(unix)]
pub fn try_flock(file: &File, exclusive: bool) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    let kind = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    loop {
        // SAFETY: flock on a file descriptor this `File` owns for the duration of the call.
        if unsafe { libc::flock(file.as_raw_fd(), kind | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(error),
        }
    }
}

#[cfg(not(unix))]
pub fn try_flock(_file: &File, _exclusive: bool) -> io::Result<bool> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the local state lock needs flock (Unix)",
    ))
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same directory is written,
/// flushed to disk, renamed over `path`, and the directory is flushed so the rename survives a
/// crash. Readers see the old content or the new, never a mix; the file is created 0600.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    refuse_symlink(path)?;
    remove_stale_temporaries(path);
    let directory = parent_directory(path);
    let temporary = temporary_sibling(path)?;
    let result = (|| {
        let mut file = private_create_new()
            .open(&temporary)
            .map_err(|error| StateError::io("create", &temporary, error))?;
        file.write_all(bytes)
            .map_err(|error| StateError::io("write", &temporary, error))?;
        file.sync_all()
            .map_err(|error| StateError::io("flush", &temporary, error))?;
        drop(file);
        fs::rename(&temporary, path).map_err(|error| StateError::io("replace", path, error))?;
        sync_directory(&directory)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Refuses to replace a symbolic link: a rename over it would silently turn it into a regular
/// file beside the one it points to. A missing path is fine.
pub fn refuse_symlink(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => Err(StateError::Symlink {
            path: path.to_path_buf(),
            target: fs::read_link(path).unwrap_or_default(),
        }),
        _ => Ok(()),
    }
}

/// Flushes a directory's entries (renames, creations, removals) to disk.
pub fn sync_directory(directory: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(directory)
            .and_then(|handle| handle.sync_all())
            .map_err(|error| StateError::io("flush directory", directory, error))
    }
    #[cfg(not(unix))]
    {
        let _ = directory;
        Ok(())
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_directory(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// How old a temporary file of a dead process must be before it is removed: a write holds its
/// temporary file for milliseconds, so this only guards against a writer on another machine
/// (a shared directory) whose process id means nothing here.
const STALE_TEMPORARY_AGE: Duration = Duration::from_secs(60);

/// Removes the temporary files that runs which died mid-write (a crash, `kill -9`, a power cut)
/// left beside `path`: `.NAME.tmp-PID-RANDOM` (see [`temporary_sibling`]) regular files whose
/// process no longer exists and that are older than a minute. Best effort: a file that cannot
/// be removed stays until the next write. Nothing else is touched.
pub fn remove_stale_temporaries(path: &Path) {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return;
    };
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = fs::read_dir(parent_directory(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name
            .to_str()
            .and_then(|name| name.strip_prefix(&prefix))
        else {
            continue;
        };
        let Some((pid, random)) = rest.split_once('-') else {
            continue;
        };
        let ours = random.len() == 12 && random.bytes().all(|byte| byte.is_ascii_hexdigit());
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !ours || pid == std::process::id() || process_alive(pid) != Some(false) {
            continue;
        }
        let Ok(metadata) = entry.path().symlink_metadata() else {
            continue;
        };
        let old = metadata
            .modified()
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age >= STALE_TEMPORARY_AGE);
        if metadata.file_type().is_file() && old {
            match fs::remove_file(entry.path()) {
                Ok(()) => tracing::debug!(
                    "removed {}, left by process {pid} which died while writing",
                    entry.path().display()
                ),
                Err(error) => tracing::debug!("cannot remove {}: {error}", entry.path().display()),
            }
        }
    }
}

/// `.NAME.tmp-PID-RANDOM` beside `path`: hidden, unique, and recognisably ours.
fn temporary_sibling(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cutover".to_owned());
    let mut random = [0u8; 6];
    fill_random(&mut random).map_err(|error| StateError::io("read", "/dev/urandom", error))?;
    Ok(parent_directory(path).join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        hex::encode(random)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_and_parse() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(1_748_772_000), "2025-06-01T10:00:00Z");
        for seconds in [0, 951_782_400, 1_748_772_000, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&format_rfc3339(seconds)), Some(seconds));
        }
        assert_eq!(
            parse_rfc3339("2025-06-01T10:00:00.123Z"),
            Some(1_748_772_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn uuids_are_version_4_and_unique() {
        let (a, b) = (new_uuid().unwrap(), new_uuid().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_secs(45)), "45s");
        assert_eq!(human_duration(Duration::from_secs(200)), "3m20s");
        assert_eq!(human_duration(Duration::from_secs(7500)), "2h5m");
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn this_process_is_alive() {
        assert_eq!(process_alive(std::process::id()), Some(true));
    }
}
