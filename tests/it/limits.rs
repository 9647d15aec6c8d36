//! Hostile configurations: each is small (well under 1 MB) and, without the evaluation
//! budget, drove `validate` past several GB. Each must now fail fast, in `validate` and in
//! `plan` alike, with a diagnostic at the expression that crossed the budget, within 1 GB of
//! memory and 60 seconds.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MAX_RESIDENT_BYTES: u64 = 1024 * 1024 * 1024;
const MAX_SECONDS: u64 = 60;

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "cutover-limits-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.0.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Outcome {
    code: Option<i32>,
    stderr: String,
    peak_resident_bytes: u64,
    elapsed: Duration,
}

/// Runs `cutover validate` in `dir` and measures the child's own peak resident memory (from
/// `wait4`, so other tests' processes do not count). Address space is capped at a few GB as a
/// safety net: a regression fails the test instead of the machine.
// The child is waited for with wait4 (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn validate(dir: &Path) -> Outcome {
    run_bounded(dir, "validate")
}

/// `cutover SUBCOMMAND` in `dir` under the memory and CPU limits, measured.
fn run_bounded(dir: &Path, subcommand: &str) -> Outcome {
    use std::os::unix::process::CommandExt as _;
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutover"));
    command
        .arg(subcommand)
        .current_dir(dir)
        .env("CUTOVER_STATE_KEY", crate::support::STATE_KEY)
        .env("NO_COLOR", "1")
        .env_remove("CUTOVER_EVAL_BUDGET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 6 * 1024 * 1024 * 1024,
                rlim_max: 6 * 1024 * 1024 * 1024,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            let seconds = libc::rlimit {
                rlim_cur: 2 * MAX_SECONDS,
                rlim_max: 2 * MAX_SECONDS,
            };
            libc::setrlimit(libc::RLIMIT_CPU, &seconds);
            Ok(())
        });
    }
    let started = Instant::now();
    // Reaped below with wait4(2), which also reports the child's peak memory.
    #[allow(clippy::zombie_processes)]
    let mut child = command.spawn().expect("run cutover");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not yet waited for; both pointers are valid.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    let elapsed = started.elapsed();
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Outcome {
        code,
        stderr: reader.join().unwrap(),
        // Linux reports ru_maxrss in KiB.
        peak_resident_bytes: usage.ru_maxrss as u64 * 1024,
        elapsed,
    }
}

/// `validate` and `plan` both stop within the bounds, with the diagnostic expected.
fn assert_fails_fast(name: &str, scratch: &Scratch, expected: &str) {
    for subcommand in ["validate", "plan"] {
        assert_one_fails_fast(
            &format!("{name} ({subcommand})"),
            scratch,
            expected,
            subcommand,
        );
    }
}

fn assert_one_fails_fast(name: &str, scratch: &Scratch, expected: &str, subcommand: &str) {
    let outcome = run_bounded(&scratch.0, subcommand);
    assert_eq!(
        outcome.code,
        Some(1),
        "{name}: exit {:?} after {:?}: {}",
        outcome.code,
        outcome.elapsed,
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains(expected),
        "{name}: expected {expected:?} in: {}",
        outcome.stderr
    );
    // The diagnostic points at the configuration, its snippet is short even for a line of
    // hundreds of kilobytes, and the budget error is reported once.
    assert!(
        outcome.stderr.contains("--> "),
        "{name}: {}",
        outcome.stderr
    );
    assert!(outcome.stderr.len() < 4096, "{name}: {}", outcome.stderr);
    assert!(
        outcome.stderr.matches("evaluation budget exceeded").count() <= 1,
        "{name}: {}",
        outcome.stderr
    );
    assert!(
        outcome.peak_resident_bytes < MAX_RESIDENT_BYTES,
        "{name}: peak resident memory {} MB",
        outcome.peak_resident_bytes / (1024 * 1024)
    );
    assert!(
        outcome.elapsed < Duration::from_secs(MAX_SECONDS),
        "{name}: took {:?}",
        outcome.elapsed
    );
}

fn one_file(name: &str, text: &str) -> Scratch {
    let scratch = Scratch::new(name);
    scratch.write("main.hcl", text);
    assert!(text.len() < 1024 * 1024);
    scratch
}

#[test]
fn hostile_configurations_fail_fast_within_the_evaluation_budget() {
    let budget = "evaluation budget exceeded";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "nested-for-over-range",
            "locals {\n  grid = [for i in range(100000) : [for j in range(100000) : i * j]]\n}\n"
                .to_owned(),
            budget,
        ),
        (
            "setproduct-inside-for",
            "locals {\n  pairs = [for i in range(100000) : setproduct(range(1000), range(1000))]\n}\n"
                .to_owned(),
            budget,
        ),
        (
            "copies-of-a-large-string",
            concat!(
                "locals {\n",
                "  big    = join(\"\", [for i in range(1000000) : \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"])\n",
                "  copies = [for i in range(1000) : local.big]\n",
                "}\n"
            )
            .to_owned(),
            budget,
        ),
        (
            "format-padding-in-a-template-loop",
            "locals {\n  padded = \"%{ for i in range(1000000) }${format(\"%10000s\", \"x\")}%{ endfor }\"\n}\n"
                .to_owned(),
            budget,
        ),
        (
            "file-of-dev-zero",
            "locals {\n  zeros = filebase64(\"/dev/zero\")\n}\n".to_owned(),
            "larger than 64 MiB",
        ),
        (
            "for-each-over-a-million-keys",
            "resource \"cutover_data\" \"x\" {\n  for_each = toset([for i in range(1000000) : tostring(i)])\n  input    = each.key\n}\n"
                .to_owned(),
            "a block can have at most 100000 instances",
        ),
        (
            "deeply-nested-parentheses",
            format!(
                "locals {{\n  deep = {}1{}\n}}\n",
                "(".repeat(100_000),
                ")".repeat(100_000)
            ),
            "nesting depth",
        ),
        (
            "a-long-chain-of-additions",
            format!("locals {{\n  sum = 1{}\n}}\n", "+1".repeat(200_000)),
            "chained binary operators",
        ),
    ];
    for (name, text, expected) in &cases {
        let scratch = one_file(name, text);
        assert_fails_fast(name, &scratch, expected);
    }

    // Modules calling the next level four times, fifteen levels deep: 4^15 instances, each
    // once read from disk. Each directory is now read once and instances are budgeted.
    let scratch = Scratch::new("module-fan-out");
    let calls = |next: &str| {
        (0..4)
            .map(|n| format!("module \"m{n}\" {{\n  source = \"../{next}\"\n}}\n"))
            .collect::<String>()
    };
    scratch.write("main.hcl", &calls("l1").replace("../", "./"));
    for level in 1..15 {
        scratch.write(
            &format!("l{level}/main.hcl"),
            &calls(&format!("l{}", level + 1)),
        );
    }
    scratch.write("l15/main.hcl", "locals {\n  leaf = 1\n}\n");
    assert_fails_fast(
        "module-fan-out",
        &scratch,
        "more than 1000 module instances",
    );

    // Few instances (256 leaves), but each holds about 860 KB of literals: bounded by the
    // module source its instances hold, before any of it is evaluated.
    let scratch = Scratch::new("module-of-large-literals");
    scratch.write("main.hcl", &calls("l1").replace("../", "./"));
    for level in 1..4 {
        scratch.write(
            &format!("l{level}/main.hcl"),
            &calls(&format!("l{}", level + 1)),
        );
    }
    let filler = "x".repeat(1000);
    let leaf: String = (0..860)
        .map(|n| format!("  text{n} = \"{filler}\"\n"))
        .collect();
    let leaf = format!("locals {{\n{leaf}}}\n");
    assert!(leaf.len() < 1024 * 1024);
    scratch.write("l4/main.hcl", &leaf);
    assert_fails_fast(
        "module-of-large-literals",
        &scratch,
        "MiB of source in total",
    );
}

#[test]
fn the_evaluation_budget_can_be_raised() {
    let scratch = one_file(
        "raised",
        "locals {\n  grid = [for i in range(2500) : [for j in range(2500) : j]]\n}\n",
    );
    let refused = validate(&scratch.0);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("-eval-budget"),
        "{}",
        refused.stderr
    );
    let raised = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["validate", "-eval-budget", "4"])
        .current_dir(&scratch.0)
        .output()
        .unwrap();
    assert_eq!(
        raised.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&raised.stderr)
    );
}
