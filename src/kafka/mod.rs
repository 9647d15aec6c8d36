//! Kafka clients: a `cluster` block's settings turned into librdkafka clients (connection,
//! MSK IAM tokens), ZooKeeper for 0.8-era brokers, and the admin helpers shared by the
//! providers, the mirror and the assertions, with the measurements several of them read
//! (partition extents, traffic). Knows nothing of the engine or the providers.

pub mod acl;
pub mod admin;
pub mod connection;
pub mod extent;
pub mod iam;
pub mod schema;
pub mod traffic;
pub mod zookeeper;
