//! Reading a report folder back into a [`RunSummary`], for `streamsoak report`,
//! and `timeseries.csv` into typed rows, for `merge` and the HTML page.
//!
//! Latencies come from `histograms.hlog` (lossless: the sum of its interval
//! histograms is every sample of the run), counters and run facts from
//! `summary.csv` and `errors.csv`, sessions and faults from their CSVs.
//!
//! A killed run (`complete,false` in its checkpoint `summary.csv`) is read
//! from what it flushed: counters that `timeseries.csv` carries are summed
//! from its rows, breaker opens counted in `breaker.csv`, the duration is
//! the last row's `t_s`; `sessions.csv` and `thresholds.csv` may be missing
//! (no sessions; the thresholds of its `scenario.toml`).
//!
//! Every file is read by column *name* from its header, never by position:
//! a column added to a file (PRODUCT.md lets `timeseries.csv` grow, e.g.
//! `open_streams`) or moved does not shift the others, and a missing one is
//! an error that names it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client::classify::FailureKind;
use crate::metrics::SessionStats;
use crate::metrics::{hlog, Counters, ErrorSamples, Latencies};
use crate::report::csv::{TimeseriesRow, TIMESERIES_HEADER};
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

/// An optional value: `None` when the key is missing or empty, an error when malformed.
fn optional<T: std::str::FromStr>(
    path: &Path,
    row: &HashMap<String, String>,
    key: &str,
) -> Result<Option<T>, ReportError> {
    match row.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(value) => value
            .parse()
            .map(Some)
            .map_err(|_| invalid(path, format!("invalid `{key}`: {value}"))),
    }
}

/// Reads a `timeseries.csv` by column name into the rows it was written from.
///
/// Columns other than those of [`TIMESERIES_HEADER`] are ignored, in any
/// order; counters must be unsigned integers, `t_s` and the latency columns
/// numbers.
///
/// # Errors
/// [`ReportError::Invalid`] naming `path` and a missing column (with the
/// header that was found), or the line and column of a malformed value.
pub fn read_timeseries(path: &Path) -> Result<Vec<TimeseriesRow>, ReportError> {
    let mut reader = csv::Reader::from_path(path).map_err(|err| invalid(path, err.to_string()))?;
    let header = reader
        .headers()
        .map_err(|err| invalid(path, err.to_string()))?
        .clone();
    let mut index = [0usize; TIMESERIES_HEADER.len()];
    for (slot, name) in index.iter_mut().zip(TIMESERIES_HEADER) {
        // Added later (issue #16): a folder written before has none (read as 0).
        if *name == "open_streams" {
            *slot = header.iter().position(|h| h == *name).unwrap_or(usize::MAX);
            continue;
        }
        *slot = header.iter().position(|h| h == *name).ok_or_else(|| {
            invalid(
                path,
                format!(
                    "no `{name}` column (header: `{}`; expected: `{}`)",
                    header.iter().collect::<Vec<_>>().join(","),
                    TIMESERIES_HEADER.join(",")
                ),
            )
        })?;
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| invalid(path, err.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let value = |column: usize| -> &str { record.get(index[column]).unwrap_or("") };
        let parse = |column: usize| -> Result<f64, ReportError> {
            let v = value(column);
            v.parse().map_err(|_| bad(path, line, column, v))
        };
        let count = |column: usize| -> Result<u64, ReportError> {
            let v = value(column);
            v.parse().map_err(|_| bad(path, line, column, v))
        };
        rows.push(TimeseriesRow {
            t_s: parse(0)?,
            active_sessions: count(1)?,
            counters: Counters {
                streams_started: count(2)?,
                streams_ok: count(3)?,
                streams_failed: count(4)?,
                attempts: count(5)?,
                events: count(6)?,
                retries: count(7)?,
                short_circuited: count(8)?,
                ..Counters::default()
            },
            breakers_open: count(9)?,
            ttfe_p50_ms: parse(10)?,
            ttfe_p99_ms: parse(11)?,
            gap_p99_ms: parse(12)?,
            stream_p99_ms: parse(13)?,
            open_streams: if index[14] == usize::MAX {
                0
            } else {
                count(14)?
            },
        });
    }
    Ok(rows)
}

fn bad(path: &Path, line: u64, column: usize, value: &str) -> ReportError {
    invalid(
        path,
        format!(
            "line {line}: bad `{}` value `{value}`",
            TIMESERIES_HEADER[column]
        ),
    )
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
    let complete = kv.get("complete").is_none_or(|v| v != "false");

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
        // Absent from folders written before it existed: nothing seen.
        http_versions: match kv.get("http_versions") {
            Some(text) => text
                .parse()
                .map_err(|msg: String| invalid(&summary_path, format!("http_versions: {msg}")))?,
            None => Default::default(),
        },
        // Folders written before LLM streams were measured have neither key.
        output_tokens: optional(&summary_path, &kv, "output_tokens")?.unwrap_or(0),
        // Added by issue #16: absent in older folders.
        disconnects: field(&summary_path, &kv, "disconnects").unwrap_or(0),
        reconnects: field(&summary_path, &kv, "reconnects").unwrap_or(0),
        lost_events: field(&summary_path, &kv, "lost_events").unwrap_or(0),
        duplicate_events: field(&summary_path, &kv, "duplicate_events").unwrap_or(0),
        ..Counters::default()
    };
    counters.good_streams = match optional::<f64>(&summary_path, &kv, "goodput")? {
        Some(goodput) => {
            let finished = (counters.streams_ok + counters.streams_failed) as f64;
            (goodput * finished).round() as u64
        }
        // No goodput written: no stream finished, or an older folder (no SLO then).
        None => counters.streams_ok,
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
    // A killed run has no sessions.csv: its sessions were never reported.
    let session_rows = if !complete && !sessions_path.exists() {
        Vec::new()
    } else {
        rows(&sessions_path)?
    };
    for row in session_rows {
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
    let fault_rows = if !complete && !faults_path.exists() {
        Vec::new()
    } else {
        rows(&faults_path)?
    };
    for row in fault_rows {
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
            // Added by issue #16: absent in older folders.
            reconnected: field(&faults_path, &row, "reconnected").unwrap_or(0),
            reconnect_p50_ms: f("reconnect_p50_ms").unwrap_or(0.0),
            reconnect_max_ms: f("reconnect_max_ms").unwrap_or(0.0),
        });
    }

    let thresholds_path = path("thresholds.csv");
    let thresholds = if !complete && !thresholds_path.exists() {
        // A killed run was never gated: its thresholds are in scenario.toml.
        scenario_thresholds(&path("scenario.toml"))?
    } else {
        rows(&thresholds_path)?
            .into_iter()
            .filter_map(|r| Some((r.get("threshold")?.clone(), r.get("condition")?.clone())))
            .collect()
    };

    let shard = kv.get("shard").and_then(|v| {
        let (i, n) = v.split_once('/')?;
        Some((i.parse().ok()?, n.parse().ok()?))
    });
    let mut duration_s: f64 = field(&summary_path, &kv, "duration_s")?;
    let mut peak_sessions = get("peak_sessions")?;
    if !complete {
        // The checkpoint summary.csv is rewritten after each interval's rows:
        // the rows themselves are the record of what was flushed, so the
        // counters they carry are taken from them, and the breaker opens from
        // breaker.csv (a kill between two writes cannot make them disagree).
        let series = read_timeseries(&path("timeseries.csv"))?;
        let mut flushed = Counters::default();
        for row in &series {
            flushed.merge(&row.counters);
            peak_sessions = peak_sessions.max(row.active_sessions);
        }
        counters.streams_started = flushed.streams_started;
        counters.streams_ok = flushed.streams_ok;
        counters.streams_failed = flushed.streams_failed;
        counters.attempts = flushed.attempts;
        counters.events = flushed.events;
        counters.retries = flushed.retries;
        counters.short_circuited = flushed.short_circuited;
        counters.breaker_opens = breaker_opens(&path("breaker.csv"))?;
        if let Some(last) = series.last() {
            duration_s = last.t_s;
        }
    }
    let alignment = crate::report::alignment::Alignment::from_summary(&kv)
        .map_err(|msg| invalid(&summary_path, msg))?;
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
            peak_sessions,
            counters,
            latencies,
            errors,
            sessions,
            faults,
            shard,
            alignment,
            complete,
        },
        thresholds,
    })
}

/// Transitions into `open` in a `breaker.csv`.
fn breaker_opens(path: &Path) -> Result<u64, ReportError> {
    if !path.exists() {
        return Ok(0);
    }
    Ok(rows(path)?
        .iter()
        .filter(|r| r.get("to").is_some_and(|to| to == "open"))
        .count() as u64)
}

/// The `[thresholds]` of a report folder's `scenario.toml` as (key,
/// condition) pairs in file order (the order `thresholds.csv` keeps); none
/// when the file is missing.
fn scenario_thresholds(path: &Path) -> Result<Vec<(String, String)>, ReportError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let doc = toml_edit::ImDocument::parse(text)
        .map_err(|err| invalid(path, err.message().to_owned()))?;
    let Some(thresholds) = doc
        .get("thresholds")
        .and_then(toml_edit::Item::as_table_like)
    else {
        return Ok(Vec::new());
    };
    thresholds
        .iter()
        .map(|(key, item)| match item.as_str() {
            Some(condition) => Ok((key.to_owned(), condition.to_owned())),
            None => Err(invalid(
                path,
                format!("threshold `{key}` is not a string such as \"< 1s\""),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::csv::AppendWriter;

    fn row(t_s: f64, attempts: u64, breakers_open: u64, ttfe_p99_ms: f64) -> TimeseriesRow {
        TimeseriesRow {
            t_s,
            active_sessions: 20,
            counters: Counters {
                streams_started: 5,
                streams_ok: 4,
                streams_failed: 1,
                attempts,
                events: 100,
                retries: 2,
                short_circuited: 3,
                ..Counters::default()
            },
            breakers_open,
            ttfe_p50_ms: 1.5,
            ttfe_p99_ms,
            gap_p99_ms: 10.25,
            stream_p99_ms: 2000.125,
            open_streams: 0,
        }
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("timeseries.csv");
        std::fs::write(&path, text).expect("write");
        path
    }

    fn message(err: ReportError) -> String {
        match err {
            ReportError::Invalid { path, message } => {
                assert!(path.ends_with("timeseries.csv"), "{path:?}");
                message
            }
            other => panic!("not Invalid: {other:?}"),
        }
    }

    #[test]
    fn reads_back_what_the_writer_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("timeseries.csv");
        let rows = [row(1.0, 7, 0, 3.5), row(2.001, 9, 2, 4.0)];
        let mut w = AppendWriter::create(&path, TIMESERIES_HEADER).expect("create");
        for r in &rows {
            w.timeseries(r).expect("append");
        }
        drop(w);
        assert_eq!(read_timeseries(&path).expect("read"), rows);
    }

    #[test]
    fn reads_columns_by_name_in_any_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Reversed, with a column this version does not know in the middle.
        let path = write(
            dir.path(),
            "stream_p99_ms,gap_p99_ms,ttfe_p99_ms,ttfe_p50_ms,breakers_open,short_circuited,\
             future_column,retries,events,attempts,streams_failed,streams_ok,streams_started,\
             active_sessions,t_s\n\
             2000.125,10.250,3.500,1.500,0,3,99,2,100,7,1,4,5,20,1.000\n\
             2000.125,10.250,4.000,1.500,2,3,99,2,100,9,1,4,5,20,2.001\n",
        );
        assert_eq!(
            read_timeseries(&path).expect("read"),
            [row(1.0, 7, 0, 3.5), row(2.001, 9, 2, 4.0)]
        );
    }

    #[test]
    fn a_missing_column_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let header: Vec<&str> = TIMESERIES_HEADER
            .iter()
            .copied()
            .filter(|c| *c != "breakers_open")
            .collect();
        let path = write(dir.path(), &format!("{}\n", header.join(",")));
        let msg = message(read_timeseries(&path).expect_err("missing column"));
        assert!(
            msg.starts_with("no `breakers_open` column (header: `t_s,"),
            "{msg}"
        );
        assert!(msg.contains(&TIMESERIES_HEADER.join(",")), "{msg}");
        // An empty file has no header at all: the first column is missing.
        let path = write(dir.path(), "");
        let msg = message(read_timeseries(&path).expect_err("empty"));
        assert!(msg.starts_with("no `t_s` column"), "{msg}");
    }

    #[test]
    fn a_bad_value_is_located() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            &format!(
                "{}\n1.000,20,5,4,1,7,100,2,3,0,1.500,3.500,10.250,2000.125,0\n\
                 2.000,20,5,4,1,x,100,2,3,0,1.500,3.500,10.250,2000.125,0\n",
                TIMESERIES_HEADER.join(",")
            ),
        );
        let msg = message(read_timeseries(&path).expect_err("bad value"));
        assert_eq!(msg, "line 3: bad `attempts` value `x`");
        // A header alone is an empty series.
        let path = write(dir.path(), &format!("{}\n", TIMESERIES_HEADER.join(",")));
        assert_eq!(read_timeseries(&path).expect("read"), []);
    }
}
