//! Parameter schemas: compiled from JSON Schema like `validation.py`, then used to validate a
//! request's `parameters` and write the validated props, in one pass.

use std::cmp::Ordering;

use hashbrown::{HashMap, HashSet};

use super::json::{JStr, Members, NumValue, Value};
use super::pattern::Pattern;

/// Objects with more members than this get a hash index for lookups and de-duplication; below
/// it, linear scans are faster.
const SMALL_OBJECT: usize = 8;

// ---------------------------------------------------------------------------------------------
// Objects with duplicate keys: last value, first position.

/// A view of an object's members with Python-dict semantics for duplicate keys.
pub(super) struct Object<'a, 'j> {
    members: &'a Members<'j>,
    /// key → (first index, last index), for large objects only.
    index: Option<HashMap<&'a str, (usize, usize)>>,
}

impl<'a, 'j> Object<'a, 'j> {
    pub(super) fn new(members: &'a Members<'j>) -> Self {
        let index = (members.len() > SMALL_OBJECT).then(|| {
            let mut index: HashMap<&str, (usize, usize)> = HashMap::with_capacity(members.len());
            for (i, (key, _)) in members.iter().enumerate() {
                index.entry(key.as_str()).or_insert((i, i)).1 = i;
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
    fn for_each(&self, mut f: impl FnMut(&'a JStr<'j>, &'a Value<'j>)) {
        let members = self.members;
        for (i, (key, value)) in members.iter().enumerate() {
            match &self.index {
                Some(index) => {
                    let (first, last) = index[key.as_str()];
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
pub(super) struct ObjectSchema {
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

pub(super) fn compile_parameters(schema: &Value<'_>) -> Compiled<ObjectSchema> {
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
        Some(Value::Str(kind)) => kind.as_str(),
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
                    Value::Str(s) => required.push(s.as_str()),
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
            set.insert(Box::from(s.as_str()));
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

// ---------------------------------------------------------------------------------------------
// Validation: `check_object` & co. on the success path, writing the result as it goes.
//
// Output: compact JSON, non-ASCII as raw UTF-8 (msgspec's encoding, up to number spelling).
// Validation and output are one pass, in schema order, straight into the response buffer; on
// any failure the buffer is discarded.

impl ObjectSchema {
    /// Writes the validated object, with `options` merged like `{**props, **options}` (an option
    /// replaces a prop in place; new keys follow in order). `false` when `members` is invalid.
    pub(super) fn write_validated(
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
            // Without bounds, only the kind of literal matters: no need to read its value (an
            // integer literal has no fraction; `in_range` is `as_num(value).is_some()`).
            (
                Check::Num {
                    integer,
                    min: None,
                    max: None,
                },
                Value::Number(n),
            ) if !*integer || n.is_integer() => n.in_range(),
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
            for item in items.iter() {
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

/// A parsed string: a raw one is text from between quotes that had no escapes, hence contains
/// no `"`, `\` or control character, and needs no escaping.
fn write_json_str(out: &mut Vec<u8>, s: &JStr<'_>) {
    match *s {
        JStr::Raw(raw) => {
            out.push(b'"');
            out.extend_from_slice(raw.as_bytes());
            out.push(b'"');
        }
        JStr::Decoded(s) => write_str(out, s),
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
