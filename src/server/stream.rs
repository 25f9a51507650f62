//! One response body: the seed's event sequence as a hand-written
//! [`Stream`] of pre-formatted [`Bytes`], with the per-request faults.
//!
//! Why hand-written and not an `async_stream`/generator? Thousands of these
//! run at once; a small state machine with one reusable timer, one buffer per
//! event and no lock keeps the server from being the bottleneck of a load
//! test. The sequence, as in the seed's FastAPI app:
//!
//! ```text
//! [first_delay] data: {"Count": 1, "Data": "Event 1"}  [interval] … data: {"Count": n, …} [interval]
//! data: {"Data": "Stream completed"}
//! ```
//!
//! With `interval = 0` the stream yields to the executor every
//! [`BURST`] events so other connections progress. An injected cut returns an
//! error from the stream, which makes actix drop the connection without the
//! final chunk; it first returns `Pending` once so the events already
//! produced are flushed. A stall is a stream that never wakes again; actix
//! drops it when the client closes (the server is built with
//! `h1_allow_half_closed(false)`).

use std::{
    fmt::Write as _,
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use actix_rt::time::{sleep, Instant, Sleep};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;

use super::{config::StreamPlan, stats::Stats};

/// Events produced back to back before yielding when the interval is zero.
pub(crate) const BURST: u32 = 32;

/// The completion event, exactly as the seed's server sends it.
pub(crate) const COMPLETION: &[u8] = b"data: {\"Data\": \"Stream completed\"}\n\n";

/// Numbered event `count`: `data: {"Count": n, "Data": "Event n"}` plus
/// `, "Pad": "<pad>"` when `pad` is not empty.
pub(crate) fn numbered_event(count: u32, pad: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(64 + pad.len());
    write!(
        buf,
        "data: {{\"Count\": {count}, \"Data\": \"Event {count}\""
    )
    .expect("invariant: writing to BytesMut cannot fail");
    if !pad.is_empty() {
        buf.extend_from_slice(b", \"Pad\": \"");
        buf.extend_from_slice(pad);
        buf.extend_from_slice(b"\"");
    }
    buf.extend_from_slice(b"}\n\n");
    buf.freeze()
}

/// Event `count` with data that is not JSON (the `malformed_at` knob).
pub(crate) fn malformed_event(count: u32) -> Bytes {
    Bytes::from(format!(
        "data: {{\"Count\": {count}, \"Data\": malformed\n\n"
    ))
}

/// The server-sent error event replacing event `count` (the `error_at` knob).
pub(crate) fn error_event(count: u32) -> Bytes {
    Bytes::from(format!(
        "data: {{\"error\": \"injected error at event {count}\"}}\n\n"
    ))
}

enum Phase {
    /// Waiting for the timer, then emits.
    Wait,
    /// Emits the next event (or the completion event).
    Emit,
    /// Returns `Pending` once (to flush), then an error that drops the connection.
    Cut {
        flushed: bool,
    },
    /// Never produces anything again.
    Stalled,
    Done,
}

/// The body of one `200` stream; see the module doc for the sequence.
pub(crate) struct EventStream {
    plan: StreamPlan,
    /// `"xxx…"` of `plan.payload_bytes`, shared between streams where possible.
    pad: Bytes,
    stats: Arc<Stats>,
    next: u32,
    phase: Phase,
    timer: Pin<Box<Sleep>>,
    burst: u32,
    completed: bool,
    /// An OpenAI chat stream's role-only chunk, sent before anything else.
    preamble: Option<Bytes>,
}

impl EventStream {
    /// Starts a stream (counted as started now). `pad` must hold `plan.payload_bytes` bytes.
    pub(crate) fn new(plan: StreamPlan, pad: Bytes, stats: Arc<Stats>) -> Self {
        stats.stream_started();
        let timer = Box::pin(sleep(plan.first_delay));
        let phase = if plan.faults.cut_after == Some(0) {
            Phase::Cut { flushed: false }
        } else if plan.faults.stall_after == Some(0) {
            Phase::Stalled
        } else if plan.first_delay.is_zero() {
            Phase::Emit
        } else {
            Phase::Wait
        };
        let preamble = plan.llm.as_ref().and_then(|llm| llm.preamble());
        EventStream {
            plan,
            pad,
            stats,
            next: 1,
            phase,
            timer,
            burst: 0,
            completed: false,
            preamble,
        }
    }

    /// Produces event `self.next` and picks the phase after it.
    fn emit(&mut self) -> Bytes {
        let count = self.next;
        self.next = self.next.saturating_add(1);
        self.stats.event_sent();
        let faults = self.plan.faults;
        if faults.error_at == Some(count) {
            self.phase = Phase::Done;
            return match &self.plan.llm {
                Some(llm) => llm.error(count),
                None => error_event(count),
            };
        }
        let event = match (&self.plan.llm, faults.malformed_at == Some(count)) {
            (_, true) => malformed_event(count),
            (Some(llm), false) => llm.token(count, &self.pad),
            (None, false) => numbered_event(count, &self.pad),
        };
        // An LLM's tail comes right after its last token, not an interval later.
        let last_token = self.plan.llm.is_some() && count >= self.plan.events;
        self.phase = if faults.cut_after == Some(count) {
            Phase::Cut { flushed: false }
        } else if faults.stall_after == Some(count) {
            Phase::Stalled
        } else if self.plan.interval.is_zero() || last_token {
            Phase::Emit
        } else {
            let deadline = Instant::now() + self.plan.interval;
            self.timer.as_mut().reset(deadline);
            Phase::Wait
        };
        event
    }
}

impl Stream for EventStream {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(preamble) = this.preamble.take() {
            this.stats.event_sent();
            return Poll::Ready(Some(Ok(preamble)));
        }
        loop {
            match this.phase {
                Phase::Wait => {
                    if this.timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.burst = 0;
                    this.phase = Phase::Emit;
                }
                Phase::Emit => {
                    if this.burst >= BURST {
                        this.burst = 0;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    this.burst += 1;
                    if this.next > this.plan.events {
                        this.phase = Phase::Done;
                        this.completed = true;
                        this.stats.event_sent();
                        this.stats.stream_completed();
                        let completion = match &this.plan.llm {
                            Some(llm) => llm.completion(this.plan.events),
                            None => Bytes::from_static(COMPLETION),
                        };
                        return Poll::Ready(Some(Ok(completion)));
                    }
                    return Poll::Ready(Some(Ok(this.emit())));
                }
                Phase::Cut { flushed: false } => {
                    this.phase = Phase::Cut { flushed: true };
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Phase::Cut { flushed: true } => {
                    this.phase = Phase::Done;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "injected cut (cut_after)",
                    ))));
                }
                Phase::Stalled => return Poll::Pending,
                Phase::Done => return Poll::Ready(None),
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if !self.completed {
            self.stats.stream_cut();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;
    use crate::server::config::StreamFaults;

    #[test]
    fn event_formats_match_the_seed() {
        let cases: [(Bytes, &str); 5] = [
            (
                numbered_event(1, b""),
                "data: {\"Count\": 1, \"Data\": \"Event 1\"}\n\n",
            ),
            (
                numbered_event(4_000_000_000, b""),
                "data: {\"Count\": 4000000000, \"Data\": \"Event 4000000000\"}\n\n",
            ),
            (
                numbered_event(2, b"xxx"),
                "data: {\"Count\": 2, \"Data\": \"Event 2\", \"Pad\": \"xxx\"}\n\n",
            ),
            (
                malformed_event(3),
                "data: {\"Count\": 3, \"Data\": malformed\n\n",
            ),
            (
                error_event(5),
                "data: {\"error\": \"injected error at event 5\"}\n\n",
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(bytes, expected.as_bytes());
        }
        assert_eq!(COMPLETION, b"data: {\"Data\": \"Stream completed\"}\n\n");
    }

    #[test]
    fn numbered_and_completion_events_are_json_malformed_is_not() {
        let json = |b: &[u8]| {
            let text = std::str::from_utf8(b).expect("ascii");
            let data = text.strip_prefix("data: ").expect("data line").trim_end();
            serde_json::from_str::<serde_json::Value>(data).is_ok()
        };
        assert!(json(&numbered_event(7, b"xx")));
        assert!(json(COMPLETION));
        assert!(json(&error_event(1)));
        assert!(!json(&malformed_event(1)));
    }

    fn plan(events: u32, faults: StreamFaults) -> StreamPlan {
        StreamPlan {
            events,
            interval: Duration::ZERO,
            first_delay: Duration::ZERO,
            payload_bytes: 0,
            content_type: None,
            faults,
            llm: None,
        }
    }

    /// Collects the stream's items: event texts, then "ERR" for an error.
    async fn collect(plan: StreamPlan, stats: &Arc<Stats>) -> Vec<String> {
        let mut stream = EventStream::new(plan, Bytes::new(), Arc::clone(stats));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(bytes) => out.push(String::from_utf8_lossy(&bytes).into_owned()),
                Err(_) => out.push("ERR".to_owned()),
            }
        }
        out
    }

    #[actix_rt::test]
    async fn sequences_per_fault() {
        let ev = |n: u32| String::from_utf8_lossy(&numbered_event(n, b"")).into_owned();
        let done = String::from_utf8_lossy(COMPLETION).into_owned();
        let err = |n: u32| String::from_utf8_lossy(&error_event(n)).into_owned();
        let bad = |n: u32| String::from_utf8_lossy(&malformed_event(n)).into_owned();
        let none = StreamFaults::default();
        // (events, faults, expected items, completed?)
        let cases: Vec<(u32, StreamFaults, Vec<String>, bool)> = vec![
            (2, none, vec![ev(1), ev(2), done.clone()], true),
            (0, none, vec![done.clone()], true),
            (
                3,
                StreamFaults {
                    error_at: Some(2),
                    ..none
                },
                vec![ev(1), err(2)],
                false,
            ),
            (
                3,
                StreamFaults {
                    malformed_at: Some(2),
                    ..none
                },
                vec![ev(1), bad(2), ev(3), done.clone()],
                true,
            ),
            (
                3,
                StreamFaults {
                    cut_after: Some(1),
                    ..none
                },
                vec![ev(1), "ERR".into()],
                false,
            ),
            (
                3,
                StreamFaults {
                    cut_after: Some(0),
                    ..none
                },
                vec!["ERR".into()],
                false,
            ),
            (
                2,
                StreamFaults {
                    cut_after: Some(2),
                    ..none
                },
                vec![ev(1), ev(2), "ERR".into()],
                false,
            ),
            (
                2,
                StreamFaults {
                    cut_after: Some(5),
                    ..none
                },
                vec![ev(1), ev(2), done.clone()],
                true,
            ),
            (
                100,
                none,
                (1..=100).map(ev).chain([done.clone()]).collect(),
                true,
            ),
        ];
        for (events, faults, expected, completed) in cases {
            let stats = Arc::new(Stats::default());
            let items = collect(plan(events, faults), &stats).await;
            assert_eq!(items, expected, "events {events}, faults {faults:?}");
            let snap = stats.snapshot();
            assert_eq!(snap.streams_started, 1);
            assert_eq!(
                (snap.streams_completed, snap.streams_cut),
                if completed { (1, 0) } else { (0, 1) }
            );
            let sent = expected.iter().filter(|item| *item != "ERR").count() as u64;
            assert_eq!(snap.events_sent, sent, "events {events}, faults {faults:?}");
        }
    }

    #[actix_rt::test]
    async fn stall_yields_k_events_then_nothing() {
        let stats = Arc::new(Stats::default());
        let faults = StreamFaults {
            stall_after: Some(1),
            ..StreamFaults::default()
        };
        let mut stream = EventStream::new(plan(3, faults), Bytes::new(), Arc::clone(&stats));
        let first = stream.next().await;
        assert!(matches!(first, Some(Ok(ref b)) if b == &numbered_event(1, b"")));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..3 {
            assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
        }
        drop(stream);
        assert_eq!(stats.snapshot().streams_cut, 1);
    }
}
