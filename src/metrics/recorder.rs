//! What each observation of a session feeds: the recording policy.
//!
//! The client reports attempts, events, breaker changes and retries through
//! its [`Observer`]; [`Recorder`] decides which counter, histogram, gauge,
//! error note, fault sample or `--events-out` line each one becomes, in the
//! arbiter's thread-local [`IntervalDelta`]. It owns no clock: every time it
//! needs comes from the client's own stamps (`AttemptOutcome::started` +
//! `duration`, `SeenEvent::at`, `Transition::at`, `StreamOutcome::started` +
//! `duration`), so the policy is tested with hand-made outcomes and no
//! runtime.
//!
//! The rules, in one place:
//! - the open model's lateness (scheduled → actual start) is added to the
//!   first attempt's `ttfb`/`ttfe` and to the `stream` latency, never to a
//!   retry's: latency is measured from the scheduled start, once;
//! - a short-circuited stream is failed *and* short-circuited; a cancelled
//!   one is neither ok nor failed (only its `cancelled` error is noted);
//! - `breakers_open` counts breakers not closed: up on leaving Closed, down
//!   on returning to it, unchanged between Open and HalfOpen;
//! - a session's first failure during a fault, its breaker opening and its
//!   first success after the fault are attributed by [`FaultMemory`]: at
//!   most one `affected`, `open` and `recover` sample per session per fault;
//! - LLM streams: `ttft` per attempt with content (the lateness added like
//!   `ttfe`), `itl` per content chunk after the first, `tpot` per completed
//!   attempt of two tokens or more, `output_tokens` of every attempt; a
//!   completed wanted stream is good when it meets `[slo]` ([`Slo::met`]),
//!   judged on its last attempt with `ttft` from the wanted stream's start.
//!
//! - subscribe mode (issue #16): `open_streams` is up from a stream's
//!   opening to its attempt's end; a disconnection counts in `disconnects`,
//!   and the next first event of the subscription is a `reconnect` (latency
//!   from the disconnection; attributed to the fault it was cut in, once per
//!   session); `sequence = "id"` counts lost and duplicated IDs
//!   ([`SequenceTracker`], one sequence per wanted stream across its
//!   reconnects); a timestamp field gives `delivery` = the wall-clock time
//!   of receipt (the run's wall-clock start + the monotonic offset, so no
//!   clock is read per event) − the server's send time.

use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::client::attempt::{AttemptOutcome, EventSink, Failure, SeenEvent};
use crate::client::breaker::{BreakerState, Transition};
use crate::client::config::{Sequence, StreamSpec, TimeUnit};
use crate::client::dialect::Tokens;
use crate::client::{FailureKind, Observer, StreamOutcome};
use crate::metrics::attribution::{FaultClock, FaultMemory};
use crate::metrics::goodput::Slo;
use crate::metrics::interval::FaultSample;
use crate::metrics::sequence::{Seen, SequenceTracker};
use crate::metrics::{IntervalDelta, LatencyMetric, SessionStats, TransitionRecord};

/// What every recorder of a run shares.
#[derive(Clone, Copy, Debug)]
pub struct RunContext<'a> {
    /// Origin of every offset written (error first-seen, `breaker.csv`, `t_ms`).
    pub run_start: Instant,
    /// Fault windows, for the `open` and `recover` samples.
    pub faults: &'a FaultClock,
    /// `[slo]`: what a good stream is (goodput).
    pub slo: Slo,
    /// What event IDs and timestamps mean (subscribe-mode metrics).
    pub events: EventRules,
}

/// The `[stream]` keys that give per-event metrics (issue #16).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EventRules {
    /// `sequence = "id"`: count lost and duplicated IDs.
    pub sequence: bool,
    /// `timestamp_unit` of the timestamp field, when there is one.
    pub timestamp_unit: Option<TimeUnit>,
    /// The wall clock at the run's start, in µs since the Unix epoch.
    pub wall_start_us: f64,
    /// Subscribe mode: a session recovers from a fault when it reconnects
    /// (its first event after the fault's end), not when its hold ends.
    pub subscribe: bool,
}

impl EventRules {
    /// The rules of `stream`, with the wall clock `wall_start` at the run's start.
    pub fn new(stream: &StreamSpec, wall_start: SystemTime) -> EventRules {
        EventRules {
            sequence: stream.sequence == Sequence::Id,
            timestamp_unit: stream.timestamp.as_ref().map(|t| t.unit),
            subscribe: stream.mode.hold().is_some(),
            wall_start_us: wall_start
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64() * 1e6),
        }
    }
}

/// What a session keeps across its streams: its totals, whether its
/// breaker counts in the `breakers_open` gauge, its fault history.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionTally {
    stats: SessionStats,
    breaker_open: bool,
    faults: FaultMemory,
}

impl SessionTally {
    /// A fresh session `session` (breaker closed).
    pub fn new(session: u64) -> SessionTally {
        SessionTally {
            stats: SessionStats {
                session,
                final_state: BreakerState::Closed.name(),
                ..SessionStats::default()
            },
            breaker_open: false,
            faults: FaultMemory::default(),
        }
    }

    /// The totals so far.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// A wanted stream starts (counted when asked for, before any attempt).
    pub fn stream_started(&mut self, delta: &mut IntervalDelta) {
        self.stats.streams += 1;
        delta.counters.streams_started += 1;
    }

    /// Notes the breaker state for `sessions.csv`'s `final_state`.
    pub fn set_final_state(&mut self, state: BreakerState) {
        self.stats.final_state = state.name();
    }
}

/// A session came up: one more in the `active_sessions` gauge.
pub fn session_started(delta: &mut IntervalDelta) {
    delta.active_sessions += 1;
}

/// A session stopped: it leaves the gauges, and its totals are returned.
/// `tally` is `None` when the session stopped with a stream in flight (its
/// tally went with the stream): its row says `lost`, and its breaker, whose
/// state is unknown, is left in the gauge.
pub fn session_stopped(
    delta: &mut IntervalDelta,
    session: u64,
    tally: Option<SessionTally>,
) -> SessionStats {
    delta.active_sessions = delta.active_sessions.saturating_sub(1);
    match tally {
        Some(tally) => {
            if tally.breaker_open {
                delta.breakers_open = delta.breakers_open.saturating_sub(1);
            }
            tally.stats
        }
        None => SessionStats {
            session,
            final_state: "lost",
            ..SessionStats::default()
        },
    }
}

/// Records one wanted stream's observations into the arbiter's delta.
///
/// The delta is borrowed only for the length of each call: the sessions of
/// an arbiter share it, and a stream's future yields between calls.
pub struct Recorder<'a> {
    run: RunContext<'a>,
    delta: &'a RefCell<IntervalDelta>,
    events: Option<&'a RefCell<Vec<u8>>>,
    tally: &'a mut SessionTally,
    /// Scheduled start → actual start (open model), added to the first attempt's latencies.
    lateness: Duration,
    first_attempt: bool,
    /// The last attempt's token clock, for the goodput judgement.
    last_tokens: Tokens,
    /// The running attempt's stream counts in `open_streams`.
    open: bool,
    /// A disconnection not yet followed by an event.
    disconnected_at: Option<Instant>,
    sequence: SequenceTracker,
    /// Refusals were counted one by one (subscribe mode).
    refusals_counted: bool,
}

impl<'a> Recorder<'a> {
    /// A recorder for one stream of `tally`'s session, started `lateness`
    /// after it was scheduled.
    pub fn new(
        run: RunContext<'a>,
        delta: &'a RefCell<IntervalDelta>,
        tally: &'a mut SessionTally,
        lateness: Duration,
    ) -> Recorder<'a> {
        Recorder {
            run,
            delta,
            events: None,
            tally,
            lateness,
            first_attempt: true,
            last_tokens: Tokens::default(),
            open: false,
            disconnected_at: None,
            sequence: SequenceTracker::default(),
            refusals_counted: false,
        }
    }

    /// Also writes every event as a JSON line into `buffer` (`--events-out`).
    pub fn with_events(mut self, buffer: Option<&'a RefCell<Vec<u8>>>) -> Recorder<'a> {
        self.events = buffer;
        self
    }

    fn note_error(
        &self,
        delta: &mut IntervalDelta,
        kind: FailureKind,
        detail: &str,
        count: u64,
        at: Instant,
    ) {
        delta.counters.errors[kind.index()] += count;
        let offset = at.saturating_duration_since(self.run.run_start);
        delta.errors.note(kind, offset, detail);
    }

    /// The wanted stream is over (after its last attempt, or short-circuited).
    pub fn stream_finished(&mut self, outcome: &StreamOutcome) {
        let mut delta = self.delta.borrow_mut();
        let end = outcome.started + outcome.duration;
        match &outcome.result {
            Ok(()) => {
                self.tally.stats.ok += 1;
                delta.counters.streams_ok += 1;
                let ttft = self
                    .last_tokens
                    .first_content()
                    .map(|t| t.saturating_duration_since(outcome.started) + self.lateness);
                if self.run.slo.met(ttft, self.last_tokens.tpot()) {
                    delta.counters.good_streams += 1;
                }
                delta
                    .latencies
                    .record(LatencyMetric::Stream, outcome.duration + self.lateness);
                let recovered = if self.run.events.subscribe {
                    None
                } else {
                    self.tally.faults.succeeded(self.run.faults, end)
                };
                if let Some((fault, latency)) = recovered {
                    delta.fault_recovers.push(FaultSample {
                        fault,
                        session: self.tally.stats.session,
                        latency,
                    });
                    delta.latencies.record(LatencyMetric::Recover, latency);
                }
            }
            Err(failure) if failure.kind == FailureKind::Cancelled => {
                self.note_error(&mut delta, FailureKind::Cancelled, &failure.detail, 1, end);
            }
            Err(failure) => {
                self.tally.stats.failed += 1;
                delta.counters.streams_failed += 1;
                if outcome.short_circuited && !self.refusals_counted {
                    delta.counters.short_circuited += 1;
                    self.note_error(
                        &mut delta,
                        FailureKind::ShortCircuited,
                        &failure.detail,
                        1,
                        end,
                    );
                }
                self.failed(&mut delta, end);
            }
        }
    }

    /// A failure at `at`: the faults it is the session's first failure of.
    fn failed(&mut self, delta: &mut IntervalDelta, at: Instant) {
        for (fault, latency) in self.tally.faults.failed(self.run.faults, at) {
            delta.fault_affected.push(FaultSample {
                fault,
                session: self.tally.stats.session,
                latency,
            });
        }
    }
}

impl EventSink for Recorder<'_> {
    fn stream_opened(&mut self, _at: Instant) {
        if !self.open {
            self.open = true;
            self.delta.borrow_mut().open_streams += 1;
        }
    }

    fn event(&mut self, seen: &SeenEvent<'_>) {
        self.tally.stats.events += 1;
        {
            let mut delta = self.delta.borrow_mut();
            delta.counters.events += 1;
            if let Some(gap) = seen.gap {
                delta.latencies.record(LatencyMetric::Gap, gap);
            }
            let rules = self.run.events;
            if rules.sequence {
                match self.sequence.observe(seen.event.id) {
                    Seen::Lost(n) => delta.counters.lost_events += n,
                    Seen::Duplicate => delta.counters.duplicate_events += 1,
                    Seen::First | Seen::InOrder | Seen::Reset | Seen::NotInteger => {}
                }
            }
            if let (Some(unit), Some(sent)) =
                (rules.timestamp_unit, seen.fields.and_then(|f| f.timestamp))
            {
                let since_start = seen.at.saturating_duration_since(self.run.run_start);
                let received_us = rules.wall_start_us + since_start.as_secs_f64() * 1e6;
                // A clock behind the server's reads as 0 (recorded as 1 µs).
                let us = (received_us - sent * unit.micros()).max(0.0);
                delta
                    .latencies
                    .record(LatencyMetric::Delivery, Duration::from_secs_f64(us / 1e6));
            }
            if let Some(cut) = self.disconnected_at.take() {
                delta.counters.reconnects += 1;
                let latency = seen.at.saturating_duration_since(cut);
                delta.latencies.record(LatencyMetric::Reconnect, latency);
                if let Some((fault, latency)) =
                    self.tally.faults.reconnected(self.run.faults, cut, seen.at)
                {
                    delta.fault_reconnects.push(FaultSample {
                        fault,
                        session: self.tally.stats.session,
                        latency,
                    });
                }
                if let Some((fault, latency)) =
                    self.tally.faults.succeeded(self.run.faults, seen.at)
                {
                    delta.fault_recovers.push(FaultSample {
                        fault,
                        session: self.tally.stats.session,
                        latency,
                    });
                    delta.latencies.record(LatencyMetric::Recover, latency);
                }
            }
            if let Some(itl) = seen.itl {
                delta.latencies.record(LatencyMetric::Itl, itl);
            }
        }
        if let Some(buffer) = self.events {
            let t = seen.at.saturating_duration_since(self.run.run_start);
            let line = EventLine {
                t_ms: t.as_micros() as f64 / 1000.0,
                session: self.tally.stats.session,
                event: seen.event.kind,
                id: seen.event.id,
                data: seen.event.data,
            };
            let mut buffer = buffer.borrow_mut();
            if serde_json::to_writer(&mut *buffer, &line).is_ok() {
                let _ = buffer.write_all(b"\n");
            }
        }
    }
}

/// One `--events-out` line.
#[derive(serde::Serialize)]
struct EventLine<'a> {
    t_ms: f64,
    session: u64,
    event: &'a str,
    id: &'a str,
    data: &'a str,
}

impl Observer for Recorder<'_> {
    fn attempt_finished(&mut self, attempt: &AttemptOutcome) {
        let end = attempt.started + attempt.duration;
        let mut delta = self.delta.borrow_mut();
        self.sequence.connection_ended();
        if std::mem::take(&mut self.open) {
            delta.open_streams = delta.open_streams.saturating_sub(1);
        }
        let offset = if self.first_attempt {
            self.lateness
        } else {
            Duration::ZERO
        };
        self.first_attempt = false;
        delta.counters.attempts += 1;
        delta.counters.bytes += attempt.bytes;
        if let Some(version) = attempt.version {
            delta.counters.http_versions.insert(version);
        }
        if let Some(ttfb) = attempt.ttfb {
            delta.latencies.record(LatencyMetric::Ttfb, ttfb + offset);
        }
        if let Some(ttfe) = attempt.ttfe {
            delta.latencies.record(LatencyMetric::Ttfe, ttfe + offset);
        }
        if let Some(ttft) = attempt.ttft() {
            delta.latencies.record(LatencyMetric::Ttft, ttft + offset);
        }
        delta.counters.output_tokens += attempt.tokens.output_tokens();
        if attempt.is_ok() {
            if let Some(tpot) = attempt.tokens.tpot() {
                delta.latencies.record(LatencyMetric::Tpot, tpot);
            }
        }
        self.last_tokens = attempt.tokens;
        if attempt.malformed_events > 0 {
            self.note_error(
                &mut delta,
                FailureKind::MalformedEvent,
                "event data is not the JSON expected",
                attempt.malformed_events,
                end,
            );
        }
        if let Err(failure) = &attempt.result {
            if failure.kind != FailureKind::Cancelled {
                self.note_error(&mut delta, failure.kind, &failure.detail, 1, end);
                self.failed(&mut delta, end);
            }
        }
    }

    fn breaker_changed(&mut self, t: &Transition) {
        let mut delta = self.delta.borrow_mut();
        delta.transitions.push(TransitionRecord {
            at: t.at.saturating_duration_since(self.run.run_start),
            session: self.tally.stats.session,
            from: t.from,
            to: t.to,
            reason: t.reason,
        });
        let open_now = t.to != BreakerState::Closed;
        if open_now != self.tally.breaker_open {
            if open_now {
                delta.breakers_open += 1;
            } else {
                delta.breakers_open = delta.breakers_open.saturating_sub(1);
            }
            self.tally.breaker_open = open_now;
        }
        if t.to == BreakerState::Open {
            delta.counters.breaker_opens += 1;
            self.tally.stats.breaker_opens += 1;
            if let Some((fault, latency)) = self.tally.faults.breaker_opened(self.run.faults, t.at)
            {
                delta.fault_opens.push(FaultSample {
                    fault,
                    session: self.tally.stats.session,
                    latency,
                });
                delta.latencies.record(LatencyMetric::Open, latency);
            }
        }
    }

    fn retrying(&mut self, _retry: u32, _delay: Duration, _after: &Failure) {
        self.tally.stats.retries += 1;
        self.delta.borrow_mut().counters.retries += 1;
    }

    fn disconnected(&mut self, at: Instant, _after: &Failure) {
        self.delta.borrow_mut().counters.disconnects += 1;
        self.disconnected_at = Some(at);
    }

    fn short_circuited(&mut self, at: Instant) {
        self.refusals_counted = true;
        let mut delta = self.delta.borrow_mut();
        delta.counters.short_circuited += 1;
        self.note_error(
            &mut delta,
            FailureKind::ShortCircuited,
            "circuit breaker open: the reconnect waits for its probe (open_for)",
            1,
            at,
        );
    }
}

#[cfg(test)]
mod tests;
