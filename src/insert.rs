//! Insert options, their validation, and River's unique keys.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::args::JobArgs;
use crate::db::time;
use crate::error::{Error, Result};
use crate::job::{JobRow, JobState};

/// Default `max_attempts`, as in River.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 25;
/// Default priority (1 is the highest).
pub const DEFAULT_PRIORITY: u8 = 1;
/// Default queue name.
pub const DEFAULT_QUEUE: &str = "default";
/// Longest kind, queue name or periodic job id: River's CHECK constraints
/// allow 1 to 127 characters.
pub const MAX_NAME_LEN: usize = 127;
/// The shortest period `UniqueOpts::by_period` accepts.
pub const MIN_UNIQUE_PERIOD: Duration = Duration::from_secs(1);

/// Options for one insert. `None` fields fall back to the kind's
/// [`JobArgs::insert_opts`], then to the client's defaults, then to River's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InsertOpts {
    /// Queue to insert into (default `"default"`).
    pub queue: Option<String>,
    /// 1 (highest) to 4 (default 1).
    pub priority: Option<u8>,
    /// Attempts before the job is discarded, at least 1 (default 25).
    pub max_attempts: Option<u32>,
    /// When the job may run; a future time makes it `scheduled`.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Tags: 1 to 255 characters of `[\w][\w\-]+[\w]` each.
    pub tags: Vec<String>,
    /// A JSON object stored with the job.
    pub metadata: Option<serde_json::Value>,
    /// Insert as `pending`: the job is not worked until moved on.
    pub pending: bool,
    /// Make the job unique (see [`UniqueOpts`]).
    pub unique: Option<UniqueOpts>,
}

/// Uniqueness: at most one job with the same key may exist in `by_state`.
///
/// The key always includes the kind (unless `exclude_kind`), and optionally
/// the args, the period and the queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UniqueOpts {
    /// Include the args (top-level keys sorted) in the key.
    pub by_args: bool,
    /// Include the time window of this length (at least 1 s) that contains `scheduled_at`.
    pub by_period: Option<Duration>,
    /// Include the queue in the key.
    pub by_queue: bool,
    /// States in which a duplicate is refused. Must include available,
    /// pending, running and scheduled. Default: all but cancelled and discarded.
    pub by_state: Option<Vec<JobState>>,
    /// Leave the kind out of the key, so kinds share uniqueness.
    pub exclude_kind: bool,
}

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

/// One job of an `insert_many` call.
#[derive(Debug)]
pub struct InsertManyParams {
    pub(crate) kind: &'static str,
    pub(crate) args: std::result::Result<String, String>,
    pub(crate) kind_opts: InsertOpts,
    pub(crate) opts: Option<InsertOpts>,
}

impl InsertManyParams {
    /// Params for `args` with default options. Encoding errors surface from
    /// `insert_many`, so this never fails.
    pub fn new<A: JobArgs>(args: A) -> Self {
        InsertManyParams {
            kind: A::KIND,
            args: serde_json::to_string(&args).map_err(|e| e.to_string()),
            kind_opts: A::insert_opts(),
            opts: None,
        }
    }

    /// Sets per-job insert options.
    pub fn opts(mut self, opts: InsertOpts) -> Self {
        self.opts = Some(opts);
        self
    }
}

/// The outcome of one insert.
#[derive(Debug, Clone, PartialEq)]
pub struct InsertResult {
    /// The inserted row, or the existing one when skipped as a duplicate.
    pub job: JobRow,
    /// True when a unique job already existed and nothing was inserted.
    pub unique_skipped_as_duplicate: bool,
}

/// A validated row, ready for `db::jobs::insert`.
///
/// JSON columns are kept both as the text to store and as the values that
/// `JobRow` holds, so that the insert can return the row without reading it back.
#[derive(Debug, Clone)]
pub(crate) struct NewJob {
    /// The args as JSON text.
    pub args: String,
    pub kind: String,
    pub max_attempts: i64,
    /// The metadata object, and its JSON text.
    pub metadata: serde_json::Value,
    pub metadata_json: String,
    pub priority: i64,
    pub queue: String,
    /// scheduled_at at stored precision, and as stored text.
    pub scheduled_at: DateTime<Utc>,
    pub scheduled_at_text: String,
    pub state: JobState,
    /// The tags, and their JSON text.
    pub tags: Vec<String>,
    pub tags_json: String,
    pub unique_key: Option<Vec<u8>>,
    pub unique_states: Option<u8>,
}

/// Checks a queue name against River's rule: 1 to 127 characters of
/// `[a-z0-9]`, with single `_`, `-` or `|` between them.
pub(crate) fn validate_queue_name(name: &str) -> std::result::Result<(), String> {
    let bytes = name.as_bytes();
    let is_sep = |c: u8| matches!(c, b'_' | b'-' | b'|');
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || is_sep(c))
        && !is_sep(bytes[0])
        && !is_sep(bytes[bytes.len() - 1])
        && !bytes.windows(2).any(|w| is_sep(w[0]) && is_sep(w[1]));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid queue name: use 1 to {MAX_NAME_LEN} characters of a-z and 0-9, with single '_', '-' or '|' between them"
        ))
    }
}

/// River's tag rule: 1 to 255 characters, `[\w][\w\-]+[\w]` (or one word character).
fn validate_tag(tag: &str) -> std::result::Result<(), String> {
    let chars: Vec<char> = tag.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let ok = !chars.is_empty()
        && chars.len() <= 255
        && word(chars[0])
        && word(chars[chars.len() - 1])
        && chars.iter().all(|&c| word(c) || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{tag:?} is not a valid tag: use 1 to 255 letters, digits, '_' or '-', starting and ending with a letter, digit or '_'"
        ))
    }
}

/// Checks a job kind: 1 to 127 characters.
pub(crate) fn validate_kind(kind: &str) -> std::result::Result<(), String> {
    if kind.is_empty() || kind.len() > MAX_NAME_LEN {
        Err(format!(
            "kind {kind:?} must be 1 to {MAX_NAME_LEN} characters"
        ))
    } else {
        Ok(())
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidInsert {
        field,
        reason: reason.into(),
    }
}

/// Merges per-call, per-kind and client options, in that order of precedence.
fn merge(call: Option<InsertOpts>, kind: &InsertOpts, client: &InsertOpts) -> InsertOpts {
    let call = call.unwrap_or_default();
    let pick_vec = |v: Vec<String>| (!v.is_empty()).then_some(v);
    InsertOpts {
        queue: call
            .queue
            .or_else(|| kind.queue.clone())
            .or_else(|| client.queue.clone()),
        priority: call.priority.or(kind.priority).or(client.priority),
        max_attempts: call
            .max_attempts
            .or(kind.max_attempts)
            .or(client.max_attempts),
        scheduled_at: call
            .scheduled_at
            .or(kind.scheduled_at)
            .or(client.scheduled_at),
        tags: pick_vec(call.tags)
            .or_else(|| pick_vec(kind.tags.clone()))
            .unwrap_or_else(|| client.tags.clone()),
        metadata: call
            .metadata
            .or_else(|| kind.metadata.clone())
            .or_else(|| client.metadata.clone()),
        pending: call.pending || kind.pending || client.pending,
        unique: call
            .unique
            .or_else(|| kind.unique.clone())
            .or_else(|| client.unique.clone()),
    }
}

/// Validates one insert and turns it into a row. Nothing is written here.
pub(crate) fn prepare(
    kind: &str,
    args: std::result::Result<String, String>,
    call: Option<InsertOpts>,
    kind_opts: &InsertOpts,
    client_opts: &InsertOpts,
    now: DateTime<Utc>,
) -> Result<NewJob> {
    validate_kind(kind).map_err(|r| invalid("kind", r))?;
    let args = args.map_err(|r| invalid("args", format!("cannot encode args as JSON: {r}")))?;
    if !args.starts_with('{') {
        return Err(invalid("args", "args must encode as a JSON object"));
    }
    let opts = merge(call, kind_opts, client_opts);

    let queue = opts.queue.unwrap_or_else(|| DEFAULT_QUEUE.to_string());
    validate_queue_name(&queue).map_err(|r| invalid("queue", r))?;
    let priority = opts.priority.unwrap_or(DEFAULT_PRIORITY);
    if !(1..=4).contains(&priority) {
        return Err(invalid(
            "priority",
            format!("{priority} is out of range: use 1 (highest) to 4"),
        ));
    }
    let max_attempts = opts.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if max_attempts < 1 {
        return Err(invalid("max_attempts", "must be at least 1"));
    }
    for tag in &opts.tags {
        validate_tag(tag).map_err(|r| invalid("tags", r))?;
    }
    let metadata = match opts.metadata {
        None => serde_json::Value::Object(serde_json::Map::new()),
        Some(v @ serde_json::Value::Object(_)) => v,
        Some(other) => {
            return Err(invalid(
                "metadata",
                format!("must be a JSON object, not {other}"),
            ))
        }
    };

    let scheduled_at = time::to_stored_precision(opts.scheduled_at.unwrap_or(now));
    let state = if opts.pending {
        JobState::Pending
    } else if scheduled_at > now {
        JobState::Scheduled
    } else {
        JobState::Available
    };
    let (unique_key, unique_states) = match &opts.unique {
        None => (None, None),
        Some(unique) => {
            let states = unique_states(unique)?;
            let key = unique_key(kind, &args, &queue, scheduled_at, unique)?;
            (Some(key), Some(states))
        }
    };

    // The row holds what reading the stored text gives back.
    let scheduled_at_text = time::format(scheduled_at);
    let scheduled_at = time::parse(&scheduled_at_text).unwrap_or(scheduled_at);
    Ok(NewJob {
        args: compact_json(args),
        kind: kind.to_string(),
        max_attempts: i64::from(max_attempts),
        metadata_json: metadata.to_string(),
        metadata,
        priority: i64::from(priority),
        queue,
        scheduled_at,
        scheduled_at_text,
        state,
        tags_json: serde_json::to_string(&opts.tags)?,
        tags: opts.tags,
        unique_key,
        unique_states,
    })
}

/// JSON text without whitespace between tokens, which is how SQLite's
/// `json()` renders stored JSONB. serde_json writes compact JSON already,
/// except inside a `RawValue`; compacting makes the returned row's args the
/// same text that reading the row back gives.
fn compact_json(json: String) -> String {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    if !json.contains(is_space) {
        return json;
    }
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if is_space(c) {
            continue;
        }
        out.push(c);
    }
    out
}

fn unique_states(unique: &UniqueOpts) -> Result<u8> {
    let states = unique.by_state.as_deref().unwrap_or(&DEFAULT_UNIQUE_STATES);
    let missing: Vec<&str> = REQUIRED_UNIQUE_STATES
        .iter()
        .filter(|s| !states.contains(s))
        .map(|s| s.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(invalid(
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
fn unique_key(
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
            return Err(invalid("unique.by_period", "must be at least 1 second"));
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

/// The args object with its top-level keys sorted and values kept as encoded.
fn sorted_args(args: &str) -> Result<String> {
    let map: std::collections::BTreeMap<&str, &RawValue> = serde_json::from_str(args)?;
    let mut out = String::with_capacity(args.len());
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k)?);
        out.push(':');
        out.push_str(v.get());
    }
    out.push('}');
    Ok(out)
}

fn truncate(t: DateTime<Utc>, period: Duration) -> DateTime<Utc> {
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX).max(1);
    let ms = t.timestamp_millis();
    DateTime::from_timestamp_millis(ms - ms.rem_euclid(period_ms)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_rivers_rule() {
        for ok in ["default", "a", "email_high", "a-b|c", "q1"] {
            assert!(validate_queue_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Default",
            "a__b",
            "_a",
            "a_",
            "with space",
            &"a".repeat(128),
        ] {
            assert!(validate_queue_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_follow_rivers_rule() {
        assert!(validate_tag("billing").is_ok());
        assert!(validate_tag("a-b_c").is_ok());
        assert!(validate_tag("-a").is_err());
        assert!(validate_tag("has space").is_err());
        assert!(validate_tag("").is_err());
    }

    #[test]
    fn compact_json_drops_whitespace_between_tokens_only() {
        assert_eq!(compact_json(r#"{"a":1}"#.into()), r#"{"a":1}"#);
        assert_eq!(
            compact_json("{ \"a b\" : [1, \"c \\\" d\"] ,\n\t\"e\":{} }".into()),
            r#"{"a b":[1,"c \" d"],"e":{}}"#
        );
    }

    #[test]
    fn sorted_args_sorts_top_level_keys_only() {
        assert_eq!(
            sorted_args(r#"{"b":1,"a":{"z":1,"y":2}}"#).unwrap(),
            r#"{"a":{"z":1,"y":2},"b":1}"#
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
