//! Built-in types that need no external system. `cutover_data` is Terraform's
//! `terraform_data`: it stores a value, exposes it as `output`, and is replaced when
//! `triggers_replace` changes; it makes the engine testable without Kafka or AWS.

use std::collections::BTreeMap;

use super::{BoxFuture, ProviderContext, ProviderError, ProviderResult, ResourceType};
use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::value::Value;

pub const CUTOVER_DATA: &str = "cutover_data";
/// The provider name of the built-in types: they connect nowhere.
pub const PROVIDER: &str = "builtin";

pub fn cutover_data_schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::optional("input", Type::Any)
                .describe("any value; stored in state and copied to output"),
            AttributeSchema::optional("triggers_replace", Type::Any)
                .forces_replacement()
                .describe("any value; a change replaces the resource"),
            AttributeSchema::computed("output", Type::Any)
                .describe("the input value, once applied"),
            AttributeSchema::computed("id", Type::String)
                .describe("a unique id assigned at creation"),
        ],
        Vec::new(),
    )
}

pub struct CutoverData {
    schema: Schema,
}

impl CutoverData {
    pub fn new() -> Self {
        Self {
            schema: cutover_data_schema(),
        }
    }
}

impl Default for CutoverData {
    fn default() -> Self {
        Self::new()
    }
}

/// The attributes of an object value, taken over without a copy when it is a plain map.
fn into_attributes(value: Value) -> BTreeMap<String, Value> {
    match value {
        Value::Map(map) => map,
        other => other.as_map().cloned().unwrap_or_default(),
    }
}

/// `object` with `output` set to a copy of its `input`.
fn with_output(mut object: BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let input = object.get("input").cloned().unwrap_or(Value::Null);
    object.insert("output".to_owned(), input);
    object
}

/// A random id like Terraform's `terraform_data` (a UUID).
fn new_id() -> ProviderResult<String> {
    let mut bytes = [0u8; 16];
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(|error| ProviderError::Failed(format!("cannot read random bytes: {error}")))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

impl ResourceType for CutoverData {
    fn type_name(&self) -> &'static str {
        CUTOVER_DATA
    }

    fn provider_name(&self) -> &'static str {
        "builtin"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    /// `output` follows `input`: known at plan time whenever the input is.
    fn plan(&self, _prior: Option<&Value>, planned: Value) -> ProviderResult<Value> {
        Ok(Value::Map(with_output(into_attributes(planned))))
    }

    /// The value lives only in state: what state says is what exists, except that `output` is
    /// by definition a copy of `input`. A state edited so that they differ is read back with
    /// `output` restored, which a plan shows as a change made outside cutover (and an apply
    /// records).
    fn read<'a>(
        &'a self,
        _context: &'a ProviderContext,
        prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Option<Value>>> {
        Box::pin(async move {
            let mut live = prior.clone();
            if let Value::Map(object) = &mut live
                && let Some(input) = object.get("input").cloned()
            {
                object.insert("output".to_owned(), input);
            }
            Ok(Some(live))
        })
    }

    fn create<'a>(
        &'a self,
        _context: &'a ProviderContext,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let mut object = with_output(into_attributes(planned.clone()));
            object.insert("id".to_owned(), Value::String(new_id()?));
            Ok(Value::Map(object))
        })
    }

    fn update<'a>(
        &'a self,
        _context: &'a ProviderContext,
        prior: &'a Value,
        planned: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            let id = prior
                .as_map()
                .and_then(|prior| prior.get("id"))
                .cloned()
                .unwrap_or(Value::Null);
            let mut object = with_output(into_attributes(planned.clone()));
            object.insert("id".to_owned(), id);
            Ok(Value::Map(object))
        })
    }

    fn delete<'a>(
        &'a self,
        _context: &'a ProviderContext,
        _prior: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move { Ok(()) })
    }

    fn import<'a>(
        &'a self,
        _context: &'a ProviderContext,
        id: &'a str,
        _config: &'a Value,
    ) -> BoxFuture<'a, ProviderResult<Value>> {
        Box::pin(async move {
            Ok(Value::Map(
                [
                    ("id".to_owned(), Value::string(id)),
                    ("input".to_owned(), Value::Null),
                    ("output".to_owned(), Value::Null),
                    ("triggers_replace".to_owned(), Value::Null),
                ]
                .into(),
            ))
        })
    }
}
