//! One proxied connection: the relay loop that applies stall, latency and
//! reset to live traffic, catches new requests on kept-alive connections
//! for `status` and `refuse`, and the responder that answers `status` itself.
//!
//! The relay is a manual read/write loop with one 16 KiB buffer per
//! direction rather than `copy_bidirectional`, because it must look at the
//! control state between reading a chunk and writing it: a fault set before
//! the peer's bytes arrived applies to those bytes, which is what makes the
//! stall test deterministic without sleeps.
//!
//! # New requests on a kept-alive connection
//!
//! An HTTP/1.1 client without pipelining (awc, and every SSE client) sends
//! bytes only to make a request, and makes the next one on the same
//! connection only after the previous response began (in fact, ended). So
//! the relay keeps one flag per connection, [`Boundary`]: set when the
//! connection opens and whenever the target sends bytes, cleared by the
//! client's next chunk. A client chunk read while it is set is the start of
//! a new request; if `status` or `refuse` is active at that moment the chunk
//! is not forwarded and the connection is answered or dropped instead. Later
//! chunks of the same request (headers split over several segments, a body)
//! pass as usual, and a response in progress is never touched. Not
//! recognised: `Expect: 100-continue` (the body after the interim response
//! would count as a new request) and protocol upgrades; SSE clients use
//! neither.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
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
/// `status`: the most request-body bytes (`Content-Length`) read before
/// answering; the rest is drained after the answer.
const MAX_BODY: u64 = 1024 * 1024;
/// `status`: how long a client may take to send its request headers and body.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// `status`: after answering, how much the client still sends is drained (so
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
    /// A new request arrived while `status` or `refuse` was active.
    Intercepted(Intercept),
}

/// What the relay does with a new request instead of forwarding it.
enum Intercept {
    /// Answer it with the `status` fault's response; `head` is the
    /// request's first chunk, already read.
    Status {
        status: u16,
        retry_after: Option<Duration>,
        head: Vec<u8>,
    },
    /// Drop the connection with an RST (`refuse`).
    Refuse,
}

/// Why a pump stopped early.
enum Stop {
    Io(io::Error),
    Intercept(Intercept),
}

impl From<io::Error> for Stop {
    fn from(err: io::Error) -> Stop {
        Stop::Io(err)
    }
}

/// Set while the connection is between requests: when it opens, and once
/// the target began answering. Both pumps run in one task, so relaxed
/// ordering is enough: the target's chunk is seen (and the flag set) before
/// it is written to the client, which sends its next request only after.
struct Boundary(AtomicBool);

impl Boundary {
    fn new() -> Boundary {
        Boundary(AtomicBool::new(true))
    }

    /// The client sent a chunk: whether it starts a new request.
    fn request_chunk(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }

    /// The target sent a chunk: a response began, so the client's next
    /// chunk is a new request.
    fn response_chunk(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Which way a pump copies.
#[derive(Clone, Copy)]
enum Direction {
    /// Client to target: new requests may be intercepted.
    Requests,
    /// Target to client: marks response starts; slowed by `latency`.
    Responses,
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
        Outcome::Intercepted(Intercept::Status {
            status,
            retry_after,
            head,
        }) => {
            counters.status_answered.fetch_add(1, Ordering::Relaxed);
            // The target's side is idle between requests: a plain close.
            drop(server);
            answer_status(client, status, retry_after, head).await;
        }
        Outcome::Intercepted(Intercept::Refuse) => {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            abort(client);
            drop(server);
        }
    }
}

async fn relay(
    client: &mut TcpStream,
    server: &mut TcpStream,
    control: &watch::Receiver<Requested>,
) -> Outcome {
    let boundary = Boundary::new();
    let (mut client_rx, mut client_tx) = client.split();
    let (mut server_rx, mut server_tx) = server.split();
    let up = pump(
        &mut client_rx,
        &mut server_tx,
        control.clone(),
        Direction::Requests,
        &boundary,
    );
    let down = pump(
        &mut server_rx,
        &mut client_tx,
        control.clone(),
        Direction::Responses,
        &boundary,
    );
    let mut watcher = control.clone();
    tokio::select! {
        res = async { tokio::try_join!(up, down) } => match res {
            Ok(_) => Outcome::Closed,
            Err(Stop::Io(err)) => Outcome::Failed(err),
            Err(Stop::Intercept(intercept)) => Outcome::Intercepted(intercept),
        },
        () = until(&mut watcher, |fault| fault == Some(ProxyFault::Reset)) => Outcome::Reset,
    }
}

/// Copies `reader` to `writer` chunk by chunk until EOF, then half-closes
/// `writer`. Waits out a stall before reading and again before writing.
/// Towards the client, marks each chunk on `boundary` and sleeps out a
/// latency fault before each write; towards the target, stops with an
/// [`Intercept`] when a chunk starts a new request under `status` or
/// `refuse`.
async fn pump<R, W>(
    reader: &mut R,
    writer: &mut W,
    mut control: watch::Receiver<Requested>,
    direction: Direction,
    boundary: &Boundary,
) -> Result<(), Stop>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; CHUNK];
    loop {
        until(&mut control, not_stalled).await;
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(writer.shutdown().await?);
        }
        let new_request = match direction {
            Direction::Requests => boundary.request_chunk(),
            Direction::Responses => {
                boundary.response_chunk();
                false
            }
        };
        // A fault set while the read was pending applies to this chunk.
        until(&mut control, not_stalled).await;
        if new_request {
            if let Some(intercept) = intercept(control.borrow().fault, &buf[..n]) {
                return Err(Stop::Intercept(intercept));
            }
        }
        if let Direction::Responses = direction {
            latency(&mut control).await;
        }
        writer.write_all(&buf[..n]).await?;
    }
}

/// What to do instead of forwarding a new request that starts with `chunk`
/// while `fault` is active; `None` to forward it.
fn intercept(fault: Option<ProxyFault>, chunk: &[u8]) -> Option<Intercept> {
    match fault? {
        ProxyFault::Status {
            status,
            retry_after,
        } => Some(Intercept::Status {
            status,
            retry_after,
            head: chunk.to_vec(),
        }),
        ProxyFault::Refuse => Some(Intercept::Refuse),
        ProxyFault::Reset | ProxyFault::Stall | ProxyFault::Latency(_) => None,
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

/// Answers the `status` fault: reads the rest of the request (`head` is what
/// was already read of it: nothing on a new connection, the first chunk on
/// a kept-alive one) — headers and a `Content-Length` body, bounded — writes
/// [`status_response`], half-closes, then drains what the client still sends
/// so the close stays a FIN.
pub(super) async fn answer_status(
    mut client: TcpStream,
    status: u16,
    retry_after: Option<Duration>,
    head: Vec<u8>,
) {
    match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut client, head)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => log::debug!("fault proxy: reading the request failed: {err}"),
        Err(_) => log::debug!("fault proxy: no whole request within {REQUEST_TIMEOUT:?}"),
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

/// Reads, after `head`, until the end of the request headers (or EOF, or
/// [`MAX_HEADER`] bytes), then the body its `Content-Length` announces (at
/// most [`MAX_BODY`]; a chunked body is left to the drain).
async fn read_request(client: &mut TcpStream, mut head: Vec<u8>) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    let mut searched = 0;
    let end = loop {
        if let Some(end) = header_end(&head, searched) {
            break end;
        }
        if head.len() >= MAX_HEADER {
            return Ok(());
        }
        searched = head.len().saturating_sub(3);
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    };
    let body = content_length(&head[..end]).unwrap_or(0).min(MAX_BODY);
    let unread = body.saturating_sub((head.len() - end) as u64);
    let mut rest = client.take(unread);
    tokio::io::copy(&mut rest, &mut tokio::io::sink()).await?;
    Ok(())
}

/// The `Content-Length` of a request head (request line and headers), if it
/// has a valid one.
pub(super) fn content_length(head: &[u8]) -> Option<u64> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = line.split_at(colon);
        if !name.eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
    })
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
    fn content_length_of_a_request_head() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n", Some(12)),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\ncontent-length:3\r\n\r\n",
                Some(3),
            ),
            (b"POST / HTTP/1.1\nCONTENT-LENGTH:  7 \n\n", Some(7)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", None),
            (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", None),
            (b"POST / HTTP/1.1\r\nX-Content-Length: 5\r\n\r\n", None),
            // The request line is not a header.
            (b"Content-Length: 5\r\n\r\n", None),
            (b"", None),
        ];
        for &(head, want) in cases {
            assert_eq!(
                content_length(head),
                want,
                "{:?}",
                String::from_utf8_lossy(head)
            );
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
