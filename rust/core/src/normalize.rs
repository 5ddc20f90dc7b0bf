//! Message normalization: trim Unicode whitespace and collapse every inner run of
//! Unicode whitespace (`char::is_whitespace`, i.e. the `White_Space` property) into a
//! single ASCII space. Case is left alone.

use std::borrow::Cow;

/// Normalizes `text`, borrowing it unchanged when it is already normalized (the common case
/// for short chat messages), so that the hot path allocates nothing.
pub fn normalize(text: &str) -> Cow<'_, str> {
    if is_normalized(text) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(normalize_owned(text))
    }
}

/// True when `normalize(text) == text`.
pub fn is_normalized(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_ascii() {
        // ASCII fast path: only ' ' may appear as whitespace, never at the ends, never twice.
        let mut prev_space = true; // a leading space is not allowed
        for &b in bytes {
            match b {
                b' ' => {
                    if prev_space {
                        return false;
                    }
                    prev_space = true;
                }
                b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' => return false,
                _ => prev_space = false,
            }
        }
        return !prev_space || bytes.is_empty();
    }
    let mut prev_space = true;
    for c in text.chars() {
        if c == ' ' {
            if prev_space {
                return false;
            }
            prev_space = true;
        } else if c.is_whitespace() {
            return false;
        } else {
            prev_space = false;
        }
    }
    !prev_space || text.is_empty()
}

fn normalize_owned(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basic_cases() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("   "), "");
        assert_eq!(normalize("a"), "a");
        assert_eq!(normalize("  Hello   World \t"), "Hello World");
        assert_eq!(normalize("a\u{00a0}\u{2003}b"), "a b");
        assert_eq!(normalize("\u{3000}x\u{2028}y\u{85}"), "x y");
        assert_eq!(normalize("MiXeD Case"), "MiXeD Case");
        assert_eq!(normalize("a\r\nb"), "a b");
    }

    #[test]
    fn borrows_when_already_normalized() {
        assert!(matches!(normalize("weather in paris"), Cow::Borrowed(_)));
        assert!(matches!(normalize("café au lait"), Cow::Borrowed(_)));
        assert!(matches!(normalize("two  spaces"), Cow::Owned(_)));
    }

    fn reference(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    proptest! {
        #[test]
        fn idempotent(s in "\\PC*|[ \t\n\u{a0}\u{2003}a-zé]*") {
            let once = normalize(&s).into_owned();
            let twice = normalize(&once).into_owned();
            prop_assert_eq!(&once, &twice);
            prop_assert!(is_normalized(&once));
        }

        #[test]
        fn matches_reference(s in "[ \t\r\n\u{b}\u{c}\u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{3000}a-zA-Zé€]{0,40}") {
            prop_assert_eq!(normalize(&s).into_owned(), reference(&s));
            prop_assert_eq!(is_normalized(&s), reference(&s) == s);
        }
    }
}
