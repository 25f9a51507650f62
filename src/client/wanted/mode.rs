//! What subscribe mode changes in the retry loop: a hold, and who hears of it.
//!
//! [`WantedStream`](super::WantedStream) writes the loop once (breaker
//! admission, the retry decision, the delay and its `retry:` override,
//! steps by value); the few places where a subscription (`[stream] mode =
//! "subscribe"`) reads the same facts differently are the methods here,
//! each a small pure rule, so the two modes cannot drift apart elsewhere.

use std::time::{Duration, Instant};

use crate::client::attempt::Failure;
use crate::client::retry::RetryPolicy;

/// How far a wait may reach when `now + delay` does not fit in an
/// `Instant` (tokio's own "far future" is 30 years).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + delay`, or [`FAR_FUTURE`] from `now` when that does not fit.
fn saturating_add(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay).unwrap_or_else(|| now + FAR_FUTURE)
}

/// Request mode or subscribe mode, with the hold's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// `mode = "request"`: a completed attempt ends the wanted stream.
    Request,
    /// `mode = "subscribe"`: the stream is held until `hold_until` and
    /// reconnected after every disconnection before it.
    Subscribe {
        /// When the attempt closes its stream itself (a completed hold).
        hold_until: Instant,
    },
}

impl Mode {
    /// Subscribe mode, requested at `now` and held for `hold`.
    pub(super) fn subscribe(now: Instant, hold: Duration) -> Mode {
        Mode::Subscribe {
            hold_until: saturating_add(now, hold),
        }
    }

    /// When the hold ends; `None` in request mode.
    pub(super) fn hold_until(self) -> Option<Instant> {
        match self {
            Mode::Request => None,
            Mode::Subscribe { hold_until } => Some(hold_until),
        }
    }

    /// Whether the hold is over at `now` (never, in request mode).
    pub(super) fn hold_over(self, now: Instant) -> bool {
        self.hold_until().is_some_and(|end| now >= end)
    }

    /// Whether the breaker hears of a call when its stream *opens* rather
    /// than when the attempt ends: a held stream would otherwise report
    /// minutes later. Then a stream that ends after opening is a
    /// disconnection, not a second verdict on the same call.
    pub(super) fn verdict_on_open(self) -> bool {
        matches!(self, Mode::Subscribe { .. })
    }

    /// Whether an open breaker's refusal waits for its probe (subscribe:
    /// a subscription outlives an outage, and the breaker paces the
    /// reconnect storm) rather than ending the wanted stream
    /// `short-circuited` (request).
    pub(super) fn waits_out_open_breaker(self) -> bool {
        matches!(self, Mode::Subscribe { .. })
    }

    /// `now + delay`, no later than the hold's end.
    pub(super) fn until(self, now: Instant, delay: Duration) -> Instant {
        let until = saturating_add(now, delay);
        match self.hold_until() {
            Some(end) => until.min(end),
            None => until,
        }
    }

    /// Whether the server's last `retry:` value replaces the policy's
    /// delay for this failure.
    ///
    /// A subscription is an EventSource: its reconnection time is the
    /// server's, whatever `honor_retry_field` says. In request mode
    /// `honor_retry_field` decides. In both, a *honoured* `Retry-After`
    /// (429/5xx with `honor_retry_after`) still wins: it answers this very
    /// failure; one that is not honoured changes nothing.
    pub(super) fn retry_field_applies(self, policy: &RetryPolicy, failure: &Failure) -> bool {
        let hinted = failure.retry_after.is_some() && policy.honours_retry_after(failure.kind);
        match self {
            Mode::Subscribe { .. } => !hinted,
            Mode::Request => policy.honor_retry_field && !hinted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::classify::FailureKind::{self, *};

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn when_the_retry_field_applies() {
        let t0 = Instant::now();
        let sub = Mode::subscribe(t0, SEC);
        // (mode, honor_retry_field, honor_retry_after, kind, Retry-After?, applies)
        let cases: &[(Mode, bool, bool, FailureKind, bool, bool)] = &[
            // Request mode: only with honor_retry_field, and a honoured
            // Retry-After (429/5xx, honor_retry_after on) wins.
            (Mode::Request, false, true, Cut, false, false),
            (Mode::Request, true, true, Cut, false, true),
            (Mode::Request, true, true, Status5xx, true, false),
            (Mode::Request, true, true, Status429, true, false),
            (Mode::Request, true, false, Status5xx, true, true),
            (Mode::Request, true, true, Status408, true, true),
            // Subscribe mode: an EventSource, whatever honor_retry_field
            // says, unless a honoured Retry-After answers the failure.
            (sub, false, true, Cut, false, true),
            (sub, true, true, Status5xx, true, false),
            (sub, false, true, Status429, true, false),
            (sub, false, false, Status5xx, true, true),
            (sub, false, true, Status408, true, true),
        ];
        for &(mode, field, after, kind, hinted, want) in cases {
            let policy = RetryPolicy {
                honor_retry_field: field,
                honor_retry_after: after,
                ..RetryPolicy::default()
            };
            let failure = Failure {
                retry_after: hinted.then_some(SEC),
                ..Failure::new(kind, "case")
            };
            assert_eq!(
                mode.retry_field_applies(&policy, &failure),
                want,
                "{mode:?} field {field} after {after} {kind} hinted {hinted}"
            );
        }
    }

    #[test]
    fn waits_end_at_the_hold_and_far_futures_saturate() {
        let t0 = Instant::now();
        let sub = Mode::subscribe(t0, 10 * SEC);
        assert_eq!(sub.until(t0, 3 * SEC), t0 + 3 * SEC);
        assert_eq!(sub.until(t0, 30 * SEC), t0 + 10 * SEC);
        assert_eq!(Mode::Request.until(t0, 30 * SEC), t0 + 30 * SEC);
        assert_eq!(Mode::Request.until(t0, Duration::MAX), t0 + FAR_FUTURE);
        assert_eq!(
            Mode::subscribe(t0, Duration::MAX).hold_until(),
            Some(t0 + FAR_FUTURE)
        );
        assert!(!Mode::Request.hold_over(t0 + FAR_FUTURE));
        assert!(!sub.hold_over(t0 + 9 * SEC));
        assert!(sub.hold_over(t0 + 10 * SEC));
    }
}
