//! Which charts the page has and what each plots: load, stream outcomes,
//! latency over time, breakers with faults, and the latency spectra.
//!
//! Colours are the Okabe–Ito palette (colour-blind safe, dark enough to print)
//! and each series on a chart also differs by dash, so charts stay readable
//! in grey print. A metric keeps its colour on every chart.

use super::chart::{Chart, Line, Window, XAxis, YAxis, YScale};
use super::downsample::{self, MAX_POINTS};
use super::scale;
use super::{HtmlFault, HtmlInput, SeriesRow, Spectrum};

const BLUE: &str = "#0072b2";
const VERMILLION: &str = "#d55e00";
const GREEN: &str = "#009e73";
const SKY: &str = "#3a9bd9";
const PURPLE: &str = "#7b3294";
const ORANGE: &str = "#c98500";
const GREY: &str = "#333333";
const RED: &str = "#b3261e";

const SOLID: &str = "none";
const DASHED: &str = "7 4";
const DOTTED: &str = "2 3";
const DASH_DOT: &str = "9 3 2 3";

/// Fault windows to shade.
pub(super) fn windows(faults: &[HtmlFault]) -> Vec<Window> {
    faults
        .iter()
        .map(|f| Window {
            label: f.label.clone(),
            start_s: f.start_s,
            end_s: f.end_s,
        })
        .collect()
}

/// The time charts, in page order.
pub(super) fn over_time<'a>(input: &HtmlInput, windows: &'a [Window]) -> Vec<Chart<'a>> {
    let rows = &input.series;
    let t0 = rows.first().map_or(0.0, |r| r.t_s.min(0.0));
    let t1 = rows
        .last()
        .map(|r| r.t_s)
        .into_iter()
        .chain([input.duration_s])
        .chain(windows.iter().map(|w| w.end_s))
        .filter(|t| t.is_finite())
        .fold(0.0, f64::max);
    let x = XAxis::Time { t0, t1 };
    let chart = |id, title, left: YAxis, right: Option<YAxis>, lines| Chart {
        id,
        title,
        x,
        left,
        right,
        lines,
        windows,
    };
    vec![
        chart(
            "load",
            "Load: active sessions, open streams and events per second",
            linear("active sessions / open streams"),
            Some(linear("events per second")),
            vec![
                line(
                    "active sessions",
                    "",
                    (BLUE, SOLID),
                    false,
                    column(rows, |r| r.active_sessions),
                ),
                line(
                    "open streams",
                    "",
                    (GREEN, DASHED),
                    false,
                    column(rows, |r| r.open_streams),
                ),
                line(
                    "events/s",
                    "/s",
                    (VERMILLION, DASHED),
                    true,
                    column(rows, |r| r.events_per_s),
                ),
            ],
        ),
        chart(
            "streams",
            "Streams finished per second",
            linear("streams per second"),
            None,
            vec![
                line(
                    "ok/s",
                    "/s",
                    (GREEN, SOLID),
                    false,
                    rate(rows, |r| r.streams_ok),
                ),
                line(
                    "failed/s",
                    "/s",
                    (RED, DASHED),
                    false,
                    rate(rows, |r| r.streams_failed),
                ),
            ],
        ),
        chart(
            "latency",
            "Latency per interval (log scale)",
            YAxis {
                label: "latency (ms, log scale)".to_owned(),
                scale: YScale::Log,
            },
            None,
            vec![
                line(
                    "ttfe p50",
                    "ms",
                    (BLUE, DOTTED),
                    false,
                    latency(rows, |r| r.ttfe_p50_ms),
                ),
                line(
                    "ttfe p99",
                    "ms",
                    (BLUE, SOLID),
                    false,
                    latency(rows, |r| r.ttfe_p99_ms),
                ),
                line(
                    "stream p99",
                    "ms",
                    (VERMILLION, DASHED),
                    false,
                    latency(rows, |r| r.stream_p99_ms),
                ),
                line(
                    "gap p99",
                    "ms",
                    (GREEN, DASH_DOT),
                    false,
                    latency(rows, |r| r.gap_p99_ms),
                ),
            ],
        ),
        chart(
            "breakers",
            "Circuit breakers open, short-circuits and fault windows",
            linear("breakers open (sessions)"),
            Some(linear("short-circuited per second")),
            vec![
                line(
                    "breakers open",
                    "",
                    (PURPLE, SOLID),
                    false,
                    column(rows, |r| r.breakers_open),
                ),
                line(
                    "short-circuited/s",
                    "/s",
                    (GREY, DASHED),
                    true,
                    rate(rows, |r| r.short_circuited),
                ),
            ],
        ),
    ]
}

/// The percentile-spectrum chart of every metric with samples.
pub(super) fn spectra(spectra: &[Spectrum]) -> Chart<'static> {
    let shown: Vec<&Spectrum> = spectra
        .iter()
        .filter(|s| s.count > 0 && !s.points.is_empty())
        .collect();
    let max_count = shown.iter().map(|s| s.count).max().unwrap_or(1);
    let decades = ((max_count as f64).log10().ceil() as u32).clamp(2, 6);
    let cap = f64::from(decades);
    let lines = shown
        .iter()
        .map(|s| {
            let points = s
                .points
                .iter()
                .map(|&(p, v)| (scale::percentile_pos(p, cap), v))
                .collect();
            let mut l = line(&s.metric, "ms", metric_style(&s.metric), false, points);
            l.legend = format!("{} (n={})", l.legend, scale::fmt_tick(s.count as f64, 1.0));
            l
        })
        .collect();
    Chart {
        id: "spectrum",
        title: "Latency by percentile (HdrHistogram spectrum)",
        x: XAxis::Percentile { decades },
        left: YAxis {
            label: "latency (ms, log scale)".to_owned(),
            scale: YScale::Log,
        },
        right: None,
        lines,
        windows: &[],
    }
}

/// Colour and dash of a latency metric, the same on every chart.
fn metric_style(metric: &str) -> (&'static str, &'static str) {
    match metric {
        "ttfb" => (SKY, DASHED),
        "ttfe" => (BLUE, SOLID),
        "gap" => (GREEN, DASH_DOT),
        "stream" => (VERMILLION, SOLID),
        "open" => (PURPLE, DASHED),
        "recover" => (ORANGE, DOTTED),
        "ttft" => (BLUE, DASHED),
        "itl" => (GREEN, SOLID),
        "tpot" => (VERMILLION, DASH_DOT),
        _ => (GREY, SOLID),
    }
}

fn linear(label: &str) -> YAxis {
    YAxis {
        label: label.to_owned(),
        scale: YScale::Linear,
    }
}

/// A series whose legend states its maximum (tooltips need a mouse; paper
/// does not).
fn line(
    name: &str,
    unit: &'static str,
    (color, dash): (&'static str, &'static str),
    right: bool,
    points: Vec<(f64, f64)>,
) -> Line {
    let max = points
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let side = if right { "; right axis" } else { "" };
    let legend = if max.is_finite() {
        let sep = if unit.is_empty() || unit.starts_with('/') {
            ""
        } else {
            " "
        };
        format!("{name} (max {}{sep}{unit}{side})", scale::fmt_value(max))
    } else {
        format!("{name} (no data{side})")
    };
    Line {
        name: name.to_owned(),
        legend,
        unit,
        color,
        dash,
        right,
        points,
    }
}

/// One column of the series, downsampled.
fn column(rows: &[SeriesRow], f: impl Fn(&SeriesRow) -> f64) -> Vec<(f64, f64)> {
    let pts: Vec<(f64, f64)> = rows.iter().map(|r| (r.t_s, f(r))).collect();
    downsample::min_max(&pts, MAX_POINTS)
}

/// A per-interval count as a per-second rate (intervals end at `t_s`, the
/// first starts at 0), downsampled.
fn rate(rows: &[SeriesRow], f: impl Fn(&SeriesRow) -> f64) -> Vec<(f64, f64)> {
    let mut prev = 0.0;
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| {
            let dt = r.t_s - prev;
            prev = r.t_s;
            (r.t_s, if dt > 0.0 { f(r) / dt } else { f64::NAN })
        })
        .collect();
    downsample::min_max(&pts, MAX_POINTS)
}

/// A latency column: 0 or NaN means "no samples in this interval", a gap.
fn latency(rows: &[SeriesRow], f: impl Fn(&SeriesRow) -> f64) -> Vec<(f64, f64)> {
    column(rows, |r| {
        Some(f(r)).filter(|v| *v > 0.0).unwrap_or(f64::NAN)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t_s: f64, n: f64) -> SeriesRow {
        SeriesRow {
            t_s,
            short_circuited: n,
            ttfe_p99_ms: n,
            ..SeriesRow::default()
        }
    }

    #[test]
    fn rates_divide_by_interval_length() {
        let rows = [row(2.0, 10.0), row(3.0, 4.0), row(3.0, 1.0)];
        let r = rate(&rows, |r| r.short_circuited);
        assert_eq!(r[..2], [(2.0, 5.0), (3.0, 4.0)]);
        assert!(r[2].1.is_nan(), "zero-length interval is a gap");
    }

    #[test]
    fn zero_latency_is_a_gap() {
        let l = latency(&[row(1.0, 0.0), row(2.0, 3.5)], |r| r.ttfe_p99_ms);
        assert!(l[0].1.is_nan());
        assert_eq!(l[1], (2.0, 3.5));
    }

    #[test]
    fn legends_state_the_maximum_and_side() {
        let cases = [
            (
                vec![(0.0, 1.0), (1.0, 1234.6)],
                "/s",
                true,
                "x (max 1,235/s; right axis)",
            ),
            (vec![(0.0, 2.5)], "ms", false, "x (max 2.5 ms)"),
            (vec![(0.0, f64::NAN)], "ms", false, "x (no data)"),
        ];
        for (pts, unit, right, want) in cases {
            assert_eq!(line("x", unit, (GREY, SOLID), right, pts).legend, want);
        }
    }

    #[test]
    fn spectrum_axis_covers_the_sample_count() {
        let s = |count| Spectrum {
            metric: "ttfe".into(),
            points: vec![(0.0, 1.0), (100.0, 9.0)],
            count,
        };
        let cases = [(10, 2), (5_000, 4), (10_000_000_000, 6)];
        for (count, want) in cases {
            match spectra(&[s(count)]).x {
                XAxis::Percentile { decades } => assert_eq!(decades, want, "{count}"),
                XAxis::Time { .. } => panic!("time axis"),
            }
        }
        let empty = Spectrum { count: 0, ..s(0) };
        assert!(spectra(&[empty]).lines.is_empty());
    }
}
