//! `LatencyHistogram`: an HDR histogram of latencies in integer nanoseconds.
//!
//! - `record` clamps values above `highest` to `highest`; values below `lowest` are recorded
//!   normally (they share the lowest buckets). Nothing here panics on any input.
//! - Reported values (`min`, `max`, percentiles) are HDR-equivalent values: within
//!   `10^-significant_figures` relative of a recorded value, and never above `highest`.
//! - `merge` is exact when both histograms have the same `lowest`/`significant_figures` and
//!   the other one fits; otherwise each recorded bucket is re-recorded, clamped to `highest`.
//! - `to_bytes`: `b"IXPH"`, a version byte (1), then the HdrHistogram V2 encoding (zig-zag
//!   LEB128 counts with run-length encoded zeros; no deflate: on latency data it does not pay
//!   enough to justify a decompressor that must be guarded against bombs).

use std::io::Cursor;

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::{CreationError, Histogram};

use crate::error::HistogramError;

/// First bytes of `to_bytes` output.
pub const MAGIC: &[u8; 4] = b"IXPH";
/// Current format version (the byte after the magic).
pub const FORMAT_VERSION: u8 = 1;
/// Cookie of an uncompressed HdrHistogram V2 encoding.
const V2_COOKIE: u32 = 0x1c84_9313;
/// Size of the V2 header that precedes the payload.
const V2_HEADER_LEN: usize = 40;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    h: Histogram<u64>,
    lowest: u64,
    highest: u64,
    sigfig: u8,
}

fn creation_message(err: CreationError, lowest: u64, highest: u64, sigfig: u32) -> String {
    match err {
        CreationError::LowIsZero => "lowest must be >= 1".to_owned(),
        CreationError::LowExceedsMax => format!("lowest ({lowest}) must be <= 2**63 - 1"),
        CreationError::HighLessThanTwiceLow => {
            format!("highest ({highest}) must be >= 2 * lowest ({lowest})")
        }
        CreationError::SigFigExceedsMax => {
            format!("significant_figures ({sigfig}) must be between 0 and 5")
        }
        CreationError::CannotRepresentSigFigBeyondLow => format!(
            "significant_figures ({sigfig}) cannot be represented above lowest ({lowest}): \
             lower one of them"
        ),
        CreationError::UsizeTypeTooSmall => {
            "the range is too large for this platform: lower highest or significant_figures"
                .to_owned()
        }
    }
}

impl LatencyHistogram {
    /// `1 <= lowest`, `highest >= 2 * lowest`, `significant_figures` in `0..=5`.
    pub fn new(
        lowest: u64,
        highest: u64,
        significant_figures: u32,
    ) -> Result<Self, HistogramError> {
        let sigfig = u8::try_from(significant_figures)
            .ok()
            .filter(|s| *s <= 5)
            .ok_or_else(|| {
                HistogramError::Config(creation_message(
                    CreationError::SigFigExceedsMax,
                    lowest,
                    highest,
                    significant_figures,
                ))
            })?;
        let h = Histogram::new_with_bounds(lowest, highest, sigfig).map_err(|e| {
            HistogramError::Config(creation_message(e, lowest, highest, significant_figures))
        })?;
        Ok(LatencyHistogram {
            h,
            lowest,
            highest,
            sigfig,
        })
    }

    fn from_hdr(h: Histogram<u64>) -> Self {
        LatencyHistogram {
            lowest: h.low(),
            highest: h.high(),
            sigfig: h.sigfig(),
            h,
        }
    }

    pub fn lowest(&self) -> u64 {
        self.lowest
    }

    pub fn highest(&self) -> u64 {
        self.highest
    }

    pub fn significant_figures(&self) -> u32 {
        u32::from(self.sigfig)
    }

    /// Records one value (nanoseconds), clamped to `highest`.
    #[inline]
    pub fn record(&mut self, value: u64) {
        self.h.saturating_record(value.min(self.highest));
    }

    /// Records `count` occurrences of `value`, clamped to `highest`. Counts saturate.
    #[inline]
    pub fn record_n(&mut self, value: u64, count: u64) {
        if count > 0 {
            self.h.saturating_record_n(value.min(self.highest), count);
        }
    }

    /// Records a float value of nanoseconds, rounded to the nearest integer.
    /// Negative, NaN and infinite values are errors.
    pub fn record_f64(&mut self, value: f64) -> Result<(), HistogramError> {
        let v = checked_f64(value)?;
        self.record(v);
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// Lowest recorded value (HDR-equivalent), 0 when empty.
    pub fn min(&self) -> u64 {
        if self.h.is_empty() {
            0
        } else {
            self.h.min().min(self.highest)
        }
    }

    /// Highest recorded value (HDR-equivalent, capped at `highest`), 0 when empty.
    pub fn max(&self) -> u64 {
        if self.h.is_empty() {
            0
        } else {
            self.h.max().min(self.highest)
        }
    }

    /// Mean of the recorded values, 0.0 when empty.
    pub fn mean(&self) -> f64 {
        if self.h.is_empty() {
            0.0
        } else {
            self.h.mean()
        }
    }

    /// Value at percentile `q` (0..=100); 0 when empty.
    pub fn percentile(&self, q: f64) -> Result<u64, HistogramError> {
        if !(0.0..=100.0).contains(&q) {
            return Err(HistogramError::BadQuantile(format!("{q}")));
        }
        if self.h.is_empty() {
            return Ok(0);
        }
        Ok(self.h.value_at_quantile(q / 100.0).min(self.highest))
    }

    /// Number of recorded values `<= value` (to within the histogram's resolution: values in
    /// the same bucket as `value` count as equal to it).
    pub fn count_at_or_below(&self, value: u64) -> u64 {
        if self.h.is_empty() {
            return 0;
        }
        if value >= self.h.max() {
            return self.h.len();
        }
        self.h.count_between(0, value)
    }

    /// Adds every value of `other` into `self` (see the module documentation).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if other.h.is_empty() {
            return;
        }
        if other.lowest == self.lowest
            && other.sigfig == self.sigfig
            && other.h.max() <= self.highest
            && self.h.add(&other.h).is_ok()
        {
            return;
        }
        for v in other.h.iter_recorded() {
            self.record_n(v.value_iterated_to(), v.count_at_value());
        }
    }

    pub fn reset(&mut self) {
        self.h.reset();
    }

    /// The non-empty buckets, lowest first, as (highest value equivalent to the bucket, count).
    /// `record_n` of each pair into an empty histogram of the same configuration rebuilds this
    /// one exactly: the pairs are what the cluster metrics add up across workers.
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        self.h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// Compact, versioned serialization (see the module documentation).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        // Counts are u64 but V2 zig-zag encodes i64: clamp absurd counts so this never fails.
        let result = V2Serializer::new().serialize(&self.h, &mut out);
        if result.is_err() {
            let mut clamped = self.h.clone();
            clamped.reset();
            for v in self.h.iter_recorded() {
                clamped.saturating_record_n(
                    v.value_iterated_to(),
                    v.count_at_value().min(i64::MAX as u64 / 2),
                );
            }
            out.truncate(MAGIC.len() + 1);
            V2Serializer::new()
                .serialize(&clamped, &mut out)
                .expect("counts were clamped to a serializable range");
        }
        out
    }

    /// Decodes `to_bytes` output.
    pub fn from_bytes(data: &[u8]) -> Result<Self, HistogramError> {
        let err = |m: &str| Err(HistogramError::Decode(m.to_owned()));
        if data.len() < MAGIC.len() + 1 || &data[..MAGIC.len()] != MAGIC {
            return err("missing the IXPH magic prefix");
        }
        let version = data[MAGIC.len()];
        if version != FORMAT_VERSION {
            return Err(HistogramError::Decode(format!(
                "unsupported format version {version} (this build reads version {FORMAT_VERSION})"
            )));
        }
        let body = &data[MAGIC.len() + 1..];
        if body.len() < V2_HEADER_LEN {
            return err("truncated header");
        }
        let cookie = u32::from_be_bytes(body[0..4].try_into().expect("4 bytes"));
        if cookie != V2_COOKIE {
            return err("not an uncompressed HdrHistogram V2 encoding");
        }
        // Check the payload length before the decoder allocates a buffer of that size.
        let payload_len = u32::from_be_bytes(body[4..8].try_into().expect("4 bytes")) as usize;
        if body.len() != V2_HEADER_LEN + payload_len {
            return err(if body.len() < V2_HEADER_LEN + payload_len {
                "truncated payload"
            } else {
                "trailing bytes after the payload"
            });
        }
        let decoded = std::panic::catch_unwind(|| {
            Deserializer::new().deserialize::<u64, _>(&mut Cursor::new(body))
        });
        match decoded {
            Ok(Ok(h)) => Ok(Self::from_hdr(h)),
            Ok(Err(e)) => Err(HistogramError::Decode(format!("{e:?}"))),
            Err(_) => err("corrupt payload"),
        }
    }
}

/// Validates a float number of nanoseconds and rounds it (saturating at `u64::MAX`).
pub fn checked_f64(value: f64) -> Result<u64, HistogramError> {
    if value.is_nan() {
        return Err(HistogramError::BadValue("NaN".to_owned()));
    }
    if value.is_infinite() {
        return Err(HistogramError::BadValue(format!("{value} is not finite")));
    }
    if value < 0.0 {
        return Err(HistogramError::BadValue(format!("{value} is negative")));
    }
    Ok(value.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn default() -> LatencyHistogram {
        LatencyHistogram::new(1_000, 60_000_000_000, 3).unwrap()
    }

    #[test]
    fn config_errors() {
        for (l, h, s, needle) in [
            (0, 100, 3, "lowest must be >= 1"),
            (10, 15, 3, "2 * lowest"),
            (1, 100, 6, "between 0 and 5"),
            (1, 100, 300, "between 0 and 5"),
        ] {
            let e = LatencyHistogram::new(l, h, s).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn empty_is_zero() {
        let h = default();
        assert_eq!((h.count(), h.min(), h.max(), h.mean()), (0, 0, 0, 0.0));
        assert_eq!(h.percentile(99.0).unwrap(), 0);
        assert_eq!(h.count_at_or_below(10), 0);
    }

    #[test]
    fn record_and_clamp() {
        let mut h = default();
        h.record(5_000);
        h.record(u64::MAX);
        h.record(3); // below lowest: recorded
        h.record_n(20_000, 3);
        h.record_n(20_000, 0);
        assert_eq!(h.count(), 6);
        assert_eq!(h.max(), 60_000_000_000);
        assert_eq!(h.percentile(100.0).unwrap(), 60_000_000_000);
        assert!(h.min() <= 3);
        assert_eq!(h.count_at_or_below(10_000), 2);
        assert_eq!(h.count_at_or_below(20_000), 5);
        assert_eq!(h.count_at_or_below(u64::MAX), 6);
        assert!(h.percentile(-0.1).is_err());
        assert!(h.percentile(100.1).is_err());
        assert!(h.percentile(f64::NAN).is_err());
        assert!(checked_f64(-1.0).is_err());
        assert!(checked_f64(f64::NAN).is_err());
        assert!(checked_f64(f64::INFINITY).is_err());
        assert_eq!(checked_f64(1.6).unwrap(), 2);
        assert_eq!(checked_f64(1e30).unwrap(), u64::MAX);
        h.reset();
        assert_eq!(h.count(), 0);
    }

    #[test]
    fn merge_exact_and_clamped() {
        let mut a = default();
        let mut b = default();
        a.record_n(1_500, 10);
        b.record_n(2_500_000, 5);
        a.merge(&b);
        assert_eq!(a.count(), 15);
        assert_eq!(a.count_at_or_below(2_000), 10);
        let mut wide = LatencyHistogram::new(1, u64::MAX / 4, 2).unwrap();
        wide.record_n(u64::MAX / 8, 7);
        wide.record(1);
        a.merge(&wide);
        assert_eq!(a.count(), 23);
        assert_eq!(a.max(), 60_000_000_000);
    }

    #[test]
    fn buckets_rebuild_the_histogram() {
        let mut h = LatencyHistogram::new(1_000, 60_000_000_000, 2).unwrap();
        for v in [1_000, 1_500, 1_510, 2_000_000, 2_000_000, 59_000_000_000] {
            h.record(v);
        }
        let buckets = h.buckets();
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 6);
        assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0));
        let mut rebuilt = LatencyHistogram::new(1_000, 60_000_000_000, 2).unwrap();
        for (value, count) in &buckets {
            rebuilt.record_n(*value, *count);
        }
        assert_eq!(rebuilt.buckets(), buckets);
        assert_eq!(rebuilt.to_bytes(), h.to_bytes());
        assert!(LatencyHistogram::new(1_000, 2_000, 2)
            .unwrap()
            .buckets()
            .is_empty());
    }

    #[test]
    fn bytes_round_trip_and_corruption() {
        let mut h = default();
        for v in [1_000u64, 1_234_567, 99, 60_000_000_000, 42_000] {
            h.record_n(v, v % 7 + 1);
        }
        let bytes = h.to_bytes();
        assert_eq!(&bytes[..5], b"IXPH\x01");
        let back = LatencyHistogram::from_bytes(&bytes).unwrap();
        assert_eq!(back.count(), h.count());
        assert_eq!(
            (back.lowest(), back.highest(), back.significant_figures()),
            (1_000, 60_000_000_000, 3)
        );
        for q in [0.0, 10.0, 50.0, 99.0, 100.0] {
            assert_eq!(back.percentile(q).unwrap(), h.percentile(q).unwrap());
        }
        assert!(LatencyHistogram::from_bytes(b"").is_err());
        assert!(LatencyHistogram::from_bytes(b"XXXX\x01").is_err());
        let mut v2 = bytes.clone();
        v2[4] = 2;
        assert!(LatencyHistogram::from_bytes(&v2)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
        for cut in 0..bytes.len() {
            assert!(
                LatencyHistogram::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(LatencyHistogram::from_bytes(&extra).is_err());
        // Empty histograms round-trip too.
        let e = LatencyHistogram::from_bytes(&default().to_bytes()).unwrap();
        assert_eq!(e.count(), 0);
    }

    proptest! {
        /// Percentiles agree with exact sorted-list percentiles to within the configured
        /// precision (values >= lowest, so the relative precision applies).
        #[test]
        fn percentiles_within_precision(
            values in prop::collection::vec(prop_oneof![1_000u64..2_000_000, 1_000u64..60_000_000_000], 1..300),
            sigfig in 1u32..=4,
            qs in prop::collection::vec(0.0f64..=100.0, 1..10),
        ) {
            let mut h = LatencyHistogram::new(1_000, 60_000_000_000, sigfig).unwrap();
            for v in &values { h.record(*v); }
            let mut sorted = values.clone();
            sorted.sort_unstable();
            // Relative precision above ~2048 units; one unit (the largest power of two
            // <= lowest) of absolute resolution at the bottom of the range.
            let tolerance = 10f64.powi(-(sigfig as i32));
            let unit = 512.0;
            for q in qs {
                let rank = ((q / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
                let exact = sorted[rank.min(sorted.len()) - 1] as f64;
                let got = h.percentile(q).unwrap() as f64;
                // Same HDR bucket as the exact value (q = 0 reports the bucket's low end).
                prop_assert!((got - exact).abs() <= (exact * tolerance).max(unit),
                    "q={} got={} exact={} sigfig={}", q, got, exact, sigfig);
            }
            prop_assert_eq!(h.count(), values.len() as u64);
        }

        #[test]
        fn never_panics(values in prop::collection::vec(any::<u64>(), 0..50), bytes in prop::collection::vec(any::<u8>(), 0..80)) {
            let mut h = default();
            for v in &values { h.record(*v); h.record_n(*v, *v); }
            let _ = h.percentile(50.0);
            let _ = h.to_bytes();
            let mut data = b"IXPH\x01".to_vec();
            data.extend_from_slice(&bytes);
            let _ = LatencyHistogram::from_bytes(&data);
        }
    }
}
