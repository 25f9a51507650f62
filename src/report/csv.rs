//! The CSV files of the report folder: one writer per file, headers copied
//! from PRODUCT.md as constants (tests assert them against the contract).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::client::classify::FailureKind;
use crate::metrics::SessionStats;
use crate::metrics::{
    Counters, ErrorSamples, Latencies, LatencyMetric, LatencySummary, TransitionRecord,
};
use crate::report::summary::{FaultReport, RunSummary};
use crate::report::ReportError;
use crate::scenario::thresholds::ThresholdResult;

/// `summary.csv` keys, in order.
pub const SUMMARY_KEYS: &[&str] = &[
    "name",
    "target",
    "started_at",
    "duration_s",
    "peak_sessions",
    "streams_started",
    "streams_ok",
    "streams_failed",
    "success_rate",
    "attempts",
    "retries",
    "short_circuited",
    "breaker_opens",
    "events",
    "events_per_s",
    "bytes",
    "dropped_arrivals",
    "thresholds_passed",
    // Subscribe mode and `sequence = "id"` (issue #16).
    "disconnects",
    "reconnects",
    "lost_events",
    "duplicate_events",
];
/// `latency.csv` header.
pub const LATENCY_HEADER: &[&str] = &[
    "metric", "count", "min_ms", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99_9_ms",
    "max_ms",
];
/// `timeseries.csv` header.
pub const TIMESERIES_HEADER: &[&str] = &[
    "t_s",
    "active_sessions",
    "streams_started",
    "streams_ok",
    "streams_failed",
    "attempts",
    "events",
    "retries",
    "short_circuited",
    "breakers_open",
    "ttfe_p50_ms",
    "ttfe_p99_ms",
    "gap_p99_ms",
    "stream_p99_ms",
    // Subscribe mode (issue #16): streams open at the interval's end.
    "open_streams",
];
/// `errors.csv` header.
pub const ERRORS_HEADER: &[&str] = &["class", "kind", "count", "first_seen_s", "example"];
/// `breaker.csv` header.
pub const BREAKER_HEADER: &[&str] = &["t_ms", "session", "from", "to", "reason"];
/// `faults.csv` header.
pub const FAULTS_HEADER: &[&str] = &[
    "fault",
    "kind",
    "start_s",
    "end_s",
    "sessions",
    "opened",
    "open_p50_ms",
    "open_max_ms",
    "recovered",
    "recover_p50_ms",
    "recover_max_ms",
    "short_circuited",
    "failed_streams",
    "retry_amplification",
    "recovery_burst",
    // Subscribe mode (issue #16): the reconnect storm after a fault.
    "reconnected",
    "reconnect_p50_ms",
    "reconnect_max_ms",
];
/// `sessions.csv` header.
pub const SESSIONS_HEADER: &[&str] = &[
    "session",
    "streams",
    "ok",
    "failed",
    "retries",
    "events",
    "breaker_opens",
    "final_state",
];
/// `thresholds.csv` header.
pub const THRESHOLDS_HEADER: &[&str] = &["threshold", "condition", "observed", "passed"];

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn csv_err(path: &Path) -> impl FnOnce(csv::Error) -> ReportError + '_ {
    move |err| ReportError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(err.to_string()),
    }
}

fn writer(path: &Path, header: &[&str]) -> Result<csv::Writer<File>, ReportError> {
    let file = File::create(path).map_err(io_err(path))?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record(header).map_err(csv_err(path))?;
    Ok(w)
}

/// Milliseconds with microsecond precision.
pub fn ms(value: f64) -> String {
    format!("{value:.3}")
}

/// UTC ISO-8601 timestamp of a `SystemTime` (second precision).
pub fn iso8601(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Writes `summary.csv`.
///
/// # Errors
/// When the file cannot be written.
pub fn write_summary(path: &Path, s: &RunSummary, passed: bool) -> Result<(), ReportError> {
    let c = &s.counters;
    let values: Vec<String> = vec![
        s.name.clone(),
        s.target.clone(),
        iso8601(s.started_at),
        format!("{:.3}", s.duration.as_secs_f64()),
        s.peak_sessions.to_string(),
        c.streams_started.to_string(),
        c.streams_ok.to_string(),
        c.streams_failed.to_string(),
        c.success_rate()
            .map_or_else(String::new, |r| format!("{r:.6}")),
        c.attempts.to_string(),
        c.retries.to_string(),
        c.short_circuited.to_string(),
        c.breaker_opens.to_string(),
        c.events.to_string(),
        format!("{:.3}", s.events_per_s()),
        c.bytes.to_string(),
        c.dropped_arrivals.to_string(),
        passed.to_string(),
        c.disconnects.to_string(),
        c.reconnects.to_string(),
        c.lost_events.to_string(),
        c.duplicate_events.to_string(),
    ];
    let mut w = writer(path, &["key", "value"])?;
    for (k, v) in SUMMARY_KEYS.iter().zip(values) {
        w.write_record([*k, v.as_str()]).map_err(csv_err(path))?;
    }
    if let Some((i, n)) = s.shard {
        w.write_record(["shard", &format!("{i}/{n}")])
            .map_err(csv_err(path))?;
    }
    w.flush().map_err(io_err(path))
}

/// Writes `latency.csv`.
///
/// # Errors
/// When the file cannot be written.
pub fn write_latency(path: &Path, latencies: &Latencies) -> Result<(), ReportError> {
    let mut w = writer(path, LATENCY_HEADER)?;
    for metric in LatencyMetric::ALL {
        let s = LatencySummary::of(latencies.get(metric));
        w.write_record([
            metric.as_str().to_owned(),
            s.count.to_string(),
            ms(s.min_ms),
            ms(s.mean_ms),
            ms(s.p50_ms),
            ms(s.p90_ms),
            ms(s.p95_ms),
            ms(s.p99_ms),
            ms(s.p99_9_ms),
            ms(s.max_ms),
        ])
        .map_err(csv_err(path))?;
    }
    w.flush().map_err(io_err(path))
}

/// Writes `errors.csv`: one row per kind seen.
///
/// # Errors
/// When the file cannot be written.
pub fn write_errors(path: &Path, c: &Counters, samples: &ErrorSamples) -> Result<(), ReportError> {
    let mut w = writer(path, ERRORS_HEADER)?;
    for kind in FailureKind::ALL {
        let count = c.errors_of(kind);
        if count == 0 {
            continue;
        }
        let (first, example) = samples
            .get(kind)
            .map(|(t, example)| (format!("{:.3}", t.as_secs_f64()), example.as_str()))
            .unwrap_or_default();
        w.write_record([
            kind.class().as_str(),
            kind.as_str(),
            &count.to_string(),
            &first,
            example,
        ])
        .map_err(csv_err(path))?;
    }
    w.flush().map_err(io_err(path))
}

/// Writes `sessions.csv`.
///
/// # Errors
/// When the file cannot be written.
pub fn write_sessions(path: &Path, sessions: &[SessionStats]) -> Result<(), ReportError> {
    let mut w = writer(path, SESSIONS_HEADER)?;
    for s in sessions {
        w.write_record([
            s.session.to_string(),
            s.streams.to_string(),
            s.ok.to_string(),
            s.failed.to_string(),
            s.retries.to_string(),
            s.events.to_string(),
            s.breaker_opens.to_string(),
            s.final_state.to_owned(),
        ])
        .map_err(csv_err(path))?;
    }
    w.flush().map_err(io_err(path))
}

/// Writes `faults.csv`.
///
/// # Errors
/// When the file cannot be written.
pub fn write_faults(path: &Path, faults: &[FaultReport]) -> Result<(), ReportError> {
    let mut w = writer(path, FAULTS_HEADER)?;
    for f in faults {
        w.write_record([
            f.fault.to_string(),
            f.kind.clone(),
            format!("{:.3}", f.start_s),
            format!("{:.3}", f.end_s),
            f.sessions.to_string(),
            f.opened.to_string(),
            ms(f.open_p50_ms),
            ms(f.open_max_ms),
            f.recovered.to_string(),
            ms(f.recover_p50_ms),
            ms(f.recover_max_ms),
            f.short_circuited.to_string(),
            f.failed_streams.to_string(),
            format!("{:.3}", f.retry_amplification),
            format!("{:.3}", f.recovery_burst),
            f.reconnected.to_string(),
            ms(f.reconnect_p50_ms),
            ms(f.reconnect_max_ms),
        ])
        .map_err(csv_err(path))?;
    }
    w.flush().map_err(io_err(path))
}

/// Writes `thresholds.csv`.
///
/// # Errors
/// When the file cannot be written.
pub fn write_thresholds(path: &Path, results: &[ThresholdResult]) -> Result<(), ReportError> {
    let mut w = writer(path, THRESHOLDS_HEADER)?;
    for r in results {
        let observed = r.observed.map(|v| format!("{v:.6}")).unwrap_or_default();
        w.write_record([
            r.threshold.as_str(),
            r.condition.as_str(),
            observed.as_str(),
            if r.passed { "true" } else { "false" },
        ])
        .map_err(csv_err(path))?;
    }
    w.flush().map_err(io_err(path))
}

/// One row of `timeseries.csv`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeseriesRow {
    /// End of the interval, seconds since start.
    pub t_s: f64,
    /// Sessions alive.
    pub active_sessions: u64,
    /// Per-interval counters.
    pub counters: Counters,
    /// Breakers open or half-open.
    pub breakers_open: u64,
    /// Interval ttfe p50.
    pub ttfe_p50_ms: f64,
    /// Interval ttfe p99.
    pub ttfe_p99_ms: f64,
    /// Interval gap p99.
    pub gap_p99_ms: f64,
    /// Interval stream p99.
    pub stream_p99_ms: f64,
    /// Streams open at the interval's end (subscribe mode's gauge).
    pub open_streams: u64,
}

/// Appends rows to a CSV file and flushes after each interval, so a killed
/// run keeps its history.
pub struct AppendWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl AppendWriter {
    /// Creates the file with its header (none when `header` is empty).
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: &Path, header: &[&str]) -> Result<AppendWriter, ReportError> {
        let file = File::create(path).map_err(io_err(path))?;
        let mut out = BufWriter::new(file);
        if !header.is_empty() {
            writeln!(out, "{}", header.join(",")).map_err(io_err(path))?;
        }
        out.flush().map_err(io_err(path))?;
        Ok(AppendWriter {
            path: path.to_path_buf(),
            out,
        })
    }

    /// Appends a timeseries row and flushes.
    ///
    /// # Errors
    /// When writing fails.
    pub fn timeseries(&mut self, r: &TimeseriesRow) -> Result<(), ReportError> {
        let c = &r.counters;
        writeln!(
            self.out,
            "{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.t_s,
            r.active_sessions,
            c.streams_started,
            c.streams_ok,
            c.streams_failed,
            c.attempts,
            c.events,
            c.retries,
            c.short_circuited,
            r.breakers_open,
            ms(r.ttfe_p50_ms),
            ms(r.ttfe_p99_ms),
            ms(r.gap_p99_ms),
            ms(r.stream_p99_ms),
            r.open_streams
        )
        .and_then(|()| self.out.flush())
        .map_err(io_err(&self.path))
    }

    /// Appends breaker transitions and flushes.
    ///
    /// # Errors
    /// When writing fails.
    pub fn transitions(&mut self, rows: &[TransitionRecord]) -> Result<(), ReportError> {
        for t in rows {
            writeln!(
                self.out,
                "{:.3},{},{},{},{}",
                t.at.as_secs_f64() * 1000.0,
                t.session,
                t.from.name(),
                t.to.name(),
                t.reason.as_str()
            )
            .map_err(io_err(&self.path))?;
        }
        self.out.flush().map_err(io_err(&self.path))
    }

    /// Appends raw bytes (JSON lines) and flushes.
    ///
    /// # Errors
    /// When writing fails.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<(), ReportError> {
        self.out
            .write_all(bytes)
            .and_then(|()| self.out.flush())
            .map_err(io_err(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(
            iso8601(UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
    }
}
