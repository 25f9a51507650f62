//! What a fault does to the target when its window opens and closes.
//!
//! - `shutdown` on the embedded target: the server stops listening and cuts
//!   every in-flight stream, then listens again on the same port (through
//!   its [`ServerControl`]; a restart that fails is an error in `faults.log`
//!   and on stderr, not a silent give-up).
//! - `shutdown` on an external target: the fault proxy resets every
//!   connection, then refuses new ones.
//! - proxy kinds: the fault proxy's [`ProxyControl`].
//! - `exec`: runs `start` at the window's start and `end` at its end
//!   (`sh -c`), off the arbiter thread; exit codes and output go to
//!   `faults.log` in the report folder, and a failing command is logged as such.
//!
//! These are I/O shells; when a fault starts and ends is the supervisor's
//! [`FaultSchedule`](crate::faults::FaultSchedule)'s business.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::faults::{FaultKind, FaultWindow, ProxyControl, ProxyFault};
use crate::server::ServerControl;

/// Applies faults to the target.
pub struct FaultActions {
    server: Option<ServerControl>,
    proxy: Option<ProxyControl>,
    log_path: Option<PathBuf>,
    run_start: Instant,
    run_exec: bool,
}

impl FaultActions {
    /// Actions on `server` (the embedded server's control, if the target is
    /// embedded) and `proxy` (the fault proxy's control, if one runs);
    /// `run_exec` false on shards other than the first (exec faults run once).
    pub fn new(
        server: Option<ServerControl>,
        proxy: Option<ProxyControl>,
        log_path: Option<PathBuf>,
        run_start: Instant,
        run_exec: bool,
    ) -> FaultActions {
        FaultActions {
            server,
            proxy,
            log_path,
            run_start,
            run_exec,
        }
    }

    /// `fault`'s window opens.
    pub fn start(&self, fault: &FaultWindow) {
        let i = fault.index;
        self.log(&format!("fault {} ({}) started", i + 1, fault.kind.name()));
        if let (Some(control), Some(pf)) = (&self.proxy, fault.kind.proxy_fault()) {
            control.set(Some(pf));
            return;
        }
        match (&fault.kind, &self.server) {
            (FaultKind::Shutdown, Some(server)) => {
                let server = server.clone();
                actix_rt::spawn(async move {
                    if let Err(err) = server.shut_down().await {
                        log::warn!("embedded server shutdown: {err}");
                    }
                });
            }
            (FaultKind::Shutdown, None) => {
                // External target: existing connections reset, then new ones refused.
                if let Some(control) = self.proxy.clone() {
                    control.set(Some(ProxyFault::Reset));
                    actix_rt::spawn(async move {
                        control.settled().await;
                        actix_rt::time::sleep(std::time::Duration::from_millis(100)).await;
                        control.set(Some(ProxyFault::Refuse));
                    });
                }
            }
            (FaultKind::Exec { start, .. }, _) if self.run_exec => {
                self.exec(i, "start", start.clone())
            }
            (FaultKind::Exec { .. }, _) => self.log("exec fault runs on shard 1 only"),
            (other, _) => log::warn!(
                "fault kind `{}` has no fault proxy to act through; ignored",
                other.name()
            ),
        }
    }

    /// `fault`'s window closes.
    pub fn end(&self, fault: &FaultWindow) {
        let i = fault.index;
        self.log(&format!("fault {} ({}) ended", i + 1, fault.kind.name()));
        if let Some(control) = &self.proxy {
            if fault.kind.needs_proxy() || self.server.is_none() {
                control.set(None);
            }
        }
        match (&fault.kind, &self.server) {
            (FaultKind::Shutdown, Some(server)) => {
                let server = server.clone();
                let log_path = self.log_path.clone();
                let run_start = self.run_start;
                actix_rt::spawn(async move {
                    if let Err(err) = server.restart().await {
                        let line = format!(
                            "fault {} (shutdown): the embedded server could not listen again: {err}",
                            i + 1
                        );
                        log::error!("{line}");
                        eprintln!("streamsoak: error: {line}");
                        append(log_path.as_ref(), run_start, &line);
                    }
                });
            }
            (FaultKind::Exec { end, .. }, _) if self.run_exec => self.exec(i, "end", end.clone()),
            _ => {}
        }
    }

    fn exec(&self, i: usize, phase: &'static str, command: String) {
        let log_path = self.log_path.clone();
        let run_start = self.run_start;
        let spawned = std::thread::Builder::new()
            .name(format!("fault-{}-{phase}", i + 1))
            .spawn(move || {
                let output = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(&command)
                    .output();
                let (ok, line) = match output {
                    Ok(out) => (
                        out.status.success(),
                        format!(
                            "fault {} exec {phase}: `{command}` {}\n--- stdout\n{}--- stderr\n{}",
                            i + 1,
                            out.status,
                            String::from_utf8_lossy(&out.stdout),
                            String::from_utf8_lossy(&out.stderr)
                        ),
                    ),
                    Err(err) => (
                        false,
                        format!(
                            "fault {} exec {phase}: `{command}` could not run: {err}",
                            i + 1
                        ),
                    ),
                };
                if !ok {
                    log::error!("{}", line.lines().next().unwrap_or_default());
                }
                append(log_path.as_ref(), run_start, &line);
            });
        if let Err(err) = spawned {
            log::error!("fault exec could not start a thread: {err}");
        }
    }

    fn log(&self, line: &str) {
        log::info!("{line}");
        append(self.log_path.as_ref(), self.run_start, line);
    }
}

fn append(path: Option<&PathBuf>, run_start: Instant, line: &str) {
    let Some(path) = path else { return };
    let t = run_start.elapsed().as_secs_f64();
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "[{t:.3}s] {line}"));
    if let Err(err) = written {
        log::warn!("cannot write {}: {err}", path.display());
    }
}
