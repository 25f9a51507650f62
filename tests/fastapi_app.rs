//! The FastAPI test app and the embedded server speak the same contract:
//! the same body knobs give the same bodies, statuses and counters. Also
//! exercises `tests/common/fastapi.rs` (start, kill, restart).

mod common;

use std::time::Duration;

use common::fastapi::{require_fastapi, FastApi};
use serde_json::{json, Value};
use streamsoak::server::{EmbeddedServer, ServerConfig, StatsSnapshot};

/// Dechunks a `Transfer-Encoding: chunked` body; `complete` = last chunk seen.
fn dechunk(mut raw: &str) -> (String, bool) {
    let mut body = String::new();
    while let Some((size, rest)) = raw.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 {
            return (body, true);
        }
        if rest.len() < size {
            body.push_str(rest);
            break;
        }
        body.push_str(&rest[..size]);
        raw = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    (body, false)
}

fn post(server: &FastApi, body: &Value) -> (u16, String, bool) {
    let (status, raw) = server
        .request("POST", "/trigger_invocation", &body.to_string())
        .expect("request");
    if status == 200 {
        let (body, complete) = dechunk(&raw);
        (status, body, complete)
    } else {
        (status, raw, true)
    }
}

fn stats(server: &FastApi) -> StatsSnapshot {
    let (status, body) = server.request("GET", "/stats", "").expect("stats");
    assert_eq!(status, 200);
    serde_json::from_str(&body).expect("stats JSON")
}

fn cases() -> Vec<Value> {
    vec![
        json!({"query": "test query", "interval_ms": 0}),
        json!({"events": 2, "interval_ms": 0, "payload_bytes": 5, "first_delay_ms": 1}),
        json!({"events": 0}),
        json!({"events": "bogus", "interval_ms": 0}),
        json!({"events": 3, "interval_ms": 0, "malformed_at": 2}),
        json!({"events": 3, "interval_ms": 0, "error_at": 2}),
        json!({"events": 3, "interval_ms": 0, "cut_after": 2}),
        json!({"events": 3, "interval_ms": 0, "cut_after": 0}),
        json!({"status": 503}),
        json!({"status": 429, "retry_after": 7}),
        json!({"status": 404}),
    ]
}

#[actix_rt::test]
async fn fastapi_app_matches_the_embedded_server() {
    let Some(fastapi) = require_fastapi() else {
        return;
    };
    let config = ServerConfig {
        interval: Duration::ZERO,
        ..ServerConfig::default()
    };
    let embedded = EmbeddedServer::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("embedded server");
    let client = awc::Client::default();
    for body in cases() {
        let (status, text, complete) = post(&fastapi, &body);
        let response = client
            .post(format!("{}/trigger_invocation", embedded.base_url()))
            .send_json(&body)
            .await;
        let mut response = response.expect("embedded request");
        assert_eq!(response.status().as_u16(), status, "status for {body}");
        if status == 200 {
            // Read chunk by chunk: a cut body ends in an error (the patched
            // actix-http decoder reports a chunked body cut before its last
            // chunk as incomplete), and the bytes before it must match too.
            let mut expected = Vec::new();
            let mut ended_cleanly = true;
            while let Some(chunk) = futures_util::StreamExt::next(&mut response).await {
                match chunk {
                    Ok(bytes) => expected.extend_from_slice(&bytes),
                    Err(_) => {
                        ended_cleanly = false;
                        break;
                    }
                }
            }
            assert_eq!(text.as_bytes(), &expected[..], "body for {body}");
            let cut = body.get("cut_after").is_some();
            assert_eq!(complete, !cut, "complete (FastAPI) for {body}");
            assert_eq!(ended_cleanly, !cut, "complete (embedded) for {body}");
        } else {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let expected = match body.get("retry_after") {
                Some(seconds) => Some(seconds.to_string()),
                None if status == 503 => Some("1".to_owned()),
                None => None,
            };
            assert_eq!(retry_after, expected, "retry-after for {body}");
        }
    }
    assert_eq!(stats(&fastapi), embedded.stats());
    embedded.stop().await;
}

#[test]
fn kill_refuses_and_restart_serves_again() {
    let Some(mut fastapi) = require_fastapi() else {
        return;
    };
    assert_eq!(post(&fastapi, &json!({"interval_ms": 0})).0, 200);
    assert_eq!(stats(&fastapi).streams_completed, 1);

    let (status, body) = fastapi.request("POST", "/stats/reset", "").expect("reset");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<StatsSnapshot>(&body).expect("json"),
        StatsSnapshot::default()
    );

    fastapi.kill();
    let refused = std::net::TcpStream::connect(("127.0.0.1", fastapi.port()));
    assert_eq!(
        refused.err().map(|err| err.kind()),
        Some(std::io::ErrorKind::ConnectionRefused)
    );

    fastapi.restart().expect("restart");
    let (status, text, complete) = post(&fastapi, &json!({"events": 1, "interval_ms": 0}));
    assert_eq!((status, complete), (200, true));
    assert!(text.ends_with("data: {\"Data\": \"Stream completed\"}\n\n"));
}
