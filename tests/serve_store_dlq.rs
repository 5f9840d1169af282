//! A `to store` event the store can not take (a blank aggregate id) goes to the DLQ with the
//! reason, and the events behind it are still stored and routed: one bad event does not hold up
//! the batch (it used to be retried for ever, with nothing behind it routed). Embedded mode: the
//! real gateway, its embedded store and the local bus.
mod common;

use std::time::Duration;

use common::{envelope, tail_topic, Gateway};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn a_blank_aggregate_id_is_a_dead_letter_and_holds_nothing_up() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("a.rules"),
        "rule keep {\n  when eventType starts_with \"member.\"\n  to store\n  to topic \"members.out\"\n}\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let transforms = common::repo().join("transforms");
    let gw = Gateway::start(
        &["--rules", rules.to_str().unwrap(), "--transforms", transforms.to_str().unwrap(), "--data", data.to_str().unwrap()],
        &[],
    );
    let client = reqwest::Client::new();
    let mut bad = envelope("blank", "member.profile.updated", json!({}), &[]);
    bad["subject"]["id"] = json!("");
    let mut spaces = envelope("spaces", "member.profile.updated", json!({}), &[]);
    spaces["subject"]["id"] = json!("  ");
    let mut good = envelope("good", "member.profile.updated", json!({}), &[]);
    good["subject"]["id"] = json!("mem_after");
    // One request, so that the three are planned in one batch.
    let r = client.post(gw.url("/events")).json(&json!([bad, spaces, good])).send().await.unwrap();
    assert_eq!(r.status(), 202);

    let stored = common::eventually(Duration::from_secs(30), || {
        let rt = tokio::runtime::Handle::current();
        let v: Value = tokio::task::block_in_place(|| {
            rt.block_on(async { client.get(gw.url("/aggregates/mem_after/events")).send().await.unwrap().json().await.unwrap() })
        });
        (v["events"].as_array().map(Vec::len) == Some(1)).then_some(v)
    })
    .unwrap_or_else(|| panic!("the event behind the bad ones was not stored; logs:\n{}", gw.logs()));
    assert_eq!(stored["events"][0]["event"]["eventId"], "good");

    let dlq = common::eventually(Duration::from_secs(30), || {
        let got = tail_topic(&data, "events.dlq");
        (got.len() >= 2).then_some(got)
    })
    .expect("both blank ids in the DLQ");
    assert_eq!(dlq.len(), 2, "{dlq:?}");
    for (letter, id) in dlq.iter().zip(["blank", "spaces"]) {
        let record: Value = letter["value"].clone();
        assert_eq!(record["originalEvent"]["eventId"], id, "{record}");
        assert_eq!(record["error"]["type"], "UndeliverableTarget", "{record}");
        let message = record["error"]["message"].as_str().unwrap();
        assert!(message.contains("subject.id") && message.contains("empty"), "{message}");
    }
    // The rule's topic delivery of each event is made all the same: the DLQ record stands for
    // the store delivery only.
    let out = common::eventually(Duration::from_secs(30), || {
        let got = tail_topic(&data, "members.out");
        (got.len() >= 3).then_some(got)
    })
    .expect("the topic deliveries of all three");
    assert_eq!(out.len(), 3);
    let logs = gw.logs();
    assert!(!logs.contains("retrying the batch"), "nothing to retry: {logs}");
}
