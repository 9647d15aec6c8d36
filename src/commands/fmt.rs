//! `cutover fmt`: rewrite `*.hcl` files into the canonical layout (see
//! [`crate::config::format`]), or, with `-check`, report which files are not in it.
//!
//! Behaves like `terraform fmt`: the current directory by default (`-recursive` for
//! subdirectories), named files or directories otherwise, `-` for stdin to stdout; prints each
//! changed file; exit 3 under `-check` when a file would change. A file that does not parse is
//! reported and never rewritten; the other files are still processed.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::config::format::format_file;
use crate::diagnostics::{Diagnostic, SourceFile};
use crate::settings::ExitStatus;

#[derive(Debug, Clone, clap::Args)]
pub struct FmtArgs {
    /// Files or directories to format (default: the current directory); `-` reads standard
    /// input and writes the result to standard output
    pub paths: Vec<PathBuf>,

    /// Check only: write nothing, exit 3 when any file would change
    #[arg(long, short = 'c')]
    pub check: bool,

    /// Print a unified diff of the changes
    #[arg(long)]
    pub diff: bool,

    /// Also format files in subdirectories
    #[arg(long)]
    pub recursive: bool,

    /// Print the names of files whose formatting changed (`--list=false` to disable)
    #[arg(
        long,
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
    )]
    pub list: bool,

    /// Write the formatted result back to the files (`--write=false` to disable)
    #[arg(
        long,
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
    )]
    pub write: bool,
}

/// Directories never entered by a recursive walk; hidden ones (`.git`, `.cache`, `.run`) are
/// skipped too.
const SKIPPED_DIRECTORIES: &[&str] = &["target", "node_modules"];

pub fn run(args: &FmtArgs) -> anyhow::Result<ExitStatus> {
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    let mut streams = Streams {
        stdin: &mut io::stdin().lock(),
        stdout: &mut io::stdout().lock(),
        stderr: &mut io::stderr().lock(),
    };
    run_with(args, &cwd, &mut streams)
}

/// The standard streams, replaceable in tests.
struct Streams<'a> {
    stdin: &'a mut dyn Read,
    stdout: &'a mut dyn Write,
    stderr: &'a mut dyn Write,
}

/// What happened across all files.
#[derive(Debug, Default)]
struct Outcome {
    changed: usize,
    failed: usize,
}

fn run_with(args: &FmtArgs, cwd: &Path, streams: &mut Streams<'_>) -> anyhow::Result<ExitStatus> {
    let mut outcome = Outcome::default();
    let is_stdin = |path: &PathBuf| path.as_os_str() == "-";
    if args.paths.iter().any(is_stdin) {
        if args.paths.len() > 1 {
            anyhow::bail!("`-` (standard input) cannot be combined with other paths");
        }
        format_stdin(args, cwd, streams, &mut outcome)?;
    } else {
        let default_paths = [PathBuf::from(".")];
        let paths = if args.paths.is_empty() {
            &default_paths[..]
        } else {
            &args.paths[..]
        };
        for path in paths {
            format_path(args, cwd, path, streams, &mut outcome)?;
        }
    }
    Ok(if outcome.failed > 0 {
        ExitStatus::Error
    } else if args.check && outcome.changed > 0 {
        ExitStatus::AssertionFailed
    } else {
        ExitStatus::Success
    })
}

fn format_stdin(
    args: &FmtArgs,
    cwd: &Path,
    streams: &mut Streams<'_>,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    streams
        .stdin
        .read_to_end(&mut bytes)
        .context("cannot read standard input")?;
    let name = Path::new("<stdin>");
    let Some(file) = source_file(name, bytes, cwd, streams, outcome)? else {
        return Ok(());
    };
    let Some(formatted) = format_or_report(&file, cwd, streams, outcome)? else {
        return Ok(());
    };
    let changed = formatted != file.text;
    if changed {
        outcome.changed += 1;
    }
    if args.diff {
        if changed {
            write_diff(streams.stdout, name, &file.text, &formatted)?;
        }
    } else if !args.check {
        streams.stdout.write_all(formatted.as_bytes())?;
    }
    Ok(())
}

/// Formats a named file, or the `*.hcl` files of a named directory.
fn format_path(
    args: &FmtArgs,
    cwd: &Path,
    path: &Path,
    streams: &mut Streams<'_>,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let absolute = cwd.join(path);
    match fs::metadata(&absolute) {
        Ok(metadata) if metadata.is_dir() => {
            let mut files = Vec::new();
            if let Err(error) = collect_files(&absolute, path, args.recursive, &mut files) {
                report(
                    streams,
                    cwd,
                    Diagnostic::error(format!("{error:#}")),
                    outcome,
                )?;
            }
            for file in files {
                format_one_file(args, cwd, &file, streams, outcome)?;
            }
            Ok(())
        }
        Ok(_) => format_one_file(args, cwd, path, streams, outcome),
        Err(error) => {
            let message = format!("no file or directory at {}: {error}", display(path));
            report(streams, cwd, Diagnostic::error(message), outcome)
        }
    }
}

/// The `*.hcl` files of a directory in name order, descending into subdirectories (except
/// hidden ones, `target` and `node_modules`, and never through a symbolic link) when
/// `recursive`. `shown` is the directory as the user named it, so paths print the same way.
fn collect_files(
    directory: &Path,
    shown: &Path,
    recursive: bool,
    files: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let entries = fs::read_dir(directory)
        .with_context(|| format!("cannot read directory {}", display(shown)))?;
    let mut entries = entries
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read directory {}", display(shown)))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name_text) = name.to_str() else {
            continue;
        };
        if name_text.starts_with('.') {
            continue;
        }
        let file_type = entry.file_type()?;
        let path = entry.path();
        let shown_path = shown.join(&name);
        if file_type.is_dir() {
            if recursive && !SKIPPED_DIRECTORIES.contains(&name_text) {
                collect_files(&path, &shown_path, recursive, files)?;
            }
        } else if name_text.ends_with(".hcl") && fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(shown_path);
        }
    }
    Ok(())
}

fn format_one_file(
    args: &FmtArgs,
    cwd: &Path,
    path: &Path,
    streams: &mut Streams<'_>,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let shown = clean(path);
    let absolute = cwd.join(path);
    let bytes = match fs::read(&absolute) {
        Ok(bytes) => bytes,
        Err(error) => {
            let message = format!("cannot read {}: {error}", display(&shown));
            return report(streams, cwd, Diagnostic::error(message), outcome);
        }
    };
    let Some(file) = source_file(&shown, bytes, cwd, streams, outcome)? else {
        return Ok(());
    };
    let Some(formatted) = format_or_report(&file, cwd, streams, outcome)? else {
        return Ok(());
    };
    if formatted == file.text {
        return Ok(());
    }
    outcome.changed += 1;
    if args.list {
        writeln!(streams.stdout, "{}", display(&shown))?;
    }
    if args.write && !args.check {
        if let Err(error) = write_atomically(&absolute, &formatted) {
            let message = format!("cannot write {}: {error:#}", display(&shown));
            report(streams, cwd, Diagnostic::error(message), outcome)?;
        }
    }
    if args.diff {
        write_diff(streams.stdout, &shown, &file.text, &formatted)?;
    }
    Ok(())
}

/// The file as text, or `None` (reported) when it is not UTF-8.
fn source_file(
    path: &Path,
    bytes: Vec<u8>,
    cwd: &Path,
    streams: &mut Streams<'_>,
    outcome: &mut Outcome,
) -> anyhow::Result<Option<Arc<SourceFile>>> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(Arc::new(SourceFile::new(path.to_path_buf(), text)))),
        Err(error) => {
            let offset = error.utf8_error().valid_up_to();
            let message = format!(
                "{} is not valid UTF-8 (invalid byte at offset {offset}); it was left unchanged",
                display(path)
            );
            report(streams, cwd, Diagnostic::error(message), outcome)?;
            Ok(None)
        }
    }
}

fn format_or_report(
    file: &Arc<SourceFile>,
    cwd: &Path,
    streams: &mut Streams<'_>,
    outcome: &mut Outcome,
) -> anyhow::Result<Option<String>> {
    match format_file(file) {
        Ok(formatted) => Ok(Some(formatted)),
        Err(error) => {
            report(streams, cwd, *error.into_diagnostic(), outcome)?;
            Ok(None)
        }
    }
}

fn report(
    streams: &mut Streams<'_>,
    cwd: &Path,
    diagnostic: Diagnostic,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    outcome.failed += 1;
    write!(streams.stderr, "{}", diagnostic.render(Some(cwd)))?;
    Ok(())
}

fn write_diff(out: &mut dyn Write, path: &Path, old: &str, new: &str) -> io::Result<()> {
    let path = display(path);
    let diff = similar::TextDiff::from_lines(old, new);
    let unified = diff
        .unified_diff()
        .header(&format!("old/{path}"), &format!("new/{path}"))
        .to_string();
    out.write_all(unified.as_bytes())
}

/// Replaces the file's contents through a temporary file in the same directory and a rename,
/// so a crash never leaves a half-written file; keeps the permissions, and writes through a
/// symbolic link to its target rather than replacing the link.
fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let target = fs::canonicalize(path)?;
    let directory = target
        .parent()
        .context("the file has no parent directory")?;
    let file_name = target
        .file_name()
        .context("the path has no file name")?
        .to_string_lossy();
    let permissions = fs::metadata(&target)?.permissions();
    let temporary = directory.join(format!(".{file_name}.cutover-fmt-{}", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        // Permissions first, so the contents are never readable more widely than the original.
        fs::set_permissions(&temporary, permissions)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, &target)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// The path without `.` components, so `cutover fmt` prints `main.hcl`, not `./main.hcl`.
fn clean(path: &Path) -> PathBuf {
    let cleaned: PathBuf = path
        .components()
        .filter(|component| *component != Component::CurDir)
        .collect();
    if cleaned.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        cleaned
    }
}

fn display(path: &Path) -> String {
    clean(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "cutover-fmt-test-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
            let path = self.0.join(relative);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, contents).unwrap();
        }

        fn read(&self, relative: &str) -> String {
            fs::read_to_string(self.0.join(relative)).unwrap()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn args(paths: &[&str]) -> FmtArgs {
        FmtArgs {
            paths: paths.iter().map(PathBuf::from).collect(),
            check: false,
            diff: false,
            recursive: false,
            list: true,
            write: true,
        }
    }

    struct Run {
        status: ExitStatus,
        stdout: String,
        stderr: String,
    }

    fn run_in(dir: &TempDir, args: &FmtArgs, stdin: &str) -> Run {
        let mut stdin = stdin.as_bytes();
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let status = run_with(
            args,
            &dir.0,
            &mut Streams {
                stdin: &mut stdin,
                stdout: &mut stdout,
                stderr: &mut stderr,
            },
        )
        .unwrap();
        Run {
            status,
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        }
    }

    const UNFORMATTED: &str = "locals {\na=1\n}\n";
    const FORMATTED: &str = "locals {\n  a = 1\n}\n";

    #[test]
    fn formats_the_directory_and_lists_changed_files() {
        let dir = TempDir::new("dir");
        dir.write("main.hcl", UNFORMATTED);
        dir.write("ok.hcl", FORMATTED);
        dir.write("notes.txt", UNFORMATTED);
        dir.write(".hidden.hcl", UNFORMATTED);
        dir.write("sub/nested.hcl", UNFORMATTED);
        let run = run_in(&dir, &args(&[]), "");
        assert_eq!(run.status, ExitStatus::Success, "{}", run.stderr);
        assert_eq!(run.stdout, "main.hcl\n");
        assert_eq!(dir.read("main.hcl"), FORMATTED);
        assert_eq!(dir.read("notes.txt"), UNFORMATTED);
        assert_eq!(dir.read(".hidden.hcl"), UNFORMATTED);
        assert_eq!(dir.read("sub/nested.hcl"), UNFORMATTED);
    }

    #[test]
    fn recursive_skips_hidden_and_target_directories() {
        let dir = TempDir::new("recursive");
        dir.write("sub/nested.hcl", UNFORMATTED);
        dir.write("target/generated.hcl", UNFORMATTED);
        dir.write(".cache/cached.hcl", UNFORMATTED);
        dir.write(".run/state.hcl", UNFORMATTED);
        let mut arguments = args(&[]);
        arguments.recursive = true;
        let run = run_in(&dir, &arguments, "");
        assert_eq!(run.stdout, "sub/nested.hcl\n");
        assert_eq!(dir.read("sub/nested.hcl"), FORMATTED);
        assert_eq!(dir.read("target/generated.hcl"), UNFORMATTED);
        assert_eq!(dir.read(".cache/cached.hcl"), UNFORMATTED);
        assert_eq!(dir.read(".run/state.hcl"), UNFORMATTED);
    }

    #[test]
    fn check_writes_nothing_and_exits_3() {
        let dir = TempDir::new("check");
        dir.write("main.hcl", UNFORMATTED);
        let mut arguments = args(&["main.hcl"]);
        arguments.check = true;
        let run = run_in(&dir, &arguments, "");
        assert_eq!(run.status, ExitStatus::AssertionFailed);
        assert_eq!(run.stdout, "main.hcl\n");
        assert_eq!(dir.read("main.hcl"), UNFORMATTED);

        dir.write("main.hcl", FORMATTED);
        let run = run_in(&dir, &arguments, "");
        assert_eq!(run.status, ExitStatus::Success);
        assert_eq!(run.stdout, "");
    }

    #[test]
    fn diff_prints_a_unified_diff_with_headers() {
        let dir = TempDir::new("diff");
        dir.write("main.hcl", UNFORMATTED);
        let mut arguments = args(&["./main.hcl"]);
        arguments.diff = true;
        arguments.check = true;
        arguments.list = false;
        let run = run_in(&dir, &arguments, "");
        assert_eq!(
            run.stdout,
            "--- old/main.hcl\n+++ new/main.hcl\n@@ -1,3 +1,3 @@\n locals {\n-a=1\n+  a = 1\n }\n"
        );
    }

    #[test]
    fn syntax_errors_are_reported_other_files_still_formatted() {
        let dir = TempDir::new("syntax");
        dir.write("a_broken.hcl", "locals {\n  a = \n}\n");
        dir.write("b_main.hcl", UNFORMATTED);
        let run = run_in(&dir, &args(&[]), "");
        assert_eq!(run.status, ExitStatus::Error);
        assert!(run.stderr.contains("error: syntax error"), "{}", run.stderr);
        assert!(run.stderr.contains("--> a_broken.hcl:"), "{}", run.stderr);
        assert_eq!(dir.read("a_broken.hcl"), "locals {\n  a = \n}\n");
        assert_eq!(dir.read("b_main.hcl"), FORMATTED);
        assert_eq!(run.stdout, "b_main.hcl\n");
    }

    #[test]
    fn non_utf8_files_are_named_in_the_error() {
        let dir = TempDir::new("utf8");
        dir.write("latin1.hcl", b"a = \"caf\xe9\"\n");
        let run = run_in(&dir, &args(&[]), "");
        assert_eq!(run.status, ExitStatus::Error);
        assert!(
            run.stderr
                .contains("latin1.hcl is not valid UTF-8 (invalid byte at offset 8)"),
            "{}",
            run.stderr
        );
    }

    #[test]
    fn missing_path_is_an_error() {
        let dir = TempDir::new("missing");
        let run = run_in(&dir, &args(&["nope.hcl"]), "");
        assert_eq!(run.status, ExitStatus::Error);
        assert!(
            run.stderr.contains("no file or directory at nope.hcl"),
            "{}",
            run.stderr
        );
    }

    #[test]
    fn stdin_to_stdout() {
        let dir = TempDir::new("stdin");
        let run = run_in(&dir, &args(&["-"]), UNFORMATTED);
        assert_eq!(run.status, ExitStatus::Success);
        assert_eq!(run.stdout, FORMATTED);

        let mut arguments = args(&["-"]);
        arguments.check = true;
        let run = run_in(&dir, &arguments, UNFORMATTED);
        assert_eq!(run.status, ExitStatus::AssertionFailed);
        assert_eq!(run.stdout, "");

        let run = run_in(&dir, &args(&["-"]), "locals {\n");
        assert_eq!(run.status, ExitStatus::Error);
        assert!(run.stderr.contains("<stdin>"), "{}", run.stderr);
        assert_eq!(run.stdout, "");
    }

    #[cfg(unix)]
    #[test]
    fn keeps_permissions_and_writes_through_symlinks() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new("perms");
        dir.write("real/main.hcl", UNFORMATTED);
        let real = dir.0.join("real/main.hcl");
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink(&real, dir.0.join("link.hcl")).unwrap();
        let run = run_in(&dir, &args(&["link.hcl"]), "");
        assert_eq!(run.status, ExitStatus::Success, "{}", run.stderr);
        assert!(
            fs::symlink_metadata(dir.0.join("link.hcl"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(dir.read("real/main.hcl"), FORMATTED);
        let mode = fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn clap_accepts_the_flags() {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct Test {
            #[command(flatten)]
            fmt: FmtArgs,
        }
        let parsed = Test::try_parse_from(["fmt", "--check", "--diff", "--recursive", "dir"])
            .unwrap()
            .fmt;
        assert!(parsed.check && parsed.diff && parsed.recursive && parsed.list && parsed.write);
        assert_eq!(parsed.paths, vec![PathBuf::from("dir")]);
        let parsed = Test::try_parse_from(["fmt", "--list=false", "-c"])
            .unwrap()
            .fmt;
        assert!(!parsed.list && parsed.check);
        let parsed = Test::try_parse_from(["fmt", "--list", "--write=false"])
            .unwrap()
            .fmt;
        assert!(parsed.list && !parsed.write);
    }
}
