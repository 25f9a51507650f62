//! What the parser hands out: [`Item`]s that borrow the parser's buffers, and
//! the one way parsing can fail, [`ParseError`].
//!
//! Items borrow instead of owning so that the hot path (many small events per
//! read) allocates nothing once the buffers have grown to their working size.
//! A caller that needs to keep an event copies the fields it wants.

/// The event type reported when the stream gave no `event` field (WHATWG default).
pub const DEFAULT_KIND: &str = "message";

/// One dispatched event, borrowed from the [`Parser`](super::Parser).
///
/// Valid until the next call to `next`, `feed` or `finish`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// The event type: the last `event` field of this event, or
    /// [`DEFAULT_KIND`] (`"message"`) when there was none or it was empty.
    pub kind: &'a str,
    /// The `data` lines of the event joined with `\n` (no trailing newline).
    pub data: &'a str,
    /// The last event ID at dispatch time. It persists across events: an event
    /// without an `id` field carries the previous one (empty if never set).
    pub id: &'a str,
}

/// One thing the parser recognised in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// A complete event (a blank line ended an event with data).
    Event(Event<'a>),
    /// A comment line (it started with `:`): the text after the colon, verbatim
    /// (a leading space is kept). Servers send these as keep-alives.
    Comment(&'a str),
    /// A valid `retry` field: the reconnection time the server asks for, in
    /// milliseconds (saturated at `u64::MAX` if the digits overflow).
    Retry(u64),
}

/// Why the parser stopped. The parser stays failed after returning one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A line, or the event being collected (its data, type and ID plus the
    /// line being read), grew past `max_event_size`.
    ///
    /// Fix: if the server's events are legitimately this large, raise
    /// `stream.max_event_size` in the scenario (e.g. `"4MiB"`); otherwise the
    /// server is sending a line without line ends, which is a server bug.
    #[error(
        "event or line larger than max_event_size ({limit} bytes); \
         raise stream.max_event_size in the scenario if such events are expected"
    )]
    Oversized {
        /// The `max_event_size` that was exceeded, in bytes.
        limit: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_says_how_to_fix() {
        let err = ParseError::Oversized { limit: 1024 };
        let msg = err.to_string();
        assert!(msg.contains("1024"), "{msg}");
        assert!(msg.contains("stream.max_event_size"), "{msg}");
    }
}
