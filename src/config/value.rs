//! Values of the configuration language. Like Terraform's cty values they carry two marks the
//! plain `hcl::Value` cannot: *unknown* (only known after apply, e.g. an ARN) and *sensitive*
//! (never printed, never stored in plaintext). Operations propagate both: anything computed
//! from an unknown is unknown, anything computed from a sensitive value is sensitive.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

pub use hcl::Number;

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    /// Lists and tuples.
    List(Vec<Value>),
    /// Sets: kept sorted by [`Value::total_cmp`] and free of duplicates.
    Set(Vec<Value>),
    /// Maps and objects; keys iterate in lexical order, as in Terraform.
    Map(BTreeMap<String, Value>),
    /// A value only known after apply.
    Unknown,
    /// A sensitive value. Never nested directly in another `Sensitive`.
    Sensitive(Box<Value>),
}

impl Value {
    pub fn string(text: impl Into<String>) -> Self {
        Value::String(text.into())
    }

    pub fn int(number: i64) -> Self {
        Value::Number(Number::from(number))
    }

    /// Marks a value sensitive (idempotent).
    pub fn sensitive(value: Value) -> Self {
        match value {
            Value::Sensitive(_) => value,
            other => Value::Sensitive(Box::new(other)),
        }
    }

    /// Builds a set: sorts and removes duplicates.
    pub fn set(mut items: Vec<Value>) -> Self {
        items.sort_by(Value::total_cmp);
        items.dedup();
        Value::Set(items)
    }

    /// Removes the top-level sensitive mark; returns the value and whether it was marked.
    pub fn unmark(self) -> (Value, bool) {
        match self {
            Value::Sensitive(inner) => (*inner, true),
            other => (other, false),
        }
    }

    /// The value with its top-level sensitive mark (if any) looked through.
    pub fn peel(&self) -> &Value {
        match self {
            Value::Sensitive(inner) => inner,
            other => other,
        }
    }

    /// Re-applies a sensitive mark when `sensitive` is true.
    pub fn marked(self, sensitive: bool) -> Value {
        if sensitive {
            Value::sensitive(self)
        } else {
            self
        }
    }

    /// True when the value (at the top level) is unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self.peel(), Value::Unknown)
    }

    /// True when no part of the value is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::Sensitive(inner) => inner.is_wholly_known(),
            Value::List(items) | Value::Set(items) => items.iter().all(Value::is_wholly_known),
            Value::Map(map) => map.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// True when any part of the value is sensitive.
    pub fn contains_sensitive(&self) -> bool {
        match self {
            Value::Sensitive(_) => true,
            Value::List(items) | Value::Set(items) => items.iter().any(Value::contains_sensitive),
            Value::Map(map) => map.values().any(Value::contains_sensitive),
            _ => false,
        }
    }

    /// Removes every sensitive mark, deep; returns whether any was found.
    pub fn unmark_deep(self) -> (Value, bool) {
        match self {
            Value::Sensitive(inner) => (inner.unmark_deep().0, true),
            Value::List(items) => {
                let (items, marked) = unmark_all(items);
                (Value::List(items), marked)
            }
            Value::Set(items) => {
                let (items, marked) = unmark_all(items);
                (Value::set(items), marked)
            }
            Value::Map(map) => {
                let mut marked = false;
                let map = map
                    .into_iter()
                    .map(|(key, value)| {
                        let (value, inner) = value.unmark_deep();
                        marked |= inner;
                        (key, value)
                    })
                    .collect();
                (Value::Map(map), marked)
            }
            other => (other, false),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.peel(), Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self.peel() {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.peel() {
            Value::Bool(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self.peel() {
            Value::Number(number) => Some(number),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        let number = self.as_number()?;
        number.as_i64().or_else(|| {
            let float = number.as_f64()?;
            (float.fract() == 0.0 && float.abs() < 9.0e15).then_some(float as i64)
        })
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self.peel() {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    /// The elements of a list or a set.
    pub fn as_items(&self) -> Option<&[Value]> {
        match self.peel() {
            Value::List(items) | Value::Set(items) => Some(items),
            _ => None,
        }
    }

    /// A short name of the value's type for diagnostics: `string`, `list`, `map`, ...
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Map(_) => "map",
            Value::Unknown => "unknown",
            Value::Sensitive(inner) => inner.type_name(),
        }
    }

    /// A total order over values, used for sets and sorting (`null < bool < number < string <
    /// list < set < map < unknown`).
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        fn rank(value: &Value) -> u8 {
            match value {
                Value::Null => 0,
                Value::Bool(_) => 1,
                Value::Number(_) => 2,
                Value::String(_) => 3,
                Value::List(_) => 4,
                Value::Set(_) => 5,
                Value::Map(_) => 6,
                Value::Unknown => 7,
                Value::Sensitive(inner) => rank(inner),
            }
        }
        match (self.peel(), other.peel()) {
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Number(a), Value::Number(b)) => {
                let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                a.total_cmp(&b)
            }
            (Value::String(a), Value::String(b)) => a.cmp(b),
            (Value::List(a), Value::List(b)) | (Value::Set(a), Value::Set(b)) => {
                compare_sequences(a, b)
            }
            (Value::Map(a), Value::Map(b)) => {
                for ((key_a, value_a), (key_b, value_b)) in a.iter().zip(b.iter()) {
                    let ordering = key_a.cmp(key_b).then_with(|| value_a.total_cmp(value_b));
                    if ordering != Ordering::Equal {
                        return ordering;
                    }
                }
                a.len().cmp(&b.len())
            }
            (a, b) => rank(a).cmp(&rank(b)),
        }
    }

    /// Converts to JSON. Unknown values have no JSON form; `None` is returned for them.
    /// Sensitive marks are dropped: callers decide what may be shown.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        Some(match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(value) => serde_json::Value::Bool(*value),
            Value::Number(number) => number_to_json(number),
            Value::String(text) => serde_json::Value::String(text.clone()),
            Value::List(items) | Value::Set(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect::<Option<_>>()?)
            }
            Value::Map(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(key, value)| Some((key.clone(), value.to_json()?)))
                    .collect::<Option<_>>()?,
            ),
            Value::Unknown => return None,
            Value::Sensitive(inner) => return inner.to_json(),
        })
    }

    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(value) => Value::Bool(*value),
            serde_json::Value::Number(number) => Value::Number(json_number(number)),
            serde_json::Value::String(text) => Value::String(text.clone()),
            serde_json::Value::Array(items) => {
                Value::List(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Map(
                map.iter()
                    .map(|(key, value)| (key.clone(), Value::from_json(value)))
                    .collect(),
            ),
        }
    }
}

fn unmark_all(items: Vec<Value>) -> (Vec<Value>, bool) {
    let mut marked = false;
    let items = items
        .into_iter()
        .map(|item| {
            let (item, inner) = item.unmark_deep();
            marked |= inner;
            item
        })
        .collect();
    (items, marked)
}

fn compare_sequences(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let ordering = x.total_cmp(y);
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.len().cmp(&b.len())
}

pub fn number_to_json(number: &Number) -> serde_json::Value {
    if let Some(int) = number.as_i64() {
        serde_json::Value::from(int)
    } else if let Some(unsigned) = number.as_u64() {
        serde_json::Value::from(unsigned)
    } else {
        number
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

fn json_number(number: &serde_json::Number) -> Number {
    if let Some(int) = number.as_i64() {
        Number::from(int)
    } else if let Some(unsigned) = number.as_u64() {
        Number::from(unsigned)
    } else {
        Number::from_f64(number.as_f64().unwrap_or(0.0)).unwrap_or_else(|| Number::from(0))
    }
}

/// Renders a value the way plans show it: HCL-like literals, `(known after apply)` for
/// unknowns and `(sensitive value)` for sensitive ones.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(value) => write!(f, "{value}"),
            Value::Number(number) => write!(f, "{number}"),
            Value::String(text) => write!(f, "{}", serde_json::Value::String(text.clone())),
            Value::List(items) | Value::Set(items) => {
                f.write_str("[")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(map) => {
                f.write_str("{")?;
                for (index, (key, value)) in map.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key} = {value}")?;
                }
                f.write_str("}")
            }
            Value::Unknown => f.write_str("(known after apply)"),
            Value::Sensitive(_) => f.write_str("(sensitive value)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_sorted_and_unique() {
        let set = Value::set(vec![
            Value::string("b"),
            Value::string("a"),
            Value::string("b"),
        ]);
        assert_eq!(
            set,
            Value::Set(vec![Value::string("a"), Value::string("b")])
        );
    }

    #[test]
    fn display_hides_sensitive_and_marks_unknown() {
        let mut map = BTreeMap::new();
        map.insert("arn".to_owned(), Value::Unknown);
        map.insert(
            "password".to_owned(),
            Value::sensitive(Value::string("hunter2")),
        );
        let shown = Value::Map(map).to_string();
        assert_eq!(
            shown,
            "{arn = (known after apply), password = (sensitive value)}"
        );
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn unknown_has_no_json_form_and_known_values_round_trip() {
        assert_eq!(Value::List(vec![Value::Unknown]).to_json(), None);
        let json = serde_json::json!({"a": [1, "x", true, null], "b": {"c": 2.5}});
        assert_eq!(Value::from_json(&json).to_json(), Some(json));
    }
}
