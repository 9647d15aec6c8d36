//! `cutover`: declarative, Terraform-style migration of self-managed Apache Kafka clusters
//! (including 0.8.2-era clusters with ZooKeeper) to Amazon MSK, with zero downtime and no lost
//! or duplicated records.
//!
//! # Code map, in reading order
//!
//! - [`cli`]: the clap-derived command enum, settings resolution and the exit-code mapping.
//!   `main.rs` is a thin shell around [`cli::run_from_env`].
//! - [`commands`]: one file per verb or family (validate, fmt, plan, apply and destroy, show,
//!   graph, and state with output, import and force-unlock; verify, mirror and rollback arrive
//!   with their issues). Each takes its arguments and the resolved settings.
//! - [`diagnostics`]: spans, `file:line:col` rendering with a snippet and caret, JSON form.
//! - [`config`]: load files and modules → parse with `hcl-edit` (spans kept) → evaluate over the
//!   syntax tree with unknown and sensitive marks (docs/decisions.md says why not `hcl-rs`
//!   eval) → check against provider schemas; every step returns diagnostics.
//! - [`graph`]: the petgraph DAG of resource instances, clusters and assertions; DOT output.
//! - [`plan`]: the plan model, the schema-driven diff of one instance, and the human, JSON and
//!   markdown renderers. Pure.
//! - [`engine`]: what drives plans and applies: refresh through providers, the planner (the
//!   configuration evaluated with planned values), the executor (dependency-ordered walk,
//!   bounded parallelism, cancellation, state saved after every object) and saved plans.
//!   DESIGN.md's `apply/` is `engine/executor.rs`: planning and applying share the engine.
//! - [`state`]: versioned JSON state, backends (local file now, S3 later), locking, keyed
//!   hashes of sensitive values.
//! - [`providers`]: the `ResourceType`/`DataSourceType` traits and the registry; the built-in
//!   `cutover_data`; AWS (MSK, EC2, Secrets Manager) and Kafka providers as they land.
//! - `mirror/`: replication engines: embedded (rdkafka) and connect (MirrorMaker 2).
//! - `verify/`: assertions: zero divergence, lag, quiescence, throughput.
//!
//! Modules land as their issues do; the map above is the target layout (see DESIGN.md).
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
