//! Fault attribution: which fault a session's breaker opening or recovery
//! belongs to.
//!
//! [`FaultClock`] holds when each fault really started and ended, shared
//! with every session: the supervisor marks windows as faults begin and
//! end, sessions read them (relaxed atomics: a fault boundary seen a
//! microsecond late changes nothing). [`FaultMemory`] is one session's
//! side: which faults it was affected by, opened for and recovered from,
//! so that each session contributes at most one `open` (fault start →
//! breaker open) and one `recover` (fault end → first successful stream)
//! sample per fault.
//!
//! Neither owns a clock: every call takes the `Instant` it is about.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Real start and end of every fault, as offsets from the run start.
#[derive(Debug)]
pub struct FaultClock {
    run_start: Instant,
    /// µs offset + 1 (0 = not yet) of each fault's start and end.
    windows: Vec<(AtomicU64, AtomicU64)>,
}

fn encode(run_start: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(run_start).as_micros()).unwrap_or(u64::MAX - 1) + 1
}

impl FaultClock {
    /// A clock for `faults` faults of a run started at `run_start`.
    pub fn new(run_start: Instant, faults: usize) -> FaultClock {
        FaultClock {
            run_start,
            windows: (0..faults)
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect(),
        }
    }

    /// Fault `i` began at `at`.
    pub fn mark_started(&self, i: usize, at: Instant) {
        if let Some(w) = self.windows.get(i) {
            w.0.store(encode(self.run_start, at), Ordering::Relaxed);
        }
    }

    /// Fault `i` ended at `at`.
    pub fn mark_ended(&self, i: usize, at: Instant) {
        if let Some(w) = self.windows.get(i) {
            w.1.store(encode(self.run_start, at), Ordering::Relaxed);
        }
    }

    /// Start and end (if reached) of fault `i`, as run offsets.
    pub fn window(&self, i: usize) -> Option<(Duration, Option<Duration>)> {
        let w = self.windows.get(i)?;
        let start = w.0.load(Ordering::Relaxed);
        if start == 0 {
            return None;
        }
        let end = w.1.load(Ordering::Relaxed);
        Some((
            Duration::from_micros(start - 1),
            (end != 0).then(|| Duration::from_micros(end - 1)),
        ))
    }

    /// Number of faults.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// True for a run without faults.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.run_start)
    }
}

/// One session's fault history: affected by, opened for, recovered from.
///
/// Indexed by fault; grows only when a fault is involved, so a run
/// without faults never allocates here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultMemory {
    affected: Vec<bool>,
    opened: Vec<bool>,
    recovered: Vec<bool>,
    reconnected: Vec<bool>,
}

impl FaultMemory {
    /// A failure at `at`: every fault active then (started, and not ended
    /// before `at`) affects this session. Returns the faults that affect it
    /// for the first time, with the time since their start (empty, and not
    /// allocated, in the common case).
    pub fn failed(&mut self, clock: &FaultClock, at: Instant) -> Vec<(usize, Duration)> {
        let mut newly = Vec::new();
        if clock.is_empty() {
            return newly;
        }
        let t = clock.offset(at);
        for i in 0..clock.len() {
            if let Some((start, end)) = clock.window(i) {
                if start <= t && end.is_none_or(|end| t <= end) && !get(&self.affected, i) {
                    set(&mut self.affected, i);
                    newly.push((i, t - start));
                }
            }
        }
        newly
    }

    /// A breaker opened at `at`: the latest fault started by then, if this
    /// session has not opened for it yet, with the time since its start.
    ///
    /// The fault need not still be active: a breaker that opens just after
    /// the end (the last retries of a cut stream timing out) is the fault's
    /// doing, and a later fault takes over attribution once it starts.
    pub fn breaker_opened(&mut self, clock: &FaultClock, at: Instant) -> Option<(usize, Duration)> {
        let t = clock.offset(at);
        let i = (0..clock.len())
            .rev()
            .find(|&i| clock.window(i).is_some_and(|(start, _)| start <= t))?;
        if get(&self.opened, i) {
            return None;
        }
        set(&mut self.opened, i);
        let (start, _) = clock.window(i)?;
        Some((i, t - start))
    }

    /// A successful stream at `at`: the latest fault ended by then that
    /// this session was affected by and has not recovered from yet, with
    /// the time since its end.
    pub fn succeeded(&mut self, clock: &FaultClock, at: Instant) -> Option<(usize, Duration)> {
        let t = clock.offset(at);
        let i = (0..clock.len()).rev().find(|&i| {
            matches!(clock.window(i), Some((_, Some(end))) if end <= t)
                && get(&self.affected, i)
                && !get(&self.recovered, i)
        })?;
        set(&mut self.recovered, i);
        let (_, end) = clock.window(i)?;
        Some((i, t - end?))
    }
}

impl FaultMemory {
    /// Subscribe mode: a stream that disconnected at `disconnected` has its
    /// first event again at `at`. When the disconnection fell in a fault's
    /// window (the latest fault started by then, not ended before it) and
    /// this session has not reconnected for that fault yet: the fault, and
    /// the reconnect time (`at − disconnected`) — `faults.csv`'s reconnect storm.
    pub fn reconnected(
        &mut self,
        clock: &FaultClock,
        disconnected: Instant,
        at: Instant,
    ) -> Option<(usize, Duration)> {
        let t = clock.offset(disconnected);
        let i = (0..clock.len()).rev().find(|&i| {
            matches!(clock.window(i), Some((start, end)) if start <= t && end.is_none_or(|end| t <= end))
        })?;
        if get(&self.reconnected, i) {
            return None;
        }
        set(&mut self.reconnected, i);
        Some((i, at.saturating_duration_since(disconnected)))
    }
}

fn get(v: &[bool], i: usize) -> bool {
    v.get(i).copied().unwrap_or(false)
}

fn set(v: &mut Vec<bool>, i: usize) {
    if v.len() <= i {
        v.resize(i + 1, false);
    }
    v[i] = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn attributes_open_and_recovery_once() {
        let t0 = Instant::now();
        let clock = FaultClock::new(t0, 1);
        let mut memory = FaultMemory::default();
        assert_eq!(memory.failed(&clock, t0 + s(1)), vec![], "no fault yet");
        assert_eq!(memory, FaultMemory::default());
        assert_eq!(memory.breaker_opened(&clock, t0 + s(1)), None);

        clock.mark_started(0, t0 + s(10));
        // 11 s − 10 s; a second failure is no news.
        assert_eq!(memory.failed(&clock, t0 + s(11)), vec![(0, s(1))]);
        assert_eq!(memory.failed(&clock, t0 + s(12)), vec![]);
        // 12 s − 10 s
        assert_eq!(memory.breaker_opened(&clock, t0 + s(12)), Some((0, s(2))));
        assert_eq!(memory.breaker_opened(&clock, t0 + s(13)), None, "once");
        assert_eq!(memory.succeeded(&clock, t0 + s(14)), None, "fault not over");
        clock.mark_ended(0, t0 + s(20));
        // 23 s − 20 s
        assert_eq!(memory.succeeded(&clock, t0 + s(23)), Some((0, s(3))));
        assert_eq!(memory.succeeded(&clock, t0 + s(24)), None, "once");
        assert_eq!(
            FaultMemory::default().succeeded(&clock, t0 + s(24)),
            None,
            "unaffected sessions do not recover"
        );
    }

    #[test]
    fn windows_and_later_faults() {
        let t0 = Instant::now();
        let clock = FaultClock::new(t0, 2);
        assert_eq!(clock.window(0), None);
        assert_eq!(clock.window(5), None, "out of range");
        clock.mark_started(0, t0 + s(10));
        clock.mark_ended(0, t0 + s(20));
        clock.mark_started(1, t0 + s(60));
        assert_eq!(clock.window(0), Some((s(10), Some(s(20)))));
        assert_eq!(clock.window(1), Some((s(60), None)));

        let mut memory = FaultMemory::default();
        memory.failed(&clock, t0 + s(25));
        assert_eq!(
            memory,
            FaultMemory::default(),
            "between faults: none active"
        );
        memory.failed(&clock, t0 + s(15));
        memory.failed(&clock, t0 + s(61));
        // fault 1 is the latest started: 65 s − 60 s
        assert_eq!(memory.breaker_opened(&clock, t0 + s(65)), Some((1, s(5))));
        // fault 1 not over: recovery goes to fault 0, 70 s − 20 s
        assert_eq!(memory.succeeded(&clock, t0 + s(70)), Some((0, s(50))));
        clock.mark_ended(1, t0 + s(80));
        // 81 s − 80 s
        assert_eq!(memory.succeeded(&clock, t0 + s(81)), Some((1, s(1))));
    }

    #[test]
    fn reconnects_are_attributed_to_the_fault_they_were_cut_in_once() {
        let t0 = Instant::now();
        let clock = FaultClock::new(t0, 2);
        clock.mark_started(0, t0 + s(10));
        clock.mark_ended(0, t0 + s(20));
        let mut memory = FaultMemory::default();
        let cases = [
            (5, 6, None),               // before any fault
            (10, 23, Some((0, s(13)))), // cut at the start, back after it
            (12, 14, None),             // once per fault
        ];
        for (cut, back, want) in cases {
            assert_eq!(
                memory.reconnected(&clock, t0 + s(cut), t0 + s(back)),
                want,
                "{cut}"
            );
        }
        assert_eq!(
            FaultMemory::default().reconnected(&clock, t0 + s(21), t0 + s(22)),
            None,
            "after the window"
        );
        clock.mark_started(1, t0 + s(30));
        assert_eq!(
            memory.reconnected(&clock, t0 + s(31), t0 + s(32)),
            Some((1, s(1)))
        );
    }
}
