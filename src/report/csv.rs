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
    "output_tokens",
    "output_tokens_per_s",
    "goodput",
    "http_versions",
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
///
/// `observed` is a plain number in the metric's unit, which `unit` names
/// (`ms`, `ratio`, `events`, …); `unit` is the last column, added after
/// PRODUCT.md's four.
pub const THRESHOLDS_HEADER: &[&str] = &["threshold", "condition", "observed", "passed", "unit"];

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

/// Writes a whole CSV file atomically: into `<file>.tmp`, then renamed over
/// the file, so a reader (or a run killed mid-write) sees the old file or
/// the new one, never half of one. The checkpoint files a run rewrites every
/// interval depend on it.
fn write_table(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<(), ReportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(csv_err(path))?;
    for row in rows {
        w.write_record(row).map_err(csv_err(path))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|err| csv_err(path)(err.into_error().into()))?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` through a temporary file in the same folder.
///
/// # Errors
/// When the file cannot be written or renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
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

/// The run-wide facts of `summary.csv`, borrowed from a [`RunSummary`] or,
/// for the checkpoint a run rewrites every interval, from the collector.
#[derive(Clone, Copy, Debug)]
pub struct SummaryFacts<'a> {
    /// Scenario name.
    pub name: &'a str,
    /// Target, credentials stripped.
    pub target: &'a str,
    /// Wall-clock start.
    pub started_at: std::time::SystemTime,
    /// Run length (so far).
    pub duration: std::time::Duration,
    /// Most sessions alive at once.
    pub peak_sessions: u64,
    /// Totals.
    pub counters: &'a Counters,
    /// `--shard I/N`.
    pub shard: Option<(u32, u32)>,
    /// False for a killed run (and for the checkpoint of a running one).
    pub complete: bool,
    /// The verdict; `None` while the run goes (written empty).
    pub thresholds_passed: Option<bool>,
    /// Plan digest, `--start-at` and (merged) start skew, when known.
    pub alignment: Option<&'a crate::report::alignment::Alignment>,
}

impl RunSummary {
    /// The facts of `summary.csv`, with the verdict `passed`.
    pub fn facts(&self, passed: Option<bool>) -> SummaryFacts<'_> {
        SummaryFacts {
            name: &self.name,
            target: &self.target,
            started_at: self.started_at,
            duration: self.duration,
            peak_sessions: self.peak_sessions,
            counters: &self.counters,
            shard: self.shard,
            complete: self.complete,
            thresholds_passed: passed,
            alignment: Some(&self.alignment),
        }
    }
}

/// `summary.csv`'s `key,value` rows: [`SUMMARY_KEYS`] in order, then
/// `shard` for a shard's run and `complete,false` for a killed run.
pub fn summary_rows(f: &SummaryFacts<'_>) -> Vec<(&'static str, String)> {
    let c = f.counters;
    let secs = f.duration.as_secs_f64();
    let events_per_s = if secs > 0.0 {
        c.events as f64 / secs
    } else {
        0.0
    };
    let values: Vec<String> = vec![
        f.name.to_owned(),
        f.target.to_owned(),
        iso8601(f.started_at),
        format!("{secs:.3}"),
        f.peak_sessions.to_string(),
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
        format!("{events_per_s:.3}"),
        c.bytes.to_string(),
        c.dropped_arrivals.to_string(),
        f.thresholds_passed
            .map_or_else(String::new, |p| p.to_string()),
        c.output_tokens.to_string(),
        format!(
            "{:.3}",
            if secs > 0.0 {
                c.output_tokens as f64 / secs
            } else {
                0.0
            }
        ),
        // Shortest round-trip form: `merge` and `report` recover the good
        // stream count from it exactly.
        c.goodput().map_or_else(String::new, |r| r.to_string()),
        c.http_versions.to_string(),
        c.disconnects.to_string(),
        c.reconnects.to_string(),
        c.lost_events.to_string(),
        c.duplicate_events.to_string(),
    ];
    let mut rows: Vec<(&'static str, String)> = SUMMARY_KEYS.iter().copied().zip(values).collect();
    if let Some((i, n)) = f.shard {
        rows.push(("shard", format!("{i}/{n}")));
    }
    if !f.complete {
        rows.push(("complete", "false".to_owned()));
    }
    if let Some(alignment) = f.alignment {
        rows.extend(alignment.rows());
    }
    rows
}

/// Writes `summary.csv`.
///
/// # Errors
/// When the file cannot be written.
pub fn write_summary(path: &Path, facts: &SummaryFacts<'_>) -> Result<(), ReportError> {
    let rows: Vec<Vec<String>> = summary_rows(facts)
        .into_iter()
        .map(|(k, v)| vec![k.to_owned(), v])
        .collect();
    write_table(path, &["key", "value"], &rows)
}

/// `latency.csv` rows, one per metric.
pub fn latency_rows(latencies: &Latencies) -> Vec<Vec<String>> {
    LatencyMetric::ALL
        .into_iter()
        .map(|metric| {
            let s = LatencySummary::of(latencies.get(metric));
            vec![
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
            ]
        })
        .collect()
}

/// Writes `latency.csv`.
///
/// # Errors
/// When the file cannot be written.
pub fn write_latency(path: &Path, latencies: &Latencies) -> Result<(), ReportError> {
    write_table(path, LATENCY_HEADER, &latency_rows(latencies))
}

/// `errors.csv` rows: one per kind seen.
pub fn error_rows(c: &Counters, samples: &ErrorSamples) -> Vec<Vec<String>> {
    FailureKind::ALL
        .into_iter()
        .filter(|kind| c.errors_of(*kind) > 0)
        .map(|kind| {
            let (first, example) = samples
                .get(kind)
                .map(|(t, example)| (format!("{:.3}", t.as_secs_f64()), example.clone()))
                .unwrap_or_default();
            vec![
                kind.class().as_str().to_owned(),
                kind.as_str().to_owned(),
                c.errors_of(kind).to_string(),
                first,
                example,
            ]
        })
        .collect()
}

/// Writes `errors.csv`: one row per kind seen.
///
/// # Errors
/// When the file cannot be written.
pub fn write_errors(path: &Path, c: &Counters, samples: &ErrorSamples) -> Result<(), ReportError> {
    write_table(path, ERRORS_HEADER, &error_rows(c, samples))
}

/// Writes `sessions.csv`.
///
/// # Errors
/// When the file cannot be written.
pub fn write_sessions(path: &Path, sessions: &[SessionStats]) -> Result<(), ReportError> {
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                s.session.to_string(),
                s.streams.to_string(),
                s.ok.to_string(),
                s.failed.to_string(),
                s.retries.to_string(),
                s.events.to_string(),
                s.breaker_opens.to_string(),
                s.final_state.to_owned(),
            ]
        })
        .collect();
    write_table(path, SESSIONS_HEADER, &rows)
}

/// `faults.csv` rows.
pub fn fault_rows(faults: &[FaultReport]) -> Vec<Vec<String>> {
    faults
        .iter()
        .map(|f| {
            vec![
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
            ]
        })
        .collect()
}

/// Writes `faults.csv`.
///
/// # Errors
/// When the file cannot be written.
pub fn write_faults(path: &Path, faults: &[FaultReport]) -> Result<(), ReportError> {
    write_table(path, FAULTS_HEADER, &fault_rows(faults))
}

/// `thresholds.csv` rows: `observed` a plain number in `unit`.
pub fn threshold_rows(results: &[ThresholdResult]) -> Vec<Vec<String>> {
    results
        .iter()
        .map(|r| {
            vec![
                r.threshold.clone(),
                r.condition.clone(),
                r.observed.map(|v| format!("{v:.6}")).unwrap_or_default(),
                r.passed.to_string(),
                r.unit.as_str().to_owned(),
            ]
        })
        .collect()
}

/// Writes `thresholds.csv`.
///
/// # Errors
/// When the file cannot be written.
pub fn write_thresholds(path: &Path, results: &[ThresholdResult]) -> Result<(), ReportError> {
    write_table(path, THRESHOLDS_HEADER, &threshold_rows(results))
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
