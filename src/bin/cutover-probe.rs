//! `cutover-probe`: the load and latency probe of `scripts/bench-mirror`, on librdkafka (the
//! same client, and the same producer settings, as the embedded mirror).
//!
//! - `produce`: N records from K producers in parallel (one librdkafka instance per thread),
//!   as fast as the broker takes them or at a given rate; `--compactable` writes every second
//!   key twice (the log cleaner then removes one record in three), `--transactional` writes
//!   transactions of `--transaction-records` over the partitions, every `--abort-every`th
//!   aborted, until N records are committed.
//! - `consume`: reads a topic from its start to its end offsets with K consumers in parallel
//!   (disjoint partitions, no group), and counts the gaps in the offsets (compaction,
//!   transaction markers, aborted records).
//! - `latency`: a producer stamps each record with its send time at a fixed rate into the
//!   source; a consumer on the target reads the copies and reports send-to-visible delays.
//!
//! Results go to stdout as one line of `key=value` fields (for the benchmark's awk), progress
//! and errors to stderr. Exit codes: 0 success, 1 error.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);
/// The first bytes of a latency record: the magic, then the send time in microseconds.
const STAMP_MAGIC: &[u8; 4] = b"CUTP";

#[derive(Parser)]
#[command(
    name = "cutover-probe",
    about = "Load and latency probe for scripts/bench-mirror"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write records with several producers in parallel
    Produce(ProduceArgs),
    /// Read a topic to its end with several consumers in parallel
    Consume(ConsumeArgs),
    /// Source-append-to-target-visibility latency through a running mirror
    Latency(LatencyArgs),
}

#[derive(Args, Clone)]
struct Connection {
    #[arg(long)]
    bootstrap: String,
    /// "0.8.2" for a broker without ApiVersions (no idempotence, no transactions)
    #[arg(long)]
    broker_version: Option<String>,
}

#[derive(Args)]
struct ProduceArgs {
    #[command(flatten)]
    connection: Connection,
    #[arg(long)]
    topic: String,
    /// Records to write (committed records with --transactional; distinct keys with --compactable)
    #[arg(long)]
    records: u64,
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Producers in parallel
    #[arg(long, default_value_t = 1)]
    threads: u64,
    /// The producer's compression (the mirror's default is lz4)
    #[arg(long, default_value = "lz4")]
    compression: String,
    /// Every second key written twice, so that compaction leaves gaps
    #[arg(long)]
    compactable: bool,
    /// Transactions over the partitions, some aborted
    #[arg(long)]
    transactional: bool,
    #[arg(long, default_value_t = 50)]
    transaction_records: u64,
    #[arg(long, default_value_t = 10)]
    abort_every: u64,
}

#[derive(Args)]
struct ConsumeArgs {
    #[command(flatten)]
    connection: Connection,
    #[arg(long)]
    topic: String,
    /// Consumers in parallel (the partitions are divided among them)
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// read_committed or read_uncommitted
    #[arg(long, default_value = "read_committed")]
    isolation: String,
}

#[derive(Args)]
struct LatencyArgs {
    /// The mirror's source
    #[arg(long)]
    source: String,
    #[arg(long)]
    source_broker_version: Option<String>,
    /// The mirror's target
    #[arg(long)]
    target: String,
    #[arg(long)]
    topic: String,
    /// Records per second into the source
    #[arg(long)]
    rate: u64,
    #[arg(long, default_value_t = 1024)]
    size: usize,
    #[arg(long, default_value_t = 30)]
    duration_s: u64,
    /// Delays of records sent in the first seconds are left out
    #[arg(long, default_value_t = 3)]
    warmup_s: u64,
    /// How long to wait for the last records on the target
    #[arg(long, default_value_t = 15)]
    grace_s: u64,
    #[arg(long, default_value = "read_committed")]
    isolation: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Produce(args) => produce(&args),
        Command::Consume(args) => consume(&args),
        Command::Latency(args) => latency(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_old(version: Option<&str>) -> bool {
    version.is_some_and(|v| v.starts_with("0."))
}

fn client_config(connection: &Connection) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &connection.bootstrap);
    if let Some(version) = &connection.broker_version {
        config
            .set("api.version.request", "false")
            .set("broker.version.fallback", version);
    }
    config
}

/// The embedded mirror's producer: acks=all, idempotence, lz4, linger 20 ms, 1 MiB batches,
/// 64 MB buffered (a 0.8.2 broker gets neither idempotence nor 1 MiB wrapper messages, which
/// exceed its default message.max.bytes).
fn producer_config(connection: &Connection, compression: &str) -> ClientConfig {
    let mut config = client_config(connection);
    config
        .set("acks", "all")
        .set("compression.type", compression)
        .set("linger.ms", "20")
        .set("queue.buffering.max.kbytes", "65536")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.timeout.ms", "120000");
    if is_old(connection.broker_version.as_deref()) {
        config.set("batch.size", "900000");
    } else {
        config
            .set("enable.idempotence", "true")
            .set("batch.size", "1048576");
    }
    config
}

/// Counts deliveries and remembers the first failure.
#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failure: Mutex<Option<String>>,
    /// For the latency producer: send-to-ack delays in microseconds.
    ack_delays: Mutex<Option<Vec<u64>>>,
    /// Records sent before this time (microseconds) are left out of `ack_delays` (warm-up).
    ack_delays_after: u64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                let mut delays = self.ack_delays.lock().unwrap_or_else(|e| e.into_inner());
                let sent = message.payload().and_then(stamp_of);
                let after_warmup = sent.filter(|sent| *sent >= self.ack_delays_after);
                if let (Some(delays), Some(sent)) = (delays.as_mut(), after_warmup) {
                    delays.push(now_micros().saturating_sub(sent));
                }
            }
            Err((error, _)) => {
                let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
                failure.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Random uppercase letters, as Kafka's ProducerPerformance writes (lz4 gains little on them).
fn payload(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'A' + (state % 26) as u8
        })
        .collect()
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn stamp_of(payload: &[u8]) -> Option<u64> {
    if payload.len() >= 12 && &payload[..4] == STAMP_MAGIC {
        Some(u64::from_be_bytes(payload[4..12].try_into().ok()?))
    } else {
        None
    }
}

/// Sends one record, polling the producer while its queue is full.
fn send_record(
    producer: &BaseProducer<Deliveries>,
    mut record: BaseRecord<'_, [u8], [u8], ()>,
) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                producer.poll(Duration::from_millis(5));
            }
            Err((error, _)) => bail!("send: {error}"),
        }
    }
}

fn check_failure(context: &Deliveries) -> Result<()> {
    let failure = context.failure.lock().unwrap_or_else(|e| e.into_inner());
    match failure.as_ref() {
        Some(failure) => bail!("a record was not delivered: {failure}"),
        None => Ok(()),
    }
}

fn partition_count(connection: &Connection, topic: &str) -> Result<i32> {
    let consumer: BaseConsumer = client_config(connection)
        .create()
        .context("a metadata client")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .with_context(|| format!("metadata of {topic}"))?;
    let count = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len());
    if count == 0 {
        bail!("the topic {topic} has no partitions (does it exist?)");
    }
    Ok(count as i32)
}

fn produce(args: &ProduceArgs) -> Result<()> {
    if args.transactional && is_old(args.connection.broker_version.as_deref()) {
        bail!(
            "a {} broker has no transactions",
            args.connection.broker_version.as_deref().unwrap_or("old")
        );
    }
    let partitions = partition_count(&args.connection, &args.topic)?;
    let threads = args.threads.max(1);
    let started = Instant::now();
    let written = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|thread_index| {
            let (connection, topic, compression) = (
                args.connection.clone(),
                args.topic.clone(),
                args.compression.clone(),
            );
            let share = args.records / threads + u64::from(thread_index < args.records % threads);
            let first = (0..thread_index)
                .map(|i| args.records / threads + u64::from(i < args.records % threads))
                .sum::<u64>();
            let (size, compactable, transactional) =
                (args.size, args.compactable, args.transactional);
            let (transaction_records, abort_every) =
                (args.transaction_records.max(1), args.abort_every);
            let written = written.clone();
            thread::spawn(move || -> Result<u64> {
                let mut config = producer_config(&connection, &compression);
                if transactional {
                    config.set("transaction.timeout.ms", "120000").set(
                        "transactional.id",
                        format!(
                            "cutover-probe-{}-{thread_index}-{}",
                            topic,
                            std::process::id()
                        ),
                    );
                }
                let producer: BaseProducer<Deliveries> = config
                    .create_with_context(Deliveries::default())
                    .context("a producer")?;
                // A few distinct payloads, so that the payload is not the same in every record.
                let payloads: Vec<Vec<u8>> = (0..16)
                    .map(|i| payload(size, thread_index * 16 + i + 1))
                    .collect();
                if transactional {
                    producer
                        .init_transactions(TIMEOUT)
                        .context("init_transactions")?;
                    let (mut committed, mut transaction, mut sequence) = (0u64, 0u64, 0u64);
                    while committed < share {
                        transaction += 1;
                        let abort = abort_every > 0 && transaction % abort_every == 0;
                        let count = if abort {
                            transaction_records
                        } else {
                            transaction_records.min(share - committed)
                        };
                        producer.begin_transaction().context("begin_transaction")?;
                        for _ in 0..count {
                            let partition = (sequence % partitions as u64) as i32;
                            let key = format!("t{thread_index}-{sequence}");
                            let value = &payloads[(sequence % 16) as usize];
                            send_record(
                                &producer,
                                BaseRecord::to(&topic)
                                    .partition(partition)
                                    .key(key.as_bytes())
                                    .payload(value.as_slice()),
                            )?;
                            sequence += 1;
                            producer.poll(Duration::ZERO);
                        }
                        // Every record reaches the log first (an aborted transaction's
                        // records are the gaps this shape exists for); a BaseProducer must
                        // be polled for its delivery reports before commit or abort.
                        producer.flush(TIMEOUT).context("flush")?;
                        if abort {
                            producer
                                .abort_transaction(TIMEOUT)
                                .context("abort_transaction")?;
                        } else {
                            producer
                                .commit_transaction(TIMEOUT)
                                .context("commit_transaction")?;
                            committed += count;
                            written.fetch_add(count, Ordering::Relaxed);
                        }
                    }
                    check_failure(producer.context())?;
                    return Ok(sequence);
                }
                let mut sent = 0u64;
                for index in first..first + share {
                    let value = &payloads[(index % 16) as usize];
                    let key = format!("k{index}");
                    let copies = if compactable && index % 2 == 1 { 2 } else { 1 };
                    for _ in 0..copies {
                        let record = if compactable {
                            BaseRecord::to(&topic)
                                .key(key.as_bytes())
                                .payload(value.as_slice())
                        } else {
                            BaseRecord::to(&topic).payload(value.as_slice())
                        };
                        send_record(&producer, record)?;
                        sent += 1;
                    }
                    if index % 1024 == 0 {
                        producer.poll(Duration::ZERO);
                    }
                }
                producer.flush(Duration::from_secs(300)).context("flush")?;
                check_failure(producer.context())?;
                written.fetch_add(share, Ordering::Relaxed);
                Ok(sent)
            })
        })
        .collect();
    let mut sent = 0;
    for handle in handles {
        sent += handle
            .join()
            .map_err(|_| anyhow::anyhow!("a producer thread panicked"))??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let records = written.load(Ordering::Relaxed);
    println!(
        "produced records={records} sent={sent} bytes={} seconds={seconds:.3} rate={:.0} mbps={:.1} producers={threads}",
        sent * args.size as u64,
        sent as f64 / seconds,
        sent as f64 * args.size as f64 / seconds / 1e6
    );
    Ok(())
}

fn consumer_config(connection: &Connection, isolation: &str) -> ClientConfig {
    let mut config = client_config(connection);
    config
        .set("group.id", "cutover-probe")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "1048576")
        .set("queued.max.messages.kbytes", "65536");
    if !is_old(connection.broker_version.as_deref()) {
        config.set("isolation.level", isolation);
    }
    config
}

#[derive(Default)]
struct Scan {
    records: u64,
    bytes: u64,
    gaps: u64,
    first_offset_gaps: u64,
}

fn consume(args: &ConsumeArgs) -> Result<()> {
    let partitions = partition_count(&args.connection, &args.topic)?;
    let threads = args.threads.clamp(1, partitions as usize);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|thread_index| {
            let (connection, topic, isolation) = (
                args.connection.clone(),
                args.topic.clone(),
                args.isolation.clone(),
            );
            thread::spawn(move || -> Result<Scan> {
                let consumer: BaseConsumer<DefaultConsumerContext> =
                    consumer_config(&connection, &isolation)
                        .create()
                        .context("a consumer")?;
                let mine: Vec<i32> = (0..partitions)
                    .filter(|p| *p as usize % threads == thread_index)
                    .collect();
                let mut list = TopicPartitionList::new();
                let mut next = std::collections::HashMap::new();
                let mut open = std::collections::HashSet::new();
                for &partition in &mine {
                    let (low, high) = consumer
                        .fetch_watermarks(&topic, partition, TIMEOUT)
                        .context("watermarks")?;
                    if high > low {
                        list.add_partition_offset(&topic, partition, Offset::Beginning)?;
                        next.insert(partition, low);
                        open.insert(partition);
                    }
                }
                let mut scan = Scan::default();
                if open.is_empty() {
                    return Ok(scan);
                }
                consumer.assign(&list).context("assign")?;
                let mut idle_since = Instant::now();
                while !open.is_empty() {
                    match consumer.poll(Duration::from_millis(500)) {
                        Some(Ok(message)) => {
                            let partition = message.partition();
                            let expected =
                                next.get(&partition).copied().unwrap_or(message.offset());
                            if message.offset() != expected {
                                scan.gaps += 1;
                                if scan.records == 0 {
                                    scan.first_offset_gaps += 1;
                                }
                            }
                            next.insert(partition, message.offset() + 1);
                            scan.records += 1;
                            scan.bytes += (message.payload_len()
                                + message.key().map_or(0, <[u8]>::len))
                                as u64;
                            idle_since = Instant::now();
                        }
                        Some(Err(KafkaError::PartitionEOF(partition))) => {
                            open.remove(&partition);
                        }
                        Some(Err(error)) => bail!("consume: {error}"),
                        None if idle_since.elapsed() > Duration::from_secs(60) => {
                            bail!(
                                "no records for 60 s, {} partitions not at their end",
                                open.len()
                            )
                        }
                        None => {}
                    }
                }
                Ok(scan)
            })
        })
        .collect();
    let mut total = Scan::default();
    for handle in handles {
        let scan = handle
            .join()
            .map_err(|_| anyhow::anyhow!("a consumer thread panicked"))??;
        total.records += scan.records;
        total.bytes += scan.bytes;
        total.gaps += scan.gaps;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "consumed records={} bytes={} gaps={} seconds={seconds:.3} rate={:.0} mbps={:.1} consumers={threads}",
        total.records,
        total.bytes,
        total.gaps,
        total.records as f64 / seconds,
        total.bytes as f64 / seconds / 1e6
    );
    Ok(())
}

fn percentile(sorted: &[u64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index] as f64 / 1000.0
}

fn latency(args: &LatencyArgs) -> Result<()> {
    if args.size < 12 {
        bail!("--size must be at least 12 (the stamp)");
    }
    let source = Connection {
        bootstrap: args.source.clone(),
        broker_version: args.source_broker_version.clone(),
    };
    let target = Connection {
        bootstrap: args.target.clone(),
        broker_version: None,
    };
    let partitions = partition_count(&target, &args.topic)?;

    // The consumer first, at the target's end offsets, so that every stamped record is seen.
    let mut consumer_cfg = consumer_config(&target, &args.isolation);
    consumer_cfg
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "10")
        .set("fetch.min.bytes", "1");
    let consumer: BaseConsumer<DefaultConsumerContext> =
        consumer_cfg.create().context("a target consumer")?;
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        let (_, high) = consumer.fetch_watermarks(&args.topic, partition, TIMEOUT)?;
        list.add_partition_offset(&args.topic, partition, Offset::Offset(high))?;
    }
    consumer.assign(&list)?;

    let done_producing = Arc::new(AtomicBool::new(false));
    let sent_so_far = Arc::new(AtomicU64::new(0));
    let started_micros = now_micros();
    let warmup_end = started_micros + args.warmup_s * 1_000_000;
    let producer_thread = {
        let (topic, done, counter, rate, size, duration) = (
            args.topic.clone(),
            done_producing.clone(),
            sent_so_far.clone(),
            args.rate.max(1),
            args.size,
            Duration::from_secs(args.duration_s),
        );
        thread::spawn(move || -> Result<(u64, Vec<u64>)> {
            // The stamp is the send time: no linger, so that it is the time of the source append
            // within the producer's round trip (reported separately as send-to-ack).
            let mut config = producer_config(&source, "lz4");
            config.set("linger.ms", "0");
            let context = Deliveries {
                ack_delays: Mutex::new(Some(Vec::new())),
                ack_delays_after: warmup_end,
                ..Deliveries::default()
            };
            let producer: BaseProducer<Deliveries> = config
                .create_with_context(context)
                .context("a source producer")?;
            let mut value = payload(size, 7);
            value[..4].copy_from_slice(STAMP_MAGIC);
            let begin = Instant::now();
            let mut sent = 0u64;
            while begin.elapsed() < duration {
                let due = (begin.elapsed().as_secs_f64() * rate as f64) as u64;
                while sent < due {
                    value[4..12].copy_from_slice(&now_micros().to_be_bytes());
                    send_record(&producer, BaseRecord::to(&topic).payload(value.as_slice()))?;
                    sent += 1;
                }
                counter.store(sent, Ordering::SeqCst);
                producer.poll(Duration::from_millis(1));
            }
            producer.flush(TIMEOUT).context("flush")?;
            check_failure(producer.context())?;
            done.store(true, Ordering::SeqCst);
            let delays = producer
                .context()
                .ack_delays
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default();
            Ok((sent, delays))
        })
    };

    let mut delays = Vec::new();
    let mut received = 0u64;
    let mut grace_deadline: Option<Instant> = None;
    loop {
        if done_producing.load(Ordering::SeqCst) && grace_deadline.is_none() {
            grace_deadline = Some(Instant::now() + Duration::from_secs(args.grace_s));
        }
        // Done: every stamped record seen, or the grace period over, or the producer failed.
        let all_seen =
            done_producing.load(Ordering::SeqCst) && received >= sent_so_far.load(Ordering::SeqCst);
        if all_seen
            || grace_deadline.is_some_and(|deadline| Instant::now() > deadline)
            || producer_thread.is_finished() && !done_producing.load(Ordering::SeqCst)
        {
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                if let Some(sent) = message.payload().and_then(stamp_of) {
                    received += 1;
                    if sent >= warmup_end {
                        delays.push(now_micros().saturating_sub(sent));
                    }
                }
            }
            Some(Err(error)) => bail!("consume from the target: {error}"),
            None => {}
        }
    }
    let (sent, mut ack_delays) = producer_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the producer thread panicked"))??;
    delays.sort_unstable();
    ack_delays.sort_unstable();
    println!(
        "latency sent={sent} received={received} measured={} rate={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} ack_p50_ms={:.1} ack_p99_ms={:.1}",
        delays.len(),
        args.rate,
        percentile(&delays, 0.50),
        percentile(&delays, 0.99),
        delays.last().map_or(f64::NAN, |d| *d as f64 / 1000.0),
        percentile(&ack_delays, 0.50),
        percentile(&ack_delays, 0.99),
    );
    if received < sent {
        bail!(
            "{} of {sent} stamped records did not reach the target within {} s of the last send",
            sent - received,
            args.grace_s
        );
    }
    Ok(())
}
