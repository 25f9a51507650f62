//! Live progress on stderr, once per interval.
//!
//! On a terminal the line is redrawn in place; otherwise (CI logs) one plain
//! line per interval is printed; `--quiet` prints nothing.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::metrics::latency;
use crate::metrics::{Counters, Latencies, LatencyMetric};
use crate::report::csv::TimeseriesRow;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Nothing.
    Quiet,
    /// One redrawn line.
    Terminal,
    /// One line per interval.
    Lines,
}

impl ProgressMode {
    /// Terminal when stderr is one, else plain lines; quiet when asked.
    pub fn detect(quiet: bool) -> ProgressMode {
        if quiet {
            ProgressMode::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Terminal
        } else {
            ProgressMode::Lines
        }
    }
}

/// The progress printer.
#[derive(Debug)]
pub struct Progress {
    mode: ProgressMode,
    dropped: u64,
    drawn: bool,
}

impl Progress {
    /// A printer in `mode`.
    pub fn new(mode: ProgressMode) -> Progress {
        Progress {
            mode,
            dropped: 0,
            drawn: false,
        }
    }

    /// Notes dropped arrivals (open model).
    pub fn dropped(&mut self, n: u64) {
        self.dropped += n;
    }

    /// Prints the state after an interval.
    pub fn interval(
        &mut self,
        elapsed: Duration,
        planned: Duration,
        row: &TimeseriesRow,
        totals: &Counters,
        latencies: &Latencies,
    ) {
        if self.mode == ProgressMode::Quiet {
            return;
        }
        let secs = (row.t_s - prev_t(row)).max(1e-9);
        let ev_s = row.counters.events as f64 / secs;
        let ttfe = latencies.get(LatencyMetric::Ttfe);
        let ttfe_p99 = if ttfe.is_empty() {
            0.0
        } else {
            latency::quantile_us(ttfe, 0.99) as f64 / 1000.0
        };
        let mut line = format!(
            "[{:>6.1}s/{:.0}s] sessions {:>5} | ok {:>7} failed {:>5} | {:>8.0} ev/s | ttfe p99 {:>8.1}ms | breakers open {:>4}",
            elapsed.as_secs_f64(),
            planned.as_secs_f64(),
            row.active_sessions,
            totals.streams_ok,
            totals.streams_failed,
            ev_s,
            ttfe_p99,
            row.breakers_open,
        );
        if self.dropped > 0 {
            line.push_str(&format!(" | dropped {}", self.dropped));
        }
        let mut err = std::io::stderr().lock();
        let _ = match self.mode {
            ProgressMode::Terminal => write!(err, "\r\x1b[2K{line}"),
            _ => writeln!(err, "{line}"),
        };
        let _ = err.flush();
        self.drawn = true;
    }

    /// Ends the redrawn line.
    pub fn done(&mut self) {
        if self.mode == ProgressMode::Terminal && self.drawn {
            eprintln!();
        }
    }
}

/// Interval length is not in the row; rows are one interval apart, and the
/// rate only needs to be approximately right for a progress line.
fn prev_t(row: &TimeseriesRow) -> f64 {
    (row.t_s - 1.0).max(0.0)
}
