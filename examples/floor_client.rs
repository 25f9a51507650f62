//! The FLOOR for `scripts/bench.py`: the least a client can do to read the
//! same streams — plain HTTP/1.1 POST over a kept-alive `TcpStream`, the
//! chunked body de-chunked and `"\n\n"` counted, nothing else parsed.
//! `--threads` OS threads each run a current-thread tokio runtime (like
//! streamsoak's one arbiter per core) with their own counters; the
//! `--concurrency` loops of stream → next run until `--duration` ends.
//! `--threads 1` is the one-thread floor: the runtime runs on the main
//! thread and no other thread exists (`--threads 2`, the default, is the
//! per-core floor of a 2-core machine).
//!
//! ```sh
//! cargo run --release --example floor_client -- --target 127.0.0.1:8000 --concurrency 50 --duration 15
//! cargo run --release --example floor_client -- --target 127.0.0.1:8000 --concurrency 50 --duration 15 --threads 1
//! ```

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Events, completed streams, errors: one set per thread (no shared cache line per event).
type Totals = [AtomicU64; 3];

fn main() {
    let (mut target, mut concurrency, mut threads, mut secs) =
        ("127.0.0.1:8000".into(), 50, 2, 15.0);
    let mut args = std::env::args().skip(1);
    while let (Some(flag), Some(value)) = (args.next(), args.next()) {
        let bad = || -> ! {
            eprintln!("usage: floor_client --target HOST:PORT --concurrency N --duration SECS --threads T");
            std::process::exit(2)
        };
        match flag.as_str() {
            "--target" => target = value,
            "--concurrency" => concurrency = value.parse().unwrap_or_else(|_| bad()),
            "--threads" => threads = value.parse().unwrap_or_else(|_| bad()),
            "--duration" => secs = value.parse().unwrap_or_else(|_| bad()),
            _ => bad(),
        }
    }
    let threads: usize = threads.clamp(1, usize::max(concurrency, 1));
    let body = "{\"query\": \"floor\"}";
    let request: Arc<[u8]> = format!(
        "POST /trigger_invocation HTTP/1.1\r\nhost: {target}\r\ncontent-type: application/json\r\n\
         accept: text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
    .into();
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + Duration::from_secs_f64(secs));
    let loops = |t: usize| concurrency / threads + usize::from(t < concurrency % threads);
    let mut sum = [0u64; 3];
    let mut add = |totals: Arc<Totals>| (0..3).for_each(|i| sum[i] += totals[i].load(Relaxed));
    if threads == 1 {
        // The one-thread floor: everything on the main thread, nothing to join.
        add(worker(&target, &request, loops(0), deadline));
    } else {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (target, request, loops) = (target.clone(), Arc::clone(&request), loops(t));
                std::thread::spawn(move || worker(&target, &request, loops, deadline))
            })
            .collect();
        for handle in workers {
            add(handle.join().expect("worker thread"));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let [events, streams, errors] = sum;
    println!(
        "floor events={events} streams={streams} errors={errors} duration_s={secs:.3} events_per_s={:.1}",
        events as f64 / secs
    );
}

/// One thread's share: `loops` sessions on a current-thread runtime until `deadline`.
fn worker(
    target: &str,
    request: &Arc<[u8]>,
    loops: usize,
    deadline: tokio::time::Instant,
) -> Arc<Totals> {
    let totals = Arc::new(Totals::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    rt.expect("tokio runtime").block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..loops {
            let (target, request, totals) =
                (target.to_owned(), Arc::clone(request), Arc::clone(&totals));
            let run = async move { session(&target, &request, &totals).await };
            tasks.spawn(tokio::time::timeout_at(deadline, run));
        }
        while tasks.join_next().await.is_some() {}
    });
    totals
}

/// Streams back to back until cancelled; reconnects when the server closes.
async fn session(target: &str, request: &[u8], totals: &Totals) {
    loop {
        let Ok(conn) = TcpStream::connect(target).await else {
            totals[2].fetch_add(1, Relaxed);
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let mut r = Reader {
            conn,
            buf: Vec::with_capacity(4096),
            pos: 0,
        };
        loop {
            let result = r.stream(request, totals).await;
            totals[if result.is_ok() { 1 } else { 2 }].fetch_add(1, Relaxed);
            if !matches!(result, Ok(true)) {
                break; // error, or the server closes: reconnect
            }
        }
    }
}

/// A connection and its read buffer; `buf[pos..]` is unread.
struct Reader {
    conn: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Reader {
    /// Reads more (compacting first); an EOF is an error: we always expect more.
    async fn fill(&mut self) -> io::Result<()> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        self.buf.reserve(4096);
        match self.conn.read_buf(&mut self.buf).await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }

    /// Reads until `needle` is buffered; consumes both, returns where the text before it is.
    async fn until(&mut self, needle: &[u8]) -> io::Result<std::ops::Range<usize>> {
        loop {
            let rest = &self.buf[self.pos..];
            if let Some(i) = rest.windows(needle.len()).position(|w| w == needle) {
                self.pos += i + needle.len();
                return Ok(self.pos - i - needle.len()..self.pos - needle.len());
            }
            self.fill().await?;
        }
    }

    /// One request and its chunked response; Ok(keep-alive?) at the body's end.
    async fn stream(&mut self, request: &[u8], totals: &Totals) -> io::Result<bool> {
        self.conn.write_all(request).await?;
        let head = self.until(b"\r\n\r\n").await?;
        let head = String::from_utf8_lossy(&self.buf[head]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") || !head.contains("transfer-encoding: chunked") {
            return Err(io::Error::other(head));
        }
        let mut prev_lf = false;
        loop {
            let line = self.until(b"\r\n").await?;
            let hex = self.buf[line]
                .iter()
                .map_while(|&b| (b as char).to_digit(16));
            let mut left = hex.fold(0usize, |n, digit| n * 16 + digit as usize);
            if left == 0 {
                self.until(b"\r\n").await?; // our server sends no trailers
                return Ok(!head.contains("connection: close"));
            }
            while left > 0 {
                if self.pos == self.buf.len() {
                    self.fill().await?;
                }
                let take = left.min(self.buf.len() - self.pos);
                let mut events = 0;
                for &b in &self.buf[self.pos..self.pos + take] {
                    let lf = b == b'\n';
                    events += u64::from(lf && prev_lf);
                    prev_lf = lf && !prev_lf;
                }
                totals[0].fetch_add(events, Relaxed);
                self.pos += take;
                left -= take;
            }
            self.until(b"\r\n").await?;
        }
    }
}
