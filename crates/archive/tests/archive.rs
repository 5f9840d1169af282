//! End-to-end tests of the archiver on the real SqliteStore and the real S3 test server
//! (`scripts/services up s3`); they fail, never skip, when the server is not there.
mod common;

use std::ops::ControlFlow;
use std::path::Path;

use common::*;
use switchboard_archive::{ArchiveError, Archiver, RestoreFilter, Step, TargetConfig};
use switchboard_store::EventStore;

/// Every old event appears exactly once between the hot store and the archive, and a full
/// restore into an empty store (done twice) reproduces them byte for byte.
async fn assert_nothing_lost_or_duplicated(archiver: &Archiver, store: &dyn EventStore, expected_old: &[u8], scratch: &Path) {
    let mut all = hot_events(store).await;
    let mut out = Vec::new();
    archiver.restore_jsonl(store, RestoreFilter::default(), &mut out).await.unwrap();
    let restored: Vec<switchboard_store::StoredEvent> =
        out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    all.extend(restored);
    all.retain(|e| e.event_time < cutoff());
    all.sort_by(|a, b| (a.event_time, &a.aggregate_id, a.sequence).cmp(&(b.event_time, &b.aggregate_id, b.sequence)));
    assert_same_bytes(&jsonl(&all), expected_old, "hot store + archive");

    let fresh = open_store(scratch, "fresh.db");
    let first = archiver.restore_into_store(store, RestoreFilter::default(), &fresh).await;
    let first = first.unwrap_or_else(|e| panic!("restore into an empty store: {e}"));
    let second = archiver.restore_into_store(store, RestoreFilter::default(), &fresh).await.unwrap();
    assert_eq!(second.restored, 0, "a second restore must write nothing");
    assert_eq!(second.already_present, first.restored, "a second restore finds every event present");
    let mut archived_only = Vec::new();
    archiver.restore_jsonl(store, RestoreFilter::default(), &mut archived_only).await.unwrap();
    assert_same_bytes(&jsonl(&hot_events(&fresh).await), &archived_only, "restored store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_archives_100k_events_and_restores_them_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), "hot.db");
    let old = seed(&store, 100, 1_000, 25).await;
    assert_eq!(old, 100_000);
    let expected = old_events_jsonl(&store).await;
    let archiver = s3_archiver(&unique_prefix("100k"), 10_000).await;

    let report = archiver.run_once(&store, cutoff()).await.unwrap();
    assert_eq!(report.events, 100_000);
    assert_eq!(report.objects, 10);
    assert!(report.compressed_bytes < report.uncompressed_bytes / 3, "{report:?}");
    let hot = hot_events(&store).await;
    assert_eq!(hot.len(), 25, "only the recent events stay hot");
    assert!(hot.iter().all(|e| e.aggregate_id == "recent"));
    let index = store.list_archives().await.unwrap();
    assert_eq!(index.len(), 10);
    assert_eq!(index.iter().map(|e| e.count).sum::<u64>(), 100_000);

    assert_same_bytes(&restored_jsonl(&archiver, &store).await, &expected, "restore of 100,000 events");

    // Back into an empty store, twice: byte-identical, never duplicated.
    let fresh = open_store(dir.path(), "fresh.db");
    let first = archiver.restore_into_store(&store, RestoreFilter::default(), &fresh).await.unwrap();
    assert_eq!((first.restored, first.already_present), (100_000, 0));
    let second = archiver.restore_into_store(&store, RestoreFilter::default(), &fresh).await.unwrap();
    assert_eq!((second.restored, second.already_present), (0, 100_000));
    assert_same_bytes(&jsonl(&hot_events(&fresh).await), &expected, "store restored from the archive");

    // A second run finds nothing more to archive.
    assert_eq!(archiver.run_once(&store, cutoff()).await.unwrap().events, 0);
}

#[tokio::test]
async fn local_directory_archive_restore_and_read_including_archive() {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    let store = open_store(dir.path(), "hot.db");
    seed(&store, 10, 200, 5).await;
    let expected = old_events_jsonl(&store).await;
    let before = store.read("member/0003", 0, usize::MAX).await.unwrap();
    let archiver = local_archiver(&archive_dir, "local", 300);

    let report = archiver.run_once(&store, cutoff()).await.unwrap();
    assert_eq!((report.events, report.objects), (2_000, 7));
    let files: Vec<_> = walk(&archive_dir);
    assert_eq!(files.len(), 7, "{files:?}");
    assert!(files.iter().all(|f| f.ends_with(".jsonl.zst")), "{files:?}");
    assert_same_bytes(&restored_jsonl(&archiver, &store).await, &expected, "local restore");

    // One aggregate, one time window.
    let filter = RestoreFilter { from: seed_start(), to: seed_start() + chrono::TimeDelta::seconds(1), aggregate: Some("member/0003".into()) };
    let mut out = Vec::new();
    let n = archiver.restore_jsonl(&store, filter, &mut out).await.unwrap();
    assert_eq!(n, 10, "member/0003 has one event per 100 ms in the first second");
    assert_same_bytes(&out, &jsonl(&before[..10]), "aggregate window");

    // --include-archive: the archived history and the hot tail, in sequence order.
    assert!(store.read("member/0003", 0, 10).await.unwrap().is_empty());
    assert_eq!(archiver.read_including_archive(&store, "member/0003").await.unwrap(), before);
    let recent = archiver.read_including_archive(&store, "recent").await.unwrap();
    assert_eq!(recent.len(), 5, "never archived, read from the hot store");

    assert_nothing_lost_or_duplicated(&archiver, &store, &expected, dir.path()).await;
}

#[tokio::test]
async fn a_corrupted_object_is_refused_on_restore() {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    let store = open_store(dir.path(), "hot.db");
    seed(&store, 2, 50, 0).await;
    let archiver = local_archiver(&archive_dir, "corrupt", 1_000);
    archiver.run_once(&store, cutoff()).await.unwrap();
    let files = walk(&archive_dir);
    assert_eq!(files.len(), 1);
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&files[0], bytes).unwrap();
    let err = archiver.restore_jsonl(&store, RestoreFilter::default(), &mut Vec::new()).await.unwrap_err();
    assert!(matches!(err, ArchiveError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
}

#[tokio::test]
async fn restoring_into_the_store_it_was_archived_from_puts_events_back_at_their_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), "hot.db");
    seed(&store, 3, 20, 5).await;
    let expected = old_events_jsonl(&store).await;
    let before = hot_events(&store).await;
    let archiver = local_archiver(&dir.path().join("archive"), "same-store", 1_000);
    let report = archiver.run_once(&store, cutoff()).await.unwrap();
    assert_eq!(report.events, 60);
    assert_eq!(hot_events(&store).await.len(), 5, "only the recent events stay hot");

    let first = archiver.restore_into_store(&store, RestoreFilter::default(), &store).await.unwrap();
    assert_eq!((first.restored, first.already_present), (60, 0));
    assert_same_bytes(&jsonl(&hot_events(&store).await), &jsonl(&before), "the store after restoring into itself");
    assert_same_bytes(&old_events_jsonl(&store).await, &expected, "the old events, back at their sequences");
    let second = archiver.restore_into_store(&store, RestoreFilter::default(), &store).await.unwrap();
    assert_eq!((second.restored, second.already_present), (0, 60), "restoring twice never duplicates");
    // Versions did not move: the next append to an aggregate continues after its last sequence.
    let next = switchboard_store::NewEvent {
        event_id: "after-restore".into(),
        event_type: "member.updated".into(),
        event_time: cutoff(),
        payload: serde_json::json!({"eventId": "after-restore"}),
    };
    let r = store.append("member/0000", vec![next], switchboard_store::ExpectedVersion::Exact(20)).await.unwrap();
    assert_eq!((r.version, r.appended), (21, 1));
}

/// Stops a run at `stop_at` (the state a process killed there leaves), reruns it, and checks
/// that nothing was lost or duplicated.
async fn crash_and_rerun(test: &str, stop_at: fn(&Step<'_>) -> bool) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), "hot.db");
    let old = seed(&store, 10, 500, 10).await;
    let expected = old_events_jsonl(&store).await;
    let archiver = s3_archiver(&unique_prefix(test), 1_000).await;

    let mut hook = |step: &Step<'_>| if stop_at(step) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) };
    let err = archiver.run_once_with(&store, cutoff(), &mut hook).await.unwrap_err();
    assert!(matches!(err, ArchiveError::Interrupted(_)), "{err}");
    let left_after_crash = hot_events(&store).await.len() as u64 - 10;

    let rerun = archiver.run_once(&store, cutoff()).await.unwrap();
    assert_eq!(rerun.events, left_after_crash, "the rerun archives exactly what the crash left");
    assert_eq!(hot_events(&store).await.len(), 10);
    let index = store.list_archives().await.unwrap();
    assert_eq!(index.iter().map(|e| e.count).sum::<u64>(), old as u64, "each event indexed once: {index:#?}");
    assert_nothing_lost_or_duplicated(&archiver, &store, &expected, dir.path()).await;
    (left_after_crash, rerun.already_indexed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_upload_before_index_and_delete_loses_nothing() {
    let (left, already_indexed) =
        crash_and_rerun("crash-upload", |s| matches!(s, Step::Uploaded { batch: 2, .. })).await;
    assert_eq!(left, 4_000, "batch 1 was done, batch 2 uploaded but not deleted");
    assert_eq!(already_indexed, 0, "batch 2 was never indexed: the rerun overwrote and indexed it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_index_before_delete_loses_nothing_and_indexes_once() {
    let (left, already_indexed) =
        crash_and_rerun("crash-index", |s| matches!(s, Step::Recorded { batch: 3, .. })).await;
    assert_eq!(left, 3_000);
    assert_eq!(already_indexed, 1, "batch 3 was indexed by the crashed run, not indexed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_some_deletes_loses_nothing() {
    let (left, _) = crash_and_rerun("crash-delete", |s| matches!(s, Step::Deleted { batch: 2, .. })).await;
    assert_eq!(left, 3_000);
}

/// A real process kill: this test re-runs itself as a child process that aborts (SIGABRT, no
/// unwinding, no destructors) right after indexing its second batch; then the parent reruns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_archiver_process_then_rerun_loses_nothing() {
    const CHILD: &str = "SB_ARCHIVE_TEST_CHILD_STORE";
    if let Ok(path) = std::env::var(CHILD) {
        let store = open_store(Path::new(&path), "hot.db");
        let archiver = s3_archiver(&std::env::var("SB_ARCHIVE_TEST_PREFIX").unwrap(), 1_000).await;
        let mut hook = |step: &Step<'_>| {
            if matches!(step, Step::Recorded { batch: 2, .. }) {
                std::process::abort();
            }
            ControlFlow::Continue(())
        };
        let _ = archiver.run_once_with(&store, cutoff(), &mut hook).await;
        unreachable!("the child must have aborted");
    }
    let dir = tempfile::tempdir().unwrap();
    let (old, expected) = {
        let store = open_store(dir.path(), "hot.db");
        let old = seed(&store, 5, 600, 3).await;
        (old, old_events_jsonl(&store).await)
    };
    let prefix = unique_prefix("killed");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "killed_archiver_process_then_rerun_loses_nothing", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .env("SB_ARCHIVE_TEST_PREFIX", &prefix)
        .status()
        .unwrap();
    assert!(!status.success(), "the child archiver should have been killed, got {status}");

    let store = open_store(dir.path(), "hot.db");
    assert_eq!(hot_events(&store).await.len(), 3_000 - 1_000 + 3, "batch 1 deleted, batch 2 indexed but not deleted");
    assert_eq!(store.list_archives().await.unwrap().len(), 2);
    let archiver = s3_archiver(&prefix, 1_000).await;
    let rerun = archiver.run_once(&store, cutoff()).await.unwrap();
    assert_eq!((rerun.events, rerun.objects, rerun.already_indexed), (2_000, 2, 1), "batch 2 rewritten under its own name");
    assert_eq!(store.list_archives().await.unwrap().len(), 3);
    assert_eq!(hot_events(&store).await.len(), 3);
    assert_eq!(old, 3_000);
    assert_nothing_lost_or_duplicated(&archiver, &store, &expected, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_server_stopped_mid_run_fails_clearly_and_deletes_nothing_more() {
    let mut server = PrivateS3::start();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), "hot.db");
    let old = seed(&store, 4, 1_000, 2).await;
    let expected = old_events_jsonl(&store).await;
    let config = config("stopped", 1_000, TargetConfig::S3(server.config()));
    let archiver = Archiver::from_config(&config, dir.path()).unwrap();

    let mut server_handle = server.child.take();
    let mut hook = |step: &Step<'_>| {
        if matches!(step, Step::Deleted { batch: 1, .. }) {
            if let Some(mut child) = server_handle.take() {
                child.kill().unwrap();
                child.wait().unwrap();
            }
        }
        ControlFlow::Continue(())
    };
    let err = archiver.run_once_with(&store, cutoff(), &mut hook).await.unwrap_err();
    let message = err.to_string();
    eprintln!("the run failed as it should: {message}");
    assert!(matches!(err, ArchiveError::ObjectStore { op: "uploading", .. }), "{message}");
    assert!(message.contains(&server.endpoint), "the error names the server: {message}");
    assert!(message.to_lowercase().contains("connect") || message.contains("refused"), "{message}");

    // Batch 1 was archived before the server died; nothing after it was deleted or indexed.
    assert_eq!(hot_events(&store).await.len(), old - 1_000 + 2);
    assert_eq!(store.list_archives().await.unwrap().len(), 1);
    let remaining = jsonl(&store.read_by_time(chrono::DateTime::<chrono::Utc>::MIN_UTC, cutoff(), None, usize::MAX).await.unwrap());
    assert!(expected.ends_with(&remaining), "the hot store keeps exactly the events after batch 1");
}

#[tokio::test]
async fn unreachable_s3_server_fails_before_deleting_anything() {
    let mut server = PrivateS3::start();
    let config = server.config();
    server.stop();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), "hot.db");
    seed(&store, 2, 100, 0).await;
    let before = hot_events(&store).await;
    let archiver = Archiver::from_config(&common::config("down", 50, TargetConfig::S3(config)), dir.path()).unwrap();
    let err = archiver.run_once(&store, cutoff()).await.unwrap_err();
    assert!(err.to_string().contains("uploading"), "{err}");
    assert_eq!(hot_events(&store).await, before, "nothing deleted");
    assert!(store.list_archives().await.unwrap().is_empty(), "nothing indexed");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    out.sort();
    out
}
