//! The hlog's histogram encoding, without sweeping the cache.
//!
//! The bytes are HdrHistogram's "V2 compressed" encoding, which every
//! HdrHistogram reader decodes (this crate's `Deserializer`, Java's
//! `decodeFromCompressedByteBuffer`): the V2 payload (a 40-byte header, then
//! the counts up to the largest sample's bucket as zig-zag LEB128 varints,
//! a run of empty buckets as one negative number), wrapped in a zlib stream.
//!
//! The crate's `V2DeflateSerializer` gives the same V2 payload, but for
//! each histogram it zeroes a buffer of 9 bytes per bucket up to the largest
//! sample (180 KiB for a 1 s maximum), reads every count from bucket 0, and
//! builds and zeroes a fresh deflate compressor (about 300 KiB). The collector
//! encodes every recorded metric every interval, on the core the streams are
//! read on (issue #12). Here the counts are read only from the smallest to
//! the largest sample ([`recorded`]) and the zlib stream uses stored
//! blocks: no compressor state at all. The payload is already run-length
//! encoded, so the log grows by about 28 % (BENCHMARKS.md, "Session 10").
//! `tests::payload_is_v2_serializers` proves the payload equal, byte for
//! byte, to `V2Serializer`'s.

use std::io::{self, Write};

use hdrhistogram::serialization::{Serializer, V2Serializer};
use hdrhistogram::{Counter, Histogram};

use crate::metrics::latency::{recorded, MAX_US, SIGFIG};

/// HdrHistogram's V2 cookies (`V2_COOKIE_BASE | 0x10`, `V2_COMPRESSED_COOKIE_BASE | 0x10`).
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9304 | 0x10;
/// Bytes of the V2 header before the counts.
const V2_HEADER_SIZE: usize = 40;
/// Largest stored deflate block.
const STORED_MAX: usize = 65_535;

/// Encodes histograms for `IntervalLogWriter`, reusing its buffers.
#[derive(Default)]
pub(super) struct LeanSerializer {
    payload: Vec<u8>,
    out: Vec<u8>,
    general: V2Serializer,
}

impl LeanSerializer {
    /// A serializer with empty buffers.
    pub(super) fn new() -> LeanSerializer {
        LeanSerializer::default()
    }

    /// The V2 payload of `h` into `self.payload`.
    fn payload<T: Counter>(&mut self, h: &Histogram<T>) -> io::Result<()> {
        self.payload.clear();
        if h.low() != 1 || h.high() != MAX_US || h.sigfig() != SIGFIG {
            // Bounds the index arithmetic below was not written for.
            return self
                .general
                .serialize(h, &mut self.payload)
                .map(|_| ())
                .map_err(|err| io::Error::other(err.to_string()));
        }
        let p = &mut self.payload;
        p.extend_from_slice(&V2_COOKIE.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes()); // counts length, set below
        p.extend_from_slice(&0u32.to_be_bytes()); // normalizing index offset
        p.extend_from_slice(&u32::from(h.sigfig()).to_be_bytes());
        p.extend_from_slice(&h.low().to_be_bytes());
        p.extend_from_slice(&h.high().to_be_bytes());
        p.extend_from_slice(&1.0f64.to_be_bytes());
        debug_assert_eq!(p.len(), V2_HEADER_SIZE);

        let mut counts = Counts { out: p, next: 0 };
        for (value, count) in recorded(h) {
            counts.bucket(index_of(value), count)?;
        }
        // Up to the largest sample's bucket, as `V2Serializer` (an empty
        // histogram: bucket 0 alone).
        let limit = index_of(h.max());
        counts.zeros_up_to(limit + 1);
        let counts_len = p.len() - V2_HEADER_SIZE;
        let len = u32::try_from(counts_len).map_err(io::Error::other)?;
        p[4..8].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

/// The counts being written: `next` is the first bucket index not yet written.
struct Counts<'a> {
    out: &'a mut Vec<u8>,
    next: usize,
}

impl Counts<'_> {
    /// Writes bucket `index` (and the empty ones before it); a zero count is
    /// left for the run it belongs to.
    fn bucket<T: Counter>(&mut self, index: usize, count: T) -> io::Result<()> {
        if count == T::zero() {
            return Ok(());
        }
        self.zeros_up_to(index);
        let count = i64::try_from(count.as_u64())
            .map_err(|_| io::Error::other("a count above i64::MAX cannot be encoded"))?;
        varint(self.out, zig_zag(count));
        self.next = index + 1;
        Ok(())
    }

    /// Writes the empty buckets from `next` to `end` (exclusive): one as a
    /// zero, more as their negated number.
    fn zeros_up_to(&mut self, end: usize) {
        let run = end.saturating_sub(self.next);
        match run {
            0 => {}
            1 => varint(self.out, 0),
            n => varint(self.out, zig_zag(-(n as i64))),
        }
        self.next = self.next.max(end);
    }
}

/// Bucket index of `value` at 1 µs … 24 h and 3 significant digits: 2,048
/// sub-buckets per bucket (1,024 new ones in each after the first), unit 1.
fn index_of(value: u64) -> usize {
    const HALF_MAGNITUDE: u32 = 10;
    const SUB_BUCKET_MASK: u64 = 2047;
    const LEADING_ZERO_BASE: u32 = 64 - HALF_MAGNITUDE - 1;
    let bucket = LEADING_ZERO_BASE - (value | SUB_BUCKET_MASK).leading_zeros();
    let sub_bucket = (value >> bucket) as usize;
    ((bucket as usize + 1) << HALF_MAGNITUDE) + sub_bucket - (1 << HALF_MAGNITUDE)
}

fn zig_zag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// HdrHistogram's varint: LEB128 for 8 groups of 7 bits, a 9th byte with
/// the last 8 bits whole.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    for _ in 0..8 {
        if v >> 7 == 0 {
            out.push(v as u8);
            return;
        }
        out.push(0x80 | (v & 0x7f) as u8);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Adler-32 of `data` (RFC 1950 §8.2).
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5,552 bytes is the most that cannot overflow `b` between reductions.
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// `data` as a zlib stream (RFC 1950) of stored deflate blocks (RFC 1951 §3.2.4).
fn zlib_stored(out: &mut Vec<u8>, data: &[u8]) {
    // CMF 0x78: deflate, 32 KiB window; FLG 0x01: no dictionary, fastest, check bits.
    out.extend_from_slice(&[0x78, 0x01]);
    let mut blocks = data.chunks(STORED_MAX).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        let len = block.len() as u16;
        out.push(u8::from(last)); // BFINAL, BTYPE = 00 (stored)
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
}

impl Serializer for LeanSerializer {
    type SerializeError = io::Error;

    fn serialize<T: Counter, W: Write>(
        &mut self,
        h: &Histogram<T>,
        writer: &mut W,
    ) -> Result<usize, io::Error> {
        self.payload(h)?;
        self.out.clear();
        self.out
            .extend_from_slice(&V2_COMPRESSED_COOKIE.to_be_bytes());
        self.out.extend_from_slice(&0u32.to_be_bytes());
        zlib_stored(&mut self.out, &self.payload);
        let zlib_len = u32::try_from(self.out.len() - 8).map_err(io::Error::other)?;
        self.out[4..8].copy_from_slice(&zlib_len.to_be_bytes());
        writer.write_all(&self.out)?;
        Ok(self.out.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::latency::new_histogram;
    use crate::metrics::latency::tests::histogram_of;
    use hdrhistogram::serialization::Deserializer;
    use proptest::prelude::*;

    fn histogram() -> impl Strategy<Value = Histogram<u64>> {
        histogram_of(60, 300)
    }

    fn v2(h: &Histogram<u64>) -> Vec<u8> {
        let mut bytes = Vec::new();
        V2Serializer::new().serialize(h, &mut bytes).expect("v2");
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The payload is `V2Serializer`'s, byte for byte.
        #[test]
        fn payload_is_v2_serializers(h in histogram()) {
            let mut lean = LeanSerializer::new();
            lean.payload(&h).expect("encode");
            prop_assert_eq!(&lean.payload, &v2(&h));
        }

        /// Every histogram decodes back, equal, with the crate's deserializer,
        /// also with buffers left from an earlier one.
        #[test]
        fn decodes_back(a in histogram(), b in histogram()) {
            let mut lean = LeanSerializer::new();
            for h in [&a, &b] {
                let mut bytes = Vec::new();
                let n = lean.serialize(h, &mut bytes).expect("encode");
                prop_assert_eq!(n, bytes.len());
                let back: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut io::Cursor::new(&bytes))
                    .expect("decode");
                prop_assert!(&back == h);
            }
        }

    }

    /// A payload over one stored block (65,535 bytes) decodes back: every
    /// bucket holding a three-byte count.
    #[test]
    fn payload_of_several_stored_blocks_decodes_back() {
        let mut h = new_histogram();
        let mut value = 1;
        while value <= MAX_US {
            h.record_n(value, 20_000).expect("in range");
            value = h.next_non_equivalent(value);
        }
        let mut bytes = Vec::new();
        LeanSerializer::new()
            .serialize(&h, &mut bytes)
            .expect("encode");
        assert!(bytes.len() > STORED_MAX, "{} bytes", bytes.len());
        let back: Histogram<u64> = Deserializer::new()
            .deserialize(&mut io::Cursor::new(&bytes))
            .expect("decode");
        assert!(back == h);
    }

    #[test]
    fn index_matches_bucket_edges() {
        let h = new_histogram();
        assert_eq!(index_of(0), 0);
        assert_eq!(index_of(2047), 2047);
        assert_eq!(index_of(2048), 2048);
        assert_eq!(index_of(2049), 2048, "2048 and 2049 share a bucket");
        assert_eq!(index_of(4096), 3072);
        for v in [1u64, 999, 2047, 2048, 4095, 4096, 1_000_000, MAX_US] {
            let next = h.next_non_equivalent(v);
            assert_eq!(index_of(next), index_of(v) + 1, "{v}");
            assert_eq!(index_of(h.lowest_equivalent(v)), index_of(v), "{v}");
        }
    }

    #[test]
    fn other_bounds_take_the_general_serializer() {
        let mut h = Histogram::<u64>::new_with_bounds(10, 10_000, 2).expect("bounds");
        h.record(123).expect("in range");
        let mut lean = LeanSerializer::new();
        lean.payload(&h).expect("encode");
        let mut general = Vec::new();
        V2Serializer::new().serialize(&h, &mut general).expect("v2");
        assert_eq!(lean.payload, general);
    }

    #[test]
    fn adler32_known_value() {
        // RFC 1950's example family: "Wikipedia" → 0x11E60398.
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b""), 1);
    }
}
