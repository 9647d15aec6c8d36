//! The command line itself: help, version, usage errors and their exit codes.

use std::process::{Command, Output};

fn cutover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .output()
        .expect("run the cutover binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_commands_and_exits_zero() {
    let output = cutover(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Usage: cutover"), "{stdout}");
    assert!(stdout.contains("version"), "{stdout}");
}

#[test]
fn version_flag_prints_the_crate_version() {
    let output = cutover(&["--version"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        text(&output.stdout).trim(),
        format!("cutover {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn version_command_names_the_bundled_librdkafka_2x() {
    let output = cutover(&["version"]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    // librdkafka 3.x drops brokers older than 0.10; the project must stay on 2.x.
    assert!(stdout.contains("librdkafka 2."), "{stdout}");
}

#[test]
fn unknown_command_is_a_clear_error_with_exit_code_one() {
    let output = cutover(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("unrecognized subcommand 'frobnicate'"),
        "{stderr}"
    );
}

#[test]
fn missing_command_shows_usage_and_exits_one() {
    let output = cutover(&[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("Usage: cutover"));
}

/// Every example configuration validates and is in canonical format.
#[test]
fn examples_validate_and_are_formatted() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).expect("examples/") {
        let dir = entry.expect("entry").path();
        if !dir.is_dir()
            || !std::fs::read_dir(&dir).unwrap().any(|f| {
                f.map(|f| f.path().extension().is_some_and(|e| e == "hcl"))
                    .unwrap_or(false)
            })
        {
            continue;
        }
        let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["validate"])
            .current_dir(&dir)
            .output()
            .expect("run cutover");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: {}",
            dir.display(),
            text(&output.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 1, "no example configurations found");
    let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["fmt", "-check", "-recursive", "examples", "modules"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cutover fmt");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// The binary installs a log subscriber: without one every `tracing` event is dropped.
/// `CUTOVER_LOG` turns on cutover's debug lines on stderr; by default only warnings show.
#[test]
fn cutover_log_prints_debug_lines_on_stderr_and_the_default_does_not() {
    let dir = std::env::temp_dir().join(format!("cutover-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.hcl"), "locals {\n  a = 1\n}\n").unwrap();
    let plan = |log: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cutover"));
        command
            .args(["plan", "-lock=false"])
            .current_dir(&dir)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1");
        match log {
            Some(filter) => command.env("CUTOVER_LOG", filter),
            None => command.env_remove("CUTOVER_LOG"),
        };
        command.output().expect("run cutover plan")
    };
    let debug = plan(Some("cutover=debug"));
    let quiet = plan(None);
    let bad = plan(Some("cutover=loud"));
    std::fs::remove_dir_all(&dir).ok();

    let stderr = text(&debug.stderr);
    assert!(debug.status.success(), "{}{stderr}", text(&debug.stdout));
    assert!(
        stderr
            .lines()
            .any(|line| line.contains("DEBUG") && line.contains("runs without the state lock")),
        "no debug line on stderr:\n{stderr}"
    );
    let stderr = text(&quiet.stderr);
    assert!(quiet.status.success(), "{stderr}");
    assert!(!stderr.contains("DEBUG"), "{stderr}");
    let stderr = text(&bad.stderr);
    assert!(
        stderr.contains("warning: CUTOVER_LOG=\"cutover=loud\" is not a log filter"),
        "{stderr}"
    );
}
