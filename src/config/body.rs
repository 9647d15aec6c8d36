//! Checking a block body against a [`Schema`] while evaluating it: unknown arguments and
//! blocks, missing required ones, computed-only arguments set by the user and type mismatches
//! are diagnostics at the offending span; the result is the body's object value (unset
//! optional arguments are null, computed ones unknown).

use std::collections::BTreeMap;

use hcl_edit::Span as _;
use hcl_edit::structure::{Block, Body, Structure};

use super::eval::{Scope, evaluate};
use super::model::{Expr, span_of};
use hcl_edit::expr::Expression;

use super::schema::{Nesting, Schema, suggest};
use super::types::Type;
use super::validate::{self, Condition};
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
    // Where each written argument's value is, for the rules between arguments (an argument
    // of a single nested block as `BLOCK.ARGUMENT`, see [`argument_spans`]); and the
    // arguments already reported, so a rule does not report them a second time.
    let mut value_spans: BTreeMap<String, Span> = BTreeMap::new();
    let mut reported: Vec<&'static str> = Vec::new();
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
                value_spans.insert(attribute_schema.name.to_owned(), expr.span());
                let value = match evaluate(&expr, scope) {
                    Ok(value) => match attribute_schema.ty.convert(value) {
                        Ok(value) => {
                            let problems =
                                validate::check(name, &value, &attribute_schema.validators);
                            if problems.is_empty() {
                                value
                            } else {
                                for problem in problems {
                                    let span = problem
                                        .element
                                        .and_then(|index| {
                                            element_span(&expr, &attribute_schema.ty, index)
                                        })
                                        .unwrap_or_else(|| expr.span());
                                    let mut diagnostic =
                                        Diagnostic::error(problem.message).at(span);
                                    if let Some(hint) = problem.hint {
                                        diagnostic = diagnostic.with_hint(hint);
                                    }
                                    diagnostics.push(diagnostic);
                                }
                                // Reported: what depends on the value sees it as unknown, so
                                // nothing downstream reports the same mistake again.
                                reported.push(attribute_schema.name);
                                Value::Unknown
                            }
                        }
                        Err(message) => {
                            reported.push(attribute_schema.name);
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
                        reported.push(attribute_schema.name);
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
                        value_spans.extend(argument_spans(&block.body, file, Some(name)));
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
    check_rules(
        schema,
        &mut object,
        &value_spans,
        &mut reported,
        diagnostics,
    );
    check_block(
        schema,
        &mut object,
        &value_spans,
        header,
        &reported,
        diagnostics,
    );
    check_groups(schema, &object, context, header, &suggested, diagnostics);
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

/// The span of element `index` of a list written as a literal `[...]` (a set's elements are
/// sorted, so their positions say nothing about the source).
fn element_span(expr: &Expr, ty: &Type, index: usize) -> Option<Span> {
    if matches!(ty, Type::Set(_)) {
        return None;
    }
    match &expr.expression {
        Expression::Array(items) => items
            .iter()
            .nth(index)
            .map(|item| expr.span_of(item.span())),
        _ => None,
    }
}

/// The rules between arguments of one block: conflicts, requirements and arguments that apply
/// only when another has some value. An argument a rule rejects becomes unknown, as a value a
/// validator rejects does.
fn check_rules(
    schema: &Schema,
    object: &mut BTreeMap<String, Value>,
    value_spans: &BTreeMap<String, Span>,
    reported: &mut Vec<&'static str>,
    diagnostics: &mut Diagnostics,
) {
    let is_set = |object: &BTreeMap<String, Value>, name: &str| {
        value_spans.contains_key(name) && object.get(name).is_some_and(|v| !v.is_null())
    };
    // The value a condition looks at: as written, or the default when unset. `None` while it
    // is unknown (checked again when it is known).
    let condition_holds = |object: &BTreeMap<String, Value>, condition: &Condition| {
        let value = match object.get(condition.attribute) {
            Some(value) if !value.is_null() => Some(value.clone()),
            _ => schema
                .attribute(condition.attribute)
                .and_then(|a| a.default.clone()),
        };
        match value {
            Some(value) if value.is_unknown() => None,
            Some(value) => Some(
                value
                    .as_str()
                    .is_some_and(|text| condition.equals.contains(&text)),
            ),
            None => Some(false),
        }
    };
    // A conflicting pair is reported once, at the argument written second.
    let mut conflicts_reported: Vec<(&str, &str)> = Vec::new();
    for attribute in &schema.attributes {
        let name = attribute.name;
        // (the argument at fault, where, message, hint)
        let mut problems: Vec<(&'static str, Span, String, Option<String>)> = Vec::new();
        if is_set(object, name) && !reported.contains(&name) {
            let span = value_spans[name].clone();
            for &other in &attribute.conflicts_with {
                if !is_set(object, other)
                    || reported.contains(&other)
                    || conflicts_reported.contains(&(other, name))
                {
                    continue;
                }
                conflicts_reported.push((name, other));
                let other_span = value_spans[other].clone();
                let (at, at_span, first) = if other_span.start > span.start {
                    (other, other_span, name)
                } else {
                    (name, span.clone(), other)
                };
                problems.push((
                    at,
                    at_span,
                    format!("\"{at}\" conflicts with \"{first}\": set one or the other"),
                    Some(format!("remove {at} or {first}")),
                ));
            }
            for &other in &attribute.requires {
                if !is_set(object, other) && object.get(other).is_none_or(|v| !v.is_unknown()) {
                    problems.push((
                        name,
                        span.clone(),
                        format!("\"{name}\" requires \"{other}\" to be set"),
                        Some(format!("add {other} = ..., or remove {name}")),
                    ));
                }
            }
            if let Some(condition) = &attribute.only_when
                && condition_holds(object, condition) == Some(false)
            {
                let because = if condition.because.is_empty() {
                    String::new()
                } else {
                    format!(": {}", condition.because)
                };
                problems.push((
                    name,
                    span.clone(),
                    format!("\"{name}\" applies only when {condition}{because}"),
                    Some(format!("remove {name}, or set {condition}")),
                ));
            }
        }
        if let Some(condition) = &attribute.required_when
            && !value_spans.contains_key(name)
            && condition_holds(object, condition) == Some(true)
            && let Some(span) = value_spans.get(condition.attribute)
        {
            let because = if condition.because.is_empty() {
                String::new()
            } else {
                format!(": {}", condition.because)
            };
            problems.push((
                name,
                span.clone(),
                format!("{condition} requires \"{name}\"{because}"),
                Some(format!("add {name} = ...")),
            ));
        }
        for (at, span, message, hint) in problems {
            let mut diagnostic = Diagnostic::error(message).at(span);
            if let Some(hint) = hint {
                diagnostic = diagnostic.with_hint(hint);
            }
            diagnostics.push(diagnostic);
            if !reported.contains(&at) {
                reported.push(at);
            }
            if value_spans.contains_key(at) {
                let sensitive = schema.attribute(at).is_some_and(|a| a.sensitive);
                object.insert(at.to_owned(), Value::Unknown.marked(sensitive));
            }
        }
    }
}

/// The schema's rules over several arguments ([`Schema::with_check`]): each finding at the
/// value of the argument at fault (the header when it is unset), unless that argument is
/// already reported; the argument becomes unknown, so nothing downstream reports it again. A
/// finding at `BLOCK.ARGUMENT` is at an argument of the single nested block `BLOCK` (a check
/// of an assertion); `value_spans` has those as [`argument_spans`] names them.
pub(crate) fn check_block(
    schema: &Schema,
    object: &mut BTreeMap<String, Value>,
    value_spans: &BTreeMap<String, Span>,
    header: &Span,
    reported: &[&'static str],
    diagnostics: &mut Diagnostics,
) {
    for rule in &schema.checks {
        for finding in (rule.check)(object) {
            if reported.contains(&finding.attribute) {
                continue;
            }
            let span = value_spans.get(finding.attribute).unwrap_or(header).clone();
            let mut diagnostic = Diagnostic::error(finding.message).at(span);
            if let Some(hint) = finding.hint {
                diagnostic = diagnostic.with_hint(hint);
            }
            diagnostics.push(diagnostic);
            if !value_spans.contains_key(finding.attribute) {
                continue;
            }
            let (object, schema, attribute) = match finding.attribute.split_once('.') {
                None => (&mut *object, schema, finding.attribute),
                Some((block, attribute)) => {
                    let nested = schema.block(block).map(|nested| &nested.schema);
                    match (object.get_mut(block), nested) {
                        (Some(Value::Map(nested_object)), Some(nested)) => {
                            (nested_object, nested, attribute)
                        }
                        _ => continue,
                    }
                }
            };
            let sensitive = schema.attribute(attribute).is_some_and(|a| a.sensitive);
            object.insert(attribute.to_owned(), Value::Unknown.marked(sensitive));
        }
    }
}

/// Where each argument of `body` is written (its value's span), by name: `ARGUMENT`, or
/// `BLOCK.ARGUMENT` for the body of the nested block `BLOCK`, as the rules of the enclosing
/// block name them ([`check_block`]).
pub(crate) fn argument_spans(
    body: &Body,
    file: &std::sync::Arc<SourceFile>,
    block: Option<&str>,
) -> BTreeMap<String, Span> {
    body.iter()
        .filter_map(Structure::as_attribute)
        .map(|attribute| {
            let name = attribute.key.as_str();
            let name = match block {
                Some(block) => format!("{block}.{name}"),
                None => name.to_owned(),
            };
            (name, span_of(file, attribute.value.span()))
        })
        .collect()
}

/// The groups of which at least one member must be set ([`Schema::at_least_one_of`],
/// [`Schema::exactly_one_of`]): one diagnostic at the block when none is. A member whose value
/// is unknown may turn out set, so the group is checked again once it is known; a misspelled
/// member offered as a correction already has its diagnostic.
pub(crate) fn check_groups(
    schema: &Schema,
    object: &BTreeMap<String, Value>,
    context: &str,
    header: &Span,
    suggested: &[&'static str],
    diagnostics: &mut Diagnostics,
) {
    for group in &schema.groups {
        let mut maybe_set = false;
        for &name in group.names {
            match object.get(name).map(Value::peel) {
                None | Some(Value::Null) => {}
                Some(Value::List(items) | Value::Set(items)) if items.is_empty() => {}
                Some(Value::Map(map)) if map.is_empty() => {}
                Some(_) => maybe_set = true,
            }
        }
        if maybe_set || group.names.iter().any(|name| suggested.contains(name)) {
            continue;
        }
        let assignments: Vec<String> = group
            .names
            .iter()
            .map(|&name| {
                if schema.block(name).is_some() {
                    format!("a {name} {{ ... }} block")
                } else {
                    format!("{name} = ...")
                }
            })
            .collect();
        diagnostics.push(
            Diagnostic::error(format!("{context} needs {}", group.text()))
                .at(header.clone())
                .with_hint(format!("add {}", assignments.join(" or "))),
        );
    }
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
