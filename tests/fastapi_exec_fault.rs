//! Against a real server: a scenario whose `exec` fault kills uvicorn
//! mid-run and starts it again; the report tells the breaker story.

mod common;
mod support;

use std::collections::BTreeMap;

use support::{rows, run_cmd, summary};

#[test]
fn killing_uvicorn_opens_breakers_and_they_recover_after_restart() {
    let Some(server) = common::fastapi::require_fastapi() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    // Dropped at the end of the test: kills the uvicorn the fault restarted.
    let exec = server.kill_and_restart_fault(tmp.path());
    let scenario = format!(
        r#"
name = "fastapi-exec"
target = "{base}"
[request]
body = {{ query = "exec {{{{session}}}}", events = 4, interval_ms = 100 }}
[load]
stages = [ {{ for = "1s", to = 8 }}, {{ for = "13s", to = 8 }}, {{ for = "1s", to = 0 }} ]
think_time = "100ms"
[retry]
max_retries = 2
backoff = {{ base = "100ms", factor = 2.0, max = "500ms", jitter = "full" }}
[breaker]
failure_threshold = 3
open_for = "2s"
[[faults]]
at = "4s"
for = "4s"
{exec}
"#,
        base = server.base_url,
        exec = exec.toml,
    );
    let file = tmp.path().join("exec.toml");
    std::fs::write(&file, scenario).expect("write scenario");
    let out = tmp.path().join("report");
    let status = run_cmd(&file, &out).status().expect("streamsoak runs");
    assert_eq!(status.code(), Some(0), "no thresholds: exit 0");

    let log = std::fs::read_to_string(out.join("faults.log")).expect("faults.log");
    assert!(log.contains("exec start: `kill -9"), "{log}");
    assert!(log.contains("exec end:"), "{log}");
    assert!(!log.contains("could not run"), "{log}");

    let faults = rows(&out.join("faults.csv"));
    assert_eq!(faults.len(), 1);
    let f = &faults[0];
    let n = |k: &str| f[k].parse::<f64>().expect("number");
    assert!(n("sessions") > 0.0, "sessions felt the kill: {f:?}");
    assert!(n("opened") > 0.0, "breakers opened: {f:?}");
    assert_eq!(
        n("recovered"),
        n("sessions"),
        "every affected session recovered: {f:?}"
    );
    assert!(n("failed_streams") > 0.0);

    let errors = rows(&out.join("errors.csv"));
    assert!(
        errors.iter().any(|e| e["kind"] == "connect-refused"),
        "refused while uvicorn was down: {errors:?}"
    );
    let summary = summary(&out);
    let get = |k: &str| summary[k].parse::<u64>().expect("integer");
    assert_eq!(
        get("streams_started"),
        get("streams_ok") + get("streams_failed")
    );
    let breaker = rows(&out.join("breaker.csv"));
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for t in &breaker {
        last.insert(&t["session"], &t["to"]);
    }
    assert!(
        last.values().all(|s| *s == "closed"),
        "all breakers closed at the end: {last:?}"
    );
}
