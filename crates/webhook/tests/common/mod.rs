//! Shared harness: a real HTTP server on loopback whose every answer the test decides, a
//! dead-letter sink in memory, and helpers to start a dispatcher and wait for conditions.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use switchboard_webhook::*;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path_and_query: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Action {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Sleeps, then answers 200 (too late for a client with a shorter timeout).
    Hang(Duration),
    /// Closes the connection without an answer.
    Reset,
}

impl Action {
    pub fn status(status: u16) -> Action {
        Action::Respond {
            status,
            headers: vec![],
            body: String::new(),
        }
    }
    pub fn ok() -> Action {
        Action::status(200)
    }
}

type Behaviour = Arc<dyn Fn(&Received, usize) -> Action + Send + Sync>;

/// The receiver. `requests` holds every request; `delivered` the ones answered 2xx.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Serving HTTPS (`start_tls`): `url` names `localhost`, which the certificate is for.
    tls: bool,
    pub requests: Arc<Mutex<Vec<Received>>>,
    pub delivered: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    stop: CancellationToken,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0. `behaviour(request, n)` decides; `n` counts requests from 0.
    pub async fn start(
        behaviour: impl Fn(&Received, usize) -> Action + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::start_with(None, behaviour).await
    }

    /// The same over HTTPS with `cert` (for `localhost`, see [`test_ca`]).
    pub async fn start_tls(
        cert: &TestCert,
        behaviour: impl Fn(&Received, usize) -> Action + Send + Sync + 'static,
    ) -> TestServer {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.leaf.clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(cert.leaf_key.clone_key()),
        )
        .unwrap();
        TestServer::start_with(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))), behaviour).await
    }

    async fn start_with(
        tls: Option<tokio_rustls::TlsAcceptor>,
        behaviour: impl Fn(&Received, usize) -> Action + Send + Sync + 'static,
    ) -> TestServer {
        let serves_tls = tls.is_some();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let behaviour: Arc<Mutex<Behaviour>> = Arc::new(Mutex::new(Arc::new(behaviour)));
        let counter = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let (r, d, b, s) = (
            requests.clone(),
            delivered.clone(),
            behaviour.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                    _ = s.cancelled() => return,
                };
                let (r, d, b, counter, s, tls) =
                    (r.clone(), d.clone(), b.clone(), counter.clone(), s.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (r, d, b, counter) = (r.clone(), d.clone(), b.clone(), counter.clone());
                        async move {
                            let method = req.method().to_string();
                            let path_and_query = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                })
                                .collect();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|c| c.to_bytes().to_vec())
                                .unwrap_or_default();
                            let received = Received {
                                method,
                                path_and_query,
                                headers,
                                body,
                                at: Instant::now(),
                            };
                            let n = counter.fetch_add(1, Ordering::SeqCst);
                            r.lock().unwrap().push(received.clone());
                            let behaviour = b.lock().unwrap().clone();
                            let action = behaviour(&received, n);
                            match action {
                                Action::Respond {
                                    status,
                                    headers,
                                    body,
                                } => {
                                    if (200..300).contains(&status) {
                                        d.lock().unwrap().push(received);
                                    }
                                    let mut resp = hyper::Response::builder().status(status);
                                    for (k, v) in headers {
                                        resp = resp.header(k, v);
                                    }
                                    Ok::<_, std::io::Error>(
                                        resp.body(Full::new(Bytes::from(body))).unwrap(),
                                    )
                                }
                                Action::Hang(duration) => {
                                    tokio::time::sleep(duration).await;
                                    Ok(hyper::Response::new(Full::new(Bytes::new())))
                                }
                                Action::Reset => Err(std::io::Error::other("reset by the test")),
                            }
                        }
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let conn = builder.serve_connection(TokioIo::new(stream), service);
                            tokio::select! {
                                _ = conn => {}
                                _ = s.cancelled() => {}
                            }
                        }
                        Some(acceptor) => {
                            // A failed handshake (a client that does not trust the certificate)
                            // just ends the connection.
                            let Ok(stream) = acceptor.accept(stream).await else { return };
                            let conn = builder.serve_connection(TokioIo::new(stream), service);
                            tokio::select! {
                                _ = conn => {}
                                _ = s.cancelled() => {}
                            }
                        }
                    }
                });
            }
        });
        TestServer {
            addr,
            tls: serves_tls,
            requests,
            delivered,
            behaviour,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        if self.tls {
            format!("https://localhost:{}{}", self.addr.port(), path)
        } else {
            format!("http://{}{}", self.addr, path)
        }
    }

    /// Changes what the server does from now on.
    pub fn set_behaviour(
        &self,
        behaviour: impl Fn(&Received, usize) -> Action + Send + Sync + 'static,
    ) {
        *self.behaviour.lock().unwrap() = Arc::new(behaviour);
    }

    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// webhook-ids of 2xx-answered requests, with how often each was seen.
    pub fn delivered_ids(&self) -> HashMap<String, usize> {
        let mut ids = HashMap::new();
        for r in self.delivered.lock().unwrap().iter() {
            *ids.entry(r.header("webhook-id").unwrap_or("").to_owned())
                .or_insert(0) += 1;
        }
        ids
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A private CA and a server certificate it issued for `localhost`, made fresh per test.
pub struct TestCert {
    /// The CA certificate, PEM: what a dispatcher must trust (`extra_root_certs`).
    pub ca_pem: String,
    pub leaf: rustls::pki_types::CertificateDer<'static>,
    pub leaf_key: rustls::pki_types::PrivatePkcs8KeyDer<'static>,
}

pub fn test_ca() -> TestCert {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "switchboard test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    TestCert {
        ca_pem: ca_cert.pem(),
        leaf: leaf.der().clone(),
        leaf_key: rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
    }
}

/// Dead letters in memory; can be told to fail.
#[derive(Default)]
pub struct MemorySink {
    pub records: Mutex<Vec<DeadLetterRecord>>,
    pub failing: AtomicBool,
}

#[async_trait::async_trait]
impl DeadLetterSink for MemorySink {
    async fn dead_letter(&self, record: DeadLetterRecord) -> Result<(), DeadLetterError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(DeadLetterError("sink down (test)".into()));
        }
        self.records.lock().unwrap().push(record);
        Ok(())
    }
}

impl MemorySink {
    pub fn ids(&self) -> Vec<String> {
        self.records
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.webhook_id.clone())
            .collect()
    }
    pub fn len(&self) -> usize {
        self.records.lock().unwrap().len()
    }
}

/// An endpoint with test-sized timings: backoff 10ms..200ms, 1s timeout.
pub fn fast_endpoint(key: &str, url: &str) -> EndpointConfig {
    let mut config = EndpointConfig::new(key, url);
    config.backoff = Backoff {
        min: Duration::from_millis(10),
        max: Duration::from_millis(200),
    };
    config.timeout = Duration::from_secs(1);
    config.attempts = 8;
    config.circuit_breaker = CircuitBreaker {
        failure_threshold: 0,
        cool_down: Duration::from_secs(1),
    };
    config
}

pub struct Harness {
    pub dispatcher: Dispatcher,
    pub sink: Arc<MemorySink>,
    pub registry: prometheus::Registry,
    pub shutdown: CancellationToken,
    pub dir: tempfile::TempDir,
}

pub async fn start(endpoints: Vec<EndpointConfig>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, endpoints, Arc::new(MemorySink::default())).await
}

pub async fn start_in(
    dir: tempfile::TempDir,
    endpoints: Vec<EndpointConfig>,
    sink: Arc<MemorySink>,
) -> Harness {
    start_configured(dir, endpoints, sink, |_| {}).await
}

/// Like [`start_in`], with `adjust` changing the dispatcher's configuration first.
pub async fn start_configured(
    dir: tempfile::TempDir,
    endpoints: Vec<EndpointConfig>,
    sink: Arc<MemorySink>,
    adjust: impl FnOnce(&mut DispatcherConfig),
) -> Harness {
    let outbox = Outbox::open(dir.path()).unwrap();
    let registry = prometheus::Registry::new();
    let shutdown = CancellationToken::new();
    let endpoints = endpoints
        .into_iter()
        .map(|c| Endpoint::new(c).unwrap())
        .collect();
    let mut config = DispatcherConfig {
        drain_timeout: Duration::from_secs(2),
        dead_letter_retry: Duration::from_millis(50),
        ..Default::default()
    };
    adjust(&mut config);
    let dispatcher = Dispatcher::start(
        outbox,
        endpoints,
        sink.clone(),
        &registry,
        config,
        shutdown.clone(),
    )
    .await
    .unwrap();
    Harness {
        dispatcher,
        sink,
        registry,
        shutdown,
        dir,
    }
}

impl Harness {
    pub async fn stop(self) -> (Arc<MemorySink>, tempfile::TempDir) {
        self.shutdown.cancel();
        self.dispatcher.drained().await;
        (self.sink, self.dir)
    }

    /// A metric's value with the given label values, from the registry.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        for family in self.registry.gather() {
            if family.name() != name {
                continue;
            }
            for m in family.get_metric() {
                let matches = labels.iter().all(|(k, v)| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == *k && l.value() == *v)
                });
                if matches {
                    use prometheus::proto::MetricType;
                    return Some(match family.get_field_type() {
                        MetricType::COUNTER => m.get_counter().get_value(),
                        MetricType::GAUGE => m.get_gauge().get_value(),
                        MetricType::HISTOGRAM => m.get_histogram().get_sample_count() as f64,
                        _ => continue,
                    });
                }
            }
        }
        None
    }
}

pub fn event(i: usize) -> (String, serde_json::Value) {
    let id = format!("evt-{i:05}");
    let value = serde_json::json!({"eventId": id, "eventType": "member.updated", "data": {"i": i}});
    (id, value)
}

pub fn delivery(endpoint: &str, i: usize) -> WebhookDelivery {
    let (id, value) = event(i);
    WebhookDelivery::new(id, endpoint, serde_json::to_vec(&value).unwrap(), value)
}

/// Polls `condition` every 10ms until it holds; panics with `what` after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
