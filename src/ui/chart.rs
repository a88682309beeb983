//! The overview's chart of jobs finalized per minute, drawn on the server as SVG.

use maud::{html, Markup};

use super::data::MinuteBar;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// Stacked bars, one per minute: completed, then cancelled, then discarded.
pub(crate) fn finalized_per_minute(minutes: &[MinuteBar]) -> Markup {
    let max = minutes
        .iter()
        .map(MinuteBar::total)
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let slot = plot_width / minutes.len().max(1) as f64;
    let scale = |n: i64| n as f64 / max as f64 * plot_height;
    let baseline = TOP + plot_height;
    let total: i64 = minutes.iter().map(MinuteBar::total).sum();
    let label = format!(
        "{total} jobs finalized in the last {} minutes",
        minutes.len()
    );
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            role="img" aria-label=(label) {
            line class="axis" x1=(LEFT) y1=(baseline) x2=(WIDTH - RIGHT) y2=(baseline) {}
            line class="grid" x1=(LEFT) y1=(TOP) x2=(WIDTH - RIGHT) y2=(TOP) {}
            text class="tick" x=(LEFT - 6.0) y=(TOP + 4.0) text-anchor="end" { (max) }
            text class="tick" x=(LEFT - 6.0) y=(baseline) text-anchor="end" { "0" }
            @for (i, bar) in minutes.iter().enumerate() {
                @let x = LEFT + i as f64 * slot + 1.0;
                @let w = (slot - 2.0).max(1.0);
                @let completed = scale(bar.completed);
                @let cancelled = scale(bar.cancelled);
                @let discarded = scale(bar.discarded);
                g {
                    title {
                        (bar.start.format("%H:%M UTC")) ": "
                        (bar.completed) " completed, " (bar.cancelled) " cancelled, " (bar.discarded) " discarded"
                    }
                    rect class="hit" x=(x) y=(TOP) width=(w) height=(plot_height) {}
                    @if bar.completed > 0 {
                        rect class="completed" x=(x) y=(baseline - completed) width=(w) height=(completed) {}
                    }
                    @if bar.cancelled > 0 {
                        rect class="cancelled" x=(x) y=(baseline - completed - cancelled) width=(w) height=(cancelled) {}
                    }
                    @if bar.discarded > 0 {
                        rect class="discarded" x=(x) y=(baseline - completed - cancelled - discarded) width=(w) height=(discarded) {}
                    }
                }
            }
            @if let (Some(first), Some(last)) = (minutes.first(), minutes.last()) {
                text class="tick" x=(LEFT) y=(HEIGHT - 6.0) { (first.start.format("%H:%M")) }
                text class="tick" x=(WIDTH - RIGHT) y=(HEIGHT - 6.0) text-anchor="end" { (last.start.format("%H:%M")) " UTC" }
            }
        }
    }
}
