//! Latency histograms: one HdrHistogram per [`LatencyMetric`], microseconds.
//!
//! Histograms are fixed-size (1 µs to 24 h, 3 significant digits) so that
//! recording never allocates; values beyond the range are clamped to it
//! (`saturating_record`). Reports convert to milliseconds.
//!
//! Trade-off: one set is ~1.4 MB, so sets exist per arbiter and per report
//! interval — never per session (10,000 sessions would need 14 GB).

use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest trackable value: 24 hours in µs.
pub const MAX_US: u64 = 24 * 3600 * 1_000_000;
/// Significant decimal digits kept.
pub const SIGFIG: u8 = 3;

/// The latency metrics of PRODUCT.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LatencyMetric {
    /// Request sent → response headers.
    Ttfb,
    /// Request sent → first event (from the scheduled start in open models).
    Ttfe,
    /// Between consecutive events.
    Gap,
    /// Whole wanted stream, retries included.
    Stream,
    /// Fault start → a session's breaker opens.
    Open,
    /// Fault end → that session's first successful stream.
    Recover,
    /// LLM streams: request sent → first content chunk (from the scheduled
    /// start in open models).
    Ttft,
    /// LLM streams: between consecutive content chunks (every gap).
    Itl,
    /// LLM streams: per completed stream, (last − first content) / (tokens − 1).
    Tpot,
    /// Subscribe mode: server send time (the event's timestamp field) →
    /// receive, on the wall clock (issue #16).
    Delivery,
    /// Subscribe mode: a disconnection → the next stream's first event (issue #16).
    Reconnect,
}

impl LatencyMetric {
    /// Every metric, in report order.
    pub const ALL: [LatencyMetric; 11] = [
        LatencyMetric::Ttfb,
        LatencyMetric::Ttfe,
        LatencyMetric::Gap,
        LatencyMetric::Stream,
        LatencyMetric::Open,
        LatencyMetric::Recover,
        LatencyMetric::Ttft,
        LatencyMetric::Itl,
        LatencyMetric::Tpot,
        LatencyMetric::Delivery,
        LatencyMetric::Reconnect,
    ];

    /// Name in reports, hlog tags and thresholds.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyMetric::Ttfb => "ttfb",
            LatencyMetric::Ttfe => "ttfe",
            LatencyMetric::Gap => "gap",
            LatencyMetric::Stream => "stream",
            LatencyMetric::Open => "open",
            LatencyMetric::Recover => "recover",
            LatencyMetric::Ttft => "ttft",
            LatencyMetric::Itl => "itl",
            LatencyMetric::Tpot => "tpot",
            LatencyMetric::Delivery => "delivery",
            LatencyMetric::Reconnect => "reconnect",
        }
    }

    /// Parses a name of [`LatencyMetric::as_str`].
    pub fn from_name(name: &str) -> Option<LatencyMetric> {
        LatencyMetric::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// A fresh empty histogram with the crate's bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, SIGFIG).expect("invariant: constant bounds are valid")
}

/// One histogram per latency metric.
#[derive(Clone, Debug)]
pub struct Latencies {
    hists: [Histogram<u64>; LatencyMetric::ALL.len()],
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            hists: std::array::from_fn(|_| new_histogram()),
        }
    }
}

impl Latencies {
    /// Records one value (clamped to 1 µs … 24 h). Never allocates.
    pub fn record(&mut self, metric: LatencyMetric, value: Duration) {
        let us = u64::try_from(value.as_micros()).unwrap_or(u64::MAX).max(1);
        self.hists[metric as usize].saturating_record(us);
    }

    /// The histogram of `metric`.
    pub fn get(&self, metric: LatencyMetric) -> &Histogram<u64> {
        &self.hists[metric as usize]
    }

    /// Mutable histogram of `metric` (for merging decoded logs).
    pub fn get_mut(&mut self, metric: LatencyMetric) -> &mut Histogram<u64> {
        &mut self.hists[metric as usize]
    }

    /// Adds every sample of `other`.
    pub fn add(&mut self, other: &Latencies) {
        for (mine, theirs) in self.hists.iter_mut().zip(&other.hists) {
            // Same bounds on both sides: adding cannot fail.
            let _ = mine.add(theirs);
        }
    }

    /// Empties every histogram, keeping the memory.
    ///
    /// Only histograms that hold samples are cleared: an empty one is all
    /// zeroes already, and clearing writes its whole counts array (over
    /// 200 KiB at these bounds). A run records a few of the eleven metrics,
    /// so an interval's reset no longer sweeps megabytes through the cache
    /// of the thread that reads the streams (issue #12).
    pub fn reset(&mut self) {
        for h in self.hists.iter_mut().filter(|h| !h.is_empty()) {
            h.reset();
        }
    }

    /// True when no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.hists.iter().all(|h| h.is_empty())
    }
}

/// Summary statistics of one histogram in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Smallest sample.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p99_9_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

/// Milliseconds for a µs histogram value.
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl LatencySummary {
    /// Summarises a µs histogram (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            min_ms: ms(h.min()),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p99_9_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_summarises_in_ms() {
        let mut l = Latencies::default();
        for ms in 1..=100u64 {
            l.record(LatencyMetric::Ttfe, Duration::from_millis(ms));
        }
        let s = LatencySummary::of(l.get(LatencyMetric::Ttfe));
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
        assert!(l.get(LatencyMetric::Gap).is_empty());
    }

    #[test]
    fn clamps_out_of_range() {
        let mut l = Latencies::default();
        l.record(LatencyMetric::Stream, Duration::ZERO);
        l.record(LatencyMetric::Stream, Duration::from_secs(100 * 3600));
        let h = l.get(LatencyMetric::Stream);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= MAX_US - MAX_US / 1000);
    }

    #[test]
    fn add_is_union() {
        let mut a = Latencies::default();
        let mut b = Latencies::default();
        a.record(LatencyMetric::Gap, Duration::from_millis(1));
        b.record(LatencyMetric::Gap, Duration::from_millis(3));
        a.add(&b);
        assert_eq!(a.get(LatencyMetric::Gap).len(), 2);
        a.reset();
        assert!(a.is_empty());
    }

    #[test]
    fn reset_leaves_what_a_fresh_set_has() {
        let mut set = Latencies::default();
        set.record(LatencyMetric::Gap, Duration::from_millis(20));
        set.record(LatencyMetric::Ttfb, Duration::from_secs(3600));
        set.reset();
        let fresh = Latencies::default();
        for metric in LatencyMetric::ALL {
            let (h, f) = (set.get(metric), fresh.get(metric));
            assert!(h.is_empty(), "{metric:?}");
            assert_eq!((h.min(), h.max()), (f.min(), f.max()), "{metric:?}");
            assert!(h.iter_all().all(|v| v.count_at_value() == 0), "{metric:?}");
        }
        // Recording after a reset sees only the new samples.
        set.record(LatencyMetric::Gap, Duration::from_millis(5));
        let gap = set.get(LatencyMetric::Gap);
        assert_eq!(gap.len(), 1);
        assert_eq!(gap.max(), gap.highest_equivalent(5_000));
    }
}
