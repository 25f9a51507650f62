//! Measurements: latency histograms, counters, interval deltas and the
//! HdrHistogram interval log they are persisted in; what each observation
//! of a session feeds (`recorder`), which fault it is attributed to
//! (`attribution`), the per-fault analysis of a run (`fault_analysis`), and
//! what a good LLM stream is (`goodput`).
//! Pure: no actor, no clock.

pub mod attribution;
pub mod counters;
pub mod fault_analysis;
pub mod goodput;
pub mod hlog;
pub mod interval;
pub mod latency;
pub mod recorder;
pub mod sequence;

pub use counters::{Counters, ErrorSamples, SessionStats};
pub use goodput::Slo;
pub use interval::{IntervalDelta, TransitionRecord};
pub use latency::{Latencies, LatencyMetric, LatencySummary};
