//! Writing into shift's output tree along evaluated path steps, creating maps and lists on the
//! way (the reference's `ShiftrTraversr`).
use serde_json::{Map, Value};

use crate::keys::Step;

/// Writes `data` at `steps` below `tree`, shift style: values colliding on one key become a list
/// (an existing list is appended to). A step that meets the wrong kind of container (a key into
/// a list, an index into a string) writes nothing, as the reference does.
pub fn write(tree: &mut Value, steps: &[Step<'_>], data: Value) {
    let Some((last, path)) = steps.split_last() else {
        return;
    };
    let mut node = tree;
    for (i, step) in path.iter().enumerate() {
        let next = &steps[i + 1];
        let Some(child) = descend(node, step, next) else {
            return;
        };
        node = child;
    }
    final_set(node, last, data);
}

fn new_container(next: &Step<'_>) -> Value {
    match next {
        Step::Key(_) => Value::Object(Map::new()),
        Step::Index(_) | Step::Append => Value::Array(Vec::new()),
    }
}

fn descend<'t>(node: &'t mut Value, step: &Step<'_>, next: &Step<'_>) -> Option<&'t mut Value> {
    match (step, node) {
        (Step::Key(k), Value::Object(map)) => {
            let slot = map.entry(k.as_ref()).or_insert(Value::Null);
            if slot.is_null() {
                *slot = new_container(next);
            }
            Some(slot)
        }
        (Step::Index(i), Value::Array(list)) => {
            if list.len() <= *i {
                list.resize(*i + 1, Value::Null);
            }
            let slot = &mut list[*i];
            if slot.is_null() {
                *slot = new_container(next);
            }
            Some(slot)
        }
        (Step::Append, Value::Array(list)) => {
            list.push(new_container(next));
            list.last_mut()
        }
        _ => None,
    }
}

fn final_set(node: &mut Value, step: &Step<'_>, data: Value) {
    let slot = match (step, node) {
        (Step::Key(k), Value::Object(map)) => map.entry(k.as_ref()).or_insert(Value::Null),
        (Step::Index(i), Value::Array(list)) => {
            if list.len() <= *i {
                list.resize(*i + 1, Value::Null);
            }
            &mut list[*i]
        }
        (Step::Append, Value::Array(list)) => {
            list.push(data);
            return;
        }
        _ => return,
    };
    match slot {
        Value::Null => *slot = data,
        Value::Array(list) => list.push(data),
        existing => {
            let first = existing.take();
            *existing = Value::Array(vec![first, data]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::borrow::Cow;

    fn key(s: &str) -> Step<'_> {
        Step::Key(Cow::Borrowed(s))
    }

    #[test]
    fn colliding_values_become_a_list() {
        let mut out = json!({});
        write(&mut out, &[key("a"), key("b")], json!(1));
        write(&mut out, &[key("a"), key("b")], json!(2));
        write(&mut out, &[key("a"), key("c"), Step::Index(2)], json!("x"));
        write(&mut out, &[key("a"), key("d"), Step::Append, key("e")], json!(true));
        assert_eq!(out, json!({"a": {"b": [1, 2], "c": [null, null, "x"], "d": [{"e": true}]}}));
    }

    #[test]
    fn a_step_into_the_wrong_container_writes_nothing() {
        let mut out = json!({"a": "scalar"});
        write(&mut out, &[key("a"), key("b")], json!(1));
        assert_eq!(out, json!({"a": "scalar"}));
    }
}
