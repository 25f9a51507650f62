//! The fault analysis on hand-built interval series; every expected ratio
//! is worked out in the comments.

use super::*;

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Intervals of `len` s back to back from 0, with these attempts.
fn intervals(len: u64, attempts: &[u64]) -> Vec<IntervalTotals> {
    attempts
        .iter()
        .enumerate()
        .map(|(k, &a)| IntervalTotals {
            start: Duration::from_secs(k as u64 * len),
            end: Duration::from_secs((k as u64 + 1) * len),
            attempts: a,
            ..IntervalTotals::default()
        })
        .collect()
}

/// `n` copies of `v`.
fn repeat(n: usize, v: u64) -> Vec<u64> {
    vec![v; n]
}

fn sample(fault: usize, session: u64, latency_ms: u64) -> FaultSample {
    FaultSample {
        fault,
        session,
        latency: ms(latency_ms),
    }
}

fn window(fault: usize, start: f64, end: Option<f64>) -> ObservedWindow<'static> {
    ObservedWindow {
        fault,
        kind: "shutdown",
        start: secs(start),
        end: end.map(secs),
    }
}

/// Floats equal within the histogram's 3 significant digits.
fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= want.abs() * 1e-3 + 1e-9
}

fn assert_report(got: &FaultReport, want: &FaultReport, name: &str) {
    assert_eq!(
        (
            got.fault,
            got.kind.as_str(),
            got.sessions,
            got.opened,
            got.recovered,
            got.short_circuited,
            got.failed_streams
        ),
        (
            want.fault,
            want.kind.as_str(),
            want.sessions,
            want.opened,
            want.recovered,
            want.short_circuited,
            want.failed_streams
        ),
        "{name}: counts"
    );
    let floats = [
        ("start_s", got.start_s, want.start_s),
        ("end_s", got.end_s, want.end_s),
        ("open_p50_ms", got.open_p50_ms, want.open_p50_ms),
        ("open_max_ms", got.open_max_ms, want.open_max_ms),
        ("recover_p50_ms", got.recover_p50_ms, want.recover_p50_ms),
        ("recover_max_ms", got.recover_max_ms, want.recover_max_ms),
        (
            "retry_amplification",
            got.retry_amplification,
            want.retry_amplification,
        ),
        ("recovery_burst", got.recovery_burst, want.recovery_burst),
    ];
    for (field, g, w) in floats {
        assert!(close(g, w), "{name}: {field} = {g}, want {w}");
    }
}

/// One analysed fault: series, its window, the samples, the run end.
struct Case {
    name: &'static str,
    series: Vec<IntervalTotals>,
    window: ObservedWindow<'static>,
    affected: Vec<FaultSample>,
    opens: Vec<FaultSample>,
    recovers: Vec<FaultSample>,
    run_end: f64,
    want: FaultReport,
}

fn report(start_s: f64, end_s: f64) -> FaultReport {
    FaultReport {
        fault: 1,
        kind: "shutdown".into(),
        start_s,
        end_s,
        ..FaultReport::default()
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();

    // 1 s intervals over 20 s. 10 attempts/s before the fault (10 s → 12 s);
    // 15 + 15 attempts in the window's two intervals for 2 + 3 wanted
    // streams; 40 attempts in 13 s → 14 s.
    let mut series = intervals(
        1,
        &[repeat(10, 10), vec![15, 15, 20, 40], repeat(6, 10)].concat(),
    );
    series[10].streams_started = 2;
    series[11].streams_started = 3;
    series[10].streams_failed = 1;
    series[11].streams_failed = 2;
    series[11].short_circuited = 4;
    // Outside the window ([9 s, 10 s) ends at its start, [12 s, 13 s)
    // starts at its end): not counted.
    series[9].streams_failed = 7;
    series[12].short_circuited = 7;
    out.push(Case {
        name: "steady 10/s, 30 attempts for 5 streams, peak 40/s after",
        series,
        window: window(0, 10.0, Some(12.0)),
        // Sessions 1..=4 failed during this fault; 5 during another one.
        affected: vec![
            sample(0, 1, 100),
            sample(0, 2, 100),
            sample(0, 3, 100),
            sample(0, 4, 100),
            sample(1, 5, 100),
        ],
        opens: vec![sample(0, 1, 1_000), sample(0, 2, 3_000), sample(1, 9, 50)],
        recovers: vec![sample(0, 1, 500), sample(0, 2, 1_500), sample(0, 3, 2_500)],
        run_end: 20.0,
        want: FaultReport {
            // {1, 2, 3, 4}
            sessions: 4,
            opened: 2,
            // Median of two samples: the lower one (HdrHistogram), 1000 ms.
            open_p50_ms: 1_000.0,
            open_max_ms: 3_000.0,
            recovered: 3,
            recover_p50_ms: 1_500.0,
            recover_max_ms: 2_500.0,
            // series[11]
            short_circuited: 4,
            // 1 + 2
            failed_streams: 3,
            // (15 + 15) / (2 + 3)
            retry_amplification: 6.0,
            // 40/s peak in [12 s, 22 s) over the mean 10/s of [0 s, 10 s)
            recovery_burst: 4.0,
            ..report(10.0, 12.0)
        },
    });

    // A fault at the very start: nothing before it, so no steady rate.
    let mut series = intervals(1, &[vec![20, 20, 30], repeat(9, 10)].concat());
    series[0].streams_started = 4;
    series[1].streams_started = 4;
    out.push(Case {
        name: "no steady rate before the fault",
        series,
        window: window(0, 0.0, Some(2.0)),
        affected: vec![],
        opens: vec![],
        recovers: vec![],
        run_end: 12.0,
        want: FaultReport {
            // (20 + 20) / (4 + 4)
            retry_amplification: 5.0,
            // the 30/s after it has nothing to be compared with
            recovery_burst: 0.0,
            ..report(0.0, 2.0)
        },
    });

    // A fault from 15 s still on when the run ended at 20 s.
    let mut series = intervals(1, &[repeat(15, 10), repeat(5, 12)].concat());
    for t in &mut series[15..] {
        t.streams_started = 1;
    }
    out.push(Case {
        name: "a fault still on at the end of the run",
        series,
        window: window(0, 15.0, None),
        affected: vec![sample(0, 1, 200), sample(0, 2, 300)],
        opens: vec![sample(0, 1, 1_000)],
        recovers: vec![],
        run_end: 20.0,
        want: FaultReport {
            // Both failed during it; neither recovered, one opened.
            sessions: 2,
            opened: 1,
            open_p50_ms: 1_000.0,
            open_max_ms: 1_000.0,
            // 5 × 12 attempts / 5 × 1 stream
            retry_amplification: 12.0,
            // No interval after the end: no peak.
            recovery_burst: 0.0,
            // the window closes at the run's end
            ..report(15.0, 20.0)
        },
    });

    // Long streams: attempts (reconnects) during the window, none wanted.
    out.push(Case {
        name: "a fault with no wanted streams",
        series: intervals(1, &[repeat(10, 10), vec![15, 15], repeat(8, 10)].concat()),
        window: window(0, 10.0, Some(12.0)),
        affected: vec![],
        opens: vec![],
        recovers: vec![],
        run_end: 20.0,
        want: FaultReport {
            // 30 attempts / 0 wanted: no ratio
            retry_amplification: 0.0,
            // peak 10/s after over 10/s before
            recovery_burst: 1.0,
            ..report(10.0, 12.0)
        },
    });

    // The steady rate looks back 30 s only: [10 s, 11 s) starts exactly
    // 30 s before the fault at 40 s and counts; [9 s, 10 s) does not.
    out.push(Case {
        name: "steady rate over the 30 s before the fault only",
        series: intervals(
            1,
            &[
                repeat(10, 100),
                repeat(30, 10),
                repeat(5, 0),
                vec![40],
                repeat(9, 10),
            ]
            .concat(),
        ),
        window: window(0, 40.0, Some(45.0)),
        affected: vec![],
        opens: vec![],
        recovers: vec![],
        run_end: 55.0,
        want: FaultReport {
            // 40/s over the mean of thirty 10/s intervals; with the 100/s
            // ones it would be 40 / ((1000 + 300) / 40) = 1.23.
            recovery_burst: 4.0,
            ..report(40.0, 45.0)
        },
    });

    // 2 s intervals: rates are attempts / 2.
    let mut series = intervals(2, &[repeat(5, 20), vec![24, 60], repeat(4, 20)].concat());
    series[5].streams_started = 6;
    out.push(Case {
        name: "rates per second of 2 s intervals",
        series,
        window: window(0, 10.0, Some(12.0)),
        affected: vec![],
        opens: vec![],
        recovers: vec![],
        run_end: 22.0,
        want: FaultReport {
            // only [10 s, 12 s): 24 / 6
            retry_amplification: 4.0,
            // 60 / 2 = 30/s over 20 / 2 = 10/s
            recovery_burst: 3.0,
            ..report(10.0, 12.0)
        },
    });

    // Boundaries inside intervals: a fault 10.5 s → 11.5 s overlaps
    // [10 s, 11 s) and [11 s, 12 s); the latter also counts as "after".
    let mut series = intervals(1, &[repeat(10, 10), vec![10, 50], repeat(8, 10)].concat());
    series[10].streams_started = 5;
    series[11].streams_started = 5;
    out.push(Case {
        name: "interval granularity at the window's edges",
        series,
        window: window(0, 10.5, Some(11.5)),
        affected: vec![],
        opens: vec![],
        recovers: vec![],
        run_end: 20.0,
        want: FaultReport {
            // (10 + 50) / (5 + 5)
            retry_amplification: 6.0,
            // [11 s, 12 s) ends after 11.5 s: 50/s over 10/s
            recovery_burst: 5.0,
            ..report(10.5, 11.5)
        },
    });

    out
}

#[test]
fn fault_reports_from_hand_built_series() {
    for case in cases() {
        let samples = FaultSamples {
            affected: &case.affected,
            opens: &case.opens,
            recovers: &case.recovers,
            reconnects: &[],
        };
        let got = analyse(&[case.window], &samples, &case.series, secs(case.run_end));
        assert_eq!(got.len(), 1, "{}", case.name);
        assert_report(&got[0], &case.want, case.name);
    }
}

#[test]
fn samples_are_taken_per_fault_and_numbered_from_one() {
    // Faults 0 and 2 started; 1 never did (no window): two rows, numbered 1 and 3.
    let series = intervals(1, &repeat(80, 10));
    let windows = [window(0, 10.0, Some(20.0)), window(2, 50.0, Some(60.0))];
    let opens = [
        sample(0, 1, 2_000),
        sample(2, 1, 4_000),
        sample(2, 2, 6_000),
    ];
    // Session 3 only recovered (its failure fell in an earlier interval's
    // delta): still an affected session.
    let recovers = [sample(2, 3, 1_000)];
    let samples = FaultSamples {
        affected: &[],
        opens: &opens,
        recovers: &recovers,
        reconnects: &[],
    };
    let got = analyse(&windows, &samples, &series, secs(80.0));
    assert_eq!(got.iter().map(|f| f.fault).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(
        (got[0].sessions, got[0].opened, got[0].recovered),
        (1, 1, 0)
    );
    assert!(close(got[0].open_max_ms, 2_000.0));
    // Fault 3: sessions {1, 2, 3}; opens 4 s and 6 s: p50 4000 ms, max 6000 ms.
    assert_eq!(
        (got[1].sessions, got[1].opened, got[1].recovered),
        (3, 2, 1)
    );
    assert!(close(got[1].open_p50_ms, 4_000.0), "{:?}", got[1]);
    assert!(close(got[1].open_max_ms, 6_000.0), "{:?}", got[1]);
    // Steady 10/s everywhere: no amplification (no wanted streams), burst 1.
    assert!(close(got[1].recovery_burst, 1.0));
}
