//! `StreamService`: one wanted stream = attempts, retries, backoff, breaker.
//!
//! This is the seed's `StreamWithRetry`, and the unit each load session runs
//! in a loop. Every attempt is a call through the session's own breaker: an
//! open breaker short-circuits the call (no attempt is made, the wanted
//! stream fails as `short-circuited`), a failed attempt counts towards
//! `failure_threshold`, and a failed attempt that the retry policy retries
//! waits its backoff (or the server's `Retry-After`) first.
//!
//! No actix types appear here: the `stream` command drives it directly.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;

use crate::client::attempt::{self, AttemptOutcome, EventSink, Failure};
use crate::client::breaker::{Admission, Breaker, BreakerState, Transition};
use crate::client::cancel::Cancel;
use crate::client::classify::FailureKind;
use crate::client::retry::{Decision, RetryPolicy};
use crate::client::PreparedRequest;
use crate::scenario::StreamSpec;

/// Everything that happens during a wanted stream, besides events.
pub trait Observer: EventSink {
    /// After each attempt (successful or not).
    fn attempt_finished(&mut self, _attempt: &AttemptOutcome) {}
    /// On every breaker state change.
    fn breaker_changed(&mut self, _transition: &Transition) {}
    /// Before sleeping `delay` ahead of retry number `retry` (1-based).
    fn retrying(&mut self, _retry: u32, _delay: Duration, _after: &Failure) {}
}

impl Observer for () {}

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

/// A streaming client with its own breaker and retry state.
pub struct StreamService {
    client: awc::Client,
    request: PreparedRequest,
    stream: StreamSpec,
    retry: RetryPolicy,
    breaker: Breaker,
    rng: SmallRng,
}

impl StreamService {
    /// A service over `client` (see [`crate::client::http`]); `rng` drives jitter.
    pub fn new(
        client: awc::Client,
        request: PreparedRequest,
        stream: StreamSpec,
        retry: RetryPolicy,
        breaker: Breaker,
        rng: SmallRng,
    ) -> StreamService {
        StreamService {
            client,
            request,
            stream,
            retry,
            breaker,
            rng,
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
    pub async fn stream_with_retry(
        &mut self,
        body: Bytes,
        observer: &mut impl Observer,
        cancel: &mut Cancel,
    ) -> StreamOutcome {
        let started = Instant::now();
        let mut outcome = StreamOutcome {
            started,
            duration: Duration::ZERO,
            attempts: 0,
            retries: 0,
            short_circuited: false,
            result: Ok(()),
        };
        let mut prev_delay = Duration::ZERO;
        loop {
            let (admission, transition) = self.breaker.admit(Instant::now());
            if let Some(t) = transition {
                log_transition(&t);
                observer.breaker_changed(&t);
            }
            if let Admission::Rejected { retry_in } = admission {
                outcome.short_circuited = true;
                outcome.result = Err(Failure::new(
                    FailureKind::ShortCircuited,
                    format!("circuit breaker open: it lets a probe through in {retry_in:.1?} (open_for)"),
                ));
                break;
            }
            outcome.attempts += 1;
            let attempt = attempt::run(
                &self.client,
                &self.request,
                body.clone(),
                &self.stream,
                observer,
                cancel,
            )
            .await;
            observer.attempt_finished(&attempt);
            let failure = match attempt.result {
                Ok(()) => {
                    if let Some(t) = self.breaker.record(Instant::now(), true) {
                        log_transition(&t);
                        observer.breaker_changed(&t);
                    }
                    outcome.result = Ok(());
                    break;
                }
                Err(failure) => failure,
            };
            if failure.kind == FailureKind::Cancelled {
                outcome.result = Err(failure);
                break;
            }
            if let Some(t) = self.breaker.record(Instant::now(), false) {
                log_transition(&t);
                observer.breaker_changed(&t);
            }
            match self.retry.decide(
                outcome.retries,
                failure.kind,
                failure.retry_after,
                prev_delay,
                &mut self.rng,
            ) {
                Decision::GiveUp(_) => {
                    outcome.result = Err(failure);
                    break;
                }
                Decision::Retry { delay } => {
                    outcome.retries += 1;
                    prev_delay = delay;
                    observer.retrying(outcome.retries, delay, &failure);
                    log::debug!(
                        "retry {} in {delay:?} after {} ({})",
                        outcome.retries,
                        failure.kind,
                        failure.detail
                    );
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => {
                            outcome.result = Err(failure);
                            break;
                        }
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        outcome.duration = started.elapsed();
        outcome
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
