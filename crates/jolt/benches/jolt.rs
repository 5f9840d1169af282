//! Criterion benches of whole chains: `cargo bench -p switchboard-jolt`.
//! `bench/peers/jolt-java/run.sh` compares the same chains with the reference Java engine.
use criterion::{black_box, criterion_group, criterion_main, Criterion};

#[path = "support/cases.rs"]
mod cases;

fn bench_chains(c: &mut Criterion) {
    for case in cases::load() {
        if let Some(expected) = &case.expected {
            let out = case.chain.apply(&case.input).expect("the benchmarked chain applies");
            assert_eq!(&out, expected, "{} gives the reference's output", case.name);
        }
        // The engine's own output (what the gateway serializes, sharing the input's values), and
        // the same copied into an owned `serde_json::Value`.
        c.bench_function(&case.name, |b| {
            b.iter(|| case.chain.transform_with(black_box(&case.input), &serde_json::Value::Null, |out| drop(black_box(out))))
        });
        c.bench_function(&format!("{} (as a Value)", case.name), |b| b.iter(|| case.chain.apply(black_box(&case.input))));
    }
}

criterion_group!(benches, bench_chains);
criterion_main!(benches);
