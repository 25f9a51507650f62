//! End-to-end tests of [`FaultProxy`] on 127.0.0.1: a tiny echo server (or,
//! for what depends on HTTP's request/response turns, a tiny keep-alive HTTP
//! server) as the target, plain tokio sockets as the client, one test per
//! fault kind. No sleeps: ordering comes from `set` happening before the
//! client acts, from what the target reports having received, and from
//! [`ProxyControl::settled`] for the listener. The only timeout that must
//! expire is the stall check (an absence of bytes).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::timeout;

use super::conn::header_end;
use super::{FaultProxy, ProxyFault, ProxyStats};

/// Bound on anything that should happen promptly, so a bug fails the test
/// instead of hanging it. Never expected to expire.
const PROMPTLY: Duration = Duration::from_secs(10);
/// How long the stall check waits for bytes that must not come.
const ABSENCE: Duration = Duration::from_millis(200);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// An echo server; returns its address and a count of accepted connections.
async fn echo_server() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind(loopback())
        .await
        .expect("bind echo server");
    let addr = listener.local_addr().expect("echo server address");
    let accepted = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut rx, mut tx) = stream.split();
                if tokio::io::copy(&mut rx, &mut tx).await.is_ok() {
                    let _ = tx.shutdown().await;
                }
            });
        }
    });
    (addr, accepted)
}

async fn setup() -> (FaultProxy, Arc<AtomicU64>) {
    let (upstream, accepted) = echo_server().await;
    let proxy = FaultProxy::start(loopback(), upstream).expect("start proxy");
    (proxy, accepted)
}

async fn connect(proxy: &FaultProxy) -> TcpStream {
    TcpStream::connect(proxy.local_addr())
        .await
        .expect("connect through proxy")
}

/// Writes `msg` and reads the same number of bytes back.
async fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    stream.write_all(msg).await.expect("write");
    let mut back = vec![0u8; msg.len()];
    timeout(PROMPTLY, stream.read_exact(&mut back))
        .await
        .expect("echo within PROMPTLY")
        .expect("read echo");
    back
}

#[tokio::test]
async fn forwards_byte_exact_with_half_close() {
    let (proxy, accepted) = setup().await;
    let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let stream = connect(&proxy).await;
    let (mut rx, mut tx) = stream.into_split();
    let to_send = sent.clone();
    let writer = tokio::spawn(async move {
        tx.write_all(&to_send).await.expect("write");
        tx.shutdown().await.expect("half-close");
        tx
    });
    let mut got = Vec::new();
    timeout(PROMPTLY, rx.read_to_end(&mut got))
        .await
        .expect("EOF within PROMPTLY")
        .expect("read to end");
    writer.await.expect("writer task");
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "bytes differ");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(
        proxy.stats(),
        ProxyStats {
            connections: 1,
            ..ProxyStats::default()
        }
    );
}

#[tokio::test]
async fn reset_hits_open_and_new_connections() {
    let (proxy, _) = setup().await;
    let control = proxy.control();
    let mut open = connect(&proxy).await;
    assert_eq!(round_trip(&mut open, b"hello").await, b"hello");

    control.set(Some(ProxyFault::Reset));
    for stream in [&mut open, &mut connect(&proxy).await] {
        let mut buf = [0u8; 16];
        let read = timeout(PROMPTLY, stream.read(&mut buf))
            .await
            .expect("reset within PROMPTLY");
        let err = read.expect_err("read must fail with a reset");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    }
    assert_eq!(proxy.stats().reset, 2);

    control.set(None);
    let mut fresh = connect(&proxy).await;
    assert_eq!(round_trip(&mut fresh, b"fine").await, b"fine");
}

#[tokio::test]
async fn stall_holds_bytes_then_delivers_them() {
    let (proxy, _) = setup().await;
    let control = proxy.control();
    let mut open = connect(&proxy).await;
    assert_eq!(round_trip(&mut open, b"warm").await, b"warm");

    control.set(Some(ProxyFault::Stall));
    let mut opened_during = connect(&proxy).await;
    for stream in [&mut open, &mut opened_during] {
        stream.write_all(b"ping").await.expect("write during stall");
        let mut buf = [0u8; 4];
        let read = timeout(ABSENCE, stream.read_exact(&mut buf)).await;
        assert!(read.is_err(), "bytes flowed during the stall: {read:?}");
    }

    control.set(None);
    for stream in [&mut open, &mut opened_during] {
        let mut buf = [0u8; 4];
        timeout(PROMPTLY, stream.read_exact(&mut buf))
            .await
            .expect("bytes after the stall")
            .expect("read after the stall");
        assert_eq!(&buf, b"ping");
        assert_eq!(round_trip(stream, b"more").await, b"more");
    }
}

#[tokio::test]
async fn latency_keeps_order() {
    let (proxy, _) = setup().await;
    proxy
        .control()
        .set(Some(ProxyFault::Latency(Duration::from_millis(5))));
    let mut stream = connect(&proxy).await;
    let mut sent = Vec::new();
    for i in 0..20u8 {
        let msg = [i; 100];
        stream.write_all(&msg).await.expect("write");
        sent.extend_from_slice(&msg);
    }
    let mut got = vec![0u8; sent.len()];
    timeout(PROMPTLY, stream.read_exact(&mut got))
        .await
        .expect("echo within PROMPTLY")
        .expect("read echo");
    assert_eq!(got, sent);
}

/// What the `status` fault answers in these tests.
const STATUS_503: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\
                          Connection: close\r\nRetry-After: 1\r\n\r\n";

fn status_503() -> ProxyFault {
    ProxyFault::Status {
        status: 503,
        retry_after: Some(Duration::from_secs(1)),
    }
}

#[tokio::test]
async fn status_answers_new_connections() {
    let (proxy, accepted) = setup().await;
    proxy.control().set(Some(status_503()));
    let mut stream = connect(&proxy).await;
    // Headers split across writes, with a body after them.
    stream
        .write_all(b"POST /trigger_invocation HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write head");
    stream
        .write_all(b"Content-Length: 2\r\n\r\n{}")
        .await
        .expect("write rest");
    assert_eq!(read_to_end(&mut stream).await, STATUS_503);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "status reached upstream"
    );
    assert_eq!(proxy.stats().status_answered, 1);
}

/// The keep-alive target's answer to any request but `GET /stream`.
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
/// Its answer to `GET /stream`, sent at once ...
const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab";
/// ... and the rest, sent once the test releases it.
const STREAM_TAIL: &[u8] = b"cd";

/// A keep-alive HTTP/1.1 target: answers each request (headers only; these
/// tests never forward a body) on the connection it came on, which stays
/// open.
struct HttpUpstream {
    addr: SocketAddr,
    /// Requests seen, counted before answering them.
    requests: Arc<AtomicU64>,
    /// Bytes received so far, all connections together.
    received: watch::Receiver<u64>,
    /// One permit finishes one `/stream` response.
    release: Arc<Semaphore>,
}

impl HttpUpstream {
    fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn http_upstream() -> HttpUpstream {
    let listener = TcpListener::bind(loopback())
        .await
        .expect("bind HTTP server");
    let addr = listener.local_addr().expect("HTTP server address");
    let requests = Arc::new(AtomicU64::new(0));
    let (received_tx, received) = watch::channel(0u64);
    let received_tx = Arc::new(received_tx);
    let release = Arc::new(Semaphore::new(0));
    let (count, gate) = (Arc::clone(&requests), Arc::clone(&release));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let conn = serve_http(
                stream,
                Arc::clone(&count),
                Arc::clone(&received_tx),
                Arc::clone(&gate),
            );
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    HttpUpstream {
        addr,
        requests,
        received,
        release,
    }
}

async fn serve_http(
    mut stream: TcpStream,
    requests: Arc<AtomicU64>,
    received: Arc<watch::Sender<u64>>,
    release: Arc<Semaphore>,
) -> std::io::Result<()> {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        received.send_modify(|r| *r += n as u64);
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = header_end(&pending, 0) {
            let streaming = pending.starts_with(b"GET /stream ");
            pending.drain(..end);
            requests.fetch_add(1, Ordering::SeqCst);
            if streaming {
                stream.write_all(STREAM_HEAD).await?;
                release
                    .acquire()
                    .await
                    .map_err(std::io::Error::other)?
                    .forget();
                stream.write_all(STREAM_TAIL).await?;
            } else {
                stream.write_all(OK).await?;
            }
        }
    }
}

async fn http_setup() -> (FaultProxy, HttpUpstream) {
    let upstream = http_upstream().await;
    let proxy = FaultProxy::start(loopback(), upstream.addr).expect("start proxy");
    (proxy, upstream)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

async fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut got = vec![0u8; len];
    timeout(PROMPTLY, stream.read_exact(&mut got))
        .await
        .expect("bytes within PROMPTLY")
        .expect("read");
    got
}

async fn read_to_end(stream: &mut TcpStream) -> String {
    let mut got = String::new();
    timeout(PROMPTLY, stream.read_to_string(&mut got))
        .await
        .expect("EOF within PROMPTLY")
        .expect("read to EOF");
    got
}

/// Sends `GET path` and reads the [`OK`] answer.
async fn request(stream: &mut TcpStream, path: &str) -> Vec<u8> {
    stream.write_all(&get(path)).await.expect("write request");
    read_exactly(stream, OK.len()).await
}

/// The connection was dropped without an answer: a reset (SO_LINGER 0), or
/// EOF should the reset be reported as a close.
async fn expect_dropped(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let read = timeout(PROMPTLY, stream.read(&mut buf))
        .await
        .expect("closed within PROMPTLY");
    match read {
        Ok(0) => {}
        Err(err) if err.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected a reset or EOF, got {other:?}"),
    }
}

#[tokio::test]
async fn status_answers_a_new_request_on_an_open_connection() {
    let (proxy, upstream) = http_setup().await;
    let control = proxy.control();
    let mut stream = connect(&proxy).await;
    assert_eq!(request(&mut stream, "/first").await, OK);

    control.set(Some(status_503()));
    // The next request on the same connection, headers split across writes,
    // with a body after them.
    stream
        .write_all(b"POST /second HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write head");
    stream
        .write_all(b"Content-Length: 2\r\n\r\n{}")
        .await
        .expect("write rest");
    assert_eq!(read_to_end(&mut stream).await, STATUS_503);
    assert_eq!(
        upstream.requests(),
        1,
        "the second request reached upstream"
    );
    assert_eq!(
        proxy.stats(),
        ProxyStats {
            connections: 1,
            status_answered: 1,
            ..ProxyStats::default()
        }
    );
}

#[tokio::test]
async fn refuse_closes_the_port_and_drops_reused_connections() {
    let (proxy, upstream) = http_setup().await;
    let control = proxy.control();
    let mut stream = connect(&proxy).await;
    assert_eq!(request(&mut stream, "/first").await, OK);

    control.set(Some(ProxyFault::Refuse));
    control.settled().await;
    let err = TcpStream::connect(proxy.local_addr())
        .await
        .expect_err("connect must be refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    // The kept-alive connection is dropped when reused.
    stream.write_all(&get("/second")).await.expect("write");
    expect_dropped(&mut stream).await;
    assert_eq!(
        upstream.requests(),
        1,
        "the second request reached upstream"
    );
    assert_eq!(proxy.stats().refused, 1);

    control.set(None);
    control.settled().await;
    let mut again = connect(&proxy).await;
    assert_eq!(again.peer_addr().ok(), Some(proxy.local_addr()));
    assert_eq!(request(&mut again, "/third").await, OK);
    assert_eq!(request(&mut again, "/fourth").await, OK);
    assert_eq!(upstream.requests(), 3);
    assert_eq!(proxy.stats().connections, 2);
}

/// Only the first bytes of a request count: a response in progress when
/// the fault starts is delivered whole, and so is a request whose first
/// bytes were forwarded before it started; the request after them is not.
#[tokio::test]
async fn status_and_refuse_spare_exchanges_in_progress() {
    for fault in [status_503(), ProxyFault::Refuse] {
        let (proxy, upstream) = http_setup().await;
        let control = proxy.control();
        let mut stream = connect(&proxy).await;

        stream.write_all(&get("/stream")).await.expect("write");
        assert_eq!(
            read_exactly(&mut stream, STREAM_HEAD.len()).await,
            STREAM_HEAD
        );
        control.set(Some(fault));
        upstream.release.add_permits(1);
        assert_eq!(
            read_exactly(&mut stream, STREAM_TAIL.len()).await,
            STREAM_TAIL,
            "{fault:?}"
        );

        control.set(None);
        let split = get("/split");
        let (first, rest) = split.split_at(10);
        let before = *upstream.received.borrow();
        stream.write_all(first).await.expect("write first part");
        let mut received = upstream.received.clone();
        timeout(
            PROMPTLY,
            received.wait_for(|&r| r >= before + first.len() as u64),
        )
        .await
        .expect("first part forwarded within PROMPTLY")
        .expect("upstream alive");
        control.set(Some(fault));
        stream.write_all(rest).await.expect("write the rest");
        assert_eq!(read_exactly(&mut stream, OK.len()).await, OK, "{fault:?}");
        assert_eq!(upstream.requests(), 2, "{fault:?}");

        stream.write_all(&get("/next")).await.expect("write");
        match fault {
            ProxyFault::Refuse => expect_dropped(&mut stream).await,
            _ => assert_eq!(read_to_end(&mut stream).await, STATUS_503),
        }
        assert_eq!(upstream.requests(), 2, "{fault:?}: /next reached upstream");
    }
}

#[tokio::test]
async fn unreachable_upstream_resets_the_client() {
    // Bind then drop a listener to get a port nobody listens on.
    let dead = TcpListener::bind(loopback()).await.expect("bind");
    let upstream = dead.local_addr().expect("address");
    drop(dead);
    let proxy = FaultProxy::start(loopback(), upstream).expect("start proxy");
    let mut stream = connect(&proxy).await;
    let mut buf = [0u8; 1];
    let read = timeout(PROMPTLY, stream.read(&mut buf))
        .await
        .expect("reset within PROMPTLY");
    let err = read.expect_err("read must fail");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let (proxy, _) = setup().await;
    let addr = proxy.local_addr();
    let control = proxy.control();
    proxy.shutdown().await;
    control.settled().await;
    let err = TcpStream::connect(addr)
        .await
        .expect_err("connect after shutdown");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    let err = FaultProxy::start(loopback(), loopback()).expect_err("no runtime");
    assert_eq!(err.kind(), ErrorKind::Other);
}

/// The engine starts the proxy inside an actix `System` (a current-thread
/// tokio runtime plus a `LocalSet`); `tokio::spawn` must work there.
#[actix_rt::test]
async fn runs_inside_an_actix_system() {
    let (proxy, _) = setup().await;
    let mut stream = connect(&proxy).await;
    assert_eq!(round_trip(&mut stream, b"actix").await, b"actix");
    let control = proxy.control();
    control.set(Some(ProxyFault::Refuse));
    control.settled().await;
    let err = TcpStream::connect(proxy.local_addr())
        .await
        .expect_err("connect must be refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    proxy.shutdown().await;
}
