//! Server-Sent Events: the `text/event-stream` parser every stream is read with.
//!
//! The parser is the one piece of the protocol we hand-write (PRODUCT.md), so
//! it follows the WHATWG HTML "Interpreting an event stream" rules exactly and
//! adds only a memory bound. It is sans-IO ([`Parser::feed`] bytes, drain
//! [`Parser::next`]) so the same code serves the load engine, the `stream`
//! command, unit and property tests and the fuzz target.
//!
//! # WHATWG rules followed
//!
//! - Lines end with LF, CR or CRLF; a CR at the end of one read and an LF at
//!   the start of the next are one line end.
//! - A leading UTF-8 BOM is stripped once, even when split across reads.
//! - Invalid UTF-8 becomes U+FFFD (decoded per line, which equals decoding the
//!   whole stream since line ends are ASCII); a character split across reads
//!   decodes correctly.
//! - A line starting with `:` is a comment ([`Item::Comment`]).
//! - `name: value`: one space after the colon is removed; a line with no colon
//!   is a field name with an empty value. Field names are case-sensitive and
//!   unknown names are ignored.
//! - `data` appends the value and LF to the data buffer; `event` sets the event
//!   type, reset after each blank line; `id` sets the last event ID unless the
//!   value contains U+0000, and it persists across events; `retry` with only
//!   ASCII digits yields [`Item::Retry`], anything else is ignored.
//! - A blank line commits the last event ID, then dispatches the event if the
//!   data buffer is not empty (minus its final LF) with type `"message"` when
//!   none was given; with empty data it only resets the event type.
//! - At end of stream ([`Parser::finish`]) an unfinished line is discarded and
//!   an event not ended by a blank line is not dispatched.
//!
//! # What we add
//!
//! A bound: a line, or everything held for the current event (data, type, ID
//! and the line being read), larger than `max_event_size` fails the stream
//! with [`ParseError::Oversized`] (counted as `oversized-event`). The check
//! runs as bytes arrive, so a server streaming one endless line costs at most
//! `max_event_size` plus one read, never the whole line.

mod event;
mod parser;

pub use event::{Event, Item, ParseError, DEFAULT_KIND};
pub use parser::Parser;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
