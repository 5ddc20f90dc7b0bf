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
//! and Rust's `regex` provably agree (see [`Pattern`]).
//!
//! Parsing is this module's own strict RFC 8259 parser (see [`json`]): strings borrowed from the
//! body when they have no escapes, numbers kept as their literal text, duplicate keys kept in
//! document order, nesting limited to 128 levels (no input can exhaust the stack). serde_json is
//! not used because with `arbitrary_precision` it reads the object
//! `{"$serde_json::private::Number": "5"}` as the number 5, and jiter ≥ 0.9 cannot join this
//! workspace (its optional pyo3 dependency conflicts with ours on `links = "python"`).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use hashbrown::{HashMap, HashSet};
use regex::Regex;
use regex_syntax::ast::{
    self, AssertionKind, Ast, ClassSet, ClassSetItem, GroupKind, LiteralKind, RepetitionKind,
};

use self::json::{Members, NumValue, Value};

/// Objects with more members than this get a hash index for lookups and de-duplication; below
/// it, linear scans are faster.
const SMALL_OBJECT: usize = 8;

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
        for spec in specs {
            // Valid JSON nested too deep for the parser is a fallback, not an error.
            let schema = match json::parse(spec.schema.as_bytes(), true) {
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
        // Numbers msgspec would not decode to an i64/u64/finite float are refused while parsing.
        let doc = json::parse(body, false).ok()?;
        let request = Request::from_json(&doc)?;
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

/// The members of the body that matter, checked the way msgspec decodes `RenderRequest`.
struct Request<'a, 'j> {
    name: &'a str,
    /// `None`: absent (means `{}`).
    parameters: Option<&'a Members<'j>>,
    options: Option<&'a Members<'j>>,
}

impl<'a, 'j> Request<'a, 'j> {
    fn from_json(doc: &'a Value<'j>) -> Option<Self> {
        let Value::Object(members) = doc else {
            return None;
        };
        let mut intent = None;
        let mut options = None;
        // Every occurrence is type-checked (msgspec validates each as it decodes); the last wins.
        for (key, value) in members {
            match key.as_ref() {
                "intent" => {
                    intent = match value {
                        Value::Null => None,
                        Value::Object(o) => Some(o),
                        _ => return None,
                    }
                }
                "options" => {
                    options = match value {
                        Value::Null => None,
                        Value::Object(o) => Some(&o[..]),
                        _ => return None,
                    }
                }
                _ => {}
            }
        }
        let mut name: &str = "";
        let mut parameters = None;
        for (key, value) in intent? {
            match key.as_ref() {
                "name" => match value {
                    Value::Str(s) => name = s,
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
            Some(Value::Object(p)) => Some(&p[..]),
            Some(_) => return None,
        };
        Some(Request {
            name,
            parameters,
            options,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Objects with duplicate keys: last value, first position.

/// A view of an object's members with Python-dict semantics for duplicate keys.
struct Object<'a, 'j> {
    members: &'a Members<'j>,
    /// key → (first index, last index), for large objects only.
    index: Option<HashMap<&'a str, (usize, usize)>>,
}

impl<'a, 'j> Object<'a, 'j> {
    fn new(members: &'a Members<'j>) -> Self {
        let index = (members.len() > SMALL_OBJECT).then(|| {
            let mut index: HashMap<&str, (usize, usize)> = HashMap::with_capacity(members.len());
            for (i, (key, _)) in members.iter().enumerate() {
                index.entry(key.as_ref()).or_insert((i, i)).1 = i;
            }
            index
        });
        Object { members, index }
    }

    /// The value of the last member named `key`.
    fn get(&self, key: &str) -> Option<&'a Value<'j>> {
        match &self.index {
            Some(index) => index.get(key).map(|&(_, last)| &self.members[last].1),
            None => self
                .members
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v),
        }
    }

    /// Each distinct key once, at its first position, with its last value.
    fn for_each(&self, mut f: impl FnMut(&'a Cow<'j, str>, &'a Value<'j>)) {
        let members = self.members;
        for (i, (key, value)) in members.iter().enumerate() {
            match &self.index {
                Some(index) => {
                    let (first, last) = index[key.as_ref()];
                    if first == i {
                        f(key, &members[last].1);
                    }
                }
                None => {
                    if members[..i].iter().any(|(k, _)| k == key) {
                        continue;
                    }
                    let last = members[i + 1..]
                        .iter()
                        .rev()
                        .find(|(k, _)| k == key)
                        .map_or(value, |(_, v)| v);
                    f(key, last);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schema compilation: `validation.py`'s `_compile*`, with every `SchemaError` a fallback.

type Compiled<T> = Result<T, String>;

#[derive(Debug)]
struct ObjectSchema {
    fields: Vec<Field>,
    /// Field by name, for schemas with many fields (merging options looks names up).
    index: Option<HashMap<Box<str>, usize>>,
}

impl ObjectSchema {
    fn new(fields: Vec<Field>) -> Self {
        let index = (fields.len() > SMALL_OBJECT).then(|| {
            (fields.iter().enumerate())
                .map(|(i, f)| (f.name.clone(), i))
                .collect()
        });
        ObjectSchema { fields, index }
    }
}

#[derive(Debug)]
struct Field {
    name: Box<str>,
    /// `"name":`, encoded once.
    key: Box<[u8]>,
    check: Check,
    required: bool,
    /// The default, already encoded (only for optional fields that declare one).
    default: Option<Box<[u8]>>,
}

#[derive(Debug)]
enum Check {
    /// Missing, unknown or union `type`: any value, kept as it is.
    Any,
    Str(StrCheck),
    Num {
        integer: bool,
        min: Option<Num>,
        max: Option<Num>,
    },
    Bool,
    Array {
        min: Option<u64>,
        max: Option<u64>,
    },
    /// `object` without `properties` (below the top level): any object, kept as it is.
    AnyObject,
    Object(ObjectSchema),
}

#[derive(Debug)]
enum StrCheck {
    Enum(HashSet<Box<str>>),
    Plain {
        min: Option<u64>,
        max: Option<u64>,
        pattern: Option<Pattern>,
    },
}

/// A number as Python holds it: an exact integer or a finite float.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

/// `spec.get(key)` of a schema object: the last member named `key`; JSON null counts as absent
/// (Python's `spec.get(key)` is then `None`, which every caller treats as "not given").
fn get_some<'a, 'j>(spec: &Object<'a, 'j>, key: &str) -> Option<&'a Value<'j>> {
    spec.get(key).filter(|v| !matches!(v, Value::Null))
}

fn compile_parameters(schema: &Value<'_>) -> Compiled<ObjectSchema> {
    let Value::Object(members) = schema else {
        return Err("parameters: not a JSON-Schema object".into());
    };
    let spec = Object::new(members);
    if !matches!(spec.get("type"), Some(Value::Str(t)) if t == "object") {
        return Err(r#"parameters: "type" is not "object""#.into());
    }
    match compile_object(&spec, "parameters", true)? {
        Check::Object(schema) => Ok(schema),
        _ => unreachable!("the top level always has properties"),
    }
}

fn compile(spec: &Value<'_>, at: &str) -> Compiled<Check> {
    let Value::Object(members) = spec else {
        return Err(format!("{at}: not a JSON-Schema object"));
    };
    let spec = Object::new(members);
    let kind = match spec.get("type") {
        Some(Value::Str(kind)) => kind.as_ref(),
        _ => "",
    };
    Ok(match kind {
        "string" => Check::Str(compile_string(&spec, at)?),
        "number" | "integer" => Check::Num {
            integer: kind == "integer",
            min: bound(&spec, "minimum", at)?,
            max: bound(&spec, "maximum", at)?,
        },
        "boolean" => Check::Bool,
        "array" => Check::Array {
            min: non_negative_int(&spec, "minItems", at)?,
            max: non_negative_int(&spec, "maxItems", at)?,
        },
        "object" => compile_object(&spec, at, false)?,
        _ => Check::Any,
    })
}

fn compile_object(spec: &Object<'_, '_>, at: &str, top: bool) -> Compiled<Check> {
    let properties = match get_some(spec, "properties") {
        None if !top => return Ok(Check::AnyObject),
        None => &[][..],
        Some(Value::Object(p)) => &p[..],
        Some(_) => return Err(format!("{at}.properties: not an object")),
    };
    let mut required: Vec<&str> = Vec::new();
    match spec.get("required") {
        None => {}
        Some(Value::Array(items)) => {
            for item in items.iter() {
                match item {
                    Value::Str(s) => required.push(s),
                    _ => return Err(format!("{at}.required: not a list of names")),
                }
            }
        }
        Some(_) => return Err(format!("{at}.required: not a list of names")),
    }
    let properties = Object::new(properties);
    if let Some(unknown) = required.iter().find(|r| properties.get(r).is_none()) {
        return Err(format!("{at}.required: {unknown:?} is not declared"));
    }
    let mut fields = Vec::new();
    let mut failure = None;
    properties.for_each(|name, prop| {
        if failure.is_some() {
            return;
        }
        let name: &str = name;
        let field = compile_field(name, prop, required.contains(&name), at);
        match field {
            Ok(field) => fields.push(field),
            Err(e) => failure = Some(e),
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(Check::Object(ObjectSchema::new(fields))),
    }
}

fn compile_field(name: &str, prop: &Value<'_>, required: bool, at: &str) -> Compiled<Field> {
    let at = format!("{at}.properties.{name}");
    let check = compile(prop, &at)?;
    let mut default = None;
    if let (false, Value::Object(members)) = (required, prop) {
        // `"default" in prop`: a null default is a default (of null).
        if let Some(value) = Object::new(members).get("default") {
            if !value.numbers_in_range() {
                return Err(format!(
                    "{at}.default: a number outside i64/u64 or not finite"
                ));
            }
            let mut encoded = Vec::new();
            write_value(&mut encoded, value);
            default = Some(encoded.into_boxed_slice());
        }
    }
    let mut key = Vec::with_capacity(name.len() + 3);
    write_str(&mut key, name);
    key.push(b':');
    Ok(Field {
        name: name.into(),
        key: key.into_boxed_slice(),
        check,
        required,
        default,
    })
}

fn compile_string(spec: &Object<'_, '_>, at: &str) -> Compiled<StrCheck> {
    if let Some(options) = get_some(spec, "enum") {
        // With an enum, Python looks at nothing else (minLength/pattern are not even compiled).
        let Value::Array(options) = options else {
            return Err(format!("{at}.enum: not a list"));
        };
        if options.is_empty() {
            return Err(format!("{at}.enum: empty"));
        }
        let mut set = HashSet::with_capacity(options.len());
        for option in options.iter() {
            let Value::Str(s) = option else {
                return Err(format!("{at}.enum: not a list of strings"));
            };
            set.insert(Box::from(s.as_ref()));
        }
        return Ok(StrCheck::Enum(set));
    }
    let min = non_negative_int(spec, "minLength", at)?;
    let max = non_negative_int(spec, "maxLength", at)?;
    let pattern = match get_some(spec, "pattern") {
        None => None,
        Some(Value::Str(p)) => {
            Some(Pattern::new(p).map_err(|e| format!("{at}.pattern {p:?}: {e}"))?)
        }
        Some(_) => return Err(format!("{at}.pattern: not a string")),
    };
    Ok(StrCheck::Plain { min, max, pattern })
}

/// `_non_negative_int`: absent/null → None; a JSON integer ≥ 0 (saturated to u64) → Some.
fn non_negative_int(spec: &Object<'_, '_>, key: &str, at: &str) -> Compiled<Option<u64>> {
    match get_some(spec, key) {
        None => Ok(None),
        Some(Value::Number(n)) if n.is_integer() && !n.text.starts_with('-') => {
            // Python ints are unbounded; no length reaches u64::MAX.
            Ok(Some(match n.value() {
                NumValue::Int(i) => u64::try_from(i).unwrap_or(u64::MAX),
                _ => u64::MAX,
            }))
        }
        Some(_) => Err(format!("{at}.{key}: not a non-negative integer")),
    }
}

/// `_bound`: absent/null → None; a finite JSON number → Some (kept exact, int or float).
fn bound(spec: &Object<'_, '_>, key: &str, at: &str) -> Compiled<Option<Num>> {
    match get_some(spec, key) {
        None => Ok(None),
        Some(value) => match as_num(value) {
            Some(n) => Ok(Some(n)),
            None => Err(format!("{at}.{key}: not a finite number (or too large)")),
        },
    }
}

/// A JSON number as Python compares it; `None` for non-numbers and for numbers outside
/// i64/u64 or not finite (those are refused when parsing a request).
fn as_num(value: &Value<'_>) -> Option<Num> {
    match value {
        Value::Number(n) => match n.value() {
            NumValue::Int(i) => Some(Num::Int(i)),
            NumValue::Float(f) => Some(Num::Float(f)),
            NumValue::OutOfRange => None,
        },
        _ => None,
    }
}

/// Exact comparison, as Python compares ints and floats (never through a lossy conversion).
fn cmp_num(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).reverse(),
    }
}

/// `i` against the finite float `f`, exactly.
fn cmp_int_float(i: i128, f: f64) -> Ordering {
    const LIMIT: f64 = 1.7e38; // below 2^127: `floor` fits i128 exactly
    if f >= LIMIT {
        return Ordering::Less;
    }
    if f <= -LIMIT {
        return Ordering::Greater;
    }
    let floor = f.floor();
    match i.cmp(&(floor as i128)) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// Regular expressions: the subset on which Python's `re.search` and Rust's `regex` agree.

/// A `pattern`, compiled with `regex` after checking that its syntax tree stays within what
/// both engines read the same way. Outside that subset, the intent is a fallback:
/// - inline flags (`(?i)`, `(?x:…)`), `\p{…}`, `[[:alpha:]]`, nested classes and class set
///   operations (`&&`, `--`, `~~`), which Python reads as literal text;
/// - `\B` (matches `""` in Rust, not in Python < 3.14), `\<`, `\b{start}`…;
/// - a counted repetition not written exactly `{m}`, `{m,}` or `{m,n}` (Rust allows spaces in
///   it, Python reads `a{ 2}` as literal text), and a repetition of a repetition (`x*+` is
///   possessive in Python ≥ 3.11);
/// - octal and `\x{…}` escapes.
///
/// Within it, the two engines differ only on some strings, for which `render` answers `None`:
/// - `\d`, `\w`, `\s` (and negations) and `\b` follow different Unicode tables: only ASCII
///   strings are decided here;
/// - Python's `\s` also matches `\x1c`–`\x1f`: strings containing them are not decided;
/// - Python's `$` also matches before a final `\n`: strings ending in `\n` are not decided.
#[derive(Debug)]
struct Pattern {
    regex: Regex,
    ascii_only: bool,
    space: bool,
    dollar: bool,
}

#[derive(Default)]
struct PatternUse {
    unicode_classes: bool,
    space: bool,
    dollar: bool,
}

impl Pattern {
    /// `Err` (the reason) when the pattern is outside the subset or does not compile.
    fn new(pattern: &str) -> Result<Self, String> {
        let tree = ast::parse::Parser::new()
            .parse(pattern)
            .map_err(|e| e.kind().to_string())?;
        let mut uses = PatternUse::default();
        check_ast(&tree, pattern, &mut uses)?;
        let regex = Regex::new(pattern).map_err(|e| e.to_string())?;
        Ok(Pattern {
            regex,
            ascii_only: uses.unicode_classes,
            space: uses.space,
            dollar: uses.dollar,
        })
    }

    /// `Some(re.search(pattern, text) is not None)`, or `None` when not decided here.
    fn search(&self, text: &str) -> Option<bool> {
        if self.ascii_only && !text.is_ascii() {
            return None;
        }
        if self.space && text.bytes().any(|b| (0x1c..=0x1f).contains(&b)) {
            return None;
        }
        if self.dollar && text.ends_with('\n') {
            return None;
        }
        Some(self.regex.is_match(text))
    }
}

fn check_ast(node: &Ast, pattern: &str, uses: &mut PatternUse) -> Result<(), String> {
    match node {
        Ast::Empty(_) | Ast::Dot(_) => Ok(()),
        Ast::Flags(_) => Err("inline flags are not supported".into()),
        Ast::Literal(lit) => check_literal(lit),
        Ast::Assertion(a) => match a.kind {
            AssertionKind::StartLine | AssertionKind::StartText | AssertionKind::EndText => Ok(()),
            AssertionKind::EndLine => {
                uses.dollar = true;
                Ok(())
            }
            AssertionKind::WordBoundary => {
                uses.unicode_classes = true;
                Ok(())
            }
            _ => Err("this assertion is not supported".into()),
        },
        Ast::ClassUnicode(_) => Err(r"\p classes are not supported".into()),
        Ast::ClassPerl(class) => {
            note_perl(class, uses);
            Ok(())
        }
        Ast::ClassBracketed(class) => match &class.kind {
            ClassSet::Item(item) => check_class_item(item, uses),
            ClassSet::BinaryOp(_) => Err("class set operations are not supported".into()),
        },
        Ast::Repetition(rep) => {
            if matches!(*rep.ast, Ast::Repetition(_)) {
                return Err("a repetition of a repetition is not supported".into());
            }
            if let RepetitionKind::Range(_) = rep.op.kind {
                let text = &pattern[rep.op.span.start.offset..rep.op.span.end.offset];
                if !plain_counted_repetition(text) {
                    return Err(format!("counted repetition {text:?} is not supported"));
                }
            }
            check_ast(&rep.ast, pattern, uses)
        }
        Ast::Group(group) => {
            if let GroupKind::NonCapturing(flags) = &group.kind {
                if !flags.items.is_empty() {
                    return Err("inline flags are not supported".into());
                }
            }
            check_ast(&group.ast, pattern, uses)
        }
        Ast::Alternation(alt) => alt
            .asts
            .iter()
            .try_for_each(|a| check_ast(a, pattern, uses)),
        Ast::Concat(cat) => cat
            .asts
            .iter()
            .try_for_each(|a| check_ast(a, pattern, uses)),
    }
}

/// `{m}`, `{m,}` or `{m,n}` (optionally lazy), digits only.
fn plain_counted_repetition(text: &str) -> bool {
    let text = text.strip_suffix('?').unwrap_or(text);
    let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
        return false;
    };
    let (low, high) = inner.split_once(',').unwrap_or((inner, ""));
    !low.is_empty()
        && low.bytes().all(|b| b.is_ascii_digit())
        && high.bytes().all(|b| b.is_ascii_digit())
}

fn check_literal(lit: &ast::Literal) -> Result<(), String> {
    match lit.kind {
        LiteralKind::Verbatim
        | LiteralKind::Meta
        | LiteralKind::Superfluous
        | LiteralKind::HexFixed(_)
        | LiteralKind::Special(_) => Ok(()),
        LiteralKind::Octal | LiteralKind::HexBrace(_) => Err("this escape is not supported".into()),
    }
}

fn note_perl(class: &ast::ClassPerl, uses: &mut PatternUse) {
    uses.unicode_classes = true;
    if class.kind == ast::ClassPerlKind::Space {
        uses.space = true;
    }
}

fn check_class_item(item: &ClassSetItem, uses: &mut PatternUse) -> Result<(), String> {
    match item {
        ClassSetItem::Empty(_) => Ok(()),
        ClassSetItem::Literal(lit) => check_literal(lit),
        ClassSetItem::Range(range) => {
            check_literal(&range.start)?;
            check_literal(&range.end)
        }
        ClassSetItem::Perl(class) => {
            note_perl(class, uses);
            Ok(())
        }
        ClassSetItem::Ascii(_) => Err("[:name:] classes are not supported".into()),
        ClassSetItem::Unicode(_) => Err(r"\p classes are not supported".into()),
        ClassSetItem::Bracketed(_) => Err("nested classes are not supported".into()),
        ClassSetItem::Union(union) => union
            .items
            .iter()
            .try_for_each(|i| check_class_item(i, uses)),
    }
}

// ---------------------------------------------------------------------------------------------
// Validation: `check_object` & co. on the success path, writing the result as it goes.
//
// Output: compact JSON, non-ASCII as raw UTF-8 (msgspec's encoding, up to number spelling).
// Validation and output are one pass, in schema order, straight into the response buffer; on
// any failure the buffer is discarded.

impl ObjectSchema {
    /// Writes the validated object, with `options` merged like `{**props, **options}` (an option
    /// replaces a prop in place; new keys follow in order). `false` when `members` is invalid.
    fn write_validated(
        &self,
        members: &Members<'_>,
        options: Option<&Object<'_, '_>>,
        out: &mut Vec<u8>,
    ) -> bool {
        let input = Object::new(members);
        out.push(b'{');
        let mut first = true;
        for field in &self.fields {
            let value = match (input.get(&field.name), &field.default) {
                (Some(value), _) => Some(value),
                (None, _) if field.required => return false,
                (None, Some(_)) => None,
                (None, None) => continue,
            };
            separator(out, &mut first);
            out.extend_from_slice(&field.key);
            let option = options.and_then(|o| o.get(&field.name));
            match (value, option) {
                // Replaced by an option: still validated, not written.
                (Some(v), Some(o)) => {
                    if !field.check.validate(v, None) {
                        return false;
                    }
                    write_value(out, o);
                }
                (Some(v), None) => {
                    if !field.check.validate(v, Some(out)) {
                        return false;
                    }
                }
                (None, Some(o)) => write_value(out, o),
                (None, None) => {
                    if let Some(default) = &field.default {
                        out.extend_from_slice(default);
                    }
                }
            }
        }
        if let Some(options) = options {
            options.for_each(|key, value| {
                // In props: declared, and given or defaulted (validation succeeded).
                let in_props = self
                    .field(key)
                    .is_some_and(|f| f.default.is_some() || f.required || input.get(key).is_some());
                if !in_props {
                    separator(out, &mut first);
                    write_json_str(out, key);
                    out.push(b':');
                    write_value(out, value);
                }
            });
        }
        out.push(b'}');
        true
    }

    fn field(&self, name: &str) -> Option<&Field> {
        match &self.index {
            Some(index) => index.get(name).map(|&i| &self.fields[i]),
            None => self.fields.iter().find(|f| *f.name == *name),
        }
    }
}

impl Check {
    /// Validates `value`, writing it (as validated) to `out` when given.
    fn validate(&self, value: &Value<'_>, out: Option<&mut Vec<u8>>) -> bool {
        let ok = match (self, value) {
            (Check::Any, _) => true,
            (Check::Str(check), Value::Str(s)) => check.accepts(s),
            (Check::Num { integer, min, max }, _) => {
                let Some(n) = as_num(value) else {
                    return false;
                };
                !(*integer && matches!(n, Num::Float(f) if f.fract() != 0.0))
                    && min.map_or(true, |m| cmp_num(n, m) != Ordering::Less)
                    && max.map_or(true, |m| cmp_num(n, m) != Ordering::Greater)
            }
            (Check::Bool, Value::Bool(_)) => true,
            (Check::Array { min, max }, Value::Array(items)) => {
                let n = items.len() as u64;
                min.map_or(true, |m| n >= m) && max.map_or(true, |m| n <= m)
            }
            (Check::AnyObject, Value::Object(_)) => true,
            (Check::Object(schema), Value::Object(members)) => {
                return match out {
                    Some(out) => schema.write_validated(members, None, out),
                    None => schema.write_validated(members, None, &mut Vec::new()),
                };
            }
            _ => false,
        };
        if let (true, Some(out)) = (ok, out) {
            write_value(out, value);
        }
        ok
    }
}

impl StrCheck {
    fn accepts(&self, s: &str) -> bool {
        match self {
            StrCheck::Enum(options) => options.contains(s),
            StrCheck::Plain { min, max, pattern } => {
                if min.is_some() || max.is_some() {
                    let n = s.chars().count() as u64;
                    if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                        return false;
                    }
                }
                pattern.as_ref().map_or(true, |p| p.search(s) == Some(true))
            }
        }
    }
}

fn separator(out: &mut Vec<u8>, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value<'_>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // The literal as written: the same number to any JSON reader (`2.0` stays a float).
        Value::Number(n) => out.extend_from_slice(n.text.as_bytes()),
        Value::Str(s) => write_json_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            let mut first = true;
            for item in items {
                separator(out, &mut first);
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            out.push(b'{');
            let mut first = true;
            Object::new(members).for_each(|key, value| {
                separator(out, &mut first);
                write_json_str(out, key);
                out.push(b':');
                write_value(out, value);
            });
            out.push(b'}');
        }
    }
}

/// A parsed string: a borrowed one is raw text from between quotes that had no escapes, hence
/// contains no `"`, `\` or control character, and needs no escaping.
#[allow(clippy::ptr_arg)] // the variant matters: `Borrowed` text needs no escaping
fn write_json_str(out: &mut Vec<u8>, s: &Cow<'_, str>) {
    match s {
        Cow::Borrowed(raw) => {
            out.push(b'"');
            out.extend_from_slice(raw.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(s) => write_str(out, s),
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

// ---------------------------------------------------------------------------------------------

/// A strict JSON (RFC 8259) parser for this module: the document must be exactly one value with
/// optional whitespace around it; strings must be valid UTF-8 without raw control characters,
/// with valid escapes and no lone surrogates; nesting is limited to [`json::MAX_DEPTH`].
mod json {
    use std::borrow::Cow;
    use std::fmt;

    /// Containers nested deeper than this are refused (the parser recurses once per level).
    pub const MAX_DEPTH: usize = 128;
    /// The message of the error for nesting deeper than [`MAX_DEPTH`].
    pub const TOO_DEEP: &str = "nesting too deep";

    /// An object's members, duplicates included, in document order.
    pub type Members<'a> = [(Cow<'a, str>, Value<'a>)];

    #[derive(Debug, Clone, PartialEq)]
    pub enum Value<'a> {
        Null,
        Bool(bool),
        Number(Number<'a>),
        /// `Borrowed`: the raw text between the quotes, which had no escape (so it contains no
        /// `"`, `\` or control character). `Owned`: the decoded text of an escaped string.
        Str(Cow<'a, str>),
        Array(Vec<Value<'a>>),
        Object(Vec<(Cow<'a, str>, Value<'a>)>),
    }

    /// A number literal; its value is read when needed (most are only copied to the output).
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Number<'a> {
        /// The literal as written.
        pub text: &'a str,
        /// Written without fraction or exponent.
        integer: bool,
    }

    /// What msgspec decodes a literal to.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub enum NumValue {
        /// An integer literal within i64/u64.
        Int(i128),
        /// A literal with a fraction or an exponent, finite as an f64.
        Float(f64),
        /// An integer literal outside i64/u64, or a float literal that overflows to ±inf.
        OutOfRange,
    }

    impl Number<'_> {
        /// Written without fraction or exponent.
        pub fn is_integer(&self) -> bool {
            self.integer
        }

        pub fn value(&self) -> NumValue {
            if self.integer {
                match self.text.parse::<i64>() {
                    Ok(i) => NumValue::Int(i128::from(i)),
                    Err(_) => self
                        .text
                        .parse::<u64>()
                        .map_or(NumValue::OutOfRange, |u| NumValue::Int(i128::from(u))),
                }
            } else {
                match self.text.parse::<f64>() {
                    Ok(f) if f.is_finite() => NumValue::Float(f),
                    _ => NumValue::OutOfRange,
                }
            }
        }

        /// `value() != OutOfRange`, without parsing when the literal is short enough to tell.
        pub fn in_range(&self) -> bool {
            let digits = self.text.len() - usize::from(self.text.starts_with('-'));
            if self.integer {
                // Up to 18 digits always fits an i64.
                digits <= 18 || self.value() != NumValue::OutOfRange
            } else {
                // Without an exponent, fewer than 300 characters stay below 1e300.
                (digits < 300 && !self.text.bytes().any(|b| matches!(b, b'e' | b'E')))
                    || self.value() != NumValue::OutOfRange
            }
        }
    }

    impl Value<'_> {
        /// No [`NumValue::OutOfRange`] anywhere inside.
        pub fn numbers_in_range(&self) -> bool {
            match self {
                Value::Number(n) => n.in_range(),
                Value::Array(items) => items.iter().all(Value::numbers_in_range),
                Value::Object(members) => members.iter().all(|(_, v)| v.numbers_in_range()),
                Value::Null | Value::Bool(_) | Value::Str(_) => true,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Error {
        pub offset: usize,
        pub message: &'static str,
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} at byte {}", self.message, self.offset)
        }
    }

    /// Parses one document. With `out_of_range` false, numbers msgspec would not decode to an
    /// i64, a u64 or a finite float are an error too.
    pub fn parse(input: &[u8], out_of_range: bool) -> Result<Value<'_>, Error> {
        let text = std::str::from_utf8(input).map_err(|e| Error {
            offset: e.valid_up_to(),
            message: "invalid UTF-8",
        })?;
        let mut parser = Parser {
            text,
            bytes: input,
            pos: 0,
            depth: 0,
            out_of_range,
        };
        parser.skip_whitespace();
        let value = parser.value()?;
        parser.skip_whitespace();
        if parser.pos != input.len() {
            return Err(parser.error("trailing characters"));
        }
        Ok(value)
    }

    /// The length of the leading run of `bytes` that needs no attention inside a string: no
    /// `"`, `\\` or control character. Eight bytes at a time (SWAR): in each word, the lowest
    /// flagged byte is exact (a borrow only propagates up from a byte that is itself flagged).
    pub fn plain_run(bytes: &[u8]) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let mut i = 0;
        while let Some(chunk) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            let quote = word ^ (ONES * u64::from(b'"'));
            let backslash = word ^ (ONES * u64::from(b'\\'));
            let flagged = ((quote.wrapping_sub(ONES) & !quote)
                | (backslash.wrapping_sub(ONES) & !backslash)
                | (word.wrapping_sub(ONES * 0x20) & !word))
                & HIGH;
            if flagged != 0 {
                return i + (flagged.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while i < bytes.len() && !matches!(bytes[i], b'"' | b'\\' | 0x00..=0x1f) {
            i += 1;
        }
        i
    }

    struct Parser<'a> {
        text: &'a str,
        bytes: &'a [u8],
        pos: usize,
        depth: usize,
        out_of_range: bool,
    }

    impl<'a> Parser<'a> {
        fn error(&self, message: &'static str) -> Error {
            Error {
                offset: self.pos,
                message,
            }
        }

        fn peek(&self) -> Option<u8> {
            self.bytes.get(self.pos).copied()
        }

        fn skip_whitespace(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
                self.pos += 1;
            }
        }

        fn expect(&mut self, byte: u8, message: &'static str) -> Result<(), Error> {
            if self.peek() == Some(byte) {
                self.pos += 1;
                Ok(())
            } else {
                Err(self.error(message))
            }
        }

        fn value(&mut self) -> Result<Value<'a>, Error> {
            match self.peek() {
                Some(b'{') => self.object(),
                Some(b'[') => self.array(),
                Some(b'"') => self.string().map(Value::Str),
                Some(b't') => self.literal("true", Value::Bool(true)),
                Some(b'f') => self.literal("false", Value::Bool(false)),
                Some(b'n') => self.literal("null", Value::Null),
                Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
                Some(_) => Err(self.error("expected a value")),
                None => Err(self.error("unexpected end of input")),
            }
        }

        fn literal(&mut self, word: &'static str, value: Value<'a>) -> Result<Value<'a>, Error> {
            if self.bytes[self.pos..].starts_with(word.as_bytes()) {
                self.pos += word.len();
                Ok(value)
            } else {
                Err(self.error("expected a value"))
            }
        }

        fn enter(&mut self) -> Result<(), Error> {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.error(TOO_DEEP));
            }
            self.pos += 1; // the opening bracket
            self.skip_whitespace();
            Ok(())
        }

        fn object(&mut self) -> Result<Value<'a>, Error> {
            self.enter()?;
            let mut members = Vec::new();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                self.depth -= 1;
                return Ok(Value::Object(members));
            }
            loop {
                if self.peek() != Some(b'"') {
                    return Err(self.error("expected a string key"));
                }
                let key = self.string()?;
                self.skip_whitespace();
                self.expect(b':', "expected ':'")?;
                self.skip_whitespace();
                let value = self.value()?;
                members.push((key, value));
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_whitespace();
                    }
                    Some(b'}') => {
                        self.pos += 1;
                        self.depth -= 1;
                        return Ok(Value::Object(members));
                    }
                    _ => return Err(self.error("expected ',' or '}'")),
                }
            }
        }

        fn array(&mut self) -> Result<Value<'a>, Error> {
            self.enter()?;
            let mut items = Vec::new();
            if self.peek() == Some(b']') {
                self.pos += 1;
                self.depth -= 1;
                return Ok(Value::Array(items));
            }
            loop {
                items.push(self.value()?);
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_whitespace();
                    }
                    Some(b']') => {
                        self.pos += 1;
                        self.depth -= 1;
                        return Ok(Value::Array(items));
                    }
                    _ => return Err(self.error("expected ',' or ']'")),
                }
            }
        }

        /// At the opening quote.
        fn string(&mut self) -> Result<Cow<'a, str>, Error> {
            self.pos += 1;
            let start = self.pos;
            self.pos += plain_run(&self.bytes[self.pos..]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    // Quotes are ASCII, so both ends are char boundaries of valid UTF-8.
                    Ok(Cow::Borrowed(&self.text[start..self.pos - 1]))
                }
                Some(b'\\') => self.escaped_string(start).map(Cow::Owned),
                Some(_) => Err(self.error("control character in string")),
                None => Err(self.error("unterminated string")),
            }
        }

        /// The rest of a string whose first escape is at `self.pos`.
        fn escaped_string(&mut self, start: usize) -> Result<String, Error> {
            let mut out = String::with_capacity(self.pos - start + 16);
            let mut chunk = start;
            loop {
                match self.peek() {
                    Some(b'"') => {
                        out.push_str(&self.text[chunk..self.pos]);
                        self.pos += 1;
                        return Ok(out);
                    }
                    Some(b'\\') => {
                        out.push_str(&self.text[chunk..self.pos]);
                        self.pos += 1;
                        let letter = match self.peek() {
                            Some(b'"') => Some('"'),
                            Some(b'\\') => Some('\\'),
                            Some(b'/') => Some('/'),
                            Some(b'b') => Some('\u{8}'),
                            Some(b'f') => Some('\u{c}'),
                            Some(b'n') => Some('\n'),
                            Some(b'r') => Some('\r'),
                            Some(b't') => Some('\t'),
                            Some(b'u') => None,
                            _ => return Err(self.error("invalid escape")),
                        };
                        self.pos += 1;
                        let c = match letter {
                            Some(c) => c,
                            None => self.unicode_escape()?,
                        };
                        out.push(c);
                        chunk = self.pos;
                    }
                    Some(0x00..=0x1f) => return Err(self.error("control character in string")),
                    Some(_) => self.pos += plain_run(&self.bytes[self.pos..]),
                    None => return Err(self.error("unterminated string")),
                }
            }
        }

        fn hex4(&mut self) -> Result<u32, Error> {
            let digits = self
                .bytes
                .get(self.pos..self.pos + 4)
                .ok_or_else(|| self.error("truncated \\u escape"))?;
            let mut n = 0;
            for &d in digits {
                let v = match d {
                    b'0'..=b'9' => d - b'0',
                    b'a'..=b'f' => d - b'a' + 10,
                    b'A'..=b'F' => d - b'A' + 10,
                    _ => return Err(self.error("invalid \\u escape")),
                };
                n = n * 16 + u32::from(v);
            }
            self.pos += 4;
            Ok(n)
        }

        /// After `\u`; leaves `self.pos` after the escape (both halves of a surrogate pair).
        fn unicode_escape(&mut self) -> Result<char, Error> {
            let high = self.hex4()?;
            let code = match high {
                0xD800..=0xDBFF => {
                    if !self.bytes[self.pos..].starts_with(b"\\u") {
                        return Err(self.error("lone surrogate"));
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return Err(self.error("lone surrogate"));
                    }
                    0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                }
                0xDC00..=0xDFFF => return Err(self.error("lone surrogate")),
                _ => high,
            };
            char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))
        }

        fn digits(&mut self) -> usize {
            let start = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            self.pos - start
        }

        fn number(&mut self) -> Result<Number<'a>, Error> {
            let start = self.pos;
            if self.peek() == Some(b'-') {
                self.pos += 1;
            }
            match self.peek() {
                Some(b'0') => self.pos += 1,
                Some(b'1'..=b'9') => {
                    self.digits();
                }
                _ => return Err(self.error("invalid number")),
            }
            let mut integer = true;
            if self.peek() == Some(b'.') {
                self.pos += 1;
                integer = false;
                if self.digits() == 0 {
                    return Err(self.error("invalid number"));
                }
            }
            if let Some(b'e' | b'E') = self.peek() {
                self.pos += 1;
                integer = false;
                if let Some(b'+' | b'-') = self.peek() {
                    self.pos += 1;
                }
                if self.digits() == 0 {
                    return Err(self.error("invalid number"));
                }
            }
            let number = Number {
                text: &self.text[start..self.pos],
                integer,
            };
            if !self.out_of_range && !number.in_range() {
                self.pos = start;
                return Err(self.error("number out of range"));
            }
            Ok(number)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

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

    fn table() -> RenderTable {
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
        assert!(
            !ok(r#""nested":{"y":"q"}"#) && !ok(r#""nested":[]"#) && !ok(r#""nested":{"x":"1"}"#)
        );
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
            .contains("look-around"));
        assert!(t
            .render(br#"{"intent":{"name":"lookahead"}}"#, None)
            .is_none());

        let fallback = |schema: serde_json::Value| {
            let t = RenderTable::new([spec("x", &schema, None)]).unwrap();
            t.fallback_reason("x").map(str::to_owned)
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
        assert!(
            matches!(bad, Err(RenderError::BadSchemaJson { ref intent, .. }) if intent == "broken")
        );
        assert!(bad.unwrap_err().to_string().contains("\"broken\""));
        let dup = RenderTable::new([spec("d", json!(null), None), spec("d", json!(null), None)]);
        assert_eq!(
            dup.unwrap_err(),
            RenderError::DuplicateIntent { intent: "d".into() }
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

    // -- JSON parser against serde_json ------------------------------------------------------

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
            Value::Str(s) => json!(s),
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
        let mine = json::parse(text, false);
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

    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
            "\"([a-zé😀 \"/]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}|\\\\ud83d\\\\ude00)*\"",
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| format!("[{}]", v.join(","))),
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
    fn mutated_json() -> impl Strategy<Value = Vec<u8>> {
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

    fn request_around(parameters: String, options: String) -> String {
        format!(r#"{{"intent":{{"name":"all","parameters":{parameters}}},"options":{options}}}"#)
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
            let in_range = json::parse(anything.as_bytes(), false).is_ok()
                && json::parse(options.as_bytes(), false).is_ok_and(|o| !matches!(o, Value::Array(_) | Value::Str(_) | Value::Bool(_) | Value::Number(_)));
            prop_assert_eq!(out.is_some(), in_range, "{}", body);
        }
    }
}
