//! `streamsoak stream` (the seed's single client) as a user runs it: against
//! a `streamsoak serve` process, checking its output, exit codes, retries and
//! `--events-out`, with the server's own `GET /stats` as the oracle.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::process::Stdio;

use serde_json::{json, Value};
use support::{bin, run, show, ServeProcess};

/// A server whose streams take about 40 ms (4 events, 10 ms apart).
fn fast_server() -> ServeProcess {
    ServeProcess::start(&["--events", "4", "--interval", "10ms"])
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The value of a `Name: value` line of the metrics block.
fn metric(out: &str, name: &str) -> String {
    let prefix = format!("{name}: ");
    out.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{name}:` line in:\n{out}"))
        .to_owned()
}

#[test]
fn streams_prints_events_metrics_and_collected_responses() {
    let server = fast_server();
    let url = server.url();
    let output = run(&["stream", "--url", &url, "--query", "hello"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("Starting stream to {url}"), "{out}");
    let events: Vec<&str> = lines
        .iter()
        .copied()
        .skip_while(|l| !l.starts_with("Event 1:"))
        .take(5)
        .collect();
    assert_eq!(
        events,
        [
            "Event 1: Event 1",
            "Event 2: Event 2",
            "Event 3: Event 3",
            "Event 4: Event 4",
            "Message: Stream completed"
        ],
        "{out}"
    );
    assert!(out.contains("=== Streaming Metrics ==="), "{out}");
    assert_eq!(metric(&out, "Attempts"), "1");
    assert_eq!(metric(&out, "Total Events"), "5");
    assert_eq!(metric(&out, "Successful"), "1");
    assert_eq!(metric(&out, "Failed"), "0");
    assert_eq!(metric(&out, "Retries"), "0");
    assert_eq!(metric(&out, "Success Rate"), "100.0%");
    assert!(out.contains("Stream completed successfully"), "{out}");
    assert!(out.contains("=== Collected Response Data ==="), "{out}");
    assert!(out.contains("Total responses collected: 5"), "{out}");

    let stats = server.stats();
    assert_eq!(
        (stats.requests, stats.streams_completed, stats.events_sent),
        (1, 1, 5),
        "the server saw one complete stream of 5 events: {stats:?}"
    );
}

#[test]
fn events_out_writes_one_json_line_per_event() {
    let server = fast_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.jsonl");
    let output = bin()
        .args(["stream", "--url", &server.url(), "--events-out"])
        .arg(&file)
        .output()
        .expect("streamsoak runs");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));

    let text = std::fs::read_to_string(&file).expect("--events-out file written");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|err| panic!("JSON line ({err}): {l}")))
        .collect();
    assert_eq!(
        lines.len(),
        5,
        "one line per event (4 + completion):\n{text}"
    );
    let mut last_t = 0.0;
    for line in &lines {
        let object = line.as_object().expect("each line is an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["data", "event", "id", "t_ms"], "{line}");
        assert_eq!(line["event"], "message", "{line}");
        assert!(line["id"].is_string(), "{line}");
        let t = line["t_ms"].as_f64().expect("t_ms is a number");
        assert!(t >= last_t, "t_ms never goes back: {text}");
        last_t = t;
    }
    let data = |i: usize| -> Value {
        serde_json::from_str(lines[i]["data"].as_str().expect("data is a string"))
            .expect("data is the server's JSON")
    };
    assert_eq!(data(0), json!({"Count": 1, "Data": "Event 1"}));
    assert_eq!(data(3), json!({"Count": 4, "Data": "Event 4"}));
    assert_eq!(data(4), json!({"Data": "Stream completed"}));
}

#[test]
fn status_4xx_fails_at_once_without_retry() {
    let server = fast_server();
    let output = run(&[
        "stream",
        "--url",
        &server.url(),
        "--body",
        r#"{"query":"x","status":400}"#,
        "--retries",
        "3",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(all.contains("status-4xx"), "{all}");
    assert_eq!(
        metric(&stdout(&output), "Attempts"),
        "1",
        "4xx is never retried"
    );
    assert_eq!(server.stats().requests, 1, "the server saw one request");
}

#[test]
fn status_503_is_retried_up_to_the_limit() {
    let server = fast_server();
    let output = run(&[
        "stream",
        "--url",
        &server.url(),
        "--body",
        r#"{"status":503,"retry_after":0}"#,
        "--retries",
        "2",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let out = stdout(&output);
    assert_eq!(metric(&out, "Attempts"), "3", "first attempt + 2 retries");
    assert_eq!(metric(&out, "Retries"), "2");
    assert_eq!(metric(&out, "Failed"), "3");
    assert!(out.contains("status-5xx"), "{out}");
    let stats = server.stats();
    assert_eq!((stats.requests, stats.rejected), (3, 3), "{stats:?}");
}

#[test]
fn connection_refused_is_classified_and_explained() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}/trigger_invocation");
    let output = run(&["stream", "--url", &url, "--retries", "1"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(all.contains("connect-refused"), "{all}");
    assert!(
        all.contains("is the server running"),
        "a hint on what to fix: {all}"
    );
    assert_eq!(metric(&stdout(&output), "Attempts"), "2");
    assert!(!all.contains("panicked"), "{all}");
}

#[test]
fn bad_usage_exits_2() {
    let cases: &[&[&str]] = &[
        &["stream", "--body", "not json"],
        &["stream", "--header", "nocolon"],
        &["stream", "--retries", "many"],
        &["stream", "--format", "yaml"],
    ];
    for args in cases {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", show(&output));
        assert!(
            !stderr(&output).trim().is_empty(),
            "{args:?} says what is wrong"
        );
        assert!(
            !stdout(&output).contains("Starting stream"),
            "{args:?} sends nothing"
        );
    }
}

#[test]
fn text_format_prints_raw_data() {
    let server = fast_server();
    let output = run(&["stream", "--url", &server.url(), "--format", "text"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let out = stdout(&output);
    assert!(
        out.contains(r#"Event: {"Count": 1, "Data": "Event 1"}"#),
        "{out}"
    );
    assert!(
        out.contains(r#"Event: {"Data": "Stream completed"}"#),
        "{out}"
    );
    assert_eq!(metric(&out, "Total Events"), "5");
    assert!(out.contains("Total responses collected: 5"), "{out}");
}

#[test]
fn closed_stdout_keeps_the_stream_exit_code() {
    let server = fast_server();
    // The first event comes 200 ms after the headers, so the pipe is closed
    // (almost certainly) before the events are printed; either way the
    // process must not panic and must finish the stream.
    let mut child = bin()
        .args([
            "stream",
            "--url",
            &server.url(),
            "--body",
            r#"{"first_delay_ms":200}"#,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("streamsoak runs");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    assert!(first.starts_with("Starting stream to"), "{first}");
    // The reader (and the pipe) is dropped here, like `| head -1`.
    let output = child.wait_with_output().expect("streamsoak exits");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(output.status.code(), Some(0), "the stream's code: {err}");
    let stats = server.stats();
    assert_eq!(
        stats.streams_completed, 1,
        "the stream still ran to its end: {stats:?}"
    );
}
