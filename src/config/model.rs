//! What a module's files declare, decoded from the `hcl-edit` syntax tree with spans kept:
//! variables, locals, outputs, resources and data sources, clusters, assertions, imports,
//! module calls, provider and backend settings. Decoding checks block structure (known block
//! types, label counts, duplicate names, meta-arguments); argument values are checked later,
//! against schemas and by evaluation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use hcl_edit::Span as _;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Attribute, Block, BlockLabel, Body, Structure};

use super::types::Type;
use crate::diagnostics::{Diagnostic, Diagnostics, SourceFile, Span};

/// An expression and the file it came from, so any part of it can be turned into a [`Span`].
#[derive(Debug, Clone)]
pub struct Expr {
    pub expression: Expression,
    pub file: Arc<SourceFile>,
}

impl Expr {
    pub fn span(&self) -> Span {
        span_of(&self.file, self.expression.span())
    }

    /// The span of a sub-expression of this one.
    pub fn span_of(&self, range: Option<std::ops::Range<usize>>) -> Span {
        span_of(&self.file, range)
    }
}

pub fn span_of(file: &Arc<SourceFile>, range: Option<std::ops::Range<usize>>) -> Span {
    Span::new(file, range.unwrap_or(0..0))
}

/// A block body with the file it came from.
#[derive(Debug, Clone)]
pub struct BodyRef {
    pub body: Body,
    pub file: Arc<SourceFile>,
}

impl BodyRef {
    pub fn attributes(&self) -> impl Iterator<Item = (&Attribute, Expr)> {
        self.body.attributes().map(|attribute| {
            (
                attribute,
                Expr {
                    expression: attribute.value.clone(),
                    file: Arc::clone(&self.file),
                },
            )
        })
    }
}

#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub span: Span,
    pub ty: Option<Type>,
    pub default: Option<Expr>,
    pub description: Option<String>,
    pub sensitive: bool,
    pub nullable: bool,
    pub validations: Vec<Validation>,
}

#[derive(Debug, Clone)]
pub struct Validation {
    pub condition: Expr,
    pub error_message: Expr,
}

#[derive(Debug, Clone)]
pub struct Local {
    pub name: String,
    pub span: Span,
    pub value: Expr,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub name: String,
    pub span: Span,
    pub value: Expr,
    pub sensitive: bool,
    pub description: Option<String>,
    pub depends_on: Vec<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    Managed,
    Data,
}

#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    pub prevent_destroy: bool,
    pub create_before_destroy: bool,
    /// Attribute names whose changes are ignored; `all` ignores every attribute.
    pub ignore_changes: Vec<String>,
    /// Where each name of `ignore_changes` is written, for diagnostics.
    pub ignore_changes_spans: Vec<Span>,
    pub ignore_all_changes: bool,
}

/// A `resource` or `data` block.
#[derive(Debug, Clone)]
pub struct Resource {
    pub mode: Mode,
    pub type_name: String,
    pub name: String,
    /// The block header (`resource "t" "n"`), where diagnostics about the whole block point.
    pub span: Span,
    pub type_span: Span,
    pub body: BodyRef,
    pub count: Option<Expr>,
    pub for_each: Option<Expr>,
    pub depends_on: Vec<Expr>,
    pub lifecycle: Lifecycle,
}

/// A `cluster "name"` block: a Kafka connection.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub span: Span,
    pub body: BodyRef,
}

/// An `assert "name"` block: one or more checks that gate what depends on it.
#[derive(Debug, Clone)]
pub struct Assert {
    pub name: String,
    pub span: Span,
    pub body: BodyRef,
    pub depends_on: Vec<Expr>,
}

/// An `import { to = ADDRESS, id = "..." }` block.
#[derive(Debug, Clone)]
pub struct Import {
    pub span: Span,
    pub to: Expr,
    pub id: Expr,
}

/// A `module "name" { source = "../modules/x" ... }` call.
#[derive(Debug, Clone)]
pub struct ModuleCall {
    pub name: String,
    pub span: Span,
    pub source: String,
    pub source_span: Span,
    /// Input arguments (everything but `source` and `depends_on`).
    pub inputs: Vec<(String, Span, Expr)>,
    pub depends_on: Vec<Expr>,
}

/// A `provider "aws" { ... }` block.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub span: Span,
    pub body: BodyRef,
}

/// `cutover { backend "s3" { ... } }`: settings of the configuration itself.
#[derive(Debug, Clone)]
pub struct Backend {
    pub kind: String,
    pub span: Span,
    pub body: BodyRef,
}

/// Everything one module directory declares.
#[derive(Debug, Clone, Default)]
pub struct Module {
    pub dir: PathBuf,
    pub files: Vec<Arc<SourceFile>>,
    pub variables: Vec<Variable>,
    pub locals: Vec<Local>,
    pub outputs: Vec<Output>,
    pub resources: Vec<Resource>,
    pub clusters: Vec<Cluster>,
    pub asserts: Vec<Assert>,
    pub imports: Vec<Import>,
    pub module_calls: Vec<ModuleCall>,
    pub providers: Vec<Provider>,
    pub backend: Option<Backend>,
}

/// Names a variable cannot have: they are meta-arguments of `module` blocks.
const RESERVED_VARIABLE_NAMES: &[&str] = &[
    "source",
    "version",
    "providers",
    "count",
    "for_each",
    "depends_on",
    "lifecycle",
];

const TOP_LEVEL_BLOCKS: &[&str] = &[
    "variable", "locals", "output", "resource", "data", "cluster", "assert", "import", "module",
    "provider", "cutover",
];

impl Module {
    /// Decodes parsed files into declarations, reporting every structural problem.
    pub fn decode(dir: PathBuf, parsed: Vec<(Arc<SourceFile>, Body)>) -> (Module, Diagnostics) {
        let mut decoder = Decoder {
            module: Module {
                dir,
                ..Module::default()
            },
            diagnostics: Diagnostics::new(),
            seen: BTreeMap::new(),
        };
        for (file, body) in parsed {
            decoder.module.files.push(Arc::clone(&file));
            decoder.decode_file(&file, body);
        }
        (decoder.module, decoder.diagnostics)
    }
}

struct Decoder {
    module: Module,
    diagnostics: Diagnostics,
    /// First declaration of each (kind, name), for duplicate diagnostics.
    seen: BTreeMap<(String, String), Span>,
}

fn label_text(label: &BlockLabel) -> &str {
    match label {
        BlockLabel::Ident(ident) => ident.as_str(),
        BlockLabel::String(text) => text.as_str(),
    }
}

fn label_span(file: &Arc<SourceFile>, label: &BlockLabel) -> Span {
    span_of(file, label.span())
}

/// The span of a block's header: from its type keyword to the last label.
fn header_span(file: &Arc<SourceFile>, block: &Block) -> Span {
    let start = block.ident.span().map_or(0, |r| r.start);
    let end = block
        .labels
        .last()
        .and_then(|label| label.span())
        .or_else(|| block.ident.span())
        .map_or(start, |r| r.end);
    Span::new(file, start..end)
}

fn attribute_span(file: &Arc<SourceFile>, attribute: &Attribute) -> Span {
    span_of(file, attribute.key.span())
}

pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Decoder {
    fn error(&mut self, message: impl Into<String>, span: Span) {
        self.diagnostics.push(Diagnostic::error(message).at(span));
    }

    fn expr(file: &Arc<SourceFile>, expression: &Expression) -> Expr {
        Expr {
            expression: expression.clone(),
            file: Arc::clone(file),
        }
    }

    fn decode_file(&mut self, file: &Arc<SourceFile>, body: Body) {
        for structure in body.into_iter() {
            match structure {
                Structure::Attribute(attribute) => {
                    let span = attribute_span(file, &attribute);
                    self.diagnostics.push(
                        Diagnostic::error(format!(
                            "unexpected argument \"{}\" at the top level",
                            attribute.key.as_str()
                        ))
                        .at(span)
                        .with_hint("arguments belong inside a block; values are declared in a locals block"),
                    );
                }
                Structure::Block(block) => self.decode_block(file, block),
            }
        }
    }

    /// Checks the label count; returns the labels when it is right.
    fn labels(
        &mut self,
        file: &Arc<SourceFile>,
        block: &Block,
        expected: &[&str],
    ) -> Option<Vec<(String, Span)>> {
        let kind = block.ident.as_str();
        if block.labels.len() != expected.len() {
            let wanted = if expected.is_empty() {
                "no labels".to_owned()
            } else {
                format!(
                    "{} label{} ({})",
                    expected.len(),
                    if expected.len() == 1 { "" } else { "s" },
                    expected
                        .iter()
                        .map(|label| format!("\"{label}\""))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            };
            let example = std::iter::once(kind.to_owned())
                .chain(expected.iter().map(|label| format!("\"{label}\"")))
                .collect::<Vec<_>>()
                .join(" ");
            self.diagnostics.push(
                Diagnostic::error(format!(
                    "a {kind} block takes {wanted}, found {}",
                    block.labels.len()
                ))
                .at(header_span(file, block))
                .with_hint(format!("write it as: {example} {{ ... }}")),
            );
            return None;
        }
        let labels: Vec<(String, Span)> = block
            .labels
            .iter()
            .map(|label| (label_text(label).to_owned(), label_span(file, label)))
            .collect();
        for (label, span) in &labels {
            if !is_valid_name(label) {
                self.error(
                    format!(
                        "invalid name \"{label}\": names start with a letter or underscore and contain only letters, digits, underscores and dashes"
                    ),
                    span.clone(),
                );
                return None;
            }
        }
        Some(labels)
    }

    /// Records a declaration; reports a duplicate with the first one's location.
    fn declare(&mut self, kind: &str, name: &str, span: &Span) -> bool {
        let key = (kind.to_owned(), name.to_owned());
        if let Some(first) = self.seen.get(&key) {
            let first = first.start_position();
            let path = first_path(&self.seen[&key]);
            self.diagnostics.push(
                Diagnostic::error(format!("duplicate {kind} \"{name}\""))
                    .at(span.clone())
                    .with_hint(format!(
                        "first declared at {path}:{}:{}; names must be unique in a module",
                        first.line, first.column
                    )),
            );
            return false;
        }
        self.seen.insert(key, span.clone());
        true
    }

    fn decode_block(&mut self, file: &Arc<SourceFile>, block: Block) {
        let kind = block.ident.as_str().to_owned();
        let kind_span = span_of(file, block.ident.span());
        match kind.as_str() {
            "variable" => self.decode_variable(file, block),
            "locals" => self.decode_locals(file, block),
            "output" => self.decode_output(file, block),
            "resource" => self.decode_resource(file, block, Mode::Managed),
            "data" => self.decode_resource(file, block, Mode::Data),
            "cluster" => {
                if let Some(labels) = self.labels(file, &block, &["name"]) {
                    let (name, span) = labels.into_iter().next().unwrap_or_default_pair();
                    if self.declare("cluster", &name, &span) {
                        self.module.clusters.push(Cluster {
                            name,
                            span: header_span(file, &block),
                            body: BodyRef {
                                body: block.body,
                                file: Arc::clone(file),
                            },
                        });
                    }
                }
            }
            "assert" => self.decode_assert(file, block),
            "import" => self.decode_import(file, block),
            "module" => self.decode_module_call(file, block),
            "provider" => {
                if let Some(labels) = self.labels(file, &block, &["name"]) {
                    let (name, span) = labels.into_iter().next().unwrap_or_default_pair();
                    if self.declare("provider", &name, &span) {
                        self.module.providers.push(Provider {
                            name,
                            span: header_span(file, &block),
                            body: BodyRef {
                                body: block.body,
                                file: Arc::clone(file),
                            },
                        });
                    }
                }
            }
            "cutover" => self.decode_settings(file, block),
            other => {
                let mut diagnostic =
                    Diagnostic::error(format!("unknown block type \"{other}\"")).at(kind_span);
                diagnostic = match super::schema::suggest(other, TOP_LEVEL_BLOCKS.iter().copied()) {
                    Some(suggestion) => {
                        diagnostic.with_hint(format!("did you mean \"{suggestion}\"?"))
                    }
                    None => diagnostic.with_hint(format!(
                        "top-level blocks are: {}",
                        TOP_LEVEL_BLOCKS.join(", ")
                    )),
                };
                self.diagnostics.push(diagnostic);
            }
        }
    }

    /// Checks that a fixed-schema block has only known arguments and blocks. Returns the names
    /// offered as "did you mean" corrections, so the caller does not also report them missing.
    fn check_known(
        &mut self,
        file: &Arc<SourceFile>,
        body: &Body,
        context: &str,
        attributes: &[&str],
        blocks: &[&str],
    ) -> Vec<String> {
        let mut suggested = Vec::new();
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attribute)
                    if !attributes.contains(&attribute.key.as_str()) =>
                {
                    let name = attribute.key.as_str();
                    let mut diagnostic =
                        Diagnostic::error(format!("unsupported argument \"{name}\" in {context}"))
                            .at(attribute_span(file, attribute));
                    if let Some(suggestion) =
                        super::schema::suggest(name, attributes.iter().copied())
                    {
                        suggested.push(suggestion.to_owned());
                        diagnostic =
                            diagnostic.with_hint(format!("did you mean \"{suggestion}\"?"));
                    } else if !attributes.is_empty() {
                        diagnostic = diagnostic
                            .with_hint(format!("{context} accepts: {}", attributes.join(", ")));
                    }
                    self.diagnostics.push(diagnostic);
                }
                Structure::Block(block) if !blocks.contains(&block.ident.as_str()) => {
                    let name = block.ident.as_str();
                    let diagnostic =
                        Diagnostic::error(format!("unsupported block \"{name}\" in {context}"))
                            .at(span_of(file, block.ident.span()));
                    self.diagnostics.push(if attributes.contains(&name) {
                        diagnostic
                            .with_hint(format!("\"{name}\" is an argument: write {name} = ..."))
                    } else if blocks.is_empty() {
                        diagnostic.with_hint(format!("{context} takes no nested blocks"))
                    } else {
                        diagnostic.with_hint(format!(
                            "{context} accepts the blocks: {}",
                            blocks.join(", ")
                        ))
                    });
                }
                _ => {}
            }
        }
        suggested
    }

    fn literal_string(&mut self, file: &Arc<SourceFile>, attribute: &Attribute) -> Option<String> {
        match &attribute.value {
            Expression::String(text) => Some(text.as_str().to_owned()),
            other => {
                self.diagnostics.push(
                    Diagnostic::error(format!(
                        "\"{}\" must be a literal string",
                        attribute.key.as_str()
                    ))
                    .at(span_of(file, other.span()))
                    .with_hint("it is read before anything is evaluated, so it cannot use references or ${...}"),
                );
                None
            }
        }
    }

    fn literal_bool(&mut self, file: &Arc<SourceFile>, attribute: &Attribute) -> bool {
        match &attribute.value {
            Expression::Bool(flag) => *flag.value(),
            other => {
                self.error(
                    format!("\"{}\" must be true or false", attribute.key.as_str()),
                    span_of(file, other.span()),
                );
                false
            }
        }
    }

    fn depends_on(&mut self, file: &Arc<SourceFile>, attribute: &Attribute) -> Vec<Expr> {
        match &attribute.value {
            Expression::Array(items) => items.iter().map(|item| Self::expr(file, item)).collect(),
            other => {
                self.error(
                    "depends_on must be a list of references, e.g. [assert.caught_up]",
                    span_of(file, other.span()),
                );
                Vec::new()
            }
        }
    }

    fn decode_variable(&mut self, file: &Arc<SourceFile>, block: Block) {
        let Some(labels) = self.labels(file, &block, &["name"]) else {
            return;
        };
        let (name, span) = labels.into_iter().next().unwrap_or_default_pair();
        self.check_known(
            file,
            &block.body,
            "a variable block",
            &["type", "default", "description", "sensitive", "nullable"],
            &["validation"],
        );
        if RESERVED_VARIABLE_NAMES.contains(&name.as_str()) {
            self.diagnostics.push(
                Diagnostic::error(format!("the variable name \"{name}\" is reserved"))
                    .at(span.clone())
                    .with_hint(format!(
                        "\"{name}\" is a meta-argument of module blocks, so a module call could never set it; choose another name"
                    )),
            );
        }
        if !self.declare("variable", &name, &span) {
            return;
        }
        let mut variable = Variable {
            name,
            span,
            ty: None,
            default: None,
            description: None,
            sensitive: false,
            nullable: true,
            validations: Vec::new(),
        };
        for attribute in block.body.attributes() {
            match attribute.key.as_str() {
                "type" => match Type::parse(&attribute.value) {
                    Ok(ty) => variable.ty = Some(ty),
                    Err(error) => {
                        self.error(
                            format!("invalid type constraint: {}", error.message),
                            span_of(file, error.range.or_else(|| attribute.value.span())),
                        );
                    }
                },
                "default" => variable.default = Some(Self::expr(file, &attribute.value)),
                "description" => variable.description = self.literal_string(file, attribute),
                "sensitive" => variable.sensitive = self.literal_bool(file, attribute),
                "nullable" => variable.nullable = self.literal_bool(file, attribute),
                _ => {}
            }
        }
        for validation in block
            .body
            .blocks()
            .filter(|b| b.ident.as_str() == "validation")
        {
            let suggested = self.check_known(
                file,
                &validation.body,
                "a validation block",
                &["condition", "error_message"],
                &[],
            );
            let condition = validation.body.get_attribute("condition");
            let message = validation.body.get_attribute("error_message");
            match (condition, message) {
                (Some(condition), Some(message)) => variable.validations.push(Validation {
                    condition: Self::expr(file, &condition.value),
                    error_message: Self::expr(file, &message.value),
                }),
                (condition, message) => {
                    let missing: Vec<&str> = [
                        ("condition", condition.is_none()),
                        ("error_message", message.is_none()),
                    ]
                    .into_iter()
                    .filter(|(name, missing)| *missing && !suggested.iter().any(|s| s == name))
                    .map(|(name, _)| name)
                    .collect();
                    if !missing.is_empty() {
                        self.error(
                            format!(
                                "a validation block needs {}",
                                missing
                                    .iter()
                                    .map(|name| format!("\"{name}\""))
                                    .collect::<Vec<_>>()
                                    .join(" and ")
                            ),
                            span_of(file, validation.ident.span()),
                        );
                    }
                }
            }
        }
        self.module.variables.push(variable);
    }

    fn decode_locals(&mut self, file: &Arc<SourceFile>, block: Block) {
        self.labels(file, &block, &[]);
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attribute) => {
                    let name = attribute.key.as_str().to_owned();
                    let span = attribute_span(file, attribute);
                    if self.declare("local value", &name, &span) {
                        self.module.locals.push(Local {
                            name,
                            span,
                            value: Self::expr(file, &attribute.value),
                        });
                    }
                }
                Structure::Block(inner) => self.error(
                    "blocks are not allowed in locals; write name = value",
                    span_of(file, inner.ident.span()),
                ),
            }
        }
    }

    fn decode_output(&mut self, file: &Arc<SourceFile>, block: Block) {
        let Some(labels) = self.labels(file, &block, &["name"]) else {
            return;
        };
        let (name, span) = labels.into_iter().next().unwrap_or_default_pair();
        let suggested = self.check_known(
            file,
            &block.body,
            "an output block",
            &["value", "sensitive", "description", "depends_on"],
            &[],
        );
        if !self.declare("output", &name, &span) {
            return;
        }
        let Some(value) = block.body.get_attribute("value") else {
            if !suggested.iter().any(|s| s == "value") {
                self.error(
                    format!("output \"{name}\" needs a \"value\" argument"),
                    header_span(file, &block),
                );
            }
            return;
        };
        let mut output = Output {
            name,
            span,
            value: Self::expr(file, &value.value),
            sensitive: false,
            description: None,
            depends_on: Vec::new(),
        };
        for attribute in block.body.attributes() {
            match attribute.key.as_str() {
                "sensitive" => output.sensitive = self.literal_bool(file, attribute),
                "description" => output.description = self.literal_string(file, attribute),
                "depends_on" => output.depends_on = self.depends_on(file, attribute),
                _ => {}
            }
        }
        self.module.outputs.push(output);
    }

    fn decode_resource(&mut self, file: &Arc<SourceFile>, block: Block, mode: Mode) {
        let Some(labels) = self.labels(file, &block, &["type", "name"]) else {
            return;
        };
        let mut labels = labels.into_iter();
        let (type_name, type_span) = labels.next().unwrap_or_default_pair();
        let (name, name_span) = labels.next().unwrap_or_default_pair();
        let kind = match mode {
            Mode::Managed => "resource",
            Mode::Data => "data source",
        };
        if !self.declare(kind, &format!("{type_name}.{name}"), &name_span) {
            return;
        }
        let span = header_span(file, &block);
        let mut resource = Resource {
            mode,
            type_name,
            name,
            span,
            type_span,
            body: BodyRef {
                body: Body::new(),
                file: Arc::clone(file),
            },
            count: None,
            for_each: None,
            depends_on: Vec::new(),
            lifecycle: Lifecycle::default(),
        };
        let mut body = Body::new();
        for structure in block.body.into_iter() {
            match structure {
                Structure::Attribute(attribute) => match attribute.key.as_str() {
                    "count" => resource.count = Some(Self::expr(file, &attribute.value)),
                    "for_each" => resource.for_each = Some(Self::expr(file, &attribute.value)),
                    "depends_on" => resource.depends_on = self.depends_on(file, &attribute),
                    "provider" => self.error(
                        "the \"provider\" meta-argument is not supported: each type has one provider, configured by its provider block",
                        attribute_span(file, &attribute),
                    ),
                    _ => body.push(attribute),
                },
                Structure::Block(inner) if inner.ident.as_str() == "lifecycle" => {
                    if mode == Mode::Data {
                        self.error(
                            "data sources have no lifecycle block",
                            span_of(file, inner.ident.span()),
                        );
                    } else {
                        resource.lifecycle = self.decode_lifecycle(file, &inner);
                    }
                }
                Structure::Block(inner) => body.push(inner),
            }
        }
        if let (Some(count), Some(_)) = (&resource.count, &resource.for_each) {
            self.diagnostics.push(
                Diagnostic::error("\"count\" and \"for_each\" cannot both be set on one block")
                    .at(count.span())
                    .with_hint(
                        "keep one: count makes numbered instances, for_each makes one per key",
                    ),
            );
        }
        resource.body.body = body;
        self.module.resources.push(resource);
    }

    fn decode_lifecycle(&mut self, file: &Arc<SourceFile>, block: &Block) -> Lifecycle {
        self.check_known(
            file,
            &block.body,
            "a lifecycle block",
            &["prevent_destroy", "create_before_destroy", "ignore_changes"],
            &[],
        );
        let mut lifecycle = Lifecycle::default();
        for attribute in block.body.attributes() {
            match attribute.key.as_str() {
                "prevent_destroy" => lifecycle.prevent_destroy = self.literal_bool(file, attribute),
                "create_before_destroy" => {
                    lifecycle.create_before_destroy = self.literal_bool(file, attribute);
                }
                "ignore_changes" => match &attribute.value {
                    Expression::Variable(ident) if ident.as_str() == "all" => {
                        lifecycle.ignore_all_changes = true;
                    }
                    Expression::Array(items) => {
                        for item in items.iter() {
                            match item {
                                Expression::Variable(ident) => {
                                    lifecycle.ignore_changes.push(ident.as_str().to_owned());
                                    lifecycle.ignore_changes_spans.push(span_of(file, item.span()));
                                }
                                Expression::String(text) => {
                                    lifecycle.ignore_changes.push(text.as_str().to_owned());
                                    lifecycle.ignore_changes_spans.push(span_of(file, item.span()));
                                }
                                other => self.error(
                                    "ignore_changes lists attribute names, e.g. [tags, description]",
                                    span_of(file, other.span()),
                                ),
                            }
                        }
                    }
                    other => self.error(
                        "ignore_changes must be a list of attribute names or the keyword all",
                        span_of(file, other.span()),
                    ),
                },
                _ => {}
            }
        }
        lifecycle
    }

    fn decode_assert(&mut self, file: &Arc<SourceFile>, block: Block) {
        let Some(labels) = self.labels(file, &block, &["name"]) else {
            return;
        };
        let (name, span) = labels.into_iter().next().unwrap_or_default_pair();
        if !self.declare("assert", &name, &span) {
            return;
        }
        let header = header_span(file, &block);
        let mut depends_on = Vec::new();
        let mut body = Body::new();
        for structure in block.body.into_iter() {
            match structure {
                Structure::Attribute(attribute) if attribute.key.as_str() == "depends_on" => {
                    depends_on = self.depends_on(file, &attribute);
                }
                other => body.push(other),
            }
        }
        self.module.asserts.push(Assert {
            name,
            span: header,
            body: BodyRef {
                body,
                file: Arc::clone(file),
            },
            depends_on,
        });
    }

    fn decode_import(&mut self, file: &Arc<SourceFile>, block: Block) {
        self.labels(file, &block, &[]);
        self.check_known(file, &block.body, "an import block", &["to", "id"], &[]);
        let span = header_span(file, &block);
        match (
            block.body.get_attribute("to"),
            block.body.get_attribute("id"),
        ) {
            (Some(to), Some(id)) => self.module.imports.push(Import {
                span,
                to: Self::expr(file, &to.value),
                id: Self::expr(file, &id.value),
            }),
            (to, id) => {
                let missing: Vec<&str> = [("\"to\"", to.is_none()), ("\"id\"", id.is_none())]
                    .into_iter()
                    .filter(|(_, missing)| *missing)
                    .map(|(name, _)| name)
                    .collect();
                self.diagnostics.push(
                    Diagnostic::error(format!("an import block needs {}", missing.join(" and ")))
                        .at(span)
                        .with_hint(
                            "for example: import { to = cutover_data.marker  id = \"marker-1\" }",
                        ),
                );
            }
        }
    }

    fn decode_module_call(&mut self, file: &Arc<SourceFile>, block: Block) {
        let Some(labels) = self.labels(file, &block, &["name"]) else {
            return;
        };
        let (name, span) = labels.into_iter().next().unwrap_or_default_pair();
        if !self.declare("module", &name, &span) {
            return;
        }
        let header = header_span(file, &block);
        let mut source = None;
        // Set when `source` is written but not a literal (already reported).
        let mut source_written = false;
        let mut inputs = Vec::new();
        let mut depends_on = Vec::new();
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attribute) => match attribute.key.as_str() {
                    "source" => {
                        source_written = true;
                        if let Some(text) = self.literal_string(file, attribute) {
                            source = Some((text, span_of(file, attribute.value.span())));
                        }
                    }
                    "depends_on" => depends_on = self.depends_on(file, attribute),
                    "count" | "for_each" | "providers" | "version" => self.error(
                        format!(
                            "\"{}\" on module calls is not supported yet; call the module once per instance",
                            attribute.key.as_str()
                        ),
                        attribute_span(file, attribute),
                    ),
                    key => inputs.push((
                        key.to_owned(),
                        attribute_span(file, attribute),
                        Self::expr(file, &attribute.value),
                    )),
                },
                Structure::Block(inner) => self.error(
                    "module calls take arguments, not blocks",
                    span_of(file, inner.ident.span()),
                ),
            }
        }
        let Some((source, source_span)) = source else {
            if !source_written {
                self.error(
                    format!("module \"{name}\" needs a \"source\" argument, e.g. source = \"../modules/kafka-to-msk\""),
                    header,
                );
            }
            return;
        };
        self.module.module_calls.push(ModuleCall {
            name,
            span: header,
            source,
            source_span,
            inputs,
            depends_on,
        });
    }

    fn decode_settings(&mut self, file: &Arc<SourceFile>, block: Block) {
        self.labels(file, &block, &[]);
        self.check_known(file, &block.body, "the cutover block", &[], &["backend"]);
        for backend in block
            .body
            .blocks()
            .filter(|b| b.ident.as_str() == "backend")
        {
            let Some(labels) = self.labels(file, backend, &["type"]) else {
                continue;
            };
            let (kind, span) = labels.into_iter().next().unwrap_or_default_pair();
            if self.module.backend.is_some() {
                self.error("only one backend block is allowed", span);
                continue;
            }
            self.module.backend = Some(Backend {
                kind,
                span: header_span(file, backend),
                body: BodyRef {
                    body: backend.body.clone(),
                    file: Arc::clone(file),
                },
            });
        }
    }
}

fn first_path(span: &Span) -> String {
    span.file.path.display().to_string()
}

trait DefaultPair {
    fn unwrap_or_default_pair(self) -> (String, Span);
}

impl DefaultPair for Option<(String, Span)> {
    fn unwrap_or_default_pair(self) -> (String, Span) {
        self.expect("label count checked before")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let file = Arc::new(SourceFile::new(PathBuf::from("main.hcl"), text.to_owned()));
        let body = crate::config::parse::parse_file(&file).expect("parse");
        let (_, diagnostics) = Module::decode(PathBuf::from("."), vec![(file, body)]);
        diagnostics.iter().map(|d| d.message.clone()).collect()
    }

    #[test]
    fn a_misspelled_argument_is_not_also_reported_missing() {
        assert_eq!(
            problems(
                "variable \"v\" {\n  validation {\n    condition = true\n    error_messge = \"x\"\n  }\n}\n"
            ),
            vec!["unsupported argument \"error_messge\" in a validation block"]
        );
        assert_eq!(
            problems("output \"o\" {\n  valu = 1\n}\n"),
            vec!["unsupported argument \"valu\" in an output block"]
        );
    }

    #[test]
    fn a_computed_module_source_is_reported_once() {
        assert_eq!(
            problems("module \"m\" {\n  source = \"./${var.x}\"\n}\n"),
            vec!["\"source\" must be a literal string"]
        );
    }

    #[test]
    fn module_meta_argument_names_are_reserved_for_variables() {
        assert_eq!(
            problems("variable \"count\" {\n}\nvariable \"brokers\" {\n}\n"),
            vec!["the variable name \"count\" is reserved"]
        );
    }

    #[test]
    fn import_blocks_say_what_they_lack() {
        assert_eq!(
            problems("import {\n  to = cutover_data.x\n}\n"),
            vec!["an import block needs \"id\""]
        );
    }

    #[test]
    fn ignore_changes_names_keep_their_spans() {
        let file = Arc::new(SourceFile::new(
            PathBuf::from("main.hcl"),
            "resource \"t\" \"n\" {\n  lifecycle {\n    ignore_changes = [input, \"tags\"]\n  }\n}\n"
                .to_owned(),
        ));
        let body = crate::config::parse::parse_file(&file).expect("parse");
        let (module, _) = Module::decode(PathBuf::from("."), vec![(file, body)]);
        let lifecycle = &module.resources[0].lifecycle;
        let spans: Vec<&str> = lifecycle
            .ignore_changes_spans
            .iter()
            .map(Span::text)
            .collect();
        assert_eq!(spans, vec!["input", "\"tags\""]);
    }
}
