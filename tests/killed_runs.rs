//! Killed runs (issue 13): a run killed with SIGKILL leaves a folder that
//! `streamsoak report` turns into a full report of every flushed interval —
//! every report file, figures equal to what `timeseries.csv`,
//! `histograms.hlog` and `breaker.csv` hold, `complete = false` in
//! `summary.csv` and `summary.json`, a banner in `report.html` — and that
//! `merge` accepts. The runs are real processes, killed once their
//! `timeseries.csv` has at least three data rows (the event awaited is the
//! run's per-interval progress line, printed after the rows are flushed).

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::summary_json::check;
use support::{assert_reported, bin, int, merge, num, read_csv, report, show, summary};

/// Long enough never to end by itself within the test; one fault early so
/// faults.csv has a row to flush.
const SCENARIO: &str = r#"
name = "killed"
target = "embedded"
seed = 11

[server]
events = 4
interval = "100ms"

[request]
headers = { "X-Api-Key" = "${KILLED_KEY}" }

[load]
executor = "ramping-sessions"
stages = [ { for = "1s", to = 8 }, { for = "10m", to = 8 } ]
think_time = "100ms"

[retry]
max_retries = 1
backoff = { base = "100ms", factor = 2.0, max = "500ms", jitter = "full" }

[breaker]
failure_threshold = 2
open_for = "1s"

[[faults]]
at = "1500ms"
for = "1s"
kind = "shutdown"

[thresholds]
success_rate = ">= 0.1"
"ttfe.p99" = "< 5s"
streams_ok = "> 0"
"#;

/// Rows of `timeseries.csv` before the run is killed.
const ROWS_BEFORE_KILL: usize = 4;
/// Generous: a debug build on a busy 2-core machine.
const ROWS_WITHIN: Duration = Duration::from_secs(60);

fn data_rows(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().skip(1).filter(|l| !l.is_empty()).count())
        .unwrap_or(0)
}

/// Starts a run into `out` and SIGKILLs it once its timeseries has `rows`
/// data rows. The event awaited is the progress line the run prints on
/// stderr (not a TTY: one line per interval) right after it has flushed
/// that interval's rows and checkpoint.
fn run_and_kill(scenario: &Path, out: &Path, extra: &[&str], rows: usize) {
    let mut child: Child = bin()
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("KILLED_KEY", "key-that-must-not-leak")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn streamsoak run");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + ROWS_WITHIN;
    let mut seen = 0;
    while seen < rows {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with('[') && line.contains("sessions") => seen += 1,
            Ok(_) => {}
            Err(err) => {
                let status = child.try_wait();
                panic!(
                    "{seen} progress lines within {ROWS_WITHIN:?} ({err}); run status {status:?}"
                );
            }
        }
    }
    assert!(
        data_rows(&out.join("timeseries.csv")) >= rows,
        "a progress line follows its interval's row"
    );
    // Child::kill is SIGKILL on Unix: no handler runs, nothing is flushed at exit.
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reap");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed by SIGKILL"
    );
}

fn write_scenario(dir: &Path) -> PathBuf {
    let path = dir.join("killed.toml");
    std::fs::write(&path, SCENARIO).expect("write scenario");
    path
}

fn sum(rows: &[std::collections::BTreeMap<String, String>], column: &str) -> u64 {
    rows.iter().map(|r| int(r, column)).sum()
}

/// Samples per metric in a histograms.hlog.
fn hlog_counts(dir: &Path) -> std::collections::BTreeMap<String, u64> {
    let text = std::fs::read(dir.join("histograms.hlog")).expect("histograms.hlog");
    let mut counts = std::collections::BTreeMap::new();
    for entry in streamsoak::metrics::hlog::read(&text).expect("hlog parses") {
        *counts.entry(entry.metric.as_str().to_owned()).or_insert(0) += entry.histogram.len();
    }
    counts
}

const REPORT_FILES: &[&str] = &[
    "summary.csv",
    "summary.json",
    "latency.csv",
    "timeseries.csv",
    "errors.csv",
    "breaker.csv",
    "faults.csv",
    "sessions.csv",
    "thresholds.csv",
    "histograms.hlog",
    "report.html",
    "junit.xml",
    "summary.md",
    "scenario.toml",
];

#[test]
fn report_turns_a_killed_run_into_a_full_report_of_its_flushed_intervals() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(tmp.path());
    let out = tmp.path().join("run");
    run_and_kill(&scenario, &out, &[], ROWS_BEFORE_KILL);

    // What the killed run left: its raw files and the checkpoint.
    let left = summary(&out);
    assert_eq!(
        left.get("complete").map(String::as_str),
        Some("false"),
        "{left:?}"
    );
    assert!(!out.join("thresholds.csv").exists(), "never gated");
    let resolved = std::fs::read_to_string(out.join("scenario.toml")).expect("scenario.toml");
    assert!(
        resolved.contains(r#""X-Api-Key" = "<redacted>""#),
        "{resolved}"
    );

    let output = report(&out);
    assert_reported(&output);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("incomplete run"),
        "{}",
        show(&output)
    );
    for file in REPORT_FILES {
        assert!(out.join(file).is_file(), "{file} is written");
    }
    for entry in std::fs::read_dir(&out).expect("folder") {
        let path = entry.expect("entry").path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
        assert!(
            !text.contains("key-that-must-not-leak"),
            "{} leaks",
            path.display()
        );
        assert!(
            !path.to_string_lossy().ends_with(".tmp"),
            "no temporary file left: {path:?}"
        );
    }

    // Figures equal what was flushed.
    let s = summary(&out);
    let (_, rows) = read_csv(&out.join("timeseries.csv"));
    assert!(rows.len() >= ROWS_BEFORE_KILL, "{} rows", rows.len());
    assert_eq!(s["complete"], "false");
    for column in [
        "streams_started",
        "streams_ok",
        "streams_failed",
        "attempts",
        "events",
        "retries",
        "short_circuited",
    ] {
        assert_eq!(
            int(&s, column),
            sum(&rows, column),
            "{column}: summary.csv = Σ timeseries.csv"
        );
    }
    assert!(int(&s, "streams_ok") > 0, "{s:?}");
    let last_t = rows.last().map(|r| num(r, "t_s")).expect("rows");
    assert!(
        (num(&s, "duration_s") - last_t).abs() < 0.002,
        "duration = last interval: {s:?}"
    );
    let max_active = rows
        .iter()
        .map(|r| int(r, "active_sessions"))
        .max()
        .unwrap_or(0);
    assert!(int(&s, "peak_sessions") >= max_active, "{s:?}");
    let (_, breaker) = read_csv(&out.join("breaker.csv"));
    let opens = breaker.iter().filter(|r| r["to"] == "open").count() as u64;
    assert_eq!(
        int(&s, "breaker_opens"),
        opens,
        "breaker_opens = opens in breaker.csv"
    );
    let hlog = hlog_counts(&out);
    let (_, latency) = read_csv(&out.join("latency.csv"));
    for row in &latency {
        let metric = &row["metric"];
        assert_eq!(
            int(row, "count"),
            hlog.get(metric).copied().unwrap_or(0),
            "{metric} count = hlog"
        );
    }
    let (_, errors) = read_csv(&out.join("errors.csv"));
    let error_total: u64 = errors.iter().map(|r| int(r, "count")).sum();
    let failed_attempts = int(&s, "attempts") - int(&s, "streams_ok");
    assert!(
        error_total <= failed_attempts + int(&s, "short_circuited") + 1,
        "{errors:?} {s:?}"
    );
    let (_, faults) = read_csv(&out.join("faults.csv"));
    assert_eq!(
        faults.len(),
        1,
        "the fault that started before the kill: {faults:?}"
    );
    let (header, sessions) = read_csv(&out.join("sessions.csv"));
    assert_eq!(header[0], "session");
    assert!(
        sessions.is_empty(),
        "a killed run's sessions were never reported"
    );
    let (_, thresholds) = read_csv(&out.join("thresholds.csv"));
    let keys: Vec<&str> = thresholds.iter().map(|r| r["threshold"].as_str()).collect();
    assert_eq!(
        keys,
        ["success_rate", "ttfe.p99", "streams_ok"],
        "scenario.toml's, in order"
    );

    let doc = check(&out);
    assert_eq!(doc["complete"], false);
    assert_eq!(doc["summary"]["complete"], false);
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(
        html.contains(r#"<div class="banner incomplete"><b>Incomplete run.</b>"#),
        "banner"
    );
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(md.contains("**Incomplete run:**"), "{md}");

    // Reporting again changes nothing: the folder is now a stable report.
    let first = std::fs::read(out.join("summary.json")).expect("json");
    let output = report(&out);
    assert_reported(&output);
    assert_eq!(
        std::fs::read(out.join("summary.json")).expect("json"),
        first
    );
}

#[test]
fn merge_accepts_killed_shards_and_says_incomplete() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(tmp.path());
    let dirs: Vec<PathBuf> = (1..=2)
        .map(|i| tmp.path().join(format!("shard{i}")))
        .collect();
    std::thread::scope(|scope| {
        for (i, dir) in dirs.iter().enumerate() {
            let scenario = &scenario;
            scope.spawn(move || {
                let shard = format!("{}/2", i + 1);
                run_and_kill(scenario, dir, &["--shard", &shard], 3);
            });
        }
    });
    let merged = tmp.path().join("merged");
    let output = merge(&dirs, &merged);
    assert_reported(&output);
    let s = summary(&merged);
    assert_eq!(
        s.get("complete").map(String::as_str),
        Some("false"),
        "{s:?}"
    );
    let flushed: u64 = dirs
        .iter()
        .map(|d| sum(&read_csv(&d.join("timeseries.csv")).1, "streams_started"))
        .sum();
    assert_eq!(
        int(&s, "streams_started"),
        flushed,
        "merged = Σ shards' flushed rows"
    );
    let doc = check(&merged);
    assert_eq!(doc["complete"], false);
}
