//! Latency histograms: one HdrHistogram per [`LatencyMetric`], microseconds.
//!
//! Histograms are fixed-size (1 µs to 24 h, 3 significant digits) so that
//! recording never allocates; values beyond the range are clamped to it
//! (`saturating_record`). Reports convert to milliseconds.
//!
//! Trade-off: one set is ~1.4 MB, so sets exist per arbiter and per report
//! interval — never per session (10,000 sessions would need 14 GB).

use std::time::Duration;

use hdrhistogram::{Counter, Histogram};

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

/// Every bucket of `h` that holds samples, smallest first, as its lowest
/// value and its count: what `h.iter_recorded()` yields, reading only the
/// buckets from the smallest sample to the largest.
///
/// hdrhistogram's iterators (and `add`, `mean`, `value_at_quantile`) start
/// at bucket 0 and read counts up to the largest sample: tens of thousands
/// of empty ones below a 20 ms sample, 221 KiB of them up to 24 h. This
/// reads bucket 0 (the zeros) and then only the range `min_nz()..=max()`,
/// which recording, `add`, `subtract` and decoding all keep covering every
/// non-zero count (property-tested against `iter_recorded`).
pub fn recorded<T: Counter>(h: &Histogram<T>) -> impl Iterator<Item = (u64, T)> + '_ {
    let zeros = h.count_at(0);
    let zeros = (zeros != T::zero()).then_some((0, zeros));
    let top = h.max();
    let mut next = (!h.is_empty()).then(|| h.min_nz());
    zeros.into_iter().chain(std::iter::from_fn(move || loop {
        let value = next.filter(|value| *value <= top)?;
        let after = h.next_non_equivalent(value);
        next = (after > value).then_some(after);
        let count = h.count_at(value);
        if count != T::zero() {
            return Some((value, count));
        }
    }))
}

/// Adds every sample of `src` to `dest`, as `Histogram::add` does, reading
/// only the buckets from `src`'s smallest to its largest sample.
///
/// `Histogram::add` walks all of `src`'s counts (27,648 at these bounds,
/// 221 KiB) or copies them whole into an empty `dest`; the collector does
/// that for every recorded metric every interval, on the core the streams
/// are read on, sweeping their state out of its cache (issue #12). A
/// metric's samples usually span a few hundred buckets. Equal to
/// `Histogram::add` in counts, total, min and max (property-tested); falls
/// back to it when the two were built with other bounds.
pub fn merge_histogram(dest: &mut Histogram<u64>, src: &Histogram<u64>) {
    if src.is_empty() {
        return;
    }
    let same = dest.low() == src.low()
        && dest.high() == src.high()
        && dest.sigfig() == src.sigfig()
        && dest.distinct_values() == src.distinct_values();
    if !same {
        // Other bounds (a decoded log may carry its own): the general path.
        let _ = dest.add(src);
        return;
    }
    for (value, count) in recorded(src) {
        // The bucket's lowest value: `min_nz` reads back the same bucket,
        // `max` its highest value, as after `add`; recording 0 touches
        // neither, as `add` leaves them.
        dest.saturating_record_n(value, count);
    }
}

/// `h.value_at_quantile(q)`, walking from the smallest sample instead of
/// from bucket 0 (tens of thousands of empty buckets below a 20 ms gap).
pub fn quantile_us(h: &Histogram<u64>, q: f64) -> u64 {
    let total = h.len();
    if total == 0 {
        return 0;
    }
    // As `value_at_quantile` caps it (a NaN stays NaN).
    let q = if q > 1.0 { 1.0 } else { q };
    let mut wanted = (q * total as f64).ceil() as u64;
    if wanted == 0 {
        wanted = 1;
    }
    let pick = |value: u64| {
        if q == 0.0 {
            h.lowest_equivalent(value)
        } else {
            h.highest_equivalent(value)
        }
    };
    let mut seen = 0u64;
    for (value, count) in recorded(h) {
        seen = seen.saturating_add(count);
        if seen >= wanted {
            return pick(value);
        }
    }
    // Counts short of `len` (saturated counts): what `value_at_quantile` does.
    h.value_at_quantile(q)
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

    /// Adds every sample of `other` ([`merge_histogram`]: only the range
    /// `other` holds samples in is read).
    pub fn add(&mut self, other: &Latencies) {
        for (mine, theirs) in self.hists.iter_mut().zip(&other.hists) {
            merge_histogram(mine, theirs);
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
            p50_ms: ms(quantile_us(h, 0.50)),
            p90_ms: ms(quantile_us(h, 0.90)),
            p95_ms: ms(quantile_us(h, 0.95)),
            p99_ms: ms(quantile_us(h, 0.99)),
            p99_9_ms: ms(quantile_us(h, 0.999)),
            max_ms: ms(h.max()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// Values spread over the whole range on a log scale, with a few exact
    /// corners (0, 1, the top, beyond the top, bucket edges).
    pub(crate) fn value() -> impl proptest::strategy::Strategy<Value = u64> {
        use proptest::prelude::*;
        prop_oneof![
            Just(0u64),
            Just(1u64),
            Just(MAX_US),
            Just(u64::MAX),
            Just(2047u64),
            Just(2048u64),
            (1u32..37, any::<u64>()).prop_map(|(bits, r)| r >> (64 - bits)),
        ]
    }

    /// Histograms at the crate's bounds of up to `samples` values, each
    /// recorded 1 to `max_count - 1` times (clamped into range).
    pub(crate) fn histogram_of(
        samples: usize,
        max_count: u64,
    ) -> impl proptest::strategy::Strategy<Value = Histogram<u64>> {
        use proptest::prelude::*;
        proptest::collection::vec((value(), 1u64..max_count), 0..samples).prop_map(|samples| {
            let mut h = new_histogram();
            for (v, n) in samples {
                h.saturating_record_n(v, n);
            }
            h
        })
    }

    fn histogram() -> impl proptest::strategy::Strategy<Value = Histogram<u64>> {
        histogram_of(40, 5)
    }

    proptest::proptest! {
        // Each case walks hdrhistogram's iterator over all 27,648 buckets.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// The bounded walk yields what `iter_recorded` yields from bucket 0.
        #[test]
        fn recorded_is_iter_recorded(a in histogram(), b in histogram()) {
            let mut h = a;
            merge_histogram(&mut h, &b);
            let theirs: Vec<(u64, u64)> = h
                .iter_recorded()
                .map(|v| (h.lowest_equivalent(v.value_iterated_to()), v.count_at_value()))
                .collect();
            proptest::prop_assert_eq!(recorded(&h).collect::<Vec<_>>(), theirs);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The bounded merge leaves exactly what `Histogram::add` leaves.
        #[test]
        fn merge_histogram_is_histogram_add(dest in histogram(), src in histogram()) {
            let mut ours = dest.clone();
            merge_histogram(&mut ours, &src);
            let mut theirs = dest;
            theirs.add(&src).expect("same bounds");
            proptest::prop_assert!(ours == theirs);
            proptest::prop_assert_eq!(ours.len(), theirs.len());
            proptest::prop_assert_eq!(ours.min(), theirs.min());
            proptest::prop_assert_eq!(ours.min_nz(), theirs.min_nz());
            proptest::prop_assert_eq!(ours.max(), theirs.max());
            proptest::prop_assert_eq!(ours.mean().to_bits(), theirs.mean().to_bits());
            for q in [0.0, 0.5, 0.99, 1.0] {
                proptest::prop_assert_eq!(ours.value_at_quantile(q), theirs.value_at_quantile(q));
            }
            // Recording after the merge goes on alike (min/max kept in the same bucket).
            let (mut a, mut b) = (ours, theirs);
            a.saturating_record(3);
            b.saturating_record(3);
            proptest::prop_assert!(a == b);
            proptest::prop_assert_eq!((a.min(), a.max()), (b.min(), b.max()));
        }

        /// A reset histogram holds no count anywhere and equals a fresh one
        /// (the vendored `clear` clears only from the smallest to the largest
        /// sample's bucket), also after merges and clamped samples.
        #[test]
        fn reset_clears_every_count(a in histogram(), b in histogram()) {
            let mut h = a;
            merge_histogram(&mut h, &b);
            h.reset();
            let fresh = new_histogram();
            proptest::prop_assert!(h == fresh);
            proptest::prop_assert!(h.iter_all().all(|v| v.count_at_value() == 0));
            proptest::prop_assert_eq!((h.len(), h.min(), h.max()), (0, fresh.min(), fresh.max()));
        }

        /// `quantile_us` answers what `value_at_quantile` answers, for every quantile.
        #[test]
        fn quantile_us_is_value_at_quantile(h in histogram(), q in -0.5f64..1.5) {
            for q in [q, 0.0, 1e-9, 0.5, 0.9, 0.99, 0.999, 1.0, 2.0, -1.0, f64::NAN] {
                proptest::prop_assert_eq!(quantile_us(&h, q), h.value_at_quantile(q), "q = {}", q);
            }
        }
    }

    #[test]
    fn merge_histogram_takes_other_bounds_by_the_general_path() {
        let mut dest = Histogram::<u64>::new_with_bounds(1, 1_000_000, 2).expect("bounds");
        dest.record(10).expect("in range");
        let mut src = new_histogram();
        src.record(500).expect("in range");
        src.record(0).expect("in range");
        merge_histogram(&mut dest, &src);
        assert_eq!(dest.len(), 3);
        assert_eq!(dest.min(), 0);
        assert_eq!(dest.max(), dest.highest_equivalent(500));
    }
}
