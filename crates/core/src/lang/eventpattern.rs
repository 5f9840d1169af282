//! AWS EventBridge event patterns as conditions: a YAML-form rule may give `event_pattern:` (a
//! mapping, or a string holding JSON) instead of `condition:`.
//!
//! Supported, with EventBridge's semantics (docs/routing-language.md, "EventBridge patterns"):
//! exact strings, numbers (by value), booleans and null; `prefix`, `suffix` (each also with
//! `{"equals-ignore-case": ...}`), `equals-ignore-case`, `wildcard`, `anything-but` (a value, a
//! list, or `{prefix|suffix|equals-ignore-case|wildcard: ...}`), `numeric`, `exists`, `cidr`, and
//! `$or` at any level. A leaf is always a list, matching when any event value there (any element
//! of an array) matches any entry. A nested mapping over an array of objects matches when one
//! element satisfies all of it (Event Ruler's array consistency, `rulesForJSONEvent`).
use std::sync::Arc;

use serde_json::{Number, Value};

use super::ast::{OrdOp, Segment};
use super::compile::{ignore_case_regex, matches_regex};
use super::ir::{Cond, Each, IpBlock, Pred, Test, NO_PRED};

/// A parsed, validated event pattern. `text` is its compact JSON, shown by `explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPattern {
    pub text: String,
    root: Object,
}

#[derive(Debug, Clone, PartialEq)]
struct Object {
    fields: Vec<(String, Field)>,
    /// Each `$or`: alternatives at this level.
    ors: Vec<Vec<Object>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Nested(Object),
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Exact(Value),
    Prefix { text: String, ignore_case: bool },
    Suffix { text: String, ignore_case: bool },
    EqualsIgnoreCase(String),
    Wildcard(String),
    /// Any value that is none of these; `Box` of a matcher for the `{prefix: ...}` forms.
    AnythingBut(Vec<Matcher>),
    Numeric(Vec<(NumOp, Number)>),
    Exists(bool),
    Cidr(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumOp {
    Eq,
    Ord(OrdOp),
}

/// Parses a pattern given as JSON. Errors name the place in the pattern (`detail.amount[0]`).
pub fn parse(value: &Value) -> Result<EventPattern, String> {
    let root = match value {
        Value::Object(_) => object(value, "")?,
        _ => return Err("an event pattern is a JSON object".to_string()),
    };
    if root.fields.is_empty() && root.ors.is_empty() {
        return Err("an empty event pattern: name at least one field".to_string());
    }
    Ok(EventPattern { text: value.to_string(), root })
}

/// `at.key` (`key` at the top): a place in the pattern, for errors, and a path's text, for explain.
fn place(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn object(value: &Value, at: &str) -> Result<Object, String> {
    let Value::Object(map) = value else { return Err(format!("{at}: expected an object")) };
    let mut out = Object { fields: Vec::new(), ors: Vec::new() };
    for (key, v) in map {
        let here = place(at, key);
        if key == "$or" {
            let Value::Array(alts) = v else { return Err(format!("{here}: `$or` takes a list of patterns")) };
            if alts.is_empty() {
                return Err(format!("{here}: `$or: []` never matches"));
            }
            let alts = alts.iter().enumerate().map(|(i, a)| object(a, &format!("{here}[{i}]"))).collect::<Result<_, _>>()?;
            out.ors.push(alts);
            continue;
        }
        let field = match v {
            Value::Object(_) => {
                let o = object(v, &here)?;
                if o.fields.is_empty() && o.ors.is_empty() {
                    return Err(format!("{here}: an empty object matches nothing (name a field, or use exists)"));
                }
                Field::Nested(o)
            }
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(format!("{here}: an empty list matches nothing"));
                }
                Field::Leaf(items.iter().enumerate().map(|(i, m)| matcher(m, &format!("{here}[{i}]"))).collect::<Result<_, _>>()?)
            }
            other => {
                return Err(format!("{here}: a leaf is a list of values or matchers, e.g. [{other}]"));
            }
        };
        out.fields.push((key.clone(), field));
    }
    Ok(out)
}

fn string_of<'a>(v: &'a Value, at: &str, what: &str) -> Result<&'a str, String> {
    v.as_str().ok_or_else(|| format!("{at}: `{what}` takes a string"))
}

fn wildcard_check(text: &str, at: &str) -> Result<(), String> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('*') | Some('\\') => {}
                _ => return Err(format!("{at}: in a wildcard, a backslash escapes only `*` or `\\`")),
            }
        }
    }
    if text.contains("**") {
        return Err(format!("{at}: consecutive wildcard characters (`**`) are not allowed"));
    }
    Ok(())
}

fn matcher(v: &Value, at: &str) -> Result<Matcher, String> {
    let map = match v {
        Value::Object(map) => map,
        Value::Array(_) => return Err(format!("{at}: a list inside a leaf list")),
        scalar => return Ok(Matcher::Exact(scalar.clone())),
    };
    if map.len() != 1 {
        return Err(format!("{at}: a matcher object has exactly one key"));
    }
    let (name, arg) = map.iter().next().expect("one entry");
    Ok(match name.as_str() {
        "prefix" | "suffix" => {
            let (text, ignore_case) = match arg {
                Value::String(s) => (s.clone(), false),
                Value::Object(m) if m.len() == 1 && m.contains_key("equals-ignore-case") => {
                    (string_of(&m["equals-ignore-case"], at, "equals-ignore-case")?.to_string(), true)
                }
                _ => return Err(format!("{at}: `{name}` takes a string or {{\"equals-ignore-case\": string}}")),
            };
            if name == "prefix" {
                Matcher::Prefix { text, ignore_case }
            } else {
                Matcher::Suffix { text, ignore_case }
            }
        }
        "equals-ignore-case" => Matcher::EqualsIgnoreCase(string_of(arg, at, name)?.to_string()),
        "wildcard" => {
            let text = string_of(arg, at, name)?;
            wildcard_check(text, at)?;
            Matcher::Wildcard(text.to_string())
        }
        "exists" => match arg {
            Value::Bool(b) => Matcher::Exists(*b),
            _ => return Err(format!("{at}: `exists` takes true or false")),
        },
        "cidr" => {
            let text = string_of(arg, at, name)?;
            IpBlock::parse(text).map_err(|e| format!("{at}: `cidr` {text:?}: {e}"))?;
            Matcher::Cidr(text.to_string())
        }
        "numeric" => Matcher::Numeric(numeric(arg, at)?),
        "anything-but" => Matcher::AnythingBut(match arg {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(format!("{at}: `anything-but: []`: name at least one value"));
                }
                items
                    .iter()
                    .map(|i| match i {
                        Value::Object(_) | Value::Array(_) => Err(format!("{at}: an `anything-but` list holds values")),
                        s => Ok(Matcher::Exact(s.clone())),
                    })
                    .collect::<Result<_, _>>()?
            }
            Value::Object(m) if m.len() == 1 => {
                let (inner, a) = m.iter().next().expect("one entry");
                let texts: Vec<String> = match a {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(items) if !items.is_empty() => {
                        items.iter().map(|i| string_of(i, at, inner).map(str::to_string)).collect::<Result<_, _>>()?
                    }
                    _ => return Err(format!("{at}: `anything-but: {{{inner}: ...}}` takes a string or a list of strings")),
                };
                texts
                    .into_iter()
                    .map(|t| match inner.as_str() {
                        "prefix" => Ok(Matcher::Prefix { text: t, ignore_case: false }),
                        "suffix" => Ok(Matcher::Suffix { text: t, ignore_case: false }),
                        "equals-ignore-case" => Ok(Matcher::EqualsIgnoreCase(t)),
                        "wildcard" => wildcard_check(&t, at).map(|()| Matcher::Wildcard(t)),
                        other => Err(format!(
                            "{at}: `anything-but` takes values, or one of prefix, suffix, equals-ignore-case, wildcard; not `{other}`"
                        )),
                    })
                    .collect::<Result<_, _>>()?
            }
            Value::Object(_) => return Err(format!("{at}: `anything-but` takes one matcher")),
            scalar => vec![Matcher::Exact(scalar.clone())],
        }),
        other => {
            return Err(format!(
                "{at}: unknown matcher `{other}` (prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists, cidr)"
            ))
        }
    })
}

fn numeric(arg: &Value, at: &str) -> Result<Vec<(NumOp, Number)>, String> {
    let Value::Array(items) = arg else { return Err(format!("{at}: `numeric` takes a list like [\">\", 0, \"<=\", 5]")) };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return Err(format!("{at}: `numeric` takes one or two (operator, number) pairs"));
    }
    let mut out = Vec::new();
    let (mut lower, mut upper) = (false, false);
    for pair in items.chunks(2) {
        let op = match pair[0].as_str() {
            Some("=") => NumOp::Eq,
            Some("<") => NumOp::Ord(OrdOp::Lt),
            Some("<=") => NumOp::Ord(OrdOp::Le),
            Some(">") => NumOp::Ord(OrdOp::Gt),
            Some(">=") => NumOp::Ord(OrdOp::Ge),
            _ => return Err(format!("{at}: numeric operators are =, <, <=, >, >= (found {})", pair[0])),
        };
        let Value::Number(n) = &pair[1] else { return Err(format!("{at}: `numeric` compares with numbers (found {})", pair[1])) };
        match op {
            NumOp::Eq if items.len() > 2 => return Err(format!("{at}: `=` stands alone in `numeric`")),
            NumOp::Ord(OrdOp::Gt | OrdOp::Ge) if lower => return Err(format!("{at}: two lower bounds in `numeric`")),
            NumOp::Ord(OrdOp::Lt | OrdOp::Le) if upper => return Err(format!("{at}: two upper bounds in `numeric`")),
            NumOp::Ord(OrdOp::Gt | OrdOp::Ge) => lower = true,
            NumOp::Ord(OrdOp::Lt | OrdOp::Le) => upper = true,
            NumOp::Eq => {}
        }
        out.push((op, n.clone()));
    }
    Ok(out)
}

fn leaf_test(m: &Matcher) -> Result<Test, String> {
    Ok(match m {
        Matcher::Exact(v) => Test::Eq(v.clone()),
        Matcher::Prefix { text, ignore_case: false } => Test::StartsWith(text.clone()),
        Matcher::Suffix { text, ignore_case: false } => Test::EndsWith(text.clone()),
        Matcher::Prefix { text, ignore_case: true } => Test::Regex(matches_regex(&format!("{}.*", regex::escape(text)), "is")?),
        Matcher::Suffix { text, ignore_case: true } => Test::Regex(matches_regex(&format!(".*{}", regex::escape(text)), "is")?),
        Matcher::EqualsIgnoreCase(s) => Test::Regex(ignore_case_regex(s)?),
        Matcher::Wildcard(w) => Test::Glob(super::glob::Glob::wildcard(w)),
        Matcher::Numeric(list) => Test::Numeric(list.clone()),
        Matcher::Exists(_) => Test::LeafExists,
        Matcher::Cidr(c) => Test::Cidr(IpBlock::parse(c)?),
        Matcher::AnythingBut(list) => Test::AnythingBut(list.iter().map(leaf_test).collect::<Result<_, _>>()?),
    })
}

fn compile_object(o: &Object, base: &str) -> Result<Cond, String> {
    let mut parts = Vec::new();
    for (key, field) in &o.fields {
        let text = place(base, key);
        let path = vec![Segment::Field(key.clone())];
        match field {
            Field::Nested(inner) => parts.push(Cond::Each(Box::new(Each {
                path,
                path_text: text.clone(),
                cond: compile_object(inner, &text)?,
            }))),
            Field::Leaf(matchers) => {
                let mut alts = Vec::new();
                for m in matchers {
                    let test = leaf_test(m)?;
                    let pred = Arc::new(Pred {
                        path: path.as_slice().into(),
                        path_text: text.as_str().into(),
                        op_text: matcher_text(m).into(),
                        test,
                        slot: super::eval::NO_SLOT,
                    });
                    alts.push(match m {
                        Matcher::Exists(false) => {
                            Cond::Not { cond: Box::new(Cond::Pred(pred, NO_PRED)), text: format!("exists {text}").into() }
                        }
                        _ => Cond::Pred(pred, NO_PRED),
                    });
                }
                parts.push(if alts.len() == 1 { alts.pop().expect("one") } else { Cond::Or(alts.into()) });
            }
        }
    }
    for alts in &o.ors {
        let alts: Vec<Cond> = alts.iter().map(|a| compile_object(a, base)).collect::<Result<_, _>>()?;
        parts.push(Cond::Or(alts.into()));
    }
    Ok(if parts.len() == 1 { parts.pop().expect("one") } else { Cond::And(parts.into()) })
}

fn matcher_text(m: &Matcher) -> String {
    match m {
        Matcher::Exact(v) => format!("== {v}"),
        Matcher::Prefix { text, ignore_case } => format!("prefix {text:?}{}", if *ignore_case { " (ignoring case)" } else { "" }),
        Matcher::Suffix { text, ignore_case } => format!("suffix {text:?}{}", if *ignore_case { " (ignoring case)" } else { "" }),
        Matcher::EqualsIgnoreCase(s) => format!("equals_ignore_case {s:?}"),
        Matcher::Wildcard(w) => format!("wildcard {w:?}"),
        Matcher::Numeric(list) => {
            let parts: Vec<String> = list
                .iter()
                .map(|(op, n)| match op {
                    NumOp::Eq => format!("= {n}"),
                    NumOp::Ord(o) => format!("{} {n}", o.symbol()),
                })
                .collect();
            format!("numeric {}", parts.join(" and "))
        }
        Matcher::Exists(true) => "exists".to_string(),
        Matcher::Exists(false) => "does not exist".to_string(),
        Matcher::Cidr(c) => format!("in_cidr {c:?}"),
        Matcher::AnythingBut(list) => format!("anything-but [{}]", list.iter().map(matcher_text).collect::<Vec<_>>().join(", ")),
    }
}

/// The condition of a pattern, over the envelope root.
pub(crate) fn compile(p: &EventPattern) -> Result<Cond, String> {
    compile_object(&p.root, "")
}
