//! End-to-end tests of the embedded server over real sockets (127.0.0.1:0)
//! with an awc client: wire format, overrides, every fault knob, `/stats`,
//! and the shutdown/restart fault.

use std::{io::ErrorKind, net::SocketAddr, time::Duration};

use actix_web::http::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const SEED_BODY: &str = "data: {\"Count\": 1, \"Data\": \"Event 1\"}\n\n\
data: {\"Count\": 2, \"Data\": \"Event 2\"}\n\n\
data: {\"Count\": 3, \"Data\": \"Event 3\"}\n\n\
data: {\"Count\": 4, \"Data\": \"Event 4\"}\n\n\
data: {\"Data\": \"Stream completed\"}\n\n";

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn fast() -> ServerConfig {
    ServerConfig {
        interval: Duration::ZERO,
        ..ServerConfig::default()
    }
}

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish()
}

/// A minimal HTTP/1.1 client on a raw socket. It exists because it can tell
/// whether a chunked body ended with its last chunk: awc 3 reports an EOF in
/// the middle of a chunked body as a clean end of the body.
struct Raw {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

/// What [`Raw`] received, parsed.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// The body ended properly (last chunk or full Content-Length).
    complete: bool,
}

impl Raw {
    async fn post(server: &EmbeddedServer, content_type: &str, body: &str) -> Raw {
        let mut stream = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .expect("connect");
        let request = format!(
            "POST /trigger_invocation HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("request written");
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    async fn post_json(server: &EmbeddedServer, body: Value) -> Raw {
        Raw::post(server, "application/json", &body.to_string()).await
    }

    /// Reads until `needle` has arrived; false if the connection ended first.
    async fn read_until(&mut self, needle: &[u8]) -> bool {
        loop {
            if self.buf.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
            if self.read_some().await == 0 {
                return false;
            }
        }
    }

    /// Reads once; 0 on EOF or a connection error (a reset is an end too).
    async fn read_some(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Reads to the end of the connection and parses the response.
    async fn finish(mut self) -> RawResponse {
        while self.read_some().await > 0 {}
        parse(&self.buf)
    }
}

fn parse(raw: &[u8]) -> RawResponse {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut rest = &raw[head_end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let (body, complete) = if chunked {
        let mut body = Vec::new();
        let mut complete = false;
        while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(&String::from_utf8_lossy(&rest[..line_end]), 16)
                .expect("chunk size");
            if size == 0 {
                complete = true;
                break;
            }
            let data = &rest[line_end + 2..];
            if data.len() < size + 2 {
                body.extend_from_slice(&data[..data.len().min(size)]);
                break;
            }
            body.extend_from_slice(&data[..size]);
            rest = &data[size + 2..];
        }
        (body, complete)
    } else {
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        (rest.to_vec(), length.is_none_or(|n| n == rest.len()))
    };
    RawResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        complete,
    }
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Ok(body)` for a body that ended properly, `Err(what arrived)` for a cut one.
    fn result(&self) -> Result<&str, &str> {
        if self.complete {
            Ok(&self.body)
        } else {
            Err(&self.body)
        }
    }
}

/// Polls `check` until it holds (a bounded readiness poll, not a timing assertion).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Posts `body` as JSON and reads the whole response.
async fn post(server: &EmbeddedServer, body: Value) -> RawResponse {
    Raw::post_json(server, body).await.finish().await
}

#[actix_rt::test]
async fn default_stream_matches_the_seed_exactly() {
    let server = EmbeddedServer::start(ServerConfig::default(), any_port())
        .await
        .expect("server starts");
    let response = post(&server, json!({"query": "test query"})).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    assert_eq!(response.result(), Ok(SEED_BODY));
    assert_eq!(
        server.stats(),
        StatsSnapshot {
            streams_started: 1,
            streams_completed: 1,
            streams_cut: 0,
            events_sent: 5,
            requests: 1,
            rejected: 0,
            ..StatsSnapshot::default()
        }
    );
    server.stop().await;
}

#[actix_rt::test]
async fn awc_reads_the_default_stream() {
    let server = EmbeddedServer::start(fast(), any_port())
        .await
        .expect("server starts");
    let mut response = client()
        .post(format!("{}/trigger_invocation", server.base_url()))
        .send_json(&json!({"query": "test query"}))
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.body().await.expect("body");
    assert_eq!(body, SEED_BODY.as_bytes());
    server.stop().await;
}

#[actix_rt::test]
async fn body_overrides_and_lenient_parsing() {
    let server = EmbeddedServer::start(fast(), any_port())
        .await
        .expect("server starts");
    let done = "data: {\"Data\": \"Stream completed\"}\n\n";
    let padded =
        |n: u32| format!("data: {{\"Count\": {n}, \"Data\": \"Event {n}\", \"Pad\": \"xxx\"}}\n\n");
    let cases = [
        (
            json!({"query": "q", "events": 2, "payload_bytes": 3, "first_delay_ms": 5}),
            format!("{}{}{done}", padded(1), padded(2)),
        ),
        (json!({"events": 0}), done.to_owned()),
        (json!({"events": "bogus"}), SEED_BODY.to_owned()),
        (
            json!({"events": 1, "interval_ms": 20}),
            format!("data: {{\"Count\": 1, \"Data\": \"Event 1\"}}\n\n{done}"),
        ),
    ];
    for (body, expected) in cases {
        let response = post(&server, body.clone()).await;
        assert_eq!(response.result(), Ok(expected.as_str()), "body {body}");
    }
    // Any content type, and a body that is not JSON, means defaults.
    for (content_type, body) in [
        ("text/plain", "hello"),
        ("application/x-www-form-urlencoded", ""),
        ("application/json", "{\"events\": "),
    ] {
        let response = Raw::post(&server, content_type, body).await.finish().await;
        assert_eq!(response.status, 200);
        assert_eq!(response.result(), Ok(SEED_BODY), "{content_type}: {body:?}");
    }
    server.stop().await;
}

#[actix_rt::test]
async fn status_knobs_and_fail_rate() {
    let server = EmbeddedServer::start(fast(), any_port())
        .await
        .expect("server starts");
    // (body, status, Retry-After)
    let cases = [
        (json!({"status": 503}), 503, Some("1")),
        (json!({"status": 429, "retry_after": 7}), 429, Some("7")),
        (json!({"status": 500}), 500, None),
        (json!({"status": 404}), 404, None),
        (json!({"status": 408, "retry_after": 2}), 408, Some("2")),
    ];
    for (body, status, retry_after) in cases {
        let response = post(&server, body.clone()).await;
        assert_eq!(response.status, status, "body {body}");
        assert_eq!(response.header("retry-after"), retry_after, "body {body}");
        assert!(response.complete);
    }
    assert_eq!(server.stats().rejected, 5);
    assert_eq!(server.stats().streams_started, 0);
    server.stop().await;

    let failing = ServerConfig {
        fail_rate: 1.0,
        ..fast()
    };
    let server = EmbeddedServer::start(failing, any_port())
        .await
        .expect("server starts");
    for _ in 0..3 {
        let response = post(&server, json!({"query": "q"})).await;
        assert_eq!(response.status, 503);
        assert_eq!(response.header("retry-after"), Some("1"));
    }
    let stats = server.stats();
    assert_eq!(
        (stats.requests, stats.rejected, stats.streams_started),
        (3, 3, 0)
    );
    server.stop().await;
}

#[actix_rt::test]
async fn stream_fault_knobs() {
    let server = EmbeddedServer::start(fast(), any_port())
        .await
        .expect("server starts");
    let ev = |n: u32| format!("data: {{\"Count\": {n}, \"Data\": \"Event {n}\"}}\n\n");
    let done = "data: {\"Data\": \"Stream completed\"}\n\n";
    // (body, Ok = clean end with this body, Err = cut after this much)
    let cases: Vec<(Value, Result<String, String>)> = vec![
        (
            json!({"events": 3, "malformed_at": 2}),
            Ok(format!(
                "{}data: {{\"Count\": 2, \"Data\": malformed\n\n{}{done}",
                ev(1),
                ev(3)
            )),
        ),
        (
            json!({"events": 3, "error_at": 2}),
            Ok(format!(
                "{}data: {{\"error\": \"injected error at event 2\"}}\n\n",
                ev(1)
            )),
        ),
        (
            json!({"events": 3, "cut_after": 2}),
            Err(format!("{}{}", ev(1), ev(2))),
        ),
        (json!({"events": 3, "cut_after": 0}), Err(String::new())),
        (
            json!({"events": 2, "cut_after": 2, "interval_ms": 5}),
            Err(format!("{}{}", ev(1), ev(2))),
        ),
        (
            json!({"events": 500, "cut_after": 300}),
            Err((1..=300).map(ev).collect()),
        ),
    ];
    for (body, expected) in cases {
        let response = post(&server, body.clone()).await;
        assert_eq!(response.status, 200);
        let expected = expected
            .as_ref()
            .map(String::as_str)
            .map_err(String::as_str);
        assert_eq!(response.result(), expected, "body {body}");
    }

    let response = post(
        &server,
        json!({"events": 1, "content_type": "application/json"}),
    )
    .await;
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.result(), Ok(format!("{}{done}", ev(1)).as_str()));

    eventually("all streams accounted", || {
        let s = server.stats();
        s.streams_started == 7 && s.streams_completed == 2 && s.streams_cut == 5
    })
    .await;
    server.stop().await;
}

#[actix_rt::test]
async fn stall_sends_k_events_then_holds_until_the_client_leaves() {
    let server = EmbeddedServer::start(fast(), any_port())
        .await
        .expect("server starts");
    let mut raw = Raw::post_json(&server, json!({"events": 1000, "stall_after": 2})).await;
    assert!(raw.read_until(b"\"Event 2\"}\n\n").await);
    // With interval 0 the other 998 events would follow at once if the stall failed.
    let more = actix_rt::time::timeout(Duration::from_millis(300), raw.read_some()).await;
    assert!(more.is_err(), "stalled stream sent more: {more:?}");
    assert!(!raw.buf.windows(7).any(|w| w == b"Event 3"));
    assert_eq!(server.stats().streams_cut, 0, "connection is held open");
    drop(raw);
    eventually("stalled stream dropped after the client left", || {
        server.stats().streams_cut == 1
    })
    .await;
    server.stop().await;
}

#[actix_rt::test]
async fn stats_endpoints_and_routing() {
    let server = EmbeddedServer::start(fast(), any_port())
        .await
        .expect("server starts");
    let url = server.base_url();
    assert!(post(&server, json!({"events": 2})).await.complete);
    assert_eq!(post(&server, json!({"status": 503})).await.status, 503);

    let mut response = client()
        .get(format!("{url}/stats"))
        .send()
        .await
        .expect("stats");
    assert_eq!(response.status(), StatusCode::OK);
    let served: StatsSnapshot = response.json().await.expect("stats JSON");
    assert_eq!(served, server.stats());
    assert_eq!(
        served,
        StatsSnapshot {
            streams_started: 1,
            streams_completed: 1,
            streams_cut: 0,
            events_sent: 3,
            requests: 2,
            rejected: 1,
            ..StatsSnapshot::default()
        }
    );

    let mut response = client()
        .post(format!("{url}/stats/reset"))
        .send()
        .await
        .expect("reset");
    assert_eq!(response.status(), StatusCode::OK);
    let zeroed: StatsSnapshot = response.json().await.expect("stats JSON");
    assert_eq!(zeroed, StatsSnapshot::default());
    assert_eq!(server.stats(), StatsSnapshot::default());

    for (method, path, status) in [
        (
            Method::GET,
            "/trigger_invocation",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::POST, "/stats", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/nope", StatusCode::NOT_FOUND),
    ] {
        let response = client()
            .request(method.clone(), format!("{url}{path}"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), status, "{method} {path}");
    }
    server.stop().await;
}

#[actix_rt::test]
async fn shut_down_refuses_and_cuts_then_restart_serves_on_the_same_port() {
    for workers in [1, 2] {
        let config = ServerConfig { workers, ..fast() };
        let mut server = EmbeddedServer::start(config, any_port())
            .await
            .expect("server starts");
        let addr = server.local_addr();

        // One stream waiting for its next event, one stalled: the shutdown cuts both.
        let mut slow = Raw::post_json(&server, json!({"events": 3, "interval_ms": 60_000})).await;
        let mut stalled = Raw::post_json(&server, json!({"events": 3, "stall_after": 0})).await;
        assert!(slow.read_until(b"\"Event 1\"}\n\n").await);
        assert!(stalled.read_until(b"\r\n\r\n").await);

        server.shut_down().await;
        assert!(!server.is_running());
        let refused = std::net::TcpStream::connect(addr).map_err(|err| err.kind());
        assert_eq!(
            refused.err(),
            Some(ErrorKind::ConnectionRefused),
            "workers {workers}"
        );
        let slow = slow.finish().await;
        assert_eq!(
            slow.result(),
            Err("data: {\"Count\": 1, \"Data\": \"Event 1\"}\n\n")
        );
        assert_eq!(stalled.finish().await.result(), Err(""));
        eventually("cut streams counted", || server.stats().streams_cut == 2).await;

        server.restart().await.expect("restart on the same port");
        assert_eq!(server.local_addr(), addr);
        assert_eq!(
            post(&server, json!({"events": 4})).await.result(),
            Ok(SEED_BODY)
        );
        let stats = server.stats();
        assert_eq!(
            (
                stats.streams_started,
                stats.streams_completed,
                stats.streams_cut
            ),
            (3, 1, 2)
        );

        // A second cycle; shut_down and restart are idempotent.
        server.restart().await.expect("no-op");
        server.shut_down().await;
        server.shut_down().await;
        assert!(std::net::TcpStream::connect(addr).is_err());
        server.restart().await.expect("restart again");
        assert_eq!(post(&server, json!({})).await.result(), Ok(SEED_BODY));
        server.stop().await;
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
