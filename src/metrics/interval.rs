//! What a thread recorded during one report interval.
//!
//! Sessions record into their arbiter's [`IntervalDelta`] (a thread-local:
//! no locks, no messages per event); once per interval each arbiter hands
//! its delta to the collector, which merges them. Collector traffic is thus
//! arbiters × intervals, whatever the number of sessions or events.

use std::time::Duration;

use crate::client::breaker::{BreakerState, TransitionReason};
use crate::metrics::counters::{Counters, ErrorSamples};
use crate::metrics::latency::Latencies;

/// One breaker transition, for `breaker.csv`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransitionRecord {
    /// Offset from run start.
    pub at: Duration,
    /// Global session id.
    pub session: u64,
    /// State before.
    pub from: BreakerState,
    /// State after.
    pub to: BreakerState,
    /// Why.
    pub reason: TransitionReason,
}

/// A fault-related latency sample attributed to one fault (for `faults.csv`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultSample {
    /// Index of the fault in the scenario.
    pub fault: usize,
    /// The session.
    pub session: u64,
    /// The latency (fault start → first failure, fault start → open, or
    /// fault end → recovery).
    pub latency: Duration,
}

/// Everything one arbiter recorded in one interval.
#[derive(Clone, Debug, Default)]
pub struct IntervalDelta {
    /// Counters.
    pub counters: Counters,
    /// Latency samples.
    pub latencies: Latencies,
    /// First error examples.
    pub errors: ErrorSamples,
    /// Breaker transitions, in order.
    pub transitions: Vec<TransitionRecord>,
    /// Sessions' first failures during a fault.
    pub fault_affected: Vec<FaultSample>,
    /// Breakers opened during a fault.
    pub fault_opens: Vec<FaultSample>,
    /// Sessions recovered after a fault.
    pub fault_recovers: Vec<FaultSample>,
    /// Subscribe mode: sessions' first reconnect after a fault's start (issue #16).
    pub fault_reconnects: Vec<FaultSample>,
    /// Gauge at the end of the interval: sessions alive.
    pub active_sessions: u64,
    /// Gauge at the end of the interval: breakers not closed (open or half-open).
    pub breakers_open: u64,
    /// Gauge at the end of the interval: streams open (response accepted, not ended).
    pub open_streams: u64,
}

impl IntervalDelta {
    /// Adds `other` (counters summed, histograms merged, gauges summed, logs appended).
    pub fn merge(&mut self, other: &IntervalDelta) {
        self.counters.merge(&other.counters);
        self.latencies.add(&other.latencies);
        self.errors.merge(&other.errors);
        self.transitions.extend_from_slice(&other.transitions);
        self.fault_affected.extend_from_slice(&other.fault_affected);
        self.fault_opens.extend_from_slice(&other.fault_opens);
        self.fault_recovers.extend_from_slice(&other.fault_recovers);
        self.fault_reconnects
            .extend_from_slice(&other.fault_reconnects);
        self.active_sessions += other.active_sessions;
        self.breakers_open += other.breakers_open;
        self.open_streams += other.open_streams;
    }

    /// Takes the interval's data, leaving an empty delta (recording into
    /// `empty`, histograms that must be empty — recycled ones avoid
    /// allocating a fresh set every interval) and the gauges (gauges are
    /// states, not sums).
    pub fn take(&mut self, empty: Latencies) -> IntervalDelta {
        debug_assert!(empty.is_empty(), "recycled histograms are reset");
        // Every field by name: `..IntervalDelta::default()` would build (and
        // drop) a fresh 1.4 MB histogram set each interval, page faults and
        // zeroing on the arbiter's thread (2–3 % of a paced client's CPU).
        IntervalDelta {
            counters: std::mem::take(&mut self.counters),
            latencies: std::mem::replace(&mut self.latencies, empty),
            errors: std::mem::take(&mut self.errors),
            transitions: std::mem::take(&mut self.transitions),
            fault_affected: std::mem::take(&mut self.fault_affected),
            fault_opens: std::mem::take(&mut self.fault_opens),
            fault_recovers: std::mem::take(&mut self.fault_recovers),
            fault_reconnects: std::mem::take(&mut self.fault_reconnects),
            active_sessions: self.active_sessions,
            breakers_open: self.breakers_open,
            open_streams: self.open_streams,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::LatencyMetric;

    #[test]
    fn take_hands_over_the_interval_and_keeps_the_gauges() {
        let mut d = IntervalDelta::default();
        d.counters.events = 7;
        d.latencies
            .record(LatencyMetric::Ttfb, Duration::from_millis(3));
        d.fault_opens.push(FaultSample {
            fault: 0,
            session: 1,
            latency: Duration::from_millis(5),
        });
        d.active_sessions = 4;
        d.open_streams = 2;
        let taken = d.take(Latencies::default());
        assert_eq!(taken.counters.events, 7);
        assert_eq!(taken.latencies.get(LatencyMetric::Ttfb).len(), 1);
        assert_eq!(taken.fault_opens.len(), 1);
        assert_eq!((taken.active_sessions, taken.open_streams), (4, 2));
        assert_eq!(d.counters.events, 0);
        assert!(d.latencies.is_empty() && d.fault_opens.is_empty());
        assert_eq!(
            (d.active_sessions, d.open_streams),
            (4, 2),
            "gauges are states"
        );
    }
}
