//! The Rust validator against the Python reference: `tests/fixtures/validation_cases.json`,
//! written by `scripts/gen_validation_cases.py` from `ixp.validation.ParameterValidator`.
//!
//! Each case is checked twice: `RenderTable::validate` (props, or the issues' JSON byte for
//! byte and the joined message), and `RenderTable::render_outcome` of a request carrying the
//! parameters (the descriptor, or the 400 with `{"validationErrors": …}` as details).

use ixp_core::{ErrorCode, IntentSpec, RenderOutcome, RenderTable, Validation};
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/validation_cases.json"
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
