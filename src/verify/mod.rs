//! Assertions: the checks of an `assert "NAME" { … }` block (zero divergence, lag, quiescence,
//! throughput, a condition), polled every `poll_interval` until they hold (continuously for
//! `stable_for` where given) or `timeout` passes. Each check is a function of the provider context (the
//! evaluated connections) and the evaluated check block, returning whether it holds now, a
//! one-line summary with the numbers, and its evidence as JSON; the evidence of the whole
//! assertion is what the executor stores in state (`State::assertions`).
//!
//! Checks keep what they learned between polls (the verified position of a partition, the
//! window a cluster has been quiet for) and start from the evidence of the previous run, so a
//! re-run of `zero_divergence` reads only the records written since.

pub mod condition;
pub mod lag;
pub mod quiescent;
pub mod read;
pub mod sizing;
pub mod throughput;
pub mod zero_divergence;

use std::time::{Duration, Instant};

use crate::config::evaluate::parse_duration;
use crate::config::schema::Schema;
use crate::config::value::Value;
use crate::context::ProviderContext;
use crate::error::{OperationError as ProviderError, OperationResult as ProviderResult};

/// The address kind of assertion nodes in plans and state (`assert.NAME`).
pub const ASSERT: &str = "assert";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Polling faster than this only loads the clusters.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The schemas of the check blocks an `assert` block accepts, by block name.
pub fn check_schemas() -> Vec<(&'static str, Schema)> {
    vec![
        (zero_divergence::NAME, zero_divergence::schema()),
        (lag::NAME, lag::schema()),
        (quiescent::NAME, quiescent::schema()),
        (throughput::NAME, throughput::schema()),
        (sizing::NAME, sizing::schema()),
    ]
}

/// The names of the checks an `assert` block may hold: the `condition` argument and the check
/// blocks. At least one must be there.
pub const CHECK_NAMES: &[&str] = &[
    "condition",
    zero_divergence::NAME,
    lag::NAME,
    quiescent::NAME,
    throughput::NAME,
    sizing::NAME,
];

/// The schema of an `assert "NAME"` block: its own arguments (checked at the attribute, in
/// `validate` when known, like every other type's) and its check blocks. `depends_on` is
/// taken out before the body is decoded, as for resources.
pub fn assert_schema() -> Schema {
    use crate::config::schema::{AttributeSchema, BlockSchema, Nesting};
    use crate::config::types::Type;
    use crate::config::validate::Pattern;
    let duration = |name: &'static str, description: &'static str, default: &'static str| {
        AttributeSchema::optional(name, Type::String)
            .describe(description)
            .default_value(Value::string(default))
            .pattern(Pattern::Duration)
    };
    Schema::new(
        vec![
            AttributeSchema::optional("condition", Type::Any)
                .describe("a bool expression, evaluated when the assertion runs: holds when true")
                .requires(&["error_message"]),
            AttributeSchema::optional("error_message", Type::String)
                .describe("with condition: the failure message when it is false"),
            AttributeSchema::optional("enabled", Type::Bool)
                .describe("false skips the assertion (it must be known when planning)")
                .default_value(Value::Bool(true)),
            duration(
                "timeout",
                "how long the checks may take to hold before the assertion fails",
                "5m",
            ),
            duration("poll_interval", "how often the checks are evaluated", "5s").validate(
                crate::config::validate::Validator::DurationRange {
                    min: MIN_POLL_INTERVAL,
                    max: Duration::MAX,
                },
            ),
            duration(
                "stable_for",
                "every check must hold continuously this long (at most timeout)",
                "0s",
            ),
        ],
        check_schemas()
            .into_iter()
            .map(|(name, schema)| BlockSchema {
                name,
                nesting: Nesting::Single,
                required: false,
                schema,
                description: "",
            })
            .collect(),
    )
    .at_least_one_of(CHECK_NAMES)
    .with_check(
        "`stable_for`, the assertion's and the lag check's, is shorter than `timeout` (the window starts at the first poll that holds, after the timeout's clock has started: one as long as the timeout could never be held in time)",
        stable_within_timeout,
    )
}

/// The checks with their own `stable_for` window, and how a rule names that argument.
const CHECKS_WITH_STABLE_FOR: &[(&str, &str)] = &[(lag::NAME, "lag.stable_for")];

/// The rule that the `stable_for` windows, the assertion's and its checks', fit in its
/// `timeout` (unset: the defaults, 0s and 5m). `object` is the assertion's: its arguments and
/// its check blocks. A window or timeout not known yet is judged when it is.
fn stable_within_timeout(
    object: &std::collections::BTreeMap<String, Value>,
) -> Vec<crate::config::schema::Finding> {
    use crate::config::decode::rule::{duration, unset};
    use crate::config::schema::Finding;
    use crate::config::validate::duration_text;
    let timeout = match duration(object, "timeout") {
        Some(timeout) => timeout,
        None if unset(object, "timeout") => DEFAULT_TIMEOUT,
        None => return Vec::new(),
    };
    let mut findings = Vec::new();
    if let Some(stable_for) = duration(object, "stable_for")
        && never_held(stable_for, timeout)
    {
        findings.push(Finding {
            attribute: "stable_for",
            message: format!(
                "stable_for = \"{}\" is not shorter than timeout = \"{}\": the assertion could never hold",
                duration_text(stable_for),
                duration_text(timeout)
            ),
            hint: Some(format!(
                "shorten stable_for, or set timeout to more than \"{}\"",
                duration_text(stable_for)
            )),
        });
    }
    for &(check, attribute) in CHECKS_WITH_STABLE_FOR {
        let Some(block) = object.get(check).and_then(|block| block.peel().as_map()) else {
            continue;
        };
        if let Some(stable_for) = duration(block, "stable_for")
            && never_held(stable_for, timeout)
        {
            findings.push(Finding {
                attribute,
                message: format!(
                    "the {check} check's stable_for = \"{}\" is not shorter than the assertion's timeout = \"{}\": the check could never hold",
                    duration_text(stable_for),
                    duration_text(timeout)
                ),
                hint: Some(format!(
                    "shorten stable_for to less than \"{}\" (the assertion's timeout), or set timeout to more than \"{}\"",
                    duration_text(timeout),
                    duration_text(stable_for)
                )),
            });
        }
    }
    findings
}

/// Whether a `stable_for` window can never be held within `timeout`: the window opens at the
/// first poll that holds, which ends after the timeout's clock started, and the last poll is
/// at the deadline, so a window as long as the timeout (or longer) never closes in time. A
/// zero window (no window) always fits.
fn never_held(stable_for: Duration, timeout: Duration) -> bool {
    !stable_for.is_zero() && stable_for >= timeout
}

/// The `assert` block's own arguments, decoded once (the check blocks are decoded by their
/// checks). Durations were checked by the schema; unknown ones decode as unset.
#[derive(Debug, Default, serde::Deserialize)]
struct AssertArgs {
    enabled: Option<bool>,
    timeout: Option<String>,
    poll_interval: Option<String>,
    stable_for: Option<String>,
    error_message: Option<String>,
}

impl AssertArgs {
    fn of(value: &Value) -> ProviderResult<AssertArgs> {
        // Only the arguments: the checks' blocks and values are not this struct's.
        let arguments: std::collections::BTreeMap<String, Value> = value
            .peel()
            .as_map()
            .map(|map| {
                [
                    "enabled",
                    "timeout",
                    "poll_interval",
                    "stable_for",
                    "error_message",
                ]
                .into_iter()
                .filter_map(|name| Some((name.to_owned(), map.get(name)?.clone())))
                .collect()
            })
            .unwrap_or_default();
        // The arguments' validators and rules; the at-least-one-check group is about the
        // blocks, which are not here.
        let schema = assert_schema();
        let arguments_schema = Schema {
            checks: schema.checks,
            ..Schema::new(schema.attributes, Vec::new())
        };
        crate::config::decode::decode_checked(ASSERT, &arguments_schema, &Value::Map(arguments))
            .map_err(ProviderError::Invalid)
    }
}

/// A duration argument (`"30s"`, `"5m"`) decoded as text, `None` when unset. The schemas'
/// duration patterns judged it; this guards a value that reached a check another way.
pub(crate) fn parsed_duration(name: &str, text: Option<&str>) -> ProviderResult<Option<Duration>> {
    text.map(|text| {
        parse_duration(text).ok_or_else(|| {
            ProviderError::Invalid(format!(
                "{name} must be a duration like \"30s\", got {text:?}"
            ))
        })
    })
    .transpose()
}

/// Whether an evaluated `assert` block is enabled: `enabled = false` turns it off (the
/// migration module switches its assertions on per phase). Unset or unknown: enabled.
pub fn enabled(value: &Value) -> bool {
    AssertArgs::of(value).map_or(true, |args| args.enabled != Some(false))
}

/// What one evaluation of one check found.
#[derive(Debug, Clone)]
pub struct CheckRun {
    pub holds: bool,
    /// One line with the numbers: what holds, or the first thing that does not.
    pub summary: String,
    pub evidence: serde_json::Value,
}

/// How an assertion ended.
#[derive(Debug, Clone)]
pub struct AssertionRun {
    pub passed: bool,
    /// Why it failed (the checks that did not hold, with their numbers), or what held.
    pub message: String,
    /// Stored in state: pass/fail, time, the numbers of every check.
    pub evidence: serde_json::Value,
}

/// One check of an assertion, with what it keeps between polls.
enum Check {
    ZeroDivergence(zero_divergence::ZeroDivergence),
    Lag(lag::Lag),
    Quiescent(quiescent::Quiescent),
    Throughput(throughput::Throughput),
    Condition(condition::Condition),
    Sizing(sizing::MskSizing),
}

impl Check {
    async fn poll(&mut self, context: &ProviderContext) -> ProviderResult<CheckRun> {
        match self {
            Check::ZeroDivergence(check) => check.poll(context).await,
            Check::Lag(check) => check.poll(context).await,
            Check::Quiescent(check) => check.poll(context).await,
            Check::Throughput(check) => check.poll(context).await,
            Check::Condition(check) => Ok(check.poll()),
            Check::Sizing(check) => check.poll(context).await,
        }
    }

    fn stable_for(&self) -> Duration {
        match self {
            Check::Lag(check) => check.stable_for,
            _ => Duration::ZERO,
        }
    }
}

pub(crate) fn now_rfc3339() -> String {
    crate::state::now_rfc3339()
}

/// The evidence a previous run stored for one check, if any.
fn prior_check<'a>(
    prior: Option<&'a serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    prior?.get("checks")?.get(name)
}

fn build_checks(
    value: &Value,
    error_message: Option<&str>,
    prior: Option<&serde_json::Value>,
) -> ProviderResult<Vec<Check>> {
    let mut checks = Vec::new();
    let Some(map) = value.peel().as_map() else {
        return Err(ProviderError::Invalid(
            "the assertion did not evaluate to an object".to_owned(),
        ));
    };
    for (name, block) in map {
        let check = match name.as_str() {
            zero_divergence::NAME => Check::ZeroDivergence(zero_divergence::ZeroDivergence::new(
                block,
                prior_check(prior, name),
            )?),
            lag::NAME => Check::Lag(lag::Lag::new(block, prior_check(prior, name))?),
            quiescent::NAME => Check::Quiescent(quiescent::Quiescent::new(block)?),
            throughput::NAME => Check::Throughput(throughput::Throughput::new(block)?),
            sizing::NAME => Check::Sizing(sizing::MskSizing::new(block)?),
            "condition" => Check::Condition(condition::Condition::new(block, error_message)),
            _ => continue,
        };
        checks.push(check);
    }
    if checks.is_empty() {
        return Err(ProviderError::Invalid(
            "the assertion has no checks".to_owned(),
        ));
    }
    Ok(checks)
}

fn check_name(check: &Check) -> &'static str {
    match check {
        Check::ZeroDivergence(_) => zero_divergence::NAME,
        Check::Lag(_) => lag::NAME,
        Check::Quiescent(_) => quiescent::NAME,
        Check::Throughput(_) => throughput::NAME,
        Check::Condition(_) => "condition",
        Check::Sizing(_) => sizing::NAME,
    }
}

/// Runs an assertion: polls its checks every `poll_interval` until all of them hold, and have
/// held continuously for `stable_for`, or `timeout` passes. `prior` is the evidence the last run
/// stored (for incremental checks). A check that cannot run at all (a bad argument) fails the
/// run with an error; one that cannot reach a cluster counts as not holding and is polled
/// again.
pub async fn run_assertion(
    context: &ProviderContext,
    value: &Value,
    prior: Option<&serde_json::Value>,
) -> ProviderResult<AssertionRun> {
    // The messages of a check quote its arguments (groups, topics): those of a sensitive
    // value are scrubbed, in progress lines, the result and errors alike.
    let marks = crate::config::redact::Marks::of_operation(value, &context.connections);
    let mut scrubbed = context.clone();
    scrubbed.progress = {
        let progress = context.progress.clone();
        let marks = marks.clone();
        std::sync::Arc::new(move |line: &str| progress(&marks.scrub(line)))
    };
    match run_checks(&scrubbed, value, prior).await {
        Ok(mut run) => {
            run.message = marks.scrub(&run.message);
            run.evidence = marks.scrub_json(run.evidence);
            Ok(run)
        }
        Err(error) => Err(marks.scrub_error(error)),
    }
}

async fn run_checks(
    context: &ProviderContext,
    value: &Value,
    prior: Option<&serde_json::Value>,
) -> ProviderResult<AssertionRun> {
    let args = AssertArgs::of(value)?;
    let timeout = parsed_duration("timeout", args.timeout.as_deref())?.unwrap_or(DEFAULT_TIMEOUT);
    let poll_interval = parsed_duration("poll_interval", args.poll_interval.as_deref())?
        .unwrap_or(DEFAULT_POLL_INTERVAL)
        .max(MIN_POLL_INTERVAL);
    let mut checks = build_checks(value, args.error_message.as_deref(), prior)?;
    let stable_for = checks
        .iter()
        .map(Check::stable_for)
        .chain(parsed_duration("stable_for", args.stable_for.as_deref())?)
        .max()
        .unwrap_or(Duration::ZERO);
    // Judged in `validate` when known; a window known only now gets the same words (the
    // rule covers every window the max above takes).
    if let Some(finding) = value
        .peel()
        .as_map()
        .and_then(|object| stable_within_timeout(object).into_iter().next())
    {
        return Err(ProviderError::Invalid(format!(
            "assert: {}",
            finding.message
        )));
    }
    let started = Instant::now();
    let started_at = now_rfc3339();
    let deadline = started + timeout;
    let mut held_since: Option<Instant> = None;
    let mut polls: u64 = 0;
    // Bounded: one poll per poll_interval until the deadline (a poll that takes longer only
    // makes fewer of them).
    loop {
        if context.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        polls += 1;
        let mut runs = Vec::with_capacity(checks.len());
        for check in &mut checks {
            let run = match check.poll(context).await {
                Ok(run) => run,
                Err(ProviderError::Failed(reason)) => CheckRun {
                    holds: false,
                    summary: reason.clone(),
                    evidence: serde_json::json!({ "holds": false, "error": reason }),
                },
                Err(other) => return Err(other),
            };
            runs.push((check_name(check), run));
        }
        let now = Instant::now();
        let all_hold = runs.iter().all(|(_, run)| run.holds);
        if all_hold {
            let since = *held_since.get_or_insert(now);
            if now.duration_since(since) >= stable_for {
                let held_for = now.duration_since(since);
                return Ok(finish(
                    true,
                    &runs,
                    &started_at,
                    started,
                    polls,
                    held_for,
                    stable_for,
                ));
            }
            (context.progress)(&format!(
                "holds; stable for {}s of {}s",
                now.duration_since(since).as_secs(),
                stable_for.as_secs()
            ));
        } else {
            if held_since.take().is_some() {
                (context.progress)("stopped holding: the stable_for window starts again");
            }
            let failing: Vec<String> = runs
                .iter()
                .filter(|(_, run)| !run.holds)
                .map(|(name, run)| format!("{name}: {}", run.summary))
                .collect();
            (context.progress)(&format!(
                "does not hold yet ({}s of {}s): {}",
                started.elapsed().as_secs(),
                timeout.as_secs(),
                failing.join("; ")
            ));
        }
        if now >= deadline {
            let held_for = held_since.map_or(Duration::ZERO, |since| now.duration_since(since));
            return Ok(finish(
                false,
                &runs,
                &started_at,
                started,
                polls,
                held_for,
                stable_for,
            ));
        }
        let pause = poll_interval.min(deadline.saturating_duration_since(now));
        let mut cancel = context.cancel.clone();
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = cancel.changed() => {}
        }
    }
}

fn finish(
    passed: bool,
    runs: &[(&'static str, CheckRun)],
    started_at: &str,
    started: Instant,
    polls: u64,
    held_for: Duration,
    stable_for: Duration,
) -> AssertionRun {
    let mut checks = serde_json::Map::new();
    for (name, run) in runs {
        checks.insert((*name).to_owned(), run.evidence.clone());
    }
    let message = if passed {
        runs.iter()
            .map(|(name, run)| format!("{name}: {}", run.summary))
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        let failing: Vec<String> = runs
            .iter()
            .filter(|(_, run)| !run.holds)
            .map(|(name, run)| format!("{name}: {}", run.summary))
            .collect();
        if failing.is_empty() {
            format!(
                "held for {}s but not for stable_for = {}s before the timeout",
                held_for.as_secs(),
                stable_for.as_secs()
            )
        } else {
            failing.join("; ")
        }
    };
    let evidence = serde_json::json!({
        "passed": passed,
        "started_at": started_at,
        "checked_at": now_rfc3339(),
        "duration_ms": started.elapsed().as_millis() as u64,
        "polls": polls,
        "held_for_ms": held_for.as_millis() as u64,
        "message": message,
        "checks": checks,
    });
    AssertionRun {
        passed,
        message,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn object(entries: &[(&str, Value)]) -> BTreeMap<String, Value> {
        entries
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    fn lag(stable_for: Value) -> Value {
        Value::Map(object(&[
            ("mirror", Value::string("kafka_mirror.orders")),
            ("stable_for", stable_for),
        ]))
    }

    #[test]
    fn a_lag_check_window_longer_than_the_timeout_is_found_at_its_stable_for() {
        let findings = stable_within_timeout(&object(&[
            ("timeout", Value::string("1m")),
            ("lag", lag(Value::string("5m"))),
        ]));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].attribute, "lag.stable_for");
        assert_eq!(
            findings[0].message,
            "the lag check's stable_for = \"5m\" is not shorter than the assertion's timeout = \"1m\": the check could never hold"
        );
        // Unset, the timeout is the default 5m.
        let findings = stable_within_timeout(&object(&[("lag", lag(Value::string("6m")))]));
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].message.contains("timeout = \"5m\""),
            "{findings:?}"
        );
    }

    #[test]
    fn a_window_as_long_as_the_timeout_is_refused_and_a_zero_one_is_not() {
        let findings = stable_within_timeout(&object(&[
            ("timeout", Value::string("2m")),
            ("stable_for", Value::string("2m")),
            ("lag", lag(Value::string("120s"))),
        ]));
        let attributes: Vec<_> = findings.iter().map(|f| f.attribute).collect();
        assert_eq!(attributes, ["stable_for", "lag.stable_for"], "{findings:?}");
        assert!(never_held(
            Duration::from_secs(120),
            Duration::from_secs(120)
        ));
        assert!(!never_held(
            Duration::from_secs(119),
            Duration::from_secs(120)
        ));
        assert!(!never_held(Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn a_window_or_timeout_not_known_yet_is_not_judged() {
        for assertion in [
            object(&[
                ("timeout", Value::string("1m")),
                ("lag", lag(Value::Unknown)),
            ]),
            object(&[
                ("timeout", Value::Unknown),
                ("lag", lag(Value::string("5m"))),
            ]),
            object(&[
                ("timeout", Value::string("5m")),
                ("stable_for", Value::string("4m59s")),
                ("lag", lag(Value::string("0s"))),
            ]),
            object(&[("timeout", Value::string("1m")), ("lag", Value::Unknown)]),
        ] {
            assert_eq!(
                stable_within_timeout(&assertion),
                Vec::new(),
                "{assertion:?}"
            );
        }
    }

    #[test]
    fn the_assertion_and_its_lag_check_are_each_judged() {
        let findings = stable_within_timeout(&object(&[
            ("timeout", Value::string("1m")),
            ("stable_for", Value::string("2m")),
            ("lag", lag(Value::string("90s"))),
        ]));
        let attributes: Vec<&str> = findings.iter().map(|finding| finding.attribute).collect();
        assert_eq!(attributes, ["stable_for", "lag.stable_for"]);
    }
}
