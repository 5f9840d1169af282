//! The compiled matcher: finds the few rules an event can fire without trying every rule.
//!
//! At build time every rule gets an *anchor set*: predicates of which at least one must hold
//! whenever the rule's condition holds (one conjunct of an `and`, every branch of an `or`, the
//! element condition of an `any` under its array path, a `let` from the root). Anchors are
//! indexed per path:
//!
//! - exact values (`==`, `in`, `contains` on array elements) in hash tables,
//! - prefixes and suffixes in tables keyed by the prefix, probed once per distinct length,
//! - `matches`, `like` and `equals_ignore_case` combined into one multi-pattern automaton per
//!   path (regex-automata, every pattern reported),
//! - `contains` on strings in one Aho-Corasick automaton per path,
//! - numeric thresholds as sorted boundaries (a binary search yields every rule whose threshold
//!   the value passes), ranges sorted by their lower bound,
//! - CIDR blocks and `exists` as short lists.
//!
//! Per event, each indexed path is resolved once and its values probed; the rules found (plus
//! the few whose condition has no anchor, e.g. a bare `not`) are the candidates, and each
//! candidate's whole condition is then checked by the reference evaluator. Anchors are only
//! necessary conditions, so the index may over-approximate (numbers are compared as f64 with
//! inclusive bounds, equal numbers share one f64 key) but never misses a rule: the result is the
//! reference evaluator's, which the property test `matcher_agrees` checks on random rule sets.
//!
//! Among several usable conjuncts the one expected to produce the fewest candidates is chosen: the
//! number of rules sharing that (path, operator, value) in the whole set, weighted by operator
//! kind (an `eventType` every tenant rule also tests loses to the tenant id).
use rustc_hash::FxHashMap as HashMap;

use aho_corasick::AhoCorasick;
use regex_automata::meta;
use regex_automata::{Input, MatchKind, PatternSet};
use serde_json::Value;

use super::ast::{OrdOp, Segment};
use super::eventpattern::NumOp;
use super::eval::{reach, walk};
use super::ir::{Cond, CompiledRule, IpBlock, Test};

/// An index over the rules of one set. Immutable after [`Matcher::build`].
#[derive(Debug, Default)]
pub(crate) struct Matcher {
    paths: Vec<PathIndex>,
    /// Rules without an anchor: checked for every event.
    always: Vec<u32>,
}

/// A hashable scalar: strings by content, numbers by their f64 value (so `1` and `1.0` share a
/// key, as they are equal), booleans and null.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(Box<str>),
    Num(u64),
    Bool(bool),
    Null,
}

fn num_key(f: f64) -> u64 {
    // -0.0 == 0.0: one key.
    (f + 0.0).to_bits()
}

fn key_of(v: &Value) -> Option<Key> {
    Some(match v {
        Value::String(s) => Key::Str(s.as_str().into()),
        Value::Number(n) => Key::Num(num_key(n.as_f64()?)),
        Value::Bool(b) => Key::Bool(*b),
        Value::Null => Key::Null,
        _ => return None,
    })
}

/// Exact-value tables: strings looked up by `&str` without allocating.
#[derive(Debug, Default)]
struct ExactTable {
    strings: HashMap<Box<str>, Vec<u32>>,
    others: HashMap<Key, Vec<u32>>,
}

impl ExactTable {
    fn insert(&mut self, key: Key, rule: u32) {
        let list = match key {
            Key::Str(s) => self.strings.entry(s).or_default(),
            other => self.others.entry(other).or_default(),
        };
        if list.last() != Some(&rule) {
            list.push(rule);
        }
    }

    fn is_empty(&self) -> bool {
        self.strings.is_empty() && self.others.is_empty()
    }

    fn probe(&self, v: &Value, out: &mut Vec<u32>) {
        let found = match v {
            Value::String(s) => self.strings.get(s.as_str()),
            Value::Number(n) => match n.as_f64() {
                Some(f) => self.others.get(&Key::Num(num_key(f))),
                None => None,
            },
            Value::Bool(b) => self.others.get(&Key::Bool(*b)),
            Value::Null => self.others.get(&Key::Null),
            _ => None,
        };
        if let Some(list) = found {
            out.extend_from_slice(list);
        }
    }
}

/// Prefixes (or, reversed in meaning, suffixes) keyed by their text, with the distinct lengths
/// to probe: a value of length n costs one hash lookup per distinct length <= n.
#[derive(Debug, Default)]
struct AffixTable {
    by_text: HashMap<Box<str>, Vec<u32>>,
    lengths: Vec<usize>,
}

impl AffixTable {
    fn insert(&mut self, text: &str, rule: u32) {
        let list = self.by_text.entry(text.into()).or_default();
        if list.last() != Some(&rule) {
            list.push(rule);
        }
    }

    fn finish(&mut self) {
        let mut lengths: Vec<usize> = self.by_text.keys().map(|k| k.len()).collect();
        lengths.sort_unstable();
        lengths.dedup();
        self.lengths = lengths;
    }

    fn probe(&self, s: &str, suffix: bool, out: &mut Vec<u32>) {
        for &len in &self.lengths {
            if len > s.len() {
                break;
            }
            let cut = if suffix { s.len() - len } else { len };
            if !s.is_char_boundary(cut) {
                continue;
            }
            let part = if suffix { &s[cut..] } else { &s[..cut] };
            if let Some(list) = self.by_text.get(part) {
                out.extend_from_slice(list);
            }
        }
    }
}

/// Every regex anchored on one path, as one automaton reporting all patterns that match.
#[derive(Debug)]
enum RegexSet {
    Combined { re: meta::Regex, rules: Vec<u32> },
    /// The combined automaton would exceed regex-automata's size limits: one regex at a time.
    Separate(Vec<(regex::Regex, u32)>),
}

impl RegexSet {
    /// The set of (pattern, rule) pairs, and the rules whose pattern would not compile alone
    /// either (checked on every event instead).
    fn build(patterns: Vec<(String, u32)>) -> (RegexSet, Vec<u32>) {
        let combined = meta::Regex::builder()
            .configure(meta::Config::new().match_kind(MatchKind::All))
            .build_many(&patterns.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>());
        match combined {
            Ok(re) => (RegexSet::Combined { re, rules: patterns.iter().map(|(_, r)| *r).collect() }, Vec::new()),
            Err(_) => {
                let (mut separate, mut failed) = (Vec::new(), Vec::new());
                for (pattern, rule) in patterns {
                    match regex::Regex::new(&pattern) {
                        Ok(re) => separate.push((re, rule)),
                        Err(_) => failed.push(rule),
                    }
                }
                (RegexSet::Separate(separate), failed)
            }
        }
    }

    fn probe(&self, s: &str, out: &mut Vec<u32>) {
        match self {
            RegexSet::Combined { re, rules } => {
                let mut set = PatternSet::new(re.pattern_len());
                re.which_overlapping_matches(&Input::new(s), &mut set);
                out.extend(set.iter().map(|p| rules[p.as_usize()]));
            }
            RegexSet::Separate(list) => out.extend(list.iter().filter(|(re, _)| re.is_match(s)).map(|(_, r)| *r)),
        }
    }
}

/// Substring needles of `contains "s"`, for values that are strings.
#[derive(Debug)]
struct NeedleSet {
    ac: AhoCorasick,
    rules: Vec<Vec<u32>>,
}

/// Everything anchored on one path.
#[derive(Debug, Default)]
struct PathIndex {
    path: Vec<Segment>,
    /// `==` and `in`: every scalar the path reaches (array elements included).
    exact: ExactTable,
    /// `contains` literals, matched against the elements of an array the path reaches.
    contains: ExactTable,
    needles: Option<NeedleSet>,
    needle_build: Vec<(String, u32)>,
    prefixes: AffixTable,
    suffixes: AffixTable,
    regexes: Option<RegexSet>,
    regex_build: Vec<(String, u32)>,
    /// `>`/`>=`: (threshold, rule) ascending; a value v yields every threshold <= v.
    at_least: Vec<(f64, u32)>,
    /// `<`/`<=`: (threshold, rule) descending; a value v yields every threshold >= v.
    at_most: Vec<(f64, u32)>,
    /// `between`: (low, high, rule) ascending by low.
    ranges: Vec<(f64, f64, u32)>,
    cidrs: Vec<(IpBlock, u32)>,
    /// `exists`: fires whenever the path reaches anything.
    exists: Vec<u32>,
}

impl PathIndex {
    /// Builds the automata. Returns the rules that must be checked for every event instead
    /// (those of a needle set Aho-Corasick refused to build: never a lost rule).
    fn finish(&mut self) -> Vec<u32> {
        let mut fallback = Vec::new();
        self.prefixes.finish();
        self.suffixes.finish();
        self.at_least.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.at_most.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.ranges.sort_by(|a, b| a.0.total_cmp(&b.0));
        if !self.regex_build.is_empty() {
            let (set, failed) = RegexSet::build(std::mem::take(&mut self.regex_build));
            self.regexes = Some(set);
            fallback.extend(failed);
        }
        if !self.needle_build.is_empty() {
            let build = std::mem::take(&mut self.needle_build);
            let mut ids: HashMap<&str, usize> = HashMap::default();
            let mut texts: Vec<&str> = Vec::new();
            let mut rules: Vec<Vec<u32>> = Vec::new();
            for (text, rule) in &build {
                let id = *ids.entry(text.as_str()).or_insert_with(|| {
                    texts.push(text.as_str());
                    rules.push(Vec::new());
                    texts.len() - 1
                });
                rules[id].push(*rule);
            }
            match AhoCorasick::new(&texts) {
                Ok(ac) => self.needles = Some(NeedleSet { ac, rules }),
                Err(_) => fallback.extend(build.iter().map(|(_, r)| *r)),
            }
        }
        self.exists.dedup();
        self.shrink();
        fallback
    }

    fn shrink(&mut self) {
        for list in self.exact.strings.values_mut().chain(self.contains.strings.values_mut()) {
            list.shrink_to_fit();
        }
        self.exact.strings.shrink_to_fit();
        self.contains.strings.shrink_to_fit();
        self.at_least.shrink_to_fit();
        self.at_most.shrink_to_fit();
        self.ranges.shrink_to_fit();
    }

    fn probe(&self, root: &Value, out: &mut Vec<u32>) {
        let has_contains = !self.contains.is_empty() || self.needles.is_some();
        match walk(root, &self.path) {
            Some(None) => {}
            Some(Some(v)) => {
                out.extend_from_slice(&self.exists);
                self.probe_reached(v, has_contains, out);
            }
            None => {
                let reached = reach(root, &self.path);
                if !reached.is_empty() {
                    out.extend_from_slice(&self.exists);
                }
                for v in reached {
                    self.probe_reached(v, has_contains, out);
                }
            }
        }
    }

    /// One value the path reached (an array stands for its elements).
    fn probe_reached(&self, v: &Value, has_contains: bool, out: &mut Vec<u32>) {
        match v {
            Value::Array(items) => {
                if has_contains {
                    for_each_scalar(items, &mut |e| self.contains.probe(e, out));
                }
                for_each_scalar(items, &mut |e| self.probe_scalar(e, out));
            }
            Value::String(s) if has_contains => {
                if let Some(n) = &self.needles {
                    for m in n.ac.find_overlapping_iter(s.as_str()) {
                        out.extend_from_slice(&n.rules[m.pattern().as_usize()]);
                    }
                }
                self.probe_scalar(v, out);
            }
            other => self.probe_scalar(other, out),
        }
    }

    fn probe_scalar(&self, v: &Value, out: &mut Vec<u32>) {
        self.exact.probe(v, out);
        match v {
            Value::String(s) => {
                self.prefixes.probe(s, false, out);
                self.suffixes.probe(s, true, out);
                if let Some(res) = &self.regexes {
                    res.probe(s, out);
                }
                if !self.cidrs.is_empty() {
                    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
                        out.extend(self.cidrs.iter().filter(|(b, _)| b.contains(ip)).map(|(_, r)| *r));
                    }
                }
            }
            Value::Number(n) => {
                let Some(f) = n.as_f64() else { return };
                let k = self.at_least.partition_point(|(t, _)| *t <= f);
                out.extend(self.at_least[..k].iter().map(|(_, r)| *r));
                let k = self.at_most.partition_point(|(t, _)| *t >= f);
                out.extend(self.at_most[..k].iter().map(|(_, r)| *r));
                let k = self.ranges.partition_point(|(lo, _, _)| *lo <= f);
                out.extend(self.ranges[..k].iter().filter(|(_, hi, _)| *hi >= f).map(|(_, _, r)| *r));
            }
            _ => {}
        }
    }
}

/// Calls `f` on every non-container element of `items`, nested arrays flattened (objects are
/// skipped: no scalar test holds on them).
fn for_each_scalar<'a>(items: &'a [Value], f: &mut impl FnMut(&'a Value)) {
    for e in items {
        match e {
            Value::Array(inner) => for_each_scalar(inner, f),
            Value::Object(_) => {}
            other => f(other),
        }
    }
}

/// One anchor: a predicate that must hold (for some value at `path`) if the rule fires.
#[derive(Debug, Clone)]
enum Anchor<'a> {
    Exact(&'a Value),
    Contains(&'a Value),
    Prefix(&'a str),
    Suffix(&'a str),
    /// A regex (or a glob's regex), by its source.
    Pattern(std::borrow::Cow<'a, str>),
    AtLeast(f64),
    AtMost(f64),
    Range(f64, f64),
    Cidr(IpBlock),
    Exists,
}

impl Anchor<'_> {
    /// The key rules share when they would produce the same candidates (for the cost estimate),
    /// and the kind's weight.
    fn cost_key(&self) -> (String, u32) {
        match self {
            Anchor::Exact(v) => (format!("={v}"), 1),
            Anchor::Contains(v) => (format!("~{v}"), 1),
            Anchor::Prefix(p) => (format!("^{p}"), 2),
            Anchor::Suffix(s) => (format!("${s}"), 2),
            Anchor::Pattern(p) => (format!("/{p}"), 3),
            Anchor::Cidr(_) => ("cidr".to_string(), 3),
            Anchor::AtLeast(_) | Anchor::AtMost(_) | Anchor::Range(..) => ("num".to_string(), 4),
            Anchor::Exists => ("exists".to_string(), 8),
        }
    }
}

type Anchors<'a> = Vec<(Vec<Segment>, Anchor<'a>)>;

fn f64_of(n: &serde_json::Number) -> Option<f64> {
    n.as_f64()
}

/// The anchors of one predicate at `path` (already joined with any quantifier prefix), or `None`
/// when the predicate cannot be anchored (`!=`, `not in`, `contains_all []`).
fn pred_anchors<'a>(path: Vec<Segment>, test: &'a Test) -> Option<Anchors<'a>> {
    let one = |a: Anchor<'a>| Some(vec![(path.clone(), a)]);
    match test {
        Test::Eq(v) => one(Anchor::Exact(v)),
        Test::In(list) => Some(list.iter().map(|v| (path.clone(), Anchor::Exact(v))).collect()),
        Test::Ord(OrdOp::Gt | OrdOp::Ge, n) => one(Anchor::AtLeast(f64_of(n)?)),
        Test::Ord(OrdOp::Lt | OrdOp::Le, n) => one(Anchor::AtMost(f64_of(n)?)),
        Test::Between(a, b) => one(Anchor::Range(f64_of(a)?, f64_of(b)?)),
        Test::Regex(re) => one(Anchor::Pattern(re.as_str().into())),
        Test::Glob(g) => one(Anchor::Pattern(g.regex_source().into())),
        Test::StartsWith(p) => one(Anchor::Prefix(p)),
        Test::EndsWith(s) => one(Anchor::Suffix(s)),
        Test::Contains(v) => one(Anchor::Contains(v)),
        Test::ContainsAny(list) => Some(list.iter().map(|v| (path.clone(), Anchor::Contains(v))).collect()),
        Test::ContainsAll(list) => one(Anchor::Contains(list.first()?)),
        Test::Cidr(b) => one(Anchor::Cidr(*b)),
        Test::Exists | Test::LeafExists => one(Anchor::Exists),
        Test::Numeric(list) => {
            let (mut lo, mut hi) = (None::<f64>, None::<f64>);
            for (op, n) in list {
                let f = f64_of(n)?;
                match op {
                    NumOp::Eq => (lo, hi) = (Some(f), Some(f)),
                    NumOp::Ord(OrdOp::Gt | OrdOp::Ge) => lo = Some(f),
                    NumOp::Ord(OrdOp::Lt | OrdOp::Le) => hi = Some(f),
                }
            }
            match (lo, hi) {
                (Some(lo), Some(hi)) => one(Anchor::Range(lo, hi)),
                (Some(lo), None) => one(Anchor::AtLeast(lo)),
                (None, Some(hi)) => one(Anchor::AtMost(hi)),
                (None, None) => None,
            }
        }
        Test::Ne(_) | Test::NotIn(_) | Test::AnythingBut(_) => None,
    }
}

/// Chooses anchors for conditions, using how many rules share each anchor.
struct Chooser {
    shared: HashMap<(Vec<Segment>, String), u32>,
}

impl Chooser {
    fn cost(&self, anchors: &Anchors) -> u64 {
        anchors
            .iter()
            .map(|(path, a)| {
                let (key, weight) = a.cost_key();
                let n = self.shared.get(&(path.clone(), key)).copied().unwrap_or(1);
                u64::from(n) * u64::from(weight)
            })
            .sum()
    }

    /// `prefix`: the path of the enclosing `any` quantifiers; `None` at the envelope root.
    fn anchors<'a>(&self, cond: &'a Cond, prefix: Option<&[Segment]>) -> Option<Anchors<'a>> {
        match cond {
            Cond::Pred(p, _) => pred_anchors(join(prefix, &p.path)?, &p.test),
            Cond::And(parts) => {
                let mut best: Option<(u64, Anchors<'a>)> = None;
                for part in parts {
                    if let Some(a) = self.anchors(part, prefix) {
                        let c = self.cost(&a);
                        if best.as_ref().is_none_or(|(bc, _)| c < *bc) {
                            best = Some((c, a));
                        }
                    }
                }
                best.map(|(_, a)| a)
            }
            Cond::Or(parts) => {
                let mut all = Vec::new();
                for part in parts {
                    all.extend(self.anchors(part, prefix)?);
                }
                Some(all)
            }
            Cond::Let { cond, .. } => self.anchors(cond, None),
            Cond::Quant(q) if !q.all => {
                let base = join(prefix, &q.path)?;
                self.anchors(&q.cond, Some(&base))
            }
            // A value at the path (or, with none, an empty object) satisfies `cond`; `cond`'s
            // anchors never hold on an empty object, so they are necessary here too.
            Cond::Each(e) => {
                let base = join(prefix, &e.path)?;
                self.anchors(&e.cond, Some(&base))
            }
            Cond::Quant(_) | Cond::Not { .. } => None,
        }
    }

    /// Counts every anchorable predicate of a condition (all of them, before any choice).
    fn count(&mut self, cond: &Cond, prefix: Option<&[Segment]>) {
        match cond {
            Cond::Pred(p, _) => {
                if let Some(anchors) = join(prefix, &p.path).and_then(|path| pred_anchors(path, &p.test)) {
                    for (path, a) in anchors {
                        *self.shared.entry((path, a.cost_key().0)).or_default() += 1;
                    }
                }
            }
            Cond::And(parts) | Cond::Or(parts) => parts.iter().for_each(|p| self.count(p, prefix)),
            Cond::Not { cond, .. } => self.count(cond, prefix),
            Cond::Let { cond, .. } => self.count(cond, None),
            Cond::Quant(_) | Cond::Each(_) => {
                let (path, cond) = cond.scope().expect("a quantifier");
                if let Some(base) = join(prefix, path) {
                    self.count(cond, Some(&base));
                }
            }
        }
    }
}

/// The path of a predicate from the root. Inside an `any`, a path relative to the element must
/// begin with a field name: only then does it reach (through the array) every value it reaches
/// from an element.
fn join(prefix: Option<&[Segment]>, path: &[Segment]) -> Option<Vec<Segment>> {
    match prefix {
        None => Some(path.to_vec()),
        Some(base) => match path.first() {
            Some(Segment::Field(_)) => Some(base.iter().chain(path).cloned().collect()),
            _ => None,
        },
    }
}

impl Matcher {
    pub(crate) fn build(rules: &[CompiledRule]) -> Matcher {
        let mut chooser = Chooser { shared: HashMap::default() };
        for r in rules {
            chooser.count(&r.cond, None);
        }
        let mut by_path: HashMap<Vec<Segment>, PathIndex> = HashMap::default();
        let mut always = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let id = i as u32;
            let Some(anchors) = chooser.anchors(&r.cond, None) else {
                always.push(id);
                continue;
            };
            for (path, anchor) in anchors {
                let ix = by_path.entry(path.clone()).or_insert_with(|| PathIndex { path, ..PathIndex::default() });
                match anchor {
                    Anchor::Exact(v) => {
                        if let Some(k) = key_of(v) {
                            ix.exact.insert(k, id);
                        }
                    }
                    Anchor::Contains(v) => {
                        if let Some(k) = key_of(v) {
                            ix.contains.insert(k, id);
                        }
                        if let Value::String(s) = v {
                            ix.needle_build.push((s.clone(), id));
                        }
                    }
                    Anchor::Prefix(p) => ix.prefixes.insert(p, id),
                    Anchor::Suffix(s) => ix.suffixes.insert(s, id),
                    Anchor::Pattern(p) => ix.regex_build.push((p.into_owned(), id)),
                    Anchor::AtLeast(t) => ix.at_least.push((t, id)),
                    Anchor::AtMost(t) => ix.at_most.push((t, id)),
                    Anchor::Range(lo, hi) => ix.ranges.push((lo, hi, id)),
                    Anchor::Cidr(b) => ix.cidrs.push((b, id)),
                    Anchor::Exists => ix.exists.push(id),
                }
            }
        }
        let mut paths: Vec<PathIndex> = by_path.into_values().collect();
        for p in &mut paths {
            always.extend(p.finish());
        }
        always.sort_unstable();
        always.dedup();
        paths.sort_by(|a, b| a.path.len().cmp(&b.path.len()).then_with(|| format!("{:?}", a.path).cmp(&format!("{:?}", b.path))));
        paths.shrink_to_fit();
        always.shrink_to_fit();
        Matcher { paths, always }
    }

    /// The rules that may fire for `event`, ascending and without repeats; every rule that fires
    /// is among them.
    pub(crate) fn candidates(&self, event: &Value) -> Vec<u32> {
        let mut out = self.always.clone();
        for p in &self.paths {
            p.probe(event, &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Number of indexed paths and of rules without an anchor (for `match --stats` and docs).
    pub(crate) fn shape(&self) -> (usize, usize) {
        (self.paths.len(), self.always.len())
    }
}

/// The part of an event the rules can see: every path any condition reads, as a trie. Parsing an
/// event through it ([`Projection::parse`]) builds only those parts, skipping (but still
/// validating) the rest of the bytes, so a 1 KB event whose rules read five fields costs five
/// small values, not a whole tree. Evaluating the projected event gives exactly the answer of
/// the whole event: every path is reached with the same values, arrays keep their elements (each
/// projected by the same node, since a field step passes through arrays), and a path's final
/// value is kept whole.
#[derive(Debug, Default)]
pub(crate) struct Projection {
    keep_all: bool,
    children: HashMap<String, Projection>,
}

impl Projection {
    pub(crate) fn build(rules: &[CompiledRule]) -> Projection {
        let mut root = Projection::default();
        for r in rules {
            root.add_cond(&r.cond, &[]);
        }
        root
    }

    /// The node of `path` below `self`, created as needed; `None` once a node keeps everything
    /// (an index segment keeps its array whole).
    fn node(&mut self, path: &[Segment]) -> Option<&mut Projection> {
        let mut node = self;
        for seg in path {
            if node.keep_all {
                return None;
            }
            match seg {
                Segment::Field(name) => node = node.children.entry(name.clone()).or_default(),
                Segment::Index(_) => {
                    node.keep_all = true;
                    return None;
                }
            }
        }
        if node.keep_all {
            None
        } else {
            Some(node)
        }
    }

    fn add_cond(&mut self, cond: &Cond, base: &[Segment]) {
        match cond {
            Cond::Pred(p, _) => {
                let full: Vec<Segment> = base.iter().chain(p.path.iter()).cloned().collect();
                if let Some(n) = self.node(&full) {
                    n.keep_all = true;
                }
            }
            Cond::And(parts) | Cond::Or(parts) => parts.iter().for_each(|c| self.add_cond(c, base)),
            Cond::Not { cond, .. } => self.add_cond(cond, base),
            Cond::Let { cond, .. } => self.add_cond(cond, &[]),
            Cond::Quant(_) | Cond::Each(_) => {
                let (path, cond) = cond.scope().expect("a quantifier");
                let full: Vec<Segment> = base.iter().chain(path).cloned().collect();
                if self.node(&full).is_none() {
                    // The elements are kept whole already; the lets inside still read the root.
                    self.add_lets(cond);
                    return;
                }
                // Element paths that do not begin with a field (the element itself, or an index
                // into it) need the elements whole.
                if !element_paths_start_with_fields(cond) {
                    if let Some(n) = self.node(&full) {
                        n.keep_all = true;
                    }
                    self.add_lets(cond);
                    return;
                }
                self.add_cond(cond, &full);
            }
        }
    }

    /// The root paths of the lets a condition refers to (below a part kept whole).
    fn add_lets(&mut self, cond: &Cond) {
        match cond {
            Cond::Pred(..) => {}
            Cond::And(parts) | Cond::Or(parts) => parts.iter().for_each(|c| self.add_lets(c)),
            Cond::Not { cond, .. } => self.add_lets(cond),
            Cond::Let { cond, .. } => self.add_cond(cond, &[]),
            Cond::Quant(_) | Cond::Each(_) => self.add_lets(cond.scope().expect("a quantifier").1),
        }
    }

    /// Parses `text` (a JSON document) keeping only the projected parts.
    pub(crate) fn parse(&self, text: &str) -> serde_json::Result<Value> {
        if self.keep_all {
            return serde_json::from_str(text);
        }
        match text.bytes().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => {
                let mut de = serde_json::Deserializer::from_str(text);
                let v = serde::Deserializer::deserialize_map(&mut de, ObjectVisitor(self))?;
                de.end()?;
                Ok(v)
            }
            Some(b'[') => {
                let mut de = serde_json::Deserializer::from_str(text);
                let v = serde::Deserializer::deserialize_seq(&mut de, ArrayVisitor(self))?;
                de.end()?;
                Ok(v)
            }
            _ => serde_json::from_str(text),
        }
    }
}

/// Whether every path of `cond` relative to a quantified element starts with a field name
/// (lets are from the root and do not count).
fn element_paths_start_with_fields(cond: &Cond) -> bool {
    match cond {
        Cond::Pred(p, _) => matches!(p.path.first(), Some(Segment::Field(_))),
        Cond::And(parts) | Cond::Or(parts) => parts.iter().all(element_paths_start_with_fields),
        Cond::Not { cond, .. } => element_paths_start_with_fields(cond),
        Cond::Let { .. } => true,
        Cond::Quant(_) | Cond::Each(_) => {
            matches!(cond.scope().and_then(|(path, _)| path.first()), Some(Segment::Field(_)))
        }
    }
}

struct ObjectVisitor<'a>(&'a Projection);

impl<'de> serde::de::Visitor<'de> for ObjectVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(kept) = map.next_key_seed(KeySeed(self.0))? {
            match kept {
                Some((key, child)) => {
                    let raw: &'de serde_json::value::RawValue = map.next_value()?;
                    let value = child.parse(raw.get()).map_err(serde::de::Error::custom)?;
                    out.insert(key, value);
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

struct ArrayVisitor<'a>(&'a Projection);

impl<'de> serde::de::Visitor<'de> for ArrayVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(raw) = seq.next_element::<&'de serde_json::value::RawValue>()? {
            out.push(self.0.parse(raw.get()).map_err(serde::de::Error::custom)?);
        }
        Ok(Value::Array(out))
    }
}

/// Reads an object key: the key and its node when projected, `None` when the value is skipped.
struct KeySeed<'a>(&'a Projection);

impl<'de, 'a> serde::de::DeserializeSeed<'de> for KeySeed<'a> {
    type Value = Option<(String, &'a Projection)>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'a> serde::de::Visitor<'de> for KeySeed<'a> {
    type Value = Option<(String, &'a Projection)>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.children.get(key).map(|child| (key.to_string(), child)))
    }
}
