//! Supervisor actor: follows the executor, starts and stops sessions across
//! the arbiters, fires faults, and ends the run in phases.
//!
//! Phases: *running* (the plan drives session counts or arrivals) →
//! *draining* (no new streams; sessions finish their current stream within
//! the grace period, then are cancelled) → *finished* (the collector writes
//! the report). A signal moves running → draining with a short grace; a
//! second signal cancels everything at once.
//!
//! Timers are deadlines, not polls: the open model sleeps until the next
//! arrival is due ([`ArrivalSchedule::peek`]), faults fire when the
//! [`FaultSchedule`] says the next window opens or closes; only the closed
//! model re-reads its (continuous) session target every 100 ms.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::client::CancelHandle;
use crate::engine::busy::BusyCells;
use crate::engine::collector::Collector;
use crate::engine::fault_actions::FaultActions;
use crate::engine::messages::{
    ArrivalsDropped, Finish, Interrupt, SessionStopped, StartStream, StopSession,
};
use crate::engine::pool::{spawn_budget, OpenPool, MAX_SPAWN_BURST};
use crate::engine::session::{Session, SessionConfig};
use crate::faults::{FaultChange, FaultSchedule};
use crate::load::executor::{ArrivalSchedule, Plan};
use crate::load::placement::Placement;
use crate::metrics::attribution::FaultClock;
use crate::metrics::SessionStats;
use crate::report::{ReportError, RunSummary};

/// How often the closed model re-reads its target session count.
const RAMP_TICK: Duration = Duration::from_millis(100);
/// Arrivals due within this much of each other are dispatched in one wake-up
/// (the timer's resolution is a millisecond anyway).
const ARRIVAL_SLACK: Duration = Duration::from_micros(500);
/// In-flight streams get this long after Ctrl+C / SIGTERM.
const INTERRUPT_GRACE: Duration = Duration::from_secs(3);
/// In-flight streams get at most this long after the plan ends.
const END_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Draining,
    Finished,
}

/// The supervisor actor.
pub struct Supervisor {
    plan: Plan,
    arbiters: Vec<ArbiterHandle>,
    /// Which arbiter each new session goes to: the first until it is busy.
    placement: Placement,
    busy: Arc<BusyCells>,
    cfg: Arc<SessionConfig>,
    collector: Addr<Collector>,
    cancel: CancelHandle,
    /// Live sessions not asked to stop, oldest first (closed model).
    live: Vec<Addr<Session>>,
    /// Open model: idle sessions and arrivals waiting for one.
    pool: Arc<OpenPool<Addr<Session>>>,
    /// Open model: every live session.
    all: HashMap<u64, Addr<Session>>,
    schedule: Option<ArrivalSchedule>,
    max_sessions: usize,
    next_id: u64,
    spawned: u64,
    stopped: Vec<SessionStats>,
    peak: u64,
    dropped: u64,
    phase: Phase,
    reply: Option<oneshot::Sender<(RunSummary, Option<ReportError>)>>,
    faults: FaultSchedule,
    clock: Arc<FaultClock>,
    actions: FaultActions,
    end_grace: Duration,
}

/// Everything the supervisor needs to run.
pub struct SupervisorParts {
    /// The executor plan (already sharded: this shard's session targets).
    pub plan: Plan,
    /// Open model: this shard's arrivals (every N-th of the whole plan's,
    /// so shards do not fire in lockstep); `None` for the closed model.
    pub arrivals: Option<ArrivalSchedule>,
    /// One per core.
    pub arbiters: Vec<ArbiterHandle>,
    /// Shared session settings.
    pub cfg: Arc<SessionConfig>,
    /// The collector.
    pub collector: Addr<Collector>,
    /// Cancels every session's stream.
    pub cancel: CancelHandle,
    /// Open model: concurrency cap.
    pub max_sessions: usize,
    /// First session id (shards offset theirs so ids stay distinct).
    pub first_id: u64,
    /// Where the summary goes when the run is over.
    pub reply: oneshot::Sender<(RunSummary, Option<ReportError>)>,
    /// The scenario's faults, none open yet.
    pub faults: FaultSchedule,
    /// How faults act on the target.
    pub actions: FaultActions,
    /// Each arbiter's busy share (for placing sessions).
    pub(crate) busy: Arc<BusyCells>,
}

impl Supervisor {
    /// A supervisor from its parts.
    pub fn new(parts: SupervisorParts) -> Supervisor {
        let end_grace = parts.cfg.stream.max_duration.min(END_GRACE);
        Supervisor {
            schedule: parts.arrivals,
            plan: parts.plan,
            placement: Placement::new(parts.arbiters.len()),
            arbiters: parts.arbiters,
            busy: parts.busy,
            clock: Arc::clone(&parts.cfg.faults),
            cfg: parts.cfg,
            collector: parts.collector,
            cancel: parts.cancel,
            live: Vec::new(),
            pool: Arc::new(OpenPool::new()),
            all: HashMap::new(),
            max_sessions: parts.max_sessions.max(1),
            next_id: parts.first_id,
            spawned: 0,
            stopped: Vec::new(),
            peak: 0,
            dropped: 0,
            phase: Phase::Running,
            reply: Some(parts.reply),
            faults: parts.faults,
            actions: parts.actions,
            end_grace,
        }
    }

    fn elapsed(&self) -> Duration {
        self.cfg.run_start.elapsed()
    }

    fn alive(&self) -> u64 {
        self.spawned - self.stopped.len() as u64
    }

    fn spawn_session(&mut self, ctx: &mut Context<Self>) -> Addr<Session> {
        let id = self.next_id;
        self.next_id += 1;
        let busy = &self.busy;
        let chosen = self.placement.place(|i| busy.sample(i));
        let arbiter = &self.arbiters[chosen % self.arbiters.len()];
        self.spawned += 1;
        self.peak = self.peak.max(self.alive());
        let cfg = Arc::clone(&self.cfg);
        let me = ctx.address();
        let cancel = self.cancel.token();
        let pool = Arc::clone(&self.pool);
        Session::start_in_arbiter(arbiter, move |_| Session::new(id, cfg, me, cancel, pool))
    }

    fn ramp(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        let elapsed = self.elapsed();
        if elapsed >= self.plan.total_duration() {
            self.drain(ctx, self.end_grace);
            return;
        }
        let target = self.plan.sessions_at(elapsed) as usize;
        while self.live.len() < target {
            let addr = self.spawn_session(ctx);
            self.live.push(addr);
        }
        while self.live.len() > target {
            if let Some(addr) = self.live.pop() {
                addr.do_send(StopSession { grace_until: None });
            }
        }
    }

    fn dispatch_arrivals(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        let elapsed = self.elapsed();
        let mut dropped = 0;
        let mut ended = false;
        let max = self.max_sessions as u64;
        let alive = self.alive();
        let pool = Arc::clone(&self.pool);
        let mut pool = pool.lock();
        while let Some(schedule) = self.schedule.as_mut() {
            let Some(at) = schedule.next_due(elapsed + ARRIVAL_SLACK) else {
                ended = schedule.peek().is_none();
                break;
            };
            let scheduled = self.cfg.run_start + at;
            let all = &self.all;
            if let Some(addr) = pool.pop_idle(|id| all.contains_key(&id)) {
                addr.do_send(StartStream { scheduled });
            } else if alive + (pool.waiting() as u64) < max {
                pool.wait(scheduled);
            } else {
                dropped += 1;
            }
        }
        // New sessions for what waits, a burst at a time; a session that
        // finishes meanwhile takes the oldest waiting arrival itself.
        let room = max.saturating_sub(alive) as usize;
        let mut starts = [None; MAX_SPAWN_BURST];
        for slot in starts.iter_mut().take(room.min(spawn_budget(alive))) {
            *slot = pool.take_waiting();
        }
        let still_waiting = pool.waiting() > 0;
        drop(pool);
        for scheduled in starts.into_iter().flatten() {
            let addr = self.spawn_session(ctx);
            addr.do_send(StartStream { scheduled });
            self.all.insert(self.next_id - 1, addr);
        }
        if dropped > 0 {
            self.dropped += dropped;
            self.collector.do_send(ArrivalsDropped(dropped));
        }
        if ended || elapsed >= self.plan.total_duration() {
            self.drain(ctx, self.end_grace);
            return;
        }
        // Sleep until the next arrival is due (or the plan ends), not a
        // tick; at most ARRIVAL_SLACK while arrivals wait for a session.
        let next = self
            .schedule
            .as_mut()
            .and_then(ArrivalSchedule::peek)
            .unwrap_or(self.plan.total_duration())
            .min(self.plan.total_duration());
        let mut wait = next.saturating_sub(self.elapsed() + ARRIVAL_SLACK);
        if still_waiting {
            wait = wait.min(ARRIVAL_SLACK);
        }
        ctx.run_later(wait, |act, ctx| act.dispatch_arrivals(ctx));
    }

    /// Stops starting streams; sessions finish theirs within `grace`, then are cancelled.
    fn drain(&mut self, ctx: &mut Context<Self>, grace: Duration) {
        if self.phase != Phase::Running {
            return;
        }
        self.phase = Phase::Draining;
        log::debug!("draining: {} sessions, grace {grace:?}", self.alive());
        let grace_until = Some(Instant::now() + grace);
        for addr in self.live.drain(..) {
            addr.do_send(StopSession { grace_until });
        }
        for (_, addr) in self.all.drain() {
            addr.do_send(StopSession { grace_until });
        }
        let never_started = self.pool.close() as u64;
        if never_started > 0 {
            self.dropped += never_started;
            self.collector.do_send(ArrivalsDropped(never_started));
        }
        ctx.run_later(grace, |act, _| act.cancel.cancel());
        self.maybe_finish(ctx);
    }

    fn maybe_finish(&mut self, _ctx: &mut Context<Self>) {
        if self.phase != Phase::Draining || self.alive() > 0 {
            return;
        }
        self.phase = Phase::Finished;
        let closing = self.faults.end_all();
        self.apply_faults(&closing);
        let Some(reply) = self.reply.take() else {
            return;
        };
        let mut sessions = std::mem::take(&mut self.stopped);
        sessions.sort_by_key(|s| s.session);
        self.collector.do_send(Finish {
            sessions,
            dropped_arrivals: self.dropped,
            peak_sessions: self.peak,
            reply,
        });
    }

    /// Applies what the fault schedule says is due now, then sleeps until
    /// its next change.
    fn fault_tick(&mut self, ctx: &mut Context<Self>) {
        if self.phase == Phase::Finished {
            return;
        }
        let t = self.elapsed();
        let changes = self.faults.advance(t);
        self.apply_faults(&changes);
        if let Some(next) = self.faults.next_change_after(t) {
            ctx.run_later(next.saturating_sub(self.elapsed()), |act, ctx| {
                act.fault_tick(ctx)
            });
        }
    }

    /// Starts and ends fault windows on the target, and marks them on the
    /// clock the sessions attribute `open` and `recover` samples with.
    fn apply_faults(&mut self, changes: &[FaultChange]) {
        for change in changes {
            let (FaultChange::Started(i) | FaultChange::Ended(i)) = *change;
            let Some(window) = self.faults.plan().windows().iter().find(|w| w.index == i) else {
                continue;
            };
            match change {
                FaultChange::Started(_) => {
                    self.clock.mark_started(i, Instant::now());
                    self.actions.start(window);
                }
                FaultChange::Ended(_) => {
                    self.actions.end(window);
                    self.clock.mark_ended(i, Instant::now());
                }
            }
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.fault_tick(ctx);
        if self.schedule.is_some() {
            self.dispatch_arrivals(ctx);
        } else {
            self.ramp(ctx);
            ctx.run_interval(RAMP_TICK, |act, ctx| act.ramp(ctx));
        }
    }
}

impl Handler<SessionStopped> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: SessionStopped, ctx: &mut Self::Context) {
        let id = msg.stats.session;
        self.stopped.push(msg.stats);
        self.all.remove(&id);
        self.maybe_finish(ctx);
    }
}

impl Handler<Interrupt> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Interrupt, ctx: &mut Self::Context) {
        if msg.abort {
            self.cancel.cancel();
        }
        self.drain(ctx, INTERRUPT_GRACE);
    }
}
