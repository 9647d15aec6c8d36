//! Diagnostics: problems found in user input, each with a severity, a message, the span of
//! source it points at and an optional hint; rendered as `file:line:col` with a snippet and a
//! caret. Front-end functions return their value together with a [`Diagnostics`] list so every
//! problem is reported, not only the first.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

/// One source file as read: its display path and its text.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(index, _)| index + 1))
            .collect();
        Self {
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (columns count characters, not bytes) of a byte offset.
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line_index = match self.line_starts.binary_search(&offset) {
            Ok(index) => index,
            Err(index) => index - 1,
        };
        let line_start = self.line_starts[line_index];
        let column = self.text[line_start..floor_char_boundary(&self.text, offset)]
            .chars()
            .count();
        Position {
            line: line_index + 1,
            column: column + 1,
            byte: offset,
        }
    }

    /// The text of a 1-based line, without its line ending.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |next| next - 1);
        self.text[start..end].trim_end_matches('\r')
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A line/column position (both 1-based) plus the byte offset it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
    pub byte: usize,
}

/// A byte range in one source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub file: Arc<SourceFile>,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: &Arc<SourceFile>, range: std::ops::Range<usize>) -> Self {
        Self {
            file: Arc::clone(file),
            start: range.start,
            end: range.end.max(range.start),
        }
    }

    pub fn text(&self) -> &str {
        self.file.text.get(self.start..self.end).unwrap_or_default()
    }

    pub fn start_position(&self) -> Position {
        self.file.position(self.start)
    }

    pub fn end_position(&self) -> Position {
        self.file.position(self.end)
    }
}

impl PartialEq for SourceFile {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}
impl Eq for SourceFile {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Option<Span>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            hint: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(message)
        }
    }

    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    pub fn at_opt(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The rendered text: the headline, `--> file:line:col`, the source line with a caret
    /// under the span, and the hint.
    pub fn render(&self, base: Option<&Path>) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}: {}", self.message);
        // The arrow and the hint line up with the gutter of the snippet (its width is that of
        // the line number), so they stay aligned past line 9 and line 99.
        let mut indent = "  ".to_owned();
        if let Some(span) = &self.span {
            let start = span.start_position();
            let end = span.end_position();
            let path = display_path(&span.file.path, base);
            let gutter = start.line.to_string().len();
            let pad = " ".repeat(gutter);
            indent = " ".repeat(gutter + 1);
            let _ = writeln!(out, "{indent}--> {path}:{}:{}", start.line, start.column);
            let line = span.file.line_text(start.line);
            let caret_count = if end.line == start.line {
                (end.column.saturating_sub(start.column)).max(1)
            } else {
                (line.chars().count() + 1)
                    .saturating_sub(start.column)
                    .max(1)
            };
            let (shown, caret_column, caret_count) =
                snippet_window(&printable(line), start.column, caret_count);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {}", start.line, shown);
            let _ = writeln!(
                out,
                "{pad} | {}{}",
                " ".repeat(caret_column - 1),
                "^".repeat(caret_count)
            );
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "{indent}= hint: {hint}");
        }
        out
    }
}

/// The most characters of a source line a snippet shows: a minified or generated file can
/// have a line of megabytes, which must not be echoed whole.
pub const MAX_SNIPPET_CHARS: usize = 160;

/// The part of `line` a snippet shows around the caret (1-based `column`, `carets` wide), with
/// `…` where it was cut, and the caret's column and width in what is shown.
fn snippet_window(line: &str, column: usize, carets: usize) -> (String, usize, usize) {
    let length = line.chars().count();
    if length <= MAX_SNIPPET_CHARS {
        return (line.to_owned(), column, carets);
    }
    let context = MAX_SNIPPET_CHARS / 4;
    let first = column.saturating_sub(1).saturating_sub(context);
    let last = (first + MAX_SNIPPET_CHARS).min(length);
    let mut shown = String::new();
    if first > 0 {
        shown.push('…');
    }
    shown.extend(line.chars().skip(first).take(last - first));
    if last < length {
        shown.push('…');
    }
    let caret_column = column - first + usize::from(first > 0);
    let carets = carets.min(last + 1 - column.min(last)).max(1);
    (shown, caret_column, carets)
}

/// The source line a JSON diagnostic quotes: whole, or (a line of more than
/// [`MAX_SNIPPET_CHARS`]) the part around the range's start that the rendered snippet shows,
/// with `…` where it was cut.
fn json_snippet(span: &Span) -> String {
    let start = span.start_position();
    snippet_window(span.file.line_text(start.line), start.column, 1).0
}

/// A source line as it can be shown on a terminal: a tab is one space (so the caret lines
/// up) and another control character its visible symbol (`␀` for NUL), one column each.
fn printable(line: &str) -> String {
    line.chars()
        .map(|c| match c {
            '\t' => ' ',
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)).unwrap_or('?'),
            '\u{7f}' => '\u{2421}',
            c if c.is_control() || c == '\u{feff}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Paths in diagnostics are shown relative to the working directory when they are inside it,
/// so snapshots and CI logs do not depend on where the checkout lives.
pub fn display_path(path: &Path, base: Option<&Path>) -> String {
    base.and_then(|base| path.strip_prefix(base).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// An ordered list of diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.0.len() - self.error_count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Sort by file, position and message so output is stable whatever order checks ran in.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            let key = |d: &Diagnostic| {
                d.span
                    .as_ref()
                    .map(|s| (s.file.path.clone(), s.start, s.end))
            };
            key(a).cmp(&key(b)).then_with(|| a.message.cmp(&b.message))
        });
        // The same problem found twice (say, by the reference check and again by evaluation)
        // is reported once, keeping the hint if only one of the two has it.
        self.0.dedup_by(|later, kept| {
            let same = later.severity == kept.severity
                && later.message == kept.message
                && later.span == kept.span
                && (later.hint == kept.hint || later.hint.is_none() || kept.hint.is_none());
            if same && kept.hint.is_none() {
                kept.hint = later.hint.take();
            }
            same
        });
    }

    pub fn render(&self, base: Option<&Path>) -> String {
        self.0
            .iter()
            .map(|d| d.render(base))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The machine-readable form used by `validate -json`. A struct, not a `serde_json::Value`,
    /// so the fields keep this order whatever features serde_json is built with.
    pub fn to_json(&self, base: Option<&Path>) -> JsonReport {
        JsonReport {
            format_version: "1.0",
            valid: !self.has_errors(),
            error_count: self.error_count(),
            warning_count: self.warning_count(),
            diagnostics: self
                .0
                .iter()
                .map(|d| JsonDiagnostic {
                    severity: d.severity,
                    summary: d.message.clone(),
                    detail: d.hint.clone(),
                    range: d.span.as_ref().map(|span| JsonRange {
                        filename: display_path(&span.file.path, base),
                        start: span.start_position(),
                        end: span.end_position(),
                    }),
                    snippet: d.span.as_ref().map(json_snippet),
                })
                .collect(),
        }
    }
}

/// `validate -json` output.
#[derive(Debug, Clone, Serialize)]
pub struct JsonReport {
    pub format_version: &'static str,
    pub valid: bool,
    pub error_count: usize,
    pub warning_count: usize,
    pub diagnostics: Vec<JsonDiagnostic>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    pub severity: Severity,
    pub summary: String,
    /// The hint, if any.
    pub detail: Option<String>,
    pub range: Option<JsonRange>,
    /// The source line the range starts on, cut around the range's start when it is longer
    /// than [`MAX_SNIPPET_CHARS`].
    pub snippet: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JsonRange {
    pub filename: String,
    pub start: Position,
    pub end: Position,
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<Diagnostic> for Diagnostics {
    fn from_iter<T: IntoIterator<Item = Diagnostic>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Arc<SourceFile> {
        Arc::new(SourceFile::new(PathBuf::from("main.hcl"), text.to_owned()))
    }

    #[test]
    fn renders_file_line_column_snippet_and_caret() {
        let source = file("locals {\n  x = bogus(1)\n}\n");
        let start = source.text.find("bogus").unwrap();
        let diagnostic = Diagnostic::error("call to unknown function \"bogus\"")
            .at(Span::new(&source, start..start + 5))
            .with_hint("see README.md for the functions cutover supports");
        assert_eq!(
            diagnostic.render(None),
            "error: call to unknown function \"bogus\"\n  --> main.hcl:2:7\n  |\n2 |   x = bogus(1)\n  |       ^^^^^\n  = hint: see README.md for the functions cutover supports\n"
        );
    }

    #[test]
    fn a_huge_line_is_shown_only_around_the_caret() {
        let line = format!(
            "x = \"{}\" + bogus + \"{}\"",
            "a".repeat(2_000_000),
            "b".repeat(1000)
        );
        let source = file(&format!("{line}\n"));
        let start = source.text.find("bogus").unwrap();
        let rendered = Diagnostic::error("bad")
            .at(Span::new(&source, start..start + 5))
            .render(None);
        assert!(rendered.len() < 1000, "{} bytes", rendered.len());
        let lines: Vec<&str> = rendered.lines().collect();
        let snippet = lines[3].strip_prefix("1 | ").unwrap();
        let carets = lines[4].strip_prefix("  | ").unwrap();
        assert!(
            snippet.starts_with('…') && snippet.ends_with('…'),
            "{snippet}"
        );
        let caret_at = carets.find('^').unwrap();
        let shown: String = snippet.chars().skip(caret_at).take(5).collect();
        assert_eq!(shown, "bogus");
        assert_eq!(carets.trim(), "^^^^^");
    }

    #[test]
    fn the_json_snippet_of_a_huge_line_is_cut_around_the_range_too() {
        let line = format!(
            "x = \"{}\" + bogus + \"{}\"",
            "é".repeat(1_000_000),
            "b".repeat(1000)
        );
        let source = file(&format!("{line}\n"));
        let start = source.text.find("bogus").unwrap();
        let diagnostics: Diagnostics =
            [Diagnostic::error("bad").at(Span::new(&source, start..start + 5))]
                .into_iter()
                .collect();
        let json = serde_json::to_string(&diagnostics.to_json(None)).unwrap();
        assert!(json.len() < 1000, "{} bytes", json.len());
        let snippet = diagnostics.to_json(None).diagnostics[0]
            .snippet
            .clone()
            .unwrap();
        assert!(
            snippet.starts_with("…é") && snippet.ends_with("b…"),
            "{snippet}"
        );
        assert!(
            snippet.chars().count() <= MAX_SNIPPET_CHARS + 2,
            "{snippet}"
        );
        assert!(snippet.contains("+ bogus +"), "{snippet}");
        // A line that fits is quoted whole, as it is.
        let short = file("x = \tbogus\n");
        let diagnostics: Diagnostics = [Diagnostic::error("bad").at(Span::new(&short, 5..10))]
            .into_iter()
            .collect();
        assert_eq!(
            diagnostics.to_json(None).diagnostics[0].snippet.as_deref(),
            Some("x = \tbogus")
        );
    }

    #[test]
    fn arrow_and_hint_line_up_with_a_wide_gutter() {
        let source = file(&format!("{}x = 1\n", "\n".repeat(11)));
        let start = source.text.find('x').unwrap();
        let rendered = Diagnostic::error("bad")
            .at(Span::new(&source, start..start + 1))
            .with_hint("fix it")
            .render(None);
        assert_eq!(
            rendered,
            "error: bad\n   --> main.hcl:12:1\n   |\n12 | x = 1\n   | ^\n   = hint: fix it\n"
        );
    }

    #[test]
    fn the_same_problem_found_twice_is_reported_once_with_its_hint() {
        let source = file("x = local.a\n");
        let span = Span::new(&source, 4..11);
        let mut diagnostics: Diagnostics = [
            Diagnostic::error("undeclared").at(span.clone()),
            Diagnostic::error("undeclared")
                .at(span.clone())
                .with_hint("did you mean \"b\"?"),
            Diagnostic::error("other").at(span),
        ]
        .into_iter()
        .collect();
        diagnostics.sort();
        let shown: Vec<(String, Option<String>)> = diagnostics
            .iter()
            .map(|d| (d.message.clone(), d.hint.clone()))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("other".to_owned(), None),
                (
                    "undeclared".to_owned(),
                    Some("did you mean \"b\"?".to_owned())
                ),
            ]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let source = file("a = \"é\" + x\n");
        let start = source.text.find('x').unwrap();
        assert_eq!(source.position(start).column, 11);
    }
}
