//! `switchboard archive run|list|read|restore` end to end: events stored by a running gateway
//! (`to store`, the embedded SQLite store), then archived by the command line to the real S3 test
//! server (`scripts/services up s3`) that the config file's `archive.target` names. Fails, never
//! skips, when the server is not there.
mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{envelope, Gateway};
use serde_json::{json, Value};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn archive(config: &Path, args: &[&str]) -> Output {
    Command::new(common::binary())
        .arg("--config")
        .arg(config)
        .arg("archive")
        .args(args)
        .env("SB_TEST_S3_SECRET", env_or("SWITCHBOARD_S3_SECRET_ACCESS_KEY", "switchboard-secret"))
        .env_remove("SWITCHBOARD_S3_BUCKET")
        .env_remove("SWITCHBOARD_S3_ENDPOINT")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "exit {:?}: {}", o.status.code(), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_archive_commands_use_the_configured_store_and_s3_target() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("a.rules"), "rule keep {\n  when eventType starts_with \"member.\"\n  to store\n}\n").unwrap();
    let data = dir.path().join("data");
    let prefix = common::unique("cli-archive");
    let config = dir.path().join("switchboard.yaml");
    std::fs::write(
        &config,
        format!(
            "data: {data}\narchive:\n  prefix: {prefix}\n  batch_size: 4\n  target:\n    kind: s3\n    endpoint: {endpoint}\n    bucket: {bucket}\n    \
             access_key_id: {key}\n    secret_access_key: \"${{SB_TEST_S3_SECRET}}\"\n    allow_http: true\n",
            data = data.display(),
            endpoint = env_or("SWITCHBOARD_S3_ENDPOINT", "http://127.0.0.1:9000"),
            bucket = env_or("SWITCHBOARD_S3_BUCKET", "switchboard-test"),
            key = env_or("SWITCHBOARD_S3_ACCESS_KEY_ID", "switchboard"),
        ),
    )
    .unwrap();

    // A typo in --data is an error, and makes nothing.
    let typo = dir.path().join("dta");
    let o = Command::new(common::binary())
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(&typo)
        .args(["archive", "list"])
        .env("SB_TEST_S3_SECRET", "any")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no event store at"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!typo.exists(), "a mistyped data directory was created");

    // The gateway stores 10 old events (2020) of two aggregates and 2 recent ones.
    let transforms = common::repo().join("transforms");
    let gw = Gateway::start(
        &["--config", config.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--transforms", transforms.to_str().unwrap()],
        &[("SB_TEST_S3_SECRET", &env_or("SWITCHBOARD_S3_SECRET_ACCESS_KEY", "switchboard-secret"))],
    );
    let now = chrono::Utc::now();
    let events: Vec<Value> = (0..12)
        .map(|i| {
            let mut e = envelope(&format!("e{i}"), "member.updated", json!({"i": i}), &[]);
            e["subject"]["id"] = json!(if i % 2 == 0 { "mem_even" } else { "mem_odd" });
            e["eventTime"] = if i < 10 {
                json!(format!("2020-03-01T08:00:{i:02}Z"))
            } else {
                json!((now - chrono::Duration::minutes(12 - i)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            };
            e
        })
        .collect();
    let client = reqwest::Client::new();
    assert_eq!(client.post(gw.url("/events")).json(&events).send().await.unwrap().status(), 202);
    common::eventually(Duration::from_secs(30), || {
        let rt = tokio::runtime::Handle::current();
        let counts: Vec<usize> = ["mem_even", "mem_odd"]
            .iter()
            .map(|a| {
                let v: Value = tokio::task::block_in_place(|| {
                    rt.block_on(async { client.get(gw.url(&format!("/aggregates/{a}/events"))).send().await.unwrap().json().await.unwrap() })
                });
                v["events"].as_array().map_or(0, Vec::len)
            })
            .collect();
        (counts == [6, 6]).then_some(())
    })
    .expect("the store did not get the 12 events");
    assert_eq!(gw.terminate(Duration::from_secs(30)), Some(0));

    let run = archive(&config, &["run", "--older-than", "30d"]);
    ok(&run);
    let said = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(said.contains("archived 10 events") && said.contains("into 3 objects"), "{said}");
    assert!(said.contains("s3://"), "the S3 target of the config file: {said}");

    let index = lines(&ok(&archive(&config, &["list", "--format", "json"])));
    assert_eq!(index.len(), 3, "{index:?}");
    assert_eq!(index.iter().map(|e| e["count"].as_u64().unwrap()).sum::<u64>(), 10);
    assert!(index.iter().all(|e| e["object_key"].as_str().unwrap().starts_with(&format!("{prefix}/2020/03/01/"))), "{index:?}");

    // The hot store keeps the recent events; --include-archive merges the archived ones back.
    let hot = lines(&ok(&archive(&config, &["read", "mem_even"])));
    assert_eq!(hot.iter().map(|e| e["sequence"].as_u64().unwrap()).collect::<Vec<_>>(), [6]);
    let all = lines(&ok(&archive(&config, &["read", "mem_even", "--include-archive"])));
    assert_eq!(all.iter().map(|e| e["sequence"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(all[0]["payload"]["eventId"], "e0");

    let restored = lines(&ok(&archive(&config, &["restore", "--aggregate", "mem_odd"])));
    assert_eq!(restored.len(), 5);
    assert!(restored.iter().all(|e| e["aggregate_id"] == "mem_odd"));
    let o = archive(&config, &["restore", "--into-store"]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("restored 10 events into the store"), "{}", String::from_utf8_lossy(&o.stderr));
    let all = lines(&ok(&archive(&config, &["read", "mem_odd"])));
    assert_eq!(all.len(), 6, "the archived events are back in the hot store");

    // The secret of the config file appears in no output.
    let secret = env_or("SWITCHBOARD_S3_SECRET_ACCESS_KEY", "switchboard-secret");
    for o in [run, archive(&config, &["list"])] {
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!text.contains(&secret), "{text}");
    }
}
