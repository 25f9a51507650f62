//! [`FaultProxy`]: a loopback TCP proxy in front of the target, and the
//! [`ProxyControl`] handle that switches its fault on and off.
//!
//! This file owns the listener and the accept loop (including closing and
//! re-binding the listener for `refuse`); `conn.rs` owns what happens to the
//! bytes of one connection. The control state is one `tokio::sync::watch`
//! value that the accept loop and every connection task observe, so
//! [`ProxyControl::set`] is synchronous, lock-free for readers, and reaches
//! open connections without a message per connection.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::conn;
use super::plan::ProxyFault;

/// Pending-connection queue of the proxy's listener.
const BACKLOG: u32 = 1024;
/// First and longest wait between attempts to re-bind after `refuse`.
const REBIND_RETRY: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));
/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_RETRY: Duration = Duration::from_millis(20);

/// What [`ProxyControl::set`] last asked for; `generation` counts the calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Requested {
    pub(super) generation: u64,
    pub(super) fault: Option<ProxyFault>,
}

/// Live counters shared by the accept loop and the connection tasks.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) connections: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) reset: AtomicU64,
    pub(super) status_answered: AtomicU64,
}

/// A snapshot of what the proxy has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted (whatever was then done with them).
    pub connections: u64,
    /// Connections the proxy itself turned away under `refuse` with an
    /// RST: those accepted in the instant before the listener closed, and
    /// open connections on which a new request arrived during the window.
    /// Connects the kernel refuses while the listener is closed never reach
    /// the proxy and are not counted.
    pub refused: u64,
    /// Connections reset by `reset`, open ones and new ones.
    pub reset: u64,
    /// Requests answered with the `status` fault's response: on new
    /// connections and on open ones (a new request during the window).
    pub status_answered: u64,
}

struct Shared {
    requested: watch::Sender<Requested>,
    /// Highest generation the accept loop has applied; `u64::MAX` once it
    /// has stopped.
    applied: watch::Sender<u64>,
}

/// Switches the proxy's fault. Cheap to clone (one `Arc`), `Send + Sync`.
#[derive(Clone)]
pub struct ProxyControl {
    shared: Arc<Shared>,
}

impl ProxyControl {
    /// Applies `fault` from now on (`None` = plain forwarding). Open
    /// connections see it at their next chunk (for `status` and `refuse`:
    /// the first chunk of their next request); the accept loop closes or
    /// re-binds the listener for `refuse` as soon as it runs — await
    /// [`ProxyControl::settled`] to know it has. Only the latest value is
    /// observed: a fault set and cleared before a connection task next runs
    /// passes it by.
    pub fn set(&self, fault: Option<ProxyFault>) {
        self.shared.requested.send_modify(|r| {
            r.generation += 1;
            r.fault = fault;
        });
    }

    /// The fault currently requested.
    pub fn current(&self) -> Option<ProxyFault> {
        self.shared.requested.borrow().fault
    }

    /// Resolves once the listener reflects the latest [`ProxyControl::set`]:
    /// closed under `refuse` (new connects get ECONNREFUSED), listening
    /// again otherwise. Resolves at once after shutdown. Pends while a
    /// re-bind keeps failing (logged as a warning).
    pub async fn settled(&self) {
        let target = self.shared.requested.borrow().generation;
        let mut applied = self.shared.applied.subscribe();
        // The sender lives in `self.shared`, so this cannot fail.
        let _ = applied.wait_for(|&g| g >= target).await;
    }
}

impl std::fmt::Debug for ProxyControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyControl")
            .field("fault", &self.current())
            .finish()
    }
}

/// A TCP proxy on a loopback port that forwards every connection to one
/// upstream address and applies the [`ProxyFault`] set on its
/// [`ProxyControl`]. Bytes are never parsed (so TLS passes through); the
/// relay only notes which side sent last, to tell a new request on a
/// kept-alive connection, and `status` answers requests itself in plain
/// HTTP/1.1.
///
/// Dropping it stops the accept loop and aborts open connections, like
/// [`FaultProxy::shutdown`] without waiting.
#[derive(Debug)]
pub struct FaultProxy {
    local_addr: SocketAddr,
    control: ProxyControl,
    counters: Arc<Counters>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Binds `listen` (e.g. `127.0.0.1:0`) and spawns the accept loop with
    /// `tokio::spawn` on the current runtime (an actix-rt `System` is one:
    /// every spawned future is `Send`). Fails if there is no current runtime
    /// or the bind fails. `upstream` is connected once per accepted
    /// connection; if that fails the client's connection is reset.
    pub fn start(listen: SocketAddr, upstream: SocketAddr) -> io::Result<FaultProxy> {
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let listener = bind(listen)?;
        let local_addr = listener.local_addr()?;
        let (requested, requests) = watch::channel(Requested::default());
        let shared = Arc::new(Shared {
            requested,
            applied: watch::Sender::new(0),
        });
        let counters = Arc::new(Counters::default());
        let (shutdown, stop) = watch::channel(false);
        let accept = AcceptLoop {
            addr: local_addr,
            upstream,
            shared: Arc::clone(&shared),
            counters: Arc::clone(&counters),
            listener: Some(listener),
            conns: JoinSet::new(),
            retry_in: None,
        };
        let task = runtime.spawn(accept.run(requests, stop));
        log::info!("fault proxy on {local_addr} forwarding to {upstream}");
        Ok(FaultProxy {
            local_addr,
            control: ProxyControl { shared },
            counters,
            shutdown,
            task: Some(task),
        })
    }

    /// The address clients connect to (the port chosen for `:0`). It stays
    /// the same across `refuse` windows.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to switch faults; clone it freely.
    pub fn control(&self) -> ProxyControl {
        self.control.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        ProxyStats {
            connections: c.connections.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            reset: c.reset.load(Ordering::Relaxed),
            status_answered: c.status_answered.load(Ordering::Relaxed),
        }
    }

    /// Closes the listener, aborts every open connection (their sockets are
    /// closed normally) and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            if let Err(err) = task.await {
                log::warn!("fault proxy accept loop ended abnormally: {err}");
            }
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// A listening socket with SO_REUSEADDR, so the same port can be bound again
/// after a `refuse` window while accepted connections still use it.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

struct AcceptLoop {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    /// `None` while refusing, or while a re-bind is failing.
    listener: Option<TcpListener>,
    /// Every connection task; dropping the set aborts them.
    conns: JoinSet<()>,
    /// Next re-bind attempt's delay, while re-binding fails.
    retry_in: Option<Duration>,
}

impl AcceptLoop {
    async fn run(
        mut self,
        mut requests: watch::Receiver<Requested>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let requested = *requests.borrow_and_update();
            self.apply(requested);
            let rebinding = self.retry_in;
            tokio::select! {
                () = stopped(&mut stop) => break,
                changed = requests.changed() => if changed.is_err() { break },
                Some(_) = self.conns.join_next() => {}
                accepted = accept(self.listener.as_ref()) => match accepted {
                    Ok((stream, _)) => self.dispatch(stream, *requests.borrow()),
                    Err(err) => {
                        log::warn!("fault proxy: accept failed: {err}");
                        tokio::time::sleep(ACCEPT_RETRY).await;
                    }
                },
                () = pause(rebinding) => {}
            }
        }
        self.listener = None;
        self.shared.applied.send_replace(u64::MAX);
        log::info!("fault proxy on {} stopped", self.addr);
    }

    /// Brings the listener in line with `requested` and publishes the
    /// generation once it is.
    fn apply(&mut self, requested: Requested) {
        let refusing = requested.fault == Some(ProxyFault::Refuse);
        if refusing {
            self.retry_in = None;
            if self.listener.take().is_some() {
                log::info!("fault proxy: refusing connections on {}", self.addr);
            }
        } else if self.listener.is_none() {
            match bind(self.addr) {
                Ok(listener) => {
                    self.listener = Some(listener);
                    self.retry_in = None;
                    log::info!("fault proxy: listening again on {}", self.addr);
                }
                Err(err) => {
                    let (first, max) = REBIND_RETRY;
                    let next = self.retry_in.map_or(first, |d| (d * 2).min(max));
                    self.retry_in = Some(next);
                    log::warn!(
                        "fault proxy: re-binding {} failed ({err}); retrying",
                        self.addr
                    );
                }
            }
        }
        if refusing || self.listener.is_some() {
            self.shared.applied.send_if_modified(|g| {
                let newer = *g < requested.generation;
                if newer {
                    *g = requested.generation;
                }
                newer
            });
        }
    }

    /// Acts on a new connection according to the fault requested right now.
    fn dispatch(&mut self, stream: TcpStream, requested: Requested) {
        let c = &self.counters;
        c.connections.fetch_add(1, Ordering::Relaxed);
        match requested.fault {
            Some(ProxyFault::Refuse) => {
                // Accepted just before the listener closes: turn it away too.
                c.refused.fetch_add(1, Ordering::Relaxed);
                conn::abort(stream);
                self.listener = None;
            }
            Some(ProxyFault::Reset) => {
                c.reset.fetch_add(1, Ordering::Relaxed);
                conn::abort(stream);
            }
            Some(ProxyFault::Status {
                status,
                retry_after,
            }) => {
                c.status_answered.fetch_add(1, Ordering::Relaxed);
                self.conns
                    .spawn(conn::answer_status(stream, status, retry_after, Vec::new()));
            }
            None | Some(ProxyFault::Stall) | Some(ProxyFault::Latency(_)) => {
                let control = self.shared.requested.subscribe();
                let counters = Arc::clone(&self.counters);
                self.conns
                    .spawn(conn::forward(stream, self.upstream, control, counters));
            }
        }
    }
}

/// Resolves once shutdown is asked for (or the proxy is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|&stop| stop).await;
}

/// Accepts on `listener`, or never while there is none.
async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Sleeps for `delay`, or forever without one.
async fn pause(delay: Option<Duration>) {
    match delay {
        Some(delay) => tokio::time::sleep(delay).await,
        None => std::future::pending().await,
    }
}
