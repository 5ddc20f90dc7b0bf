use std::cmp::Ordering;
use std::fmt;

use bumpalo::Bump;
use proptest::prelude::*;
use serde_json::json;

use super::json::{self, Value};
use super::json_tests::{json_text, mutated_json};
use super::pattern::Pattern;
use super::schema::cmp_int_float;
use super::*;

const PREFIX: &[u8] = b"{\"props\":";
const SUFFIX: &[u8] = b"}";

/// (`json!` sorts keys: schemas whose property order matters are written as text.)
fn spec(name: &str, schema: impl fmt::Display, origins: Option<&[&str]>) -> IntentSpec {
    IntentSpec {
        name: name.into(),
        schema: schema.to_string(),
        prefix: PREFIX.to_vec(),
        suffix: SUFFIX.to_vec(),
        origins: origins.map(|o| o.iter().map(|s| s.to_string()).collect()),
        ..IntentSpec::default()
    }
}

const ALL_RULES: &str = r#"{
    "type": "object",
    "properties": {
        "choice": {"type": "string", "enum": ["a", "b", "ç"], "minLength": 5},
        "text": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+\\d?$"},
        "count": {"type": "integer", "minimum": -3, "maximum": 10},
        "ratio": {"type": "number", "minimum": 0.5, "maximum": 100},
        "flag": {"type": "boolean"},
        "tags": {"type": "array", "minItems": 1, "maxItems": 3},
        "nested": {
            "type": "object",
            "properties": {"x": {"type": "integer"}, "y": {"type": "string", "default": "yy"}},
            "required": ["x"]
        },
        "blob": {"type": "object"},
        "anything": {},
        "union": {"type": ["string", "null"]},
        "withDefault": {"type": "integer", "default": 7},
        "nullDefault": {"type": "string", "default": null},
        "listDefault": {"type": "array", "default": [{"a": 1, "b": "\u00e9\n"}]},
        "requiredWithDefault": {"type": "string", "default": "ignored"}
    },
    "required": ["choice", "requiredWithDefault"]
}"#;

pub(super) fn table() -> RenderTable {
    RenderTable::new([
        spec("all", ALL_RULES, None),
        spec("empty", json!({"type": "object"}), None),
        spec(
            "shop",
            json!({"type": "object", "properties": {"id": {"type": "string"}}}),
            Some(&["https://shop.example.com"]),
        ),
        spec(
            "lookahead",
            json!({"type": "object", "properties": {"p": {"type": "string", "pattern": "(?=x)"}}}),
            None,
        ),
        spec(
            "bounds",
            json!({"type": "object", "properties": {
                "i": {"type": "integer", "maximum": 9007199254740992.0_f64},
                "n": {"type": "number", "minimum": 9007199254740993_u64},
                "f": {"type": "number", "maximum": 0.1}
            }}),
            None,
        ),
    ])
    .unwrap()
}

/// The props of a rendered body, parsed (order-preserving comparison via the raw text).
fn props(table: &RenderTable, body: &str) -> Option<String> {
    let out = table.render(body.as_bytes(), None)?;
    assert!(out.starts_with(PREFIX) && out.ends_with(SUFFIX));
    let inner = &out[PREFIX.len()..out.len() - SUFFIX.len()];
    // Always valid JSON.
    serde_json::from_slice::<serde_json::Value>(inner).expect("valid JSON output");
    Some(String::from_utf8(inner.to_vec()).unwrap())
}

fn all(params: &str) -> Option<String> {
    props(
        &table(),
        &format!(r#"{{"intent":{{"name":"all","parameters":{params}}}}}"#),
    )
}

const BASE: &str = r#""choice":"a","requiredWithDefault":"r""#;

fn all_with(extra: &str) -> Option<String> {
    all(&format!("{{{BASE},{extra}}}"))
}

#[test]
fn valid_request_fills_defaults_in_schema_order() {
    assert_eq!(
        all(r#"{"requiredWithDefault":"r","zzz":1,"choice":"ç"}"#).unwrap(),
        r#"{"choice":"ç","withDefault":7,"nullDefault":null,"listDefault":[{"a":1,"b":"é\n"}],"requiredWithDefault":"r"}"#
    );
    assert_eq!(
        props(&table(), r#"{"intent":{"name":"empty"}}"#).unwrap(),
        "{}"
    );
    assert_eq!(
        props(
            &table(),
            r#" {"intent":{"name":"empty","parameters":{"x":1}},"options":null} "#
        )
        .unwrap(),
        "{}"
    );
}

#[test]
fn each_rule() {
    let ok = |extra: &str| all_with(extra).is_some();
    // string enum: exact membership; minLength etc. ignored with an enum
    assert!(!ok(r#""choice":"c""#));
    assert!(!ok(r#""choice":"A""#));
    assert!(all(r#"{"requiredWithDefault":"r"}"#).is_none()); // required missing
    assert!(all(r#"{"choice":"a"}"#).is_none());
    // string length in code points, pattern searched
    assert!(ok(r#""text":"ab""#));
    assert!(ok(r#""text":"abcd5""#));
    assert!(!ok(r#""text":"a""#));
    assert!(!ok(r#""text":"abcdef""#));
    assert!(!ok(r#""text":"AB""#));
    assert!(!ok(r#""text":7"#));
    assert!(!ok(r#""text":null"#));
    // integer: ints, floats with a zero fraction (kept as written), bounds inclusive
    assert_eq!(
        all_with(r#""count":2.0"#).unwrap(),
        format!("{{{BASE_OUT_2}}}")
    );
    assert!(ok(r#""count":-3"#) && ok(r#""count":10"#) && ok(r#""count":1E1"#));
    assert!(!ok(r#""count":11"#) && !ok(r#""count":-4"#) && !ok(r#""count":2.5"#));
    assert!(!ok(r#""count":true"#) && !ok(r#""count":"2""#));
    // number
    assert!(ok(r#""ratio":0.5"#) && ok(r#""ratio":100"#) && ok(r#""ratio":1e1"#));
    assert!(!ok(r#""ratio":0.49"#) && !ok(r#""ratio":100.01"#) && !ok(r#""ratio":false"#));
    // boolean
    assert!(ok(r#""flag":false"#) && !ok(r#""flag":0"#) && !ok(r#""flag":null"#));
    // array: sizes only, items verbatim
    assert!(ok(r#""tags":[1,"x",null]"#) && !ok(r#""tags":[]"#) && !ok(r#""tags":[1,2,3,4]"#));
    assert!(!ok(r#""tags":{}"#));
    // nested object: required, defaults, unknown keys dropped
    assert!(all_with(r#""nested":{"x":1,"z":2}"#)
        .unwrap()
        .contains(r#""nested":{"x":1,"y":"yy"}"#));
    assert!(!ok(r#""nested":{"y":"q"}"#) && !ok(r#""nested":[]"#) && !ok(r#""nested":{"x":"1"}"#));
    // object without properties: any object, verbatim (duplicates collapsed)
    assert!(all_with(r#""blob":{"k":[1,{"a":1,"a":2}],"k":3}"#)
        .unwrap()
        .contains(r#""blob":{"k":3}"#));
    assert!(!ok(r#""blob":[]"#) && !ok(r#""blob":null"#));
    // no type / union type: anything, null included
    assert!(ok(r#""anything":null"#) && ok(r#""union":5"#) && ok(r#""anything":[{"x":[]}]"#));
}

const BASE_OUT_2: &str = r#""choice":"a","count":2.0,"withDefault":7,"nullDefault":null,"listDefault":[{"a":1,"b":"é\n"}],"requiredWithDefault":"r""#;

#[test]
fn request_shape() {
    let t = table();
    let r = |body: &str| t.render(body.as_bytes(), None).is_some();
    assert!(r(r#"{"intent":{"name":"empty"}}"#));
    assert!(!r(r#"{"intent":{"name":""}}"#));
    assert!(!r(r#"{"intent":{}}"#));
    assert!(!r(r#"{"intent":null}"#));
    assert!(!r(r#"{}"#));
    assert!(!r(r#"[]"#));
    assert!(!r(r#"{"intent":{"name":"nope"}}"#));
    assert!(!r(r#"{"intent":{"name":"empty","parameters":null}}"#));
    assert!(!r(r#"{"intent":{"name":"empty","parameters":[]}}"#));
    assert!(!r(r#"{"intent":{"name":"empty"},"options":[]}"#));
    assert!(!r(r#"{"intent":{"name":"empty"},"options":"x"}"#));
    // Each duplicate is type-checked like msgspec does; the last one wins.
    assert!(r(r#"{"intent":null,"intent":{"name":"empty"}}"#));
    assert!(!r(r#"{"intent":{"name":"empty"},"intent":null}"#));
    assert!(!r(r#"{"intent":5,"intent":{"name":"empty"}}"#));
    assert!(!r(r#"{"intent":{"name":5,"name":"empty"}}"#));
    assert!(r(r#"{"intent":{"name":"nope","name":"empty"}}"#));
    assert!(!r(
        r#"{"options":5,"options":null,"intent":{"name":"empty"}}"#
    ));
    assert!(r(
        r#"{"intent":{"name":"empty","parameters":5,"parameters":{}}}"#
    ));
    assert!(!r(
        r#"{"intent":{"name":"empty","parameters":{},"parameters":5}}"#
    ));
    // Malformed JSON
    for bad in [
        "",
        " ",
        "{",
        r#"{"intent":{"name":"empty"}} x"#,
        r#"{"intent":{"name":"empty"},}"#,
        "\u{feff}{\"intent\":{\"name\":\"empty\"}}",
        r#"{"intent":{"name":"empty","x":"\ud800"}}"#,
        r#"{"intent":{"name":"empty","x":"\q"}}"#,
        "{\"intent\":{\"name\":\"empty\",\"x\":\"\u{1}\"}}",
        r#"{"intent":{"name":"empty","x":01}}"#,
        r#"{"intent":{"name":"empty","x":NaN}}"#,
    ] {
        assert!(!r(bad), "{bad:?}");
    }
    assert!(t
        .render(b"{\"intent\":{\"name\":\"empty\",\"x\":\"\xff\"}}", None)
        .is_none());
}

#[test]
fn duplicate_keys_last_value_first_position() {
    assert_eq!(
        all(r#"{"choice":"b","requiredWithDefault":"r","withDefault":1,"choice":"a","withDefault":2}"#)
            .unwrap(),
        r#"{"choice":"a","withDefault":2,"nullDefault":null,"listDefault":[{"a":1,"b":"é\n"}],"requiredWithDefault":"r"}"#
    );
    // The last value decides validity.
    assert!(all_with(r#""count":2,"count":99"#).is_none());
    assert!(all_with(r#""count":99,"count":2"#).is_some());
}

#[test]
fn options_merge_like_python_dict_spread() {
    let body = r#"{"intent":{"name":"all","parameters":{"choice":"a","requiredWithDefault":"r"}},
        "options":{"new":1,"withDefault":"over","new":2,"choice":{"k":"v"},"count":3}}"#;
    assert_eq!(
        props(&table(), body).unwrap(),
        r#"{"choice":{"k":"v"},"withDefault":"over","nullDefault":null,"listDefault":[{"a":1,"b":"é\n"}],"requiredWithDefault":"r","new":2,"count":3}"#
    );
}

#[test]
fn numbers_like_msgspec() {
    let ok = |extra: &str| all_with(extra).is_some();
    assert!(ok(r#""anything":18446744073709551615"#));
    assert!(ok(r#""anything":-9223372036854775808"#));
    assert!(!ok(r#""anything":18446744073709551616"#));
    assert!(!ok(r#""anything":-9223372036854775809"#));
    assert!(!ok(r#""anything":1e400"#));
    assert!(!ok(r#""anything":-1e400"#));
    assert!(!ok(r#""undeclared":[1e999]"#));
    assert!(ok(r#""anything":1e-400"#));
    assert!(all_with(r#""anything":-0"#)
        .unwrap()
        .contains(r#""anything":-0,"#));
    // In options too; anywhere in the body (stricter than msgspec for ignored members).
    assert!(all(r#"{"choice":"a","requiredWithDefault":"r"},"options":{"x":1e400}"#).is_none());
    assert!(table()
        .render(br#"{"x":1e400,"intent":{"name":"empty"}}"#, None)
        .is_none());
}

#[test]
fn bounds_compare_exactly() {
    let t = table();
    let r = |params: &str| {
        t.render(
            format!(r#"{{"intent":{{"name":"bounds","parameters":{params}}}}}"#).as_bytes(),
            None,
        )
        .is_some()
    };
    assert!(r(r#"{"i":9007199254740992}"#));
    assert!(!r(r#"{"i":9007199254740993}"#)); // == 2^53 as f64, but Python compares exactly
    assert!(r(r#"{"n":9007199254740993}"#));
    assert!(!r(r#"{"n":9007199254740992}"#));
    assert!(!r(r#"{"n":9007199254740992.0}"#));
    assert!(r(r#"{"n":9007199254740994.0}"#));
    assert!(r(r#"{"f":0.1}"#) && !r(r#"{"f":0.10000000000000002}"#));
    assert_eq!(cmp_int_float(3, 2.5), Ordering::Greater);
    assert_eq!(cmp_int_float(2, 2.5), Ordering::Less);
    assert_eq!(cmp_int_float(-3, -2.5), Ordering::Less);
    assert_eq!(cmp_int_float(-2, -2.5), Ordering::Greater);
    assert_eq!(cmp_int_float(5, 5.0), Ordering::Equal);
    assert_eq!(cmp_int_float(i128::from(u64::MAX), 1e300), Ordering::Less);
    assert_eq!(
        cmp_int_float(i128::from(i64::MIN), -1e300),
        Ordering::Greater
    );
}

#[test]
fn origins() {
    let t = table();
    let body = br#"{"intent":{"name":"shop"}}"#;
    assert!(t.render(body, None).is_some());
    assert!(t.render(body, Some("https://shop.example.com")).is_some());
    assert!(t.render(body, Some("https://shop.example.com/")).is_none());
    assert!(t.render(body, Some("https://evil.example.com")).is_none());
    assert!(t
        .render(br#"{"intent":{"name":"empty"}}"#, Some("anything"))
        .is_some());
}

#[test]
fn fallback_and_errors() {
    let t = table();
    assert_eq!(t.len(), 5);
    assert_eq!(
        t.fast_intents().collect::<Vec<_>>(),
        ["all", "empty", "shop", "bounds"]
    );
    assert!(t
        .fallback_reason("lookahead")
        .unwrap()
        .to_string()
        .contains("look-around"));
    assert!(t
        .render(br#"{"intent":{"name":"lookahead"}}"#, None)
        .is_none());

    let fallback = |schema: serde_json::Value| {
        let t = RenderTable::new([spec("x", &schema, None)]).unwrap();
        t.fallback_reason("x").map(SchemaError::to_string)
    };
    let prop = |p: serde_json::Value| json!({"type": "object", "properties": {"p": p}});
    assert!(fallback(json!(null)).is_some());
    assert!(fallback(json!({"properties": {}})).is_some());
    assert!(fallback(json!({"type": "object", "properties": []})).is_some());
    assert!(fallback(json!({"type": "object", "required": ["q"]})).is_some());
    assert!(fallback(json!({"type": "object", "required": null})).is_some());
    assert!(fallback(prop(json!(5))).is_some());
    assert!(fallback(prop(json!({"type": "string", "enum": []}))).is_some());
    assert!(fallback(prop(json!({"type": "string", "enum": [1]}))).is_some());
    assert!(fallback(prop(json!({"type": "string", "minLength": 2.0}))).is_some());
    assert!(fallback(prop(json!({"type": "string", "minLength": -1}))).is_some());
    assert!(fallback(prop(json!({"type": "string", "maxLength": true}))).is_some());
    assert!(fallback(prop(json!({"type": "string", "pattern": 5}))).is_some());
    assert!(fallback(prop(json!({"type": "integer", "minimum": "1"}))).is_some());
    assert!(fallback(prop(json!({"type": "array", "maxItems": 1.5}))).is_some());
    assert!(fallback(prop(json!({"type": "object", "properties": {"q": 1}}))).is_some());
    // What Python accepts is compiled.
    assert!(fallback(prop(
        json!({"type": "string", "enum": ["x"], "pattern": "(?=x)"})
    ))
    .is_none());
    assert!(fallback(prop(json!({"type": "string", "minLength": null}))).is_none());
    assert!(fallback(prop(json!({"type": "integer", "minimum": null}))).is_none());
    assert!(fallback(prop(json!({"type": "object", "properties": null}))).is_none());
    assert!(fallback(json!({"type": "object", "properties": null})).is_none());
    assert!(fallback(prop(json!({"type": "mystery"}))).is_none());
    let huge = RenderTable::new([IntentSpec {
        schema: r#"{"type":"object","properties":{"p":{"type":"string","maxLength":123456789012345678901234567890}}}"#.into(),
        ..spec("x", json!(null), None)
    }])
    .unwrap();
    assert!(huge.fallback_reason("x").is_none());

    // Errors: only malformed JSON and duplicate names.
    let bad = RenderTable::new([IntentSpec {
        schema: "{".into(),
        ..spec("broken", json!(null), None)
    }]);
    assert!(matches!(bad, Err(TableError::BadSchemaJson { ref intent, .. }) if intent == "broken"));
    assert!(bad.unwrap_err().to_string().contains("\"broken\""));
    let dup = RenderTable::new([spec("d", json!(null), None), spec("d", json!(null), None)]);
    assert_eq!(
        dup.unwrap_err(),
        TableError::DuplicateIntent { intent: "d".into() }
    );
    // Nested deeper than the parser goes: valid JSON, so a fallback.
    let deep = format!("{}1{}", "[".repeat(500), "]".repeat(500));
    let t = RenderTable::new([IntentSpec {
        schema: deep,
        ..spec("deep", json!(null), None)
    }])
    .unwrap();
    assert!(t.fallback_reason("deep").is_some());
}

#[test]
fn pattern_subset() {
    for accepted in [
        r"^[A-Z]{2}[0-9]{6}$",
        r"^\d{4}-\d{2}-\d{2}$",
        r"\bword\b",
        r"a{2,}b{0,3}?c*?",
        r"(?P<g>x)|(y)|(?:z)",
        r"[^\s]\S\w\W\D\.\%\/\ ",
        r"\x41\u00e9\U0001F600\t\n",
        r"^$",
        "",
        r"\Aabc\z",
        r"[]a-]",
    ] {
        assert!(Pattern::new(accepted).is_ok(), "{accepted}");
    }
    for rejected in [
        r"(?=x)",
        r"(?i)abc",
        r"(?i:abc)",
        r"\B",
        r"\<",
        r"\b{start}",
        r"a{ 2}",
        r"a{2 }",
        r"x*+",
        r"x{2}{3}",
        r"\p{L}",
        r"\pL",
        r"[[:alpha:]]",
        r"[a[b]]",
        r"[a&&b]",
        r"[a--b]",
        r"\x{41}",
        r"\1",
        r"(",
    ] {
        assert!(Pattern::new(rejected).is_err(), "{rejected}");
    }
    let word = Pattern::new(r"^\w+$").unwrap();
    assert_eq!(word.search("abc_1"), Some(true));
    assert_eq!(word.search("a-b"), Some(false));
    assert_eq!(word.search("é"), None); // Unicode tables differ: not decided
    let literal = Pattern::new("^é+$").unwrap();
    assert_eq!(literal.search("éé"), Some(true));
    let space = Pattern::new(r"^\S+$").unwrap();
    assert_eq!(space.search("ab"), Some(true));
    assert_eq!(space.search("a\u{1c}"), None); // Python's \s matches \x1c
    let dollar = Pattern::new(r"^ab$").unwrap();
    assert_eq!(dollar.search("ab"), Some(true));
    assert_eq!(dollar.search("ab\n"), None); // Python's $ matches before a final \n
    assert_eq!(dollar.search("abc"), Some(false));
    let search = Pattern::new("b").unwrap();
    assert_eq!(search.search("abc"), Some(true)); // unanchored
}

#[test]
fn unicode_lengths_and_escapes() {
    let t = RenderTable::new([spec(
        "s",
        json!({"type": "object", "properties": {
            "s": {"type": "string", "minLength": 2, "maxLength": 2},
            "k\"ey\u{1}": {}
        }}),
        None,
    )])
    .unwrap();
    let r = |params: &str| {
        t.render(
            format!(r#"{{"intent":{{"name":"s","parameters":{params}}}}}"#).as_bytes(),
            None,
        )
        .map(|o| String::from_utf8(o[PREFIX.len()..o.len() - 1].to_vec()).unwrap())
    };
    assert!(r(r#"{"s":"é😀"}"#).is_some());
    assert!(r(r#"{"s":"\ud83d\ude00x"}"#).is_some());
    assert!(r(r#"{"s":"abc"}"#).is_none());
    assert!(r(r#"{"s":"a"}"#).is_none());
    let out = r(r#"{"s":"\"\\","k\"ey\u0001":"\u00e9\n\u001f\/"}"#).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        json!({"s": "\"\\", "k\"ey\u{1}": "é\n\u{1f}/"})
    );
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let t = table();
    for depth in [127, 128, 129, 100_000] {
        let body = format!(
            r#"{{"intent":{{"name":"all","parameters":{{{BASE},"anything":{}1{}}}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        // Three containers enclose `anything`.
        assert_eq!(
            t.render(body.as_bytes(), None).is_some(),
            depth + 3 <= json::MAX_DEPTH
        );
    }
    assert!(t
        .render("{\"a\":".repeat(200_000).as_bytes(), None)
        .is_none());
}

#[test]
fn escaped_and_raw_keys_are_one_key() {
    // `\u0063hoice` is `choice`: a duplicate, so the last value at the first position.
    assert_eq!(
        all(r#"{"choice":"b","requiredWithDefault":"r","\u0063hoice":"a"}"#).unwrap(),
        r#"{"choice":"a","withDefault":7,"nullDefault":null,"listDefault":[{"a":1,"b":"é\n"}],"requiredWithDefault":"r"}"#
    );
}

#[test]
fn a_huge_body_does_not_pin_the_arena() {
    let t = table();
    let huge = format!(
        r#"{{"intent":{{"name":"all","parameters":{{{BASE},"anything":[{}0]}}}}}}"#,
        "0,".repeat(1 << 18)
    );
    assert!(t.render(huge.as_bytes(), None).is_some());
    ARENA.with(|arena| assert!(arena.borrow().allocated_bytes() <= ARENA_KEEP));
    assert!(t.render(br#"{"intent":{"name":"empty"}}"#, None).is_some());
}

fn request_around(parameters: String, options: String) -> String {
    format!(r#"{{"intent":{{"name":"all","parameters":{parameters}}},"options":{options}}}"#)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]


    #[test]
    fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let t = table();
        let _ = t.render(&bytes, None);
        let _ = t.render(&bytes, Some("https://shop.example.com"));
    }

    #[test]
    fn never_panics_on_json(
        parameters in json_text(),
        options in json_text(),
        mutated in mutated_json(),
    ) {
        let t = table();
        if let Some(out) = t.render(request_around(parameters.clone(), options).as_bytes(), None) {
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&out[PREFIX.len()..out.len() - 1]).is_ok());
        }
        let _ = t.render(&mutated, None);
        let _ = t.render(request_around(parameters, "null".into()).as_bytes(), None);
    }

    #[test]
    fn valid_parameters_render(
        text in "[a-z]{2,4}[0-9]?",
        count in -3i64..=10,
        ratio in 0.5f64..=100.0,
        anything in json_text(),
        options in json_text(),
    ) {
        let parameters = format!(
            r#"{{{BASE},"text":"{text}","count":{count},"ratio":{ratio:?},"anything":{anything},"flag":true}}"#
        );
        let body = request_around(parameters, options.clone());
        let out = table().render(body.as_bytes(), None);
        // Renders unless a number in `anything`/`options` is out of msgspec's range.
        let bump = Bump::new();
        let in_range = json::parse(anything.as_bytes(), &bump, false).is_ok()
            && json::parse(options.as_bytes(), &bump, false).is_ok_and(|o| !matches!(o, Value::Array(_) | Value::Str(_) | Value::Bool(_) | Value::Number(_)));
        prop_assert_eq!(out.is_some(), in_range, "{}", body);
    }
}
