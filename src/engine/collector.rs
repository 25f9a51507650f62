//! Collector actor: merges the arbiters' interval deltas, closes intervals
//! (timeseries row, hlog entry, breaker rows, progress line, live metrics,
//! checkpoint), and at the end builds the [`RunSummary`].
//!
//! The checkpoint: after each interval's rows, `summary.csv` (with
//! `complete,false`), `errors.csv` and `faults.csv` are rewritten
//! (atomically) with the figures so far, so a run killed at any moment
//! leaves a folder `streamsoak report` turns into a full report of every
//! flushed interval. The end of the run overwrites them with the final ones.
//!
//! Once per interval it asks every arbiter for its delta (a closure spawned
//! on the arbiter, which replies with one [`Flushed`] message); an interval
//! closes when all arbiters have answered, in order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;

use crate::engine::local;
use crate::engine::messages::{ArrivalsDropped, Finish, Flushed};
use crate::engine::progress::Progress;
use crate::metrics::attribution::FaultClock;
use crate::metrics::fault_analysis::{self, FaultSamples, IntervalTotals, ObservedWindow};
use crate::metrics::hlog::HlogWriter;
use crate::metrics::interval::FaultSample;
use crate::metrics::latency;
use crate::metrics::{Counters, ErrorSamples, IntervalDelta, Latencies, LatencyMetric};
use crate::report::csv::{self, AppendWriter, SummaryFacts, TimeseriesRow};
use crate::report::live::SharedLive;
use crate::report::summary::{FaultReport, RunSummary};
use crate::report::ReportError;
use crate::scenario::FaultWindow;

/// An interval waiting for its arbiters: answers so far, the merged delta
/// with the arbiter whose histograms it holds, and `--events-out` lines.
type Pending = (usize, Option<(usize, IntervalDelta)>, Vec<u8>);

/// Files the collector appends to as the run goes.
pub struct LiveWriters {
    /// The report folder (for the checkpoint files).
    pub dir: PathBuf,
    /// `timeseries.csv`.
    pub timeseries: AppendWriter,
    /// `breaker.csv`.
    pub breaker: AppendWriter,
    /// `histograms.hlog`.
    pub hlog: HlogWriter,
    /// `--events-out`.
    pub events: Option<AppendWriter>,
}

impl LiveWriters {
    /// Creates the live files in `dir`.
    ///
    /// # Errors
    /// When a file cannot be created.
    pub fn create(
        dir: &Path,
        started_at: SystemTime,
        name: &str,
        events: Option<&PathBuf>,
    ) -> Result<LiveWriters, ReportError> {
        let hlog_path = dir.join("histograms.hlog");
        Ok(LiveWriters {
            dir: dir.to_path_buf(),
            timeseries: AppendWriter::create(&dir.join("timeseries.csv"), csv::TIMESERIES_HEADER)?,
            breaker: AppendWriter::create(&dir.join("breaker.csv"), csv::BREAKER_HEADER)?,
            hlog: HlogWriter::create(
                &hlog_path,
                started_at,
                &format!(
                    "streamsoak {} scenario {name}; values in microseconds",
                    env!("CARGO_PKG_VERSION")
                ),
            )
            .map_err(|source| ReportError::Io {
                path: hlog_path,
                source,
            })?,
            events: match events {
                Some(path) => Some(AppendWriter::create(path, &[])?),
                None => None,
            },
        })
    }
}

/// The collector actor.
pub struct Collector {
    arbiters: Vec<ArbiterHandle>,
    interval: Duration,
    run_start: Instant,
    started_at: SystemTime,
    name: String,
    target: String,
    shard: Option<(u32, u32)>,
    planned: Duration,
    next_tick: u64,
    closed: u64,
    /// Per open interval: answers so far, the merged delta with the arbiter
    /// whose histograms it holds, and the `--events-out` lines.
    pending: BTreeMap<u64, Pending>,
    tick_times: BTreeMap<u64, (Duration, Duration)>,
    last_tick_end: Duration,
    totals: Counters,
    latencies: Latencies,
    errors: ErrorSamples,
    fault_affected: Vec<FaultSample>,
    fault_opens: Vec<FaultSample>,
    fault_recovers: Vec<FaultSample>,
    fault_reconnects: Vec<FaultSample>,
    series: Vec<IntervalTotals>,
    writers: LiveWriters,
    write_error: Option<ReportError>,
    progress: Progress,
    finishing: Option<(u64, Finish)>,
    faults: Vec<FaultWindow>,
    clock: std::sync::Arc<FaultClock>,
    live: Option<SharedLive>,
    alignment: crate::report::alignment::Alignment,
    /// Most sessions alive at an interval's end (the checkpoint's peak).
    peak_active: u64,
    /// Open-model arrivals dropped so far (the checkpoint's count).
    dropped: u64,
}

/// What the collector is built from.
pub struct CollectorParts {
    /// One per core.
    pub arbiters: Vec<ArbiterHandle>,
    /// Report interval.
    pub interval: Duration,
    /// Run start.
    pub run_start: Instant,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// Scenario name.
    pub name: String,
    /// Target, redacted.
    pub target: String,
    /// Shard.
    pub shard: Option<(u32, u32)>,
    /// Planned duration (for progress).
    pub planned: Duration,
    /// Live files.
    pub writers: LiveWriters,
    /// Progress output.
    pub progress: Progress,
    /// Faults of the scenario.
    pub faults: Vec<FaultWindow>,
    /// Their real windows.
    pub clock: std::sync::Arc<FaultClock>,
    /// `--metrics-addr`: the figures the endpoint serves.
    pub live: Option<SharedLive>,
    /// Plan digest and `--start-at` of this run (in every `summary.csv`,
    /// checkpoints included, so `merge` can check killed shards too).
    pub alignment: crate::report::alignment::Alignment,
}

impl Collector {
    /// A collector from its parts.
    pub fn new(p: CollectorParts) -> Collector {
        Collector {
            arbiters: p.arbiters,
            interval: p.interval,
            run_start: p.run_start,
            started_at: p.started_at,
            name: p.name,
            target: p.target,
            shard: p.shard,
            planned: p.planned,
            next_tick: 0,
            closed: 0,
            pending: BTreeMap::new(),
            tick_times: BTreeMap::new(),
            last_tick_end: Duration::ZERO,
            totals: Counters::default(),
            latencies: Latencies::default(),
            errors: ErrorSamples::default(),
            fault_affected: Vec::new(),
            fault_opens: Vec::new(),
            fault_recovers: Vec::new(),
            fault_reconnects: Vec::new(),
            series: Vec::new(),
            writers: p.writers,
            write_error: None,
            progress: p.progress,
            finishing: None,
            faults: p.faults,
            clock: p.clock,
            live: p.live,
            alignment: p.alignment,
            peak_active: 0,
            dropped: 0,
        }
    }

    /// Rewrites the checkpoint files with the figures so far.
    fn checkpoint(&mut self) {
        let mut counters = self.totals.clone();
        counters.dropped_arrivals += self.dropped;
        let dir = self.writers.dir.clone();
        let facts = SummaryFacts {
            name: &self.name,
            target: &self.target,
            started_at: self.started_at,
            duration: Duration::from_millis(self.last_tick_end.as_millis() as u64),
            peak_sessions: self.peak_active,
            counters: &counters,
            shard: self.shard,
            complete: false,
            thresholds_passed: None,
            alignment: Some(&self.alignment),
        };
        let r = csv::write_summary(&dir.join("summary.csv"), &facts);
        self.note_write(r);
        let r = csv::write_errors(&dir.join("errors.csv"), &counters, &self.errors);
        self.note_write(r);
        let faults = self.fault_reports();
        let r = csv::write_faults(&dir.join("faults.csv"), &faults);
        self.note_write(r);
    }

    /// Asks every arbiter for its delta of interval `tick`.
    fn request_flush(&mut self, ctx: &mut Context<Self>) -> u64 {
        let tick = self.next_tick;
        self.next_tick += 1;
        let end = self.run_start.elapsed();
        self.tick_times.insert(tick, (self.last_tick_end, end));
        self.last_tick_end = end;
        for (index, arbiter) in self.arbiters.iter().enumerate() {
            let me = ctx.address();
            arbiter.spawn(async move {
                let (delta, events) = local::take();
                me.do_send(Flushed {
                    tick,
                    arbiter: index,
                    delta: Box::new(delta),
                    events,
                });
            });
        }
        tick
    }

    fn note_write(&mut self, result: Result<(), ReportError>) {
        if let Err(err) = result {
            if self.write_error.is_none() {
                log::error!("{err}");
                self.write_error = Some(err);
            }
        }
    }

    fn close_ready(&mut self, ctx: &mut Context<Self>) {
        while let Some(entry) = self.pending.get(&self.closed) {
            if entry.0 < self.arbiters.len() {
                break;
            }
            let Some((_, merged, events)) = self.pending.remove(&self.closed) else {
                break;
            };
            let tick = self.closed;
            self.closed += 1;
            if let Some((arbiter, delta)) = merged {
                let latencies = self.close_interval(tick, delta, events);
                self.recycle(arbiter, latencies);
            }
        }
        if let Some((last, _)) = &self.finishing {
            if self.closed > *last {
                if let Some((_, finish)) = self.finishing.take() {
                    self.finish(finish, ctx);
                }
            }
        }
    }

    /// Hands a histogram set back to the arbiter it came from, for reuse.
    fn recycle(&self, arbiter: usize, latencies: Latencies) {
        if let Some(handle) = self.arbiters.get(arbiter) {
            // A stopped arbiter (end of run) refuses: the set is just dropped.
            let _ = handle.spawn(async move { local::recycle(latencies) });
        }
    }

    /// Writes one closed interval; returns its histograms for reuse.
    fn close_interval(
        &mut self,
        tick: u64,
        mut delta: IntervalDelta,
        events: Vec<u8>,
    ) -> Latencies {
        let (start, end) = self.tick_times.remove(&tick).unwrap_or_default();
        delta.transitions.sort_by_key(|t| t.at);
        let quantile = |m: LatencyMetric, q: f64| {
            let h = delta.latencies.get(m);
            if h.is_empty() {
                0.0
            } else {
                // From the smallest sample up, not from bucket 0: a full
                // walk reads 100+ KiB per call on the streams' core (issue #12).
                latency::quantile_us(h, q) as f64 / 1000.0
            }
        };
        let row = TimeseriesRow {
            t_s: end.as_secs_f64(),
            active_sessions: delta.active_sessions,
            counters: delta.counters.clone(),
            breakers_open: delta.breakers_open,
            ttfe_p50_ms: quantile(LatencyMetric::Ttfe, 0.5),
            ttfe_p99_ms: quantile(LatencyMetric::Ttfe, 0.99),
            gap_p99_ms: quantile(LatencyMetric::Gap, 0.99),
            stream_p99_ms: quantile(LatencyMetric::Stream, 0.99),
            open_streams: delta.open_streams,
        };
        let r = self.writers.timeseries.timeseries(&row);
        self.note_write(r);
        let r = self.writers.breaker.transitions(&delta.transitions);
        self.note_write(r);
        let r = self
            .writers
            .hlog
            .write_interval(start, end.saturating_sub(start), &delta.latencies)
            .map_err(|source| ReportError::Io {
                path: "histograms.hlog".into(),
                source,
            });
        self.note_write(r);
        if let Some(w) = self.writers.events.as_mut() {
            if !events.is_empty() {
                let r = w.raw(&events);
                self.note_write(r);
            }
        }
        self.series
            .push(IntervalTotals::of(start, end, &delta.counters));
        self.totals.merge(&delta.counters);
        self.latencies.add(&delta.latencies);
        self.errors.merge(&delta.errors);
        self.fault_affected.append(&mut delta.fault_affected);
        self.fault_opens.append(&mut delta.fault_opens);
        self.fault_recovers.append(&mut delta.fault_recovers);
        self.peak_active = self.peak_active.max(delta.active_sessions);
        if let Some(live) = &self.live {
            let mut live = live.lock();
            live.add_interval(
                &delta.counters,
                &delta.latencies,
                delta.active_sessions,
                delta.breakers_open,
                delta.open_streams,
            );
            let clock = &self.clock;
            live.set_faults(self.faults.iter().enumerate().map(|(i, f)| {
                let on = matches!(clock.window(i), Some((_, None)));
                (f.kind.name(), on)
            }));
        }
        self.checkpoint();
        self.fault_reconnects.append(&mut delta.fault_reconnects);
        self.progress
            .interval(end, self.planned, &row, &self.totals, &self.latencies);
        delta.latencies
    }

    fn finish(&mut self, finish: Finish, ctx: &mut Context<Self>) {
        self.progress.done();
        self.totals.dropped_arrivals += finish.dropped_arrivals;
        if let Some(live) = &self.live {
            live.lock().set_dropped_total(finish.dropped_arrivals);
        }
        let faults = self.fault_reports();
        let summary = RunSummary {
            name: self.name.clone(),
            target: self.target.clone(),
            started_at: self.started_at,
            // Millisecond precision, as summary.csv keeps it, so `report` recomputes identical rates.
            duration: Duration::from_millis(self.run_start.elapsed().as_millis() as u64),
            peak_sessions: finish.peak_sessions,
            counters: self.totals.clone(),
            latencies: self.latencies.clone(),
            errors: self.errors.clone(),
            sessions: finish.sessions,
            faults,
            shard: self.shard,
            alignment: self.alignment.clone(),
            complete: true,
        };
        let _ = finish.reply.send((summary, self.write_error.take()));
        ctx.stop();
    }

    fn fault_reports(&self) -> Vec<FaultReport> {
        let windows: Vec<ObservedWindow<'_>> = self
            .faults
            .iter()
            .enumerate()
            .filter_map(|(i, fault)| {
                let (start, end) = self.clock.window(i)?;
                Some(ObservedWindow {
                    fault: i,
                    kind: fault.kind.name(),
                    start,
                    end,
                })
            })
            .collect();
        let samples = FaultSamples {
            affected: &self.fault_affected,
            opens: &self.fault_opens,
            recovers: &self.fault_recovers,
            reconnects: &self.fault_reconnects,
        };
        fault_analysis::analyse(&windows, &samples, &self.series, self.last_tick_end)
    }
}

impl Actor for Collector {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // A run killed before its first interval still leaves a reportable folder.
        self.checkpoint();
        ctx.run_interval(self.interval, |act, ctx| {
            if act.finishing.is_none() {
                act.request_flush(ctx);
            }
        });
    }
}

impl Handler<Flushed> for Collector {
    type Result = ();
    fn handle(&mut self, msg: Flushed, ctx: &mut Self::Context) {
        let entry = self
            .pending
            .entry(msg.tick)
            .or_insert_with(|| (0, None, Vec::new()));
        entry.0 += 1;
        entry.2.extend_from_slice(&msg.events);
        let spent = match &mut entry.1 {
            None => {
                entry.1 = Some((msg.arbiter, *msg.delta));
                None
            }
            Some((_, merged)) => {
                merged.merge(&msg.delta);
                Some(msg.delta.latencies)
            }
        };
        if let Some(latencies) = spent {
            self.recycle(msg.arbiter, latencies);
        }
        self.close_ready(ctx);
    }
}

impl Handler<ArrivalsDropped> for Collector {
    type Result = ();
    fn handle(&mut self, msg: ArrivalsDropped, _ctx: &mut Self::Context) {
        // Counted into the summary at the end; the live line, the live
        // metrics and the checkpoint show them as they come.
        self.progress.dropped(msg.0);
        self.dropped += msg.0;
        if let Some(live) = &self.live {
            live.lock().add_dropped(msg.0);
        }
    }
}

impl Handler<Finish> for Collector {
    type Result = ();
    fn handle(&mut self, msg: Finish, ctx: &mut Self::Context) {
        let last = self.request_flush(ctx);
        self.finishing = Some((last, msg));
        self.close_ready(ctx);
    }
}
