//! `streamsoak stream` against the real FastAPI + uvicorn app: a complete
//! stream matches the server's own counts, and a server killed mid-stream
//! (then restarted) is seen as a cut, retried, and completed.

mod common;
mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::fastapi::require_fastapi;
use support::{bin, run, show};

/// The value of a `Name: value` line of the metrics block.
fn metric(out: &str, name: &str) -> String {
    let prefix = format!("{name}: ");
    out.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{name}:` line in:\n{out}"))
        .to_owned()
}

fn stats(server: &common::fastapi::FastApi) -> streamsoak::server::StatsSnapshot {
    let (status, body) = server.request("GET", "/stats", "").expect("GET /stats");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("stats JSON")
}

#[test]
fn completes_against_fastapi_and_matches_its_counts() {
    let Some(fastapi) = require_fastapi() else {
        return;
    };
    let url = format!("{}/trigger_invocation", fastapi.base_url);
    let output = run(&[
        "stream",
        "--url",
        &url,
        "--body",
        r#"{"query":"test query","interval_ms":10}"#,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("Event 1: Event 1"), "{out}");
    assert!(out.contains("Message: Stream completed"), "{out}");
    assert!(out.contains("Stream completed successfully"), "{out}");
    assert!(out.contains("Total responses collected: 5"), "{out}");

    let printed: u64 = metric(&out, "Total Events").parse().expect("a number");
    let server = stats(&fastapi);
    assert_eq!(
        server.events_sent, printed,
        "server vs client events: {server:?}"
    );
    assert_eq!(
        (
            server.requests,
            server.streams_completed,
            server.streams_cut
        ),
        (1, 1, 0),
        "{server:?}"
    );
}

#[test]
fn server_killed_mid_stream_is_a_cut_then_retried_after_restart() {
    let Some(mut fastapi) = require_fastapi() else {
        return;
    };
    // Deterministic retries: no jitter, short steps, a breaker that stays
    // closed, and enough attempts (about 20 s) to cover uvicorn's restart.
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("retry.toml");
    std::fs::write(
        &policy,
        r#"name = "kill-restart"

[retry]
max_retries = 20
backoff = { base = "200ms", factor = 1.5, max = "1s", jitter = "none" }

[breaker]
failure_threshold = 100
"#,
    )
    .expect("write scenario");
    let url = format!("{}/trigger_invocation", fastapi.base_url);
    let mut child = bin()
        .args(["stream", "--url", &url, "--scenario"])
        .arg(&policy)
        .args(["--body", r#"{"query":"q","events":10,"interval_ms":300}"#])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("streamsoak runs");

    // Forward stdout lines; `None` marks the end of output.
    let (tx, rx) = mpsc::channel::<Option<String>>();
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(Some(line)).is_err() {
                break;
            }
        }
        let _ = tx.send(None);
    });
    let stderr = child.stderr.take().expect("piped stderr");
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    let mut next_line = |lines: &mut Vec<String>| -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Some(line)) => {
                lines.push(line.clone());
                Some(line)
            }
            Ok(None) => None,
            Err(err) => {
                let _ = child.kill();
                panic!(
                    "streamsoak stream still running after 60 s ({err}); output so far:\n{lines:?}"
                )
            }
        }
    };
    loop {
        match next_line(&mut lines) {
            Some(line) if line.starts_with("Event 2:") => break,
            Some(_) => {}
            None => panic!("the stream ended before event 2: {lines:?}"),
        }
    }
    // Mid-stream (8 more events to come): the server dies, then comes back.
    fastapi.kill();
    fastapi.restart().expect("uvicorn restarts");
    while next_line(&mut lines).is_some() {}
    let status = child.wait().expect("streamsoak exits");
    reader.join().expect("stdout reader");
    let err = err_reader.join().expect("stderr reader");
    let out = lines.join("\n");

    assert!(!err.contains("panicked"), "{err}");
    let first_failure = err
        .lines()
        .find(|l| l.starts_with("attempt 1 failed:"))
        .unwrap_or_else(|| panic!("the kill fails attempt 1:\n{err}"));
    // SIGKILL closes uvicorn's sockets with a FIN (it had read the whole
    // request, so nothing unread makes the kernel send a RST): the chunked
    // body ends without its last chunk and the completion event, which is a
    // cut (as `/close-mid-event` in tests/hostile.rs), not a reset.
    assert!(
        first_failure.starts_with("attempt 1 failed: stream/cut: "),
        "a killed server is a cut: {first_failure}"
    );
    assert!(err.contains("retry 1 in"), "the cut is retried:\n{err}");
    assert_eq!(
        status.code(),
        Some(0),
        "completes after the restart\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    assert!(out.contains("Stream completed successfully"), "{out}");
    let attempts: u32 = metric(&out, "Attempts").parse().expect("a number");
    assert!(attempts >= 2, "{out}");
    // Only the successful attempt's responses are kept: 10 events + completion.
    assert!(out.contains("Total responses collected: 11"), "{out}");

    // The restarted server counts from zero: exactly the one good stream.
    let server = stats(&fastapi);
    assert_eq!(server.streams_completed, 1, "{server:?}");
    assert_eq!(server.events_sent, 11, "{server:?}");
}
