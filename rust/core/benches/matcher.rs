//! Engine comparison for `IntentMatcher`: `regex::RegexSet` vs `regex_automata::meta::Regex`
//! (multi-pattern, `MatchKind::All`, no capture states), each with the default lazy-DFA cache
//! of the `regex` crate (2 MiB) and with ixp's default, on 1,000 generated intent patterns and
//! early-, late- and non-matching messages.
//!
//! `cargo bench -p ixp-core --bench matcher`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ixp_core::matcher::DEFAULT_DFA_SIZE_LIMIT;
use ixp_core::{Engine, IntentMatcher, MatcherOptions};

/// Deterministic xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "pe", "da", "gu", "fi", "zo", "be", "chi",
    "mar", "ten", "sol", "qua", "rin", "dex", "lan", "por", "vel",
];

fn word(rng: &mut Rng) -> String {
    let n = 2 + rng.below(3);
    (0..n)
        .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
        .collect()
}

/// 1,000 realistic patterns: literal words, alternations, optional parts, named groups.
type Entry = (String, String, i64);

fn patterns(n: usize) -> (Vec<Entry>, Vec<Vec<String>>) {
    let mut rng = Rng(0x1DC0_FFEE);
    let mut entries = Vec::new();
    let mut words_of = Vec::new();
    for i in 0..n {
        let w: Vec<String> = (0..4).map(|_| word(&mut rng)).collect();
        let pattern = match i % 5 {
            0 => format!(r"\b(?:{}|{}|{})\b", w[0], w[1], w[2]),
            1 => format!(r"{} (?:in|at|for) (?P<city>\w+)", w[0]),
            2 => format!(r"^(?:please )?{} {}(?: (?P<item>\w+))?", w[0], w[1]),
            3 => format!(
                r"(?:show|list|find) (?:me )?(?:the )?{} (?P<count>\d+)",
                w[0]
            ),
            _ => format!(r"{}.*\b{}s?\b", w[0], w[1]),
        };
        entries.push((format!("intent_{i}"), pattern, (i % 3) as i64));
        words_of.push(w);
    }
    (entries, words_of)
}

/// A message that matches entry `i` (see `patterns`).
fn matching_message(i: usize, w: &[String], prefix: &str) -> String {
    let core = match i % 5 {
        0 => w[1].clone(),
        1 => format!("{} in Paris", w[0]),
        2 => format!("{} {} now", w[0], w[1]),
        3 => format!("show me the {} 42", w[0]),
        _ => format!("{} and some {}s", w[0], w[1]),
    };
    if i % 5 == 2 {
        core // anchored at the start
    } else {
        format!("{prefix}{core}")
    }
}

fn messages(words_of: &[Vec<String>]) -> [(&'static str, Vec<String>); 3] {
    let filler = "could you please tell me what is going on with the thing I asked yesterday ";
    let n = words_of.len();
    let early: Vec<String> = (0..50)
        .map(|i| matching_message(i, &words_of[i], ""))
        .collect();
    let late: Vec<String> = (n - 50..n)
        .map(|i| matching_message(i, &words_of[i], filler))
        .collect();
    let none: Vec<String> = (0..50)
        .map(|i| format!("{filler}about order number {i} and the weather xyzzy plugh"))
        .collect();
    [("early", early), ("late", late), ("none", none)]
}

fn bench_engines(c: &mut Criterion) {
    let (entries, words_of) = patterns(1_000);
    let sets = messages(&words_of);
    let configs = [
        ("regexset_2MiB", Engine::RegexSet, 2 << 20),
        ("regexset_default", Engine::RegexSet, DEFAULT_DFA_SIZE_LIMIT),
        ("meta_2MiB", Engine::Meta, 2 << 20),
        ("meta_8MiB", Engine::Meta, 8 << 20),
        ("meta_default", Engine::Meta, DEFAULT_DFA_SIZE_LIMIT),
    ];
    let mut group = c.benchmark_group("matcher_1000");
    group.sample_size(30);
    for (name, engine, dfa) in configs {
        let options = MatcherOptions {
            engine,
            dfa_size_limit: dfa,
            ..MatcherOptions::default()
        };
        let m = IntentMatcher::new(entries.clone(), &options).expect("patterns build");
        for (class, msgs) in &sets {
            // Sanity: the classes really are early/late/none.
            let hits = msgs.iter().filter(|t| m.find(t).is_some()).count();
            assert_eq!(hits == 0, *class == "none", "{name}/{class}: {hits} hits");
            group.throughput(Throughput::Elements(msgs.len() as u64));
            group.bench_with_input(BenchmarkId::new(name, class), msgs, |b, msgs| {
                b.iter(|| {
                    for t in msgs {
                        black_box(m.find(black_box(t)));
                    }
                })
            });
        }
    }
    group.finish();
}

fn bench_build(c: &mut Criterion) {
    let (entries, _) = patterns(1_000);
    let mut group = c.benchmark_group("matcher_build_1000");
    group.sample_size(10);
    for (name, engine) in [("regexset", Engine::RegexSet), ("meta", Engine::Meta)] {
        let options = MatcherOptions {
            engine,
            ..MatcherOptions::default()
        };
        group.bench_function(name, |b| {
            b.iter(|| IntentMatcher::new(entries.clone(), &options).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_engines, bench_build);
criterion_main!(benches);
