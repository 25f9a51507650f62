//! The per-fault analysis of a run: one [`FaultReport`] (a `faults.csv`
//! row) per fault that started, from the run's per-interval totals, the
//! fault samples the sessions attributed, and the faults' real windows.
//!
//! Pure: the collector keeps [`IntervalTotals`] as intervals close and calls
//! [`analyse`] once at the end.
//!
//! Interval granularity: an interval counts as "during the fault" when it
//! overlaps the window at all, so with 1 s intervals a 2.5 s fault spans
//! three or four intervals. That is the price of keeping a few words per
//! interval instead of per-attempt timestamps.
//!
//! - `retry_amplification` = attempts / wanted streams started, over the
//!   intervals overlapping the window (0 when no stream was wanted then);
//! - `recovery_burst` = the highest attempts/s of an interval overlapping
//!   the [`BURST_WINDOW`] after the fault, over the steady rate: the mean
//!   attempts/s of the intervals that ended by the fault start and began at
//!   most [`STEADY_LOOKBACK`] before it (0 when there is no steady rate, e.g.
//!   a fault at the very start, or no interval after the fault).

use std::collections::HashSet;
use std::time::Duration;

use crate::metrics::interval::FaultSample;
use crate::metrics::latency::new_histogram;
use crate::metrics::{Counters, LatencySummary};

/// How far before a fault its steady attempt rate is taken.
pub const STEADY_LOOKBACK: Duration = Duration::from_secs(30);
/// How long after a fault its recovery burst is looked for.
pub const BURST_WINDOW: Duration = Duration::from_secs(10);

/// One fault's row of `faults.csv`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultReport {
    /// 1-based fault number.
    pub fault: usize,
    /// Kind spelling.
    pub kind: String,
    /// Real start (run offset, s).
    pub start_s: f64,
    /// Real end (run offset, s); the run's end for a fault still on then.
    pub end_s: f64,
    /// Sessions affected: saw a failure during the window, or had their
    /// breaker opened or a recovery attributed to the fault.
    pub sessions: u64,
    /// Sessions whose breaker opened.
    pub opened: u64,
    /// Fault start → open, ms.
    pub open_p50_ms: f64,
    /// Fault start → open, ms.
    pub open_max_ms: f64,
    /// Affected sessions that completed a stream after the end.
    pub recovered: u64,
    /// Fault end → first success, ms.
    pub recover_p50_ms: f64,
    /// Fault end → first success, ms.
    pub recover_max_ms: f64,
    /// Calls refused by open breakers during the window.
    pub short_circuited: u64,
    /// Wanted streams failed during the window.
    pub failed_streams: u64,
    /// Attempts per wanted stream during the window.
    pub retry_amplification: f64,
    /// Peak attempts/s in the 10 s after the fault over the steady rate before it.
    pub recovery_burst: f64,
    /// Subscribe mode: sessions whose stream, cut during the window, reconnected.
    pub reconnected: u64,
    /// Disconnection → the next stream's first event, ms.
    pub reconnect_p50_ms: f64,
    /// Disconnection → the next stream's first event, ms.
    pub reconnect_max_ms: f64,
}

/// Per-interval totals kept for the analysis (a few words per interval).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntervalTotals {
    /// Interval start (run offset).
    pub start: Duration,
    /// Interval end (run offset).
    pub end: Duration,
    /// Attempts made.
    pub attempts: u64,
    /// Wanted streams started.
    pub streams_started: u64,
    /// Wanted streams failed.
    pub streams_failed: u64,
    /// Calls refused by open breakers.
    pub short_circuited: u64,
}

impl IntervalTotals {
    /// The totals of one interval `[start, end)` from its counters.
    pub fn of(start: Duration, end: Duration, c: &Counters) -> IntervalTotals {
        IntervalTotals {
            start,
            end,
            attempts: c.attempts,
            streams_started: c.streams_started,
            streams_failed: c.streams_failed,
            short_circuited: c.short_circuited,
        }
    }

    /// Attempts per second (0 for an empty interval).
    fn rate(&self) -> f64 {
        let secs = self.end.saturating_sub(self.start).as_secs_f64();
        if secs > 0.0 {
            self.attempts as f64 / secs
        } else {
            0.0
        }
    }
}

/// A fault that started, with its real window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObservedWindow<'a> {
    /// Index of the fault in the scenario (0-based).
    pub fault: usize,
    /// Kind spelling.
    pub kind: &'a str,
    /// Real start (run offset).
    pub start: Duration,
    /// Real end, if it ended before the run did.
    pub end: Option<Duration>,
}

/// The fault samples the sessions attributed, all faults together.
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultSamples<'a> {
    /// A session's first failure during a fault (fault start → failure).
    pub affected: &'a [FaultSample],
    /// A session's breaker opening (fault start → open).
    pub opens: &'a [FaultSample],
    /// A session's first success after a fault (fault end → success).
    pub recovers: &'a [FaultSample],
    /// Subscribe mode: a session's first reconnect after a disconnection
    /// in the window (disconnection → first event).
    pub reconnects: &'a [FaultSample],
}

/// Distinct sessions and latency summary of the samples of fault `i`.
fn summarise(samples: &[FaultSample], i: usize) -> (u64, LatencySummary) {
    let mut h = new_histogram();
    let mut sessions = HashSet::new();
    for s in samples.iter().filter(|s| s.fault == i) {
        h.saturating_record(
            u64::try_from(s.latency.as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
        );
        sessions.insert(s.session);
    }
    (sessions.len() as u64, LatencySummary::of(&h))
}

/// One report per window, in the order given. `run_end` closes the
/// windows of faults still on when the run ended.
pub fn analyse(
    windows: &[ObservedWindow<'_>],
    samples: &FaultSamples<'_>,
    series: &[IntervalTotals],
    run_end: Duration,
) -> Vec<FaultReport> {
    windows
        .iter()
        .map(|w| one(w, samples, series, run_end))
        .collect()
}

fn one(
    w: &ObservedWindow<'_>,
    samples: &FaultSamples<'_>,
    series: &[IntervalTotals],
    run_end: Duration,
) -> FaultReport {
    let (i, start) = (w.fault, w.start);
    let end = w.end.unwrap_or(run_end);
    let (opened, open) = summarise(samples.opens, i);
    let (recovered, recover) = summarise(samples.recovers, i);
    let (reconnected, reconnect) = summarise(samples.reconnects, i);
    let affected: HashSet<u64> = [samples.affected, samples.opens, samples.recovers]
        .into_iter()
        .flatten()
        .filter(|s| s.fault == i)
        .map(|s| s.session)
        .collect();

    let window: Vec<&IntervalTotals> = series
        .iter()
        .filter(|t| t.end > start && t.start < end)
        .collect();
    let attempts: u64 = window.iter().map(|t| t.attempts).sum();
    let wanted: u64 = window.iter().map(|t| t.streams_started).sum();
    let before: Vec<f64> = series
        .iter()
        .filter(|t| t.end <= start && t.start + STEADY_LOOKBACK >= start)
        .map(IntervalTotals::rate)
        .collect();
    let steady = if before.is_empty() {
        0.0
    } else {
        before.iter().sum::<f64>() / before.len() as f64
    };
    let peak_after = series
        .iter()
        .filter(|t| t.end > end && t.start < end + BURST_WINDOW)
        .map(IntervalTotals::rate)
        .fold(0.0, f64::max);

    FaultReport {
        fault: i + 1,
        kind: w.kind.to_owned(),
        start_s: start.as_secs_f64(),
        end_s: end.as_secs_f64(),
        sessions: affected.len() as u64,
        opened,
        open_p50_ms: open.p50_ms,
        open_max_ms: open.max_ms,
        recovered,
        recover_p50_ms: recover.p50_ms,
        recover_max_ms: recover.max_ms,
        short_circuited: window.iter().map(|t| t.short_circuited).sum(),
        failed_streams: window.iter().map(|t| t.streams_failed).sum(),
        retry_amplification: if wanted > 0 {
            attempts as f64 / wanted as f64
        } else {
            0.0
        },
        recovery_burst: if steady > 0.0 {
            peak_after / steady
        } else {
            0.0
        },
        reconnected,
        reconnect_p50_ms: reconnect.p50_ms,
        reconnect_max_ms: reconnect.max_ms,
    }
}

#[cfg(test)]
mod tests;
