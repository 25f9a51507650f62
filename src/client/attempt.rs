//! One stream attempt: send → headers → events → outcome.
//!
//! The attempt owns every timeout awc does not: `first_event_timeout` (from
//! the response headers to the first event), `idle_timeout` (longest gap
//! between events) and `max_duration` (the whole attempt). awc's own timeout
//! (`http.timeout`) covers connect and response headers.
//!
//! Per-event work happens here, on the session's thread, and allocates
//! nothing beyond what the parser and the event sink need: timestamps are
//! taken once per chunk read (events in one chunk arrived together), the
//! timer is re-armed lazily (only when it fires early, not per event), and
//! JSON fields are borrowed from the event data ([`crate::client::fields`]).

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant, SystemTime};

use awc::error::{ConnectError, PayloadError, SendRequestError};
use awc::http::header::{HeaderMap, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use futures_util::StreamExt;
use tokio::time::{sleep_until, Instant as TokioInstant};

use crate::client::cancel::Cancel;
use crate::client::classify::FailureKind;
use crate::client::fields::{self, Fields};
use crate::client::retry::parse_retry_after;
use crate::client::PreparedRequest;
use crate::scenario::{Format, StreamSpec};
use crate::sse::{self, Item};

/// How long to keep reading after the completion event so the connection
/// can go back to the pool (the server normally ends the body at once).
const DRAIN_AFTER_DONE: Duration = Duration::from_millis(100);

/// Why an attempt failed, with what a user needs to act on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The class and kind.
    pub kind: FailureKind,
    /// Human detail (status, I/O error text…); never contains header values.
    pub detail: String,
    /// `Retry-After` of a 429/503 answer, if any.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure with a detail message.
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Failure {
        Failure {
            kind,
            detail: detail.into(),
            retry_after: None,
        }
    }
}

/// What one attempt measured.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    /// When the request was sent.
    pub started: Instant,
    /// Request sent → response headers.
    pub ttfb: Option<Duration>,
    /// Request sent → first event.
    pub ttfe: Option<Duration>,
    /// Request sent → completion or failure.
    pub duration: Duration,
    /// Events dispatched (the completion event included).
    pub events: u64,
    /// Body bytes received (as sent on the wire, before any decoding).
    pub bytes: u64,
    /// Events whose data was not the JSON expected (the stream went on).
    pub malformed_events: u64,
    /// HTTP status, when headers arrived.
    pub status: Option<u16>,
    /// `Ok` when the stream completed.
    pub result: Result<(), Failure>,
}

impl AttemptOutcome {
    /// True when the stream completed.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// One event as the attempt saw it, handed to an [`EventSink`].
#[derive(Debug)]
pub struct SeenEvent<'a> {
    /// When the chunk holding it was read.
    pub at: Instant,
    /// Since the previous event of this attempt (None for the first).
    pub gap: Option<Duration>,
    /// The decoded event.
    pub event: &'a sse::Event<'a>,
    /// JSON fields in `json` format (None in `text` format or when malformed).
    pub fields: Option<&'a Fields<'a>>,
}

/// Receives each event of an attempt, on the attempt's thread.
///
/// Implementations record into their own state (histograms, a collected
/// list, an output file); they must not block.
pub trait EventSink {
    /// Called for every dispatched event.
    fn event(&mut self, seen: &SeenEvent<'_>);
}

/// A sink that ignores events.
impl EventSink for () {
    fn event(&mut self, _: &SeenEvent<'_>) {}
}

/// Runs one attempt to completion, failure or cancellation, reading and
/// judging the stream as `stream` (the scenario's `[stream]`) says.
pub async fn run(
    client: &awc::Client,
    request: &PreparedRequest,
    body: Bytes,
    stream: &StreamSpec,
    sink: &mut impl EventSink,
    cancel: &mut Cancel,
) -> AttemptOutcome {
    let started = Instant::now();
    let mut out = AttemptOutcome {
        started,
        ttfb: None,
        ttfe: None,
        duration: Duration::ZERO,
        events: 0,
        bytes: 0,
        malformed_events: 0,
        status: None,
        result: Ok(()),
    };
    out.result = drive(client, request, body, stream, sink, cancel, &mut out).await;
    out.duration = started.elapsed();
    match &out.result {
        Ok(()) => log::debug!(
            "attempt ok: {} events, {} bytes in {:?} (ttfb {:?}, ttfe {:?})",
            out.events,
            out.bytes,
            out.duration,
            out.ttfb.unwrap_or_default(),
            out.ttfe.unwrap_or_default()
        ),
        Err(failure) => log::debug!(
            "attempt failed after {:?}: {}/{} ({})",
            out.duration,
            failure.kind.class(),
            failure.kind,
            failure.detail
        ),
    }
    out
}

async fn drive(
    client: &awc::Client,
    request: &PreparedRequest,
    body: Bytes,
    stream: &StreamSpec,
    sink: &mut impl EventSink,
    cancel: &mut Cancel,
    out: &mut AttemptOutcome,
) -> Result<(), Failure> {
    let started = out.started;
    let hard_deadline = started + stream.max_duration;
    let mut req = client.request(request.method.clone(), &request.url);
    for (name, value) in &request.headers {
        req = req.insert_header((name.clone(), value.clone()));
    }
    let send = req.send_body(body);
    let mut cancelled = Gated::new(cancel.cancelled());
    let mut response = tokio::select! {
        biased;
        _ = &mut cancelled => return Err(Failure::new(FailureKind::Cancelled, "cancelled before headers")),
        _ = sleep_until(TokioInstant::from_std(hard_deadline)) => {
            return Err(Failure::new(FailureKind::MaxDuration, "no response headers within max_duration"));
        }
        sent = send => sent.map_err(classify_send)?,
    };
    let headers_at = Instant::now();
    out.ttfb = Some(headers_at - started);
    let status = response.status();
    out.status = Some(status.as_u16());
    check_head(status.as_u16(), response.headers())?;
    check_framing(response.version(), response.headers())?;
    let mut decoder = Decoder::for_headers(response.headers())?;

    let mut parser = sse::Parser::new(stream.max_event_size);
    let mut last_event: Option<Instant> = None;
    let mut deadline = (headers_at + stream.first_event_timeout).min(hard_deadline);
    let timer = sleep_until(TokioInstant::from_std(deadline));
    tokio::pin!(timer);
    let mut completed = false;
    loop {
        let chunk = tokio::select! {
            biased;
            _ = &mut cancelled => return Err(Failure::new(FailureKind::Cancelled, "cancelled mid-stream")),
            chunk = response.next() => chunk,
            _ = &mut timer => {
                // Lazily re-armed: the deadline may have moved since it was set.
                let now = Instant::now();
                if now < deadline {
                    timer.as_mut().reset(TokioInstant::from_std(deadline));
                    continue;
                }
                return Err(timeout_failure(last_event.is_some(), deadline == hard_deadline, stream));
            }
        };
        let bytes = match chunk {
            None => break,
            Some(Ok(bytes)) => bytes,
            Some(Err(err)) => return Err(classify_payload(err)),
        };
        let now = Instant::now();
        out.bytes += bytes.len() as u64;
        if log::log_enabled!(log::Level::Trace) {
            for line in String::from_utf8_lossy(&bytes).lines() {
                log::trace!("sse line: {line}");
            }
        }
        parser.feed(decoder.decode(&bytes)?);
        while let Some(item) = parser.next() {
            let event = match item {
                Ok(Item::Event(event)) => event,
                Ok(_) => continue,
                Err(err) => return Err(Failure::new(FailureKind::OversizedEvent, err.to_string())),
            };
            out.events += 1;
            let gap = last_event.map(|t| now - t);
            if last_event.is_none() {
                out.ttfe = Some(now - started);
            }
            last_event = Some(now);
            let verdict = judge(&event, stream, sink, now, gap);
            match verdict {
                Verdict::Continue => {}
                Verdict::Malformed => out.malformed_events += 1,
                Verdict::Done => completed = true,
                Verdict::ServerError(message) => {
                    return Err(Failure::new(FailureKind::ServerError, message));
                }
            }
            if completed {
                break;
            }
        }
        if completed {
            drain(&mut response).await;
            break;
        }
        if let Some(t) = last_event {
            deadline = (t + stream.idle_timeout).min(hard_deadline);
        }
    }
    if !completed && stream.done.is_some() {
        return Err(Failure::new(
            FailureKind::Cut,
            format!(
                "body ended after {} events without the completion event",
                out.events
            ),
        ));
    }
    if let Some(expected) = stream.expect_events {
        if out.events < expected {
            return Err(Failure::new(
                FailureKind::Cut,
                format!("completed with {} events, expected {expected}", out.events),
            ));
        }
    }
    Ok(())
}

/// A future polled only after its own waker fired (and once to start).
///
/// Why: `select!` polls every branch each time the task wakes — once or
/// twice per event. A pending `Cancel::cancelled` (a `watch` wait) takes the
/// channel's mutex on every poll, and that channel is shared by every session
/// on every arbiter: a contended lock per event. Behind the gate the wait
/// registers once per attempt; later polls cost an uncontended atomic swap
/// and an [`AtomicWaker::register`] (measured in BENCHMARKS.md).
struct Gated<F> {
    inner: Pin<Box<F>>,
    wake: Arc<GateWake>,
}

struct GateWake {
    /// The inner future asked to be polled (true at first, to register it).
    fired: AtomicBool,
    /// The task polling the gate.
    task: AtomicWaker,
}

impl Wake for GateWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<F: Future> Gated<F> {
    fn new(inner: F) -> Self {
        Gated {
            inner: Box::pin(inner),
            wake: Arc::new(GateWake {
                fired: AtomicBool::new(true),
                task: AtomicWaker::new(),
            }),
        }
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Register first: a wake between the swap and the inner poll is not lost.
        self.wake.task.register(cx.waker());
        if !self.wake.fired.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(Arc::clone(&self.wake));
        self.inner.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

enum Verdict {
    Continue,
    Malformed,
    Done,
    ServerError(String),
}

fn judge(
    event: &sse::Event<'_>,
    stream: &StreamSpec,
    sink: &mut impl EventSink,
    at: Instant,
    gap: Option<Duration>,
) -> Verdict {
    match stream.format {
        Format::Text => {
            sink.event(&SeenEvent {
                at,
                gap,
                event,
                fields: None,
            });
            if event.kind == "error" {
                Verdict::ServerError(format!("error event: {}", truncate(event.data)))
            } else if stream.done.as_deref() == Some(event.data) {
                Verdict::Done
            } else {
                Verdict::Continue
            }
        }
        Format::Json => match fields::parse(stream.field_names(), event.data) {
            Err(_) => {
                sink.event(&SeenEvent {
                    at,
                    gap,
                    event,
                    fields: None,
                });
                Verdict::Malformed
            }
            Ok(parsed) => {
                sink.event(&SeenEvent {
                    at,
                    gap,
                    event,
                    fields: Some(&parsed),
                });
                if let Some(error) = &parsed.error {
                    Verdict::ServerError(format!("server-sent error: {}", truncate(error)))
                } else if stream.done.is_some() && parsed.data.as_deref() == stream.done.as_deref()
                {
                    Verdict::Done
                } else {
                    Verdict::Continue
                }
            }
        },
    }
}

fn truncate(text: &str) -> &str {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Reads what is left of the body for a moment so the connection can be reused.
async fn drain<S>(response: &mut S)
where
    S: futures_util::Stream + Unpin,
{
    let _ = tokio::time::timeout(DRAIN_AFTER_DONE, async {
        while response.next().await.is_some() {}
    })
    .await;
}

fn timeout_failure(had_event: bool, at_hard_deadline: bool, stream: &StreamSpec) -> Failure {
    if at_hard_deadline {
        Failure::new(
            FailureKind::MaxDuration,
            format!(
                "stream still open after max_duration {:?}",
                stream.max_duration
            ),
        )
    } else if had_event {
        Failure::new(
            FailureKind::IdleTimeout,
            format!("no event for idle_timeout {:?}", stream.idle_timeout),
        )
    } else {
        Failure::new(
            FailureKind::FirstEventTimeout,
            format!(
                "no event within first_event_timeout {:?}",
                stream.first_event_timeout
            ),
        )
    }
}

fn check_head(status: u16, headers: &HeaderMap) -> Result<(), Failure> {
    if !(200..300).contains(&status) {
        let mut failure = Failure::new(FailureKind::from_status(status), format!("HTTP {status}"));
        if status == 429 || status == 503 {
            failure.retry_after = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
        }
        return Err(failure);
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("text/event-stream") {
        let shown = if content_type.is_empty() {
            "no Content-Type"
        } else {
            content_type
        };
        return Err(Failure::new(
            FailureKind::WrongContentType,
            format!("expected text/event-stream, got {}", truncate(shown)),
        ));
    }
    Ok(())
}

/// awc reads an HTTP/1.1 response with neither `Content-Length` nor
/// chunked `Transfer-Encoding` (a body delimited by the connection close,
/// RFC 9112 §6.3) as an empty body. Rather than report a misleading `cut`
/// with 0 events, name the cause. HTTP/1.0 close-delimited bodies are read fine.
fn check_framing(version: awc::http::Version, headers: &HeaderMap) -> Result<(), Failure> {
    let framed = headers.contains_key(awc::http::header::CONTENT_LENGTH)
        || headers.contains_key(awc::http::header::TRANSFER_ENCODING);
    if version == awc::http::Version::HTTP_11 && !framed {
        return Err(Failure::new(
            FailureKind::MalformedResponse,
            "HTTP/1.1 event stream without Content-Length or chunked Transfer-Encoding (body delimited by the connection close): the HTTP client cannot read it; have the server use chunked encoding",
        ));
    }
    Ok(())
}

/// Undoes a `Content-Encoding` we did not ask for, incrementally.
enum Decoder {
    Identity,
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
}

impl Decoder {
    fn for_headers(headers: &HeaderMap) -> Result<Decoder, Failure> {
        let encoding = headers
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .trim();
        match encoding.to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Decoder::Identity),
            "gzip" | "x-gzip" => Ok(Decoder::Gzip(flate2::write::GzDecoder::new(Vec::new()))),
            "deflate" => Ok(Decoder::Deflate(
                flate2::write::ZlibDecoder::new(Vec::new()),
            )),
            other => Err(Failure::new(
                FailureKind::MalformedResponse,
                format!("unsupported Content-Encoding `{}`", truncate(other)),
            )),
        }
    }

    fn decode<'a>(&'a mut self, bytes: &'a [u8]) -> Result<&'a [u8], Failure> {
        let corrupt = |err: std::io::Error| {
            Failure::new(
                FailureKind::MalformedResponse,
                format!("bad compressed body: {err}"),
            )
        };
        match self {
            Decoder::Identity => Ok(bytes),
            Decoder::Gzip(d) => {
                d.get_mut().clear();
                d.write_all(bytes)
                    .and_then(|()| d.flush())
                    .map_err(corrupt)?;
                Ok(d.get_ref())
            }
            Decoder::Deflate(d) => {
                d.get_mut().clear();
                d.write_all(bytes)
                    .and_then(|()| d.flush())
                    .map_err(corrupt)?;
                Ok(d.get_ref())
            }
        }
    }
}

/// Classifies an awc send error (before response headers).
pub fn classify_send(err: SendRequestError) -> Failure {
    let kind = match &err {
        SendRequestError::Connect(connect) => match connect {
            ConnectError::Timeout => FailureKind::ConnectTimeout,
            ConnectError::Resolver(_) | ConnectError::NoRecords | ConnectError::Unresolved => {
                FailureKind::Dns
            }
            ConnectError::SslIsNotSupported => FailureKind::Tls,
            ConnectError::Io(io) => classify_io(io),
            _ => FailureKind::Reset,
        },
        SendRequestError::Send(io) => classify_io(io),
        SendRequestError::Response(parse) => match parse {
            actix_http::error::ParseError::Io(io) => classify_io(io),
            actix_http::error::ParseError::Incomplete => FailureKind::Reset,
            _ => FailureKind::MalformedResponse,
        },
        SendRequestError::Timeout => FailureKind::ConnectTimeout,
        SendRequestError::H2(_) | SendRequestError::Body(_) => FailureKind::Reset,
        SendRequestError::Url(_) => FailureKind::Dns,
        _ => FailureKind::MalformedResponse,
    };
    let detail = match kind {
        FailureKind::ConnectRefused => {
            format!("{err} (is the server running on that port?)")
        }
        FailureKind::ConnectTimeout => {
            format!("{err} (connect + response headers exceeded http.timeout)")
        }
        _ => err.to_string(),
    };
    Failure::new(kind, detail)
}

/// Classifies a body read error (after response headers).
fn classify_payload(err: PayloadError) -> Failure {
    let kind = match &err {
        PayloadError::Incomplete(Some(io)) | PayloadError::Io(io) => match classify_io(io) {
            FailureKind::Reset => FailureKind::Reset,
            _ => FailureKind::Cut,
        },
        PayloadError::Incomplete(None) => FailureKind::Cut,
        PayloadError::EncodingCorrupted | PayloadError::Overflow | PayloadError::UnknownLength => {
            FailureKind::MalformedResponse
        }
        _ => FailureKind::Reset,
    };
    Failure::new(kind, err.to_string())
}

fn classify_io(err: &std::io::Error) -> FailureKind {
    use std::io::ErrorKind as K;
    if is_tls_error(err) {
        return FailureKind::Tls;
    }
    match err.kind() {
        K::ConnectionRefused => FailureKind::ConnectRefused,
        K::TimedOut => FailureKind::ConnectTimeout,
        K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
            FailureKind::Unreachable
        }
        K::ConnectionReset
        | K::ConnectionAborted
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::NotConnected => FailureKind::Reset,
        _ => match err.raw_os_error() {
            Some(101) | Some(113) => FailureKind::Unreachable,
            _ => FailureKind::Reset,
        },
    }
}

fn is_tls_error(err: &std::io::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.get_ref().map(|err| err as _);
    while let Some(inner) = source {
        if inner.is::<rustls::Error>() {
            return true;
        }
        source = inner.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use awc::http::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                awc::http::header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        }
        map
    }

    #[test]
    fn head_checks() {
        let sse = headers(&[("content-type", "text/event-stream; charset=utf-8")]);
        assert!(check_head(200, &sse).is_ok());
        let upper = headers(&[("content-type", "Text/Event-Stream")]);
        assert!(check_head(200, &upper).is_ok());
        for (status, kind) in [
            (400, FailureKind::Status4xx),
            (408, FailureKind::Status408),
            (429, FailureKind::Status429),
            (503, FailureKind::Status5xx),
        ] {
            assert_eq!(check_head(status, &sse).map_err(|f| f.kind), Err(kind));
        }
        let html = headers(&[("content-type", "text/html")]);
        assert_eq!(
            check_head(200, &html).map_err(|f| f.kind),
            Err(FailureKind::WrongContentType)
        );
        assert_eq!(
            check_head(200, &HeaderMap::new()).map_err(|f| f.kind),
            Err(FailureKind::WrongContentType)
        );
        let limited = headers(&[("retry-after", "7"), ("content-type", "text/plain")]);
        let failure = check_head(503, &limited).expect_err("503 fails");
        assert_eq!(failure.retry_after, Some(Duration::from_secs(7)));
        let failure = check_head(500, &limited).expect_err("500 fails");
        assert_eq!(failure.retry_after, None, "only 429/503 carry Retry-After");
    }

    /// Counts how often the inner future is polled.
    struct Counted<'a>(&'a std::cell::Cell<u32>);

    impl Future for Counted<'_> {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            self.0.set(self.0.get() + 1);
            Poll::Pending
        }
    }

    #[test]
    fn gate_polls_the_inner_future_once_until_it_wakes() {
        let polls = std::cell::Cell::new(0);
        let mut gated = Gated::new(Counted(&polls));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..5 {
            assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        }
        assert_eq!(polls.get(), 1, "registered once, never woken");
        Waker::from(Arc::clone(&gated.wake)).wake();
        assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        assert_eq!(polls.get(), 2, "polled again after its waker fired");
    }

    #[actix_rt::test]
    async fn gated_cancel_still_wakes_the_task() {
        let (handle, mut token) = crate::client::cancel::CancelHandle::new();
        let mut gated = Gated::new(token.cancelled());
        let pending = tokio::select! {
            biased;
            _ = &mut gated => false,
            _ = std::future::ready(()) => true,
        };
        assert!(pending);
        let canceller = std::thread::spawn(move || handle.cancel());
        tokio::time::timeout(Duration::from_secs(5), &mut gated)
            .await
            .expect("a cancel from another thread wakes the gated future");
        canceller.join().expect("cancel thread");
    }

    #[test]
    fn gzip_decoding_is_incremental() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"data: a\n\ndata: b\n\n").expect("in memory");
        let compressed = gz.finish().expect("in memory");
        let mut decoder = Decoder::for_headers(&headers(&[("content-encoding", "gzip")]))
            .expect("gzip supported");
        let mut plain = Vec::new();
        for chunk in compressed.chunks(3) {
            plain.extend_from_slice(decoder.decode(chunk).expect("valid gzip"));
        }
        assert_eq!(plain, b"data: a\n\ndata: b\n\n");
        assert!(Decoder::for_headers(&headers(&[("content-encoding", "br")])).is_err());
    }

    #[test]
    fn io_classes() {
        use std::io::{Error, ErrorKind};
        for (kind, expected) in [
            (ErrorKind::ConnectionRefused, FailureKind::ConnectRefused),
            (ErrorKind::ConnectionReset, FailureKind::Reset),
            (ErrorKind::BrokenPipe, FailureKind::Reset),
            (ErrorKind::TimedOut, FailureKind::ConnectTimeout),
            (ErrorKind::NetworkUnreachable, FailureKind::Unreachable),
        ] {
            assert_eq!(classify_io(&Error::from(kind)), expected, "{kind:?}");
        }
        let tls = Error::new(ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(classify_io(&tls), FailureKind::Tls);
        assert_eq!(
            classify_payload(PayloadError::Incomplete(None)).kind,
            FailureKind::Cut
        );
        assert_eq!(
            classify_payload(PayloadError::Io(Error::from(ErrorKind::ConnectionReset))).kind,
            FailureKind::Reset
        );
    }
}
