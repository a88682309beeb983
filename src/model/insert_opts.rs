//! Insert options (`InsertOpts`, `UniqueOpts`, `InsertManyParams`), their defaults, and River's naming rules.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::args::JobArgs;
use crate::model::job::{JobRow, JobState};

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
pub(crate) fn validate_tag(tag: &str) -> std::result::Result<(), String> {
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

/// Merges per-call, per-kind and client options, in that order of precedence.
pub(crate) fn merge(
    call: Option<InsertOpts>,
    kind: &InsertOpts,
    client: &InsertOpts,
) -> InsertOpts {
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
}
