//! Snapshots of the plan as users see it: `plan` (human), `show -json` and `show -markdown` of
//! a saved plan, for each `tests/fixtures/plan/<case>/` configuration planned against an empty
//! state. A case holds its configuration, or a `source` file naming a directory of the
//! repository to plan (so examples are snapshotted without copies), and `expected/`. Generated ids and the lineage are filtered. Update with
//! `CUTOVER_UPDATE_SNAPSHOTS=1 cargo test --test it plan_snapshots` and review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

const STATE_KEY: &str = "abababababababababababababababababababababababababababababababab";

fn run(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .current_dir(dir)
        .env("CUTOVER_STATE_KEY", STATE_KEY)
        .output()
        .expect("run cutover");
    format!(
        "$ cutover {}\nexit: {}\n{}{}",
        args.join(" "),
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Replaces UUIDs (ids, lineages) with a placeholder.
fn filter(text: &str) -> String {
    let pattern =
        regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
            .expect("regex");
    pattern.replace_all(text, "[UUID]").into_owned()
}

#[test]
fn plan_outputs_match_reviewed_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan");
    let update = std::env::var_os("CUTOVER_UPDATE_SNAPSHOTS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/fixtures/plan")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    for case in cases {
        // Work on a copy: planning writes the saved plan file.
        let scratch = std::env::temp_dir().join(format!(
            "cutover-plan-snapshot-{}-{}",
            std::process::id(),
            case.file_name().unwrap().to_string_lossy()
        ));
        std::fs::remove_dir_all(&scratch).ok();
        let source = match std::fs::read_to_string(case.join("source")) {
            Ok(relative) => Path::new(env!("CARGO_MANIFEST_DIR")).join(relative.trim()),
            Err(_) => case.clone(),
        };
        copy_dir(&source, &scratch);
        std::fs::remove_file(scratch.join("source")).ok();
        std::fs::remove_dir_all(scratch.join("expected")).ok();
        let outputs = [
            ("plan.txt", run(&scratch, &["plan", "-out", "saved.plan"])),
            ("show.json", run(&scratch, &["show", "-json", "saved.plan"])),
            (
                "show.md",
                run(&scratch, &["show", "-markdown", "saved.plan"]),
            ),
        ];
        for (name, output) in outputs {
            let output = filter(&output);
            assert!(
                !output.contains("change-me"),
                "a sensitive default leaked in {name}:\n{output}"
            );
            let expected_path = case.join("expected").join(name);
            if update {
                std::fs::create_dir_all(case.join("expected")).unwrap();
                std::fs::write(&expected_path, &output).unwrap();
                continue;
            }
            let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
            if expected != output {
                failures.push(format!(
                    "{}:\n{}",
                    expected_path.display(),
                    similar::TextDiff::from_lines(&expected, &output)
                        .unified_diff()
                        .header("expected", "actual")
                ));
            }
        }
        std::fs::remove_dir_all(&scratch).ok();
    }
    assert!(
        failures.is_empty(),
        "plan snapshots differ:\n{}",
        failures.join("\n")
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
