//! `shift`: copies data from the input to new places in an output, driven by a spec that mirrors
//! the input's shape. A spec node is a composite (its value is a map: walk one level down) or a
//! leaf (its value is an output path, a list of them, or `null`).
//!
//! Matching order per level, as the reference: `@`/`$`/`#`/`@(..)` keys always run and never block;
//! then each input key tries the literal keys first and, failing those, the computed keys in order
//! `&` keys, then stars by how many they hold (3+, 2, 1, bare `*`), longer keys first, then
//! alphabetically. The first computed key that matches takes the input key.
// Keys and data travel as `&Cow` on purpose: a key borrowed from the input stays borrowed when a
// match stores it, where a `&str` would force a copy.
#![allow(clippy::ptr_arg)]

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::keys::{computed_rank, index_key, map_get, same_key, PathElement, ReadPath};
use crate::output::{Out, WritePlan};
use crate::walked::{Matched, View, WalkedPath};
use crate::{child_path, SpecError, TransformError};

const ROOT: &str = "root";
/// Up to this many entries, finding a key by comparing strings beats hashing it.
const SCAN_UP_TO: usize = 8;
static NULL: Value = Value::Null;

#[derive(Debug)]
pub struct Shift {
    root: Composite,
    /// Some output path may read a match count (`[#n]`; any `#` on a right-hand side counts).
    counts: bool,
}

#[derive(Debug)]
enum Node {
    Composite(Composite),
    Leaf(Leaf),
}

#[derive(Debug)]
struct Composite {
    key: PathElement,
    special: Vec<Node>,
    literals: Vec<(String, Node)>,
    literal_index: HashMap<String, usize>,
    computed: Vec<Node>,
    strategy: Strategy,
}

/// What a leaf writes: data it stands on, or text it makes (`$` keys, `#literal`s).
enum Data<'a> {
    View(View<'a>),
    /// Borrowed from the input or the spec where it can be; copied once per write.
    Text(Cow<'a, str>),
}

#[derive(Debug)]
struct Leaf {
    key: PathElement,
    writers: Vec<WritePlan>,
    /// No writer reads the walked path (no `&`, `[#n]`, `@(..)` in it): the match need not be
    /// pushed onto it.
    fixed_writers: bool,
}

/// How a composite visits its input (`ExecutionStrategy`): the cheap ones when literal and
/// computed keys can not compete for one input key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    Literals,
    Computed,
    LiteralsThenComputed,
    Conflict,
}

impl Node {
    fn key(&self) -> &PathElement {
        match self {
            Node::Composite(c) => &c.key,
            Node::Leaf(l) => &l.key,
        }
    }
}

impl Shift {
    pub fn compile(spec: &Value, path: &str) -> Result<Shift, SpecError> {
        let Value::Object(map) = spec else {
            return Err(SpecError::new(path, "a shift spec must be a JSON object"));
        };
        Ok(Shift { root: Composite::compile(PathElement::Literal(ROOT.into()), map, path)?, counts: rhs_has_hash(spec) })
    }

    pub fn apply(&self, input: &Value) -> Result<Value, TransformError> {
        Ok(self.apply_tree(input)?.into_value())
    }

    /// The output as a tree that borrows the input's values and the spec's keys (nothing copied).
    pub fn apply_tree<'a>(&'a self, input: &'a Value) -> Result<Out<'a>, TransformError> {
        self.apply_view(View::Value(input))
    }

    /// Like [`Shift::apply_tree`], over a document an earlier operation built (or a value): the
    /// output refers to the document's maps and lists, so the document must outlive it.
    pub fn apply_view<'a>(&'a self, input: View<'a>) -> Result<Out<'a>, TransformError> {
        // Every output path starts with the hidden `root` key; this is its slot.
        let mut output = Out::Null;
        let mut walked = if self.counts { WalkedPath::new() } else { WalkedPath::new().without_counts() };
        walked.push_node(input, Matched::new(Cow::Borrowed(ROOT)));
        self.root.apply(&Cow::Borrowed(ROOT), input, &mut walked, &mut output)?;
        Ok(output)
    }
}

impl Composite {
    fn compile(key: PathElement, spec: &Map<String, Value>, path: &str) -> Result<Composite, SpecError> {
        if matches!(key, PathElement::At) {
            return Err(SpecError::new(path, "an `@` shift key can not have children"));
        }
        if matches!(key, PathElement::Dollar(_)) {
            return Err(SpecError::new(path, "a `$` shift key can not have children"));
        }
        if spec.is_empty() {
            return Err(SpecError::new(path, "a shift key with an empty {} as its value is not valid"));
        }
        let mut special = Vec::new();
        let mut literals = Vec::new();
        let mut computed = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (raw, rhs) in spec {
            let at = child_path(path, raw);
            for piece in split_or(raw) {
                let key = PathElement::parse(piece).map_err(|m| SpecError::new(&at, m))?;
                if !seen.insert(key.canonical()) {
                    return Err(SpecError::new(&at, format!("duplicate shift key `{}`", key.canonical())));
                }
                let node = match rhs {
                    Value::Object(sub) => Node::Composite(Composite::compile(key, sub, &at)?),
                    other => Node::Leaf(Leaf::compile(key, other, &at)?),
                };
                match node.key() {
                    PathElement::Literal(s) => literals.push((s.clone(), node)),
                    // An array key (`[0]`, `[#1]`, `[]`) on the left matches no input key in the
                    // reference (jolt-core 0.1.8: `{"[0]": "x"}` over `["a"]` or `{"0": 1}` gives
                    // null); it is checked as a spec and then left out.
                    PathElement::Array(_) => {}
                    PathElement::At | PathElement::Hash(_) | PathElement::Dollar(_) | PathElement::Transpose(_) => {
                        special.push(node)
                    }
                    _ => computed.push(node),
                }
            }
        }
        computed.sort_by_cached_key(|n| computed_rank(n.key()));
        let literal_index = literals.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
        let strategy = if computed.is_empty() {
            Strategy::Literals
        } else if literals.is_empty() {
            Strategy::Computed
        } else {
            let conflict = computed.iter().any(|c| match c.key() {
                PathElement::StarAll => true,
                PathElement::Star(g) => literals.iter().any(|(l, _)| g.is_match(l)),
                _ => true,
            });
            if conflict {
                Strategy::Conflict
            } else {
                Strategy::LiteralsThenComputed
            }
        };
        Ok(Composite { key, special, literals, literal_index, computed, strategy })
    }

    fn apply<'a>(
        &'a self,
        key: &Cow<'a, str>,
        input: View<'a>,
        walked: &mut WalkedPath<'a>,
        out: &mut Out<'a>,
    ) -> Result<bool, TransformError> {
        if simple_match(&self.key) {
            // Built where it is pushed: a match moved through the `Result`s costs more than
            // the walk's other work on this level.
            walked.push_key(input, key.clone());
            return self.run_children(key, input, walked, out);
        }
        if let PathElement::Star(glob) = &self.key {
            // The common computed key, matched in place (no `Matched` moved through `Result`s).
            let Some(captures) = glob.captures(key) else {
                return Ok(false);
            };
            walked.push_captures(input, key.clone(), captures);
            return self.run_children(key, input, walked, out);
        }
        let Some(matched) = self.key.matches(key, walked)? else {
            return Ok(false);
        };
        let mut data = input;
        if let PathElement::Transpose(t) = &self.key {
            match t.lookup(walked)? {
                Some(found) => data = found,
                None => return Ok(false),
            }
        }
        walked.push_node(data, matched);
        self.run_children(key, data, walked, out)
    }

    /// Runs the children over `data`, the level just pushed onto `walked`, and pops it.
    fn run_children<'a>(
        &'a self,
        key: &Cow<'a, str>,
        data: View<'a>,
        walked: &mut WalkedPath<'a>,
        out: &mut Out<'a>,
    ) -> Result<bool, TransformError> {
        for child in &self.special {
            child.apply(key, data, walked, out)?;
        }
        self.process(data, walked, out)?;
        walked.pop();
        walked.count_match();
        Ok(true)
    }

    /// Runs the children over `input`: a JSON value of the input, or a map or list of the
    /// document an earlier operation of the chain built (the walk is the same).
    fn process<'a>(&'a self, input: View<'a>, walked: &mut WalkedPath<'a>, out: &mut Out<'a>) -> Result<(), TransformError> {
        match input {
            View::Value(Value::Object(map)) => {
                // Literal keys are looked up in the spec's order, which is usually the input's:
                // each search starts where the last one found its key (and wraps around).
                let mut cursor = map.iter();
                self.process_map(
                    |k| find_from(map, &mut cursor, k).map(|(k, v)| (k.as_str(), View::Value(v))),
                    map.iter().map(|(k, v)| (k.as_str(), View::Value(v))),
                    walked,
                    out,
                )
            }
            View::Out(Out::Map(map)) => self.process_map(|k| map.get_entry(k), map.iter(), walked, out),
            View::Value(Value::Array(list)) => self.process_list(list.len(), |i| list.get(i).map(View::Value), walked, out),
            View::Out(Out::List(list)) => self.process_list(list.len(), |i| list.get(i).map(View::of), walked, out),
            View::Value(Value::Null) | View::Out(_) => Ok(()),
            View::Value(scalar) => {
                // A scalar's text is matched as a key, with no data below it.
                let text: Cow<'a, str> = match scalar {
                    Value::String(s) => Cow::Borrowed(s),
                    other => Cow::Owned(crate::number::scalar_to_string(other).unwrap_or_default()),
                };
                let nothing = View::Value(&NULL);
                if matches!(self.strategy, Strategy::Literals | Strategy::LiteralsThenComputed) {
                    if let Some(i) = self.literal(&text) {
                        self.literals[i].1.apply(&text, nothing, walked, out)?;
                    }
                }
                match self.strategy {
                    Strategy::Literals => Ok(()),
                    Strategy::Computed | Strategy::LiteralsThenComputed => self.apply_computed(&text, nothing, walked, out),
                    Strategy::Conflict => self.apply_conflict(&text, nothing, walked, out),
                }
            }
        }
    }

    fn process_map<'a>(
        &'a self,
        mut get: impl FnMut(&str) -> Option<(&'a str, View<'a>)>,
        entries: impl Iterator<Item = (&'a str, View<'a>)>,
        walked: &mut WalkedPath<'a>,
        out: &mut Out<'a>,
    ) -> Result<(), TransformError> {
        if matches!(self.strategy, Strategy::Literals | Strategy::LiteralsThenComputed) {
            for (k, child) in &self.literals {
                if let Some((key, value)) = get(k) {
                    child.apply(&Cow::Borrowed(key), value, walked, out)?;
                }
            }
        }
        match self.strategy {
            Strategy::Literals => {}
            Strategy::Computed | Strategy::LiteralsThenComputed => {
                for (k, v) in entries {
                    self.apply_computed(&Cow::Borrowed(k), v, walked, out)?;
                }
            }
            Strategy::Conflict => {
                for (k, v) in entries {
                    self.apply_conflict(&Cow::Borrowed(k), v, walked, out)?;
                }
            }
        }
        Ok(())
    }

    fn process_list<'a>(
        &'a self,
        len: usize,
        get: impl Fn(usize) -> Option<View<'a>>,
        walked: &mut WalkedPath<'a>,
        out: &mut Out<'a>,
    ) -> Result<(), TransformError> {
        if matches!(self.strategy, Strategy::Literals | Strategy::LiteralsThenComputed) {
            for (k, child) in &self.literals {
                if let Some(value) = crate::keys::parse_index(k).and_then(&get) {
                    child.apply(&Cow::Owned(k.clone()), value, walked, out)?;
                }
            }
        }
        match self.strategy {
            Strategy::Literals => {}
            Strategy::Computed | Strategy::LiteralsThenComputed => {
                for i in 0..len {
                    if let Some(v) = get(i) {
                        self.apply_computed(&index_key(i), v, walked, out)?;
                    }
                }
            }
            Strategy::Conflict => {
                for i in 0..len {
                    if let Some(v) = get(i) {
                        self.apply_conflict(&index_key(i), v, walked, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The literal child for `key`: a scan for a few literals (cheaper than hashing the key).
    fn literal(&self, key: &str) -> Option<usize> {
        if self.literals.len() <= SCAN_UP_TO {
            self.literals.iter().position(|(k, _)| same_key(k, key))
        } else {
            self.literal_index.get(key).copied()
        }
    }

    fn apply_conflict<'a>(
        &'a self,
        key: &Cow<'a, str>,
        value: View<'a>,
        walked: &mut WalkedPath<'a>,
        out: &mut Out<'a>,
    ) -> Result<(), TransformError> {
        if let Some(i) = self.literal(key) {
            self.literals[i].1.apply(key, value, walked, out)?;
            Ok(())
        } else {
            self.apply_computed(key, value, walked, out)
        }
    }

    fn apply_computed<'a>(
        &'a self,
        key: &Cow<'a, str>,
        value: View<'a>,
        walked: &mut WalkedPath<'a>,
        out: &mut Out<'a>,
    ) -> Result<(), TransformError> {
        for child in &self.computed {
            if child.apply(key, value, walked, out)? {
                break;
            }
        }
        Ok(())
    }
}

impl Node {
    fn apply<'a>(
        &'a self,
        key: &Cow<'a, str>,
        input: View<'a>,
        walked: &mut WalkedPath<'a>,
        out: &mut Out<'a>,
    ) -> Result<bool, TransformError> {
        match self {
            Node::Composite(c) => c.apply(key, input, walked, out),
            Node::Leaf(l) => l.apply(key, input, walked, out),
        }
    }
}

impl Leaf {
    fn compile(key: PathElement, rhs: &Value, path: &str) -> Result<Leaf, SpecError> {
        let compile_one = |p: &Value, at: &str| match p {
            Value::String(s) => ReadPath::parse(&rooted(s)).map_err(|m| SpecError::new(at, m)),
            other => Err(SpecError::new(at, format!("a shift output path must be a string, got {other}"))),
        };
        let writers = match rhs {
            Value::String(_) => vec![compile_one(rhs, path)?],
            Value::Array(list) => list
                .iter()
                .enumerate()
                .map(|(i, p)| compile_one(p, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
            Value::Null => Vec::new(),
            other => {
                return Err(SpecError::new(
                    path,
                    format!("a shift value must be a map, an output path, a list of them or null, got {other}"),
                ))
            }
        };
        let fixed_writers = writers.iter().all(ReadPath::is_fixed);
        let writers = writers
            .iter()
            .map(|w| WritePlan::compile(w).ok_or_else(|| SpecError::new(path, "an output path must start at the root")))
            .collect::<Result<_, _>>()?;
        Ok(Leaf { key, writers, fixed_writers })
    }

    fn apply<'a>(
        &'a self,
        key: &Cow<'a, str>,
        input: View<'a>,
        walked: &mut WalkedPath<'a>,
        out: &mut Out<'a>,
    ) -> Result<bool, TransformError> {
        if simple_match(&self.key) {
            // A literal or `*` leaf: it writes the data it stands on.
            if self.fixed_writers {
                self.write_all(&Data::View(input), walked, out)?;
            } else {
                walked.push_key(input, key.clone());
                let result = self.write_all(&Data::View(input), walked, out);
                walked.pop();
                result?;
            }
            walked.count_match();
            return Ok(true);
        }
        if let PathElement::Star(glob) = &self.key {
            // The common computed key, matched in place (no `Matched` moved through `Result`s).
            let Some(captures) = glob.captures(key) else {
                return Ok(false);
            };
            if self.fixed_writers {
                self.write_all(&Data::View(input), walked, out)?;
            } else {
                walked.push_captures(input, key.clone(), captures);
                let result = self.write_all(&Data::View(input), walked, out);
                walked.pop();
                result?;
            }
            walked.count_match();
            return Ok(true);
        }
        if let PathElement::At = self.key {
            // `@`: the data this level stands on; it stands for its parent's match and is not
            // counted as a matched child.
            let data = Data::View(input);
            if self.fixed_writers {
                self.write_all(&data, walked, out)?;
            } else {
                walked.push_node(input, Matched::alias());
                let result = self.write_all(&data, walked, out);
                walked.pop();
                result?;
            }
            return Ok(false);
        }
        let Some(matched) = self.key.matches(key, walked)? else {
            return Ok(false);
        };
        let mut real_child = false;
        let data = match &self.key {
            PathElement::Dollar(_) | PathElement::Hash(_) => Data::Text(matched.key_cow()),
            PathElement::At => Data::View(input),
            PathElement::Transpose(t) => match t.lookup(walked)? {
                Some(found) => Data::View(found),
                None => return Ok(false),
            },
            _ => {
                real_child = true;
                Data::View(input)
            }
        };
        if self.fixed_writers {
            self.write_all(&data, walked, out)?;
        } else {
            walked.push_node(input, matched);
            let result = self.write_all(&data, walked, out);
            walked.pop();
            result?;
        }
        if real_child {
            walked.count_match();
        }
        Ok(real_child)
    }

    fn write_all<'a>(&'a self, data: &Data<'a>, walked: &WalkedPath<'a>, out: &mut Out<'a>) -> Result<(), TransformError> {
        // The value is made where the write stores it (see `WritePlan::write`), by a maker
        // small enough to be inlined there: one loop per kind of data.
        match *data {
            Data::View(View::Value(v)) => {
                for writer in &self.writers {
                    writer.write(out, walked, || Out::Data(v))?;
                }
            }
            // A map or list of an earlier document: referred to, not copied.
            Data::View(View::Out(o)) => {
                for writer in &self.writers {
                    writer.write(out, walked, || Out::Node(o))?;
                }
            }
            Data::Text(ref text) => {
                for writer in &self.writers {
                    writer.write(out, walked, || text_value(text))?;
                }
            }
        }
        Ok(())
    }
}

/// A `$` key's or `#literal`'s text as a value of the output.
fn text_value<'a>(text: &str) -> Out<'a> {
    // The box first, then its string: `Box::new(value)` copied a value built on the stack,
    // which stalled on store forwarding.
    let mut boxed = Box::new(Value::Null);
    *boxed = Value::String(text.to_owned());
    Out::Owned(boxed)
}

/// `map`'s entry for `key`, searched from `cursor` to the end and then from the start up to
/// the cursor; a hit leaves the cursor just after it. A map's keys are distinct, so this finds
/// what `map_get` finds; when lookups come in the map's order each takes one comparison.
/// Wide maps are hashed as `map_get` does.
fn find_from<'m>(
    map: &'m Map<String, Value>,
    cursor: &mut serde_json::map::Iter<'m>,
    key: &str,
) -> Option<(&'m String, &'m Value)> {
    if map.len() > 32 {
        return map_get(map, key);
    }
    let mut ahead = cursor.clone();
    for (k, v) in ahead.by_ref() {
        if same_key(k, key) {
            *cursor = ahead;
            return Some((k, v));
        }
    }
    let before = map.len() - cursor.len();
    map.iter().take(before).find(|(k, _)| same_key(k, key))
}

/// Whether a child's key takes the input key as it is, with no captures: a literal child is
/// only ever reached through a lookup of its own key (literals are found, not tried), and `*`
/// takes any key, so neither needs the general match.
#[inline]
fn simple_match(element: &PathElement) -> bool {
    matches!(element, PathElement::Literal(_) | PathElement::StarAll)
}

/// Whether any right-hand side of a shift spec (an output path, or a list of them) has a `#`.
fn rhs_has_hash(spec: &Value) -> bool {
    match spec {
        Value::Object(map) => map.values().any(rhs_has_hash),
        Value::Array(list) => list.iter().any(rhs_has_hash),
        Value::String(s) => s.contains('#'),
        _ => false,
    }
}

/// Every output path is written below a hidden `root` key, so `""` means "the whole output".
fn rooted(path: &str) -> String {
    if path.trim().is_empty() {
        ROOT.to_owned()
    } else {
        format!("{ROOT}.{path}")
    }
}

/// `a|b` is sugar for two keys with the same value (Java's `split("\\|")`, trailing empties dropped).
fn split_or(raw: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = raw.split('|').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shift(spec: Value, input: Value) -> Value {
        Shift::compile(&spec, "$").unwrap().apply(&input).unwrap()
    }

    #[test]
    fn literals_win_over_stars_and_refs_fill_paths() {
        let out = shift(
            json!({"rating": {"primary": {"value": "Rating"}, "*": {"value": "Secondary.&1.Value"}}}),
            json!({"rating": {"primary": {"value": 3}, "quality": {"value": 4}}}),
        );
        assert_eq!(out, json!({"Rating": 3, "Secondary": {"quality": {"Value": 4}}}));
    }

    #[test]
    fn dollar_and_hash_write_keys_and_literals() {
        let out = shift(json!({"*": {"$": "keys[]", "#yes": "flags[]"}}), json!({"a": 1, "b": 2}));
        assert_eq!(out, json!({"keys": ["a", "b"], "flags": ["yes", "yes"]}));
    }

    #[test]
    fn hash_index_counts_matched_siblings() {
        let out = shift(
            json!({"*": {"name": "people[#2].name"}}),
            json!({"x": {"name": "a"}, "y": {"other": 1}, "z": {"name": "c"}}),
        );
        // "y" matched `*` too, so it took index 1 although it wrote nothing.
        assert_eq!(out, json!({"people": [{"name": "a"}, null, {"name": "c"}]}));
    }

    #[test]
    fn literal_lookups_find_every_key_in_any_order() {
        let input = json!({"a": 1, "b": 2, "c": 3, "d": 4});
        let Value::Object(map) = &input else { unreachable!() };
        let mut cursor = map.iter();
        // In order, out of order (wrapping around), missing, and again after a miss.
        for (key, expected) in [("a", Some(1)), ("c", Some(3)), ("b", Some(2)), ("x", None), ("d", Some(4)), ("a", Some(1)), ("a", Some(1))] {
            let found = find_from(map, &mut cursor, key).map(|(k, v)| (k.as_str(), v.as_i64()));
            assert_eq!(found, expected.map(|n| (key, Some(n))), "{key}");
        }
        let out = shift(json!({"d": "w", "a": "x", "c": "y", "b": "z"}), input);
        assert_eq!(out, json!({"w": 4, "x": 1, "y": 3, "z": 2}));
    }

    #[test]
    fn empty_composite_is_a_spec_error_with_its_path() {
        let err = Shift::compile(&json!({"a": {"b": {}}}), "$[0].spec").unwrap_err();
        assert_eq!(err.path, "$[0].spec.a.b");
    }
}
