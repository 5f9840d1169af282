//! The compiled form of conditions and actions: what the evaluator runs. Built only by
//! `compile.rs` from a checked AST, so every regex compiled, every let resolved, every CIDR block
//! valid; immutable afterwards.
use std::fmt;
use std::sync::Arc;

use serde_json::{Number, Value};

use super::ast::{OrdOp, Segment};

/// A condition. `text` fields hold the DSL text of a part, for `explain`.
#[derive(Debug)]
///
/// Kept small (32 bytes) because a rule set holds one per predicate and connective: the rare
/// variants are boxed, and predicates are shared (`Arc`): identical predicates of different
/// rules are one [`Pred`] after [`super::eval::intern_predicates`].
pub(crate) enum Cond {
    Or(Box<[Cond]>),
    And(Box<[Cond]>),
    Not { cond: Box<Cond>, text: Box<str> },
    /// A predicate, and its number in the rule set's table of shared predicates (whose verdicts
    /// are remembered per event; [`NO_PRED`] inside quantifiers and lets, evaluated elsewhere
    /// than the envelope root). The number is here, not in the `Pred`, so that a remembered
    /// verdict is found without touching the predicate.
    Pred(Arc<Pred>, u32),
    /// A `let` reference: its paths are evaluated from the envelope root.
    Let { name: Box<str>, cond: Arc<Cond> },
    Quant(Box<Quant>),
    /// An EventBridge nested pattern: holds when some value at `path` (array elements one by
    /// one, objects as they are) satisfies `cond`; with nothing there, when `cond` holds on an
    /// empty object (so `exists: false` below a missing object holds).
    Each(Box<Each>),
}

impl Cond {
    /// The path and inner condition of a quantifier or an EventBridge nested pattern.
    pub(crate) fn scope(&self) -> Option<(&[Segment], &Cond)> {
        match self {
            Cond::Quant(q) => Some((&q.path, &q.cond)),
            Cond::Each(e) => Some((&e.path, &e.cond)),
            _ => None,
        }
    }
}

/// The predicate number of a predicate outside the shared table.
pub(crate) const NO_PRED: u32 = u32::MAX;

/// `any P: C` / `all P: C`.
#[derive(Debug)]
pub(crate) struct Quant {
    pub all: bool,
    pub path: Vec<Segment>,
    pub path_text: String,
    pub cond: Cond,
    pub text: String,
}

/// See [`Cond::Each`].
#[derive(Debug)]
pub(crate) struct Each {
    pub path: Vec<Segment>,
    pub path_text: String,
    pub cond: Cond,
}

#[derive(Debug)]
pub(crate) struct Pred {
    /// Shared by every predicate of the set on the same path.
    pub path: Arc<[Segment]>,
    pub path_text: Arc<str>,
    /// The operator as written (`>= 1000`), for `explain`.
    pub op_text: Box<str>,
    pub test: Test,
    /// For a path from the envelope root: its index in the set's table of such paths, whose
    /// values are looked up once per event and shared by every rule ([`super::eval::NO_SLOT`]
    /// inside quantifiers and lets).
    pub slot: u32,
}

#[derive(Debug)]
pub(crate) enum Test {
    Eq(Value),
    Ne(Value),
    Ord(OrdOp, Number),
    Between(Number, Number),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    /// `matches` and `equals_ignore_case`, each compiled to an anchored regex.
    Regex(regex::Regex),
    /// `like` and EventBridge `wildcard`.
    Glob(super::glob::Glob),
    StartsWith(String),
    EndsWith(String),
    Contains(Value),
    ContainsAny(Vec<Value>),
    ContainsAll(Vec<Value>),
    Cidr(IpBlock),
    Exists,
    /// EventBridge `exists: true`: the path reaches a value that is not an object (an array
    /// counts by its elements; `[]` is nothing).
    LeafExists,
    /// EventBridge `numeric`: one number satisfying every comparison.
    Numeric(Vec<(super::eventpattern::NumOp, Number)>),
    /// EventBridge `anything-but`: some non-object value for which none of the tests holds.
    AnythingBut(Vec<Test>),
}

/// An IP block with its host bits clear (the checker refuses others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpBlock {
    V4 { network: u32, prefix: u8 },
    V6 { network: u128, prefix: u8 },
}

impl IpBlock {
    /// Parses `10.0.0.0/8` or `2001:db8::/32`; an address without `/len` is a single host.
    pub(crate) fn parse(text: &str) -> Result<IpBlock, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let ip: std::net::IpAddr = addr.parse().map_err(|_| format!("`{addr}` is not an IP address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = match prefix {
            Some(p) => p.parse().ok().filter(|n| *n <= max).ok_or_else(|| format!("prefix length `{p}` is not 0..={max}"))?,
            None => max,
        };
        match ip {
            std::net::IpAddr::V4(v4) => {
                let network = u32::from(v4);
                let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
                if network & !mask != 0 {
                    return Err(format!(
                        "host bits are set (did you mean {}/{prefix}?)",
                        std::net::Ipv4Addr::from(network & mask)
                    ));
                }
                Ok(IpBlock::V4 { network, prefix })
            }
            std::net::IpAddr::V6(v6) => {
                let network = u128::from(v6);
                let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
                if network & !mask != 0 {
                    return Err(format!(
                        "host bits are set (did you mean {}/{prefix}?)",
                        std::net::Ipv6Addr::from(network & mask)
                    ));
                }
                Ok(IpBlock::V6 { network, prefix })
            }
        }
    }

    pub(crate) fn contains(&self, ip: std::net::IpAddr) -> bool {
        match (self, ip) {
            (IpBlock::V4 { network, prefix }, std::net::IpAddr::V4(a)) => {
                let mask = if *prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(*prefix)) };
                u32::from(a) & mask == *network
            }
            (IpBlock::V6 { network, prefix }, std::net::IpAddr::V6(a)) => {
                let mask = if *prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(*prefix)) };
                u128::from(a) & mask == *network
            }
            _ => false,
        }
    }
}

/// A string of an action after `${VAR}` resolution. It prints (Debug and Display) as written,
/// with `${NAME}` in place of every variable, so a secret never reaches a log, lint output,
/// metrics or `explain`; [`Secret::expose`] gives the resolved value to the one sender that
/// needs it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret {
    shown: String,
    value: String,
}

impl Secret {
    pub(crate) fn new(shown: String, value: String) -> Secret {
        Secret { shown, value }
    }

    /// A string without variables (shown as is).
    pub fn plain(text: impl Into<String>) -> Secret {
        let text = text.into();
        Secret { shown: text.clone(), value: text }
    }

    /// The resolved value. Without an environment (`match`, `explain`, `test`), variables without
    /// a fallback resolve to their `${NAME}` placeholder.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The text with `${NAME}` placeholders: safe to show.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.shown, f)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// HTTP method of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookMethod {
    Post,
    Put,
    Patch,
}

impl WebhookMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookMethod::Post => "POST",
            WebhookMethod::Put => "PUT",
            WebhookMethod::Patch => "PATCH",
        }
    }
}

/// Everything the webhook sender needs to deliver to one `to webhook` target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebhookTarget {
    pub url: Secret,
    pub method: WebhookMethod,
    pub headers: Vec<(String, Secret)>,
    pub timeout: std::time::Duration,
    /// Attempts in total, the first one included.
    pub attempts: u32,
    pub backoff_min: std::time::Duration,
    pub backoff_max: std::time::Duration,
    /// Standard Webhooks v1 signing secret (`whsec_<base64>` or raw).
    pub sign: Option<Secret>,
}

/// A compiled Jolt transform, shared by every rule that names it.
#[derive(Debug)]
pub struct Transform {
    /// The file name in the transforms directory (`member_to_crm.json`).
    pub name: String,
    pub chain: switchboard_jolt::Chain,
}

/// A path of the event read by an action (a topic template field, a key), with its text.
#[derive(Debug)]
pub(crate) struct FieldRef {
    pub path: Vec<Segment>,
    pub text: String,
}

/// One piece of a topic name: literal text or a `{path}` field of the event.
#[derive(Debug)]
pub(crate) enum TopicPiece {
    Text(Box<str>),
    Field(Box<FieldRef>),
}

#[derive(Debug)]
pub(crate) enum KeySource {
    /// No `key`: `subject.id`, and no key when it is missing.
    Default,
    /// `key P`: a missing value is no key; an unusable one sends the event to the DLQ.
    Path(Box<FieldRef>),
}

#[derive(Debug)]
pub(crate) enum CompiledAction {
    Topic { pieces: Box<[TopicPiece]>, key: KeySource, transform: Option<Arc<Transform>>, headers: Box<[(String, Secret)]> },
    Webhook { target: Arc<WebhookTarget>, transform: Option<Arc<Transform>> },
    Store,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub name: String,
    pub cond: Cond,
    pub actions: Box<[CompiledAction]>,
    /// `drop`: fires, delivers nothing, ends evaluation.
    pub drop: bool,
    /// `stop`: ends evaluation after this rule's own deliveries.
    pub stop: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule set holds one of these per connective, predicate and action: their size is most
    /// of a compiled rule's memory (docs/performance.md reports bytes per rule).
    #[test]
    fn compiled_nodes_stay_small() {
        eprintln!(
            "Cond {} Pred {} Test {} CompiledAction {} CompiledRule {} TopicPiece {}",
            std::mem::size_of::<Cond>(),
            std::mem::size_of::<Pred>(),
            std::mem::size_of::<Test>(),
            std::mem::size_of::<CompiledAction>(),
            std::mem::size_of::<CompiledRule>(),
            std::mem::size_of::<TopicPiece>()
        );
        assert!(std::mem::size_of::<Cond>() <= 32);
        assert!(std::mem::size_of::<CompiledAction>() <= 56);
        assert!(std::mem::size_of::<TopicPiece>() <= 24);
    }
}
