//! `streamsoak run` and `streamsoak check`.

use std::path::{Path, PathBuf};

use crate::cli::{CheckArgs, RunArgs, ScenarioArgs};
use crate::engine::progress::ProgressMode;
use crate::engine::{self, RunOptions, RunPlan};
use crate::error::Error;
use crate::report;
use crate::scenario::{self, LoadOptions, Scenario};

/// Loads the scenario with `--set` / `--target` applied; `lenient_env` for
/// `check` (an unset `${VAR}` is a warning there, an error for `run`).
fn load(args: &ScenarioArgs, lenient_env: bool) -> Result<Scenario, Error> {
    let mut opts = LoadOptions::from_env();
    opts.sets = args.sets.clone();
    opts.target = args.target.clone();
    opts.lenient_env = lenient_env;
    Ok(scenario::load(&args.scenario, &opts)?)
}

/// `--shard I/N` → (I, N), 1 ≤ I ≤ N.
pub(super) fn parse_shard(value: Option<&str>) -> Result<Option<(u32, u32)>, Error> {
    let Some(value) = value else { return Ok(None) };
    let bad = || {
        Error::Usage(format!(
            "--shard `{value}`: expected I/N with 1 <= I <= N, e.g. 2/4"
        ))
    };
    let (i, n) = value.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if i == 0 || n == 0 || i > n {
        return Err(bad());
    }
    Ok(Some((i, n)))
}

/// `--start-at TIME` → the instant, refused (exit 2) when malformed or past.
fn parse_start_at(value: Option<&str>) -> Result<Option<std::time::SystemTime>, Error> {
    value
        .map(|v| scenario::start_at::resolve(v, std::time::SystemTime::now()))
        .transpose()
        .map_err(|err| Error::Usage(format!("--start-at {err}")))
}

/// `check`: validate and print the resolved plan; sends nothing.
pub(super) fn check(args: CheckArgs) -> Result<u8, Error> {
    let shard = parse_shard(args.scenario.shard.as_deref())?;
    let scenario = load(&args.scenario, true)?;
    print!("{}", scenario.describe());
    for name in &scenario.unset_vars {
        eprintln!(
            "warning: {}: ${{{name}}} is not set; `check` read it as empty, `run` will refuse the scenario until it is set",
            scenario.file.display()
        );
    }
    if let Some((i, n)) = shard {
        let whole = RunPlan::new(&scenario, None).plan;
        let slice = RunPlan::new(&scenario, shard).plan;
        let unit = if slice.kind().is_arrival_rate() {
            "streams/s"
        } else {
            "sessions"
        };
        println!(
            "shard {i}/{n}: peak {:.1} {unit} of {:.1}, about {:.0} of {:.0} expected streams",
            slice.peak(),
            whole.peak(),
            scenario.expected_streams().unwrap_or(0.0) * slice.integral()
                / whole.integral().max(f64::MIN_POSITIVE),
            scenario.expected_streams().unwrap_or(0.0)
        );
    }
    Ok(0)
}

/// `run`: the load test itself.
pub(super) fn run(args: RunArgs) -> Result<u8, Error> {
    let shard = parse_shard(args.scenario.shard.as_deref())?;
    let start_at = parse_start_at(args.start_at.as_deref())?;
    let scenario = load(&args.scenario, false)?;
    let out = prepare_out_dir(args.out.as_deref(), &scenario.name, args.force)?;
    let nofile = raise_open_file_limit();
    warn_capacity(&scenario, shard, nofile);
    if scenario.http.insecure_tls {
        eprintln!("streamsoak: [http] insecure_tls = true: TLS certificates are NOT verified");
    }
    let opts = RunOptions {
        out_dir: out.clone(),
        events_out: args.events_out.clone(),
        progress: ProgressMode::detect(args.quiet),
        shard,
        arbiters: 0,
        start_at,
        metrics_addr: super::metrics_addr(args.metrics_addr.as_deref())?,
        metrics_linger: super::metrics_linger(&args.metrics_linger)?,
    };
    let summary = engine::run(&scenario, &opts)?;
    let results = crate::scenario::thresholds::evaluate(&scenario.thresholds, &summary);
    let passed = results.iter().all(|r| r.passed);
    report::write_final(&out, &summary, &results)?;
    if !args.quiet {
        eprint!("{}", report::console_summary(&summary, &results, &out));
    }
    Ok(if passed { 0 } else { 1 })
}

/// Creates the report folder (or checks `--out`), and proves it writable now
/// rather than after an hour of load.
pub(super) fn prepare_out_dir(
    out: Option<&Path>,
    name: &str,
    force: bool,
) -> Result<PathBuf, Error> {
    let dir = match out {
        Some(dir) => dir.to_path_buf(),
        None => {
            let safe: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let stamp = report::csv::iso8601(std::time::SystemTime::now())
                .replace(['-', ':'], "")
                .trim_end_matches('Z')
                .to_owned();
            PathBuf::from("reports").join(format!("{safe}-{stamp}"))
        }
    };
    if dir.exists() {
        let non_empty = std::fs::read_dir(&dir)
            .map_err(|err| Error::io(&dir, err))?
            .next()
            .is_some();
        if non_empty && !force {
            return Err(Error::Usage(format!(
                "{} exists and is not empty: choose another --out or add --force",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(&dir).map_err(|err| Error::io(&dir, err))?;
    let probe = dir.join(".streamsoak-write-test");
    std::fs::write(&probe, b"ok").map_err(|err| Error::io(&probe, err))?;
    let _ = std::fs::remove_file(&probe);
    Ok(dir)
}

/// 10,000 streams need more than the default 1,024 descriptors: raises
/// the soft limit to the hard one, and returns the limit now in force.
pub(super) fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            log::debug!("open-file limit {limit}");
            Some(limit)
        }
        Err(err) => {
            log::warn!("cannot raise the open-file limit: {err}");
            None
        }
    }
}

/// Says on stderr, before the run starts, when this process's descriptor
/// limit or the ephemeral ports cannot hold the planned peak
/// ([`crate::load::capacity`]).
fn warn_capacity(
    scenario: &crate::scenario::Scenario,
    shard: Option<(u32, u32)>,
    nofile: Option<u64>,
) {
    use crate::load::capacity::{self, Demand, Limits};
    let Some(nofile) = nofile else { return };
    // An open model without `max_sessions` has no planned concurrency to check.
    if scenario.load.executor().is_arrival_rate() && scenario.load.max_sessions.is_none() {
        return;
    }
    let peak = crate::engine::RunPlan::new(scenario, shard).peak as u64;
    let ports = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| capacity::port_range(&text));
    let demand = Demand {
        peak,
        embedded: scenario.target == crate::scenario::Target::Embedded,
        sources: scenario.http.local_addresses.len() as u64,
    };
    for problem in capacity::check(demand, Limits { nofile, ports }) {
        eprintln!("streamsoak: warning: {problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards() {
        assert_eq!(parse_shard(None).ok(), Some(None));
        assert_eq!(parse_shard(Some("2/4")).ok(), Some(Some((2, 4))));
        for bad in ["0/4", "5/4", "1/0", "x/2", "3", ""] {
            assert!(parse_shard(Some(bad)).is_err(), "{bad}");
        }
    }
}
