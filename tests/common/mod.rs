//! The shared harness of the end-to-end tests: where the real services are.
//!
//! The services are started by `scripts/services up` (which `scripts/test` runs first). A test
//! that needs a service fails, never skips, when the service is unreachable.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

/// The Kafka bootstrap address (`SWITCHBOARD_TEST_KAFKA`, default 127.0.0.1:9092).
pub fn kafka_bootstrap() -> String {
    std::env::var("SWITCHBOARD_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_string())
}

/// A name no other test run has used: `prefix-<pid>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The built `switchboard` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_switchboard"))
}

/// The repository root (for the shipped rules/ and transforms/).
pub fn repo() -> PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()))
}

/// Copies a directory tree (rule sets, transforms) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A running `switchboard serve` child process. Killed (SIGKILL) on drop.
pub struct Gateway {
    pub child: Child,
    pub addr: String,
    /// Every stderr line (JSON logs) so far.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Gateway {
    /// Starts `switchboard serve --listen 127.0.0.1:0 ARGS...` and waits for it to serve.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Gateway {
        Gateway::start_on("127.0.0.1:0", args, envs)
    }

    /// Starts `switchboard serve --listen LISTEN ARGS...` and waits for it to serve.
    pub fn start_on(listen: &str, args: &[&str], envs: &[(&str, &str)]) -> Gateway {
        let mut cmd = Command::new(binary());
        cmd.arg("serve").arg("--listen").arg(listen).args(args);
        cmd.env("SWITCHBOARD_LOG", "info").stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn switchboard");
        let stderr = child.stderr.take().unwrap();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("switchboard serving") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("switchboard did not start serving; logs:\n{}", logs.lock().unwrap().join("\n"));
            }
        };
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        let addr = v["listen"].as_str().expect("listen field").to_string();
        Gateway { child, addr, logs }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Sends a signal (`TERM`, `INT`, ...) without waiting.
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
    }

    /// Waits up to `within` for the process to exit; its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if start.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM and wait for exit; returns the exit status code.
    pub fn terminate(mut self, within: Duration) -> Option<i32> {
        let pid = self.child.id() as i32;
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if start.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it returns Some or the timeout passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The messages of a local bus topic, through `switchboard topics tail`.
pub fn tail_topic(data: &Path, topic: &str) -> Vec<serde_json::Value> {
    let out = Command::new(binary()).arg("--data").arg(data).args(["topics", "tail", topic]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A seed-shaped envelope.
pub fn envelope(id: &str, event_type: &str, data: serde_json::Value, tags: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "eventId": id, "eventType": event_type, "eventVersion": "2.0",
        "eventTime": "2024-01-20T15:30:45.123Z",
        "producer": {"service": "member-service", "instance": "pod-1", "version": "3.2.1"},
        "subject": {"type": "member", "id": format!("mem_{id}"), "alternateIds": {"legacyId": "L98765", "crmId": "C54321"}},
        "data": data,
        "metadata": {"correlationId": format!("corr_{id}"), "userId": "usr_789", "tags": tags},
        "dataVersion": "1.0", "dataContentType": "application/json"
    })
}

/// Kafka helpers for the end-to-end tests (a real broker; they panic when it is unreachable).
pub mod kafka {
    use std::time::Duration;

    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
    use serde_json::Value;

    pub fn producer() -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", super::kafka_bootstrap())
            .set("message.timeout.ms", "30000")
            .set("linger.ms", "5")
            .create()
            .expect("producer")
    }

    /// Produces values (with optional headers) and waits for every ack.
    pub async fn produce(topic: &str, values: &[Vec<u8>], headers: &[(&str, &str)]) {
        let p = producer();
        let futs: Vec<_> = values
            .iter()
            .map(|v| {
                let mut hs = OwnedHeaders::new();
                for (k, val) in headers {
                    hs = hs.insert(Header { key: k, value: Some(*val) });
                }
                p.send(FutureRecord::<(), _>::to(topic).payload(v).headers(hs), Duration::from_secs(30))
            })
            .collect();
        for f in futures::future::join_all(futs).await {
            f.unwrap_or_else(|(e, _)| panic!("produce to {topic} failed (is Kafka up?): {e}"));
        }
        p.flush(Duration::from_secs(10)).unwrap();
    }

    /// One consumed message: value as JSON, headers as strings, key.
    #[derive(Debug, Clone)]
    pub struct Msg {
        pub key: Option<String>,
        pub value: Value,
        pub headers: Vec<(String, String)>,
    }

    impl Msg {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
        }
    }

    /// Reads a topic from the beginning until `min` messages arrived and `quiet` passed without
    /// more, or `timeout` ran out.
    pub fn read_topic(topic: &str, min: usize, timeout: Duration) -> Vec<Msg> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", super::kafka_bootstrap())
            .set("group.id", super::unique("reader"))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let start = std::time::Instant::now();
        let mut out = Vec::new();
        let mut last_msg = std::time::Instant::now();
        loop {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Msg {
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    value: serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or(Value::Null),
                    headers,
                });
                last_msg = std::time::Instant::now();
            }
            if out.len() >= min && last_msg.elapsed() > Duration::from_millis(500) {
                break;
            }
            if start.elapsed() > timeout {
                break;
            }
        }
        out
    }
}

/// A real HTTP server on loopback standing in for a partner's webhook endpoint: it records every
/// request and answers 200 (after `fail_first` failures with 503).
pub mod receiver {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::any;

    #[derive(Clone, Debug)]
    pub struct Request {
        pub headers: Vec<(String, String)>,
        pub body: serde_json::Value,
        pub body_text: String,
    }

    impl Request {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
    }

    pub struct Receiver {
        pub url: String,
        pub requests: Arc<Mutex<Vec<Request>>>,
    }

    pub fn start(fail_first: usize) -> Receiver {
        start_with(fail_first, StatusCode::SERVICE_UNAVAILABLE)
    }

    /// Answers `fail_status` to the first `fail_first` requests.
    pub fn start_with(fail_first: usize, fail_status: StatusCode) -> Receiver {
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let seen = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let reqs = requests.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let app = axum::Router::new().route(
                    "/{*path}",
                    any(move |headers: HeaderMap, body: Bytes| {
                        let reqs = reqs.clone();
                        let seen = seen.clone();
                        async move {
                            if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                                return fail_status;
                            }
                            let headers = headers
                                .iter()
                                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                                .collect();
                            let body_text = String::from_utf8_lossy(&body).into_owned();
                            let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                            reqs.lock().unwrap().push(Request { headers, body, body_text });
                            StatusCode::OK
                        }
                    }),
                );
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Receiver { url: format!("http://{addr}/webhook"), requests }
    }
}
