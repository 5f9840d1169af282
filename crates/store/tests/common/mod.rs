//! The one store test suite: every case is a generic async fn over a [`Harness`], and
//! `store_suite!` instantiates all of them as `#[tokio::test]`s for one backend, so SQLite and
//! Cassandra are held to exactly the same behaviour.
#![allow(dead_code)] // each test binary uses the harness for one backend only

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use switchboard_store::{
    ArchiveEntry, EventKey, EventStore, ExpectedVersion, NewEvent, Snapshot, StoreError, StoredEvent,
};
use tokio::sync::Barrier;

/// Opens a backend on one test's private data: `open` may be called again after the previous
/// store was dropped, and must see the same data (that is the restart test).
#[async_trait::async_trait]
pub trait Harness: Send + Sync + Sized + 'static {
    async fn new(test: &str) -> Self;
    async fn open(&self) -> Arc<dyn EventStore>;
    /// Removes the test's data (called at the end of a passing test).
    async fn cleanup(self) {}
}

/// A fixed, millisecond-aligned base time, so time queries are deterministic.
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().unwrap_or_default() + chrono::Duration::seconds(secs)
}

pub fn ev(id: &str, ty: &str, at: DateTime<Utc>) -> NewEvent {
    NewEvent {
        event_id: id.to_string(),
        event_type: ty.to_string(),
        event_time: at,
        payload: json!({"eventId": id, "eventType": ty, "eventTime": at.to_rfc3339(), "data": {"n": 1.50, "id": id}}),
    }
}

fn ids(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_id.as_str()).collect()
}

fn seqs(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.sequence).collect()
}

pub async fn ordering<H: Harness>(h: &H) {
    let store = h.open().await;
    let r = store.append("agg-1", vec![ev("e1", "T", t(0)), ev("e2", "T", t(1)), ev("e3", "T", t(2))], ExpectedVersion::NoStream).await.unwrap();
    assert_eq!((r.version, r.appended), (3, 3));
    let r = store.append("agg-1", vec![ev("e4", "T", t(3)), ev("e5", "T", t(4))], ExpectedVersion::Exact(3)).await.unwrap();
    assert_eq!((r.version, r.appended), (5, 2));
    let all = store.read("agg-1", 1, 100).await.unwrap();
    assert_eq!(seqs(&all), [1, 2, 3, 4, 5]);
    assert_eq!(ids(&all), ["e1", "e2", "e3", "e4", "e5"]);
    assert!(all.iter().all(|e| e.aggregate_id == "agg-1"));
    let e1 = ev("e1", "T", t(0));
    assert_eq!(all[0].payload, e1.payload, "the envelope is stored exactly as appended");
    assert_eq!(all[0].event_time, e1.event_time);
    let page = store.read("agg-1", 3, 2).await.unwrap();
    assert_eq!(seqs(&page), [3, 4]);
    assert!(store.read("agg-1", 6, 10).await.unwrap().is_empty());
    assert!(store.read("no-such-aggregate", 1, 10).await.unwrap().is_empty());
    assert!(store.read("agg-1", 0, 1).await.unwrap().len() == 1, "from 0 reads from the start");
}

pub async fn conflict_names_current_version<H: Harness>(h: &H) {
    let store = h.open().await;
    store.append("agg-c", vec![ev("c1", "T", t(0)), ev("c2", "T", t(1))], ExpectedVersion::Any).await.unwrap();
    match store.append("agg-c", vec![ev("c3", "T", t(2))], ExpectedVersion::Exact(1)).await {
        Err(StoreError::Conflict { aggregate_id, expected, current }) => {
            assert_eq!(aggregate_id, "agg-c");
            assert_eq!(expected, ExpectedVersion::Exact(1));
            assert_eq!(current, 2);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        store.append("agg-c", vec![ev("c3", "T", t(2))], ExpectedVersion::NoStream).await,
        Err(StoreError::Conflict { current: 2, .. })
    ));
    assert!(matches!(
        store.append("agg-new", vec![ev("n1", "T", t(2))], ExpectedVersion::Exact(1)).await,
        Err(StoreError::Conflict { current: 0, .. })
    ));
    assert_eq!(store.read("agg-c", 1, 10).await.unwrap().len(), 2, "a refused append writes nothing");
}

/// Two tasks race on one aggregate for every version: exactly one wins each, the loser is told
/// the winner's version, and the aggregate ends with one event per version, no gaps.
pub async fn concurrent_appenders<H: Harness>(h: &H) {
    let store = h.open().await;
    const VERSIONS: u64 = 15;
    for v in 0..VERSIONS {
        let barrier = Arc::new(Barrier::new(2));
        let mut tasks = Vec::new();
        for who in ["a", "b"] {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let id = format!("{who}-{v}");
                (who, store.append("race", vec![ev(&id, "T", t(v as i64))], ExpectedVersion::Exact(v)).await)
            }));
        }
        let mut wins = 0;
        for task in tasks {
            let (who, result) = task.await.unwrap();
            match result {
                Ok(r) => {
                    wins += 1;
                    assert_eq!(r.version, v + 1, "{who} won version {v}");
                }
                Err(StoreError::Conflict { current, .. }) => assert_eq!(current, v + 1, "{who} lost version {v}"),
                Err(e) => panic!("{who}: unexpected error {e}"),
            }
        }
        assert_eq!(wins, 1, "exactly one appender wins version {v}");
    }
    let all = store.read("race", 1, 100).await.unwrap();
    assert_eq!(seqs(&all), (1..=VERSIONS).collect::<Vec<_>>());

    // Appenders with ExpectedVersion::Any never conflict and never lose an event.
    let mut tasks = Vec::new();
    for who in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                store.append("race-any", vec![ev(&format!("any-{who}-{i}"), "T", t(i))], ExpectedVersion::Any).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let all = store.read("race-any", 1, 100).await.unwrap();
    assert_eq!(seqs(&all), (1..=20).collect::<Vec<_>>());
    let mut unique: Vec<_> = ids(&all);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20);
}

pub async fn idempotent_reappend<H: Harness>(h: &H) {
    let store = h.open().await;
    let batch = vec![ev("i1", "T", t(0)), ev("i2", "T", t(1))];
    let r = store.append("agg-i", batch.clone(), ExpectedVersion::NoStream).await.unwrap();
    assert_eq!((r.version, r.appended), (2, 2));
    // The same append retried (e.g. after a lost reply): a no-op, not a conflict, not a duplicate.
    let r = store.append("agg-i", batch, ExpectedVersion::NoStream).await.unwrap();
    assert_eq!((r.version, r.appended), (2, 0));
    // A batch that overlaps: only the new event is written.
    let r = store.append("agg-i", vec![ev("i2", "T", t(1)), ev("i3", "T", t(2))], ExpectedVersion::Any).await.unwrap();
    assert_eq!((r.version, r.appended), (3, 1));
    // A batch that repeats an event within itself stores it once.
    let r = store.append("agg-i", vec![ev("i4", "T", t(3)), ev("i4", "T", t(3))], ExpectedVersion::Exact(3)).await.unwrap();
    assert_eq!((r.version, r.appended), (4, 1));
    // The same eventId in another aggregate is another event.
    let r = store.append("agg-j", vec![ev("i1", "T", t(0))], ExpectedVersion::Any).await.unwrap();
    assert_eq!((r.version, r.appended), (1, 1));
    assert_eq!(ids(&store.read("agg-i", 1, 100).await.unwrap()), ["i1", "i2", "i3", "i4"]);
}

pub async fn snapshots<H: Harness>(h: &H) {
    let store = h.open().await;
    assert_eq!(store.load_snapshot("agg-s").await.unwrap(), None);
    for v in [2u64, 5, 3] {
        store
            .save_snapshot(Snapshot { aggregate_id: "agg-s".into(), version: v, data: json!({"v": v, "name": "x"}), created_at: t(v as i64) })
            .await
            .unwrap();
    }
    let s = store.load_snapshot("agg-s").await.unwrap().unwrap();
    assert_eq!(s, Snapshot { aggregate_id: "agg-s".into(), version: 5, data: json!({"v": 5, "name": "x"}), created_at: t(5) });
    // Saving the same version again replaces it.
    store.save_snapshot(Snapshot { aggregate_id: "agg-s".into(), version: 5, data: json!({"v": "five"}), created_at: t(9) }).await.unwrap();
    assert_eq!(store.load_snapshot("agg-s").await.unwrap().unwrap().data, json!({"v": "five"}));
    assert_eq!(store.load_snapshot("other").await.unwrap(), None);
}

pub async fn time_queries<H: Harness>(h: &H) {
    let store = h.open().await;
    // Two aggregates, times spanning more than one hour (so more than one time bucket).
    store.append("a", vec![ev("a1", "member.created", t(0)), ev("a2", "member.updated", t(10))], ExpectedVersion::Any).await.unwrap();
    store.append("b", vec![ev("b1", "member.created", t(10)), ev("b2", "member.created", t(3700))], ExpectedVersion::Any).await.unwrap();
    store.append("a", vec![ev("a3", "member.updated", t(7300))], ExpectedVersion::Any).await.unwrap();

    let all = store.read_by_time(t(0), t(8000), None, 100).await.unwrap();
    assert_eq!(ids(&all), ["a1", "a2", "b1", "b2", "a3"], "time order, ties by aggregate then sequence");
    let window = store.read_by_time(t(10), t(3700), None, 100).await.unwrap();
    assert_eq!(ids(&window), ["a2", "b1"], "from is inclusive, to exclusive");
    let created = store.read_by_time(t(0), t(8000), Some("member.created"), 100).await.unwrap();
    assert_eq!(ids(&created), ["a1", "b1", "b2"]);
    let limited = store.read_by_time(t(0), t(8000), Some("member.updated"), 1).await.unwrap();
    assert_eq!(ids(&limited), ["a2"]);
    assert!(store.read_by_time(t(-100), t(0), None, 100).await.unwrap().is_empty());
}

/// Paging by time with a [`TimePosition`] cursor: stable when many events share one eventTime
/// and across time buckets; the type filter and the window still apply.
pub async fn time_paging<H: Harness>(h: &H) {
    let store = h.open().await;
    let same: Vec<NewEvent> = (0..15).map(|i| ev(&format!("p{i:02}"), "member.updated", t(5))).collect();
    store.append("pb", same[..7].to_vec(), ExpectedVersion::Any).await.unwrap();
    store.append("pa", same[7..].to_vec(), ExpectedVersion::Any).await.unwrap();
    store.append("pc", vec![ev("late", "member.created", t(3700)), ev("later", "member.updated", t(3701))], ExpectedVersion::Any).await.unwrap();
    let mut seen = Vec::new();
    let mut after: Option<switchboard_store::TimePosition> = None;
    loop {
        let page = store.read_by_time_after(t(0), t(8000), None, after.as_ref(), 4).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        after = page.last().map(switchboard_store::TimePosition::of);
        seen.extend(page.iter().map(|e| e.event_id.clone()));
    }
    let mut expected: Vec<String> = (7..15).chain(0..7).map(|i| format!("p{i:02}")).collect();
    expected.extend(["late".to_string(), "later".to_string()]);
    assert_eq!(seen, expected, "every event once, in (time, aggregate, sequence) order");
    let first = store.read_by_time_after(t(0), t(8000), Some("member.updated"), None, 14).await.unwrap();
    let rest = store.read_by_time_after(t(0), t(8000), Some("member.updated"), first.last().map(switchboard_store::TimePosition::of).as_ref(), 10).await.unwrap();
    assert_eq!(ids(&rest), ["p06", "later"]);
    let cursor = switchboard_store::TimePosition::of(&rest[0]);
    assert!(store.read_by_time_after(t(0), t(3701), None, Some(&cursor), 10).await.unwrap().iter().all(|e| e.event_id == "late"));
}

pub async fn feed_order<H: Harness>(h: &H) {
    let store = h.open().await;
    store.append("x", vec![ev("f1", "T", t(5)), ev("f2", "T", t(1))], ExpectedVersion::Any).await.unwrap();
    store.append("y", vec![ev("f3", "T", t(0))], ExpectedVersion::Any).await.unwrap();
    store.append("x", vec![ev("f4", "T", t(2))], ExpectedVersion::Any).await.unwrap();
    let feed = settled_feed(&*store, 0, 100, 4).await;
    let order: Vec<_> = feed.iter().map(|(_, e)| e.event_id.as_str()).collect();
    assert_eq!(order, ["f1", "f2", "f3", "f4"], "the feed is in append order, not event-time order");
    assert!(feed.windows(2).all(|w| w[0].0 < w[1].0), "positions strictly increase");
    // Polling from a position returns only what comes after it.
    let rest = store.feed(feed[1].0, 100).await.unwrap();
    assert_eq!(rest.iter().map(|(_, e)| e.event_id.as_str()).collect::<Vec<_>>(), ["f3", "f4"]);
    let page = store.feed(0, 2).await.unwrap();
    assert_eq!(page.iter().map(|(_, e)| e.event_id.as_str()).collect::<Vec<_>>(), ["f1", "f2"]);
    assert!(store.feed(feed[3].0, 100).await.unwrap().is_empty());

    // A projection in the seed's MemberProjector style: fold the feed into a read model.
    let mut per_aggregate = std::collections::BTreeMap::new();
    let mut after = 0;
    loop {
        let page = store.feed(after, 3).await.unwrap();
        let Some((last, _)) = page.last() else { break };
        after = *last;
        for (_, e) in &page {
            *per_aggregate.entry(e.aggregate_id.clone()).or_insert(0) += 1;
        }
    }
    assert_eq!(per_aggregate.into_iter().collect::<Vec<_>>(), [("x".to_string(), 3), ("y".to_string(), 1)]);
}

/// The feed may hold back the newest writes for a short settle delay (Cassandra: see
/// docs/event-store.md); wait until `want` entries are visible.
async fn settled_feed(store: &dyn EventStore, after: u64, limit: usize, want: usize) -> Vec<(u64, StoredEvent)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let feed = store.feed(after, limit).await.unwrap();
        if feed.len() >= want || tokio::time::Instant::now() > deadline {
            return feed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn delete_events<H: Harness>(h: &H) {
    let store = h.open().await;
    store.append("d", vec![ev("d1", "T", t(0)), ev("d2", "T", t(1)), ev("d3", "T", t(2))], ExpectedVersion::NoStream).await.unwrap();
    store.delete(&[EventKey { aggregate_id: "d".into(), sequence: 1 }, EventKey { aggregate_id: "d".into(), sequence: 2 }]).await.unwrap();
    // Deleting what is already gone is not an error (the archiver may retry).
    store.delete(&[EventKey { aggregate_id: "d".into(), sequence: 1 }, EventKey { aggregate_id: "nope".into(), sequence: 9 }]).await.unwrap();
    assert_eq!(ids(&store.read("d", 1, 10).await.unwrap()), ["d3"]);
    assert_eq!(ids(&store.read_by_time(t(0), t(10), None, 10).await.unwrap()), ["d3"]);
    let feed = settled_feed(&*store, 0, 10, 1).await;
    assert_eq!(feed.iter().map(|(_, e)| e.event_id.as_str()).collect::<Vec<_>>(), ["d3"]);
    // Deleting archived events neither rewinds the version nor forgets the eventIds.
    let r = store.append("d", vec![ev("d1", "T", t(0))], ExpectedVersion::Any).await.unwrap();
    assert_eq!((r.version, r.appended), (3, 0));
    let r = store.append("d", vec![ev("d4", "T", t(3))], ExpectedVersion::Exact(3)).await.unwrap();
    assert_eq!((r.version, r.appended), (4, 1));
}

/// Archived events go back at their own sequences into the store they were deleted from: the
/// same bytes, the version unchanged, twice is a no-op, a foreign event at a sequence refuses
/// the call and writes nothing of it.
pub async fn restore_archived_events<H: Harness>(h: &H) {
    let store = h.open().await;
    store
        .append("r", vec![ev("r1", "T", t(0)), ev("r2", "T", t(1)), ev("r3", "T", t(2)), ev("r4", "T", t(3))], ExpectedVersion::NoStream)
        .await
        .unwrap();
    let before = store.read("r", 1, 10).await.unwrap();
    let archived: Vec<StoredEvent> = before[..3].to_vec();
    let keys: Vec<EventKey> = archived.iter().map(|e| EventKey { aggregate_id: "r".into(), sequence: e.sequence }).collect();
    store.delete(&keys).await.unwrap();
    assert_eq!(ids(&store.read("r", 1, 10).await.unwrap()), ["r4"]);

    let counts = store.restore_archived("r", archived.clone()).await.unwrap();
    assert_eq!((counts.restored, counts.already_present), (3, 0));
    assert_eq!(store.read("r", 1, 10).await.unwrap(), before, "back at their sequences, unchanged");
    assert_eq!(ids(&store.read_by_time(t(0), t(10), None, 10).await.unwrap()), ["r1", "r2", "r3", "r4"]);
    let counts = store.restore_archived("r", archived.clone()).await.unwrap();
    assert_eq!((counts.restored, counts.already_present), (0, 3), "a second restore writes nothing");
    // The version did not move, and the eventIds are still known.
    let r = store.append("r", vec![ev("r2", "T", t(1))], ExpectedVersion::Any).await.unwrap();
    assert_eq!((r.version, r.appended), (4, 0));
    let r = store.append("r", vec![ev("r5", "T", t(4))], ExpectedVersion::Exact(4)).await.unwrap();
    assert_eq!((r.version, r.appended), (5, 1));

    // A different event at an archived sequence: refused, and nothing of the call is written.
    store.delete(&keys[..1]).await.unwrap();
    let mut foreign = archived[1].clone();
    foreign.event_id = "other".into();
    let err = store.restore_archived("r", vec![archived[0].clone(), foreign]).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("#2 holds event r2"), "{err}");
    assert_eq!(ids(&store.read("r", 1, 10).await.unwrap()), ["r2", "r3", "r4", "r5"], "r1 was not restored either");
    // Events of another aggregate are refused.
    let err = store.restore_archived("x", archived[..1].to_vec()).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
}

fn entry(key: &str, first: i64) -> ArchiveEntry {
    ArchiveEntry {
        object_key: key.into(),
        checksum: format!("sha256:{key}"),
        size_bytes: 1234,
        count: 3,
        first_time: t(first),
        last_time: t(first + 60),
        aggregates: vec![("a".into(), 1, 2), ("b".into(), 7, 7)],
        archived_at: t(first + 3600),
    }
}

pub async fn archive_index<H: Harness>(h: &H) {
    let store = h.open().await;
    assert!(store.list_archives().await.unwrap().is_empty());
    store.record_archive(entry("2026/03/01/b.jsonl.zst", 100)).await.unwrap();
    store.record_archive(entry("2026/03/01/a.jsonl.zst", 0)).await.unwrap();
    let listed = store.list_archives().await.unwrap();
    assert_eq!(listed, [entry("2026/03/01/a.jsonl.zst", 0), entry("2026/03/01/b.jsonl.zst", 100)], "ordered by first event time");
    // Recording the same object again (a retried archive run) replaces, never duplicates.
    let mut again = entry("2026/03/01/a.jsonl.zst", 0);
    again.checksum = "sha256:new".into();
    store.record_archive(again.clone()).await.unwrap();
    let listed = store.list_archives().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], again);
}

/// Drop the store between the writes and the reads: everything must come back from disk, and
/// appends must continue from the stored version.
pub async fn restart<H: Harness>(h: &H) {
    let feed_before = {
        let store = h.open().await;
        store.append("r", vec![ev("r1", "T", t(0)), ev("r2", "T", t(1))], ExpectedVersion::NoStream).await.unwrap();
        store.save_snapshot(Snapshot { aggregate_id: "r".into(), version: 2, data: json!({"s": 2}), created_at: t(2) }).await.unwrap();
        store.record_archive(entry("k", 0)).await.unwrap();
        settled_feed(&*store, 0, 10, 2).await
    };
    assert_eq!(feed_before.len(), 2);
    let store = h.open().await;
    assert_eq!(ids(&store.read("r", 1, 10).await.unwrap()), ["r1", "r2"]);
    assert_eq!(store.load_snapshot("r").await.unwrap().map(|s| s.version), Some(2));
    assert_eq!(store.list_archives().await.unwrap(), [entry("k", 0)]);
    assert_eq!(store.feed(0, 10).await.unwrap(), feed_before);
    assert_eq!(ids(&store.read_by_time(t(0), t(10), None, 10).await.unwrap()), ["r1", "r2"]);
    assert!(matches!(store.append("r", vec![ev("r3", "T", t(3))], ExpectedVersion::Exact(1)).await, Err(StoreError::Conflict { current: 2, .. })));
    let r = store.append("r", vec![ev("r2", "T", t(1)), ev("r3", "T", t(3))], ExpectedVersion::Exact(2)).await.unwrap();
    assert_eq!((r.version, r.appended), (3, 1));
    let feed_after = settled_feed(&*store, feed_before[1].0, 10, 1).await;
    assert_eq!(feed_after.iter().map(|(_, e)| e.event_id.as_str()).collect::<Vec<_>>(), ["r3"]);
}

/// Two stores open on the same data at once (two gateway processes): each sees the other's
/// appends, conflicts are detected across them, and `Any` appends from both interleave.
pub async fn two_writers<H: Harness>(h: &H) {
    let (a, b) = (h.open().await, h.open().await);
    assert_eq!(a.append("w", vec![ev("w1", "T", t(0))], ExpectedVersion::NoStream).await.unwrap().version, 1);
    assert_eq!(b.append("w", vec![ev("w2", "T", t(1))], ExpectedVersion::Exact(1)).await.unwrap().version, 2);
    assert!(matches!(
        a.append("w", vec![ev("w3", "T", t(2))], ExpectedVersion::Exact(1)).await,
        Err(StoreError::Conflict { current: 2, .. })
    ));
    assert_eq!(a.append("w", vec![ev("w3", "T", t(2))], ExpectedVersion::Any).await.unwrap().version, 3);
    assert_eq!(b.append("w", vec![ev("w3", "T", t(2))], ExpectedVersion::Exact(2)).await.unwrap().appended, 0, "w3 is already stored");
    assert_eq!(b.append("w", vec![ev("w4", "T", t(3))], ExpectedVersion::Exact(3)).await.unwrap().version, 4);
    assert_eq!(a.append("w", vec![ev("w5", "T", t(4))], ExpectedVersion::Exact(4)).await.unwrap().version, 5);
    assert_eq!(ids(&b.read("w", 1, 10).await.unwrap()), ["w1", "w2", "w3", "w4", "w5"]);
}

pub async fn invalid_requests<H: Harness>(h: &H) {
    let store = h.open().await;
    assert!(matches!(store.append("", vec![ev("x", "T", t(0))], ExpectedVersion::Any).await, Err(StoreError::Invalid(_))));
    assert!(matches!(store.append("a", vec![ev("", "T", t(0))], ExpectedVersion::Any).await, Err(StoreError::Invalid(_))));
    let r = store.append("a", vec![], ExpectedVersion::Any).await.unwrap();
    assert_eq!((r.version, r.appended), (0, 0), "an empty append is a no-op");
    // Ids past the limit are refused before anything is written (Cassandra would refuse the
    // 70,000-byte key only after storing the event row, and every retry stored it again).
    let long = "x".repeat(70_000);
    for (aggregate, event) in [(long.as_str(), ev("ok", "T", t(0))), ("a", ev(&long, "T", t(0))), ("a", ev("ok", &long, t(0)))] {
        match store.append(aggregate, vec![event], ExpectedVersion::Any).await {
            Err(StoreError::Invalid(m)) => assert!(m.contains("70000 bytes") && !m.contains("xxxx"), "{m}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
    assert!(store.read("a", 1, 10).await.unwrap().is_empty(), "nothing was stored");
    let edge = "y".repeat(switchboard_store::MAX_ID_BYTES);
    store.append(&edge, vec![ev(&edge, "T", t(0))], ExpectedVersion::Any).await.unwrap();
    assert_eq!(ids(&store.read(&edge, 1, 10).await.unwrap()), [edge.as_str()], "the limit itself is stored");
}

/// Instantiates every case of the suite as a test for one backend's [`Harness`].
#[macro_export]
macro_rules! store_suite {
    ($harness:ty: $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let h = <$harness as common::Harness>::new(stringify!($case)).await;
                common::$case(&h).await;
                common::Harness::cleanup(h).await;
            }
        )+
    };
    ($harness:ty) => {
        store_suite!($harness: ordering, conflict_names_current_version, concurrent_appenders, idempotent_reappend,
            snapshots, time_queries, time_paging, feed_order, delete_events, restore_archived_events, archive_index, restart, two_writers,
            invalid_requests);
    };
}
