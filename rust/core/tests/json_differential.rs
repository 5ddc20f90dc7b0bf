//! Differential fuzzing of the render path's JSON parser (`ixp_core::render::json`) against
//! serde_json, the reference: same accept/reject decision on every input, and the same value
//! when both accept.
//!
//! Inputs: (a) arbitrary bytes, and bytes over a JSON-ish alphabet; (b) structure-aware JSON:
//! generated values written with random whitespace, every kind of string escape (surrogate
//! pairs, lone and mismatched surrogates, invalid escapes), raw control characters and invalid
//! UTF-8, numbers at the edges (`-0`, `1e308`, `1e309`, huge integers, leading zeros, missing
//! digits), duplicate keys, nesting around the depth limit, trailing garbage; then, for some
//! cases, one random byte mutation.
//!
//! Cases per property: `IXP_FUZZ_CASES` (default 2,000, a few seconds in a debug build). The
//! long run: `IXP_FUZZ_CASES=1000000 cargo test --release -p ixp-core --test json_differential`.
//!
//! Our parser differs from serde_json on purpose in three ways, each an explicit rule of the
//! oracle (see [`check`]) rather than a skipped case:
//! 1. Numbers are kept as their literal text and read as msgspec reads them (Python): an integer
//!    literal is an integer at any size, so `-0` is the integer 0 (serde_json: the float -0.0)
//!    and an integer beyond i64/u64 stays exact (serde_json: the nearest f64). In the mode used
//!    for schemas (`out_of_range = true`), a float literal that overflows to ±inf is accepted
//!    (serde_json: "number out of range"); in the request mode (`out_of_range = false`) every
//!    literal outside i64/u64/finite f64 is refused, which the oracle checks too.
//! 2. Nesting: 128 levels are accepted, 129 refused; serde_json stops at 128 levels.
//! 3. Duplicate keys are all kept, in document order (serde_json: a map, the last value wins);
//!    the oracle compares the last value of each key, which is what every reader of ours uses.

use bumpalo::Bump;
use ixp_core::render::json::{self, NumValue, Number, Value, MAX_DEPTH, TOO_DEEP};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value as Ref;

fn cases() -> u32 {
    std::env::var("IXP_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

// ---------------------------------------------------------------------------------------------
// The oracle.

/// Both parsers on `input`; `Err` describes the disagreement.
fn check(input: &[u8]) -> Result<(), TestCaseError> {
    let bump = Bump::new();
    let ours = json::parse(input, &bump, true);
    let theirs = serde_json::from_slice::<Ref>(input);
    match (&ours, &theirs) {
        (Ok(v), Ok(t)) => same(v, t)?,
        (Err(_), Err(_)) => {}
        (Ok(v), Err(e)) => {
            let reason = e.to_string();
            if reason.starts_with("number out of range") {
                // Rule 1: a literal that overflows f64 (kept as text here).
                prop_assert!(any_number(v, &|n| !parse_f64(n).is_finite()), "{}", reason);
            } else if reason.starts_with("recursion limit exceeded") {
                // Rule 2: serde_json stops at 128 levels, we allow exactly 128.
                prop_assert_eq!(depth(v), MAX_DEPTH);
            } else {
                prop_assert!(false, "accepted {:?}; serde_json refuses: {}", v, reason);
            }
        }
        (Err(e), Ok(t)) => {
            prop_assert!(false, "refused ({}) what serde_json accepts: {:?}", e, t)
        }
    }
    // Request mode: the same decision, plus refusing numbers msgspec would not decode.
    let strict_bump = Bump::new();
    let strict = json::parse(input, &strict_bump, false);
    match &ours {
        Ok(v) => {
            prop_assert_eq!(strict.is_ok(), v.numbers_in_range());
            // The shortcut of `in_range` agrees with reading the value.
            prop_assert!(!any_number(v, &|n| n.in_range() != (n.value() != NumValue::OutOfRange)));
        }
        Err(e) => {
            prop_assert!(strict.is_err());
            if e.message == TOO_DEEP {
                prop_assert!(theirs.is_err());
            }
        }
    }
    Ok(())
}

fn parse_f64(n: &Number<'_>) -> f64 {
    n.text
        .parse()
        .expect("a JSON number is a valid f64 literal")
}

/// Our value against serde_json's, by the rules above.
fn same(ours: &Value<'_>, theirs: &Ref) -> Result<(), TestCaseError> {
    match (ours, theirs) {
        (Value::Null, Ref::Null) => {}
        (Value::Bool(a), Ref::Bool(b)) => prop_assert_eq!(a, b),
        (Value::Str(a), Ref::String(b)) => prop_assert_eq!(a.as_str(), b.as_str()),
        (Value::Number(n), Ref::Number(t)) => same_number(n, t)?,
        (Value::Array(a), Ref::Array(b)) => {
            prop_assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                same(x, y)?;
            }
        }
        (Value::Object(members), Ref::Object(map)) => {
            // Rule 3: each distinct key once, with its last value.
            let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            prop_assert_eq!(keys.len(), map.len());
            for key in keys {
                let last = &members
                    .iter()
                    .rev()
                    .find(|(k, _)| k == key)
                    .expect("a key")
                    .1;
                match map.get(key) {
                    Some(t) => same(last, t)?,
                    None => prop_assert!(false, "key {:?} missing in serde_json's map", key),
                }
            }
        }
        _ => prop_assert!(false, "{:?} vs {:?}", ours, theirs),
    }
    Ok(())
}

fn same_number(n: &Number<'_>, t: &serde_json::Number) -> Result<(), TestCaseError> {
    match n.value() {
        // Rule 1: `-0` is the integer 0 here, the float -0.0 in serde_json.
        NumValue::Int(0) if n.text == "-0" => {
            prop_assert!(t.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()))
        }
        NumValue::Int(i) => {
            let theirs = t.as_i64().map(i128::from).or(t.as_u64().map(i128::from));
            prop_assert_eq!(theirs, Some(i), "{}", n.text);
        }
        NumValue::Float(f) => {
            prop_assert!(t.is_f64(), "{} read as an integer by serde_json", n.text);
            prop_assert_eq!(
                t.as_f64().map(f64::to_bits),
                Some(f.to_bits()),
                "{}",
                n.text
            );
        }
        // Rule 1: an integer beyond i64/u64, which serde_json approximates by the nearest f64.
        NumValue::OutOfRange => {
            prop_assert!(
                n.is_integer(),
                "{} overflows yet serde_json accepts it",
                n.text
            );
            prop_assert_eq!(t.as_f64().map(f64::to_bits), Some(parse_f64(n).to_bits()));
        }
    }
    Ok(())
}

fn any_number(v: &Value<'_>, f: &dyn Fn(&Number<'_>) -> bool) -> bool {
    match v {
        Value::Number(n) => f(n),
        Value::Array(items) => items.iter().any(|i| any_number(i, f)),
        Value::Object(members) => members.iter().any(|(_, m)| any_number(m, f)),
        Value::Null | Value::Bool(_) | Value::Str(_) => false,
    }
}

fn depth(v: &Value<'_>) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.iter().map(|(_, m)| depth(m)).max().unwrap_or(0),
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Structure-aware generation.

fn whitespace() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        60 => Just(Vec::new()),
        30 => prop::collection::vec(prop::sample::select(&b" \t\n\r"[..]), 1..4),
        // Not JSON whitespace: form feed, vertical tab, NBSP.
        1 => prop::sample::select(vec![b"\x0c".to_vec(), b"\x0b".to_vec(), "\u{a0}".as_bytes().to_vec()]),
    ]
}

/// One piece of a string's body: mostly valid, sometimes not.
fn string_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        80 => "[a-zA-Z0-9 é☕😀/'<>]{1,6}".prop_map(String::into_bytes),
        30 => prop::sample::select(vec![
            "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t",
        ]).prop_map(|s| s.as_bytes().to_vec()),
        // A BMP code point by \u, any case of hex digits (surrogates included: lone ones).
        30 => (any::<u16>(), any::<bool>()).prop_map(|(c, upper)| if upper {
            format!("\\u{c:04X}").into_bytes()
        } else {
            format!("\\u{c:04x}").into_bytes()
        }),
        // Surrogate pairs: valid, reversed, high then a non-surrogate, high at the end.
        20 => (0xD800u32..=0xDBFF, 0xDC00u32..=0xDFFF, 0u8..12).prop_map(|(hi, lo, kind)| match kind {
            0..=8 => format!("\\u{hi:04x}\\u{lo:04x}"),
            9 => format!("\\u{lo:04x}\\u{hi:04x}"),
            10 => format!("\\u{hi:04x}\\u0041"),
            _ => format!("\\u{hi:04x}\\n"),
        }.into_bytes()),
        // Broken escapes and raw bytes that are not allowed.
        4 => prop::sample::select(vec![
            b"\\x41".to_vec(), b"\\u12".to_vec(), b"\\u12g4".to_vec(), b"\\".to_vec(), b"\\U0041".to_vec(),
            b"\x01".to_vec(), b"\x1f".to_vec(), b"\n".to_vec(), b"\x7f".to_vec(),
            b"\xff".to_vec(), b"\xc3".to_vec(), b"\xc0\x80".to_vec(), b"\xed\xa0\x80".to_vec(),
            b"\xf4\x90\x80\x80".to_vec(), b"\xe2\x82".to_vec(),
        ]),
    ]
}

fn string() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(string_piece(), 0..5).prop_map(|pieces| {
        let mut s = vec![b'"'];
        pieces.iter().for_each(|p| s.extend_from_slice(p));
        s.push(b'"');
        s
    })
}

fn number() -> impl Strategy<Value = Vec<u8>> {
    let edges = prop::sample::select(vec![
        "0",
        "-0",
        "0.0",
        "-0.0",
        "0e0",
        "-0E-0",
        "1e308",
        "1e309",
        "-1e309",
        "1E400",
        "1e-400",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "4.9e-324",
        "2.4703282292062328e-324",
        "2.4703282292062327e-324",
        "5e-324",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "123456789012345678901234567890",
        "999999999999999999",
        "1000000000000000000",
        "-999999999999999999",
        "0.1",
        "2.5",
        "1e-7",
        "1.5E+16",
        "9007199254740993",
    ])
    .prop_map(|s| s.as_bytes().to_vec());
    let not_numbers = prop::sample::select(vec![
        "00",
        "01",
        "-01",
        "1.",
        ".5",
        "-",
        "+1",
        "1e",
        "1e+",
        "1.e5",
        "-.5",
        "0x10",
        "Infinity",
        "NaN",
        "-Infinity",
        "1_000",
        "1.5.2",
        "--1",
        "1e5e5",
    ])
    .prop_map(|s| s.as_bytes().to_vec());
    let composed = (
        any::<bool>(),
        prop_oneof![1 => Just("0".to_string()), 8 => "[1-9][0-9]{0,24}", 1 => "0[0-9]{1,3}"],
        prop::option::of(prop_oneof![9 => "[0-9]{1,20}", 1 => Just(String::new())]),
        prop::option::of((
            "[eE]",
            "[+-]?",
            prop_oneof![9 => "[0-9]{1,4}", 1 => Just(String::new())],
        )),
    )
        .prop_map(|(minus, int, frac, exp)| {
            let mut s = String::new();
            if minus {
                s.push('-');
            }
            s.push_str(&int);
            if let Some(frac) = frac {
                s.push('.');
                s.push_str(&frac);
            }
            if let Some((e, sign, digits)) = exp {
                s.push_str(&e);
                s.push_str(&sign);
                s.push_str(&digits);
            }
            s.into_bytes()
        });
    let floats = any::<f64>()
        .prop_filter("finite", |f| f.is_finite())
        .prop_map(|f| format!("{f:?}").into_bytes());
    let ints = any::<i64>().prop_map(|i| i.to_string().into_bytes());
    prop_oneof![6 => edges, 1 => not_numbers, 6 => composed, 2 => floats, 2 => ints]
}

fn scalar() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        10 => prop::sample::select(vec!["null", "true", "false"]).prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::sample::select(vec!["nul", "True", "nulll", "fals", "t"]).prop_map(|s| s.as_bytes().to_vec()),
        30 => number(),
        40 => string(),
    ]
}

fn join(out: &mut Vec<u8>, parts: &[u8]) {
    out.extend_from_slice(parts);
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        let item = (whitespace(), inner.clone(), whitespace());
        let member = (
            whitespace(),
            prop_oneof![30 => "[a-c]{0,2}".prop_map(|k| format!("\"{k}\"").into_bytes()), 10 => string(), 1 => scalar()],
            whitespace(),
            inner,
            whitespace(),
        );
        prop_oneof![
            (prop::collection::vec(item, 0..6), 0u8..60).prop_map(|(items, flaw)| {
                let mut s = vec![b'['];
                for (i, (a, v, b)) in items.iter().enumerate() {
                    if i > 0 {
                        s.push(b',');
                    }
                    join(&mut s, a);
                    join(&mut s, v);
                    join(&mut s, b);
                }
                match flaw {
                    0 => s.push(b','), // trailing comma
                    1 => {}            // unclosed
                    _ => {}
                }
                if flaw != 1 {
                    s.push(b']');
                }
                s
            }),
            (prop::collection::vec(member, 0..6), 0u8..60).prop_map(|(members, flaw)| {
                let mut s = vec![b'{'];
                for (i, (a, k, b, v, c)) in members.iter().enumerate() {
                    if i > 0 {
                        s.push(b',');
                    }
                    join(&mut s, a);
                    join(&mut s, k);
                    join(&mut s, b);
                    s.push(if flaw == 2 { b'=' } else { b':' });
                    join(&mut s, v);
                    join(&mut s, c);
                }
                if flaw == 0 {
                    s.push(b',');
                }
                if flaw != 1 {
                    s.push(b'}');
                }
                s
            }),
        ]
    })
}

/// Containers nested around the depth limit (128) and far beyond it.
fn deep() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![4 => 120usize..140, 1 => 140usize..3000],
        any::<u64>(),
        scalar(),
    )
        .prop_map(|(depth, shape, leaf)| {
            let opens: Vec<bool> = (0..depth).map(|i| shape >> (i % 64) & 1 == 1).collect();
            let mut s = Vec::new();
            for &object in &opens {
                s.extend_from_slice(if object { b"{\"k\":" } else { b"[" });
            }
            s.extend_from_slice(&leaf);
            for &object in opens.iter().rev() {
                s.push(if object { b'}' } else { b']' });
            }
            s
        })
}

/// A whole document: a value (sometimes a deep one) with whitespace around it, sometimes
/// trailing garbage, sometimes one byte mutated.
fn document() -> impl Strategy<Value = Vec<u8>> {
    (
        whitespace(),
        prop_oneof![12 => value(), 1 => deep()],
        whitespace(),
        prop_oneof![
            30 => Just(Vec::new()),
            1 => prop::sample::select(vec![
                b"x".to_vec(), b"1".to_vec(), b"{}".to_vec(), b",".to_vec(), b"\0".to_vec(),
                b"\xef\xbb\xbf".to_vec(), b" null".to_vec(),
            ]),
        ],
        prop::option::weighted(0.1, (any::<prop::sample::Index>(), any::<u8>(), 0u8..3)),
    )
        .prop_map(|(a, v, b, garbage, mutation)| {
            let mut s = a;
            s.extend_from_slice(&v);
            s.extend_from_slice(&b);
            s.extend_from_slice(&garbage);
            if let Some((at, byte, op)) = mutation {
                let i = at.index(s.len() + 1);
                match op {
                    0 => s.insert(i, byte),
                    1 if i < s.len() => s[i] = byte,
                    _ if i < s.len() => {
                        s.remove(i);
                    }
                    _ => s.push(byte),
                }
            }
            s
        })
}

// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        check(&bytes)?;
    }

    #[test]
    fn json_alphabet_bytes(bytes in prop::collection::vec(
        prop::sample::select(&b"{}[]\",:0123456789-+.eEtrufalsn \\u\t\nd8D\xc3\xa9"[..]), 0..48)
    ) {
        check(&bytes)?;
    }

    #[test]
    fn structured_json(doc in document()) {
        check(&doc)?;
    }
}

/// The edges, each checked once whatever the generator draws.
#[test]
fn edges() {
    let cases: &[&[u8]] = &[
        b"-0",
        b"[-0, -0.0, 0]",
        b"1e309",
        b"123456789012345678901234567890",
        b"{\"a\":1,\"a\":2}",
        b"\"\\ud83d\\ude00\"",
        b"\"\\ud83d\"",
        b"\"\\ude00\"",
        b"\"\\ud83d\\u0041\"",
        b"\"\xff\"",
        b"01",
        b"1.",
        b" 1 x",
        b"",
        b" ",
        b"\xef\xbb\xbf1",
    ];
    for case in cases {
        check(case).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(case)));
    }
    for depth in [127, 128, 129, 5000] {
        let doc = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        check(doc.as_bytes()).unwrap_or_else(|e| panic!("depth {depth}: {e}"));
    }
}
