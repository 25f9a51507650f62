//! `streamsoak merge`: shard report folders → one report.
//!
//! Lossless where the raw data allows it:
//! - latencies come from every shard's `histograms.hlog`, re-based on the
//!   earliest shard's wall-clock start and written into one merged log, so
//!   every percentile equals the one computed over the union of samples;
//! - counters and error counts are summed, first-seen times re-based;
//! - `timeseries.csv` rows are aligned on wall-clock seconds: counters and
//!   gauges summed per second, latency columns recomputed from the merged
//!   hlog intervals of that second;
//! - `breaker.csv` and `sessions.csv` are concatenated (session ids are
//!   distinct per shard by construction);
//! - `faults.csv`: counts summed, maxima maxed; medians and the two ratios
//!   are averaged weighted by affected sessions (approximate: per-fault
//!   samples are not kept in the raw data).
//!
//! Folders of different scenarios or plans (`plan_digest`), of different
//! shard counts or `--start-at` instants, two folders of the same shard, or
//! a set with a shard missing are refused ([`crate::report::alignment`]);
//! the merged `summary.csv` has `start_skew_ms`, the spread of the shards'
//! actual starts.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::client::classify::FailureKind;
use crate::metrics::hlog::{self, HlogWriter};
use crate::metrics::{Latencies, LatencyMetric};
use crate::report::alignment::{check_set, ShardFacts};
use crate::report::csv::{AppendWriter, TimeseriesRow, BREAKER_HEADER, TIMESERIES_HEADER};
use crate::report::reader::{read_folder, read_timeseries, Folder};
use crate::report::summary::{FaultReport, RunSummary};
use crate::report::ReportError;

/// The merged run and the thresholds all shards were gated with.
pub struct Merged {
    /// The merged summary.
    pub summary: RunSummary,
    /// (key, condition) pairs.
    pub thresholds: Vec<(String, String)>,
}

fn invalid(path: &Path, message: impl Into<String>) -> ReportError {
    ReportError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn mismatch(path: &Path, message: impl Into<String>) -> ReportError {
    ReportError::Mismatch {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

struct Shard {
    dir: PathBuf,
    folder: Folder,
    start: SystemTime,
    hlog_text: Vec<u8>,
}

/// Merges `dirs` into `out` (which must exist), writing the raw files
/// (`histograms.hlog`, `timeseries.csv`, `breaker.csv`) and returning the
/// summary for the caller to write the rest.
///
/// # Errors
/// [`ReportError::Invalid`] for mismatched or overlapping shards, I/O errors.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, ReportError> {
    let mut shards = Vec::new();
    for dir in dirs {
        let folder = read_folder(dir)?;
        let hlog_path = dir.join("histograms.hlog");
        let hlog_text = std::fs::read(&hlog_path).map_err(io(&hlog_path))?;
        let start = hlog::start_time(&hlog_text)
            .ok_or_else(|| invalid(&hlog_path, "no StartTime header"))?;
        shards.push(Shard {
            dir: dir.clone(),
            folder,
            start,
            hlog_text,
        });
    }
    check_compatible(&shards)?;
    let skew = check_alignment(&shards)?;
    let t0 = shards
        .iter()
        .map(|s| s.start)
        .min()
        .ok_or_else(|| invalid(out, "no folders to merge"))?;
    let offset = |s: &Shard| s.start.duration_since(t0).unwrap_or_default();

    // Histograms: re-based into one log; per-second buckets for the timeseries.
    let hlog_path = out.join("histograms.hlog");
    let name = shards[0].folder.summary.name.clone();
    let mut writer = HlogWriter::create(
        &hlog_path,
        t0,
        &format!(
            "streamsoak merge of {} shards of {name}; values in microseconds",
            shards.len()
        ),
    )
    .map_err(io(&hlog_path))?;
    let mut latencies = Latencies::default();
    let mut per_second: BTreeMap<u64, Latencies> = BTreeMap::new();
    for shard in &shards {
        let path = shard.dir.join("histograms.hlog");
        for entry in hlog::read(&shard.hlog_text).map_err(|msg| invalid(&path, msg))? {
            let start = entry.start + offset(shard);
            let mut one = Latencies::default();
            one.get_mut(entry.metric)
                .add(&entry.histogram)
                .map_err(|err| invalid(&path, format!("{err:?}")))?;
            writer
                .write_interval(start, entry.length, &one)
                .map_err(io(&hlog_path))?;
            latencies.add(&one);
            let second = (start + entry.length).as_secs_f64().round() as u64;
            per_second.entry(second).or_default().add(&one);
        }
    }

    merge_timeseries(&shards, &offset, &per_second, &out.join("timeseries.csv"))?;
    merge_breaker(&shards, &offset, &out.join("breaker.csv"))?;

    let mut summary = shards[0].folder.summary.clone();
    summary.started_at = t0;
    summary.shard = None;
    summary.alignment.start_skew = Some(skew);
    summary.alignment.start_late_ms = summary
        .alignment
        .start_at
        .map(|at| crate::report::alignment::signed_ms(t0, at));
    summary.latencies = latencies;
    summary.duration = shards
        .iter()
        .map(|s| offset(s) + s.folder.summary.duration)
        .max()
        .unwrap_or_default();
    summary.peak_sessions = shards.iter().map(|s| s.folder.summary.peak_sessions).sum();
    summary.counters = Default::default();
    summary.errors = Default::default();
    summary.sessions = Vec::new();
    for shard in &shards {
        let s = &shard.folder.summary;
        summary.counters.merge(&s.counters);
        for kind in FailureKind::ALL {
            if let Some((at, example)) = s.errors.get(kind) {
                summary.errors.note(kind, *at + offset(shard), example);
            }
        }
        summary.sessions.extend(s.sessions.iter().cloned());
    }
    summary.sessions.sort_by_key(|s| s.session);
    summary.faults = merge_faults(&shards, &offset);
    // A killed shard makes the merged run incomplete too.
    summary.complete = shards.iter().all(|s| s.folder.summary.complete);
    Ok(Merged {
        summary,
        thresholds: shards[0].folder.thresholds.clone(),
    })
}

fn check_compatible(shards: &[Shard]) -> Result<(), ReportError> {
    let Some(first) = shards.first() else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    for shard in shards {
        let s = &shard.folder.summary;
        if s.name != first.folder.summary.name {
            return Err(mismatch(
                &shard.dir,
                format!(
                    "scenario `{}` does not match `{}` of {}: merge shards of one scenario",
                    s.name,
                    first.folder.summary.name,
                    first.dir.display()
                ),
            ));
        }
        if shard.folder.thresholds != first.folder.thresholds {
            return Err(mismatch(
                &shard.dir,
                "thresholds differ from the first folder's: not shards of one scenario",
            ));
        }
        match (s.shard, first.folder.summary.shard) {
            (Some((i, n)), Some((_, n0))) => {
                if n != n0 {
                    return Err(mismatch(
                        &shard.dir,
                        format!("shard {i}/{n} does not belong to a run of {n0} shards"),
                    ));
                }
                if !seen.insert(i) {
                    return Err(mismatch(&shard.dir, format!("shard {i}/{n} given twice")));
                }
            }
            (None, None) if shards.len() == 1 => {}
            _ => return Err(mismatch(
                &shard.dir,
                "not a shard folder (no `shard` in summary.csv): run each slice with --shard I/N",
            )),
        }
    }
    Ok(())
}

/// One plan, one `--start-at`, indices 1..N each once; the spread of the
/// shards' actual starts (their hlog `StartTime`, millisecond precision).
fn check_alignment(shards: &[Shard]) -> Result<Duration, ReportError> {
    let facts: Vec<ShardFacts<'_>> = shards
        .iter()
        .map(|s| ShardFacts {
            shard: s.folder.summary.shard,
            alignment: &s.folder.summary.alignment,
            started_at: s.start,
        })
        .collect();
    check_set(&facts).map_err(|(k, message)| mismatch(&shards[k].dir, message))
}

fn merge_timeseries(
    shards: &[Shard],
    offset: &dyn Fn(&Shard) -> Duration,
    per_second: &BTreeMap<u64, Latencies>,
    path: &Path,
) -> Result<(), ReportError> {
    let mut rows: BTreeMap<u64, TimeseriesRow> = BTreeMap::new();
    for shard in shards {
        for r in read_timeseries(&shard.dir.join("timeseries.csv"))? {
            let t = r.t_s + offset(shard).as_secs_f64();
            let row = rows.entry(t.round() as u64).or_default();
            row.t_s = row.t_s.max(t);
            row.active_sessions += r.active_sessions;
            row.counters.merge(&r.counters);
            row.breakers_open += r.breakers_open;
        }
    }
    let mut out = AppendWriter::create(path, TIMESERIES_HEADER)?;
    for (second, row) in &mut rows {
        if let Some(l) = per_second.get(second) {
            let q = |m: LatencyMetric, q: f64| {
                let h = l.get(m);
                if h.is_empty() {
                    0.0
                } else {
                    h.value_at_quantile(q) as f64 / 1000.0
                }
            };
            row.ttfe_p50_ms = q(LatencyMetric::Ttfe, 0.5);
            row.ttfe_p99_ms = q(LatencyMetric::Ttfe, 0.99);
            row.gap_p99_ms = q(LatencyMetric::Gap, 0.99);
            row.stream_p99_ms = q(LatencyMetric::Stream, 0.99);
        }
        out.timeseries(row)?;
    }
    Ok(())
}

fn merge_breaker(
    shards: &[Shard],
    offset: &dyn Fn(&Shard) -> Duration,
    path: &Path,
) -> Result<(), ReportError> {
    let mut rows: Vec<(f64, Vec<String>)> = Vec::new();
    for shard in shards {
        let file = shard.dir.join("breaker.csv");
        let mut reader =
            csv::Reader::from_path(&file).map_err(|err| invalid(&file, err.to_string()))?;
        for record in reader.records() {
            let record = record.map_err(|err| invalid(&file, err.to_string()))?;
            let t: f64 = record
                .get(0)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| invalid(&file, "bad t_ms"))?;
            let t = t + offset(shard).as_secs_f64() * 1000.0;
            let mut fields: Vec<String> = record.iter().map(str::to_owned).collect();
            fields[0] = format!("{t:.3}");
            rows.push((t, fields));
        }
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = AppendWriter::create(path, BREAKER_HEADER)?;
    let mut text = String::new();
    for (_, fields) in rows {
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    out.raw(text.as_bytes())
}

fn merge_faults(shards: &[Shard], offset: &dyn Fn(&Shard) -> Duration) -> Vec<FaultReport> {
    let mut merged: BTreeMap<usize, (FaultReport, f64)> = BTreeMap::new();
    for shard in shards {
        let shift = offset(shard).as_secs_f64();
        for f in &shard.folder.summary.faults {
            let w = f.sessions.max(1) as f64;
            let (m, weight) = merged.entry(f.fault).or_insert_with(|| {
                (
                    FaultReport {
                        fault: f.fault,
                        kind: f.kind.clone(),
                        start_s: f64::MAX,
                        ..FaultReport::default()
                    },
                    0.0,
                )
            });
            m.start_s = m.start_s.min(f.start_s + shift);
            m.end_s = m.end_s.max(f.end_s + shift);
            m.sessions += f.sessions;
            m.opened += f.opened;
            m.recovered += f.recovered;
            m.short_circuited += f.short_circuited;
            m.failed_streams += f.failed_streams;
            m.open_max_ms = m.open_max_ms.max(f.open_max_ms);
            m.recover_max_ms = m.recover_max_ms.max(f.recover_max_ms);
            m.reconnected += f.reconnected;
            m.reconnect_max_ms = m.reconnect_max_ms.max(f.reconnect_max_ms);
            m.reconnect_p50_ms += f.reconnect_p50_ms * w;
            m.open_p50_ms += f.open_p50_ms * w;
            m.recover_p50_ms += f.recover_p50_ms * w;
            m.retry_amplification += f.retry_amplification * w;
            m.recovery_burst += f.recovery_burst * w;
            *weight += w;
        }
    }
    merged
        .into_values()
        .map(|(mut f, w)| {
            if w > 0.0 {
                f.open_p50_ms /= w;
                f.recover_p50_ms /= w;
                f.reconnect_p50_ms /= w;
                f.retry_amplification /= w;
                f.recovery_burst /= w;
            }
            f
        })
        .collect()
}
