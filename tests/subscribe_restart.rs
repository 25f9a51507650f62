//! Issue #16: subscriptions across a server restart, read back from the
//! report files of real runs — with a replay buffer nothing is lost; without
//! one, the lost events equal the server's own count of what it never sent
//! to the returning subscribers (its `GET /stats` `missed`).

mod support;

use std::process::Command;

use support::{num, rows, summary, ServeProcess};

fn run(args: &[&str], dir: &std::path::Path) -> Option<i32> {
    Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .args(args)
        .args(["--quiet", "--out"])
        .arg(dir)
        .status()
        .expect("streamsoak runs")
        .code()
}

#[test]
fn with_replay_every_subscriber_reconnects_and_nothing_is_lost() {
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("report");
    let code = run(&["run", "scenarios/subscribe-restart.toml"], &dir);
    assert_eq!(code, Some(0), "the scenario's thresholds hold");

    let s = summary(&dir);
    let get = |k: &str| {
        s[k].parse::<u64>()
            .unwrap_or_else(|_| panic!("{k}: {}", s[k]))
    };
    let sessions = 50;
    assert_eq!(get("disconnects"), sessions, "each stream was cut once");
    assert_eq!(get("reconnects"), sessions, "each subscriber came back");
    assert_eq!(get("lost_events"), 0);
    assert_eq!(get("duplicate_events"), 0);
    assert_eq!((get("streams_ok"), get("streams_failed")), (sessions, 0));
    // Each subscriber received every event published during its hold of
    // 20 s at 20/s (≈400), the outage included: nothing is missing.
    let per_session = get("events") as f64 / sessions as f64;
    assert!(
        (380.0..=420.0).contains(&per_session),
        "{per_session} events per subscriber"
    );

    let faults = rows(&dir.join("faults.csv"));
    assert_eq!(faults.len(), 1);
    let f = &faults[0];
    assert_eq!(
        num(f, "reconnected"),
        sessions as f64,
        "the reconnect storm: {f:?}"
    );
    // Cut at the fault's start, back no earlier than its end (3 s later).
    assert!(num(f, "reconnect_p50_ms") >= 2_900.0, "{f:?}");
    assert!(num(f, "reconnect_max_ms") < 8_000.0, "{f:?}");

    let latency = rows(&dir.join("latency.csv"));
    let metric = |name: &str| {
        latency
            .iter()
            .find(|r| r["metric"] == name)
            .unwrap_or_else(|| panic!("latency.csv has {name}"))
            .clone()
    };
    assert_eq!(num(&metric("reconnect"), "count"), sessions as f64);
    assert_eq!(num(&metric("delivery"), "count"), get("events") as f64);
    assert!(num(&metric("delivery"), "p50_ms") < 50.0);
    // Replayed events waited out the outage.
    assert!(num(&metric("delivery"), "max_ms") >= 2_900.0);

    let (header, rows) = support::read_csv(&dir.join("timeseries.csv"));
    assert_eq!(header.last().map(String::as_str), Some("open_streams"));
    let open: Vec<f64> = rows.iter().map(|r| num(r, "open_streams")).collect();
    assert!(
        open.contains(&(sessions as f64)),
        "all open at some point: {open:?}"
    );
    let during: Vec<f64> = rows
        .iter()
        .filter(|r| (9.0..10.0).contains(&num(r, "t_s")))
        .map(|r| num(r, "open_streams"))
        .collect();
    assert!(
        during.iter().all(|n| *n == 0.0),
        "none open while the server is down: {during:?}"
    );
}

#[test]
fn without_replay_lost_events_match_the_servers_own_count() {
    // A broadcast server in its own process; the `shutdown` fault cuts and
    // refuses through the fault proxy while the server keeps publishing.
    let server = ServeProcess::start(&["--mode", "broadcast", "--rate", "50", "--replay", "0"]);
    let out = tempfile::tempdir().expect("tempdir");
    let scenario = out.path().join("no-replay.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"name = "no-replay"
target = "{}"

[request]
method = "GET"
path = "/events"

[stream]
mode = "subscribe"
hold = "9s"
sequence = "id"
timestamp_field = "ts"

[load]
stages = [{{ for = "500ms", to = 20 }}, {{ for = "10s", to = 20 }}]
think_time = "5s"

[retry]
max_retries = 50
backoff = {{ base = "100ms", factor = 2.0, max = "1s", jitter = "full" }}

[breaker]
failure_threshold = 10
open_for = "1s"

[[faults]]
at = "3s"
for = "2s"
kind = "shutdown"
"#,
            server.base_url()
        ),
    )
    .expect("write scenario");
    let dir = out.path().join("report");
    let code = run(&["run", scenario.to_str().expect("utf-8 path")], &dir);
    assert_eq!(code, Some(0));
    let s = summary(&dir);
    let get = |k: &str| s[k].parse::<u64>().expect("integer");
    let stats = server.stats();
    assert_eq!(get("reconnects"), 20);
    // 2 s of outage at 50/s: each of 20 subscribers misses about 100 at least.
    assert!(get("lost_events") >= 20 * 80, "{s:?}");
    assert_eq!(
        get("lost_events"),
        stats.missed,
        "our count equals the server's (events between each Last-Event-ID and the first event sent back)"
    );
    assert_eq!(get("duplicate_events"), 0);
}

#[test]
fn the_open_model_starts_subscriptions_at_their_arrival_times() {
    let out = tempfile::tempdir().expect("tempdir");
    let scenario = out.path().join("open.toml");
    std::fs::write(
        &scenario,
        r#"name = "open-subscribe"
[server]
mode = "broadcast"
rate = 50
[stream]
mode = "subscribe"
hold = "500ms"
sequence = "id"
timestamp_field = "ts"
[load]
executor = "ramping-arrival-rate"
stages = [{ for = "2s", to = 4 }, { for = "0s", to = 0 }, { for = "1500ms", to = 0 }]
[thresholds]
streams_failed = "== 0"
lost_events = "== 0"
duplicate_events = "== 0"
disconnects = "== 0"
"#,
    )
    .expect("write scenario");
    let dir = out.path().join("report");
    let code = run(&["run", scenario.to_str().expect("utf-8 path")], &dir);
    assert_eq!(code, Some(0), "thresholds hold");
    let s = summary(&dir);
    let get = |k: &str| s[k].parse::<u64>().expect("integer");
    // 0 → 4 arrivals/s over 2 s: 4 arrivals, each held 0.5 s, all before the end.
    assert_eq!((get("streams_started"), get("streams_ok")), (4, 4), "{s:?}");
    // About 25 events each (0.5 s at 50/s), none lost between arrivals.
    assert!((60..=110).contains(&get("events")), "{s:?}");
}

#[test]
fn a_ramp_down_closes_subscriptions_now_not_at_hold() {
    let out = tempfile::tempdir().expect("tempdir");
    let scenario = out.path().join("ramp.toml");
    std::fs::write(
        &scenario,
        r#"name = "ramp-down"
[server]
mode = "broadcast"
rate = 20
[stream]
mode = "subscribe"
hold = "1h"
[load]
stages = [{ for = "0s", to = 6 }, { for = "2s", to = 6 }, { for = "0s", to = 2 }, { for = "2500ms", to = 2 }]
"#,
    )
    .expect("write scenario");
    let dir = out.path().join("report");
    let started = std::time::Instant::now();
    assert_eq!(
        run(&["run", scenario.to_str().expect("utf-8 path")], &dir),
        Some(0)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the run ends with its plan (4.5 s), not after the 1 h hold or a 30 s grace"
    );
    let s = summary(&dir);
    assert_eq!(
        (s["streams_started"].as_str(), s["streams_failed"].as_str()),
        ("6", "0")
    );
    let errors = rows(&dir.join("errors.csv"));
    let cancelled = errors
        .iter()
        .find(|e| e["kind"] == "cancelled")
        .expect("cancelled row");
    assert_eq!(
        cancelled["count"], "6",
        "4 closed by the ramp-down, 2 at the end"
    );
    let (_, rows) = support::read_csv(&dir.join("timeseries.csv"));
    // The gauge at each interval's end: 6 during the first stage, 2 during
    // the second (which holds a whole interval, t = 3 s, even on a busy machine).
    let open: Vec<f64> = rows.iter().map(|r| num(r, "open_streams")).collect();
    assert!(open.contains(&6.0) && open.contains(&2.0), "{open:?}");
}
