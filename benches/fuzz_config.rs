//! Long-running mutation fuzzing of the configuration loader:
//! `cargo bench --bench fuzz_config -- --seconds 600 [--seed N]`. Stops at the first panic
//! and keeps the input that caused it; prints the number of inputs tried.

#[path = "../tests/it/fuzz_support.rs"]
mod fuzz_support;

use std::time::{Duration, Instant};

use cutover::providers::Registry;
use fuzz_support::{Rng, mutate, run_one, scratch_dir, seeds};

fn argument(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|arg| arg == name)
        .and_then(|index| args.get(index + 1))
        .and_then(|value| value.parse().ok())
}

fn main() {
    let seconds = if std::env::args().any(|arg| arg == "--bench") {
        argument("--seconds").unwrap_or(60)
    } else {
        1
    };
    let seed = argument("--seed").unwrap_or(0x5eed);
    let seeds = seeds();
    let registry = Registry::builtin();
    let scratch = scratch_dir("bench");
    let mut rng = Rng::new(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut tried, mut valid) = (0u64, 0u64);
    let mut last_report = Instant::now();
    while Instant::now() < deadline {
        let input = mutate(&mut rng, &seeds);
        std::fs::write(scratch.join("last-input.hcl"), &input).ok();
        if run_one(&scratch, &input, &registry) {
            valid += 1;
        }
        tried += 1;
        if last_report.elapsed() > Duration::from_secs(30) {
            println!("fuzz: {tried} inputs, {valid} valid, no panic so far");
            last_report = Instant::now();
        }
    }
    std::fs::remove_dir_all(&scratch).ok();
    println!(
        "fuzz: {tried} mutated configurations from {} seeds in {seconds} s (seed {seed}), {valid} still valid; no panic",
        seeds.len()
    );
}
