//! The compiled rule set and the API the rest of the gateway uses: [`RuleSet::evaluate`] gives
//! the fired rules and the planned deliveries of one event; [`RuleSet::explain`] adds, for every
//! rule, why it did or did not fire. The matcher behind them may change; these types stay.
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use serde_json::Value;

use super::ast::Segment;
use super::eval::{self, Ctx};
use super::ir::{CompiledAction, CompiledRule, FieldRef, KeySource, Secret, TopicPiece, Transform, WebhookTarget};

/// An immutable, compiled rule set: `Send + Sync`, shared by reference across workers and
/// replaced whole on reload. It can only be built by [`super::compile`] from a set that passed
/// every check.
#[derive(Debug)]
pub struct RuleSet {
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) default: Option<Vec<CompiledAction>>,
    pub(crate) version: String,
    /// The index that finds the candidate rules of an event (see `matcher.rs`).
    pub(crate) matcher: super::matcher::Matcher,
    /// The paths conditions read, for parsing events partially (`matched_rules_json`).
    pub(crate) projection: super::matcher::Projection,
    /// How many root paths conditions read (see `Pred::slot`).
    pub(crate) slot_count: usize,
    /// The shared predicates of conditions, by number (see `eval::intern_predicates`).
    pub(crate) preds: Vec<Arc<super::ir::Pred>>,
    /// Per rule, its condition as a conjunction of shared predicates where it is one.
    pub(crate) conjunctions: Vec<eval::Conjunction>,
}

/// What one event does against a rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Fired rules in evaluation order; `["default"]` when only the default block applied.
    pub matched: Vec<String>,
    /// Planned deliveries in order, identical ones (same target, transform, key, headers) once.
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The rule that planned it (`default` for the default block).
    pub rule: String,
    pub kind: DeliveryKind,
    /// The event, or its transform's output.
    pub payload: Payload,
    /// The transform whose output `payload` is (`None`: the event itself). Two deliveries to one
    /// target differ by it, which is what tells their webhook outbox rows apart.
    pub transform: Option<String>,
}

/// What a delivery carries: the event itself (one copy shared by every delivery of it), or a
/// transform's output, serialized once when it is made: the transform's result shares the
/// event's values, so turning it into a `Value` first would copy them for nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Event(Arc<Value>),
    Json(Arc<[u8]>),
}

impl Payload {
    /// The payload as JSON text (what a topic message or a webhook body holds).
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            // Serializing a JSON value into memory can not fail.
            Payload::Event(v) => serde_json::to_vec(&**v).unwrap_or_default(),
            Payload::Json(bytes) => bytes.to_vec(),
        }
    }

    /// The payload as a JSON value (for `explain`, `match` and rule tests).
    pub fn to_value(&self) -> Value {
        match self {
            Payload::Event(v) => (**v).clone(),
            // The text was written by serde_json from a JSON tree, so it reads back.
            Payload::Json(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        }
    }
}

impl std::fmt::Display for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_vec()))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryKind {
    /// Publish to a topic. `headers` include `eventType` and `eventVersion` of the event.
    Topic { topic: String, key: Option<String>, headers: Vec<(String, Secret)> },
    Webhook { target: Arc<WebhookTarget> },
    /// Append to the event store under the aggregate `subject.id`.
    Store { aggregate_id: String },
    /// The delivery cannot be made (unusable topic template or key, failed transform).
    Dlq { reason: String },
}

/// [`RuleSet::explain`]'s answer: the evaluation, and every rule with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub evaluation: Evaluation,
    pub rules: Vec<RuleExplanation>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleExplanation {
    pub name: String,
    /// The rule fired.
    pub matched: bool,
    /// Why it did not fire: the first predicate that failed and the value found, or the rule
    /// that ended evaluation before it.
    pub reason: Option<String>,
}

impl RuleSet {
    /// Evaluates one event (any JSON value; a non-object simply matches nothing but `not` rules).
    pub fn evaluate(&self, event: &Value) -> Evaluation {
        let fired = self.fired(event);
        self.plan(event, None, &fired)
    }

    /// [`RuleSet::evaluate`] for an event parsed from `text`: a delivery without a transform
    /// carries `text` itself (`Payload::Json`, shared), so the gateway forwards an event byte for
    /// byte as it arrived instead of serializing it again for each delivery.
    pub fn evaluate_text(&self, event: &Value, text: Arc<[u8]>) -> Evaluation {
        let fired = self.fired(event);
        self.plan(event, Some(text), &fired)
    }

    /// The rules that fire, in order: the index's candidates checked by the evaluator, each
    /// shared predicate decided once per event.
    fn fired(&self, event: &Value) -> Vec<&CompiledRule> {
        let slots = eval::slots(self.slot_count);
        eval::with_memo(self.preds.len(), |memo| {
            let ctx = Ctx { root: event, explain: false, slots: &slots, memo };
            let mut fired: Vec<&CompiledRule> = Vec::new();
            for id in self.matcher.candidates(event) {
                let holds = match self.conjunctions[id as usize] {
                    [0, ..] => eval::eval(&self.rules[id as usize].cond, &ctx, event).is_ok(),
                    [n, preds @ ..] => {
                        preds[..n as usize].iter().all(|&p| eval::shared_holds(p, &ctx, || &self.preds[p as usize]))
                    }
                };
                if holds {
                    let rule = &self.rules[id as usize];
                    fired.push(rule);
                    if rule.drop || rule.stop {
                        break;
                    }
                }
            }
            fired
        })
    }

    /// The rule names [`RuleSet::evaluate`] would report, without planning deliveries (no
    /// payload copies, no transforms): what `switchboard match` and the benchmarks need.
    pub fn matched_rules(&self, event: &Value) -> Vec<&str> {
        let mut fired: Vec<&str> = self.fired(event).into_iter().map(|r| r.name.as_str()).collect();
        if fired.is_empty() && self.default.is_some() {
            fired.push("default");
        }
        fired
    }

    /// [`RuleSet::matched_rules`] of an event given as JSON text: only the parts of the event
    /// some condition reads are built (the rest is skipped, still validated), which is how
    /// `switchboard match` reads its input. An error when the text is not JSON.
    pub fn matched_rules_json(&self, text: &str) -> serde_json::Result<Vec<&str>> {
        let projected = self.projection.parse(text)?;
        Ok(self.matched_rules(&projected))
    }

    /// The event as the rules see it: only the paths some condition reads (for tests).
    pub fn project(&self, text: &str) -> serde_json::Result<Value> {
        self.projection.parse(text)
    }

    /// The same answer as [`RuleSet::evaluate`] from the reference evaluator, which tries every
    /// rule in order without the index. For tests and benchmarks that compare the two.
    pub fn evaluate_reference(&self, event: &Value) -> Evaluation {
        self.run(event, false).evaluation
    }

    /// How many rules the index proposes for `event` (each then checked in full): at least the
    /// number that fire. For benchmarks and tuning.
    pub fn candidate_count(&self, event: &Value) -> usize {
        self.matcher.candidates(event).len()
    }

    /// Indexed paths and rules without an index anchor (checked for every event).
    pub fn matcher_shape(&self) -> (usize, usize) {
        self.matcher.shape()
    }

    /// Evaluates one event and says, for every rule, why it fired or not.
    pub fn explain(&self, event: &Value) -> Explanation {
        self.run(event, true)
    }

    /// A content hash of every rule and transform file the set was built from (hex SHA-256).
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Rule names in evaluation order (priority, then file order).
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Whether the set has a `default` block.
    pub fn has_default(&self) -> bool {
        self.default.is_some()
    }

    /// Every distinct webhook target of the set (rules and default block), so the gateway can
    /// register its endpoints when the set is installed.
    pub fn webhook_targets(&self) -> Vec<&WebhookTarget> {
        let mut out: Vec<&WebhookTarget> = Vec::new();
        let actions = self.rules.iter().flat_map(|r| r.actions.iter()).chain(self.default.iter().flatten());
        for action in actions {
            if let CompiledAction::Webhook { target, .. } = action {
                if !out.iter().any(|t| **t == **target) {
                    out.push(target);
                }
            }
        }
        out
    }

    fn run(&self, event: &Value, explain: bool) -> Explanation {
        let ctx = Ctx { root: event, explain, slots: &[], memo: eval::Memo::NONE };
        let mut fired: Vec<&CompiledRule> = Vec::new();
        let mut ended_by: Option<&CompiledRule> = None;
        let mut rules = Vec::new();
        for rule in &self.rules {
            if !explain && ended_by.is_some() {
                break;
            }
            let verdict = eval::eval(&rule.cond, &ctx, event);
            let (matched, reason) = match (ended_by, verdict) {
                (Some(by), Ok(())) => (
                    false,
                    Some(format!(
                        "the condition holds, but `{}` fired first and ended evaluation ({})",
                        by.name,
                        if by.drop { "drop" } else { "stop" }
                    )),
                ),
                (_, Err(reason)) => (false, Some(reason)),
                (None, Ok(())) => {
                    fired.push(rule);
                    if rule.drop || rule.stop {
                        ended_by = Some(rule);
                    }
                    (true, None)
                }
            };
            if explain {
                rules.push(RuleExplanation { name: rule.name.clone(), matched, reason });
            }
        }
        Explanation { evaluation: self.plan(event, None, &fired), rules }
    }

    fn plan(&self, event: &Value, text: Option<Arc<[u8]>>, fired: &[&CompiledRule]) -> Evaluation {
        let shared = text.map(Payload::Json);
        let mut planner = Planner { event, shared, seen: HashSet::new(), deliveries: Vec::new() };
        let matched = if fired.is_empty() {
            match &self.default {
                Some(actions) => {
                    planner.plan("default", actions);
                    vec!["default".to_string()]
                }
                None => Vec::new(),
            }
        } else {
            for rule in fired {
                if !rule.drop {
                    planner.plan(&rule.name, &rule.actions);
                }
            }
            fired.iter().map(|r| r.name.clone()).collect()
        };
        Evaluation { matched, deliveries: planner.deliveries }
    }
}

/// Turns the actions of fired rules into deliveries, once each.
struct Planner<'a> {
    event: &'a Value,
    /// The event as a payload: its text when the caller has it, else cloned at most once per
    /// evaluation.
    shared: Option<Payload>,
    seen: HashSet<String>,
    deliveries: Vec<Delivery>,
}

impl Planner<'_> {
    fn event_payload(&mut self) -> Payload {
        let event = self.event;
        self.shared.get_or_insert_with(|| Payload::Event(Arc::new(event.clone()))).clone()
    }

    fn push(&mut self, rule: &str, identity: String, kind: DeliveryKind, transform: Option<&Arc<Transform>>) {
        let identity = format!("{identity}|transform={:?}", transform.map(|t| &t.name));
        if !self.seen.insert(identity) {
            return;
        }
        let (kind, payload, transform) = match (transform, kind) {
            (_, dlq @ DeliveryKind::Dlq { .. }) => (dlq, self.event_payload(), None),
            (None, kind) => (kind, self.event_payload(), None),
            (Some(t), kind) => match t.chain.transform_with(self.event, &Value::Null, |out| out.to_vec()) {
                Ok(text) => (kind, Payload::Json(text.into()), Some(t.name.clone())),
                Err(e) => (DeliveryKind::Dlq { reason: format!("transform {} failed: {e}", t.name) }, self.event_payload(), None),
            },
        };
        self.deliveries.push(Delivery { rule: rule.to_string(), kind, payload, transform });
    }

    fn plan(&mut self, rule: &str, actions: &[CompiledAction]) {
        for action in actions {
            match action {
                CompiledAction::Topic { pieces, key, transform, headers } => {
                    let planned = self.topic(pieces, key, headers);
                    match planned {
                        Ok((topic, key, headers)) => {
                            let identity = format!("topic|{topic}|{key:?}|{headers:?}");
                            self.push(rule, identity, DeliveryKind::Topic { topic, key, headers }, transform.as_ref());
                        }
                        Err(reason) => {
                            self.push(rule, format!("dlq|{reason}"), DeliveryKind::Dlq { reason }, None);
                        }
                    }
                }
                CompiledAction::Webhook { target, transform } => {
                    // Identical deliveries: the same target (URL and method), transform and
                    // headers (a `sign` secret counts: it makes the signature headers). Timeout
                    // and retry are how a delivery is attempted, not what is sent: the first
                    // delivery in evaluation order is kept with its own.
                    let identity = format!(
                        "webhook|{:?}|{}|{:?}|{:?}",
                        target.url.expose(),
                        target.method.as_str(),
                        target.headers,
                        target.sign.as_ref().map(|s| s.expose())
                    );
                    self.push(rule, identity, DeliveryKind::Webhook { target: target.clone() }, transform.as_ref());
                }
                CompiledAction::Store => {
                    match eval::field_text(self.event, &*SUBJECT_ID, "subject.id") {
                        // The store takes no blank aggregate id: a DLQ case at planning, like a
                        // missing one, rather than an append that would fail on every retry.
                        Ok(Some(id)) if id.trim().is_empty() => {
                            let reason = "store: subject.id (the aggregate id) is empty".to_string();
                            self.push(rule, format!("dlq|{reason}"), DeliveryKind::Dlq { reason }, None);
                        }
                        Ok(Some(id)) => {
                            self.push(rule, format!("store|{id}"), DeliveryKind::Store { aggregate_id: id }, None)
                        }
                        Ok(None) => {
                            let reason = "store: subject.id (the aggregate id) is missing".to_string();
                            self.push(rule, format!("dlq|{reason}"), DeliveryKind::Dlq { reason }, None);
                        }
                        Err(e) => {
                            let reason = format!("store: {e}");
                            self.push(rule, format!("dlq|{reason}"), DeliveryKind::Dlq { reason }, None);
                        }
                    }
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn topic(
        &self,
        pieces: &[TopicPiece],
        key: &KeySource,
        headers: &[(String, Secret)],
    ) -> Result<(String, Option<String>, Vec<(String, Secret)>), String> {
        let mut topic = String::new();
        for piece in pieces {
            match piece {
                TopicPiece::Text(t) => topic.push_str(t),
                TopicPiece::Field(field) => {
                    let FieldRef { path, text } = &**field;
                    let value = eval::field_text(self.event, path, text)
                        .map_err(|e| format!("topic template {{{text}}}: {e}"))?
                        .ok_or_else(|| format!("topic template {{{text}}}: {text} is missing"))?;
                    if let Some(bad) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c))) {
                        return Err(format!(
                            "topic template {{{text}}}: the value {value:?} has {bad:?}, outside [A-Za-z0-9._-]"
                        ));
                    }
                    topic.push_str(&value);
                }
            }
        }
        // Kafka's own limits on a name, which the character check above does not cover: a
        // template value that breaks them would be refused by the broker on every retry.
        // The whole name, the rules' own text (and `${VAR}` values) included.
        if let Some(bad) = topic.chars().find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c))) {
            return Err(format!("topic name {topic:?} has {bad:?}, outside [A-Za-z0-9._-]"));
        }
        if topic.is_empty() {
            return Err("the topic name is empty".to_string());
        }
        if topic.len() > 249 {
            return Err(format!("topic name of {} characters (from its template) is longer than Kafka's 249", topic.len()));
        }
        if topic == "." || topic == ".." {
            return Err(format!("topic name {topic:?} (from its template) is not allowed by Kafka"));
        }
        let key = match key {
            KeySource::Default => eval::field_text(self.event, &*SUBJECT_ID, "subject.id")
                .map_err(|e| format!("key: {e}"))?,
            // A missing explicit key is no key, as for the default key (spec: "missing: no
            // key"); a value that is there but unusable is a DLQ case.
            KeySource::Path(field) => {
                eval::field_text(self.event, &field.path, &field.text).map_err(|e| format!("key: {e}"))?
            }
        };
        let mut all_headers = headers.to_vec();
        for (name, field) in [("eventType", "eventType"), ("eventVersion", "eventVersion")] {
            match self.event.get(field) {
                Some(Value::String(s)) => all_headers.push((name.to_string(), Secret::plain(s.clone()))),
                Some(other) => all_headers.push((name.to_string(), Secret::plain(other.to_string()))),
                None => {}
            }
        }
        Ok((topic, key, all_headers))
    }
}

/// `subject.id`: the default key and the store's aggregate id.
static SUBJECT_ID: LazyLock<[Segment; 2]> =
    LazyLock::new(|| [Segment::Field("subject".to_string()), Segment::Field("id".to_string())]);
