//! `deploy/k8s/` and the `Dockerfile`: the manifests parse, and say what
//! "Scale past one machine" needs — an Indexed Job of N shards
//! (`--shard $((JOB_COMPLETION_INDEX+1))/N`, completions = parallelism = N)
//! writing to one ReadWriteMany volume, a merge Job over `/reports/shard-*`,
//! and a ConfigMap whose scenario `streamsoak check` accepts. The shard
//! pod's shell wrapper is executed with a stand-in `streamsoak` to check the
//! arguments it builds and the exit codes it passes on.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;
use support::{bin, repo_root, show};

fn k8s_dir() -> PathBuf {
    repo_root().join("deploy").join("k8s")
}

/// Every document of every `*.yaml` / `*.yml` in `deploy/k8s/`, by kind and name.
fn manifests() -> BTreeMap<(String, String), (PathBuf, Value)> {
    let mut out = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(k8s_dir())
        .expect("deploy/k8s exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|ext| ext.to_str()),
                Some("yaml" | "yml")
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "manifests in deploy/k8s");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read manifest");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = document(doc, &file);
            if value.is_null() {
                continue; // an empty document (e.g. a trailing `---`)
            }
            let kind = str_at(&value, &["kind"], &file);
            let name = str_at(&value, &["metadata", "name"], &file);
            assert!(
                value.get("apiVersion").and_then(Value::as_str).is_some(),
                "{}: {kind} {name} has an apiVersion",
                file.display()
            );
            let previous = out.insert((kind.clone(), name.clone()), (file.clone(), value));
            assert!(previous.is_none(), "{kind} {name} defined twice");
        }
    }
    out
}

/// One YAML document as a `serde_yaml::Value`, panicking with the file name.
fn document(doc: serde_yaml::Deserializer<'_>, file: &Path) -> Value {
    use serde::Deserialize;
    Value::deserialize(doc).unwrap_or_else(|err| panic!("{} is YAML: {err}", file.display()))
}

/// The value at `path` (mapping keys; numeric strings index sequences).
fn at<'a>(value: &'a Value, path: &[&str], file: &Path) -> &'a Value {
    let mut v = value;
    for (depth, key) in path.iter().enumerate() {
        let next = match (v, key.parse::<usize>()) {
            (Value::Sequence(items), Ok(i)) => items.get(i),
            _ => v.get(*key),
        };
        v = next.unwrap_or_else(|| panic!("{}: no `{}`", file.display(), path[..=depth].join(".")));
    }
    v
}

fn str_at(value: &Value, path: &[&str], file: &Path) -> String {
    at(value, path, file)
        .as_str()
        .unwrap_or_else(|| panic!("{}: `{}` is a string", file.display(), path.join(".")))
        .to_owned()
}

fn u64_at(value: &Value, path: &[&str], file: &Path) -> u64 {
    at(value, path, file)
        .as_u64()
        .unwrap_or_else(|| panic!("{}: `{}` is an integer", file.display(), path.join(".")))
}

fn one<'a>(
    all: &'a BTreeMap<(String, String), (PathBuf, Value)>,
    kind: &str,
    pred: impl Fn(&Value) -> bool,
) -> (&'a Path, &'a Value) {
    let found: Vec<_> = all
        .iter()
        .filter(|((k, _), (_, v))| k == kind && pred(v))
        .map(|(_, (f, v))| (f.as_path(), v))
        .collect();
    assert_eq!(found.len(), 1, "exactly one such {kind}: {:?}", all.keys());
    found[0]
}

/// The command line a container runs: command + args, joined by spaces.
fn command_line(container: &Value) -> String {
    ["command", "args"]
        .iter()
        .filter_map(|k| container.get(*k).and_then(Value::as_sequence))
        .flatten()
        .map(|v| v.as_str().expect("command/args are strings"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn env_value(container: &Value, name: &str) -> Option<String> {
    container
        .get("env")?
        .as_sequence()?
        .iter()
        .find(|var| var.get("name").and_then(Value::as_str) == Some(name))?
        .get("value")?
        .as_str()
        .map(str::to_owned)
}

/// The claim names of a pod spec's PVC volumes.
fn claims(pod: &Value) -> Vec<&str> {
    pod.get("volumes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("persistentVolumeClaim")?.get("claimName")?.as_str())
        .collect()
}

/// The shard Job: Indexed; the merge Job: the one that is not.
fn is_indexed(job: &Value) -> bool {
    job.get("spec")
        .and_then(|s| s.get("completionMode"))
        .and_then(Value::as_str)
        == Some("Indexed")
}

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
        "streamsoak run /scenario/scenario.toml",
        "--shard",
        "JOB_COMPLETION_INDEX + 1",
        "--out",
        "/reports/shard-$JOB_COMPLETION_INDEX",
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
        merge_line.contains("streamsoak merge /reports/shard-* --out /reports/merged"),
        "merge command: {merge_line}"
    );
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

/// Runs the shard Job's shell script with a stand-in `streamsoak` that
/// records its arguments and exits with `rc`; returns (script exit, args).
fn run_shard_script(index: u32, rc: i32) -> (Option<i32>, String) {
    let all = manifests();
    let (file, job) = one(&all, "Job", is_indexed);
    let container = at(job, &["spec", "template", "spec", "containers", "0"], file);
    let command: Vec<&str> = at(container, &["command"], file)
        .as_sequence()
        .expect("command list")
        .iter()
        .map(|v| v.as_str().expect("string"))
        .collect();
    assert_eq!(command, ["/bin/sh", "-c"], "the script runs under sh");
    let script = str_at(container, &["args", "0"], file);
    let shards = env_value(container, "SHARDS").expect("SHARDS env");

    let tmp = tempfile::tempdir().expect("tempdir");
    let fake = tmp.path().join("streamsoak");
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
        tmp.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .env("SHARDS", &shards)
        .output()
        .expect("sh runs");
    let args = std::fs::read_to_string(&args_file).unwrap_or_default();
    (output.status.code(), args.trim().to_owned())
}

#[test]
fn the_shard_script_runs_slice_index_plus_one_and_leaves_thresholds_to_the_merge() {
    let (code, args) = run_shard_script(2, 0);
    assert_eq!(code, Some(0));
    let shards = {
        let all = manifests();
        let (file, job) = one(&all, "Job", is_indexed);
        u64_at(job, &["spec", "completions"], file)
    };
    assert_eq!(
        args,
        format!("run /scenario/scenario.toml --shard 3/{shards} --out /reports/shard-2 --quiet")
    );
    // A threshold failing on one slice does not fail the Job: the merged
    // report decides.
    assert_eq!(run_shard_script(0, 1).0, Some(0));
    // An invalid scenario or an unwritable report does.
    assert_eq!(run_shard_script(0, 2).0, Some(2));
    assert_eq!(run_shard_script(0, 3).0, Some(3));
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
