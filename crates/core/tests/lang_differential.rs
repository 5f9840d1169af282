//! Differential: a rule written in the YAML form and its DSL twin give identical results on every
//! event. Conditions are generated as (field, operator, operand) lists; the YAML is written as a
//! JSON flow mapping (JSON is YAML 1.2), the DSL as the same predicates joined by `and`, with an
//! optional `any_of` / `or` around groups. The seed's own three rules are checked too.
mod common;

use proptest::prelude::*;
use serde_json::{json, Value};
use switchboard_core::lang::DeliveryKind;

/// (YAML operator, DSL text of the operator given the operand's JSON text).
fn operators() -> Vec<&'static str> {
    vec![
        "equals", "not_equals", "in", "not_in", "prefix", "suffix", "like", "equals_ignore_case", "contains",
        "contains_any", "gt", "gte", "lt", "lte", "between", "cidr", "exists", "pattern",
    ]
}

fn operand(op: &str) -> BoxedStrategy<Value> {
    let scalar = prop_oneof![
        prop::sample::select(vec!["a", "b", "A", "10.1.2.3", "ab*"]).prop_map(|s| json!(s)),
        (-3i64..4).prop_map(|n| json!(n)),
        Just(json!(2.5)),
        Just(json!(true)),
        Just(Value::Null),
    ];
    let string = prop::sample::select(vec!["a", "b", "A", "a*", "?b", "x"]).prop_map(|s| json!(s));
    let number = (-3i64..4).prop_map(|n| json!(n));
    match op {
        "in" | "not_in" | "contains_any" => prop::collection::vec(scalar, 0..3).prop_map(Value::Array).boxed(),
        "contains" => prop_oneof![scalar.clone(), prop::collection::vec(scalar, 1..3).prop_map(Value::Array)].boxed(),
        "gt" | "gte" | "lt" | "lte" => number.boxed(),
        "between" => (number.clone(), number).prop_map(|(a, b)| json!([a, b])).boxed(),
        "cidr" => prop::sample::select(vec!["10.0.0.0/8", "::/0", "10.1.2.3/32"]).prop_map(|s| json!(s)).boxed(),
        "exists" => any::<bool>().prop_map(|b| json!(b)).boxed(),
        "pattern" => prop::sample::select(vec!["a.*", "(?i)A", "[ab]", "b|ab"]).prop_map(|s| json!(s)).boxed(),
        "equals" | "not_equals" => scalar.boxed(),
        _ => string.boxed(),
    }
}

fn dsl_literal(v: &Value) -> String {
    v.to_string()
}

fn dsl_list(v: &Value) -> String {
    let items: Vec<String> = v.as_array().map(|a| a.iter().map(dsl_literal).collect()).unwrap_or_default();
    format!("[{}]", items.join(", "))
}

/// The DSL predicate of one YAML operator on `path`.
fn dsl(path: &str, op: &str, v: &Value) -> String {
    match op {
        "equals" => format!("{path} == {}", dsl_literal(v)),
        "not_equals" => format!("{path} != {}", dsl_literal(v)),
        "in" => format!("{path} in {}", dsl_list(v)),
        "not_in" => format!("{path} not in {}", dsl_list(v)),
        "prefix" => format!("{path} starts_with {}", dsl_literal(v)),
        "suffix" => format!("{path} ends_with {}", dsl_literal(v)),
        "like" => format!("{path} like {}", dsl_literal(v)),
        "equals_ignore_case" => format!("{path} equals_ignore_case {}", dsl_literal(v)),
        "contains" if v.is_array() => format!("{path} contains all {}", dsl_list(v)),
        "contains" => format!("{path} contains {}", dsl_literal(v)),
        "contains_any" => format!("{path} contains any {}", dsl_list(v)),
        "gt" => format!("{path} > {v}"),
        "gte" => format!("{path} >= {v}"),
        "lt" => format!("{path} < {v}"),
        "lte" => format!("{path} <= {v}"),
        "between" => format!("{path} between {} and {}", v[0], v[1]),
        "cidr" => format!("{path} in_cidr {}", dsl_literal(v)),
        "exists" if v == &json!(true) => format!("exists {path}"),
        "exists" => format!("not exists {path}"),
        "pattern" => format!("{path} matches /{}/", v.as_str().unwrap_or_default()),
        other => panic!("no DSL twin for {other}"),
    }
}

/// One generated predicate: (field path, operator, operand).
type Triple = (String, String, Value);

fn triple() -> impl Strategy<Value = Triple> {
    (prop::sample::select(vec!["x", "y", "d.z"]), prop::sample::select(operators()))
        .prop_flat_map(|(f, op)| (Just(f.to_string()), Just(op.to_string()), operand(op)))
}

/// The YAML condition (a JSON mapping) and the DSL condition of conjunction `ts`. Two operators
/// on one field share one leaf mapping (YAML keys are unique), so a repeated (field, operator)
/// pair is dropped from both forms.
fn conjunction(ts: &[Triple]) -> (Value, String) {
    let mut yaml = serde_json::Map::new();
    let mut dsl_parts = Vec::new();
    for (field, op, v) in ts {
        let leaf = yaml.entry(field.clone()).or_insert_with(|| json!({}));
        if let Some(map) = leaf.as_object_mut() {
            if map.contains_key(op) {
                continue;
            }
            map.insert(op.clone(), v.clone());
        }
        dsl_parts.push(dsl(field, op, v));
    }
    (Value::Object(yaml), dsl_parts.join(" and "))
}

fn event() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        prop::sample::select(vec!["a", "b", "A", "ab", "10.1.2.3", "x", "ab*"]).prop_map(|s| json!(s)),
        (-3i64..4).prop_map(|n| json!(n)),
        Just(json!(2.5)),
        Just(json!(true)),
        Just(Value::Null),
        prop::collection::vec(prop::sample::select(vec![json!("a"), json!(1), json!([2]), json!("b")]), 0..3)
            .prop_map(Value::Array),
    ];
    (prop::option::of(value.clone()), prop::option::of(value.clone()), prop::option::of(value)).prop_map(|(x, y, z)| {
        let mut m = serde_json::Map::new();
        if let Some(x) = x {
            m.insert("x".into(), x);
        }
        if let Some(y) = y {
            m.insert("y".into(), y);
        }
        if let Some(z) = z {
            m.insert("d".into(), json!({ "z": z }));
        }
        Value::Object(m)
    })
}

fn compile_pair(yaml_condition: &Value, dsl_condition: &str) -> Option<(switchboard_core::lang::RuleSet, switchboard_core::lang::RuleSet)> {
    let yaml = format!("routing_rules:\n  - name: r\n    condition: {yaml_condition}\n    targets:\n      - topic: t\n");
    let dsl = format!("rule r {{\n  when {dsl_condition}\n  to topic \"t\"\n}}\n");
    let (_, y) = common::compile(&[("r.yaml", &yaml)]);
    let (files, d) = common::compile(&[("r.rules", &dsl)]);
    // Both forms must agree on whether the rule is valid at all.
    assert_eq!(y.has_errors(), d.has_errors(), "validity differs:\n{yaml}\n{dsl}\n{}", switchboard_core::lang::render_text(&files, &d.diagnostics));
    Some((y.rule_set?, d.rule_set?))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn yaml_and_dsl_twins_agree(
        groups in prop::collection::vec(prop::collection::vec(triple(), 1..3), 1..3),
        events in prop::collection::vec(event(), 8),
    ) {
        // One group: a conjunction; several: `any_of` of conjunctions.
        let pairs: Vec<(Value, String)> = groups.iter().map(|g| conjunction(g)).collect();
        let (yaml_condition, dsl_condition) = if pairs.len() == 1 {
            pairs[0].clone()
        } else {
            let yaml = json!({ "any_of": pairs.iter().map(|(y, _)| y.clone()).collect::<Vec<_>>() });
            let dsl = pairs.iter().map(|(_, d)| format!("({d})")).collect::<Vec<_>>().join(" or ");
            (yaml, dsl)
        };
        if let Some((y, d)) = compile_pair(&yaml_condition, &dsl_condition) {
            for e in &events {
                prop_assert_eq!(y.evaluate(e), d.evaluate(e), "event {} on\n{}\n{}", e, yaml_condition, dsl_condition);
            }
        }
    }
}

#[test]
fn the_seed_rules_agree_in_both_forms() {
    let yaml = include_str!("../../../examples/seed-yaml/routing.yaml");
    let dsl = include_str!("../../../rules/routing.rules");
    let (_, y) = common::compile(&[("routing.yaml", yaml)]);
    let (_, d) = common::compile(&[("routing.rules", dsl)]);
    let (y, d) = (y.rule_set.expect("the seed YAML loads"), d.rule_set.expect("the DSL twin loads"));
    assert_eq!(y.rule_names().collect::<Vec<_>>(), d.rule_names().collect::<Vec<_>>());
    let events = [
        json!({"eventType": "payment.captured", "data": {"amount": 1000}}),
        json!({"eventType": "payment.captured", "data": {"amount": 999.99}}),
        json!({"eventType": "payment", "data": {"amount": 5000}}),
        json!({"eventType": "member.created", "metadata": {"tags": ["sync_to_crm"]}, "subject": {"id": "m1"}}),
        json!({"eventType": "member.created", "metadata": {"tags": "sync_to_crm"}}),
        json!({"eventType": "certification.revoked"}),
        json!({"eventType": "certification.renewed", "subject": {"id": 7}}),
        json!({}),
    ];
    // The DSL twin's header has a `:-dev-token` fallback (so rules/ loads on a fresh machine):
    // compare everything but webhook headers.
    let shape = |s: &switchboard_core::lang::RuleSet, e: &Value| {
        let ev = s.evaluate(e);
        let deliveries: Vec<String> = ev
            .deliveries
            .iter()
            .map(|d| match &d.kind {
                DeliveryKind::Webhook { target } => format!("{} webhook {}", d.rule, target.url),
                other => format!("{} {other:?} {}", d.rule, d.payload),
            })
            .collect();
        (ev.matched, deliveries)
    };
    for e in &events {
        assert_eq!(shape(&y, e), shape(&d, e), "event {e}");
    }
}
