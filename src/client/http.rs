//! The only place an awc [`Client`] is built.
//!
//! awc's defaults are wrong for a load tester, so every one that matters is
//! set here explicitly:
//! - `Connector::limit` defaults to 100 connections and silently *queues*
//!   requests past it, which would show up as latency that the server never
//!   caused. We set it from the number of sessions this thread will run.
//! - The client timeout (default 5 s) covers connect and response headers
//!   only; it is set to `http.timeout`. First-event, idle and total stream
//!   timeouts are enforced by [`crate::client::attempt`] itself.
//! - Compression: awc is built without its compression features and every
//!   request says `Accept-Encoding: identity`, so no decoder sits between the
//!   socket and the SSE parser buffering events. A server that compresses
//!   anyway is decoded incrementally by the attempt (gzip/deflate).
//! - TLS: rustls with the webpki roots plus `ca_file` (certificates
//!   verified), or a verifier that accepts anything when `insecure_tls =
//!   true`; a client certificate for mutual TLS (see [`crate::client::tls`]).
//!   SNI and `Host` (HTTP/2 `:authority`) are always the target's, also when
//!   the socket goes to the fault proxy (see *Connect-to* below).
//!
//! # HTTP/2
//!
//! awc picks the protocol per connection from TLS ALPN: `h2` negotiated →
//! HTTP/2, anything else → HTTP/1.1. So `[http] version` is the ALPN list
//! ([`crate::client::protocol::VersionPref::alpn`]): `auto` offers `h2, http/1.1`, `1.1` offers
//! `http/1.1`, `2` offers `h2` alone. (awc's `ClientBuilder::max_http_version`
//! would rebuild the TLS config with its own roots, dropping ours: never called.)
//!
//! h2c (`version = "2"` on an `http://` target) uses awc's `dangerous-h2c`
//! feature. Read in awc 3.11 `client/connector.rs`: when a `Connector` has
//! *no* TLS config, the feature replaces its TLS step with a pass-through
//! that declares the plain TCP stream HTTP/2 — prior knowledge, no upgrade —
//! and that step serves `https://` URIs only (`http://` still goes to the
//! HTTP/1.1 pool). So an h2c client is built without a TLS config and its
//! requests are addressed to `https://host:port` ([`Transport::request_url`]):
//! the bytes on the wire are cleartext HTTP/2, and the one visible trace of
//! the trick is the `:scheme` pseudo-header, which says `https`.
//!
//! # Connections per session
//!
//! awc's pool gives an HTTP/2 connection back right after a request is sent,
//! so every later request to the same host multiplexes over it. One client
//! per thread would turn a thousand sessions into a handful of connections,
//! which is not a thousand users. So with `share_connections = false` (the
//! default) every session builds its own client ([`Transport::session_client`]):
//! its own pool, its own connection(s), kept alive between its own streams,
//! on HTTP/1.1 and HTTP/2 alike. The rustls config is one `Arc` for the run;
//! what a client costs beyond its connection is a pool map and a semaphore
//! (README "TLS and HTTP/2" has the measurement). With `share_connections =
//! true` the sessions of a thread share one client and its pool: HTTP/1.1
//! still needs a connection per open stream, HTTP/2 multiplexes.
//!
//! # Connect-to
//!
//! With the fault proxy in front of the target, the request still names the
//! target (`Host`, SNI, certificate checked against the target's name); only
//! the socket goes elsewhere: a resolver maps the target's `host:port` to
//! the proxy's address, as curl's `--connect-to` does.

use std::cell::RefCell;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_rt::net::{ActixStream, TcpSocket, TcpStream};
use actix_service::Service;
use actix_tls::connect::{ConnectError, ConnectInfo, Connection, Resolver};
use awc::http::Uri;
use awc::{Client, Connector};
use futures_util::future::LocalBoxFuture;

use crate::client::config::HttpSpec;
use crate::client::tls;
use crate::client::watch::WatchedStream;

/// How a run's sessions reach the target; built once per run, shared by
/// every thread (`Send + Sync`), and the only source of awc clients.
pub struct Transport {
    spec: HttpSpec,
    /// `None`: an h2c client (no TLS step; see the module doc).
    tls: Option<Arc<rustls::ClientConfig>>,
    connect_to: Option<ConnectTo>,
    /// Tells one transport's thread-local client from another's.
    id: u64,
}

#[derive(Clone, Debug)]
struct ConnectTo {
    host: String,
    port: u16,
    addr: SocketAddr,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("version", &self.spec.version)
            .field("share_connections", &self.spec.share_connections)
            .field("h2c", &self.tls.is_none())
            .field("connect_to", &self.connect_to)
            .finish()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD_CLIENT: RefCell<Option<(u64, Client)>> = const { RefCell::new(None) };
}

fn host_port(uri: &Uri) -> Option<(String, u16)> {
    let host = uri.host()?.trim_matches(['[', ']']).to_owned();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    Some((host, port))
}

impl Transport {
    /// The transport for `spec` towards `target` (a base URL), with every
    /// connection to the target's `host:port` going to `connect_to` instead
    /// when it is set (the fault proxy).
    ///
    /// `spec` was validated when the scenario was loaded (its client key
    /// matches its certificate), so building the TLS config cannot fail.
    pub fn new(spec: &HttpSpec, target: &str, connect_to: Option<SocketAddr>) -> Transport {
        let uri: Option<Uri> = target.parse().ok();
        let plain = uri.as_ref().and_then(Uri::scheme_str) == Some("http");
        let tls = (!(plain && spec.version.h2c())).then(|| {
            Arc::new(
                tls::client_config(&spec.tls, spec.insecure_tls, spec.version)
                    .expect("invariant: the client identity was validated at load"),
            )
        });
        let connect_to = connect_to.and_then(|addr| {
            let (host, port) = host_port(uri.as_ref()?)?;
            Some(ConnectTo { host, port, addr })
        });
        Transport {
            spec: spec.clone(),
            tls,
            connect_to,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The `[http]` settings.
    pub fn spec(&self) -> &HttpSpec {
        &self.spec
    }

    /// True when `http://` is spoken as h2c (prior knowledge).
    pub fn is_h2c(&self) -> bool {
        self.tls.is_none()
    }

    /// The URL to send a request for `url` to: `url` itself, except for an
    /// h2c transport, where `http://host[:port]/…` becomes
    /// `https://host:port/…` (explicit port; see the module doc).
    pub fn request_url(&self, url: &str) -> String {
        if !self.is_h2c() {
            return url.to_owned();
        }
        let Some(rest) = url.strip_prefix("http://") else {
            return url.to_owned();
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']') && !p.is_empty());
        if has_port {
            format!("https://{authority}{tail}")
        } else {
            format!("https://{authority}:80{tail}")
        }
    }

    /// The client session `session` uses: its own (`share_connections =
    /// false`) or its thread's, built on first use for up to
    /// `thread_sessions` sessions at once (`true`).
    ///
    /// With `[http] local_addresses` (loopback has about 28,000 ephemeral
    /// ports per source address, so 100,000 connections need several), a
    /// session's own client binds `local_addresses[session % len]`; a shared
    /// client spreads its connections over them in turn.
    pub fn session_client(&self, thread_sessions: usize, session: u64) -> Client {
        if !self.spec.share_connections {
            let n = self.spec.local_addresses.len() as u64;
            let local = match n {
                0 => LocalAddr::System,
                _ => LocalAddr::Fixed(self.spec.local_addresses[(session % n) as usize]),
            };
            return self.client_from(1, local);
        }
        THREAD_CLIENT.with(|cell| {
            let mut cell = cell.borrow_mut();
            match &*cell {
                Some((id, client)) if *id == self.id => client.clone(),
                _ => {
                    let client = self.client(thread_sessions);
                    *cell = Some((self.id, client.clone()));
                    client
                }
            }
        })
    }

    /// A new client (own pool) for up to `sessions` concurrent streams; its
    /// connections spread over `[http] local_addresses` in turn.
    pub fn client(&self, sessions: usize) -> Client {
        let local = if self.spec.local_addresses.is_empty() {
            LocalAddr::System
        } else {
            LocalAddr::RoundRobin(
                self.spec.local_addresses.as_slice().into(),
                std::rc::Rc::new(std::cell::Cell::new(0)),
            )
        };
        self.client_from(sessions, local)
    }

    fn client_from(&self, sessions: usize, local: LocalAddr) -> Client {
        let tcp = TcpService {
            connect_to: self.connect_to.clone(),
            local,
            inner: actix_tls::connect::Connector::new(Resolver::default()).service(),
            resolver: Resolver::default().service(),
        };
        self.finish(Connector::new().connector(tcp), sessions)
    }

    fn finish<S, Io>(&self, connector: Connector<S>, sessions: usize) -> Client
    where
        S: Service<
                ConnectInfo<Uri>,
                Response = actix_tls::connect::Connection<Uri, Io>,
                Error = actix_tls::connect::ConnectError,
            > + Clone
            + 'static,
        Io: ActixStream + fmt::Debug + 'static,
    {
        let spec = &self.spec;
        let mut connector = connector
            .timeout(spec.timeout)
            .handshake_timeout(spec.timeout)
            // Sessions bound concurrency themselves; the margin covers
            // connections still closing while a session opens its next one.
            .limit(sessions.saturating_add(16))
            // `pool_max_idle_per_host = 0`: no idle connection is kept, so none
            // is reused (awc closes a pooled connection idle longer than this).
            .conn_keep_alive(if spec.pool_max_idle_per_host == 0 {
                Duration::ZERO
            } else {
                spec.idle_conn_timeout
            })
            .conn_lifetime(Duration::from_secs(24 * 3600))
            .disconnect_timeout(Duration::from_secs(1));
        if let Some(tls) = &self.tls {
            connector = connector.rustls_0_23(Arc::clone(tls));
        }
        Client::builder()
            .connector(connector)
            .timeout(spec.timeout)
            .no_default_headers()
            .add_default_header((
                "user-agent",
                concat!("streamsoak/", env!("CARGO_PKG_VERSION")),
            ))
            .add_default_header(("accept", "text/event-stream"))
            .add_default_header(("accept-encoding", "identity"))
            .add_default_header(("cache-control", "no-cache"))
            .max_redirects(10)
            .finish()
    }
}

/// The TCP connector: actix-tls's, with connect-to (a connection to the
/// target's `host:port` goes to the proxy's address; the request, and so
/// SNI and `Host`, is unchanged; set before resolution because actix-tls
/// skips the resolver for IP-literal hosts), and every stream watched for
/// a refused client certificate (`client/watch.rs`).
#[derive(Clone)]
struct TcpService {
    connect_to: Option<ConnectTo>,
    local: LocalAddr,
    inner: actix_tls::connect::ConnectorService,
    /// With a source address: resolution only, the connect is [`connect_from`].
    resolver: actix_tls::connect::ResolverService,
}

/// The source address of new connections (`[http] local_addresses`).
#[derive(Clone)]
enum LocalAddr {
    /// The system's choice.
    System,
    /// Always this one (a session's own client).
    Fixed(std::net::IpAddr),
    /// Each in turn (a client shared by a thread's sessions).
    RoundRobin(
        std::rc::Rc<[std::net::IpAddr]>,
        std::rc::Rc<std::cell::Cell<usize>>,
    ),
}

impl LocalAddr {
    fn next(&self) -> Option<std::net::IpAddr> {
        match self {
            LocalAddr::System => None,
            LocalAddr::Fixed(ip) => Some(*ip),
            LocalAddr::RoundRobin(ips, turn) => {
                let i = turn.get();
                turn.set(i.wrapping_add(1));
                ips.get(i % ips.len().max(1)).copied()
            }
        }
    }
}

impl Service<ConnectInfo<Uri>> for TcpService {
    type Response = actix_tls::connect::Connection<Uri, WatchedStream>;
    type Error = actix_tls::connect::ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        Service::<ConnectInfo<Uri>>::poll_ready(&self.inner, cx)
    }

    fn call(&self, req: ConnectInfo<Uri>) -> Self::Future {
        let to = self.connect_to.as_ref().filter(|to| {
            req.port() == to.port && req.hostname().trim_matches(['[', ']']) == to.host
        });
        let req = match to {
            Some(to) => req.set_addr(Some(to.addr)),
            None => req,
        };
        if let Some(ip) = self.local.next() {
            let resolving = self.resolver.call(req);
            return Box::pin(async move {
                let mut info = resolving.await?;
                let request = info.request().clone();
                let mut failed = None;
                for addr in info.take_addrs() {
                    match connect_from(ip, addr).await {
                        Ok(io) => return Ok(Connection::new(request, WatchedStream::new(io))),
                        Err(err) => failed = Some(err),
                    }
                }
                Err(failed.map_or(ConnectError::Unresolved, ConnectError::Io))
            });
        }
        let connecting = self.inner.call(req);
        Box::pin(async move {
            let (io, connection) = connecting.await?.replace_io(());
            let (_, connection) = connection.replace_io(WatchedStream::new(io));
            Ok(connection)
        })
    }
}

/// A TCP connection from `ip` (any port) to `addr`.
///
/// actix-tls binds the source address before connecting, which makes the
/// kernel reserve an ephemeral port of `ip` for *every* destination: about
/// 28,000 connections per source address in all, each bind scanning for a
/// free port (at 28,000 open streams the shards spent 80 % of the machine
/// in the kernel). With `IP_BIND_ADDRESS_NO_PORT` the port is chosen at
/// connect time and only the 4-tuple must be unique, so every server port
/// gets its own 28,000 (Linux ≥ 4.2; elsewhere the plain bind).
async fn connect_from(ip: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match ip {
        std::net::IpAddr::V4(_) => TcpSocket::new_v4()?,
        std::net::IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    #[cfg(target_os = "linux")]
    if let Err(err) = nix::sys::socket::setsockopt(
        &socket,
        nix::sys::socket::sockopt::IpBindAddressNoPort,
        &true,
    ) {
        log::debug!("IP_BIND_ADDRESS_NO_PORT not set ({err}): ports reserved at bind");
    }
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

/// Builds a client for `spec` towards `target` (no proxy): the `stream`
/// command's, and tests'.
pub fn build_client(spec: &HttpSpec, target: &str, connections: usize) -> Client {
    Transport::new(spec, target, None).client(connections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A keep-alive HTTP/1.1 server on 127.0.0.1 that counts connections.
    fn counting_server() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8).flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut writer = stream;
                    let mut line = String::new();
                    // One response per request head, until the client closes.
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                        if line == "\r\n" {
                            let ok =
                                writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                            if ok.is_err() {
                                return;
                            }
                        }
                        line.clear();
                    }
                });
            }
        });
        (format!("http://{addr}/"), accepted)
    }

    async fn two_requests(spec: &HttpSpec) -> usize {
        let (url, accepted) = counting_server();
        let client = build_client(spec, &url, 4);
        for _ in 0..2 {
            let mut response = client.get(url.as_str()).send().await.expect("response");
            let body = response.body().await.expect("body");
            assert_eq!(&body[..], b"ok");
        }
        accepted.load(Ordering::SeqCst)
    }

    /// A server that answers one request per connection and records where
    /// each connection came from.
    fn peer_recording_server() -> (String, Arc<std::sync::Mutex<Vec<SocketAddr>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let peers = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&peers);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8).flatten() {
                seen.lock()
                    .expect("lock")
                    .push(stream.peer_addr().expect("peer"));
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut writer = stream;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let _ = writer.write_all(
                    b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
                );
            }
        });
        (format!("http://{addr}/"), peers)
    }

    #[actix_rt::test]
    async fn local_addresses_are_the_connections_sources() {
        let (url, peers) = peer_recording_server();
        let spec = HttpSpec {
            local_addresses: vec![
                "127.0.0.2".parse().expect("ip"),
                "127.0.0.3".parse().expect("ip"),
            ],
            pool_max_idle_per_host: 0,
            ..HttpSpec::default()
        };
        let transport = Transport::new(&spec, &url, None);
        let get_ok = |client: Client| {
            let url = url.clone();
            async move {
                let mut response = client.get(url.as_str()).send().await.expect("response");
                assert_eq!(&response.body().await.expect("body")[..], b"ok");
            }
        };
        // A shared client takes them in turn; a session's own client, its own.
        let shared = transport.client(4);
        get_ok(shared.clone()).await;
        get_ok(shared).await;
        get_ok(transport.session_client(1, 1)).await;
        let sources: Vec<String> = peers
            .lock()
            .expect("lock")
            .iter()
            .map(|p| p.ip().to_string())
            .collect();
        assert_eq!(sources, ["127.0.0.2", "127.0.0.3", "127.0.0.3"]);
    }

    #[cfg(target_os = "linux")]
    #[actix_rt::test]
    async fn a_source_address_reserves_no_port_before_connect() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let ip = "127.0.0.4".parse().expect("ip");
        let stream = connect_from(ip, addr).await.expect("connect");
        assert_eq!(stream.local_addr().expect("local").ip(), ip);
        let no_port =
            nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::IpBindAddressNoPort);
        assert_eq!(no_port, Ok(true));
    }

    #[actix_rt::test]
    async fn pool_max_idle_per_host_zero_means_a_new_connection_per_request() {
        let reuse = two_requests(&HttpSpec::default()).await;
        assert_eq!(reuse, 1, "default: the kept-alive connection is reused");
        let none = HttpSpec {
            pool_max_idle_per_host: 0,
            ..HttpSpec::default()
        };
        assert_eq!(two_requests(&none).await, 2, "0: no idle connection kept");
    }
}
