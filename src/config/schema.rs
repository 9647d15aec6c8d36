//! Schemas: what arguments and nested blocks a resource, data source, cluster or assertion
//! check accepts. Providers declare them; the configuration checks bodies against them without
//! knowing anything else about the provider.

use super::types::Type;
use super::validate::{Condition, Validator};
use super::value::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub attributes: Vec<AttributeSchema>,
    pub blocks: Vec<BlockSchema>,
    /// Settings that are allowed but weaken security (TLS verification off, a password in
    /// clear): warnings at the attribute, in `validate` and `plan`.
    pub advice: Option<Advice>,
    /// Groups of arguments or blocks of which at least (or exactly) one must be set
    /// (Terraform's `AtLeastOneOf`, `ExactlyOneOf`).
    pub groups: Vec<Group>,
    /// Rules over several arguments that the declarative ones cannot say (a rate cap below
    /// the rate required, topics required when no mirror names them): errors at the
    /// argument, in `validate` once the values they look at are known.
    pub checks: Vec<BlockCheck>,
    /// The arguments that together name the live object a resource manages (a topic: its
    /// `cluster` and `name`): two resources of one type whose identity is known and equal
    /// would fight over one object, so the second is refused (see
    /// [`super::identity::clashes`]).
    pub identity: Option<Identity>,
}

/// What names a resource's live object: the arguments, in words the object ("topic"), and
/// which argument to change to tell two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub arguments: &'static [&'static str],
    pub object: &'static str,
    pub distinguish_by: &'static str,
}

/// What a [`BlockCheck`] found: the argument at fault (its value's span is where the error
/// points; the block's header when it is unset), the message and a hint. The message never
/// quotes a sensitive value. An argument of a single nested block is named `BLOCK.ARGUMENT`
/// (an assertion's rule about its `lag` check's `stable_for`: `lag.stable_for`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub attribute: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

/// A rule over the decoded body of one block (its object, sensitive marks and unknowns
/// included: a rule looks only at known values, so it is checked again once they are known).
/// `description` is the rule in words, for the reference docs and `providers schema -json`.
#[derive(Clone, Copy)]
pub struct BlockCheck {
    pub description: &'static str,
    pub check: fn(&std::collections::BTreeMap<String, Value>) -> Vec<Finding>,
}

impl PartialEq for BlockCheck {
    fn eq(&self, other: &Self) -> bool {
        self.description == other.description && std::ptr::fn_addr_eq(self.check, other.check)
    }
}

impl std::fmt::Debug for BlockCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockCheck({:?})", self.description)
    }
}

/// A rule over a group of arguments or nested blocks of one block.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub names: &'static [&'static str],
    /// At most one may be set, too (each conflicts with the others).
    pub exactly: bool,
}

impl Group {
    /// The rule in words, for messages and the reference docs (`exactly one of "arn",
    /// "cluster_name"`).
    pub fn text(&self) -> String {
        let names: Vec<String> = self
            .names
            .iter()
            .map(|name| format!("\"{name}\""))
            .collect();
        format!(
            "{} one of {}",
            if self.exactly { "exactly" } else { "at least" },
            names.join(", ")
        )
    }
}

/// A warning about an allowed but risky setting: the attribute it points at and the message
/// (which never quotes a configured value: it may be sensitive).
pub type AdviceItem = (&'static str, String);

/// A provider's check of a decoded body (its object, sensitive marks included) for settings
/// that deserve a warning. A plain function, so the configuration stays ignorant of what it
/// checks.
#[derive(Clone, Copy)]
pub struct Advice(
    pub fn(&std::collections::BTreeMap<String, super::value::Value>) -> Vec<AdviceItem>,
);

impl PartialEq for Advice {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl std::fmt::Debug for Advice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Advice(..)")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttributeSchema {
    pub name: &'static str,
    pub ty: Type,
    pub required: bool,
    /// Set by the provider (an ARN, bootstrap brokers). A computed attribute that is not also
    /// optional cannot be written in configuration.
    pub computed: bool,
    /// Optional and computed: the user may set it; otherwise the provider does.
    pub optional_computed: bool,
    pub sensitive: bool,
    /// A change to this argument cannot be made in place: the resource is replaced.
    pub forces_replacement: bool,
    pub description: &'static str,
    /// What the value may be, checked as soon as it is known (see [`super::validate`]).
    pub validators: Vec<Validator>,
    /// The value the provider uses when the argument is unset. Documentation and the typed
    /// decode use it; the evaluated value stays null, so plans and state show what was written.
    pub default: Option<Value>,
    /// Arguments that cannot be set together with this one.
    pub conflicts_with: Vec<&'static str>,
    /// Arguments that must be set when this one is.
    pub requires: Vec<&'static str>,
    /// The argument may be set only when another argument has one of some values.
    pub only_when: Option<Condition>,
    /// The argument must be set when another argument has one of some values.
    pub required_when: Option<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one block; its value is an object (or null).
    Single,
    /// Any number of blocks; the value is a list of objects.
    List,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlockSchema {
    pub name: &'static str,
    pub nesting: Nesting,
    pub required: bool,
    pub schema: Schema,
    pub description: &'static str,
}

impl AttributeSchema {
    fn new(name: &'static str, ty: Type) -> Self {
        Self {
            name,
            ty,
            required: false,
            computed: false,
            optional_computed: false,
            sensitive: false,
            forces_replacement: false,
            description: "",
            validators: Vec::new(),
            default: None,
            conflicts_with: Vec::new(),
            requires: Vec::new(),
            only_when: None,
            required_when: None,
        }
    }

    pub fn required(name: &'static str, ty: Type) -> Self {
        Self {
            required: true,
            ..Self::new(name, ty)
        }
    }

    pub fn optional(name: &'static str, ty: Type) -> Self {
        Self::new(name, ty)
    }

    pub fn computed(name: &'static str, ty: Type) -> Self {
        Self {
            computed: true,
            ..Self::new(name, ty)
        }
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub fn forces_replacement(mut self) -> Self {
        self.forces_replacement = true;
        self
    }

    pub fn also_computed(mut self) -> Self {
        self.optional_computed = true;
        self
    }

    pub fn describe(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    pub fn validate(mut self, validator: Validator) -> Self {
        self.validators.push(validator);
        self
    }

    /// Shorthand for a [`Validator::OneOf`] without aliases.
    pub fn one_of(self, values: &'static [&'static str]) -> Self {
        self.validate(Validator::one_of(values))
    }

    /// Shorthand for a [`Validator::IntRange`].
    pub fn int_range(self, min: i64, max: i64) -> Self {
        self.validate(Validator::IntRange { min, max })
    }

    /// A duration ([`super::validate::Pattern::Duration`]) from `min` to `max`.
    pub fn duration_range(self, min: std::time::Duration, max: std::time::Duration) -> Self {
        self.pattern(super::validate::Pattern::Duration)
            .validate(Validator::DurationRange { min, max })
    }

    pub fn pattern(self, pattern: super::validate::Pattern) -> Self {
        self.validate(Validator::Pattern(pattern))
    }

    pub fn default_value(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }

    pub fn conflicts_with(mut self, names: &[&'static str]) -> Self {
        self.conflicts_with.extend_from_slice(names);
        self
    }

    pub fn requires(mut self, names: &[&'static str]) -> Self {
        self.requires.extend_from_slice(names);
        self
    }

    pub fn only_when(
        mut self,
        attribute: &'static str,
        equals: &'static [&'static str],
        because: &'static str,
    ) -> Self {
        self.only_when = Some(Condition {
            attribute,
            equals,
            because,
        });
        self
    }

    pub fn required_when(
        mut self,
        attribute: &'static str,
        equals: &'static [&'static str],
        because: &'static str,
    ) -> Self {
        self.required_when = Some(Condition {
            attribute,
            equals,
            because,
        });
        self
    }

    /// Whether a configuration may set this attribute.
    pub fn settable(&self) -> bool {
        !self.computed || self.optional_computed
    }
}

impl Schema {
    pub fn new(attributes: Vec<AttributeSchema>, blocks: Vec<BlockSchema>) -> Self {
        Self {
            attributes,
            blocks,
            advice: None,
            groups: Vec::new(),
            checks: Vec::new(),
            identity: None,
        }
    }

    /// Declares the arguments that name the resource's live object (see [`Identity`]):
    /// `distinguish_by` is the one to change when two resources clash.
    pub fn identified_by(
        mut self,
        arguments: &'static [&'static str],
        object: &'static str,
        distinguish_by: &'static str,
    ) -> Self {
        self.identity = Some(Identity {
            arguments,
            object,
            distinguish_by,
        });
        self
    }

    /// Adds a rule over several arguments (see [`BlockCheck`]).
    pub fn with_check(
        mut self,
        description: &'static str,
        check: fn(&std::collections::BTreeMap<String, Value>) -> Vec<Finding>,
    ) -> Self {
        self.checks.push(BlockCheck { description, check });
        self
    }

    /// At least one of `names` (arguments or nested blocks) must be set: reported at the
    /// block when none is.
    pub fn at_least_one_of(mut self, names: &'static [&'static str]) -> Self {
        self.groups.push(Group {
            names,
            exactly: false,
        });
        self
    }

    /// Exactly one of `names` (arguments) must be set: none is reported at the block, two at
    /// the one written second (as a conflict).
    pub fn exactly_one_of(mut self, names: &'static [&'static str]) -> Self {
        for attribute in &mut self.attributes {
            if names.contains(&attribute.name) {
                for &other in names {
                    if other != attribute.name && !attribute.conflicts_with.contains(&other) {
                        attribute.conflicts_with.push(other);
                    }
                }
            }
        }
        self.groups.push(Group {
            names,
            exactly: true,
        });
        self
    }

    /// Adds the check of risky settings (see [`Advice`]).
    pub fn with_advice(
        mut self,
        advice: fn(&std::collections::BTreeMap<String, super::value::Value>) -> Vec<AdviceItem>,
    ) -> Self {
        self.advice = Some(Advice(advice));
        self
    }

    pub fn attribute(&self, name: &str) -> Option<&AttributeSchema> {
        self.attributes.iter().find(|a| a.name == name)
    }

    pub fn block(&self, name: &str) -> Option<&BlockSchema> {
        self.blocks.iter().find(|b| b.name == name)
    }

    /// Names a configuration may write, for "did you mean" hints.
    pub fn settable_names(&self) -> Vec<&'static str> {
        self.attributes
            .iter()
            .filter(|a| a.settable())
            .map(|a| a.name)
            .chain(self.blocks.iter().map(|b| b.name))
            .collect()
    }
}

/// A type as `terraform providers schema -json` writes it (cty's JSON form: `"string"`,
/// `["list", "string"]`, `"dynamic"` for any).
pub fn type_json(ty: &Type) -> serde_json::Value {
    use serde_json::json;
    match ty {
        Type::Any => json!("dynamic"),
        Type::String => json!("string"),
        Type::Number => json!("number"),
        Type::Bool => json!("bool"),
        Type::List(inner) => json!(["list", type_json(inner)]),
        Type::Set(inner) => json!(["set", type_json(inner)]),
        Type::Map(inner) => json!(["map", type_json(inner)]),
        Type::Tuple(items) => json!(["tuple", items.iter().map(type_json).collect::<Vec<_>>()]),
        Type::Object(attributes) => json!([
            "object",
            attributes
                .iter()
                .map(|(name, attribute)| (name.clone(), type_json(&attribute.ty)))
                .collect::<serde_json::Map<_, _>>()
        ]),
    }
}

impl AttributeSchema {
    /// The attribute in the shape of `terraform providers schema -json`, with cutover's
    /// additions (validators, default, rules) under their own keys.
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert("type".into(), type_json(&self.ty));
        if !self.description.is_empty() {
            object.insert("description".into(), self.description.into());
            object.insert("description_kind".into(), "plain".into());
        }
        let flag = |object: &mut serde_json::Map<String, serde_json::Value>, name: &str, on| {
            if on {
                object.insert(name.into(), true.into());
            }
        };
        flag(&mut object, "required", self.required);
        flag(&mut object, "optional", !self.required && self.settable());
        flag(
            &mut object,
            "computed",
            self.computed || self.optional_computed,
        );
        flag(&mut object, "sensitive", self.sensitive);
        flag(&mut object, "forces_replacement", self.forces_replacement);
        if let Some(default) = self.default.as_ref().and_then(Value::to_json) {
            object.insert("default".into(), default);
        }
        if !self.validators.is_empty() {
            object.insert(
                "validators".into(),
                self.validators.iter().map(Validator::to_json).collect(),
            );
        }
        if !self.conflicts_with.is_empty() {
            object.insert("conflicts_with".into(), self.conflicts_with.clone().into());
        }
        if !self.requires.is_empty() {
            object.insert("requires".into(), self.requires.clone().into());
        }
        let condition = |condition: &Condition| {
            serde_json::json!({
                "attribute": condition.attribute,
                "equals": condition.equals,
                "because": condition.because,
            })
        };
        if let Some(only_when) = &self.only_when {
            object.insert("only_when".into(), condition(only_when));
        }
        if let Some(required_when) = &self.required_when {
            object.insert("required_when".into(), condition(required_when));
        }
        serde_json::Value::Object(object)
    }

    /// Everything the schema says about the value, in words, for the reference docs.
    pub fn constraints_text(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.validators.iter().map(Validator::allowed).collect();
        if let Some(default) = &self.default {
            lines.push(format!("default `{default}`"));
        }
        let names = |names: &[&str]| {
            names
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.conflicts_with.is_empty() {
            lines.push(format!("conflicts with {}", names(&self.conflicts_with)));
        }
        if !self.requires.is_empty() {
            lines.push(format!("requires {}", names(&self.requires)));
        }
        if let Some(condition) = &self.only_when {
            lines.push(format!("only when `{condition}`"));
        }
        if let Some(condition) = &self.required_when {
            lines.push(format!("required when `{condition}`"));
        }
        if self.forces_replacement {
            lines.push("a change replaces the object".to_owned());
        }
        lines
    }
}

impl Schema {
    /// The block in the shape of `terraform providers schema -json` (`attributes`,
    /// `block_types` with `nesting_mode`).
    pub fn to_json(&self) -> serde_json::Value {
        let attributes: serde_json::Map<String, serde_json::Value> = self
            .attributes
            .iter()
            .map(|a| (a.name.to_owned(), a.to_json()))
            .collect();
        let blocks: serde_json::Map<String, serde_json::Value> = self
            .blocks
            .iter()
            .map(|b| {
                let mut block = serde_json::json!({
                    "nesting_mode": match b.nesting {
                        Nesting::Single => "single",
                        Nesting::List => "list",
                    },
                    "block": b.schema.to_json(),
                });
                if b.required {
                    block["min_items"] = 1.into();
                }
                if b.nesting == Nesting::Single {
                    block["max_items"] = 1.into();
                }
                if !b.description.is_empty() {
                    block["block"]["description"] = b.description.into();
                    block["block"]["description_kind"] = "plain".into();
                }
                (b.name.to_owned(), block)
            })
            .collect();
        let mut object = serde_json::Map::new();
        if !attributes.is_empty() {
            object.insert("attributes".into(), attributes.into());
        }
        if !blocks.is_empty() {
            object.insert("block_types".into(), blocks.into());
        }
        for (key, exactly) in [("at_least_one_of", false), ("exactly_one_of", true)] {
            let groups: Vec<serde_json::Value> = self
                .groups
                .iter()
                .filter(|group| group.exactly == exactly)
                .map(|group| group.names.into())
                .collect();
            if !groups.is_empty() {
                object.insert(key.into(), groups.into());
            }
        }
        if !self.checks.is_empty() {
            object.insert(
                "rules".into(),
                self.checks
                    .iter()
                    .map(|check| check.description)
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        if let Some(identity) = &self.identity {
            object.insert("identity".into(), identity.arguments.into());
        }
        object.insert("description_kind".into(), "plain".into());
        serde_json::Value::Object(object)
    }

    /// The reference tables of the block (arguments, attributes, nested blocks) as markdown,
    /// headings at `level`.
    pub fn to_markdown(&self, level: usize) -> String {
        use std::fmt::Write as _;
        let heading = "#".repeat(level);
        let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
        let mut out = String::new();
        for group in &self.groups {
            let names: Vec<String> = group.names.iter().map(|name| format!("`{name}`")).collect();
            let _ = writeln!(
                out,
                "Set {} one of {}.\n",
                if group.exactly { "exactly" } else { "at least" },
                names.join(", ")
            );
        }
        for check in &self.checks {
            let _ = writeln!(out, "Rule: {}.\n", check.description);
        }
        if let Some(identity) = &self.identity {
            let names: Vec<String> = identity
                .arguments
                .iter()
                .map(|name| format!("`{name}`"))
                .collect();
            let _ = writeln!(
                out,
                "Identity: {} name the {}. Two resources of this type with the same {} would manage one {}: the second is refused.\n",
                names.join(" and "),
                identity.object,
                names.join(" and "),
                identity.object,
            );
        }
        let arguments: Vec<&AttributeSchema> =
            self.attributes.iter().filter(|a| a.settable()).collect();
        let computed: Vec<&AttributeSchema> =
            self.attributes.iter().filter(|a| !a.settable()).collect();
        if !arguments.is_empty() {
            let _ = writeln!(out, "{heading} Arguments\n");
            let _ = writeln!(
                out,
                "| argument | type | kind | description | allowed values and rules |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|");
            for attribute in arguments {
                let mut marks = vec![if attribute.required {
                    "required"
                } else {
                    "optional"
                }];
                if attribute.optional_computed {
                    marks.push("computed");
                }
                if attribute.sensitive {
                    marks.push("sensitive");
                }
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {} | {} | {} |",
                    attribute.name,
                    attribute.ty,
                    marks.join(", "),
                    cell(attribute.description),
                    cell(&attribute.constraints_text().join("; "))
                );
            }
            out.push('\n');
        }
        if !computed.is_empty() {
            let _ = writeln!(out, "{heading} Attributes (computed)\n");
            let _ = writeln!(out, "| attribute | type | description |");
            let _ = writeln!(out, "|---|---|---|");
            for attribute in computed {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {}{} |",
                    attribute.name,
                    attribute.ty,
                    cell(attribute.description),
                    if attribute.sensitive {
                        " (sensitive)"
                    } else {
                        ""
                    }
                );
            }
            out.push('\n');
        }
        for block in &self.blocks {
            let _ = writeln!(
                out,
                "{heading} Block `{}` ({}{})\n",
                block.name,
                match block.nesting {
                    Nesting::Single => "at most one",
                    Nesting::List => "any number",
                },
                if block.required { ", required" } else { "" }
            );
            if !block.description.is_empty() {
                let _ = writeln!(out, "{}\n", block.description);
            }
            out.push_str(&block.schema.to_markdown(level + 1));
        }
        out
    }
}

/// The kinds of things a schema can describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SchemaKind {
    Resource,
    Data,
}

/// Where the configuration looks schemas up. Implemented by the provider registry; the
/// configuration sees nothing but schemas.
pub trait SchemaSource {
    fn schema(&self, kind: SchemaKind, type_name: &str) -> Option<&Schema>;
    fn type_names(&self, kind: SchemaKind) -> Vec<&str>;
    /// The schema of `cluster` blocks (Kafka connections).
    fn cluster_schema(&self) -> &Schema;
    /// The checks an `assert` block may contain, by block name.
    fn assertion_check(&self, name: &str) -> Option<&Schema>;
    fn assertion_check_names(&self) -> Vec<&str>;
    /// The schema of `assert` blocks: their own arguments and their check blocks.
    fn assert_schema(&self) -> &Schema;
    /// The schema of a `provider "NAME"` block, when the provider takes settings.
    fn provider_schema(&self, _name: &str) -> Option<&Schema> {
        None
    }
    fn provider_names(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// True for an `http://` URL whose host is not a loopback address (`localhost`, `127.0.0.0/8`,
/// `::1`): traffic to it crosses a network unencrypted.
pub fn is_cleartext_remote_url(url: &str) -> bool {
    let url = url.trim();
    let Some(rest) = url
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_and_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(bracketed) = host_and_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host_and_port.split(':').next().unwrap_or_default()
    };
    let host = host.to_ascii_lowercase();
    let loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    !loopback
}

/// The closest candidate by edit distance, for "did you mean" hints.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len().max(name.len()) / 3).max(1))
        .min()
        .map(|(_, candidate)| candidate)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
/// adjacent characters each cost one, so `inptu` is one edit from `input`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        table[i * width] = i;
    }
    for (j, cell) in table.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1)
                .min(table[i * width + j - 1] + 1)
                .min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleartext_urls_to_other_hosts_are_told_apart_from_loopback_and_https() {
        for remote in [
            "http://10.0.0.5:4566",
            "HTTP://s3.internal.example.com/",
            "http://user@moto.example:80/x",
            "http://[2001:db8::1]:9000",
        ] {
            assert!(is_cleartext_remote_url(remote), "{remote}");
        }
        for local_or_tls in [
            "http://127.0.0.1:15000",
            "http://localhost:4566",
            "http://[::1]:15000/",
            "http://127.1.2.3",
            "https://s3.example.com",
            "127.0.0.1:15000",
        ] {
            assert!(!is_cleartext_remote_url(local_or_tls), "{local_or_tls}");
        }
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            suggest("bootstrap_server", ["bootstrap_servers", "auth"]),
            Some("bootstrap_servers")
        );
        assert_eq!(suggest("zzz", ["bootstrap_servers", "auth"]), None);
        assert_eq!(suggest("inptu", ["input", "output"]), Some("input"));
        assert_eq!(suggest("jion", ["join", "json"]), Some("join"));
    }
}
