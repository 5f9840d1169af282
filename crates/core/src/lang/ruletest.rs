//! Rule test files (`*.test.yaml`): parsing the cases and comparing what a rule set does with
//! what a case expects. Reading `event_file`s is the caller's job (the core does no I/O).
use serde_json::Value;

use super::ast::Span;
use super::diag::{Code, Diagnostic};
use super::ruleset::{DeliveryKind, Evaluation};
use super::yaml::{self, Positions};

#[derive(Debug, Clone, PartialEq)]
pub struct RuleTest {
    pub name: String,
    pub event: TestEvent,
    pub expect: Expect,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestEvent {
    Inline(Value),
    /// A path relative to the test file's directory.
    File(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    /// Exactly these rules fired, in order (`default` when only the default block applied).
    pub rules: Vec<String>,
    /// Topics of the topic deliveries, in delivery order (not checked when absent).
    pub topics: Option<Vec<String>>,
    /// URLs of the webhook deliveries, in delivery order (not checked when absent).
    pub webhooks: Option<Vec<String>>,
}

/// One difference between a case's expectation and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub field: &'static str,
    pub expected: Vec<String>,
    pub actual: Vec<String>,
}

/// Parses a rule test file; `file` indexes the caller's file list (for spans).
pub fn parse_tests(file: usize, text: &str) -> Result<Vec<RuleTest>, Vec<Diagnostic>> {
    let pos = Positions::new(file, text);
    let doc = yaml::load(file, text).map_err(|d| vec![d])?;
    let Some(doc) = doc else { return Ok(Vec::new()) };
    let json = yaml::to_json(&pos, &doc).map_err(|d| vec![d])?;
    let whole = pos.span(&doc);
    let mut errors = Vec::new();
    let mut tests = Vec::new();
    let err = |m: String| Diagnostic::new(Code::E018, m, whole);
    let Some(cases) = json.get("tests").and_then(Value::as_array) else {
        return Err(vec![err("a test file has `tests:`, a list of cases".to_string())]);
    };
    // Spans per case: the nodes of the `tests` sequence.
    let case_spans: Vec<Span> = yaml::as_mapping(&doc)
        .and_then(|m| m.into_iter().find(|(k, _)| yaml::key_str(k) == Some("tests")))
        .and_then(|(_, v)| match &v.data {
            saphyr::YamlData::Sequence(items) => Some(items.iter().map(|i| pos.span(i)).collect()),
            _ => None,
        })
        .unwrap_or_default();
    for (i, case) in cases.iter().enumerate() {
        let span = case_spans.get(i).copied().unwrap_or(whole);
        let fail = |m: String| Diagnostic::new(Code::E018, m, span);
        let name = case.get("name").and_then(Value::as_str).map_or_else(|| format!("case {}", i + 1), str::to_string);
        let event = match (case.get("event"), case.get("event_file").and_then(Value::as_str)) {
            (Some(e), None) => TestEvent::Inline(e.clone()),
            (None, Some(f)) => TestEvent::File(f.to_string()),
            _ => {
                errors.push(fail(format!("test `{name}` needs exactly one of `event` and `event_file`")));
                continue;
            }
        };
        let Some(expect) = case.get("expect") else {
            errors.push(fail(format!("test `{name}` needs `expect: {{rules: [...]}}`")));
            continue;
        };
        let list = |key: &str| -> Result<Option<Vec<String>>, Diagnostic> {
            match expect.get(key) {
                None => Ok(None),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string).ok_or_else(|| fail(format!("test `{name}`: `{key}` lists strings"))))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err(fail(format!("test `{name}`: `{key}` must be a list"))),
            }
        };
        match (list("rules"), list("topics"), list("webhooks")) {
            (Ok(Some(rules)), Ok(topics), Ok(webhooks)) => {
                tests.push(RuleTest { name, event, expect: Expect { rules, topics, webhooks }, span });
            }
            (Ok(None), _, _) => errors.push(fail(format!("test `{name}` needs `expect.rules`"))),
            (r, t, w) => errors.extend([r.err(), t.err(), w.err()].into_iter().flatten()),
        }
    }
    if errors.is_empty() {
        Ok(tests)
    } else {
        Err(errors)
    }
}

/// What differs between `expect` and an evaluation (empty: the case passes).
pub fn compare(expect: &Expect, evaluation: &Evaluation) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if expect.rules != evaluation.matched {
        out.push(Mismatch { field: "rules", expected: expect.rules.clone(), actual: evaluation.matched.clone() });
    }
    if let Some(topics) = &expect.topics {
        let actual: Vec<String> = evaluation
            .deliveries
            .iter()
            .filter_map(|d| match &d.kind {
                DeliveryKind::Topic { topic, .. } => Some(topic.clone()),
                _ => None,
            })
            .collect();
        if *topics != actual {
            out.push(Mismatch { field: "topics", expected: topics.clone(), actual });
        }
    }
    if let Some(webhooks) = &expect.webhooks {
        let actual: Vec<String> = evaluation
            .deliveries
            .iter()
            .filter_map(|d| match &d.kind {
                DeliveryKind::Webhook { target } => Some(target.url.shown().to_string()),
                _ => None,
            })
            .collect();
        if *webhooks != actual {
            out.push(Mismatch { field: "webhooks", expected: webhooks.clone(), actual });
        }
    }
    out
}
