//! A programmed first-event delay of the embedded server shows in `ttfe`:
//! a correctness check, not a performance assertion. The delay must be
//! measured (a first event cannot come before it, and the same run without
//! the delay is faster by about the delay), and nothing of its order may be
//! added to it. Only relations and physical lower bounds: the run shares a
//! busy CI machine, so its own overhead is not bounded tightly.

mod support;

use std::collections::BTreeMap;

use support::{bin, int, num, read_csv, show, summary};

/// The programmed delay, in ms.
const DELAY_MS: f64 = 400.0;
/// The gap between the two events of a stream, in ms.
const INTERVAL_MS: f64 = 10.0;
/// Latencies are kept to 3 significant digits (`metrics/latency.rs`): a
/// reported value may be up to 0.1 % below the measured one.
const RESOLUTION: f64 = 1e-3;

fn scenario(delay_ms: f64) -> String {
    format!(
        r#"name = "first-event-delay"
target = "embedded"
seed = 1

[server]
events = 2
interval = "{INTERVAL_MS}ms"
first_event_delay = "{delay_ms}ms"

[load]
executor = "ramping-sessions"
stages = [ {{ for = "0s", to = 5 }}, {{ for = "2s", to = 5 }} ]
"#
    )
}

/// Runs 5 sessions for 2 s with `delay_ms`; the `ttfe` and `stream` rows of
/// latency.csv, after checking that every stream completed.
fn run(delay_ms: f64) -> [BTreeMap<String, String>; 2] {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("first-event-delay.toml");
    std::fs::write(&file, scenario(delay_ms)).expect("write scenario");
    let out = tmp.path().join("report");
    let output = bin()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .output()
        .expect("streamsoak runs");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));

    let s = summary(&out);
    assert!(int(&s, "streams_ok") >= 5, "every session streamed: {s:?}");
    assert_eq!(int(&s, "streams_failed"), 0, "{s:?}");

    let (_, latency) = read_csv(&out.join("latency.csv"));
    let row = |metric: &str| {
        latency
            .iter()
            .find(|r| r["metric"] == metric)
            .unwrap_or_else(|| panic!("{metric} row: {latency:?}"))
            .clone()
    };
    let ttfe = row("ttfe");
    assert_eq!(int(&ttfe, "count"), int(&s, "attempts"), "{ttfe:?}");
    [ttfe, row("stream")]
}

#[test]
fn first_event_delay_shows_in_ttfe() {
    let [ttfe_0, stream_0] = run(0.0);
    let [ttfe, stream] = run(DELAY_MS);
    let floor = |ms: f64| ms * (1.0 - RESOLUTION);

    // Physics: nothing comes before it is sent.
    assert!(
        num(&ttfe, "min_ms") >= floor(DELAY_MS),
        "no first event before the {DELAY_MS} ms delay: {ttfe:?}"
    );
    // A whole stream is the delay plus two gaps.
    assert!(
        num(&stream, "min_ms") >= floor(DELAY_MS + 2.0 * INTERVAL_MS),
        "{stream:?}"
    );
    assert!(
        num(&stream_0, "min_ms") >= floor(2.0 * INTERVAL_MS),
        "{stream_0:?}"
    );

    // The delay is what separates the two runs…
    let (p50_0, p50) = (num(&ttfe_0, "p50_ms"), num(&ttfe, "p50_ms"));
    assert!(
        p50 - p50_0 >= DELAY_MS - 50.0,
        "ttfe p50 {p50} ms with the delay, {p50_0} ms without: the {DELAY_MS} ms delay is measured"
    );
    // …and nothing of its order is added to it: a generous bound (the
    // delay again as room for overhead) that a delay counted twice breaks.
    eprintln!("ttfe p50: {p50_0} ms without the delay, {p50} ms with it");
    assert!(
        p50 < 2.0 * DELAY_MS,
        "ttfe p50 {p50} ms: the {DELAY_MS} ms delay plus overhead only: {ttfe:?}"
    );
}
