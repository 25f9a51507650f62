//! Report writers: the files of PRODUCT.md's report folder (CSV, JSON, HTML,
//! JUnit, markdown), thresholds, `--events-out`, and the live metrics a run
//! serves (`live`).

pub mod alignment;
pub mod csv;
pub mod events;
pub mod html;
pub mod html_input;
pub mod json;
pub mod junit;
pub mod live;
pub mod markdown;
pub mod merge;
pub mod reader;
pub mod summary;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::scenario::thresholds::{CounterName, FaultStat, MetricKey, Stat, ThresholdResult};
pub use summary::{FaultReport, RunSummary};

use crate::metrics::LatencySummary;

/// A report file could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing or reading a report file failed; check the folder is writable and the disk not full.
    #[error("report file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Folders given to `merge` are not shards of one run (exit 2).
    #[error("{}: {message}", path.display())]
    Mismatch {
        /// The offending folder.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// A report folder's raw data is not what streamsoak writes.
    #[error("report folder {}: {message}", path.display())]
    Invalid {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The observed value of a threshold's metric in a run.
pub fn metric_value(s: &RunSummary, key: &MetricKey) -> Option<f64> {
    let c = &s.counters;
    Some(match key {
        MetricKey::SuccessRate => return c.success_rate(),
        MetricKey::Goodput => return c.goodput(),
        MetricKey::Latency { metric, stat } => {
            let h = s.latencies.get(*metric);
            if *stat == Stat::Count {
                return Some(h.len() as f64);
            }
            if h.is_empty() {
                return None;
            }
            let l = LatencySummary::of(h);
            match stat {
                Stat::Max => l.max_ms,
                Stat::Min => l.min_ms,
                Stat::Mean => l.mean_ms,
                other => h.value_at_quantile(other.quantile()?) as f64 / 1000.0,
            }
        }
        MetricKey::Counter(name) => match name {
            CounterName::StreamsStarted => c.streams_started as f64,
            CounterName::StreamsOk => c.streams_ok as f64,
            CounterName::StreamsFailed => c.streams_failed as f64,
            CounterName::Attempts => c.attempts as f64,
            CounterName::Retries => c.retries as f64,
            CounterName::ShortCircuited => c.short_circuited as f64,
            CounterName::BreakerOpens => c.breaker_opens as f64,
            CounterName::Events => c.events as f64,
            CounterName::EventsPerS => s.events_per_s(),
            CounterName::Bytes => c.bytes as f64,
            CounterName::DroppedArrivals => c.dropped_arrivals as f64,
            CounterName::OutputTokens => c.output_tokens as f64,
            CounterName::OutputTokensPerS => return s.output_tokens_per_s(),
            CounterName::Disconnects => c.disconnects as f64,
            CounterName::Reconnects => c.reconnects as f64,
            CounterName::LostEvents => c.lost_events as f64,
            CounterName::DuplicateEvents => c.duplicate_events as f64,
        },
        MetricKey::ErrorsClass(class) => c.errors_of_class(*class) as f64,
        MetricKey::ErrorsKind(kind) => c.errors_of(*kind) as f64,
        MetricKey::Fault(stat) => {
            let values = s.faults.iter().map(|f| match stat {
                FaultStat::RetryAmplification => f.retry_amplification,
                FaultStat::RecoveryBurst => f.recovery_burst,
            });
            return values.reduce(f64::max);
        }
    })
}

/// Writes the files `streamsoak report` regenerates: summaries, thresholds, JUnit, markdown.
///
/// # Errors
/// When a file cannot be written.
pub fn write_summaries(
    dir: &Path,
    s: &RunSummary,
    results: &[ThresholdResult],
) -> Result<(), ReportError> {
    let passed = results.iter().all(|r| r.passed);
    csv::write_summary(&dir.join("summary.csv"), &s.facts(Some(passed)))?;
    csv::write_latency(&dir.join("latency.csv"), &s.latencies)?;
    csv::write_thresholds(&dir.join("thresholds.csv"), results)?;
    json::write(&dir.join("summary.json"), s, results)?;
    write_text(&dir.join("junit.xml"), &junit::render(s, results))?;
    write_text(&dir.join("summary.md"), &markdown::render(s, results))?;
    let page = html::render(&html_input::build(dir, s, results)?);
    write_text(&dir.join("report.html"), &page)
}

/// Writes every end-of-run file of the report folder.
///
/// # Errors
/// When a file cannot be written.
pub fn write_final(
    dir: &Path,
    s: &RunSummary,
    results: &[ThresholdResult],
) -> Result<(), ReportError> {
    csv::write_errors(&dir.join("errors.csv"), &s.counters, &s.errors)?;
    csv::write_sessions(&dir.join("sessions.csv"), &s.sessions)?;
    csv::write_faults(&dir.join("faults.csv"), &s.faults)?;
    write_summaries(dir, s, results)
}

fn write_text(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The short block printed at the end of `run`.
pub fn console_summary(s: &RunSummary, results: &[ThresholdResult], dir: &Path) -> String {
    let c = &s.counters;
    let ttfe = s.latency(crate::metrics::LatencyMetric::Ttfe);
    let stream = s.latency(crate::metrics::LatencyMetric::Stream);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n=== {} ({:.1}s) ===",
        s.name,
        s.duration.as_secs_f64()
    );
    if !s.complete {
        let _ = writeln!(
            out,
            "incomplete run: it was killed; these figures cover it up to its last flushed interval"
        );
    }
    let _ = writeln!(
        out,
        "streams: {} started, {} ok, {} failed ({:.2}% success); {} attempts, {} retries, {} short-circuited",
        c.streams_started,
        c.streams_ok,
        c.streams_failed,
        100.0 * c.success_rate().unwrap_or(0.0),
        c.attempts,
        c.retries,
        c.short_circuited
    );
    let _ = writeln!(
        out,
        "events: {} ({:.0}/s); peak sessions {}; breaker opens {}; dropped arrivals {}",
        c.events,
        s.events_per_s(),
        s.peak_sessions,
        c.breaker_opens,
        c.dropped_arrivals
    );
    let _ = writeln!(
        out,
        "ttfe p50 {:.1}ms p99 {:.1}ms; stream p50 {:.1}ms p99 {:.1}ms",
        ttfe.p50_ms, ttfe.p99_ms, stream.p50_ms, stream.p99_ms
    );
    if c.output_tokens > 0 {
        let ttft = s.latency(crate::metrics::LatencyMetric::Ttft);
        let itl = s.latency(crate::metrics::LatencyMetric::Itl);
        let tpot = s.latency(crate::metrics::LatencyMetric::Tpot);
        let _ = writeln!(
            out,
            "tokens: {} ({:.0}/s); ttft p50 {:.1}ms p99 {:.1}ms; itl p50 {:.2}ms p99 {:.2}ms; tpot p50 {:.2}ms; goodput {:.2}%",
            c.output_tokens,
            s.output_tokens_per_s().unwrap_or(0.0),
            ttft.p50_ms,
            ttft.p99_ms,
            itl.p50_ms,
            itl.p99_ms,
            tpot.p50_ms,
            100.0 * c.goodput().unwrap_or(0.0)
        );
    }
    for r in results {
        let observed = r.observed_text();
        let _ = writeln!(
            out,
            "threshold {} {}: {} (observed {observed})",
            r.threshold,
            r.condition,
            if r.passed { "passed" } else { "FAILED" }
        );
    }
    let verdict = if results.iter().all(|r| r.passed) {
        "PASSED"
    } else {
        "FAILED"
    };
    let _ = writeln!(out, "result: {verdict}; report: {}", dir.display());
    out
}
