//! What an attempt's outcome means, in River's terms: one pure function from a result to the update to write.
//!
//! The completer (for a worker's result) and the rescuer (for a job left
//! running) both call [`decide`]; the SQL only writes what it returns, and
//! the event reported for it follows from the state written. These are
//! River's rules:
//!
//! | outcome | state written | also |
//! |---|---|---|
//! | success | `completed` | `finalized_at` |
//! | failure, panic or timeout, attempts left | `retryable`, or `available` when due within the scheduler's interval | error appended; retry time from the worker, else the retry policy |
//! | failure at `max_attempts` | `discarded` | error appended, `finalized_at` |
//! | snooze | `scheduled`, or `available` when due within the scheduler's interval | attempt given back, `metadata.snoozes` + 1 |
//! | cancel by the worker | `cancelled` | error appended, `finalized_at` |
//! | a cancel request (`job_cancel`) and a failure | `cancelled` | error appended, `finalized_at` |
//! | a cancel request and a snooze | `cancelled` | `finalized_at`; the snoozed attempt is still given back |
//! | rescued (stuck, or its client died) | `retryable`; `discarded` at `max_attempts`; `cancelled` if requested | error appended, `river:rescue_count` + 1 |
//! | unreadable (a JSON column of the row is malformed), claimed but not run | `discarded` | error naming the column, `finalized_at` |
//!
//! A cancel request the owner had not seen yet when the outcome was decided
//! still wins over a retry or snooze: every update that would run the job
//! again carries a `cancelled` alternative, which the write takes when the
//! row records a request at that moment (River settles that race the same way).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::event::EventKind;
use crate::model::job::{AttemptError, JobRow, JobState};
use crate::model::retry::{next_retry_or_default, RetryPolicy};
use crate::model::time;
use crate::model::work_error::{WorkErrorKind, WorkOutcome};

/// The attempt's result, from the worker or from the rescuer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome<'a> {
    /// What the worker returned (or the failure before it ran).
    Worked(&'a WorkOutcome),
    /// The rescuer found the job still running: its client died
    /// (`orphaned`) or it ran past the rescue horizon.
    Rescued {
        /// Why, recorded as the attempt's error.
        reason: &'a str,
        /// Its client died, so it runs again at once.
        orphaned: bool,
    },
    /// The claimed row cannot be read (a JSON column holds malformed
    /// JSON), so it was never run: running it again would fail the same way.
    Unreadable {
        /// Which column, and what it holds.
        why: &'a str,
    },
}

/// The settings the rules depend on.
#[derive(Clone, Copy)]
pub(crate) struct OutcomeRules<'a> {
    /// The client's retry policy, for failures the worker gave no retry time.
    pub retry_policy: &'a dyn RetryPolicy,
    /// Retries and snoozes due within this go straight to `available` (the
    /// scheduler's interval): claims only take due jobs, and the scheduler
    /// would otherwise add up to one interval of delay.
    pub available_within: Duration,
}

/// A final state the write takes instead of the decided one, under a condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Settled {
    /// The state.
    pub state: JobState,
    /// Its `finalized_at`.
    pub finalized_at: DateTime<Utc>,
}

/// The update one outcome calls for, as the storage layer writes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JobUpdate {
    /// The job.
    pub id: i64,
    /// The attempt this outcome belongs to; a job rescued and claimed again
    /// meanwhile has moved on, and is left alone.
    pub attempt: i64,
    /// The state to write.
    pub state: JobState,
    /// A new `scheduled_at`, for a job that runs again.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// `finalized_at`, for a final state.
    pub finalized_at: Option<DateTime<Utc>>,
    /// An error to append to `errors`.
    pub error: Option<AttemptError>,
    /// A snooze: give the attempt back and count it in `metadata.snoozes`.
    pub snoozed: bool,
    /// A rescue: count it in `metadata."river:rescue_count"`.
    pub rescued: bool,
    /// What to write instead when the row records a cancel request at the
    /// time of writing; `None` for updates that are final already.
    pub if_cancel_requested: Option<Settled>,
    /// The event for this update, as decided.
    pub event: EventKind,
}

impl JobUpdate {
    /// The event to report once the update is written as `written` (the
    /// cancelled alternative turns any event into `JobCancelled`).
    pub(crate) fn event_for(&self, written: JobState) -> EventKind {
        match self.if_cancel_requested {
            Some(settled) if settled.state == written && written != self.state => {
                EventKind::JobCancelled
            }
            _ => self.event,
        }
    }

    /// True for a plain success, which the storage layer batches.
    pub(crate) fn is_plain_completion(&self) -> bool {
        self.state == JobState::Completed && self.error.is_none() && !self.snoozed
    }
}

/// Decides what `outcome` of `row`'s current attempt means at `now`.
/// `cancel_requested` says whether someone called `job_cancel` on it (as its
/// owner saw, or as the row records).
pub(crate) fn decide(
    row: &JobRow,
    outcome: Outcome<'_>,
    cancel_requested: bool,
    rules: &OutcomeRules<'_>,
    now: DateTime<Utc>,
) -> JobUpdate {
    let cancelled = Settled {
        state: JobState::Cancelled,
        finalized_at: now,
    };
    let mut update = JobUpdate {
        id: row.id,
        attempt: row.attempt,
        state: JobState::Completed,
        scheduled_at: None,
        finalized_at: Some(now),
        error: None,
        snoozed: false,
        rescued: false,
        if_cancel_requested: None,
        event: EventKind::JobCompleted,
    };
    let error = |message: String| Some(AttemptError::new(now, row.attempt, message));
    let (failure, retry_at) = match outcome {
        Outcome::Worked(worked) => match &worked.result {
            Ok(()) => return update,
            Err(WorkErrorKind::Cancel(reason)) => {
                return JobUpdate {
                    state: JobState::Cancelled,
                    error: error(format!("cancelled: {reason}")),
                    event: EventKind::JobCancelled,
                    ..update
                };
            }
            Err(WorkErrorKind::Snooze(_)) if cancel_requested => {
                return JobUpdate {
                    state: JobState::Cancelled,
                    snoozed: true,
                    event: EventKind::JobCancelled,
                    ..update
                };
            }
            Err(WorkErrorKind::Snooze(delay)) => {
                return JobUpdate {
                    state: waiting_state(*delay, rules, JobState::Scheduled),
                    scheduled_at: Some(time::after(now, *delay)),
                    finalized_at: None,
                    snoozed: true,
                    if_cancel_requested: Some(cancelled),
                    event: EventKind::JobSnoozed,
                    ..update
                };
            }
            Err(WorkErrorKind::Failure(message)) if cancel_requested => {
                return JobUpdate {
                    state: JobState::Cancelled,
                    error: error(format!("cancelled by request: {message}")),
                    event: EventKind::JobCancelled,
                    ..update
                };
            }
            Err(WorkErrorKind::Failure(message)) => {
                let message = if worked.timed_out {
                    format!("{message} (the job's timeout had passed)")
                } else {
                    message.clone()
                };
                (message, worked.next_retry)
            }
        },
        Outcome::Unreadable { why } => {
            return JobUpdate {
                state: JobState::Discarded,
                error: error(format!("discarded without running: {why}")),
                event: EventKind::JobFailed,
                ..update
            };
        }
        Outcome::Rescued { reason, .. } if cancel_requested => {
            return JobUpdate {
                state: JobState::Cancelled,
                error: error(reason.to_string()),
                rescued: true,
                event: EventKind::JobCancelled,
                ..update
            };
        }
        Outcome::Rescued { reason, orphaned } => {
            update.rescued = true;
            (reason.to_string(), orphaned.then_some(now))
        }
    };
    update.event = EventKind::JobFailed;
    update.error = error(failure);
    if row.attempt >= row.max_attempts {
        update.state = JobState::Discarded;
        return update;
    }
    let retry_at = retry_at.unwrap_or_else(|| next_retry_or_default(rules.retry_policy, row, now));
    // River's rescuer always leaves a rescued job retryable for the scheduler.
    update.state = if update.rescued {
        JobState::Retryable
    } else {
        let delay = (retry_at - now).to_std().unwrap_or_default();
        waiting_state(delay, rules, JobState::Retryable)
    };
    update.scheduled_at = Some(retry_at);
    update.finalized_at = None;
    update.if_cancel_requested = Some(cancelled);
    update
}

/// `available` when due within the scheduler's interval, else `later`.
fn waiting_state(delay: Duration, rules: &OutcomeRules<'_>, later: JobState) -> JobState {
    if delay <= rules.available_within {
        JobState::Available
    } else {
        later
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::retry::DefaultRetryPolicy;
    use crate::model::work_error::failed;

    const FIVE_S: Duration = Duration::from_secs(5);

    fn rules() -> OutcomeRules<'static> {
        OutcomeRules {
            retry_policy: &DefaultRetryPolicy,
            available_within: FIVE_S,
        }
    }

    fn worked(result: Result<(), WorkErrorKind>) -> WorkOutcome {
        WorkOutcome {
            result,
            next_retry: None,
            timed_out: false,
        }
    }

    /// A running job on `attempt` of `max_attempts`, with `previous_errors` recorded.
    fn row(attempt: i64, max_attempts: i64, previous_errors: usize) -> JobRow {
        let now = Utc::now();
        let mut row = JobRow::first_attempt("k", "{}".into(), now);
        row.attempt = attempt;
        row.max_attempts = max_attempts;
        row.errors = (0..previous_errors)
            .map(|i| AttemptError::new(now, i as i64 + 1, "earlier"))
            .collect();
        row
    }

    /// One case of the table: what the update says, in River's terms.
    struct Case {
        name: &'static str,
        row: JobRow,
        outcome: WorkOutcome,
        cancel_requested: bool,
        state: JobState,
        event: EventKind,
        error_contains: Option<&'static str>,
        final_: bool,
        cancel_alternative: bool,
    }

    #[test]
    fn each_outcome_writes_what_river_writes() {
        let future = Utc::now() + chrono::Duration::hours(1);
        let cases = [
            Case {
                name: "success",
                row: row(1, 25, 0),
                outcome: worked(Ok(())),
                cancel_requested: false,
                state: JobState::Completed,
                event: EventKind::JobCompleted,
                error_contains: None,
                final_: true,
                cancel_alternative: false,
            },
            Case {
                name: "success wins over a cancel request",
                row: row(1, 25, 0),
                outcome: worked(Ok(())),
                cancel_requested: true,
                state: JobState::Completed,
                event: EventKind::JobCompleted,
                error_contains: None,
                final_: true,
                cancel_alternative: false,
            },
            Case {
                name: "first error: retried within 1 s, so available at once",
                row: row(1, 25, 0),
                outcome: worked(Err(WorkErrorKind::Failure("boom".into()))),
                cancel_requested: false,
                state: JobState::Available,
                event: EventKind::JobFailed,
                error_contains: Some("boom"),
                final_: false,
                cancel_alternative: true,
            },
            Case {
                name: "second error: 16 s, retryable for the scheduler",
                row: row(2, 25, 1),
                outcome: worked(Err(WorkErrorKind::Failure("boom".into()))),
                cancel_requested: false,
                state: JobState::Retryable,
                event: EventKind::JobFailed,
                error_contains: Some("boom"),
                final_: false,
                cancel_alternative: true,
            },
            Case {
                name: "panic: a failure carrying the panic message",
                row: row(2, 25, 1),
                outcome: failed("panic: index out of bounds".into()),
                cancel_requested: false,
                state: JobState::Retryable,
                event: EventKind::JobFailed,
                error_contains: Some("panic: index out of bounds"),
                final_: false,
                cancel_alternative: true,
            },
            Case {
                name: "timeout: the error says the timeout had passed",
                row: row(2, 25, 1),
                outcome: WorkOutcome {
                    timed_out: true,
                    ..failed("interrupted".into())
                },
                cancel_requested: false,
                state: JobState::Retryable,
                event: EventKind::JobFailed,
                error_contains: Some("timeout had passed"),
                final_: false,
                cancel_alternative: true,
            },
            Case {
                name: "the worker's own retry time is used",
                row: row(1, 25, 0),
                outcome: WorkOutcome {
                    next_retry: Some(future),
                    ..failed("later".into())
                },
                cancel_requested: false,
                state: JobState::Retryable,
                event: EventKind::JobFailed,
                error_contains: Some("later"),
                final_: false,
                cancel_alternative: true,
            },
            Case {
                name: "error at max attempts: discarded",
                row: row(3, 3, 2),
                outcome: failed("boom".into()),
                cancel_requested: false,
                state: JobState::Discarded,
                event: EventKind::JobFailed,
                error_contains: Some("boom"),
                final_: true,
                cancel_alternative: false,
            },
            Case {
                name: "short snooze: available at once",
                row: row(1, 25, 0),
                outcome: worked(Err(WorkErrorKind::Snooze(Duration::from_secs(1)))),
                cancel_requested: false,
                state: JobState::Available,
                event: EventKind::JobSnoozed,
                error_contains: None,
                final_: false,
                cancel_alternative: true,
            },
            Case {
                name: "long snooze: scheduled",
                row: row(1, 25, 0),
                outcome: worked(Err(WorkErrorKind::Snooze(Duration::from_secs(60)))),
                cancel_requested: false,
                state: JobState::Scheduled,
                event: EventKind::JobSnoozed,
                error_contains: None,
                final_: false,
                cancel_alternative: true,
            },
            Case {
                name: "cancel by the worker",
                row: row(1, 25, 0),
                outcome: worked(Err(WorkErrorKind::Cancel("no recipient".into()))),
                cancel_requested: false,
                state: JobState::Cancelled,
                event: EventKind::JobCancelled,
                error_contains: Some("cancelled: no recipient"),
                final_: true,
                cancel_alternative: false,
            },
            Case {
                name: "a cancel request turns a failure into cancelled",
                row: row(1, 25, 0),
                outcome: failed("interrupted".into()),
                cancel_requested: true,
                state: JobState::Cancelled,
                event: EventKind::JobCancelled,
                error_contains: Some("cancelled by request: interrupted"),
                final_: true,
                cancel_alternative: false,
            },
            Case {
                name: "a cancel request turns a snooze into cancelled",
                row: row(1, 25, 0),
                outcome: worked(Err(WorkErrorKind::Snooze(Duration::from_secs(60)))),
                cancel_requested: true,
                state: JobState::Cancelled,
                event: EventKind::JobCancelled,
                error_contains: None,
                final_: true,
                cancel_alternative: false,
            },
            Case {
                name: "a cancel request at max attempts: cancelled, not discarded",
                row: row(3, 3, 2),
                outcome: failed("boom".into()),
                cancel_requested: true,
                state: JobState::Cancelled,
                event: EventKind::JobCancelled,
                error_contains: Some("cancelled by request"),
                final_: true,
                cancel_alternative: false,
            },
        ];
        let now = Utc::now();
        for case in cases {
            let update = decide(
                &case.row,
                Outcome::Worked(&case.outcome),
                case.cancel_requested,
                &rules(),
                now,
            );
            let name = case.name;
            assert_eq!(update.state, case.state, "{name}");
            assert_eq!(update.event, case.event, "{name}");
            assert_eq!(update.attempt, case.row.attempt, "{name}");
            assert_eq!(
                update.error.as_ref().map(|e| e.attempt),
                case.error_contains.map(|_| case.row.attempt),
                "{name}"
            );
            if let Some(text) = case.error_contains {
                let error = update.error.as_ref().map(|e| e.error.as_str());
                assert!(error.is_some_and(|e| e.contains(text)), "{name}: {error:?}");
            }
            assert_eq!(update.finalized_at.is_some(), case.final_, "{name}");
            assert_eq!(update.scheduled_at.is_some(), !case.final_, "{name}");
            assert_eq!(
                update.if_cancel_requested.is_some(),
                case.cancel_alternative,
                "{name}"
            );
            let snooze = matches!(case.outcome.result, Err(WorkErrorKind::Snooze(_)));
            assert_eq!(update.snoozed, snooze, "{name}");
        }
    }

    /// The update for `outcome` of `row`, with no cancel request.
    fn decided(row: &JobRow, outcome: &WorkOutcome, now: DateTime<Utc>) -> JobUpdate {
        decide(row, Outcome::Worked(outcome), false, &rules(), now)
    }

    #[test]
    fn retry_times_follow_the_policy_and_the_worker() {
        let now = Utc::now();
        let second = decided(&row(2, 25, 1), &failed("x".into()), now);
        let delay = (second.scheduled_at.unwrap() - now).num_milliseconds();
        assert!(
            (14_400..=17_600).contains(&delay),
            "16 s ± 10 %: {delay} ms"
        );

        let at = now + chrono::Duration::minutes(5);
        let chosen = WorkOutcome {
            next_retry: Some(at),
            ..failed("x".into())
        };
        let update = decided(&row(1, 25, 0), &chosen, now);
        assert_eq!(update.scheduled_at, Some(at));
    }

    #[test]
    fn a_late_cancel_request_turns_a_retry_into_cancelled_when_written() {
        let now = Utc::now();
        let update = decided(&row(1, 25, 0), &failed("x".into()), now);
        assert_eq!(update.event_for(JobState::Available), EventKind::JobFailed);
        assert_eq!(
            update.event_for(JobState::Cancelled),
            EventKind::JobCancelled
        );
    }

    #[test]
    fn an_unreadable_row_is_discarded_with_the_reason() {
        let why = "column metadata is not valid JSON: \"{oops\"";
        let update = decide(
            &row(1, 25, 0),
            Outcome::Unreadable { why },
            false,
            &rules(),
            Utc::now(),
        );
        assert_eq!(update.state, JobState::Discarded);
        assert_eq!(update.event, EventKind::JobFailed);
        assert!(update.finalized_at.is_some() && update.scheduled_at.is_none());
        assert!(update.error.is_some_and(|e| e.error.contains(why)));
    }

    #[test]
    fn rescued_jobs_are_retryable_discarded_or_cancelled() {
        let now = Utc::now();
        let orphan = Outcome::Rescued {
            reason: "orphaned",
            orphaned: true,
        };
        let update = decide(&row(1, 25, 0), orphan, false, &rules(), now);
        assert_eq!(
            update.state,
            JobState::Retryable,
            "River's rescuer leaves it retryable"
        );
        assert_eq!(
            update.scheduled_at,
            Some(now),
            "an orphan runs again at once"
        );
        assert!(update.rescued);

        let stuck = Outcome::Rescued {
            reason: "stuck",
            orphaned: false,
        };
        let update = decide(&row(1, 25, 0), stuck, false, &rules(), now);
        assert_eq!(update.state, JobState::Retryable);
        assert!(update.scheduled_at.unwrap() > now, "a stuck job backs off");

        assert_eq!(
            decide(&row(3, 3, 0), stuck, false, &rules(), now).state,
            JobState::Discarded
        );
        assert_eq!(
            decide(&row(1, 25, 0), stuck, true, &rules(), now).state,
            JobState::Cancelled
        );
    }
}
