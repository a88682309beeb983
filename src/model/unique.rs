//! River's unique keys: the SHA-256 key of a unique insert, its states mask, and the key of a periodic run.

use std::fmt::{self, Write as _};
use std::marker::PhantomData;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::insert_opts::{UniqueOpts, MIN_UNIQUE_PERIOD};
use crate::model::job::JobState;

/// States a unique `by_state` must include, because jobs move through them.
const REQUIRED_UNIQUE_STATES: [JobState; 4] = [
    JobState::Available,
    JobState::Pending,
    JobState::Running,
    JobState::Scheduled,
];

/// River's default unique states.
const DEFAULT_UNIQUE_STATES: [JobState; 6] = [
    JobState::Available,
    JobState::Completed,
    JobState::Pending,
    JobState::Retryable,
    JobState::Running,
    JobState::Scheduled,
];

pub(crate) fn unique_states(unique: &UniqueOpts) -> Result<u8> {
    let states = unique.by_state.as_deref().unwrap_or(&DEFAULT_UNIQUE_STATES);
    let missing: Vec<&str> = REQUIRED_UNIQUE_STATES
        .iter()
        .filter(|s| !states.contains(s))
        .map(|s| s.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid_insert(
            "unique.by_state",
            format!(
                "must include available, pending, running and scheduled; missing {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(states.iter().fold(0u8, |mask, s| mask | s.unique_bit()))
}

/// River's unique key: SHA-256 of `&kind=K&args=A&period=P&queue=Q`, each
/// part present only when its option is on.
pub(crate) fn unique_key(
    kind: &str,
    args: &str,
    queue: &str,
    scheduled_at: DateTime<Utc>,
    unique: &UniqueOpts,
) -> Result<Vec<u8>> {
    let mut key = String::new();
    if !unique.exclude_kind {
        key.push_str("&kind=");
        key.push_str(kind);
    }
    if unique.by_args {
        key.push_str("&args=");
        key.push_str(&sorted_args(args)?);
    }
    if let Some(period) = unique.by_period {
        if period < MIN_UNIQUE_PERIOD {
            return Err(Error::invalid_insert(
                "unique.by_period",
                "must be at least 1 second",
            ));
        }
        key.push_str("&period=");
        key.push_str(&truncate(scheduled_at, period).to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    if unique.by_queue {
        key.push_str("&queue=");
        key.push_str(queue);
    }
    Ok(Sha256::digest(key.as_bytes()).to_vec())
}

/// The unique key of one periodic run: one row per (periodic job id, target
/// time), in every state, so no leader inserts the same run twice.
pub(crate) fn periodic_unique_key(id: &str, target: DateTime<Utc>) -> (Vec<u8>, u8) {
    let key = format!(
        "&periodic_job_id={id}&target={}",
        target.to_rfc3339_opts(SecondsFormat::Millis, true)
    );
    (Sha256::digest(key.as_bytes()).to_vec(), u8::MAX)
}

/// The unique key of the `run_on_start` run of one election (or addition
/// of the job at `started`): one per start, never a target's key.
pub(crate) fn run_on_start_key(id: &str, started: DateTime<Utc>) -> (Vec<u8>, u8) {
    let key = format!(
        "&periodic_job_id={id}&run_on_start={}",
        started.to_rfc3339_opts(SecondsFormat::Micros, true)
    );
    (Sha256::digest(key.as_bytes()).to_vec(), u8::MAX)
}

/// The args object as River hashes it (gjson and sjson, in River's Go):
/// members sorted by the bytes of their (unescaped) keys, the first of
/// duplicate keys kept, values as encoded, and keys written the way sjson
/// writes them.
fn sorted_args(args: &str) -> Result<String> {
    let Members(mut members) = serde_json::from_str(args)?;
    // A stable sort keeps the first of duplicate keys first.
    members.sort_by(|a, b| a.0.cmp(&b.0));
    members.dedup_by(|later, earlier| later.0 == earlier.0);
    let mut out = String::with_capacity(args.len());
    out.push('{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_sjson_key(&mut out, k);
        out.push(':');
        out.push_str(v.get());
    }
    out.push('}');
    Ok(out)
}

/// The members of a JSON object in their order, duplicates included.
struct Members<'de>(Vec<(String, &'de RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct MembersVisitor<'de>(PhantomData<&'de ()>);

        impl<'de> Visitor<'de> for MembersVisitor<'de> {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<Self::Value, M::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor(PhantomData))
    }
}

/// A key as sjson writes it: as it is when it is printable ASCII without `"`
/// or `\`, else encoded as Go's `encoding/json` encodes a string, which also
/// escapes `<`, `>`, `&`, U+2028 and U+2029, and keeps other non-ASCII as is.
fn push_sjson_key(out: &mut String, key: &str) {
    out.push('"');
    if key
        .bytes()
        .all(|b| (b' '..=0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push_str(key);
    } else {
        for c in key.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

fn truncate(t: DateTime<Utc>, period: Duration) -> DateTime<Utc> {
    // Go's Time.Truncate counts periods from January 1 of year 1, not from
    // 1970: the same for periods that divide a day, not for a week.
    const YEAR_ONE_TO_UNIX_MS: i64 = 62_135_596_800_000;
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX).max(1);
    let since_year_one = t.timestamp_millis().saturating_add(YEAR_ONE_TO_UNIX_MS);
    let ms = since_year_one - since_year_one.rem_euclid(period_ms) - YEAR_ONE_TO_UNIX_MS;
    DateTime::from_timestamp_millis(ms).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_count_from_year_one_as_gos_truncate_does() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let week = truncate(t, Duration::from_secs(7 * 86_400));
        // Year 1 began on a Monday, so weeks start on Mondays.
        assert_eq!(week.to_rfc3339(), "2026-11-30T00:00:00+00:00");
        let hour = truncate(t, Duration::from_secs(3_600));
        assert_eq!(hour, t);
    }

    #[test]
    fn sorted_args_sorts_top_level_keys_only() {
        assert_eq!(
            sorted_args(r#"{"b":1,"a":{"z":1,"y":2}}"#).unwrap(),
            r#"{"a":{"z":1,"y":2},"b":1}"#
        );
    }

    #[test]
    fn sorted_args_keeps_the_first_of_duplicate_keys() {
        assert_eq!(
            sorted_args(r#"{"b":3,"a":1,"a":2}"#).unwrap(),
            r#"{"a":1,"b":3}"#
        );
    }

    #[test]
    fn sorted_args_writes_keys_as_sjson_does() {
        // Printable ASCII keys are written unescaped, even when the args
        // escaped them; other keys get Go's escaping, and sort by their
        // unescaped bytes.
        assert_eq!(
            sorted_args(r#"{"\u003ck\u003e":1,"a\"b":2,"é\u0026":3,"line\n":4,"":5}"#).unwrap(),
            r#"{"":5,"<k>":1,"a\"b":2,"line\n":4,"é\u0026":3}"#
        );
        assert_eq!(
            sorted_args("{\"a\\\\b\":1,\"\\u2028\\u0001\\b\":2}").unwrap(),
            r#"{"a\\b":1,"\u2028\u0001\b":2}"#
        );
    }

    #[test]
    fn unique_key_is_sha256_of_rivers_string() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T10:17:42Z")
            .unwrap()
            .with_timezone(&Utc);
        let opts = UniqueOpts {
            by_args: true,
            by_period: Some(Duration::from_secs(3600)),
            by_queue: true,
            ..Default::default()
        };
        let key = unique_key("k", r#"{"b":2,"a":1}"#, "q", t, &opts).unwrap();
        let expected =
            Sha256::digest(br#"&kind=k&args={"a":1,"b":2}&period=2026-01-01T10:00:00Z&queue=q"#);
        assert_eq!(key, expected.to_vec());
    }
}
