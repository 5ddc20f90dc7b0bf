//! The Rust validator and render pipeline against the Python reference: the fixtures written by
//! `scripts/gen_validation_cases.py` from `ixp.validation.ParameterValidator` and `ixp.render`.
//!
//! `validation_cases.json`: each case is checked twice: `RenderTable::validate` (props, or the
//! issues' JSON byte for byte and the joined message), and `RenderTable::render_outcome` of a
//! request carrying the parameters (the descriptor, or the 400 with `{"validationErrors": …}`).
//!
//! `render_cases.json`: requests to a registry (components missing, deprecated, restricted to
//! origins; a look-ahead pattern), with the decision order's every error, byte for byte.

use ixp_core::{
    ErrorCode, IntentSpec, IntentState, PatternPolicy, RenderOutcome, RenderTable, Validation,
};
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/validation_cases.json"
);
const RENDER_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/render_cases.json"
);

/// Order-preserving (`preserve_order`) normal form of JSON text.
fn normal(json: &[u8]) -> String {
    serde_json::from_slice::<Value>(json)
        .expect("valid JSON")
        .to_string()
}

fn check(case: &Value) -> Result<(), String> {
    let schema = case["schema"].to_string();
    let parameters = case["parameters"].to_string();
    let expected = &case["expected"];
    let table = RenderTable::new([IntentSpec {
        name: "t".into(),
        schema,
        prefix: b"{\"props\":".to_vec(),
        suffix: b"}".to_vec(),
        ..IntentSpec::default()
    }])
    .map_err(|e| e.to_string())?;
    if let Some(reason) = table.fallback_reason("t") {
        return Err(format!("fallback: {reason}"));
    }
    let validation = table.validate("t", parameters.as_bytes(), None);
    let body = format!(r#"{{"intent":{{"name":"t","parameters":{parameters}}}}}"#);
    let outcome = table.render_outcome(body.as_bytes(), None, None);
    if let Some(props) = expected.get("props") {
        let want = props.to_string();
        match validation {
            Some(Validation::Props(got)) if normal(&got) == want => {}
            other => return Err(format!("validate: want props {want}, got {other:?}")),
        }
        match outcome {
            RenderOutcome::Ok(got) if normal(&got) == format!(r#"{{"props":{want}}}"#) => {}
            other => return Err(format!("render: want props {want}, got {other:?}")),
        }
        return Ok(());
    }
    let want_json = expected["issues_json"].as_str().expect("issues_json");
    let want_message = expected["message"].as_str().expect("message");
    match validation {
        Some(Validation::Invalid(issues)) => {
            let got = String::from_utf8(issues.to_json()).expect("UTF-8");
            if got != want_json {
                return Err(format!("issues:\n want {want_json}\n got  {got}"));
            }
            if issues.message() != want_message {
                return Err(format!(
                    "message:\n want {want_message}\n got  {}",
                    issues.message()
                ));
            }
        }
        other => return Err(format!("validate: want issues {want_json}, got {other:?}")),
    }
    match outcome {
        RenderOutcome::Err(e)
            if e.status == 400
                && e.code == ErrorCode::InvalidRequest
                && e.message == want_message
                && e.details.as_deref()
                    == Some(format!(r#"{{"validationErrors":{want_json}}}"#).as_bytes()) => {}
        other => Err(format!("render: want the 400, got {other:?}"))?,
    }
    Ok(())
}

#[test]
fn validation_cases_match_python() {
    let text = std::fs::read_to_string(FIXTURE).expect("the fixture");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("a JSON array");
    assert!(cases.len() > 50);
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check(case)
                .err()
                .map(|e| format!("{}: {e}", case["name"].as_str().unwrap_or("?")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The table of `render_cases.json`'s registry; look-ahead patterns are left to a hook.
fn render_table(intents: &[Value]) -> RenderTable {
    let specs = intents.iter().map(|i| {
        let text = |key: &str| i[key].as_str().map(|s| s.as_bytes().to_vec());
        let state = match (text("prefix"), i["deprecated"].as_bool()) {
            (None, _) => IntentState::NoComponent,
            (Some(_), Some(true)) => IntentState::Deprecated,
            _ => IntentState::Ready,
        };
        IntentSpec {
            name: i["name"].as_str().unwrap().into(),
            schema: i["schema"].as_str().unwrap().into(),
            prefix: text("prefix").unwrap_or_default(),
            suffix: text("suffix").unwrap_or_default(),
            origins: i["origins"]
                .as_array()
                .map(|o| o.iter().map(|s| s.as_str().unwrap().to_owned()).collect()),
            component: i["component"].as_str().unwrap().into(),
            state,
        }
    });
    RenderTable::with_policy(specs, PatternPolicy::External).expect("the table")
}

#[test]
fn render_cases_match_python() {
    let text = std::fs::read_to_string(RENDER_FIXTURE).expect("the fixture");
    let fixture: Value = serde_json::from_str(&text).expect("JSON");
    let table = render_table(fixture["intents"].as_array().unwrap());
    let deprecated: Vec<&str> = fixture["intents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["deprecated"] == true && i["prefix"].is_string())
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() > 100);
    let mut failures = Vec::new();
    for case in cases {
        let body = case["body"].as_str().unwrap();
        let origin = case["origin"].as_str();
        let expected = &case["expected"];
        // `re.search("^(?=x)", text)`, the only pattern outside the subset.
        let mut hook = |pattern: &str, text: &str| {
            assert_eq!(pattern, "^(?=x)");
            Some(text.starts_with('x'))
        };
        let got = table.render_outcome(body.as_bytes(), origin, Some(&mut hook));
        let is_deprecated = deprecated
            .iter()
            .any(|d| body.contains(&format!("\"{d}\"")));
        let ok = match (&got, expected) {
            // msgspec's messages are Python's to give.
            (RenderOutcome::Decline, e) if e.get("decode_error").is_some() => true,
            // The deprecation warning is logged by Python.
            (RenderOutcome::Decline, e) if e.get("ok").is_some() && is_deprecated => true,
            (RenderOutcome::Ok(bytes), e) => e["ok"].as_str() == std::str::from_utf8(bytes).ok(),
            (RenderOutcome::Err(err), e) => {
                let want = &e["error"];
                want["status"] == err.status
                    && want["code"] == err.code.as_str()
                    && want["message"] == err.message.as_str()
                    && want["details_json"].as_str()
                        == err
                            .details
                            .as_deref()
                            .map(|d| std::str::from_utf8(d).unwrap())
            }
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{body} (origin {origin:?}):\n want {expected}\n got  {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
