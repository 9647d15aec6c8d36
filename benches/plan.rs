//! Benchmark: `plan` without provider I/O (`-refresh=false`) for 10,000 `cutover_data`
//! instances (100 blocks × `for_each` over 100 keys, each instance referencing the same key of
//! the previous block), once against an empty state (10,000 creations) and once against a
//! state in which all 10,000 exist with exactly the configured values (10,000 no-ops; the
//! state is built with the state API, not by applying). Each case is planned 5 times; the
//! report gives the median, min and max of the whole `plan()` (state read, configuration
//! load and evaluation, diff of every instance), the state read alone and the configuration
//! evaluation alone for comparison, and the peak resident memory (VmHWM) of each case.
//! Every case runs in a process of its own (the benchmark runs itself again), so each peak
//! is that case's alone. Run with `cargo bench --bench plan`; `cargo test --benches` runs a
//! small smoke version in one process.
//!
//! Targets (issue 4): under 200 ms graph + diff, peak memory under 300 MB.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cutover::config::evaluate::{InstanceKey, ResourceAddress};
use cutover::config::model::Mode;
use cutover::config::value::Value;
use cutover::config::{EvalMode, load_and_evaluate};
use cutover::engine::Engine;
use cutover::engine::planner::{PlanOptions, plan};
use cutover::plan::Action;
use cutover::providers::Registry;
use cutover::shutdown::Shutdown;
use cutover::state::{
    Backend, HashKey, KeyOrigin, LocalBackend, OutputState, ResourceState, StateStore,
};

const RUNS: usize = 5;

/// The allocator the `cutover` binary uses (src/main.rs), so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn key() -> HashKey {
    HashKey::from_bytes([7u8; 32], KeyOrigin::Explicit).expect("key")
}

fn generate(dir: &Path, blocks: usize, keys: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    writeln!(
        text,
        "locals {{\n  keys   = toset([for i in range({keys}) : \"k${{i}}\"])\n  prefix = \"orders\"\n}}\n"
    )
    .unwrap();
    for block in 0..blocks {
        let previous = if block == 0 {
            "local.prefix".to_owned()
        } else {
            format!("cutover_data.group_{}[each.key].id", block - 1)
        };
        writeln!(
            text,
            "resource \"cutover_data\" \"group_{block}\" {{\n  for_each = local.keys\n  input = {{\n    name     = \"${{local.prefix}}.{block}.${{each.key}}\"\n    previous = {previous}\n    index    = {block}\n    tags     = merge({{ team = \"data\" }}, {{ key = each.value }})\n  }}\n  triggers_replace = format(\"%s-%d\", each.key, {block})\n}}\n"
        )
        .unwrap();
    }
    writeln!(
        text,
        "output \"count\" {{\n  value = length(cutover_data.group_{})\n}}",
        blocks - 1
    )
    .unwrap();
    std::fs::write(dir.join("main.hcl"), text).unwrap();
}

fn object(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Writes the state in which every instance exists with the values the configuration
/// declares, as an apply would have left it (ids made up).
async fn write_full_state(backend: Arc<dyn Backend>, blocks: usize, keys: usize) {
    let key = key();
    let mut store = StateStore::open(backend).await.unwrap();
    let mut state = store.working_copy().unwrap();
    state.record_key(&key);
    for block in 0..blocks {
        for index in 0..keys {
            let each = format!("k{index}");
            let address = ResourceAddress {
                module: Vec::new(),
                mode: Mode::Managed,
                type_name: "cutover_data".to_owned(),
                name: format!("group_{block}"),
                key: Some(InstanceKey::String(each.clone())),
            };
            let previous = if block == 0 {
                Value::string("orders")
            } else {
                Value::string(format!("id-{}-{each}", block - 1))
            };
            let input = object(vec![
                ("name", Value::string(format!("orders.{block}.{each}"))),
                ("previous", previous),
                ("index", Value::int(block as i64)),
                (
                    "tags",
                    object(vec![
                        ("team", Value::string("data")),
                        ("key", Value::string(&each)),
                    ]),
                ),
            ]);
            let attributes = object(vec![
                ("input", input.clone()),
                ("output", input),
                ("triggers_replace", Value::string(format!("{each}-{block}"))),
                ("id", Value::string(format!("id-{block}-{each}"))),
            ]);
            let mut resource = ResourceState::new(&address, "builtin");
            resource.set_attributes(&attributes, &key).unwrap();
            if block > 0 {
                resource.set_dependencies([format!("cutover_data.group_{}", block - 1)]);
            }
            state.resources.push(resource);
        }
    }
    state.sort_resources();
    state.outputs.insert(
        "count".to_owned(),
        OutputState::new(&Value::int(keys as i64), false, &key).unwrap(),
    );
    store.save(&mut state).await.unwrap();
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Median, min and max of the runs, in ms.
fn stats(mut times: Vec<Duration>) -> String {
    times.sort();
    format!(
        "median {:>7.1} ms   min {:>7.1} ms   max {:>7.1} ms",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn engine(dir: &Path) -> Engine {
    Engine {
        config_dir: dir.to_path_buf(),
        environment_vars: Vec::new(),
        command_line_vars: Vec::new(),
        registry: Arc::new(Registry::builtin()),
        backend: Arc::new(LocalBackend::in_directory(dir)),
        key: key(),
        encryption: None,
        parallelism: 10,
        lock_timeout: Duration::ZERO,
        lock_enabled: true,
    }
}

/// `plan()` of the configuration in `dir` against whatever state is there, `RUNS` times.
fn measure_plan(dir: &Path, name: &str, expect_existing: bool, instances: usize) {
    let runtime = runtime();
    let engine = engine(dir);
    let state_kib =
        std::fs::metadata(dir.join("cutover.state.json")).map_or(0.0, |m| m.len() as f64 / 1024.0);
    let options = PlanOptions {
        refresh: false,
        ..PlanOptions::default()
    };
    let mut times = Vec::new();
    let mut summary = String::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let planned = runtime
            .block_on(plan(&engine, &options, &Shutdown::never()))
            .expect("plan");
        times.push(started.elapsed());
        assert!(
            !planned.diagnostics.has_errors(),
            "{}",
            planned.diagnostics.render(None)
        );
        let changes = &planned.plan.changes;
        let count = |action: Action| changes.iter().filter(|c| c.action == action).count();
        if expect_existing {
            assert_eq!(count(Action::NoOp), instances, "every instance unchanged");
            assert!(!planned.plan.has_changes());
        } else {
            assert_eq!(count(Action::Create), instances, "every instance created");
        }
        summary = format!(
            "{} create, {} no-op, state {state_kib:.0} KiB",
            count(Action::Create),
            count(Action::NoOp)
        );
    }
    println!(
        "{name:<30} {}   peak RSS {:>6.1} MB   ({summary})",
        stats(times),
        peak_rss_mb()
    );
}

/// The state read alone (part of `plan()`), for comparison.
fn measure_state_read(dir: &Path) {
    let runtime = runtime();
    let backend = LocalBackend::in_directory(dir);
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let state = runtime.block_on(backend.read()).unwrap().expect("a state");
        times.push(started.elapsed());
        drop(state);
    }
    println!("{:<30} {}", "  of which state read", stats(times));
}

/// The configuration evaluation alone (no state, no diff), for comparison.
fn measure_evaluation(dir: &Path) {
    let registry = Registry::builtin();
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let loaded = load_and_evaluate(dir, &[], &[], &registry, EvalMode::Plan);
        times.push(started.elapsed());
        assert!(!loaded.diagnostics.has_errors());
    }
    println!(
        "{:<30} {}   peak RSS {:>6.1} MB",
        "evaluation alone (no diff)",
        stats(times),
        peak_rss_mb()
    );
}

fn run_case(case: &str, dir: &Path, blocks: usize, keys: usize) {
    let instances = blocks * keys;
    match case {
        "evaluation" => measure_evaluation(dir),
        "empty" => measure_plan(dir, "plan, empty state", false, instances),
        "full" => {
            measure_plan(dir, "plan, all instances exist", true, instances);
            measure_state_read(dir);
        }
        "write-state" => runtime().block_on(write_full_state(
            Arc::new(LocalBackend::in_directory(dir)),
            blocks,
            keys,
        )),
        other => panic!("unknown case {other}"),
    }
}

/// Runs this benchmark again for one case, in a fresh process.
fn spawn_case(case: &str, dir: &Path, blocks: usize, keys: usize) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--bench", "--case", case])
        .arg(dir)
        .args([blocks.to_string(), keys.to_string()])
        .status()
        .expect("run the benchmark for one case");
    assert!(status.success(), "case {case} failed");
}

fn scratch(label: &str) -> PathBuf {
    std::env::temp_dir().join(format!("cutover-bench-plan-{}-{label}", std::process::id()))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|arg| arg == "--case") {
        let number = |offset: usize| args[position + offset].parse::<usize>().unwrap();
        run_case(
            &args[position + 1],
            Path::new(&args[position + 2]),
            number(3),
            number(4),
        );
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` runs it once as a smoke test.
    let smoke = !args.iter().any(|arg| arg == "--bench");
    let (blocks, keys) = if smoke { (5, 5) } else { (100, 100) };
    let instances = blocks * keys;
    let empty = scratch("empty");
    let full = scratch("full");
    generate(&empty, blocks, keys);
    generate(&full, blocks, keys);
    println!(
        "cutover plan benchmark: {instances} cutover_data instances ({blocks} blocks x {keys} keys), -refresh=false, {RUNS} runs each{}",
        if smoke { "" } else { ", one process per case" }
    );
    for (case, dir) in [
        ("evaluation", &empty),
        ("empty", &empty),
        ("write-state", &full),
        ("full", &full),
    ] {
        if smoke {
            run_case(case, dir, blocks, keys);
        } else {
            spawn_case(case, dir, blocks, keys);
        }
    }
    std::fs::remove_dir_all(&empty).ok();
    std::fs::remove_dir_all(&full).ok();
}
