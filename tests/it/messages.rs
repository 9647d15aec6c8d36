//! Messages that used to be wrong or lost (issue 21), each pinned by the bug it fixed: a
//! symlink loop in a module source, `-var-file` given a directory or a pipe, a state I/O error
//! printing the OS error twice, a corrupt state without the way back to its backup.

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
