//! The fast lane of `POST /api/intents/process`: which request bodies it may answer, and the
//! match-cache key of their message.
//!
//! The lane answers from the match cache only the requests whose answer does not depend on
//! anything but the normalized message: no `userId` (no session to write), no `options` (nothing
//! merged into the props). Everything else — and every body msgspec would refuse, or decode
//! differently — is declined, and the ordinary path answers it. Declining is always safe; answering
//! is done only when the body decodes, as `ixp.features.processing.ProcessRequest`, to a message
//! with `userId` and `options` unset:
//! - the body is one JSON object (the strict parser of [`render::json`](crate::render::json):
//!   whatever it accepts, msgspec decodes the same way; numbers outside i64/u64 or overflowing
//!   floats are refused anywhere, though msgspec skips them in unknown members);
//! - every `message` member is a string, and there is one (msgspec checks each duplicate and
//!   keeps the last);
//! - every `userId` member is `null`, every `options` member is `null` or `{}` (`{}` merges
//!   nothing); other members are ignored, as msgspec ignores unknown fields;
//! - the message is at most `max_chars` characters (Python's `len`: code points; the parser
//!   refuses lone surrogates, as msgspec does) and not blank once normalized (else 413 or 400,
//!   the ordinary path's to write).

use crate::normalize::normalize;
use crate::render::json::{self, Value};
use crate::render::with_arena;

/// `f` of the match-cache key (the normalized message) of a body the lane may answer, or
/// `None` when it may not (see the module documentation).
pub fn with_lane_key<R>(body: &[u8], max_chars: usize, f: impl FnOnce(&str) -> R) -> Option<R> {
    with_arena(|bump| {
        let Ok(Value::Object(members)) = json::parse(body, bump, false) else {
            return None;
        };
        let mut message = None;
        for (key, value) in members.iter() {
            match (key.as_str(), value) {
                ("message", Value::Str(s)) => message = Some(s.as_str()),
                ("userId", Value::Null) | ("options", Value::Null) => {}
                ("options", Value::Object([])) => {}
                ("message" | "userId" | "options", _) => return None,
                _ => {}
            }
        }
        let message = message?;
        // A string has at least as many bytes as characters: count only when it may be over.
        if message.len() > max_chars && message.chars().count() > max_chars {
            return None;
        }
        let key = normalize(message);
        (!key.is_empty()).then(|| f(&key))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(body: &str) -> Option<String> {
        with_lane_key(body.as_bytes(), 10, str::to_owned)
    }

    #[test]
    fn answerable_bodies_give_the_normalized_message() {
        assert_eq!(key(r#"{"message":"hi"}"#).as_deref(), Some("hi"));
        assert_eq!(
            key(" {\"message\" : \"  a \\t b \"} \n").as_deref(),
            Some("a b")
        );
        assert_eq!(key(r#"{"mess\u0061ge":"x\u00e9"}"#).as_deref(), Some("xé"));
        assert_eq!(
            key(r#"{"message":"a","message":"b"}"#).as_deref(),
            Some("b")
        );
        assert_eq!(
            key(r#"{"userId":null,"options":null,"message":"m","options":{},"x":[1,{"y":2}]}"#)
                .as_deref(),
            Some("m")
        );
        // Ten characters, more bytes.
        assert_eq!(
            key(r#"{"message":"éééééééééé"}"#).as_deref(),
            Some("éééééééééé")
        );
    }

    #[test]
    fn everything_else_is_declined() {
        for body in [
            "",
            "   ",
            "[]",
            r#""message""#,
            r#"{"message":"a""#,
            r#"{"message":"a"} x"#,
            "{}",
            r#"{"messages":["a"]}"#,
            r#"{"message":null}"#,
            r#"{"message":1,"message":"b"}"#,
            r#"{"message":"a","message":2}"#,
            r#"{"message":"a","userId":1}"#,
            r#"{"message":"a","userId":"7"}"#,
            r#"{"message":"a","userId":5,"userId":null}"#,
            r#"{"message":"a","options":{"limit":1}}"#,
            r#"{"message":"a","options":[]}"#,
            r#"{"message":"a","options":{},"options":3}"#,
            r#"{"message":"a","extra":123456789012345678901234567890}"#,
            r#"{"message":"a","extra":1e999}"#,
            r#"{"message":"\ud800"}"#,
            "{\"message\":\"a\u{1}\"}",
            r#"{"message":"   "}"#,
            r#"{"message":""}"#,
            r#"{"message":"abcdefghijk"}"#,
            r#"{"message":"ééééééééééé"}"#,
            "\u{feff}{\"message\":\"a\"}",
        ] {
            assert_eq!(key(body), None, "{body:?}");
        }
        assert_eq!(
            with_lane_key(b"{\"message\":\"a\xff\"}", 10, str::to_owned),
            None
        );
    }

    #[test]
    fn the_limit_counts_characters_before_normalizing() {
        // Eleven characters, ten once trimmed: still over the limit (Python checks `len` first).
        assert_eq!(key(r#"{"message":" abcdefghij"}"#), None);
        assert_eq!(
            key(r#"{"message":"abcdefghij"}"#).as_deref(),
            Some("abcdefghij")
        );
    }
}
