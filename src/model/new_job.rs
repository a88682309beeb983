//! `NewJob`: one insert validated and turned into the row to store.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::model::insert_opts::{
    merge, validate_kind, validate_queue_name, validate_tag, InsertOpts, DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PRIORITY, DEFAULT_QUEUE,
};
use crate::model::job::JobState;
use crate::model::time;
use crate::model::unique;

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

/// Validates one insert and turns it into a row. Nothing is written here.
pub(crate) fn prepare(
    kind: &str,
    args: std::result::Result<String, String>,
    call: Option<InsertOpts>,
    kind_opts: &InsertOpts,
    client_opts: &InsertOpts,
    now: DateTime<Utc>,
) -> Result<NewJob> {
    validate_kind(kind).map_err(|r| Error::invalid_insert("kind", r))?;
    let args = args
        .map_err(|r| Error::invalid_insert("args", format!("cannot encode args as JSON: {r}")))?;
    // River's args are always a JSON object: a unit struct's `null` is
    // stored as `{}` (and `model::args::decode` reads it back).
    let args = if args == "null" {
        "{}".to_string()
    } else {
        args
    };
    if !args.starts_with('{') {
        return Err(Error::invalid_insert(
            "args",
            "args must encode as a JSON object",
        ));
    }
    let opts = merge(call, kind_opts, client_opts);

    let queue = opts.queue.unwrap_or_else(|| DEFAULT_QUEUE.to_string());
    validate_queue_name(&queue).map_err(|r| Error::invalid_insert("queue", r))?;
    let priority = opts.priority.unwrap_or(DEFAULT_PRIORITY);
    if !(1..=4).contains(&priority) {
        return Err(Error::invalid_insert(
            "priority",
            format!("{priority} is out of range: use 1 (highest) to 4"),
        ));
    }
    let max_attempts = opts.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if max_attempts < 1 {
        return Err(Error::invalid_insert("max_attempts", "must be at least 1"));
    }
    for tag in &opts.tags {
        validate_tag(tag).map_err(|r| Error::invalid_insert("tags", r))?;
    }
    let metadata = match opts.metadata {
        None => serde_json::Value::Object(serde_json::Map::new()),
        Some(v @ serde_json::Value::Object(_)) => v,
        Some(other) => {
            return Err(Error::invalid_insert(
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
            let states = unique::unique_states(unique)?;
            let key = unique::unique_key(kind, &args, &queue, scheduled_at, unique)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_json_drops_whitespace_between_tokens_only() {
        assert_eq!(compact_json(r#"{"a":1}"#.into()), r#"{"a":1}"#);
        assert_eq!(
            compact_json("{ \"a b\" : [1, \"c \\\" d\"] ,\n\t\"e\":{} }".into()),
            r#"{"a b":[1,"c \" d"],"e":{}}"#
        );
    }
}
