//! Property tests: chunking never changes the result, LF / CR / CRLF streams
//! are equivalent, and the memory bound holds however bytes arrive.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use super::tests::{drain, run, Owned};
use super::Parser;

/// One line without its terminator, biased towards what servers send.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let text = "[a-z0-9 :{}\"\u{e9}\u{20ac}\u{1F600}]{0,12}";
    prop_oneof![
        3 => Just(Vec::new()),
        3 => text.prop_map(|v| format!("data: {v}").into_bytes()),
        1 => text.prop_map(|v| format!("data:{v}").into_bytes()),
        1 => Just(b"data".to_vec()),
        1 => "[a-z]{0,5}".prop_map(|v| format!("event: {v}").into_bytes()),
        1 => "[a-z0-9\u{0}]{0,5}".prop_map(|v| format!("id: {v}").into_bytes()),
        1 => Just(b"id".to_vec()),
        1 => "[0-9a ]{0,4}".prop_map(|v| format!("retry: {v}").into_bytes()),
        1 => text.prop_map(|v| format!(":{v}").into_bytes()),
        1 => "[a-z]{1,5}".prop_map(|v| format!("{v}: x").into_bytes()),
        // arbitrary bytes, invalid UTF-8 included, but no line end
        1 => vec(any::<u8>(), 0..10)
            .prop_map(|b| b.into_iter().filter(|&c| c != b'\n' && c != b'\r').collect()),
    ]
}

/// A stream as lines, optionally starting with a BOM.
fn lines() -> impl Strategy<Value = (bool, Vec<Vec<u8>>)> {
    (any::<bool>(), vec(line(), 0..40))
}

/// Joins lines, each ended by `endings[i % len]` (`"\n"`, `"\r"` or `"\r\n"`).
/// A CR followed by an empty line ended by LF would read as one CRLF, so that
/// empty line is ended by CRLF instead (still one line end).
fn join(bom: bool, lines: &[Vec<u8>], endings: &[&'static [u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut prev: &[u8] = b"";
    for (i, line) in lines.iter().enumerate() {
        let mut ending = endings[i % endings.len()];
        if prev == b"\r" && line.is_empty() && ending == b"\n" {
            ending = b"\r\n";
        }
        out.extend_from_slice(line);
        out.extend_from_slice(ending);
        prev = ending;
    }
    out
}

/// Splits `bytes` at the given cut points.
fn split<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in at {
        chunks.push(&bytes[start..cut]);
        start = cut;
    }
    chunks.push(&bytes[start..]);
    chunks
}

/// A stream from the vocabulary, or plain arbitrary bytes.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (
            lines(),
            vec(
                prop_oneof![Just(&b"\n"[..]), Just(&b"\r"[..]), Just(&b"\r\n"[..])],
                1..4
            )
        )
            .prop_map(|((bom, lines), endings)| join(bom, &lines, &endings)),
        vec(any::<u8>(), 0..300),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_chunking_gives_the_same_items(
        input in stream(),
        cuts in vec(any::<Index>(), 0..12),
        max in 4usize..120,
    ) {
        let whole = run(max, &[&input]);
        let chunked = run(max, &split(&input, &cuts));
        prop_assert_eq!(chunked, whole);
    }

    #[test]
    fn lf_cr_and_crlf_streams_are_equivalent(
        (bom, lines) in lines(),
        mixed in vec(prop_oneof![Just(&b"\n"[..]), Just(&b"\r"[..]), Just(&b"\r\n"[..])], 1..5),
        max in 8usize..400,
    ) {
        let lf = run(max, &[&join(bom, &lines, &[b"\n"])]);
        prop_assert_eq!(&run(max, &[&join(bom, &lines, &[b"\r"])]), &lf, "CR");
        prop_assert_eq!(&run(max, &[&join(bom, &lines, &[b"\r\n"])]), &lf, "CRLF");
        prop_assert_eq!(&run(max, &[&join(bom, &lines, &mixed)]), &lf, "mixed");
    }

    #[test]
    fn buffer_stays_within_max_plus_one_feed(
        input in stream(),
        cuts in vec(any::<Index>(), 0..40),
        max in 0usize..200,
    ) {
        let mut parser = Parser::new(max);
        let mut out: Vec<Owned> = Vec::new();
        // The first two bytes may be held to decide whether they start a BOM.
        let drained_bound = max.max(2);
        for chunk in split(&input, &cuts) {
            parser.feed(chunk);
            prop_assert!(parser.buffered() <= drained_bound + chunk.len());
            drain(&mut parser, &mut out);
            prop_assert!(parser.buffered() <= drained_bound);
        }
        parser.finish();
        drain(&mut parser, &mut out);
        prop_assert!(parser.buffered() <= max);
        let events = out.iter().filter(|item| matches!(item, Owned::Event { .. })).count();
        prop_assert_eq!(parser.events_dispatched(), events as u64);
        // An error, if any, is the last item.
        if let Some(pos) = out.iter().position(|item| matches!(item, Owned::Error(_))) {
            prop_assert_eq!(pos, out.len() - 1);
            prop_assert!(parser.is_failed());
        }
    }
}
