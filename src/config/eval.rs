//! Expression evaluation over the `hcl-edit` syntax tree, so every error points at the exact
//! sub-expression. Values carry unknown and sensitive marks (see [`Value`]); both propagate
//! through operators, templates, `for` expressions, conditionals and function calls.
//!
//! `hcl-rs`'s own evaluator works on `hcl::Value`, which has neither mark, and takes functions
//! as plain `fn` pointers (no `file()` relative to a module, no lazy `try`/`can`); cutover
//! therefore evaluates the tree itself and keeps `hcl-rs` for numbers and parsing.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use hcl_edit::Span as _;
use hcl_edit::expr::{BinaryOperator, Expression, ForExpr, TraversalOperator, UnaryOperator};
use hcl_edit::template::{Directive, Element, Strip, Template};

use super::functions::{self, FunctionContext};
use super::model::{Expr, span_of};
use super::types::object_key_name;
use super::value::{Number, Value};
use crate::diagnostics::{Diagnostic, SourceFile, Span};

/// The named values an expression can read, for one module instance.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    pub variables: BTreeMap<String, Value>,
    pub locals: BTreeMap<String, Value>,
    /// `module.NAME` → object of that module call's outputs.
    pub modules: BTreeMap<String, Value>,
    pub clusters: BTreeMap<String, Value>,
    pub asserts: BTreeMap<String, Value>,
    /// `type` → `name` → value (an object, a list for `count`, a map for `for_each`).
    pub resources: BTreeMap<String, BTreeMap<String, Value>>,
    pub data: BTreeMap<String, BTreeMap<String, Value>>,
    /// `path.module`, `path.root`, `path.cwd`.
    pub path: Value,
}

/// `each.key`/`each.value` or `count.index` of the instance being evaluated.
#[derive(Debug, Clone)]
pub enum Repetition {
    None,
    Each { key: Value, value: Value },
    Count(i64),
}

pub struct Scope<'a> {
    /// The configuration's root directory; relative `file()` paths resolve against it.
    pub base_dir: &'a Path,
    pub namespaces: &'a Namespaces,
    pub repetition: &'a Repetition,
}

type Result<T> = std::result::Result<T, Box<Diagnostic>>;

/// Evaluates an expression in a scope.
pub fn evaluate(expr: &Expr, scope: &Scope<'_>) -> Result<Value> {
    Evaluator {
        scope,
        file: &expr.file,
        bound: Vec::new(),
        depth: 0,
    }
    .eval(&expr.expression)
}

struct Evaluator<'s, 'a> {
    scope: &'s Scope<'a>,
    file: &'s Arc<SourceFile>,
    /// Names bound by enclosing `for` expressions and template directives, innermost last.
    bound: Vec<(String, Value)>,
    /// How deep the expression being evaluated is nested (see [`super::budget`]).
    depth: u32,
}

fn error_at(message: impl Into<String>, span: Span) -> Box<Diagnostic> {
    Box::new(Diagnostic::error(message).at(span))
}

impl<'a> Evaluator<'_, 'a> {
    fn span(&self, expression: &Expression) -> Span {
        span_of(self.file, expression.span())
    }

    /// Evaluates a sub-expression within the evaluation budget: nesting is bounded, and what
    /// calls, `for` expressions, templates and references produce is counted.
    fn eval(&mut self, expression: &Expression) -> Result<Value> {
        if self.depth >= super::budget::limits().nesting {
            return Err(error_at(
                super::budget::nesting_message(),
                self.span(expression),
            ));
        }
        self.depth += 1;
        let result = self.eval_unbudgeted(expression);
        self.depth -= 1;
        let value = result?;
        // `for` expressions and template `for` directives count each element as they make
        // it (below); other expressions only combine what these produced, or literals.
        if matches!(
            expression,
            Expression::FuncCall(_) | Expression::Traversal(_) | Expression::Variable(_)
        ) {
            super::budget::charge_value(&value)
                .map_err(|message| error_at(message, self.span(expression)))?;
        }
        Ok(value)
    }

    fn eval_unbudgeted(&mut self, expression: &Expression) -> Result<Value> {
        match expression {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(flag) => Ok(Value::Bool(*flag.value())),
            Expression::Number(number) => Ok(Value::Number(*number.value())),
            Expression::String(text) => Ok(Value::String(text.as_str().to_owned())),
            Expression::Array(items) => Ok(Value::List(
                items
                    .iter()
                    .map(|item| self.eval(item))
                    .collect::<Result<_>>()?,
            )),
            Expression::Object(object) => {
                let mut map = BTreeMap::new();
                let mut unknown_key = false;
                // A key computed from a sensitive value makes the whole object sensitive:
                // otherwise keys(...) would launder the secret.
                let mut sensitive_key = false;
                for (key, value) in object.iter() {
                    let key_text = match key.as_ident().map(|ident| ident.as_str().to_owned()) {
                        Some(name) => name,
                        None => {
                            let key_expression = key.as_expr().expect("key is ident or expr");
                            match object_key_name(key) {
                                Some(name)
                                    if matches!(
                                        key_expression,
                                        Expression::String(_) | Expression::Variable(_)
                                    ) =>
                                {
                                    name
                                }
                                _ => {
                                    let key_value = self.eval(key_expression)?;
                                    if key_value.is_unknown() {
                                        unknown_key = true;
                                        continue;
                                    }
                                    sensitive_key |= key_value.contains_sensitive();
                                    self.key_string(key_value, key_expression)?
                                }
                            }
                        }
                    };
                    let value = self.eval(value.expr())?;
                    map.insert(key_text, value);
                }
                Ok(if unknown_key {
                    Value::Unknown
                } else {
                    Value::Map(map)
                }
                .marked(sensitive_key))
            }
            Expression::StringTemplate(template) => {
                self.template_elements(template.iter().collect::<Vec<_>>().as_slice())
            }
            Expression::HeredocTemplate(heredoc) => self.template(&heredoc.template),
            Expression::Parenthesis(inner) => self.eval(inner.inner()),
            Expression::Variable(ident) => self.root(ident.as_str(), &[], expression),
            Expression::Conditional(conditional) => {
                let condition = self.eval(&conditional.cond_expr)?;
                let (condition, sensitive) = condition.unmark();
                match condition {
                    Value::Unknown => Ok(Value::Unknown),
                    Value::Bool(true) => Ok(self.eval(&conditional.true_expr)?.marked(sensitive)),
                    Value::Bool(false) => Ok(self.eval(&conditional.false_expr)?.marked(sensitive)),
                    other => Err(error_at(
                        format!(
                            "the condition of a conditional expression must be a bool, got {}",
                            other.type_name()
                        ),
                        self.span(&conditional.cond_expr),
                    )),
                }
            }
            Expression::FuncCall(call) => self.call(call, expression),
            Expression::Traversal(traversal) => {
                let operators: Vec<&TraversalOperator> =
                    traversal.operators.iter().map(|op| op.value()).collect();
                match &traversal.expr {
                    Expression::Variable(root) => self.root(root.as_str(), &operators, expression),
                    base => {
                        let value = self.eval(base)?;
                        self.apply_operators(value, &operators, expression)
                    }
                }
            }
            Expression::UnaryOp(op) => {
                let operand = self.eval(&op.expr)?;
                let (operand, sensitive) = operand.unmark();
                let result = match (op.operator.value(), operand) {
                    (_, Value::Unknown) => Value::Unknown,
                    (UnaryOperator::Neg, Value::Number(number)) => Value::Number(negate(&number)),
                    (UnaryOperator::Not, Value::Bool(flag)) => Value::Bool(!flag),
                    (UnaryOperator::Neg, other) => {
                        return Err(error_at(
                            format!("unary minus needs a number, got {}", other.type_name()),
                            self.span(&op.expr),
                        ));
                    }
                    (UnaryOperator::Not, other) => {
                        return Err(error_at(
                            format!("\"!\" needs a bool, got {}", other.type_name()),
                            self.span(&op.expr),
                        ));
                    }
                };
                Ok(result.marked(sensitive))
            }
            Expression::BinaryOp(op) => {
                let lhs = self.eval(&op.lhs_expr)?;
                let rhs = self.eval(&op.rhs_expr)?;
                self.binary(
                    *op.operator.value(),
                    lhs,
                    rhs,
                    expression,
                    &op.lhs_expr,
                    &op.rhs_expr,
                )
            }
            Expression::ForExpr(for_expr) => self.for_expr(for_expr),
        }
    }

    fn key_string(&self, key: Value, expression: &Expression) -> Result<String> {
        match key.peel() {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            Value::Bool(flag) => Ok(flag.to_string()),
            other => Err(error_at(
                format!("object keys must be strings, got {}", other.type_name()),
                self.span(expression),
            )),
        }
    }

    /// Resolves `root.name...` against the scope, then applies the remaining operators.
    fn root(
        &mut self,
        root: &str,
        operators: &[&TraversalOperator],
        whole: &Expression,
    ) -> Result<Value> {
        if let Some((_, value)) = self.bound.iter().rev().find(|(name, _)| name == root) {
            let value = value.clone();
            return self.apply_operators(value, operators, whole);
        }
        let span = self.span(whole);
        let attribute = |index: usize| match operators.get(index) {
            Some(TraversalOperator::GetAttr(name)) => Some(name.as_str()),
            _ => None,
        };
        let namespaces: &'a Namespaces = self.scope.namespaces;
        let lookup = |map: &'a BTreeMap<String, Value>,
                      what: &str,
                      prefix: &str|
         -> Result<Cow<'a, Value>> {
            let name = attribute(0).ok_or_else(|| {
                error_at(
                    format!("\"{prefix}\" must be followed by a {what} name"),
                    span.clone(),
                )
            })?;
            map.get(name).map(Cow::Borrowed).ok_or_else(|| {
                error_at(
                    format!("reference to undeclared {what} \"{prefix}.{name}\""),
                    span.clone(),
                )
            })
        };
        let (value, used) = match root {
            "var" => (lookup(&namespaces.variables, "input variable", "var")?, 1),
            "local" => (lookup(&namespaces.locals, "local value", "local")?, 1),
            "module" => (lookup(&namespaces.modules, "module", "module")?, 1),
            "cluster" => (lookup(&namespaces.clusters, "cluster", "cluster")?, 1),
            "assert" => (lookup(&namespaces.asserts, "assertion", "assert")?, 1),
            "path" => (Cow::Borrowed(&namespaces.path), 0),
            "each" => match self.scope.repetition {
                Repetition::Each { key, value } => {
                    let value = match attribute(0) {
                        Some("key") => key.clone(),
                        Some("value") => value.clone(),
                        _ => {
                            return Err(error_at(
                                "\"each\" has two attributes: each.key and each.value",
                                span,
                            ));
                        }
                    };
                    (Cow::Owned(value), 1)
                }
                _ => {
                    return Err(error_at(
                        "\"each\" can only be used in a block that sets for_each",
                        span,
                    ));
                }
            },
            "count" => match self.scope.repetition {
                Repetition::Count(index) => match attribute(0) {
                    Some("index") => (Cow::Owned(Value::int(*index)), 1),
                    _ => return Err(error_at("\"count\" has one attribute: count.index", span)),
                },
                _ => {
                    return Err(error_at(
                        "\"count.index\" can only be used in a block that sets count",
                        span,
                    ));
                }
            },
            "data" => {
                let (Some(type_name), Some(name)) = (attribute(0), attribute(1)) else {
                    return Err(error_at(
                        "a data source reference needs a type and a name, e.g. data.kafka_topics.legacy",
                        span,
                    ));
                };
                let value = namespaces
                    .data
                    .get(type_name)
                    .and_then(|by_name| by_name.get(name))
                    .map(Cow::Borrowed)
                    .ok_or_else(|| {
                        error_at(
                            format!(
                                "reference to undeclared data source \"data.{type_name}.{name}\""
                            ),
                            span.clone(),
                        )
                    })?;
                (value, 2)
            }
            type_name => {
                let Some(name) = attribute(0) else {
                    return Err(error_at(format!("unknown name \"{type_name}\""), span));
                };
                let value = namespaces
                    .resources
                    .get(type_name)
                    .and_then(|by_name| by_name.get(name))
                    .map(Cow::Borrowed)
                    .ok_or_else(|| {
                        error_at(
                            format!("reference to undeclared resource \"{type_name}.{name}\""),
                            span.clone(),
                        )
                    })?;
                (value, 1)
            }
        };
        // Walk plain attribute and index steps by reference, so reading one instance of a
        // large for_each resource does not copy all of them; anything else (splats, marks,
        // unknowns, errors) takes the owned path below.
        let (value, used) = match value {
            Cow::Owned(value) => (value, used),
            Cow::Borrowed(mut current) => {
                let mut used = used;
                for operator in &operators[used..] {
                    let next = match operator {
                        TraversalOperator::GetAttr(name) => match current {
                            Value::Map(map) => map.get(name.as_str()),
                            _ => None,
                        },
                        TraversalOperator::LegacyIndex(index) => match current {
                            Value::List(items) => usize::try_from(*index.value())
                                .ok()
                                .and_then(|index| items.get(index)),
                            _ => None,
                        },
                        TraversalOperator::Index(index) => match (current, self.eval(index)?) {
                            (Value::Map(map), Value::String(key)) => map.get(&key),
                            (Value::List(items), key) => key
                                .as_i64()
                                .and_then(|index| usize::try_from(index).ok())
                                .and_then(|index| items.get(index)),
                            _ => None,
                        },
                        _ => None,
                    };
                    match next {
                        Some(next) => {
                            current = next;
                            used += 1;
                        }
                        None => break,
                    }
                }
                (current.clone(), used)
            }
        };
        self.apply_operators(value, &operators[used..], whole)
    }

    fn apply_operators(
        &mut self,
        mut value: Value,
        operators: &[&TraversalOperator],
        whole: &Expression,
    ) -> Result<Value> {
        for (position, operator) in operators.iter().enumerate() {
            match operator {
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let full = matches!(operator, TraversalOperator::FullSplat(_));
                    let rest = &operators[position + 1..];
                    // An attribute splat applies only the attribute accesses that follow it
                    // to each element; a full splat applies everything that follows.
                    let per_element = if full {
                        rest.len()
                    } else {
                        rest.iter()
                            .take_while(|op| matches!(op, TraversalOperator::GetAttr(_)))
                            .count()
                    };
                    let (collection, sensitive) = value.unmark();
                    let items = match collection {
                        Value::Unknown => return Ok(Value::Unknown),
                        Value::Null => Vec::new(),
                        Value::List(items) | Value::Set(items) => items,
                        single => vec![single],
                    };
                    let mut results = Vec::with_capacity(items.len());
                    for item in items {
                        results.push(self.apply_operators(item, &rest[..per_element], whole)?);
                    }
                    let result = Value::List(results).marked(sensitive);
                    return self.apply_operators(result, &rest[per_element..], whole);
                }
                TraversalOperator::GetAttr(name) => {
                    value = self.get_attr(value, name.as_str(), whole)?;
                }
                TraversalOperator::Index(index) => {
                    let key = self.eval(index)?;
                    value = self.index(value, key, index)?;
                }
                TraversalOperator::LegacyIndex(index) => {
                    let key = Value::Number(Number::from(*index.value()));
                    value = self.index(value, key, whole)?;
                }
            }
        }
        Ok(value)
    }

    fn get_attr(&self, value: Value, name: &str, whole: &Expression) -> Result<Value> {
        let (value, sensitive) = value.unmark();
        match value {
            Value::Unknown => Ok(Value::Unknown),
            Value::Map(mut map) => match map.remove(name) {
                Some(item) => Ok(item.marked(sensitive)),
                None => {
                    let diagnostic = Diagnostic::error(format!("unsupported attribute \"{name}\""))
                        .at(self.span(whole));
                    if sensitive {
                        // The keys of a sensitive map are part of the secret.
                        return Err(Box::new(diagnostic));
                    }
                    let mut known: Vec<&str> = map.keys().map(String::as_str).collect();
                    known.truncate(12);
                    let hint = match super::schema::suggest(name, known.iter().copied()) {
                        Some(suggestion) => format!("did you mean \"{suggestion}\"?"),
                        None if known.is_empty() => "the object has no attributes".to_owned(),
                        None => format!("available: {}", known.join(", ")),
                    };
                    Err(Box::new(diagnostic.with_hint(hint)))
                }
            },
            Value::Null => Err(error_at(
                format!("cannot read attribute \"{name}\" of a null value"),
                self.span(whole),
            )),
            Value::List(_) | Value::Set(_) => Err(Box::new(
                Diagnostic::error(format!(
                    "cannot read attribute \"{name}\" of a {}",
                    value.type_name()
                ))
                .at(self.span(whole))
                .with_hint(format!(
                    "to read it from every element use a splat: [*].{name}, or a for expression"
                )),
            )),
            other => Err(error_at(
                format!(
                    "cannot read attribute \"{name}\" of a {}",
                    other.type_name()
                ),
                self.span(whole),
            )),
        }
    }

    fn index(&self, value: Value, key: Value, at: &Expression) -> Result<Value> {
        let (value, sensitive) = value.unmark();
        let (key, key_sensitive) = key.unmark();
        let sensitive = sensitive || key_sensitive;
        if matches!(value, Value::Unknown) || matches!(key, Value::Unknown) {
            return Ok(Value::Unknown);
        }
        match value {
            Value::List(mut items) => {
                let position = key
                    .as_i64()
                    .or_else(|| key.as_str().and_then(|text| text.parse().ok()))
                    .ok_or_else(|| {
                        error_at(
                            format!(
                                "a list index must be a whole number, got {}",
                                key.type_name()
                            ),
                            self.span(at),
                        )
                    })?;
                if position < 0 || position as usize >= items.len() {
                    return Err(error_at(
                        format!(
                            "index {position} is out of range for a list of {} element{}",
                            items.len(),
                            if items.len() == 1 { "" } else { "s" }
                        ),
                        self.span(at),
                    ));
                }
                Ok(items.swap_remove(position as usize).marked(sensitive))
            }
            Value::Map(mut map) => {
                let name = match &key {
                    Value::String(text) => text.clone(),
                    Value::Number(number) => number.to_string(),
                    other => {
                        return Err(error_at(
                            format!("a map key must be a string, got {}", other.type_name()),
                            self.span(at),
                        ));
                    }
                };
                map.remove(&name)
                    .map(|item| item.marked(sensitive))
                    .ok_or_else(|| {
                        let shown = if sensitive {
                            "(sensitive value)".to_owned()
                        } else {
                            format!("{name:?}")
                        };
                        error_at(
                            format!("the map has no element with key {shown}"),
                            self.span(at),
                        )
                    })
            }
            Value::Set(_) => Err(Box::new(
                Diagnostic::error("elements of a set cannot be accessed by index")
                    .at(self.span(at))
                    .with_hint("convert it first with tolist(...), or iterate with for_each"),
            )),
            Value::Null => Err(error_at("cannot index a null value", self.span(at))),
            other => Err(error_at(
                format!("cannot index a {}", other.type_name()),
                self.span(at),
            )),
        }
    }

    fn binary(
        &self,
        operator: BinaryOperator,
        lhs: Value,
        rhs: Value,
        whole: &Expression,
        lhs_expr: &Expression,
        rhs_expr: &Expression,
    ) -> Result<Value> {
        let (lhs, lhs_sensitive) = lhs.unmark_deep();
        let (rhs, rhs_sensitive) = rhs.unmark_deep();
        let sensitive = lhs_sensitive || rhs_sensitive;
        use BinaryOperator as Op;
        let result = match operator {
            Op::Eq | Op::NotEq => {
                if !lhs.is_wholly_known() || !rhs.is_wholly_known() {
                    Value::Unknown
                } else {
                    let equal = values_equal(&lhs, &rhs);
                    Value::Bool(if operator == Op::Eq { equal } else { !equal })
                }
            }
            Op::And | Op::Or => {
                let lhs = self.expect_bool(lhs, lhs_expr, operator)?;
                let rhs = self.expect_bool(rhs, rhs_expr, operator)?;
                match (lhs, rhs) {
                    (Some(a), Some(b)) => {
                        Value::Bool(if operator == Op::And { a && b } else { a || b })
                    }
                    (Some(false), None) | (None, Some(false)) if operator == Op::And => {
                        Value::Bool(false)
                    }
                    (Some(true), None) | (None, Some(true)) if operator == Op::Or => {
                        Value::Bool(true)
                    }
                    _ => Value::Unknown,
                }
            }
            _ => {
                let a = self.expect_number(lhs, lhs_sensitive, lhs_expr, operator)?;
                let b = self.expect_number(rhs, rhs_sensitive, rhs_expr, operator)?;
                let (Some(a), Some(b)) = (a, b) else {
                    return Ok(Value::Unknown.marked(sensitive));
                };
                match operator {
                    Op::Less => Value::Bool(compare(&a, &b).is_lt()),
                    Op::LessEq => Value::Bool(compare(&a, &b).is_le()),
                    Op::Greater => Value::Bool(compare(&a, &b).is_gt()),
                    Op::GreaterEq => Value::Bool(compare(&a, &b).is_ge()),
                    Op::Plus | Op::Minus | Op::Mul | Op::Div | Op::Mod => {
                        Value::Number(arithmetic(operator, &a, &b).ok_or_else(|| {
                            error_at(
                                match operator {
                                    Op::Div | Op::Mod => "division by zero".to_owned(),
                                    _ => "the result is not a finite number".to_owned(),
                                },
                                self.span(whole),
                            )
                        })?)
                    }
                    _ => unreachable!("equality and logic handled above"),
                }
            }
        };
        Ok(result.marked(sensitive))
    }

    fn expect_bool(
        &self,
        value: Value,
        at: &Expression,
        operator: BinaryOperator,
    ) -> Result<Option<bool>> {
        match value {
            Value::Bool(flag) => Ok(Some(flag)),
            Value::Unknown => Ok(None),
            other => Err(error_at(
                format!(
                    "the operands of \"{}\" must be bools, got {}",
                    operator.as_str(),
                    other.type_name()
                ),
                self.span(at),
            )),
        }
    }

    /// A number operand; strings convert. A sensitive operand's text is never quoted.
    fn expect_number(
        &self,
        value: Value,
        sensitive: bool,
        at: &Expression,
        operator: BinaryOperator,
    ) -> Result<Option<Number>> {
        match value {
            Value::Number(number) => Ok(Some(number)),
            Value::String(text) => super::types::parse_number(&text).map(Some).ok_or_else(|| {
                let shown = if sensitive {
                    "a sensitive string".to_owned()
                } else {
                    format!("string {text:?}")
                };
                error_at(
                    format!(
                        "the operands of \"{}\" must be numbers, got {shown}",
                        operator.as_str()
                    ),
                    self.span(at),
                )
            }),
            Value::Unknown => Ok(None),
            other => Err(error_at(
                format!(
                    "the operands of \"{}\" must be numbers, got {}",
                    operator.as_str(),
                    other.type_name()
                ),
                self.span(at),
            )),
        }
    }

    fn call(&mut self, call: &hcl_edit::expr::FuncCall, whole: &Expression) -> Result<Value> {
        let name = call.name.name.as_str();
        if !call.name.namespace.is_empty() {
            return Err(error_at(
                "namespaced (provider) functions are not supported",
                self.span(whole),
            ));
        }
        let args: Vec<&Expression> = call.args.iter().collect();
        match name {
            "try" => {
                if args.is_empty() {
                    return Err(error_at(
                        "try(...) needs at least one argument",
                        self.span(whole),
                    ));
                }
                for arg in &args {
                    if let Ok(value) = self.eval(arg) {
                        return Ok(if value.is_wholly_known() {
                            value
                        } else {
                            Value::Unknown
                        });
                    }
                }
                return Err(Box::new(
                    Diagnostic::error("no argument of try(...) could be evaluated without errors")
                        .at(self.span(whole)),
                ));
            }
            "can" => {
                let [arg] = args.as_slice() else {
                    return Err(error_at(
                        "can(...) takes exactly one argument",
                        self.span(whole),
                    ));
                };
                return Ok(match self.eval(arg) {
                    Ok(value) if !value.is_wholly_known() => Value::Unknown,
                    Ok(_) => Value::Bool(true),
                    Err(_) => Value::Bool(false),
                });
            }
            _ => {}
        }
        if !functions::exists(name) {
            let mut diagnostic = Diagnostic::error(format!("call to unknown function \"{name}\""))
                .at(span_of(self.file, call.name.name.span()));
            if let Some(suggestion) =
                super::schema::suggest(name, functions::names().iter().copied())
            {
                diagnostic = diagnostic.with_hint(format!("did you mean \"{suggestion}\"?"));
            }
            return Err(Box::new(diagnostic));
        }
        let mut values = Vec::with_capacity(args.len());
        for arg in &args {
            values.push(self.eval(arg)?);
        }
        if call.args.expand_final() {
            let last = values.pop().expect("expand_final implies an argument");
            let (last, sensitive) = last.unmark();
            match last {
                Value::List(items) | Value::Set(items) => {
                    values.extend(items.into_iter().map(|item| item.marked(sensitive)));
                }
                Value::Unknown => return Ok(Value::Unknown),
                other => {
                    return Err(error_at(
                        format!(
                            "only a list can be expanded with ..., got {}",
                            other.type_name()
                        ),
                        self.span(args[args.len() - 1]),
                    ));
                }
            }
        }
        let context = FunctionContext {
            base_dir: self.scope.base_dir,
        };
        functions::call(name, values, &context).map_err(|error| {
            let span = error
                .argument
                .and_then(|index| args.get(index.min(args.len().saturating_sub(1))))
                .map_or_else(|| self.span(whole), |arg| self.span(arg));
            error_at(format!("{name}(): {}", error.message), span)
        })
    }

    fn for_expr(&mut self, for_expr: &ForExpr) -> Result<Value> {
        let collection = self.eval(&for_expr.intro.collection_expr)?;
        let (collection, sensitive) = collection.unmark();
        let pairs: Vec<(Value, Value)> = match collection {
            Value::Unknown => return Ok(Value::Unknown),
            Value::List(items) => items
                .into_iter()
                .enumerate()
                .map(|(index, item)| (Value::int(index as i64), item))
                .collect(),
            Value::Set(items) => items.into_iter().map(|item| (item.clone(), item)).collect(),
            Value::Map(map) => map
                .into_iter()
                .map(|(key, value)| (Value::String(key), value))
                .collect(),
            Value::Null => {
                return Err(error_at(
                    "a for expression cannot iterate over null",
                    self.span(&for_expr.intro.collection_expr),
                ));
            }
            other => {
                return Err(error_at(
                    format!(
                        "a for expression iterates over a list, set or map, got {}",
                        other.type_name()
                    ),
                    self.span(&for_expr.intro.collection_expr),
                ));
            }
        };
        let key_var = for_expr
            .intro
            .key_var
            .as_ref()
            .map(|k| k.as_str().to_owned());
        let value_var = for_expr.intro.value_var.as_str().to_owned();
        let mut list = Vec::new();
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        let mut grouped: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut unknown = false;
        let mut sensitive_keys = false;
        for (key, value) in pairs {
            let depth = self.bound.len();
            if let Some(key_var) = &key_var {
                self.bound.push((key_var.clone(), key.marked(sensitive)));
            }
            self.bound
                .push((value_var.clone(), value.marked(sensitive)));
            let outcome = self.for_element(for_expr);
            self.bound.truncate(depth);
            let outcome = outcome?;
            if let ForElement::Item(item) | ForElement::Entry(_, item, _, _) = &outcome {
                super::budget::charge_value(item)
                    .map_err(|message| error_at(message, self.span(&for_expr.value_expr)))?;
            }
            match outcome {
                ForElement::Skip => {}
                ForElement::Unknown => unknown = true,
                ForElement::Item(item) => list.push(item),
                ForElement::Entry(key, item, at, key_sensitive) => {
                    sensitive_keys |= key_sensitive;
                    if for_expr.grouping {
                        grouped.entry(key).or_default().push(item);
                    } else {
                        match map.entry(key) {
                            std::collections::btree_map::Entry::Occupied(entry) => {
                                let shown = if key_sensitive {
                                    "(sensitive value)".to_owned()
                                } else {
                                    format!("{:?}", entry.key())
                                };
                                return Err(Box::new(
                                    Diagnostic::error(format!(
                                        "duplicate key {shown} in for expression result"
                                    ))
                                    .at(at)
                                    .with_hint("add ... after the value to group values by key"),
                                ));
                            }
                            std::collections::btree_map::Entry::Vacant(entry) => {
                                entry.insert(item);
                            }
                        }
                    }
                }
            }
        }
        if unknown {
            return Ok(Value::Unknown);
        }
        Ok(match &for_expr.key_expr {
            None => Value::List(list),
            Some(_) if for_expr.grouping => Value::Map(
                grouped
                    .into_iter()
                    .map(|(key, items)| (key, Value::List(items)))
                    .collect(),
            ),
            Some(_) => Value::Map(map),
        }
        .marked(sensitive_keys))
    }

    fn for_element(&mut self, for_expr: &ForExpr) -> Result<ForElement> {
        if let Some(condition) = &for_expr.cond {
            match self.eval(&condition.expr)?.peel() {
                Value::Bool(true) => {}
                Value::Bool(false) => return Ok(ForElement::Skip),
                Value::Unknown => return Ok(ForElement::Unknown),
                other => {
                    return Err(error_at(
                        format!(
                            "a for expression's if clause must be a bool, got {}",
                            other.type_name()
                        ),
                        self.span(&condition.expr),
                    ));
                }
            }
        }
        let value = self.eval(&for_expr.value_expr)?;
        match &for_expr.key_expr {
            None => Ok(ForElement::Item(value)),
            Some(key_expr) => {
                let key = self.eval(key_expr)?;
                if key.is_unknown() {
                    return Ok(ForElement::Unknown);
                }
                let sensitive = key.contains_sensitive();
                let key = self.key_string(key, key_expr)?;
                Ok(ForElement::Entry(
                    key,
                    value,
                    self.span(key_expr),
                    sensitive,
                ))
            }
        }
    }

    fn template(&mut self, template: &Template) -> Result<Value> {
        self.template_elements(template.iter().collect::<Vec<_>>().as_slice())
    }

    fn template_elements(&mut self, elements: &[&Element]) -> Result<Value> {
        let mut out = TemplateOutput::default();
        self.render_elements(elements, &mut out)?;
        Ok(if out.unknown {
            Value::Unknown
        } else {
            Value::String(out.text)
        }
        .marked(out.sensitive))
    }

    fn render_template(&mut self, template: &Template, out: &mut TemplateOutput) -> Result<()> {
        self.render_elements(template.iter().collect::<Vec<_>>().as_slice(), out)
    }

    fn render_elements(&mut self, elements: &[&Element], out: &mut TemplateOutput) -> Result<()> {
        for element in elements {
            match element {
                Element::Literal(text) => {
                    let text: &str = text.as_str();
                    if out.strip_next {
                        out.text.push_str(text.trim_start());
                        out.strip_next = false;
                    } else {
                        out.text.push_str(text);
                    }
                }
                Element::Interpolation(interpolation) => {
                    out.strip_before(interpolation.strip);
                    let value = self.eval(&interpolation.expr)?;
                    self.append(value, &interpolation.expr, out)?;
                    out.strip_next = interpolation.strip.strip_end();
                }
                Element::Directive(directive) => match directive.as_ref() {
                    Directive::If(if_directive) => {
                        out.strip_before(if_directive.if_expr.strip);
                        out.strip_next = if_directive.if_expr.strip.strip_end();
                        let condition = self.eval(&if_directive.if_expr.cond_expr)?;
                        let (condition, sensitive) = condition.unmark();
                        out.sensitive |= sensitive;
                        match condition {
                            Value::Bool(true) => {
                                self.render_template(&if_directive.if_expr.template, out)?;
                            }
                            Value::Bool(false) => {
                                if let Some(else_expr) = &if_directive.else_expr {
                                    out.strip_before(else_expr.strip);
                                    out.strip_next = else_expr.strip.strip_end();
                                    self.render_template(&else_expr.template, out)?;
                                }
                            }
                            Value::Unknown => out.unknown = true,
                            other => {
                                return Err(error_at(
                                    format!(
                                        "an if directive needs a bool, got {}",
                                        other.type_name()
                                    ),
                                    self.span(&if_directive.if_expr.cond_expr),
                                ));
                            }
                        }
                        out.strip_before(if_directive.endif_expr.strip);
                        out.strip_next = if_directive.endif_expr.strip.strip_end();
                    }
                    Directive::For(for_directive) => {
                        let intro = &for_directive.for_expr;
                        out.strip_before(intro.strip);
                        let collection = self.eval(&intro.collection_expr)?;
                        let (collection, sensitive) = collection.unmark();
                        out.sensitive |= sensitive;
                        let pairs: Vec<(Value, Value)> = match collection {
                            Value::List(items) => items
                                .into_iter()
                                .enumerate()
                                .map(|(index, item)| (Value::int(index as i64), item))
                                .collect(),
                            Value::Set(items) => {
                                items.into_iter().map(|item| (item.clone(), item)).collect()
                            }
                            Value::Map(map) => map
                                .into_iter()
                                .map(|(key, value)| (Value::String(key), value))
                                .collect(),
                            Value::Unknown => {
                                out.unknown = true;
                                Vec::new()
                            }
                            other => {
                                return Err(error_at(
                                    format!(
                                        "a for directive iterates over a collection, got {}",
                                        other.type_name()
                                    ),
                                    self.span(&intro.collection_expr),
                                ));
                            }
                        };
                        for (key, value) in pairs {
                            let depth = self.bound.len();
                            if let Some(key_var) = &intro.key_var {
                                self.bound.push((key_var.as_str().to_owned(), key));
                            }
                            self.bound
                                .push((intro.value_var.as_str().to_owned(), value));
                            out.strip_next = intro.strip.strip_end();
                            let before = out.text.len();
                            let rendered = self.render_template(&intro.template, out);
                            self.bound.truncate(depth);
                            rendered?;
                            let added = out.text.len().saturating_sub(before) as u64;
                            super::budget::charge(1, added).map_err(|message| {
                                error_at(message, self.span(&intro.collection_expr))
                            })?;
                            out.strip_before(for_directive.endfor_expr.strip);
                        }
                        out.strip_next = for_directive.endfor_expr.strip.strip_end();
                    }
                },
            }
        }
        Ok(())
    }

    fn append(&self, value: Value, at: &Expression, out: &mut TemplateOutput) -> Result<()> {
        let (value, sensitive) = value.unmark();
        out.sensitive |= sensitive || value.contains_sensitive();
        match value {
            Value::String(text) => out.text.push_str(&text),
            Value::Number(number) => out.text.push_str(&number.to_string()),
            Value::Bool(flag) => out.text.push_str(if flag { "true" } else { "false" }),
            Value::Unknown => out.unknown = true,
            Value::Null => {
                return Err(error_at(
                    "a null value cannot be interpolated into a string",
                    self.span(at),
                ));
            }
            other => {
                return Err(Box::new(
                    Diagnostic::error(format!(
                        "a {} cannot be interpolated into a string",
                        other.type_name()
                    ))
                    .at(self.span(at))
                    .with_hint("convert it first, e.g. with join(\",\", ...) or jsonencode(...)"),
                ));
            }
        }
        Ok(())
    }
}

enum ForElement {
    Skip,
    Unknown,
    Item(Value),
    /// Key, value, where the key is written, whether the key is sensitive.
    Entry(String, Value, Span, bool),
}

#[derive(Default)]
struct TemplateOutput {
    text: String,
    unknown: bool,
    sensitive: bool,
    /// Strip leading whitespace of the next literal (a `~` before the closing brace).
    strip_next: bool,
}

impl TemplateOutput {
    /// A `~` after the opening brace strips trailing whitespace already written.
    fn strip_before(&mut self, strip: Strip) {
        if strip.strip_start() {
            let kept = self.text.trim_end().len();
            self.text.truncate(kept);
        }
    }
}

/// Deep equality of known values; numbers compare by value (1 == 1.0).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a.peel(), b.peel()) {
        (Value::Number(x), Value::Number(y)) => compare(x, y).is_eq(),
        (Value::List(x), Value::List(y)) | (Value::Set(x), Value::Set(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && values_equal(va, vb))
        }
        (x, y) => x == y,
    }
}

fn compare(a: &Number, b: &Number) -> std::cmp::Ordering {
    match (as_integer(a), as_integer(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
    }
}

fn as_integer(number: &Number) -> Option<i128> {
    number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
}

fn negate(number: &Number) -> Number {
    match as_integer(number) {
        Some(int) => integer_number(-int).unwrap_or_else(|| float_number(-(int as f64))),
        None => float_number(-number.as_f64().unwrap_or(0.0)),
    }
}

fn integer_number(int: i128) -> Option<Number> {
    i64::try_from(int)
        .map(Number::from)
        .ok()
        .or_else(|| u64::try_from(int).map(Number::from).ok())
}

fn float_number(float: f64) -> Number {
    Number::from_f64(float).unwrap_or_else(|| Number::from(0))
}

/// Integer arithmetic stays exact (Kafka offsets are 63-bit); anything else is a float.
/// `None` for a division by zero or a non-finite result.
pub fn arithmetic(operator: BinaryOperator, a: &Number, b: &Number) -> Option<Number> {
    use BinaryOperator as Op;
    if let (Some(x), Some(y)) = (as_integer(a), as_integer(b)) {
        let exact = match operator {
            Op::Plus => Some(x + y),
            Op::Minus => Some(x - y),
            Op::Mul => x.checked_mul(y),
            Op::Div if y == 0 => return None,
            Op::Div if x % y == 0 => Some(x / y),
            Op::Mod if y == 0 => return None,
            Op::Mod => Some(x % y),
            _ => None,
        };
        if let Some(number) = exact.and_then(integer_number) {
            return Some(number);
        }
    }
    let (x, y) = (a.as_f64()?, b.as_f64()?);
    let result = match operator {
        Op::Plus => x + y,
        Op::Minus => x - y,
        Op::Mul => x * y,
        Op::Div if y == 0.0 => return None,
        Op::Div => x / y,
        Op::Mod if y == 0.0 => return None,
        Op::Mod => x % y,
        _ => return None,
    };
    Number::from_f64(result)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn namespaces() -> Namespaces {
        let mut namespaces = Namespaces::default();
        namespaces
            .variables
            .insert("name".into(), Value::string("orders"));
        namespaces.variables.insert(
            "password".into(),
            Value::sensitive(Value::string("hunter2")),
        );
        namespaces.variables.insert(
            "topics".into(),
            Value::List(vec![Value::string("a"), Value::string("b")]),
        );
        let mut cluster = BTreeMap::new();
        cluster.insert("arn".to_owned(), Value::Unknown);
        cluster.insert("cluster_name".to_owned(), Value::string("orders"));
        namespaces
            .resources
            .entry("aws_msk_cluster".into())
            .or_default()
            .insert("target".into(), Value::Map(cluster));
        namespaces
    }

    fn eval_with(text: &str, repetition: &Repetition) -> Result<Value> {
        let file = Arc::new(SourceFile::new(
            PathBuf::from("t.hcl"),
            format!("x = {text}\n"),
        ));
        let body = crate::config::parse::parse_file(&file).expect("parse");
        let expr = Expr {
            expression: body.get_attribute("x").expect("x").value.clone(),
            file,
        };
        let namespaces = namespaces();
        let scope = Scope {
            base_dir: Path::new("."),
            namespaces: &namespaces,
            repetition,
        };
        evaluate(&expr, &scope)
    }

    fn eval(text: &str) -> Result<Value> {
        eval_with(text, &Repetition::None)
    }

    fn shown(text: &str) -> String {
        match eval(text) {
            Ok(value) => value.to_string(),
            Err(diagnostic) => format!("error: {}", diagnostic.message),
        }
    }

    #[test]
    fn arithmetic_comparison_and_logic() {
        assert_eq!(shown("1 + 2 * 3"), "7");
        assert_eq!(shown("7 / 2"), "3.5");
        assert_eq!(shown("9223372036854775806 + 1"), "9223372036854775807");
        assert_eq!(shown("5 % 3 == 2 && !false"), "true");
        assert_eq!(shown("1 / 0"), "error: division by zero");
        assert_eq!(
            shown("\"a\" < 2"),
            "error: the operands of \"<\" must be numbers, got string \"a\""
        );
    }

    #[test]
    fn templates_for_expressions_and_splats() {
        assert_eq!(shown("\"${var.name}-${1 + 1}\""), "\"orders-2\"");
        assert_eq!(shown("[for t in var.topics : upper(t)]"), "[\"A\", \"B\"]");
        assert_eq!(
            shown("{ for i, t in var.topics : t => i if i > 0 }"),
            "{b = 1}"
        );
        assert_eq!(
            shown("{ for t in [\"a\", \"a\"] : t => 1... }"),
            "{a = [1, 1]}"
        );
        assert_eq!(shown("[{ n = 1 }, { n = 2 }][*].n"), "[1, 2]");
        assert_eq!(
            shown("\"%{ for t in var.topics }${t};%{ endfor }\""),
            "\"a;b;\""
        );
        assert_eq!(shown("\"x %{~ if true ~} y %{~ endif ~}\""), "\"xy\"");
    }

    #[test]
    fn unknown_values_flow_through_expressions() {
        assert_eq!(shown("aws_msk_cluster.target.arn"), "(known after apply)");
        assert_eq!(
            shown("\"arn=${aws_msk_cluster.target.arn}\""),
            "(known after apply)"
        );
        assert_eq!(shown("aws_msk_cluster.target.cluster_name"), "\"orders\"");
        assert_eq!(
            shown("aws_msk_cluster.target.arn == \"x\" ? 1 : 2"),
            "(known after apply)"
        );
    }

    #[test]
    fn sensitive_values_stay_marked_and_never_show() {
        let value = eval("\"user:${var.password}\"").unwrap();
        assert!(matches!(value, Value::Sensitive(_)));
        assert_eq!(value.to_string(), "(sensitive value)");
        assert!(matches!(
            eval("var.password == \"x\"").unwrap(),
            Value::Sensitive(_)
        ));
    }

    #[test]
    fn errors_point_at_the_sub_expression() {
        let error = eval("1 + aws_msk_cluster.target.nope").unwrap_err();
        assert_eq!(error.message, "unsupported attribute \"nope\"");
        assert_eq!(error.span.unwrap().text(), "aws_msk_cluster.target.nope");
        let error = eval("var.topics[5]").unwrap_err();
        assert_eq!(
            error.message,
            "index 5 is out of range for a list of 2 elements"
        );
    }

    #[test]
    fn errors_about_sensitive_values_never_quote_them() {
        let error = eval("var.password + 1").unwrap_err();
        assert_eq!(
            error.message,
            "the operands of \"+\" must be numbers, got a sensitive string"
        );
        let error = eval("{ for k in [var.password, var.password] : k => 1 }").unwrap_err();
        assert_eq!(
            error.message,
            "duplicate key (sensitive value) in for expression result"
        );
        let error = eval("{ secret = var.password }[var.name].x").unwrap_err();
        assert!(!format!("{error:?}").contains("hunter2"));
    }

    #[test]
    fn keys_computed_from_sensitive_values_make_the_object_sensitive() {
        assert!(matches!(
            eval("{ (var.password) = 1 }").unwrap(),
            Value::Sensitive(_)
        ));
        assert!(matches!(
            eval("{ for k in [var.password] : k => 1 }").unwrap(),
            Value::Sensitive(_)
        ));
    }

    #[test]
    fn missing_attributes_of_a_sensitive_object_list_no_keys() {
        let error = eval("sensitive({ user = \"alice\" }).usr").unwrap_err();
        assert_eq!(error.message, "unsupported attribute \"usr\"");
        assert_eq!(error.hint, None);
    }

    #[test]
    fn try_and_can_are_lazy() {
        assert_eq!(shown("try(var.topics[9], \"fallback\")"), "\"fallback\"");
        assert_eq!(shown("can(var.topics[9])"), "false");
        assert_eq!(shown("can(var.topics[0])"), "true");
    }

    #[test]
    fn each_and_count() {
        let each = Repetition::Each {
            key: Value::string("k"),
            value: Value::int(3),
        };
        assert_eq!(
            eval_with("\"${each.key}=${each.value}\"", &each).unwrap(),
            Value::string("k=3")
        );
        assert_eq!(
            eval_with("count.index * 2", &Repetition::Count(4)).unwrap(),
            Value::int(8)
        );
        assert_eq!(
            eval("each.key").unwrap_err().message,
            "\"each\" can only be used in a block that sets for_each"
        );
    }
}
