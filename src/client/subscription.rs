//! One subscription (`[stream] mode = "subscribe"`) as a pure state
//! machine: hold a stream, reconnect as an EventSource does, breaker in charge.
//!
//! A subscription is one wanted stream that should stay open for `hold`.
//! [`Subscription`] owns every decision of its reconnect loop and nothing
//! else (no clock, no sleep, no I/O), in [`WantedStream`](crate::client::wanted::WantedStream)'s shape
//! (quinn's `poll`/`handle_timeout`): the driver
//! ([`StreamService::subscribe`](crate::client::StreamService::subscribe))
//! calls [`Subscription::next`] with the time and does what the [`Step`]
//! says, reports a stream that opened with [`Subscription::opened`] (from
//! inside the attempt) and the attempt's end with
//! [`Subscription::attempt_finished`].
//!
//! The rules, as WHATWG's EventSource and PRODUCT.md have them:
//! - The attempt closes the stream itself at `hold` (`started + hold`):
//!   the subscription completed. Reaching `hold` while disconnected (or
//!   while the breaker refuses) ends it failed, with the last failure.
//! - An open stream that ends before `hold` (end of body, cut, idle
//!   timeout, a reset) is a **disconnection** ([`Step::Disconnected`]);
//!   the next attempt follows after the server's `retry:` time (the
//!   EventSource's reconnection time, capped at `backoff.max`) or, when the
//!   server sent none, the backoff — and carries `Last-Event-ID` (the
//!   driver's [`Carry`](crate::client::attempt::Carry)).
//! - Which failures are retried is `retry_on`'s (a `status-4xx` ends the
//!   subscription, as an EventSource "fails the connection" on a non-200);
//!   `max_retries` bounds *consecutive* failed reconnects (attempts that
//!   opened no stream), because a subscription that reopens reconnects
//!   again, however long it runs.
//! - The breaker: a stream that opens is a successful call, recorded when
//!   it opens (a held stream would otherwise report for minutes later);
//!   an attempt that fails before opening is a failed call. A disconnection
//!   is not a second verdict on the same call. An open breaker does not end
//!   the subscription: it waits until the breaker lets a probe through
//!   (counted as short-circuited), so the reconnect storm after an outage
//!   is paced by it.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use rand::{rngs::SmallRng, SeedableRng};
//! use streamsoak::client::breaker::{Breaker, BreakerConfig};
//! use streamsoak::client::retry::RetryPolicy;
//! use streamsoak::client::subscription::{Step, Subscription};
//! let t0 = Instant::now();
//! let hold = Duration::from_secs(60);
//! let mut breaker = Breaker::new(BreakerConfig::default());
//! let mut rng = SmallRng::seed_from_u64(0);
//! let mut sub = Subscription::new(t0, hold, RetryPolicy::default());
//! assert_eq!(sub.next(t0, &mut breaker, &mut rng), Step::Attempt { hold_until: t0 + hold });
//! assert_eq!(sub.opened(t0, &mut breaker), None);
//! sub.attempt_finished(t0 + hold, Ok(()), None);
//! assert_eq!(sub.next(t0 + hold, &mut breaker, &mut rng), Step::Done);
//! assert_eq!(sub.finish(t0 + hold).result, Ok(()));
//! ```

use std::time::{Duration, Instant};

use rand::Rng;

use crate::client::attempt::Failure;
use crate::client::breaker::{Admission, Breaker, Transition};
use crate::client::classify::FailureKind;
use crate::client::retry::{Decision, RetryPolicy};
use crate::client::wanted::StreamOutcome;

/// What the driver does next, in the order the observer must hear it.
#[derive(Debug, PartialEq)]
pub enum Step<'a> {
    /// The breaker changed state: report it, then call `next` again.
    BreakerChanged(Transition),
    /// Start an attempt now that closes its stream itself at `hold_until`;
    /// report its opening with [`Subscription::opened`] and its end with
    /// [`Subscription::attempt_finished`].
    Attempt {
        /// When the attempt closes its stream (a completed subscription).
        hold_until: Instant,
    },
    /// An open stream ended at `at`, before `hold`: report it, then call
    /// `next` again (a [`Step::Retry`] or the end follows).
    Disconnected {
        /// When the stream ended.
        at: Instant,
        /// Why.
        after: &'a Failure,
    },
    /// A reconnect was decided: report it, wait until `until` (cut short
    /// by [`Subscription::cancelled`]) and call `next` again.
    Retry {
        /// Attempt number after the first (1-based).
        retry: u32,
        /// The wait: the server's `retry:` time or the backoff.
        delay: Duration,
        /// `now + delay`, no later than `hold`.
        until: Instant,
        /// The failure being retried.
        after: &'a Failure,
    },
    /// The open breaker refused the reconnect (a short-circuited call):
    /// report it, wait until `until` (its probe time, no later than
    /// `hold`) and call `next` again.
    ShortCircuited {
        /// When to call `next` again.
        until: Instant,
    },
    /// Not yet time (backoff): wait until `until`.
    Wait {
        /// When to call `next` again.
        until: Instant,
    },
    /// The subscription is over; take its outcome with [`Subscription::finish`].
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Admit,
    Admitted(Admission),
    InFlight,
    Ended { at: Instant },
    Failed,
    Waiting { until: Instant },
    Over,
}

/// One subscription's reconnect loop; see the module doc.
#[derive(Debug)]
pub struct Subscription {
    policy: RetryPolicy,
    started: Instant,
    hold_until: Instant,
    state: State,
    attempts: u32,
    retries: u32,
    short_circuited: bool,
    /// Retries since the last stream that opened (`max_retries` bounds them).
    retries_in_row: u32,
    prev_delay: Duration,
    /// The running attempt's stream opened.
    opened: bool,
    /// The server's reconnection time (`retry:`), once it sent one.
    server_retry: Option<Duration>,
    /// The last failure; `None` after a completed hold. The result once over.
    failure: Option<Failure>,
}

/// How far a wait may reach when `now + delay` does not fit an `Instant`.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

impl Subscription {
    /// A subscription requested at `now`, held for `hold`, reconnecting as `policy` says.
    pub fn new(now: Instant, hold: Duration, policy: RetryPolicy) -> Subscription {
        Subscription {
            policy,
            started: now,
            hold_until: now.checked_add(hold).unwrap_or(now + FAR_FUTURE),
            state: State::Admit,
            attempts: 0,
            retries: 0,
            short_circuited: false,
            retries_in_row: 0,
            prev_delay: Duration::ZERO,
            opened: false,
            server_retry: None,
            failure: None,
        }
    }

    /// When the subscription's hold ends.
    pub fn hold_until(&self) -> Instant {
        self.hold_until
    }

    /// The next step at `now`; `breaker` is asked before each attempt and
    /// told of a failed one; `rng` drives the backoff jitter. Idempotent
    /// while waiting, while an attempt runs and once over.
    pub fn next(&mut self, now: Instant, breaker: &mut Breaker, rng: &mut impl Rng) -> Step<'_> {
        loop {
            match self.state {
                State::Admit if now >= self.hold_until => {
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
                    return Step::Attempt {
                        hold_until: self.hold_until,
                    };
                }
                State::Admitted(Admission::Rejected { retry_in }) => {
                    self.short_circuited = true;
                    if self.failure.is_none() {
                        self.failure = Some(Failure::new(
                            FailureKind::ShortCircuited,
                            format!("circuit breaker open: it lets a probe through in {retry_in:.1?} (open_for)"),
                        ));
                    }
                    let until = self.cap(now, retry_in.max(Duration::from_millis(1)));
                    self.state = State::Waiting { until };
                    return Step::ShortCircuited { until };
                }
                State::InFlight => {
                    return Step::Attempt {
                        hold_until: self.hold_until,
                    }
                }
                State::Ended { at } => {
                    let opened = self.opened;
                    self.state = State::Failed;
                    if opened {
                        let after = self
                            .failure
                            .as_ref()
                            .expect("invariant: Ended with a failure");
                        return Step::Disconnected { at, after };
                    }
                    if let Some(t) = breaker.record(at, false) {
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
    /// stream): a successful call for the breaker, and the end of a run of
    /// failed reconnects. Returns the breaker's transition, if any.
    pub fn opened(&mut self, now: Instant, breaker: &mut Breaker) -> Option<Transition> {
        if self.state != State::InFlight || self.opened {
            return None;
        }
        self.opened = true;
        self.retries_in_row = 0;
        breaker.record(now, true)
    }

    /// Reports the end, at `now`, of the attempt [`Step::Attempt`] asked
    /// for; `server_retry` is the last `retry:` time the server sent on
    /// this subscription. Ignored when no attempt is running.
    pub fn attempt_finished(
        &mut self,
        now: Instant,
        result: Result<(), Failure>,
        server_retry: Option<Duration>,
    ) {
        if self.state != State::InFlight {
            return;
        }
        if server_retry.is_some() {
            self.server_retry = server_retry;
        }
        self.state = match result {
            Ok(()) => {
                self.failure = None;
                State::Over
            }
            Err(failure) if failure.kind == FailureKind::Cancelled => {
                self.failure = Some(failure);
                State::Over
            }
            // Ended at (or after) hold: held as long as asked.
            Err(_) if self.opened && now >= self.hold_until => {
                self.failure = None;
                State::Over
            }
            Err(failure) => {
                self.failure = Some(failure);
                State::Ended { at: now }
            }
        };
    }

    /// Cancellation during a wait: the subscription ends with its last failure.
    pub fn cancelled(&mut self) {
        if let State::Waiting { .. } = self.state {
            self.state = State::Over;
        }
    }

    /// The outcome, measured to `now` (meant after [`Step::Done`]).
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

    /// `now + delay`, no later than the hold's end.
    fn cap(&self, now: Instant, delay: Duration) -> Instant {
        now.checked_add(delay)
            .unwrap_or(now + FAR_FUTURE)
            .min(self.hold_until)
    }

    fn decide(&mut self, now: Instant, rng: &mut impl Rng) -> Step<'_> {
        self.state = State::Over;
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
            Decision::Retry { delay } => {
                let delay = match (self.server_retry, failure.retry_after) {
                    (Some(server), None) => server.min(self.policy.backoff.max()),
                    _ => delay,
                };
                self.retries += 1;
                self.retries_in_row += 1;
                self.prev_delay = delay;
                let until = self.cap(now, delay);
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
mod tests {
    use super::*;
    use crate::client::backoff::{Backoff, Jitter};
    use crate::client::breaker::{BreakerConfig, BreakerState};
    use rand::{rngs::SmallRng, SeedableRng};

    const S: Duration = Duration::from_secs(1);

    fn policy(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            backoff: Backoff::new(S, 2.0, 8 * S, Jitter::None).expect("valid"),
            ..RetryPolicy::default()
        }
    }

    fn fail(kind: FailureKind) -> Result<(), Failure> {
        Err(Failure::new(kind, kind.as_str()))
    }

    /// What one scripted attempt does: open at +`open` (or never), end at +`end` with `result`.
    struct Script {
        open: Option<Duration>,
        end: Duration,
        result: Result<(), Failure>,
        retry_field: Option<Duration>,
    }

    fn attempt(open: Option<u64>, end: u64, result: Result<(), Failure>) -> Script {
        Script {
            open: open.map(Duration::from_secs),
            end: Duration::from_secs(end),
            result,
            retry_field: None,
        }
    }

    /// Drives a subscription through `scripts`, logging every step as a
    /// short string with its offset from t0 in seconds.
    fn run(
        hold: u64,
        policy: RetryPolicy,
        breaker: BreakerConfig,
        scripts: Vec<Script>,
    ) -> (Vec<String>, StreamOutcome) {
        let t0 = Instant::now();
        let at = |t: Instant| t.duration_since(t0).as_secs_f64();
        let mut breaker = Breaker::new(breaker);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut sub = Subscription::new(t0, Duration::from_secs(hold), policy);
        let mut scripts = scripts.into_iter();
        let mut now = t0;
        let mut log = Vec::new();
        for _ in 0..100 {
            match sub.next(now, &mut breaker, &mut rng) {
                Step::BreakerChanged(t) => {
                    log.push(format!("{} breaker {}", at(t.at), t.to.name()))
                }
                Step::Attempt { hold_until } => {
                    assert_eq!(hold_until, t0 + Duration::from_secs(hold));
                    let script = scripts.next().expect("a scripted attempt");
                    log.push(format!("{} attempt", at(now)));
                    let start = now;
                    if let Some(open) = script.open {
                        if let Some(t) = sub.opened(start + open, &mut breaker) {
                            log.push(format!("{} breaker {}", at(t.at), t.to.name()));
                        }
                    }
                    now = start + script.end;
                    sub.attempt_finished(now, script.result, script.retry_field);
                }
                Step::Disconnected { at: when, after } => {
                    log.push(format!("{} disconnected {}", at(when), after.kind))
                }
                Step::Retry { delay, until, .. } => {
                    log.push(format!("{} retry in {}", at(now), delay.as_secs_f64()));
                    now = until;
                }
                Step::ShortCircuited { until } => {
                    log.push(format!("{} short-circuited", at(now)));
                    now = until;
                }
                Step::Wait { until } => {
                    log.push(format!("{} wait", at(now)));
                    now = until;
                }
                Step::Done => break,
            }
        }
        (log, sub.finish(now))
    }

    #[test]
    fn held_to_the_end_is_a_success() {
        let (log, out) = run(
            60,
            policy(3),
            BreakerConfig::default(),
            vec![attempt(Some(0), 60, Ok(()))],
        );
        assert_eq!(log, ["0 attempt"]);
        assert_eq!((out.attempts, out.retries, out.result), (1, 0, Ok(())));
    }

    #[test]
    fn disconnections_reconnect_until_hold() {
        // Cut at 10 s and at 20 s: each time the backoff's first delay (1 s),
        // because an open stream resets the run of failures.
        let (log, out) = run(
            60,
            policy(1),
            BreakerConfig::default(),
            vec![
                attempt(Some(0), 10, fail(FailureKind::Cut)),
                attempt(Some(0), 9, fail(FailureKind::Reset)),
                attempt(Some(0), 40, Ok(())),
            ],
        );
        assert_eq!(
            log,
            [
                "0 attempt",
                "10 disconnected cut",
                "10 retry in 1",
                "11 attempt",
                "20 disconnected reset",
                "20 retry in 1",
                "21 attempt",
            ]
        );
        assert_eq!((out.attempts, out.retries, out.result), (3, 2, Ok(())));
    }

    #[test]
    fn server_retry_field_sets_the_delay_capped_at_backoff_max() {
        for (field, want) in [(3, "3"), (60, "8")] {
            let mut first = attempt(Some(0), 10, fail(FailureKind::Cut));
            first.retry_field = Some(Duration::from_secs(field));
            let (log, _) = run(
                60,
                policy(3),
                BreakerConfig::default(),
                vec![first, attempt(Some(0), 10, Ok(()))],
            );
            assert_eq!(log[2], format!("10 retry in {want}"), "retry: {field}s");
        }
    }

    #[test]
    fn failed_reconnects_back_off_then_give_up_at_max_retries() {
        // After the cut: refused, refused (2 failures in a row = max_retries 2)…
        let (log, out) = run(
            60,
            policy(2),
            BreakerConfig::new(10, 30 * S, 1).expect("valid"),
            vec![
                attempt(Some(0), 10, fail(FailureKind::Cut)),
                attempt(None, 0, fail(FailureKind::ConnectRefused)),
                attempt(None, 0, fail(FailureKind::ConnectRefused)),
            ],
        );
        assert_eq!(
            log,
            [
                "0 attempt",
                "10 disconnected cut",
                "10 retry in 1",
                "11 attempt",
                "11 retry in 2",
                "13 attempt",
            ]
        );
        assert_eq!(
            out.result.map_err(|f| f.kind),
            Err(FailureKind::ConnectRefused)
        );
        assert_eq!((out.attempts, out.retries), (3, 2));
    }

    #[test]
    fn not_retryable_ends_the_subscription() {
        let (log, out) = run(
            60,
            policy(3),
            BreakerConfig::default(),
            vec![attempt(None, 0, fail(FailureKind::Status4xx))],
        );
        assert_eq!(log, ["0 attempt"]);
        assert_eq!(out.result.map_err(|f| f.kind), Err(FailureKind::Status4xx));
    }

    #[test]
    fn open_breaker_paces_reconnects_and_the_probe_closes_it_on_open() {
        // threshold 2: the cut does not count (the stream had opened), two
        // refusals open it for 30 s; the probe's stream opens and closes it.
        let (log, out) = run(
            100,
            policy(10),
            BreakerConfig::new(2, 30 * S, 1).expect("valid"),
            vec![
                attempt(Some(0), 10, fail(FailureKind::Cut)),
                attempt(None, 0, fail(FailureKind::ConnectRefused)),
                attempt(None, 0, fail(FailureKind::ConnectRefused)),
                attempt(Some(1), 50, Ok(())),
            ],
        );
        assert_eq!(
            log,
            [
                "0 attempt",
                "10 disconnected cut",
                "10 retry in 1",
                "11 attempt",
                "11 retry in 2",
                "13 attempt",
                "13 breaker open",
                "13 retry in 4",
                "17 short-circuited",
                "43 breaker half-open",
                "43 attempt",
                "44 breaker closed",
            ]
        );
        assert!(out.short_circuited);
        assert_eq!(out.result, Ok(()));
    }

    #[test]
    fn hold_ending_while_disconnected_fails_with_the_last_failure() {
        let (log, out) = run(
            12,
            policy(5),
            BreakerConfig::new(10, 30 * S, 1).expect("valid"),
            vec![
                attempt(Some(0), 10, fail(FailureKind::Cut)),
                attempt(None, 0, fail(FailureKind::ConnectRefused)),
            ],
        );
        // The second backoff (2 s from 11 s) is cut to the hold's end at 12 s.
        assert_eq!(log.last().map(String::as_str), Some("11 retry in 2"));
        assert_eq!(
            out.result.map_err(|f| f.kind),
            Err(FailureKind::ConnectRefused)
        );
        assert_eq!(out.duration, 12 * S);
    }

    #[test]
    fn a_cut_at_hold_is_a_completed_hold_and_cancel_ends_it() {
        let (_, out) = run(
            10,
            policy(3),
            BreakerConfig::default(),
            vec![attempt(Some(0), 10, fail(FailureKind::IdleTimeout))],
        );
        assert_eq!(out.result, Ok(()));
        let (log, out) = run(
            60,
            policy(3),
            BreakerConfig::default(),
            vec![attempt(Some(0), 5, fail(FailureKind::Cancelled))],
        );
        assert_eq!(log, ["0 attempt"]);
        assert_eq!(out.result.map_err(|f| f.kind), Err(FailureKind::Cancelled));
    }

    #[test]
    fn opened_is_counted_once_and_only_in_flight() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(BreakerConfig::default());
        let mut sub = Subscription::new(t0, 10 * S, policy(1));
        assert_eq!(sub.opened(t0, &mut breaker), None, "no attempt yet");
        let mut rng = SmallRng::seed_from_u64(0);
        assert!(matches!(
            sub.next(t0, &mut breaker, &mut rng),
            Step::Attempt { .. }
        ));
        assert_eq!(sub.opened(t0, &mut breaker), None);
        assert_eq!(sub.opened(t0, &mut breaker), None);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(matches!(
            sub.next(t0, &mut breaker, &mut rng),
            Step::Attempt { .. }
        ));
    }
}
