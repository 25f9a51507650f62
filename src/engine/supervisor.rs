//! Supervisor actor: follows the executor, starts and stops sessions across
//! the arbiters, fires faults, and ends the run in phases.
//!
//! Phases: *running* (the plan drives session counts or arrivals) →
//! *draining* (no new streams; sessions finish their current stream within
//! the grace period, then are cancelled) → *finished* (the collector writes
//! the report). A signal moves running → draining with a short grace; a
//! second signal cancels everything at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::client::CancelHandle;
use crate::engine::collector::Collector;
use crate::engine::fault_actions::FaultActions;
use crate::engine::messages::{
    ArrivalsDropped, Finish, Interrupt, SessionIdle, SessionStopped, StartStream, StopSession,
};
use crate::engine::session::{Session, SessionConfig};
use crate::load::executor::{ArrivalSchedule, Plan};
use crate::metrics::attribution::FaultClock;
use crate::metrics::SessionStats;
use crate::report::{ReportError, RunSummary};
use crate::scenario::FaultSpec;

/// How often the closed model re-reads its target session count.
const RAMP_TICK: Duration = Duration::from_millis(100);
/// How often the open model dispatches due arrivals.
const ARRIVAL_TICK: Duration = Duration::from_millis(1);
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
    cfg: Arc<SessionConfig>,
    collector: Addr<Collector>,
    cancel: CancelHandle,
    /// Live sessions not asked to stop, oldest first (closed model).
    live: Vec<Addr<Session>>,
    /// Open model: sessions waiting for an arrival.
    idle: Vec<Addr<Session>>,
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
    faults: Vec<FaultSpec>,
    clock: Arc<FaultClock>,
    actions: Rc<RefCell<FaultActions>>,
    end_grace: Duration,
}

/// Everything the supervisor needs to run.
pub struct SupervisorParts {
    /// The executor plan (already sharded).
    pub plan: Plan,
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
    /// The scenario's faults.
    pub faults: Vec<FaultSpec>,
    /// How faults act on the target.
    pub actions: Rc<RefCell<FaultActions>>,
}

impl Supervisor {
    /// A supervisor from its parts.
    pub fn new(parts: SupervisorParts) -> Supervisor {
        let open = parts.plan.kind().is_arrival_rate();
        let end_grace = parts.cfg.stream.max_duration.min(END_GRACE);
        Supervisor {
            schedule: open.then(|| ArrivalSchedule::new(&parts.plan)),
            plan: parts.plan,
            arbiters: parts.arbiters,
            clock: Arc::clone(&parts.cfg.faults),
            cfg: parts.cfg,
            collector: parts.collector,
            cancel: parts.cancel,
            live: Vec::new(),
            idle: Vec::new(),
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
        let arbiter = &self.arbiters[(self.spawned as usize) % self.arbiters.len()];
        self.spawned += 1;
        self.peak = self.peak.max(self.alive());
        let cfg = Arc::clone(&self.cfg);
        let me = ctx.address();
        let cancel = self.cancel.token();
        Session::start_in_arbiter(arbiter, move |_| Session::new(id, cfg, me, cancel))
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
                addr.do_send(StopSession);
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
        while let Some(schedule) = self.schedule.as_mut() {
            let Some(at) = schedule.next_due(elapsed) else {
                ended = schedule.peek().is_none();
                break;
            };
            let scheduled = self.cfg.run_start + at;
            if let Some(addr) = self.idle.pop() {
                addr.do_send(StartStream { scheduled });
            } else if self.alive() < self.max_sessions as u64 {
                let addr = self.spawn_session(ctx);
                addr.do_send(StartStream { scheduled });
                self.all.insert(self.next_id - 1, addr);
            } else {
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.dropped += dropped;
            self.collector.do_send(ArrivalsDropped(dropped));
        }
        if ended || elapsed >= self.plan.total_duration() {
            self.drain(ctx, self.end_grace);
        }
    }

    /// Stops starting streams; sessions finish theirs within `grace`, then are cancelled.
    fn drain(&mut self, ctx: &mut Context<Self>, grace: Duration) {
        if self.phase != Phase::Running {
            return;
        }
        self.phase = Phase::Draining;
        log::debug!("draining: {} sessions, grace {grace:?}", self.alive());
        for addr in self.live.drain(..) {
            addr.do_send(StopSession);
        }
        for (_, addr) in self.all.drain() {
            addr.do_send(StopSession);
        }
        self.idle.clear();
        ctx.run_later(grace, |act, _| act.cancel.cancel());
        self.maybe_finish(ctx);
    }

    fn maybe_finish(&mut self, _ctx: &mut Context<Self>) {
        if self.phase != Phase::Draining || self.alive() > 0 {
            return;
        }
        self.phase = Phase::Finished;
        self.actions.borrow_mut().end_all();
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

    fn schedule_faults(&mut self, ctx: &mut Context<Self>) {
        let elapsed = self.elapsed();
        for (i, fault) in self.faults.iter().enumerate() {
            let start_in = fault.at.saturating_sub(elapsed);
            let end_in = (fault.at + fault.duration).saturating_sub(elapsed);
            ctx.run_later(start_in, move |act, _| {
                if act.phase == Phase::Finished {
                    return;
                }
                act.clock.mark_started(i, Instant::now());
                act.actions.borrow_mut().start(i);
            });
            ctx.run_later(end_in, move |act, _| {
                act.actions.borrow_mut().end(i);
                act.clock.mark_ended(i, Instant::now());
            });
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.schedule_faults(ctx);
        if self.schedule.is_some() {
            self.dispatch_arrivals(ctx);
            ctx.run_interval(ARRIVAL_TICK, |act, ctx| act.dispatch_arrivals(ctx));
        } else {
            self.ramp(ctx);
            ctx.run_interval(RAMP_TICK, |act, ctx| act.ramp(ctx));
        }
    }
}

impl Handler<SessionIdle> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: SessionIdle, _ctx: &mut Self::Context) {
        if self.phase != Phase::Running {
            return;
        }
        if let Some(addr) = self.all.get(&msg.session) {
            self.idle.push(addr.clone());
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
