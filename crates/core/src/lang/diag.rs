//! Diagnostics are data: a code, a message, a span and an optional hint. Rendering (rustc-like
//! text, or the stable JSON of `lint --format json`) is separate, so the checker never formats
//! source lines and the CLI never invents messages.
use std::fmt::Write as _;

use super::ast::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Every diagnostic code. Each one is documented in docs/routing-language.md ("Diagnostics");
/// `E` codes stop a rule set from loading, `W` codes do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Syntax error (DSL).
    E001,
    /// Unknown `let` name.
    E002,
    /// Cyclic `let` definitions.
    E003,
    /// Duplicate rule name in the set.
    E004,
    /// More than one `default` block in the set.
    E005,
    /// Invalid regex (or regex flag).
    E006,
    /// Invalid glob.
    E007,
    /// Invalid CIDR block.
    E008,
    /// Transform file missing.
    E009,
    /// Transform does not compile.
    E010,
    /// Undefined `${VAR}` (or a malformed `${...}`).
    E011,
    /// Ordering comparison (`<`, `between`, `gte`, ...) with a non-number literal.
    E012,
    /// YAML form: the document is not valid YAML.
    E013,
    /// YAML form: the document is valid YAML but not a valid rule document.
    E014,
    /// An action or option written twice, or an invalid action value.
    E015,
    /// Invalid topic template (`{` without `}`, a bad path inside).
    E016,
    /// The same `let` name defined twice.
    E017,
    /// Invalid rule test file (`*.test.yaml`).
    E018,
    /// Invalid literal (number out of range, bad escape, bad duration, leading zero).
    E019,
    /// A rule or the default block without actions (the grammar is `ACTION+`).
    E020,
    /// No longer reported: a rule without actions is error E020 (the code stays reserved).
    W001,
    /// An empty list that never holds (`in []`, `contains any []`).
    W002,
    /// A `let` named like the first segment of a path used in the set.
    W003,
    /// `stop` together with `drop` (drop wins).
    W004,
    /// A condition that can never hold.
    W005,
    /// A rule that can never fire: an earlier `stop`/`drop` rule always fires first.
    W006,
    /// A `let` that no rule uses.
    W007,
    /// `stop`/`drop` in the default block (nothing comes after it).
    W008,
}

impl Code {
    pub fn severity(self) -> Severity {
        if format!("{self:?}").starts_with('E') {
            Severity::Error
        } else {
            Severity::Warning
        }
    }

    pub fn as_str(self) -> String {
        format!("{self:?}")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub span: Span,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic { code, message: message.into(), span, hint: None }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_hint_opt(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

/// A source file as the compiler saw it: the path shown in diagnostics and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// A 1-based line and column (column counted in Unicode scalar values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

/// The line and column of byte offset `pos` in `text`.
pub fn line_col(text: &str, pos: usize) -> LineCol {
    let pos = floor_char_boundary(text, pos.min(text.len()));
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    LineCol { line, column: text[line_start..pos].chars().count() + 1 }
}

fn floor_char_boundary(text: &str, mut pos: usize) -> usize {
    while pos > 0 && !text.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

/// Where a diagnostic points: file path, line and column (for JSON output and tests).
pub fn locate<'a>(files: &'a [SourceFile], d: &Diagnostic) -> (&'a str, LineCol) {
    match files.get(d.span.file) {
        Some(f) => (f.path.as_str(), line_col(&f.text, d.span.start)),
        None => ("<unknown>", LineCol { line: 1, column: 1 }),
    }
}

/// Renders diagnostics like rustc:
///
/// ```text
/// error[E006]: invalid regex: ...
///   --> rules/a.rules:3:26
///    |
///  3 |   when eventType matches /a(/
///    |                          ^^^^
///    = hint: ...
/// ```
pub fn render_text(files: &[SourceFile], diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let _ = writeln!(out, "{}[{}]: {}", d.severity().as_str(), d.code.as_str(), d.message);
        let (path, at) = locate(files, d);
        let gutter = at.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "{pad}--> {path}:{}:{}", at.line, at.column);
        if let Some(f) = files.get(d.span.file) {
            let line_text = f.text.lines().nth(at.line - 1).unwrap_or("");
            let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {}", at.line, line_text);
            let line_len = line_text.chars().count();
            let end = line_col(&f.text, d.span.end);
            let room = (line_len + 1).saturating_sub(at.column).max(1);
            let width = if end.line == at.line { end.column.saturating_sub(at.column) } else { room };
            let width = width.clamp(1, room);
            let _ = writeln!(out, "{pad} | {}{}", " ".repeat(at.column - 1), "^".repeat(width));
        }
        if let Some(hint) = &d.hint {
            let _ = writeln!(out, "{pad} = hint: {hint}");
        }
        out.push('\n');
    }
    let errors = diagnostics.iter().filter(|d| d.severity() == Severity::Error).count();
    let warnings = diagnostics.len() - errors;
    if !diagnostics.is_empty() {
        let _ = writeln!(out, "{errors} error(s), {warnings} warning(s)");
    }
    out
}

/// The stable JSON of `lint --format json`.
pub fn render_json(files: &[SourceFile], diagnostics: &[Diagnostic]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            let (path, at) = locate(files, d);
            let mut obj = serde_json::json!({
                "severity": d.severity().as_str(),
                "code": d.code.as_str(),
                "file": path,
                "line": at.line,
                "column": at.column,
                "message": d.message,
            });
            if let (Some(hint), Some(map)) = (&d.hint, obj.as_object_mut()) {
                map.insert("hint".into(), hint.clone().into());
            }
            obj
        })
        .collect();
    serde_json::json!({ "diagnostics": items })
}
