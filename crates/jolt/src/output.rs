//! Shift's output tree, built along evaluated path steps (the reference's `ShiftrTraversr`):
//! maps and lists are created on the way, and values colliding on one key become a list.
//!
//! The tree is not a `serde_json::Value` while it grows: values written from the input stay
//! borrowed (`Data`) and are copied once at the end, and map keys are found by comparing strings
//! (with a hash index only for wide maps), so a write costs no hashing and no copy of the data.
//! [`Out::into_value`] turns the finished tree into JSON.
use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::keys::Step;

/// Maps wider than this get a hash index; below it, comparing keys is cheaper than hashing.
const INDEX_FROM: usize = 24;

#[derive(Debug)]
pub enum Out<'a> {
    Null,
    /// A value of the input, copied when the tree is finished.
    Data(&'a Value),
    /// A value made during the walk (`$` keys, `#` literals) or taken apart from one.
    Owned(Value),
    Map(OutMap<'a>),
    List(Vec<Out<'a>>),
}

#[derive(Debug, Default)]
pub struct OutMap<'a> {
    entries: Vec<(String, Out<'a>)>,
    index: Option<HashMap<String, usize>>,
}

impl<'a> OutMap<'a> {
    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    /// The slot for `key`, added (as `Null`) when absent.
    fn slot(&mut self, key: &str) -> &mut Out<'a> {
        let i = match self.position(key) {
            Some(i) => i,
            None => {
                let i = self.entries.len();
                self.entries.push((key.to_owned(), Out::Null));
                if let Some(index) = &mut self.index {
                    index.insert(key.to_owned(), i);
                } else if self.entries.len() > INDEX_FROM {
                    self.index = Some(self.entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect());
                }
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Removes and returns the value at `key`.
    pub fn take(&mut self, key: &str) -> Option<Out<'a>> {
        let i = self.position(key)?;
        Some(std::mem::replace(&mut self.entries[i].1, Out::Null))
    }
}

impl<'a> Out<'a> {
    pub fn new_map() -> Out<'a> {
        Out::Map(OutMap::default())
    }

    fn is_null(&self) -> bool {
        matches!(self, Out::Null | Out::Data(Value::Null) | Out::Owned(Value::Null))
    }

    /// Turns a JSON map or list held as a value into tree nodes, so it can be written into (as
    /// the reference writes into the very map it copied from the input).
    fn explode(&mut self) {
        if !matches!(self, Out::Data(Value::Object(_) | Value::Array(_)) | Out::Owned(Value::Object(_) | Value::Array(_))) {
            return;
        }
        let exploded = match std::mem::replace(self, Out::Null) {
            Out::Data(Value::Object(m)) => {
                Out::Map(OutMap { entries: m.iter().map(|(k, v)| (k.clone(), Out::Data(v))).collect(), index: None })
            }
            Out::Data(Value::Array(l)) => Out::List(l.iter().map(Out::Data).collect()),
            Out::Owned(Value::Object(m)) => {
                Out::Map(OutMap { entries: m.into_iter().map(|(k, v)| (k, Out::Owned(v))).collect(), index: None })
            }
            Out::Owned(Value::Array(l)) => Out::List(l.into_iter().map(Out::Owned).collect()),
            other => other,
        };
        *self = exploded;
        if let Out::Map(m) = self {
            if m.entries.len() > INDEX_FROM {
                m.index = Some(m.entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect());
            }
        }
    }

    pub fn into_value(self) -> Value {
        match self {
            Out::Null => Value::Null,
            Out::Data(v) => v.clone(),
            Out::Owned(v) => v,
            Out::Map(m) => {
                let mut map = Map::with_capacity(m.entries.len());
                for (k, v) in m.entries {
                    map.insert(k, v.into_value());
                }
                Value::Object(map)
            }
            Out::List(l) => Value::Array(l.into_iter().map(Out::into_value).collect()),
        }
    }
}

fn new_container<'a>(next: &Step<'_>) -> Out<'a> {
    match next {
        Step::Key(_) => Out::new_map(),
        Step::Index(_) | Step::Append => Out::List(Vec::new()),
    }
}

/// Writes `data` at `steps` below `tree`, shift style: values colliding on one key become a list
/// (an existing list is appended to). A step that meets the wrong kind of container (a key into
/// a list, an index into a string) writes nothing, as the reference does.
pub fn write<'a>(tree: &mut Out<'a>, steps: &[Step<'_>], data: Out<'a>) {
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

fn descend<'t, 'a>(node: &'t mut Out<'a>, step: &Step<'_>, next: &Step<'_>) -> Option<&'t mut Out<'a>> {
    node.explode();
    let slot = match (step, node) {
        (Step::Key(k), Out::Map(map)) => map.slot(k),
        (Step::Index(i), Out::List(list)) => {
            if list.len() <= *i {
                list.resize_with(*i + 1, || Out::Null);
            }
            &mut list[*i]
        }
        (Step::Append, Out::List(list)) => {
            list.push(new_container(next));
            return list.last_mut();
        }
        _ => return None,
    };
    if slot.is_null() {
        *slot = new_container(next);
    }
    Some(slot)
}

fn final_set<'a>(node: &mut Out<'a>, step: &Step<'_>, data: Out<'a>) {
    node.explode();
    let slot = match (step, node) {
        (Step::Key(k), Out::Map(map)) => map.slot(k),
        (Step::Index(i), Out::List(list)) => {
            if list.len() <= *i {
                list.resize_with(*i + 1, || Out::Null);
            }
            &mut list[*i]
        }
        (Step::Append, Out::List(list)) => {
            list.push(data);
            return;
        }
        _ => return,
    };
    if slot.is_null() {
        *slot = data;
        return;
    }
    if matches!(slot, Out::Data(Value::Array(_)) | Out::Owned(Value::Array(_))) {
        slot.explode();
    }
    match slot {
        Out::List(list) => list.push(data),
        existing => {
            let first = std::mem::replace(existing, Out::Null);
            *existing = Out::List(vec![first, data]);
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
        let (one, two, x, t) = (json!(1), json!(2), json!("x"), json!(true));
        let mut out = Out::new_map();
        write(&mut out, &[key("a"), key("b")], Out::Data(&one));
        write(&mut out, &[key("a"), key("b")], Out::Data(&two));
        write(&mut out, &[key("a"), key("c"), Step::Index(2)], Out::Data(&x));
        write(&mut out, &[key("a"), key("d"), Step::Append, key("e")], Out::Data(&t));
        assert_eq!(out.into_value(), json!({"a": {"b": [1, 2], "c": [null, null, "x"], "d": [{"e": true}]}}));
    }

    #[test]
    fn a_step_into_the_wrong_container_writes_nothing() {
        let (scalar, one) = (json!("scalar"), json!(1));
        let mut out = Out::new_map();
        write(&mut out, &[key("a")], Out::Data(&scalar));
        write(&mut out, &[key("a"), key("b")], Out::Data(&one));
        assert_eq!(out.into_value(), json!({"a": "scalar"}));
    }

    #[test]
    fn writing_into_a_copied_map_extends_it_and_wide_maps_get_an_index() {
        let (m, two) = (json!({"x": 1}), json!(2));
        let mut out = Out::new_map();
        write(&mut out, &[key("a")], Out::Data(&m));
        write(&mut out, &[key("a"), key("y")], Out::Data(&two));
        let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        for k in &keys {
            write(&mut out, &[key("wide"), key(k)], Out::Data(&two));
        }
        write(&mut out, &[key("wide"), key("k7")], Out::Data(&two));
        let v = out.into_value();
        assert_eq!(v["a"], json!({"x": 1, "y": 2}));
        assert_eq!(v["wide"]["k7"], json!([2, 2]));
        assert_eq!(v["wide"].as_object().map(|m| m.len()), Some(40));
    }
}
