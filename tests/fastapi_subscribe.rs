//! Issue #16 against a real server we did not write the HTTP stack of: the
//! FastAPI app's broadcast (`GET /events`). An `exec` fault kills uvicorn
//! mid-subscription and starts it again; every subscriber reconnects with
//! `Last-Event-ID`, and the restarted process's IDs (from 1 again) are read
//! as a reset sequence, not as lost or duplicated events.

mod common;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    support::read_csv(path).1
}

/// Kills the restarted uvicorn (started by the exec fault) when the test ends.
struct PidFile(std::path::PathBuf);

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
    }
}

#[test]
fn killed_and_restarted_uvicorn_every_subscriber_reconnects() {
    let Some(server) = common::fastapi::require_fastapi() else {
        return;
    };
    let pid = server.pid().expect("uvicorn running");
    let tmp = tempfile::tempdir().expect("tempdir");
    let pidfile = PidFile(tmp.path().join("uvicorn.pid"));
    let app_dir = std::env::current_dir().expect("cwd").join("tests/fastapi");
    let start = format!("kill -9 {pid}");
    let end = format!(
        "cd '{}' && ('{}' -m uvicorn app:app --host 127.0.0.1 --port {} >/dev/null 2>&1 & echo $! > '{}')",
        app_dir.display(),
        server.python().display(),
        server.port(),
        pidfile.0.display()
    );
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
kind = "exec"
start = "{start}"
end = "{end}"
[thresholds]
duplicate_events = "== 0"
"delivery.p50" = "< 100ms"
"#,
        base = server.base_url,
        start = start.replace('\\', "\\\\").replace('"', "\\\""),
        end = end.replace('\\', "\\\\").replace('"', "\\\""),
    );
    let file = tmp.path().join("subscribe.toml");
    std::fs::write(&file, scenario).expect("write scenario");
    let out = tmp.path().join("report");
    let status = Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .status()
        .expect("streamsoak runs");
    assert_eq!(status.code(), Some(0), "thresholds hold");

    let summary = support::summary(&out);
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
    let errors = read_csv(&out.join("errors.csv"));
    assert!(
        errors.iter().any(|e| e["kind"] == "connect-refused"),
        "refused while uvicorn was down: {errors:?}"
    );
    let faults = read_csv(&out.join("faults.csv"));
    assert_eq!(faults[0]["reconnected"], sessions.to_string(), "{faults:?}");
}
