//! The embedded server's own counters: the oracle that integration tests
//! cross-check the client's numbers against (goose's "server-side count").
//!
//! Counters are `Relaxed` atomics shared by every worker thread and kept
//! across a fault's `shut_down`/`restart`; nothing here takes a lock, so a
//! stream bumps a counter per event at the cost of one atomic add. `Relaxed`
//! is enough: each counter is independent and read only as a snapshot, and a
//! snapshot taken while streams run is approximate by nature.
//!
//! Invariant the tests rely on: once no stream is in flight,
//! `streams_started == streams_completed + streams_cut`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A point-in-time copy of the server's counters, as served by `GET /stats`.
///
/// The FastAPI test app in `tests/fastapi/app.py` serves the same fields, so
/// one type parses both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Streams whose `200 text/event-stream` response was produced.
    pub streams_started: u64,
    /// Streams that sent the completion event (`{"Data": "Stream completed"}`).
    pub streams_completed: u64,
    /// Streams that ended without the completion event: injected cut, error
    /// event, stall, client gone, or server shut down.
    pub streams_cut: u64,
    /// SSE events handed to the connection: numbered, malformed, error and
    /// completion events alike.
    pub events_sent: u64,
    /// `POST /trigger_invocation` requests received.
    pub requests: u64,
    /// Requests answered with an error status (`fail_rate` or the `status` knob).
    pub rejected: u64,
    /// Broadcast mode: events published (the latest global ID).
    #[serde(default)]
    pub published: u64,
    /// Broadcast mode: events published while the listener was down (`shutdown` fault).
    #[serde(default)]
    pub published_while_down: u64,
    /// Broadcast mode: events that subscribers returning with `Last-Event-ID`
    /// missed (between that ID and the first event sent back) — the count a
    /// client must report as `lost_events`.
    #[serde(default)]
    pub missed: u64,
}

/// The live counters behind [`StatsSnapshot`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    streams_started: AtomicU64,
    streams_completed: AtomicU64,
    streams_cut: AtomicU64,
    events_sent: AtomicU64,
    requests: AtomicU64,
    rejected: AtomicU64,
    published: AtomicU64,
    published_while_down: AtomicU64,
    missed: AtomicU64,
}

impl Stats {
    /// Counts one request and returns its number (0-based), used to decide
    /// `fail_rate` reproducibly.
    pub(crate) fn request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_started(&self) {
        self.streams_started.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_completed(&self) {
        self.streams_completed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_cut(&self) {
        self.streams_cut.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn event_sent(&self) {
        self.events_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Broadcast: one event published (`down`: while the listener is down).
    pub(crate) fn published(&self, down: bool) {
        self.published.fetch_add(1, Ordering::Relaxed);
        if down {
            self.published_while_down.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Broadcast: a returning subscriber missed `n` events.
    pub(crate) fn missed(&self, n: u64) {
        self.missed.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads every counter (each one atomically, not all together).
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            streams_started: self.streams_started.load(Ordering::Relaxed),
            streams_completed: self.streams_completed.load(Ordering::Relaxed),
            streams_cut: self.streams_cut.load(Ordering::Relaxed),
            events_sent: self.events_sent.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            published_while_down: self.published_while_down.load(Ordering::Relaxed),
            missed: self.missed.load(Ordering::Relaxed),
        }
    }

    /// Sets every counter to zero. Streams in flight keep counting, so a reset
    /// during traffic can break the started = completed + cut invariant.
    pub(crate) fn reset(&self) {
        for counter in [
            &self.streams_started,
            &self.streams_completed,
            &self.streams_cut,
            &self.events_sent,
            &self.requests,
            &self.rejected,
            &self.missed,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_snapshot_and_reset() {
        let stats = Stats::default();
        assert_eq!(stats.request(), 0);
        assert_eq!(stats.request(), 1);
        stats.rejected();
        stats.stream_started();
        stats.stream_started();
        stats.stream_completed();
        stats.stream_cut();
        stats.event_sent();
        stats.event_sent();
        stats.event_sent();
        let expected = StatsSnapshot {
            streams_started: 2,
            streams_completed: 1,
            streams_cut: 1,
            events_sent: 3,
            requests: 2,
            rejected: 1,
            ..StatsSnapshot::default()
        };
        assert_eq!(stats.snapshot(), expected);
        stats.reset();
        assert_eq!(stats.snapshot(), StatsSnapshot::default());
    }

    #[test]
    fn snapshot_json_field_names_match_the_http_api() {
        let json = serde_json::to_value(StatsSnapshot::default()).expect("invariant: plain struct");
        let mut keys: Vec<&str> = json
            .as_object()
            .expect("invariant: struct serialises to an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "events_sent",
                "missed",
                "published",
                "published_while_down",
                "rejected",
                "requests",
                "streams_completed",
                "streams_cut",
                "streams_started"
            ]
        );
    }
}
