//! String functions: toLower, toUpper, trim, concat, substring, join, split, leftPad, rightPad.
use serde_json::Value;

use super::{java_str, JNum};

pub fn to_lower(v: &Value) -> Option<Value> {
    v.as_str().map(|s| Value::String(s.to_lowercase()))
}

pub fn to_upper(v: &Value) -> Option<Value> {
    v.as_str().map(|s| Value::String(s.to_uppercase()))
}

/// `String.trim()`: strips every character up to U+0020 from both ends.
pub fn trim(v: &Value) -> Option<Value> {
    v.as_str().map(|s| Value::String(s.trim_matches(|c: char| c <= ' ').to_owned()))
}

pub fn concat(args: Vec<Value>) -> Option<Value> {
    concat_of(args.iter())
}

/// `concat` of borrowed arguments: nulls skipped, everything else as Java prints it.
pub fn concat_of<'v>(args: impl Iterator<Item = &'v Value> + Clone) -> Option<Value> {
    // Sized for the string arguments up front (what concat mostly joins), so that the common
    // `concat(@(1,first),' ',@(1,last))` allocates once instead of growing twice.
    let strings: usize = args.clone().map(|a| if let Value::String(s) = a { s.len() } else { 0 }).sum();
    let mut out = String::with_capacity(strings);
    for a in args.filter(|a| !a.is_null()) {
        out.push_str(&java_str(a));
    }
    Some(Value::String(out))
}

/// `substring(string, start, end)`, character indexes, end exclusive; nothing when out of range.
pub fn substring(args: Vec<Value>) -> Option<Value> {
    let [s, start, end] = args.as_slice() else { return None };
    let (Value::String(s), Some(JNum::Int(start)), Some(JNum::Int(end))) = (s, JNum::of(start), JNum::of(end)) else {
        return None;
    };
    let len = s.encode_utf16().count() as i64;
    let (start, end) = (i64::from(start), i64::from(end));
    if start >= end || start < 0 || end < 1 || end > len {
        return None;
    }
    let units: Vec<u16> = s.encode_utf16().collect();
    // start and end are proven within 0..=len just above.
    String::from_utf16(&units[start as usize..end as usize]).ok().map(Value::String)
}

/// `join(separator, ...)`: skips nulls and empty strings; the separator follows each element
/// but the last position, exactly as the reference appends it.
pub fn join(separator: &str, args: Vec<Value>) -> Option<Value> {
    let mut out = String::new();
    let n = args.len();
    for (i, a) in args.iter().enumerate() {
        if a.is_null() {
            continue;
        }
        let s = java_str(a);
        if !s.is_empty() {
            out.push_str(&s);
            if i + 1 < n {
                out.push_str(separator);
            }
        }
    }
    Some(Value::String(out))
}

/// `split(regex, string)`: Java's `String.split`, trailing empty strings dropped.
pub fn split(separator: &str, source: &Value) -> Option<Value> {
    let Value::String(s) = source else { return None };
    let re = regex::Regex::new(separator).ok()?;
    let mut parts: Vec<&str> = Vec::new();
    let mut last = 0;
    for m in re.find_iter(s) {
        // Java drops a leading empty string produced by a zero-width match at the start.
        if m.end() == 0 {
            continue;
        }
        parts.push(&s[last..m.start()]);
        last = m.end();
    }
    parts.push(&s[last..]);
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.len() == 1 && parts[0].is_empty() && !s.is_empty() {
        parts.clear();
    }
    Some(Value::Array(parts.into_iter().map(|p| Value::String(p.to_owned())).collect()))
}

/// `leftPad(source, width, filler)` / `rightPad`: width 1..=500, a one-character filler.
pub fn pad(left: bool, source: &str, args: Vec<Value>) -> Option<Value> {
    let (Some(width), Some(Value::String(filler))) = (args.first(), args.get(1)) else { return None };
    let Some(JNum::Int(width)) = JNum::of(width) else { return None };
    if width <= 0 || width > 500 {
        return None;
    }
    let mut chars = filler.chars();
    let (Some(fill), None) = (chars.next(), chars.next()) else { return None };
    let len = source.chars().count();
    // width is proven to be 1..=500 just above.
    let width = width as usize;
    if width <= len {
        return Some(Value::String(source.to_owned()));
    }
    let padding: String = std::iter::repeat_n(fill, width - len).collect();
    Some(Value::String(if left { padding + source } else { format!("{source}{padding}") }))
}
