//! Table-driven tests of the parser through its public API: the WHATWG rules,
//! reads split at awkward places, the size limit, and the `.sse` fixtures.

use super::{Item, ParseError, Parser};

/// An owned copy of an [`Item`] (or the error), for comparing whole runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Owned {
    Event {
        kind: String,
        data: String,
        id: String,
    },
    Comment(String),
    Retry(u64),
    Error(ParseError),
}

pub(super) fn ev(kind: &str, data: &str, id: &str) -> Owned {
    Owned::Event {
        kind: kind.to_owned(),
        data: data.to_owned(),
        id: id.to_owned(),
    }
}

fn msg(data: &str) -> Owned {
    ev("message", data, "")
}

fn comment(text: &str) -> Owned {
    Owned::Comment(text.to_owned())
}

/// Calls `next` until `None`, as the contract asks.
pub(super) fn drain(parser: &mut Parser, out: &mut Vec<Owned>) {
    while let Some(item) = parser.next() {
        out.push(match item {
            Ok(Item::Event(event)) => ev(event.kind, event.data, event.id),
            Ok(Item::Comment(text)) => comment(text),
            Ok(Item::Retry(ms)) => Owned::Retry(ms),
            Err(err) => Owned::Error(err),
        });
    }
}

/// Feeds `chunks` one by one, draining after each, then finishes.
pub(super) fn run(max: usize, chunks: &[&[u8]]) -> Vec<Owned> {
    let mut parser = Parser::new(max);
    let mut out = Vec::new();
    for chunk in chunks {
        parser.feed(chunk);
        drain(&mut parser, &mut out);
    }
    parser.finish();
    drain(&mut parser, &mut out);
    let events = out
        .iter()
        .filter(|item| matches!(item, Owned::Event { .. }));
    assert_eq!(parser.events_dispatched(), events.count() as u64);
    out
}

/// The same input fed whole, and one byte at a time.
fn run_whole_and_bytewise(max: usize, input: &[u8]) -> (Vec<Owned>, Vec<Owned>) {
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    (run(max, &[input]), run(max, &bytes))
}

const MAX: usize = 1 << 20;

/// Reads as fed, and the items they must yield.
type Chunks = Vec<&'static [u8]>;
type Items = Vec<Owned>;

#[test]
fn whatwg_rules() {
    let cases: Vec<(&str, &[u8], Vec<Owned>)> = vec![
        ("simple", b"data: hello\n\n", vec![msg("hello")]),
        ("no space", b"data:hello\n\n", vec![msg("hello")]),
        ("only one space removed", b"data:  hi\n\n", vec![msg(" hi")]),
        ("tab kept", b"data:\thi\n\n", vec![msg("\thi")]),
        (
            "multi-line data",
            b"data: a\ndata: b\n\n",
            vec![msg("a\nb")],
        ),
        ("data without colon", b"data\n\n", vec![msg("")]),
        ("empty data value", b"data:\n\n", vec![msg("")]),
        ("two empty data lines", b"data\ndata\n\n", vec![msg("\n")]),
        (
            "trailing empty data line",
            b"data: a\ndata\n\n",
            vec![msg("a\n")],
        ),
        ("colon in value", b"data: a:b: c\n\n", vec![msg("a:b: c")]),
        ("NUL in data kept", b"data: a\0b\n\n", vec![msg("a\0b")]),
        ("no blank line, no event", b"data: a\n", vec![]),
        (
            "unfinished line dropped",
            b"data: a\n\ndata: b",
            vec![msg("a")],
        ),
        ("blank lines alone", b"\n\n\n", vec![]),
        (
            "event type",
            b"event: add\ndata: 1\n\n",
            vec![ev("add", "1", "")],
        ),
        (
            "type reset after dispatch",
            b"event: add\ndata: 1\n\ndata: 2\n\n",
            vec![ev("add", "1", ""), msg("2")],
        ),
        (
            "type reset by blank line without data",
            b"event: add\n\ndata: 2\n\n",
            vec![msg("2")],
        ),
        (
            "empty type is message",
            b"event:\ndata: x\n\n",
            vec![msg("x")],
        ),
        ("type without colon", b"event\ndata: x\n\n", vec![msg("x")]),
        (
            "last type wins",
            b"event: a\nevent: b\ndata: x\n\n",
            vec![ev("b", "x", "")],
        ),
        (
            "id persists",
            b"id: 1\ndata: a\n\ndata: b\n\n",
            vec![ev("message", "a", "1"), ev("message", "b", "1")],
        ),
        (
            "id set by blank line without data",
            b"id: 5\n\ndata: x\n\n",
            vec![ev("message", "x", "5")],
        ),
        (
            "id with NUL ignored",
            b"id: 1\n\nid: a\0b\ndata: x\n\n",
            vec![ev("message", "x", "1")],
        ),
        (
            "empty id clears",
            b"id: 1\ndata: a\n\nid\ndata: b\n\n",
            vec![ev("message", "a", "1"), msg("b")],
        ),
        (
            "id after data counts",
            b"data: a\nid: 3\n\n",
            vec![ev("message", "a", "3")],
        ),
        ("retry", b"retry: 3000\n", vec![Owned::Retry(3000)]),
        (
            "retry not digits",
            b"retry: 30a\nretry: -1\nretry:\nretry\n",
            vec![],
        ),
        ("retry two spaces", b"retry:  10\n", vec![]),
        (
            "retry saturates",
            b"retry: 99999999999999999999999\n",
            vec![Owned::Retry(u64::MAX)],
        ),
        (
            "retry inside event",
            b"data: a\nretry: 5\ndata: b\n\n",
            vec![Owned::Retry(5), msg("a\nb")],
        ),
        ("comment", b": hello\n", vec![comment(" hello")]),
        ("empty comment", b":\n", vec![comment("")]),
        ("comment with colons", b":a:b\n", vec![comment("a:b")]),
        (
            "comment inside event",
            b"data: a\n: ping\ndata: b\n\n",
            vec![comment(" ping"), msg("a\nb")],
        ),
        ("unknown field", b"foo: bar\ndata: x\n\n", vec![msg("x")]),
        ("names case-sensitive", b"Data: x\nDATA: y\n\n", vec![]),
        ("space before colon", b"data : x\n\n", vec![]),
        ("leading space in name", b" data: x\n\n", vec![]),
        (
            "whitespace line is a field",
            b"data: a\n \n\n",
            vec![msg("a")],
        ),
        ("CR endings", b"data: a\rdata: b\r\r", vec![msg("a\nb")]),
        (
            "CRLF endings",
            b"data: a\r\ndata: b\r\n\r\n",
            vec![msg("a\nb")],
        ),
        (
            "mixed endings",
            b"data: a\r\ndata: b\rdata: c\n\n",
            vec![msg("a\nb\nc")],
        ),
        ("CR then CRLF blank", b"data: a\r\r\n", vec![msg("a")]),
        ("LF then CR blank", b"data: a\n\r", vec![msg("a")]),
        (
            "LF CR LF is two ends",
            b"data: a\n\r\ndata: b\n\n",
            vec![msg("a"), msg("b")],
        ),
        ("BOM stripped", b"\xEF\xBB\xBFdata: a\n\n", vec![msg("a")]),
        (
            "second BOM kept",
            b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n",
            vec![],
        ),
        (
            "BOM only at start",
            b"data: a\n\n\xEF\xBB\xBFdata: b\n\n",
            vec![msg("a")],
        ),
        ("BOM prefix is not a BOM", b"\xEF\xBBdata: a\n\n", vec![]),
        ("BOM then comment", b"\xEF\xBB\xBF:x\n", vec![comment("x")]),
        (
            "invalid UTF-8",
            b"data: a\xFFb\n\n",
            vec![msg("a\u{FFFD}b")],
        ),
        (
            "truncated sequence",
            b"data: \xE2\x82\n\n",
            vec![msg("\u{FFFD}")],
        ),
        ("invalid in comment", b":\xFF\n", vec![comment("\u{FFFD}")]),
        ("invalid in name", b"da\xFFta: x\n\n", vec![]),
        (
            "invalid in event type",
            b"event: \xFF\ndata: x\n\n",
            vec![ev("\u{FFFD}", "x", "")],
        ),
        (
            "valid multibyte",
            "data: caf\u{e9} \u{2615}\n\n".as_bytes(),
            vec![msg("caf\u{e9} \u{2615}")],
        ),
    ];
    for (name, input, want) in cases {
        let (whole, bytewise) = run_whole_and_bytewise(MAX, input);
        assert_eq!(whole, want, "{name}: whole");
        assert_eq!(bytewise, want, "{name}: byte by byte");
    }
}

#[test]
fn reads_split_at_awkward_places() {
    let cases: Vec<(&str, Chunks, Items)> = vec![
        (
            "CR | LF is one end",
            vec![b"data: a\r", b"\ndata: b\r\n\r\n"],
            vec![msg("a\nb")],
        ),
        ("CR | CR LF", vec![b"data: a\r", b"\r\n"], vec![msg("a")]),
        (
            "CR | empty | LF",
            vec![b"data: a\r", b"", b"\n\n"],
            vec![msg("a")],
        ),
        (
            "CR | other",
            vec![b"data: a\r", b"data: b\r\r"],
            vec![msg("a\nb")],
        ),
        ("CR at EOF", vec![b"data: a\r\r"], vec![msg("a")]),
        (
            "BOM 1|2",
            vec![b"\xEF", b"\xBB\xBFdata: a\n\n"],
            vec![msg("a")],
        ),
        (
            "BOM 1|1|1",
            vec![b"\xEF", b"\xBB", b"\xBF", b"data: a\n\n"],
            vec![msg("a")],
        ),
        ("BOM prefix at EOF", vec![b"\xEF\xBB"], vec![]),
        (
            "UTF-8 char split",
            vec![b"data: \xE2", b"\x82\xAC\n\n"],
            vec![msg("\u{20AC}")],
        ),
        (
            "4-byte char split thrice",
            vec![b"data: \xF0", b"\x9F", b"\x98", b"\x80\n\n"],
            vec![msg("\u{1F600}")],
        ),
        (
            "field name split",
            vec![b"da", b"ta: x\n", b"\n"],
            vec![msg("x")],
        ),
        (
            "event across reads",
            vec![b"data: a\n", b"data: b\n", b"\n"],
            vec![msg("a\nb")],
        ),
        (
            "many events in one read",
            vec![b"data: 1\n\ndata: 2\n\ndata: 3\n\n"],
            vec![msg("1"), msg("2"), msg("3")],
        ),
    ];
    for (name, chunks, want) in cases {
        assert_eq!(run(MAX, &chunks), want, "{name}");
        let whole: Vec<u8> = chunks.concat();
        assert_eq!(run(MAX, &[&whole]), want, "{name}: whole");
    }
}

#[test]
fn size_limit() {
    let over = |limit| Owned::Error(ParseError::Oversized { limit });
    let cases: Vec<(&str, usize, Chunks, Items)> = vec![
        (
            "line at the limit",
            9,
            vec![b"data: abc\n\n"],
            vec![msg("abc")],
        ),
        ("line one over", 8, vec![b"data: abc\n\n"], vec![over(8)]),
        (
            "unfinished line over",
            8,
            vec![b"data: abcd"],
            vec![over(8)],
        ),
        ("unfinished line at limit", 8, vec![b"data: ab"], vec![]),
        (
            "over across reads",
            8,
            vec![b"data", b": a", b"bcd"],
            vec![over(8)],
        ),
        ("long comment", 4, vec![b": hello\n"], vec![over(4)]),
        (
            "data grows past the limit",
            16,
            vec![b"data: 12345\ndata: 12345\ndata: 12345\n\n"],
            vec![over(16)],
        ),
        (
            "earlier events still delivered",
            10,
            vec![b"data: a\n\ndata: 0123456789\n\n"],
            vec![msg("a"), over(10)],
        ),
        (
            "limit is per event",
            12,
            vec![b"data: 12345\n\ndata: 12345\n\ndata: 12345\n\n"],
            vec![msg("12345"), msg("12345"), msg("12345")],
        ),
        (
            "CRLF not counted",
            9,
            vec![b"data: abc\r\n\r\n"],
            vec![msg("abc")],
        ),
        (
            "BOM not counted",
            9,
            vec![b"\xEF\xBB\xBFdata: abc\n\n"],
            vec![msg("abc")],
        ),
        (
            "lossy expansion counted",
            9,
            vec![b"data: \xFF\xFF\xFF\n\n"],
            // the line is 9 bytes, but its data decodes to 3 x U+FFFD + LF = 10
            vec![over(9)],
        ),
        (
            "ID counted twice once committed",
            12,
            vec![b"id: 12345678\n\n"],
            vec![over(12)],
        ),
        (
            "checked before the event is handed out",
            16,
            vec![b"id: 12345678\ndata: a\n\n"],
            vec![over(16)],
        ),
        (
            "nothing after the error",
            4,
            vec![b": hello\n", b"data: a\n\n"],
            vec![over(4)],
        ),
        (
            "unfinished line at finish is dropped, not an error",
            100,
            vec![b"data: x"],
            vec![],
        ),
    ];
    for (name, max, chunks, want) in cases {
        assert_eq!(run(max, &chunks), want, "{name}");
        let whole: Vec<u8> = chunks.concat();
        assert_eq!(run(max, &[&whole]), want, "{name}: whole");
    }
}

#[test]
fn failed_parser_stays_failed_and_holds_nothing() {
    let mut parser = Parser::new(10);
    parser.feed(b"id: 1\n\ndata: 0123456789\n");
    assert_eq!(
        parser.next(),
        Some(Err(ParseError::Oversized { limit: 10 }))
    );
    assert!(parser.is_failed());
    assert_eq!(parser.next(), None);
    parser.feed(b"data: a\n\n");
    assert_eq!(parser.next(), None);
    assert_eq!(parser.buffered(), 1, "only the committed ID is kept");
    assert_eq!(parser.last_event_id(), "1");
}

#[test]
fn endless_line_fails_early_without_buffering_it() {
    const LIMIT: usize = 1 << 20;
    const CHUNK: usize = 64 << 10;
    let total: usize = 64 << 20;
    let mut chunk = vec![b'x'; CHUNK];
    chunk[..6].copy_from_slice(b"data: ");
    let rest = vec![b'x'; CHUNK];
    let mut parser = Parser::new(LIMIT);
    let mut fed = 0;
    let mut error = None;
    while fed < total {
        parser.feed(if fed == 0 { &chunk } else { &rest });
        fed += CHUNK;
        assert!(parser.buffered() <= LIMIT + CHUNK, "after feed at {fed}");
        if let Some(item) = parser.next() {
            error = Some(item.map(|_| ()));
            break;
        }
        assert!(parser.buffered() <= LIMIT, "drained at {fed}");
    }
    assert_eq!(error, Some(Err(ParseError::Oversized { limit: LIMIT })));
    assert!(fed <= LIMIT + CHUNK, "failed after {fed} bytes");
    assert_eq!(parser.buffered(), 0);
}

#[test]
fn buffered_stays_bounded_for_many_events() {
    const LIMIT: usize = 256;
    let stream: Vec<u8> = (0..500)
        .flat_map(|i| format!("id: {i}\ndata: {{\"Count\": {i}}}\n: ka\n\n").into_bytes())
        .collect();
    for chunk_len in [1, 7, 64, 1000] {
        let mut parser = Parser::new(LIMIT);
        let mut out = Vec::new();
        for chunk in stream.chunks(chunk_len) {
            parser.feed(chunk);
            assert!(
                parser.buffered() <= LIMIT + chunk.len(),
                "chunk {chunk_len}"
            );
            drain(&mut parser, &mut out);
            assert!(parser.buffered() <= LIMIT, "chunk {chunk_len}");
        }
        assert_eq!(parser.events_dispatched(), 500, "chunk {chunk_len}");
        assert_eq!(out.len(), 1000, "chunk {chunk_len}");
        assert_eq!(out[998], comment(" ka"));
        assert_eq!(out[999], ev("message", "{\"Count\": 499}", "499"));
    }
}

#[test]
fn last_event_id_commits_on_blank_line_only() {
    let steps: &[(&[u8], &str)] = &[
        (b"id: 1\n", ""),
        (b"data: a\n", ""),
        (b"\n", "1"),
        (b"id: 2\ndata: b\n", "1"),
        (b"\n", "2"),
        (b"id: 333\n", "2"),
    ];
    let mut parser = Parser::new(MAX);
    let mut out = Vec::new();
    for &(bytes, want) in steps {
        parser.feed(bytes);
        drain(&mut parser, &mut out);
        assert_eq!(parser.last_event_id(), want, "after {bytes:?}");
    }
    parser.finish();
    drain(&mut parser, &mut out);
    assert_eq!(
        parser.last_event_id(),
        "2",
        "an unended event's id is dropped"
    );
    assert_eq!(parser.buffered(), 2, "the committed ID, in its two buffers");
    assert_eq!(out, [ev("message", "a", "1"), ev("message", "b", "2")]);
}

#[test]
fn starts_from_a_known_last_event_id() {
    let mut parser = Parser::new(MAX).with_last_event_id("41");
    let mut out = Vec::new();
    parser.feed(b"data: a\n\nid: 42\ndata: b\n\n");
    drain(&mut parser, &mut out);
    assert_eq!(out, [ev("message", "a", "41"), ev("message", "b", "42")]);
}

#[test]
fn finish_processes_complete_lines_then_drops_the_rest() {
    let mut parser = Parser::new(MAX);
    parser.feed(b"data: a\n\ndata: b\n\ndata: c\n");
    parser.finish();
    parser.feed(b"\n"); // ignored: the stream has ended
    let mut out = Vec::new();
    drain(&mut parser, &mut out);
    assert_eq!(out, [msg("a"), msg("b")]);
    assert_eq!(parser.events_dispatched(), 2);
    assert_eq!(parser.buffered(), 0);
    assert_eq!(parser.next(), None);
}

#[test]
fn event_borrows_are_valid_until_next_call() {
    let mut parser = Parser::new(MAX);
    parser.feed(b"event: a\nid: 1\ndata: x\n\ndata: y\n\n");
    let first = match parser.next() {
        Some(Ok(Item::Event(event))) => (event.kind.len(), event.data.to_owned()),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(first, (1, "x".to_owned()));
    match parser.next() {
        Some(Ok(Item::Event(event))) => {
            assert_eq!((event.kind, event.data, event.id), ("message", "y", "1"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(parser.next(), None);
}

/// LF fixture, its CRLF twin, and what both must yield.
fn fixtures() -> Vec<(&'static str, &'static [u8], &'static [u8], Items)> {
    macro_rules! data {
        ($file:literal) => {
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/", $file))
        };
    }
    let seed = |n: u32| msg(&format!("{{\"Count\": {n}, \"Data\": \"Event {n}\"}}"));
    vec![
        (
            "seed",
            data!("seed.sse"),
            data!("seed_crlf.sse"),
            vec![
                comment(" fixture shaped like the seed server's POST /trigger_invocation stream"),
                Owned::Retry(2000),
                seed(1),
                seed(2),
                seed(3),
                seed(4),
                msg("{\"Data\": \"Stream completed\"}"),
            ],
        ),
        (
            "multiline",
            data!("multiline.sse"),
            data!("multiline_crlf.sse"),
            vec![
                ev("update", "first line\nsecond line\n\n indented", "1"),
                ev("message", "", "1"),
                ev("note", "{\"a\":1}", "2"),
                msg("after id reset"),
            ],
        ),
        (
            "comments",
            data!("comments.sse"),
            data!("comments_crlf.sse"),
            vec![
                comment("ok"),
                comment(" keep-alive"),
                comment(" inside event"),
                msg("a\nb"),
                comment(""),
                Owned::Retry(500),
                msg("c"),
            ],
        ),
        (
            "unterminated",
            data!("unterminated.sse"),
            data!("unterminated_crlf.sse"),
            vec![msg("done")],
        ),
        (
            "bom",
            data!("bom.sse"),
            data!("bom_cr.sse"),
            vec![msg("caf\u{e9} \u{2615}"), ev("bye", "\u{fc}ber", "")],
        ),
    ]
}

#[test]
fn fixtures_lf_and_crlf_agree() {
    for (name, lf, other, want) in fixtures() {
        assert!(!lf.contains(&b'\r'), "{name}: LF fixture has CR");
        assert!(
            other.contains(&b'\r'),
            "{name}: git converted the CRLF/CR twin"
        );
        for (variant, bytes) in [("lf", lf), ("crlf/cr", other)] {
            let (whole, bytewise) = run_whole_and_bytewise(MAX, bytes);
            assert_eq!(whole, want, "{name} {variant}");
            assert_eq!(bytewise, want, "{name} {variant} byte by byte");
        }
    }
}
