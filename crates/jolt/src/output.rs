//! The chain's document ([`Out`]): what shift builds along evaluated path steps (the reference's
//! `ShiftrTraversr`: maps and lists are created on the way, values colliding on one key become a
//! list), and what default and modify then write into.
//!
//! The tree is not a `serde_json::Value`: values written from the input stay borrowed (`Data`),
//! as the reference's output shares the input's objects, and so do keys taken from the input or
//! the spec, and maps and lists of an earlier document (`Node`); a map or list is taken apart
//! (`explode`, shallowly) only when something writes into it. Map keys are found by comparing
//! strings (with a hash index only for wide maps), so a write costs no hashing and no copy of the
//! data. The finished tree serializes as JSON directly ([`serde::Serialize`]), or
//! [`Out::into_value`] copies it into a `serde_json::Value`.
use std::borrow::Cow;
use std::collections::HashMap;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

use crate::keys::{same_key, AmpTemplate, ArrayIndex, KeyStep, PathStep, ReadPath, Ref, Transpose};
use crate::walked::{View, WalkedPath};
use crate::TransformError;

/// Maps wider than this get a hash index; below it, comparing keys is cheaper than hashing.
const INDEX_FROM: usize = 24;

#[derive(Debug)]
#[repr(u8)]
pub enum Out<'a> {
    Null,
    /// A value of the input, copied when the tree is finished.
    Data(&'a Value),
    /// A value made during the walk (`$` keys, `#` literals) or taken apart from one; boxed, as
    /// it is rare and a `Value` is 80 bytes, which every node would otherwise carry and move.
    Owned(Box<Value>),
    Map(OutMap<'a>),
    List(Vec<Out<'a>>),
    /// A map or list of a document an earlier operation of the chain built, which outlives
    /// this one (`Chain::transform_with`): shared, not copied, until something writes into it.
    Node(&'a Out<'a>),
}

#[derive(Debug, Default)]
pub struct OutMap<'a> {
    entries: Vec<(Cow<'a, str>, Out<'a>)>,
    /// Boxed: only wide maps have one, and a bare `HashMap` (48 bytes) would widen every node.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<Cow<'a, str>, usize>>>,
}

impl<'a> OutMap<'a> {
    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| same_key(k, key)),
        }
    }

    /// The slot for `key`, added (as `Null`, under that key) when absent.
    #[inline]
    fn slot_cow(&mut self, key: Cow<'a, str>) -> &mut Out<'a> {
        match key {
            // Nearly every key: from the spec or the input. Passed on as a `&str` (two
            // registers), not a `Cow` in memory, whose reload stalled on store forwarding.
            Cow::Borrowed(key) => self.slot_str(key),
            owned => {
                let key = owned.clone();
                self.slot_with(&key, || owned)
            }
        }
    }

    /// [`OutMap::slot_cow`] for a borrowed key.
    fn slot_str(&mut self, key: &'a str) -> &mut Out<'a> {
        if self.index.is_none() {
            // Found by comparing keys: a small map (the index comes at INDEX_FROM keys).
            if let Some(i) = self.entries.iter().position(|(k, _)| same_key(k, key)) {
                return &mut self.entries[i].1;
            }
            if self.entries.len() < INDEX_FROM {
                let len = self.entries.len();
                self.push_null(Cow::Borrowed(key));
                return &mut self.entries[len].1;
            }
        }
        self.slot_with(key, || Cow::Borrowed(key))
    }

    /// Appends `key` with a `Null` value, written field by field in place: `Vec::push` (and
    /// `extend`) built the entry on the stack in 8-byte stores and copied it with 16-byte loads,
    /// which stalled on store forwarding (over half of `slot_str`'s time in member_to_crm).
    #[inline(always)]
    fn push_null(&mut self, key: Cow<'a, str>) {
        self.entries.reserve(1);
        let len = self.entries.len();
        // SAFETY: `reserve(1)` made room for an entry at `len`; both of its fields are written
        // before `set_len` makes it part of the vector.
        unsafe {
            let end = self.entries.as_mut_ptr().add(len);
            std::ptr::addr_of_mut!((*end).0).write(key);
            std::ptr::addr_of_mut!((*end).1).write(Out::Null);
            self.entries.set_len(len + 1);
        }
    }

    /// The slot for `key`, added (as `Null`, under the key `make_key` gives) when absent.
    pub fn slot_with(&mut self, key: &str, make_key: impl FnOnce() -> Cow<'a, str>) -> &mut Out<'a> {
        let i = match self.position(key) {
            Some(i) => i,
            None => {
                let i = self.entries.len();
                let key = make_key();
                if let Some(index) = &mut self.index {
                    index.insert(key.clone(), i);
                }
                self.push_null(key);
                if self.index.is_none() && self.entries.len() > INDEX_FROM {
                    self.index = Some(index_of(&self.entries));
                }
                i
            }
        };
        &mut self.entries[i].1
    }

    pub fn get(&self, key: &str) -> Option<&Out<'a>> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// The entry for `key`, borrowed for as long as the map.
    pub fn get_entry<'m>(&'m self, key: &str) -> Option<(&'m str, View<'m>)> {
        self.position(key).map(|i| (self.entries[i].0.as_ref(), View::of(&self.entries[i].1)))
    }

    /// The entries in order, borrowed for as long as the map.
    pub fn iter<'m>(&'m self) -> impl Iterator<Item = (&'m str, View<'m>)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), View::of(v)))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Out<'a>> {
        self.position(key).map(|i| &mut self.entries[i].1)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_ref())
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Out<'a>)> {
        self.entries.iter_mut().map(|(k, v)| (&**k, v))
    }

    /// Sets `key` to `value`: a present key keeps its place, a new one goes last.
    pub fn set(&mut self, key: &str, value: Out<'a>) {
        *self.slot_with(key, || Cow::Owned(key.to_owned())) = value;
    }

    /// Removes and returns the value at `key`.
    pub fn take(&mut self, key: &str) -> Option<Out<'a>> {
        let i = self.position(key)?;
        Some(std::mem::replace(&mut self.entries[i].1, Out::Null))
    }
    /// Removes the entry for `key`, keeping the others in order.
    pub fn remove(&mut self, key: &str) -> Option<Out<'a>> {
        let i = self.position(key)?;
        let (_, value) = self.entries.remove(i);
        if self.index.is_some() {
            self.index = (self.entries.len() > INDEX_FROM).then(|| index_of(&self.entries));
        }
        Some(value)
    }

    /// A map of `entries` (their keys distinct), indexed when wide.
    pub fn from_entries(entries: Vec<(Cow<'a, str>, Out<'a>)>) -> OutMap<'a> {
        let index = (entries.len() > INDEX_FROM).then(|| index_of(&entries));
        OutMap { entries, index }
    }

    pub fn entries(&self) -> &[(Cow<'a, str>, Out<'a>)] {
        &self.entries
    }

    pub fn into_entries(self) -> Vec<(Cow<'a, str>, Out<'a>)> {
        self.entries
    }
}

#[allow(clippy::box_collection)]
fn index_of<'a>(entries: &[(Cow<'a, str>, Out<'a>)]) -> Box<HashMap<Cow<'a, str>, usize>> {
    Box::new(entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect())
}

impl<'a> Out<'a> {
    pub fn new_map() -> Out<'a> {
        Out::Map(OutMap { entries: Vec::with_capacity(8), index: None })
    }

    pub fn is_null(&self) -> bool {
        match self {
            Out::Null | Out::Data(Value::Null) => true,
            Out::Owned(v) => v.is_null(),
            Out::Node(o) => o.is_null(),
            _ => false,
        }
    }

    /// Turns a JSON map or list held as a value into tree nodes, so it can be written into (as
    /// the reference writes into the very map it copied from the input). Inline for the common
    /// case of a node that is one already.
    #[inline]
    pub fn explode(&mut self) {
        if !matches!(self, Out::Map(_) | Out::List(_) | Out::Null) {
            self.explode_value();
        }
    }

    fn explode_value(&mut self) {
        // A shared node is looked through first: a value it holds is exploded as a value.
        if let Out::Node(o) = self {
            *self = Out::shared(o);
        }
        if !matches!(self, Out::Data(Value::Object(_) | Value::Array(_)) | Out::Node(_))
            && !matches!(self, Out::Owned(v) if v.is_object() || v.is_array())
        {
            return;
        }
        let exploded = match std::mem::replace(self, Out::Null) {
            Out::Data(Value::Object(m)) => Out::Map(OutMap {
                entries: m.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Out::Data(v))).collect(),
                index: None,
            }),
            Out::Data(Value::Array(l)) => Out::List(l.iter().map(Out::Data).collect()),
            Out::Owned(v) => match *v {
                Value::Object(m) => Out::Map(OutMap {
                    entries: m.into_iter().map(|(k, v)| (Cow::Owned(k), Out::Owned(Box::new(v)))).collect(),
                    index: None,
                }),
                Value::Array(l) => Out::List(l.into_iter().map(|v| Out::Owned(Box::new(v))).collect()),
                other => Out::Owned(Box::new(other)),
            },
            // A shallow copy of the shared map or list: its children stay shared.
            Out::Node(Out::Map(m)) => Out::Map(OutMap {
                entries: m.entries.iter().map(|(k, v)| (k.clone(), Out::shared(v))).collect(),
                index: m.index.clone(),
            }),
            Out::Node(Out::List(l)) => Out::List(l.iter().map(Out::shared).collect()),
            other => other,
        };
        *self = exploded;
        if let Out::Map(m) = self {
            if m.entries.len() > INDEX_FROM {
                m.index = Some(index_of(&m.entries));
            }
        }
    }

    /// `node` of an earlier document, as a node of this one: values are referred to as values,
    /// maps and lists as shared nodes.
    pub fn shared(node: &'a Out<'a>) -> Out<'a> {
        match node {
            Out::Null => Out::Null,
            Out::Data(v) => Out::Data(v),
            Out::Owned(v) => Out::Data(v),
            Out::Node(inner) => Out::shared(inner),
            map_or_list => Out::Node(map_or_list),
        }
    }

    /// A copy as JSON (what `into_value` makes, leaving the tree as it is).
    pub fn to_value(&self) -> Value {
        match self {
            Out::Null => Value::Null,
            Out::Data(v) => (*v).clone(),
            Out::Owned(v) => (**v).clone(),
            Out::Node(o) => o.to_value(),
            Out::Map(m) => {
                let mut map = Map::with_capacity(m.entries.len());
                for (k, v) in &m.entries {
                    map.insert(k.as_ref().to_owned(), v.to_value());
                }
                Value::Object(map)
            }
            Out::List(l) => Value::Array(l.iter().map(Out::to_value).collect()),
        }
    }

    pub fn is_map(&self) -> bool {
        match self {
            Out::Map(_) | Out::Data(Value::Object(_)) => true,
            Out::Owned(v) => v.is_object(),
            Out::Node(o) => o.is_map(),
            _ => false,
        }
    }

    pub fn is_list(&self) -> bool {
        match self {
            Out::List(_) | Out::Data(Value::Array(_)) => true,
            Out::Owned(v) => v.is_array(),
            Out::Node(o) => o.is_list(),
            _ => false,
        }
    }

    pub fn into_value(self) -> Value {
        match self {
            Out::Null => Value::Null,
            Out::Data(v) => v.clone(),
            Out::Owned(v) => *v,
            Out::Node(o) => o.to_value(),
            Out::Map(m) => {
                let mut map = Map::with_capacity(m.entries.len());
                for (k, v) in m.entries {
                    map.insert(k.into_owned(), v.into_value());
                }
                Value::Object(map)
            }
            Out::List(l) => Value::Array(l.into_iter().map(Out::into_value).collect()),
        }
    }
}

impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Out::Null => serializer.serialize_unit(),
            Out::Data(v) => v.serialize(serializer),
            Out::Owned(v) => v.serialize(serializer),
            Out::Node(o) => o.serialize(serializer),
            Out::Map(m) => {
                let mut map = serializer.serialize_map(Some(m.entries.len()))?;
                for (k, v) in &m.entries {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
            Out::List(l) => {
                let mut seq = serializer.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
        }
    }
}

/// An output path compiled for writing (shift's right-hand side): the write evaluates each step
/// as it goes down the output, so no evaluated path is built. The hidden `root` step, which
/// every output path starts with, is left out: the write starts at its slot.
#[derive(Debug)]
pub struct WritePlan {
    steps: Vec<PlanStep>,
    /// Some step can have no value for an input (`@(..)` keys, `[&n]`, `[#n]`, `[@(..)]`): those
    /// are evaluated before anything is written, so that such a path makes nothing.
    fallible: bool,
    /// The fallible step, when there is exactly one.
    single_fallible: Option<usize>,
}

#[derive(Debug)]
enum PlanStep {
    Literal(String),
    /// `&n` / `&(n,m)` alone: the matched key (or capture), borrowed from the input.
    Ref(Ref),
    Template(AmpTemplate),
    Transpose(Box<Transpose>),
    Index(usize),
    Append,
    /// An index read from the input or the walk (`[&n]`, `[#n]`, `[@(..)]`).
    Evaluated(ArrayIndex),
}

impl PlanStep {
    /// The container a step goes into: a map for a key, a list for an index.
    fn container<'a>(&self) -> Out<'a> {
        match self {
            PlanStep::Literal(_) | PlanStep::Ref(_) | PlanStep::Template(_) | PlanStep::Transpose(_) => Out::new_map(),
            PlanStep::Index(_) | PlanStep::Append | PlanStep::Evaluated(_) => Out::List(Vec::new()),
        }
    }
}

/// A fallible step's value, found before the write starts.
enum Found<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

impl WritePlan {
    /// The plan of an output path whose first step is the hidden `root` key; `None` otherwise.
    pub fn compile(path: &ReadPath) -> Option<WritePlan> {
        let (first, rest) = path.steps().split_first()?;
        if !matches!(first, PathStep::Key(KeyStep::Literal(root)) if root == "root") {
            return None;
        }
        let steps: Vec<PlanStep> = rest
            .iter()
            .map(|step| match step {
                PathStep::Key(KeyStep::Literal(s)) => PlanStep::Literal(s.clone()),
                PathStep::Key(KeyStep::Amp(a)) => match a.lone_ref() {
                    Some(r) => PlanStep::Ref(r),
                    None => PlanStep::Template(a.clone()),
                },
                PathStep::Key(KeyStep::Transpose(t)) => PlanStep::Transpose(t.clone()),
                PathStep::Index(ArrayIndex::Append) => PlanStep::Append,
                PathStep::Index(ArrayIndex::Explicit(n)) => PlanStep::Index(*n),
                PathStep::Index(other) => PlanStep::Evaluated(other.clone()),
            })
            .collect();
        let is_fallible = |s: &PlanStep| matches!(s, PlanStep::Transpose(_) | PlanStep::Evaluated(_));
        let fallible = steps.iter().any(is_fallible);
        let single_fallible = match steps.iter().filter(|s| is_fallible(s)).count() {
            1 => steps.iter().position(is_fallible),
            _ => None,
        };
        Some(WritePlan { steps, fallible, single_fallible })
    }

    /// Writes `data` along this path below `slot` (the hidden root's), shift style, as
    /// the reference's `ShiftrTraversr` does: values colliding on one key become a list,
    /// a step into the wrong kind of container writes nothing, and a path with a step that has
    /// no value for this input writes nothing at all.
    ///
    /// `data` makes the value where it is stored: a value made by the caller and passed down
    /// was copied through the stack in narrow stores and wide loads, which stalled on store
    /// forwarding.
    #[inline]
    pub fn write<'a>(&'a self, slot: &mut Out<'a>, walked: &WalkedPath<'a>, data: impl FnOnce() -> Out<'a>) -> Result<(), TransformError> {
        if self.fallible {
            self.write_fallible(slot, walked, data)
        } else {
            // No found values: the closure is optimised away.
            self.write_found(slot, walked, data, || None)
        }
    }

    /// Finds the fallible steps' values first, then writes (or, when one has none, does not).
    fn write_fallible<'a>(&'a self, slot: &mut Out<'a>, walked: &WalkedPath<'a>, data: impl FnOnce() -> Out<'a>) -> Result<(), TransformError> {
        if let Some(at) = self.single_fallible {
            // The common case (`@type[]`, `Data[&1].x`): one value, held in place.
            let value = match &self.steps[at] {
                PlanStep::Transpose(t) => t.evaluate(walked).map(Found::Key),
                PlanStep::Evaluated(i) => i.evaluate(walked)?.map(Found::Index),
                _ => None,
            };
            let Some(value) = value else {
                return self.check_refs_before(at, walked);
            };
            let mut one = Some(value);
            return self.write_found(slot, walked, data, || one.take());
        }
        let mut found: smallvec::SmallVec<[Found<'a>; 3]> = smallvec::SmallVec::new();
        for (j, step) in self.steps.iter().enumerate() {
            let value = match step {
                PlanStep::Transpose(t) => t.evaluate(walked).map(Found::Key),
                PlanStep::Evaluated(i) => i.evaluate(walked)?.map(Found::Index),
                _ => continue,
            };
            match value {
                Some(value) => found.push(value),
                None => return self.check_refs_before(j, walked),
            }
        }
        let mut next = 0;
        self.write_found(slot, walked, data, || {
            let value = found.get_mut(next).map(|f| std::mem::replace(f, Found::Index(0)));
            next += 1;
            value
        })
    }

    /// When step `at` has no value nothing is written; a reference before it that can not be
    /// resolved is still the error it was when the path was evaluated in order.
    #[cold]
    fn check_refs_before(&self, at: usize, walked: &WalkedPath<'_>) -> Result<(), TransformError> {
        for earlier in &self.steps[..at] {
            match earlier {
                PlanStep::Ref(r) => drop(r.resolve_cow(walked)?),
                PlanStep::Template(t) => drop(t.evaluate(walked)?),
                _ => {}
            }
        }
        Ok(())
    }

    /// The write, taking the values of the fallible steps (in order) from `next_found`.
    #[inline(always)]
    fn write_found<'a>(
        &'a self,
        slot: &mut Out<'a>,
        walked: &WalkedPath<'a>,
        data: impl FnOnce() -> Out<'a>,
        mut next_found: impl FnMut() -> Option<Found<'a>>,
    ) -> Result<(), TransformError> {
        let Some((last, path)) = self.steps.split_last() else {
            put_with(slot, data);
            return Ok(());
        };
        if empty(slot) {
            fill(slot, self.steps[0].container());
        }
        let mut node = slot;
        for (i, step) in path.iter().enumerate() {
            node.explode();
            let child = match (step, node) {
                (PlanStep::Append, Out::List(list)) => {
                    push_in_place(list, || self.steps[i + 1].container());
                    // Just pushed: a new container, not null.
                    node = list.last_mut().expect("just pushed");
                    continue;
                }
                (PlanStep::Index(n), Out::List(list)) => list_slot(list, *n),
                (PlanStep::Evaluated(_), Out::List(list)) => match next_found() {
                    Some(Found::Index(n)) => list_slot(list, n),
                    _ => return Ok(()),
                },
                (PlanStep::Literal(_) | PlanStep::Ref(_) | PlanStep::Template(_) | PlanStep::Transpose(_), Out::Map(map)) => {
                    map.slot_cow(plan_key(step, walked, &mut next_found)?)
                }
                _ => return Ok(()),
            };
            if empty(child) {
                fill(child, self.steps[i + 1].container());
            }
            node = child;
        }
        node.explode();
        let slot = match (last, node) {
            (PlanStep::Append, Out::List(list)) => {
                push_in_place(list, data);
                return Ok(());
            }
            (PlanStep::Index(n), Out::List(list)) => list_slot(list, *n),
            (PlanStep::Evaluated(_), Out::List(list)) => match next_found() {
                Some(Found::Index(n)) => list_slot(list, n),
                _ => return Ok(()),
            },
            (PlanStep::Literal(_) | PlanStep::Ref(_) | PlanStep::Template(_) | PlanStep::Transpose(_), Out::Map(map)) => {
                map.slot_cow(plan_key(last, walked, &mut next_found)?)
            }
            _ => return Ok(()),
        };
        put_with(slot, data);
        Ok(())
    }
}

/// A key step's key: from the spec, the walk, or (for `@(..)`) what was found before the write.
#[inline(always)]
fn plan_key<'a>(
    step: &'a PlanStep,
    walked: &WalkedPath<'a>,
    next_found: &mut impl FnMut() -> Option<Found<'a>>,
) -> Result<Cow<'a, str>, TransformError> {
    Ok(match step {
        PlanStep::Literal(s) => Cow::Borrowed(s.as_str()),
        PlanStep::Ref(r) => r.resolve_cow(walked)?,
        PlanStep::Template(t) => t.evaluate(walked)?,
        _ => match next_found() {
            Some(Found::Key(k)) => k,
            _ => Cow::Borrowed(""),
        },
    })
}

#[inline]
fn list_slot<'l, 'a>(list: &'l mut Vec<Out<'a>>, n: usize) -> &'l mut Out<'a> {
    if list.len() <= n {
        list.resize_with(n + 1, || Out::Null);
    }
    &mut list[n]
}

/// [`Out::is_null`], deciding the common cases (an empty slot, a map or list already made) by the
/// tag alone.
#[inline(always)]
fn empty(slot: &Out<'_>) -> bool {
    match slot {
        Out::Null => true,
        Out::Map(_) | Out::List(_) => false,
        other => other.is_null(),
    }
}

/// Replaces a null slot's value. The common `Out::Null` owns nothing, so it is overwritten without
/// the call to drop it (which the compiler keeps for `*slot = value`: a boxed `null` owns memory).
#[inline(always)]
fn fill<'a>(slot: &mut Out<'a>, value: Out<'a>) {
    if matches!(slot, Out::Null) {
        std::mem::forget(std::mem::replace(slot, value));
    } else {
        *slot = value;
    }
}

/// Appends the value `make` makes, written in place (see [`WritePlan::write`]).
#[inline(always)]
fn push_in_place<'a>(list: &mut Vec<Out<'a>>, make: impl FnOnce() -> Out<'a>) {
    list.reserve(1);
    let len = list.len();
    let value = make();
    // SAFETY: `reserve(1)` made room for a value at `len`, written before `set_len` makes it
    // part of the list.
    unsafe {
        list.as_mut_ptr().add(len).write(value);
        list.set_len(len + 1);
    }
}

/// [`put`] of the value `make` makes: an empty slot (nearly always) gets it in place.
#[inline(always)]
fn put_with<'a>(slot: &mut Out<'a>, make: impl FnOnce() -> Out<'a>) {
    if matches!(slot, Out::Null) {
        std::mem::forget(std::mem::replace(slot, make()));
    } else {
        put(slot, make());
    }
}

/// Puts `data` into a slot, shift style: an empty slot takes it, a list gets it appended, and
/// anything else becomes a list of the two.
fn put<'a>(slot: &mut Out<'a>, data: Out<'a>) {
    if empty(slot) {
        fill(slot, data);
        return;
    }
    if slot.is_list() {
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

    /// Writes `data` at the output path `path` (shift's right-hand side syntax). The plan is
    /// leaked: the output borrows its literal keys, and a test makes a few.
    fn write<'a>(out: &mut Out<'a>, path: &str, data: Out<'a>) {
        let plan = WritePlan::compile(&ReadPath::parse(&format!("root.{path}")).unwrap()).unwrap();
        let plan: &'static WritePlan = Box::leak(Box::new(plan));
        plan.write(out, &WalkedPath::new(), || data).unwrap();
    }

    #[test]
    fn colliding_values_become_a_list() {
        let (one, two, x, t) = (json!(1), json!(2), json!("x"), json!(true));
        let mut out = Out::new_map();
        write(&mut out, "a.b", Out::Data(&one));
        write(&mut out, "a.b", Out::Data(&two));
        write(&mut out, "a.c[2]", Out::Data(&x));
        write(&mut out, "a.d[].e", Out::Data(&t));
        let expected = json!({"a": {"b": [1, 2], "c": [null, null, "x"], "d": [{"e": true}]}});
        assert_eq!(serde_json::to_value(&out).unwrap(), expected, "serialized directly");
        assert_eq!(out.into_value(), expected);
    }

    #[test]
    fn a_step_into_the_wrong_container_writes_nothing() {
        let (scalar, one) = (json!("scalar"), json!(1));
        let mut out = Out::new_map();
        write(&mut out, "a", Out::Data(&scalar));
        write(&mut out, "a.b", Out::Data(&one));
        write(&mut out, "c.d", Out::Data(&one));
        write(&mut out, "c[0]", Out::Data(&one));
        assert_eq!(out.into_value(), json!({"a": "scalar", "c": {"d": 1}}));
    }

    #[test]
    fn a_path_with_an_index_it_can_not_evaluate_makes_nothing() {
        let one = json!(1);
        let mut out = Out::Null;
        // `[&0]` of the hidden root's key, "root": not an index, so not even `a` is made.
        let root = Value::Null;
        let mut walked = WalkedPath::new();
        walked.push(&root, crate::walked::Matched::new(Cow::Borrowed("root")));
        let plan = WritePlan::compile(&ReadPath::parse("root.a[&0].b").unwrap()).unwrap();
        plan.write(&mut out, &walked, || Out::Data(&one)).unwrap();
        assert!(out.is_null());
        let plan = WritePlan::compile(&ReadPath::parse("root.a.&0").unwrap()).unwrap();
        plan.write(&mut out, &walked, || Out::Data(&one)).unwrap();
        assert_eq!(out.into_value(), json!({"a": {"root": 1}}));
    }

    #[test]
    fn writing_into_a_copied_map_extends_it_and_wide_maps_get_an_index() {
        let (m, two) = (json!({"x": 1}), json!(2));
        let mut out = Out::new_map();
        write(&mut out, "a", Out::Data(&m));
        write(&mut out, "a.y", Out::Data(&two));
        for i in 0..40 {
            write(&mut out, &format!("wide.k{i}"), Out::Data(&two));
        }
        write(&mut out, "wide.k7", Out::Data(&two));
        let v = out.into_value();
        assert_eq!(v["a"], json!({"x": 1, "y": 2}));
        assert_eq!(v["wide"]["k7"], json!([2, 2]));
        assert_eq!(v["wide"].as_object().map(|m| m.len()), Some(40));
    }
}
