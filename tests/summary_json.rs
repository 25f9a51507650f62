//! `summary.json` (issue 13): every report folder has one — written by
//! `run`, `report` and `merge` — valid against `schema/summary.schema.json`,
//! with every value equal to the CSV cell it comes from; observed threshold
//! values carry their unit in `thresholds.csv`'s `unit` column.

mod support;

use std::path::{Path, PathBuf};

use support::summary_json::{check, validate};
use support::{assert_reported, bin, merge, report, run_cmd, show};

/// A short run against the embedded server with a shutdown fault (so
/// faults.csv and errors.csv have rows) and a header taken from the
/// environment.
const SCENARIO: &str = r#"
name = "observe"
target = "embedded"
seed = 3

[server]
events = 4
interval = "100ms"

[request]
headers = { Authorization = "Bearer ${OBSERVE_TOKEN}" }

[load]
executor = "ramping-sessions"
stages = [ { for = "1s", to = 6 }, { for = "4s", to = 6 }, { for = "1s", to = 0 } ]
think_time = "100ms"

[retry]
max_retries = 1
backoff = { base = "100ms", factor = 2.0, max = "500ms", jitter = "full" }

[breaker]
failure_threshold = 2
open_for = "1s"

[[faults]]
at = "2s"
for = "1500ms"
kind = "shutdown"

[thresholds]
success_rate = ">= 0.1"
"ttfe.p99" = "< 5s"
events = "> 10"
"errors.network" = ">= 0"
"#;

fn write_scenario(dir: &Path) -> PathBuf {
    let path = dir.join("observe.toml");
    std::fs::write(&path, SCENARIO).expect("write scenario");
    path
}

fn run(scenario: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    run_cmd(scenario, out)
        .args(extra)
        .env("OBSERVE_TOKEN", "sk-observe-secret")
        .output()
        .expect("streamsoak runs")
}

#[test]
fn run_report_and_merge_write_summary_json_equal_to_the_csvs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(tmp.path());
    let out = tmp.path().join("run");
    let output = run(&scenario, &out, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));

    let doc = check(&out);
    assert_eq!(doc["complete"], true);
    assert_eq!(doc["summary"]["name"], "observe");
    assert!(doc["summary"]["streams_ok"].as_u64() > Some(0), "{doc}");
    assert_eq!(
        doc["faults"].as_array().map(Vec::len),
        Some(1),
        "one fault row"
    );
    assert!(
        !doc["errors"].as_array().expect("errors").is_empty(),
        "a shutdown leaves errors: {doc}"
    );
    let units: Vec<&str> = doc["thresholds"]
        .as_array()
        .expect("thresholds")
        .iter()
        .map(|t| t["unit"].as_str().expect("unit"))
        .collect();
    assert_eq!(units, ["ratio", "ms", "events", "errors"]);

    // `report` regenerates it from the raw data: the same document.
    let before = std::fs::read(out.join("summary.json")).expect("summary.json");
    let output = report(&out);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    check(&out);
    assert_eq!(
        std::fs::read(out.join("summary.json")).expect("summary.json"),
        before,
        "report reproduces summary.json byte for byte"
    );

    // Nothing secret reaches any report file.
    for entry in std::fs::read_dir(&out).expect("report folder") {
        let path = entry.expect("entry").path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
        assert!(
            !text.contains("sk-observe-secret"),
            "{} leaks the token",
            path.display()
        );
    }
    let resolved = std::fs::read_to_string(out.join("scenario.toml")).expect("scenario.toml");
    assert!(
        resolved.contains(r#"Authorization = "<redacted>""#),
        "{resolved}"
    );
    assert!(resolved.contains(r#"name = "observe""#), "{resolved}");
}

#[test]
fn merged_shards_have_summary_json_too() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(tmp.path());
    let shards: Vec<PathBuf> = (1..=2)
        .map(|i| tmp.path().join(format!("shard{i}")))
        .collect();
    let children: Vec<_> = shards
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            bin()
                .arg("run")
                .arg(&scenario)
                .arg("--out")
                .arg(dir)
                .arg("--quiet")
                .arg("--shard")
                .arg(format!("{}/2", i + 1))
                .env("OBSERVE_TOKEN", "t")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn shard")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("shard ends");
        assert_reported(&output);
    }
    for dir in &shards {
        let doc = check(dir);
        assert!(doc["summary"]["shard"].is_string(), "{doc}");
    }
    let merged = tmp.path().join("merged");
    let output = merge(&shards, &merged);
    assert_reported(&output);
    let doc = check(&merged);
    let started: u64 = shards
        .iter()
        .map(|d| support::int(&support::summary(d), "streams_started"))
        .sum();
    assert_eq!(doc["summary"]["streams_started"].as_u64(), Some(started));
    assert_eq!(doc["summary"]["shard"], serde_json::Value::Null);
}

#[test]
fn the_schema_refuses_what_it_should() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(tmp.path());
    let out = tmp.path().join("run");
    let output = run(
        &scenario,
        &out,
        &[
            "--set",
            "load.stages.1.for=1s",
            "--set",
            "faults.0.at=1s",
            "--set",
            "faults.0.for=500ms",
        ],
    );
    assert_reported(&output);
    let good = check(&out);
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 6] = [
        ("a counter as text", |d| {
            d["summary"]["streams_ok"] = "12".into()
        }),
        ("a negative count", |d| {
            d["latency"][0]["count"] = (-1).into()
        }),
        ("an unknown latency metric", |d| {
            d["latency"][0]["metric"] = "ttfx".into()
        }),
        ("a missing section", |d| {
            d.as_object_mut().map(|o| o.remove("errors"));
        }),
        ("a success rate above 1", |d| {
            d["summary"]["success_rate"] = 1.5.into()
        }),
        ("a threshold without unit", |d| {
            d["thresholds"][0].as_object_mut().map(|o| o.remove("unit"));
        }),
    ];
    for (what, edit) in edits {
        let mut bad = good.clone();
        edit(&mut bad);
        assert!(validate(&bad).is_err(), "the schema accepts {what}");
    }
}
