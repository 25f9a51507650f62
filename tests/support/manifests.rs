//! Reading `deploy/k8s/`: every manifest by kind and name, and the values
//! the deploy tests check or run (command lines, env, volumes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::repo_root;

pub fn k8s_dir() -> PathBuf {
    repo_root().join("deploy").join("k8s")
}

/// Every document of every `*.yaml` / `*.yml` in `deploy/k8s/`, by kind and name.
pub fn manifests() -> BTreeMap<(String, String), (PathBuf, Value)> {
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
pub fn document(doc: serde_yaml::Deserializer<'_>, file: &Path) -> Value {
    use serde::Deserialize;
    Value::deserialize(doc).unwrap_or_else(|err| panic!("{} is YAML: {err}", file.display()))
}

/// The value at `path` (mapping keys; numeric strings index sequences).
pub fn at<'a>(value: &'a Value, path: &[&str], file: &Path) -> &'a Value {
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

pub fn str_at(value: &Value, path: &[&str], file: &Path) -> String {
    at(value, path, file)
        .as_str()
        .unwrap_or_else(|| panic!("{}: `{}` is a string", file.display(), path.join(".")))
        .to_owned()
}

pub fn u64_at(value: &Value, path: &[&str], file: &Path) -> u64 {
    at(value, path, file)
        .as_u64()
        .unwrap_or_else(|| panic!("{}: `{}` is an integer", file.display(), path.join(".")))
}

pub fn one<'a>(
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
pub fn command_line(container: &Value) -> String {
    ["command", "args"]
        .iter()
        .filter_map(|k| container.get(*k).and_then(Value::as_sequence))
        .flatten()
        .map(|v| v.as_str().expect("command/args are strings"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn env_value(container: &Value, name: &str) -> Option<String> {
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
pub fn claims(pod: &Value) -> Vec<&str> {
    pod.get("volumes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("persistentVolumeClaim")?.get("claimName")?.as_str())
        .collect()
}

/// The shard Job: Indexed; the merge Job: the one that is not.
pub fn is_indexed(job: &Value) -> bool {
    job.get("spec")
        .and_then(|s| s.get("completionMode"))
        .and_then(Value::as_str)
        == Some("Indexed")
}

/// The shell script a Job's first container runs: its `command` must be
/// `["/bin/sh", "-c"]` and its first `args` entry is the script, as the
/// pod runs it.
pub fn sh_script(container: &Value, file: &Path) -> String {
    let command: Vec<&str> = at(container, &["command"], file)
        .as_sequence()
        .expect("command list")
        .iter()
        .map(|v| v.as_str().expect("string"))
        .collect();
    assert_eq!(command, ["/bin/sh", "-c"], "the script runs under sh");
    str_at(container, &["args", "0"], file)
}

/// The Job's shard container: (its script, its `SHARDS` env, completions).
pub fn shard_job() -> (String, String, u64) {
    let all = manifests();
    let (file, job) = one(&all, "Job", is_indexed);
    let container = at(job, &["spec", "template", "spec", "containers", "0"], file);
    let shards = env_value(container, "SHARDS").expect("SHARDS env");
    (
        sh_script(container, file),
        shards,
        u64_at(job, &["spec", "completions"], file),
    )
}

/// The merge Job's script.
pub fn merge_job_script() -> String {
    let all = manifests();
    let (file, job) = one(&all, "Job", |j| !is_indexed(j));
    let container = at(job, &["spec", "template", "spec", "containers", "0"], file);
    sh_script(container, file)
}
