//! Fuzzes `sse::Parser` with arbitrary bytes split into arbitrary reads.
//!
//! Input layout: byte 0 picks `max_event_size` (times 8), byte 1 is how many
//! of the next bytes are read lengths (cycled; 0 means one byte per read), and
//! the rest is the stream. Checked: no panic; the memory bound (at most
//! `max_event_size` once drained, plus one read right after a feed; the first
//! two bytes may be held while deciding on a BOM); chunking gives the same
//! items as feeding the stream whole; the dispatched count matches.
//!
//! Run: `cargo +nightly fuzz run sse_parser` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamsoak::sse::{Item, Parser};

fuzz_target!(|data: &[u8]| check(data));

/// An owned record of everything `next` returned.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Event(String, String, String),
    Comment(String),
    Retry(u64),
    Error(String),
}

fn check(data: &[u8]) {
    let Some((&[max_byte, n_lens], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let n_lens = usize::from(n_lens % 16).min(rest.len());
    let (lens, stream) = rest.split_at(n_lens);
    let max = usize::from(max_byte) * 8;
    let bound = max.max(2);

    let mut parser = Parser::new(max);
    let mut chunked = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < stream.len() {
        let len = lens
            .get(i % lens.len().max(1))
            .map_or(1, |&l| usize::from(l).max(1));
        let chunk = &stream[at..(at + len).min(stream.len())];
        at += chunk.len();
        i += 1;
        parser.feed(chunk);
        assert!(parser.buffered() <= bound + chunk.len(), "after feed");
        drain(&mut parser, &mut chunked);
        assert!(parser.buffered() <= bound, "after drain");
    }
    parser.finish();
    drain(&mut parser, &mut chunked);
    assert!(parser.buffered() <= max.max(2));
    let events = chunked
        .iter()
        .filter(|s| matches!(s, Seen::Event(..)))
        .count();
    assert_eq!(parser.events_dispatched(), events as u64);

    let mut whole = Parser::new(max);
    let mut seen_whole = Vec::new();
    whole.feed(stream);
    drain(&mut whole, &mut seen_whole);
    whole.finish();
    drain(&mut whole, &mut seen_whole);
    assert_eq!(chunked, seen_whole, "chunking changed the result");
}

fn drain(parser: &mut Parser, out: &mut Vec<Seen>) {
    while let Some(item) = parser.next() {
        out.push(match item {
            Ok(Item::Event(event)) => Seen::Event(
                event.kind.to_owned(),
                event.data.to_owned(),
                event.id.to_owned(),
            ),
            Ok(Item::Comment(text)) => Seen::Comment(text.to_owned()),
            Ok(Item::Retry(ms)) => Seen::Retry(ms),
            Err(err) => Seen::Error(err.to_string()),
        });
    }
}
