//! One wanted stream as a pure state machine: attempts, retries, breaker,
//! in request mode and in subscribe mode.
//!
//! [`WantedStream`] owns every decision of the retry loop and nothing else:
//! no clock, no sleep, no I/O, no logging. The driver
//! ([`StreamService::stream_with_retry`](crate::client::StreamService::stream_with_retry)
//! and [`StreamService::subscribe`](crate::client::StreamService::subscribe))
//! calls [`WantedStream::next`] with the time and does what the [`Step`]
//! says: tell the observer of a breaker change, a retry or a
//! disconnection, run an attempt (report a stream that opened with
//! [`WantedStream::opened`], from inside the attempt, and its end with
//! [`WantedStream::attempt_finished`]), or wait until a deadline (which it
//! may cut short with [`WantedStream::cancelled`]). Once [`Step::Done`]
//! comes back, [`WantedStream::finish`] gives the outcome. It is the
//! [`Breaker`]'s shape (quinn's `poll`/`handle_timeout`): steps come back by
//! value, one at a time and in the order the observer must see them, so
//! tests replay a whole stream on a hand-advanced `Instant`.
//!
//! Why one machine for both modes: a subscription (`[stream] mode =
//! "subscribe"`) is one wanted stream that should stay open for `hold`, and
//! its reconnect loop asks the same questions as the retry loop (may the
//! breaker admit a call, retry or give up, after how long). Those rules are
//! written once, here; what subscribe mode reads differently is a small
//! `Mode` (in `wanted/mode.rs`: the hold, when the breaker hears of a call, what an
//! open breaker does, when `retry:` applies), each a rule of its own.
//!
//! Why the breaker is passed in rather than owned: it belongs to the session
//! and outlives each wanted stream; the retry policy is `Copy` and is copied
//! in. Admission and state changes are [`Breaker`]'s, retry or give up (and
//! the delay) [`RetryPolicy::decide`]'s.
//!
//! The rules of the loop itself:
//! - **Breaker.** Every attempt is a call through it. In request mode the
//!   attempt's end is the verdict. In subscribe mode a stream that opens is
//!   a successful call, recorded when it opens (a held stream would
//!   otherwise report minutes later); an attempt that fails before opening
//!   is a failed call; a disconnection is not a second verdict on the same
//!   call. An open breaker ends a request-mode stream `short-circuited`; a
//!   subscription waits until the breaker lets a probe through (counted as
//!   short-circuited), so the reconnect storm after an outage is paced by it.
//! - **Retries.** Which failures are retried is `retry_on`'s (a `status-4xx`
//!   ends a subscription too, as an EventSource "fails the connection" on a
//!   non-200). `max_retries` bounds *consecutive* failed attempts: in
//!   request mode every attempt of the stream, in subscribe mode the
//!   attempts since the last stream that opened, because a subscription that
//!   reopens reconnects again, however long it runs.
//! - **`retry:`.** The server's SSE `retry:` field is a property of the
//!   stream, not of one failure: as an EventSource's reconnection time, the
//!   last value any attempt received (reported with
//!   [`WantedStream::attempt_finished`]) persists across attempts and, where
//!   it applies, replaces the backoff delay, capped at `backoff.max` (in
//!   request mode with `honor_retry_field`, unless a `Retry-After` is
//!   honoured; in subscribe mode unless the failure carries a `Retry-After`).
//! - **Hold** (subscribe mode). The attempt closes the stream itself at
//!   `hold` (`started + hold`): the subscription completed. An open stream
//!   that ends before `hold` (end of body, cut, idle timeout, a reset) is a
//!   **disconnection** ([`Step::Disconnected`]), and the next attempt
//!   carries `Last-Event-ID` (the driver's
//!   [`Carry`](crate::client::attempt::Carry)). Waits end at `hold` at the
//!   latest; reaching `hold` while disconnected (or while the breaker
//!   refuses) ends it failed, with the last failure.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use rand::{rngs::SmallRng, SeedableRng};
//! use streamsoak::client::breaker::{Breaker, BreakerConfig};
//! use streamsoak::client::retry::RetryPolicy;
//! use streamsoak::client::wanted::{Step, WantedStream};
//! let t0 = Instant::now();
//! let mut breaker = Breaker::new(BreakerConfig::default());
//! let mut rng = SmallRng::seed_from_u64(0);
//! // Request mode: one attempt that completes.
//! let mut wanted = WantedStream::new(t0, RetryPolicy::default());
//! assert_eq!(wanted.next(t0, &mut breaker, &mut rng), Step::Attempt { hold_until: None });
//! wanted.attempt_finished(t0 + Duration::from_secs(2), Ok(()), None);
//! assert_eq!(wanted.next(t0 + Duration::from_secs(2), &mut breaker, &mut rng), Step::Done);
//! let outcome = wanted.finish(t0 + Duration::from_secs(2));
//! assert_eq!((outcome.attempts, outcome.retries, outcome.result), (1, 0, Ok(())));
//! // Subscribe mode: one stream held for a minute.
//! let hold = Duration::from_secs(60);
//! let mut sub = WantedStream::subscription(t0, hold, RetryPolicy::default());
//! assert_eq!(sub.next(t0, &mut breaker, &mut rng), Step::Attempt { hold_until: Some(t0 + hold) });
//! assert_eq!(sub.opened(t0, &mut breaker), None);
//! sub.attempt_finished(t0 + hold, Ok(()), None);
//! assert_eq!(sub.next(t0 + hold, &mut breaker, &mut rng), Step::Done);
//! assert_eq!(sub.finish(t0 + hold).result, Ok(()));
//! ```

mod mode;

use std::time::{Duration, Instant};

use rand::Rng;

use crate::client::attempt::Failure;
use crate::client::breaker::{Admission, Breaker, Transition};
use crate::client::classify::FailureKind;
use crate::client::retry::{Decision, RetryPolicy};
use mode::Mode;

/// The result of one wanted stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamOutcome {
    /// When the first attempt was requested.
    pub started: Instant,
    /// Until completion or final failure, retries and backoff included.
    pub duration: Duration,
    /// Attempts made (a short-circuited call is not an attempt).
    pub attempts: u32,
    /// Retries made (attempts after the first).
    pub retries: u32,
    /// True when the breaker refused a call during this stream.
    pub short_circuited: bool,
    /// `Ok` when an attempt completed; else the last failure.
    pub result: Result<(), Failure>,
}

/// What the driver does next, in the order the observer must hear it.
#[derive(Debug, PartialEq)]
pub enum Step<'a> {
    /// The breaker changed state: report it, then call `next` again.
    BreakerChanged(Transition),
    /// Start an attempt now (a probe if the breaker is half-open); report a
    /// stream that opens with [`WantedStream::opened`] and the attempt's end
    /// with [`WantedStream::attempt_finished`].
    Attempt {
        /// Subscribe mode: when the attempt closes its stream itself (a
        /// completed subscription). `None` in request mode.
        hold_until: Option<Instant>,
    },
    /// Subscribe mode: an open stream ended at `at`, before `hold`: report
    /// it, then call `next` again (a [`Step::Retry`] or the end follows).
    Disconnected {
        /// When the stream ended.
        at: Instant,
        /// Why.
        after: &'a Failure,
    },
    /// A retry was decided: report it, then wait until `until` (cutting the
    /// wait short with [`WantedStream::cancelled`] on cancellation) and call
    /// `next` again. Comes once per retry, even when `delay` is zero.
    Retry {
        /// Retry number (1-based).
        retry: u32,
        /// The wait: backoff, `Retry-After` capped at `backoff.max`, or the
        /// server's `retry:` time.
        delay: Duration,
        /// `now + delay`, the `now` passed to the `next` that decided it
        /// (no later than `hold` in subscribe mode).
        until: Instant,
        /// The failure being retried.
        after: &'a Failure,
    },
    /// Subscribe mode: the open breaker refused the reconnect (a
    /// short-circuited call): report it, wait until `until` (its probe
    /// time, no later than `hold`) and call `next` again.
    ShortCircuited {
        /// When to call `next` again.
        until: Instant,
    },
    /// Not yet time for the next attempt: wait until `until`, then call `next` again.
    Wait {
        /// When the next attempt may start.
        until: Instant,
    },
    /// The wanted stream is over; take its outcome with [`WantedStream::finish`].
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The next attempt needs the breaker's admission.
    Admit,
    /// The breaker answered; its transition has been handed out.
    Admitted(Admission),
    /// An attempt is running.
    InFlight,
    /// An attempt ended at `at` (its failure, if any, in `failure`); the
    /// breaker (or, after a stream that opened, the observer) has not heard yet.
    Ended { at: Instant },
    /// A failed attempt was recorded; the retry decision is due.
    Failed,
    /// Waiting before the next attempt.
    Waiting { until: Instant },
    /// Over: `failure` is the result.
    Over,
}

/// One wanted stream: the retry loop's bookkeeping and decisions.
///
/// Counts attempts (a short-circuited call is none), retries (counted when
/// decided, so a retry the breaker then refuses still counts) and whether
/// the breaker refused a call. A cancelled attempt ends the stream without
/// a retry and without telling the breaker; so does a cancelled wait, whose
/// result is the failure being retried.
#[derive(Debug)]
pub struct WantedStream {
    policy: RetryPolicy,
    mode: Mode,
    started: Instant,
    state: State,
    attempts: u32,
    retries: u32,
    /// Retries since the last stream that opened (`max_retries` bounds
    /// them); in request mode, where no opening is reported, all retries.
    retries_in_row: u32,
    short_circuited: bool,
    prev_delay: Duration,
    /// The running attempt's stream opened (subscribe mode only).
    opened: bool,
    /// The last attempt's failure or the breaker's refusal; `None` after a
    /// success. The result once over.
    failure: Option<Failure>,
    /// The last SSE `retry:` value received by any attempt (the EventSource's
    /// reconnection time).
    server_retry: Option<Duration>,
}

impl WantedStream {
    /// A wanted stream in request mode, requested at `now`, retried as `policy` says.
    pub fn new(now: Instant, policy: RetryPolicy) -> WantedStream {
        WantedStream::with_mode(now, Mode::Request, policy)
    }

    /// A subscription (subscribe mode) requested at `now`, held for `hold`,
    /// reconnecting as `policy` says.
    pub fn subscription(now: Instant, hold: Duration, policy: RetryPolicy) -> WantedStream {
        WantedStream::with_mode(now, Mode::subscribe(now, hold), policy)
    }

    fn with_mode(now: Instant, mode: Mode, policy: RetryPolicy) -> WantedStream {
        WantedStream {
            policy,
            mode,
            started: now,
            state: State::Admit,
            attempts: 0,
            retries: 0,
            retries_in_row: 0,
            short_circuited: false,
            prev_delay: Duration::ZERO,
            opened: false,
            failure: None,
            server_retry: None,
        }
    }

    /// When the subscription's hold ends; `None` in request mode.
    pub fn hold_until(&self) -> Option<Instant> {
        self.mode.hold_until()
    }

    /// The next step at `now`. `breaker` is asked before each attempt and
    /// told of its verdict; `rng` drives the backoff jitter.
    ///
    /// Idempotent while waiting (`Wait` again until `now` reaches the
    /// deadline) and once over (`Done`). Called while an attempt runs it
    /// returns `Attempt` again without counting one: the attempt asked for
    /// has not been reported yet.
    pub fn next(&mut self, now: Instant, breaker: &mut Breaker, rng: &mut impl Rng) -> Step<'_> {
        loop {
            match self.state {
                State::Admit if self.mode.hold_over(now) => {
                    if self.failure.is_none() {
                        self.failure = Some(Failure::new(
                            FailureKind::Cut,
                            "hold ended before the subscription could open",
                        ));
                    }
                    self.state = State::Over;
                }
                State::Admit => {
                    let (admission, transition) = breaker.admit(now);
                    self.state = State::Admitted(admission);
                    if let Some(t) = transition {
                        return Step::BreakerChanged(t);
                    }
                }
                State::Admitted(Admission::Allowed | Admission::Probe) => {
                    self.attempts += 1;
                    self.opened = false;
                    self.state = State::InFlight;
                    return self.attempt_step();
                }
                State::Admitted(Admission::Rejected { retry_in }) => {
                    self.short_circuited = true;
                    let waits = self.mode.waits_out_open_breaker();
                    // A subscription keeps the failure that sent it here.
                    if !waits || self.failure.is_none() {
                        self.failure = Some(Failure::new(
                            FailureKind::ShortCircuited,
                            format!("circuit breaker open: it lets a probe through in {retry_in:.1?} (open_for)"),
                        ));
                    }
                    if !waits {
                        self.state = State::Over;
                        continue;
                    }
                    let until = self.mode.until(now, retry_in.max(Duration::from_millis(1)));
                    self.state = State::Waiting { until };
                    return Step::ShortCircuited { until };
                }
                State::InFlight => return self.attempt_step(),
                State::Ended { at } if self.opened => {
                    // The breaker heard when the stream opened.
                    self.state = State::Failed;
                    let after = self
                        .failure
                        .as_ref()
                        .expect("invariant: an opened stream ends Ended only with a failure");
                    return Step::Disconnected { at, after };
                }
                State::Ended { at } => {
                    let ok = self.failure.is_none();
                    self.state = if ok { State::Over } else { State::Failed };
                    if let Some(t) = breaker.record(at, ok) {
                        return Step::BreakerChanged(t);
                    }
                }
                State::Failed => return self.decide(now, rng),
                State::Waiting { until } if now < until => return Step::Wait { until },
                State::Waiting { .. } => self.state = State::Admit,
                State::Over => return Step::Done,
            }
        }
    }

    /// The running attempt's stream opened at `now` (status 200, an event
    /// stream). In subscribe mode a successful call for the breaker, and the
    /// end of a run of failed reconnects; returns the breaker's transition,
    /// if any. Ignored in request mode (the attempt's end is the verdict),
    /// when no attempt is running, and when already reported.
    pub fn opened(&mut self, now: Instant, breaker: &mut Breaker) -> Option<Transition> {
        if !self.mode.verdict_on_open() || self.state != State::InFlight || self.opened {
            return None;
        }
        self.opened = true;
        self.retries_in_row = 0;
        breaker.record(now, true)
    }

    /// Reports the end, at `now`, of the attempt that [`Step::Attempt`]
    /// asked for, with the last SSE `retry:` value it received (`None`: it
    /// received none, and the previous value stands). Ignored when no
    /// attempt is running.
    pub fn attempt_finished(
        &mut self,
        now: Instant,
        result: Result<(), Failure>,
        retry_field: Option<Duration>,
    ) {
        if self.state != State::InFlight {
            return;
        }
        if retry_field.is_some() {
            self.server_retry = retry_field;
        }
        self.failure = match result {
            // Ended at (or after) hold: held as long as asked.
            Err(failure)
                if failure.kind != FailureKind::Cancelled
                    && self.opened
                    && self.mode.hold_over(now) =>
            {
                None
            }
            result => result.err(),
        };
        self.state = match &self.failure {
            Some(failure) if failure.kind == FailureKind::Cancelled => State::Over,
            // Subscribe mode: the breaker heard at opening, or hears nothing.
            None if self.mode.verdict_on_open() => State::Over,
            _ => State::Ended { at: now },
        };
    }

    /// Cancellation during a wait: the stream ends with the failure it was
    /// about to retry. Ignored in any other state (a running attempt ends
    /// cancelled by itself and is reported through `attempt_finished`).
    pub fn cancelled(&mut self) {
        if let State::Waiting { .. } = self.state {
            self.state = State::Over;
        }
    }

    /// The outcome, with its duration measured to `now` (meant after [`Step::Done`]).
    pub fn finish(self, now: Instant) -> StreamOutcome {
        StreamOutcome {
            started: self.started,
            duration: now.saturating_duration_since(self.started),
            attempts: self.attempts,
            retries: self.retries,
            short_circuited: self.short_circuited,
            result: self.failure.map_or(Ok(()), Err),
        }
    }

    fn attempt_step(&self) -> Step<'static> {
        Step::Attempt {
            hold_until: self.mode.hold_until(),
        }
    }

    /// The retry decision after a recorded failure.
    fn decide(&mut self, now: Instant, rng: &mut impl Rng) -> Step<'_> {
        self.state = State::Over;
        // `Failed` is entered only with a failure; without one the stream is over.
        let Some(failure) = &self.failure else {
            return Step::Done;
        };
        match self.policy.decide(
            self.retries_in_row,
            failure.kind,
            failure.retry_after,
            self.prev_delay,
            rng,
        ) {
            Decision::GiveUp(_) => Step::Done,
            Decision::Retry { mut delay } => {
                if let Some(field) = self.server_retry {
                    if self.mode.retry_field_applies(&self.policy, failure) {
                        delay = field.min(self.policy.backoff.max());
                    }
                }
                self.retries += 1;
                self.retries_in_row += 1;
                self.prev_delay = delay;
                let until = self.mode.until(now, delay);
                self.state = State::Waiting { until };
                Step::Retry {
                    retry: self.retries,
                    delay,
                    until,
                    after: failure,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
