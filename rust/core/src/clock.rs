//! Timestamps in the protocol's format: ISO-8601 UTC with milliseconds and a `Z` suffix
//! (`2025-01-01T12:00:00.000Z`, what JavaScript's `Date.toISOString()` prints), as every error
//! envelope carries one. Formatting is arithmetic on the Unix time: no calendar library, no
//! allocation.

use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes in a timestamp.
pub const ISO_LEN: usize = 24;

/// The last instant written as it is: 9999-12-31T23:59:59.999Z (later ones are written as it).
const MAX_MS: u64 = 253_402_300_799_999;

/// Milliseconds since the Unix epoch on the wall clock (0 for a clock set before 1970): the
/// `time.time_ns() // 1_000_000` of Python.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The timestamp of `unix_ms` (milliseconds since 1970-01-01T00:00:00Z, leap seconds not counted,
/// as POSIX time and Python's `time.gmtime`), proleptic Gregorian calendar; instants after year
/// 9999 are written as its last millisecond.
pub fn iso_utc(unix_ms: u64) -> [u8; ISO_LEN] {
    let ms = unix_ms.min(MAX_MS);
    let (secs, milli) = (ms / 1000, ms % 1000);
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    digits(&mut out[0..4], year);
    digits(&mut out[5..7], month);
    digits(&mut out[8..10], day);
    digits(&mut out[11..13], day_secs / 3600);
    digits(&mut out[14..16], day_secs / 60 % 60);
    digits(&mut out[17..19], day_secs % 60);
    digits(&mut out[20..23], milli);
    out
}

/// Now, as [`iso_utc`] writes it.
pub fn iso_now() -> [u8; ISO_LEN] {
    iso_utc(unix_ms())
}

/// `value` in decimal, zero-padded to the width of `out` (which it fits).
fn digits(out: &mut [u8], mut value: u64) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// (year, month, day) of a count of days since 1970-01-01, for days ≥ 0 (H. Hinnant's
/// `civil_from_days`, in eras of 400 years counted from 0000-03-01).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ms: u64) -> String {
        String::from_utf8(iso_utc(ms).to_vec()).unwrap()
    }

    #[test]
    fn known_instants() {
        assert_eq!(text(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(text(999), "1970-01-01T00:00:00.999Z");
        assert_eq!(text(951_782_400_000), "2000-02-29T00:00:00.000Z"); // leap day of a 400-year
        assert_eq!(text(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(text(4_107_542_400_000), "2100-03-01T00:00:00.000Z"); // 2100 is not leap
        assert_eq!(text(1_735_732_800_123), "2025-01-01T12:00:00.123Z");
        assert_eq!(text(1_798_761_599_000), "2026-12-31T23:59:59.000Z");
        assert_eq!(text(MAX_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(text(u64::MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn consecutive_days_and_months_are_consistent() {
        // Day by day over 400 years: the date advances by exactly one day each time.
        let days_in = |y: u64, m: u64| match m {
            2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut previous = civil_from_days(0);
        assert_eq!(previous, (1970, 1, 1));
        for day in 1..146_097 {
            let (y, m, d) = civil_from_days(day);
            let (py, pm, pd) = previous;
            let expected = if pd < days_in(py, pm) {
                (py, pm, pd + 1)
            } else if pm < 12 {
                (py, pm + 1, 1)
            } else {
                (py + 1, 1, 1)
            };
            assert_eq!((y, m, d), expected, "day {day}");
            previous = (y, m, d);
        }
    }

    #[test]
    fn now_is_after_this_code_was_written() {
        assert!(iso_now().as_slice() > b"2026-01-01T00:00:00.000Z".as_slice());
    }
}
