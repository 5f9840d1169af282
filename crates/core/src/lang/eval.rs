//! The reference evaluator: conditions over a JSON event, straight from the spec's semantics
//! (path sets, ANY over values, missing paths false). Simple and correct rather than fast: every
//! rule is tried in order. With `explain` it also says why a condition failed.
use std::cell::Cell;
use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{Number, Value};

use super::ast::{OrdOp, Segment};
use super::eventpattern::NumOp;
use super::ir::{Cond, Each, Pred, Quant, Test};

/// `Ok` when the condition holds; `Err(reason)` otherwise (the reason is empty unless explaining).
pub(crate) type Verdict = Result<(), String>;

pub(crate) struct Ctx<'a, 'm> {
    pub root: &'a Value,
    pub explain: bool,
    /// What each root path of the set leads to in this event, resolved on first use (empty:
    /// no sharing).
    pub slots: &'a [Cell<Slot<'a>>],
    /// The verdicts of shared predicates already decided for this event (empty: none kept).
    pub memo: Memo<'m>,
}

/// Per-event verdicts of the rule set's shared predicates, indexed by predicate number: a cell
/// holds `stamp << 1 | holds`, and only cells carrying this event's stamp count, so the table is
/// reused from event to event without clearing.
#[derive(Clone, Copy)]
pub(crate) struct Memo<'a> {
    cells: &'a [Cell<u32>],
    stamp: u32,
}

impl Memo<'_> {
    pub(crate) const NONE: Memo<'static> = Memo { cells: &[], stamp: 0 };
}

thread_local! {
    static MEMO: std::cell::RefCell<(u32, Vec<Cell<u32>>)> = const { std::cell::RefCell::new((0, Vec::new())) };
}

/// Runs `f` with a memo for `n` predicates: this thread's table with a fresh stamp, or a new
/// table when that one is in use (a nested evaluation).
pub(crate) fn with_memo<R>(n: usize, f: impl FnOnce(Memo<'_>) -> R) -> R {
    MEMO.with(|table| match table.try_borrow_mut() {
        Ok(mut table) => {
            let (stamp, cells) = &mut *table;
            if cells.len() < n {
                cells.resize(n, Cell::new(0));
            }
            *stamp += 1;
            if *stamp >= 1 << 31 {
                cells.iter().for_each(|c| c.set(0));
                *stamp = 1;
            }
            f(Memo { cells: &cells[..n], stamp: *stamp })
        }
        Err(_) => {
            let cells = vec![Cell::new(0); n];
            f(Memo { cells: &cells, stamp: 1 })
        }
    })
}

/// `Pred::slot` of a predicate whose path is not resolved through the shared table.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// A root path's resolution in one event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot<'a> {
    Unknown,
    Missing,
    One(&'a Value),
    /// It crosses an array: the general path-set evaluation applies.
    General,
}

pub(crate) fn slots<'a>(n: usize) -> Vec<Cell<Slot<'a>>> {
    vec![Cell::new(Slot::Unknown); n]
}

fn resolve<'a>(cur: &'a Value, path: &[Segment]) -> Slot<'a> {
    match walk(cur, path) {
        None => Slot::General,
        Some(None) => Slot::Missing,
        Some(Some(v)) => Slot::One(v),
    }
}

/// Shares identical predicates and numbers root paths, once per rule set. Every predicate of a
/// rule's condition outside quantifiers and lets (those are evaluated from another value, or are
/// already shared `Arc`s) gets the slot of its path, and identical predicates (same path, same
/// operator text and same compiled test) become one `Arc<Pred>`, their paths one `Arc<[Segment]>`.
/// Rule sets repeat predicates a lot (`eventType == "..."`), so this is most of a rule set's
/// condition memory. Each shared predicate gets its number (see [`Cond::Pred`]). Returns how
/// many distinct root paths there are, and the shared predicates by number.
pub(crate) fn intern_predicates(rules: &mut [super::ir::CompiledRule]) -> (usize, Vec<Arc<Pred>>) {
    /// A predicate's identity: its path, its operator text (what `explain` shows) and its
    /// compiled test (the `Debug` text names the variant, the literals and a regex's pattern).
    type PredKey = (Arc<[Segment]>, Box<str>, String);
    /// A distinct root path: the one shared copy, its slot and its text.
    type SharedPath = (Arc<[Segment]>, u32, Arc<str>);
    #[derive(Default)]
    struct Tables {
        paths: std::collections::HashMap<Arc<[Segment]>, SharedPath>,
        preds: std::collections::HashMap<PredKey, (Arc<Pred>, u32)>,
    }
    fn walk_cond(c: &mut Cond, t: &mut Tables) {
        match c {
            Cond::Pred(p, number) => {
                let key = (p.path.clone(), p.op_text.clone(), format!("{:?}", p.test));
                if let Some((shared, n)) = t.preds.get(&key) {
                    *p = shared.clone();
                    *number = *n;
                    return;
                }
                let next = t.paths.len() as u32;
                let (path, slot, path_text) = t
                    .paths
                    .entry(p.path.clone())
                    .or_insert_with(|| (p.path.clone(), next, p.path_text.clone()))
                    .clone();
                // Fresh from the compiler, so not shared yet.
                if let Some(own) = Arc::get_mut(p) {
                    own.slot = slot;
                    own.path = path;
                    own.path_text = path_text;
                    *number = t.preds.len() as u32;
                    t.preds.insert(key, (p.clone(), *number));
                }
            }
            Cond::And(parts) | Cond::Or(parts) => parts.iter_mut().for_each(|p| walk_cond(p, t)),
            Cond::Not { cond, .. } => walk_cond(cond, t),
            Cond::Let { .. } | Cond::Quant(_) | Cond::Each(_) => {}
        }
    }
    let mut tables = Tables::default();
    for r in rules {
        walk_cond(&mut r.cond, &mut tables);
    }
    let mut numbered: Vec<(u32, Arc<Pred>)> = tables.preds.into_values().map(|(p, n)| (n, p)).collect();
    numbered.sort_unstable_by_key(|(n, _)| *n);
    (tables.paths.len(), numbered.into_iter().map(|(_, p)| p).collect())
}

/// A rule whose condition is a conjunction of at most three shared predicates, as their numbers
/// (`[count, p1, p2, p3]`; a count of 0: any other condition). Checking a candidate rule through
/// this dense table and the memo touches one small entry instead of the rule and its tree.
pub(crate) type Conjunction = [u32; 4];

pub(crate) fn conjunction(cond: &Cond) -> Conjunction {
    let numbered = |c: &Cond| match c {
        Cond::Pred(_, n) if *n != super::ir::NO_PRED => Some(*n),
        _ => None,
    };
    let mut out = [0; 4];
    match cond {
        Cond::And(parts) if parts.len() <= 3 => {
            for (i, part) in parts.iter().enumerate() {
                match numbered(part) {
                    Some(n) => out[i + 1] = n,
                    None => return [0; 4],
                }
            }
            out[0] = parts.len() as u32;
        }
        single => {
            if let Some(n) = numbered(single) {
                out = [1, n, 0, 0];
            }
        }
    }
    out
}

/// Whether shared predicate `number` holds on the event (`ctx.root`), remembered in the memo;
/// `pred` gives the predicate, only when it must be evaluated.
pub(crate) fn shared_holds<'p>(number: u32, ctx: &Ctx<'_, '_>, pred: impl FnOnce() -> &'p Pred) -> bool {
    match ctx.memo.cells.get(number as usize) {
        Some(cell) => {
            let known = cell.get();
            if known >> 1 == ctx.memo.stamp {
                return known & 1 == 1;
            }
            let holds = eval_pred(pred(), ctx, ctx.root).is_ok();
            cell.set(ctx.memo.stamp << 1 | u32::from(holds));
            holds
        }
        None => eval_pred(pred(), ctx, ctx.root).is_ok(),
    }
}

pub(crate) fn eval(cond: &Cond, ctx: &Ctx, cur: &Value) -> Verdict {
    match cond {
        Cond::And(parts) => {
            for p in parts {
                eval(p, ctx, cur)?;
            }
            Ok(())
        }
        Cond::Or(parts) => {
            let mut reasons = Vec::new();
            for p in parts {
                match eval(p, ctx, cur) {
                    Ok(()) => return Ok(()),
                    Err(r) => reasons.push(r),
                }
            }
            Err(if ctx.explain { format!("none of the alternatives holds: {}", reasons.join("; ")) } else { String::new() })
        }
        Cond::Not { cond, text } => match eval(cond, ctx, cur) {
            Ok(()) => Err(if ctx.explain { format!("not ({text}): the inner condition holds") } else { String::new() }),
            Err(_) => Ok(()),
        },
        Cond::Let { name, cond } => {
            eval(cond, ctx, ctx.root).map_err(|r| if ctx.explain { format!("{name}: {r}") } else { r })
        }
        // Numbered predicates are those outside quantifiers and lets: `cur` is the root.
        Cond::Pred(p, number) if *number != super::ir::NO_PRED && !ctx.explain => {
            if shared_holds(*number, ctx, || p) {
                Ok(())
            } else {
                Err(String::new())
            }
        }
        Cond::Pred(p, _) => eval_pred(p, ctx, cur),
        Cond::Each(each) => {
            let Each { path, path_text, cond } = &**each;
            let values = scalars(&reach(cur, path));
            if values.is_empty() {
                let empty = Value::Object(serde_json::Map::new());
                return eval(cond, ctx, &empty).map_err(|r| if ctx.explain { format!("{path_text}: missing ({r})") } else { r });
            }
            let mut first = None;
            for v in &values {
                match eval(cond, ctx, v) {
                    Ok(()) => return Ok(()),
                    Err(r) => {
                        first.get_or_insert(r);
                    }
                }
            }
            Err(match first {
                Some(r) if ctx.explain && values.len() == 1 => r,
                Some(r) if ctx.explain => format!("no value of {path_text} matches the pattern (the first: {r})"),
                _ => String::new(),
            })
        }
        Cond::Quant(q) => {
            let Quant { all, path, path_text, cond, text } = &**q;
            let reached = reach(cur, path);
            let arrays: Vec<&Vec<Value>> = reached.iter().filter_map(|v| v.as_array()).collect();
            if arrays.is_empty() {
                return Err(if !ctx.explain {
                    String::new()
                } else if let Some(v) = reached.first() {
                    format!("{path_text}: found {}, not an array", describe(v))
                } else {
                    format!("{path_text}: missing")
                });
            }
            let mut elements = Vec::new();
            for a in arrays {
                flatten_into(a, &mut elements);
            }
            let quantifier = if *all { "all" } else { "any" };
            for (i, e) in elements.iter().enumerate() {
                match (eval(cond, ctx, e), *all) {
                    (Ok(()), false) => return Ok(()),
                    (Err(r), true) => {
                        return Err(if ctx.explain { format!("{quantifier} {path_text}: element {i}: {r}") } else { r })
                    }
                    _ => {}
                }
            }
            if *all {
                Ok(())
            } else {
                Err(if ctx.explain {
                    format!("{quantifier} {path_text}: no element satisfies ({text})")
                } else {
                    String::new()
                })
            }
        }
    }
}

/// The values a path reaches, without expanding a final array (the `contains` family and the
/// quantifiers look at arrays themselves). Passing through an array fans out over its elements,
/// nested arrays included.
pub(crate) fn reach<'a>(cur: &'a Value, path: &[Segment]) -> Vec<&'a Value> {
    let mut set = vec![cur];
    for seg in path {
        let mut next = Vec::new();
        for v in set {
            step(v, seg, &mut next);
        }
        if next.is_empty() {
            return next;
        }
        set = next;
    }
    set
}

fn step<'a>(v: &'a Value, seg: &Segment, out: &mut Vec<&'a Value>) {
    match (v, seg) {
        (Value::Object(map), Segment::Field(name)) => out.extend(map.get(name)),
        (Value::Array(items), Segment::Field(_)) => {
            for e in items {
                step(e, seg, out);
            }
        }
        (Value::Array(items), Segment::Index(i)) => out.extend(items.get(*i)),
        _ => {}
    }
}

fn flatten_into<'a>(items: &'a [Value], out: &mut Vec<&'a Value>) {
    for e in items {
        match e {
            Value::Array(inner) => flatten_into(inner, out),
            other => out.push(other),
        }
    }
}

/// The scalar values of a reached set: arrays replaced by their (flattened) elements.
fn scalars<'a>(reached: &[&'a Value]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    for v in reached {
        match v {
            Value::Array(items) => flatten_into(items, &mut out),
            other => out.push(other),
        }
    }
    out
}

/// Equality of an event value and a literal: numbers by value, no string/number coercion.
pub(crate) fn json_eq(value: &Value, lit: &Value) -> bool {
    match (value, lit) {
        (Value::Number(a), Value::Number(b)) => num_cmp(a, b) == Some(Ordering::Equal),
        (Value::Array(_) | Value::Object(_), _) => false,
        _ => value == lit,
    }
}

/// Compares numbers by value: exactly when both fit i64 or both fit u64, else as f64.
pub(crate) fn num_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    match (a.as_i64(), b.as_u64(), a.as_u64(), b.as_i64()) {
        (Some(x), Some(_), _, _) if x < 0 => return Some(Ordering::Less),
        (_, _, Some(_), Some(y)) if y < 0 => return Some(Ordering::Greater),
        _ => {}
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn ord_holds(op: OrdOp, value: &Number, lit: &Number) -> bool {
    match num_cmp(value, lit) {
        Some(o) => match op {
            OrdOp::Lt => o == Ordering::Less,
            OrdOp::Le => o != Ordering::Greater,
            OrdOp::Gt => o == Ordering::Greater,
            OrdOp::Ge => o != Ordering::Less,
        },
        None => false,
    }
}

/// The type name `explain` uses for a value it found.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A found value as `explain` shows it: scalars as JSON, containers by type.
fn describe(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("an array of {}", a.len()),
        Value::Object(_) => "an object".to_string(),
        Value::Null => "null".to_string(),
        other => format!("{} {}", type_name(other), short(other)),
    }
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Whether an event value has the type of a literal (numbers are one type).
fn same_type(v: &Value, lit: &Value) -> bool {
    std::mem::discriminant(v) == std::mem::discriminant(lit)
}

/// "a string", "a number": a type with its article, for `explain`.
fn a_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What a test needs a value to be, for `explain` when the value found has another type.
fn expected_type(test: &Test) -> String {
    match test {
        Test::Eq(lit) => a_type(lit).to_string(),
        Test::In(lits) => {
            let mut names: Vec<&str> = Vec::new();
            for l in lits {
                if !names.contains(&a_type(l)) {
                    names.push(a_type(l));
                }
            }
            match names.split_last() {
                Some((last, [])) => last.to_string(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => "a value".to_string(),
            }
        }
        Test::Ord(..) | Test::Between(..) | Test::Numeric(_) => "a number".to_string(),
        Test::Cidr(_) => "a string holding an IP address".to_string(),
        _ => "a string".to_string(),
    }
}

/// Whether a predicate's test holds for one scalar value, and whether the value had the type
/// the test needs (a wrong type is a failure `explain` names).
fn scalar_test(test: &Test, v: &Value) -> (bool, bool) {
    match test {
        Test::Eq(lit) => (json_eq(v, lit), same_type(v, lit)),
        Test::In(lits) => (lits.iter().any(|l| json_eq(v, l)), lits.is_empty() || lits.iter().any(|l| same_type(v, l))),
        Test::Ord(op, n) => match v {
            Value::Number(x) => (ord_holds(*op, x, n), true),
            _ => (false, false),
        },
        Test::Between(a, b) => match v {
            Value::Number(x) => (ord_holds(OrdOp::Ge, x, a) && ord_holds(OrdOp::Le, x, b), true),
            _ => (false, false),
        },
        Test::Regex(re) => match v {
            Value::String(s) => (re.is_match(s), true),
            _ => (false, false),
        },
        Test::Glob(g) => match v {
            Value::String(s) => (g.is_match(s), true),
            _ => (false, false),
        },
        Test::StartsWith(p) => match v {
            Value::String(s) => (s.starts_with(p.as_str()), true),
            _ => (false, false),
        },
        Test::EndsWith(p) => match v {
            Value::String(s) => (s.ends_with(p.as_str()), true),
            _ => (false, false),
        },
        Test::Numeric(list) => match v {
            Value::Number(x) => (
                list.iter().all(|(op, n)| match op {
                    NumOp::Eq => num_cmp(x, n) == Some(Ordering::Equal),
                    NumOp::Ord(o) => ord_holds(*o, x, n),
                }),
                true,
            ),
            _ => (false, false),
        },
        Test::Cidr(block) => match v {
            Value::String(s) => match s.parse::<std::net::IpAddr>() {
                Ok(ip) => (block.contains(ip), true),
                Err(_) => (false, false),
            },
            _ => (false, false),
        },
        _ => (false, true),
    }
}

/// Where a path leads when it crosses no array: nothing, or exactly one value. `None` when it
/// meets an array on the way (the general path-set semantics then apply).
pub(crate) fn walk<'a>(cur: &'a Value, path: &[Segment]) -> Option<Option<&'a Value>> {
    let mut v = cur;
    for seg in path {
        match (v, seg) {
            (Value::Object(map), Segment::Field(name)) => match map.get(name) {
                Some(next) => v = next,
                None => return Some(None),
            },
            (Value::Array(_), _) => return None,
            _ => return Some(None),
        }
    }
    Some(Some(v))
}

/// The verdict when the path leads to nothing or to one value; `None` when it crosses an array.
fn quick_verdict(test: &Test, at: Slot<'_>) -> Option<Verdict> {
    let holds = match at {
        Slot::Missing => false,
        Slot::One(v) => holds(test, &[v]),
        _ => return None,
    };
    Some(if holds { Ok(()) } else { Err(String::new()) })
}

/// Whether a predicate's test holds on the values its path reached: the verdict of
/// [`eval_pred`]'s explaining branch below, computed without building its messages or any
/// intermediate list.
fn holds(test: &Test, reached: &[&Value]) -> bool {
    if reached.is_empty() {
        return false;
    }
    // Some scalar of the reached set (arrays stand for their flattened elements) satisfies `f`.
    let any_scalar = |f: &mut dyn FnMut(&Value) -> bool| {
        reached.iter().any(|v| match v {
            Value::Array(items) => any_flat(items, f),
            other => f(other),
        })
    };
    match test {
        Test::Exists => true,
        Test::LeafExists => any_scalar(&mut |v| !v.is_object()),
        Test::AnythingBut(tests) => any_scalar(&mut |v| !v.is_object() && !tests.iter().any(|t| scalar_test(t, v).0)),
        Test::Ne(lit) => !any_scalar(&mut |v| json_eq(v, lit)),
        Test::NotIn(lits) => !any_scalar(&mut |v| lits.iter().any(|l| json_eq(v, l))),
        Test::Contains(_) | Test::ContainsAny(_) | Test::ContainsAll(_) => reached.iter().any(|v| contains_test(test, v)),
        test => any_scalar(&mut |v| scalar_test(test, v).0),
    }
}

/// Some element of `items`, nested arrays flattened, satisfies `f`.
fn any_flat(items: &[Value], f: &mut dyn FnMut(&Value) -> bool) -> bool {
    items.iter().any(|e| match e {
        Value::Array(inner) => any_flat(inner, f),
        other => f(other),
    })
}

fn eval_pred(p: &Pred, ctx: &Ctx<'_, '_>, cur: &Value) -> Verdict {
    if !ctx.explain {
        let quick = match ctx.slots.get(p.slot as usize) {
            Some(cell) if std::ptr::eq(cur, ctx.root) => {
                let at = match cell.get() {
                    Slot::Unknown => {
                        let at = resolve(ctx.root, &p.path);
                        cell.set(at);
                        at
                    }
                    known => known,
                };
                quick_verdict(&p.test, at)
            }
            _ => quick_verdict(&p.test, resolve(cur, &p.path)),
        };
        if let Some(verdict) = quick {
            return verdict;
        }
        return if holds(&p.test, &reach(cur, &p.path)) { Ok(()) } else { Err(String::new()) };
    }
    let reached = reach(cur, &p.path);
    let fail = |why: String| Err(format!("{}: {why}", p.path_text));
    if reached.is_empty() {
        return fail("missing".to_string());
    }
    match &p.test {
        Test::Exists => Ok(()),
        Test::LeafExists => match scalars(&reached).into_iter().find(|v| !v.is_object()) {
            Some(_) => Ok(()),
            None => fail("no value that is not an object".to_string()),
        },
        Test::AnythingBut(tests) => {
            let values: Vec<&Value> = scalars(&reached).into_iter().filter(|v| !v.is_object()).collect();
            if values.iter().any(|v| !tests.iter().any(|t| scalar_test(t, v).0)) {
                return Ok(());
            }
            match values.first() {
                Some(v) => fail(format!("{} is excluded by {}", short(v), p.op_text)),
                None => fail("no value that is not an object".to_string()),
            }
        }
        Test::Ne(lit) => match scalars(&reached).into_iter().find(|v| json_eq(v, lit)) {
            Some(v) => fail(format!("{} is {}", short(v), p.op_text.trim_start_matches("!= "))),
            None => Ok(()),
        },
        Test::NotIn(lits) => match scalars(&reached).into_iter().find(|v| lits.iter().any(|l| json_eq(v, l))) {
            Some(v) => fail(format!("{} is in the list", short(v))),
            None => Ok(()),
        },
        Test::Contains(_) | Test::ContainsAny(_) | Test::ContainsAll(_) => {
            if reached.iter().any(|v| contains_test(&p.test, v)) {
                return Ok(());
            }
            let found: Vec<String> = reached.iter().map(|v| describe(v)).collect();
            let usable = |v: &&Value| v.is_array() || (v.is_string() && matches!(p.test, Test::Contains(Value::String(_))));
            if !reached.iter().any(usable) {
                let wanted = if matches!(p.test, Test::Contains(Value::String(_))) { "an array or a string" } else { "an array" };
                return fail(format!("found {}, not {wanted} ({})", found.join(", "), p.op_text));
            }
            let phrase = p.op_text.strip_prefix("contains").map_or_else(|| p.op_text.to_string(), |rest| format!("contain{rest}"));
            fail(format!("{} does not {phrase}", found.join(", ")))
        }
        test => {
            let values = scalars(&reached);
            let mut wrong_type = None;
            for v in &values {
                let (holds, typed) = scalar_test(test, v);
                if holds {
                    return Ok(());
                }
                if !typed && wrong_type.is_none() {
                    wrong_type = Some(*v);
                }
            }
            if values.is_empty() {
                return fail("an empty array".to_string());
            }
            match (values.len(), wrong_type) {
                (1, Some(v)) => fail(format!("found {}, not {} ({})", describe(v), expected_type(test), p.op_text)),
                (1, None) => fail(format!("{} {}", short(values[0]), negated(&p.op_text))),
                _ => {
                    let shown: Vec<String> = values.iter().take(5).map(|v| short(v)).collect();
                    let more = if values.len() > 5 { ", ..." } else { "" };
                    fail(format!("no value of [{}{more}] satisfies `{}`", shown.join(", "), p.op_text))
                }
            }
        }
    }
}

/// "is not >= 1000", "does not match /a.*/": the failed operator as a phrase.
fn negated(op_text: &str) -> String {
    let phrases = [
        ("matches ", "does not match "),
        ("starts_with ", "does not start with "),
        ("ends_with ", "does not end with "),
        ("equals_ignore_case ", "does not equal (ignoring case) "),
        ("in_cidr ", "is not in "),
    ];
    for (op, phrase) in phrases {
        if let Some(rest) = op_text.strip_prefix(op) {
            return format!("{phrase}{rest}");
        }
    }
    format!("is not {op_text}")
}

/// `contains` and friends on one reached value: an array (flattened) or, for `contains`, a string.
fn contains_test(test: &Test, v: &Value) -> bool {
    match v {
        Value::Array(items) => {
            let has = |lit: &Value| any_flat(items, &mut |e| json_eq(e, lit));
            match test {
                Test::Contains(lit) => has(lit),
                Test::ContainsAny(lits) => lits.iter().any(has),
                Test::ContainsAll(lits) => lits.iter().all(has),
                _ => false,
            }
        }
        Value::String(s) => match test {
            Test::Contains(Value::String(needle)) => s.contains(needle.as_str()),
            _ => false,
        },
        _ => false,
    }
}

/// The text a topic template field or a key takes from the event: one string as is, or one
/// integer as decimal text.
pub(crate) fn field_text(cur: &Value, path: &[Segment], path_text: &str) -> Result<Option<String>, String> {
    let values = reach(cur, path);
    match values.as_slice() {
        [] => Ok(None),
        [Value::String(s)] => Ok(Some(s.clone())),
        [Value::Number(n)] if n.as_i64().is_some() || n.as_u64().is_some() => Ok(Some(n.to_string())),
        [v] => Err(format!("{path_text} is {}, not a string or an integer", describe(v))),
        many => Err(format!("{path_text} has {} values, not one", many.len())),
    }
}
