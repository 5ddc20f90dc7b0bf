//! `RenderTable::render` of a 7-parameter intent (string enum, string with min/max/pattern,
//! integer with bounds, number, boolean, array with maxItems, nested object), with and without
//! options, and a request that fails validation (→ `None`); `render_outcome` of the valid one and
//! of the invalid one (→ the 400 with its Zod issue); `render_wire` of both (what the render lane
//! sends: the body, or the error's envelope).
//!
//! `cargo bench -p ixp-core --bench render`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ixp_core::{IntentSpec, RenderTable};

const SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "category": {"type": "string", "enum": ["electronics", "books", "clothing", "home"]},
    "query": {"type": "string", "minLength": 2, "maxLength": 80, "pattern": "^[a-z ]+$"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 12},
    "maxPrice": {"type": "number"},
    "inStockOnly": {"type": "boolean", "default": false},
    "tags": {"type": "array", "maxItems": 5},
    "filters": {
      "type": "object",
      "properties": {"brand": {"type": "string"}, "rating": {"type": "integer", "minimum": 1, "maximum": 5}},
      "required": ["brand"]
    }
  },
  "required": ["category"]
}"#;

const BODY: &[u8] = br#"{"intent":{"name":"search_products","parameters":{"category":"books","query":"rust programming","limit":20,"maxPrice":49.95,"inStockOnly":true,"tags":["new","sale"],"filters":{"brand":"acme","rating":4}}}}"#;

const WITH_OPTIONS: &[u8] = br#"{"intent":{"name":"search_products","parameters":{"category":"books","query":"rust programming","limit":20,"maxPrice":49.95,"inStockOnly":true,"tags":["new","sale"],"filters":{"brand":"acme","rating":4}}},"options":{"limit":10,"theme":"dark"}}"#;

const INVALID: &[u8] = br#"{"intent":{"name":"search_products","parameters":{"category":"books","query":"rust programming","limit":99,"maxPrice":49.95,"inStockOnly":true,"tags":["new","sale"],"filters":{"brand":"acme","rating":4}}}}"#;

fn table() -> RenderTable {
    // A realistic envelope: the component definition is in the suffix (~600 bytes).
    let prefix = br#"{"record":{"moduleUrl":"https://cdn.example.com/ui/product-grid.js","exportName":"ProductGrid","props":"#.to_vec();
    let mut suffix = br#"},"component":{"name":"ProductGrid","framework":"react","remoteUrl":"https://cdn.example.com/ui/product-grid.js","exportName":"ProductGrid","version":"1.0.0","propsSchema":{"type":"object","properties":{"category":{"type":"string"},"limit":{"type":"number"}}},"allowedOrigins":["*"],"securityPolicy":{"allowEval":false,"sandboxed":true,"maxBundleSize":"200KB"},"description":""#.to_vec();
    suffix.extend_from_slice(&[b'x'; 300]);
    suffix.extend_from_slice(br#""},"ttl":300}"#);
    RenderTable::new([IntentSpec {
        name: "search_products".into(),
        schema: SCHEMA.into(),
        prefix,
        suffix,
        origins: None,
        ..IntentSpec::default()
    }])
    .unwrap()
}

fn bench_render(c: &mut Criterion) {
    let table = table();
    assert!(table.render(BODY, None).is_some());
    assert!(table.render(WITH_OPTIONS, None).is_some());
    assert!(table.render(INVALID, None).is_none());
    let mut group = c.benchmark_group("render");
    let mut out = Vec::new();
    group.bench_function("valid_7_params", |b| {
        b.iter(|| black_box(table.render_into(black_box(BODY), None, &mut out)))
    });
    group.bench_function("valid_7_params_options", |b| {
        b.iter(|| black_box(table.render_into(black_box(WITH_OPTIONS), None, &mut out)))
    });
    group.bench_function("invalid_7_params", |b| {
        b.iter(|| black_box(table.render_into(black_box(INVALID), None, &mut out)))
    });
    // The full pipeline: the descriptor, or the 400 with every Zod issue (message + details).
    group.bench_function("outcome_valid_7_params", |b| {
        b.iter(|| black_box(table.render_outcome(black_box(BODY), None, None)))
    });
    group.bench_function("outcome_invalid_7_params", |b| {
        b.iter(|| black_box(table.render_outcome(black_box(INVALID), None, None)))
    });
    group.bench_function("wire_valid_7_params", |b| {
        b.iter(|| black_box(table.render_wire(black_box(BODY), None, None, &mut out)))
    });
    group.bench_function("wire_invalid_7_params", |b| {
        b.iter(|| black_box(table.render_wire(black_box(INVALID), None, None, &mut out)))
    });
    group.bench_function("valid_7_params_fresh_vec", |b| {
        b.iter(|| black_box(table.render(black_box(BODY), None)))
    });
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
