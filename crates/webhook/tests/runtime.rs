//! Where the dispatcher runs: on a runtime thread of its own by default (`threads: 1`), which
//! stops when the dispatcher is dropped, or on the caller's runtime (`threads: 0`). One test, so
//! that no other dispatcher of this process is running while it counts threads.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;

fn dispatch_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "webhook-dispatc")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatcher_runs_on_its_own_thread_or_on_the_callers_runtime() {
    // A partner that fails every third request, so retries run too.
    let server = TestServer::start(|_, n| if n % 3 == 0 { Action::status(503) } else { Action::ok() }).await;
    assert_eq!(dispatch_threads(), 0);

    // The default: one thread of its own.
    let h = start(vec![fast_endpoint("partner", &server.url("/hook"))]).await;
    let deliveries: Vec<_> = (0..30).map(|i| delivery("partner", i)).collect();
    h.dispatcher.enqueue_batch(deliveries).await.unwrap();
    wait_until("30 delivered", Duration::from_secs(10), || server.delivered_ids().len() == 30).await;
    assert_eq!(dispatch_threads(), 1);
    drop(h.stop().await);
    wait_until("its thread stopped with it", Duration::from_secs(10), || dispatch_threads() == 0).await;

    // `threads: 0`: the caller's runtime, no thread of its own.
    let requests_before = server.request_count();
    let dir = tempfile::tempdir().unwrap();
    let h = start_configured(
        dir,
        vec![fast_endpoint("partner", &server.url("/hook"))],
        Arc::new(MemorySink::default()),
        |c| c.threads = 0,
    )
    .await;
    let deliveries: Vec<_> = (30..60).map(|i| delivery("partner", i)).collect();
    h.dispatcher.enqueue_batch(deliveries).await.unwrap();
    wait_until("60 delivered", Duration::from_secs(10), || server.delivered_ids().len() == 60).await;
    assert!(server.request_count() - requests_before > 30, "the 503s were retried");
    assert_eq!(dispatch_threads(), 0);
    h.stop().await;
}
