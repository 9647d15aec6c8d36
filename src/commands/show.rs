//! `cutover show [FILE] [-json | -markdown]`: a saved plan (computed again and checked to be
//! still exact, since plan files hold no values), or without FILE the current state. Neither
//! takes the state lock (as Terraform's `show`): both only read, and a state is replaced
//! whole by a rename, so a read never sees half a write; `show FILE` works while an apply
//! holds the lock (and says the plan is stale once that apply has changed the state).
//! `-markdown` prints a plan for pull-request comments; when it is split into parts, the parts
//! are separated by a line `<!-- cutover: part break -->`. For the state, `-markdown` is the
//! migration report: the timeline of applies, the lag over time (`-chart FILE` writes it as an
//! SVG the report links; without it, a table of the samples), the assertions and the objects.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::apply::replan_saved;
use super::common::{LockArgs, report_diagnostics, runtime};
use super::state::render_attributes;
use crate::plan::render::{
    HumanOptions, JsonMeta, MarkdownOptions, render_human, render_json, render_markdown,
};
use crate::settings::{ExitStatus, Settings};
use crate::state::State;
use crate::state::document::{ApplyOperation, ApplyRecord};

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
    /// With -markdown, for the state: write the lag-over-time chart here as SVG and link it
    #[arg(
        long,
        value_name = "FILE",
        requires = "markdown",
        conflicts_with = "plan_file"
    )]
    pub chart: Option<PathBuf>,
}

/// The version of the state document `show -json` prints (conventions as in
/// docs/plan-json.md: adding a field raises the minor version). 1.1 added `history`.
const STATE_JSON_FORMAT_VERSION: &str = "1.1";

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
        let shutdown = super::common::shutdown_on_signals();
        let without_lock = LockArgs {
            lock_enabled: false,
            ..LockArgs::default()
        };
        let (_engine, guard, planned) =
            replan_saved(file, settings, 10, &without_lock, "show", &shutdown).await?;
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
        let engine = super::common::engine(settings, 1, &LockArgs::default())?;
        let state = engine
            .backend
            .read()
            .await
            .with_context(|| format!("reading state from {}", engine.backend.location()))?;
        let Some(state) = state else {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"format_version": STATE_JSON_FORMAT_VERSION, "values": null})
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
                "format_version": STATE_JSON_FORMAT_VERSION,
                "cutover_version": env!("CARGO_PKG_VERSION"),
                "serial": state.serial,
                "lineage": state.lineage,
                "values": { "outputs": outputs, "resources": resources },
                "assertions": state.assertions,
                "history": state.history,
            });
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else if args.markdown {
            print!(
                "{}",
                state_report_markdown(&state, settings, args.chart.as_deref())?
            );
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
            if !state.history.is_empty() {
                print!("{}", timeline_text(&state.history));
            }
            if !state.assertions.is_empty() {
                print!("{}", assertions_text(&state.assertions));
            }
        }
        Ok(ExitStatus::Success)
    })
}

/// The migration report: title and summary, the timeline, the lag over time (the chart written
/// to `chart` and linked, or a table of the samples), the assertions, then the objects.
fn state_report_markdown(
    state: &State,
    settings: &Settings,
    chart: Option<&Path>,
) -> anyhow::Result<String> {
    let mut out = format!(
        "### cutover state for {}\n\n**State:** {} objects, serial {}",
        settings.config_dir.display(),
        state.resources.len(),
        state.serial
    );
    if let (Some(first), Some(last)) = (state.history.first(), state.history.last()) {
        out.push_str(&format!(
            ", {} applies from {} to {}",
            state.history.len(),
            first.started_at,
            last.finished_at
        ));
    }
    out.push_str("\n\n");
    if !state.history.is_empty() {
        out.push_str(&timeline_markdown(&state.history));
        out.push('\n');
    }
    let series = super::chart::lag_series(state);
    match chart {
        Some(file) => {
            let markers = super::chart::phase_markers(state);
            match super::chart::render_svg(&series, &markers) {
                Some(svg) => {
                    if let Some(directory) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(directory).with_context(|| {
                            format!("creating {} for the chart", directory.display())
                        })?;
                    }
                    std::fs::write(file, svg)
                        .with_context(|| format!("writing the chart to {}", file.display()))?;
                    out.push_str(&format!(
                        "![records behind over time]({})\n\n",
                        markdown_link_target(file)
                    ));
                }
                None => out.push_str("_No lag samples or applies recorded yet: no chart._\n\n"),
            }
        }
        None => {
            if let Some(table) = super::chart::samples_markdown(&series) {
                out.push_str(&table);
                out.push('\n');
            }
        }
    }
    if !state.assertions.is_empty() {
        out.push_str(&assertions_markdown(&state.assertions));
        out.push('\n');
    }
    if !state.resources.is_empty() {
        out.push_str("### Objects\n\n");
    }
    for resource in &state.resources {
        out.push_str(&format!(
            "<details><summary><code>{}</code></summary>\n\n```hcl\n{}```\n</details>\n\n",
            resource.address,
            render_attributes(resource)
        ));
    }
    Ok(out)
}

/// A path as a markdown link target: as given, in angle brackets when it has spaces or
/// parentheses (which would end a bare target).
fn markdown_link_target(file: &Path) -> String {
    let text = file.display().to_string().replace('\\', "/");
    if text.contains([' ', '(', ')', '<', '>']) {
        format!("<{}>", text.replace('<', "%3C").replace('>', "%3E"))
    } else {
        text
    }
}

/// Text for a markdown table cell: no pipes, line breaks or backticks to break out of it.
fn table_cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
}

/// What the timeline shows as a record's phase: the `phase` output's value, the operation when
/// there is none, and the operation too when it is a destroy.
fn timeline_label(record: &ApplyRecord, code: bool) -> String {
    let label = match (&record.label, code) {
        (Some(label), true) => format!("`{}`", table_cell(label)),
        (Some(label), false) => label.clone(),
        (None, _) => return record.operation.as_str().to_owned(),
    };
    match record.operation {
        ApplyOperation::Destroy => format!("{label} (destroy)"),
        ApplyOperation::Apply => label,
    }
}

fn checked_assertions(record: &ApplyRecord, code: bool) -> String {
    record
        .assertions
        .iter()
        .map(|checked| {
            let verdict = if checked.passed { "held" } else { "FAILED" };
            if code {
                format!("`{}` {verdict}", table_cell(&checked.address))
            } else {
                format!("{} {verdict}", checked.address)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The markdown timeline: one row per apply, oldest first.
fn timeline_markdown(history: &[ApplyRecord]) -> String {
    let mut out = String::from(
        "### Timeline\n\n| Phase | Started | Finished | Duration | Outcome | + | ~ | - | Assertions |\n|---|---|---|---|---|---:|---:|---:|---|\n",
    );
    for record in history {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            timeline_label(record, true),
            table_cell(&record.started_at),
            table_cell(&record.finished_at),
            record.duration_text(),
            record.outcome.as_str(),
            record.added,
            record.changed,
            record.destroyed,
            checked_assertions(record, true)
        ));
    }
    out
}

/// `cutover show`: the timeline, one line per apply.
fn timeline_text(history: &[ApplyRecord]) -> String {
    let mut out = String::from("\nTimeline:\n\n");
    for record in history {
        let mut line = format!(
            "  {}  {}: {} in {}, {} added, {} changed, {} destroyed",
            record.started_at,
            timeline_label(record, false),
            record.outcome.as_str(),
            record.duration_text(),
            record.added,
            record.changed,
            record.destroyed
        );
        if !record.assertions.is_empty() {
            line.push_str(&format!("; {}", checked_assertions(record, false)));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::document::{ApplyOutcome, CheckedAssertion};

    fn record(label: Option<&str>, operation: ApplyOperation) -> ApplyRecord {
        ApplyRecord {
            started_at: "2025-06-01T10:00:00Z".to_owned(),
            finished_at: "2025-06-01T10:03:20Z".to_owned(),
            operation,
            outcome: ApplyOutcome::AssertionFailed,
            added: 3,
            changed: 1,
            destroyed: 2,
            assertions: vec![
                CheckedAssertion {
                    address: "assert.caught_up".to_owned(),
                    passed: true,
                },
                CheckedAssertion {
                    address: "assert.no_divergence".to_owned(),
                    passed: false,
                },
            ],
            label: label.map(str::to_owned),
            extra: Default::default(),
        }
    }

    fn settings() -> Settings {
        Settings {
            config_dir: PathBuf::from("."),
            command_line_vars: Vec::new(),
            environment_vars: Vec::new(),
            eval_budget: 1,
            state_key: Default::default(),
            encryption: Default::default(),
        }
    }

    #[test]
    fn the_timeline_has_a_row_per_apply() {
        let history = [
            record(Some("mirror|1"), ApplyOperation::Apply),
            record(None, ApplyOperation::Destroy),
        ];
        let table = timeline_markdown(&history);
        assert!(
            table.starts_with("### Timeline\n\n| Phase | Started |"),
            "{table}"
        );
        assert!(
            table.contains(
                "| `mirror\\|1` | 2025-06-01T10:00:00Z | 2025-06-01T10:03:20Z | 3m20s | assertion failed | 3 | 1 | 2 | `assert.caught_up` held, `assert.no_divergence` FAILED |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| destroy | 2025-06-01T10:00:00Z |"),
            "{table}"
        );
        let text = timeline_text(&history);
        assert_eq!(
            text.lines().nth(4),
            Some(
                "  2025-06-01T10:00:00Z  destroy: assertion failed in 3m20s, 3 added, 1 changed, 2 destroyed; assert.caught_up held, assert.no_divergence FAILED"
            ),
            "{text}"
        );
        let mut labelled_destroy = record(Some("decommission"), ApplyOperation::Destroy);
        labelled_destroy.assertions.clear();
        assert!(timeline_text(&[labelled_destroy]).ends_with(
            "decommission (destroy): assertion failed in 3m20s, 3 added, 1 changed, 2 destroyed\n"
        ));
    }

    #[test]
    fn the_report_orders_timeline_chart_assertions_and_objects() {
        let mut state = State::with_lineage("l");
        state.record_apply(record(Some("mirror"), ApplyOperation::Apply));
        state.assertions.insert(
            "assert.caught_up".to_owned(),
            serde_json::json!({
                "passed": true,
                "checked_at": "2025-06-01T10:03:00Z",
                "message": "lag: mirror lag 0 records",
                "checks": {"lag": {"summary": "mirror lag 0 records", "samples": [[1_748_772_000_000_i64, 40], [1_748_772_060_000_i64, 0]]}},
            }),
        );
        state.upsert(crate::state::ResourceState::new(
            &crate::config::evaluate::ResourceAddress {
                module: Vec::new(),
                mode: crate::config::model::Mode::Managed,
                type_name: "cutover_data".to_owned(),
                name: "x".to_owned(),
                key: None,
            },
            "cutover",
        ));

        let table_report = state_report_markdown(&state, &settings(), None).unwrap();
        let positions: Vec<usize> = [
            "### cutover state for .",
            "1 applies from 2025-06-01T10:00:00Z to 2025-06-01T10:03:20Z",
            "### Timeline",
            "### Records behind",
            "### Assertions",
            "### Objects",
            "<code>cutover_data.x</code>",
        ]
        .iter()
        .map(|part| {
            table_report
                .find(part)
                .unwrap_or_else(|| panic!("{part} missing:\n{table_report}"))
        })
        .collect();
        assert!(positions.is_sorted(), "{table_report}");
        assert!(
            table_report.contains("| `assert.caught_up` | 2 |"),
            "{table_report}"
        );

        let directory =
            std::env::temp_dir().join(format!("cutover-show-chart-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let file = directory.join("lag chart.svg");
        let chart_report = state_report_markdown(&state, &settings(), Some(&file)).unwrap();
        let svg = std::fs::read_to_string(&file).unwrap();
        std::fs::remove_dir_all(&directory).ok();
        assert!(svg.starts_with("<svg"));
        assert!(!chart_report.contains("### Records behind"));
        let link = format!("![records behind over time](<{}>)", file.display());
        let (timeline, link_at, assertions) = (
            chart_report.find("### Timeline").unwrap(),
            chart_report.find(&link).expect(&chart_report),
            chart_report.find("### Assertions").unwrap(),
        );
        assert!(timeline < link_at && link_at < assertions, "{chart_report}");
    }

    #[test]
    fn an_empty_state_report_has_no_chart() {
        let state = State::with_lineage("l");
        let file =
            std::env::temp_dir().join(format!("cutover-no-chart-{}.svg", std::process::id()));
        let report = state_report_markdown(&state, &settings(), Some(&file)).unwrap();
        assert!(!file.exists());
        assert!(report.contains("no chart"), "{report}");
        assert!(!report.contains("### Timeline"), "{report}");
        assert_eq!(
            markdown_link_target(Path::new("out/chart.svg")),
            "out/chart.svg"
        );
    }
}
