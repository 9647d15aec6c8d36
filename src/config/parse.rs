//! Parsing one file with `hcl-edit`, which keeps byte spans on every block, attribute and
//! expression (`hcl::Body` drops them). A syntax error becomes a [`Diagnostic`] at the
//! offending position; the commonest mistakes (an unclosed block, a missing `=`, a bad escape,
//! an unterminated heredoc, a stray token) are recognised and explained in plain words.

use std::sync::Arc;

use hcl_edit::structure::Body;

use crate::diagnostics::{Diagnostic, SourceFile, Span};

/// Parses a whole file. On a syntax error returns one diagnostic pointing at it: `hcl-edit`
/// stops at the first syntax error, and nothing after it can be trusted anyway.
pub fn parse_file(file: &Arc<SourceFile>) -> Result<Body, Box<Diagnostic>> {
    hcl_edit::parser::parse_body(&file.text).map_err(|error| {
        let offset =
            floor_char_boundary(&file.text, error.location().offset().min(file.text.len()));
        Box::new(explain(file, offset, error.message()))
    })
}

/// Turns hcl-edit's message at `offset` into a diagnostic, recognising common mistakes.
fn explain(file: &Arc<SourceFile>, offset: usize, message: &str) -> Diagnostic {
    let text = file.text.as_str();
    let message = message.trim();
    let at_offset = || Span::new(file, offset..next_char_boundary(text, offset));

    if message.starts_with("expected heredoc end delimiter")
        && let Some((opener, delimiter)) = heredoc_opener_before(text, offset)
    {
        return Diagnostic::error(format!(
            "syntax error: unterminated heredoc: no line closes it with {delimiter}"
        ))
        .at(Span::new(file, opener))
        .with_hint(format!(
            "end the text with a line holding only {delimiter}, before the closing `}}` of the block"
        ));
    }
    if text[offset..].trim().is_empty() {
        // The parser ran off the end of the file: the usual cause is a missing `}`, `]` or `)`
        // much earlier, so point at the delimiter that is never closed.
        if let Some((delimiter, position)) = unclosed_delimiter(text) {
            let closing = match delimiter {
                '{' => '}',
                '[' => ']',
                '(' => ')',
                _ => '"',
            };
            let what = if delimiter == '"' {
                "string".to_owned()
            } else {
                format!("`{delimiter}`")
            };
            return Diagnostic::error(format!("syntax error: unclosed {what}"))
                .at(Span::new(file, position..position + delimiter.len_utf8()))
                .with_hint(format!(
                    "the file ends before it is closed; add the missing `{closing}`"
                ));
        }
        return Diagnostic::error(format!(
            "syntax error: unexpected end of file ({})",
            describe(message)
        ))
        .at(at_offset());
    }
    if message.starts_with("invalid escape sequence")
        && let Some(backslash) = text[..offset].rfind('\\')
        && offset - backslash <= 2
    {
        return Diagnostic::error("syntax error: invalid escape sequence in a string")
            .at(Span::new(file, backslash..offset))
            .with_hint(
                "a backslash starts an escape (\\n, \\r, \\t, \\\", \\\\, \\uNNNN); write a literal backslash as \\\\",
            );
    }
    if message == "expected newline or eof" {
        // hcl-edit lets a quoted string run over lines, so a missing `"` shows up as text
        // after a string that ends on a later line: point at the quote left open.
        if let Some(quote) = string_opened_on_an_earlier_line(text, offset) {
            return Diagnostic::error("syntax error: unterminated string")
                .at(Span::new(file, quote..quote + 1))
                .with_hint("close it with \" on the same line; for text over several lines use a heredoc: <<EOT ... EOT");
        }
        return Diagnostic::error("syntax error: expected the end of the line")
            .at(at_offset())
            .with_hint("an argument or a block ends at the end of its line; put what follows on a new line");
    }
    if message == "expected `{`" || message.starts_with("invalid structure") {
        let line_start = text[..offset].rfind('\n').map_or(0, |index| index + 1);
        let name: String = text[line_start..offset]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if !name.is_empty() {
            return Diagnostic::error("syntax error: expected `=` or `{`")
                .at(at_offset())
                .with_hint(format!(
                    "an argument is written {name} = value; a block is written {name} \"label\" {{ ... }}"
                ));
        }
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |index| index + 1);
    let at_line_start = text[line_start..offset].trim().is_empty();
    if at_line_start
        && (message == "unexpected token" || message.starts_with("invalid block body"))
        && let Some(quote) = unterminated_string(&text[offset..line_end(text, offset)])
    {
        let quote = offset + quote;
        return Diagnostic::error("syntax error: unterminated string")
            .at(Span::new(file, quote..quote + 1))
            .with_hint("close it with \" on the same line; for text over several lines use a heredoc: <<EOT ... EOT");
    }
    if message == "unexpected token" {
        let token: String = text[offset..].chars().take(1).collect();
        let line = &text[offset..line_end(text, offset)];
        if let Some(equals) = line.find('=')
            && line[equals + 1..].trim().is_empty()
        {
            let after = offset + equals + 1;
            return Diagnostic::error("syntax error: expected a value after `=`")
                .at(Span::new(file, after..after));
        }
        if token.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Diagnostic::error("syntax error: this is neither an argument nor a block")
                .at(Span::new(file, offset..line_end(text, offset)))
                .with_hint("an argument is written name = value; a block is written type \"label\" { ... }");
        }
        let diagnostic =
            Diagnostic::error(format!("syntax error: unexpected `{token}`")).at(at_offset());
        return if token == "}" {
            diagnostic.with_hint(
                "this `}` closes no block; remove it, or look for a block above closed twice",
            )
        } else {
            diagnostic
        };
    }
    let diagnostic =
        Diagnostic::error(format!("syntax error: {}", describe(message))).at(at_offset());
    if let Some(closing) = message
        .strip_prefix("expected `")
        .and_then(|rest| rest.strip_suffix('`'))
        .filter(|closing| matches!(*closing, "]" | "}" | ")"))
    {
        // Either the delimiter was never closed, or two elements lack a comma between them.
        let opening = match closing {
            "]" => '[',
            "}" => '{',
            _ => '(',
        };
        return match unclosed_delimiter(&text[..offset]) {
            Some((delimiter, position)) if delimiter == opening && at_line_start => {
                let next_line = file.position(offset).line;
                Diagnostic::error(format!("syntax error: unclosed `{opening}`"))
                    .at(Span::new(file, position..position + 1))
                    .with_hint(format!(
                        "line {next_line} starts before it is closed; add the missing `{closing}`"
                    ))
            }
            Some((delimiter, _)) if delimiter == opening && closing != ")" => {
                diagnostic.with_hint("separate the elements with commas")
            }
            _ => diagnostic,
        };
    }
    diagnostic
}

fn next_char_boundary(text: &str, offset: usize) -> usize {
    text[offset..]
        .chars()
        .next()
        .map_or(offset, |c| offset + c.len_utf8())
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// hcl-edit's messages read like "expected `=`"; keep them, but shorten the long list of
/// characters an expression may start with, and never return an empty message.
fn describe(message: &str) -> String {
    let message = message.trim();
    if message.starts_with("invalid expression; expected") {
        "expected an expression".to_owned()
    } else if message.is_empty() {
        "invalid HCL".to_owned()
    } else {
        message.to_owned()
    }
}

/// The `<<EOT` or `<<-EOT` that opens the heredoc whose body starts at or before `offset`,
/// and its delimiter.
fn heredoc_opener_before(text: &str, offset: usize) -> Option<(std::ops::Range<usize>, String)> {
    let start = text[..offset].rfind("<<")?;
    let after = &text[start + 2..];
    let dash = usize::from(after.starts_with('-'));
    let delimiter: String = after[dash..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if delimiter.is_empty() {
        return None;
    }
    Some((start..start + 2 + dash + delimiter.len(), delimiter))
}

/// The innermost delimiter (`{`, `[`, `(` or a string's `"`) still open at the end of `text`,
/// with its byte offset. Skips comments, strings (with their `${ }` interpolations) and
/// heredocs. A heuristic for hints: the parser has already said the file is invalid.
fn unclosed_delimiter(text: &str) -> Option<(char, usize)> {
    #[derive(Clone, Copy)]
    enum Frame {
        /// `{`, `[` or `(` in code.
        Open(char, usize),
        /// A quoted string.
        Quoted(usize),
        /// `${` or `%{` inside a quoted string: code until the matching `}`.
        Interpolation,
    }
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let in_string = matches!(stack.last(), Some(Frame::Quoted(_)));
        if in_string {
            match byte {
                b'\\' => index += 1,
                b'"' => {
                    stack.pop();
                }
                b'$' | b'%' if bytes.get(index + 1) == Some(&b'{') => {
                    stack.push(Frame::Interpolation);
                    index += 1;
                }
                b'\n' => {
                    // Quoted strings cannot span lines; hcl-edit has complained already.
                    stack.pop();
                }
                _ => {}
            }
            index += 1;
            continue;
        }
        match byte {
            b'"' => stack.push(Frame::Quoted(index)),
            b'{' | b'[' | b'(' => stack.push(Frame::Open(byte as char, index)),
            b'}' | b']' | b')' => {
                stack.pop();
            }
            b'#' => index = line_end(text, index),
            b'/' if bytes.get(index + 1) == Some(&b'/') => index = line_end(text, index),
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                index = text[index + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |end| index + 2 + end + 1);
            }
            b'<' if bytes.get(index + 1) == Some(&b'<') => {
                if let Some((opener, delimiter)) = heredoc_opener_before(text, index + 2) {
                    // Skip to the line holding only the delimiter.
                    let mut line_start = line_end(text, opener.end) + 1;
                    while line_start < bytes.len() {
                        let end = line_end(text, line_start);
                        if text[line_start..end].trim() == delimiter {
                            break;
                        }
                        line_start = end + 1;
                    }
                    index = line_start.min(bytes.len());
                    continue;
                }
            }
            _ => {}
        }
        index += 1;
    }
    stack.into_iter().rev().find_map(|frame| match frame {
        Frame::Open(delimiter, position) => Some((delimiter, position)),
        Frame::Quoted(position) => Some(('"', position)),
        Frame::Interpolation => None,
    })
}

/// When the text just before `offset` ends a quoted string that began on an earlier line, the
/// offset of that string's opening quote.
fn string_opened_on_an_earlier_line(text: &str, offset: usize) -> Option<usize> {
    if !text[..offset].ends_with('"') {
        return None;
    }
    let line_start = text[..offset].rfind('\n')? + 1;
    let mut previous_end = line_start - 1;
    for _ in 0..8 {
        let previous_start = text[..previous_end]
            .rfind('\n')
            .map_or(0, |index| index + 1);
        let line = &text[previous_start..previous_end];
        if let Some(quote) = unterminated_string(line) {
            return Some(previous_start + quote);
        }
        if previous_start == 0 {
            return None;
        }
        previous_end = previous_start - 1;
    }
    None
}

/// The offset of a `"` in `line` that opens a string never closed on that line.
fn unterminated_string(line: &str) -> Option<usize> {
    let mut open = None;
    let mut depth = 0usize;
    let mut chars = line.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        match (open, c) {
            (None, '#') => break,
            (None, '/') if chars.peek().is_some_and(|(_, next)| *next == '/') => break,
            (None, '"') => open = Some(index),
            (None, '}') if depth > 0 => {
                // The end of an interpolation: back inside the string.
                depth -= 1;
                open = Some(index);
            }
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(_), '"') => open = None,
            (Some(_), '$' | '%') if chars.peek().is_some_and(|(_, next)| *next == '{') => {
                chars.next();
                depth += 1;
                open = None;
            }
            _ => {}
        }
    }
    // A string left open, or an interpolation left open inside one.
    open.filter(|_| depth == 0)
        .or_else(|| (depth > 0).then(|| line.find('"')).flatten())
}

/// The offset of the newline ending the line that contains `index` (or the end of the text).
fn line_end(text: &str, index: usize) -> usize {
    text[index..]
        .find('\n')
        .map_or(text.len(), |end| index + end)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn error_for(text: &str) -> String {
        let file = Arc::new(SourceFile::new(
            PathBuf::from("broken.hcl"),
            text.to_owned(),
        ));
        parse_file(&file).expect_err("syntax error").render(None)
    }

    #[test]
    fn syntax_error_points_at_the_offending_character() {
        let rendered = error_for("locals {\n  a = \n}\n");
        assert!(rendered.starts_with("error: syntax error: "), "{rendered}");
        assert!(rendered.contains("--> broken.hcl:"), "{rendered}");
    }

    #[test]
    fn unclosed_block_points_at_its_opening_brace() {
        let rendered = error_for(
            "variable \"phase\" {\n  default = \"x\"\n\nresource \"a\" \"b\" {\n  input = \"}\" # }\n}\n",
        );
        assert!(
            rendered.starts_with("error: syntax error: unclosed `{`\n  --> broken.hcl:1:18\n"),
            "{rendered}"
        );
    }

    #[test]
    fn unterminated_heredoc_points_at_its_opener() {
        let rendered = error_for("locals {\n  a = <<-EOT\n  text\n}\n");
        assert!(
            rendered.starts_with("error: syntax error: unterminated heredoc: no line closes it with EOT\n  --> broken.hcl:2:7\n"),
            "{rendered}"
        );
        assert!(rendered.contains("^^^^^^"), "{rendered}");
    }

    #[test]
    fn bad_escape_underlines_the_backslash_and_the_character() {
        let rendered = error_for("locals {\n  a = \"x\\.y\"\n}\n");
        assert!(rendered.contains("--> broken.hcl:2:9\n"), "{rendered}");
        assert!(rendered.contains("  |         ^^\n"), "{rendered}");
    }

    #[test]
    fn missing_equals_suggests_both_forms() {
        let rendered = error_for("locals {\n  prefix \"prod\"\n}\n");
        assert!(
            rendered.starts_with("error: syntax error: expected `=` or `{`"),
            "{rendered}"
        );
        assert!(rendered.contains("prefix = value"), "{rendered}");
    }

    #[test]
    fn unterminated_string_points_at_its_quote() {
        let rendered = error_for("locals {\n  x = \"abc\n  y = 2\n}\n");
        assert!(
            rendered
                .starts_with("error: syntax error: unterminated string\n  --> broken.hcl:2:7\n"),
            "{rendered}"
        );
    }

    #[test]
    fn a_string_running_into_the_next_line_is_unterminated() {
        let rendered = error_for("locals {\n  a = \"x\n  b = \"y\"\n}\n");
        assert!(
            rendered
                .starts_with("error: syntax error: unterminated string\n  --> broken.hcl:2:7\n"),
            "{rendered}"
        );
    }

    #[test]
    fn unclosed_list_before_the_next_line_is_named() {
        let rendered = error_for("locals {\n  x = [1, 2\n  y = 2\n}\n");
        assert!(
            rendered.starts_with("error: syntax error: unclosed `[`\n  --> broken.hcl:2:7\n"),
            "{rendered}"
        );
        assert!(
            rendered.contains("line 3 starts before it is closed"),
            "{rendered}"
        );
    }

    #[test]
    fn stray_brace_is_named() {
        let rendered = error_for("locals {\n}\n}\n");
        assert!(
            rendered.starts_with("error: syntax error: unexpected `}`"),
            "{rendered}"
        );
    }
}
