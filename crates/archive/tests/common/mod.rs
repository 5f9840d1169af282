//! The harness every archive test shares: a real SqliteStore in a temp dir, the real S3 test
//! server (scripts/services up s3; env overrides below), seeded events, byte comparisons.
#![allow(dead_code)] // each test binary uses its own part of the harness

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use switchboard_archive::{ArchiveConfig, Archiver, ObjectTarget, S3Config, TargetConfig};
use switchboard_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use switchboard_store::{EventStore, ExpectedVersion, NewEvent, StoredEvent};

pub const ACCESS_KEY: &str = "switchboard";
pub const SECRET_KEY: &str = "switchboard-secret";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The test server of scripts/services.d/s3.sh, or what SWITCHBOARD_S3_* points at.
pub fn s3_config() -> S3Config {
    S3Config {
        endpoint: Some(env_or("SWITCHBOARD_S3_ENDPOINT", "http://127.0.0.1:9000")),
        bucket: env_or("SWITCHBOARD_S3_BUCKET", "switchboard-test"),
        access_key_id: Some(env_or("SWITCHBOARD_S3_ACCESS_KEY_ID", ACCESS_KEY)),
        secret_access_key: Some(env_or("SWITCHBOARD_S3_SECRET_ACCESS_KEY", SECRET_KEY)),
        allow_http: true,
        max_retries: 1,
        timeout: Duration::from_secs(10),
        ..S3Config::default()
    }
}

/// An object name prefix no other test (or earlier run) uses, so tests share one bucket.
pub fn unique_prefix(test: &str) -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("test/{test}-{}-{nanos}", std::process::id())
}

pub fn config(prefix: &str, batch_size: usize, target: TargetConfig) -> ArchiveConfig {
    ArchiveConfig { prefix: prefix.to_string(), batch_size, target, ..ArchiveConfig::default() }
}

/// An archiver on the S3 test server. Fails the test (never skips it) when the server is not
/// there: a probe object is written and read back first.
/// `prefix` is used as is: pass [`unique_prefix`] unless two runs must share object names.
pub async fn s3_archiver(prefix: &str, batch_size: usize) -> Archiver {
    let s3 = s3_config();
    let probe_target = ObjectTarget::s3(&s3).unwrap();
    let probe = format!("{prefix}/probe");
    if let Err(e) = probe_target.put(&probe, bytes::Bytes::from_static(b"probe")).await {
        panic!("the S3 test server is unreachable ({e}); start it with `scripts/services up s3`");
    }
    let config = config(prefix, batch_size, TargetConfig::S3(s3));
    Archiver::from_config(&config, Path::new("unused")).unwrap()
}

pub fn local_archiver(dir: &Path, test: &str, batch_size: usize) -> Archiver {
    let config = config(&unique_prefix(test), batch_size, TargetConfig::Local { dir: Some(dir.to_path_buf()) });
    Archiver::from_config(&config, Path::new("unused")).unwrap()
}

pub fn open_store(dir: &Path, name: &str) -> SqliteStore {
    let options = SqliteOptions { synchronous: Synchronous::Normal, ..SqliteOptions::default() };
    SqliteStore::open(&dir.join(name), options).unwrap()
}

/// The time the seeded events start at, far enough back to be older than any cutoff the tests use.
pub fn seed_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap()
}

/// A cutoff after every seeded old event and before every seeded recent one.
pub fn cutoff() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn envelope(aggregate: &str, sequence: u64, event_id: &str, time: DateTime<Utc>) -> serde_json::Value {
    // Parsed from text so that number spellings (12.50, 1e3) and key order are the envelope's own.
    let text = format!(
        r#"{{"eventId":"{event_id}","eventType":"member.updated","eventTime":"{}","source":"crm",
            "data":{{"memberId":"{aggregate}","sequence":{sequence},"amount":12.50,"points":1e3,
                     "note":"caf\u00e9 \"quoted\" {}","tags":["gold","n{}"],"nested":{{"z":1,"a":[true,null]}}}}}}"#,
        time.to_rfc3339(),
        sequence % 97,
        sequence % 7
    );
    serde_json::from_str(&text).unwrap()
}

/// Appends `per_aggregate` events to each of `aggregates` aggregates, interleaved in time (10 ms
/// apart, starting at [`seed_start`]), plus `recent` events after the cutoff in aggregate
/// `recent`. Returns the number of old events.
pub async fn seed(store: &dyn EventStore, aggregates: usize, per_aggregate: usize, recent: usize) -> usize {
    for a in 0..aggregates {
        let aggregate = format!("member/{a:04}");
        let events: Vec<NewEvent> = (0..per_aggregate)
            .map(|s| {
                let global = (s * aggregates + a) as i64;
                let time = seed_start() + chrono::TimeDelta::milliseconds(global * 10);
                let event_id = format!("evt-{a}-{s}");
                NewEvent {
                    payload: envelope(&aggregate, s as u64 + 1, &event_id, time),
                    event_id,
                    event_type: "member.updated".into(),
                    event_time: time,
                }
            })
            .collect();
        for chunk in events.chunks(2_000) {
            store.append(&aggregate, chunk.to_vec(), ExpectedVersion::Any).await.unwrap();
        }
    }
    let recent_events: Vec<NewEvent> = (0..recent)
        .map(|s| {
            let time = cutoff() + chrono::TimeDelta::seconds(s as i64 + 1);
            let event_id = format!("recent-{s}");
            NewEvent {
                payload: envelope("recent", s as u64 + 1, &event_id, time),
                event_id,
                event_type: "member.updated".into(),
                event_time: time,
            }
        })
        .collect();
    if !recent_events.is_empty() {
        store.append("recent", recent_events, ExpectedVersion::Any).await.unwrap();
    }
    aggregates * per_aggregate
}

/// Every hot event in the store's time order.
pub async fn hot_events(store: &dyn EventStore) -> Vec<StoredEvent> {
    store.read_by_time(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, None, usize::MAX).await.unwrap()
}

/// Hot events before the cutoff, as JSON Lines: what a full restore must reproduce byte for byte.
pub async fn old_events_jsonl(store: &dyn EventStore) -> Vec<u8> {
    let events = store.read_by_time(DateTime::<Utc>::MIN_UTC, cutoff(), None, usize::MAX).await.unwrap();
    jsonl(&events)
}

pub fn jsonl(events: &[StoredEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        switchboard_archive::write_line(&mut out, event).unwrap();
    }
    out
}

/// The whole archive as JSON Lines, by way of the index in `store`.
pub async fn restored_jsonl(archiver: &Archiver, store: &dyn EventStore) -> Vec<u8> {
    let mut out = Vec::new();
    archiver.restore_jsonl(store, Default::default(), &mut out).await.unwrap();
    out
}

/// Byte equality without printing megabytes on failure: names the first differing line.
pub fn assert_same_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual == expected {
        return;
    }
    let (a, e): (Vec<&[u8]>, Vec<&[u8]>) = (actual.split(|b| *b == b'\n').collect(), expected.split(|b| *b == b'\n').collect());
    let line = a.iter().zip(&e).position(|(x, y)| x != y).unwrap_or(a.len().min(e.len()));
    panic!(
        "{what}: {} bytes / {} lines, expected {} bytes / {} lines; first difference at line {}:\n  got      {}\n  expected {}",
        actual.len(),
        a.len(),
        expected.len(),
        e.len(),
        line + 1,
        a.get(line).map(|l| String::from_utf8_lossy(l).into_owned()).unwrap_or_default(),
        e.get(line).map(|l| String::from_utf8_lossy(l).into_owned()).unwrap_or_default()
    );
}

/// A private s3s-fs instance on a free loopback port, killed on drop: for stopping a server
/// mid-run without touching the shared one.
pub struct PrivateS3 {
    pub child: Option<Child>,
    pub endpoint: String,
    pub bucket: String,
    _root: tempfile::TempDir,
}

pub fn s3s_fs_binary() -> PathBuf {
    if let Ok(path) = std::env::var("SWITCHBOARD_S3S_FS") {
        return PathBuf::from(path);
    }
    let cache = std::env::var("SWITCHBOARD_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/switchboard"));
    cache.join("s3/bin/s3s-fs")
}

impl PrivateS3 {
    pub fn start() -> PrivateS3 {
        let binary = s3s_fs_binary();
        assert!(binary.exists(), "{} is missing: run `scripts/services up s3` to build it", binary.display());
        let root = tempfile::tempdir().unwrap();
        let bucket = "private-test".to_string();
        std::fs::create_dir_all(root.path().join(&bucket)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "private s3s-fs on port {port} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        PrivateS3 { child: Some(child), endpoint: format!("http://127.0.0.1:{port}"), bucket, _root: root }
    }

    pub fn config(&self) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            bucket: self.bucket.clone(),
            access_key_id: Some(ACCESS_KEY.into()),
            secret_access_key: Some(SECRET_KEY.into()),
            allow_http: true,
            max_retries: 1,
            timeout: Duration::from_secs(3),
            ..S3Config::default()
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateS3 {
    fn drop(&mut self) {
        self.stop();
    }
}
