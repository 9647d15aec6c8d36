//! Evaluating a whole configuration: every module instance's variables, locals, resources,
//! data sources, clusters, assertions, module calls and outputs, in dependency order across
//! modules. The dependency graph comes from references; a cycle is a diagnostic naming every
//! object on it. The result lists each resource instance (after `count`/`for_each` expansion)
//! with its evaluated arguments, which the engine plans against live state.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};

use super::body::decode_body;
use super::eval::{Namespaces, Repetition, Scope, evaluate};
use super::inputs::{Inputs, RawValue};
use super::load::ModuleTree;
use super::model::{Expr, Lifecycle, Mode, Module};
use super::references::{Reference, Subject, depends_on_subject, references};
use super::schema::{Schema, SchemaKind, SchemaSource, suggest};
use super::types::Type;
use super::value::Value;
use crate::diagnostics::{Diagnostic, Diagnostics, SourceFile, Span};

/// Whether unknown inputs are tolerated: `validate` checks a configuration without variable
/// values or live state, so missing variables and unknown `for_each` keys are not errors there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalMode {
    Validate,
    Plan,
}

/// `[0]` or `["key"]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstanceKey {
    Int(i64),
    String(String),
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceKey::Int(index) => write!(f, "[{index}]"),
            InstanceKey::String(key) => write!(f, "[{}]", serde_json::Value::String(key.clone())),
        }
    }
}

/// The address of one resource instance: `module.a.aws_msk_cluster.target`,
/// `data.kafka_topics.legacy`, `cutover_data.x["k"]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceAddress {
    pub module: Vec<String>,
    pub mode: Mode,
    pub type_name: String,
    pub name: String,
    pub key: Option<InstanceKey>,
}

impl fmt::Display for ResourceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for module in &self.module {
            write!(f, "module.{module}.")?;
        }
        if self.mode == Mode::Data {
            f.write_str("data.")?;
        }
        write!(f, "{}.{}", self.type_name, self.name)?;
        if let Some(key) = &self.key {
            write!(f, "{key}")?;
        }
        Ok(())
    }
}

/// One resource or data source instance with its evaluated arguments.
#[derive(Debug, Clone)]
pub struct ResourceInstance {
    pub address: ResourceAddress,
    /// The evaluated body: arguments set (marks kept), unset optional ones null, computed ones
    /// unknown.
    pub config: Value,
    pub span: Span,
    pub lifecycle: Lifecycle,
    /// Objects this instance depends on (references and `depends_on`), as display strings of
    /// their module-qualified addresses (`module.m.aws_x.y`, `assert.caught_up`).
    pub dependencies: BTreeSet<String>,
    /// The errors evaluating the body found (already reported at their spans, with them):
    /// the engine does not plan such an instance, so the provider does not report the same
    /// mistake again, and an apply that finds one (a value unknown at plan time, known and
    /// wrong now) stops with the message `validate` would have given.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct OutputValue {
    pub value: Value,
    pub sensitive: bool,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NamedObject {
    pub module: Vec<String>,
    pub name: String,
    pub value: Value,
    pub span: Span,
    pub dependencies: BTreeSet<String>,
}

impl NamedObject {
    /// The module-qualified address of a cluster or assertion: `module.m.cluster.source`.
    pub fn address_of(module: &[String], kind: &str, name: &str) -> String {
        let prefix: String = module.iter().map(|m| format!("module.{m}.")).collect();
        format!("{prefix}{kind}.{name}")
    }

    /// The address of a cluster (`cluster.NAME`, module-qualified).
    pub fn address(&self) -> String {
        Self::address_of(&self.module, "cluster", &self.name)
    }
}

#[derive(Debug, Clone)]
pub struct ImportSpec {
    pub to: ResourceAddress,
    pub id: Value,
    pub span: Span,
}

/// The evaluated configuration.
#[derive(Debug, Clone, Default)]
pub struct Configuration {
    pub resources: Vec<ResourceInstance>,
    pub clusters: Vec<NamedObject>,
    pub asserts: Vec<NamedObject>,
    /// Root module outputs.
    pub outputs: BTreeMap<String, OutputValue>,
    pub imports: Vec<ImportSpec>,
    /// Root module variable values (marks kept).
    pub variables: BTreeMap<String, Value>,
    /// Root module `provider` blocks by provider name (marks kept).
    pub providers: BTreeMap<String, Value>,
    /// The objects each output of every module instance depends on, by output address
    /// (`output.NAME`, `module.M.output.NAME`), resolved like
    /// [`ResourceInstance::dependencies`]. For `cutover graph`.
    pub output_dependencies: BTreeMap<String, BTreeSet<String>>,
    /// The assertions each managed resource block depends on, by object label
    /// (`module.m.aws_ec2_instance.legacy`), whatever its instance count: instances a block
    /// no longer has (its `for_each` shrank) are destroyed only once these held.
    pub block_assertions: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum NodeKey {
    Variable(String),
    Local(String),
    Output(String),
    Resource(Mode, String, String),
    Cluster(String),
    Assert(String),
    ModuleCall(String),
    /// A root module `provider` block: every resource and data source of its types (named
    /// `NAME_...`) depends on it.
    Provider(String),
}

#[derive(Debug, Clone)]
struct Node {
    slot: usize,
    key: NodeKey,
    span: Span,
    /// Index of the declaration in its module's list of that kind.
    position: usize,
}

#[derive(Default)]
struct ObjectExpressions {
    body: Vec<Expr>,
    repetition: Option<Expr>,
    repetition_kind: Option<&'static str>,
    depends_on: Vec<Expr>,
}

/// One module instance in the flattened tree.
struct Slot<'t> {
    path: Vec<String>,
    module: &'t Module,
    children: BTreeMap<String, usize>,
    /// The call that instantiated this module: (parent slot, call name).
    parent: Option<(usize, String)>,
    namespaces: Namespaces,
    /// Input values given by the module call, with the span of each argument.
    call_inputs: BTreeMap<String, (Value, Span)>,
    /// Variables the call offered as "did you mean" for a misspelled input: not also
    /// reported missing.
    suggested_inputs: BTreeSet<String>,
    outputs: BTreeMap<String, OutputValue>,
}

fn node_label(path: &[String], key: &NodeKey) -> String {
    let prefix: String = path.iter().map(|m| format!("module.{m}.")).collect();
    let local = match key {
        NodeKey::Variable(name) => format!("var.{name}"),
        NodeKey::Local(name) => format!("local.{name}"),
        NodeKey::Output(name) => format!("output.{name}"),
        NodeKey::Resource(Mode::Managed, type_name, name) => format!("{type_name}.{name}"),
        NodeKey::Resource(Mode::Data, type_name, name) => format!("data.{type_name}.{name}"),
        NodeKey::Cluster(name) => format!("cluster.{name}"),
        NodeKey::Assert(name) => format!("assert.{name}"),
        NodeKey::ModuleCall(name) => format!("module.{name}"),
        NodeKey::Provider(name) => format!("provider.{name}"),
    };
    format!("{prefix}{local}")
}

/// Decides what other objects see of a resource instance once its arguments are evaluated.
/// `validate` exposes the configuration itself (computed attributes unknown); `plan` exposes
/// the provider's planned values, `apply` the applied ones.
pub trait ResourceHook {
    fn instance_value(&mut self, instance: &ResourceInstance) -> Value;
    /// A `cluster` block was evaluated (before anything that uses it).
    fn cluster_value(&mut self, _address: &str, _value: &Value) {}
    /// A root `provider` block was evaluated (before any object of its types).
    fn provider_value(&mut self, _name: &str, _value: &Value) {}
}

/// The hook of `validate`: the evaluated configuration, computed attributes unknown.
pub struct ConfigurationValues;

impl ResourceHook for ConfigurationValues {
    fn instance_value(&mut self, instance: &ResourceInstance) -> Value {
        instance.config.clone()
    }
}

/// Evaluates a loaded module tree with root variable values.
pub fn evaluate_configuration(
    tree: &ModuleTree,
    inputs: &Inputs,
    schemas: &dyn SchemaSource,
    mode: EvalMode,
) -> (Configuration, Diagnostics) {
    evaluate_configuration_with(tree, inputs, schemas, mode, &mut ConfigurationValues)
}

/// Evaluates with a hook deciding the value each resource instance exposes to references.
pub fn evaluate_configuration_with(
    tree: &ModuleTree,
    inputs: &Inputs,
    schemas: &dyn SchemaSource,
    mode: EvalMode,
    hook: &mut dyn ResourceHook,
) -> (Configuration, Diagnostics) {
    let _budget = super::budget::start(super::budget::configured_limits());
    let mut evaluator = Evaluator {
        hook,
        slots: Vec::new(),
        graph: DiGraph::new(),
        index: BTreeMap::new(),
        schemas,
        mode,
        diagnostics: Diagnostics::new(),
        configuration: Configuration::default(),
        node_dependencies: BTreeMap::new(),
    };
    evaluator.flatten(tree, Vec::new(), None);
    evaluator.add_nodes();
    evaluator.add_edges();
    let reference_diagnostics = evaluator.diagnostics.iter().count();
    evaluator.run(inputs);
    evaluator.report_module_providers();
    let Evaluator {
        diagnostics,
        mut configuration,
        slots,
        graph,
        node_dependencies,
        ..
    } = evaluator;
    for (index, dependencies) in node_dependencies {
        let node = &graph[index];
        match node.key {
            NodeKey::Output(_) => {
                configuration
                    .output_dependencies
                    .insert(node_label(&slots[node.slot].path, &node.key), dependencies);
            }
            NodeKey::Resource(Mode::Managed, ..) => {
                let assertions: BTreeSet<String> = dependencies
                    .into_iter()
                    .filter(|label| label.starts_with("assert.") || label.contains(".assert."))
                    .collect();
                if !assertions.is_empty() {
                    configuration
                        .block_assertions
                        .insert(node_label(&slots[node.slot].path, &node.key), assertions);
                }
            }
            _ => {}
        }
    }
    if let Some(root) = slots.first() {
        configuration.outputs = root.outputs.clone();
        configuration.variables = root.namespaces.variables.clone();
    }
    let mut diagnostics = without_repeated_reference_errors(diagnostics, reference_diagnostics);
    for clash in super::identity::clashes(&configuration.resources, schemas) {
        diagnostics.push(clash);
    }
    if super::budget::exceeded() {
        diagnostics = with_one_budget_error(diagnostics);
    }
    diagnostics.sort();
    (configuration, diagnostics)
}

/// Once the evaluation budget is spent every later expression fails the same way: only the
/// first of those errors, at the expression that crossed the line, is news.
fn with_one_budget_error(diagnostics: Diagnostics) -> Diagnostics {
    let mut seen = false;
    diagnostics
        .into_iter()
        .filter(|diagnostic| {
            if !diagnostic.message.contains(super::budget::MESSAGE_PREFIX) {
                return true;
            }
            !std::mem::replace(&mut seen, true)
        })
        .collect()
}

/// The most instances one block may have, through `count` or `for_each`.
const MAX_INSTANCES_PER_BLOCK: usize = 100_000;

fn too_many_instances(found: usize, for_each: &Expr) -> Diagnostic {
    Diagnostic::error(format!(
        "for_each has {found} elements; a block can have at most {MAX_INSTANCES_PER_BLOCK} instances (as with count)"
    ))
    .at(for_each.span())
}

/// The first `reference_count` diagnostics come from checking references before evaluation.
/// Evaluating an expression with a bad reference fails again at the same place (a traversal
/// that names nothing, `each` outside `for_each`); those repeats, whatever their wording, are
/// dropped so each mistake is reported once, with the reference check's hint.
fn without_repeated_reference_errors(
    diagnostics: Diagnostics,
    reference_count: usize,
) -> Diagnostics {
    let mut reference_starts: BTreeSet<(std::path::PathBuf, usize)> = BTreeSet::new();
    diagnostics
        .into_iter()
        .enumerate()
        .filter(|(position, diagnostic)| {
            let start = diagnostic
                .span
                .as_ref()
                .map(|span| (span.file.path.clone(), span.start));
            if *position < reference_count {
                reference_starts.extend(start);
                true
            } else {
                !start.is_some_and(|start| reference_starts.contains(&start))
            }
        })
        .map(|(_, diagnostic)| diagnostic)
        .collect()
}

struct Evaluator<'t, 'h> {
    hook: &'h mut dyn ResourceHook,
    slots: Vec<Slot<'t>>,
    graph: DiGraph<Node, ()>,
    index: BTreeMap<(usize, NodeKey), NodeIndex>,
    schemas: &'t dyn SchemaSource,
    mode: EvalMode,
    diagnostics: Diagnostics,
    configuration: Configuration,
    /// Labels of the objects each node depends on.
    node_dependencies: BTreeMap<NodeIndex, BTreeSet<String>>,
}

impl<'t> Evaluator<'t, '_> {
    /// A root `provider` block, evaluated in dependency order (its settings may use
    /// variables, locals and other objects).
    fn evaluate_provider(&mut self, slot: usize, provider: &crate::config::model::Provider) {
        let Some(schema) = self.schemas.provider_schema(&provider.name) else {
            let names = self.schemas.provider_names();
            let mut diagnostic = Diagnostic::error(format!(
                "there is no provider \"{}\" that takes settings",
                provider.name
            ))
            .at(provider.span.clone());
            diagnostic = match suggest(&provider.name, names.iter().copied()) {
                Some(close) => diagnostic.with_hint(format!("did you mean \"{close}\"?")),
                None if names.is_empty() => diagnostic,
                None => {
                    diagnostic.with_hint(format!("providers with settings: {}", names.join(", ")))
                }
            };
            self.diagnostics.push(diagnostic);
            return;
        };
        let scope_namespaces = std::mem::take(&mut self.slots[slot].namespaces);
        let scope = Scope {
            base_dir: &self.slots[0].module.dir,
            namespaces: &scope_namespaces,
            repetition: &Repetition::None,
        };
        let mut diagnostics = Diagnostics::new();
        let value = decode_body(
            &provider.body.body,
            &provider.body.file,
            schema,
            &scope,
            &format!("provider \"{}\"", provider.name),
            &provider.span,
            &mut diagnostics,
        );
        self.slots[slot].namespaces = scope_namespaces;
        self.diagnostics.extend(diagnostics);
        self.hook.provider_value(&provider.name, &value);
        self.configuration
            .providers
            .insert(provider.name.clone(), value);
    }

    /// Provider blocks outside the root module are mistakes: modules use the root's settings.
    fn report_module_providers(&mut self) {
        for slot in 1..self.slots.len() {
            for provider in &self.slots[slot].module.providers {
                self.diagnostics.push(
                    Diagnostic::error(format!(
                        "provider \"{}\" is configured inside a module",
                        provider.name
                    ))
                    .at(provider.span.clone())
                    .with_hint(
                        "configure providers in the root module; modules use the root's settings",
                    ),
                );
            }
        }
    }

    fn flatten(
        &mut self,
        tree: &'t ModuleTree,
        path: Vec<String>,
        parent: Option<(usize, String)>,
    ) {
        let slot = self.slots.len();
        // path.module is relative to the root module (Terraform's convention): plans and state
        // never show machine-specific absolute paths.
        let module_path = match self.slots.first() {
            Some(root) => relative_path(&root.module.dir, &tree.module.dir),
            None => ".".to_owned(),
        };
        self.slots.push(Slot {
            path: path.clone(),
            module: &tree.module,
            children: BTreeMap::new(),
            parent,
            namespaces: Namespaces {
                path: Value::Map(
                    [
                        ("module".to_owned(), Value::String(module_path)),
                        ("root".to_owned(), Value::string(".")),
                        ("cwd".to_owned(), Value::string(".")),
                    ]
                    .into(),
                ),
                ..Namespaces::default()
            },
            call_inputs: BTreeMap::new(),
            suggested_inputs: BTreeSet::new(),
            outputs: BTreeMap::new(),
        });
        for (name, child) in &tree.children {
            let child_slot = self.slots.len();
            self.slots[slot].children.insert(name.clone(), child_slot);
            let mut child_path = path.clone();
            child_path.push(name.clone());
            self.flatten(child, child_path, Some((slot, name.clone())));
        }
        // A module that failed to load (its diagnostic says why) has unknown outputs, so
        // references to it do not pile up more errors.
        for call in &tree.module.module_calls {
            if !tree.children.contains_key(&call.name) {
                self.slots[slot]
                    .namespaces
                    .modules
                    .insert(call.name.clone(), Value::Unknown);
            }
        }
    }

    fn add_node(&mut self, slot: usize, key: NodeKey, span: Span, position: usize) {
        let index = self.graph.add_node(Node {
            slot,
            key: key.clone(),
            span,
            position,
        });
        self.index.insert((slot, key), index);
    }

    fn add_nodes(&mut self) {
        for slot in 0..self.slots.len() {
            let module = self.slots[slot].module;
            for (position, variable) in module.variables.iter().enumerate() {
                let key = NodeKey::Variable(variable.name.clone());
                self.add_node(slot, key, variable.span.clone(), position);
            }
            for (position, local) in module.locals.iter().enumerate() {
                let key = NodeKey::Local(local.name.clone());
                self.add_node(slot, key, local.span.clone(), position);
            }
            for (position, output) in module.outputs.iter().enumerate() {
                let key = NodeKey::Output(output.name.clone());
                self.add_node(slot, key, output.span.clone(), position);
            }
            for (position, resource) in module.resources.iter().enumerate() {
                let key = NodeKey::Resource(
                    resource.mode,
                    resource.type_name.clone(),
                    resource.name.clone(),
                );
                self.add_node(slot, key, resource.span.clone(), position);
            }
            for (position, cluster) in module.clusters.iter().enumerate() {
                let key = NodeKey::Cluster(cluster.name.clone());
                self.add_node(slot, key, cluster.span.clone(), position);
            }
            for (position, assertion) in module.asserts.iter().enumerate() {
                let key = NodeKey::Assert(assertion.name.clone());
                self.add_node(slot, key, assertion.span.clone(), position);
            }
            if slot == 0 {
                for (position, provider) in module.providers.iter().enumerate() {
                    let key = NodeKey::Provider(provider.name.clone());
                    self.add_node(slot, key, provider.span.clone(), position);
                }
            }
            for (position, call) in module.module_calls.iter().enumerate() {
                if self.slots[slot].children.contains_key(&call.name) {
                    let key = NodeKey::ModuleCall(call.name.clone());
                    self.add_node(slot, key, call.span.clone(), position);
                }
            }
        }
    }

    /// What an object reads: its body's expressions, its `count`/`for_each` expression (which
    /// cannot itself use `each` or `count`), and its `depends_on` items.
    fn expressions_of(&self, node: &Node) -> ObjectExpressions {
        let module = self.slots[node.slot].module;
        let mut found = ObjectExpressions::default();
        match &node.key {
            NodeKey::Variable(_) => {}
            NodeKey::Local(_) => found.body.push(module.locals[node.position].value.clone()),
            NodeKey::Output(_) => {
                let output = &module.outputs[node.position];
                found.body.push(output.value.clone());
                found.depends_on = output.depends_on.clone();
            }
            NodeKey::Resource(..) => {
                let resource = &module.resources[node.position];
                found.body = resource.body.attributes_deep();
                found.repetition = resource.for_each.clone().or_else(|| resource.count.clone());
                found.repetition_kind = if resource.for_each.is_some() {
                    Some("for_each")
                } else if resource.count.is_some() {
                    Some("count")
                } else {
                    None
                };
                found.depends_on = resource.depends_on.clone();
            }
            NodeKey::Cluster(_) => {
                found.body = module.clusters[node.position].body.attributes_deep();
            }
            NodeKey::Provider(_) => {
                found.body = module.providers[node.position].body.attributes_deep();
            }
            NodeKey::Assert(_) => {
                let assertion = &module.asserts[node.position];
                found.body = assertion.body.attributes_deep();
                found.depends_on = assertion.depends_on.clone();
            }
            NodeKey::ModuleCall(_) => {
                let call = &module.module_calls[node.position];
                found.body = call
                    .inputs
                    .iter()
                    .map(|(_, _, expr)| expr.clone())
                    .collect();
                found.depends_on = call.depends_on.clone();
            }
        }
        found
    }

    /// The nodes a reference points at, or a diagnostic when it names nothing.
    fn targets(
        &self,
        slot: usize,
        reference: &Reference,
        repetition: Option<&str>,
    ) -> Result<Vec<NodeIndex>, Diagnostic> {
        let module = self.slots[slot].module;
        let at = |message: String| Diagnostic::error(message).at(reference.span.clone());
        let find = |key: NodeKey| self.index.get(&(slot, key)).copied();
        let single =
            |key: NodeKey, what: &str, names: Vec<&str>| -> Result<Vec<NodeIndex>, Diagnostic> {
                match find(key) {
                    Some(index) => Ok(vec![index]),
                    None => {
                        let wanted = reference.subject.to_string();
                        let last = wanted.rsplit('.').next().unwrap_or(&wanted).to_owned();
                        let diagnostic = at(format!("reference to undeclared {what} \"{wanted}\""));
                        Err(match suggest(&last, names) {
                            Some(suggestion) => {
                                diagnostic.with_hint(format!("did you mean \"{suggestion}\"?"))
                            }
                            None => diagnostic,
                        })
                    }
                }
            };
        match &reference.subject {
            Subject::Variable(name) => single(
                NodeKey::Variable(name.clone()),
                "input variable",
                module.variables.iter().map(|v| v.name.as_str()).collect(),
            )
            .map_err(|d| {
                if d.hint.is_none() {
                    d.with_hint(format!("declare it with a variable \"{name}\" {{ }} block"))
                } else {
                    d
                }
            }),
            Subject::Local(name) => single(
                NodeKey::Local(name.clone()),
                "local value",
                module.locals.iter().map(|l| l.name.as_str()).collect(),
            ),
            Subject::Cluster(name) => single(
                NodeKey::Cluster(name.clone()),
                "cluster",
                module.clusters.iter().map(|c| c.name.as_str()).collect(),
            ),
            Subject::Assert(name) => single(
                NodeKey::Assert(name.clone()),
                "assertion",
                module.asserts.iter().map(|a| a.name.as_str()).collect(),
            ),
            Subject::Resource {
                mode,
                type_name,
                name,
            } => single(
                NodeKey::Resource(*mode, type_name.clone(), name.clone()),
                if *mode == Mode::Data {
                    "data source"
                } else {
                    "resource"
                },
                module
                    .resources
                    .iter()
                    .filter(|r| r.mode == *mode && &r.type_name == type_name)
                    .map(|r| r.name.as_str())
                    .collect(),
            ),
            Subject::Module { name, output } => {
                let Some(&child) = self.slots[slot].children.get(name) else {
                    let known = module.module_calls.iter().any(|c| &c.name == name);
                    if known {
                        // The module failed to load; its own diagnostic says why.
                        return Ok(Vec::new());
                    }
                    let diagnostic =
                        at(format!("reference to undeclared module \"module.{name}\""));
                    return Err(
                        match suggest(name, module.module_calls.iter().map(|c| c.name.as_str())) {
                            Some(suggestion) => {
                                diagnostic.with_hint(format!("did you mean \"{suggestion}\"?"))
                            }
                            None => diagnostic,
                        },
                    );
                };
                let child_module = self.slots[child].module;
                match output {
                    Some(output) => match self.index.get(&(child, NodeKey::Output(output.clone())))
                    {
                        Some(index) => Ok(vec![*index]),
                        None => {
                            let diagnostic =
                                at(format!("module \"{name}\" has no output \"{output}\""));
                            Err(
                                match suggest(
                                    output,
                                    child_module.outputs.iter().map(|o| o.name.as_str()),
                                ) {
                                    Some(suggestion) => diagnostic
                                        .with_hint(format!("did you mean \"{suggestion}\"?")),
                                    None => diagnostic.with_hint(format!(
                                        "its outputs are: {}",
                                        child_module
                                            .outputs
                                            .iter()
                                            .map(|o| o.name.as_str())
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    )),
                                },
                            )
                        }
                    },
                    None => Ok(child_module
                        .outputs
                        .iter()
                        .filter_map(|o| {
                            self.index
                                .get(&(child, NodeKey::Output(o.name.clone())))
                                .copied()
                        })
                        .collect()),
                }
            }
            Subject::Each if repetition == Some("for_each") => Ok(Vec::new()),
            Subject::Count if repetition == Some("count") => Ok(Vec::new()),
            Subject::Each => Err(at(
                "\"each\" can only be used in a block that sets for_each".to_owned()
            )
            .with_hint(if repetition == Some("count") {
                "this block sets count: use count.index"
            } else {
                "each.key and each.value exist in resource and data blocks that set for_each"
            })),
            Subject::Count => Err(at(
                "\"count.index\" can only be used in a block that sets count".to_owned(),
            )
            .with_hint(if repetition == Some("for_each") {
                "this block sets for_each: use each.key or each.value"
            } else {
                "count.index exists in resource and data blocks that set count"
            })),
            Subject::Path => Ok(Vec::new()),
            Subject::Invalid(reason) => Err(at(reason.clone())),
        }
    }

    fn add_edges(&mut self) {
        let nodes: Vec<(NodeIndex, Node)> = self
            .graph
            .node_indices()
            .map(|index| (index, self.graph[index].clone()))
            .collect();
        for (index, node) in nodes {
            let expressions = self.expressions_of(&node);
            let mut edges = BTreeSet::new();
            let body_references = expressions
                .body
                .iter()
                .flat_map(references)
                .map(|reference| (reference, expressions.repetition_kind));
            // The count/for_each expression itself cannot use each or count.
            let repetition_references = expressions
                .repetition
                .iter()
                .flat_map(references)
                .map(|reference| (reference, None));
            for (reference, allowed) in body_references.chain(repetition_references) {
                // Body references of a repeated block are allowed its kind; only references in
                // the count/for_each expression itself come with none.
                if allowed.is_none()
                    && matches!(reference.subject, Subject::Each | Subject::Count)
                    && let Some(kind) = expressions.repetition_kind
                {
                    self.diagnostics.push(
                        Diagnostic::error(format!(
                            "\"{}\" cannot be used in {kind} itself",
                            reference.span.text()
                        ))
                        .at(reference.span.clone())
                        .with_hint(format!(
                            "the instances must be known before any of them exists: {kind} can use variables, locals and other objects"
                        )),
                    );
                    continue;
                }
                match self.targets(node.slot, &reference, allowed) {
                    Ok(targets) => edges.extend(targets),
                    Err(diagnostic) => self.diagnostics.push(diagnostic),
                }
            }
            let depends_on = expressions.depends_on;
            for item in &depends_on {
                match depends_on_subject(item) {
                    Ok(reference) => match &reference.subject {
                        Subject::Variable(_)
                        | Subject::Local(_)
                        | Subject::Each
                        | Subject::Count
                        | Subject::Path => {
                            self.diagnostics.push(
                                Diagnostic::error("depends_on lists resources, data sources, modules, clusters or assertions, not values")
                                    .at(reference.span.clone()),
                            );
                        }
                        _ => match self.targets(node.slot, &reference, None) {
                            Ok(targets) => edges.extend(targets),
                            Err(diagnostic) => self.diagnostics.push(diagnostic),
                        },
                    },
                    Err(message) => self
                        .diagnostics
                        .push(Diagnostic::error(message).at(item.span())),
                }
            }
            // Objects of a provider's types wait for its settings.
            if let NodeKey::Resource(_, type_name, _) = &node.key {
                for provider in &self.slots[0].module.providers {
                    if type_name.starts_with(&format!("{}_", provider.name))
                        && let Some(provider_index) = self
                            .index
                            .get(&(0, NodeKey::Provider(provider.name.clone())))
                    {
                        edges.insert(*provider_index);
                    }
                }
            }
            // A module's variables are set by its call.
            if let NodeKey::Variable(_) = node.key
                && let Some((parent, call)) = &self.slots[node.slot].parent
                && let Some(call_index) = self
                    .index
                    .get(&(*parent, NodeKey::ModuleCall(call.clone())))
            {
                edges.insert(*call_index);
            }
            let labels: BTreeSet<String> = edges
                .iter()
                .map(|target| {
                    let target = &self.graph[*target];
                    node_label(&self.slots[target.slot].path, &target.key)
                })
                .collect();
            self.node_dependencies.insert(index, labels);
            for target in edges {
                self.graph.add_edge(target, index, ());
            }
        }
    }

    fn run(&mut self, inputs: &Inputs) {
        if self.slots.is_empty() {
            return;
        }
        // Undeclared root variables given values are mistakes worth reporting.
        let root_module = self.slots[0].module;
        for (name, input) in inputs {
            if !root_module.variables.iter().any(|v| &v.name == name)
                && input.origin != "environment"
                && !input.origin.starts_with("environment variable")
            {
                let diagnostic = Diagnostic::error(format!(
                    "a value was given for undeclared variable \"{name}\" ({})",
                    input.origin
                ))
                .at_opt(input.span.clone());
                let diagnostic =
                    match suggest(name, root_module.variables.iter().map(|v| v.name.as_str())) {
                        Some(suggestion) => {
                            diagnostic.with_hint(format!("did you mean \"{suggestion}\"?"))
                        }
                        None => diagnostic
                            .with_hint("declare it with a variable block, or remove the value"),
                    };
                self.diagnostics.push(diagnostic);
            }
        }
        // Tarjan's algorithm yields strongly connected components in reverse topological
        // order: reversing gives an evaluation order and finds every cycle in one pass.
        let mut components = petgraph::algo::tarjan_scc(&self.graph);
        components.reverse();
        for component in components {
            let cyclic =
                component.len() > 1 || self.graph.contains_edge(component[0], component[0]);
            if cyclic {
                self.report_cycle(&component);
                for index in component {
                    self.set_unknown(index);
                }
                continue;
            }
            self.resolve_dependencies(component[0]);
            self.evaluate_node(component[0], inputs);
        }
        self.evaluate_imports();
    }

    /// `import { to = ADDRESS, id = "..." }`: the address must name a managed resource that
    /// is declared (with an instance key exactly when it uses count or for_each), and the id
    /// must be a string. Only the root module may import.
    fn evaluate_imports(&mut self) {
        let mut seen: BTreeMap<ResourceAddress, Span> = BTreeMap::new();
        for slot in 0..self.slots.len() {
            let module = self.slots[slot].module;
            for import in &module.imports {
                if slot != 0 {
                    self.diagnostics.push(
                        Diagnostic::error("import blocks are only allowed in the root module")
                            .at(import.span.clone())
                            .with_hint("move it to the root module and address the resource through the module: to = module.NAME.TYPE.NAME"),
                    );
                    continue;
                }
                let Some(address) = self.import_address(&import.to) else {
                    continue;
                };
                if let Some(first) = seen.get(&address) {
                    let position = first.start_position();
                    self.diagnostics.push(
                        Diagnostic::error(format!("{address} is imported twice"))
                            .at(import.to.span())
                            .with_hint(format!(
                                "the first import block is at {}:{}:{}",
                                first.file.path.display(),
                                position.line,
                                position.column
                            )),
                    );
                    continue;
                }
                seen.insert(address.clone(), import.to.span());
                let id = self.eval(0, &import.id, &Repetition::None);
                if !matches!(id.peel(), Value::String(_) | Value::Unknown) {
                    self.diagnostics.push(
                        Diagnostic::error(format!(
                            "an import id must be a string, got {}",
                            id.type_name()
                        ))
                        .at(import.id.span()),
                    );
                    continue;
                }
                self.configuration.imports.push(ImportSpec {
                    to: address,
                    id,
                    span: import.span.clone(),
                });
            }
        }
    }

    /// Reads and checks the `to` of an import block: `TYPE.NAME`, `TYPE.NAME[KEY]`, optionally
    /// behind `module.NAME.` prefixes.
    fn import_address(&mut self, to: &Expr) -> Option<ResourceAddress> {
        use hcl_edit::expr::{Expression, TraversalOperator};
        let invalid = |this: &mut Self, message: &str| {
            this.diagnostics.push(
                Diagnostic::error(message.to_owned())
                    .at(to.span())
                    .with_hint("write the address of a resource block, e.g. to = cutover_data.marker or to = cutover_data.topic[\"orders\"]"),
            );
            None
        };
        let (root, operators): (&str, Vec<&TraversalOperator>) = match &to.expression {
            Expression::Traversal(traversal) => match &traversal.expr {
                Expression::Variable(root) => (
                    root.as_str(),
                    traversal.operators.iter().map(|op| op.value()).collect(),
                ),
                _ => return invalid(self, "the import target is not a resource address"),
            },
            _ => return invalid(self, "the import target is not a resource address"),
        };
        let mut names: Vec<String> = vec![root.to_owned()];
        let mut key = None;
        for (position, operator) in operators.iter().enumerate() {
            match operator {
                TraversalOperator::GetAttr(name) if key.is_none() => {
                    names.push(name.as_str().to_owned());
                }
                TraversalOperator::Index(index) if position + 1 == operators.len() => {
                    key = match index {
                        Expression::String(text) => {
                            Some(InstanceKey::String(text.as_str().to_owned()))
                        }
                        Expression::Number(number) => match number.value().as_i64() {
                            Some(int) if int >= 0 => Some(InstanceKey::Int(int)),
                            _ => return invalid(self, "an instance index must be a whole number"),
                        },
                        _ => {
                            return invalid(
                                self,
                                "an instance key in an import address must be a literal string or number",
                            );
                        }
                    };
                }
                TraversalOperator::LegacyIndex(index) if position + 1 == operators.len() => {
                    key = Some(InstanceKey::Int(
                        i64::try_from(*index.value()).unwrap_or(i64::MAX),
                    ));
                }
                _ => return invalid(self, "the import target is not a resource address"),
            }
        }
        // module.a.module.b.TYPE.NAME
        let mut slot = 0;
        let mut module_path = Vec::new();
        let mut rest = names.as_slice();
        while let [first, name, tail @ ..] = rest
            && first == "module"
        {
            let Some(&child) = self.slots[slot].children.get(name) else {
                if self.slots[slot]
                    .module
                    .module_calls
                    .iter()
                    .any(|call| &call.name == name)
                {
                    return None; // the module failed to load; its diagnostic says why
                }
                self.diagnostics.push(
                    Diagnostic::error(format!(
                        "the import target names undeclared module \"{name}\""
                    ))
                    .at(to.span()),
                );
                return None;
            };
            module_path.push(name.clone());
            slot = child;
            rest = tail;
        }
        let [type_name, name] = rest else {
            if rest.first().is_some_and(|first| first == "data") {
                return invalid(
                    self,
                    "data sources cannot be imported: they are read, not managed",
                );
            }
            return invalid(self, "the import target is not a resource address");
        };
        let module = self.slots[slot].module;
        let Some(resource) = module
            .resources
            .iter()
            .find(|r| r.mode == Mode::Managed && &r.type_name == type_name && &r.name == name)
        else {
            let prefix: String = module_path.iter().map(|m| format!("module.{m}.")).collect();
            let names: Vec<&str> = module
                .resources
                .iter()
                .filter(|r| r.mode == Mode::Managed && &r.type_name == type_name)
                .map(|r| r.name.as_str())
                .collect();
            let diagnostic = Diagnostic::error(format!(
                "the import target {prefix}{type_name}.{name} is not declared"
            ))
            .at(to.span());
            self.diagnostics.push(match suggest(name, names) {
                Some(suggestion) => diagnostic.with_hint(format!("did you mean \"{suggestion}\"?")),
                None => diagnostic.with_hint(format!(
                    "add a resource \"{type_name}\" \"{name}\" block for the imported object to be managed by"
                )),
            });
            return None;
        };
        let address = ResourceAddress {
            module: module_path,
            mode: Mode::Managed,
            type_name: type_name.clone(),
            name: name.clone(),
            key: key.clone(),
        };
        let expected = if resource.for_each.is_some() {
            "a string key, e.g. [\"orders\"], because it sets for_each"
        } else if resource.count.is_some() {
            "a number index, e.g. [0], because it sets count"
        } else {
            "no instance key, because it sets neither count nor for_each"
        };
        let matches = matches!(
            (&key, resource.for_each.is_some(), resource.count.is_some()),
            (Some(InstanceKey::String(_)), true, _)
                | (Some(InstanceKey::Int(_)), false, true)
                | (None, false, false)
        );
        if !matches {
            self.diagnostics.push(
                Diagnostic::error(format!("the import target {address} needs {expected}"))
                    .at(to.span()),
            );
            return None;
        }
        // When the instances are known, the key must be one of them.
        let instances: Vec<&ResourceAddress> = self
            .configuration
            .resources
            .iter()
            .map(|instance| &instance.address)
            .filter(|a| {
                a.module == address.module
                    && a.mode == Mode::Managed
                    && a.type_name == address.type_name
                    && a.name == address.name
            })
            .collect();
        if key.is_some() && !instances.is_empty() && !instances.contains(&&address) {
            self.diagnostics.push(
                Diagnostic::error(format!(
                    "the import target {address} is not an instance of the resource"
                ))
                .at(to.span())
                .with_hint(format!(
                    "its instances are: {}",
                    instances
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            return None;
        }
        Some(address)
    }

    /// An object that reads itself: pointed at the reference, not at the declaration.
    fn report_self_reference(&mut self, index: NodeIndex) {
        let node = self.graph[index].clone();
        let label = node_label(&self.slots[node.slot].path, &node.key);
        let expressions = self.expressions_of(&node);
        let reference = expressions
            .body
            .iter()
            .chain(expressions.repetition.iter())
            .chain(expressions.depends_on.iter())
            .flat_map(references)
            .find(|reference| {
                self.targets(node.slot, reference, expressions.repetition_kind)
                    .is_ok_and(|targets| targets.contains(&index))
            });
        let hint = match node.key {
            NodeKey::Resource(..) | NodeKey::Cluster(_) | NodeKey::Assert(_) => {
                "a block cannot read its own attributes; compute the value in a local, or read it from another object"
            }
            _ => "a value cannot be computed from itself",
        };
        self.diagnostics.push(
            Diagnostic::error(format!("{label} refers to itself"))
                .at(reference.map_or(node.span.clone(), |reference| reference.span))
                .with_hint(hint),
        );
    }

    /// Replaces a node's direct dependency labels by the objects that matter for ordering
    /// operations: resources, data sources, clusters and assertions, seen through variables,
    /// locals, outputs and module calls (a resource that reads `local.x`, which reads
    /// `cutover_data.a`, depends on `cutover_data.a`). Called in topological order.
    fn resolve_dependencies(&mut self, index: NodeIndex) {
        let mut resolved = BTreeSet::new();
        let predecessors: Vec<NodeIndex> = self
            .graph
            .neighbors_directed(index, petgraph::Direction::Incoming)
            .collect();
        for predecessor in predecessors {
            let node = &self.graph[predecessor];
            match node.key {
                NodeKey::Resource(..) | NodeKey::Assert(_) => {
                    resolved.insert(node_label(&self.slots[node.slot].path, &node.key));
                }
                // A cluster waits on what its settings read (an MSK cluster's bootstrap
                // brokers): so does everything that connects through it.
                NodeKey::Cluster(_) => {
                    resolved.insert(node_label(&self.slots[node.slot].path, &node.key));
                    if let Some(inherited) = self.node_dependencies.get(&predecessor) {
                        resolved.extend(inherited.iter().cloned());
                    }
                }
                _ => {
                    if let Some(inherited) = self.node_dependencies.get(&predecessor) {
                        resolved.extend(inherited.iter().cloned());
                    }
                }
            }
        }
        self.node_dependencies.insert(index, resolved);
    }

    fn report_cycle(&mut self, component: &[NodeIndex]) {
        if let [only] = component {
            return self.report_self_reference(*only);
        }
        // Walk the cycle in edge order from its first node for a readable path.
        let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
        let start = *component
            .iter()
            .min_by_key(|index| {
                let node = &self.graph[**index];
                (node.span.file.path.clone(), node.span.start)
            })
            .expect("non-empty component");
        let mut order = vec![start];
        let mut current = start;
        while order.len() < component.len() {
            let next = self
                .graph
                .neighbors(current)
                .filter(|n| members.contains(n) && !order.contains(n))
                .min();
            match next {
                Some(next) => {
                    order.push(next);
                    current = next;
                }
                None => break,
            }
        }
        for index in component {
            if !order.contains(index) {
                order.push(*index);
            }
        }
        let label = |index: &NodeIndex| {
            let node = &self.graph[*index];
            node_label(&self.slots[node.slot].path, &node.key)
        };
        let names: Vec<String> = order.iter().map(label).collect();
        let mut path = names.clone();
        path.push(names[0].clone());
        let locations: Vec<String> = order
            .iter()
            .map(|index| {
                let node = &self.graph[*index];
                let position = node.span.start_position();
                format!(
                    "{} at {}:{}:{}",
                    label(index),
                    node.span.file.path.display(),
                    position.line,
                    position.column
                )
            })
            .collect();
        self.diagnostics.push(
            Diagnostic::error(format!("dependency cycle: {}", path.join(" → ")))
                .at(self.graph[start].span.clone())
                .with_hint(format!(
                    "the objects on the cycle are {}",
                    locations.join("; ")
                )),
        );
    }

    fn set_unknown(&mut self, index: NodeIndex) {
        let node = self.graph[index].clone();
        let namespaces = &mut self.slots[node.slot].namespaces;
        match &node.key {
            NodeKey::Variable(name) => {
                namespaces.variables.insert(name.clone(), Value::Unknown);
            }
            NodeKey::Local(name) => {
                namespaces.locals.insert(name.clone(), Value::Unknown);
            }
            NodeKey::Cluster(name) => {
                namespaces.clusters.insert(name.clone(), Value::Unknown);
            }
            NodeKey::Assert(name) => {
                namespaces.asserts.insert(name.clone(), Value::Unknown);
            }
            NodeKey::Resource(mode, type_name, name) => {
                let map = if *mode == Mode::Data {
                    &mut namespaces.data
                } else {
                    &mut namespaces.resources
                };
                map.entry(type_name.clone())
                    .or_default()
                    .insert(name.clone(), Value::Unknown);
            }
            NodeKey::Output(name) => {
                self.set_output(
                    node.slot,
                    name,
                    OutputValue {
                        value: Value::Unknown,
                        sensitive: false,
                        description: None,
                    },
                );
            }
            NodeKey::ModuleCall(_) | NodeKey::Provider(_) => {}
        }
    }

    fn set_output(&mut self, slot: usize, name: &str, output: OutputValue) {
        let value = output.value.clone().marked(output.sensitive);
        self.slots[slot].outputs.insert(name.to_owned(), output);
        if let Some((parent, call)) = self.slots[slot].parent.clone() {
            let modules = &mut self.slots[parent].namespaces.modules;
            let entry = modules
                .entry(call)
                .or_insert_with(|| Value::Map(BTreeMap::new()));
            if let Value::Map(map) = entry {
                map.insert(name.to_owned(), value);
            }
        }
    }

    fn evaluate_node(&mut self, index: NodeIndex, inputs: &Inputs) {
        let node = self.graph[index].clone();
        let slot = node.slot;
        let module = self.slots[slot].module;
        let dependencies = self
            .node_dependencies
            .get(&index)
            .cloned()
            .unwrap_or_default();
        match &node.key {
            NodeKey::Variable(name) => {
                let variable = &module.variables[node.position];
                let value = self.variable_value(slot, variable, inputs);
                self.slots[slot]
                    .namespaces
                    .variables
                    .insert(name.clone(), value);
            }
            NodeKey::Local(name) => {
                let local = &module.locals[node.position];
                let value = self.eval(slot, &local.value, &Repetition::None);
                self.slots[slot]
                    .namespaces
                    .locals
                    .insert(name.clone(), value);
            }
            NodeKey::Output(name) => {
                let output = &module.outputs[node.position];
                let value = self.eval(slot, &output.value, &Repetition::None);
                if value.contains_sensitive() && !output.sensitive {
                    self.diagnostics.push(
                        Diagnostic::error(format!("output \"{name}\" refers to sensitive values"))
                            .at(output.value.span())
                            .with_hint("add sensitive = true to the output block to show it as (sensitive value)"),
                    );
                }
                self.set_output(
                    slot,
                    name,
                    OutputValue {
                        value,
                        sensitive: output.sensitive,
                        description: output.description.clone(),
                    },
                );
            }
            NodeKey::Resource(mode, type_name, name) => {
                let resource = &module.resources[node.position];
                let value = self.evaluate_resource(slot, resource, dependencies);
                let namespaces = &mut self.slots[slot].namespaces;
                let map = if *mode == Mode::Data {
                    &mut namespaces.data
                } else {
                    &mut namespaces.resources
                };
                map.entry(type_name.clone())
                    .or_default()
                    .insert(name.clone(), value);
            }
            NodeKey::Provider(_) => {
                let provider = &module.providers[node.position];
                self.evaluate_provider(slot, provider);
            }
            NodeKey::Cluster(name) => {
                let cluster = &module.clusters[node.position];
                let scope_namespaces = std::mem::take(&mut self.slots[slot].namespaces);
                let scope = Scope {
                    base_dir: &self.slots[0].module.dir,
                    namespaces: &scope_namespaces,
                    repetition: &Repetition::None,
                };
                let mut diagnostics = Diagnostics::new();
                let mut value = decode_body(
                    &cluster.body.body,
                    &cluster.body.file,
                    self.schemas.cluster_schema(),
                    &scope,
                    &format!("cluster \"{name}\""),
                    &cluster.span,
                    &mut diagnostics,
                );
                self.slots[slot].namespaces = scope_namespaces;
                self.diagnostics.extend(diagnostics);
                if let Value::Map(map) = &mut value {
                    map.insert("name".to_owned(), Value::String(name.clone()));
                    map.insert(
                        "address".to_owned(),
                        Value::String(NamedObject::address_of(
                            &self.slots[slot].path,
                            "cluster",
                            name,
                        )),
                    );
                }
                self.hook.cluster_value(
                    &NamedObject::address_of(&self.slots[slot].path, "cluster", name),
                    &value,
                );
                self.slots[slot]
                    .namespaces
                    .clusters
                    .insert(name.clone(), value.clone());
                self.configuration.clusters.push(NamedObject {
                    module: self.slots[slot].path.clone(),
                    name: name.clone(),
                    value,
                    span: cluster.span.clone(),
                    dependencies,
                });
            }
            NodeKey::Assert(name) => {
                let assertion = &module.asserts[node.position];
                let value = self.evaluate_assert(slot, assertion);
                self.slots[slot]
                    .namespaces
                    .asserts
                    .insert(name.clone(), value.clone());
                self.configuration.asserts.push(NamedObject {
                    module: self.slots[slot].path.clone(),
                    name: name.clone(),
                    value,
                    span: assertion.span.clone(),
                    dependencies,
                });
            }
            NodeKey::ModuleCall(name) => {
                let call = &module.module_calls[node.position];
                let child = self.slots[slot].children[name];
                let child_module = self.slots[child].module;
                for (input, span, expr) in &call.inputs {
                    if !child_module.variables.iter().any(|v| &v.name == input) {
                        let diagnostic = Diagnostic::error(format!(
                            "module \"{name}\" has no variable named \"{input}\""
                        ))
                        .at(span.clone());
                        let declared: Vec<&str> = child_module
                            .variables
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect();
                        let diagnostic = match suggest(input, declared.iter().copied()) {
                            Some(suggestion) => {
                                self.slots[child]
                                    .suggested_inputs
                                    .insert(suggestion.to_owned());
                                diagnostic.with_hint(format!("did you mean \"{suggestion}\"?"))
                            }
                            None if declared.is_empty() => {
                                diagnostic.with_hint("the module declares no variables")
                            }
                            None => diagnostic.with_hint(format!(
                                "the module's variables are: {}",
                                declared.join(", ")
                            )),
                        };
                        self.diagnostics.push(diagnostic);
                        continue;
                    }
                    let value = self.eval(slot, expr, &Repetition::None);
                    self.slots[child]
                        .call_inputs
                        .insert(input.clone(), (value, expr.span()));
                }
            }
        }
    }

    fn eval(&mut self, slot: usize, expr: &Expr, repetition: &Repetition) -> Value {
        let scope = Scope {
            base_dir: &self.slots[0].module.dir,
            namespaces: &self.slots[slot].namespaces,
            repetition,
        };
        match evaluate(expr, &scope) {
            Ok(value) => value,
            Err(diagnostic) => {
                self.diagnostics.push(*diagnostic);
                Value::Unknown
            }
        }
    }

    fn variable_value(
        &mut self,
        slot: usize,
        variable: &super::model::Variable,
        inputs: &Inputs,
    ) -> Value {
        let ty = variable.ty.clone().unwrap_or(Type::Any);
        let is_root = self.slots[slot].parent.is_none();
        let call_span = self.slots[slot].parent.as_ref().and_then(|(parent, call)| {
            self.slots[*parent]
                .module
                .module_calls
                .iter()
                .find(|c| &c.name == call)
                .map(|c| c.span.clone())
        });
        let empty = Namespaces::default();
        let constant_scope = Scope {
            base_dir: &self.slots[0].module.dir,
            namespaces: &empty,
            repetition: &Repetition::None,
        };
        // (value, where it came from for messages, span to point at)
        let given: Option<(Value, String, Option<Span>)> = if is_root {
            inputs.get(&variable.name).map(|input| {
                let value = match &input.value {
                    RawValue::Text(text) if variable.ty.as_ref().is_none_or(Type::is_string) => {
                        Value::String(text.clone())
                    }
                    RawValue::Text(text) => parse_text_value(text, &constant_scope),
                    RawValue::Value(value) => value.clone(),
                    RawValue::Expression(expr) => match evaluate(expr, &constant_scope) {
                        Ok(value) => value,
                        Err(diagnostic) => {
                            self.diagnostics.push(
                                (*diagnostic).with_hint("values in var files must be constants: no references to other objects"),
                            );
                            Value::Unknown
                        }
                    },
                };
                (value, input.origin.clone(), input.span.clone())
            })
        } else {
            self.slots[slot]
                .call_inputs
                .get(&variable.name)
                .map(|(value, span)| {
                    (
                        value.clone(),
                        "the module call".to_owned(),
                        Some(span.clone()),
                    )
                })
        };
        let (value, origin, span) = match given {
            Some(given) => given,
            None => match &variable.default {
                Some(default) => match evaluate(default, &constant_scope) {
                    Ok(value) => (value, "its default".to_owned(), Some(default.span())),
                    Err(diagnostic) => {
                        self.diagnostics.push((*diagnostic).with_hint(
                            "a variable default must be a constant: no references to other objects",
                        ));
                        (
                            Value::Unknown,
                            "its default".to_owned(),
                            Some(default.span()),
                        )
                    }
                },
                None => {
                    let misspelled = self.slots[slot].suggested_inputs.contains(&variable.name);
                    if (self.mode == EvalMode::Plan || !is_root) && !misspelled {
                        let diagnostic = Diagnostic::error(format!(
                            "no value for required variable \"{}\"",
                            variable.name
                        ));
                        self.diagnostics.push(if is_root {
                            diagnostic.at(variable.span.clone()).with_hint(format!(
                                "set it with -var {}=..., in cutover.vars.hcl, or with the environment variable CUTOVER_VAR_{}",
                                variable.name, variable.name
                            ))
                        } else {
                            diagnostic
                                .at_opt(call_span.clone())
                                .with_hint(format!("add {} = ... to the module block", variable.name))
                        });
                    }
                    return Value::Unknown.marked(variable.sensitive);
                }
            },
        };
        // A sensitive value written in a file (a default, a var file line) is never shown in a
        // snippet: diagnostics about it point at the variable's name instead.
        let span = if variable.sensitive && is_root {
            None
        } else {
            span
        };
        let text_input = is_root
            && inputs
                .get(&variable.name)
                .is_some_and(|input| matches!(input.value, RawValue::Text(_)));
        let value = match ty.convert(value.marked(variable.sensitive)) {
            Ok(value) => value,
            Err(message) => {
                let hint = if text_input {
                    format!(
                        "the variable's type is {ty}; give it as HCL, e.g. -var '{}={}'",
                        variable.name,
                        example_value(&ty)
                    )
                } else {
                    format!("the variable's type is {ty}")
                };
                self.diagnostics.push(
                    Diagnostic::error(format!(
                        "invalid value for variable \"{}\" from {origin}: {message}",
                        variable.name
                    ))
                    .at_opt(span.clone().or_else(|| Some(variable.span.clone())))
                    .with_hint(hint),
                );
                return Value::Unknown.marked(variable.sensitive);
            }
        };
        if value.is_null() && !variable.nullable {
            self.diagnostics.push(
                Diagnostic::error(format!("variable \"{}\" cannot be null", variable.name))
                    .at_opt(span.clone().or_else(|| Some(variable.span.clone()))),
            );
        }
        let value = value.marked(variable.sensitive);
        // Validation conditions see only this variable.
        let mut own = Namespaces::default();
        own.variables.insert(variable.name.clone(), value.clone());
        let scope = Scope {
            base_dir: &self.slots[0].module.dir,
            namespaces: &own,
            repetition: &Repetition::None,
        };
        for validation in &variable.validations {
            match evaluate(&validation.condition, &scope) {
                Ok(condition) => match condition.peel() {
                    Value::Bool(true) | Value::Unknown => {}
                    Value::Bool(false) => {
                        let message = match evaluate(&validation.error_message, &scope) {
                            Ok(message) if message.contains_sensitive() => {
                                "(the message refers to a sensitive value)".to_owned()
                            }
                            Ok(message) => message
                                .as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| message.to_string()),
                            Err(diagnostic) => {
                                self.diagnostics.push(*diagnostic);
                                continue;
                            }
                        };
                        let shown = if variable.sensitive {
                            "(sensitive value)".to_owned()
                        } else {
                            value.to_string()
                        };
                        self.diagnostics.push(
                            Diagnostic::error(format!(
                                "invalid value for variable \"{}\": {message}",
                                variable.name
                            ))
                            .at_opt(span.clone().or_else(|| {
                                Some(if variable.sensitive {
                                    variable.span.clone()
                                } else {
                                    validation.condition.span()
                                })
                            }))
                            .with_hint(format!(
                                "the value {shown} from {origin} fails the validation condition `{}`",
                                validation.condition.span().text()
                            )),
                        );
                    }
                    other => self.diagnostics.push(
                        Diagnostic::error(format!(
                            "a validation condition must be a bool, got {}",
                            other.type_name()
                        ))
                        .at(validation.condition.span()),
                    ),
                },
                Err(diagnostic) => self.diagnostics.push(*diagnostic),
            }
        }
        value
    }

    /// Expands `count`/`for_each` and evaluates each instance's body; returns the value other
    /// objects see (an object, a list for `count`, a map for `for_each`).
    fn evaluate_resource(
        &mut self,
        slot: usize,
        resource: &super::model::Resource,
        dependencies: BTreeSet<String>,
    ) -> Value {
        let kind = match resource.mode {
            Mode::Managed => SchemaKind::Resource,
            Mode::Data => SchemaKind::Data,
        };
        let context = match resource.mode {
            Mode::Managed => format!("resource \"{}\" \"{}\"", resource.type_name, resource.name),
            Mode::Data => format!("data \"{}\" \"{}\"", resource.type_name, resource.name),
        };
        let Some(schema) = self.schemas.schema(kind, &resource.type_name) else {
            let what = if resource.mode == Mode::Data {
                "data source type"
            } else {
                "resource type"
            };
            let names = self.schemas.type_names(kind);
            let (other_kind, other_block) = match kind {
                SchemaKind::Resource => (SchemaKind::Data, "data"),
                SchemaKind::Data => (SchemaKind::Resource, "resource"),
            };
            let diagnostic =
                Diagnostic::error(format!("unknown {what} \"{}\"", resource.type_name))
                    .at(resource.type_span.clone());
            let hint = match suggest(&resource.type_name, names.iter().copied()) {
                _ if self
                    .schemas
                    .schema(other_kind, &resource.type_name)
                    .is_some() =>
                {
                    format!(
                        "\"{}\" is a {} type: declare it with a {other_block} block",
                        resource.type_name,
                        if other_kind == SchemaKind::Data {
                            "data source"
                        } else {
                            "resource"
                        }
                    )
                }
                Some(suggestion) => format!("did you mean \"{suggestion}\"?"),
                None if names.is_empty() => format!("cutover has no {what}s yet"),
                None => format!("cutover supports: {}", names.join(", ")),
            };
            self.diagnostics.push(diagnostic.with_hint(hint));
            return Value::Unknown;
        };
        self.check_ignore_changes(resource, schema, &context);
        let repetitions: Option<Vec<(Option<InstanceKey>, Repetition)>> =
            if let Some(for_each) = &resource.for_each {
                self.expand_for_each(slot, for_each)
            } else if let Some(count) = &resource.count {
                self.expand_count(slot, count)
            } else {
                Some(vec![(None, Repetition::None)])
            };
        let Some(repetitions) = repetitions else {
            // Unknown keys in validate mode: check the body once with unknown each/count.
            let repetition = if resource.for_each.is_some() {
                Repetition::Each {
                    key: Value::Unknown,
                    value: Value::Unknown,
                }
            } else {
                Repetition::Count(0)
            };
            let _ = self.instance_value(slot, resource, schema, &context, &repetition);
            return Value::Unknown;
        };
        if let Err(message) = super::budget::charge_instances(repetitions.len() as u64) {
            let at = resource
                .for_each
                .as_ref()
                .or(resource.count.as_ref())
                .map_or_else(|| resource.span.clone(), Expr::span);
            self.diagnostics.push(Diagnostic::error(message).at(at));
            return Value::Unknown;
        }
        let mut list = Vec::new();
        let mut map = BTreeMap::new();
        let mut single = Value::Null;
        for (key, repetition) in repetitions {
            let (config, errors) =
                self.instance_value(slot, resource, schema, &context, &repetition);
            let instance = ResourceInstance {
                address: ResourceAddress {
                    module: self.slots[slot].path.clone(),
                    mode: resource.mode,
                    type_name: resource.type_name.clone(),
                    name: resource.name.clone(),
                    key: key.clone(),
                },
                config,
                span: resource.span.clone(),
                lifecycle: resource.lifecycle.clone(),
                dependencies: dependencies.clone(),
                errors,
            };
            let value = self.hook.instance_value(&instance);
            self.configuration.resources.push(instance);
            match key {
                None => single = value,
                Some(InstanceKey::Int(_)) => list.push(value),
                Some(InstanceKey::String(key)) => {
                    map.insert(key, value);
                }
            }
        }
        if resource.for_each.is_some() {
            Value::Map(map)
        } else if resource.count.is_some() {
            Value::List(list)
        } else {
            single
        }
    }

    fn instance_value(
        &mut self,
        slot: usize,
        resource: &super::model::Resource,
        schema: &super::schema::Schema,
        context: &str,
        repetition: &Repetition,
    ) -> (Value, Vec<String>) {
        let scope = Scope {
            base_dir: &self.slots[0].module.dir,
            namespaces: &self.slots[slot].namespaces,
            repetition,
        };
        let mut diagnostics = Diagnostics::new();
        let value = decode_body(
            &resource.body.body,
            &resource.body.file,
            schema,
            &scope,
            context,
            &resource.span,
            &mut diagnostics,
        );
        let errors = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect();
        self.diagnostics.extend(diagnostics);
        (value, errors)
    }

    /// `ignore_changes` may only name arguments the type has; checked once per block.
    fn check_ignore_changes(
        &mut self,
        resource: &super::model::Resource,
        schema: &super::schema::Schema,
        context: &str,
    ) {
        let lifecycle = &resource.lifecycle;
        for (position, ignored) in lifecycle.ignore_changes.iter().enumerate() {
            if schema.attribute(ignored).is_some() || schema.block(ignored).is_some() {
                continue;
            }
            let span = lifecycle
                .ignore_changes_spans
                .get(position)
                .cloned()
                .unwrap_or_else(|| resource.span.clone());
            let names = schema.settable_names();
            let diagnostic = Diagnostic::error(format!(
                "ignore_changes names \"{ignored}\", which {context} does not have"
            ))
            .at(span);
            self.diagnostics
                .push(match suggest(ignored, names.iter().copied()) {
                    Some(suggestion) => {
                        diagnostic.with_hint(format!("did you mean \"{suggestion}\"?"))
                    }
                    None => {
                        diagnostic.with_hint(format!("its arguments are: {}", names.join(", ")))
                    }
                });
        }
    }

    fn expand_for_each(
        &mut self,
        slot: usize,
        for_each: &Expr,
    ) -> Option<Vec<(Option<InstanceKey>, Repetition)>> {
        let value = self.eval(slot, for_each, &Repetition::None);
        if value.contains_sensitive() {
            self.diagnostics.push(
                Diagnostic::error("for_each cannot use a sensitive value: instance keys are shown in plans and stored in state")
                    .at(for_each.span())
                    .with_hint("iterate over values that are not secret (such as names), or wrap keys known to be safe in nonsensitive(...)"),
            );
            return None;
        }
        let unknown_error = |this: &mut Self| {
            if this.mode == EvalMode::Plan {
                let names: Vec<String> = references(for_each)
                    .iter()
                    .map(|r| r.subject.to_string())
                    .collect();
                this.diagnostics.push(
                    Diagnostic::error(format!(
                        "the for_each keys depend on values known only after apply ({})",
                        if names.is_empty() { "an unknown value".to_owned() } else { names.join(", ") }
                    ))
                    .at(for_each.span())
                    .with_hint("use keys known in configuration, or apply the dependency first with -target"),
                );
            }
            None
        };
        match value {
            Value::Unknown => unknown_error(self),
            Value::Map(map) if map.len() > MAX_INSTANCES_PER_BLOCK => {
                self.diagnostics
                    .push(too_many_instances(map.len(), for_each));
                None
            }
            Value::Set(items) if items.len() > MAX_INSTANCES_PER_BLOCK => {
                self.diagnostics
                    .push(too_many_instances(items.len(), for_each));
                None
            }
            Value::Map(map) => {
                if map.keys().len() != map.len() {
                    return None;
                }
                Some(
                    map.into_iter()
                        .map(|(key, value)| {
                            (
                                Some(InstanceKey::String(key.clone())),
                                Repetition::Each {
                                    key: Value::String(key),
                                    value,
                                },
                            )
                        })
                        .collect(),
                )
            }
            Value::Set(items) => {
                let mut instances = Vec::new();
                for item in items {
                    match item {
                        Value::String(key) => instances.push((
                            Some(InstanceKey::String(key.clone())),
                            Repetition::Each {
                                key: Value::String(key.clone()),
                                value: Value::String(key),
                            },
                        )),
                        Value::Unknown => return unknown_error(self),
                        other => {
                            self.diagnostics.push(
                                Diagnostic::error(format!(
                                    "for_each over a set needs strings, found a {}",
                                    other.type_name()
                                ))
                                .at(for_each.span())
                                .with_hint("instance keys are strings: convert the elements, e.g. toset([for n in ... : tostring(n)])"),
                            );
                            return None;
                        }
                    }
                }
                Some(instances)
            }
            Value::List(_) => {
                self.diagnostics.push(
                    Diagnostic::error("for_each takes a map or a set of strings, not a list")
                        .at(for_each.span())
                        .with_hint("convert it: for_each = toset(...)"),
                );
                None
            }
            Value::Null => {
                self.diagnostics.push(
                    Diagnostic::error("for_each cannot be null")
                        .at(for_each.span())
                        .with_hint("for no instances use an empty map: for_each = {}"),
                );
                None
            }
            Value::Number(number) => {
                self.diagnostics.push(
                    Diagnostic::error("for_each takes a map or a set of strings, got number")
                        .at(for_each.span())
                        .with_hint(format!(
                            "to create {number} numbered instances use count = {number}"
                        )),
                );
                None
            }
            other => {
                self.diagnostics.push(
                    Diagnostic::error(format!(
                        "for_each takes a map or a set of strings, got {}",
                        other.type_name()
                    ))
                    .at(for_each.span()),
                );
                None
            }
        }
    }

    fn expand_count(
        &mut self,
        slot: usize,
        count: &Expr,
    ) -> Option<Vec<(Option<InstanceKey>, Repetition)>> {
        let value = self.eval(slot, count, &Repetition::None);
        if value.is_unknown() {
            if self.mode == EvalMode::Plan {
                let names: Vec<String> = references(count)
                    .iter()
                    .map(|r| r.subject.to_string())
                    .collect();
                self.diagnostics.push(
                    Diagnostic::error(format!(
                        "count depends on values known only after apply ({})",
                        if names.is_empty() {
                            "an unknown value".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ))
                    .at(count.span()),
                );
            }
            return None;
        }
        match value.as_i64() {
            Some(number) if (0..=MAX_INSTANCES_PER_BLOCK as i64).contains(&number) => Some(
                (0..number)
                    .map(|index| (Some(InstanceKey::Int(index)), Repetition::Count(index)))
                    .collect(),
            ),
            Some(number) => {
                self.diagnostics.push(
                    Diagnostic::error(format!("count must be between 0 and 100000, got {number}"))
                        .at(count.span()),
                );
                None
            }
            None => {
                self.diagnostics.push(
                    Diagnostic::error(format!("count must be a whole number, got {}", value))
                        .at(count.span()),
                );
                None
            }
        }
    }

    fn evaluate_assert(&mut self, slot: usize, assertion: &super::model::Assert) -> Value {
        use hcl_edit::Span as _;
        use hcl_edit::structure::{Body, Structure};
        let file = &assertion.body.file;
        let context = format!("assert \"{}\"", assertion.name);
        let scope = Scope {
            base_dir: &self.slots[0].module.dir,
            namespaces: &self.slots[slot].namespaces,
            repetition: &Repetition::None,
        };
        // The block's own arguments, decoded against its schema like any block's (validators
        // and rules between arguments at the attribute); the check blocks are decoded by their
        // checks' schemas. The schema's rules look at both (a check's `stable_for` against the
        // assertion's `timeout`), so they run once all are decoded.
        let schema = self.schemas.assert_schema();
        let arguments_schema = Schema::new(schema.attributes.clone(), Vec::new());
        let mut arguments = Body::new();
        let mut blocks = Vec::new();
        let mut misspelled = Vec::new();
        for structure in assertion.body.body.iter() {
            match structure {
                Structure::Attribute(attribute) => arguments.push(attribute.clone()),
                Structure::Block(block) => blocks.push(block),
            }
        }
        let mut diagnostics = Diagnostics::new();
        let decoded = decode_body(
            &arguments,
            file,
            &arguments_schema,
            &scope,
            &context,
            &assertion.span,
            &mut diagnostics,
        );
        self.diagnostics.extend(diagnostics);
        // What was written, as before: unset arguments stay out of the assertion's value.
        let mut checks: BTreeMap<String, Value> = decoded
            .as_map()
            .map(|map| {
                map.iter()
                    .filter(|(name, _)| arguments.get_attribute(name).is_some())
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(attribute) = arguments.get_attribute("condition") {
            let value = &checks["condition"];
            if !matches!(value.peel(), Value::Bool(_) | Value::Unknown) {
                self.diagnostics.push(
                    Diagnostic::error(format!(
                        "an assertion's condition must be a bool, got {}",
                        value.type_name()
                    ))
                    .at(crate::config::model::span_of(file, attribute.value.span())),
                );
            }
        }
        // `enabled` decides whether the node is planned at all: it must be known now. (A
        // value of the wrong type has its diagnostic from the schema.)
        if let Some(attribute) = arguments.get_attribute("enabled") {
            let expr = Expr {
                expression: attribute.value.clone(),
                file: Arc::clone(file),
            };
            if checks["enabled"].is_unknown()
                && evaluate(&expr, &scope).is_ok_and(|value| value.is_unknown())
            {
                self.diagnostics.push(
                    Diagnostic::error(
                        "an assertion's enabled must be a bool known when planning, got a value known only after apply",
                    )
                    .at(expr.span()),
                );
            }
        }
        let mut spans = super::body::argument_spans(&arguments, file, None);
        for block in blocks {
            let name = block.ident.as_str();
            let Some(check_schema) = self.schemas.assertion_check(name) else {
                let names = self.schemas.assertion_check_names();
                let diagnostic = Diagnostic::error(format!(
                    "unknown check \"{name}\" in assert \"{}\"",
                    assertion.name
                ))
                .at(crate::config::model::span_of(file, block.ident.span()));
                self.diagnostics
                    .push(match suggest(name, names.iter().copied()) {
                        Some(suggestion) => {
                            diagnostic.with_hint(format!("did you mean \"{suggestion}\"?"))
                        }
                        None if names.is_empty() => diagnostic
                            .with_hint("this build supports only condition = <expression> checks"),
                        None => {
                            diagnostic.with_hint(format!("available checks: {}", names.join(", ")))
                        }
                    });
                // Misspelled, not missing: the block counts as a check for the rule below.
                checks.insert(name.to_owned(), Value::Unknown);
                misspelled.push(name.to_owned());
                continue;
            };
            let mut diagnostics = Diagnostics::new();
            let header = crate::config::model::span_of(file, block.ident.span());
            let value = decode_body(
                &block.body,
                file,
                check_schema,
                &scope,
                &format!("the {name} check"),
                &header,
                &mut diagnostics,
            );
            self.diagnostics.extend(diagnostics);
            checks.insert(name.to_owned(), value);
            spans.extend(super::body::argument_spans(&block.body, file, Some(name)));
        }
        // The schema's rules, over the arguments and the check blocks, at the argument at
        // fault; and at least one check: its at_least_one_of rule.
        let mut diagnostics = Diagnostics::new();
        super::body::check_block(
            schema,
            &mut checks,
            &spans,
            &assertion.span,
            &[],
            &mut diagnostics,
        );
        super::body::check_groups(
            schema,
            &checks,
            &context,
            &assertion.span,
            &[],
            &mut diagnostics,
        );
        self.diagnostics.extend(diagnostics);
        for name in misspelled {
            checks.remove(&name);
        }
        checks.insert("name".to_owned(), Value::String(assertion.name.clone()));
        checks.insert("passed".to_owned(), Value::Unknown);
        Value::Map(checks)
    }
}

/// `to` relative to `from`, both as loaded (`examples/x` and `examples/x/modules/a` give
/// `modules/a`; a sibling directory gives `../shared/a`).
fn relative_path(from: &std::path::Path, to: &std::path::Path) -> String {
    use std::path::Component;
    let from: Vec<Component> = from
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    let to: Vec<Component> = to
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> =
        std::iter::repeat_n("..".to_owned(), from.len() - common).collect();
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// Reads `-var`/environment text for a variable that is not a plain string: HCL such as `3`,
/// `true` or `["a", "b"]`. Text that is not a constant HCL value (`abc`, `[orders`) is kept
/// as a string, so the type check says what was expected instead of reporting an HCL error
/// in text the user never wrote as a file (and which may be a secret).
fn parse_text_value(text: &str, scope: &Scope<'_>) -> Value {
    let as_string = || Value::String(text.to_owned());
    let Ok(expression) = text.trim().parse::<hcl_edit::expr::Expression>() else {
        return as_string();
    };
    let file = Arc::new(SourceFile::new(
        std::path::PathBuf::from("<command line>"),
        text.to_owned(),
    ));
    evaluate(&Expr { expression, file }, scope).unwrap_or_else(|_| as_string())
}

/// An example of a value of `ty` as it is written on the command line.
fn example_value(ty: &Type) -> &'static str {
    match ty {
        Type::Number => "3",
        Type::Bool => "true",
        Type::List(_) | Type::Set(_) | Type::Tuple(_) => "[\"a\", \"b\"]",
        Type::Map(_) | Type::Object(_) => "{ key = \"value\" }",
        Type::String | Type::Any => "text",
    }
}

/// Durations as Terraform writes them: `30s`, `5m`, `1h30m`, `250ms`.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let mut total = std::time::Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            _ => return None,
        };
        total += std::time::Duration::from_secs_f64(seconds);
        rest = &rest[unit_len..];
    }
    Some(total)
}

impl super::model::BodyRef {
    /// Every attribute expression in the body and its nested blocks.
    pub fn attributes_deep(&self) -> Vec<Expr> {
        fn walk(body: &hcl_edit::structure::Body, file: &Arc<SourceFile>, out: &mut Vec<Expr>) {
            for structure in body.iter() {
                match structure {
                    hcl_edit::structure::Structure::Attribute(attribute) => out.push(Expr {
                        expression: attribute.value.clone(),
                        file: Arc::clone(file),
                    }),
                    hcl_edit::structure::Structure::Block(block) => walk(&block.body, file, out),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.body, &self.file, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::inputs::RawInput;
    use crate::config::schema::AttributeSchema;

    /// A stand-in for the provider registry: one `cutover_data`-like resource type.
    struct TestSchemas {
        data: Schema,
        cluster: Schema,
        assert: Schema,
    }

    impl TestSchemas {
        fn new() -> Self {
            Self {
                data: Schema::new(
                    vec![
                        AttributeSchema::optional("input", Type::Any),
                        AttributeSchema::computed("id", Type::String),
                    ],
                    Vec::new(),
                ),
                cluster: Schema::new(
                    vec![AttributeSchema::required("bootstrap_servers", Type::Any)],
                    Vec::new(),
                ),
                assert: crate::verify::assert_schema(),
            }
        }
    }

    impl SchemaSource for TestSchemas {
        fn schema(&self, kind: SchemaKind, type_name: &str) -> Option<&Schema> {
            (kind == SchemaKind::Resource && type_name == "cutover_data").then_some(&self.data)
        }
        fn type_names(&self, kind: SchemaKind) -> Vec<&str> {
            match kind {
                SchemaKind::Resource => vec!["cutover_data"],
                SchemaKind::Data => Vec::new(),
            }
        }
        fn cluster_schema(&self) -> &Schema {
            &self.cluster
        }
        fn assertion_check(&self, _: &str) -> Option<&Schema> {
            None
        }
        fn assertion_check_names(&self) -> Vec<&str> {
            Vec::new()
        }
        fn assert_schema(&self) -> &Schema {
            &self.assert
        }
    }

    fn tree(text: &str) -> ModuleTree {
        let file = Arc::new(SourceFile::new(PathBuf::from("main.hcl"), text.to_owned()));
        let body = crate::config::parse::parse_file(&file).expect("parse");
        let (module, decoded) = Module::decode(PathBuf::from("."), vec![(file, body)]);
        assert!(decoded.is_empty(), "{}", decoded.render(None));
        ModuleTree {
            module,
            children: BTreeMap::new(),
        }
    }

    /// Each diagnostic as `message @ underlined text`.
    fn problems_with(text: &str, inputs: &Inputs) -> Vec<String> {
        let (_, diagnostics) =
            evaluate_configuration(&tree(text), inputs, &TestSchemas::new(), EvalMode::Validate);
        diagnostics
            .iter()
            .map(|d| {
                let at = d
                    .span
                    .as_ref()
                    .map_or(String::new(), |s| s.text().to_owned());
                format!("{} @ {at}", d.message)
            })
            .collect()
    }

    fn problems(text: &str) -> Vec<String> {
        problems_with(text, &Inputs::new())
    }

    fn cli_var(name: &str, text: &str) -> Inputs {
        [(
            name.to_owned(),
            RawInput {
                value: RawValue::Text(text.to_owned()),
                origin: "-var".to_owned(),
                span: None,
            },
        )]
        .into()
    }

    #[test]
    fn a_bad_reference_is_reported_once() {
        assert_eq!(
            problems("locals {\n  a = \"x\"\n  b = local.aa\n}\n"),
            vec!["reference to undeclared local value \"local.aa\" @ local.aa"]
        );
        assert_eq!(
            problems("resource \"cutover_data\" \"x\" {\n  input = each.key\n}\n"),
            vec!["\"each\" can only be used in a block that sets for_each @ each.key"]
        );
    }

    #[test]
    fn self_reference_points_at_the_reference() {
        assert_eq!(
            problems("resource \"cutover_data\" \"x\" {\n  input = cutover_data.x.id\n}\n"),
            vec!["cutover_data.x refers to itself @ cutover_data.x"]
        );
    }

    #[test]
    fn count_index_in_count_itself_is_named() {
        assert_eq!(
            problems("resource \"cutover_data\" \"x\" {\n  count = count.index\n}\n"),
            vec!["\"count.index\" cannot be used in count itself @ count.index"]
        );
    }

    #[test]
    fn command_line_text_for_a_number_is_type_checked_not_parsed_as_a_file() {
        let config = "variable \"brokers\" {\n  type = number\n}\n";
        assert_eq!(
            problems_with(config, &cli_var("brokers", "abc")),
            vec![
                "invalid value for variable \"brokers\" from -var: number required, got string \"abc\" @ \"brokers\""
            ]
        );
        assert!(problems_with(config, &cli_var("brokers", "3")).is_empty());
    }

    #[test]
    fn sensitive_defaults_are_never_underlined() {
        let config = "variable \"pin\" {\n  type      = number\n  sensitive = true\n  default   = \"hunter2\"\n}\n";
        let found = problems(config);
        assert_eq!(
            found,
            vec![
                "invalid value for variable \"pin\" from its default: number required, got a sensitive string @ \"pin\""
            ]
        );
    }

    #[test]
    fn imports_name_declared_instances() {
        let config = "resource \"cutover_data\" \"t\" {\n  for_each = toset([\"a\"])\n}\nimport {\n  to = cutover_data.t[\"b\"]\n  id = \"b\"\n}\nimport {\n  to = cutover_data.t[\"a\"]\n  id = \"a\"\n}\n";
        let (configuration, diagnostics) = evaluate_configuration(
            &tree(config),
            &Inputs::new(),
            &TestSchemas::new(),
            EvalMode::Validate,
        );
        let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            vec!["the import target cutover_data.t[\"b\"] is not an instance of the resource"]
        );
        assert_eq!(configuration.imports.len(), 1);
        assert_eq!(
            configuration.imports[0].to.to_string(),
            "cutover_data.t[\"a\"]"
        );
    }

    #[test]
    fn unknown_data_source_type_hint_is_never_empty() {
        assert_eq!(
            problems("data \"cutover_data\" \"x\" {\n}\n"),
            vec!["unknown data source type \"cutover_data\" @ \"cutover_data\""]
        );
        let (_, diagnostics) = evaluate_configuration(
            &tree("data \"kafka_topics\" \"x\" {\n}\n"),
            &Inputs::new(),
            &TestSchemas::new(),
            EvalMode::Validate,
        );
        let hint = diagnostics.iter().next().and_then(|d| d.hint.clone());
        assert_eq!(
            hint.as_deref(),
            Some("cutover has no data source types yet")
        );
    }
}
