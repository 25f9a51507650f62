//! Issue #16 against a real server we did not write the HTTP stack of: the
//! FastAPI app's broadcast (`GET /events`). An `exec` fault kills uvicorn
//! mid-subscription and starts it again; every subscriber reconnects with
//! `Last-Event-ID`, and the restarted process's IDs (from 1 again) are read
//! as a reset sequence, not as lost or duplicated events.

mod common;
mod support;

use support::{rows, run_cmd, summary};

#[test]
fn killed_and_restarted_uvicorn_every_subscriber_reconnects() {
    let Some(server) = common::fastapi::require_fastapi() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    // Dropped at the end of the test: kills the uvicorn the fault restarted.
    let exec = server.kill_and_restart_fault(tmp.path());
    let sessions = 6;
    let scenario = format!(
        r#"
name = "fastapi-subscribe"
target = "{base}"
[request]
method = "GET"
path = "/events"
[stream]
mode = "subscribe"
hold = "10s"
sequence = "id"
timestamp_field = "ts"
idle_timeout = "3s"
[load]
stages = [ {{ for = "500ms", to = {sessions} }}, {{ for = "11s", to = {sessions} }} ]
think_time = "5s"
[retry]
max_retries = 30
backoff = {{ base = "100ms", factor = 2.0, max = "500ms", jitter = "full" }}
[breaker]
failure_threshold = 20
open_for = "500ms"
[[faults]]
at = "3s"
for = "2s"
{exec}
[thresholds]
duplicate_events = "== 0"
"delivery.p50" = "< 100ms"
"#,
        base = server.base_url,
        exec = exec.toml,
    );
    let file = tmp.path().join("subscribe.toml");
    std::fs::write(&file, scenario).expect("write scenario");
    let out = tmp.path().join("report");
    let status = run_cmd(&file, &out).status().expect("streamsoak runs");
    assert_eq!(status.code(), Some(0), "thresholds hold");

    let summary = summary(&out);
    let get = |k: &str| summary[k].parse::<u64>().expect("integer");
    assert_eq!(
        get("disconnects"),
        sessions,
        "every stream died with uvicorn"
    );
    assert_eq!(get("reconnects"), sessions, "every subscriber came back");
    assert_eq!((get("streams_ok"), get("streams_failed")), (sessions, 0));
    assert_eq!(get("duplicate_events"), 0);
    assert_eq!(
        get("lost_events"),
        0,
        "a restarted process starts its IDs again: a reset, not a loss"
    );
    let errors = rows(&out.join("errors.csv"));
    assert!(
        errors.iter().any(|e| e["kind"] == "connect-refused"),
        "refused while uvicorn was down: {errors:?}"
    );
    let faults = rows(&out.join("faults.csv"));
    assert_eq!(faults[0]["reconnected"], sessions.to_string(), "{faults:?}");
}
