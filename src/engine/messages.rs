//! Every message between the engine's actors.
//!
//! Commands are imperative, facts past tense. None is sent per event:
//! sessions talk per stream (open model) or per lifetime, arbiters per
//! interval, so `do_send` (which never refuses) keeps mailboxes bounded by
//! design.

use std::time::Instant;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::metrics::IntervalDelta;
use crate::metrics::SessionStats;
use crate::report::{ReportError, RunSummary};

/// Supervisor → session (open model): start one wanted stream now, scheduled at `scheduled`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartStream {
    /// When the arrival was due: latency is measured from here.
    pub scheduled: Instant,
}

/// Supervisor → session: finish the current stream, then stop.
///
/// Subscribe mode (a subscription has no end of its own): the subscription
/// is closed now, unless its hold ends by `grace_until` (the run's end
/// grace); a ramp-down sends `None` and closes it now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopSession {
    /// Until when a running stream may go on (the drain's grace).
    pub grace_until: Option<std::time::Instant>,
}

/// Session → supervisor: stopped; its totals for `sessions.csv`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionStopped {
    /// Final per-session totals.
    pub stats: SessionStats,
}

/// Signal handler → supervisor: stop the run (Ctrl+C / SIGTERM).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Interrupt {
    /// True on the second signal: abort at once.
    pub abort: bool,
}

/// Arbiter → collector: what one arbiter recorded during interval `tick`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flushed {
    /// Interval number (0-based).
    pub tick: u64,
    /// Which arbiter (index into the collector's list), to hand histograms back.
    pub arbiter: usize,
    /// The recorded delta.
    pub delta: Box<IntervalDelta>,
    /// `--events-out` lines.
    pub events: Vec<u8>,
}

/// Supervisor → collector: the run is over; flush the last interval and report.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Finish {
    /// Sessions' totals.
    pub sessions: Vec<SessionStats>,
    /// Open-model arrivals dropped.
    pub dropped_arrivals: u64,
    /// Most sessions alive at once.
    pub peak_sessions: u64,
    /// Where to send the summary (and the first live-file write error).
    pub reply: oneshot::Sender<(RunSummary, Option<ReportError>)>,
}

/// Supervisor → collector: open-model arrivals dropped since the last report.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ArrivalsDropped(pub u64);
