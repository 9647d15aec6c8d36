//! The schema of a `cluster "name" { ... }` block, a Kafka connection: its arguments, the rules
//! between them and the advice `validate` gives. Here, beside the connection it describes, so
//! the connection decodes a block without reaching up into the providers (which register it).

use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;
use crate::config::validate::{Pattern, Validator};
use crate::config::value::Value;

/// `host:port` of Kafka brokers, with the port suggested when it is left out.
pub const BROKERS: Pattern = Pattern::HostPort { default_port: 9092 };

/// The arguments of a `cluster "name" { ... }` block (a Kafka connection).
pub fn cluster_schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::required("bootstrap_servers", Type::Any)
                .describe("a list of host:port, or one comma-separated string")
                .pattern(BROKERS)
                .validate(Validator::Length {
                    min: 1,
                    max: usize::MAX,
                }),
            AttributeSchema::optional("broker_version", Type::String)
                .describe(
                    "the brokers' version, e.g. \"0.8.2\"; below 0.10 disables API version requests",
                )
                .pattern(Pattern::Version),
            AttributeSchema::optional("zookeeper", Type::String)
                .describe("ZooKeeper connect string, where 0.8-era consumers keep offsets")
                .pattern(Pattern::ZookeeperConnect),
            AttributeSchema::optional("client_id", Type::String)
                .describe("the client.id the brokers see (quotas, logs)")
                .default_value(Value::string("cutover")),
            AttributeSchema::optional("security_protocol", Type::String)
                .describe("PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
                .validate(Validator::one_of_any_case(&[
                    "PLAINTEXT",
                    "SSL",
                    "SASL_PLAINTEXT",
                    "SASL_SSL",
                ])),
            AttributeSchema::optional("auth", Type::String)
                .describe("\"aws_msk_iam\" for IAM authentication")
                .validate(Validator::one_of_or(
                    &["aws_msk_iam"],
                    &[("iam", "aws_msk_iam"), ("aws_iam", "aws_msk_iam"), ("msk_iam", "aws_msk_iam")],
                ))
                .conflicts_with(&["sasl_mechanism", "sasl_username", "sasl_password"]),
            AttributeSchema::optional("sasl_mechanism", Type::String)
                .describe("SCRAM-SHA-256 or SCRAM-SHA-512")
                .validate(Validator::one_of_any_case(&[
                    "SCRAM-SHA-256",
                    "SCRAM-SHA-512",
                    "PLAIN",
                ]))
                .requires(&["sasl_username", "sasl_password"]),
            AttributeSchema::optional("sasl_username", Type::String)
                .describe("the SASL user")
                .requires(&["sasl_mechanism"]),
            AttributeSchema::optional("sasl_password", Type::String)
                .describe("the SASL password, never printed or stored: read it from a sensitive variable or a Secrets Manager data source")
                .sensitive()
                .requires(&["sasl_mechanism"]),
            AttributeSchema::optional("tls_ca_file", Type::String)
                .describe("a PEM file of the CA certificates the brokers are verified with; must exist"),
            AttributeSchema::optional("tls_cert_file", Type::String)
                .describe("a PEM file with the client certificate, for mutual TLS; must exist"),
            AttributeSchema::optional("tls_key_file", Type::String)
                .describe("a PEM file with the client certificate's key; must exist"),
            AttributeSchema::optional("properties", Type::map_of(Type::String))
                .describe("librdkafka properties passed through, checked by name"),
            AttributeSchema::optional("timeout", Type::String)
                .describe("how long connecting and each request may take")
                .default_value(Value::string("30s"))
                .duration_range(std::time::Duration::from_secs(1), std::time::Duration::MAX),
            AttributeSchema::optional("aws_region", Type::String)
                .describe("the region MSK IAM tokens are signed for (default AWS_REGION)")
                .pattern(Pattern::AwsRegion)
                .only_when("auth", &["aws_msk_iam"], "only MSK IAM tokens are signed for a region"),
        ],
        Vec::new(),
    )
    .with_advice(cluster_advice)
    .with_check(
        "SASL (`sasl_mechanism`, `auth = \"aws_msk_iam\"`) needs a `SASL_` `security_protocol` (the default then is SASL_SSL)",
        sasl_needs_sasl_protocol,
    )
    .with_check(
        "`properties` may not set what the block's own arguments set (bootstrap.servers, security.protocol, sasl.*, ssl.*.location, client.id)",
        properties_leave_owned_settings,
    )
}

/// The cluster schema, built once (connections decode against it every time they connect).
pub fn cluster_schema_ref() -> &'static Schema {
    static SCHEMA: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(cluster_schema)
}

/// librdkafka properties a `cluster` block sets through its own arguments, and the argument
/// that sets each: `properties` may not override them, so a typo cannot silently change the
/// security of a connection.
pub const OWNED_PROPERTIES: &[(&str, &str)] = &[
    ("bootstrap.servers", "bootstrap_servers"),
    ("metadata.broker.list", "bootstrap_servers"),
    ("security.protocol", "security_protocol"),
    ("sasl.mechanism", "sasl_mechanism"),
    ("sasl.mechanisms", "sasl_mechanism"),
    ("sasl.username", "sasl_username"),
    ("sasl.password", "sasl_password"),
    ("ssl.ca.location", "tls_ca_file"),
    ("ssl.certificate.location", "tls_cert_file"),
    ("ssl.key.location", "tls_key_file"),
    ("client.id", "client_id"),
];

/// The rule that SASL settings come with a SASL protocol. Unset, the protocol defaults to
/// SASL_SSL when SASL is used.
fn sasl_needs_sasl_protocol(
    cluster: &std::collections::BTreeMap<String, Value>,
) -> Vec<crate::config::schema::Finding> {
    use crate::config::decode::rule::{text, unset};
    let Some(protocol) = text(cluster, "security_protocol") else {
        return Vec::new();
    };
    let protocol = protocol.trim().to_ascii_uppercase();
    let sasl = if text(cluster, "auth").is_some() {
        "auth = \"aws_msk_iam\""
    } else if !unset(cluster, "sasl_mechanism") {
        "sasl_mechanism"
    } else {
        return Vec::new();
    };
    if protocol.starts_with("SASL_") {
        return Vec::new();
    }
    // Only the protocol's own name is quoted: it is one of four words, never a secret.
    let suggested = if protocol == "PLAINTEXT" {
        "SASL_PLAINTEXT"
    } else {
        "SASL_SSL"
    };
    vec![crate::config::schema::Finding {
        attribute: "security_protocol",
        message: format!(
            "{sasl} needs a SASL_ security_protocol (SASL_SSL or SASL_PLAINTEXT), not {}",
            if cluster
                .get("security_protocol")
                .is_some_and(Value::contains_sensitive)
            {
                "(sensitive value)"
            } else {
                protocol.as_str()
            }
        ),
        hint: Some(format!(
            "did you mean \"{suggested}\"? (or leave security_protocol out)"
        )),
    }]
}

/// The rule that `properties` leaves the block's own settings alone.
fn properties_leave_owned_settings(
    cluster: &std::collections::BTreeMap<String, Value>,
) -> Vec<crate::config::schema::Finding> {
    let Some(properties) = cluster.get("properties") else {
        return Vec::new();
    };
    let sensitive = properties.contains_sensitive();
    let Some(properties) = properties.peel().as_map() else {
        return Vec::new();
    };
    properties
        .keys()
        .filter_map(|name| {
            let (_, argument) = OWNED_PROPERTIES
                .iter()
                .find(|(property, _)| property == name)?;
            let name = if sensitive {
                "(sensitive)"
            } else {
                name.as_str()
            };
            Some(crate::config::schema::Finding {
                attribute: "properties",
                message: format!(
                    "properties may not set \"{name}\": the block's own argument {argument} sets it"
                ),
                hint: Some(format!("use {argument} = ... instead")),
            })
        })
        .collect()
}

/// Allowed, but worth a warning: TLS that does not verify the brokers, and a SASL password
/// sent in clear. Messages name settings, never their values (they may be sensitive).
fn cluster_advice(
    cluster: &std::collections::BTreeMap<String, crate::config::value::Value>,
) -> Vec<crate::config::schema::AdviceItem> {
    // A warning over a sensitive setting would tell what it is: such settings are not judged.
    let text = |name: &str| {
        cluster
            .get(name)
            .filter(|value| !value.contains_sensitive())
            .and_then(|value| value.peel().as_str())
            .map(str::to_owned)
    };
    let property = |name: &str| {
        cluster
            .get("properties")
            .filter(|value| !value.contains_sensitive())
            .and_then(|value| value.peel().as_map())
            .and_then(|properties| properties.get(name))
            .and_then(|value| value.peel().as_str())
            .map(|value| value.trim().to_ascii_lowercase())
    };
    let mut advice = Vec::new();
    // librdkafka reads a boolean property as false from "false", "f" or "0".
    if let Some(value) = property("enable.ssl.certificate.verification")
        && matches!(value.as_str(), "false" | "f" | "0")
    {
        advice.push((
            "properties",
            format!("TLS certificate verification is turned off (enable.ssl.certificate.verification = \"{value}\"): anyone on the network path can pose as the brokers and read or change the data"),
        ));
    }
    if let Some(algorithm) = property("ssl.endpoint.identification.algorithm")
        && (algorithm.is_empty() || algorithm == "none")
    {
        advice.push((
            "properties",
            "TLS host name verification is turned off (ssl.endpoint.identification.algorithm): any certificate from the trusted CAs is accepted for any broker".to_owned(),
        ));
    }
    let plain_mechanism = text("sasl_mechanism")
        .is_some_and(|mechanism| mechanism.trim().eq_ignore_ascii_case("PLAIN"));
    let in_clear = text("security_protocol")
        .is_some_and(|protocol| protocol.trim().eq_ignore_ascii_case("SASL_PLAINTEXT"));
    if plain_mechanism && in_clear {
        advice.push((
            "sasl_mechanism",
            "sasl_mechanism PLAIN over security_protocol SASL_PLAINTEXT sends the password in clear to the brokers: use SASL_SSL, or a SCRAM mechanism".to_owned(),
        ));
    }
    advice
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn cluster(entries: Vec<(&str, Value)>) -> BTreeMap<String, Value> {
        entries
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    fn properties(name: &str, value: &str) -> Value {
        Value::Map(BTreeMap::from([(name.to_owned(), Value::string(value))]))
    }

    #[test]
    fn certificate_verification_turned_off_in_any_spelling_is_warned() {
        for off in ["false", "f", "0", " FALSE "] {
            let advice = cluster_advice(&cluster(vec![(
                "properties",
                properties("enable.ssl.certificate.verification", off),
            )]));
            assert_eq!(advice.len(), 1, "{off:?}");
            assert!(
                advice[0].1.contains("verification is turned off"),
                "{off:?}"
            );
        }
        let on = cluster_advice(&cluster(vec![(
            "properties",
            properties("enable.ssl.certificate.verification", "true"),
        )]));
        assert!(on.is_empty());
    }

    #[test]
    fn a_sensitive_setting_is_not_judged_in_a_message() {
        let plain = cluster(vec![
            ("sasl_mechanism", Value::string("PLAIN")),
            ("security_protocol", Value::string("SASL_PLAINTEXT")),
        ]);
        assert_eq!(cluster_advice(&plain).len(), 1);
        let hidden = cluster(vec![
            ("sasl_mechanism", Value::string("PLAIN")),
            (
                "security_protocol",
                Value::sensitive(Value::string("SASL_PLAINTEXT")),
            ),
        ]);
        assert!(cluster_advice(&hidden).is_empty());
        let hidden_properties = cluster(vec![(
            "properties",
            Value::sensitive(properties("enable.ssl.certificate.verification", "false")),
        )]);
        assert!(cluster_advice(&hidden_properties).is_empty());
    }
}
