//! [`WantedStream`] on a hand-advanced clock: breaker × retry × `Retry-After`.
//!
//! Request mode here: every attempt takes one second; every wait is waited
//! out exactly. The expected traces are worked out by hand in each case's
//! comment. Subscribe mode's cases are in [`subscribe`].

mod subscribe;

use super::*;
use crate::client::backoff::{Backoff, Jitter};
use crate::client::breaker::BreakerConfig;
use crate::client::breaker::BreakerState::{self, Closed, HalfOpen, Open};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use FailureKind::*;

const SEC: Duration = Duration::from_secs(1);

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// What the driver saw, in order; times in whole seconds from `t0`.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// A breaker change: from, to, at.
    Changed(BreakerState, BreakerState, u64),
    /// An attempt started at.
    Attempt(u64),
    /// Retry number, delay in seconds, kind retried.
    Retry(u32, u64, FailureKind),
    /// Over at.
    Done(u64),
}
use Seen::{Changed, Done, Retry};

/// Shorthand for an attempt started at `s` seconds.
const fn at(s: u64) -> Seen {
    Seen::Attempt(s)
}

/// How a scripted attempt ends.
#[derive(Clone, Copy, Debug)]
enum End {
    Ok,
    Fail(FailureKind),
    /// A failure carrying `Retry-After: n` (seconds).
    Hinted(FailureKind, u64),
    /// A failure after the stream sent `retry: n` (in seconds here).
    Field(FailureKind, u64),
    /// A failure carrying `Retry-After: n` after the stream sent `retry: m`.
    HintedField(FailureKind, u64, u64),
}

impl End {
    fn result(self) -> Result<(), Failure> {
        match self {
            End::Ok => Ok(()),
            End::Fail(kind) => Err(Failure::new(kind, "scripted")),
            End::Hinted(kind, secs) | End::HintedField(kind, secs, _) => Err(Failure {
                retry_after: Some(s(secs)),
                ..Failure::new(kind, "scripted")
            }),
            End::Field(kind, _) => Err(Failure::new(kind, "scripted")),
        }
    }

    /// The SSE `retry:` value the attempt received, if any.
    fn retry_field(self) -> Option<Duration> {
        match self {
            End::Field(_, secs) | End::HintedField(_, _, secs) => Some(s(secs)),
            _ => None,
        }
    }
}

struct Case {
    name: &'static str,
    /// `failure_threshold`, `open_for` (s), `half_open_probes`.
    breaker: (u32, u64, u32),
    /// Failures recorded at `t0`, before the stream.
    pre_failures: u32,
    /// When the stream is wanted (s).
    start: u64,
    max_retries: u32,
    /// `backoff.base` and `backoff.max` (s); factor 2, no jitter.
    backoff: (u64, u64),
    ends: &'static [End],
    want: &'static [Seen],
    /// attempts, retries, short_circuited, result kind.
    outcome: (u32, u32, bool, Result<(), FailureKind>),
    /// The breaker afterwards: state, opens.
    after: (BreakerState, u64),
    /// `retry.honor_retry_field`.
    honor_retry_field: bool,
}

/// Drives `case` as `stream_with_retry` does, on a hand-advanced clock.
fn play(case: &Case) -> (Vec<Seen>, StreamOutcome, Breaker) {
    let t0 = Instant::now();
    let secs = |t: Instant| {
        let d = t - t0;
        assert_eq!(d.subsec_nanos(), 0, "{}: whole seconds", case.name);
        d.as_secs()
    };
    let (threshold, open_for, probes) = case.breaker;
    let mut breaker =
        Breaker::new(BreakerConfig::new(threshold, s(open_for), probes).expect("valid"));
    for _ in 0..case.pre_failures {
        breaker.record(t0, false);
    }
    let (base, max) = case.backoff;
    let policy = RetryPolicy {
        max_retries: case.max_retries,
        backoff: Backoff::new(s(base), 2.0, s(max), Jitter::None).expect("valid"),
        honor_retry_field: case.honor_retry_field,
        ..RetryPolicy::default()
    };
    let mut rng = SmallRng::seed_from_u64(7);
    let mut now = t0 + s(case.start);
    let mut wanted = WantedStream::new(now, policy);
    let mut ends = case.ends.iter();
    let mut seen = Vec::new();
    loop {
        match wanted.next(now, &mut breaker, &mut rng) {
            Step::BreakerChanged(t) => seen.push(Changed(t.from, t.to, secs(t.at))),
            Step::Attempt { hold_until } => {
                assert_eq!(hold_until, None, "{}: request mode", case.name);
                seen.push(at(secs(now)));
                now += SEC;
                let end = ends
                    .next()
                    .unwrap_or_else(|| panic!("{}: too few ends", case.name));
                wanted.attempt_finished(now, end.result(), end.retry_field());
            }
            Step::Retry {
                retry,
                delay,
                until,
                after,
            } => {
                seen.push(Retry(retry, delay.as_secs(), after.kind));
                assert_eq!(until, now + delay, "{}", case.name);
                if !delay.is_zero() {
                    let early = until - Duration::from_nanos(1);
                    for t in [now, early] {
                        let step = wanted.next(t, &mut breaker, &mut rng);
                        assert_eq!(step, Step::Wait { until }, "{}: wait holds", case.name);
                    }
                }
                now = until;
            }
            Step::Wait { until } => panic!("{}: unexpected wait until {until:?}", case.name),
            step @ (Step::Disconnected { .. } | Step::ShortCircuited { .. }) => {
                panic!("{}: subscribe-mode step {step:?}", case.name)
            }
            Step::Done => {
                seen.push(Done(secs(now)));
                break;
            }
        }
    }
    assert!(ends.next().is_none(), "{}: ends left over", case.name);
    let again = wanted.next(now + SEC, &mut breaker, &mut rng);
    assert_eq!(again, Step::Done, "{}: done is final", case.name);
    (seen, wanted.finish(now), breaker)
}

const CASES: &[Case] = &[
    // honor_retry_field: `retry: 3` replaces the backoff's 1 (to 4); the
    // next attempt sends none, the 3 persists (to 8); `retry: 60` is capped
    // at max 10 (to 19); a 503's Retry-After 2 beats the field (to 22).
    Case {
        name: "the retry field sets the delay, persists, is capped, and yields to Retry-After",
        breaker: (9, 30, 1),
        pre_failures: 0,
        start: 0,
        max_retries: 4,
        backoff: (1, 10),
        ends: &[
            End::Field(Cut, 3),
            End::Fail(Reset),
            End::Field(Cut, 60),
            End::HintedField(Status5xx, 2, 5),
            End::Ok,
        ],
        want: &[
            at(0),
            Retry(1, 3, Cut),
            at(4),
            Retry(2, 3, Reset),
            at(8),
            Retry(3, 10, Cut),
            at(19),
            Retry(4, 2, Status5xx),
            at(22),
            Done(23),
        ],
        outcome: (5, 4, false, Ok(())),
        after: (Closed, 0),
        honor_retry_field: true,
    },
    // The same stream without honor_retry_field: the backoff (1, 2, 4), and
    // the 503's Retry-After 2.
    Case {
        name: "the retry field is ignored unless honor_retry_field",
        breaker: (9, 30, 1),
        pre_failures: 0,
        start: 0,
        max_retries: 4,
        backoff: (1, 10),
        ends: &[
            End::Field(Cut, 3),
            End::Fail(Reset),
            End::Field(Cut, 60),
            End::HintedField(Status5xx, 2, 5),
            End::Ok,
        ],
        want: &[
            at(0),
            Retry(1, 1, Cut),
            at(2),
            Retry(2, 2, Reset),
            at(5),
            Retry(3, 4, Cut),
            at(10),
            Retry(4, 2, Status5xx),
            at(13),
            Done(14),
        ],
        outcome: (5, 4, false, Ok(())),
        after: (Closed, 0),
        honor_retry_field: false,
    },
    // A field does not make a kind retryable: a 404 after `retry: 1` gives up.
    Case {
        name: "the retry field never retries what the policy gives up",
        breaker: (9, 30, 1),
        pre_failures: 0,
        start: 0,
        max_retries: 4,
        backoff: (1, 10),
        ends: &[End::Field(Status4xx, 1)],
        want: &[at(0), Done(1)],
        outcome: (1, 0, false, Err(Status4xx)),
        after: (Closed, 0),
        honor_retry_field: true,
    },
    // Fails at 1, 3, 6 (attempts at 0, 2, 5: delays 1, 2). The third failure
    // opens the breaker at 6 (until 36) and retry 3 (delay 4) is decided
    // anyway; at 10 the breaker refuses: short-circuited with 3 retries.
    Case {
        name: "threshold 3 of max_retries 5: third failure opens, next call short-circuits",
        breaker: (3, 30, 1),
        pre_failures: 0,
        start: 0,
        max_retries: 5,
        backoff: (1, 10),
        ends: &[End::Fail(Reset), End::Fail(Reset), End::Fail(Reset)],
        want: &[
            at(0),
            Retry(1, 1, Reset),
            at(2),
            Retry(2, 2, Reset),
            at(5),
            Changed(Closed, Open, 6),
            Retry(3, 4, Reset),
            Done(10),
        ],
        outcome: (3, 3, true, Err(ShortCircuited)),
        after: (Open, 1),
        honor_retry_field: false,
    },
    // 429 with Retry-After 120 > max 10: waits 10 (to 11). 5xx with
    // Retry-After 3: waits 3, not the backoff's 2 (to 15). A reset's
    // Retry-After is ignored: backoff for retry 3 is 4 (to 20). Success at 21.
    Case {
        name: "Retry-After capped at backoff.max, honoured below it, ignored for other kinds",
        breaker: (5, 30, 1),
        pre_failures: 0,
        start: 0,
        max_retries: 3,
        backoff: (1, 10),
        ends: &[
            End::Hinted(Status429, 120),
            End::Hinted(Status5xx, 3),
            End::Hinted(Reset, 60),
            End::Ok,
        ],
        want: &[
            at(0),
            Retry(1, 10, Status429),
            at(11),
            Retry(2, 3, Status5xx),
            at(15),
            Retry(3, 4, Reset),
            at(20),
            Done(21),
        ],
        outcome: (4, 3, false, Ok(())),
        after: (Closed, 0),
        honor_retry_field: false,
    },
    // A 404 is never retried, but it still counts for the breaker (threshold 1).
    Case {
        name: "a 4xx is not retried",
        breaker: (1, 30, 1),
        pre_failures: 0,
        start: 0,
        max_retries: 3,
        backoff: (1, 10),
        ends: &[End::Fail(Status4xx)],
        want: &[at(0), Changed(Closed, Open, 1), Done(1)],
        outcome: (1, 0, false, Err(Status4xx)),
        after: (Open, 1),
        honor_retry_field: false,
    },
    // Not in the default retry_on: given up at once, breaker below threshold.
    Case {
        name: "a kind outside retry_on is not retried",
        breaker: (3, 30, 1),
        pre_failures: 0,
        start: 0,
        max_retries: 3,
        backoff: (1, 10),
        ends: &[End::Fail(WrongContentType)],
        want: &[at(0), Done(1)],
        outcome: (1, 0, false, Err(WrongContentType)),
        after: (Closed, 0),
        honor_retry_field: false,
    },
    // Open until 5 from t0. At 5 it half-opens and the attempt is the probe;
    // it fails at 6: open again until 11. Retry 1 (delay 1) is refused at 7.
    Case {
        name: "a failed half-open probe reopens",
        breaker: (1, 5, 1),
        pre_failures: 1,
        start: 5,
        max_retries: 3,
        backoff: (1, 10),
        ends: &[End::Fail(Reset)],
        want: &[
            Changed(Open, HalfOpen, 5),
            at(5),
            Changed(HalfOpen, Open, 6),
            Retry(1, 1, Reset),
            Done(7),
        ],
        outcome: (1, 1, true, Err(ShortCircuited)),
        after: (Open, 2),
        honor_retry_field: false,
    },
    // Cancelled: neither retried nor told to the breaker (threshold 1).
    Case {
        name: "a cancelled attempt ends without retry",
        breaker: (1, 30, 1),
        pre_failures: 0,
        start: 0,
        max_retries: 3,
        backoff: (1, 10),
        ends: &[End::Fail(Cancelled)],
        want: &[at(0), Done(1)],
        outcome: (1, 0, false, Err(Cancelled)),
        after: (Closed, 0),
        honor_retry_field: false,
    },
    // Open until 4 (three failures at t0). Probe at 4 fails at 5 (open until
    // 9); retry 1 waits 5 (base) to 10: half-open, probe fails at 11 (open
    // until 15); retry 2 waits 10 to 21: half-open, probe succeeds at 22 and
    // closes the breaker. Opens: 1 before + 2.
    Case {
        name: "success after 2 retries closes a half-open breaker",
        breaker: (3, 4, 1),
        pre_failures: 3,
        start: 4,
        max_retries: 3,
        backoff: (5, 30),
        ends: &[End::Fail(Reset), End::Fail(Status5xx), End::Ok],
        want: &[
            Changed(Open, HalfOpen, 4),
            at(4),
            Changed(HalfOpen, Open, 5),
            Retry(1, 5, Reset),
            Changed(Open, HalfOpen, 10),
            at(10),
            Changed(HalfOpen, Open, 11),
            Retry(2, 10, Status5xx),
            Changed(Open, HalfOpen, 21),
            at(21),
            Changed(HalfOpen, Closed, 22),
            Done(22),
        ],
        outcome: (3, 2, false, Ok(())),
        after: (Closed, 3),
        honor_retry_field: false,
    },
    // Delays 1 and 2; the third failure (at 6) exhausts max_retries 2.
    Case {
        name: "max_retries exhausted: the last failure is the result",
        breaker: (10, 30, 1),
        pre_failures: 0,
        start: 0,
        max_retries: 2,
        backoff: (1, 10),
        ends: &[End::Fail(Reset), End::Fail(Cut), End::Fail(IdleTimeout)],
        want: &[
            at(0),
            Retry(1, 1, Reset),
            at(2),
            Retry(2, 2, Cut),
            at(5),
            Done(6),
        ],
        outcome: (3, 2, false, Err(IdleTimeout)),
        after: (Closed, 0),
        honor_retry_field: false,
    },
    // base 0 without jitter: immediate retry, still announced as a step.
    Case {
        name: "a zero delay is still a retry step",
        breaker: (3, 30, 1),
        pre_failures: 0,
        start: 0,
        max_retries: 3,
        backoff: (0, 10),
        ends: &[End::Fail(Reset), End::Ok],
        want: &[at(0), Retry(1, 0, Reset), at(1), Done(2)],
        outcome: (2, 1, false, Ok(())),
        after: (Closed, 0),
        honor_retry_field: false,
    },
];

#[test]
fn breaker_retry_and_retry_after_interplay() {
    for case in CASES {
        let (seen, outcome, breaker) = play(case);
        assert_eq!(seen, case.want, "{}", case.name);
        let (attempts, retries, short_circuited, result) = case.outcome;
        let got = (
            outcome.attempts,
            outcome.retries,
            outcome.short_circuited,
            outcome.result.as_ref().map(|_| ()).map_err(|f| f.kind),
        );
        assert_eq!(
            got,
            (attempts, retries, short_circuited, result),
            "{}",
            case.name
        );
        let Some(Done(end)) = case.want.last() else {
            panic!("{}: a trace ends with Done", case.name)
        };
        assert_eq!(outcome.duration, s(end - case.start), "{}", case.name);
        assert_eq!(
            (breaker.state(), breaker.opens()),
            case.after,
            "{}",
            case.name
        );
    }
}

#[test]
fn short_circuit_names_the_wait() {
    // That case: open at 6 until 36, refused at 10, so 26 s to go.
    let first = CASES
        .iter()
        .find(|c| c.name.starts_with("threshold 3 of max_retries 5"))
        .expect("the case is in the table");
    let (_, outcome, _) = play(first);
    let failure = outcome.result.expect_err("short-circuited");
    assert_eq!(
        failure.detail,
        "circuit breaker open: it lets a probe through in 26.0s (open_for)"
    );
}

fn setup() -> (Instant, Breaker, SmallRng, WantedStream) {
    let t0 = Instant::now();
    let policy = RetryPolicy {
        backoff: Backoff::new(SEC, 2.0, 10 * SEC, Jitter::None).expect("valid"),
        ..RetryPolicy::default()
    };
    (
        t0,
        Breaker::new(BreakerConfig::default()),
        SmallRng::seed_from_u64(1),
        WantedStream::new(t0, policy),
    )
}

#[test]
fn cancelled_wait_ends_with_the_retried_failure() {
    let (t0, mut breaker, mut rng, mut wanted) = setup();
    assert_eq!(
        wanted.next(t0, &mut breaker, &mut rng),
        Step::Attempt { hold_until: None }
    );
    wanted.attempt_finished(t0 + SEC, Err(Failure::new(Reset, "peer reset")), None);
    let step = wanted.next(t0 + SEC, &mut breaker, &mut rng);
    assert!(matches!(step, Step::Retry { retry: 1, .. }), "{step:?}");
    wanted.cancelled();
    assert_eq!(
        wanted.next(t0 + 5 * SEC, &mut breaker, &mut rng),
        Step::Done
    );
    let outcome = wanted.finish(t0 + SEC);
    assert_eq!((outcome.attempts, outcome.retries), (1, 1));
    let failure = outcome.result.expect_err("failed");
    assert_eq!(
        (failure.kind, failure.detail.as_str()),
        (Reset, "peer reset")
    );
}

#[test]
fn out_of_turn_calls_change_nothing() {
    let (t0, mut breaker, mut rng, mut wanted) = setup();
    // No attempt running: a report and a cancel are ignored.
    wanted.attempt_finished(t0, Err(Failure::new(Reset, "stray")), None);
    wanted.cancelled();
    assert_eq!(
        wanted.next(t0, &mut breaker, &mut rng),
        Step::Attempt { hold_until: None }
    );
    // Asked again while it runs: the same attempt, not a second one.
    assert_eq!(
        wanted.next(t0, &mut breaker, &mut rng),
        Step::Attempt { hold_until: None }
    );
    wanted.cancelled();
    wanted.attempt_finished(t0 + SEC, Ok(()), None);
    assert_eq!(wanted.next(t0 + SEC, &mut breaker, &mut rng), Step::Done);
    let outcome = wanted.finish(t0 + 2 * SEC);
    assert_eq!(
        (
            outcome.attempts,
            outcome.retries,
            outcome.result,
            outcome.duration
        ),
        (1, 0, Ok(()), 2 * SEC)
    );
}

#[test]
fn an_opening_is_no_verdict_in_request_mode() {
    // A half-open breaker (one probe): a success recorded at the opening
    // would close it there; in request mode the attempt's end does.
    let t0 = Instant::now();
    let mut breaker = Breaker::new(BreakerConfig::new(1, SEC, 1).expect("valid"));
    breaker.record(t0, false);
    let mut rng = SmallRng::seed_from_u64(1);
    let mut wanted = WantedStream::new(t0 + SEC, RetryPolicy::default());
    let step = wanted.next(t0 + SEC, &mut breaker, &mut rng);
    assert!(
        matches!(step, Step::BreakerChanged(t) if t.to == HalfOpen),
        "{step:?}"
    );
    let step = wanted.next(t0 + SEC, &mut breaker, &mut rng);
    assert_eq!(step, Step::Attempt { hold_until: None });
    assert_eq!(wanted.opened(t0 + SEC, &mut breaker), None);
    assert_eq!(breaker.state(), HalfOpen);
    wanted.attempt_finished(t0 + 2 * SEC, Ok(()), None);
    let step = wanted.next(t0 + 2 * SEC, &mut breaker, &mut rng);
    assert!(
        matches!(step, Step::BreakerChanged(t) if t.to == Closed),
        "{step:?}"
    );
    assert_eq!(
        wanted.next(t0 + 2 * SEC, &mut breaker, &mut rng),
        Step::Done
    );
}

#[test]
fn decorrelated_jitter_sees_the_previous_delay() {
    let backoff = Backoff::new(SEC, 2.0, 60 * SEC, Jitter::Decorrelated).expect("valid");
    let policy = RetryPolicy {
        max_retries: 4,
        backoff,
        ..RetryPolicy::default()
    };
    // The same draws, made by hand: retry n gets the delay of retry n - 1.
    let mut expected_rng = SmallRng::seed_from_u64(3);
    let mut prev = Duration::ZERO;
    let mut want = Vec::new();
    for retry in 1..=4 {
        prev = backoff.delay(retry, prev, &mut expected_rng);
        want.push(prev);
    }
    let t0 = Instant::now();
    let mut breaker = Breaker::new(BreakerConfig::new(10, SEC, 1).expect("valid"));
    let mut rng = SmallRng::seed_from_u64(3);
    let mut wanted = WantedStream::new(t0, policy);
    let mut now = t0;
    let mut got = Vec::new();
    loop {
        match wanted.next(now, &mut breaker, &mut rng) {
            Step::Attempt { .. } => {
                wanted.attempt_finished(now, Err(Failure::new(Cut, "cut")), None)
            }
            Step::Retry { delay, until, .. } => {
                got.push(delay);
                now = until;
            }
            Step::Done => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, want);
}
