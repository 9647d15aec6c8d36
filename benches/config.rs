//! Benchmark: load, parse and evaluate a generated configuration of 10,000 resource instances
//! (100 `cutover_data` blocks × `for_each` over 100 keys, each instance referencing an
//! instance of the previous block, plus locals and outputs), and a second shape with 2,000
//! blocks of 5 instances. Prints the median time of several runs and the process's peak
//! resident memory. Run with `cargo bench --bench config`.
//!
//! Targets (issue 3): under 300 ms and under 200 MB on the project's 2-core machine.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use cutover::config::{EvalMode, load_and_evaluate};
use cutover::providers::Registry;

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
        "output \"count\" {{\n  value = length(cutover_data.group_{}) \n}}",
        blocks - 1
    )
    .unwrap();
    std::fs::write(dir.join("main.hcl"), text).unwrap();
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

fn measure(name: &str, blocks: usize, keys: usize) {
    let dir = std::env::temp_dir().join(format!("cutover-bench-{}-{name}", std::process::id()));
    generate(&dir, blocks, keys);
    let registry = Registry::builtin();
    let mut times: Vec<Duration> = Vec::new();
    let mut instances = 0;
    for _ in 0..7 {
        let started = Instant::now();
        let loaded = load_and_evaluate(&dir, &[], &[], &registry, EvalMode::Plan);
        times.push(started.elapsed());
        assert!(
            !loaded.diagnostics.has_errors(),
            "{}",
            loaded.diagnostics.render(None)
        );
        instances = loaded.configuration.map_or(0, |c| c.resources.len());
    }
    times.sort();
    let bytes = std::fs::metadata(dir.join("main.hcl")).map_or(0, |m| m.len());
    println!(
        "{name:<22} {instances:>6} instances {blocks:>5} blocks {:>7.1} KiB of HCL   median {:>7.1} ms   min {:>7.1} ms   max {:>7.1} ms",
        bytes as f64 / 1024.0,
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs it once as a smoke test.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    if smoke {
        measure("smoke", 5, 5);
        return;
    }
    println!("cutover config benchmark: load + parse + evaluate (7 runs each)");
    measure("100 blocks x 100 keys", 100, 100);
    measure("2000 blocks x 5 keys", 2000, 5);
    println!(
        "peak RSS of the whole benchmark process: {:.1} MB",
        peak_rss_mb()
    );
}
