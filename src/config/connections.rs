//! The evaluated `cluster` and `provider` blocks a run connects with, by address.

use std::collections::BTreeMap;

use super::value::Value;
use crate::error::{OperationError, OperationResult};

/// What providers connect with: the evaluated `cluster` blocks by address (`cluster.source`,
/// `module.m.cluster.source`) and the root module's `provider` blocks by name. Values keep
/// their sensitive marks and live only in memory.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    pub clusters: BTreeMap<String, Value>,
    pub providers: BTreeMap<String, Value>,
}

impl Connections {
    pub fn from_configuration(configuration: &super::evaluate::Configuration) -> Self {
        Connections {
            clusters: configuration
                .clusters
                .iter()
                .map(|cluster| (cluster.address(), cluster.value.clone()))
                .collect(),
            providers: configuration.providers.clone(),
        }
    }

    /// Whether any connection still waits on a value known only after apply (a cluster whose
    /// bootstrap servers come from a cluster being created).
    pub fn has_unknowns(&self) -> bool {
        self.clusters
            .values()
            .chain(self.providers.values())
            .any(|value| !value.is_wholly_known())
    }

    /// The cluster a resource names, by the address its `cluster` attribute holds.
    pub fn cluster(&self, address: &str) -> OperationResult<&Value> {
        self.clusters.get(address).ok_or_else(|| {
            OperationError::Failed(format!(
                "{address} is not in the configuration: keep the cluster block until every object that uses it is destroyed"
            ))
        })
    }

    /// The settings of `provider "NAME"`, or an empty object when there is no such block.
    pub fn provider(&self, name: &str) -> Value {
        self.providers
            .get(name)
            .cloned()
            .unwrap_or_else(|| Value::Map(BTreeMap::new()))
    }
}
