//! The load engine: one actix System, one arbiter per core, a supervisor,
//! sessions and a collector.
//!
//! ```text
//!   Supervisor (main arbiter) ── StartStream / StopSession ──▶ Session × N (arbiters 1..cores)
//!        ▲  SessionIdle / SessionStopped (per stream / per lifetime)      │ records into
//!        │                                                                 ▼ thread-local delta
//!   Collector (main arbiter) ◀── Flushed (per arbiter per interval) ── local::take()
//! ```
//!
//! [`run`] builds it, waits for the supervisor to finish, then writes the
//! final report files. Pure stage math is in [`crate::load`]; actors only
//! translate messages and timers into calls to it.

pub mod collector;
pub mod fault_actions;
mod local;
pub mod messages;
pub mod progress;
pub mod session;
pub mod supervisor;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::client::{CancelHandle, PreparedRequest};
use crate::engine::collector::{Collector, CollectorParts, LiveWriters};
use crate::engine::fault_actions::FaultActions;
use crate::engine::messages::Interrupt;
use crate::engine::progress::{Progress, ProgressMode};
use crate::engine::session::SessionConfig;
use crate::engine::supervisor::{Supervisor, SupervisorParts};
use crate::error::Error;
use crate::faults::FaultProxy;
use crate::load::executor::Plan;
use crate::metrics::attribution::FaultClock;
use crate::report::RunSummary;
use crate::scenario::FaultKind;
use crate::scenario::{Scenario, Target};
use crate::server::{EmbeddedServer, ServerConfig};

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Report folder (must exist and be writable).
    pub out_dir: PathBuf,
    /// `--events-out`.
    pub events_out: Option<PathBuf>,
    /// Live progress.
    pub progress: ProgressMode,
    /// `--shard I/N` (1-based I).
    pub shard: Option<(u32, u32)>,
    /// Arbiters (threads) for sessions; 0 = one per core.
    pub arbiters: usize,
}

/// Runs `scenario` to the end (or to Ctrl+C) and returns what was measured.
///
/// # Errors
/// [`Error::Runtime`] when the embedded server cannot start; [`Error::Report`]
/// when a live report file cannot be written.
pub fn run(scenario: &Scenario, opts: &RunOptions) -> Result<RunSummary, Error> {
    let system = actix_rt::System::new();
    let result = system.block_on(run_in_system(scenario, opts));
    System::current().stop();
    result
}

async fn run_in_system(scenario: &Scenario, opts: &RunOptions) -> Result<RunSummary, Error> {
    let cores = if opts.arbiters == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.arbiters
    };
    let server = match &scenario.target {
        Target::Embedded => {
            let config = ServerConfig {
                events: scenario.server.events,
                interval: scenario.server.interval,
                first_event_delay: scenario.server.first_event_delay,
                payload_bytes: scenario.server.payload_bytes,
                fail_rate: scenario.server.fail_rate,
                seed: scenario.seed,
                workers: cores.clamp(1, 4),
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], 0));
            let server = EmbeddedServer::start(config, addr).await.map_err(|err| {
                Error::Runtime(format!("the embedded server could not start: {err}"))
            })?;
            Some(server)
        }
        Target::Url(_) => None,
    };
    let base = match (&scenario.target, &server) {
        (_, Some(s)) => s.base_url(),
        (Target::Url(url), None) => url.clone(),
        (Target::Embedded, None) => unreachable!("embedded target always has a server"),
    };
    let proxy = start_proxy(scenario, &base)?;
    let base = match &proxy {
        Some(p) => format!("http://{}", p.local_addr()),
        None => base,
    };
    let url = format!("{base}{}", scenario.request.path);
    let request = PreparedRequest::from_spec(&scenario.request, &url)?;
    let (retry, breaker) = crate::client::policies(&scenario.retry, &scenario.breaker)?;
    let plan = scenario_plan(scenario, opts.shard)?;
    let max_sessions = match opts.shard {
        Some((i, n)) => crate::load::executor::split_sessions(
            scenario.load.max_sessions.unwrap_or(u32::MAX / 2),
            i - 1,
            n,
        ),
        None => scenario.load.max_sessions.unwrap_or(u32::MAX / 2),
    } as usize;
    let peak = if plan.kind().is_arrival_rate() {
        max_sessions.min(100_000)
    } else {
        plan.peak().ceil() as usize
    };

    let run_start = Instant::now();
    let started_at = SystemTime::now();
    let clock = Arc::new(FaultClock::new(run_start, scenario.faults.len()));
    let cfg = Arc::new(SessionConfig {
        request,
        stream: scenario.stream.clone(),
        retry,
        breaker,
        http: scenario.http.clone(),
        body: scenario.request.body.clone(),
        think_time: scenario.load.think_time,
        seed: scenario.seed
            ^ u64::from(opts.shard.map_or(0, |s| s.0)).wrapping_mul(0xA076_1D64_78BD_642F),
        run_start,
        connections_per_arbiter: peak.div_ceil(cores).max(1),
        events_out: opts.events_out.is_some(),
        open_model: plan.kind().is_arrival_rate(),
        faults: Arc::clone(&clock),
    });

    let arbiters: Vec<Arbiter> = (0..cores).map(|_| Arbiter::new()).collect();
    let handles: Vec<ArbiterHandle> = arbiters.iter().map(Arbiter::handle).collect();
    let writers = LiveWriters::create(
        &opts.out_dir,
        started_at,
        &scenario.name,
        opts.events_out.as_ref(),
    )?;
    let collector = Collector::new(CollectorParts {
        arbiters: handles.clone(),
        interval: scenario.load.interval,
        run_start,
        started_at,
        name: scenario.name.clone(),
        target: scenario.target.display_redacted(),
        shard: opts.shard,
        planned: plan.total_duration(),
        writers,
        progress: Progress::new(opts.progress),
        faults: scenario.faults.clone(),
        clock: Arc::clone(&clock),
    })
    .start();

    let server = Rc::new(RefCell::new(server));
    let actions = Rc::new(RefCell::new(FaultActions::new(
        scenario.faults.clone(),
        Rc::clone(&server),
        proxy.as_ref().map(FaultProxy::control),
        Some(opts.out_dir.join("faults.log")),
        run_start,
        opts.shard.is_none_or(|(i, _)| i == 1),
    )));
    let (cancel, _) = CancelHandle::new();
    let (reply, done) = oneshot::channel();
    let first_id = opts
        .shard
        .map_or(1, |(i, _)| u64::from(i) * 1_000_000_000 + 1);
    let supervisor = Supervisor::new(SupervisorParts {
        plan,
        arbiters: handles,
        cfg,
        collector,
        cancel,
        max_sessions,
        first_id,
        reply,
        faults: scenario.faults.clone(),
        actions,
    })
    .start();
    let signals = actix_rt::spawn(forward_signals(supervisor));

    let outcome = done.await;
    signals.abort();
    for arbiter in &arbiters {
        arbiter.stop();
    }
    if let Some(proxy) = proxy {
        proxy.shutdown().await;
    }
    let taken = server.borrow_mut().take();
    if let Some(server) = taken {
        server.stop().await;
    }
    let (summary, write_error) =
        outcome.map_err(|_| Error::Runtime("the collector stopped before reporting".into()))?;
    if let Some(err) = write_error {
        return Err(err.into());
    }
    Ok(summary)
}

/// Starts the fault proxy in front of the target when a fault needs it
/// (`refuse`, `reset`, `stall`, `latency`, `status`, `shutdown` of an
/// external target) or the scenario asks for it (`proxy = true`).
fn start_proxy(scenario: &Scenario, base: &str) -> Result<Option<FaultProxy>, Error> {
    let external = matches!(scenario.target, Target::Url(_));
    let needed = scenario.proxy
        || scenario
            .faults
            .iter()
            .any(|f| f.kind.needs_proxy() || (external && f.kind == FaultKind::Shutdown));
    if !needed {
        return Ok(None);
    }
    let uri: awc::http::Uri = base
        .parse()
        .map_err(|_| Error::Usage(format!("target `{base}` is not a URL")))?;
    if uri.scheme_str() == Some("https") {
        return Err(Error::Usage(
            "faults through the fault proxy (refuse, reset, stall, latency, status) need an http:// target in this version; use kind = \"exec\" against https targets".into(),
        ));
    }
    let host = uri.host().unwrap_or("127.0.0.1").trim_matches(['[', ']']);
    let port = uri.port_u16().unwrap_or(80);
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|err| Error::Usage(format!("target host `{host}` cannot be resolved: {err}")))?
        .next()
        .ok_or_else(|| Error::Usage(format!("target host `{host}` has no address")))?;
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let proxy = FaultProxy::start(listen, upstream)
        .map_err(|err| Error::Runtime(format!("the fault proxy could not start: {err}")))?;
    log::info!("fault proxy on {} → {upstream}", proxy.local_addr());
    Ok(Some(proxy))
}

/// The executor plan of a scenario ([`crate::scenario::LoadSpec::plan`]),
/// sliced for a shard (`shard` is `--shard I/N`, I from 1).
///
/// # Errors
/// [`Error::Usage`] when the stages do not make a plan.
pub fn scenario_plan(scenario: &Scenario, shard: Option<(u32, u32)>) -> Result<Plan, Error> {
    let plan = scenario
        .load
        .plan()
        .map_err(|err| Error::Usage(format!("load plan: {err}")))?;
    Ok(match shard {
        Some((i, n)) => plan.shard(i - 1, n),
        None => plan,
    })
}

/// First Ctrl+C / SIGTERM: drain with a short grace; second: abort.
async fn forward_signals(supervisor: Addr<Supervisor>) {
    let mut abort = false;
    loop {
        crate::signals::wait_for_signal().await;
        if abort {
            eprintln!("\nstreamsoak: second signal: aborting in-flight streams");
        } else {
            eprintln!("\nstreamsoak: stopping: in-flight streams get a short grace, then the report is written (Ctrl+C again to abort)");
        }
        supervisor.do_send(Interrupt { abort });
        abort = true;
    }
}
