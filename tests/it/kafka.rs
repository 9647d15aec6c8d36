//! Kafka providers against the local brokers (needs `scripts/env up`).
