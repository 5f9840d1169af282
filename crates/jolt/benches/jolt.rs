//! Criterion benches of whole chains: `cargo bench -p switchboard-jolt`.
use criterion::{black_box, criterion_group, criterion_main, Criterion};

#[path = "support/cases.rs"]
mod cases;

fn bench_chains(c: &mut Criterion) {
    for case in cases::load() {
        if let Some(expected) = &case.expected {
            let out = case.chain.apply(&case.input).expect("the benchmarked chain applies");
            assert_eq!(&out, expected, "{} gives the reference's output", case.name);
        }
        c.bench_function(&case.name, |b| b.iter(|| case.chain.apply(black_box(&case.input))));
    }
}

criterion_group!(benches, bench_chains);
criterion_main!(benches);
