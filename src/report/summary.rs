//! `RunSummary`: everything the report files are rendered from.

use std::time::{Duration, SystemTime};

use crate::metrics::SessionStats;
use crate::metrics::{Counters, ErrorSamples, Latencies, LatencyMetric, LatencySummary};
use crate::scenario::thresholds::{MetricKey, MetricSource};

/// One fault's row of `faults.csv` (computed by the fault analysis).
pub use crate::metrics::fault_analysis::FaultReport;

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
    /// Plan digest, `--start-at` and (merged) start skew: what shards agree on.
    pub alignment: crate::report::alignment::Alignment,
    /// False for a run that was killed and read back from what it flushed
    /// (`summary.csv` then has `complete,false`).
    pub complete: bool,
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

    /// Output tokens per second over the run (`None` for a zero-length run).
    pub fn output_tokens_per_s(&self) -> Option<f64> {
        let secs = self.duration.as_secs_f64();
        (secs > 0.0).then(|| self.counters.output_tokens as f64 / secs)
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
