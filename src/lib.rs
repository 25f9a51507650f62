//! streamsoak: an actor-based load and soak tester for Server-Sent Events
//! streaming endpoints.
//!
//! # Layout
//!
//! | module | owns |
//! |---|---|
//! | [`sse`] | WHATWG event-stream parser: sans-IO, incremental, bounded |
//! | [`client`] | one stream attempt over awc; error classes; breaker; retry; `StreamService` |
//! | [`scenario`] | TOML model, validation, durations, templating, `--set` |
//! | [`engine`] | supervisor, session and collector actors; executors (stage math) |
//! | [`metrics`] | histograms, counters, interval deltas, the hlog |
//! | [`report`] | CSV writers, thresholds, `--events-out` |
//! | [`server`] | the embedded reference SSE server |
//! | [`faults`] | fault schedule and the built-in TCP fault proxy |
//! | [`cli`], [`commands`] | argument parsing and the commands |
//!
//! Pure logic (parser, breaker, backoff, retry, stage math, thresholds) owns
//! no clock and no RNG: time and randomness are passed in, so it is tested
//! without a runtime. Actors are thin shells around it.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod cli;
#[warn(missing_docs)]
pub mod client;
pub mod commands;
pub mod engine;
pub mod error;
#[warn(missing_docs)]
pub mod faults;
#[warn(missing_docs)]
pub mod load;
#[warn(missing_docs)]
pub mod metrics;
pub mod report;
pub mod scenario;
pub mod server;
pub mod signals;
#[warn(missing_docs)]
pub mod sse;

pub use error::Error;
