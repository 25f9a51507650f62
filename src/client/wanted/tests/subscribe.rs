//! Subscribe mode ([`WantedStream::subscription`]) on a hand-advanced
//! clock: hold, disconnections, `retry:`, reconnect bounds, breaker pacing.
//!
//! Each scripted attempt opens at an offset (or never) and ends at another;
//! the log shows every step with its time in seconds from `t0`.

use super::super::*;
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
    let mut sub = WantedStream::subscription(t0, Duration::from_secs(hold), policy);
    let mut scripts = scripts.into_iter();
    let mut now = t0;
    let mut log = Vec::new();
    for _ in 0..100 {
        match sub.next(now, &mut breaker, &mut rng) {
            Step::BreakerChanged(t) => log.push(format!("{} breaker {}", at(t.at), t.to.name())),
            Step::Attempt { hold_until } => {
                assert_eq!(hold_until, Some(t0 + Duration::from_secs(hold)));
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
    let mut sub = WantedStream::subscription(t0, 10 * S, policy(1));
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
