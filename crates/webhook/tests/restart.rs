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
        let dispatcher = Dispatcher::start(
            outbox,
            vec![Endpoint::new(config).unwrap()],
            Arc::new(MemorySink::default()),
            &prometheus::Registry::new(),
            DispatcherConfig::default(),
            tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap();
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
        let dispatcher = Dispatcher::start(
            outbox,
            vec![Endpoint::new(config).unwrap()],
            sink.clone(),
            &prometheus::Registry::new(),
            DispatcherConfig::default(),
            shutdown.clone(),
        )
        .await
        .unwrap();
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
