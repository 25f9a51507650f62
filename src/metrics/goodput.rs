//! `[slo]` and goodput: whether a wanted LLM stream was a good one.
//!
//! A wanted stream is *good* when it completed and met every SLO given:
//! its time to first token (from the wanted stream's start, so retries,
//! backoff and the open model's lateness count against it: that is what
//! the user waited) and its time per output token (of the attempt that
//! completed). `goodput` is good streams over finished ones (ok + failed),
//! the denominator of `success_rate`, so with no SLO it equals it.
//!
//! Why a completed stream without any content fails a `ttft` SLO: it never
//! produced a first token. Why a stream of one token meets any `tpot` SLO:
//! it has no time between tokens to be slow in.

use std::time::Duration;

/// `[slo]`: what a good stream is. Both unset: every completed stream is good.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slo {
    /// Longest time to first token.
    pub ttft: Option<Duration>,
    /// Longest time per output token (after the first).
    pub tpot: Option<Duration>,
}

impl Slo {
    /// Whether a completed stream with this time to first token (`None`:
    /// no content came) and time per output token (`None`: fewer than two
    /// tokens) meets every SLO. Limits are inclusive.
    pub fn met(&self, ttft: Option<Duration>, tpot: Option<Duration>) -> bool {
        let ttft_ok = match (self.ttft, ttft) {
            (None, _) => true,
            (Some(limit), Some(value)) => value <= limit,
            (Some(_), None) => false,
        };
        let tpot_ok = match (self.tpot, tpot) {
            (Some(limit), Some(value)) => value <= limit,
            (None, _) | (_, None) => true,
        };
        ttft_ok && tpot_ok
    }

    /// True when no SLO is set.
    pub fn is_empty(&self) -> bool {
        self.ttft.is_none() && self.tpot.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn met() {
        let ms = |n| Some(Duration::from_millis(n));
        let both = Slo {
            ttft: ms(500),
            tpot: ms(50),
        };
        let ttft_only = Slo {
            ttft: ms(500),
            tpot: None,
        };
        let tpot_only = Slo {
            ttft: None,
            tpot: ms(50),
        };
        let none = Slo::default();
        let cases = [
            (both, ms(500), ms(50), true),
            (both, ms(501), ms(10), false),
            (both, ms(10), ms(51), false),
            (both, None, ms(10), false),
            (both, ms(10), None, true),
            (ttft_only, ms(100), ms(10_000), true),
            (ttft_only, None, None, false),
            (tpot_only, None, None, true),
            (tpot_only, ms(60_000), ms(49), true),
            (none, None, None, true),
        ];
        for (slo, ttft, tpot, want) in cases {
            assert_eq!(slo.met(ttft, tpot), want, "{slo:?} {ttft:?} {tpot:?}");
        }
        assert!(none.is_empty() && !both.is_empty());
    }
}
