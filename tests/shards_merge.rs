//! "Scale past one machine": an open-model scenario run as three
//! `--shard I/3` processes against ONE `streamsoak serve`, then
//! `streamsoak merge`. The merged report must be the union of the shards:
//! the planned arrivals exactly, counters summed, sessions concatenated,
//! histograms bucket for bucket, and `latency.csv` the percentiles of the
//! union histogram — as if one machine had run every sample.
//!
//! Also: `merge` refuses folders that are not shards of one run (exit 2):
//! other scenarios or plans, other `--start-at` instants, a shard twice or
//! missing.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use streamsoak::metrics::hlog;
use streamsoak::metrics::{Latencies, LatencyMetric, LatencySummary};
use support::{
    bin, expected_streams, int, merge, read_csv, show, summary, ServeProcess, SUMMARY_COUNTERS,
};

/// Shards per run.
const SHARDS: u32 = 3;
/// 30 streams/s for 3 s.
const PLANNED: u64 = 90;

/// The open-model scenario, aimed at `target`.
fn scenario(name: &str, target: &str, rate: u32, for_: &str) -> String {
    format!(
        r#"name = "{name}"
target = "{target}"
seed = 11

[load]
executor = "constant-arrival-rate"
rate = {rate}
for = "{for_}"
max_sessions = 100

[thresholds]
success_rate = ">= 0.99"
"#
    )
}

fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write scenario");
    path
}

/// `streamsoak run FILE --shard SHARD --out OUT --quiet` (no shard: unsharded).
fn run_shard(file: &Path, shard: Option<&str>, out: &Path) -> Output {
    run_shard_with(file, shard, out, &[])
}

/// [`run_shard`] with `extra` arguments.
fn run_shard_with(file: &Path, shard: Option<&str>, out: &Path, extra: &[&str]) -> Output {
    let mut cmd = bin();
    cmd.arg("run")
        .arg(file)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra);
    if let Some(shard) = shard {
        cmd.args(["--shard", shard]);
    }
    cmd.output().expect("streamsoak run starts")
}

/// Every histogram of a folder's `histograms.hlog`, summed per metric.
fn hlog_union(dir: &Path) -> Latencies {
    let path = dir.join("histograms.hlog");
    let text = std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let entries =
        hlog::read(&text).unwrap_or_else(|err| panic!("{} decodes: {err}", path.display()));
    let mut union = Latencies::default();
    for entry in &entries {
        union
            .get_mut(entry.metric)
            .add(&entry.histogram)
            .expect("same histogram bounds");
    }
    union
}

/// `sessions.csv` rows, sorted (for order-independent comparison).
fn sessions(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let (header, mut rows) = read_csv(&dir.join("sessions.csv"));
    assert_eq!(header[0], "session", "{}", dir.display());
    rows.sort();
    rows
}

#[test]
fn three_shards_merge_into_the_union_of_their_samples() {
    let server = ServeProcess::start(&["--events", "2", "--interval", "50ms"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write(
        tmp.path(),
        "shards.toml",
        &scenario("shards", &server.base_url(), 30, "3s"),
    );

    // The unsharded plan: 90 arrivals.
    assert_eq!(expected_streams(&file), PLANNED);

    // Three shard processes at once, as three machines would run them.
    let dirs: Vec<PathBuf> = (1..=SHARDS)
        .map(|i| tmp.path().join(format!("shard-{i}")))
        .collect();
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| {
                let file = &file;
                scope.spawn(move || run_shard(file, Some(&format!("{}/{SHARDS}", i + 1)), dir))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("shard thread"))
            .collect()
    });
    for (i, output) in outputs.iter().enumerate() {
        assert_eq!(
            output.status.code(),
            Some(0),
            "shard {}/{SHARDS}: {}",
            i + 1,
            show(output)
        );
    }
    let shard_summaries: Vec<_> = dirs.iter().map(|d| summary(d)).collect();
    for (i, s) in shard_summaries.iter().enumerate() {
        assert_eq!(
            s.get("shard").map(String::as_str),
            Some(format!("{}/{SHARDS}", i + 1).as_str()),
            "summary.csv of shard {} names its slice: {s:?}",
            i + 1
        );
    }

    let merged = tmp.path().join("merged");
    let dir_refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let output = merge(&dir_refs, &merged);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let m = summary(&merged);

    // Arrivals: the shards' union is exactly the unsharded plan.
    assert_eq!(int(&m, "streams_started"), PLANNED, "{m:?}");
    assert_eq!(int(&m, "dropped_arrivals"), 0, "{m:?}");
    assert_eq!(int(&m, "streams_ok"), PLANNED, "{m:?}");
    assert!(
        !m.contains_key("shard"),
        "a merged report is no shard: {m:?}"
    );
    assert_eq!(m["name"], "shards");
    assert_eq!(m["thresholds_passed"], "true", "{m:?}");

    // Counters: summed.
    for key in SUMMARY_COUNTERS {
        let sum: u64 = shard_summaries.iter().map(|s| int(s, key)).sum();
        assert_eq!(int(&m, key), sum, "{key}: merged vs sum of shards");
    }
    let peaks: Vec<u64> = shard_summaries
        .iter()
        .map(|s| int(s, "peak_sessions"))
        .collect();
    let peak = int(&m, "peak_sessions");
    assert!(
        peak >= peaks.iter().copied().max().unwrap_or(0) && peak <= peaks.iter().sum::<u64>(),
        "merged peak {peak} within the shards' peaks {peaks:?}"
    );

    // Sessions: the concatenation, ids distinct across shards.
    let mut concatenated: Vec<_> = dirs.iter().flat_map(|d| sessions(d)).collect();
    concatenated.sort();
    let merged_sessions = sessions(&merged);
    assert_eq!(merged_sessions, concatenated, "sessions.csv concatenated");
    let ids: HashSet<&str> = merged_sessions
        .iter()
        .map(|r| r["session"].as_str())
        .collect();
    assert_eq!(ids.len(), merged_sessions.len(), "session ids are distinct");
    let streams: u64 = merged_sessions.iter().map(|r| int(r, "streams")).sum();
    assert_eq!(streams, PLANNED, "every stream belongs to one session");

    // Histograms: bucket for bucket.
    let mut union = Latencies::default();
    for dir in &dirs {
        union.add(&hlog_union(dir));
    }
    let merged_hists = hlog_union(&merged);
    for metric in LatencyMetric::ALL {
        assert_eq!(
            merged_hists.get(metric),
            union.get(metric),
            "{}: merged hlog == union of the shards' hlogs",
            metric.as_str()
        );
    }
    assert_eq!(
        union.get(LatencyMetric::Ttfe).len(),
        PLANNED,
        "one ttfe sample per stream"
    );

    // latency.csv: the percentiles of the union histogram.
    let (header, rows) = read_csv(&merged.join("latency.csv"));
    assert_eq!(
        header,
        [
            "metric", "count", "min_ms", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms",
            "p99_9_ms", "max_ms"
        ]
    );
    assert_eq!(rows.len(), LatencyMetric::ALL.len(), "{rows:?}");
    for row in &rows {
        let metric = LatencyMetric::from_name(&row["metric"])
            .unwrap_or_else(|| panic!("known metric in {row:?}"));
        let s = LatencySummary::of(union.get(metric));
        let want: BTreeMap<&str, String> = [
            ("count", s.count.to_string()),
            ("min_ms", format!("{:.3}", s.min_ms)),
            ("mean_ms", format!("{:.3}", s.mean_ms)),
            ("p50_ms", format!("{:.3}", s.p50_ms)),
            ("p90_ms", format!("{:.3}", s.p90_ms)),
            ("p95_ms", format!("{:.3}", s.p95_ms)),
            ("p99_ms", format!("{:.3}", s.p99_ms)),
            ("p99_9_ms", format!("{:.3}", s.p99_9_ms)),
            ("max_ms", format!("{:.3}", s.max_ms)),
        ]
        .into_iter()
        .collect();
        for (column, value) in want {
            assert_eq!(
                row[column],
                value,
                "latency.csv {} {column}: merged vs union histogram",
                metric.as_str()
            );
        }
    }

    // The one server saw every completed stream exactly once.
    let stats = server.stats();
    assert_eq!(
        stats.streams_completed,
        int(&m, "streams_ok"),
        "server /stats {stats:?} vs merged {m:?}"
    );
}

/// `merge` output: exit 2 and a message containing `needle`.
fn assert_refused(output: &Output, needle: &str) {
    assert_eq!(output.status.code(), Some(2), "{}", show(output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(needle),
        "message names the problem (`{needle}`): {}",
        show(output)
    );
}

#[test]
fn merge_refuses_folders_that_are_not_shards_of_one_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = |name: &str| tmp.path().join(name);
    // Small runs against the embedded server: 6 streams over 1 s.
    let mix = write(
        tmp.path(),
        "mix.toml",
        &scenario("mix", "embedded", 6, "1s"),
    );
    let other = write(
        tmp.path(),
        "other.toml",
        &scenario("other", "embedded", 6, "1s"),
    );
    for (file, shard, out, extra) in [
        (&mix, Some("1/3"), "mix-1", &[][..]),
        (&mix, Some("2/2"), "mix-2of2", &[]),
        (&mix, None, "mix-whole", &[]),
        (&other, Some("2/3"), "other-2", &[]),
        (&mix, Some("3/3"), "mix-3", &[]),
        (&mix, Some("2/3"), "mix-2-seed", &["--set", "seed=12"]),
        (&mix, Some("2/3"), "mix-2-at", &["--start-at", "+1s"]),
    ] {
        let output = run_shard_with(file, shard, &dir(out), extra);
        assert_eq!(output.status.code(), Some(0), "{out}: {}", show(&output));
    }

    // Two different scenarios.
    let output = merge(&[&dir("mix-1"), &dir("other-2")], &dir("m1"));
    assert_refused(&output, "merge shards of one scenario");

    // The same shard twice.
    let output = merge(&[&dir("mix-1"), &dir("mix-1")], &dir("m2"));
    assert_refused(&output, "given twice");

    // A non-shard folder with a shard.
    let output = merge(&[&dir("mix-1"), &dir("mix-whole")], &dir("m3"));
    assert_refused(&output, "not a shard folder");

    // Shards of runs split differently (1/3 and 2/2).
    let output = merge(&[&dir("mix-1"), &dir("mix-2of2")], &dir("m4"));
    assert_refused(&output, "does not belong to a run of 3 shards");

    // The same scenario with another resolved plan (here: --set seed=12).
    let output = merge(
        &[&dir("mix-1"), &dir("mix-2-seed"), &dir("mix-3")],
        &dir("m6"),
    );
    assert_refused(&output, "shard 2/3 ran another plan (plan_digest ");
    assert_refused(&output, "mix-2-seed");
    // One shard told to start at an instant, the others not.
    let output = merge(
        &[&dir("mix-1"), &dir("mix-2-at"), &dir("mix-3")],
        &dir("m7"),
    );
    assert_refused(&output, "shard 2/3 was run with --start-at ");
    assert_refused(&output, "mix-2-at");
    // A shard missing.
    let output = merge(&[&dir("mix-1"), &dir("mix-3")], &dir("m8"));
    assert_refused(&output, "shard 2/3 missing from the 2 folders given");

    // A folder that is no report at all.
    std::fs::create_dir_all(dir("empty")).expect("mkdir");
    let output = merge(&[&dir("mix-1"), &dir("empty")], &dir("m5"));
    assert_refused(&output, "not a report folder");
}
