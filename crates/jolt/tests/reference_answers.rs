//! Cases outside the reference's fixture suite where switchboard once answered differently from
//! the reference (jolt-core 0.1.8). Each expected answer is what the reference gave for the same
//! spec and input, recorded from a side-by-side run of both engines (a differential of ~25,000
//! cases: the reference's unit-test data, every function over ~68 values, edge cases of each
//! operation, random shift specs). `Spec` means the reference refuses the spec when it loads it,
//! `Fails` that it throws on this input.
use serde_json::{json, Value};
use switchboard_jolt::Chain;

enum Answer {
    Output(Value),
    Spec,
    Fails,
}
use Answer::*;

fn check(spec: Value, input: Value, answer: Answer) {
    let shown = format!("spec {spec} over {input}");
    let chain = Chain::from_json(&spec);
    match answer {
        Spec => assert!(chain.is_err(), "{shown}: the reference refuses this spec; it loaded"),
        Fails => {
            let chain = chain.unwrap_or_else(|e| panic!("{shown}: {e}"));
            assert!(chain.apply(&input).is_err(), "{shown}: the reference fails on this input; it gave {:?}", chain.apply(&input));
        }
        Output(expected) => {
            let chain = chain.unwrap_or_else(|e| panic!("{shown}: {e}"));
            let out = chain.apply(&input).unwrap_or_else(|e| panic!("{shown}: {e}"));
            assert!(same(&out, &expected), "{shown}: gave {out}, the reference {expected}");
        }
    }
}

/// Equal as the reference's answers are compared: integers and doubles are distinct (`30.0` is
/// not `30`), doubles compared by value (`1.0E20` is `1e20`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (xs, ys) = (x.to_string(), y.to_string());
            let float = |s: &str| s.contains(['.', 'e', 'E']);
            match (float(&xs), float(&ys)) {
                (true, true) => x.as_f64() == y.as_f64(),
                (false, false) => xs == ys,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

fn shift(spec: Value) -> Value {
    json!([{"operation": "shift", "spec": spec}])
}

fn overwrite(spec: Value) -> Value {
    json!([{"operation": "modify-overwrite-beta", "spec": spec}])
}

#[test]
fn hash_keys_are_checked_as_the_reference_checks_them() {
    // On the right, `#` is only valid as `[#n]`.
    check(shift(json!({"a": "#lit"})), json!({"a": 1}), Spec);
    check(shift(json!({"a": "out.#x"})), json!({"a": 1}), Spec);
    check(shift(json!({"a": "out.x#y"})), json!({"a": 1}), Spec);
    check(shift(json!({"a": {"@(1,#x)": "y"}})), json!({"a": 1}), Spec);
    check(shift(json!({"a": "out[#1]"})), json!({"a": 1}), Output(json!({"out": [1]})));
    check(shift(json!({"a": "out.\\#x"})), json!({"a": 1}), Output(json!({"out": {"#x": 1}})));
    // On the left: `#` needs its literal, `#(..)` its closing parenthesis, and `#ab` is `#(ab)`.
    check(shift(json!({"#": "out"})), json!({"a": 1}), Spec);
    check(shift(json!({"a": {"#(ab": "x"}})), json!({"a": 1}), Spec);
    check(shift(json!({"a": {"#ab": "x", "#(ab)": "y"}})), json!({"a": 1}), Spec);
    check(shift(json!({"#(ab)": "x"})), json!({"a": 1}), Output(json!({"x": "ab"})));
    check(shift(json!({"a": {"#()": "x"}})), json!({"a": 1}), Output(json!({"x": ""})));
    check(shift(json!({"a": {"# ": "x"}})), json!({"a": 1}), Output(json!({"x": " "})));
}

#[test]
fn star_keys_are_built_as_the_reference_builds_them() {
    // Two stars ending in `**` fail in the reference's StarDoublePathElement (shift, modify, remove).
    check(shift(json!({"a**": "&"})), json!({"ab": 1}), Spec);
    check(json!([{"operation": "remove", "spec": {"**": ""}}]), json!({"a": 1}), Spec);
    check(overwrite(json!({"a**": 1})), json!({"ab": 1}), Spec);
    // An escaped star counted out of the key's kind but kept in its text.
    check(shift(json!({"a-*-\\*": "&"})), json!({"a-b-*": 1}), Spec);
    check(shift(json!({"a*\\*b*": "x"})), json!({"a1*b2": 1}), Spec);
    check(shift(json!({"a\\*": "x"})), json!({"a*": 1}), Output(json!({"x": 1})));
    check(shift(json!({"a*\\*b*c*": "x"})), json!({"a1*b2c3": 1}), Output(json!({"x": 1})));
    // With nothing between its stars, a two-star key needs three characters between its prefix
    // and suffix.
    check(shift(json!({"a**b": "&(0,1)-&(0,2)"})), json!({"axyb": 1, "axyzb": 2}), Output(json!({"x-yz": 2})));
    check(shift(json!({"**b": "&(0,1)-&(0,2)"})), json!({"xyb": 1, "xyzb": 2}), Output(json!({"x-yz": 2})));
    check(json!([{"operation": "remove", "spec": {"a**b": ""}}]), json!({"axyb": 1, "axyzb": 2}), Output(json!({"axyb": 1})));
    check(overwrite(json!({"a**b": "X"})), json!({"axyb": 1, "axyzb": 2}), Output(json!({"axyb": 1, "axyzb": "X"})));
    // Cardinality's star keys are plain globs: each star one character or more.
    check(
        json!([{"operation": "cardinality", "spec": {"a**b": "ONE"}}]),
        json!({"axyb": [1], "axyzb": [2]}),
        Output(json!({"axyb": 1, "axyzb": 2})),
    );
}

#[test]
fn array_keys_on_the_left_of_a_shift_match_nothing() {
    check(shift(json!({"[0]": "x"})), json!(["first", "second"]), Output(Value::Null));
    check(shift(json!({"[0]": "x"})), json!({"[0]": 5, "0": 6}), Output(Value::Null));
    check(shift(json!({"*": {"[0]": "x"}})), json!({"k": ["a", "b"]}), Output(Value::Null));
    check(shift(json!({"[0]": {"a": "x"}})), json!([{"a": 1}]), Output(Value::Null));
    check(shift(json!({"*": {"[#1]": "x"}})), json!({"k": ["a", "b"]}), Output(Value::Null));
}

#[test]
fn modify_children_take_the_operations_mode_not_their_parents_prefix() {
    check(
        json!([{"operation": "modify-default-beta", "spec": {"+b": {"c": 1}}}]),
        json!({"b": {"c": "x"}}),
        Output(json!({"b": {"c": "x"}})),
    );
    check(overwrite(json!({"_l": {"*": 0}})), json!({"l": [1, 2]}), Output(json!({"l": [0, 0]})));
}

#[test]
fn an_unknown_function_yields_its_first_argument() {
    let input = json!({"r": "R", "a": "A", "l": [1, 2]});
    let r = |call: &str, expected: Value| {
        let mut out = input.clone();
        out["r"] = expected;
        check(overwrite(json!({"r": call})), input.clone(), Output(out));
    };
    r("=unknownFn", json!("R"));
    r("=unknownFn()", Value::Null);
    r("=unknownFn(@(1,a))", json!("A"));
    r("=unknownFn(@(1,b))", json!("R"));
    r("=unknownFn(@(1,b),x)", json!("R"));
    r("=unknownFn(x,y)", json!("x"));
    r("=unknownFn(@(1,l))", json!([1, 2]));
    // A space makes the name unknown.
    r("=toUpper (x)", json!("x"));
    r("= concat(a)", json!("a"));
    r("=(x)", json!("x"));
    r("=", json!("R"));
}

#[test]
fn sort_and_squash_answer_as_the_reference() {
    let input = json!({"r": "R", "a": "A", "z": null, "t": [true, false, true], "n": [null], "f": [false], "mix": [true, 1], "e": [], "nn": [null, null]});
    let r = |call: &str, expected: Value| {
        let mut out = input.clone();
        out["r"] = expected;
        check(overwrite(json!({"r": call})), input.clone(), Output(out));
    };
    r("=sort(@(1,t))", json!([false, true, true]));
    r("=sort(@(1,n))", json!([null]));
    r("=sort(@(1,f))", json!([false]));
    r("=sort(@(1,mix))", json!("R"));
    r("=squashNulls(@(1,e))", json!("R"));
    r("=recursivelySquashNulls(@(1,e))", json!("R"));
    r("=squashDuplicates(@(1,e))", json!("R"));
    r("=squashNulls(@(1,nn))", json!([]));
    r("=squashNulls(@(1,n),@(1,a))", json!([[null], "A"]));
    r("=squashNulls(@(1,a),@(1,a))", json!(["A", "A"]));
    r("=squashNulls(@(1,e),@(1,a))", json!([[], "A"]));
    r("=squashNulls(@(1,z),@(1,a))", json!("R"));
    r("=squashNulls(@(1,a),@(1,z))", json!("R"));
    r("=squashNulls(@(1,m),@(1,a))", json!("R"));
}

#[test]
fn numeric_strings_beyond_the_long_range_are_read_as_doubles() {
    let input = json!({"a": "99999999999999999999"});
    let r = |call: &str, expected: Value| {
        check(overwrite(json!({"r": call})), input.clone(), Output(json!({"a": "99999999999999999999", "r": expected})))
    };
    r("=toDouble(@(1,a))", json!(1e20));
    r("=abs(@(1,a))", json!(1e20));
    r("=toInteger(@(1,a))", json!(2147483647));
    r("=toLong(@(1,a))", json!(9223372036854775807i64));
}

#[test]
fn divide_and_round_at_any_scale() {
    let r = |call: &str, expected: Value| check(overwrite(json!({"r": call})), json!({}), Output(json!({"r": expected})));
    r("=divideAndRound(-1,25,1)", json!(30.0));
    r("=divideAndRound(-1,7,3)", json!(0.0));
    r("=divideAndRound(-2,1234,1)", json!(1200.0));
    r("=divideAndRound(2,-1,1000)", json!(0.0));
    r("=divideAndRound(2,2.675,1)", json!(2.67));
    r("=divideAndRound(2,1.005,1)", json!(1.0));
    r("=divideAndRound(1,0.15,1)", json!(0.1));
    // This one used to panic in the formatter; the reference throws and writes nothing.
    check(overwrite(json!({"r": "=divideAndRound(2147483647,1,3)"})), json!({}), Output(json!({})));
}

#[test]
fn default_refuses_a_list_its_spec_can_not_address() {
    check(json!([{"operation": "default", "spec": {"a": 5}}]), json!([{"b": 1}]), Fails);
    check(json!([{"operation": "default", "spec": {"*": {"a": 5}}}]), json!([{"b": 1}]), Output(json!([{"b": 1, "a": 5}])));
}
