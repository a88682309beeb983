//! Progress of `riverlite bench`: a bar on a terminal, a line every 2 s otherwise.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::table::thousands;

/// How often a progress line is printed when stdout is not a terminal.
const LINE_INTERVAL: Duration = Duration::from_secs(2);
/// Updates closer together than this are skipped (the bar redraws at most this often).
const MIN_UPDATE_INTERVAL: Duration = Duration::from_millis(50);
/// The window over which the current rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Jobs per second over the last [`RATE_WINDOW`].
#[derive(Debug, Default)]
struct RateMeter {
    samples: VecDeque<(Instant, u64)>,
}

impl RateMeter {
    fn record(&mut self, at: Instant, count: u64) -> f64 {
        self.samples.push_back((at, count));
        while self
            .samples
            .front()
            .is_some_and(|&(t, _)| at.duration_since(t) > RATE_WINDOW)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, c0)), Some(&(t1, c1))) if t1 > t0 => {
                c1.saturating_sub(c0) as f64 / t1.duration_since(t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// How progress is shown.
#[derive(Debug)]
enum Display {
    /// An indicatif bar on stdout, a terminal.
    Bar(ProgressBar),
    /// Plain lines on stderr (stdout carries only the summary).
    Lines { last: Instant },
}

/// Progress of one phase: a position out of a length (jobs, or milliseconds
/// of a timed run) and a count of jobs handled so far, with its rate.
#[derive(Debug)]
pub struct Progress {
    display: Display,
    phase: &'static str,
    /// What the count counts: "inserted", "worked".
    noun: &'static str,
    len: u64,
    rate: RateMeter,
    last_update: Option<Instant>,
}

impl Progress {
    /// Progress of `phase` towards `len`, counting jobs `noun` ("worked").
    pub fn new(phase: &'static str, len: u64, noun: &'static str) -> Self {
        let display = if std::io::stdout().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar} {percent:>3}%  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(phase);
            Display::Bar(bar)
        } else {
            Display::Lines {
                last: Instant::now(),
            }
        };
        Progress {
            display,
            phase,
            noun,
            len,
            rate: RateMeter::default(),
            last_update: None,
        }
    }

    /// Reports `position` out of the length, with `count` jobs so far.
    pub fn update(&mut self, position: u64, count: u64) {
        let now = Instant::now();
        if self
            .last_update
            .is_some_and(|last| now.duration_since(last) < MIN_UPDATE_INTERVAL)
        {
            return;
        }
        self.last_update = Some(now);
        let rate = self.rate.record(now, count);
        let message = format!(
            "{} jobs {}, {} jobs/s",
            thousands(count),
            self.noun,
            thousands(rate.round() as u64)
        );
        match &mut self.display {
            Display::Bar(bar) => {
                bar.set_position(position.min(self.len));
                bar.set_message(message);
            }
            Display::Lines { last } if now.duration_since(*last) >= LINE_INTERVAL => {
                *last = now;
                let percent = position.min(self.len) * 100 / self.len.max(1);
                eprintln!("bench: {}: {percent:>3}%, {message}", self.phase);
            }
            Display::Lines { .. } => {}
        }
    }

    /// Removes the bar, leaving the terminal for the summary.
    pub fn finish(self) {
        if let Display::Bar(bar) = self.display {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_jobs_over_the_window() {
        let mut meter = RateMeter::default();
        let t0 = Instant::now();
        assert_eq!(meter.record(t0, 0), 0.0);
        let rate = meter.record(t0 + Duration::from_millis(500), 1000);
        assert!((rate - 2000.0).abs() < 1e-6);
        // Older samples fall out of the window.
        let rate = meter.record(t0 + Duration::from_millis(3000), 1000);
        assert!(rate < 1000.0);
    }
}
