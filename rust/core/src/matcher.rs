//! `IntentMatcher`: many regex patterns searched in one pass; the matching entry with the
//! highest priority wins (ties: the earlier entry), and its named groups become parameters.
//!
//! Every engine used here is a finite automaton (lazy DFA; the `regex` crate's PikeVM /
//! one-pass DFA / bounded backtracker for captures, all linear), so matching time is linear in
//! the length of the message whatever the patterns are. No backtracking engine.
//!
//! How it works:
//! 1. Each pattern is compiled on its own (`regex::Regex`, exact semantics, used for captures
//!    and verification) and *widened* into a cheap superset pattern: large Unicode classes such
//!    as `\w`/`\d` become "their ASCII part, or any non-ASCII character", and Unicode word
//!    boundaries become empty. A Unicode `\w` costs ~18 KB of NFA; its widened form well under
//!    1 KB, so 1,000 patterns fit the default 10 MiB limit, and the lazy DFA never has to give
//!    up on a non-ASCII message because of a Unicode `\b`.
//! 2. The widened patterns are compiled into ONE multi-pattern automaton, in *rank order*
//!    (priority descending, then entry order), so that pattern id == rank. One overlapping
//!    search reports every candidate.
//! 3. Candidates are verified in rank order with their exact `Regex` (captures); the first that
//!    really matches wins. A pattern whose widened form is identical to the original and which
//!    has no named groups needs no verification at all.

use std::borrow::Cow;
use std::cell::RefCell;

use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_automata::{meta, Input, MatchKind, PatternSet};
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look, Repetition};

use crate::error::MatcherError;
use crate::normalize::normalize;

/// Which multi-pattern engine finds the matching patterns. Both are linear-time; they differ
/// in the configuration knobs they expose. `Meta` is the default (see `benches/matcher.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// `regex::RegexSet::matches`.
    RegexSet,
    /// `regex_automata::meta::Regex` built from all patterns with `MatchKind::All`, no
    /// capture states, and `which_overlapping_matches` into a reused `PatternSet`.
    #[default]
    Meta,
}

/// Default capacity of the lazy-DFA cache of the multi-pattern automaton (per thread that
/// uses the matcher). With ~1,000 patterns the default of the `regex` crate (2 MiB) makes the
/// lazy DFA give up and fall back to the (much slower) PikeVM; see `benches/matcher.rs`.
pub const DEFAULT_DFA_SIZE_LIMIT: usize = 32 * 1024 * 1024;

/// Default limit on the size of a compiled program (one pattern, or all of them together).
pub const DEFAULT_SIZE_LIMIT: usize = 10 * 1024 * 1024;

/// Build options.
#[derive(Debug, Clone)]
pub struct MatcherOptions {
    pub case_insensitive: bool,
    /// Limit, in bytes, on the compiled NFA of each pattern and of the whole set.
    pub size_limit: usize,
    /// Capacity, in bytes, of the lazy-DFA cache of the multi-pattern automaton.
    pub dfa_size_limit: usize,
    pub engine: Engine,
}

impl Default for MatcherOptions {
    fn default() -> Self {
        MatcherOptions {
            case_insensitive: true,
            size_limit: DEFAULT_SIZE_LIMIT,
            dfa_size_limit: DEFAULT_DFA_SIZE_LIMIT,
            engine: Engine::default(),
        }
    }
}

/// One named group that participated in the winning match: `name` indexes
/// [`IntentMatcher::group_names`], `start..end` is a byte range of the *normalized* text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capture {
    pub name: usize,
    pub start: usize,
    pub end: usize,
}

/// A match that borrows the searched text (see [`IntentMatcher::find_spans`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanMatch<'t> {
    /// Index of the winning entry, in the order the entries were given.
    pub entry: usize,
    /// Index into [`IntentMatcher::intents`].
    pub intent: usize,
    /// The normalized text (borrowed when normalizing changed nothing).
    pub text: Cow<'t, str>,
    /// Participating named groups, as byte ranges of `text`.
    pub captures: Vec<Capture>,
}

impl SpanMatch<'_> {
    /// The captured text of `capture`.
    pub fn value(&self, capture: &Capture) -> &str {
        &self.text[capture.start..capture.end]
    }
}

/// An owned match result (see [`IntentMatcher::find`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchResult {
    /// Index of the winning entry, in the order the entries were given.
    pub entry: usize,
    /// Index into [`IntentMatcher::intents`].
    pub intent: usize,
    /// (group name index, captured text) for each named group that participated.
    pub captures: Vec<(usize, String)>,
}

struct CompiledEntry {
    /// Position in the input.
    entry: usize,
    intent: usize,
    regex: regex::Regex,
    /// (capture group index in `regex`, index into `group_names`).
    groups: Vec<(usize, usize)>,
    /// The set reports exactly this pattern's matches (nothing was widened).
    exact: bool,
}

enum SetEngine {
    Empty,
    RegexSet(regex::RegexSet),
    Meta(meta::Regex),
}

/// See the module documentation.
pub struct IntentMatcher {
    /// Compiled entries in rank order: `ranked[i]` is pattern id `i` of the set.
    ranked: Vec<CompiledEntry>,
    intents: Vec<String>,
    group_names: Vec<String>,
    set: SetEngine,
}

impl std::fmt::Debug for IntentMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntentMatcher")
            .field("entries", &self.ranked.len())
            .field("intents", &self.intents)
            .finish()
    }
}

thread_local! {
    /// Reused `PatternSet` for the `Meta` engine, so a search allocates nothing.
    static PATTERN_SET: RefCell<PatternSet> = RefCell::new(PatternSet::new(0));
}

impl IntentMatcher {
    /// Builds a matcher from `(intent name, pattern, priority)` entries.
    pub fn new<I, N, P>(entries: I, options: &MatcherOptions) -> Result<Self, MatcherError>
    where
        I: IntoIterator<Item = (N, P, i64)>,
        N: AsRef<str>,
        P: AsRef<str>,
    {
        let mut intents: Vec<String> = Vec::new();
        let mut intent_ids: hashbrown::HashMap<String, usize> = hashbrown::HashMap::new();
        let mut group_names: Vec<String> = Vec::new();
        let mut group_ids: hashbrown::HashMap<String, usize> = hashbrown::HashMap::new();
        let mut compiled: Vec<(i64, CompiledEntry, Hir)> = Vec::new();

        let mut parser = regex_syntax::ParserBuilder::new();
        parser.case_insensitive(options.case_insensitive);
        for (entry, (name, pattern, priority)) in entries.into_iter().enumerate() {
            let (name, pattern) = (name.as_ref(), pattern.as_ref());
            let bad = |message: String| MatcherError::BadPattern {
                intent: name.to_owned(),
                pattern: pattern.to_owned(),
                message,
            };
            let regex = regex::RegexBuilder::new(pattern)
                .case_insensitive(options.case_insensitive)
                .size_limit(options.size_limit)
                .build()
                .map_err(|err| match err {
                    regex::Error::CompiledTooBig(limit) => MatcherError::PatternTooBig {
                        intent: name.to_owned(),
                        pattern: pattern.to_owned(),
                        limit,
                    },
                    other => bad(other.to_string()),
                })?;
            let hir = parser
                .build()
                .parse(pattern)
                .map_err(|e| bad(e.to_string()))?;
            let (widened, exact) = widen(hir);
            let intent = *intent_ids.entry_ref(name).or_insert_with(|| {
                intents.push(name.to_owned());
                intents.len() - 1
            });
            let groups: Vec<(usize, usize)> = regex
                .capture_names()
                .enumerate()
                .filter_map(|(index, group)| {
                    let group = group?;
                    let id = *group_ids.entry_ref(group).or_insert_with(|| {
                        group_names.push(group.to_owned());
                        group_names.len() - 1
                    });
                    Some((index, id))
                })
                .collect();
            compiled.push((
                priority,
                CompiledEntry {
                    entry,
                    intent,
                    regex,
                    groups,
                    exact,
                },
                widened,
            ));
        }

        // Rank order: priority descending, then entry order (stable sort keeps it).
        compiled.sort_by_key(|c| std::cmp::Reverse(c.0));
        let hirs: Vec<Hir> = compiled.iter().map(|c| c.2.clone()).collect();
        let set = if hirs.is_empty() {
            SetEngine::Empty
        } else {
            build_set(&hirs, options)?
        };
        let ranked = compiled.into_iter().map(|c| c.1).collect();
        Ok(IntentMatcher {
            ranked,
            intents,
            group_names,
            set,
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ranked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranked.is_empty()
    }

    /// Distinct intent names in first-seen order.
    pub fn intents(&self) -> &[String] {
        &self.intents
    }

    /// Distinct named-group names over all patterns, in first-seen order.
    pub fn group_names(&self) -> &[String] {
        &self.group_names
    }

    /// Searches an already normalized `text`. On a match, returns `(entry index, intent index)`
    /// and fills `captures` (cleared first) with the winner's participating named groups.
    pub fn find_normalized(
        &self,
        text: &str,
        captures: &mut Vec<Capture>,
    ) -> Option<(usize, usize)> {
        captures.clear();
        match &self.set {
            SetEngine::Empty => None,
            SetEngine::RegexSet(set) => {
                let matches = set.matches(text);
                if !matches.matched_any() {
                    return None;
                }
                matches
                    .iter()
                    .find_map(|id| self.captures_of(id, text, captures))
            }
            SetEngine::Meta(re) => PATTERN_SET.with(|cell| {
                // Not reentrant: nothing below calls back into user code.
                let mut set = cell.borrow_mut();
                if set.capacity() == self.ranked.len() {
                    set.clear();
                } else {
                    *set = PatternSet::new(self.ranked.len());
                }
                let set = &mut *set;
                re.which_overlapping_matches(&Input::new(text), set);
                if set.is_empty() {
                    return None;
                }
                set.iter()
                    .find_map(|id| self.captures_of(id.as_usize(), text, captures))
            }),
        }
    }

    /// Verifies candidate `rank` with its exact regex and extracts its captures.
    fn captures_of(
        &self,
        rank: usize,
        text: &str,
        out: &mut Vec<Capture>,
    ) -> Option<(usize, usize)> {
        let entry = &self.ranked[rank];
        if entry.groups.is_empty() {
            return (entry.exact || entry.regex.is_match(text))
                .then_some((entry.entry, entry.intent));
        }
        let caps = entry.regex.captures(text)?;
        for &(index, name) in &entry.groups {
            if let Some(m) = caps.get(index) {
                out.push(Capture {
                    name,
                    start: m.start(),
                    end: m.end(),
                });
            }
        }
        Some((entry.entry, entry.intent))
    }

    /// Normalizes `text` (see [`crate::normalize`]) and searches it, without copying
    /// anything when `text` is already normalized.
    pub fn find_spans<'t>(&self, text: &'t str) -> Option<SpanMatch<'t>> {
        let normalized: Cow<'t, str> = normalize(text);
        let mut captures = Vec::new();
        let (entry, intent) = self.find_normalized(&normalized, &mut captures)?;
        Some(SpanMatch {
            entry,
            intent,
            text: normalized,
            captures,
        })
    }

    /// Normalizes `text` (see [`crate::normalize`]) and searches it.
    pub fn find(&self, text: &str) -> Option<MatchResult> {
        let m = self.find_spans(text)?;
        let captures = m
            .captures
            .iter()
            .map(|c| (c.name, m.value(c).to_owned()))
            .collect();
        Some(MatchResult {
            entry: m.entry,
            intent: m.intent,
            captures,
        })
    }

    /// `find_spans` over many texts.
    pub fn find_many<'t>(&self, texts: &[&'t str]) -> Vec<Option<SpanMatch<'t>>> {
        texts.iter().map(|t| self.find_spans(t)).collect()
    }
}

/// Classes with more ranges than this are widened (see the module documentation).
const MAX_EXACT_CLASS_RANGES: usize = 8;

/// Returns a pattern whose language contains `hir`'s (a superset, at most as large to compile)
/// and whether it is identical to `hir`.
fn widen(hir: Hir) -> (Hir, bool) {
    match hir.into_kind() {
        HirKind::Class(Class::Unicode(class)) if class.ranges().len() > MAX_EXACT_CLASS_RANGES => {
            let ascii = ClassUnicode::new([ClassUnicodeRange::new('\0', '\x7F')]);
            let mut wide = class.clone();
            wide.intersect(&ascii);
            if class.ranges().last().is_some_and(|r| r.end() > '\x7F') {
                wide.union(&ClassUnicode::new([ClassUnicodeRange::new(
                    '\u{80}',
                    '\u{10FFFF}',
                )]));
            }
            (Hir::class(Class::Unicode(wide)), false)
        }
        HirKind::Look(
            Look::WordUnicode
            | Look::WordUnicodeNegate
            | Look::WordStartUnicode
            | Look::WordEndUnicode
            | Look::WordStartHalfUnicode
            | Look::WordEndHalfUnicode,
        ) => (Hir::empty(), false),
        HirKind::Repetition(rep) => {
            let (sub, exact) = widen(*rep.sub);
            (
                Hir::repetition(Repetition {
                    sub: Box::new(sub),
                    ..rep
                }),
                exact,
            )
        }
        // Captures are irrelevant to the set (it reports which patterns match, not where);
        // named groups are extracted by the exact regex anyway.
        HirKind::Capture(cap) => widen(*cap.sub),
        HirKind::Concat(subs) => {
            let (subs, exact) = widen_all(subs);
            (Hir::concat(subs), exact)
        }
        HirKind::Alternation(subs) => {
            let (subs, exact) = widen_all(subs);
            (Hir::alternation(subs), exact)
        }
        HirKind::Empty => (Hir::empty(), true),
        HirKind::Literal(lit) => (Hir::literal(lit.0), true),
        HirKind::Class(class) => (Hir::class(class), true),
        HirKind::Look(look) => (Hir::look(look), true),
    }
}

fn widen_all(subs: Vec<Hir>) -> (Vec<Hir>, bool) {
    let mut exact = true;
    let subs = subs
        .into_iter()
        .map(|h| {
            let (h, e) = widen(h);
            exact &= e;
            h
        })
        .collect();
    (subs, exact)
}

fn build_set(hirs: &[Hir], options: &MatcherOptions) -> Result<SetEngine, MatcherError> {
    let too_big = || MatcherError::SetTooBig {
        patterns: hirs.len(),
        limit: options.size_limit,
    };
    match options.engine {
        // Case folding is already expanded in the HIR, so the printed patterns are
        // case-sensitive and equivalent.
        Engine::RegexSet => regex::RegexSetBuilder::new(hirs.iter().map(|h| h.to_string()))
            .size_limit(options.size_limit)
            .dfa_size_limit(options.dfa_size_limit)
            .build()
            .map(SetEngine::RegexSet)
            .map_err(|err| match err {
                regex::Error::CompiledTooBig(_) => too_big(),
                other => MatcherError::Build {
                    message: other.to_string(),
                },
            }),
        Engine::Meta => meta::Regex::builder()
            .configure(
                meta::Config::new()
                    .match_kind(MatchKind::All)
                    .which_captures(WhichCaptures::None)
                    .nfa_size_limit(Some(options.size_limit))
                    .hybrid_cache_capacity(options.dfa_size_limit),
            )
            .syntax(syntax::Config::new().utf8(true))
            .build_many_from_hir(hirs)
            .map(SetEngine::Meta)
            .map_err(|err| {
                if err.size_limit().is_some() {
                    too_big()
                } else {
                    MatcherError::Build {
                        message: err.to_string(),
                    }
                }
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(entries: &[(&str, &str, i64)]) -> IntentMatcher {
        IntentMatcher::new(entries.iter().copied(), &MatcherOptions::default()).unwrap()
    }

    fn engines() -> [MatcherOptions; 2] {
        [
            MatcherOptions {
                engine: Engine::RegexSet,
                ..Default::default()
            },
            MatcherOptions {
                engine: Engine::Meta,
                ..Default::default()
            },
        ]
    }

    fn intent_of(m: &IntentMatcher, text: &str) -> Option<String> {
        m.find(text).map(|r| m.intents()[r.intent].clone())
    }

    #[test]
    fn priority_then_order() {
        for opts in engines() {
            let m = IntentMatcher::new(
                [
                    ("low", "weather", 1),
                    ("high", "weather", 5),
                    ("high2", "weather", 5),
                    ("other", "xyz", 9),
                ],
                &opts,
            )
            .unwrap();
            let r = m.find("What is the weather?").unwrap();
            assert_eq!(r.entry, 1);
            assert_eq!(m.intents()[r.intent], "high");
            assert_eq!(intent_of(&m, "nothing here"), None);
            assert_eq!(intent_of(&m, "xyz weather"), Some("other".into()));
        }
    }

    #[test]
    fn negative_priorities_and_shared_names() {
        let m = build(&[("a", "foo", -3), ("b", "foo", -1), ("a", "bar", 0)]);
        assert_eq!(m.intents(), ["a", "b"]);
        assert_eq!(m.len(), 3);
        assert_eq!(intent_of(&m, "foo"), Some("b".into()));
        assert_eq!(intent_of(&m, "foo bar"), Some("a".into()));
    }

    #[test]
    fn captures_and_non_participating_groups() {
        for opts in engines() {
            let m = IntentMatcher::new(
                [(
                    "weather",
                    r"weather in (?P<city>\w+)(?: on (?P<day>\w+))?",
                    1,
                )],
                &opts,
            )
            .unwrap();
            let r = m.find("  Weather   in Paris ").unwrap();
            let caps: Vec<(&str, &str)> = r
                .captures
                .iter()
                .map(|(n, v)| (m.group_names()[*n].as_str(), v.as_str()))
                .collect();
            assert_eq!(caps, [("city", "Paris")]);
            let r = m.find("weather in Köln on Monday").unwrap();
            assert_eq!(r.captures.len(), 2);
            assert_eq!(r.captures[0].1, "Köln");
            assert_eq!(r.captures[1].1, "Monday");
        }
    }

    #[test]
    fn case_and_unicode() {
        let m = build(&[("greet", "^straße$", 0), ("eu", "ÉTÉ", 0)]);
        assert_eq!(intent_of(&m, "STRASSE"), None); // simple case folding only
        assert_eq!(intent_of(&m, "STRAßE"), Some("greet".into()));
        assert_eq!(intent_of(&m, "un été"), Some("eu".into()));
        let cs = IntentMatcher::new(
            [("greet", "hello", 0)],
            &MatcherOptions {
                case_insensitive: false,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(intent_of(&cs, "HELLO"), None);
        assert_eq!(intent_of(&cs, "hello"), Some("greet".into()));
    }

    #[test]
    fn normalization_happens_first() {
        let m = build(&[("x", "^a b$", 0)]);
        assert_eq!(intent_of(&m, "\t a \u{a0}\n b  "), Some("x".into()));
    }

    #[test]
    fn empty_matcher() {
        let m = build(&[]);
        assert!(m.is_empty());
        assert!(m.find("anything").is_none());
    }

    #[test]
    fn errors() {
        let err = IntentMatcher::new([("bad", "a(b", 0)], &MatcherOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("\"bad\"") && msg.contains("a(b") && msg.contains("unclosed"),
            "{msg}"
        );
        let opts = MatcherOptions {
            size_limit: 1000,
            ..Default::default()
        };
        let err = IntentMatcher::new([("big", r"\w{50}", 0)], &opts).unwrap_err();
        assert!(matches!(err, MatcherError::PatternTooBig { .. }), "{err:?}");
        assert!(err.to_string().contains("\"big\""));
        // Each alone fits, together they do not.
        for engine in [Engine::Meta, Engine::RegexSet] {
            let pats: Vec<(String, String, i64)> = (0..200)
                .map(|i| (format!("i{i}"), format!("word{i}[a-z]"), 0))
                .collect();
            let opts = MatcherOptions {
                size_limit: 4000,
                engine,
                ..Default::default()
            };
            let err = IntentMatcher::new(pats, &opts).unwrap_err();
            assert!(matches!(err, MatcherError::SetTooBig { .. }), "{err:?}");
        }
    }

    #[test]
    fn widened_prefilter_is_verified() {
        for opts in engines() {
            let m = IntentMatcher::new(
                [
                    ("cat", r"\bcat\b", 9),
                    ("digits", r"^(?P<n>\d+)$", 8),
                    ("word", r"^\w+$", 7),
                    ("any", r"", 0),
                ],
                &opts,
            )
            .unwrap();
            let names = |text: &str| {
                m.find(text).map(|r| {
                    let caps: Vec<String> = r.captures.iter().map(|c| c.1.clone()).collect();
                    (m.intents()[r.intent].clone(), caps)
                })
            };
            assert_eq!(names("concatenate"), Some(("word".into(), vec![])));
            assert_eq!(names("a cat!"), Some(("cat".into(), vec![])));
            assert_eq!(names("écat"), Some(("word".into(), vec![]))); // é is a word character
            assert_eq!(names("é cat"), Some(("cat".into(), vec![])));
            assert_eq!(names("١٢٣"), Some(("digits".into(), vec!["١٢٣".into()]))); // Unicode \d
            assert_eq!(names("€€"), Some(("any".into(), vec![])));
        }
    }

    #[test]
    fn thousand_unicode_patterns_fit_the_default_limit() {
        let entries: Vec<(String, String, i64)> = (0..1000)
            .map(|i| {
                (
                    format!("i{i}"),
                    format!(r"\bword{i} (?:in|at) (?P<city>\w+)\b"),
                    0,
                )
            })
            .collect();
        let m = IntentMatcher::new(entries, &MatcherOptions::default()).unwrap();
        let r = m.find("Word999 in Köln").unwrap();
        assert_eq!(r.entry, 999);
        assert_eq!(r.captures, vec![(0, "Köln".to_owned())]);
    }

    proptest! {
        /// The winner is the matching entry with the highest priority, earliest on ties:
        /// compared with a brute-force model using one `Regex` per entry.
        #[test]
        fn winner_matches_model(
            entries in prop::collection::vec((0usize..6, -2i64..3), 1..12),
            text in "[abcé\u{a0}. ]{0,12}",
        ) {
            const WORDS: [&str; 6] = ["a", r"\bb", "ab", r"c\w\b", "^b", r"(?P<x>\w)$"];
            let entries: Vec<(String, String, i64)> = entries
                .iter()
                .enumerate()
                .map(|(i, (w, p))| (format!("i{i}"), WORDS[*w].to_owned(), *p))
                .collect();
            let normalized = normalize(&text).into_owned();
            let expected = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| regex::Regex::new(&e.1).unwrap().is_match(&normalized))
                .max_by(|(i, a), (j, b)| a.2.cmp(&b.2).then(j.cmp(i)))
                .map(|(i, _)| i);
            for opts in engines() {
                let m = IntentMatcher::new(entries.clone(), &opts).unwrap();
                prop_assert_eq!(m.find(&text).map(|r| r.entry), expected);
            }
        }
    }
}
