//! `render_outcome`'s decision order and errors (as `ixp.render.resolve_intent` raises them),
//! and the pattern policies.

use serde_json::json;

use super::*;

fn spec(name: &str, schema: serde_json::Value) -> IntentSpec {
    IntentSpec {
        name: name.into(),
        schema: schema.to_string(),
        prefix: b"<".to_vec(),
        suffix: b">".to_vec(),
        component: format!("{name}-ui"),
        ..IntentSpec::default()
    }
}

fn required_q() -> serde_json::Value {
    json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
}

fn table() -> RenderTable {
    RenderTable::new([
        IntentSpec {
            origins: Some(vec!["https://a.example".into()]),
            ..spec("shop", required_q())
        },
        IntentSpec {
            origins: Some(vec!["https://a.example".into()]),
            state: IntentState::NoComponent,
            ..spec("orphan", required_q())
        },
        IntentSpec {
            state: IntentState::Deprecated,
            ..spec("old", required_q())
        },
        spec(
            "look",
            json!({"type": "object", "properties": {"p": {"type": "string", "pattern": "(?=x)"}}}),
        ),
    ])
    .unwrap()
}

fn error(outcome: RenderOutcome) -> (u16, ErrorCode, String, Option<String>) {
    match outcome {
        RenderOutcome::Err(e) => (
            e.status,
            e.code,
            e.message,
            e.details.map(|d| String::from_utf8(d).unwrap()),
        ),
        other => panic!("not an error: {other:?}"),
    }
}

fn outcome(body: &str, origin: Option<&str>) -> RenderOutcome {
    table().render_outcome(body.as_bytes(), origin, None)
}

#[test]
fn decision_order() {
    let missing = (
        400,
        ErrorCode::InvalidRequest,
        "Missing required parameter 'intent.name'".to_string(),
        None,
    );
    for body in [
        "{}",
        r#"{"intent":null}"#,
        r#"{"intent":{}}"#,
        r#"{"intent":{"name":""}}"#,
        r#"{"intent":{"name":"","parameters":5}}"#,
    ] {
        assert_eq!(
            error(outcome(body, Some("https://evil"))),
            missing,
            "{body}"
        );
    }
    // Origin before unknown intent and before validation; only with a component.
    let (status, code, message, details) = error(outcome(
        r#"{"intent":{"name":"shop","parameters":5}}"#,
        Some("https://e'vil\""),
    ));
    assert_eq!((status, code), (403, ErrorCode::OriginNotAllowed));
    assert_eq!(
        message,
        "Origin 'https://e'vil\"' not allowed for component 'shop-ui'"
    );
    assert_eq!(
        details.unwrap(),
        r#"{"origin":"https://e'vil\"","componentName":"shop-ui"}"#
    );
    assert_eq!(
        error(outcome(
            r#"{"intent":{"name":"nope"}}"#,
            Some("https://evil")
        )),
        (
            404,
            ErrorCode::IntentNotSupported,
            "Intent 'nope' not found".into(),
            None
        )
    );
    // Parameters: absent means {}; null and non-objects are a top-level issue.
    let (status, _, message, details) = error(outcome(r#"{"intent":{"name":"shop"}}"#, None));
    assert_eq!(status, 400);
    assert_eq!(message, "Parameter validation failed: Required at 'q'");
    assert_eq!(
        details.unwrap(),
        r#"{"validationErrors":[{"code":"invalid_type","expected":"string","received":"undefined","path":["q"],"message":"Required"}]}"#
    );
    let (_, _, message, _) = error(outcome(
        r#"{"intent":{"name":"shop","parameters":null}}"#,
        None,
    ));
    assert_eq!(
        message,
        "Parameter validation failed: Expected object, received null"
    );
    // No component: no origin check, validation first, then 404.
    let (_, _, message, _) = error(outcome(r#"{"intent":{"name":"orphan"}}"#, Some("x")));
    assert_eq!(message, "Parameter validation failed: Required at 'q'");
    assert_eq!(
        error(outcome(
            r#"{"intent":{"name":"orphan","parameters":{"q":"v"}}}"#,
            Some("x")
        )),
        (
            404,
            ErrorCode::ComponentNotFound,
            "Component 'orphan-ui' not found".into(),
            None
        )
    );
    // Success, with options merged.
    assert_eq!(
        outcome(
            r#"{"intent":{"name":"shop","parameters":{"q":"v","x":1}},"options":{"o":1}}"#,
            Some("https://a.example")
        ),
        RenderOutcome::Ok(br#"<{"q":"v","o":1}>"#.to_vec())
    );
}

#[test]
fn declined() {
    for body in [
        "",
        "[]",
        "{",
        r#"{"intent":5}"#,
        r#"{"intent":{"name":5}}"#,
        r#"{"intent":{"name":null}}"#,
        // msgspec type-checks every occurrence, even one a later member replaces.
        r#"{"intent":{"name":"shop","name":null},"intent":null}"#,
        r#"{"intent":{"name":5},"intent":{"name":"shop"}}"#,
        r#"{"intent":{"name":"shop"},"options":"x"}"#,
        // msgspec keeps it as a Python int: Python's to judge.
        r#"{"intent":{"name":"shop","parameters":{"q":123456789012345678901234567890}}}"#,
        // Deprecated: the warning is logged by Python.
        r#"{"intent":{"name":"old","parameters":{"q":"v"}}}"#,
        // Fallback intent, from validation on.
        r#"{"intent":{"name":"look","parameters":{"p":"x"}}}"#,
    ] {
        assert_eq!(outcome(body, None), RenderOutcome::Decline, "{body}");
    }
    // Errors before validation are still answered for deprecated and fallback intents.
    assert_eq!(error(outcome(r#"{"intent":{"name":"old"}}"#, None)).0, 400);
    assert_eq!(
        error(outcome(r#"{"intent":{"name":"","parameters":{}}}"#, None)).0,
        400
    );
    // The success path alone declines every error.
    assert!(table()
        .render(br#"{"intent":{"name":"nope"}}"#, None)
        .is_none());
    assert!(table()
        .render(
            br#"{"intent":{"name":"orphan","parameters":{"q":"v"}}}"#,
            None
        )
        .is_none());
    assert_eq!(table().fast_intents().collect::<Vec<_>>(), ["shop"]);
}

fn lookahead() -> IntentSpec {
    spec(
        "look",
        json!({"type": "object", "properties": {
            "n": {"type": "object", "properties": {"p": {"type": "string", "pattern": "^(?!x)", "maxLength": 3}}}
        }}),
    )
}

#[test]
fn pattern_policies() {
    let rejected = RenderTable::with_policy([lookahead()], PatternPolicy::Reject).unwrap_err();
    match &rejected {
        TableError::Schema { intent, error } => {
            assert_eq!(intent, "look");
            assert_eq!(error.at, "parameters.properties.n.properties.p");
            assert!(matches!(
                &error.kind,
                SchemaErrorKind::UnsupportedPattern { pattern, .. } if pattern == "^(?!x)"
            ));
        }
        other => panic!("{other:?}"),
    }
    assert!(rejected
        .to_string()
        .starts_with(r#"intent "look": parameters.properties.n.properties.p.pattern "^(?!x)""#));

    let fallback = RenderTable::with_policy([lookahead()], PatternPolicy::Fallback).unwrap();
    assert!(fallback.fallback_reason("look").is_some());
    assert_eq!(fallback.external_patterns("look"), Some(&[][..]));

    let t = RenderTable::with_policy([lookahead()], PatternPolicy::External).unwrap();
    assert!(t.fallback_reason("look").is_none());
    assert_eq!(
        t.external_patterns("look").unwrap(),
        [ExternalPattern {
            at: "parameters.properties.n.properties.p".into(),
            pattern: "^(?!x)".into()
        }]
    );
    let body =
        |p: &str| format!(r#"{{"intent":{{"name":"look","parameters":{{"n":{{"p":"{p}"}}}}}}}}"#);
    // Without a hook: declined only when the pattern must be checked.
    assert_eq!(
        t.render_outcome(body("ab").as_bytes(), None, None),
        RenderOutcome::Decline
    );
    assert!(matches!(
        t.render_outcome(
            br#"{"intent":{"name":"look","parameters":{"n":{}}}}"#,
            None,
            None
        ),
        RenderOutcome::Ok(_)
    ));
    // With one: Python's answer (here, a stand-in for `re.search`).
    let mut calls = Vec::new();
    let mut hook = |pattern: &str, text: &str| {
        calls.push((pattern.to_owned(), text.to_owned()));
        Some(!text.starts_with('x'))
    };
    assert_eq!(
        t.render_outcome(body("ab").as_bytes(), None, Some(&mut hook)),
        RenderOutcome::Ok(br#"<{"n":{"p":"ab"}}>"#.to_vec())
    );
    let (_, _, message, details) =
        error(t.render_outcome(body("xyzw").as_bytes(), None, Some(&mut hook)));
    assert_eq!(
        message,
        "Parameter validation failed: String must contain at most 3 character(s) at 'n.p', Invalid at 'n.p'"
    );
    assert!(details.unwrap().contains(
        r#"{"validation":"regex","code":"invalid_string","message":"Invalid","path":["n","p"]}"#
    ));
    assert_eq!(calls[0], ("^(?!x)".to_string(), "ab".to_string()));
    // A hook that cannot tell: declined.
    let mut unsure = |_: &str, _: &str| None;
    assert_eq!(
        t.validate("look", br#"{"n":{"p":"ab"}}"#, Some(&mut unsure)),
        Some(Validation::Decline)
    );
    assert_eq!(t.validate("nope", b"{}", None), None);
}

#[test]
fn floats_as_python_and_msgspec_print_them() {
    use super::issues::{float_as_integer, msgspec_float, python_repr};
    for (f, repr, msgspec) in [
        (0.5, "0.5", "0.5"),
        (5.0, "5.0", "5.0"),
        (-0.0, "-0.0", "-0.0"),
        (1e-4, "0.0001", "0.0001"),
        (1e-5, "1e-05", "0.00001"),
        (1.5e-7, "1.5e-07", "1.5e-7"),
        (1e15, "1000000000000000.0", "1000000000000000.0"),
        (1.5e16, "1.5e+16", "1.5e16"),
        (
            1.7976931348623157e308,
            "1.7976931348623157e+308",
            "1.7976931348623157e308",
        ),
        (123456789012345.6, "123456789012345.6", "123456789012345.6"),
        (5e-324, "5e-324", "5e-324"),
    ] {
        assert_eq!(python_repr(f), repr);
        assert_eq!(msgspec_float(f), msgspec);
    }
    assert_eq!(float_as_integer(1e20), "100000000000000000000");
    assert_eq!(float_as_integer(-2.0), "-2");
    assert_eq!(float_as_integer(9007199254740992.0), "9007199254740992");
    assert_eq!(float_as_integer(1e23), "99999999999999991611392");
}

#[test]
fn subset_patterns_decided_by_regex_like_python() {
    let t = RenderTable::new([spec(
        "d",
        json!({"type": "object", "properties": {"p": {"type": "string", "pattern": "^\\d+$"}}}),
    )])
    .unwrap();
    // Python's validator matches with the same `regex` (`Pattern.is_match`): Unicode digits.
    let body = r#"{"intent":{"name":"d","parameters":{"p":"٣"}}}"#.as_bytes();
    assert_eq!(
        t.render_outcome(body, None, None),
        RenderOutcome::Ok("<{\"p\":\"٣\"}>".as_bytes().to_vec())
    );
    // The success-only path keeps leaving strings where `re` could differ to Python.
    assert!(t.render(body, None).is_none());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Where the success-only path renders, the full one renders the same bytes; every error
    /// has a message, and details that are valid JSON.
    #[test]
    fn outcome_agrees_with_render(
        parameters in super::json_tests::json_text(),
        options in super::json_tests::json_text(),
        name in proptest::sample::select(vec!["all", "empty", "shop", "lookahead", "bounds", "nope", ""]),
        origin in proptest::option::of(proptest::sample::select(vec!["https://shop.example.com", "https://evil"])),
    ) {
        let t = super::tests::table();
        let body = format!(r#"{{"intent":{{"name":"{name}","parameters":{parameters}}},"options":{options}}}"#);
        let full = t.render_outcome(body.as_bytes(), origin, None);
        if let Some(fast) = t.render(body.as_bytes(), origin) {
            proptest::prop_assert_eq!(&full, &RenderOutcome::Ok(fast));
        }
        if let RenderOutcome::Err(e) = &full {
            proptest::prop_assert!(!e.message.is_empty());
            if let Some(details) = &e.details {
                proptest::prop_assert!(serde_json::from_slice::<serde_json::Value>(details).is_ok());
            }
        }
        let mut out = b"stale".to_vec();
        let wire = t.render_wire(body.as_bytes(), origin, None, &mut out);
        proptest::prop_assert_eq!(wired(wire, &out), full);
    }
}

/// The [`RenderOutcome`] that `render_wire`'s answer is written from, read back from the wire.
fn wired(wire: Wire, out: &[u8]) -> RenderOutcome {
    let (status, code, at) = match wire {
        Wire::Body => return RenderOutcome::Ok(out.to_vec()),
        Wire::Decline => {
            assert!(out.is_empty());
            return RenderOutcome::Decline;
        }
        Wire::Error {
            status,
            code,
            timestamp_at,
        } => (status, code, timestamp_at),
    };
    let (head, tail) = out.split_at(at);
    let envelope = [head, b"2025-01-01T12:00:00.000Z", tail, b"}}"].concat();
    let parsed: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    let error = parsed["error"].as_object().unwrap();
    let keys: Vec<&str> = error.keys().map(String::as_str).collect();
    let details = error.get("details").map(|d| {
        assert_eq!(keys, ["code", "message", "timestamp", "details"]);
        serde_json::to_vec(d).unwrap()
    });
    if details.is_none() {
        assert_eq!(keys, ["code", "message", "timestamp"]);
    }
    assert_eq!(error["code"], code.as_str());
    assert_eq!(error["timestamp"], "2025-01-01T12:00:00.000Z");
    RenderOutcome::Err(RenderError {
        status,
        code,
        message: error["message"].as_str().unwrap().to_owned(),
        details,
    })
}

#[test]
fn wire_errors_are_the_outcome_s_envelope() {
    let t = table();
    for (body, origin) in [
        (r#"{"intent":{"name":"shop","parameters":{}}}"#, None),
        (
            r#"{"intent":{"name":"shop","parameters":{"q":"\"quoted\"\n"}}}"#,
            Some("https://evil"),
        ),
        (r#"{"intent":{"name":"nope\u0001"}}"#, None),
        (
            r#"{"intent":{"name":"orphan","parameters":{"q":"x"}}}"#,
            None,
        ),
        (r#"{"intent":{"name":"shop","parameters":{"q":"x"}}}"#, None),
        (r#"{"intent":{"name":"old","parameters":{"q":"x"}}}"#, None),
    ] {
        let full = t.render_outcome(body.as_bytes(), origin, None);
        let mut out = Vec::new();
        let wire = t.render_wire(body.as_bytes(), origin, None, &mut out);
        if let RenderOutcome::Err(e) = &full {
            // Byte for byte: the envelope `ixp.http.errors` writes (details as they are).
            let mut expected = br#"{"error":{"code":""#.to_vec();
            expected.extend_from_slice(e.code.as_str().as_bytes());
            expected.extend_from_slice(b"\",\"message\":");
            expected.extend_from_slice(serde_json::to_string(&e.message).unwrap().as_bytes());
            expected.extend_from_slice(b",\"timestamp\":\"\"");
            if let Some(details) = &e.details {
                expected.extend_from_slice(b",\"details\":");
                expected.extend_from_slice(details);
            }
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&expected),
                "{body}"
            );
        }
        assert_eq!(wired(wire, &out), full, "{body}");
    }
}
