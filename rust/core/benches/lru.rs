//! `LruCache` operations: hit, miss, insert with eviction, TTL'd hit.
//!
//! `cargo bench -p ixp-core --bench lru`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ixp_core::{Lookup, LruCache};

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user:{i}:intent:weather")).collect()
}

fn bench_lru(c: &mut Criterion) {
    let keys = keys(20_000);
    let mut group = c.benchmark_group("lru_10k");

    let mut cache: LruCache<u64> = LruCache::new(10_000, None).unwrap();
    for (i, k) in keys[..10_000].iter().enumerate() {
        cache.insert(k, i as u64, None);
    }
    let mut i = 0usize;
    group.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 7) % 10_000;
            black_box(matches!(cache.get(black_box(&keys[i])), Lookup::Hit(_)))
        })
    });
    group.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 7) % 10_000;
            black_box(matches!(
                cache.get(black_box(&keys[10_000 + i])),
                Lookup::Hit(_)
            ))
        })
    });
    group.bench_function("insert_evict", |b| {
        b.iter(|| {
            i = (i + 7) % 20_000;
            black_box(cache.insert(black_box(&keys[i]), i as u64, None))
        })
    });

    let mut ttl_cache: LruCache<u64> = LruCache::new(10_000, Some(3600.0)).unwrap();
    for (i, k) in keys[..10_000].iter().enumerate() {
        ttl_cache.insert(k, i as u64, None);
    }
    group.bench_function("get_hit_ttl", |b| {
        b.iter(|| {
            i = (i + 7) % 10_000;
            black_box(matches!(ttl_cache.get(black_box(&keys[i])), Lookup::Hit(_)))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_lru);
criterion_main!(benches);
