//! The dependency graph of an evaluated configuration, as a petgraph DAG of resource and data
//! source instances, clusters and assertions, with edges from references and `depends_on`
//! (seen through locals, variables, outputs and modules). Used for ordering and for
//! `cutover graph` (DOT). Cycles are found earlier, at the object level, by the configuration
//! evaluator, which reports every object on a cycle with its span.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::config::evaluate::{Configuration, ResourceAddress};

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
}

#[derive(Debug, Clone)]
pub struct Node {
    pub label: String,
    /// The object the node belongs to (an instance's address without its key).
    pub object: String,
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

impl Graph {
    /// Edges point from a node to each node it depends on.
    pub fn from_configuration(configuration: &Configuration) -> Self {
        let mut graph = DiGraph::new();
        let mut by_object: BTreeMap<String, Vec<NodeIndex>> = BTreeMap::new();
        let mut pending: Vec<(NodeIndex, Vec<String>)> = Vec::new();
        for resource in &configuration.resources {
            let kind = match resource.address.mode {
                crate::config::model::Mode::Managed => NodeKind::Resource,
                crate::config::model::Mode::Data => NodeKind::Data,
            };
            let object = object_of(&resource.address);
            let index = graph.add_node(Node {
                label: resource.address.to_string(),
                object: object.clone(),
                kind,
            });
            by_object.entry(object).or_default().push(index);
            pending.push((index, resource.dependencies.iter().cloned().collect()));
        }
        for (objects, kind, prefix) in [
            (&configuration.clusters, NodeKind::Cluster, "cluster"),
            (&configuration.asserts, NodeKind::Assert, "assert"),
        ] {
            for object in objects {
                let label = object
                    .module
                    .iter()
                    .map(|m| format!("module.{m}."))
                    .collect::<String>()
                    + &format!("{prefix}.{}", object.name);
                let index = graph.add_node(Node {
                    label: label.clone(),
                    object: label.clone(),
                    kind: kind.clone(),
                });
                by_object.entry(label).or_default().push(index);
                pending.push((index, object.dependencies.iter().cloned().collect()));
            }
        }
        for (index, dependencies) in pending {
            for dependency in dependencies {
                for &target in by_object.get(&dependency).into_iter().flatten() {
                    if target != index {
                        graph.update_edge(index, target, ());
                    }
                }
            }
        }
        Graph { graph }
    }

    /// Graphviz DOT, nodes and edges sorted so the output is stable.
    pub fn to_dot(&self, ordering: Ordering) -> String {
        let mut out = String::from(
            "digraph cutover {\n  compound = \"true\"\n  newrank = \"true\"\n  rankdir = \"RL\"\n",
        );
        let mut nodes: Vec<&Node> = self.graph.node_weights().collect();
        nodes.sort_by(|a, b| a.label.cmp(&b.label));
        for node in nodes {
            let shape = match node.kind {
                NodeKind::Resource => "box",
                NodeKind::Data => "note",
                NodeKind::Cluster => "cylinder",
                NodeKind::Assert => "diamond",
            };
            let _ = writeln!(
                out,
                "  \"{}\" [label = \"{}\", shape = \"{shape}\"]",
                node.label, node.label
            );
        }
        let mut edges: Vec<(String, String)> = self
            .graph
            .edge_indices()
            .filter_map(|edge| self.graph.edge_endpoints(edge))
            .map(|(from, to)| {
                let (from, to) = (self.graph[from].label.clone(), self.graph[to].label.clone());
                match ordering {
                    Ordering::Plan => (from, to),
                    Ordering::Destroy => (to, from),
                }
            })
            .collect();
        edges.sort();
        for (from, to) in edges {
            let _ = writeln!(out, "  {} -> {}", dot_quote(&from), dot_quote(&to));
        }
        out.push_str("}\n");
        out
    }
}
