//! Against a real server: a scenario whose `exec` fault kills uvicorn
//! mid-run and starts it again; the report tells the breaker story.

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
fn killing_uvicorn_opens_breakers_and_they_recover_after_restart() {
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
kind = "exec"
start = "{start}"
end = "{end}"
"#,
        base = server.base_url,
        start = start.replace('\\', "\\\\").replace('"', "\\\""),
        end = end.replace('\\', "\\\\").replace('"', "\\\""),
    );
    let file = tmp.path().join("exec.toml");
    std::fs::write(&file, scenario).expect("write scenario");
    let out = tmp.path().join("report");
    let status = Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .status()
        .expect("streamsoak runs");
    assert_eq!(status.code(), Some(0), "no thresholds: exit 0");

    let log = std::fs::read_to_string(out.join("faults.log")).expect("faults.log");
    assert!(log.contains("exec start: `kill -9"), "{log}");
    assert!(log.contains("exec end:"), "{log}");
    assert!(!log.contains("could not run"), "{log}");

    let faults = read_csv(&out.join("faults.csv"));
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

    let errors = read_csv(&out.join("errors.csv"));
    assert!(
        errors.iter().any(|e| e["kind"] == "connect-refused"),
        "refused while uvicorn was down: {errors:?}"
    );
    let summary: BTreeMap<String, String> = read_csv(&out.join("summary.csv"))
        .into_iter()
        .map(|r| (r["key"].clone(), r["value"].clone()))
        .collect();
    let get = |k: &str| summary[k].parse::<u64>().expect("integer");
    assert_eq!(
        get("streams_started"),
        get("streams_ok") + get("streams_failed")
    );
    let breaker = read_csv(&out.join("breaker.csv"));
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for t in &breaker {
        last.insert(&t["session"], &t["to"]);
    }
    assert!(
        last.values().all(|s| *s == "closed"),
        "all breakers closed at the end: {last:?}"
    );
}
