//! Retry delays: capped exponential backoff with the four jitter modes of the
//! scenario's `retry.backoff.jitter`.
//!
//! Pure: the caller passes the retry number, the previous delay and a seeded
//! `&mut impl Rng` (seeded from `scenario.seed` plus the session index), so a run
//! is reproducible and every formula is testable on a fixed seed.
//!
//! Formulas (Marc Brooker, AWS Architecture Blog, "Exponential Backoff And
//! Jitter", 2015), with `exp = min(max, base * factor^(retry - 1))`:
//!
//! | jitter | delay |
//! |---|---|
//! | `none` | `exp` |
//! | `full` | `uniform(0, exp)` |
//! | `equal` | `exp / 2 + uniform(0, exp / 2)` |
//! | `decorrelated` | `min(max, uniform(base, prev * 3))`, `prev = base` for the first retry |
//!
//! # Why jitter
//!
//! When a server fails, every session sees the failure at about the same moment.
//! Without jitter they all retry after exactly `base`, then `2 * base`, …: each
//! retry is a synchronised wave (a thundering herd) that hits the recovering
//! server at once and may knock it over again, so the retries cluster and the
//! server's work is wasted on spikes. Jitter spreads those waves over the whole
//! window: the blog's simulation shows full jitter finishing the same work with
//! far fewer calls than plain exponential backoff. `full` spreads the most;
//! `equal` keeps a guaranteed minimum wait of `exp / 2`; `decorrelated` grows
//! from the previous delay rather than the retry count. `none` is kept for
//! tests and for measuring exactly the herd effect that `faults.csv`'s
//! `recovery_burst` column shows.
//!
//! Arithmetic is in whole nanoseconds and saturates: `factor^(retry - 1)` for a
//! huge retry number is simply `max`, never an overflow or a panic.

use rand::Rng;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How a delay is randomised (`retry.backoff.jitter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// Plain capped exponential: every session waits the same.
    None,
    /// `uniform(0, exp)`: the widest spread.
    Full,
    /// `exp / 2 + uniform(0, exp / 2)`: a spread with a guaranteed minimum.
    Equal,
    /// `min(max, uniform(base, prev * 3))`: grows from the previous delay.
    Decorrelated,
}

impl Jitter {
    /// Every mode, in documentation order.
    pub const ALL: [Jitter; 4] = [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ];

    /// The scenario spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
            Jitter::Decorrelated => "decorrelated",
        }
    }
}

impl fmt::Display for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Jitter {
    type Err = InvalidBackoff;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Jitter::ALL
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| InvalidBackoff::UnknownJitter(s.to_owned()))
    }
}

/// Why a backoff setting was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InvalidBackoff {
    /// `factor` must be a finite number ≥ 1 (1 means a constant delay).
    #[error("backoff.factor must be a finite number >= 1, got {0}")]
    Factor(f64),
    /// `base` larger than `max`; lower `base` or raise `max`.
    #[error("backoff.base ({base:?}) must not exceed backoff.max ({max:?})")]
    BaseAboveMax {
        /// The configured base.
        base: Duration,
        /// The configured max.
        max: Duration,
    },
    /// A zero `base` with jitter: every jittered delay would stay 0; use
    /// `jitter = "none"` for immediate retries, or a base above zero.
    #[error("backoff.base must be above zero with jitter `{0}` (use jitter = \"none\" for immediate retries)")]
    ZeroBase(Jitter),
    /// Not one of `none`, `full`, `equal`, `decorrelated`.
    #[error("unknown jitter `{0}`: expected none, full, equal or decorrelated")]
    UnknownJitter(String),
}

/// A validated backoff policy (`retry.backoff`).
///
/// ```
/// use rand::{rngs::SmallRng, SeedableRng};
/// use std::time::Duration;
/// use streamsoak::client::backoff::{Backoff, Jitter};
/// let b = Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(30), Jitter::None).unwrap();
/// let mut rng = SmallRng::seed_from_u64(1);
/// let delays: Vec<u64> = (1..=6).map(|r| b.delay(r, Duration::ZERO, &mut rng).as_secs()).collect();
/// assert_eq!(delays, [1, 2, 4, 8, 16, 30]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    base: Duration,
    factor: f64,
    max: Duration,
    jitter: Jitter,
}

impl Default for Backoff {
    /// PRODUCT.md defaults: base 1 s, factor 2, max 30 s, full jitter.
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(30),
            jitter: Jitter::Full,
        }
    }
}

impl Backoff {
    /// Validates: `factor` finite and ≥ 1, `base ≤ max`, `base > 0` unless `jitter` is `None`.
    pub fn new(
        base: Duration,
        factor: f64,
        max: Duration,
        jitter: Jitter,
    ) -> Result<Self, InvalidBackoff> {
        // NaN is not finite, so this also rejects it.
        if !factor.is_finite() || factor < 1.0 {
            return Err(InvalidBackoff::Factor(factor));
        }
        if base > max {
            return Err(InvalidBackoff::BaseAboveMax { base, max });
        }
        if base.is_zero() && jitter != Jitter::None {
            return Err(InvalidBackoff::ZeroBase(jitter));
        }
        Ok(Backoff {
            base,
            factor,
            max,
            jitter,
        })
    }

    /// The first delay before jitter.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The growth per retry (unused by decorrelated jitter).
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// The cap on every delay (also caps an honoured `Retry-After`).
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The jitter mode.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The un-jittered delay before retry number `retry` (1 = first retry; 0 is
    /// treated as 1): `min(max, base * factor^(retry - 1))`, saturating.
    pub fn exponential(&self, retry: u32) -> Duration {
        let max = nanos(self.max);
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let exp = nanos(self.base) as f64 * self.factor.powi(exponent);
        if exp.is_nan() || exp >= max as f64 {
            // Past the cap, or infinite (NaN cannot arise from validated values).
            return self.max;
        }
        // `as` saturates; `exp < max` keeps the result within the cap.
        Duration::from_nanos((exp.round() as u64).min(max))
    }

    /// The delay before retry number `retry` (1 = first retry), given the
    /// previous delay `prev` (only decorrelated jitter reads it; it is taken as
    /// `base` on the first retry or when smaller than `base`). Always ≤ `max`.
    pub fn delay(&self, retry: u32, prev: Duration, rng: &mut impl Rng) -> Duration {
        let max = nanos(self.max);
        let out = match self.jitter {
            Jitter::None => return self.exponential(retry),
            Jitter::Full => rng.gen_range(0..=nanos(self.exponential(retry))),
            Jitter::Equal => {
                let exp = nanos(self.exponential(retry));
                let half = exp / 2;
                half + rng.gen_range(0..=exp - half)
            }
            Jitter::Decorrelated => {
                let base = nanos(self.base);
                let prev = if retry <= 1 {
                    base
                } else {
                    nanos(prev).max(base)
                };
                rng.gen_range(base..=prev.saturating_mul(3)).min(max)
            }
        };
        Duration::from_nanos(out).min(self.max)
    }
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (about 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    const MS: Duration = Duration::from_millis(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn backoff(base_ms: u64, factor: f64, max_ms: u64, jitter: Jitter) -> Backoff {
        Backoff::new(ms(base_ms), factor, ms(max_ms), jitter).unwrap()
    }

    #[test]
    fn validation() {
        let cases = [
            (100, 2.0, 1_000, Jitter::Full, None),
            (100, 1.0, 100, Jitter::Equal, None),
            (0, 2.0, 0, Jitter::None, None),
            (
                100,
                0.5,
                1_000,
                Jitter::Full,
                Some(InvalidBackoff::Factor(0.5)),
            ),
            (
                100,
                f64::INFINITY,
                1_000,
                Jitter::Full,
                Some(InvalidBackoff::Factor(f64::INFINITY)),
            ),
            (
                2_000,
                2.0,
                1_000,
                Jitter::None,
                Some(InvalidBackoff::BaseAboveMax {
                    base: ms(2_000),
                    max: ms(1_000),
                }),
            ),
            (
                0,
                2.0,
                1_000,
                Jitter::Full,
                Some(InvalidBackoff::ZeroBase(Jitter::Full)),
            ),
            (
                0,
                2.0,
                1_000,
                Jitter::Decorrelated,
                Some(InvalidBackoff::ZeroBase(Jitter::Decorrelated)),
            ),
        ];
        for (base, factor, max, jitter, want) in cases {
            let got = Backoff::new(ms(base), factor, ms(max), jitter).err();
            assert_eq!(got, want, "{base} {factor} {max} {jitter}");
        }
        assert!(matches!(
            Backoff::new(MS, f64::NAN, MS, Jitter::None),
            Err(InvalidBackoff::Factor(_))
        ));
    }

    #[test]
    fn jitter_names_round_trip() {
        for (jitter, name) in Jitter::ALL
            .into_iter()
            .zip(["none", "full", "equal", "decorrelated"])
        {
            assert_eq!(jitter.as_str(), name);
            assert_eq!(name.parse::<Jitter>(), Ok(jitter));
            assert_eq!(jitter.to_string(), name);
        }
        assert_eq!(
            "Full".parse::<Jitter>(),
            Err(InvalidBackoff::UnknownJitter("Full".into()))
        );
    }

    /// (base ms, factor, max ms, [(retry, expected ms)])
    type ExpCase = (u64, f64, u64, &'static [(u32, u64)]);

    #[test]
    fn exponential_table() {
        let cases: [ExpCase; 4] = [
            (
                1_000,
                2.0,
                30_000,
                &[
                    (0, 1_000),
                    (1, 1_000),
                    (2, 2_000),
                    (5, 16_000),
                    (6, 30_000),
                    (7, 30_000),
                ],
            ),
            (
                100,
                3.0,
                10_000,
                &[
                    (1, 100),
                    (2, 300),
                    (3, 900),
                    (4, 2_700),
                    (5, 8_100),
                    (6, 10_000),
                ],
            ),
            (250, 1.0, 1_000, &[(1, 250), (10, 250), (u32::MAX, 250)]),
            (
                100,
                1.5,
                1_000,
                &[(1, 100), (2, 150), (3, 225), (u32::MAX, 1_000)],
            ),
        ];
        let mut rng = SmallRng::seed_from_u64(0);
        for (base, factor, max, table) in cases {
            let b = backoff(base, factor, max, Jitter::None);
            for &(retry, want) in table {
                assert_eq!(
                    b.exponential(retry),
                    ms(want),
                    "{base} {factor} retry {retry}"
                );
                assert_eq!(
                    b.delay(retry, ms(123), &mut rng),
                    ms(want),
                    "none = exponential"
                );
            }
        }
    }

    #[test]
    fn huge_values_saturate() {
        let b = Backoff::new(ms(1), 1e300, Duration::MAX, Jitter::None).unwrap();
        assert_eq!(b.exponential(2), Duration::MAX);
        assert_eq!(b.exponential(u32::MAX), Duration::MAX);
        let mut rng = SmallRng::seed_from_u64(3);
        for jitter in Jitter::ALL {
            let b = Backoff::new(ms(1), 10.0, Duration::MAX, jitter).unwrap();
            let d = b.delay(u32::MAX, Duration::MAX, &mut rng);
            assert!(d <= Duration::MAX, "{jitter}");
        }
    }

    /// Per jitter, per retry: the range the formula allows; seeded samples must
    /// stay in it and spread over it (reach within 5% of both ends).
    #[test]
    fn jitter_ranges_table() {
        // (jitter, retry, prev_ms, lo_ms, hi_ms) for base 100 ms, factor 2, max 1 s.
        let cases = [
            (Jitter::Full, 1, 0, 0, 100),
            (Jitter::Full, 3, 0, 0, 400),
            (Jitter::Full, 9, 0, 0, 1_000),
            (Jitter::Equal, 1, 0, 50, 100),
            (Jitter::Equal, 4, 0, 400, 800),
            (Jitter::Equal, 30, 0, 500, 1_000),
            (Jitter::Decorrelated, 1, 900, 100, 300), // prev taken as base on the first retry
            (Jitter::Decorrelated, 2, 100, 100, 300),
            (Jitter::Decorrelated, 2, 200, 100, 600),
            (Jitter::Decorrelated, 5, 20, 100, 300), // prev below base is raised to base
            (Jitter::Decorrelated, 5, 900, 100, 1_000), // capped at max
        ];
        let mut rng = SmallRng::seed_from_u64(42);
        for (jitter, retry, prev, lo, hi) in cases {
            let b = backoff(100, 2.0, 1_000, jitter);
            let samples: Vec<Duration> = (0..2_000)
                .map(|_| b.delay(retry, ms(prev), &mut rng))
                .collect();
            let (min, max) = (samples.iter().min().unwrap(), samples.iter().max().unwrap());
            let slack = ms(hi - lo) / 20;
            let case = format!("{jitter} retry {retry} prev {prev}");
            assert!(*min >= ms(lo) && *max <= ms(hi), "{case}: {min:?}..{max:?}");
            assert!(
                *min <= ms(lo) + slack && *max + slack >= ms(hi),
                "{case}: spread {min:?}..{max:?}"
            );
        }
    }

    #[test]
    fn decorrelated_with_max_above_3_base_hits_max() {
        // A chain fed its own output grows until the cap holds it.
        let b = backoff(100, 2.0, 1_000, Jitter::Decorrelated);
        let mut rng = SmallRng::seed_from_u64(9);
        let mut prev = Duration::ZERO;
        let mut seen_cap = false;
        for retry in 1..200 {
            prev = b.delay(retry, prev, &mut rng);
            assert!(prev >= ms(100) && prev <= ms(1_000));
            seen_cap |= prev == ms(1_000);
        }
        assert!(seen_cap);
    }

    fn any_backoff() -> impl Strategy<Value = Backoff> {
        (1u64..5_000, 1.0f64..10.0, 0u64..120_000, 0usize..4).prop_map(
            |(base, factor, extra, j)| backoff(base, factor, base + extra, Jitter::ALL[j]),
        )
    }

    proptest! {
        #[test]
        fn delay_within_zero_and_max(b in any_backoff(), retry in 0u32..=u32::MAX, prev in 0u64..1_000_000, seed: u64) {
            let mut rng = SmallRng::seed_from_u64(seed);
            let d = b.delay(retry, ms(prev), &mut rng);
            prop_assert!(d <= b.max(), "{:?} > {:?}", d, b.max());
            let exp = b.exponential(retry);
            match b.jitter() {
                Jitter::None => prop_assert_eq!(d, exp),
                Jitter::Full => prop_assert!(d <= exp),
                Jitter::Equal => prop_assert!(d >= exp / 2 && d <= exp),
                Jitter::Decorrelated => prop_assert!(d >= b.base()),
            }
        }

        #[test]
        fn none_is_monotone(b in any_backoff(), retry in 1u32..10_000) {
            prop_assert!(b.exponential(retry) <= b.exponential(retry + 1));
        }

        #[test]
        fn same_seed_same_sequence(b in any_backoff(), seed: u64) {
            let run = |seed| {
                let mut rng = SmallRng::seed_from_u64(seed);
                let mut prev = Duration::ZERO;
                (1..20).map(|retry| { prev = b.delay(retry, prev, &mut rng); prev }).collect::<Vec<_>>()
            };
            prop_assert_eq!(run(seed), run(seed));
        }
    }
}
