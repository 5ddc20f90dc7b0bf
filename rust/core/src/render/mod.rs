//! `RenderTable`: the success path of `POST /ixp/render`, without Python.
//!
//! For a request body and an `Origin`, [`RenderTable::render_outcome`] answers what
//! `POST /ixp/render` answers: the full response body of a valid request (`prefix + compact JSON
//! of the props + suffix`), or the protocol's error with its exact message and details (Zod-style
//! issues for parameters), or *decline*: "not me, take the Python path" for the few cases whose
//! answer only Python can give byte for byte (msgspec's decoding errors, for one).
//! [`RenderTable::render`] is the success path alone (`None` for anything else). The Python path
//! stays the reference; this module only ever answers when it is sure to agree.
//!
//! What it reproduces (`ixp.render.RenderRequest` decoded by msgspec, then `resolve_intent` and
//! `ixp.validation.ParameterValidator`):
//! - the body is an object; every `intent` member is `null` or an object whose every `name` member
//!   is a string (msgspec checks each duplicate as it decodes; the last one wins); every `options`
//!   member is `null` or an object. Other members are ignored.
//! - decision order (`ixp.render.resolve_intent`): missing `intent.name` 400 → origin 403 (only
//!   with an `Origin`, only when the component exists) → unknown intent 404 → parameters 400 →
//!   component missing 404.
//! - `parameters` (missing: `{}`) is validated like `_compile_object`: declared properties in schema
//!   order, required ones present, defaults filled in, undeclared keys dropped at every level.
//! - numbers as msgspec decodes them: an integer literal outside the i64/u64 range, or a float
//!   literal that overflows to ±inf → `None` (msgspec keeps the first as a Python int and refuses
//!   the second inside `parameters`/`options`; refusing them anywhere in the body is safe).
//! - props = the validated object, then `options` merged like `{**props, **options}`.
//! - duplicate keys: the last value wins at the first position (a Python dict built by msgspec).
//!
//! An intent whose schema uses something this module cannot reproduce exactly is registered as a
//! *fallback*: its requests are declined from validation on. That is the case for every schema
//! Python itself rejects, and, by default, for `pattern`s outside the subset of regular
//! expressions on which Python's `re` and Rust's `regex` provably agree (see
//! [`Pattern`](pattern::Pattern)); [`PatternPolicy`] makes those an error instead, or leaves
//! them to a hook of the caller's.
//!
//! Parsing is this module's own strict RFC 8259 parser (see [`json`]): strings borrowed from the
//! body when they have no escapes, numbers kept as their literal text, duplicate keys kept in
//! document order, nesting limited to 128 levels (no input can exhaust the stack), containers in
//! a per-thread arena reused from one request to the next (no heap allocation). serde_json is
//! not used because with `arbitrary_precision` it reads the object
//! `{"$serde_json::private::Number": "5"}` as the number 5; and both crates cost more than the
//! 10 % of the render path the project allows for a dependency: jiter 0.12 (`JsonValue`) parses
//! the benchmark body in ~2.9× our time, serde_json in ~4.6× (`benches/json.rs`, docs/core.md).

use std::cell::RefCell;
use std::fmt;

use bumpalo::Bump;
use hashbrown::{HashMap, HashSet};

use self::collect::Collector;
use self::json::Value;
use self::object::Object;
use self::outcome::Request;
use self::schema::{compile_parameters, Externals, ObjectSchema};

mod collect;
mod issues;
// Public for the parser benchmark and the differential tests (tests/json_differential.rs).
#[doc(hidden)]
pub mod json;
#[cfg(test)]
mod json_tests;
mod object;
mod outcome;
#[cfg(test)]
mod outcome_tests;
mod pattern;
mod schema;
#[cfg(test)]
mod tests;
mod write;

pub use issues::{Bound, Issue, IssueKind, Issues, JsType, Size};
pub use outcome::{ErrorCode, RenderError, RenderOutcome, Validation, Wire};
pub use pattern::Pattern;
pub use schema::{ExternalPattern, PatternHook, PatternPolicy, SchemaError, SchemaErrorKind};

/// Why a [`RenderTable`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    /// An intent's `parameters` schema is not valid JSON.
    BadSchemaJson { intent: String, message: String },
    /// Two intents have the same name.
    DuplicateIntent { intent: String },
    /// A schema error the [`PatternPolicy`] makes fatal.
    Schema { intent: String, error: SchemaError },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::BadSchemaJson { intent, message } => {
                write!(
                    f,
                    "intent {intent:?}: parameters schema is not valid JSON: {message}"
                )
            }
            TableError::DuplicateIntent { intent } => {
                write!(f, "intent {intent:?} is registered twice")
            }
            TableError::Schema { intent, error } => write!(f, "intent {intent:?}: {error}"),
        }
    }
}

impl std::error::Error for TableError {}

/// What an intent's success path may do besides rendering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IntentState {
    /// Component registered: a valid request renders.
    #[default]
    Ready,
    /// The intent or its component is deprecated: a valid request is declined (Python logs the
    /// deprecation warning); errors are answered.
    Deprecated,
    /// The component is not registered: no origin check, and a valid request is 404
    /// `COMPONENT_NOT_FOUND`.
    NoComponent,
}

/// One intent to register.
#[derive(Debug, Clone, Default)]
pub struct IntentSpec {
    pub name: String,
    /// The intent's `parameters` JSON schema, as JSON text.
    pub schema: String,
    /// The response body is `prefix + props + suffix`.
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
    /// Origins allowed by the intent's component; `None` when any origin is (`"*"`).
    pub origins: Option<Vec<String>>,
    /// The component's name (as the intent names it), for error messages.
    pub component: String,
    pub state: IntentState,
}

/// Intents by name, each with its compiled parameter schema and its response envelope.
#[derive(Debug)]
pub struct RenderTable {
    by_name: HashMap<Box<str>, usize>,
    intents: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    name: Box<str>,
    prefix: Box<[u8]>,
    suffix: Box<[u8]>,
    origins: Option<HashSet<Box<str>>>,
    component: Box<str>,
    state: IntentState,
    /// The compiled schema, or why the intent is a fallback.
    schema: Result<ObjectSchema, SchemaError>,
    external: Vec<ExternalPattern>,
}

/// What answering a request needs to do (the legacy `render` only wants the success path).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Success path only: anything else is declined without looking further.
    SuccessOnly,
    /// Every answer the protocol gives.
    Full,
}

impl RenderTable {
    /// [`RenderTable::with_policy`] with [`PatternPolicy::Fallback`].
    pub fn new(specs: impl IntoIterator<Item = IntentSpec>) -> Result<Self, TableError> {
        Self::with_policy(specs, PatternPolicy::Fallback)
    }

    /// Compiles every intent. Fails on malformed schema JSON, a duplicate name, and (with
    /// [`PatternPolicy::Reject`]) a pattern outside the subset; any other schema that cannot
    /// be reproduced exactly makes its intent a fallback instead.
    pub fn with_policy(
        specs: impl IntoIterator<Item = IntentSpec>,
        policy: PatternPolicy,
    ) -> Result<Self, TableError> {
        let mut by_name = HashMap::new();
        let mut intents = Vec::new();
        let mut bump = Bump::new();
        for spec in specs {
            bump.reset();
            let compiled = match json::parse(spec.schema.as_bytes(), &bump, true) {
                Ok(parsed) => compile_parameters(&parsed, policy),
                // Valid JSON nested too deep for the parser is a fallback, not an error.
                Err(e) if e.message == json::TOO_DEEP => Err(SchemaError {
                    at: "parameters".into(),
                    kind: SchemaErrorKind::TooDeep,
                }),
                Err(e) => {
                    return Err(TableError::BadSchemaJson {
                        intent: spec.name,
                        message: e.to_string(),
                    })
                }
            };
            let (schema, external) = match compiled {
                Ok((schema, external)) => (Ok(schema), external),
                Err(error)
                    if policy == PatternPolicy::Reject
                        && matches!(error.kind, SchemaErrorKind::UnsupportedPattern { .. }) =>
                {
                    return Err(TableError::Schema {
                        intent: spec.name,
                        error,
                    })
                }
                Err(error) => (Err(error), Vec::new()),
            };
            let name: Box<str> = spec.name.into();
            if by_name.insert(name.clone(), intents.len()).is_some() {
                return Err(TableError::DuplicateIntent {
                    intent: name.into(),
                });
            }
            intents.push(Entry {
                name,
                prefix: spec.prefix.into(),
                suffix: spec.suffix.into(),
                origins: spec
                    .origins
                    .map(|o| o.into_iter().map(String::into_boxed_str).collect()),
                component: spec.component.into(),
                state: spec.state,
                schema,
                external,
            });
        }
        Ok(RenderTable { by_name, intents })
    }

    /// Number of intents registered (fallback ones included).
    pub fn len(&self) -> usize {
        self.intents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.intents.is_empty()
    }

    /// Intents whose valid requests render here (ready, not fallback), in registration order.
    pub fn fast_intents(&self) -> impl Iterator<Item = &str> + '_ {
        self.intents
            .iter()
            .filter(|e| e.schema.is_ok() && e.state == IntentState::Ready)
            .map(|e| &*e.name)
    }

    fn entry(&self, intent: &str) -> Option<&Entry> {
        self.by_name.get(intent).map(|&i| &self.intents[i])
    }

    /// Why `intent` is a fallback: `None` when its schema compiled or it is not registered.
    pub fn fallback_reason(&self, intent: &str) -> Option<&SchemaError> {
        self.entry(intent)?.schema.as_ref().err()
    }

    /// The fields of `intent` whose patterns the caller's hook checks
    /// ([`PatternPolicy::External`]); `None` when the intent is not registered.
    pub fn external_patterns(&self, intent: &str) -> Option<&[ExternalPattern]> {
        Some(&self.entry(intent)?.external)
    }

    /// The response body of a valid request, else `None` (take the Python path).
    pub fn render(&self, body: &[u8], origin: Option<&str>) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.render_into(body, origin, &mut out).then_some(out)
    }

    /// [`RenderTable::render`] into `out` (cleared first); `false` and `out` empty when `None`.
    pub fn render_into(&self, body: &[u8], origin: Option<&str>, out: &mut Vec<u8>) -> bool {
        out.clear();
        let outcome =
            with_arena(|bump| self.answer(bump, body, origin, out, None, Mode::SuccessOnly));
        let ok = matches!(outcome, Answer::Rendered);
        if !ok {
            out.clear();
        }
        ok
    }

    /// What `POST /ixp/render` answers for `body` and the `Origin` header: the descriptor, the
    /// protocol's error, or [`RenderOutcome::Decline`]. `hook` checks the patterns of
    /// [`PatternPolicy::External`] fields (without it, requests that need one are declined).
    pub fn render_outcome(
        &self,
        body: &[u8],
        origin: Option<&str>,
        hook: Option<&mut PatternHook<'_>>,
    ) -> RenderOutcome {
        let mut out = Vec::new();
        let answer = with_arena(|bump| self.answer(bump, body, origin, &mut out, hook, Mode::Full));
        match answer {
            Answer::Rendered => RenderOutcome::Ok(out),
            Answer::Error(e) => RenderOutcome::Err(e),
            Answer::Decline => RenderOutcome::Decline,
        }
    }

    /// [`RenderTable::render_outcome`] written for the wire into `out` (cleared first): the
    /// response body, or the error's envelope around its timestamp (the caller adds the
    /// timestamp and the request id), with no intermediate copy of the body.
    pub fn render_wire(
        &self,
        body: &[u8],
        origin: Option<&str>,
        hook: Option<&mut PatternHook<'_>>,
        out: &mut Vec<u8>,
    ) -> Wire {
        out.clear();
        let answer = with_arena(|bump| self.answer(bump, body, origin, out, hook, Mode::Full));
        match answer {
            Answer::Rendered => Wire::Body,
            Answer::Error(e) => {
                out.clear();
                let timestamp_at = e.write_envelope(out);
                Wire::Error {
                    status: e.status,
                    code: e.code,
                    timestamp_at,
                }
            }
            Answer::Decline => {
                out.clear();
                Wire::Decline
            }
        }
    }

    /// `ParameterValidator.validate` of `intent` on the JSON text `parameters`: the validated
    /// props as JSON, or every issue. `None` when the intent is not registered.
    pub fn validate(
        &self,
        intent: &str,
        parameters: &[u8],
        hook: Option<&mut PatternHook<'_>>,
    ) -> Option<Validation> {
        let entry = self.entry(intent)?;
        let Ok(schema) = &entry.schema else {
            return Some(Validation::Decline);
        };
        let bump = Bump::new();
        // Numbers msgspec would not decode like this (or at all) are Python's to judge.
        let Ok(value) = json::parse(parameters, &bump, false) else {
            return Some(Validation::Decline);
        };
        let mut out = Vec::new();
        Some(
            match validate_into(schema, Some(&value), None, &mut out, hook, Mode::Full) {
                Checked::Valid => Validation::Props(out),
                Checked::Invalid(issues) => Validation::Invalid(issues),
                Checked::Decline => Validation::Decline,
            },
        )
    }

    /// The decision pipeline of `ixp.render.resolve_intent`, writing a rendered body to `out`.
    fn answer(
        &self,
        bump: &Bump,
        body: &[u8],
        origin: Option<&str>,
        out: &mut Vec<u8>,
        hook: Option<&mut PatternHook<'_>>,
        mode: Mode,
    ) -> Answer {
        // Numbers msgspec would not decode to an i64/u64/finite float are refused while parsing.
        let Ok(doc) = json::parse(body, bump, false) else {
            return Answer::Decline;
        };
        let Some(request) = Request::from_json(&doc) else {
            return Answer::Decline;
        };
        if request.name.is_empty() {
            return Answer::error(mode, RenderError::missing_name);
        }
        let entry = self.entry(request.name);
        if let (Some(origin), Some(entry)) = (origin, entry) {
            if let (IntentState::Ready | IntentState::Deprecated, Some(allowed)) =
                (entry.state, &entry.origins)
            {
                if !allowed.contains(origin) {
                    let component = &entry.component;
                    return Answer::error(mode, || {
                        RenderError::origin_not_allowed(origin, component)
                    });
                }
            }
        }
        let Some(entry) = entry else {
            return Answer::error(mode, || RenderError::intent_not_found(request.name));
        };
        let Ok(schema) = &entry.schema else {
            return Answer::Decline;
        };
        if mode == Mode::SuccessOnly && entry.state != IntentState::Ready {
            return Answer::Decline;
        }
        out.reserve(entry.prefix.len() + entry.suffix.len() + body.len() + 64);
        out.extend_from_slice(&entry.prefix);
        let options = request.options.map(Object::new);
        match validate_into(
            schema,
            request.parameters,
            options.as_ref(),
            out,
            hook,
            mode,
        ) {
            Checked::Valid => {}
            Checked::Invalid(issues) => {
                return Answer::Error(RenderError::invalid_parameters(&issues))
            }
            Checked::Decline => return Answer::Decline,
        }
        match entry.state {
            IntentState::Ready => {
                out.extend_from_slice(&entry.suffix);
                Answer::Rendered
            }
            IntentState::Deprecated => Answer::Decline,
            IntentState::NoComponent => {
                Answer::Error(RenderError::component_not_found(&entry.component))
            }
        }
    }
}

enum Answer {
    Rendered,
    Error(RenderError),
    Decline,
}

impl Answer {
    /// The error in [`Mode::Full`]; declined (without building it) otherwise.
    fn error(mode: Mode, error: impl FnOnce() -> RenderError) -> Self {
        match mode {
            Mode::Full => Answer::Error(error()),
            Mode::SuccessOnly => Answer::Decline,
        }
    }
}

enum Checked {
    Valid,
    Invalid(Issues),
    Decline,
}

/// Validates `parameters` (`None`: absent, i.e. `{}`), writing the props merged with `options`
/// to `out` when valid; in [`Mode::Full`], every issue when not.
fn validate_into(
    schema: &ObjectSchema,
    parameters: Option<&Value<'_>>,
    options: Option<&Object<'_, '_>>,
    out: &mut Vec<u8>,
    hook: Option<&mut PatternHook<'_>>,
    mode: Mode,
) -> Checked {
    let mut externals = Externals::new(hook, mode == Mode::Full);
    let members = match parameters {
        None => Some(&[][..]),
        Some(Value::Object(members)) => Some(&members[..]),
        Some(_) => None,
    };
    let failed_at = match members.map(|m| schema.write_validated(m, options, out, &mut externals)) {
        Some(Ok(())) => return Checked::Valid,
        Some(Err(index)) => Some(index),
        None => None,
    };
    if mode == Mode::SuccessOnly {
        return Checked::Decline;
    }
    // The error path: every issue, from the field where the success path stopped (the fields
    // before it are valid) — or of `parameters` itself when it is not an object.
    let mut collector = Collector::new(externals);
    match (members, failed_at) {
        (Some(members), Some(index)) => collector.object_from(schema, members, index),
        _ => collector.parameters(schema, parameters.unwrap_or(&Value::Object(&[]))),
    }
    if collector.externals.undecided || collector.issues.is_empty() {
        return Checked::Decline;
    }
    Checked::Invalid(Issues(collector.issues))
}

/// A thread's arena keeps at most this much memory between requests: after a larger request it
/// is dropped, so that one huge body does not pin its memory for the thread's lifetime.
const ARENA_KEEP: usize = 1 << 20;

thread_local! {
    /// The arena of [`json::parse`] on the request path, reset before each request.
    static ARENA: RefCell<Bump> = RefCell::new(Bump::new());
}

/// Runs `f` with this thread's arena, reset; a fresh arena if it is unavailable (only when
/// re-entered, or during thread teardown).
pub(crate) fn with_arena<R>(f: impl FnOnce(&Bump) -> R) -> R {
    let mut f = Some(f);
    let reused = ARENA.try_with(|cell| {
        let mut arena = cell.try_borrow_mut().ok()?;
        let f = f.take()?;
        arena.reset();
        let result = f(&arena);
        if arena.allocated_bytes() > ARENA_KEEP {
            *arena = Bump::new();
        }
        Some(result)
    });
    match reused {
        Ok(Some(result)) => result,
        // `f` was not taken: whenever it is, the closure returns `Some`.
        _ => (f.take().expect("not called yet"))(&Bump::new()),
    }
}
