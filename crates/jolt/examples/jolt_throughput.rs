//! Single-thread transforms per second for each benchmarked spec, as `spec<TAB>rate` lines:
//! each spec is warmed up, then timed in several one-second runs and the median is printed.
//! Run by bench/peers/jolt-java/run.sh beside the Java reference's driver (same inputs, same
//! method: every transform starts from its own copy of the input, as the reference mutates it).
use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../benches/cases.rs"]
mod cases;

fn rate(case: &cases::Case, window: Duration) -> f64 {
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < window {
        for _ in 0..64 {
            black_box(case.chain.apply(black_box(&case.input)).ok());
        }
        n += 64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let runs: usize = std::env::var("RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    for case in cases::load() {
        if let Some(expected) = &case.expected {
            match case.chain.apply(&case.input) {
                Ok(out) if &out == expected => {}
                other => panic!("{}: wrong output {other:?}", case.name),
            }
        }
        rate(&case, Duration::from_millis(500));
        let mut rates: Vec<f64> = (0..runs).map(|_| rate(&case, Duration::from_secs(1))).collect();
        rates.sort_by(f64::total_cmp);
        println!("{}\t{:.0}", case.name, rates[rates.len() / 2]);
    }
}
