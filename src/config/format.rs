//! The canonical layout of cutover's HCL, as written by `cutover fmt`: the rules of
//! `terraform fmt` (HashiCorp's `hclwrite.Format`), applied by a lexer over the original text so
//! that comments, strings and heredocs keep every byte, and checked against the parsed meaning
//! before anything is returned.
//!
//! The rules, in the order they are applied:
//!
//! - **Indentation**: two spaces per level. A line that opens more brackets (`{`, `[`, `(`) than
//!   it closes indents the lines after it by one level, whatever the number of brackets; a line
//!   that closes more than it opens is itself dedented (hclwrite's "indent stack").
//! - **Spacing** inside a line: one space between most tokens, none around `.`, none after an
//!   opening or before a closing bracket (but `{ a = 1 }` has spaces inside braces and `{}` has
//!   none), none before `,`, `...` or a call's `(`, none after `!` or a negating `-` (a `-`
//!   after `=>` also counts as negating, where hclwrite would write `k => - 1`).
//! - **Alignment**: consecutive lines that each hold one whole `name = value` (attributes, and
//!   object items on their own lines) get their `=` in one column; a blank line, a comment-only
//!   line, a block header or a multi-line value ends the run. Trailing `#`/`//` comments on
//!   consecutive lines are aligned the same way. Columns are counted in characters as a reader
//!   sees them (grapheme clusters, like hclwrite), not bytes.
//! - **Vertical whitespace** is kept as written, as `terraform fmt` does (it keeps runs of blank
//!   lines too); trailing whitespace is removed, Windows line endings become `\n`, and the file
//!   ends with exactly one newline (trailing blank lines are dropped).
//! - **Never touched**: the contents of quoted strings and templates (`${...}`, `%{...}`,
//!   including their inner spacing, which `terraform fmt` would normalise) and the bodies of
//!   heredocs, byte for byte (a heredoc written with `\r\n` keeps them, since they are part of
//!   its value); comments keep their text and only move with their line's indentation.
//!
//! Safety net: a file that does not parse is never formatted, and the result must parse to the
//! same [`hcl::Body`] as the input and contain the same non-whitespace characters in the same
//! order; otherwise [`FormatError::MeaningChanged`] is returned and nothing is written.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::parse::parse_file;
use crate::diagnostics::{Diagnostic, SourceFile};

/// Why a file could not be formatted.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The input does not parse. A file that does not parse is never rewritten.
    #[error("{}", .0.message)]
    Syntax(Box<Diagnostic>),
    /// The formatted text would not mean what the input meant. This is a bug in the formatter,
    /// caught before anything is written.
    #[error("formatting {path} would change its meaning ({reason}); it was left unchanged")]
    MeaningChanged { path: String, reason: String },
}

impl FormatError {
    /// The error as a diagnostic, for rendering next to other diagnostics.
    pub fn into_diagnostic(self) -> Box<Diagnostic> {
        match self {
            FormatError::Syntax(diagnostic) => diagnostic,
            error @ FormatError::MeaningChanged { .. } => Box::new(
                Diagnostic::error(error.to_string())
                    .with_hint("this is a bug in `cutover fmt`; please report it with the file"),
            ),
        }
    }
}

/// Formats text that has no file behind it (tests, editors); syntax errors point at `<input>`.
pub fn format_source(text: &str) -> Result<String, FormatError> {
    let file = Arc::new(SourceFile::new(PathBuf::from("<input>"), text.to_owned()));
    format_file(&file)
}

/// Formats one file into the canonical layout. Returns the formatted text (equal to the input
/// when it is already canonical), or why it was left alone.
pub fn format_file(file: &Arc<SourceFile>) -> Result<String, FormatError> {
    parse_file(file).map_err(FormatError::Syntax)?;
    let meaning_changed = |reason: String| FormatError::MeaningChanged {
        path: file.path.display().to_string(),
        reason,
    };
    let formatted = format_text(&file.text)
        .map_err(|error| meaning_changed(format!("the formatter could not read it: {error}")))?;
    check_same_meaning(&file.text, &formatted).map_err(meaning_changed)?;
    Ok(formatted)
}

/// The safety net: the formatted text must parse to the same body as the original and differ
/// from it only in whitespace (which also proves no comment was lost or altered).
fn check_same_meaning(original: &str, formatted: &str) -> Result<(), String> {
    if original == formatted {
        return Ok(());
    }
    let original_body =
        hcl::parse(original).map_err(|error| format!("the input does not parse: {error}"))?;
    let formatted_body = hcl::parse(formatted)
        .map_err(|error| format!("the formatted text does not parse: {error}"))?;
    if original_body != formatted_body {
        return Err("the formatted text parses to a different configuration".to_owned());
    }
    let visible = |text: &str| {
        text.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
    };
    if visible(original) != visible(formatted) {
        return Err("the formatted text differs in more than whitespace".to_owned());
    }
    Ok(())
}

/// The formatter proper, without the safety net.
fn format_text(text: &str) -> Result<String, LexError> {
    let tokens = tokenize(text)?;
    let mut lines: Vec<FormatLine> = split_lines(tokens)
        .into_iter()
        .map(FormatLine::new)
        .collect();
    indent_lines(&mut lines);
    space_lines(&mut lines);
    align_assignments(&mut lines);
    align_comments(&mut lines);
    Ok(render(&lines))
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Newline,
    /// `# ...` or `// ...`, without its line ending and trailing whitespace.
    LineComment,
    /// `/* ... */`, possibly over several lines.
    BlockComment,
    Ident,
    Number,
    /// A whole quoted string, templates included: one token, never looked inside.
    QuotedString,
    /// A whole heredoc from `<<` to its closing marker: one token, never looked inside.
    Heredoc,
    OpenBrace,
    CloseBrace,
    OpenBracket,
    CloseBracket,
    OpenParen,
    CloseParen,
    /// `=` (attribute and object-item assignment).
    Assign,
    Comma,
    Dot,
    Ellipsis,
    Colon,
    DoubleColon,
    Question,
    Bang,
    Minus,
    Plus,
    Star,
    Slash,
    Percent,
    EqualOp,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    And,
    Or,
    FatArrow,
    /// Anything else (only in input that would not parse).
    Other,
}

impl TokenKind {
    fn bracket_change(self) -> i32 {
        match self {
            TokenKind::OpenBrace | TokenKind::OpenBracket | TokenKind::OpenParen => 1,
            TokenKind::CloseBrace | TokenKind::CloseBracket | TokenKind::CloseParen => -1,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Token<'a> {
    kind: TokenKind,
    text: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {offset}")]
struct LexError {
    message: &'static str,
    offset: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token<'_>>, LexError> {
    let mut lexer = Lexer { text, pos: 0 };
    let mut tokens = Vec::new();
    while let Some(token) = lexer.next_token()? {
        tokens.push(token);
    }
    Ok(tokens)
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn error(&self, message: &'static str) -> LexError {
        LexError {
            message,
            offset: self.pos,
        }
    }

    fn next_token(&mut self) -> Result<Option<Token<'a>>, LexError> {
        self.skip_horizontal_whitespace();
        let start = self.pos;
        let rest = self.rest();
        let Some(first) = rest.chars().next() else {
            return Ok(None);
        };
        let kind = match first {
            '\n' => {
                self.pos += 1;
                TokenKind::Newline
            }
            '\r' => {
                // `skip_horizontal_whitespace` leaves only a `\r` that starts `\r\n`.
                self.pos += 2;
                TokenKind::Newline
            }
            '#' => return Ok(Some(self.line_comment())),
            '/' if rest.starts_with("//") => return Ok(Some(self.line_comment())),
            '/' if rest.starts_with("/*") => return self.block_comment().map(Some),
            '"' => {
                self.skip_quoted_string()?;
                TokenKind::QuotedString
            }
            '<' if self.skip_heredoc()? => TokenKind::Heredoc,
            '0'..='9' => {
                self.skip_number();
                TokenKind::Number
            }
            c if is_id_start(c) => {
                self.pos += c.len_utf8();
                self.skip_while(is_id_continue);
                TokenKind::Ident
            }
            _ => self.punctuation(first),
        };
        Ok(Some(Token {
            kind,
            text: Cow::Borrowed(&self.text[start..self.pos]),
        }))
    }

    /// Spaces, tabs and a `\r` that does not start a `\r\n` are all whitespace to HCL.
    fn skip_horizontal_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(&byte) = bytes.get(self.pos) {
            match byte {
                b' ' | b'\t' => self.pos += 1,
                b'\r' if bytes.get(self.pos + 1) != Some(&b'\n') => self.pos += 1,
                _ => break,
            }
        }
    }

    fn skip_while(&mut self, keep: impl Fn(char) -> bool) {
        let length: usize = self
            .rest()
            .chars()
            .take_while(|&c| keep(c))
            .map(char::len_utf8)
            .sum();
        self.pos += length;
    }

    fn line_comment(&mut self) -> Token<'a> {
        let start = self.pos;
        let length = self.rest().find('\n').unwrap_or(self.rest().len());
        self.pos += length;
        Token {
            kind: TokenKind::LineComment,
            text: Cow::Borrowed(self.text[start..self.pos].trim_end()),
        }
    }

    fn block_comment(&mut self) -> Result<Token<'a>, LexError> {
        let start = self.pos;
        let Some(end) = self.rest()[2..].find("*/") else {
            return Err(self.error("unterminated comment"));
        };
        self.pos += 2 + end + 2;
        let raw = &self.text[start..self.pos];
        // Inside a comment only line endings and trailing whitespace are normalised.
        let text = if raw.contains('\n') {
            Cow::Owned(
                raw.split('\n')
                    .map(str::trim_end)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        } else {
            Cow::Borrowed(raw)
        };
        Ok(Token {
            kind: TokenKind::BlockComment,
            text,
        })
    }

    /// Skips a quoted string, escapes and templates included.
    fn skip_quoted_string(&mut self) -> Result<(), LexError> {
        self.pos += 1;
        loop {
            let rest = self.rest();
            let Some(c) = rest.chars().next() else {
                return Err(self.error("unterminated string"));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(());
                }
                '\\' => {
                    self.pos += 1;
                    if let Some(escaped) = self.rest().chars().next() {
                        self.pos += escaped.len_utf8();
                    }
                }
                '$' | '%' => self.skip_template_sequence_or_char()?,
                _ => self.pos += c.len_utf8(),
            }
        }
    }

    /// At a `$` or `%` inside a template: skips `$${` / `%%{` (escapes), a whole `${ ... }` /
    /// `%{ ... }` sequence, or the single character.
    fn skip_template_sequence_or_char(&mut self) -> Result<(), LexError> {
        let rest = self.rest();
        if rest.starts_with("$${") || rest.starts_with("%%{") {
            self.pos += 3;
        } else if rest.starts_with("${") || rest.starts_with("%{") {
            self.pos += 2;
            self.skip_template_expression()?;
        } else {
            self.pos += 1;
        }
        Ok(())
    }

    /// Skips the expression of a template sequence up to and including its closing `}`.
    fn skip_template_expression(&mut self) -> Result<(), LexError> {
        let mut depth = 0usize;
        loop {
            let Some(token) = self.next_token()? else {
                return Err(self.error("unterminated template sequence"));
            };
            match token.kind {
                TokenKind::OpenBrace => depth += 1,
                TokenKind::CloseBrace if depth == 0 => return Ok(()),
                TokenKind::CloseBrace => depth -= 1,
                _ => {}
            }
        }
    }

    /// At a `<`: skips a whole heredoc and returns true, or returns false (and consumes nothing)
    /// when this is not the start of one. The body ends the way `hcl-edit` ends it: at the
    /// first line ending followed by optional spaces or tabs and the delimiter (not followed by
    /// an identifier character); failing that, at an immediately closing delimiter.
    fn skip_heredoc(&mut self) -> Result<bool, LexError> {
        let start = self.pos;
        let rest = self.rest();
        let Some(after_marker) = rest.strip_prefix("<<") else {
            return Ok(false);
        };
        let after_dash = after_marker.strip_prefix('-').unwrap_or(after_marker);
        let delimiter_length: usize = after_dash
            .chars()
            .enumerate()
            .take_while(|&(index, c)| {
                if index == 0 {
                    is_id_start(c)
                } else {
                    is_id_continue(c)
                }
            })
            .map(|(_, c)| c.len_utf8())
            .sum();
        if delimiter_length == 0 {
            return Ok(false);
        }
        let delimiter = &after_dash[..delimiter_length];
        let after_delimiter = &after_dash[delimiter_length..];
        let line_ending = if after_delimiter.starts_with('\n') {
            1
        } else if after_delimiter.starts_with("\r\n") {
            2
        } else {
            return Ok(false);
        };
        self.pos = start + (rest.len() - after_delimiter.len()) + line_ending;
        let body_start = self.pos;
        match self.skip_heredoc_body(delimiter) {
            Ok(()) => Ok(true),
            Err(error) => {
                self.pos = body_start;
                if let Some(length) = closing_delimiter_length(self.rest(), delimiter) {
                    self.pos += length;
                    Ok(true)
                } else {
                    Err(error)
                }
            }
        }
    }

    fn skip_heredoc_body(&mut self, delimiter: &str) -> Result<(), LexError> {
        loop {
            let rest = self.rest();
            let Some(c) = rest.chars().next() else {
                return Err(self.error("unterminated heredoc"));
            };
            let line_ending = if rest.starts_with('\n') {
                1
            } else if rest.starts_with("\r\n") {
                2
            } else {
                0
            };
            if line_ending > 0 {
                self.pos += line_ending;
                if let Some(length) = closing_delimiter_length(self.rest(), delimiter) {
                    self.pos += length;
                    return Ok(());
                }
                continue;
            }
            match c {
                '$' | '%' => self.skip_template_sequence_or_char()?,
                _ => self.pos += c.len_utf8(),
            }
        }
    }

    /// Digits, an optional fraction and an optional exponent, as `hcl-edit` reads numbers.
    fn skip_number(&mut self) {
        self.skip_while(|c| c.is_ascii_digit());
        let bytes = self.text.as_bytes();
        let digit_at = |index: usize| bytes.get(index).is_some_and(u8::is_ascii_digit);
        if bytes.get(self.pos) == Some(&b'.') && digit_at(self.pos + 1) {
            self.pos += 1;
            self.skip_while(|c| c.is_ascii_digit());
        }
        if matches!(bytes.get(self.pos), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(bytes.get(self.pos + 1), Some(b'+' | b'-')));
            if digit_at(self.pos + 1 + sign) {
                self.pos += 1 + sign;
                self.skip_while(|c| c.is_ascii_digit());
            }
        }
    }

    fn punctuation(&mut self, first: char) -> TokenKind {
        const MULTI: &[(&str, TokenKind)] = &[
            ("...", TokenKind::Ellipsis),
            ("==", TokenKind::EqualOp),
            ("!=", TokenKind::NotEqual),
            ("<=", TokenKind::LessEqual),
            (">=", TokenKind::GreaterEqual),
            ("&&", TokenKind::And),
            ("||", TokenKind::Or),
            ("=>", TokenKind::FatArrow),
            ("::", TokenKind::DoubleColon),
        ];
        let rest = self.rest();
        if let Some(&(symbol, kind)) = MULTI.iter().find(|(symbol, _)| rest.starts_with(symbol)) {
            self.pos += symbol.len();
            return kind;
        }
        self.pos += first.len_utf8();
        match first {
            '{' => TokenKind::OpenBrace,
            '}' => TokenKind::CloseBrace,
            '[' => TokenKind::OpenBracket,
            ']' => TokenKind::CloseBracket,
            '(' => TokenKind::OpenParen,
            ')' => TokenKind::CloseParen,
            '=' => TokenKind::Assign,
            ',' => TokenKind::Comma,
            '.' => TokenKind::Dot,
            ':' => TokenKind::Colon,
            '?' => TokenKind::Question,
            '!' => TokenKind::Bang,
            '-' => TokenKind::Minus,
            '+' => TokenKind::Plus,
            '*' => TokenKind::Star,
            '/' => TokenKind::Slash,
            '%' => TokenKind::Percent,
            '<' => TokenKind::Less,
            '>' => TokenKind::Greater,
            _ => TokenKind::Other,
        }
    }
}

/// The length of `space* delimiter` at the start of `text` when the delimiter is not followed
/// by an identifier character.
fn closing_delimiter_length(text: &str, delimiter: &str) -> Option<usize> {
    let indent = text.len() - text.trim_start_matches([' ', '\t']).len();
    let after = text[indent..].strip_prefix(delimiter)?;
    if after.chars().next().is_some_and(is_id_continue) {
        return None;
    }
    Some(indent + delimiter.len())
}

/// HCL identifiers are Unicode identifiers that may also contain `-` (so `a-b` is one
/// identifier, never a subtraction).
fn is_id_start(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic() || c == '_'
    } else {
        hcl_edit::Ident::try_new(c.to_string()).is_ok()
    }
}

fn is_id_continue(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    } else {
        hcl_edit::Ident::try_new(format!("a{c}")).is_ok()
    }
}

// ---------------------------------------------------------------------------------------------
// Lines and cells

/// A token and the number of spaces written before it.
#[derive(Debug)]
struct Placed<'a> {
    token: Token<'a>,
    spaces_before: usize,
}

/// One line split into hclwrite's three cells: `lead` (everything else), `assign` (from the
/// `=` of a one-line `name = value` to the end) and `comment` (a trailing line comment).
#[derive(Debug, Default)]
struct FormatLine<'a> {
    lead: Vec<Placed<'a>>,
    assign: Vec<Placed<'a>>,
    comment: Option<Placed<'a>>,
}

fn split_lines(tokens: Vec<Token<'_>>) -> Vec<Vec<Token<'_>>> {
    let mut lines = vec![Vec::new()];
    for token in tokens {
        if token.kind == TokenKind::Newline {
            lines.push(Vec::new());
        } else if let Some(line) = lines.last_mut() {
            line.push(token);
        }
    }
    lines
}

fn net_brackets<'t, 'a: 't>(tokens: impl IntoIterator<Item = &'t Placed<'a>>) -> i32 {
    tokens
        .into_iter()
        .map(|placed| placed.token.kind.bracket_change())
        .sum()
}

impl<'a> FormatLine<'a> {
    fn new(tokens: Vec<Token<'a>>) -> Self {
        let mut lead: Vec<Placed<'a>> = tokens
            .into_iter()
            .map(|token| Placed {
                token,
                spaces_before: 0,
            })
            .collect();
        let comment = if lead.len() > 1
            && lead
                .last()
                .is_some_and(|placed| placed.token.kind == TokenKind::LineComment)
        {
            lead.pop()
        } else {
            None
        };
        // Only the first `=` counts, and only when the value after it closes every bracket it
        // opens: `tags = {` starts a multi-line value and takes no part in alignment.
        let assign = match lead
            .iter()
            .skip(1)
            .position(|placed| placed.token.kind == TokenKind::Assign)
        {
            Some(index) if net_brackets(&lead[index + 1..]) == 0 => lead.split_off(index + 1),
            _ => Vec::new(),
        };
        FormatLine {
            lead,
            assign,
            comment,
        }
    }

    fn is_blank(&self) -> bool {
        self.lead.is_empty()
    }
}

fn columns(cell: &[Placed<'_>]) -> usize {
    cell.iter()
        .map(|placed| placed.spaces_before + text_columns(&placed.token.text))
        .sum()
}

/// Columns as hclwrite counts them: one per grapheme cluster. Approximated without a
/// segmentation table: combining marks, variation selectors, emoji modifiers and characters
/// joined by a zero-width joiner add nothing, and a pair of regional indicators (a flag) is one.
fn text_columns(text: &str) -> usize {
    let mut count = 0;
    let mut after_joiner = false;
    let mut open_flag = false;
    for c in text.chars() {
        let code = u32::from(c);
        let extends = matches!(code,
            0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF
            | 0xFE20..=0xFE2F | 0xFE00..=0xFE0F | 0x200C | 0x200D | 0x1F3FB..=0x1F3FF
            | 0xE0020..=0xE007F | 0xE0100..=0xE01EF);
        if extends {
            after_joiner = code == 0x200D;
            continue;
        }
        if after_joiner {
            after_joiner = false;
            continue;
        }
        if (0x1F1E6..=0x1F1FF).contains(&code) {
            open_flag = !open_flag;
            if !open_flag {
                continue;
            }
        } else {
            open_flag = false;
        }
        count += 1;
    }
    count
}

// ---------------------------------------------------------------------------------------------
// The passes

/// hclwrite's indent stack: a line with a net opening of brackets is indented at the current
/// level and pushes one level (however many brackets it opened); a line with a net closing pops
/// levels until that many brackets are closed, and is indented at the level it lands on.
fn indent_lines(lines: &mut [FormatLine<'_>]) {
    let mut indents: Vec<i32> = Vec::new();
    for line in lines.iter_mut() {
        if line.is_blank() {
            continue;
        }
        let net = net_brackets(line.lead.iter().chain(&line.assign));
        if net < 0 {
            let mut closed = -net;
            while closed > 0 {
                let Some(top) = indents.last_mut() else {
                    break;
                };
                if closed < *top {
                    *top -= closed;
                    closed = 0;
                } else {
                    closed -= *top;
                    indents.pop();
                }
            }
        }
        line.lead[0].spaces_before = 2 * indents.len();
        if net > 0 {
            indents.push(net);
        }
    }
}

fn space_lines(lines: &mut [FormatLine<'_>]) {
    for line in lines.iter_mut() {
        space_cell(&mut line.lead);
        space_cell(&mut line.assign);
        if let Some(first) = line.assign.first_mut() {
            first.spaces_before = 1;
        }
        if let Some(comment) = &mut line.comment {
            comment.spaces_before = 1;
        }
    }
}

/// Sets the spaces between the tokens of one cell; the first token's are left to the caller.
fn space_cell(cell: &mut [Placed<'_>]) {
    for index in 1..cell.len() {
        let before = index
            .checked_sub(2)
            .map(|before| cell[before].token.kind_and_text());
        let subject = cell[index - 1].token.kind_and_text();
        let after = cell[index].token.kind_and_text();
        cell[index].spaces_before = usize::from(space_between(before, subject, after));
    }
}

impl Token<'_> {
    fn kind_and_text(&self) -> (TokenKind, &str) {
        (self.kind, &self.text)
    }
}

/// hclwrite's `spaceAfterToken`: whether `subject` is followed by a space when `after` comes
/// next (`before` is the token before `subject`, if any). The case order matters.
fn space_between(
    before: Option<(TokenKind, &str)>,
    (subject, subject_text): (TokenKind, &str),
    (after, _): (TokenKind, &str),
) -> bool {
    use TokenKind as K;
    let before = before.map(|(kind, _)| kind);
    match (subject, after) {
        (K::Ident, K::OpenParen) => false,
        (K::Ident, K::DoubleColon) | (K::DoubleColon, K::Ident) => false,
        (K::Dot, _) | (_, K::Dot) => false,
        (_, K::Comma | K::Ellipsis) => false,
        (K::Comma, _) => true,
        // `[for x in [a, b] : x]`: `in` is the keyword here, not a name being indexed.
        (K::Ident, _) if subject_text == "in" && before == Some(K::Ident) => true,
        (K::Ident | K::Number, K::OpenBracket) => false,
        (_, K::OpenBracket) if subject.bracket_change() < 0 => false,
        (K::Bang, _) => false,
        (K::Minus, _) => !minus_is_negation(before),
        (K::OpenBrace, K::CloseBrace) => false,
        (K::OpenBrace, _) | (_, K::CloseBrace) => true,
        _ if subject.bracket_change() > 0 => false,
        _ if after.bracket_change() < 0 => false,
        _ => true,
    }
}

/// A `-` is a negation (no space after it) when what precedes it cannot end an operand.
fn minus_is_negation(before: Option<TokenKind>) -> bool {
    use TokenKind as K;
    match before {
        None => true,
        Some(kind) => matches!(
            kind,
            K::OpenParen
                | K::OpenBrace
                | K::OpenBracket
                | K::Assign
                | K::Colon
                | K::Comma
                | K::Question
                // Not in hclwrite (which writes `k => - 1`); a value after `=>` is an operand.
                | K::FatArrow
                | K::Plus
                | K::Star
                | K::Slash
                | K::Percent
                | K::Minus
                | K::EqualOp
                | K::NotEqual
                | K::Greater
                | K::GreaterEqual
                | K::Less
                | K::LessEqual
                | K::And
                | K::Or
                | K::Bang
        ),
    }
}

/// Runs of consecutive lines that hold an `assign` cell get their `=` in one column.
fn align_assignments(lines: &mut [FormatLine<'_>]) {
    for run in runs(lines, |line| !line.assign.is_empty()) {
        let widest = run.iter().map(|line| columns(&line.lead)).max();
        let widest = widest.unwrap_or_default();
        for line in run {
            let padding = widest - columns(&line.lead) + 1;
            line.assign[0].spaces_before = padding;
        }
    }
}

/// Runs of consecutive lines that end in a line comment get their comments in one column.
fn align_comments(lines: &mut [FormatLine<'_>]) {
    for run in runs(lines, |line| line.comment.is_some()) {
        let width = |line: &FormatLine<'_>| columns(&line.lead) + columns(&line.assign);
        let widest = run.iter().map(width).max().unwrap_or_default();
        for line in run {
            let padding = widest - width(line) + 1;
            if let Some(comment) = &mut line.comment {
                comment.spaces_before = padding;
            }
        }
    }
}

/// The maximal runs of consecutive lines for which `member` holds.
fn runs<'l, 'a>(
    lines: &'l mut [FormatLine<'a>],
    member: impl Fn(&FormatLine<'a>) -> bool,
) -> Vec<&'l mut [FormatLine<'a>]> {
    let mut runs = Vec::new();
    let mut rest = lines;
    while let Some(start) = rest.iter().position(&member) {
        let tail = std::mem::take(&mut rest).split_at_mut(start).1;
        let length = tail
            .iter()
            .position(|line| !member(line))
            .unwrap_or(tail.len());
        let (run, remaining) = tail.split_at_mut(length);
        runs.push(run);
        rest = remaining;
    }
    runs
}

fn render(lines: &[FormatLine<'_>]) -> String {
    let mut rendered: Vec<String> = lines
        .iter()
        .map(|line| {
            let mut out = String::new();
            for placed in line.lead.iter().chain(&line.assign).chain(&line.comment) {
                out.extend(std::iter::repeat_n(' ', placed.spaces_before));
                out.push_str(&placed.token.text);
            }
            out
        })
        .collect();
    while rendered.last().is_some_and(String::is_empty) {
        rendered.pop();
    }
    if rendered.is_empty() {
        return String::new();
    }
    let mut out = rendered.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn formats(input: &str, expected: &str) {
        let formatted = format_source(input).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            formatted, expected,
            "\n--- got:\n{formatted}\n--- expected:\n{expected}"
        );
        let again = format_source(&formatted).expect("formatted text formats");
        assert_eq!(again, formatted, "not idempotent");
    }

    #[test]
    fn spaces_around_equals_and_indentation() {
        formats("a=1\n", "a = 1\n");
        formats(
            "locals {\nx=1\n    y   =   \"two\"\n}\n",
            "locals {\n  x = 1\n  y = \"two\"\n}\n",
        );
    }

    #[test]
    fn aligns_consecutive_attributes_only() {
        formats(
            "resource \"kafka_topic\" \"t\" {\n  name = \"orders\"\n  partitions = 3\n\n  config = {}\n  replication_factor = 3 # rf\n  # comment line breaks the run\n  x = 1\n}\n",
            "resource \"kafka_topic\" \"t\" {\n  name       = \"orders\"\n  partitions = 3\n\n  config             = {}\n  replication_factor = 3 # rf\n  # comment line breaks the run\n  x = 1\n}\n",
        );
    }

    #[test]
    fn nested_block_and_multi_line_value_break_alignment() {
        formats(
            "a = 1\nbbbb = {\nk = 1\nlonger_key = 2\n}\nc = 3\ndd = 4\nblock {\n}\ne = 5\n",
            "a = 1\nbbbb = {\n  k          = 1\n  longer_key = 2\n}\nc  = 3\ndd = 4\nblock {\n}\ne = 5\n",
        );
    }

    #[test]
    fn nested_blocks() {
        formats(
            "resource \"aws_msk_cluster\"   \"target\"{\ncluster_name=\"orders\"\nbroker_node_group_info{\ninstance_type=\"kafka.m5.large\"\nstorage_info {\nebs_storage_info {\nvolume_size = 1000\n}\n}\n}\nlifecycle { prevent_destroy = true }\nempty {}\nempty_spaced { }\n}\n",
            "resource \"aws_msk_cluster\" \"target\" {\n  cluster_name = \"orders\"\n  broker_node_group_info {\n    instance_type = \"kafka.m5.large\"\n    storage_info {\n      ebs_storage_info {\n        volume_size = 1000\n      }\n    }\n  }\n  lifecycle { prevent_destroy = true }\n  empty {}\n  empty_spaced {}\n}\n",
        );
    }

    #[test]
    fn comments_of_all_three_kinds() {
        formats(
            "# leading hash   \n// leading slashes\n/* block */\nlocals {\n/* multi\n   line   \n   comment */\n    a = 1   # one\n  bbb = 22 // two\nc = /* inline */ 3\n      # inner\n}\n",
            "# leading hash\n// leading slashes\n/* block */\nlocals {\n  /* multi\n   line\n   comment */\n  a   = 1  # one\n  bbb = 22 // two\n  c   = /* inline */ 3\n  # inner\n}\n",
        );
    }

    #[test]
    fn trailing_comments_align_across_non_assignment_lines() {
        formats(
            "foo {} # here we go\na = 1 # foo\nbungle = \"bonce\" # baz\n",
            "foo {}           # here we go\na      = 1       # foo\nbungle = \"bonce\" # baz\n",
        );
    }

    #[test]
    fn heredocs_are_untouched() {
        let input = "locals {\nscript = <<EOF\n  keep   this   \n${ var.x }  = not an attribute\n}\nEOF\nindented = <<-EOT\n      a = b\n    EOT\n  other = 1\n}\n";
        formats(
            input,
            "locals {\n  script   = <<EOF\n  keep   this   \n${ var.x }  = not an attribute\n}\nEOF\n  indented = <<-EOT\n      a = b\n    EOT\n  other    = 1\n}\n",
        );
    }

    #[test]
    fn heredoc_delimiter_inside_text_and_empty_heredoc() {
        formats(
            "a = <<EOF\nnot EOF here\nEOFX\n  EOF\nb = <<EOF\nEOF\n",
            "a = <<EOF\nnot EOF here\nEOFX\n  EOF\nb = <<EOF\nEOF\n",
        );
    }

    #[test]
    fn heredoc_as_function_argument() {
        formats(
            "x = jsonencode(yamldecode(<<EOF\nk: v\nEOF\n))\n",
            "x = jsonencode(yamldecode(<<EOF\nk: v\nEOF\n))\n",
        );
    }

    #[test]
    fn multi_line_arrays_objects_and_calls() {
        formats(
            "topics = [\n\"a\",\n  \"b\" ,\n]\nconfig = {\n\"retention.ms\" = 1000\n  \"cleanup.policy\" = \"delete\"\n  nested = {\n  x = [ 1,2 ]\n  }\n}\nv = merge(\nlocal.a,\n  { b = 1 },\n)\n",
            "topics = [\n  \"a\",\n  \"b\",\n]\nconfig = {\n  \"retention.ms\"   = 1000\n  \"cleanup.policy\" = \"delete\"\n  nested = {\n    x = [1, 2]\n  }\n}\nv = merge(\n  local.a,\n  { b = 1 },\n)\n",
        );
    }

    #[test]
    fn expressions_spacing() {
        formats(
            "a = b [ 0 ]\nc = foo ( 1,-2,x*y )\nd = ! var.enabled\ne = var.a==1 ? -1 : var.b-var.c\nf = aws_msk_cluster.target . arn\ng = [ for t in kafka_topic.mirrored : t.name if t.partitions>1 ]\nh = { for k , v in var.m : k => -v }\ni = [ for x in [1,2] : x ]\nj = var.list[*].id\nk = f(var.xs ...)\nl = (1+2)*3\nm = \"x\" [0]\n",
            "a = b[0]\nc = foo(1, -2, x * y)\nd = !var.enabled\ne = var.a == 1 ? -1 : var.b-var.c\nf = aws_msk_cluster.target.arn\ng = [for t in kafka_topic.mirrored : t.name if t.partitions > 1]\nh = { for k, v in var.m : k => -v }\ni = [for x in [1, 2] : x]\nj = var.list[*].id\nk = f(var.xs...)\nl = (1 + 2) * 3\nm = \"x\" [0]\n",
        );
    }

    #[test]
    fn templates_with_braces_and_equals_are_untouched() {
        formats(
            "a   =   \"${ var.x }={ %{ if true }} ${ {a = 1}[\"a\"] } %{ endif }\"\nbb = \"$${literal} %%{also} \\\" { = }\"\nc = \"${ jsonencode({ \"k\" = \"}\" }) }\"\n",
            "a  = \"${ var.x }={ %{ if true }} ${ {a = 1}[\"a\"] } %{ endif }\"\nbb = \"$${literal} %%{also} \\\" { = }\"\nc  = \"${ jsonencode({ \"k\" = \"}\" }) }\"\n",
        );
    }

    #[test]
    fn crlf_input_becomes_lf() {
        formats(
            "locals {\r\n  a = 1\r\n\r\n  bb = 2 # c \r\n}\r\n",
            "locals {\r\n  a = 1\r\n\r\n  bb = 2 # c\r\n}\r\n"
                .replace("\r\n", "\n")
                .as_str(),
        );
    }

    #[test]
    fn crlf_inside_heredoc_is_kept_because_it_is_part_of_the_value() {
        let input = "x = <<EOF\r\nline\r\nEOF\r\ny=1\r\n";
        let formatted = format_source(input).unwrap();
        assert_eq!(formatted, "x = <<EOF\r\nline\r\nEOF\ny = 1\n");
        assert_eq!(format_source(&formatted).unwrap(), formatted);
    }

    #[test]
    fn unicode_counts_columns_not_bytes() {
        formats(
            "𝒜 = 1 # foo\nbungle = \"🇬🇧\" # baz\nzebra = \"striped\" # baz\nnaïve = \"é\"\n",
            "𝒜      = 1         # foo\nbungle = \"🇬🇧\"       # baz\nzebra  = \"striped\" # baz\nnaïve  = \"é\"\n",
        );
    }

    #[test]
    fn vertical_whitespace_kept_trailing_removed() {
        formats("\n\na = 1\n\n\n\nb = 2\n\n\n", "\n\na = 1\n\n\n\nb = 2\n");
        formats("a = 1", "a = 1\n");
        formats("a = 1   \t\n", "a = 1\n");
        formats("", "");
        formats("\n\n  \n", "");
        formats("# only a comment", "# only a comment\n");
    }

    #[test]
    fn identifiers_with_dashes_are_not_subtractions() {
        formats("a = foo-bar\nb = 1-2\n", "a = foo-bar\nb = 1 - 2\n");
    }

    #[test]
    fn single_line_object_with_several_items() {
        formats(
            "x = {a=1,b=\"two\"}\ny = {}\nz = { }\n",
            "x = { a = 1, b = \"two\" }\ny = {}\nz = {}\n",
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_an_error_with_a_span() {
        let error = format_source("locals {\n  a = \n}\n").expect_err("syntax error");
        let FormatError::Syntax(diagnostic) = &error else {
            panic!("expected a syntax error, got {error:?}");
        };
        let rendered = diagnostic.render(None);
        assert!(rendered.contains("--> <input>:"), "{rendered}");
        assert!(format_source("a = \"unterminated\n").is_err());
        assert!(format_source("block {\n").is_err());
    }

    #[test]
    fn the_safety_net_rejects_a_change_of_meaning() {
        assert_eq!(check_same_meaning("a = 1\n", "a  =  1\n"), Ok(()));
        assert!(check_same_meaning("a = 1\n", "a = 2\n").is_err());
        assert!(check_same_meaning("a = \"x y\"\n", "a = \"x  y\"\n").is_err());
        assert!(check_same_meaning("a = 1 # c\n", "a = 1\n").is_err());
        assert!(check_same_meaning("a = 1\n", "a = \n").is_err());
    }

    /// Inputs exercising every rule; each must format without tripping the safety net, and
    /// formatting the result must change nothing.
    const CORPUS: &[&str] = &[
        include_str!("../../tests/fixtures/fmt/migration.hcl.in"),
        include_str!("../../tests/fixtures/fmt/expressions.hcl.in"),
        "cluster \"legacy\" {\nbootstrap_servers = [\"10.0.1.10:9092\"]\n  broker_version    = \"0.8.2\"          # sets librdkafka's api version fallback\n zookeeper         = \"10.0.1.20:2181\" # optional\n}\n",
        "data \"kafka_topics\" \"legacy\" {\n  cluster = cluster.legacy\n  include = [\"orders\\\\..*\"]\n}\n",
        "x = [\n[\n1,\n2\n],[3]\n]\n",
        "x = [[\n[\na\n]]\n]\n",
        "a = (\n1 +\n2\n)\n",
        "a = <<EOT\n%{ for x in [1, 2] ~}\n${x}\n%{ endfor ~}\nEOT\n",
        "a = \"${\nvar.multi_line_interpolation\n}\"\n",
        "a = 1 /* block at the end */\nbb = 2 /* another */\n",
        "f = provider::aws::arn_parse(\"x\")\n",
        "a = -1\nb = - 1\nc = 2 - -1\nd = !(true)\ne = [-1, - 2]\n",
        "a = {\n  \"key with = sign\" = 1\n  (var.k)            = 2\n  plain: 3\n}\n",
        "a = \"tab\there\"\t# tab before comment\n\tb\t=\t2\n",
    ];

    #[test]
    fn corpus_is_idempotent_and_meaning_preserving() {
        for input in CORPUS {
            let formatted =
                format_source(input).unwrap_or_else(|error| panic!("{error}\ninput:\n{input}"));
            let again =
                format_source(&formatted).unwrap_or_else(|error| panic!("{error}\n{formatted}"));
            assert_eq!(again, formatted, "not idempotent for:\n{input}");
        }
    }

    #[test]
    fn byte_order_mark_and_stray_brace_are_syntax_errors() {
        for input in ["\u{FEFF}a = 1\n", "locals {\n  a = 1\n  }\n}\n"] {
            assert!(matches!(format_source(input), Err(FormatError::Syntax(_))));
        }
    }

    /// A small deterministic generator (xorshift), so the perturbation test needs no crate.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % bound
        }

        fn whitespace(&mut self, minimum: u64) -> String {
            let count = minimum + self.below(4);
            (0..count)
                .map(|_| if self.below(4) == 0 { '\t' } else { ' ' })
                .collect()
        }
    }

    /// Rewrites every gap between tokens outside strings, heredocs and comments: random
    /// spaces and tabs where there was whitespace (and sometimes where there was none),
    /// random trailing whitespace, and `\r\n` for some line endings.
    fn perturb(text: &str, rng: &mut Rng) -> String {
        let mut lexer = Lexer { text, pos: 0 };
        let mut out = String::new();
        loop {
            let gap_start = lexer.pos;
            lexer.skip_horizontal_whitespace();
            let had_space = lexer.pos > gap_start;
            let start = lexer.pos;
            let Some(token) = lexer.next_token().expect("formatted text lexes") else {
                break;
            };
            let at_line_start = out.is_empty() || out.ends_with('\n');
            let minimum = u64::from(had_space && !at_line_start);
            if had_space || at_line_start || rng.below(8) == 0 {
                out.push_str(&rng.whitespace(minimum));
            }
            match token.kind {
                TokenKind::Newline if rng.below(3) == 0 => out.push_str("\r\n"),
                _ => out.push_str(&text[start..lexer.pos]),
            }
        }
        out
    }

    #[test]
    fn horizontal_whitespace_does_not_matter() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut checked = 0;
        for input in CORPUS {
            let canonical = format_source(input).unwrap();
            for _ in 0..40 {
                let perturbed = perturb(&canonical, &mut rng);
                match format_source(&perturbed) {
                    Ok(formatted) => {
                        assert_eq!(formatted, canonical, "perturbed input:\n{perturbed}");
                        checked += 1;
                    }
                    // Some inserted spaces are not valid HCL (`var . x`); nothing was written.
                    Err(FormatError::Syntax(_)) => {}
                    Err(error) => panic!("{error}\nperturbed input:\n{perturbed}"),
                }
            }
        }
        assert!(
            checked > CORPUS.len() * 20,
            "only {checked} perturbed inputs parsed"
        );
    }

    #[test]
    fn fixtures_format_to_their_golden_files() {
        let pairs = [
            (
                include_str!("../../tests/fixtures/fmt/migration.hcl.in"),
                include_str!("../../tests/fixtures/fmt/migration.hcl.out"),
            ),
            (
                include_str!("../../tests/fixtures/fmt/expressions.hcl.in"),
                include_str!("../../tests/fixtures/fmt/expressions.hcl.out"),
            ),
        ];
        for (input, expected) in pairs {
            formats(input, expected);
            formats(expected, expected);
        }
    }
}
