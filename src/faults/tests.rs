//! End-to-end tests of [`FaultProxy`] on 127.0.0.1: a tiny echo server as
//! the target, plain tokio sockets as the client, one test per fault kind.
//! No sleeps: ordering comes from `set` happening before the client acts,
//! and from [`ProxyControl::settled`] for the listener. The only timeout
//! that must expire is the stall check (an absence of bytes).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

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
async fn refuse_closes_the_port_and_reopens_it() {
    let (proxy, _) = setup().await;
    let control = proxy.control();
    let mut open = connect(&proxy).await;
    // Accepted by the proxy (not just queued by the kernel) once it echoes.
    assert_eq!(round_trip(&mut open, b"hi").await, b"hi");

    control.set(Some(ProxyFault::Refuse));
    control.settled().await;
    let err = TcpStream::connect(proxy.local_addr())
        .await
        .expect_err("connect must be refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    // A connection opened before the window is untouched.
    assert_eq!(round_trip(&mut open, b"still here").await, b"still here");

    control.set(None);
    control.settled().await;
    let mut again = connect(&proxy).await;
    assert_eq!(again.peer_addr().ok(), Some(proxy.local_addr()));
    assert_eq!(round_trip(&mut again, b"back").await, b"back");
    assert_eq!(proxy.stats().connections, 2);
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

#[tokio::test]
async fn status_answers_new_connections_only() {
    let (proxy, accepted) = setup().await;
    let control = proxy.control();
    let mut open = connect(&proxy).await;
    assert_eq!(round_trip(&mut open, b"before").await, b"before");

    control.set(Some(ProxyFault::Status {
        status: 503,
        retry_after: Some(Duration::from_secs(1)),
    }));
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
    let mut response = String::new();
    timeout(PROMPTLY, stream.read_to_string(&mut response))
        .await
        .expect("response within PROMPTLY")
        .expect("read response");
    assert_eq!(
        response,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\
         Connection: close\r\nRetry-After: 1\r\n\r\n"
    );
    assert_eq!(round_trip(&mut open, b"after").await, b"after");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "status reached upstream"
    );
    assert_eq!(proxy.stats().status_answered, 1);
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
