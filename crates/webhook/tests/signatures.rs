//! Signatures verify with an independent implementation: Python's standard hmac module, fed the
//! headers and body exactly as the receiver got them.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use switchboard_webhook::*;

/// The verifiers of docs/webhooks.md, as partners would write them, in three languages.
/// Python (stdlib hmac) is required; Node.js and Go run where they are installed.
struct Verifier {
    name: &'static str,
    command: Vec<String>,
}

fn verifiers(work: &std::path::Path) -> Vec<Verifier> {
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("tests/verify");
    let mut out = vec![Verifier {
        name: "python",
        command: vec![
            "python3".into(),
            dir.join("verify.py").display().to_string(),
        ],
    }];
    if Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        out.push(Verifier {
            name: "node",
            command: vec!["node".into(), dir.join("verify.js").display().to_string()],
        });
    } else {
        eprintln!("node not found: the JavaScript verifier is not exercised");
    }
    let go_bin = work.join("verify-go");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&go_bin)
        .arg(dir.join("verify.go"))
        .env("GO111MODULE", "off")
        .output();
    match built {
        Ok(o) if o.status.success() => out.push(Verifier {
            name: "go",
            command: vec![go_bin.display().to_string()],
        }),
        Ok(o) => panic!(
            "verify.go does not build: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => eprintln!("go not found: the Go verifier is not exercised"),
    }
    out
}

fn verifies(verifier: &Verifier, secret: &str, r: &Received) -> Result<(), String> {
    use base64::Engine as _;
    let headers: serde_json::Map<String, serde_json::Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|h| (h.to_string(), serde_json::Value::from(r.header(h).unwrap())))
            .collect();
    let case = serde_json::json!({
        "secret": secret,
        "body_b64": base64::engine::general_purpose::STANDARD.encode(&r.body),
        "headers": headers,
    });
    let mut child = Command::new(&verifier.command[0])
        .args(&verifier.command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{} cannot run: {e}", verifier.name))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(case.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "verified" {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            verifier.name,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_verify_with_independent_implementations() {
    // Fail the first attempt so a retry is signed too: same webhook-id, its own timestamp.
    let server = TestServer::start(|_, n| {
        if n == 0 {
            Action::status(500)
        } else {
            Action::ok()
        }
    })
    .await;
    let whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let raw = "a raw secret, not base64";
    let mut signed_whsec = fast_endpoint("whsec", &server.url("/a"));
    signed_whsec.signing_secret = Some(Secret::new(whsec));
    signed_whsec.backoff = Backoff {
        min: Duration::from_millis(1100),
        max: Duration::from_millis(1100),
    };
    let mut signed_raw = fast_endpoint("raw", &server.url("/b"));
    signed_raw.signing_secret = Some(Secret::new(raw));
    let h = start(vec![signed_whsec, signed_raw]).await;
    let mut d = delivery("whsec", 1);
    d.body = "{\"text\":\"caf\u{e9} \u{1F600}\",\"n\":1}"
        .as_bytes()
        .to_vec()
        .into(); // non-ASCII bytes are signed as sent
    h.dispatcher.enqueue(d).await.unwrap();
    wait_until("whsec delivered", Duration::from_secs(10), || {
        server.delivered_ids().len() == 1
    })
    .await;
    h.dispatcher.enqueue(delivery("raw", 2)).await.unwrap();
    wait_until("raw delivered", Duration::from_secs(10), || {
        server.delivered_ids().len() == 2
    })
    .await;

    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    let (first, retry, other) = (&requests[0], &requests[1], &requests[2]);
    assert_eq!(first.header("webhook-id"), retry.header("webhook-id"));
    assert_ne!(
        first.header("webhook-timestamp"),
        retry.header("webhook-timestamp"),
        "each attempt has its own timestamp"
    );
    assert_ne!(
        first.header("webhook-signature"),
        retry.header("webhook-signature")
    );
    let work = tempfile::tempdir().unwrap();
    let verifiers = verifiers(work.path());
    for verifier in &verifiers {
        for r in [first, retry] {
            verifies(verifier, whsec, r).unwrap();
        }
        verifies(verifier, raw, other).unwrap();
        // A tampered body, or the wrong secret, does not verify.
        let mut tampered = other.clone();
        tampered.body.push(b' ');
        assert!(
            verifies(verifier, raw, &tampered).is_err(),
            "{} accepted a tampered body",
            verifier.name
        );
        assert!(
            verifies(verifier, "another secret", other).is_err(),
            "{} accepted a wrong secret",
            verifier.name
        );
    }
    eprintln!(
        "verified by: {:?}",
        verifiers.iter().map(|v| v.name).collect::<Vec<_>>()
    );
    h.stop().await;
}
