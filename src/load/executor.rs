//! Load-shape math for the three executors (`[load]`): pure, no actors, no clock.
//!
//! A [`Plan`] is a list of [`Stage`]s with k6 semantics: for `ramping-sessions`
//! and `ramping-arrival-rate` each stage moves its target linearly from the
//! previous stage's target (0 before the first stage) to its own over its
//! duration, and a zero-length stage is an instant jump; for
//! `constant-arrival-rate` each stage holds its target for its duration (a step
//! at each stage start). For `ramping-sessions` the target is concurrent
//! sessions (closed model); for the arrival-rate executors it is streams
//! started per second (open model). This is the one implementation of the
//! stage math: the scenario builds its plan with `LoadSpec::plan` and
//! `check` describes it through [`Plan::segments`].
//!
//! The supervisor asks [`Plan::sessions_at`] on each tick, or drains an
//! [`ArrivalSchedule`]: arrival `i` is due when the integral of the rate reaches
//! `i`, solved exactly per stage (a linear rate integrates to a quadratic), so
//! arrival times are a pure function of the plan: no per-tick accumulation, no
//! drift over an hours-long soak, and each arrival keeps its scheduled time for
//! latency measured from the scheduled start (no coordinated omission).
//!
//! Sharding (`--shard I/N`, `shard` counted from 0 here): sessions split as
//! integers with remainders on the first shards ([`split_sessions`]); arrivals
//! are dealt round-robin from the whole plan's schedule
//! ([`ArrivalSchedule::sharded`]), so the shards' union is exactly the
//! unsharded schedule and shards do not fire in lockstep.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One stage of `[load].stages`: reach `target` linearly over `duration`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    /// How long the stage lasts (zero = jump straight to `target`).
    pub duration: Duration,
    /// Sessions (ramping-sessions) or streams per second (arrival-rate executors) at the stage's end.
    pub target: f64,
}

/// Which executor drives the load (`[load].executor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecutorKind {
    /// Closed model: stages' `to` is the number of concurrent sessions, ramped
    /// linearly; each session loops stream after stream.
    RampingSessions,
    /// Open model: each stage holds `to` streams/s for its duration (steps).
    ConstantArrivalRate,
    /// Open model: the rate ramps linearly from the previous stage's `to` (0 at first).
    RampingArrivalRate,
}

impl ExecutorKind {
    /// Every executor.
    pub const ALL: [ExecutorKind; 3] = [
        ExecutorKind::RampingSessions,
        ExecutorKind::ConstantArrivalRate,
        ExecutorKind::RampingArrivalRate,
    ];

    /// The scenario spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorKind::RampingSessions => "ramping-sessions",
            ExecutorKind::ConstantArrivalRate => "constant-arrival-rate",
            ExecutorKind::RampingArrivalRate => "ramping-arrival-rate",
        }
    }

    /// Whether targets are arrival rates (open model) rather than sessions.
    pub fn is_arrival_rate(self) -> bool {
        self != ExecutorKind::RampingSessions
    }
}

impl fmt::Display for ExecutorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecutorKind {
    type Err = InvalidPlan;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExecutorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| InvalidPlan::UnknownExecutor(s.to_owned()))
    }
}

/// Why a load plan was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InvalidPlan {
    /// `stages` is empty; give at least one `{ for, to }`.
    #[error("load needs at least one stage")]
    NoStages,
    /// A target is negative, NaN or infinite; use a finite number ≥ 0.
    #[error("load.stages.{stage}.to must be a finite number >= 0, got {target}")]
    BadTarget {
        /// Index of the stage, from 0.
        stage: usize,
        /// The offending value.
        target: f64,
    },
    /// Every stage lasts zero: nothing would run; give a stage a duration.
    #[error("load stages last zero seconds in total")]
    ZeroDuration,
    /// Not `ramping-sessions`, `constant-arrival-rate` or `ramping-arrival-rate`.
    #[error("unknown executor `{0}`: expected ramping-sessions, constant-arrival-rate or ramping-arrival-rate")]
    UnknownExecutor(String),
}

/// A validated load plan: the executor and its stages.
///
/// ```
/// use std::time::Duration;
/// use streamsoak::load::executor::*;
/// let s = Duration::from_secs;
/// let stages = vec![
///     Stage { duration: s(30), target: 100.0 },
///     Stage { duration: s(600), target: 100.0 },
///     Stage { duration: s(30), target: 0.0 },
/// ];
/// let plan = Plan::new(ExecutorKind::RampingSessions, stages).unwrap();
/// assert_eq!(plan.total_duration(), s(660));
/// assert_eq!(plan.sessions_at(s(15)), 50);
/// assert_eq!(plan.peak(), 100.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    kind: ExecutorKind,
    stages: Vec<Stage>,
    /// Set by [`Plan::shard`]: `(shard, shards)` and the whole plan's
    /// stages, so session counts are split after rounding (the shards'
    /// counts then add up to the whole plan's at every instant).
    slice: Option<(u32, u32, Box<Plan>)>,
}

/// A stage resolved against its neighbours: absolute start, start and end
/// value. The target moves linearly from `from` to `to` over the segment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    /// Start, from the beginning of the run.
    pub start: Duration,
    /// The stage's duration (zero for an instant jump).
    pub duration: Duration,
    /// Sessions or streams/s at `start`.
    pub from: f64,
    /// Sessions or streams/s at the end.
    pub to: f64,
}

impl Segment {
    /// `start + duration` (saturating).
    pub fn end(&self) -> Duration {
        self.start.saturating_add(self.duration)
    }

    fn secs(&self) -> f64 {
        self.duration.as_secs_f64()
    }

    /// The integral of the value over the whole segment.
    fn area(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.secs()
    }

    /// The smallest τ in the segment with `∫₀^τ value > r` approached from above,
    /// i.e. the root of `from·τ + (to−from)/(2·dur)·τ² = r`, for `0 ≤ r < area`.
    fn solve(&self, r: f64) -> f64 {
        if r <= 0.0 {
            return 0.0;
        }
        let slope = (self.to - self.from) / self.secs();
        if slope == 0.0 {
            return r / self.from;
        }
        // 2r / (from + √(from² + 2·slope·r)): the stable form of the quadratic
        // root (no cancellation when from > 0, and still right when from = 0).
        let disc = (self.from * self.from + 2.0 * slope * r).max(0.0);
        2.0 * r / (self.from + disc.sqrt())
    }
}

impl Plan {
    /// Validates and builds a plan: at least one stage, finite targets ≥ 0 and
    /// a positive total duration.
    pub fn new(kind: ExecutorKind, stages: Vec<Stage>) -> Result<Plan, InvalidPlan> {
        if stages.is_empty() {
            return Err(InvalidPlan::NoStages);
        }
        if let Some((stage, s)) = stages
            .iter()
            .enumerate()
            .find(|(_, s)| !(s.target.is_finite() && s.target >= 0.0))
        {
            return Err(InvalidPlan::BadTarget {
                stage,
                target: s.target,
            });
        }
        let plan = Plan {
            kind,
            stages,
            slice: None,
        };
        if plan.total_duration().is_zero() {
            return Err(InvalidPlan::ZeroDuration);
        }
        Ok(plan)
    }

    /// A constant-arrival-rate plan: `rate` streams per second for `duration`.
    pub fn constant_rate(rate: f64, duration: Duration) -> Result<Plan, InvalidPlan> {
        let stage = Stage {
            duration,
            target: rate,
        };
        Plan::new(ExecutorKind::ConstantArrivalRate, vec![stage])
    }

    /// The executor.
    pub fn kind(&self) -> ExecutorKind {
        self.kind
    }

    /// The stages as given.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The sum of the stage durations (saturating).
    pub fn total_duration(&self) -> Duration {
        self.stages
            .iter()
            .fold(Duration::ZERO, |sum, s| sum.saturating_add(s.duration))
    }

    /// The stages placed on the run's timeline, one segment per stage, in
    /// order. A constant-arrival-rate stage is flat (`from == to`), so the
    /// rate steps at each stage start; otherwise `from` is the previous
    /// stage's target (0 for the first).
    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        let steps = self.kind == ExecutorKind::ConstantArrivalRate;
        let mut start = Duration::ZERO;
        let mut previous = 0.0;
        self.stages.iter().map(move |s| {
            let seg = Segment {
                start,
                duration: s.duration,
                from: if steps { s.target } else { previous },
                to: s.target,
            };
            start = seg.end();
            previous = s.target;
            seg
        })
    }

    /// The target (sessions, or streams/s) at `elapsed` since the start, linearly
    /// interpolated; at and after the end it stays at the last stage's target
    /// (the supervisor stops at [`total_duration`](Plan::total_duration)).
    pub fn target_at(&self, elapsed: Duration) -> f64 {
        for seg in self.segments() {
            if elapsed < seg.end() {
                let frac = (elapsed - seg.start).as_secs_f64() / seg.secs();
                return seg.from + (seg.to - seg.from) * frac;
            }
        }
        self.stages.last().map_or(0.0, |s| s.target)
    }

    /// Sessions wanted at `elapsed` (ramping-sessions): the target rounded to
    /// the nearest integer (halves away from zero).
    ///
    /// On a [shard](Plan::shard) it is this shard's part of the whole plan's
    /// rounded count, so the shards together hold exactly the whole count.
    pub fn sessions_at(&self, elapsed: Duration) -> u32 {
        if let Some((shard, shards, whole)) = &self.slice {
            return split_sessions(whole.sessions_at(elapsed), *shard, *shards);
        }
        // `as` saturates (and maps NaN to 0, which validation rules out anyway).
        self.target_at(elapsed).round() as u32
    }

    /// The highest target anywhere in the plan (peak sessions or peak rate).
    pub fn peak(&self) -> f64 {
        self.stages.iter().fold(0.0, |m, s| s.target.max(m))
    }

    /// The integral of the target over the plan: for an arrival-rate plan the
    /// number of streams it starts (the [`ArrivalSchedule`] yields `ceil` of
    /// it); for ramping-sessions, session-seconds.
    pub fn integral(&self) -> f64 {
        self.segments().map(|seg| seg.area()).sum()
    }

    /// This shard's slice of the plan (`shard` in `0..shards`): session targets
    /// split by [`split_sessions`] (rounded first), rates by [`split_rate`].
    /// For arrivals prefer [`ArrivalSchedule::sharded`] on the whole plan,
    /// which partitions the schedule exactly.
    pub fn shard(&self, shard: u32, shards: u32) -> Plan {
        let split = |target: f64| match self.kind {
            ExecutorKind::RampingSessions => {
                f64::from(split_sessions(target.round() as u32, shard, shards))
            }
            _ => split_rate(target, shard, shards),
        };
        Plan {
            kind: self.kind,
            stages: self
                .stages
                .iter()
                .map(|s| Stage {
                    duration: s.duration,
                    target: split(s.target),
                })
                .collect(),
            slice: (self.kind == ExecutorKind::RampingSessions)
                .then(|| (shard, shards, Box::new(self.clone()))),
        }
    }
}

/// The start offsets of an arrival-rate plan's streams, in order.
///
/// Arrival `i` (i = 0, 1, 2, …) is at the instant the integral of the rate
/// reaches `i` and starts to exceed it (so a leading zero-rate hold delays the
/// first arrival), computed from the plan alone, never by accumulating steps.
/// The schedule ends before `total_duration`: a 10/s plan for 2 s yields 20
/// arrivals at 0.0, 0.1, …, 1.9 s. It owns a copy of the stages, so it can live
/// in an actor next to (or without) the plan.
#[derive(Clone, Debug)]
pub struct ArrivalSchedule {
    segments: Vec<Segment>,
    cursor: usize,
    area_before: f64,
    next: u64,
    step: u64,
    pending: Option<Duration>,
}

impl ArrivalSchedule {
    /// The whole plan's schedule.
    pub fn new(plan: &Plan) -> Self {
        Self::sharded(plan, 0, 1)
    }

    /// Shard `shard` of `shards` (from 0): arrivals `shard`, `shard + shards`, …
    /// of the whole plan's schedule, so the shards together yield exactly
    /// [`ArrivalSchedule::new`]'s arrivals. `shards = 0` counts as 1; a `shard`
    /// out of range yields nothing.
    pub fn sharded(plan: &Plan, shard: u32, shards: u32) -> Self {
        let shards = shards.max(1);
        let segments = if shard < shards {
            plan.segments().collect()
        } else {
            Vec::new()
        };
        ArrivalSchedule {
            segments,
            cursor: 0,
            area_before: 0.0,
            next: u64::from(shard),
            step: u64::from(shards),
            pending: None,
        }
    }

    /// The offset from the plan's start of the next arrival; `None` once the
    /// plan has ended (and from then on).
    pub fn next_arrival(&mut self) -> Option<Duration> {
        if let Some(at) = self.pending.take() {
            return Some(at);
        }
        // Exact for any count a run can reach (f64 integers are exact to 2^53).
        let goal = self.next as f64;
        while let Some(seg) = self.segments.get(self.cursor) {
            let area = seg.area();
            if self.area_before + area > goal {
                let tau = secs_to_duration(seg.solve(goal - self.area_before));
                self.next = self.next.saturating_add(self.step);
                return Some(seg.start.saturating_add(tau.min(seg.duration)));
            }
            self.area_before += area;
            self.cursor += 1;
        }
        None
    }

    /// The next arrival without consuming it; `None` once the plan has ended.
    /// Allocation-free, unlike peeking through a clone.
    pub fn peek(&mut self) -> Option<Duration> {
        if self.pending.is_none() {
            self.pending = self.next_arrival();
        }
        self.pending
    }

    /// The next arrival if it is due at `elapsed` (offset ≤ `elapsed`); a later
    /// one is kept for the next call. Drain with `while let Some(at) = s.next_due(now)`.
    pub fn next_due(&mut self, elapsed: Duration) -> Option<Duration> {
        let at = self.next_arrival()?;
        if at <= elapsed {
            Some(at)
        } else {
            self.pending = Some(at);
            None
        }
    }
}

impl Iterator for ArrivalSchedule {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        self.next_arrival()
    }
}

/// Seconds to a `Duration`, rounded to the nearest nanosecond, saturating; ≤ 0 or NaN is zero.
fn secs_to_duration(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_nanos((secs * 1e9).round() as u64)
}

/// Shard `shard`'s share (from 0) of `total` sessions over `shards` shards:
/// `total / shards`, plus one for the first `total % shards` shards, so the
/// shares sum to `total` and differ by at most one. `shards = 0` counts as 1;
/// a `shard` out of range gets 0.
pub fn split_sessions(total: u32, shard: u32, shards: u32) -> u32 {
    let shards = shards.max(1);
    if shard >= shards {
        return 0;
    }
    total / shards + u32::from(shard < total % shards)
}

/// Shard `shard`'s share of an arrival rate: an equal `rate / shards`.
/// `shards = 0` counts as 1; a `shard` out of range gets 0.
pub fn split_rate(rate: f64, shard: u32, shards: u32) -> f64 {
    let shards = shards.max(1);
    if shard >= shards {
        return 0.0;
    }
    rate / f64::from(shards)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ExecutorKind::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn plan(kind: ExecutorKind, stages: &[(u64, f64)]) -> Plan {
        let stages = stages
            .iter()
            .map(|&(secs, target)| Stage {
                duration: s(secs),
                target,
            })
            .collect();
        Plan::new(kind, stages).unwrap()
    }

    /// 30 s ramp to 100, 10 min hold, 30 s ramp down.
    fn soak() -> Plan {
        plan(RampingSessions, &[(30, 100.0), (600, 100.0), (30, 0.0)])
    }

    #[test]
    fn validation() {
        let st = |secs, target| Stage {
            duration: s(secs),
            target,
        };
        let cases = [
            (RampingSessions, vec![], Some(InvalidPlan::NoStages)),
            (
                RampingSessions,
                vec![st(1, 5.0), st(1, -1.0)],
                Some(InvalidPlan::BadTarget {
                    stage: 1,
                    target: -1.0,
                }),
            ),
            (
                RampingArrivalRate,
                vec![st(1, f64::INFINITY)],
                Some(InvalidPlan::BadTarget {
                    stage: 0,
                    target: f64::INFINITY,
                }),
            ),
            (ConstantArrivalRate, vec![st(1, 5.0), st(1, 5.0)], None),
            (
                ConstantArrivalRate,
                vec![st(1, 5.0), st(1, -5.0)],
                Some(InvalidPlan::BadTarget {
                    stage: 1,
                    target: -5.0,
                }),
            ),
            (
                ConstantArrivalRate,
                vec![st(0, 5.0), st(0, 5.0)],
                Some(InvalidPlan::ZeroDuration),
            ),
            (
                RampingSessions,
                vec![st(0, 5.0), st(0, 1.0)],
                Some(InvalidPlan::ZeroDuration),
            ),
            (RampingSessions, vec![st(0, 5.0), st(10, 0.0)], None),
            (ConstantArrivalRate, vec![st(60, 0.0)], None),
        ];
        for (kind, stages, want) in cases {
            assert_eq!(
                Plan::new(kind, stages.clone()).err(),
                want,
                "{kind} {stages:?}"
            );
        }
        assert!(matches!(
            Plan::new(RampingSessions, vec![st(1, f64::NAN)]),
            Err(InvalidPlan::BadTarget { stage: 0, .. })
        ));
        assert_eq!(
            Plan::constant_rate(5.0, Duration::ZERO).err(),
            Some(InvalidPlan::ZeroDuration)
        );
    }

    #[test]
    fn executor_names_round_trip() {
        let names = [
            "ramping-sessions",
            "constant-arrival-rate",
            "ramping-arrival-rate",
        ];
        for (kind, name) in ExecutorKind::ALL.into_iter().zip(names) {
            assert_eq!((kind.as_str(), kind.to_string()), (name, name.to_owned()));
            assert_eq!(name.parse::<ExecutorKind>(), Ok(kind));
            assert_eq!(kind.is_arrival_rate(), kind != RampingSessions);
        }
        assert_eq!(
            "ramping-vus".parse::<ExecutorKind>(),
            Err(InvalidPlan::UnknownExecutor("ramping-vus".into()))
        );
    }

    #[test]
    fn target_table_ramp_hold_ramp_down() {
        let p = soak();
        let cases = [
            (s(0), 0.0, 0),
            (ms(150), 0.5, 1),
            (s(3), 10.0, 10),
            (s(15), 50.0, 50),
            (s(30), 100.0, 100),
            (s(300), 100.0, 100),
            (s(630), 100.0, 100),
            (s(645), 50.0, 50),
            (ms(659_900), 1.0 / 3.0, 0),
            (s(660), 0.0, 0),
            (s(10_000), 0.0, 0),
        ];
        for (at, target, sessions) in cases {
            assert!(
                (p.target_at(at) - target).abs() < 1e-9,
                "{at:?}: {}",
                p.target_at(at)
            );
            assert_eq!(p.sessions_at(at), sessions, "{at:?}");
        }
        assert_eq!((p.total_duration(), p.peak()), (s(660), 100.0));
    }

    #[test]
    fn target_table_jumps_and_flat() {
        // 10 s at 0, jump to 20, hold 10 s, ramp up to 40 over 10 s (no ramp-down).
        let p = plan(
            RampingArrivalRate,
            &[(10, 0.0), (0, 20.0), (10, 20.0), (10, 40.0)],
        );
        let cases = [
            (s(0), 0.0),
            (s(9), 0.0),
            (s(10), 20.0),
            (s(15), 20.0),
            (s(25), 30.0),
            (s(30), 40.0),
            (s(99), 40.0),
        ];
        for (at, want) in cases {
            assert!(
                (p.target_at(at) - want).abs() < 1e-9,
                "{at:?}: {}",
                p.target_at(at)
            );
        }
        let flat = Plan::constant_rate(7.5, s(60)).unwrap();
        for at in [s(0), s(30), s(59), s(60), s(61)] {
            assert_eq!(flat.target_at(at), 7.5, "{at:?}");
        }
    }

    #[test]
    fn totals_table() {
        // (plan, total duration, peak, expected arrivals)
        let cases = [
            (Plan::constant_rate(10.0, s(2)).unwrap(), s(2), 10.0, 20.0),
            (plan(RampingArrivalRate, &[(10, 10.0)]), s(10), 10.0, 50.0),
            (
                plan(RampingArrivalRate, &[(10, 10.0), (20, 10.0), (10, 0.0)]),
                s(40),
                10.0,
                300.0,
            ),
            (
                plan(RampingArrivalRate, &[(5, 0.0), (0, 4.0), (5, 4.0)]),
                s(10),
                4.0,
                20.0,
            ),
            (
                plan(RampingArrivalRate, &[(4, 2.0), (4, 6.0)]),
                s(8),
                6.0,
                20.0,
            ),
        ];
        for (p, total, peak, arrivals) in cases {
            assert_eq!((p.total_duration(), p.peak()), (total, peak), "{p:?}");
            assert!((p.integral() - arrivals).abs() < 1e-9, "{p:?}");
            assert_eq!(ArrivalSchedule::new(&p).count(), arrivals as usize, "{p:?}");
        }
    }

    #[test]
    fn constant_10_per_second_for_2s_is_20_arrivals_100ms_apart() {
        let p = Plan::constant_rate(10.0, s(2)).unwrap();
        let arrivals: Vec<Duration> = ArrivalSchedule::new(&p).collect();
        let want: Vec<Duration> = (0..20).map(|i| ms(100 * i)).collect();
        assert_eq!(arrivals, want);
    }

    #[test]
    fn ramp_0_to_10_over_10s_is_50_arrivals_at_sqrt_2i() {
        let p = plan(RampingArrivalRate, &[(10, 10.0)]);
        let arrivals: Vec<Duration> = ArrivalSchedule::new(&p).collect();
        assert_eq!(arrivals.len(), 50);
        for (i, at) in arrivals.iter().enumerate() {
            let want = (2.0 * i as f64).sqrt();
            assert!(
                (at.as_secs_f64() - want).abs() < 1e-6,
                "#{i}: {at:?} vs {want}"
            );
        }
        assert_eq!(arrivals[2], s(2), "integral t²/2 reaches 2 at exactly 2 s");
    }

    #[test]
    fn ramp_down_and_leading_zero_hold() {
        // 10/s down to 0 over 10 s: integral 10t − t²/2.
        let down = plan(RampingArrivalRate, &[(0, 10.0), (10, 0.0)]);
        let arrivals: Vec<Duration> = ArrivalSchedule::new(&down).collect();
        assert_eq!(arrivals.len(), 50);
        for (i, at) in arrivals.iter().enumerate() {
            let want = 10.0 - (100.0 - 2.0 * i as f64).sqrt();
            assert!(
                (at.as_secs_f64() - want).abs() < 1e-6,
                "#{i}: {at:?} vs {want}"
            );
        }
        // Nothing during a zero-rate hold: the first arrival comes when the rate does.
        let late = plan(RampingArrivalRate, &[(5, 0.0), (0, 4.0), (1, 4.0)]);
        let arrivals: Vec<Duration> = ArrivalSchedule::new(&late).collect();
        assert_eq!(arrivals, [s(5), ms(5_250), ms(5_500), ms(5_750)]);
        let idle = Plan::constant_rate(0.0, s(100)).unwrap();
        assert_eq!(ArrivalSchedule::new(&idle).next_arrival(), None);
    }

    #[test]
    fn constant_rate_stages_are_steps() {
        // 5/s for 2 s, then 10/s for 3 s: 10 + 30 arrivals, the step at 2 s.
        let p = plan(ConstantArrivalRate, &[(2, 5.0), (3, 10.0)]);
        let arrivals: Vec<Duration> = ArrivalSchedule::new(&p).collect();
        let want: Vec<Duration> = (0..10)
            .map(|i| ms(200 * i))
            .chain((0..30).map(|i| ms(2_000 + 100 * i)))
            .collect();
        assert_eq!(arrivals, want);
        assert_eq!(
            (p.total_duration(), p.peak(), p.integral()),
            (s(5), 10.0, 40.0)
        );
        for (at, want) in [
            (s(0), 5.0),
            (ms(1_999), 5.0),
            (s(2), 10.0),
            (s(4), 10.0),
            (s(9), 10.0),
        ] {
            assert_eq!(p.target_at(at), want, "{at:?}");
        }
        let segments: Vec<(Duration, Duration, f64, f64)> = p
            .segments()
            .map(|seg| (seg.start, seg.end(), seg.from, seg.to))
            .collect();
        assert_eq!(segments, [(s(0), s(2), 5.0, 5.0), (s(2), s(5), 10.0, 10.0)]);
        // A zero-rate stage in between pauses arrivals; a 0 s stage changes nothing.
        let gap = plan(
            ConstantArrivalRate,
            &[(1, 4.0), (2, 0.0), (0, 9.0), (1, 2.0)],
        );
        let arrivals: Vec<Duration> = ArrivalSchedule::new(&gap).collect();
        assert_eq!(arrivals, [s(0), ms(250), ms(500), ms(750), s(3), ms(3_500)]);
        assert_eq!(gap.integral(), 6.0);
        // Sharded, the two steps split evenly and the shards partition the schedule.
        let mut union: Vec<Duration> = (0..3)
            .flat_map(|i| ArrivalSchedule::sharded(&p, i, 3))
            .collect();
        union.sort();
        assert_eq!(union, want);
        let halves: Vec<f64> = p.shard(1, 2).stages().iter().map(|st| st.target).collect();
        assert_eq!(halves, [2.5, 5.0]);
    }

    #[test]
    fn long_soak_has_no_drift() {
        // 3/s for 10 h: arrival i is at exactly i/3 s, to the nanosecond.
        let p = Plan::constant_rate(3.0, s(36_000)).unwrap();
        let mut schedule = ArrivalSchedule::new(&p);
        let mut count = 0u64;
        while let Some(at) = schedule.next_arrival() {
            if count % 9_973 == 0 {
                assert_eq!(
                    at,
                    Duration::from_nanos((count as f64 * 1e9 / 3.0).round() as u64),
                    "#{count}"
                );
            }
            count += 1;
        }
        assert_eq!(count, 108_000);
        assert_eq!(schedule.next_arrival(), None, "stays ended");
    }

    #[test]
    fn next_due_drains_up_to_elapsed() {
        let p = Plan::constant_rate(10.0, s(1)).unwrap();
        let mut schedule = ArrivalSchedule::new(&p);
        let mut drain =
            |elapsed| std::iter::from_fn(|| schedule.next_due(elapsed)).collect::<Vec<_>>();
        assert_eq!(drain(ms(0)), [ms(0)]);
        assert!(drain(ms(50)).is_empty());
        assert_eq!(drain(ms(250)), [ms(100), ms(200)]);
        assert!(drain(ms(250)).is_empty());
        assert_eq!(drain(s(5)).len(), 7);
        assert!(drain(s(6)).is_empty());
        let mut fresh = ArrivalSchedule::new(&p);
        assert_eq!((fresh.peek(), fresh.peek()), (Some(ms(0)), Some(ms(0))));
        assert_eq!(
            (fresh.next_arrival(), fresh.peek()),
            (Some(ms(0)), Some(ms(100)))
        );
        assert_eq!(fresh.by_ref().count(), 9);
        assert_eq!(fresh.peek(), None);
    }

    #[test]
    fn shards_partition_the_schedule() {
        let p = plan(RampingArrivalRate, &[(7, 13.0), (3, 13.0), (5, 1.0)]);
        let whole: Vec<Duration> = ArrivalSchedule::new(&p).collect();
        for shards in 1..=6u32 {
            let mut union: Vec<Duration> = (0..shards)
                .flat_map(|i| ArrivalSchedule::sharded(&p, i, shards))
                .collect();
            union.sort();
            assert_eq!(union, whole, "{shards} shards");
        }
        assert_eq!(ArrivalSchedule::sharded(&p, 3, 3).count(), 0);
        assert_eq!(ArrivalSchedule::sharded(&p, 0, 0).count(), whole.len());
    }

    #[test]
    fn split_tables() {
        // (total, shards, shares)
        let cases: [(u32, u32, &[u32]); 6] = [
            (10, 1, &[10]),
            (10, 3, &[4, 3, 3]),
            (11, 3, &[4, 4, 3]),
            (2, 4, &[1, 1, 0, 0]),
            (0, 2, &[0, 0]),
            (100, 7, &[15, 15, 14, 14, 14, 14, 14]),
        ];
        for (total, shards, shares) in cases {
            let got: Vec<u32> = (0..shards)
                .map(|i| split_sessions(total, i, shards))
                .collect();
            assert_eq!(got, shares, "{total}/{shards}");
        }
        assert_eq!((split_sessions(5, 0, 0), split_sessions(5, 2, 2)), (5, 0));
        assert_eq!(
            (
                split_rate(9.0, 1, 4),
                split_rate(9.0, 0, 0),
                split_rate(9.0, 4, 4)
            ),
            (2.25, 9.0, 0.0)
        );
        let sharded = soak().shard(1, 3);
        let targets: Vec<f64> = sharded.stages().iter().map(|st| st.target).collect();
        assert_eq!(
            (targets, sharded.kind()),
            (vec![33.0, 33.0, 0.0], RampingSessions)
        );
        let rate = Plan::constant_rate(10.0, s(2)).unwrap().shard(0, 4);
        assert_eq!(rate.stages()[0].target, 2.5);
    }

    fn arrival_plan() -> impl Strategy<Value = Plan> {
        proptest::collection::vec((0u64..20_000, 0.0f64..50.0), 1..6).prop_filter_map(
            "zero length",
            |stages| {
                let stages = stages
                    .into_iter()
                    .map(|(ms, target)| Stage {
                        duration: Duration::from_millis(ms),
                        target,
                    })
                    .collect();
                Plan::new(RampingArrivalRate, stages).ok()
            },
        )
    }

    proptest! {
        #[test]
        fn split_sessions_sums_to_total(total: u32, shards in 1u32..1_000) {
            let shares: Vec<u32> = (0..shards).map(|i| split_sessions(total, i, shards)).collect();
            prop_assert_eq!(shares.iter().map(|&n| u64::from(n)).sum::<u64>(), u64::from(total));
            let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            prop_assert!(hi - lo <= 1);
        }

        #[test]
        fn arrivals_are_ordered_in_range_and_match_the_integral(p in arrival_plan()) {
            let arrivals: Vec<Duration> = ArrivalSchedule::new(&p).collect();
            prop_assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(arrivals.iter().all(|&at| at <= p.total_duration()));
            let expected = p.integral();
            prop_assert!((arrivals.len() as f64 - expected.ceil()).abs() <= 1.0, "{} vs {}", arrivals.len(), expected);
            let mut union: Vec<Duration> = (0..3).flat_map(|i| ArrivalSchedule::sharded(&p, i, 3)).collect();
            union.sort();
            prop_assert_eq!(union, arrivals);
        }
    }
}
