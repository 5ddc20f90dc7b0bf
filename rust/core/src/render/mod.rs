//! `RenderTable`: the success path of `POST /ixp/render`, without Python.
//!
//! For a request body and an `Origin`, [`RenderTable::render`] returns the full response body of
//! a *valid* request (`prefix + compact JSON of the props + suffix`), or `None`: "not me, take
//! the Python path", which then produces the exact result or the exact (Zod-style) error. The
//! Python path stays the reference; this module only ever answers when it is sure to agree.
//!
//! What it reproduces (`ixp.render.RenderRequest` decoded by msgspec, then `resolve_intent` and
//! `ixp.validation.ParameterValidator`):
//! - the body is an object; every `intent` member is `null` or an object whose every `name` member
//!   is a string (msgspec checks each duplicate as it decodes; the last one wins); every `options`
//!   member is `null` or an object. Other members are ignored.
//! - the intent is known, not a fallback, and `origin` (when given) is allowed.
//! - `parameters` (missing: `{}`) is validated like `_compile_object`: declared properties in schema
//!   order, required ones present, defaults filled in, undeclared keys dropped at every level.
//! - numbers as msgspec decodes them: an integer literal outside the i64/u64 range, or a float
//!   literal that overflows to ±inf → `None` (msgspec keeps the first as a Python int and refuses
//!   the second inside `parameters`/`options`; refusing them anywhere in the body is safe).
//! - props = the validated object, then `options` merged like `{**props, **options}`.
//! - duplicate keys: the last value wins at the first position (a Python dict built by msgspec).
//!
//! An intent whose schema uses something this module cannot reproduce exactly is registered as a
//! *fallback*: `render` returns `None` for it. That is the case for every schema Python itself
//! rejects, and for `pattern`s outside the subset of regular expressions on which Python's `re`
//! and Rust's `regex` provably agree (see [`Pattern`](pattern::Pattern)).
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

use self::json::{Members, Value};
use self::schema::{compile_parameters, Object, ObjectSchema};

// Public for the parser benchmark and the differential tests (tests/json_differential.rs).
#[doc(hidden)]
pub mod json;
mod pattern;
mod schema;
#[cfg(test)]
mod tests;

pub use pattern::Pattern;

/// Why a [`RenderTable`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// An intent's `parameters` schema is not valid JSON.
    BadSchemaJson { intent: String, message: String },
    /// Two intents have the same name.
    DuplicateIntent { intent: String },
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::BadSchemaJson { intent, message } => {
                write!(
                    f,
                    "intent {intent:?}: parameters schema is not valid JSON: {message}"
                )
            }
            RenderError::DuplicateIntent { intent } => {
                write!(f, "intent {intent:?} is registered twice")
            }
        }
    }
}

impl std::error::Error for RenderError {}

/// One intent to register.
#[derive(Debug, Clone)]
pub struct IntentSpec {
    pub name: String,
    /// The intent's `parameters` JSON schema, as JSON text.
    pub schema: String,
    /// The response body is `prefix + props + suffix`.
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
    /// Origins allowed by the intent's component; `None` when any origin is (`"*"`).
    pub origins: Option<Vec<String>>,
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
    /// The compiled schema, or why the intent is a fallback.
    schema: Result<ObjectSchema, String>,
}

impl RenderTable {
    /// Compiles every intent. Fails only on malformed schema JSON or a duplicate name; a schema
    /// that cannot be reproduced exactly makes its intent a fallback instead.
    pub fn new(specs: impl IntoIterator<Item = IntentSpec>) -> Result<Self, RenderError> {
        let mut by_name = HashMap::new();
        let mut intents = Vec::new();
        let mut bump = Bump::new();
        for spec in specs {
            bump.reset();
            // Valid JSON nested too deep for the parser is a fallback, not an error.
            let schema = match json::parse(spec.schema.as_bytes(), &bump, true) {
                Ok(parsed) => compile_parameters(&parsed),
                Err(e) if e.message == json::TOO_DEEP => Err(format!("parameters: {e}")),
                Err(e) => {
                    return Err(RenderError::BadSchemaJson {
                        intent: spec.name,
                        message: e.to_string(),
                    })
                }
            };
            let name: Box<str> = spec.name.into();
            if by_name.insert(name.clone(), intents.len()).is_some() {
                return Err(RenderError::DuplicateIntent {
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
                schema,
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

    /// Intents rendered here (not fallback), in registration order.
    pub fn fast_intents(&self) -> impl Iterator<Item = &str> + '_ {
        self.intents
            .iter()
            .filter(|e| e.schema.is_ok())
            .map(|e| &*e.name)
    }

    /// Why `intent` is a fallback: `None` when it is rendered here or is not registered.
    pub fn fallback_reason(&self, intent: &str) -> Option<&str> {
        let entry = &self.intents[*self.by_name.get(intent)?];
        entry.schema.as_ref().err().map(String::as_str)
    }

    /// The response body of a valid request, else `None` (take the Python path).
    pub fn render(&self, body: &[u8], origin: Option<&str>) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.render_into(body, origin, &mut out).then_some(out)
    }

    /// [`RenderTable::render`] into `out` (cleared first); `false` and `out` empty when `None`.
    pub fn render_into(&self, body: &[u8], origin: Option<&str>, out: &mut Vec<u8>) -> bool {
        out.clear();
        let ok = self.try_render(body, origin, out).is_some();
        if !ok {
            out.clear();
        }
        ok
    }

    fn try_render(&self, body: &[u8], origin: Option<&str>, out: &mut Vec<u8>) -> Option<()> {
        with_arena(|bump| self.render_in(bump, body, origin, out))
    }

    fn render_in(
        &self,
        bump: &Bump,
        body: &[u8],
        origin: Option<&str>,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        // Numbers msgspec would not decode to an i64/u64/finite float are refused while parsing.
        let doc = json::parse(body, bump, false).ok()?;
        let request = Request::from_json(doc)?;
        let entry = &self.intents[*self.by_name.get(request.name)?];
        let schema = entry.schema.as_ref().ok()?;
        if let (Some(origin), Some(allowed)) = (origin, &entry.origins) {
            if !allowed.contains(origin) {
                return None;
            }
        }
        out.reserve(entry.prefix.len() + entry.suffix.len() + body.len() + 64);
        out.extend_from_slice(&entry.prefix);
        let options = request.options.map(Object::new);
        if !schema.write_validated(request.parameters.unwrap_or(&[]), options.as_ref(), out) {
            return None;
        }
        out.extend_from_slice(&entry.suffix);
        Some(())
    }
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
fn with_arena<R>(f: impl FnOnce(&Bump) -> R) -> R {
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

/// The members of the body that matter, checked the way msgspec decodes `RenderRequest`.
struct Request<'j> {
    name: &'j str,
    /// `None`: absent (means `{}`).
    parameters: Option<&'j Members<'j>>,
    options: Option<&'j Members<'j>>,
}

impl<'j> Request<'j> {
    fn from_json(doc: Value<'j>) -> Option<Self> {
        let Value::Object(members) = doc else {
            return None;
        };
        let mut intent = None;
        let mut options = None;
        // Every occurrence is type-checked (msgspec validates each as it decodes); the last wins.
        for (key, value) in members {
            match key.as_str() {
                "intent" => {
                    intent = match value {
                        Value::Null => None,
                        Value::Object(o) => Some(*o),
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
        for (key, value) in intent? {
            match key.as_str() {
                "name" => match value {
                    Value::Str(s) => name = s.as_str(),
                    _ => return None,
                },
                // Any value decodes; anything but an object then fails validation.
                "parameters" => parameters = Some(value),
                _ => {}
            }
        }
        if name.is_empty() {
            return None;
        }
        let parameters = match parameters {
            None => None,
            Some(Value::Object(p)) => Some(*p),
            Some(_) => return None,
        };
        Some(Request {
            name,
            parameters,
            options,
        })
    }
}
