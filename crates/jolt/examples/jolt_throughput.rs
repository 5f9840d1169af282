//! Single-thread transforms per second for each benchmarked spec, as `spec<TAB>rate<TAB>rate`
//! lines: first `Chain::transform_with` (the output in the engine's own form, sharing the input's
//! values as the reference's output shares the input's objects: what the Java driver measures and
//! what the gateway serializes), then `Chain::apply` (the output copied into an owned
//! `serde_json::Value`). Each spec is warmed up, then timed in several runs of 0.5 s of CPU time,
//! and the median is printed. CPU time (the kernel's count for this, the only, thread; the Java driver counts its
//! whole process, collector and compiler included) keeps the figures comparable on a machine
//! shared with other work, where wall-clock rates mostly measure the scheduler.
//! Run by bench/peers/jolt-java/run.sh beside the Java reference's driver (same inputs, same
//! timing method). The Java driver gives each transform whose chain changes its input a fresh
//! deep copy (the reference's default, remove and modify work in place); switchboard's operations
//! only read their input, so here every transform reads the same one.
use std::hint::black_box;

/// The allocator of the `switchboard` binary (src/main.rs), so that the figures are the engine's
/// as the gateway runs it.
#[global_allocator]
static GLOBAL: switchboard_alloc::MiMalloc = switchboard_alloc::MiMalloc;
use std::time::{Duration, Instant};

#[path = "../benches/support/cases.rs"]
mod cases;

/// Nanoseconds this thread has run on a CPU (falls back to wall time where the file is missing).
fn thread_cpu_ns(wall_start: Instant) -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| wall_start.elapsed().as_nanos() as u64)
}

#[derive(Clone, Copy)]
enum Form {
    /// `Chain::transform_with`: the engine's output, borrowing from the input.
    Native,
    /// `Chain::apply`: an owned `serde_json::Value`.
    Value,
}

fn rate(case: &cases::Case, form: Form, window: Duration) -> f64 {
    let wall = Instant::now();
    let start = thread_cpu_ns(wall);
    let window = window.as_nanos() as u64;
    let mut n: u64 = 0;
    loop {
        match form {
            Form::Native => {
                for _ in 0..256 {
                    black_box(case.chain.transform_with(black_box(&case.input), &serde_json::Value::Null, |out| {
                        black_box(&out);
                    }))
                    .ok();
                }
            }
            Form::Value => {
                for _ in 0..256 {
                    black_box(case.chain.apply(black_box(&case.input)).ok());
                }
            }
        }
        n += 256;
        let spent = thread_cpu_ns(wall) - start;
        if spent >= window {
            return n as f64 / (spent as f64 / 1e9);
        }
    }
}

fn main() {
    let runs: usize = std::env::var("RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    // JOLT_CASES=a,b limits the run to cases whose names contain one of the words (for profiling).
    let only: Vec<String> = std::env::var("JOLT_CASES").map(|v| v.split(',').map(str::to_owned).collect()).unwrap_or_default();
    // JOLT_COUNT=N runs exactly N transforms of each case, untimed, and prints nothing: for
    // counting instructions (`valgrind --tool=callgrind`, minus a run with JOLT_COUNT=0).
    let count: Option<u64> = std::env::var("JOLT_COUNT").ok().and_then(|v| v.parse().ok());
    for case in cases::load() {
        if !only.is_empty() && !only.iter().any(|w| case.name.contains(w.as_str())) {
            continue;
        }
        if let Some(expected) = &case.expected {
            match case.chain.apply(&case.input) {
                Ok(out) if &out == expected => {}
                other => panic!("{}: wrong output {other:?}", case.name),
            }
            match case.chain.transform_with(&case.input, &serde_json::Value::Null, |o| o.into_value()) {
                Ok(out) if &out == expected => {}
                other => panic!("{}: wrong output from transform_with {other:?}", case.name),
            }
        }
        if let Some(count) = count {
            for _ in 0..count {
                black_box(case.chain.transform_with(black_box(&case.input), &serde_json::Value::Null, |out| {
                    black_box(&out);
                }))
                .ok();
            }
            continue;
        }
        let median = |form: Form| {
            rate(&case, form, Duration::from_millis(300));
            let mut rates: Vec<f64> = (0..runs).map(|_| rate(&case, form, Duration::from_millis(500))).collect();
            rates.sort_by(f64::total_cmp);
            rates[rates.len() / 2]
        };
        // JOLT_VALUE=0 skips the second form (for profiling the first alone); it prints as 0.
        let value_too = std::env::var("JOLT_VALUE").map_or(true, |v| v != "0");
        let (native, value) = (median(Form::Native), if value_too { median(Form::Value) } else { 0.0 });
        println!("{}\t{native:.0}\t{value:.0}", case.name);
    }
}
