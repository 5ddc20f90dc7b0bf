//! Parameter schemas compiled like `validation.py`'s `_compile*`. Validation lives in
//! [`write`](super::write) (the success path, writing the props as it validates) and
//! [`collect`](super::collect) (every issue, as Python reports them).

use std::cmp::Ordering;
use std::fmt;

use hashbrown::{HashMap, HashSet};

use super::json::{NumValue, Value};
use super::object::{Object, SMALL_OBJECT};
use super::pattern::Pattern;
use super::write::{write_str, write_value};

/// What to do with a `pattern` outside the subset of regular expressions that Rust's `regex`
/// reads exactly as Python's `re` (see [`Pattern`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PatternPolicy {
    /// The intent is a *fallback*: everything it would validate is declined (left to Python).
    #[default]
    Fallback,
    /// Building the table fails with [`SchemaErrorKind::UnsupportedPattern`].
    Reject,
    /// The field's pattern is checked by the caller's hook (see [`ExternalPattern`]); without a
    /// hook, a request that needs it is declined.
    External,
}

/// A schema problem, found when compiling: where (Python's `where`, e.g.
/// `parameters.properties.code`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub at: String,
    pub kind: SchemaErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaErrorKind {
    /// A schema (or the whole `parameters`) that is not a JSON object.
    NotASchemaObject,
    /// The top-level `type` is not `"object"`.
    TopNotObject,
    PropertiesNotObject,
    RequiredNotNames,
    RequiredUndeclared(String),
    EnumNotList,
    EnumEmpty,
    EnumNotStrings,
    /// `minLength` & co.: not a non-negative integer.
    NotNonNegativeInt(&'static str),
    /// `minimum`/`maximum`: not a finite number, or an integer outside i64/u64 (Rust's limit).
    BoundNotFinite(&'static str),
    PatternNotString,
    /// A pattern Rust cannot match exactly as Python does (the reason), or does not compile.
    UnsupportedPattern {
        pattern: String,
        reason: String,
    },
    /// A default holding a number outside i64/u64 or not finite (Rust's limit).
    DefaultOutOfRange,
    /// Nested deeper than the JSON parser goes (Rust's limit).
    TooDeep,
}

impl SchemaError {
    fn new(at: &str, kind: SchemaErrorKind) -> Self {
        SchemaError {
            at: at.to_owned(),
            kind,
        }
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = &self.at;
        match &self.kind {
            SchemaErrorKind::NotASchemaObject => write!(f, "{at}: not a JSON-Schema object"),
            SchemaErrorKind::TopNotObject => write!(f, r#"{at}: "type" is not "object""#),
            SchemaErrorKind::PropertiesNotObject => write!(f, "{at}.properties: not an object"),
            SchemaErrorKind::RequiredNotNames => write!(f, "{at}.required: not a list of names"),
            SchemaErrorKind::RequiredUndeclared(name) => {
                write!(f, "{at}.required: {name:?} is not declared")
            }
            SchemaErrorKind::EnumNotList => write!(f, "{at}.enum: not a list"),
            SchemaErrorKind::EnumEmpty => write!(f, "{at}.enum: empty"),
            SchemaErrorKind::EnumNotStrings => write!(f, "{at}.enum: not a list of strings"),
            SchemaErrorKind::NotNonNegativeInt(key) => {
                write!(f, "{at}.{key}: not a non-negative integer")
            }
            SchemaErrorKind::BoundNotFinite(key) => {
                write!(f, "{at}.{key}: not a finite number (or too large)")
            }
            SchemaErrorKind::PatternNotString => write!(f, "{at}.pattern: not a string"),
            SchemaErrorKind::UnsupportedPattern { pattern, reason } => {
                write!(f, "{at}.pattern {pattern:?}: {reason}")
            }
            SchemaErrorKind::DefaultOutOfRange => {
                write!(f, "{at}.default: a number outside i64/u64 or not finite")
            }
            SchemaErrorKind::TooDeep => write!(f, "{at}: nested too deep"),
        }
    }
}

impl std::error::Error for SchemaError {}

/// A field whose `pattern` the caller checks ([`PatternPolicy::External`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalPattern {
    /// Where, as in [`SchemaError::at`].
    pub at: String,
    pub pattern: String,
}

type Compiled<T> = Result<T, SchemaError>;

#[derive(Debug)]
pub(super) struct ObjectSchema {
    pub(super) fields: Vec<Field>,
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

    pub(super) fn field(&self, name: &str) -> Option<&Field> {
        match &self.index {
            Some(index) => index.get(name).map(|&i| &self.fields[i]),
            None => self.fields.iter().find(|f| *f.name == *name),
        }
    }
}

#[derive(Debug)]
pub(super) struct Field {
    pub(super) name: Box<str>,
    /// `"name":`, encoded once.
    pub(super) key: Box<[u8]>,
    pub(super) check: Check,
    pub(super) required: bool,
    /// The default, already encoded (only for optional fields that declare one).
    pub(super) default: Option<Box<[u8]>>,
    /// `expected` of the "Required" issue: the declared `type` (any string), the enum's
    /// listing for a string enum, else `unknown`.
    pub(super) expected: Box<str>,
}

#[derive(Debug)]
pub(super) enum Check {
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
        min: Option<Len>,
        max: Option<Len>,
    },
    /// `object` without `properties` (below the top level): any object, kept as it is.
    AnyObject,
    Object(ObjectSchema),
}

#[derive(Debug)]
pub(super) enum StrCheck {
    Enum(Enum),
    Plain {
        min: Option<Len>,
        max: Option<Len>,
        pattern: Option<PatternCheck>,
    },
}

#[derive(Debug)]
pub(super) struct Enum {
    pub(super) set: HashSet<Box<str>>,
    /// The options in schema order (duplicates kept), for issues.
    pub(super) options: Box<[Box<str>]>,
    /// `'a' | 'b'`: the `expected` of its issues.
    pub(super) listing: Box<str>,
}

#[derive(Debug)]
pub(super) enum PatternCheck {
    Regex(Pattern),
    /// Checked by the caller's hook; the pattern's source.
    External(Box<str>),
}

/// A length bound (`minLength`…): compared as a `u64` (saturated: Python's ints are unbounded,
/// no length reaches `u64::MAX`), reported as written.
#[derive(Debug, Clone)]
pub(super) struct Len {
    pub(super) value: u64,
    pub(super) text: Box<str>,
}

/// A number as Python holds it: an exact integer or a finite float.
#[derive(Debug, Clone, Copy)]
pub(super) enum Num {
    Int(i128),
    Float(f64),
}

/// `spec.get(key)` of a schema object: the last member named `key`; JSON null counts as absent
/// (Python's `spec.get(key)` is then `None`, which every caller treats as "not given").
fn get_some<'a, 'j>(spec: &Object<'a, 'j>, key: &str) -> Option<&'a Value<'j>> {
    spec.get(key).filter(|v| !matches!(v, Value::Null))
}

/// State of one schema's compilation.
struct Compiler {
    policy: PatternPolicy,
    external: Vec<ExternalPattern>,
}

/// The compiled `parameters` schema, and the fields whose patterns the caller checks.
pub(super) fn compile_parameters(
    schema: &Value<'_>,
    policy: PatternPolicy,
) -> Compiled<(ObjectSchema, Vec<ExternalPattern>)> {
    let at = "parameters";
    let Value::Object(members) = schema else {
        return Err(SchemaError::new(at, SchemaErrorKind::NotASchemaObject));
    };
    let spec = Object::new(members);
    if !matches!(spec.get("type"), Some(Value::Str(t)) if t == "object") {
        return Err(SchemaError::new(at, SchemaErrorKind::TopNotObject));
    }
    let mut compiler = Compiler {
        policy,
        external: Vec::new(),
    };
    match compiler.object(&spec, at, true)? {
        Check::Object(schema) => Ok((schema, compiler.external)),
        _ => unreachable!("the top level always has properties"),
    }
}

impl Compiler {
    fn check(&mut self, spec: &Value<'_>, at: &str) -> Compiled<Check> {
        let Value::Object(members) = spec else {
            return Err(SchemaError::new(at, SchemaErrorKind::NotASchemaObject));
        };
        let spec = Object::new(members);
        let kind = match spec.get("type") {
            Some(Value::Str(kind)) => kind.as_str(),
            _ => "",
        };
        Ok(match kind {
            "string" => Check::Str(self.string(&spec, at)?),
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
            "object" => self.object(&spec, at, false)?,
            _ => Check::Any,
        })
    }

    fn object(&mut self, spec: &Object<'_, '_>, at: &str, top: bool) -> Compiled<Check> {
        let properties = match get_some(spec, "properties") {
            None if !top => return Ok(Check::AnyObject),
            None => &[][..],
            Some(Value::Object(p)) => &p[..],
            Some(_) => return Err(SchemaError::new(at, SchemaErrorKind::PropertiesNotObject)),
        };
        let mut required: Vec<&str> = Vec::new();
        match spec.get("required") {
            None => {}
            Some(Value::Array(items)) => {
                for item in items.iter() {
                    match item {
                        Value::Str(s) => required.push(s.as_str()),
                        _ => return Err(SchemaError::new(at, SchemaErrorKind::RequiredNotNames)),
                    }
                }
            }
            Some(_) => return Err(SchemaError::new(at, SchemaErrorKind::RequiredNotNames)),
        }
        let properties = Object::new(properties);
        if let Some(unknown) = required.iter().find(|r| properties.get(r).is_none()) {
            let kind = SchemaErrorKind::RequiredUndeclared((*unknown).to_owned());
            return Err(SchemaError::new(at, kind));
        }
        let mut fields = Vec::new();
        let mut failure = None;
        properties.for_each(|name, prop| {
            if failure.is_some() {
                return;
            }
            let name: &str = name;
            match self.field(name, prop, required.contains(&name), at) {
                Ok(field) => fields.push(field),
                Err(e) => failure = Some(e),
            }
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(Check::Object(ObjectSchema::new(fields))),
        }
    }

    fn field(&mut self, name: &str, prop: &Value<'_>, required: bool, at: &str) -> Compiled<Field> {
        let at = format!("{at}.properties.{name}");
        let check = self.check(prop, &at)?;
        let mut default = None;
        if let (false, Value::Object(members)) = (required, prop) {
            // `"default" in prop`: a null default is a default (of null).
            if let Some(value) = Object::new(members).get("default") {
                if !value.numbers_in_range() {
                    return Err(SchemaError::new(&at, SchemaErrorKind::DefaultOutOfRange));
                }
                let mut encoded = Vec::new();
                write_value(&mut encoded, value);
                default = Some(encoded.into_boxed_slice());
            }
        }
        let expected: Box<str> = match (&check, prop) {
            (Check::Str(StrCheck::Enum(e)), _) => e.listing.clone(),
            (_, Value::Object(members)) => match Object::new(members).get("type") {
                Some(Value::Str(kind)) => kind.as_str().into(),
                _ => "unknown".into(),
            },
            _ => "unknown".into(),
        };
        let mut key = Vec::with_capacity(name.len() + 3);
        write_str(&mut key, name);
        key.push(b':');
        Ok(Field {
            name: name.into(),
            key: key.into_boxed_slice(),
            check,
            required,
            default,
            expected,
        })
    }

    fn string(&mut self, spec: &Object<'_, '_>, at: &str) -> Compiled<StrCheck> {
        if let Some(options) = get_some(spec, "enum") {
            // With an enum, Python looks at nothing else (minLength/pattern are not even compiled).
            let Value::Array(options) = options else {
                return Err(SchemaError::new(at, SchemaErrorKind::EnumNotList));
            };
            if options.is_empty() {
                return Err(SchemaError::new(at, SchemaErrorKind::EnumEmpty));
            }
            let mut listed = Vec::with_capacity(options.len());
            for option in options.iter() {
                let Value::Str(s) = option else {
                    return Err(SchemaError::new(at, SchemaErrorKind::EnumNotStrings));
                };
                listed.push(Box::from(s.as_str()));
            }
            let listing = (listed.iter().map(|o| format!("'{o}'")))
                .collect::<Vec<_>>()
                .join(" | ");
            return Ok(StrCheck::Enum(Enum {
                set: listed.iter().cloned().collect(),
                options: listed.into_boxed_slice(),
                listing: listing.into(),
            }));
        }
        let min = non_negative_int(spec, "minLength", at)?;
        let max = non_negative_int(spec, "maxLength", at)?;
        let pattern = match get_some(spec, "pattern") {
            None => None,
            Some(Value::Str(p)) => Some(match Pattern::new(p) {
                Ok(pattern) => PatternCheck::Regex(pattern),
                Err(_) if self.policy == PatternPolicy::External => {
                    self.external.push(ExternalPattern {
                        at: at.to_owned(),
                        pattern: p.as_str().to_owned(),
                    });
                    PatternCheck::External(p.as_str().into())
                }
                Err(reason) => {
                    let pattern = p.as_str().to_owned();
                    let kind = SchemaErrorKind::UnsupportedPattern { pattern, reason };
                    return Err(SchemaError::new(at, kind));
                }
            }),
            Some(_) => return Err(SchemaError::new(at, SchemaErrorKind::PatternNotString)),
        };
        Ok(StrCheck::Plain { min, max, pattern })
    }
}

/// `_non_negative_int`: absent/null → None; a JSON integer ≥ 0 → Some.
fn non_negative_int(spec: &Object<'_, '_>, key: &'static str, at: &str) -> Compiled<Option<Len>> {
    match get_some(spec, key) {
        None => Ok(None),
        Some(Value::Number(n)) if n.is_integer() => match n.value() {
            // `-0` is Python's 0.
            NumValue::Int(i) if i >= 0 => Ok(Some(Len {
                value: u64::try_from(i).unwrap_or(u64::MAX),
                text: i.to_string().into(),
            })),
            NumValue::OutOfRange if !n.text.starts_with('-') => Ok(Some(Len {
                value: u64::MAX,
                text: n.text.into(),
            })),
            _ => Err(SchemaError::new(
                at,
                SchemaErrorKind::NotNonNegativeInt(key),
            )),
        },
        Some(_) => Err(SchemaError::new(
            at,
            SchemaErrorKind::NotNonNegativeInt(key),
        )),
    }
}

/// `_bound`: absent/null → None; a finite JSON number → Some (kept exact, int or float).
fn bound(spec: &Object<'_, '_>, key: &'static str, at: &str) -> Compiled<Option<Num>> {
    match get_some(spec, key) {
        None => Ok(None),
        Some(value) => match as_num(value) {
            Some(n) => Ok(Some(n)),
            None => Err(SchemaError::new(at, SchemaErrorKind::BoundNotFinite(key))),
        },
    }
}

/// A JSON number as Python compares it; `None` for non-numbers and for numbers outside
/// i64/u64 or not finite (those are refused when parsing a request).
pub(super) fn as_num(value: &Value<'_>) -> Option<Num> {
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
pub(super) fn cmp_num(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).reverse(),
    }
}

/// `i` against the finite float `f`, exactly.
pub(super) fn cmp_int_float(i: i128, f: f64) -> Ordering {
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

/// The caller's check of [`PatternPolicy::External`] patterns: `hook(pattern, text)` is
/// `re.search(pattern, text) is not None`, or `None` when it cannot tell (then the request is
/// declined).
pub type PatternHook<'h> = dyn FnMut(&str, &str) -> Option<bool> + 'h;

/// What validation needs besides the value: the hook, and whether it failed to answer.
pub(super) struct Externals<'a, 'h> {
    hook: Option<&'a mut PatternHook<'h>>,
    /// Patterns of the subset are matched by `regex` for every string, as Python's validator
    /// does (`Pattern.is_match`); when false, only where `re` provably agrees
    /// (`Pattern.search`): the success-only `render` keeps declining the rest, as it always has.
    regex_everywhere: bool,
    /// A pattern could not be checked: the outcome is not Python's, decline it.
    pub(super) undecided: bool,
}

impl<'a, 'h> Externals<'a, 'h> {
    pub(super) fn new(hook: Option<&'a mut PatternHook<'h>>, regex_everywhere: bool) -> Self {
        Externals {
            hook,
            regex_everywhere,
            undecided: false,
        }
    }

    /// Whether `text` matches `pattern` (in the sense of `re.search`); `false` and undecided
    /// when the hook cannot tell.
    pub(super) fn matches(&mut self, pattern: &str, text: &str) -> bool {
        match self.hook.as_mut().and_then(|hook| hook(pattern, text)) {
            Some(matched) => matched,
            None => {
                self.undecided = true;
                false
            }
        }
    }
}

impl PatternCheck {
    pub(super) fn matches(&self, text: &str, externals: &mut Externals<'_, '_>) -> bool {
        match self {
            // Python matches these patterns with the same `regex` (`ixp._core.Pattern.is_match`).
            PatternCheck::Regex(pattern) if externals.regex_everywhere => pattern.is_match(text),
            PatternCheck::Regex(pattern) => pattern.search(text).unwrap_or_else(|| {
                externals.undecided = true;
                false
            }),
            PatternCheck::External(pattern) => externals.matches(pattern, text),
        }
    }
}
