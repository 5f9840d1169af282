//! Property: the compiled matcher (`RuleSet::evaluate`) gives exactly the reference evaluator's
//! answer (`RuleSet::evaluate_reference`, every rule tried in order) on random rule sets and
//! events: every operator, `and`/`or`/`not`, `any`/`all` quantifiers, `let`, priorities, `stop`
//! and `drop`, over scalars, arrays, nested arrays and objects.
mod common;

use proptest::prelude::*;
use serde_json::{json, Value};

const PATHS: &[&str] = &["x", "y", "d.z", "d.n", "tags", "items.sku", "items.n", "items[1].sku", "ip"];
/// Paths inside a quantifier over `items` (relative to the element).
const ELEMENT_PATHS: &[&str] = &["sku", "n", "tags"];

fn literal() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "A", "ab", "abc", "10.1.2.3", "x"]).prop_map(|s| json!(s)),
        3 => (-3i64..5).prop_map(|n| json!(n)),
        1 => Just(json!(2.5)),
        1 => Just(json!(true)),
        1 => Just(Value::Null),
    ]
    .boxed()
}

fn list() -> impl Strategy<Value = String> {
    prop::collection::vec(literal(), 0..4)
        .prop_map(|v| format!("[{}]", v.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ")))
}

fn predicate(paths: &'static [&'static str]) -> BoxedStrategy<String> {
    let path = prop::sample::select(paths.to_vec());
    let string = prop::sample::select(vec!["a", "b", "ab", "A", "c", ""]);
    let number = -3i64..5;
    prop_oneof![
        (path.clone(), literal()).prop_map(|(p, l)| format!("{p} == {l}")),
        (path.clone(), literal()).prop_map(|(p, l)| format!("{p} != {l}")),
        (path.clone(), list()).prop_map(|(p, l)| format!("{p} in {l}")),
        (path.clone(), list()).prop_map(|(p, l)| format!("{p} not in {l}")),
        (path.clone(), prop::sample::select(vec![">", ">=", "<", "<="]), number.clone())
            .prop_map(|(p, op, n)| format!("{p} {op} {n}")),
        (path.clone(), number.clone(), 0i64..4).prop_map(|(p, a, w)| format!("{p} between {a} and {}", a + w)),
        (path.clone(), Just(()), -2.0f64..3.0).prop_map(|(p, _, f)| format!("{p} > {f:.2}")),
        (path.clone(), string.clone()).prop_map(|(p, s)| format!("{p} starts_with {s:?}")),
        (path.clone(), string.clone()).prop_map(|(p, s)| format!("{p} ends_with {s:?}")),
        (path.clone(), prop::sample::select(vec!["a*", "*b", "?b", "a?c", "*"])).prop_map(|(p, g)| format!("{p} like {g:?}")),
        (path.clone(), prop::sample::select(vec!["a.*", "(?i)A", "[ab]", "b|ab", "^x$"]))
            .prop_map(|(p, r)| format!("{p} matches /{r}/")),
        (path.clone(), string.clone()).prop_map(|(p, s)| format!("{p} equals_ignore_case {s:?}")),
        (path.clone(), literal()).prop_map(|(p, l)| format!("{p} contains {l}")),
        (path.clone(), list()).prop_map(|(p, l)| format!("{p} contains any {l}")),
        (path.clone(), list()).prop_map(|(p, l)| format!("{p} contains all {l}")),
        (path.clone(), prop::sample::select(vec!["10.0.0.0/8", "10.1.2.3", "::/0"]))
            .prop_map(|(p, c)| format!("{p} in_cidr {c:?}")),
        path.clone().prop_map(|p| format!("exists {p}")),
        path.prop_map(|p| format!("not exists {p}")),
    ]
    .boxed()
}

/// A condition tree over `paths`; inside a quantifier over `items`, over the element's paths.
fn condition(paths: &'static [&'static str], depth: u32) -> BoxedStrategy<String> {
    let leaf = predicate(paths);
    if depth == 0 {
        return leaf;
    }
    let sub = condition(paths, depth - 1);
    let mut choices = vec![
        (4, leaf.boxed()),
        (2, prop::collection::vec(sub.clone(), 2..4).prop_map(|v| format!("({})", v.join(" and "))).boxed()),
        (2, prop::collection::vec(sub.clone(), 2..4).prop_map(|v| format!("({})", v.join(" or "))).boxed()),
        (1, sub.clone().prop_map(|c| format!("not ({c})")).boxed()),
        (1, Just("is_a".to_string()).boxed()),
    ];
    if std::ptr::eq(paths, PATHS) {
        let element = condition(ELEMENT_PATHS, depth - 1);
        choices.push((1, (prop::bool::ANY, element).prop_map(|(all, c)| {
            format!("{} items ({c})", if all { "all" } else { "any" })
        }).boxed()));
    }
    prop::strategy::Union::new_weighted(choices).boxed()
}

fn rule_set() -> impl Strategy<Value = String> {
    let rule = (condition(PATHS, 2), prop::option::of(-2i64..3), prop::sample::select(vec!["", "", "", "stop", "drop"]));
    (prop::collection::vec(rule, 1..12), prop::bool::ANY).prop_map(|(rules, default)| {
        let mut text = String::from("let is_a = x == \"a\" or tags contains \"a\"\n");
        for (i, (cond, priority, end)) in rules.iter().enumerate() {
            let priority = priority.map(|p| format!("  priority {p}\n")).unwrap_or_default();
            text.push_str(&format!("rule r{i} {{\n{priority}  when {cond}\n  to topic \"t{i}\"\n  {end}\n}}\n"));
        }
        if default {
            text.push_str("default {\n  to topic \"unrouted\"\n}\n");
        }
        text
    })
}

fn value(depth: u32) -> BoxedStrategy<Value> {
    let scalar = prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "A", "ab", "abc", "cab", "10.1.2.3", "::1", "x", ""]).prop_map(|s| json!(s)),
        3 => (-3i64..5).prop_map(|n| json!(n)),
        1 => prop::sample::select(vec![2.5, -0.0, 1.0, 0.5]).prop_map(|f| json!(f)),
        1 => Just(json!(true)),
        1 => Just(Value::Null),
    ];
    if depth == 0 {
        return scalar.boxed();
    }
    prop_oneof![
        4 => scalar,
        1 => prop::collection::vec(value(depth - 1), 0..4).prop_map(Value::Array),
    ]
    .boxed()
}

fn element() -> impl Strategy<Value = Value> {
    (prop::option::of(value(1)), prop::option::of(value(1)), prop::option::of(value(1))).prop_map(|(s, n, t)| {
        let mut m = serde_json::Map::new();
        for (k, v) in [("sku", s), ("n", n), ("tags", t)] {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        }
        Value::Object(m)
    })
}

fn event() -> impl Strategy<Value = Value> {
    let field = prop::option::of(value(2));
    (
        (field.clone(), field.clone(), field.clone(), field.clone()),
        (field.clone(), field),
        prop::option::of(prop::collection::vec(prop_oneof![3 => element(), 1 => value(1)], 0..4)),
    )
        .prop_map(|((x, y, z, n), (tags, ip), items)| {
            let mut d = serde_json::Map::new();
            for (k, v) in [("z", z), ("n", n)] {
                if let Some(v) = v {
                    d.insert(k.into(), v);
                }
            }
            let mut m = serde_json::Map::new();
            m.insert("d".into(), Value::Object(d));
            for (k, v) in [("x", x), ("y", y), ("tags", tags), ("ip", ip)] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            if let Some(items) = items {
                m.insert("items".into(), Value::Array(items));
            }
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn matcher_agrees(text in rule_set(), events in prop::collection::vec(event(), 1..12)) {
        let (_, compiled) = common::compile(&[("random.rules", &text)]);
        // A generated set may contain a contradiction the checker refuses (`x > 3 and x < 1`).
        prop_assume!(compiled.rule_set.is_some());
        let set = compiled.rule_set.unwrap();
        for e in &events {
            let reference = set.evaluate_reference(e);
            let indexed = set.evaluate(e);
            prop_assert_eq!(&indexed, &reference, "rules:\n{}\nevent: {}", text, e);
            // The explaining evaluator (which builds its reasons) reaches the same verdicts as
            // the fast one.
            prop_assert_eq!(&set.explain(e).evaluation, &reference, "explain, rules:\n{}\nevent: {}", text, e);
            let names: Vec<&str> = set.matched_rules(e);
            prop_assert_eq!(&names, &reference.matched.iter().map(String::as_str).collect::<Vec<_>>());
            // Parsing only the paths the rules read gives the same answer.
            let projected = set.matched_rules_json(&e.to_string()).unwrap();
            prop_assert_eq!(&projected, &names, "projected: {}", set.project(&e.to_string()).unwrap());
        }
    }
}

/// Found by `matcher_agrees`: a quantifier over an array another rule keeps whole (`items[1]`)
/// still needs the root paths of the lets inside it (`tags`, `x`) in the projection.
#[test]
fn a_let_inside_a_quantifier_over_a_whole_array_is_projected() {
    let text = "let is_a = x == \"a\" or tags contains \"a\"\n\
                rule r0 {\n  when any items (sku == \"a\") and items[1].sku != \"a\"\n  to topic \"t0\"\n}\n\
                rule r1 {\n  when any items (is_a)\n  to topic \"t1\"\n}\n";
    let (_, compiled) = common::compile(&[("regression.rules", text)]);
    let set = compiled.rule_set.expect("the set compiles");
    let event = serde_json::json!({"tags": "ab", "items": [{}]});
    assert_eq!(set.matched_rules(&event), vec!["r1"]);
    assert_eq!(set.matched_rules_json(&event.to_string()).unwrap(), vec!["r1"]);
}

/// The index anchors each tenant rule on its tenant id (the conjunct fewer rules share), and
/// only a bare `not` is left to be checked on every event.
#[test]
fn every_anchorable_rule_is_indexed() {
    let mut text = String::new();
    for i in 0..500 {
        text.push_str(&format!(
            "rule t{i} {{\n  when eventType == \"payment.completed\" and data.tenantId == \"t{i}\"\n  to topic \"x\"\n}}\n"
        ));
    }
    text.push_str("rule neg {\n  when not (eventType starts_with \"system.\")\n  to topic \"y\"\n}\n");
    let set = common::set(&text);
    let (paths, always) = set.matcher_shape();
    assert_eq!(always, 1, "only the bare `not` rule has no anchor");
    assert_eq!(paths, 1, "every tenant rule is anchored on data.tenantId, the rarer conjunct");
    let e = json!({"eventType": "payment.completed", "data": {"tenantId": "t42"}});
    assert_eq!(set.matched_rules(&e), ["t42", "neg"]);
}

/// A random EventBridge pattern over the same fields (leaf matchers, nesting, `$or`).
fn eb_leaf() -> BoxedStrategy<Value> {
    let s = prop::sample::select(vec!["a", "b", "ab", "A", "10.1.2.3"]);
    let one = prop_oneof![
        literal(),
        s.clone().prop_map(|s| json!({"prefix": s})),
        s.clone().prop_map(|s| json!({"suffix": {"equals-ignore-case": s}})),
        s.clone().prop_map(|s| json!({"equals-ignore-case": s})),
        prop::sample::select(vec!["a*", "*b", "*"]).prop_map(|w| json!({"wildcard": w})),
        prop::collection::vec(literal(), 1..3).prop_map(|l| json!({"anything-but": l})),
        s.prop_map(|s| json!({"anything-but": {"prefix": s}})),
        (-3i64..5, 0i64..4).prop_map(|(a, w)| json!({"numeric": [">=", a, "<", a + w]})),
        (-3i64..5).prop_map(|a| json!({"numeric": ["=", a]})),
        prop::bool::ANY.prop_map(|b| json!({"exists": b})),
        Just(json!({"cidr": "10.0.0.0/8"})),
    ];
    prop::collection::vec(one, 1..3).prop_map(Value::Array).boxed()
}

fn eb_object(depth: u32) -> BoxedStrategy<Value> {
    let field = prop::sample::select(vec!["x", "y", "tags", "ip", "d", "items", "sku", "n", "z"]);
    let value = if depth == 0 {
        eb_leaf()
    } else {
        prop_oneof![3 => eb_leaf(), 1 => eb_object(depth - 1)].boxed()
    };
    let fields = prop::collection::btree_map(field, value, 1..3);
    if depth == 0 {
        return fields.prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())).boxed();
    }
    (fields, prop::option::of(prop::collection::vec(eb_object(depth - 1), 1..3)))
        .prop_map(|(m, or)| {
            let mut o: serde_json::Map<String, Value> = m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            if let Some(or) = or {
                o.insert("$or".into(), Value::Array(or));
            }
            Value::Object(o)
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn matcher_agrees_on_event_patterns(patterns in prop::collection::vec(eb_object(2), 1..8),
                                        events in prop::collection::vec(event(), 1..10)) {
        let mut text = String::from("routing_rules:\n");
        for (i, p) in patterns.iter().enumerate() {
            text.push_str(&format!("  - name: p{i}\n    event_pattern: '{}'\n    targets:\n      - topic: t{i}\n", p.to_string().replace('\'', "''")));
        }
        let (files, compiled) = common::compile(&[("patterns.yaml", &text)]);
        let set = compiled.rule_set.unwrap_or_else(|| panic!("{}", switchboard_core::lang::render_text(&files, &compiled.diagnostics)));
        for e in &events {
            let reference = set.evaluate_reference(e);
            prop_assert_eq!(&set.evaluate(e), &reference, "patterns:\n{}\nevent: {}", text, e);
            prop_assert_eq!(&set.explain(e).evaluation, &reference, "explain, patterns:\n{}\nevent: {}", text, e);
            let projected = set.matched_rules_json(&e.to_string()).unwrap();
            prop_assert_eq!(projected, reference.matched.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}

/// The projection keeps exactly what conditions read: referenced fields whole, arrays with their
/// elements projected, everything else skipped (but still validated).
#[test]
fn the_projection_reads_only_referenced_paths() {
    let set = common::set(
        "rule a {\n  when data.amount > 5 and any data.items (sku == \"x\")\n  to topic \"t\"\n}\n\
         rule b {\n  when metadata.tags contains \"vip\"\n  to topic \"t\"\n}\n",
    );
    let event = r#"{"eventId":"e1","data":{"amount":9,"note":"long text","items":[{"sku":"x","qty":2},{"sku":"y"}],"nested":{"a":[1,2]}},"metadata":{"tags":["vip",{"k":1}],"userId":"u"}}"#;
    assert_eq!(
        set.project(event).unwrap(),
        json!({"data":{"amount":9,"items":[{"sku":"x"},{"sku":"y"}]},"metadata":{"tags":["vip",{"k":1}]}})
    );
    assert_eq!(set.matched_rules_json(event).unwrap(), ["a", "b"]);
    assert!(set.matched_rules_json(r#"{"data": {"note": [1,}}"#).is_err(), "skipped parts are still validated");
    assert!(set.matched_rules_json(r#"{"a": 1} x"#).is_err(), "trailing characters are an error");
}
