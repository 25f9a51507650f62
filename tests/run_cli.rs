//! `streamsoak run` end to end: the report folder's files and columns are
//! PRODUCT.md's, its counters add up across files and agree with the
//! server's own counts, thresholds set the exit code, and bad input or an
//! unwritable folder give exit 2 / 3 with a useful message.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use streamsoak::report::csv as report_csv;
use support::{int, num, read_csv, run_cmd, scenario, show, summary, ServeProcess};

/// smoke.toml shortened to 1 s up, 2 s hold, 1 s down. `streams_ok > 50`
/// is calibrated for the full 20 s run, so it is relaxed here.
const SHORT_SMOKE: &[&str] = &[
    "--set",
    "load.stages.0.for=1s",
    "--set",
    "load.stages.1.for=2s",
    "--set",
    "load.stages.2.for=1s",
    "--set",
    "thresholds.streams_ok=> 0",
];

// Headers copied from PRODUCT.md ("Report folder"), kept here so this test
// checks the code against the contract, not against itself.
const SUMMARY_KEYS: &[&str] = &[
    "name",
    "target",
    "started_at",
    "duration_s",
    "peak_sessions",
    "streams_started",
    "streams_ok",
    "streams_failed",
    "success_rate",
    "attempts",
    "retries",
    "short_circuited",
    "breaker_opens",
    "events",
    "events_per_s",
    "bytes",
    "dropped_arrivals",
    "thresholds_passed",
    "output_tokens",
    "output_tokens_per_s",
    "goodput",
    // PRODUCT.md "Protocols and TLS": summary.csv gains http_versions.
    "http_versions",
    // PRODUCT.md "Stream modes: request and subscribe" (issue #16), at the end.
    "disconnects",
    "reconnects",
    "lost_events",
    "duplicate_events",
];
const LATENCY: &[&str] = &[
    "metric", "count", "min_ms", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99_9_ms",
    "max_ms",
];
const LATENCY_METRICS: &[&str] = &[
    "ttfb",
    "ttfe",
    "gap",
    "stream",
    "open",
    "recover",
    "ttft",
    "itl",
    "tpot",
    "delivery",
    "reconnect",
];
const TIMESERIES: &[&str] = &[
    "t_s",
    "active_sessions",
    "streams_started",
    "streams_ok",
    "streams_failed",
    "attempts",
    "events",
    "retries",
    "short_circuited",
    "breakers_open",
    "ttfe_p50_ms",
    "ttfe_p99_ms",
    "gap_p99_ms",
    "stream_p99_ms",
    "open_streams", // issue #16: a new column at the end
];
const ERRORS: &[&str] = &["class", "kind", "count", "first_seen_s", "example"];
const BREAKER: &[&str] = &["t_ms", "session", "from", "to", "reason"];
const FAULTS: &[&str] = &[
    "fault",
    "kind",
    "start_s",
    "end_s",
    "sessions",
    "opened",
    "open_p50_ms",
    "open_max_ms",
    "recovered",
    "recover_p50_ms",
    "recover_max_ms",
    "short_circuited",
    "failed_streams",
    "retry_amplification",
    "recovery_burst",
    // issue #16: the reconnect storm, at the end
    "reconnected",
    "reconnect_p50_ms",
    "reconnect_max_ms",
];
const SESSIONS: &[&str] = &[
    "session",
    "streams",
    "ok",
    "failed",
    "retries",
    "events",
    "breaker_opens",
    "final_state",
];
// PRODUCT.md's four columns, then `unit` (issue 13: the unit `observed` is in).
const THRESHOLDS: &[&str] = &["threshold", "condition", "observed", "passed", "unit"];

/// Runs `streamsoak run SCENARIO --out DIR --quiet EXTRA…`.
fn run_scenario(scenario: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    run_cmd(scenario, out)
        .args(extra)
        .output()
        .expect("streamsoak runs")
}

fn sum(rows: &[BTreeMap<String, String>], column: &str) -> u64 {
    rows.iter().map(|row| int(row, column)).sum()
}

#[test]
fn constants_match_the_contract() {
    assert_eq!(report_csv::SUMMARY_KEYS, SUMMARY_KEYS);
    assert_eq!(report_csv::LATENCY_HEADER, LATENCY);
    assert_eq!(report_csv::TIMESERIES_HEADER, TIMESERIES);
    assert_eq!(report_csv::ERRORS_HEADER, ERRORS);
    assert_eq!(report_csv::BREAKER_HEADER, BREAKER);
    assert_eq!(report_csv::FAULTS_HEADER, FAULTS);
    assert_eq!(report_csv::SESSIONS_HEADER, SESSIONS);
    assert_eq!(report_csv::THRESHOLDS_HEADER, THRESHOLDS);
}

#[test]
fn smoke_run_writes_a_consistent_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("report");
    let output = run_scenario(&scenario("smoke.toml"), &out, SHORT_SMOKE);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));

    for file in [
        "summary.csv",
        "latency.csv",
        "timeseries.csv",
        "errors.csv",
        "breaker.csv",
        "faults.csv",
        "sessions.csv",
        "thresholds.csv",
        "histograms.hlog",
    ] {
        let meta = std::fs::metadata(out.join(file))
            .unwrap_or_else(|err| panic!("{file} is written: {err}"));
        assert!(meta.len() > 0, "{file} is not empty");
    }

    // Headers, exactly as PRODUCT.md lists them.
    for (file, expected) in [
        ("latency.csv", LATENCY),
        ("timeseries.csv", TIMESERIES),
        ("errors.csv", ERRORS),
        ("breaker.csv", BREAKER),
        ("faults.csv", FAULTS),
        ("sessions.csv", SESSIONS),
        ("thresholds.csv", THRESHOLDS),
    ] {
        let (header, _) = read_csv(&out.join(file));
        assert_eq!(header, expected, "{file} header");
    }
    let (header, rows) = read_csv(&out.join("summary.csv"));
    assert_eq!(header, ["key", "value"]);
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str()).collect();
    assert_eq!(keys, SUMMARY_KEYS, "summary.csv keys, in order");
    let (_, latency) = read_csv(&out.join("latency.csv"));
    let metrics: Vec<&str> = latency.iter().map(|r| r["metric"].as_str()).collect();
    assert_eq!(metrics, LATENCY_METRICS, "latency.csv rows");

    // Counters add up across files.
    let s = summary(&out);
    assert_eq!(s["name"], "smoke");
    assert_eq!(s["target"], "embedded");
    assert_eq!(s["thresholds_passed"], "true");
    let started = int(&s, "streams_started");
    let ok = int(&s, "streams_ok");
    assert!(ok > 0, "{s:?}");
    assert_eq!(
        started,
        ok + int(&s, "streams_failed"),
        "the run drains: nothing in flight: {s:?}"
    );
    assert_eq!(int(&s, "attempts"), started + int(&s, "retries"), "{s:?}");
    assert_eq!(int(&s, "dropped_arrivals"), 0);
    assert_eq!(int(&s, "peak_sessions"), 20);

    let (_, sessions) = read_csv(&out.join("sessions.csv"));
    assert_eq!(sessions.len(), 20, "one row per session");
    assert_eq!(sum(&sessions, "streams"), started);
    assert_eq!(sum(&sessions, "ok"), ok);
    assert_eq!(sum(&sessions, "events"), int(&s, "events"));
    for row in &sessions {
        assert_eq!(
            int(row, "streams"),
            int(row, "ok") + int(row, "failed"),
            "{row:?}"
        );
    }

    let (_, series) = read_csv(&out.join("timeseries.csv"));
    assert!(
        series.len() >= 3,
        "one row per second of a 4 s run: {series:?}"
    );
    assert_eq!(sum(&series, "streams_started"), started);
    assert_eq!(sum(&series, "streams_ok"), ok);
    assert_eq!(sum(&series, "events"), int(&s, "events"));
    assert_eq!(sum(&series, "attempts"), int(&s, "attempts"));
    let times: Vec<f64> = series.iter().map(|r| num(r, "t_s")).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");

    // A stream is 4 events + the completion event.
    assert_eq!(int(&s, "events"), 5 * ok, "{s:?}");
    let ttfe = latency
        .iter()
        .find(|r| r["metric"] == "ttfe")
        .expect("ttfe");
    assert_eq!(int(ttfe, "count"), int(&s, "attempts"));

    let (_, thresholds) = read_csv(&out.join("thresholds.csv"));
    assert_eq!(thresholds.len(), 5, "smoke.toml has 5 thresholds");
    assert!(
        thresholds.iter().all(|r| r["passed"] == "true"),
        "{thresholds:?}"
    );
}

#[test]
fn failing_threshold_exits_1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("report");
    let mut args = SHORT_SMOKE.to_vec();
    args.extend(["--set", r#"thresholds."ttfe.p99"=< 1us"#]);
    let output = run_scenario(&scenario("smoke.toml"), &out, &args);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));

    let (_, thresholds) = read_csv(&out.join("thresholds.csv"));
    let ttfe = thresholds
        .iter()
        .find(|r| r["threshold"] == "ttfe.p99")
        .unwrap_or_else(|| panic!("ttfe.p99 row: {thresholds:?}"));
    assert_eq!(ttfe["condition"], "< 1us");
    assert_eq!(ttfe["passed"], "false", "{ttfe:?}");
    let others_pass = thresholds
        .iter()
        .filter(|r| r["threshold"] != "ttfe.p99")
        .all(|r| r["passed"] == "true");
    assert!(others_pass, "{thresholds:?}");
    assert_eq!(summary(&out)["thresholds_passed"], "false");
}

#[test]
fn invalid_scenario_names_file_line_and_the_right_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "server-typo.toml",
            "name = \"typo\"\ntarget = \"embedded\"\n\n[server]\nevnets = 3\n",
            5,
            "evnets",
            "events",
        ),
        (
            "table-typo.toml",
            "name = \"typo\"\n\n[laod]\nexecutor = \"ramping-sessions\"\n",
            3,
            "laod",
            "load",
        ),
    ];
    for (file, text, line, wrong, right) in cases {
        let path = tmp.path().join(file);
        std::fs::write(&path, text).expect("write scenario");
        let out = tmp.path().join(format!("out-{file}"));
        let output = run_scenario(&path, &out, &[]);
        assert_eq!(output.status.code(), Some(2), "{file}: {}", show(&output));
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            err.contains(&format!("{}:{line}:", path.display())),
            "{file}: names the file and line {line}: {err}"
        );
        assert!(err.contains(wrong), "{file}: names the key: {err}");
        assert!(
            err.contains(&format!("did you mean `{right}`")),
            "{file}: suggests `{right}`: {err}"
        );
        assert!(
            !out.exists(),
            "{file}: no report folder for an invalid scenario"
        );
    }
}

#[test]
fn invalid_override_exits_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for set in ["load.stagse.0.for=1s", "load.stages.0.for=soon", "nokey"] {
        let out = tmp.path().join("report");
        let output = run_scenario(&scenario("smoke.toml"), &out, &["--set", set]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "--set {set}: {}",
            show(&output)
        );
        assert!(!out.exists(), "--set {set}: nothing written");
    }
}

#[test]
fn unwritable_out_exits_3() {
    let output = run_scenario(&scenario("smoke.toml"), Path::new("/proc/forbidden/x"), &[]);
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("/proc/forbidden/x"), "names the folder: {err}");
}

#[test]
fn non_empty_out_needs_force() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("report");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("keep.txt"), "mine").expect("write");
    let tiny = tmp.path().join("tiny.toml");
    std::fs::write(
        &tiny,
        "name = \"tiny\"\n\n[server]\nevents = 1\ninterval = \"0ms\"\n\n\
         [load]\nstages = [ { for = \"0s\", to = 1 }, { for = \"1s\", to = 1 } ]\n\
         think_time = \"100ms\"\n",
    )
    .expect("write scenario");

    let output = run_scenario(&tiny, &out, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("--force"), "says how to proceed: {err}");
    assert!(!out.join("summary.csv").exists(), "nothing written");

    let output = run_scenario(&tiny, &out, &["--force"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(out.join("summary.csv").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).expect("kept"),
        "mine",
        "--force writes the report, it does not wipe the folder"
    );
}

#[test]
fn run_counts_match_the_servers_own_counts() {
    let server = ServeProcess::start(&["--events", "4", "--interval", "10ms"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("report");
    let target = server.base_url();
    let mut args = vec!["--target", target.as_str()];
    args.extend(SHORT_SMOKE);
    let output = run_scenario(&scenario("smoke.toml"), &out, &args);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));

    let s = summary(&out);
    assert_eq!(s["target"], target, "{s:?}");
    let stats = server.stats();
    assert_eq!(
        stats.streams_started,
        stats.streams_completed + stats.streams_cut,
        "nothing in flight at the server: {stats:?}"
    );
    assert_eq!(stats.events_sent, int(&s, "events"), "{stats:?} vs {s:?}");
    assert_eq!(
        stats.streams_completed,
        int(&s, "streams_ok"),
        "{stats:?} vs {s:?}"
    );
    assert_eq!(
        stats.streams_started,
        int(&s, "streams_started"),
        "{stats:?} vs {s:?}"
    );
    assert_eq!(stats.requests, int(&s, "attempts"), "{stats:?} vs {s:?}");
    assert_eq!(stats.streams_cut, 0, "{stats:?}");
}
