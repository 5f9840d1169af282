//! Rule-set evaluation: order, fan-out, stop/drop, default, deduplication, topic templates, keys,
//! DLQ cases, explain reasons and secrets (spec: "Rules", "Actions", "Machine-readable outputs").
mod common;

use serde_json::json;
use switchboard_core::lang::{DeliveryKind, RuleSet};

fn topics(set: &RuleSet, event: serde_json::Value) -> Vec<String> {
    set.evaluate(&event)
        .deliveries
        .iter()
        .map(|d| match &d.kind {
            DeliveryKind::Topic { topic, key, .. } => format!("{topic}|{}", key.clone().unwrap_or_default()),
            DeliveryKind::Webhook { target } => format!("webhook {}", target.url),
            DeliveryKind::Store { aggregate_id } => format!("store|{aggregate_id}"),
            DeliveryKind::Dlq { reason } => format!("dlq {reason}"),
        })
        .collect()
}

const SET: &str = r#"
rule b_second { when exists a  to topic "shared" to topic "b" }
rule a_first { priority 5  when exists a  to topic "shared" }
rule stopper { when a == "stop"  to topic "stopped" stop }
rule after_stop { when exists a  to topic "after" }
rule dropper { priority 10  when a == "drop"  drop }
default { to topic "unrouted" }
"#;

#[test]
fn priority_then_file_order_fan_out_and_dedup() {
    let s = common::set(SET);
    assert_eq!(s.rule_names().collect::<Vec<_>>(), ["dropper", "a_first", "b_second", "stopper", "after_stop"]);
    let e = s.evaluate(&json!({"a": 1}));
    assert_eq!(e.matched, ["a_first", "b_second", "after_stop"]);
    assert_eq!(topics(&s, json!({"a": 1})), ["shared|", "b|", "after|"], "the duplicate `shared` is sent once");
    assert_eq!(e.deliveries[0].rule, "a_first", "the first in evaluation order is kept");
}

#[test]
fn stop_keeps_own_deliveries_and_drop_none() {
    let s = common::set(SET);
    assert_eq!(s.evaluate(&json!({"a": "stop"})).matched, ["a_first", "b_second", "stopper"]);
    assert_eq!(topics(&s, json!({"a": "stop"})), ["shared|", "b|", "stopped|"]);
    let e = s.evaluate(&json!({"a": "drop"}));
    assert_eq!(e.matched, ["dropper"]);
    assert!(e.deliveries.is_empty(), "a drop rule firing counts as fired: no default");
    let e = s.evaluate(&json!({}));
    assert_eq!(e.matched, ["default"]);
    assert_eq!(topics(&s, json!({})), ["unrouted|"]);
}

#[test]
fn explain_names_the_rule_that_ended_evaluation() {
    let s = common::set(SET);
    let x = s.explain(&json!({"a": "drop"}));
    let after = x.rules.iter().find(|r| r.name == "after_stop").expect("rule");
    assert!(!after.matched);
    assert!(after.reason.as_deref().unwrap_or_default().contains("`dropper`"), "{after:?}");
    let stopper = x.rules.iter().find(|r| r.name == "stopper").expect("rule");
    assert_eq!(stopper.reason.as_deref(), Some(r#"a: "drop" is not == "stop""#));
    let x = s.explain(&json!({}));
    assert_eq!(x.rules.iter().find(|r| r.name == "a_first").and_then(|r| r.reason.clone()).as_deref(), Some("a: missing"));
}

#[test]
fn topic_templates_keys_and_dlq() {
    let s = common::set(
        r#"rule t { when exists eventType  to topic "events.{eventType}.{data.n}" }
           rule k { when exists k  to topic "keyed" key data.k }"#,
    );
    assert_eq!(topics(&s, json!({"eventType": "a.b", "data": {"n": 7}, "subject": {"id": "s1"}})), ["events.a.b.7|s1"]);
    let dlq = topics(&s, json!({"eventType": "a b", "data": {"n": 7}}));
    assert!(dlq[0].starts_with("dlq ") && dlq[0].contains("outside [A-Za-z0-9._-]"), "{dlq:?}");
    assert!(topics(&s, json!({"eventType": "a"}))[0].contains("data.n is missing"));
    assert!(topics(&s, json!({"eventType": "a", "data": {"n": 1.5}}))[0].contains("not a string or an integer"));
    assert!(topics(&s, json!({"eventType": "a", "data": {"n": [1, 2]}}))[0].starts_with("dlq"));
    let e = s.evaluate(&json!({"eventType": "a b"}));
    assert_eq!(e.matched, ["t"], "the rule still counts as fired");
    assert_eq!(topics(&s, json!({"k": 1, "data": {"k": 42}})), ["keyed|42"]);
    assert!(topics(&s, json!({"k": 1, "data": {"k": true}}))[0].starts_with("dlq key"));
    assert_eq!(topics(&s, json!({"k": 1})), ["keyed|"], "a missing explicit key is no key, as the default");
    assert!(topics(&s, json!({"k": 1, "data": {"k": {"a": 1}}}))[0].starts_with("dlq key"), "an object is unusable");
    assert!(topics(&s, json!({"k": 1, "data": {"k": [1, 2]}}))[0].starts_with("dlq key"), "several values");
    assert_eq!(topics(&s, json!({"k": 1, "data": {"k": "x"}, "subject": {}})), ["keyed|x"]);
}

#[test]
fn default_key_is_subject_id_and_headers_carry_the_event_type() {
    let s = common::set(r#"rule r { when exists a  to topic "t" header "X" = "y" }"#);
    let e = s.evaluate(&json!({"a": 1, "eventType": "a.b", "eventVersion": "2.0", "subject": {"id": 5}}));
    let DeliveryKind::Topic { key, headers, .. } = &e.deliveries[0].kind else { panic!("topic") };
    assert_eq!(key.as_deref(), Some("5"));
    let h: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.clone(), v.expose().to_string())).collect();
    assert_eq!(h, [("X".into(), "y".into()), ("eventType".into(), "a.b".into()), ("eventVersion".into(), "2.0".into())]);
    let e = s.evaluate(&json!({"a": 1}));
    let DeliveryKind::Topic { key, .. } = &e.deliveries[0].kind else { panic!("topic") };
    assert_eq!(*key, None, "missing subject.id: no key");
}

#[test]
fn store_and_webhook_targets() {
    let s = common::set(
        r#"rule r { when exists a
             to store
             to webhook "https://h.example/x" { method PUT timeout 250ms retry 3 backoff 2s..1m sign "whsec_YWJj" }
             to webhook "https://h.example/y" }"#,
    );
    let e = s.evaluate(&json!({"a": 1, "subject": {"id": "agg"}}));
    assert_eq!(topics(&s, json!({"a": 1, "subject": {"id": "agg"}}))[0], "store|agg");
    let DeliveryKind::Webhook { target } = &e.deliveries[1].kind else { panic!("webhook") };
    assert_eq!(target.method.as_str(), "PUT");
    assert_eq!(target.timeout, std::time::Duration::from_millis(250));
    assert_eq!((target.attempts, target.backoff_min, target.backoff_max), (3, std::time::Duration::from_secs(2), std::time::Duration::from_secs(60)));
    assert_eq!(target.sign.as_ref().map(|s| s.expose()), Some("whsec_YWJj"));
    let DeliveryKind::Webhook { target } = &e.deliveries[2].kind else { panic!("webhook") };
    assert_eq!((target.method.as_str(), target.attempts, target.timeout.as_secs()), ("POST", 8, 10));
    assert_eq!((target.backoff_min.as_secs(), target.backoff_max.as_secs()), (1, 600));
    assert!(topics(&s, json!({"a": 1}))[0].starts_with("dlq store"), "no aggregate id");
}

#[test]
fn secrets_are_resolved_but_never_shown() {
    let env = |n: &str| (n == "TOKEN").then(|| "s3cret".to_string());
    let (_, c) = common::compile_env(
        &[("a.rules", r#"rule r { when exists a to webhook "https://h/x" { header "A" = "Bearer ${TOKEN}" sign "${TOKEN}" } }"#)],
        Some(&env),
    );
    let s = c.rule_set.expect("loads");
    let e = s.evaluate(&json!({"a": 1}));
    let DeliveryKind::Webhook { target } = &e.deliveries[0].kind else { panic!("webhook") };
    assert_eq!(target.headers[0].1.expose(), "Bearer s3cret");
    let shown = format!("{e:?} {:?}", s.explain(&json!({"a": 1})));
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("Bearer ${TOKEN}"));
    // Unset without a fallback: a load error when resolving.
    let (_, c) = common::compile_env(&[("a.rules", r#"rule r { when exists a to webhook "https://h/${NOPE}" }"#)], Some(&env));
    assert!(c.rule_set.is_none());
    assert_eq!(c.diagnostics[0].code.as_str(), "E011");
}

#[test]
fn transforms_run_and_their_failures_go_to_the_dlq() {
    let s = common::set(r#"rule r { when exists a to topic "crm" transform "transforms/member_to_crm.json" }"#);
    let e = s.evaluate(&json!({"a": 1, "subject": {"id": "m1"}}));
    match &e.deliveries[0].kind {
        DeliveryKind::Topic { topic, .. } => {
            assert_eq!(topic, "crm");
            assert_eq!(e.deliveries[0].payload.to_value(), json!({"crmRecord": {"memberId": "m1"}}));
        }
        DeliveryKind::Dlq { reason } => assert!(reason.contains("member_to_crm"), "{reason}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn evaluate_text_forwards_the_event_text_and_transforms_still_run() {
    use std::sync::Arc;
    use switchboard_core::lang::Payload;
    let s = common::set(
        r#"rule plain { when exists a to topic "raw" to topic "raw2" }
rule crm { when exists a to topic "crm" transform "transforms/member_to_crm.json" }"#,
    );
    // Spacing, key order and an escape that serializing the parsed value would all change.
    let text: Arc<[u8]> = Arc::from(&br#"{ "subject": {"id": "m1"},  "a": "caf\u00e9" }"#[..]);
    let event: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let e = s.evaluate_text(&event, text.clone());
    assert_eq!(e.deliveries.len(), 3);
    for d in &e.deliveries[..2] {
        match &d.payload {
            Payload::Json(bytes) => assert!(Arc::ptr_eq(bytes, &text), "the event's own text, shared"),
            other => panic!("expected the event text, got {other:?}"),
        }
    }
    assert_eq!(e.deliveries[2].payload.to_value(), json!({"crmRecord": {"memberId": "m1"}}));
    // Without text the event is shared as a value, as before.
    assert!(matches!(s.evaluate(&event).deliveries[0].payload, Payload::Event(_)));
}

#[test]
fn version_is_a_content_hash() {
    let a = common::set("rule r { when exists a to store }");
    let b = common::set("rule r { when exists a to store }");
    let c = common::set("rule r { when exists b to store }");
    assert_eq!(a.version(), b.version());
    assert_ne!(a.version(), c.version());
    assert_eq!(a.version().len(), 64);
    assert_eq!(a.rule_count(), 1);
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RuleSet>();
}

#[test]
fn yaml_is_read_as_yaml_1_2() {
    let yaml = "routing_rules:\n  - name: r\n    condition:\n      flag: yes\n      data.n: { exists: true }\n      any_of: [{ x: ~ }, { x: { in: [on, 1.5] } }]\n    targets: [{ store: true }]\n";
    let (_, c) = common::compile(&[("r.yaml", yaml)]);
    let s = c.rule_set.expect("loads");
    let base = json!({"flag": "yes", "data": {"n": 0}, "subject": {"id": "s"}});
    let with = |x: serde_json::Value| {
        let mut e = base.clone();
        e["x"] = x;
        s.evaluate(&e).matched
    };
    assert_eq!(with(json!(null)), ["r"]);
    assert_eq!(with(json!("on")), ["r"], "`on` is a string in YAML 1.2");
    assert_eq!(with(json!(1.5)), ["r"]);
    assert!(with(json!(true)).is_empty());
    assert!(s.evaluate(&json!({"flag": true, "x": null, "data": {"n": 0}})).matched.is_empty());
}

/// The spec's rule test example, verbatim (§Rule tests): the event has no `subject`, and
/// `to topic "audit.financial_events" key subject.id` still delivers, without a key.
const SPEC_RULE_TEST: &str = r#"tests:
  - name: big payment goes to finance
    event: { eventId: e1, eventType: payment.captured, data: { amount: 5000, currency: USD } }   # or event_file: path
    expect:
      rules: [payment_events_to_finance]          # exactly these fired, in order (`default` when only the default block applied)
      topics: [finance.high_value_transactions, audit.financial_events]   # optional; in delivery order
      webhooks: []                                 # optional: URLs
"#;

#[test]
fn the_spec_rule_test_example_passes_against_the_spec_dsl_and_yaml_examples() {
    use switchboard_core::lang::ruletest;
    let cases = ruletest::parse_tests(0, SPEC_RULE_TEST).expect("the spec's test file parses");
    assert_eq!(cases.len(), 1);
    let ruletest::TestEvent::Inline(event) = &cases[0].event else { panic!("inline event") };
    for set in [common::set(include_str!("lang/spec_example.rules")), common::set_yaml(include_str!("lang/spec_example.yaml"))] {
        let evaluation = set.evaluate(event);
        let mismatches = ruletest::compare(&cases[0].expect, &evaluation);
        assert!(mismatches.is_empty(), "{mismatches:?} {evaluation:?}");
        assert!(evaluation.deliveries.iter().all(|d| matches!(&d.kind, DeliveryKind::Topic { key: None, .. })), "{evaluation:?}");
    }
}

fn reason(set: &RuleSet, event: serde_json::Value, rule: &str) -> String {
    let x = set.explain(&event);
    x.rules.iter().find(|r| r.name == rule).and_then(|r| r.reason.clone()).unwrap_or_else(|| panic!("no reason for {rule}: {x:?}"))
}

#[test]
fn explain_names_the_type_found_for_every_typed_predicate() {
    let s = common::set(
        r#"rule eqs { when n == "1" to store }
rule ins { when n in ["1", "2"] to store }
rule mixed { when b in ["1", 2] to store }
rule eqn { when s == 5 to store }
rule eqnull { when n == null to store }
rule ge { when s >= 5 to store }
rule re { when n matches /1/ to store }
rule same_type { when n == 2 to store }"#,
    );
    let e = json!({"n": 1, "s": "5", "b": true});
    assert_eq!(reason(&s, e.clone(), "eqs"), r#"n: found number 1, not a string (== "1")"#);
    assert_eq!(reason(&s, e.clone(), "ins"), r#"n: found number 1, not a string (in ["1", "2"])"#);
    assert_eq!(reason(&s, e.clone(), "mixed"), r#"b: found boolean true, not a string or a number (in ["1", 2])"#);
    assert_eq!(reason(&s, e.clone(), "eqn"), r#"s: found string "5", not a number (== 5)"#);
    assert_eq!(reason(&s, e.clone(), "eqnull"), "n: found number 1, not null (== null)");
    assert_eq!(reason(&s, e.clone(), "ge"), r#"s: found string "5", not a number (>= 5)"#);
    assert_eq!(reason(&s, e.clone(), "re"), "n: found number 1, not a string (matches /1/)");
    assert_eq!(reason(&s, e, "same_type"), "n: 1 is not == 2", "the right type: the value and the operator");
}

#[test]
fn explain_reasons_read_as_english() {
    let s = common::set(
        r#"rule ct { when n contains "1" to store }
rule ct_arr { when tags contains "x" to store }
rule ct_any { when tags contains any ["x", "y"] to store }
rule nul { when nl >= 1 to store }
rule k { when exists n to topic "t" key nl }"#,
    );
    let e = json!({"n": 1, "nl": null, "tags": ["a"]});
    assert_eq!(reason(&s, e.clone(), "ct"), r#"n: found number 1, not an array or a string (contains "1")"#);
    assert_eq!(reason(&s, e.clone(), "ct_arr"), r#"tags: an array of 1 does not contain "x""#);
    assert_eq!(reason(&s, e.clone(), "ct_any"), r#"tags: an array of 1 does not contain any ["x", "y"]"#);
    assert_eq!(reason(&s, e.clone(), "nul"), "nl: found null, not a number (>= 1)");
    assert_eq!(topics(&s, e), ["dlq key: nl is null, not a string or an integer"]);
}

#[test]
fn drop_in_the_default_block_delivers_nothing_like_a_drop_rule() {
    let s = common::set(r#"rule r { when exists a to topic "r" } default { to topic "d3" drop }"#);
    let e = s.evaluate(&json!({}));
    assert_eq!(e.matched, ["default"], "the default block still applied");
    assert!(e.deliveries.is_empty(), "{e:?}");
    assert_eq!(s.explain(&json!({})).evaluation, e);
    assert_eq!(topics(&s, json!({"a": 1})), ["r|"]);
    // `stop` in the default block changes nothing.
    let s = common::set(r#"default { to topic "d" stop }"#);
    assert_eq!(topics(&s, json!({})), ["d|"]);
}

#[test]
fn identical_webhook_deliveries_are_target_method_transform_and_headers() {
    let s = common::set(
        r#"rule r1 { when exists a to webhook "https://h" }
rule r2 { when exists a to webhook "https://h" { timeout 5s retry 2 backoff 1s..2s } }
rule r3 { when exists a to webhook "https://h" { method PUT } }
rule r4 { when exists a to webhook "https://h" { header "X" = "1" } }
rule r5 { when exists a to webhook "https://h" transform "member_to_crm" }
rule r6 { when exists a to webhook "https://h" { sign "whsec_YWJj" } }
rule r7 { when exists a to webhook "https://h" { method POST timeout 1s } }"#,
    );
    let e = s.evaluate(&json!({"a": 1}));
    let kept: Vec<&str> = e.deliveries.iter().map(|d| d.rule.as_str()).collect();
    assert_eq!(kept, ["r1", "r3", "r4", "r5", "r6"], "timeout and retry do not make a delivery different");
    let DeliveryKind::Webhook { target } = &e.deliveries[0].kind else { panic!("webhook") };
    assert_eq!(target.timeout.as_secs(), 10, "the first in evaluation order is kept, with its options");
}

#[test]
fn variables_are_substituted_in_every_action_string_including_transform() {
    let s = common::set(r#"rule r { when exists a to topic "crm" transform "${TR:-member_to_crm}" }"#);
    let e = s.evaluate(&json!({"a": 1, "subject": {"id": "m1"}}));
    assert_eq!(e.deliveries[0].payload.to_value(), json!({"crmRecord": {"memberId": "m1"}}));
    let env = |n: &str| (n == "TR").then(|| "member_to_crm.json".to_string());
    let (_, c) = common::compile_env(&[("a.rules", r#"rule r { when exists a to topic "crm" transform "${TR}" }"#)], Some(&env));
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    assert!(c.rule_set.is_some());
    let none = |_: &str| None;
    let (_, c) = common::compile_env(&[("a.rules", r#"rule r { when exists a to topic "crm" transform "${TR}" }"#)], Some(&none));
    let codes: Vec<String> = c.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["E011"], "unset: the variable is reported, not a file named `${{TR}}`");
    let (_, c) = common::compile_env(
        &[("a.rules", r#"rule r { when exists a to topic "t" header "${H:-X-Tenant}" = "v" }"#)],
        Some(&none),
    );
    let e = c.rule_set.expect("loads").evaluate(&json!({"a": 1}));
    let DeliveryKind::Topic { headers, .. } = &e.deliveries[0].kind else { panic!("topic") };
    assert_eq!(headers[0].0, "X-Tenant");
}
