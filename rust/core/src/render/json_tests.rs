//! The JSON parser against serde_json on generated documents, and the scanner of plain string
//! runs (the long differential run is `tests/json_differential.rs`).

use bumpalo::Bump;
use proptest::prelude::*;
use serde_json::json;

use super::json::{self, NumValue, Value};

/// My value, as serde_json (default: last duplicate wins) would hold it.
fn to_serde(v: &Value<'_>) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => json!(b),
        Value::Number(n) => match n.value() {
            NumValue::Int(i) => serde_json::from_str(&i.to_string()).unwrap(),
            NumValue::Float(f) => json!(f),
            NumValue::OutOfRange => unreachable!(),
        },
        Value::Str(s) => json!(s.as_str()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
        Value::Object(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), to_serde(v)))
                .collect(),
        ),
    }
}

fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) if x.is_f64() || y.is_f64() => (p - q).abs() <= p.abs() * 1e-15,
            _ => x == y,
        },
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn check_against_serde(text: &[u8]) -> Result<(), TestCaseError> {
    let bump = Bump::new();
    let mine = json::parse(text, &bump, false);
    let theirs = serde_json::from_slice::<serde_json::Value>(text);
    match (&mine, &theirs) {
        (Ok(m), Ok(t)) => prop_assert!(same(&to_serde(m), t), "{m:?} vs {t:?}"),
        (Ok(m), Err(e)) => prop_assert!(false, "accepted {m:?}; serde_json: {e}"),
        // serde_json reads big integers as floats and nests 127 deep; we refuse both.
        (Err(e), Ok(_)) => prop_assert!(
            e.message == "number out of range" || e.message == json::TOO_DEEP,
            "refused ({e}) what serde_json accepts"
        ),
        (Err(_), Err(_)) => {}
    }
    Ok(())
}

pub(super) fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
        "\"([a-zé😀 \"/]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}|\\\\ud83d\\\\ude00)*\"",
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-c]{0,2}", inner), 0..6).prop_map(|v| {
                let members: Vec<String> = v
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\" : {v}"))
                    .collect();
                format!("{{ {} }}", members.join(" ,\n"))
            }),
        ]
    })
}

/// Mutations of valid JSON: the parser's error paths.
pub(super) fn mutated_json() -> impl Strategy<Value = Vec<u8>> {
    (
        json_text(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        0..3u8,
    )
        .prop_map(|(text, at, byte, op)| {
            let mut bytes = text.into_bytes();
            let i = at.index(bytes.len() + 1);
            match op {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ => bytes.truncate(i),
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn plain_run_is_the_naive_scan(bytes in prop::collection::vec(
        prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x20, 0x20u8..=0xff, Just(b'a')], 0..40)
    ) {
        let naive = bytes
            .iter()
            .position(|b| matches!(b, b'"' | b'\\' | 0x00..=0x1f))
            .unwrap_or(bytes.len());
        prop_assert_eq!(json::plain_run(&bytes), naive);
    }

    #[test]
    fn parser_agrees_with_serde_json(text in json_text()) {
        check_against_serde(text.as_bytes())?;
    }

    #[test]
    fn parser_agrees_with_serde_json_on_broken_json(bytes in mutated_json()) {
        check_against_serde(&bytes)?;
    }
}
