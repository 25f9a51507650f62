//! Builds the HTML renderer's input from a run summary and the report
//! folder's own `timeseries.csv` (read back, so `run`, `report` and `merge`
//! draw the same page from the same data).

use std::path::Path;

use crate::client::classify::FailureKind;
use crate::metrics::LatencyMetric;
use crate::report::csv::{iso8601, SUMMARY_KEYS, TIMESERIES_HEADER};
use crate::report::html::{
    spectrum_points, HtmlError, HtmlFault, HtmlInput, HtmlThreshold, SeriesRow, Spectrum,
};
use crate::report::summary::RunSummary;
use crate::report::ReportError;
use crate::scenario::thresholds::ThresholdResult;

/// Reads `dir/timeseries.csv` into chart rows.
fn series(dir: &Path) -> Result<Vec<SeriesRow>, ReportError> {
    let path = dir.join("timeseries.csv");
    let invalid = |message: String| ReportError::Invalid {
        path: path.clone(),
        message,
    };
    let mut reader = csv::Reader::from_path(&path).map_err(|err| invalid(err.to_string()))?;
    let mut rows = Vec::new();
    let mut prev_t = 0.0;
    for record in reader.records() {
        let record = record.map_err(|err| invalid(err.to_string()))?;
        let v = |i: usize| -> Result<f64, ReportError> {
            record
                .get(i)
                .and_then(|x| x.parse().ok())
                .ok_or_else(|| invalid(format!("bad `{}`", TIMESERIES_HEADER[i])))
        };
        let t = v(0)?;
        let secs = (t - prev_t).max(1e-3);
        prev_t = t;
        rows.push(SeriesRow {
            t_s: t,
            active_sessions: v(1)?,
            events_per_s: v(6)? / secs,
            streams_ok: v(3)?,
            streams_failed: v(4)?,
            short_circuited: v(8)?,
            breakers_open: v(9)?,
            ttfe_p50_ms: v(10)?,
            ttfe_p99_ms: v(11)?,
            gap_p99_ms: v(12)?,
            stream_p99_ms: v(13)?,
        });
    }
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
        verdict_passed: results.iter().all(|r| r.passed),
        thresholds: results
            .iter()
            .map(|r| HtmlThreshold {
                key: r.threshold.clone(),
                condition: r.condition.clone(),
                observed: r.observed,
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
