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
