//! A dispatcher killed mid-retry loses nothing: the reopened outbox resumes with the retry state.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use switchboard_webhook::*;

/// Phase 1 runs on its own runtime against a partner that fails everything; the runtime is then
/// dropped mid-retry, as a crash would (no drain, attempts cut off). Phase 2 reopens the same
/// outbox against a healthy partner: every delivery arrives, and the attempt history from before
/// the crash is kept.
#[test]
fn a_dispatcher_dropped_mid_retry_resumes_from_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let n = 100;

    // The partner lives on its own runtime so it outlives phase 1.
    let partner_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = partner_rt.block_on(TestServer::start(|_, _| Action::status(503)));
    let url = server.url("/hook");

    let phase1 = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    phase1.block_on(async {
        let outbox = Outbox::open(&path).unwrap();
        let mut config = fast_endpoint("partner", &url);
        config.backoff = Backoff {
            min: Duration::from_millis(50),
            max: Duration::from_millis(300),
        };
        config.attempts = 50;
        let dispatcher = dispatcher_on(outbox, config, Arc::new(MemorySink::default()), tokio_util::sync::CancellationToken::new()).await;
        for i in 0..n {
            dispatcher.enqueue(delivery("partner", i)).await.unwrap();
        }
        // Wait until every row's retry state shows two failed attempts, then crash. Each retry
        // state is an fsync'd commit: on a machine busy with other builds that can take seconds,
        // hence the generous deadline.
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let pending = dispatcher.outbox().pending(1000).await.unwrap();
            if pending.len() == n && pending.iter().all(|p| p.attempt_count >= 2) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "retries did not progress: {:?}",
                pending
                    .iter()
                    .map(|p| (
                        p.attempt_count,
                        p.next_attempt_at.timestamp_millis()
                            - chrono::Utc::now().timestamp_millis()
                    ))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    drop(phase1); // the crash: tasks are dropped wherever they are

    server.set_behaviour(|_, _| Action::ok());
    let phase2 = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    phase2.block_on(async {
        let outbox = Outbox::open(&path).unwrap();
        let pending = outbox.pending(1000).await.unwrap();
        assert_eq!(pending.len(), n, "nothing was lost");
        let counts: Vec<u32> = pending.iter().map(|p| p.attempt_count).collect();
        assert!(
            counts.iter().all(|&c| c >= 2),
            "the retry state was persisted: {counts:?}"
        );
        assert!(pending
            .iter()
            .all(|p| p.attempts.iter().all(|a| a.status == Some(503))));
        let mut config = fast_endpoint("partner", &url);
        config.attempts = 50;
        let sink = Arc::new(MemorySink::default());
        let shutdown = tokio_util::sync::CancellationToken::new();
        let dispatcher = dispatcher_on(outbox, config, sink.clone(), shutdown.clone()).await;
        wait_until(
            "all delivered after the restart",
            Duration::from_secs(60),
            || server.delivered_ids().len() == n,
        )
        .await;
        wait_until("outbox empty", Duration::from_secs(5), || {
            dispatcher.outbox().depth() == 0
        })
        .await;
        let ids: HashSet<String> = server.delivered_ids().into_keys().collect();
        assert_eq!(ids, (0..n).map(|i| event(i).0).collect::<HashSet<_>>());
        assert_eq!(sink.len(), 0);
        shutdown.cancel();
        dispatcher.drained().await;
    });
    drop(server);
}

/// Graceful shutdown lets the attempt in flight finish and record its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains_attempts_in_flight() {
    let server = TestServer::start(|_, _| Action::Hang(Duration::from_millis(300))).await;
    let h = start(vec![fast_endpoint("partner", &server.url("/hook"))]).await;
    h.dispatcher.enqueue(delivery("partner", 1)).await.unwrap();
    wait_until("attempt started", Duration::from_secs(5), || {
        server.request_count() == 1
    })
    .await;
    let outbox = h.dispatcher.outbox().clone();
    h.stop().await;
    assert_eq!(
        outbox.depth(),
        0,
        "the in-flight attempt finished and its row was removed"
    );
}

/// A second process (here: a second open) cannot take an outbox another instance holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_directory_belongs_to_one_instance() {
    let dir = tempfile::tempdir().unwrap();
    let first = Outbox::open(dir.path()).unwrap();
    first.enqueue(delivery("partner", 1)).await.unwrap();
    let started = std::time::Instant::now();
    let second = tokio::task::spawn_blocking({
        let path = dir.path().to_owned();
        move || Outbox::open(path)
    })
    .await
    .unwrap();
    let error = second
        .err()
        .expect("the second open must fail while the first holds the lock");
    assert!(
        error.to_string().contains("another gateway instance"),
        "{error}"
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
    drop(first);
}

/// An outbox directory written by the first (SQLite) version is imported at open: every row
/// with its retry state, and the endpoints a 410 disabled. The database is kept, renamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_outbox_of_the_first_version_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join("outbox.sqlite3")).unwrap();
        // The first version's schema, as it created it.
        conn.execute_batch(
            "CREATE TABLE deliveries (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL UNIQUE,
                event_id TEXT NOT NULL, endpoint TEXT NOT NULL, body BLOB NOT NULL,
                headers TEXT NOT NULL, original_event TEXT NOT NULL, correlation_id TEXT,
                enqueued_at INTEGER NOT NULL, attempt_count INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL, attempts TEXT NOT NULL DEFAULT '[]',
                dead_reason TEXT, dead_message TEXT, claimed INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE disabled_endpoints (endpoint TEXT PRIMARY KEY, disabled_at INTEGER NOT NULL, reason TEXT NOT NULL);
             PRAGMA journal_mode = WAL;",
        )
        .unwrap();
        let attempts = r#"[{"attempt":1,"at":"2026-12-01T10:00:00Z","status":503,"error":null,"durationMs":4}]"#;
        conn.execute(
            "INSERT INTO deliveries (delivery_id, event_id, endpoint, body, headers, original_event,
                correlation_id, enqueued_at, attempt_count, next_attempt_at, attempts)
             VALUES ('evt-1/partner', 'evt-1', 'partner', X'7B7D', '[[\"traceparent\",\"00-1-2-01\"]]',
                '{\"eventId\":\"evt-1\"}', 'c-1', 1, 1, 5, ?1)",
            [attempts],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO deliveries (delivery_id, event_id, endpoint, body, headers, original_event,
                enqueued_at, next_attempt_at, dead_reason, dead_message)
             VALUES ('evt-2/gone', 'evt-2', 'gone', X'7B7D', '[]', 'null', 2, 6,
                'WebhookEndpointGone', 'the endpoint answered 410 Gone and is disabled')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO disabled_endpoints VALUES ('gone', 3, '410 Gone')",
            [],
        )
        .unwrap();
    }
    let check = |pending: Vec<PendingDelivery>| {
        assert_eq!(pending.len(), 2, "{pending:?}");
        assert_eq!(pending[0].delivery_id, "evt-1/partner");
        assert_eq!(pending[0].attempt_count, 1);
        assert_eq!(pending[0].attempts[0].status, Some(503));
        assert_eq!(pending[0].next_attempt_at.timestamp_millis(), 5);
        assert_eq!(pending[1].dead_reason, Some(DeadLetterReason::EndpointGone));
    };
    let outbox = Outbox::open(dir.path()).unwrap();
    check(outbox.pending(10).await.unwrap());
    assert_eq!(outbox.disabled_endpoints().await.unwrap(), vec!["gone".to_owned()]);
    assert!(!dir.path().join("outbox.sqlite3").exists());
    assert!(dir.path().join("outbox.sqlite3.imported").exists());
    drop(outbox);
    // Imported once: a reopen reads the log and finds the same rows, not twice as many.
    let outbox = open_again(dir.path()).await;
    check(outbox.pending(10).await.unwrap());
    assert_eq!(outbox.disabled_endpoints().await.unwrap(), vec!["gone".to_owned()]);
}

/// A dispatcher on `outbox` for one endpoint, with default settings and its own registry.
async fn dispatcher_on(
    outbox: Outbox,
    endpoint: EndpointConfig,
    dead_letters: Arc<MemorySink>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Dispatcher {
    Dispatcher::start(
        outbox,
        vec![Endpoint::new(endpoint).unwrap()],
        dead_letters,
        &prometheus::Registry::new(),
        // On the test's runtime, so that dropping that runtime cuts every attempt off where it
        // is, as a crash would (a dispatcher with a runtime of its own stops in the background).
        DispatcherConfig { threads: 0, ..Default::default() },
        shutdown,
    )
    .await
    .unwrap()
}

/// Opens an outbox whose previous handle was just dropped (its writer thread may still be
/// releasing the lock: `open` waits for it).
async fn open_again(path: &std::path::Path) -> Outbox {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || Outbox::open(path))
        .await
        .unwrap()
        .unwrap()
}

/// The child process of `sigkill_mid_stream_loses_no_acknowledged_delivery`: enqueues batches
/// forever into the outbox at `$OUTBOX_CHILD_DIR` while its dispatcher delivers them to
/// `$OUTBOX_CHILD_URL`, printing `acked N` after batch N's enqueue returned.
fn outbox_child(dir: String, url: String) {
    use std::io::Write as _;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Small segments: rolls and compaction run all the time while the process is killed.
        let options = OutboxOptions { segment_bytes: 64 * 1024, ..OutboxOptions::default() };
        let outbox = Outbox::open_with(&dir, options).unwrap();
        let dispatcher = dispatcher_on(outbox, fast_endpoint("partner", &url), Arc::new(MemorySink::default()), tokio_util::sync::CancellationToken::new()).await;
        for batch in 0.. {
            let deliveries = (batch * CHILD_BATCH..(batch + 1) * CHILD_BATCH)
                .map(|i| delivery("partner", i))
                .collect();
            dispatcher.enqueue_batch(deliveries).await.unwrap();
            let mut out = std::io::stdout().lock();
            writeln!(out, "acked {batch}").unwrap();
            out.flush().unwrap();
        }
    });
}

const CHILD_BATCH: usize = 20;

/// A gateway process killed with SIGKILL mid-stream — enqueues, deliveries, removals, segment
/// rolls and compaction all under way — loses nothing it acknowledged: every delivery whose
/// enqueue returned either reached the partner (a real HTTP server in this process) or is in the
/// outbox when it is reopened, and a dispatcher on the reopened outbox delivers all of them.
#[test]
fn sigkill_mid_stream_loses_no_acknowledged_delivery() {
    if let (Ok(dir), Ok(url)) = (std::env::var("OUTBOX_CHILD_DIR"), std::env::var("OUTBOX_CHILD_URL")) {
        return outbox_child(dir, url);
    }
    use std::io::BufRead as _;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(TestServer::start(|_, _| Action::ok()));
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigkill_mid_stream_loses_no_acknowledged_delivery", "--nocapture", "--test-threads=1"])
        .env("OUTBOX_CHILD_DIR", dir.path())
        .env("OUTBOX_CHILD_URL", server.url("/hook"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = None;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ").and_then(|n| n.parse::<usize>().ok()) {
            acked = Some(n);
            if n >= 300 && !server.delivered_ids().is_empty() {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, it did not finish: {status}");
    let acked = acked.expect("the child acknowledged batches");

    let outbox = runtime.block_on(open_again(dir.path()));
    let pending: HashSet<String> = runtime
        .block_on(outbox.pending(usize::MAX))
        .unwrap()
        .into_iter()
        .map(|p| p.event_id)
        .collect();
    let delivered: HashSet<String> = server.delivered_ids().into_keys().collect();
    let acknowledged: Vec<String> = (0..(acked + 1) * CHILD_BATCH).map(|i| event(i).0).collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !delivered.contains(*id) && !pending.contains(*id))
        .collect();
    assert!(lost.is_empty(), "{} acknowledged deliveries lost, e.g. {:?}", lost.len(), &lost[..lost.len().min(5)]);
    eprintln!(
        "killed after batch {acked}: {} acknowledged, {} delivered, {} still in the outbox",
        acknowledged.len(),
        delivered.len(),
        pending.len()
    );

    // Restarted, the gateway delivers the rest.
    runtime.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let dispatcher = dispatcher_on(outbox, fast_endpoint("partner", &server.url("/hook")), Arc::new(MemorySink::default()), shutdown.clone()).await;
        wait_until("every acknowledged delivery delivered after the restart", Duration::from_secs(60), || {
            let delivered = server.delivered_ids();
            acknowledged.iter().all(|id| delivered.contains_key(id))
        })
        .await;
        wait_until("the outbox drained", Duration::from_secs(10), || dispatcher.outbox().depth() == 0).await;
        shutdown.cancel();
        dispatcher.drained().await;
    });
    drop(server);
}
