//! `default`: fills in values the input lacks (absent or `null`), never touching data that is
//! there. A key ending in `[]` says its value is a list; below it, keys are indexes. Keys apply in
//! the order literals, then `a|b` alternatives (fewer alternatives first), then `*`.
use std::borrow::Cow;

use serde_json::Value;

use crate::output::Out;
use crate::{child_path, SpecError, TransformError};

#[derive(Debug)]
pub struct Default {
    map_root: Key,
    /// The same spec read as defaults for a top-level list, when its keys are all indexes.
    array_root: Option<Key>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Literal,
    Or,
    Star,
}

#[derive(Debug)]
struct Key {
    op: Op,
    raw: String,
    /// The literal key, or the `|` alternatives (empty for `*`).
    names: Vec<String>,
    /// This key sits below a `[]` key: it applies to lists, and `names` are indexes.
    is_index: bool,
    /// Parsed `names` when `is_index`.
    indexes: Vec<usize>,
    /// This key's value is a list (`photos[]`).
    array_output: bool,
    /// The largest literal index among the children, when `array_output`.
    array_size: Option<usize>,
    children: Option<Vec<Key>>,
    literal: Value,
}

impl Key {
    fn compile(raw_json_key: &str, spec: &Value, parent_is_array: bool, path: &str) -> Result<Key, SpecError> {
        let array_output = raw_json_key.ends_with("[]");
        let raw = if array_output { raw_json_key.replace("[]", "") } else { raw_json_key.to_owned() };
        let op = if raw.contains('*') {
            if raw != "*" {
                return Err(SpecError::new(path, format!("default key `{raw}` is invalid: * keys can only be *")));
            }
            Op::Star
        } else if raw.contains('|') {
            Op::Or
        } else {
            Op::Literal
        };
        let names: Vec<String> = match op {
            Op::Or => raw.split('|').map(str::to_owned).collect(),
            Op::Literal => vec![raw.clone()],
            Op::Star => Vec::new(),
        };
        let indexes = if parent_is_array {
            names
                .iter()
                .map(|n| {
                    n.parse::<usize>().map_err(|_| {
                        SpecError::new(path, format!("`{n}` is below a [] key, so it must be a list index"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        let (children, literal) = match spec {
            Value::Object(map) => {
                let mut children = map
                    .iter()
                    .map(|(k, v)| Key::compile(k, v, array_output, &child_path(path, k)))
                    .collect::<Result<Vec<_>, _>>()?;
                children.sort_by(|a, b| {
                    a.op.cmp(&b.op).then_with(|| {
                        if a.op == Op::Or {
                            a.names.len().cmp(&b.names.len()).then_with(|| a.raw.cmp(&b.raw))
                        } else {
                            std::cmp::Ordering::Equal
                        }
                    })
                });
                (Some(children), Value::Null)
            }
            other => (None, other.clone()),
        };
        let array_size = if array_output {
            children
                .iter()
                .flatten()
                .filter(|c| c.op == Op::Literal)
                .filter_map(|c| c.indexes.first().copied())
                .max()
        } else {
            None
        };
        Ok(Key { op, raw, names, is_index: parent_is_array, indexes, array_output, array_size, children, literal })
    }

    fn new_container<'a>(&self) -> Out<'a> {
        if self.array_output {
            Out::List(Vec::new())
        } else {
            Out::new_map()
        }
    }

    fn apply_children<'a>(&'a self, defaultee: &mut Out<'a>) {
        // Maps and lists of the input are taken apart (shallowly) only along the way written.
        defaultee.explode();
        if let (true, Out::List(list), Some(size)) = (self.array_output, &mut *defaultee, self.array_size) {
            if list.len() < size + 1 {
                list.resize_with(size + 1, || Out::Null);
            }
        }
        for child in self.children.iter().flatten() {
            child.apply_to(defaultee);
        }
    }

    /// Applies this key to a container of its parent's kind (already taken apart by
    /// `apply_children`); a mismatch (a list where the spec says map) leaves the data alone.
    fn apply_to<'a>(&'a self, container: &mut Out<'a>) {
        match container {
            Out::Map(map) if !self.is_index => {
                if self.op == Op::Literal {
                    // A literal key always has exactly one name (see `compile`).
                    let name = self.names[0].as_str();
                    self.fill(map.slot_with(name, || Cow::Borrowed(name)));
                    return;
                }
                for (k, slot) in map.iter_mut() {
                    if self.op == Op::Star || self.names.iter().any(|n| n == k) {
                        self.fill(slot);
                    }
                }
            }
            Out::List(list) if self.is_index => match self.op {
                Op::Star => list.iter_mut().for_each(|slot| self.fill(slot)),
                _ => {
                    for &i in &self.indexes {
                        if let Some(slot) = list.get_mut(i) {
                            self.fill(slot);
                        }
                    }
                }
            },
            _ => {}
        }
    }

    fn fill<'a>(&'a self, slot: &mut Out<'a>) {
        match &self.children {
            None => {
                if slot.is_null() {
                    // The spec's own value, shared with the output rather than copied.
                    *slot = Out::Data(&self.literal);
                }
            }
            Some(_) => {
                if slot.is_null() {
                    *slot = self.new_container();
                }
                self.apply_children(slot);
            }
        }
    }
}

impl Default {
    pub fn compile(spec: &Value, path: &str) -> Result<Default, SpecError> {
        if !spec.is_object() {
            return Err(SpecError::new(path, "a default spec must be a JSON object"));
        }
        let map_root = Key::compile("root", spec, false, path)?;
        // Read as defaults for a list too; keys that are not indexes just mean it is not one.
        let array_root = Key::compile("root[]", spec, false, path).ok();
        Ok(Default { map_root, array_root })
    }

    /// Fails, as the reference does, when the input is a list and the spec's top-level keys are
    /// not list indexes (`*` or numbers), so that it can not read as defaults for a list.
    pub fn apply<'a>(&'a self, input: Out<'a>) -> Result<Out<'a>, TransformError> {
        let mut data = if input.is_null() { Out::new_map() } else { input };
        match (data.is_list(), &self.array_root) {
            (true, Some(root)) => root.apply_children(&mut data),
            (true, None) => {
                return Err(TransformError::new(
                    "default: the input is a list, and the spec's top-level keys are not list indexes (`*` or numbers)".to_owned(),
                ))
            }
            _ => self.map_root.apply_children(&mut data),
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_absent_and_null_values_only() {
        let d = Default::compile(&json!({"a": 1, "b": 2, "c": {"d": 3}, "*": {"x": 0}}), "$").unwrap();
        let input = json!({"a": null, "b": "kept", "e": {}});
        let out = d.apply(Out::Data(&input)).unwrap().into_value();
        assert_eq!(input, json!({"a": null, "b": "kept", "e": {}}), "the input is not changed");
        assert_eq!(out, json!({"a": 1, "b": "kept", "c": {"d": 3, "x": 0}, "e": {"x": 0}}));
    }

    #[test]
    fn list_keys_extend_the_list() {
        let d = Default::compile(&json!({"photos[]": {"2": {"url": "none"}}}), "$").unwrap();
        let input = json!({"photos": [{"url": "a"}]});
        let out = d.apply(Out::Data(&input)).unwrap().into_value();
        assert_eq!(out, json!({"photos": [{"url": "a"}, null, {"url": "none"}]}));
    }
}
