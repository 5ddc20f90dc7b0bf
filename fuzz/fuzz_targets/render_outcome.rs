//! `RenderTable::render_outcome` on coverage-guided bodies: never panics; agrees with the
//! success-only `render` wherever that renders; errors carry a message and JSON details.
#![no_main]

use ixp_core::{IntentSpec, RenderOutcome, RenderTable};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const SCHEMA: &str = r#"{"type":"object","properties":{
  "category":{"type":"string","enum":["books","home"]},
  "query":{"type":"string","minLength":2,"maxLength":8,"pattern":"^[a-z ]+$"},
  "limit":{"type":"integer","minimum":1,"maximum":50,"default":12},
  "price":{"type":"number","minimum":0.5},
  "flag":{"type":"boolean"},
  "tags":{"type":"array","maxItems":2},
  "filters":{"type":"object","properties":{"brand":{"type":"string"}},"required":["brand"]}
},"required":["category"]}"#;

fn table() -> &'static RenderTable {
    static TABLE: OnceLock<RenderTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        RenderTable::new([
            IntentSpec {
                name: "s".into(),
                schema: SCHEMA.into(),
                prefix: b"<".to_vec(),
                suffix: b">".to_vec(),
                origins: Some(vec!["o".into()]),
                component: "c".into(),
                ..IntentSpec::default()
            },
            IntentSpec {
                name: "a".into(),
                schema: r#"{"type":"object"}"#.into(),
                ..IntentSpec::default()
            },
        ])
        .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let t = table();
    for origin in [None, Some("o"), Some("x")] {
        let full = t.render_outcome(data, origin, None);
        if let Some(fast) = t.render(data, origin) {
            assert_eq!(full, RenderOutcome::Ok(fast));
        }
        if let RenderOutcome::Err(e) = &full {
            assert!(!e.message.is_empty());
            if let Some(details) = &e.details {
                serde_json::from_slice::<serde_json::Value>(details).expect("JSON details");
            }
        }
    }
});
