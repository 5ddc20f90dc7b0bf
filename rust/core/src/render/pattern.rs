//! Regular expressions: the subset on which Python's `re.search` and Rust's `regex` agree.

use regex::Regex;
use regex_syntax::ast::{
    self, AssertionKind, Ast, ClassSet, ClassSetItem, GroupKind, LiteralKind, RepetitionKind,
};

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
pub struct Pattern {
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
    pub fn new(pattern: &str) -> Result<Self, String> {
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
    pub fn search(&self, text: &str) -> Option<bool> {
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

    /// Whether the pattern matches anywhere in `text`, by `regex` (linear time) for every string:
    /// [`Pattern::search`] where it decides, `regex`'s reading of the few strings it leaves to
    /// Python (Unicode classes on non-ASCII text, `\s` on `\x1c`–`\x1f`, `$` before a final `\n`).
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
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
