//! When each fault really started and ended, shared with every session.
//!
//! The supervisor marks windows as faults begin and end; sessions read them
//! (relaxed atomics: a fault boundary seen a microsecond late changes
//! nothing) to attribute their breaker openings (`open`: fault start →
//! breaker open) and recoveries (`recover`: fault end → first successful
//! stream) to a fault, once per session per fault.

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

    fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.run_start)
    }

    /// A failure at `now`: every fault active now affects this session.
    pub fn mark_affected(&self, now: Instant, affected: &mut Vec<bool>) {
        if self.windows.is_empty() {
            return;
        }
        let t = self.offset(now);
        for i in 0..self.windows.len() {
            if let Some((start, end)) = self.window(i) {
                if start <= t && end.is_none_or(|err| t <= err) {
                    set(affected, i);
                }
            }
        }
    }

    /// A breaker opened at `at`: the latest started fault this session was
    /// affected by and has not opened for yet, with the time since its start.
    pub fn opening(&self, at: Instant, opened: &mut Vec<bool>) -> Option<(usize, Duration)> {
        let t = self.offset(at);
        let i = (0..self.windows.len())
            .rev()
            .find(|&i| self.window(i).is_some_and(|(start, _)| start <= t))?;
        if get(opened, i) {
            return None;
        }
        set(opened, i);
        let (start, _) = self.window(i)?;
        Some((i, t - start))
    }

    /// A success at `now`: the latest ended fault this session was affected
    /// by and has not recovered from yet, with the time since its end.
    pub fn recovery(
        &self,
        now: Instant,
        affected: &[bool],
        recovered: &mut Vec<bool>,
    ) -> Option<(usize, Duration)> {
        let t = self.offset(now);
        let i = (0..self.windows.len()).rev().find(|&i| {
            matches!(self.window(i), Some((_, Some(end))) if end <= t)
                && affected.get(i).copied().unwrap_or(false)
                && !get(recovered, i)
        })?;
        set(recovered, i);
        let (_, end) = self.window(i)?;
        Some((i, t - end?))
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

    #[test]
    fn attributes_open_and_recovery_once() {
        let t0 = Instant::now();
        let clock = FaultClock::new(t0, 1);
        let (mut affected, mut opened, mut recovered) = (Vec::new(), Vec::new(), Vec::new());
        clock.mark_affected(t0 + Duration::from_secs(1), &mut affected);
        assert!(affected.is_empty(), "no fault yet");
        assert_eq!(
            clock.opening(t0 + Duration::from_secs(1), &mut opened),
            None
        );

        clock.mark_started(0, t0 + Duration::from_secs(10));
        clock.mark_affected(t0 + Duration::from_secs(11), &mut affected);
        assert_eq!(
            clock.opening(t0 + Duration::from_secs(12), &mut opened),
            Some((0, Duration::from_secs(2)))
        );
        assert_eq!(
            clock.opening(t0 + Duration::from_secs(13), &mut opened),
            None,
            "once"
        );
        assert_eq!(
            clock.recovery(t0 + Duration::from_secs(14), &affected, &mut recovered),
            None,
            "fault not over"
        );
        clock.mark_ended(0, t0 + Duration::from_secs(20));
        assert_eq!(
            clock.recovery(t0 + Duration::from_secs(23), &affected, &mut recovered),
            Some((0, Duration::from_secs(3)))
        );
        assert_eq!(
            clock.recovery(t0 + Duration::from_secs(24), &affected, &mut recovered),
            None
        );
        assert_eq!(
            clock.recovery(t0 + Duration::from_secs(24), &[], &mut Vec::new()),
            None,
            "unaffected sessions do not recover"
        );
    }
}
