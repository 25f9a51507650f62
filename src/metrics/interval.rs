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
        let mut fresh = IntervalDelta {
            latencies: std::mem::replace(&mut self.latencies, empty),
            ..IntervalDelta::default()
        };
        fresh.counters = std::mem::take(&mut self.counters);
        fresh.errors = std::mem::take(&mut self.errors);
        fresh.transitions = std::mem::take(&mut self.transitions);
        fresh.fault_affected = std::mem::take(&mut self.fault_affected);
        fresh.fault_opens = std::mem::take(&mut self.fault_opens);
        fresh.fault_recovers = std::mem::take(&mut self.fault_recovers);
        fresh.fault_reconnects = std::mem::take(&mut self.fault_reconnects);
        fresh.active_sessions = self.active_sessions;
        fresh.breakers_open = self.breakers_open;
        fresh.open_streams = self.open_streams;
        fresh
    }
}
