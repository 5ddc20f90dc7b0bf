//! The render path's JSON parser against serde_json on coverage-guided inputs: the same
//! accept/reject decision, and the same value, up to the deliberate differences of
//! `rust/core/tests/json_differential.rs` (integer literals exact, `-0` the integer 0, float
//! overflow accepted in schema mode, 128 levels of nesting).
#![no_main]

use bumpalo::Bump;
use ixp_core::render::json::{self, NumValue, Number, Value, MAX_DEPTH};
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Ref;

fn depth(v: &Value<'_>) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.iter().map(|(_, m)| depth(m)).max().unwrap_or(0),
        _ => 0,
    }
}

fn any_number(v: &Value<'_>, f: &dyn Fn(&Number<'_>) -> bool) -> bool {
    match v {
        Value::Number(n) => f(n),
        Value::Array(items) => items.iter().any(|i| any_number(i, f)),
        Value::Object(members) => members.iter().any(|(_, m)| any_number(m, f)),
        _ => false,
    }
}

fn same(ours: &Value<'_>, theirs: &Ref) {
    match (ours, theirs) {
        (Value::Null, Ref::Null) => {}
        (Value::Bool(a), Ref::Bool(b)) => assert_eq!(a, b),
        (Value::Str(a), Ref::String(b)) => assert_eq!(a.as_str(), b),
        (Value::Number(n), Ref::Number(t)) => match n.value() {
            NumValue::Int(0) if n.text == "-0" => assert_eq!(t.as_f64(), Some(-0.0)),
            NumValue::Int(i) => assert_eq!(
                t.as_i64().map(i128::from).or(t.as_u64().map(i128::from)),
                Some(i)
            ),
            NumValue::Float(f) => assert_eq!(t.as_f64().map(f64::to_bits), Some(f.to_bits())),
            NumValue::OutOfRange => {
                let f: f64 = n.text.parse().unwrap();
                assert!(n.is_integer());
                assert_eq!(t.as_f64().map(f64::to_bits), Some(f.to_bits()));
            }
        },
        (Value::Array(a), Ref::Array(b)) => {
            assert_eq!(a.len(), b.len());
            a.iter().zip(b).for_each(|(x, y)| same(x, y));
        }
        (Value::Object(members), Ref::Object(map)) => {
            for (key, _) in members.iter() {
                let last = &members.iter().rev().find(|(k, _)| k == key).unwrap().1;
                same(last, &map[key.as_str()]);
            }
            let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), map.len());
        }
        _ => panic!("{ours:?} vs {theirs:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let bump = Bump::new();
    let ours = json::parse(data, &bump, true);
    let theirs = serde_json::from_slice::<Ref>(data);
    match (&ours, &theirs) {
        (Ok(v), Ok(t)) => same(v, t),
        (Err(_), Err(_)) => {}
        (Ok(v), Err(e)) => {
            let reason = e.to_string();
            if reason.starts_with("number out of range") {
                assert!(any_number(v, &|n| !n
                    .text
                    .parse::<f64>()
                    .unwrap()
                    .is_finite()));
            } else {
                assert!(reason.starts_with("recursion limit exceeded"), "{reason}");
                assert_eq!(depth(v), MAX_DEPTH);
            }
        }
        (Err(e), Ok(_)) => panic!("refused ({e}) what serde_json accepts"),
    }
    let strict_bump = Bump::new();
    let strict = json::parse(data, &strict_bump, false);
    match &ours {
        Ok(v) => assert_eq!(strict.is_ok(), v.numbers_in_range()),
        Err(_) => assert!(strict.is_err()),
    }
});
