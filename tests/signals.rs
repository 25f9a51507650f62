//! Hard stops of `streamsoak run`: SIGINT and SIGTERM mid-run stop it by
//! itself with the full report and the threshold result as exit code; a
//! second SIGINT aborts; SIGKILL leaves every timeseries row written so far.
//!
//! Each test starts a 30 s, 10-session run against the embedded server,
//! waits (bounded poll of the file) until `timeseries.csv` has at least 3
//! data rows, then signals the process with `kill -SIG PID`. No sleeps: the
//! file is re-read each time a bounded wait for the process's exit times
//! out, stderr lines and the exit status are awaited on channels.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::{bin, int, read_csv, summary};

/// Longest wait for the first 3 timeseries rows.
const ROWS_WITHIN: Duration = Duration::from_secs(60);
/// Longest a signalled run may take to end by itself (3 s grace + report).
const EXIT_WITHIN: Duration = Duration::from_secs(20);
/// Interval of the bounded polls.
const POLL: Duration = Duration::from_millis(100);

// PRODUCT.md "Report folder".
const REPORT_FILES: &[&str] = &[
    "report.html",
    "summary.csv",
    "latency.csv",
    "timeseries.csv",
    "errors.csv",
    "breaker.csv",
    "faults.csv",
    "sessions.csv",
    "thresholds.csv",
    "histograms.hlog",
    "junit.xml",
];
const TIMESERIES_COLUMNS: usize = 15; // `open_streams` (issue #16) is the 15th

/// 10 sessions for 30 s; each stream is `events` events 250 ms apart.
fn scenario(dir: &Path, events: u32) -> std::path::PathBuf {
    let text = format!(
        r#"name = "signals"
target = "embedded"
seed = 3

[server]
events = {events}
interval = "250ms"

[load]
executor = "ramping-sessions"
stages = [ {{ for = "0s", to = 10 }}, {{ for = "30s", to = 10 }} ]

[thresholds]
success_rate = ">= 0.5"
"#
    );
    let path = dir.join("signals.toml");
    std::fs::write(&path, text).expect("write scenario");
    path
}

struct Running {
    pid: u32,
    /// The exit status, sent by the thread that waits on the child.
    exit: mpsc::Receiver<ExitStatus>,
    exited: bool,
    stderr: Option<JoinHandle<String>>,
    /// stderr lines as they come.
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(scenario: &Path, out: &Path) -> Running {
        let mut child = bin()
            .arg("run")
            .arg(scenario)
            .arg("--out")
            .arg(out)
            .arg("--quiet")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("streamsoak run starts");
        let pipe = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        let pid = child.id();
        let (exit_tx, exit) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        Running {
            pid,
            exit,
            exited: false,
            stderr: Some(stderr),
            lines,
        }
    }

    /// Waits (bounded) for a stderr line containing `text`.
    fn wait_for_line(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => continue,
                Err(err) => panic!("no stderr line with `{text}` within {within:?}: {err}"),
            }
        }
    }

    /// `kill -NAME PID`.
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {}", self.pid);
    }

    fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Kills the process (still running: its status was never received) and reaps it.
    fn kill(&mut self) {
        if !self.exited {
            self.signal("KILL");
            let _ = self.exit.recv_timeout(EXIT_WITHIN);
            self.exited = true;
        }
    }

    /// Waits (bounded) for the process to end; kills it and fails otherwise.
    fn wait(&mut self, within: Duration, why: &str) -> (ExitStatus, String) {
        match self.exit.recv_timeout(within) {
            Ok(status) => {
                self.exited = true;
                (status, self.stderr())
            }
            Err(_) => {
                self.kill();
                panic!(
                    "streamsoak run did not end within {within:?} {why}\n--- stderr\n{}",
                    self.stderr()
                );
            }
        }
    }

    /// Polls (bounded) until `timeseries.csv` has `rows` complete data rows;
    /// between two looks it waits for the process to exit, at most [`POLL`].
    fn wait_for_rows(&mut self, out: &Path, rows: usize) {
        let file = out.join("timeseries.csv");
        let started = Instant::now();
        while complete_rows(&file) < rows {
            match self.exit.recv_timeout(POLL) {
                Ok(status) => {
                    self.exited = true;
                    panic!(
                        "streamsoak run ended ({status}) before {rows} timeseries rows\n--- stderr\n{}",
                        self.stderr()
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(err) => panic!("waiting for the run: {err}"),
            }
            if started.elapsed() > ROWS_WITHIN {
                self.kill();
                panic!("no {rows} timeseries rows within {ROWS_WITHIN:?}");
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.exited && self.exit.try_recv().is_err() {
            self.kill();
        }
    }
}

/// Data rows of a CSV file that end with a newline (a row being written does not count).
fn complete_rows(file: &Path) -> usize {
    let Ok(text) = std::fs::read_to_string(file) else {
        return 0;
    };
    text.matches('\n').count().saturating_sub(1)
}

/// Every timeseries row has every column, each a number.
fn assert_timeseries_parseable(out: &Path, at_least: usize) -> Vec<BTreeMap<String, String>> {
    let file = out.join("timeseries.csv");
    let text = std::fs::read_to_string(&file).expect("timeseries.csv");
    assert!(text.ends_with('\n'), "no torn last row:\n{text}");
    let (header, rows) = read_csv(&file);
    assert_eq!(header.len(), TIMESERIES_COLUMNS, "{header:?}");
    assert!(rows.len() >= at_least, "at least {at_least} rows:\n{text}");
    for row in &rows {
        assert_eq!(row.len(), TIMESERIES_COLUMNS, "{row:?}");
        for (column, value) in row {
            assert!(
                value.parse::<f64>().is_ok(),
                "{column} = {value:?} is a number:\n{text}"
            );
        }
    }
    rows
}

/// Count of `application,cancelled` in errors.csv (streams cut short by the stop).
fn cancelled(out: &Path) -> u64 {
    let (_, rows) = read_csv(&out.join("errors.csv"));
    rows.iter()
        .filter(|r| r["class"] == "application" && r["kind"] == "cancelled")
        .map(|r| int(r, "count"))
        .sum()
}

/// Signal mid-run (a second SIGINT once the first was taken when `twice`):
/// the run stops by itself with the whole report, and exits with the
/// scenario's `success_rate >= 0.5` threshold result, `passes`: short
/// streams finish within the grace (1/1, exit 0); 10 s streams never finish
/// before the stop, so there is no success rate, and a threshold with no
/// value fails (exit 1).
fn stop(
    signal: &str,
    events: u32,
    twice: bool,
    passes: bool,
) -> (u64, BTreeMap<String, String>, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scenario = scenario(tmp.path(), events);
    let out = tmp.path().join("report");
    let mut run = Running::start(&scenario, &out);
    run.wait_for_rows(&out, 3);
    run.signal(signal);
    if twice {
        // The first signal was taken (not coalesced with the second one).
        run.wait_for_line("stopping", EXIT_WITHIN);
        run.signal(signal);
    }
    let (status, stderr) = run.wait(EXIT_WITHIN, &format!("after SIG{signal}"));
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        status.code(),
        Some(if passes { 0 } else { 1 }),
        "SIG{signal}: exit with the threshold result, got {status}\n{stderr}"
    );

    for file in REPORT_FILES {
        let path = out.join(file);
        let meta = std::fs::metadata(&path)
            .unwrap_or_else(|err| panic!("SIG{signal}: {file} written ({err})\n{stderr}"));
        assert!(meta.len() > 0, "SIG{signal}: {file} is not empty");
    }
    let s = summary(&out);
    let (started, ok, failed) = (
        int(&s, "streams_started"),
        int(&s, "streams_ok"),
        int(&s, "streams_failed"),
    );
    let cancelled = cancelled(&out);
    assert!(started > 0, "{s:?}");
    assert_eq!(
        started,
        ok + failed + cancelled,
        "SIG{signal}: every started stream is ok, failed or cancelled: {s:?}, cancelled {cancelled}"
    );
    let duration: f64 = s["duration_s"].parse().expect("duration_s");
    assert!(
        duration < 25.0,
        "SIG{signal}: the run stopped early, not after its 30 s: {s:?}"
    );
    let passed = s["thresholds_passed"].as_str();
    assert_eq!(
        status.code() == Some(0),
        passed == "true",
        "exit code agrees with thresholds_passed: {s:?}"
    );
    assert_eq!(passed, passes.to_string(), "SIG{signal}: {s:?}");
    if passes {
        assert_eq!(
            (ok, failed),
            (started, 0),
            "SIG{signal}: every stream ok: {s:?}"
        );
    } else {
        assert_eq!(
            (ok, failed),
            (0, 0),
            "SIG{signal}: no stream finished: {s:?}"
        );
    }
    assert_timeseries_parseable(&out, 3);
    let breaker = std::fs::read_to_string(out.join("breaker.csv")).expect("breaker.csv");
    assert!(
        breaker.starts_with("t_ms,session,from,to,reason\n"),
        "{breaker}"
    );
    (cancelled, s, stderr)
}

#[test]
fn sigint_with_streams_longer_than_the_grace_writes_the_full_report() {
    // 40 events 250 ms apart: 10 s streams; the signal comes after about
    // 3 s, the grace is a few seconds, so the streams in flight are
    // cancelled and must be accounted for.
    let (cancelled, s, _) = stop("INT", 40, false, false);
    assert!(
        cancelled > 0,
        "streams still in flight after the grace are counted as cancelled: {s:?}"
    );
}

#[test]
fn sigterm_with_short_streams_writes_the_full_report() {
    // 4 events 250 ms apart: 1 s streams finish within the grace.
    let (cancelled, s, _) = stop("TERM", 4, false, true);
    assert_eq!(cancelled, 0, "no stream outlasts the grace: {s:?}");
}

#[test]
fn a_second_sigint_aborts_in_flight_streams_and_still_writes_the_report() {
    // 10 s streams: at the second signal every session is mid-stream.
    let (cancelled, s, stderr) = stop("INT", 40, true, false);
    assert!(stderr.contains("second signal"), "{stderr}");
    eprintln!("summary after two SIGINTs: {s:?}");
    assert!(
        cancelled > 0,
        "aborted streams are counted as cancelled: {s:?}"
    );
}

#[test]
fn sigkill_leaves_every_timeseries_row_written_so_far() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scenario = scenario(tmp.path(), 4);
    let out = tmp.path().join("report");
    let mut run = Running::start(&scenario, &out);
    run.wait_for_rows(&out, 3);
    let before = std::fs::read_to_string(out.join("timeseries.csv")).expect("timeseries.csv");
    run.signal("KILL");
    let (status, _) = run.wait(EXIT_WITHIN, "after SIGKILL");
    assert_eq!(status.code(), None, "killed by the signal");

    let after = std::fs::read_to_string(out.join("timeseries.csv")).expect("timeseries.csv");
    // What was complete before the kill is still there, unchanged.
    let complete_before = &before[..=before.rfind('\n').expect("a newline")];
    assert!(
        after.starts_with(complete_before),
        "rows are never rewritten:\nbefore:\n{before}\nafter:\n{after}"
    );
    let rows = assert_timeseries_parseable(&out, 3);
    let mut last_t = -1.0;
    for row in &rows {
        let t: f64 = row["t_s"].parse().expect("t_s");
        assert!(t > last_t, "t_s increases: {rows:?}");
        last_t = t;
    }
    let breaker = std::fs::read_to_string(out.join("breaker.csv")).expect("breaker.csv exists");
    assert!(
        breaker.starts_with("t_ms,session,from,to,reason\n"),
        "breaker.csv has its header: {breaker:?}"
    );
}
