//! `sort`: orders every map's keys alphabetically, keys starting with `~` first, recursively.
//! Lists keep their order (sorting them would change their meaning); their elements are sorted.
use serde_json::{Map, Value};

pub fn apply(input: Value) -> Value {
    match input {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| {
                let (at, bt) = (a.starts_with('~'), b.starts_with('~'));
                bt.cmp(&at).then_with(|| a.cmp(b))
            });
            Value::Object(entries.into_iter().map(|(k, v)| (k, apply(v))).collect::<Map<_, _>>())
        }
        Value::Array(list) => Value::Array(list.into_iter().map(apply).collect()),
        other => other,
    }
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
}
