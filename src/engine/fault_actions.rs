//! What a fault does to the target when its window opens and closes.
//!
//! - `shutdown` on the embedded target: the server stops listening and cuts
//!   every in-flight stream, then listens again on the same port.
//! - `exec`: runs `start` at the window's start and `end` at its end
//!   (`sh -c`), off the arbiter thread; exit codes and output go to
//!   `faults.log` in the report folder, and a failing command is logged as such.
//!
//! Both are I/O shells; when a fault starts and ends is the supervisor's
//! (pure schedule) business.

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use crate::faults::{ProxyControl, ProxyFault};
use crate::scenario::{FaultKind, FaultSpec};
use crate::server::EmbeddedServer;

/// Applies faults to the target.
pub struct FaultActions {
    faults: Vec<FaultSpec>,
    server: Rc<RefCell<Option<EmbeddedServer>>>,
    proxy: Option<ProxyControl>,
    log_path: Option<PathBuf>,
    active: Vec<bool>,
    run_start: Instant,
    run_exec: bool,
}

impl FaultActions {
    /// Actions for `faults`; `server` is the embedded server, if the target
    /// is embedded; `proxy` the fault proxy's control, if one runs;
    /// `run_exec` false on shards other than the first (exec faults run once).
    pub fn new(
        faults: Vec<FaultSpec>,
        server: Rc<RefCell<Option<EmbeddedServer>>>,
        proxy: Option<ProxyControl>,
        log_path: Option<PathBuf>,
        run_start: Instant,
        run_exec: bool,
    ) -> FaultActions {
        let active = vec![false; faults.len()];
        FaultActions {
            faults,
            server,
            proxy,
            log_path,
            active,
            run_start,
            run_exec,
        }
    }

    /// The proxy fault of a kind, if it is one.
    fn proxy_fault(kind: &FaultKind) -> Option<ProxyFault> {
        Some(match kind {
            FaultKind::Refuse => ProxyFault::Refuse,
            FaultKind::Reset => ProxyFault::Reset,
            FaultKind::Stall => ProxyFault::Stall,
            FaultKind::Latency(d) => ProxyFault::Latency(*d),
            FaultKind::Status {
                status,
                retry_after,
            } => ProxyFault::Status {
                status: *status,
                retry_after: *retry_after,
            },
            FaultKind::Shutdown | FaultKind::Exec { .. } => return None,
        })
    }

    /// Fault `i`'s window opens.
    pub fn start(&mut self, i: usize) {
        let Some(fault) = self.faults.get(i).cloned() else {
            return;
        };
        self.active[i] = true;
        self.log(&format!("fault {} ({}) started", i + 1, fault.kind.name()));
        if let (Some(control), Some(pf)) = (&self.proxy, Self::proxy_fault(&fault.kind)) {
            control.set(Some(pf));
            return;
        }
        match &fault.kind {
            FaultKind::Shutdown if self.server.borrow().is_none() => {
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
            FaultKind::Shutdown => {
                let server = Rc::clone(&self.server);
                actix_rt::spawn(async move {
                    let taken = server.borrow_mut().take();
                    if let Some(mut s) = taken {
                        s.shut_down().await;
                        *server.borrow_mut() = Some(s);
                    }
                });
            }
            FaultKind::Exec { start, .. } if self.run_exec => self.exec(i, "start", start.clone()),
            FaultKind::Exec { .. } => self.log("exec fault runs on shard 1 only"),
            other => log::warn!(
                "fault kind `{}` has no fault proxy to act through; ignored",
                other.name()
            ),
        }
    }

    /// Fault `i`'s window closes.
    pub fn end(&mut self, i: usize) {
        if !self.active.get(i).copied().unwrap_or(false) {
            return;
        }
        self.active[i] = false;
        let Some(fault) = self.faults.get(i).cloned() else {
            return;
        };
        self.log(&format!("fault {} ({}) ended", i + 1, fault.kind.name()));
        if let Some(control) = &self.proxy {
            if Self::proxy_fault(&fault.kind).is_some() || self.server.borrow().is_none() {
                control.set(None);
            }
        }
        match &fault.kind {
            FaultKind::Shutdown => {
                let server = Rc::clone(&self.server);
                actix_rt::spawn(async move {
                    // The shutdown may still hold the server for a moment.
                    for _ in 0..1000 {
                        let taken = server.borrow_mut().take();
                        if let Some(mut s) = taken {
                            if let Err(err) = s.restart().await {
                                log::error!("embedded server could not listen again: {err}");
                            }
                            *server.borrow_mut() = Some(s);
                            return;
                        }
                        actix_rt::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                });
            }
            FaultKind::Exec { end, .. } if self.run_exec => self.exec(i, "end", end.clone()),
            _ => {}
        }
    }

    /// Closes every open window (the run is over).
    pub fn end_all(&mut self) {
        for i in 0..self.faults.len() {
            self.end(i);
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
