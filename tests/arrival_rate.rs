//! The open model (`constant-arrival-rate`): exactly the planned arrivals
//! start when sessions are free, new sessions open when they are not, and
//! when `max_sessions` is the bottleneck the surplus is counted as dropped,
//! never lost.

mod support;

use std::path::Path;

use support::{bin, int, read_csv, show, summary};

/// 20 streams/s for 3 s = 60 arrivals, against a fast embedded server.
const SCENARIO: &str = r#"name = "arrivals"
target = "embedded"
seed = 5

[server]
events = 1
interval = "0ms"

[load]
executor = "constant-arrival-rate"
rate = 20
for = "3s"
max_sessions = 50
"#;

const PLANNED: u64 = 60;

fn run(file: &Path, out: &Path, sets: &[&str]) -> std::process::Output {
    let mut cmd = bin();
    cmd.arg("run")
        .arg(file)
        .arg("--out")
        .arg(out)
        .arg("--quiet");
    for set in sets {
        cmd.args(["--set", set]);
    }
    cmd.output().expect("streamsoak runs")
}

fn write_scenario(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("arrivals.toml");
    std::fs::write(&file, SCENARIO).expect("write scenario");
    file
}

/// Runs the scenario with `sets` overrides; checks exit 0. The folder lives
/// as long as the returned guard.
fn run_ok(sets: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_scenario(tmp.path());
    let out = tmp.path().join("report");
    let output = run(&file, &out, sets);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    (tmp, out)
}

#[test]
fn check_plans_the_arrivals() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_scenario(tmp.path());
    let output = bin()
        .arg("check")
        .arg(&file)
        .output()
        .expect("streamsoak runs");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    let expected = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("expected streams"))
        .unwrap_or_else(|| panic!("no expected streams line:\n{out}"));
    assert!(
        expected.trim().starts_with(&PLANNED.to_string()),
        "{expected}"
    );
}

#[test]
fn every_planned_arrival_starts_when_sessions_are_free() {
    let (_tmp, out) = run_ok(&[]);

    let s = summary(&out);
    assert_eq!(int(&s, "streams_started"), PLANNED, "{s:?}");
    assert_eq!(int(&s, "dropped_arrivals"), 0, "{s:?}");
    assert_eq!(int(&s, "streams_ok"), PLANNED, "{s:?}");
    assert!(int(&s, "peak_sessions") <= 50, "max_sessions caps: {s:?}");
    let (_, sessions) = read_csv(&out.join("sessions.csv"));
    let streams: u64 = sessions.iter().map(|r| int(r, "streams")).sum();
    assert_eq!(streams, PLANNED);
}

#[test]
fn arrivals_past_max_sessions_are_dropped_and_counted() {
    // One session, streams of about 1 s: most arrivals find it busy.
    let (_tmp, out) = run_ok(&[
        "load.max_sessions=1",
        "server.events=2",
        "server.interval=500ms",
    ]);

    let s = summary(&out);
    let (started, dropped) = (int(&s, "streams_started"), int(&s, "dropped_arrivals"));
    assert!(dropped > 0, "{s:?}");
    assert!(started > 0, "{s:?}");
    assert_eq!(
        started + dropped,
        PLANNED,
        "every arrival started or dropped: {s:?}"
    );
    assert_eq!(int(&s, "peak_sessions"), 1, "{s:?}");
    assert_eq!(started, int(&s, "streams_ok") + int(&s, "streams_failed"));
}

#[test]
fn sessions_open_as_fast_as_slow_streams_need_them() {
    // 100 arrivals/s of ~600 ms streams (two events 300 ms apart, then the
    // end) need ~60 sessions at once: the pool grows to them (new sessions
    // open at a bounded pace, one per wake-up below 256) without dropping
    // or visibly delaying an arrival.
    let (_tmp, out) = run_ok(&[
        "load.rate=100",
        "load.max_sessions=200",
        "server.events=2",
        "server.interval=300ms",
    ]);

    let s = summary(&out);
    assert_eq!(int(&s, "streams_started"), 300, "{s:?}");
    assert_eq!(int(&s, "dropped_arrivals"), 0, "{s:?}");
    assert_eq!(int(&s, "streams_ok"), 300, "{s:?}");
    let peak = int(&s, "peak_sessions");
    assert!((50..=200).contains(&peak), "grew to the concurrency: {s:?}");
    // The first event comes at once: its latency from the scheduled start
    // is the wait for a session plus one round trip.
    let (_, latency) = read_csv(&out.join("latency.csv"));
    let ttfe = latency
        .iter()
        .find(|r| r["metric"] == "ttfe")
        .expect("ttfe row");
    let p99: f64 = ttfe["p99_ms"].parse().expect("p99_ms");
    assert!(
        p99 < 150.0,
        "no arrival waited long for a session: {ttfe:?}"
    );
}
