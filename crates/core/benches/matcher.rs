//! The matcher alone: event bytes in, matched rule names out, at 100 / 1,000 / 10,000 / 100,000
//! rules, on the peer benchmark's generated rule sets and ~1 KB events (bench/peers/gen).
//!
//!     cargo bench -p switchboard-core --bench matcher              # every size
//!     MATCHER_BENCH_RULES=100,1000 cargo bench -p switchboard-core --bench matcher
//!
//! Besides criterion's timings it prints, per size, the compile time of the rule set and the
//! heap it holds (bytes per rule, counted by this binary's allocator), and benchmarks the
//! reference evaluator (every rule tried in order) beside the compiled matcher up to 1,000
//! rules. The data is generated once by `python3 bench/peers/gen/generate.py` into
//! `$BENCH_PEERS_DIR/data` (default ~/.cache/switchboard/bench-peers/data), shared with
//! `bench/peers/run.sh`. Under `cargo test` (no `--bench`) it runs one small size once.
use std::alloc::{GlobalAlloc, Layout};

use switchboard_alloc::MiMalloc;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use switchboard_core::lang::{self, CompileInput, RuleSet, SourceFile};

/// Counts live heap bytes, to report what a compiled rule set holds, over the allocator the
/// `switchboard` binary uses (mimalloc, see src/main.rs).
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn benching() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn data_dir() -> PathBuf {
    let base = std::env::var_os("BENCH_PEERS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/switchboard/bench-peers")
    });
    base.join("data")
}

fn generate(dir: &Path, events: usize, rules: &[usize]) {
    let list: Vec<String> = rules.iter().map(|n| n.to_string()).collect();
    let script = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../bench/peers/gen/generate.py");
    let status = std::process::Command::new("python3")
        .arg(&script)
        .args(["--out".as_ref(), dir.as_os_str()])
        .args(["--seed", "4", "--events", &events.to_string(), "--rules", &list.join(",")])
        .status()
        .expect("python3 runs bench/peers/gen/generate.py");
    assert!(status.success(), "generate.py failed");
}

fn load_rules(dir: &Path, n: usize) -> Vec<SourceFile> {
    let dsl = dir.join(format!("rules-{n}/dsl"));
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dsl)
        .unwrap_or_else(|e| panic!("{}: {e}", dsl.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| SourceFile {
            path: p.file_name().unwrap().to_string_lossy().into_owned(),
            text: std::fs::read_to_string(&p).expect("rule file"),
        })
        .collect()
}

fn compile(files: &[SourceFile]) -> RuleSet {
    let compiled = lang::compile(&CompileInput { files, transforms: &[], transforms_dir: "transforms", env: None });
    match compiled.rule_set {
        Some(s) => s,
        None => panic!("{}", lang::render_text(files, &compiled.diagnostics)),
    }
}

fn matcher(c: &mut Criterion) {
    let full = benching();
    let sizes: Vec<usize> = match std::env::var("MATCHER_BENCH_RULES") {
        Ok(list) => list.split(',').map(|s| s.trim().parse().expect("MATCHER_BENCH_RULES: numbers")).collect(),
        Err(_) if full => vec![100, 1_000, 10_000, 100_000],
        Err(_) => vec![100],
    };
    let n_events = if full { 5_000 } else { 200 };
    let dir = data_dir();
    generate(&dir, n_events, &sizes);
    let events: Vec<String> = std::fs::read_to_string(dir.join(format!("events-{n_events}.jsonl")))
        .expect("events file")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let bytes: usize = events.iter().map(String::len).sum();

    let mut group = c.benchmark_group("matcher");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    for &n in &sizes {
        let files = load_rules(&dir, n);
        let before = LIVE.load(Ordering::Relaxed);
        let started = Instant::now();
        let set = compile(&files);
        let took = started.elapsed();
        let held = LIVE.load(Ordering::Relaxed) - before;
        let (paths, always) = set.matcher_shape();
        let (mut matches, mut candidates) = (0usize, 0usize);
        for e in &events {
            let v: serde_json::Value = serde_json::from_str(e).expect("event JSON");
            let projected = set.matched_rules_json(e).expect("event JSON");
            assert_eq!(projected, set.matched_rules(&v), "the projected parse changes nothing");
            matches += projected.len();
            candidates += set.candidate_count(&v);
        }
        eprintln!(
            "matcher: {n} rules: compiled in {:.3} s, {} bytes held ({} bytes/rule), {paths} indexed paths, \
             {always} rules without an anchor, {:.2} matches and {:.2} candidates per event over {} events of {} bytes on average",
            took.as_secs_f64(),
            held,
            held / n as isize,
            matches as f64 / events.len() as f64,
            candidates as f64 / events.len() as f64,
            events.len(),
            bytes / events.len()
        );
        // Bytes in, names out: the projected parse (only the paths rules read) and the index.
        group.bench_with_input(BenchmarkId::new("compiled", n), &set, |b, set| {
            b.iter(|| {
                let mut found = 0usize;
                for e in &events {
                    found += set.matched_rules_json(e).expect("event JSON").len();
                }
                found
            })
        });
        // The same on a whole parsed tree (what the gateway does, as it forwards the event).
        group.bench_with_input(BenchmarkId::new("compiled-full-parse", n), &set, |b, set| {
            b.iter(|| {
                let mut found = 0usize;
                for e in &events {
                    let v: serde_json::Value = serde_json::from_str(e).expect("event JSON");
                    found += set.matched_rules(&v).len();
                }
                found
            })
        });
        if n <= 1_000 {
            group.bench_with_input(BenchmarkId::new("reference", n), &set, |b, set| {
                b.iter(|| {
                    let mut found = 0usize;
                    for e in &events {
                        let v: serde_json::Value = serde_json::from_str(e).expect("event JSON");
                        found += set.evaluate_reference(&v).matched.len();
                    }
                    found
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, matcher);
criterion_main!(benches);
