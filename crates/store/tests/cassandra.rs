//! The store suite against a real Cassandra (or ScyllaDB) node: `scripts/services up cassandra`
//! starts one on 127.0.0.1:9042; SWITCHBOARD_TEST_CASSANDRA=host:port points elsewhere (for a
//! ScyllaDB node add SWITCHBOARD_TEST_DISABLE_TABLETS=1). The tests
//! FAIL when the node is unreachable: a skipped store test would hide a broken backend.
//!
//! Each test gets its own keyspace (unique per run), dropped when the test passes. The suite runs
//! with a bucket size of 4 so that appends and reads cross partition boundaries all the time.
mod common;

use std::sync::Arc;
use std::time::Duration;

use ::scylla::client::session::Session;
use ::scylla::client::session_builder::SessionBuilder;
use switchboard_store::scylla::{ScyllaOptions, ScyllaStore};
use switchboard_store::{EventStore, ExpectedVersion, StoreError};

fn node() -> String {
    std::env::var("SWITCHBOARD_TEST_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into())
}

fn run_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 1_000_000_000;
        format!("{t}_{}", std::process::id() % 100_000)
    })
    .clone()
}

fn options(keyspace: &str) -> ScyllaOptions {
    ScyllaOptions {
        nodes: vec![node()],
        keyspace: keyspace.to_string(),
        bucket_size: 4,
        // Against ScyllaDB: SWITCHBOARD_TEST_DISABLE_TABLETS=1 (LWT needs a keyspace without tablets).
        disable_tablets: std::env::var("SWITCHBOARD_TEST_DISABLE_TABLETS").is_ok_and(|v| v == "1"),
        feed_settle: Duration::from_millis(100),
        ..ScyllaOptions::default()
    }
}

async fn session() -> Session {
    SessionBuilder::new()
        .known_node(node())
        .build()
        .await
        .unwrap_or_else(|e| panic!("Cassandra at {} is unreachable ({e}); start it with `scripts/services up cassandra`", node()))
}

struct Cassandra {
    keyspace: String,
}

#[async_trait::async_trait]
impl common::Harness for Cassandra {
    async fn new(test: &str) -> Self {
        // Keyspace names are at most 48 characters: keep the test name's first 24.
        Cassandra { keyspace: format!("sbt_{}_{}", run_id(), &test[..test.len().min(24)]) }
    }
    async fn open(&self) -> Arc<dyn EventStore> {
        match ScyllaStore::connect(options(&self.keyspace)).await {
            Ok(store) => Arc::new(store),
            Err(e) => panic!("Cassandra at {} is unreachable or refused the schema: {e}", node()),
        }
    }
    async fn cleanup(self) {
        session().await.query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", self.keyspace), ()).await.unwrap();
    }
}

store_suite!(Cassandra);

/// The defaults (10,000 sequences per bucket, 30-day TTL on events_by_time) work as they are.
#[tokio::test]
async fn default_options_round_trip() {
    let h = <Cassandra as common::Harness>::new("defaults").await;
    let defaults = ScyllaOptions { nodes: vec![node()], keyspace: h.keyspace.clone(), ..ScyllaOptions::default() };
    let store = ScyllaStore::connect(ScyllaOptions { disable_tablets: options(&h.keyspace).disable_tablets, ..defaults })
        .await
        .unwrap();
    let events: Vec<_> = (0..120).map(|i| common::ev(&format!("e{i}"), "T", common::t(i))).collect();
    let r = store.append("long", events, ExpectedVersion::NoStream).await.unwrap();
    assert_eq!((r.version, r.appended), (120, 120));
    let read = store.read("long", 100, 1000).await.unwrap();
    assert_eq!(read.iter().map(|e| e.sequence).collect::<Vec<_>>(), (100..=120).collect::<Vec<_>>());
    drop(store);
    common::Harness::cleanup(h).await;
}

/// A keyspace keeps the bucket size it was created with: connecting with another is refused,
/// because it would look for every event in the wrong partition.
#[tokio::test]
async fn bucket_size_is_fixed_per_keyspace() {
    let h = <Cassandra as common::Harness>::new("bucketfix").await;
    drop(ScyllaStore::connect(options(&h.keyspace)).await.unwrap());
    let other = ScyllaStore::connect(ScyllaOptions { bucket_size: 10, ..options(&h.keyspace) }).await;
    assert!(matches!(other, Err(StoreError::Invalid(ref m)) if m.contains("bucket_size 4")), "{:?}", other.err());
    common::Harness::cleanup(h).await;
}

/// One aggregate over many buckets, appended in batches that straddle bucket boundaries.
#[tokio::test]
async fn long_aggregate_spans_buckets() {
    let h = <Cassandra as common::Harness>::new("buckets").await;
    let store = ScyllaStore::connect(options(&h.keyspace)).await.unwrap();
    let mut version = 0;
    for batch in 0..7u64 {
        let events: Vec<_> = (0..3).map(|i| common::ev(&format!("b{batch}-{i}"), "T", common::t((batch * 3 + i) as i64))).collect();
        version = store.append("spans", events, ExpectedVersion::Exact(version)).await.unwrap().version;
    }
    assert_eq!(version, 21);
    let all = store.read("spans", 1, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.sequence).collect::<Vec<_>>(), (1..=21).collect::<Vec<_>>());
    let page = store.read("spans", 4, 6).await.unwrap();
    assert_eq!(page.iter().map(|e| e.sequence).collect::<Vec<_>>(), (4..=9).collect::<Vec<_>>());
    drop(store);
    common::Harness::cleanup(h).await;
}

/// The feed holds back entries younger than `feed_settle`, so a poller cannot move past an append
/// whose feed row is still being written; they appear once settled.
#[tokio::test]
async fn feed_hides_unsettled_entries() {
    let h = <Cassandra as common::Harness>::new("settle").await;
    let store = ScyllaStore::connect(ScyllaOptions { feed_settle: Duration::from_secs(5), ..options(&h.keyspace) }).await.unwrap();
    store.append("s", vec![common::ev("s1", "T", common::t(0))], ExpectedVersion::NoStream).await.unwrap();
    assert!(store.feed(0, 10).await.unwrap().is_empty(), "a fresh entry is not in the feed yet");
    tokio::time::sleep(Duration::from_millis(5100)).await;
    let feed = store.feed(0, 10).await.unwrap();
    assert_eq!(feed.iter().map(|(_, e)| e.event_id.as_str()).collect::<Vec<_>>(), ["s1"]);
    drop(store);
    common::Harness::cleanup(h).await;
}
