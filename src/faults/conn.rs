//! One proxied connection: the relay loop that applies stall, latency and
//! reset to live traffic, and the responder that answers `status` itself.
//!
//! The relay is a manual read/write loop with one 16 KiB buffer per
//! direction rather than `copy_bidirectional`, because it must look at the
//! control state between reading a chunk and writing it: a fault set before
//! the peer's bytes arrived applies to those bytes, which is what makes the
//! stall test deterministic without sleeps.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::plan::ProxyFault;
use super::proxy::{Counters, Requested};

/// Bytes read per chunk, per direction; also the most a stall holds back.
const CHUNK: usize = 16 * 1024;
/// `status`: the most request-header bytes read before answering anyway.
const MAX_HEADER: usize = 64 * 1024;
/// `status`: how long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// `status`: after answering, how much of the request body is drained (so
/// closing with unread bytes does not turn our FIN into an RST) ...
const DRAIN_LIMIT: u64 = 1024 * 1024;
/// ... and for how long.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Closes `stream` abortively: SO_LINGER 0, so the peer gets an RST.
pub(super) fn abort(stream: TcpStream) {
    if let Err(err) = stream.set_zero_linger() {
        log::debug!("fault proxy: SO_LINGER 0 failed ({err}); closing normally");
    }
    drop(stream);
}

/// How a relayed connection ended.
enum Outcome {
    /// Both directions saw EOF and were half-closed in turn.
    Closed,
    /// A read or write failed; both sides are reset so the client sees a
    /// reset, as it would have without the proxy.
    Failed(io::Error),
    /// The `reset` fault hit it.
    Reset,
}

/// Relays `client` to `upstream` until both sides close, applying the
/// faults published on `control`.
pub(super) async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    control: watch::Receiver<Requested>,
    counters: Arc<Counters>,
) {
    let mut server = match TcpStream::connect(upstream).await {
        Ok(server) => server,
        Err(err) => {
            log::debug!("fault proxy: upstream {upstream} connect failed: {err}");
            abort(client);
            return;
        }
    };
    let mut client = client;
    // Events are small and latency-sensitive: no Nagle on either leg.
    for stream in [&client, &server] {
        if let Err(err) = stream.set_nodelay(true) {
            log::debug!("fault proxy: TCP_NODELAY failed: {err}");
        }
    }
    match relay(&mut client, &mut server, &control).await {
        Outcome::Closed => {}
        Outcome::Failed(err) => {
            log::debug!("fault proxy: connection to {upstream} failed: {err}");
            abort(client);
            abort(server);
        }
        Outcome::Reset => {
            counters.reset.fetch_add(1, Ordering::Relaxed);
            abort(client);
            abort(server);
        }
    }
}

async fn relay(
    client: &mut TcpStream,
    server: &mut TcpStream,
    control: &watch::Receiver<Requested>,
) -> Outcome {
    let (mut client_rx, mut client_tx) = client.split();
    let (mut server_rx, mut server_tx) = server.split();
    let up = pump(&mut client_rx, &mut server_tx, control.clone(), false);
    let down = pump(&mut server_rx, &mut client_tx, control.clone(), true);
    let mut watcher = control.clone();
    tokio::select! {
        res = async { tokio::try_join!(up, down) } => match res {
            Ok(_) => Outcome::Closed,
            Err(err) => Outcome::Failed(err),
        },
        () = until(&mut watcher, |fault| fault == Some(ProxyFault::Reset)) => Outcome::Reset,
    }
}

/// Copies `reader` to `writer` chunk by chunk until EOF, then half-closes
/// `writer`. Waits out a stall before reading and again before writing;
/// with `delayed`, sleeps out a latency fault before each write.
async fn pump<R, W>(
    reader: &mut R,
    writer: &mut W,
    mut control: watch::Receiver<Requested>,
    delayed: bool,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; CHUNK];
    loop {
        until(&mut control, not_stalled).await;
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return writer.shutdown().await;
        }
        // A fault set while the read was pending applies to this chunk.
        until(&mut control, not_stalled).await;
        if delayed {
            latency(&mut control).await;
        }
        writer.write_all(&buf[..n]).await?;
    }
}

fn not_stalled(fault: Option<ProxyFault>) -> bool {
    fault != Some(ProxyFault::Stall)
}

/// Resolves once the requested fault satisfies `pred` (at once if it does
/// now); never, if the control is gone (the proxy is shutting down and
/// aborts this task).
async fn until(
    control: &mut watch::Receiver<Requested>,
    pred: impl Fn(Option<ProxyFault>) -> bool,
) {
    if control.wait_for(|r| pred(r.fault)).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Sleeps out the current latency fault, cut short if the fault changes.
async fn latency(control: &mut watch::Receiver<Requested>) {
    let fault = control.borrow().fault;
    if let Some(ProxyFault::Latency(delay)) = fault {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = until(control, |now| now != fault) => {}
        }
    }
}

/// Answers the `status` fault: reads the request headers (bounded), writes
/// [`status_response`], half-closes, then drains what the client still sends
/// so the close stays a FIN.
pub(super) async fn answer_status(
    mut client: TcpStream,
    status: u16,
    retry_after: Option<Duration>,
) {
    match tokio::time::timeout(HEADER_TIMEOUT, read_headers(&mut client)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => log::debug!("fault proxy: reading request headers failed: {err}"),
        Err(_) => log::debug!("fault proxy: no request headers within {HEADER_TIMEOUT:?}"),
    }
    let response = status_response(status, retry_after);
    if let Err(err) = client.write_all(response.as_bytes()).await {
        log::debug!("fault proxy: writing status {status} failed: {err}");
        return;
    }
    if client.shutdown().await.is_err() {
        return;
    }
    let mut rest = (&mut client).take(DRAIN_LIMIT);
    let mut sink = tokio::io::sink();
    let drain = tokio::io::copy(&mut rest, &mut sink);
    // Either way the socket is dropped next; the timeout only bounds a client
    // that never closes.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
}

/// Reads until the end of the request headers, EOF, or [`MAX_HEADER`] bytes.
async fn read_headers(client: &mut TcpStream) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    while head.len() < MAX_HEADER {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let searched = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if header_end(&head, searched).is_some() {
            return Ok(());
        }
    }
    Ok(())
}

/// Offset just past the first `\r\n\r\n` in `head` at or after `from`.
pub(super) fn header_end(head: &[u8], from: usize) -> Option<usize> {
    head.get(from..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|pos| from + pos + 4)
}

/// The whole response the `status` fault writes: status line, empty body,
/// `Connection: close`, and `Retry-After` in whole seconds (rounded up)
/// when given. `status` is written as given (the scenario validates it).
pub(super) fn status_response(status: u16, retry_after: Option<Duration>) -> String {
    let mut response = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: 0\r\nConnection: close\r\n",
        reason(status)
    );
    if let Some(delay) = retry_after {
        let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        response.push_str(&format!("Retry-After: {secs}\r\n"));
    }
    response.push_str("\r\n");
    response
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => match status / 100 {
            4 => "Client Error",
            5 => "Server Error",
            _ => "Status",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_responses() {
        let ms = Duration::from_millis;
        let cases = [
            (
                503,
                Some(ms(1000)),
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\
                 Connection: close\r\nRetry-After: 1\r\n\r\n",
            ),
            (
                429,
                Some(ms(1500)),
                "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\
                 Connection: close\r\nRetry-After: 2\r\n\r\n",
            ),
            (
                500,
                Some(ms(0)),
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\
                 Connection: close\r\nRetry-After: 0\r\n\r\n",
            ),
            (
                599,
                None,
                "HTTP/1.1 599 Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ),
            (
                418,
                None,
                "HTTP/1.1 418 Client Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ),
        ];
        for (status, retry_after, want) in cases {
            assert_eq!(status_response(status, retry_after), want, "{status}");
        }
    }

    #[test]
    fn header_end_finds_the_blank_line() {
        let cases: &[(&[u8], usize, Option<usize>)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", 0, Some(18)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 0, Some(27)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", 0, None),
            (b"\r\n\r\n", 0, Some(4)),
            (b"ab\r\n\r\n", 1, Some(6)),
            (b"\r\n\r\n", 1, None),
            (b"", 0, None),
            (b"ab", 5, None),
        ];
        for &(head, from, want) in cases {
            assert_eq!(header_end(head, from), want, "{:?} from {from}", head);
        }
    }
}
