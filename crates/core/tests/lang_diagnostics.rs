//! Diagnostics of single cases, by code, position and message (the golden files in
//! tests/diagnostics/ cover whole sets): literals (E019), action-less rules (E020), webhook
//! URLs (E015), syntax errors (E001).
mod common;

use switchboard_core::lang;

/// `(code, line, column, message)` of every diagnostic of one DSL file.
fn diags(text: &str) -> Vec<(String, u64, u64, String)> {
    let (files, compiled) = common::compile(&[("a.rules", text)]);
    let json = lang::render_json(&files, &compiled.diagnostics);
    json["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["line"].as_u64().unwrap_or_default(),
                d["column"].as_u64().unwrap_or_default(),
                d["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn one(text: &str) -> (String, u64, u64, String) {
    let mut all = diags(text);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn a_number_outside_the_f64_range_is_an_invalid_literal() {
    let all = diags("rule r { when a < 1e400 to topic \"t\" }\nrule r2 { when a > -1e400 to topic \"t\" }\n");
    assert_eq!(
        all,
        [
            ("E019".into(), 1, 19, "invalid literal: number 1e400 is out of range".into()),
            ("E019".into(), 2, 20, "invalid literal: number -1e400 is out of range".into()),
        ]
    );
    assert!(diags("rule r { when a < 1.7e308 or a > 1e-400 to topic \"t\" }").is_empty(), "in range (underflow is 0)");
}

#[test]
fn a_bad_string_escape_is_an_invalid_literal_at_the_escape() {
    assert_eq!(one(r#"rule r { when a == "\x41" to topic "t" }"#), ("E019".into(), 1, 21, "invalid literal: bad string escape `\\x`".into()));
    assert_eq!(
        one(r#"rule r { when a == "ab\u12" to topic "t" }"#),
        ("E019".into(), 1, 23, "invalid literal: bad string escape `\\u12` (\\u takes four hex digits)".into())
    );
    let (code, line, col, message) = one(r#"rule r { when a == "\ud800" to topic "t" }"#);
    assert_eq!((code.as_str(), line, col), ("E019", 1, 21));
    assert_eq!(message, "invalid literal: bad string escape `\\ud800`: a lone UTF-16 surrogate is not a character");
    assert!(!message.contains("line 1 column"), "no position of serde's: the diagnostic has one");
    // Valid escapes, a surrogate pair included, decode as JSON does.
    assert!(common::holds(r#"a == "\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#, serde_json::json!({"a": "\"\\/\u{8}\u{c}\n\r\té😀"})));
    assert!(common::holds(r#"data."\u0041" == 1"#, serde_json::json!({"data": {"A": 1}})));
}

#[test]
fn leading_zeros_are_invalid_literals() {
    let all = diags(r#"rule r { priority 007 when x[01] == 1 to webhook "https://h" { retry 03 backoff 01s..2m timeout 010s } }"#);
    let codes: Vec<(&str, u64)> = all.iter().map(|(c, _, col, _)| (c.as_str(), *col)).collect();
    assert_eq!(codes, [("E019", 19), ("E019", 29), ("E019", 70), ("E019", 81), ("E019", 97)], "{all:?}");
    assert_eq!(all[0].3, "invalid literal: `007` has a leading zero");
    assert_eq!(all[3].3, "invalid literal: duration 01s");
    assert!(diags(r#"rule r { priority 0 when x[0] == 0 to webhook "https://h" { retry 1 backoff 0s..0s timeout 10s } }"#).is_empty());
    assert_eq!(diags("rule r { priority -0 when exists x to store }"), []);
    assert_eq!(one("rule r { when x == 007 to store }").0, "E001", "a comparison literal: a syntax error, as before");
}

#[test]
fn a_rule_or_default_block_without_actions_is_an_error() {
    let all = diags("rule r3 { when exists x }\ndefault { }\n");
    assert_eq!(
        all,
        [
            ("E020".into(), 1, 6, "rule `r3` has no actions".into()),
            ("E020".into(), 2, 1, "the default block has no actions".into()),
        ]
    );
    let (_, compiled) = common::compile(&[("a.rules", "rule r3 { when exists x }")]);
    assert!(compiled.rule_set.is_none(), "an error: the set does not load");
    assert!(diags("rule r { when exists x stop }\ndefault { drop }").iter().all(|d| d.0 != "E020"));
    let yaml = "routing_rules:\n  - name: r\n    condition: { x: 1 }\n    targets: []\n";
    let (_, compiled) = common::compile(&[("a.yaml", yaml)]);
    let codes: Vec<String> = compiled.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert!(codes.contains(&"E020".to_string()), "{codes:?}");
}

#[test]
fn webhook_urls_are_checked_as_urls() {
    let url = |u: &str| diags(&format!("rule r {{ when exists a to webhook \"{u}\" }}"));
    for ok in ["HTTPS://example.com/hook", "Http://h:8080/x", "https://h", "https://${HOST}/x", "${URL}", "https://[::1]:443/"] {
        assert_eq!(url(ok), [], "{ok}");
    }
    for (bad, why) in [
        ("https://example.com:99999/x", "is not a valid URL: invalid port number"),
        ("https://exa mple.com/x", "is not a valid URL"),
        ("https://", "has no host"),
        ("ftp://example.com", "is not http(s)"),
        ("example.com/x", "is not http(s)"),
    ] {
        let all = url(bad);
        assert_eq!(all.len(), 1, "{bad}: {all:?}");
        assert_eq!((all[0].0.as_str(), all[0].1, all[0].2), ("E015", 1, 35), "{bad}");
        assert!(all[0].3.starts_with(&format!("webhook URL `{bad}` {why}")), "{bad}: {}", all[0].3);
    }
}

/// `(code, line, column)` of every diagnostic of a set of files.
fn positions(files: &[(&str, &str)]) -> Vec<(String, String, u64, u64)> {
    let (sources, compiled) = common::compile(files);
    let json = lang::render_json(&sources, &compiled.diagnostics);
    json["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["file"].as_str().unwrap_or_default().to_string(),
                d["line"].as_u64().unwrap_or_default(),
                d["column"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn carets_point_at_an_unknown_regex_flag_and_a_second_yaml_default() {
    let (code, line, col, message) = one("rule r { when a matches /x/iq to store }");
    assert_eq!((code.as_str(), line, col), ("E006", 1, 29), "at `q`");
    assert!(message.contains("unknown regex flag `q`"), "{message}");
    let default = "default:\n  targets:\n    - topic: d\n";
    let got = positions(&[("a.yaml", default), ("b.yaml", &format!("routing_rules: []\n{default}"))]);
    assert_eq!(got, [("E005".to_string(), "b.yaml".to_string(), 2, 1)], "at `default:` of the second file");
}

#[test]
fn one_yaml_error_does_not_hide_the_files_other_diagnostics() {
    let yaml = "routing_rules:\n  - name: typo\n    condition: { x: { gte: 1, lts: 5 } }\n    targets: [{ topic: t }]\n  - name: bad_regex\n    condition: { x: { pattern: \"a(\" } }\n    targets: [{ topic: t }]\n  - name: bad_duration\n    condition: { x: 1 }\n    targets: [{ http: { url: \"https://h\", timeout: 01s } }]\n";
    let got: Vec<(String, u64)> = positions(&[("a.yaml", yaml)]).into_iter().map(|(c, _, l, _)| (c, l)).collect();
    assert_eq!(got, [("E014".to_string(), 3), ("E006".to_string(), 6), ("E019".to_string(), 10)]);
}

#[test]
fn a_syntax_error_names_the_missing_punctuation_where_it_is_missing() {
    let cases: [(&str, u64, u64, &str); 8] = [
        ("rule a b { when exists x to topic \"t\" }", 1, 8, "expected `{`, found `b`"),
        ("let c-d = exists x", 1, 6, "expected `=`, found `-d`"),
        ("rule r { when (exists a to topic \"t\" }", 1, 25, "expected `)`, `and` or `or`, found `to`"),
        ("rule r { when a in [1, 2 to topic \"t\" }", 1, 26, "expected `,` or `]`, found `to`"),
        ("rule r { when any items x == 1 to topic \"t\" }", 1, 25, "expected `(`, found `x`"),
        ("rule r { when exists a to webhook \"https://h\" { header \"a\" \"b\" } }", 1, 60, "expected `=`, found `\"b\"`"),
        ("rule ok { when exists a to topic \"t\" }\nrule r when exists a to topic \"t\" }", 2, 8, "expected `{`, found `when`"),
        ("default to topic \"t\"", 1, 9, "expected `{`, found `to`"),
    ];
    for (text, line, col, message) in cases {
        assert_eq!(one(text), ("E001".to_string(), line, col, message.to_string()), "{text}");
    }
    let (code, line, col, message) = one("rule r { when exists a to topic \"t\"\n");
    assert_eq!((code.as_str(), line, col), ("E001", 2, 1));
    assert!(message.ends_with("or `}`, found end of file"), "{message}");
}

#[test]
fn webhook_headers_and_signing_secrets_must_be_sendable() {
    let rule = |options: &str| format!("rule r {{\n  when exists eventId\n  to webhook \"https://p.example/h\" {{\n    {options}\n  }}\n}}\n");
    let (code, line, col, message) = one(&rule(r#"header "Bad Name" = "x""#));
    assert_eq!((code.as_str(), line, col), ("E015", 4, 12));
    assert_eq!(message, "`Bad Name` is not an HTTP header name");
    let (code, _, _, message) = one(&rule("header \"X-A\" = \"a\\nb\""));
    assert_eq!((code.as_str(), message.as_str()), ("E015", "this header value is not sendable over HTTP"));
    let (code, _, _, message) = one(&rule("header \"X-A\" = \"caf\\u00e9\""));
    assert_eq!((code.as_str(), message.as_str()), ("E015", "this header value is not sendable over HTTP"));
    let (code, _, _, message) = one(&rule(r#"sign "whsec_!!not-base64!!""#));
    assert_eq!(code, "E015");
    assert_eq!(message, "the signing secret starts with `whsec_` but the rest is not valid base64");
    assert!(!message.contains("not-base64!!"), "the secret is never quoted");
    assert_eq!(one(&rule(r#"sign """#)).3, "the signing secret is empty");
    // Sendable ones, and `${VAR}` (checked when the endpoint is built, on load and reload).
    for ok in [
        r#"header "X-Api-Key" = "k e\ty""#,
        r#"sign "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw""#,
        r#"sign "raw secret""#,
        r#"header "${HEADER_NAME:-X-A}" = "${VALUE:-v}""#,
        r#"sign "${SECRET:-whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}""#,
    ] {
        assert!(diags(&rule(ok)).is_empty(), "{ok}: {:?}", diags(&rule(ok)));
    }
}

#[test]
fn a_literal_topic_name_that_kafka_refuses_is_an_error() {
    let rule = |topic: &str| format!("rule r {{\n  when exists eventId\n  to topic \"{topic}\"\n}}\n");
    let (code, line, col, message) = one(&rule("a b"));
    assert_eq!((code.as_str(), line, col), ("E016", 3, 12));
    assert_eq!(message, "topic name `a b` has ' ', outside [A-Za-z0-9._-]");
    assert_eq!(one(&rule("..")).3, "topic name `..` is not allowed by Kafka");
    assert!(one(&rule(&"t".repeat(250))).3.ends_with("is 250 characters, more than Kafka's 249"));
    assert_eq!(one(&rule("events/{eventType}")).3, "topic name `events/{eventType}` has '/', outside [A-Za-z0-9._-]");
    for ok in ["events.member-created_v2", "events.{eventType}", "${TOPIC:-events.x}", "x.${ENV:-prod}.{data.kind}"] {
        assert!(diags(&rule(ok)).is_empty(), "{ok}: {:?}", diags(&rule(ok)));
    }
}
