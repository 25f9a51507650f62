//! `deploy/k8s/` and the `Dockerfile`: the manifests are valid against the
//! Kubernetes API's own schemas (`kubernetes-validate`, offline, strict),
//! and say what "Scale past one machine" needs — an Indexed Job of N shards
//! (`--shard $((JOB_COMPLETION_INDEX+1))/N`, completions = parallelism = N)
//! writing to one ReadWriteMany volume, a merge Job over `/reports/shard-*`,
//! and a ConfigMap whose scenario `streamsoak check` accepts. The shard
//! pod's shell wrapper is executed with a stand-in `streamsoak` to check the
//! arguments it builds (the start barrier's `--start-at`), the exit codes it
//! passes on, and how the barrier gives up when a pod never starts.
//! `tests/deploy_pods.rs` runs the same script with the real binary.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_yaml::Value;
use support::manifests::*;
use support::{bin, repo_root, show};

/// Requests equal to limits (Guaranteed QoS, as `job.yaml` says), as
/// Kubernetes quantities: CPU a whole number of cores (`"2"`; an integer
/// limit also sets streamsoak's worker threads), memory in Ki/Mi/Gi (`1Gi`).
fn resources_guaranteed(container: &Value, file: &Path) {
    let quantity = |side: &str, what: &str| str_at(container, &["resources", side, what], file);
    for what in ["cpu", "memory"] {
        assert_eq!(
            quantity("requests", what),
            quantity("limits", what),
            "{}: resources.requests.{what} = resources.limits.{what}",
            file.display()
        );
    }
    let cpu = quantity("limits", "cpu");
    assert!(
        cpu.parse::<u32>().is_ok_and(|cores| cores > 0),
        "{}: resources.limits.cpu `{cpu}` is a whole number of cores",
        file.display()
    );
    let memory = quantity("limits", "memory");
    let amount = ["Ki", "Mi", "Gi"]
        .iter()
        .find_map(|unit| memory.strip_suffix(unit));
    assert!(
        amount.is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0)),
        "{}: resources.limits.memory `{memory}` is an amount in Ki, Mi or Gi",
        file.display()
    );
}

#[test]
fn the_manifests_describe_an_indexed_shard_job_a_merge_job_and_their_volume() {
    let all = manifests();
    let kinds: Vec<&str> = all.keys().map(|(k, _)| k.as_str()).collect();
    for kind in ["ConfigMap", "Job", "PersistentVolumeClaim"] {
        assert!(kinds.contains(&kind), "a {kind} in {kinds:?}");
    }

    // The shared report volume.
    let (pvc_file, pvc) = one(&all, "PersistentVolumeClaim", |_| true);
    let pvc_name = str_at(pvc, &["metadata", "name"], pvc_file);
    let modes = at(pvc, &["spec", "accessModes"], pvc_file);
    assert!(
        modes
            .as_sequence()
            .is_some_and(|m| m.iter().any(|v| v.as_str() == Some("ReadWriteMany"))),
        "{}: pods on several nodes write it: ReadWriteMany",
        pvc_file.display()
    );

    // The shard Job.
    let (file, job) = one(&all, "Job", is_indexed);
    let completions = u64_at(job, &["spec", "completions"], file);
    let parallelism = u64_at(job, &["spec", "parallelism"], file);
    assert!(
        completions >= 2,
        "a distributed run has shards: {completions}"
    );
    assert_eq!(
        completions, parallelism,
        "every shard runs at the same time"
    );
    let pod = at(job, &["spec", "template", "spec"], file);
    assert_eq!(str_at(pod, &["restartPolicy"], file), "Never");
    let container = at(pod, &["containers", "0"], file);
    let line = command_line(container);
    for needle in [
        "streamsoak run \"$scenario\"",
        "${SCENARIO:-/scenario/scenario.toml}",
        "--shard",
        "JOB_COMPLETION_INDEX + 1",
        "--start-at",
        "--out",
        "${REPORTS:-/reports}",
        "shard-$JOB_COMPLETION_INDEX",
        "--quiet",
    ] {
        assert!(
            line.contains(needle),
            "shard command has `{needle}`: {line}"
        );
    }
    assert_eq!(
        env_value(container, "SHARDS"),
        Some(completions.to_string()),
        "SHARDS (the N of --shard I/N) = completions"
    );
    resources_guaranteed(container, file);
    assert_eq!(
        at(pod, &["securityContext", "runAsNonRoot"], file).as_bool(),
        Some(true)
    );
    assert_eq!(claims(pod), [pvc_name.as_str()], "shards write to the PVC");
    let mounts = at(container, &["volumeMounts"], file)
        .as_sequence()
        .expect("volumeMounts");
    let mount = |path: &str| {
        mounts
            .iter()
            .find(|m| m.get("mountPath").and_then(Value::as_str) == Some(path))
            .and_then(|m| m.get("name")?.as_str())
            .unwrap_or_else(|| panic!("a volume mounted at {path}"))
            .to_owned()
    };
    let scenario_volume = mount("/scenario");
    mount("/reports");
    let cm_name = at(pod, &["volumes"], file)
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(scenario_volume.as_str()))
        .and_then(|v| v.get("configMap")?.get("name")?.as_str())
        .expect("/scenario is a ConfigMap volume")
        .to_owned();
    let image = str_at(container, &["image"], file);

    // The merge Job.
    let (merge_file, merge) = one(&all, "Job", |j| !is_indexed(j));
    let merge_pod = at(merge, &["spec", "template", "spec"], merge_file);
    let merge_container = at(merge_pod, &["containers", "0"], merge_file);
    let merge_line = command_line(merge_container);
    assert!(
        merge_line.contains(
            "streamsoak merge \"${REPORTS:-/reports}\"/shard-* --out \"${REPORTS:-/reports}/merged\""
        ),
        "merge command: {merge_line}"
    );
    // The barrier folder of each Job run is named after the Job's UID.
    let uid = at(container, &["env"], file)
        .as_sequence()
        .expect("env")
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some("JOB_UID"))
        .and_then(|v| {
            v.get("valueFrom")?
                .get("fieldRef")?
                .get("fieldPath")?
                .as_str()
        })
        .expect("JOB_UID from the downward API");
    assert_eq!(uid, "metadata.labels['batch.kubernetes.io/controller-uid']");
    assert_eq!(
        claims(merge_pod),
        [pvc_name.as_str()],
        "merge reads the same PVC"
    );
    assert_eq!(str_at(merge_container, &["image"], merge_file), image);
    resources_guaranteed(merge_container, merge_file);

    // Any other pod (e.g. the one for `kubectl cp`) uses the same volume and image.
    for ((kind, name), (f, v)) in &all {
        if kind != "Pod" {
            continue;
        }
        let spec = at(v, &["spec"], f);
        assert_eq!(
            claims(spec),
            [pvc_name.as_str()],
            "Pod {name}: the report PVC"
        );
        assert_eq!(str_at(spec, &["containers", "0", "image"], f), image);
    }

    // The ConfigMap the shard pods mount holds scenario.toml.
    let (cm_file, cm) = one(&all, "ConfigMap", |v| {
        v.get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            == Some(cm_name.as_str())
    });
    let scenario = str_at(cm, &["data", "scenario.toml"], cm_file);
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("scenario.toml");
    std::fs::write(&path, scenario).expect("write scenario");
    let output = bin().arg("check").arg(&path).output().expect("check runs");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let n = format!("{completions}/{completions}");
    let output = bin()
        .arg("check")
        .arg(&path)
        .args(["--shard", &n])
        .output()
        .expect("check runs");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
}

/// A `date +%s` far in the future, so a test's marks are the latest.
const YEAR_2100: u64 = 4_102_444_800;

/// One run of the shard Job's shell script with a stand-in `streamsoak`
/// that records its arguments and exits with `rc`.
struct ScriptRun {
    output: Output,
    /// The stand-in's arguments, or `None` when the script never called it.
    args: Option<String>,
    /// `$REPORTS`, the shared volume of the run.
    reports: PathBuf,
    _tmp: tempfile::TempDir,
}

/// Runs the script as pod `index`, after writing the ready marks `marks`
/// (index, time) of other pods into `$REPORTS/.start-<mark_uid>/`; `env`
/// overrides the pod's environment (`JOB_UID=test-uid` by default).
fn run_shard_script(index: u32, rc: i32, marks: &[(u32, u64)], env: &[(&str, &str)]) -> ScriptRun {
    run_shard_script_in("test-uid", index, rc, marks, env)
}

fn run_shard_script_in(
    mark_uid: &str,
    index: u32,
    rc: i32,
    marks: &[(u32, u64)],
    env: &[(&str, &str)],
) -> ScriptRun {
    let (script, shards, _) = shard_job();
    let tmp = tempfile::tempdir().expect("tempdir");
    let reports = tmp.path().join("reports");
    let barrier = reports.join(format!(".start-{mark_uid}"));
    std::fs::create_dir_all(&barrier).expect("barrier dir");
    for (k, t) in marks {
        std::fs::write(barrier.join(format!("ready-{k}")), format!("{t}\n")).expect("mark");
    }
    let fake = tmp.path().join("bin").join("streamsoak");
    std::fs::create_dir_all(fake.parent().expect("bin dir")).expect("mkdir bin");
    let args_file = tmp.path().join("args");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" > '{}'\nexit {rc}\n",
            args_file.display()
        ),
    )
    .expect("write stand-in");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!(
        "{}:{}",
        fake.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&script)
        .env("PATH", path)
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .env("SHARDS", &shards)
        .env("JOB_UID", "test-uid")
        .env("REPORTS", &reports)
        .env("SCENARIO", "/scenario/scenario.toml");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("sh runs");
    let args = std::fs::read_to_string(&args_file)
        .ok()
        .map(|a| a.trim().to_owned());
    ScriptRun {
        output,
        args,
        reports,
        _tmp: tmp,
    }
}

/// Marks from every pod but `index`, all at `t`.
fn others(index: u32, shards: u64, t: u64) -> Vec<(u32, u64)> {
    (0..shards as u32)
        .filter(|k| *k != index)
        .map(|k| (k, t))
        .collect()
}

#[test]
fn the_shard_script_runs_slice_index_plus_one_at_the_barrier_instant() {
    let (_, _, shards) = shard_job();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let run = run_shard_script(
        2,
        0,
        &others(2, shards, YEAR_2100),
        &[("START_DELAY", "30")],
    );
    assert_eq!(run.output.status.code(), Some(0), "{}", show(&run.output));
    // t = 0 is the latest ready mark + START_DELAY, in RFC 3339 UTC.
    assert_eq!(
        run.args.as_deref(),
        Some(
            format!(
                "run /scenario/scenario.toml --shard 3/{shards} --start-at 2100-01-01T00:00:30Z --out {}/shard-2 --quiet",
                run.reports.display()
            )
            .as_str()
        )
    );
    // The pod's own mark: its clock's time, written whole (renamed into place).
    let barrier = run.reports.join(".start-test-uid");
    let own: u64 = std::fs::read_to_string(barrier.join("ready-2"))
        .expect("own ready mark")
        .trim()
        .parse()
        .expect("a time");
    assert!(own >= before && own < before + 60, "{own} vs {before}");
    assert!(
        !barrier.join(".ready-2").exists(),
        "no half-written mark left"
    );

    // The latest mark decides, wherever it is; the delay is the pod's env.
    let mut marks = others(0, shards, 4_102_444_800);
    marks[0].1 += 100;
    let run = run_shard_script(0, 0, &marks, &[("START_DELAY", "5")]);
    let args = run.args.expect("streamsoak called");
    assert!(
        args.contains("--shard 1/") && args.contains("--start-at 2100-01-01T00:01:45Z"),
        "{args}"
    );

    // A threshold failing on one slice does not fail the Job: the merged
    // report decides.
    let all_ready = others(0, shards, YEAR_2100);
    assert_eq!(
        run_shard_script(0, 1, &all_ready, &[]).output.status.code(),
        Some(0)
    );
    // An invalid scenario (or a start instant already passed) or an
    // unwritable report does.
    assert_eq!(
        run_shard_script(0, 2, &all_ready, &[]).output.status.code(),
        Some(2)
    );
    assert_eq!(
        run_shard_script(0, 3, &all_ready, &[]).output.status.code(),
        Some(3)
    );
}

#[test]
fn the_barrier_gives_up_without_sending_load_when_a_pod_never_starts() {
    let (_, _, shards) = shard_job();
    // Pod 1 never writes its mark; the others wait BARRIER_TIMEOUT, then fail.
    let marks: Vec<(u32, u64)> = others(0, shards, YEAR_2100)
        .into_iter()
        .filter(|(k, _)| *k != 1)
        .collect();
    let started = Instant::now();
    let run = run_shard_script(0, 0, &marks, &[("BARRIER_TIMEOUT", "2")]);
    let waited = started.elapsed();
    assert_eq!(run.output.status.code(), Some(3), "{}", show(&run.output));
    assert_eq!(run.args, None, "streamsoak never ran: no load was sent");
    let stderr = String::from_utf8_lossy(&run.output.stderr);
    assert!(
        stderr.contains("no ready mark from JOB_COMPLETION_INDEX 1 after 2s; no load was sent"),
        "{stderr}"
    );
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(30),
        "waited {waited:?} for a 2 s timeout"
    );
    // Marks of an earlier Job (another UID) are not this Job's: a stale
    // barrier folder on the volume cannot start a run early.
    let run = run_shard_script_in(
        "an-earlier-job",
        0,
        0,
        &others(0, shards, YEAR_2100),
        &[("BARRIER_TIMEOUT", "1")],
    );
    assert_eq!(run.output.status.code(), Some(3), "{}", show(&run.output));
    assert_eq!(run.args, None);
}

/// `kubernetes-validate`, installed by `scripts/k8s-validate-venv.sh`:
/// panics when `CI=true` and it cannot be installed (CI must not skip
/// this), else warns and returns `None`.
fn kubernetes_validate() -> Option<PathBuf> {
    let script = repo_root().join("scripts/k8s-validate-venv.sh");
    let why = match Command::new("bash").arg(&script).output() {
        Ok(out) if out.status.success() => {
            let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if path.is_file() {
                return Some(path);
            }
            format!("{} printed no executable: {}", script.display(), show(&out))
        }
        Ok(out) => format!("{} failed: {}", script.display(), show(&out)),
        Err(err) => format!("bash {}: {err}", script.display()),
    };
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "\n\n*** CI=true and kubernetes-validate could not be installed ***\n{why}\n\
         (needs python3 with venv, and PyPI for scripts/k8s-validate-venv.sh)\n"
    );
    eprintln!("warning: skipping the Kubernetes schema check: {why}");
    None
}

/// Oldest and newest Kubernetes the manifests are checked against: 1.27
/// is the first with the Job label `batch.kubernetes.io/controller-uid`
/// that the start barrier reads; 1.37 the newest schema the package ships.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.27.0", "1.37.0"];

#[test]
fn every_manifest_is_valid_against_the_kubernetes_api_schemas() {
    let Some(validate) = kubernetes_validate() else {
        return;
    };
    let all = manifests();
    let mut files: Vec<&PathBuf> = all.values().map(|(f, _)| f).collect();
    files.sort();
    files.dedup();
    for version in KUBERNETES_VERSIONS {
        let out = Command::new(&validate)
            .args(["--strict", "-k", version])
            .args(&files)
            .output()
            .expect("kubernetes-validate runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "Kubernetes {version}: {}",
            show(&out)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for ((kind, name), (file, _)) in &all {
            let resource = format!("{}/{name}", kind.to_lowercase());
            assert!(
                text.contains(&format!(
                    "{} passed for resource {resource}",
                    file.display()
                )),
                "{resource} checked against {version}: {text}"
            );
        }
    }

    // The check can fail: a misspelt field and a wrongly typed one in a
    // copy of the shard Job are refused, naming the field.
    let (file, _) = one(&all, "Job", is_indexed);
    let text = std::fs::read_to_string(file).expect("job.yaml");
    let tmp = tempfile::tempdir().expect("tempdir");
    for (from, to, says) in [
        (
            "  parallelism:",
            "  paralellism:",
            "'paralellism' was unexpected",
        ),
        (
            "  backoffLimit: 0",
            "  backoffLimit: \"none\"",
            "spec.backoffLimit: 'none' is not of type 'integer'",
        ),
    ] {
        assert!(text.contains(from), "job.yaml has `{from}`");
        let bad = tmp.path().join("job.yaml");
        std::fs::write(&bad, text.replacen(from, to, 1)).expect("write copy");
        let out = Command::new(&validate)
            .args(["--strict", "-k", KUBERNETES_VERSIONS[0]])
            .arg(&bad)
            .output()
            .expect("kubernetes-validate runs");
        assert_ne!(out.status.code(), Some(0), "{}", show(&out));
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains(says), "`{says}` in {said}");
    }
}

#[test]
fn the_dockerfile_builds_locked_and_runs_as_non_root() {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    for needle in [
        "FROM rust:1-bookworm AS builder",
        "cargo build --release --locked",
        "FROM debian:bookworm-slim",
        "ca-certificates",
        "USER 10001",
        "ENTRYPOINT [\"streamsoak\"]",
    ] {
        assert!(text.contains(needle), "Dockerfile has `{needle}`");
    }
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).expect(".dockerignore");
    let lines: Vec<&str> = ignore.lines().map(str::trim).collect();
    for needle in ["target", ".venv-fastapi", "reports/*"] {
        assert!(lines.contains(&needle), ".dockerignore has `{needle}`");
    }
    // The pods run as the image's user.
    let all = manifests();
    let (file, job) = one(&all, "Job", is_indexed);
    assert_eq!(
        u64_at(
            job,
            &["spec", "template", "spec", "securityContext", "runAsUser"],
            file
        ),
        10001
    );
}

/// The names a run's `/metrics` exposes (from the exporter itself), with
/// the sample suffixes a query may use.
fn exposed_metric_names() -> std::collections::BTreeSet<String> {
    use streamsoak::report::live::{Exposition, Format, SharedLive};
    let live = SharedLive::default();
    live.lock().set_faults([("shutdown", false)]);
    let (text, _) = Exposition::new(live, "x", None).encode(Format::PrometheusText);
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn shard_pods_expose_live_metrics_for_prometheus() {
    let all = manifests();
    let (file, job) = one(&all, "Job", is_indexed);
    let template = at(job, &["spec", "template"], file);
    let annotation = |key: &str| str_at(template, &["metadata", "annotations", key], file);
    assert_eq!(annotation("prometheus.io/scrape"), "true");
    assert_eq!(annotation("prometheus.io/path"), "/metrics");
    let port: u64 = annotation("prometheus.io/port")
        .parse()
        .expect("prometheus.io/port is a number");
    let container = at(template, &["spec", "containers", "0"], file);
    let ports = at(container, &["ports"], file)
        .as_sequence()
        .expect("ports list");
    assert!(
        ports.iter().any(
            |p| p.get("containerPort").and_then(Value::as_u64) == Some(port)
                && p.get("name").and_then(Value::as_str) == Some("metrics")
        ),
        "{}: a containerPort {port} named metrics: {ports:?}",
        file.display()
    );
    // `run --metrics-addr` comes from the environment (clap reads
    // STREAMSOAK_METRICS_ADDR): on every pod address, at that port.
    let addr =
        env_value(container, "STREAMSOAK_METRICS_ADDR").expect("STREAMSOAK_METRICS_ADDR env");
    let addr: std::net::SocketAddr = addr.parse().expect("HOST:PORT");
    assert!(
        addr.ip().is_unspecified(),
        "reachable from Prometheus: {addr}"
    );
    assert_eq!(u64::from(addr.port()), port, "the annotated port");
    let linger = env_value(container, "STREAMSOAK_METRICS_LINGER").expect("linger env");
    assert!(
        linger
            .parse::<streamsoak::scenario::HumanDuration>()
            .is_ok(),
        "STREAMSOAK_METRICS_LINGER `{linger}` is a duration"
    );
    let grace = u64_at(template, &["spec", "terminationGracePeriodSeconds"], file);
    let linger_s = linger
        .parse::<streamsoak::scenario::HumanDuration>()
        .map(|d| d.get().as_secs())
        .unwrap_or(u64::MAX);
    assert!(
        linger_s < grace,
        "the linger fits in the termination grace ({grace} s)"
    );
    // The binary takes the variables as the flags.
    let output = bin().args(["run", "--help"]).output().expect("run --help");
    let help = String::from_utf8_lossy(&output.stdout);
    for var in ["STREAMSOAK_METRICS_ADDR", "STREAMSOAK_METRICS_LINGER"] {
        assert!(help.contains(var), "`run --help` names {var}:\n{help}");
    }
}

#[test]
fn the_grafana_dashboard_queries_only_what_a_run_exposes() {
    let path = repo_root().join("deploy/grafana/streamsoak.json");
    let text = std::fs::read_to_string(&path).expect("deploy/grafana/streamsoak.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    assert!(dashboard["title"].is_string() && dashboard["panels"].is_array());

    // Every expression of every panel and annotation.
    let mut exprs: Vec<String> = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().expect("expr").to_owned());
        }
    }
    let annotations: Vec<String> = dashboard["annotations"]["list"]
        .as_array()
        .expect("annotations")
        .iter()
        .filter_map(|a| a["expr"].as_str().map(str::to_owned))
        .collect();
    assert!(
        annotations
            .iter()
            .any(|a| a.contains("streamsoak_fault_active")),
        "fault windows as annotations: {annotations:?}"
    );
    exprs.extend(annotations);

    let exposed = exposed_metric_names();
    let mut used = std::collections::BTreeSet::new();
    for expr in &exprs {
        for (i, _) in expr.match_indices("streamsoak_") {
            let name: String = expr[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                exposed.contains(&name),
                "`{name}` in `{expr}` is not exposed; exposed: {exposed:?}"
            );
            used.insert(name);
        }
        for var in ["$scenario", "$shard"] {
            assert!(expr.contains(var), "`{expr}` follows the {var} selector");
        }
    }
    // What the issue asks the dashboard to show.
    for needed in [
        "streamsoak_active_sessions",
        "streamsoak_events_total",
        "streamsoak_ttfe_seconds_bucket",
        "streamsoak_stream_seconds_bucket",
        "streamsoak_breakers_open",
        "streamsoak_fault_active",
    ] {
        assert!(
            used.contains(needed),
            "the dashboard shows {needed}: {used:?}"
        );
    }
    assert!(
        exprs.iter().any(|e| e
            .contains("histogram_quantile(0.99, sum by (le) (rate(streamsoak_ttfe_seconds_bucket")),
        "TTFE percentiles from the histogram"
    );
}
