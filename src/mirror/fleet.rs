//! Running a mirror: the local workers (in this process, or child processes of this binary,
//! `cutover mirror worker`, which get their spec through a pipe), and, for a run that ends
//! once caught up, the wait until every partition has reached the source's end offsets seen
//! when the run started, whoever copies it (local workers, or workers elsewhere: ECS tasks,
//! Kubernetes pods running `cutover mirror run --follow` for the same mirror).

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::copy::LaneStats;
use super::offset_map;
use super::survey;
use super::worker::{self, CaughtUp, WorkerReport};
use super::{MirrorSpec, Offsets, SpecWire};
use crate::error::{OperationError, OperationResult};

/// How long a run lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Until every partition reaches the source's end offsets seen at the start (workers
    /// running elsewhere: within `max_lag`): what `apply` and `mirror run` do.
    UntilCaughtUp,
    /// Until cancelled: `mirror run --follow`.
    Follow,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    /// Records, bytes and padding copied by this run's own workers.
    pub records: u64,
    pub bytes: u64,
    pub padding: u64,
    /// Next source offset to copy, per `topic/partition` (a run that ended caught up).
    pub positions: BTreeMap<String, i64>,
    pub elapsed: Duration,
    /// Workers of this mirror that were running elsewhere when the run started.
    pub external_workers: usize,
}

impl RunReport {
    /// Records per second this run's workers achieved (`None` when they copied little).
    pub fn rate(&self) -> Option<f64> {
        let seconds = self.elapsed.as_secs_f64();
        (self.records >= 1000 && seconds > 0.0).then(|| self.records as f64 / seconds)
    }
}

/// The binary that runs child workers: this one, or `CUTOVER_WORKER_EXE` (set by tests that
/// drive the engine from a test binary).
fn worker_executable() -> OperationResult<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("CUTOVER_WORKER_EXE") {
        return Ok(path.into());
    }
    std::env::current_exe().map_err(|e| {
        OperationError::Failed(format!("cannot find this program to start workers: {e}"))
    })
}

/// A worker in a child process.
struct ChildWorker {
    child: Child,
    stdin: Option<ChildStdin>,
    report: Arc<Mutex<Option<WorkerReport>>>,
    last_error: Arc<Mutex<Option<String>>>,
    readers: Vec<JoinHandle<()>>,
}

/// This run's own workers.
enum Local {
    None,
    InProcess {
        cancel: Arc<AtomicBool>,
        handle: JoinHandle<OperationResult<WorkerReport>>,
    },
    Children(Vec<ChildWorker>),
}

struct LocalWorkers {
    local: Local,
    caught_up: CaughtUp,
    stats: Arc<LaneStats>,
}

impl LocalWorkers {
    fn start(
        spec: &Arc<MirrorSpec>,
        count: usize,
        stops: Option<BTreeMap<String, i64>>,
        progress: &Arc<dyn Fn(&str) + Send + Sync>,
    ) -> OperationResult<LocalWorkers> {
        let caught_up: CaughtUp = Arc::default();
        let stats: Arc<LaneStats> = Arc::default();
        if count <= 1 {
            let cancel = Arc::new(AtomicBool::new(false));
            let (spec, flag, caught, lane_stats, progress) = (
                spec.clone(),
                cancel.clone(),
                caught_up.clone(),
                stats.clone(),
                progress.clone(),
            );
            let handle = std::thread::Builder::new()
                .name("mirror-worker".to_owned())
                .spawn(move || worker::work(spec, stops, 1, &flag, caught, lane_stats, progress))
                .map_err(|e| OperationError::Failed(format!("cannot start the worker: {e}")))?;
            return Ok(LocalWorkers {
                local: Local::InProcess { cancel, handle },
                caught_up,
                stats,
            });
        }
        let executable = worker_executable()?;
        let mut children = Vec::new();
        for number in 1..=count {
            children.push(spawn_child(
                &executable,
                spec,
                stops.as_ref(),
                number,
                count,
                &caught_up,
                progress,
            )?);
        }
        Ok(LocalWorkers {
            local: Local::Children(children),
            caught_up,
            stats,
        })
    }

    /// A worker that stopped by itself: its failure (a worker only stops when told to).
    fn failure(&mut self) -> Option<OperationError> {
        if matches!(&self.local, Local::InProcess { handle, .. } if handle.is_finished()) {
            let Local::InProcess { handle, .. } = std::mem::replace(&mut self.local, Local::None)
            else {
                return None;
            };
            return Some(match handle.join() {
                Ok(Err(error)) => error,
                Ok(Ok(_)) => {
                    OperationError::Failed("the mirror's worker stopped unexpectedly".to_owned())
                }
                Err(_) => OperationError::Failed("the mirror's worker panicked".to_owned()),
            });
        }
        match &mut self.local {
            Local::None | Local::InProcess { .. } => None,
            Local::Children(children) => children.iter_mut().find_map(|c| {
                let status = c.child.try_wait().ok().flatten()?;
                let why = c.last_error.lock().ok().and_then(|e| e.clone());
                Some(OperationError::Failed(why.unwrap_or_else(|| {
                    format!("a mirror worker process exited ({status})")
                })))
            }),
        }
    }

    /// Stops every worker (each finishes its writes and leaves the group) and adds up what
    /// they did.
    fn stop(self) -> OperationResult<WorkerReport> {
        match self.local {
            Local::None => Ok(WorkerReport::default()),
            Local::InProcess { cancel, handle } => {
                cancel.store(true, Ordering::SeqCst);
                handle.join().map_err(|_| {
                    OperationError::Failed("the mirror's worker panicked".to_owned())
                })?
            }
            Local::Children(children) => {
                let mut total = WorkerReport::default();
                let mut failure = None;
                let mut children = children;
                for child in &mut children {
                    // Closing its stdin tells a worker to stop.
                    child.stdin.take();
                }
                for mut child in children {
                    let status = wait_bounded(&mut child.child, Duration::from_secs(120));
                    for reader in child.readers.drain(..) {
                        let _ = reader.join();
                    }
                    let report = child.report.lock().ok().and_then(|r| r.clone());
                    match (status, report) {
                        (Some(status), Some(report)) if status.success() => {
                            total.records += report.records;
                            total.bytes += report.bytes;
                            total.padding += report.padding;
                            total.transactions += report.transactions;
                        }
                        (status, _) => {
                            let why = child.last_error.lock().ok().and_then(|e| e.clone());
                            failure.get_or_insert(OperationError::Failed(why.unwrap_or_else(
                                || {
                                    match status {
                                        Some(status) => {
                                            format!("a mirror worker exited ({status})")
                                        }
                                        None => {
                                            "a mirror worker did not stop within 2 minutes: killed"
                                                .to_owned()
                                        }
                                    }
                                },
                            )));
                        }
                    }
                }
                match failure {
                    Some(error) => Err(error),
                    None => Ok(total),
                }
            }
        }
    }

    fn report_now(&self) -> WorkerReport {
        WorkerReport {
            records: self.stats.records.load(Ordering::Relaxed),
            bytes: self.stats.bytes.load(Ordering::Relaxed),
            padding: self.stats.padding.load(Ordering::Relaxed),
            transactions: self.stats.transactions.load(Ordering::Relaxed),
        }
    }
}

/// Waits for a child up to `limit`, then kills it. `None`: it had to be killed.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// The first line a parent writes to a worker's stdin.
#[derive(serde::Serialize, serde::Deserialize)]
struct WorkerInput {
    spec: SpecWire,
    stops: Option<BTreeMap<String, i64>>,
    /// Workers started together with this one (they wait for each other before copying).
    together: usize,
}

fn spawn_child(
    executable: &std::path::Path,
    spec: &MirrorSpec,
    stops: Option<&BTreeMap<String, i64>>,
    number: usize,
    together: usize,
    caught_up: &CaughtUp,
    progress: &Arc<dyn Fn(&str) + Send + Sync>,
) -> OperationResult<ChildWorker> {
    let mut child = Command::new(executable)
        .args(["mirror", "worker"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            OperationError::Failed(format!(
                "cannot start a mirror worker ({}): {e}",
                executable.display()
            ))
        })?;
    let input = WorkerInput {
        spec: spec.to_wire(),
        stops: stops.cloned(),
        together,
    };
    let mut stdin = child.stdin.take();
    let line = serde_json::to_string(&input)
        .map_err(|e| OperationError::Failed(format!("cannot encode the worker's spec: {e}")))?;
    if let Some(pipe) = stdin.as_mut() {
        pipe.write_all(line.as_bytes())
            .and_then(|()| pipe.write_all(b"\n"))
            .and_then(|()| pipe.flush())
            .map_err(|e| OperationError::Failed(format!("cannot hand the worker its spec: {e}")))?;
    }
    let report: Arc<Mutex<Option<WorkerReport>>> = Arc::default();
    let last_error: Arc<Mutex<Option<String>>> = Arc::default();
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        let (report, caught_up) = (report.clone(), caught_up.clone());
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(json) = line.strip_prefix("report ") {
                    if let Ok(parsed) = serde_json::from_str(json)
                        && let Ok(mut report) = report.lock()
                    {
                        *report = Some(parsed);
                    }
                } else if let Some(rest) = line.strip_prefix("caught-up ")
                    && let Some((key, offset)) = rest.rsplit_once(' ')
                    && let Ok(offset) = offset.parse::<i64>()
                    && let Ok(mut caught_up) = caught_up.lock()
                {
                    caught_up.insert(key.to_owned(), offset);
                }
            }
        }));
    }
    if let Some(stderr) = child.stderr.take() {
        let (progress, last_error) = (progress.clone(), last_error.clone());
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(error) = line.strip_prefix("error: ")
                    && let Ok(mut last) = last_error.lock()
                {
                    *last = Some(error.to_owned());
                }
                progress(&format!("worker {number}: {line}"));
            }
        }));
    }
    Ok(ChildWorker {
        child,
        stdin,
        report,
        last_error,
        readers,
    })
}

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_: libc::c_int) {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// `cutover mirror worker`: the child side. Reads its spec from stdin, works until stdin
/// closes (its parent stopped it, or died) or SIGTERM/SIGINT, then prints its report.
/// Progress goes to stderr; `caught-up KEY OFFSET` and `report JSON` lines to stdout.
pub fn worker_main() -> i32 {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            request_stop as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            request_stop as *const () as libc::sighandler_t,
        );
    }
    let mut first = String::new();
    let stdin = std::io::stdin();
    if stdin.lock().read_line(&mut first).unwrap_or(0) == 0 {
        eprintln!("error: no spec on stdin (this command is started by cutover itself)");
        return 1;
    }
    let input: WorkerInput = match serde_json::from_str(&first) {
        Ok(input) => input,
        Err(e) => {
            eprintln!("error: the spec on stdin cannot be read: {e}");
            return 1;
        }
    };
    std::thread::spawn(move || {
        let mut rest = String::new();
        // Until EOF: the parent closed the pipe, or died.
        while std::io::stdin().lock().read_line(&mut rest).unwrap_or(0) > 0 {
            rest.clear();
        }
        STOP_REQUESTED.store(true, Ordering::SeqCst);
    });
    let spec = Arc::new(MirrorSpec::from_wire(input.spec));
    let caught_up: CaughtUp = Arc::default();
    let stats: Arc<LaneStats> = Arc::default();
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let (cancel, caught_up) = (cancel.clone(), caught_up.clone());
        std::thread::spawn(move || {
            let mut told: BTreeMap<String, i64> = BTreeMap::new();
            loop {
                if let Ok(now) = caught_up.lock() {
                    for (key, offset) in now.iter() {
                        if told.get(key) != Some(offset) {
                            println!("caught-up {key} {offset}");
                            told.insert(key.clone(), *offset);
                        }
                    }
                }
                let _ = std::io::stdout().flush();
                if STOP_REQUESTED.load(Ordering::SeqCst) {
                    cancel.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }
    let progress: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|line: &str| eprintln!("{line}"));
    match worker::work(
        spec,
        input.stops,
        input.together,
        &cancel,
        caught_up.clone(),
        stats,
        progress,
    ) {
        Ok(report) => {
            if let Ok(now) = caught_up.lock() {
                for (key, offset) in now.iter() {
                    println!("caught-up {key} {offset}");
                }
            }
            println!(
                "report {}",
                serde_json::to_string(&report).unwrap_or_default()
            );
            let _ = std::io::stdout().flush();
            0
        }
        Err(error) => {
            eprintln!("error: {error}");
            1
        }
    }
}

/// How far the mirror is: partitions behind their stop offsets and records behind, with the
/// next source offset of every partition as far as it is known.
fn status(
    spec: &MirrorSpec,
    partitions: &[(String, i32)],
    stops: &BTreeMap<String, i64>,
    caught_up: &CaughtUp,
    max_lag: i64,
) -> OperationResult<(usize, i64, BTreeMap<String, i64>)> {
    let reached: BTreeMap<String, i64> = match spec.offsets {
        Offsets::Preserve => {
            let ends = survey::watermarks(&spec.target, partitions)?;
            partitions
                .iter()
                .zip(ends)
                .map(|((t, p), (_, end))| (format!("{t}/{p}"), end))
                .collect()
        }
        Offsets::Translate => {
            let map_topic = spec.map_topic().unwrap_or_default();
            offset_map::read_positions(
                &spec.target,
                &offset_map::positions_group(&map_topic),
                partitions,
            )?
        }
    };
    let local = caught_up.lock().map(|c| c.clone()).unwrap_or_default();
    let max_lag = max_lag.max(0);
    let mut behind_partitions = 0;
    let mut behind_records = 0;
    let mut positions = BTreeMap::new();
    for (topic, partition) in partitions {
        let key = format!("{topic}/{partition}");
        let stop = stops.get(&key).copied().unwrap_or(0);
        let at = reached
            .get(&key)
            .copied()
            .unwrap_or(0)
            .max(local.get(&key).copied().unwrap_or(0));
        if at + max_lag < stop {
            behind_partitions += 1;
            behind_records += stop - at;
        }
        positions.insert(key, at);
    }
    Ok((behind_partitions, behind_records, positions))
}

/// How long a run waits without any progress before it gives up.
const STALL_LIMIT: Duration = Duration::from_secs(600);

/// Runs the mirror: `workers` local workers (1: in this process; more: child processes),
/// until caught up or, with [`RunMode::Follow`], until `cancel` is set. A run that ends once
/// caught up starts no local workers when workers of this mirror already run elsewhere; it
/// waits for them (and starts its own if they stop making progress). Blocking.
pub fn run(
    spec: Arc<MirrorSpec>,
    workers: usize,
    mode: RunMode,
    cancel: &AtomicBool,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
) -> OperationResult<RunReport> {
    let started = Instant::now();
    let partitions = survey::mirror_partitions(&spec.source, &spec.target, &spec.topics)?;
    if let Some(map_topic) = spec.map_topic() {
        crate::kafka::admin::block_on(offset_map::ensure_topic(&spec.target, &map_topic))?;
    }
    worker::ensure_work_topic(&spec)?;
    if mode == RunMode::Follow {
        let local = LocalWorkers::start(&spec, workers, None, &progress)?;
        let mut local = local;
        let failure = loop {
            if cancel.load(Ordering::SeqCst) {
                break None;
            }
            if let Some(failure) = local.failure() {
                break Some(failure);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let in_process = local.report_now();
        let report = local.stop();
        if let Some(failure) = failure {
            return Err(failure);
        }
        let report = report?;
        return Ok(RunReport {
            records: report.records.max(in_process.records),
            bytes: report.bytes.max(in_process.bytes),
            padding: report.padding.max(in_process.padding),
            positions: BTreeMap::new(),
            elapsed: started.elapsed(),
            external_workers: 0,
        });
    }
    // The stop offsets: the source's ends now.
    let ends = survey::watermarks(&spec.source, &partitions)?;
    let stops: BTreeMap<String, i64> = partitions
        .iter()
        .zip(&ends)
        .map(|((t, p), (_, end))| (format!("{t}/{p}"), *end))
        .collect();
    let source_starts: BTreeMap<String, i64> = partitions
        .iter()
        .zip(&ends)
        .map(|((t, p), (start, _))| (format!("{t}/{p}"), *start))
        .collect();
    // Where a preserving mirror stood: what it copies in this run is exactly the difference
    // (its offsets have no gaps), whoever copies it and however often a lane was retried.
    let before = match spec.offsets {
        Offsets::Preserve => Some(status(&spec, &partitions, &stops, &Arc::default(), 0)?.2),
        Offsets::Translate => None,
    };
    let external = crate::kafka::admin::group_members(&spec.target, &spec.workers_group())?.len();
    let mut local = if external > 0 {
        progress(&format!(
            "{external} worker(s) of this mirror are running elsewhere (cutover mirror run --follow): waiting for them to catch up"
        ));
        LocalWorkers {
            local: Local::None,
            caught_up: Arc::default(),
            stats: Arc::default(),
        }
    } else {
        LocalWorkers::start(&spec, workers, Some(stops.clone()), &progress)?
    };
    let mut last_progress = Instant::now();
    let mut best = i64::MAX;
    let mut improved = Instant::now();
    let result = loop {
        if cancel.load(Ordering::SeqCst) {
            break Err(OperationError::Cancelled);
        }
        if let Some(failure) = local.failure() {
            break Err(failure);
        }
        // The target may be briefly unreachable (a broker restart): the workers retry, and
        // so does this wait, within the stall limit.
        // `max_lag` is how far behind the stops other workers may be when this run returns;
        // this run's own lanes copy to the stops, and it waits for them to get there (a
        // per-partition allowance summed over many partitions would leave more behind than a
        // lag assertion over the whole mirror allows).
        let max_lag = match local.local {
            Local::None => spec.settings.max_lag,
            _ => 0,
        };
        let (behind, records_behind, positions) =
            match status(&spec, &partitions, &stops, &local.caught_up, max_lag) {
                Ok(found) => found,
                Err(error) if improved.elapsed() > STALL_LIMIT => break Err(error),
                Err(error) => {
                    if last_progress.elapsed() >= spec.settings.progress_every {
                        last_progress = Instant::now();
                        progress(&format!(
                            "cannot read the mirror's progress (retrying): {error}"
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            };
        if behind == 0 {
            break Ok(positions);
        }
        if records_behind < best {
            best = records_behind;
            improved = Instant::now();
        } else if improved.elapsed() > STALL_LIMIT {
            break Err(OperationError::Failed(format!(
                "the mirror made no progress for {} minutes ({behind} partition(s), {records_behind} records behind)",
                STALL_LIMIT.as_secs() / 60
            )));
        } else if matches!(local.local, Local::None) && improved.elapsed() > Duration::from_secs(60)
        {
            progress("the other workers made no progress for a minute: copying here");
            match LocalWorkers::start(&spec, workers, Some(stops.clone()), &progress) {
                Ok(started) => local = started,
                Err(error) => break Err(error),
            }
        }
        if last_progress.elapsed() >= spec.settings.progress_every {
            last_progress = Instant::now();
            progress(&format!(
                "{} of {} partitions caught up, {records_behind} records behind",
                partitions.len() - behind,
                partitions.len()
            ));
        }
        // Bounded by STALL_LIMIT, cancellation and the workers' failures.
        std::thread::sleep(Duration::from_millis(500));
    };
    let in_process = local.report_now();
    let stopped = local.stop();
    let positions = result?;
    let report = stopped?;
    let records = match &before {
        Some(before) => positions
            .iter()
            .map(|(key, after)| {
                let from = before
                    .get(key)
                    .copied()
                    .unwrap_or(0)
                    .max(source_starts.get(key).copied().unwrap_or(0));
                let to = (*after).min(stops.get(key).copied().unwrap_or(*after));
                (to - from).max(0) as u64
            })
            .sum(),
        // Counted by the lanes: records in committed transactions.
        None => report.records.max(in_process.records),
    };
    Ok(RunReport {
        records,
        bytes: report.bytes.max(in_process.bytes),
        padding: report.padding.max(in_process.padding),
        positions,
        elapsed: started.elapsed(),
        external_workers: external,
    })
}
