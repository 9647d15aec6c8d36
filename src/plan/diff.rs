//! The diff of one managed resource instance: given its refreshed prior attributes (or none)
//! and its evaluated configuration, which action, which planned attributes, and which
//! arguments force a replacement. Schema-driven and pure; sensitive prior values are stored
//! as keyed hashes and compared through the hash.

use std::collections::BTreeMap;

use super::Action;
use crate::config::eval::values_equal;
use crate::config::model::Lifecycle;
use crate::config::schema::Schema;
use crate::config::value::Value;
use crate::state::{HashKey, sensitive_matches, stored_hash};

/// The outcome of diffing one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceDiff {
    pub action: Action,
    /// What the object will look like: configuration values, computed attributes carried
    /// over from the prior object or unknown.
    pub planned: Value,
    /// Arguments whose change forces the replacement, when the action is a replace.
    pub replace_because: Vec<String>,
}

/// True when the prior value (possibly a stored hash) and the new value are the same. A new
/// value that is not wholly known is a change (it will be known after apply).
pub fn same_value(prior: &Value, new: &Value, key: &HashKey) -> bool {
    if !new.is_wholly_known() {
        return false;
    }
    if let Some(hash) = stored_hash(prior.peel()) {
        return sensitive_matches(key, &hash, new);
    }
    match (prior.peel(), new.peel()) {
        (Value::Map(a), Value::Map(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_value(va, vb, key))
        }
        (Value::List(a), Value::List(b)) | (Value::Set(a), Value::Set(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y, key))
        }
        (a, b) => values_equal(a, b),
    }
}

/// Diffs one instance. `config` is the evaluated body (every schema attribute present:
/// unset optional ones null, computed ones unknown); `prior` the refreshed attributes.
pub fn diff_instance(
    schema: &Schema,
    prior: Option<&Value>,
    config: &Value,
    lifecycle: &Lifecycle,
    key: &HashKey,
) -> InstanceDiff {
    // Borrowed, not copied: only the values that make up the planned object are cloned.
    let no_attributes = BTreeMap::new();
    let config_map = config.as_map().unwrap_or(&no_attributes);
    let Some(prior) = prior else {
        return InstanceDiff {
            action: Action::Create,
            planned: Value::Map(config_map.clone()),
            replace_because: Vec::new(),
        };
    };
    let prior_map = prior.as_map().unwrap_or(&no_attributes);
    let null = Value::Null;
    let mut planned: BTreeMap<String, Value> = BTreeMap::new();
    let mut changed = Vec::new();
    let mut replace_because = Vec::new();
    let ignored = |name: &str| {
        lifecycle.ignore_all_changes || lifecycle.ignore_changes.iter().any(|n| n == name)
    };
    let names = schema
        .attributes
        .iter()
        .map(|a| (a.name, Some(a)))
        .chain(schema.blocks.iter().map(|b| (b.name, None)));
    for (name, attribute) in names {
        let prior_value = prior_map.get(name).unwrap_or(&null);
        let config_value = config_map.get(name).unwrap_or(&null);
        let settable = attribute.is_none_or(|a| a.settable());
        let computed = attribute.is_some_and(|a| a.computed || a.optional_computed);
        if !settable {
            // Computed only: carried over unless the object is replaced (decided below).
            planned.insert(name.to_owned(), prior_value.clone());
            continue;
        }
        if computed && config_value.is_unknown() {
            // Optional and computed, not set: the provider keeps what it has.
            planned.insert(name.to_owned(), prior_value.clone());
            continue;
        }
        if ignored(name) {
            planned.insert(name.to_owned(), prior_value.clone());
            continue;
        }
        if !same_value(prior_value, config_value, key) {
            changed.push(name.to_owned());
            if attribute.is_some_and(|a| a.forces_replacement) {
                replace_because.push(name.to_owned());
            }
        }
        planned.insert(name.to_owned(), config_value.clone());
    }
    if !replace_because.is_empty() {
        // A new object: computed attributes are not known until it exists.
        for attribute in &schema.attributes {
            if attribute.computed && !attribute.optional_computed {
                planned.insert(attribute.name.to_owned(), Value::Unknown);
            }
        }
        let action = if lifecycle.create_before_destroy {
            Action::CreateThenDelete
        } else {
            Action::DeleteThenCreate
        };
        return InstanceDiff {
            action,
            planned: Value::Map(planned),
            replace_because,
        };
    }
    let action = if changed.is_empty() {
        Action::NoOp
    } else {
        Action::Update
    };
    InstanceDiff {
        action,
        planned: Value::Map(planned),
        replace_because,
    }
}

/// Turns an update into a replacement when the provider says some attributes cannot change
/// in place (a partition decrease); `create_before_destroy` decides the order.
pub fn replace_if_required(diff: &mut InstanceDiff, because: Vec<String>, lifecycle: &Lifecycle) {
    if because.is_empty() || !matches!(diff.action, Action::Update) {
        return;
    }
    diff.action = if lifecycle.create_before_destroy {
        Action::CreateThenDelete
    } else {
        Action::DeleteThenCreate
    };
    diff.replace_because = because;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::builtin::cutover_data_schema;
    use crate::state::KeyOrigin;

    fn key() -> HashKey {
        HashKey::from_bytes([7u8; 32], KeyOrigin::Explicit).expect("key")
    }

    fn object(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    fn config(input: Value, triggers: Value) -> Value {
        object(&[
            ("input", input),
            ("triggers_replace", triggers),
            ("output", Value::Unknown),
            ("id", Value::Unknown),
        ])
    }

    fn prior(input: Value, triggers: Value) -> Value {
        object(&[
            ("input", input.clone()),
            ("triggers_replace", triggers),
            ("output", input),
            ("id", Value::string("abc")),
        ])
    }

    #[test]
    fn create_update_noop_and_replace() {
        let schema = cutover_data_schema();
        let lifecycle = Lifecycle::default();
        let created = diff_instance(
            &schema,
            None,
            &config(Value::int(1), Value::Null),
            &lifecycle,
            &key(),
        );
        assert_eq!(created.action, Action::Create);

        let same = diff_instance(
            &schema,
            Some(&prior(Value::int(1), Value::Null)),
            &config(Value::int(1), Value::Null),
            &lifecycle,
            &key(),
        );
        assert_eq!(same.action, Action::NoOp);
        assert_eq!(same.planned.as_map().unwrap()["id"], Value::string("abc"));

        let updated = diff_instance(
            &schema,
            Some(&prior(Value::int(1), Value::Null)),
            &config(Value::int(2), Value::Null),
            &lifecycle,
            &key(),
        );
        assert_eq!(updated.action, Action::Update);
        assert_eq!(
            updated.planned.as_map().unwrap()["id"],
            Value::string("abc")
        );

        let replaced = diff_instance(
            &schema,
            Some(&prior(Value::int(1), Value::string("a"))),
            &config(Value::int(1), Value::string("b")),
            &lifecycle,
            &key(),
        );
        assert_eq!(replaced.action, Action::DeleteThenCreate);
        assert_eq!(replaced.replace_because, vec!["triggers_replace"]);
        assert_eq!(replaced.planned.as_map().unwrap()["id"], Value::Unknown);
    }

    #[test]
    fn lifecycle_rules_are_honoured() {
        let schema = cutover_data_schema();
        let ignore = Lifecycle {
            ignore_changes: vec!["input".to_owned()],
            ..Lifecycle::default()
        };
        let ignored = diff_instance(
            &schema,
            Some(&prior(Value::int(1), Value::Null)),
            &config(Value::int(2), Value::Null),
            &ignore,
            &key(),
        );
        assert_eq!(ignored.action, Action::NoOp);
        let create_first = Lifecycle {
            create_before_destroy: true,
            ..Lifecycle::default()
        };
        let replaced = diff_instance(
            &schema,
            Some(&prior(Value::int(1), Value::string("a"))),
            &config(Value::int(1), Value::string("b")),
            &create_first,
            &key(),
        );
        assert_eq!(replaced.action, Action::CreateThenDelete);
    }

    #[test]
    fn unknown_new_values_are_changes_and_hashes_compare_by_key() {
        let key = key();
        let secret = Value::sensitive(Value::string("hunter2"));
        let hash = key.hash(&secret).expect("hash");
        let stored = Value::sensitive(object(&[(
            crate::state::sensitive::SENSITIVE_MARKER,
            Value::String(hash.to_string()),
        )]));
        assert!(same_value(&stored, &secret, &key));
        assert!(!same_value(
            &stored,
            &Value::sensitive(Value::string("other")),
            &key
        ));
        assert!(!same_value(&Value::int(1), &Value::Unknown, &key));
    }
}
