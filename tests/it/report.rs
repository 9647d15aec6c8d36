//! The migration report after the last apply, with the built-in `cutover_data` resource only
//! (no Kafka): the timeline of applies labelled by the root output `phase`, the chart file
//! `show -markdown -chart FILE` writes and links, and `history` in `show -json`.

use crate::support::Workspace;

const CONFIGURATION: &str = r#"
variable "phase" {
  type = string
}

resource "cutover_data" "step" {
  input = var.phase
}

assert "phase_recorded" {
  condition     = cutover_data.step.input == var.phase
  error_message = "the step does not record the phase"
}

output "phase" {
  value = var.phase
}
"#;

fn history(workspace: &Workspace) -> Vec<serde_json::Value> {
    let shown = workspace.expect(&["show", "-json"], 0);
    let json: serde_json::Value = serde_json::from_str(&shown).expect("show -json is JSON");
    json["history"].as_array().cloned().unwrap_or_default()
}

#[test]
fn two_phases_make_a_timeline_with_their_labels_and_a_chart() {
    let workspace = Workspace::new("report");
    workspace.write("main.hcl", CONFIGURATION);
    workspace.expect(&["apply", "-auto-approve", "-var", "phase=mirror"], 0);
    workspace.expect(
        &["apply", "-auto-approve", "-var", "phase=cutover_producers"],
        0,
    );

    let report = workspace.expect(&["show", "-markdown", "-chart", "chart.svg"], 0);
    let timeline = report.find("### Timeline").expect(&report);
    let mirror = report.find("| `mirror` |").expect(&report);
    let producers = report.find("| `cutover_producers` |").expect(&report);
    let link = report
        .find("![records behind over time](chart.svg)")
        .expect(&report);
    let assertions = report.find("### Assertions").expect(&report);
    assert!(
        timeline < mirror && mirror < producers && producers < link && link < assertions,
        "{report}"
    );
    assert!(
        report.contains("| 1 | 0 | 0 | `assert.phase_recorded` held |"),
        "{report}"
    );
    assert!(
        report.contains("| 0 | 1 | 0 | `assert.phase_recorded` held |"),
        "{report}"
    );
    let svg = std::fs::read_to_string(workspace.dir.join("chart.svg")).expect("chart written");
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains(">mirror</text>") && svg.contains(">cutover_producers</text>"));

    let records = history(&workspace);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["label"], "mirror");
    assert_eq!(records[0]["operation"], "apply");
    assert_eq!(records[0]["outcome"], "complete");
    assert_eq!(records[0]["added"], 1);
    assert_eq!(records[1]["label"], "cutover_producers");
    assert_eq!(records[1]["changed"], 1);
    assert_eq!(
        records[1]["assertions"],
        serde_json::json!([{ "address": "assert.phase_recorded", "passed": true }])
    );

    let text = workspace.expect(&["show"], 0);
    assert!(text.contains("Timeline:"), "{text}");
    assert!(text.contains("  cutover_producers: complete in "), "{text}");

    // Without -chart, no file: the samples table would stand in (none here without lag).
    let plain = workspace.expect(&["show", "-markdown"], 0);
    assert!(!plain.contains("!["), "{plain}");
    assert!(plain.contains("### Timeline"), "{plain}");
}

#[test]
fn an_apply_with_nothing_to_do_adds_no_record() {
    let workspace = Workspace::new("report-noop");
    workspace.write("main.hcl", CONFIGURATION);
    workspace.expect(&["apply", "-auto-approve", "-var", "phase=mirror"], 0);
    assert_eq!(history(&workspace).len(), 1);
    workspace.expect(&["apply", "-auto-approve", "-var", "phase=mirror"], 0);
    assert_eq!(history(&workspace).len(), 1);
}

#[test]
fn a_destroy_is_recorded_with_the_configured_phase() {
    let workspace = Workspace::new("report-destroy");
    workspace.write("main.hcl", CONFIGURATION);
    workspace.expect(&["apply", "-auto-approve", "-var", "phase=mirror"], 0);
    workspace.expect(
        &["destroy", "-auto-approve", "-var", "phase=decommission"],
        0,
    );
    let records = history(&workspace);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[1]["operation"], "destroy");
    assert_eq!(records[1]["destroyed"], 1);
    assert_eq!(records[1]["label"], "decommission");
    let text = workspace.expect(&["show"], 0);
    assert!(text.contains("decommission (destroy): complete"), "{text}");
}

#[test]
fn a_chart_needs_markdown() {
    let workspace = Workspace::new("report-flags");
    let output = workspace.expect(&["show", "-chart", "chart.svg"], 1);
    assert!(output.contains("--markdown"), "{output}");
    assert!(!workspace.dir.join("chart.svg").exists());
}
