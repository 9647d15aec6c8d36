//! `cutover show -markdown`: the plan as pull-request comments. Counts first, a warning when
//! anything is destroyed or replaced, a notice when secrets flip, then one collapsed
//! `<details>` per resource holding its human diff in a `diff` fence (so GitHub colours it),
//! drift and output sections. Split into parts under a size limit (GitHub rejects comments
//! over 65,536 characters) without ever cutting a `<details>` block or a fence.

use super::human::{drift_lines, output_lines, resource_block_lines};
use super::{Line, counts_sentence, headline, is_refresh_only, is_shown, sorted_changes};
use crate::plan::{Action, Drift, Plan, PlanMode, ResourceChange};

/// Below GitHub's 65,536-character comment limit, with room to spare.
pub const DEFAULT_MAX_PART_CHARS: usize = 65_000;

/// Addresses listed by name in a banner before the rest is only counted.
const BANNER_LIST_LIMIT: usize = 30;

/// Longest title repeated at the top of later parts.
const CONTINUATION_TITLE_LIMIT: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkdownOptions {
    /// The heading, e.g. `cutover plan for examples/local`; none when empty.
    pub title: String,
    /// Every part is shorter than this, counted in bytes of UTF-8 (never fewer than
    /// characters, so the limit holds for either count).
    pub max_part_chars: usize,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            title: String::new(),
            max_part_chars: DEFAULT_MAX_PART_CHARS,
        }
    }
}

/// Renders the plan as one or more markdown comments, each under `max_part_chars`.
pub fn render_markdown(plan: &Plan, options: &MarkdownOptions) -> Vec<String> {
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
    let mut drift: Vec<&Drift> = plan.drift.iter().collect();
    drift.sort_by(|a, b| a.address.cmp(&b.address));

    let mut blocks: Vec<Block> = vec![Block::Text(head(plan, &shown, !outputs.is_empty()))];
    if !drift.is_empty() {
        let intro = if refresh_only {
            "Applying this refresh-only plan records these changes in the cutover state; it changes no remote object."
        } else if shown.is_empty() {
            "The configuration already matches these changes: cutover will not undo them unless the configuration changes."
        } else {
            "Unless the configuration was changed to match, the changes below may undo or respond to these."
        };
        blocks.push(Block::Text(format!(
            "#### Changed outside cutover\n\n{intro}"
        )));
        for item in drift {
            let headline = if item.after.is_some() {
                "has changed"
            } else {
                "has been deleted"
            };
            let lines = drift_lines(item);
            blocks.push(Block::Details {
                summary: format!("{} {headline}", code_html(&item.address.to_string())),
                // The first line is the `# address has changed` headline, shown as the summary.
                lines: diff_lines(&lines[1..]),
            });
        }
        if !shown.is_empty() {
            blocks.push(Block::Text("#### Resource changes".to_owned()));
        }
    }
    for change in &shown {
        blocks.push(Block::Details {
            summary: format!(
                "{} {}",
                code_html(&change.address.to_string()),
                headline(change)
            ),
            lines: diff_lines(&resource_block_lines(change)),
        });
    }
    if let Some(economics) = plan.economics.as_ref().filter(|_| !refresh_only) {
        blocks.push(Block::Text(crate::plan::cost::markdown(economics)));
    }
    if !outputs.is_empty() {
        let count = outputs.iter().filter(|line| line.lead == 2).count();
        blocks.push(Block::Details {
            summary: format!("Changes to outputs ({count})"),
            lines: diff_lines(&outputs),
        });
    }
    split_parts(&blocks, options)
}

/// Title, counts line, banners.
fn head(plan: &Plan, shown: &[&ResourceChange], outputs_changed: bool) -> String {
    let mut text = String::new();
    let counts = plan.counts();
    let refresh_only = is_refresh_only(plan);
    let status = if refresh_only && !plan.drift.is_empty() {
        format!(
            "**Refresh-only plan:** {} object{} changed outside cutover. Applying it records the updated values in the cutover state without changing any remote object.",
            plan.drift.len(),
            plural(plan.drift.len())
        )
    } else if refresh_only && !outputs_changed {
        "**No changes.** Your infrastructure still matches the configuration.".to_owned()
    } else if !shown.is_empty() || outputs_changed {
        format!("**Plan:** {}", counts_sentence(&counts))
    } else if plan.mode == PlanMode::Destroy {
        "**No changes.** No objects need to be destroyed.".to_owned()
    } else if !plan.drift.is_empty() {
        "**No changes.** Your configuration already matches the changes made outside cutover (below); cutover will not undo them unless the configuration changes.".to_owned()
    } else {
        "**No changes.** Your infrastructure matches the configuration.".to_owned()
    };
    text.push_str(&status);

    let destroyed: Vec<&ResourceChange> = shown
        .iter()
        .copied()
        .filter(|c| c.action.destroys())
        .collect();
    if !destroyed.is_empty() {
        let mut banner = vec![
            "[!WARNING]".to_owned(),
            if plan.mode == PlanMode::Destroy {
                format!(
                    "**This is a destroy plan: it deletes {} object{}:**",
                    destroyed.len(),
                    plural(destroyed.len())
                )
            } else {
                format!(
                    "**This plan destroys {} object{}:**",
                    destroyed.len(),
                    plural(destroyed.len())
                )
            },
        ];
        banner.extend(limited_list(&destroyed, |change| match change.action {
            Action::DeleteThenCreate => " (replaced: destroyed, then created again)",
            Action::CreateThenDelete => " (replaced: the new object is created first)",
            _ => "",
        }));
        text.push_str("\n\n");
        text.push_str(&quote_block(&banner));
    }

    let secrets: Vec<&ResourceChange> = shown
        .iter()
        .copied()
        .filter(|c| {
            c.address
                .type_name
                .contains("secretsmanager_secret_version")
        })
        .filter(|c| !matches!(c.action, Action::NoOp | Action::Read))
        .collect();
    if !secrets.is_empty() {
        let mut banner = vec![
            "[!IMPORTANT]".to_owned(),
            format!(
                "**This plan flips {} secret{}** (values are never shown; `cutover rollback ADDRESS` moves a secret back to its previous version):",
                secrets.len(),
                plural(secrets.len())
            ),
        ];
        banner.extend(limited_list(&secrets, |_| ""));
        text.push_str("\n\n");
        text.push_str(&quote_block(&banner));
    }

    if !plan.targets.is_empty() {
        let banner = vec![
            "[!NOTE]".to_owned(),
            format!(
                "Resource targeting is in effect ({}): this plan may not include every change the configuration asks for.",
                plan.targets
                    .iter()
                    .map(|t| code_span(&format!("-target={t}")))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ];
        text.push_str("\n\n");
        text.push_str(&quote_block(&banner));
    }
    text
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// `- `address` (note)` lines, at most [`BANNER_LIST_LIMIT`], then `- … and N more`.
fn limited_list(
    changes: &[&ResourceChange],
    note: impl Fn(&ResourceChange) -> &'static str,
) -> Vec<String> {
    let mut lines: Vec<String> = changes
        .iter()
        .take(BANNER_LIST_LIMIT)
        .map(|change| {
            format!(
                "- {}{}",
                code_span(&change.address.to_string()),
                note(change)
            )
        })
        .collect();
    if changes.len() > BANNER_LIST_LIMIT {
        lines.push(format!(
            "- … and {} more",
            changes.len() - BANNER_LIST_LIMIT
        ));
    }
    lines
}

fn quote_block(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| format!("> {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A markdown code span that survives backticks in the text.
fn code_span(text: &str) -> String {
    let longest = longest_backtick_run(text);
    let fence = "`".repeat(longest + 1);
    if longest > 0 {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// `<code>…</code>` with the text HTML-escaped (instance keys may hold any character).
fn code_html(text: &str) -> String {
    format!("<code>{}</code>", escape_html(text))
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
    out
}

fn longest_backtick_run(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// Human lines in diff syntax, with the indentation the symbol lines share reduced to one
/// space; lines without a symbol (`# (because …)`) start where the block's header text does.
fn diff_lines(lines: &[Line]) -> Vec<String> {
    let leading_spaces = |text: &str| text.len() - text.trim_start_matches(' ').len();
    let rendered: Vec<(bool, String)> = lines
        .iter()
        .map(|line| (line.symbol.is_some(), line.render_diff()))
        .collect();
    let common = rendered
        .iter()
        .filter(|(symbol, line)| *symbol && !line[1..].trim().is_empty())
        .map(|(_, line)| leading_spaces(&line[1..]))
        .min()
        .unwrap_or(0);
    rendered
        .into_iter()
        .zip(lines)
        .map(|((symbol, rendered), line)| {
            if !symbol {
                return format!("  {}", line.text);
            }
            let mut chars = rendered.chars();
            let marker = chars.next().unwrap_or(' ');
            let rest = chars.as_str();
            // Keep one space between the marker and the text.
            let strip = common.saturating_sub(1).min(leading_spaces(rest));
            format!("{marker}{}", &rest[strip..])
        })
        .collect()
}

/// A unit the splitter never cuts.
enum Block {
    Text(String),
    Details { summary: String, lines: Vec<String> },
}

impl Block {
    /// The block in full, or (for `<details>`) cut inside its fence to fit `limit` bytes;
    /// true when cut.
    fn render(&self, limit: usize) -> (String, bool) {
        match self {
            Block::Text(text) => (text.clone(), false),
            Block::Details { summary, lines } => {
                let fence_width = lines
                    .iter()
                    .map(|line| longest_backtick_run(line))
                    .max()
                    .unwrap_or(0)
                    .max(2)
                    + 1;
                let fence = "`".repeat(fence_width);
                let open = format!("<details><summary>{summary}</summary>\n\n{fence}diff\n");
                let close = format!("{fence}\n\n</details>");
                let total: usize = lines.iter().map(|line| line.len() + 1).sum();
                if open.len() + total + close.len() <= limit {
                    return (format!("{open}{}\n{close}", lines.join("\n")), false);
                }
                let mut body = String::new();
                for (kept, line) in lines.iter().enumerate() {
                    let note = truncation_note(lines.len() - kept);
                    if open.len() + body.len() + line.len() + 1 + note.len() + 1 + close.len()
                        > limit
                    {
                        return (format!("{open}{body}{note}\n{close}"), true);
                    }
                    body.push_str(line);
                    body.push('\n');
                }
                (format!("{open}{body}{close}"), false)
            }
        }
    }
}

fn truncation_note(lines: usize) -> String {
    format!(
        "… {lines} line{} truncated; see the full plan with cutover show",
        plural(lines)
    )
}

/// Packs blocks into parts under the limit; later parts open with `(part K of N)` and every
/// part but the last ends saying where it continues.
fn split_parts(blocks: &[Block], options: &MarkdownOptions) -> Vec<String> {
    let title: String = options
        .title
        .chars()
        .take(CONTINUATION_TITLE_LIMIT)
        .collect();
    let worst = 9_999_999usize;
    let reserve = continuation_prefix(worst, worst, &title).len()
        + continuation_suffix(worst, worst).len()
        + heading(&options.title).len();
    // Strictly below the limit; at least something per part even with an absurd limit.
    let budget = options.max_part_chars.saturating_sub(reserve + 1).max(1);

    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    for block in blocks {
        let (text, truncated) = block.render(budget);
        let separator = if current.is_empty() { "" } else { "\n\n" };
        let room = budget.saturating_sub(current.len() + separator.len());
        if text.len() <= room {
            current.push_str(separator);
            current.push_str(&text);
        } else if truncated && room >= budget / 4 {
            // Cut anyway: cut it to the room left rather than leave a part nearly empty.
            current.push_str(separator);
            current.push_str(&block.render(room).0);
        } else {
            if !current.is_empty() {
                parts.push(std::mem::take(&mut current));
            }
            current = text;
        }
    }
    parts.push(current);

    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(index, body)| {
            let number = index + 1;
            let mut part = if number == 1 {
                heading(&options.title)
            } else {
                continuation_prefix(number, count, &title)
            };
            part.push_str(&body);
            if number < count {
                part.push_str(&continuation_suffix(number + 1, count));
            }
            part.push('\n');
            part
        })
        .collect()
}

fn heading(title: &str) -> String {
    if title.is_empty() {
        String::new()
    } else {
        format!("### {}\n\n", escape_html(title))
    }
}

fn continuation_prefix(number: usize, count: usize, title: &str) -> String {
    if title.is_empty() {
        format!("(part {number} of {count})\n\n")
    } else {
        format!("(part {number} of {count}) {}\n\n", escape_html(title))
    }
}

fn continuation_suffix(next: usize, count: usize) -> String {
    format!("\n\n_(continued in part {next} of {count})_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::evaluate::InstanceKey;
    use crate::config::value::Value;
    use crate::plan::ChangeReason;
    use crate::plan::render::tests::{address, change, object, plan_with, sample_plan};

    fn balanced(part: &str) -> bool {
        let opened = part.matches("<details>").count();
        let closed = part.matches("</details>").count();
        let fences = part.lines().filter(|line| line.starts_with("```")).count();
        opened == closed && fences % 2 == 0
    }

    #[test]
    fn sample_plan_as_one_comment() {
        let parts = render_markdown(
            &sample_plan(),
            &MarkdownOptions {
                title: "cutover plan for examples/local".to_owned(),
                ..MarkdownOptions::default()
            },
        );
        assert_eq!(parts.len(), 1);
        let text = &parts[0];
        let expected_head = r#"### cutover plan for examples/local

**Plan:** 2 to add, 1 to change, 2 to destroy

> [!WARNING]
> **This plan destroys 2 objects:**
> - `cutover_data.old["legacy"]`
> - `cutover_data.swap` (replaced: destroyed, then created again)

<details><summary><code>cutover_data.config</code> will be updated in place</summary>

```diff
! resource "cutover_data" "config" {
      id                = "cfg-1"
!     server_properties = <<-EOT
          auto.create.topics.enable=false
-         num.io.threads=8
+         num.io.threads=16
          num.network.threads=3
          log.retention.hours=168
          # (2 unchanged lines hidden)
      EOT
"#;
        assert!(text.starts_with(expected_head), "\n{text}");
        assert!(text.contains("<details><summary><code>cutover_data.old[&quot;legacy&quot;]</code> will be destroyed</summary>\n\n```diff\n  # (because cutover_data.old[\"legacy\"] is not in configuration)\n- resource \"cutover_data\" \"old\" {\n-     id    = \"old-1\" -> null\n-     input = 7 -> null\n  }\n```\n\n</details>\n"), "\n{text}");
        assert!(text.contains("<details><summary>Changes to outputs (3)</summary>\n\n```diff\n+ endpoint = (known after apply)\n! password = (sensitive value)\n- removed = \"bye\" -> null\n```\n\n</details>\n"), "\n{text}");
        assert!(balanced(text));
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn secret_flips_no_changes_and_refresh_only() {
        let mut secret = change(
            address("producers", None),
            Action::Update,
            Some(object(&[(
                "secret_string",
                Value::sensitive(Value::string("a")),
            )])),
            Some(object(&[(
                "secret_string",
                Value::sensitive(Value::string("b")),
            )])),
            None,
        );
        secret.address.type_name = "aws_secretsmanager_secret_version".to_owned();
        let text = render_markdown(
            &plan_with(PlanMode::Normal, vec![secret]),
            &MarkdownOptions::default(),
        )
        .join("");
        assert!(text.starts_with("**Plan:** 0 to add, 1 to change, 0 to destroy\n\n> [!IMPORTANT]\n> **This plan flips 1 secret**"), "{text}");
        assert!(
            text.contains("> - `aws_secretsmanager_secret_version.producers`"),
            "{text}"
        );
        assert!(!text.contains("[!WARNING]"));

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
        destroy.changes.push(change(
            address("b", None),
            Action::CreateThenDelete,
            Some(object(&[("id", Value::string("b-1"))])),
            Some(object(&[("id", Value::Unknown)])),
            None,
        ));
        let text = render_markdown(&destroy, &MarkdownOptions::default()).concat();
        assert!(
            text.starts_with("**Plan:** 1 to add, 0 to change, 2 to destroy\n\n> [!WARNING]\n> **This is a destroy plan: it deletes 2 objects:**\n> - `cutover_data.a`\n> - `cutover_data.b` (replaced: the new object is created first)\n\n"),
            "{text}"
        );

        let empty = render_markdown(
            &plan_with(PlanMode::Normal, Vec::new()),
            &MarkdownOptions::default(),
        );
        assert_eq!(
            empty,
            vec!["**No changes.** Your infrastructure matches the configuration.\n".to_owned()]
        );

        let mut refresh = plan_with(PlanMode::RefreshOnly, Vec::new());
        refresh.drift.push(Drift {
            address: address("a", None),
            before: object(&[("input", Value::int(1))]),
            after: None,
        });
        let text = render_markdown(&refresh, &MarkdownOptions::default()).join("");
        assert!(
            text.starts_with("**Refresh-only plan:** 1 object changed outside cutover."),
            "{text}"
        );
        assert!(text.contains("<details><summary><code>cutover_data.a</code> has been deleted</summary>\n\n```diff\n- resource \"cutover_data\" \"a\" {\n-     input = 1 -> null\n  }\n```"), "{text}");
    }

    #[test]
    fn two_thousand_resources_split_into_balanced_parts() {
        let changes: Vec<ResourceChange> = (0..2000)
            .map(|index| {
                let properties: String = (0..12)
                    .map(|line| format!("setting.{line}={index}\n"))
                    .collect();
                change(
                    address(
                        "fleet",
                        Some(InstanceKey::String(format!("broker-{index:04}"))),
                    ),
                    if index % 10 == 0 {
                        Action::Delete
                    } else {
                        Action::Create
                    },
                    (index % 10 == 0)
                        .then(|| object(&[("id", Value::string(format!("i-{index}")))])),
                    (index % 10 != 0).then(|| {
                        object(&[
                            ("id", Value::Unknown),
                            ("properties", Value::string(properties)),
                            (
                                "tags",
                                object(&[("Name", Value::string(format!("broker {index}")))]),
                            ),
                        ])
                    }),
                    (index % 10 == 0).then_some(ChangeReason::NotInConfiguration),
                )
            })
            .collect();
        let plan = plan_with(PlanMode::Normal, changes);
        let options = MarkdownOptions {
            title: "cutover plan for examples/local".to_owned(),
            ..MarkdownOptions::default()
        };
        let parts = render_markdown(&plan, &options);
        assert!(
            parts.len() > 1,
            "expected several parts, got {}",
            parts.len()
        );
        let count = parts.len();
        for (index, part) in parts.iter().enumerate() {
            assert!(
                part.len() < DEFAULT_MAX_PART_CHARS,
                "part {} has {} bytes",
                index + 1,
                part.len()
            );
            assert!(balanced(part), "part {} is unbalanced", index + 1);
            if index > 0 {
                assert!(
                    part.starts_with(&format!(
                        "(part {} of {count}) cutover plan for examples/local\n\n",
                        index + 1
                    )),
                    "{}",
                    &part[..80]
                );
            }
            if index + 1 < count {
                assert!(
                    part.ends_with(&format!("_(continued in part {} of {count})_\n", index + 2))
                );
            }
        }
        assert!(parts[0].starts_with("### cutover plan for examples/local\n\n**Plan:** 1800 to add, 0 to change, 200 to destroy"));
        assert!(parts[0].contains("> - … and 170 more"));
        let all = parts.concat();
        for index in 0..2000 {
            let summary = format!("<code>cutover_data.fleet[&quot;broker-{index:04}&quot;]</code>");
            assert_eq!(all.matches(&summary).count(), 1, "{summary}");
        }
        assert!(!all.contains("truncated"));
    }

    #[test]
    fn an_oversized_resource_is_truncated_inside_its_fence() {
        let huge: String = (0..20_000)
            .map(|line| format!("line {line} of a very large file\n"))
            .collect();
        let plan = plan_with(
            PlanMode::Normal,
            vec![
                change(
                    address("small", None),
                    Action::Create,
                    None,
                    Some(object(&[("input", Value::int(1))])),
                    None,
                ),
                change(
                    address("huge", None),
                    Action::Create,
                    None,
                    Some(object(&[("content", Value::string(huge))])),
                    None,
                ),
            ],
        );
        let parts = render_markdown(&plan, &MarkdownOptions::default());
        assert_eq!(
            parts.len(),
            2,
            "{:?}",
            parts.iter().map(String::len).collect::<Vec<_>>()
        );
        for part in &parts {
            assert!(part.len() < DEFAULT_MAX_PART_CHARS);
            assert!(balanced(part));
        }
        let huge_part = &parts[0];
        let note_line = huge_part
            .lines()
            .find(|line| line.starts_with("… "))
            .expect("truncation note");
        assert!(
            note_line.ends_with("lines truncated; see the full plan with cutover show"),
            "{note_line}"
        );
        // The note sits inside the fence: a fence line follows it.
        let after_note = huge_part.split(note_line).nth(1).unwrap();
        assert!(after_note.starts_with("\n```\n\n</details>"));
        assert!(
            parts[1]
                .starts_with("(part 2 of 2)\n\n<details><summary><code>cutover_data.small</code>")
        );
    }
}
