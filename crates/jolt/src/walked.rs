//! The walked path: a stack of (input data, matched key) pairs, one per level of the parallel walk
//! of spec and input. `&n`, `$n`, `#n` and `@(n,..)` all look `n` levels up this stack.
//!
//! Keys borrow from the input wherever they can (`Cow`), so a literal or `*` match allocates
//! nothing; captures are byte ranges into the key.
use std::borrow::Cow;
use std::cell::Cell;

use serde_json::Value;

use crate::keys::map_get;
use crate::output::Out;

/// A read-only view of data the walk stands on: a value of the input (or made by an earlier
/// operation), or a map or list of the document an earlier operation of the chain is building.
#[derive(Debug, Clone, Copy)]
pub enum View<'a> {
    Value(&'a Value),
    /// Only ever a map or a list (data, owned values and `null` are `View::Value`, shared
    /// nodes are looked through).
    Out(&'a Out<'a>),
}

static NULL: Value = Value::Null;

impl<'a> View<'a> {
    pub fn of(out: &'a Out<'a>) -> View<'a> {
        match out {
            Out::Data(v) => View::Value(v),
            Out::Owned(v) => View::Value(v),
            Out::Null => View::Value(&NULL),
            Out::Node(o) => View::of(o),
            other => View::Out(other),
        }
    }

    /// The node as a JSON value, when it is one (a document's maps and lists are not).
    pub fn value(self) -> Option<&'a Value> {
        match self {
            View::Value(v) => Some(v),
            View::Out(_) => None,
        }
    }

    /// A copy of the node as JSON.
    pub fn to_value(self) -> Value {
        match self {
            View::Value(v) => v.clone(),
            View::Out(o) => o.to_value(),
        }
    }

    pub fn is_map(self) -> bool {
        matches!(self, View::Value(Value::Object(_)) | View::Out(Out::Map(_)))
    }

    /// A map's value at `key`.
    pub fn get(self, key: &str) -> Option<View<'a>> {
        match self {
            View::Value(Value::Object(m)) => map_get(m, key).map(|(_, v)| View::Value(v)),
            View::Out(Out::Map(m)) => m.get(key).map(View::of),
            _ => None,
        }
    }

    /// A list's element `i`.
    pub fn index(self, i: usize) -> Option<View<'a>> {
        match self {
            View::Value(Value::Array(l)) => l.get(i).map(View::Value),
            View::Out(Out::List(l)) => l.get(i).map(View::of),
            _ => None,
        }
    }

    /// A list's length.
    pub fn list_len(self) -> Option<usize> {
        match self {
            View::Value(Value::Array(l)) => Some(l.len()),
            View::Out(Out::List(l)) => Some(l.len()),
            _ => None,
        }
    }

    /// A map's keys, in order, borrowed.
    pub fn map_keys(self) -> Option<Box<dyn Iterator<Item = &'a str> + 'a>> {
        match self {
            View::Value(Value::Object(m)) => Some(Box::new(m.keys().map(String::as_str))),
            View::Out(Out::Map(m)) => Some(Box::new(m.keys())),
            _ => None,
        }
    }

    /// A map's keys, in order.
    pub fn keys(self) -> Option<Vec<String>> {
        match self {
            View::Value(Value::Object(m)) => Some(m.keys().cloned().collect()),
            View::Out(Out::Map(m)) => Some(m.keys().map(str::to_owned).collect()),
            _ => None,
        }
    }
}

/// What each `*` of a key captured, as byte ranges into the key: inline for up to two stars
/// (a key is far shorter than 4 GiB).
pub type Captures = smallvec::SmallVec<[(u32, u32); 2]>;

/// What one spec key matched: the whole key plus what each `*` captured.
#[derive(Debug)]
pub struct Matched<'a> {
    key: Cow<'a, str>,
    captures: Captures,
    /// How many children of this level have matched so far (`[#n]` output indexes).
    /// (`u32`: with the flag beside it, a match is 56 bytes instead of 64.)
    hash_count: Cell<u32>,
    /// `@` keys stand for their parent's match: they resolve to the level above.
    alias: bool,
}

impl<'a> Matched<'a> {
    pub fn new(key: Cow<'a, str>) -> Matched<'a> {
        Matched { key, captures: Captures::new(), hash_count: Cell::new(0), alias: false }
    }

    pub fn with_captures(key: Cow<'a, str>, captures: Captures) -> Matched<'a> {
        Matched { key, captures, hash_count: Cell::new(0), alias: false }
    }

    pub fn alias() -> Matched<'a> {
        Matched { key: Cow::Borrowed(""), captures: Captures::new(), hash_count: Cell::new(0), alias: true }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The whole key for as long as the input lives (borrowed unless it was made during the walk).
    #[inline]
    pub fn key_cow(&self) -> Cow<'a, str> {
        match &self.key {
            Cow::Borrowed(k) => Cow::Borrowed(k),
            Cow::Owned(k) => Cow::Owned(k.clone()),
        }
    }

    /// Capture 0 is the whole key; 1.. are the stars' captures.
    pub fn capture(&self, group: usize) -> Option<&str> {
        self.capture_range(group).map(|(start, end)| &self.key[start..end])
    }

    /// Capture `group` for as long as the input lives: borrowed when the key is the input's own,
    /// copied only when the key was made during the walk.
    pub fn capture_cow(&self, group: usize) -> Option<Cow<'a, str>> {
        let (start, end) = self.capture_range(group)?;
        Some(match &self.key {
            Cow::Borrowed(k) => Cow::Borrowed(&k[start..end]),
            Cow::Owned(k) => Cow::Owned(k[start..end].to_owned()),
        })
    }

    /// The byte range of capture `group` in the key (0: the whole key).
    fn capture_range(&self, group: usize) -> Option<(usize, usize)> {
        match group {
            0 => Some((0, self.key.len())),
            _ => self.captures.get(group - 1).map(|&(s, e)| (s as usize, e as usize)),
        }
    }

    pub fn hash_count(&self) -> usize {
        self.hash_count.get() as usize
    }

}

pub struct PathStep<'a> {
    pub tree: View<'a>,
    matched: Matched<'a>,
    /// The level whose match this one stands for: its own, or for an `@` alias its parent's
    /// (resolved once, when it is pushed, instead of on every lookup).
    target: u32,
}

/// A `Vec` made once per walk with room for specs up to eight levels deep: one allocation per
/// transform, and a push or pop is a bounds check (a `SmallVec` checks where its data is on
/// every access, which cost more than the allocation on the walk's every level).
pub struct WalkedPath<'a> {
    steps: Vec<PathStep<'a>>,
    /// Whether matches are counted (`[#n]` reads the counts): a shift whose output paths have
    /// no `#` turns it off, and saves a read-modify-write per match.
    counting: bool,
}

impl Default for WalkedPath<'_> {
    fn default() -> Self {
        WalkedPath::new()
    }
}

thread_local! {
    /// The buffer of the last walk this thread finished, kept (empty) for the next one: a walk
    /// per transform (and per modify leaf) would otherwise allocate and free its stack each time.
    static SPARE: Cell<Vec<PathStep<'static>>> = const { Cell::new(Vec::new()) };
}

/// An empty buffer of steps under another lifetime, keeping its allocation (the standard
/// library collects a mapped `IntoIter` into its own buffer when the layouts agree, as here).
fn recycle<'x, 'y>(mut steps: Vec<PathStep<'x>>) -> Vec<PathStep<'y>> {
    steps.clear();
    steps.into_iter().map(|_| unreachable!("the buffer was just cleared")).collect()
}

impl Drop for WalkedPath<'_> {
    fn drop(&mut self) {
        let steps = recycle(std::mem::take(&mut self.steps));
        // `try_with`: during thread teardown the buffer is simply freed.
        let _ = SPARE.try_with(|spare| spare.set(steps));
    }
}

impl<'a> WalkedPath<'a> {
    pub fn new() -> WalkedPath<'a> {
        let spare = SPARE.try_with(Cell::take).unwrap_or_default();
        let steps = if spare.capacity() >= 8 { recycle(spare) } else { Vec::with_capacity(8) };
        WalkedPath { steps, counting: true }
    }

    /// Turns the counting of matches (read by `[#n]`) off.
    pub fn without_counts(mut self) -> Self {
        self.counting = false;
        self
    }

    pub fn push(&mut self, tree: &'a Value, matched: Matched<'a>) {
        self.push_node(View::Value(tree), matched)
    }

    /// Pushes a level whose match is `key` as it is (a literal or `*` key: no captures).
    #[inline]
    pub fn push_key(&mut self, tree: View<'a>, key: Cow<'a, str>) {
        let target = self.steps.len() as u32;
        self.push_fields(tree, key, Captures::new(), false, target);
    }

    /// Pushes a level whose key matched with `captures`.
    #[inline]
    pub fn push_captures(&mut self, tree: View<'a>, key: Cow<'a, str>, captures: Captures) {
        let target = self.steps.len() as u32;
        self.push_fields(tree, key, captures, false, target);
    }

    #[inline]
    pub fn push_node(&mut self, tree: View<'a>, matched: Matched<'a>) {
        let len = self.steps.len();
        let target = match len {
            0 => 0,
            _ if matched.alias => self.steps[len - 1].target,
            _ => len as u32,
        };
        let Matched { key, captures, hash_count: _, alias } = matched;
        self.push_fields(tree, key, captures, alias, target);
    }

    /// Writes a new level field by field in place. `Vec::push` built the 80-byte step on the
    /// stack with 1-, 4- and 8-byte stores and copied it with 16-byte loads, which stalled on
    /// store forwarding on every level of every walk (about half of `Composite::apply`'s time).
    #[inline(always)]
    fn push_fields(&mut self, tree: View<'a>, key: Cow<'a, str>, captures: Captures, alias: bool, target: u32) {
        self.steps.reserve(1);
        let len = self.steps.len();
        // SAFETY: `reserve(1)` made room for a step at `len`; every field of it (and of its
        // match) is written before `set_len` makes it part of the vector.
        unsafe {
            let end = self.steps.as_mut_ptr().add(len);
            std::ptr::addr_of_mut!((*end).tree).write(tree);
            std::ptr::addr_of_mut!((*end).target).write(target);
            let matched = std::ptr::addr_of_mut!((*end).matched);
            std::ptr::addr_of_mut!((*matched).key).write(key);
            std::ptr::addr_of_mut!((*matched).captures).write(captures);
            std::ptr::addr_of_mut!((*matched).hash_count).write(Cell::new(0));
            std::ptr::addr_of_mut!((*matched).alias).write(alias);
            self.steps.set_len(len + 1);
        }
    }

    pub fn pop(&mut self) {
        self.steps.pop();
    }

    pub fn up(&self, up: usize) -> Option<&PathStep<'a>> {
        let len = self.steps.len();
        (up < len).then(|| &self.steps[len - 1 - up])
    }

    /// The match `up` levels up, following `@` aliases to the match they stand for.
    #[inline]
    pub fn matched_up(&self, up: usize) -> Option<&Matched<'a>> {
        let len = self.steps.len();
        if up >= len {
            return None;
        }
        Some(&self.steps[self.steps[len - 1 - up].target as usize].matched)
    }

    /// Counts one more matched child of the current level (read by `[#n]`).
    #[inline]
    pub fn count_match(&self) {
        if !self.counting {
            return;
        }
        if let Some(m) = self.matched_up(0) {
            m.hash_count.set(m.hash_count.get().saturating_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_to_the_parent_match_and_share_its_count() {
        let data = Value::Null;
        let mut walked = WalkedPath::new();
        walked.push(&data, Matched::new(Cow::Borrowed("root")));
        walked.push(&data, Matched::with_captures(Cow::Borrowed("tag-a"), [(4, 5)].into_iter().collect()));
        walked.push(&data, Matched::alias());
        assert_eq!(walked.matched_up(0).unwrap().key(), "tag-a");
        assert_eq!(walked.matched_up(0).unwrap().capture(1), Some("a"));
        walked.count_match();
        assert_eq!(walked.matched_up(1).unwrap().hash_count(), 1);
        assert!(walked.matched_up(3).is_none());
    }
}
