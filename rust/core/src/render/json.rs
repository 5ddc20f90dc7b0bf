//! A strict JSON (RFC 8259) parser for this module: the document must be exactly one value with
//! optional whitespace around it; strings must be valid UTF-8 without raw control characters,
//! with valid escapes and no lone surrogates; nesting is limited to [`MAX_DEPTH`].
//!
//! Containers and decoded strings live in a [`Bump`] arena the caller provides (reset per
//! request): parsing costs no heap allocation once the arena is warm, and a [`Value`] owns
//! nothing, so dropping one is free.

use std::fmt;
use std::ops::Deref;

use bumpalo::collections::{String as BumpString, Vec as BumpVec};
use bumpalo::Bump;

/// Containers nested deeper than this are refused (the parser recurses once per level).
pub const MAX_DEPTH: usize = 128;
/// The message of the error for nesting deeper than [`MAX_DEPTH`].
pub const TOO_DEEP: &str = "nesting too deep";

/// An object's members, duplicates included, in document order.
pub type Members<'a> = [(JStr<'a>, Value<'a>)];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number<'a>),
    Str(JStr<'a>),
    /// Items in the arena.
    Array(&'a [Value<'a>]),
    /// Members in the arena.
    Object(&'a Members<'a>),
}

// Everything is borrowed (from the input or the arena): dropping a document does nothing.
const _: () = assert!(!std::mem::needs_drop::<Value<'static>>());

/// A parsed string (key or value). The variant says how to write it back as JSON.
#[derive(Clone, Copy)]
pub enum JStr<'a> {
    /// The raw text between the quotes, which had no escape: it contains no `"`, `\` or
    /// control character, so it is written as it is.
    Raw(&'a str),
    /// The decoded text of an escaped string (in the arena): written with escaping.
    Decoded(&'a str),
}

impl<'a> JStr<'a> {
    pub fn as_str(&self) -> &'a str {
        match *self {
            JStr::Raw(s) | JStr::Decoded(s) => s,
        }
    }
}

impl Deref for JStr<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// By text, whatever the variants (as `Cow<str>` compares): `"a"` and `"\u0061"` are one key.
impl PartialEq for JStr<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<str> for JStr<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for JStr<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for JStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for JStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A number literal; its value is read when needed (most are only copied to the output).
///
/// Only the text is kept (whether it is an integer is read from it again): with a flag beside
/// it, a `Value` would take four words instead of three, and be copied in overlapping pieces
/// that stall the processor each time one is returned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number<'a> {
    /// The literal as written (valid JSON).
    pub text: &'a str,
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
        !self.text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
    }

    pub fn value(&self) -> NumValue {
        self.value_as(self.is_integer())
    }

    /// `value()`, `integer` being `is_integer()`.
    fn value_as(&self, integer: bool) -> NumValue {
        if integer {
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
        self.in_range_as(self.is_integer())
    }

    /// `in_range()`, `integer` being `is_integer()`.
    fn in_range_as(&self, integer: bool) -> bool {
        let digits = self.text.len() - usize::from(self.text.starts_with('-'));
        if integer {
            // Up to 18 digits always fits an i64.
            digits <= 18 || self.value_as(integer) != NumValue::OutOfRange
        } else {
            // Without an exponent, fewer than 300 characters stay below 1e300.
            (digits < 300 && !self.text.bytes().any(|b| matches!(b, b'e' | b'E')))
                || self.value_as(integer) != NumValue::OutOfRange
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

/// Parses one document, its containers and decoded strings allocated in `bump`. With
/// `out_of_range` false, numbers msgspec would not decode to an i64, a u64 or a finite float
/// are an error too.
pub fn parse<'a>(input: &'a [u8], bump: &'a Bump, out_of_range: bool) -> Result<Value<'a>, Error> {
    let text = std::str::from_utf8(input).map_err(|e| Error {
        offset: e.valid_up_to(),
        message: "invalid UTF-8",
    })?;
    let mut parser = Parser {
        text,
        bytes: input,
        bump,
        items: BumpVec::with_capacity_in(SCRATCH, bump),
        members: BumpVec::with_capacity_in(SCRATCH, bump),
        failure: Error {
            offset: 0,
            message: "",
        },
        pos: 0,
        depth: 0,
        out_of_range,
    };
    parser.skip_whitespace();
    let Ok(value) = parser.value() else {
        return Err(parser.failure);
    };
    parser.skip_whitespace();
    if parser.pos != input.len() {
        parser.error("trailing characters");
        return Err(parser.failure);
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

/// Parsing failed; the [`Error`] is in `Parser::failure`. Keeping it out of the results keeps a
/// `Result<Value, Stop>` the size of a `Value`, so that values are not moved to another offset
/// each time they are returned (which made the processor stall on partly overlapping copies).
struct Stop;

type Parsed<T> = Result<T, Stop>;

/// Initial capacity of the parser's stacks of items and members (they grow if needed).
const SCRATCH: usize = 16;

struct Parser<'a> {
    /// The input, valid UTF-8 (`bytes` is the same, as bytes).
    text: &'a str,
    bytes: &'a [u8],
    bump: &'a Bump,
    /// Items of the arrays being parsed, innermost last: each array's are copied into an
    /// exactly-sized slice of the arena when it closes. One stack for all levels, so building
    /// a container costs no growth of its own.
    items: BumpVec<'a, Value<'a>>,
    /// The same for objects' members.
    members: BumpVec<'a, (JStr<'a>, Value<'a>)>,
    /// Why parsing stopped, once it has.
    failure: Error,
    pos: usize,
    depth: usize,
    out_of_range: bool,
}

impl<'a> Parser<'a> {
    /// Records why parsing stops, at the current position.
    fn error(&mut self, message: &'static str) -> Stop {
        self.failure = Error {
            offset: self.pos,
            message,
        };
        Stop
    }

    /// `&self.text[start..end]` without its checks, which cost more than parsing most strings.
    ///
    /// # Safety
    /// `start <= end <= self.text.len()`, and `start` and `end` are each the position of an
    /// ASCII byte or the position just after one (or the end of the text).
    unsafe fn text_between(&self, start: usize, end: usize) -> &'a str {
        debug_assert!(start <= end && end <= self.text.len());
        debug_assert!(self.text.is_char_boundary(start) && self.text.is_char_boundary(end));
        // SAFETY: `text` is valid UTF-8, where an ASCII byte is a whole character and the byte
        // after one cannot be a continuation byte: both ends are char boundaries, and the
        // caller guarantees they are in order and in bounds.
        unsafe { self.text.get_unchecked(start..end) }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, message: &'static str) -> Parsed<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    /// The document's top-level value.
    fn value(&mut self) -> Parsed<Value<'a>> {
        let mut value = Value::Null;
        self.value_then(|_, v| value = v)?;
        Ok(value)
    }

    /// Parses a value and hands it to `emit`, called in each arm with a known variant so that
    /// the value is written straight where it goes (onto the stack of items or members).
    ///
    /// Scalars are parsed inline and containers out of line, returning their slice (two
    /// words, in registers): an enum returned through memory, or assembled on the stack and
    /// then copied, is written in pieces and read back in others, and the processor stalls on
    /// each such read (store forwarding fails). That cost more than all the rest of parsing.
    #[inline(always)]
    fn value_then(&mut self, emit: impl FnOnce(&mut Self, Value<'a>)) -> Parsed<()> {
        match self.peek() {
            Some(b'{') => {
                let members = self.object()?;
                emit(self, Value::Object(members));
            }
            Some(b'[') => {
                let items = self.array()?;
                emit(self, Value::Array(items));
            }
            Some(b'"') => {
                let s = self.string()?;
                emit(self, Value::Str(s));
            }
            Some(b't') => {
                self.literal("true")?;
                emit(self, Value::Bool(true));
            }
            Some(b'f') => {
                self.literal("false")?;
                emit(self, Value::Bool(false));
            }
            Some(b'n') => {
                self.literal("null")?;
                emit(self, Value::Null);
            }
            Some(b'-' | b'0'..=b'9') => {
                let n = self.number()?;
                emit(self, Value::Number(n));
            }
            Some(_) => return Err(self.error("expected a value")),
            None => return Err(self.error("unexpected end of input")),
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static str) -> Parsed<()> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn enter(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(TOO_DEEP));
        }
        self.pos += 1; // the opening bracket
        self.skip_whitespace();
        Ok(())
    }

    #[inline(never)]
    fn object(&mut self) -> Parsed<&'a Members<'a>> {
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(&[]);
        }
        let mark = self.members.len();
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':', "expected ':'")?;
            self.skip_whitespace();
            self.value_then(|p, value| p.members.push((key, value)))?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    let members = self.bump.alloc_slice_copy(&self.members[mark..]);
                    self.members.truncate(mark);
                    return Ok(members);
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    #[inline(never)]
    fn array(&mut self) -> Parsed<&'a [Value<'a>]> {
        self.enter()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(&[]);
        }
        let mark = self.items.len();
        loop {
            self.value_then(|p, item| p.items.push(item))?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    let items = self.bump.alloc_slice_copy(&self.items[mark..]);
                    self.items.truncate(mark);
                    return Ok(items);
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    /// At the opening quote.
    #[inline(always)]
    fn string(&mut self) -> Parsed<JStr<'a>> {
        self.pos += 1;
        let start = self.pos;
        self.pos += plain_run(&self.bytes[self.pos..]);
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                // SAFETY: `start` follows the opening quote and `self.pos - 1 >= start` is the
                // closing one, in the input.
                Ok(JStr::Raw(unsafe { self.text_between(start, self.pos - 1) }))
            }
            Some(b'\\') => self.escaped_string(start).map(JStr::Decoded),
            Some(_) => Err(self.error("control character in string")),
            None => Err(self.error("unterminated string")),
        }
    }

    /// The rest of a string whose first escape is at `self.pos`, decoded into the arena.
    #[inline(never)]
    fn escaped_string(&mut self, start: usize) -> Parsed<&'a str> {
        let mut out = BumpString::with_capacity_in(self.pos - start + 16, self.bump);
        let mut chunk = start;
        loop {
            match self.peek() {
                Some(b'"') => {
                    // SAFETY: `chunk` follows the opening quote or an escape (ASCII), and
                    // `self.pos >= chunk` is at a quote, in the input.
                    out.push_str(unsafe { self.text_between(chunk, self.pos) });
                    self.pos += 1;
                    return Ok(out.into_bump_str());
                }
                Some(b'\\') => {
                    // SAFETY: as above, `self.pos` being at a backslash.
                    out.push_str(unsafe { self.text_between(chunk, self.pos) });
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

    fn hex4(&mut self) -> Parsed<u32> {
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
    fn unicode_escape(&mut self) -> Parsed<char> {
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

    #[inline(always)]
    fn number(&mut self) -> Parsed<Number<'a>> {
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
            // SAFETY: `start` is at the sign or first digit, `self.pos > start` just after the
            // last digit, in the input (or at its end).
            text: unsafe { self.text_between(start, self.pos) },
        };
        if !self.out_of_range && !number.in_range_as(integer) {
            self.pos = start;
            return Err(self.error("number out of range"));
        }
        Ok(number)
    }
}
