//! Plain counters, errors by kind, and the first example of each error.

use std::time::Duration;

use crate::client::classify::{FailureClass, FailureKind};
use crate::client::protocol::VersionSet;

/// Counters of PRODUCT.md (summed across sessions, arbiters, shards).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Wanted streams started.
    pub streams_started: u64,
    /// Wanted streams that completed.
    pub streams_ok: u64,
    /// Wanted streams that failed (after retries, or short-circuited).
    pub streams_failed: u64,
    /// Attempts made (short-circuited calls are not attempts).
    pub attempts: u64,
    /// Retries (attempts after a stream's first).
    pub retries: u64,
    /// Calls refused by an open breaker.
    pub short_circuited: u64,
    /// Times a breaker opened.
    pub breaker_opens: u64,
    /// Events dispatched.
    pub events: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Open-model arrivals dropped (no free session under `max_sessions`).
    pub dropped_arrivals: u64,
    /// LLM streams: output tokens received (the server's usage when sent,
    /// else content chunks), every attempt's.
    pub output_tokens: u64,
    /// Wanted streams that completed within every `[slo]` (goodput's numerator).
    pub good_streams: u64,
    /// Subscribe mode: open streams that ended before `hold` (issue #16).
    pub disconnects: u64,
    /// Subscribe mode: streams after a disconnection that delivered their first event.
    pub reconnects: u64,
    /// `sequence = "id"`: IDs skipped (events never received).
    pub lost_events: u64,
    /// `sequence = "id"`: events whose ID was received before.
    pub duplicate_events: u64,
    /// Failures by kind (`FailureKind::index`).
    pub errors: [u64; FailureKind::COUNT],
    /// HTTP versions of the responses received (`summary.csv` `http_versions`).
    pub http_versions: VersionSet,
}

impl Counters {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counters) {
        self.streams_started += other.streams_started;
        self.streams_ok += other.streams_ok;
        self.streams_failed += other.streams_failed;
        self.attempts += other.attempts;
        self.retries += other.retries;
        self.short_circuited += other.short_circuited;
        self.breaker_opens += other.breaker_opens;
        self.events += other.events;
        self.bytes += other.bytes;
        self.dropped_arrivals += other.dropped_arrivals;
        self.output_tokens += other.output_tokens;
        self.good_streams += other.good_streams;
        self.disconnects += other.disconnects;
        self.reconnects += other.reconnects;
        self.lost_events += other.lost_events;
        self.duplicate_events += other.duplicate_events;
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        self.http_versions.merge(other.http_versions);
    }

    /// Failures of one kind.
    pub fn errors_of(&self, kind: FailureKind) -> u64 {
        self.errors[kind.index()]
    }

    /// Failures of every kind in `class`.
    pub fn errors_of_class(&self, class: FailureClass) -> u64 {
        FailureKind::ALL
            .into_iter()
            .filter(|k| k.class() == class)
            .map(|k| self.errors_of(k))
            .sum()
    }

    /// ok / (ok + failed); `None` when no stream finished: a run that
    /// finished nothing has no success rate, and a `success_rate`
    /// threshold on it fails rather than passing on 0/0.
    pub fn success_rate(&self) -> Option<f64> {
        let finished = self.streams_ok + self.streams_failed;
        (finished > 0).then(|| self.streams_ok as f64 / finished as f64)
    }

    /// good / (ok + failed): the share of wanted streams that completed
    /// within every SLO; `None` when no stream finished (as `success_rate`).
    pub fn goodput(&self) -> Option<f64> {
        let finished = self.streams_ok + self.streams_failed;
        (finished > 0).then(|| self.good_streams as f64 / finished as f64)
    }
}

/// The first time and an example message of each error kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ErrorSamples {
    /// Per kind: offset from run start of the first occurrence, and its detail.
    pub first: Vec<Option<(Duration, String)>>,
}

impl ErrorSamples {
    /// Notes an occurrence at `at` (run offset); keeps only the earliest.
    /// Allocates only for the first occurrence of a kind.
    pub fn note(&mut self, kind: FailureKind, at: Duration, detail: &str) {
        if self.first.is_empty() {
            self.first = vec![None; FailureKind::COUNT];
        }
        let slot = &mut self.first[kind.index()];
        match slot {
            Some((t, _)) if *t <= at => {}
            _ => *slot = Some((at, detail.to_owned())),
        }
    }

    /// Keeps the earliest of each kind from both.
    pub fn merge(&mut self, other: &ErrorSamples) {
        for (i, entry) in other.first.iter().enumerate() {
            if let Some((at, detail)) = entry {
                self.note(FailureKind::ALL[i], *at, detail);
            }
        }
    }

    /// The first occurrence of `kind`.
    pub fn get(&self, kind: FailureKind) -> Option<&(Duration, String)> {
        self.first.get(kind.index()).and_then(Option::as_ref)
    }
}

/// One session's totals, for `sessions.csv`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Session id (1-based; shards offset theirs).
    pub session: u64,
    /// Wanted streams started.
    pub streams: u64,
    /// Completed.
    pub ok: u64,
    /// Failed.
    pub failed: u64,
    /// Retries.
    pub retries: u64,
    /// Events.
    pub events: u64,
    /// Breaker opens.
    pub breaker_opens: u64,
    /// Breaker state at the end.
    pub final_state: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sums_everything() {
        let mut a = Counters {
            streams_started: 3,
            streams_ok: 2,
            streams_failed: 1,
            events: 10,
            ..Counters::default()
        };
        a.errors[FailureKind::Cut.index()] = 1;
        let mut b = a.clone();
        b.dropped_arrivals = 4;
        a.merge(&b);
        assert_eq!(a.streams_started, 6);
        assert_eq!(a.events, 20);
        assert_eq!(a.dropped_arrivals, 4);
        assert_eq!(a.errors_of(FailureKind::Cut), 2);
        assert_eq!(a.errors_of_class(FailureClass::Stream), 2);
        assert_eq!(a.errors_of_class(FailureClass::Network), 0);
        assert!((a.success_rate().expect("finished streams") - 4.0 / 6.0).abs() < 1e-9);
        assert_eq!(Counters::default().success_rate(), None);
    }

    #[test]
    fn error_samples_keep_earliest() {
        let mut s = ErrorSamples::default();
        s.note(FailureKind::Reset, Duration::from_secs(5), "late");
        s.note(FailureKind::Reset, Duration::from_secs(2), "early");
        s.note(FailureKind::Reset, Duration::from_secs(3), "middle");
        assert_eq!(
            s.get(FailureKind::Reset).map(|err| err.1.as_str()),
            Some("early")
        );
        let mut other = ErrorSamples::default();
        other.note(FailureKind::Reset, Duration::from_secs(1), "earliest");
        s.merge(&other);
        assert_eq!(
            s.get(FailureKind::Reset).map(|err| err.0),
            Some(Duration::from_secs(1))
        );
        assert!(s.get(FailureKind::Dns).is_none());
    }
}
