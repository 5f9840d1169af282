//! `modify-overwrite-beta`, `modify-default-beta`, `modify-define-beta`: write computed values
//! into the input, in place. The spec mirrors the input; a leaf's value is a literal, a lookup
//! (`@(1,name)` in the input, `^name` in the context) or a function call (`=toLower`,
//! `=concat(@(1,a),' ',@(1,b))`), or a list of those of which the first that yields a value wins.
//!
//! The three variants differ only in when a write goes through: overwrite always, default when
//! the value is missing or `null`, define when the key is missing. A key may pick its own with a
//! `+`, `~` or `_` prefix; a `?` suffix applies the key only when the input has it.
//!
//! The walk mutates the tree it reads, so levels are kept as paths from the root (not
//! references) and each leaf first evaluates against a read-only view, then writes.
//!
//! The tree is the chain's document ([`Out`]): the input's maps and lists are taken apart
//! (shallowly, sharing their values) only along the paths a write goes down, so what the spec
//! does not touch is never copied.
use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::functions::Function;
use crate::keys::{computed_rank, parse_index, split_dot_notation, ArrayIndex, PathElement, ReadPath, Transpose};
use crate::output::{Out, OutMap};
use crate::walked::{Captures, View, WalkedPath};
use crate::{child_path, SpecError, TransformError};

static NULL: Value = Value::Null;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Overwrite,
    Default,
    Define,
}

impl Mode {
    fn from_prefix(c: char) -> Option<Mode> {
        match c {
            '+' => Some(Mode::Overwrite),
            '~' => Some(Mode::Default),
            '_' => Some(Mode::Define),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Overwrite => "modify-overwrite-beta",
            Mode::Default => "modify-default-beta",
            Mode::Define => "modify-define-beta",
        }
    }

    fn applies_to_map(self, map: &OutMap<'_>, key: &str) -> bool {
        match self {
            Mode::Overwrite => true,
            Mode::Default => map.get(key).is_none_or(Out::is_null),
            Mode::Define => map.get(key).is_none(),
        }
    }

    /// `orig_size` is the list's length before the spec's explicit indexes extended it.
    fn applies_to_list(self, list: &[Out<'_>], index: usize, orig_size: usize) -> bool {
        let is_null = list.get(index).is_none_or(Out::is_null);
        match self {
            Mode::Overwrite => true,
            Mode::Default => is_null,
            Mode::Define => index >= orig_size && is_null,
        }
    }
}

#[derive(Debug)]
pub struct Modify {
    root: Composite,
}

#[derive(Debug)]
enum Key {
    Literal(String),
    StarAll,
    Star(PathElement),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum DataType {
    /// Explicit `[n]` keys: the input must be a list, extended to the largest index.
    List(Option<usize>),
    Map,
    /// Only `*`: whatever the input is (but not null).
    Runtime,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    AllLiterals,
    Computed,
    Conflict,
    AllLiteralsThenComputed,
}

#[derive(Debug)]
struct Composite {
    key: Key,
    mode: Mode,
    check_value: bool,
    literals: Vec<(String, Node)>,
    literal_index: HashMap<String, usize>,
    computed: Vec<Node>,
    data_type: DataType,
    strategy: Strategy,
}

#[derive(Debug)]
struct Leaf {
    key: Key,
    mode: Mode,
    check_value: bool,
    evaluators: Vec<Evaluator>,
}

#[derive(Debug)]
enum Node {
    Composite(Composite),
    Leaf(Leaf),
}

#[derive(Debug)]
enum Arg {
    Literal(Value),
    /// `@(n,path)`: data in the input, relative to this leaf.
    Input(Transpose),
    /// `^path`: data in the context document.
    Context(Option<ReadPath>),
}

#[derive(Debug)]
enum Evaluator {
    Arg(Arg),
    /// `=name` (no args: the leaf's own value) or `=name(args)`. An unknown name (or one with
    /// spaces, `=toUpper (x)`) yields its first argument's value, as the reference's evaluator
    /// does when it has no function: `=unknownFn(@(1,a))` writes `a`, `=unknownFn()` null, and
    /// `=unknownFn` nothing.
    Call { function: Option<Function>, args: Option<Vec<Arg>> },
}

/// One level of the walk: how to get there from the parent, and what matched. The key is
/// borrowed from the spec when the spec's key is a literal (no copy per level), and owned when a
/// computed key matched an input key.
#[derive(Debug)]
struct Level<'s> {
    step: Option<Step>,
    key: Cow<'s, str>,
    captures: Captures,
    /// For a list: its length before explicit indexes extended it.
    orig_size: Option<usize>,
}

/// How a level is reached from its parent: by its key in a map, or by an index in a list.
#[derive(Debug, Clone, Copy)]
enum Step {
    Key,
    Index(usize),
}

fn child<'v>(node: View<'v>, level: &Level<'_>) -> Option<View<'v>> {
    match level.step {
        Some(Step::Key) => node.get(&level.key),
        Some(Step::Index(i)) => node.index(i),
        None => Some(node),
    }
}

/// The child `key`/`step` leads to, the node taken apart first so that it can be written into.
fn child_mut<'v, 'a>(node: &'v mut Out<'a>, key: &str, step: Step) -> Option<&'v mut Out<'a>> {
    node.explode();
    match (node, step) {
        (Out::Map(m), Step::Key) => m.get_mut(key),
        (Out::List(l), Step::Index(i)) => l.get_mut(i),
        _ => None,
    }
}

fn resolve<'v>(root: &'v Out<'_>, levels: &[Level<'_>]) -> Option<View<'v>> {
    levels.iter().try_fold(View::of(root), child)
}

/// The container at the current level, taken apart to be written into.
fn resolve_mut<'v, 'a>(root: &'v mut Out<'a>, levels: &[Level<'_>]) -> Option<&'v mut Out<'a>> {
    let mut node = root;
    for level in levels {
        if let Some(step) = level.step {
            node = child_mut(node, &level.key, step)?;
        }
    }
    node.explode();
    Some(node)
}

/// `levels.push(level)`, with room made before the level is: `push` built it on the stack
/// around its call to grow and copied it with wide loads of narrow stores, which stalled on
/// store forwarding.
#[inline(always)]
fn push_level<'s>(levels: &mut Vec<Level<'s>>, step: Option<Step>, key: Cow<'s, str>, captures: Captures, orig_size: Option<usize>) {
    levels.reserve(1);
    let len = levels.len();
    // SAFETY: `reserve(1)` made room for a level at `len`; each of its fields is written before
    // `set_len` makes it part of the vector.
    unsafe {
        let end = levels.as_mut_ptr().add(len);
        std::ptr::addr_of_mut!((*end).step).write(step);
        std::ptr::addr_of_mut!((*end).key).write(key);
        std::ptr::addr_of_mut!((*end).captures).write(captures);
        std::ptr::addr_of_mut!((*end).orig_size).write(orig_size);
        levels.set_len(len + 1);
    }
}

/// The read-only walked path the lookups evaluate against. `root` is the `{"root": input}`
/// wrapper; its first level stands for the input itself, as the reference's does.
fn walked_view<'v>(root: &'v Out<'_>, levels: &'v [Level<'_>]) -> WalkedPath<'v> {
    let mut walked = WalkedPath::new();
    let mut tree = Some(View::of(root));
    for (i, level) in levels.iter().enumerate() {
        tree = tree.and_then(|t| child(t, level));
        let shown = if i == 0 { View::of(root).get("root") } else { tree };
        // (Most levels have no captures: nothing to copy.)
        let captures = if level.captures.is_empty() { Captures::new() } else { Captures::from_slice(&level.captures) };
        walked.push_captures(shown.unwrap_or(View::Value(&NULL)), Cow::Borrowed(level.key.as_ref()), captures);
    }
    walked
}

impl Key {
    fn matches(&self, key: &str, parent_is_list: bool) -> Option<Captures> {
        match self {
            Key::Literal(s) => (s == key).then(Captures::new),
            Key::StarAll => Some(Captures::new()),
            Key::Star(PathElement::Star(g)) => g.captures(key),
            Key::Star(_) => None,
            Key::Index(n) => (parent_is_list && parse_index(key) == Some(*n)).then(Captures::new),
        }
    }

    fn canonical(&self) -> String {
        match self {
            Key::Literal(s) => s.clone(),
            Key::StarAll => "*".into(),
            Key::Star(p) => p.canonical(),
            Key::Index(n) => format!("[{n}]"),
        }
    }
}

/// Parses a modify key: an optional `+`/`~`/`_` prefix, an optional `?` suffix, then a literal,
/// a star pattern or an explicit `[n]` index.
fn parse_key(raw: &str, default_mode: Mode) -> Result<(Key, Mode, bool), String> {
    let Some(first) = raw.chars().next() else {
        return Err("a modify key can not be empty".into());
    };
    let question_suffix = raw.chars().count() > 1 && raw.ends_with('?');
    let (mode, rest) = match Mode::from_prefix(first) {
        Some(mode) => (mode, &raw[first.len_utf8()..]),
        None => (default_mode, raw),
    };
    let check_value = question_suffix && !rest.ends_with("\\?");
    let rest = if check_value { &rest[..rest.len() - 1] } else { rest };
    let key = match PathElement::parse(rest)? {
        PathElement::Literal(s) => Key::Literal(s),
        PathElement::StarAll => Key::StarAll,
        star @ PathElement::Star(_) => Key::Star(star),
        PathElement::Array(ArrayIndex::Explicit(n)) => Key::Index(n),
        PathElement::Array(_) => return Err(format!("{}: only explicit array indexes like [0] are supported", mode.name())),
        other => return Err(format!("{} can not have the key `{}`", mode.name(), other.canonical())),
    };
    Ok((key, mode, check_value))
}

impl Composite {
    /// `base` is the operation's mode: a child key without a prefix takes it, not this key's
    /// (the reference's spec builder carries the operation's mode, so `+b: {c: 1}` under
    /// modify-default-beta overwrites `b` but only defaults `c`).
    fn compile(
        key: Key,
        mode: Mode,
        base: Mode,
        check_value: bool,
        spec: &Map<String, Value>,
        path: &str,
    ) -> Result<Composite, SpecError> {
        let mut literals: Vec<(String, Node)> = Vec::new();
        let mut computed = Vec::new();
        let (mut map_key, mut array_key): (Option<String>, Option<String>) = (None, None);
        let mut max_index: Option<usize> = None;
        let mut seen = std::collections::HashSet::new();
        for (raw, rhs) in spec {
            let at = child_path(path, raw);
            for piece in raw.split('|') {
                let (child_key, child_mode, child_check) = parse_key(piece, base).map_err(|m| SpecError::new(&at, m))?;
                if !seen.insert(child_key.canonical()) {
                    return Err(SpecError::new(&at, format!("duplicate modify key `{}`", child_key.canonical())));
                }
                let node = match rhs {
                    Value::Object(sub) if !sub.is_empty() => {
                        Node::Composite(Composite::compile(child_key, child_mode, base, child_check, sub, &at)?)
                    }
                    other => Node::Leaf(Leaf::compile(child_key, child_mode, child_check, other, &at)?),
                };
                match node.key() {
                    Key::Literal(s) => {
                        map_key.get_or_insert_with(|| s.clone());
                        literals.push((s.clone(), node));
                    }
                    Key::Index(n) => {
                        let n = *n;
                        array_key.get_or_insert_with(|| format!("[{n}]"));
                        if !child_check {
                            max_index = Some(max_index.map_or(n, |m| m.max(n)));
                        }
                        literals.push((n.to_string(), node));
                    }
                    Key::Star(p) => {
                        map_key.get_or_insert_with(|| p.canonical());
                        computed.push(node);
                    }
                    Key::StarAll => computed.push(node),
                }
                if let (Some(m), Some(a)) = (&map_key, &array_key) {
                    return Err(SpecError::new(
                        path,
                        format!("{} can not mix list indexes and map keys: `{a}` conflicts with `{m}`", base.name()),
                    ));
                }
            }
        }
        let data_type = if array_key.is_some() {
            DataType::List(max_index)
        } else if map_key.is_some() {
            DataType::Map
        } else {
            DataType::Runtime
        };
        computed.sort_by_cached_key(|n: &Node| match n.key() {
            Key::Star(p) => computed_rank(p),
            other => computed_rank(&PathElement::Literal(other.canonical())),
        });
        let strategy = if computed.is_empty() {
            Strategy::AllLiterals
        } else if literals.is_empty() {
            Strategy::Computed
        } else if mode == Mode::Define && matches!(data_type, DataType::List(_)) {
            Strategy::Conflict
        } else {
            Strategy::AllLiteralsThenComputed
        };
        let literal_index = literals.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
        Ok(Composite { key, mode, check_value, literals, literal_index, computed, data_type, strategy })
    }

    /// Walks into `parent[key]`: checks it suits the spec, creates it when missing (if the mode
    /// allows), extends a list to the spec's indexes, then runs the children.
    fn apply_element<'s>(
        &'s self,
        key: Cow<'s, str>,
        captures: Captures,
        root: &mut Out<'_>,
        levels: &mut Vec<Level<'s>>,
        context: &Value,
    ) -> Result<(), TransformError> {
        let parent_orig = levels.last().and_then(|l| l.orig_size);
        let Some(parent) = resolve_mut(root, levels) else {
            return Ok(());
        };
        let step = match parent {
            Out::Map(_) => Step::Key,
            Out::List(_) => match parse_index(&key) {
                Some(i) => Step::Index(i),
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        let current = match (&*parent, step) {
            (Out::Map(m), Step::Key) => m.get(&key),
            (Out::List(l), Step::Index(i)) => l.get(i),
            _ => None,
        };
        let is_null = current.is_none_or(Out::is_null);
        let compatible = match self.data_type {
            DataType::List(_) => is_null || current.is_some_and(Out::is_list),
            DataType::Map => is_null || current.is_some_and(Out::is_map),
            DataType::Runtime => !is_null,
        };
        if !compatible {
            return Ok(());
        }
        if is_null {
            let fresh = match self.data_type {
                DataType::List(_) => Out::List(Vec::new()),
                _ => Out::new_map(),
            };
            match (&mut *parent, step) {
                (Out::Map(map), Step::Key) if self.mode.applies_to_map(map, &key) => map.set(&key, fresh),
                (Out::List(list), Step::Index(i))
                    if i < list.len() && parent_orig.is_some_and(|o| self.mode.applies_to_list(list, i, o)) =>
                {
                    list[i] = fresh;
                }
                _ => return Ok(()),
            }
        }
        let orig_size = match child_mut(parent, &key, step) {
            Some(child) if child.is_list() => {
                child.explode();
                match child {
                    Out::List(list) => {
                        let orig = list.len();
                        if let DataType::List(Some(max)) = self.data_type {
                            if max >= list.len() {
                                list.resize_with(max + 1, || Out::Null);
                            }
                        }
                        Some(orig)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        push_level(levels, Some(step), key, captures, orig_size);
        let result = self.process(root, levels, context);
        levels.pop();
        result
    }

    /// Runs the children over the container at the current level.
    fn process<'s>(&'s self, root: &mut Out<'_>, levels: &mut Vec<Level<'s>>, context: &Value) -> Result<(), TransformError> {
        let orig_size = levels.last().and_then(|l| l.orig_size);
        if matches!(self.strategy, Strategy::AllLiterals | Strategy::AllLiteralsThenComputed) {
            for (k, node) in &self.literals {
                // A list element counts as present only within the list's original length, so
                // a `[n]?` key does not fire on the slots explicit indexes just added.
                let is_present = match resolve(root, levels) {
                    Some(n) if n.is_map() => n.get(k).is_some(),
                    Some(n) => match n.list_len() {
                        Some(len) => parse_index(k).is_some_and(|i| i < len && orig_size.is_none_or(|o| i < o)),
                        None => return Ok(()),
                    },
                    None => return Ok(()),
                };
                node.apply(k, is_present, root, levels, context)?;
            }
        }
        if self.strategy == Strategy::AllLiterals {
            return Ok(());
        }
        // The keys as they are after the literal pass (which may have added some); children
        // that add keys during this pass do not extend it.
        let keys: Vec<String> = match resolve(root, levels) {
            Some(n) => match (n.keys(), n.list_len()) {
                (Some(keys), _) => keys,
                (None, Some(len)) => (0..len).map(|i| i.to_string()).collect(),
                (None, None) => return Ok(()),
            },
            None => return Ok(()),
        };
        for k in &keys {
            match (self.strategy, self.literal_index.get(k)) {
                (Strategy::Conflict, Some(&i)) => {
                    self.literals[i].1.apply(k, true, root, levels, context)?;
                }
                _ => self.apply_computed(k, root, levels, context)?,
            }
        }
        Ok(())
    }

    fn apply_computed<'s>(&'s self, key: &str, root: &mut Out<'_>, levels: &mut Vec<Level<'s>>, context: &Value) -> Result<(), TransformError> {
        for node in &self.computed {
            if node.apply(key, true, root, levels, context)? {
                break;
            }
        }
        Ok(())
    }
}

impl Node {
    fn key(&self) -> &Key {
        match self {
            Node::Composite(c) => &c.key,
            Node::Leaf(l) => &l.key,
        }
    }

    /// Says whether the key matched (a `?` key without input data still counts as matched).
    fn apply<'s>(&'s self, key: &str, present: bool, root: &mut Out<'_>, levels: &mut Vec<Level<'s>>, context: &Value) -> Result<bool, TransformError> {
        let parent_is_list = levels.last().is_some_and(|l| l.orig_size.is_some());
        let Some(captures) = self.key().matches(key, parent_is_list) else {
            return Ok(false);
        };
        let check_value = match self {
            Node::Composite(c) => c.check_value,
            Node::Leaf(l) => l.check_value,
        };
        if check_value && !present {
            return Ok(true);
        }
        match self {
            Node::Composite(c) => {
                // A literal spec key is the matched key: the level borrows it from the spec.
                let key = match &c.key {
                    Key::Literal(literal) => Cow::Borrowed(literal.as_str()),
                    _ => Cow::Owned(key.to_owned()),
                };
                c.apply_element(key, captures, root, levels, context)?
            }
            Node::Leaf(l) => l.apply_element(key, captures, present, root, levels, context),
        }
        Ok(true)
    }
}

impl Leaf {
    fn compile(key: Key, mode: Mode, check_value: bool, rhs: &Value, path: &str) -> Result<Leaf, SpecError> {
        let evaluators = match rhs {
            Value::String(s) => vec![Evaluator::parse(s).map_err(|m| SpecError::new(path, m))?],
            Value::Array(list) if !list.is_empty() => list
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Evaluator::parse(s).map_err(|m| SpecError::new(&format!("{path}[{i}]"), m)),
                    other => Ok(Evaluator::Arg(Arg::Literal(other.clone()))),
                })
                .collect::<Result<_, _>>()?,
            other => vec![Evaluator::Arg(Arg::Literal(other.clone()))],
        };
        Ok(Leaf { key, mode, check_value, evaluators })
    }

    fn apply_element(
        &self,
        key: &str,
        captures: Captures,
        present: bool,
        root: &mut Out<'_>,
        levels: &[Level<'_>],
        context: &Value,
    ) {
        let parent_orig = levels.last().and_then(|l| l.orig_size);
        let value = {
            let view: &Out<'_> = root;
            let mut walked = walked_view(view, levels);
            let parent = walked.up(0).map_or(View::Value(&NULL), |s| s.tree);
            let input = if !present {
                None
            } else if parent.is_map() {
                parent.get(key)
            } else {
                parse_index(key).and_then(|i| parent.index(i))
            };
            walked.push_captures(input.unwrap_or(View::Value(&NULL)), Cow::Borrowed(key), captures);
            self.evaluators.iter().find_map(|e| e.evaluate(input, &walked, context))
        };
        let Some(value) = value else { return };
        match resolve_mut(root, levels) {
            Some(Out::Map(map)) if self.mode.applies_to_map(map, key) => map.set(key, Out::Owned(Box::new(value))),
            Some(Out::List(list)) => {
                if let (Some(i), Some(orig)) = (parse_index(key), parent_orig) {
                    if i < list.len() && self.mode.applies_to_list(list, i, orig) {
                        list[i] = Out::Owned(Box::new(value));
                    }
                }
            }
            _ => {}
        }
    }
}

impl Evaluator {
    fn parse(rhs: &str) -> Result<Evaluator, String> {
        let Some(call) = rhs.strip_prefix('=') else {
            return Ok(Evaluator::Arg(Arg::parse(rhs, false)?));
        };
        if !call.contains('(') && !call.ends_with(')') {
            return Ok(Evaluator::Call { function: Function::by_name(call), args: None });
        }
        let (name, args) = parse_function_args(call)?;
        let args = args.iter().map(|a| Arg::parse(a, true)).collect::<Result<Vec<_>, _>>()?;
        Ok(Evaluator::Call { function: Function::by_name(&name), args: Some(args) })
    }

    fn evaluate<'a>(&'a self, input: Option<View<'_>>, walked: &WalkedPath<'a>, context: &Value) -> Option<Value> {
        match self {
            Evaluator::Arg(arg) => arg.evaluate(walked, context),
            Evaluator::Call { function, args } => {
                let Some(function) = *function else {
                    return args.as_deref()?.first()?.evaluate(walked, context);
                };
                // The functions that only read their arguments get them borrowed (no copy of
                // each argument into a `Value` of its own); the others, and arguments that are
                // a document's maps or lists, take the general way below.
                let borrowed = match args.as_deref() {
                    None => match input {
                        Some(View::Value(v)) => function.call_borrowed(&[v]),
                        _ => None,
                    },
                    Some([one]) => match one.borrow(walked, context) {
                        Some(Some(v)) => function.call_borrowed(&[v]),
                        _ => None,
                    },
                    Some(many) if many.len() <= 4 => {
                        let mut refs: smallvec::SmallVec<[&Value; 4]> = smallvec::SmallVec::new();
                        for arg in many {
                            match arg.borrow(walked, context) {
                                Some(found) => refs.push(found.unwrap_or(&NULL)),
                                None => break,
                            }
                        }
                        if refs.len() == many.len() {
                            function.call_borrowed(&refs)
                        } else {
                            None
                        }
                    }
                    Some(_) => None,
                };
                if let Some(result) = borrowed {
                    return result;
                }
                let values = match args.as_deref() {
                    None => input.map(|v| vec![v.to_value()]).unwrap_or_default(),
                    Some([one]) => one.evaluate(walked, context).map(|v| vec![v]).unwrap_or_default(),
                    Some(many) => many.iter().map(|a| a.evaluate(walked, context).unwrap_or(Value::Null)).collect(),
                };
                function.call(values)
            }
        }
    }
}

/// `SpecStringParser.parseFunctionArgs`: `name(a, 'b,c', @(1,x))` -> name and the argument
/// texts, splitting on commas outside quotes and parentheses.
fn parse_function_args(call: &str) -> Result<(String, Vec<String>), String> {
    let open = call.find('(').ok_or_else(|| format!("`={call}`: a function call needs `(`"))?;
    let name = call[..open].to_owned();
    let inner_end = call.len().saturating_sub(1).max(open + 1);
    let inner = call.get(open + 1..inner_end).unwrap_or("");
    let mut args = Vec::new();
    let mut current = String::new();
    let (mut in_parens, mut in_quotes) = (false, false);
    for c in inner.chars() {
        match c {
            '(' if !in_quotes => {
                in_parens = true;
                current.push(c);
            }
            ')' if !in_quotes => {
                in_parens = false;
                current.push(c);
            }
            '\'' => {
                in_quotes = !in_quotes;
                current.push(c);
            }
            ',' if !in_parens && !in_quotes => args.push(std::mem::take(&mut current).trim().to_owned()),
            _ => current.push(c),
        }
    }
    args.push(current.trim().to_owned());
    Ok((name, args))
}

impl Arg {
    fn parse(arg: &str, in_function: bool) -> Result<Arg, String> {
        if let Some(path) = arg.strip_prefix('^') {
            let path = if path.trim().is_empty() { None } else { Some(ReadPath::parse(path)?) };
            return Ok(Arg::Context(path));
        }
        if arg.starts_with('@') {
            let pieces = split_dot_notation(arg)?;
            return match pieces.last().map(|p| PathElement::parse(p)).transpose()? {
                Some(PathElement::Transpose(t)) if pieces.len() == 1 => Ok(Arg::Input(*t)),
                _ => Err(format!("`{arg}`: expected one @(level,path) lookup")),
            };
        }
        if !in_function {
            return Ok(Arg::Literal(Value::String(arg.to_owned())));
        }
        Ok(Arg::Literal(if arg.is_empty() {
            Value::Null
        } else if arg.len() >= 2 && arg.starts_with('\'') && arg.ends_with('\'') {
            Value::String(arg[1..arg.len() - 1].to_owned())
        } else if arg == "'" {
            return Err("an unterminated ' in function arguments".into());
        } else if arg.eq_ignore_ascii_case("true") || arg.eq_ignore_ascii_case("false") {
            Value::Bool(arg.eq_ignore_ascii_case("true"))
        } else if let Some(n) = crate::functions::parse_java_number(arg) {
            n.to_value()
        } else {
            Value::String(arg.to_owned())
        }))
    }

    /// The argument's value, borrowed: `Some(None)` when it has none (missing), `None` when it
    /// is not a JSON value (a map or list of the document: [`Arg::evaluate`] copies those).
    fn borrow<'v>(&'v self, walked: &WalkedPath<'v>, context: &'v Value) -> Option<Option<&'v Value>> {
        let found = match self {
            Arg::Literal(v) => return Some(Some(v)),
            Arg::Input(t) => t.lookup(walked).ok().flatten(),
            Arg::Context(None) => return Some(Some(context)),
            Arg::Context(Some(path)) => path.read(View::Value(context), walked).ok().flatten(),
        };
        match found {
            None => Some(None),
            Some(view) => view.value().map(Some),
        }
    }

    fn evaluate<'a>(&'a self, walked: &WalkedPath<'a>, context: &Value) -> Option<Value> {
        match self {
            Arg::Literal(v) => Some(v.clone()),
            Arg::Input(t) => t.lookup(walked).ok().flatten().map(View::to_value),
            Arg::Context(None) => Some(context.clone()),
            Arg::Context(Some(path)) => path.read(View::Value(context), walked).ok().flatten().map(View::to_value),
        }
    }
}

impl Modify {
    pub fn compile(spec: &Value, mode: Mode, path: &str) -> Result<Modify, SpecError> {
        let Value::Object(map) = spec else {
            return Err(SpecError::new(path, format!("a {} spec must be a JSON object", mode.name())));
        };
        Ok(Modify { root: Composite::compile(Key::Literal("root".into()), mode, mode, false, map, path)? })
    }

    pub fn apply<'a>(&self, input: Out<'a>, context: &Value) -> Result<Out<'a>, TransformError> {
        if input.is_null() {
            // The reference has no parent to create a container in: null stays null.
            return Ok(input);
        }
        // The reference wraps the input as `{"root": input}` and walks from there; so do we, so
        // that `@(n,..)` counts the same levels.
        let mut root = OutMap::default();
        *root.slot_with("root", || Cow::Borrowed("root")) = input;
        let mut wrapper = Out::Map(root);
        let mut levels = vec![Level { step: None, key: "root".into(), captures: Captures::new(), orig_size: None }];
        self.root.apply_element(Cow::Borrowed("root"), Captures::new(), &mut wrapper, &mut levels, context)?;
        Ok(match wrapper {
            Out::Map(mut map) => map.take("root").unwrap_or(Out::Null),
            _ => Out::Null,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn modify(spec: Value, mode: Mode, input: Value) -> Value {
        let out = Modify::compile(&spec, mode, "$").unwrap().apply(Out::Data(&input), &json!({"ctx": "C"})).unwrap().into_value();
        out
    }

    #[test]
    fn the_three_modes_differ_in_when_they_write() {
        let spec = json!({"a": "new", "b": "new", "c": "new"});
        let input = json!({"a": "old", "b": null});
        assert_eq!(modify(spec.clone(), Mode::Overwrite, input.clone()), json!({"a": "new", "b": "new", "c": "new"}));
        assert_eq!(modify(spec.clone(), Mode::Default, input.clone()), json!({"a": "old", "b": "new", "c": "new"}));
        assert_eq!(modify(spec, Mode::Define, input), json!({"a": "old", "b": null, "c": "new"}));
    }

    #[test]
    fn functions_lookups_and_context() {
        let spec = json!({"name": "=toUpper", "full": "=concat(@(1,name),'-',^ctx)", "n?": 5});
        let out = modify(spec, Mode::Overwrite, json!({"name": "ada"}));
        // `full` reads `name` after `name` was upper-cased: literal keys run in spec order.
        assert_eq!(out, json!({"name": "ADA", "full": "ADA-C"}));
    }

    #[test]
    fn explicit_indexes_extend_a_list() {
        let out = modify(json!({"list": {"[2]": "x"}}), Mode::Overwrite, json!({"list": ["a"]}));
        assert_eq!(out, json!({"list": ["a", null, "x"]}));
    }

    #[test]
    fn mixing_indexes_and_keys_is_a_spec_error() {
        let err = Modify::compile(&json!({"t": {"[1]": "a", "b*": "c"}}), Mode::Overwrite, "$[0].spec").unwrap_err();
        assert_eq!(err.path, "$[0].spec.t");
    }
}
