//! `data "kafka_acls"` (a cluster's ACL bindings, or a note that it has none to read) and
//! `resource "kafka_acl"` (one binding: created, refreshed so that a binding removed outside
//! cutover shows as drift, deleted, imported by its id). Every argument of a binding forces a
//! replacement: Kafka has no way to change one in place. On a cluster reached with MSK IAM
//! authentication Kafka ACLs do not apply, and the plan says so.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::validate::{Pattern, Validator};
use crate::config::value::Value;
use crate::kafka::acl::{
    self, AclBinding, AclFilter, AclsRead, CLUSTER_RESOURCE_NAME, Operation, PatternKind,
    Permission, ResourceKind,
};
use crate::kafka::connection::{Cluster, blocking};
use crate::providers::kafka::topics::cluster_references_as_addresses;
use crate::providers::{
    BoxFuture, DataSourceType, ProviderContext, ProviderError, ProviderResult, ResourceType,
};
use crate::state::{HashKey, SensitiveHash, sensitive_matches, stored_hash};

pub const KAFKA_ACL: &str = "kafka_acl";
pub const KAFKA_ACLS: &str = "kafka_acls";

fn attribute<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value.as_map().and_then(|m| m.get(name))
}

fn cluster_of(context: &ProviderContext, value: &Value) -> ProviderResult<Cluster> {
    let cluster = attribute(value, "cluster").cloned().unwrap_or(Value::Null);
    Cluster::resolve(&context.connections, &cluster)
}

/// The arguments a binding's id is made of.
const BINDING_PARTS: [&str; 7] = [
    "resource_type",
    "pattern_type",
    "resource_name",
    "principal",
    "host",
    "operation",
    "permission",
];

/// Whether any argument of the binding is sensitive: its id, built from them all, is then
/// sensitive too (state keeps only its keyed hash; plans and `show` print `(sensitive value)`).
fn parts_sensitive(value: &Value) -> bool {
    BINDING_PARTS
        .iter()
        .any(|name| attribute(value, name).is_some_and(Value::contains_sensitive))
}

/// A binding's id as an attribute: sensitive when any part it was built from is.
fn id_value(binding: &AclBinding, sensitive: bool) -> Value {
    let id = Value::string(binding.to_string());
    if sensitive { Value::sensitive(id) } else { id }
}

/// One part of a binding as text (the enums by their names, as the arguments take them).
fn part_text<'a>(binding: &'a AclBinding, name: &str) -> &'a str {
    match name {
        "resource_type" => binding.resource_type.name(),
        "pattern_type" => binding.pattern_type.name(),
        "resource_name" => &binding.resource_name,
        "principal" => &binding.principal,
        "host" => &binding.host,
        "operation" => binding.operation.name(),
        _ => binding.permission.name(),
    }
}

/// A binding as `data "kafka_acls"` lists it and `kafka_acl` stores it.
fn binding_value(binding: &AclBinding) -> BTreeMap<String, Value> {
    BTreeMap::from([
        (
            "resource_type".to_owned(),
            Value::string(binding.resource_type.name()),
        ),
        (
            "resource_name".to_owned(),
            Value::string(binding.resource_name.clone()),
        ),
        (
            "pattern_type".to_owned(),
            Value::string(binding.pattern_type.name()),
        ),
        (
            "principal".to_owned(),
            Value::string(binding.principal.clone()),
        ),
        ("host".to_owned(), Value::string(binding.host.clone())),
        (
            "operation".to_owned(),
            Value::string(binding.operation.name()),
        ),
        (
            "permission".to_owned(),
            Value::string(binding.permission.name()),
        ),
        ("id".to_owned(), Value::string(binding.to_string())),
    ])
}

// ---------------------------------------------------------------------------------------------
// data "kafka_acls"

/// The arguments of `data "kafka_acls"`, decoded once.
#[derive(Debug, serde::Deserialize)]
struct AclsSpec {
    #[serde(default, deserialize_with = "crate::config::decode::null_as_default")]
    principals: Vec<String>,
    #[serde(default, deserialize_with = "crate::config::decode::null_as_default")]
    resource_types: Vec<String>,
}

pub struct KafkaAclsData {
    schema: Schema,
}

impl KafkaAclsData {
    pub fn new() -> Self {
        KafkaAclsData {
            schema: Schema::new(
                vec![
                    AttributeSchema::required("cluster", Type::Any)
                        .describe("the cluster whose ACLs to read, e.g. cluster.source"),
                    AttributeSchema::optional("principals", Type::list_of(Type::String))
                        .describe("only the bindings of these principals; all when unset")
                        .pattern(Pattern::KafkaPrincipal),
                    AttributeSchema::optional("resource_types", Type::list_of(Type::String))
                        .describe("only bindings on these kinds of resource; all when unset")
                        .validate(Validator::one_of(ResourceKind::NAMES)),
                    AttributeSchema::computed("available", Type::Bool).describe(
                        "false when the cluster has no ACLs to read (brokers before 0.11, or no authorizer)",
                    ),
                    AttributeSchema::computed("note", Type::String)
                        .describe("why the cluster has no ACLs to read; null when it has"),
                    AttributeSchema::computed("acls", Type::Any).describe(
                        "by id (the kafka_acl import id): resource_type, resource_name, pattern_type, principal, host, operation, permission, id",
                    ),
                    AttributeSchema::computed("principals_found", Type::list_of(Type::String))
                        .describe("the principals the bindings name, sorted"),
                ],
                Vec::new(),
            ),
        }
    }
}

impl Default for KafkaAclsData {
    fn default() -> Self {
        Self::new()
    }
}

impl DataSourceType for KafkaAclsData {
    fn type_name(&self) -> &'static str {
        KAFKA_ACLS
    }

    fn provider_name(&self) -> &'static str {
        super::PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let cluster = cluster_of(context, config)?;
            let spec: AclsSpec = crate::config::decode::decode(KAFKA_ACLS, config)
                .map_err(ProviderError::Invalid)?;
            let read = {
                let cluster = cluster.clone();
                blocking(move || acl::describe_acls(&cluster, &AclFilter::any())).await?
            };
            let mut result = config.as_map().cloned().unwrap_or_default();
            let (available, note, bindings) = match read {
                AclsRead::Bindings(bindings) => (true, Value::Null, bindings),
                AclsRead::Unavailable(reason) => (false, Value::string(reason), Vec::new()),
            };
            let kept: Vec<&AclBinding> = bindings
                .iter()
                .filter(|b| spec.principals.is_empty() || spec.principals.contains(&b.principal))
                .filter(|b| {
                    spec.resource_types.is_empty()
                        || spec
                            .resource_types
                            .iter()
                            .any(|kind| kind == b.resource_type.name())
                })
                .collect();
            let principals: BTreeSet<&str> = kept.iter().map(|b| b.principal.as_str()).collect();
            // Filtered by sensitive principals, every binding listed names one of them (in its
            // id too): what is listed is sensitive.
            let filtered_by_secret =
                attribute(config, "principals").is_some_and(Value::contains_sensitive);
            let hide = |value: Value| {
                if filtered_by_secret {
                    Value::sensitive(value)
                } else {
                    value
                }
            };
            result.insert("available".to_owned(), Value::Bool(available));
            result.insert("note".to_owned(), note);
            result.insert(
                "acls".to_owned(),
                hide(Value::Map(
                    kept.iter()
                        .map(|b| (b.to_string(), Value::Map(binding_value(b))))
                        .collect(),
                )),
            );
            result.insert(
                "principals_found".to_owned(),
                hide(Value::List(
                    principals.into_iter().map(Value::string).collect(),
                )),
            );
            Ok(Value::Map(result))
        })
    }

    fn notes(&self, value: &Value) -> Vec<String> {
        match attribute(value, "note").and_then(Value::as_str) {
            Some(note) => vec![format!("{note}; no ACLs are copied from it")],
            None => Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// resource "kafka_acl"

/// A `kafka_acl` as planned or stored, decoded once (the schema's validators judged it).
#[derive(Debug, Clone, serde::Deserialize)]
struct AclSpec {
    resource_type: String,
    resource_name: String,
    pattern_type: Option<String>,
    principal: String,
    host: Option<String>,
    operation: String,
    permission: Option<String>,
}

impl AclSpec {
    fn from_value(value: &Value) -> ProviderResult<AclSpec> {
        crate::config::decode::decode(KAFKA_ACL, value).map_err(ProviderError::Invalid)
    }

    fn binding(&self) -> ProviderResult<AclBinding> {
        let bad = |what: &str, value: &str, allowed: &[&str]| {
            ProviderError::Invalid(format!(
                "{what} {value:?} is not one of {}",
                allowed.join(", ")
            ))
        };
        let pattern_type = self.pattern_type.as_deref().unwrap_or("literal");
        let permission = self.permission.as_deref().unwrap_or("allow");
        let binding = AclBinding {
            resource_type: ResourceKind::parse(&self.resource_type)
                .ok_or_else(|| bad("resource_type", &self.resource_type, ResourceKind::NAMES))?,
            pattern_type: PatternKind::parse(pattern_type)
                .ok_or_else(|| bad("pattern_type", pattern_type, PatternKind::NAMES))?,
            resource_name: self.resource_name.clone(),
            principal: self.principal.clone(),
            host: self.host.clone().unwrap_or_else(|| "*".to_owned()),
            operation: Operation::parse(&self.operation)
                .ok_or_else(|| bad("operation", &self.operation, Operation::NAMES))?,
            permission: Permission::parse(permission)
                .ok_or_else(|| bad("permission", permission, Permission::NAMES))?,
        };
        check_binding(&binding)?;
        Ok(binding)
    }
}

/// Rules between a binding's parts that Kafka enforces only when it is created.
fn check_binding(binding: &AclBinding) -> ProviderResult<()> {
    if binding.resource_type == ResourceKind::Cluster
        && (binding.resource_name != CLUSTER_RESOURCE_NAME
            || binding.pattern_type != PatternKind::Literal)
    {
        return Err(ProviderError::Invalid(format!(
            "a cluster ACL's resource_name must be {CLUSTER_RESOURCE_NAME:?} with pattern_type \"literal\", not {:?} ({})",
            binding.resource_name, binding.pattern_type
        )));
    }
    if binding.resource_name.is_empty() {
        return Err(ProviderError::Invalid(
            "resource_name must not be empty".to_owned(),
        ));
    }
    Ok(())
}

/// What `kafka_acl` stores: the binding, its id (sensitive when `sensitive`: some argument
/// of the block was) and the cluster's address.
fn stored_value(cluster_address: &str, binding: &AclBinding, sensitive: bool) -> Value {
    let mut map = binding_value(binding);
    map.insert("id".to_owned(), id_value(binding, sensitive));
    map.insert("cluster".to_owned(), Value::string(cluster_address));
    Value::Map(map)
}

/// A binding as state records it. A sensitive argument is kept there only as a keyed hash,
/// so such a binding cannot be named exactly: it is found by listing the bindings that match
/// its other parts and keeping the one whose hidden parts hash the same.
struct StoredBinding {
    /// Matches the binding; a hashed part matches any value.
    filter: AclFilter,
    hashed: Vec<(&'static str, SensitiveHash)>,
}

impl StoredBinding {
    fn of(value: &Value) -> ProviderResult<StoredBinding> {
        let mut hashed = Vec::new();
        let mut text = BTreeMap::new();
        for name in BINDING_PARTS {
            let part = attribute(value, name).map(Value::peel);
            match part.and_then(stored_hash) {
                Some(hash) => hashed.push((name, hash)),
                None => {
                    if let Some(part) = part.and_then(Value::as_str) {
                        text.insert(name, part.to_owned());
                    }
                }
            }
        }
        if hashed.is_empty() {
            return Ok(StoredBinding {
                filter: AclFilter::exact(&AclSpec::from_value(value)?.binding()?),
                hashed,
            });
        }
        let unknown = |what: &str| {
            ProviderError::Invalid(format!("the stored ACL's {what} is not one Kafka knows"))
        };
        let get = |name: &str| text.get(name).map(String::as_str);
        let filter = AclFilter {
            resource_type: get("resource_type")
                .map(|t| ResourceKind::parse(t).ok_or_else(|| unknown("resource_type")))
                .transpose()?,
            pattern_type: get("pattern_type")
                .map(|t| PatternKind::parse(t).ok_or_else(|| unknown("pattern_type")))
                .transpose()?,
            resource_name: get("resource_name").map(str::to_owned),
            principal: get("principal").map(str::to_owned),
            host: get("host").map(str::to_owned),
            operation: get("operation")
                .map(|t| Operation::parse(t).ok_or_else(|| unknown("operation")))
                .transpose()?,
            permission: get("permission")
                .map(|t| Permission::parse(t).ok_or_else(|| unknown("permission")))
                .transpose()?,
        };
        Ok(StoredBinding { filter, hashed })
    }

    /// Whether a live binding is this one: the filter's parts equal, the hidden parts hash the
    /// same under the state's key.
    fn matches(&self, binding: &AclBinding, key: &HashKey) -> bool {
        let filter = &self.filter;
        filter
            .resource_type
            .is_none_or(|t| t == binding.resource_type)
            && filter
                .pattern_type
                .is_none_or(|t| t == binding.pattern_type)
            && filter
                .resource_name
                .as_ref()
                .is_none_or(|n| *n == binding.resource_name)
            && filter
                .principal
                .as_ref()
                .is_none_or(|p| *p == binding.principal)
            && filter.host.as_ref().is_none_or(|h| *h == binding.host)
            && filter.operation.is_none_or(|o| o == binding.operation)
            && filter.permission.is_none_or(|p| p == binding.permission)
            && self.hashed.iter().all(|(name, hash)| {
                sensitive_matches(key, hash, &Value::string(part_text(binding, name)))
            })
    }
}

/// The live binding a stored `kafka_acl` stands for, if it still exists.
async fn find_stored(
    context: &ProviderContext,
    cluster: &Cluster,
    stored: &Value,
) -> ProviderResult<Option<AclBinding>> {
    let stored = StoredBinding::of(stored)?;
    if stored.hashed.is_empty() {
        let cluster = cluster.clone();
        return blocking(move || {
            let found = acl::describe_acls_required(&cluster, &stored.filter)?;
            Ok(found
                .into_iter()
                .find(|b| AclFilter::exact(b) == stored.filter))
        })
        .await;
    }
    let key = context.state_key.clone().ok_or_else(|| {
        ProviderError::Failed(
            "this ACL has sensitive arguments, which state keeps only as keyed hashes: finding it needs the state key".to_owned(),
        )
    })?;
    let cluster = cluster.clone();
    blocking(move || {
        let found = acl::describe_acls_required(&cluster, &stored.filter)?;
        Ok(found.into_iter().find(|b| stored.matches(b, &key)))
    })
    .await
}

/// Refuses a cluster where Kafka ACLs would be silently ignored.
fn refuse_iam(cluster: &Cluster) -> ProviderResult<()> {
    if cluster.uses_iam() {
        return Err(ProviderError::Invalid(format!(
            "{}: the cluster uses MSK IAM authentication (auth = \"aws_msk_iam\"), where Kafka ACLs do not apply: IAM policies grant access instead. Map the principal to a SCRAM or TLS listener's user, or leave this ACL out",
            cluster.address
        )));
    }
    Ok(())
}

/// Waits until describing the binding shows it (`present`) or not: the authorizer applies
/// a change shortly after the request returns.
async fn wait_for_binding(
    context: &ProviderContext,
    cluster: &Cluster,
    binding: &AclBinding,
    present: bool,
) -> ProviderResult<()> {
    let limit = cluster.timeout.max(Duration::from_secs(10));
    let deadline = Instant::now() + limit;
    loop {
        if find_binding(cluster, binding).await?.is_some() == present {
            return Ok(());
        }
        if context.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        if Instant::now() >= deadline {
            return Err(ProviderError::Failed(format!(
                "{}: ACL {binding} was {} within {limit:?}",
                cluster.address,
                if present {
                    "not visible"
                } else {
                    "still there"
                }
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn find_binding(
    cluster: &Cluster,
    binding: &AclBinding,
) -> ProviderResult<Option<AclBinding>> {
    let cluster = cluster.clone();
    let wanted = binding.clone();
    blocking(move || {
        let found = acl::describe_acls_required(&cluster, &AclFilter::exact(&wanted))?;
        Ok(found.into_iter().find(|b| *b == wanted))
    })
    .await
}

pub struct KafkaAcl {
    schema: Schema,
}

impl KafkaAcl {
    pub fn new() -> Self {
        KafkaAcl {
            schema: Schema::new(
                vec![
                    AttributeSchema::required("cluster", Type::Any)
                        .forces_replacement()
                        .describe("the cluster the ACL is made on, e.g. cluster.target"),
                    AttributeSchema::required("resource_type", Type::String)
                        .forces_replacement()
                        .describe("what the ACL applies to")
                        .validate(Validator::one_of_or(
                            ResourceKind::NAMES,
                            &[
                                ("consumer_group", "group"),
                                ("broker", "cluster"),
                                ("transactional", "transactional_id"),
                            ],
                        )),
                    AttributeSchema::required("resource_name", Type::String)
                        .forces_replacement()
                        .describe(
                            "the topic, group or transactional id (or its prefix); \"kafka-cluster\" for the cluster; \"*\" for all",
                        )
                        .validate(Validator::Length { min: 1, max: 255 }),
                    AttributeSchema::optional("pattern_type", Type::String)
                        .forces_replacement()
                        .describe("how resource_name matches")
                        .default_value(Value::string("literal"))
                        .validate(Validator::one_of_or(PatternKind::NAMES, &[("prefix", "prefixed")])),
                    AttributeSchema::required("principal", Type::String)
                        .forces_replacement()
                        .describe("who the ACL is for, e.g. \"User:alice\"")
                        .pattern(Pattern::KafkaPrincipal),
                    AttributeSchema::optional("host", Type::String)
                        .forces_replacement()
                        .describe("the client host the ACL applies to; \"*\" for any")
                        .default_value(Value::string("*")),
                    AttributeSchema::required("operation", Type::String)
                        .forces_replacement()
                        .describe("the operation allowed or denied")
                        .validate(Validator::one_of_or(
                            Operation::NAMES,
                            &[("produce", "write"), ("consume", "read"), ("any", "all")],
                        )),
                    AttributeSchema::optional("permission", Type::String)
                        .forces_replacement()
                        .describe("allow or deny")
                        .default_value(Value::string("allow"))
                        .validate(Validator::one_of(Permission::NAMES)),
                    AttributeSchema::computed("id", Type::String)
                        .describe("RESOURCE_TYPE|PATTERN_TYPE|RESOURCE_NAME|PRINCIPAL|HOST|OPERATION|PERMISSION, the import id"),
                ],
                Vec::new(),
            ),
        }
    }
}

impl Default for KafkaAcl {
    fn default() -> Self {
        Self::new()
    }
}

impl ResourceType for KafkaAcl {
    fn type_name(&self) -> &'static str {
        KAFKA_ACL
    }

    fn provider_name(&self) -> &'static str {
        super::PROVIDER
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn canonical_config(&self, config: &Value) -> Option<Value> {
        let mut map = config.as_map()?.clone();
        cluster_references_as_addresses(&mut map, &["cluster"]);
        for (name, default) in [
            ("pattern_type", "literal"),
            ("host", "*"),
            ("permission", "allow"),
        ] {
            if map.get(name).is_none_or(Value::is_null) {
                map.insert(name.to_owned(), Value::string(default));
            }
        }
        Some(Value::Map(map))
    }

    fn plan(&self, _prior: Option<&Value>, planned: Value) -> ProviderResult<Value> {
        // The id is known as soon as the binding is: show it in the plan.
        let Ok(spec) = AclSpec::from_value(&planned) else {
            return Ok(planned);
        };
        let known = ["resource_type", "resource_name", "principal", "operation"]
            .iter()
            .all(|name| attribute(&planned, name).is_some_and(Value::is_wholly_known));
        if !known {
            return Ok(planned);
        }
        let binding = spec.binding()?;
        let sensitive = parts_sensitive(&planned);
        let mut map = planned.as_map().cloned().unwrap_or_default();
        map.insert("id".to_owned(), id_value(&binding, sensitive));
        Ok(Value::Map(map))
    }

    fn preview<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> Option<BoxFuture<'a, ProviderResult<Value>>> {
        Some(Box::pin(async move {
            match cluster_of(context, planned) {
                Ok(cluster) => refuse_iam(&cluster)?,
                Err(ProviderError::Failed(message))
                    if message.contains("known only after apply")
                        || message.contains("not known yet") => {}
                Err(error) => return Err(error),
            }
            Ok(planned.clone())
        }))
    }

    fn read<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>> {
        Box::pin(async move {
            let cluster = cluster_of(context, prior)?;
            let sensitive = parts_sensitive(prior);
            Ok(find_stored(context, &cluster, prior)
                .await?
                .map(|found| stored_value(&cluster.address, &found, sensitive)))
        })
    }

    fn create<'a>(
        &'a self,
        context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let cluster = cluster_of(context, planned)?;
            refuse_iam(&cluster)?;
            let binding = AclSpec::from_value(planned)?.binding()?;
            {
                let cluster = cluster.clone();
                let binding = binding.clone();
                blocking(move || acl::create_acls(&cluster, &[binding])).await?;
            }
            wait_for_binding(context, &cluster, &binding, true).await?;
            Ok(stored_value(
                &cluster.address,
                &binding,
                parts_sensitive(planned),
            ))
        })
    }

    fn update<'a>(
        &'a self,
        _context: &'a ProviderContext,
        _prior: &'a Value,
        _planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            Err(ProviderError::Invalid(
                "a kafka_acl cannot be changed in place: every argument forces a replacement"
                    .to_owned(),
            ))
        })
    }

    fn delete<'a>(
        &'a self,
        context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move {
            let cluster = cluster_of(context, prior)?;
            // Found first (by its hashes when state hides parts of it); already gone is done.
            let Some(binding) = find_stored(context, &cluster, prior).await? else {
                return Ok(());
            };
            {
                let cluster = cluster.clone();
                let filter = AclFilter::exact(&binding);
                blocking(move || acl::delete_acls(&cluster, &[filter])).await?;
            }
            wait_for_binding(context, &cluster, &binding, false).await
        })
    }

    fn import<'a>(
        &'a self,
        context: &'a ProviderContext,
        id: &'a str,
        config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let cluster = cluster_of(context, config).map_err(|error| {
                ProviderError::Failed(format!(
                    "importing ACL {id}: the resource block's cluster is needed: {error}"
                ))
            })?;
            let binding = AclBinding::parse_id(id).map_err(ProviderError::Invalid)?;
            check_binding(&binding)?;
            match find_binding(&cluster, &binding).await? {
                Some(found) => Ok(stored_value(
                    &cluster.address,
                    &found,
                    parts_sensitive(config),
                )),
                None => Err(ProviderError::Failed(format!(
                    "{}: ACL {id} does not exist",
                    cluster.address
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(resource_type: &str, name: &str) -> AclSpec {
        AclSpec {
            resource_type: resource_type.to_owned(),
            resource_name: name.to_owned(),
            pattern_type: None,
            principal: "User:alice".to_owned(),
            host: None,
            operation: "write".to_owned(),
            permission: None,
        }
    }

    #[test]
    fn unset_pattern_host_and_permission_are_kafkas_defaults() {
        let binding = spec("topic", "orders").binding().unwrap();
        assert_eq!(
            binding.to_string(),
            "topic|literal|orders|User:alice|*|write|allow"
        );
    }

    #[test]
    fn a_cluster_acl_must_name_kafka_cluster() {
        let error = spec("cluster", "orders").binding().unwrap_err().to_string();
        assert!(
            error.contains("resource_name must be \"kafka-cluster\""),
            "{error}"
        );
        assert!(spec("cluster", "kafka-cluster").binding().is_ok());
    }

    #[test]
    fn the_plan_shows_the_id_once_the_binding_is_known() {
        let acl = KafkaAcl::new();
        let planned = Value::Map(BTreeMap::from([
            ("resource_type".to_owned(), Value::string("group")),
            ("resource_name".to_owned(), Value::string("billing")),
            ("principal".to_owned(), Value::string("User:bob")),
            ("operation".to_owned(), Value::string("read")),
        ]));
        let planned = acl.plan(None, planned).unwrap();
        assert_eq!(
            attribute(&planned, "id").and_then(Value::as_str),
            Some("group|literal|billing|User:bob|*|read|allow")
        );
        let unknown = Value::Map(BTreeMap::from([
            ("resource_type".to_owned(), Value::string("group")),
            ("resource_name".to_owned(), Value::Unknown),
            ("principal".to_owned(), Value::string("User:bob")),
            ("operation".to_owned(), Value::string("read")),
        ]));
        assert!(attribute(&acl.plan(None, unknown).unwrap(), "id").is_none());
    }

    #[test]
    fn the_id_of_a_binding_with_a_sensitive_part_is_sensitive() {
        let acl = KafkaAcl::new();
        let planned = Value::Map(BTreeMap::from([
            ("resource_type".to_owned(), Value::string("topic")),
            ("resource_name".to_owned(), Value::string("orders")),
            (
                "principal".to_owned(),
                Value::sensitive(Value::string("User:hidden")),
            ),
            ("operation".to_owned(), Value::string("write")),
        ]));
        let id = attribute(&acl.plan(None, planned).unwrap(), "id")
            .cloned()
            .unwrap();
        assert!(matches!(id, Value::Sensitive(_)), "{id:?}");
        assert_eq!(
            id.peel().as_str(),
            Some("topic|literal|orders|User:hidden|*|write|allow")
        );
    }

    /// State keeps a sensitive principal only as its keyed hash: the stored binding lists the
    /// candidates by its other parts and knows its own by the hash.
    #[test]
    fn a_stored_binding_with_a_hashed_part_is_known_by_its_hash() {
        use crate::state::KeyOrigin;
        let key = HashKey::from_bytes([9u8; 32], KeyOrigin::Explicit).unwrap();
        let hash = key.hash(&Value::string("User:hidden")).unwrap();
        let hashed = Value::sensitive(Value::Map(BTreeMap::from([(
            crate::state::sensitive::SENSITIVE_MARKER.to_owned(),
            Value::string(hash.as_str()),
        )])));
        let stored = Value::Map(BTreeMap::from([
            ("resource_type".to_owned(), Value::string("topic")),
            ("resource_name".to_owned(), Value::string("orders")),
            ("pattern_type".to_owned(), Value::string("literal")),
            ("principal".to_owned(), hashed),
            ("host".to_owned(), Value::string("*")),
            ("operation".to_owned(), Value::string("write")),
            ("permission".to_owned(), Value::string("allow")),
        ]));
        assert!(parts_sensitive(&stored));
        let binding = StoredBinding::of(&stored).unwrap();
        assert_eq!(binding.filter.principal, None);
        assert_eq!(binding.filter.resource_name.as_deref(), Some("orders"));
        let mut live = spec("topic", "orders").binding().unwrap();
        live.principal = "User:hidden".to_owned();
        assert!(binding.matches(&live, &key));
        live.principal = "User:other".to_owned();
        assert!(!binding.matches(&live, &key));
        let other_key = HashKey::from_bytes([8u8; 32], KeyOrigin::Explicit).unwrap();
        live.principal = "User:hidden".to_owned();
        assert!(!binding.matches(&live, &other_key));
        live.operation = Operation::Read;
        assert!(!binding.matches(&live, &key));
    }

    #[test]
    fn a_note_is_made_only_when_the_cluster_had_no_acls_to_read() {
        let data = KafkaAclsData::new();
        let without = Value::Map(BTreeMap::from([(
            "note".to_owned(),
            Value::string("cluster.old: this cluster has no ACLs to read: x"),
        )]));
        assert_eq!(
            data.notes(&without),
            vec!["cluster.old: this cluster has no ACLs to read: x; no ACLs are copied from it"]
        );
        let with = Value::Map(BTreeMap::from([("note".to_owned(), Value::Null)]));
        assert!(data.notes(&with).is_empty());
    }
}
