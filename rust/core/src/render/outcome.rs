//! What `POST /ixp/render` and parameter validation answer, and the request body as msgspec
//! decodes it (`ixp.render.RenderRequest`).

use std::fmt;

use super::issues::Issues;
use super::json::{Members, Value};
use super::write::write_str;

/// The answer to a render request.
#[derive(Debug, Clone, PartialEq)]
pub enum RenderOutcome {
    /// The response body (the descriptor `prefix + props + suffix`).
    Ok(Vec<u8>),
    /// The protocol's error, exactly as `ixp.render` raises it.
    Err(RenderError),
    /// Not answered here: the Python path produces it (messages of msgspec's decoding errors,
    /// numbers outside msgspec's ranges, fallback intents, deprecated intents' warning, a
    /// pattern the hook could not check).
    Decline,
}

/// An `IXPError` of the render pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    /// The `details` object as JSON, when the error has one.
    pub details: Option<Vec<u8>>,
}

/// The codes the render pipeline answers with (`ixp.errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    OriginNotAllowed,
    IntentNotSupported,
    ComponentNotFound,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::OriginNotAllowed => "ORIGIN_NOT_ALLOWED",
            ErrorCode::IntentNotSupported => "INTENT_NOT_SUPPORTED",
            ErrorCode::ComponentNotFound => "COMPONENT_NOT_FOUND",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RenderError {
    /// `bad_request("Missing required parameter 'intent.name'")`.
    pub(super) fn missing_name() -> Self {
        RenderError {
            status: 400,
            code: ErrorCode::InvalidRequest,
            message: "Missing required parameter 'intent.name'".into(),
            details: None,
        }
    }

    pub(super) fn origin_not_allowed(origin: &str, component: &str) -> Self {
        let mut details = b"{\"origin\":".to_vec();
        write_str(&mut details, origin);
        details.extend_from_slice(b",\"componentName\":");
        write_str(&mut details, component);
        details.push(b'}');
        RenderError {
            status: 403,
            code: ErrorCode::OriginNotAllowed,
            message: format!("Origin '{origin}' not allowed for component '{component}'"),
            details: Some(details),
        }
    }

    pub(super) fn intent_not_found(name: &str) -> Self {
        RenderError {
            status: 404,
            code: ErrorCode::IntentNotSupported,
            message: format!("Intent '{name}' not found"),
            details: None,
        }
    }

    pub(super) fn invalid_parameters(issues: &Issues) -> Self {
        let (message, details) = issues.message_and_details();
        RenderError {
            status: 400,
            code: ErrorCode::InvalidRequest,
            message,
            details: Some(details),
        }
    }

    pub(super) fn component_not_found(component: &str) -> Self {
        RenderError {
            status: 404,
            code: ErrorCode::ComponentNotFound,
            message: format!("Component '{component}' not found"),
            details: None,
        }
    }
}

impl RenderError {
    /// The protocol's error envelope (`ixp.http.errors`, docs/protocol.md §2.1) up to its
    /// timestamp — `{"error":{"code":…,"message":…,"timestamp":"` — then the rest up to the
    /// `requestId` — `"` and `,"details":…` — appended to `out`. Returns where the
    /// timestamp goes (the length of `out` after the first part).
    pub fn write_envelope(&self, out: &mut Vec<u8>) -> usize {
        let details = self.details.as_deref().unwrap_or_default();
        out.reserve(64 + self.message.len() + details.len());
        out.extend_from_slice(b"{\"error\":{\"code\":\"");
        out.extend_from_slice(self.code.as_str().as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        write_str(out, &self.message);
        out.extend_from_slice(b",\"timestamp\":\"");
        let timestamp_at = out.len();
        out.push(b'"');
        if self.details.is_some() {
            out.extend_from_slice(b",\"details\":");
            out.extend_from_slice(details);
        }
        timestamp_at
    }
}

/// What the fast lane of `POST /ixp/render` sends ([`RenderTable::render_wire`](super::RenderTable::render_wire)):
/// [`RenderOutcome`] written for the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The buffer holds the response body.
    Body,
    /// The buffer holds the error's envelope without its timestamp and request id
    /// ([`RenderError::write_envelope`]); the timestamp goes at `timestamp_at`.
    Error {
        status: u16,
        code: ErrorCode,
        timestamp_at: usize,
    },
    /// Not answered here (see [`RenderOutcome::Decline`]); the buffer is empty.
    Decline,
}

/// The result of validating parameters on their own ([`RenderTable::validate`](super::RenderTable::validate)).
#[derive(Debug, Clone, PartialEq)]
pub enum Validation {
    /// The validated parameters (declared keys, schema order, defaults filled in) as JSON.
    Props(Vec<u8>),
    /// Every issue, as `ParameterValidator.validate` raises them.
    Invalid(Issues),
    /// Not answered here (see [`RenderOutcome::Decline`]).
    Decline,
}

/// The members of the body that matter, checked the way msgspec decodes `RenderRequest`.
pub(super) struct Request<'j> {
    /// `""` when absent (`IntentRef.name` defaults to it) or when `intent` is absent or null.
    pub(super) name: &'j str,
    /// `None`: absent (means `{}`); any JSON value otherwise.
    pub(super) parameters: Option<&'j Value<'j>>,
    pub(super) options: Option<&'j Members<'j>>,
}

impl<'j> Request<'j> {
    /// `None` when msgspec would refuse the body (its message is Python's to give): not an
    /// object; an `intent` that is neither null nor an object, or whose `name` is not a
    /// string; an `options` that is neither null nor an object. Every occurrence of a
    /// duplicate key is checked (msgspec validates each as it decodes); the last one wins.
    pub(super) fn from_json(doc: &'j Value<'j>) -> Option<Self> {
        let Value::Object(members) = doc else {
            return None;
        };
        let mut intent = None;
        let mut options = None;
        for (key, value) in members.iter() {
            match key.as_str() {
                "intent" => {
                    intent = match value {
                        Value::Null => None,
                        // Every `name`, even of an `intent` a later one replaces.
                        Value::Object(o)
                            if o.iter().all(|(k, v)| {
                                k.as_str() != "name" || matches!(v, Value::Str(_))
                            }) =>
                        {
                            Some(*o)
                        }
                        _ => return None,
                    }
                }
                "options" => {
                    options = match value {
                        Value::Null => None,
                        Value::Object(o) => Some(*o),
                        _ => return None,
                    }
                }
                _ => {}
            }
        }
        let mut name: &str = "";
        let mut parameters = None;
        for (key, value) in intent.unwrap_or(&[]) {
            match key.as_str() {
                "name" => match value {
                    Value::Str(s) => name = s.as_str(),
                    _ => return None,
                },
                // Any value decodes; validation then reports anything but an object.
                "parameters" => parameters = Some(value),
                _ => {}
            }
        }
        Some(Request {
            name,
            parameters,
            options,
        })
    }
}
