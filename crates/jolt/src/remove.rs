//! `remove`: deletes data from the input. The spec mirrors the input; a leaf (value `""`) names a
//! key to delete, a map walks one level down. Keys are literals (also list indexes), `*`, star
//! patterns (`rating-*`), and `a|b` alternatives.
//!
//! It runs on the chain's document ([`Remove::apply_out`]): only the maps and lists it deletes
//! from, and those on the way to them, are taken apart; the rest stays shared with the input.
use serde_json::{Map, Value};

use crate::keys::{parse_index, Glob};
use crate::output::Out;
use crate::walked::View;
use crate::{child_path, SpecError};

#[derive(Debug)]
pub struct Remove {
    children: Vec<Node>,
}

#[derive(Debug)]
struct Node {
    key: Key,
    /// `None` for a leaf: the matched data itself is removed.
    children: Option<Vec<Node>>,
}

#[derive(Debug)]
enum Key {
    Literal(String),
    StarAll,
    Star(Glob),
}

impl Key {
    fn parse(raw: &str) -> Result<Key, String> {
        Ok(match raw {
            "*" => Key::StarAll,
            k if k.contains('*') => Key::Star(Glob::reference(k, k, k)?),
            k => Key::Literal(k.to_owned()),
        })
    }

    fn matches(&self, key: &str) -> bool {
        match self {
            Key::Literal(l) => l == key,
            Key::StarAll => true,
            Key::Star(g) => g.is_match(key),
        }
    }

    /// Lists are matched only by a literal index or `*`.
    fn indexes(&self, len: usize) -> Vec<usize> {
        match self {
            Key::Literal(l) => parse_index(l).filter(|&i| i < len).into_iter().collect(),
            Key::StarAll => (0..len).collect(),
            Key::Star(_) => Vec::new(),
        }
    }
}

fn compile_children(spec: &Map<String, Value>, path: &str) -> Result<Vec<Node>, SpecError> {
    let mut out = Vec::new();
    for (raw, rhs) in spec {
        let at = child_path(path, raw);
        for piece in raw.split('|') {
            let children = match rhs {
                Value::Object(sub) => Some(compile_children(sub, &at)?),
                Value::String(s) if s.trim().is_empty() => None,
                other => {
                    return Err(SpecError::new(
                        &at,
                        format!("a remove spec value must be \"\" (remove this) or a map, got {other}"),
                    ))
                }
            };
            out.push(Node { key: Key::parse(piece).map_err(|m| SpecError::new(&at, m))?, children });
        }
    }
    Ok(out)
}

impl Remove {
    pub fn compile(spec: &Value, path: &str) -> Result<Remove, SpecError> {
        let Value::Object(map) = spec else {
            return Err(SpecError::new(path, "a remove spec must be a JSON object"));
        };
        Ok(Remove { children: compile_children(map, path)? })
    }

    #[cfg(test)]
    pub fn apply(&self, input: Value) -> Value {
        self.apply_out(Out::Owned(Box::new(input))).into_value()
    }

    /// Removes from the chain's document.
    pub fn apply_out<'a>(&self, mut doc: Out<'a>) -> Out<'a> {
        process_children(&self.children, &mut doc);
        doc
    }
}

/// Whether any of `children` matches something in `data` (a map's key, a list's index).
fn touches(children: &[Node], data: View<'_>) -> bool {
    if let Some(len) = data.list_len() {
        return children.iter().any(|c| !c.key.indexes(len).is_empty());
    }
    children.iter().any(|child| match &child.key {
        Key::Literal(l) => data.get(l).is_some(),
        key => data.map_keys().is_some_and(|mut keys| keys.any(|k| key.matches(k))),
    })
}

/// Applies `children` to one container: composites recurse, leaves collect what to delete. A
/// container nothing matches in is left as it is (shared, not taken apart).
fn process_children(children: &[Node], data: &mut Out<'_>) {
    if !touches(children, View::of(data)) {
        return;
    }
    data.explode();
    match data {
        Out::List(list) => {
            let mut doomed: Vec<usize> = Vec::new();
            for child in children {
                let indexes = child.key.indexes(list.len());
                match &child.children {
                    None => doomed.extend(indexes),
                    Some(grand) => {
                        for i in indexes {
                            process_children(grand, &mut list[i]);
                        }
                    }
                }
            }
            doomed.sort_unstable();
            doomed.dedup();
            for i in doomed.into_iter().rev() {
                list.remove(i);
            }
        }
        Out::Map(map) => {
            let mut doomed: Vec<String> = Vec::new();
            for child in children {
                match &child.children {
                    None => doomed.extend(map.keys().filter(|k| child.key.matches(k)).map(str::to_owned)),
                    Some(grand) => match &child.key {
                        Key::Literal(l) => {
                            if let Some(sub) = map.get_mut(l.as_str()) {
                                process_children(grand, sub);
                            }
                        }
                        key => {
                            for (k, sub) in map.iter_mut() {
                                if key.matches(k) {
                                    process_children(grand, sub);
                                }
                            }
                        }
                    },
                }
            }
            for k in doomed {
                map.remove(&k);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removes_keys_stars_and_indexes() {
        let r = Remove::compile(&json!({"a": "", "tag-*": "", "list": {"1": ""}, "x|y": ""}), "$").unwrap();
        let out = r.apply(json!({"a": 1, "tag-1": 2, "tag-": 3, "list": [0, 1, 2], "x": 4, "y": 5, "z": 6}));
        assert_eq!(out, json!({"tag-": 3, "list": [0, 2], "z": 6}));
    }

    #[test]
    fn a_value_other_than_empty_is_a_spec_error() {
        let err = Remove::compile(&json!({"a": {"b": "eh?"}}), "$[0].spec").unwrap_err();
        assert_eq!(err.path, "$[0].spec.a.b");
    }
}
