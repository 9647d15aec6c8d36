//! A small mutation fuzzer for the configuration loader: takes seed configurations, mutates
//! them (byte flips, deletions, duplications, splices, inserted HCL tokens, truncation) and
//! checks that loading and evaluating never panics and always ends in a value or diagnostics.
//! Shared by the bounded test (`tests/it/fuzz.rs`) and the long run (`cargo bench --bench
//! fuzz_config -- --seconds N`).

use std::path::{Path, PathBuf};

use cutover::config::{EvalMode, load_and_evaluate};
use cutover::providers::Registry;

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "${",
    "%{",
    "}",
    "=",
    "==",
    "=>",
    ":",
    "?",
    "...",
    ".",
    "*",
    "[*]",
    ",",
    "\n",
    " ",
    "#",
    "//",
    "/*",
    "*/",
    "<<EOF\n",
    "<<-EOF\n",
    "\nEOF\n",
    "for",
    "in",
    "if",
    "endif",
    "endfor",
    "each.key",
    "each.value",
    "count.index",
    "var.x",
    "local.y",
    "module.m.out",
    "cutover_data.a.output",
    "data.t.n",
    "null",
    "true",
    "1e309",
    "99999999999999999999999",
    "-",
    "!",
    "&&",
    "||",
    "/ 0",
    "% 0",
    "\\u0000",
    "\u{fffd}",
    "é",
    "\t",
    "\r\n",
    "try(",
    "can(",
    "jsondecode(",
    "file(",
    "format(\"%d\", ",
    "range(1e9)",
    "lifecycle {",
    "resource \"cutover_data\" \"x\" {",
    "locals {",
    "variable \"v\" {",
    "module \"m\" { source = \"./\" }",
    "for_each = ",
    "count = ",
    "depends_on = [",
];

/// xorshift64*: deterministic, dependency-free randomness.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            0
        } else {
            (self.next() % bound as u64) as usize
        }
    }
}

/// Every `.hcl` file under the fixture corpus and the examples, as seeds.
pub fn seeds() -> Vec<Vec<u8>> {
    fn walk(dir: &Path, out: &mut Vec<Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "hcl") {
                if let Ok(bytes) = std::fs::read(&path) {
                    out.push(bytes);
                }
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    walk(&root.join("tests/fixtures"), &mut out);
    walk(&root.join("examples"), &mut out);
    out.push(b"locals { a = 1 }\n".to_vec());
    out
}

pub fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let start = rng.below(len);
                let end = (start + rng.below(16) + 1).min(len);
                data.drain(start..end);
            }
            2 if len > 0 => {
                let start = rng.below(len);
                let end = (start + rng.below(64) + 1).min(len);
                let copy = data[start..end].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, copy);
            }
            3 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let at = rng.below(len + 1);
                data.splice(at..at, token.iter().copied());
            }
            4 if len > 0 => data.truncate(rng.below(len)),
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let start = rng.below(other.len());
                    let end = (start + rng.below(256) + 1).min(other.len());
                    let at = rng.below(len + 1);
                    data.splice(at..at, other[start..end].iter().copied());
                }
            }
            _ => {
                let at = rng.below(len + 1);
                data.insert(at, rng.next() as u8);
            }
        }
    }
    data
}

/// Writes the input as the only file of a scratch configuration and loads it; a panic
/// propagates to the caller (the test fails, the long run stops with the input saved).
pub fn run_one(scratch: &Path, input: &[u8], registry: &Registry) -> bool {
    std::fs::write(scratch.join("main.hcl"), input).expect("write scratch config");
    let loaded = load_and_evaluate(scratch, &[], &[], registry, EvalMode::Validate);
    // Rendering must not panic either (spans inside the text, char boundaries).
    let _ = loaded.diagnostics.render(None);
    !loaded.diagnostics.has_errors()
}

pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cutover-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
