//! Providers: the resource, data source, cluster and assertion types cutover knows, each with
//! its schema. The [`Registry`] is what the configuration consults (through
//! [`SchemaSource`]); the engine will dispatch reads, plans and applies through it.

pub mod builtin;
pub mod kafka;

use std::collections::BTreeMap;

use crate::config::schema::{Schema, SchemaKind, SchemaSource};

/// Every type cutover supports, by kind and name.
pub struct Registry {
    types: BTreeMap<(SchemaKind, &'static str), Schema>,
    cluster: Schema,
    assertion_checks: BTreeMap<&'static str, Schema>,
}

impl Registry {
    /// The registry of everything built in.
    pub fn builtin() -> Self {
        let mut types = BTreeMap::new();
        types.insert(
            (SchemaKind::Resource, builtin::CUTOVER_DATA),
            builtin::cutover_data_schema(),
        );
        Self {
            types,
            cluster: kafka::cluster_schema(),
            assertion_checks: BTreeMap::new(),
        }
    }
}

impl SchemaSource for Registry {
    fn schema(&self, kind: SchemaKind, type_name: &str) -> Option<&Schema> {
        self.types
            .iter()
            .find(|((k, name), _)| *k == kind && *name == type_name)
            .map(|(_, schema)| schema)
    }

    fn type_names(&self, kind: SchemaKind) -> Vec<&str> {
        self.types
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, name)| *name)
            .collect()
    }

    fn cluster_schema(&self) -> &Schema {
        &self.cluster
    }

    fn assertion_check(&self, name: &str) -> Option<&Schema> {
        self.assertion_checks.get(name)
    }

    fn assertion_check_names(&self) -> Vec<&str> {
        self.assertion_checks.keys().copied().collect()
    }
}
