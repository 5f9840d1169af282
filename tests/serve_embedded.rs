//! `switchboard serve` in its embedded mode (no external service): the seed's three rules over
//! HTTP ingestion and the local bus, the CloudEvents binding, validation errors, the webhook to a
//! real loopback server, `topics list|tail`, and a clean SIGTERM.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{envelope, tail_topic, Gateway};
use serde_json::{json, Value};

fn rules_with_webhook(dir: &Path, webhook: &str) -> PathBuf {
    let rules = dir.join("rules");
    common::copy_dir(&common::repo().join("rules"), &rules);
    for entry in std::fs::read_dir(&rules).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rules") {
            let text = std::fs::read_to_string(&path).unwrap().replace("https://cert-body.org/webhook", webhook);
            std::fs::write(&path, text).unwrap();
        }
    }
    rules
}

fn start(dir: &Path, rules: &Path, envs: &[(&str, &str)]) -> Gateway {
    let transforms = common::repo().join("transforms");
    let data = dir.join("data");
    Gateway::start(
        &["--rules", rules.to_str().unwrap(), "--transforms", transforms.to_str().unwrap(), "--data", data.to_str().unwrap()],
        envs,
    )
}

fn wait_topic(data: &Path, topic: &str, n: usize) -> Vec<Value> {
    common::eventually(Duration::from_secs(30), || {
        let got = tail_topic(data, topic);
        (got.len() >= n).then_some(got)
    })
    .unwrap_or_else(|| panic!("topic {topic} did not reach {n} messages: {:?}", tail_topic(data, topic)))
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_rules_over_http_and_the_local_bus() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = common::receiver::start(1);
    let rules = rules_with_webhook(dir.path(), &receiver.url);
    let gw = start(dir.path(), &rules, &[("CERT_BODY_TOKEN", "embedded-secret")]);
    let data = dir.path().join("data");
    let client = reqwest::Client::new();

    let member = envelope("m1", "member.created", json!({"firstName": "Ada", "lastName": "L", "email": "A@B.ORG"}), &["sync_to_crm"]);
    let payment = envelope("p1", "payment.captured", json!({"amount": 1000}), &[]);
    let cert = envelope("c1", "certification.renewed", json!({}), &[]);
    let r = client.post(gw.url("/events")).json(&json!([member, payment, cert])).send().await.unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());

    // CloudEvents, binary mode.
    let r = client
        .post(gw.url("/events"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "ce-1")
        .header("ce-type", "payment.authorized")
        .header("ce-source", "urn:payments")
        .header("ce-time", "2024-01-20T15:30:45Z")
        .header("content-type", "application/json")
        .body(r#"{"amount": 2500}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    // CloudEvents, structured mode.
    let ce = json!({"specversion": "1.0", "id": "ce-2", "type": "payment.refunded", "source": "urn:payments",
                    "time": "2024-01-20T15:30:45Z", "data": {"amount": 3000}});
    let r = client
        .post(gw.url("/events"))
        .header("content-type", "application/cloudevents+json")
        .body(ce.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    // Invalid envelopes are refused with the field named; nothing of the request is accepted.
    let mut bad = envelope("x1", "member.created", json!({}), &[]);
    bad["eventTime"] = json!("yesterday");
    let r = client.post(gw.url("/events")).json(&json!([envelope("ok1", "member.created", json!({}), &[]), bad])).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["field"], "eventTime", "{body}");
    assert_eq!(body["error"]["index"], 1, "{body}");
    let r = client.post(gw.url("/events")).body("{nope").header("content-type", "application/json").send().await.unwrap();
    assert_eq!(r.status(), 400);

    let crm = wait_topic(&data, "crm.sync.queue", 1);
    assert_eq!(crm.len(), 1);
    assert_eq!(crm[0]["value"]["externalId"], "mem_m1");
    assert_eq!(crm[0]["value"]["contact"]["email"], "a@b.org");
    assert_eq!(crm[0]["key"], "mem_m1");
    assert_eq!(crm[0]["headers"]["eventType"], "member.created");
    let finance = wait_topic(&data, "finance.high_value_transactions", 3);
    let ids: Vec<&str> = finance.iter().map(|m| m["value"]["eventId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["p1", "ce-1", "ce-2"]);
    assert_eq!(wait_topic(&data, "audit.financial_events", 3).len(), 3);
    assert_eq!(wait_topic(&data, "certification.updates", 1)[0]["value"]["eventId"], "c1");

    // The webhook: the receiver fails the first attempt, the retry lands.
    let hooks = common::eventually(Duration::from_secs(30), || {
        let r = receiver.requests.lock().unwrap();
        (!r.is_empty()).then(|| r.clone())
    })
    .expect("no webhook delivered");
    assert_eq!(hooks[0].body["eventId"], "c1");
    assert_eq!(hooks[0].header("authorization"), Some("Bearer embedded-secret"));
    assert_eq!(hooks[0].header("webhook-id"), Some("c1"), "webhook-id is the eventId, for the partner's dedup");
    assert_eq!(hooks[0].header("webhook-signature"), None, "unsigned target: no signature");

    let out = Command::new(common::binary()).arg("--data").arg(&data).args(["topics", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(list.contains("finance.high_value_transactions\t3"), "{list}");
    assert!(list.contains("events.ingest\t5"), "{list}");

    let rules_info: Value = client.get(gw.url("/rules")).send().await.unwrap().json().await.unwrap();
    assert_eq!(rules_info["rule_count"], 3);
    assert_eq!(client.get(gw.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(client.get(gw.url("/readyz")).send().await.unwrap().status(), 200);
    let metrics = client.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for name in [
        "events_processed_total",
        "event_processing_duration_seconds_bucket",
        "batch_stage_duration_seconds_bucket{stage=\"publish\"",
        "batch_stage_duration_seconds_bucket{stage=\"plan\"",
        "rule_matches_total",
        "webhook_deliveries_total",
        "rules_version_info",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    let logs = gw.logs();
    assert!(!logs.contains("embedded-secret"), "the secret leaked into a log line");
    assert_eq!(gw.terminate(Duration::from_secs(30)), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_auth_and_body_limit() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("a.rules"), "rule everything {\n  when exists eventId\n  to topic \"all\"\n}\n").unwrap();
    let config = dir.path().join("switchboard.yaml");
    std::fs::write(&config, "http:\n  auth_token: \"${SB_TEST_INGEST_TOKEN}\"\n  max_body_bytes: 4096\n").unwrap();
    let transforms = common::repo().join("transforms");
    let data = dir.path().join("data");
    let gw = Gateway::start(
        &["--config", config.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--transforms", transforms.to_str().unwrap(), "--data", data.to_str().unwrap()],
        &[("SB_TEST_INGEST_TOKEN", "t0k3n")],
    );
    let client = reqwest::Client::new();
    let event = envelope("a1", "member.created", json!({}), &[]);
    let r = client.post(gw.url("/events")).json(&event).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client.post(gw.url("/events")).bearer_auth("wrong").json(&event).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client.post(gw.url("/events")).bearer_auth("t0k3n").json(&event).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let big = envelope("a2", "member.created", json!({"blob": "x".repeat(10_000)}), &[]);
    let r = client.post(gw.url("/events")).bearer_auth("t0k3n").json(&big).send().await.unwrap();
    assert_eq!(r.status(), 413, "the body limit applies");
    assert_eq!(wait_topic(&data, "all", 1).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_resumes_from_the_committed_offset_and_dedups() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("a.rules"), "rule everything {\n  when exists eventId\n  to topic \"all\"\n}\n").unwrap();
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let events: Vec<Value> = (0..50).map(|i| envelope(&format!("r{i}"), "member.created", json!({}), &[])).collect();
    {
        let gw = start(dir.path(), &rules, &[]);
        let r = client.post(gw.url("/events")).json(&events).send().await.unwrap();
        assert_eq!(r.status(), 202);
        wait_topic(&data, "all", 50);
        assert_eq!(gw.terminate(Duration::from_secs(30)), Some(0));
    }
    let gw = start(dir.path(), &rules, &[]);
    // The same events again: within the dedup window, after a restart, they are duplicates.
    let r = client.post(gw.url("/events")).json(&events[..10]).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let fresh = envelope("fresh", "member.created", json!({}), &[]);
    client.post(gw.url("/events")).json(&fresh).send().await.unwrap();
    let all = wait_topic(&data, "all", 51);
    std::thread::sleep(Duration::from_millis(500));
    let all_again = tail_topic(&data, "all");
    assert_eq!(all_again.len(), 51, "nothing re-routed after the restart, duplicates dropped: {}", all.len());
    let metrics = client.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("events_duplicate_total 10"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn to_store_and_the_store_http_api() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("a.rules"), "rule member_stream {\n  when eventType starts_with \"member.\"\n  to store\n}\n").unwrap();
    let gw = start(dir.path(), &rules, &[]);
    let client = reqwest::Client::new();
    let events: Vec<Value> = (0..3)
        .map(|i| {
            let mut e = envelope(&format!("s{i}"), "member.profile.updated", json!({"i": i}), &[]);
            e["subject"]["id"] = json!("mem_store");
            e["eventTime"] = json!(format!("2024-01-20T15:30:4{i}Z"));
            e
        })
        .collect();
    assert_eq!(client.post(gw.url("/events")).json(&events).send().await.unwrap().status(), 202);
    let read = common::eventually(Duration::from_secs(30), || {
        let rt = tokio::runtime::Handle::current();
        let v: Value = tokio::task::block_in_place(|| {
            rt.block_on(async { client.get(gw.url("/aggregates/mem_store/events")).send().await.unwrap().json().await.unwrap() })
        });
        (v["events"].as_array().map(Vec::len) == Some(3)).then_some(v)
    })
    .expect("the store did not get the 3 events");
    let seqs: Vec<u64> = read["events"].as_array().unwrap().iter().map(|e| e["sequence"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(read["events"][0]["event"], events[0], "stored as received");

    // The command side: optimistic concurrency.
    let next = envelope("s3", "member.profile.updated", json!({}), &[]);
    let r = client.post(gw.url("/aggregates/mem_store/events")).json(&json!({"expectedVersion": 2, "events": [next]})).send().await.unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["currentVersion"], 3);
    let r = client.post(gw.url("/aggregates/mem_store/events")).json(&json!({"expectedVersion": 3, "events": [next]})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!((body["version"].as_u64(), body["appended"].as_u64()), (Some(4), Some(1)));
    let mut bad = next.clone();
    bad.as_object_mut().unwrap().remove("eventType");
    let r = client.post(gw.url("/aggregates/mem_store/events")).json(&json!({"expectedVersion": "any", "events": [bad]})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "events[0].eventType");

    let by_time: Value = client
        .get(gw.url("/events?type=member.profile.updated&from=2024-01-20T00:00:00Z&to=2024-01-21T00:00:00Z"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_time["events"].as_array().unwrap().len(), 4, "{by_time}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_webhook_goes_to_the_dlq_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = common::receiver::start_with(1, axum::http::StatusCode::BAD_REQUEST);
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("a.rules"),
        format!("rule partner {{\n  when eventType == \"certification.issued\"\n  to webhook \"{}\" {{\n    sign \"${{SB_TEST_SIGNING:-whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}}\"\n  }}\n}}\n", receiver.url),
    )
    .unwrap();
    let gw = start(dir.path(), &rules, &[]);
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let cert = envelope("w1", "certification.issued", json!({"n": 1}), &[]);
    assert_eq!(client.post(gw.url("/events")).json(&cert).send().await.unwrap().status(), 202);

    // A 400 is not retried: the delivery goes to the DLQ with the status.
    let dlq = wait_topic(&data, "events.dlq", 1);
    let record = &dlq[0]["value"];
    assert_eq!(record["error"]["type"], "WebhookRejected", "{record}");
    assert_eq!(record["attempts"][0]["status"], 400, "{record}");
    assert_eq!(record["originalEvent"]["eventId"], "w1");
    assert!(receiver.requests.lock().unwrap().is_empty());

    let dlq_cmd = |args: &[&str]| {
        let out = Command::new(common::binary())
            .arg("--data")
            .arg(&data)
            .arg("--rules")
            .arg(&rules)
            .env("SWITCHBOARD_LISTEN", &gw.addr)
            .arg("dlq")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "dlq {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let list = dlq_cmd(&["list", "--filter", "type=WebhookRejected"]);
    assert!(list.contains("WebhookRejected\tw1\tcertification.issued"), "{list}");
    assert!(dlq_cmd(&["list", "--filter", "eventId=nope"]).is_empty());
    let shown: Value = serde_json::from_str(&dlq_cmd(&["show", "0"])).unwrap();
    assert_eq!(shown["webhookId"], "w1");

    // Replay through the running gateway: the partner now accepts, and the signature verifies.
    dlq_cmd(&["replay", "--filter", "eventId=w1"]);
    let hooks = common::eventually(Duration::from_secs(30), || {
        let r = receiver.requests.lock().unwrap();
        (!r.is_empty()).then(|| r.clone())
    })
    .expect("the replayed delivery did not arrive");
    let h = &hooks[0];
    assert_eq!(h.header("webhook-id"), Some("w1"));
    assert_eq!(h.body["eventId"], "w1");
    let signed = format!("{}.{}.{}", h.header("webhook-id").unwrap(), h.header("webhook-timestamp").unwrap(), h.body_text);
    let script = "import sys,hmac,hashlib,base64\nkey=base64.b64decode('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')\nprint('v1,'+base64.b64encode(hmac.new(key, sys.stdin.buffer.read(), hashlib.sha256).digest()).decode())";
    let mut py = Command::new("python3").arg("-c").arg(script).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    py.stdin.take().unwrap().write_all(signed.as_bytes()).unwrap();
    let expected = String::from_utf8(py.wait_with_output().unwrap().stdout).unwrap();
    assert!(h.header("webhook-signature").unwrap().split(' ').any(|s| s == expected.trim()), "signature {:?} vs {expected}", h.header("webhook-signature"));
}
