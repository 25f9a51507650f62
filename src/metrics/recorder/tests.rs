//! Recorder policy on hand-made outcomes: every instant is an offset of a
//! fixed origin `t0`, every expected value is worked out in the comments.

use super::*;
use crate::client::breaker::TransitionReason;
use crate::client::protocol::HttpVersion;
use crate::metrics::Latencies;
use crate::sse::Event;

const SESSION: u64 = 7;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// A run whose faults have these windows (ms offsets; `None` = still on).
struct Rig {
    t0: Instant,
    clock: FaultClock,
}

impl Rig {
    fn new(windows: &[(u64, Option<u64>)]) -> Rig {
        let t0 = Instant::now();
        let clock = FaultClock::new(t0, windows.len());
        for (i, (start, end)) in windows.iter().enumerate() {
            clock.mark_started(i, t0 + ms(*start));
            if let Some(end) = end {
                clock.mark_ended(i, t0 + ms(*end));
            }
        }
        Rig { t0, clock }
    }

    fn at(&self, offset_ms: u64) -> Instant {
        self.t0 + ms(offset_ms)
    }

    fn run(&self) -> RunContext<'_> {
        RunContext {
            run_start: self.t0,
            faults: &self.clock,
            slo: crate::metrics::Slo::default(),
            events: EventRules::default(),
        }
    }

    /// An attempt sent at `sent` (ms) that ended `duration` ms later.
    fn attempt(
        &self,
        sent: u64,
        duration: u64,
        ttfb: Option<u64>,
        ttfe: Option<u64>,
        result: Result<(), FailureKind>,
    ) -> AttemptOutcome {
        AttemptOutcome {
            started: self.at(sent),
            ttfb: ttfb.map(ms),
            ttfe: ttfe.map(ms),
            duration: ms(duration),
            events: 0,
            bytes: 10,
            malformed_events: 0,
            status: Some(200),
            retry_field: None,
            version: ttfb.map(|_| HttpVersion::Http2),
            tokens: Default::default(),
            result: result.map_err(|kind| Failure::new(kind, kind.as_str())),
        }
    }

    /// A wanted stream started at `started` (ms) and over `duration` ms later.
    fn outcome(
        &self,
        started: u64,
        duration: u64,
        short_circuited: bool,
        result: Result<(), FailureKind>,
    ) -> StreamOutcome {
        StreamOutcome {
            started: self.at(started),
            duration: ms(duration),
            attempts: 1,
            retries: 0,
            short_circuited,
            result: result.map_err(|kind| Failure::new(kind, kind.as_str())),
        }
    }

    fn transition(&self, at: u64, from: BreakerState, to: BreakerState) -> Transition {
        let reason = match (from, to) {
            (BreakerState::Closed, _) => TransitionReason::FailureThreshold,
            (BreakerState::Open, _) => TransitionReason::OpenElapsed,
            (_, BreakerState::Closed) => TransitionReason::ProbeSucceeded,
            _ => TransitionReason::ProbeFailed,
        };
        Transition {
            from,
            to,
            reason,
            at: self.at(at),
        }
    }
}

/// The histogram of `metric` as (highest equivalent µs value, count) pairs.
fn recorded(l: &Latencies, metric: LatencyMetric) -> Vec<(u64, u64)> {
    l.get(metric)
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// What `recorded` gives for exactly these samples (ms).
fn expected(metric: LatencyMetric, samples_ms: &[u64]) -> Vec<(u64, u64)> {
    let mut l = Latencies::default();
    for v in samples_ms {
        l.record(metric, ms(*v));
    }
    recorded(&l, metric)
}

use BreakerState::{Closed, HalfOpen, Open};

#[test]
fn lateness_is_added_to_the_first_attempt_only() {
    struct Case {
        name: &'static str,
        lateness: u64,
        /// (ttfb, ttfe, ok) per attempt.
        attempts: &'static [(Option<u64>, Option<u64>, bool)],
        stream_ms: u64,
        ttfb: &'static [u64],
        ttfe: &'static [u64],
        stream: &'static [u64],
    }
    let cases = [
        Case {
            name: "open model: a failed first attempt, then an ok retry",
            lateness: 500,
            attempts: &[(Some(100), None, false), (Some(20), Some(30), true)],
            stream_ms: 2000,
            // 100 + 500 for the first; the retry's 20 as measured.
            ttfb: &[600, 20],
            // Only the retry reached an event: 30, no lateness.
            ttfe: &[30],
            // 2000 + 500.
            stream: &[2500],
        },
        Case {
            name: "open model: one ok attempt",
            lateness: 500,
            attempts: &[(Some(100), Some(150), true)],
            stream_ms: 1000,
            ttfb: &[600],
            ttfe: &[650],
            stream: &[1500],
        },
        Case {
            name: "closed model: no lateness",
            lateness: 0,
            attempts: &[(Some(100), Some(150), true)],
            stream_ms: 1000,
            ttfb: &[100],
            ttfe: &[150],
            stream: &[1000],
        },
        Case {
            name: "two failures: the first's ttfe is late, a failed stream has no stream sample",
            lateness: 500,
            attempts: &[(Some(10), Some(40), false), (Some(10), Some(40), false)],
            stream_ms: 3000,
            ttfb: &[510, 10],
            ttfe: &[540, 40],
            stream: &[],
        },
    ];
    for case in cases {
        let rig = Rig::new(&[]);
        let delta = RefCell::new(IntervalDelta::default());
        let mut tally = SessionTally::new(SESSION);
        let mut r = Recorder::new(rig.run(), &delta, &mut tally, ms(case.lateness));
        let mut ok = false;
        for (i, &(ttfb, ttfe, attempt_ok)) in case.attempts.iter().enumerate() {
            let result = if attempt_ok {
                Ok(())
            } else {
                Err(FailureKind::Cut)
            };
            r.attempt_finished(&rig.attempt(1000 * i as u64, 500, ttfb, ttfe, result));
            ok = attempt_ok;
        }
        let result = if ok { Ok(()) } else { Err(FailureKind::Cut) };
        r.stream_finished(&rig.outcome(0, case.stream_ms, false, result));
        let d = delta.borrow();
        let n = case.name;
        assert_eq!(
            recorded(&d.latencies, LatencyMetric::Ttfb),
            expected(LatencyMetric::Ttfb, case.ttfb),
            "{n}"
        );
        assert_eq!(
            recorded(&d.latencies, LatencyMetric::Ttfe),
            expected(LatencyMetric::Ttfe, case.ttfe),
            "{n}"
        );
        assert_eq!(
            recorded(&d.latencies, LatencyMetric::Stream),
            expected(LatencyMetric::Stream, case.stream),
            "{n}"
        );
        assert_eq!(d.counters.attempts, case.attempts.len() as u64, "{n}");
        assert_eq!(d.counters.bytes, 10 * case.attempts.len() as u64, "{n}");
    }
}

#[test]
fn recover_is_recorded_once_per_session_per_fault() {
    struct Case {
        name: &'static str,
        /// When a failed attempt ended (ms), if any.
        failure_at: Option<u64>,
        /// When each later successful stream ended (ms), in order.
        successes: &'static [u64],
        /// Expected recover samples (ms).
        recover: &'static [u64],
        /// Expected affected sample: fault start → first failure (ms).
        affected: Option<u64>,
    }
    // One fault, 10 s → 20 s.
    let cases = [
        Case {
            name: "affected: the first success after the end, once",
            failure_at: Some(12_000),
            successes: &[23_000, 30_000],
            // 23 s − 20 s; the success at 30 s adds nothing.
            recover: &[3_000],
            // 12 s − 10 s
            affected: Some(2_000),
        },
        Case {
            name: "never affected: no sample",
            failure_at: None,
            successes: &[23_000],
            recover: &[],
            affected: None,
        },
        Case {
            name: "a success during the fault is not a recovery",
            failure_at: Some(12_000),
            successes: &[15_000, 25_000],
            // 25 s − 20 s.
            recover: &[5_000],
            affected: Some(2_000),
        },
        Case {
            name: "a failure before the fault does not affect",
            failure_at: Some(5_000),
            successes: &[23_000],
            recover: &[],
            affected: None,
        },
        Case {
            name: "a failure at the very end affects (window inclusive)",
            failure_at: Some(20_000),
            successes: &[21_000],
            recover: &[1_000],
            // 20 s − 10 s
            affected: Some(10_000),
        },
    ];
    for case in cases {
        let rig = Rig::new(&[(10_000, Some(20_000))]);
        let delta = RefCell::new(IntervalDelta::default());
        let mut tally = SessionTally::new(SESSION);
        if let Some(at) = case.failure_at {
            let mut r = Recorder::new(rig.run(), &delta, &mut tally, Duration::ZERO);
            r.attempt_finished(&rig.attempt(at - 100, 100, None, None, Err(FailureKind::Reset)));
            r.stream_finished(&rig.outcome(at - 100, 100, false, Err(FailureKind::Reset)));
        }
        for &end in case.successes {
            let mut r = Recorder::new(rig.run(), &delta, &mut tally, Duration::ZERO);
            r.attempt_finished(&rig.attempt(end - 100, 100, Some(5), Some(10), Ok(())));
            r.stream_finished(&rig.outcome(end - 100, 100, false, Ok(())));
        }
        let d = delta.borrow();
        let n = case.name;
        let samples: Vec<FaultSample> = case
            .recover
            .iter()
            .map(|&v| FaultSample {
                fault: 0,
                session: SESSION,
                latency: ms(v),
            })
            .collect();
        assert_eq!(d.fault_recovers, samples, "{n}");
        // The failed attempt and its failed stream end together: one sample.
        let affected: Vec<FaultSample> = case
            .affected
            .iter()
            .map(|&v| FaultSample {
                fault: 0,
                session: SESSION,
                latency: ms(v),
            })
            .collect();
        assert_eq!(d.fault_affected, affected, "{n}");
        assert_eq!(
            recorded(&d.latencies, LatencyMetric::Recover),
            expected(LatencyMetric::Recover, case.recover),
            "{n}"
        );
        assert_eq!(d.counters.streams_ok, case.successes.len() as u64, "{n}");
    }
}

#[test]
fn open_is_recorded_once_per_session_per_fault() {
    struct Case {
        name: &'static str,
        windows: &'static [(u64, Option<u64>)],
        /// Transitions: (at ms, from, to).
        transitions: &'static [(u64, BreakerState, BreakerState)],
        /// Expected (fault, open ms) samples.
        open: &'static [(usize, u64)],
        breaker_opens: u64,
    }
    let cases = [
        Case {
            name: "opens during the fault, reopens after a failed probe",
            windows: &[(10_000, Some(20_000))],
            transitions: &[
                (14_000, Closed, Open),
                (44_000, Open, HalfOpen),
                (44_500, HalfOpen, Open),
            ],
            // 14 s − 10 s; the reopening at 44.5 s is no second sample.
            open: &[(0, 4_000)],
            breaker_opens: 2,
        },
        Case {
            name: "an opening before any fault is not attributed",
            windows: &[(10_000, Some(20_000))],
            transitions: &[
                (5_000, Closed, Open),
                (6_000, Open, HalfOpen),
                (6_100, HalfOpen, Closed),
                (12_000, Closed, Open),
            ],
            // 12 s − 10 s.
            open: &[(0, 2_000)],
            breaker_opens: 2,
        },
        Case {
            name: "a fault still on at the end of the run",
            windows: &[(10_000, None)],
            transitions: &[(10_250, Closed, Open)],
            open: &[(0, 250)],
            breaker_opens: 1,
        },
        Case {
            name: "two faults: each opening goes to the latest started",
            windows: &[(10_000, Some(20_000)), (60_000, Some(70_000))],
            transitions: &[
                (13_000, Closed, Open),
                (43_000, Open, HalfOpen),
                (43_100, HalfOpen, Closed),
                (61_500, Closed, Open),
            ],
            // 13 s − 10 s for fault 0; 61.5 s − 60 s for fault 1.
            open: &[(0, 3_000), (1, 1_500)],
            breaker_opens: 2,
        },
    ];
    for case in cases {
        let rig = Rig::new(case.windows);
        let delta = RefCell::new(IntervalDelta::default());
        let mut tally = SessionTally::new(SESSION);
        let mut r = Recorder::new(rig.run(), &delta, &mut tally, Duration::ZERO);
        for &(at, from, to) in case.transitions {
            r.breaker_changed(&rig.transition(at, from, to));
        }
        let d = delta.borrow();
        let n = case.name;
        let samples: Vec<FaultSample> = case
            .open
            .iter()
            .map(|&(fault, v)| FaultSample {
                fault,
                session: SESSION,
                latency: ms(v),
            })
            .collect();
        assert_eq!(d.fault_opens, samples, "{n}");
        let open_ms: Vec<u64> = case.open.iter().map(|&(_, v)| v).collect();
        assert_eq!(
            recorded(&d.latencies, LatencyMetric::Open),
            expected(LatencyMetric::Open, &open_ms),
            "{n}"
        );
        assert_eq!(d.counters.breaker_opens, case.breaker_opens, "{n}");
        assert_eq!(tally.stats().breaker_opens, case.breaker_opens, "{n}");
        let at: Vec<Duration> = d.transitions.iter().map(|t| t.at).collect();
        let want: Vec<Duration> = case.transitions.iter().map(|t| ms(t.0)).collect();
        assert_eq!(at, want, "{n}: breaker.csv offsets");
    }
}

#[test]
fn breakers_open_gauge_follows_leaving_and_reaching_closed() {
    // (from, to, gauge after, breaker_opens after)
    let steps = [
        (Closed, Open, 1, 1),
        (Open, HalfOpen, 1, 1),
        // Open → HalfOpen → Open: still one breaker not closed.
        (HalfOpen, Open, 1, 2),
        (Open, HalfOpen, 1, 2),
        (HalfOpen, Closed, 0, 2),
        (Closed, Open, 1, 3),
    ];
    let rig = Rig::new(&[]);
    let delta = RefCell::new(IntervalDelta::default());
    session_started(&mut delta.borrow_mut());
    let mut tally = SessionTally::new(SESSION);
    {
        let mut r = Recorder::new(rig.run(), &delta, &mut tally, Duration::ZERO);
        for (i, (from, to, gauge, opens)) in steps.into_iter().enumerate() {
            r.breaker_changed(&rig.transition(1000 * i as u64, from, to));
            let d = delta.borrow();
            assert_eq!(d.breakers_open, gauge, "step {i}: {from} → {to}");
            assert_eq!(d.counters.breaker_opens, opens, "step {i}: {from} → {to}");
        }
    }
    // A session stopping with its breaker open withdraws it from both gauges.
    let mut d = delta.borrow_mut();
    assert_eq!(d.active_sessions, 1);
    let stats = session_stopped(&mut d, SESSION, Some(tally));
    assert_eq!((d.active_sessions, d.breakers_open), (0, 0));
    assert_eq!(stats.breaker_opens, 3);
}

#[test]
fn a_session_stopped_mid_stream_is_lost_and_keeps_the_gauge() {
    let mut d = IntervalDelta {
        active_sessions: 2,
        breakers_open: 1,
        ..IntervalDelta::default()
    };
    let stats = session_stopped(&mut d, 9, None);
    assert_eq!((stats.session, stats.final_state), (9, "lost"));
    assert_eq!((d.active_sessions, d.breakers_open), (1, 1));
    // A closed tally leaves breakers_open alone.
    let stats = session_stopped(&mut d, 3, Some(SessionTally::new(3)));
    assert_eq!((stats.session, stats.final_state), (3, "closed"));
    assert_eq!((d.active_sessions, d.breakers_open), (0, 1));
}

#[test]
fn stream_endings_feed_ok_failed_short_circuited() {
    // (name, short-circuited, result, ok, failed, short_circuited, error noted)
    let cases = [
        ("completed", false, Ok(()), 1, 0, 0, None),
        // The attempt already noted its `reset`: the stream adds no error.
        (
            "failed after retries",
            false,
            Err(FailureKind::Reset),
            0,
            1,
            0,
            None,
        ),
        (
            "short-circuited: failed and short-circuited",
            true,
            Err(FailureKind::ShortCircuited),
            0,
            1,
            1,
            Some(FailureKind::ShortCircuited),
        ),
        (
            "cancelled: neither ok nor failed",
            false,
            Err(FailureKind::Cancelled),
            0,
            0,
            0,
            Some(FailureKind::Cancelled),
        ),
    ];
    for (name, short, result, ok, failed, sc, error) in cases {
        let rig = Rig::new(&[]);
        let delta = RefCell::new(IntervalDelta::default());
        let mut tally = SessionTally::new(SESSION);
        tally.stream_started(&mut delta.borrow_mut());
        let mut r = Recorder::new(rig.run(), &delta, &mut tally, Duration::ZERO);
        // Started at 1 s, over 250 ms later: first seen at 1.25 s.
        r.stream_finished(&rig.outcome(1000, 250, short, result));
        let d = delta.borrow();
        let c = &d.counters;
        assert_eq!(c.streams_started, 1, "{name}");
        assert_eq!(
            (c.streams_ok, c.streams_failed, c.short_circuited),
            (ok, failed, sc),
            "{name}"
        );
        assert_eq!(
            (tally.stats().ok, tally.stats().failed),
            (ok, failed),
            "{name}"
        );
        assert_eq!(tally.stats().streams, 1, "{name}");
        let noted: Vec<FailureKind> = FailureKind::ALL
            .into_iter()
            .filter(|k| c.errors_of(*k) > 0)
            .collect();
        assert_eq!(noted, error.into_iter().collect::<Vec<_>>(), "{name}");
        if let Some(kind) = error {
            assert_eq!(d.errors.get(kind).map(|e| e.0), Some(ms(1250)), "{name}");
        }
    }
}

#[test]
fn attempt_errors_are_noted_at_the_attempt_end() {
    let rig = Rig::new(&[]);
    let delta = RefCell::new(IntervalDelta::default());
    let mut tally = SessionTally::new(SESSION);
    let mut r = Recorder::new(rig.run(), &delta, &mut tally, Duration::ZERO);
    let mut malformed = rig.attempt(3000, 500, Some(5), Some(10), Ok(()));
    malformed.malformed_events = 3;
    // Sent at 1 s, failed 250 ms later.
    r.attempt_finished(&rig.attempt(1000, 250, Some(5), None, Err(FailureKind::Reset)));
    r.retrying(1, ms(100), &Failure::new(FailureKind::Reset, "reset"));
    // Cancelled attempts are no error of the target.
    r.attempt_finished(&rig.attempt(2000, 10, None, None, Err(FailureKind::Cancelled)));
    r.attempt_finished(&malformed);
    let d = delta.borrow();
    assert_eq!(d.counters.errors_of(FailureKind::Reset), 1);
    assert_eq!(d.counters.errors_of(FailureKind::Cancelled), 0);
    assert_eq!(
        d.errors.get(FailureKind::Reset),
        Some(&(ms(1250), "reset".to_owned()))
    );
    // Three malformed events, first seen at the attempt's end: 3 s + 0.5 s.
    assert_eq!(d.counters.errors_of(FailureKind::MalformedEvent), 3);
    assert_eq!(
        d.errors.get(FailureKind::MalformedEvent).map(|e| e.0),
        Some(ms(3500))
    );
    assert_eq!(d.counters.attempts, 3);
    assert_eq!((d.counters.retries, tally.stats().retries), (1, 1));
}

#[test]
fn a_cancelled_attempt_during_a_fault_does_not_affect() {
    let rig = Rig::new(&[(10_000, Some(20_000))]);
    let delta = RefCell::new(IntervalDelta::default());
    let mut tally = SessionTally::new(SESSION);
    let mut r = Recorder::new(rig.run(), &delta, &mut tally, Duration::ZERO);
    r.attempt_finished(&rig.attempt(11_000, 10, None, None, Err(FailureKind::Cancelled)));
    r.stream_finished(&rig.outcome(11_000, 10, false, Err(FailureKind::Cancelled)));
    let mut r = Recorder::new(rig.run(), &delta, &mut tally, Duration::ZERO);
    r.stream_finished(&rig.outcome(25_000, 10, false, Ok(())));
    assert!(delta.borrow().fault_recovers.is_empty());
}

#[test]
fn a_short_circuited_stream_during_a_fault_affects() {
    // No attempt at all, only the breaker refusing at 15 s: affected.
    let rig = Rig::new(&[(10_000, Some(20_000))]);
    let delta = RefCell::new(IntervalDelta::default());
    let mut tally = SessionTally::new(SESSION);
    let mut r = Recorder::new(rig.run(), &delta, &mut tally, Duration::ZERO);
    r.stream_finished(&rig.outcome(15_000, 0, true, Err(FailureKind::ShortCircuited)));
    let mut r = Recorder::new(rig.run(), &delta, &mut tally, Duration::ZERO);
    r.stream_finished(&rig.outcome(21_000, 1_000, false, Ok(())));
    // Ended at 22 s: 22 s − 20 s.
    assert_eq!(
        delta.borrow().fault_recovers,
        vec![FaultSample {
            fault: 0,
            session: SESSION,
            latency: ms(2_000)
        }]
    );
}

#[test]
fn events_feed_counters_gap_and_events_out() {
    let rig = Rig::new(&[]);
    let delta = RefCell::new(IntervalDelta::default());
    let buffer = RefCell::new(Vec::new());
    let mut tally = SessionTally::new(SESSION);
    let mut r =
        Recorder::new(rig.run(), &delta, &mut tally, Duration::ZERO).with_events(Some(&buffer));
    let first = Event {
        kind: "message",
        data: "{\"Data\":1}",
        id: "1",
    };
    let second = Event {
        kind: "message",
        data: "x",
        id: "2",
    };
    r.event(&SeenEvent {
        at: rig.t0 + Duration::from_micros(1_500_250),
        gap: None,
        event: &first,
        fields: None,
        content: false,
        itl: None,
    });
    r.event(&SeenEvent {
        at: rig.t0 + ms(1_540),
        gap: Some(ms(40)),
        event: &second,
        fields: None,
        content: false,
        itl: None,
    });
    let d = delta.borrow();
    assert_eq!((d.counters.events, tally.stats().events), (2, 2));
    assert_eq!(
        recorded(&d.latencies, LatencyMetric::Gap),
        expected(LatencyMetric::Gap, &[40])
    );
    assert_eq!(
        String::from_utf8(buffer.into_inner()).expect("utf-8"),
        "{\"t_ms\":1500.25,\"session\":7,\"event\":\"message\",\"id\":\"1\",\"data\":\"{\\\"Data\\\":1}\"}\n\
         {\"t_ms\":1540.0,\"session\":7,\"event\":\"message\",\"id\":\"2\",\"data\":\"x\"}\n"
    );
}
