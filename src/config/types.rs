//! Type constraints (`string`, `list(string)`, `object({ name = string, port = optional(number, 9092) })`)
//! as written in `variable` blocks and declared by provider schemas, and the conversion of values
//! to them, following Terraform's rules (numbers and bools convert to strings and back, tuples
//! to lists, objects to maps, lists to sets).

use std::collections::BTreeMap;
use std::fmt;

use hcl_edit::Span as _;
use hcl_edit::expr::{Expression, ObjectKey};

use super::value::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Any,
    String,
    Number,
    Bool,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Tuple(Vec<Type>),
    Object(BTreeMap<String, ObjectAttribute>),
}

/// Why a type constraint is invalid, and the part of it at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    pub message: String,
    pub range: Option<std::ops::Range<usize>>,
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

const TYPE_NAMES: &[&str] = &[
    "any", "string", "number", "bool", "list", "set", "map", "tuple", "object",
];

/// `; did you mean "list"?` for a misspelled type name, or nothing.
fn did_you_mean(name: &str) -> String {
    super::schema::suggest(name, TYPE_NAMES.iter().copied())
        .map(|suggestion| format!("; did you mean \"{suggestion}\"?"))
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectAttribute {
    pub ty: Type,
    pub optional: bool,
    pub default: Option<Value>,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::List(inner) => write!(f, "list({inner})"),
            Type::Set(inner) => write!(f, "set({inner})"),
            Type::Map(inner) => write!(f, "map({inner})"),
            Type::Tuple(items) => {
                f.write_str("tuple([")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("])")
            }
            Type::Object(attributes) => {
                f.write_str("object({")?;
                for (index, (name, attribute)) in attributes.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    if attribute.optional {
                        write!(f, "{name} = optional({})", attribute.ty)?;
                    } else {
                        write!(f, "{name} = {}", attribute.ty)?;
                    }
                }
                f.write_str("})")
            }
        }
    }
}

impl Type {
    pub fn list_of(inner: Type) -> Type {
        Type::List(Box::new(inner))
    }

    pub fn set_of(inner: Type) -> Type {
        Type::Set(Box::new(inner))
    }

    pub fn map_of(inner: Type) -> Type {
        Type::Map(Box::new(inner))
    }

    /// Parses a type constraint expression. The error points at the sub-expression at fault
    /// (`numbr` in `map(numbr)`).
    pub fn parse(expression: &Expression) -> Result<Type, TypeError> {
        let fail = |message: String, at: &Expression| TypeError {
            message,
            range: at.span(),
        };
        match expression {
            Expression::Variable(ident) => match ident.as_str() {
                "any" => Ok(Type::Any),
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "list" | "set" | "map" => Err(fail(
                    format!(
                        "the type \"{}\" needs an element type, e.g. {}(string)",
                        ident.as_str(),
                        ident.as_str()
                    ),
                    expression,
                )),
                other => Err(fail(
                    format!("unknown type \"{other}\"{}", did_you_mean(other)),
                    expression,
                )),
            },
            Expression::FuncCall(call) => {
                let name = call.name.name.as_str();
                let args: Vec<&Expression> = call.args.iter().collect();
                let single = |args: &[&Expression]| -> Result<Type, TypeError> {
                    match args {
                        [inner] => Type::parse(inner),
                        _ => Err(fail(
                            format!("{name}(...) takes exactly one element type"),
                            expression,
                        )),
                    }
                };
                match name {
                    "list" => Ok(Type::list_of(single(&args)?)),
                    "set" => Ok(Type::set_of(single(&args)?)),
                    "map" => Ok(Type::map_of(single(&args)?)),
                    "tuple" => match args.as_slice() {
                        [Expression::Array(items)] => Ok(Type::Tuple(
                            items.iter().map(Type::parse).collect::<Result<_, _>>()?,
                        )),
                        _ => Err(fail(
                            "tuple(...) takes a list of element types".to_owned(),
                            expression,
                        )),
                    },
                    "object" => match args.as_slice() {
                        [Expression::Object(object)] => {
                            let mut attributes = BTreeMap::new();
                            for (key, value) in object.iter() {
                                let name = object_key_name(key).ok_or_else(|| TypeError {
                                    message: "object attribute names must be identifiers"
                                        .to_owned(),
                                    range: key.span(),
                                })?;
                                attributes.insert(name, parse_object_attribute(value.expr())?);
                            }
                            Ok(Type::Object(attributes))
                        }
                        _ => Err(fail(
                            "object(...) takes an object of attribute types".to_owned(),
                            expression,
                        )),
                    },
                    "optional" => Err(fail(
                        "optional(...) is only allowed for object attributes".to_owned(),
                        expression,
                    )),
                    other => Err(TypeError {
                        message: format!(
                            "unknown type constructor \"{other}\"{}",
                            did_you_mean(other)
                        ),
                        range: call.name.name.span(),
                    }),
                }
            }
            Expression::String(text) => Err(fail(
                format!(
                    "a type constraint is a keyword, not a string: write {} without quotes",
                    text.as_str()
                ),
                expression,
            )),
            _ => Err(fail("a type constraint must be a type keyword like string or a constructor like list(string)".to_owned(), expression)),
        }
    }

    /// Converts a value to this type, or says why it cannot be. The message never quotes a
    /// sensitive value.
    pub fn convert(&self, value: Value) -> Result<Value, String> {
        let (value, sensitive) = value.unmark();
        let converted = self.convert_unmarked(value, sensitive)?;
        Ok(converted.marked(sensitive))
    }

    /// Converts an element of a value whose container was `outer_sensitive`: the element's
    /// own mark is kept, and the container's still keeps its text out of messages.
    fn convert_within(&self, item: Value, outer_sensitive: bool) -> Result<Value, String> {
        let (item, sensitive) = item.unmark();
        let converted = self.convert_unmarked(item, sensitive || outer_sensitive)?;
        Ok(converted.marked(sensitive))
    }

    fn convert_unmarked(&self, value: Value, sensitive: bool) -> Result<Value, String> {
        let describe = |value: &Value| describe(value, sensitive);
        if matches!(value, Value::Unknown | Value::Null) {
            return Ok(value);
        }
        match self {
            Type::Any => Ok(value),
            Type::String => match value {
                Value::String(_) => Ok(value),
                Value::Number(number) => Ok(Value::String(number.to_string())),
                Value::Bool(flag) => Ok(Value::String(flag.to_string())),
                other => Err(format!("string required, got {}", other.type_name())),
            },
            Type::Number => match value {
                Value::Number(_) => Ok(value),
                Value::String(text) => match parse_number(&text) {
                    Some(number) => Ok(Value::Number(number)),
                    None => Err(format!(
                        "number required, got {}",
                        describe(&Value::String(text))
                    )),
                },
                other => Err(format!("number required, got {}", other.type_name())),
            },
            Type::Bool => match value {
                Value::Bool(_) => Ok(value),
                Value::String(text) if text == "true" => Ok(Value::Bool(true)),
                Value::String(text) if text == "false" => Ok(Value::Bool(false)),
                other => Err(format!("bool required, got {}", describe(&other))),
            },
            Type::List(inner) => match value {
                Value::List(items) | Value::Set(items) => {
                    Ok(Value::List(convert_items(inner, items, sensitive)?))
                }
                other => Err(format!(
                    "list of {inner} required, got {}",
                    other.type_name()
                )),
            },
            Type::Set(inner) => match value {
                Value::List(items) | Value::Set(items) => {
                    let items = convert_items(inner, items, sensitive)?;
                    if items.iter().any(|item| !item.is_wholly_known()) {
                        // Uniqueness cannot be decided before the elements are known.
                        return Ok(Value::Unknown);
                    }
                    Ok(Value::set(items))
                }
                other => Err(format!(
                    "set of {inner} required, got {}",
                    other.type_name()
                )),
            },
            Type::Map(inner) => match value {
                Value::Map(map) => {
                    let mut converted = BTreeMap::new();
                    for (key, item) in map {
                        let item = inner
                            .convert_within(item, sensitive)
                            .map_err(|error| format!("element {key:?}: {error}"))?;
                        converted.insert(key, item);
                    }
                    Ok(Value::Map(converted))
                }
                other => Err(format!(
                    "map of {inner} required, got {}",
                    other.type_name()
                )),
            },
            Type::Tuple(types) => match value {
                Value::List(items) | Value::Set(items) if items.len() == types.len() => {
                    let mut converted = Vec::with_capacity(items.len());
                    for (index, (ty, item)) in types.iter().zip(items).enumerate() {
                        converted.push(
                            ty.convert_within(item, sensitive)
                                .map_err(|error| format!("element {index}: {error}"))?,
                        );
                    }
                    Ok(Value::List(converted))
                }
                Value::List(items) | Value::Set(items) => Err(format!(
                    "tuple of {} elements required, got {}",
                    types.len(),
                    items.len()
                )),
                other => Err(format!("tuple required, got {}", other.type_name())),
            },
            Type::Object(attributes) => match value {
                Value::Map(mut map) => {
                    let mut converted = BTreeMap::new();
                    for (name, attribute) in attributes {
                        match map.remove(name) {
                            Some(item) if !item.is_null() => {
                                let item = attribute
                                    .ty
                                    .convert_within(item, sensitive)
                                    .map_err(|error| format!("attribute {name:?}: {error}"))?;
                                converted.insert(name.clone(), item);
                            }
                            Some(_) | None if attribute.optional => {
                                converted.insert(
                                    name.clone(),
                                    attribute.default.clone().unwrap_or(Value::Null),
                                );
                            }
                            Some(null) => {
                                converted.insert(name.clone(), null);
                            }
                            None => return Err(format!("attribute {name:?} is required")),
                        }
                    }
                    Ok(Value::Map(converted))
                }
                other => Err(format!("object required, got {}", other.type_name())),
            },
        }
    }

    /// True for the primitive string type: `-var` and environment values of such variables are
    /// taken literally; others are parsed as HCL expressions.
    pub fn is_string(&self) -> bool {
        matches!(self, Type::String)
    }
}

fn convert_items(inner: &Type, items: Vec<Value>, sensitive: bool) -> Result<Vec<Value>, String> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            inner
                .convert_within(item, sensitive)
                .map_err(|error| format!("element {index}: {error}"))
        })
        .collect()
}

fn describe(value: &Value, sensitive: bool) -> String {
    match value {
        Value::String(_) if sensitive => "a sensitive string".to_owned(),
        Value::String(text) => format!("string {text:?}"),
        other => other.type_name().to_owned(),
    }
}

pub fn parse_number(text: &str) -> Option<hcl::Number> {
    let text = text.trim();
    if let Ok(int) = text.parse::<i64>() {
        return Some(hcl::Number::from(int));
    }
    if let Ok(unsigned) = text.parse::<u64>() {
        return Some(hcl::Number::from(unsigned));
    }
    text.parse::<f64>()
        .ok()
        .filter(|float| float.is_finite())
        .and_then(hcl::Number::from_f64)
}

pub fn object_key_name(key: &ObjectKey) -> Option<String> {
    match key {
        ObjectKey::Ident(ident) => Some(ident.as_str().to_owned()),
        ObjectKey::Expression(Expression::String(text)) => Some(text.as_str().to_owned()),
        ObjectKey::Expression(Expression::Variable(ident)) => Some(ident.as_str().to_owned()),
        ObjectKey::Expression(_) => None,
    }
}

fn parse_object_attribute(expression: &Expression) -> Result<ObjectAttribute, TypeError> {
    if let Expression::FuncCall(call) = expression
        && call.name.name.as_str() == "optional"
    {
        let args: Vec<&Expression> = call.args.iter().collect();
        let (ty, default) = match args.as_slice() {
            [ty] => (Type::parse(ty)?, None),
            [ty, default] => {
                let ty = Type::parse(ty)?;
                let at_default = |message: String| TypeError {
                    message,
                    range: default.span(),
                };
                let value = literal_value(default).ok_or_else(|| {
                    at_default("optional(...) defaults must be literal values".to_owned())
                })?;
                let value = ty
                    .convert(value)
                    .map_err(|message| at_default(format!("invalid default: {message}")))?;
                (ty, Some(value))
            }
            _ => {
                return Err(TypeError {
                    message: "optional(...) takes a type and an optional default".to_owned(),
                    range: expression.span(),
                });
            }
        };
        return Ok(ObjectAttribute {
            ty,
            optional: true,
            default,
        });
    }
    Ok(ObjectAttribute {
        ty: Type::parse(expression)?,
        optional: false,
        default: None,
    })
}

/// The value of a literal expression (no references, no calls), for type defaults.
pub fn literal_value(expression: &Expression) -> Option<Value> {
    Some(match expression {
        Expression::Null(_) => Value::Null,
        Expression::Bool(flag) => Value::Bool(*flag.value()),
        Expression::Number(number) => Value::Number(*number.value()),
        Expression::String(text) => Value::String(text.as_str().to_owned()),
        Expression::Array(items) => {
            Value::List(items.iter().map(literal_value).collect::<Option<_>>()?)
        }
        Expression::Object(object) => Value::Map(
            object
                .iter()
                .map(|(key, value)| Some((object_key_name(key)?, literal_value(value.expr())?)))
                .collect::<Option<_>>()?,
        ),
        Expression::Parenthesis(inner) => literal_value(inner.inner())?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Type, TypeError> {
        let expression: Expression = text.parse().expect("expression");
        Type::parse(&expression)
    }

    #[test]
    fn parses_nested_constraints_and_displays_them() {
        let ty = parse("map(object({ name = string, port = optional(number, 9092) }))").unwrap();
        assert_eq!(
            ty.to_string(),
            "map(object({name = string, port = optional(number)}))"
        );
        assert_eq!(
            parse("lst(string)").unwrap_err().message,
            "unknown type constructor \"lst\"; did you mean \"list\"?"
        );
    }

    #[test]
    fn converts_like_terraform() {
        assert_eq!(Type::String.convert(Value::int(3)), Ok(Value::string("3")));
        assert_eq!(
            Type::Number.convert(Value::string("42")),
            Ok(Value::int(42))
        );
        assert!(Type::Number.convert(Value::string("x")).is_err());
        let set = Type::set_of(Type::String)
            .convert(Value::List(vec![
                Value::string("b"),
                Value::string("a"),
                Value::string("b"),
            ]))
            .unwrap();
        assert_eq!(
            set,
            Value::Set(vec![Value::string("a"), Value::string("b")])
        );
    }

    #[test]
    fn object_defaults_fill_optional_attributes_and_required_ones_are_enforced() {
        let ty = parse("object({ name = string, port = optional(number, 9092) })").unwrap();
        let value = Value::Map([("name".to_owned(), Value::string("a"))].into());
        let converted = ty.convert(value).unwrap();
        assert_eq!(converted.as_map().unwrap()["port"], Value::int(9092));
        let missing = ty.convert(Value::Map(BTreeMap::new())).unwrap_err();
        assert_eq!(missing, "attribute \"name\" is required");
    }

    #[test]
    fn sensitive_marks_survive_conversion() {
        let converted = Type::String
            .convert(Value::sensitive(Value::int(1)))
            .unwrap();
        assert_eq!(converted, Value::sensitive(Value::string("1")));
    }

    #[test]
    fn type_errors_point_at_the_part_at_fault() {
        let text = "map(object({ port = optional(numbr, 9092) }))";
        let error = parse(text).unwrap_err();
        assert_eq!(
            error.message,
            "unknown type \"numbr\"; did you mean \"number\"?"
        );
        assert_eq!(&text[error.range.unwrap()], "numbr");
        let error = parse("\"string\"").unwrap_err();
        assert!(error.message.contains("not a string"), "{}", error.message);
    }

    #[test]
    fn conversion_errors_never_quote_sensitive_values() {
        let secret = Value::sensitive(Value::string("hunter2"));
        let error = Type::Number.convert(secret.clone()).unwrap_err();
        assert_eq!(error, "number required, got a sensitive string");
        let nested = Value::sensitive(Value::List(vec![Value::string("hunter2")]));
        let error = Type::list_of(Type::Bool).convert(nested).unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
        let in_map = Value::Map([("pin".to_owned(), secret)].into());
        let error = Type::map_of(Type::Number).convert(in_map).unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
