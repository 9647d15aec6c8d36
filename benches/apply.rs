//! Benchmark: `apply` of N `cutover_data` objects (blocks of 100 `for_each` instances) through
//! the real executor and the local state backend, with the default parallelism of 10. Two
//! cases:
//!
//! - `update`: N objects exist (a state written with the state API, as an apply would have
//!   left it) and every input changes: N in-place updates whose planned values are all known,
//!   so the walk is the provider calls and the rule "every finished object is in the saved
//!   state before anything new starts". Each save rewrites the whole state file, so saving
//!   after every object made this quadratic in N.
//! - `create`: N new objects from an empty state. Each object's `id` is known only after
//!   apply, so before starting a batch the executor evaluates the configuration again (to
//!   fill in values that depended on it); this case measures that as well.
//!
//! For each case and size the report gives the median, min and max of the `apply()` call (the
//! plan is made beforehand and not timed), the number of state writes (the final serial minus
//! the initial one), the final state size and the peak resident memory (VmHWM). Every case
//! runs in a process of its own (the benchmark runs itself again), `RUNS` times, each from a
//! fresh directory.
//!
//! Run with `cargo bench --bench apply`. `CUTOVER_BENCH_APPLY_CASES` lists the cases as
//! `kind:objects` (default `update:2000,update:10000,create:2000`) and
//! `CUTOVER_BENCH_APPLY_RUNS` the runs per case (default 3). `cargo test --benches` runs a
//! small smoke version in one process.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cutover::config::evaluate::{InstanceKey, ResourceAddress};
use cutover::config::model::Mode;
use cutover::config::value::Value;
use cutover::engine::Engine;
use cutover::engine::executor::{Outcome, apply};
use cutover::engine::planner::{PlanOptions, plan};
use cutover::plan::Action;
use cutover::providers::Registry;
use cutover::shutdown::Shutdown;
use cutover::state::{HashKey, KeyOrigin, LocalBackend, ResourceState, StateStore};

const KEYS_PER_BLOCK: usize = 100;

fn key() -> HashKey {
    HashKey::from_bytes([7u8; 32], KeyOrigin::Explicit).expect("key")
}

/// Block and key of each of `objects` instances: full blocks of `KEYS_PER_BLOCK`, the last
/// one possibly smaller.
fn instances(objects: usize) -> Vec<(usize, usize)> {
    (0..objects)
        .map(|n| (n / KEYS_PER_BLOCK, n % KEYS_PER_BLOCK))
        .collect()
}

fn name(block: usize, key: usize, revision: usize) -> String {
    format!("orders.{block}.k{key}.r{revision}")
}

/// The configuration of `objects` instances at `revision` (the revision is in every input).
fn generate(dir: &Path, objects: usize, revision: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    let blocks = objects.div_ceil(KEYS_PER_BLOCK);
    for block in 0..blocks {
        let keys = (objects - block * KEYS_PER_BLOCK).min(KEYS_PER_BLOCK);
        writeln!(
            text,
            "resource \"cutover_data\" \"group_{block}\" {{\n  for_each = toset([for i in range({keys}) : \"k${{i}}\"])\n  input = {{\n    name  = \"orders.{block}.${{each.key}}.r{revision}\"\n    index = {block}\n    tags  = {{ team = \"data\", key = each.value }}\n  }}\n  triggers_replace = \"${{each.key}}-{block}\"\n}}\n"
        )
        .unwrap();
    }
    std::fs::write(dir.join("main.hcl"), text).unwrap();
}

fn object(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// The state an apply of revision 0 would have left (ids made up).
async fn write_state(dir: &Path, objects: usize) {
    let key = key();
    let mut store = StateStore::open(Arc::new(LocalBackend::in_directory(dir)))
        .await
        .unwrap();
    let mut state = store.working_copy().unwrap();
    state.record_key(&key);
    for (block, index) in instances(objects) {
        let each = format!("k{index}");
        let address = ResourceAddress {
            module: Vec::new(),
            mode: Mode::Managed,
            type_name: "cutover_data".to_owned(),
            name: format!("group_{block}"),
            key: Some(InstanceKey::String(each.clone())),
        };
        let input = object(vec![
            ("name", Value::string(name(block, index, 0))),
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
        state.resources.push(resource);
    }
    state.sort_resources();
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

/// Prepares, plans and applies one case `runs` times, each in a fresh directory; prints one
/// line.
fn measure_apply(dir: &Path, kind: &str, objects: usize, runs: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (expected_action, label) = match kind {
        "update" => (Action::Update, "apply, update"),
        "create" => (Action::Create, "apply, create"),
        other => panic!("unknown case {other}"),
    };
    let mut times = Vec::new();
    let mut writes = 0;
    let mut state_kib = 0.0;
    for run in 0..runs {
        let run_dir = dir.join(format!("run-{run}"));
        std::fs::remove_dir_all(&run_dir).ok();
        if kind == "update" {
            generate(&run_dir, objects, 1);
            runtime.block_on(write_state(&run_dir, objects));
        } else {
            generate(&run_dir, objects, 0);
        }
        let engine = engine(&run_dir);
        let serial_before = runtime
            .block_on(engine.backend.read())
            .unwrap()
            .map_or(0, |state| state.serial);
        let planned = runtime
            .block_on(plan(&engine, &PlanOptions::default(), &Shutdown::never()))
            .expect("plan");
        assert!(
            !planned.diagnostics.has_errors(),
            "{}",
            planned.diagnostics.render(None)
        );
        assert_eq!(
            planned
                .plan
                .changes
                .iter()
                .filter(|change| change.action == expected_action)
                .count(),
            objects
        );

        let started = Instant::now();
        let report = runtime
            .block_on(apply(
                &engine,
                planned,
                Shutdown::never(),
                Arc::new(|_: &str| {}),
            ))
            .expect("apply");
        times.push(started.elapsed());
        assert!(!report.failed(), "the apply failed");
        assert_eq!(
            report
                .outcomes
                .iter()
                .filter(|(_, _, outcome)| *outcome == Outcome::Applied)
                .count(),
            objects
        );
        let state = runtime
            .block_on(engine.backend.read())
            .unwrap()
            .expect("a state");
        assert_eq!(state.resources.len(), objects);
        writes = state.serial - serial_before;
        state_kib = std::fs::metadata(run_dir.join("cutover.state.json"))
            .map_or(0.0, |m| m.len() as f64 / 1024.0);
        std::fs::remove_dir_all(&run_dir).ok();
    }
    times.sort();
    println!(
        "{label}, {objects:>6} objects   median {:>9.1} ms   min {:>9.1} ms   max {:>9.1} ms   {writes:>6} state writes   state {state_kib:>6.0} KiB   peak RSS {:>6.1} MB",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        peak_rss_mb()
    );
}

fn scratch(label: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "cutover-bench-apply-{}-{label}",
        std::process::id()
    ))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|arg| arg == "--case") {
        let number = |offset: usize| args[position + offset].parse::<usize>().unwrap();
        measure_apply(
            Path::new(&args[position + 1]),
            &args[position + 2],
            number(3),
            number(4),
        );
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` runs it once as a smoke test.
    let smoke = !args.iter().any(|arg| arg == "--bench");
    let cases: Vec<(String, usize)> = if smoke {
        vec![("update".to_owned(), 150), ("create".to_owned(), 150)]
    } else {
        std::env::var("CUTOVER_BENCH_APPLY_CASES")
            .unwrap_or_else(|_| "update:2000,update:10000,create:2000".to_owned())
            .split(',')
            .map(|case| {
                let (kind, objects) = case.trim().split_once(':').expect("a case is kind:objects");
                (
                    kind.to_owned(),
                    objects.parse().expect("a number of objects"),
                )
            })
            .collect()
    };
    let runs: usize = if smoke {
        1
    } else {
        std::env::var("CUTOVER_BENCH_APPLY_RUNS")
            .ok()
            .map_or(3, |runs| runs.parse().expect("a number of runs"))
    };
    println!(
        "cutover apply benchmark: cutover_data objects, parallelism 10, local backend, {runs} run(s) each{}",
        if smoke { "" } else { ", one process per case" }
    );
    for (kind, objects) in cases {
        let dir = scratch(&format!("{kind}-{objects}"));
        if smoke {
            measure_apply(&dir, &kind, objects, runs);
        } else {
            let status = Command::new(std::env::current_exe().unwrap())
                .args(["--bench", "--case"])
                .arg(&dir)
                .args([kind.clone(), objects.to_string(), runs.to_string()])
                .status()
                .expect("run the benchmark for one case");
            assert!(status.success(), "case {kind}:{objects} failed");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
