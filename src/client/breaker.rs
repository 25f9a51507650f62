//! The per-session circuit breaker: a pure state machine over caller-supplied `Instant`s.
//!
//! It owns the decision "may this session start an attempt now?" and nothing else:
//! no clock, no timer, no I/O. The caller passes `now` into [`Breaker::admit`] and
//! [`Breaker::record`], arms a timer from [`Breaker::poll_timeout`] and calls
//! [`Breaker::handle_timeout`] when it fires (the quinn `poll_timeout` /
//! `handle_timeout` pattern). Every state change comes back as a [`Transition`]
//! value, by return and without allocation, so `breaker.csv` and the `-v` log can
//! record each one and tests can assert them on a hand-advanced `Instant`.
//!
//! Vocabulary is the classic one: **Closed admits, Open rejects, HalfOpen probes**
//! (linkerd2-proxy uses the reverse, calling its admitting gate "open").

use std::fmt;
use std::time::{Duration, Instant};

/// Validated breaker settings (`[breaker]` in the scenario).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed *attempts* that open a closed breaker (≥ 1).
    ///
    /// The breaker counts attempts, not wanted streams, on purpose: every
    /// attempt is a call through it (the seed client wraps each call), so a
    /// wanted stream whose retries keep failing opens it within one stream,
    /// as a server that is down should; counting streams would let
    /// `max_retries` × `failure_threshold` calls through before it opened.
    pub failure_threshold: u32,
    /// How long an open breaker rejects before it half-opens.
    pub open_for: Duration,
    /// Successful probes that close a half-open breaker; also the most probes
    /// outstanding at once (≥ 1).
    pub half_open_probes: u32,
}

/// Why a [`BreakerConfig`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBreaker {
    /// `failure_threshold = 0` would open before any failure; use 1 or more.
    #[error("breaker.failure_threshold must be at least 1")]
    ZeroThreshold,
    /// `half_open_probes = 0` could never close the breaker again; use 1 or more.
    #[error("breaker.half_open_probes must be at least 1")]
    ZeroProbes,
    /// `open_for` above [`BreakerConfig::MAX_OPEN_FOR`] (one year); use a shorter period.
    #[error("breaker.open_for must be at most one year")]
    OpenForTooLong,
}

impl BreakerConfig {
    /// The longest accepted `open_for` (365 days): keeps `now + open_for` representable.
    pub const MAX_OPEN_FOR: Duration = Duration::from_secs(365 * 24 * 3600);

    /// Validates and builds a config.
    pub fn new(
        failure_threshold: u32,
        open_for: Duration,
        half_open_probes: u32,
    ) -> Result<Self, InvalidBreaker> {
        if failure_threshold == 0 {
            return Err(InvalidBreaker::ZeroThreshold);
        }
        if half_open_probes == 0 {
            return Err(InvalidBreaker::ZeroProbes);
        }
        if open_for > Self::MAX_OPEN_FOR {
            return Err(InvalidBreaker::OpenForTooLong);
        }
        Ok(BreakerConfig {
            failure_threshold,
            open_for,
            half_open_probes,
        })
    }
}

impl Default for BreakerConfig {
    /// PRODUCT.md defaults: 3 failures, open for 30 s, 1 probe.
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 3,
            open_for: Duration::from_secs(30),
            half_open_probes: 1,
        }
    }
}

/// The breaker's state, in classic vocabulary: Closed admits, Open rejects,
/// HalfOpen admits a limited number of probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Admitting every attempt, counting consecutive failures.
    Closed,
    /// Rejecting every attempt until `open_for` has elapsed.
    Open,
    /// Admitting up to `half_open_probes` probes to test the target.
    HalfOpen,
}

impl BreakerState {
    /// The spelling in `breaker.csv` and `sessions.csv` (`final_state`).
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the breaker changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransitionReason {
    /// Closed → Open: `failure_threshold` consecutive failures.
    FailureThreshold,
    /// Open → HalfOpen: `open_for` elapsed.
    OpenElapsed,
    /// HalfOpen → Closed: `half_open_probes` probes succeeded.
    ProbeSucceeded,
    /// HalfOpen → Open: a probe failed (`open_for` restarts).
    ProbeFailed,
}

impl TransitionReason {
    /// The spelling in the `reason` column of `breaker.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionReason::FailureThreshold => "failure-threshold",
            TransitionReason::OpenElapsed => "open-elapsed",
            TransitionReason::ProbeSucceeded => "probes-succeeded",
            TransitionReason::ProbeFailed => "probe-failed",
        }
    }
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One state change, stamped with the `now` the caller passed in when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: BreakerState,
    /// State after.
    pub to: BreakerState,
    /// Why.
    pub reason: TransitionReason,
    /// The `now` of the call that made the change (for Open → HalfOpen this is
    /// when it was observed, at or after the deadline from [`Breaker::poll_timeout`]).
    pub at: Instant,
}

/// The answer to "may I start an attempt now?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go ahead.
    Allowed,
    /// HalfOpen: go ahead, this attempt is a probe; its `record` decides the state.
    Probe,
    /// No attempt may be made; count it as `short-circuited`.
    Rejected {
        /// When Open: the time left until it half-opens. When HalfOpen with every
        /// probe slot taken: `open_for`, the wait if the outstanding probes fail
        /// (a success can admit sooner).
        retry_in: Duration,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { in_flight: u32, successes: u32 },
}

/// A circuit breaker (Closed = admitting, Open = rejecting, HalfOpen = probing).
///
/// Closed → Open after `failure_threshold` *consecutive* failures (a success
/// resets the count); Open → HalfOpen once `open_for` has elapsed (seen by
/// [`admit`](Breaker::admit) or [`handle_timeout`](Breaker::handle_timeout));
/// HalfOpen → Closed after `half_open_probes` successful probes; HalfOpen → Open
/// on any failed probe, with `open_for` restarting.
///
/// While half-open, probes are admitted only while `successes + outstanding <
/// half_open_probes`: never more probes in flight than successes still needed.
/// Records arriving while Open, or while HalfOpen with no probe outstanding,
/// belong to attempts admitted before the breaker opened and are ignored.
///
/// ```
/// use std::time::{Duration, Instant};
/// use streamsoak::client::breaker::*;
/// let t0 = Instant::now();
/// let mut b = Breaker::new(BreakerConfig::new(1, Duration::from_secs(5), 1).unwrap());
/// assert_eq!(b.admit(t0), (Admission::Allowed, None));
/// let opened = b.record(t0, false).unwrap();
/// assert_eq!((opened.to, opened.reason), (BreakerState::Open, TransitionReason::FailureThreshold));
/// assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_secs(5)));
/// ```
#[derive(Clone, Debug)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Inner,
    opens: u64,
}

impl Breaker {
    /// A closed breaker. A hand-built config with a zero threshold or zero probes
    /// is treated as 1, and `open_for` is capped at [`BreakerConfig::MAX_OPEN_FOR`]
    /// (use [`BreakerConfig::new`] to reject such values instead).
    pub fn new(config: BreakerConfig) -> Self {
        let config = BreakerConfig {
            failure_threshold: config.failure_threshold.max(1),
            half_open_probes: config.half_open_probes.max(1),
            open_for: config.open_for.min(BreakerConfig::MAX_OPEN_FOR),
        };
        Breaker {
            config,
            inner: Inner::Closed { failures: 0 },
            opens: 0,
        }
    }

    /// The (normalised) settings.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The current state. An Open breaker past its deadline still reports Open
    /// until `admit` or `handle_timeout` is called with a `now` past it.
    pub fn state(&self) -> BreakerState {
        match self.inner {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// How many times the breaker has entered Open (from Closed or HalfOpen).
    pub fn opens(&self) -> u64 {
        self.opens
    }

    /// When an Open breaker will half-open; `None` in any other state.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.inner {
            Inner::Open { until } => Some(until),
            _ => None,
        }
    }

    /// Moves Open → HalfOpen if `now` is at or past the deadline.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Transition> {
        match self.inner {
            Inner::Open { until } if now >= until => {
                self.inner = Inner::HalfOpen {
                    in_flight: 0,
                    successes: 0,
                };
                Some(self.transition(
                    BreakerState::Open,
                    BreakerState::HalfOpen,
                    TransitionReason::OpenElapsed,
                    now,
                ))
            }
            _ => None,
        }
    }

    /// Asks to start an attempt at `now`. Half-opens first if the open period
    /// has elapsed (that change is returned alongside the admission).
    pub fn admit(&mut self, now: Instant) -> (Admission, Option<Transition>) {
        let transition = self.handle_timeout(now);
        let admission = match &mut self.inner {
            Inner::Closed { .. } => Admission::Allowed,
            Inner::Open { until } => Admission::Rejected {
                retry_in: until.saturating_duration_since(now),
            },
            Inner::HalfOpen {
                in_flight,
                successes,
            } => {
                if in_flight.saturating_add(*successes) < self.config.half_open_probes {
                    *in_flight += 1;
                    Admission::Probe
                } else {
                    Admission::Rejected {
                        retry_in: self.config.open_for,
                    }
                }
            }
        };
        (admission, transition)
    }

    /// Records the outcome of an admitted attempt that ended at `now`.
    pub fn record(&mut self, now: Instant, success: bool) -> Option<Transition> {
        match &mut self.inner {
            Inner::Closed { failures } => {
                if success {
                    *failures = 0;
                    return None;
                }
                *failures = failures.saturating_add(1);
                if *failures < self.config.failure_threshold {
                    return None;
                }
                Some(self.open(
                    now,
                    BreakerState::Closed,
                    TransitionReason::FailureThreshold,
                ))
            }
            Inner::Open { .. } => None,
            Inner::HalfOpen { in_flight: 0, .. } => None,
            Inner::HalfOpen {
                in_flight,
                successes,
            } => {
                *in_flight -= 1;
                if !success {
                    return Some(self.open(
                        now,
                        BreakerState::HalfOpen,
                        TransitionReason::ProbeFailed,
                    ));
                }
                *successes += 1;
                if *successes < self.config.half_open_probes {
                    return None;
                }
                self.inner = Inner::Closed { failures: 0 };
                Some(self.transition(
                    BreakerState::HalfOpen,
                    BreakerState::Closed,
                    TransitionReason::ProbeSucceeded,
                    now,
                ))
            }
        }
    }

    fn open(&mut self, now: Instant, from: BreakerState, reason: TransitionReason) -> Transition {
        self.inner = Inner::Open {
            until: now + self.config.open_for,
        };
        self.opens += 1;
        self.transition(from, BreakerState::Open, reason, now)
    }

    fn transition(
        &self,
        from: BreakerState,
        to: BreakerState,
        reason: TransitionReason,
        at: Instant,
    ) -> Transition {
        Transition {
            from,
            to,
            reason,
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use BreakerState::{Closed, HalfOpen, Open};

    const SEC: Duration = Duration::from_secs(1);

    fn breaker(threshold: u32, open_for_s: u64, probes: u32) -> Breaker {
        Breaker::new(
            BreakerConfig::new(threshold, Duration::from_secs(open_for_s), probes).unwrap(),
        )
    }

    fn tr(
        from: BreakerState,
        to: BreakerState,
        reason: TransitionReason,
        at: Instant,
    ) -> Transition {
        Transition {
            from,
            to,
            reason,
            at,
        }
    }

    #[test]
    fn config_validation() {
        let cases = [
            (1, 0, 1, Ok(())),
            (3, 30, 2, Ok(())),
            (0, 30, 1, Err(InvalidBreaker::ZeroThreshold)),
            (3, 30, 0, Err(InvalidBreaker::ZeroProbes)),
            (3, 366 * 24 * 3600, 1, Err(InvalidBreaker::OpenForTooLong)),
        ];
        for (threshold, open_s, probes, want) in cases {
            let got =
                BreakerConfig::new(threshold, Duration::from_secs(open_s), probes).map(|_| ());
            assert_eq!(got, want, "{threshold} {open_s} {probes}");
        }
        let hand_built = BreakerConfig {
            failure_threshold: 0,
            open_for: Duration::MAX,
            half_open_probes: 0,
        };
        let b = Breaker::new(hand_built);
        assert_eq!(
            (b.config().failure_threshold, b.config().half_open_probes),
            (1, 1)
        );
        assert_eq!(b.config().open_for, BreakerConfig::MAX_OPEN_FOR);
    }

    #[test]
    fn spellings() {
        assert_eq!(
            [Closed.name(), Open.name(), HalfOpen.name()],
            ["closed", "open", "half-open"]
        );
        assert_eq!(HalfOpen.to_string(), "half-open");
        let reasons = [
            (TransitionReason::FailureThreshold, "failure-threshold"),
            (TransitionReason::OpenElapsed, "open-elapsed"),
            (TransitionReason::ProbeSucceeded, "probes-succeeded"),
            (TransitionReason::ProbeFailed, "probe-failed"),
        ];
        for (reason, name) in reasons {
            assert_eq!(reason.as_str(), name);
            assert_eq!(reason.to_string(), name);
        }
    }

    #[test]
    fn consecutive_failures_open_and_success_resets() {
        // (threshold, outcomes, index of the outcome that opens it)
        let cases: [(u32, &[bool], Option<usize>); 7] = [
            (1, &[false], Some(0)),
            (3, &[false, false, false], Some(2)),
            (3, &[false, false, true, false, false], None),
            (3, &[false, false, true, false, false, false], Some(5)),
            (3, &[true, true, true, true], None),
            (2, &[false, true, false, true, false, false], Some(5)),
            (5, &[false, false, false, false], None),
        ];
        let t0 = Instant::now();
        for (threshold, outcomes, opens_at) in cases {
            let mut b = breaker(threshold, 10, 1);
            let mut opened = None;
            for (i, &ok) in outcomes.iter().enumerate() {
                let now = t0 + i as u32 * SEC;
                assert_eq!(
                    b.admit(now),
                    (Admission::Allowed, None),
                    "{outcomes:?} #{i}"
                );
                if let Some(t) = b.record(now, ok) {
                    assert_eq!(t, tr(Closed, Open, TransitionReason::FailureThreshold, now));
                    assert!(opened.replace(i).is_none(), "opened twice");
                    break;
                }
            }
            assert_eq!(opened, opens_at, "{threshold} {outcomes:?}");
            assert_eq!(b.opens(), u64::from(opens_at.is_some()));
            assert_eq!(b.state(), if opens_at.is_some() { Open } else { Closed });
        }
    }

    #[test]
    fn open_rejects_with_time_left_until_half_open() {
        let t0 = Instant::now();
        let mut b = breaker(1, 30, 1);
        b.record(t0, false);
        assert_eq!(b.poll_timeout(), Some(t0 + 30 * SEC));
        let ms = Duration::from_millis;
        for (after, left) in [
            (ms(0), 30 * SEC),
            (ms(1), ms(29_999)),
            (10 * SEC, 20 * SEC),
            (ms(29_999), ms(1)),
        ] {
            assert_eq!(
                b.admit(t0 + after),
                (Admission::Rejected { retry_in: left }, None),
                "{after:?}"
            );
            assert_eq!(b.handle_timeout(t0 + after), None);
            assert_eq!(b.state(), Open);
        }
        // Records of attempts admitted before it opened are ignored while open.
        assert_eq!(b.record(t0 + SEC, true), None);
        assert_eq!(b.record(t0 + SEC, false), None);
        assert_eq!(
            (b.state(), b.opens(), b.poll_timeout()),
            (Open, 1, Some(t0 + 30 * SEC))
        );
    }

    #[test]
    fn admit_half_opens_exactly_at_deadline() {
        let t0 = Instant::now();
        for late in [Duration::ZERO, Duration::from_nanos(1), 100 * SEC] {
            let mut b = breaker(1, 30, 1);
            b.record(t0, false);
            let now = t0 + 30 * SEC + late;
            let (admission, t) = b.admit(now);
            assert_eq!(admission, Admission::Probe);
            assert_eq!(
                t,
                Some(tr(Open, HalfOpen, TransitionReason::OpenElapsed, now))
            );
            assert_eq!((b.state(), b.poll_timeout()), (HalfOpen, None));
        }
    }

    #[test]
    fn handle_timeout_half_opens_without_admitting() {
        let t0 = Instant::now();
        let mut b = breaker(1, 5, 1);
        assert_eq!(
            b.handle_timeout(t0 + 100 * SEC),
            None,
            "closed ignores timeouts"
        );
        b.record(t0, false);
        let deadline = b.poll_timeout().unwrap();
        assert_eq!(b.handle_timeout(deadline - Duration::from_nanos(1)), None);
        let t = b.handle_timeout(deadline);
        assert_eq!(
            t,
            Some(tr(Open, HalfOpen, TransitionReason::OpenElapsed, deadline))
        );
        assert_eq!(b.handle_timeout(deadline + SEC), None, "only once");
        // The probe slot is still free.
        assert_eq!(b.admit(deadline + SEC), (Admission::Probe, None));
    }

    #[test]
    fn probes_close_after_enough_successes() {
        let t0 = Instant::now();
        for probes in 1..=4u32 {
            let mut b = breaker(1, 1, probes);
            b.record(t0, false);
            let t1 = t0 + SEC;
            for i in 0..probes {
                let now = t1 + i * SEC;
                let (admission, _) = b.admit(now);
                assert_eq!(admission, Admission::Probe, "probes={probes} #{i}");
                let t = b.record(now, true);
                if i + 1 < probes {
                    assert_eq!((t, b.state()), (None, HalfOpen));
                } else {
                    assert_eq!(
                        t,
                        Some(tr(HalfOpen, Closed, TransitionReason::ProbeSucceeded, now))
                    );
                }
            }
            assert_eq!((b.state(), b.opens()), (Closed, 1));
            // Closed again with a fresh failure count.
            assert_eq!(b.admit(t0 + 100 * SEC), (Admission::Allowed, None));
        }
    }

    #[test]
    fn half_open_limits_outstanding_probes() {
        let t0 = Instant::now();
        let mut b = breaker(1, 7, 2);
        b.record(t0, false);
        let t1 = t0 + 7 * SEC;
        assert_eq!(b.admit(t1).0, Admission::Probe);
        assert_eq!(b.admit(t1).0, Admission::Probe);
        let full = Admission::Rejected { retry_in: 7 * SEC };
        assert_eq!(b.admit(t1), (full, None));
        // One success: one more success needed and one probe still out, so still full.
        assert_eq!(b.record(t1, true), None);
        assert_eq!(b.admit(t1), (full, None));
        assert_eq!(b.record(t1 + SEC, true).map(|t| t.to), Some(Closed));
    }

    #[test]
    fn failed_probe_reopens_and_restarts_open_for() {
        let t0 = Instant::now();
        let mut b = breaker(2, 10, 2);
        b.record(t0, false);
        b.record(t0, false);
        let t1 = t0 + 10 * SEC;
        assert_eq!(b.admit(t1).0, Admission::Probe);
        assert_eq!(b.admit(t1).0, Admission::Probe);
        assert_eq!(b.record(t1, true), None);
        let t2 = t1 + 3 * SEC;
        assert_eq!(
            b.record(t2, false),
            Some(tr(HalfOpen, Open, TransitionReason::ProbeFailed, t2))
        );
        assert_eq!(
            (b.state(), b.opens(), b.poll_timeout()),
            (Open, 2, Some(t2 + 10 * SEC))
        );
        assert_eq!(
            b.admit(t2 + 4 * SEC),
            (Admission::Rejected { retry_in: 6 * SEC }, None)
        );
        // Next half-open starts from zero successes.
        let t3 = t2 + 10 * SEC;
        assert_eq!(b.admit(t3).0, Admission::Probe);
        assert_eq!(b.record(t3, true), None);
        assert_eq!(b.state(), HalfOpen);
    }

    #[test]
    fn record_without_outstanding_probe_is_ignored_when_half_open() {
        let t0 = Instant::now();
        let mut b = breaker(1, 1, 1);
        b.record(t0, false);
        b.handle_timeout(t0 + SEC);
        assert_eq!(b.record(t0 + SEC, false), None);
        assert_eq!(b.record(t0 + SEC, true), None);
        assert_eq!((b.state(), b.opens()), (HalfOpen, 1));
    }

    #[test]
    fn full_cycle_transitions() {
        let t0 = Instant::now();
        let mut b = breaker(2, 5, 1);
        let mut log = Vec::new();
        let steps: [(u64, Option<bool>); 8] = [
            (0, Some(false)),
            (1, Some(false)), // opens at 1 s until 6 s
            (3, None),        // rejected
            (6, Some(false)), // probe fails: open until 11 s
            (8, None),        // rejected
            (11, Some(true)), // probe succeeds: closed
            (12, Some(false)),
            (13, Some(true)),
        ];
        for (s, outcome) in steps {
            let now = t0 + Duration::from_secs(s);
            let (admission, t) = b.admit(now);
            log.extend(t);
            if let (Some(ok), false) = (outcome, matches!(admission, Admission::Rejected { .. })) {
                log.extend(b.record(now, ok));
            }
        }
        use TransitionReason::*;
        let want = [
            tr(Closed, Open, FailureThreshold, t0 + SEC),
            tr(Open, HalfOpen, OpenElapsed, t0 + 6 * SEC),
            tr(HalfOpen, Open, ProbeFailed, t0 + 6 * SEC),
            tr(Open, HalfOpen, OpenElapsed, t0 + 11 * SEC),
            tr(HalfOpen, Closed, ProbeSucceeded, t0 + 11 * SEC),
        ];
        assert_eq!(log, want);
        assert_eq!((b.state(), b.opens()), (Closed, 2));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Admit,
        Finish(bool),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Admit),
            3 => any::<bool>().prop_map(Op::Finish),
            2 => (0u64..3_000).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #[test]
        fn half_open_never_admits_more_than_probes(
            threshold in 1u32..4,
            open_ms in 0u64..2_000,
            probes in 1u32..4,
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut b = Breaker::new(BreakerConfig::new(threshold, Duration::from_millis(open_ms), probes).unwrap());
            let mut outstanding: Vec<Admission> = Vec::new();
            let mut probes_out = 0u32;
            let mut opens = 0u64;
            let mut state = Closed;
            let mut check = |t: Option<Transition>, state: &mut BreakerState, probes_out: &mut u32| {
                if let Some(t) = t {
                    prop_assert_eq!(t.from, *state);
                    prop_assert_ne!(t.from, t.to);
                    *state = t.to;
                    opens += u64::from(t.to == Open);
                    if t.to == HalfOpen { *probes_out = 0; }
                }
                Ok(())
            };
            for op in ops {
                match op {
                    Op::Advance(ms) => {
                        now += Duration::from_millis(ms);
                    }
                    Op::Admit => {
                        let (admission, t) = b.admit(now);
                        check(t, &mut state, &mut probes_out)?;
                        match admission {
                            Admission::Allowed => prop_assert_eq!(state, Closed),
                            Admission::Probe => {
                                prop_assert_eq!(state, HalfOpen);
                                probes_out += 1;
                                prop_assert!(probes_out <= probes, "{} probes outstanding", probes_out);
                            }
                            Admission::Rejected { retry_in } => {
                                prop_assert_ne!(state, Closed);
                                prop_assert!(retry_in <= Duration::from_millis(open_ms));
                            }
                        }
                        if !matches!(admission, Admission::Rejected { .. }) {
                            outstanding.push(admission);
                        }
                    }
                    Op::Finish(ok) => {
                        let Some(admission) = outstanding.pop() else { continue };
                        let t = b.record(now, ok);
                        if admission == Admission::Probe && state == HalfOpen {
                            probes_out = probes_out.saturating_sub(1);
                        }
                        check(t, &mut state, &mut probes_out)?;
                    }
                }
                prop_assert_eq!(b.state(), state);
                prop_assert_eq!(b.poll_timeout().is_some(), state == Open);
            }
            prop_assert_eq!(b.opens(), opens);
        }
    }
}
