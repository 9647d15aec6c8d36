//! What the registry's schemas say, for people and programs: `cutover providers schema -json`
//! (the shape of `terraform providers schema -json`) and the generated reference pages in
//! `docs/resources/*-reference.md`, so the documentation cannot drift from the validators.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value as Json, json};

use super::Registry;

/// The address a provider's schemas are listed under.
fn provider_address(provider: &str) -> String {
    format!("cutover/{provider}")
}

/// All schemas, by provider: `provider` (the settings of its `provider` block),
/// `resource_schemas`, `data_source_schemas`; the `kafka` provider adds `cluster_schema` (the
/// `cluster` block) and `builtin` adds `assert_schema` (the `assert` block) and
/// `assertion_check_schemas` (its checks).
pub fn schemas_json(registry: &Registry) -> Json {
    let mut providers: BTreeMap<&str, serde_json::Map<String, Json>> = BTreeMap::new();
    let entry = |providers: &mut BTreeMap<&'static str, serde_json::Map<String, Json>>,
                 provider: &'static str| {
        providers.entry(provider).or_insert_with(|| {
            let mut map = serde_json::Map::new();
            map.insert("resource_schemas".into(), json!({}));
            map.insert("data_source_schemas".into(), json!({}));
            map
        });
    };
    for resource in registry.resources() {
        entry(&mut providers, resource.provider_name());
        providers.get_mut(resource.provider_name()).unwrap()["resource_schemas"]
            [resource.type_name()] = json!({"version": 0, "block": resource.schema().to_json()});
    }
    for data in registry.data_sources() {
        entry(&mut providers, data.provider_name());
        providers.get_mut(data.provider_name()).unwrap()["data_source_schemas"][data.type_name()] =
            json!({"version": 0, "block": data.schema().to_json()});
    }
    for (name, schema) in registry.provider_schemas() {
        entry(&mut providers, name);
        providers.get_mut(name).unwrap().insert(
            "provider".into(),
            json!({"version": 0, "block": schema.to_json()}),
        );
    }
    entry(&mut providers, super::kafka::PROVIDER);
    providers.get_mut(super::kafka::PROVIDER).unwrap().insert(
        "cluster_schema".into(),
        json!({"version": 0, "block": crate::config::schema::SchemaSource::cluster_schema(registry).to_json()}),
    );
    entry(&mut providers, super::builtin::PROVIDER);
    let checks: serde_json::Map<String, Json> = registry
        .assertion_checks()
        .map(|(name, schema)| {
            (
                name.to_owned(),
                json!({"version": 0, "block": schema.to_json()}),
            )
        })
        .collect();
    providers
        .get_mut(super::builtin::PROVIDER)
        .unwrap()
        .insert("assertion_check_schemas".into(), checks.into());
    providers.get_mut(super::builtin::PROVIDER).unwrap().insert(
        "assert_schema".into(),
        json!({"version": 0, "block": crate::config::schema::SchemaSource::assert_schema(registry).to_json()}),
    );
    json!({
        "format_version": "1.0",
        "provider_schemas": providers
            .into_iter()
            .map(|(name, schemas)| (provider_address(name), Json::Object(schemas)))
            .collect::<serde_json::Map<_, _>>(),
    })
}

/// The first line of every generated page: the docs test knows generated pages by it.
pub const GENERATED_MARK: &str = "<!-- generated from the provider schemas by `CUTOVER_UPDATE_DOCS=1 cargo test --test it docs`: do not edit -->";

/// The generated reference pages: file name (in `docs/resources/`) and text, one page per
/// provider.
pub fn reference_pages(registry: &Registry) -> Vec<(String, String)> {
    let mut pages: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for (name, schema) in registry.provider_schemas() {
        pages
            .entry(name)
            .or_default()
            .push((format!("`provider \"{name}\"`"), schema.to_markdown(3)));
    }
    pages.entry(super::kafka::PROVIDER).or_default().push((
        "`cluster \"NAME\"`: a Kafka connection".to_owned(),
        crate::config::schema::SchemaSource::cluster_schema(registry).to_markdown(3),
    ));
    for resource in registry.resources() {
        pages.entry(resource.provider_name()).or_default().push((
            format!("`resource \"{}\"`", resource.type_name()),
            resource.schema().to_markdown(3),
        ));
    }
    for data in registry.data_sources() {
        pages.entry(data.provider_name()).or_default().push((
            format!("`data \"{}\"`", data.type_name()),
            data.schema().to_markdown(3),
        ));
    }
    // The assert block's own arguments; its check blocks have their sections below.
    let mut assert = crate::config::schema::SchemaSource::assert_schema(registry).clone();
    assert.blocks.clear();
    pages
        .entry(super::builtin::PROVIDER)
        .or_default()
        .push(("`assert \"NAME\"`".to_owned(), assert.to_markdown(3)));
    for (name, schema) in registry.assertion_checks() {
        pages.entry(super::builtin::PROVIDER).or_default().push((
            format!("`assert` check `{name} {{ ... }}`"),
            schema.to_markdown(3),
        ));
    }
    pages
        .into_iter()
        .map(|(provider, sections)| {
            let mut text = String::new();
            let _ = writeln!(text, "{GENERATED_MARK}\n");
            let _ = writeln!(text, "# Reference: the `{provider}` provider\n");
            let _ = writeln!(
                text,
                "Every argument with its type, what values it allows and the rules between arguments, as `cutover validate` checks them (`cutover providers schema -json` prints the same). Values known only after apply are checked when they become known, with the same messages. Guides and examples: [{guide}]({guide}).\n",
                guide = match provider {
                    "aws" => "aws.md",
                    "kafka" => "kafka.md",
                    _ => "../language.md",
                }
            );
            for (title, body) in sections {
                let _ = writeln!(text, "## {title}\n");
                text.push_str(&body);
            }
            (format!("{provider}-reference.md"), text.trim_end().to_owned() + "\n")
        })
        .collect()
}
