//! Parser throughput: `sse::Parser` over small JSON events and large
//! multi-line events, fed in realistic (16 KiB) and adversarial (1-byte)
//! chunks, drained after every feed exactly as the attempt does.
//!
//! ```sh
//! cargo bench --bench parser                      # full criterion run
//! BENCH_RESULTS_DIR=/tmp/x cargo bench --bench parser
//! STREAMSOAK_BENCH_SMOKE=1 cargo test --bench parser -- --bench   # seconds, debug build
//! ```
//!
//! Besides criterion's own report, each case's mean time per pass over the
//! corpus (from the measurement samples only, not the warm-up) is turned into
//! MB/s and events/s, printed, and written to
//! `$BENCH_RESULTS_DIR/parser.csv` (default `target/bench-results/`).
//! Under `cargo test` (criterion's test mode: every case runs once) nothing
//! is written.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use streamsoak::sse::{Item, Parser};

/// The stream's `max_event_size` default (1 MiB).
const MAX_EVENT: usize = 1 << 20;

/// One corpus: the bytes of a stream and the events in it.
struct Corpus {
    name: &'static str,
    bytes: Vec<u8>,
    events: u64,
}

/// `data: {"Count": n, "Data": "Event n"}` events, as the reference server sends them.
fn small_json(target_bytes: usize) -> Corpus {
    let mut text = String::new();
    let mut events = 0;
    while text.len() < target_bytes {
        events += 1;
        let _ = write!(
            text,
            "data: {{\"Count\": {events}, \"Data\": \"Event {events}\"}}\n\n"
        );
    }
    Corpus {
        name: "small-json",
        bytes: text.into_bytes(),
        events,
    }
}

/// About 6.5 KiB events: `event:` and `id:` fields, then 64 `data:` lines
/// of about 100 bytes (a pretty-printed JSON document, say), CRLF line ends
/// on every other event.
fn large_multiline(target_bytes: usize) -> Corpus {
    let mut text = String::new();
    let mut events = 0u64;
    while text.len() < target_bytes {
        events += 1;
        let eol = if events % 2 == 0 { "\r\n" } else { "\n" };
        let _ = write!(text, "event: update{eol}id: {events}{eol}");
        for line in 0..64 {
            let _ = write!(
                text,
                "data: {{\"line\": {line}, \"text\": \"lorem ipsum dolor sit amet, consectetur adipiscing elit {events}\"}}{eol}"
            );
        }
        text.push_str(eol);
    }
    Corpus {
        name: "large-multiline",
        bytes: text.into_bytes(),
        events,
    }
}

/// Feeds `bytes` in `chunk`-sized pieces, draining after each; returns the events seen.
fn parse(bytes: &[u8], chunk: usize) -> u64 {
    let mut parser = Parser::new(MAX_EVENT);
    let mut events = 0u64;
    for piece in bytes.chunks(chunk) {
        parser.feed(piece);
        while let Some(item) = parser.next() {
            match item {
                Ok(Item::Event(event)) => {
                    events += 1;
                    black_box(event.data.len());
                }
                Ok(_) => {}
                Err(err) => panic!("benchmark corpus failed to parse: {err}"),
            }
        }
    }
    events
}

/// What one case measured: (total time, total passes) of each measurement sample.
type Samples = Rc<RefCell<Vec<(Duration, u64)>>>;

struct Row {
    case: String,
    chunk: usize,
    corpus_bytes: usize,
    events: u64,
    ns_per_pass: f64,
}

fn main() {
    let smoke = std::env::var_os("STREAMSOAK_BENCH_SMOKE").is_some();
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let mut criterion = Criterion::default();
    criterion = if smoke {
        criterion
            .sample_size(10)
            .warm_up_time(Duration::from_millis(50))
            .measurement_time(Duration::from_millis(200))
    } else {
        criterion
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4))
    };
    let mut criterion = criterion.configure_from_args();
    let sample_size = if smoke { 10 } else { 30 };

    let (small_size, large_size) = if smoke {
        (64 << 10, 128 << 10)
    } else {
        (1 << 20, 2 << 20)
    };
    let corpora = [small_json(small_size), large_multiline(large_size)];
    let mut rows = Vec::new();
    let mut group = criterion.benchmark_group("parser");
    for corpus in &corpora {
        for chunk in [16 * 1024, 1] {
            // 1-byte feeds are ~50x slower: a quarter of the corpus keeps passes short.
            let bytes = if chunk == 1 {
                let cut = corpus.bytes.len() / 4;
                let end = find_event_end(&corpus.bytes, cut);
                &corpus.bytes[..end]
            } else {
                &corpus.bytes[..]
            };
            let events = parse(bytes, chunk);
            assert!(events > 0 && events <= corpus.events);
            let samples: Samples = Rc::new(RefCell::new(Vec::new()));
            let sink = Rc::clone(&samples);
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            group.bench_with_input(
                BenchmarkId::new(corpus.name, format!("chunk-{chunk}")),
                &chunk,
                |b, &chunk| {
                    b.iter_custom(|passes| {
                        let start = Instant::now();
                        for _ in 0..passes {
                            black_box(parse(black_box(bytes), chunk));
                        }
                        let took = start.elapsed();
                        sink.borrow_mut().push((took, passes));
                        took
                    });
                },
            );
            // Criterion warms up first, then takes exactly `sample_size` samples.
            let all = samples.borrow();
            if bench_mode && all.len() >= sample_size {
                let measured = &all[all.len() - sample_size..];
                let time: Duration = measured.iter().map(|s| s.0).sum();
                let passes: u64 = measured.iter().map(|s| s.1).sum();
                rows.push(Row {
                    case: corpus.name.to_owned(),
                    chunk,
                    corpus_bytes: bytes.len(),
                    events,
                    ns_per_pass: time.as_nanos() as f64 / passes as f64,
                });
            }
        }
    }
    group.finish();
    criterion.final_summary();
    if bench_mode {
        report(&rows, smoke);
    }
}

/// The index just past the first blank line at or after `from` (so a cut
/// corpus still ends on an event boundary).
fn find_event_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 1 < bytes.len() {
        if bytes[i] == b'\n' && (bytes[i + 1] == b'\n' || bytes[i + 1] == b'\r') {
            let skip = if bytes[i + 1] == b'\r' { 3 } else { 2 };
            return (i + skip).min(bytes.len());
        }
        i += 1;
    }
    bytes.len()
}

fn report(rows: &[Row], smoke: bool) {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let dir = std::env::var_os("BENCH_RESULTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench-results"));
    let mut csv = String::from(
        "case,chunk_bytes,corpus_bytes,events,ns_per_pass,mb_per_s,events_per_s,profile,smoke\n",
    );
    println!();
    println!(
        "{:<16} {:>7} {:>11} {:>8} {:>10} {:>14}  ({profile})",
        "case", "chunk", "bytes", "events", "MB/s", "events/s"
    );
    for row in rows {
        let secs = row.ns_per_pass / 1e9;
        let mb_s = row.corpus_bytes as f64 / 1e6 / secs;
        let ev_s = row.events as f64 / secs;
        println!(
            "{:<16} {:>7} {:>11} {:>8} {:>10.1} {:>14.0}",
            row.case, row.chunk, row.corpus_bytes, row.events, mb_s, ev_s
        );
        let _ = writeln!(
            csv,
            "{},{},{},{},{:.0},{:.2},{:.0},{profile},{smoke}",
            row.case, row.chunk, row.corpus_bytes, row.events, row.ns_per_pass, mb_s, ev_s
        );
    }
    let path = dir.join("parser.csv");
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, csv)) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(err) => eprintln!("cannot write {}: {err}", path.display()),
    }
}
