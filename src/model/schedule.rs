//! `Schedule`: when periodic jobs run (cron or a fixed interval), with target times every leader computes alike.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

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
        spec: String,
        schedules: Vec<cron::Schedule>,
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
    /// 6-field form with leading seconds. Times are UTC.
    ///
    /// ```
    /// use riverlite::Schedule;
    /// assert!(Schedule::cron("0 9 * * 1-5").is_ok());        // 09:00 on weekdays
    /// assert!(Schedule::cron("*/30 * * * * *").is_ok());     // every 30 seconds
    /// assert!(Schedule::cron("not a spec").is_err());
    /// ```
    pub fn cron(spec: &str) -> Result<Schedule> {
        let bad = |why: &str| Error::Config(format!("invalid cron spec {spec:?}: {why}"));
        let fields: Vec<&str> = spec.split_whitespace().collect();
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
                spec: spec.to_string(),
                schedules,
            },
        })
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
            ScheduleKind::Cron { schedules, .. } => {
                schedules.iter().filter_map(|s| s.after(&t).next()).min()
            }
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
            ScheduleKind::Cron { schedules, .. } => schedules
                .iter()
                .filter_map(|s| {
                    if s.includes(t) && t.timestamp_subsec_nanos() == 0 {
                        Some(t)
                    } else {
                        s.after(&t).next_back()
                    }
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
}
