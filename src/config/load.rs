//! Loading: a configuration is a directory of `*.hcl` files (the root module) plus the local
//! modules it calls (`source = "../modules/x"`), recursively. Variable files (`*.vars.hcl`)
//! are not configuration; see [`super::inputs`]. Reading files is the only I/O `config` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::model::Module;
use super::parse::parse_file;
use crate::diagnostics::{Diagnostic, Diagnostics, SourceFile, Span};

/// Files larger than this are refused rather than parsed (a configuration this large is a
/// mistake, and parsing it would take the machine's memory).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
const MAX_MODULE_DEPTH: usize = 16;

/// A module and the modules it calls, by call name.
#[derive(Debug, Clone)]
pub struct ModuleTree {
    pub module: Module,
    pub children: BTreeMap<String, ModuleTree>,
}

/// True for files that hold variable values, not configuration.
pub fn is_var_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.ends_with(".vars.hcl"))
}

/// Reads a file into a [`SourceFile`]. Invalid UTF-8 is reported at the first bad byte (the
/// text is kept, lossily decoded, so the diagnostic can show the line).
pub fn read_source(path: &Path) -> Result<Arc<SourceFile>, Box<Diagnostic>> {
    let metadata = std::fs::metadata(path).map_err(|error| {
        Box::new(Diagnostic::error(format!(
            "cannot read {}: {error}",
            path.display()
        )))
    })?;
    if metadata.len() > MAX_FILE_BYTES {
        return Err(Box::new(Diagnostic::error(format!(
            "{} is {} bytes; configuration files are limited to {} bytes",
            path.display(),
            metadata.len(),
            MAX_FILE_BYTES
        ))));
    }
    if metadata.is_dir() {
        return Err(Box::new(Diagnostic::error(format!(
            "cannot read {}: it is a directory, not a file",
            path.display()
        ))));
    }
    // Read with a bound: a pipe (`-var-file <(...)`) or a device has no length to check
    // beforehand, and `/dev/zero` never ends.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| {
            use std::io::Read as _;
            file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)
        })
        .map_err(|error| {
            Box::new(Diagnostic::error(format!(
                "cannot read {}: {error}",
                path.display()
            )))
        })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Box::new(Diagnostic::error(format!(
            "{} is larger than the {} bytes configuration files are limited to",
            path.display(),
            MAX_FILE_BYTES
        ))));
    }
    // A byte order mark is allowed (some Windows editors write one) and is not part of the text.
    let bytes = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    match String::from_utf8(bytes) {
        Ok(text) => {
            let file = Arc::new(SourceFile::new(path.to_path_buf(), text));
            match control_character(&file) {
                Some(diagnostic) => Err(Box::new(diagnostic)),
                None => Ok(file),
            }
        }
        Err(error) => {
            let valid_up_to = error.utf8_error().valid_up_to();
            let bad_byte = error.as_bytes()[valid_up_to];
            let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
            // The lossy text has the same bytes up to the first invalid sequence, which it
            // replaces with U+FFFD (three bytes).
            let file = Arc::new(SourceFile::new(path.to_path_buf(), text));
            let end = next_char_boundary(&file.text, valid_up_to);
            Err(Box::new(
                Diagnostic::error(format!(
                    "the file is not valid UTF-8: byte 0x{bad_byte:02x} is not part of a UTF-8 character"
                ))
                .at(Span::new(&file, valid_up_to..end))
                .with_hint(
                    "configuration files must be UTF-8; convert it, e.g. iconv -f latin1 -t utf-8",
                ),
            ))
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A NUL byte or another control character (tab, CR and LF aside) anywhere in the file, as
/// HCL's own scanner refuses them: inside a string it must be written as an escape (`\u0000`).
/// Reported at the first one, with how many there are.
fn control_character(file: &Arc<SourceFile>) -> Option<Diagnostic> {
    let is_forbidden =
        |c: char| (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{feff}';
    let (offset, character) = file.text.char_indices().find(|(_, c)| is_forbidden(*c))?;
    let count = file.text.chars().filter(|c| is_forbidden(*c)).count();
    let name = match character {
        '\0' => "a NUL byte".to_owned(),
        '\u{feff}' => "a byte order mark inside the file".to_owned(),
        other => format!("the control character U+{:04X}", u32::from(other)),
    };
    let more = if count > 1 {
        format!(" (and {} more in this file)", count - 1)
    } else {
        String::new()
    };
    Some(
        Diagnostic::error(format!("invalid character: {name}{more}"))
            .at(Span::new(file, offset..offset + character.len_utf8()))
            .with_hint(
                "configuration files hold text: tabs, line breaks and printable characters; inside a string write an escape such as \\u0000",
            ),
    )
}

fn next_char_boundary(text: &str, offset: usize) -> usize {
    text.get(offset..)
        .and_then(|rest| rest.chars().next())
        .map_or(offset, |c| offset + c.len_utf8())
}

/// `./main.hcl` → `main.hcl`, `a/./b/../c` kept as written otherwise: paths in diagnostics
/// read the way the user would type them.
pub fn tidy_path(path: &Path) -> PathBuf {
    let tidy: PathBuf = path
        .components()
        .filter(|component| !matches!(component, std::path::Component::CurDir))
        .collect();
    if tidy.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        tidy
    }
}

/// A module directory as diagnostics show it: `modules/a/../b` → `modules/b`, `./x` → `x`.
/// `..` is resolved against the path's own components only (never the file system), and a
/// leading `..` that climbs out of the configuration is kept.
pub fn normalize_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut parts: Vec<Component<'_>> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        PathBuf::from(".")
    } else {
        parts.iter().collect()
    }
}

/// Loads the root module in `dir` and every module it calls.
pub fn load(dir: &Path) -> (Option<ModuleTree>, Diagnostics) {
    let mut diagnostics = Diagnostics::new();
    let mut stack = Vec::new();
    let _budget = super::budget::start(super::budget::configured_limits());
    let mut loaded = Loaded::default();
    let tree = load_module(dir, None, &mut stack, &mut loaded, &mut diagnostics);
    diagnostics.sort();
    (tree, diagnostics)
}

/// A module being loaded: its canonical directory (to detect a module calling itself), the
/// directory as shown, and its address (`module.a.module.b`; empty for the root).
struct Loading {
    canonical: PathBuf,
    shown: PathBuf,
    address: String,
}

/// Module directories already read and decoded, by directory: a module called from many
/// places is read once (its problems reported once), however many instances it has.
#[derive(Default)]
struct Loaded {
    modules: std::collections::HashMap<PathBuf, Module>,
}

/// The module call being followed: its name and the span of its `source`.
struct Call<'a> {
    name: &'a str,
    source_span: &'a Span,
}

/// The error of a path that goes through a loop of symbolic links (`ELOOP`).
pub(crate) fn is_symlink_loop(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        error.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        false
    }
}

fn load_module(
    dir: &Path,
    called_from: Option<Call<'_>>,
    stack: &mut Vec<Loading>,
    loaded: &mut Loaded,
    diagnostics: &mut Diagnostics,
) -> Option<ModuleTree> {
    let call_span = called_from.as_ref().map(|call| call.source_span.clone());
    let canonical = match dir.canonicalize() {
        Ok(path) if path.is_dir() => path,
        Ok(_) => {
            diagnostics.push(
                Diagnostic::error(format!("{} is not a directory", dir.display()))
                    .at_opt(call_span)
                    .with_hint("a module source names a directory of .hcl files"),
            );
            return None;
        }
        Err(error) => {
            let diagnostic = match (&called_from, stack.last()) {
                // A loop of symbolic links (ELOOP) or any other failure but a missing path is
                // not "does not exist": say what it is.
                (Some(_), Some(_)) if is_symlink_loop(&error) => Diagnostic::error(format!(
                    "module directory {} is a loop of symbolic links",
                    dir.display()
                ))
                .with_hint(
                    "a link in the source path points back to itself, directly or through other links; `ls -l` along the path shows where",
                ),
                (Some(_), Some(_)) if error.kind() != std::io::ErrorKind::NotFound => {
                    Diagnostic::error(format!(
                        "cannot open module directory {}: {error}",
                        dir.display()
                    ))
                }
                (Some(_), Some(parent)) => Diagnostic::error(format!(
                    "module directory {} does not exist",
                    dir.display()
                ))
                .with_hint(if parent.address.is_empty() {
                    "the source path is relative to the calling module's directory, here the configuration directory".to_owned()
                } else {
                    format!(
                        "the source path is relative to the calling module's directory, {}",
                        parent.shown.display()
                    )
                }),
                _ if is_symlink_loop(&error) => Diagnostic::error(format!(
                    "cannot open configuration directory {}: it is a loop of symbolic links",
                    dir.display()
                )),
                _ => Diagnostic::error(format!(
                    "cannot open configuration directory {}: {error}",
                    dir.display()
                )),
            };
            diagnostics.push(diagnostic.at_opt(call_span));
            return None;
        }
    };
    let address = match (&called_from, stack.last()) {
        (Some(call), Some(parent)) if parent.address.is_empty() => format!("module.{}", call.name),
        (Some(call), Some(parent)) => format!("{}.module.{}", parent.address, call.name),
        _ => String::new(),
    };
    if let Some(first) = stack.iter().find(|loading| loading.canonical == canonical) {
        let loaded_by = if first.address.is_empty() {
            "the root module".to_owned()
        } else {
            first.address.clone()
        };
        let chain: Vec<&str> = stack
            .iter()
            .map(|loading| loading.address.as_str())
            .filter(|address| !address.is_empty())
            .chain(std::iter::once(address.as_str()))
            .collect();
        diagnostics.push(
            Diagnostic::error(format!(
                "module \"{}\" calls itself: {} is already loaded by {loaded_by}",
                called_from.as_ref().map_or("", |call| call.name),
                first.shown.display(),
            ))
            .at_opt(call_span)
            .with_hint(format!(
                "modules would nest forever: {}; point source at a different directory",
                chain.join(" → ")
            )),
        );
        return None;
    }
    if stack.len() >= MAX_MODULE_DEPTH {
        diagnostics.push(
            Diagnostic::error(format!(
                "modules are nested more than {MAX_MODULE_DEPTH} deep"
            ))
            .at_opt(call_span),
        );
        return None;
    }

    if let Err(message) = super::budget::charge_module_instance() {
        // Once: every later call would say the same.
        if super::budget::module_instances_spent() == super::budget::limits().module_instances + 1 {
            diagnostics.push(Diagnostic::error(message).at_opt(call_span));
        }
        return None;
    }
    let module = match loaded.modules.get(dir) {
        Some(module) => module.clone(),
        None => {
            let module = read_module(dir, call_span.as_ref(), diagnostics)?;
            loaded.modules.insert(dir.to_path_buf(), module.clone());
            module
        }
    };
    let source_bytes = module.files.iter().map(|file| file.text.len() as u64).sum();
    let already_exceeded = super::budget::exceeded();
    if let Err(message) = super::budget::charge_module_source(source_bytes) {
        // Once: every later call would say the same.
        if !already_exceeded {
            diagnostics.push(Diagnostic::error(message).at_opt(call_span));
        }
        return None;
    }

    stack.push(Loading {
        canonical,
        shown: normalize_path(dir),
        address,
    });
    let mut children = BTreeMap::new();
    for call in &module.module_calls {
        if !(call.source.starts_with("./") || call.source.starts_with("../")) {
            let message = if Path::new(&call.source).is_absolute() {
                format!("module source \"{}\" is an absolute path", call.source)
            } else {
                format!("module source \"{}\" is not a local path", call.source)
            };
            diagnostics.push(
                Diagnostic::error(message)
                .at(call.source_span.clone())
                .with_hint("cutover loads modules from directories relative to the calling module: source = \"./modules/x\" or \"../modules/x\""),
            );
            continue;
        }
        let child_dir = normalize_path(&dir.join(&call.source));
        let call_site = Call {
            name: &call.name,
            source_span: &call.source_span,
        };
        if let Some(child) = load_module(&child_dir, Some(call_site), stack, loaded, diagnostics) {
            children.insert(call.name.clone(), child);
        }
    }
    stack.pop();
    Some(ModuleTree { module, children })
}

/// Reads and decodes the `*.hcl` files of one module directory.
fn read_module(
    dir: &Path,
    call_span: Option<&Span>,
    diagnostics: &mut Diagnostics,
) -> Option<Module> {
    let call_span = call_span.cloned();
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| tidy_path(&entry.path())))
            .filter(|path| {
                path.extension().is_some_and(|ext| ext == "hcl")
                    && !is_var_file(path)
                    && path.is_file()
            })
            .collect(),
        Err(error) => {
            diagnostics.push(
                Diagnostic::error(format!("cannot list {}: {error}", dir.display()))
                    .at_opt(call_span),
            );
            return None;
        }
    };
    paths.sort();
    if paths.is_empty() {
        diagnostics.push(
            Diagnostic::error(format!("no configuration files (*.hcl) in {}", dir.display()))
                .at_opt(call_span)
                .with_hint("a configuration is a directory of .hcl files; pass its path with -chdir or run cutover inside it"),
        );
        return None;
    }

    let mut parsed = Vec::new();
    for path in paths {
        match read_source(&path) {
            Ok(file) => match parse_file(&file) {
                Ok(body) => parsed.push((file, body)),
                Err(diagnostic) => diagnostics.push(*diagnostic),
            },
            Err(diagnostic) => diagnostics.push(*diagnostic),
        }
    }
    let (module, decoded) = Module::decode(dir.to_path_buf(), parsed);
    diagnostics.extend(decoded);
    Some(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory for one test, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("cutover-load-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch dir");
            Self(dir)
        }

        fn write(&self, path: &str, bytes: &[u8]) {
            let path = self.0.join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
            std::fs::write(path, bytes).expect("write");
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_text() {
        let scratch = Scratch::new("bom");
        scratch.write("main.hcl", b"\xEF\xBB\xBFlocals {\n  a = 1\n}\n");
        let (tree, diagnostics) = load(&scratch.0);
        assert!(diagnostics.is_empty(), "{}", diagnostics.render(None));
        assert_eq!(tree.expect("tree").module.locals[0].name, "a");
    }

    #[test]
    fn invalid_utf8_names_the_byte() {
        let scratch = Scratch::new("utf8");
        scratch.write("main.hcl", b"locals {\n  a = \"caf\xe9\"\n}\n");
        let (_, diagnostics) = load(&scratch.0);
        let diagnostic = diagnostics.iter().next().expect("a diagnostic");
        assert_eq!(
            diagnostic.message,
            "the file is not valid UTF-8: byte 0xe9 is not part of a UTF-8 character"
        );
        assert_eq!(
            diagnostic.span.as_ref().map(|s| s.start_position().line),
            Some(2)
        );
    }

    #[test]
    fn module_paths_are_shown_normalized() {
        assert_eq!(
            normalize_path(Path::new("./modules/a/../b")),
            PathBuf::from("modules/b")
        );
        assert_eq!(
            normalize_path(Path::new("./../shared")),
            PathBuf::from("../shared")
        );
        assert_eq!(normalize_path(Path::new("./.")), PathBuf::from("."));
    }

    #[test]
    fn a_module_calling_itself_is_named_without_absolute_paths() {
        let scratch = Scratch::new("self");
        scratch.write("main.hcl", b"module \"loop\" {\n  source = \"./m\"\n}\n");
        scratch.write(
            "m/main.hcl",
            b"module \"again\" {\n  source = \"../m\"\n}\n",
        );
        let (_, diagnostics) = load(&scratch.0);
        let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].starts_with("module \"again\" calls itself: ")
                && messages[0].ends_with("/m is already loaded by module.loop"),
            "{}",
            messages[0]
        );
        let hint = diagnostics
            .iter()
            .next()
            .and_then(|d| d.hint.clone())
            .unwrap_or_default();
        assert!(
            hint.contains("module.loop → module.loop.module.again"),
            "{hint}"
        );
    }

    #[test]
    fn a_module_called_from_many_places_is_read_once() {
        let scratch = Scratch::new("cache");
        scratch.write(
            "main.hcl",
            b"module \"a\" {\n  source = \"./m\"\n}\nmodule \"b\" {\n  source = \"./m\"\n}\nmodule \"c\" {\n  source = \"./n\"\n}\n",
        );
        scratch.write("m/main.hcl", b"locals {\n  leaf = 1\n}\n");
        scratch.write("n/main.hcl", b"module \"d\" {\n  source = \"../m\"\n}\n");
        let (tree, diagnostics) = load(&scratch.0);
        assert!(diagnostics.is_empty(), "{}", diagnostics.render(None));
        let tree = tree.expect("tree");
        let file = |tree: &ModuleTree| Arc::clone(&tree.module.files[0]);
        let a = file(&tree.children["a"]);
        // One read of m/, shared by every instance (the same file, not an equal copy): four
        // levels of four calls each would otherwise read 4^levels directories.
        assert!(Arc::ptr_eq(&a, &file(&tree.children["b"])));
        assert!(Arc::ptr_eq(&a, &file(&tree.children["c"].children["d"])));
    }
}
