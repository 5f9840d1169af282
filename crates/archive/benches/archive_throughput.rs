//! Archive throughput, end to end: events/s and MB/s of `run_once` (read from the SQLite store,
//! encode, upload, read back and verify, index, delete) to the local directory and to the S3
//! test server, then of a full restore to JSON Lines.
//!
//! `cargo bench -p switchboard-archive --bench archive_throughput` (needs `scripts/services up s3`;
//! `SB_BENCH_EVENTS` sets the event count, default 200,000). Each figure is checked against the
//! event count, so a run that archived nothing cannot report a speed.
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::*;
use switchboard_archive::{Archiver, RestoreFilter};

async fn measure(name: &str, archiver: &Archiver, events: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), "bench.db");
    let aggregates = 200;
    let old = seed(&store, aggregates, events / aggregates, 0).await;

    let started = Instant::now();
    let report = archiver.run_once(&store, cutoff()).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.events as usize, old, "every seeded event archived");
    let mb = report.uncompressed_bytes as f64 / 1e6;
    println!(
        "{name:<6} archive: {old} events in {secs:.2}s = {:.0} events/s, {:.1} MB/s of JSON Lines ({:.1} MB -> {:.1} MB zstd, {} objects)",
        old as f64 / secs,
        mb / secs,
        mb,
        report.compressed_bytes as f64 / 1e6,
        report.objects
    );

    let started = Instant::now();
    let restored = archiver.restore_jsonl(&store, RestoreFilter::default(), &mut std::io::sink()).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(restored as usize, old, "every archived event restored");
    println!("{name:<6} restore: {restored} events in {secs:.2}s = {:.0} events/s, {:.1} MB/s of JSON Lines", restored as f64 / secs, mb / secs);
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported (two fixed cases).
    let events: usize = std::env::var("SB_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        measure("local", &local_archiver(&dir.path().join("archive"), "bench", 10_000), events).await;
        measure("s3", &s3_archiver(&unique_prefix("bench"), 10_000).await, events).await;
    });
}
