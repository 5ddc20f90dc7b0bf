//! `LatencyHistogram` operations: record, percentile, merge, to_bytes/from_bytes.
//!
//! `cargo bench -p ixp-core --bench histogram`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ixp_core::LatencyHistogram;

fn filled() -> LatencyHistogram {
    let mut h = LatencyHistogram::new(1_000, 60_000_000_000, 3).unwrap();
    let mut x: u64 = 88_172_645_463_325_252;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        h.record(20_000 + x % 50_000_000);
    }
    h
}

fn bench_histogram(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram");
    let mut h = filled();
    let mut v = 1_000u64;
    group.bench_function("record", |b| {
        b.iter(|| {
            v = (v * 31 + 17) % 100_000_000;
            h.record(black_box(v));
        })
    });
    group.bench_function("percentile_p99", |b| {
        b.iter(|| black_box(h.percentile(99.0).unwrap()))
    });
    let other = filled();
    group.bench_function("merge", |b| b.iter(|| h.merge(black_box(&other))));
    group.bench_function("to_bytes", |b| b.iter(|| black_box(other.to_bytes())));
    let bytes = other.to_bytes();
    group.bench_function("from_bytes", |b| {
        b.iter(|| black_box(LatencyHistogram::from_bytes(black_box(&bytes)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench_histogram);
criterion_main!(benches);
