//! Timestamps as integer nanoseconds since the Unix epoch (UTC).
//!
//! Coinbase and the recorders around it write times in several ways: RFC 3339
//! with 0 to 9 fractional digits, with `Z`, with `+00:00`, with no zone at all
//! (meaning UTC), with a space instead of `T`, and as unix seconds with a
//! fraction. Parsing is hand-written because it sits on the hot path of replay
//! (one or two timestamps per line) and because no single library accepts
//! all of these spellings.

use std::fmt::Write as _;

/// Nanoseconds per second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable timestamp: {0}")]
pub struct TimestampError(pub &'static str);

/// Parses an RFC 3339-like timestamp into nanoseconds since the epoch.
///
/// Accepts `YYYY-MM-DD[T| ]hh:mm:ss[.f{0,9}][Z|±hh:mm|±hhmm| +0000 UTC...]`;
/// digits past the ninth fractional one are ignored (truncated). A missing
/// zone means UTC. Years before 1970 are rejected: Coinbase writes
/// `0001-01-01T00:00:00Z` for "no time", which must not become a real instant.
pub fn parse_timestamp(s: &str) -> Result<i64, TimestampError> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return Err(TimestampError("too short"));
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return Err(TimestampError("bad date separators"));
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(TimestampError("bad time separators"));
    }
    // i64 nanoseconds reach 2262; 1970 excludes Coinbase's zero time.
    if !(1970..=2200).contains(&year) {
        return Err(TimestampError("year outside 1970..=2200"));
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(TimestampError("date out of range"));
    }
    // Second 60 is a leap second; fold it into the next second as most systems do.
    if hour > 23 || minute > 59 || second > 60 {
        return Err(TimestampError("time out of range"));
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        let mut scale = NANOS_PER_SEC / 10;
        while i < b.len() && b[i].is_ascii_digit() {
            if scale > 0 {
                frac += i64::from(b[i] - b'0') * scale;
                scale /= 10;
            }
            i += 1;
        }
        if i == start {
            return Err(TimestampError("empty fraction"));
        }
    }
    let offset_secs = parse_zone(&b[i..])?;
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_secs;
    // Years are bounded above, so this cannot overflow; checked all the same.
    secs.checked_mul(NANOS_PER_SEC)
        .and_then(|s| s.checked_add(frac))
        .ok_or(TimestampError("timestamp out of range"))
}

/// The zone suffix: empty (UTC), `Z`, `±hh:mm`, `±hhmm`, optionally preceded
/// by one space and followed by anything after another space (Go's
/// `+0000 UTC m=+91717.52`).
fn parse_zone(b: &[u8]) -> Result<i64, TimestampError> {
    let b = b.strip_prefix(b" ").unwrap_or(b);
    if b.is_empty() || b == b"Z" || b == b"z" {
        return Ok(0);
    }
    let (zone, rest) = match b.iter().position(|&c| c == b' ') {
        Some(p) => (&b[..p], &b[p..]),
        None => (b, &b[b.len()..]),
    };
    if !rest.is_empty() && !rest.starts_with(b" UTC") {
        return Err(TimestampError("trailing characters"));
    }
    let sign = match zone.first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        Some(b'Z') if zone.len() == 1 => return Ok(0),
        _ => return Err(TimestampError("bad zone")),
    };
    let (h, m) = match zone.len() {
        6 if zone[3] == b':' => (digits(zone, 1, 2)?, digits(zone, 4, 2)?),
        5 => (digits(zone, 1, 2)?, digits(zone, 3, 2)?),
        3 => (digits(zone, 1, 2)?, 0),
        _ => return Err(TimestampError("bad zone")),
    };
    if h > 23 || m > 59 {
        return Err(TimestampError("zone out of range"));
    }
    Ok(sign * (h * 3_600 + m * 60))
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<i64, TimestampError> {
    let mut v = 0i64;
    for &c in b.get(at..at + n).ok_or(TimestampError("too short"))? {
        if !c.is_ascii_digit() {
            return Err(TimestampError("expected a digit"));
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Ok(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// The wall clock now, in ns since the epoch (0 before 1970, saturating
/// in 2262). The one place volspike reads wall-clock time as a number.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with 9 fractional
/// digits, e.g. `2026-04-04T21:13:43.291084825Z`.
pub fn format_timestamp(ns: i64) -> String {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let frac = ns.rem_euclid(NANOS_PER_SEC);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut out = String::with_capacity(30);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        sod / 3_600,
        sod % 3_600 / 60,
        sod % 60
    );
    out
}

/// Parses a time as recorders write it: RFC 3339 text ([`parse_timestamp`])
/// or a unix epoch number whose unit its integer digits tell: up to 11
/// digits seconds, 12 to 14 milliseconds, 15 to 17 microseconds, 18 or 19
/// nanoseconds (each unit's range covers 1973 to 2286 and no other's does).
pub fn parse_time(s: &str) -> Result<i64, TimestampError> {
    let s = s.trim();
    if s.as_bytes().get(4) == Some(&b'-') {
        return parse_timestamp(s);
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) {
        return Err(TimestampError("neither RFC 3339 nor a unix epoch number"));
    }
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return Err(TimestampError("bad fraction of a unix epoch number"));
    }
    // Decimal digits of a nanosecond in the number's unit.
    let unit_digits: u32 = match int.len() {
        1..=11 => 9,
        12..=14 => 6,
        15..=17 => 3,
        18..=19 => 0,
        _ => return Err(TimestampError("unix epoch number too long")),
    };
    let whole: i64 = int
        .parse()
        .map_err(|_| TimestampError("unix epoch number out of range"))?;
    let mut ns = whole
        .checked_mul(10i64.pow(unit_digits))
        .ok_or(TimestampError("unix epoch number out of range"))?;
    let mut scale = 10i64.pow(unit_digits) / 10;
    for c in frac.bytes().take(unit_digits as usize) {
        ns = ns
            .checked_add(i64::from(c - b'0') * scale)
            .ok_or(TimestampError("unix epoch number out of range"))?;
        scale /= 10;
    }
    Ok(ns)
}

/// Parses unix seconds written as decimal text (`1762932011.609013`) into
/// nanoseconds exactly, without going through a float.
pub fn parse_unix_seconds(s: &str) -> Result<i64, TimestampError> {
    let s = s.trim_matches('"');
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|c| c.is_ascii_digit()) {
        return Err(TimestampError("bad unix seconds"));
    }
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return Err(TimestampError("bad unix seconds fraction"));
    }
    let secs: i64 = int
        .parse()
        .map_err(|_| TimestampError("bad unix seconds"))?;
    let mut ns = 0i64;
    let mut scale = NANOS_PER_SEC / 10;
    for c in frac.bytes().take(9) {
        ns += i64::from(c - b'0') * scale;
        scale /= 10;
    }
    // Twelve digits of seconds reach 1e12 s, past i64 nanoseconds (9.2e9 s).
    secs.checked_mul(NANOS_PER_SEC)
        .and_then(|s| s.checked_add(ns))
        .ok_or(TimestampError("unix seconds out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unix_seconds_past_the_range_of_nanoseconds_are_an_error() {
        assert_eq!(
            parse_unix_seconds("9223372036").unwrap(),
            9_223_372_036_000_000_000
        );
        assert!(parse_unix_seconds("9223372037").is_err());
        assert!(parse_unix_seconds("999999999999.5").is_err());
        assert!(parse_unix_seconds("9223372036.9").is_err());
        assert!(parse_time("9223372036.9").is_err());
    }

    #[test]
    fn a_unix_epoch_number_is_read_in_the_unit_its_size_tells() {
        let z = parse_timestamp("2026-04-04T21:13:43.291Z").unwrap();
        for s in [
            "1775337223.291",
            "1775337223291",
            "1775337223291000",
            "1775337223291000000",
            "1775337223291.0",
            "2026-04-04T21:13:43.291+00:00",
            " 2026-04-04T21:13:43.291Z",
        ] {
            assert_eq!(parse_time(s), Ok(z), "{s}");
        }
        assert_eq!(parse_time("1775337223"), Ok(z - 291_000_000));
        for bad in [
            "",
            "yesterday",
            "17753372232910000000000",
            "1775.x",
            "-1775337223",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_every_spelling_coinbase_and_recorders_use() {
        let z = parse_timestamp("2026-04-04T21:13:43.291084825Z").unwrap();
        assert_eq!(format_timestamp(z), "2026-04-04T21:13:43.291084825Z");
        assert_eq!(
            parse_timestamp("2026-04-04T21:13:43.291084825+00:00").unwrap(),
            z
        );
        assert_eq!(parse_timestamp("2026-04-04T21:13:43.291084825").unwrap(), z);
        assert_eq!(
            parse_timestamp("2026-04-04 21:13:43.291084825 +0000 UTC m=+91717.52").unwrap(),
            z
        );
        assert_eq!(
            parse_timestamp("2026-04-04T23:13:43.291084825+02:00").unwrap(),
            z
        );
        assert_eq!(
            parse_timestamp("2026-04-04T21:13:43Z").unwrap(),
            z - 291_084_825
        );
        assert_eq!(
            parse_timestamp("2026-04-04T21:13:43.5Z").unwrap(),
            z - 291_084_825 + 500_000_000
        );
        // Digits past nanoseconds are truncated, not rounded.
        assert_eq!(
            parse_timestamp("2026-04-04T21:13:43.2910848259Z").unwrap(),
            z
        );
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z").unwrap(), 0);
    }

    #[test]
    fn rejects_coinbase_zero_time_and_garbage() {
        assert!(parse_timestamp("0001-01-01T00:00:00Z").is_err());
        assert!(parse_timestamp("2026-02-30T00:00:00Z").is_err());
        assert!(parse_timestamp("2026-04-04T21:13:43.Z").is_err());
        assert!(parse_timestamp("2026-04-04T21:13:43Zjunk").is_err());
        assert!(parse_timestamp("yesterday at noon").is_err());
    }

    #[test]
    fn unix_seconds_are_exact() {
        assert_eq!(
            parse_unix_seconds("1762932011.609013").unwrap(),
            1_762_932_011_609_013_000
        );
        assert_eq!(
            parse_unix_seconds("1762932011").unwrap(),
            1_762_932_011_000_000_000
        );
        assert!(parse_unix_seconds("-1.5").is_err());
        assert!(parse_unix_seconds("1e9").is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ns in 0i64..4_102_444_800_000_000_000) {
            prop_assert_eq!(parse_timestamp(&format_timestamp(ns)).unwrap(), ns);
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = parse_timestamp(&s);
            let _ = parse_unix_seconds(&s);
        }

        #[test]
        fn never_panics_on_near_misses(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?([Z+-][0-9:]{0,6})?") {
            let _ = parse_timestamp(&s);
        }
    }
}
