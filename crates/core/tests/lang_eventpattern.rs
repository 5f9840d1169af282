//! `event_pattern:` (AWS EventBridge patterns) in the YAML form: every matcher with EventBridge's
//! semantics, array consistency, `$or`, the JSON-string form, the errors, and the compiled
//! matcher agreeing with the reference evaluator on every case.
mod common;

use serde_json::{json, Value};

/// A YAML rule file with one rule `r` whose `event_pattern` is `pattern` (written as JSON, which
/// is YAML flow syntax).
fn rules(pattern: &Value) -> String {
    format!("routing_rules:\n  - name: r\n    event_pattern: {pattern}\n    targets:\n      - topic: t\n")
}

fn fires(pattern: Value, event: Value) -> bool {
    let text = rules(&pattern);
    let (files, compiled) = common::compile(&[("p.yaml", &text)]);
    let set = compiled
        .rule_set
        .unwrap_or_else(|| panic!("{}", switchboard_core::lang::render_text(&files, &compiled.diagnostics)));
    let reference = set.evaluate_reference(&event).matched == ["r"];
    let indexed = set.evaluate(&event).matched == ["r"];
    assert_eq!(indexed, reference, "matcher and reference disagree on {pattern} / {event}");
    // explain runs too (it must not panic, and agrees)
    assert_eq!(set.explain(&event).rules[0].matched, reference);
    reference
}

fn error(pattern_yaml: &str) -> String {
    let text = format!("routing_rules:\n  - name: r\n    event_pattern: {pattern_yaml}\n    targets:\n      - topic: t\n");
    let (files, compiled) = common::compile(&[("p.yaml", &text)]);
    assert!(compiled.rule_set.is_none(), "expected an error for {pattern_yaml}");
    switchboard_core::lang::render_text(&files, &compiled.diagnostics)
}

#[test]
fn exact_values_and_nesting() {
    let p = json!({"source": ["aws.ec2"], "detail": {"state": ["running", "pending"]}});
    assert!(fires(p.clone(), json!({"source": "aws.ec2", "detail": {"state": "pending"}})));
    assert!(!fires(p.clone(), json!({"source": "aws.s3", "detail": {"state": "pending"}})));
    assert!(!fires(p.clone(), json!({"source": "aws.ec2", "detail": {"state": "stopped"}})));
    assert!(!fires(p, json!({"source": "aws.ec2"})));
    // an array in the event: any element
    assert!(fires(json!({"tags": ["vip"]}), json!({"tags": ["x", "vip"]})));
    assert!(!fires(json!({"tags": ["vip"]}), json!({"tags": []})));
    // numbers by value, booleans, null
    assert!(fires(json!({"n": [5]}), json!({"n": 5.0})));
    assert!(!fires(json!({"n": [5]}), json!({"n": "5"})));
    assert!(fires(json!({"b": [true]}), json!({"b": true})));
    assert!(fires(json!({"z": [null]}), json!({"z": null})));
    assert!(!fires(json!({"z": [null]}), json!({})));
    // a leaf pattern never matches an object
    assert!(!fires(json!({"d": ["x"]}), json!({"d": {"x": 1}})));
}

#[test]
fn string_matchers() {
    assert!(fires(json!({"t": [{"prefix": "member."}]}), json!({"t": "member.created"})));
    assert!(!fires(json!({"t": [{"prefix": "member."}]}), json!({"t": "Member.created"})));
    assert!(fires(json!({"t": [{"prefix": {"equals-ignore-case": "member."}}]}), json!({"t": "MEMBER.created"})));
    assert!(fires(json!({"f": [{"suffix": ".png"}]}), json!({"f": "a/b.png"})));
    assert!(fires(json!({"f": [{"suffix": {"equals-ignore-case": ".PNG"}}]}), json!({"f": "a/b.png"})));
    assert!(!fires(json!({"f": [{"suffix": ".png"}]}), json!({"f": 5})));
    assert!(fires(json!({"c": [{"equals-ignore-case": "alice"}]}), json!({"c": "ALICE"})));
    assert!(!fires(json!({"c": [{"equals-ignore-case": "alice"}]}), json!({"c": "alicex"})));
    assert!(fires(json!({"k": [{"wildcard": "dir/*.png"}]}), json!({"k": "dir/a/b.png"})));
    assert!(!fires(json!({"k": [{"wildcard": "dir/*.png"}]}), json!({"k": "dir/a.jpg"})));
    assert!(fires(json!({"k": [{"wildcard": "a\\*b"}]}), json!({"k": "a*b"})));
    assert!(!fires(json!({"k": [{"wildcard": "a\\*b"}]}), json!({"k": "axb"})));
    assert!(fires(json!({"ip": [{"cidr": "10.0.0.0/24"}]}), json!({"ip": "10.0.0.7"})));
    assert!(!fires(json!({"ip": [{"cidr": "10.0.0.0/24"}]}), json!({"ip": "10.0.1.7"})));
    assert!(fires(json!({"ip": [{"cidr": "2001:db8::/32"}]}), json!({"ip": "2001:db8::1"})));
}

#[test]
fn numeric() {
    let p = json!({"amount": [{"numeric": [">", 0, "<=", 5]}]});
    assert!(fires(p.clone(), json!({"amount": 5})));
    assert!(fires(p.clone(), json!({"amount": 0.01})));
    assert!(!fires(p.clone(), json!({"amount": 0})));
    assert!(!fires(p.clone(), json!({"amount": 5.5})));
    assert!(!fires(p.clone(), json!({"amount": "3"})));
    // one value must satisfy both bounds
    assert!(!fires(p, json!({"amount": [-1, 9]})));
    assert!(fires(json!({"amount": [{"numeric": ["=", 3]}]}), json!({"amount": 3.0})));
    assert!(fires(json!({"amount": [{"numeric": [">=", 1e3]}]}), json!({"amount": 1000})));
    assert!(fires(json!({"amount": [{"numeric": ["<", -2]}]}), json!({"amount": -3})));
}

#[test]
fn anything_but() {
    let p = json!({"state": [{"anything-but": ["stopped", "overloaded"]}]});
    assert!(fires(p.clone(), json!({"state": "running"})));
    assert!(!fires(p.clone(), json!({"state": "stopped"})));
    assert!(!fires(p.clone(), json!({})), "the field must exist");
    assert!(fires(p.clone(), json!({"state": ["stopped", "running"]})), "some element is not excluded");
    assert!(!fires(p, json!({"state": ["stopped"]})));
    assert!(fires(json!({"n": [{"anything-but": 5}]}), json!({"n": 6})));
    assert!(!fires(json!({"n": [{"anything-but": 5}]}), json!({"n": 5.0})));
    assert!(fires(json!({"s": [{"anything-but": {"prefix": "init"}}]}), json!({"s": "running"})));
    assert!(!fires(json!({"s": [{"anything-but": {"prefix": "init"}}]}), json!({"s": "initializing"})));
    assert!(!fires(json!({"s": [{"anything-but": {"suffix": ".tmp"}}]}), json!({"s": "a.tmp"})));
    assert!(!fires(json!({"s": [{"anything-but": {"equals-ignore-case": ["A", "b"]}}]}), json!({"s": "B"})));
    assert!(fires(json!({"s": [{"anything-but": {"equals-ignore-case": ["A", "b"]}}]}), json!({"s": "c"})));
    assert!(!fires(json!({"s": [{"anything-but": {"wildcard": "*.tmp"}}]}), json!({"s": "x.tmp"})));
}

#[test]
fn exists() {
    let yes = json!({"detail": {"c": [{"exists": true}]}});
    let no = json!({"detail": {"c": [{"exists": false}]}});
    assert!(fires(yes.clone(), json!({"detail": {"c": "x"}})));
    assert!(fires(yes.clone(), json!({"detail": {"c": null}})));
    assert!(!fires(yes.clone(), json!({"detail": {"c": {"d": 1}}})), "an object is not a leaf");
    assert!(!fires(yes.clone(), json!({"detail": {"c": []}})));
    assert!(!fires(yes, json!({"detail": {}})));
    assert!(fires(no.clone(), json!({"detail": {}})));
    assert!(fires(no.clone(), json!({})), "below a missing object, nothing exists");
    assert!(!fires(no, json!({"detail": {"c": 1}})));
}

#[test]
fn or_and_array_consistency() {
    let p = json!({"source": ["a"], "$or": [{"x": ["1"]}, {"y": {"z": [{"numeric": [">", 10]}]}}]});
    assert!(fires(p.clone(), json!({"source": "a", "x": "1"})));
    assert!(fires(p.clone(), json!({"source": "a", "y": {"z": 11}})));
    assert!(!fires(p.clone(), json!({"source": "a", "y": {"z": 9}})));
    assert!(!fires(p, json!({"source": "b", "x": "1"})));
    // one array element must satisfy the whole nested pattern
    let items = json!({"items": {"sku": ["a"], "qty": [1]}});
    assert!(!fires(items.clone(), json!({"items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}]})));
    assert!(fires(items.clone(), json!({"items": [{"sku": "b", "qty": 1}, {"sku": "a", "qty": 1}]})));
    assert!(fires(items, json!({"items": {"sku": "a", "qty": 1}})), "an object is one element");
}

#[test]
fn json_string_form_and_the_seed_rules_beside() {
    let text = r#"routing_rules:
  - name: eb
    event_pattern: '{"eventType": [{"prefix": "payment."}], "data": {"amount": [{"numeric": [">=", 1000]}]}}'
    targets:
      - topic: finance.high-value
  - name: dsl
    condition:
      eventType: payment.completed
    targets:
      - topic: finance.completed
"#;
    let set = common::set_yaml(text);
    let e = json!({"eventType": "payment.completed", "data": {"amount": 1500}});
    assert_eq!(set.evaluate(&e).matched, ["eb", "dsl"]);
    let e = json!({"eventType": "payment.completed", "data": {"amount": 10}});
    assert_eq!(set.evaluate(&e).matched, ["dsl"]);
}

#[test]
fn errors_name_the_place() {
    assert!(error(r#"{"source": "aws.ec2"}"#).contains("source: a leaf is a list"));
    assert!(error(r#"{"a": [{"regex": "x"}]}"#).contains("unknown matcher `regex`"));
    assert!(error(r#"{"a": {"b": [{"numeric": [">", "x"]}]}}"#).contains("a.b[0]: `numeric` compares with numbers"));
    assert!(error(r#"{"a": [{"numeric": [">", 1, ">", 2]}]}"#).contains("two lower bounds"));
    assert!(error(r#"{"a": [{"cidr": "10.0.0.1/8"}]}"#).contains("host bits"));
    assert!(error(r#"{"a": []}"#).contains("empty list"));
    assert!(error("{}").contains("empty event pattern"));
    assert!(error(r#"'{"a": ['"#).contains("not JSON"));
    assert!(error(r#"{"a": [{"wildcard": "a**"}]}"#).contains("**"));
    let both = "routing_rules:\n  - name: r\n    condition: {eventType: x}\n    event_pattern: {\"a\": [1]}\n    targets:\n      - topic: t\n";
    let (files, compiled) = common::compile(&[("p.yaml", both)]);
    assert!(compiled.rule_set.is_none());
    let text = switchboard_core::lang::render_text(&files, &compiled.diagnostics);
    assert!(text.contains("a second condition (`event_pattern`)"), "{text}");
    assert!(text.contains("p.yaml:4:5"), "the diagnostic points at the key: {text}");
}

#[test]
fn explain_says_why() {
    let text = rules(&json!({"detail": {"amount": [{"numeric": [">", 100]}]}}));
    let set = common::set_yaml(&text);
    let x = set.explain(&json!({"detail": {"amount": 5}}));
    let reason = x.rules[0].reason.clone().unwrap_or_default();
    assert!(reason.contains("detail.amount") && reason.contains('5'), "{reason}");
}
