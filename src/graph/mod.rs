//! The dependency graph of an evaluated configuration, as a petgraph DAG of resource and data
//! source instances, clusters, assertions, outputs and module boundaries, with edges from
//! references and `depends_on` (seen through locals and variables). Used for `cutover graph`
//! (DOT). Cycles are found earlier, at the object level, by the configuration evaluator, which
//! reports every object on a cycle with its span.
//!
//! Module boundaries: every node sits in the DOT cluster of its module instance, and a
//! dependency never jumps a boundary directly. Going into a module it passes through the
//! module's outputs (`module.m.output.x`), the way references do; coming out of a module it
//! passes through the module's input node (`module.m (input)`), which stands for the module
//! call: every variable of a module is set by its call, so everything inside that reads a
//! variable waits for every object the call's arguments refer to. Routed this way, what a node
//! reaches is exactly what it depends on, as the evaluator resolved it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::config::evaluate::{Configuration, ResourceAddress};
use crate::config::model::Mode;

/// Which way edges point in the DOT output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ordering {
    /// Creation order: an edge from each object to what it depends on (drawn as Terraform does).
    Plan,
    /// Destruction order: dependents are destroyed first.
    Destroy,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeKind {
    Resource,
    Data,
    Cluster,
    Assert,
    /// An `output` block of the root module or of a module instance.
    Output,
    /// Where a module's call hands values in (`module.m (input)`).
    ModuleInput,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub label: String,
    /// The object the node belongs to (an instance's address without its key; the label for
    /// the other kinds).
    pub object: String,
    /// The module instance the node is drawn in (for a module input, the module itself).
    pub module: Vec<String>,
    pub kind: NodeKind,
}

pub struct Graph {
    pub graph: DiGraph<Node, ()>,
}

/// A DOT string literal: quotes and backslashes escaped.
fn dot_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn object_of(address: &ResourceAddress) -> String {
    let mut object = address.clone();
    object.key = None;
    object.to_string()
}

/// `module.a.module.b.output.x` → (`["a", "b"]`, `output.x`).
fn split_module_path(label: &str) -> (Vec<String>, &str) {
    let mut path = Vec::new();
    let mut rest = label;
    while let Some(after) = rest.strip_prefix("module.")
        && let Some((name, tail)) = after.split_once('.')
    {
        path.push(name.to_owned());
        rest = tail;
    }
    (path, rest)
}

fn module_prefix(path: &[String]) -> String {
    path.iter().map(|m| format!("module.{m}.")).collect()
}

/// `module.a.module.b` for a module instance path.
fn module_label(path: &[String]) -> String {
    path.iter()
        .map(|m| format!("module.{m}"))
        .collect::<Vec<_>>()
        .join(".")
}

/// A node whose dependencies are still to be turned into edges, with the scope its
/// dependencies are seen from: its module, or for a module input the calling module.
struct Pending {
    index: NodeIndex,
    scope: Vec<String>,
    dependencies: BTreeSet<String>,
}

struct Builder {
    graph: DiGraph<Node, ()>,
    /// Instances of each object, by object label.
    by_object: BTreeMap<String, Vec<NodeIndex>>,
    /// The module instance of each object, by object label.
    object_module: BTreeMap<String, Vec<String>>,
    /// Output nodes of each module instance, with what each depends on.
    outputs: BTreeMap<Vec<String>, Vec<(NodeIndex, BTreeSet<String>)>>,
    /// Input nodes by module instance, with the dependencies gathered from inside.
    inputs: BTreeMap<Vec<String>, (NodeIndex, BTreeSet<String>)>,
}

impl Builder {
    fn add(&mut self, node: Node) -> NodeIndex {
        self.graph.add_node(node)
    }

    fn edge(&mut self, from: NodeIndex, to: NodeIndex) {
        if from != to {
            self.graph.update_edge(from, to, ());
        }
    }

    /// The input node of module instance `module`, created on first use.
    fn input_of(&mut self, module: &[String]) -> NodeIndex {
        if let Some((index, _)) = self.inputs.get(module) {
            return *index;
        }
        let index = self.add(Node {
            label: format!("{} (input)", module_label(module)),
            object: module_label(module),
            module: module.to_vec(),
            kind: NodeKind::ModuleInput,
        });
        self.inputs
            .insert(module.to_vec(), (index, BTreeSet::new()));
        index
    }

    /// Turns one node's dependencies into edges, routed through module boundaries.
    fn connect(&mut self, pending: Pending) {
        let Pending {
            index,
            scope,
            dependencies,
        } = pending;
        // Dependencies inside child modules, by child module path.
        let mut inside: BTreeMap<Vec<String>, BTreeSet<&String>> = BTreeMap::new();
        for dependency in &dependencies {
            let Some(module) = self.object_module.get(dependency).cloned() else {
                continue;
            };
            if module == scope {
                for target in self.by_object[dependency].clone() {
                    self.edge(index, target);
                }
            } else if module.starts_with(&scope) {
                inside
                    .entry(module[..=scope.len()].to_vec())
                    .or_default()
                    .insert(dependency);
            } else {
                // Outside this module: the value came in through the module's call.
                let input = self.input_of(&scope);
                self.edge(index, input);
                self.inputs
                    .get_mut(&scope)
                    .expect("just created")
                    .1
                    .insert(dependency.clone());
            }
        }
        for (child, wanted) in inside {
            // Through the child's outputs that carry these objects (and nothing this node
            // does not depend on anyway).
            let mut covered: BTreeSet<&String> = BTreeSet::new();
            let mut through = Vec::new();
            for (output, output_dependencies) in self.outputs.get(&child).into_iter().flatten() {
                let carries: Vec<&String> = wanted
                    .iter()
                    .copied()
                    .filter(|d| output_dependencies.contains(*d))
                    .collect();
                if !carries.is_empty() && output_dependencies.is_subset(&dependencies) {
                    through.push(*output);
                    covered.extend(carries);
                }
            }
            for output in through {
                self.edge(index, output);
            }
            // Not carried by any output (should not happen): a direct edge keeps the order.
            for dependency in wanted.difference(&covered) {
                for target in self.by_object[*dependency].clone() {
                    self.edge(index, target);
                }
            }
        }
    }
}

impl Graph {
    /// Edges point from a node to each node it depends on.
    pub fn from_configuration(configuration: &Configuration) -> Self {
        let mut builder = Builder {
            graph: DiGraph::new(),
            by_object: BTreeMap::new(),
            object_module: BTreeMap::new(),
            outputs: BTreeMap::new(),
            inputs: BTreeMap::new(),
        };
        let mut pending: Vec<Pending> = Vec::new();
        for resource in &configuration.resources {
            let kind = match resource.address.mode {
                Mode::Managed => NodeKind::Resource,
                Mode::Data => NodeKind::Data,
            };
            let object = object_of(&resource.address);
            let index = builder.add(Node {
                label: resource.address.to_string(),
                object: object.clone(),
                module: resource.address.module.clone(),
                kind,
            });
            builder
                .by_object
                .entry(object.clone())
                .or_default()
                .push(index);
            builder
                .object_module
                .insert(object, resource.address.module.clone());
            pending.push(Pending {
                index,
                scope: resource.address.module.clone(),
                dependencies: resource.dependencies.clone(),
            });
        }
        for (objects, kind, prefix) in [
            (&configuration.clusters, NodeKind::Cluster, "cluster"),
            (&configuration.asserts, NodeKind::Assert, "assert"),
        ] {
            for object in objects {
                let label = format!("{}{prefix}.{}", module_prefix(&object.module), object.name);
                let index = builder.add(Node {
                    label: label.clone(),
                    object: label.clone(),
                    module: object.module.clone(),
                    kind: kind.clone(),
                });
                builder
                    .by_object
                    .entry(label.clone())
                    .or_default()
                    .push(index);
                builder.object_module.insert(label, object.module.clone());
                pending.push(Pending {
                    index,
                    scope: object.module.clone(),
                    dependencies: object.dependencies.clone(),
                });
            }
        }
        for (label, dependencies) in &configuration.output_dependencies {
            let (module, _) = split_module_path(label);
            let index = builder.add(Node {
                label: label.clone(),
                object: label.clone(),
                module: module.clone(),
                kind: NodeKind::Output,
            });
            builder
                .outputs
                .entry(module.clone())
                .or_default()
                .push((index, dependencies.clone()));
            pending.push(Pending {
                index,
                scope: module,
                dependencies: dependencies.clone(),
            });
        }
        // Deepest modules first: a module's input node gathers what its contents (and the
        // input nodes of its own children) need from outside before it is connected, one
        // level up.
        let deepest = pending.iter().map(|p| p.scope.len()).max().unwrap_or(0);
        let mut by_depth: BTreeMap<usize, Vec<Pending>> = BTreeMap::new();
        for item in pending {
            by_depth.entry(item.scope.len()).or_default().push(item);
        }
        for depth in (0..=deepest).rev() {
            let mut level = by_depth.remove(&depth).unwrap_or_default();
            let inputs: Vec<Vec<String>> = builder
                .inputs
                .keys()
                .filter(|module| module.len() == depth + 1)
                .cloned()
                .collect();
            for module in inputs {
                let (index, dependencies) = builder.inputs[&module].clone();
                level.push(Pending {
                    index,
                    scope: module[..depth].to_vec(),
                    dependencies,
                });
            }
            for item in level {
                builder.connect(item);
            }
        }
        Graph {
            graph: builder.graph,
        }
    }

    /// Graphviz DOT, nodes and edges sorted so the output is stable. Each module instance is
    /// a cluster (`subgraph "cluster_module.m"`), nested as the modules are.
    pub fn to_dot(&self, ordering: Ordering) -> String {
        let mut out = String::from(
            "digraph cutover {\n  compound = \"true\"\n  newrank = \"true\"\n  rankdir = \"RL\"\n",
        );
        let mut by_module: BTreeMap<&[String], Vec<&Node>> = BTreeMap::new();
        let mut modules: BTreeSet<&[String]> = BTreeSet::new();
        for node in self.graph.node_weights() {
            by_module
                .entry(node.module.as_slice())
                .or_default()
                .push(node);
            for depth in 1..=node.module.len() {
                modules.insert(&node.module[..depth]);
            }
        }
        write_module(&mut out, &[], &by_module, &modules, 1);
        let mut edges: Vec<(&str, &str)> = self
            .graph
            .edge_indices()
            .filter_map(|edge| self.graph.edge_endpoints(edge))
            .map(|(from, to)| {
                let (from, to) = (
                    self.graph[from].label.as_str(),
                    self.graph[to].label.as_str(),
                );
                match ordering {
                    Ordering::Plan => (from, to),
                    Ordering::Destroy => (to, from),
                }
            })
            .collect();
        edges.sort();
        for (from, to) in edges {
            let _ = writeln!(out, "  {} -> {}", dot_quote(from), dot_quote(to));
        }
        out.push_str("}\n");
        out
    }
}

/// Writes the nodes of module instance `module`, then each child module as a nested cluster.
fn write_module(
    out: &mut String,
    module: &[String],
    by_module: &BTreeMap<&[String], Vec<&Node>>,
    modules: &BTreeSet<&[String]>,
    indent: usize,
) {
    let pad = "  ".repeat(indent);
    let mut nodes = by_module.get(module).cloned().unwrap_or_default();
    nodes.sort_by(|a, b| a.label.cmp(&b.label));
    for node in nodes {
        let shape = match node.kind {
            NodeKind::Resource => "box",
            NodeKind::Data => "note",
            NodeKind::Cluster => "cylinder",
            NodeKind::Assert => "diamond",
            NodeKind::Output => "ellipse",
            NodeKind::ModuleInput => "invhouse",
        };
        let quoted = dot_quote(&node.label);
        let _ = writeln!(out, "{pad}{quoted} [label = {quoted}, shape = \"{shape}\"]");
    }
    for child in modules
        .iter()
        .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
    {
        let label = module_label(child);
        let _ = writeln!(
            out,
            "{pad}subgraph {} {{\n{pad}  label = {}",
            dot_quote(&format!("cluster_{label}")),
            dot_quote(&label)
        );
        write_module(out, child, by_module, modules, indent + 1);
        let _ = writeln!(out, "{pad}}}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EvalMode, load_and_evaluate};
    use crate::providers::Registry;

    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn with_files(label: &str, files: &[(&str, &str)]) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "cutover-graph-{label}-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            for (name, text) in files {
                let path = dir.join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn graph_of(label: &str, files: &[(&str, &str)]) -> Graph {
        let dir = TempDir::with_files(label, files);
        let loaded = load_and_evaluate(&dir.0, &[], &[], &Registry::builtin(), EvalMode::Validate);
        assert!(
            !loaded.diagnostics.has_errors(),
            "{}",
            loaded.diagnostics.render(None)
        );
        Graph::from_configuration(&loaded.configuration.expect("a configuration"))
    }

    fn edges(graph: &Graph) -> BTreeSet<(String, String)> {
        graph
            .graph
            .edge_indices()
            .filter_map(|edge| graph.graph.edge_endpoints(edge))
            .map(|(from, to)| {
                (
                    graph.graph[from].label.clone(),
                    graph.graph[to].label.clone(),
                )
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    /// Everything reachable from `label` along the edges.
    fn reachable(graph: &Graph, label: &str) -> BTreeSet<String> {
        let start = graph
            .graph
            .node_indices()
            .find(|index| graph.graph[*index].label == label)
            .unwrap_or_else(|| panic!("no node {label}"));
        let mut seen = BTreeSet::new();
        let mut dfs = petgraph::visit::Dfs::new(&graph.graph, start);
        while let Some(index) = dfs.next(&graph.graph) {
            if index != start {
                seen.insert(graph.graph[index].label.clone());
            }
        }
        seen
    }

    const ROOT: &str = r#"
resource "cutover_data" "base" {
  input = "b"
}

resource "cutover_data" "other" {
  input = "o"
}

resource "cutover_data" "each" {
  for_each = toset(["a", "b"])
  input    = "${cutover_data.base.id}-${each.key}"
}

module "inner" {
  source = "./modules/inner"
  seed   = cutover_data.base.id
}

resource "cutover_data" "after_module" {
  input = module.inner.derived_id
}

resource "cutover_data" "ordered" {
  input      = 1
  depends_on = [cutover_data.other]
}

output "base_id" {
  value = cutover_data.base.id
}

output "through_module" {
  value = module.inner.derived_id
}

output "constant" {
  value = "fixed"
}
"#;

    const INNER: &str = r#"
variable "seed" {
  type = string
}

resource "cutover_data" "derived" {
  input = var.seed
}

resource "cutover_data" "standalone" {
  input = "s"
}

output "derived_id" {
  value = cutover_data.derived.id
}

output "standalone_id" {
  value = cutover_data.standalone.id
}
"#;

    fn sample() -> Graph {
        graph_of(
            "sample",
            &[("main.hcl", ROOT), ("modules/inner/main.hcl", INNER)],
        )
    }

    #[test]
    fn outputs_and_module_boundaries_are_nodes_with_routed_edges() {
        let graph = sample();
        let kinds: BTreeMap<String, NodeKind> = graph
            .graph
            .node_weights()
            .map(|node| (node.label.clone(), node.kind.clone()))
            .collect();
        for (label, kind) in [
            ("output.base_id", NodeKind::Output),
            ("output.through_module", NodeKind::Output),
            ("output.constant", NodeKind::Output),
            ("module.inner.output.derived_id", NodeKind::Output),
            ("module.inner.output.standalone_id", NodeKind::Output),
            ("module.inner (input)", NodeKind::ModuleInput),
            ("module.inner.cutover_data.derived", NodeKind::Resource),
            ("cutover_data.each[\"a\"]", NodeKind::Resource),
        ] {
            assert_eq!(kinds.get(label), Some(&kind), "{label} in {kinds:?}");
        }
        assert_eq!(
            edges(&graph),
            pairs(&[
                ("cutover_data.each[\"a\"]", "cutover_data.base"),
                ("cutover_data.each[\"b\"]", "cutover_data.base"),
                // Out of the module through its input, into it through its output.
                ("module.inner.cutover_data.derived", "module.inner (input)"),
                ("module.inner (input)", "cutover_data.base"),
                (
                    "module.inner.output.derived_id",
                    "module.inner.cutover_data.derived"
                ),
                (
                    "module.inner.output.standalone_id",
                    "module.inner.cutover_data.standalone"
                ),
                (
                    "cutover_data.after_module",
                    "module.inner.output.derived_id"
                ),
                ("cutover_data.ordered", "cutover_data.other"),
                ("output.base_id", "cutover_data.base"),
                ("output.through_module", "module.inner.output.derived_id"),
            ])
        );
        // What a node reaches is what it depends on: nothing about the unrelated output.
        assert_eq!(
            reachable(&graph, "cutover_data.after_module"),
            [
                "cutover_data.base",
                "module.inner (input)",
                "module.inner.cutover_data.derived",
                "module.inner.output.derived_id",
            ]
            .map(str::to_owned)
            .into()
        );
    }

    #[test]
    fn nested_modules_route_through_each_boundary() {
        let outer = r#"
variable "seed" {
  type = string
}

module "deeper" {
  source = "./deeper"
  seed   = var.seed
}

output "deep_id" {
  value = module.deeper.id
}
"#;
        let deeper = r#"
variable "seed" {
  type = string
}

resource "cutover_data" "leaf" {
  input = var.seed
}

output "id" {
  value = cutover_data.leaf.id
}
"#;
        let root = r#"
resource "cutover_data" "root" {
  input = "r"
}

module "outer" {
  source = "./modules/outer"
  seed   = cutover_data.root.id
}

resource "cutover_data" "user" {
  input = module.outer.deep_id
}
"#;
        let graph = graph_of(
            "nested",
            &[
                ("main.hcl", root),
                ("modules/outer/main.hcl", outer),
                ("modules/outer/deeper/main.hcl", deeper),
            ],
        );
        assert_eq!(
            edges(&graph),
            pairs(&[
                (
                    "module.outer.module.deeper.cutover_data.leaf",
                    "module.outer.module.deeper (input)"
                ),
                ("module.outer.module.deeper (input)", "module.outer (input)"),
                ("module.outer (input)", "cutover_data.root"),
                (
                    "module.outer.module.deeper.output.id",
                    "module.outer.module.deeper.cutover_data.leaf"
                ),
                (
                    "module.outer.output.deep_id",
                    "module.outer.module.deeper.output.id"
                ),
                ("cutover_data.user", "module.outer.output.deep_id"),
            ])
        );
        let dot = graph.to_dot(Ordering::Plan);
        let outer_cluster = dot
            .find("subgraph \"cluster_module.outer\" {")
            .expect("outer cluster");
        let inner_cluster = dot
            .find("subgraph \"cluster_module.outer.module.deeper\" {")
            .expect("nested cluster");
        let leaf = dot
            .find("\"module.outer.module.deeper.cutover_data.leaf\" [")
            .expect("leaf node");
        assert!(
            outer_cluster < inner_cluster && inner_cluster < leaf,
            "{dot}"
        );
    }

    #[test]
    fn dot_quotes_instance_keys_and_reverses_edges_for_destroy() {
        let graph = sample();
        let plan = graph.to_dot(Ordering::Plan);
        assert!(
            plan.contains(
                "  \"cutover_data.each[\\\"a\\\"]\" [label = \"cutover_data.each[\\\"a\\\"]\", shape = \"box\"]\n"
            ),
            "{plan}"
        );
        assert!(
            plan.contains(
                "  \"output.base_id\" [label = \"output.base_id\", shape = \"ellipse\"]\n"
            ),
            "{plan}"
        );
        assert!(
            plan.contains("  subgraph \"cluster_module.inner\" {\n    label = \"module.inner\"\n    \"module.inner (input)\" [label = \"module.inner (input)\", shape = \"invhouse\"]\n"),
            "{plan}"
        );
        assert!(
            plan.contains("  \"output.base_id\" -> \"cutover_data.base\"\n"),
            "{plan}"
        );
        let destroy = graph.to_dot(Ordering::Destroy);
        assert!(
            destroy.contains("  \"cutover_data.base\" -> \"output.base_id\"\n"),
            "{destroy}"
        );
        assert!(!destroy.contains("\"output.base_id\" -> "), "{destroy}");
        // Every line of a node or edge is balanced: no quote left open by an instance key.
        for line in plan.lines() {
            let unescaped = line.replace("\\\"", "").matches('"').count();
            assert_eq!(unescaped % 2, 0, "{line}");
        }
    }

    #[test]
    fn module_paths_are_split_from_labels() {
        assert_eq!(
            split_module_path("module.a.module.b.output.x"),
            (vec!["a".to_owned(), "b".to_owned()], "output.x")
        );
        assert_eq!(split_module_path("output.x"), (Vec::new(), "output.x"));
    }
}
