//! `StreamService`: one wanted stream = attempts, retries, backoff, breaker.
//!
//! This is the seed's `StreamWithRetry`, and the unit each load session runs
//! in a loop. Every attempt is a call through the session's own breaker: an
//! open breaker short-circuits the call (no attempt is made, the wanted
//! stream fails as `short-circuited`), a failed attempt counts towards
//! `failure_threshold`, and a failed attempt that the retry policy retries
//! waits its backoff (or the server's `Retry-After`) first.
//!
//! Those decisions are [`WantedStream`]'s, a pure state machine tested
//! without a runtime, in request and in subscribe mode alike; this file is
//! the one async shell around it (clock, attempts, cancellable sleeps,
//! observer and log).
//!
//! Resume state lives here, per wanted stream: the last event ID received
//! (sent by the next attempt as `Last-Event-ID` when `[stream] resume` is
//! on, and always by a subscription's reconnects) and the server's `retry:`,
//! in the service's [`Carry`], reset for each wanted stream.
//!
//! No actix types appear here: the `stream` command drives it directly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;
use tokio::time::{sleep_until, Instant as TokioInstant};

use crate::client::attempt::{self, AttemptOutcome, Carry, EventSink, Failure, SeenEvent};
use crate::client::breaker::{Breaker, BreakerState, Transition};
use crate::client::cancel::Cancel;
use crate::client::config::StreamSpec;
use crate::client::retry::RetryPolicy;
pub use crate::client::wanted::StreamOutcome;
use crate::client::wanted::{Step, WantedStream};
use crate::client::PreparedRequest;

/// Everything that happens during a wanted stream, besides events.
pub trait Observer: EventSink {
    /// After each attempt (successful or not).
    fn attempt_finished(&mut self, _attempt: &AttemptOutcome) {}
    /// On every breaker state change.
    fn breaker_changed(&mut self, _transition: &Transition) {}
    /// Before sleeping `delay` ahead of retry number `retry` (1-based).
    fn retrying(&mut self, _retry: u32, _delay: Duration, _after: &Failure) {}
    /// Subscribe mode: an open stream ended at `at`, before `hold`.
    fn disconnected(&mut self, _at: Instant, _after: &Failure) {}
    /// Subscribe mode: the open breaker refused a reconnect at `at`.
    fn short_circuited(&mut self, _at: Instant) {}
}

impl Observer for () {}

/// A streaming client with its own breaker and retry state.
pub struct StreamService {
    client: awc::Client,
    request: PreparedRequest,
    /// Shared by a run's sessions: one copy of the field names and rules,
    /// warm in cache, rather than one per session read once per event.
    stream: Arc<StreamSpec>,
    retry: RetryPolicy,
    breaker: Breaker,
    rng: SmallRng,
    /// The current wanted stream's EventSource state (last event ID,
    /// `retry:`, the hold), cleared for each new one.
    carry: Carry,
}

impl StreamService {
    /// A service over `client` (see [`crate::client::http`]); `rng` drives jitter.
    pub fn new(
        client: awc::Client,
        request: PreparedRequest,
        stream: impl Into<Arc<StreamSpec>>,
        retry: RetryPolicy,
        breaker: Breaker,
        rng: SmallRng,
    ) -> StreamService {
        StreamService {
            client,
            request,
            stream: stream.into(),
            retry,
            breaker,
            rng,
            carry: Carry::default(),
        }
    }

    /// The breaker's current state.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Times the breaker opened so far.
    pub fn breaker_opens(&self) -> u64 {
        self.breaker.opens()
    }

    /// When an open breaker will let a probe through, if it is open.
    pub fn breaker_reopens_at(&self) -> Option<Instant> {
        self.breaker.poll_timeout()
    }

    /// Runs one wanted stream: attempts with retry and backoff, through the breaker.
    ///
    /// A thin driver of [`WantedStream`] in request mode (see `drive`).
    pub async fn stream_with_retry(
        &mut self,
        body: Bytes,
        observer: &mut impl Observer,
        cancel: &mut Cancel,
    ) -> StreamOutcome {
        let wanted = WantedStream::new(Instant::now(), self.retry);
        self.drive(wanted, body, observer, cancel).await
    }

    /// Runs one subscription (`mode = "subscribe"`): holds a stream for
    /// `hold`, reconnecting with `Last-Event-ID` after each disconnection.
    ///
    /// A thin driver of [`WantedStream`] in subscribe mode (see `drive`).
    pub async fn subscribe(
        &mut self,
        body: Bytes,
        hold: Duration,
        observer: &mut impl Observer,
        cancel: &mut Cancel,
    ) -> StreamOutcome {
        let wanted = WantedStream::subscription(Instant::now(), hold, self.retry);
        self.drive(wanted, body, observer, cancel).await
    }

    /// The one driver of both modes: it supplies the clock, runs the
    /// attempts, sleeps the waits (cancellably) and passes every step on to
    /// `observer` and the `-v` log. It owns the [`Carry`] (last event ID,
    /// the server's `retry:`) across the attempts, and tells the state
    /// machine from inside the attempt when a stream opens, so that in
    /// subscribe mode the breaker hears of a successful call then and not
    /// at the end of the hold.
    async fn drive(
        &mut self,
        mut wanted: WantedStream,
        body: Bytes,
        observer: &mut impl Observer,
        cancel: &mut Cancel,
    ) -> StreamOutcome {
        let holding = wanted.hold_until().is_some();
        // A new wanted stream is a new EventSource: no ID yet.
        self.carry = Carry::default();
        loop {
            let until = match wanted.next(Instant::now(), &mut self.breaker, &mut self.rng) {
                Step::BreakerChanged(t) => {
                    log_transition(&t);
                    observer.breaker_changed(&t);
                    continue;
                }
                Step::Attempt { hold_until } => {
                    self.carry.hold_until = hold_until;
                    // A subscription always reconnects with `Last-Event-ID`.
                    if !holding && !self.stream.resume {
                        self.carry.last_event_id.clear();
                    }
                    let mut sink = Opening {
                        wanted: &mut wanted,
                        breaker: &mut self.breaker,
                        observer,
                    };
                    let attempt = attempt::run(
                        &self.client,
                        &self.request,
                        body.clone(),
                        &self.stream,
                        &mut sink,
                        cancel,
                        &mut self.carry,
                    )
                    .await;
                    observer.attempt_finished(&attempt);
                    wanted.attempt_finished(Instant::now(), attempt.result, attempt.retry_field);
                    continue;
                }
                Step::Disconnected { at, after } => {
                    log::debug!("disconnected: {} ({})", after.kind, after.detail);
                    observer.disconnected(at, after);
                    continue;
                }
                Step::Retry {
                    retry,
                    delay,
                    until,
                    after,
                } => {
                    observer.retrying(retry, delay, after);
                    if holding {
                        log::debug!("reconnect {retry} in {delay:?} after {}", after.kind);
                    } else {
                        log::debug!(
                            "retry {retry} in {delay:?} after {} ({})",
                            after.kind,
                            after.detail
                        );
                    }
                    until
                }
                Step::ShortCircuited { until } => {
                    observer.short_circuited(Instant::now());
                    until
                }
                Step::Wait { until } => until,
                Step::Done => return wanted.finish(Instant::now()),
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => wanted.cancelled(),
                _ = sleep_until(TokioInstant::from_std(until)) => {}
            }
        }
    }
}

/// The sink an attempt reports to: events go to the observer; a stream
/// that opens goes to the state machine (and, in subscribe mode, its
/// breaker) at once.
struct Opening<'a, O> {
    wanted: &'a mut WantedStream,
    breaker: &'a mut Breaker,
    observer: &'a mut O,
}

impl<O: Observer> EventSink for Opening<'_, O> {
    fn event(&mut self, seen: &SeenEvent<'_>) {
        self.observer.event(seen);
    }

    fn stream_opened(&mut self, at: Instant) {
        self.observer.stream_opened(at);
        if let Some(t) = self.wanted.opened(at, self.breaker) {
            log_transition(&t);
            self.observer.breaker_changed(&t);
        }
    }
}

/// `-v`: every breaker change, with its reason.
fn log_transition(t: &Transition) {
    log::debug!(
        "breaker {} -> {} ({})",
        t.from.name(),
        t.to.name(),
        t.reason.as_str()
    );
}
