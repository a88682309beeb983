//! JSON forms of the library's rows (`JobRow` does not derive `Serialize`).

use chrono::{DateTime, SecondsFormat, Utc};
use riverlite::{AttemptError, JobRow, JobState};
use serde_json::{json, Value};

/// A timestamp as RFC 3339 in UTC with milliseconds: `2024-05-01T12:00:00.123Z`.
pub fn time(at: DateTime<Utc>) -> Value {
    Value::String(at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn optional_time(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, time)
}

/// The stored args text as JSON, or as a string if it does not parse.
pub fn args(row: &JobRow) -> Value {
    serde_json::from_str(&row.args).unwrap_or_else(|_| Value::String(row.args.clone()))
}

fn attempt_error(error: &AttemptError) -> Value {
    json!({
        "at": time(error.at),
        "attempt": error.attempt,
        "error": error.error,
        "trace": error.trace,
    })
}

/// The states set in a `unique_states` bit mask, by name.
fn unique_states(mask: u8) -> Value {
    JobState::ALL
        .into_iter()
        .filter(|state| mask & state.unique_bit() != 0)
        .map(|state| Value::from(state.as_str()))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A job row as one JSON object, one key per column. `args` and `metadata`
/// are JSON values, timestamps RFC 3339, `unique_key` hex, and
/// `unique_states` the list of state names its bit mask covers.
pub fn job(row: &JobRow) -> Value {
    json!({
        "id": row.id,
        "args": args(row),
        "attempt": row.attempt,
        "attempted_at": optional_time(row.attempted_at),
        "attempted_by": row.attempted_by,
        "created_at": time(row.created_at),
        "errors": row.errors.iter().map(attempt_error).collect::<Vec<_>>(),
        "finalized_at": optional_time(row.finalized_at),
        "kind": row.kind,
        "max_attempts": row.max_attempts,
        "metadata": row.metadata,
        "priority": row.priority,
        "queue": row.queue,
        "state": row.state.as_str(),
        "scheduled_at": time(row.scheduled_at),
        "tags": row.tags,
        "unique_key": row.unique_key.as_deref().map(hex),
        "unique_states": row.unique_states.map_or(Value::Null, unique_states),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_states_names_the_bits() {
        let mask = JobState::Available.unique_bit() | JobState::Running.unique_bit();
        assert_eq!(unique_states(mask), json!(["available", "running"]));
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
