//! Measurements: latency histograms, counters, interval deltas and the
//! HdrHistogram interval log they are persisted in.

pub mod counters;
pub mod hlog;
pub mod interval;
pub mod latency;

pub use counters::{Counters, ErrorSamples, SessionStats};
pub use interval::{IntervalDelta, TransitionRecord};
pub use latency::{Latencies, LatencyMetric, LatencySummary};
