//! Addresses of the local environment (`scripts/env`), AWS clients pointed at moto, and
//! helpers for unique names so tests can run repeatedly against long-lived services.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

fn port(variable: &str, default: u16) -> u16 {
    match std::env::var(variable) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{variable}={value:?} is not a port number")),
        Err(_) => default,
    }
}

/// An address from `.run/env.sh` (written by `scripts/env up`), else built from the port
/// variables the script reads, else the script's default port.
fn address(exported: &str, port_variable: &str, default_port: u16) -> String {
    std::env::var(exported)
        .unwrap_or_else(|_| format!("127.0.0.1:{}", port(port_variable, default_port)))
}

/// The legacy source: Kafka 3.9 in ZooKeeper mode.
pub fn legacy_bootstrap() -> String {
    address("CUTOVER_LEGACY_BOOTSTRAP", "CUTOVER_LEGACY_PORT", 19092)
}

/// The MSK-like target: Kafka 4.3 in KRaft mode, plaintext listener.
pub fn target_bootstrap() -> String {
    address("CUTOVER_TARGET_BOOTSTRAP", "CUTOVER_TARGET_PORT", 29092)
}

pub fn moto_endpoint() -> String {
    std::env::var("CUTOVER_MOTO_ENDPOINT")
        .unwrap_or_else(|_| format!("http://127.0.0.1:{}", port("CUTOVER_MOTO_PORT", 15000)))
}

/// A name no other test run has used: prefix, process id, time and a counter.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{millis}-{count}", std::process::id())
}

/// AWS SDK configuration for the local moto server, with dummy credentials.
pub async fn aws_config() -> aws_config::SdkConfig {
    let credentials =
        aws_sdk_secretsmanager::config::Credentials::new("testing", "testing", None, None, "tests");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .load()
        .await
}

/// A scratch configuration directory driven through the `cutover` binary.
pub struct Workspace {
    pub dir: std::path::PathBuf,
}

/// The state key tests run with (hex, 32 bytes).
pub const STATE_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

impl Workspace {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_name(&format!("cutover-{name}")));
        std::fs::create_dir_all(&dir).expect("create workspace");
        Workspace { dir }
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).expect("write workspace file");
    }

    /// Runs the binary; returns (exit code, stdout + stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String) {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(args)
            .current_dir(&self.dir)
            .env("CUTOVER_STATE_KEY", STATE_KEY)
            .env("NO_COLOR", "1")
            .output()
            .expect("run cutover");
        (
            output.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    }

    /// Runs the binary and expects `code`, showing the output otherwise.
    pub fn expect(&self, args: &[&str], code: i32) -> String {
        let (actual, output) = self.run(args);
        assert_eq!(actual, code, "cutover {args:?} exited {actual}:\n{output}");
        output
    }

    pub fn state_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("cutover.state.json")).unwrap_or_default()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// How long test helpers wait on a broker.
pub const KAFKA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A partition's log start and end offsets.
pub fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> (i64, i64) {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    consumer
        .fetch_watermarks(topic, partition, KAFKA_TIMEOUT)
        .expect("watermarks")
}

/// Writes `count` records (`PREFIX-i` as key and value) to partition 0 of `topic` in one
/// transaction, flushed before it commits or aborts (so aborted records take offsets too).
pub fn transaction(
    producer: &rdkafka::producer::BaseProducer,
    topic: &str,
    prefix: &str,
    count: usize,
    commit: bool,
) {
    use rdkafka::producer::{BaseRecord, Producer as _};
    producer.begin_transaction().expect("begin");
    for index in 0..count {
        let key = format!("{prefix}-{index}");
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to(topic)
            .partition(0)
            .key(key.as_str())
            .payload(key.as_str());
        // Bounded by the producer's queue draining.
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    producer.poll(std::time::Duration::from_millis(10));
                }
            }
        }
    }
    // Written (and so given offsets) before the transaction ends.
    producer.flush(KAFKA_TIMEOUT).expect("flush");
    if commit {
        producer.commit_transaction(KAFKA_TIMEOUT).expect("commit");
    } else {
        producer.abort_transaction(KAFKA_TIMEOUT).expect("abort");
    }
}
