//! Session actor: one simulated client running [`StreamService`] in a loop.
//!
//! A thin shell: it renders the body, runs one wanted stream, records the
//! outcome into its arbiter's thread-local delta (`engine::local`),
//! then either thinks and loops (closed model) or tells the supervisor it is
//! idle (open model). Per-event work — counting, the gap histogram,
//! `--events-out` lines — happens in `Recorder` on this thread, with no
//! message and no lock.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use rand::SeedableRng;

use crate::client::attempt::{AttemptOutcome, EventSink, Failure, SeenEvent};
use crate::client::breaker::{Breaker, BreakerConfig, BreakerState, Transition};
use crate::client::retry::RetryPolicy;
use crate::client::{
    http, Cancel, FailureKind, Observer, PreparedRequest, StreamOutcome, StreamService,
};
use crate::engine::faults::FaultClock;
use crate::engine::local;
use crate::engine::messages::{SessionIdle, SessionStopped, StartStream, StopSession};
use crate::engine::supervisor::Supervisor;
use crate::metrics::interval::FaultSample;
use crate::metrics::{IntervalDelta, LatencyMetric, SessionStats, TransitionRecord};
use crate::scenario::BodySource;

/// What every session of a run shares (immutable, `Send + Sync`).
pub struct SessionConfig {
    /// Method, URL, headers.
    pub request: PreparedRequest,
    /// `[stream]`: how each stream is read and judged.
    pub stream: crate::scenario::StreamSpec,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Breaker settings.
    pub breaker: BreakerConfig,
    /// HTTP client settings.
    pub http: crate::scenario::HttpSpec,
    /// Request bodies.
    pub body: BodySource,
    /// Pause between a session's streams (closed model).
    pub think_time: Duration,
    /// Run seed; a session's RNG is seeded from it and the session id.
    pub seed: u64,
    /// `{{shard}}` in bodies: I of `--shard I/N`, 0 unsharded.
    pub shard: u64,
    /// When the run started.
    pub run_start: Instant,
    /// Most sessions one arbiter will hold (sizes the connection pool).
    pub connections_per_arbiter: usize,
    /// Whether to buffer `--events-out` lines.
    pub events_out: bool,
    /// True for the open (arrival-rate) model.
    pub open_model: bool,
    /// Fault windows, for the `open` and `recover` metrics.
    pub faults: Arc<FaultClock>,
}

/// A session's service and totals; moved into the stream future and back.
struct Runner {
    service: StreamService,
    stats: SessionStats,
    breaker_open: bool,
    faults: FaultMemory,
}

/// Which faults this session was affected by, opened for and recovered from.
#[derive(Default)]
struct FaultMemory {
    affected: Vec<bool>,
    opened: Vec<bool>,
    recovered: Vec<bool>,
}

/// The session actor.
pub struct Session {
    id: u64,
    cfg: Arc<SessionConfig>,
    supervisor: Addr<Supervisor>,
    runner: Option<Runner>,
    stopping: bool,
    iteration: u64,
    cancel: Cancel,
    local: Rc<RefCell<IntervalDelta>>,
    body: Vec<u8>,
    /// Arrivals delivered while a stream was running (should not happen; kept, not lost).
    pending: Vec<Instant>,
}

impl Session {
    /// A session; call from inside its arbiter (the awc client is per thread).
    pub fn new(
        id: u64,
        cfg: Arc<SessionConfig>,
        supervisor: Addr<Supervisor>,
        cancel: Cancel,
    ) -> Session {
        let client = http::client_for_this_thread(&cfg.http, cfg.connections_per_arbiter);
        let rng =
            rand::rngs::SmallRng::seed_from_u64(cfg.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let service = StreamService::new(
            client,
            cfg.request.clone(),
            cfg.stream.clone(),
            cfg.retry,
            Breaker::new(cfg.breaker),
            rng,
        );
        Session {
            id,
            supervisor,
            runner: Some(Runner {
                service,
                stats: SessionStats {
                    session: id,
                    final_state: BreakerState::Closed.name(),
                    ..SessionStats::default()
                },
                breaker_open: false,
                faults: FaultMemory::default(),
            }),
            stopping: false,
            iteration: 0,
            cancel,
            local: local::delta(),
            body: Vec::new(),
            pending: Vec::new(),
            cfg,
        }
    }

    fn begin_stream(&mut self, ctx: &mut Context<Self>, scheduled: Instant) {
        let Some(mut runner) = self.runner.take() else {
            self.pending.push(scheduled);
            return;
        };
        self.body.clear();
        self.cfg
            .body
            .render_sharded(self.id, self.iteration, self.cfg.shard, &mut self.body);
        self.iteration += 1;
        let body = Bytes::copy_from_slice(&self.body);
        runner.stats.streams += 1;
        self.local.borrow_mut().counters.streams_started += 1;
        let local = Rc::clone(&self.local);
        let events = self.cfg.events_out.then(local::events_buffer);
        let cfg = Arc::clone(&self.cfg);
        let mut cancel = self.cancel.clone();
        let session = self.id;
        let fut = async move {
            let lateness = Instant::now().saturating_duration_since(scheduled);
            let mut recorder = Recorder {
                local: &local,
                events: events.as_deref(),
                stats: &mut runner.stats,
                breaker_open: &mut runner.breaker_open,
                faults: &mut runner.faults,
                cfg: &cfg,
                session,
                lateness,
                first_attempt: true,
            };
            let outcome = runner
                .service
                .stream_with_retry(body, &mut recorder, &mut cancel)
                .await;
            recorder.stream_finished(&outcome);
            (runner, outcome)
        };
        ctx.spawn(fut.into_actor(self).map(|(runner, outcome), act, ctx| {
            act.finished(runner, &outcome, ctx);
        }));
    }

    fn finished(&mut self, mut runner: Runner, outcome: &StreamOutcome, ctx: &mut Context<Self>) {
        runner.stats.final_state = runner.service.breaker_state().name();
        let reopen = runner.service.breaker_reopens_at();
        self.runner = Some(runner);
        let cancelled = matches!(&outcome.result, Err(f) if f.kind == FailureKind::Cancelled);
        if self.stopping || cancelled || self.cancel.is_cancelled() {
            ctx.stop();
            return;
        }
        if let Some(scheduled) = self.pending.pop() {
            self.begin_stream(ctx, scheduled);
            return;
        }
        if self.cfg.open_model {
            self.supervisor.do_send(SessionIdle { session: self.id });
            return;
        }
        // Closed model: think, then loop. A short-circuited call with no
        // think time waits until the breaker lets a probe through instead of spinning.
        let mut pause = self.cfg.think_time;
        if outcome.short_circuited && pause.is_zero() {
            pause = reopen
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_millis(100))
                .max(Duration::from_millis(1));
        }
        if pause.is_zero() {
            self.begin_stream(ctx, Instant::now());
        } else {
            ctx.run_later(pause, |act, ctx| act.begin_stream(ctx, Instant::now()));
        }
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.local.borrow_mut().active_sessions += 1;
        if !self.cfg.open_model {
            self.begin_stream(ctx, Instant::now());
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let mut local = self.local.borrow_mut();
        local.active_sessions = local.active_sessions.saturating_sub(1);
        let stats = match self.runner.take() {
            Some(runner) => {
                if runner.breaker_open {
                    local.breakers_open = local.breakers_open.saturating_sub(1);
                }
                runner.stats
            }
            None => SessionStats {
                session: self.id,
                final_state: "lost",
                ..SessionStats::default()
            },
        };
        self.supervisor.do_send(SessionStopped { stats });
    }
}

impl Handler<StartStream> for Session {
    type Result = ();
    fn handle(&mut self, msg: StartStream, ctx: &mut Self::Context) {
        self.begin_stream(ctx, msg.scheduled);
    }
}

impl Handler<StopSession> for Session {
    type Result = ();
    fn handle(&mut self, _: StopSession, ctx: &mut Self::Context) {
        self.stopping = true;
        if self.runner.is_some() {
            ctx.stop();
        }
    }
}

/// Records one stream's events and attempts into the arbiter's delta.
struct Recorder<'a> {
    local: &'a RefCell<IntervalDelta>,
    events: Option<&'a RefCell<Vec<u8>>>,
    stats: &'a mut SessionStats,
    breaker_open: &'a mut bool,
    faults: &'a mut FaultMemory,
    cfg: &'a SessionConfig,
    session: u64,
    /// Scheduled start → actual start (open model), added to the first attempt's latencies.
    lateness: Duration,
    first_attempt: bool,
}

impl Recorder<'_> {
    fn note_error(&self, local: &mut IntervalDelta, kind: FailureKind, detail: &str, count: u64) {
        local.counters.errors[kind.index()] += count;
        let at = Instant::now().saturating_duration_since(self.cfg.run_start);
        local.errors.note(kind, at, detail);
    }

    fn stream_finished(&mut self, outcome: &StreamOutcome) {
        let mut local = self.local.borrow_mut();
        let now = Instant::now();
        match &outcome.result {
            Ok(()) => {
                self.stats.ok += 1;
                local.counters.streams_ok += 1;
                local
                    .latencies
                    .record(LatencyMetric::Stream, outcome.duration + self.lateness);
                if let Some((fault, latency)) =
                    self.cfg
                        .faults
                        .recovery(now, &self.faults.affected, &mut self.faults.recovered)
                {
                    local.fault_recovers.push(FaultSample {
                        fault,
                        session: self.session,
                        latency,
                    });
                    local.latencies.record(LatencyMetric::Recover, latency);
                }
            }
            Err(failure) if failure.kind == FailureKind::Cancelled => {
                self.note_error(&mut local, FailureKind::Cancelled, &failure.detail, 1);
            }
            Err(failure) => {
                self.stats.failed += 1;
                local.counters.streams_failed += 1;
                if outcome.short_circuited {
                    local.counters.short_circuited += 1;
                    self.note_error(&mut local, FailureKind::ShortCircuited, &failure.detail, 1);
                }
                self.cfg
                    .faults
                    .mark_affected(now, &mut self.faults.affected);
            }
        }
    }
}

impl EventSink for Recorder<'_> {
    fn event(&mut self, seen: &SeenEvent<'_>) {
        self.stats.events += 1;
        {
            let mut local = self.local.borrow_mut();
            local.counters.events += 1;
            if let Some(gap) = seen.gap {
                local.latencies.record(LatencyMetric::Gap, gap);
            }
        }
        if let Some(buffer) = self.events {
            let t = seen.at.saturating_duration_since(self.cfg.run_start);
            let line = EventLine {
                t_ms: t.as_micros() as f64 / 1000.0,
                session: self.session,
                event: seen.event.kind,
                id: seen.event.id,
                data: seen.event.data,
            };
            let mut buffer = buffer.borrow_mut();
            if serde_json::to_writer(&mut *buffer, &line).is_ok() {
                let _ = buffer.write_all(b"\n");
            }
        }
    }
}

#[derive(serde::Serialize)]
struct EventLine<'a> {
    t_ms: f64,
    session: u64,
    event: &'a str,
    id: &'a str,
    data: &'a str,
}

impl Observer for Recorder<'_> {
    fn attempt_finished(&mut self, attempt: &AttemptOutcome) {
        let mut local = self.local.borrow_mut();
        let offset = if self.first_attempt {
            self.lateness
        } else {
            Duration::ZERO
        };
        self.first_attempt = false;
        local.counters.attempts += 1;
        local.counters.bytes += attempt.bytes;
        if let Some(ttfb) = attempt.ttfb {
            local.latencies.record(LatencyMetric::Ttfb, ttfb + offset);
        }
        if let Some(ttfe) = attempt.ttfe {
            local.latencies.record(LatencyMetric::Ttfe, ttfe + offset);
        }
        if attempt.malformed_events > 0 {
            self.note_error(
                &mut local,
                FailureKind::MalformedEvent,
                "event data is not the JSON expected",
                attempt.malformed_events,
            );
        }
        if let Err(failure) = &attempt.result {
            if failure.kind != FailureKind::Cancelled {
                self.note_error(&mut local, failure.kind, &failure.detail, 1);
                drop(local);
                self.cfg
                    .faults
                    .mark_affected(Instant::now(), &mut self.faults.affected);
            }
        }
    }

    fn breaker_changed(&mut self, t: &Transition) {
        let mut local = self.local.borrow_mut();
        local.transitions.push(TransitionRecord {
            at: t.at.saturating_duration_since(self.cfg.run_start),
            session: self.session,
            from: t.from,
            to: t.to,
            reason: t.reason,
        });
        let open_now = t.to != BreakerState::Closed;
        if open_now != *self.breaker_open {
            if open_now {
                local.breakers_open += 1;
            } else {
                local.breakers_open = local.breakers_open.saturating_sub(1);
            }
            *self.breaker_open = open_now;
        }
        if t.to == BreakerState::Open {
            local.counters.breaker_opens += 1;
            self.stats.breaker_opens += 1;
            if let Some((fault, latency)) = self.cfg.faults.opening(t.at, &mut self.faults.opened) {
                local.fault_opens.push(FaultSample {
                    fault,
                    session: self.session,
                    latency,
                });
                local.latencies.record(LatencyMetric::Open, latency);
            }
        }
    }

    fn retrying(&mut self, _retry: u32, _delay: Duration, _after: &Failure) {
        self.stats.retries += 1;
        self.local.borrow_mut().counters.retries += 1;
    }
}
