//! Messages that used to be wrong or lost (issue 21), each pinned by the bug it fixed: a
//! symlink loop in a module source, `-var-file` given a directory or a pipe, a state I/O error
//! printing the OS error twice, a corrupt state without the way back to its backup, a 2 MB
//! line echoed whole in a diagnostic, `show FILE` refused while an apply holds the lock.

use super::support::Workspace;

const MARKER: &str = "resource \"cutover_data\" \"marker\" {\n  input = var.label\n}\n\nvariable \"label\" {\n  type = string\n}\n";

#[test]
fn a_symlink_loop_in_a_module_source_is_called_a_loop() {
    let workspace = Workspace::new("module-loop");
    workspace.write(
        "main.hcl",
        "module \"looped\" {\n  source = \"./looped\"\n}\n",
    );
    std::os::unix::fs::symlink("looped", workspace.dir.join("looped")).unwrap();
    let output = workspace.expect(&["validate"], 1);
    assert!(
        output.contains("looped is a loop of symbolic links"),
        "{output}"
    );
    assert!(output.contains("main.hcl:2:"), "{output}");
    assert!(!output.contains("does not exist"), "{output}");
    // A missing directory is still "does not exist".
    workspace.write(
        "main.hcl",
        "module \"missing\" {\n  source = \"./missing\"\n}\n",
    );
    let output = workspace.expect(&["validate"], 1);
    assert!(output.contains("missing does not exist"), "{output}");
}

#[test]
fn a_var_file_that_is_a_directory_or_a_pipe_is_handled() {
    let workspace = Workspace::new("var-file-kinds");
    workspace.write("main.hcl", MARKER);
    std::fs::create_dir(workspace.dir.join("vars.d")).unwrap();
    let output = workspace.expect(&["validate", "-var-file", "vars.d"], 1);
    assert!(
        output.contains("the var file vars.d is a directory"),
        "{output}"
    );
    assert!(!output.contains("does not exist"), "{output}");

    // A pipe, as `-var-file <(...)` gives: read, once.
    let pipe = workspace.dir.join("vars.pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .unwrap();
    assert!(status.success());
    let writer = {
        let pipe = pipe.clone();
        std::thread::spawn(move || {
            std::fs::write(&pipe, "label = \"from-a-pipe\"\n").unwrap();
        })
    };
    let output = workspace.expect(&["plan", "-var-file", "vars.pipe"], 0);
    writer.join().unwrap();
    assert!(output.contains("from-a-pipe"), "{output}");

    // An endless one is cut at the configuration file limit, not read forever.
    let output = workspace.expect(&["validate", "-var-file", "/dev/zero"], 1);
    assert!(
        output.contains(
            "/dev/zero is larger than the 8388608 bytes configuration files are limited to"
        ),
        "{output}"
    );
}

#[test]
fn state_errors_say_the_os_error_once_and_a_corrupt_state_names_its_backup() {
    let workspace = Workspace::new("state-errors");
    workspace.write("main.hcl", MARKER);
    workspace.expect(&["apply", "-auto-approve", "-var", "label=one"], 0);
    workspace.expect(&["apply", "-auto-approve", "-var", "label=two"], 0);
    assert!(workspace.dir.join("cutover.state.json.backup").is_file());

    std::fs::write(
        workspace.dir.join("cutover.state.json"),
        "{\"version\": 1, \"serial\": ",
    )
    .unwrap();
    let output = workspace.expect(&["plan", "-var", "label=two"], 1);
    assert!(output.contains("cutover.state.json:1:"), "{output}");
    // The command given, run as it is printed, brings the state back.
    let command = output
        .split_once("restore it with `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(command, _)| command.to_owned())
        .unwrap_or_else(|| panic!("no restore command in:\n{output}"));
    assert!(
        command.starts_with("cp ") && command.contains("cutover.state.json.backup"),
        "{command}"
    );
    let status = std::process::Command::new("sh")
        .args(["-c", &command])
        .current_dir(&workspace.dir)
        .status()
        .unwrap();
    assert!(status.success(), "{command}");
    workspace.expect(&["plan", "-var", "label=two"], 0);
    let state = workspace.dir.join("cutover.state.json");

    std::fs::remove_file(&state).unwrap();
    std::fs::create_dir(&state).unwrap();
    let output = workspace.expect(&["plan", "-var", "label=two"], 1);
    assert_eq!(
        output.matches("Is a directory (os error 21)").count(),
        1,
        "{output}"
    );
}

/// A diagnostic on a line of 2 MB (a minified or generated file) shows the part around the
/// caret, in the rendered text and in `validate -json`, not the whole line.
#[test]
fn a_diagnostic_on_a_two_megabyte_line_shows_only_the_part_around_it() {
    let workspace = Workspace::new("huge-line");
    // Two-byte characters: a cut inside one would not be valid UTF-8.
    let filler = "é".repeat(1_000_000);
    workspace.write(
        "main.hcl",
        &format!("locals {{ x = [\"{filler}\", bogus(1), \"{filler}\"] }}\n"),
    );
    for args in [&["validate"][..], &["validate", "-json"]] {
        let output = workspace.expect(args, 1);
        assert!(
            output.len() < 4_000,
            "{args:?} printed {} bytes",
            output.len()
        );
        assert!(output.contains("bogus"), "{output}");
        assert!(output.contains("…é"), "{output}");
        assert!(output.contains("é…"), "{output}");
    }
    let json = workspace.expect(&["validate", "-json"], 1);
    let json: serde_json::Value = serde_json::from_str(&json).expect("validate -json");
    let snippet = json["diagnostics"][0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("bogus(1)"), "{snippet}");
}

/// `show FILE` reads a saved plan and the state; it takes no lock (as Terraform's `show
/// planfile`), so it works while another run (an apply) holds the lock.
#[test]
fn show_of_a_saved_plan_works_while_another_run_holds_the_lock() {
    use cutover::state::Backend as _;

    let workspace = Workspace::new("show-locked");
    workspace.write("main.hcl", MARKER);
    workspace.expect(&["plan", "-out", "saved.plan", "-var", "label=one"], 0);
    let backend = cutover::state::LocalBackend::in_directory(&workspace.dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let holder = runtime
        .block_on(backend.lock("apply", std::time::Duration::ZERO))
        .unwrap();
    let shown = workspace.expect(&["show", "saved.plan"], 0);
    assert!(
        shown.contains("cutover_data.marker will be created"),
        "{shown}"
    );
    let json = workspace.expect(&["show", "-json", "saved.plan"], 0);
    assert!(json.contains("cutover_data.marker"), "{json}");
    workspace.expect(&["show", "-markdown", "saved.plan"], 0);
    // Commands that write still wait for the lock.
    let blocked = workspace.expect(&["apply", "saved.plan"], 1);
    assert!(blocked.contains(&holder.id), "{blocked}");
    runtime.block_on(backend.unlock(&holder.id)).unwrap();
    workspace.expect(&["apply", "saved.plan"], 0);
}
