//! Builds the HTML renderer's input from a run summary and the report
//! folder's own `timeseries.csv` (read back, so `run`, `report` and `merge`
//! draw the same page from the same data).

use std::path::Path;

use crate::client::classify::FailureKind;
use crate::metrics::LatencyMetric;
use crate::report::csv::{iso8601, SUMMARY_KEYS};
use crate::report::html::{
    spectrum_points, HtmlError, HtmlFault, HtmlInput, HtmlThreshold, SeriesRow, Spectrum,
};
use crate::report::reader::read_timeseries;
use crate::report::summary::RunSummary;
use crate::report::ReportError;
use crate::scenario::thresholds::ThresholdResult;

/// Reads `dir/timeseries.csv` into chart rows.
fn series(dir: &Path) -> Result<Vec<SeriesRow>, ReportError> {
    let mut prev_t = 0.0;
    let rows = read_timeseries(&dir.join("timeseries.csv"))?
        .into_iter()
        .map(|r| {
            let secs = (r.t_s - prev_t).max(1e-3);
            prev_t = r.t_s;
            SeriesRow {
                t_s: r.t_s,
                active_sessions: r.active_sessions as f64,
                events_per_s: r.counters.events as f64 / secs,
                streams_ok: r.counters.streams_ok as f64,
                streams_failed: r.counters.streams_failed as f64,
                short_circuited: r.counters.short_circuited as f64,
                breakers_open: r.breakers_open as f64,
                open_streams: r.open_streams as f64,
                ttfe_p50_ms: r.ttfe_p50_ms,
                ttfe_p99_ms: r.ttfe_p99_ms,
                gap_p99_ms: r.gap_p99_ms,
                stream_p99_ms: r.stream_p99_ms,
            }
        })
        .collect();
    Ok(rows)
}

/// The renderer's input for a run whose live files are in `dir`.
///
/// # Errors
/// When `timeseries.csv` cannot be read.
pub fn build(
    dir: &Path,
    s: &RunSummary,
    results: &[ThresholdResult],
) -> Result<HtmlInput, ReportError> {
    let c = &s.counters;
    let facts: Vec<(String, String)> = [
        ("started_at", iso8601(s.started_at)),
        ("duration_s", format!("{:.1}", s.duration.as_secs_f64())),
        ("peak_sessions", s.peak_sessions.to_string()),
        ("streams_started", c.streams_started.to_string()),
        ("streams_ok", c.streams_ok.to_string()),
        ("streams_failed", c.streams_failed.to_string()),
        (
            "success_rate",
            c.success_rate()
                .map_or_else(|| "no stream finished".to_owned(), |r| format!("{r:.4}")),
        ),
        ("attempts", c.attempts.to_string()),
        ("retries", c.retries.to_string()),
        ("short_circuited", c.short_circuited.to_string()),
        ("breaker_opens", c.breaker_opens.to_string()),
        ("events", c.events.to_string()),
        ("events_per_s", format!("{:.1}", s.events_per_s())),
        ("bytes", c.bytes.to_string()),
        ("dropped_arrivals", c.dropped_arrivals.to_string()),
        ("output_tokens", c.output_tokens.to_string()),
        (
            "output_tokens_per_s",
            format!("{:.1}", s.output_tokens_per_s().unwrap_or(0.0)),
        ),
        (
            "goodput",
            c.goodput()
                .map_or_else(|| "no stream finished".to_owned(), |r| format!("{r:.4}")),
        ),
        ("disconnects", c.disconnects.to_string()),
        ("reconnects", c.reconnects.to_string()),
        ("lost_events", c.lost_events.to_string()),
        ("duplicate_events", c.duplicate_events.to_string()),
    ]
    .into_iter()
    .filter(|(k, _)| SUMMARY_KEYS.contains(k))
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let faults = s
        .faults
        .iter()
        .map(|f| HtmlFault {
            label: format!("{} {}", f.fault, f.kind),
            start_s: f.start_s,
            end_s: f.end_s,
            row: vec![
                ("fault".into(), f.fault.to_string()),
                ("kind".into(), f.kind.clone()),
                ("start_s".into(), format!("{:.1}", f.start_s)),
                ("end_s".into(), format!("{:.1}", f.end_s)),
                ("sessions".into(), f.sessions.to_string()),
                ("opened".into(), f.opened.to_string()),
                ("open_p50_ms".into(), format!("{:.1}", f.open_p50_ms)),
                ("open_max_ms".into(), format!("{:.1}", f.open_max_ms)),
                ("recovered".into(), f.recovered.to_string()),
                ("recover_p50_ms".into(), format!("{:.1}", f.recover_p50_ms)),
                ("recover_max_ms".into(), format!("{:.1}", f.recover_max_ms)),
                ("short_circuited".into(), f.short_circuited.to_string()),
                ("failed_streams".into(), f.failed_streams.to_string()),
                ("reconnected".into(), f.reconnected.to_string()),
                (
                    "reconnect_p50_ms".into(),
                    format!("{:.1}", f.reconnect_p50_ms),
                ),
                (
                    "reconnect_max_ms".into(),
                    format!("{:.1}", f.reconnect_max_ms),
                ),
                (
                    "retry_amplification".into(),
                    format!("{:.2}", f.retry_amplification),
                ),
                ("recovery_burst".into(), format!("{:.2}", f.recovery_burst)),
            ],
        })
        .collect();
    let spectra = LatencyMetric::ALL
        .into_iter()
        .filter(|m| !s.latencies.get(*m).is_empty())
        .map(|m| Spectrum {
            metric: m.as_str().to_owned(),
            points: spectrum_points(s.latencies.get(m)),
            count: s.latencies.get(m).len(),
        })
        .collect();
    let errors = FailureKind::ALL
        .into_iter()
        .filter(|k| c.errors_of(*k) > 0)
        .map(|k| {
            let (first, example) = s
                .errors
                .get(k)
                .map(|(t, example)| (t.as_secs_f64(), example.clone()))
                .unwrap_or_default();
            HtmlError {
                class: k.class().as_str().to_owned(),
                kind: k.as_str().to_owned(),
                count: c.errors_of(k),
                first_seen_s: first,
                example,
            }
        })
        .collect();
    Ok(HtmlInput {
        name: s.name.clone(),
        target: s.target.clone(),
        started_at_utc: iso8601(s.started_at),
        duration_s: s.duration.as_secs_f64(),
        incomplete: !s.complete,
        verdict_passed: results.iter().all(|r| r.passed),
        thresholds: results
            .iter()
            .map(|r| HtmlThreshold {
                key: r.threshold.clone(),
                condition: r.condition.clone(),
                observed: r.observed,
                observed_text: r.observed_text(),
                passed: r.passed,
            })
            .collect(),
        facts,
        series: series(dir)?,
        faults,
        spectra,
        errors,
    })
}
