//! `LruCache`: a bounded map from string keys to values, least-recently-used eviction,
//! optional time-to-live per cache and per entry, and hit/miss/eviction/expiration counters.
//!
//! Values the cache lets go of (evicted, expired, replaced, deleted, cleared) are handed back
//! to the caller instead of being dropped inside, so that a wrapper holding a lock can drop
//! them after releasing it (a Python `__del__` may re-enter the cache).
//!
//! Storage: a slab of slots linked into a doubly-linked recency list by index, and a
//! `hashbrown::HashTable` of slot indices keyed by the key's hash, so each key is stored once.
//!
//! Semantics:
//! - `get` of a live entry: hit, the entry becomes most recent.
//! - `get` of an expired entry: expiration + miss, the entry is removed.
//! - `get` of an absent key: miss.
//! - `insert` of a new key into a full cache evicts the least recently used entry (counted as
//!   an eviction even if that entry happened to be expired already).
//! - `get_if` is `get` for a caller that wants only some values: a live entry it accepts is a hit
//!   (most recent); anything else — absent, expired, refused — touches nothing and counts nothing,
//!   so that the caller can fall back to `get` with the same effects as if it had not looked.
//! - `contains` touches nothing: no counters, no recency change; expired → false.
//! - `peek_mut` touches nothing either: the live entry's value, to change it in place.
//! - `remove` of an expired entry removes it, counts an expiration, and reports `false`.
//! - `len` counts stored entries, including expired ones not yet noticed.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::error::CacheError;

/// A monotonic clock in nanoseconds; injectable so that TTL tests need not sleep.
pub trait Clock {
    fn now_nanos(&self) -> u64;
}

/// The real clock: nanoseconds since the cache was created (`Instant`, monotonic).
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A clock that only moves when told to (for tests). Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Converts a TTL in seconds to nanoseconds: finite and > 0, else an error.
/// Huge values saturate (effectively "never").
pub fn ttl_from_secs(seconds: f64) -> Result<u64, CacheError> {
    if seconds.is_finite() && seconds > 0.0 {
        let nanos = seconds * 1e9;
        Ok(if nanos >= u64::MAX as f64 {
            u64::MAX
        } else {
            (nanos as u64).max(1)
        })
    } else {
        Err(CacheError::BadTtl(format!("{seconds}")))
    }
}

/// Counters, as `stats()` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub expirations: u64,
    pub size: usize,
    pub capacity: usize,
}

/// Result of [`LruCache::get`].
#[derive(Debug)]
pub enum Lookup<'a, V> {
    Hit(&'a V),
    Miss,
    /// The entry had expired: it was removed and its value is handed back.
    Expired(V),
}

const NIL: u32 = u32::MAX;
const NEVER: u64 = u64::MAX;

struct Slot<V> {
    key: Box<str>,
    hash: u64,
    /// `None` only while the slot is on the free list.
    value: Option<V>,
    expires_at: u64,
    prev: u32,
    next: u32,
}

/// See the module documentation.
pub struct LruCache<V, C: Clock = MonotonicClock> {
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    slots: Vec<Slot<V>>,
    free: Vec<u32>,
    /// Most recently used.
    head: u32,
    /// Least recently used.
    tail: u32,
    len: usize,
    capacity: usize,
    default_ttl: Option<u64>,
    clock: C,
    hits: u64,
    misses: u64,
    evictions: u64,
    expirations: u64,
}

impl<V> LruCache<V, MonotonicClock> {
    /// `capacity >= 1`; `ttl` in seconds (finite, > 0) or `None` for no expiry.
    pub fn new(capacity: usize, ttl: Option<f64>) -> Result<Self, CacheError> {
        Self::with_clock(capacity, ttl, MonotonicClock::default())
    }
}

impl<V, C: Clock> LruCache<V, C> {
    pub fn with_clock(capacity: usize, ttl: Option<f64>, clock: C) -> Result<Self, CacheError> {
        if capacity == 0 {
            return Err(CacheError::ZeroCapacity);
        }
        // Slot indices are u32 (NIL reserved).
        let capacity = capacity.min(NIL as usize - 1);
        let default_ttl = ttl.map(ttl_from_secs).transpose()?;
        let initial = capacity.min(1024);
        Ok(LruCache {
            table: HashTable::with_capacity(initial),
            hasher: DefaultHashBuilder::default(),
            slots: Vec::with_capacity(initial),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            len: 0,
            capacity,
            default_ttl,
            clock,
            hits: 0,
            misses: 0,
            evictions: 0,
            expirations: 0,
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stored entries (including expired ones not yet noticed).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn default_ttl_nanos(&self) -> Option<u64> {
        self.default_ttl
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits,
            misses: self.misses,
            evictions: self.evictions,
            expirations: self.expirations,
            size: self.len,
            capacity: self.capacity,
        }
    }

    #[inline]
    fn find(&self, key: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |&i| &*self.slots[i as usize].key == key)
            .copied()
    }

    #[inline]
    fn expired(&self, slot: u32, now: u64) -> bool {
        now >= self.slots[slot as usize].expires_at
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let s = &self.slots[i as usize];
            (s.prev, s.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let s = &mut self.slots[i as usize];
            s.prev = NIL;
            s.next = old;
        }
        if old == NIL {
            self.tail = i;
        } else {
            self.slots[old as usize].prev = i;
        }
        self.head = i;
    }

    /// Removes slot `i` entirely and returns its value.
    fn remove_slot(&mut self, i: u32) -> V {
        self.unlink(i);
        let hash = self.slots[i as usize].hash;
        if let Ok(entry) = self.table.find_entry(hash, |&j| j == i) {
            entry.remove();
        }
        let slot = &mut self.slots[i as usize];
        slot.key = Box::from("");
        let value = slot.value.take().expect("occupied slot");
        self.free.push(i);
        self.len -= 1;
        value
    }

    /// Looks `key` up, counting a hit or a miss (and an expiration).
    pub fn get(&mut self, key: &str) -> Lookup<'_, V> {
        let Some(i) = self.find(key) else {
            self.misses += 1;
            return Lookup::Miss;
        };
        if self.slots[i as usize].expires_at != NEVER && self.expired(i, self.clock.now_nanos()) {
            self.misses += 1;
            self.expirations += 1;
            return Lookup::Expired(self.remove_slot(i));
        }
        self.hits += 1;
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
        Lookup::Hit(
            self.slots[i as usize]
                .value
                .as_ref()
                .expect("occupied slot"),
        )
    }

    /// The live entry of `key` if `accept` takes its value: then a hit, made most recent, as
    /// [`LruCache::get`] does. Otherwise (absent, expired or refused) `None`, with no counter,
    /// recency or removal: a later `get` of the key has the effects it would have had alone.
    pub fn get_if(&mut self, key: &str, accept: impl FnOnce(&V) -> bool) -> Option<&V> {
        let i = self.live(key)?;
        if !accept(self.slots[i as usize].value.as_ref()?) {
            return None;
        }
        self.hits += 1;
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
        self.slots[i as usize].value.as_ref()
    }

    /// The value of `key`'s live entry, to change in place. Touches no counter and no recency.
    pub fn peek_mut(&mut self, key: &str) -> Option<&mut V> {
        let i = self.live(key)?;
        self.slots[i as usize].value.as_mut()
    }

    /// The slot of `key` when it is present and not expired.
    #[inline]
    fn live(&self, key: &str) -> Option<u32> {
        let i = self.find(key)?;
        let s = &self.slots[i as usize];
        (s.expires_at == NEVER || !self.expired(i, self.clock.now_nanos())).then_some(i)
    }

    /// Is `key` present and not expired? Touches no counter and no recency.
    pub fn contains(&self, key: &str) -> bool {
        self.live(key).is_some()
    }

    /// Inserts or replaces `key`, making it most recent. `ttl_nanos` overrides the default TTL
    /// (`None`: use the cache's default). Returns the value let go of: the replaced value, or
    /// the evicted least-recently-used value when the cache was full.
    pub fn insert(&mut self, key: &str, value: V, ttl_nanos: Option<u64>) -> Option<V> {
        let ttl = ttl_nanos.or(self.default_ttl);
        let expires_at = match ttl {
            Some(t) => self.clock.now_nanos().saturating_add(t).min(NEVER - 1),
            None => NEVER,
        };
        if let Some(i) = self.find(key) {
            let slot = &mut self.slots[i as usize];
            slot.expires_at = expires_at;
            let old = slot.value.replace(value);
            if self.head != i {
                self.unlink(i);
                self.push_front(i);
            }
            return old;
        }
        let mut evicted = None;
        if self.len >= self.capacity {
            let lru = self.tail;
            evicted = Some(self.remove_slot(lru));
            self.evictions += 1;
        }
        let hash = self.hasher.hash_one(key);
        let slot = Slot {
            key: Box::from(key),
            hash,
            value: Some(value),
            expires_at,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.table
            .insert_unique(hash, i, |&j| slots[j as usize].hash);
        self.push_front(i);
        self.len += 1;
        evicted
    }

    /// Removes `key`. Returns (whether a live entry was removed, the value let go of).
    pub fn remove(&mut self, key: &str) -> (bool, Option<V>) {
        match self.find(key) {
            Some(i) => {
                let live = self.slots[i as usize].expires_at == NEVER
                    || !self.expired(i, self.clock.now_nanos());
                if !live {
                    self.expirations += 1;
                }
                (live, Some(self.remove_slot(i)))
            }
            None => (false, None),
        }
    }

    /// Removes every entry (counters are kept) and returns the values.
    pub fn clear(&mut self) -> Vec<V> {
        let values = self.slots.drain(..).filter_map(|s| s.value).collect();
        self.table.clear();
        self.free.clear();
        self.head = NIL;
        self.tail = NIL;
        self.len = 0;
        values
    }

    /// Keys from most to least recently used (for tests and debugging).
    pub fn keys(&self) -> Vec<&str> {
        let mut out = Vec::with_capacity(self.len);
        let mut i = self.head;
        while i != NIL {
            let s = &self.slots[i as usize];
            out.push(&*s.key);
            i = s.next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn cache(cap: usize, ttl: Option<f64>) -> (LruCache<i32, ManualClock>, ManualClock) {
        let clock = ManualClock::default();
        (
            LruCache::with_clock(cap, ttl, clock.clone()).unwrap(),
            clock,
        )
    }

    fn hit(c: &mut LruCache<i32, ManualClock>, k: &str) -> Option<i32> {
        match c.get(k) {
            Lookup::Hit(v) => Some(*v),
            _ => None,
        }
    }

    #[test]
    fn bad_arguments() {
        assert_eq!(
            LruCache::<i32>::new(0, None).err(),
            Some(CacheError::ZeroCapacity)
        );
        for ttl in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(LruCache::<i32>::new(1, Some(ttl)).is_err());
        }
        assert!(LruCache::<i32>::new(1, Some(1e-9)).is_ok());
    }

    #[test]
    fn eviction_order_and_counters() {
        let (mut c, _) = cache(2, None);
        assert_eq!(c.insert("a", 1, None), None);
        assert_eq!(c.insert("b", 2, None), None);
        assert_eq!(hit(&mut c, "a"), Some(1)); // a is now most recent
        assert_eq!(c.insert("c", 3, None), Some(2)); // evicts b
        assert_eq!(c.keys(), ["c", "a"]);
        assert!(!c.contains("b"));
        assert_eq!(hit(&mut c, "b"), None);
        assert_eq!(c.insert("a", 10, None), Some(1)); // replace, no eviction
        assert_eq!(c.keys(), ["a", "c"]);
        let s = c.stats();
        assert_eq!(
            (
                s.hits,
                s.misses,
                s.evictions,
                s.expirations,
                s.size,
                s.capacity
            ),
            (1, 1, 1, 0, 2, 2)
        );
        assert_eq!(c.remove("a"), (true, Some(10)));
        assert_eq!(c.remove("a"), (false, None));
        assert_eq!(c.clear(), vec![3]);
        assert!(c.is_empty());
        assert_eq!(c.insert("z", 1, None), None);
        assert_eq!(c.keys(), ["z"]);
    }

    #[test]
    fn contains_does_not_touch() {
        let (mut c, _) = cache(2, None);
        c.insert("a", 1, None);
        c.insert("b", 2, None);
        assert!(c.contains("a"));
        assert_eq!(c.stats().hits + c.stats().misses, 0);
        c.insert("c", 3, None); // a is still LRU
        assert!(!c.contains("a"));
    }

    #[test]
    fn get_if_counts_only_what_it_takes() {
        let (mut c, clock) = cache(2, Some(1.0));
        c.insert("a", 1, None);
        c.insert("b", 2, None);
        // Refused: no counter, no recency (a stays least recent), nothing removed.
        assert_eq!(c.get_if("a", |v| *v == 9), None);
        assert_eq!(c.get_if("zz", |_| true), None);
        assert_eq!(c.keys(), ["b", "a"]);
        assert_eq!(c.stats().hits + c.stats().misses, 0);
        // Taken: a hit, made most recent, as `get` would.
        assert_eq!(c.get_if("a", |v| *v == 1), Some(&1));
        assert_eq!(c.keys(), ["a", "b"]);
        assert_eq!((c.stats().hits, c.stats().misses), (1, 0));
        // In place: no counter, no recency.
        *c.peek_mut("b").unwrap() = 20;
        assert_eq!(c.keys(), ["a", "b"]);
        assert_eq!(c.stats().hits, 1);
        // Expired: left for `get` to notice and count, exactly as if `get_if` had not looked.
        clock.advance(Duration::from_secs(1));
        assert_eq!(c.get_if("b", |_| true), None);
        assert_eq!(c.peek_mut("b"), None);
        assert_eq!(c.len(), 2);
        assert_eq!(c.stats().expirations, 0);
        assert!(matches!(c.get("b"), Lookup::Expired(20)));
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.expirations), (1, 1, 1));
    }

    #[test]
    fn ttl_default_and_per_entry() {
        let (mut c, clock) = cache(10, Some(1.0));
        c.insert("default", 1, None);
        c.insert("long", 2, Some(ttl_from_secs(5.0).unwrap()));
        clock.advance(Duration::from_millis(999));
        assert!(c.contains("default"));
        clock.advance(Duration::from_millis(1));
        assert!(!c.contains("default"));
        assert_eq!(c.len(), 2); // not yet noticed
        assert!(matches!(c.get("default"), Lookup::Expired(1)));
        assert_eq!(c.len(), 1);
        assert_eq!(hit(&mut c, "long"), Some(2));
        clock.advance(Duration::from_secs(4));
        assert_eq!(c.remove("long"), (false, Some(2)));
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.expirations), (1, 1, 2));
        // Re-setting refreshes the deadline.
        c.insert("x", 1, None);
        clock.advance(Duration::from_millis(600));
        c.insert("x", 2, None);
        clock.advance(Duration::from_millis(600));
        assert_eq!(hit(&mut c, "x"), Some(2));
    }

    #[test]
    fn no_ttl_never_expires() {
        let (mut c, clock) = cache(1, None);
        c.insert("a", 1, None);
        clock.advance(Duration::from_secs(1 << 40));
        assert_eq!(hit(&mut c, "a"), Some(1));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Get(u8),
        /// `get_if` taking even values only.
        GetIfEven(u8),
        Set(u8, i32),
        Del(u8),
        Contains(u8),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..12).prop_map(Op::Get),
            2 => (0u8..12).prop_map(Op::GetIfEven),
            4 => (0u8..12, any::<i32>()).prop_map(|(k, v)| Op::Set(k, v)),
            1 => (0u8..12).prop_map(Op::Del),
            1 => (0u8..12).prop_map(Op::Contains),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        /// Against a VecDeque model (front = most recent).
        #[test]
        fn matches_vecdeque_model(cap in 1usize..6, ops in prop::collection::vec(op(), 0..200)) {
            let (mut c, _) = cache(cap, None);
            let mut model: VecDeque<(String, i32)> = VecDeque::new();
            let (mut hits, mut misses, mut evictions) = (0u64, 0u64, 0u64);
            for op in ops {
                match op {
                    Op::Get(k) => {
                        let k = k.to_string();
                        let want = model.iter().position(|(mk, _)| *mk == k).map(|p| {
                            let e = model.remove(p).unwrap();
                            let v = e.1;
                            model.push_front(e);
                            v
                        });
                        if want.is_some() { hits += 1 } else { misses += 1 }
                        prop_assert_eq!(hit(&mut c, &k), want);
                    }
                    Op::GetIfEven(k) => {
                        let k = k.to_string();
                        let want = model.iter().position(|(mk, v)| *mk == k && v % 2 == 0).map(|p| {
                            let e = model.remove(p).unwrap();
                            let v = e.1;
                            model.push_front(e);
                            v
                        });
                        if want.is_some() { hits += 1 }
                        prop_assert_eq!(c.get_if(&k, |v| v % 2 == 0).copied(), want);
                    }
                    Op::Set(k, v) => {
                        let k = k.to_string();
                        let mut want = None;
                        if let Some(p) = model.iter().position(|(mk, _)| *mk == k) {
                            want = Some(model.remove(p).unwrap().1);
                        } else if model.len() == cap {
                            want = Some(model.pop_back().unwrap().1);
                            evictions += 1;
                        }
                        model.push_front((k.clone(), v));
                        prop_assert_eq!(c.insert(&k, v, None), want);
                    }
                    Op::Del(k) => {
                        let k = k.to_string();
                        let want = model.iter().position(|(mk, _)| *mk == k).map(|p| model.remove(p).unwrap().1);
                        prop_assert_eq!(c.remove(&k), (want.is_some(), want));
                    }
                    Op::Contains(k) => {
                        let k = k.to_string();
                        prop_assert_eq!(c.contains(&k), model.iter().any(|(mk, _)| *mk == k));
                    }
                    Op::Clear => {
                        let mut got = c.clear();
                        let mut want: Vec<i32> = model.drain(..).map(|e| e.1).collect();
                        got.sort_unstable();
                        want.sort_unstable();
                        prop_assert_eq!(got, want);
                    }
                }
                let keys: Vec<&str> = model.iter().map(|(k, _)| k.as_str()).collect();
                prop_assert_eq!(c.keys(), keys);
                prop_assert_eq!(c.len(), model.len());
            }
            let s = c.stats();
            prop_assert_eq!((s.hits, s.misses, s.evictions), (hits, misses, evictions));
        }
    }
}
