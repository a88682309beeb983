//! River's notifications: the topics and payloads its SQLite driver writes to `river_notification`, as data.

use serde_json::{json, Value};

/// Topic of "a queue has new available jobs".
pub(crate) const TOPIC_INSERT: &str = "river_insert";
/// Topic of job cancels and queue pauses and resumes.
pub(crate) const TOPIC_CONTROL: &str = "river_control";
/// Topic of leadership changes and requests.
pub(crate) const TOPIC_LEADERSHIP: &str = "river_leadership";
/// Every topic riverlite reads.
pub(crate) const TOPICS: [&str; 3] = [TOPIC_INSERT, TOPIC_CONTROL, TOPIC_LEADERSHIP];

/// One notification, in River's protocol (its `protocol_values.json`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Notification {
    /// `queue` has new available jobs.
    Insert { queue: String },
    /// Cancel running job `job_id` of `queue`.
    Cancel { job_id: i64, queue: String },
    /// Pause `queue` (`*` for every queue).
    Pause { queue: String },
    /// Resume `queue` (`*` for every queue).
    Resume { queue: String },
    /// Someone asks the current leader to resign.
    RequestResign,
    /// `leader_id` gave up leadership.
    Resigned { leader_id: String },
}

impl Notification {
    /// Its topic.
    pub(crate) fn topic(&self) -> &'static str {
        match self {
            Notification::Insert { .. } => TOPIC_INSERT,
            Notification::Cancel { .. }
            | Notification::Pause { .. }
            | Notification::Resume { .. } => TOPIC_CONTROL,
            Notification::RequestResign | Notification::Resigned { .. } => TOPIC_LEADERSHIP,
        }
    }

    /// Its payload, as River writes it.
    pub(crate) fn payload(&self) -> Value {
        match self {
            Notification::Insert { queue } => json!({ "queue": queue }),
            Notification::Cancel { job_id, queue } => {
                json!({ "action": "cancel", "job_id": job_id, "queue": queue })
            }
            Notification::Pause { queue } => json!({ "action": "pause", "queue": queue }),
            Notification::Resume { queue } => json!({ "action": "resume", "queue": queue }),
            Notification::RequestResign => json!({ "action": "request_resign", "leader_id": "" }),
            Notification::Resigned { leader_id } => {
                json!({ "action": "resigned", "leader_id": leader_id })
            }
        }
    }

    /// Reads one row; `None` for topics and actions riverlite has no use
    /// for (River's `metadata_changed`, say) or a payload it cannot read.
    pub(crate) fn parse(topic: &str, payload: &str) -> Option<Notification> {
        let value: Value = serde_json::from_str(payload).ok()?;
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        let action = text("action");
        match (topic, action.as_deref()) {
            (TOPIC_INSERT, _) => Some(Notification::Insert {
                queue: text("queue")?,
            }),
            (TOPIC_CONTROL, Some("cancel")) => Some(Notification::Cancel {
                job_id: value.get("job_id")?.as_i64()?,
                queue: text("queue").unwrap_or_default(),
            }),
            (TOPIC_CONTROL, Some("pause")) => Some(Notification::Pause {
                queue: text("queue")?,
            }),
            (TOPIC_CONTROL, Some("resume")) => Some(Notification::Resume {
                queue: text("queue")?,
            }),
            (TOPIC_LEADERSHIP, Some("request_resign")) => Some(Notification::RequestResign),
            (TOPIC_LEADERSHIP, Some("resigned")) => Some(Notification::Resigned {
                leader_id: text("leader_id").unwrap_or_default(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notification_reads_back_from_its_own_payload() {
        let all = [
            Notification::Insert { queue: "q".into() },
            Notification::Cancel {
                job_id: 42,
                queue: "q".into(),
            },
            Notification::Pause { queue: "*".into() },
            Notification::Resume { queue: "q".into() },
            Notification::RequestResign,
            Notification::Resigned {
                leader_id: "c".into(),
            },
        ];
        for n in all {
            let payload = n.payload().to_string();
            assert_eq!(Notification::parse(n.topic(), &payload), Some(n));
        }
        assert_eq!(
            Notification::parse(TOPIC_CONTROL, r#"{"action":"metadata_changed"}"#),
            None
        );
        assert_eq!(Notification::parse(TOPIC_INSERT, "not json"), None);
    }
}
