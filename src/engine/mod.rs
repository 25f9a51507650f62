//! The load engine: one actix System, one arbiter per core, a supervisor,
//! sessions and a collector.
//!
//! ```text
//!   Supervisor (own thread) ── StartStream / StopSession ──▶ Session × N (arbiters 1..cores)
//!        ▲  SessionStopped (per lifetime)                                │ records into
//!        │  open model: OpenPool (idle sessions, waiting arrivals; no message per stream)
//!        │                                                                 ▼ thread-local delta
//!   Collector (main arbiter) ◀── Flushed (per arbiter per interval) ── local::take()
//! ```
//!
//! [`run`] builds it, waits for the supervisor to finish, then writes the
//! final report files. Pure stage math is in [`crate::load`]; actors only
//! translate messages and timers into calls to it.

mod busy;
pub mod collector;
pub mod exporter;
pub mod fault_actions;
mod local;
pub mod messages;
mod pool;
pub mod progress;
pub mod session;
pub mod supervisor;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::client::http::Transport;
use crate::client::CancelHandle;
use crate::engine::collector::{Collector, CollectorParts, LiveWriters};
use crate::engine::exporter::Exporter;
use crate::engine::fault_actions::FaultActions;
use crate::engine::messages::Interrupt;
use crate::engine::progress::{Progress, ProgressMode};
use crate::engine::session::SessionConfig;
use crate::engine::supervisor::{Supervisor, SupervisorParts};
use crate::error::Error;
use crate::faults::FaultProxy;
use crate::faults::FaultSchedule;
use crate::load::executor::{ArrivalSchedule, Plan};
use crate::metrics::attribution::FaultClock;
use crate::metrics::recorder::EventRules;
use crate::report::alignment::Alignment;
use crate::report::live::SharedLive;
use crate::report::RunSummary;
use crate::scenario::HttpSpec;
use crate::scenario::{FaultKind, FaultWindow, Scenario, Target};
use crate::server::{EmbeddedServer, ServerConfig, ServerControl};

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
    /// `--start-at`: when everything is prepared, wait until this instant,
    /// which becomes `t = 0` of the run (stages, arrivals, faults).
    pub start_at: Option<SystemTime>,
    /// `--metrics-addr`: serve live metrics at `/metrics` on this address.
    pub metrics_addr: Option<SocketAddr>,
    /// `--metrics-linger`: after the run, keep `/metrics` up until it has
    /// been scraped with the final figures, at most this long.
    pub metrics_linger: std::time::Duration,
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

/// What a run derives from a validated scenario and its shard, before any
/// I/O. Infallible on purpose: every value it reads was validated when the
/// scenario was loaded, so whatever `check` accepts, `run` accepts; what
/// can still fail at run time is I/O (binding, resolving, writing).
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// This shard's plan (session targets split; the whole plan unsharded).
    pub plan: Plan,
    /// Open model: this shard's arrivals, every N-th of the whole plan's
    /// schedule starting at its own offset (shards interleave, they do not
    /// fire in lockstep); `None` for the closed model.
    pub arrivals: Option<ArrivalSchedule>,
    /// Open model: this shard's concurrency cap.
    pub max_sessions: usize,
    /// Most sessions alive at once (sizes the connection pools).
    pub peak: usize,
    /// First session id (shards offset theirs so ids stay distinct).
    pub first_id: u64,
    /// Seed of this shard's sessions (distinct per shard).
    pub seed: u64,
    /// `{{shard}}`: I of `--shard I/N`, 0 unsharded.
    pub shard: u64,
    /// Whether sessions go through the fault proxy: a proxied fault kind,
    /// a `shutdown` of an external target, or `proxy = true`.
    pub needs_proxy: bool,
}

impl RunPlan {
    /// The run plan of `scenario` for `shard` (`--shard I/N`, I from 1).
    pub fn new(scenario: &Scenario, shard: Option<(u32, u32)>) -> RunPlan {
        let whole = &scenario.load.plan;
        let plan = match shard {
            Some((i, n)) => whole.shard(i - 1, n),
            None => whole.clone(),
        };
        let open = whole.kind().is_arrival_rate();
        let arrivals = open.then(|| match shard {
            Some((i, n)) => ArrivalSchedule::sharded(whole, i - 1, n),
            None => ArrivalSchedule::new(whole),
        });
        let cap = scenario.load.max_sessions.unwrap_or(u32::MAX / 2);
        let max_sessions = match shard {
            Some((i, n)) => crate::load::executor::split_sessions(cap, i - 1, n),
            None => cap,
        }
        .max(1) as usize;
        let peak = if open {
            max_sessions.min(100_000)
        } else {
            plan.peak().ceil() as usize
        };
        let external = matches!(scenario.target, Target::Url(_));
        let needs_proxy = scenario.proxy
            || scenario
                .faults
                .any(|k| k.needs_proxy() || (external && *k == FaultKind::Shutdown));
        RunPlan {
            plan,
            arrivals,
            max_sessions,
            peak,
            first_id: shard.map_or(1, |(i, _)| u64::from(i) * 1_000_000_000 + 1),
            seed: scenario.seed
                ^ u64::from(shard.map_or(0, |s| s.0)).wrapping_mul(0xA076_1D64_78BD_642F),
            shard: shard.map_or(0, |(i, _)| u64::from(i)),
            needs_proxy,
        }
    }
}

async fn run_in_system(scenario: &Scenario, opts: &RunOptions) -> Result<RunSummary, Error> {
    let cores = if opts.arbiters == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.arbiters
    };
    let run = RunPlan::new(scenario, opts.shard);
    let server = match &scenario.target {
        Target::Embedded => {
            let config = ServerConfig {
                workers: cores.clamp(1, 4),
                ..scenario.server.clone()
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], 0));
            let server = EmbeddedServer::start(config, addr).await.map_err(|err| {
                Error::Runtime(format!("the embedded server could not start: {err}"))
            })?;
            Some(server.into_control())
        }
        Target::Url(_) => None,
    };
    let target_base = match (&scenario.target, &server) {
        (_, Some(s)) => s.base_url(),
        (Target::Url(url), None) => url.clone(),
        (Target::Embedded, None) => unreachable!("embedded target always has a server"),
    };
    let proxy = if run.needs_proxy {
        Some(start_proxy(&target_base)?)
    } else {
        None
    };
    // The embedded server's generated CA is trusted for this run only.
    let http = match server.as_ref().and_then(ServerControl::tls) {
        Some(tls) => HttpSpec {
            tls: scenario.http.tls.with_root(tls.ca_der().clone()),
            ..scenario.http.clone()
        },
        None => scenario.http.clone(),
    };
    // Requests name the target (Host, SNI, certificate); with the proxy,
    // only the socket goes to it.
    let transport = Transport::new(
        &http,
        &target_base,
        proxy.as_ref().map(FaultProxy::local_addr),
    );
    let prepared = scenario.request.prepare(&target_base);
    let request = prepared.with_url(transport.request_url(&prepared.url));

    if let Some(at) = opts.start_at {
        if let Err(err) = wait_for_start(at, opts.progress == ProgressMode::Quiet).await {
            if let Some(proxy) = proxy {
                proxy.shutdown().await;
            }
            if let Some(server) = server {
                server.stop().await;
            }
            return Err(err);
        }
    }
    let run_start = Instant::now();
    let started_at = SystemTime::now();
    let clock = Arc::new(FaultClock::new(run_start, scenario.faults.len()));
    let cfg = Arc::new(SessionConfig {
        request,
        stream: Arc::new(scenario.stream.clone()),
        retry: scenario.retry,
        breaker: scenario.breaker,
        transport,
        body: scenario.request.body.clone(),
        think_time: scenario.load.think_time,
        seed: run.seed,
        shard: run.shard,
        run_start,
        peak_sessions: run.peak.max(1),
        events_out: opts.events_out.is_some(),
        open_model: run.plan.kind().is_arrival_rate(),
        faults: Arc::clone(&clock),
        slo: scenario.slo,
        events: EventRules::new(&scenario.stream, started_at),
    });

    let scenario_file = opts.out_dir.join("scenario.toml");
    std::fs::write(&scenario_file, &scenario.resolved)
        .map_err(|err| Error::io(&scenario_file, err))?;
    let live = opts.metrics_addr.map(|_| SharedLive::default());
    let exporter = match (opts.metrics_addr, &live) {
        (Some(addr), Some(live)) => {
            let exporter = Exporter::start(addr, live.clone(), &scenario.name, opts.shard)
                .map_err(|err| {
                    Error::Usage(format!(
                        "--metrics-addr {addr}: cannot listen there: {err} (choose a free port, or an address of this machine)"
                    ))
                })?;
            if opts.progress != ProgressMode::Quiet {
                eprintln!(
                    "streamsoak: live metrics at http://{}/metrics",
                    exporter.local_addr()
                );
            }
            Some(exporter)
        }
        _ => None,
    };

    let arbiters: Vec<Arbiter> = (0..cores).map(|_| Arbiter::new()).collect();
    let handles: Vec<ArbiterHandle> = arbiters.iter().map(Arbiter::handle).collect();
    let busy = busy::BusyCells::new(handles.len());
    for (i, arbiter) in handles.iter().enumerate() {
        arbiter.spawn(busy::measure(Arc::downgrade(&busy), i));
    }
    let writers = LiveWriters::create(
        &opts.out_dir,
        started_at,
        &scenario.name,
        opts.events_out.as_ref(),
    )?;
    let fault_list: Vec<FaultWindow> = scenario
        .faults
        .in_file_order()
        .into_iter()
        .cloned()
        .collect();
    let collector = Collector::new(CollectorParts {
        arbiters: handles.clone(),
        interval: scenario.load.interval,
        run_start,
        started_at,
        name: scenario.name.clone(),
        target: scenario.target.display_redacted(),
        shard: opts.shard,
        planned: run.plan.total_duration(),
        writers,
        progress: Progress::new(opts.progress),
        faults: fault_list,
        clock: Arc::clone(&clock),
        live,
        alignment: Alignment::of_run(
            opts.shard.map(|_| scenario.plan_digest()),
            opts.start_at,
            started_at,
        ),
    })
    .start();

    let actions = FaultActions::new(
        server.clone(),
        proxy.as_ref().map(FaultProxy::control),
        Some(opts.out_dir.join("faults.log")),
        run_start,
        opts.shard.is_none_or(|(i, _)| i == 1),
    );
    let (cancel, _) = CancelHandle::new();
    let (reply, done) = oneshot::channel();
    // The supervisor has a thread of its own: the collector's interval work
    // (merging histograms, the hlog, the checkpoint files: ~10 ms a second
    // at 20,000 streams/s) would otherwise hold up the arrivals due
    // meanwhile, which then start all at once on hundreds of new sessions
    // (each a new connection) and push the run into `max_sessions`.
    let supervisor_thread = Arbiter::new();
    let parts = SupervisorParts {
        plan: run.plan,
        arrivals: run.arrivals,
        arbiters: handles,
        cfg,
        collector,
        cancel,
        max_sessions: run.max_sessions,
        first_id: run.first_id,
        reply,
        faults: FaultSchedule::new(scenario.faults.clone()),
        actions,
        busy,
    };
    let supervisor =
        Supervisor::start_in_arbiter(&supervisor_thread.handle(), move |_| Supervisor::new(parts));
    let signals = actix_rt::spawn(forward_signals(
        supervisor,
        crate::signals::Signals::listen(),
    ));

    let outcome = done.await;
    if let Some(mut exporter) = exporter {
        let linger = opts.metrics_linger;
        if !linger.is_zero() && !exporter.is_current() {
            log::info!("waiting up to {linger:?} for a last scrape of /metrics");
            if !exporter.linger(linger).await {
                log::warn!(
                    "/metrics was not scraped with the final figures within --metrics-linger {linger:?}"
                );
            }
        }
        exporter.stop().await;
    }
    signals.abort();
    for arbiter in &arbiters {
        arbiter.stop();
    }
    supervisor_thread.stop();
    if let Some(proxy) = proxy {
        proxy.shutdown().await;
    }
    if let Some(server) = server {
        server.stop().await;
    }
    let (summary, write_error) =
        outcome.map_err(|_| Error::Runtime("the collector stopped before reporting".into()))?;
    if let Some(err) = write_error {
        return Err(err.into());
    }
    Ok(summary)
}

/// `--start-at`: everything is prepared (server, proxy, report folder);
/// waits until `at`, re-reading the wall clock after each sleep (a clock
/// stepped or slewed meanwhile is followed). An instant that passed while
/// preparing starts the run at once: `start_late_ms` in `summary.csv` says
/// by how much. A signal meanwhile ends the run before any load is sent.
async fn wait_for_start(at: SystemTime, quiet: bool) -> Result<(), Error> {
    let stamp = crate::report::alignment::rfc3339_millis(at);
    if let Err(late) = at.duration_since(SystemTime::now()) {
        eprintln!(
            "streamsoak: warning: --start-at {stamp} passed {:.0} ms before this run was ready; starting now (start_late_ms in summary.csv)",
            late.duration().as_secs_f64() * 1e3
        );
        return Ok(());
    }
    let sleep = async {
        // Said once the signal handler below is in place (`biased`: it is
        // polled first), so a signal after this line is always ours.
        if !quiet {
            let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
            eprintln!(
                "streamsoak: ready; the plan starts at {stamp} (in {:.1} s)",
                wait.as_secs_f64()
            );
        }
        while let Ok(rest) = at.duration_since(SystemTime::now()) {
            if rest.is_zero() {
                break;
            }
            actix_rt::time::sleep(rest).await;
        }
    };
    tokio::select! {
        biased;
        () = crate::signals::wait_for_signal() => Err(Error::Runtime(format!(
            "stopped by a signal while waiting for --start-at {stamp}: no load was sent"
        ))),
        () = sleep => Ok(()),
    }
}

/// Starts the fault proxy in front of `base` (`http://` or `https://`: the
/// proxy forwards bytes, TLS included, to the target's address).
fn start_proxy(base: &str) -> Result<FaultProxy, Error> {
    let uri: awc::http::Uri = base
        .parse()
        .map_err(|_| Error::Runtime(format!("target `{base}` is not a URL")))?;
    let host = uri.host().unwrap_or("127.0.0.1").trim_matches(['[', ']']);
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|err| Error::Runtime(format!("target host `{host}` cannot be resolved: {err}")))?
        .next()
        .ok_or_else(|| Error::Runtime(format!("target host `{host}` has no address")))?;
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let proxy = FaultProxy::start(listen, upstream)
        .map_err(|err| Error::Runtime(format!("the fault proxy could not start: {err}")))?;
    log::info!("fault proxy on {} → {upstream}", proxy.local_addr());
    Ok(proxy)
}

/// First Ctrl+C / SIGTERM: drain with a short grace; second: abort.
///
/// One listener for the whole run, made before the task is spawned: a
/// second signal sent while the first is being reported is kept, not lost
/// between two registrations.
async fn forward_signals(supervisor: Addr<Supervisor>, mut signals: crate::signals::Signals) {
    let mut abort = false;
    loop {
        signals.recv().await;
        if abort {
            eprintln!("\nstreamsoak: second signal: aborting in-flight streams");
        } else {
            eprintln!("\nstreamsoak: stopping: in-flight streams get a short grace, then the report is written (Ctrl+C again to abort)");
        }
        supervisor.do_send(Interrupt { abort });
        abort = true;
    }
}
