//! Validation issues: Zod v3's issue objects and messages, byte for byte as
//! `python/ixp/validation.py` builds them (and msgspec encodes them).

use std::fmt::Write as _;

use super::schema::Num;
use super::write::write_str;

/// One problem with the parameters, at `path` (property names from the top).
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub path: Vec<String>,
    pub kind: IssueKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IssueKind {
    /// `invalid_type`: a value of the wrong JSON type. `expected` is a type name or, for a
    /// string enum, its listing (`'a' | 'b'`).
    InvalidType { expected: String, received: JsType },
    /// `invalid_type` with `received: "undefined"`: a required property is absent.
    Required { expected: String },
    /// `invalid_type`: a float with a fraction where an integer is expected.
    NotAnInteger,
    /// `invalid_enum_value`: a string that is not one of `options`.
    InvalidEnumValue {
        received: String,
        options: Vec<String>,
    },
    /// `too_small`: below a `minLength`/`minItems`/`minimum`.
    TooSmall { size: Size, bound: Bound },
    /// `too_big`: above a `maxLength`/`maxItems`/`maximum`.
    TooBig { size: Size, bound: Bound },
    /// `invalid_string` (`validation: "regex"`): a string that does not match its `pattern`.
    Regex,
}

/// What `js_type` reports as `received` (a JSON value can be nothing else: Python's `nan`,
/// `unknown` and `not_finite` need values JSON does not have, or that msgspec refuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsType {
    String,
    Number,
    Boolean,
    Object,
    Array,
    Null,
}

impl JsType {
    pub fn as_str(self) -> &'static str {
        match self {
            JsType::String => "string",
            JsType::Number => "number",
            JsType::Boolean => "boolean",
            JsType::Object => "object",
            JsType::Array => "array",
            JsType::Null => "null",
        }
    }
}

/// The `type` of a size issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    String,
    Number,
    Array,
}

/// A bound as Python holds it: an integer (any size: lengths are written as in the schema) or
/// a float.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// Decimal digits.
    Int(String),
    Float(f64),
}

impl From<Num> for Bound {
    fn from(n: Num) -> Self {
        match n {
            Num::Int(i) => Bound::Int(i.to_string()),
            Num::Float(f) => Bound::Float(f),
        }
    }
}

impl Bound {
    /// `_num(bound)`: as JavaScript prints it (`5`, not `5.0`).
    fn push_message_text(&self, out: &mut String) {
        match self {
            Bound::Int(digits) => out.push_str(digits),
            Bound::Float(f) if f.fract() == 0.0 => out.push_str(&float_as_integer(*f)),
            Bound::Float(f) => out.push_str(&python_repr(*f)),
        }
    }

    /// As msgspec encodes it.
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Bound::Int(digits) => out.extend_from_slice(digits.as_bytes()),
            Bound::Float(f) => out.extend_from_slice(msgspec_float(*f).as_bytes()),
        }
    }
}

impl Issue {
    /// The issue's `message`.
    pub fn message(&self) -> String {
        let mut message = String::new();
        self.push_message(&mut message);
        message
    }

    /// Appends the issue's `message` to `out`.
    fn push_message(&self, out: &mut String) {
        match &self.kind {
            IssueKind::InvalidType { expected, received } => {
                out.push_str("Expected ");
                out.push_str(expected);
                out.push_str(", received ");
                out.push_str(received.as_str());
            }
            IssueKind::Required { .. } => out.push_str("Required"),
            IssueKind::NotAnInteger => out.push_str("Expected integer, received float"),
            IssueKind::InvalidEnumValue { received, options } => {
                out.push_str("Invalid enum value. Expected ");
                push_listing(out, options);
                out.push_str(", received '");
                out.push_str(received);
                out.push('\'');
            }
            IssueKind::TooSmall { size, bound } => push_size_message(out, *size, bound, true),
            IssueKind::TooBig { size, bound } => push_size_message(out, *size, bound, false),
            IssueKind::Regex => out.push_str("Invalid"),
        }
    }

    /// The issue object, in `validation.py`'s key order, encoded like msgspec.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.write_json_with(out, &self.message());
    }

    /// [`Issue::write_json`], the issue's `message` being `message`.
    fn write_json_with(&self, out: &mut Vec<u8>, message: &str) {
        let mut object = JsonObject::new(out);
        match &self.kind {
            IssueKind::InvalidType { expected, received } => {
                object.string("code", "invalid_type");
                object.string("expected", expected);
                object.string("received", received.as_str());
                object.path(&self.path);
                object.string("message", message);
            }
            IssueKind::Required { expected } => {
                object.string("code", "invalid_type");
                object.string("expected", expected);
                object.string("received", "undefined");
                object.path(&self.path);
                object.string("message", message);
            }
            IssueKind::NotAnInteger => {
                object.string("code", "invalid_type");
                object.string("expected", "integer");
                object.string("received", "float");
                object.path(&self.path);
                object.string("message", message);
            }
            IssueKind::InvalidEnumValue { received, options } => {
                object.string("received", received);
                object.string("code", "invalid_enum_value");
                object.key("options");
                object.out.push(b'[');
                for (i, option) in options.iter().enumerate() {
                    if i > 0 {
                        object.out.push(b',');
                    }
                    write_str(object.out, option);
                }
                object.out.push(b']');
                object.path(&self.path);
                object.string("message", message);
            }
            IssueKind::TooSmall { size, bound } | IssueKind::TooBig { size, bound } => {
                let small = matches!(self.kind, IssueKind::TooSmall { .. });
                object.string("code", if small { "too_small" } else { "too_big" });
                object.key(if small { "minimum" } else { "maximum" });
                bound.write_json(object.out);
                object.string("type", size_name(*size));
                object.raw("inclusive", "true");
                object.raw("exact", "false");
                object.string("message", message);
                object.path(&self.path);
            }
            IssueKind::Regex => {
                object.string("validation", "regex");
                object.string("code", "invalid_string");
                object.string("message", message);
                object.path(&self.path);
            }
        }
        object.out.push(b'}');
    }
}

/// All the issues of one validation, in Python's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Issues(pub Vec<Issue>);

impl Issues {
    /// `validation_error(issues).message`: `Parameter validation failed: …`.
    pub fn message(&self) -> String {
        self.write(None)
    }

    /// The issue list as JSON (`details.validationErrors`).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(Some(&mut out));
        out
    }

    /// The error's `details` as JSON: `{"validationErrors": [...]}`.
    pub fn details_json(&self) -> Vec<u8> {
        self.message_and_details().1
    }

    /// [`Issues::message`] and [`Issues::details_json`] in one pass: each issue's message is
    /// formatted once, for both.
    pub fn message_and_details(&self) -> (String, Vec<u8>) {
        let mut details = Vec::with_capacity(24 + 192 * self.0.len());
        details.extend_from_slice(b"{\"validationErrors\":");
        let message = self.write(Some(&mut details));
        details.push(b'}');
        (message, details)
    }

    /// The message; the issue list is appended to `list` as JSON, if given.
    fn write(&self, mut list: Option<&mut Vec<u8>>) -> String {
        let mut message = String::with_capacity(32 + 64 * self.0.len());
        message.push_str("Parameter validation failed: ");
        let mut one = String::new();
        if let Some(list) = list.as_deref_mut() {
            list.push(b'[');
        }
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                message.push_str(", ");
            }
            one.clear();
            issue.push_message(&mut one);
            message.push_str(&one);
            if !issue.path.is_empty() {
                message.push_str(" at '");
                for (j, part) in issue.path.iter().enumerate() {
                    if j > 0 {
                        message.push('.');
                    }
                    message.push_str(part);
                }
                message.push('\'');
            }
            if let Some(list) = list.as_deref_mut() {
                if i > 0 {
                    list.push(b',');
                }
                issue.write_json_with(list, &one);
            }
        }
        if let Some(list) = list {
            list.push(b']');
        }
        message
    }
}

/// Writes an object's members, commas included (the closing brace is the caller's).
struct JsonObject<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> JsonObject<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        JsonObject { out, first: true }
    }

    /// `key`: one of the issue objects' own names, which need no escaping.
    fn key(&mut self, key: &'static str) {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn string(&mut self, key: &'static str, value: &str) {
        self.key(key);
        write_str(self.out, value);
    }

    fn raw(&mut self, key: &'static str, json: &str) {
        self.key(key);
        self.out.extend_from_slice(json.as_bytes());
    }

    fn path(&mut self, path: &[String]) {
        self.key("path");
        self.out.push(b'[');
        for (i, part) in path.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, part);
        }
        self.out.push(b']');
    }
}

/// Appends `'a' | 'b'`, as the enum's issues list its options.
fn push_listing(out: &mut String, options: &[impl AsRef<str>]) {
    for (i, option) in options.iter().enumerate() {
        if i > 0 {
            out.push_str(" | ");
        }
        out.push('\'');
        out.push_str(option.as_ref());
        out.push('\'');
    }
}

fn size_name(size: Size) -> &'static str {
    match size {
        Size::String => "string",
        Size::Number => "number",
        Size::Array => "array",
    }
}

/// Appends `_size_issue`'s message to `out`.
fn push_size_message(out: &mut String, size: Size, bound: &Bound, small: bool) {
    match size {
        Size::Number => {
            out.push_str(if small {
                "Number must be greater than or equal to "
            } else {
                "Number must be less than or equal to "
            });
            bound.push_message_text(out);
        }
        Size::String | Size::Array => {
            let (noun, unit) = match size {
                Size::String => ("String", " character(s)"),
                _ => ("Array", " element(s)"),
            };
            out.push_str(noun);
            out.push_str(if small {
                " must contain at least "
            } else {
                " must contain at most "
            });
            bound.push_message_text(out);
            out.push_str(unit);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Floats as Python and msgspec print them. Both use the shortest digits that read back to the
// same float (Rust's `{:e}` gives them); they differ in when and how they use an exponent.

/// The shortest round-trip digits of finite `f` (no sign) and the decimal exponent of the
/// first one: `f = 0.d₁d₂… × 10^(exp + 1)`.
fn shortest(f: f64) -> (String, i32) {
    let sci = format!("{:e}", f.abs()); // "1.2345e-7", "5e0"
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    (digits, exp.parse().expect("an integer exponent"))
}

/// `digits` with the decimal point after `point` digits (may be ≤ 0 or past the end).
fn fixed(digits: &str, point: i32, zero_fraction: bool) -> String {
    let mut s = String::new();
    if point <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat('0').take(point.unsigned_abs() as usize));
        s.push_str(digits);
    } else if point as usize >= digits.len() {
        s.push_str(digits);
        s.extend(std::iter::repeat('0').take(point as usize - digits.len()));
        if zero_fraction {
            s.push_str(".0");
        }
    } else {
        s.push_str(&digits[..point as usize]);
        s.push('.');
        s.push_str(&digits[point as usize..]);
    }
    s
}

fn scientific(digits: &str, exp_text: &str) -> String {
    let mut s = digits[..1].to_owned();
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    s.push('e');
    s.push_str(exp_text);
    s
}

/// Python's `repr(f)`: fixed notation for exponents in −4..16 (`0.0001`, `2.5`, `5.0`), else
/// `1e-05`, `1.5e+16`.
pub(super) fn python_repr(f: f64) -> String {
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, exp) = shortest(f);
    let body = if (-4..16).contains(&exp) {
        fixed(&digits, exp + 1, true)
    } else {
        let exp_text = format!("{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        scientific(&digits, &exp_text)
    };
    format!("{sign}{body}")
}

/// msgspec's JSON for a float: fixed notation for exponents in −5..16 (`0.00001`, `5.0`), else
/// `1e-6`, `1.5e16` (no `+`, no padding).
pub(super) fn msgspec_float(f: f64) -> String {
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, exp) = shortest(f);
    let body = if (-5..16).contains(&exp) {
        fixed(&digits, exp + 1, true)
    } else {
        scientific(&digits, &exp.to_string())
    };
    format!("{sign}{body}")
}

/// `str(int(f))` of an integral float: its exact decimal value (`1e20` → 21 digits).
pub(super) fn float_as_integer(f: f64) -> String {
    let sign = if f < 0.0 { "-" } else { "" };
    let f = f.abs();
    if f < 9_007_199_254_740_992.0 {
        return format!("{sign}{}", f as u64);
    }
    // f = m × 2^e exactly, m < 2^53: multiply out in base 10^9.
    let bits = f.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1075;
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let mut limbs: Vec<u64> = vec![mantissa % 1_000_000_000, mantissa / 1_000_000_000];
    for _ in 0..exponent {
        let mut carry = 0;
        for limb in &mut limbs {
            let v = *limb * 2 + carry;
            *limb = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    while limbs.len() > 1 && limbs.last() == Some(&0) {
        limbs.pop();
    }
    let mut s = String::from(sign);
    let mut iter = limbs.iter().rev();
    let _ = write!(s, "{}", iter.next().expect("a limb"));
    for limb in iter {
        let _ = write!(s, "{limb:09}");
    }
    s
}
