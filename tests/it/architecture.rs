//! The layering of `src/` (ARCHITECTURE.md, "What imports what"): imports point down only, so
//! no two top-level modules import each other, directly or through others. This test reads
//! every `crate::…` path in `src/**/*.rs` (use lines, inline paths such as
//! `crate::verify::assert_schema()` and grouped `use crate::{a, b}` alike; unit-test modules
//! aside) and fails on a circle, naming the files that make each edge. It also checks that
//! ARCHITECTURE.md's code map names every top-level module and nothing that does not exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;

/// Module → module it imports → the files (relative to `src/`) that import it.
type Imports = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The crate root and the binaries are not modules of the library: they may import anything.
const NOT_MODULES: &[&str] = &["lib", "main", "bin"];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// Every file of `src/` as (path relative to `src/`, text).
fn sources() -> Vec<(String, String)> {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(&src)
                .expect("under src/")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).expect("a source file is UTF-8");
            (relative, text)
        })
        .collect()
}

/// The top-level module a file belongs to: `providers` for `providers/kafka/topics.rs`,
/// `cli` for `cli.rs`.
fn top_level_module(relative: &str) -> String {
    let first = relative.split('/').next().unwrap_or(relative);
    first.strip_suffix(".rs").unwrap_or(first).to_owned()
}

/// The text without its unit tests: a `#[cfg(test)] mod tests { … }` runs only under
/// `cargo test` and may reach anywhere (as the integration tests do).
fn without_unit_tests(text: &str) -> &str {
    let mut search = 0;
    while let Some(found) = text[search..].find("#[cfg(test)]") {
        let start = search + found;
        let rest = text[start + "#[cfg(test)]".len()..].trim_start();
        if let Some(after_mod) = rest.strip_prefix("mod ")
            && after_mod
                .trim_start()
                .strip_prefix("tests")
                .is_some_and(|tail| tail.trim_start().starts_with('{'))
        {
            return &text[..start];
        }
        search = start + 1;
    }
    text
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules named by the `crate::` paths of `text`: `crate::engine::Engine`
/// names `engine`; `crate::{config::value::Value, state}` names `config` and `state`.
/// `$crate::` (a macro's own crate) is not a module path.
fn modules_named(text: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    let mut search = 0;
    while let Some(found) = text[search..].find("crate::") {
        let start = search + found;
        search = start + "crate::".len();
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| is_identifier_char(c) || c == '$') {
            continue;
        }
        let rest = &text[search..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first segment of each comma-separated item at the group's own depth.
            let mut depth = 0usize;
            let mut first_segment = String::new();
            let mut first_segment_done = false;
            for c in group.chars() {
                if depth == 0 && !first_segment_done {
                    if is_identifier_char(c) {
                        first_segment.push(c);
                        continue;
                    }
                    if first_segment.is_empty() && c.is_whitespace() {
                        continue;
                    }
                    first_segment_done = true;
                    if !first_segment.is_empty() {
                        named.insert(std::mem::take(&mut first_segment));
                    }
                }
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => first_segment_done = false,
                    _ => {}
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| is_identifier_char(*c))
                .collect();
            if !name.is_empty() {
                named.insert(name);
            }
        }
    }
    named
}

/// What each top-level module imports from the others, from the given sources.
fn imports(sources: &[(String, String)]) -> Imports {
    let mut imports = Imports::new();
    for (relative, text) in sources {
        let module = top_level_module(relative);
        if NOT_MODULES.contains(&module.as_str()) {
            continue;
        }
        for named in modules_named(without_unit_tests(text)) {
            if named != module {
                imports
                    .entry(module.clone())
                    .or_default()
                    .entry(named)
                    .or_default()
                    .insert(relative.clone());
            }
        }
    }
    imports
}

/// The import circles: each a set of modules that reach one another, with the edges inside it
/// and the files that make them.
fn circles(imports: &Imports) -> Vec<String> {
    let mut graph = DiGraph::<&str, ()>::new();
    let mut nodes = BTreeMap::new();
    let modules: BTreeSet<&str> = imports
        .iter()
        .flat_map(|(from, to)| std::iter::once(from.as_str()).chain(to.keys().map(String::as_str)))
        .collect();
    for module in modules {
        nodes.insert(module, graph.add_node(module));
    }
    for (from, to) in imports {
        for imported in to.keys() {
            graph.add_edge(nodes[from.as_str()], nodes[imported.as_str()], ());
        }
    }
    let mut found = Vec::new();
    for component in tarjan_scc(&graph) {
        if component.len() < 2 {
            continue;
        }
        let members: BTreeSet<&str> = component.iter().map(|index| graph[*index]).collect();
        let mut text = format!(
            "circle: {}",
            members.iter().copied().collect::<Vec<_>>().join(", ")
        );
        for from in &members {
            for (imported, files) in &imports[*from] {
                if members.contains(imported.as_str()) {
                    text.push_str(&format!(
                        "\n  {from} -> {imported} in {}",
                        files.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        found.push(text);
    }
    found.sort();
    found
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let found = circles(&imports(&sources()));
    assert!(
        found.is_empty(),
        "imports must point down only (ARCHITECTURE.md, \"What imports what\"); move what both \
         sides need below them:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_circle_is_found_wherever_its_import_is_written() {
    let mut sources = sources();
    // The edges of the circles this test was written against, written three ways.
    sources.push((
        "verify/context_again.rs".to_owned(),
        "fn check(context: &crate::providers::ProviderContext) -> bool { context.is_cancelled() }"
            .to_owned(),
    ));
    sources.push((
        "commands/settings_again.rs".to_owned(),
        "use crate::{\n    cli::{ExitStatus, Settings},\n    config,\n};".to_owned(),
    ));
    sources.push((
        "settings.rs".to_owned(),
        "use crate::commands::common;\n#[cfg(test)]\nmod tests { use crate::verify; }".to_owned(),
    ));
    let found = circles(&imports(&sources));
    let shown = found.join("\n");
    assert!(
        shown.contains("verify -> providers in verify/context_again.rs"),
        "{shown}"
    );
    assert!(
        shown.contains("providers -> verify in providers/mod.rs"),
        "{shown}"
    );
    assert!(
        shown.contains("commands -> cli in commands/settings_again.rs"),
        "{shown}"
    );
    assert!(
        shown.contains("settings -> commands in settings.rs"),
        "{shown}"
    );
    // A unit-test module's imports are not edges; `$crate::` is not this crate's module path.
    assert!(!shown.contains("settings -> verify"), "{shown}");
    assert!(modules_named("$crate::x::y").is_empty());
}

/// The modules ARCHITECTURE.md's code map lists: its `### \`name\`` headings.
fn mapped_modules(architecture: &str) -> BTreeSet<String> {
    architecture
        .lines()
        .filter_map(|line| line.strip_prefix("### `"))
        .filter_map(|rest| rest.split('`').next())
        .map(|name| {
            name.trim_end_matches('/')
                .trim_end_matches(".rs")
                .to_owned()
        })
        .filter(|name| name.starts_with("src/"))
        .map(|name| name.trim_start_matches("src/").to_owned())
        .collect()
}

#[test]
fn the_code_map_names_every_top_level_module_and_only_those() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let mapped = mapped_modules(&architecture);
    let existing: BTreeSet<String> = sources()
        .iter()
        .map(|(relative, _)| top_level_module(relative))
        .filter(|module| !["lib", "main"].contains(&module.as_str()))
        .collect();
    let missing: Vec<_> = existing.difference(&mapped).collect();
    let stale: Vec<_> = mapped.difference(&existing).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "ARCHITECTURE.md's code map (### `src/NAME` headings) is out of date: not described \
         {missing:?}, described but not in src/ {stale:?}"
    );
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).expect("src/lib.rs");
    for module in existing.iter().filter(|module| *module != "bin") {
        assert!(
            lib.contains(&format!("pub mod {module};")),
            "src/{module} is not declared in src/lib.rs"
        );
    }
}

/// Below `commands`, nothing reads the environment: `Settings` resolves it once per run. The
/// exceptions are platform facts read where they are used, each named here with its reason
/// (ARCHITECTURE.md, "Settings"); a new `std::env::var` anywhere else fails this test.
const ENVIRONMENT_READERS: &[(&str, &str)] = &[
    (
        "cli.rs",
        "the command line and its flags' environment defaults",
    ),
    ("settings.rs", "Settings::resolve"),
    (
        "state/sensitive.rs",
        "KeySettings::from_env, called by Settings::resolve",
    ),
    (
        "state/encryption.rs",
        "EncryptionSettings::from_env, called by Settings::resolve",
    ),
    (
        "state/platform.rs",
        "USER and HOSTNAME for a lock's holder, as gethostname would",
    ),
    (
        "config/functions.rs",
        "HOME for pathexpand(\"~/…\"), as Terraform's own",
    ),
    (
        "kafka/iam.rs",
        "AWS_REGION for an MSK IAM token, the AWS SDK's own chain",
    ),
    (
        "mirror/fleet.rs",
        "CUTOVER_WORKER_EXE: the worker binary when tests drive the engine",
    ),
];

#[test]
fn nothing_below_commands_reads_the_environment() {
    let mut found = Vec::new();
    for (relative, text) in sources() {
        let text = without_unit_tests(&text);
        if relative.starts_with("commands/")
            || relative.starts_with("bin/")
            || relative == "main.rs"
            || ENVIRONMENT_READERS
                .iter()
                .any(|(file, _)| *file == relative)
        {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            if ["env::var(", "env::var_os(", "env::vars("]
                .iter()
                .any(|call| line.contains(call))
            {
                found.push(format!("{relative}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "read the environment in Settings::resolve and pass the value down:\n{}",
        found.join("\n")
    );
}
