//! streamsoak: an actor-based load and soak tester for Server-Sent Events
//! streaming endpoints.
//!
//! # Layout
//!
//! Rooms, bottom to top; each imports only rooms below it (no cycles):
//!
//! | room | owns | may use |
//! |---|---|---|
//! | [`sse`] | WHATWG event-stream parser: sans-IO, incremental, bounded | — |
//! | [`client`] | one stream attempt over awc (driver, event judging, body decoding, error classes); breaker; backoff; the retry loop (request and subscribe mode) as one pure state machine; `StreamService`; its own config types (`StreamSpec`, `HttpSpec`) | `sse` |
//! | [`metrics`] | histograms, counters, interval deltas, the hlog; the recorder (which observation feeds which metric) and fault attribution/analysis | `client` |
//! | [`load`] | stage math and arrival schedules (the executors) | — |
//! | [`faults`] | the fault vocabulary and schedule (pure), the TCP fault proxy | — |
//! | [`server`] | the embedded reference SSE server and its control handle | — |
//! | [`signals`] | Ctrl+C / SIGTERM | — |
//! | [`scenario`] | TOML → validated values: the client's own policies, the load plan, the fault plan, the server config, the threshold language | `client`, `metrics`, `load`, `faults`, `server` |
//! | [`report`] | report files (CSV, `summary.json`, hlog, HTML, JUnit, markdown), `report`/`merge` readers (killed runs too), the live metrics' exposition (`report::live`) | `scenario` and below |
//! | [`engine`] | supervisor, session and collector actors (the collector checkpoints every interval); the `/metrics` exporter; `RunPlan` | `report` and below, `signals`, `error` |
//! | [`commands`], [`cli`], [`error`] | argument parsing, the commands, exit codes | everything |
//!
//! The data path is sse → client → metrics → report/engine → commands: a
//! validated [`scenario::Scenario`] holds the values the lower rooms
//! construct themselves (`RetryPolicy`, `BreakerConfig`, `Plan`,
//! `FaultPlan`, `ServerConfig`), so nothing downstream validates again and
//! whatever `check` accepts, `run` accepts.
//!
//! Pure logic (parser, breaker, backoff, retry loop in both modes, stage
//! math, capacity check, fault schedule, thresholds, recorder, event
//! sequences, fault analysis) owns no clock and no
//! RNG: time and randomness are passed in, so it is tested without a
//! runtime. Actors are thin shells around it.

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
