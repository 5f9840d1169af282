//! Conversions and object functions: toInteger, toDouble, toLong, toBoolean, toString, size,
//! squashNulls, recursivelySquashNulls, squashDuplicates.
use serde_json::Value;

use super::{to_number, JNum};

pub fn to_integer(v: &Value) -> Option<Value> {
    to_number(v).map(|n| Value::from(n.int_value()))
}

pub fn to_long(v: &Value) -> Option<Value> {
    to_number(v).map(|n| Value::from(n.long_value()))
}

pub fn to_double(v: &Value) -> Option<Value> {
    to_number(v).map(|n| crate::number::double_value(n.double_value()))
}

pub fn to_boolean(v: &Value) -> Option<Value> {
    match v {
        Value::Bool(_) => Some(v.clone()),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(Value::Bool(false)),
        _ => None,
    }
}

/// `Object.toString()` of JSON data as Java prints it: `[a, b]` lists, `{k=v}` maps, `3.0`.
/// [`java_to_string`], borrowing a string instead of copying it (what `concat` and `join` append).
pub fn java_str(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s),
        other => std::borrow::Cow::Owned(java_to_string(other)),
    }
}

pub fn java_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(_) => match JNum::of(v) {
            Some(JNum::Double(d)) => crate::number::java_double_string(d),
            _ => v.to_string(),
        },
        Value::Array(list) => {
            let parts: Vec<String> = list.iter().map(java_to_string).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k}={}", java_to_string(v))).collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// `size`: of one list, string (UTF-16 units) or map; the argument count for several.
pub fn size(args: Vec<Value>) -> Option<Value> {
    match args.as_slice() {
        [] => None,
        [Value::Array(l)] => Some(Value::from(l.len())),
        [Value::String(s)] => Some(Value::from(s.encode_utf16().count())),
        [Value::Object(m)] => Some(Value::from(m.len())),
        [_] => None,
        many => Some(Value::from(many.len())),
    }
}

pub fn squash_nulls(v: Value) -> Value {
    match v {
        Value::Array(list) => Value::Array(list.into_iter().filter(|e| !e.is_null()).collect()),
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, e)| !e.is_null()).collect()),
        other => other,
    }
}

pub fn recursively_squash_nulls(v: Value) -> Value {
    match squash_nulls(v) {
        Value::Array(list) => Value::Array(list.into_iter().map(recursively_squash_nulls).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, e)| (k, recursively_squash_nulls(e))).collect()),
        other => other,
    }
}

/// Keeps the first of equal list elements, in order.
pub fn squash_duplicates(v: Value) -> Value {
    match v {
        Value::Array(list) => {
            let mut kept: Vec<Value> = Vec::with_capacity(list.len());
            for e in list {
                if !kept.contains(&e) {
                    kept.push(e);
                }
            }
            Value::Array(kept)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn java_strings_of_containers() {
        assert_eq!(java_to_string(&json!([1, "a", 2.0])), "[1, a, 2.0]");
        assert_eq!(java_to_string(&json!({"a": null})), "{a=null}");
    }

    #[test]
    fn squashing_removes_nulls_deeply() {
        let v = recursively_squash_nulls(json!([1, null, {"a": null, "b": [null, 2]}]));
        assert_eq!(v, json!([1, {"b": [2]}]));
        assert_eq!(squash_duplicates(json!([1, 1, 2, 1])), json!([1, 2]));
    }
}
