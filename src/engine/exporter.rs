//! The `run --metrics-addr` endpoint: `GET /metrics` serves the run's live
//! figures ([`crate::report::live`]) for Prometheus to scrape, from one
//! actix-web worker thread of its own, so a slow scraper never delays the
//! sessions or the collector.
//!
//! A scrape reads what the collector folded in at the last interval close
//! (one lock, a few kilobytes of text): nothing is computed per event or
//! per scrape beyond encoding. `/` answers a short page pointing to
//! `/metrics`; anything else is 404.
//!
//! The end of a run: Prometheus pulls, so the final interval is only seen
//! if the endpoint is still up at the next scrape. [`Exporter::linger`]
//! waits, up to `--metrics-linger`, until a scrape has served the final
//! figures (an awaited event, not a sleep), then the endpoint stops.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tokio::sync::watch;

use crate::report::live::{Exposition, Format, SharedLive};

struct State {
    exposition: Exposition,
    /// Intervals held by the last figures served.
    served: watch::Sender<u64>,
}

/// The running endpoint.
pub struct Exporter {
    addr: SocketAddr,
    handle: ServerHandle,
    task: actix_rt::task::JoinHandle<io::Result<()>>,
    served: watch::Receiver<u64>,
    live: SharedLive,
}

async fn metrics(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let (body, intervals) = state.exposition.encode(format);
    state.served.send_if_modified(|served| {
        let newer = intervals > *served;
        *served = (*served).max(intervals);
        newer
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, format.content_type()))
        .body(body)
}

async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body("streamsoak: live metrics of this run are at /metrics\n")
}

impl Exporter {
    /// Binds `addr` and serves `live` for scenario `name` and `shard`.
    /// Must be called inside an actix System.
    ///
    /// # Errors
    /// When `addr` cannot be bound (in use, not an address of this machine).
    pub fn start(
        addr: SocketAddr,
        live: SharedLive,
        name: &str,
        shard: Option<(u32, u32)>,
    ) -> io::Result<Exporter> {
        let (served_tx, served) = watch::channel(0);
        let state = web::Data::new(State {
            exposition: Exposition::new(live.clone(), name, shard),
            served: served_tx,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/metrics", web::get().to(metrics))
                .route("/", web::get().to(index))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(addr)?;
        let bound = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| io::Error::other("actix bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        let task = actix_rt::spawn(server);
        Ok(Exporter {
            addr: bound,
            handle,
            task,
            served,
            live,
        })
    }

    /// The bound address (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the last scrape served every interval folded in so far.
    pub fn is_current(&self) -> bool {
        *self.served.borrow() >= self.live.lock().intervals()
    }

    /// Waits until a scrape has served every interval folded in so far, or
    /// `at_most` has passed; returns whether it was scraped.
    pub async fn linger(&mut self, at_most: Duration) -> bool {
        let last = self.live.lock().intervals();
        matches!(
            tokio::time::timeout(at_most, self.served.wait_for(|s| *s >= last)).await,
            Ok(Ok(_))
        )
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.handle.stop(false).await;
        // The server future ends right after the stop; its result carries nothing new.
        let _ = self.task.await;
    }
}
