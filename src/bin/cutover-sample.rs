//! `cutover-sample`: the sample application of the end-to-end migration demo and test.
//!
//! Stand-ins for a company's producers and consumers. They read their Kafka connection from an
//! AWS Secrets Manager secret (`{"bootstrap_servers": "host:port,...", "security_protocol",
//! "sasl_mechanism", "username", "password"}`, the last four optional), re-read it every poll
//! interval, and move to the new cluster when `bootstrap_servers` changes. AWS configuration comes
//! from the environment as for the AWS CLI (`AWS_ENDPOINT_URL` points the tests at moto).
//!
//! Producer: drain-then-switch. The migration mirror preserves offsets, so a target partition
//! must hold every old record before the first new one, or the offsets diverge:
//! 1. stop producing and flush the old producer until every record is acked or failed;
//! 2. wait until, for every partition of the topics, the new cluster's high watermark is at
//!    least the old cluster's, and the old cluster's watermarks have not moved for two poll
//!    intervals (other producers may still be writing there); bounded by `--drain-timeout-s`,
//!    after which the producer exits with code 2;
//! 3. create a producer on the new cluster and continue; the per-topic seq counters continue.
//!
//! If the secret changes again during the drain (a rollback puts the old value back), the move
//! is abandoned and the producer goes on with the old cluster; a stop during the drain flushes
//! and exits 0 without switching.
//!
//! Consumer: commit synchronously, unsubscribe, drop the consumer, join the same group on the
//! new cluster. The migration copies the group's committed offsets before it flips the secret,
//! so the group resumes exactly where it stopped.
//!
//! Logs are plain text, one event per line, fields separated by spaces:
//! `ack <cluster> <topic> <partition> <offset> <seq>`, `fail <cluster> <topic> <seq> <error>`,
//! `recv <cluster> <topic> <partition> <offset> <seq>`, `drain <old> <new>` (a drain starts),
//! `abort <old> <new> <waited_ms>` (it was abandoned), `switch <old> <new> <waited_ms>`.
//! `report` reads them back; `wait-consumed` waits until the consumer log holds everything the
//! producer log acknowledged. Exit codes: 0 success, 1 error (usage errors included, or `report`
//! found duplicates or missing records, `wait-consumed` timed out), 2 the producer's drain timed
//! out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use aws_config::BehaviorVersion;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata as _, SdkError};
use clap::{Args, Parser, Subcommand};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use tokio::runtime::Runtime;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

const PROGRESS_EVERY: Duration = Duration::from_secs(5);
const WATERMARK_POLL: Duration = Duration::from_millis(200);
const COMMIT_EVERY: Duration = Duration::from_millis(200);
const SECRET_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Sample producers and consumers that follow the Kafka cluster named in a Secrets Manager
/// secret, for the migration demo and end-to-end test
#[derive(Parser)]
#[command(name = "cutover-sample", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Produce about N records/s (round-robin over the topics) and log every delivery report;
    /// when the secret flips, drain the old cluster into the new one, then switch
    Produce(ProduceArgs),
    /// Consume in a group and log every record; when the secret flips, commit and rejoin the
    /// group on the new cluster
    Consume(ConsumeArgs),
    /// Summarize a producer log and a consumer log; exit 1 on duplicates or missing records
    Report(ReportArgs),
    /// Wait until the consumer log holds every record the (stopped) producer's log says was
    /// acknowledged; exit 1 with what is still missing when the timeout passes first
    WaitConsumed(WaitConsumedArgs),
}

#[derive(Args)]
struct CommonArgs {
    /// Secrets Manager secret (name or ARN) holding {"bootstrap_servers": "host:port,..."}
    #[arg(long, value_name = "NAME")]
    secret: String,
    /// Topics, comma separated
    #[arg(long, value_name = "A,B", value_delimiter = ',', required = true)]
    topics: Vec<String>,
    /// File the events are appended to, one per line
    #[arg(long, value_name = "FILE")]
    log: PathBuf,
    /// How often to re-read the secret, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    poll_interval_ms: u64,
    /// Stop after this many seconds (default: run until SIGTERM or SIGINT)
    #[arg(long, value_name = "S")]
    duration_s: Option<u64>,
}

#[derive(Args)]
struct ProduceArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Records per second, over all topics
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rate: u32,
    /// Longest wait for the new cluster to catch up with the old one before exiting with code 2
    #[arg(long, value_name = "S", default_value_t = 180)]
    drain_timeout_s: u64,
}

#[derive(Args)]
struct ConsumeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Consumer group id (the same on both clusters)
    #[arg(long, value_name = "G")]
    group: String,
}

#[derive(Args)]
struct ReportArgs {
    /// Log written by `cutover-sample produce`
    #[arg(long, value_name = "F")]
    producer_log: PathBuf,
    /// Log written by `cutover-sample consume`
    #[arg(long, value_name = "F")]
    consumer_log: PathBuf,
}

#[derive(Args)]
struct WaitConsumedArgs {
    #[command(flatten)]
    logs: ReportArgs,
    /// Longest wait, in seconds
    #[arg(long, value_name = "S", default_value_t = 60)]
    timeout_s: u64,
}

/// The flags of `produce` and `consume`, checked and resolved once.
struct Settings {
    secret: String,
    topics: Vec<String>,
    log: PathBuf,
    poll_interval: Duration,
    duration: Option<Duration>,
}

struct ProduceSettings {
    common: Settings,
    rate: u32,
    drain_timeout: Duration,
}

impl CommonArgs {
    fn resolve(self) -> Result<Settings> {
        let topics: Vec<String> = self
            .topics
            .iter()
            .map(|topic| topic.trim().to_owned())
            .filter(|topic| !topic.is_empty())
            .collect();
        if topics.is_empty() {
            bail!("--topics names no topic");
        }
        Ok(Settings {
            secret: self.secret,
            topics,
            log: self.log,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            duration: self.duration_s.map(Duration::from_secs),
        })
    }
}

enum Outcome {
    Clean,
    /// `report` found duplicates or missing records (exit code 1).
    ProblemsFound,
    /// The producer's drain did not finish in time; it stopped without switching (exit code 2).
    DrainTimedOut(String),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors exit 1, not clap's 2: 2 means the drain timed out.
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::ProblemsFound) => ExitCode::from(1),
        Ok(Outcome::DrainTimedOut(why)) => {
            eprintln!("cutover-sample: error: {why}");
            ExitCode::from(2)
        }
        Err(error)
            if error
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cutover-sample: error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Produce(args) => {
            let settings = ProduceSettings {
                common: args.common.resolve()?,
                rate: args.rate,
                drain_timeout: Duration::from_secs(args.drain_timeout_s),
            };
            produce(&settings, &runtime()?)
        }
        Command::Consume(args) => {
            let settings = args.common.resolve()?;
            consume(&settings, &args.group, &runtime()?)?;
            Ok(Outcome::Clean)
        }
        Command::Report(args) => report(&args),
        Command::WaitConsumed(args) => wait_consumed(&args),
    }
}

/// The Kafka clients are driven synchronously on the main thread; the runtime carries the
/// signal listener and the secret watcher.
fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

/// Where to connect, as read from the secret. No `Debug`: it holds the password.
#[derive(Clone)]
struct Cluster {
    bootstrap_servers: String,
    security_protocol: Option<String>,
    sasl_mechanism: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl Cluster {
    /// Parses the secret's JSON. Errors never quote the value.
    fn from_secret(text: &str) -> Result<Cluster> {
        let value: serde_json::Value =
            serde_json::from_str(text).context("the secret value is not JSON")?;
        let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let bootstrap_servers = field("bootstrap_servers")
            .filter(|servers| !servers.trim().is_empty())
            .context("the secret value has no \"bootstrap_servers\" string")?;
        Ok(Cluster {
            bootstrap_servers,
            security_protocol: field("security_protocol"),
            sasl_mechanism: field("sasl_mechanism"),
            username: field("username"),
            password: field("password"),
        })
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", "cutover-sample");
        let optional = [
            ("security.protocol", &self.security_protocol),
            ("sasl.mechanisms", &self.sasl_mechanism),
            ("sasl.username", &self.username),
            ("sasl.password", &self.password),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                config.set(key, value);
            }
        }
        config
    }
}

struct SecretReader {
    client: aws_sdk_secretsmanager::Client,
    name: String,
}

impl SecretReader {
    async fn read(&self) -> Result<Cluster> {
        let request = self
            .client
            .get_secret_value()
            .secret_id(&self.name)
            .version_stage("AWSCURRENT")
            .send();
        let output = tokio::time::timeout(SECRET_READ_TIMEOUT, request)
            .await
            .map_err(|_| anyhow!("reading secret {} timed out", self.name))?
            .map_err(|error| {
                // A service error's code and message; for the others (connection, timeout)
                // the chain of causes, which names the reason.
                let why = match &error {
                    SdkError::ServiceError(_) => format!(
                        "{}: {}",
                        error.code().unwrap_or("unnamed error"),
                        error.message().unwrap_or_default()
                    ),
                    _ => format!("{:#}", anyhow::Error::new(error)),
                };
                anyhow!("cannot read secret {}: {why}", self.name)
            })?;
        let text = output
            .secret_string()
            .with_context(|| format!("secret {} has no string value", self.name))?;
        Cluster::from_secret(text).with_context(|| format!("secret {}", self.name))
    }
}

/// Reads the secret once (failing if it cannot), then re-reads it every `poll_interval` in the
/// background; the receiver sees a new value whenever `bootstrap_servers` changes.
fn watch_secret(
    runtime: &Runtime,
    name: &str,
    poll_interval: Duration,
) -> Result<(Cluster, watch::Receiver<Cluster>)> {
    let reader = runtime.block_on(async {
        let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
        SecretReader {
            client: aws_sdk_secretsmanager::Client::new(&config),
            name: name.to_owned(),
        }
    });
    let first = runtime.block_on(reader.read())?;
    let (sender, receiver) = watch::channel(first.clone());
    runtime.spawn(async move {
        let mut ticker = tokio::time::interval(poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate, and the secret was just read
        let mut warnings = Throttle::new(Duration::from_secs(30));
        let mut failing = false;
        while !sender.is_closed() {
            ticker.tick().await;
            match reader.read().await {
                Ok(cluster) => {
                    if std::mem::take(&mut failing) {
                        eprintln!("cutover-sample: secret {} is readable again", reader.name);
                    }
                    sender.send_if_modified(|current| {
                        let changed = current.bootstrap_servers != cluster.bootstrap_servers;
                        if changed {
                            *current = cluster;
                        }
                        changed
                    });
                }
                Err(error) => {
                    failing = true;
                    warnings.warn(format_args!("{error:#}; staying on the current cluster"));
                }
            }
        }
    });
    Ok((first, receiver))
}

/// The cluster the secret now names, when it differs from `current`.
fn secret_flipped(secret: &mut watch::Receiver<Cluster>, current: &Cluster) -> Option<Cluster> {
    if !secret.has_changed().unwrap_or(false) {
        return None;
    }
    let next = secret.borrow_and_update().clone();
    (next.bootstrap_servers != current.bootstrap_servers).then_some(next)
}

/// Prints a warning at most once per period, counting the ones it holds back.
struct Throttle {
    period: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    fn new(period: Duration) -> Throttle {
        Throttle {
            period,
            last: None,
            held_back: 0,
        }
    }

    fn warn(&mut self, message: impl Display) {
        if self.last.is_some_and(|last| last.elapsed() < self.period) {
            self.held_back += 1;
            return;
        }
        let held_back = std::mem::take(&mut self.held_back);
        let note = if held_back > 0 {
            format!(" ({held_back} similar warnings held back)")
        } else {
            String::new()
        };
        eprintln!("cutover-sample: warning: {message}{note}");
        self.last = Some(Instant::now());
    }
}

/// Stop on SIGTERM, SIGINT or at the `--duration-s` deadline. A repeated SIGTERM changes nothing
/// (scripts may send two; the final flush or commit still runs, bounded); a second SIGINT, a
/// person pressing Ctrl-C again, exits at once.
struct Stop {
    signalled: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl Stop {
    fn install(runtime: &Runtime, duration: Option<Duration>) -> Result<Stop> {
        let _entered = runtime.enter();
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let signalled = Arc::new(AtomicBool::new(false));
        let flag = signalled.clone();
        runtime.spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = terminate.recv() => "SIGTERM",
                    _ = interrupt.recv() => "SIGINT",
                };
                let repeated = flag.swap(true, Ordering::SeqCst);
                match (repeated, name) {
                    (false, _) => eprintln!("cutover-sample: {name} received, stopping"),
                    (true, "SIGINT") => {
                        eprintln!("cutover-sample: second SIGINT, exiting at once");
                        std::process::exit(128 + 2);
                    }
                    (true, _) => eprintln!("cutover-sample: {name} again, still stopping"),
                }
            }
        });
        Ok(Stop {
            signalled,
            deadline: duration.map(|duration| Instant::now() + duration),
        })
    }

    fn requested(&self) -> bool {
        self.signalled.load(Ordering::SeqCst)
            || self
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
    }
}

/// The append-only event log, shared with the delivery callbacks, plus tallies for progress.
struct Journal {
    state: Mutex<JournalState>,
}

struct JournalState {
    file: File,
    path: PathBuf,
    per_cluster: BTreeMap<String, u64>,
    failures: u64,
    write_error: Option<String>,
}

impl Journal {
    fn open(path: &Path) -> Result<Arc<Journal>> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let state = JournalState {
            file,
            path: path.to_owned(),
            per_cluster: BTreeMap::new(),
            failures: 0,
            write_error: None,
        };
        Ok(Arc::new(Journal {
            state: Mutex::new(state),
        }))
    }

    /// Appends one line, written at once (no buffering); `tally` counts it for that cluster.
    /// Callbacks cannot fail, so a write error is kept for `check`.
    fn append(&self, line: &str, tally: Option<&str>, failure: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let text = format!("{}\n", line.replace('\n', " "));
        if let Err(error) = state.file.write_all(text.as_bytes()) {
            let message = format!("cannot write to {}: {error}", state.path.display());
            state.write_error.get_or_insert(message);
        }
        if let Some(cluster) = tally {
            *state.per_cluster.entry(cluster.to_owned()).or_default() += 1;
        }
        state.failures += u64::from(failure);
    }

    fn check(&self) -> Result<()> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &state.write_error {
            Some(message) => bail!("{message}"),
            None => Ok(()),
        }
    }

    /// Lines counted per cluster, and failures when there are any, for progress lines.
    fn tallies(&self) -> String {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match state.failures {
            0 => per_cluster(&state.per_cluster),
            failures => format!("{}, failed {failures}", per_cluster(&state.per_cluster)),
        }
    }
}

/// Producer context: logs each delivery report against the cluster the producer writes to.
struct DeliveryLog {
    cluster: String,
    journal: Arc<Journal>,
}

impl ClientContext for DeliveryLog {}

impl ProducerContext for DeliveryLog {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Box<u64>) {
        let cluster = &self.cluster;
        match result {
            Ok(message) => {
                let (topic, partition, offset) =
                    (message.topic(), message.partition(), message.offset());
                let line = format!("ack {cluster} {topic} {partition} {offset} {seq}");
                self.journal.append(&line, Some(cluster), false);
            }
            Err((error, message)) => {
                let line = format!("fail {cluster} {} {seq} {error}", message.topic());
                self.journal.append(&line, None, true);
            }
        }
    }
}

fn create_producer(cluster: &Cluster, journal: &Arc<Journal>) -> Result<BaseProducer<DeliveryLog>> {
    let context = DeliveryLog {
        cluster: cluster.bootstrap_servers.clone(),
        journal: journal.clone(),
    };
    cluster
        .client_config()
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create_with_context(context)
        .with_context(|| format!("cannot create a producer for {}", cluster.bootstrap_servers))
}

/// Spreads `rate` records per second evenly; after a stall it restarts instead of bursting.
struct Pacer {
    rate: f64,
    started: Instant,
    sent: u64,
}

impl Pacer {
    fn new(rate: u32) -> Pacer {
        Pacer {
            rate: f64::from(rate),
            started: Instant::now(),
            sent: 0,
        }
    }

    fn due(&mut self) -> u64 {
        let allowed = (self.started.elapsed().as_secs_f64() * self.rate) as u64 + 1;
        let due = allowed.saturating_sub(self.sent);
        if due as f64 > self.rate + 1.0 {
            *self = Pacer {
                rate: self.rate,
                started: Instant::now(),
                sent: 0,
            };
            return 1;
        }
        due
    }

    fn until_next(&self) -> Duration {
        let next = self.started + Duration::from_secs_f64(self.sent as f64 / self.rate);
        next.saturating_duration_since(Instant::now())
    }
}

/// The records to come: round-robin over the topics, a seq counter per topic.
struct Sequence {
    topics: Vec<String>,
    next_seq: Vec<u64>,
    next_topic: usize,
}

impl Sequence {
    /// Hands the next record to librdkafka. A record it refuses outright is logged as failed and
    /// its seq is spent; when its queue is full it waits, and gives up (seq unspent) on stop.
    fn send_next(&mut self, producer: &BaseProducer<DeliveryLog>, stop: &Stop) {
        let index = self.next_topic;
        let (topic, seq) = (&self.topics[index], self.next_seq[index]);
        let key = format!("k{}", seq % 32);
        let value = serde_json::json!({ "seq": seq, "topic": topic }).to_string();
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(seq))
            .key(key.as_str())
            .payload(value.as_str());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    if stop.requested() {
                        return;
                    }
                    record = returned;
                    producer.poll(Duration::from_millis(10));
                }
                Err((error, _)) => {
                    let cluster = &producer.context().cluster;
                    let line = format!("fail {cluster} {topic} {seq} {error}");
                    producer.context().journal.append(&line, None, true);
                    break;
                }
            }
        }
        self.next_seq[index] += 1;
        self.next_topic = (index + 1) % self.topics.len();
    }
}

fn produce(settings: &ProduceSettings, runtime: &Runtime) -> Result<Outcome> {
    let common = &settings.common;
    let journal = Journal::open(&common.log)?;
    let stop = Stop::install(runtime, common.duration)?;
    let (mut cluster, mut secret) = watch_secret(runtime, &common.secret, common.poll_interval)?;
    let (rate, topics) = (settings.rate, common.topics.join(","));
    eprintln!(
        "produce: {rate} records/s to {topics} on {}",
        cluster.bootstrap_servers
    );
    let mut producer = create_producer(&cluster, &journal)?;
    let mut sequence = Sequence {
        topics: common.topics.clone(),
        next_seq: vec![0; common.topics.len()],
        next_topic: 0,
    };
    let mut pacer = Pacer::new(rate);
    let mut last_progress = Instant::now();
    while !stop.requested() {
        journal.check()?;
        if let Some(next) = secret_flipped(&mut secret, &cluster) {
            let drained = drain_then_switch(
                producer, &cluster, &next, settings, &journal, &secret, &stop,
            )?;
            match drained {
                Drained::Switched(switched) => (producer, cluster) = (switched, next),
                Drained::Abandoned(old) => producer = old,
                Drained::Stopped(old) => {
                    producer = old;
                    break;
                }
                Drained::TimedOut(why) => return Ok(Outcome::DrainTimedOut(why)),
            }
            pacer = Pacer::new(rate);
        }
        for _ in 0..pacer.due().min(1000) {
            sequence.send_next(&producer, &stop);
            pacer.sent += 1;
        }
        producer.poll(pacer.until_next().min(Duration::from_millis(100)));
        if last_progress.elapsed() >= PROGRESS_EVERY {
            let acked = journal.tallies();
            eprintln!(
                "produce: acked {acked}; producing to {}",
                cluster.bootstrap_servers
            );
            last_progress = Instant::now();
        }
    }
    let flushed = producer.flush(settings.drain_timeout);
    eprintln!("produce: stopped; acked {}", journal.tallies());
    journal.check()?;
    flushed.with_context(|| {
        let left = producer.in_flight_count();
        format!(
            "{left} records still unacknowledged by {} at exit",
            cluster.bootstrap_servers
        )
    })?;
    Ok(Outcome::Clean)
}

enum Drained {
    Switched(BaseProducer<DeliveryLog>),
    /// The secret changed again meanwhile (a rollback): the old producer, to go on with.
    Abandoned(BaseProducer<DeliveryLog>),
    /// A stop was requested meanwhile: the old producer, to flush.
    Stopped(BaseProducer<DeliveryLog>),
    TimedOut(String),
}

/// The drain-then-switch protocol (see the module doc). One loop, a step every 200 ms: flush
/// the old producer, then compare watermarks; a stop, a change of the secret or the deadline
/// ends it early.
fn drain_then_switch(
    old_producer: BaseProducer<DeliveryLog>,
    old: &Cluster,
    new: &Cluster,
    settings: &ProduceSettings,
    journal: &Arc<Journal>,
    secret: &watch::Receiver<Cluster>,
    stop: &Stop,
) -> Result<Drained> {
    let (from, to) = (&old.bootstrap_servers, &new.bootstrap_servers);
    let started = Instant::now();
    let deadline = started + settings.drain_timeout;
    journal.append(&format!("drain {from} {to}"), None, false);
    eprintln!("produce: the secret now names {to}; draining {from} first");
    let old_reader = watermark_reader(old)?;
    let new_reader = watermark_reader(new)?;
    let mut flushed = false;
    let mut partitions = Vec::new();
    let mut quiet_since: Option<(Vec<i64>, Instant)> = None;
    let mut waiting_for = String::from("nothing read yet");
    let mut last_progress = Instant::now();
    loop {
        if stop.requested() {
            eprintln!("produce: stopped while draining {from}, before switching");
            return Ok(Drained::Stopped(old_producer));
        }
        let now_named = secret.borrow().bootstrap_servers.clone();
        if now_named != *to {
            let waited_ms = started.elapsed().as_millis();
            journal.append(&format!("abort {from} {to} {waited_ms}"), None, false);
            eprintln!("produce: the secret now names {now_named}; abandoning the move to {to}");
            return Ok(Drained::Abandoned(old_producer));
        }
        if Instant::now() >= deadline {
            let seconds = settings.drain_timeout.as_secs();
            return Ok(Drained::TimedOut(format!(
                "drain timed out after {seconds} s, moving from {from} to {to}: {waiting_for}; \
                 not switching"
            )));
        }
        if !flushed {
            // Bounded by the step: flush returns an error while records are outstanding.
            flushed = old_producer.flush(WATERMARK_POLL).is_ok();
            let left = old_producer.in_flight_count();
            waiting_for = format!("{left} records still unacknowledged by {from}");
        } else {
            let topics = &settings.common.topics;
            match compare_watermarks(&old_reader, &new_reader, topics, &mut partitions) {
                Ok((old_highs, lagging)) => {
                    if quiet_since
                        .as_ref()
                        .is_none_or(|(highs, _)| *highs != old_highs)
                    {
                        quiet_since = Some((old_highs, Instant::now()));
                    }
                    let quiet_for = quiet_since
                        .as_ref()
                        .map_or(Duration::ZERO, |q| q.1.elapsed());
                    if lagging.is_empty() && quiet_for >= 2 * settings.common.poll_interval {
                        break;
                    }
                    waiting_for = match lagging.first() {
                        Some(first) => format!("{} partitions behind, e.g. {first}", lagging.len()),
                        None => format!("{from} quiet for only {} ms", quiet_for.as_millis()),
                    };
                }
                Err(error) => waiting_for = format!("{error:#}"),
            }
            std::thread::sleep(WATERMARK_POLL);
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            eprintln!("produce: draining {from} into {to}: {waiting_for}");
            last_progress = Instant::now();
        }
    }
    drop(old_producer);
    let producer = create_producer(new, journal)?;
    let waited_ms = started.elapsed().as_millis();
    journal.append(&format!("switch {from} {to} {waited_ms}"), None, false);
    eprintln!("produce: switched from {from} to {to} after {waited_ms} ms");
    Ok(Drained::Switched(producer))
}

/// A client that only reads watermarks and metadata; it never joins the group.
fn watermark_reader(cluster: &Cluster) -> Result<BaseConsumer> {
    cluster
        .client_config()
        .set("group.id", "cutover-sample-drain")
        .set("enable.auto.commit", "false")
        .create()
        .with_context(|| format!("cannot create a client for {}", cluster.bootstrap_servers))
}

/// The old cluster's high watermarks, in `partitions` order, and the partitions where the new
/// cluster is behind (described). Lists the partitions from the old cluster's metadata once.
fn compare_watermarks(
    old: &BaseConsumer,
    new: &BaseConsumer,
    topics: &[String],
    partitions: &mut Vec<(String, i32)>,
) -> Result<(Vec<i64>, Vec<String>)> {
    let timeout = Duration::from_secs(5);
    if partitions.is_empty() {
        for topic in topics {
            let metadata = old
                .fetch_metadata(Some(topic), timeout)
                .context("cannot read the old cluster's metadata")?;
            let found = metadata.topics().iter().find(|t| t.name() == topic);
            match found {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                    partitions.extend(t.partitions().iter().map(|p| (topic.clone(), p.id())));
                }
                _ => bail!("topic {topic} is not readable on the old cluster"),
            }
        }
    }
    let mut old_highs = Vec::with_capacity(partitions.len());
    let mut lagging = Vec::new();
    for (topic, partition) in partitions.iter() {
        let (_, old_high) = old
            .fetch_watermarks(topic, *partition, timeout)
            .with_context(|| format!("cannot read {topic}/{partition} on the old cluster"))?;
        let (_, new_high) = new
            .fetch_watermarks(topic, *partition, timeout)
            .with_context(|| format!("cannot read {topic}/{partition} on the new cluster"))?;
        if new_high < old_high {
            lagging.push(format!("{topic}/{partition} at {new_high} of {old_high}"));
        }
        old_highs.push(old_high);
    }
    Ok((old_highs, lagging))
}

/// Consumer context: commits the stored offsets before partitions are revoked, so the next
/// owner does not receive the records this member already logged.
struct GroupMember;

impl ClientContext for GroupMember {}

impl ConsumerContext for GroupMember {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if !matches!(rebalance, Rebalance::Revoke(_)) {
            return;
        }
        if let Err(error) = commit_stored(consumer, CommitMode::Sync) {
            eprintln!("consume: warning: commit before rebalance failed: {error}");
        }
    }
}

/// Commits the stored offsets; "no offset stored" means everything is already committed.
fn commit_stored(consumer: &BaseConsumer<GroupMember>, mode: CommitMode) -> KafkaResult<()> {
    match consumer.commit_consumer_state(mode) {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        other => other,
    }
}

fn subscribe(
    cluster: &Cluster,
    group: &str,
    topics: &[String],
) -> Result<BaseConsumer<GroupMember>> {
    let consumer: BaseConsumer<GroupMember> = cluster
        .client_config()
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create_with_context(GroupMember)
        .with_context(|| format!("cannot create a consumer for {}", cluster.bootstrap_servers))?;
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).with_context(|| {
        format!(
            "cannot subscribe to {} on {}",
            topics.join(","),
            cluster.bootstrap_servers
        )
    })?;
    Ok(consumer)
}

fn consume(settings: &Settings, group: &str, runtime: &Runtime) -> Result<()> {
    let journal = Journal::open(&settings.log)?;
    let stop = Stop::install(runtime, settings.duration)?;
    let (mut cluster, mut secret) =
        watch_secret(runtime, &settings.secret, settings.poll_interval)?;
    eprintln!(
        "consume: group {group} on {} from {}",
        settings.topics.join(","),
        cluster.bootstrap_servers
    );
    let mut consumer = subscribe(&cluster, group, &settings.topics)?;
    let mut warnings = Throttle::new(Duration::from_secs(10));
    let mut stored_since_commit = false;
    let mut last_commit = Instant::now();
    let mut last_progress = Instant::now();
    while !stop.requested() {
        journal.check()?;
        if let Some(next) = secret_flipped(&mut secret, &cluster) {
            let (from, to) = (&cluster.bootstrap_servers, &next.bootstrap_servers);
            if let Err(error) = commit_stored(&consumer, CommitMode::Sync) {
                eprintln!("consume: warning: commit before switching failed: {error}");
            }
            consumer.unsubscribe();
            drop(consumer);
            consumer = subscribe(&next, group, &settings.topics)?;
            journal.append(&format!("switch {from} {to} 0"), None, false);
            eprintln!("consume: switched from {from} to {to}");
            cluster = next;
            stored_since_commit = false;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let seq = message
                    .payload()
                    .and_then(|payload| serde_json::from_slice::<serde_json::Value>(payload).ok())
                    .and_then(|value| value.get("seq").and_then(|seq| seq.as_u64()))
                    .map_or_else(|| "?".to_owned(), |seq| seq.to_string());
                let (topic, partition, offset) =
                    (message.topic(), message.partition(), message.offset());
                let line = format!(
                    "recv {} {topic} {partition} {offset} {seq}",
                    cluster.bootstrap_servers
                );
                journal.append(&line, Some(&cluster.bootstrap_servers), false);
                match consumer.store_offset_from_message(&message) {
                    Ok(()) => stored_since_commit = true,
                    Err(error) => warnings.warn(format_args!(
                        "cannot store offset {topic}/{partition}@{offset}: {error}"
                    )),
                }
            }
            Some(Err(error)) => warnings.warn(format_args!("consumer: {error}")),
            None => {}
        }
        if stored_since_commit && last_commit.elapsed() >= COMMIT_EVERY {
            if let Err(error) = commit_stored(&consumer, CommitMode::Async) {
                warnings.warn(format_args!("commit failed: {error}"));
            }
            stored_since_commit = false;
            last_commit = Instant::now();
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            eprintln!(
                "consume: received {}; consuming from {}",
                journal.tallies(),
                cluster.bootstrap_servers
            );
            last_progress = Instant::now();
        }
    }
    let committed = commit_stored(&consumer, CommitMode::Sync);
    eprintln!("consume: stopped; received {}", journal.tallies());
    journal.check()?;
    committed.context("the final commit failed")
}

/// What `report` gathers from the two logs.
#[derive(Default)]
struct Tally {
    acked_per_cluster: BTreeMap<String, u64>,
    acked: BTreeSet<(String, u64)>,
    failures: u64,
    received_per_cluster: BTreeMap<String, u64>,
    received: BTreeMap<(String, u64), u64>,
    switches: Vec<String>,
    abandoned_drains: Vec<String>,
    unreadable_lines: u64,
}

impl Tally {
    fn read(&mut self, path: &Path, role: &str) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let fields: Vec<&str> = line.split(' ').collect();
            let seq = fields.get(5).and_then(|seq| seq.parse::<u64>().ok());
            match (fields.as_slice(), seq) {
                (["ack", cluster, topic, _, _, _], Some(seq)) => {
                    count(&mut self.acked_per_cluster, cluster.to_string());
                    self.acked.insert((topic.to_string(), seq));
                }
                (["fail", _, _, _, ..], _) => self.failures += 1,
                (["recv", cluster, topic, _, _, _], Some(seq)) => {
                    count(&mut self.received_per_cluster, cluster.to_string());
                    count(&mut self.received, (topic.to_string(), seq));
                }
                (["switch", from, to, waited_ms], _) => {
                    let switch = format!("{role}: {from} -> {to} after {waited_ms} ms");
                    self.switches.push(switch);
                }
                (["abort", from, to, waited_ms], _) => {
                    let abort = format!("{role}: {from} -> {to} abandoned after {waited_ms} ms");
                    self.abandoned_drains.push(abort);
                }
                (["drain", _, _], _) => {}
                _ => self.unreadable_lines += 1,
            }
        }
        Ok(())
    }
}

fn count<K: Ord>(counts: &mut BTreeMap<K, u64>, key: K) {
    *counts.entry(key).or_default() += 1;
}

fn per_cluster(counts: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = counts
        .iter()
        .map(|(cluster, n)| format!("{cluster}={n}"))
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(" ")
    }
}

impl Tally {
    fn of(args: &ReportArgs) -> Result<Tally> {
        let mut tally = Tally::default();
        tally.read(&args.producer_log, "producer")?;
        tally.read(&args.consumer_log, "consumer")?;
        Ok(tally)
    }

    /// Acknowledged records the consumer has not received.
    fn missing(&self) -> Vec<&(String, u64)> {
        self.acked
            .iter()
            .filter(|key| !self.received.contains_key(*key))
            .collect()
    }
}

/// Polls the two logs until nothing acknowledged is missing from the consumer's, or the
/// timeout passes. The producer must have stopped (its log is final); the consumer keeps
/// running and appending.
fn wait_consumed(args: &WaitConsumedArgs) -> Result<Outcome> {
    let started = Instant::now();
    let timeout = Duration::from_secs(args.timeout_s);
    let mut last_progress = Instant::now();
    loop {
        let tally = Tally::of(&args.logs)?;
        let missing = tally.missing();
        if missing.is_empty() {
            eprintln!(
                "wait-consumed: the consumers have read all {} acknowledged records ({:.1}s)",
                tally.acked.len(),
                started.elapsed().as_secs_f64()
            );
            return Ok(Outcome::Clean);
        }
        if started.elapsed() >= timeout {
            eprintln!(
                "wait-consumed: after {}s the consumers still lack {} of {} acknowledged records (first: {}); is the consumer group still running and reading the cluster the producer wrote to last?",
                args.timeout_s,
                missing.len(),
                tally.acked.len(),
                missing
                    .iter()
                    .take(3)
                    .map(|(topic, seq)| format!("{topic} seq {seq}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Ok(Outcome::ProblemsFound);
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            eprintln!(
                "wait-consumed: {} of {} acknowledged records not read yet",
                missing.len(),
                tally.acked.len()
            );
            last_progress = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn report(args: &ReportArgs) -> Result<Outcome> {
    let tally = Tally::of(args)?;
    let duplicates: Vec<_> = tally
        .received
        .iter()
        .filter(|(_, times)| **times > 1)
        .collect();
    let missing = tally.missing();
    let mut distinct_per_topic: BTreeMap<&str, u64> = BTreeMap::new();
    for (topic, _) in tally.received.keys() {
        count(&mut distinct_per_topic, topic);
    }
    let received: u64 = tally.received_per_cluster.values().sum();
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "produced:   {} acknowledged ({})",
        tally.acked.len(),
        per_cluster(&tally.acked_per_cluster)
    )?;
    writeln!(out, "failed:     {} (never acknowledged)", tally.failures)?;
    writeln!(
        out,
        "consumed:   {received} ({})",
        per_cluster(&tally.received_per_cluster)
    )?;
    for (topic, distinct) in &distinct_per_topic {
        writeln!(out, "  {topic}: {distinct} distinct seqs")?;
    }
    writeln!(
        out,
        "missing:    {} (acknowledged, never consumed)",
        missing.len()
    )?;
    for (topic, seq) in missing.iter().take(10) {
        writeln!(out, "  {topic} seq {seq}")?;
    }
    writeln!(
        out,
        "duplicated: {} (consumed more than once)",
        duplicates.len()
    )?;
    for ((topic, seq), times) in duplicates.iter().take(10) {
        writeln!(out, "  {topic} seq {seq} consumed {times} times")?;
    }
    writeln!(out, "switches:   {}", tally.switches.len())?;
    for switch in &tally.switches {
        writeln!(out, "  {switch}")?;
    }
    if !tally.abandoned_drains.is_empty() {
        writeln!(out, "abandoned:  {}", tally.abandoned_drains.len())?;
        for abort in &tally.abandoned_drains {
            writeln!(out, "  {abort}")?;
        }
    }
    if tally.unreadable_lines > 0 {
        writeln!(out, "skipped {} unreadable lines", tally.unreadable_lines)?;
    }
    let clean = duplicates.is_empty() && missing.is_empty();
    Ok(if clean {
        Outcome::Clean
    } else {
        Outcome::ProblemsFound
    })
}
