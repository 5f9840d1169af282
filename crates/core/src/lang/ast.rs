//! The AST both rule-file forms (DSL and YAML) produce. Every node carries the [`Span`] of the
//! text it came from, so the checker can point at it; nothing here is validated yet (a regex is
//! still text, a let reference still a name): that is the checker's and the compiler's job.
use serde_json::Number;

/// A byte range in one source file. `file` indexes the file list given to the compiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: usize,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: usize, start: usize, end: usize) -> Span {
        Span { file, start, end }
    }
}

/// A value with the span it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

/// One parsed rule file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Let(LetDef),
    Rule(Rule),
    Default(DefaultBlock),
}

/// `let NAME = CONDITION`.
#[derive(Debug, Clone, PartialEq)]
pub struct LetDef {
    pub name: Spanned<String>,
    pub condition: Condition,
    pub span: Span,
}

/// `rule NAME { ... }` (or one entry of the YAML `routing_rules:` list).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: Spanned<String>,
    /// Every `description` written (the checker reports more than one).
    pub descriptions: Vec<Spanned<String>>,
    /// Every `priority` written (the checker reports more than one).
    pub priorities: Vec<Spanned<i64>>,
    pub condition: Condition,
    pub actions: Vec<Action>,
    pub span: Span,
}

/// `default { ACTION+ }`.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultBlock {
    pub actions: Vec<Action>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub kind: ConditionKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConditionKind {
    /// At least two alternatives.
    Or(Vec<Condition>),
    /// At least one conjunct (the YAML form produces one-element conjunctions).
    And(Vec<Condition>),
    Not(Box<Condition>),
    /// `( C )`: kept so that printing gives back what was written.
    Group(Box<Condition>),
    Predicate(Predicate),
    /// A `let` name.
    LetRef(String),
    /// `any P (C)` / `all P (C)`: paths inside `C` are relative to the element.
    Quantifier { all: bool, path: Path, condition: Box<Condition> },
    /// An AWS EventBridge event pattern (YAML form `event_pattern:`), validated when parsed.
    EventPattern(Box<super::eventpattern::EventPattern>),
}

/// `P OP ...`, or `exists P`.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub path: Path,
    pub op: Operator,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    Eq(Spanned<Literal>),
    Ne(Spanned<Literal>),
    /// The literal is checked to be a number by the checker (E012).
    Ord(OrdOp, Spanned<Literal>),
    Between(Spanned<Literal>, Spanned<Literal>),
    In(Vec<Spanned<Literal>>),
    NotIn(Vec<Spanned<Literal>>),
    Matches { pattern: Spanned<String>, flags: String },
    Like(Spanned<String>),
    StartsWith(Spanned<String>),
    EndsWith(Spanned<String>),
    EqualsIgnoreCase(Spanned<String>),
    Contains(Spanned<Literal>),
    ContainsAny(Vec<Spanned<Literal>>),
    ContainsAll(Vec<Spanned<Literal>>),
    InCidr(Spanned<String>),
    Exists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrdOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl OrdOp {
    pub fn symbol(self) -> &'static str {
        match self {
            OrdOp::Lt => "<",
            OrdOp::Le => "<=",
            OrdOp::Gt => ">",
            OrdOp::Ge => ">=",
        }
    }
}

/// A literal of a condition: what a JSON scalar can be.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Number(Number),
    Bool(bool),
    Null,
}

/// A path from the envelope root (or from a quantified element).
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub segments: Vec<Segment>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Field(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub kind: ActionKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    Topic {
        name: Spanned<String>,
        keys: Vec<Path>,
        transforms: Vec<Spanned<String>>,
        headers: Vec<Header>,
    },
    Webhook {
        url: Spanned<String>,
        transform: Option<Spanned<String>>,
        /// `Some` when a `{ ... }` block was written (even empty): printing keeps it.
        options: Option<Vec<WebhookOption>>,
    },
    Store,
    Drop,
    Stop,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub name: Spanned<String>,
    pub value: Spanned<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookOption {
    Method(Spanned<HttpMethod>),
    Header(Header),
    Timeout(Spanned<Duration>),
    Retry { attempts: Spanned<u64>, backoff: Option<(Spanned<Duration>, Spanned<Duration>)> },
    Sign(Spanned<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Post,
    Put,
    Patch,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
        }
    }
}

/// A duration as written (`250ms`): the unit is kept so printing gives back the same text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    pub amount: u64,
    pub unit: DurationUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    Millis,
    Seconds,
    Minutes,
    Hours,
}

impl Duration {
    pub fn unit_str(self) -> &'static str {
        match self.unit {
            DurationUnit::Millis => "ms",
            DurationUnit::Seconds => "s",
            DurationUnit::Minutes => "m",
            DurationUnit::Hours => "h",
        }
    }

    /// The duration in milliseconds, or `None` when it overflows.
    pub fn as_millis(self) -> Option<u64> {
        let factor = match self.unit {
            DurationUnit::Millis => 1,
            DurationUnit::Seconds => 1_000,
            DurationUnit::Minutes => 60_000,
            DurationUnit::Hours => 3_600_000,
        };
        self.amount.checked_mul(factor)
    }

    /// Parses `250ms`, `10s`, `5m`, `1h` (the DSL's and the YAML form's duration syntax).
    pub fn parse(text: &str) -> Option<Duration> {
        let digits = text.find(|c: char| !c.is_ascii_digit())?;
        let (amount, unit) = text.split_at(digits);
        // Numbers are JSON numbers: no leading zeros (`01s`).
        if amount.len() > 1 && amount.starts_with('0') {
            return None;
        }
        let unit = match unit {
            "ms" => DurationUnit::Millis,
            "s" => DurationUnit::Seconds,
            "m" => DurationUnit::Minutes,
            "h" => DurationUnit::Hours,
            _ => return None,
        };
        Some(Duration { amount: amount.parse().ok()?, unit })
    }
}
