//! End-to-end tests of `lint`, `explain`, `match` and `test`: the built binary on the shipped
//! rule sets (run from the repository root, as the README shows) and on small broken sets.
mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()))
}

fn switchboard(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.current_dir(root()).args(args).env_remove("CERT_BODY_TOKEN");
    c
}

fn run(args: &[&str]) -> Output {
    switchboard(args).output().expect("run switchboard")
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = switchboard(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// A rules directory with the given files, in the system temp dir.
fn rule_dir(files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(common::unique("switchboard-lang"));
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

#[test]
fn lint_is_clean_on_the_shipped_rules() {
    let o = run(&["lint"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let o = run(&["lint", "--format", "json", "rules"]);
    assert_eq!(code(&o), 0);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v, serde_json::json!({"diagnostics": []}));
}

#[test]
fn lint_reports_an_unset_variable_of_the_seed_yaml_unless_no_env() {
    let o = run(&["lint", "--format", "json", "examples/seed-yaml"]);
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "E011");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "examples/seed-yaml/routing.yaml");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(39), Some(28)));
    assert_eq!(code(&run(&["lint", "--no-env", "examples/seed-yaml"])), 0);
    let o = switchboard(&["lint", "examples/seed-yaml"]).env("CERT_BODY_TOKEN", "test-token").output().expect("run");
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

#[test]
fn lint_renders_like_rustc_and_counts_warnings_only_when_denied() {
    let dir = rule_dir(&[
        ("a.rules", "rule r {\n  when eventType matches /payment(/\n  to store\n}\n"),
        ("b.rules", "let unused = exists a\nrule quiet {\n  when exists eventType\n  to store\n}\n"),
    ]);
    let o = run(&["lint", dir.to_str().expect("utf-8")]);
    assert_eq!(code(&o), 1);
    let text = stdout(&o);
    assert!(text.contains("error[E006]: invalid regex: unclosed group"), "{text}");
    assert!(text.contains("a.rules:2:27"), "{text}");
    assert!(text.contains("  |                           ^^^^^^^^"), "{text}");
    assert!(text.contains("= hint:"), "{text}");
    assert!(text.contains("warning[W007]"), "{text}");
    let only_warning = dir.join("b.rules");
    assert_eq!(code(&run(&["lint", only_warning.to_str().expect("utf-8")])), 0);
    assert_eq!(code(&run(&["lint", "--deny-warnings", only_warning.to_str().expect("utf-8")])), 1);
    assert_eq!(code(&run(&["lint", "no/such/dir"])), 2);
}

#[test]
fn explain_names_the_failing_predicate_and_the_value_found() {
    let o = run(&["explain", "--event", "rules/events/payment-small.json", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["matched"], serde_json::json!([]));
    assert_eq!(v["deliveries"], serde_json::json!([]));
    let rules = v["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 3);
    let payment = rules.iter().find(|r| r["name"] == "payment_events_to_finance").expect("rule");
    assert_eq!(payment["matched"], false);
    assert_eq!(payment["reason"], "data.amount: 999 is not >= 1000");

    let o = run(&["explain", "--event", "rules/events/member-profile-updated.json", "--format", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["matched"], serde_json::json!(["member_events_to_crm"]));
    let d = &v["deliveries"][0];
    assert_eq!((d["rule"].as_str(), d["kind"].as_str(), d["target"].as_str()), (Some("member_events_to_crm"), Some("topic"), Some("crm.sync.queue")));
    assert_eq!(d["key"], "mem_12345");
    assert!(d["payload"].is_object());

    let o = run(&["explain", "--event", "rules/events/member-profile-updated.json"]);
    let text = stdout(&o);
    assert!(text.contains("✓ member_events_to_crm"), "{text}");
    assert!(text.contains("✗ payment_events_to_finance"), "{text}");
}

#[test]
fn explain_never_shows_a_secret() {
    let dir = rule_dir(&[(
        "a.rules",
        "rule hook {\n  when exists eventType\n  to webhook \"https://example.com/${HOOK_PATH:-x}\" {\n    header \"Authorization\" = \"Bearer ${CERT_BODY_TOKEN:-dev-token}\"\n  }\n}\n",
    )]);
    let event = dir.join("event.json");
    std::fs::write(&event, r#"{"eventType":"a.b"}"#).expect("write");
    let o = switchboard(&["--rules", dir.to_str().expect("utf-8"), "explain", "--event", event.to_str().expect("utf-8"), "--format", "json"])
        .env("CERT_BODY_TOKEN", "s3cret-value")
        .output()
        .expect("run");
    let out = stdout(&o);
    assert!(!out.contains("s3cret-value") && !out.contains("dev-token"), "{out}");
    assert!(out.contains("https://example.com/${HOOK_PATH}"), "{out}");
}

#[test]
fn a_file_named_twice_is_linted_once() {
    let dir = rule_dir(&[("a.rules", "rule r {\n  when exists eventId\n  to topic \"t\"\n}\n")]);
    let d = dir.to_str().expect("utf-8");
    let file = dir.join("a.rules");
    for args in [vec!["lint", d, d], vec!["lint", d, file.to_str().expect("utf-8")]] {
        let o = run(&args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stdout(&o));
        assert!(stdout(&o).contains("ok: 1 file(s)"), "{args:?}: {}", stdout(&o));
    }
}

#[test]
fn explain_text_escapes_control_characters_of_the_event() {
    let dir = rule_dir(&[("a.rules", "rule r {\n  when data.x == \"y\"\n  to topic \"t-{data.x}\"\n}\n")]);
    let event = dir.join("event.json");
    std::fs::write(&event, r#"{"eventId":"id\u001b[2J\tx","eventType":"a.b","data":{"x":"\u001b]0;pwned\u0007"}}"#).expect("write");
    let o = run(&["--rules", dir.to_str().expect("utf-8"), "explain", "--event", event.to_str().expect("utf-8")]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
    assert!(out.contains("event id\\u{1b}[2J\\tx (a.b)"), "{out}");
    assert!(out.contains("]0;pwned"), "the reason quotes the value, escaped: {out}");
}

#[test]
fn match_writes_one_stable_line_per_input_line() {
    let input = concat!(
        r#"{"eventType":"payment.captured","data":{"amount":5000}}"#, "\n",
        "\n",
        "not json\n",
        "[1,2]\n",
        r#"{"eventType":"certification.issued"}"#, "\n",
        r#"{"eventType":"nothing"}"#, "\n",
    );
    let o = run_stdin(&["match"], input);
    assert_eq!(code(&o), 0);
    let lines: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0], serde_json::json!({"line": 1, "matched": ["payment_events_to_finance"]}));
    assert_eq!(lines[1]["line"], 3);
    assert!(lines[1]["error"].is_string());
    assert_eq!(lines[2]["line"], 4);
    assert!(lines[2]["error"].is_string());
    assert_eq!(lines[3], serde_json::json!({"line": 5, "matched": ["certification_updates"]}));
    assert_eq!(lines[4], serde_json::json!({"line": 6, "matched": []}));
}

/// `--timing` (what bench/peers times) adds one JSON line on stderr and changes nothing on stdout.
#[test]
fn match_timing_reports_load_and_event_times_on_stderr() {
    let input = "{\"eventType\":\"payment.captured\",\"data\":{\"amount\":5000}}\n{\"eventType\":\"nothing\"}\n";
    let plain = run_stdin(&["match"], input);
    let timed = run_stdin(&["match", "--timing"], input);
    assert_eq!(code(&timed), 0);
    assert_eq!(stdout(&timed), stdout(&plain));
    let stderr = String::from_utf8_lossy(&timed.stderr);
    let line: Value = serde_json::from_str(stderr.lines().last().expect("a timing line")).expect("json");
    assert_eq!(line["events"], 2);
    assert!(line["load_s"].as_f64().expect("load_s") > 0.0);
    assert!(line["events_s"].as_f64().expect("events_s") > 0.0);
}

#[test]
fn match_reports_default_and_exits_2_on_a_set_that_does_not_load() {
    let dir = rule_dir(&[("a.rules", "default {\n  to topic \"unrouted\"\n}\nrule r {\n  when a == 1\n  to store\n}\n")]);
    let o = run_stdin(&["--rules", dir.to_str().expect("utf-8"), "match"], "{\"a\":2}\n{\"a\":1}\n");
    assert_eq!(stdout(&o), "{\"line\":1,\"matched\":[\"default\"]}\n{\"line\":2,\"matched\":[\"r\"]}\n");
    let broken = rule_dir(&[("a.rules", "rule r {\n  when a == 1\n  to topic \"t\" transform \"missing\"\n}\n")]);
    let o = run_stdin(&["--rules", broken.to_str().expect("utf-8"), "match"], "{}\n");
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("E009"));
}

#[test]
fn test_passes_on_the_shipped_rule_sets() {
    let o = run(&["test"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("8 passed; 0 failed"), "{}", stdout(&o));
    let o = run(&["test", "examples/seed-yaml"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
}

#[test]
fn test_prints_a_diff_and_exits_1_on_a_failing_case() {
    let dir = rule_dir(&[
        ("a.rules", "rule r {\n  when a == 1\n  to topic \"t.{a}\"\n}\n"),
        (
            "a.test.yaml",
            "tests:\n  - name: wrong expectation\n    event: { a: 1 }\n    expect:\n      rules: [other]\n      topics: [t.2]\n",
        ),
    ]);
    let o = run(&["test", dir.to_str().expect("utf-8")]);
    assert_eq!(code(&o), 1);
    let text = stdout(&o);
    assert!(text.contains("FAIL"), "{text}");
    assert!(text.contains("- [other]") && text.contains("+ [r]"), "{text}");
    assert!(text.contains("- [t.2]") && text.contains("+ [t.1]"), "{text}");
}

#[test]
fn explain_and_test_refuse_an_event_that_is_not_an_object() {
    let dir = rule_dir(&[
        ("a.rules", "rule r {\n  when not exists a\n  to topic \"t\"\n}\n"),
        ("ev.json", "[1]"),
    ]);
    let d = dir.to_str().expect("utf-8");
    let event = dir.join("ev.json");
    let o = run(&["--rules", d, "explain", "--event", event.to_str().expect("utf-8"), "--format", "json"]);
    assert_eq!(code(&o), 2);
    assert_eq!(stdout(&o), "");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("ev.json is not a JSON object"), "{stderr}");
    let o = run_stdin(&["--rules", d, "match"], "[1]\n");
    assert_eq!(stdout(&o), "{\"line\":1,\"error\":\"not a JSON object\"}\n", "as `match` does");
    std::fs::write(dir.join("a.test.yaml"), "tests:\n  - name: array\n    event: [1]\n    expect: { rules: [r] }\n").expect("write");
    let o = run(&["--rules", d, "test", d]);
    assert_eq!(code(&o), 2);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("test `array`: the event is not a JSON object"), "{stderr}");
}

#[test]
fn match_timing_counts_events_not_blank_lines() {
    let timed = run_stdin(&["match", "--timing"], "\n\n   \n{\"eventType\":\"nothing\"}\nnot json\n\n");
    assert_eq!(code(&timed), 0);
    assert_eq!(stdout(&timed).lines().count(), 2);
    let stderr = String::from_utf8_lossy(&timed.stderr);
    let line: Value = serde_json::from_str(stderr.lines().last().expect("a timing line")).expect("json");
    assert_eq!(line["events"], 2, "one event and one error line; blank lines are not events");
}

#[test]
fn match_exits_quietly_when_its_reader_goes_away() {
    use std::io::BufRead;
    let mut child =
        switchboard(&["match"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let line = "{\"eventType\":\"payment.captured\",\"data\":{\"amount\":5000}}\n".repeat(1000);
        // The command stops reading once its output is closed: a write error here is expected.
        for _ in 0..200 {
            if stdin.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
    });
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("first line");
    assert_eq!(first, "{\"line\":1,\"matched\":[\"payment_events_to_finance\"]}\n");
    drop(out);
    let o = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 0, "{stderr}");
    assert_eq!(stderr, "", "no `Broken pipe` message");
}

/// A Kubernetes ConfigMap volume (`..data` → `..<timestamp>/`, top-level links into `..data`),
/// an editor's swap file and a symlink loop: each rule once, nothing hidden read, no endless walk.
#[test]
fn lint_reads_a_configmap_volume_once_and_survives_link_loops() {
    use std::os::unix::fs::symlink;
    let rule = "rule r1 {\n  when exists eventId\n  to topic \"t\"\n}\n";
    let dir = rule_dir(&[("..2026_12_04_10_00_00.123/a.rules", rule), (".a.rules.swp", "not a rule file"), ("nested/b.rules", "rule r2 {\n  when exists eventId\n  to topic \"u\"\n}\n")]);
    symlink("..2026_12_04_10_00_00.123", dir.join("..data")).unwrap();
    symlink("..data/a.rules", dir.join("a.rules")).unwrap();
    symlink("..", dir.join("nested/loop")).unwrap();
    symlink("nested", dir.join("again")).unwrap();
    let d = dir.to_str().unwrap();
    let o = run(&["lint", "--format", "json", d]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v, serde_json::json!({"diagnostics": []}));
    // Both rules are there, once each.
    let o = run_stdin(&["match", "--rules", d], "{\"eventId\": \"e1\"}\n");
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let line: Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON line");
    assert_eq!(line["matched"], serde_json::json!(["r1", "r2"]), "{line}");
}

/// `lint` (like `explain`, `test`, `match`) looks where `serve` does: the configuration file's
/// `rules`, then `SWITCHBOARD_RULES`, then the flag.
#[test]
fn lint_takes_the_rules_directory_from_the_config_and_the_environment() {
    let dir = rule_dir(&[("R/a.rules", "rule r1 {\n  when exists eventId\n  to topic \"t\"\n}\n"), ("broken/b.rules", "rule {\n")]);
    std::fs::write(dir.join("switchboard.yaml"), "rules: R\n").unwrap();
    let lint = |envs: &[(&str, &str)], args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        c.current_dir(&dir).arg("lint").args(args).env_remove("SWITCHBOARD_RULES");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().expect("run")
    };
    let o = lint(&[], &[]);
    assert_eq!(code(&o), 0, "the config's rules: {}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("1 file(s)"), "{}", stdout(&o));
    assert_eq!(code(&lint(&[("SWITCHBOARD_RULES", "broken")], &[])), 1, "the environment overrides the file");
    assert_eq!(code(&lint(&[("SWITCHBOARD_RULES", "broken")], &["--rules", "R"])), 0, "the flag overrides both");
}
