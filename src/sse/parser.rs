//! The incremental, sans-IO event-stream parser: bytes go in through
//! [`Parser::feed`], [`Item`]s come out of [`Parser::next`].
//!
//! It owns no socket and no clock, so the HTTP client, the `stream` command,
//! tests and the fuzz target drive it the same way. Input is kept in one
//! buffer that is compacted lazily (at most once per `feed`, moving only the
//! unfinished line), lines are found with `memchr`, and the field buffers are
//! reused, so the common case (many small `data: {...}` events per read)
//! allocates nothing once the buffers have grown to their working size.

use memchr::{memchr, memchr2};

use super::event::{Event, Item, ParseError, DEFAULT_KIND};

/// The UTF-8 byte order mark, stripped once at the start of the stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The buffers of the event being collected (WHATWG's data, event type and
/// last event ID buffers).
#[derive(Debug, Default)]
struct Pending {
    data: String,
    kind: String,
    id: String,
}

/// What one parsing step produced; holds no borrow, so the borrowed [`Item`]
/// is built once the step is over.
enum Step {
    Done,
    Failed(ParseError),
    Event,
    Comment,
    Retry(u64),
}

/// An incremental WHATWG `text/event-stream` parser with a memory bound.
///
/// Contract: after each [`feed`](Parser::feed) (and after
/// [`finish`](Parser::finish)), call [`next`](Parser::next) until it returns
/// `None`. The memory bound relies on it: input that is not drained stays
/// buffered.
///
/// Memory: once drained, the parser holds at most `max_event_size` bytes (the
/// event's data and type, the event ID — pending and committed copies — and
/// the unfinished line), so it never holds more than `max_event_size` plus one
/// feed, however the bytes are split. Past the limit, `next` returns
/// [`ParseError::Oversized`], the parser frees its buffers (keeping only
/// [`last_event_id`](Parser::last_event_id)) and stays failed.
///
/// ```
/// use streamsoak::sse::{Item, Parser};
///
/// let mut parser = Parser::new(1024 * 1024);
/// let mut seen = Vec::new();
/// // The second event's `event` field is split across two reads.
/// for chunk in [&b"data: {\"Count\": 1}\n\nid: 7\nev"[..], b"ent: done\ndata: bye\n\n: ping\n"] {
///     parser.feed(chunk);
///     while let Some(item) = parser.next() {
///         match item? {
///             Item::Event(event) => seen.push(format!("{}/{}/{}", event.kind, event.id, event.data)),
///             Item::Comment(text) => seen.push(format!("comment:{text}")),
///             Item::Retry(ms) => seen.push(format!("retry:{ms}")),
///         }
///     }
/// }
/// parser.finish();
/// assert!(parser.next().is_none());
/// assert_eq!(seen, ["message//{\"Count\": 1}", "done/7/bye", "comment: ping"]);
/// assert_eq!(parser.last_event_id(), "7");
/// assert_eq!(parser.events_dispatched(), 2);
/// # Ok::<(), streamsoak::sse::ParseError>(())
/// ```
#[derive(Debug)]
pub struct Parser {
    max_event_size: usize,
    /// Received bytes; `input[pos..]` is not yet parsed.
    input: Vec<u8>,
    pos: usize,
    /// How many bytes after `pos` are known to hold no line end.
    scanned: usize,
    /// Scratch for a comment or a line that needed lossy UTF-8 decoding.
    line: String,
    pending: Pending,
    /// The ID committed by the last blank line (what a reconnect should send).
    last_event_id: String,
    bom_checked: bool,
    /// The last line ended with CR: an LF right after it belongs to it.
    skip_lf: bool,
    finished: bool,
    failed: bool,
    /// An event was handed out; clear its data and type on the next call.
    reset_pending: bool,
    dispatched: u64,
}

impl Parser {
    /// A parser that fails once a line or an event needs more than
    /// `max_event_size` bytes (the scenario's `stream.max_event_size`).
    ///
    /// Buffers start empty and grow to the working size of the stream.
    pub fn new(max_event_size: usize) -> Self {
        Parser {
            max_event_size,
            input: Vec::new(),
            pos: 0,
            scanned: 0,
            line: String::new(),
            pending: Pending::default(),
            last_event_id: String::new(),
            bom_checked: false,
            skip_lf: false,
            finished: false,
            failed: false,
            reset_pending: false,
            dispatched: 0,
        }
    }

    /// Starts from a known last event ID, e.g. the one the previous attempt
    /// ended with when reconnecting with `Last-Event-ID`. Events carry it
    /// until the stream sets another. Its two copies count towards
    /// `max_event_size` like any ID.
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        self.last_event_id.clear();
        self.last_event_id.push_str(id);
        self.pending.id.clone_from(&self.last_event_id);
        self
    }

    /// Appends received bytes. Drain with [`next`](Parser::next) until `None`
    /// before feeding again.
    ///
    /// Ignored after [`finish`](Parser::finish) or a failure (a failed parser
    /// buffers nothing more).
    pub fn feed(&mut self, bytes: &[u8]) {
        self.reset_dispatched();
        if self.failed || self.finished || bytes.is_empty() {
            return;
        }
        // Lazy compaction: parsed lines are dropped here, once per feed, not
        // per line. Only the unfinished line moves, and only if something
        // before it was parsed since the last feed, so a long line arriving in
        // many reads is not copied again and again.
        if self.pos > 0 {
            if self.pos >= self.input.len() {
                self.input.clear();
            } else {
                self.input.copy_within(self.pos.., 0);
                self.input.truncate(self.input.len() - self.pos);
            }
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Marks the end of the stream. Per WHATWG, an unfinished line is
    /// discarded and an event not yet ended by a blank line is not
    /// dispatched; complete lines still buffered are processed by `next`.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// The next item, `None` when more input is needed (or the stream is
    /// finished or failed).
    ///
    /// The item borrows the parser and is valid until the next call. After
    /// `Some(Err(_))` the parser is failed and `next` returns `None` forever.
    #[allow(clippy::should_implement_trait)] // a lending iterator: items borrow the parser
    pub fn next(&mut self) -> Option<Result<Item<'_>, ParseError>> {
        match self.step() {
            Step::Done => None,
            Step::Failed(err) => Some(Err(err)),
            Step::Comment => Some(Ok(Item::Comment(&self.line))),
            Step::Retry(ms) => Some(Ok(Item::Retry(ms))),
            Step::Event => {
                self.dispatched += 1;
                let data = &self.pending.data;
                let data = data.strip_suffix('\n').unwrap_or(data);
                Some(Ok(Item::Event(Event {
                    kind: if self.pending.kind.is_empty() {
                        DEFAULT_KIND
                    } else {
                        &self.pending.kind
                    },
                    data,
                    id: &self.last_event_id,
                })))
            }
        }
    }

    /// The last event ID committed by a blank line: the value to send as
    /// `Last-Event-ID` on reconnect. An `id` field of an event that was never
    /// ended does not count.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Bytes the parser holds: unparsed input, the event's data, type and ID
    /// buffers, and the comment/decoding scratch line.
    ///
    /// Once drained this is at most `max_event_size` (the first two bytes of a
    /// stream may be held while deciding whether they start a BOM); right
    /// after a feed, at most `max_event_size` plus that feed. It counts
    /// lengths, not capacities: buffers keep their capacity for reuse.
    pub fn buffered(&self) -> usize {
        (self.input.len() - self.pos) + self.line.len() + self.held()
    }

    /// How many events have been dispatched so far.
    pub fn events_dispatched(&self) -> u64 {
        self.dispatched
    }

    /// Whether the parser has returned [`ParseError`] and stopped.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Bytes held for the event being collected; bounded by `max_event_size`.
    fn held(&self) -> usize {
        self.pending.data.len()
            + self.pending.kind.len()
            + self.pending.id.len()
            + self.last_event_id.len()
    }

    fn reset_dispatched(&mut self) {
        if self.reset_pending {
            self.pending.data.clear();
            self.pending.kind.clear();
            self.reset_pending = false;
        }
    }

    /// Parses lines until one produces an item or the input runs out.
    fn step(&mut self) -> Step {
        self.reset_dispatched();
        if self.failed {
            return Step::Done;
        }
        loop {
            self.line.clear();
            if !self.bom_checked {
                let avail = &self.input[self.pos..];
                let n = avail.len().min(BOM.len());
                if avail[..n] != BOM[..n] {
                    self.bom_checked = true;
                } else if n == BOM.len() {
                    self.pos += n;
                    self.bom_checked = true;
                } else if self.finished {
                    return self.discard();
                } else {
                    return Step::Done; // a BOM prefix so far: wait for more
                }
            }
            if self.skip_lf {
                match self.input.get(self.pos) {
                    None => return self.end_of_input(),
                    Some(b'\n') => self.pos += 1,
                    Some(_) => {}
                }
                self.skip_lf = false;
            }
            let start = self.pos;
            let from = start + self.scanned;
            let Some(offset) = memchr2(b'\n', b'\r', &self.input[from..]) else {
                return self.end_of_input();
            };
            let end = from + offset;
            self.skip_lf = self.input[end] == b'\r';
            self.pos = end + 1;
            self.scanned = 0;
            if self.held() + (end - start) > self.max_event_size {
                return self.fail();
            }
            if let Some(step) = self.single_data_line(start, end) {
                return step;
            }
            let step = self.process_line(start, end);
            // Lossy decoding can grow a line, and committing an ID copies it.
            if self.held() > self.max_event_size {
                return self.fail();
            }
            if let Some(step) = step {
                return step;
            }
        }
    }

    /// The common event, `data: VALUE` LF LF, at once: the same result as
    /// processing the data line and then the blank line, without the field
    /// dispatch, the second pass through the loop or the trailing LF.
    ///
    /// Taken only when that result is certain: no data collected yet, the
    /// line ends with LF and the next byte is LF (so no CR pairing is
    /// pending), the value is valid UTF-8, and neither the data line nor
    /// committing the ID would exceed `max_event_size` (those cases, like
    /// every other line, take the general path, which fails where it must).
    fn single_data_line(&mut self, start: usize, end: usize) -> Option<Step> {
        if !self.pending.data.is_empty()
            || self.input[end] != b'\n'
            || self.input.get(end + 1) != Some(&b'\n')
        {
            return None;
        }
        let raw = self.input[start..end].strip_prefix(b"data:")?;
        let skip = usize::from(raw.first() == Some(&b' '));
        let value = std::str::from_utf8(&raw[skip..]).ok()?;
        // What `held()` would be after the data line and after the blank line.
        let after_data = self.held() + value.len() + 1;
        let after_blank = after_data - self.last_event_id.len() + self.pending.id.len();
        if after_data.max(after_blank) > self.max_event_size {
            return None;
        }
        // Data is empty here; the slow path's trailing LF would be stripped.
        self.pending.data.push_str(value);
        if differs(&self.last_event_id, &self.pending.id) {
            self.last_event_id.clone_from(&self.pending.id);
        }
        self.pos = end + 2;
        self.skip_lf = false;
        self.reset_pending = true;
        Some(Step::Event)
    }

    /// Applies one line (`input[start..end]`, without its terminator).
    fn process_line(&mut self, start: usize, end: usize) -> Option<Step> {
        let raw = &self.input[start..end];
        match raw.first() {
            None => self.blank_line(),
            Some(b':') => {
                decode_into(&mut self.line, &raw[1..]);
                Some(Step::Comment)
            }
            Some(_) => {
                let text = match std::str::from_utf8(raw) {
                    Ok(text) => text,
                    Err(_) => {
                        decode_into(&mut self.line, raw);
                        &self.line
                    }
                };
                apply_field(text, &mut self.pending).map(Step::Retry)
            }
        }
    }

    /// WHATWG "dispatch the event".
    fn blank_line(&mut self) -> Option<Step> {
        if differs(&self.last_event_id, &self.pending.id) {
            self.last_event_id.clone_from(&self.pending.id);
        }
        if self.pending.data.is_empty() {
            self.pending.kind.clear();
            return None;
        }
        self.reset_pending = true;
        Some(Step::Event)
    }

    /// No line end in the rest of the input.
    fn end_of_input(&mut self) -> Step {
        if self.finished {
            return self.discard();
        }
        let partial = self.input.len() - self.pos;
        if self.held() + partial > self.max_event_size {
            return self.fail();
        }
        self.scanned = partial;
        Step::Done
    }

    /// End of stream: drop the unfinished line and the undispatched event.
    fn discard(&mut self) -> Step {
        self.input.clear();
        self.pos = 0;
        self.scanned = 0;
        self.skip_lf = false;
        self.pending.data.clear();
        self.pending.kind.clear();
        self.pending.id.clone_from(&self.last_event_id);
        Step::Done
    }

    /// Over the limit: free everything but the committed ID and stop.
    fn fail(&mut self) -> Step {
        self.failed = true;
        self.input = Vec::new();
        self.pos = 0;
        self.scanned = 0;
        self.line = String::new();
        self.pending = Pending::default();
        self.reset_pending = false;
        Step::Failed(ParseError::Oversized {
            limit: self.max_event_size,
        })
    }
}

/// `a != b`, without calling `memcmp` when both are empty (the common case:
/// a stream without IDs). glibc's AVX-512 `memcmp` starts with a masked load
/// even for length 0, and from an empty `String`'s dangling pointer that
/// load needs a fault-suppressing microcode assist: it was a fifth of the
/// saturated client's CPU (perf, issue #12).
#[inline]
fn differs(a: &str, b: &str) -> bool {
    a.len() != b.len() || (!a.is_empty() && a != b)
}

/// Replaces `out` with `raw` decoded as UTF-8, invalid sequences becoming
/// U+FFFD exactly as `String::from_utf8_lossy` does, without allocating.
/// Per-line decoding equals whole-stream decoding: line ends are ASCII.
fn decode_into(out: &mut String, raw: &[u8]) {
    out.clear();
    for chunk in raw.utf8_chunks() {
        out.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

/// WHATWG "process the field"; returns the value of a valid `retry` field.
fn apply_field(line: &str, pending: &mut Pending) -> Option<u64> {
    let (name, value) = match memchr(b':', line.as_bytes()) {
        Some(colon) => {
            let value = &line[colon + 1..];
            (&line[..colon], value.strip_prefix(' ').unwrap_or(value))
        }
        None => (line, ""),
    };
    match name {
        "data" => {
            pending.data.push_str(value);
            pending.data.push('\n');
        }
        "event" => {
            pending.kind.clear();
            pending.kind.push_str(value);
        }
        "id" if !value.contains('\0') => {
            pending.id.clear();
            pending.id.push_str(value);
        }
        "retry" => return parse_retry(value),
        _ => {}
    }
    None
}

/// Only ASCII digits (and at least one) are valid; overflow saturates.
fn parse_retry(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.bytes().fold(0u64, |ms, digit| {
        ms.saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_stop_growing_after_warm_up() {
        let read: Vec<u8> = (0..20)
            .flat_map(|i| format!("id: {i}\ndata: {{\"Count\": {i}}}\n: ka\n\n").into_bytes())
            .collect();
        let (head, tail) = read.split_at(read.len() / 2 + 3); // cut inside an event
        let mut parser = Parser::new(1 << 20);
        let mut warm = None;
        for round in 0..50 {
            for part in [head, tail] {
                parser.feed(part);
                while let Some(item) = parser.next() {
                    assert!(item.is_ok(), "{item:?}");
                }
            }
            let capacities = [
                parser.input.capacity(),
                parser.line.capacity(),
                parser.pending.data.capacity(),
                parser.pending.kind.capacity(),
                parser.pending.id.capacity(),
                parser.last_event_id.capacity(),
            ];
            match round {
                0 => {}
                1 => warm = Some(capacities),
                _ => assert_eq!(Some(capacities), warm, "round {round}"),
            }
        }
        assert_eq!(parser.events_dispatched(), 50 * 20);
    }

    #[test]
    fn retry_values() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("3000", Some(3000)),
            ("007", Some(7)),
            ("18446744073709551615", Some(u64::MAX)),
            ("99999999999999999999999", Some(u64::MAX)),
            ("", None),
            (" 1", None),
            ("1 ", None),
            ("-1", None),
            ("+1", None),
            ("1.5", None),
            ("1e3", None),
            ("\u{0661}", None), // ARABIC-INDIC DIGIT ONE is not an ASCII digit
        ];
        for &(value, want) in cases {
            assert_eq!(parse_retry(value), want, "{value:?}");
        }
    }

    #[test]
    fn decode_matches_from_utf8_lossy() {
        let cases: &[&[u8]] = &[
            b"",
            b"plain",
            b"a\xFFb",
            b"\xE2\x82",
            b"\xE2\x82\xAC",
            b"\xF0\x9F\x98",
            b"\xC0\x80",
            b"\xED\xA0\x80",
            b"x\xEF\xBB",
            b"\xFF\xFE\xFD",
        ];
        let mut out = String::from("stale");
        for &raw in cases {
            decode_into(&mut out, raw);
            assert_eq!(out, String::from_utf8_lossy(raw), "{raw:?}");
        }
    }

    #[test]
    fn field_split() {
        let cases: &[(&str, &str, &str, &str)] = &[
            // line, data, kind, id after applying to empty buffers
            ("data: x", "x\n", "", ""),
            ("data:x", "x\n", "", ""),
            ("data:  x", " x\n", "", ""),
            ("data", "\n", "", ""),
            ("data:", "\n", "", ""),
            ("data: a:b", "a:b\n", "", ""),
            ("data :x", "", "", ""),
            ("Data: x", "", "", ""),
            ("event: add", "", "add", ""),
            ("event", "", "", ""),
            ("id: 7", "", "", "7"),
            ("id", "", "", ""),
            ("id: a\0b", "", "", ""),
            ("foo: bar", "", "", ""),
        ];
        for &(line, data, kind, id) in cases {
            let mut pending = Pending::default();
            assert_eq!(apply_field(line, &mut pending), None, "{line:?}");
            assert_eq!(
                (
                    pending.data.as_str(),
                    pending.kind.as_str(),
                    pending.id.as_str()
                ),
                (data, kind, id),
                "{line:?}"
            );
        }
    }
}
