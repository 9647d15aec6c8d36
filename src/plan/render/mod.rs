//! Plan renderers: the human diff printed by `plan` and `show`, the versioned JSON document of
//! `show -json` (schema in `docs/plan-json.md`), and the markdown of `show -markdown` for
//! pull-request comments. All three are pure functions of a [`Plan`]; none of them prints a
//! sensitive value (the human and markdown forms write `(sensitive value)`, the JSON form
//! removes the value and flags where it was).

mod human;
mod json;
mod markdown;

pub use human::{HumanOptions, render_human};
pub use json::{FORMAT_VERSION, JsonMeta, render_json};
pub use markdown::{DEFAULT_MAX_PART_CHARS, MarkdownOptions, render_markdown};

use crate::config::model::Mode;
use crate::config::value::Value;
use crate::state::sensitive::stored_hash;

use super::{Action, ChangeReason, Counts, Plan, PlanMode, ResourceChange};

/// True when a value must not be shown: marked sensitive, or a keyed hash read back from state
/// (always marked by the state decoder, checked here too so an unmarked hash never leaks).
pub(crate) fn is_hidden(value: &Value) -> bool {
    matches!(value, Value::Sensitive(_)) || stored_hash(value).is_some()
}

/// The changes in the order every renderer shows them: by address (module path, managed before
/// data, type, name, instance key), as Terraform does.
pub(crate) fn sorted_changes(plan: &Plan) -> Vec<&ResourceChange> {
    let mut changes: Vec<&ResourceChange> = plan.changes.iter().collect();
    changes.sort_by(|a, b| a.address.cmp(&b.address));
    changes
}

/// Whether a resource change is shown in the human and markdown plans: anything that does
/// something, including a pure import.
pub(crate) fn is_shown(change: &ResourceChange) -> bool {
    change.action != Action::NoOp || change.importing.is_some()
}

/// `will be created`, `must be replaced`, ... (the words after the address).
pub(crate) fn headline(change: &ResourceChange) -> &'static str {
    match change.action {
        Action::NoOp if change.importing.is_some() => "will be imported",
        Action::NoOp => "has no changes",
        Action::Create => "will be created",
        Action::Read => "will be read during apply",
        Action::Update => "will be updated in place",
        Action::DeleteThenCreate | Action::CreateThenDelete => "must be replaced",
        Action::Delete => "will be destroyed",
        Action::Check => "will be checked",
    }
}

/// The `# (…)` line under the headline explaining why, when there is more to say than the
/// attribute diff shows.
pub(crate) fn reason_lines(change: &ResourceChange) -> Vec<String> {
    let mut lines = Vec::new();
    match &change.reason {
        Some(ChangeReason::NotInConfiguration) => lines.push(format!(
            "# (because {} is not in configuration)",
            change.address
        )),
        Some(ChangeReason::DeletedOutsideCutover) => {
            lines.push("# (because the object was deleted outside cutover)".to_owned())
        }
        Some(ChangeReason::ReplaceBecauseOf(attributes)) if !attributes.is_empty() => {
            lines.push(format!(
                "# (because {} cannot be changed in place)",
                attributes.join(", ")
            ))
        }
        Some(ChangeReason::DependencyPending) => {
            lines.push("# (depends on a resource or a module with changes pending)".to_owned())
        }
        Some(ChangeReason::ReplaceBecauseOf(_)) | Some(ChangeReason::DestroyRequested) | None => {}
    }
    if let Some(estimate) = &change.copy_estimate {
        lines.push(format!("# ({})", estimate.summary()));
    }
    let gates = gating_assertions(change);
    if !gates.is_empty() && change.action != Action::NoOp {
        lines.push(format!(
            "# (gated by {}: runs only if {} hold{})",
            gates.join(", "),
            if gates.len() == 1 { "it" } else { "they" },
            if gates.len() == 1 { "s" } else { "" }
        ));
    }
    if change.action == Action::Read && change.reason.is_none() {
        lines.push("# (config refers to values not yet known)".to_owned());
    }
    if change.action == Action::CreateThenDelete {
        lines.push("# (create_before_destroy: the replacement is created first)".to_owned());
    }
    if let Some(id) = &change.importing {
        lines.push(format!(
            "# (imported from {})",
            serde_json::Value::String(id.clone())
        ));
    }
    lines
}

/// The attributes listed as forcing a replacement.
pub(crate) fn replace_attributes(change: &ResourceChange) -> &[String] {
    match &change.reason {
        Some(ChangeReason::ReplaceBecauseOf(attributes)) => attributes,
        _ => &[],
    }
}

/// `Plan: 1 to import, 2 to add, 0 to change, 1 to destroy.` without the trailing period.
pub(crate) fn counts_sentence(counts: &Counts) -> String {
    let mut text = String::new();
    if counts.import > 0 {
        text.push_str(&format!("{} to import, ", counts.import));
    }
    text.push_str(&format!(
        "{} to add, {} to change, {} to destroy",
        counts.add, counts.change, counts.destroy
    ));
    if counts.check > 0 {
        text.push_str(&format!(
            ", {} assertion{} to check",
            counts.check,
            if counts.check == 1 { "" } else { "s" }
        ));
    }
    text
}

/// The assertions a change waits for (`assert.caught_up`): it runs only if they hold.
pub(crate) fn gating_assertions(change: &ResourceChange) -> Vec<&str> {
    change
        .dependencies
        .iter()
        .filter(|label| label.starts_with("assert.") || label.contains(".assert."))
        .map(String::as_str)
        .collect()
}

/// What an assertion node checks, one line each: `lag { mirror = kafka_mirror.main, … }`,
/// then the timing (`timeout = "5m"`). The values are shown as evaluated (references to
/// objects not yet applied are `(known after apply)`); sensitive ones are hidden.
pub(crate) fn assertion_lines(change: &ResourceChange) -> Vec<String> {
    let Some(map) = change.after.as_ref().and_then(|v| v.peel().as_map()) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for (name, value) in map {
        match name.as_str() {
            "name" | "passed" | "error_message" | "enabled" => {}
            "condition" => lines.push(format!("condition = {}", short_value(value))),
            "timeout" | "poll_interval" | "stable_for" => {
                lines.push(format!("{name} = {}", short_value(value)))
            }
            _ => {
                let arguments: Vec<String> = value
                    .peel()
                    .as_map()
                    .map(|block| {
                        block
                            .iter()
                            .filter(|(_, v)| !v.is_null())
                            .map(|(k, v)| {
                                let shown = referenced_address(change, k, v)
                                    .unwrap_or_else(|| short_value(v));
                                format!("{k} = {shown}")
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                lines.push(format!("{name} {{ {} }}", arguments.join(", ")));
            }
        }
    }
    lines
}

/// The address of the object an argument refers to (`mirror = kafka_mirror.orders`), when
/// its value is that object's attributes: the one dependency of the change whose type is
/// named like the argument (`kafka_mirror` for `mirror`). Objects that carry their own
/// address (clusters) are left to [`short_value`].
fn referenced_address(
    change: &ResourceChange,
    argument: &str,
    value: &crate::config::value::Value,
) -> Option<String> {
    let map = value.peel().as_map()?;
    if map.contains_key("address") {
        return None;
    }
    let mut candidates = change.dependencies.iter().filter(|label| {
        let parts: Vec<&str> = label.split('.').collect();
        parts.len() >= 2
            && parts[parts.len() - 2]
                .rsplit('_')
                .next()
                .is_some_and(|last| last == argument)
    });
    let first = candidates.next()?;
    match candidates.next() {
        None => Some(first.clone()),
        // Several objects of that type: not guessed.
        Some(_) => None,
    }
}

/// A value in one short line: an object that names its address (a mirror, a cluster) by the
/// address, lists of strings in full, other objects elided.
fn short_value(value: &crate::config::value::Value) -> String {
    use crate::config::value::Value;
    // A cluster is shown by its address, whatever secrets its settings hold.
    if let Some(address) = value
        .peel()
        .as_map()
        .and_then(|map| map.get("address"))
        .and_then(Value::as_str)
    {
        return address.to_owned();
    }
    if value.contains_sensitive() {
        return "(sensitive value)".to_owned();
    }
    match value.peel() {
        Value::Unknown => "(known after apply)".to_owned(),
        Value::Map(map) => match map.get("address").and_then(Value::as_str) {
            Some(address) => address.to_owned(),
            None => match (map.get("source"), map.get("target")) {
                (Some(_), Some(_)) => "(a mirror)".to_owned(),
                _ => "{…}".to_owned(),
            },
        },
        other => other
            .to_json()
            .map(|json| json.to_string())
            .unwrap_or_else(|| "(known after apply)".to_owned()),
    }
}

/// `data "kafka_topics" "legacy"` / `resource "cutover_data" "x"`.
pub(crate) fn block_label(change_address: &crate::config::evaluate::ResourceAddress) -> String {
    if change_address.type_name == crate::verify::ASSERT {
        return format!("assert {}", quote(&change_address.name));
    }
    let keyword = match change_address.mode {
        Mode::Managed => "resource",
        Mode::Data => "data",
    };
    format!(
        "{keyword} {} {}",
        quote(&change_address.type_name),
        quote(&change_address.name)
    )
}

/// A JSON-quoted string, as HCL writes string literals.
pub(crate) fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// Whether the plan is a destroy, a refresh-only or a normal plan, in words.
pub(crate) fn is_refresh_only(plan: &Plan) -> bool {
    plan.mode == PlanMode::RefreshOnly
}

/// One line of a rendered diff, kept structured so the human form can colour the symbol and
/// the markdown form can move it to the first column (GitHub's `diff` highlighting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Spaces before the symbol (or before the text when there is no symbol column).
    pub lead: usize,
    /// The action symbol column; `None` for lines without one (`# x will be created`).
    pub symbol: Option<Symbol>,
    pub text: String,
    /// Printed bold when colour is on (the `# address …` headlines).
    pub bold: bool,
}

impl Line {
    pub fn new(lead: usize, symbol: Symbol, text: impl Into<String>) -> Self {
        Line {
            lead,
            symbol: Some(symbol),
            text: text.into(),
            bold: false,
        }
    }

    pub fn plain(lead: usize, text: impl Into<String>) -> Self {
        Line {
            lead,
            symbol: None,
            text: text.into(),
            bold: false,
        }
    }

    /// The line as the terminal shows it.
    pub fn render(&self, color: bool) -> String {
        let mut out = " ".repeat(self.lead);
        if let Some(symbol) = self.symbol {
            if color && let Some(code) = symbol.color() {
                out.push_str(code);
                out.push_str(symbol.text());
                out.push_str(RESET);
            } else {
                out.push_str(symbol.text());
            }
            out.push(' ');
        }
        if color && self.bold {
            out.push_str(BOLD);
            out.push_str(&self.text);
            out.push_str(RESET);
        } else {
            out.push_str(&self.text);
        }
        out
    }

    /// The line in unified-diff syntax: the symbol's diff character in the first column and
    /// the rest of the line as in the terminal (one column shorter, so alignment holds).
    pub fn render_diff(&self) -> String {
        let marker = self.symbol.map_or(' ', Symbol::diff_char);
        let mut rest = " ".repeat(self.lead);
        if let Some(symbol) = self.symbol {
            rest.push_str(&" ".repeat(symbol.text().len()));
            rest.push(' ');
        }
        rest.push_str(&self.text);
        let rest = rest.strip_prefix(' ').unwrap_or(&rest);
        format!("{marker}{rest}")
    }
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";

/// The action symbols of the human plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Symbol {
    /// An unchanged line inside a block: the symbol column is blank.
    Blank,
    Create,
    Update,
    Delete,
    DeleteThenCreate,
    CreateThenDelete,
    Read,
}

impl Symbol {
    pub fn for_action(action: Action) -> Symbol {
        match action {
            Action::NoOp => Symbol::Blank,
            Action::Create => Symbol::Create,
            Action::Read => Symbol::Read,
            Action::Update => Symbol::Update,
            Action::DeleteThenCreate => Symbol::DeleteThenCreate,
            Action::CreateThenDelete => Symbol::CreateThenDelete,
            Action::Delete => Symbol::Delete,
            Action::Check => Symbol::Blank,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Symbol::Blank => " ",
            Symbol::Create => "+",
            Symbol::Update => "~",
            Symbol::Delete => "-",
            Symbol::DeleteThenCreate => "-/+",
            Symbol::CreateThenDelete => "+/-",
            Symbol::Read => "<=",
        }
    }

    fn color(self) -> Option<&'static str> {
        match self {
            Symbol::Blank => None,
            Symbol::Create => Some("\x1b[32m"),
            Symbol::Update | Symbol::DeleteThenCreate | Symbol::CreateThenDelete => {
                Some("\x1b[33m")
            }
            Symbol::Delete => Some("\x1b[31m"),
            Symbol::Read => Some("\x1b[36m"),
        }
    }

    /// GitHub colours `+` green, `-` red and `!` orange in a `diff` block.
    fn diff_char(self) -> char {
        match self {
            Symbol::Blank => ' ',
            Symbol::Create | Symbol::Read => '+',
            Symbol::Delete => '-',
            Symbol::Update | Symbol::DeleteThenCreate | Symbol::CreateThenDelete => '!',
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Fixtures shared by the renderer tests, and the test that no format prints a secret.

    use std::collections::BTreeSet;

    use super::*;
    use crate::config::evaluate::{InstanceKey, ResourceAddress};
    use crate::plan::{Drift, OutputChange};
    use crate::state::StateStamp;
    use crate::state::sensitive::SENSITIVE_MARKER;

    #[test]
    fn a_cluster_in_a_check_is_shown_by_its_address_never_its_secrets() {
        use crate::config::value::Value;
        let cluster = Value::Map(std::collections::BTreeMap::from([
            (
                "address".to_owned(),
                Value::string("module.m.cluster.legacy"),
            ),
            (
                "sasl_password".to_owned(),
                Value::sensitive(Value::string("hunter2")),
            ),
        ]));
        assert_eq!(short_value(&cluster), "module.m.cluster.legacy");
        let secret = Value::sensitive(Value::string("hunter2"));
        assert_eq!(short_value(&secret), "(sensitive value)");
    }

    pub fn address(name: &str, key: Option<InstanceKey>) -> ResourceAddress {
        ResourceAddress {
            module: Vec::new(),
            mode: Mode::Managed,
            type_name: "cutover_data".to_owned(),
            name: name.to_owned(),
            key,
        }
    }

    pub fn object(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(key, value)| ((*key).to_owned(), value.clone()))
                .collect(),
        )
    }

    pub fn change(
        address: ResourceAddress,
        action: Action,
        before: Option<Value>,
        after: Option<Value>,
        reason: Option<ChangeReason>,
    ) -> ResourceChange {
        ResourceChange {
            address,
            provider: "builtin".to_owned(),
            action,
            before,
            after,
            reason,
            importing: None,
            dependencies: BTreeSet::new(),
            prevent_destroy: false,
            create_before_destroy: action == Action::CreateThenDelete,
            copy_estimate: None,
        }
    }

    pub fn plan_with(mode: PlanMode, changes: Vec<ResourceChange>) -> Plan {
        Plan {
            mode,
            changes,
            drift: Vec::new(),
            outputs: Vec::new(),
            prior_state: Some(StateStamp {
                lineage: "lineage-1".to_owned(),
                serial: 4,
            }),
            targets: Vec::new(),
            economics: None,
        }
    }

    const PROPERTIES_BEFORE: &str = "auto.create.topics.enable=false\nnum.io.threads=8\nnum.network.threads=3\nlog.retention.hours=168\nlog.segment.bytes=1073741824\nzookeeper.connect=zk:2181\n";

    /// One change of each common kind, plus output changes (one sensitive).
    pub fn sample_plan() -> Plan {
        let properties_after = PROPERTIES_BEFORE.replace("num.io.threads=8", "num.io.threads=16");
        let changes = vec![
            change(
                address("swap", None),
                Action::DeleteThenCreate,
                Some(object(&[
                    ("id", Value::string("swap-1")),
                    ("input", Value::string("same")),
                    ("triggers_replace", Value::string("a")),
                ])),
                Some(object(&[
                    ("id", Value::Unknown),
                    ("input", Value::string("same")),
                    ("triggers_replace", Value::string("b")),
                ])),
                Some(ChangeReason::ReplaceBecauseOf(vec![
                    "triggers_replace".to_owned(),
                ])),
            ),
            change(
                address("new", None),
                Action::Create,
                None,
                Some(object(&[
                    ("id", Value::Unknown),
                    ("input", Value::string("hello")),
                    ("nothing", Value::Null),
                    (
                        "tags",
                        object(&[
                            ("team", Value::string("data")),
                            ("Cost Center", Value::string("kafka")),
                        ]),
                    ),
                    ("token", Value::sensitive(Value::string("hunter2-SECRET"))),
                ])),
                None,
            ),
            change(
                address("config", None),
                Action::Update,
                Some(object(&[
                    ("id", Value::string("cfg-1")),
                    ("server_properties", Value::string(PROPERTIES_BEFORE)),
                    (
                        "subnets",
                        Value::List(vec![Value::string("subnet-a"), Value::string("subnet-b")]),
                    ),
                    ("version", Value::int(1)),
                ])),
                Some(object(&[
                    ("id", Value::string("cfg-1")),
                    ("server_properties", Value::string(properties_after)),
                    (
                        "subnets",
                        Value::List(vec![Value::string("subnet-c"), Value::string("subnet-b")]),
                    ),
                    ("version", Value::int(1)),
                ])),
                None,
            ),
            change(
                address("old", Some(InstanceKey::String("legacy".to_owned()))),
                Action::Delete,
                Some(object(&[
                    ("empty", Value::Null),
                    ("id", Value::string("old-1")),
                    ("input", Value::int(7)),
                ])),
                None,
                Some(ChangeReason::NotInConfiguration),
            ),
            change(
                address("same", None),
                Action::NoOp,
                Some(object(&[("id", Value::string("s"))])),
                Some(object(&[("id", Value::string("s"))])),
                None,
            ),
        ];
        let mut plan = plan_with(PlanMode::Normal, changes);
        plan.outputs = vec![
            OutputChange {
                name: "removed".to_owned(),
                before: Some(Value::string("bye")),
                after: None,
                sensitive: false,
            },
            OutputChange {
                name: "password".to_owned(),
                before: Some(Value::string("hunter2-SECRET-old")),
                after: Some(Value::string("hunter2-SECRET")),
                sensitive: true,
            },
            OutputChange {
                name: "endpoint".to_owned(),
                before: None,
                after: Some(Value::Unknown),
                sensitive: false,
            },
            OutputChange {
                name: "unchanged".to_owned(),
                before: Some(Value::int(1)),
                after: Some(Value::int(1)),
                sensitive: false,
            },
        ];
        plan
    }

    const SECRET: &str = "hunter2-SECRET";

    /// Secrets everywhere a value can be: before, after, drift, nested values, list
    /// elements, multi-line strings, stored hashes, outputs.
    pub fn secret_plan() -> Plan {
        let secret = || Value::sensitive(Value::string(SECRET));
        let json_secret = Value::sensitive(Value::string(format!(
            "{{\"bootstrap_servers\":\"b-1:9098\",\"password\":\"{SECRET}\"}}"
        )));
        let stored_hash = Value::sensitive(object(&[(
            SENSITIVE_MARKER,
            Value::string(format!("hmac-sha256:{}", "ab".repeat(32))),
        )]));
        let mut flip = change(
            address("producers", None),
            Action::Update,
            Some(object(&[
                ("id", Value::string("v1")),
                ("secret_string", secret()),
                ("previous", stored_hash.clone()),
                ("list", Value::List(vec![Value::string("a"), secret()])),
                ("nested", object(&[("password", secret())])),
                (
                    "multi",
                    Value::sensitive(Value::string(format!("a\n{SECRET}\n"))),
                ),
            ])),
            Some(object(&[
                ("id", Value::string("v1")),
                ("secret_string", json_secret.clone()),
                ("previous", stored_hash.clone()),
                ("list", Value::List(vec![secret(), Value::string("b")])),
                (
                    "nested",
                    object(&[("password", Value::sensitive(Value::string("other")))]),
                ),
                (
                    "multi",
                    Value::sensitive(Value::string(format!("b\n{SECRET}\n"))),
                ),
            ])),
            None,
        );
        flip.address.type_name = "aws_secretsmanager_secret_version".to_owned();
        let created = change(
            address("fresh", None),
            Action::Create,
            None,
            Some(object(&[
                ("secret_string", json_secret),
                ("list", Value::Set(vec![secret()])),
            ])),
            None,
        );
        let deleted = change(
            address("gone", None),
            Action::Delete,
            Some(object(&[
                ("secret_string", secret()),
                ("hash", stored_hash),
            ])),
            None,
            Some(ChangeReason::NotInConfiguration),
        );
        let mut plan = plan_with(PlanMode::Normal, vec![flip, created, deleted]);
        plan.drift.push(Drift {
            address: address("producers", None),
            before: object(&[("secret_string", secret())]),
            after: Some(object(&[(
                "secret_string",
                Value::sensitive(Value::string("x")),
            )])),
        });
        plan.outputs = vec![
            OutputChange {
                name: "flagged".to_owned(),
                before: Some(Value::string(SECRET)),
                after: Some(Value::string(format!("{SECRET}-2"))),
                sensitive: true,
            },
            OutputChange {
                name: "marked".to_owned(),
                before: None,
                after: Some(object(&[
                    ("password", secret()),
                    ("user", Value::string("app")),
                ])),
                sensitive: false,
            },
        ];
        plan
    }

    /// Regression guard for the invariant "nothing prints a sensitive value".
    #[test]
    fn no_format_prints_a_sensitive_value() {
        let plan = secret_plan();
        let human = render_human(&plan, &HumanOptions::default());
        let colored = render_human(
            &plan,
            &HumanOptions {
                color: true,
                width: None,
            },
        );
        let json =
            serde_json::to_string_pretty(&render_json(&plan, &JsonMeta::default())).expect("json");
        let markdown = render_markdown(&plan, &MarkdownOptions::default()).concat();
        for (format, text) in [
            ("human", &human),
            ("colored", &colored),
            ("json", &json),
            ("markdown", &markdown),
        ] {
            assert!(
                !text.contains(SECRET),
                "{format} output shows the secret:\n{text}"
            );
            assert!(
                !text.contains("hunter2"),
                "{format} output shows the secret:\n{text}"
            );
            assert!(
                !text.contains("hmac-sha256"),
                "{format} output shows a stored hash:\n{text}"
            );
            assert!(
                !text.contains("abababab"),
                "{format} output shows a stored hash:\n{text}"
            );
        }
        assert!(
            human.contains("~ secret_string = (sensitive value)"),
            "{human}"
        );
        assert!(human.contains("+ password = (sensitive value)"), "{human}");
        assert!(markdown.contains("[!IMPORTANT]"), "{markdown}");
    }
}
