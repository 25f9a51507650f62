//! Lost and duplicated events from increasing integer event IDs
//! (`[stream] sequence = "id"`, issue #16): pure, per wanted stream.
//!
//! A subscription's IDs form one sequence across its reconnects — the
//! server's own per-stream numbering resumed after `Last-Event-ID`, or a
//! global one shared by every subscriber (a broadcast). The rules:
//! - the first integer ID of a wanted stream is the baseline;
//! - `last + 1` is in order; `last + k` (k > 1) means `k − 1` events were
//!   lost (never received: during an outage the replay buffer did not
//!   cover, or skipped by the server);
//! - an ID not above the last one *within a connection*, or equal to the
//!   last one at the start of a new connection (a server that re-sends the
//!   `Last-Event-ID` event), is a duplicate; the last ID stays;
//! - an ID below the last one at the start of a new connection means the
//!   sequence was reset (a server restarted without its history): it is
//!   the new baseline, counted as neither — what was lost there is not
//!   knowable from IDs;
//! - an ID that is not a non-negative integer (or no ID at all) is ignored.
//!
//! Note: WHATWG's last event ID persists across events, so an event sent
//! without its own `id:` repeats the previous ID; under `sequence = "id"`
//! every event is expected to carry one, and such an event counts as a
//! duplicate.

/// What one event's ID says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The first integer ID of the stream.
    First,
    /// `last + 1`.
    InOrder,
    /// A gap: this many events were skipped.
    Lost(u64),
    /// Received before.
    Duplicate,
    /// A lower ID at the start of a connection: the sequence restarted.
    Reset,
    /// Not an integer ID: ignored.
    NotInteger,
}

/// One wanted stream's position in its ID sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SequenceTracker {
    last: Option<u64>,
    /// The next integer ID is the first of a new connection.
    new_connection: bool,
}

impl SequenceTracker {
    /// The current connection ended (the next ID opens a new one).
    pub fn connection_ended(&mut self) {
        self.new_connection = true;
    }

    /// Classifies the event ID `id`. Allocates nothing.
    pub fn observe(&mut self, id: &str) -> Seen {
        let Ok(id) = id.parse::<u64>() else {
            return Seen::NotInteger;
        };
        let new_connection = std::mem::take(&mut self.new_connection);
        let Some(last) = self.last else {
            self.last = Some(id);
            return Seen::First;
        };
        if id > last {
            self.last = Some(id);
            return match id - last {
                1 => Seen::InOrder,
                gap => Seen::Lost(gap - 1),
            };
        }
        if new_connection && id < last {
            self.last = Some(id);
            return Seen::Reset;
        }
        Seen::Duplicate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `|` marks a reconnect between two IDs.
    fn run(ids: &str) -> Vec<Seen> {
        let mut tracker = SequenceTracker::default();
        let mut out = Vec::new();
        for token in ids.split(' ') {
            if token == "|" {
                tracker.connection_ended();
            } else {
                out.push(tracker.observe(token.trim_matches('\'')));
            }
        }
        out
    }

    #[test]
    fn sequences() {
        use Seen::*;
        let cases: &[(&str, &[Seen])] = &[
            ("1 2 3", &[First, InOrder, InOrder]),
            ("41 42", &[First, InOrder]),
            ("1 2 5 6", &[First, InOrder, Lost(2), InOrder]),
            ("1 2 2 3", &[First, InOrder, Duplicate, InOrder]),
            ("1 3 2 4", &[First, Lost(1), Duplicate, InOrder]),
            // resumed with Last-Event-ID: continuous, or a gap the replay missed
            ("1 2 | 3 4", &[First, InOrder, InOrder, InOrder]),
            ("1 2 | 9", &[First, InOrder, Lost(6)]),
            // a server that re-sends the Last-Event-ID event
            ("1 2 | 2 3", &[First, InOrder, Duplicate, InOrder]),
            // restarted without history: a new baseline, then a real repeat
            ("7 8 | 1 2 2", &[First, InOrder, Reset, InOrder, Duplicate]),
            // lower within one connection is a duplicate, not a reset
            ("7 8 1", &[First, InOrder, Duplicate]),
            // non-integer IDs are ignored and keep the position
            (
                "1 abc 2 '' -3 3.5 3",
                &[
                    First, NotInteger, InOrder, NotInteger, NotInteger, NotInteger, InOrder,
                ],
            ),
            // a reconnect marker survives non-integer IDs
            ("5 | x 1", &[First, NotInteger, Reset]),
            ("18446744073709551615 0", &[First, Duplicate]),
        ];
        for (ids, want) in cases {
            assert_eq!(run(ids), *want, "{ids}");
        }
    }
}
