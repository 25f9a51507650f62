//! A deliberately hostile HTTP/1.1 server on raw TCP, for `tests/hostile.rs`.
//!
//! `std::net::TcpListener` on 127.0.0.1:0, one thread per connection, one
//! request per connection (every answer says `Connection: close`); bodies
//! are chunked unless the behaviour is about framing. The
//! request path picks the misbehaviour (see [`Behaviour::from_path`]). What
//! the server observed (requests, how far it got before the client gave up)
//! is kept in a log the test can wait on with a bounded [`Hostile::wait_note`].
//!
//! Everything is bounded: socket reads and writes time out after
//! [`IO_TIMEOUT`], endless behaviours stop after [`ENDLESS_CAP`], and the
//! accept thread stops when the server is dropped.

// Each test uses a different part of the server.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest a single socket read or write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest an endless behaviour keeps going when the client never leaves.
const ENDLESS_CAP: Duration = Duration::from_secs(60);
/// What `/oversized` would send in total: one 64 MiB line without a newline.
pub const OVERSIZED_TOTAL: usize = 64 * 1024 * 1024;
/// Pause between two bytes of `/slow-bytes`.
const SLOW_BYTE_PAUSE: Duration = Duration::from_millis(50);
/// Pause between two events of `/endless`.
const ENDLESS_PAUSE: Duration = Duration::from_millis(50);

/// The data of the events of a valid stream, in order; the last one completes it.
pub const VALID_DATA: &[&str] = &[
    r#"{"Count": 1, "Data": "Event 1"}"#,
    // Two `data:` lines: joined with LF, still one JSON object.
    "{\"Count\": 2,\n\"Data\": \"Event 2\"}",
    r#"{"Data": "Stream completed"}"#,
];

/// A valid seed-shaped stream with `eol` as every line ending: a comment,
/// a `retry`, an `id`, a typed event, a two-line data field and the
/// completion event.
pub fn valid_stream(eol: &str) -> Vec<u8> {
    let mut s = String::new();
    s.push_str(&format!(": hostile test stream{eol}retry: 1000{eol}{eol}"));
    s.push_str(&format!("id: 1{eol}data: {}{eol}{eol}", VALID_DATA[0]));
    let mut lines = VALID_DATA[1].split('\n');
    s.push_str(&format!(
        "id: 2{eol}event: update{eol}data: {}{eol}data: {}{eol}{eol}",
        lines.next().unwrap(),
        lines.next().unwrap()
    ));
    s.push_str(&format!("data: {}{eol}{eol}", VALID_DATA[2]));
    s.into_bytes()
}

/// The smallest valid stream (one event and the completion), for byte-by-byte sending.
pub const SHORT_STREAM: &str =
    "data: {\"Count\": 1, \"Data\": \"a\"}\n\ndata: {\"Data\": \"Stream completed\"}\n\n";

/// One misbehaviour, chosen by the request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// A valid stream, LF line endings, one chunk per event.
    Ok,
    /// The same stream in an HTTP/1.1 body delimited by the connection close
    /// (no Content-Length, no chunked: RFC 9112 §6.3 rule 8).
    OkUntilClose,
    /// The same stream in an HTTP/1.0 answer (body delimited by the close).
    OkHttp10,
    /// The same stream with CRLF line endings.
    Crlf,
    /// The same stream with CR-only line endings.
    Cr,
    /// Reads the request, then never answers; waits for the client to leave.
    NeverAnswer,
    /// Sends SSE headers, then nothing; waits for the client to leave.
    Stall,
    /// [`SHORT_STREAM`], one byte every 50 ms.
    SlowBytes,
    /// `data: ` followed by 64 MiB without a newline.
    Oversized,
    /// An event every 50 ms, forever (until the client leaves or [`ENDLESS_CAP`]).
    Endless,
    /// Headers and one event, then a TCP reset (SO_LINGER 0).
    Reset,
    /// Headers, one event and half of the next (whole chunks), then a clean
    /// close (FIN) without the last `0` chunk.
    CloseMidEvent,
    /// Same, but the close comes inside a chunk (fewer bytes than announced).
    CloseMidChunk,
    /// 429 with `Retry-After: 1` on the first request, a valid stream after.
    Status429ThenOk,
    /// 503 with `Retry-After: 1` on the first request, a valid stream after.
    Status503ThenOk,
    /// Always 400.
    Status400,
    /// Always 500 (no `Retry-After`).
    Status500,
    /// 200 with `text/html`.
    Html,
    /// 200 with a valid stream but no `Content-Type`.
    NoContentType,
    /// A valid stream, gzip-compressed (flushed per event).
    Gzip,
    /// A valid stream in a chunked body of 1..=7-byte chunks.
    ChunkedOdd,
    /// An event whose data holds invalid UTF-8, then completion.
    BadUtf8,
    /// An event whose data is not JSON, then a valid stream.
    MalformedJson,
    /// One event, then `data: {"error": "boom"}`.
    ErrorEvent,
    /// This status (301, 302, 303, 307, 308) to `/ok`.
    Redirect(u16),
    /// 307 to itself, forever.
    RedirectLoop,
    /// `?n=N`: 307 to `?n=N-1`, and at 0 to `/ok` (N redirects in a row).
    RedirectChain,
    /// 302 without `Location`.
    RedirectNoLocation,
    /// This 2xx status other than 200, with a valid stream as its body.
    Status2xx(u16),
    /// A valid stream with `Content-Type: Text/Event-Stream; charset=UTF-8`.
    ContentTypeParams,
    /// `Content-Length: 4096`, one event, then the close (fewer bytes than announced).
    ShortContentLength,
    /// Reads the request, then closes without a byte.
    CloseWithoutAnswer,
    /// Half a response head, then the close.
    CloseMidHead,
    /// First request: `retry: 300`, events `id: 1` and `id: 2`, an `id`
    /// with NUL (ignored), then a close inside a chunk. Later requests with
    /// `Last-Event-ID: 2`: the rest ([`RESUMED_DATA`], the first without an
    /// `id` field); without it: the whole stream again.
    CutThenResume,
}

/// Event data of [`Behaviour::CutThenResume`]: the first request's two
/// events, then what a resumed request gets.
pub const RESUME_DATA: &[&str] = &[
    r#"{"Count": 1, "Data": "Event 1"}"#,
    r#"{"Count": 2, "Data": "Event 2"}"#,
];
/// What [`Behaviour::CutThenResume`] sends after `Last-Event-ID: 2`.
pub const RESUMED_DATA: &[&str] = &[
    r#"{"Count": 3, "Data": "Event 3"}"#,
    r#"{"Data": "Stream completed"}"#,
];

impl Behaviour {
    /// Every behaviour and its path.
    pub const ALL: &'static [(&'static str, Behaviour)] = &[
        ("/ok", Behaviour::Ok),
        ("/ok-until-close", Behaviour::OkUntilClose),
        ("/ok-http10", Behaviour::OkHttp10),
        ("/crlf", Behaviour::Crlf),
        ("/cr", Behaviour::Cr),
        ("/never-answer", Behaviour::NeverAnswer),
        ("/stall", Behaviour::Stall),
        ("/slow-bytes", Behaviour::SlowBytes),
        ("/oversized", Behaviour::Oversized),
        ("/endless", Behaviour::Endless),
        ("/reset", Behaviour::Reset),
        ("/close-mid-event", Behaviour::CloseMidEvent),
        ("/close-mid-chunk", Behaviour::CloseMidChunk),
        ("/status-429-then-ok", Behaviour::Status429ThenOk),
        ("/status-503-then-ok", Behaviour::Status503ThenOk),
        ("/status-400", Behaviour::Status400),
        ("/status-500", Behaviour::Status500),
        ("/html", Behaviour::Html),
        ("/no-content-type", Behaviour::NoContentType),
        ("/gzip", Behaviour::Gzip),
        ("/chunked-odd", Behaviour::ChunkedOdd),
        ("/bad-utf8", Behaviour::BadUtf8),
        ("/malformed-json", Behaviour::MalformedJson),
        ("/error-event", Behaviour::ErrorEvent),
        ("/redirect", Behaviour::Redirect(307)),
        ("/redirect-loop", Behaviour::RedirectLoop),
        // Issue 17: framing, status rules, resume, messages.
        ("/ok-until-close-text", Behaviour::OkUntilClose),
        ("/close-mid-event-text", Behaviour::CloseMidEvent),
        ("/close-mid-chunk-text", Behaviour::CloseMidChunk),
        ("/short-content-length", Behaviour::ShortContentLength),
        ("/close-without-answer", Behaviour::CloseWithoutAnswer),
        ("/close-mid-head", Behaviour::CloseMidHead),
        ("/redirect-301", Behaviour::Redirect(301)),
        ("/redirect-302", Behaviour::Redirect(302)),
        ("/redirect-303", Behaviour::Redirect(303)),
        ("/redirect-308", Behaviour::Redirect(308)),
        ("/redirect-chain", Behaviour::RedirectChain),
        ("/redirect-no-location", Behaviour::RedirectNoLocation),
        ("/status-201", Behaviour::Status2xx(201)),
        ("/status-204", Behaviour::Status2xx(204)),
        ("/content-type-params", Behaviour::ContentTypeParams),
        ("/cut-then-resume", Behaviour::CutThenResume),
        ("/cut-then-restart", Behaviour::CutThenResume),
    ];

    /// The behaviour for a request path (query string ignored).
    pub fn from_path(path: &str) -> Option<Behaviour> {
        let path = path.split('?').next().unwrap_or(path);
        Self::ALL.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
    }
}

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Request {
    /// `POST`, `GET`…
    pub method: String,
    /// The request target.
    pub path: String,
    /// Header lines, as sent (name lower-cased).
    pub headers: Vec<(String, String)>,
    /// The body (Content-Length bytes).
    pub body: Vec<u8>,
}

#[derive(Default)]
struct Log {
    requests: Vec<Request>,
    notes: Vec<String>,
}

struct Shared {
    stop: AtomicBool,
    log: Mutex<Log>,
    changed: Condvar,
}

impl Shared {
    fn note(&self, note: String) {
        self.log.lock().unwrap().notes.push(note);
        self.changed.notify_all();
    }

    /// Paces a slow behaviour: waits `pause`, or less when the server is
    /// dropped (then false: stop sending).
    fn pause(&self, pause: Duration) -> bool {
        let deadline = Instant::now() + pause;
        let mut log = self.log.lock().unwrap();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            log = self.changed.wait_timeout(log, deadline - now).unwrap().0;
        }
    }
}

/// The hostile server; stops accepting when dropped.
pub struct Hostile {
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Hostile {
    /// Binds 127.0.0.1:0 and starts accepting.
    pub fn start() -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            log: Mutex::new(Log::default()),
            changed: Condvar::new(),
        });
        let accept_shared = shared.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = accept_shared.clone();
                std::thread::spawn(move || {
                    if let Err(err) = handle(conn, &shared) {
                        shared.note(format!("connection error: {err}"));
                    }
                });
            }
        });
        Hostile {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far whose path is `path`.
    pub fn requests(&self, path: &str) -> Vec<Request> {
        self.shared
            .log
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Every note so far.
    pub fn notes(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().notes.clone()
    }

    /// Waits (at most `within`) for a note starting with `prefix`.
    pub fn wait_note(&self, prefix: &str, within: Duration) -> Option<String> {
        self.wait_notes(prefix, 1, within)
            .map(|mut notes| notes.remove(0))
    }

    /// Waits (at most `within`) for `count` notes starting with `prefix`.
    pub fn wait_notes(&self, prefix: &str, count: usize, within: Duration) -> Option<Vec<String>> {
        let deadline = Instant::now() + within;
        let mut log = self.shared.log.lock().unwrap();
        loop {
            let found: Vec<String> = log
                .notes
                .iter()
                .filter(|n| n.starts_with(prefix))
                .cloned()
                .collect();
            if found.len() >= count {
                return Some(found);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            log = self
                .shared
                .changed
                .wait_timeout(log, deadline - now)
                .unwrap()
                .0;
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake paced behaviours so they end now.
        {
            let _log = self.shared.log.lock().unwrap();
            self.shared.changed.notify_all();
        }
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

/// Reads one request: head up to the blank line, then Content-Length bytes.
fn read_request(conn: &mut TcpStream) -> io::Result<Option<Request>> {
    const MAX_HEAD: usize = 64 * 1024;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::other("request head too large"));
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(None); // e.g. the Drop wake-up connection
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Blocks until the client closes its side (read returns 0 or fails) or the read times out.
fn wait_for_client_close(conn: &mut TcpStream) -> &'static str {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + ENDLESS_CAP;
    while Instant::now() < deadline {
        match conn.read(&mut buf) {
            Ok(0) => return "client closed",
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return "read timed out",
            Err(err) if err.kind() == io::ErrorKind::TimedOut => return "read timed out",
            Err(_) => return "client closed",
        }
    }
    "gave up waiting"
}

/// The head of a 200 `text/event-stream` answer with a chunked body.
fn sse_head(extra: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n{extra}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
}

/// One chunk of a chunked body (nothing for empty data: a 0 chunk ends the body).
fn chunk(conn: &mut TcpStream, data: &[u8]) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    conn.write_all(&out)
}

/// The last chunk, then the close.
fn end_chunks(mut conn: TcpStream) -> io::Result<()> {
    conn.write_all(b"0\r\n\r\n")?;
    finish(conn);
    Ok(())
}

/// Each event of `body` (split after its blank line) as one chunk.
fn chunk_events(conn: &mut TcpStream, body: &[u8], eol: &[u8]) -> io::Result<()> {
    let blank: Vec<u8> = [eol, eol].concat();
    let mut rest = body;
    while !rest.is_empty() {
        let end = find(rest, &blank).map_or(rest.len(), |i| i + blank.len());
        chunk(conn, &rest[..end])?;
        rest = &rest[end..];
    }
    Ok(())
}

fn empty_answer(status: &str, extra: &str) -> String {
    format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n")
}

/// Ends a response: FIN, then wait for the client's close.
fn finish(mut conn: TcpStream) {
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
    let _ = wait_for_client_close(&mut conn);
}

fn handle(mut conn: TcpStream, shared: &Shared) -> io::Result<()> {
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    conn.set_nodelay(true)?;
    let Some(request) = read_request(&mut conn)? else {
        return Ok(());
    };
    let path = request.path.clone();
    let last_event_id = request
        .headers
        .iter()
        .find(|(k, _)| k == "last-event-id")
        .map(|(_, v)| v.clone());
    let seen_before = {
        let mut log = shared.log.lock().unwrap();
        let n = log.requests.iter().filter(|r| r.path == path).count();
        log.requests.push(request);
        n
    };
    shared.changed.notify_all();
    let Some(behaviour) = Behaviour::from_path(&path) else {
        conn.write_all(empty_answer("404 Not Found", "").as_bytes())?;
        finish(conn);
        return Ok(());
    };
    match behaviour {
        Behaviour::Ok | Behaviour::Crlf | Behaviour::Cr => {
            let eol = match behaviour {
                Behaviour::Ok => "\n",
                Behaviour::Crlf => "\r\n",
                _ => "\r",
            };
            conn.write_all(sse_head("").as_bytes())?;
            chunk_events(&mut conn, &valid_stream(eol), eol.as_bytes())?;
            end_chunks(conn)?;
        }
        Behaviour::OkUntilClose | Behaviour::OkHttp10 => {
            // No Content-Length, no Transfer-Encoding: the close ends the body.
            let version = if behaviour == Behaviour::OkHttp10 {
                "1.0"
            } else {
                "1.1"
            };
            conn.write_all(
                format!("HTTP/{version} 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )?;
            conn.write_all(&valid_stream("\n"))?;
            finish(conn);
        }
        Behaviour::NeverAnswer => {
            let how = wait_for_client_close(&mut conn);
            shared.note(format!("never-answer: {how}"));
        }
        Behaviour::Stall => {
            conn.write_all(sse_head("").as_bytes())?;
            let how = wait_for_client_close(&mut conn);
            shared.note(format!("stall: {how}"));
        }
        Behaviour::SlowBytes => {
            conn.write_all(sse_head("").as_bytes())?;
            for byte in SHORT_STREAM.as_bytes() {
                chunk(&mut conn, std::slice::from_ref(byte))?;
                if !shared.pause(SLOW_BYTE_PAUSE) {
                    return Ok(());
                }
            }
            shared.note("slow-bytes: sent all".to_owned());
            end_chunks(conn)?;
        }
        Behaviour::Oversized => {
            conn.write_all(sse_head("").as_bytes())?;
            chunk(&mut conn, b"data: ")?;
            let block = vec![b'x'; 64 * 1024];
            let mut sent = 0usize;
            let mut error = None;
            while sent < OVERSIZED_TOTAL {
                match chunk(&mut conn, &block) {
                    Ok(()) => sent += block.len(),
                    Err(err) => {
                        error = Some(err);
                        break;
                    }
                }
            }
            match error {
                Some(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    shared.note(format!("oversized: write timed out after {sent} bytes"));
                }
                Some(_) => shared.note(format!("oversized: client closed after {sent} bytes")),
                None => {
                    shared.note(format!("oversized: sent all {sent} bytes"));
                    end_chunks(conn)?;
                }
            }
        }
        Behaviour::Endless => {
            conn.write_all(sse_head("").as_bytes())?;
            let started = Instant::now();
            let mut n = 0u64;
            loop {
                n += 1;
                let event = format!("data: {{\"Count\": {n}, \"Data\": \"Event {n}\"}}\n\n");
                if chunk(&mut conn, event.as_bytes()).is_err() {
                    shared.note(format!("endless: client closed after {n} events"));
                    break;
                }
                if started.elapsed() > ENDLESS_CAP || !shared.pause(ENDLESS_PAUSE) {
                    shared.note(format!("endless: gave up after {n} events"));
                    break;
                }
            }
        }
        Behaviour::Reset => {
            conn.write_all(sse_head("").as_bytes())?;
            chunk(&mut conn, format!("data: {}\n\n", VALID_DATA[0]).as_bytes())?;
            // SO_LINGER 0: close() sends RST instead of FIN.
            let socket = tokio::net::TcpSocket::from_std_stream(conn);
            socket.set_zero_linger()?;
            drop(socket);
            shared.note("reset: sent RST".to_owned());
        }
        Behaviour::CloseMidEvent => {
            // Whole chunks; the connection closes after half an event, without the 0 chunk.
            conn.write_all(sse_head("").as_bytes())?;
            chunk(&mut conn, format!("data: {}\n\n", VALID_DATA[0]).as_bytes())?;
            chunk(&mut conn, b"data: {\"Count\": 2, \"Da")?;
            shared.note("close-mid-event: closing".to_owned());
            finish(conn);
        }
        Behaviour::CloseMidChunk => {
            conn.write_all(sse_head("").as_bytes())?;
            chunk(&mut conn, format!("data: {}\n\n", VALID_DATA[0]).as_bytes())?;
            // A chunk announced longer than what is sent, then the close.
            let partial = b"data: {\"Count\": 2, \"Da";
            conn.write_all(format!("{:x}\r\n", partial.len() + 10).as_bytes())?;
            conn.write_all(partial)?;
            shared.note("close-mid-chunk: closing".to_owned());
            finish(conn);
        }
        Behaviour::Status429ThenOk | Behaviour::Status503ThenOk => {
            if seen_before == 0 {
                let status = if behaviour == Behaviour::Status429ThenOk {
                    "429 Too Many Requests"
                } else {
                    "503 Service Unavailable"
                };
                conn.write_all(empty_answer(status, "Retry-After: 1\r\n").as_bytes())?;
                finish(conn);
            } else {
                conn.write_all(sse_head("").as_bytes())?;
                chunk_events(&mut conn, &valid_stream("\n"), b"\n")?;
                end_chunks(conn)?;
            }
        }
        Behaviour::Status400 => {
            conn.write_all(empty_answer("400 Bad Request", "").as_bytes())?;
            finish(conn);
        }
        Behaviour::Status500 => {
            conn.write_all(empty_answer("500 Internal Server Error", "").as_bytes())?;
            finish(conn);
        }
        Behaviour::Html => {
            let body = "<html><body>not an event stream</body></html>";
            conn.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )?;
            finish(conn);
        }
        Behaviour::NoContentType => {
            conn.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            )?;
            chunk_events(&mut conn, &valid_stream("\n"), b"\n")?;
            end_chunks(conn)?;
        }
        Behaviour::Gzip => {
            conn.write_all(sse_head("Content-Encoding: gzip\r\n").as_bytes())?;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let body = valid_stream("\n");
            // Compressed and sent line by line (sync-flushed), as a streaming server would.
            for part in body.split_inclusive(|b| *b == b'\n') {
                gz.write_all(part)?;
                gz.flush()?;
                let out = std::mem::take(gz.get_mut());
                chunk(&mut conn, &out)?;
            }
            let rest = gz.finish()?;
            chunk(&mut conn, &rest)?;
            end_chunks(conn)?;
        }
        Behaviour::ChunkedOdd => {
            conn.write_all(sse_head("").as_bytes())?;
            let body = valid_stream("\n");
            let mut at = 0;
            let mut size = 1;
            while at < body.len() {
                let end = (at + size).min(body.len());
                chunk(&mut conn, &body[at..end])?;
                at = end;
                size = size % 7 + 1;
            }
            end_chunks(conn)?;
        }
        Behaviour::BadUtf8 => {
            conn.write_all(sse_head("").as_bytes())?;
            chunk(
                &mut conn,
                b"data: {\"Count\": 1, \"Data\": \"bad \xff\xfe bytes\"}\n\n",
            )?;
            chunk(&mut conn, format!("data: {}\n\n", VALID_DATA[2]).as_bytes())?;
            end_chunks(conn)?;
        }
        Behaviour::MalformedJson => {
            conn.write_all(sse_head("").as_bytes())?;
            chunk(&mut conn, b"data: {not json at all\n\n")?;
            chunk_events(&mut conn, &valid_stream("\n"), b"\n")?;
            end_chunks(conn)?;
        }
        Behaviour::ErrorEvent => {
            conn.write_all(sse_head("").as_bytes())?;
            chunk(&mut conn, format!("data: {}\n\n", VALID_DATA[0]).as_bytes())?;
            chunk(&mut conn, b"data: {\"error\": \"boom\"}\n\n")?;
            // The stream would go on; the client must stop at the error.
            chunk(&mut conn, format!("data: {}\n\n", VALID_DATA[2]).as_bytes())?;
            end_chunks(conn)?;
        }
        Behaviour::Redirect(status) => {
            let location = "Location: /ok\r\n";
            conn.write_all(empty_answer(&format!("{status} Moved"), location).as_bytes())?;
            finish(conn);
        }
        Behaviour::RedirectChain => {
            let n: u32 = path
                .split_once("?n=")
                .and_then(|(_, n)| n.parse().ok())
                .unwrap_or(0);
            let location = match n {
                0 => "Location: /ok\r\n".to_owned(),
                n => format!("Location: /redirect-chain?n={}\r\n", n - 1),
            };
            conn.write_all(empty_answer("307 Temporary Redirect", &location).as_bytes())?;
            finish(conn);
        }
        Behaviour::RedirectNoLocation => {
            conn.write_all(empty_answer("302 Found", "").as_bytes())?;
            finish(conn);
        }
        Behaviour::Status2xx(status) => {
            let head = sse_head("").replacen("200 OK", &format!("{status} Other"), 1);
            conn.write_all(head.as_bytes())?;
            if status != 204 {
                chunk_events(&mut conn, &valid_stream("\n"), b"\n")?;
            }
            end_chunks(conn)?;
        }
        Behaviour::ContentTypeParams => {
            let head =
                sse_head("").replacen("text/event-stream", "Text/Event-Stream; charset=UTF-8", 1);
            conn.write_all(head.as_bytes())?;
            chunk_events(&mut conn, &valid_stream("\n"), b"\n")?;
            end_chunks(conn)?;
        }
        Behaviour::ShortContentLength => {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n")?;
            conn.write_all(format!("data: {}\n\n", VALID_DATA[0]).as_bytes())?;
            shared.note("short-content-length: closing".to_owned());
            finish(conn);
        }
        Behaviour::CloseWithoutAnswer => {
            shared.note("close-without-answer: closing".to_owned());
            finish(conn);
        }
        Behaviour::CloseMidHead => {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Ty")?;
            finish(conn);
        }
        Behaviour::CutThenResume => {
            conn.write_all(sse_head("").as_bytes())?;
            if seen_before > 0 && last_event_id.as_deref() == Some("2") {
                for data in RESUMED_DATA {
                    chunk(&mut conn, format!("data: {data}\n\n").as_bytes())?;
                }
                return end_chunks(conn);
            }
            chunk(&mut conn, b"retry: 300\n\n")?;
            for (i, data) in RESUME_DATA.iter().enumerate() {
                chunk(
                    &mut conn,
                    format!("id: {}\ndata: {data}\n\n", i + 1).as_bytes(),
                )?;
            }
            // WHATWG: an `id` holding NUL is ignored; the last ID stays 2.
            chunk(&mut conn, b"id: 2\0x\n\n")?;
            if seen_before > 0 {
                for data in RESUMED_DATA {
                    chunk(&mut conn, format!("data: {data}\n\n").as_bytes())?;
                }
                return end_chunks(conn);
            }
            let partial = b"data: {\"Count\": 3, \"Da";
            conn.write_all(format!("{:x}\r\n", partial.len() + 10).as_bytes())?;
            conn.write_all(partial)?;
            finish(conn);
        }
        Behaviour::RedirectLoop => {
            let answer = empty_answer("307 Temporary Redirect", "Location: /redirect-loop\r\n");
            conn.write_all(answer.as_bytes())?;
            finish(conn);
        }
    }
    Ok(())
}
