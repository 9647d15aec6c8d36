//! `cutover`: declarative, Terraform-style migration of self-managed Apache Kafka clusters
//! (including 0.8.2-era clusters with ZooKeeper) to Amazon MSK, with zero downtime and no lost
//! or duplicated records.
//!
//! # Code map, from the top of the pipeline down
//!
//! ARCHITECTURE.md at the repository root is the long form: the pipeline, each module's job,
//! what imports what (imports point down only; `tests/it/architecture.rs` fails on a circle)
//! and where to start.
//!
//! - [`cli`]: the clap-derived command enum, the `-flag` rewrite and the dispatch.
//!   `main.rs` is a thin shell around [`cli::run_from_env`].
//! - [`settings`]: the [`settings::Settings`] every command gets, resolved once from the
//!   global flags and the environment, and the [`settings::ExitStatus`] it ends with.
//! - [`commands`]: one file per verb or family (validate, fmt, plan, apply and destroy, show,
//!   graph, state with output, import and force-unlock, verify, mirror, rollback, providers).
//!   Each takes its arguments and the resolved settings; only commands own the terminal.
//! - [`engine`]: what drives plans and applies: refresh through providers, the planner (the
//!   configuration evaluated with planned values), the executor (dependency-ordered walk,
//!   bounded parallelism, interrupts, state saved after every object) and saved plans.
//! - [`graph`]: the petgraph DAG of resource instances, clusters and assertions; DOT output.
//! - [`plan`]: the plan model, the schema-driven diff of one instance, the cost and sizing
//!   section of a plan (`cost`), and the human, JSON and markdown renderers. Pure.
//! - [`providers`]: the `ResourceType`/`DataSourceType` traits and the [`providers::Registry`]
//!   of every schema; the built-in `cutover_data`; the Kafka provider (topics, consumer-group
//!   offsets, ACLs, and `kafka_mirror`, an adapter over both engines of [`mirror`]) and the
//!   AWS provider (MSK, SCRAM secret
//!   associations, Secrets Manager, EC2 with the decommission guard).
//! - [`context`]: the [`context::ProviderContext`] a provider operation or an assertion gets
//!   (cancellation, progress, intent recording, connections).
//! - [`shutdown`]: the one [`shutdown::Shutdown`] of a run: the first interrupt stops it
//!   (running operations finish, nothing new starts), the second cancels what runs; and the
//!   clean-ups a `Drop` starts, which a command waits for before it exits.
//! - [`verify`]: assertions: zero divergence, lag, quiescence, throughput, MSK sizing,
//!   conditions.
//! - [`mirror`]: the copy engine, below the providers and the engine (it imports neither):
//!   `survey` (partitions and where each resumes), `estimate` (what a plan says a mirror will
//!   copy), `copy` (a lane: one shard copied, preserve or translate), `offset_map` (the exact
//!   map and positions of a translating mirror), `worker` (one member of the mirror's worker
//!   group on the target), `fleet` (local worker processes, the wait until caught up, and
//!   [`mirror::run`], the one entry point of `apply` and `mirror run`), and `connect` (the
//!   other engine, `engine = "connect"`: MirrorMaker 2 on Kafka Connect).
//! - [`state`]: versioned JSON state, backends (local file, S3 with conditional writes),
//!   locking, keyed hashes of sensitive values, encryption at rest.
//! - [`kafka`]: Kafka clients shared by providers, the mirror and the assertions: connections
//!   (SASL, TLS, MSK IAM) and the `cluster` block's schema, admin helpers, ACL calls,
//!   partition extents (watermarks, log sizes), the traffic measurement, ZooKeeper reads for
//!   0.8.2 clusters.
//! - [`config`]: load files and modules → parse with `hcl-edit` (spans kept) → evaluate over the
//!   syntax tree with unknown and sensitive marks (docs/decisions.md says why not `hcl-rs`
//!   eval) → check against provider schemas; every step returns diagnostics.
//! - [`economics`]: the arithmetic of money and capacity, below the plan, the providers and
//!   the assertions: `prices` (the price tables in `pricing/` and the `price_file` override)
//!   and `sizing` (the MSK broker size a measured traffic needs).
//! - [`diagnostics`]: spans, `file:line:col` rendering with a snippet and caret, JSON form.
//! - [`error`]: the error of an operation against a remote system.
//!
//! # Invariants
//!
//! - Imports between these modules point down only: no import circle.
//! - `config`, `graph` and `plan` do no I/O; only providers, state backends and the mirror
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
pub mod context;
pub mod diagnostics;
pub mod economics;
pub mod engine;
pub mod error;
pub mod graph;
pub mod kafka;
pub mod mirror;
pub mod plan;
pub mod providers;
pub mod settings;
pub mod shutdown;
pub mod state;
pub mod verify;
