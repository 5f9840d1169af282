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
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
        let mut cmd = Command::new(binary());
        cmd.arg("serve").arg("--listen").arg("127.0.0.1:0").args(args);
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
