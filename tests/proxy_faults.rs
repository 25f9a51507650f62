//! `streamsoak run` with `status` and `refuse` fault-proxy faults against
//! the embedded target: the sessions keep their HTTP/1.1 connections alive
//! between streams, so these faults must reach requests made on connections
//! opened before the window, not only new connections. Each test runs the
//! binary for a 10 s scenario (a 3 s fault from 3 s) and checks the report
//! folder: the fault failed streams with the expected error class, breakers
//! opened during it and every one recovered after it, and the summary's
//! stream counts add up.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// The scenario, with `{fault}` replaced by the fault's kind-specific lines.
const SCENARIO: &str = r#"name = "proxy-faults"
target = "embedded"

[server]
events = 4
interval = "100ms"

[load]
stages = [ { for = "1s", to = 10 }, { for = "9s", to = 10 } ]
think_time = "100ms"

[retry]
max_retries = 1
backoff = { base = "100ms" }

[breaker]
failure_threshold = 3
open_for = "2s"

[[faults]]
at = "3s"
for = "3s"
{fault}
"#;

/// One CSV file's rows, each as column → value.
fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|err| panic!("cannot open {}: {err}", path.display()));
    let headers = reader.headers().expect("CSV header").clone();
    reader
        .records()
        .map(|record| {
            let record = record.unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn int(row: &HashMap<String, String>, column: &str) -> u64 {
    let value = row
        .get(column)
        .unwrap_or_else(|| panic!("no column `{column}` in {row:?}"));
    value
        .parse()
        .unwrap_or_else(|err| panic!("`{column}` = {value:?}: {err}"))
}

/// Runs the scenario with `fault` and checks the report; `class` is the
/// error class the fault must show up as, and `kinds` its error kinds (at
/// least one of them must appear).
fn run_with_fault(fault: &str, class: &str, kinds: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("proxy-faults.toml");
    std::fs::write(&scenario, SCENARIO.replace("{fault}", fault)).expect("write scenario");
    let out = dir.path().join("report");
    let output = Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .arg("run")
        .arg(&scenario)
        .arg("--quiet")
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run streamsoak");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "streamsoak run failed ({}): {stderr}",
        output.status
    );
    let show = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let context = format!(
        "--- faults.csv\n{}--- errors.csv\n{}--- summary.csv\n{}",
        show("faults.csv"),
        show("errors.csv"),
        show("summary.csv")
    );

    let faults = read_csv(&out.join("faults.csv"));
    assert_eq!(faults.len(), 1, "one fault row\n{context}");
    let row = &faults[0];
    let kind = fault
        .split('"')
        .nth(1)
        .expect("fault lines start with kind = \"...\"");
    assert_eq!(row["kind"], kind, "{context}");
    assert!(
        int(row, "failed_streams") > 0,
        "the fault failed no stream\n{context}"
    );
    let opened = int(row, "opened");
    assert!(opened > 0, "no breaker opened during the fault\n{context}");
    assert_eq!(
        int(row, "recovered"),
        opened,
        "not every session whose breaker opened recovered\n{context}"
    );

    let errors = read_csv(&out.join("errors.csv"));
    let hits = errors
        .iter()
        .filter(|error| error["class"] == class && kinds.contains(&error["kind"].as_str()))
        .map(|error| int(error, "count"))
        .sum::<u64>();
    assert!(hits > 0, "no {class} error of kinds {kinds:?}\n{context}");

    let summary: HashMap<String, String> = read_csv(&out.join("summary.csv"))
        .into_iter()
        .map(|r| (r["key"].clone(), r["value"].clone()))
        .collect();
    let started = int(&summary, "streams_started");
    assert!(started > 0, "{context}");
    assert_eq!(
        started,
        int(&summary, "streams_ok") + int(&summary, "streams_failed"),
        "streams_started != streams_ok + streams_failed\n{context}"
    );
}

#[test]
fn status_fault_answers_requests_on_kept_alive_connections() {
    run_with_fault("kind = \"status\"\nstatus = 503", "server", &["status-5xx"]);
}

#[test]
fn refuse_fault_drops_kept_alive_connections_when_reused() {
    run_with_fault(
        "kind = \"refuse\"",
        "network",
        &["reset", "connect-refused"],
    );
}
