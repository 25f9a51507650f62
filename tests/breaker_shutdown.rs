//! `scenarios/breaker-shutdown.toml`: the story its comments promise, read
//! back from the report files of a real run against the embedded server.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use support::{num, rows, summary};

#[test]
fn breakers_open_short_circuit_probe_and_recover() {
    let s = story(&[]);
    assert_eq!(s["http_versions"], "1.1", "plain http:// is HTTP/1.1");
}

/// Issue 17: the same run over HTTP/2 + TLS (the embedded server with a
/// generated certificate, the client trusting its CA) tells the same story.
#[test]
fn the_same_story_over_http2_and_tls() {
    let s = story(&["--set", "server.tls=true", "--set", "http.version=2"]);
    assert_eq!(s["http_versions"], "2", "every response came over HTTP/2");
    assert!(s["target"].starts_with("embedded"), "{}", s["target"]);
}

/// Runs the scenario with `extra` arguments and checks its story; returns
/// `summary.csv` for the caller's own checks.
fn story(extra: &[&str]) -> BTreeMap<String, String> {
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("report");
    let status = Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .args(["run", "scenarios/breaker-shutdown.toml", "--quiet", "--out"])
        .arg(&dir)
        .args(extra)
        .status()
        .expect("streamsoak runs");
    assert_eq!(status.code(), Some(0), "thresholds of the scenario hold");

    // Scenario constants (see the file's comments).
    let (fault_start_ms, fault_end_ms, open_for_ms) = (10_000.0, 25_000.0, 5_000.0);
    // A stream: 4 events 250 ms apart, so at least 3 gaps, about 1 s in all.
    let (stream_min_ms, stream_ms) = (750.0, 1_000.0);
    // How late a timer or a stream may be on a busy CI machine (generous:
    // the bounds it widens are upper bounds; timers never fire early).
    let late_ms = 2_000.0;
    // start_s/end_s have 3 decimals: ±0.5 ms.
    let rounding_ms = 1.0;

    let faults = rows(&dir.join("faults.csv"));
    assert_eq!(faults.len(), 1);
    let fault = &faults[0];
    assert_eq!(fault["kind"], "shutdown");
    let real_start_ms = num(fault, "start_s") * 1000.0;
    let real_end_ms = num(fault, "end_s") * 1000.0;
    for (real, planned, what) in [
        (real_start_ms, fault_start_ms, "starts"),
        (real_end_ms, fault_end_ms, "ends"),
    ] {
        assert!(
            real >= planned - rounding_ms,
            "the fault {what} no earlier than planned: {fault:?}"
        );
        assert!(
            real < planned + late_ms,
            "the fault {what} at most {late_ms} ms late: {fault:?}"
        );
    }
    let sessions = num(fault, "sessions");
    assert_eq!(sessions, 20.0, "every session felt the shutdown");
    assert_eq!(num(fault, "opened"), sessions, "every breaker opened");
    assert_eq!(num(fault, "recovered"), sessions, "every session recovered");
    assert!(
        num(fault, "short_circuited") > 0.0,
        "open breakers short-circuit calls"
    );
    // Recovery (fault end → first good stream) takes a whole stream at
    // least, and at most open_for (a breaker opened just before the end)
    // plus the probe's stream, give or take a busy machine.
    assert!(
        num(fault, "recover_p50_ms") >= stream_min_ms - rounding_ms,
        "a recovery is a whole stream after the server returned: {fault:?}"
    );
    assert!(
        num(fault, "recover_max_ms") < open_for_ms + stream_ms + late_ms,
        "recovery within open_for + one stream: {fault:?}"
    );

    let transitions = rows(&dir.join("breaker.csv"));
    let mut by_session: BTreeMap<String, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
    for t in &transitions {
        by_session.entry(t["session"].clone()).or_default().push(t);
    }
    assert_eq!(by_session.len(), 20);
    for (session, ts) in &by_session {
        let first = ts[0];
        assert_eq!(
            (
                first["from"].as_str(),
                first["to"].as_str(),
                first["reason"].as_str()
            ),
            ("closed", "open", "failure-threshold"),
            "session {session}"
        );
        assert!(
            num(first, "t_ms") >= real_start_ms,
            "session {session} opened before the fault: {first:?}"
        );
        let half_open = ts
            .iter()
            .find(|t| t["to"] == "half-open")
            .unwrap_or_else(|| panic!("session {session} probed"));
        assert!(
            num(half_open, "t_ms") - num(first, "t_ms") >= open_for_ms - 1.0,
            "session {session} probed before open_for"
        );
        let last = ts.last().expect("non-empty");
        assert_eq!(last["to"], "closed", "session {session} ends closed");
        assert!(
            num(last, "t_ms") >= real_end_ms - rounding_ms,
            "session {session} closed (a good stream) only once the server returned: {last:?}"
        );
        assert!(
            num(last, "t_ms") <= real_end_ms + open_for_ms + stream_ms + late_ms,
            "session {session} stayed open past open_for after the server returned: {last:?}"
        );
        for pair in ts.windows(2) {
            assert_eq!(
                pair[0]["to"], pair[1]["from"],
                "session {session}: transitions chain"
            );
        }
    }

    let s = summary(&dir);
    let get = |k: &str| s[k].parse::<u64>().expect("integer");
    assert_eq!(
        get("streams_started"),
        get("streams_ok") + get("streams_failed"),
        "no stream counted twice or lost"
    );
    assert!(get("short_circuited") > 0);
    assert_eq!(
        get("breaker_opens"),
        transitions.iter().filter(|t| t["to"] == "open").count() as u64
    );
    let sessions_rows = rows(&dir.join("sessions.csv"));
    let streams: f64 = sessions_rows.iter().map(|r| num(r, "streams")).sum();
    assert_eq!(streams as u64, get("streams_started"));
    assert!(sessions_rows.iter().all(|r| r["final_state"] == "closed"));
    s.into_iter().collect()
}
