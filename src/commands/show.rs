//! `cutover show [FILE] [-json | -markdown]`: a saved plan (computed again and checked to be
//! still exact, since plan files hold no values), or without FILE the current state.
//! `-markdown` prints a plan for pull-request comments; when it is split into parts, the parts
//! are separated by a line `<!-- cutover: part break -->`.

use std::path::PathBuf;

use anyhow::Context as _;

use super::apply::replan_saved;
use super::common::{report_diagnostics, runtime};
use super::state::render_attributes;
use crate::cli::{ExitStatus, Settings};
use crate::plan::render::{
    HumanOptions, JsonMeta, MarkdownOptions, render_human, render_json, render_markdown,
};

pub const PART_BREAK: &str = "<!-- cutover: part break -->";

#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// A plan saved with `cutover plan -out FILE` (default: show the state)
    pub plan_file: Option<PathBuf>,
    /// Machine-readable JSON (schema: docs/plan-json.md); sensitive values are removed
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Markdown for pull-request comments
    #[arg(long)]
    pub markdown: bool,
}

pub fn run(args: &ShowArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    match &args.plan_file {
        Some(file) => show_plan(file, args, settings),
        None => show_state(args, settings),
    }
}

fn show_plan(
    file: &std::path::Path,
    args: &ShowArgs,
    settings: &Settings,
) -> anyhow::Result<ExitStatus> {
    runtime()?.block_on(async {
        let (_engine, guard, planned) =
            replan_saved(file, settings, 10, std::time::Duration::ZERO, "show").await?;
        guard.unlock().await?;
        if report_diagnostics(&planned.diagnostics) {
            return Ok(ExitStatus::Error);
        }
        if args.json {
            let json = render_json(&planned.plan, &JsonMeta::default());
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else if args.markdown {
            let title = format!("cutover plan for {}", settings.config_dir.display());
            let parts = render_markdown(
                &planned.plan,
                &MarkdownOptions {
                    title,
                    ..MarkdownOptions::default()
                },
            );
            println!("{}", parts.join(&format!("\n{PART_BREAK}\n")));
        } else {
            print!("{}", render_human(&planned.plan, &HumanOptions::default()));
        }
        Ok(ExitStatus::Success)
    })
}

fn show_state(args: &ShowArgs, settings: &Settings) -> anyhow::Result<ExitStatus> {
    runtime()?.block_on(async {
        let engine = super::common::engine(settings, 1, std::time::Duration::ZERO)?;
        let state = engine
            .backend
            .read()
            .await
            .with_context(|| format!("reading state from {}", engine.backend.location()))?;
        let Some(state) = state else {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"format_version": "1.0", "values": null})
                );
            } else {
                println!("No state.");
            }
            return Ok(ExitStatus::Success);
        };
        if args.json {
            let resources: Vec<serde_json::Value> = state
                .resources
                .iter()
                .map(|resource| {
                    let mut entry = serde_json::to_value(resource).unwrap_or_default();
                    if let Some(object) = entry.as_object_mut() {
                        object.remove("attributes");
                        object.remove("pending");
                        object.insert("values".to_owned(), strip_hashes(&resource.attributes));
                    }
                    entry
                })
                .collect();
            let outputs: serde_json::Map<String, serde_json::Value> = state
                .outputs
                .iter()
                .map(|(name, output)| {
                    let mut entry = serde_json::Map::new();
                    entry.insert("sensitive".to_owned(), output.sensitive.into());
                    if !output.sensitive {
                        entry.insert("value".to_owned(), output.value.clone());
                    }
                    (name.clone(), serde_json::Value::Object(entry))
                })
                .collect();
            let json = serde_json::json!({
                "format_version": "1.0",
                "cutover_version": env!("CARGO_PKG_VERSION"),
                "serial": state.serial,
                "lineage": state.lineage,
                "values": { "outputs": outputs, "resources": resources },
                "assertions": state.assertions,
            });
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else if args.markdown {
            println!(
                "**State:** {} objects, serial {}\n",
                state.resources.len(),
                state.serial
            );
            for resource in &state.resources {
                println!(
                    "<details><summary><code>{}</code></summary>\n\n```hcl\n{}```\n</details>\n",
                    resource.address,
                    render_attributes(resource)
                );
            }
            if !state.assertions.is_empty() {
                println!("{}", assertions_markdown(&state.assertions));
            }
        } else {
            for resource in &state.resources {
                println!("{}", render_attributes(resource));
            }
            if !state.outputs.is_empty() {
                println!("Outputs:\n");
                for (name, output) in &state.outputs {
                    let value = output.to_value();
                    let value = if output.sensitive {
                        crate::config::value::Value::sensitive(value)
                    } else {
                        value
                    };
                    println!("{name} = {value}");
                }
            }
            if !state.assertions.is_empty() {
                print!("{}", assertions_text(&state.assertions));
            }
        }
        Ok(ExitStatus::Success)
    })
}

fn verdict(evidence: &serde_json::Value) -> &'static str {
    if evidence["passed"] == true {
        "held"
    } else {
        "FAILED"
    }
}

/// The per-partition lines of a check's evidence: every partition that did not hold, with
/// its numbers, and how many did.
fn partition_lines(check: &serde_json::Value) -> Vec<String> {
    let Some(partitions) = check["partitions"].as_object() else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    let mut holding = 0;
    for (key, partition) in partitions {
        if partition["holds"] == true || partition.get("holds").is_none() {
            holding += 1;
            continue;
        }
        lines.push(format!(
            "{key}: {} (first diverging offset {}; source {}..{}, target {}..{}, {} records compared)",
            partition["reason"].as_str().unwrap_or("does not hold"),
            partition["first_diverging_offset"],
            partition["source"]["log_start"],
            partition["source"]["end"],
            partition["target"]["log_start"],
            partition["target"]["end"],
            partition["records_compared"],
        ));
    }
    lines.push(format!("{holding} of {} partitions hold", partitions.len()));
    lines
}

/// `cutover show`: each assertion's last result, time, and per-check numbers.
fn assertions_text(assertions: &std::collections::BTreeMap<String, serde_json::Value>) -> String {
    let mut out = String::from("\nAssertions:\n");
    for (address, evidence) in assertions {
        out.push_str(&format!(
            "\n{address}: {} at {} ({} polls)\n",
            verdict(evidence),
            evidence["checked_at"].as_str().unwrap_or("?"),
            evidence["polls"]
        ));
        if let Some(checks) = evidence["checks"].as_object() {
            for (name, check) in checks {
                out.push_str(&format!(
                    "  {name}: {}\n",
                    check["summary"].as_str().unwrap_or("")
                ));
                for line in partition_lines(check) {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
    }
    out
}

/// The assertions section of the markdown state report: a table, then the evidence of each.
pub fn assertions_markdown(
    assertions: &std::collections::BTreeMap<String, serde_json::Value>,
) -> String {
    let mut out = String::from(
        "### Assertions\n\n| Assertion | Result | Checked at | Summary |\n|---|---|---|---|\n",
    );
    for (address, evidence) in assertions {
        out.push_str(&format!(
            "| `{address}` | {} | {} | {} |\n",
            verdict(evidence),
            evidence["checked_at"].as_str().unwrap_or("?"),
            evidence["message"]
                .as_str()
                .unwrap_or("")
                .replace('|', "\\|")
                .replace('\n', " ")
        ));
    }
    for (address, evidence) in assertions {
        let mut lines = Vec::new();
        if let Some(checks) = evidence["checks"].as_object() {
            for (name, check) in checks {
                lines.push(format!(
                    "{name}: {}",
                    check["summary"].as_str().unwrap_or("")
                ));
                lines.extend(partition_lines(check).into_iter().map(|l| format!("  {l}")));
            }
        }
        out.push_str(&format!(
            "\n<details><summary><code>{address}</code> evidence</summary>\n\n```\n{}\n```\n</details>\n",
            lines.join("\n")
        ));
    }
    out
}

/// State attributes with every keyed-hash entry removed (sensitive values are listed by
/// path in `sensitive_paths`, never shown, not even hashed).
fn strip_hashes(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .filter(|(_, item)| !is_hash_marker(item))
                .map(|(key, item)| (key.clone(), strip_hashes(item)))
                .collect(),
        ),
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|item| {
                    if is_hash_marker(item) {
                        serde_json::Value::Null
                    } else {
                        strip_hashes(item)
                    }
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_hash_marker(value: &serde_json::Value) -> bool {
    value.as_object().is_some_and(|map| {
        map.len() == 1 && map.contains_key(crate::state::sensitive::SENSITIVE_MARKER)
    })
}
