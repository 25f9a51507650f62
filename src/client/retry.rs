//! The retry decision: after a failed attempt, retry (and after how long) or give up.
//!
//! Pure: [`RetryPolicy::decide`] takes the failure kind, the retries already
//! made, the server's `Retry-After` (parsed by [`parse_retry_after`] against a
//! caller-supplied `now`) and a seeded RNG for the backoff jitter.
//!
//! Rules, in order (PRODUCT.md "Error classes"):
//! 1. kinds that are [never retried](FailureKind::never_retried) (4xx other than
//!    408/429, `short-circuited`, `cancelled`) give up, whatever `retry_on` says;
//! 2. a kind not in `retry_on` gives up as not retryable;
//! 3. after `max_retries` retries the policy gives up as exhausted;
//! 4. otherwise retry: after `Retry-After` when it is honoured (only for
//!    `status-429` and `status-5xx`, capped at `backoff.max` so a hostile or
//!    mistaken header cannot park a session for hours), else after the backoff delay.
//!
//! The server's SSE `retry:` field (`honor_retry_field`) is a property of the
//! stream, not of one failure, so it is applied by the retry loop
//! ([`crate::client::wanted`]), which remembers it across attempts: it
//! replaces the backoff delay, never a honoured `Retry-After`.

use crate::client::backoff::Backoff;
use crate::client::classify::{FailureClass, FailureKind, UnknownName};
use rand::Rng;
use std::time::{Duration, SystemTime};

// Every kind must have a bit in the `u32` of `RetrySet`.
const _: () = assert!(FailureKind::COUNT <= 32);

/// A set of failure kinds (`retry.retry_on`), stored as a bitset: `Copy`, no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RetrySet(u32);

impl RetrySet {
    /// No kind.
    pub const EMPTY: RetrySet = RetrySet(0);

    /// PRODUCT.md's default `retry_on`: the kinds whose
    /// [`retried_by_default`](FailureKind::retried_by_default) is true.
    pub fn default_set() -> RetrySet {
        FailureKind::ALL
            .into_iter()
            .filter(|k| k.retried_by_default())
            .collect()
    }

    /// Parses `retry_on` entries: each a kind name (`"status-5xx"`) or a class
    /// name (`"network"`, meaning all of its kinds). The first unknown name is the error.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<RetrySet, UnknownName> {
        let mut set = RetrySet::EMPTY;
        for name in names {
            let name = name.as_ref();
            if let Ok(kind) = name.parse::<FailureKind>() {
                set.insert(kind);
            } else {
                let class = name.parse::<FailureClass>()?;
                set.extend(FailureKind::ALL.into_iter().filter(|k| k.class() == class));
            }
        }
        Ok(set)
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: FailureKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// Adds `kind`.
    pub fn insert(&mut self, kind: FailureKind) {
        self.0 |= Self::bit(kind);
    }

    /// The kinds in the set, in report order.
    pub fn iter(self) -> impl Iterator<Item = FailureKind> {
        FailureKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }

    fn bit(kind: FailureKind) -> u32 {
        1 << kind.index()
    }
}

impl FromIterator<FailureKind> for RetrySet {
    fn from_iter<I: IntoIterator<Item = FailureKind>>(iter: I) -> Self {
        let mut set = RetrySet::EMPTY;
        set.extend(iter);
        set
    }
}

impl Extend<FailureKind> for RetrySet {
    fn extend<I: IntoIterator<Item = FailureKind>>(&mut self, iter: I) {
        for kind in iter {
            self.insert(kind);
        }
    }
}

impl std::fmt::Debug for RetrySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(FailureKind::as_str))
            .finish()
    }
}

/// Why no retry follows a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GiveUpReason {
    /// The kind is never retried, or not in `retry_on`.
    NotRetryable,
    /// `max_retries` retries were already made.
    Exhausted,
}

impl GiveUpReason {
    /// The spelling in `-v` logs.
    pub fn as_str(self) -> &'static str {
        match self {
            GiveUpReason::NotRetryable => "not-retryable",
            GiveUpReason::Exhausted => "exhausted",
        }
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Wait `delay`, then make the next attempt.
    Retry {
        /// Time to wait; ≤ `backoff.max`.
        delay: Duration,
    },
    /// The stream has failed for good.
    GiveUp(GiveUpReason),
}

/// The validated `[retry]` settings.
///
/// ```
/// use rand::{rngs::SmallRng, SeedableRng};
/// use std::time::Duration;
/// use streamsoak::client::{classify::FailureKind, retry::*};
/// let policy = RetryPolicy::default();
/// let mut rng = SmallRng::seed_from_u64(0);
/// let hint = Some(Duration::from_secs(7));
/// assert_eq!(
///     policy.decide(0, FailureKind::Status429, hint, Duration::ZERO, &mut rng),
///     Decision::Retry { delay: Duration::from_secs(7) },
/// );
/// assert_eq!(
///     policy.decide(3, FailureKind::Reset, None, Duration::ZERO, &mut rng),
///     Decision::GiveUp(GiveUpReason::Exhausted),
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = never retry).
    pub max_retries: u32,
    /// How long to wait between attempts.
    pub backoff: Backoff,
    /// Whether `Retry-After` on 429/5xx sets the delay (capped at `backoff.max`).
    pub honor_retry_after: bool,
    /// Whether the last SSE `retry:` field the server sent sets the delay
    /// instead of the backoff (capped at `backoff.max`); default false.
    pub honor_retry_field: bool,
    /// The kinds to retry (never-retried kinds are excluded whatever this says).
    pub retry_on: RetrySet,
}

impl Default for RetryPolicy {
    /// PRODUCT.md defaults: 3 retries, default backoff, `Retry-After` honoured, default set.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            backoff: Backoff::default(),
            honor_retry_after: true,
            honor_retry_field: false,
            retry_on: RetrySet::default_set(),
        }
    }
}

impl RetryPolicy {
    /// Decides after a failed attempt of `kind`, when `retries_done` retries have
    /// already been made. `retry_after` is the parsed header, if any; `prev_delay`
    /// the last delay waited (for decorrelated jitter; anything on the first retry).
    pub fn decide(
        &self,
        retries_done: u32,
        kind: FailureKind,
        retry_after: Option<Duration>,
        prev_delay: Duration,
        rng: &mut impl Rng,
    ) -> Decision {
        if kind.never_retried() || !self.retry_on.contains(kind) {
            return Decision::GiveUp(GiveUpReason::NotRetryable);
        }
        if retries_done >= self.max_retries {
            return Decision::GiveUp(GiveUpReason::Exhausted);
        }
        let delay = match retry_after {
            Some(after) if self.honours_retry_after(kind) => after.min(self.backoff.max()),
            _ => self
                .backoff
                .delay(retries_done.saturating_add(1), prev_delay, rng),
        };
        Decision::Retry { delay }
    }

    /// Whether a `Retry-After` on a failure of `kind` sets the delay: only
    /// for `status-429` and `status-5xx`, and only when `honor_retry_after` is on.
    pub fn honours_retry_after(&self, kind: FailureKind) -> bool {
        matches!(kind, FailureKind::Status429 | FailureKind::Status5xx) && self.honor_retry_after
    }
}

/// Parses a `Retry-After` header value (RFC 9110 §10.2.3): delay-seconds
/// (`"120"`) or an HTTP-date, relative to `now`. A date in the past gives zero;
/// a seconds value too large for `u64` saturates. Anything else (negative,
/// fractional, empty, malformed) is `None`: the header is ignored and the
/// backoff applies.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::backoff::Jitter;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use FailureKind::*;

    const SEC: Duration = Duration::from_secs(1);

    fn policy(max_retries: u32, honor: bool, retry_on: RetrySet) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            backoff: Backoff::new(SEC, 2.0, 10 * SEC, Jitter::None).unwrap(),
            honor_retry_after: honor,
            honor_retry_field: false,
            retry_on,
        }
    }

    fn all_kinds() -> RetrySet {
        FailureKind::ALL.into_iter().collect()
    }

    #[test]
    fn default_set_is_the_retried_by_default_kinds() {
        let set = RetrySet::default_set();
        for kind in FailureKind::ALL {
            assert_eq!(set.contains(kind), kind.retried_by_default(), "{kind}");
        }
        assert_eq!(RetrySet::default(), RetrySet::EMPTY);
        assert_eq!(RetryPolicy::default().retry_on, set);
        // The product's documented default list spells the same set.
        let documented = [
            "network",
            "status-408",
            "status-429",
            "status-5xx",
            "first-event-timeout",
            "idle-timeout",
            "cut",
        ];
        assert_eq!(RetrySet::from_names(&documented), Ok(set));
    }

    /// (names, the kinds they spell or the first unknown name)
    type NamesCase = (
        &'static [&'static str],
        Result<&'static [FailureKind], &'static str>,
    );

    #[test]
    fn from_names_table() {
        let cases: [NamesCase; 7] = [
            (&[], Ok(&[])),
            (&["cut"], Ok(&[Cut])),
            (&["status-5xx", "cut", "cut"], Ok(&[Status5xx, Cut])),
            (
                &["network"],
                Ok(&[ConnectRefused, Dns, Unreachable, ConnectTimeout, Tls, Reset]),
            ),
            (
                &["application", "dns"],
                Ok(&[Dns, MalformedEvent, Cancelled, ShortCircuited]),
            ),
            (&["stream", "bogus"], Err("bogus")),
            (&["Network"], Err("Network")),
        ];
        for (names, want) in cases {
            let got = RetrySet::from_names(names);
            match want {
                Ok(kinds) => assert_eq!(
                    got.map(|s| s.iter().collect::<Vec<_>>()),
                    Ok(kinds.to_vec()),
                    "{names:?}"
                ),
                Err(bad) => assert_eq!(got, Err(UnknownName(bad.to_owned())), "{names:?}"),
            }
        }
        let owned = vec![String::from("server")];
        assert_eq!(
            RetrySet::from_names(&owned).map(|s| s.iter().count()),
            Ok(8)
        );
        assert_eq!(
            format!("{:?}", RetrySet::from_names(&["cut", "dns"]).unwrap()),
            r#"{"dns", "cut"}"#
        );
    }

    #[test]
    fn every_kind_fits_its_own_bit() {
        let mut set = RetrySet::EMPTY;
        for (i, kind) in FailureKind::ALL.into_iter().enumerate() {
            assert!(!set.contains(kind));
            set.insert(kind);
            assert_eq!(set.iter().count(), i + 1);
        }
        assert_eq!(set, all_kinds());
    }

    #[test]
    fn never_retried_kinds_ignore_retry_on() {
        let p = policy(5, true, all_kinds());
        let mut rng = SmallRng::seed_from_u64(0);
        for kind in FailureKind::ALL {
            let d = p.decide(0, kind, None, Duration::ZERO, &mut rng);
            let want = if kind.never_retried() {
                Decision::GiveUp(GiveUpReason::NotRetryable)
            } else {
                Decision::Retry { delay: SEC }
            };
            assert_eq!(d, want, "{kind}");
        }
    }

    #[test]
    fn decide_table() {
        let default = RetrySet::default_set();
        let only_cut = RetrySet::from_names(&["cut"]).unwrap();
        let give_up = |r| Decision::GiveUp(r);
        let retry = |s: u64| Decision::Retry {
            delay: Duration::from_secs(s),
        };
        use GiveUpReason::*;
        // (max_retries, honor, retry_on, retries_done, kind, retry_after_s, want)
        let cases = [
            (3, true, default, 0, Reset, None, retry(1)),
            (3, true, default, 1, Reset, None, retry(2)),
            (3, true, default, 2, Cut, None, retry(4)),
            (3, true, default, 3, Cut, None, give_up(Exhausted)),
            (3, true, default, 9, Cut, None, give_up(Exhausted)),
            (0, true, default, 0, Cut, None, give_up(Exhausted)),
            (3, true, default, 0, Status4xx, None, give_up(NotRetryable)),
            (3, true, default, 5, Status4xx, None, give_up(NotRetryable)), // not retryable beats exhausted
            (
                3,
                true,
                default,
                0,
                ServerError,
                None,
                give_up(NotRetryable),
            ),
            (3, true, only_cut, 0, Reset, None, give_up(NotRetryable)),
            (3, true, only_cut, 0, Cut, None, retry(1)),
            // Retry-After: honoured for 429 and 5xx only, capped at max (10 s).
            (3, true, default, 0, Status429, Some(7), retry(7)),
            (3, true, default, 2, Status5xx, Some(0), retry(0)),
            (3, true, default, 0, Status5xx, Some(3_600), retry(10)),
            (3, true, default, 0, Status408, Some(7), retry(1)),
            (3, true, default, 0, Reset, Some(7), retry(1)),
            (3, false, default, 1, Status429, Some(7), retry(2)),
            (3, true, default, 3, Status429, Some(7), give_up(Exhausted)),
        ];
        let mut rng = SmallRng::seed_from_u64(0);
        for (i, (max, honor, set, done, kind, after, want)) in cases.into_iter().enumerate() {
            let p = policy(max, honor, set);
            let got = p.decide(
                done,
                kind,
                after.map(Duration::from_secs),
                Duration::ZERO,
                &mut rng,
            );
            assert_eq!(got, want, "case {i}: {kind} done={done}");
        }
        assert_eq!(GiveUpReason::NotRetryable.as_str(), "not-retryable");
        assert_eq!(GiveUpReason::Exhausted.as_str(), "exhausted");
    }

    #[test]
    fn decide_uses_backoff_jitter_and_prev_delay() {
        let mut p = policy(u32::MAX, true, RetrySet::default_set());
        p.backoff = Backoff::new(SEC, 2.0, 60 * SEC, Jitter::Decorrelated).unwrap();
        let mut rng = SmallRng::seed_from_u64(5);
        let mut prev = Duration::ZERO;
        for done in 0..50 {
            let Decision::Retry { delay } = p.decide(done, Reset, None, prev, &mut rng) else {
                panic!("should retry");
            };
            let hi = if done == 0 {
                3 * SEC
            } else {
                (prev * 3).min(60 * SEC)
            };
            assert!(
                delay >= SEC && delay <= hi,
                "retry {done}: {delay:?} after {prev:?}"
            );
            prev = delay;
        }
        // Huge retry counts do not overflow.
        let d = p.decide(u32::MAX - 1, Reset, None, prev, &mut rng);
        assert!(matches!(d, Decision::Retry { delay } if delay <= 60 * SEC));
    }

    #[test]
    fn retry_after_table() {
        // 1994-11-06T08:49:37Z, the RFC's example date.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let cases = [
            ("120", Some(120)),
            ("0", Some(0)),
            ("  42 ", Some(42)),
            ("007", Some(7)),
            ("99999999999999999999999", Some(u64::MAX)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(0)),
            ("Sun, 06 Nov 1994 08:50:07 GMT", Some(30)),
            ("Sun, 06 Nov 1994 09:49:37 GMT", Some(3_600)),
            ("Sat, 05 Nov 1994 08:49:37 GMT", Some(0)), // in the past
            ("Sunday, 06-Nov-94 08:50:37 GMT", Some(60)), // obsolete RFC 850 form
            ("Sun Nov  6 08:49:47 1994", Some(10)),     // asctime form
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("+3", None),
            ("soon", None),
            ("Sun, 32 Nov 1994 08:49:37 GMT", None),
        ];
        for (value, want) in cases {
            assert_eq!(
                parse_retry_after(value, now),
                want.map(Duration::from_secs),
                "{value:?}"
            );
        }
    }
}
