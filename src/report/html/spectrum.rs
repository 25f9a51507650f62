//! The percentile spectrum of a latency histogram, as HdrHistogram's own
//! percentile-distribution output and plotter compute it.
//!
//! Why quantile iteration and not fixed percentiles: `iter_quantiles` halves
//! the distance to 100% with a fixed number of ticks per half, which gives
//! evenly spaced points on the plotter's log "1/(1-p)" axis all the way to the
//! maximum, where fixed percentiles (50, 90, 99…) would stop short of the tail.

use hdrhistogram::Histogram;

/// Ticks per half distance to 100%, as HdrHistogram's percentile output uses.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// `(percentile 0..=100, value ms)` points of `h` (recorded in µs), ascending in
/// both; the last point is `(100, max)`. Empty for an empty histogram.
///
/// Values are each bucket's highest equivalent value (as HdrHistogram prints),
/// so they can exceed the recorded value by the histogram's precision.
pub fn spectrum_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    h.iter_quantiles(TICKS_PER_HALF_DISTANCE)
        .map(|v| {
            (
                v.quantile_iterated_to() * 100.0,
                h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_us: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
            .expect("invariant: valid bounds");
        for v in values_us {
            h.record(v).expect("invariant: in bounds");
        }
        h
    }

    #[test]
    fn empty_histogram_has_no_points() {
        assert!(spectrum_points(&hist([])).is_empty());
    }

    #[test]
    fn spectrum_is_monotone_and_ends_at_max() {
        // 1..=10_000 ms uniformly, plus one 60 s outlier.
        let cases: [(Vec<u64>, f64); 3] = [
            (
                (1..=10_000u64)
                    .map(|ms| ms * 1000)
                    .chain([60_000_000])
                    .collect(),
                60_000.0,
            ),
            (vec![5_000; 100], 5.0),
            (vec![1_000, 2_000], 2.0),
        ];
        for (values, max_ms) in cases {
            let h = hist(values);
            let pts = spectrum_points(&h);
            assert!(pts.len() >= 2, "{max_ms}: {pts:?}");
            assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
            let last = pts[pts.len() - 1];
            assert_eq!(last.0, 100.0);
            assert!(
                (last.1 - max_ms).abs() <= max_ms * 1e-3,
                "{last:?} vs {max_ms}"
            );
            assert_eq!(last.1, h.max() as f64 / 1000.0);
            assert_eq!(pts[0].0, 0.0);
        }
    }

    #[test]
    fn median_point_matches_value_at_quantile() {
        let h = hist((1..=1000u64).map(|ms| ms * 1000));
        let pts = spectrum_points(&h);
        let (_, v) = pts
            .iter()
            .copied()
            .find(|&(p, _)| (p - 50.0).abs() < 1e-9)
            .expect("a 50% tick");
        // value_at_quantile takes 0.0–1.0, not 50.0.
        assert_eq!(v, h.value_at_quantile(0.5) as f64 / 1000.0);
        assert!((v - 500.0).abs() < 1.0);
    }
}
