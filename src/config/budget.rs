//! The evaluation budget: how much one evaluation of a configuration may produce before it is
//! stopped with a diagnostic at the expression that crossed the line. `plan` runs on pull
//! requests from people who cannot apply; without a total bound a small configuration
//! (nested `for` over `range`, a thousand copies of a large string, modules calling the next
//! level four times) takes the machine's memory long before any per-call limit is reached.
//!
//! What is counted, over the whole evaluation (every module instance, every expression):
//! - values produced by function calls, `for` expressions, templates and references (each
//!   list, set or map element and each scalar counts one), and the bytes of their strings;
//!   a reference counts because it copies the value it names;
//! - bytes read by `file()`, `filebase64()` and the like;
//! - module instances and resource or data source instances;
//! - how deep expressions nest (a parser-friendly but evaluator-hostile `((((...))))`).
//!
//! The defaults are far above what a real migration needs (the 10,000-instance benchmark
//! uses a few percent of them) and keep `validate` under about 1 GB. `-eval-budget FACTOR`
//! (or `CUTOVER_EVAL_BUDGET`) multiplies them for a configuration that really needs more.
//!
//! The counters are per thread: an evaluation runs on one thread, and [`start`] resets them.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use super::value::Value;

/// The budget of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Values produced (elements and scalars).
    pub values: u64,
    /// Bytes of the strings produced.
    pub string_bytes: u64,
    /// Bytes read from files by functions.
    pub file_bytes: u64,
    /// Module instances (the root counts one).
    pub module_instances: u64,
    /// Bytes of module source, each module instance counting its module's files: a module of
    /// large literals called many times is bounded before its values are.
    pub module_source_bytes: u64,
    /// Resource and data source instances, all blocks together.
    pub instances: u64,
    /// How deep one expression may nest.
    pub nesting: u32,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        values: 20_000_000,
        string_bytes: 512 * 1024 * 1024,
        file_bytes: 256 * 1024 * 1024,
        module_instances: 1_000,
        module_source_bytes: 32 * 1024 * 1024,
        instances: 200_000,
        nesting: 512,
    };

    /// The defaults multiplied by `factor` (at least 1). Nesting grows more slowly: each level
    /// takes stack, which does not grow with the factor.
    pub fn scaled(factor: u32) -> Limits {
        let factor = u64::from(factor.max(1));
        let d = Limits::DEFAULT;
        Limits {
            values: d.values.saturating_mul(factor),
            string_bytes: d.string_bytes.saturating_mul(factor),
            file_bytes: d.file_bytes.saturating_mul(factor),
            module_instances: d.module_instances.saturating_mul(factor),
            module_source_bytes: d.module_source_bytes.saturating_mul(factor),
            instances: d.instances.saturating_mul(factor),
            nesting: d.nesting.saturating_mul(factor.min(4) as u32),
        }
    }
}

/// The factor set by `-eval-budget` / `CUTOVER_EVAL_BUDGET` for this process (1: defaults).
static FACTOR: AtomicU32 = AtomicU32::new(1);

/// Sets the process's budget factor (from the resolved settings, once, before any command).
pub fn set_factor(factor: u32) {
    FACTOR.store(factor.max(1), Ordering::Relaxed);
}

/// The limits in force for evaluations started from now on.
pub fn configured_limits() -> Limits {
    Limits::scaled(FACTOR.load(Ordering::Relaxed))
}

#[derive(Debug, Clone, Copy, Default)]
struct Spent {
    values: u64,
    string_bytes: u64,
    file_bytes: u64,
    module_instances: u64,
    module_source_bytes: u64,
    instances: u64,
    exceeded: bool,
}

thread_local! {
    static LIMITS: Cell<Limits> = const { Cell::new(Limits::DEFAULT) };
    static SPENT: Cell<Spent> = const { Cell::new(Spent {
        values: 0,
        string_bytes: 0,
        file_bytes: 0,
        module_instances: 0,
        module_source_bytes: 0,
        instances: 0,
        exceeded: false,
    }) };
}

/// Starts counting an evaluation afresh under `limits`; the previous counters come back when
/// the returned guard is dropped (an evaluation inside another, e.g. in tests).
pub fn start(limits: Limits) -> BudgetScope {
    let previous = (LIMITS.get(), SPENT.get());
    LIMITS.set(limits);
    SPENT.set(Spent::default());
    BudgetScope { previous }
}

#[must_use = "the budget is reset when the scope is dropped"]
pub struct BudgetScope {
    previous: (Limits, Spent),
}

impl Drop for BudgetScope {
    fn drop(&mut self) {
        LIMITS.set(self.previous.0);
        SPENT.set(self.previous.1);
    }
}

/// The limits of the evaluation running on this thread.
pub fn limits() -> Limits {
    LIMITS.get()
}

/// True once any part of the budget was exceeded in this evaluation (later errors of the same
/// kind are consequences, not news).
pub fn exceeded() -> bool {
    SPENT.get().exceeded
}

/// The start of every budget message, so repeats can be told apart from other errors.
pub const MESSAGE_PREFIX: &str = "evaluation budget exceeded: ";

fn fail(what: String) -> String {
    let mut spent = SPENT.get();
    spent.exceeded = true;
    SPENT.set(spent);
    format!(
        "{MESSAGE_PREFIX}{what}; a configuration this large is a mistake or hostile (raise the budget with -eval-budget FACTOR if it is really needed)"
    )
}

/// Counts `value` (its elements and string bytes) as produced.
pub fn charge_value(value: &Value) -> Result<(), String> {
    let (values, string_bytes) = weight(value);
    charge(values, string_bytes)
}

/// Counts `values` values and `string_bytes` bytes as produced.
pub fn charge(values: u64, string_bytes: u64) -> Result<(), String> {
    let limits = LIMITS.get();
    let mut spent = SPENT.get();
    spent.values = spent.values.saturating_add(values);
    spent.string_bytes = spent.string_bytes.saturating_add(string_bytes);
    SPENT.set(spent);
    if spent.values > limits.values {
        return Err(fail(format!(
            "the configuration produces more than {} values in total",
            limits.values
        )));
    }
    if spent.string_bytes > limits.string_bytes {
        return Err(fail(format!(
            "the configuration produces more than {} MiB of strings in total",
            limits.string_bytes / (1024 * 1024)
        )));
    }
    Ok(())
}

/// How many more bytes functions may read from files.
pub fn file_bytes_left() -> u64 {
    LIMITS
        .get()
        .file_bytes
        .saturating_sub(SPENT.get().file_bytes)
}

/// Counts `bytes` read from files.
pub fn charge_file_bytes(bytes: u64) -> Result<(), String> {
    let limits = LIMITS.get();
    let mut spent = SPENT.get();
    spent.file_bytes = spent.file_bytes.saturating_add(bytes);
    SPENT.set(spent);
    if spent.file_bytes > limits.file_bytes {
        return Err(fail(format!(
            "functions read more than {} MiB from files in total",
            limits.file_bytes / (1024 * 1024)
        )));
    }
    Ok(())
}

/// Counts one module instance.
pub fn charge_module_instance() -> Result<(), String> {
    let limits = LIMITS.get();
    let mut spent = SPENT.get();
    spent.module_instances += 1;
    SPENT.set(spent);
    if spent.module_instances > limits.module_instances {
        return Err(fail(format!(
            "the configuration has more than {} module instances",
            limits.module_instances
        )));
    }
    Ok(())
}

/// Counts the source of one module instance, `bytes` long.
pub fn charge_module_source(bytes: u64) -> Result<(), String> {
    let limits = LIMITS.get();
    let mut spent = SPENT.get();
    spent.module_source_bytes = spent.module_source_bytes.saturating_add(bytes);
    SPENT.set(spent);
    if spent.module_source_bytes > limits.module_source_bytes {
        let message = format!(
            "the configuration's module instances hold more than {} MiB of source in total (each instance counts its module's files)",
            limits.module_source_bytes / (1024 * 1024)
        );
        return Err(fail(message));
    }
    Ok(())
}

/// Module instances counted so far.
pub fn module_instances_spent() -> u64 {
    SPENT.get().module_instances
}

/// Counts `count` resource or data source instances.
pub fn charge_instances(count: u64) -> Result<(), String> {
    let limits = LIMITS.get();
    let mut spent = SPENT.get();
    spent.instances = spent.instances.saturating_add(count);
    SPENT.set(spent);
    if spent.instances > limits.instances {
        return Err(fail(format!(
            "the configuration has more than {} resource and data source instances",
            limits.instances
        )));
    }
    Ok(())
}

/// The message for an expression nested deeper than [`Limits::nesting`].
pub fn nesting_message() -> String {
    fail(format!(
        "expressions are nested more than {} levels deep",
        LIMITS.get().nesting
    ))
}

/// Values (elements and scalars) and string bytes in `value`.
fn weight(value: &Value) -> (u64, u64) {
    match value {
        Value::String(text) => (1, text.len() as u64),
        Value::List(items) | Value::Set(items) => {
            items.iter().fold((1, 0), |(values, bytes), item| {
                let (v, b) = weight(item);
                (values + v, bytes + b)
            })
        }
        Value::Map(map) => map.iter().fold((1, 0), |(values, bytes), (key, item)| {
            let (v, b) = weight(item);
            (values + v, bytes + b + key.len() as u64)
        }),
        Value::Sensitive(inner) => weight(inner),
        _ => (1, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_add_up_and_stop_at_the_limit() {
        let _scope = start(Limits {
            values: 10,
            string_bytes: 8,
            ..Limits::DEFAULT
        });
        let list = Value::List(vec![Value::string("abcd"), Value::int(1)]);
        assert_eq!(weight(&list), (3, 4));
        charge_value(&list).unwrap();
        charge_value(&list).unwrap();
        assert!(!exceeded());
        let message = charge_value(&list).unwrap_err();
        assert!(message.starts_with(MESSAGE_PREFIX), "{message}");
        assert!(message.contains("more than 8 MiB") || message.contains("strings"));
        assert!(exceeded());
    }

    #[test]
    fn module_source_is_counted_per_instance() {
        let _budget = start(Limits {
            module_source_bytes: 100,
            ..Limits::DEFAULT
        });
        charge_module_source(60).unwrap();
        let message = charge_module_source(60).unwrap_err();
        assert!(message.contains("more than 0 MiB of source"), "{message}");
        assert!(exceeded());
    }

    #[test]
    fn a_scope_restores_the_counters_it_replaced() {
        let _outer = start(Limits {
            module_instances: 1,
            ..Limits::DEFAULT
        });
        charge_module_instance().unwrap();
        {
            let _inner = start(Limits::DEFAULT);
            charge_module_instance().unwrap();
            charge_module_instance().unwrap();
        }
        assert!(charge_module_instance().is_err());
    }
}
