//! Every shipped scenario passes `streamsoak check` (PRODUCT.md: "all valid
//! and exercised by tests"), the plan it prints is complete and secret-free,
//! and a broken file is refused with exit 2.

mod support;

use std::path::PathBuf;

use support::{bin, repo_root, show};

/// A value no scenario or default contains, to prove it is never printed.
const TOKEN: &str = "tok-3f9a7c1e-secret";

fn shipped_scenarios() -> Vec<PathBuf> {
    let dir = repo_root().join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_scenario_passes_check() {
    let files = shipped_scenarios();
    for name in [
        "smoke.toml",
        "ramp-hold.toml",
        "arrival-rate.toml",
        "soak.toml",
    ] {
        assert!(
            files.iter().any(|f| f.ends_with(name)),
            "scenarios/{name} is shipped (README names it)"
        );
    }
    for file in &files {
        let output = bin()
            .arg("check")
            .arg(file)
            .env("STAGING_TOKEN", TOKEN)
            .output()
            .expect("streamsoak runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            show(&output)
        );
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(
            out.contains("total duration"),
            "{}: prints the plan:\n{out}",
            file.display()
        );
        let all = format!("{out}{}", String::from_utf8_lossy(&output.stderr));
        assert!(
            !all.contains(TOKEN),
            "{}: a ${{VAR}} expansion is never printed:\n{all}",
            file.display()
        );
    }
}

/// CI lints scenarios before secrets exist: `check` names an unset `${VAR}`
/// as a warning and exits 0; `run` refuses the same scenario (exit 2).
#[test]
fn soak_without_its_token_checks_with_a_warning_and_run_refuses() {
    let scenario = repo_root().join("scenarios/soak.toml");
    let check = bin()
        .arg("check")
        .arg(&scenario)
        .env_remove("STAGING_TOKEN")
        .output()
        .expect("streamsoak runs");
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        err.contains("warning") && err.contains("${STAGING_TOKEN}") && err.contains("run"),
        "names the variable as a warning: {err}"
    );
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("[load]"),
        "the plan is still printed: {}",
        show(&check)
    );

    let out = tempfile::tempdir().expect("tempdir");
    let run = bin()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(out.path().join("report"))
        .arg("--quiet")
        .env_remove("STAGING_TOKEN")
        .output()
        .expect("streamsoak runs");
    assert_eq!(run.status.code(), Some(2), "{}", show(&run));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("STAGING_TOKEN"), "names the variable: {err}");
    assert!(
        !out.path().join("report").join("summary.csv").exists(),
        "nothing ran"
    );
}

#[test]
fn broken_scenarios_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("not-toml.toml", "name = \"x\"\n[load\n"),
        ("no-name.toml", "target = \"embedded\"\n"),
        (
            "bad-duration.toml",
            "name = \"x\"\n[load]\nthink_time = \"soon\"\n",
        ),
        ("unknown-key.toml", "name = \"x\"\n[server]\nevnets = 3\n"),
        (
            "bad-executor.toml",
            "name = \"x\"\n[load]\nexecutor = \"ramping-users\"\n",
        ),
    ];
    for (file, text) in cases {
        let path = tmp.path().join(file);
        std::fs::write(&path, text).expect("write scenario");
        let output = bin()
            .arg("check")
            .arg(&path)
            .output()
            .expect("streamsoak runs");
        assert_eq!(output.status.code(), Some(2), "{file}: {}", show(&output));
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            err.contains(&path.display().to_string()),
            "{file}: names the file: {err}"
        );
    }
    let missing = tmp.path().join("missing.toml");
    let output = bin()
        .arg("check")
        .arg(&missing)
        .output()
        .expect("streamsoak runs");
    assert_eq!(
        output.status.code(),
        Some(2),
        "missing file: {}",
        show(&output)
    );
}
