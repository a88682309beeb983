//! `Schedule`: when periodic jobs run (cron or a fixed interval), with target times every leader computes alike.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::offset::LocalResult;
use chrono::{DateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::error::{Error, Result};

/// When a periodic job runs: a cron spec or a fixed interval.
#[derive(Clone)]
pub struct Schedule {
    kind: ScheduleKind,
}

#[derive(Clone)]
enum ScheduleKind {
    /// Usually one schedule; two when both day of month and day of week are
    /// restricted, since crontab fires when either matches (the `cron`
    /// crate would require both).
    Cron {
        /// The spec as given, `CRON_TZ=` prefix included.
        spec: String,
        schedules: Vec<cron::Schedule>,
        /// The zone targets are computed in; `None` is UTC.
        zone: Option<Tz>,
    },
    Every(Duration),
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ScheduleKind::Cron { spec, .. } => write!(f, "Schedule::cron({spec:?})"),
            ScheduleKind::Every(d) => write!(f, "Schedule::every({d:?})"),
        }
    }
}

/// The cron spec as given, or `every 30s` (`ms` below a whole second):
/// the text stored for a durable schedule, which [`FromStr`] reads back.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ScheduleKind::Cron { spec, .. } => f.write_str(spec),
            ScheduleKind::Every(d) if d.subsec_nanos() == 0 => write!(f, "every {}s", d.as_secs()),
            ScheduleKind::Every(d) => write!(f, "every {}ms", d.as_millis()),
        }
    }
}

/// Reads what [`Display`](fmt::Display) writes: `every 30s` (also `ms`,
/// `m`, `h`), or a cron spec for [`Schedule::cron`].
impl FromStr for Schedule {
    type Err = Error;

    fn from_str(s: &str) -> Result<Schedule> {
        let Some(interval) = s.trim().strip_prefix("every ") else {
            return Schedule::cron(s);
        };
        let interval = interval.trim();
        let bad = || {
            Error::Config(format!(
                "invalid interval {interval:?}: use 30s, 500ms, 5m or 2h"
            ))
        };
        let (number, unit) = interval
            .find(|c: char| !c.is_ascii_digit())
            .map(|at| interval.split_at(at))
            .ok_or_else(bad)?;
        let n: u64 = number.parse().map_err(|_| bad())?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(bad()),
        };
        let schedule = Schedule::every(d);
        schedule.validate()?;
        Ok(schedule)
    }
}

const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One day-of-week value in standard crontab numbering (0 or 7 = Sunday).
fn standard_day(token: &str) -> Option<u32> {
    let lower = token.to_ascii_lowercase();
    if let Some(i) = DAY_NAMES.iter().position(|d| lower.starts_with(d)) {
        return Some(i as u32);
    }
    match token.parse::<u32>().ok()? {
        7 => Some(0),
        n @ 0..=6 => Some(n),
        _ => None,
    }
}

/// Translates a standard day-of-week field (0-7, Sunday 0 or 7, names,
/// ranges, steps) into the `cron` crate's numbering, where 1 is Sunday, by
/// expanding it into an explicit list of days.
fn translate_day_of_week(field: &str) -> Option<String> {
    if field == "*" || field == "?" {
        return Some(field.to_string());
    }
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<usize>().ok().filter(|&s| s > 0)?),
            None => (item, 1),
        };
        let (start, end) = match range {
            "*" => (0, 6),
            _ => match range.split_once('-') {
                Some((a, b)) => {
                    let a = standard_day(a)?;
                    // `5-7` and `FRI-SUN` end on Sunday: as a range end it counts as 7.
                    match standard_day(b)? {
                        0 if a > 0 => (a, 7),
                        b => (a, b),
                    }
                }
                None if item.contains('/') => (standard_day(range)?, 6),
                None => {
                    let d = standard_day(range)?;
                    (d, d)
                }
            },
        };
        if start > end {
            return None;
        }
        for d in (start..=end).step_by(step) {
            days[(d % 7) as usize] = true;
        }
    }
    let list: Vec<String> = (0..7)
        .filter(|&d| days[d])
        .map(|d| (d + 1).to_string())
        .collect();
    Some(list.join(","))
}

impl Schedule {
    /// A cron schedule: standard 5-field crontab (`min hour dom month dow`,
    /// day of week 0-7 with Sunday as 0 or 7, names such as `MON-FRI`), or a
    /// 6-field form with leading seconds. Times are UTC, unless the spec
    /// starts with `CRON_TZ=Area/City` (as River's cron accepts): then
    /// targets are local times in that zone. A daily 09:00 stays at 09:00
    /// across daylight-saving changes; a target in a spring-forward gap runs
    /// once, at the first valid instant after it; one repeated by a
    /// fall-back runs once.
    ///
    /// ```
    /// use riverlite::Schedule;
    /// assert!(Schedule::cron("0 9 * * 1-5").is_ok());        // 09:00 UTC on weekdays
    /// assert!(Schedule::cron("CRON_TZ=Europe/Berlin 0 9 * * 1-5").is_ok());
    /// assert!(Schedule::cron("*/30 * * * * *").is_ok());     // every 30 seconds
    /// assert!(Schedule::cron("not a spec").is_err());
    /// assert!(Schedule::cron("CRON_TZ=Mars/Olympus 0 9 * * *").is_err());
    /// ```
    pub fn cron(spec: &str) -> Result<Schedule> {
        let bad = |why: &str| Error::Config(format!("invalid cron spec {spec:?}: {why}"));
        let trimmed = spec.trim();
        let (zone, body) = match trimmed.strip_prefix("CRON_TZ=") {
            Some(rest) => {
                let (name, body) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                let zone: Tz = name
                    .parse()
                    .map_err(|_| bad(&format!("unknown time zone {name:?}")))?;
                (Some(zone), body)
            }
            None => (None, trimmed),
        };
        let fields: Vec<&str> = body.split_whitespace().collect();
        let mut full: Vec<String> = match fields.len() {
            5 => std::iter::once("0")
                .chain(fields.iter().copied())
                .map(String::from)
                .collect(),
            6 => fields.iter().map(|s| s.to_string()).collect(),
            n => {
                return Err(bad(&format!(
                    "expected 5 fields (or 6 with seconds), found {n}"
                )))
            }
        };
        full[5] = translate_day_of_week(&full[5]).ok_or_else(|| bad("bad day of week"))?;
        let unrestricted = |f: &str| f == "*" || f == "?";
        let variants: Vec<Vec<String>> = if unrestricted(&full[3]) || unrestricted(&full[5]) {
            vec![full]
        } else {
            let mut by_day_of_month = full.clone();
            by_day_of_month[5] = "*".into();
            let mut by_day_of_week = full;
            by_day_of_week[3] = "*".into();
            vec![by_day_of_month, by_day_of_week]
        };
        let schedules = variants
            .iter()
            .map(|fields| {
                cron::Schedule::from_str(&fields.join(" ")).map_err(|e| bad(&e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        if schedules.iter().all(|s| s.upcoming(Utc).next().is_none()) {
            return Err(bad("it never fires"));
        }
        Ok(Schedule {
            kind: ScheduleKind::Cron {
                spec: trimmed.to_string(),
                schedules,
                zone,
            },
        })
    }

    /// [`Schedule::cron`] with targets in time zone `zone` (an IANA name
    /// such as `Europe/Berlin`): the same as a `CRON_TZ=` prefix.
    pub fn cron_in(spec: &str, zone: &str) -> Result<Schedule> {
        Schedule::cron(&format!("CRON_TZ={zone} {}", spec.trim()))
    }

    /// Every `interval`, at multiples of it since the Unix epoch (so every
    /// leader computes the same target times). An interval under 1 s is
    /// rejected by `build()`.
    pub fn every(interval: Duration) -> Schedule {
        Schedule {
            kind: ScheduleKind::Every(interval),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self.kind {
            ScheduleKind::Every(d) if d < Duration::from_secs(1) => Err(Error::Config(format!(
                "Schedule::every({d:?}) is too short: use at least 1 second"
            ))),
            _ => Ok(()),
        }
    }

    /// The first target time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            ScheduleKind::Cron {
                schedules,
                zone: None,
                ..
            } => schedules.iter().filter_map(|s| s.after(&t).next()).min(),
            ScheduleKind::Cron {
                schedules,
                zone: Some(zone),
                ..
            } => schedules
                .iter()
                .filter_map(|s| {
                    s.after(&wall_clock(*zone, t))
                        .take(LOCAL_CANDIDATES)
                        .map(|local| instant_of(*zone, local))
                        .find(|&at| at > t)
                })
                .min(),
            ScheduleKind::Every(d) => {
                let period = i64::try_from(d.as_millis()).ok()?.max(1);
                let ms = t.timestamp_millis();
                DateTime::from_timestamp_millis(ms - ms.rem_euclid(period) + period)
            }
        }
    }

    /// The latest target time at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            ScheduleKind::Cron {
                schedules,
                zone: None,
                ..
            } => schedules.iter().filter_map(|s| latest_local(s, t)).max(),
            ScheduleKind::Cron {
                schedules,
                zone: Some(zone),
                ..
            } => schedules
                .iter()
                .filter_map(|s| {
                    let mut local = wall_clock(*zone, t);
                    for _ in 0..LOCAL_CANDIDATES {
                        let candidate = latest_local(s, local)?;
                        let at = instant_of(*zone, candidate);
                        if at <= t {
                            return Some(at);
                        }
                        local = candidate - chrono::Duration::seconds(1);
                    }
                    None
                })
                .max(),
            ScheduleKind::Every(d) => {
                let period = i64::try_from(d.as_millis()).ok()?.max(1);
                let ms = t.timestamp_millis();
                DateTime::from_timestamp_millis(ms - ms.rem_euclid(period))
            }
        }
    }
}

/// Local candidates looked at for one zoned target: enough to step over a
/// daylight-saving change, whatever the schedule.
const LOCAL_CANDIDATES: usize = 64;

// A zoned cron schedule runs on the zone's wall clock: the cron crate
// iterates local times written as if they were UTC, and each becomes the
// instant it names in the zone.

/// `t`'s wall-clock time in `zone`, written as a UTC time.
fn wall_clock(zone: Tz, t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_timezone(&zone).naive_local().and_utc()
}

/// The instant a wall-clock time names in `zone`: the earlier one when a
/// fall-back repeats it (so it runs once), and the first valid instant after
/// it when a spring-forward skips it.
fn instant_of(zone: Tz, local: DateTime<Utc>) -> DateTime<Utc> {
    let naive = local.naive_utc();
    let mut probe = naive;
    for _ in 0..(24 * 60) {
        match zone.from_local_datetime(&probe) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, _) => return earlier.with_timezone(&Utc),
            // In a gap, which ends on a whole minute in every real zone.
            LocalResult::None => {
                let next = probe + chrono::Duration::minutes(1);
                probe = next.with_second(0).unwrap_or(next);
            }
        }
    }
    naive.and_utc()
}

/// The latest time of `schedule` at or before `t` (both as the schedule reads them).
fn latest_local(schedule: &cron::Schedule, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if schedule.includes(t) && t.timestamp_subsec_nanos() == 0 {
        Some(t)
    } else {
        schedule.after(&t).next_back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Weekday};

    #[test]
    fn standard_weekdays_mean_monday_to_friday() {
        let s = Schedule::cron("0 9 * * 1-5").unwrap();
        let mut t = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        for _ in 0..10 {
            t = s.next_after(t).unwrap();
            assert!(!matches!(t.weekday(), Weekday::Sat | Weekday::Sun), "{t}");
        }
    }

    #[test]
    fn sunday_is_zero_or_seven_and_names_work() {
        for spec in ["0 0 * * 0", "0 0 * * 7", "0 0 * * SUN"] {
            let s = Schedule::cron(spec).unwrap();
            let t = s
                .next_after(Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap())
                .unwrap();
            assert_eq!(t.weekday(), Weekday::Sun, "{spec}");
        }
        let s = Schedule::cron("0 0 * * FRI-SUN").unwrap();
        let t = s
            .next_after(Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap())
            .unwrap();
        assert_eq!(t.weekday(), Weekday::Fri);
    }

    #[test]
    fn day_of_month_or_day_of_week_as_in_crontab() {
        // The 1st of the month, or any Monday.
        let s = Schedule::cron("0 0 1 * MON").unwrap();
        let t = s
            .next_after(Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap())
            .unwrap();
        assert_eq!(
            t,
            Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap(),
            "Monday the 30th"
        );
        let t = s.next_after(t).unwrap();
        assert_eq!(
            t,
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            "the 1st"
        );
        let latest = s.latest_at_or_before(Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap());
        assert_eq!(
            latest,
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn bad_specs_name_the_spec() {
        for spec in ["", "* * *", "61 * * * *", "0 0 * * 8", "0 0 * * MOO"] {
            match Schedule::cron(spec) {
                Err(Error::Config(m)) => assert!(m.contains(spec), "{m}"),
                other => panic!("{spec:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_targets_multiples_since_epoch() {
        let s = Schedule::every(Duration::from_secs(10));
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 7).unwrap();
        assert_eq!(s.latest_at_or_before(t).unwrap().timestamp() % 10, 0);
        assert_eq!(
            s.next_after(t).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 10).unwrap()
        );
    }

    #[test]
    fn cron_latest_at_or_before() {
        let s = Schedule::cron("0 * * * *").unwrap();
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 5, 30, 0).unwrap();
        assert_eq!(
            s.latest_at_or_before(t).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 1, 5, 0, 0).unwrap()
        );
    }

    fn utc(rfc: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_zoned_daily_target_keeps_its_local_time_across_daylight_saving() {
        let nine = Schedule::cron("CRON_TZ=Europe/Berlin 0 9 * * *").unwrap();
        // CET (UTC+1) before 2026-03-29, CEST (UTC+2) after.
        assert_eq!(
            nine.next_after(utc("2026-03-27T12:00:00Z")),
            Some(utc("2026-03-28T08:00:00Z"))
        );
        assert_eq!(
            nine.next_after(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-29T07:00:00Z"))
        );
        assert_eq!(
            Schedule::cron_in("0 9 * * *", "Europe/Berlin")
                .unwrap()
                .next_after(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-29T07:00:00Z"))
        );
    }

    #[test]
    fn a_target_in_a_spring_forward_gap_runs_once_at_the_first_valid_instant() {
        // 2026-03-29 in Berlin: 02:00 local jumps to 03:00, so 02:30 never happens.
        let half_two = Schedule::cron("CRON_TZ=Europe/Berlin 30 2 * * *").unwrap();
        let in_gap = half_two.next_after(utc("2026-03-28T12:00:00Z")).unwrap();
        assert_eq!(in_gap, utc("2026-03-29T01:00:00Z"), "03:00 CEST");
        assert_eq!(half_two.latest_at_or_before(in_gap), Some(in_gap));
        assert_eq!(
            half_two.next_after(in_gap),
            Some(utc("2026-03-30T00:30:00Z")),
            "the next day's 02:30 CEST"
        );
    }

    #[test]
    fn a_target_repeated_by_a_fall_back_runs_once() {
        // 2026-10-25 in Berlin: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
        let half_two = Schedule::cron("CRON_TZ=Europe/Berlin 30 2 * * *").unwrap();
        let first = half_two.next_after(utc("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(first, utc("2026-10-25T00:30:00Z"), "02:30 CEST");
        assert_eq!(
            half_two.next_after(first),
            Some(utc("2026-10-26T01:30:00Z")),
            "not the second 02:30 (01:30 UTC on the 25th)"
        );
        // During the repeated hour the latest target is still the first 02:30.
        assert_eq!(
            half_two.latest_at_or_before(utc("2026-10-25T01:45:00Z")),
            Some(first)
        );
    }

    #[test]
    fn the_stored_text_reads_back_into_the_same_schedule() {
        for text in [
            "every 30s",
            "every 1500ms",
            "0 9 * * 1-5",
            "CRON_TZ=Europe/Berlin 0 9 * * 1-5",
        ] {
            let schedule: Schedule = text.parse().unwrap();
            assert_eq!(schedule.to_string(), text);
        }
        assert_eq!(
            Schedule::every(Duration::from_secs(120)).to_string(),
            "every 120s"
        );
        assert_eq!(
            "every 2m".parse::<Schedule>().unwrap().to_string(),
            "every 120s"
        );
        for bad in [
            "every 0s",
            "every 10x",
            "every s",
            "every 100ms",
            "CRON_TZ=Nowhere/Else 0 9 * * *",
        ] {
            assert!(
                matches!(bad.parse::<Schedule>(), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }
}
