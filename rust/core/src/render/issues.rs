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
    fn message_text(&self) -> String {
        match self {
            Bound::Int(digits) => digits.clone(),
            Bound::Float(f) if f.fract() == 0.0 => float_as_integer(*f),
            Bound::Float(f) => python_repr(*f),
        }
    }

    /// As msgspec encodes it.
    fn json_text(&self) -> String {
        match self {
            Bound::Int(digits) => digits.clone(),
            Bound::Float(f) => msgspec_float(*f),
        }
    }
}

impl Issue {
    /// The issue's `message`.
    pub fn message(&self) -> String {
        match &self.kind {
            IssueKind::InvalidType { expected, received } => {
                format!("Expected {expected}, received {}", received.as_str())
            }
            IssueKind::Required { .. } => "Required".into(),
            IssueKind::NotAnInteger => "Expected integer, received float".into(),
            IssueKind::InvalidEnumValue { received, options } => {
                format!(
                    "Invalid enum value. Expected {}, received '{received}'",
                    listing(options)
                )
            }
            IssueKind::TooSmall { size, bound } => size_message(*size, bound, true),
            IssueKind::TooBig { size, bound } => size_message(*size, bound, false),
            IssueKind::Regex => "Invalid".into(),
        }
    }

    /// The issue object, in `validation.py`'s key order, encoded like msgspec.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let message = self.message();
        let mut object = JsonObject::new(out);
        match &self.kind {
            IssueKind::InvalidType { expected, received } => {
                object.string("code", "invalid_type");
                object.string("expected", expected);
                object.string("received", received.as_str());
                object.path(&self.path);
                object.string("message", &message);
            }
            IssueKind::Required { expected } => {
                object.string("code", "invalid_type");
                object.string("expected", expected);
                object.string("received", "undefined");
                object.path(&self.path);
                object.string("message", &message);
            }
            IssueKind::NotAnInteger => {
                object.string("code", "invalid_type");
                object.string("expected", "integer");
                object.string("received", "float");
                object.path(&self.path);
                object.string("message", &message);
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
                object.string("message", &message);
            }
            IssueKind::TooSmall { size, bound } | IssueKind::TooBig { size, bound } => {
                let small = matches!(self.kind, IssueKind::TooSmall { .. });
                object.string("code", if small { "too_small" } else { "too_big" });
                object.raw(
                    if small { "minimum" } else { "maximum" },
                    &bound.json_text(),
                );
                object.string("type", size_name(*size));
                object.raw("inclusive", "true");
                object.raw("exact", "false");
                object.string("message", &message);
                object.path(&self.path);
            }
            IssueKind::Regex => {
                object.string("validation", "regex");
                object.string("code", "invalid_string");
                object.string("message", &message);
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
        let mut message = String::from("Parameter validation failed: ");
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                message.push_str(", ");
            }
            message.push_str(&issue.message());
            if !issue.path.is_empty() {
                let _ = write!(message, " at '{}'", issue.path.join("."));
            }
        }
        message
    }

    /// The issue list as JSON (`details.validationErrors`).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = vec![b'['];
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            issue.write_json(&mut out);
        }
        out.push(b']');
        out
    }

    /// The error's `details` as JSON: `{"validationErrors": [...]}`.
    pub fn details_json(&self) -> Vec<u8> {
        let mut out = b"{\"validationErrors\":".to_vec();
        out.extend_from_slice(&self.to_json());
        out.push(b'}');
        out
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

    fn key(&mut self, key: &str) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        write_str(self.out, key);
        self.out.push(b':');
    }

    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        write_str(self.out, value);
    }

    fn raw(&mut self, key: &str, json: &str) {
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

/// `'a' | 'b'`, as the enum's issues list its options.
pub(super) fn listing(options: &[impl AsRef<str>]) -> String {
    let quoted: Vec<String> = options
        .iter()
        .map(|o| format!("'{}'", o.as_ref()))
        .collect();
    quoted.join(" | ")
}

fn size_name(size: Size) -> &'static str {
    match size {
        Size::String => "string",
        Size::Number => "number",
        Size::Array => "array",
    }
}

/// `_size_issue`'s message.
fn size_message(size: Size, bound: &Bound, small: bool) -> String {
    let bound = bound.message_text();
    match size {
        Size::Number => {
            let relation = if small {
                "greater than or equal to"
            } else {
                "less than or equal to"
            };
            format!("Number must be {relation} {bound}")
        }
        Size::String | Size::Array => {
            let (noun, unit) = match size {
                Size::String => ("String", "character(s)"),
                _ => ("Array", "element(s)"),
            };
            let relation = if small { "at least" } else { "at most" };
            format!("{noun} must contain {relation} {bound} {unit}")
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
