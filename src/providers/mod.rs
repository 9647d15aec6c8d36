//! Providers: the resource and data source types cutover knows. Each implements one trait
//! ([`ResourceType`] or [`DataSourceType`]) so the engine never knows about Kafka or AWS:
//! a schema, a refresh (`read`), an optional plan adjustment, and the operations that touch the
//! real world (`create`, `update`, `delete`, `import`). The [`Registry`] holds them all and is
//! what the configuration consults for schemas (through [`SchemaSource`]).

pub mod aws;
pub mod builtin;
pub mod kafka;
pub mod reference;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::schema::{Schema, SchemaKind, SchemaSource};
use crate::config::value::Value;
pub use crate::state::BoxFuture;

/// Why a provider operation failed: see [`crate::error::OperationError`].
pub use crate::error::OperationError as ProviderError;
pub use crate::error::OperationResult as ProviderResult;

pub use crate::context::{Connections, IntentRecorder, ProviderContext};

/// A managed resource type.
pub trait ResourceType: Send + Sync {
    fn type_name(&self) -> &'static str;
    /// The provider the type belongs to (`builtin`, `kafka`, `aws`), recorded in state.
    fn provider_name(&self) -> &'static str;
    fn schema(&self) -> &Schema;

    /// Adjusts the engine's planned values (the configuration, with computed attributes
    /// carried over from `prior` or unknown). Pure: no I/O.
    fn plan(&self, _prior: Option<&Value>, planned: Value) -> ProviderResult<Value> {
        Ok(planned)
    }

    /// The configuration as it is compared with state, when the type stores something else
    /// than what was written (a `cluster` reference becomes the cluster's address). `None`
    /// when the configuration is compared as written. Pure: no I/O.
    fn canonical_config(&self, _config: &Value) -> Option<Value> {
        None
    }

    /// Refresh: the live attributes of the object `prior` describes, or `None` when it no
    /// longer exists.
    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>>;

    fn create<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>>;

    fn update<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>>;

    fn delete<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>>;

    /// The attributes of an existing object, by the id the user gives to `import`. `config`
    /// is the (canonical) configuration of the block imported into, as far as it is known:
    /// it says, for example, which cluster a topic lives on.
    fn import<'a>(
        &'a self,
        context: &'a ProviderContext,
        id: &'a str,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>>;

    /// Attributes whose change from `prior` to `planned` cannot be made in place although the
    /// schema allows updating them in general (a partition count that decreases). The engine
    /// plans a replacement naming them. Pure: no I/O.
    fn requires_replace(&self, _prior: &Value, _planned: &Value) -> Vec<String> {
        Vec::new()
    }

    /// Attributes of the refreshed object that call for an update although the configuration
    /// did not change (a mirror that fell behind: applying catches it up). Pure: no I/O.
    fn requires_update(&self, _prior: &Value, _planned: &Value) -> Vec<String> {
        Vec::new()
    }

    /// A plan-time look at the live system for values the plan should show (the offsets a
    /// group will get). Called with the planned value when its configuration is known and the
    /// object is to be created or updated; returns the planned value to show. `None`: the type
    /// has nothing to preview.
    fn preview<'a>(
        &'a self,
        _context: &'a ProviderContext,
        _planned: &'a Value,
    ) -> Option<BoxFuture<'a, ProviderResult<Value>>> {
        None
    }

    /// What applying will copy, for the plan to show (an embedded mirror's records, bytes and
    /// time). Called after [`ResourceType::preview`] with the previewed value, for objects
    /// created or updated; best effort, never an error. `None`: the type copies nothing.
    fn copy_estimate<'a>(
        &'a self,
        _context: &'a ProviderContext,
        _planned: &'a Value,
    ) -> Option<BoxFuture<'a, Option<crate::mirror::estimate::CopyEstimate>>> {
        None
    }

    /// `cutover rollback ADDR`: puts the object back to its previous version (a secret's
    /// AWSCURRENT moved back to the AWSPREVIOUS version) and returns its attributes afterwards,
    /// to be recorded in state. Types without versions refuse.
    fn rollback<'a>(
        &'a self,
        _context: &'a ProviderContext,
        _prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        let type_name = self.type_name();
        Box::pin(async move {
            Err(ProviderError::Invalid(format!(
                "{type_name} does not support rollback: only versioned objects such as aws_secretsmanager_secret_version can be rolled back"
            )))
        })
    }
}

/// A data source: reads something that exists, changes nothing.
pub trait DataSourceType: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn provider_name(&self) -> &'static str;
    fn schema(&self) -> &Schema;
    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>>;

    /// What the plan should say about a value this source read (a cluster that has no ACLs
    /// to read), shown as warnings at the block. Pure: no I/O.
    fn notes(&self, _value: &Value) -> Vec<String> {
        Vec::new()
    }
}

/// Every type cutover supports.
pub struct Registry {
    resources: BTreeMap<&'static str, Arc<dyn ResourceType>>,
    data_sources: BTreeMap<&'static str, Arc<dyn DataSourceType>>,
    cluster: Schema,
    assertion_checks: BTreeMap<&'static str, Schema>,
    assert: Schema,
    provider_schemas: BTreeMap<&'static str, Schema>,
}

impl Registry {
    /// An empty registry; tests add in-memory types with [`Registry::add_resource`].
    pub fn empty() -> Self {
        Self {
            resources: BTreeMap::new(),
            data_sources: BTreeMap::new(),
            cluster: kafka::cluster_schema(),
            assertion_checks: BTreeMap::new(),
            assert: crate::verify::assert_schema(),
            provider_schemas: BTreeMap::new(),
        }
    }

    /// The registry of everything built in.
    pub fn builtin() -> Self {
        let mut registry = Self::empty();
        registry.add_resource(Arc::new(builtin::CutoverData::new()));
        kafka::register(&mut registry);
        aws::register(&mut registry);
        for (name, schema) in crate::verify::check_schemas() {
            registry.add_assertion_check(name, schema);
        }
        registry
    }

    /// Declares a check block an `assert` block accepts (`zero_divergence { … }`).
    pub fn add_assertion_check(&mut self, name: &'static str, schema: Schema) {
        self.assertion_checks.insert(name, schema);
    }

    pub fn add_resource(&mut self, resource: Arc<dyn ResourceType>) {
        self.resources.insert(resource.type_name(), resource);
    }

    pub fn add_data_source(&mut self, data_source: Arc<dyn DataSourceType>) {
        self.data_sources
            .insert(data_source.type_name(), data_source);
    }

    /// Declares the settings a `provider "NAME"` block takes.
    pub fn add_provider_schema(&mut self, name: &'static str, schema: Schema) {
        self.provider_schemas.insert(name, schema);
    }

    pub fn resource(&self, type_name: &str) -> Option<&Arc<dyn ResourceType>> {
        self.resources.get(type_name)
    }

    pub fn data_source(&self, type_name: &str) -> Option<&Arc<dyn DataSourceType>> {
        self.data_sources.get(type_name)
    }

    /// Every resource type, by name.
    pub fn resources(&self) -> impl Iterator<Item = &Arc<dyn ResourceType>> {
        self.resources.values()
    }

    /// Every data source type, by name.
    pub fn data_sources(&self) -> impl Iterator<Item = &Arc<dyn DataSourceType>> {
        self.data_sources.values()
    }

    /// The check blocks of `assert`, by name.
    pub fn assertion_checks(&self) -> impl Iterator<Item = (&'static str, &Schema)> {
        self.assertion_checks
            .iter()
            .map(|(name, schema)| (*name, schema))
    }

    /// The settings of `provider` blocks, by provider name.
    pub fn provider_schemas(&self) -> impl Iterator<Item = (&'static str, &Schema)> {
        self.provider_schemas
            .iter()
            .map(|(name, schema)| (*name, schema))
    }
}

impl SchemaSource for Registry {
    fn schema(&self, kind: SchemaKind, type_name: &str) -> Option<&Schema> {
        match kind {
            SchemaKind::Resource => self.resources.get(type_name).map(|r| r.schema()),
            SchemaKind::Data => self.data_sources.get(type_name).map(|d| d.schema()),
        }
    }

    fn type_names(&self, kind: SchemaKind) -> Vec<&str> {
        match kind {
            SchemaKind::Resource => self.resources.keys().copied().collect(),
            SchemaKind::Data => self.data_sources.keys().copied().collect(),
        }
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

    fn assert_schema(&self) -> &Schema {
        &self.assert
    }

    fn provider_schema(&self, name: &str) -> Option<&Schema> {
        self.provider_schemas.get(name)
    }

    fn provider_names(&self) -> Vec<&str> {
        self.provider_schemas.keys().copied().collect()
    }
}
