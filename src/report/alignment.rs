//! What shards of one distributed run must agree on, the `summary.csv`
//! rows that carry it, and the check `merge` makes (pure: no I/O, no clock).
//!
//! A shard folder says which plan it ran (`plan_digest`, see
//! [`crate::scenario::Scenario::plan_digest`]; written with `--shard`
//! only) and, with `run --start-at`,
//! the instant that was its `t = 0` (`start_at`) and how late it actually
//! began (`start_late_ms`, from its wall-clock start). `merge` refuses
//! shards that ran different plans or were told different start instants,
//! and sets whose indices are not 1..N each once; the merged folder's
//! `start_skew_ms` is the spread of the shards' actual starts, i.e. how far
//! apart their `t = 0` really were.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::report::csv::civil_from_days;
use crate::scenario::start_at::parse_rfc3339;

/// `summary.csv` key: the resolved plan's digest.
pub const PLAN_DIGEST: &str = "plan_digest";
/// `summary.csv` key: the `--start-at` instant (RFC 3339, milliseconds).
pub const START_AT: &str = "start_at";
/// `summary.csv` key: actual start minus `start_at`, in ms.
pub const START_LATE_MS: &str = "start_late_ms";
/// `summary.csv` key (merged folders): the spread of the shards' actual starts, in ms.
pub const START_SKEW_MS: &str = "start_skew_ms";

/// A run's start and plan identity, as far as shards must agree on them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alignment {
    /// `--start-at`: the planned `t = 0`.
    pub start_at: Option<SystemTime>,
    /// With `start_at`: the actual start minus `start_at`, in ms
    /// (negative if the clock began early, e.g. stepped back).
    pub start_late_ms: Option<f64>,
    /// [`crate::scenario::Scenario::plan_digest`] of the run's scenario.
    pub plan_digest: Option<String>,
    /// Merged folders: latest minus earliest actual shard start.
    pub start_skew: Option<Duration>,
}

impl Alignment {
    /// A run of the plan `plan_digest` (shards write it; a run that is
    /// not a shard has nothing to match and leaves `summary.csv` as it
    /// was), told to start at `start_at`, whose clock actually started at
    /// `started_at`.
    pub fn of_run(
        plan_digest: Option<String>,
        start_at: Option<SystemTime>,
        started_at: SystemTime,
    ) -> Alignment {
        Alignment {
            start_at,
            start_late_ms: start_at.map(|at| signed_ms(started_at, at)),
            plan_digest,
            start_skew: None,
        }
    }

    /// The `summary.csv` rows, in this order: `plan_digest`, `start_at`,
    /// `start_late_ms`, `start_skew_ms`; each only when known.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = Vec::new();
        if let Some(digest) = &self.plan_digest {
            rows.push((PLAN_DIGEST, digest.clone()));
        }
        if let Some(at) = self.start_at {
            rows.push((START_AT, rfc3339_millis(at)));
        }
        if let Some(late) = self.start_late_ms {
            rows.push((START_LATE_MS, format!("{late:.3}")));
        }
        if let Some(skew) = self.start_skew {
            rows.push((START_SKEW_MS, format!("{:.3}", skew.as_secs_f64() * 1e3)));
        }
        rows
    }

    /// Reads the rows back from `summary.csv`'s key → value map; absent
    /// keys (an unsharded run, an older folder) are `None`.
    ///
    /// # Errors
    /// A message naming the key whose value is malformed.
    pub fn from_summary(kv: &HashMap<String, String>) -> Result<Alignment, String> {
        let start_at = match kv.get(START_AT) {
            Some(v) => {
                Some(parse_rfc3339(v).map_err(|why| format!("bad `{START_AT}` `{v}`: {why}"))?)
            }
            None => None,
        };
        let start_skew = match kv.get(START_SKEW_MS) {
            Some(v) => {
                let ms: f64 = v
                    .parse()
                    .ok()
                    .filter(|ms: &f64| ms.is_finite() && *ms >= 0.0)
                    .ok_or_else(|| format!("bad `{START_SKEW_MS}` `{v}`"))?;
                Some(Duration::from_secs_f64(ms / 1e3))
            }
            None => None,
        };
        let start_late_ms = match kv.get(START_LATE_MS) {
            Some(v) => Some(
                v.parse()
                    .ok()
                    .filter(|ms: &f64| ms.is_finite())
                    .ok_or_else(|| format!("bad `{START_LATE_MS}` `{v}`"))?,
            ),
            None => None,
        };
        Ok(Alignment {
            start_at,
            start_late_ms,
            plan_digest: kv.get(PLAN_DIGEST).cloned(),
            start_skew,
        })
    }
}

/// `a - b` in milliseconds, negative when `a` is earlier.
pub fn signed_ms(a: SystemTime, b: SystemTime) -> f64 {
    match a.duration_since(b) {
        Ok(d) => d.as_secs_f64() * 1e3,
        Err(early) => -early.duration().as_secs_f64() * 1e3,
    }
}

/// UTC RFC 3339 with milliseconds, e.g. `2025-06-01T12:00:00.250Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// One folder given to `merge`, as far as alignment goes.
#[derive(Clone, Debug)]
pub struct ShardFacts<'a> {
    /// `--shard I/N`.
    pub shard: Option<(u32, u32)>,
    /// The run's alignment rows.
    pub alignment: &'a Alignment,
    /// Its actual wall-clock start (`t = 0` of its clock).
    pub started_at: SystemTime,
}

/// Checks that `shards` (in the order given) ran one plan from one start
/// instant, and that a sharded set holds indices 1..N each once; returns
/// the spread of their actual starts.
///
/// # Errors
/// The index (into `shards`) of the folder to name, and what does not match.
pub fn check_set(shards: &[ShardFacts<'_>]) -> Result<Duration, (usize, String)> {
    let Some(first) = shards.first() else {
        return Ok(Duration::ZERO);
    };
    let name = |s: &ShardFacts<'_>| match s.shard {
        Some((i, n)) => format!("shard {i}/{n}"),
        None => "the folder".to_owned(),
    };
    for (k, shard) in shards.iter().enumerate().skip(1) {
        let (a, b) = (&first.alignment, &shard.alignment);
        if let (Some(x), Some(y)) = (&a.plan_digest, &b.plan_digest) {
            if x != y {
                return Err((
                    k,
                    format!(
                        "{} ran another plan (plan_digest {y}) than {} (plan_digest {x}): the scenario file, --set or --target differ between shards; run every shard from one scenario",
                        name(shard),
                        name(first)
                    ),
                ));
            }
        }
        if a.start_at != b.start_at {
            let said = |at: Option<SystemTime>| {
                at.map_or_else(
                    || "no --start-at".to_owned(),
                    |t| format!("--start-at {}", rfc3339_millis(t)),
                )
            };
            return Err((
                k,
                format!(
                    "{} was run with {}, {} with {}: shards of one run start at one instant",
                    name(shard),
                    said(b.start_at),
                    name(first),
                    said(a.start_at)
                ),
            ));
        }
    }
    if let Some((_, n)) = first.shard {
        let mut given: Vec<u32> = shards
            .iter()
            .filter_map(|s| s.shard.map(|(i, _)| i))
            .collect();
        given.sort_unstable();
        given.dedup();
        let missing: Vec<String> = (1..=n)
            .filter(|i| given.binary_search(i).is_err())
            .map(|i| format!("{i}/{n}"))
            .collect();
        if !missing.is_empty() {
            return Err((
                0,
                format!(
                    "shard {} missing from the {} folders given: merge every shard of the run (indices 1..{n} each once)",
                    missing.join(", "),
                    shards.len()
                ),
            ));
        }
    }
    let earliest = shards
        .iter()
        .map(|s| s.started_at)
        .min()
        .unwrap_or(first.started_at);
    let latest = shards
        .iter()
        .map(|s| s.started_at)
        .max()
        .unwrap_or(first.started_at);
    Ok(latest.duration_since(earliest).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_748_779_200_000 + ms)
    }

    fn al(digest: &str, start_at: Option<u64>) -> Alignment {
        Alignment {
            start_at: start_at.map(t),
            start_late_ms: None,
            plan_digest: (!digest.is_empty()).then(|| digest.to_owned()),
            start_skew: None,
        }
    }

    #[test]
    fn rows_round_trip_through_summary_csv_values() {
        let mut a = Alignment::of_run(Some("00ff00ff00ff00ff".into()), Some(t(250)), t(262));
        a.start_skew = Some(Duration::from_micros(12_345));
        let rows = a.rows();
        assert_eq!(
            rows,
            [
                (PLAN_DIGEST, "00ff00ff00ff00ff".to_owned()),
                (START_AT, "2025-06-01T12:00:00.250Z".to_owned()),
                (START_LATE_MS, "12.000".to_owned()),
                (START_SKEW_MS, "12.345".to_owned()),
            ]
        );
        let kv: HashMap<String, String> =
            rows.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        assert_eq!(Alignment::from_summary(&kv), Ok(a));
        // Early (clock stepped back): negative lateness.
        let early = Alignment::of_run(Some("d".into()), Some(t(250)), t(240));
        assert_eq!(early.rows()[2], (START_LATE_MS, "-10.000".to_owned()));
        // A shard without --start-at: the digest alone; no shard: nothing.
        assert_eq!(
            Alignment::of_run(Some("d".into()), None, t(0)).rows(),
            [(PLAN_DIGEST, "d".to_owned())]
        );
        assert!(Alignment::of_run(None, None, t(0)).rows().is_empty());
        // Nothing known: no rows, and no rows read back as nothing.
        assert!(Alignment::default().rows().is_empty());
        assert_eq!(
            Alignment::from_summary(&HashMap::new()),
            Ok(Alignment::default())
        );
    }

    #[test]
    fn malformed_rows_name_their_key() {
        for (key, value) in [
            (START_AT, "yesterday"),
            (START_SKEW_MS, "-1"),
            (START_SKEW_MS, "x"),
            (START_LATE_MS, "soon"),
        ] {
            let kv = HashMap::from([(key.to_owned(), value.to_owned())]);
            let err = Alignment::from_summary(&kv).expect_err(value);
            assert!(err.contains(key) && err.contains(value), "{err}");
        }
    }

    #[test]
    fn check_set_table() {
        let a = al("aaaa", Some(0));
        let b = al("bbbb", Some(0));
        let later = al("aaaa", Some(1000));
        let unplanned = al("aaaa", None);
        let old = al("", Some(0)); // a folder from before plan digests
        fn f(shard: (u32, u32), alignment: &Alignment, started: u64) -> ShardFacts<'_> {
            ShardFacts {
                shard: Some(shard),
                alignment,
                started_at: t(started),
            }
        }
        // Pass: skew is the spread of actual starts.
        let ok: &[(&[ShardFacts<'_>], u64)] = &[
            (
                &[f((1, 3), &a, 5), f((2, 3), &a, 40), f((3, 3), &a, 12)],
                35,
            ),
            (&[f((2, 2), &a, 7), f((1, 2), &a, 7)], 0),
            (&[f((1, 2), &a, 0), f((2, 2), &old, 3)], 3),
            (&[f((1, 1), &unplanned, 9)], 0),
        ];
        for (set, skew) in ok {
            assert_eq!(check_set(set), Ok(Duration::from_millis(*skew)), "{set:?}");
        }
        // Refused: which folder, and what the message says.
        let bad: &[(&[ShardFacts<'_>], usize, &str)] = &[
            (&[f((1, 2), &a, 0), f((2, 2), &b, 0)], 1, "shard 2/2 ran another plan (plan_digest bbbb) than shard 1/2 (plan_digest aaaa)"),
            (&[f((1, 2), &a, 0), f((2, 2), &later, 0)], 1, "shard 2/2 was run with --start-at 2025-06-01T12:00:01.000Z, shard 1/2 with --start-at 2025-06-01T12:00:00.000Z"),
            (&[f((1, 2), &a, 0), f((2, 2), &unplanned, 0)], 1, "shard 2/2 was run with no --start-at"),
            (&[f((1, 3), &a, 0), f((3, 3), &a, 0)], 0, "shard 2/3 missing from the 2 folders given"),
            (&[f((2, 4), &a, 0)], 0, "shard 1/4, 3/4, 4/4 missing"),
        ];
        for (set, index, needle) in bad {
            let (k, msg) = check_set(set).expect_err(needle);
            assert_eq!(k, *index, "{msg}");
            assert!(msg.contains(needle), "`{msg}` should say `{needle}`");
        }
        assert_eq!(check_set(&[]), Ok(Duration::ZERO));
    }
}
