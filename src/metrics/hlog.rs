//! `histograms.hlog`: the HdrHistogram interval log of every latency metric.
//!
//! One line per metric per interval, tagged with the metric name
//! (`Tag=ttfe,<start s>,<length s>,<max>,<base64 V2 compressed histogram>`,
//! the zlib stream in stored blocks: see `encode`),
//! values in µs, `StartTime` the run's wall-clock start. It is the lossless
//! source for `merge` and `report`: summing a metric's lines gives exactly
//! the histogram of every sample of the run.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use crate::metrics::latency::{Latencies, LatencyMetric};

mod encode;

use encode::LeanSerializer;

/// Appends interval histograms to a log file, flushed per interval.
pub struct HlogWriter {
    out: BufWriter<File>,
    serializer: LeanSerializer,
}

impl HlogWriter {
    /// Creates the log and writes its header.
    ///
    /// # Errors
    /// When the file cannot be created or written.
    pub fn create(path: &Path, start: SystemTime, comment: &str) -> io::Result<HlogWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut serializer = LeanSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(comment)
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut out, &mut serializer)?;
        writeln!(out, "#\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"")?;
        out.flush()?;
        Ok(HlogWriter { out, serializer })
    }

    /// Writes the non-empty histograms of one interval and flushes.
    ///
    /// # Errors
    /// When writing fails.
    pub fn write_interval(
        &mut self,
        start: Duration,
        length: Duration,
        latencies: &Latencies,
    ) -> io::Result<()> {
        let mut writer = IntervalLogWriterBuilder::new()
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut self.out, &mut self.serializer)?;
        for metric in LatencyMetric::ALL {
            let h = latencies.get(metric);
            if h.is_empty() {
                continue;
            }
            writer
                .write_histogram(h, start, length, Tag::new(metric.as_str()))
                .map_err(|err| io::Error::other(err.to_string()))?;
        }
        self.out.flush()
    }
}

/// One decoded interval histogram.
#[derive(Debug, Clone)]
pub struct HlogEntry {
    /// Metric.
    pub metric: LatencyMetric,
    /// Interval start offset.
    pub start: Duration,
    /// Interval length.
    pub length: Duration,
    /// Samples in µs.
    pub histogram: Histogram<u64>,
}

/// The run's wall-clock start written in the header, if any.
pub fn start_time(text: &[u8]) -> Option<SystemTime> {
    IntervalLogIterator::new(text).find_map(|entry| match entry {
        Ok(LogEntry::StartTime(d)) => Some(UNIX_EPOCH + d),
        _ => None,
    })
}

/// Reads every interval histogram of a log.
///
/// # Errors
/// A message naming the problem when the log is not one streamsoak wrote.
pub fn read(text: &[u8]) -> Result<Vec<HlogEntry>, String> {
    let mut deserializer = Deserializer::new();
    let mut entries = Vec::new();
    for entry in IntervalLogIterator::new(text) {
        let entry = entry.map_err(|err| format!("unreadable hlog line: {err:?}"))?;
        let LogEntry::Interval(interval) = entry else {
            continue;
        };
        let tag = interval.tag().map(|t| t.as_str()).unwrap_or("");
        let metric = LatencyMetric::from_name(tag)
            .ok_or_else(|| format!("hlog line with unknown tag `{tag}`"))?;
        let bytes = base64_decode(interval.encoded_histogram())
            .ok_or_else(|| "hlog histogram is not valid base64".to_owned())?;
        let decoded: Histogram<u64> = deserializer
            .deserialize(&mut io::Cursor::new(bytes))
            .map_err(|err| format!("hlog histogram cannot be decoded: {err:?}"))?;
        let mut histogram = crate::metrics::latency::new_histogram();
        histogram
            .add(&decoded)
            .map_err(|err| format!("hlog histogram out of range: {err:?}"))?;
        entries.push(HlogEntry {
            metric,
            start: interval.start_timestamp(),
            length: interval.duration(),
            histogram,
        });
    }
    Ok(entries)
}

/// Standard base64 (with padding) decoding, as hlog lines use.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.trim().as_bytes();
    let trimmed = bytes
        .iter()
        .rposition(|&c| c != b'=')
        .map_or(&bytes[..0], |i| &bytes[..=i]);
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in trimmed {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_sample() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.hlog");
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut writer = HlogWriter::create(&path, start, "test").expect("create");
        let mut total = Latencies::default();
        for i in 0..3u64 {
            let mut interval = Latencies::default();
            for v in 0..100u64 {
                interval.record(
                    LatencyMetric::Ttfe,
                    Duration::from_micros(17 + v * 997 * (i + 1)),
                );
            }
            interval.record(LatencyMetric::Gap, Duration::from_millis(250 + i));
            writer
                .write_interval(Duration::from_secs(i), Duration::from_secs(1), &interval)
                .expect("write");
            total.add(&interval);
        }
        drop(writer);
        let text = std::fs::read(&path).expect("read");
        assert_eq!(start_time(&text), Some(start));
        let entries = read(&text).expect("decode");
        assert_eq!(entries.len(), 6, "2 metrics × 3 intervals");
        let mut merged = Latencies::default();
        for e in &entries {
            merged
                .get_mut(e.metric)
                .add(&e.histogram)
                .expect("same bounds");
        }
        for metric in LatencyMetric::ALL {
            assert_eq!(
                merged.get(metric),
                total.get(metric),
                "{metric:?} is lossless"
            );
        }
    }

    #[test]
    fn base64_known_values() {
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        assert!(base64_decode("a$b=").is_none());
    }
}
