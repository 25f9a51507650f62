//! `--set key=value` (PRODUCT.md: "`--set load.stages.1.to=200` overrides a
//! key"): overrides reach the resolved plan, quoted keys work, and a wrong
//! key is refused like one written in the file — exit 2, the nearest valid
//! key suggested — and blamed on the `--set`, not on a line of the file.

mod support;

use support::{run, scenario, show};

fn check(sets: &[&str]) -> std::process::Output {
    let smoke = scenario("smoke.toml");
    let mut args = vec!["check", smoke.to_str().expect("utf-8 path")];
    for set in sets {
        args.extend(["--set", set]);
    }
    run(&args)
}

#[test]
fn overrides_reach_the_resolved_plan() {
    let output = check(&[
        "load.stages.1.to=200",
        "load.stages.3={ for = \"1s\", to = 0 }",
        r#"thresholds."ttfe.p99"=< 2s"#,
        "server.interval=10ms",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    let line = |prefix: &str| -> String {
        out.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line:\n{out}"))
            .to_owned()
    };
    assert!(line("peak").contains("200 sessions"), "{out}");
    assert!(
        line("stage 4").contains("0 sessions"),
        "an index equal to the length appends: {out}"
    );
    assert!(line("total duration").ends_with("21s"), "{out}");
    assert!(line("interval ").contains("10ms"), "{out}");
    assert!(
        line("ttfe.p99").contains("< 2s"),
        "quoted dotted key: {out}"
    );
}

/// A misspelt key in `--set` gets the same treatment as in the file.
#[test]
fn misspelt_override_keys_are_blamed_on_the_set_with_a_suggestion() {
    let smoke = scenario("smoke.toml").display().to_string();
    let cases = [
        ("load.thinktime=1s", "think_time"),
        ("laod.think_time=1s", "load"),
        ("load.stagse.0.for=1s", "stages"),
    ];
    let mut failures = Vec::new();
    for (set, right) in cases {
        let output = check(&[set]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "--set {set}: {}",
            show(&output)
        );
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        if !err.contains(&format!("did you mean `{right}`")) {
            failures.push(format!("--set {set}: no suggestion of `{right}`: {err}"));
        }
        if !err.contains(&format!("--set {set}")) {
            failures.push(format!(
                "--set {set}: the message does not name the --set: {err}"
            ));
        }
        if err.contains(&format!("{smoke}:1:1")) {
            failures.push(format!(
                "--set {set}: blamed on line 1 of the file, which does not contain it: {err}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
