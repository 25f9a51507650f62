//! Axis scales and tick labels for the report charts: "nice" linear ticks
//! (1, 2 or 5 × 10^k), decade ticks for log axes, time axes in the unit that
//! keeps labels short (s, min, h), and the log-percentile axis of
//! HdrHistogram's plotter.
//!
//! Why our own: a chart library would bring JavaScript or a dependency to a
//! page that must render offline; the arithmetic is small and table-tested.

/// A linear axis: its extent and the ticks inside it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ticks {
    /// Lower end of the axis.
    pub(crate) lo: f64,
    /// Upper end of the axis.
    pub(crate) hi: f64,
    /// Tick values, ascending, all within `lo..=hi`.
    pub(crate) values: Vec<f64>,
    /// Distance between ticks (sets the decimals of labels).
    pub(crate) step: f64,
}

/// The "nice" step (1, 2 or 5 × 10^k) nearest to `span / target` from above.
pub(crate) fn nice_step(span: f64, target: usize) -> f64 {
    let rough = span.abs() / target.max(1) as f64;
    if !rough.is_finite() || rough <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(rough.log10().floor());
    let residual = rough / mag;
    let mult = if residual <= 1.0 + 1e-9 {
        1.0
    } else if residual <= 2.0 + 1e-9 {
        2.0
    } else if residual <= 5.0 + 1e-9 {
        5.0
    } else {
        10.0
    };
    mult * mag
}

/// The multiples of `step` within `lo..=hi` (a little tolerance for rounding).
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let eps = step * 1e-9;
    let first = ((lo - eps) / step).ceil() as i64;
    let last = ((hi + eps) / step).floor() as i64;
    (first..=last.max(first - 1))
        .take(1000)
        .map(|i| clean(i as f64 * step))
        .collect()
}

/// Rounds away float noise (0.30000000000000004 → 0.3).
fn clean(v: f64) -> f64 {
    if v == 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(12 - v.abs().log10().ceil() as i32);
    (v * scale).round() / scale
}

/// A value axis from `lo` to `hi`, widened to the ticks around them so the
/// data never touches the frame's edge unlabelled. Degenerate or non-finite
/// input gives a usable `0..1` (or `v-1..v+1`) axis.
pub(crate) fn nice_extent(lo: f64, hi: f64, target: usize) -> Ticks {
    let (mut lo, mut hi) = match (lo.is_finite(), hi.is_finite()) {
        (true, true) if lo <= hi => (lo, hi),
        _ => (0.0, 1.0),
    };
    if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        if lo == 0.0 {
            hi = 1.0;
        } else {
            let pad = lo.abs() * 0.5;
            lo -= pad;
            hi += pad;
        }
    }
    let step = nice_step(hi - lo, target);
    let lo = clean((lo / step).floor() * step);
    let hi = clean((hi / step).ceil() * step);
    Ticks {
        values: multiples(lo, hi, step),
        lo,
        hi,
        step,
    }
}

/// Ticks inside a fixed `lo..hi` (a time axis keeps the run's exact extent).
pub(crate) fn ticks_within(lo: f64, hi: f64, target: usize) -> Ticks {
    let step = nice_step(hi - lo, target);
    Ticks {
        values: multiples(lo, hi, step),
        lo,
        hi,
        step,
    }
}

/// A log axis: whole decades around the positive data, ticks at 1-2-5 per
/// decade when it spans at most three decades, else at powers of ten only
/// (thinned to at most ~8 labels).
pub(crate) fn log_extent(min_pos: f64, max: f64) -> Ticks {
    let (min_pos, max) = if min_pos.is_finite() && max.is_finite() && min_pos > 0.0 {
        (min_pos, max.max(min_pos))
    } else {
        (1.0, 10.0)
    };
    let lo_dec = min_pos.log10().floor() as i32;
    let mut hi_dec = max.log10().ceil() as i32;
    if hi_dec <= lo_dec {
        hi_dec = lo_dec + 1;
    }
    let decades = hi_dec - lo_dec;
    let every = (decades + 7) / 8;
    let mut values = Vec::new();
    for d in lo_dec..=hi_dec {
        let base = 10f64.powi(d);
        if decades <= 3 {
            for m in [1.0, 2.0, 5.0] {
                if d < hi_dec || m == 1.0 {
                    values.push(clean(m * base));
                }
            }
        } else if (d - lo_dec) % every == 0 {
            values.push(clean(base));
        }
    }
    Ticks {
        lo: 10f64.powi(lo_dec),
        hi: 10f64.powi(hi_dec),
        values,
        step: 10f64.powi(lo_dec),
    }
}

/// Formats a tick label: thousands separators, `M`/`G` past a million, and
/// as many decimals as `step` needs (0.5 → "0.5", 1000 → "1,000").
pub(crate) fn fmt_tick(v: f64, step: f64) -> String {
    let a = v.abs();
    let (div, suffix) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else {
        (1.0, "")
    };
    let step = (step / div).abs();
    let decimals = if step > 0.0 && step < 1.0 {
        ((-step.log10()).ceil() as usize).min(6)
    } else {
        0
    };
    // Log axes pass the decade as step: a 2 or 5 × 10^k tick needs no more.
    let text = format!("{:.*}", decimals, v / div);
    let text = if decimals > 0 {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{}{suffix}", group_thousands(&text))
}

/// A value for a legend or table with about three significant digits
/// ("12.3", "0.0123", "98,765", "2.5M"); "–" when not finite.
pub(crate) fn fmt_value(v: f64) -> String {
    fmt_digits(v, 3)
}

/// A value with six significant digits, for thresholds' observed values where
/// the last digit can decide a pass ("0.99987", "1,234.57").
pub(crate) fn fmt_precise(v: f64) -> String {
    fmt_digits(v, 6)
}

fn fmt_digits(v: f64, digits: i32) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    let step = 10f64.powf(v.abs().log10().floor() - f64::from(digits - 1));
    fmt_tick(v, step)
}

/// "1234567.5" → "1,234,567.5".
fn group_thousands(text: &str) -> String {
    let (sign, rest) = text.strip_prefix('-').map_or(("", text), |r| ("-", r));
    let (int, frac) = rest.split_once('.').map_or((rest, ""), |(i, f)| (i, f));
    let mut out = String::with_capacity(text.len() + int.len() / 3);
    out.push_str(sign);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// The unit a time axis is labelled in, chosen so labels stay short.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TimeUnit {
    /// Seconds per unit.
    pub(crate) seconds: f64,
    /// Axis-label spelling.
    pub(crate) name: &'static str,
}

/// Seconds up to 5 minutes, minutes up to 5 hours, hours beyond.
pub(crate) fn time_unit(span_s: f64) -> TimeUnit {
    if span_s <= 300.0 {
        TimeUnit {
            seconds: 1.0,
            name: "s",
        }
    } else if span_s <= 5.0 * 3600.0 {
        TimeUnit {
            seconds: 60.0,
            name: "min",
        }
    } else {
        TimeUnit {
            seconds: 3600.0,
            name: "h",
        }
    }
}

/// Position of percentile `p` (0..100) on HdrHistogram's plotter axis:
/// log10(1 / (1 - p/100)), so 90% → 1, 99% → 2, 99.9% → 3. 100% maps to
/// `cap` (the axis end), where the maximum is drawn.
pub(crate) fn percentile_pos(p: f64, cap: f64) -> f64 {
    let rest = 1.0 - p / 100.0;
    if rest.is_nan() || rest <= 0.0 {
        return cap;
    }
    (-rest.log10()).clamp(0.0, cap)
}

/// Label of the decade tick `k` of the percentile axis: 0 → "0%",
/// 1 → "90%", 2 → "99%", 3 → "99.9%".
pub(crate) fn percentile_label(k: u32) -> String {
    match k {
        0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        2 => "99%".to_owned(),
        _ => format!("99.{}%", "9".repeat(k as usize - 2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_step_table() {
        let cases = [
            (10.0, 5, 2.0),
            (100.0, 5, 20.0),
            (1.0, 5, 0.2),
            (7.0, 5, 2.0),
            (86_400.0, 6, 20_000.0),
            (24.0, 6, 5.0),
            (0.3, 3, 0.1),
            (3.0, 3, 1.0),
            (0.0, 5, 1.0),
            (f64::NAN, 5, 1.0),
        ];
        for (span, target, want) in cases {
            let got = nice_step(span, target);
            assert!(
                (got - want).abs() < want * 1e-9,
                "{span}/{target}: {got} != {want}"
            );
        }
    }

    #[test]
    fn nice_extent_table() {
        type Case = (f64, f64, usize, f64, f64, &'static [f64]);
        let cases: [Case; 5] = [
            (0.0, 9.3, 5, 0.0, 10.0, &[0.0, 2.0, 4.0, 6.0, 8.0, 10.0]),
            (0.0, 0.0, 5, 0.0, 1.0, &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
            (0.0, 1234.0, 4, 0.0, 1500.0, &[0.0, 500.0, 1000.0, 1500.0]),
            (0.1, 0.7, 3, 0.0, 0.8, &[0.0, 0.2, 0.4, 0.6, 0.8]),
            (f64::NAN, 3.0, 5, 0.0, 1.0, &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        ];
        for (lo, hi, target, want_lo, want_hi, want) in cases {
            let t = nice_extent(lo, hi, target);
            assert_eq!((t.lo, t.hi), (want_lo, want_hi), "{lo}..{hi}");
            assert_eq!(t.values, want, "{lo}..{hi}");
        }
    }

    #[test]
    fn ticks_within_keeps_the_extent() {
        let t = ticks_within(0.0, 24.0, 6);
        assert_eq!((t.lo, t.hi), (0.0, 24.0));
        assert_eq!(t.values, [0.0, 5.0, 10.0, 15.0, 20.0]);
        let t = ticks_within(3.0, 17.0, 7);
        assert_eq!(t.values, [4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0]);
    }

    #[test]
    fn log_extent_table() {
        let cases: [(f64, f64, f64, f64, &[f64]); 4] = [
            (
                3.0,
                70.0,
                1.0,
                100.0,
                &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0],
            ),
            (
                0.05,
                60_000.0,
                0.01,
                100_000.0,
                &[0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0],
            ),
            (5.0, 5.0, 1.0, 10.0, &[1.0, 2.0, 5.0, 10.0]),
            (0.0, 5.0, 1.0, 10.0, &[1.0, 2.0, 5.0, 10.0]),
        ];
        for (min, max, lo, hi, want) in cases {
            let t = log_extent(min, max);
            assert_eq!((t.lo, t.hi), (lo, hi), "{min}..{max}");
            assert_eq!(t.values, want, "{min}..{max}");
        }
        assert!(log_extent(1e-3, 1e12).values.len() <= 9);
    }

    #[test]
    fn tick_labels_table() {
        let cases = [
            (0.0, 1.0, "0"),
            (0.4, 0.2, "0.4"),
            (0.05, 0.05, "0.05"),
            (1000.0, 500.0, "1,000"),
            (25_000.0, 5000.0, "25,000"),
            (1_500_000.0, 500_000.0, "1.5M"),
            (2_000_000.0, 1_000_000.0, "2M"),
            (-1200.0, 100.0, "-1,200"),
            (3e9, 1e9, "3G"),
            (0.001, 0.001, "0.001"),
        ];
        for (v, step, want) in cases {
            assert_eq!(fmt_tick(v, step), want, "{v} step {step}");
        }
    }

    #[test]
    fn value_formats_table() {
        let cases = [
            (12.345, "12.3", "12.345"),
            (0.012345, "0.0123", "0.012345"),
            (98_765.4, "98,765", "98,765.4"),
            (2_500_000.0, "2.5M", "2.5M"),
            (0.99987, "1", "0.99987"),
            (0.0, "0", "0"),
            (f64::NAN, "–", "–"),
        ];
        for (v, short, precise) in cases {
            assert_eq!(fmt_value(v), short, "{v}");
            assert_eq!(fmt_precise(v), precise, "{v}");
        }
    }

    #[test]
    fn time_unit_table() {
        let cases = [(60.0, "s"), (300.0, "s"), (3600.0, "min"), (86_400.0, "h")];
        for (span, want) in cases {
            assert_eq!(time_unit(span).name, want, "{span}");
        }
    }

    #[test]
    fn percentile_axis_table() {
        let cases = [
            (0.0, 0.0),
            (90.0, 1.0),
            (99.0, 2.0),
            (99.9, 3.0),
            (100.0, 5.0),
        ];
        for (p, want) in cases {
            assert!((percentile_pos(p, 5.0) - want).abs() < 1e-9, "{p}");
        }
        let labels: Vec<String> = (0..5).map(percentile_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
    }
}
