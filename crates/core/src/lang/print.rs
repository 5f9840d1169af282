//! AST -> DSL text. Used by `explain` (a condition shown as the author would write it), by the
//! checker (two conditions are identical when they print the same) and by the round-trip tests
//! (parse(print(ast)) prints the same again).
use std::fmt::Write as _;

use super::ast::*;

/// The language's keywords: a path segment with one of these names must be quoted.
pub const KEYWORDS: &[&str] = &[
    "rule", "let", "when", "to", "topic", "webhook", "store", "drop", "stop", "default", "priority",
    "description", "key", "transform", "header", "and", "or", "not", "in", "matches", "like",
    "starts_with", "ends_with", "equals_ignore_case", "contains", "any", "all", "exists", "between",
    "in_cidr", "true", "false", "null", "method", "timeout", "retry", "backoff", "sign",
];

pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// Whether a segment can be written bare: `[A-Za-z_][A-Za-z0-9_-]*` and not a keyword.
fn is_bare_segment(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !is_keyword(s)
}

pub fn string_literal(s: &str) -> String {
    // Serializing a string cannot fail (proven invariant of serde_json).
    serde_json::to_string(s).unwrap_or_default()
}

pub fn literal(lit: &Literal) -> String {
    match lit {
        Literal::String(s) => string_literal(s),
        Literal::Number(n) => n.to_string(),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => "null".to_string(),
    }
}

pub fn path(p: &Path) -> String {
    segments(&p.segments)
}

pub fn segments(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, seg) in segments.iter().enumerate() {
        match seg {
            Segment::Field(name) => {
                if i > 0 {
                    out.push('.');
                }
                if is_bare_segment(name) {
                    out.push_str(name);
                } else {
                    out.push_str(&string_literal(name));
                }
            }
            Segment::Index(n) => {
                let _ = write!(out, "[{n}]");
            }
        }
    }
    out
}

fn list(items: &[Spanned<Literal>]) -> String {
    let parts: Vec<String> = items.iter().map(|l| literal(&l.value)).collect();
    format!("[{}]", parts.join(", "))
}

/// A regex literal: `/` inside the pattern is written `\/` (unless already escaped).
fn regex(pattern: &str, flags: &str) -> String {
    let mut out = String::from("/");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '/' => out.push_str("\\/"),
            _ => out.push(c),
        }
    }
    out.push('/');
    out.push_str(flags);
    out
}

/// The operator and its operands, without the path: `>= 1000`, `matches /a.*/i`.
pub fn operator(op: &Operator) -> String {
    match op {
        Operator::Eq(l) => format!("== {}", literal(&l.value)),
        Operator::Ne(l) => format!("!= {}", literal(&l.value)),
        Operator::Ord(o, l) => format!("{} {}", o.symbol(), literal(&l.value)),
        Operator::Between(a, b) => format!("between {} and {}", literal(&a.value), literal(&b.value)),
        Operator::In(items) => format!("in {}", list(items)),
        Operator::NotIn(items) => format!("not in {}", list(items)),
        Operator::Matches { pattern, flags } => format!("matches {}", regex(&pattern.value, flags)),
        Operator::Like(s) => format!("like {}", string_literal(&s.value)),
        Operator::StartsWith(s) => format!("starts_with {}", string_literal(&s.value)),
        Operator::EndsWith(s) => format!("ends_with {}", string_literal(&s.value)),
        Operator::EqualsIgnoreCase(s) => format!("equals_ignore_case {}", string_literal(&s.value)),
        Operator::Contains(l) => format!("contains {}", literal(&l.value)),
        Operator::ContainsAny(items) => format!("contains any {}", list(items)),
        Operator::ContainsAll(items) => format!("contains all {}", list(items)),
        Operator::InCidr(s) => format!("in_cidr {}", string_literal(&s.value)),
        Operator::Exists => "exists".to_string(),
    }
}

pub fn predicate(p: &Predicate) -> String {
    match p.op {
        Operator::Exists => format!("exists {}", path(&p.path)),
        _ => format!("{} {}", path(&p.path), operator(&p.op)),
    }
}

/// Precedence levels, loosest first, to know where parentheses are needed.
#[derive(PartialEq, PartialOrd, Clone, Copy)]
enum Level {
    Or,
    And,
    Not,
}

pub fn condition(c: &Condition) -> String {
    condition_at(c, Level::Or)
}

fn condition_at(c: &Condition, level: Level) -> String {
    let (text, own) = match &c.kind {
        ConditionKind::Or(parts) => {
            (parts.iter().map(|p| condition_at(p, Level::And)).collect::<Vec<_>>().join(" or "), Level::Or)
        }
        ConditionKind::And(parts) if parts.len() == 1 => return condition_at(&parts[0], level),
        ConditionKind::And(parts) => {
            (parts.iter().map(|p| condition_at(p, Level::Not)).collect::<Vec<_>>().join(" and "), Level::And)
        }
        ConditionKind::Not(inner) => (format!("not {}", condition_at(inner, Level::Not)), Level::Not),
        ConditionKind::Group(inner) => (format!("({})", condition_at(inner, Level::Or)), Level::Not),
        ConditionKind::Predicate(p) => (predicate(p), Level::Not),
        ConditionKind::LetRef(name) => (name.clone(), Level::Not),
        ConditionKind::EventPattern(p) => (format!("event_pattern {}", p.text), Level::Not),
        ConditionKind::Quantifier { all, path: p, condition: inner } => (
            format!("{} {} ({})", if *all { "all" } else { "any" }, path(p), condition_at(inner, Level::Or)),
            Level::Not,
        ),
    };
    if own < level {
        format!("({text})")
    } else {
        text
    }
}

fn duration(d: &Duration) -> String {
    format!("{}{}", d.amount, d.unit_str())
}

fn header(h: &Header) -> String {
    format!("header {} = {}", string_literal(&h.name.value), string_literal(&h.value.value))
}

pub fn action(a: &Action) -> String {
    match &a.kind {
        ActionKind::Topic { name, keys, transforms, headers } => {
            let mut out = format!("to topic {}", string_literal(&name.value));
            for k in keys {
                let _ = write!(out, " key {}", path(k));
            }
            for t in transforms {
                let _ = write!(out, " transform {}", string_literal(&t.value));
            }
            for h in headers {
                let _ = write!(out, " {}", header(h));
            }
            out
        }
        ActionKind::Webhook { url, transform, options } => {
            let mut out = format!("to webhook {}", string_literal(&url.value));
            if let Some(t) = transform {
                let _ = write!(out, " transform {}", string_literal(&t.value));
            }
            if let Some(options) = options {
                out.push_str(" {");
                for o in options {
                    out.push_str("\n    ");
                    match o {
                        WebhookOption::Method(m) => {
                            let _ = write!(out, "method {}", m.value.as_str());
                        }
                        WebhookOption::Header(h) => out.push_str(&header(h)),
                        WebhookOption::Timeout(d) => {
                            let _ = write!(out, "timeout {}", duration(&d.value));
                        }
                        WebhookOption::Retry { attempts, backoff } => {
                            let _ = write!(out, "retry {}", attempts.value);
                            if let Some((min, max)) = backoff {
                                let _ = write!(out, " backoff {}..{}", duration(&min.value), duration(&max.value));
                            }
                        }
                        WebhookOption::Sign(s) => {
                            let _ = write!(out, "sign {}", string_literal(&s.value));
                        }
                    }
                }
                out.push_str("\n  }");
            }
            out
        }
        ActionKind::Store => "to store".to_string(),
        ActionKind::Drop => "drop".to_string(),
        ActionKind::Stop => "stop".to_string(),
    }
}

pub fn file(f: &File) -> String {
    let mut out = String::new();
    for item in &f.items {
        match item {
            Item::Let(l) => {
                let _ = writeln!(out, "let {} = {}\n", l.name.value, condition(&l.condition));
            }
            Item::Rule(r) => {
                let _ = writeln!(out, "rule {} {{", r.name.value);
                for d in &r.descriptions {
                    let _ = writeln!(out, "  description {}", string_literal(&d.value));
                }
                for p in &r.priorities {
                    let _ = writeln!(out, "  priority {}", p.value);
                }
                let _ = writeln!(out, "  when {}", condition(&r.condition));
                for a in &r.actions {
                    let _ = writeln!(out, "  {}", action(a));
                }
                out.push_str("}\n\n");
            }
            Item::Default(d) => {
                out.push_str("default {\n");
                for a in &d.actions {
                    let _ = writeln!(out, "  {}", action(a));
                }
                out.push_str("}\n\n");
            }
        }
    }
    out
}
