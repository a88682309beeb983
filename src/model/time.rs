//! Timestamps as stored: UTC text `YYYY-MM-DD HH:MM:SS.fff`, which compares correctly as text.

use chrono::{DateTime, Datelike, NaiveDateTime, SubsecRound, Timelike, Utc};

/// Formats a time the way SQLite's `datetime('now','subsec')` does. Times
/// outside years 1-9999 are clamped, since the text form must sort right.
pub(crate) fn format(t: DateTime<Utc>) -> String {
    let earliest = NaiveDateTime::new(
        chrono::NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default(),
        chrono::NaiveTime::MIN,
    )
    .and_utc();
    let t = t.clamp(earliest, latest());
    let mut s = String::with_capacity(23);
    push_padded(&mut s, t.year() as u32, 4);
    s.push('-');
    push_padded(&mut s, t.month(), 2);
    s.push('-');
    push_padded(&mut s, t.day(), 2);
    s.push(' ');
    push_padded(&mut s, t.hour(), 2);
    s.push(':');
    push_padded(&mut s, t.minute(), 2);
    s.push(':');
    push_padded(&mut s, t.second().min(59), 2);
    s.push('.');
    push_padded(&mut s, t.timestamp_subsec_millis().min(999), 3);
    s
}

fn push_padded(s: &mut String, value: u32, width: u32) {
    let mut div = 10u32.pow(width - 1);
    while div > 0 {
        s.push(char::from(b'0' + ((value / div) % 10) as u8));
        div /= 10;
    }
}

/// The latest time the stored text form can hold (and still sort right).
fn latest() -> DateTime<Utc> {
    NaiveDateTime::new(
        chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default(),
        chrono::NaiveTime::from_hms_milli_opt(23, 59, 59, 999).unwrap_or_default(),
    )
    .and_utc()
}

/// `t + d`, saturating at the latest storable time instead of panicking.
pub(crate) fn after(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .map_or_else(latest, |sum| sum.min(latest()))
}

/// `t - d`, saturating at the Unix epoch (older than any job) instead of panicking.
pub(crate) fn before(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .map_or(DateTime::UNIX_EPOCH, |diff| diff.max(DateTime::UNIX_EPOCH))
}

/// Truncates to the millisecond, the stored precision.
pub(crate) fn to_stored_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// Parses a stored timestamp: our own form first, then the forms other River
/// drivers and SQLite's `CURRENT_TIMESTAMP` write.
pub(crate) fn parse(s: &str) -> Option<DateTime<Utc>> {
    parse_fast(s.as_bytes()).or_else(|| parse_slow(s))
}

fn parse_fast(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != 23 || b[4] != b'-' || b[10] != b' ' || b[19] != b'.' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = chrono::NaiveTime::from_hms_milli_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
        num(20..23)?,
    )?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

fn parse_slow(s: &str) -> Option<DateTime<Utc>> {
    // Go's time.Time.String() appends the monotonic clock: " m=+0.006196433".
    let s = s.trim().split(" m=").next().unwrap_or_default();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    with_offset(without_zone_name(s)).or_else(|| {
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .map(|t| t.and_utc())
    })
}

/// Go's time.Time.String() ends with the zone's name after its offset
/// (`2026-12-01 19:22:06.985266221 +0000 UTC`); the offset says it all.
fn without_zone_name(s: &str) -> &str {
    match s.rsplit_once(' ') {
        Some((rest, name))
            if !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphabetic())
                && rest.contains(['+', '-']) =>
        {
            rest
        }
        _ => s,
    }
}

/// A time with a numeric offset: `+00:00` or `+0000`, attached or after a space.
fn with_offset(s: &str) -> Option<DateTime<Utc>> {
    [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ]
    .iter()
    .find_map(|f| DateTime::parse_from_str(s, f).ok())
    .map(|t| t.with_timezone(&Utc))
}

/// A time in RFC 3339, UTC (`2026-12-01T19:22:06.985Z`): how River writes
/// times inside JSON (`metadata.cancel_attempted_at`, each error's `at`).
pub(crate) fn format_rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sorts_as_text() {
        let t = DateTime::parse_from_rfc3339("2026-03-04T05:06:07.089Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format(t), "2026-03-04 05:06:07.089");
        assert_eq!(parse(&format(t)), Some(t));
        assert!(format(t) < format(t + chrono::Duration::milliseconds(1)));
    }

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let now = Utc::now();
        assert_eq!(
            format(after(now, std::time::Duration::MAX)),
            "9999-12-31 23:59:59.999"
        );
        assert_eq!(before(now, std::time::Duration::MAX), DateTime::UNIX_EPOCH);
        assert!(after(now, std::time::Duration::from_secs(1)) > now);
    }

    /// Every form River's drivers write, each with the instant it means.
    #[test]
    fn parses_every_form_rivers_drivers_write() {
        let at = |rfc: &str| {
            DateTime::parse_from_rfc3339(rfc)
                .unwrap()
                .with_timezone(&Utc)
        };
        let cases = [
            // riverlite's own, and SQLite's datetime('now', 'subsec').
            ("2026-12-01 19:22:06.985", "2026-12-01T19:22:06.985Z"),
            // SQLite's CURRENT_TIMESTAMP (a column default).
            ("2026-12-01 19:22:06", "2026-12-01T19:22:06Z"),
            // Go's time.Time.String(), as River's Go driver binds times.
            (
                "2026-12-01 19:22:06.985266221 +0000 UTC",
                "2026-12-01T19:22:06.985266221Z",
            ),
            // ... with the monotonic clock reading after it.
            (
                "2026-12-01 19:22:06.985266221 +0000 UTC m=+0.006196433",
                "2026-12-01T19:22:06.985266221Z",
            ),
            // ... with no fraction, and in another zone.
            ("2026-12-01 19:22:06 +0000 UTC", "2026-12-01T19:22:06Z"),
            ("2026-12-01 20:22:06.5 +0100 CET", "2026-12-01T19:22:06.5Z"),
            // RFC 3339, with nanoseconds, Z or an offset.
            (
                "2026-12-01T19:22:06.985266221Z",
                "2026-12-01T19:22:06.985266221Z",
            ),
            ("2026-12-01T19:22:06+00:00", "2026-12-01T19:22:06Z"),
            ("2026-12-01T19:22:06.985", "2026-12-01T19:22:06.985Z"),
            // SQL text with an attached offset.
            ("2026-12-01 19:22:06.985+00:00", "2026-12-01T19:22:06.985Z"),
            ("2026-12-01 19:22:06.985+0000", "2026-12-01T19:22:06.985Z"),
        ];
        for (stored, expected) in cases {
            assert_eq!(parse(stored), Some(at(expected)), "{stored}");
        }
        assert!(parse("garbage").is_none());
        assert!(parse("2026-12-01 25:00:00").is_none());
    }

    #[test]
    fn json_times_are_rfc3339_utc() {
        let t = parse("2026-12-01 19:22:06.985").unwrap();
        assert_eq!(format_rfc3339(t), "2026-12-01T19:22:06.985Z");
        assert_eq!(parse(&format_rfc3339(t)), Some(t));
    }
}
