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
    assert!(topics(&s, json!({"k": 1}))[0].starts_with("dlq key"));
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
             to webhook "https://h.example/x" { method PUT timeout 250ms retry 3 backoff 2s..1m sign "whsec_abc" }
             to webhook "https://h.example/y" }"#,
    );
    let e = s.evaluate(&json!({"a": 1, "subject": {"id": "agg"}}));
    assert_eq!(topics(&s, json!({"a": 1, "subject": {"id": "agg"}}))[0], "store|agg");
    let DeliveryKind::Webhook { target } = &e.deliveries[1].kind else { panic!("webhook") };
    assert_eq!(target.method.as_str(), "PUT");
    assert_eq!(target.timeout, std::time::Duration::from_millis(250));
    assert_eq!((target.attempts, target.backoff_min, target.backoff_max), (3, std::time::Duration::from_secs(2), std::time::Duration::from_secs(60)));
    assert_eq!(target.sign.as_ref().map(|s| s.expose()), Some("whsec_abc"));
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
