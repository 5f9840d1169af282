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
    assert_eq!(r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    let r = client.post(gw.url("/events")).bearer_auth("wrong").json(&event).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client.post(gw.url("/events")).bearer_auth("t0k3n").json(&event).send().await.unwrap();
    assert_eq!(r.status(), 202);
    // The scheme is case-insensitive.
    let second = envelope("a3", "member.created", json!({}), &[]);
    let r = client.post(gw.url("/events")).header("authorization", "bearer t0k3n").json(&second).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let big = envelope("a2", "member.created", json!({"blob": "x".repeat(10_000)}), &[]);
    // Without the token: 401 before the size is looked at.
    let r = client.post(gw.url("/events")).json(&big).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client.post(gw.url("/events")).bearer_auth("t0k3n").json(&big).send().await.unwrap();
    assert_eq!(r.status(), 413, "the body limit applies");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["field"], "body", "a JSON error like the other 4xx: {body}");
    // Every write endpoint is covered: reload, webhook replay, the event store's command side.
    for path in ["/-/reload", "/-/dlq/replay", "/aggregates/mem_x/events"] {
        let r = client.post(gw.url(path)).json(&json!({"expectedVersion": "any", "events": [event]})).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"), "{path}");
    }
    let r = client.post(gw.url("/-/reload")).bearer_auth("t0k3n").send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Reads stay open.
    assert_eq!(client.get(gw.url("/aggregates/mem_x/events")).send().await.unwrap().status(), 200);
    assert_eq!(wait_topic(&data, "all", 2).len(), 2);
    let metrics = client.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("events_processing_errors_total{error_type=\"unauthorized\"} 6"), "{metrics}");
    assert!(metrics.contains("events_processing_errors_total{error_type=\"body_too_large\"} 1"), "{metrics}");
}

/// This host's address on its network (the one its default route leaves from), not loopback.
fn host_address() -> std::net::IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    // A UDP connect sends nothing; it only picks the route (203.0.113.0/24 is TEST-NET-3).
    socket.connect("203.0.113.1:9").expect("this test needs a non-loopback IPv4 address with a default route");
    let ip = socket.local_addr().unwrap().ip();
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "no address beyond loopback: {ip}");
    ip
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_token_the_admin_endpoints_answer_only_this_host() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("a.rules"), "rule everything {\n  when exists eventId\n  to topic \"all\"\n}\n").unwrap();
    let transforms = common::repo().join("transforms");
    let data = dir.path().join("data");
    let mut gw = Gateway::start_on(
        "0.0.0.0:0",
        &["--rules", rules.to_str().unwrap(), "--transforms", transforms.to_str().unwrap(), "--data", data.to_str().unwrap()],
        &[],
    );
    let port = gw.addr.rsplit(':').next().unwrap().to_owned();
    let outside = format!("http://{}:{port}", host_address());
    let inside = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for path in ["/-/reload", "/-/dlq/replay", "/-/dlq/replay-events"] {
        let r = client.post(format!("{outside}{path}")).json(&json!([])).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path} from another address");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["field"], "Authorization", "{body}");
    }
    let r = client.post(format!("{inside}/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 200, "from loopback");
    let r = client.post(format!("{inside}/-/dlq/replay")).json(&json!([])).send().await.unwrap();
    assert_eq!(r.status(), 200, "from loopback");
    // Ingestion and reads stay open (the documented default), and the start-up log warned.
    let event = envelope("o1", "member.created", json!({}), &[]);
    assert_eq!(client.post(format!("{outside}/events")).json(&event).send().await.unwrap().status(), 202);
    assert_eq!(client.get(format!("{outside}/rules")).send().await.unwrap().status(), 200);
    assert_eq!(wait_topic(&data, "all", 1).len(), 1);
    let metrics = client.get(format!("{outside}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("events_processing_errors_total{error_type=\"unauthorized\"} 3"), "{metrics}");
    assert!(gw.logs().contains("listening beyond this host with no http.auth_token"), "{}", gw.logs());
    gw.signal("TERM");
    assert_eq!(gw.wait_exit(Duration::from_secs(30)), Some(0));
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

/// The store's HTTP API on bad input (JSON 4xx naming the parameter, the body limit of
/// `http.max_body_bytes`, 415) and `GET /events` paging with its `next` cursor over events that
/// all share one eventTime.
#[tokio::test(flavor = "multi_thread")]
async fn the_store_http_api_refuses_bad_requests_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("a.rules"), "rule member_stream {\n  when eventType starts_with \"member.\"\n  to store\n}\n").unwrap();
    let config = dir.path().join("switchboard.yaml");
    std::fs::write(&config, "http:\n  max_body_bytes: 4096\n").unwrap();
    let transforms = common::repo().join("transforms");
    let data = dir.path().join("data");
    let gw = Gateway::start(
        &["--config", config.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--transforms", transforms.to_str().unwrap(), "--data", data.to_str().unwrap()],
        &[],
    );
    let client = reqwest::Client::new();
    async fn refused(r: reqwest::Response, status: u16, field: &str) {
        assert_eq!(r.status(), status);
        let body: Value = r.json().await.expect("a JSON error body");
        assert_eq!(body["error"]["field"], field, "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    let post = |id: &str| client.post(gw.url(&format!("/aggregates/{id}/events")));

    // The command side.
    let big: Vec<Value> = (0..20).map(|i| envelope(&format!("big{i}"), "member.updated", json!({}), &[])).collect();
    refused(post("agg").json(&json!({"expectedVersion": "any", "events": big})).send().await.unwrap(), 413, "body").await;
    let one = envelope("one", "member.updated", json!({}), &[]);
    let body = json!({"expectedVersion": "any", "events": [one]}).to_string();
    refused(post("agg").header("content-type", "text/plain").body(body.clone()).send().await.unwrap(), 415, "Content-Type").await;
    refused(post("agg").body(body.clone()).send().await.unwrap(), 415, "Content-Type").await;
    refused(post("agg").header("content-type", "application/json").body("{\"expectedVersion\": \"any\", ").send().await.unwrap(), 400, "$").await;
    let over = format!("{{\"expectedVersion\": 9223372036854775808, \"events\": [{one}]}}");
    refused(post("agg").header("content-type", "application/json").body(over).send().await.unwrap(), 400, "expectedVersion").await;
    refused(post("agg").json(&json!({"expectedVersion": -1, "events": [one]})).send().await.unwrap(), 400, "expectedVersion").await;
    refused(post("%20").json(&json!({"expectedVersion": "any", "events": [one]})).send().await.unwrap(), 400, "aggregateId").await;
    assert!(client.get(gw.url("/aggregates/agg/events")).send().await.unwrap().json::<Value>().await.unwrap()["events"].as_array().unwrap().is_empty(), "nothing refused was stored");

    // The read side.
    for (path, field) in [
        ("/aggregates/%20/events", "aggregateId"),
        ("/aggregates/agg/events?from=x", "from"),
        ("/aggregates/agg/events?limit=0", "limit"),
        ("/events?limit=abc", "limit"),
        ("/events?limit=1&limit=2", "limit"),
        ("/events?from=yesterday", "from"),
        ("/events?to=2024-13-01T00:00:00Z", "to"),
        ("/events?after=bm90LWEtY3Vyc29y", "after"),
    ] {
        refused(client.get(gw.url(path)).send().await.unwrap(), 400, field).await;
    }

    // Numbers keep their digits; the exponent gets its sign (docs/event-store.md says so).
    let exact = r#"{"expectedVersion": "none", "events": [{"eventId": "n1", "eventType": "member.updated", "eventVersion": "2.0", "eventTime": "2024-01-20T15:30:45Z", "producer": {"service": "s", "instance": "i", "version": "1"}, "subject": {"type": "member", "id": "mem_n"}, "data": {"amount": 12.50, "big": 1234567890123456789012, "e": 1e3}, "metadata": {"correlationId": "c"}}]}"#;
    let r = post("numbers").header("content-type", "application/json").body(exact).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let text = client.get(gw.url("/aggregates/numbers/events")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#""data":{"amount":12.50,"big":1234567890123456789012,"e":1e+3}"#), "{text}");

    // 23 events at one eventTime over four aggregates, then paging 4 at a time.
    let mut all = Vec::new();
    for (a, n) in [("pb", 5), ("pa", 5), ("pd", 5), ("pc", 5), ("pa", 3)] {
        let events: Vec<Value> = (0..n)
            .map(|i| {
                let id = format!("{a}-{}", all.iter().filter(|(x, _): &&(String, String)| x == a).count() + i);
                let mut e = envelope(&id, "member.updated", json!({}), &[]);
                e["eventTime"] = json!("2024-02-01T00:00:00Z");
                e
            })
            .collect();
        for e in &events {
            all.push((a.to_string(), e["eventId"].as_str().unwrap().to_string()));
        }
        let r = post(a).json(&json!({"expectedVersion": "any", "events": events})).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let window = "from=2024-02-01T00:00:00Z&to=2024-02-02T00:00:00Z&type=member.updated";
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &after {
            None => format!("/events?{window}&limit=4"),
            Some(c) => format!("/events?{window}&limit=4&after={c}"),
        };
        let page: Value = client.get(gw.url(&q)).send().await.unwrap().json().await.unwrap();
        pages += 1;
        assert_eq!(page["limit"], 4);
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 4);
        seen.extend(events.iter().map(|e| (e["aggregateId"].as_str().unwrap().to_string(), e["event"]["eventId"].as_str().unwrap().to_string())));
        match page["next"].as_str() {
            Some(c) => after = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 20, "paging does not end");
    }
    all.sort_by(|x, y| x.0.cmp(&y.0)); // stable: sequence order within an aggregate
    assert_eq!(seen, all, "every event once, in (eventTime, aggregate, sequence) order");
    assert_eq!(pages, 6, "23 events in pages of 4; the last page has no next");
    let capped: Value = client.get(gw.url(&format!("/events?{window}&limit=20000"))).send().await.unwrap().json().await.unwrap();
    assert_eq!((capped["limit"].as_u64(), capped["events"].as_array().unwrap().len()), (Some(10_000), 23));
    assert!(capped["next"].is_null());
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

/// Two rules sending one event to one partner through different transforms are two deliveries
/// with their own `webhook-id`s; a URL taken from the environment is never shown (metrics show
/// the placeholder); a reload whose webhook endpoint cannot be built is refused and the old
/// rules keep serving.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_identity_labels_and_a_reload_that_cannot_build_an_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = common::receiver::start(0);
    let hook = format!("{}/services/T0/B0/s3cretTOKEN", receiver.url);
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let good = "rule plain {\n  when eventType == \"member.created\"\n  to webhook \"${SB_TEST_HOOK}\"\n}\n\
                rule crm {\n  when eventType == \"member.created\"\n  to webhook \"${SB_TEST_HOOK}\" transform \"member_to_crm\"\n}\n";
    std::fs::write(rules.join("a.rules"), good).unwrap();
    let gw = start(dir.path(), &rules, &[("SB_TEST_HOOK", &hook), ("SB_TEST_BAD_SIGN", "whsec_!!not-base64!!")]);
    let client = reqwest::Client::new();
    let member = envelope("m1", "member.created", json!({"firstName": "Ada", "lastName": "L", "email": "a@b.org"}), &[]);
    assert_eq!(client.post(gw.url("/events")).json(&member).send().await.unwrap().status(), 202);
    let hooks = common::eventually(Duration::from_secs(30), || {
        let r = receiver.requests.lock().unwrap();
        (r.len() >= 2).then(|| r.clone())
    })
    .expect("two deliveries");
    let mut ids: Vec<&str> = hooks.iter().map(|h| h.header("webhook-id").unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["m1", "m1.member_to_crm"], "one webhook-id per message");
    let plain = hooks.iter().find(|h| h.header("webhook-id") == Some("m1")).unwrap();
    assert_eq!(plain.body["eventId"], "m1", "the event itself");
    let crm = hooks.iter().find(|h| h.header("webhook-id") == Some("m1.member_to_crm")).unwrap();
    assert_ne!(crm.body, plain.body, "the transform's output");

    let metrics = client.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("s3cretTOKEN"), "the URL's path from the environment leaked:\n{metrics}");
    assert!(metrics.contains(r#"endpoint="${SB_TEST_HOOK}""#), "the placeholder names the endpoint:\n{metrics}");
    assert!(!gw.logs().contains("s3cretTOKEN"), "the URL leaked into the logs");

    // A signing secret from the environment that is not base64: the endpoint cannot be built.
    std::fs::write(rules.join("a.rules"), good.replace("\"${SB_TEST_HOOK}\"\n}", "\"${SB_TEST_HOOK}\" {\n    sign \"${SB_TEST_BAD_SIGN}\"\n  }\n}")).unwrap();
    let r = client.post(gw.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("base64") && error.contains("${SB_TEST_HOOK}"), "{error}");
    assert!(!error.contains("s3cretTOKEN") && !error.contains("not-base64"), "secrets in the error: {error}");
    let status: Value = client.get(gw.url("/rules")).send().await.unwrap().json().await.unwrap();
    assert!(status.to_string().contains("base64"), "{status}");
    // The old rules keep serving: both deliveries of the next event arrive.
    let next = envelope("m2", "member.created", json!({"firstName": "B", "lastName": "C", "email": "b@c.org"}), &[]);
    assert_eq!(client.post(gw.url("/events")).json(&next).send().await.unwrap().status(), 202);
    common::eventually(Duration::from_secs(30), || (receiver.requests.lock().unwrap().len() >= 4).then_some(()))
        .expect("the old rules stopped delivering after a refused reload");
    let metrics = client.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    // POST /-/reload, and perhaps the file watcher too, refused it.
    let failures: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rules_reload_total{result=\"failure\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(failures >= 1.0, "{metrics}");
    assert_eq!(metrics.lines().filter(|l| l.starts_with("rules_version_info{")).count(), 1, "one version series:\n{metrics}");
    // Fixed and reloaded: a new version, still one series.
    std::fs::write(rules.join("a.rules"), format!("{good}# fixed\n")).unwrap();
    let r = client.post(gw.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let metrics = client.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let versions: Vec<&str> = metrics.lines().filter(|l| l.starts_with("rules_version_info{")).collect();
    assert_eq!(versions.len(), 1, "the old version's series is removed:\n{metrics}");
    assert!(versions[0].ends_with(" 1"), "{versions:?}");
}

/// The file watcher follows the rules directory when it is replaced by a rename (a deploy's
/// `mv rules.new rules`) and when it is removed and created again, and edits inside the new
/// directory still reload; a transforms directory created after the start is watched too.
#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_follows_a_replaced_or_recreated_rules_directory() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    let transforms = dir.path().join("transforms");
    std::fs::create_dir_all(&rules).unwrap();
    let rule = |name: &str| format!("rule {name} {{\n  when exists eventId\n  to topic \"t\"\n}}\n");
    std::fs::write(rules.join("a.rules"), rule("first")).unwrap();
    let gw = Gateway::start(
        &["--rules", rules.to_str().unwrap(), "--transforms", transforms.to_str().unwrap(), "--data", dir.path().join("data").to_str().unwrap()],
        &[],
    );
    let client = reqwest::Client::new();
    let names = || {
        let rt = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| {
            rt.block_on(async {
                let v: Value = client.get(gw.url("/rules")).send().await.unwrap().json().await.unwrap();
                v["rules"].clone()
            })
        })
    };
    let wait_for = |want: &str| {
        common::eventually(Duration::from_secs(20), || (names() == json!([want])).then_some(()))
            .unwrap_or_else(|| panic!("the watcher did not load {want}: {} / logs:\n{}", names(), gw.logs()))
    };
    assert_eq!(names(), json!(["first"]));

    // Replaced by a rename.
    let staged = dir.path().join("rules.new");
    std::fs::create_dir_all(&staged).unwrap();
    std::fs::write(staged.join("a.rules"), rule("second")).unwrap();
    std::fs::rename(&rules, dir.path().join("rules.old")).unwrap();
    std::fs::rename(&staged, &rules).unwrap();
    wait_for("second");
    // An edit inside the new directory.
    std::fs::write(rules.join("a.rules"), rule("third")).unwrap();
    wait_for("third");
    // Removed and created again.
    std::fs::remove_dir_all(&rules).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("a.rules"), rule("fourth")).unwrap();
    wait_for("fourth");
    std::fs::write(rules.join("a.rules"), rule("fifth")).unwrap();
    wait_for("fifth");
    // A transforms directory that did not exist at the start: a rule that needs its transform
    // loads once the file appears there.
    std::fs::write(rules.join("a.rules"), "rule sixth {\n  when exists eventId\n  to topic \"t\" transform \"late\"\n}\n").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(names(), json!(["fifth"]), "the transform is missing: the old rules keep serving");
    std::fs::create_dir_all(&transforms).unwrap();
    std::fs::write(transforms.join("late.json"), r#"[{"operation": "shift", "spec": {"eventId": "id"}}]"#).unwrap();
    wait_for("sixth");
}

/// A partner that never answers holds a webhook attempt during shutdown: the drain waits (the
/// attempt's share of `shutdown_grace`), a second SIGTERM exits at once (code 1), and the
/// delivery, still in the outbox, is made after a restart that changed the target's timeout and
/// retry.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_exits_at_once_and_the_webhook_is_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A partner that holds every request unanswered until `answer` is set, then answers 200 and
    // counts the requests it answered.
    let partner = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let partner_addr = partner.local_addr().unwrap();
    let answer = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let (answer, answered) = (answer.clone(), answered.clone());
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut held = Vec::new();
            for mut conn in partner.incoming().flatten() {
                if !answer.load(std::sync::atomic::Ordering::SeqCst) {
                    held.push(conn);
                    continue;
                }
                let mut buf = [0u8; 65536];
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("a.rules"), format!("rule partner {{\n  when eventType == \"certification.issued\"\n  to webhook \"http://{partner_addr}/hook\" {{\n    timeout 60s\n  }}\n}}\n")).unwrap();
    let config = dir.path().join("switchboard.yaml");
    std::fs::write(&config, "shutdown_grace: 60s\n").unwrap();
    let transforms = common::repo().join("transforms");
    let data = dir.path().join("data");
    let args = ["--config", config.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--transforms", transforms.to_str().unwrap(), "--data", data.to_str().unwrap()];
    let mut gw = Gateway::start(&args, &[]);
    let client = reqwest::Client::new();
    let cert = envelope("hold1", "certification.issued", json!({}), &[]);
    assert_eq!(client.post(gw.url("/events")).json(&cert).send().await.unwrap().status(), 202);
    common::eventually(Duration::from_secs(20), || {
        let rt = tokio::runtime::Handle::current();
        let m = tokio::task::block_in_place(|| rt.block_on(async { client.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap() }));
        m.lines().any(|l| l.starts_with("webhook_outbox_depth 1")).then_some(())
    })
    .expect("the delivery reached the outbox");
    std::thread::sleep(Duration::from_millis(500));

    gw.signal("TERM");
    assert_eq!(gw.wait_exit(Duration::from_secs(3)), None, "the first SIGTERM drains: the attempt may run for most of the 60 s grace");
    gw.signal("TERM");
    assert_eq!(gw.wait_exit(Duration::from_secs(5)), Some(1), "a second SIGTERM exits at once:\n{}", gw.logs());
    assert!(gw.logs().contains("a second signal while draining"), "{}", gw.logs());
    drop(gw);

    // Restarted with the partner now answering, and the target's timeout and retry changed (how
    // it is attempted, not where to: the same endpoint): the row left in the outbox is delivered.
    answer.store(true, std::sync::atomic::Ordering::SeqCst);
    let text = std::fs::read_to_string(rules.join("a.rules")).unwrap().replace("timeout 60s", "timeout 5s\n    retry 3 backoff 1s..5s");
    std::fs::write(rules.join("a.rules"), text).unwrap();
    let _gw = Gateway::start(&args, &[]);
    common::eventually(Duration::from_secs(30), || (answered.load(std::sync::atomic::Ordering::SeqCst) >= 1).then_some(()))
        .expect("the delivery left in the outbox was not made after the restart");
}

/// A batch whose delivery fails (here the webhook outbox is full) is retried on the snapshot it
/// was first planned on: a reload between the attempts does not route one event by two rule
/// versions.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_batch_keeps_the_snapshot_of_its_first_plan() {
    let dir = tempfile::tempdir().unwrap();
    // A partner that holds requests until `answer` is set.
    let partner = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let partner_addr = partner.local_addr().unwrap();
    let answer = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let answer = answer.clone();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut held = Vec::new();
            for mut conn in partner.incoming().flatten() {
                if !answer.load(std::sync::atomic::Ordering::SeqCst) {
                    held.push(conn);
                    continue;
                }
                let mut buf = [0u8; 65536];
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
    }
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let rule = |topic: &str| {
        format!("rule r {{\n  when eventType == \"certification.issued\"\n  to topic \"{topic}\"\n  to webhook \"http://{partner_addr}/hook\" {{\n    timeout 1s\n    retry 20 backoff 200ms..500ms\n  }}\n}}\n")
    };
    std::fs::write(rules.join("a.rules"), rule("out.v1")).unwrap();
    let config = dir.path().join("switchboard.yaml");
    std::fs::write(&config, "webhooks:\n  outbox_max_deliveries: 1\nreload:\n  watch: false\n").unwrap();
    let transforms = common::repo().join("transforms");
    let data = dir.path().join("data");
    let gw = Gateway::start(
        &["--config", config.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--transforms", transforms.to_str().unwrap(), "--data", data.to_str().unwrap()],
        &[],
    );
    let client = reqwest::Client::new();
    let v1: Value = client.get(gw.url("/rules")).send().await.unwrap().json().await.unwrap();
    let v1 = v1["version"].as_str().unwrap().to_string();
    // e1 fills the outbox (its partner holds the attempt); e2's batch cannot enqueue and retries.
    for id in ["e1", "e2"] {
        let e = envelope(id, "certification.issued", json!({}), &[]);
        assert_eq!(client.post(gw.url("/events")).json(&e).send().await.unwrap().status(), 202);
        std::thread::sleep(Duration::from_millis(700));
    }
    common::eventually(Duration::from_secs(20), || {
        gw.logs().contains("deliveries not durable; retrying the batch").then_some(())
    })
    .unwrap_or_else(|| panic!("e2's batch was not retried:\n{}", gw.logs()));
    // A reload between the attempts.
    std::fs::write(rules.join("a.rules"), rule("out.v2")).unwrap();
    let r = client.post(gw.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    answer.store(true, std::sync::atomic::Ordering::SeqCst);
    let v1_out = common::eventually(Duration::from_secs(60), || {
        let got = tail_topic(&data, "out.v1");
        got.iter().any(|m| m["value"]["eventId"] == "e2").then_some(got)
    })
    .unwrap_or_else(|| panic!("e2 was not routed by v1:\n{}", gw.logs()));
    for m in &v1_out {
        let version = m["headers"]["rules-version"].as_str().unwrap_or_default();
        assert_eq!(version, v1, "{m}");
    }
    // A third event after the reload takes v2; e2 never does.
    let e3 = envelope("e3", "certification.issued", json!({}), &[]);
    assert_eq!(client.post(gw.url("/events")).json(&e3).send().await.unwrap().status(), 202);
    let v2_out = wait_topic(&data, "out.v2", 1);
    assert!(v2_out.iter().all(|m| m["value"]["eventId"] != "e2"), "e2 routed by two snapshots: {v2_out:?}");
}

/// SIGHUP reloads (with the file watcher off), a broken file is refused and a fixed one then
/// loads, and a deleted rule file takes its rules away.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_refuses_a_broken_file_and_follows_a_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let rule = |name: &str| format!("rule {name} {{\n  when exists eventId\n  to topic \"t\"\n}}\n");
    std::fs::write(rules.join("a.rules"), rule("a")).unwrap();
    let config = dir.path().join("switchboard.yaml");
    std::fs::write(&config, "reload:\n  watch: false\n").unwrap();
    let transforms = common::repo().join("transforms");
    let gw = Gateway::start(
        &["--config", config.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--transforms", transforms.to_str().unwrap(), "--data", dir.path().join("data").to_str().unwrap()],
        &[],
    );
    let client = reqwest::Client::new();
    let status = || {
        let rt = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| rt.block_on(async { client.get(gw.url("/rules")).send().await.unwrap().json::<Value>().await.unwrap() }))
    };
    let hup_until = |what: &str, done: &dyn Fn(&Value) -> bool| {
        gw.signal("HUP");
        common::eventually(Duration::from_secs(20), || done(&status()).then_some(()))
            .unwrap_or_else(|| panic!("after SIGHUP, not {what}: {}", status()));
    };
    std::fs::write(rules.join("b.rules"), rule("b")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status()["rules"], json!(["a"]), "no watcher: nothing reloads by itself");
    hup_until("a and b", &|s| s["rules"] == json!(["a", "b"]));
    std::fs::write(rules.join("b.rules"), "rule b {\n  when exists\n}\n").unwrap();
    hup_until("refused", &|s| s["last_result"] == "failure");
    let s = status();
    assert_eq!(s["rules"], json!(["a", "b"]), "the old rules keep serving");
    assert!(s["last_error"].as_str().is_some_and(|e| e.contains("b.rules")), "{s}");
    std::fs::write(rules.join("b.rules"), rule("b2")).unwrap();
    hup_until("fixed", &|s| s["rules"] == json!(["a", "b2"]) && s["last_result"] == "success" && s["last_error"].is_null());
    std::fs::remove_file(rules.join("b.rules")).unwrap();
    hup_until("b2 gone", &|s| s["rules"] == json!(["a"]));
}

/// `dlq replay` of a pipeline dead letter while the gateway runs goes through the gateway (only
/// it may append to its local bus): the event is routed by the fixed rules, the bus's offsets stay
/// consistent, and a restart routes nothing twice.
#[tokio::test(flavor = "multi_thread")]
async fn dlq_replay_of_an_event_goes_through_the_running_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("a.rules"), "rule r {\n  when eventType == \"replay.x\"\n  to topic \"{data.target}\"\n}\n").unwrap();
    let gw = start(dir.path(), &rules, &[]);
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    assert_eq!(client.post(gw.url("/events")).json(&envelope("r1", "replay.x", json!({}), &[])).send().await.unwrap().status(), 202);
    let dlq = wait_topic(&data, "events.dlq", 1);
    assert_eq!(dlq[0]["value"]["error"]["type"], "UndeliverableTarget", "{dlq:?}");
    assert_eq!(dlq[0]["value"]["processingContext"]["source"]["topic"], "events.ingest", "{dlq:?}");
    // An event id with a tab and a terminal escape in it: `dlq list` keeps its columns and
    // shows the escape as text.
    let nasty = envelope("r0\tx\u{1b}[2J", "replay.x", json!({}), &[]);
    assert_eq!(client.post(gw.url("/events")).json(&nasty).send().await.unwrap().status(), 202);
    wait_topic(&data, "events.dlq", 2);
    let out = Command::new(common::binary()).arg("--data").arg(&data).args(["dlq", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list = String::from_utf8(out.stdout).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    for line in list.lines() {
        assert_eq!(line.split('\t').count(), 6, "six columns: {line:?}");
    }
    assert!(!list.contains('\u{1b}'), "{list:?}");
    assert!(list.contains("r0\\tx\\u{1b}[2J"), "{list:?}");

    // The rules are fixed, then the dead letter replayed.
    std::fs::write(rules.join("a.rules"), "rule r {\n  when eventType == \"replay.x\"\n  to topic \"fixed\"\n}\n").unwrap();
    assert_eq!(client.post(gw.url("/-/reload")).send().await.unwrap().status(), 200);
    let out = Command::new(common::binary())
        .arg("--data")
        .arg(&data)
        .env("SWITCHBOARD_LISTEN", &gw.addr)
        .args(["dlq", "replay", "--filter", "eventId=r1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(client.post(gw.url("/events")).json(&envelope("r2", "replay.x", json!({}), &[])).send().await.unwrap().status(), 202);
    let fixed = wait_topic(&data, "fixed", 2);
    let ids: Vec<&str> = fixed.iter().map(|m| m["value"]["eventId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["r1", "r2"], "the replayed event, then the next one");
    assert_eq!(gw.terminate(Duration::from_secs(20)), Some(0));

    // A restart resumes at the committed offset: nothing is routed twice, nothing skipped.
    let gw = start(dir.path(), &rules, &[]);
    assert_eq!(client.post(gw.url("/events")).json(&envelope("r3", "replay.x", json!({}), &[])).send().await.unwrap().status(), 202);
    let fixed = wait_topic(&data, "fixed", 3);
    std::thread::sleep(Duration::from_millis(500));
    let ids: Vec<String> = tail_topic(&data, "fixed").iter().map(|m| m["value"]["eventId"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["r1", "r2", "r3"], "{fixed:?}");
}

fn everything_rules(dir: &Path, extra: &str) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("a.rules"), format!("rule everything {{\n  when exists eventId\n  to topic \"all\"\n}}\n{extra}")).unwrap();
    rules
}

#[tokio::test(flavor = "multi_thread")]
async fn topics_tail_follow_waits_for_new_messages() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let rules = everything_rules(dir.path(), "");
    let gw = start(dir.path(), &rules, &[]);
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let post = |id: &str| client.post(gw.url("/events")).json(&envelope(id, "member.created", json!({}), &[])).send();
    assert_eq!(post("f1").await.unwrap().status(), 202);
    wait_topic(&data, "all", 1);
    let mut tail = Command::new(common::binary())
        .arg("--data")
        .arg(&data)
        .args(["topics", "tail", "all", "--follow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = tail.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first: Value = serde_json::from_str(&rx.recv_timeout(Duration::from_secs(30)).unwrap()).unwrap();
    assert_eq!(first["value"]["eventId"], "f1");
    // At the end of the topic it waits (no panic, no exit) and prints what is appended next.
    std::thread::sleep(Duration::from_millis(700));
    assert!(tail.try_wait().unwrap().is_none(), "tail --follow exited at the end of the topic");
    assert_eq!(post("f2").await.unwrap().status(), 202);
    let second: Value = serde_json::from_str(&rx.recv_timeout(Duration::from_secs(30)).unwrap()).unwrap();
    assert_eq!(second["value"]["eventId"], "f2");
    assert_eq!(second["offset"], 1);
    tail.kill().unwrap();
    tail.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudevents_modes_data_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let rules = everything_rules(dir.path(), "");
    let gw = start(dir.path(), &rules, &[]);
    let data = dir.path().join("data");
    let client = reqwest::Client::new();

    // Every seed family is in /metrics from startup, with the known label values at 0.
    let metrics = client.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for name in [
        "# TYPE events_published_total counter",
        "# TYPE events_dlq_total counter",
        "events_processing_errors_total{error_type=\"validation\"} 0",
        "rule_matches_total{rule=\"everything\"} 0",
        "rules_reload_total{result=\"success\"} 0",
        "rules_reload_total{result=\"failure\"} 0",
    ] {
        assert!(metrics.contains(name), "{name} missing from a fresh /metrics:\n{metrics}");
    }

    // Structured by Content-Type (any case, with parameters) even with ce-* headers present.
    let ce = json!({"specversion": "1.0", "id": "s-1", "type": "payment.refunded", "source": "urn:s", "data": {"n": 1}});
    let r = client
        .post(gw.url("/events"))
        .header("content-type", "Application/CloudEvents+JSON; charset=utf-8")
        .header("ce-specversion", "1.0")
        .header("ce-id", "header-id")
        .body(ce.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    // Binary mode, bytes that are not UTF-8: kept as base64, with the content type.
    let binary = |id: &str, ct: &str, body: Vec<u8>| {
        client
            .post(gw.url("/events"))
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header("ce-type", "blob.uploaded")
            .header("ce-source", "urn:blobs")
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_eq!(binary("b-1", "application/octet-stream", vec![0xff, 0x00, 0xc3, 0x28]).await.unwrap().status(), 202);
    assert_eq!(binary("b-2", "text/plain; charset=utf-8", "héllo wörld".as_bytes().to_vec()).await.unwrap().status(), 202);
    // Any non-empty CloudEvents type, not the seed's dotted lower case; routed, not dead-lettered.
    let azure = json!({"specversion": "1.0", "id": "az-1", "type": "Microsoft.Storage.BlobCreated", "source": "/subscriptions/x"});
    let r = client.post(gw.url("/events")).header("content-type", "application/cloudevents+json").body(azure.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    // An empty CloudEvents batch is valid.
    let r = client.post(gw.url("/events")).header("content-type", "application/cloudevents-batch+json").body("[]").send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"accepted": 0}));

    let all = wait_topic(&data, "all", 4);
    let by_id = |id: &str| all.iter().find(|m| m["value"]["eventId"] == id).unwrap_or_else(|| panic!("{id} not routed: {all:?}")).clone();
    assert_eq!(by_id("s-1")["value"]["data"]["n"], 1);
    assert!(all.iter().all(|m| m["value"]["eventId"] != "header-id"), "structured mode read the headers");
    let b1 = by_id("b-1");
    assert_eq!(b1["value"]["data_base64"], "/wDDKA==", "{b1}");
    assert_eq!(b1["value"]["dataContentType"], "application/octet-stream");
    assert!(b1["value"].get("data").is_none());
    assert_eq!(by_id("b-2")["value"]["data"], "héllo wörld");
    assert_eq!(by_id("az-1")["value"]["eventType"], "Microsoft.Storage.BlobCreated");
    assert!(tail_topic(&data, "events.dlq").is_empty(), "nothing dead-lettered");

    // Errors name the CloudEvents attribute, every one of them.
    let bad = json!({"specversion": "1.0", "id": 7, "type": "t", "source": "", "time": "yesterday", "subject": 3});
    let r = client.post(gw.url("/events")).header("content-type", "application/cloudevents+json").body(bad.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["id", "source", "subject", "time"], "{body}");
    assert_eq!(body["error"]["field"], "id");
    assert_eq!(body["error"]["message"], "must be a string, found a number");
    let r = client
        .post(gw.url("/events"))
        .header("content-type", "application/cloudevents+json")
        .body(json!({"specversion": "1.0", "id": "1", "type": "t", "source": "s", "data": 1, "data_base64": "AA=="}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "data_base64");
    // A ce-* header that percent-decodes to invalid UTF-8.
    let r = client
        .post(gw.url("/events"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "u-1")
        .header("ce-type", "t")
        .header("ce-source", "urn:%C0%A0")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "source");
    // A seed batch with two bad events: both reported, with their indexes.
    let mut one = envelope("x1", "member.created", json!({}), &[]);
    one["eventTime"] = json!("yesterday");
    let mut two = envelope("x2", "Member", json!({}), &[]);
    two.as_object_mut().unwrap().remove("eventId");
    let r = client.post(gw.url("/events")).json(&json!([one, two])).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let got: Vec<(u64, &str)> =
        body["errors"].as_array().unwrap().iter().map(|e| (e["index"].as_u64().unwrap(), e["field"].as_str().unwrap())).collect();
    assert_eq!(got, [(0, "eventTime"), (1, "eventId"), (1, "eventType")], "{body}");
    assert_eq!(body["error"]["field"], "eventTime");
    assert_eq!(body["error"]["index"], 0);

    // 4 refused requests, 5 refused events: the validation counter counts events.
    let metrics = client.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("events_processing_errors_total{error_type=\"validation\"} 5"), "{metrics}");
    // The embedded router's lag, under the Kafka mode's name and labels.
    assert!(metrics.contains("kafka_consumer_lag{partition=\"0\",topic=\"events.ingest\"} 0"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudevents_dedup_by_source_and_id_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rules = everything_rules(dir.path(), "");
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let ce = |id: &str, source: &str| json!({"specversion": "1.0", "id": id, "type": "payment.refunded", "source": source});
    let post = |gw: &Gateway, v: Value| {
        client.post(gw.url("/events")).header("content-type", "application/cloudevents-batch+json").body(json!([v]).to_string()).send()
    };
    {
        let gw = start(dir.path(), &rules, &[]);
        assert_eq!(post(&gw, ce("same", "urn:a")).await.unwrap().status(), 202);
        assert_eq!(post(&gw, ce("same", "urn:b")).await.unwrap().status(), 202);
        let all = wait_topic(&data, "all", 2);
        let sources: Vec<&str> = all.iter().map(|m| m["value"]["producer"]["service"].as_str().unwrap()).collect();
        assert_eq!(sources, ["urn:a", "urn:b"], "same id, different source: both delivered");
        assert_eq!(post(&gw, ce("same", "urn:a")).await.unwrap().status(), 202);
        // A seed envelope with the same eventId is keyed by eventId alone: not a duplicate of them.
        let r = client.post(gw.url("/events")).json(&envelope("same", "member.created", json!({}), &[])).send().await.unwrap();
        assert_eq!(r.status(), 202);
        wait_topic(&data, "all", 3);
        assert_eq!(gw.terminate(Duration::from_secs(30)), Some(0));
    }
    let gw = start(dir.path(), &rules, &[]);
    assert_eq!(post(&gw, ce("same", "urn:b")).await.unwrap().status(), 202);
    assert_eq!(post(&gw, ce("same", "urn:c")).await.unwrap().status(), 202);
    let all = wait_topic(&data, "all", 4);
    std::thread::sleep(Duration::from_millis(500));
    let all_again = tail_topic(&data, "all");
    assert_eq!(all_again.len(), 4, "(urn:b, same) is a duplicate after the restart: {all:?}");
    assert_eq!(all_again[3]["value"]["producer"]["service"], "urn:c");
    let metrics = client.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("events_duplicate_total 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_valid_traceparent_is_carried_also_to_the_dlq() {
    let dir = tempfile::tempdir().unwrap();
    let rules = everything_rules(dir.path(), "rule templated {\n  when eventType starts_with \"dlqtest.\"\n  to topic \"out.{data.kind}\"\n}\n");
    let gw = start(dir.path(), &rules, &[]);
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for (id, tp) in [
        ("t-upper", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"),
        ("t-ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("t-long", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"),
        ("t-zero", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        ("t-junk", "hello"),
        ("t-valid", valid),
    ] {
        let r = client.post(gw.url("/events")).header("traceparent", tp).json(&envelope(id, "member.created", json!({}), &[])).send().await.unwrap();
        assert_eq!(r.status(), 202);
    }
    let ingest = wait_topic(&data, "events.ingest", 6);
    for m in &ingest {
        let id = m["value"]["eventId"].as_str().unwrap();
        let header = m["headers"].get("traceparent");
        if id == "t-valid" {
            assert_eq!(header, Some(&json!(valid)));
        } else {
            assert_eq!(header, None, "{id}: an invalid traceparent reached the ingest topic");
        }
    }
    let all = wait_topic(&data, "all", 6);
    for m in &all {
        let tp = m["headers"]["traceparent"].as_str().unwrap();
        if m["value"]["eventId"] == "t-valid" {
            assert_eq!(tp, valid);
        } else {
            assert!(!tp.contains("4bf92f3577b34da6a3ce929d0e0e4736") && !tp.contains("4BF92F"), "a new trace, not the invalid input: {tp}");
        }
    }
    // A dead-lettered event carries the input's traceparent too (the target names no topic).
    let r = client
        .post(gw.url("/events"))
        .header("traceparent", valid)
        .json(&envelope("d-1", "dlqtest.x", json!({}), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let dlq = wait_topic(&data, "events.dlq", 1);
    assert_eq!(dlq[0]["value"]["originalEvent"]["eventId"], "d-1", "{dlq:?}");
    assert_eq!(dlq[0]["headers"]["traceparent"], valid, "{dlq:?}");
}
