//! Validation on the success path (`check_object` & co.), writing the result as it goes.
//!
//! Output: compact JSON, non-ASCII as raw UTF-8 (msgspec's encoding, up to number spelling).
//! Validation and output are one pass, in schema order, straight into the response buffer; on
//! any failure the buffer is discarded (and [`collect`](super::collect) finds the issues, from
//! the field where this pass stopped).

use std::cmp::Ordering;

use super::json::{JStr, Members, Value};
use super::object::Object;
use super::schema::{as_num, cmp_num, Check, Externals, Num, ObjectSchema, StrCheck};

impl ObjectSchema {
    /// Writes the validated object, with `options` merged like `{**props, **options}` (an option
    /// replaces a prop in place; new keys follow in order). When `members` is invalid: the index
    /// of the first field found invalid (every field before it is valid, so the issues are
    /// collected from there: [`Collector::object_from`](super::collect::Collector::object_from)).
    pub(super) fn write_validated(
        &self,
        members: &Members<'_>,
        options: Option<&Object<'_, '_>>,
        out: &mut Vec<u8>,
        externals: &mut Externals<'_, '_>,
    ) -> Result<(), usize> {
        let input = Object::new(members);
        out.push(b'{');
        let mut first = true;
        for (index, field) in self.fields.iter().enumerate() {
            let value = match (input.get(&field.name), &field.default) {
                (Some(value), _) => Some(value),
                (None, _) if field.required => return Err(index),
                (None, Some(_)) => None,
                (None, None) => continue,
            };
            separator(out, &mut first);
            out.extend_from_slice(&field.key);
            let option = options.and_then(|o| o.get(&field.name));
            match (value, option) {
                // Replaced by an option: still validated, not written.
                (Some(v), Some(o)) => {
                    if !field.check.validate(v, None, externals) {
                        return Err(index);
                    }
                    write_value(out, o);
                }
                (Some(v), None) => {
                    if !field.check.validate(v, Some(out), externals) {
                        return Err(index);
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
        Ok(())
    }
}

impl Check {
    /// Validates `value`, writing it (as validated) to `out` when given.
    fn validate(
        &self,
        value: &Value<'_>,
        out: Option<&mut Vec<u8>>,
        externals: &mut Externals<'_, '_>,
    ) -> bool {
        let ok = match (self, value) {
            (Check::Any, _) => true,
            (Check::Str(check), Value::Str(s)) => check.accepts(s, externals),
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
                min.as_ref().map_or(true, |m| n >= m.value)
                    && max.as_ref().map_or(true, |m| n <= m.value)
            }
            (Check::AnyObject, Value::Object(_)) => true,
            (Check::Object(schema), Value::Object(members)) => {
                return match out {
                    Some(out) => schema.write_validated(members, None, out, externals),
                    None => schema.write_validated(members, None, &mut Vec::new(), externals),
                }
                .is_ok();
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
    fn accepts(&self, s: &str, externals: &mut Externals<'_, '_>) -> bool {
        match self {
            StrCheck::Enum(e) => e.set.contains(s),
            StrCheck::Plain { min, max, pattern } => {
                if min.is_some() || max.is_some() {
                    let n = s.chars().count() as u64;
                    if min.as_ref().is_some_and(|m| n < m.value)
                        || max.as_ref().is_some_and(|m| n > m.value)
                    {
                        return false;
                    }
                }
                pattern.as_ref().map_or(true, |p| p.matches(s, externals))
            }
        }
    }
}

fn separator(out: &mut Vec<u8>, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
}

pub(super) fn write_value(out: &mut Vec<u8>, value: &Value<'_>) {
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
pub(super) fn write_json_str(out: &mut Vec<u8>, s: &JStr<'_>) {
    match *s {
        JStr::Raw(raw) => {
            out.push(b'"');
            out.extend_from_slice(raw.as_bytes());
            out.push(b'"');
        }
        JStr::Decoded(s) => write_str(out, s),
    }
}

/// Bytes that JSON strings escape: `"`, backslash and the control characters (msgspec leaves
/// everything else as it is, non-ASCII included).
const ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// `s` as a JSON string, escaped as msgspec escapes it. Runs without escapes are copied whole
/// (error messages and issues are written with this: a table lookup per byte, not a branch).
pub(super) fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(offset) = bytes[start..].iter().position(|&b| ESCAPED[usize::from(b)]) {
        let i = start + offset;
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::write_str;

    #[test]
    fn strings_are_escaped_as_json_encoders_do() {
        let mut texts: Vec<String> = (0u8..0x80).map(|b| char::from(b).to_string()).collect();
        texts.extend(
            [
                "",
                "plain text",
                "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{1}i\u{1f}",
                "é ☃ 𝄞 \u{7f} \u{2028}",
                "\"\"\\\\",
            ]
            .map(str::to_owned),
        );
        for text in texts {
            let mut out = b"prefix".to_vec();
            write_str(&mut out, &text);
            let expected = format!("prefix{}", serde_json::to_string(&text).unwrap());
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{text:?}");
        }
    }
}
