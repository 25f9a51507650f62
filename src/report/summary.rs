//! `RunSummary`: everything the report files are rendered from.

use std::time::{Duration, SystemTime};

use crate::metrics::SessionStats;
use crate::metrics::{Counters, ErrorSamples, Latencies, LatencyMetric, LatencySummary};
use crate::scenario::thresholds::{MetricKey, MetricSource};

/// One fault's row of `faults.csv`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultReport {
    /// 1-based fault number.
    pub fault: usize,
    /// Kind spelling.
    pub kind: String,
    /// Real start (run offset, s).
    pub start_s: f64,
    /// Real end (run offset, s).
    pub end_s: f64,
    /// Sessions affected (saw a failure during the window).
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
}

/// A whole run, as measured.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Scenario name.
    pub name: String,
    /// Target, credentials stripped.
    pub target: String,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// Run length.
    pub duration: Duration,
    /// Most sessions alive at once.
    pub peak_sessions: u64,
    /// Totals.
    pub counters: Counters,
    /// Every latency sample.
    pub latencies: Latencies,
    /// First example of each error.
    pub errors: ErrorSamples,
    /// Per-session totals.
    pub sessions: Vec<SessionStats>,
    /// Per-fault rows.
    pub faults: Vec<FaultReport>,
    /// `--shard I/N`, if any.
    pub shard: Option<(u32, u32)>,
}

impl RunSummary {
    /// Events per second over the run.
    pub fn events_per_s(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            self.counters.events as f64 / secs
        } else {
            0.0
        }
    }

    /// Summary of one latency metric.
    pub fn latency(&self, metric: LatencyMetric) -> LatencySummary {
        LatencySummary::of(self.latencies.get(metric))
    }
}

impl MetricSource for RunSummary {
    fn metric(&self, key: &MetricKey) -> Option<f64> {
        crate::report::metric_value(self, key)
    }
}
