//! The human plan, laid out as Terraform lays out its own: a legend of the symbols in use,
//! drift first, one block per resource with attribute-level changes (`=` aligned per block,
//! unchanged attributes hidden, multi-line strings as line diffs), the summary line, then
//! output changes.

use std::collections::BTreeSet;

use similar::{Algorithm, DiffTag, capture_diff_slices, group_diff_ops};

use super::{
    Line, Symbol, block_label, counts_sentence, headline, is_hidden, is_refresh_only, is_shown,
    reason_lines, replace_attributes, sorted_changes,
};
use crate::config::eval::values_equal;
use crate::config::value::Value;
use crate::plan::{Drift, OutputChange, Plan, PlanMode, ResourceChange};

/// How the human plan is printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HumanOptions {
    /// ANSI colours on the action symbols and bold headlines. Off unless asked for.
    pub color: bool,
    /// The terminal width; reserved (lines are not wrapped).
    pub width: Option<usize>,
}

/// Lines of context kept around each changed line of a multi-line string.
const STRING_CONTEXT_LINES: usize = 2;

/// Unchanged top-level attributes still shown in an update, so the reader can tell which
/// object it is (Terraform keeps `id`, `name` and `tags`).
const IDENTIFYING_ATTRIBUTES: [&str; 2] = ["id", "name"];

const SEPARATOR_WIDTH: usize = 77;

/// Renders the plan as `cutover plan` prints it. The text ends with a newline.
pub fn render_human(plan: &Plan, options: &HumanOptions) -> String {
    let color = options.color;
    let mut out: Vec<String> = Vec::new();
    let refresh_only = is_refresh_only(plan);
    let shown: Vec<&ResourceChange> = if refresh_only {
        Vec::new()
    } else {
        sorted_changes(plan)
            .into_iter()
            .filter(|c| is_shown(c))
            .collect()
    };
    let outputs = output_lines(&plan.outputs);

    if !plan.drift.is_empty() {
        out.push("Note: Objects have changed outside of cutover".to_owned());
        out.push(String::new());
        out.push(format!(
            "cutover detected the following changes made outside of cutover since the last \"cutover apply\"{}",
            if refresh_only {
                ":"
            } else {
                " which may have affected this plan:"
            }
        ));
        let mut drift: Vec<&Drift> = plan.drift.iter().collect();
        drift.sort_by(|a, b| a.address.cmp(&b.address));
        for item in drift {
            out.push(String::new());
            out.extend(drift_lines(item).iter().map(|line| line.render(color)));
        }
        out.push(String::new());
        if refresh_only {
            out.push("This is a refresh-only plan, so cutover will not take any actions to undo these. If you were expecting these changes then you can apply this plan to record the updated values in the cutover state without changing any remote objects.".to_owned());
        } else if !shown.is_empty() {
            out.push("Unless you have made equivalent changes to your configuration, or ignored the relevant attributes using ignore_changes, the following plan may include actions to undo or respond to these changes.".to_owned());
        }
        out.push(String::new());
        out.push("─".repeat(SEPARATOR_WIDTH));
        out.push(String::new());
    }

    if !shown.is_empty() {
        let symbols: BTreeSet<&'static str> = shown
            .iter()
            .filter(|c| c.action != crate::plan::Action::NoOp)
            .map(|c| c.action.symbol())
            .collect();
        if !symbols.is_empty() {
            out.push("cutover used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:".to_owned());
            for (symbol, meaning) in LEGEND {
                if symbols.contains(symbol.text()) {
                    let line = Line::new(3 - symbol.text().len(), symbol, meaning);
                    out.push(line.render(color));
                }
            }
            out.push(String::new());
        }
        out.push("cutover will perform the following actions:".to_owned());
        for change in &shown {
            out.push(String::new());
            out.extend(resource_lines(change).iter().map(|line| line.render(color)));
        }
        out.push(String::new());
        let counts = plan.counts();
        out.push(format!("Plan: {}.", counts_sentence(&counts)));
        if plan.mode == PlanMode::Destroy {
            out.push(String::new());
            out.push(format!(
                "Warning: this is a destroy plan. Applying it deletes {} object{} listed above; this cannot be undone.",
                counts.destroy,
                plural(counts.destroy)
            ));
        }
        if !outputs.is_empty() {
            out.push(String::new());
            out.push("Changes to Outputs:".to_owned());
            out.extend(outputs.iter().map(|line| line.render(color)));
        }
    } else if !outputs.is_empty() {
        out.push("Changes to Outputs:".to_owned());
        out.extend(outputs.iter().map(|line| line.render(color)));
        out.push(String::new());
        if refresh_only && !plan.drift.is_empty() {
            // The refresh-only paragraph above already says what applying does.
            out.pop();
        } else {
            out.push("You can apply this plan to save these new output values to the cutover state, without changing any real infrastructure.".to_owned());
        }
    } else if refresh_only {
        if plan.drift.is_empty() {
            out.push("No changes. Your infrastructure still matches the configuration.".to_owned());
            out.push(String::new());
            out.push("cutover has checked that the real remote objects still match the result of your most recent changes, and found no differences.".to_owned());
        } else {
            // The drift section and its refresh-only paragraph say everything; drop the
            // trailing blank line after the separator.
            while out.last().is_some_and(String::is_empty) {
                out.pop();
            }
        }
    } else if plan.mode == PlanMode::Destroy {
        out.push("No changes. No objects need to be destroyed.".to_owned());
        out.push(String::new());
        out.push("Either you have not created any objects yet or the existing objects were already deleted outside of cutover.".to_owned());
    } else if !plan.drift.is_empty() {
        out.push("No changes. Your infrastructure matches the configuration.".to_owned());
        out.push(String::new());
        out.push("Your configuration already matches the changes detected above, so cutover will not undo them: they stay as they are unless the configuration changes. To record them in the cutover state, run \"cutover apply -refresh-only\".".to_owned());
    } else {
        out.push("No changes. Your infrastructure matches the configuration.".to_owned());
        out.push(String::new());
        out.push("cutover has compared your real infrastructure against your configuration and found no differences, so no changes are needed.".to_owned());
    }

    if let Some(economics) = plan.economics.as_ref().filter(|_| !refresh_only) {
        out.push(String::new());
        out.extend(crate::plan::cost::human_lines(economics));
    }

    if !plan.targets.is_empty() {
        out.push(String::new());
        out.push(format!(
            "Warning: resource targeting is in effect ({}): this plan may not include every change the configuration asks for. -target is for exceptional situations, not routine use.",
            plan.targets
                .iter()
                .map(|target| format!("-target={target}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }

    let mut text = out.join("\n");
    text.push('\n');
    text
}

const LEGEND: [(Symbol, &str); 6] = [
    (Symbol::Create, "create"),
    (Symbol::Update, "update in place"),
    (Symbol::Delete, "destroy"),
    (
        Symbol::DeleteThenCreate,
        "destroy and then create replacement",
    ),
    (
        Symbol::CreateThenDelete,
        "create replacement and then destroy",
    ),
    (Symbol::Read, "read (data resources)"),
];

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// One resource change: the `# address will …` headline, reason lines, then the block.
pub(crate) fn resource_lines(change: &ResourceChange) -> Vec<Line> {
    let mut lines = vec![Line {
        bold: true,
        ..Line::plain(2, format!("# {} {}", change.address, headline(change)))
    }];
    lines.extend(resource_block_lines(change));
    lines
}

/// The reason lines and the `resource "t" "n" { … }` block of one change (what the markdown
/// form puts in its `diff` fence, the headline being in the summary there).
pub(crate) fn resource_block_lines(change: &ResourceChange) -> Vec<Line> {
    let mut lines: Vec<Line> = reason_lines(change)
        .into_iter()
        .map(|text| Line::plain(2, text))
        .collect();
    if change.action == crate::plan::Action::Check {
        lines.push(Line::new(
            2,
            Symbol::Blank,
            format!("{} {{", block_label(&change.address)),
        ));
        lines.extend(
            super::assertion_lines(change)
                .into_iter()
                .map(|text| Line::new(lead(1), Symbol::Blank, text)),
        );
        lines.push(Line::new(lead(0), Symbol::Blank, "}"));
        return lines;
    }
    let (before, after) = match change.action {
        crate::plan::Action::Create | crate::plan::Action::Read => (None, change.after.as_ref()),
        crate::plan::Action::Delete => (change.before.as_ref(), None),
        _ => (change.before.as_ref(), change.after.as_ref()),
    };
    block(
        &mut lines,
        Symbol::for_action(change.action),
        &block_label(&change.address),
        before,
        after,
        replace_attributes(change),
    );
    lines
}

/// One drifted object: `# address has changed` / `has been deleted` and its block.
pub(crate) fn drift_lines(drift: &Drift) -> Vec<Line> {
    let (headline, symbol) = match drift.after {
        Some(_) => ("has changed", Symbol::Update),
        None => ("has been deleted", Symbol::Delete),
    };
    let mut lines = vec![Line {
        bold: true,
        ..Line::plain(2, format!("# {} {headline}", drift.address))
    }];
    block(
        &mut lines,
        symbol,
        &block_label(&drift.address),
        Some(&drift.before),
        drift.after.as_ref(),
        &[],
    );
    lines
}

/// The lines under `Changes to Outputs:` (empty when no output changes).
pub(crate) fn output_lines(outputs: &[OutputChange]) -> Vec<Line> {
    let mut sorted: Vec<&OutputChange> = outputs.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut lines = Vec::new();
    for output in sorted {
        let mark = |value: &Option<Value>| {
            value
                .clone()
                .filter(|v| !v.is_null())
                .map(|v| v.marked(output.sensitive))
        };
        let (before, after) = (mark(&output.before), mark(&output.after));
        let label = Label::Key {
            name: &output.name,
            width: 0,
        };
        match (&before, &after) {
            (None, None) => {}
            (None, Some(after)) => full(&mut lines, 0, Symbol::Create, &label, after, ""),
            (Some(before), None) => full(&mut lines, 0, Symbol::Delete, &label, before, " -> null"),
            (Some(before), Some(after)) => {
                if values_equal(before, after) && after.is_wholly_known() {
                    continue;
                }
                if values_equal(before, after) {
                    // Unknown on both sides: it will be computed again.
                    lines.push(Line::new(
                        lead(0),
                        Symbol::Update,
                        label.text(&one_line(after)),
                    ));
                } else {
                    changed(&mut lines, 0, &label, before, after);
                }
            }
        }
    }
    lines
}

/// Spaces before the symbol of a line at `depth` (top-level attributes are depth 1).
fn lead(depth: usize) -> usize {
    2 + 4 * depth
}

/// The `resource "t" "n" { … }` block: header, attributes, closing brace.
fn block(
    lines: &mut Vec<Line>,
    symbol: Symbol,
    label: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    forces_replacement: &[String],
) {
    lines.push(Line::new(
        3 - symbol.text().len(),
        symbol,
        format!("{label} {{"),
    ));
    let empty = std::collections::BTreeMap::new();
    let before_map = before.map(|v| v.as_map().filter(|_| !is_hidden(v)).unwrap_or(&empty));
    let after_map = after.map(|v| v.as_map().filter(|_| !is_hidden(v)).unwrap_or(&empty));
    if after.is_some_and(|v| v.is_unknown()) {
        lines.push(Line::new(
            lead(1),
            Symbol::Blank,
            "# (all attributes known after apply)",
        ));
    }

    enum Row<'v> {
        Create(&'v Value),
        Delete(&'v Value),
        Update(&'v Value, &'v Value),
        Context(&'v Value),
    }
    let mut rows: Vec<(&str, Row)> = Vec::new();
    let mut hidden = 0usize;
    let names: BTreeSet<&String> = before_map
        .iter()
        .flat_map(|m| m.keys())
        .chain(after_map.iter().flat_map(|m| m.keys()))
        .collect();
    for name in names {
        let old = before_map
            .and_then(|m| m.get(name))
            .filter(|v| !v.is_null());
        let new = after_map.and_then(|m| m.get(name)).filter(|v| !v.is_null());
        let row = match (old, new) {
            (None, None) => continue,
            (None, Some(new)) => Row::Create(new),
            (Some(old), None) => Row::Delete(old),
            (Some(old), Some(new)) if same(old, new) => {
                if IDENTIFYING_ATTRIBUTES.contains(&name.as_str()) && is_scalar(new) {
                    Row::Context(new)
                } else {
                    hidden += 1;
                    continue;
                }
            }
            (Some(old), Some(new)) => Row::Update(old, new),
        };
        rows.push((name.as_str(), row));
    }
    let width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    for (name, row) in rows {
        let label = Label::Key { name, width };
        let first = lines.len();
        match row {
            Row::Create(value) => full(lines, 1, Symbol::Create, &label, value, ""),
            Row::Delete(value) => full(lines, 1, Symbol::Delete, &label, value, " -> null"),
            Row::Update(old, new) => changed(lines, 1, &label, old, new),
            Row::Context(value) => full(lines, 1, Symbol::Blank, &label, value, ""),
        }
        if forces_replacement.iter().any(|n| n == name) {
            lines[first].text.push_str(" # forces replacement");
        }
    }
    if hidden > 0 {
        lines.push(Line::new(
            lead(1),
            Symbol::Blank,
            format!("# ({hidden} unchanged attribute{} hidden)", plural(hidden)),
        ));
    }
    lines.push(Line::new(lead(0), Symbol::Blank, "}"));
}

/// How a value is introduced on its first line.
enum Label<'a> {
    /// `name = ` with the name padded to `width`.
    Key { name: &'a str, width: usize },
    /// A list element: no label, a trailing comma after the value.
    Element,
}

impl Label<'_> {
    /// The first line of a value: label and value text.
    fn text(&self, value: &str) -> String {
        match self {
            Label::Key { name, width } => {
                let pad = width.saturating_sub(name.chars().count());
                format!("{name}{} = {value}", " ".repeat(pad))
            }
            Label::Element => value.to_owned(),
        }
    }

    /// What follows the last line of a value: a comma for list elements.
    fn end(&self) -> &'static str {
        match self {
            Label::Key { .. } => "",
            Label::Element => ",",
        }
    }
}

/// Equality for diffing: marks looked through, numbers by value. A stored hash never equals a
/// new value (the safe default: the planner compares hashes, not the renderer).
fn same(a: &Value, b: &Value) -> bool {
    values_equal(a, b) && a.is_wholly_known() && b.is_wholly_known()
}

fn is_scalar(value: &Value) -> bool {
    is_hidden(value)
        || (matches!(
            value,
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Unknown
        ) && !value.as_str().is_some_and(|s| s.contains('\n')))
}

/// A map key as shown inside a nested value: bare when it is an identifier, quoted otherwise.
fn key_text(key: &str) -> String {
    let mut chars = key.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if identifier {
        key.to_owned()
    } else {
        super::quote(key)
    }
}

/// A value on one line, hiding sensitive parts at any depth.
fn one_line(value: &Value) -> String {
    if is_hidden(value) {
        return "(sensitive value)".to_owned();
    }
    match value {
        Value::List(items) | Value::Set(items) => format!(
            "[{}]",
            items.iter().map(one_line).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(key, value)| format!("{} = {}", key_text(key), one_line(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Renders a whole value with one symbol: a creation, a deletion (with `suffix` " -> null"),
/// unchanged context, or the old side of a value becoming unknown.
fn full(
    lines: &mut Vec<Line>,
    depth: usize,
    symbol: Symbol,
    label: &Label,
    value: &Value,
    suffix: &str,
) {
    let child_symbol = match symbol {
        Symbol::Update => Symbol::Delete,
        other => other,
    };
    let end = label.end();
    if is_hidden(value) {
        lines.push(Line::new(
            lead(depth),
            symbol,
            format!("{}{suffix}{end}", label.text("(sensitive value)")),
        ));
        return;
    }
    match value {
        Value::Map(map) if !map.is_empty() => {
            lines.push(Line::new(lead(depth), symbol, label.text("{")));
            let entries: Vec<(String, &Value)> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (key_text(k), v))
                .collect();
            let width = entries
                .iter()
                .map(|(k, _)| k.chars().count())
                .max()
                .unwrap_or(0);
            for (key, item) in &entries {
                let child = Label::Key { name: key, width };
                full(lines, depth + 1, child_symbol, &child, item, "");
            }
            lines.push(Line::new(
                lead(depth),
                Symbol::Blank,
                format!("}}{suffix}{end}"),
            ));
        }
        Value::List(items) | Value::Set(items) if !items.is_empty() => {
            lines.push(Line::new(lead(depth), symbol, label.text("[")));
            for item in items {
                full(lines, depth + 1, child_symbol, &Label::Element, item, "");
            }
            lines.push(Line::new(
                lead(depth),
                Symbol::Blank,
                format!("]{suffix}{end}"),
            ));
        }
        Value::String(text) if text.contains('\n') => {
            lines.push(Line::new(lead(depth), symbol, label.text("<<-EOT")));
            for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
                lines.push(Line::new(lead(depth + 1), Symbol::Blank, line));
            }
            lines.push(Line::new(
                lead(depth),
                Symbol::Blank,
                format!("EOT{suffix}{end}"),
            ));
        }
        other => lines.push(Line::new(
            lead(depth),
            symbol,
            format!("{}{suffix}{end}", label.text(&one_line(other))),
        )),
    }
}

/// Renders a change of a value present (and not null) on both sides.
fn changed(lines: &mut Vec<Line>, depth: usize, label: &Label, before: &Value, after: &Value) {
    let end = label.end();
    if is_hidden(before) || is_hidden(after) {
        let text = if is_hidden(before) && is_hidden(after) {
            "(sensitive value)".to_owned()
        } else {
            format!("{} -> {}", one_line(before), one_line(after))
        };
        lines.push(Line::new(
            lead(depth),
            Symbol::Update,
            format!("{}{end}", label.text(&text)),
        ));
        return;
    }
    if matches!(after, Value::Unknown) {
        full(
            lines,
            depth,
            Symbol::Update,
            label,
            before,
            " -> (known after apply)",
        );
        return;
    }
    match (before, after) {
        (Value::Map(old), Value::Map(new)) => {
            lines.push(Line::new(lead(depth), Symbol::Update, label.text("{")));
            map_changes(lines, depth + 1, old, new);
            lines.push(Line::new(lead(depth), Symbol::Blank, format!("}}{end}")));
        }
        (Value::List(old) | Value::Set(old), Value::List(new) | Value::Set(new)) => {
            lines.push(Line::new(lead(depth), Symbol::Update, label.text("[")));
            list_changes(lines, depth + 1, old, new);
            lines.push(Line::new(lead(depth), Symbol::Blank, format!("]{end}")));
        }
        (Value::String(old), Value::String(new)) if old.contains('\n') || new.contains('\n') => {
            lines.push(Line::new(lead(depth), Symbol::Update, label.text("<<-EOT")));
            string_changes(lines, depth + 1, old, new);
            lines.push(Line::new(lead(depth), Symbol::Blank, format!("EOT{end}")));
        }
        _ => lines.push(Line::new(
            lead(depth),
            Symbol::Update,
            format!(
                "{}{end}",
                label.text(&format!("{} -> {}", one_line(before), one_line(after)))
            ),
        )),
    }
}

fn map_changes(
    lines: &mut Vec<Line>,
    depth: usize,
    old: &std::collections::BTreeMap<String, Value>,
    new: &std::collections::BTreeMap<String, Value>,
) {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut rows: Vec<(String, Option<&Value>, Option<&Value>)> = Vec::new();
    let mut hidden = 0usize;
    for key in keys {
        let before = old.get(key).filter(|v| !v.is_null());
        let after = new.get(key).filter(|v| !v.is_null());
        match (before, after) {
            (None, None) => {}
            (Some(b), Some(a)) if same(b, a) => hidden += 1,
            _ => rows.push((key_text(key), before, after)),
        }
    }
    let width = rows
        .iter()
        .map(|(k, _, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (key, before, after) in &rows {
        let label = Label::Key { name: key, width };
        match (before, after) {
            (None, Some(a)) => full(lines, depth, Symbol::Create, &label, a, ""),
            (Some(b), None) => full(lines, depth, Symbol::Delete, &label, b, " -> null"),
            (Some(b), Some(a)) => changed(lines, depth, &label, b, a),
            (None, None) => {}
        }
    }
    hidden_line(lines, depth, hidden, "element");
}

fn hidden_line(lines: &mut Vec<Line>, depth: usize, hidden: usize, noun: &str) {
    if hidden > 0 {
        lines.push(Line::new(
            lead(depth),
            Symbol::Blank,
            format!("# ({hidden} unchanged {noun}{} hidden)", plural(hidden)),
        ));
    }
}

/// Element-wise list diff (longest common subsequence); unchanged elements are counted, not
/// shown. A replaced object element is shown as a nested update.
fn list_changes(lines: &mut Vec<Line>, depth: usize, old: &[Value], new: &[Value]) {
    // Equality classes as integers, so the slice diff needs only `Eq + Hash`. Unknown or
    // stored-hash elements never match anything, not even themselves.
    let mut classes: Vec<&Value> = Vec::new();
    let old_ids = class_ids(&mut classes, old);
    let new_ids = class_ids(&mut classes, new);
    let mut hidden = 0usize;
    for op in capture_diff_slices(Algorithm::Myers, &old_ids, &new_ids) {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => hidden += old_range.len(),
            DiffTag::Delete => {
                for item in &old[old_range] {
                    full(lines, depth, Symbol::Delete, &Label::Element, item, "");
                }
            }
            DiffTag::Insert => {
                for item in &new[new_range] {
                    full(lines, depth, Symbol::Create, &Label::Element, item, "");
                }
            }
            DiffTag::Replace => {
                let paired = old_range.len().min(new_range.len());
                for offset in 0..paired {
                    let (before, after) = (
                        &old[old_range.start + offset],
                        &new[new_range.start + offset],
                    );
                    let nested = matches!(
                        (before, after),
                        (Value::Map(_), Value::Map(_))
                            | (
                                Value::List(_) | Value::Set(_),
                                Value::List(_) | Value::Set(_)
                            )
                    );
                    if nested {
                        changed(lines, depth, &Label::Element, before, after);
                    } else {
                        full(lines, depth, Symbol::Delete, &Label::Element, before, "");
                        full(lines, depth, Symbol::Create, &Label::Element, after, "");
                    }
                }
                for item in &old[old_range.start + paired..old_range.end] {
                    full(lines, depth, Symbol::Delete, &Label::Element, item, "");
                }
                for item in &new[new_range.start + paired..new_range.end] {
                    full(lines, depth, Symbol::Create, &Label::Element, item, "");
                }
            }
        }
    }
    hidden_line(lines, depth, hidden, "element");
}

fn class_ids<'v>(classes: &mut Vec<&'v Value>, items: &'v [Value]) -> Vec<usize> {
    items
        .iter()
        .map(|item| match classes.iter().position(|c| same(c, item)) {
            Some(index) => index,
            None => {
                classes.push(item);
                classes.len() - 1
            }
        })
        .collect()
}

/// A multi-line string as a line diff: changed lines with `-`/`+`, a little unchanged
/// context around them, longer unchanged stretches counted.
fn string_changes(lines: &mut Vec<Line>, depth: usize, old: &str, new: &str) {
    let split = |text: &str| -> Vec<String> {
        text.strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .map(str::to_owned)
            .collect()
    };
    let (old_lines, new_lines) = (split(old), split(new));
    let ops = capture_diff_slices(Algorithm::Myers, &old_lines, &new_lines);
    let groups = group_diff_ops(ops, STRING_CONTEXT_LINES);
    let mut shown_until = 0usize;
    for group in &groups {
        let Some(first) = group.first() else { continue };
        let start = first.old_range().start;
        hidden_line(lines, depth, start - shown_until, "line");
        for op in group {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            match tag {
                DiffTag::Equal => {
                    for text in &old_lines[old_range] {
                        lines.push(Line::new(lead(depth), Symbol::Blank, text.as_str()));
                    }
                }
                DiffTag::Delete | DiffTag::Insert | DiffTag::Replace => {
                    for text in &old_lines[old_range] {
                        lines.push(Line::new(lead(depth), Symbol::Delete, text.as_str()));
                    }
                    for text in &new_lines[new_range] {
                        lines.push(Line::new(lead(depth), Symbol::Create, text.as_str()));
                    }
                }
            }
        }
        shown_until = group.last().map_or(start, |op| op.old_range().end);
    }
    hidden_line(lines, depth, old_lines.len() - shown_until, "line");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::render::tests::{address, change, object, plan_with, sample_plan};
    use crate::plan::{Action, ChangeReason};

    fn human(plan: &Plan) -> String {
        render_human(plan, &HumanOptions::default())
    }

    #[test]
    fn create_update_replace_delete_and_outputs() {
        let text = human(&sample_plan());
        let expected = r#"cutover used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
  + create
  ~ update in place
  - destroy
-/+ destroy and then create replacement

cutover will perform the following actions:

  # cutover_data.config will be updated in place
  ~ resource "cutover_data" "config" {
        id                = "cfg-1"
      ~ server_properties = <<-EOT
            auto.create.topics.enable=false
          - num.io.threads=8
          + num.io.threads=16
            num.network.threads=3
            log.retention.hours=168
            # (2 unchanged lines hidden)
        EOT
      ~ subnets           = [
          - "subnet-a",
          + "subnet-c",
            # (1 unchanged element hidden)
        ]
        # (1 unchanged attribute hidden)
    }

  # cutover_data.new will be created
  + resource "cutover_data" "new" {
      + id    = (known after apply)
      + input = "hello"
      + tags  = {
          + "Cost Center" = "kafka"
          + team          = "data"
        }
      + token = (sensitive value)
    }

  # cutover_data.old["legacy"] will be destroyed
  # (because cutover_data.old["legacy"] is not in configuration)
  - resource "cutover_data" "old" {
      - id    = "old-1" -> null
      - input = 7 -> null
    }

  # cutover_data.swap must be replaced
  # (because triggers_replace cannot be changed in place)
-/+ resource "cutover_data" "swap" {
      ~ id               = "swap-1" -> (known after apply)
      ~ triggers_replace = "a" -> "b" # forces replacement
        # (1 unchanged attribute hidden)
    }

Plan: 2 to add, 1 to change, 2 to destroy.

Changes to Outputs:
  + endpoint = (known after apply)
  ~ password = (sensitive value)
  - removed = "bye" -> null
"#;
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn no_changes_and_refresh_only_and_drift_only() {
        let empty = plan_with(PlanMode::Normal, Vec::new());
        assert_eq!(
            human(&empty),
            "No changes. Your infrastructure matches the configuration.\n\ncutover has compared your real infrastructure against your configuration and found no differences, so no changes are needed.\n"
        );

        let mut drifted = plan_with(PlanMode::RefreshOnly, Vec::new());
        drifted.drift.push(Drift {
            address: address("a", None),
            before: object(&[("id", Value::string("a-1")), ("input", Value::string("x"))]),
            after: Some(object(&[
                ("id", Value::string("a-1")),
                ("input", Value::string("y")),
            ])),
        });
        drifted.drift.push(Drift {
            address: address("b", None),
            before: object(&[("id", Value::string("b-1"))]),
            after: None,
        });
        let expected = r#"Note: Objects have changed outside of cutover

cutover detected the following changes made outside of cutover since the last "cutover apply":

  # cutover_data.a has changed
  ~ resource "cutover_data" "a" {
        id    = "a-1"
      ~ input = "x" -> "y"
    }

  # cutover_data.b has been deleted
  - resource "cutover_data" "b" {
      - id = "b-1" -> null
    }

This is a refresh-only plan, so cutover will not take any actions to undo these. If you were expecting these changes then you can apply this plan to record the updated values in the cutover state without changing any remote objects.

─────────────────────────────────────────────────────────────────────────────
"#;
        assert_eq!(human(&drifted), expected, "\n{}", human(&drifted));

        drifted.mode = PlanMode::Normal;
        let text = human(&drifted);
        assert!(
            text.contains("which may have affected this plan:"),
            "{text}"
        );
        assert!(
            text.ends_with("No changes. Your infrastructure matches the configuration.\n\nYour configuration already matches the changes detected above, so cutover will not undo them: they stay as they are unless the configuration changes. To record them in the cutover state, run \"cutover apply -refresh-only\".\n"),
            "{text}"
        );

        let clean_refresh = plan_with(PlanMode::RefreshOnly, Vec::new());
        assert!(
            human(&clean_refresh)
                .starts_with("No changes. Your infrastructure still matches the configuration.")
        );
    }

    #[test]
    fn destroy_mode_imports_reads_and_targets() {
        let mut destroy = plan_with(
            PlanMode::Destroy,
            vec![change(
                address("a", None),
                Action::Delete,
                Some(object(&[("id", Value::string("a-1"))])),
                None,
                Some(ChangeReason::DestroyRequested),
            )],
        );
        destroy.targets.push("cutover_data.a".to_owned());
        let text = human(&destroy);
        assert!(text.contains("  # cutover_data.a will be destroyed\n  - resource \"cutover_data\" \"a\" {\n      - id = \"a-1\" -> null\n    }\n"), "{text}");
        assert!(text.contains("Plan: 0 to add, 0 to change, 1 to destroy.\n\nWarning: this is a destroy plan. Applying it deletes 1 object listed above; this cannot be undone.\n"), "{text}");
        assert!(text.contains("-target=cutover_data.a"), "{text}");

        let mut imported = change(
            address(
                "adopted",
                Some(crate::config::evaluate::InstanceKey::Int(0)),
            ),
            Action::NoOp,
            Some(object(&[
                ("id", Value::string("i-0abc")),
                ("input", Value::int(1)),
            ])),
            Some(object(&[
                ("id", Value::string("i-0abc")),
                ("input", Value::int(1)),
            ])),
            None,
        );
        imported.importing = Some("i-0abc".to_owned());
        let mut read = change(
            address("lookup", None),
            Action::Read,
            None,
            Some(object(&[
                ("id", Value::Unknown),
                ("filter", Value::string("orders.*")),
            ])),
            None,
        );
        read.address.mode = crate::config::model::Mode::Data;
        let text = human(&plan_with(PlanMode::Normal, vec![imported, read]));
        let expected = r#"cutover used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
 <= read (data resources)

cutover will perform the following actions:

  # cutover_data.adopted[0] will be imported
  # (imported from "i-0abc")
    resource "cutover_data" "adopted" {
        id = "i-0abc"
        # (1 unchanged attribute hidden)
    }

  # data.cutover_data.lookup will be read during apply
  # (config refers to values not yet known)
 <= data "cutover_data" "lookup" {
      + filter = "orders.*"
      + id     = (known after apply)
    }

Plan: 1 to import, 0 to add, 0 to change, 0 to destroy.
"#;
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn nested_values_sensitive_parts_and_colour() {
        let before = object(&[
            (
                "config",
                object(&[
                    ("a", Value::int(1)),
                    ("b", Value::int(2)),
                    ("gone", Value::string("x")),
                ]),
            ),
            (
                "list",
                Value::List(vec![object(&[("k", Value::int(1))]), Value::string("keep")]),
            ),
            (
                "secret",
                Value::sensitive(object(&[(
                    crate::state::sensitive::SENSITIVE_MARKER,
                    Value::string("hmac-sha256:00"),
                )])),
            ),
        ]);
        let after = object(&[
            (
                "config",
                object(&[
                    ("a", Value::int(1)),
                    ("b", Value::int(3)),
                    ("new", Value::sensitive(Value::string("s3cr3t"))),
                ]),
            ),
            (
                "list",
                Value::List(vec![object(&[("k", Value::int(2))]), Value::string("keep")]),
            ),
            ("secret", Value::sensitive(Value::string("s3cr3t"))),
        ]);
        let plan = plan_with(
            PlanMode::Normal,
            vec![change(
                address("n", None),
                Action::Update,
                Some(before),
                Some(after),
                None,
            )],
        );
        let text = human(&plan);
        let expected = r#"  ~ resource "cutover_data" "n" {
      ~ config = {
          ~ b    = 2 -> 3
          - gone = "x" -> null
          + new  = (sensitive value)
            # (1 unchanged element hidden)
        }
      ~ list   = [
          ~ {
              ~ k = 1 -> 2
            },
            # (1 unchanged element hidden)
        ]
      ~ secret = (sensitive value)
    }
"#;
        assert!(text.contains(expected), "\n{text}");
        assert!(!text.contains("s3cr3t") && !text.contains("hmac"));
        let colored = render_human(
            &plan,
            &HumanOptions {
                color: true,
                width: None,
            },
        );
        assert!(colored.contains("\x1b[33m~\x1b[0m resource"), "{colored}");
        assert!(!text.contains('\x1b'));
    }
}
