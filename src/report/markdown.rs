//! `summary.md`: the verdict, key figures and failed thresholds, for a CI
//! job summary (`$GITHUB_STEP_SUMMARY`) or a pull-request comment.

use std::fmt::Write as _;

use crate::metrics::LatencyMetric;
use crate::report::summary::RunSummary;
use crate::scenario::thresholds::ThresholdResult;

/// Renders the markdown summary.
pub fn render(s: &RunSummary, results: &[ThresholdResult]) -> String {
    let c = &s.counters;
    let passed = results.iter().all(|r| r.passed);
    let mut out = String::new();
    let verdict = if passed { "✅ passed" } else { "❌ failed" };
    let _ = writeln!(out, "## streamsoak: {} — {verdict}\n", s.name);
    let _ = writeln!(
        out,
        "Target `{}`, {:.1} s, peak {} sessions.\n",
        s.target,
        s.duration.as_secs_f64(),
        s.peak_sessions
    );
    if !s.complete {
        let _ = writeln!(
            out,
            "> **Incomplete run:** it was killed before it finished; the figures cover it up to its last flushed interval.\n"
        );
    }
    let _ = writeln!(out, "| figure | value |\n|---|---|");
    let rows = [
        (
            "streams ok / started",
            format!("{} / {}", c.streams_ok, c.streams_started),
        ),
        (
            "success rate",
            c.success_rate().map_or_else(
                || "no stream finished".to_owned(),
                |r| format!("{:.2} %", 100.0 * r),
            ),
        ),
        (
            "attempts / retries",
            format!("{} / {}", c.attempts, c.retries),
        ),
        ("short-circuited", c.short_circuited.to_string()),
        ("breaker opens", c.breaker_opens.to_string()),
        (
            "events",
            format!("{} ({:.0}/s)", c.events, s.events_per_s()),
        ),
        ("dropped arrivals", c.dropped_arrivals.to_string()),
        (
            "disconnects / reconnects",
            format!("{} / {}", c.disconnects, c.reconnects),
        ),
        (
            "lost / duplicate events",
            format!("{} / {}", c.lost_events, c.duplicate_events),
        ),
    ];
    let mut rows = rows.to_vec();
    if c.output_tokens > 0 {
        rows.push((
            "output tokens",
            format!(
                "{} ({:.0}/s)",
                c.output_tokens,
                s.output_tokens_per_s().unwrap_or(0.0)
            ),
        ));
        rows.push((
            "goodput",
            c.goodput().map_or_else(
                || "no stream finished".to_owned(),
                |r| format!("{:.2} %", 100.0 * r),
            ),
        ));
    }
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    for metric in [
        LatencyMetric::Ttfe,
        LatencyMetric::Stream,
        LatencyMetric::Recover,
        LatencyMetric::Ttft,
        LatencyMetric::Itl,
        LatencyMetric::Tpot,
    ] {
        let l = s.latency(metric);
        if l.count > 0 {
            let _ = writeln!(
                out,
                "| {} p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
                metric.as_str(),
                l.p50_ms,
                l.p99_ms,
                l.max_ms
            );
        }
    }
    if !results.is_empty() {
        let _ = writeln!(
            out,
            "\n| threshold | condition | observed | result |\n|---|---|---|---|"
        );
        for r in results {
            let observed = r.observed_text();
            let mark = if r.passed { "✅" } else { "❌" };
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {observed} | {mark} |",
                r.threshold, r.condition
            );
        }
    }
    let failed: Vec<&ThresholdResult> = results.iter().filter(|r| !r.passed).collect();
    if !failed.is_empty() {
        let _ = writeln!(
            out,
            "\n**Failed thresholds:** {}",
            failed
                .iter()
                .map(|r| format!("`{} {}`", r.threshold, r.condition))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}
