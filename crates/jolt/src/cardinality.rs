//! `cardinality`: makes a value a list (`"MANY"`) or a single value (`"ONE"`, the list's first
//! element). The spec mirrors the input like shift's, with literal, `*`-pattern, `&` and `@` keys;
//! `"@": "ONE"` inside a composite adjusts the composite's own value before its children run.
use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::keys::{parse_index, AmpTemplate, Glob, PathElement};
use crate::walked::{Matched, WalkedPath};
use crate::{child_path, SpecError, TransformError};

static NULL: Value = Value::Null;
const ROOT: &str = "root";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Relationship {
    One,
    Many,
}

#[derive(Debug)]
pub struct Cardinality {
    root: Composite,
}

#[derive(Debug)]
struct Composite {
    key: PathElement,
    /// The `@` child: adjusts this composite's own value first.
    special: Option<Relationship>,
    literals: HashMap<String, usize>,
    children: Vec<Node>,
    /// Indexes into `children` of the non-literal keys, in precedence order.
    computed: Vec<usize>,
}

#[derive(Debug)]
enum Node {
    Composite(Composite),
    Leaf(PathElement, Relationship),
}

/// Cardinality's own key syntax (`CardinalitySpec.parse`): `@`, stars, `&` templates, literals.
fn parse_key(raw: &str) -> Result<PathElement, String> {
    Ok(if raw.contains('@') {
        PathElement::At
    } else if raw == "*" {
        PathElement::StarAll
    } else if raw.contains('*') {
        PathElement::Star(Glob::new(raw))
    } else if raw.contains('&') {
        PathElement::Amp(AmpTemplate::parse(raw)?)
    } else {
        PathElement::Literal(raw.to_owned())
    })
}

fn rank(key: &PathElement) -> (u8, std::cmp::Reverse<usize>, String) {
    let canonical = key.canonical();
    let class = if matches!(key, PathElement::Amp(_)) { 1 } else { 2 };
    (class, std::cmp::Reverse(canonical.len()), canonical)
}

impl Composite {
    fn compile(key: PathElement, spec: &Map<String, Value>, path: &str) -> Result<Composite, SpecError> {
        if spec.is_empty() {
            return Err(SpecError::new(path, "a cardinality key with an empty {} as its value is not valid"));
        }
        let mut special = None;
        let mut children = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (raw, rhs) in spec {
            let at = child_path(path, raw);
            let key = parse_key(raw).map_err(|m| SpecError::new(&at, m))?;
            if !seen.insert(key.canonical()) {
                return Err(SpecError::new(&at, format!("duplicate cardinality key `{}`", key.canonical())));
            }
            let node = match rhs {
                Value::Object(sub) => {
                    if matches!(key, PathElement::At) {
                        return Err(SpecError::new(&at, "an `@` cardinality key can not have children"));
                    }
                    Node::Composite(Composite::compile(key, sub, &at)?)
                }
                other => {
                    let rel = match other.as_str() {
                        Some("ONE") => Relationship::One,
                        Some("MANY") => Relationship::Many,
                        _ => return Err(SpecError::new(&at, format!("invalid cardinality {other}: expected \"ONE\" or \"MANY\""))),
                    };
                    if matches!(key, PathElement::At) {
                        special = Some(rel);
                        continue;
                    }
                    Node::Leaf(key, rel)
                }
            };
            children.push(node);
        }
        let mut literals = HashMap::new();
        let mut computed = Vec::new();
        for (i, child) in children.iter().enumerate() {
            match child.key() {
                PathElement::Literal(s) => {
                    literals.insert(s.clone(), i);
                }
                _ => computed.push(i),
            }
        }
        computed.sort_by_cached_key(|&i| rank(children[i].key()));
        Ok(Composite { key, special, literals, children, computed })
    }

    /// Walks the children over `data` (the value this composite matched).
    fn process<'s>(&'s self, data: &mut Value, walked: &mut WalkedPath<'s>) -> Result<(), TransformError> {
        let keys: Vec<String> = match data {
            Value::Object(map) => map.keys().cloned().collect(),
            Value::Array(list) => (0..list.len()).map(|i| i.to_string()).collect(),
            _ => return Ok(()),
        };
        for key in keys {
            if let Some(&i) = self.literals.get(&key) {
                self.children[i].apply(&key, data, walked)?;
            } else {
                for &i in &self.computed {
                    if self.children[i].apply(&key, data, walked)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Node {
    fn key(&self) -> &PathElement {
        match self {
            Node::Composite(c) => &c.key,
            Node::Leaf(k, _) => k,
        }
    }

    fn apply<'s>(&'s self, key: &str, parent: &mut Value, walked: &mut WalkedPath<'s>) -> Result<bool, TransformError> {
        let Some(matched) = self.key().matches(&Cow::Owned(key.to_owned()), walked)? else {
            return Ok(false);
        };
        match self {
            Node::Leaf(_, rel) => {
                adjust(parent, key, *rel);
            }
            Node::Composite(c) => {
                walked.push(&NULL, matched);
                let proceed = match c.special {
                    Some(rel) => adjust(parent, key, rel),
                    None => true,
                };
                if proceed {
                    if let Some(slot) = slot(parent, key) {
                        c.process(slot, walked)?;
                    }
                }
                walked.pop();
            }
        }
        Ok(true)
    }
}

fn slot<'v>(parent: &'v mut Value, key: &str) -> Option<&'v mut Value> {
    match parent {
        Value::Object(map) => map.get_mut(key),
        Value::Array(list) => parse_index(key).and_then(|i| list.get_mut(i)),
        _ => None,
    }
}

/// Applies one relationship to `parent[key]`; says whether there is still data to walk into
/// (the reference walks on only into what the adjustment returned).
fn adjust(parent: &mut Value, key: &str, rel: Relationship) -> bool {
    let Some(value) = slot(parent, key) else {
        return false;
    };
    match rel {
        Relationship::Many => match value {
            Value::Array(_) => true,
            Value::Null => {
                *value = Value::Array(Vec::new());
                true
            }
            _ => {
                let one = value.take();
                // The reference removes and re-puts the key, which moves it to the end of the map.
                if let Value::Object(map) = parent {
                    map.shift_remove(key);
                    map.insert(key.to_owned(), Value::Array(vec![one]));
                } else if let Some(value) = slot(parent, key) {
                    *value = Value::Array(vec![one]);
                }
                true
            }
        },
        Relationship::One => match value {
            Value::Array(list) => {
                let first = if list.is_empty() { Value::Null } else { list.swap_remove(0) };
                let proceed = !first.is_null();
                *value = first;
                proceed
            }
            _ => false,
        },
    }
}

impl Cardinality {
    pub fn compile(spec: &Value, path: &str) -> Result<Cardinality, SpecError> {
        let Value::Object(map) = spec else {
            return Err(SpecError::new(path, "a cardinality spec must be a JSON object"));
        };
        Ok(Cardinality { root: Composite::compile(PathElement::Literal(ROOT.into()), map, path)? })
    }

    pub fn apply(&self, mut input: Value) -> Result<Value, TransformError> {
        let mut walked = WalkedPath::new();
        walked.push(&NULL, Matched::new(Cow::Borrowed(ROOT)));
        self.root.process(&mut input, &mut walked)?;
        Ok(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_takes_the_first_element_and_many_wraps() {
        let c = Cardinality::compile(&json!({"a": "ONE", "b": "MANY", "c": "MANY", "*": {"@": "ONE", "x": "MANY"}}), "$")
            .unwrap();
        let out = c.apply(json!({"a": [1, 2], "b": 3, "c": null, "d": [{"x": 1}, {"x": 2}]})).unwrap();
        assert_eq!(out, json!({"a": 1, "b": [3], "c": [], "d": {"x": [1]}}));
    }

    #[test]
    fn a_relationship_other_than_one_or_many_is_a_spec_error() {
        assert!(Cardinality::compile(&json!({"photos": "pants"}), "$").is_err());
    }
}
