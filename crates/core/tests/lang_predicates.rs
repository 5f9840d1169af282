//! One test per predicate of the routing language, each with missing paths and wrong types
//! (spec: "Predicates", "Missing paths and negation", "Arrays").
mod common;

use common::holds;
use serde_json::json;

#[test]
fn eq_and_ne() {
    assert!(holds(r#"eventType == "a""#, json!({"eventType": "a"})));
    assert!(!holds(r#"eventType == "a""#, json!({"eventType": "b"})));
    assert!(!holds(r#"eventType == "a""#, json!({})), "missing is false");
    assert!(!holds(r#"x == "1""#, json!({"x": 1})), "no string/number coercion");
    assert!(holds("x == 35", json!({"x": 35.0})), "numbers by value");
    assert!(holds("x == 35.0", json!({"x": 35})));
    assert!(holds("x == null", json!({"x": null})));
    assert!(holds("x == true", json!({"x": true})));
    assert!(!holds("x == 1", json!({"x": [[2]]})));
    assert!(holds("x == 1", json!({"x": [[1]]})), "nested arrays flatten");
    assert!(holds("x == 18446744073709551615", json!({"x": 18446744073709551615u64})), "u64 exactly");
    assert!(!holds("x == 9007199254740993", json!({"x": 9007199254740992i64})), "i64 exactly, not as f64");
    // !=: present and no value equals.
    assert!(holds(r#"x != "a""#, json!({"x": "b"})));
    assert!(holds(r#"x != "a""#, json!({"x": null})));
    assert!(holds(r#"x != "a""#, json!({"x": 3})));
    assert!(!holds(r#"x != "a""#, json!({})), "missing is false for !=");
    assert!(holds(r#"tags != "test""#, json!({"tags": ["a", "b"]})));
    assert!(!holds(r#"tags != "test""#, json!({"tags": ["a", "test"]})));
    assert!(holds(r#"tags != "test""#, json!({"tags": []})), "present, no value");
    // not (P == x): absent or different.
    assert!(holds(r#"not (x == "a")"#, json!({})));
}

#[test]
fn ordering() {
    assert!(holds("data.amount >= 1000", json!({"data": {"amount": 1000}})));
    assert!(!holds("data.amount >= 1000", json!({"data": {"amount": 999}})));
    assert!(!holds("data.amount >= 1000", json!({"data": {"amount": "5000"}})), "string is wrong type");
    assert!(!holds("data.amount >= 1000", json!({})));
    assert!(holds("x > 1.5", json!({"x": 2})));
    assert!(holds("x < -1", json!({"x": -2})));
    assert!(holds("x <= 3", json!({"x": 3.0})));
    assert!(!holds("x < 3", json!({"x": 3})));
    assert!(holds("x > -1", json!({"x": 18446744073709551615u64})), "u64 vs negative i64");
    assert!(holds("x > 5", json!({"x": [1, 10]})), "any value");
    assert!(!holds("x > 5", json!({"x": []})), "empty array: no values");
}

#[test]
fn between() {
    assert!(holds("x between 1 and 5", json!({"x": 1})));
    assert!(holds("x between 1 and 5", json!({"x": 5})));
    assert!(!holds("x between 1 and 5", json!({"x": 6})));
    assert!(!holds("x between 1 and 5", json!({"x": "3"})));
    assert!(!holds("x between 1 and 5", json!({})));
    assert!(!holds("x between 2 and 3", json!({"x": [1, 4]})), "one value must be inside");
}

#[test]
fn in_and_not_in() {
    assert!(holds(r#"eventType in ["a", "b"]"#, json!({"eventType": "b"})));
    assert!(!holds(r#"eventType in ["a", "b"]"#, json!({"eventType": "c"})));
    assert!(!holds(r#"eventType in ["a"]"#, json!({})));
    assert!(!holds("x in []", json!({"x": 1})));
    assert!(holds("x in [1, 2]", json!({"x": 2.0})));
    assert!(holds(r#"x not in ["a"]"#, json!({"x": "b"})));
    assert!(!holds(r#"x not in ["a"]"#, json!({"x": "a"})));
    assert!(!holds(r#"x not in ["a"]"#, json!({})), "missing is false");
    assert!(holds(r#"not (x in ["a"])"#, json!({})));
}

#[test]
fn matches() {
    assert!(holds(r"eventType matches /payment\..*/", json!({"eventType": "payment.captured"})));
    assert!(!holds(r"eventType matches /payment/", json!({"eventType": "payment.captured"})), "anchored");
    assert!(holds(r"eventType matches /payment|payment\.captured/", json!({"eventType": "payment.captured"})));
    assert!(holds(r"x matches /ABC/i", json!({"x": "abc"})));
    assert!(holds(r"x matches /(?i)abc/", json!({"x": "ABC"})));
    assert!(holds(r"x matches /a\/b/", json!({"x": "a/b"})), "escaped slash");
    assert!(holds(r"x matches /a\\/", json!({"x": "a\\"})), "backslash pair ends the literal");
    assert!(!holds(r"x matches /1/", json!({"x": 1})), "number is wrong type");
    assert!(!holds(r"x matches /.*/", json!({})));
    assert!(holds(r"x matches /a.c/", json!({"x": ["zzz", "abc"]})));
}

#[test]
fn like() {
    assert!(holds(r#"eventType like "member.*""#, json!({"eventType": "member.created"})));
    assert!(holds(r#"eventType like "member.*""#, json!({"eventType": "member."})));
    assert!(!holds(r#"eventType like "member.*""#, json!({"eventType": "members"})));
    assert!(holds(r#"x like "a?c""#, json!({"x": "abc"})));
    assert!(holds(r#"x like "a?c""#, json!({"x": "aéc"})), "? is one character");
    assert!(!holds(r#"x like "a?c""#, json!({"x": "ac"})));
    assert!(holds(r#"x like "a\\*""#, json!({"x": "a*"})), "escaped star");
    assert!(!holds(r#"x like "a\\*""#, json!({"x": "ab"})));
    assert!(holds(r#"x like "a*""#, json!({"x": "a\nb"})), "* spans newlines");
    assert!(!holds(r#"x like "*""#, json!({"x": 5})));
    assert!(!holds(r#"x like "*""#, json!({})));
}

#[test]
fn starts_ends_ignore_case() {
    assert!(holds(r#"x starts_with "ab""#, json!({"x": "abc"})));
    assert!(!holds(r#"x starts_with "ab""#, json!({"x": "cab"})));
    assert!(holds(r#"x ends_with "bc""#, json!({"x": "abc"})));
    assert!(!holds(r#"x ends_with "bc""#, json!({"x": ["bcx"]})));
    assert!(!holds(r#"x starts_with "1""#, json!({"x": 12})));
    assert!(!holds(r#"x ends_with "a""#, json!({})));
    assert!(holds(r#"x equals_ignore_case "STRASSE""#, json!({"x": "strasse"})));
    assert!(holds(r#"x equals_ignore_case "ΣΑΣ""#, json!({"x": "σας"})));
    assert!(!holds(r#"x equals_ignore_case "a.c""#, json!({"x": "abc"})), "literal, not a regex");
    assert!(!holds(r#"x equals_ignore_case "1""#, json!({"x": 1})));
    assert!(!holds(r#"x equals_ignore_case "a""#, json!({})));
}

#[test]
fn contains_family() {
    assert!(holds(r#"metadata.tags contains "sync_to_crm""#, json!({"metadata": {"tags": ["a", "sync_to_crm"]}})));
    assert!(!holds(r#"metadata.tags contains "sync""#, json!({"metadata": {"tags": ["sync_to_crm"]}})), "element equality");
    assert!(holds(r#"x contains "ell""#, json!({"x": "hello"})), "substring of a string");
    assert!(holds("m contains 1", json!({"m": [[1]]})), "flattened");
    assert!(!holds("m contains 1", json!({"m": 1})), "a number is neither array nor string");
    assert!(!holds(r#"m contains "a""#, json!({})));
    assert!(holds(r#"t contains any ["x", "b"]"#, json!({"t": ["a", "b"]})));
    assert!(!holds(r#"t contains any ["x"]"#, json!({"t": ["a", "b"]})));
    assert!(holds(r#"t contains all ["a", "b"]"#, json!({"t": ["b", "c", "a"]})));
    assert!(!holds(r#"t contains all ["a", "z"]"#, json!({"t": ["b", "a"]})));
    assert!(!holds(r#"t contains all ["a"]"#, json!({"t": "a"})));
    assert!(holds(r#"items.tags contains "x""#, json!({"items": [{"tags": ["y"]}, {"tags": ["x"]}]})), "any array reached");
}

#[test]
fn in_cidr() {
    assert!(holds(r#"ip in_cidr "10.0.0.0/8""#, json!({"ip": "10.1.2.3"})));
    assert!(!holds(r#"ip in_cidr "10.0.0.0/8""#, json!({"ip": "11.1.2.3"})));
    assert!(holds(r#"ip in_cidr "2001:db8::/32""#, json!({"ip": "2001:db8::1"})));
    assert!(!holds(r#"ip in_cidr "0.0.0.0/0""#, json!({"ip": "::ffff:10.0.0.1"})), "IPv4-mapped is IPv6");
    assert!(!holds(r#"ip in_cidr "::/0""#, json!({"ip": "10.0.0.1"})));
    assert!(!holds(r#"ip in_cidr "10.0.0.0/8""#, json!({"ip": "fe80::1%eth0"})), "no zone ids");
    assert!(!holds(r#"ip in_cidr "10.0.0.0/8""#, json!({"ip": "not an ip"})));
    assert!(!holds(r#"ip in_cidr "10.0.0.0/8""#, json!({"ip": 10})));
    assert!(!holds(r#"ip in_cidr "10.0.0.0/8""#, json!({})));
}

#[test]
fn exists() {
    assert!(holds("exists x", json!({"x": null})));
    assert!(!holds("exists x", json!({})));
    assert!(holds("not exists x", json!({})));
    assert!(!holds("not exists x", json!({"x": 1})));
    assert!(holds("exists data.items", json!({"data": {"items": []}})), "an empty array is present");
    assert!(!holds("exists data.items.sku", json!({"data": {"items": []}})));
    assert!(!holds("exists a.b", json!({"a": "string"})));
    assert!(holds("exists a.b", json!({"a": [{"c": 1}, {"b": 2}]})));
}

#[test]
fn paths() {
    assert!(holds(r#"data."first-name" == "Ada""#, json!({"data": {"first-name": "Ada"}})));
    assert!(holds(r#"data.items[1].sku == "B""#, json!({"data": {"items": [{"sku": "A"}, {"sku": "B"}]}})));
    assert!(!holds(r#"data.items[5].sku == "B""#, json!({"data": {"items": [{"sku": "B"}]}})));
    assert!(holds(r#"data.items.sku == "B""#, json!({"data": {"items": [{"sku": "A"}, {"sku": "B"}]}})));
    assert!(holds(r#"data."in" == 1"#, json!({"data": {"in": 1}})), "quoted keyword segment");
    assert!(holds(r#"a-b == 1"#, json!({"a-b": 1})), "dash in a bare segment");
}

#[test]
fn quantifiers() {
    let ev = json!({"data": {"items": [{"sku": "X", "qty": 1}, {"sku": "Y", "qty": 3}]}});
    assert!(holds(r#"data.items.sku == "X" and data.items.qty >= 2"#, ev.clone()), "different elements");
    assert!(!holds(r#"any data.items (sku == "X" and qty >= 2)"#, ev.clone()), "one element");
    assert!(holds(r#"any data.items (sku == "Y" and qty >= 2)"#, ev.clone()));
    assert!(holds("all data.items (qty >= 1)", ev.clone()));
    assert!(!holds("all data.items (qty >= 2)", ev.clone()));
    assert!(holds("all data.items (qty >= 2)", json!({"data": {"items": []}})), "vacuous");
    assert!(!holds("all data.items (qty >= 2)", json!({})), "missing");
    assert!(!holds("all data.items (qty >= 2)", json!({"data": {"items": 3}})), "not an array");
    assert!(!holds("any data.items (qty >= 2)", json!({"data": {"items": []}})));
    let nested = json!({"orders": [{"lines": [{"n": 1}]}, {"lines": [{"n": 5}]}]});
    assert!(holds("any orders (any lines (n > 4))", nested));
}

#[test]
fn precedence_and_lets() {
    assert!(holds("a == 1 or b == 1 and c == 1", json!({"a": 1})), "and binds tighter");
    assert!(!holds("(a == 1 or b == 1) and c == 1", json!({"a": 1})));
    assert!(holds("not a == 1 and b == 1", json!({"b": 1})));
    let s = common::set(
        "rule r {\n when big and any items (qty > 1 and big)\n to store\n}\nlet big = amount >= 10\n",
    );
    // A let inside a quantifier reads from the envelope root.
    let ev = json!({"amount": 10, "subject": {"id": "s"}, "items": [{"qty": 2}]});
    assert_eq!(s.evaluate(&ev).matched, ["r"]);
}
