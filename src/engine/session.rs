//! Session actor: one simulated client running [`StreamService`] in a loop.
//!
//! A thin shell: it renders the body, runs one wanted stream, records the
//! outcome into its arbiter's thread-local delta (`engine::local`),
//! then either thinks and loops (closed model) or tells the supervisor it is
//! idle (open model). Per-event work — counting, the gap histogram,
//! `--events-out` lines — happens in [`Recorder`] on this thread, with no
//! message and no lock.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use rand::SeedableRng;

use crate::client::breaker::{Breaker, BreakerConfig};
use crate::client::retry::RetryPolicy;
use crate::client::{
    http, Cancel, CancelHandle, FailureKind, PreparedRequest, StreamOutcome, StreamService,
};
use crate::engine::local;
use crate::engine::messages::{SessionStopped, StartStream, StopSession};
use crate::engine::pool::OpenPool;
use crate::engine::supervisor::Supervisor;
use crate::metrics::attribution::FaultClock;
use crate::metrics::recorder::{self, EventRules, Recorder, RunContext, SessionTally};
use crate::metrics::IntervalDelta;
use crate::scenario::BodySource;

/// What every session of a run shares (immutable, `Send + Sync`).
pub struct SessionConfig {
    /// Method, URL, headers.
    pub request: PreparedRequest,
    /// `[stream]`: how each stream is read and judged (one copy for every
    /// session's service).
    pub stream: Arc<crate::scenario::StreamSpec>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Breaker settings.
    pub breaker: BreakerConfig,
    /// How sessions reach the target (`[http]`, TLS, the fault proxy).
    pub transport: http::Transport,
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
    /// The run's planned peak of sessions: what one arbiter may hold, since
    /// placement can put them all on one (sizes a shared client's pool).
    pub peak_sessions: usize,
    /// Whether to buffer `--events-out` lines.
    pub events_out: bool,
    /// True for the open (arrival-rate) model.
    pub open_model: bool,
    /// Fault windows, for the `open` and `recover` metrics.
    pub faults: Arc<FaultClock>,
    /// `[slo]`: what a good LLM stream is (goodput).
    pub slo: crate::metrics::Slo,
    /// Per-event metric rules (sequence, timestamp, wall clock at start).
    pub events: EventRules,
}

/// A session's service and totals; moved into the stream future and back.
struct Runner {
    service: StreamService,
    tally: SessionTally,
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
    /// Subscribe mode: this session's own stop for its subscription (a
    /// subscription has no end of its own, so a session asked to stop — a
    /// ramp-down, the end of the run — closes it now rather than at `hold`);
    /// the run's cancel reaches it too. `None` in request mode.
    own_stop: Option<(CancelHandle, Cancel)>,
    /// Subscribe mode: when the running subscription's hold ends.
    hold_ends: Option<Instant>,
    local: Rc<RefCell<IntervalDelta>>,
    body: Vec<u8>,
    /// Arrivals delivered while a stream was running (should not happen; kept, not lost).
    pending: Vec<Instant>,
    /// The running stream's task (aborted if the actor stops first).
    stream_task: Option<tokio::task::AbortHandle>,
    /// Open model: where this session finds its next arrival.
    pool: Arc<OpenPool<Addr<Session>>>,
}

impl Session {
    /// A session; call from inside its arbiter (awc clients are `!Send`).
    pub(crate) fn new(
        id: u64,
        cfg: Arc<SessionConfig>,
        supervisor: Addr<Supervisor>,
        cancel: Cancel,
        pool: Arc<OpenPool<Addr<Session>>>,
    ) -> Session {
        let client = cfg.transport.session_client(cfg.peak_sessions, id);
        let rng =
            rand::rngs::SmallRng::seed_from_u64(cfg.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let service = StreamService::new(
            client,
            cfg.request.clone(),
            Arc::clone(&cfg.stream),
            cfg.retry,
            Breaker::new(cfg.breaker),
            rng,
        );
        Session {
            id,
            supervisor,
            runner: Some(Runner {
                service,
                tally: SessionTally::new(id),
            }),
            stopping: false,
            iteration: 0,
            cancel,
            own_stop: cfg.stream.mode.hold().map(|_| CancelHandle::new()),
            hold_ends: None,
            local: local::delta(),
            body: Vec::new(),
            pending: Vec::new(),
            stream_task: None,
            pool,
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
        self.hold_ends = self
            .cfg
            .stream
            .mode
            .hold()
            .map(|hold| Instant::now() + hold);
        let body = Bytes::copy_from_slice(&self.body);
        runner.tally.stream_started(&mut self.local.borrow_mut());
        let local = Rc::clone(&self.local);
        let events = self.cfg.events_out.then(local::events_buffer);
        let cfg = Arc::clone(&self.cfg);
        let mut cancel = match &self.own_stop {
            Some((_, own)) => own.clone(),
            None => self.cancel.clone(),
        };
        let fut = async move {
            let lateness = Instant::now().saturating_duration_since(scheduled);
            let run = RunContext {
                run_start: cfg.run_start,
                faults: &cfg.faults,
                slo: cfg.slo,
                events: cfg.events,
            };
            let mut recorder = Recorder::new(run, &local, &mut runner.tally, lateness)
                .with_events(events.as_deref());
            let outcome = match cfg.stream.mode.hold() {
                None => {
                    runner
                        .service
                        .stream_with_retry(body, &mut recorder, &mut cancel)
                        .await
                }
                Some(hold) => {
                    runner
                        .service
                        .subscribe(body, hold, &mut recorder, &mut cancel)
                        .await
                }
            };
            recorder.stream_finished(&outcome);
            (runner, outcome)
        };
        // The stream runs as its own task on this arbiter, not inside the
        // actor's context: every wake-up of its socket (one per event when
        // paced) then polls the stream alone, not the actor's mailbox and
        // every future it holds. The actor hears of it once, at the end.
        let task = actix_rt::spawn(fut);
        self.stream_task = Some(task.abort_handle());
        ctx.spawn(task.into_actor(self).map(|joined, act, ctx| {
            act.stream_task = None;
            match joined {
                Ok((runner, outcome)) => act.finished(runner, &outcome, ctx),
                // Aborted (the actor stopped) or panicked: nothing to resume.
                Err(err) => {
                    log::error!("session {}: stream task ended: {err}", act.id);
                    ctx.stop();
                }
            }
        }));
    }

    fn finished(&mut self, mut runner: Runner, outcome: &StreamOutcome, ctx: &mut Context<Self>) {
        runner.tally.set_final_state(runner.service.breaker_state());
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
            if let Some(scheduled) = self.pool.next_or_idle(self.id, || ctx.address()) {
                self.begin_stream(ctx, scheduled);
            }
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

impl Session {
    /// Subscribe mode: closes the running subscription now (it ends cancelled).
    fn stop_subscription(&mut self) {
        if let Some((handle, _)) = &self.own_stop {
            handle.cancel();
        }
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        recorder::session_started(&mut self.local.borrow_mut());
        if self.own_stop.is_some() {
            let mut run = self.cancel.clone();
            ctx.spawn(
                async move { run.cancelled().await }
                    .into_actor(self)
                    .map(|(), act, _| act.stop_subscription()),
            );
        }
        if !self.cfg.open_model {
            self.begin_stream(ctx, Instant::now());
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(task) = self.stream_task.take() {
            task.abort();
        }
        let tally = self.runner.take().map(|runner| runner.tally);
        let stats = recorder::session_stopped(&mut self.local.borrow_mut(), self.id, tally);
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
    fn handle(&mut self, msg: StopSession, ctx: &mut Self::Context) {
        self.stopping = true;
        if self.runner.is_some() {
            ctx.stop();
        } else if !matches!((self.hold_ends, msg.grace_until), (Some(end), Some(until)) if end <= until)
        {
            self.stop_subscription();
        }
    }
}
