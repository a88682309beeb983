//! What the pages and the API show, gathered once per request: the overview's figures, queue summaries, job pages and schedules.

use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::Ui;
use crate::db::dashboard::{self, FinalizedMinute, JobFilter, JobPage};
use crate::error::Result;
use crate::leader::liveness::{live_clients, LockPaths};
use crate::model::durable_schedule::ScheduleRow;
use crate::model::job::JobState;
use crate::model::LeaderRow;

/// The minutes the overview's chart covers.
pub(crate) const CHART_MINUTES: usize = 60;

/// One queue: its jobs per state, whether it is paused, and its longest wait.
#[derive(Debug, Clone)]
pub(crate) struct QueueSummary {
    /// The queue's name.
    pub name: String,
    /// Jobs per state, in [`JobState::ALL`] order.
    pub counts: [i64; 8],
    /// When it was paused, if it is.
    pub paused_at: Option<DateTime<Utc>>,
    /// When its longest-waiting available job was scheduled.
    pub oldest_available: Option<DateTime<Utc>>,
}

impl QueueSummary {
    /// Jobs of this queue in `state`.
    pub(crate) fn count(&self, state: JobState) -> i64 {
        self.counts[state_index(state)]
    }
}

/// The position of `state` in [`JobState::ALL`].
pub(crate) fn state_index(state: JobState) -> usize {
    JobState::ALL.iter().position(|s| *s == state).unwrap_or(0)
}

/// Jobs finalized in one minute of the chart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MinuteBar {
    /// The minute's start.
    pub start: DateTime<Utc>,
    /// Completed in that minute.
    pub completed: i64,
    /// Cancelled in that minute.
    pub cancelled: i64,
    /// Discarded in that minute.
    pub discarded: i64,
}

impl MinuteBar {
    /// All three.
    pub(crate) fn total(&self) -> i64 {
        self.completed + self.cancelled + self.discarded
    }
}

/// The overview page's figures.
#[derive(Debug, Clone)]
pub(crate) struct Overview {
    /// Every queue with jobs or a `river_queue` row, by name.
    pub queues: Vec<QueueSummary>,
    /// The last hour, oldest minute first.
    pub minutes: Vec<MinuteBar>,
    /// The leader recorded in `river_leader`.
    pub leader: Option<LeaderRow>,
    /// riverlite clients holding their liveness lock (River's clients keep none).
    pub live_clients: Vec<String>,
    /// When these figures were read.
    pub now: DateTime<Utc>,
}

impl Ui {
    /// The overview's figures.
    pub(crate) fn overview(&self) -> Result<Overview> {
        let now = Utc::now();
        Ok(Overview {
            queues: self.queue_summaries()?,
            minutes: self.minutes(now)?,
            leader: self.client.leader()?,
            live_clients: self.live_clients(),
            now,
        })
    }

    /// Every queue, with counts, pause state and its longest wait.
    pub(crate) fn queue_summaries(&self) -> Result<Vec<QueueSummary>> {
        let mut queues: Vec<QueueSummary> = Vec::new();
        let summary_of = |name: &str, queues: &mut Vec<QueueSummary>| -> usize {
            match queues.binary_search_by(|q| q.name.as_str().cmp(name)) {
                Ok(at) => at,
                Err(at) => {
                    queues.insert(
                        at,
                        QueueSummary {
                            name: name.to_string(),
                            counts: [0; 8],
                            paused_at: None,
                            oldest_available: None,
                        },
                    );
                    at
                }
            }
        };
        for count in self.client.job_counts()? {
            let at = summary_of(&count.queue, &mut queues);
            queues[at].counts[state_index(count.state)] = count.count;
        }
        for row in self.client.queue_list()? {
            let at = summary_of(&row.name, &mut queues);
            queues[at].paused_at = row.paused_at;
        }
        let conn = self.client.db().conn()?;
        for queue in &mut queues {
            if queue.count(JobState::Available) > 0 {
                queue.oldest_available = dashboard::oldest_available(&conn, &queue.name)?;
            }
        }
        Ok(queues)
    }

    /// The chart's minutes, ending with the current one.
    fn minutes(&self, now: DateTime<Utc>) -> Result<Vec<MinuteBar>> {
        let this_minute = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
        let first = this_minute - Duration::minutes(CHART_MINUTES as i64 - 1);
        let mut bars: Vec<MinuteBar> = (0..CHART_MINUTES)
            .map(|i| MinuteBar {
                start: first + Duration::minutes(i as i64),
                ..Default::default()
            })
            .collect();
        let rows =
            dashboard::finalized_per_minute(&*self.client.db().conn()?, first, CHART_MINUTES)?;
        for FinalizedMinute {
            minute,
            state,
            count,
        } in rows
        {
            let Some(bar) = bars.get_mut(minute) else {
                continue;
            };
            match state {
                JobState::Completed => bar.completed += count,
                JobState::Cancelled => bar.cancelled += count,
                JobState::Discarded => bar.discarded += count,
                _ => {}
            }
        }
        Ok(bars)
    }

    fn live_clients(&self) -> Vec<String> {
        self.client
            .db()
            .file()
            .and_then(|file| LockPaths::for_database(file).ok())
            .map(|paths| live_clients(&paths))
            .unwrap_or_default()
    }

    /// A page of jobs, and how long it took to read.
    pub(crate) fn job_page(
        &self,
        filter: &JobFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(JobPage, std::time::Duration)> {
        let started = Instant::now();
        let page = dashboard::job_page(&*self.client.db().conn()?, filter, before, limit)?;
        Ok((page, started.elapsed()))
    }

    /// The durable schedules, or `None` on a file without riverlite's
    /// table (one a River client created).
    pub(crate) fn schedules(&self) -> Result<Option<Vec<ScheduleRow>>> {
        crate::db::schedules::list_if_any(&*self.client.db().conn()?)
    }
}
