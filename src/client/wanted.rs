//! One wanted stream as a pure state machine: attempts, retries, breaker.
//!
//! [`WantedStream`] owns every decision of the retry loop and nothing else:
//! no clock, no sleep, no I/O, no logging. The driver
//! ([`StreamService::stream_with_retry`](crate::client::StreamService::stream_with_retry))
//! calls [`WantedStream::next`] with the time and does what the [`Step`]
//! says: tell the observer of a breaker change or a retry, run an attempt
//! (then report it with [`WantedStream::attempt_finished`]), or wait until a
//! deadline (which it may cut short with [`WantedStream::cancelled`]). Once
//! [`Step::Done`] comes back, [`WantedStream::finish`] gives the outcome.
//! It is the [`Breaker`]'s shape (quinn's `poll`/`handle_timeout`): steps
//! come back by value, one at a time and in the order the observer must see
//! them, so tests replay a whole stream on a hand-advanced `Instant`.
//!
//! Why the breaker is passed in rather than owned: it belongs to the session
//! and outlives each wanted stream; the retry policy is `Copy` and is copied
//! in. The rules themselves live where they did: admission and state changes
//! in [`Breaker`], retry or give up (and the delay) in [`RetryPolicy::decide`].
//!
//! One rule is the loop's own, because it belongs to the stream rather than
//! to one failure: the server's SSE `retry:` field. As an EventSource's
//! reconnection time, the last value any attempt of this wanted stream
//! received (reported with [`WantedStream::attempt_finished`]) persists
//! across attempts; with `honor_retry_field` it replaces the backoff delay,
//! capped at `backoff.max`. A honoured `Retry-After` still wins: it answers
//! this very failure.
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
//! let mut wanted = WantedStream::new(t0, RetryPolicy::default());
//! assert_eq!(wanted.next(t0, &mut breaker, &mut rng), Step::Attempt);
//! wanted.attempt_finished(t0 + Duration::from_secs(2), Ok(()), None);
//! assert_eq!(wanted.next(t0 + Duration::from_secs(2), &mut breaker, &mut rng), Step::Done);
//! let outcome = wanted.finish(t0 + Duration::from_secs(2));
//! assert_eq!((outcome.attempts, outcome.retries, outcome.result), (1, 0, Ok(())));
//! ```

use std::time::{Duration, Instant};

use rand::Rng;

use crate::client::attempt::Failure;
use crate::client::breaker::{Admission, Breaker, Transition};
use crate::client::classify::FailureKind;
use crate::client::retry::{Decision, RetryPolicy};

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
    /// Start an attempt now (a probe if the breaker is half-open), then
    /// report its result with [`WantedStream::attempt_finished`].
    Attempt,
    /// A retry was decided: report it, then wait until `until` (cutting the
    /// wait short with [`WantedStream::cancelled`] on cancellation) and call
    /// `next` again. Comes once per retry, even when `delay` is zero.
    Retry {
        /// Retry number (1-based).
        retry: u32,
        /// The wait: backoff, or `Retry-After` capped at `backoff.max`.
        delay: Duration,
        /// `now + delay`, the `now` passed to the `next` that decided it.
        until: Instant,
        /// The failure being retried.
        after: &'a Failure,
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
    /// breaker has not heard yet.
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
    started: Instant,
    state: State,
    attempts: u32,
    retries: u32,
    short_circuited: bool,
    prev_delay: Duration,
    /// The last attempt's failure or the breaker's refusal; `None` after a
    /// success. The result once over.
    failure: Option<Failure>,
    /// The last SSE `retry:` value received by any attempt (the EventSource's
    /// reconnection time).
    server_retry: Option<Duration>,
}

/// How far a wait may reach when `now + delay` does not fit in an
/// `Instant` (tokio's own "far future" is 30 years).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

impl WantedStream {
    /// A wanted stream requested at `now`, retried as `policy` says.
    pub fn new(now: Instant, policy: RetryPolicy) -> WantedStream {
        WantedStream {
            policy,
            started: now,
            state: State::Admit,
            attempts: 0,
            retries: 0,
            short_circuited: false,
            prev_delay: Duration::ZERO,
            failure: None,
            server_retry: None,
        }
    }

    /// The next step at `now`. `breaker` is asked before each attempt and
    /// told after it; `rng` drives the backoff jitter.
    ///
    /// Idempotent while waiting (`Wait` again until `now` reaches the
    /// deadline) and once over (`Done`). Called while an attempt runs it
    /// returns `Attempt` again without counting one: the attempt asked for
    /// has not been reported yet.
    pub fn next(&mut self, now: Instant, breaker: &mut Breaker, rng: &mut impl Rng) -> Step<'_> {
        loop {
            match self.state {
                State::Admit => {
                    let (admission, transition) = breaker.admit(now);
                    self.state = State::Admitted(admission);
                    if let Some(t) = transition {
                        return Step::BreakerChanged(t);
                    }
                }
                State::Admitted(Admission::Allowed | Admission::Probe) => {
                    self.attempts += 1;
                    self.state = State::InFlight;
                    return Step::Attempt;
                }
                State::Admitted(Admission::Rejected { retry_in }) => {
                    self.short_circuited = true;
                    self.failure = Some(Failure::new(
                        FailureKind::ShortCircuited,
                        format!("circuit breaker open: it lets a probe through in {retry_in:.1?} (open_for)"),
                    ));
                    self.state = State::Over;
                }
                State::InFlight => return Step::Attempt,
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
        self.failure = result.err();
        self.state = match &self.failure {
            Some(failure) if failure.kind == FailureKind::Cancelled => State::Over,
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

    /// The retry decision after a recorded failure.
    fn decide(&mut self, now: Instant, rng: &mut impl Rng) -> Step<'_> {
        self.state = State::Over;
        // `Failed` is entered only with a failure; without one the stream is over.
        let Some(failure) = &self.failure else {
            return Step::Done;
        };
        match self.policy.decide(
            self.retries,
            failure.kind,
            failure.retry_after,
            self.prev_delay,
            rng,
        ) {
            Decision::GiveUp(_) => Step::Done,
            Decision::Retry { mut delay } => {
                let hinted =
                    failure.retry_after.is_some() && self.policy.honours_retry_after(failure.kind);
                if let (true, false, Some(field)) =
                    (self.policy.honor_retry_field, hinted, self.server_retry)
                {
                    delay = field.min(self.policy.backoff.max());
                }
                self.retries += 1;
                self.prev_delay = delay;
                let until = now.checked_add(delay).unwrap_or_else(|| now + FAR_FUTURE);
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
