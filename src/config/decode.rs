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

/// Decodes `value` into `T` after judging its known parts by `schema` — each argument's
/// validators, the rules over several arguments and the at-least-one-of groups — with the
/// words `validate` uses. The configuration has judged a value from a `.hcl` file already;
/// this is for the values that reach a provider another way (a direct call, a state written
/// by an older version), so they get the same message instead of a second, hand-written one.
pub fn decode_checked<T: DeserializeOwned>(
    what: &str,
    schema: &super::schema::Schema,
    value: &Value,
) -> Result<T, String> {
    let empty = std::collections::BTreeMap::new();
    let object = value.peel().as_map().unwrap_or(&empty);
    for attribute in &schema.attributes {
        let Some(argument) = object.get(attribute.name) else {
            continue;
        };
        if let Some(problem) =
            super::validate::check(attribute.name, argument, &attribute.validators)
                .into_iter()
                .next()
        {
            return Err(format!("{what}: {}", problem.message));
        }
    }
    for rule in &schema.checks {
        if let Some(finding) = (rule.check)(object).into_iter().next() {
            return Err(format!("{what}: {}", finding.message));
        }
    }
    for group in &schema.groups {
        if group
            .names
            .iter()
            .all(|name| rule::unset_or_empty(object, name))
        {
            return Err(format!("{what} needs {}", group.text()));
        }
    }
    decode(what, value)
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

/// For `#[serde(default, deserialize_with = "whole_number")]` on an `Option<i64>`: a whole
/// number, written as an integer or as a float without a fraction (`3.0`, as an expression
/// such as `6 / 2` evaluates). A fraction is an error: the schema's range validator reports
/// it first, with its hint.
pub fn whole_number<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(whole) = number.as_i64() {
        return Ok(Some(whole));
    }
    match number.as_f64() {
        Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 => Ok(Some(float as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "{number} is not a whole number"
        ))),
    }
}

/// An argument of type `any` that a provider passes on as it is, sensitive marks included: a
/// cluster or mirror reference (resolved by whoever connects, from the stored address or the
/// evaluated block). `None` when unset or null. Everything else is decoded by [`decode`].
pub fn reference(value: &Value, name: &str) -> Option<Value> {
    value
        .peel()
        .as_map()
        .and_then(|map| map.get(name))
        .filter(|value| !value.is_null())
        .cloned()
}

/// What a schema rule ([`super::schema::BlockCheck`]) sees of one argument of a decoded body.
pub mod rule {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::Value;

    /// Unset (absent or null): an unknown value may still turn out set.
    pub fn unset(object: &BTreeMap<String, Value>, name: &str) -> bool {
        object.get(name).is_none_or(|value| value.peel().is_null())
    }

    /// Unset, or a known empty list or map.
    pub fn unset_or_empty(object: &BTreeMap<String, Value>, name: &str) -> bool {
        match object.get(name).map(Value::peel) {
            None | Some(Value::Null) => true,
            Some(Value::List(items) | Value::Set(items)) => items.is_empty(),
            Some(Value::Map(map)) => map.is_empty(),
            Some(_) => false,
        }
    }

    /// A known number.
    pub fn number(object: &BTreeMap<String, Value>, name: &str) -> Option<f64> {
        object.get(name)?.peel().as_number()?.as_f64()
    }

    /// A known duration (`"30s"`); `None` when unset, unknown or not a duration (the pattern
    /// reports that).
    pub fn duration(object: &BTreeMap<String, Value>, name: &str) -> Option<Duration> {
        crate::config::evaluate::parse_duration(object.get(name)?.peel().as_str()?)
    }

    /// A known string.
    pub fn text<'a>(object: &'a BTreeMap<String, Value>, name: &str) -> Option<&'a str> {
        object.get(name)?.peel().as_str()
    }
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
