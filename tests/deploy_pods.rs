//! The shard Job's entrypoint as the pods run it: the script is read from
//! `deploy/k8s/job.yaml` (not copied) and run under `/bin/sh -c` by N = 3
//! processes with `JOB_COMPLETION_INDEX` = 0..N-1 and the real `streamsoak`
//! on `PATH`, against one `streamsoak serve`, sharing one folder as the
//! pods share their volume. One pod starts late, as a pod scheduled on a
//! busy node or pulling its image would. Then the merge Job's script runs.
//!
//! What must hold: the barrier makes every shard begin the plan at one
//! instant (their first intervals begin within 100 ms, though the pods
//! were ready a second or more apart), and the merged report holds exactly
//! the planned streams.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use streamsoak::metrics::hlog;
use support::manifests::{merge_job_script, shard_job};
use support::{expected_streams, int, num, read_csv, show, summary, ServeProcess};

const SHARDS: u32 = 3;
/// 30 streams/s for 3 s.
const PLANNED: u64 = 90;
/// How late the last pod starts after the first two are ready.
const LATE_POD: Duration = Duration::from_millis(1500);

fn scenario(target: &str) -> String {
    format!(
        r#"name = "k8s-e2e"
target = "{target}"
seed = 5

[load]
executor = "constant-arrival-rate"
rate = 30
for = "3s"
max_sessions = 100

[thresholds]
success_rate = ">= 0.99"
"#
    )
}

/// `PATH` with the directory of the binary under test first, as the image
/// has `streamsoak` on its `PATH`.
fn path_with_streamsoak() -> String {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_streamsoak"));
    format!(
        "{}:{}",
        exe.parent().expect("binary dir").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `/bin/sh -c SCRIPT` with the pod's environment.
fn pod(script: &str, index: Option<u32>, reports: &Path, scenario: &Path) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .env("PATH", path_with_streamsoak())
        .env("SHARDS", SHARDS.to_string())
        .env("JOB_UID", "e2e-job")
        .env("REPORTS", reports)
        .env("SCENARIO", scenario)
        .env("START_DELAY", "4")
        .env("BARRIER_TIMEOUT", "60")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(k) = index {
        cmd.env("JOB_COMPLETION_INDEX", k.to_string());
    }
    cmd
}

/// A running pod script: its stdout lines as they come, and all of it at the end.
struct Pod {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: std::thread::JoinHandle<String>,
}

impl Pod {
    fn start(mut cmd: Command) -> Pod {
        let mut child = cmd.spawn().expect("pod starts");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        Pod {
            child,
            lines,
            stdout,
        }
    }

    /// Waits (bounded) for the line the script prints once its ready mark is written.
    fn wait_ready(&self, k: u32) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains("ready; waiting for all") => return,
                Ok(_) => {}
                Err(err) => panic!("pod {k} never said it was ready: {err}"),
            }
        }
    }

    /// (exit code, stdout, stderr).
    fn finish(mut self) -> (Option<i32>, String, String) {
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        let status = self.child.wait().expect("pod script ends");
        let stdout = self.stdout.join().expect("stdout reader");
        (status.code(), stdout, stderr)
    }
}

/// A folder's wall-clock start (`histograms.hlog` StartTime, ms precision).
fn started_at(dir: &Path) -> f64 {
    let text = std::fs::read(dir.join("histograms.hlog")).expect("hlog");
    hlog::start_time(&text)
        .expect("StartTime")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

fn spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    max - min
}

#[test]
fn three_pods_start_together_at_the_barrier_and_merge_into_the_plan() {
    let (script, _, _) = shard_job();
    let merge_script = merge_job_script();
    let server = ServeProcess::start(&["--events", "2", "--interval", "50ms"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let reports = tmp.path().join("reports");
    std::fs::create_dir_all(&reports).expect("the shared volume");
    let scenario_file = tmp.path().join("scenario.toml");
    std::fs::write(&scenario_file, scenario(&server.base_url())).expect("scenario");

    // The plan of the whole test, as `streamsoak check` states it.
    assert_eq!(expected_streams(&scenario_file), PLANNED);

    // Pods 0 and 1 start; pod 2 is scheduled late.
    let spawn = |k: u32| Pod::start(pod(&script, Some(k), &reports, &scenario_file));
    let early: Vec<Pod> = (0..SHARDS - 1).map(spawn).collect();
    for (k, p) in early.iter().enumerate() {
        p.wait_ready(k as u32);
    }
    // The late pod's scheduling delay: the situation under test, not a
    // synchronisation (there is no event that "a node is slow" could await).
    #[allow(clippy::disallowed_methods)]
    std::thread::sleep(LATE_POD);
    let late = spawn(SHARDS - 1);
    for (k, p) in early.into_iter().chain([late]).enumerate() {
        let (code, stdout, stderr) = p.finish();
        assert_eq!(
            code,
            Some(0),
            "pod {k}: exit {code:?}\n{stdout}\n--- stderr\n{stderr}"
        );
        assert!(stdout.contains("plan starts at"), "pod {k}: {stdout}");
    }

    // The pods were ready at least a second apart ...
    let marks: Vec<f64> = (0..SHARDS)
        .map(|k| {
            let path = reports.join(".start-e2e-job").join(format!("ready-{k}"));
            std::fs::read_to_string(&path)
                .expect("mark")
                .trim()
                .parse()
                .expect("a time")
        })
        .collect();
    assert!(spread(&marks) >= 1.0, "ready marks {marks:?}");

    // ... yet every shard began the plan at the same instant.
    let dirs: Vec<PathBuf> = (0..SHARDS)
        .map(|k| reports.join(format!("shard-{k}")))
        .collect();
    let summaries: Vec<_> = dirs.iter().map(|d| summary(d)).collect();
    for (k, s) in summaries.iter().enumerate() {
        assert_eq!(s["shard"], format!("{}/{SHARDS}", k + 1), "{s:?}");
        let start_at = s
            .get("start_at")
            .unwrap_or_else(|| panic!("shard {k} was run with --start-at: {s:?}"));
        assert_eq!(start_at, &summaries[0]["start_at"], "one instant: {s:?}");
        assert_eq!(
            s["plan_digest"], summaries[0]["plan_digest"],
            "one plan: {s:?}"
        );
        let late_ms = num(s, "start_late_ms");
        assert!(
            (0.0..100.0).contains(&late_ms),
            "shard {k} late by {late_ms} ms"
        );
    }
    let starts: Vec<f64> = dirs.iter().map(|d| started_at(d)).collect();
    assert!(
        spread(&starts) < 0.1,
        "first intervals begin within 100 ms: {starts:?}"
    );
    // Their first timeseries rows close one interval after that common t = 0.
    for dir in &dirs {
        let (_, rows) = read_csv(&dir.join("timeseries.csv"));
        let first = rows.first().expect("a timeseries row");
        let t = num(first, "t_s");
        assert!(
            (0.5..3.0).contains(&t),
            "{}: first row at {t}",
            dir.display()
        );
    }

    // The merge Job, as its pod runs it.
    let out = pod(&merge_script, None, &reports, &scenario_file)
        .output()
        .expect("merge pod");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let merged = reports.join("merged");
    let m = summary(&merged);
    assert_eq!(int(&m, "streams_started"), PLANNED, "{m:?}");
    assert_eq!(int(&m, "streams_ok"), PLANNED, "{m:?}");
    assert_eq!(int(&m, "dropped_arrivals"), 0, "{m:?}");
    assert_eq!(m["start_at"], summaries[0]["start_at"]);
    let skew = num(&m, "start_skew_ms");
    assert!(
        (skew - spread(&starts) * 1000.0).abs() < 1.5,
        "start_skew_ms {skew} is the spread of the shards' starts {starts:?}"
    );
    assert!(!m.contains_key("shard"), "{m:?}");
    assert_eq!(m["thresholds_passed"], "true");
    assert_eq!(
        server.stats().streams_completed,
        PLANNED,
        "the server saw the planned streams"
    );
}
