//! `switchboard serve` against the real Kafka broker: the seed's three rules end to end, malformed
//! events to the DLQ, hot reload under a steady stream, an invalid rule file during reload, and a
//! SIGKILL mid-stream. Fails (never skips) when the broker is unreachable.
mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::kafka::{produce, read_topic};
use common::{envelope, Gateway};
use serde_json::json;

/// The shipped rules/ with every topic suffixed by `run` and the partner webhook pointed at `webhook`.
fn shipped_rules(dir: &Path, run: &str, webhook: &str) -> PathBuf {
    let rules = dir.join("rules");
    common::copy_dir(&common::repo().join("rules"), &rules);
    let topic = regex::Regex::new(r#"to topic "([^"]+)""#).unwrap();
    for entry in std::fs::read_dir(&rules).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rules") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = topic.replace_all(&text, format!(r#"to topic "$1.{run}""#).as_str());
            let text = text.replace("https://cert-body.org/webhook", webhook);
            std::fs::write(&path, text).unwrap();
        } else if path.to_string_lossy().ends_with(".test.yaml") {
            std::fs::remove_file(&path).unwrap();
        }
    }
    rules
}

fn kafka_config(dir: &Path, run: &str, extra: &str) -> PathBuf {
    let path = dir.join("switchboard.yaml");
    std::fs::write(
        &path,
        format!(
            "kafka:\n  brokers: {}\n  group_id: gw-{run}\n  topics: [in.{run}]\n  dlq_topic: dlq.{run}\nreload:\n  debounce: 100ms\n{extra}",
            common::kafka_bootstrap()
        ),
    )
    .unwrap();
    path
}

fn start(dir: &Path, config: &Path, rules: &Path) -> Gateway {
    let data = dir.join("data");
    let transforms = common::repo().join("transforms");
    Gateway::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--transforms",
            transforms.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        &[("CERT_BODY_TOKEN", "kafka-test-token")],
    )
}

fn bytes(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_rules_end_to_end_with_dlq() {
    let dir = tempfile::tempdir().unwrap();
    let run = common::unique("seed");
    let receiver = common::receiver::start(0);
    let rules = shipped_rules(dir.path(), &run, &receiver.url);
    let config = kafka_config(dir.path(), &run, "");
    let gw = start(dir.path(), &config, &rules);

    let member = envelope(
        "m1",
        "member.profile.updated",
        json!({"firstName": "Ada", "lastName": "Lovelace", "email": "ADA@Example.org", "changes": {"email": {"old": "a@b.c"}}}),
        &["profile", "sync_to_crm"],
    );
    let member_untagged = envelope("m2", "member.profile.updated", json!({"firstName": "Bob"}), &["profile"]);
    let big_payment = envelope("p1", "payment.captured", json!({"amount": 5000, "currency": "USD"}), &[]);
    let small_payment = envelope("p2", "payment.captured", json!({"amount": 999}), &[]);
    let cert = envelope("c1", "certification.issued", json!({"certificationId": "cert_1"}), &[]);
    let mut no_time = envelope("bad1", "member.created", json!({}), &[]);
    no_time.as_object_mut().unwrap().remove("eventTime");
    let inputs = vec![
        bytes(&member),
        bytes(&member_untagged),
        bytes(&big_payment),
        bytes(&small_payment),
        bytes(&cert),
        b"{this is not json".to_vec(),
        bytes(&no_time),
    ];
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    produce(&format!("in.{run}"), &inputs, &[("traceparent", traceparent)]).await;

    let crm = read_topic(&format!("crm.sync.queue.{run}"), 1, Duration::from_secs(60));
    assert_eq!(crm.len(), 1, "crm.sync.queue: {crm:?}\nlogs:\n{}", gw.logs());
    let record = &crm[0].value;
    assert_eq!(record["externalId"], "mem_m1");
    assert_eq!(record["crmId"], "C54321");
    assert_eq!(record["contact"]["email"], "ada@example.org");
    assert_eq!(record["fullName"], "Ada Lovelace");
    assert_eq!(record["source"], "switchboard");
    assert_eq!(crm[0].key.as_deref(), Some("mem_m1"), "the default key is subject.id");
    assert_eq!(crm[0].header("eventType"), Some("member.profile.updated"));
    assert_eq!(crm[0].header("eventVersion"), Some("2.0"));
    assert_eq!(crm[0].header("rule"), Some("member_events_to_crm"));
    assert_eq!(crm[0].header("traceparent"), Some(traceparent), "traceparent carried from input to output");
    assert!(crm[0].header("rules-version").is_some_and(|v| v.len() >= 16));

    for topic in ["finance.high_value_transactions", "audit.financial_events"] {
        let got = read_topic(&format!("{topic}.{run}"), 1, Duration::from_secs(30));
        assert_eq!(got.len(), 1, "{topic}: {got:?}");
        assert_eq!(got[0].value, big_payment, "{topic} gets the event unchanged");
    }
    let certs = read_topic(&format!("certification.updates.{run}"), 1, Duration::from_secs(30));
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].value["eventId"], "c1");

    let hooks = common::eventually(Duration::from_secs(30), || {
        let r = receiver.requests.lock().unwrap();
        (!r.is_empty()).then(|| r.clone())
    })
    .expect("the certification body got no webhook");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].body["eventId"], "c1");
    assert_eq!(hooks[0].header("authorization"), Some("Bearer kafka-test-token"));

    let dlq = read_topic(&format!("dlq.{run}"), 2, Duration::from_secs(30));
    assert_eq!(dlq.len(), 2, "{dlq:?}");
    let by_type: HashMap<String, &serde_json::Value> =
        dlq.iter().map(|m| (m.value["error"]["type"].as_str().unwrap().to_string(), &m.value)).collect();
    assert_eq!(by_type["InvalidJson"]["originalEvent"], "{this is not json");
    let invalid = by_type["InvalidEnvelope"];
    assert_eq!(invalid["originalEvent"]["eventId"], "bad1");
    assert!(invalid["error"]["message"].as_str().unwrap().contains("eventTime"), "{invalid}");
    assert_eq!(invalid["processingContext"]["processor"], "pipeline");
    // Where the message was: topic, partition and offset of the input.
    let source = &invalid["processingContext"]["source"];
    assert_eq!(source["topic"], format!("in.{run}"), "{invalid}");
    assert_eq!(source["partition"], 0);
    assert!(source["offset"].as_i64().is_some_and(|o| o >= 0), "{invalid}");
    assert!(by_type["InvalidJson"].get("originalEventBase64").is_none(), "valid UTF-8 needs no base64");

    let metrics = reqwest::get(gw.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("events_processed_total 7"), "{metrics}");
    assert!(metrics.contains("rule_matches_total{rule=\"payment_events_to_finance\"} 1"), "{metrics}");
    assert!(metrics.contains("events_dlq_total{reason=\"InvalidJson\"} 1"), "{metrics}");
    assert!(!metrics.contains("kafka-test-token"), "a secret in the metrics");
    assert!(!gw.logs().contains("kafka-test-token"), "a secret in the logs");
    assert_eq!(gw.terminate(Duration::from_secs(30)), Some(0), "SIGTERM exits 0");
}

/// The version → rule names of the serving snapshot, from `GET /rules`.
async fn serving(gw: &Gateway) -> (String, Vec<String>, serde_json::Value) {
    let v: serde_json::Value = reqwest::get(gw.url("/rules")).await.unwrap().json().await.unwrap();
    let names = v["rules"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
    (v["version"].as_str().unwrap().to_string(), names, v)
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_reload_under_a_steady_stream() {
    const EVENTS: usize = 100_000;
    const CHANGES: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let run = common::unique("reload");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let out = format!("out.{run}");
    let write_rules = |generation: usize| {
        std::fs::write(
            rules.join("all.rules"),
            format!("rule gen_{generation} {{\n  when exists eventId\n  to topic \"{out}\"\n}}\n"),
        )
        .unwrap();
    };
    write_rules(0);
    let config = kafka_config(dir.path(), &run, "");
    let gw = start(dir.path(), &config, &rules);
    let mut versions: HashMap<String, String> = HashMap::new();
    let (v0, names0, _) = serving(&gw).await;
    versions.insert(v0, names0[0].clone());

    let input = format!("in.{run}");
    let producer = {
        let input = input.clone();
        tokio::spawn(async move {
            // ~100 chunks over ~5 s, so the stream spans the 20 reloads (~200 ms apart) however
            // fast the gateway routes.
            const CHUNK: usize = 1000;
            for chunk in 0..(EVENTS / CHUNK) {
                let batch: Vec<Vec<u8>> = (0..CHUNK)
                    .map(|i| bytes(&envelope(&format!("e{}", chunk * CHUNK + i), "member.created", json!({"n": i}), &[])))
                    .collect();
                produce(&input, &batch, &[]).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    for generation in 1..=CHANGES {
        tokio::time::sleep(Duration::from_millis(150)).await;
        write_rules(generation);
        let want = format!("gen_{generation}");
        let seen = common::eventually(Duration::from_secs(20), || {
            let rt = tokio::runtime::Handle::current();
            let (v, names, _) = tokio::task::block_in_place(|| rt.block_on(serving(&gw)));
            (names == [want.clone()]).then_some(v)
        })
        .unwrap_or_else(|| panic!("reload {generation} not installed; logs:\n{}", gw.logs()));
        versions.insert(seen, want);
    }
    producer.await.unwrap();

    let got = read_topic(&out, EVENTS, Duration::from_secs(180));
    let mut ids = HashSet::new();
    for m in &got {
        let version = m.header("rules-version").expect("rules-version header");
        let rule = m.header("rule").expect("rule header");
        assert_eq!(versions.get(version).map(String::as_str), Some(rule), "routed by a rule not in its snapshot {version}");
        ids.insert(m.value["eventId"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), EVENTS, "lost events: {} of {EVENTS} arrived", ids.len());
    assert_eq!(got.len(), EVENTS, "each event is routed by exactly one snapshot, once");
    let used: HashSet<&str> = got.iter().filter_map(|m| m.header("rule")).collect();
    assert!(used.len() > 5, "the stream spanned several snapshots: {used:?}");
    assert_eq!(gw.terminate(Duration::from_secs(30)), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_rule_file_keeps_the_old_rules_serving() {
    let dir = tempfile::tempdir().unwrap();
    let run = common::unique("badreload");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("a.rules"), format!("rule good {{ when exists eventId to topic \"good.{run}\" }}\n")).unwrap();
    let config = kafka_config(dir.path(), &run, "");
    let gw = start(dir.path(), &config, &rules);
    let (v1, _, _) = serving(&gw).await;

    std::fs::write(rules.join("a.rules"), "rule broken { when data.amount >= to topic \"x\" }\n").unwrap();
    let status = common::eventually(Duration::from_secs(20), || {
        let rt = tokio::runtime::Handle::current();
        let (_, _, s) = tokio::task::block_in_place(|| rt.block_on(serving(&gw)));
        s["last_error"].is_string().then_some(s)
    })
    .expect("GET /rules shows no error after a broken reload");
    assert_eq!(status["version"], v1.as_str(), "the broken set was not installed");
    assert!(status["last_error"].as_str().unwrap().contains("a.rules"), "{status}");

    let client = reqwest::Client::new();
    let r = client.post(gw.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 422, "POST /-/reload refuses the broken set");

    produce(&format!("in.{run}"), &[bytes(&envelope("x1", "member.created", json!({}), &[]))], &[]).await;
    let got = read_topic(&format!("good.{run}"), 1, Duration::from_secs(30));
    assert_eq!(got.len(), 1, "the old rules keep serving");
    assert_eq!(got[0].header("rules-version"), Some(v1.as_str()));
    let metrics = reqwest::get(gw.url("/metrics")).await.unwrap().text().await.unwrap();
    // The series exists at 0 from the start: the count must have moved (the watcher may have
    // refused the file too).
    let failures: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rules_reload_total{result=\"failure\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(failures >= 1.0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_stream_loses_nothing() {
    const EVENTS: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let run = common::unique("kill");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("a.rules"),
        format!(
            "rule members {{ when eventType starts_with \"member.\" to topic \"members.{run}\" }}\n\
             rule everything {{ when exists eventId to topic \"all.{run}\" }}\n"
        ),
    )
    .unwrap();
    let config = kafka_config(dir.path(), &run, "");
    let batch: Vec<Vec<u8>> = (0..EVENTS)
        .map(|i| {
            let t = if i % 2 == 0 { "member.created" } else { "payment.captured" };
            bytes(&envelope(&format!("k{i}"), t, json!({"i": i}), &[]))
        })
        .collect();
    let mut gw = start(dir.path(), &config, &rules);
    produce(&format!("in.{run}"), &batch, &[]).await;
    // Kill once some, not all, events were routed.
    let partial = common::eventually(Duration::from_secs(60), || {
        let n = read_topic(&format!("all.{run}"), 1, Duration::from_secs(2)).len();
        (n > 0).then_some(n)
    });
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
    assert!(partial.is_some(), "nothing was routed before the kill");
    let gw = start(dir.path(), &config, &rules);
    let all = read_topic(&format!("all.{run}"), EVENTS, Duration::from_secs(120));
    let members = read_topic(&format!("members.{run}"), EVENTS / 2, Duration::from_secs(60));
    let ids = |ms: &[common::kafka::Msg]| -> HashSet<String> {
        ms.iter().map(|m| m.value["eventId"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&all).len(), EVENTS, "every event reached `all` at least once");
    assert_eq!(ids(&members).len(), EVENTS / 2, "every member event reached `members` at least once");
    drop(gw);
}

/// Produces one message whose only header has a name that is not UTF-8 (the safe rdkafka API
/// takes `&str` names, so the header is added through librdkafka's C API).
async fn produce_with_raw_header_name(topic: &str, value: &[u8], name: &[u8], header_value: &[u8]) {
    use rdkafka::message::{BorrowedHeaders, OwnedHeaders};
    use rdkafka::producer::FutureRecord;
    let headers = OwnedHeaders::new();
    // SAFETY: an `&BorrowedHeaders` is librdkafka's headers pointer itself (rdkafka's
    // `as_borrowed` casts it so); the name and value are copied by rd_kafka_header_add.
    unsafe {
        let raw = headers.as_borrowed() as *const BorrowedHeaders as *mut rdkafka::bindings::rd_kafka_headers_t;
        let err = rdkafka::bindings::rd_kafka_header_add(
            raw,
            name.as_ptr().cast(),
            name.len() as isize,
            header_value.as_ptr().cast(),
            header_value.len() as isize,
        );
        assert_eq!(err, rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    let p = common::kafka::producer();
    p.send(FutureRecord::<(), _>::to(topic).payload(value).headers(headers), Duration::from_secs(30)).await.expect("produce");
}

/// Messages that can never be delivered as they are do not stall the partition or kill the
/// router: a header name that is not UTF-8 (rdkafka's header iterator panics on it), a topic
/// template value past Kafka's 249 characters, an output larger than the producer's
/// message.max.bytes, and a non-JSON input whose DLQ record would be larger than that. Each goes
/// to the DLQ (cut to fit, and saying so) or through, and the events behind them are routed.
#[tokio::test(flavor = "multi_thread")]
async fn poison_messages_go_to_the_dlq_and_the_partition_keeps_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let run = common::unique("poison");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("a.rules"),
        format!(
            "rule everything {{\n  when exists eventId\n  to topic \"out.{run}\"\n}}\n\
             rule by_name {{\n  when eventType == \"t.named\"\n  to topic \"named.{{data.name}}\"\n}}\n"
        ),
    )
    .unwrap();
    let config = kafka_config(dir.path(), &run, "");
    let text = std::fs::read_to_string(&config).unwrap().replace("  dlq_topic:", "  producer:\n    message.max.bytes: \"200000\"\n  dlq_topic:");
    std::fs::write(&config, text).unwrap();
    let gw = start(dir.path(), &config, &rules);
    let input = format!("in.{run}");

    produce_with_raw_header_name(&input, &bytes(&envelope("p1", "member.created", json!({}), &[])), b"bad\xffname", b"v").await;
    let mut long = envelope("p2", "t.named", json!({"name": "n".repeat(300)}), &[]);
    long["data"]["note"] = json!("a topic name of 306 characters");
    let mut big = envelope("p3", "member.created", json!({}), &[]);
    big["data"]["blob"] = json!("x".repeat(300_000));
    let garbage: Vec<u8> = std::iter::repeat_n(0u8, 150_000).collect();
    let latin1 = b"caf\xe9 \xff".to_vec();
    produce(&input, &[bytes(&long), bytes(&big), garbage, latin1.clone(), bytes(&envelope("p4", "member.created", json!({}), &[]))], &[]).await;

    let out = read_topic(&format!("out.{run}"), 3, Duration::from_secs(60));
    let ids: HashSet<String> = out.iter().filter_map(|m| m.value["eventId"].as_str().map(String::from)).collect();
    assert!(ids.contains("p1"), "the event with the odd header name was routed: {ids:?}\n{}", gw.logs());
    assert!(ids.contains("p2") && ids.contains("p4"), "the events behind the poison ones were routed: {ids:?}\n{}", gw.logs());
    assert!(!ids.contains("p3"), "an output over message.max.bytes cannot be on the topic");
    let dlq = read_topic(&format!("dlq.{run}"), 4, Duration::from_secs(60));
    let of = |kind: &str, needle: &str| {
        dlq.iter()
            .find(|m| m.value["error"]["type"] == kind && m.value["error"]["message"].as_str().is_some_and(|t| t.contains(needle)))
            .unwrap_or_else(|| panic!("no {kind} record with {needle:?} in {:?}", dlq.iter().map(|m| &m.value["error"]).collect::<Vec<_>>()))
    };
    let named = of("UndeliverableTarget", "longer than Kafka's 249");
    assert_eq!(named.value["originalEvent"]["eventId"], "p2");
    let too_big = of("UndeliverableTarget", "message.max.bytes (200000)");
    assert_eq!(too_big.value["originalEventTruncated"], true, "a record that would not fit is cut");
    assert_eq!(too_big.value["originalEventBytes"], bytes(&big).len());
    assert_eq!(too_big.key.as_deref(), Some("p3"));
    // Two inputs are InvalidJson (the zeros and the Latin-1 text); their records may be in
    // either order (they can be planned in different batches), so the zeros' is found by size.
    let garbled = dlq
        .iter()
        .find(|m| m.value["error"]["type"] == "InvalidJson" && m.value["originalEventBytes"] == 150_000)
        .unwrap_or_else(|| panic!("no InvalidJson record of the 150,000 zeros in {:?}", dlq.iter().map(|m| &m.value["error"]).collect::<Vec<_>>()));
    assert_eq!(garbled.value["originalEventTruncated"], true);
    assert_eq!(garbled.value["originalEventBytes"], 150_000);
    assert!(garbled.value.get("originalEventBase64").is_none(), "a cut record carries no base64 copy");
    let not_utf8 = dlq
        .iter()
        .find(|m| m.value.get("originalEventBase64").is_some())
        .unwrap_or_else(|| panic!("no record kept the non-UTF-8 input's bytes"));
    use base64::Engine as _;
    let exact = base64::engine::general_purpose::STANDARD.decode(not_utf8.value["originalEventBase64"].as_str().unwrap()).unwrap();
    assert_eq!(exact, latin1, "the exact bytes");
    assert_eq!(not_utf8.value["error"]["type"], "InvalidJson");
    // The router is alive and the gateway still ready.
    let ready = reqwest::get(gw.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(!gw.logs().contains("panicked"), "{}", gw.logs());
}

/// While back-pressure holds the consumer paused (here a full webhook outbox: its partner
/// answers nothing), the gateway keeps polling, so the group can still rebalance: a second
/// member (cooperative-sticky, like the gateway) joining the group is given a partition.
#[tokio::test(flavor = "multi_thread")]
async fn a_paused_consumer_still_takes_part_in_rebalances() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};

    let dir = tempfile::tempdir().unwrap();
    let run = common::unique("paused");
    let input = format!("in.{run}");
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", common::kafka_bootstrap()).create().expect("admin client");
    let created = admin
        .create_topics(&[NewTopic::new(&input, 2, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .expect("create topics");
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    // A partner that accepts connections and never answers.
    let partner = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let partner_addr = partner.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in partner.incoming().flatten() {
            held.push(conn);
        }
    });
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("a.rules"),
        format!("rule partner {{\n  when exists eventId\n  to webhook \"http://{partner_addr}/hook\" {{\n    timeout 60s\n  }}\n}}\n"),
    )
    .unwrap();
    let extra = "webhooks:\n  outbox_max_deliveries: 1\n";
    let config = kafka_config(dir.path(), &run, extra);
    let text = std::fs::read_to_string(&config).unwrap().replace("  dlq_topic:", "  max_in_flight: 10\n  batches_in_flight: 1\n  dlq_topic:");
    std::fs::write(&config, text).unwrap();
    let gw = start(dir.path(), &config, &rules);
    let events: Vec<Vec<u8>> = (0..200).map(|i| bytes(&envelope(&format!("q{i}"), "member.created", json!({}), &[]))).collect();
    produce(&input, &events, &[]).await;
    common::eventually(Duration::from_secs(30), || gw.logs().contains("deliveries not durable; retrying the batch").then_some(()))
        .unwrap_or_else(|| panic!("the outbox never filled:\n{}", gw.logs()));
    std::thread::sleep(Duration::from_secs(2));

    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::kafka_bootstrap())
        .set("group.id", format!("gw-{run}"))
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .create()
        .expect("consumer");
    member.subscribe(&[input.as_str()]).expect("subscribe");
    let assigned = common::eventually(Duration::from_secs(45), || {
        let _ = member.poll(Duration::from_millis(200));
        let n = member.assignment().map(|a| a.count()).unwrap_or(0);
        (n > 0).then_some(n)
    });
    assert_eq!(assigned, Some(1), "the paused gateway never gave up a partition:\n{}", gw.logs());
}
