//! The one path by which a message shows a configuration value. Providers decode a block into
//! plain structs (the sensitive marks are dropped there), so a message built from a decoded
//! field cannot tell on its own whether the field came from a sensitive variable. [`Marks`]
//! remembers, for one evaluated block, which arguments carry a sensitive mark (on the value or
//! any part of it) and the sensitive texts themselves; every message that quotes a configured
//! value goes through [`Marks::show`] (a decoded field), [`shown`] (an evaluated value) or
//! [`Marks::scrub`] (text written by someone else, such as librdkafka's reason or an AWS error,
//! which may quote what it was given).

use std::collections::BTreeSet;
use std::fmt;

use super::value::Value;
use crate::error::OperationError;

/// What a message shows instead of a sensitive value.
pub const REDACTED: &str = "(sensitive)";

/// A value as a message shows it: its own text, or [`REDACTED`]. `{}` and `{:?}` both redact.
#[derive(Clone, Copy)]
pub struct Shown<T> {
    value: T,
    sensitive: bool,
}

impl<T> Shown<T> {
    pub fn new(value: T, sensitive: bool) -> Self {
        Shown { value, sensitive }
    }
}

impl<T: fmt::Display> fmt::Display for Shown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sensitive {
            f.write_str(REDACTED)
        } else {
            self.value.fmt(f)
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Shown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sensitive {
            f.write_str(REDACTED)
        } else {
            self.value.fmt(f)
        }
    }
}

/// An evaluated value for a message: strings as they are, other values in their compact
/// JSON form, `(known after apply)` for unknowns, [`REDACTED`] when any part is sensitive.
pub fn shown(value: &Value) -> Shown<String> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Unknown => "(known after apply)".to_owned(),
        other => other
            .to_json()
            .map(|json| json.to_string())
            .unwrap_or_else(|| "(known after apply)".to_owned()),
    };
    Shown::new(text, value.contains_sensitive())
}

/// Which arguments of one evaluated block are sensitive, and the sensitive texts, for the
/// messages of the provider that decoded it. Cheap to clone; holds secrets only in memory and
/// never prints them (its `Debug` shows the argument names only).
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Marks {
    /// Argument paths (`name`, `broker_node_group_info.client_subnets`) whose value or any part
    /// of it is sensitive; `""` when the whole block is.
    arguments: BTreeSet<String>,
    /// Every sensitive string (and number) in the block, as text, longest first.
    texts: Vec<String>,
    /// Every sensitive number, for JSON that holds it as a number.
    numbers: Vec<f64>,
}

impl fmt::Debug for Marks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Marks")
            .field("arguments", &self.arguments)
            .finish_non_exhaustive()
    }
}

impl Marks {
    /// The marks of an evaluated block (an object; anything else is all or nothing).
    pub fn of(value: &Value) -> Marks {
        let mut marks = Marks::default();
        marks.collect(value, String::new(), false);
        marks
            .texts
            .sort_by_key(|text| std::cmp::Reverse(text.len()));
        marks.texts.dedup();
        marks
    }

    /// Adds the sensitive texts of another value (the connections an operation uses) to
    /// those [`Marks::scrub`] replaces.
    pub fn absorb(&mut self, value: &Value) {
        let other = Marks::of(value);
        for text in other.texts {
            self.hide(&text);
        }
        self.numbers.extend(other.numbers);
    }

    /// The marks of an operation: its block's value and every connection of the run.
    pub fn of_operation(block: &Value, connections: &super::connections::Connections) -> Marks {
        let mut marks = Marks::of(block);
        for value in connections
            .clusters
            .values()
            .chain(connections.providers.values())
        {
            marks.absorb(value);
        }
        marks
    }

    fn collect(&mut self, value: &Value, path: String, inside_sensitive: bool) {
        let sensitive = inside_sensitive || matches!(value, Value::Sensitive(_));
        if sensitive || (!path.is_empty() && value.contains_sensitive()) {
            self.arguments.insert(path.clone());
        }
        match value.peel() {
            Value::Map(map) => {
                for (key, item) in map {
                    if sensitive {
                        self.texts.push(key.clone());
                    }
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    self.collect(item, child, sensitive);
                }
            }
            Value::List(items) | Value::Set(items) => {
                for item in items {
                    // Blocks written more than once are lists: their arguments keep the
                    // block's path.
                    self.collect(item, path.clone(), sensitive);
                }
            }
            Value::String(text) if sensitive && !text.is_empty() => self.texts.push(text.clone()),
            Value::Number(number) if sensitive => {
                self.texts.push(number.to_string());
                self.numbers.extend(number.as_f64());
            }
            _ => {}
        }
    }

    /// Whether `argument` (a path such as `name` or `timeouts.create`) or the block around it
    /// is sensitive, or any part of its value.
    pub fn is_sensitive(&self, argument: &str) -> bool {
        if self.arguments.contains("") {
            return true;
        }
        let mut prefix = argument;
        loop {
            if self.arguments.contains(prefix) {
                return true;
            }
            match prefix.rsplit_once('.') {
                Some((parent, _)) => prefix = parent,
                None => return false,
            }
        }
    }

    /// Treats `text` as sensitive too (a part of a sensitive value that others may quote
    /// alone, such as one server of a sensitive server list).
    pub fn hide(&mut self, text: &str) {
        if !text.is_empty() && !self.texts.iter().any(|known| known == text) {
            self.texts.push(text.to_owned());
            self.texts.sort_by_key(|text| std::cmp::Reverse(text.len()));
        }
    }

    /// Whether anything in the block is sensitive.
    pub fn any(&self) -> bool {
        !self.arguments.is_empty()
    }

    /// A decoded argument's value for a message.
    pub fn show<T>(&self, argument: &str, value: T) -> Shown<T> {
        Shown::new(value, self.is_sensitive(argument))
    }

    /// Text someone else wrote (librdkafka's reason, an AWS error) with every sensitive text of
    /// the block replaced by [`REDACTED`]: such text may quote what it was given.
    ///
    /// Texts shorter than [`SHORTEST_SCRUBBED`] characters are left alone: replacing every
    /// `3` or `on` would garble the message, and messages cutover builds itself redact such
    /// values through [`Marks::show`] anyway.
    ///
    /// Matching ignores ASCII case: librdkafka quotes `SASL_PLAINTEXT` as `sasl_plaintext://`,
    /// and a host name comes back lower-cased.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.texts {
            if secret.chars().count() >= SHORTEST_SCRUBBED
                && let Some(scrubbed) = replace_ignoring_ascii_case(&text, secret)
            {
                text = scrubbed;
            }
        }
        text
    }

    /// JSON someone will store or print (an assertion's evidence) with [`Marks::scrub`]
    /// applied to every string and key, and every sensitive number replaced by [`REDACTED`].
    pub fn scrub_json(&self, json: serde_json::Value) -> serde_json::Value {
        use serde_json::Value as Json;
        match json {
            Json::String(text) => Json::String(self.scrub(&text)),
            Json::Number(number) if number.as_f64().is_some_and(|n| self.numbers.contains(&n)) => {
                Json::String(REDACTED.to_owned())
            }
            Json::Array(items) => Json::Array(
                items
                    .into_iter()
                    .map(|item| self.scrub_json(item))
                    .collect(),
            ),
            Json::Object(map) => Json::Object(
                map.into_iter()
                    .map(|(key, item)| (self.scrub(&key), self.scrub_json(item)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// An operation's error with [`Marks::scrub`] applied to its message.
    pub fn scrub_error(&self, error: OperationError) -> OperationError {
        match error {
            OperationError::Failed(message) => OperationError::Failed(self.scrub(&message)),
            OperationError::Invalid(message) => OperationError::Invalid(self.scrub(&message)),
            OperationError::Cancelled => OperationError::Cancelled,
        }
    }
}

/// A provider's result (created, updated or refreshed attributes, a data source's read) with
/// the sensitive marks of what it was given: an attribute that echoes a sensitive argument
/// (a topic's name, a secret's tags) stays sensitive, so state stores only its keyed hash and
/// plans show `(sensitive value)`. Objects are followed key by key, lists of the same length
/// item by item; elsewhere a value that held any mark is marked whole.
///
/// Identifiers the remote system derives from a sensitive argument (an ARN that embeds a
/// sensitive name) are not marked: refresh and destroy find the object by them, and state
/// keeps only a hash of what is marked.
pub fn carry_marks(given: &Value, result: Value) -> Value {
    carry_structure(given, result)
}

fn carry_structure(given: &Value, result: Value) -> Value {
    if !given.contains_sensitive() {
        return result;
    }
    match (given, result) {
        (Value::Sensitive(_), result) => Value::sensitive(result),
        (_, Value::Unknown) => Value::Unknown,
        (Value::Map(given), Value::Map(result)) => Value::Map(
            result
                .into_iter()
                .map(|(key, item)| {
                    let item = match given.get(&key) {
                        Some(given) => carry_structure(given, item),
                        None => item,
                    };
                    (key, item)
                })
                .collect(),
        ),
        (Value::List(given), Value::List(result)) if given.len() == result.len() => Value::List(
            given
                .iter()
                .zip(result)
                .map(|(given, item)| carry_structure(given, item))
                .collect(),
        ),
        (_, result) => Value::sensitive(result),
    }
}

/// The length below which [`Marks::scrub`] leaves a sensitive text in place.
pub const SHORTEST_SCRUBBED: usize = 3;

/// `text` with every occurrence of `secret`, in any ASCII case, replaced by [`REDACTED`];
/// `None` when there is none. ASCII case mapping keeps every byte offset, so the offsets found
/// in the lower-cased copy are the original's.
fn replace_ignoring_ascii_case(text: &str, secret: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let needle = secret.to_ascii_lowercase();
    let mut found = lower.find(&needle)?;
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    loop {
        out.push_str(&text[at..found]);
        out.push_str(REDACTED);
        at = found + needle.len();
        match lower[at..].find(&needle) {
            Some(next) => found = at + next,
            None => break,
        }
    }
    out.push_str(&text[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn scrubbing_ignores_ascii_case() {
        let block = Value::Map(BTreeMap::from([(
            "security_protocol".to_owned(),
            Value::sensitive(Value::string("SASL_PLAINTEXT")),
        )]));
        let marks = Marks::of(&block);
        assert_eq!(
            marks.scrub("connect to sasl_plaintext://127.0.0.1:1 and Sasl_Plaintext failed"),
            format!("connect to {REDACTED}://127.0.0.1:1 and {REDACTED} failed")
        );
        assert_eq!(marks.scrub("nothing here: é SASL"), "nothing here: é SASL");
    }

    fn block() -> Value {
        Value::Map(BTreeMap::from([
            (
                "name".to_owned(),
                Value::sensitive(Value::string("orders-7f3a")),
            ),
            ("partitions".to_owned(), Value::int(3)),
            (
                "servers".to_owned(),
                Value::List(vec![
                    Value::string("a:9092"),
                    Value::sensitive(Value::string("hidden-7f3a:9092")),
                ]),
            ),
            (
                "timeouts".to_owned(),
                Value::Map(BTreeMap::from([(
                    "create".to_owned(),
                    Value::sensitive(Value::string("30m")),
                )])),
            ),
        ]))
    }

    #[test]
    fn an_argument_is_shown_unless_it_or_any_part_of_it_is_sensitive() {
        let marks = Marks::of(&block());
        assert_eq!(format!("{}", marks.show("partitions", 3)), "3");
        assert_eq!(format!("{:?}", marks.show("name", "orders-7f3a")), REDACTED);
        assert_eq!(format!("{}", marks.show("servers", "a:9092")), REDACTED);
        assert_eq!(
            format!("{}", marks.show("timeouts.create", "30m")),
            REDACTED
        );
        assert!(marks.is_sensitive("timeouts"));
        assert!(!marks.is_sensitive("config"));
        let whole = Marks::of(&Value::sensitive(block()));
        assert!(whole.is_sensitive("partitions"));
        assert!(format!("{marks:?}").find("7f3a").is_none());
    }

    #[test]
    fn scrub_replaces_every_sensitive_text_of_the_block() {
        let marks = Marks::of(&block());
        assert_eq!(
            marks.scrub("Failed to resolve 'hidden-7f3a:9092' for orders-7f3a after 30m"),
            "Failed to resolve '(sensitive)' for (sensitive) after (sensitive)"
        );
        assert_eq!(marks.scrub("a:9092 is fine"), "a:9092 is fine");
    }

    #[test]
    fn results_keep_the_marks_of_what_they_were_given() {
        let given = block();
        let result = Value::Map(BTreeMap::from([
            ("name".to_owned(), Value::string("orders-7f3a")),
            ("partitions".to_owned(), Value::int(3)),
            ("arn".to_owned(), Value::string("arn:x")),
            (
                "topic_arn".to_owned(),
                Value::string("arn:topic/orders-7f3a/1"),
            ),
            (
                "timeouts".to_owned(),
                Value::Map(BTreeMap::from([(
                    "create".to_owned(),
                    Value::string("30m"),
                )])),
            ),
        ]));
        let carried = carry_marks(&given, result);
        let map = carried.as_map().unwrap();
        assert!(matches!(map["name"], Value::Sensitive(_)));
        assert!(!map["partitions"].contains_sensitive());
        assert!(!map["arn"].contains_sensitive());
        assert!(map["timeouts"].contains_sensitive());
        assert!(!map["timeouts"].as_map().unwrap()["create"].is_null());
    }

    #[test]
    fn json_evidence_is_scrubbed_of_sensitive_strings_keys_and_numbers() {
        let mut given = block();
        if let Value::Map(map) = &mut given {
            map.insert("rate".to_owned(), Value::sensitive(Value::int(73197319)));
        }
        let marks = Marks::of(&given);
        let evidence = serde_json::json!({
            "summary": "orders-7f3a is quiet",
            "orders-7f3a": { "rate": 73197319.0, "partitions": 3 },
        });
        assert_eq!(
            marks.scrub_json(evidence),
            serde_json::json!({
                "summary": "(sensitive) is quiet",
                "(sensitive)": { "rate": "(sensitive)", "partitions": 3 },
            })
        );
    }

    #[test]
    fn evaluated_values_are_shown_in_their_compact_form_or_redacted() {
        assert_eq!(shown(&Value::string("x")).to_string(), "x");
        assert_eq!(
            shown(&Value::List(vec![Value::int(1), Value::string("a")])).to_string(),
            "[1,\"a\"]"
        );
        let map = Value::Map(BTreeMap::from([(
            "k".to_owned(),
            Value::sensitive(Value::string("v")),
        )]));
        assert_eq!(shown(&map).to_string(), REDACTED);
        assert_eq!(format!("{:?}", shown(&Value::string("x"))), "\"x\"");
    }
}
