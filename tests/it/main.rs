//! The one integration-test binary. Each module is a feature; tests that need the local
//! environment (brokers, moto) expect `scripts/env up` to have run (`scripts/test` does it).

mod acls;
mod architecture;
mod aws;
mod cli;
mod connect;
mod docs;
mod e2e;
mod engine;
mod engine_core;
mod estimate;
mod fixtures;
mod fuzz;
mod fuzz_support;
mod kafka;
mod limits;
mod lost_messages;
mod messages;
mod mirror;
mod mirror_restart;
mod mirror_workers;
mod plan_snapshots;
mod report;
mod scram;
mod secret_marker;
mod support;
mod traffic;
mod verify;
mod wiring;
