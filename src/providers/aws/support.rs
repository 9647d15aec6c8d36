//! What the AWS types share: reading attributes out of values, the `timeouts` block, the
//! polling loop of long operations, and SDK errors turned into messages that say what went
//! wrong and what to do.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_kafka::error::{ProvideErrorMetadata, SdkError};

use crate::config::schema::{AttributeSchema, BlockSchema, Nesting, Schema};
use crate::config::types::Type;
use crate::config::value::Value;
use crate::providers::{ProviderContext, ProviderError, ProviderResult};

// ---------------------------------------------------------------------------------------------
// Attributes

/// The attributes of an object value (empty when it is not an object).
pub fn attributes(value: &Value) -> BTreeMap<String, Value> {
    value.as_map().cloned().unwrap_or_default()
}

/// A known, non-null string attribute.
pub fn text(map: &BTreeMap<String, Value>, name: &str) -> Option<String> {
    map.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// A required string attribute, or an error naming it.
pub fn required_text(
    map: &BTreeMap<String, Value>,
    name: &str,
    what: &str,
) -> ProviderResult<String> {
    match map.get(name) {
        Some(value) if value.is_unknown() => Err(ProviderError::Failed(format!(
            "{what}: {name} is still unknown; apply what it depends on first"
        ))),
        _ => text(map, name)
            .ok_or_else(|| ProviderError::Invalid(format!("{what}: {name} is required"))),
    }
}

pub fn boolean(map: &BTreeMap<String, Value>, name: &str) -> Option<bool> {
    map.get(name).and_then(Value::as_bool)
}

pub fn integer(map: &BTreeMap<String, Value>, name: &str) -> Option<i64> {
    map.get(name).and_then(Value::as_i64)
}

/// A list or set of strings; `None` when null or unknown.
pub fn strings(map: &BTreeMap<String, Value>, name: &str) -> Option<Vec<String>> {
    map.get(name).and_then(Value::as_items).map(|items| {
        items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

/// A map of strings; `None` when null or unknown.
pub fn string_map(map: &BTreeMap<String, Value>, name: &str) -> Option<BTreeMap<String, String>> {
    map.get(name).and_then(Value::as_map).map(|entries| {
        entries
            .iter()
            .filter_map(|(key, value)| value.as_str().map(|v| (key.clone(), v.to_owned())))
            .collect()
    })
}

/// A nested single block (an object); `None` when absent or null.
pub fn block(map: &BTreeMap<String, Value>, name: &str) -> Option<BTreeMap<String, Value>> {
    map.get(name).and_then(Value::as_map).cloned()
}

pub fn string_value(text: Option<impl Into<String>>) -> Value {
    text.map_or(Value::Null, |t| Value::String(t.into()))
}

pub fn string_list(items: impl IntoIterator<Item = impl Into<String>>) -> Value {
    Value::List(
        items
            .into_iter()
            .map(|item| Value::String(item.into()))
            .collect(),
    )
}

pub fn tag_map(tags: impl IntoIterator<Item = (String, String)>) -> Value {
    Value::Map(
        tags.into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

pub fn hash_tags(tags: Option<&HashMap<String, String>>) -> Value {
    tag_map(
        tags.into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone())),
    )
}

/// `live` with every attribute that `config` leaves unset (null) set to null too, at any
/// depth of nested blocks: an optional setting the configuration does not write is not
/// managed, so the service's default for it is not a difference.
pub fn keep_unset(config: &Value, live: Value) -> Value {
    match (config.peel(), live) {
        (Value::Map(config), Value::Map(mut live)) => {
            for (name, value) in live.iter_mut() {
                match config.get(name) {
                    Some(setting) if setting.is_null() => *value = Value::Null,
                    Some(setting @ Value::Map(_)) => {
                        *value = keep_unset(setting, std::mem::take(value));
                    }
                    _ => {}
                }
            }
            Value::Map(live)
        }
        (_, live) => live,
    }
}

/// Tag keys to remove and tags to set, going from `before` to `after`.
pub fn tag_changes(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> (Vec<String>, BTreeMap<String, String>) {
    let removed = before
        .keys()
        .filter(|key| !after.contains_key(*key))
        .cloned()
        .collect();
    let set = after
        .iter()
        .filter(|(key, value)| before.get(*key) != Some(value))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (removed, set)
}

// ---------------------------------------------------------------------------------------------
// timeouts { create, update, delete }

/// How long each kind of long operation may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub create: Duration,
    pub update: Duration,
    pub delete: Duration,
}

impl Timeouts {
    pub const fn minutes(create: u64, update: u64, delete: u64) -> Self {
        Timeouts {
            create: Duration::from_secs(create * 60),
            update: Duration::from_secs(update * 60),
            delete: Duration::from_secs(delete * 60),
        }
    }

    /// The `timeouts` block of `object`, over `defaults`. Errors name the bad duration.
    pub fn of(object: &BTreeMap<String, Value>, defaults: Timeouts) -> ProviderResult<Timeouts> {
        let block = match object.get("timeouts") {
            None => None,
            Some(block) => TimeoutsArgs::of(block)?,
        };
        Timeouts::decoded(block.as_ref(), defaults)
    }

    /// The decoded `timeouts` block (`None`: unset), over `defaults`. Errors name the bad
    /// duration.
    pub fn decoded(block: Option<&TimeoutsArgs>, defaults: Timeouts) -> ProviderResult<Timeouts> {
        let Some(block) = block else {
            return Ok(defaults);
        };
        let read = |name: &str, text: &Option<String>, default: Duration| match text {
            None => Ok(default),
            Some(text) => match crate::config::evaluate::parse_duration(text) {
                Some(duration) if !duration.is_zero() => Ok(duration),
                _ => Err(ProviderError::Invalid(format!(
                    "timeouts.{name} \"{text}\" is not a positive duration like 90m, 2h or 30s"
                ))),
            },
        };
        Ok(Timeouts {
            create: read("create", &block.create, defaults.create)?,
            update: read("update", &block.update, defaults.update)?,
            delete: read("delete", &block.delete, defaults.delete)?,
        })
    }
}

/// A `timeouts { create, update, delete }` block as written, decoded once: the durations as
/// text (the schema's duration pattern judged them; [`Timeouts::decoded`] parses them), unset
/// or unknown ones as `None`, and so is one that is not text (state keeps a sensitive value
/// only as its keyed hash): the default applies.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct TimeoutsArgs {
    #[serde(default, deserialize_with = "text_or_unset")]
    pub create: Option<String>,
    #[serde(default, deserialize_with = "text_or_unset")]
    pub update: Option<String>,
    #[serde(default, deserialize_with = "text_or_unset")]
    pub delete: Option<String>,
}

/// For `#[serde(default, deserialize_with = "text_or_unset")]`: a string, or `None` for
/// anything else.
fn text_or_unset<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Text {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match serde::Deserialize::deserialize(deserializer)? {
        Some(Text::Text(text)) => Some(text),
        Some(Text::Other(_)) | None => None,
    })
}

impl TimeoutsArgs {
    /// The block's arguments; `None` when the block is unset (null) or still unknown.
    pub fn of(block: &Value) -> ProviderResult<Option<TimeoutsArgs>> {
        crate::config::decode::decode("timeouts", block).map_err(ProviderError::Invalid)
    }
}

/// An argument as planned, or as state holds it: its value, or only the keyed hash state
/// keeps of a sensitive value (`{"__cutover_sensitive__": "hmac-sha256:…"}`), which only the
/// engine can compare.
#[derive(Debug)]
pub enum Stored<T> {
    Known(T),
    Hashed,
}

impl<T> Stored<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Stored::Known(value) => Some(value),
            Stored::Hashed => None,
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> serde::Deserialize<'de> for Stored<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A marker first: a map argument (tags) would take it for a map of one entry.
        let json = serde_json::Value::deserialize(deserializer)?;
        if crate::state::sensitive::stored_hash(&Value::from_json(&json)).is_some() {
            return Ok(Stored::Hashed);
        }
        T::deserialize(json)
            .map(Stored::Known)
            .map_err(serde::de::Error::custom)
    }
}

/// The known value of an argument; `None` when unset, unknown or stored only as a hash.
pub fn known<T>(argument: &Option<Stored<T>>) -> Option<&T> {
    argument.as_ref()?.known()
}

/// The `timeouts` block schema; `defaults` is shown in the descriptions.
pub fn timeouts_block(description: &'static str) -> BlockSchema {
    BlockSchema {
        name: "timeouts",
        nesting: Nesting::Single,
        required: false,
        schema: Schema::new(
            vec![
                AttributeSchema::optional("create", Type::String)
                    .describe("how long a creation may take, e.g. \"90m\"")
                    .pattern(crate::config::validate::Pattern::Duration),
                AttributeSchema::optional("update", Type::String)
                    .describe("how long an update may take")
                    .pattern(crate::config::validate::Pattern::Duration),
                AttributeSchema::optional("delete", Type::String)
                    .describe("how long a deletion may take")
                    .pattern(crate::config::validate::Pattern::Duration),
            ],
            Vec::new(),
        ),
        description,
    }
}

// ---------------------------------------------------------------------------------------------
// Polling

/// One look at a long operation.
pub enum Poll<T> {
    Done(T),
    /// Still running; the text says where it is ("CREATING").
    Waiting(String),
}

/// How often a poll reports progress when its status does not change.
const PROGRESS_EVERY: Duration = Duration::from_secs(60);

/// Polls `check` every `interval` until it is done, the `timeout` passes, or the run is
/// cancelled. Progress lines name `what`, the status and the time waited; a line is reported
/// when the status changes and at least once a minute.
pub async fn wait_until<T, F, Fut>(
    context: &ProviderContext,
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut check: F,
) -> ProviderResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ProviderResult<Poll<T>>>,
{
    let started = Instant::now();
    let mut last_status: Option<String> = None;
    let mut last_report = started;
    // Bounded by time, and by count in case the clock misbehaves.
    let max_polls = (timeout.as_millis() / interval.as_millis().max(1)) as u64 + 2;
    for _ in 0..max_polls {
        if context.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        let status = match check().await? {
            Poll::Done(value) => return Ok(value),
            Poll::Waiting(status) => status,
        };
        let waited = started.elapsed();
        if last_status.as_deref() != Some(status.as_str())
            || last_report.elapsed() >= PROGRESS_EVERY
        {
            (context.progress)(&format!("{what}: {status}, {}", human(waited)));
            last_report = Instant::now();
        }
        last_status = Some(status);
        if waited >= timeout {
            break;
        }
        let pause = interval.min(timeout - waited);
        sleep_or_cancel(context, pause).await?;
    }
    Err(ProviderError::Failed(format!(
        "{what}: still {} after {} (the timeout); the operation goes on in AWS: raise the timeout in a timeouts block and apply again to resume waiting",
        last_status.unwrap_or_else(|| "not done".to_owned()),
        human(started.elapsed())
    )))
}

/// Sleeps, or returns `Cancelled` as soon as the run is cancelled.
pub async fn sleep_or_cancel(context: &ProviderContext, duration: Duration) -> ProviderResult<()> {
    let mut cancel = context.cancel.clone();
    if *cancel.borrow() {
        return Err(ProviderError::Cancelled);
    }
    let cancelled = tokio::select! {
        () = tokio::time::sleep(duration) => return Ok(()),
        changed = cancel.wait_for(|cancelled| *cancelled) => changed.is_ok(),
    };
    if cancelled {
        return Err(ProviderError::Cancelled);
    }
    // The run's cancel sender is gone (a read context): nothing can cancel any more.
    tokio::time::sleep(duration).await;
    Ok(())
}

/// `3m12s`, `850ms`.
pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let (hours, minutes, seconds) = (seconds / 3600, (seconds / 60) % 60, seconds % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds:02}s"),
        _ => format!("{hours}h{minutes:02}m{seconds:02}s"),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "LimitExceededException",
];

const ACCESS_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "ForbiddenException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "MissingAuthenticationToken",
];

const NOT_FOUND_CODES: &[&str] = &[
    "NotFoundException",
    "ResourceNotFoundException",
    "NoSuchKey",
    "NoSuchEntity",
    "InvalidInstanceID.NotFound",
    "InvalidInstanceID.Malformed",
];

/// The service's error code, when the service answered with one.
pub fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// True when the service said the object does not exist.
pub fn is_not_found<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error_code(error).is_some_and(|code| NOT_FOUND_CODES.contains(&code))
}

/// A provider error for a failed SDK call. `action` says what was attempted ("creating MSK
/// cluster orders"); the message adds the service's code and reason and, for throttling,
/// missing permissions, conflicts and unreachable endpoints, what to do about it.
pub fn aws_error<E, R>(action: &str, error: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("an unnamed error");
            let message = service
                .err()
                .message()
                .filter(|message| !message.is_empty())
                .map(|message| format!(": {message}"))
                .unwrap_or_default();
            if THROTTLING_CODES.contains(&code) {
                ProviderError::Failed(format!(
                    "{action}: AWS throttled the request ({code}{message}) and it was still throttled after the SDK's retries; wait and apply again, lower -parallelism, or raise max_attempts in the provider \"aws\" block"
                ))
            } else if ACCESS_CODES.contains(&code) {
                ProviderError::Failed(format!(
                    "{action}: access denied ({code}{message}); check which credentials cutover uses (provider \"aws\" profile or assume_role, AWS_PROFILE, AWS_ACCESS_KEY_ID) and that their policy allows this call"
                ))
            } else if code == "ConflictException" || code == "ConcurrentModificationException" {
                ProviderError::Failed(format!(
                    "{action}: the object was changed by someone else meanwhile ({code}{message}); run plan again to see its current state"
                ))
            } else {
                ProviderError::Failed(format!("{action}: {code}{message}"))
            }
        }
        SdkError::DispatchFailure(_) if causes(&error).contains("credentials") => {
            ProviderError::Failed(format!(
                "{action}: no AWS credentials could be loaded ({}); set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or profile/assume_role in the provider \"aws\" block",
                causes(&error)
            ))
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => ProviderError::Failed(format!(
            "{action}: cannot reach AWS ({}); check the network, the region and endpoint_url",
            causes(&error)
        )),
        SdkError::ConstructionFailure(_) => ProviderError::Failed(format!(
            "{action}: the request could not be made ({}); are AWS credentials configured (AWS_PROFILE, AWS_ACCESS_KEY_ID, or the provider \"aws\" block)?",
            causes(&error)
        )),
        _ => ProviderError::Failed(format!("{action}: {}", causes(&error))),
    }
}

/// An error and its causes, each once, as `a: b: c` (their `Display` forms: no debug dumps of
/// responses).
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = current {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_settings_stay_unset_at_any_depth() {
        let config = Value::Map(
            [
                ("name".to_owned(), Value::string("a")),
                ("tags".to_owned(), Value::Null),
                (
                    "group".to_owned(),
                    Value::Map(
                        [
                            ("type".to_owned(), Value::string("m5")),
                            ("security_groups".to_owned(), Value::Null),
                        ]
                        .into(),
                    ),
                ),
            ]
            .into(),
        );
        let live = Value::Map(
            [
                ("name".to_owned(), Value::string("a")),
                (
                    "tags".to_owned(),
                    tag_map([("k".to_owned(), "v".to_owned())]),
                ),
                ("arn".to_owned(), Value::string("arn:x")),
                (
                    "group".to_owned(),
                    Value::Map(
                        [
                            ("type".to_owned(), Value::string("m5")),
                            ("security_groups".to_owned(), string_list(["sg-1"])),
                        ]
                        .into(),
                    ),
                ),
            ]
            .into(),
        );
        let kept = attributes(&keep_unset(&config, live));
        assert_eq!(kept["tags"], Value::Null);
        assert_eq!(kept["arn"], Value::string("arn:x"));
        assert_eq!(attributes(&kept["group"])["security_groups"], Value::Null);
        assert_eq!(attributes(&kept["group"])["type"], Value::string("m5"));
    }

    #[test]
    fn tag_changes_split_removals_and_sets() {
        let before = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]);
        let after = BTreeMap::from([
            ("b".to_owned(), "3".to_owned()),
            ("c".to_owned(), "4".to_owned()),
        ]);
        let (removed, set) = tag_changes(&before, &after);
        assert_eq!(removed, vec!["a"]);
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn timeouts_read_durations_and_refuse_bad_ones() {
        let defaults = Timeouts::minutes(120, 120, 120);
        let object = BTreeMap::from([(
            "timeouts".to_owned(),
            Value::Map(
                [
                    ("create".to_owned(), Value::string("90m")),
                    ("update".to_owned(), Value::Null),
                    ("delete".to_owned(), Value::string("2h")),
                ]
                .into(),
            ),
        )]);
        let timeouts = Timeouts::of(&object, defaults).unwrap();
        assert_eq!(timeouts.create, Duration::from_secs(90 * 60));
        assert_eq!(timeouts.update, defaults.update);
        assert_eq!(timeouts.delete, Duration::from_secs(7200));
        let bad = BTreeMap::from([(
            "timeouts".to_owned(),
            Value::Map([("create".to_owned(), Value::string("forever"))].into()),
        )]);
        assert_eq!(
            Timeouts::of(&bad, defaults).unwrap_err().to_string(),
            "timeouts.create \"forever\" is not a positive duration like 90m, 2h or 30s"
        );
    }

    #[test]
    fn timeouts_unset_unknown_or_stored_as_a_hash_are_the_defaults() {
        let defaults = Timeouts::minutes(120, 120, 120);
        let hashed = Value::sensitive(Value::Map(BTreeMap::from([(
            crate::state::sensitive::SENSITIVE_MARKER.to_owned(),
            Value::string("hmac-sha256:00"),
        )])));
        let object = BTreeMap::from([(
            "timeouts".to_owned(),
            Value::Map(
                [
                    ("create".to_owned(), Value::Unknown),
                    ("update".to_owned(), hashed.clone()),
                    ("delete".to_owned(), Value::sensitive(Value::string("1h"))),
                ]
                .into(),
            ),
        )]);
        let timeouts = Timeouts::of(&object, defaults).unwrap();
        assert_eq!(timeouts.create, defaults.create);
        assert_eq!(timeouts.update, defaults.update);
        assert_eq!(timeouts.delete, Duration::from_secs(3600));
        for block in [Value::Null, Value::Unknown, hashed] {
            let object = BTreeMap::from([("timeouts".to_owned(), block)]);
            assert_eq!(Timeouts::of(&object, defaults).unwrap(), defaults);
        }
        assert_eq!(Timeouts::of(&BTreeMap::new(), defaults).unwrap(), defaults);
    }

    fn context_with(
        cancel: tokio::sync::watch::Receiver<bool>,
        lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) -> ProviderContext {
        ProviderContext {
            cancel,
            progress: std::sync::Arc::new(move |line: &str| {
                lines.lock().unwrap().push(line.to_owned())
            }),
            intent: std::sync::Arc::new(crate::engine::NoIntent),
            resumed: None,
            connections: std::sync::Arc::default(),
            state_key: None,
        }
    }

    #[tokio::test]
    async fn a_wait_reports_progress_and_stops_at_its_timeout() {
        let (_sender, cancel) = tokio::sync::watch::channel(false);
        let lines = std::sync::Arc::default();
        let context = context_with(cancel, std::sync::Arc::clone(&lines));
        let mut polls = 0u32;
        let started = Instant::now();
        let error = wait_until(
            &context,
            "creating MSK cluster orders",
            Duration::from_millis(200),
            Duration::from_millis(20),
            || {
                polls += 1;
                let status = if polls < 3 { "CREATING" } else { "HEALING" };
                async move { Ok::<_, ProviderError>(Poll::<()>::Waiting(status.to_owned())) }
            },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!((9..=13).contains(&polls), "{polls} polls");
        assert!(
            error.starts_with("creating MSK cluster orders: still HEALING after 2"),
            "{error}"
        );
        assert!(
            error.ends_with(
                "raise the timeout in a timeouts block and apply again to resume waiting"
            ),
            "{error}"
        );
        // One line per change of status.
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("creating MSK cluster orders: CREATING, "),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("creating MSK cluster orders: HEALING, "),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn a_wait_stops_promptly_when_the_run_is_cancelled() {
        let (sender, cancel) = tokio::sync::watch::channel(false);
        let context = context_with(cancel, std::sync::Arc::default());
        let started = Instant::now();
        let waiting = wait_until(
            &context,
            "deleting MSK cluster orders",
            Duration::from_secs(3600),
            Duration::from_secs(60),
            || async { Ok::<_, ProviderError>(Poll::<()>::Waiting("DELETING".to_owned())) },
        );
        let cancel_soon = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            sender.send(true).unwrap();
        };
        let (result, ()) = tokio::join!(waiting, cancel_soon);
        assert!(
            matches!(result, Err(ProviderError::Cancelled)),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_secs(192)), "3m12s");
        assert_eq!(human(Duration::from_secs(3 * 3600 + 5)), "3h00m05s");
    }
}

/// SDK clients whose HTTP layer is aws-smithy-mocks rules, for the error paths the local
/// emulator cannot produce (throttling, access denied, conflicts).
#[cfg(test)]
pub(crate) mod mocked {
    use std::sync::Arc;
    use std::time::Duration;

    use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client};

    use super::super::{Aws, AwsSettings, Clients};
    use crate::providers::{Connections, ProviderContext};

    /// Attempts per request in mocked clients: a throttled call is retried once.
    pub const ATTEMPTS: u32 = 2;

    fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
        rules.iter().fold(
            MockResponseInterceptor::new().rule_mode(RuleMode::Sequential),
            |interceptor, rule| interceptor.with_rule(rule),
        )
    }

    fn retry() -> aws_sdk_kafka::config::retry::RetryConfig {
        aws_sdk_kafka::config::retry::RetryConfig::standard()
            .with_max_attempts(ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_millis(5))
    }

    fn credentials() -> aws_sdk_kafka::config::Credentials {
        aws_sdk_kafka::config::Credentials::new("AKIDMOCKED", "secret", None, None, "mocked")
    }

    /// Clients answering with `kafka`, `secrets` and `ec2` rules (in order, per service).
    pub fn clients(kafka: &[&Rule], secrets: &[&Rule], ec2: &[&Rule]) -> Clients {
        let region = aws_sdk_kafka::config::Region::new("us-east-1");
        let version = aws_sdk_kafka::config::BehaviorVersion::latest();
        Clients {
            settings: AwsSettings::default(),
            region: "us-east-1".to_owned(),
            kafka: aws_sdk_kafka::Client::from_conf(
                aws_sdk_kafka::Config::builder()
                    .behavior_version(version)
                    .region(region.clone())
                    .credentials_provider(credentials())
                    .retry_config(retry())
                    .http_client(create_mock_http_client())
                    .interceptor(interceptor(kafka))
                    .build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::Config::builder()
                    .behavior_version(version)
                    .region(region.clone())
                    .credentials_provider(credentials())
                    .retry_config(retry())
                    .http_client(create_mock_http_client())
                    .interceptor(interceptor(secrets))
                    .build(),
            ),
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::Config::builder()
                    .behavior_version(version)
                    .region(region)
                    .credentials_provider(credentials())
                    .retry_config(retry())
                    .http_client(create_mock_http_client())
                    .interceptor(interceptor(ec2))
                    .build(),
            ),
        }
    }

    pub async fn aws(clients: Clients) -> Arc<Aws> {
        Arc::new(Aws::new().with_clients(clients).await)
    }

    /// A context whose `provider "aws"` settings are the defaults (the mocked clients' key).
    pub fn context() -> ProviderContext {
        let (_sender, cancel) = tokio::sync::watch::channel(false);
        ProviderContext {
            cancel,
            progress: Arc::new(|_: &str| {}),
            intent: Arc::new(crate::engine::NoIntent),
            resumed: None,
            connections: Arc::new(Connections::default()),
            state_key: None,
        }
    }
}
