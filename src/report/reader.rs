//! Reading a report folder back into a [`RunSummary`], for `streamsoak report`.
//!
//! Latencies come from `histograms.hlog` (lossless: the sum of its interval
//! histograms is every sample of the run), counters and run facts from
//! `summary.csv` and `errors.csv`, sessions and faults from their CSVs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client::classify::FailureKind;
use crate::metrics::SessionStats;
use crate::metrics::{hlog, Counters, ErrorSamples, Latencies};
use crate::report::summary::{FaultReport, RunSummary};
use crate::report::ReportError;

fn invalid(path: &Path, message: impl Into<String>) -> ReportError {
    ReportError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Rows of a CSV file as header → value maps.
fn rows(path: &Path) -> Result<Vec<HashMap<String, String>>, ReportError> {
    let mut reader = csv::Reader::from_path(path).map_err(|err| invalid(path, err.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|err| invalid(path, err.to_string()))?
        .clone();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| invalid(path, err.to_string()))?;
        out.push(
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect(),
        );
    }
    Ok(out)
}

fn field<T: std::str::FromStr>(
    path: &Path,
    row: &HashMap<String, String>,
    key: &str,
) -> Result<T, ReportError> {
    row.get(key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| invalid(path, format!("missing or invalid `{key}`")))
}

/// A report folder read back.
#[derive(Debug, Clone)]
pub struct Folder {
    /// The run.
    pub summary: RunSummary,
    /// The thresholds it was gated with: (key, condition).
    pub thresholds: Vec<(String, String)>,
}

/// Reads `dir`.
///
/// # Errors
/// [`ReportError::Invalid`] naming the file that is missing or malformed.
pub fn read_folder(dir: &Path) -> Result<Folder, ReportError> {
    let path = |name: &str| -> PathBuf { dir.join(name) };
    let summary_path = path("summary.csv");
    let kv: HashMap<String, String> = rows(&summary_path)?
        .into_iter()
        .filter_map(|r| Some((r.get("key")?.clone(), r.get("value")?.clone())))
        .collect();
    let get = |key: &str| field::<u64>(&summary_path, &kv, key);

    let hlog_path = path("histograms.hlog");
    let text = std::fs::read(&hlog_path).map_err(|source| ReportError::Io {
        path: hlog_path.clone(),
        source,
    })?;
    let mut latencies = Latencies::default();
    for entry in hlog::read(&text).map_err(|msg| invalid(&hlog_path, msg))? {
        latencies
            .get_mut(entry.metric)
            .add(&entry.histogram)
            .map_err(|err| invalid(&hlog_path, format!("{err:?}")))?;
    }
    let started_at = hlog::start_time(&text).unwrap_or(UNIX_EPOCH);

    let errors_path = path("errors.csv");
    let mut counters = Counters {
        streams_started: get("streams_started")?,
        streams_ok: get("streams_ok")?,
        streams_failed: get("streams_failed")?,
        attempts: get("attempts")?,
        retries: get("retries")?,
        short_circuited: get("short_circuited")?,
        breaker_opens: get("breaker_opens")?,
        events: get("events")?,
        bytes: get("bytes")?,
        dropped_arrivals: get("dropped_arrivals")?,
        ..Counters::default()
    };
    let mut errors = ErrorSamples::default();
    for row in rows(&errors_path)? {
        let kind: FailureKind = field::<String>(&errors_path, &row, "kind")?
            .parse()
            .map_err(|err: crate::client::classify::UnknownName| {
                invalid(&errors_path, err.to_string())
            })?;
        counters.errors[kind.index()] = field(&errors_path, &row, "count")?;
        let first: f64 = field(&errors_path, &row, "first_seen_s")?;
        let example = row.get("example").cloned().unwrap_or_default();
        errors.note(kind, Duration::from_secs_f64(first.max(0.0)), &example);
    }

    let sessions_path = path("sessions.csv");
    let mut sessions = Vec::new();
    for row in rows(&sessions_path)? {
        let state: String = field(&sessions_path, &row, "final_state")?;
        sessions.push(SessionStats {
            session: field(&sessions_path, &row, "session")?,
            streams: field(&sessions_path, &row, "streams")?,
            ok: field(&sessions_path, &row, "ok")?,
            failed: field(&sessions_path, &row, "failed")?,
            retries: field(&sessions_path, &row, "retries")?,
            events: field(&sessions_path, &row, "events")?,
            breaker_opens: field(&sessions_path, &row, "breaker_opens")?,
            final_state: match state.as_str() {
                "closed" => "closed",
                "open" => "open",
                "half-open" => "half-open",
                _ => "lost",
            },
        });
    }

    let faults_path = path("faults.csv");
    let mut faults = Vec::new();
    for row in rows(&faults_path)? {
        let f = |key: &str| field::<f64>(&faults_path, &row, key);
        faults.push(FaultReport {
            fault: field(&faults_path, &row, "fault")?,
            kind: field(&faults_path, &row, "kind")?,
            start_s: f("start_s")?,
            end_s: f("end_s")?,
            sessions: field(&faults_path, &row, "sessions")?,
            opened: field(&faults_path, &row, "opened")?,
            open_p50_ms: f("open_p50_ms")?,
            open_max_ms: f("open_max_ms")?,
            recovered: field(&faults_path, &row, "recovered")?,
            recover_p50_ms: f("recover_p50_ms")?,
            recover_max_ms: f("recover_max_ms")?,
            short_circuited: field(&faults_path, &row, "short_circuited")?,
            failed_streams: field(&faults_path, &row, "failed_streams")?,
            retry_amplification: f("retry_amplification")?,
            recovery_burst: f("recovery_burst")?,
        });
    }

    let thresholds_path = path("thresholds.csv");
    let thresholds = rows(&thresholds_path)?
        .into_iter()
        .filter_map(|r| Some((r.get("threshold")?.clone(), r.get("condition")?.clone())))
        .collect();

    let shard = kv.get("shard").and_then(|v| {
        let (i, n) = v.split_once('/')?;
        Some((i.parse().ok()?, n.parse().ok()?))
    });
    let duration_s: f64 = field(&summary_path, &kv, "duration_s")?;
    Ok(Folder {
        summary: RunSummary {
            name: kv.get("name").cloned().unwrap_or_default(),
            target: kv.get("target").cloned().unwrap_or_default(),
            started_at: if started_at == UNIX_EPOCH {
                SystemTime::now()
            } else {
                started_at
            },
            duration: Duration::from_millis((duration_s.max(0.0) * 1000.0).round() as u64),
            peak_sessions: get("peak_sessions")?,
            counters,
            latencies,
            errors,
            sessions,
            faults,
            shard,
        },
        thresholds,
    })
}
