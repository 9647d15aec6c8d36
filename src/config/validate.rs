//! Validators a schema declares for an attribute's value: allowed strings, numeric ranges,
//! patterns (topic names, ARNs, durations, `host:port`, regexes, URLs) and lengths, and the
//! rules between attributes of one block (conflicts, requirements, attributes that apply only
//! when another has a given value). Pure functions of a value: the same check runs in
//! `validate` (offline, on whatever is known), at plan (when more is known) and at apply (when
//! everything is), so a value is judged once, with the same words, as soon as it is known.

use std::fmt;

use super::evaluate::parse_duration;
use super::value::Value;

/// What one attribute's value may be.
#[derive(Debug, Clone, PartialEq)]
pub enum Validator {
    /// One of these strings. `aliases` are words people write for an allowed value
    /// (`"exact"` for `"translate"`), offered as the suggestion.
    OneOf {
        values: &'static [&'static str],
        aliases: &'static [(&'static str, &'static str)],
        /// `sasl_ssl` is as good as `SASL_SSL`.
        ignore_case: bool,
    },
    /// A whole number from `min` to `max`, both included.
    IntRange {
        min: i64,
        max: i64,
    },
    /// A whole number in one of these inclusive ranges.
    IntRanges(&'static [(i64, i64)]),
    /// A number (not necessarily whole) of at least `min`.
    AtLeast(f64),
    /// A number (not necessarily whole) above `above` and at most `at_most`.
    Above {
        above: f64,
        at_most: f64,
    },
    Pattern(Pattern),
    /// The number of elements of a list, set or map.
    Length {
        min: usize,
        max: usize,
    },
    /// A duration (written as [`Pattern::Duration`] checks) from `min` to `max`, both
    /// included. A text that is not a duration at all is the pattern's to report.
    DurationRange {
        min: std::time::Duration,
        max: std::time::Duration,
    },
}

/// Named patterns for strings, each with its own explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// A Kafka topic name: 1 to 249 of `a-z A-Z 0-9 . _ -`, not `.` or `..`.
    TopicName,
    /// An Amazon Resource Name; `service` (`kafka`, `iam`), when not empty, must match.
    Arn { service: &'static str },
    /// `30s`, `5m`, `1h30m`, `250ms`.
    Duration,
    /// `host:port`; a list attribute checks each element, a string each comma-separated part.
    HostPort { default_port: u16 },
    /// A regular expression (Rust `regex` syntax).
    Regex,
    /// An `http://` or `https://` URL with a host.
    HttpUrl,
    /// A name of `a-z A-Z 0-9 . _ -`, 1 to `max` characters.
    Name { max: usize },
    /// A version of dot-separated numbers: `0.8.2`, `3.9`.
    Version,
    /// An MSK Kafka version: `3.9.x`, `2.8.1`, `3.7.x.kraft`.
    MskVersion,
    /// An MSK cluster name: 1 to 64 letters, digits and hyphens, starting with a letter or digit.
    MskClusterName,
    /// An EC2 instance id: `i-` and 8 or 17 hexadecimal digits.
    Ec2InstanceId,
    /// Another EC2 id: `prefix-` (`ami`, `subnet`) and 8 or 17 hexadecimal digits.
    Ec2Id { prefix: &'static str },
    /// An EC2 instance type: a family and a size, `m5.2xlarge`.
    Ec2InstanceType,
    /// A Kafka principal: a type and a name, `User:alice`.
    KafkaPrincipal,
    /// A Secrets Manager secret name or ARN MSK accepts for SCRAM: the name starts with
    /// `AmazonMSK_`.
    MskScramSecret,
    /// A ZooKeeper connect string: comma-separated `host:port`, optionally followed by a
    /// chroot path (`zk1:2181,zk2:2181/kafka`).
    ZookeeperConnect,
    /// An AWS region: `us-east-1`, `eu-central-2`, `us-gov-west-1`.
    AwsRegion,
    /// A Secrets Manager secret name: 1 to 512 of `a-z A-Z 0-9 / _ + = . @ -`.
    SecretName,
    /// A Secrets Manager secret, by name ([`Pattern::SecretName`]) or by ARN.
    SecretId,
}

impl Validator {
    pub const fn one_of(values: &'static [&'static str]) -> Self {
        Validator::OneOf {
            values,
            aliases: &[],
            ignore_case: false,
        }
    }

    /// One of `values`; what users write for one of them (`aliases`) is suggested.
    pub const fn one_of_or(
        values: &'static [&'static str],
        aliases: &'static [(&'static str, &'static str)],
    ) -> Self {
        Validator::OneOf {
            values,
            aliases,
            ignore_case: false,
        }
    }

    /// One of `values`, in any case.
    pub const fn one_of_any_case(values: &'static [&'static str]) -> Self {
        Validator::OneOf {
            values,
            aliases: &[],
            ignore_case: true,
        }
    }

    /// What the validator allows, in words (for messages and the reference docs).
    pub fn allowed(&self) -> String {
        match self {
            Validator::OneOf {
                values,
                ignore_case: true,
                ..
            } => format!("one of {} (in any case)", quoted_list(values)),
            Validator::OneOf { values, .. } => format!("one of {}", quoted_list(values)),
            Validator::IntRange { min, max } if *max == i64::MAX => {
                format!("a whole number of at least {min}")
            }
            Validator::IntRange { min, max } => format!("a whole number from {min} to {max}"),
            Validator::IntRanges(ranges) => {
                let parts: Vec<String> = ranges
                    .iter()
                    .map(|(min, max)| {
                        if min == max {
                            format!("{min}")
                        } else {
                            format!("a whole number from {min} to {max}")
                        }
                    })
                    .collect();
                parts.join(", or ")
            }
            Validator::AtLeast(min) => format!("a number of at least {min}"),
            Validator::Above { above, at_most } if at_most.is_infinite() => {
                format!("a number above {above}")
            }
            Validator::Above { above, at_most } => {
                format!("a number above {above} and at most {at_most}")
            }
            Validator::Pattern(pattern) => pattern.to_string(),
            Validator::Length { min, max } if *max == usize::MAX => {
                format!("at least {min} element{}", plural(*min))
            }
            Validator::Length { min, max } if min == max => {
                format!("exactly {min} element{}", plural(*min))
            }
            Validator::Length { min, max } => format!("{min} to {max} elements"),
            Validator::DurationRange { min, max } if *max == std::time::Duration::MAX => {
                format!("a duration of at least {}", duration_text(*min))
            }
            Validator::DurationRange { min, max } => format!(
                "a duration from {} to {}",
                duration_text(*min),
                duration_text(*max)
            ),
        }
    }

    /// A JSON description for `providers schema -json`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Validator::OneOf { values, .. } => serde_json::json!({"one_of": values}),
            Validator::IntRange { min, max } => {
                let max = (*max != i64::MAX).then_some(*max);
                serde_json::json!({"int_range": {"min": min, "max": max}})
            }
            Validator::IntRanges(ranges) => serde_json::json!({"int_ranges": ranges}),
            Validator::AtLeast(min) => serde_json::json!({"at_least": min}),
            Validator::Above { above, at_most } => {
                let at_most = at_most.is_finite().then_some(*at_most);
                serde_json::json!({"above": above, "at_most": at_most})
            }
            Validator::Pattern(pattern) => {
                serde_json::json!({"pattern": pattern.name(), "description": pattern.to_string()})
            }
            Validator::Length { min, max } => {
                let max = (*max != usize::MAX).then_some(*max);
                serde_json::json!({"length": {"min": min, "max": max}})
            }
            Validator::DurationRange { min, max } => {
                let max = (*max != std::time::Duration::MAX).then(|| duration_text(*max));
                serde_json::json!({"duration_range": {"min": duration_text(*min), "max": max}})
            }
        }
    }
}

impl Pattern {
    fn name(&self) -> &'static str {
        match self {
            Pattern::TopicName => "topic_name",
            Pattern::Arn { .. } => "arn",
            Pattern::Duration => "duration",
            Pattern::HostPort { .. } => "host_port",
            Pattern::Regex => "regex",
            Pattern::HttpUrl => "http_url",
            Pattern::Name { .. } => "name",
            Pattern::Version => "version",
            Pattern::MskVersion => "msk_kafka_version",
            Pattern::MskClusterName => "msk_cluster_name",
            Pattern::Ec2InstanceId => "ec2_instance_id",
            Pattern::Ec2Id { .. } => "ec2_id",
            Pattern::Ec2InstanceType => "ec2_instance_type",
            Pattern::KafkaPrincipal => "kafka_principal",
            Pattern::MskScramSecret => "msk_scram_secret",
            Pattern::ZookeeperConnect => "zookeeper_connect",
            Pattern::AwsRegion => "aws_region",
            Pattern::SecretName => "secret_name",
            Pattern::SecretId => "secret_id",
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::TopicName => f.write_str(
                "a topic name: 1 to 249 characters of a-z A-Z 0-9 . _ - (not \".\" or \"..\")",
            ),
            Pattern::Arn { service: "" } => {
                f.write_str("an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)")
            }
            Pattern::Arn { service } => {
                write!(
                    f,
                    "an ARN of {service} (arn:aws:{service}:REGION:ACCOUNT:RESOURCE)"
                )
            }
            Pattern::Duration => f.write_str(
                "a duration: a number and a unit, like \"30s\", \"5m\", \"1h30m\" or \"250ms\"",
            ),
            Pattern::HostPort { .. } => f.write_str("host:port (e.g. \"10.0.1.10:9092\")"),
            Pattern::Regex => f.write_str("a regular expression"),
            Pattern::HttpUrl => f.write_str(
                "an http:// or https:// URL with a host, without credentials or a query string",
            ),
            Pattern::Name { max } => write!(f, "1 to {max} characters of a-z A-Z 0-9 . _ -"),
            Pattern::MskVersion => f.write_str("an MSK Kafka version, like \"3.9.x\" or \"2.8.1\""),
            Pattern::MskClusterName => {
                f.write_str("1 to 64 letters, digits and hyphens, starting with a letter or digit")
            }
            Pattern::Ec2InstanceId => {
                f.write_str("an EC2 instance id: i- and 8 or 17 hexadecimal digits")
            }
            Pattern::Ec2Id { prefix } => {
                write!(f, "an EC2 id: {prefix}- and 8 or 17 hexadecimal digits")
            }
            Pattern::Ec2InstanceType => {
                f.write_str("an EC2 instance type: a family and a size, like \"m5.2xlarge\"")
            }
            Pattern::KafkaPrincipal => {
                f.write_str("a Kafka principal, TYPE:NAME (e.g. \"User:alice\")")
            }
            Pattern::MskScramSecret => f.write_str(
                "a Secrets Manager secret (name or ARN) whose name starts with AmazonMSK_, as MSK requires for SCRAM",
            ),
            Pattern::Version => {
                f.write_str("a version of dot-separated numbers, like \"0.8.2\" or \"3.9\"")
            }
            Pattern::ZookeeperConnect => f.write_str(
                "a ZooKeeper connect string: host:port, comma-separated, and an optional /chroot (e.g. \"zk1:2181,zk2:2181/kafka\")",
            ),
            Pattern::AwsRegion => f.write_str("an AWS region, like \"us-east-1\""),
            Pattern::SecretName => {
                f.write_str("a secret name: 1 to 512 characters of a-z A-Z 0-9 / _ + = . @ -")
            }
            Pattern::SecretId => f.write_str(
                "a secret name (1 to 512 characters of a-z A-Z 0-9 / _ + = . @ -) or a Secrets Manager ARN",
            ),
        }
    }
}

/// When another attribute of the same block has one of some values (an unset one counts
/// with its default).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub attribute: &'static str,
    pub equals: &'static [&'static str],
    /// Why, in a few words, added to the message.
    pub because: &'static str,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values: Vec<String> = self.equals.iter().map(|v| format!("{v:?}")).collect();
        write!(f, "{} = {}", self.attribute, values.join(" or "))
    }
}

/// A value that did not pass: the message, a hint (the closest allowed value, or what is
/// allowed), and, for a list, the element at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub hint: Option<String>,
    pub element: Option<usize>,
}

/// Runs `validators` over the known parts of `value` (unknown parts are checked once known).
/// `name` is the attribute's name, for messages. A scalar validator applied to a list, set
/// or map checks each element.
pub fn check(name: &str, value: &Value, validators: &[Validator]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let (value, sensitive) = value.clone().unmark();
    for validator in validators {
        match (validator, &value) {
            (_, Value::Null | Value::Unknown) => {}
            (Validator::Length { min, max }, collection) => {
                let count = match collection {
                    Value::List(items) | Value::Set(items) => items.len(),
                    Value::Map(map) => map.len(),
                    _ => continue,
                };
                if count < *min || count > *max {
                    problems.push(Problem {
                        message: format!(
                            "invalid value for \"{name}\": {count} element{} given, {} allowed",
                            plural(count),
                            validator.allowed()
                        ),
                        hint: None,
                        element: None,
                    });
                }
            }
            (_, Value::List(items) | Value::Set(items)) => {
                for (index, item) in items.iter().enumerate() {
                    let (item, item_sensitive) = item.clone().unmark();
                    if let Some(mut problem) =
                        check_scalar(name, &item, sensitive || item_sensitive, validator)
                    {
                        problem.element = Some(index);
                        problems.push(problem);
                    }
                }
            }
            (_, Value::Map(map)) => {
                for item in map.values() {
                    let (item, item_sensitive) = item.clone().unmark();
                    problems.extend(check_scalar(
                        name,
                        &item,
                        sensitive || item_sensitive,
                        validator,
                    ));
                }
            }
            (_, scalar) => problems.extend(check_scalar(name, scalar, sensitive, validator)),
        }
    }
    problems
}

fn check_scalar(
    name: &str,
    value: &Value,
    sensitive: bool,
    validator: &Validator,
) -> Option<Problem> {
    if matches!(value, Value::Null | Value::Unknown) {
        return None;
    }
    let shown = if sensitive {
        "(sensitive value)".to_owned()
    } else if let (Validator::Pattern(Pattern::HttpUrl), Some(url)) = (validator, value.as_str()) {
        // The password of a URL with credentials is not repeated in the message.
        format!("{:?}", without_userinfo(url))
    } else {
        value.to_string()
    };
    let problem = |reason: String, hint: Option<String>| {
        Some(Problem {
            message: format!("invalid value for \"{name}\": {shown} {reason}"),
            // A suggestion derived from a sensitive value would show it.
            hint: if sensitive { None } else { hint },
            element: None,
        })
    };
    match validator {
        Validator::OneOf {
            values,
            aliases,
            ignore_case,
        } => {
            let text = value.as_str()?;
            if values.contains(&text)
                || (*ignore_case && values.iter().any(|v| v.eq_ignore_ascii_case(text)))
            {
                return None;
            }
            let suggestion = closest_allowed(text, values, aliases);
            problem(
                format!("is not {}", validator.allowed()),
                suggestion.map(|s| format!("did you mean \"{s}\"?")),
            )
        }
        Validator::IntRange { min, max } => {
            let number = value.as_number()?.as_f64()?;
            if number.fract() != 0.0 {
                return problem(
                    format!("is not a whole number: {} allowed", validator.allowed()),
                    Some(format!("did you mean {}?", number.round() as i64)),
                );
            }
            let whole = number as i64;
            if whole < *min || whole > *max {
                let nearest = whole.clamp(*min, *max);
                return problem(
                    format!("is out of range: {} allowed", validator.allowed()),
                    Some(format!("the nearest allowed value is {nearest}")),
                );
            }
            None
        }
        Validator::IntRanges(ranges) => {
            let number = value.as_number()?.as_f64()?;
            let whole = number as i64;
            if number.fract() == 0.0
                && ranges
                    .iter()
                    .any(|(min, max)| (*min..=*max).contains(&whole))
            {
                return None;
            }
            let nearest = ranges
                .iter()
                .map(|(min, max)| whole.clamp(*min, *max))
                .min_by_key(|candidate| (candidate - whole).abs())?;
            problem(
                format!("is not allowed: {}", validator.allowed()),
                Some(format!("the nearest allowed value is {nearest}")),
            )
        }
        Validator::AtLeast(min) => {
            let number = value.as_number()?.as_f64()?;
            (number < *min).then_some(())?;
            problem(
                format!("is out of range: {} allowed", validator.allowed()),
                Some(format!("the nearest allowed value is {min}")),
            )
        }
        Validator::Above { above, at_most } => {
            let number = value.as_number()?.as_f64()?;
            if number > *above && number <= *at_most {
                return None;
            }
            problem(
                format!("is out of range: {} allowed", validator.allowed()),
                (number > *at_most).then(|| format!("the nearest allowed value is {at_most}")),
            )
        }
        Validator::Pattern(pattern) => {
            let text = value.as_str()?;
            let (reason, suggestion) = check_pattern(*pattern, text)?;
            problem(
                reason.unwrap_or_else(|| format!("is not {pattern}")),
                suggestion.map(|s| format!("did you mean {s:?}?")),
            )
        }
        Validator::DurationRange { min, max } => {
            let duration = parse_duration(value.as_str()?)?;
            if duration >= *min && duration <= *max {
                return None;
            }
            let nearest = duration.clamp(*min, *max);
            problem(
                format!("is out of range: {} allowed", validator.allowed()),
                Some(format!(
                    "the nearest allowed value is \"{}\"",
                    duration_text(nearest)
                )),
            )
        }
        Validator::Length { .. } => None,
    }
}

/// A duration as the configuration writes it: `250ms`, `6s`, `5m`, `1h30m`.
pub fn duration_text(duration: std::time::Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    if millis % 1000 != 0 {
        return format!("{millis}ms");
    }
    let seconds = millis / 1000;
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut text = String::new();
    for (amount, unit) in [(hours, "h"), (minutes, "m"), (seconds, "s")] {
        if amount > 0 {
            text.push_str(&format!("{amount}{unit}"));
        }
    }
    text
}

/// `None` when `text` matches; otherwise an optional specific reason (replacing "is not
/// PATTERN") and an optional corrected value.
fn check_pattern(pattern: Pattern, text: &str) -> Option<(Option<String>, Option<String>)> {
    match pattern {
        Pattern::TopicName => {
            if is_topic_name(text) {
                return None;
            }
            let fixed: String = text
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                        c
                    } else {
                        '_'
                    }
                })
                .take(249)
                .collect();
            Some((None, is_topic_name(&fixed).then_some(fixed)))
        }
        Pattern::Name { max } => {
            let valid = !text.is_empty()
                && text.chars().count() <= max
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            (!valid).then_some((None, None))
        }
        Pattern::MskVersion => {
            let mut parts = text.split('.');
            let numeric = |part: Option<&str>| {
                part.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            };
            let valid = numeric(parts.next())
                && numeric(parts.next())
                && parts.all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
            let suggestion = text
                .strip_prefix('v')
                .filter(|rest| !rest.is_empty())
                .map(str::to_owned);
            (!valid).then_some((None, suggestion))
        }
        Pattern::MskClusterName => {
            let valid = text.len() <= 64
                && text
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            let fixed: String = text
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .take(64)
                .collect();
            let fixed_valid = fixed
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric());
            (!valid).then_some((None, fixed_valid.then_some(fixed)))
        }
        Pattern::KafkaPrincipal => {
            let valid = text.split_once(':').is_some_and(|(kind, name)| {
                !kind.is_empty()
                    && kind.chars().all(|c| c.is_ascii_alphabetic())
                    && !name.is_empty()
            });
            let suggestion =
                (!text.is_empty() && !text.contains(':')).then(|| format!("User:{text}"));
            (!valid).then_some((None, suggestion))
        }
        Pattern::MskScramSecret => {
            // An ARN ends in `secret:NAME-SUFFIX`; a name is taken as it is.
            let name = if text.starts_with("arn:") {
                let parts: Vec<&str> = text.splitn(7, ':').collect();
                if parts.len() == 7 && parts[5] == "secret" {
                    parts[6]
                } else {
                    ""
                }
            } else {
                text
            };
            let valid = name.starts_with("AmazonMSK_") && name.len() > "AmazonMSK_".len();
            let suggestion = (!text.starts_with("arn:") && !valid && !text.is_empty())
                .then(|| format!("AmazonMSK_{text}"));
            (!valid).then_some((None, suggestion))
        }
        Pattern::ZookeeperConnect => {
            let (hosts, chroot) = match text.find('/') {
                Some(slash) => (&text[..slash], Some(&text[slash..])),
                None => (text, None),
            };
            let bad_host = hosts
                .split(',')
                .map(str::trim)
                .find(|part| !is_host_port(part));
            let bad_chroot = chroot.is_some_and(|path| {
                path.len() < 2 || path.ends_with('/') || path.contains("//") || path.contains(' ')
            });
            match (bad_host, bad_chroot) {
                (None, false) => None,
                (Some(bad), _) => {
                    let suggestion = (!bad.is_empty()
                        && !bad.contains(':')
                        && !bad.contains(' ')
                        && !hosts.contains(','))
                    .then(|| format!("{bad}:2181{}", chroot.unwrap_or_default()));
                    let reason = hosts
                        .contains(',')
                        .then(|| format!("holds {bad:?}, which is not host:port"));
                    Some((reason, suggestion))
                }
                (None, true) => Some((
                    Some(format!(
                        "has the chroot {:?}, which is not a path like \"/kafka\"",
                        chroot.unwrap_or_default()
                    )),
                    None,
                )),
            }
        }
        Pattern::AwsRegion => {
            let parts: Vec<&str> = text.split('-').collect();
            let valid = parts.len() >= 3
                && parts[0].len() == 2
                && parts.iter().all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                })
                && parts
                    .last()
                    .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
            let lower = text.trim().to_ascii_lowercase().replace('_', "-");
            let suggestion = (lower != text).then_some(lower);
            (!valid).then_some((None, suggestion))
        }
        Pattern::SecretName => (!is_secret_name(text)).then_some((None, None)),
        Pattern::SecretId => {
            if text.starts_with("arn:") {
                return check_pattern(
                    Pattern::Arn {
                        service: "secretsmanager",
                    },
                    text,
                );
            }
            (!is_secret_name(text)).then_some((None, None))
        }
        Pattern::Ec2InstanceId => check_pattern(Pattern::Ec2Id { prefix: "i" }, text),
        Pattern::Ec2Id { prefix } => {
            let valid = text
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|hex| {
                    matches!(hex.len(), 8 | 17) && hex.chars().all(|c| c.is_ascii_hexdigit())
                });
            let lower = text.trim().to_ascii_lowercase();
            let suggestion = (lower != text).then_some(lower);
            (!valid).then_some((None, suggestion))
        }
        Pattern::Ec2InstanceType => {
            let valid = text.split_once('.').is_some_and(|(family, size)| {
                let part = |p: &str| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                };
                part(family) && part(size) && !size.contains('.')
            });
            let lower = text.trim().to_ascii_lowercase();
            let suggestion = (lower != text).then_some(lower);
            (!valid).then_some((None, suggestion))
        }
        Pattern::Version => {
            let parts: Vec<&str> = text.trim().split('.').collect();
            let valid = parts.len() <= 4
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            let suggestion = text
                .trim()
                .strip_prefix('v')
                .filter(|rest| {
                    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
                })
                .map(str::to_owned);
            (!valid).then_some((None, suggestion))
        }
        Pattern::Arn { service } => {
            let parts: Vec<&str> = text.splitn(6, ':').collect();
            let shaped = parts.len() == 6
                && parts[0] == "arn"
                && !parts[1].is_empty()
                && !parts[2].is_empty()
                && !parts[5].is_empty();
            if !shaped {
                return Some((None, None));
            }
            if !service.is_empty() && parts[2] != service {
                return Some((
                    Some(format!("is an ARN of {}, not of {service}", parts[2])),
                    None,
                ));
            }
            None
        }
        Pattern::Duration => {
            if parse_duration(text).is_some() {
                return None;
            }
            let trimmed = text.trim();
            let suggestion = (!trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()))
                .then(|| format!("{trimmed}s"));
            Some((None, suggestion))
        }
        Pattern::HostPort { default_port } => {
            let bad = text
                .split(',')
                .map(str::trim)
                .find(|part| !is_host_port(part))?;
            let suggestion = (!bad.is_empty() && !bad.contains(':') && !bad.contains(' '))
                .then(|| format!("{bad}:{default_port}"));
            let reason = if text.contains(',') {
                Some(format!("holds {bad:?}, which is not host:port"))
            } else {
                None
            };
            Some((reason, suggestion))
        }
        Pattern::Regex => match regex::Regex::new(text) {
            Ok(_) => None,
            Err(error) => {
                let detail = error.to_string();
                let last = detail.lines().last().unwrap_or_default().trim();
                let last = last.strip_prefix("error: ").unwrap_or(last);
                Some((
                    Some(format!("is not a valid regular expression: {last}")),
                    None,
                ))
            }
        },
        Pattern::HttpUrl => {
            let rest = text
                .strip_prefix("http://")
                .or_else(|| text.strip_prefix("https://"));
            let authority = rest.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
            match rest {
                Some(_) if authority.is_some_and(|authority| authority.contains('@')) => Some((
                    Some(
                        "holds credentials (user:password@): they would be stored and shown as written"
                            .to_owned(),
                    ),
                    None,
                )),
                Some(rest) if rest.contains('?') => {
                    Some((Some("has a query string".to_owned()), None))
                }
                Some(rest) if !rest.is_empty() && !rest.starts_with('/') => None,
                Some(_) => Some((Some("has no host".to_owned()), None)),
                None => {
                    let suggestion = (!text.contains("://") && !text.is_empty())
                        .then(|| format!("http://{text}"));
                    Some((None, suggestion))
                }
            }
        }
    }
}

pub fn is_topic_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 249
        && text != "."
        && text != ".."
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `url` with the `user:password@` of its authority replaced by `***@`.
fn without_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|index| index + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

fn is_secret_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 512
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
}

fn is_host_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    !host.is_empty()
        && !host.contains(char::is_whitespace)
        && port.parse::<u16>().is_ok_and(|port| port > 0)
}

/// The allowed value closest to `text`: an alias's value, a match ignoring case, or the
/// nearest by edit distance when it is near enough to be a typo.
fn closest_allowed(
    text: &str,
    values: &[&'static str],
    aliases: &[(&'static str, &'static str)],
) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    if let Some(value) = values.iter().find(|v| v.eq_ignore_ascii_case(text)) {
        return Some(value);
    }
    if let Some((_, value)) = aliases.iter().find(|(alias, _)| *alias == lower) {
        return Some(value);
    }
    super::schema::suggest(&lower, values.iter().copied())
}

fn quoted_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(value: Value, validator: Validator) -> Vec<(String, Option<String>)> {
        check("x", &value, &[validator])
            .into_iter()
            .map(|p| (p.message, p.hint))
            .collect()
    }

    #[test]
    fn one_of_suggests_an_alias_or_a_close_value() {
        const OFFSETS: Validator =
            Validator::one_of_or(&["preserve", "translate"], &[("exact", "translate")]);
        assert_eq!(
            messages(Value::string("exact"), OFFSETS),
            vec![(
                "invalid value for \"x\": \"exact\" is not one of \"preserve\", \"translate\""
                    .to_owned(),
                Some("did you mean \"translate\"?".to_owned())
            )]
        );
        assert_eq!(
            messages(Value::string("perserve"), OFFSETS)[0].1.as_deref(),
            Some("did you mean \"preserve\"?")
        );
        assert_eq!(messages(Value::string("zzz"), OFFSETS)[0].1, None);
        assert!(messages(Value::string("translate"), OFFSETS).is_empty());
        assert!(messages(Value::Unknown, OFFSETS).is_empty());
    }

    #[test]
    fn ranges_name_the_nearest_allowed_value() {
        let range = Validator::IntRange { min: 1, max: 100 };
        assert_eq!(
            messages(Value::int(0), range.clone()),
            vec![(
                "invalid value for \"x\": 0 is out of range: a whole number from 1 to 100 allowed"
                    .to_owned(),
                Some("the nearest allowed value is 1".to_owned())
            )]
        );
        assert!(messages(Value::int(100), range).is_empty());
    }

    #[test]
    fn patterns_check_each_element_and_suggest_a_fix() {
        let problems = check(
            "bootstrap_servers",
            &Value::List(vec![Value::string("a:9092"), Value::string("b")]),
            &[Validator::Pattern(Pattern::HostPort { default_port: 9092 })],
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].element, Some(1));
        assert_eq!(
            problems[0].hint.as_deref(),
            Some("did you mean \"b:9092\"?")
        );
        assert!(is_topic_name("orders.v1-eu_2"));
        assert!(!is_topic_name(".."));
        assert_eq!(
            messages(
                Value::string("my topic"),
                Validator::Pattern(Pattern::TopicName)
            )[0]
            .1
            .as_deref(),
            Some("did you mean \"my_topic\"?")
        );
        assert_eq!(
            messages(Value::string("30"), Validator::Pattern(Pattern::Duration))[0]
                .1
                .as_deref(),
            Some("did you mean \"30s\"?")
        );
        assert!(
            messages(
                Value::string("arn:aws:kafka:us-east-1:123:cluster/x/y"),
                Validator::Pattern(Pattern::Arn { service: "kafka" })
            )
            .is_empty()
        );
        assert_eq!(
            messages(
                Value::string("arn:aws:iam::123:role/x"),
                Validator::Pattern(Pattern::Arn { service: "kafka" })
            )[0]
            .0,
            "invalid value for \"x\": \"arn:aws:iam::123:role/x\" is an ARN of iam, not of kafka"
        );
    }

    #[test]
    fn sensitive_values_are_never_shown() {
        let shown = messages(
            Value::sensitive(Value::string("hunter2")),
            Validator::one_of(&["a"]),
        );
        assert_eq!(
            shown,
            vec![(
                "invalid value for \"x\": (sensitive value) is not one of \"a\"".to_owned(),
                None
            )]
        );
    }

    #[test]
    fn duration_ranges_name_the_nearest_allowed_duration() {
        const LOAD: Validator = Validator::DurationRange {
            min: std::time::Duration::from_secs(1),
            max: std::time::Duration::from_secs(3600),
        };
        assert_eq!(
            messages(Value::string("2h"), LOAD),
            vec![(
                "invalid value for \"x\": \"2h\" is out of range: a duration from 1s to 1h allowed"
                    .to_owned(),
                Some("the nearest allowed value is \"1h\"".to_owned())
            )]
        );
        assert_eq!(
            messages(Value::string("500ms"), LOAD)[0].1.as_deref(),
            Some("the nearest allowed value is \"1s\"")
        );
        assert!(messages(Value::string("1h"), LOAD).is_empty());
        // Not a duration at all: the pattern says so, not the range.
        assert!(messages(Value::string("soon"), LOAD).is_empty());
        assert_eq!(duration_text(std::time::Duration::from_secs(5400)), "1h30m");
        assert_eq!(duration_text(std::time::Duration::from_millis(50)), "50ms");
    }

    #[test]
    fn a_url_with_credentials_is_refused_without_repeating_them() {
        let shown = messages(
            Value::string("http://admin:pw@connect:8083/x"),
            Validator::Pattern(Pattern::HttpUrl),
        );
        assert_eq!(
            shown[0].0,
            "invalid value for \"x\": \"http://***@connect:8083/x\" holds credentials (user:password@): they would be stored and shown as written"
        );
    }

    #[test]
    fn zookeeper_regions_and_secret_names() {
        let zookeeper = Validator::Pattern(Pattern::ZookeeperConnect);
        for fine in ["zk:2181", "a:2181,b:2181/kafka", "10.0.1.20:2181/legacy/x"] {
            assert!(
                messages(Value::string(fine), zookeeper.clone()).is_empty(),
                "{fine}"
            );
        }
        assert_eq!(
            messages(Value::string("zk/kafka"), zookeeper.clone())[0]
                .1
                .as_deref(),
            Some("did you mean \"zk:2181/kafka\"?")
        );
        assert_eq!(
            messages(Value::string("a:2181,b"), zookeeper.clone())[0].0,
            "invalid value for \"x\": \"a:2181,b\" holds \"b\", which is not host:port"
        );
        assert!(
            messages(Value::string("a:2181/kafka/"), zookeeper)[0]
                .0
                .contains("is not a path like \"/kafka\"")
        );
        let region = Validator::Pattern(Pattern::AwsRegion);
        assert!(messages(Value::string("us-gov-west-1"), region.clone()).is_empty());
        assert_eq!(
            messages(Value::string("US_EAST_1"), region.clone())[0]
                .1
                .as_deref(),
            Some("did you mean \"us-east-1\"?")
        );
        assert!(!messages(Value::string("useast1"), region).is_empty());
        let secret = Validator::Pattern(Pattern::SecretId);
        assert!(messages(Value::string("prod/orders/kafka"), secret.clone()).is_empty());
        assert!(
            messages(
                Value::string("arn:aws:secretsmanager:us-east-1:123:secret:x-AbCdEf"),
                secret.clone()
            )
            .is_empty()
        );
        assert!(!messages(Value::string("prod orders"), secret.clone()).is_empty());
        assert_eq!(
            messages(
                Value::string("arn:aws:kafka:us-east-1:123:cluster/x"),
                secret
            )[0]
            .0,
            "invalid value for \"x\": \"arn:aws:kafka:us-east-1:123:cluster/x\" is an ARN of kafka, not of secretsmanager"
        );
    }

    #[test]
    fn lengths_count_elements() {
        assert_eq!(
            messages(
                Value::List(Vec::new()),
                Validator::Length {
                    min: 1,
                    max: usize::MAX
                }
            )[0]
            .0,
            "invalid value for \"x\": 0 elements given, at least 1 element allowed"
        );
    }
}
