//! `run --start-at`: the process prepares, waits for the instant, and makes
//! it `t = 0`; `summary.csv` says when that was planned (`start_at`) and
//! how late the run actually began (`start_late_ms`); a past or malformed
//! instant is refused (exit 2) before anything is written; a shard also
//! names its plan (`plan_digest`); `streamsoak report` keeps these rows
//! when it regenerates the summaries.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use streamsoak::metrics::hlog;
use support::{assert_reported, bin, num, report, show, summary};

const SCENARIO: &str = r#"name = "start-at"
target = "embedded"

[load]
executor = "constant-arrival-rate"
rate = 10
for = "1s"
"#;

fn hlog_start(dir: &Path) -> SystemTime {
    let text = std::fs::read(dir.join("histograms.hlog")).expect("hlog");
    hlog::start_time(&text).expect("StartTime")
}

#[test]
fn the_plan_begins_at_the_instant_and_summary_csv_says_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("s.toml");
    std::fs::write(&file, SCENARIO).expect("scenario");
    let out = tmp.path().join("out");
    let asked = SystemTime::now();
    let began = Instant::now();
    let output = bin()
        .arg("run")
        .arg(&file)
        .args(["--start-at", "+3s", "--shard", "1/1", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ready; the plan starts at "), "{stderr}");
    // It waited the 3 s, then ran the 1 s plan.
    assert!(
        began.elapsed() >= Duration::from_secs(4),
        "{:?}",
        began.elapsed()
    );

    let s = summary(&out);
    let start = hlog_start(&out);
    let planned = start
        .duration_since(asked)
        .expect("started after it was asked");
    assert!(
        planned >= Duration::from_secs(3) && planned < Duration::from_secs(5),
        "t = 0 is 3 s after the command: {planned:?}"
    );
    let late = num(&s, "start_late_ms");
    assert!((0.0..100.0).contains(&late), "start_late_ms {late}");
    // start_at + start_late_ms = the actual start (the hlog's StartTime).
    let at = streamsoak::scenario::start_at::parse_rfc3339(&s["start_at"]).expect("RFC 3339");
    let actual = at + Duration::from_secs_f64(late / 1000.0);
    let diff = actual
        .duration_since(start)
        .unwrap_or_else(|e| e.duration());
    assert!(diff < Duration::from_millis(2), "{s:?} vs {start:?}");
    assert_eq!(hex_digits(&s["plan_digest"]), 16, "{s:?}");
    assert_eq!(s["streams_started"], "10", "{s:?}");

    // `report` regenerates summary.csv from the raw files and keeps them.
    let before = std::fs::read_to_string(out.join("summary.csv")).expect("summary");
    let output = report(&out);
    assert_reported(&output);
    let after = summary(&out);
    for key in ["start_at", "start_late_ms", "plan_digest"] {
        assert_eq!(after.get(key), s.get(key), "{key}: {before}");
    }
}

fn hex_digits(digest: &str) -> usize {
    digest.bytes().filter(u8::is_ascii_hexdigit).count()
}

#[test]
fn a_past_or_malformed_instant_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("s.toml");
    std::fs::write(&file, SCENARIO).expect("scenario");
    let a_minute_ago = {
        let t = SystemTime::now() - Duration::from_secs(60);
        streamsoak::report::alignment::rfc3339_millis(t)
    };
    for (value, says) in [
        (a_minute_ago.as_str(), "ago: give a time in the future"),
        ("1970-01-01T00:00:00Z", "ago: give a time in the future"),
        ("2025-06-01T12:00:00", "no time zone"),
        ("+90", "bad duration"),
        ("noon", "expected an RFC 3339 UTC time"),
    ] {
        let out = tmp.path().join("out");
        let output = bin()
            .arg("run")
            .arg(&file)
            .args(["--start-at", value, "--out"])
            .arg(&out)
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{value}: {}", show(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--start-at") && stderr.contains(says),
            "{value}: {stderr}"
        );
        assert!(!out.exists(), "{value}: no report folder");
    }
}

#[test]
fn a_signal_while_waiting_ends_the_run_before_any_load() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("s.toml");
    std::fs::write(&file, SCENARIO).expect("scenario");
    let out = tmp.path().join("out");
    let mut child = bin()
        .arg("run")
        .arg(&file)
        .args(["--start-at", "+60s", "--out"])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("a line");
    assert!(line.contains("ready; the plan starts at"), "{line}");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("stderr");
    let status = child.wait().expect("exit");
    assert_eq!(status.code(), Some(3), "{line}{rest}");
    assert!(rest.contains("no load was sent"), "{rest}");
    assert!(!out.join("summary.csv").exists(), "no report: nothing ran");
    assert!(
        !out.join("timeseries.csv").exists(),
        "no report: nothing ran"
    );
}
