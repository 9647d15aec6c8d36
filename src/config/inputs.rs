//! Values for the root module's variables, from every source, merged once with a documented
//! precedence (later wins, as in Terraform):
//!
//! 1. the variable's `default`;
//! 2. environment variables `CUTOVER_VAR_<name>`;
//! 3. `cutover.vars.hcl` in the configuration directory;
//! 4. `*.auto.vars.hcl` in the configuration directory, in lexical order;
//! 5. `-var name=value` and `-var-file FILE` on the command line, in the order given.
//!
//! Values from the environment and `-var` are taken literally for `string` variables and
//! parsed as HCL expressions otherwise; values in var files are HCL expressions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hcl_edit::Span as _;
use hcl_edit::structure::Structure;

use super::load::{read_source, tidy_path};
use super::model::{Expr, span_of};
use super::parse::parse_file;
use crate::diagnostics::{Diagnostic, Diagnostics, SourceFile, Span};

#[derive(Debug, Clone)]
pub enum RawValue {
    /// From `-var` or the environment: interpreted according to the variable's type.
    Text(String),
    /// From a var file: an HCL expression.
    Expression(Expr),
    /// A value as it was (a saved plan's variable, replayed by `apply FILE`): never parsed
    /// again, so a `${` in a string stays literal.
    Value(super::value::Value),
}

#[derive(Debug, Clone)]
pub struct RawInput {
    pub value: RawValue,
    /// Where the value came from, for messages ("-var", "CUTOVER_VAR_x", a file).
    pub origin: String,
    /// The span in a var file, when it came from one.
    pub span: Option<Span>,
}

/// One command-line item, in order.
#[derive(Debug, Clone)]
pub enum CommandLineVar {
    /// `-var name=value`
    Assignment(String),
    /// `-var-file FILE`
    File(PathBuf),
    /// A variable's value recorded in a saved plan, replayed as it was.
    Saved(String, super::value::Value),
}

pub type Inputs = BTreeMap<String, RawInput>;

/// Gathers raw values from the environment (`CUTOVER_VAR_*` pairs given by the caller), the
/// configuration directory's var files and the command line.
pub fn collect(
    dir: &Path,
    environment: &[(String, String)],
    command_line: &[CommandLineVar],
) -> (Inputs, Diagnostics) {
    let mut inputs = Inputs::new();
    let mut diagnostics = Diagnostics::new();
    for (key, value) in environment {
        if let Some(name) = key.strip_prefix("CUTOVER_VAR_")
            && !name.is_empty()
        {
            inputs.insert(
                name.to_owned(),
                RawInput {
                    value: RawValue::Text(value.clone()),
                    origin: format!("environment variable {key}"),
                    span: None,
                },
            );
        }
    }
    let mut auto_files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.ends_with(".auto.vars.hcl"))
                })
                .collect()
        })
        .unwrap_or_default();
    auto_files.sort();
    let default_file = dir.join("cutover.vars.hcl");
    if default_file.is_file() {
        auto_files.insert(0, default_file);
    }
    for file in auto_files {
        read_var_file(&file, &mut inputs, &mut diagnostics);
    }
    for item in command_line {
        match item {
            CommandLineVar::Assignment(assignment) => match assignment.split_once('=') {
                Some((name, value)) if !name.trim().is_empty() => {
                    inputs.insert(
                        name.trim().to_owned(),
                        RawInput {
                            value: RawValue::Text(value.to_owned()),
                            origin: "-var".to_owned(),
                            span: None,
                        },
                    );
                }
                _ => diagnostics.push(
                    Diagnostic::error(format!(
                        "invalid -var \"{assignment}\": expected name=value"
                    ))
                    .with_hint("for example: -var 'phase=mirror'"),
                ),
            },
            CommandLineVar::Saved(name, value) => {
                inputs.insert(
                    name.clone(),
                    RawInput {
                        value: RawValue::Value(value.clone()),
                        origin: "the saved plan".to_owned(),
                        span: None,
                    },
                );
            }
            // A regular file, or a pipe such as `-var-file <(vault read ...)` (read once, with
            // the same size bound as any configuration file).
            CommandLineVar::File(path) => match std::fs::metadata(path) {
                Ok(metadata) if metadata.is_dir() => diagnostics.push(
                    Diagnostic::error(format!(
                        "the var file {} is a directory",
                        path.display()
                    ))
                    .with_hint("-var-file names one file of name = value lines, e.g. -var-file prod.vars.hcl"),
                ),
                Ok(_) => read_var_file(path, &mut inputs, &mut diagnostics),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => diagnostics.push(
                    Diagnostic::error(format!("the var file {} does not exist", path.display())),
                ),
                Err(error) if super::load::is_symlink_loop(&error) => diagnostics.push(
                    Diagnostic::error(format!(
                        "the var file {} is a loop of symbolic links",
                        path.display()
                    )),
                ),
                Err(error) => diagnostics.push(Diagnostic::error(format!(
                    "cannot read the var file {}: {error}",
                    path.display()
                ))),
            },
        }
    }
    (inputs, diagnostics)
}

fn read_var_file(path: &Path, inputs: &mut Inputs, diagnostics: &mut Diagnostics) {
    // `./cutover.vars.hcl` is shown as `cutover.vars.hcl`, as the user would type it.
    let path = &tidy_path(path);
    let file: Arc<SourceFile> = match read_source(path) {
        Ok(file) => file,
        Err(diagnostic) => return diagnostics.push(*diagnostic),
    };
    let body = match parse_file(&file) {
        Ok(body) => body,
        Err(diagnostic) => return diagnostics.push(*diagnostic),
    };
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attribute) => {
                inputs.insert(
                    attribute.key.as_str().to_owned(),
                    RawInput {
                        value: RawValue::Expression(Expr {
                            expression: attribute.value.clone(),
                            file: Arc::clone(&file),
                        }),
                        origin: path.display().to_string(),
                        span: Some(span_of(&file, attribute.key.span())),
                    },
                );
            }
            Structure::Block(block) => diagnostics.push(
                Diagnostic::error("a var file holds only name = value assignments, not blocks")
                    .at(span_of(&file, block.ident.span())),
            ),
        }
    }
}
