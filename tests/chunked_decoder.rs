//! The patched HTTP/1.1 chunked decoder (`vendor/actix-http`, issue #12:
//! size lines and chunk ends read in one step) against RFC 9112 §7.1, through
//! actix-http's public client codecs: any valid chunked body, split at any
//! points, decodes to its data and ends at its last chunk; the malformed
//! size lines and chunk ends the fast path sees first are still errors.

use actix_codec::Decoder as _;
use actix_http::h1::{ClientCodec, ClientPayloadCodec};
use bytes::BytesMut;
use proptest::prelude::*;

/// The payload codec of a `Transfer-Encoding: chunked` response.
fn chunked_codec() -> ClientPayloadCodec {
    let mut codec = ClientCodec::default();
    let mut head = BytesMut::from(&b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"[..]);
    let decoded = codec.decode(&mut head).expect("head decodes");
    assert!(decoded.is_some(), "a whole head");
    codec.into_payload_codec()
}

/// Feeds `wire` in pieces cut at `cuts`; returns the data, whether the last
/// chunk was seen, and the first error. (In an actix system: the codec's
/// configuration starts a date service on the local runtime.)
fn decode(wire: &[u8], cuts: &[usize]) -> (Vec<u8>, bool, Option<String>) {
    actix_rt::System::new().block_on(async { decode_in_system(wire, cuts) })
}

fn decode_in_system(wire: &[u8], cuts: &[usize]) -> (Vec<u8>, bool, Option<String>) {
    let mut codec = chunked_codec();
    let mut buf = BytesMut::new();
    let mut data = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    bounds.push(wire.len());
    bounds.sort_unstable();
    let mut from = 0;
    for to in bounds {
        buf.extend_from_slice(&wire[from..to]);
        from = to;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Some(chunk))) => data.extend_from_slice(&chunk),
                Ok(Some(None)) => return (data, true, None),
                Ok(None) => break,
                Err(err) => return (data, false, Some(err.to_string())),
            }
        }
    }
    (data, false, None)
}

/// One chunk's size line as a server may write it.
#[derive(Debug, Clone)]
struct SizeStyle {
    upper: bool,
    leading_zeros: usize,
    extension: bool,
}

fn size_style() -> impl Strategy<Value = SizeStyle> {
    (any::<bool>(), 0usize..20, prop::bool::weighted(0.2)).prop_map(
        |(upper, leading_zeros, extension)| SizeStyle {
            upper,
            leading_zeros,
            extension,
        },
    )
}

fn size_line(len: usize, style: &SizeStyle) -> String {
    let hex = if style.upper {
        format!("{len:X}")
    } else {
        format!("{len:x}")
    };
    let ext = if style.extension { ";name=value" } else { "" };
    format!("{}{hex}{ext}\r\n", "0".repeat(style.leading_zeros))
}

fn encode(chunks: &[(Vec<u8>, SizeStyle)], last: &SizeStyle, trailer: bool) -> Vec<u8> {
    let mut wire = Vec::new();
    for (data, style) in chunks {
        wire.extend_from_slice(size_line(data.len(), style).as_bytes());
        wire.extend_from_slice(data);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(size_line(0, last).as_bytes());
    if trailer {
        wire.extend_from_slice(b"x-trailer: 1\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    wire
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_valid_chunked_body_decodes_to_its_data(
        chunks in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 1..300), size_style()), 0..8),
        last in size_style(),
        trailer in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let wire = encode(&chunks, &last, trailer);
        let (data, ended, error) = decode(&wire, &cuts);
        let expected: Vec<u8> = chunks.iter().flat_map(|(d, _)| d.clone()).collect();
        prop_assert_eq!(error, None);
        prop_assert!(ended, "the last chunk ends the body");
        prop_assert_eq!(data, expected);
    }

    #[test]
    fn a_body_cut_before_its_last_chunk_does_not_end(
        chunks in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 1..100), size_style()), 1..4),
        last in size_style(),
        cut in any::<usize>(),
    ) {
        let wire = encode(&chunks, &last, false);
        // Keep everything before the final CRLF at most.
        let keep = cut % (wire.len() - 1);
        let (_, ended, error) = decode(&wire[..keep], &[]);
        prop_assert!(!ended, "ended on {:?}", String::from_utf8_lossy(&wire[..keep]));
        prop_assert_eq!(error, None, "a cut is incomplete, not malformed");
    }
}

#[test]
fn malformed_size_lines_and_chunk_ends_are_errors() {
    let cases: &[&[u8]] = &[
        b"g\r\nx\r\n0\r\n\r\n",        // not a hex digit
        b"\r\nx\r\n0\r\n\r\n",         // no digit at all
        b"1\rx\r\n0\r\n\r\n",          // CR not followed by LF
        b"1\r\nxy\r\n0\r\n\r\n",       // chunk longer than its size
        b"1\r\nx\n\r0\r\n\r\n",        // chunk end LF CR
        b"1\r\nx\rx0\r\n\r\n",         // chunk end CR then not LF
        b"10000000000000000\r\nx\r\n", // 17 digits: more than 64 bits
        b"1 x\r\nx\r\n0\r\n\r\n",      // whitespace then garbage
    ];
    for wire in cases {
        for cut in 0..=wire.len() {
            let (_, ended, error) = decode(wire, &[cut]);
            assert!(
                error.is_some() && !ended,
                "{:?} (cut at {cut}): expected an error, got ended={ended} error={error:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }
}

#[test]
fn sixteen_hex_digits_and_longer_zero_padded_sizes_are_read_whole() {
    // 16 digits is the most a u64 holds; leading zeros may make a line longer.
    let (data, ended, error) = decode(b"00000000000000000000003\r\nabc\r\n0\r\n\r\n", &[]);
    assert_eq!((data.as_slice(), ended, error), (&b"abc"[..], true, None));
    let (data, ended, error) = decode(b"0000000000000003\r\nabc\r\n0000000000000000\r\n\r\n", &[]);
    assert_eq!((data.as_slice(), ended, error), (&b"abc"[..], true, None));
}
