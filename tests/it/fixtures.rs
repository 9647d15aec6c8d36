//! Snapshot tests of `cutover validate` (and other commands) over the fixture corpus:
//! each `tests/fixtures/validate/<case>/` is a configuration directory holding an
//! `expected.txt` with the exit code, stdout and stderr the command must print when run inside
//! it. `args.txt`, when present, holds extra arguments (one per line).
//!
//! To review changed output: `CUTOVER_UPDATE_SNAPSHOTS=1 cargo test --test it fixtures`, then
//! read `git diff tests/fixtures`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validate")
}

fn render(exit: Option<i32>, stdout: &[u8], stderr: &[u8]) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        exit.map_or("signal".to_owned(), |code| code.to_string()),
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr)
    )
}

fn run_case(dir: &Path) -> String {
    let mut args = vec!["validate".to_owned()];
    if let Ok(extra) = std::fs::read_to_string(dir.join("args.txt")) {
        args = extra
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(&args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run cutover");
    render(output.status.code(), &output.stdout, &output.stderr)
}

/// Runs every case; collects all mismatches before failing so one run shows them all.
#[test]
fn validate_fixture_corpus_matches_reviewed_snapshots() {
    let update = std::env::var_os("CUTOVER_UPDATE_SNAPSHOTS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures_root())
        .expect("tests/fixtures/validate exists")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 40,
        "the corpus should hold at least 40 cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let actual = run_case(case);
        assert!(
            !actual.contains("panicked") && !actual.contains("RUST_BACKTRACE"),
            "{} panicked:\n{actual}",
            case.display()
        );
        // The corpus uses "hunter2" (and "hunter3") only as values of sensitive variables:
        // no diagnostic, snippet or hint may show them.
        assert!(
            !actual.contains("hunter"),
            "{} prints a sensitive value:\n{actual}",
            case.display()
        );
        let expected_path = case.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &actual).expect("write snapshot");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "{}:\n{}",
                case.display(),
                similar::TextDiff::from_lines(&expected, &actual)
                    .unified_diff()
                    .header("expected", "actual")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} snapshots differ (CUTOVER_UPDATE_SNAPSHOTS=1 to accept):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Cases that cannot live in git as files: an empty directory and a file over the size limit.
#[test]
fn empty_directory_and_huge_file_are_clear_errors() {
    let scratch = std::env::temp_dir().join(format!("cutover-fixtures-{}", std::process::id()));
    let empty = scratch.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("validate")
        .current_dir(&empty)
        .output()
        .unwrap();
    let shown = render(output.status.code(), &output.stdout, &output.stderr);
    assert_eq!(
        shown,
        "exit: 1\n--- stdout\n--- stderr\nerror: no configuration files (*.hcl) in .\n  = hint: a configuration is a directory of .hcl files; pass its path with -chdir or run cutover inside it\n\n1 error, 0 warnings: the configuration is not valid\n"
    );

    let huge = scratch.join("huge");
    std::fs::create_dir_all(&huge).unwrap();
    let line = "locals { padding = \"0123456789012345678901234567890123456789\" }\n";
    let text = line.repeat((9 * 1024 * 1024) / line.len());
    std::fs::write(huge.join("main.hcl"), text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("validate")
        .current_dir(&huge)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("configuration files are limited to 8388608 bytes"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&scratch).ok();
}
