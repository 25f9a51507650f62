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
//!
//! Resuming (WHATWG "reconnect", `[stream] resume`): the caller keeps the
//! wanted stream's last event ID across attempts. An attempt sends it as
//! `Last-Event-ID` when it is not empty, starts its parser from it (so an
//! event without an `id` field carries it), and hands the ID it ended with
//! back, whatever way it ended. The last `retry:` field it read goes back in
//! [`AttemptOutcome::retry_field`] for the retry loop.
//!
//! The jobs around it live beside it: `judge.rs` (what an event means),
//! `decode.rs` (status, framing and `Content-Encoding`), `classify_io.rs`
//! (awc errors to failure kinds) and `gate.rs` (a cheap cancellation wait).

use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use actix_http::error::PayloadError;
use actix_http::HttpMessage as _;
use awc::http::header::{HeaderName, HeaderValue};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::{sleep_until, Instant as TokioInstant};

use crate::client::cancel::Cancel;
use crate::client::classify::FailureKind;
use crate::client::classify_io::{classify_payload, classify_send};
use crate::client::config::StreamSpec;
use crate::client::decode::{check_head, Decoder};
use crate::client::dialect::Tokens;
use crate::client::fields::Fields;
use crate::client::gate::Gated;
use crate::client::judge::{judge, Verdict};
use crate::client::protocol::HttpVersion;
use crate::client::PreparedRequest;
use crate::sse::{self, Item};

/// The header that resumes a stream (WHATWG: "Last-Event-ID").
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

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
    /// The last valid SSE `retry:` field of this attempt (the server's
    /// reconnection time), if it sent one.
    pub retry_field: Option<Duration>,
    /// The negotiated HTTP version, when headers arrived.
    pub version: Option<HttpVersion>,
    /// LLM token streams: content chunks, the server's token count, the
    /// first and last content (all zero for other formats).
    pub tokens: Tokens,
    /// `Ok` when the stream completed.
    pub result: Result<(), Failure>,
}

impl AttemptOutcome {
    /// True when the stream completed.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// Request sent → first content chunk (LLM token streams).
    pub fn ttft(&self) -> Option<Duration> {
        self.tokens
            .first_content()
            .map(|t| t.saturating_duration_since(self.started))
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
    /// JSON fields in `json` format (None in `text` format, in an LLM
    /// token stream, or when malformed).
    pub fields: Option<&'a Fields<'a>>,
    /// LLM token streams: the event is a content chunk (a token).
    pub content: bool,
    /// Since the previous content chunk, when this one is a content chunk
    /// after another (the `itl` metric).
    pub itl: Option<Duration>,
}

/// Receives each event of an attempt, on the attempt's thread.
///
/// Implementations record into their own state (histograms, a collected
/// list, an output file); they must not block.
pub trait EventSink {
    /// Called for every dispatched event.
    fn event(&mut self, seen: &SeenEvent<'_>);
    /// The response was accepted as an event stream (status 200,
    /// `text/event-stream`) at `at`; events may follow.
    fn stream_opened(&mut self, _at: Instant) {}
}

/// What a subscription carries from one attempt to the next (subscribe
/// mode, issue #16), passed into [`run`] and updated by it.
///
/// Kept apart from the request-mode settings on purpose: it is the
/// EventSource's own state (its last event ID string and reconnection
/// time), owned by [`StreamService`](crate::client::StreamService)'s driver. A fresh
/// `Carry::default()` is request mode: no `Last-Event-ID`, no hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Carry {
    /// Sent as `Last-Event-ID` when not empty, and the parser starts from
    /// it; updated to the last event ID as events arrive (WHATWG: the ID
    /// persists across events and reconnections).
    pub last_event_id: String,
    /// The last `retry:` field seen: the reconnection time the server asks for.
    pub retry: Option<Duration>,
    /// Subscribe mode: when the attempt closes the stream itself, which
    /// completes it; an end of body before it is a `cut`. Replaces
    /// `max_duration`; keep-alive comments count as activity for
    /// `idle_timeout`. `None`: request mode.
    pub hold_until: Option<Instant>,
}

/// A sink that ignores events.
impl EventSink for () {
    fn event(&mut self, _: &SeenEvent<'_>) {}
}

/// Runs one attempt to completion, failure or cancellation, reading and
/// judging the stream as `stream` (the scenario's `[stream]`) says.
///
/// `carry` is the EventSource state: `carry.last_event_id` is sent as
/// `Last-Event-ID` when not empty and the parser starts from it; on return
/// it holds the ID this attempt ended with (empty it to start afresh: the
/// first attempt, or `resume = false`), and `carry.retry` the last `retry:`.
pub async fn run(
    client: &awc::Client,
    request: &PreparedRequest,
    body: Bytes,
    stream: &StreamSpec,
    sink: &mut impl EventSink,
    cancel: &mut Cancel,
    carry: &mut Carry,
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
        retry_field: None,
        version: None,
        tokens: Tokens::default(),
        result: Ok(()),
    };
    let mut parser =
        sse::Parser::new(stream.max_event_size).with_last_event_id(&carry.last_event_id);
    out.result = drive(
        client,
        request,
        body,
        stream,
        &mut parser,
        sink,
        cancel,
        carry,
        &mut out,
    )
    .await;
    if parser.last_event_id() != carry.last_event_id.as_str() {
        carry.last_event_id.clear();
        carry.last_event_id.push_str(parser.last_event_id());
    }
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

/// Chunks timed in a row at the same wake-up instant (they were read
/// together) before the clock is read again.
const READY_RUN: u32 = 64;

/// What woke the body loop.
enum Wake {
    Cancelled,
    /// A chunk, its instant, and whether it continues a ready run.
    Chunk(Option<Result<Bytes, PayloadError>>, Instant, bool),
    Timer,
}

#[allow(clippy::too_many_arguments)] // one call site, `run`; a struct would only rename them
async fn drive(
    client: &awc::Client,
    request: &PreparedRequest,
    body: Bytes,
    stream: &StreamSpec,
    parser: &mut sse::Parser,
    sink: &mut impl EventSink,
    cancel: &mut Cancel,
    carry: &mut Carry,
    out: &mut AttemptOutcome,
) -> Result<(), Failure> {
    let started = out.started;
    let holding = carry.hold_until.is_some();
    let hard_deadline = carry.hold_until.unwrap_or(started + stream.max_duration);
    let mut req = client.request(request.method.clone(), &request.url);
    for (name, value) in &request.headers {
        req = req.insert_header((name.clone(), value.clone()));
    }
    if !carry.last_event_id.is_empty() {
        // The parser never keeps an ID with NUL, CR or LF; other control
        // bytes cannot go in a header: then the attempt starts afresh.
        match HeaderValue::from_bytes(carry.last_event_id.as_bytes()) {
            Ok(value) => req = req.insert_header((LAST_EVENT_ID, value)),
            Err(_) => log::debug!("last event ID is not a valid header value; not resuming"),
        }
    }
    let send = req.send_body(body);
    let mut cancelled = Gated::new(cancel.cancelled());
    let mut response = tokio::select! {
        biased;
        _ = &mut cancelled => return Err(Failure::new(FailureKind::Cancelled, "cancelled before headers")),
        _ = sleep_until(TokioInstant::from_std(hard_deadline)) => {
            if holding {
                return Ok(());
            }
            return Err(Failure::new(FailureKind::MaxDuration, "no response headers within max_duration"));
        }
        sent = send => sent.map_err(classify_send)?,
    };
    let headers_at = Instant::now();
    out.ttfb = Some(headers_at - started);
    let status = response.status();
    out.status = Some(status.as_u16());
    out.version = HttpVersion::of(response.version());
    check_head(status.as_u16(), response.headers())?;
    let mut decoder = Decoder::for_headers(response.headers())?;
    // Keep only the body: the response head's header values share the
    // connection's first read buffer, which an open stream would otherwise
    // hold for its whole life (8 KiB per subscription).
    let mut body = response.take_payload();
    drop(response);
    sink.stream_opened(headers_at);

    let mut last_event: Option<Instant> = None;
    // Subscribe mode: the last event or keep-alive comment (idle_timeout's clock).
    let mut active_at: Option<Instant> = None;
    let mut deadline = (headers_at + stream.first_event_timeout).min(hard_deadline);
    // The timer is armed for `armed` and re-armed lazily when it fires
    // before a moved `deadline`. A pending timer keeps this task's waker
    // between polls, so it is polled only when (re)armed or possibly due —
    // not at every event.
    let mut armed = deadline;
    let timer = sleep_until(TokioInstant::from_std(armed));
    tokio::pin!(timer);
    let mut timer_registered = false;
    let mut completed = false;
    // When the task last woke. A chunk that is there at the first poll (read
    // with the last one) is timed at that instant without reading the clock
    // again; at most READY_RUN in a row, so a stream that never makes us
    // wait still looks at the clock (deadlines) now and then.
    let mut woke = started;
    // Starts "full", so the first poll looks at cancellation and the clock.
    let mut run_of_ready = READY_RUN;
    loop {
        let mut first = true;
        let wake = std::future::poll_fn(|cx| {
            // A chunk read with the last one continues a ready run: timed at
            // the wake-up, cancellation looked at after the run (the gate
            // stays registered, so a cancel meanwhile wakes the task).
            let continuing = first && run_of_ready < READY_RUN;
            first = false;
            let now = if continuing { woke } else { Instant::now() };
            if !continuing && cancelled.poll_if_woken(cx).is_ready() {
                return Poll::Ready(Wake::Cancelled);
            }
            // Due (by the clock read at most READY_RUN chunks ago): looked
            // at before the body, so a body that is always ready still ends
            // at its deadline.
            if now >= armed {
                timer_registered = true;
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::Timer);
                }
            }
            if let Poll::Ready(chunk) = body.poll_next_unpin(cx) {
                return Poll::Ready(Wake::Chunk(chunk, now, continuing));
            }
            if !timer_registered {
                timer_registered = true;
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::Timer);
                }
            }
            Poll::Pending
        })
        .await;
        let (chunk, now) = match wake {
            Wake::Cancelled => {
                return Err(Failure::new(FailureKind::Cancelled, "cancelled mid-stream"))
            }
            Wake::Timer => {
                // Lazily re-armed: the deadline may have moved since it was
                // set. The clock is read afresh (a ready run's instant may be
                // older than the timer), and the next poll is a fresh one.
                let now = Instant::now();
                run_of_ready = READY_RUN;
                if now < deadline {
                    armed = deadline;
                    timer.as_mut().reset(TokioInstant::from_std(armed));
                    timer_registered = false;
                    continue;
                }
                if holding && deadline == hard_deadline {
                    // Held for `hold`: we close it ourselves, a successful stream.
                    return Ok(());
                }
                let active = last_event.is_some() || active_at.is_some();
                return Err(timeout_failure(active, deadline == hard_deadline, stream));
            }
            Wake::Chunk(chunk, now, continuing) => {
                if continuing {
                    run_of_ready += 1;
                } else {
                    run_of_ready = 0;
                    woke = now;
                }
                (chunk, now)
            }
        };
        let bytes = match chunk {
            None => break,
            Some(Ok(bytes)) => bytes,
            Some(Err(err)) => return Err(classify_payload(err)),
        };
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
                Ok(Item::Comment(_)) => {
                    if holding {
                        active_at = Some(now);
                    }
                    continue;
                }
                Ok(Item::Retry(ms)) => {
                    out.retry_field = Some(Duration::from_millis(ms));
                    carry.retry = out.retry_field;
                    continue;
                }
                Err(err) => return Err(Failure::new(FailureKind::OversizedEvent, err.to_string())),
            };
            out.events += 1;
            let gap = last_event.map(|t| now - t);
            if last_event.is_none() {
                out.ttfe = Some(now - started);
            }
            last_event = Some(now);
            active_at = Some(now);
            let verdict = judge(&event, stream, sink, now, gap, &mut out.tokens);
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
            drain(&mut body).await;
            break;
        }
        if let Some(t) = active_at {
            deadline = (t + stream.idle_timeout).min(hard_deadline);
        }
    }
    if holding {
        return Err(Failure::new(
            FailureKind::Cut,
            format!(
                "the server ended the subscription before hold, after {} events",
                out.events
            ),
        ));
    }
    if !completed && stream.needs_completion() {
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
