//! Pass/fail thresholds: `"ttfe.p99" = "< 1s"` → [`Threshold`], checked
//! against a finished run through [`MetricSource`] by [`evaluate`].
//!
//! Metric keys (the left side) are:
//! - `success_rate` — streams ok / streams finished, a share in 0..=1;
//!   conditions may use a percent (`">= 99%"`).
//! - `goodput` — streams that completed within every `[slo]` / streams
//!   finished, a share like `success_rate`.
//! - `<latency>.<stat>` — latency `ttfb | ttfe | gap | stream | open | recover
//!   | ttft | itl | tpot`,
//!   stat `p50 | p90 | p95 | p99 | p99.9 (or p99_9) | max | min | mean | count`;
//!   `breaker.open.*` and `breaker.recover.*` are accepted aliases. Values are
//!   durations (`"< 1s"`, `"<= 250ms"`); a bare number means milliseconds;
//!   `count` takes a plain number.
//! - counters: `streams_started streams_ok streams_failed attempts retries
//!   short_circuited breaker_opens events events_per_s bytes dropped_arrivals
//!   output_tokens output_tokens_per_s disconnects reconnects lost_events
//!   duplicate_events`
//!   (`bytes` also accepts sizes such as `"1MiB"`).
//! - `errors.<class>` / `errors.<kind>` — failure counts (see `client::classify`).
//! - `faults.retry_amplification`, `faults.recovery_burst` (the max over all
//!   faults; the `faults.` prefix may be left out).
//!
//! Missing data: a latency statistic of a metric with no samples (say,
//! `recover.max` in a run without faults), a fault statistic without faults,
//! `success_rate`, `goodput`, `events_per_s` or `output_tokens_per_s` with
//! nothing finished have no value, and
//! such a threshold **fails** — a check that could not be made is not a pass.
//! Counts (counters, `errors.*`, `*.count`) read as 0 when absent, so
//! `"errors.network" = "== 0"` passes in a clean run.

use std::fmt;

use crate::client::classify::{FailureClass, FailureKind};
pub use crate::metrics::LatencyMetric;
use crate::scenario::units::{ByteSize, HumanDuration};

/// A statistic of a latency histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stat {
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile (`p99.9`, also written `p99_9`).
    P999,
    /// Largest sample.
    Max,
    /// Smallest sample.
    Min,
    /// Arithmetic mean.
    Mean,
    /// Number of samples (a count, not milliseconds).
    Count,
}

impl Stat {
    /// Every stat, in `latency.csv` order.
    pub const ALL: [Stat; 9] = [
        Stat::Count,
        Stat::Min,
        Stat::Mean,
        Stat::P50,
        Stat::P90,
        Stat::P95,
        Stat::P99,
        Stat::P999,
        Stat::Max,
    ];

    /// The spelling in thresholds (`p99.9`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::P999 => "p99.9",
            Stat::Max => "max",
            Stat::Min => "min",
            Stat::Mean => "mean",
            Stat::Count => "count",
        }
    }

    /// The quantile in 0.0..=1.0 for percentile stats (HdrHistogram's
    /// `value_at_quantile` takes this scale, not 0–100).
    pub fn quantile(self) -> Option<f64> {
        match self {
            Stat::P50 => Some(0.5),
            Stat::P90 => Some(0.9),
            Stat::P95 => Some(0.95),
            Stat::P99 => Some(0.99),
            Stat::P999 => Some(0.999),
            Stat::Max | Stat::Min | Stat::Mean | Stat::Count => None,
        }
    }

    fn parse(text: &str) -> Option<Stat> {
        if text == "p99_9" {
            return Some(Stat::P999);
        }
        Stat::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A run-wide counter (the `summary.csv` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CounterName {
    /// Streams started.
    StreamsStarted,
    /// Streams that completed.
    StreamsOk,
    /// Streams that failed after retries.
    StreamsFailed,
    /// Attempts (first tries and retries).
    Attempts,
    /// Retries.
    Retries,
    /// Streams not attempted because the breaker was open.
    ShortCircuited,
    /// Breaker Closed/HalfOpen → Open transitions.
    BreakerOpens,
    /// Events received.
    Events,
    /// Events per second over the run.
    EventsPerS,
    /// Body bytes received.
    Bytes,
    /// Open-model arrivals dropped at `max_sessions`.
    DroppedArrivals,
    /// LLM streams: output tokens received.
    OutputTokens,
    /// LLM streams: output tokens per second over the run.
    OutputTokensPerS,
    /// Subscribe mode: open streams that ended before `hold`.
    Disconnects,
    /// Subscribe mode: streams after a disconnection that delivered an event.
    Reconnects,
    /// `sequence = "id"`: events never received.
    LostEvents,
    /// `sequence = "id"`: events received twice.
    DuplicateEvents,
}

impl CounterName {
    /// Every counter, in `summary.csv` order.
    pub const ALL: [CounterName; 17] = [
        CounterName::StreamsStarted,
        CounterName::StreamsOk,
        CounterName::StreamsFailed,
        CounterName::Attempts,
        CounterName::Retries,
        CounterName::ShortCircuited,
        CounterName::BreakerOpens,
        CounterName::Events,
        CounterName::EventsPerS,
        CounterName::Bytes,
        CounterName::DroppedArrivals,
        CounterName::OutputTokens,
        CounterName::OutputTokensPerS,
        CounterName::Disconnects,
        CounterName::Reconnects,
        CounterName::LostEvents,
        CounterName::DuplicateEvents,
    ];

    /// The spelling in thresholds and `summary.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            CounterName::StreamsStarted => "streams_started",
            CounterName::StreamsOk => "streams_ok",
            CounterName::StreamsFailed => "streams_failed",
            CounterName::Attempts => "attempts",
            CounterName::Retries => "retries",
            CounterName::ShortCircuited => "short_circuited",
            CounterName::BreakerOpens => "breaker_opens",
            CounterName::Events => "events",
            CounterName::EventsPerS => "events_per_s",
            CounterName::Bytes => "bytes",
            CounterName::DroppedArrivals => "dropped_arrivals",
            CounterName::OutputTokens => "output_tokens",
            CounterName::OutputTokensPerS => "output_tokens_per_s",
            CounterName::Disconnects => "disconnects",
            CounterName::Reconnects => "reconnects",
            CounterName::LostEvents => "lost_events",
            CounterName::DuplicateEvents => "duplicate_events",
        }
    }
}

/// A per-fault statistic from `faults.csv`; thresholds use its max over faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultStat {
    /// Attempts per wanted stream during the fault window.
    RetryAmplification,
    /// Peak attempts/s in the 10 s after a fault over the steady rate before it.
    RecoveryBurst,
}

impl FaultStat {
    /// The spelling after `faults.` (and in `faults.csv`).
    pub fn as_str(self) -> &'static str {
        match self {
            FaultStat::RetryAmplification => "retry_amplification",
            FaultStat::RecoveryBurst => "recovery_burst",
        }
    }
}

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKey {
    /// streams ok / streams finished, 0..=1.
    SuccessRate,
    /// streams completed within every SLO / streams finished, 0..=1.
    Goodput,
    /// A latency statistic, in milliseconds (or a sample count for `count`).
    Latency {
        /// Which histogram.
        metric: LatencyMetric,
        /// Which statistic of it.
        stat: Stat,
    },
    /// A run-wide counter.
    Counter(CounterName),
    /// Failures of one class.
    ErrorsClass(FailureClass),
    /// Failures of one kind.
    ErrorsKind(FailureKind),
    /// A fault statistic, max over faults.
    Fault(FaultStat),
}

impl MetricKey {
    /// Parses a threshold key such as `ttfe.p99`, `breaker.recover.max`,
    /// `errors.status-5xx`. The error names the nearest valid key.
    pub fn parse(key: &str) -> Result<MetricKey, String> {
        if key == "success_rate" {
            return Ok(MetricKey::SuccessRate);
        }
        if key == "goodput" {
            return Ok(MetricKey::Goodput);
        }
        if let Some(c) = CounterName::ALL.into_iter().find(|c| c.as_str() == key) {
            return Ok(MetricKey::Counter(c));
        }
        if let Some(rest) = key.strip_prefix("errors.") {
            if let Ok(class) = rest.parse::<FailureClass>() {
                return Ok(MetricKey::ErrorsClass(class));
            }
            if let Ok(kind) = rest.parse::<FailureKind>() {
                return Ok(MetricKey::ErrorsKind(kind));
            }
        }
        let fault = key
            .strip_prefix("faults.")
            .or_else(|| key.strip_prefix("fault."))
            .unwrap_or(key);
        for stat in [FaultStat::RetryAmplification, FaultStat::RecoveryBurst] {
            if stat.as_str() == fault {
                return Ok(MetricKey::Fault(stat));
            }
        }
        let latency = match key.strip_prefix("breaker.") {
            Some(rest) if rest.starts_with("open.") || rest.starts_with("recover.") => rest,
            _ => key,
        };
        if let Some((name, stat)) = latency.split_once('.') {
            let metric = LatencyMetric::ALL.into_iter().find(|m| m.as_str() == name);
            if let (Some(metric), Some(stat)) = (metric, Stat::parse(stat)) {
                return Ok(MetricKey::Latency { metric, stat });
            }
        }
        let names = all_metric_names();
        let mut message = format!("unknown metric `{key}`");
        if let Some(best) = crate::scenario::nearest(key, names.iter().map(String::as_str)) {
            message.push_str(&format!("; did you mean `{best}`?"));
        } else {
            message.push_str(
                " (use success_rate, goodput, <ttfb|ttfe|gap|stream|open|recover|ttft|itl|tpot>.<p50|p90|p95|p99|p99.9|max|min|mean|count>, \
                 a counter such as streams_failed, errors.<class or kind>, or faults.retry_amplification)",
            );
        }
        Err(message)
    }

    /// Whether a missing value reads as 0 (counts) rather than "no data" (fails).
    pub fn zero_when_missing(self) -> bool {
        match self {
            MetricKey::Latency { stat, .. } => stat == Stat::Count,
            MetricKey::Counter(counter) => !matches!(
                counter,
                CounterName::EventsPerS | CounterName::OutputTokensPerS
            ),
            MetricKey::ErrorsClass(_) | MetricKey::ErrorsKind(_) => true,
            MetricKey::SuccessRate | MetricKey::Goodput | MetricKey::Fault(_) => false,
        }
    }

    /// Whether values are milliseconds (latency stats other than `count`).
    pub fn is_millis(self) -> bool {
        matches!(self, MetricKey::Latency { stat, .. } if stat != Stat::Count)
    }

    /// The unit of the observed value, as `thresholds.csv`'s `unit` column
    /// names it: `ms` for latency statistics, `ratio` for shares and
    /// ratios (0.474), otherwise what is counted (`events`, `streams`,
    /// `errors`, …).
    pub fn unit(self) -> Unit {
        match self {
            MetricKey::Latency {
                stat: Stat::Count, ..
            } => Unit::Count("samples"),
            MetricKey::Latency { .. } => Unit::Millis,
            MetricKey::SuccessRate
            | MetricKey::Goodput
            | MetricKey::Fault(FaultStat::RecoveryBurst) => Unit::Ratio,
            MetricKey::Fault(FaultStat::RetryAmplification) => Unit::Count("attempts/stream"),
            MetricKey::ErrorsClass(_) | MetricKey::ErrorsKind(_) => Unit::Count("errors"),
            MetricKey::Counter(c) => Unit::Count(match c {
                CounterName::StreamsStarted
                | CounterName::StreamsOk
                | CounterName::StreamsFailed => "streams",
                CounterName::Attempts => "attempts",
                CounterName::Retries => "retries",
                CounterName::ShortCircuited => "calls",
                CounterName::BreakerOpens => "opens",
                CounterName::Events => "events",
                CounterName::EventsPerS => "events/s",
                CounterName::Bytes => "bytes",
                CounterName::DroppedArrivals => "arrivals",
                CounterName::OutputTokens => "tokens",
                CounterName::OutputTokensPerS => "tokens/s",
                CounterName::Disconnects => "disconnects",
                CounterName::Reconnects => "reconnects",
                CounterName::LostEvents | CounterName::DuplicateEvents => "events",
            }),
        }
    }
}

/// The unit of a threshold's observed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Milliseconds (latency statistics).
    Millis,
    /// A plain share or ratio, shown without a unit (`0.474`).
    Ratio,
    /// A count or rate of the named things (`12 events`, `3.5 events/s`).
    Count(&'static str),
}

impl Unit {
    /// The name in `thresholds.csv` and `summary.json`: `ms`, `ratio`, or the counted things.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Millis => "ms",
            Unit::Ratio => "ratio",
            Unit::Count(what) => what,
        }
    }

    /// `value` for a person to read: `1.016 ms`, `0.474`, `12 events`
    /// (whole counts without decimals, rates with three).
    ///
    /// ```
    /// use streamsoak::scenario::thresholds::Unit;
    ///
    /// assert_eq!(Unit::Millis.show(1.0164), "1.016 ms");
    /// assert_eq!(Unit::Ratio.show(0.47449), "0.474");
    /// assert_eq!(Unit::Count("events").show(12.0), "12 events");
    /// assert_eq!(Unit::Count("events/s").show(2.5), "2.500 events/s");
    /// ```
    pub fn show(self, value: f64) -> String {
        match self {
            Unit::Millis => format!("{value:.3} ms"),
            Unit::Ratio => format!("{value:.3}"),
            Unit::Count(what) if value.fract() == 0.0 && value.abs() < 1e15 => {
                format!("{value:.0} {what}")
            }
            Unit::Count(what) => format!("{value:.3} {what}"),
        }
    }

    /// [`Unit::show`], or `no data` when nothing was observed.
    pub fn show_observed(self, value: Option<f64>) -> String {
        value.map_or_else(|| "no data".to_owned(), |v| self.show(v))
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricKey::SuccessRate => f.write_str("success_rate"),
            MetricKey::Goodput => f.write_str("goodput"),
            MetricKey::Latency { metric, stat } => {
                write!(f, "{}.{}", metric.as_str(), stat.as_str())
            }
            MetricKey::Counter(c) => f.write_str(c.as_str()),
            MetricKey::ErrorsClass(c) => write!(f, "errors.{c}"),
            MetricKey::ErrorsKind(k) => write!(f, "errors.{k}"),
            MetricKey::Fault(s) => write!(f, "faults.{}", s.as_str()),
        }
    }
}

/// Every canonical metric key, for suggestions and documentation.
pub fn all_metric_names() -> Vec<String> {
    let mut names = vec!["success_rate".to_owned(), "goodput".to_owned()];
    for metric in LatencyMetric::ALL {
        for stat in Stat::ALL {
            names.push(format!("{}.{}", metric.as_str(), stat.as_str()));
        }
    }
    names.extend(CounterName::ALL.iter().map(|c| c.as_str().to_owned()));
    names.extend(FailureClass::ALL.iter().map(|c| format!("errors.{c}")));
    names.extend(FailureKind::ALL.iter().map(|k| format!("errors.{k}")));
    names.push("faults.retry_amplification".to_owned());
    names.push("faults.recovery_burst".to_owned());
    names
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }

    /// Whether `observed OP limit` holds (false for NaN).
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            Op::Eq => observed == limit,
        }
    }
}

/// One threshold from the scenario's `[thresholds]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// The key as written (`"breaker.recover.max"`); the name in reports.
    pub key: String,
    /// What it measures.
    pub metric: MetricKey,
    /// The comparison.
    pub op: Op,
    /// The limit: milliseconds for latencies, a share for `success_rate`, else a count.
    pub value: f64,
    /// The condition as written (`"< 1s"`).
    pub condition: String,
    /// Line in the scenario file (0 when not from a file).
    pub line: usize,
}

impl Threshold {
    /// Parses `key = "condition"`; the error says what is wrong and how to write it.
    ///
    /// ```
    /// use streamsoak::scenario::thresholds::{Op, Threshold};
    ///
    /// let t = Threshold::parse("ttfe.p99", "< 1.5s").unwrap();
    /// assert_eq!((t.op, t.value), (Op::Lt, 1500.0)); // latencies in ms
    /// assert_eq!(Threshold::parse("success_rate", ">= 99%").unwrap().value, 0.99);
    /// assert!(Threshold::parse("ttfe.p98", "< 1s").unwrap_err().contains("did you mean"));
    /// ```
    pub fn parse(key: &str, condition: &str) -> Result<Threshold, String> {
        let metric = MetricKey::parse(key)?;
        let text = condition.trim();
        let (op, rest) = [("<=", Op::Le), (">=", Op::Ge), ("==", Op::Eq), ("<", Op::Lt), (">", Op::Gt)]
            .into_iter()
            .find_map(|(sym, op)| text.strip_prefix(sym).map(|rest| (op, rest.trim())))
            .ok_or_else(|| {
                format!("condition `{condition}` must start with <, <=, >, >= or ==, e.g. \"< 1s\" or \">= 0.99\"")
            })?;
        if rest.is_empty() {
            return Err(format!(
                "condition `{condition}` has no value after `{}`",
                op.as_str()
            ));
        }
        let value =
            parse_value(metric, rest).map_err(|why| format!("condition `{condition}`: {why}"))?;
        Ok(Threshold {
            key: key.to_owned(),
            metric,
            op,
            value,
            condition: condition.to_owned(),
            line: 0,
        })
    }
}

fn parse_value(metric: MetricKey, text: &str) -> Result<f64, String> {
    let number = |t: &str| -> Result<f64, String> {
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
            _ => Err(format!("`{t}` is not a non-negative number")),
        }
    };
    if metric.is_millis() {
        if text.parse::<f64>().is_ok() {
            return number(text);
        }
        let d = text
            .parse::<HumanDuration>()
            .map_err(|err| format!("{err} (a bare number means milliseconds)"))?;
        return Ok(d.get().as_secs_f64() * 1000.0);
    }
    match metric {
        MetricKey::SuccessRate | MetricKey::Goodput => {
            let share = match text.strip_suffix('%') {
                Some(pct) => number(pct.trim())? / 100.0,
                None => number(text)?,
            };
            if share > 1.0 {
                return Err(format!(
                    "{metric} is a share between 0 and 1: write 0.99 or 99%, not `{text}`"
                ));
            }
            Ok(share)
        }
        MetricKey::Counter(CounterName::Bytes) => match text.parse::<f64>() {
            Ok(_) => number(text),
            Err(_) => text
                .parse::<ByteSize>()
                .map(|b| b.get() as f64)
                .map_err(|err| err.to_string()),
        },
        _ => number(text),
    }
}

/// Where [`evaluate`] reads observed values from (the run summary).
pub trait MetricSource {
    /// The observed value: milliseconds for latencies, 0..=1 for
    /// `success_rate`, counts otherwise; `None` when there are no samples.
    fn metric(&self, key: &MetricKey) -> Option<f64>;
}

/// The verdict on one threshold (a row of `thresholds.csv`).
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdResult {
    /// The threshold's key as written.
    pub threshold: String,
    /// The condition as written.
    pub condition: String,
    /// The observed value, if there was one, in [`ThresholdResult::unit`].
    pub observed: Option<f64>,
    /// The unit of `observed`.
    pub unit: Unit,
    /// Whether the condition held (false when nothing was observed).
    pub passed: bool,
}

impl ThresholdResult {
    /// The observed value for a person: `1.016 ms`, `0.474`, `12 events`, `no data`.
    pub fn observed_text(&self) -> String {
        self.unit.show_observed(self.observed)
    }
}

/// Checks every threshold; see the module doc for how missing data is treated.
pub fn evaluate(thresholds: &[Threshold], src: &dyn MetricSource) -> Vec<ThresholdResult> {
    thresholds
        .iter()
        .map(|t| {
            let observed = src
                .metric(&t.metric)
                .or_else(|| t.metric.zero_when_missing().then_some(0.0));
            ThresholdResult {
                threshold: t.key.clone(),
                condition: t.condition.clone(),
                observed,
                unit: t.metric.unit(),
                passed: observed.is_some_and(|o| t.op.holds(o, t.value)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn units_of_keys_and_how_values_read() {
        for (key, value, unit, text) in [
            ("ttfe.p99", Some(1.0164), "ms", "1.016 ms"),
            ("breaker.recover.max", Some(45_000.0), "ms", "45000.000 ms"),
            ("ttfe.count", Some(12.0), "samples", "12 samples"),
            ("success_rate", Some(0.47449), "ratio", "0.474"),
            ("events", Some(12.0), "events", "12 events"),
            ("events_per_s", Some(2.5), "events/s", "2.500 events/s"),
            ("streams_failed", Some(0.0), "streams", "0 streams"),
            ("bytes", Some(1024.0), "bytes", "1024 bytes"),
            ("errors.network", Some(3.0), "errors", "3 errors"),
            ("errors.status-5xx", None, "errors", "no data"),
            ("faults.recovery_burst", Some(1.25), "ratio", "1.250"),
            (
                "retry_amplification",
                Some(1.5),
                "attempts/stream",
                "1.500 attempts/stream",
            ),
        ] {
            let unit_of = MetricKey::parse(key).expect(key).unit();
            assert_eq!(unit_of.as_str(), unit, "{key}");
            assert_eq!(unit_of.show_observed(value), text, "{key}");
        }
    }

    #[test]
    fn parses_keys_and_conditions() {
        use LatencyMetric::*;
        let lat = |metric, stat| MetricKey::Latency { metric, stat };
        for (key, cond, metric, op, value) in [
            (
                "success_rate",
                ">= 0.99",
                MetricKey::SuccessRate,
                Op::Ge,
                0.99,
            ),
            (
                "success_rate",
                ">= 99.5%",
                MetricKey::SuccessRate,
                Op::Ge,
                0.995,
            ),
            ("ttfe.p99", "< 1s", lat(Ttfe, Stat::P99), Op::Lt, 1000.0),
            (
                "ttfb.p99.9",
                "<= 250ms",
                lat(Ttfb, Stat::P999),
                Op::Le,
                250.0,
            ),
            ("gap.p99_9", "<250", lat(Gap, Stat::P999), Op::Lt, 250.0),
            (
                "stream.p95",
                "< 1.5s",
                lat(Stream, Stat::P95),
                Op::Lt,
                1500.0,
            ),
            (
                "breaker.recover.max",
                "< 45s",
                lat(Recover, Stat::Max),
                Op::Lt,
                45_000.0,
            ),
            (
                "breaker.open.p50",
                "< 2m",
                lat(Open, Stat::P50),
                Op::Lt,
                120_000.0,
            ),
            ("open.count", "> 5", lat(Open, Stat::Count), Op::Gt, 5.0),
            (
                "streams_failed",
                "== 0",
                MetricKey::Counter(CounterName::StreamsFailed),
                Op::Eq,
                0.0,
            ),
            (
                "bytes",
                "> 1KiB",
                MetricKey::Counter(CounterName::Bytes),
                Op::Gt,
                1024.0,
            ),
            (
                "events_per_s",
                "> 10.5",
                MetricKey::Counter(CounterName::EventsPerS),
                Op::Gt,
                10.5,
            ),
            (
                "errors.network",
                "< 10",
                MetricKey::ErrorsClass(FailureClass::Network),
                Op::Lt,
                10.0,
            ),
            (
                "errors.status-5xx",
                "<= 3",
                MetricKey::ErrorsKind(FailureKind::Status5xx),
                Op::Le,
                3.0,
            ),
            (
                "faults.recovery_burst",
                "< 3",
                MetricKey::Fault(FaultStat::RecoveryBurst),
                Op::Lt,
                3.0,
            ),
            (
                "retry_amplification",
                "< 2",
                MetricKey::Fault(FaultStat::RetryAmplification),
                Op::Lt,
                2.0,
            ),
        ] {
            let t = Threshold::parse(key, cond).unwrap_or_else(|err| panic!("{key}: {err}"));
            assert_eq!((t.metric, t.op), (metric, op), "{key}");
            assert!((t.value - value).abs() < 1e-9, "{key}: {}", t.value);
            assert_eq!((t.key.as_str(), t.condition.as_str()), (key, cond));
        }
    }

    #[test]
    fn rejects_bad_thresholds() {
        for (key, cond, want) in [
            ("ttfe.p98", "< 1s", "did you mean `ttfe.p90`?"),
            ("sucess_rate", ">= 0.9", "did you mean `success_rate`?"),
            ("errors.nope-nope-nope", "< 1", "unknown metric"),
            ("ttfe.p99", "1s", "must start with <"),
            ("ttfe.p99", "<", "no value"),
            ("ttfe.p99", "< 1 parsec", "unknown unit"),
            ("success_rate", ">= 99", "share between 0 and 1"),
            ("success_rate", ">= 1s", "not a non-negative number"),
            ("streams_ok", "> -1", "not a non-negative number"),
            ("ttfe.p99", "< -5", "not a non-negative number"),
        ] {
            let err = Threshold::parse(key, cond).expect_err(key);
            assert!(err.contains(want), "{key} {cond}: {err}");
        }
    }

    #[test]
    fn every_canonical_name_parses_back() {
        for name in all_metric_names() {
            let metric = MetricKey::parse(&name).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(metric.to_string(), name);
        }
    }

    struct Fake(HashMap<String, f64>);
    impl MetricSource for Fake {
        fn metric(&self, key: &MetricKey) -> Option<f64> {
            self.0.get(&key.to_string()).copied()
        }
    }

    #[test]
    fn evaluates_with_missing_data_policy() {
        let src = Fake(HashMap::from([
            ("success_rate".to_owned(), 0.995),
            ("ttfe.p99".to_owned(), 1200.0),
            ("stream.p95".to_owned(), f64::NAN),
        ]));
        for (key, cond, observed, passed) in [
            ("success_rate", ">= 0.99", Some(0.995), true),
            ("ttfe.p99", "< 1s", Some(1200.0), false),
            ("ttfe.p99", "< 2s", Some(1200.0), true),
            ("stream.p95", "< 1s", None, false), // NaN never passes
            ("recover.max", "< 45s", None, false), // no samples: fails
            ("recover.count", "== 0", Some(0.0), true), // counts read as 0
            ("errors.network", "== 0", Some(0.0), true),
            ("streams_ok", "> 0", Some(0.0), false),
        ] {
            let t = Threshold::parse(key, cond).expect("valid");
            let result = &evaluate(std::slice::from_ref(&t), &src)[0];
            assert_eq!(result.threshold, key);
            assert_eq!(result.condition, cond);
            assert_eq!(result.passed, passed, "{key} {cond}");
            match (result.observed, observed) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{key}"),
                (a, b) => assert!(a.is_none_or(f64::is_nan) && b.is_none(), "{key}: {a:?}"),
            }
        }
    }
}
