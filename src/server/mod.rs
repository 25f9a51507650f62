//! The embedded reference SSE server (`target = "embedded"`, `streamsoak serve`):
//! an actix-web emulation of the seed's FastAPI app, with knobs for load
//! tests and the `shutdown` fault.
//!
//! `POST /trigger_invocation` answers `200`, `Content-Type: text/event-stream`,
//! `Cache-Control: no-cache` and the events
//! `data: {"Count": 1, "Data": "Event 1"}` … `data: {"Data": "Stream completed"}`.
//! Request body fields override the [`ServerConfig`] per request (`events`,
//! `interval_ms`, `first_delay_ms`, `payload_bytes`) and inject faults
//! (`status` + `retry_after`, `content_type`, `malformed_at`, `error_at`,
//! `cut_after`, `stall_after`); `GET /stats` serves the server's own counters
//! ([`StatsSnapshot`]) for tests to cross-check, `POST /stats/reset` zeroes them.
//!
//! # Layout
//! - `config.rs`: [`ServerConfig`] and the pure per-request decision.
//! - `stream.rs`: the response body, a hand-written `Stream` (no locks, one timer).
//! - `handler.rs`: routes; glue between actix-web and the two above.
//! - `openai.rs`: `dialect = "openai"`: OpenAI's chat and completions streams.
//! - `stats.rs`: `Relaxed` atomic counters, kept across restarts.
//!
//! # Shutdown and restart
//! [`EmbeddedServer::shut_down`] stops the listener (a new connect is refused)
//! and stops the workers without grace: each worker's arbiter ends, dropping
//! its connections, so every in-flight stream is cut at once — what a crashed
//! server looks like to the client. [`EmbeddedServer::restart`] binds the same
//! port again (actix sets `SO_REUSEADDR`) with the same config and counters.
//!
//! The load engine drives both through a [`ServerControl`], like the fault
//! proxy's control: [`EmbeddedServer::into_control`] moves the server into a
//! task that runs commands one after another, so a restart asked for while
//! a shutdown is still cutting streams waits for it (no shared cell, no
//! polling), and each command answers with its result.

mod broadcast;
mod config;
mod handler;
mod openai;
mod stats;
mod stream;
#[cfg(test)]
mod tests;
mod tls;

use std::{io, net::SocketAddr, sync::Arc};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use tokio::sync::{mpsc, oneshot};

pub use config::{BroadcastConfig, ServerConfig, ServerMode, MAX_PAYLOAD_BYTES};
pub use openai::ServerDialect;
pub use stats::StatsSnapshot;
pub use tls::ServerTls;

use handler::Shared;
use stats::Stats;

/// Listen backlog: a load test opens thousands of connections at once.
const BACKLOG: u32 = 4096;

/// A running (or shut down) embedded server; see the module doc.
///
/// Dropping it stops the server without waiting; prefer [`EmbeddedServer::stop`].
pub struct EmbeddedServer {
    shared: web::Data<Shared>,
    addr: SocketAddr,
    tls: Option<ServerTls>,
    running: Option<Running>,
    /// Broadcast mode: the publisher task (outside the workers, so it
    /// keeps publishing through a `shutdown` fault).
    publisher: Option<actix_rt::task::JoinHandle<()>>,
}

struct Running {
    handle: ServerHandle,
    task: actix_rt::task::JoinHandle<io::Result<()>>,
}

impl EmbeddedServer {
    /// Binds `addr` (use `127.0.0.1:0` in tests) and starts serving on the
    /// current actix System, with `config.workers` worker threads.
    ///
    /// Must be called inside an actix System (e.g. `#[actix_rt::test]`).
    ///
    /// With `config.tls` a CA and a certificate are generated first
    /// ([`ServerTls`]), and kept across [`EmbeddedServer::restart`]s.
    pub async fn start(config: ServerConfig, addr: SocketAddr) -> io::Result<EmbeddedServer> {
        let tls = if config.tls {
            Some(ServerTls::generate(addr.ip()).map_err(|err| {
                io::Error::other(format!("cannot generate a TLS certificate: {err}"))
            })?)
        } else {
            None
        };
        let stats = Arc::new(Stats::default());
        let shared = web::Data::new(Shared::new(config, stats));
        let (addr, running) = launch(&shared, addr, tls.as_ref())?;
        let publisher = shared.hub.as_ref().map(|hub| {
            actix_rt::spawn(broadcast::publish(
                Arc::clone(hub),
                Arc::clone(&shared.stats),
            ))
        });
        Ok(EmbeddedServer {
            shared,
            addr,
            tls,
            running: Some(running),
            publisher,
        })
    }

    /// The bound address (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` (`https://` with TLS), without a trailing slash.
    pub fn base_url(&self) -> String {
        base_url(self.addr, self.tls.is_some())
    }

    /// The generated CA and certificate, when serving TLS.
    pub fn tls(&self) -> Option<&ServerTls> {
        self.tls.as_ref()
    }

    /// The server's counters now (also served as `GET /stats`).
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Whether the server is listening (not shut down).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The `shutdown` fault: stops listening (a new connect is refused once
    /// this returns) and cuts every in-flight stream now. No-op when already down.
    pub async fn shut_down(&mut self) {
        if let Some(running) = self.running.take() {
            if let Some(hub) = &self.shared.hub {
                hub.set_down(true);
            }
            running.handle.stop(false).await;
            // The server future ends right after the stop; its result carries nothing new.
            let _ = running.task.await;
        }
    }

    /// Listens again on the same port with the same config; counters are kept.
    /// No-op when already running.
    ///
    /// # Errors
    /// Binding fails if another process took the port meanwhile.
    pub async fn restart(&mut self) -> io::Result<()> {
        if self.running.is_none() {
            let (_, running) = launch(&self.shared, self.addr, self.tls.as_ref())?;
            self.running = Some(running);
            if let Some(hub) = &self.shared.hub {
                hub.set_down(false);
            }
        }
        Ok(())
    }

    /// Shuts the server down (as [`EmbeddedServer::shut_down`]) and consumes the handle.
    pub async fn stop(mut self) {
        self.shut_down().await;
        if let Some(publisher) = self.publisher.take() {
            publisher.abort();
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(publisher) = self.publisher.take() {
            publisher.abort();
        }
        if let Some(running) = self.running.take() {
            // The stop command is sent when `stop` is called; awaiting it is optional.
            drop(running.handle.stop(false));
        }
    }
}

/// What a [`ServerControl`] asks of the task that owns the server.
enum Command {
    ShutDown(oneshot::Sender<()>),
    Restart(oneshot::Sender<io::Result<()>>),
    Stop(oneshot::Sender<()>),
}

impl EmbeddedServer {
    /// Moves the server into a task on the current actix System and returns
    /// the handle that commands it. The server stops when [`ServerControl::stop`]
    /// is called or every handle is dropped.
    pub fn into_control(mut self) -> ServerControl {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let addr = self.addr;
        let shared = self.shared.clone();
        let tls = self.tls.clone();
        actix_rt::spawn(async move {
            while let Some(command) = rx.recv().await {
                match command {
                    Command::ShutDown(done) => {
                        self.shut_down().await;
                        let _ = done.send(());
                    }
                    Command::Restart(done) => {
                        let _ = done.send(self.restart().await);
                    }
                    Command::Stop(done) => {
                        self.shut_down().await;
                        let _ = done.send(());
                        return;
                    }
                }
            }
            self.shut_down().await;
        });
        ServerControl {
            tx,
            addr,
            shared,
            tls,
        }
    }
}

/// Commands a running [`EmbeddedServer`] (see [`EmbeddedServer::into_control`]):
/// cheap to clone; commands run in the order they were sent.
#[derive(Clone)]
pub struct ServerControl {
    tx: mpsc::UnboundedSender<Command>,
    addr: SocketAddr,
    shared: web::Data<Shared>,
    tls: Option<ServerTls>,
}

fn base_url(addr: SocketAddr, tls: bool) -> String {
    format!("{}://{addr}", if tls { "https" } else { "http" })
}

fn gone() -> io::Error {
    io::Error::other("the embedded server's task has ended")
}

impl ServerControl {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` (`https://` with TLS), without a trailing slash.
    pub fn base_url(&self) -> String {
        base_url(self.addr, self.tls.is_some())
    }

    /// The generated CA and certificate, when serving TLS.
    pub fn tls(&self) -> Option<&ServerTls> {
        self.tls.as_ref()
    }

    /// The server's counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// [`EmbeddedServer::shut_down`], after every command sent before it.
    ///
    /// # Errors
    /// When the server's task has ended (the server was stopped).
    pub async fn shut_down(&self) -> io::Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Command::ShutDown(done)).map_err(|_| gone())?;
        wait.await.map_err(|_| gone())
    }

    /// [`EmbeddedServer::restart`], after every command sent before it (so
    /// after a shutdown in progress).
    ///
    /// # Errors
    /// When binding the port again fails, or the server's task has ended.
    pub async fn restart(&self) -> io::Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Command::Restart(done)).map_err(|_| gone())?;
        wait.await.map_err(|_| gone())?
    }

    /// Shuts the server down for good and ends its task.
    pub async fn stop(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Stop(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// Binds `addr` and spawns an actix-web server on the current System:
/// HTTPS with ALPN (`h2`, `http/1.1`) given `tls`, else plain HTTP/1.1 that
/// also answers h2c with prior knowledge (a connection opening with the
/// HTTP/2 preface).
fn launch(
    shared: &web::Data<Shared>,
    addr: SocketAddr,
    tls: Option<&ServerTls>,
) -> io::Result<(SocketAddr, Running)> {
    let data = shared.clone();
    let server = HttpServer::new(move || {
        let config = data.config.clone();
        App::new()
            .app_data(data.clone())
            .configure(move |cfg| handler::routes(cfg, &config))
    })
    .workers(shared.config.workers.max(1))
    .backlog(BACKLOG)
    .disable_signals()
    .shutdown_timeout(0)
    // A stalled stream is dropped as soon as its client closes the connection.
    .h1_allow_half_closed(false);
    let server = match tls {
        Some(tls) => server.bind_rustls_0_23(addr, tls.config())?,
        None => server.bind_auto_h2c(addr)?,
    };
    let bound = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| io::Error::other("actix bound no address"))?;
    let server = server.run();
    let handle = server.handle();
    let task = actix_rt::spawn(server);
    Ok((bound, Running { handle, task }))
}
