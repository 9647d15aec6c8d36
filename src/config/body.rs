//! Checking a block body against a [`Schema`] while evaluating it: unknown arguments and
//! blocks, missing required ones, computed-only arguments set by the user and type mismatches
//! are diagnostics at the offending span; the result is the body's object value (unset
//! optional arguments are null, computed ones unknown).

use std::collections::BTreeMap;

use hcl_edit::Span as _;
use hcl_edit::structure::{Block, Body, Structure};

use super::eval::{Scope, evaluate};
use super::model::{Expr, span_of};
use super::schema::{Nesting, Schema, suggest};
use super::value::Value;
use crate::diagnostics::{Diagnostic, Diagnostics, SourceFile, Span};

/// Evaluates `body` against `schema`. `context` names the block in messages
/// (`resource "cutover_data" "x"`); `header` is where "missing argument" points.
pub fn decode_body(
    body: &Body,
    file: &std::sync::Arc<SourceFile>,
    schema: &Schema,
    scope: &Scope<'_>,
    context: &str,
    header: &Span,
    diagnostics: &mut Diagnostics,
) -> Value {
    let mut object = BTreeMap::new();
    let mut seen_blocks: BTreeMap<&str, usize> = BTreeMap::new();
    // Names offered as "did you mean" for a misspelled argument or block: the misspelling is
    // the one mistake, so they are not also reported missing.
    let mut suggested: Vec<&'static str> = Vec::new();
    // Where each argument's expression is, for the schema's warnings.
    let mut expression_spans: BTreeMap<&'static str, Span> = BTreeMap::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attribute) => {
                let name = attribute.key.as_str();
                let name_span = span_of(file, attribute.key.span());
                let Some(attribute_schema) = schema.attribute(name) else {
                    if schema.block(name).is_some() {
                        diagnostics.push(
                            Diagnostic::error(format!(
                                "\"{name}\" is a block in {context}, not an argument"
                            ))
                            .at(name_span)
                            .with_hint(format!("write it as {name} {{ ... }}")),
                        );
                    } else {
                        let (diagnostic, suggestion) =
                            unsupported(name, "argument", context, schema, name_span);
                        suggested.extend(suggestion);
                        diagnostics.push(diagnostic);
                    }
                    continue;
                };
                if !attribute_schema.settable() {
                    diagnostics.push(
                        Diagnostic::error(format!(
                            "\"{name}\" is computed by the provider and cannot be set in {context}"
                        ))
                        .at(name_span)
                        .with_hint(format!(
                            "remove it; the provider sets {name} on apply, and other blocks can read it"
                        )),
                    );
                    continue;
                }
                let expr = Expr {
                    expression: attribute.value.clone(),
                    file: std::sync::Arc::clone(file),
                };
                let value = match evaluate(&expr, scope) {
                    Ok(value) => match attribute_schema.ty.convert(value) {
                        Ok(value) => value,
                        Err(message) => {
                            diagnostics.push(
                                Diagnostic::error(format!("wrong type for \"{name}\": {message}"))
                                    .at(expr.span())
                                    .with_hint(format!(
                                        "\"{name}\" takes a {}",
                                        attribute_schema.ty
                                    )),
                            );
                            Value::Unknown
                        }
                    },
                    Err(diagnostic) => {
                        diagnostics.push(*diagnostic);
                        Value::Unknown
                    }
                };
                if value.is_null() && attribute_schema.required {
                    diagnostics.push(
                        Diagnostic::error(format!("\"{name}\" is required and cannot be null"))
                            .at(expr.span()),
                    );
                }
                // As in Terraform, null is the same as leaving the argument out: for an
                // optional-computed argument, whatever the object has (not a change to null).
                let value = if value.is_null() && attribute_schema.optional_computed {
                    Value::Unknown
                } else {
                    value
                };
                object.insert(name.to_owned(), value.marked(attribute_schema.sensitive));
                expression_spans.insert(attribute_schema.name, expr.span());
            }
            Structure::Block(block) => {
                let name = block.ident.as_str();
                let name_span = span_of(file, block.ident.span());
                let Some(block_schema) = schema.block(name) else {
                    if schema.attribute(name).is_some() {
                        diagnostics.push(
                            Diagnostic::error(format!(
                                "\"{name}\" is an argument in {context}, not a block"
                            ))
                            .at(name_span)
                            .with_hint(format!("write it as {name} = ...")),
                        );
                    } else {
                        let (diagnostic, suggestion) =
                            unsupported(name, "block", context, schema, name_span);
                        suggested.extend(suggestion);
                        diagnostics.push(diagnostic);
                    }
                    continue;
                };
                if !block.labels.is_empty() {
                    diagnostics.push(
                        Diagnostic::error(format!("the {name} block takes no labels"))
                            .at(span_of(file, block.labels[0].span())),
                    );
                }
                let count = seen_blocks.entry(block_schema.name).or_default();
                *count += 1;
                if block_schema.nesting == Nesting::Single && *count > 1 {
                    diagnostics.push(
                        Diagnostic::error(format!("only one {name} block is allowed in {context}"))
                            .at(name_span),
                    );
                    continue;
                }
                let value =
                    decode_block(block, file, &block_schema.schema, scope, name, diagnostics);
                match block_schema.nesting {
                    Nesting::Single => {
                        object.insert(name.to_owned(), value);
                    }
                    Nesting::List => {
                        let entry = object
                            .entry(name.to_owned())
                            .or_insert_with(|| Value::List(Vec::new()));
                        if let Value::List(items) = entry {
                            items.push(value);
                        }
                    }
                }
            }
        }
    }
    for attribute in &schema.attributes {
        if object.contains_key(attribute.name) {
            continue;
        }
        if attribute.required && !suggested.contains(&attribute.name) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "missing required argument \"{}\" in {context}",
                    attribute.name
                ))
                .at(header.clone())
                .with_hint(if attribute.description.is_empty() {
                    format!("add {} = ... to the block", attribute.name)
                } else {
                    format!("{}: {}", attribute.name, attribute.description)
                }),
            );
        }
        let value = if attribute.computed || attribute.optional_computed {
            Value::Unknown
        } else {
            Value::Null
        };
        object.insert(attribute.name.to_owned(), value.marked(attribute.sensitive));
    }
    for block in &schema.blocks {
        if object.contains_key(block.name) {
            continue;
        }
        if block.required && !suggested.contains(&block.name) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "missing required block \"{}\" in {context}",
                    block.name
                ))
                .at(header.clone()),
            );
        }
        let empty = match block.nesting {
            Nesting::Single => Value::Null,
            Nesting::List => Value::List(Vec::new()),
        };
        object.insert(block.name.to_owned(), empty);
    }
    if let Some(advice) = &schema.advice {
        for (name, message) in (advice.0)(&object) {
            let at = expression_spans.get(name).unwrap_or(header).clone();
            diagnostics.push(Diagnostic::warning(message).at(at));
        }
    }
    Value::Map(object)
}

fn decode_block(
    block: &Block,
    file: &std::sync::Arc<SourceFile>,
    schema: &Schema,
    scope: &Scope<'_>,
    name: &str,
    diagnostics: &mut Diagnostics,
) -> Value {
    let header = span_of(file, block.ident.span());
    decode_body(
        &block.body,
        file,
        schema,
        scope,
        &format!("the {name} block"),
        &header,
        diagnostics,
    )
}

/// The diagnostic for an unknown argument or block, and the name it suggests instead.
fn unsupported(
    name: &str,
    what: &str,
    context: &str,
    schema: &Schema,
    span: Span,
) -> (Diagnostic, Option<&'static str>) {
    let diagnostic =
        Diagnostic::error(format!("unsupported {what} \"{name}\" in {context}")).at(span);
    let names = schema.settable_names();
    let suggestion = suggest(name, names.iter().copied());
    let diagnostic = match suggestion {
        Some(suggestion) => diagnostic.with_hint(format!("did you mean \"{suggestion}\"?")),
        None if names.is_empty() => diagnostic.with_hint(format!("{context} takes no arguments")),
        None if what == "block" && schema.blocks.is_empty() => diagnostic.with_hint(format!(
            "{context} takes no blocks; its arguments are: {}",
            names.join(", ")
        )),
        None => diagnostic.with_hint(format!("{context} accepts: {}", names.join(", "))),
    };
    (diagnostic, suggestion)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::*;
    use crate::config::eval::{Namespaces, Repetition};
    use crate::config::schema::AttributeSchema;
    use crate::config::types::Type;

    fn problems(text: &str) -> Vec<String> {
        let file = Arc::new(SourceFile::new(PathBuf::from("main.hcl"), text.to_owned()));
        let body = crate::config::parse::parse_file(&file).expect("parse");
        let schema = Schema::new(
            vec![
                AttributeSchema::required("bootstrap_servers", Type::Any),
                AttributeSchema::computed("id", Type::String),
            ],
            Vec::new(),
        );
        let namespaces = Namespaces::default();
        let scope = Scope {
            base_dir: Path::new("."),
            namespaces: &namespaces,
            repetition: &Repetition::None,
        };
        let mut diagnostics = Diagnostics::new();
        let header = Span::new(&file, 0..0);
        decode_body(
            &body,
            &file,
            &schema,
            &scope,
            "the block",
            &header,
            &mut diagnostics,
        );
        diagnostics.iter().map(|d| d.message.clone()).collect()
    }

    #[test]
    fn a_misspelled_required_argument_is_one_mistake() {
        assert_eq!(
            problems("bootstrap_server = [\"a:9092\"]\n"),
            vec!["unsupported argument \"bootstrap_server\" in the block"]
        );
        assert_eq!(
            problems("brokers = [\"a:9092\"]\n"),
            vec![
                "unsupported argument \"brokers\" in the block",
                "missing required argument \"bootstrap_servers\" in the block"
            ]
        );
    }
}
