//! `sort`: orders every map's keys alphabetically, keys starting with `~` first, recursively.
//! Lists keep their order (sorting them would change their meaning); their elements are sorted.
//!
//! It runs on the chain's document ([`apply_out`]) without copying what the document shares with
//! the input: a map is rebuilt with its entries in order, its keys and values still borrowed, and
//! input data that is already in order (every map below it sorted) is kept as it is. Copying the
//! document into a `serde_json::Value` first and sorting that (with the map's hashing on every
//! insert) was half of firstSample's time.
use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::output::{Out, OutMap};

/// Keys starting with `~` first, then by their bytes (the reference's order).
fn order(a: &str, b: &str) -> Ordering {
    let (at, bt) = (a.starts_with('~'), b.starts_with('~'));
    bt.cmp(&at).then_with(|| a.cmp(b))
}

pub fn apply(input: Value) -> Value {
    match input {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| order(a, b));
            Value::Object(entries.into_iter().map(|(k, v)| (k, apply(v))).collect::<Map<_, _>>())
        }
        Value::Array(list) => Value::Array(list.into_iter().map(apply).collect()),
        other => other,
    }
}

/// Sorts the chain's document.
pub fn apply_out(doc: Out<'_>) -> Out<'_> {
    match doc {
        Out::Null => Out::Null,
        Out::Data(value) => data(value),
        Out::Owned(value) => Out::Owned(Box::new(apply(*value))),
        Out::Map(map) => Out::Map(sorted(
            map.into_entries().into_iter().map(|(k, v)| (k, apply_out(v))).collect(),
        )),
        Out::List(list) => Out::List(list.into_iter().map(apply_out).collect()),
        // A map or list of an earlier document: copied shallowly as it is sorted (its values stay
        // shared).
        Out::Node(Out::Map(map)) => Out::Map(sorted(
            map.entries().iter().map(|(k, v)| (k.clone(), apply_out(Out::shared(v)))).collect(),
        )),
        Out::Node(Out::List(list)) => Out::List(list.iter().map(|v| apply_out(Out::shared(v))).collect()),
        Out::Node(other) => apply_out(Out::shared(other)),
    }
}

/// Input data, sorted: kept as it is when it is in order already, else rebuilt around its
/// borrowed keys and values.
fn data(value: &Value) -> Out<'_> {
    if in_order(value) {
        return Out::Data(value);
    }
    match value {
        Value::Object(map) => Out::Map(sorted(map.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), data(v))).collect())),
        Value::Array(list) => Out::List(list.iter().map(data).collect()),
        _ => Out::Data(value),
    }
}

/// Whether every map in `value` already has its keys in order.
fn in_order(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut keys = map.keys();
            let mut previous = keys.next();
            for key in keys {
                if previous.is_some_and(|p| order(p, key) == Ordering::Greater) {
                    return false;
                }
                previous = Some(key);
            }
            map.values().all(in_order)
        }
        Value::Array(list) => list.iter().all(in_order),
        _ => true,
    }
}

fn sorted<'a>(mut entries: Vec<(Cow<'a, str>, Out<'a>)>) -> OutMap<'a> {
    entries.sort_by(|(a, _), (b, _)| order(a, b));
    OutMap::from_entries(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tilde_keys_sort_first_and_lists_keep_their_order() {
        let out = apply(json!({"b": 1, "~z": 2, "a": [3, {"y": 1, "x": 2}]}));
        assert_eq!(serde_json::to_string(&out).unwrap(), r#"{"~z":2,"a":[3,{"x":2,"y":1}],"b":1}"#);
    }

    /// The document's sort gives the same text as the `Value` sort, for data of the input (in
    /// order already or not), maps the chain built, owned values and shared nodes alike.
    #[test]
    fn the_document_sort_agrees_with_the_value_sort() {
        let unsorted = json!({"b": 1, "~z": 2, "a": [3, {"y": 1, "x": {"d": 1, "c": [{"f": 1, "e": 2}]}}]});
        let sorted_already = json!({"a": [1, {"b": 2, "c": 3}], "d": null});
        for value in [&unsorted, &sorted_already] {
            let expected = serde_json::to_string(&apply(value.clone())).unwrap();
            assert_eq!(serde_json::to_string(&apply_out(Out::Data(value))).unwrap(), expected);
            assert_eq!(serde_json::to_string(&apply_out(Out::Owned(Box::new(value.clone())))).unwrap(), expected);
        }
        assert!(matches!(apply_out(Out::Data(&sorted_already)), Out::Data(_)), "data in order is kept as it is");
        // A built map holding input data, and a shared node of an earlier document.
        let mut built = Out::new_map();
        if let Out::Map(m) = &mut built {
            m.set("zz", Out::Data(&unsorted));
            m.set("aa", Out::List(vec![Out::Data(&sorted_already), Out::Null]));
        }
        let expected = serde_json::to_string(&apply(built.to_value())).unwrap();
        assert_eq!(serde_json::to_string(&apply_out(Out::Node(&built))).unwrap(), expected);
        assert_eq!(serde_json::to_string(&apply_out(built)).unwrap(), expected);
    }
}
