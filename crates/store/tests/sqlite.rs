//! The store suite against the embedded SQLite backend (a fresh database file per test).
mod common;

use std::sync::Arc;

use switchboard_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use switchboard_store::EventStore;

struct Sqlite {
    dir: tempfile::TempDir,
}

#[async_trait::async_trait]
impl common::Harness for Sqlite {
    async fn new(_test: &str) -> Self {
        Sqlite { dir: tempfile::tempdir().unwrap() }
    }
    async fn open(&self) -> Arc<dyn EventStore> {
        Arc::new(SqliteStore::open(&self.dir.path().join("events.db"), SqliteOptions::default()).unwrap())
    }
}

store_suite!(Sqlite);

/// Synchronous=NORMAL is an option, not a different store: the same data comes back.
#[tokio::test]
async fn synchronous_normal_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let opts = SqliteOptions { synchronous: Synchronous::Normal, ..SqliteOptions::default() };
    {
        let store = SqliteStore::open(&path, opts.clone()).unwrap();
        store.append("n", vec![common::ev("n1", "T", common::t(0))], switchboard_store::ExpectedVersion::NoStream).await.unwrap();
    }
    let store = SqliteStore::open(&path, opts).unwrap();
    assert_eq!(store.read("n", 1, 10).await.unwrap().len(), 1);
}

/// Group commit: many concurrent appenders share transactions, and every one of them is
/// acknowledged with its own correct version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_many_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("g.db"), SqliteOptions::default()).unwrap());
    let mut tasks = Vec::new();
    for a in 0..50 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..10u64 {
                let r = store
                    .append(&format!("g{a}"), vec![common::ev(&format!("g{a}-{i}"), "T", common::t(0))], switchboard_store::ExpectedVersion::Exact(i))
                    .await
                    .unwrap();
                assert_eq!(r.version, i + 1);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.feed(0, 10_000).await.unwrap().len(), 500);
}
