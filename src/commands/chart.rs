//! The lag-over-time chart of `cutover show -markdown -chart FILE`: the `samples` that `lag`
//! checks store in their evidence (one series per assertion) against time, with a dashed
//! marker where each apply of the timeline finished, labelled with its phase. Hand-written SVG
//! text, the same bytes for the same state: GitHub strips inline SVG and `data:` URIs from
//! comments, so the chart is a file the pull-request workflow uploads or commits.

use std::fmt::Write as _;

use crate::state::State;
use crate::state::document::{ApplyOutcome, format_unix_millis};

/// The samples of one assertion's `lag` check: `(unix_millis, total_records_behind)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(i64, i64)>,
}

/// A vertical line where an apply finished.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at_millis: i64,
    pub label: String,
}

/// One series per assertion with lag samples, in address order.
pub fn lag_series(state: &State) -> Vec<Series> {
    state
        .assertions
        .iter()
        .filter_map(|(address, evidence)| {
            let samples = evidence
                .get("checks")?
                .get(crate::verify::lag::NAME)?
                .get("samples")?
                .as_array()?;
            let points: Vec<(i64, i64)> = samples
                .iter()
                .filter_map(|sample| {
                    let pair = sample.as_array()?;
                    Some((pair.first()?.as_i64()?, pair.get(1)?.as_i64()?))
                })
                .collect();
            (!points.is_empty()).then(|| Series {
                name: address.clone(),
                points,
            })
        })
        .collect()
}

/// One marker per timeline record: its phase label (or operation), and the outcome when the
/// run did not complete.
pub fn phase_markers(state: &State) -> Vec<Marker> {
    state
        .history
        .iter()
        .filter_map(|record| {
            let mut label = record.display_label().to_owned();
            if record.outcome != ApplyOutcome::Complete {
                label = format!("{label} ({})", record.outcome.as_str());
            }
            Some(Marker {
                at_millis: record.finished_unix_millis()?,
                label,
            })
        })
        .collect()
}

const WIDTH: f64 = 800.0;
const PLOT_LEFT: f64 = 80.0;
const PLOT_RIGHT: f64 = 776.0;
const PLOT_TOP: f64 = 44.0;
const PLOT_BOTTOM: f64 = 284.0;
/// Below the plot: tick labels, the time caption, then the legend rows.
const LEGEND_TOP: f64 = PLOT_BOTTOM + 62.0;
const LEGEND_ROW: f64 = 20.0;
/// A rough width of one character at font-size 12, to lay the legend out.
const CHARACTER_WIDTH: f64 = 7.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
const MARKER_COLOUR: &str = "#666666";

/// The chart, or `None` when there is nothing to draw (no samples and no markers).
pub fn render_svg(series: &[Series], markers: &[Marker]) -> Option<String> {
    let times = series
        .iter()
        .flat_map(|series| series.points.iter().map(|(at, _)| *at))
        .chain(markers.iter().map(|marker| marker.at_millis));
    let (mut start, mut end) = times.fold(None, |range: Option<(i64, i64)>, at| {
        Some(range.map_or((at, at), |(low, high)| (low.min(at), high.max(at))))
    })?;
    if start == end {
        start -= 30_000;
        end += 30_000;
    }
    let highest = series
        .iter()
        .flat_map(|series| series.points.iter().map(|(_, records)| *records))
        .max()
        .unwrap_or(0)
        .max(0);
    let y_step = nice_step(highest);
    let steps = highest / y_step + i64::from(highest % y_step != 0);
    let y_max = steps.max(1).saturating_mul(y_step);
    let x =
        |at: i64| PLOT_LEFT + (at - start) as f64 / (end - start) as f64 * (PLOT_RIGHT - PLOT_LEFT);
    let y = |records: i64| {
        PLOT_BOTTOM - records.max(0) as f64 / y_max as f64 * (PLOT_BOTTOM - PLOT_TOP)
    };

    let legend = legend_layout(series);
    let legend_rows = legend.last().map_or(0, |(_, _, row)| row + 1);
    let height = LEGEND_TOP + legend_rows as f64 * LEGEND_ROW + 8.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{PLOT_LEFT}" y="22" font-size="14" font-weight="bold">Records behind over time</text>"#
    );

    // Axes, horizontal grid lines and their labels.
    let mut tick = Some(0);
    while let Some(records) = tick.filter(|records| *records <= y_max) {
        let at = y(records);
        let _ = writeln!(
            svg,
            r##"<line x1="{PLOT_LEFT}" y1="{at:.1}" x2="{PLOT_RIGHT}" y2="{at:.1}" stroke="#e5e5e5"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            PLOT_LEFT - 6.0,
            at + 4.0,
            group_thousands(records)
        );
        tick = records.checked_add(y_step);
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{PLOT_LEFT}" y1="{PLOT_TOP}" x2="{PLOT_LEFT}" y2="{PLOT_BOTTOM}" stroke="#333333"/>"##
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{PLOT_LEFT}" y1="{PLOT_BOTTOM}" x2="{PLOT_RIGHT}" y2="{PLOT_BOTTOM}" stroke="#333333"/>"##
    );
    for (at, label) in time_ticks(start, end) {
        let position = x(at);
        let _ = writeln!(
            svg,
            r##"<line x1="{position:.1}" y1="{PLOT_BOTTOM}" x2="{position:.1}" y2="{:.1}" stroke="#333333"/>"##,
            PLOT_BOTTOM + 5.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{position:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            PLOT_BOTTOM + 19.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time (UTC), {} to {}</text>"#,
        (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        PLOT_BOTTOM + 38.0,
        format_unix_millis(start),
        format_unix_millis(end)
    );
    if series.is_empty() {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#666666">no lag samples recorded</text>"##,
            (PLOT_LEFT + PLOT_RIGHT) / 2.0,
            (PLOT_TOP + PLOT_BOTTOM) / 2.0
        );
    }

    // Markers first, so the lines are drawn over them. Labels are staggered over three rows
    // so that applies close together stay readable.
    for (number, marker) in markers.iter().enumerate() {
        let position = x(marker.at_millis);
        let label_y = PLOT_TOP + 12.0 + (number % 3) as f64 * 14.0;
        let (label_x, anchor) = if position > PLOT_RIGHT - 120.0 {
            (position - 4.0, "end")
        } else {
            (position + 4.0, "start")
        };
        let label = xml_escape(&marker.label);
        let _ = writeln!(
            svg,
            r#"<g><title>{label} finished {}</title><line x1="{position:.1}" y1="{PLOT_TOP}" x2="{position:.1}" y2="{PLOT_BOTTOM}" stroke="{MARKER_COLOUR}" stroke-dasharray="4 3"/><text x="{label_x:.1}" y="{label_y:.1}" text-anchor="{anchor}" fill="{MARKER_COLOUR}">{label}</text></g>"#,
            format_unix_millis(marker.at_millis)
        );
    }
    for (number, series) in series.iter().enumerate() {
        let colour = COLOURS[number % COLOURS.len()];
        let points: Vec<String> = series
            .points
            .iter()
            .map(|(at, records)| format!("{:.1},{:.1}", x(*at), y(*records)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        // A polyline of one point draws nothing.
        if let [(at, records)] = series.points.as_slice() {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                x(*at),
                y(*records)
            );
        }
    }
    for (number, (series, left, row)) in legend.iter().enumerate() {
        let colour = COLOURS[number % COLOURS.len()];
        let top = LEGEND_TOP + *row as f64 * LEGEND_ROW;
        let _ = writeln!(
            svg,
            r#"<line x1="{left:.1}" y1="{top:.1}" x2="{:.1}" y2="{top:.1}" stroke="{colour}" stroke-width="3"/>"#,
            left + 20.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            left + 26.0,
            top + 4.0,
            xml_escape(&series.name)
        );
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

/// Where each legend entry goes: (series, left edge, row), wrapping at the plot's width.
fn legend_layout(series: &[Series]) -> Vec<(&Series, f64, usize)> {
    let mut placed = Vec::new();
    let (mut left, mut row) = (PLOT_LEFT, 0);
    for series in series {
        let width = 26.0 + series.name.chars().count() as f64 * CHARACTER_WIDTH + 18.0;
        if left > PLOT_LEFT && left + width > PLOT_RIGHT {
            left = PLOT_LEFT;
            row += 1;
        }
        placed.push((series, left, row));
        left += width;
    }
    placed
}

/// The y-axis step: 1, 2 or 5 times a power of ten, so that at most about five ticks cover
/// `highest`.
fn nice_step(highest: i64) -> i64 {
    let mut magnitude: i64 = 1;
    loop {
        for multiple in [1, 2, 5] {
            let step = magnitude.saturating_mul(multiple);
            if step.saturating_mul(4) >= highest {
                return step;
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// Ticks on round UTC times, at most about six, with labels as precise as their step needs.
fn time_ticks(start: i64, end: i64) -> Vec<(i64, String)> {
    const SECOND: i64 = 1000;
    const MINUTE: i64 = 60 * SECOND;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const STEPS: [i64; 21] = [
        SECOND,
        2 * SECOND,
        5 * SECOND,
        10 * SECOND,
        15 * SECOND,
        30 * SECOND,
        MINUTE,
        2 * MINUTE,
        5 * MINUTE,
        10 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        HOUR,
        2 * HOUR,
        3 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        2 * DAY,
        7 * DAY,
        30 * DAY,
    ];
    let span = end - start;
    let step = STEPS
        .iter()
        .copied()
        .find(|step| span / step <= 6)
        .unwrap_or(span / 6 + 1);
    let label = |at: i64| {
        let text = format_unix_millis(at); // 2025-06-01T10:03:20Z
        if step >= DAY {
            text[5..10].to_owned()
        } else if span >= DAY {
            format!("{} {}", &text[5..10], &text[11..16])
        } else if step < MINUTE {
            text[11..19].to_owned()
        } else {
            text[11..16].to_owned()
        }
    };
    let mut ticks = Vec::new();
    let mut at = start.div_euclid(step) * step;
    if at < start {
        at += step;
    }
    while at <= end {
        ticks.push((at, label(at)));
        at += step;
    }
    ticks
}

/// `1234567` as `1,234,567`.
fn group_thousands(number: i64) -> String {
    let digits = number.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if number < 0 {
        grouped.insert(0, '-');
    }
    grouped
}

fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // Not allowed in XML 1.0 at all.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => escaped.push(' '),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Without a chart file: per assertion, how many samples, over which time, and the least, most
/// and last records behind. `None` without samples.
pub fn samples_markdown(series: &[Series]) -> Option<String> {
    if series.is_empty() {
        return None;
    }
    let mut out = String::from(
        "### Records behind\n\n| Assertion | Samples | From | To | Min | Max | Last |\n|---|---:|---|---|---:|---:|---:|\n",
    );
    for series in series {
        let records = series.points.iter().map(|(_, records)| *records);
        let (first, last) = (series.points.first(), series.points.last());
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            series.name,
            series.points.len(),
            first.map_or_else(String::new, |(at, _)| format_unix_millis(*at)),
            last.map_or_else(String::new, |(at, _)| format_unix_millis(*at)),
            records
                .clone()
                .min()
                .map_or_else(String::new, group_thousands),
            records.max().map_or_else(String::new, group_thousands),
            last.map_or_else(String::new, |(_, records)| group_thousands(*records)),
        );
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::document::{ApplyOperation, ApplyRecord};

    const T0: i64 = 1_748_772_000_000; // 2025-06-01T10:00:00Z

    fn series(name: &str, points: &[(i64, i64)]) -> Series {
        Series {
            name: name.to_owned(),
            points: points.to_vec(),
        }
    }

    /// Every element is closed, in order: a tag-balance check standing in for an XML parser.
    fn assert_well_formed(svg: &str) {
        let mut open: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("unclosed tag") + start;
            let tag = &rest[start + 1..end];
            let name = tag
                .trim_start_matches('/')
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap();
            if tag.starts_with('/') {
                assert_eq!(open.pop(), Some(name), "mismatched </{name}>");
            } else if !tag.ends_with('/') {
                open.push(name);
            }
            assert!(!tag.contains('&') || tag.contains("&amp;") || tag.contains("&lt;"));
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed: {open:?}");
    }

    #[test]
    fn the_chart_has_a_line_per_series_and_a_marker_per_apply() {
        let lines = [
            series(
                "assert.caught_up",
                &[(T0, 1200), (T0 + 60_000, 300), (T0 + 120_000, 0)],
            ),
            series("assert.consumers_caught_up", &[(T0 + 30_000, 50)]),
        ];
        let markers = [
            Marker {
                at_millis: T0 + 90_000,
                label: "mirror".to_owned(),
            },
            Marker {
                at_millis: T0 + 150_000,
                label: "cut <over> & \"flip\"".to_owned(),
            },
        ];
        let svg = render_svg(&lines, &markers).unwrap();
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>\n"));
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("stroke-dasharray").count(), 2);
        assert!(svg.contains(">mirror</text>"));
        assert!(svg.contains("cut &lt;over&gt; &amp; &quot;flip&quot;"));
        assert!(!svg.contains("<over>"));
        // Legend, y ticks (1,200 rounds up to 1,500 in steps of 500), x ticks in minutes.
        assert!(svg.contains(">assert.consumers_caught_up</text>"));
        assert!(svg.contains(">1,500</text>") && svg.contains(">0</text>"));
        assert!(svg.contains(">10:01:00</text>"), "{svg}");
        assert!(svg.contains("2025-06-01T10:00:00Z to 2025-06-01T10:02:30Z"));
        // The single-point series gets a dot; deterministic output.
        assert_eq!(svg.matches("<circle").count(), 1);
        assert_eq!(render_svg(&lines, &markers).unwrap(), svg);
    }

    #[test]
    fn nothing_to_draw_gives_no_chart_and_markers_alone_give_an_empty_plot() {
        assert_eq!(render_svg(&[], &[]), None);
        assert_eq!(samples_markdown(&[]), None);
        let svg = render_svg(
            &[],
            &[Marker {
                at_millis: T0,
                label: "mirror".to_owned(),
            }],
        )
        .unwrap();
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<polyline").count(), 0);
        assert!(svg.contains("no lag samples recorded"));
        assert!(svg.contains(">mirror</text>"));
    }

    #[test]
    fn series_and_markers_come_from_the_state() {
        let mut state = State::with_lineage("l");
        state.assertions.insert(
            "assert.caught_up".to_owned(),
            serde_json::json!({"checks": {"lag": {"samples": [[T0, 5], [T0 + 1000, 0]]}}}),
        );
        state.assertions.insert(
            "assert.no_divergence".to_owned(),
            serde_json::json!({"checks": {"zero_divergence": {"holds": true}}}),
        );
        for (label, outcome) in [
            (Some("mirror"), ApplyOutcome::AssertionFailed),
            (None, ApplyOutcome::Complete),
        ] {
            state.record_apply(ApplyRecord {
                started_at: "2025-06-01T10:00:00Z".to_owned(),
                finished_at: "2025-06-01T10:05:00Z".to_owned(),
                operation: ApplyOperation::Destroy,
                outcome,
                added: 0,
                changed: 0,
                destroyed: 1,
                assertions: Vec::new(),
                label: label.map(str::to_owned),
                extra: Default::default(),
            });
        }
        assert_eq!(
            lag_series(&state),
            vec![series("assert.caught_up", &[(T0, 5), (T0 + 1000, 0)])]
        );
        let labels: Vec<String> = phase_markers(&state)
            .into_iter()
            .map(|marker| format!("{} {}", marker.at_millis, marker.label))
            .collect();
        assert_eq!(
            labels,
            [
                format!("{} mirror (assertion failed)", T0 + 300_000),
                format!("{} destroy", T0 + 300_000),
            ]
        );
        let table = samples_markdown(&lag_series(&state)).unwrap();
        assert!(
            table.contains(
                "| `assert.caught_up` | 2 | 2025-06-01T10:00:00Z | 2025-06-01T10:00:01Z | 0 | 5 | 0 |"
            ),
            "{table}"
        );
    }

    #[test]
    fn axes_use_round_steps() {
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(4), 1);
        assert_eq!(nice_step(7), 2);
        assert_eq!(nice_step(1200), 500);
        assert_eq!(nice_step(i64::MAX), 5_000_000_000_000_000_000);
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(-1000), "-1,000");
        let ticks = time_ticks(T0 - 1, T0 + 3 * 86_400_000);
        assert_eq!(ticks[0], (T0 + 2 * 3_600_000, "06-01 12:00".to_owned()));
        assert_eq!(ticks.len(), 6);
        let ticks = time_ticks(T0 + 1, T0 + 4 * 86_400_000);
        assert_eq!(ticks[0].1, "06-02");
        let labels: Vec<String> = time_ticks(T0 - 5 * 60_000, T0 + 20 * 60_000)
            .into_iter()
            .map(|(_, label)| label)
            .collect();
        assert_eq!(
            labels,
            ["09:55", "10:00", "10:05", "10:10", "10:15", "10:20"]
        );
    }
}
