//! Live metrics of a running soak, for `run --metrics-addr`: the run's
//! cumulative figures in the Prometheus / OpenMetrics exposition format,
//! encoded by the `prometheus-client` crate.
//!
//! Why it costs nothing per event: sessions never touch it. The collector
//! folds each closed interval's merged delta in ([`LiveMetrics::add_interval`]),
//! once per interval, and a scrape encodes what was folded so far. A latency
//! histogram becomes fixed Prometheus buckets ([`BUCKETS_S`], seconds) by
//! walking the interval's HdrHistogram once — its recorded buckets, not its
//! samples.
//!
//! What is exposed (every family labelled `scenario` and `shard`; `shard` is
//! I of `--shard I/N`, `0` for an unsharded run, as `{{shard}}` reads):
//! - every counter of `summary.csv` as `streamsoak_<name>_total`
//!   (`streams_started`, `streams_ok`, `streams_failed`, `attempts`,
//!   `retries`, `short_circuited`, `breaker_opens`, `events`, `bytes`,
//!   `dropped_arrivals`), and `streamsoak_errors_total{class,kind}`;
//! - gauges `streamsoak_active_sessions`, `streamsoak_breakers_open`,
//!   `streamsoak_open_streams` (streams held open by subscribe-mode
//!   sessions; 0 in request mode), `streamsoak_intervals` (intervals folded
//!   in: a scraper can tell a new figure from a repeated one), and
//!   `streamsoak_fault_active{fault,kind}` (1 while a `[[faults]]` window
//!   is on: dashboards shade fault windows with it);
//! - every latency metric as a histogram in seconds,
//!   `streamsoak_<metric>_seconds` (`ttfb`, `ttfe`, `gap`, `stream`, `open`,
//!   `recover`) with `_bucket{le}`, `_sum` and `_count`.
//!
//! The figures equal the report's at the end: counters are the same sums of
//! the same interval deltas, and each histogram's `_count` is the metric's
//! `count` in `latency.csv`.

use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::client::classify::FailureKind;
use crate::metrics::latency::recorded;
use crate::metrics::{Counters, Latencies, LatencyMetric};

/// Upper bounds of the histogram buckets, in seconds (`+Inf` follows).
///
/// From 100 µs (a loopback first event) to an hour (a soak's stream or a
/// recovery), about three per decade, so `histogram_quantile` stays within
/// a bucket's width of the report's exact percentiles.
pub const BUCKETS_S: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// One latency metric as Prometheus buckets.
#[derive(Clone, Debug, Default, PartialEq)]
struct Buckets {
    /// Samples per bucket (not cumulative): `BUCKETS_S.len() + 1` entries, the last `+Inf`.
    counts: Vec<u64>,
    /// Sum of the samples, seconds.
    sum_s: f64,
    /// Samples.
    count: u64,
}

impl Buckets {
    fn new() -> Buckets {
        Buckets {
            counts: vec![0; BUCKETS_S.len() + 1],
            sum_s: 0.0,
            count: 0,
        }
    }

    /// Adds every sample of a µs histogram. A sample counts in the first
    /// bucket whose bound is at least the highest value equivalent to it
    /// (the value HdrHistogram's percentiles report); the sum takes each
    /// sample as its bucket's middle, as `Histogram::mean` does. Reads only
    /// the buckets from the smallest sample to the largest ([`recorded`]):
    /// this runs per metric per interval on the collector's thread.
    fn add(&mut self, h: &hdrhistogram::Histogram<u64>) {
        let mut sum_us = 0.0;
        for (value, count) in recorded(h) {
            let top = h.highest_equivalent(value);
            self.counts[slot_of(top)] += count;
            sum_us += h.median_equivalent(top) as f64 * count as f64;
        }
        self.count += h.len();
        self.sum_s += sum_us / 1e6;
    }
}

/// The bucket (index into `Buckets::counts`) a sample of `us` µs counts in.
fn slot_of(us: u64) -> usize {
    let seconds = us as f64 / 1e6;
    BUCKETS_S
        .iter()
        .position(|bound| seconds <= *bound)
        .unwrap_or(BUCKETS_S.len())
}

/// The run's figures so far, as the exporter serves them.
#[derive(Clone, Debug)]
pub struct LiveMetrics {
    counters: Counters,
    active_sessions: u64,
    breakers_open: u64,
    open_streams: u64,
    latencies: Vec<Buckets>,
    intervals: u64,
    /// Per fault of the scenario: (kind, whether its window is on).
    faults: Vec<(&'static str, bool)>,
}

impl Default for LiveMetrics {
    fn default() -> Self {
        LiveMetrics {
            counters: Counters::default(),
            active_sessions: 0,
            breakers_open: 0,
            open_streams: 0,
            latencies: LatencyMetric::ALL.iter().map(|_| Buckets::new()).collect(),
            intervals: 0,
            faults: Vec::new(),
        }
    }
}

impl LiveMetrics {
    /// Folds in one closed interval: its counters and latency samples, and
    /// the gauges at its end.
    pub fn add_interval(
        &mut self,
        counters: &Counters,
        latencies: &Latencies,
        active_sessions: u64,
        breakers_open: u64,
        open_streams: u64,
    ) {
        self.counters.merge(counters);
        for (buckets, metric) in self.latencies.iter_mut().zip(LatencyMetric::ALL) {
            buckets.add(latencies.get(metric));
        }
        self.active_sessions = active_sessions;
        self.breakers_open = breakers_open;
        self.open_streams = open_streams;
        self.intervals += 1;
    }

    /// The scenario's faults in file order: their kind, and whether each
    /// window is on now.
    pub fn set_faults(&mut self, faults: impl IntoIterator<Item = (&'static str, bool)>) {
        self.faults.clear();
        self.faults.extend(faults);
    }

    /// Open-model arrivals dropped since the last call.
    pub fn add_dropped(&mut self, dropped: u64) {
        self.counters.dropped_arrivals += dropped;
    }

    /// The run's final count of dropped arrivals (never lowers the counter).
    pub fn set_dropped_total(&mut self, total: u64) {
        self.counters.dropped_arrivals = self.counters.dropped_arrivals.max(total);
    }

    /// Intervals folded in so far.
    pub fn intervals(&self) -> u64 {
        self.intervals
    }

    /// The cumulative counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// [`LiveMetrics`] shared by the collector (writer, once per interval) and
/// the exporter (reader, once per scrape), registered in a
/// `prometheus-client` [`Registry`] as a collector.
#[derive(Clone, Debug, Default)]
pub struct SharedLive(Arc<Mutex<LiveMetrics>>);

impl SharedLive {
    /// Locks the figures (a poisoned lock still holds consistent numbers:
    /// every update is a handful of additions).
    pub fn lock(&self) -> MutexGuard<'_, LiveMetrics> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The exposition format a scrape asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text (`application/openmetrics-text`), ends in `# EOF`.
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (`text/plain`), for anything else.
    PrometheusText,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` (Prometheus' scrapes do), else text.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::PrometheusText,
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::PrometheusText => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

/// A registry holding the run's figures under the `streamsoak` prefix,
/// labelled `scenario` and `shard`.
#[derive(Debug)]
pub struct Exposition {
    registry: Registry,
    live: SharedLive,
}

impl Exposition {
    /// The exposition of `live` for scenario `name` and `shard` (`--shard I/N`).
    pub fn new(live: SharedLive, name: &str, shard: Option<(u32, u32)>) -> Exposition {
        let shard = shard.map_or(0, |(i, _)| i).to_string();
        let mut registry = Registry::with_prefix_and_labels(
            "streamsoak",
            [
                ("scenario".into(), name.to_owned().into()),
                ("shard".into(), shard.into()),
            ]
            .into_iter(),
        );
        registry.register_collector(Box::new(live.clone()));
        Exposition { registry, live }
    }

    /// Encodes the figures; returns the text and the intervals it holds.
    pub fn encode(&self, format: Format) -> (String, u64) {
        let intervals = self.live.lock().intervals();
        let mut out = String::with_capacity(8 * 1024);
        let encoded = match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
            Format::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
        };
        // Writing into a String cannot fail.
        debug_assert!(encoded.is_ok());
        (out, intervals)
    }
}

const COUNTERS: [(&str, &str); 15] = [
    ("streams_started", "Wanted streams started."),
    ("streams_ok", "Wanted streams that completed."),
    (
        "streams_failed",
        "Wanted streams that failed after retries, or short-circuited.",
    ),
    (
        "attempts",
        "Attempts made (short-circuited calls are not attempts).",
    ),
    ("retries", "Retries (attempts after a stream's first)."),
    (
        "short_circuited",
        "Calls refused by an open circuit breaker.",
    ),
    ("breaker_opens", "Times a session's circuit breaker opened."),
    ("events", "Server-sent events dispatched."),
    ("bytes", "Response body bytes received."),
    (
        "dropped_arrivals",
        "Open-model arrivals dropped at max_sessions.",
    ),
    (
        "output_tokens",
        "LLM output tokens (the server's usage, else content chunks).",
    ),
    (
        "disconnects",
        "Subscriptions that ended or were cut before hold.",
    ),
    (
        "reconnects",
        "Subscriptions that delivered an event again after a disconnection.",
    ),
    ("lost_events", "Event IDs skipped (sequence = \"id\")."),
    (
        "duplicate_events",
        "Event IDs received again (sequence = \"id\").",
    ),
];

fn counter_value(c: &Counters, name: &str) -> u64 {
    match name {
        "streams_started" => c.streams_started,
        "streams_ok" => c.streams_ok,
        "streams_failed" => c.streams_failed,
        "attempts" => c.attempts,
        "retries" => c.retries,
        "short_circuited" => c.short_circuited,
        "breaker_opens" => c.breaker_opens,
        "events" => c.events,
        "bytes" => c.bytes,
        "output_tokens" => c.output_tokens,
        "disconnects" => c.disconnects,
        "reconnects" => c.reconnects,
        "lost_events" => c.lost_events,
        "duplicate_events" => c.duplicate_events,
        _ => c.dropped_arrivals,
    }
}

impl Collector for SharedLive {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = self.lock();
        for (name, help) in COUNTERS {
            let counter = ConstCounter::new(counter_value(&m.counters, name));
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        {
            let mut family = encoder.encode_descriptor(
                "errors",
                "Failed attempts by error class and kind (errors.csv).",
                None,
                MetricType::Counter,
            )?;
            for kind in FailureKind::ALL {
                let labels = [("class", kind.class().as_str()), ("kind", kind.as_str())];
                let counter = ConstCounter::new(m.counters.errors_of(kind));
                counter.encode(family.encode_family(&labels)?)?;
            }
        }
        for (name, help, value) in [
            (
                "active_sessions",
                "Sessions alive at the end of the last interval.",
                m.active_sessions,
            ),
            (
                "breakers_open",
                "Sessions whose breaker is open or half-open.",
                m.breakers_open,
            ),
            (
                "open_streams",
                "Streams held open (subscribe mode; 0 in request mode).",
                m.open_streams,
            ),
            (
                "intervals",
                "Report intervals folded into these figures.",
                m.intervals,
            ),
        ] {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        {
            let mut family = encoder.encode_descriptor(
                "fault_active",
                "1 while the scenario's fault window is on (fault = its number in [[faults]], from 1).",
                None,
                MetricType::Gauge,
            )?;
            for (i, (kind, on)) in m.faults.iter().enumerate() {
                let fault = (i + 1).to_string();
                let labels = [("fault", fault.as_str()), ("kind", kind)];
                ConstGauge::new(u64::from(*on)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut bounds: Vec<(f64, u64)> = BUCKETS_S.iter().map(|b| (*b, 0)).collect();
        bounds.push((f64::INFINITY, 0));
        for (metric, buckets) in LatencyMetric::ALL.into_iter().zip(&m.latencies) {
            for (slot, count) in bounds.iter_mut().zip(&buckets.counts) {
                slot.1 = *count;
            }
            let help = format!("Latency `{}` of the run, seconds.", metric.as_str());
            let mut histogram = encoder.encode_descriptor(
                metric.as_str(),
                &help,
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            histogram.encode_histogram::<NoLabelSet>(
                buckets.sum_s,
                buckets.count,
                &bounds,
                None,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The sample lines of an exposition (no comments).
    fn samples(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    fn value_of(text: &str, prefix: &str) -> f64 {
        let line = samples(text)
            .into_iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no sample `{prefix}` in\n{text}"));
        line.rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no value in `{line}`"))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// The bounded fold counts what hdrhistogram's own iteration from
        /// bucket 0 counts, and sums what `mean() × len()` sums.
        #[test]
        fn buckets_fold_as_hdrhistogram_iterates(
            h in crate::metrics::latency::tests::histogram_of(40, 5),
        ) {
            let mut ours = Buckets::new();
            ours.add(&h);
            let mut theirs = Buckets::new();
            for v in h.iter_recorded() {
                theirs.counts[slot_of(v.value_iterated_to())] += v.count_at_value();
            }
            proptest::prop_assert_eq!(&ours.counts, &theirs.counts);
            proptest::prop_assert_eq!(ours.count, h.len());
            let sum = h.mean() * h.len() as f64 / 1e6;
            proptest::prop_assert!(
                (ours.sum_s - sum).abs() <= sum.abs() * 1e-12,
                "sum {} vs {}", ours.sum_s, sum
            );
        }
    }

    fn interval(ms: &[u64]) -> (Counters, Latencies) {
        let mut c = Counters {
            streams_started: 3,
            streams_ok: 2,
            streams_failed: 1,
            attempts: 4,
            retries: 1,
            events: 10,
            bytes: 1000,
            ..Counters::default()
        };
        c.errors[FailureKind::Cut.index()] = 1;
        let mut l = Latencies::default();
        for v in ms {
            l.record(LatencyMetric::Ttfe, Duration::from_millis(*v));
        }
        (c, l)
    }

    #[test]
    fn buckets_are_cumulative_in_seconds_at_fixed_bounds() {
        let live = SharedLive::default();
        let (c, l) = interval(&[1, 4, 40, 400, 7_200_000]);
        live.lock().add_interval(&c, &l, 5, 1, 0);
        let exposition = Exposition::new(live, "smoke", None);
        let (text, intervals) = exposition.encode(Format::OpenMetrics);
        assert_eq!(intervals, 1);
        let l = r#"scenario="smoke",shard="0""#;
        for (le, cumulative) in [
            ("0.0005", 0.0),
            ("0.001", 1.0),
            ("0.005", 2.0),
            ("0.05", 3.0),
            ("0.5", 4.0),
            ("3600.0", 4.0),
            ("+Inf", 5.0),
        ] {
            assert_eq!(
                value_of(
                    &text,
                    &format!("streamsoak_ttfe_seconds_bucket{{{l},le=\"{le}\"}}")
                ),
                cumulative,
                "le={le}\n{text}"
            );
        }
        assert_eq!(
            value_of(&text, &format!("streamsoak_ttfe_seconds_count{{{l}}}")),
            5.0
        );
        let sum = value_of(&text, &format!("streamsoak_ttfe_seconds_sum{{{l}}}"));
        assert!((sum - 7200.445).abs() < 7.3, "sum {sum}");
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends in # EOF");
        assert!(text.contains("# TYPE streamsoak_ttfe_seconds histogram"));
        assert!(text.contains("# UNIT streamsoak_ttfe_seconds seconds"));
    }

    #[test]
    fn counters_and_gauges_sum_intervals_with_labels() {
        let live = SharedLive::default();
        let (c, l) = interval(&[2]);
        live.lock().add_interval(&c, &l, 20, 3, 7);
        live.lock().add_interval(&c, &l, 18, 0, 4);
        live.lock().add_dropped(2);
        live.lock().set_dropped_total(5);
        live.lock().set_dropped_total(4);
        live.lock()
            .set_faults([("shutdown", false), ("latency", true)]);
        let exposition = Exposition::new(live, "soak", Some((2, 4)));
        for format in [Format::OpenMetrics, Format::PrometheusText] {
            let (text, _) = exposition.encode(format);
            let l = r#"{scenario="soak",shard="2"}"#;
            for (name, expected) in [
                ("streamsoak_streams_started_total", 6.0),
                ("streamsoak_streams_ok_total", 4.0),
                ("streamsoak_streams_failed_total", 2.0),
                ("streamsoak_attempts_total", 8.0),
                ("streamsoak_retries_total", 2.0),
                ("streamsoak_events_total", 20.0),
                ("streamsoak_bytes_total", 2000.0),
                ("streamsoak_short_circuited_total", 0.0),
                ("streamsoak_breaker_opens_total", 0.0),
                ("streamsoak_dropped_arrivals_total", 5.0),
                ("streamsoak_active_sessions", 18.0),
                ("streamsoak_breakers_open", 0.0),
                ("streamsoak_open_streams", 4.0),
                ("streamsoak_intervals", 2.0),
                ("streamsoak_ttfe_seconds_count", 2.0),
                ("streamsoak_gap_seconds_count", 0.0),
            ] {
                assert_eq!(
                    value_of(&text, &format!("{name}{l}")),
                    expected,
                    "{name} {format:?}"
                );
            }
            let cut =
                r#"streamsoak_errors_total{scenario="soak",shard="2",class="stream",kind="cut"}"#;
            assert_eq!(value_of(&text, cut), 2.0, "{format:?}");
            for (fault, kind, on) in [("1", "shutdown", 0.0), ("2", "latency", 1.0)] {
                let name = format!(
                    r#"streamsoak_fault_active{{scenario="soak",shard="2",fault="{fault}",kind="{kind}"}}"#
                );
                assert_eq!(value_of(&text, &name), on, "{name}");
            }
        }
    }

    #[test]
    fn accept_header_picks_the_format() {
        for (accept, format) in [
            (
                Some("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                Format::OpenMetrics,
            ),
            (Some("text/plain"), Format::PrometheusText),
            (Some("*/*"), Format::PrometheusText),
            (None, Format::PrometheusText),
        ] {
            assert_eq!(Format::from_accept(accept), format, "{accept:?}");
        }
        assert!(Format::OpenMetrics
            .content_type()
            .starts_with("application/openmetrics-text"));
        assert!(Format::PrometheusText
            .content_type()
            .starts_with("text/plain; version=0.0.4"));
    }
}
