//! Min/max-preserving downsampling of a time series, so a 24-hour soak
//! (86,400 one-second rows) draws as ≤ ~1,500 points per series.
//!
//! Why min/max buckets and not averaging or every n-th row: the page exists
//! to show spikes and dips (a breaker storm, a latency cliff). Each bucket
//! keeps its lowest and highest point in time order, so every extreme of the
//! original series is still drawn and the page stays small.

/// Points per series at most, on every time chart.
pub(crate) const MAX_POINTS: usize = 1_500;

/// Reduces `points` (x ascending) to at most `max_points` (≥ 2) by keeping the
/// minimum and maximum of each of `max_points / 2` equal buckets of rows.
///
/// A NaN `y` is a gap (no data): a bucket with no finite value yields one NaN
/// point so the line still breaks there. Series short enough are returned as is.
pub(crate) fn min_max(points: &[(f64, f64)], max_points: usize) -> Vec<(f64, f64)> {
    let max_points = max_points.max(2);
    if points.len() <= max_points {
        return points.to_vec();
    }
    let buckets = max_points / 2;
    let n = points.len();
    let mut out = Vec::with_capacity(max_points);
    for b in 0..buckets {
        let bucket = &points[b * n / buckets..(b + 1) * n / buckets];
        let mut lo: Option<usize> = None;
        let mut hi: Option<usize> = None;
        for (i, &(_, y)) in bucket.iter().enumerate() {
            if !y.is_finite() {
                continue;
            }
            if lo.is_none_or(|j| y < bucket[j].1) {
                lo = Some(i);
            }
            if hi.is_none_or(|j| y > bucket[j].1) {
                hi = Some(i);
            }
        }
        match (lo, hi) {
            (Some(a), Some(b)) if a == b => out.push(bucket[a]),
            (Some(a), Some(b)) => {
                out.push(bucket[a.min(b)]);
                out.push(bucket[a.max(b)]);
            }
            _ => {
                if let Some(&(x, _)) = bucket.first() {
                    out.push((x, f64::NAN));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_series_is_unchanged() {
        let pts = vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0)];
        let out = min_max(&pts, 10);
        assert_eq!(out.len(), 3);
        assert!(out[1].1.is_nan());
    }

    #[test]
    fn extremes_survive_and_size_is_bounded() {
        // (len, spike index, dip index)
        let cases = [(86_400, 50_000, 10), (3_001, 3_000, 0), (10_000, 1, 9_998)];
        for (len, spike, dip) in cases {
            let pts: Vec<(f64, f64)> = (0..len)
                .map(|i| {
                    let y = if i == spike {
                        1e6
                    } else if i == dip {
                        -5.0
                    } else {
                        (i % 7) as f64
                    };
                    (i as f64, y)
                })
                .collect();
            let out = min_max(&pts, MAX_POINTS);
            assert!(out.len() <= MAX_POINTS, "{len}: {}", out.len());
            assert!(out.contains(&(spike as f64, 1e6)), "{len}: spike lost");
            assert!(out.contains(&(dip as f64, -5.0)), "{len}: dip lost");
            assert!(
                out.windows(2).all(|w| w[0].0 < w[1].0),
                "{len}: x not ascending"
            );
        }
    }

    #[test]
    fn empty_buckets_keep_a_gap() {
        let pts: Vec<(f64, f64)> = (0..4_000)
            .map(|i| {
                (
                    i as f64,
                    if (1_000..2_000).contains(&i) {
                        f64::NAN
                    } else {
                        1.0
                    },
                )
            })
            .collect();
        let out = min_max(&pts, 100);
        assert!(out.iter().any(|p| p.1.is_nan()));
        assert!(out.len() <= 100);
    }
}
