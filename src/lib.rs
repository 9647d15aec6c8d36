//! `cutover`: declarative, Terraform-style migration of self-managed Apache Kafka clusters
//! (including 0.8.2-era clusters with ZooKeeper) to Amazon MSK, with zero downtime and no lost
//! or duplicated records.
//!
//! # Code map, in reading order
//!
//! - [`cli`]: the clap-derived command enum, settings resolution and the exit-code mapping.
//!   `main.rs` is a thin shell around [`cli::run_from_env`].
//! - [`commands`]: one file per verb or family (validate, fmt, plan, apply and destroy, show,
//!   graph, state with output, import and force-unlock, verify, mirror, rollback). Each takes
//!   its arguments and the resolved settings.
//! - [`diagnostics`]: spans, `file:line:col` rendering with a snippet and caret, JSON form.
//! - [`config`]: load files and modules → parse with `hcl-edit` (spans kept) → evaluate over the
//!   syntax tree with unknown and sensitive marks (docs/decisions.md says why not `hcl-rs`
//!   eval) → check against provider schemas; every step returns diagnostics.
//! - [`graph`]: the petgraph DAG of resource instances, clusters and assertions; DOT output.
//! - [`plan`]: the plan model, the schema-driven diff of one instance, the cost and sizing
//!   section (`cost`, `sizing`, from the tables in `pricing/`), and the human, JSON and
//!   markdown renderers. Pure.
//! - [`engine`]: what drives plans and applies: refresh through providers, the planner (the
//!   configuration evaluated with planned values), the executor (dependency-ordered walk,
//!   bounded parallelism, cancellation, state saved after every object) and saved plans.
//! - [`state`]: versioned JSON state, backends (local file, S3 with conditional writes),
//!   locking, keyed hashes of sensitive values.
//! - [`providers`]: the `ResourceType`/`DataSourceType` traits and the registry; the built-in
//!   `cutover_data`; the AWS (MSK, EC2, Secrets Manager, S3) and Kafka providers. The
//!   `kafka_mirror` resource is a thin adapter over [`mirror`]; its `engine = "connect"`
//!   (MirrorMaker 2 on Kafka Connect) lives in `providers/kafka/connect.rs` for now.
//! - [`mirror`]: the embedded mirror, below the providers and the engine (it imports neither):
//!   `survey` (partitions and where each resumes), `estimate` (what a plan says a mirror will
//!   copy), `copy` (a lane: one shard copied, preserve
//!   or translate), `offset_map` (the exact map and positions of a translating mirror),
//!   `worker` (one member of the mirror's worker group on the target), `fleet` (local worker
//!   processes, the wait until caught up, and [`mirror::run`], the one entry point of `apply`
//!   and `mirror run`).
//! - [`kafka`]: Kafka clients shared by providers, the mirror and the assertions: connections
//!   (SASL, TLS, MSK IAM), admin helpers, ZooKeeper reads for 0.8.2 clusters.
//! - [`verify`]: assertions: zero divergence, lag, quiescence, throughput, MSK sizing.
//! - [`error`]: the error of an operation against a remote system.
//!
//! # Invariants
//!
//! - `config`, `graph` and `plan` do no I/O; only providers, state backends and mirror engines
//!   touch the network or the disk (the loader reads configuration files, and `file()` reads
//!   files named by the configuration, nothing else).
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
pub mod error;
pub mod graph;
pub mod kafka;
pub mod mirror;
pub mod plan;
pub mod providers;
pub mod state;
pub mod verify;
