//! Stream times in FITS: ISO-8601 strings for header cards, nanoseconds for table columns.
//!
//! Stream times (`atime`, `writetime`) are read from `CLOCK_TAI`, so the cards that carry them
//! come with `TIMESYS = 'TAI'`. The calendar arithmetic is the proleptic Gregorian one (no leap
//! seconds: TAI has none).

use shmim_core::Timespec;

/// Nanoseconds since the epoch, saturating at the `i64` range (years 1677 to 2262).
pub fn nanos(t: Timespec) -> i64 {
    let ns = t.as_nanos();
    i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
}

/// `YYYY-MM-DDThh:mm:ss.nnnnnnnnn` (the FITS date format with nanoseconds).
pub fn iso8601(t: Timespec) -> String {
    let nsec = t.tv_nsec.clamp(0, 999_999_999);
    let days = t.tv_sec.div_euclid(86_400);
    let secs = t.tv_sec.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nsec:09}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `hh:mm:ss.nnnnnnnnn` and `YYYYMMDD` of `t`, for log file names.
pub fn file_stamp(t: Timespec) -> (String, String) {
    let iso = iso8601(t);
    let (date, time) = iso.split_once('T').unwrap_or((&iso, ""));
    (date.replace('-', ""), time.to_owned())
}

/// Year, month, day of the day `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(tv_sec: i64, tv_nsec: i64) -> Timespec {
        Timespec { tv_sec, tv_nsec }
    }

    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(iso8601(at(0, 0)), "1970-01-01T00:00:00.000000000");
        assert_eq!(iso8601(at(951_782_400, 5)), "2000-02-29T00:00:00.000000005");
        assert_eq!(
            iso8601(at(1_762_000_000, 123_456_789)),
            "2025-11-01T12:26:40.123456789"
        );
        assert_eq!(iso8601(at(-1, 0)), "1969-12-31T23:59:59.000000000");
    }

    #[test]
    fn nanos_are_exact_in_range_and_saturate_outside() {
        assert_eq!(nanos(at(1, 2)), 1_000_000_002);
        assert_eq!(nanos(at(i64::MAX, 0)), i64::MAX);
        assert_eq!(nanos(at(i64::MIN, 0)), i64::MIN);
    }

    #[test]
    fn file_stamps_split_date_and_time() {
        let (date, time) = file_stamp(at(1_762_000_000, 1));
        assert_eq!(
            (date.as_str(), time.as_str()),
            ("20251101", "12:26:40.000000001")
        );
    }
}
