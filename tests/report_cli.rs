//! `streamsoak report DIR`: regenerates the summaries from the raw data
//! byte for byte, and re-gates with `--thresholds FILE`.

use std::path::Path;
use std::process::Command;

fn streamsoak(args: &[&str], dir: &Path) -> Option<i32> {
    Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .args(args)
        .arg(dir)
        .output()
        .expect("streamsoak runs")
        .status
        .code()
}

#[test]
fn report_reproduces_summaries_and_regates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let original = tmp.path().join("run");
    let code = Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .args([
            "run",
            "scenarios/smoke.toml",
            "--quiet",
            "--set",
            "load.stages.0.for=1s",
            "--set",
            "load.stages.1.for=2s",
            "--set",
            "load.stages.2.for=1s",
            "--out",
        ])
        .arg(&original)
        .status()
        .expect("run")
        .code();
    assert_eq!(code, Some(0));

    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).expect("mkdir");
    let regenerated = [
        "summary.csv",
        "summary.json",
        "latency.csv",
        "thresholds.csv",
        "junit.xml",
        "summary.md",
        "report.html",
    ];
    for entry in std::fs::read_dir(&original).expect("report folder") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if regenerated.iter().any(|r| name == *r) {
            continue; // prove they are rebuilt, not copied
        }
        std::fs::copy(entry.path(), copy.join(&name)).expect("copy raw file");
    }
    // report needs the original summary facts (name, counters) and threshold list.
    std::fs::copy(original.join("summary.csv"), copy.join("summary.csv")).expect("copy");
    std::fs::copy(original.join("thresholds.csv"), copy.join("thresholds.csv")).expect("copy");
    std::fs::write(copy.join("latency.csv"), "stale").expect("overwrite");

    assert_eq!(streamsoak(&["report"], &copy), Some(0));
    for file in regenerated {
        let a = std::fs::read(original.join(file)).expect("original");
        let b = std::fs::read(copy.join(file)).unwrap_or_else(|_| panic!("{file} regenerated"));
        assert!(a == b, "{file} differs after `report`");
    }

    let strict = tmp.path().join("strict.toml");
    std::fs::write(&strict, "[thresholds]\n\"ttfe.p50\" = \"< 1us\"\n").expect("write");
    let code = Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .arg("report")
        .arg(&copy)
        .arg("--thresholds")
        .arg(&strict)
        .output()
        .expect("report")
        .status
        .code();
    assert_eq!(code, Some(1), "re-gated with an impossible threshold");
    let thresholds = std::fs::read_to_string(copy.join("thresholds.csv")).expect("thresholds");
    assert!(thresholds.contains("ttfe.p50,< 1us,"), "{thresholds}");
    // `passed`, then the unit `observed` is in (the column issue 13 added).
    assert!(thresholds.trim_end().ends_with(",false,ms"), "{thresholds}");
    let junit = std::fs::read_to_string(copy.join("junit.xml")).expect("junit");
    assert!(junit.contains("<failure "), "{junit}");

    assert_eq!(
        streamsoak(&["report"], &tmp.path().join("missing")),
        Some(2)
    );
}
