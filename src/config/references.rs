//! References: which named objects an expression reads (`var.x`, `local.y`, `aws_msk_cluster.t`,
//! `data.kafka_topics.legacy`, `module.m.out`, `cluster.c`, `assert.a`, `each`, `count`,
//! `path`). They order evaluation, draw graph edges, and are checked for existence before any
//! value is computed. Names bound by `for` expressions and template `for` directives are not
//! references.

use std::ops::Range;

use hcl_edit::Span as _;
use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::template::{Directive, Element, Template};

use super::model::{Expr, Mode};
use crate::diagnostics::Span;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    Variable(String),
    Local(String),
    Resource {
        mode: Mode,
        type_name: String,
        name: String,
    },
    /// `module.NAME.OUTPUT`, or `module.NAME` (every output) when `output` is `None`.
    Module {
        name: String,
        output: Option<String>,
    },
    Cluster(String),
    Assert(String),
    Each,
    Count,
    Path,
    /// A traversal that does not name a complete object (`var` alone, `data.x`), with the
    /// reason it is incomplete.
    Invalid(String),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Variable(name) => write!(f, "var.{name}"),
            Subject::Local(name) => write!(f, "local.{name}"),
            Subject::Resource {
                mode: Mode::Managed,
                type_name,
                name,
            } => write!(f, "{type_name}.{name}"),
            Subject::Resource {
                mode: Mode::Data,
                type_name,
                name,
            } => write!(f, "data.{type_name}.{name}"),
            Subject::Module {
                name,
                output: Some(output),
            } => write!(f, "module.{name}.{output}"),
            Subject::Module { name, output: None } => write!(f, "module.{name}"),
            Subject::Cluster(name) => write!(f, "cluster.{name}"),
            Subject::Assert(name) => write!(f, "assert.{name}"),
            Subject::Each => f.write_str("each"),
            Subject::Count => f.write_str("count"),
            Subject::Path => f.write_str("path"),
            Subject::Invalid(reason) => f.write_str(reason),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Reference {
    pub subject: Subject,
    pub span: Span,
}

/// Every reference in an expression, in source order.
pub fn references(expr: &Expr) -> Vec<Reference> {
    let mut walker = Walker {
        bound: Vec::new(),
        found: Vec::new(),
    };
    walker.expression(&expr.expression);
    walker
        .found
        .into_iter()
        .map(|(subject, range)| Reference {
            subject,
            span: expr.span_of(Some(range)),
        })
        .collect()
}

/// Reads `depends_on = [...]` items: each must be a bare reference to an object.
pub fn depends_on_subject(expr: &Expr) -> Result<Reference, String> {
    let mut found = references(expr);
    let is_plain_reference = matches!(
        &expr.expression,
        Expression::Variable(_) | Expression::Traversal(_)
    );
    if !is_plain_reference || found.len() != 1 {
        let mut message =
            "depends_on items must be references to resources, data sources, modules, clusters or assertions"
                .to_owned();
        if let Expression::String(text) = &expr.expression {
            message = format!(
                "{message}, not strings: write {} without quotes",
                text.as_str()
            );
        }
        return Err(message);
    }
    Ok(found.remove(0))
}

struct Walker {
    /// Names bound by enclosing `for` expressions and directives.
    bound: Vec<String>,
    found: Vec<(Subject, Range<usize>)>,
}

impl Walker {
    fn expression(&mut self, expression: &Expression) {
        match expression {
            Expression::Null(_)
            | Expression::Bool(_)
            | Expression::Number(_)
            | Expression::String(_) => {}
            Expression::Array(items) => items.iter().for_each(|item| self.expression(item)),
            Expression::Object(object) => {
                for (key, value) in object.iter() {
                    if let Some(key) = key.as_expr() {
                        // `{ (local.key) = v }` reads local.key; a bare `{ key = v }` does not.
                        if !matches!(key, Expression::Variable(_)) {
                            self.expression(key);
                        }
                    }
                    self.expression(value.expr());
                }
            }
            Expression::StringTemplate(template) => self.elements(template.iter()),
            Expression::HeredocTemplate(heredoc) => self.template(&heredoc.template),
            Expression::Parenthesis(inner) => self.expression(inner.inner()),
            Expression::Variable(ident) => {
                self.traversal(ident.as_str(), &[], expression.span());
            }
            Expression::Conditional(conditional) => {
                self.expression(&conditional.cond_expr);
                self.expression(&conditional.true_expr);
                self.expression(&conditional.false_expr);
            }
            Expression::FuncCall(call) => call.args.iter().for_each(|arg| self.expression(arg)),
            Expression::Traversal(traversal) => {
                for operator in &traversal.operators {
                    if let TraversalOperator::Index(index) = operator.value() {
                        self.expression(index);
                    }
                }
                match &traversal.expr {
                    Expression::Variable(root) => {
                        let start = root.span().map_or(0, |r| r.start);
                        let names: Vec<(String, usize)> = traversal
                            .operators
                            .iter()
                            .map_while(|operator| match operator.value() {
                                TraversalOperator::GetAttr(name) => Some((
                                    name.as_str().to_owned(),
                                    name.span().map_or(start, |r| r.end),
                                )),
                                _ => None,
                            })
                            .collect();
                        let end = traversal.span().map_or(start, |r| r.end);
                        self.traversal(root.as_str(), &names, Some(start..end));
                    }
                    other => self.expression(other),
                }
            }
            Expression::UnaryOp(op) => self.expression(&op.expr),
            Expression::BinaryOp(op) => {
                self.expression(&op.lhs_expr);
                self.expression(&op.rhs_expr);
            }
            Expression::ForExpr(for_expr) => {
                self.expression(&for_expr.intro.collection_expr);
                let depth = self.bound.len();
                if let Some(key) = &for_expr.intro.key_var {
                    self.bound.push(key.as_str().to_owned());
                }
                self.bound
                    .push(for_expr.intro.value_var.as_str().to_owned());
                if let Some(key) = &for_expr.key_expr {
                    self.expression(key);
                }
                self.expression(&for_expr.value_expr);
                if let Some(condition) = &for_expr.cond {
                    self.expression(&condition.expr);
                }
                self.bound.truncate(depth);
            }
        }
    }

    fn template(&mut self, template: &Template) {
        self.elements(template.iter());
    }

    fn elements<'a>(&mut self, elements: impl Iterator<Item = &'a Element>) {
        for element in elements {
            match element {
                Element::Literal(_) => {}
                Element::Interpolation(interpolation) => self.expression(&interpolation.expr),
                Element::Directive(directive) => match directive.as_ref() {
                    Directive::If(if_directive) => {
                        self.expression(&if_directive.if_expr.cond_expr);
                        self.template(&if_directive.if_expr.template);
                        if let Some(else_expr) = &if_directive.else_expr {
                            self.template(&else_expr.template);
                        }
                    }
                    Directive::For(for_directive) => {
                        let intro = &for_directive.for_expr;
                        self.expression(&intro.collection_expr);
                        let depth = self.bound.len();
                        if let Some(key) = &intro.key_var {
                            self.bound.push(key.as_str().to_owned());
                        }
                        self.bound.push(intro.value_var.as_str().to_owned());
                        self.template(&intro.template);
                        self.bound.truncate(depth);
                    }
                },
            }
        }
    }

    /// Classifies `root.name1.name2...`; `ends[i]` is the byte offset where name i ends.
    fn traversal(&mut self, root: &str, names: &[(String, usize)], range: Option<Range<usize>>) {
        if self.bound.iter().any(|bound| bound == root) {
            return;
        }
        let range = range.unwrap_or(0..0);
        let upto = |count: usize| -> Range<usize> {
            match count {
                0 => range.start..range.start + root.len(),
                n => names
                    .get(n - 1)
                    .map_or(range.clone(), |(_, end)| range.start..*end),
            }
        };
        let name = |index: usize| names.get(index).map(|(name, _)| name.clone());
        let (subject, used) = match root {
            "var" => match name(0) {
                Some(variable) => (Subject::Variable(variable), 1),
                None => (Subject::Invalid("\"var\" must be followed by a variable name, e.g. var.subnets".to_owned()), 0),
            },
            "local" => match name(0) {
                Some(local) => (Subject::Local(local), 1),
                None => (Subject::Invalid("\"local\" must be followed by a local value name, e.g. local.topics".to_owned()), 0),
            },
            // `each.key` and `count.index` are one reference: the span covers the attribute,
            // as evaluation errors about them do.
            "each" => (Subject::Each, usize::from(name(0).is_some())),
            "count" => (Subject::Count, usize::from(name(0).is_some())),
            "path" => (Subject::Path, 0),
            "self" => (Subject::Invalid("\"self\" is not supported".to_owned()), 0),
            "terraform" => (Subject::Invalid("\"terraform\" is not a cutover namespace".to_owned()), 0),
            "module" => match name(0) {
                Some(module) => {
                    let output = name(1);
                    let used = if output.is_some() { 2 } else { 1 };
                    (Subject::Module { name: module, output }, used)
                }
                None => (Subject::Invalid("\"module\" must be followed by a module name, e.g. module.migration.arn".to_owned()), 0),
            },
            "cluster" => match name(0) {
                Some(cluster) => (Subject::Cluster(cluster), 1),
                None => (Subject::Invalid("\"cluster\" must be followed by a cluster name, e.g. cluster.legacy".to_owned()), 0),
            },
            "assert" => match name(0) {
                Some(assertion) => (Subject::Assert(assertion), 1),
                None => (Subject::Invalid("\"assert\" must be followed by an assertion name".to_owned()), 0),
            },
            "data" => match (name(0), name(1)) {
                (Some(type_name), Some(name)) => (
                    Subject::Resource {
                        mode: Mode::Data,
                        type_name,
                        name,
                    },
                    2,
                ),
                _ => (Subject::Invalid("a data source reference needs a type and a name, e.g. data.kafka_topics.legacy".to_owned()), 0),
            },
            type_name => match name(0) {
                Some(name) => (
                    Subject::Resource {
                        mode: Mode::Managed,
                        type_name: type_name.to_owned(),
                        name,
                    },
                    1,
                ),
                None => (Subject::Invalid(format!("unknown name \"{type_name}\"")), 0),
            },
        };
        self.found.push((subject, upto(used)));
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use crate::diagnostics::SourceFile;

    fn subjects(text: &str) -> Vec<String> {
        let file = Arc::new(SourceFile::new(
            PathBuf::from("t.hcl"),
            format!("x = {text}\n"),
        ));
        let body = crate::config::parse::parse_file(&file).expect("parse");
        let attribute = body.get_attribute("x").expect("x");
        let expr = Expr {
            expression: attribute.value.clone(),
            file,
        };
        references(&expr)
            .into_iter()
            .map(|r| format!("{} @ {}", r.subject, r.span.text()))
            .collect()
    }

    #[test]
    fn classifies_every_namespace() {
        assert_eq!(
            subjects(
                "[var.a, local.b.c, aws_msk_cluster.t.arn, data.kafka_topics.l.topics[\"x\"], module.m.out.y, cluster.legacy, assert.ok, each.key, count.index]"
            ),
            vec![
                "var.a @ var.a",
                "local.b @ local.b",
                "aws_msk_cluster.t @ aws_msk_cluster.t",
                "data.kafka_topics.l @ data.kafka_topics.l",
                "module.m.out @ module.m.out",
                "cluster.legacy @ cluster.legacy",
                "assert.ok @ assert.ok",
                "each @ each.key",
                "count @ count.index",
            ]
        );
    }

    #[test]
    fn for_expression_variables_are_not_references() {
        assert_eq!(
            subjects("{ for k, t in kafka_topic.m : k => t.name if t.partitions > var.min }"),
            vec!["kafka_topic.m @ kafka_topic.m", "var.min @ var.min"]
        );
    }

    #[test]
    fn references_inside_templates_and_indexes() {
        assert_eq!(
            subjects("\"${local.prefix}-%{ for t in var.topics }${t}%{ endfor }\""),
            vec!["local.prefix @ local.prefix", "var.topics @ var.topics"]
        );
        assert_eq!(
            subjects("var.m[local.k]"),
            vec!["local.k @ local.k", "var.m @ var.m"]
        );
    }
}
