//! Append throughput of both backends, batches of 1 and of 100, and — for Cassandra — the
//! ceiling of the same node measured in the same run by latte (a standard Cassandra benchmark
//! tool), for a plain INSERT and an INSERT ... IF NOT EXISTS of a row shaped like an event.
//!
//!     scripts/services up cassandra
//!     cargo install latte-cli --root ~/.cache/switchboard/latte   # optional: the ceiling rows
//!     cargo bench -p switchboard-store --bench append
//!
//! Env: SWITCHBOARD_BENCH_SECS (default 5 per row), SWITCHBOARD_TEST_CASSANDRA (127.0.0.1:9042),
//! SWITCHBOARD_LATTE (the latte binary; default ~/.cache/switchboard/latte/bin/latte).
//! Every appender owns its aggregate and appends with ExpectedVersion::Exact, so every append
//! pays the full concurrency check; each appended event is checked to land (counts asserted).
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use switchboard_store::scylla::{ScyllaOptions, ScyllaStore};
use switchboard_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use switchboard_store::{EventStore, ExpectedVersion, NewEvent};

struct Row {
    backend: String,
    batch: usize,
    concurrency: usize,
    appends_per_s: f64,
    events_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn event(i: u64) -> NewEvent {
    NewEvent {
        event_id: format!("ev-{i}"),
        event_type: "member.updated".into(),
        event_time: Utc::now(),
        payload: json!({"eventId": format!("ev-{i}"), "eventType": "member.updated", "data": {"i": i, "pad": "x".repeat(200)}}),
    }
}

async fn run(store: Arc<dyn EventStore>, backend: &str, batch: usize, concurrency: usize, secs: u64) -> Row {
    let deadline = Instant::now() + if secs == 0 { Duration::from_millis(200) } else { Duration::from_secs(secs) };
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let store = Arc::clone(&store);
        let aggregate = format!("bench-{backend}-{batch}-{concurrency}-{task}");
        tasks.push(tokio::spawn(async move {
            let mut version = 0u64;
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let events: Vec<_> = (0..batch as u64).map(|i| event(n + i)).collect();
                n += batch as u64;
                let started = Instant::now();
                let r = store.append(&aggregate, events, ExpectedVersion::Exact(version)).await.expect("append");
                latencies.push(started.elapsed());
                assert_eq!(r.appended, batch, "every event of the batch is stored");
                version = r.version;
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("bench task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).map_or(0.0, |d| d.as_secs_f64() * 1e3);
    Row {
        backend: backend.into(),
        batch,
        concurrency,
        appends_per_s: latencies.len() as f64 / elapsed,
        events_per_s: (latencies.len() * batch) as f64 / elapsed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    }
}

/// Runs a latte workload against the same node and returns its throughput (ops/s).
fn latte(latte: &PathBuf, workload: &str, node: &str, secs: u64, concurrency: usize) -> Option<f64> {
    let dir = tempfile::tempdir().ok()?;
    let wl = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("benches/latte").join(workload);
    let ok = Command::new(latte).arg("schema").arg(&wl).arg(node).current_dir(dir.path()).status().ok()?.success();
    if !ok {
        return None;
    }
    let out = Command::new(latte)
        .args(["run", "-d", &format!("{secs}s"), "-w", "1s", "-p", &concurrency.to_string(), "-t", "1"])
        .arg(&wl)
        .arg(node)
        .current_dir(dir.path())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The summary has a line "      Throughput    [op/s]       8753 ± 3489".
    text.lines()
        .filter(|l| l.trim_start().starts_with("Throughput"))
        .find_map(|l| l.split_whitespace().find_map(|w| w.replace(',', "").parse::<f64>().ok()))
        .or_else(|| {
            eprintln!("could not read latte's throughput; its output was:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
            None
        })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it: then
    // it is a smoke test (every scenario briefly, its counts still asserted, no latte).
    let smoke = !std::env::args().any(|a| a == "--bench");
    let secs: u64 = if smoke { 0 } else { std::env::var("SWITCHBOARD_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5) };
    let node = std::env::var("SWITCHBOARD_TEST_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into());
    let mut rows = Vec::new();

    let dir = tempfile::tempdir().expect("temp dir");
    for (name, sync) in [("sqlite FULL", Synchronous::Full), ("sqlite NORMAL", Synchronous::Normal)] {
        let path = dir.path().join(format!("{sync:?}.db"));
        let store: Arc<dyn EventStore> =
            Arc::new(SqliteStore::open(&path, SqliteOptions { synchronous: sync, ..SqliteOptions::default() }).expect("open sqlite"));
        for (batch, concurrency) in [(1, 1), (1, 64), (100, 1), (100, 8)] {
            rows.push(run(Arc::clone(&store), name, batch, concurrency, secs).await);
        }
    }

    let keyspace = format!("sb_bench_{}", std::process::id());
    let cassandra = ScyllaStore::connect(ScyllaOptions { nodes: vec![node.clone()], keyspace: keyspace.clone(), ..ScyllaOptions::default() })
        .await
        .unwrap_or_else(|e| panic!("Cassandra at {node}: {e} (start it with `scripts/services up cassandra`)"));
    let store: Arc<dyn EventStore> = Arc::new(cassandra);
    for (batch, concurrency) in [(1, 1), (1, 64), (100, 1), (100, 8)] {
        rows.push(run(Arc::clone(&store), "cassandra", batch, concurrency, secs).await);
    }
    drop(store);

    let latte_bin = std::env::var_os("SWITCHBOARD_LATTE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/switchboard/latte/bin/latte")
    });
    let mut ceilings = Vec::new();
    if smoke {
        println!("smoke run (no --bench): every scenario ran for 200 ms; `cargo bench` measures");
    } else if latte_bin.exists() {
        for (label, workload) in [("latte INSERT", "insert.rn"), ("latte INSERT IF NOT EXISTS", "insert_lwt.rn")] {
            ceilings.push((label, latte(&latte_bin, workload, &node, secs, 64)));
        }
    } else {
        eprintln!("latte not found at {} (cargo install latte-cli --root ~/.cache/switchboard/latte): no ceiling rows", latte_bin.display());
    }

    println!();
    println!("| backend | batch | appenders | appends/s | events/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} |",
            r.backend, r.batch, r.concurrency, r.appends_per_s, r.events_per_s, r.p50_ms, r.p99_ms
        );
    }
    for (label, ops) in &ceilings {
        match ops {
            Some(ops) => println!("| {label} (ceiling, same node) | 1 | 64 | {ops:.0} | {ops:.0} | | |"),
            None => println!("| {label} (ceiling, same node) | 1 | 64 | failed | | | |"),
        }
    }
    if !smoke {
        println!("\n{secs} s per row; one Cassandra node on this machine sharing its cores with the benchmark.");
    }

    if let Ok(session) = ::scylla::client::session_builder::SessionBuilder::new().known_node(&node).build().await {
        let _ = session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), ()).await;
        let _ = session.query_unpaged("DROP KEYSPACE IF EXISTS latte_store", ()).await;
    }
}
