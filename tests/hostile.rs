//! `streamsoak stream` against servers that misbehave on purpose.
//!
//! The server (`tests/hostile/server.rs`) is raw TCP in this process: one
//! path per misbehaviour. The cases are tables of `Case`s
//! (`tests/hostile/case.rs`), one per path of the server, which a test
//! checks: each runs the real binary with `--url`,
//! `--scenario` (short timeouts, fast fixed backoff), `--retries` and
//! `--events-out` (`tests/hostile/run.rs`), and checks what a user sees: the
//! class/kind on the "Stream failed:" line and on every "attempt N failed:"
//! line, how many attempts the retry policy made, the exit code, no panic,
//! and that the process ended by itself (a bounded wait kills it and fails
//! otherwise). The server's own log is the oracle: requests received, and
//! where it matters how far it got before the client hung up. A failure
//! names its case; every case runs even when an earlier one failed.
//!
//! No sleeps: the process's exit is awaited on a channel with a bound, the
//! server's notes on a condition variable with a bound.

#[path = "hostile/case.rs"]
mod case;
#[path = "hostile/run.rs"]
mod run;
#[path = "hostile/server.rs"]
mod server;

use case::{check_all, Case, Events, Notes, Outcome, CASE, NOTE_LIMIT};
use run::stream;
use serde_json::Value;
use server::{Hostile, OVERSIZED_TOTAL, RESUMED_DATA, RESUME_DATA, VALID_DATA};
use std::net::{Ipv4Addr, TcpListener};

// ---------------------------------------------------------------- network

const NETWORK: &[Case] = &[
    Case {
        name: "accept_then_never_answer_is_network_connect_timeout_and_retried",
        path: "/never-answer",
        retries: 1,
        set: &[("http", "timeout", r#""1s""#)],
        outcome: Outcome::Failed {
            class_kind: "network/connect-timeout",
            attempts: 2,
        },
        requests: 2,
        // The client hung up both unanswered connections itself.
        notes: Some(Notes {
            prefix: "never-answer: ",
            count: 2,
            starts_with: "never-answer: client closed",
        }),
        ..CASE
    },
    // PRODUCT.md: `reset` = "the connection was reset or broken by the peer"
    // (network class); `cut` is a body that *ended* before completion.
    Case {
        name: "reset_mid_stream_is_network_reset_and_retried",
        path: "/reset",
        retries: 1,
        outcome: Outcome::Failed {
            class_kind: "network/reset",
            attempts: 2,
        },
        requests: 2,
        // The one event before the RST may or may not be read first.
        events: Events::Unchecked,
        ..CASE
    },
    // Issue 17: the connection was made; awc's "Failed to connect to host"
    // would send the user looking for a firewall.
    Case {
        name: "accept_then_close_without_a_byte_is_network_reset_said_plainly",
        path: "/close-without-answer",
        retries: 1,
        outcome: Outcome::Failed {
            class_kind: "network/reset",
            attempts: 2,
        },
        requests: 2,
        stdout: &["the server closed the connection before answering"],
        metrics: &[("Failure Kinds", "network/reset=2")],
        then: Some(|run, _| {
            let all = format!("{}{}", run.stdout, run.stderr);
            assert!(!all.contains("Failed to connect"), "{}", run.show());
        }),
        ..CASE
    },
    Case {
        name: "a_close_inside_the_response_head_is_network_reset_said_plainly",
        path: "/close-mid-head",
        retries: 1,
        outcome: Outcome::Failed {
            class_kind: "network/reset",
            attempts: 2,
        },
        requests: 2,
        stdout: &["in the middle of the response headers"],
        ..CASE
    },
];

// ---------------------------------------------------------------- stream

const STREAM: &[Case] = &[
    Case {
        name: "headers_then_silence_is_stream_first_event_timeout_and_retried",
        path: "/stall",
        retries: 1,
        set: &[("stream", "first_event_timeout", r#""1s""#)],
        outcome: Outcome::Failed {
            class_kind: "stream/first-event-timeout",
            attempts: 2,
        },
        requests: 2,
        // The client hung up both stalled connections itself.
        notes: Some(Notes {
            prefix: "stall: ",
            count: 2,
            starts_with: "stall: client closed",
        }),
        ..CASE
    },
    Case {
        name: "one_byte_every_50ms_completes_with_every_event",
        path: "/slow-bytes",
        events: Events::Data(&[
            r#"{"Count": 1, "Data": "a"}"#,
            r#"{"Data": "Stream completed"}"#,
        ]),
        notes: Some(Notes {
            prefix: "slow-bytes: ",
            count: 1,
            starts_with: "slow-bytes: sent all",
        }),
        ..CASE
    },
    Case {
        name: "a_64mib_line_is_stream_oversized_event_and_the_client_stops_reading_early",
        path: "/oversized",
        retries: 2,
        set: &[("stream", "max_event_size", r#""1MiB""#)],
        // Not retried by default.
        outcome: Outcome::Failed {
            class_kind: "stream/oversized-event",
            attempts: 1,
        },
        notes: Some(Notes {
            prefix: "oversized: ",
            count: 1,
            starts_with: "oversized: client closed after ",
        }),
        then: Some(|_, server| {
            let note = server
                .wait_note("oversized: ", NOTE_LIMIT)
                .expect("the server noted how its 64 MiB line ended");
            let sent: usize = note
                .strip_prefix("oversized: client closed after ")
                .and_then(|rest| rest.strip_suffix(" bytes"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| {
                    panic!("the client closed the connection mid-line, server saw: {note}")
                });
            eprintln!("{note}");
            assert!(
                sent < OVERSIZED_TOTAL,
                "the client hung up before the whole 64 MiB line: {note}"
            );
        }),
        ..CASE
    },
    Case {
        name: "an_endless_stream_is_stream_max_duration_not_retried",
        path: "/endless",
        retries: 2,
        set: &[("stream", "max_duration", r#""2s""#)],
        outcome: Outcome::Failed {
            class_kind: "stream/max-duration",
            attempts: 1,
        },
        events: Events::Some,
        notes: Some(Notes {
            prefix: "endless: ",
            count: 1,
            starts_with: "endless: client closed",
        }),
        ..CASE
    },
    // A connection closed inside a chunked body (after whole chunks without
    // the last `0` chunk, or inside a chunk) is `stream/cut`: the patched
    // decoder (vendor/README.md) reports the body as incomplete. The
    // complete first event of each attempt is dispatched; the half event
    // never is. The `-text` cases prove it without `done` to lean on: in
    // `text` format a clean end of body would complete the stream.
    Case {
        name: "close_mid_event_is_stream_cut_and_retried",
        path: "/close-mid-event",
        retries: 1,
        outcome: Outcome::Failed {
            class_kind: "stream/cut",
            attempts: 2,
        },
        requests: 2,
        events: Events::Data(&[VALID_DATA[0], VALID_DATA[0]]),
        ..CASE
    },
    Case {
        name: "close_inside_a_chunk_is_stream_cut_and_retried",
        path: "/close-mid-chunk",
        retries: 1,
        outcome: Outcome::Failed {
            class_kind: "stream/cut",
            attempts: 2,
        },
        requests: 2,
        events: Events::Data(&[VALID_DATA[0], VALID_DATA[0]]),
        stdout: &["before the end of the body"],
        ..CASE
    },
    Case {
        name: "close_mid_event_in_text_format_without_done_is_stream_cut",
        path: "/close-mid-event-text",
        retries: 1,
        set: &[("stream", "format", r#""text""#)],
        outcome: Outcome::Failed {
            class_kind: "stream/cut",
            attempts: 2,
        },
        requests: 2,
        events: Events::Data(&[VALID_DATA[0], VALID_DATA[0]]),
        ..CASE
    },
    Case {
        name: "close_inside_a_chunk_in_text_format_without_done_is_stream_cut",
        path: "/close-mid-chunk-text",
        retries: 1,
        set: &[("stream", "format", r#""text""#)],
        outcome: Outcome::Failed {
            class_kind: "stream/cut",
            attempts: 2,
        },
        requests: 2,
        events: Events::Data(&[VALID_DATA[0], VALID_DATA[0]]),
        ..CASE
    },
    Case {
        name: "fewer_bytes_than_content_length_in_text_format_is_stream_cut",
        path: "/short-content-length",
        set: &[("stream", "format", r#""text""#)],
        outcome: Outcome::Failed {
            class_kind: "stream/cut",
            attempts: 1,
        },
        events: Events::Data(&[VALID_DATA[0]]),
        stdout: &["fewer bytes than Content-Length"],
        ..CASE
    },
    Case {
        name: "an_error_event_is_stream_server_error_not_retried",
        path: "/error-event",
        retries: 2,
        outcome: Outcome::Failed {
            class_kind: "stream/server-error",
            attempts: 1,
        },
        // The stream stops at the error event.
        events: Events::Data(&[VALID_DATA[0], r#"{"error": "boom"}"#]),
        stdout: &["boom"],
        ..CASE
    },
];

// ---------------------------------------------------------------- server

const SERVER: &[Case] = &[
    Case {
        name: "status_429_with_retry_after_is_retried_after_that_delay",
        path: "/status-429-then-ok",
        retries: 2,
        outcome: Outcome::Completed {
            failed: &["server/status-429"],
        },
        requests: 2,
        // Retry-After: 1 honoured.
        retry_lines: Some(&["retry 1 in 1.00s"]),
        events: Events::Valid,
        ..CASE
    },
    Case {
        name: "status_503_with_retry_after_is_retried_after_that_delay",
        path: "/status-503-then-ok",
        retries: 2,
        outcome: Outcome::Completed {
            failed: &["server/status-5xx"],
        },
        requests: 2,
        retry_lines: Some(&["retry 1 in 1.00s"]),
        events: Events::Valid,
        ..CASE
    },
    Case {
        name: "status_400_is_server_status_4xx_never_retried",
        path: "/status-400",
        retries: 3,
        outcome: Outcome::Failed {
            class_kind: "server/status-4xx",
            attempts: 1,
        },
        ..CASE
    },
    Case {
        name: "status_500_is_server_status_5xx_retried_with_the_backoff",
        path: "/status-500",
        retries: 2,
        outcome: Outcome::Failed {
            class_kind: "server/status-5xx",
            attempts: 3,
        },
        requests: 3,
        // No Retry-After: the scenario's fixed 50 ms backoff.
        retry_lines: Some(&["retry 1 in 0.05s", "retry 2 in 0.05s"]),
        metrics: &[("Failure Kinds", "server/status-5xx=3")],
        ..CASE
    },
    Case {
        name: "text_html_is_server_wrong_content_type_not_retried",
        path: "/html",
        retries: 2,
        outcome: Outcome::Failed {
            class_kind: "server/wrong-content-type",
            attempts: 1,
        },
        // Names what came.
        stdout: &["text/html"],
        ..CASE
    },
    Case {
        name: "no_content_type_is_server_wrong_content_type",
        path: "/no-content-type",
        retries: 2,
        outcome: Outcome::Failed {
            class_kind: "server/wrong-content-type",
            attempts: 1,
        },
        // The body (a valid stream) is not read.
        events: Events::None,
        ..CASE
    },
    // awc follows at most 10 redirects, then hands back the 11th 307, which
    // is an unfollowed 3xx: `status-3xx`, not retried by default.
    Case {
        name: "a_redirect_loop_ends_as_server_status_3xx_after_10_redirects",
        path: "/redirect-loop",
        retries: 2,
        outcome: Outcome::Failed {
            class_kind: "server/status-3xx",
            attempts: 1,
        },
        requests: 11,
        stdout: &["redirect not followed"],
        ..CASE
    },
    Case {
        name: "a_redirect_without_location_is_server_status_3xx",
        path: "/redirect-no-location",
        retries: 2,
        outcome: Outcome::Failed {
            class_kind: "server/status-3xx",
            attempts: 1,
        },
        stdout: &["without Location"],
        ..CASE
    },
    // WHATWG: only 200 is a stream; the body (a valid stream) is never read.
    Case {
        name: "status_201_with_a_valid_stream_is_server_status_2xx_and_no_event_counts",
        path: "/status-201",
        retries: 2,
        outcome: Outcome::Failed {
            class_kind: "server/status-2xx",
            attempts: 1,
        },
        stdout: &["HTTP 201: only 200 is an event stream"],
        metrics: &[("Total Events", "0"), ("Malformed Events", "0")],
        ..CASE
    },
    Case {
        name: "status_204_is_server_status_2xx",
        path: "/status-204",
        retries: 2,
        outcome: Outcome::Failed {
            class_kind: "server/status-2xx",
            attempts: 1,
        },
        metrics: &[("Failure Kinds", "server/status-2xx=1")],
        ..CASE
    },
];

/// 301/302/303 after a POST: the followed request is a GET without the body.
fn followed_as_get(server: &Hostile) {
    let followed = server.requests("/ok");
    assert_eq!(followed.len(), 1, "one request to the Location");
    assert_eq!(followed[0].method, "GET", "POST becomes GET");
    assert!(followed[0].body.is_empty(), "and loses its body");
}

/// 307/308 (and a chain of them): the followed request keeps method and body.
fn followed_as_post(server: &Hostile, first: &str) {
    let first = &server.requests(first)[0];
    let followed = server.requests("/ok");
    assert_eq!(followed.len(), 1, "one request to the final Location");
    assert_eq!(followed[0].method, "POST", "the method is kept");
    assert_eq!(followed[0].body, first.body, "the body is kept");
    let body: Value = serde_json::from_slice(&first.body).expect("JSON body");
    assert_eq!(body["query"], "follow me");
}

// ---------------------------------------------------------------- streams that must succeed

const COMPLETE: &[Case] = &[
    Case {
        name: "a_valid_stream_completes_with_every_event",
        path: "/ok",
        events: Events::Valid,
        stdout: &[
            "Event 1: Event 1",
            "Event 2: Event 2",
            "Message: Stream completed",
        ],
        ..CASE
    },
    // An HTTP/1.1 answer with neither Content-Length nor chunked encoding
    // has a body that lasts until the server closes the connection (RFC
    // 9112 §6.3, last rule) — what a minimal SSE server writes. Read to the
    // end by the patched decoder (vendor/README.md).
    Case {
        name: "an_http_1_1_body_delimited_by_the_close_completes",
        path: "/ok-until-close",
        events: Events::Valid,
        metrics: &[("Failure Kinds", "none")],
        ..CASE
    },
    // In text format the close itself completes the stream.
    Case {
        name: "an_http_1_1_body_delimited_by_the_close_completes_in_text_format",
        path: "/ok-until-close-text",
        set: &[("stream", "format", r#""text""#)],
        events: Events::Valid,
        ..CASE
    },
    Case {
        name: "a_content_type_with_parameters_and_capitals_is_a_stream",
        path: "/content-type-params",
        events: Events::Valid,
        ..CASE
    },
    Case {
        name: "an_http_1_0_answer_completes",
        path: "/ok-http10",
        events: Events::Valid,
        ..CASE
    },
    // The same stream as `/ok`, so the same events as with LF.
    Case {
        name: "crlf_line_endings_give_the_same_events_as_lf",
        path: "/crlf",
        events: Events::Valid,
        ..CASE
    },
    Case {
        name: "cr_line_endings_give_the_same_events_as_lf",
        path: "/cr",
        events: Events::Valid,
        ..CASE
    },
    Case {
        name: "a_gzip_encoded_stream_is_decoded",
        path: "/gzip",
        events: Events::Valid,
        // The client asked for no compression; the server sent gzip anyway.
        header: Some(("accept-encoding", "identity")),
        ..CASE
    },
    Case {
        name: "chunks_of_1_to_7_bytes_reassemble",
        path: "/chunked-odd",
        events: Events::Valid,
        ..CASE
    },
    Case {
        name: "invalid_utf8_in_data_becomes_replacement_characters",
        path: "/bad-utf8",
        events: Events::Data(&[
            "{\"Count\": 1, \"Data\": \"bad \u{FFFD}\u{FFFD} bytes\"}",
            VALID_DATA[2],
        ]),
        ..CASE
    },
    Case {
        name: "malformed_json_is_counted_and_the_stream_goes_on",
        path: "/malformed-json",
        events: Events::Data(&[
            "{not json at all",
            VALID_DATA[0],
            VALID_DATA[1],
            VALID_DATA[2],
        ]),
        stdout: &["Malformed event: {not json at all"],
        metrics: &[("Total Events", "4"), ("Malformed Events", "1")],
        ..CASE
    },
    Case {
        name: "a_307_redirect_is_followed_with_method_and_body",
        path: "/redirect",
        extra: &["--query", "follow me"],
        events: Events::Valid,
        then: Some(|_, server| {
            let first = &server.requests("/redirect")[0];
            let followed = server.requests("/ok");
            assert_eq!(followed.len(), 1, "one request to the Location");
            assert_eq!(followed[0].method, "POST", "307 keeps the method");
            assert_eq!(followed[0].body, first.body, "307 keeps the body");
            let body: Value = serde_json::from_slice(&first.body).expect("JSON body");
            assert_eq!(body["query"], "follow me");
        }),
        ..CASE
    },
    Case {
        name: "a_308_redirect_is_followed_with_method_and_body",
        path: "/redirect-308",
        extra: &["--query", "follow me"],
        events: Events::Valid,
        then: Some(|_, server| followed_as_post(server, "/redirect-308")),
        ..CASE
    },
    Case {
        name: "a_301_redirect_after_post_is_followed_as_get",
        path: "/redirect-301",
        events: Events::Valid,
        then: Some(|_, server| followed_as_get(server)),
        ..CASE
    },
    Case {
        name: "a_302_redirect_after_post_is_followed_as_get",
        path: "/redirect-302",
        events: Events::Valid,
        then: Some(|_, server| followed_as_get(server)),
        ..CASE
    },
    Case {
        name: "a_303_redirect_after_post_is_followed_as_get",
        path: "/redirect-303",
        events: Events::Valid,
        then: Some(|_, server| followed_as_get(server)),
        ..CASE
    },
    // n=9 … n=0, then /ok: ten redirects in a row, the most that is followed.
    Case {
        name: "ten_redirects_in_a_row_are_followed",
        path: "/redirect-chain?n=9",
        extra: &["--query", "follow me"],
        events: Events::Valid,
        then: Some(|_, server| {
            let hops = (0..=9)
                .filter(|n| server.requests(&format!("/redirect-chain?n={n}")).len() == 1)
                .count();
            assert_eq!(hops, 10, "every hop requested once: {:?}", server.notes());
            followed_as_post(server, "/redirect-chain?n=9");
        }),
        ..CASE
    },
];

// ---------------------------------------------------------------- resume

const RESUME: &[Case] = &[
    // WHATWG reconnect: the retry sends `Last-Event-ID: 2` (the NUL id was
    // ignored) and the parser starts from it, so the resumed event without
    // an `id` field carries 2; `retry: 300` sets the delay (honor_retry_field).
    Case {
        name: "a_cut_stream_resumes_with_last_event_id_after_the_retry_field",
        path: "/cut-then-resume",
        retries: 1,
        set: &[("retry", "honor_retry_field", "true")],
        outcome: Outcome::Completed {
            failed: &["stream/cut"],
        },
        requests: 2,
        retry_lines: Some(&["retry 1 in 0.30s"]),
        events: Events::Ids(&[
            ("1", RESUME_DATA[0]),
            ("2", RESUME_DATA[1]),
            ("2", RESUMED_DATA[0]),
            ("2", RESUMED_DATA[1]),
        ]),
        metrics: &[("Failure Kinds", "stream/cut=1")],
        then: Some(|_, server| {
            let ids: Vec<Option<String>> = server
                .requests("/cut-then-resume")
                .iter()
                .map(|r| {
                    let id = r.headers.iter().find(|(k, _)| k == "last-event-id");
                    id.map(|(_, v)| v.clone())
                })
                .collect();
            assert_eq!(
                ids,
                [None, Some("2".to_owned())],
                "Last-Event-ID per request"
            );
        }),
        ..CASE
    },
    // resume = false: no Last-Event-ID, the stream starts again from its
    // first event; the retry field is ignored (the 50 ms backoff).
    Case {
        name: "without_resume_a_retry_starts_the_stream_again",
        path: "/cut-then-restart",
        retries: 1,
        set: &[("stream", "resume", "false")],
        outcome: Outcome::Completed {
            failed: &["stream/cut"],
        },
        requests: 2,
        retry_lines: Some(&["retry 1 in 0.05s"]),
        events: Events::Ids(&[
            ("1", RESUME_DATA[0]),
            ("2", RESUME_DATA[1]),
            ("1", RESUME_DATA[0]),
            ("2", RESUME_DATA[1]),
            ("2", RESUMED_DATA[0]),
            ("2", RESUMED_DATA[1]),
        ]),
        then: Some(|_, server| {
            for request in server.requests("/cut-then-restart") {
                assert!(
                    !request.headers.iter().any(|(k, _)| k == "last-event-id"),
                    "no Last-Event-ID: {request:?}"
                );
            }
        }),
        ..CASE
    },
];

// ---------------------------------------------------------------- tests

#[test]
fn network_failures_are_classified_and_retried() {
    check_all(NETWORK);
}

#[test]
fn stream_failures_are_classified_and_limits_hold() {
    check_all(STREAM);
}

#[test]
fn server_failures_are_classified_and_retried_as_their_kind_says() {
    check_all(SERVER);
}

#[test]
fn streams_that_must_succeed_complete_with_every_event() {
    check_all(COMPLETE);
}

#[test]
fn retries_resume_with_last_event_id() {
    check_all(RESUME);
}

/// No server: a port that was free a moment ago, where nothing listens.
#[test]
fn connection_refused_is_network_connect_refused_and_retried() {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let run = stream(&format!("http://127.0.0.1:{port}/ok"), 2, &[], &[]);
    run.assert_failed("network/connect-refused", 3);
    assert!(run.events.is_empty(), "{}", run.show());
}

/// Guards the table: every behaviour of the server has a case, once.
#[test]
fn every_hostile_behaviour_has_one_case() {
    let mut tested: Vec<&str> = [NETWORK, STREAM, SERVER, COMPLETE, RESUME]
        .iter()
        .flat_map(|cases| cases.iter().map(|case| case.path))
        .map(|path| path.split('?').next().unwrap_or(path))
        .collect();
    tested.sort_unstable();
    let mut all: Vec<&str> = server::Behaviour::ALL.iter().map(|(p, _)| *p).collect();
    all.sort_unstable();
    assert_eq!(tested, all, "one case per path of Behaviour::ALL");
}
