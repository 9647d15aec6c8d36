//! Built-in functions of the configuration language (`jsonencode`, `merge`, `format`, ...) with
//! Terraform's semantics over [`Value`]. Arguments are converted the way Terraform converts them
//! (a number where a string is expected becomes its decimal text, `"true"` where a bool is
//! expected becomes `true`); an unknown argument makes the result unknown, except where
//! Terraform knows better (`length([unknown])` is 1); a sensitive argument makes the whole result
//! sensitive. `try` and `can` need lazy evaluation and live in the evaluator.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use base64::Engine as _;
use sha2::Digest as _;

use super::value::{Number, Value};

pub struct FunctionContext<'a> {
    /// The configuration's root directory (the working directory under `-chdir`): relative
    /// `file()` paths resolve against it, as in Terraform, so `file("${path.module}/x")` works.
    pub base_dir: &'a Path,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionError {
    /// Lower-case message, no trailing period, e.g. "argument 2 must be a string, got list"
    pub message: String,
    /// Index (0-based) of the argument the error is about, when it is about one (the evaluator
    /// points the diagnostic at that argument's span).
    pub argument: Option<usize>,
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FunctionError {}

/// Whether a function of this name exists (for "call to unknown function" diagnostics with a
/// did-you-mean).
pub fn exists(name: &str) -> bool {
    find(name).is_some()
}

/// All function names, sorted (for README and suggestions).
pub fn names() -> &'static [&'static str] {
    static NAMES: LazyLock<Vec<&'static str>> =
        LazyLock::new(|| BUILTINS.iter().map(|builtin| builtin.name).collect());
    &NAMES
}

/// Calls a function. `args` are already evaluated. (`try` and `can` are NOT here: they need
/// lazy evaluation and live in the evaluator.)
pub fn call(
    name: &str,
    args: Vec<Value>,
    context: &FunctionContext<'_>,
) -> Result<Value, FunctionError> {
    let Some(builtin) = find(name) else {
        return Err(error(format!("call to unknown function {}", quoted(name))));
    };
    builtin.signature.check_arity(args.len())?;
    if builtin.handles_marks {
        let call = Call {
            context,
            sensitive: false,
        };
        return (builtin.implementation)(&call, args);
    }

    let mut sensitive = false;
    let args: Vec<Value> = args
        .into_iter()
        .map(|arg| {
            let (arg, marked) = arg.unmark_deep();
            sensitive |= marked;
            arg
        })
        .collect();
    let call = Call { context, sensitive };

    // Like Terraform, every argument is type-checked before an unknown one short-circuits the
    // call, so a type error shows at plan time even next to a value known only after apply.
    let mut unknown = false;
    let mut converted = Vec::with_capacity(args.len());
    for (index, arg) in args.into_iter().enumerate() {
        let param = builtin.signature.param(index);
        match arg {
            Value::Unknown => {
                unknown |= !param.allow_unknown;
                converted.push(Value::Unknown);
            }
            Value::Null if !param.allow_null => {
                return Err(argument_error(
                    index,
                    format!("argument {} must not be null", index + 1),
                ));
            }
            Value::Null => converted.push(Value::Null),
            other => converted.push(convert_argument(&call, other, param.kind, index)?),
        }
    }
    if unknown {
        return Ok(Value::Unknown.marked(sensitive));
    }
    let result = (builtin.implementation)(&call, converted)?;
    Ok(result.marked(sensitive))
}

// ---------------------------------------------------------------------------------------------
// Signatures and the function table

/// What an argument is converted to before the implementation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Any,
    /// A string; numbers and bools are converted to their text.
    String,
    /// A number; strings holding a decimal number are converted.
    Number,
    /// A bool; the strings `"true"` and `"false"` are converted.
    Bool,
    /// A list or tuple.
    Sequence,
    /// A list, tuple or set.
    SequenceOrSet,
    /// A map or object.
    Map,
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::Any => "a value",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Bool => "a bool",
            Kind::Sequence => "a list or tuple",
            Kind::SequenceOrSet => "a list, set or tuple",
            Kind::Map => "a map or object",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Param {
    kind: Kind,
    /// Null reaches the implementation instead of being an error.
    allow_null: bool,
    /// An unknown value reaches the implementation instead of making the result unknown.
    allow_unknown: bool,
}

const fn param(kind: Kind) -> Param {
    Param {
        kind,
        allow_null: false,
        allow_unknown: false,
    }
}

const ANY: Param = param(Kind::Any);
const STRING: Param = param(Kind::String);
const NUMBER: Param = param(Kind::Number);
const SEQUENCE: Param = param(Kind::Sequence);
const COLLECTION: Param = param(Kind::SequenceOrSet);
const MAP: Param = param(Kind::Map);
/// Anything, including null and unknown: the implementation decides.
const ANYTHING: Param = Param {
    kind: Kind::Any,
    allow_null: true,
    allow_unknown: true,
};
const NULLABLE_ANY: Param = Param {
    kind: Kind::Any,
    allow_null: true,
    allow_unknown: false,
};
const NULLABLE_MAP: Param = Param {
    kind: Kind::Map,
    allow_null: true,
    allow_unknown: false,
};

struct Signature {
    required: &'static [Param],
    optional: &'static [Param],
    variadic: Option<Param>,
}

impl Signature {
    const fn fixed(required: &'static [Param]) -> Self {
        Signature {
            required,
            optional: &[],
            variadic: None,
        }
    }

    const fn variadic(required: &'static [Param], rest: Param) -> Self {
        Signature {
            required,
            optional: &[],
            variadic: Some(rest),
        }
    }

    const fn optional(required: &'static [Param], optional: &'static [Param]) -> Self {
        Signature {
            required,
            optional,
            variadic: None,
        }
    }

    fn param(&self, index: usize) -> Param {
        let optional_end = self.required.len() + self.optional.len();
        if index < self.required.len() {
            self.required[index]
        } else if index < optional_end {
            self.optional[index - self.required.len()]
        } else {
            self.variadic.unwrap_or(ANY)
        }
    }

    fn check_arity(&self, given: usize) -> Result<(), FunctionError> {
        let minimum = self.required.len();
        let maximum = (self.variadic.is_none()).then_some(minimum + self.optional.len());
        if given >= minimum && maximum.is_none_or(|maximum| given <= maximum) {
            return Ok(());
        }
        let expected = match maximum {
            None => format!("at least {}", arguments(minimum)),
            Some(maximum) if maximum == minimum => arguments(minimum),
            Some(maximum) if maximum == minimum + 1 => {
                format!("{minimum} or {}", arguments(maximum))
            }
            Some(maximum) => format!("{minimum} to {}", arguments(maximum)),
        };
        Err(FunctionError {
            message: format!("expects {expected}, got {given}"),
            argument: maximum.filter(|maximum| given > *maximum),
        })
    }
}

fn arguments(count: usize) -> String {
    if count == 1 {
        "1 argument".to_owned()
    } else {
        format!("{count} arguments")
    }
}

type Implementation = fn(&Call<'_>, Vec<Value>) -> Result<Value, FunctionError>;

struct Builtin {
    name: &'static str,
    signature: Signature,
    implementation: Implementation,
    /// The implementation sees the marked arguments (`sensitive`, `nonsensitive`, ...).
    handles_marks: bool,
}

const fn builtin(
    name: &'static str,
    signature: Signature,
    implementation: Implementation,
) -> Builtin {
    Builtin {
        name,
        signature,
        implementation,
        handles_marks: false,
    }
}

const fn mark_builtin(name: &'static str, implementation: Implementation) -> Builtin {
    Builtin {
        name,
        signature: Signature::fixed(&[ANYTHING]),
        implementation,
        handles_marks: true,
    }
}

/// Every function, sorted by name (a test keeps it sorted; [`find`] searches it by bisection).
static BUILTINS: &[Builtin] = &[
    builtin("abs", Signature::fixed(&[NUMBER]), abs),
    builtin("alltrue", Signature::fixed(&[COLLECTION]), alltrue),
    builtin("anytrue", Signature::fixed(&[COLLECTION]), anytrue),
    builtin("base64decode", Signature::fixed(&[STRING]), base64decode),
    builtin("base64encode", Signature::fixed(&[STRING]), base64encode),
    builtin("ceil", Signature::fixed(&[NUMBER]), ceil),
    builtin("chomp", Signature::fixed(&[STRING]), chomp),
    builtin(
        "chunklist",
        Signature::fixed(&[COLLECTION, NUMBER]),
        chunklist,
    ),
    builtin("coalesce", Signature::variadic(&[], ANYTHING), coalesce),
    builtin(
        "coalescelist",
        Signature::variadic(&[], ANYTHING),
        coalescelist,
    ),
    builtin("compact", Signature::fixed(&[COLLECTION]), compact),
    builtin("concat", Signature::variadic(&[], SEQUENCE), concat),
    builtin("contains", Signature::fixed(&[COLLECTION, ANY]), contains),
    builtin("distinct", Signature::fixed(&[COLLECTION]), distinct),
    builtin("element", Signature::fixed(&[SEQUENCE, NUMBER]), element),
    builtin("endswith", Signature::fixed(&[STRING, STRING]), endswith),
    builtin("file", Signature::fixed(&[STRING]), file),
    builtin("filebase64", Signature::fixed(&[STRING]), filebase64),
    builtin("fileexists", Signature::fixed(&[STRING]), fileexists),
    builtin("flatten", Signature::fixed(&[COLLECTION]), flatten),
    builtin("floor", Signature::fixed(&[NUMBER]), floor),
    builtin("format", Signature::variadic(&[STRING], ANYTHING), format),
    builtin(
        "formatlist",
        Signature::variadic(&[STRING], ANYTHING),
        formatlist,
    ),
    builtin("indent", Signature::fixed(&[NUMBER, STRING]), indent),
    builtin("index", Signature::fixed(&[SEQUENCE, ANY]), index),
    mark_builtin("issensitive", issensitive),
    builtin("join", Signature::variadic(&[STRING], COLLECTION), join),
    builtin("jsondecode", Signature::fixed(&[STRING]), jsondecode),
    builtin("jsonencode", Signature::fixed(&[ANYTHING]), jsonencode),
    builtin("keys", Signature::fixed(&[MAP]), keys),
    builtin(
        "length",
        Signature::fixed(&[Param {
            kind: Kind::Any,
            allow_null: false,
            allow_unknown: true,
        }]),
        length,
    ),
    builtin(
        "lookup",
        Signature::optional(&[MAP, STRING], &[ANYTHING]),
        lookup,
    ),
    builtin("lower", Signature::fixed(&[STRING]), lower),
    builtin("max", Signature::variadic(&[], NUMBER), max),
    builtin("merge", Signature::variadic(&[], NULLABLE_MAP), merge),
    builtin("min", Signature::variadic(&[], NUMBER), min),
    mark_builtin("nonsensitive", nonsensitive),
    builtin("one", Signature::fixed(&[COLLECTION]), one),
    builtin("parseint", Signature::fixed(&[STRING, NUMBER]), parseint),
    builtin("pow", Signature::fixed(&[NUMBER, NUMBER]), pow),
    builtin(
        "range",
        Signature::optional(&[NUMBER], &[NUMBER, NUMBER]),
        range,
    ),
    builtin("regex", Signature::fixed(&[STRING, STRING]), regex),
    builtin("regexall", Signature::fixed(&[STRING, STRING]), regexall),
    builtin(
        "replace",
        Signature::fixed(&[STRING, STRING, STRING]),
        replace,
    ),
    builtin("reverse", Signature::fixed(&[COLLECTION]), reverse),
    mark_builtin("sensitive", sensitive),
    builtin(
        "setintersection",
        Signature::variadic(&[COLLECTION], COLLECTION),
        setintersection,
    ),
    builtin(
        "setproduct",
        Signature::variadic(&[], COLLECTION),
        setproduct,
    ),
    builtin(
        "setsubtract",
        Signature::fixed(&[COLLECTION, COLLECTION]),
        setsubtract,
    ),
    builtin(
        "setunion",
        Signature::variadic(&[COLLECTION], COLLECTION),
        setunion,
    ),
    builtin("sha256", Signature::fixed(&[STRING]), sha256),
    builtin("signum", Signature::fixed(&[NUMBER]), signum),
    builtin(
        "slice",
        Signature::fixed(&[SEQUENCE, NUMBER, NUMBER]),
        slice,
    ),
    builtin("sort", Signature::fixed(&[COLLECTION]), sort),
    builtin("split", Signature::fixed(&[STRING, STRING]), split),
    builtin(
        "startswith",
        Signature::fixed(&[STRING, STRING]),
        startswith,
    ),
    builtin(
        "strcontains",
        Signature::fixed(&[STRING, STRING]),
        strcontains,
    ),
    builtin("strrev", Signature::fixed(&[STRING]), strrev),
    builtin(
        "substr",
        Signature::fixed(&[STRING, NUMBER, NUMBER]),
        substr,
    ),
    builtin("sum", Signature::fixed(&[COLLECTION]), sum),
    builtin("title", Signature::fixed(&[STRING]), title),
    builtin("tobool", Signature::fixed(&[NULLABLE_ANY]), tobool),
    builtin("tolist", Signature::fixed(&[NULLABLE_ANY]), tolist),
    builtin("tomap", Signature::fixed(&[NULLABLE_ANY]), tomap),
    builtin("tonumber", Signature::fixed(&[NULLABLE_ANY]), tonumber),
    builtin("toset", Signature::fixed(&[NULLABLE_ANY]), toset),
    builtin("tostring", Signature::fixed(&[NULLABLE_ANY]), tostring),
    builtin("trim", Signature::fixed(&[STRING, STRING]), trim),
    builtin(
        "trimprefix",
        Signature::fixed(&[STRING, STRING]),
        trimprefix,
    ),
    builtin("trimspace", Signature::fixed(&[STRING]), trimspace),
    builtin(
        "trimsuffix",
        Signature::fixed(&[STRING, STRING]),
        trimsuffix,
    ),
    builtin("upper", Signature::fixed(&[STRING]), upper),
    builtin("values", Signature::fixed(&[MAP]), values),
    builtin("zipmap", Signature::fixed(&[COLLECTION, SEQUENCE]), zipmap),
];

fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS
        .binary_search_by(|builtin| builtin.name.cmp(name))
        .ok()
        .map(|index| &BUILTINS[index])
}

/// What an implementation knows about the call besides its arguments.
struct Call<'c> {
    context: &'c FunctionContext<'c>,
    /// Some argument was sensitive: messages must not quote argument text.
    sensitive: bool,
}

impl Call<'_> {
    /// Quotes user text for an error message, unless it may be secret.
    fn quote(&self, text: &str) -> String {
        if self.sensitive {
            "(sensitive value)".to_owned()
        } else {
            quoted(text)
        }
    }
}

fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn error(message: impl Into<String>) -> FunctionError {
    FunctionError {
        message: message.into(),
        argument: None,
    }
}

fn argument_error(index: usize, message: impl Into<String>) -> FunctionError {
    FunctionError {
        message: message.into(),
        argument: Some(index),
    }
}

fn type_error(index: usize, kind: Kind, value: &Value) -> FunctionError {
    argument_error(
        index,
        format!(
            "argument {} must be {}, got {}",
            index + 1,
            kind.expected(),
            value.type_name()
        ),
    )
}

/// Returned when an implementation is handed an argument its signature should have ruled out.
fn internal_mismatch() -> FunctionError {
    error("internal error: argument does not match the function signature")
}

// ---------------------------------------------------------------------------------------------
// Conversions

fn convert_argument(
    call: &Call<'_>,
    value: Value,
    kind: Kind,
    index: usize,
) -> Result<Value, FunctionError> {
    let accepted = matches!(
        (&value, kind),
        (_, Kind::Any)
            | (Value::String(_), Kind::String)
            | (Value::Number(_), Kind::Number)
            | (Value::Bool(_), Kind::Bool)
            | (Value::List(_), Kind::Sequence | Kind::SequenceOrSet)
            | (Value::Set(_), Kind::SequenceOrSet)
            | (Value::Map(_), Kind::Map)
    );
    if accepted {
        return Ok(value);
    }
    match kind {
        Kind::String => primitive_to_string(&value)
            .map(Value::String)
            .ok_or_else(|| type_error(index, kind, &value)),
        Kind::Number => match &value {
            Value::String(text) => parse_number(text).map(Value::Number).ok_or_else(|| {
                argument_error(
                    index,
                    format!(
                        "argument {} must be a number, and {} is not a decimal number",
                        index + 1,
                        call.quote(text)
                    ),
                )
            }),
            _ => Err(type_error(index, kind, &value)),
        },
        Kind::Bool => match &value {
            Value::String(text) => parse_bool(text).map(Value::Bool).ok_or_else(|| {
                argument_error(
                    index,
                    format!(
                        "argument {} must be a bool, and {} is neither \"true\" nor \"false\"",
                        index + 1,
                        call.quote(text)
                    ),
                )
            }),
            _ => Err(type_error(index, kind, &value)),
        },
        _ => Err(type_error(index, kind, &value)),
    }
}

/// The text of a string, number or bool (Terraform's conversion to string).
fn primitive_to_string(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number_to_string(number)),
        Value::Bool(value) => Some(value.to_string()),
        _ => None,
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Parses a decimal number the way Terraform converts a string to a number: an optional sign,
/// digits, an optional fraction and exponent; no hexadecimal, no `inf` or `nan`.
fn parse_number(text: &str) -> Option<Number> {
    let plausible = !text.is_empty()
        && text.bytes().any(|byte| byte.is_ascii_digit())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || matches!(byte, b'+' | b'-' | b'.' | b'e' | b'E'));
    if !plausible {
        return None;
    }
    if let Ok(integer) = text.parse::<i64>() {
        return Some(Number::from(integer));
    }
    if let Ok(integer) = text.parse::<u64>() {
        return Some(Number::from(integer));
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

/// Terraform's number-to-string conversion: integers exactly, fractions in plain decimal
/// notation (never an exponent).
fn number_to_string(number: &Number) -> String {
    match numeric(number) {
        Numeric::Integer(integer) => integer.to_string(),
        Numeric::Float(float) => float.to_string(),
    }
}

/// Converts each element to a string (numbers and bools become their text); null and unknown
/// elements are kept for the caller to judge.
fn string_elements(items: Vec<Value>, index: usize) -> Result<Vec<Value>, FunctionError> {
    items
        .into_iter()
        .enumerate()
        .map(|(position, item)| match item {
            Value::Null | Value::Unknown | Value::String(_) => Ok(item),
            other => primitive_to_string(&other)
                .map(Value::String)
                .ok_or_else(|| {
                    argument_error(
                        index,
                        format!(
                            "argument {} must be a list of strings, but element {position} is a {}",
                            index + 1,
                            other.type_name()
                        ),
                    )
                }),
        })
        .collect()
}

fn into_string(value: Value) -> Result<String, FunctionError> {
    match value {
        Value::String(text) => Ok(text),
        _ => Err(internal_mismatch()),
    }
}

fn into_number(value: &Value) -> Result<Numeric, FunctionError> {
    match value {
        Value::Number(number) => Ok(numeric(number)),
        _ => Err(internal_mismatch()),
    }
}

fn into_items(value: Value) -> Result<Vec<Value>, FunctionError> {
    match value {
        Value::List(items) | Value::Set(items) => Ok(items),
        _ => Err(internal_mismatch()),
    }
}

fn into_map(value: Value) -> Result<BTreeMap<String, Value>, FunctionError> {
    match value {
        Value::Map(map) => Ok(map),
        _ => Err(internal_mismatch()),
    }
}

/// Splits the argument vector into exactly `N` values (the arity was checked by [`call`]).
fn take<const N: usize>(args: Vec<Value>) -> Result<[Value; N], FunctionError> {
    args.try_into().map_err(|_| internal_mismatch())
}

/// A set can only be built from wholly known elements: an unknown element might turn out equal
/// to another one, so not even the size is known.
fn any_unknown(items: &[Value]) -> bool {
    !items.iter().all(Value::is_wholly_known)
}

/// The coarse type of a known, non-null value, for unifying element types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    String,
    Number,
    Bool,
    List,
    Set,
    Map,
}

fn shape(value: &Value) -> Option<Shape> {
    match value {
        Value::String(_) => Some(Shape::String),
        Value::Number(_) => Some(Shape::Number),
        Value::Bool(_) => Some(Shape::Bool),
        Value::List(_) => Some(Shape::List),
        Value::Set(_) => Some(Shape::Set),
        Value::Map(_) => Some(Shape::Map),
        Value::Null | Value::Unknown | Value::Sensitive(_) => None,
    }
}

/// Gives the values one type, as Terraform does when it builds a list, set or map from mixed
/// elements: strings win over numbers and bools (which are converted to their text); any other
/// mixture is an error. Null and unknown values fit any type.
fn unify<'v>(values: impl IntoIterator<Item = &'v mut Value>) -> Result<(), ()> {
    let mut values: Vec<&mut Value> = values.into_iter().collect();
    let mut shapes: Vec<Shape> = values.iter().filter_map(|value| shape(value)).collect();
    shapes.sort_by_key(|shape| *shape as u8);
    shapes.dedup();
    match shapes.as_slice() {
        [] | [_] => Ok(()),
        mixed
            if mixed.contains(&Shape::String)
                && mixed
                    .iter()
                    .all(|shape| matches!(shape, Shape::String | Shape::Number | Shape::Bool)) =>
        {
            for value in &mut values {
                if let Some(text) = primitive_to_string(value) {
                    **value = Value::String(text);
                }
            }
            Ok(())
        }
        _ => Err(()),
    }
}

/// Equality as Terraform's `==` sees it; `None` when an unknown value makes it undecidable.
fn values_equal(left: &Value, right: &Value) -> Option<bool> {
    match (left, right) {
        (Value::Unknown, _) | (_, Value::Unknown) => None,
        (Value::List(left), Value::List(right)) | (Value::Set(left), Value::Set(right)) => {
            if left.len() != right.len() {
                return Some(false);
            }
            all_equal(left.iter().zip(right.iter()))
        }
        (Value::Map(left), Value::Map(right)) => {
            if !left.keys().eq(right.keys()) {
                return Some(false);
            }
            all_equal(left.values().zip(right.values()))
        }
        (left, right) => Some(left == right),
    }
}

fn all_equal<'v>(pairs: impl Iterator<Item = (&'v Value, &'v Value)>) -> Option<bool> {
    let mut decided = true;
    for (left, right) in pairs {
        match values_equal(left, right) {
            Some(false) => return Some(false),
            None => decided = false,
            Some(true) => {}
        }
    }
    decided.then_some(true)
}

// ---------------------------------------------------------------------------------------------
// Numbers: integers stay exact (Kafka offsets use all 63 bits); anything else is an f64.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Numeric {
    Integer(i128),
    Float(f64),
}

fn numeric(number: &Number) -> Numeric {
    if let Some(integer) = number.as_i64() {
        Numeric::Integer(i128::from(integer))
    } else if let Some(integer) = number.as_u64() {
        Numeric::Integer(i128::from(integer))
    } else {
        Numeric::Float(number.as_f64().unwrap_or(0.0))
    }
}

impl Numeric {
    fn to_f64(self) -> f64 {
        match self {
            Numeric::Integer(integer) => integer as f64,
            Numeric::Float(float) => float,
        }
    }

    /// The value as a whole number, if it is one.
    fn whole(self) -> Option<i128> {
        match self {
            Numeric::Integer(integer) => Some(integer),
            Numeric::Float(float) if float.fract() == 0.0 && float.abs() < 1.0e38 => {
                Some(float as i128)
            }
            Numeric::Float(_) => None,
        }
    }

    fn compare(self, other: Numeric) -> std::cmp::Ordering {
        match (self, other) {
            (Numeric::Integer(left), Numeric::Integer(right)) => left.cmp(&right),
            (left, right) => left.to_f64().total_cmp(&right.to_f64()),
        }
    }

    fn to_value(self) -> Result<Value, FunctionError> {
        match self {
            Numeric::Integer(integer) => Ok(Value::Number(integer_number(integer))),
            Numeric::Float(float) => Number::from_f64(float)
                .map(Value::Number)
                .ok_or_else(|| error("the result is not a finite number")),
        }
    }
}

fn integer_number(integer: i128) -> Number {
    if let Ok(small) = i64::try_from(integer) {
        Number::from(small)
    } else if let Ok(large) = u64::try_from(integer) {
        Number::from(large)
    } else {
        Number::from_f64(integer as f64).unwrap_or_else(|| Number::from(0))
    }
}

fn whole_argument(value: &Value, index: usize) -> Result<i128, FunctionError> {
    into_number(value)?.whole().ok_or_else(|| {
        argument_error(
            index,
            format!("argument {} must be a whole number", index + 1),
        )
    })
}

fn abs(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [number] = take(args)?;
    match into_number(&number)? {
        Numeric::Integer(integer) => Numeric::Integer(integer.abs()),
        Numeric::Float(float) => Numeric::Float(float.abs()),
    }
    .to_value()
}

fn ceil(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [number] = take(args)?;
    match into_number(&number)? {
        integer @ Numeric::Integer(_) => integer,
        Numeric::Float(float) => Numeric::Float(float.ceil()),
    }
    .to_value()
}

fn floor(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [number] = take(args)?;
    match into_number(&number)? {
        integer @ Numeric::Integer(_) => integer,
        Numeric::Float(float) => Numeric::Float(float.floor()),
    }
    .to_value()
}

fn signum(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [number] = take(args)?;
    let sign = match into_number(&number)? {
        Numeric::Integer(integer) => integer.signum(),
        Numeric::Float(float) if float > 0.0 => 1,
        Numeric::Float(float) if float < 0.0 => -1,
        Numeric::Float(_) => 0,
    };
    Numeric::Integer(sign).to_value()
}

fn pow(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [base, exponent] = take(args)?;
    let (base, exponent) = (into_number(&base)?, into_number(&exponent)?);
    if let (Numeric::Integer(base), Numeric::Integer(exponent)) = (base, exponent) {
        let exact = u32::try_from(exponent)
            .ok()
            .and_then(|exponent| base.checked_pow(exponent))
            .filter(|result| i64::try_from(*result).is_ok() || u64::try_from(*result).is_ok());
        if let Some(result) = exact {
            return Numeric::Integer(result).to_value();
        }
    }
    let result = base.to_f64().powf(exponent.to_f64());
    if result.is_nan() {
        return Err(error("the result is not a real number"));
    }
    if result.is_infinite() {
        return Err(error("the result is too large to represent"));
    }
    Numeric::Float(result).to_value()
}

fn extreme(args: Vec<Value>, wanted: std::cmp::Ordering) -> Result<Value, FunctionError> {
    let mut best: Option<Numeric> = None;
    for arg in &args {
        let candidate = into_number(arg)?;
        if best.is_none_or(|best| candidate.compare(best) == wanted) {
            best = Some(candidate);
        }
    }
    best.ok_or_else(|| error("at least one number is required"))?
        .to_value()
}

fn min(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    extreme(args, std::cmp::Ordering::Less)
}

fn max(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    extreme(args, std::cmp::Ordering::Greater)
}

fn sum(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list] = take(args)?;
    let items = into_items(list)?;
    if items.is_empty() {
        return Err(argument_error(0, "cannot sum an empty list"));
    }
    let mut numbers = Vec::with_capacity(items.len());
    let mut unknown = false;
    for (position, item) in items.iter().enumerate() {
        match item {
            Value::Unknown => unknown = true,
            Value::Number(number) => numbers.push(numeric(number)),
            Value::String(text) if parse_number(text).is_some() => {
                numbers.extend(parse_number(text).as_ref().map(numeric));
            }
            other => {
                return Err(argument_error(
                    0,
                    format!(
                        "argument 1 must be a list, set or tuple of numbers, but element {position} is {}",
                        if other.is_null() {
                            "null"
                        } else {
                            other.type_name()
                        }
                    ),
                ));
            }
        }
    }
    if unknown || any_unknown(&items) {
        return Ok(Value::Unknown);
    }
    let mut total = Numeric::Integer(0);
    for number in numbers {
        total = match (total, number) {
            (Numeric::Integer(left), Numeric::Integer(right)) => left
                .checked_add(right)
                .map_or(Numeric::Float(left as f64 + right as f64), Numeric::Integer),
            (left, right) => Numeric::Float(left.to_f64() + right.to_f64()),
        };
    }
    total.to_value()
}

fn parseint(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text, base] = take(args)?;
    let text = into_string(text)?;
    let base = into_number(&base)?
        .whole()
        .filter(|base| (2..=62).contains(base))
        .ok_or_else(|| {
            argument_error(1, "base must be a whole number between 2 and 62 inclusive")
        })?;
    let base = base as u32;
    let invalid = || {
        argument_error(
            0,
            format!(
                "cannot parse {} as a base {base} integer",
                call.quote(&text)
            ),
        )
    };
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text.as_str()),
    };
    if digits.is_empty() {
        return Err(invalid());
    }
    let mut exact: Option<i128> = Some(0);
    let mut approximate = 0.0f64;
    for character in digits.chars() {
        let digit = match character {
            '0'..='9' => character as u32 - '0' as u32,
            'a'..='z' => character as u32 - 'a' as u32 + 10,
            'A'..='Z' if base <= 36 => character as u32 - 'A' as u32 + 10,
            'A'..='Z' => character as u32 - 'A' as u32 + 36,
            _ => return Err(invalid()),
        };
        if digit >= base {
            return Err(invalid());
        }
        exact = exact
            .and_then(|value| value.checked_mul(i128::from(base)))
            .and_then(|value| value.checked_add(i128::from(digit)));
        approximate = approximate * f64::from(base) + f64::from(digit);
    }
    match exact {
        Some(value) => Numeric::Integer(if negative { -value } else { value }),
        None => Numeric::Float(if negative { -approximate } else { approximate }),
    }
    .to_value()
}

fn range(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    /// Terraform stops at 1024 elements; this tool allows more but still refuses to exhaust memory.
    const LIMIT: usize = 1_000_000;
    let numbers = args
        .iter()
        .map(into_number)
        .collect::<Result<Vec<_>, _>>()?;
    let zero = Numeric::Integer(0);
    let (start, end, step) = match numbers.as_slice() {
        [end] => (zero, *end, default_step(zero, *end)),
        [start, end] => (*start, *end, default_step(*start, *end)),
        [start, end, step] => (*start, *end, *step),
        _ => return Err(internal_mismatch()),
    };
    let descending = match step.compare(zero) {
        std::cmp::Ordering::Equal => return Err(argument_error(2, "step must not be zero")),
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
    };
    if descending && end.compare(start).is_gt() {
        return Err(argument_error(
            1,
            "end must be less than start when step is negative",
        ));
    }
    if !descending && end.compare(start).is_lt() {
        return Err(argument_error(
            1,
            "end must be greater than start when step is positive",
        ));
    }
    let too_many = || {
        error(format!(
            "more than {LIMIT} values would be generated; decrease the difference between start and end or use a larger step"
        ))
    };
    // Refuse early rather than after building a million values.
    let estimated = ((end.to_f64() - start.to_f64()) / step.to_f64()).ceil();
    if estimated > LIMIT as f64 {
        return Err(too_many());
    }
    let mut values = Vec::new();
    for position in 0.. {
        let next = match (start, step) {
            (Numeric::Integer(start), Numeric::Integer(step)) => {
                Numeric::Integer(start + step * position as i128)
            }
            (start, step) => Numeric::Float(start.to_f64() + step.to_f64() * position as f64),
        };
        let done = if descending {
            next.compare(end).is_le()
        } else {
            next.compare(end).is_ge()
        };
        if done {
            break;
        }
        if values.len() >= LIMIT {
            return Err(too_many());
        }
        values.push(next.to_value()?);
    }
    Ok(Value::List(values))
}

fn default_step(start: Numeric, end: Numeric) -> Numeric {
    Numeric::Integer(if end.compare(start).is_lt() { -1 } else { 1 })
}

// ---------------------------------------------------------------------------------------------
// Strings

fn lower(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text] = take(args)?;
    Ok(Value::String(map_case(
        &into_string(text)?,
        char::to_lowercase,
    )))
}

fn upper(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text] = take(args)?;
    Ok(Value::String(map_case(
        &into_string(text)?,
        char::to_uppercase,
    )))
}

/// Go's per-character ("simple") case mapping: a character whose mapping would be several
/// characters (`ß` → `SS`) is kept as it is.
fn map_case<I: Iterator<Item = char> + ExactSizeIterator>(
    text: &str,
    mapping: fn(char) -> I,
) -> String {
    text.chars()
        .map(|character| {
            let mut mapped = mapping(character);
            match (mapped.len(), mapped.next()) {
                (1, Some(single)) => single,
                _ => character,
            }
        })
        .collect()
}

fn title(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text] = take(args)?;
    let text = into_string(text)?;
    // Go's strings.Title: upper-case every letter that follows a separator.
    let is_separator = |character: char| {
        if character.is_ascii() {
            !(character.is_ascii_alphanumeric() || character == '_')
        } else {
            !character.is_alphanumeric() && character.is_whitespace()
        }
    };
    let mut previous = ' ';
    let titled = text
        .chars()
        .map(|character| {
            let mapped = if is_separator(previous) {
                let mut upper = character.to_uppercase();
                match (upper.len(), upper.next()) {
                    (1, Some(single)) => single,
                    _ => character,
                }
            } else {
                character
            };
            previous = character;
            mapped
        })
        .collect();
    Ok(Value::String(titled))
}

fn strrev(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text] = take(args)?;
    let text = into_string(text)?;
    Ok(Value::String(
        grapheme_clusters(&text).into_iter().rev().collect(),
    ))
}

fn trimspace(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text] = take(args)?;
    Ok(Value::String(into_string(text)?.trim().to_owned()))
}

fn trim(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text, cutset] = take(args)?;
    let (text, cutset) = (into_string(text)?, into_string(cutset)?);
    Ok(Value::String(
        text.trim_matches(|character| cutset.contains(character))
            .to_owned(),
    ))
}

fn trimprefix(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text, prefix] = take(args)?;
    let (text, prefix) = (into_string(text)?, into_string(prefix)?);
    Ok(Value::String(
        text.strip_prefix(prefix.as_str())
            .unwrap_or(&text)
            .to_owned(),
    ))
}

fn trimsuffix(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text, suffix] = take(args)?;
    let (text, suffix) = (into_string(text)?, into_string(suffix)?);
    Ok(Value::String(
        text.strip_suffix(suffix.as_str())
            .unwrap_or(&text)
            .to_owned(),
    ))
}

fn chomp(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text] = take(args)?;
    Ok(Value::String(
        into_string(text)?.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

fn startswith(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text, prefix] = take(args)?;
    Ok(Value::Bool(
        into_string(text)?.starts_with(&into_string(prefix)?),
    ))
}

fn endswith(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text, suffix] = take(args)?;
    Ok(Value::Bool(
        into_string(text)?.ends_with(&into_string(suffix)?),
    ))
}

fn strcontains(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text, part] = take(args)?;
    Ok(Value::Bool(
        into_string(text)?.contains(&into_string(part)?),
    ))
}

fn substr(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text, offset, length] = take(args)?;
    let offset = whole_argument(&offset, 1)?;
    let length = whole_argument(&length, 2)?;
    let text = into_string(text)?;
    let clusters = grapheme_clusters(&text);
    let total = clusters.len() as i128;
    let start = if offset < 0 {
        (offset + total).max(0)
    } else {
        offset
    };
    if length == 0 || start >= total {
        return Ok(Value::string(""));
    }
    let rest = &clusters[start as usize..];
    let taken = if length < 0 {
        rest
    } else {
        &rest[..rest
            .len()
            .min(usize::try_from(length).unwrap_or(usize::MAX))]
    };
    Ok(Value::String(taken.concat()))
}

fn indent(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    const LIMIT: i128 = 10_000;
    let [spaces, text] = take(args)?;
    let spaces = whole_argument(&spaces, 0)?;
    if !(0..=LIMIT).contains(&spaces) {
        return Err(argument_error(
            0,
            format!("argument 1 must be between 0 and {LIMIT}"),
        ));
    }
    let text = into_string(text)?;
    let newlines = text.matches('\n').count();
    check_result_size(text.len() + newlines.saturating_mul(spaces as usize))?;
    let padding = " ".repeat(spaces as usize);
    Ok(Value::String(text.replace('\n', &format!("\n{padding}"))))
}

fn split(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [separator, text] = take(args)?;
    let (separator, text) = (into_string(separator)?, into_string(text)?);
    // Go's strings.Split: an empty separator splits after each character.
    let parts: Vec<Value> = if separator.is_empty() {
        text.chars()
            .map(|character| Value::String(character.to_string()))
            .collect()
    } else {
        text.split(separator.as_str()).map(Value::string).collect()
    };
    Ok(Value::List(parts))
}

fn join(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let mut args = args.into_iter();
    let separator = into_string(args.next().ok_or_else(internal_mismatch)?)?;
    let lists = args
        .enumerate()
        .map(|(position, list)| string_elements(into_items(list)?, position + 1))
        .collect::<Result<Vec<_>, _>>()?;
    if lists.is_empty() {
        return Err(error("at least one list is required"));
    }
    if lists.iter().any(|list| any_unknown(list)) {
        return Ok(Value::Unknown);
    }
    let mut parts = Vec::new();
    for (position, list) in lists.iter().enumerate() {
        for (element, item) in list.iter().enumerate() {
            match item {
                Value::String(text) => parts.push(text.as_str()),
                _ if lists.len() > 1 => {
                    return Err(argument_error(
                        position + 1,
                        format!(
                            "element {element} of list {} is null; cannot concatenate null values",
                            position + 1
                        ),
                    ));
                }
                _ => {
                    return Err(argument_error(
                        position + 1,
                        format!("element {element} is null; cannot concatenate null values"),
                    ));
                }
            }
        }
    }
    let bytes: usize = parts.iter().map(|part| part.len()).sum();
    check_result_size(bytes + parts.len().saturating_mul(separator.len()))?;
    Ok(Value::String(parts.join(&separator)))
}

fn replace(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text, search, replacement] = take(args)?;
    let (text, search, replacement) = (
        into_string(text)?,
        into_string(search)?,
        into_string(replacement)?,
    );
    // Like Terraform, a search string between slashes is a regular expression, and `$1` or
    // `${name}` in the replacement refer to its capture groups.
    if search.len() > 1 && search.starts_with('/') && search.ends_with('/') {
        let pattern = compile_regex(call, &search[1..search.len() - 1], 1)?;
        // An estimate (group references may expand further), enough to stop `//` patterns
        // that match between every character from multiplying a large replacement.
        let matches = pattern.find_iter(&text).count();
        check_result_size(text.len() + matches.saturating_mul(replacement.len()))?;
        return Ok(Value::String(
            pattern
                .replace_all(&text, replacement.as_str())
                .into_owned(),
        ));
    }
    let matches = text.matches(search.as_str()).count();
    check_result_size(text.len() + matches.saturating_mul(replacement.len()))?;
    Ok(Value::String(text.replace(&search, &replacement)))
}

/// Results above this size are refused: a configuration has no use for them, and functions
/// like `replace` or `join` could otherwise multiply their inputs into gigabytes.
const MAX_RESULT_BYTES: usize = 64 * 1024 * 1024;

fn check_result_size(bytes: usize) -> Result<(), FunctionError> {
    if bytes > MAX_RESULT_BYTES {
        return Err(error(format!(
            "the result would be larger than {} MiB",
            MAX_RESULT_BYTES / (1024 * 1024)
        )));
    }
    Ok(())
}

fn compile_regex(
    call: &Call<'_>,
    pattern: &str,
    index: usize,
) -> Result<regex::Regex, FunctionError> {
    regex::Regex::new(pattern).map_err(|failure| {
        let reason = match &failure {
            // The syntax error repeats the pattern with a caret under the problem; keep only
            // the closing "error: ..." line (the pattern is in the source already).
            regex::Error::Syntax(text) if !call.sensitive => text
                .lines()
                .rev()
                .find_map(|line| line.strip_prefix("error: "))
                .unwrap_or(text)
                .to_owned(),
            regex::Error::Syntax(_) => "syntax error".to_owned(),
            regex::Error::CompiledTooBig(limit) => {
                format!("the compiled pattern exceeds the size limit of {limit} bytes")
            }
            other => other.to_string(),
        };
        argument_error(index, format!("invalid regular expression: {reason}"))
    })
}

/// The shape of `regex`/`regexall` results, decided by the pattern's capture groups.
enum Captures {
    /// No groups: the whole match as a string.
    Whole,
    /// Unnamed groups: a list of the groups.
    Positional,
    /// Named groups: a map of the groups.
    Named,
}

fn capture_shape(pattern: &regex::Regex) -> Result<Captures, FunctionError> {
    let names: Vec<Option<&str>> = pattern.capture_names().skip(1).collect();
    let named = names.iter().filter(|name| name.is_some()).count();
    match (named, names.len() - named) {
        (0, 0) => Ok(Captures::Whole),
        (0, _) => Ok(Captures::Positional),
        (_, 0) => Ok(Captures::Named),
        _ => Err(argument_error(
            0,
            "invalid regular expression: cannot mix both named and unnamed capture groups",
        )),
    }
}

fn capture_value(
    pattern: &regex::Regex,
    shape: &Captures,
    captures: &regex::Captures<'_>,
) -> Value {
    let group = |index: usize| {
        captures
            .get(index)
            .map_or(Value::Null, |found| Value::string(found.as_str()))
    };
    match shape {
        Captures::Whole => group(0),
        Captures::Positional => Value::List((1..captures.len()).map(group).collect()),
        Captures::Named => Value::Map(
            pattern
                .capture_names()
                .enumerate()
                .filter_map(|(index, name)| Some((name?.to_owned(), group(index))))
                .collect(),
        ),
    }
}

fn regex(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [pattern, text] = take(args)?;
    let pattern = compile_regex(call, &into_string(pattern)?, 0)?;
    let shape = capture_shape(&pattern)?;
    let text = into_string(text)?;
    let captures = pattern
        .captures(&text)
        .ok_or_else(|| error("pattern did not match any part of the given string"))?;
    Ok(capture_value(&pattern, &shape, &captures))
}

fn regexall(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [pattern, text] = take(args)?;
    let pattern = compile_regex(call, &into_string(pattern)?, 0)?;
    let shape = capture_shape(&pattern)?;
    let text = into_string(text)?;
    Ok(Value::List(
        pattern
            .captures_iter(&text)
            .map(|captures| capture_value(&pattern, &shape, &captures))
            .collect(),
    ))
}

fn base64encode(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text] = take(args)?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(into_string(text)?),
    ))
}

fn base64decode(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text] = take(args)?;
    // Go's decoder, which Terraform uses, skips line breaks.
    let text: String = into_string(text)?
        .chars()
        .filter(|character| !matches!(character, '\r' | '\n'))
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|failure| {
            argument_error(
                0,
                format!(
                    "argument 1 is not valid base64: {}",
                    sentence_case(&failure.to_string())
                ),
            )
        })?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        argument_error(
            0,
            "the result of decoding argument 1 is not valid UTF-8; Terraform-style strings hold text only",
        )
    })
}

fn sha256(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text] = take(args)?;
    Ok(Value::String(hex::encode(sha2::Sha256::digest(
        into_string(text)?.as_bytes(),
    ))))
}

/// Lower-cases the first letter and drops a trailing period, as messages here are written.
fn sentence_case(text: &str) -> String {
    let text = text.trim_end_matches('.');
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_lowercase().chain(characters).collect(),
        None => String::new(),
    }
}

/// Splits text into user-perceived characters, as Terraform counts them for `length`, `substr`
/// and `format` widths. An approximation of Unicode grapheme clusters without the tables:
/// combining marks, variation selectors, emoji modifiers and zero-width-joiner sequences join
/// the preceding character, `\r\n` is one character and regional indicators pair into flags.
fn grapheme_clusters(text: &str) -> Vec<&str> {
    fn extends(character: char) -> bool {
        matches!(character as u32,
            0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x0610..=0x061A
            | 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06DC | 0x06DF..=0x06E4
            | 0x0900..=0x0903 | 0x093A..=0x094F | 0x0951..=0x0957 | 0x0962..=0x0963
            | 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E
            | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x200C | 0x20D0..=0x20FF
            | 0x302A..=0x302F | 0x3099..=0x309A | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F
            | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F | 0xE0100..=0xE01EF)
    }
    fn regional_indicator(character: char) -> bool {
        matches!(character as u32, 0x1F1E6..=0x1F1FF)
    }
    const ZERO_WIDTH_JOINER: char = '\u{200D}';

    let mut clusters = Vec::new();
    let mut characters = text.char_indices().peekable();
    while let Some((start, first)) = characters.next() {
        let mut end = start + first.len_utf8();
        if first == '\r' {
            if let Some(&(index, '\n')) = characters.peek() {
                characters.next();
                end = index + 1;
            }
            clusters.push(&text[start..end]);
            continue;
        }
        if first == '\n' {
            clusters.push(&text[start..end]);
            continue;
        }
        if regional_indicator(first) {
            if let Some(&(index, second)) = characters.peek() {
                if regional_indicator(second) {
                    characters.next();
                    end = index + second.len_utf8();
                }
            }
        }
        while let Some(&(index, next)) = characters.peek() {
            if extends(next) {
                characters.next();
                end = index + next.len_utf8();
            } else if next == ZERO_WIDTH_JOINER {
                characters.next();
                end = index + next.len_utf8();
                if let Some(&(index, joined)) = characters.peek() {
                    if !matches!(joined, '\r' | '\n') {
                        characters.next();
                        end = index + joined.len_utf8();
                    }
                }
            } else {
                break;
            }
        }
        clusters.push(&text[start..end]);
    }
    clusters
}

// ---------------------------------------------------------------------------------------------
// format and formatlist

/// Widths and precisions above this are refused: they could only be mistakes, and a few of them
/// would make a string of gigabytes.
const MAX_FORMAT_WIDTH: usize = 10_000;

fn format(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let mut args = args.into_iter();
    let spec = into_string(args.next().ok_or_else(internal_mismatch)?)?;
    let values: Vec<Value> = args.collect();
    if any_unknown(&values) {
        return Ok(Value::Unknown);
    }
    format_values(call, &spec, &values).map(Value::String)
}

fn formatlist(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let mut args = args.into_iter();
    let spec = into_string(args.next().ok_or_else(internal_mismatch)?)?;
    let values: Vec<Value> = args.collect();
    if values.is_empty() {
        return Ok(Value::List(vec![Value::String(format_values(
            call, &spec, &values,
        )?)]));
    }
    // Lists and sets are iterated in step; any other value is repeated on every iteration.
    let mut length: Option<(usize, usize)> = None;
    for (position, value) in values.iter().enumerate() {
        match value {
            Value::Unknown => return Ok(Value::Unknown),
            Value::List(items) | Value::Set(items) => match length {
                None => length = Some((items.len(), position)),
                Some((expected, chooser)) if expected != items.len() => {
                    return Err(argument_error(
                        position + 1,
                        format!(
                            "argument {} has length {}, which is inconsistent with argument {} of length {expected}",
                            position + 2,
                            items.len(),
                            chooser + 2
                        ),
                    ));
                }
                Some(_) => {}
            },
            _ => {}
        }
    }
    let iterations = length.map_or(1, |(length, _)| length);
    let mut results = Vec::with_capacity(iterations);
    for iteration in 0..iterations {
        let arguments: Vec<Value> = values
            .iter()
            .map(|value| match value {
                Value::List(items) | Value::Set(items) => {
                    items.get(iteration).cloned().unwrap_or(Value::Null)
                }
                other => other.clone(),
            })
            .collect();
        if any_unknown(&arguments) {
            results.push(Value::Unknown);
            continue;
        }
        let text = format_values(call, &spec, &arguments).map_err(|failure| FunctionError {
            message: format!("error on format iteration {iteration}: {}", failure.message),
            argument: failure.argument,
        })?;
        results.push(Value::String(text));
    }
    Ok(Value::List(results))
}

/// One `%` sequence of a format string.
#[derive(Debug, Default)]
struct Verb {
    /// The sequence as written, e.g. `%-8.2f`.
    raw: String,
    /// Byte offset of the `%` in the format string.
    offset: usize,
    /// 1-based index of the value it formats.
    argument: usize,
    mode: char,
    zero: bool,
    sharp: bool,
    plus: bool,
    minus: bool,
    space: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// Formats `values` by `spec` with Terraform's verbs. Errors point at the function argument
/// involved (the format string is argument 0, `values[i]` is argument `i + 1`).
fn format_values(call: &Call<'_>, spec: &str, values: &[Value]) -> Result<String, FunctionError> {
    let characters: Vec<(usize, char)> = spec.char_indices().collect();
    let character_at = |position: usize| characters.get(position).map(|(_, character)| *character);
    let offset_at = |position: usize| {
        characters
            .get(position)
            .map_or(spec.len(), |(offset, _)| *offset)
    };
    let mut output = String::with_capacity(spec.len());
    let mut next_argument = 1;
    let mut highest_argument = 0;
    let mut position = 0;
    while let Some(character) = character_at(position) {
        if character != '%' {
            output.push(character);
            position += 1;
            continue;
        }
        if character_at(position + 1) == Some('%') {
            output.push('%');
            position += 2;
            continue;
        }
        let start = position;
        let mut verb = Verb {
            offset: offset_at(start),
            argument: next_argument,
            ..Verb::default()
        };
        position += 1;
        while let Some(flag) = character_at(position) {
            match flag {
                '0' => verb.zero = true,
                '#' => verb.sharp = true,
                '-' => verb.minus = true,
                '+' => verb.plus = true,
                ' ' => verb.space = true,
                _ => break,
            }
            position += 1;
        }
        let invalid = |position: usize| match character_at(position) {
            None => argument_error(
                0,
                format!(
                    "invalid format string starting at offset {}",
                    offset_at(start)
                ),
            ),
            Some(character) => argument_error(
                0,
                format!(
                    "unrecognized format character {} at offset {}",
                    call.quote(&character.to_string()),
                    offset_at(position)
                ),
            ),
        };
        if character_at(position) == Some('[') {
            position += 1;
            let (index, after) = read_decimal(&characters, position);
            match index {
                Some(index) if index > 0 && character_at(after) == Some(']') => {
                    verb.argument = index;
                    position = after + 1;
                }
                _ => return Err(invalid(after)),
            }
        }
        let (width, after) = read_decimal(&characters, position);
        verb.width = width;
        position = after;
        if character_at(position) == Some('.') {
            let (precision, after) = read_decimal(&characters, position + 1);
            verb.precision = Some(precision.unwrap_or(0));
            position = after;
        }
        match character_at(position) {
            Some(mode) if mode.is_ascii_alphabetic() => verb.mode = mode,
            _ => return Err(invalid(position)),
        }
        position += 1;
        verb.raw = spec[verb.offset..offset_at(position)].to_owned();
        if verb.width.unwrap_or(0) > MAX_FORMAT_WIDTH
            || verb.precision.unwrap_or(0) > MAX_FORMAT_WIDTH
        {
            return Err(argument_error(
                0,
                format!(
                    "width or precision of {} at offset {} is larger than the maximum of {MAX_FORMAT_WIDTH}",
                    call.quote(&verb.raw),
                    verb.offset
                ),
            ));
        }
        let Some(value) = values.get(verb.argument - 1) else {
            return Err(argument_error(
                0,
                format!(
                    "not enough arguments for {} at {}: need index {} but have {} total",
                    call.quote(&verb.raw),
                    verb.offset,
                    verb.argument,
                    values.len()
                ),
            ));
        };
        format_verb(call, &verb, value, &mut output)
            .map_err(|reason| argument_error(verb.argument, reason))?;
        highest_argument = highest_argument.max(verb.argument);
        next_argument = verb.argument + 1;
    }
    if highest_argument < values.len() {
        let message = if highest_argument == 0 {
            "too many arguments; no verbs in format string".to_owned()
        } else {
            format!("too many arguments; only {highest_argument} used by format string")
        };
        return Err(argument_error(highest_argument + 1, message));
    }
    Ok(output)
}

/// Reads a decimal number (saturating) at `position`; returns it and the position after it.
fn read_decimal(characters: &[(usize, char)], mut position: usize) -> (Option<usize>, usize) {
    let mut number: Option<usize> = None;
    while let Some(digit) = characters
        .get(position)
        .and_then(|(_, character)| character.to_digit(10))
    {
        number = Some(
            number
                .unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(digit as usize),
        );
        position += 1;
    }
    (number, position)
}

fn format_verb(
    call: &Call<'_>,
    verb: &Verb,
    value: &Value,
    output: &mut String,
) -> Result<(), String> {
    let unsupported = |reason: &str| {
        format!(
            "unsupported value for {} at {}: {reason}",
            call.quote(&verb.raw),
            verb.offset
        )
    };
    if verb.mode != 'v' && value.is_null() {
        return Err(unsupported("null value cannot be formatted"));
    }
    match verb.mode {
        'v' => {
            let text = match value {
                Value::String(text) if !verb.sharp => text.clone(),
                Value::Number(number) if !verb.sharp => number_to_string(number),
                other => json_text(other).ok_or_else(|| unsupported("value is not known"))?,
            };
            output.push_str(&pad_text(verb, text));
        }
        't' => {
            let value = match value {
                Value::Bool(value) => Some(*value),
                Value::String(text) => parse_bool(text),
                _ => None,
            }
            .ok_or_else(|| unsupported("a bool is required"))?;
            output.push_str(if value { "true" } else { "false" });
        }
        'b' | 'd' | 'o' | 'x' | 'X' => {
            let number = number_of(value).ok_or_else(|| unsupported("a number is required"))?;
            let integer = number
                .whole()
                .ok_or_else(|| unsupported("an integer is required"))?;
            output.push_str(&format_integer(verb, integer));
        }
        'e' | 'E' | 'f' | 'g' | 'G' => {
            let number = number_of(value).ok_or_else(|| unsupported("a number is required"))?;
            output.push_str(&format_float(verb, number));
        }
        's' | 'q' => {
            let mut text =
                primitive_to_string(value).ok_or_else(|| unsupported("a string is required"))?;
            if let Some(precision) = verb.precision.filter(|precision| *precision > 0) {
                text = grapheme_clusters(&text)
                    .into_iter()
                    .take(precision)
                    .collect();
            }
            if verb.mode == 'q' {
                text = escape_json_html(&quoted(&text));
            }
            output.push_str(&pad_text(verb, text));
        }
        other => {
            return Err(format!(
                "unsupported format verb {} in {} at offset {}",
                call.quote(&other.to_string()),
                call.quote(&verb.raw),
                verb.offset
            ));
        }
    }
    Ok(())
}

fn number_of(value: &Value) -> Option<Numeric> {
    match value {
        Value::Number(number) => Some(numeric(number)),
        Value::String(text) => parse_number(text).as_ref().map(numeric),
        _ => None,
    }
}

/// Pads to the verb's width, counted in characters as users see them.
fn pad_text(verb: &Verb, text: String) -> String {
    let Some(width) = verb.width else {
        return text;
    };
    let length = grapheme_clusters(&text).len();
    if length >= width {
        return text;
    }
    let padding = if verb.zero { "0" } else { " " }.repeat(width - length);
    if verb.minus {
        text + &padding
    } else {
        padding + &text
    }
}

/// Go's integer formatting: `[padding][sign][prefix][zeros][digits][padding]`.
fn format_integer(verb: &Verb, integer: i128) -> String {
    let magnitude = integer.unsigned_abs();
    let mut digits = match verb.mode {
        'b' => format!("{magnitude:b}"),
        'o' => format!("{magnitude:o}"),
        'x' => format!("{magnitude:x}"),
        'X' => format!("{magnitude:X}"),
        _ => magnitude.to_string(),
    };
    let prefix = match verb.mode {
        'b' if verb.sharp => "0b",
        'o' if verb.sharp => "0",
        'x' if verb.sharp => "0x",
        'X' if verb.sharp => "0X",
        _ => "",
    };
    let sign = sign_text(verb, integer < 0);
    let mut zeros = 0;
    if let Some(precision) = verb.precision {
        if precision == 0 && magnitude == 0 {
            return String::new();
        }
        zeros = precision.saturating_sub(digits.len());
    }
    let length = sign.len() + prefix.len() + zeros + digits.len();
    let (mut left, mut right) = (0, 0);
    if let Some(width) = verb.width.filter(|width| *width > length) {
        let padding = width - length;
        if verb.minus {
            right = padding;
        } else if verb.zero && verb.precision.is_none() {
            zeros = padding;
        } else {
            left = padding;
        }
    }
    digits.insert_str(0, &"0".repeat(zeros));
    format!(
        "{}{sign}{prefix}{digits}{}",
        " ".repeat(left),
        " ".repeat(right)
    )
}

fn sign_text(verb: &Verb, negative: bool) -> &'static str {
    if negative {
        "-"
    } else if verb.plus {
        "+"
    } else if verb.space {
        " "
    } else {
        ""
    }
}

/// Go's `math/big` float formatting for `%e %E %f %g %G` (default precision 6; `%g` without a
/// precision uses the shortest representation).
fn format_float(verb: &Verb, number: Numeric) -> String {
    let negative = number.compare(Numeric::Integer(0)).is_lt();
    let magnitude = match number {
        Numeric::Integer(integer) => Numeric::Integer(integer.abs()),
        Numeric::Float(float) => Numeric::Float(float.abs()),
    };
    let body = match verb.mode {
        'f' => {
            let precision = verb.precision.unwrap_or(6);
            match magnitude {
                // Exact for integers an f64 cannot hold (offsets near 2^63).
                Numeric::Integer(integer) if precision == 0 => integer.to_string(),
                Numeric::Integer(integer) => format!("{integer}.{}", "0".repeat(precision)),
                Numeric::Float(float) => format!("{float:.precision$}"),
            }
        }
        'e' | 'E' => {
            let precision = verb.precision.unwrap_or(6);
            go_exponent(&format!("{:.precision$e}", magnitude.to_f64()))
        }
        _ => format_general(magnitude.to_f64(), verb.precision),
    };
    let body = if verb.mode.is_ascii_uppercase() {
        body.to_uppercase()
    } else {
        body
    };
    let sign = sign_text(verb, negative);
    let length = sign.len() + body.len();
    let padding = verb.width.map_or(0, |width| width.saturating_sub(length));
    if verb.zero {
        format!("{sign}{}{body}", "0".repeat(padding))
    } else if verb.minus {
        format!("{sign}{body}{}", " ".repeat(padding))
    } else {
        format!("{}{sign}{body}", " ".repeat(padding))
    }
}

/// Rewrites Rust's exponent (`1.5e3`, `1.5e-7`) the way Go writes it (`1.5e+03`, `1.5e-07`).
fn go_exponent(rust: &str) -> String {
    match rust.split_once('e') {
        Some((mantissa, exponent)) => {
            let exponent: i32 = exponent.parse().unwrap_or(0);
            let sign = if exponent < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
        }
        None => rust.to_owned(),
    }
}

/// `%g`: scientific notation for large and small exponents, plain decimals otherwise, without
/// trailing zeros (Go's rules; `precision` counts significant digits).
fn format_general(magnitude: f64, precision: Option<usize>) -> String {
    let scientific = match precision {
        None => format!("{magnitude:e}"),
        Some(precision) => format!("{magnitude:.*e}", precision.max(1) - 1),
    };
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        digits.push('0');
    }
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let digit_count = digits.len() as i64;
    let exponent_limit = match precision {
        None => 6,
        Some(precision) => {
            let precision = precision.max(1) as i64;
            if precision > digit_count && digit_count > exponent {
                digit_count
            } else {
                precision
            }
        }
    };
    if exponent < -4 || exponent >= exponent_limit {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        go_exponent(&format!("{mantissa}e{exponent}"))
    } else {
        let fraction_digits = (digit_count - (exponent + 1)).max(0) as usize;
        format!("{magnitude:.fraction_digits$}")
    }
}

/// JSON text the way Terraform's `jsonencode` writes it; `None` for values with unknown parts.
fn json_text(value: &Value) -> Option<String> {
    let json = value.to_json()?;
    Some(escape_json_html(&json.to_string()))
}

/// Go's JSON encoder (and so Terraform's `jsonencode`) escapes `<`, `>`, `&`, U+2028 and U+2029.
/// They can only occur inside JSON strings, so replacing them in the whole text is safe.
fn escape_json_html(json: &str) -> String {
    let mut escaped = String::with_capacity(json.len());
    for character in json.chars() {
        match character {
            '<' => escaped.push_str("\\u003c"),
            '>' => escaped.push_str("\\u003e"),
            '&' => escaped.push_str("\\u0026"),
            '\u{2028}' => escaped.push_str("\\u2028"),
            '\u{2029}' => escaped.push_str("\\u2029"),
            other => escaped.push(other),
        }
    }
    escaped
}

// ---------------------------------------------------------------------------------------------
// Encoding and files

fn jsonencode(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [value] = take(args)?;
    Ok(json_text(&value).map_or(Value::Unknown, Value::String))
}

fn jsondecode(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [text] = take(args)?;
    let json: serde_json::Value = serde_json::from_str(&into_string(text)?)
        .map_err(|failure| argument_error(0, failure.to_string()))?;
    Ok(Value::from_json(&json))
}

/// Resolves a `file()` path: `~/` is the home directory, a relative path is relative to the
/// module's directory.
fn resolve_path(call: &Call<'_>, path: &str) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    call.context.base_dir.join(path)
}

/// The OS's reason without Rust's "(os error N)" suffix.
fn os_reason(failure: &std::io::Error) -> String {
    let text = failure.to_string();
    let text = match text.rfind(" (os error ") {
        Some(index) => text[..index].to_owned(),
        None => text,
    };
    sentence_case(&text)
}

fn read_file(call: &Call<'_>, path: Value) -> Result<(Vec<u8>, PathBuf), FunctionError> {
    use std::io::Read as _;
    let path = crate::config::load::tidy_path(&resolve_path(call, &into_string(path)?));
    // Bounded: `file("/dev/zero")` or a huge file must not be read into memory whole. One
    // read is limited like any function result, all reads together by the budget.
    let allowed = crate::config::budget::file_bytes_left().min(MAX_RESULT_BYTES as u64);
    let read = std::fs::File::open(&path).and_then(|file| {
        let mut bytes = Vec::new();
        file.take(allowed + 1).read_to_end(&mut bytes)?;
        Ok(bytes)
    });
    match read {
        Ok(bytes) if bytes.len() as u64 > allowed => {
            if allowed == MAX_RESULT_BYTES as u64 {
                Err(argument_error(
                    0,
                    format!(
                        "{} is larger than {} MiB, the most a function reads",
                        call.quote(&path.display().to_string()),
                        MAX_RESULT_BYTES / (1024 * 1024)
                    ),
                ))
            } else {
                let message = crate::config::budget::charge_file_bytes(bytes.len() as u64)
                    .err()
                    .unwrap_or_default();
                Err(argument_error(0, message))
            }
        }
        Ok(bytes) => {
            crate::config::budget::charge_file_bytes(bytes.len() as u64)
                .map_err(|message| argument_error(0, message))?;
            Ok((bytes, path))
        }
        Err(failure) => Err(argument_error(
            0,
            format!(
                "cannot read file {}: {}",
                call.quote(&path.display().to_string()),
                os_reason(&failure)
            ),
        )),
    }
}

fn file(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [path] = take(args)?;
    let (bytes, path) = read_file(call, path)?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        argument_error(
            0,
            format!(
                "contents of {} are not valid UTF-8; use filebase64 to read binary files",
                call.quote(&path.display().to_string())
            ),
        )
    })
}

fn filebase64(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [path] = take(args)?;
    let (bytes, _) = read_file(call, path)?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(bytes),
    ))
}

fn fileexists(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [path] = take(args)?;
    let path = resolve_path(call, &into_string(path)?);
    match std::fs::metadata(&path) {
        Ok(metadata) if metadata.is_file() => Ok(Value::Bool(true)),
        Ok(_) => Err(argument_error(
            0,
            format!(
                "{} exists but is not a regular file",
                call.quote(&path.display().to_string())
            ),
        )),
        Err(failure) if failure.kind() == std::io::ErrorKind::NotFound => Ok(Value::Bool(false)),
        Err(failure) => Err(argument_error(
            0,
            format!(
                "cannot check file {}: {}",
                call.quote(&path.display().to_string()),
                os_reason(&failure)
            ),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Sensitivity

fn sensitive(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [value] = take(args)?;
    Ok(Value::sensitive(value.unmark_deep().0))
}

fn nonsensitive(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [value] = take(args)?;
    Ok(value.unmark_deep().0)
}

fn issensitive(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [value] = take(args)?;
    Ok(if value.contains_sensitive() {
        Value::Bool(true)
    } else if !value.is_wholly_known() {
        // It might still become sensitive once known.
        Value::Unknown
    } else {
        Value::Bool(false)
    })
}

// ---------------------------------------------------------------------------------------------
// Type conversions

fn tostring(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [value] = take(args)?;
    if value.is_null() {
        return Ok(Value::Null);
    }
    primitive_to_string(&value)
        .map(Value::String)
        .ok_or_else(|| {
            argument_error(
                0,
                format!(
                    "argument 1 must be a string, number or bool, got {}",
                    value.type_name()
                ),
            )
        })
}

fn tonumber(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [value] = take(args)?;
    match value {
        Value::Null | Value::Number(_) => Ok(value),
        other => convert_argument(call, other, Kind::Number, 0),
    }
}

fn tobool(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [value] = take(args)?;
    match value {
        Value::Null | Value::Bool(_) => Ok(value),
        other => convert_argument(call, other, Kind::Bool, 0),
    }
}

fn single_type_error(target: &str) -> FunctionError {
    argument_error(
        0,
        format!(
            "argument 1 cannot be converted to a {target}: all elements must have the same type"
        ),
    )
}

fn tolist(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [value] = take(args)?;
    match value {
        Value::Null => Ok(Value::Null),
        Value::List(mut items) | Value::Set(mut items) => {
            unify(items.iter_mut()).map_err(|()| single_type_error("list"))?;
            Ok(Value::List(items))
        }
        other => Err(type_error(0, Kind::SequenceOrSet, &other)),
    }
}

fn toset(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [value] = take(args)?;
    match value {
        Value::Null => Ok(Value::Null),
        Value::List(mut items) | Value::Set(mut items) => {
            unify(items.iter_mut()).map_err(|()| single_type_error("set"))?;
            if any_unknown(&items) {
                return Ok(Value::Unknown);
            }
            Ok(Value::set(items))
        }
        other => Err(type_error(0, Kind::SequenceOrSet, &other)),
    }
}

fn tomap(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [value] = take(args)?;
    match value {
        Value::Null => Ok(Value::Null),
        Value::Map(mut map) => {
            unify(map.values_mut()).map_err(|()| single_type_error("map"))?;
            Ok(Value::Map(map))
        }
        other => Err(type_error(0, Kind::Map, &other)),
    }
}

// ---------------------------------------------------------------------------------------------
// Collections

fn length(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [value] = take(args)?;
    let count = match &value {
        Value::Unknown => return Ok(Value::Unknown),
        Value::String(text) => grapheme_clusters(text).len(),
        Value::List(items) => items.len(),
        // Unknown elements might equal others once known, so the size is not known yet.
        Value::Set(items) if any_unknown(items) => return Ok(Value::Unknown),
        Value::Set(items) => items.len(),
        Value::Map(map) => map.len(),
        other => {
            return Err(argument_error(
                0,
                format!(
                    "argument 1 must be a string, list, set or map, got {}",
                    other.type_name()
                ),
            ));
        }
    };
    Numeric::Integer(count as i128).to_value()
}

fn keys(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [map] = take(args)?;
    Ok(Value::List(
        into_map(map)?.into_keys().map(Value::String).collect(),
    ))
}

fn values(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [map] = take(args)?;
    Ok(Value::List(into_map(map)?.into_values().collect()))
}

fn lookup(call: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let mut args = args.into_iter();
    let mut map = into_map(args.next().ok_or_else(internal_mismatch)?)?;
    let key = into_string(args.next().ok_or_else(internal_mismatch)?)?;
    let default = args.next();
    match (map.remove(&key), default) {
        (Some(found), _) => Ok(found),
        (None, Some(default)) => Ok(default),
        (None, None) => Err(argument_error(
            1,
            format!("lookup failed to find key {}", call.quote(&key)),
        )),
    }
}

fn merge(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    if !args.is_empty() && args.iter().all(Value::is_null) {
        return Ok(Value::Null);
    }
    let mut merged = BTreeMap::new();
    for arg in args {
        if let Value::Map(map) = arg {
            merged.extend(map);
        }
    }
    Ok(Value::Map(merged))
}

fn concat(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    if args.is_empty() {
        return Err(error("at least one argument is required"));
    }
    let mut joined = Vec::new();
    for arg in args {
        joined.extend(into_items(arg)?);
    }
    Ok(Value::List(joined))
}

fn flatten(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    /// Returns false when an unknown element might be a list that would have been flattened.
    fn flatten_into(items: Vec<Value>, output: &mut Vec<Value>) -> bool {
        for item in items {
            match item {
                Value::Unknown => return false,
                Value::List(inner) | Value::Set(inner) => {
                    if !flatten_into(inner, output) {
                        return false;
                    }
                }
                other => output.push(other),
            }
        }
        true
    }
    let [list] = take(args)?;
    let mut flattened = Vec::new();
    Ok(if flatten_into(into_items(list)?, &mut flattened) {
        Value::List(flattened)
    } else {
        Value::Unknown
    })
}

fn distinct(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list] = take(args)?;
    let items = into_items(list)?;
    if any_unknown(&items) {
        return Ok(Value::Unknown);
    }
    let mut unique: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    Ok(Value::List(unique))
}

fn contains(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list, wanted] = take(args)?;
    let items = into_items(list)?;
    if items.is_empty() {
        return Ok(Value::Bool(false));
    }
    let mut undecided = false;
    for item in &items {
        match values_equal(item, &wanted) {
            Some(true) => return Ok(Value::Bool(true)),
            Some(false) => {}
            None => undecided = true,
        }
    }
    Ok(if undecided {
        Value::Unknown
    } else {
        Value::Bool(false)
    })
}

fn element(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list, index] = take(args)?;
    let index = whole_argument(&index, 1)?;
    if index < 0 {
        return Err(argument_error(
            1,
            "cannot use element function with a negative index",
        ));
    }
    let mut items = into_items(list)?;
    if items.is_empty() {
        return Err(argument_error(
            0,
            "cannot use element function with an empty list",
        ));
    }
    let position = (index % items.len() as i128) as usize;
    Ok(items.swap_remove(position))
}

fn index(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list, wanted] = take(args)?;
    let items = into_items(list)?;
    if items.is_empty() {
        return Err(argument_error(0, "cannot search an empty list"));
    }
    for (position, item) in items.iter().enumerate() {
        match values_equal(item, &wanted) {
            Some(true) => return Numeric::Integer(position as i128).to_value(),
            Some(false) => {}
            None => return Ok(Value::Unknown),
        }
    }
    Err(argument_error(1, "item not found"))
}

fn reverse(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list] = take(args)?;
    let mut items = into_items(list)?;
    items.reverse();
    Ok(Value::List(items))
}

fn sort(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list] = take(args)?;
    let items = string_elements(into_items(list)?, 0)?;
    if any_unknown(&items) {
        return Ok(Value::Unknown);
    }
    let mut texts = Vec::with_capacity(items.len());
    for (position, item) in items.into_iter().enumerate() {
        match item {
            Value::String(text) => texts.push(text),
            _ => {
                return Err(argument_error(
                    0,
                    format!("element {position} is null; a null string cannot be sorted"),
                ));
            }
        }
    }
    texts.sort();
    Ok(Value::List(texts.into_iter().map(Value::String).collect()))
}

fn slice(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list, start, end] = take(args)?;
    let start = whole_argument(&start, 1)?;
    let end = whole_argument(&end, 2)?;
    let items = into_items(list)?;
    let length = items.len() as i128;
    if start < 0 {
        return Err(argument_error(1, "start index must not be less than zero"));
    }
    if start > length {
        return Err(argument_error(
            1,
            "start index must not be greater than the length of the list",
        ));
    }
    if end < 0 {
        return Err(argument_error(2, "end index must not be less than zero"));
    }
    if end > length {
        return Err(argument_error(
            2,
            "end index must not be greater than the length of the list",
        ));
    }
    if start > end {
        return Err(argument_error(
            1,
            "start index must not be greater than end index",
        ));
    }
    Ok(Value::List(items[start as usize..end as usize].to_vec()))
}

fn compact(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list] = take(args)?;
    let items = string_elements(into_items(list)?, 0)?;
    if any_unknown(&items) {
        return Ok(Value::Unknown);
    }
    Ok(Value::List(
        items
            .into_iter()
            .filter(|item| matches!(item, Value::String(text) if !text.is_empty()))
            .collect(),
    ))
}

fn chunklist(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list, size] = take(args)?;
    let items = into_items(list)?;
    let size = whole_argument(&size, 1)?;
    if size < 0 {
        return Err(argument_error(1, "the size argument must be positive"));
    }
    if items.is_empty() {
        return Ok(Value::List(Vec::new()));
    }
    if size == 0 {
        return Ok(Value::List(vec![Value::List(items)]));
    }
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    Ok(Value::List(
        items
            .chunks(size)
            .map(|chunk| Value::List(chunk.to_vec()))
            .collect(),
    ))
}

fn zipmap(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [keys, values] = take(args)?;
    let keys = string_elements(into_items(keys)?, 0)?;
    let values = into_items(values)?;
    if any_unknown(&keys) {
        return Ok(Value::Unknown);
    }
    if keys.len() != values.len() {
        return Err(error(format!(
            "number of keys ({}) does not match number of values ({})",
            keys.len(),
            values.len()
        )));
    }
    let mut map = BTreeMap::new();
    for (position, (key, value)) in keys.into_iter().zip(values).enumerate() {
        match key {
            Value::String(key) => {
                map.insert(key, value);
            }
            _ => {
                return Err(argument_error(
                    0,
                    format!("keys list has null value at index {position}"),
                ));
            }
        }
    }
    Ok(Value::Map(map))
}

fn one(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list] = take(args)?;
    let is_set = matches!(list, Value::Set(_));
    let mut items = into_items(list)?;
    if is_set && any_unknown(&items) {
        return Ok(Value::Unknown);
    }
    match items.len() {
        0 => Ok(Value::Null),
        1 => Ok(items.swap_remove(0)),
        _ => Err(argument_error(
            0,
            "must be a list, set, or tuple value with either zero or one elements",
        )),
    }
}

fn bool_elements(items: &[Value]) -> Result<Vec<Option<Option<bool>>>, FunctionError> {
    // Outer None: unknown; inner None: null.
    items
        .iter()
        .enumerate()
        .map(|(position, item)| match item {
            Value::Unknown => Ok(None),
            Value::Null => Ok(Some(None)),
            Value::Bool(value) => Ok(Some(Some(*value))),
            Value::String(text) if parse_bool(text).is_some() => Ok(Some(parse_bool(text))),
            other => Err(argument_error(
                0,
                format!(
                    "argument 1 must be a list of bools, but element {position} is a {}",
                    other.type_name()
                ),
            )),
        })
        .collect()
}

fn alltrue(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list] = take(args)?;
    let mut result = Value::Bool(true);
    for item in bool_elements(&into_items(list)?)? {
        match item {
            None => result = Value::Unknown,
            Some(None | Some(false)) => return Ok(Value::Bool(false)),
            Some(Some(true)) => {}
        }
    }
    Ok(result)
}

fn anytrue(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let [list] = take(args)?;
    let mut result = Value::Bool(false);
    for item in bool_elements(&into_items(list)?)? {
        match item {
            None => result = Value::Unknown,
            Some(Some(true)) => return Ok(Value::Bool(true)),
            Some(None | Some(false)) => {}
        }
    }
    Ok(result)
}

fn coalesce(_: &Call<'_>, mut args: Vec<Value>) -> Result<Value, FunctionError> {
    if args.is_empty() {
        return Err(error("at least one argument is required"));
    }
    unify(args.iter_mut()).map_err(|()| error("all arguments must have the same type"))?;
    for arg in args {
        match arg {
            Value::Unknown => return Ok(Value::Unknown),
            Value::Null => {}
            Value::String(text) if text.is_empty() => {}
            other => return Ok(other),
        }
    }
    Err(error("no non-null, non-empty-string arguments"))
}

fn coalescelist(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    if args.is_empty() {
        return Err(error("at least one argument is required"));
    }
    for (position, arg) in args.iter().enumerate() {
        if !matches!(arg, Value::List(_) | Value::Null | Value::Unknown) {
            return Err(type_error(position, Kind::Sequence, arg));
        }
    }
    for arg in args {
        match arg {
            Value::Unknown => return Ok(Value::Unknown),
            Value::List(items) if !items.is_empty() => return Ok(Value::List(items)),
            _ => {}
        }
    }
    Err(error("no non-null arguments"))
}

/// The arguments of a set function as element lists of one common type; `None` when an element
/// is not wholly known (then neither are the result's elements nor its size).
fn set_arguments(args: Vec<Value>) -> Result<Option<Vec<Vec<Value>>>, FunctionError> {
    let mut sets = args
        .into_iter()
        .map(into_items)
        .collect::<Result<Vec<_>, _>>()?;
    if sets.iter().any(|items| any_unknown(items)) {
        return Ok(None);
    }
    unify(sets.iter_mut().flatten())
        .map_err(|()| error("all elements of the sets must have the same type"))?;
    Ok(Some(sets))
}

fn setunion(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let Some(sets) = set_arguments(args)? else {
        return Ok(Value::Unknown);
    };
    Ok(Value::set(sets.into_iter().flatten().collect()))
}

fn setintersection(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let Some(mut sets) = set_arguments(args)? else {
        return Ok(Value::Unknown);
    };
    let first = if sets.is_empty() {
        Vec::new()
    } else {
        sets.remove(0)
    };
    Ok(Value::set(
        first
            .into_iter()
            .filter(|item| sets.iter().all(|other| other.contains(item)))
            .collect(),
    ))
}

fn setsubtract(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    let Some(sets) = set_arguments(args)? else {
        return Ok(Value::Unknown);
    };
    let [from, removed]: [Vec<Value>; 2] = sets.try_into().map_err(|_| internal_mismatch())?;
    Ok(Value::set(
        from.into_iter()
            .filter(|item| !removed.contains(item))
            .collect(),
    ))
}

fn setproduct(_: &Call<'_>, args: Vec<Value>) -> Result<Value, FunctionError> {
    const LIMIT: usize = 1_000_000;
    if args.len() < 2 {
        return Err(error("at least two arguments are required"));
    }
    let any_set = args.iter().any(|arg| matches!(arg, Value::Set(_)));
    let sets = args
        .into_iter()
        .map(into_items)
        .collect::<Result<Vec<_>, _>>()?;
    let total = sets
        .iter()
        .try_fold(1usize, |total, items| total.checked_mul(items.len()))
        .filter(|total| *total <= LIMIT)
        .ok_or_else(|| error(format!("the product would have more than {LIMIT} elements")))?;
    let mut products: Vec<Vec<Value>> = Vec::with_capacity(total);
    products.push(Vec::new());
    for items in &sets {
        products = products
            .into_iter()
            .flat_map(|prefix| {
                items.iter().map(move |item| {
                    let mut product = prefix.clone();
                    product.push(item.clone());
                    product
                })
            })
            .collect();
    }
    let products: Vec<Value> = products.into_iter().map(Value::List).collect();
    if any_set {
        if any_unknown(&products) {
            return Ok(Value::Unknown);
        }
        Ok(Value::set(products))
    } else {
        Ok(Value::List(products))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: Value = Value::Unknown;

    fn run(name: &str, args: Vec<Value>) -> Result<Value, FunctionError> {
        let context = FunctionContext {
            base_dir: Path::new(env!("CARGO_MANIFEST_DIR")),
        };
        call(name, args, &context)
    }

    fn run_in(directory: &Path, name: &str, args: Vec<Value>) -> Result<Value, FunctionError> {
        call(
            name,
            args,
            &FunctionContext {
                base_dir: directory,
            },
        )
    }

    #[track_caller]
    fn ok(name: &str, args: Vec<Value>) -> Value {
        match run(name, args) {
            Ok(value) => value,
            Err(failure) => panic!("{name}() failed: {}", failure.message),
        }
    }

    #[track_caller]
    fn fails(name: &str, args: Vec<Value>) -> FunctionError {
        match run(name, args) {
            Ok(value) => panic!("{name}() returned {value:?} instead of failing"),
            Err(failure) => failure,
        }
    }

    /// Asserts the failure's message and the argument it points at.
    #[track_caller]
    fn assert_fails(name: &str, args: Vec<Value>, message: &str, argument: Option<usize>) {
        let failure = fails(name, args);
        assert_eq!(failure.message, message, "{name}()");
        assert_eq!(failure.argument, argument, "{name}(): {message}");
    }

    fn s(text: &str) -> Value {
        Value::string(text)
    }

    fn n(number: i64) -> Value {
        Value::int(number)
    }

    fn f(number: f64) -> Value {
        Value::Number(Number::from_f64(number).expect("finite"))
    }

    fn b(value: bool) -> Value {
        Value::Bool(value)
    }

    fn list(items: Vec<Value>) -> Value {
        Value::List(items)
    }

    fn strings(items: &[&str]) -> Value {
        Value::List(items.iter().map(|item| s(item)).collect())
    }

    fn set(items: Vec<Value>) -> Value {
        Value::set(items)
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
        )
    }

    fn secret(value: Value) -> Value {
        Value::sensitive(value)
    }

    fn scratch_directory(name: &str) -> PathBuf {
        let directory =
            std::env::temp_dir().join(format!("cutover-functions-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("create scratch directory");
        directory
    }

    // --- the table and the calling convention -------------------------------------------------

    #[test]
    fn names_are_sorted_unique_and_found() {
        let names = names();
        assert!(names.windows(2).all(|pair| pair[0] < pair[1]), "{names:?}");
        for name in names {
            assert!(exists(name), "{name}");
        }
        for required in [
            "jsonencode",
            "jsondecode",
            "file",
            "format",
            "join",
            "split",
            "length",
            "keys",
            "values",
            "lookup",
            "merge",
            "concat",
            "toset",
            "tolist",
            "tomap",
            "coalesce",
            "contains",
            "regex",
            "replace",
            "lower",
            "upper",
            "min",
            "max",
        ] {
            assert!(exists(required), "{required}");
        }
        assert!(!exists("try"));
        assert!(!exists("can"));
        assert!(!exists("bogus"));
    }

    #[test]
    fn unknown_function_is_an_error() {
        assert_fails("bogus", vec![], "call to unknown function \"bogus\"", None);
    }

    #[test]
    fn arity_is_checked_with_the_expected_counts() {
        assert_fails(
            "upper",
            vec![s("a"), s("b")],
            "expects 1 argument, got 2",
            Some(1),
        );
        assert_fails("upper", vec![], "expects 1 argument, got 0", None);
        assert_fails(
            "setsubtract",
            vec![list(vec![])],
            "expects 2 arguments, got 1",
            None,
        );
        assert_fails(
            "lookup",
            vec![map(vec![])],
            "expects 2 or 3 arguments, got 1",
            None,
        );
        assert_fails(
            "range",
            vec![n(1), n(2), n(3), n(4)],
            "expects 1 to 3 arguments, got 4",
            Some(3),
        );
        assert_fails("format", vec![], "expects at least 1 argument, got 0", None);
    }

    #[test]
    fn type_errors_name_the_argument() {
        assert_fails(
            "upper",
            vec![list(vec![n(1)])],
            "argument 1 must be a string, got list",
            Some(0),
        );
        assert_fails(
            "join",
            vec![s(","), s("a")],
            "argument 2 must be a list, set or tuple, got string",
            Some(1),
        );
        assert_fails(
            "upper",
            vec![Value::Null],
            "argument 1 must not be null",
            Some(0),
        );
        assert_fails(
            "abs",
            vec![b(true)],
            "argument 1 must be a number, got bool",
            Some(0),
        );
    }

    #[test]
    fn type_errors_are_reported_even_next_to_unknown_arguments() {
        assert_fails(
            "replace",
            vec![U, list(vec![]), s("x")],
            "argument 2 must be a string, got list",
            Some(1),
        );
    }

    #[test]
    fn primitive_arguments_are_converted_like_terraform() {
        assert_eq!(ok("upper", vec![n(42)]), s("42"));
        assert_eq!(ok("upper", vec![b(true)]), s("TRUE"));
        assert_eq!(ok("abs", vec![s("-3")]), n(3));
        assert_eq!(ok("alltrue", vec![strings(&["true"])]), b(true));
    }

    #[test]
    fn sensitive_arguments_make_sensitive_results() {
        assert_eq!(ok("upper", vec![secret(s("a"))]), secret(s("A")));
        assert_eq!(ok("upper", vec![secret(U)]), secret(U));
        assert_eq!(ok("length", vec![list(vec![secret(s("x"))])]), secret(n(1)));
        assert_eq!(
            ok(
                "merge",
                vec![map(vec![("a", n(1))]), map(vec![("b", secret(n(2)))])]
            ),
            secret(map(vec![("a", n(1)), ("b", n(2))]))
        );
    }

    #[test]
    fn messages_do_not_quote_sensitive_text() {
        let failure = fails("lookup", vec![map(vec![]), secret(s("hunter2"))]);
        assert_eq!(
            failure.message,
            "lookup failed to find key (sensitive value)"
        );
        let failure = fails("tonumber", vec![secret(s("hunter2"))]);
        assert_eq!(
            failure.message,
            "argument 1 must be a number, and (sensitive value) is not a decimal number"
        );
        let failure = fails("parseint", vec![secret(s("hunter2")), n(10)]);
        assert!(!failure.message.contains("hunter2"), "{}", failure.message);
        let failure = fails("regex", vec![secret(s("(hunter2")), s("x")]);
        assert!(!failure.message.contains("hunter2"), "{}", failure.message);
    }

    /// One valid call of every function (the first argument matters most: the tests below mark
    /// it sensitive or replace it with an unknown value).
    fn samples() -> Vec<(&'static str, Vec<Value>)> {
        vec![
            ("abs", vec![n(-1)]),
            ("alltrue", vec![list(vec![b(true)])]),
            ("anytrue", vec![list(vec![b(true)])]),
            ("base64decode", vec![s("YQ==")]),
            ("base64encode", vec![s("a")]),
            ("ceil", vec![f(1.5)]),
            ("chomp", vec![s("a\n")]),
            ("chunklist", vec![strings(&["a", "b"]), n(1)]),
            ("coalesce", vec![s("a")]),
            ("coalescelist", vec![strings(&["a"])]),
            ("compact", vec![strings(&["a", ""])]),
            ("concat", vec![strings(&["a"]), strings(&["b"])]),
            ("contains", vec![strings(&["a"]), s("a")]),
            ("distinct", vec![strings(&["a", "a"])]),
            ("element", vec![strings(&["a"]), n(0)]),
            ("endswith", vec![s("ab"), s("b")]),
            ("file", vec![s("Cargo.toml")]),
            ("filebase64", vec![s("Cargo.toml")]),
            ("fileexists", vec![s("Cargo.toml")]),
            ("flatten", vec![list(vec![strings(&["a"])])]),
            ("floor", vec![f(1.5)]),
            ("format", vec![s("%s"), s("a")]),
            ("formatlist", vec![s("%s"), strings(&["a"])]),
            ("indent", vec![n(2), s("a\nb")]),
            ("index", vec![strings(&["a"]), s("a")]),
            ("issensitive", vec![s("a")]),
            ("join", vec![s(","), strings(&["a", "b"])]),
            ("jsondecode", vec![s("{}")]),
            ("jsonencode", vec![s("a")]),
            ("keys", vec![map(vec![("a", n(1))])]),
            ("length", vec![s("abc")]),
            ("lookup", vec![map(vec![("a", n(1))]), s("a")]),
            ("lower", vec![s("A")]),
            ("max", vec![n(1), n(2)]),
            ("merge", vec![map(vec![("a", n(1))])]),
            ("min", vec![n(1), n(2)]),
            ("nonsensitive", vec![s("a")]),
            ("one", vec![strings(&["a"])]),
            ("parseint", vec![s("ff"), n(16)]),
            ("pow", vec![n(2), n(3)]),
            ("range", vec![n(3)]),
            ("regex", vec![s("a+"), s("baa")]),
            ("regexall", vec![s("a"), s("aba")]),
            ("replace", vec![s("abc"), s("b"), s("x")]),
            ("reverse", vec![strings(&["a", "b"])]),
            ("sensitive", vec![s("a")]),
            ("setintersection", vec![strings(&["a"]), strings(&["a"])]),
            ("setproduct", vec![strings(&["a"]), strings(&["b"])]),
            ("setsubtract", vec![strings(&["a"]), strings(&["b"])]),
            ("setunion", vec![strings(&["a"]), strings(&["b"])]),
            ("sha256", vec![s("a")]),
            ("signum", vec![n(-4)]),
            ("slice", vec![strings(&["a", "b"]), n(0), n(1)]),
            ("sort", vec![strings(&["b", "a"])]),
            ("split", vec![s(","), s("a,b")]),
            ("startswith", vec![s("ab"), s("a")]),
            ("strcontains", vec![s("abc"), s("b")]),
            ("strrev", vec![s("ab")]),
            ("substr", vec![s("abc"), n(1), n(1)]),
            ("sum", vec![list(vec![n(1), n(2)])]),
            ("title", vec![s("a b")]),
            ("tobool", vec![s("true")]),
            ("tolist", vec![set(vec![s("a")])]),
            ("tomap", vec![map(vec![("a", n(1))])]),
            ("tonumber", vec![s("1")]),
            ("toset", vec![strings(&["a"])]),
            ("tostring", vec![n(1)]),
            ("trim", vec![s("xax"), s("x")]),
            ("trimprefix", vec![s("ab"), s("a")]),
            ("trimspace", vec![s(" a ")]),
            ("trimsuffix", vec![s("ab"), s("b")]),
            ("upper", vec![s("a")]),
            ("values", vec![map(vec![("a", n(1))])]),
            ("zipmap", vec![strings(&["a"]), list(vec![n(1)])]),
        ]
    }

    #[test]
    fn samples_cover_every_function() {
        let covered: Vec<&str> = samples().into_iter().map(|(name, _)| name).collect();
        assert_eq!(covered, names());
    }

    #[test]
    fn every_function_marks_results_of_sensitive_arguments() {
        for (name, mut args) in samples() {
            if matches!(name, "sensitive" | "nonsensitive" | "issensitive") {
                continue;
            }
            args[0] = secret(args[0].clone());
            let result = ok(name, args);
            assert!(
                matches!(result, Value::Sensitive(_)),
                "{name}() gave {result:?}"
            );
        }
    }

    #[test]
    fn every_function_is_unknown_when_its_first_argument_is() {
        for (name, mut args) in samples() {
            if name == "sensitive" {
                continue;
            }
            args[0] = U;
            assert_eq!(ok(name, args), U, "{name}()");
        }
    }

    #[test]
    fn odd_arguments_never_panic() {
        let pool = vec![
            Value::Null,
            U,
            b(true),
            n(-1),
            n(i64::MAX),
            Value::Number(Number::from(u64::MAX)),
            f(1.5),
            s(""),
            s("%v %[9]d %-+# 05.3x 🇩🇪e\u{301}\r\n/(/"),
            list(vec![n(1), s("a"), Value::Null, U]),
            set(vec![s("b"), n(2)]),
            map(vec![("a", n(1)), ("b", U)]),
            secret(s("x")),
        ];
        for name in names() {
            let mut argument_lists: Vec<Vec<Value>> = vec![vec![]];
            for first in &pool {
                argument_lists.push(vec![first.clone()]);
                for second in &pool {
                    argument_lists.push(vec![first.clone(), second.clone()]);
                    for third in &pool {
                        argument_lists.push(vec![first.clone(), second.clone(), third.clone()]);
                    }
                }
            }
            for args in argument_lists {
                let _ = run(name, args);
            }
        }
    }

    // --- encoding -----------------------------------------------------------------------------

    #[test]
    fn jsonencode_sorts_keys_and_writes_integers_plainly() {
        let value = map(vec![
            ("b", n(1)),
            ("a", list(vec![b(true), Value::Null, s("x<y & z>")])),
            ("c", f(1.5)),
            ("d", f(2.0)),
            ("e", n(i64::MAX)),
            ("f", set(vec![s("y"), s("x")])),
        ]);
        assert_eq!(
            ok("jsonencode", vec![value]),
            s(
                r#"{"a":[true,null,"x\u003cy \u0026 z\u003e"],"b":1,"c":1.5,"d":2,"e":9223372036854775807,"f":["x","y"]}"#
            )
        );
        assert_eq!(ok("jsonencode", vec![Value::Null]), s("null"));
        assert_eq!(ok("jsonencode", vec![s("a\"b")]), s(r#""a\"b""#));
    }

    #[test]
    fn jsonencode_of_anything_unknown_is_unknown() {
        assert_eq!(ok("jsonencode", vec![map(vec![("a", U)])]), U);
        assert_eq!(ok("jsonencode", vec![list(vec![list(vec![U])])]), U);
        assert_eq!(
            ok("jsonencode", vec![map(vec![("a", secret(n(1)))])]),
            secret(s(r#"{"a":1}"#))
        );
    }

    #[test]
    fn jsondecode_builds_values_and_reports_serde_errors() {
        assert_eq!(
            ok(
                "jsondecode",
                vec![s(
                    r#"{"a":[1,2.5,"x",true],"b":null,"c":{"d":9223372036854775807}}"#
                )]
            ),
            map(vec![
                ("a", list(vec![n(1), f(2.5), s("x"), b(true)])),
                ("b", Value::Null),
                ("c", map(vec![("d", n(i64::MAX))])),
            ])
        );
        assert_eq!(ok("jsondecode", vec![s("1.0")]), n(1));
        assert_fails(
            "jsondecode",
            vec![s("{")],
            "EOF while parsing an object at line 1 column 1",
            Some(0),
        );
        assert_fails(
            "jsondecode",
            vec![s("[1,]")],
            "trailing comma at line 1 column 4",
            Some(0),
        );
        assert_eq!(ok("jsondecode", vec![secret(s("1"))]), secret(n(1)));
    }

    #[test]
    fn base64_round_trips_and_rejects_bad_input() {
        assert_eq!(
            ok("base64encode", vec![s("Hello World")]),
            s("SGVsbG8gV29ybGQ=")
        );
        assert_eq!(
            ok("base64decode", vec![s("SGVsbG8gV29ybGQ=")]),
            s("Hello World")
        );
        assert_eq!(
            ok("base64decode", vec![s("SGVsbG8g\nV29ybGQ=")]),
            s("Hello World")
        );
        assert_fails(
            "base64decode",
            vec![s("!!!!")],
            "argument 1 is not valid base64: invalid symbol 33, offset 0",
            Some(0),
        );
        assert_fails(
            "base64decode",
            vec![s("/w==")],
            "the result of decoding argument 1 is not valid UTF-8; Terraform-style strings hold text only",
            Some(0),
        );
        assert_eq!(ok("base64encode", vec![U]), U);
    }

    #[test]
    fn sha256_is_lower_case_hex() {
        assert_eq!(
            ok("sha256", vec![s("hello world")]),
            s("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
        );
    }

    // --- files --------------------------------------------------------------------------------

    #[test]
    fn file_reads_text_relative_to_the_module() {
        let directory = scratch_directory("file");
        std::fs::write(directory.join("server.properties"), "num.io.threads=2\n").expect("write");
        std::fs::write(directory.join("binary"), [0xff, 0xfe]).expect("write");
        assert_eq!(
            run_in(&directory, "file", vec![s("server.properties")]),
            Ok(s("num.io.threads=2\n"))
        );
        assert_eq!(
            run_in(&directory, "file", vec![secret(s("server.properties"))]),
            Ok(secret(s("num.io.threads=2\n")))
        );
        let missing = run_in(&directory, "file", vec![s("missing.txt")]).expect_err("missing");
        assert_eq!(
            missing.message,
            format!(
                "cannot read file {}: no such file or directory",
                quoted(&directory.join("missing.txt").display().to_string())
            )
        );
        assert_eq!(missing.argument, Some(0));
        let binary = run_in(&directory, "file", vec![s("binary")]).expect_err("binary");
        assert_eq!(
            binary.message,
            format!(
                "contents of {} are not valid UTF-8; use filebase64 to read binary files",
                quoted(&directory.join("binary").display().to_string())
            )
        );
        assert_eq!(
            run_in(&directory, "filebase64", vec![s("binary")]),
            Ok(s("//4="))
        );
        let hidden = run_in(&directory, "file", vec![secret(s("missing.txt"))]).expect_err("x");
        assert!(
            hidden
                .message
                .starts_with("cannot read file (sensitive value): ")
        );
        assert_eq!(run_in(&directory, "file", vec![U]), Ok(U));
        std::fs::remove_dir_all(&directory).ok();
    }

    #[test]
    fn fileexists_distinguishes_files_missing_paths_and_directories() {
        let directory = scratch_directory("fileexists");
        std::fs::write(directory.join("present"), "x").expect("write");
        std::fs::create_dir_all(directory.join("folder")).expect("mkdir");
        assert_eq!(
            run_in(&directory, "fileexists", vec![s("present")]),
            Ok(b(true))
        );
        assert_eq!(
            run_in(&directory, "fileexists", vec![s("absent")]),
            Ok(b(false))
        );
        let failure = run_in(&directory, "fileexists", vec![s("folder")]).expect_err("dir");
        assert_eq!(
            failure.message,
            format!(
                "{} exists but is not a regular file",
                quoted(&directory.join("folder").display().to_string())
            )
        );
        std::fs::remove_dir_all(&directory).ok();
    }

    // --- format -------------------------------------------------------------------------------

    #[track_caller]
    fn formats(spec: &str, args: Vec<Value>) -> String {
        let mut all = vec![s(spec)];
        all.extend(args);
        match ok("format", all) {
            Value::String(text) => text,
            other => panic!("format({spec:?}) gave {other:?}"),
        }
    }

    #[test]
    fn format_strings_and_general_verbs() {
        assert_eq!(formats("Hello, %s!", vec![s("Ander")]), "Hello, Ander!");
        assert_eq!(formats("%s and %s", vec![n(5), b(true)]), "5 and true");
        assert_eq!(formats("%5s|%-5s|", vec![s("ab"), s("cd")]), "   ab|cd   |");
        assert_eq!(formats("%.2s", vec![s("héllo")]), "hé");
        assert_eq!(formats("%q", vec![s("a\"b<")]), r#""a\"b\u003c""#);
        assert_eq!(formats("%v", vec![list(vec![s("a"), n(1)])]), r#"["a",1]"#);
        assert_eq!(
            formats("%v %v", vec![f(1.5), n(12_345_678)]),
            "1.5 12345678"
        );
        assert_eq!(formats("%v", vec![Value::Null]), "null");
        assert_eq!(formats("%v", vec![b(false)]), "false");
        assert_eq!(formats("%#v", vec![s("x")]), r#""x""#);
        assert_eq!(formats("%t", vec![s("true")]), "true");
        assert_eq!(formats("100%%", vec![]), "100%");
        assert_eq!(formats("%[2]s %[1]s %s", vec![s("a"), s("b")]), "b a b");
        assert_eq!(formats("%3v|", vec![s("🇩🇪")]), "  🇩🇪|");
    }

    #[test]
    fn format_integers() {
        assert_eq!(
            formats("There are %d lights", vec![n(4)]),
            "There are 4 lights"
        );
        assert_eq!(formats("%d", vec![s("12")]), "12");
        assert_eq!(formats("%d", vec![n(i64::MAX)]), "9223372036854775807");
        assert_eq!(formats("%-6d|", vec![n(42)]), "42    |");
        assert_eq!(formats("%06d", vec![n(-42)]), "-00042");
        assert_eq!(formats("%+d % d", vec![n(5), n(5)]), "+5  5");
        assert_eq!(formats("%.3d", vec![n(7)]), "007");
        assert_eq!(
            formats(
                "%x %X %#x %b %o %#o",
                vec![n(255), n(255), n(255), n(5), n(8), n(8)]
            ),
            "ff FF 0xff 101 10 010"
        );
        assert_eq!(formats("%d", vec![f(3.0)]), "3");
    }

    #[test]
    fn format_floats() {
        assert_eq!(formats("%.2f", vec![f(1.23456)]), "1.23");
        assert_eq!(formats("%f", vec![f(1.5)]), "1.500000");
        assert_eq!(formats("%5.1f|", vec![f(1.23456)]), "  1.2|");
        assert_eq!(formats("%08.2f", vec![f(-1.23456)]), "-0001.23");
        assert_eq!(formats("%+.1f", vec![f(2.25)]), "+2.2");
        assert_eq!(
            formats("%f", vec![n(9_007_199_254_740_993)]),
            "9007199254740993.000000"
        );
        assert_eq!(formats("%e", vec![f(1234.5678)]), "1.234568e+03");
        assert_eq!(formats("%E", vec![f(0.000123)]), "1.230000E-04");
        assert_eq!(formats("%g", vec![n(1_234_567)]), "1.234567e+06");
        assert_eq!(
            formats("%g %g %g", vec![f(0.5), n(100_000), f(0.0001)]),
            "0.5 100000 0.0001"
        );
        assert_eq!(formats("%g", vec![f(0.00001)]), "1e-05");
        assert_eq!(formats("%.3g", vec![f(1234.5678)]), "1.23e+03");
        assert_eq!(formats("%.3g", vec![f(1.5)]), "1.5");
        assert_eq!(formats("%G", vec![f(1e-7)]), "1E-07");
        assert_eq!(formats("%g", vec![n(0)]), "0");
    }

    #[test]
    fn format_errors() {
        assert_fails(
            "format",
            vec![s("%d"), f(1.5)],
            "unsupported value for \"%d\" at 0: an integer is required",
            Some(1),
        );
        assert_fails(
            "format",
            vec![s("%s")],
            "not enough arguments for \"%s\" at 0: need index 1 but have 0 total",
            Some(0),
        );
        assert_fails(
            "format",
            vec![s("x"), n(1)],
            "too many arguments; no verbs in format string",
            Some(1),
        );
        assert_fails(
            "format",
            vec![s("%s"), s("a"), s("b")],
            "too many arguments; only 1 used by format string",
            Some(2),
        );
        assert_fails(
            "format",
            vec![s("ab %y"), n(1)],
            "unsupported format verb \"y\" in \"%y\" at offset 3",
            Some(1),
        );
        assert_fails(
            "format",
            vec![s("%"), n(1)],
            "invalid format string starting at offset 0",
            Some(0),
        );
        assert_fails(
            "format",
            vec![s("%!"), n(1)],
            "unrecognized format character \"!\" at offset 1",
            Some(0),
        );
        assert_fails(
            "format",
            vec![s("%s"), Value::Null],
            "unsupported value for \"%s\" at 0: null value cannot be formatted",
            Some(1),
        );
        assert_fails(
            "format",
            vec![s("%s"), list(vec![])],
            "unsupported value for \"%s\" at 0: a string is required",
            Some(1),
        );
        assert_fails(
            "format",
            vec![s("%t"), n(1)],
            "unsupported value for \"%t\" at 0: a bool is required",
            Some(1),
        );
        assert_fails(
            "format",
            vec![s("%d"), s("x")],
            "unsupported value for \"%d\" at 0: a number is required",
            Some(1),
        );
        assert_fails(
            "format",
            vec![s("%99999d"), n(1)],
            "width or precision of \"%99999d\" at offset 0 is larger than the maximum of 10000",
            Some(0),
        );
    }

    #[test]
    fn format_with_unknown_or_sensitive_values() {
        assert_eq!(ok("format", vec![s("%s"), U]), U);
        assert_eq!(ok("format", vec![s("%v"), list(vec![U])]), U);
        assert_eq!(ok("format", vec![s("%s"), secret(s("x"))]), secret(s("x")));
        assert_eq!(ok("format", vec![U, s("x")]), U);
    }

    #[test]
    fn formatlist_iterates_lists_in_step() {
        assert_eq!(
            ok(
                "formatlist",
                vec![s("Hello, %s!"), strings(&["Valentina", "Ander"])]
            ),
            strings(&["Hello, Valentina!", "Hello, Ander!"])
        );
        assert_eq!(
            ok("formatlist", vec![s("%s=%s"), strings(&["a", "b"]), s("x")]),
            strings(&["a=x", "b=x"])
        );
        assert_eq!(ok("formatlist", vec![s("x")]), strings(&["x"]));
        assert_eq!(ok("formatlist", vec![s("%s"), strings(&[])]), strings(&[]));
        assert_eq!(
            ok("formatlist", vec![s("%s"), list(vec![s("a"), U])]),
            list(vec![s("a"), U])
        );
        assert_eq!(ok("formatlist", vec![s("%s"), U]), U);
        assert_fails(
            "formatlist",
            vec![s("%s%s"), strings(&["a"]), strings(&["b", "c"])],
            "argument 3 has length 2, which is inconsistent with argument 2 of length 1",
            Some(2),
        );
        assert_fails(
            "formatlist",
            vec![s("%d"), strings(&["1", "x"])],
            "error on format iteration 1: unsupported value for \"%d\" at 0: a number is required",
            Some(1),
        );
        assert_eq!(
            ok("formatlist", vec![s("%s"), secret(strings(&["a"]))]),
            secret(strings(&["a"]))
        );
    }

    // --- strings ------------------------------------------------------------------------------

    #[test]
    fn join_concatenates_strings() {
        assert_eq!(
            ok(
                "join",
                vec![s(", "), list(vec![s("a"), s("b"), n(1), b(true)])]
            ),
            s("a, b, 1, true")
        );
        assert_eq!(
            ok(
                "join",
                vec![s("-"), strings(&["a"]), set(vec![s("c"), s("b")])]
            ),
            s("a-b-c")
        );
        assert_eq!(ok("join", vec![s(","), strings(&[])]), s(""));
        assert_eq!(ok("join", vec![s(","), list(vec![s("a"), U])]), U);
        assert_fails(
            "join",
            vec![s(","), list(vec![s("a"), Value::Null])],
            "element 1 is null; cannot concatenate null values",
            Some(1),
        );
        assert_fails(
            "join",
            vec![s(","), strings(&["a"]), list(vec![Value::Null])],
            "element 0 of list 2 is null; cannot concatenate null values",
            Some(2),
        );
        assert_fails("join", vec![s(",")], "at least one list is required", None);
        assert_fails(
            "join",
            vec![s(","), list(vec![list(vec![])])],
            "argument 2 must be a list of strings, but element 0 is a list",
            Some(1),
        );
    }

    #[test]
    fn split_follows_go() {
        assert_eq!(
            ok("split", vec![s(","), s("a,b,,c")]),
            strings(&["a", "b", "", "c"])
        );
        assert_eq!(ok("split", vec![s(","), s("")]), strings(&[""]));
        assert_eq!(
            ok("split", vec![s(""), s("abc")]),
            strings(&["a", "b", "c"])
        );
        assert_eq!(ok("split", vec![s(","), U]), U);
    }

    #[test]
    fn case_functions() {
        assert_eq!(ok("lower", vec![s("HÉLLO")]), s("héllo"));
        assert_eq!(ok("upper", vec![s("straße")]), s("STRAßE"));
        assert_eq!(
            ok("title", vec![s("hello world-foo_bar")]),
            s("Hello World-Foo_bar")
        );
        assert_eq!(ok("title", vec![s("ébc déf")]), s("Ébc Déf"));
    }

    #[test]
    fn trimming_functions() {
        assert_eq!(ok("trimspace", vec![s("  hello\n\t")]), s("hello"));
        assert_eq!(ok("trim", vec![s("?!hello?!"), s("!?")]), s("hello"));
        assert_eq!(
            ok("trimprefix", vec![s("helloworld"), s("hello")]),
            s("world")
        );
        assert_eq!(
            ok("trimprefix", vec![s("helloworld"), s("x")]),
            s("helloworld")
        );
        assert_eq!(
            ok("trimsuffix", vec![s("helloworld"), s("world")]),
            s("hello")
        );
        assert_eq!(ok("chomp", vec![s("hello\n\r\n")]), s("hello"));
        assert_eq!(ok("chomp", vec![s("a\nb")]), s("a\nb"));
    }

    #[test]
    fn string_predicates() {
        assert_eq!(ok("startswith", vec![s("hello"), s("he")]), b(true));
        assert_eq!(ok("startswith", vec![s("hello"), s("lo")]), b(false));
        assert_eq!(ok("endswith", vec![s("hello"), s("lo")]), b(true));
        assert_eq!(ok("strcontains", vec![s("hello"), s("ell")]), b(true));
        assert_eq!(ok("strcontains", vec![s("hello"), s("x")]), b(false));
        assert_eq!(ok("startswith", vec![s("hello"), U]), U);
    }

    #[test]
    fn substr_counts_characters() {
        assert_eq!(ok("substr", vec![s("hello world"), n(1), n(4)]), s("ello"));
        assert_eq!(ok("substr", vec![s("🤔🤷"), n(0), n(1)]), s("🤔"));
        assert_eq!(ok("substr", vec![s("hello world"), n(-5), n(3)]), s("wor"));
        assert_eq!(ok("substr", vec![s("hello"), n(2), n(-1)]), s("llo"));
        assert_eq!(ok("substr", vec![s("hello"), n(10), n(2)]), s(""));
        assert_eq!(ok("substr", vec![s("hello"), n(-10), n(2)]), s("he"));
        assert_eq!(ok("substr", vec![s("hello"), n(1), n(0)]), s(""));
        assert_fails(
            "substr",
            vec![s("hello"), f(1.5), n(1)],
            "argument 2 must be a whole number",
            Some(1),
        );
    }

    #[test]
    fn strrev_and_length_keep_combined_characters_together() {
        assert_eq!(ok("strrev", vec![s("hello")]), s("olleh"));
        assert_eq!(ok("strrev", vec![s("e\u{301}x")]), s("xe\u{301}"));
        assert_eq!(ok("length", vec![s("e\u{301}")]), n(1));
        assert_eq!(ok("length", vec![s("🇩🇪🇫🇷")]), n(2));
        assert_eq!(ok("length", vec![s("👩\u{200D}👩\u{200D}👧")]), n(1));
        assert_eq!(ok("length", vec![s("a\r\nb")]), n(3));
    }

    #[test]
    fn indent_pads_all_but_the_first_line() {
        assert_eq!(ok("indent", vec![n(2), s("a\nb\nc")]), s("a\n  b\n  c"));
        assert_fails(
            "indent",
            vec![n(10_000), s(&"\n".repeat(10_000))],
            "the result would be larger than 64 MiB",
            None,
        );
        assert_fails(
            "indent",
            vec![n(-1), s("x")],
            "argument 1 must be between 0 and 10000",
            Some(0),
        );
    }

    #[test]
    fn replace_with_strings_and_regular_expressions() {
        let large = "x".repeat(10_000);
        assert_fails(
            "replace",
            vec![s(&large), s(""), s(&large)],
            "the result would be larger than 64 MiB",
            None,
        );
        assert_fails(
            "replace",
            vec![s(&large), s("//"), s(&large)],
            "the result would be larger than 64 MiB",
            None,
        );
        assert_fails(
            "join",
            vec![s(&large), list(vec![s(""); 10_000])],
            "the result would be larger than 64 MiB",
            None,
        );
        assert_eq!(
            ok("replace", vec![s("1 + 2 + 3"), s("+"), s("-")]),
            s("1 - 2 - 3")
        );
        assert_eq!(
            ok(
                "replace",
                vec![s("hello world"), s("/w.*d/"), s("everybody")]
            ),
            s("hello everybody")
        );
        assert_eq!(
            ok(
                "replace",
                vec![s("a-b c-d"), s("/(\\w)-(\\w)/"), s("$2-$1")]
            ),
            s("b-a d-c")
        );
        assert_eq!(
            ok(
                "replace",
                vec![
                    s("key=value"),
                    s("/(?P<k>\\w+)=(?P<v>\\w+)/"),
                    s("${v}:${k}")
                ]
            ),
            s("value:key")
        );
        assert_eq!(ok("replace", vec![s("a/b"), s("/"), s("|")]), s("a|b"));
        assert_fails(
            "replace",
            vec![s("x"), s("/(/"), s("y")],
            "invalid regular expression: unclosed group",
            Some(1),
        );
    }

    #[test]
    fn regex_shapes_follow_capture_groups() {
        assert_eq!(ok("regex", vec![s("[a-z]+"), s("53017abc")]), s("abc"));
        assert_eq!(
            ok("regex", vec![s("(\\d+)-(\\d+)"), s("10-20")]),
            strings(&["10", "20"])
        );
        assert_eq!(
            ok(
                "regex",
                vec![s("(?P<major>\\d+)\\.(?P<minor>\\d+)"), s("v3.9")]
            ),
            map(vec![("major", s("3")), ("minor", s("9"))])
        );
        assert_eq!(
            ok("regex", vec![s("(a)|(b)"), s("b")]),
            list(vec![Value::Null, s("b")])
        );
        assert_fails(
            "regex",
            vec![s("x"), s("abc")],
            "pattern did not match any part of the given string",
            None,
        );
        assert_fails(
            "regex",
            vec![s("("), s("abc")],
            "invalid regular expression: unclosed group",
            Some(0),
        );
        assert_fails(
            "regex",
            vec![s("(?P<a>x)(y)"), s("xy")],
            "invalid regular expression: cannot mix both named and unnamed capture groups",
            Some(0),
        );
        assert_eq!(ok("regex", vec![s("x"), U]), U);
    }

    #[test]
    fn regexall_lists_every_match() {
        assert_eq!(
            ok("regexall", vec![s("\\d+"), s("a1b22c333")]),
            strings(&["1", "22", "333"])
        );
        assert_eq!(
            ok("regexall", vec![s("(\\w)=(\\d)"), s("a=1,b=2")]),
            list(vec![strings(&["a", "1"]), strings(&["b", "2"])])
        );
        assert_eq!(ok("regexall", vec![s("x"), s("abc")]), strings(&[]));
    }

    // --- conversions --------------------------------------------------------------------------

    #[test]
    fn tostring_tonumber_tobool() {
        assert_eq!(ok("tostring", vec![f(1.5)]), s("1.5"));
        assert_eq!(ok("tostring", vec![f(1.5e-7)]), s("0.00000015"));
        assert_eq!(ok("tostring", vec![b(true)]), s("true"));
        assert_eq!(ok("tostring", vec![Value::Null]), Value::Null);
        assert_fails(
            "tostring",
            vec![list(vec![])],
            "argument 1 must be a string, number or bool, got list",
            Some(0),
        );
        assert_eq!(ok("tonumber", vec![s("42")]), n(42));
        assert_eq!(ok("tonumber", vec![s("1.5e3")]), n(1500));
        assert_eq!(ok("tonumber", vec![s("-0.25")]), f(-0.25));
        assert_eq!(ok("tonumber", vec![s("9223372036854775807")]), n(i64::MAX));
        assert_eq!(ok("tonumber", vec![Value::Null]), Value::Null);
        assert_fails(
            "tonumber",
            vec![s("abc")],
            "argument 1 must be a number, and \"abc\" is not a decimal number",
            Some(0),
        );
        assert_fails(
            "tonumber",
            vec![s("inf")],
            "argument 1 must be a number, and \"inf\" is not a decimal number",
            Some(0),
        );
        assert_fails(
            "tonumber",
            vec![b(true)],
            "argument 1 must be a number, got bool",
            Some(0),
        );
        assert_eq!(ok("tobool", vec![s("false")]), b(false));
        assert_eq!(ok("tobool", vec![b(true)]), b(true));
        assert_fails(
            "tobool",
            vec![s("yes")],
            "argument 1 must be a bool, and \"yes\" is neither \"true\" nor \"false\"",
            Some(0),
        );
        assert_fails(
            "tobool",
            vec![n(1)],
            "argument 1 must be a bool, got number",
            Some(0),
        );
    }

    #[test]
    fn toset_sorts_deduplicates_and_needs_known_elements() {
        assert_eq!(
            ok("toset", vec![strings(&["b", "a", "b"])]),
            set(vec![s("a"), s("b")])
        );
        assert_eq!(
            ok("toset", vec![list(vec![s("a"), n(1)])]),
            set(vec![s("1"), s("a")])
        );
        assert_eq!(ok("toset", vec![list(vec![s("a"), U])]), U);
        assert_eq!(ok("toset", vec![list(vec![list(vec![U])])]), U);
        assert_eq!(ok("toset", vec![Value::Null]), Value::Null);
        assert_fails(
            "toset",
            vec![list(vec![list(vec![]), s("a")])],
            "argument 1 cannot be converted to a set: all elements must have the same type",
            Some(0),
        );
        assert_fails(
            "toset",
            vec![s("a")],
            "argument 1 must be a list, set or tuple, got string",
            Some(0),
        );
    }

    #[test]
    fn tolist_keeps_order_and_unknown_elements() {
        assert_eq!(
            ok("tolist", vec![set(vec![s("b"), s("a")])]),
            strings(&["a", "b"])
        );
        assert_eq!(
            ok("tolist", vec![list(vec![n(1), s("a")])]),
            strings(&["1", "a"])
        );
        assert_eq!(ok("tolist", vec![list(vec![U, n(1)])]), list(vec![U, n(1)]));
        assert_fails(
            "tolist",
            vec![list(vec![n(1), b(true)])],
            "argument 1 cannot be converted to a list: all elements must have the same type",
            Some(0),
        );
        assert_fails(
            "tolist",
            vec![map(vec![])],
            "argument 1 must be a list, set or tuple, got map",
            Some(0),
        );
    }

    #[test]
    fn tomap_is_identity_on_maps() {
        let value = map(vec![("a", n(1)), ("b", U)]);
        assert_eq!(ok("tomap", vec![value.clone()]), value);
        assert_eq!(
            ok("tomap", vec![map(vec![("a", n(1)), ("b", s("x"))])]),
            map(vec![("a", s("1")), ("b", s("x"))])
        );
        assert_fails(
            "tomap",
            vec![list(vec![])],
            "argument 1 must be a map or object, got list",
            Some(0),
        );
    }

    // --- collections --------------------------------------------------------------------------

    #[test]
    fn length_counts_elements_even_when_they_are_unknown() {
        assert_eq!(ok("length", vec![list(vec![U, n(1)])]), n(2));
        assert_eq!(ok("length", vec![map(vec![("a", U)])]), n(1));
        assert_eq!(ok("length", vec![set(vec![s("a"), s("b")])]), n(2));
        assert_eq!(ok("length", vec![Value::Set(vec![s("a"), U])]), U);
        assert_eq!(ok("length", vec![s("héllo")]), n(5));
        assert_eq!(ok("length", vec![U]), U);
        assert_fails(
            "length",
            vec![n(5)],
            "argument 1 must be a string, list, set or map, got number",
            Some(0),
        );
        assert_fails(
            "length",
            vec![Value::Null],
            "argument 1 must not be null",
            Some(0),
        );
    }

    #[test]
    fn keys_and_values_of_maps() {
        let value = map(vec![("b", n(1)), ("a", U)]);
        assert_eq!(ok("keys", vec![value.clone()]), strings(&["a", "b"]));
        assert_eq!(ok("values", vec![value]), list(vec![U, n(1)]));
        assert_eq!(ok("keys", vec![U]), U);
        assert_fails(
            "keys",
            vec![list(vec![])],
            "argument 1 must be a map or object, got list",
            Some(0),
        );
        assert_fails(
            "values",
            vec![set(vec![])],
            "argument 1 must be a map or object, got set",
            Some(0),
        );
    }

    #[test]
    fn lookup_with_and_without_default() {
        let value = map(vec![("a", s("ay")), ("b", U)]);
        assert_eq!(ok("lookup", vec![value.clone(), s("a")]), s("ay"));
        assert_eq!(ok("lookup", vec![value.clone(), s("b")]), U);
        assert_eq!(
            ok("lookup", vec![value.clone(), s("c"), s("what?")]),
            s("what?")
        );
        assert_eq!(ok("lookup", vec![value.clone(), s("a"), U]), s("ay"));
        assert_eq!(ok("lookup", vec![value.clone(), s("c"), U]), U);
        assert_eq!(ok("lookup", vec![value.clone(), U]), U);
        assert_fails(
            "lookup",
            vec![value, s("c")],
            "lookup failed to find key \"c\"",
            Some(1),
        );
        assert_fails(
            "lookup",
            vec![strings(&["a"]), s("a")],
            "argument 1 must be a map or object, got list",
            Some(0),
        );
    }

    #[test]
    fn merge_later_keys_win_and_nulls_are_skipped() {
        assert_eq!(
            ok(
                "merge",
                vec![
                    map(vec![("a", n(1)), ("b", n(2))]),
                    map(vec![("b", n(3)), ("c", U)])
                ]
            ),
            map(vec![("a", n(1)), ("b", n(3)), ("c", U)])
        );
        assert_eq!(ok("merge", vec![]), map(vec![]));
        assert_eq!(
            ok("merge", vec![Value::Null, map(vec![("a", n(1))])]),
            map(vec![("a", n(1))])
        );
        assert_eq!(ok("merge", vec![Value::Null]), Value::Null);
        assert_eq!(ok("merge", vec![map(vec![("a", n(1))]), U]), U);
        assert_fails(
            "merge",
            vec![map(vec![]), list(vec![])],
            "argument 2 must be a map or object, got list",
            Some(1),
        );
    }

    #[test]
    fn concat_joins_lists_keeping_unknown_elements() {
        assert_eq!(
            ok("concat", vec![list(vec![n(1)]), list(vec![n(2), U])]),
            list(vec![n(1), n(2), U])
        );
        assert_eq!(ok("concat", vec![list(vec![n(1)]), U]), U);
        assert_fails("concat", vec![], "at least one argument is required", None);
        assert_fails(
            "concat",
            vec![list(vec![]), set(vec![])],
            "argument 2 must be a list or tuple, got set",
            Some(1),
        );
    }

    #[test]
    fn coalesce_returns_the_first_non_null_non_empty_argument() {
        assert_eq!(
            ok("coalesce", vec![Value::Null, s(""), s("a"), s("b")]),
            s("a")
        );
        assert_eq!(ok("coalesce", vec![Value::Null, U, s("a")]), U);
        assert_eq!(ok("coalesce", vec![s("a"), U]), s("a"));
        assert_eq!(ok("coalesce", vec![n(1), s("x")]), s("1"));
        assert_eq!(ok("coalesce", vec![Value::Null, n(2)]), n(2));
        assert_fails(
            "coalesce",
            vec![Value::Null, s("")],
            "no non-null, non-empty-string arguments",
            None,
        );
        assert_fails(
            "coalesce",
            vec![],
            "at least one argument is required",
            None,
        );
        assert_fails(
            "coalesce",
            vec![list(vec![]), s("a")],
            "all arguments must have the same type",
            None,
        );
    }

    #[test]
    fn coalescelist_returns_the_first_non_empty_list() {
        assert_eq!(
            ok("coalescelist", vec![list(vec![]), strings(&["a"])]),
            strings(&["a"])
        );
        assert_eq!(
            ok("coalescelist", vec![list(vec![]), U, strings(&["a"])]),
            U
        );
        assert_eq!(
            ok("coalescelist", vec![strings(&["a"]), U]),
            strings(&["a"])
        );
        assert_eq!(
            ok("coalescelist", vec![Value::Null, strings(&["a"])]),
            strings(&["a"])
        );
        assert_fails(
            "coalescelist",
            vec![list(vec![]), list(vec![])],
            "no non-null arguments",
            None,
        );
        assert_fails(
            "coalescelist",
            vec![s("a")],
            "argument 1 must be a list or tuple, got string",
            Some(0),
        );
    }

    #[test]
    fn contains_is_unknown_only_when_it_must_be() {
        assert_eq!(ok("contains", vec![strings(&["a", "b"]), s("b")]), b(true));
        assert_eq!(ok("contains", vec![strings(&["a"]), s("c")]), b(false));
        assert_eq!(ok("contains", vec![list(vec![U, s("a")]), s("a")]), b(true));
        assert_eq!(ok("contains", vec![list(vec![U]), s("a")]), U);
        assert_eq!(ok("contains", vec![strings(&["a"]), U]), U);
        assert_eq!(
            ok(
                "contains",
                vec![list(vec![map(vec![("a", n(1))])]), map(vec![("a", n(1))])]
            ),
            b(true)
        );
        assert_eq!(ok("contains", vec![list(vec![n(1)]), s("1")]), b(false));
        assert_eq!(ok("contains", vec![set(vec![n(1)]), n(1)]), b(true));
        assert_fails(
            "contains",
            vec![map(vec![]), s("a")],
            "argument 1 must be a list, set or tuple, got map",
            Some(0),
        );
    }

    #[test]
    fn distinct_keeps_first_occurrences() {
        assert_eq!(
            ok("distinct", vec![strings(&["a", "b", "a", "c"])]),
            strings(&["a", "b", "c"])
        );
        assert_eq!(ok("distinct", vec![list(vec![s("a"), U])]), U);
    }

    #[test]
    fn element_wraps_around() {
        let letters = strings(&["a", "b", "c"]);
        assert_eq!(ok("element", vec![letters.clone(), n(1)]), s("b"));
        assert_eq!(ok("element", vec![letters.clone(), n(3)]), s("a"));
        assert_eq!(ok("element", vec![list(vec![U, s("b")]), n(1)]), s("b"));
        assert_eq!(ok("element", vec![letters.clone(), U]), U);
        assert_fails(
            "element",
            vec![letters, n(-1)],
            "cannot use element function with a negative index",
            Some(1),
        );
        assert_fails(
            "element",
            vec![list(vec![]), n(0)],
            "cannot use element function with an empty list",
            Some(0),
        );
        assert_fails(
            "element",
            vec![set(vec![s("a")]), n(0)],
            "argument 1 must be a list or tuple, got set",
            Some(0),
        );
    }

    #[test]
    fn index_finds_the_first_match() {
        assert_eq!(ok("index", vec![strings(&["a", "b", "b"]), s("b")]), n(1));
        assert_eq!(ok("index", vec![list(vec![U, s("b")]), s("b")]), U);
        assert_eq!(ok("index", vec![list(vec![s("b"), U]), s("b")]), n(0));
        assert_fails(
            "index",
            vec![strings(&["a"]), s("c")],
            "item not found",
            Some(1),
        );
        assert_fails(
            "index",
            vec![list(vec![]), s("c")],
            "cannot search an empty list",
            Some(0),
        );
    }

    #[test]
    fn range_like_terraform() {
        assert_eq!(ok("range", vec![n(3)]), list(vec![n(0), n(1), n(2)]));
        assert_eq!(ok("range", vec![n(1), n(4)]), list(vec![n(1), n(2), n(3)]));
        assert_eq!(
            ok("range", vec![n(1), n(8), n(2)]),
            list(vec![n(1), n(3), n(5), n(7)])
        );
        assert_eq!(ok("range", vec![n(4), n(1)]), list(vec![n(4), n(3), n(2)]));
        assert_eq!(ok("range", vec![n(-3)]), list(vec![n(0), n(-1), n(-2)]));
        assert_eq!(ok("range", vec![n(0)]), list(vec![]));
        assert_eq!(
            ok("range", vec![n(0), n(1), f(0.25)]),
            list(vec![n(0), f(0.25), f(0.5), f(0.75)])
        );
        assert_eq!(
            ok("range", vec![n(i64::MAX - 2), n(i64::MAX)]),
            list(vec![n(i64::MAX - 2), n(i64::MAX - 1)])
        );
        assert_fails(
            "range",
            vec![n(1), n(2), n(0)],
            "step must not be zero",
            Some(2),
        );
        assert_fails(
            "range",
            vec![n(1), n(5), n(-1)],
            "end must be less than start when step is negative",
            Some(1),
        );
        assert_fails(
            "range",
            vec![n(5), n(1), n(1)],
            "end must be greater than start when step is positive",
            Some(1),
        );
        assert_fails(
            "range",
            vec![n(2_000_000)],
            "more than 1000000 values would be generated; decrease the difference between start and end or use a larger step",
            None,
        );
        assert_eq!(ok("range", vec![n(1), U]), U);
    }

    #[test]
    fn reverse_sort_slice() {
        assert_eq!(
            ok("reverse", vec![list(vec![n(1), n(2), n(3)])]),
            list(vec![n(3), n(2), n(1)])
        );
        assert_eq!(
            ok("reverse", vec![set(vec![s("a"), s("b")])]),
            strings(&["b", "a"])
        );
        assert_eq!(
            ok("sort", vec![strings(&["e", "d", "a", "x"])]),
            strings(&["a", "d", "e", "x"])
        );
        assert_eq!(
            ok("sort", vec![list(vec![n(10), n(9)])]),
            strings(&["10", "9"])
        );
        assert_eq!(ok("sort", vec![list(vec![s("a"), U])]), U);
        assert_fails(
            "sort",
            vec![list(vec![s("a"), Value::Null])],
            "element 1 is null; a null string cannot be sorted",
            Some(0),
        );
        let letters = strings(&["a", "b", "c", "d"]);
        assert_eq!(
            ok("slice", vec![letters.clone(), n(1), n(3)]),
            strings(&["b", "c"])
        );
        assert_eq!(ok("slice", vec![letters.clone(), n(4), n(4)]), strings(&[]));
        assert_fails(
            "slice",
            vec![letters.clone(), n(3), n(1)],
            "start index must not be greater than end index",
            Some(1),
        );
        assert_fails(
            "slice",
            vec![letters.clone(), n(0), n(5)],
            "end index must not be greater than the length of the list",
            Some(2),
        );
        assert_fails(
            "slice",
            vec![letters, n(-1), n(2)],
            "start index must not be less than zero",
            Some(1),
        );
        assert_fails(
            "slice",
            vec![set(vec![]), n(0), n(0)],
            "argument 1 must be a list or tuple, got set",
            Some(0),
        );
    }

    #[test]
    fn compact_flatten_chunklist() {
        assert_eq!(
            ok(
                "compact",
                vec![list(vec![s("a"), s(""), Value::Null, s("b")])]
            ),
            strings(&["a", "b"])
        );
        assert_eq!(ok("compact", vec![list(vec![s("a"), U])]), U);
        assert_eq!(
            ok(
                "flatten",
                vec![list(vec![
                    strings(&["a", "b"]),
                    list(vec![]),
                    strings(&["c"])
                ])]
            ),
            strings(&["a", "b", "c"])
        );
        assert_eq!(
            ok(
                "flatten",
                vec![list(vec![list(vec![strings(&["a"])]), s("b")])]
            ),
            strings(&["a", "b"])
        );
        assert_eq!(ok("flatten", vec![list(vec![list(vec![U])])]), U);
        assert_eq!(
            ok("flatten", vec![list(vec![map(vec![("a", U)])])]),
            list(vec![map(vec![("a", U)])])
        );
        assert_eq!(
            ok("chunklist", vec![strings(&["a", "b", "c"]), n(2)]),
            list(vec![strings(&["a", "b"]), strings(&["c"])])
        );
        assert_eq!(
            ok("chunklist", vec![strings(&["a", "b"]), n(0)]),
            list(vec![strings(&["a", "b"])])
        );
        assert_eq!(ok("chunklist", vec![strings(&[]), n(2)]), list(vec![]));
        assert_fails(
            "chunklist",
            vec![strings(&["a"]), n(-1)],
            "the size argument must be positive",
            Some(1),
        );
    }

    #[test]
    fn zipmap_pairs_keys_and_values() {
        assert_eq!(
            ok("zipmap", vec![strings(&["a", "b"]), list(vec![n(1), U])]),
            map(vec![("a", n(1)), ("b", U)])
        );
        assert_eq!(
            ok(
                "zipmap",
                vec![list(vec![s("a"), U]), list(vec![n(1), n(2)])]
            ),
            U
        );
        assert_fails(
            "zipmap",
            vec![strings(&["a", "b"]), list(vec![n(1)])],
            "number of keys (2) does not match number of values (1)",
            None,
        );
        assert_fails(
            "zipmap",
            vec![list(vec![Value::Null]), list(vec![n(1)])],
            "keys list has null value at index 0",
            Some(0),
        );
    }

    #[test]
    fn one_of_zero_or_one_elements() {
        assert_eq!(ok("one", vec![list(vec![])]), Value::Null);
        assert_eq!(ok("one", vec![strings(&["a"])]), s("a"));
        assert_eq!(ok("one", vec![list(vec![U])]), U);
        assert_eq!(ok("one", vec![Value::Set(vec![U])]), U);
        assert_fails(
            "one",
            vec![strings(&["a", "b"])],
            "must be a list, set, or tuple value with either zero or one elements",
            Some(0),
        );
    }

    #[test]
    fn alltrue_and_anytrue() {
        assert_eq!(ok("alltrue", vec![list(vec![b(true), s("true")])]), b(true));
        assert_eq!(ok("alltrue", vec![list(vec![])]), b(true));
        assert_eq!(ok("alltrue", vec![list(vec![U, b(false)])]), b(false));
        assert_eq!(ok("alltrue", vec![list(vec![b(true), U])]), U);
        assert_eq!(ok("alltrue", vec![list(vec![Value::Null])]), b(false));
        assert_fails(
            "alltrue",
            vec![list(vec![n(1)])],
            "argument 1 must be a list of bools, but element 0 is a number",
            Some(0),
        );
        assert_eq!(ok("anytrue", vec![list(vec![b(false), b(true)])]), b(true));
        assert_eq!(ok("anytrue", vec![list(vec![])]), b(false));
        assert_eq!(ok("anytrue", vec![list(vec![b(false), U])]), U);
        assert_eq!(ok("anytrue", vec![list(vec![U, b(true)])]), b(true));
        assert_eq!(ok("anytrue", vec![list(vec![Value::Null])]), b(false));
    }

    #[test]
    fn set_functions() {
        assert_eq!(
            ok("setunion", vec![strings(&["a", "b"]), strings(&["b", "c"])]),
            set(vec![s("a"), s("b"), s("c")])
        );
        assert_eq!(
            ok(
                "setintersection",
                vec![
                    strings(&["a", "b"]),
                    strings(&["b", "c"]),
                    strings(&["b", "d"])
                ]
            ),
            set(vec![s("b")])
        );
        assert_eq!(
            ok(
                "setsubtract",
                vec![strings(&["a", "b", "c"]), strings(&["a", "c"])]
            ),
            set(vec![s("b")])
        );
        assert_eq!(ok("setunion", vec![strings(&["a"]), list(vec![U])]), U);
        assert_eq!(
            ok("setunion", vec![strings(&["a"]), list(vec![n(1)])]),
            set(vec![s("1"), s("a")])
        );
        assert_fails(
            "setunion",
            vec![strings(&["a"]), list(vec![list(vec![])])],
            "all elements of the sets must have the same type",
            None,
        );
    }

    #[test]
    fn setproduct_of_lists_and_sets() {
        assert_eq!(
            ok(
                "setproduct",
                vec![strings(&["a", "b"]), list(vec![n(1), n(2)])]
            ),
            list(vec![
                list(vec![s("a"), n(1)]),
                list(vec![s("a"), n(2)]),
                list(vec![s("b"), n(1)]),
                list(vec![s("b"), n(2)]),
            ])
        );
        assert_eq!(
            ok(
                "setproduct",
                vec![set(vec![s("b"), s("a")]), strings(&["x"])]
            ),
            set(vec![strings(&["a", "x"]), strings(&["b", "x"])])
        );
        assert_eq!(
            ok("setproduct", vec![list(vec![U]), strings(&["a"])]),
            list(vec![list(vec![U, s("a")])])
        );
        assert_eq!(ok("setproduct", vec![list(vec![U]), set(vec![s("a")])]), U);
        assert_eq!(
            ok("setproduct", vec![list(vec![]), strings(&["a"])]),
            list(vec![])
        );
        assert_fails(
            "setproduct",
            vec![strings(&["a"])],
            "at least two arguments are required",
            None,
        );
    }

    // --- numbers ------------------------------------------------------------------------------

    #[test]
    fn min_and_max() {
        assert_eq!(ok("max", vec![n(12), n(54), n(3)]), n(54));
        assert_eq!(ok("min", vec![f(1.5), n(-2)]), n(-2));
        assert_eq!(ok("max", vec![s("3"), n(2)]), n(3));
        assert_eq!(ok("max", vec![n(i64::MAX), n(i64::MAX - 1)]), n(i64::MAX));
        assert_eq!(
            ok("min", vec![n(i64::MAX), n(i64::MAX - 1)]),
            n(i64::MAX - 1)
        );
        assert_eq!(ok("max", vec![n(1), U]), U);
        assert_fails("max", vec![], "at least one number is required", None);
        assert_fails(
            "min",
            vec![n(1), s("x")],
            "argument 2 must be a number, and \"x\" is not a decimal number",
            Some(1),
        );
    }

    #[test]
    fn sum_is_exact_for_integers() {
        assert_eq!(ok("sum", vec![list(vec![n(1), n(2), n(3)])]), n(6));
        assert_eq!(ok("sum", vec![list(vec![f(1.5), n(2)])]), f(3.5));
        assert_eq!(ok("sum", vec![list(vec![s("2"), n(3)])]), n(5));
        assert_eq!(
            ok("sum", vec![list(vec![n(i64::MAX), n(1)])]),
            Value::Number(Number::from(9_223_372_036_854_775_808u64))
        );
        assert_eq!(
            ok("sum", vec![list(vec![n(4_611_686_018_427_387_904), n(-1)])]),
            n(4_611_686_018_427_387_903)
        );
        assert_eq!(ok("sum", vec![list(vec![n(1), U])]), U);
        assert_eq!(ok("sum", vec![set(vec![n(1), n(2)])]), n(3));
        assert_fails(
            "sum",
            vec![list(vec![])],
            "cannot sum an empty list",
            Some(0),
        );
        assert_fails(
            "sum",
            vec![list(vec![n(1), Value::Null])],
            "argument 1 must be a list, set or tuple of numbers, but element 1 is null",
            Some(0),
        );
    }

    #[test]
    fn arithmetic() {
        assert_eq!(ok("abs", vec![n(-3)]), n(3));
        assert_eq!(ok("abs", vec![f(-1.5)]), f(1.5));
        assert_eq!(ok("abs", vec![n(i64::MIN + 1)]), n(i64::MAX));
        assert_eq!(ok("ceil", vec![f(1.2)]), n(2));
        assert_eq!(ok("ceil", vec![n(5)]), n(5));
        assert_eq!(ok("floor", vec![f(-1.2)]), n(-2));
        assert_eq!(ok("floor", vec![n(i64::MAX)]), n(i64::MAX));
        assert_eq!(ok("signum", vec![n(-5)]), n(-1));
        assert_eq!(ok("signum", vec![n(0)]), n(0));
        assert_eq!(ok("signum", vec![f(2.5)]), n(1));
        assert_eq!(ok("pow", vec![n(3), n(2)]), n(9));
        assert_eq!(ok("pow", vec![n(4), f(0.5)]), n(2));
        assert_eq!(ok("pow", vec![n(2), n(-1)]), f(0.5));
        assert_eq!(ok("pow", vec![n(2), n(62)]), n(4_611_686_018_427_387_904));
        assert_eq!(
            ok("pow", vec![n(2), n(64)]),
            f(18_446_744_073_709_551_616.0)
        );
        assert_fails(
            "pow",
            vec![n(0), n(-1)],
            "the result is too large to represent",
            None,
        );
        assert_fails(
            "pow",
            vec![n(-8), f(0.5)],
            "the result is not a real number",
            None,
        );
    }

    #[test]
    fn parseint_bases() {
        assert_eq!(ok("parseint", vec![s("100"), n(10)]), n(100));
        assert_eq!(ok("parseint", vec![s("FF"), n(16)]), n(255));
        assert_eq!(ok("parseint", vec![s("-1010"), n(2)]), n(-10));
        assert_eq!(ok("parseint", vec![s("zz"), n(36)]), n(1295));
        assert_eq!(ok("parseint", vec![s("aA"), n(62)]), n(656));
        assert_eq!(
            ok("parseint", vec![s("7fffffffffffffff"), n(16)]),
            n(i64::MAX)
        );
        assert_fails(
            "parseint",
            vec![s("12"), n(2)],
            "cannot parse \"12\" as a base 2 integer",
            Some(0),
        );
        assert_fails(
            "parseint",
            vec![s(""), n(10)],
            "cannot parse \"\" as a base 10 integer",
            Some(0),
        );
        assert_fails(
            "parseint",
            vec![s("1"), n(1)],
            "base must be a whole number between 2 and 62 inclusive",
            Some(1),
        );
    }

    // --- sensitivity --------------------------------------------------------------------------

    #[test]
    fn sensitive_nonsensitive_issensitive() {
        assert_eq!(ok("sensitive", vec![s("x")]), secret(s("x")));
        assert_eq!(ok("sensitive", vec![U]), secret(U));
        assert_eq!(
            ok("sensitive", vec![list(vec![secret(s("x"))])]),
            secret(strings(&["x"]))
        );
        assert_eq!(ok("nonsensitive", vec![secret(s("x"))]), s("x"));
        assert_eq!(
            ok("nonsensitive", vec![map(vec![("a", secret(n(1)))])]),
            map(vec![("a", n(1))])
        );
        assert_eq!(ok("nonsensitive", vec![s("x")]), s("x"));
        assert_eq!(ok("issensitive", vec![secret(n(1))]), b(true));
        assert_eq!(ok("issensitive", vec![list(vec![secret(n(1))])]), b(true));
        assert_eq!(ok("issensitive", vec![n(1)]), b(false));
        assert_eq!(ok("issensitive", vec![U]), U);
        assert_eq!(ok("issensitive", vec![secret(U)]), b(true));
    }
}
