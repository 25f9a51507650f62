//! `report.html`: one self-contained page per run — verdict, thresholds, run
//! facts, charts over time with fault windows shaded, latency percentile
//! spectra, errors and faults.
//!
//! Why a pure renderer over plain input types: the page is a function of the
//! report folder's data, so `run` and `streamsoak report` produce the same page
//! and tests need no run. The types below mirror the CSV files; the caller
//! adapts its own summary to them.
//!
//! Why inline SVG written in Rust: the page must open offline (a CI artefact,
//! an attachment) and print, so it has no CDN, no web font and no chart
//! library; only a ~20-line script adds hover tooltips. A 24-hour soak stays
//! under 2 MB because every time series is cut to at most 1,500 points by
//! min/max buckets that keep extremes.
//!
//! # Layout
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | input types, page assembly |
//! | `figures.rs` | which charts the page has and the series each plots |
//! | `chart.rs` | one SVG line chart: axes, legend, fault shading, hover data |
//! | `scale.rs` | nice ticks, log and percentile axes, number formats |
//! | `downsample.rs` | min/max-preserving bucketing |
//! | `spectrum.rs` | [`spectrum_points`] from an HdrHistogram |
//! | `tables.rs` | thresholds, facts, errors and faults tables |
//! | `assets.rs` | inline CSS and the tooltip script |

mod assets;
mod chart;
mod downsample;
mod figures;
mod scale;
mod spectrum;
mod tables;

use std::fmt::Write as _;

pub use spectrum::spectrum_points;

/// Everything the page shows; plain data with no tie to the rest of the crate.
#[derive(Debug, Clone, Default)]
pub struct HtmlInput {
    /// Scenario name.
    pub name: String,
    /// Target URL (credentials already stripped).
    pub target: String,
    /// Start time, as written in summary.csv.
    pub started_at_utc: String,
    /// Run duration in seconds.
    pub duration_s: f64,
    /// True for a run that was killed: the page then says its figures end
    /// at the last flushed interval.
    pub incomplete: bool,
    /// Whether every threshold passed.
    pub verdict_passed: bool,
    /// Threshold results, in scenario order.
    pub thresholds: Vec<HtmlThreshold>,
    /// summary.csv `key,value` pairs to show.
    pub facts: Vec<(String, String)>,
    /// timeseries.csv rows, ascending in `t_s`.
    pub series: Vec<SeriesRow>,
    /// Injected faults, shaded on every time chart.
    pub faults: Vec<HtmlFault>,
    /// Percentile spectrum of each latency metric (see [`spectrum_points`]).
    pub spectra: Vec<Spectrum>,
    /// errors.csv rows.
    pub errors: Vec<HtmlError>,
}

/// One threshold's result (a thresholds.csv row).
#[derive(Debug, Clone, Default)]
pub struct HtmlThreshold {
    /// Threshold key, e.g. `ttfe.p99`.
    pub key: String,
    /// Condition as written, e.g. `< 500ms`.
    pub condition: String,
    /// Observed value; None when the metric had no samples.
    pub observed: Option<f64>,
    /// The observed value with its unit, as a person reads it (`1.016 ms`, `0.474`, `no data`).
    pub observed_text: String,
    /// Whether the condition held.
    pub passed: bool,
}

/// One timeseries.csv interval.
///
/// Counts (`streams_ok`, `streams_failed`, `short_circuited`) are per interval;
/// the charts divide them by the interval length to plot per-second rates.
/// Latency columns may be NaN (or 0) for intervals without samples: they
/// draw as gaps.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SeriesRow {
    /// End of the interval, seconds since the run started.
    pub t_s: f64,
    /// Sessions alive at the end of the interval.
    pub active_sessions: f64,
    /// Events received per second in the interval.
    pub events_per_s: f64,
    /// Streams completed successfully in the interval.
    pub streams_ok: f64,
    /// Streams failed in the interval.
    pub streams_failed: f64,
    /// Streams refused by an open breaker in the interval.
    pub short_circuited: f64,
    /// Sessions whose breaker is open at the end of the interval.
    pub breakers_open: f64,
    /// Streams open at the end of the interval (subscribe mode).
    pub open_streams: f64,
    /// Time to first event, median, ms.
    pub ttfe_p50_ms: f64,
    /// Time to first event, 99th percentile, ms.
    pub ttfe_p99_ms: f64,
    /// Whole-stream duration, 99th percentile, ms.
    pub stream_p99_ms: f64,
    /// Gap between events, 99th percentile, ms.
    pub gap_p99_ms: f64,
}

/// One injected fault.
#[derive(Debug, Clone, Default)]
pub struct HtmlFault {
    /// Short label drawn on the charts, e.g. `1 shutdown`.
    pub label: String,
    /// Fault start, seconds since the run started.
    pub start_s: f64,
    /// Fault end, seconds since the run started.
    pub end_s: f64,
    /// faults.csv `(column, value)` pairs for the faults table.
    pub row: Vec<(String, String)>,
}

/// Percentile spectrum of one latency metric.
#[derive(Debug, Clone, Default)]
pub struct Spectrum {
    /// Metric name: ttfb, ttfe, gap, stream, open, recover.
    pub metric: String,
    /// `(percentile 0..=100, value ms)`, ascending.
    pub points: Vec<(f64, f64)>,
    /// Number of samples; metrics with none are left out of the chart.
    pub count: u64,
}

/// One errors.csv row.
#[derive(Debug, Clone, Default)]
pub struct HtmlError {
    /// Failure class, e.g. `network`.
    pub class: String,
    /// Failure kind, e.g. `connect-refused`.
    pub kind: String,
    /// Occurrences.
    pub count: u64,
    /// First occurrence, seconds since the run started.
    pub first_seen_s: f64,
    /// One example message (shown truncated).
    pub example: String,
}

/// Escapes text for HTML content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// Renders the whole page.
///
/// Never fails: odd input (NaN, empty series, unknown metric names) draws as
/// gaps, "no data" or a neutral colour.
///
/// ```
/// use streamsoak::report::html::{render, HtmlInput, SeriesRow};
///
/// let input = HtmlInput {
///     name: "demo".into(),
///     verdict_passed: true,
///     series: vec![SeriesRow { t_s: 1.0, active_sessions: 3.0, ..SeriesRow::default() }],
///     ..HtmlInput::default()
/// };
/// let page = render(&input);
/// assert!(page.contains("PASSED"));
/// assert_eq!(page.matches("<svg").count(), 5);
/// ```
pub fn render(input: &HtmlInput) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let name = escape(&input.name);
    let _ = write!(
        s,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>streamsoak report: {name}</title><style>{}</style></head><body>"#,
        assets::CSS
    );
    let _ = write!(
        s,
        r#"<header><h1>streamsoak report: {name}</h1><p class="sub">target <b>{}</b> · started {} · duration {}</p></header>"#,
        escape(&input.target),
        escape(&input.started_at_utc),
        fmt_duration(input.duration_s),
    );
    if input.incomplete {
        let _ = write!(
            s,
            r#"<div class="banner incomplete"><b>Incomplete run.</b> This run was killed before it finished (SIGKILL, out of memory, a CI time-out): every figure covers the run up to its last flushed interval, {}. Sessions were not reported.</div>"#,
            fmt_duration(input.duration_s)
        );
    }
    let failed = input.thresholds.iter().filter(|t| !t.passed).count();
    let total = input.thresholds.len();
    let (class, verdict, detail) = if input.verdict_passed {
        let detail = if total == 0 {
            "no thresholds set".to_owned()
        } else {
            format!("all {total} thresholds met")
        };
        ("pass", "✔ PASSED", detail)
    } else {
        let detail = if failed > 0 {
            format!("{failed} of {total} thresholds failed")
        } else {
            "the run did not pass".to_owned()
        };
        ("fail", "✘ FAILED", detail)
    };
    let _ = write!(
        s,
        r#"<div class="verdict {class}">{verdict}<small>{detail}</small></div><h2>Thresholds</h2>{}<h2>Run facts</h2>{}"#,
        tables::thresholds(&input.thresholds),
        tables::facts(&input.facts),
    );
    s.push_str("<h2>Over time</h2>");
    let windows = figures::windows(&input.faults);
    for chart in figures::over_time(input, &windows) {
        let _ = write!(s, "<figure>{}</figure>", chart::render(&chart));
    }
    let _ = write!(
        s,
        "<h2>Latency distribution</h2><figure>{}</figure>",
        chart::render(&figures::spectra(&input.spectra))
    );
    let _ = write!(
        s,
        r#"<h2>Errors by class and kind</h2>{}<h2>Faults</h2>{}<p class="muted">Generated by streamsoak. Hover a chart for values; legends give each series' maximum.</p><div id="tip"></div><script>{}</script></body></html>"#,
        tables::errors(&input.errors),
        tables::faults(&input.faults),
        assets::JS
    );
    s
}

/// "3600.0 s (1:00:00)".
fn fmt_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "–".to_owned();
    }
    let whole = secs.round() as u64;
    format!(
        "{secs:.1} s ({}:{:02}:{:02})",
        whole / 3600,
        whole / 60 % 60,
        whole % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_row(i: usize) -> SeriesRow {
        let t = i as f64 + 1.0;
        SeriesRow {
            t_s: t,
            active_sessions: (i % 50) as f64,
            events_per_s: 100.0 + (i % 13) as f64,
            streams_ok: 5.0,
            streams_failed: (i % 3) as f64,
            short_circuited: if (20..30).contains(&i) { 7.0 } else { 0.0 },
            breakers_open: if (20..30).contains(&i) { 4.0 } else { 0.0 },
            open_streams: (i % 50) as f64,
            ttfe_p50_ms: 12.0,
            ttfe_p99_ms: 40.0 + (i % 7) as f64,
            stream_p99_ms: 5_000.0,
            gap_p99_ms: 250.0,
        }
    }

    fn small_input() -> HtmlInput {
        HtmlInput {
            name: "smoke".into(),
            target: "http://127.0.0.1:8080/sse".into(),
            started_at_utc: "2025-01-02T03:04:05Z".into(),
            duration_s: 60.0,
            incomplete: false,
            verdict_passed: false,
            thresholds: vec![
                HtmlThreshold {
                    key: "ttfe.p99".into(),
                    condition: "< 500ms".into(),
                    observed: Some(46.0),
                    observed_text: "46.000 ms".into(),
                    passed: true,
                },
                HtmlThreshold {
                    key: "success_rate".into(),
                    condition: ">= 0.999".into(),
                    observed: Some(0.98765),
                    observed_text: "0.98765".into(),
                    passed: false,
                },
                HtmlThreshold {
                    key: "recover.p99".into(),
                    condition: "< 5s".into(),
                    observed: None,
                    observed_text: "no data".into(),
                    passed: true,
                },
            ],
            facts: vec![("streams_ok".into(), "300".into())],
            series: (0..60).map(sample_row).collect(),
            faults: vec![HtmlFault {
                label: "1 shutdown".into(),
                start_s: 20.0,
                end_s: 30.0,
                row: vec![
                    ("fault".into(), "1".into()),
                    ("kind".into(), "shutdown".into()),
                ],
            }],
            spectra: vec![Spectrum {
                metric: "ttfe".into(),
                points: vec![(0.0, 10.0), (50.0, 12.0), (99.0, 40.0), (100.0, 46.0)],
                count: 300,
            }],
            errors: vec![HtmlError {
                class: "network".into(),
                kind: "connect-refused".into(),
                count: 12,
                first_seen_s: 20.5,
                example: "connection refused".into(),
            }],
        }
    }

    #[test]
    fn an_incomplete_run_says_so_in_a_banner() {
        let complete = render(&small_input());
        assert!(!complete.contains("Incomplete run"));
        let mut input = small_input();
        input.incomplete = true;
        let page = render(&input);
        assert_eq!(
            page.matches(r#"<div class="banner incomplete">"#).count(),
            1
        );
        assert!(page.contains("<b>Incomplete run.</b>"), "banner text");
        // Above the verdict: the first thing a reader sees.
        assert!(page.find("banner incomplete") < page.find(r#"class="verdict"#));
    }

    #[test]
    fn small_report_has_every_chart_table_and_legend() {
        let html = render(&small_input());
        assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>"));
        assert_eq!(html.matches("<svg").count(), 5);
        for title in [
            "Load: active sessions, open streams and events per second",
            "Streams finished per second",
            "Latency per interval (log scale)",
            "Circuit breakers open, short-circuits and fault windows",
            "Latency by percentile (HdrHistogram spectrum)",
        ] {
            assert!(html.contains(&format!("<title>{title}</title>")), "{title}");
        }
        for legend in [
            "active sessions (max 49)",
            "events/s (max 112/s; right axis)",
            "ttfe p99 (max 46 ms)",
            "breakers open (max 4)",
            "short-circuited/s (max 7/s; right axis)",
            "ttfe (max 46 ms) (n=300)",
        ] {
            assert!(html.contains(&format!(">{legend}</text>")), "{legend}");
        }
        assert_eq!(
            html.matches(r#"<rect class="fault""#).count(),
            4,
            "shaded on every time chart"
        );
        assert_eq!(html.matches(">1 shutdown</text>").count(), 4);
        assert_eq!(html.matches(r#"<tr class="pass">"#).count(), 2);
        assert_eq!(html.matches(r#"<tr class="fail">"#).count(), 1);
        assert!(html.contains("0.98765"));
        assert!(
            html.contains(r#"<div class="verdict fail">✘ FAILED<small>1 of 3 thresholds failed"#)
        );
        assert!(html.contains("connect-refused") && html.contains("<td>shutdown</td>"));
        assert!(
            !html.contains("http://") || !html.contains("src=\"http"),
            "no external resources"
        );
        assert!(!html.contains("<link") && !html.contains("@import") && !html.contains("url(http"));
    }

    #[test]
    fn empty_input_renders_without_panicking() {
        let html = render(&HtmlInput::default());
        assert_eq!(html.matches("<svg").count(), 5);
        assert_eq!(html.matches(">no data</text>").count(), 5);
        assert!(html.contains("✔ PASSED") || html.contains("✘ FAILED"));
    }

    #[test]
    fn day_long_soak_stays_small_and_keeps_its_spike() {
        let rows = 86_400;
        let spike = 50_000;
        let mut input = small_input();
        input.duration_s = rows as f64;
        input.series = (0..rows)
            .map(|i| {
                let mut r = sample_row(i);
                if i == spike {
                    r.events_per_s = 987_654.3;
                    r.ttfe_p99_ms = 31_415.9;
                }
                r
            })
            .collect();
        let html = render(&input);
        assert!(html.len() < 2_000_000, "{} bytes", html.len());
        let t = format!("{},", spike + 1);
        assert!(
            html.contains(&format!("{t}987654.3")),
            "events/s spike kept"
        );
        assert!(html.contains(&format!("{t}31415.9")), "ttfe spike kept");
        assert!(html.contains("events/s (max 988k/s") || html.contains("events/s (max 987,654/s"));
        assert!(html.contains("time since start (h)"));
    }

    #[test]
    fn every_text_is_escaped() {
        let evil = "<script>alert('x')</script>";
        let mut input = small_input();
        input.name = evil.into();
        input.target = evil.into();
        input.thresholds[0].key = evil.into();
        input.facts.push((evil.into(), evil.into()));
        input.faults[0].label = evil.into();
        input.faults[0].row.push((evil.into(), evil.into()));
        input.errors[0].example = evil.into();
        input.spectra[0].metric = evil.into();
        let html = render(&input);
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the page's own script"
        );
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    }

    #[test]
    fn escape_table() {
        let cases = [
            ("plain", "plain"),
            ("a & b", "a &amp; b"),
            ("<b>", "&lt;b&gt;"),
            (r#"say "hi""#, "say &quot;hi&quot;"),
            ("it's", "it&#39;s"),
        ];
        for (raw, want) in cases {
            assert_eq!(escape(raw), want);
        }
    }

    #[test]
    fn duration_format_table() {
        let cases = [
            (0.0, "0.0 s (0:00:00)"),
            (3_725.4, "3725.4 s (1:02:05)"),
            (f64::NAN, "–"),
        ];
        for (secs, want) in cases {
            assert_eq!(fmt_duration(secs), want);
        }
    }
}
