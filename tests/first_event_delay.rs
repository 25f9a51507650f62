//! A programmed first-event delay of the embedded server shows in `ttfe`:
//! a correctness check with a tolerance (the delay must be measured, and
//! nothing else may be added to it), not a performance assertion.

mod support;

use support::{bin, int, num, read_csv, show, summary};

const SCENARIO: &str = r#"name = "first-event-delay"
target = "embedded"
seed = 1

[server]
events = 2
interval = "10ms"
first_event_delay = "200ms"

[load]
executor = "ramping-sessions"
stages = [ { for = "0s", to = 5 }, { for = "2s", to = 5 } ]
"#;

#[test]
fn first_event_delay_shows_in_ttfe() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("first-event-delay.toml");
    std::fs::write(&file, SCENARIO).expect("write scenario");
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
    };
    let ttfe = row("ttfe");
    assert_eq!(int(ttfe, "count"), int(&s, "attempts"), "{ttfe:?}");
    let p50 = num(ttfe, "p50_ms");
    assert!(
        (200.0..260.0).contains(&p50),
        "ttfe p50 {p50} ms: the 200 ms delay, plus loopback overhead only"
    );
    assert!(
        num(ttfe, "min_ms") >= 200.0,
        "no first event before the delay: {ttfe:?}"
    );
    // A whole stream is the delay plus two 10 ms gaps.
    assert!(num(row("stream"), "min_ms") >= 220.0, "{:?}", row("stream"));
}
