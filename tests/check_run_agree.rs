//! Whatever `check` accepts, `run` accepts (issue "The middle, redesigned",
//! point 1): the scenario holds validated values, and what a run derives
//! from it before any I/O (`engine::RunPlan`) cannot fail. So for every
//! shipped scenario and a table of `--set` variations, loading as `check`
//! does and as `run` does gives the same scenario, and every shard's run
//! plan adds up to the whole plan.

use std::path::{Path, PathBuf};

use streamsoak::engine::RunPlan;
use streamsoak::scenario::{self, LoadOptions, Scenario};

fn env(name: &str) -> Option<String> {
    (name == "STAGING_TOKEN").then(|| "tok-abc".to_owned())
}

fn load(path: &Path, sets: &[&str], lenient_env: bool) -> Result<Scenario, String> {
    let opts = LoadOptions {
        sets: sets.iter().map(|s| (*s).to_owned()).collect(),
        target: None,
        env: &env,
        lenient_env,
    };
    scenario::load(path, &opts).map_err(|err| err.to_string())
}

fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the shipped scenarios: {files:?}");
    files
}

/// `--set` variations that `check` accepts for some scenario; each must
/// load for `run` too, with an identical resolved plan.
const VARIATIONS: &[&[&str]] = &[
    &[],
    &["seed=7"],
    &["retry.max_retries=0", "breaker.failure_threshold=1"],
    &[
        "retry.backoff.jitter=\"decorrelated\"",
        "retry.backoff.max=\"1s\"",
    ],
    &["retry.retry_on=[\"network\",\"status-4xx\"]"],
    &["http.timeout=\"1s\"", "stream.idle_timeout=\"250ms\""],
    &["load.think_time=\"0s\""],
];

#[test]
fn every_scenario_check_accepts_run_accepts_with_the_same_plan() {
    let mut checked = 0;
    for file in shipped() {
        for sets in VARIATIONS {
            let Ok(as_check) = load(&file, sets, true) else {
                continue; // not a variation this scenario takes
            };
            let as_run = load(&file, sets, false).unwrap_or_else(|err| {
                panic!(
                    "{} {sets:?}: check accepted, run refused: {err}",
                    file.display()
                )
            });
            assert!(as_run.unset_vars.is_empty());
            assert_eq!(
                as_check.describe(),
                as_run.describe(),
                "{}: check and run resolve the same plan",
                file.display()
            );
            assert_eq!(as_check.retry, as_run.retry);
            assert_eq!(as_check.breaker, as_run.breaker);
            assert_eq!(as_check.faults, as_run.faults);
            shards_add_up(&as_run, &file);
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} scenario variations loaded");
}

/// The shards of a run plan together are the whole plan: session targets
/// and caps split exactly, arrivals interleaved (never the same instants on
/// two shards), ids and seeds distinct.
fn shards_add_up(s: &Scenario, file: &Path) {
    let whole = RunPlan::new(s, None);
    for n in 1..=3u32 {
        let shards: Vec<RunPlan> = (1..=n).map(|i| RunPlan::new(s, Some((i, n)))).collect();
        let name = format!("{} in {n} shards", file.display());
        if let Some(all) = whole.arrivals.clone() {
            let all: Vec<_> = all.collect();
            let mut union: Vec<_> = shards
                .iter()
                .flat_map(|r| r.arrivals.clone().expect("open model on every shard"))
                .collect();
            if n > 1 {
                let first: Vec<_> = shards[0].arrivals.clone().into_iter().flatten().collect();
                let second: Vec<_> = shards[1].arrivals.clone().into_iter().flatten().collect();
                assert_ne!(first.first(), second.first(), "{name}: not in lockstep");
            }
            union.sort();
            assert_eq!(union, all, "{name}: arrivals add up");
            let caps: usize = shards.iter().map(|r| r.max_sessions).sum();
            assert_eq!(caps, whole.max_sessions, "{name}: max_sessions split");
        } else {
            for t in [0u64, 1, 5, 10, 20, 30] {
                let t = std::time::Duration::from_secs(t);
                let sum: u32 = shards.iter().map(|r| r.plan.sessions_at(t)).sum();
                assert_eq!(sum, whole.plan.sessions_at(t), "{name}: sessions at {t:?}");
            }
        }
        let mut ids: Vec<u64> = shards.iter().map(|r| r.first_id).collect();
        ids.dedup();
        assert_eq!(ids.len(), shards.len(), "{name}: distinct session ids");
        let shard_numbers: Vec<u64> = shards.iter().map(|r| r.shard).collect();
        assert_eq!(shard_numbers, (1..=u64::from(n)).collect::<Vec<_>>());
    }
    assert_eq!(whole.shard, 0, "{{shard}} is 0 unsharded");
}
