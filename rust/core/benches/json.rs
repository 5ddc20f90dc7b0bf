//! The render path's JSON parser against two crates, on render request bodies: ours (strict,
//! arena-allocated, `ixp_core::render::json`), `jiter` (`JsonValue`, the parser behind
//! pydantic-core) and `serde_json::Value`. Each iteration parses one body into a full document.
//!
//! `cargo bench -p ixp-core --bench json -- --warm-up-time 1 --measurement-time 3`
//!
//! The result decides whether the hand-written parser stays (docs/core.md, "JSON parser").

use bumpalo::Bump;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ixp_core::render::json;

/// The three bodies of `benches/render.rs`.
const BODY: &[u8] = br#"{"intent":{"name":"search_products","parameters":{"category":"books","query":"rust programming","limit":20,"maxPrice":49.95,"inStockOnly":true,"tags":["new","sale"],"filters":{"brand":"acme","rating":4}}}}"#;
const WITH_OPTIONS: &[u8] = br#"{"intent":{"name":"search_products","parameters":{"category":"books","query":"rust programming","limit":20,"maxPrice":49.95,"inStockOnly":true,"tags":["new","sale"],"filters":{"brand":"acme","rating":4}}},"options":{"limit":10,"theme":"dark"}}"#;
const INVALID: &[u8] = br#"{"intent":{"name":"search_products","parameters":{"category":"books","query":"rust programming","limit":99,"maxPrice":49.95,"inStockOnly":true,"tags":["new","sale"],"filters":{"brand":"acme","rating":4}}}}"#;

/// A larger request (~6 KB): 40 line items (objects with strings, numbers, nested arrays), some
/// escaped and non-ASCII text.
fn large_body() -> Vec<u8> {
    let mut items = Vec::new();
    for i in 0..40 {
        items.push(format!(
            r#"{{"sku":"SKU-{i:05}","title":"Item \"{i}\" – caf\u00e9 ☕","qty":{q},"price":{p}.99,"attrs":{{"color":"blue","sizes":[1,2,3],"ok":true,"note":null}}}}"#,
            q = i % 7 + 1,
            p = 10 + i
        ));
    }
    format!(
        r#"{{"intent":{{"name":"checkout","parameters":{{"items":[{}],"currency":"EUR","coupon":"WELCOME10"}}}},"options":{{"theme":"dark","compact":false}}}}"#,
        items.join(",")
    )
    .into_bytes()
}

/// Nested 100 levels deep (within our 128-level limit): `{"a":[{"a":[…]}]}`.
fn nested_body() -> Vec<u8> {
    let depth = 50;
    let mut s = String::new();
    for _ in 0..depth {
        s.push_str(r#"{"a":["#);
    }
    s.push_str("1.5e3");
    for _ in 0..depth {
        s.push_str("]}");
    }
    s.into_bytes()
}

fn bench_parsers(c: &mut Criterion) {
    let large = large_body();
    let nested = nested_body();
    let bodies: [(&str, &[u8]); 5] = [
        ("valid_7_params", BODY),
        ("valid_7_params_options", WITH_OPTIONS),
        ("invalid_7_params", INVALID),
        ("large_6k", &large),
        ("nested_100", &nested),
    ];
    let mut bump = Bump::new();
    for (name, body) in bodies {
        // Every parser accepts every body.
        bump.reset();
        json::parse(body, &bump, false).expect("ours");
        jiter::JsonValue::parse(body, false).expect("jiter");
        serde_json::from_slice::<serde_json::Value>(body).expect("serde_json");

        let mut group = c.benchmark_group(format!("json/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("ours", |b| {
            b.iter(|| {
                bump.reset();
                black_box(json::parse(black_box(body), &bump, false).is_ok());
            })
        });
        group.bench_function("jiter", |b| {
            b.iter(|| black_box(jiter::JsonValue::parse(black_box(body), false)))
        });
        group.bench_function("serde_json", |b| {
            b.iter(|| black_box(serde_json::from_slice::<serde_json::Value>(black_box(body))))
        });
        group.finish();
    }
}

criterion_group!(benches, bench_parsers);
criterion_main!(benches);
