//! End-to-end delivery against a real loopback HTTP server the test controls.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use switchboard_webhook::*;

/// 5% of answers fail (500, a reset, or 429); every event reaches the receiver, and a receiver
/// that deduplicates by webhook-id sees each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_failures_every_event_delivered_once_by_webhook_id() {
    let server = TestServer::start(|_, _| match fastrand::u32(0..100) {
        0..=1 => Action::status(500),
        2..=3 => Action::Reset,
        4 => Action::Respond {
            status: 429,
            headers: vec![("Retry-After".into(), "0".into())],
            body: String::new(),
        },
        _ => Action::ok(),
    })
    .await;
    let h = start(vec![fast_endpoint("partner", &server.url("/hook"))]).await;
    let n = 500;
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        h.dispatcher
            .enqueue_batch(chunk.iter().map(|&i| delivery("partner", i)).collect())
            .await
            .unwrap();
    }
    wait_until("all delivered", Duration::from_secs(60), || {
        server.delivered_ids().len() == n
    })
    .await;
    wait_until("outbox empty", Duration::from_secs(10), || {
        h.dispatcher.outbox().depth() == 0
    })
    .await;
    let ids = server.delivered_ids();
    let expected: HashSet<String> = (0..n).map(|i| event(i).0).collect();
    assert_eq!(
        ids.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "the deduplicating receiver saw every event"
    );
    // No failure here is ambiguous (no 2xx is lost on the way back), so even without
    // deduplication each event was answered 2xx once.
    assert!(ids.values().all(|&count| count == 1), "{ids:?}");
    assert_eq!(h.sink.len(), 0, "nothing dead-lettered");
    assert!(
        server.request_count() > n,
        "some attempts failed and were retried"
    );
    assert_eq!(
        h.metric("webhook_deliveries_total", &[("result", "delivered")]),
        Some(n as f64)
    );
    h.stop().await;
}

/// Half the answers fail and only 3 attempts are allowed: every delivery ends delivered or
/// dead-lettered, none both, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_percent_failures_every_delivery_ends_delivered_or_dead_lettered() {
    let server = TestServer::start(|_, _| {
        if fastrand::bool() {
            Action::status(503)
        } else {
            Action::ok()
        }
    })
    .await;
    let mut config = fast_endpoint("partner", &server.url("/hook"));
    config.attempts = 3;
    let h = start(vec![config]).await;
    let n = 400;
    for i in 0..n {
        h.dispatcher.enqueue(delivery("partner", i)).await.unwrap();
    }
    wait_until("every delivery settled", Duration::from_secs(60), || {
        server.delivered_ids().len() + h.sink.len() == n
    })
    .await;
    wait_until("outbox empty", Duration::from_secs(10), || {
        h.dispatcher.outbox().depth() == 0
    })
    .await;
    let delivered: HashSet<String> = server.delivered_ids().into_keys().collect();
    let dead: HashSet<String> = h.sink.ids().into_iter().collect();
    assert!(delivered.is_disjoint(&dead));
    let all: HashSet<String> = delivered.union(&dead).cloned().collect();
    assert_eq!(all, (0..n).map(|i| event(i).0).collect::<HashSet<_>>());
    // With p = 1/8 of failing three times, ~50 of 400 are expected in the DLQ.
    assert!(
        !dead.is_empty() && dead.len() < n / 3,
        "dead-lettered: {}",
        dead.len()
    );
    for record in h.sink.records.lock().unwrap().iter() {
        assert_eq!(record.error.kind, "WebhookRetriesExhausted");
        assert_eq!(record.attempts.len(), 3);
        assert!(record.attempts.iter().all(|a| a.status == Some(503)));
        assert_eq!(record.endpoint, server.url("/hook"));
        assert_eq!(record.original_event["eventId"], record.webhook_id.as_str());
    }
    h.stop().await;
}

/// 410 disables the endpoint: the delivery, the pending ones and later ones go to the DLQ
/// without further requests; the disabled state survives a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_410_disables_the_endpoint_and_dead_letters_its_deliveries() {
    let server = TestServer::start(|_, _| Action::status(410)).await;
    let mut config = fast_endpoint("partner", &server.url("/hook"));
    config.concurrency = 1;
    let h = start(vec![config.clone()]).await;
    for i in 0..5 {
        h.dispatcher.enqueue(delivery("partner", i)).await.unwrap();
    }
    wait_until("all dead-lettered", Duration::from_secs(10), || {
        h.sink.len() == 5
    })
    .await;
    assert!(h.dispatcher.is_disabled("partner"));
    assert_eq!(
        server.request_count(),
        1,
        "only the first delivery reached the partner"
    );
    h.dispatcher.enqueue(delivery("partner", 99)).await.unwrap();
    wait_until(
        "a later delivery dead-lettered",
        Duration::from_secs(10),
        || h.sink.len() == 6,
    )
    .await;
    assert_eq!(server.request_count(), 1);
    assert!(h
        .sink
        .records
        .lock()
        .unwrap()
        .iter()
        .all(|r| r.error.kind == "WebhookEndpointGone"));
    assert_eq!(h.metric("webhook_endpoint_disabled", &[]), Some(1.0));
    // Counted after the sink returned: wait for the last one.
    wait_until("six counted as gone", Duration::from_secs(5), || {
        h.metric("webhook_deliveries_total", &[("result", "gone")]) == Some(6.0)
    })
    .await;

    // Restart: still disabled.
    let (sink, dir) = h.stop().await;
    let h = start_in(dir, vec![config], sink).await;
    assert!(h.dispatcher.is_disabled("partner"));
    h.dispatcher
        .enqueue(delivery("partner", 100))
        .await
        .unwrap();
    wait_until(
        "dead-lettered after restart",
        Duration::from_secs(10),
        || h.sink.len() == 7,
    )
    .await;
    assert_eq!(server.request_count(), 1);
    // Re-enabling delivers again.
    server.set_behaviour(|_, _| Action::ok());
    assert!(h.dispatcher.enable_endpoint("partner").await.unwrap());
    h.dispatcher
        .enqueue(delivery("partner", 101))
        .await
        .unwrap();
    wait_until("delivered after re-enable", Duration::from_secs(10), || {
        server.delivered_ids().len() == 1
    })
    .await;
    h.stop().await;
}

/// 400 goes to the DLQ at once, with the status and the start of the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_400_is_dead_lettered_at_once_with_status_and_truncated_body() {
    let long_body = format!("invalid payload: {}", "x".repeat(5000));
    let server = TestServer::start(move |_, _| Action::Respond {
        status: 400,
        headers: vec![],
        body: long_body.clone(),
    })
    .await;
    let h = start(vec![fast_endpoint("partner", &server.url("/hook"))]).await;
    h.dispatcher.enqueue(delivery("partner", 1)).await.unwrap();
    wait_until("dead-lettered", Duration::from_secs(10), || {
        h.sink.len() == 1
    })
    .await;
    assert_eq!(server.request_count(), 1, "no retry after a 400");
    let record = h.sink.records.lock().unwrap()[0].clone();
    assert_eq!(record.error.kind, "WebhookRejected");
    assert_eq!(record.attempts.len(), 1);
    assert_eq!(record.attempts[0].status, Some(400));
    let body = record.attempts[0].error.clone().unwrap();
    assert!(body.starts_with("invalid payload: xxx"));
    assert_eq!(body.len(), 1024, "body truncated to max_error_body");
    assert!(record.error.message.contains("HTTP 400"));
    // The envelope has the seed's shape.
    let json = serde_json::to_value(&record).unwrap();
    for field in [
        "/originalEvent/eventId",
        "/error/type",
        "/error/message",
        "/error/stackTrace",
        "/processingContext/processor",
        "/processingContext/timestamp",
        "/attempts/0/at",
        "/attempts/0/status",
        "/endpoint",
    ] {
        assert!(json.pointer(field).is_some(), "missing {field} in {json}");
    }
    // The row is removed right after the sink returned: wait for that, then look.
    wait_until("row removed", Duration::from_secs(5), || {
        h.dispatcher.outbox().depth() == 0
    })
    .await;
    assert!(h.dispatcher.outbox().pending(10).await.unwrap().is_empty());
    // The record carries what a replay needs: the same delivery, attempts from zero.
    let replay = record.to_delivery().unwrap();
    assert_eq!(replay, delivery("partner", 1));
    h.stop().await;
}

/// 429 with Retry-After: 1 is not retried before a second has passed, even with a 10ms backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let server = TestServer::start(|_, n| {
        if n == 0 {
            Action::Respond {
                status: 429,
                headers: vec![("Retry-After".into(), "1".into())],
                body: String::new(),
            }
        } else {
            Action::ok()
        }
    })
    .await;
    let h = start(vec![fast_endpoint("partner", &server.url("/hook"))]).await;
    h.dispatcher.enqueue(delivery("partner", 1)).await.unwrap();
    wait_until("delivered", Duration::from_secs(10), || {
        server.delivered_ids().len() == 1
    })
    .await;
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    assert_eq!(
        requests[0].header("webhook-id"),
        requests[1].header("webhook-id"),
        "webhook-id is stable across retries"
    );
    h.stop().await;
}

/// A partner that hangs past the timeout is retried; the attempt history records the timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_connection_resets_are_retried() {
    let server = TestServer::start(|_, n| match n {
        0 => Action::Hang(Duration::from_secs(3)),
        1 => Action::Reset,
        2 => Action::status(502),
        3 => Action::status(408),
        _ => Action::ok(),
    })
    .await;
    let mut config = fast_endpoint("partner", &server.url("/hook"));
    config.timeout = Duration::from_millis(200);
    let h = start(vec![config]).await;
    h.dispatcher.enqueue(delivery("partner", 1)).await.unwrap();
    wait_until("delivered", Duration::from_secs(10), || {
        server.delivered_ids().len() == 1
    })
    .await;
    assert_eq!(server.request_count(), 5);
    assert_eq!(
        h.metric("webhook_attempts_total", &[("result", "retryable")]),
        Some(4.0)
    );
    h.stop().await;
}

/// The breaker opens after N consecutive failures (no requests during the cool-down), then lets
/// one probe through; a successful probe closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_opens_then_half_opens_with_one_probe() {
    let server = TestServer::start(|_, n| {
        if n < 3 {
            Action::status(500)
        } else {
            Action::ok()
        }
    })
    .await;
    let mut config = fast_endpoint("partner", &server.url("/hook"));
    config.circuit_breaker = CircuitBreaker {
        failure_threshold: 3,
        cool_down: Duration::from_millis(700),
    };
    config.concurrency = 1;
    let h = start(vec![config]).await;
    for i in 0..10 {
        h.dispatcher.enqueue(delivery("partner", i)).await.unwrap();
    }
    wait_until("three failures", Duration::from_secs(5), || {
        server.request_count() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let label = server.url("/hook");
    assert_eq!(
        h.metric("webhook_circuit_state", &[("endpoint", &label)]),
        Some(2.0),
        "open"
    );
    let opened = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.request_count(), 3, "no request while open");
    wait_until("all delivered", Duration::from_secs(10), || {
        server.delivered_ids().len() == 10
    })
    .await;
    let requests = server.requests.lock().unwrap().clone();
    let probe = &requests[3];
    assert!(
        probe.at >= opened + Duration::from_millis(250),
        "the probe waited for the cool-down"
    );
    assert_eq!(
        h.metric("webhook_circuit_state", &[("endpoint", &label)]),
        Some(0.0),
        "closed again"
    );
    h.stop().await;
}

/// A partner that hangs does not delay another endpoint's deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_partner_does_not_block_other_endpoints() {
    let slow = TestServer::start(|_, _| Action::Hang(Duration::from_secs(5))).await;
    let fast = TestServer::start(|_, _| Action::ok()).await;
    let mut slow_config = fast_endpoint("slow", &slow.url("/hook"));
    slow_config.timeout = Duration::from_secs(5);
    slow_config.concurrency = 2;
    let h = start(vec![slow_config, fast_endpoint("fast", &fast.url("/hook"))]).await;
    let started = std::time::Instant::now();
    for i in 0..50 {
        h.dispatcher.enqueue(delivery("slow", i)).await.unwrap();
        h.dispatcher.enqueue(delivery("fast", i)).await.unwrap();
    }
    wait_until("fast endpoint done", Duration::from_secs(4), || {
        fast.delivered_ids().len() == 50
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        slow.request_count() <= 2,
        "the slow endpoint's concurrency limit held"
    );
    h.shutdown.cancel();
}

/// A dead-letter sink that fails keeps the delivery in the outbox until it succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_dead_letter_sink_keeps_the_delivery_until_it_is_durable() {
    let server = TestServer::start(|_, _| Action::status(400)).await;
    let h = start(vec![fast_endpoint("partner", &server.url("/hook"))]).await;
    h.sink
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    h.dispatcher.enqueue(delivery("partner", 1)).await.unwrap();
    wait_until("a failed dead-letter write", Duration::from_secs(5), || {
        h.metric("webhook_dead_letter_failures_total", &[])
            .unwrap_or(0.0)
            >= 2.0
    })
    .await;
    let pending = h.dispatcher.outbox().pending(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].dead_reason, Some(DeadLetterReason::Rejected));
    h.sink
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    wait_until("dead-lettered", Duration::from_secs(5), || {
        h.sink.len() == 1
    })
    .await;
    wait_until("outbox empty", Duration::from_secs(5), || {
        h.dispatcher.outbox().depth() == 0
    })
    .await;
    assert_eq!(server.request_count(), 1, "the partner is not asked again");
    h.stop().await;
}

/// Method, endpoint headers, delivery headers and the Standard Webhooks headers arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carry_method_headers_and_body() {
    let server = TestServer::start(|_, _| Action::status(204)).await;
    let mut config = fast_endpoint("partner", &server.url("/hook?x=1"));
    config.method = Method::Put;
    config
        .headers
        .push(("Authorization".into(), Secret::new("Bearer t0k3n")));
    let h = start(vec![config]).await;
    let d = delivery("partner", 7)
        .with_header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        // A delivery's (a replayed record's) headers add, never replace the endpoint's.
        .with_header("Authorization", "Bearer forged")
        .with_header("webhook-id", "forged");
    let body = d.body.clone();
    h.dispatcher.enqueue(d).await.unwrap();
    wait_until("delivered", Duration::from_secs(5), || {
        server.delivered_ids().len() == 1
    })
    .await;
    let r = server.requests.lock().unwrap()[0].clone();
    assert_eq!(r.method, "PUT");
    assert_eq!(r.path_and_query, "/hook?x=1");
    assert_eq!(r.body, body);
    assert_eq!(r.header("authorization"), Some("Bearer t0k3n"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("webhook-id"), Some("evt-00007"));
    assert!(r
        .header("webhook-timestamp")
        .unwrap()
        .parse::<i64>()
        .is_ok());
    assert!(r.header("webhook-signature").is_none(), "unsigned endpoint");
    assert!(r.header("traceparent").is_some());
    // The gauge follows the removal, which follows the partner's answer.
    wait_until("depth gauge at 0", Duration::from_secs(5), || {
        h.metric("webhook_outbox_depth", &[]) == Some(0.0)
    })
    .await;
    assert_eq!(
        h.metric("webhook_outbox_limit", &[]),
        Some(OutboxOptions::default().max_deliveries as f64)
    );
    assert_eq!(
        h.metric("webhook_delivery_duration_seconds", &[]),
        Some(1.0)
    );
    h.stop().await;
}

/// Enqueueing the same delivery twice (a source redelivering after a crash) stores it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_is_idempotent_by_delivery_id_and_refuses_unknown_endpoints() {
    let server = TestServer::start(|_, _| Action::Hang(Duration::from_millis(300))).await;
    let h = start(vec![fast_endpoint("partner", &server.url("/hook"))]).await;
    assert!(matches!(
        h.dispatcher.enqueue(delivery("nobody", 1)).await,
        Err(EnqueueError::UnknownEndpoint(_))
    ));
    h.dispatcher
        .outbox()
        .enqueue_batch(vec![delivery("partner", 1), delivery("partner", 1)])
        .await
        .unwrap();
    assert!(!h
        .dispatcher
        .outbox()
        .enqueue(delivery("partner", 1))
        .await
        .unwrap());
    assert_eq!(h.dispatcher.outbox().depth(), 1);
    h.stop().await;
}
