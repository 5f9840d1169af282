//! Secrets appear in no log line: every tracing event of the process, at TRACE and from every
//! thread (the dispatcher's own included), is captured while deliveries succeed, fail, retry,
//! time out and are dead-lettered; none contains a header value, the signing secret or the URL's
//! query token.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use switchboard_webhook::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_appear_in_no_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Global, so events from every runtime thread are captured.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let token = "tok_SUPERSECRET_4711";
    let signing = "whsec_c3VwZXJzZWNyZXRzaWduaW5na2V5";
    let query_token = "qtok_HIDDEN_0815";
    let server = TestServer::start(|_, n| match n % 5 {
        0 => Action::status(500),
        1 => Action::Reset,
        2 => Action::Hang(Duration::from_millis(400)),
        3 => Action::Respond {
            status: 400,
            headers: vec![],
            body: "nope".into(),
        },
        _ => Action::ok(),
    })
    .await;
    let mut config = fast_endpoint(
        "partner",
        &format!("{}?token={query_token}", server.url("/hook")),
    );
    config.headers.push((
        "Authorization".into(),
        Secret::new(format!("Bearer {token}")),
    ));
    config.signing_secret = Some(Secret::new(signing));
    config.timeout = Duration::from_millis(200);
    config.attempts = 3;
    tracing::info!(?config, "configured"); // Debug of the configuration is logged on purpose
    let endpoint = Endpoint::new(config).unwrap();
    tracing::info!(?endpoint, "validated");
    let h = start_in(
        tempfile::tempdir().unwrap(),
        vec![],
        Arc::new(MemorySink::default()),
    )
    .await;
    h.dispatcher.register(endpoint);
    for i in 0..20 {
        h.dispatcher.enqueue(delivery("partner", i)).await.unwrap();
    }
    wait_until("all settled", Duration::from_secs(30), || {
        server.delivered_ids().len() + h.sink.len() >= 20
    })
    .await;
    h.stop().await;

    // The secrets did reach the partner (so the test exercised them)...
    let requests = server.requests.lock().unwrap().clone();
    assert!(requests
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {token}")[..])));
    assert!(requests
        .iter()
        .all(|r| r.path_and_query.contains(query_token)));
    // ...and never a log line.
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 20,
        "logging was captured: {} lines",
        logs.lines().count()
    );
    assert!(
        logs.contains("dead-lettered"),
        "the failure paths were logged"
    );
    for secret in [token, signing, "c3VwZXJzZWNyZXRzaWduaW5na2V5", query_token] {
        let hits: Vec<&str> = logs.lines().filter(|l| l.contains(secret)).collect();
        assert!(hits.is_empty(), "secret {secret} logged in: {hits:#?}");
    }
}
