//! The delivery client (src/client.rs) against real servers on loopback: HTTPS through rustls
//! to a partner behind a private CA, a certificate the dispatcher does not trust, credentials in
//! the URL and the default headers. (tests/runtime.rs: where the dispatcher runs.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::*;
use switchboard_webhook::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_partner_behind_a_private_ca() {
    let cert = test_ca();
    let server = TestServer::start_tls(&cert, |_, _| Action::ok()).await;
    let mut config = fast_endpoint("partner", &server.url("/hook"));
    config.signing_secret = Some(Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    let ca = cert.ca_pem.clone().into_bytes();
    let dir = tempfile::tempdir().unwrap();
    let h = start_configured(dir, vec![config], Arc::new(MemorySink::default()), |c| {
        c.extra_root_certs = ca;
    })
    .await;
    let deliveries: Vec<_> = (0..20).map(|i| delivery("partner", i)).collect();
    h.dispatcher.enqueue_batch(deliveries).await.unwrap();
    wait_until("20 delivered over HTTPS", Duration::from_secs(10), || {
        server.delivered_ids().len() == 20
    })
    .await;
    let r = server.delivered.lock().unwrap()[0].clone();
    assert!(r.header("webhook-signature").unwrap().starts_with("v1,"));
    assert_eq!(h.sink.len(), 0);
    wait_until("outbox empty", Duration::from_secs(5), || {
        h.dispatcher.outbox().depth() == 0
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_untrusted_ca_is_refused_retried_and_dead_lettered() {
    let cert = test_ca();
    let server = TestServer::start_tls(&cert, |_, _| Action::ok()).await;
    let mut config = fast_endpoint("partner", &server.url("/hook"));
    config.attempts = 2;
    // The webpki roots only: the test CA is not among them.
    let h = start(vec![config]).await;
    h.dispatcher.enqueue(delivery("partner", 1)).await.unwrap();
    wait_until("dead-lettered", Duration::from_secs(10), || h.sink.len() == 1).await;
    assert_eq!(server.request_count(), 0, "no request reaches a server the client does not trust");
    let record = h.sink.records.lock().unwrap()[0].clone();
    assert_eq!(record.error.kind, "WebhookRetriesExhausted");
    assert_eq!(record.attempts.len(), 2);
    let error = record.attempts[1].error.clone().unwrap();
    assert!(
        error.to_lowercase().contains("certificate"),
        "the attempt names the certificate problem: {error}"
    );
    h.stop().await;
}

/// A certificate from a trusted CA, but for another name: the host name is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_host_name_is_refused() {
    let cert = test_ca();
    let server = TestServer::start_tls(&cert, |_, _| Action::ok()).await;
    // The certificate is for `localhost`; the URL names the address.
    let mut config = fast_endpoint("partner", &format!("https://127.0.0.1:{}/hook", server.addr.port()));
    config.attempts = 1;
    let ca = cert.ca_pem.clone().into_bytes();
    let dir = tempfile::tempdir().unwrap();
    let h = start_configured(dir, vec![config], Arc::new(MemorySink::default()), |c| {
        c.extra_root_certs = ca;
    })
    .await;
    h.dispatcher.enqueue(delivery("partner", 1)).await.unwrap();
    wait_until("dead-lettered", Duration::from_secs(10), || h.sink.len() == 1).await;
    assert_eq!(server.request_count(), 0);
    let error = h.sink.records.lock().unwrap()[0].attempts[0].error.clone().unwrap();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    h.stop().await;
}

/// A server that accepts the connection but never answers the TLS handshake: the endpoint's
/// timeout covers the handshake too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_covers_a_tls_handshake_that_never_ends() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            keep.lock().unwrap().push(stream); // accepted, never read from or written to
        }
    });
    let mut config = fast_endpoint("partner", &format!("https://localhost:{port}/hook"));
    config.attempts = 1;
    config.timeout = Duration::from_millis(300);
    let h = start(vec![config]).await;
    let started = std::time::Instant::now();
    h.dispatcher.enqueue(delivery("partner", 1)).await.unwrap();
    wait_until("dead-lettered", Duration::from_secs(10), || h.sink.len() == 1).await;
    let record = h.sink.records.lock().unwrap()[0].clone();
    assert_eq!(record.attempts[0].error.as_deref(), Some("timeout"));
    assert!(record.attempts[0].duration_ms >= 250, "{:?}", record.attempts[0]);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!held.lock().unwrap().is_empty(), "the client did connect");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_are_sent_as_basic_auth_and_never_recorded() {
    let server = TestServer::start(|_, n| if n == 0 { Action::status(400) } else { Action::ok() }).await;
    let url = format!("http://partner:p%40ss@{}/hook?q=1", server.addr);
    let mut config = fast_endpoint("partner", &url);
    config.attempts = 1;
    let h = start(vec![config]).await;
    h.dispatcher.enqueue(delivery("partner", 1)).await.unwrap();
    wait_until("rejected", Duration::from_secs(10), || h.sink.len() == 1).await;
    let r = server.requests.lock().unwrap()[0].clone();
    let expected = base64::engine::general_purpose::STANDARD.encode("partner:p@ss");
    assert_eq!(r.header("authorization"), Some(format!("Basic {expected}").as_str()));
    assert_eq!(r.path_and_query, "/hook?q=1");
    assert_eq!(r.header("accept"), Some("*/*"));
    assert!(
        r.header("user-agent").unwrap().starts_with("switchboard-webhook/"),
        "{:?}",
        r.header("user-agent")
    );
    let record = serde_json::to_string(&h.sink.records.lock().unwrap()[0]).unwrap();
    assert!(!record.contains("p%40ss") && !record.contains("p@ss") && !record.contains(&expected), "{record}");
    assert!(record.contains(&format!("http://{}/hook", server.addr)), "{record}");
    h.stop().await;
}

/// An Authorization header configured on the endpoint wins over credentials in the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_authorization_header_wins_over_url_credentials() {
    let server = TestServer::start(|_, _| Action::ok()).await;
    let mut config = fast_endpoint("partner", &format!("http://u:p@{}/hook", server.addr));
    config.headers.push(("Authorization".into(), Secret::new("Bearer t0k3n")));
    let h = start(vec![config]).await;
    h.dispatcher.enqueue(delivery("partner", 1)).await.unwrap();
    wait_until("delivered", Duration::from_secs(5), || server.delivered_ids().len() == 1).await;
    let r = server.requests.lock().unwrap()[0].clone();
    assert_eq!(r.header("authorization"), Some("Bearer t0k3n"));
    h.stop().await;
}
