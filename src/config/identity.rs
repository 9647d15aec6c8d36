//! Two resources that would manage one live object. A schema names the arguments that
//! identify its object ([`super::schema::Identity`]: a topic's `cluster` and `name`, a
//! mirror's `target` and `name`); two managed instances of one type whose identity arguments
//! are all known and equal would overwrite each other's work (two mirrors sharing a worker
//! group and an offset map, two topics fighting over partitions and configs). The second,
//! in the order the configuration declares them, is an error at its block. Values are
//! compared without their sensitive marks and never printed: the message names addresses
//! and argument names only. An identity with a value unknown at plan time (a target whose
//! brokers come from an MSK cluster the same plan creates) is not judged by that plan: the
//! evaluation during apply reports nothing, so the first plan after it, which knows the
//! value, is the one that refuses the clash.

use std::collections::BTreeMap;

use super::evaluate::ResourceInstance;
use super::model::Mode;
use super::schema::{SchemaKind, SchemaSource};
use super::value::Value;
use crate::diagnostics::Diagnostic;

/// The errors for every managed instance whose identity another one declared first has.
pub fn clashes(resources: &[ResourceInstance], schemas: &dyn SchemaSource) -> Vec<Diagnostic> {
    let mut first: BTreeMap<(&str, String), &ResourceInstance> = BTreeMap::new();
    let mut diagnostics = Vec::new();
    // In the order the blocks are written (file, then offset), not the address order the
    // evaluation keeps: the error belongs at the block a reader finds second.
    let mut written: Vec<&ResourceInstance> = resources.iter().collect();
    written.sort_by(|a, b| {
        (a.span.file.path.as_path(), a.span.start).cmp(&(b.span.file.path.as_path(), b.span.start))
    });
    for instance in written {
        if instance.address.mode != Mode::Managed || !instance.errors.is_empty() {
            continue;
        }
        let type_name = instance.address.type_name.as_str();
        let Some(identity) = schemas
            .schema(SchemaKind::Resource, type_name)
            .and_then(|schema| schema.identity)
        else {
            continue;
        };
        let Some(key) = identity_of(&instance.config, identity.arguments) else {
            continue;
        };
        match first.get(&(type_name, key.clone())) {
            None => {
                first.insert((type_name, key), instance);
            }
            Some(earlier) => {
                let arguments = identity
                    .arguments
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(" and ");
                diagnostics.push(
                    Diagnostic::error(format!(
                        "{} would manage the same {} as {}: both have the same {arguments}",
                        instance.address, identity.object, earlier.address
                    ))
                    .at(instance.span.clone())
                    .with_hint(format!(
                        "give one of them its own `{}`, or remove one",
                        identity.distinguish_by
                    )),
                );
            }
        }
    }
    diagnostics
}

/// The identity arguments' values as JSON text (marks dropped), `None` while any is unknown
/// (or the body is not an object). An unset (null) argument is a value: two unnamed mirrors
/// on one target clash on their default `name`, which the schema filled in.
fn identity_of(config: &Value, arguments: &[&str]) -> Option<String> {
    let map = config.as_map()?;
    let values = arguments
        .iter()
        .map(|name| {
            map.get(*name)
                .map_or(Some(serde_json::Value::Null), Value::to_json)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(serde_json::Value::Array(values).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
        )
    }

    #[test]
    fn identities_compare_without_marks_and_wait_for_unknowns() {
        let cluster = map(&[("address", Value::string("cluster.msk"))]);
        let plain = map(&[("target", cluster.clone()), ("name", Value::string("m"))]);
        let marked = map(&[
            ("target", cluster.clone()),
            ("name", Value::sensitive(Value::string("m"))),
        ]);
        let unknown = map(&[("target", cluster), ("name", Value::Unknown)]);
        let arguments = &["target", "name"];
        assert_eq!(
            identity_of(&plain, arguments),
            identity_of(&marked, arguments)
        );
        assert!(identity_of(&plain, arguments).is_some());
        assert_eq!(identity_of(&unknown, arguments), None);
    }
}
