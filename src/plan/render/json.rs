//! `cutover show -json`: the plan as a versioned JSON document shaped like `terraform show
//! -json` of a plan. Sensitive values are removed, not flagged: they are absent from `before`
//! and `after` (an object attribute is left out, a list element becomes `null`) and
//! `before_sensitive`/`after_sensitive` mirror the structure with `true` where they were.
//! The schema is documented in `docs/plan-json.md`; bump [`FORMAT_VERSION`] when it changes
//! incompatibly (minor for additions).

use serde_json::{Map, Value as Json, json};

use super::{is_hidden, sorted_changes};
use crate::config::eval::values_equal;
use crate::config::evaluate::{InstanceKey, ResourceAddress};
use crate::config::model::Mode;
use crate::config::value::{Value, number_to_json};
use crate::plan::{Action, ChangeReason, Drift, OutputChange, Plan, ResourceChange};

/// The version of the plan JSON schema this renderer writes.
pub const FORMAT_VERSION: &str = "1.2";

/// What the JSON document says about its producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonMeta {
    pub cutover_version: String,
    pub format_version: String,
    /// RFC 3339 time the plan was made, when known (left out of snapshot tests).
    pub timestamp: Option<String>,
}

impl Default for JsonMeta {
    fn default() -> Self {
        JsonMeta {
            cutover_version: env!("CARGO_PKG_VERSION").to_owned(),
            format_version: FORMAT_VERSION.to_owned(),
            timestamp: None,
        }
    }
}

/// Renders the plan as the `show -json` document.
pub fn render_json(plan: &Plan, meta: &JsonMeta) -> Json {
    let mut document = Map::new();
    document.insert("format_version".into(), json!(meta.format_version));
    document.insert("cutover_version".into(), json!(meta.cutover_version));
    if let Some(timestamp) = &meta.timestamp {
        document.insert("timestamp".into(), json!(timestamp));
    }
    document.insert("plan_mode".into(), json!(plan.mode));
    document.insert("applyable".into(), json!(plan.has_changes()));
    let mut drift: Vec<&Drift> = plan.drift.iter().collect();
    drift.sort_by(|a, b| a.address.cmp(&b.address));
    document.insert(
        "resource_drift".into(),
        Json::Array(drift.into_iter().map(drift_json).collect()),
    );
    document.insert(
        "resource_changes".into(),
        Json::Array(sorted_changes(plan).into_iter().map(change_json).collect()),
    );
    let mut outputs: Vec<&OutputChange> = plan.outputs.iter().collect();
    outputs.sort_by(|a, b| a.name.cmp(&b.name));
    let outputs: Map<String, Json> = outputs
        .into_iter()
        .map(|output| (output.name.clone(), output_json(output)))
        .collect();
    document.insert("output_changes".into(), Json::Object(outputs));
    document.insert(
        "prior_state".into(),
        plan.prior_state.as_ref().map_or(
            Json::Null,
            |stamp| json!({"lineage": stamp.lineage, "serial": stamp.serial}),
        ),
    );
    document.insert("targets".into(), json!(plan.targets));
    document.insert("counts".into(), json!(plan.counts()));
    if let Some(economics) = &plan.economics {
        document.insert("cost".into(), json!(economics));
    }
    Json::Object(document)
}

/// `address`, `module_address`, `mode`, `type`, `name`, `index`, `provider_name`.
fn address_fields(address: &ResourceAddress, object: &mut Map<String, Json>) {
    object.insert("address".into(), json!(address.to_string()));
    if !address.module.is_empty() {
        let module = address
            .module
            .iter()
            .map(|name| format!("module.{name}"))
            .collect::<Vec<_>>()
            .join(".");
        object.insert("module_address".into(), json!(module));
    }
    object.insert(
        "mode".into(),
        json!(match address.mode {
            Mode::Managed => "managed",
            Mode::Data => "data",
        }),
    );
    object.insert("type".into(), json!(address.type_name));
    object.insert("name".into(), json!(address.name));
    match &address.key {
        Some(InstanceKey::Int(index)) => {
            object.insert("index".into(), json!(index));
        }
        Some(InstanceKey::String(key)) => {
            object.insert("index".into(), json!(key));
        }
        None => {}
    }
}

fn change_json(change: &ResourceChange) -> Json {
    let mut object = Map::new();
    address_fields(&change.address, &mut object);
    object.insert("provider_name".into(), json!(change.provider));
    if let Some(reason) = action_reason(change) {
        object.insert("action_reason".into(), json!(reason));
    }
    if let Some(estimate) = &change.copy_estimate {
        object.insert("copy_estimate".into(), json!(estimate));
    }
    let mut body = change_body(
        change.action.terraform_actions(),
        change.before.as_ref(),
        change.after.as_ref(),
    );
    if let Some(ChangeReason::ReplaceBecauseOf(attributes)) = &change.reason {
        let paths: Vec<Json> = attributes.iter().map(|name| json!([name])).collect();
        body.insert("replace_paths".into(), Json::Array(paths));
    }
    if let Some(id) = &change.importing {
        body.insert("importing".into(), json!({ "id": id }));
    }
    object.insert("change".into(), Json::Object(body));
    Json::Object(object)
}

fn drift_json(drift: &Drift) -> Json {
    let mut object = Map::new();
    address_fields(&drift.address, &mut object);
    let actions: &[&str] = if drift.after.is_some() {
        &["update"]
    } else {
        &["delete"]
    };
    let body = change_body(actions, Some(&drift.before), drift.after.as_ref());
    object.insert("change".into(), Json::Object(body));
    Json::Object(object)
}

fn output_json(output: &OutputChange) -> Json {
    let mark = |value: &Option<Value>| {
        value
            .clone()
            .filter(|v| !v.is_null())
            .map(|v| v.marked(output.sensitive))
    };
    let (before, after) = (mark(&output.before), mark(&output.after));
    let action = match (&before, &after) {
        (None, None) => "no-op",
        (None, Some(_)) => "create",
        (Some(_), None) => "delete",
        (Some(b), Some(a)) if values_equal(b, a) && a.is_wholly_known() => "no-op",
        (Some(_), Some(_)) => "update",
    };
    Json::Object(change_body(&[action], before.as_ref(), after.as_ref()))
}

/// `actions`, `before`, `after`, `after_unknown`, `before_sensitive`, `after_sensitive`.
fn change_body(
    actions: &[&str],
    before: Option<&Value>,
    after: Option<&Value>,
) -> Map<String, Json> {
    let before = before.map(split);
    let after = after.map(split);
    let mut body = Map::new();
    body.insert("actions".into(), json!(actions));
    body.insert(
        "before".into(),
        before
            .as_ref()
            .and_then(|s| s.value.clone())
            .unwrap_or(Json::Null),
    );
    body.insert(
        "after".into(),
        after
            .as_ref()
            .and_then(|s| s.value.clone())
            .unwrap_or(Json::Null),
    );
    body.insert(
        "after_unknown".into(),
        after
            .as_ref()
            .map_or(Json::Bool(false), |s| s.unknown.clone()),
    );
    body.insert(
        "before_sensitive".into(),
        before
            .as_ref()
            .map_or(Json::Bool(false), |s| s.sensitive.clone()),
    );
    body.insert(
        "after_sensitive".into(),
        after
            .as_ref()
            .map_or(Json::Bool(false), |s| s.sensitive.clone()),
    );
    body
}

/// A value taken apart: what may be shown, and where the unknown and sensitive parts were.
struct Split {
    /// `None` when the whole value is unknown or sensitive.
    value: Option<Json>,
    unknown: Json,
    sensitive: Json,
}

fn split(value: &Value) -> Split {
    if is_hidden(value) {
        return Split {
            value: None,
            // Only whether the value as a whole is unknown: nothing of a sensitive value's
            // inner structure is described.
            unknown: Json::Bool(value.is_unknown()),
            sensitive: Json::Bool(true),
        };
    }
    match value {
        Value::Unknown => Split {
            value: None,
            unknown: Json::Bool(true),
            sensitive: Json::Bool(false),
        },
        Value::Map(map) => {
            let mut shown = Map::new();
            let mut unknown = Map::new();
            let mut sensitive = Map::new();
            for (key, item) in map {
                let part = split(item);
                if let Some(value) = part.value {
                    shown.insert(key.clone(), value);
                }
                if part.unknown != Json::Bool(false) {
                    unknown.insert(key.clone(), part.unknown);
                }
                if part.sensitive != Json::Bool(false) {
                    sensitive.insert(key.clone(), part.sensitive);
                }
            }
            Split {
                value: Some(Json::Object(shown)),
                unknown: Json::Object(unknown),
                sensitive: Json::Object(sensitive),
            }
        }
        Value::List(items) | Value::Set(items) => {
            let parts: Vec<Split> = items.iter().map(split).collect();
            Split {
                value: Some(Json::Array(
                    parts
                        .iter()
                        .map(|p| p.value.clone().unwrap_or(Json::Null))
                        .collect(),
                )),
                unknown: positional(parts.iter().map(|p| p.unknown.clone()).collect()),
                sensitive: positional(parts.into_iter().map(|p| p.sensitive).collect()),
            }
        }
        Value::Null => known(Json::Null),
        Value::Bool(flag) => known(Json::Bool(*flag)),
        Value::Number(number) => known(number_to_json(number)),
        Value::String(text) => known(Json::String(text.clone())),
        Value::Sensitive(_) => unreachable!("handled by is_hidden"),
    }
}

/// A list's mirror: one entry per element, or `[]` when no element is marked (compact, and
/// still unambiguous).
fn positional(marks: Vec<Json>) -> Json {
    if marks.iter().all(|mark| *mark == Json::Bool(false)) {
        Json::Array(Vec::new())
    } else {
        Json::Array(marks)
    }
}

fn known(value: Json) -> Split {
    Split {
        value: Some(value),
        unknown: Json::Bool(false),
        sensitive: Json::Bool(false),
    }
}

/// Terraform's `action_reason` values where they exist, cutover's own otherwise (documented).
fn action_reason(change: &ResourceChange) -> Option<&'static str> {
    match &change.reason {
        Some(ChangeReason::NotInConfiguration) => Some("delete_because_no_resource_config"),
        Some(ChangeReason::DeletedOutsideCutover) => Some("create_because_deleted_outside_cutover"),
        Some(ChangeReason::ReplaceBecauseOf(_)) => Some("replace_because_cannot_update"),
        Some(ChangeReason::DestroyRequested) => Some("delete_because_destroy_requested"),
        Some(ChangeReason::DependencyPending) => Some("read_because_dependency_pending"),
        None if change.action == Action::Read => Some("read_because_config_unknown"),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::render::tests::sample_plan;

    #[test]
    fn resource_changes_in_terraform_shape() {
        let document = render_json(&sample_plan(), &JsonMeta::default());
        assert_eq!(document["format_version"], "1.2");
        assert_eq!(document["plan_mode"], "normal");
        assert_eq!(document["applyable"], true);
        assert_eq!(
            document["prior_state"],
            json!({"lineage": "lineage-1", "serial": 4})
        );
        assert_eq!(
            document["counts"],
            json!({"add": 2, "change": 1, "destroy": 2, "import": 0, "read": 0})
        );
        let changes = document["resource_changes"].as_array().unwrap();
        let addresses: Vec<&str> = changes
            .iter()
            .map(|c| c["address"].as_str().unwrap())
            .collect();
        assert_eq!(
            addresses,
            [
                "cutover_data.config",
                "cutover_data.new",
                "cutover_data.old[\"legacy\"]",
                "cutover_data.same",
                "cutover_data.swap"
            ]
        );
        let created = &changes[1];
        assert_eq!(
            created["change"],
            json!({
                "actions": ["create"],
                "before": null,
                "after": {"input": "hello", "nothing": null, "tags": {"Cost Center": "kafka", "team": "data"}},
                "after_unknown": {"id": true, "tags": {}},
                "before_sensitive": false,
                "after_sensitive": {"tags": {}, "token": true},
            })
        );
        assert_eq!(created["mode"], "managed");
        assert_eq!(created["type"], "cutover_data");
        assert_eq!(created["provider_name"], "builtin");
        assert!(created.get("index").is_none());
        let deleted = &changes[2];
        assert_eq!(deleted["index"], "legacy");
        assert_eq!(
            deleted["action_reason"],
            "delete_because_no_resource_config"
        );
        assert_eq!(changes[3]["change"]["actions"], json!(["no-op"]));
        let replaced = &changes[4];
        assert_eq!(replaced["change"]["actions"], json!(["delete", "create"]));
        assert_eq!(
            replaced["change"]["replace_paths"],
            json!([["triggers_replace"]])
        );
        assert_eq!(replaced["action_reason"], "replace_because_cannot_update");
        let outputs = &document["output_changes"];
        assert_eq!(
            outputs["password"],
            json!({
                "actions": ["update"],
                "before": null,
                "after": null,
                "after_unknown": false,
                "before_sensitive": true,
                "after_sensitive": true,
            })
        );
        assert_eq!(outputs["endpoint"]["after_unknown"], true);
        assert_eq!(outputs["removed"]["actions"], json!(["delete"]));
    }

    #[test]
    fn sensitive_list_elements_become_null_and_modules_and_imports_are_named() {
        let mut change = crate::plan::render::tests::change(
            crate::plan::render::tests::address("x", Some(InstanceKey::Int(2))),
            Action::NoOp,
            Some(Value::List(vec![
                Value::string("a"),
                Value::sensitive(Value::string("b")),
            ])),
            Some(Value::List(vec![Value::Unknown, Value::string("a")])),
            None,
        );
        change.address.module = vec!["outer".into(), "inner".into()];
        change.importing = Some("i-1".into());
        let body = change_json(&change);
        assert_eq!(
            body["address"],
            "module.outer.module.inner.cutover_data.x[2]"
        );
        assert_eq!(body["module_address"], "module.outer.module.inner");
        assert_eq!(body["index"], 2);
        assert_eq!(body["change"]["before"], json!(["a", null]));
        assert_eq!(body["change"]["before_sensitive"], json!([false, true]));
        assert_eq!(body["change"]["after"], json!([null, "a"]));
        assert_eq!(body["change"]["after_unknown"], json!([true, false]));
        assert_eq!(body["change"]["importing"], json!({"id": "i-1"}));
    }

    #[test]
    fn every_field_written_is_documented() {
        let docs = include_str!("../../../docs/plan-json.md");
        assert!(docs.contains(&format!("format version {FORMAT_VERSION}")));
        let mut plan = sample_plan();
        plan.changes[0].importing = Some("i-1".to_owned());
        let meta = JsonMeta {
            timestamp: Some("2025-01-01T00:00:00Z".to_owned()),
            ..JsonMeta::default()
        };
        let document = render_json(&plan, &meta);
        let mut fields: Vec<String> = document.as_object().unwrap().keys().cloned().collect();
        for change in document["resource_changes"].as_array().unwrap() {
            fields.extend(change.as_object().unwrap().keys().cloned());
            fields.extend(change["change"].as_object().unwrap().keys().cloned());
            if let Some(reason) = change.get("action_reason") {
                fields.push(reason.as_str().unwrap().to_owned());
            }
        }
        for field in fields {
            assert!(
                docs.contains(&format!("`{field}`")),
                "{field} is not in docs/plan-json.md"
            );
        }
    }
}
