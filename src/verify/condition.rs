//! `condition = <expression>` with `error_message`: holds when the expression, evaluated with
//! the values known when the assertion runs, is true.

use crate::config::value::Value;

use super::CheckRun;

pub struct Condition {
    value: Value,
    error_message: String,
}

impl Condition {
    /// `value` is the evaluated condition (judged when the assertion runs: it may be known
    /// only then); `error_message` the assert block's own, decoded with its other arguments.
    pub fn new(value: &Value, error_message: Option<&str>) -> Self {
        Condition {
            value: value.clone(),
            error_message: error_message.unwrap_or("the condition is false").to_owned(),
        }
    }

    pub fn poll(&self) -> CheckRun {
        let (holds, summary) = match self.value.peel() {
            Value::Bool(true) => (true, "true".to_owned()),
            Value::Bool(false) => (false, self.error_message.clone()),
            Value::Unknown => (
                false,
                "the condition depends on values that are still unknown".to_owned(),
            ),
            other => (
                false,
                format!("the condition is a {}, not a bool", other.type_name()),
            ),
        };
        CheckRun {
            holds,
            evidence: serde_json::json!({ "holds": holds, "summary": summary }),
            summary,
        }
    }
}
