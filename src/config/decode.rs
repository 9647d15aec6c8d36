//! The typed decode of an evaluated block: one call turns a [`Value`] object into a provider's
//! own `#[derive(Deserialize)]` struct, so provider code reads fields instead of reaching into
//! maps by hand. The schema's validators have already judged the values (in `validate`, at
//! plan, and at apply for values that were unknown), so a decode error means a value the
//! provider was not written for, not a user mistake to explain.
//!
//! Unknown parts decode as absent (`None`): a computed argument left unset is unknown until
//! the provider sets it. Sensitive marks are dropped; the struct holds the plain values and
//! must not print them.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::value::Value;

/// Decodes `value` into `T`; `what` names the block in the error (`kafka_topic`).
pub fn decode<T: DeserializeOwned>(what: &str, value: &Value) -> Result<T, String> {
    serde_json::from_value(to_json(value)).map_err(|error| format!("{what}: {error}"))
}

/// JSON with unknown parts as null and sensitive marks dropped.
fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Unknown | Value::Null => serde_json::Value::Null,
        Value::Sensitive(inner) => to_json(inner),
        Value::Bool(flag) => serde_json::Value::Bool(*flag),
        Value::Number(number) => super::value::number_to_json(number),
        Value::String(text) => serde_json::Value::String(text.clone()),
        Value::List(items) | Value::Set(items) => items.iter().map(to_json).collect(),
        Value::Map(map) => serde_json::Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), to_json(value)))
                .collect(),
        ),
    }
}

/// For `#[serde(default, deserialize_with = "null_as_default")]`: an argument written as null
/// (or left unset) is the type's default, as in Terraform.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Spec {
        name: String,
        partitions: i32,
        replication_factor: Option<i32>,
        #[serde(default, deserialize_with = "null_as_default")]
        config: BTreeMap<String, String>,
    }

    #[test]
    fn decodes_known_values_and_treats_unknown_and_null_as_absent() {
        let value = Value::Map(BTreeMap::from([
            ("name".to_owned(), Value::string("orders")),
            ("partitions".to_owned(), Value::int(3)),
            ("replication_factor".to_owned(), Value::Unknown),
            ("config".to_owned(), Value::Null),
            ("ignored".to_owned(), Value::sensitive(Value::string("x"))),
        ]));
        assert_eq!(
            decode::<Spec>("kafka_topic", &value),
            Ok(Spec {
                name: "orders".to_owned(),
                partitions: 3,
                replication_factor: None,
                config: BTreeMap::new(),
            })
        );
        let missing = Value::Map(BTreeMap::from([("name".to_owned(), Value::string("x"))]));
        assert_eq!(
            decode::<Spec>("kafka_topic", &missing),
            Err("kafka_topic: missing field `partitions`".to_owned())
        );
    }
}
