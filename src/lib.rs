//! `cutover`: declarative, Terraform-style migration of self-managed Apache Kafka clusters
//! (including 0.8.2-era clusters with ZooKeeper) to Amazon MSK, with zero downtime and no lost
//! or duplicated records.
//!
//! # Code map, in reading order
//!
//! - [`cli`]: the clap-derived command enum, settings resolution and the exit-code mapping.
//!   `main.rs` is a thin shell around [`cli::run_from_env`].
//! - `commands/`: one file per verb (validate, fmt, plan, apply, destroy, show, graph, state,
//!   import, output, verify, mirror, rollback, force-unlock). Each takes resolved settings.
//! - `config/`: load files and modules → parse with `hcl-edit` (spans kept) → evaluate with
//!   `hcl-rs` → validate against provider schemas; every step returns diagnostics.
//! - `graph/`: the petgraph DAG of resources, data sources, assertions and outputs; cycles are
//!   diagnostics; DOT output.
//! - `plan/`: diff desired against refreshed state into actions; human, JSON and markdown
//!   renderers.
//! - `apply/`: the executor: topological walk, bounded parallelism, cancellation, state saved
//!   after every node.
//! - `state/`: versioned JSON state, backends (local file, S3), locking.
//! - `providers/`: the `Provider` trait and registry; AWS (MSK, EC2, Secrets Manager) and Kafka
//!   (topics, consumer groups) providers.
//! - `mirror/`: replication engines: embedded (rdkafka) and connect (MirrorMaker 2).
//! - `verify/`: assertions: zero divergence, lag, quiescence, throughput.
//!
//! Modules land as their issues do; the map above is the target layout (see DESIGN.md).
//!
//! # Invariants
//!
//! - `config`, `graph` and `plan` do no I/O; only providers, state backends and mirror engines
//!   touch the network or the disk (the loader reads configuration files and nothing else).
//! - `config` knows nothing about AWS or Kafka SDKs; each provider declares its schema and turns
//!   evaluated values into a typed spec, returning diagnostics that point at the HCL span.
//! - Parsing and validation collect all problems, not only the first.
//! - Nothing prints a sensitive value; state never stores one in plaintext (a keyed hash is
//!   stored to detect change).
//! - The executor records intent (e.g. "creating cluster ARN …") in state before a long wait,
//!   so an interrupted apply resumes instead of orphaning a resource.

pub mod cli;
pub mod commands;
pub mod config;
pub mod diagnostics;
pub mod engine;
pub mod graph;
pub mod plan;
pub mod providers;
pub mod state;
