//! Which arbiter a new session goes to (issue #12, point 3: using every core
//! must cost no more per event than using one).
//!
//! Spreading sessions round-robin puts every load on every core: a light
//! load then wakes each thread for a few events at a time (twice the
//! wake-ups and system calls per event on two cores) and lands threads
//! beside the server under test. Instead sessions **fill the first arbiter
//! until it is busy, then the next**: a light load stays on one busy thread
//! (what a pinned client costs), a heavy one still spreads over every core.
//!
//! Pure: each arbiter measures its own busy share (its thread's CPU time
//! over wall time, every [`SAMPLE_EVERY`]) and publishes a [`Sample`] of
//! its busiest window in the last second ([`PeakWindow`]): a thread that is
//! saturated for 80 ms of every second (a broadcast fanned out to
//! thousands of subscribers) is full, though its average is low, because
//! what it delays is exactly what is measured. [`Placement::place`] decides
//! from the latest samples and from what it placed since each was taken:
//! - an arbiter's predicted share is its measured share plus, per session
//!   placed since, its measured share per session;
//! - the first arbiter predicted under [`FILL`] takes the session, unless
//!   it already took [`BURST`] (or as many as it had, if more) since its
//!   last sample: a burst of sessions arriving before anything is measured
//!   spreads instead of piling onto one thread;
//! - when every arbiter is full or at its burst limit, the least loaded
//!   takes it (predicted share, then sessions).
//!
//! ```
//! use streamsoak::load::placement::{Placement, Sample};
//! let mut placement = Placement::new(2);
//! // Arbiter 0 is at 20 % with 10 sessions, arbiter 1 idle: fill arbiter 0.
//! let samples = [Sample { seq: 1, busy: 0.2, sessions: 10 }, Sample { seq: 1, busy: 0.0, sessions: 0 }];
//! assert_eq!(placement.place(|i| samples[i]), 0);
//! // Arbiter 0 is busy: the next sessions go to arbiter 1.
//! let samples = [Sample { seq: 2, busy: 0.9, sessions: 40 }, Sample { seq: 2, busy: 0.0, sessions: 0 }];
//! assert_eq!(placement.place(|i| samples[i]), 1);
//! ```

use std::time::Duration;

/// The busy share at which an arbiter counts as full.
pub const FILL: f64 = 0.6;
/// Sessions an arbiter may take between two of its samples (or as many as
/// it had at the last one, if more).
pub const BURST: u32 = 16;
/// How often each arbiter measures its busy share.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// Windows of [`SAMPLE_EVERY`] a [`PeakWindow`] looks back over (1 s).
pub const PEAK_WINDOWS: usize = 20;

/// The busiest of the last [`PEAK_WINDOWS`] busy shares.
#[derive(Clone, Debug, Default)]
pub struct PeakWindow {
    shares: [f64; PEAK_WINDOWS],
    next: usize,
}

impl PeakWindow {
    /// Adds the latest window's share; returns the busiest one kept.
    pub fn push(&mut self, share: f64) -> f64 {
        self.shares[self.next] = share;
        self.next = (self.next + 1) % PEAK_WINDOWS;
        self.shares.iter().copied().fold(0.0, f64::max)
    }
}

/// What an arbiter last measured of itself.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Sample number: a new one resets what was placed since.
    pub seq: u32,
    /// CPU time over wall time since its previous sample (0.0 ..= 1.0).
    pub busy: f64,
    /// Live sessions on it when measured.
    pub sessions: u32,
}

/// The placement of sessions over a run's arbiters.
#[derive(Clone, Debug)]
pub struct Placement {
    slots: Vec<Slot>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    last: Sample,
    /// Sessions placed since `last` was taken.
    placed: u32,
}

impl Slot {
    fn predicted(&self) -> f64 {
        let per_session = match self.last.sessions {
            0 => 0.0,
            n => self.last.busy / f64::from(n),
        };
        self.last.busy + per_session * f64::from(self.placed)
    }

    fn at_burst_limit(&self) -> bool {
        self.placed >= BURST.max(self.last.sessions)
    }
}

impl Placement {
    /// A placement over `arbiters` arbiters (at least one).
    pub fn new(arbiters: usize) -> Placement {
        Placement {
            slots: vec![Slot::default(); arbiters.max(1)],
        }
    }

    /// The arbiter (index) for a new session; `sample(i)` is arbiter `i`'s
    /// latest sample.
    pub fn place(&mut self, sample: impl Fn(usize) -> Sample) -> usize {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let now = sample(i);
            if now.seq != slot.last.seq {
                *slot = Slot {
                    last: now,
                    placed: 0,
                };
            }
        }
        let chosen = self
            .slots
            .iter()
            .position(|slot| slot.predicted() < FILL && !slot.at_burst_limit())
            .unwrap_or_else(|| self.least_loaded());
        self.slots[chosen].placed += 1;
        chosen
    }

    fn least_loaded(&self) -> usize {
        let load = |slot: &Slot| (slot.predicted(), slot.last.sessions + slot.placed);
        let mut best = 0;
        for (i, slot) in self.slots.iter().enumerate().skip(1) {
            let (share, sessions) = load(slot);
            let (best_share, best_sessions) = load(&self.slots[best]);
            if share < best_share || (share == best_share && sessions < best_sessions) {
                best = i;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seq: u32, busy: f64, sessions: u32) -> Sample {
        Sample {
            seq,
            busy,
            sessions,
        }
    }

    /// Places `n` sessions with fixed samples; returns how many each got.
    fn place_n(placement: &mut Placement, samples: &[Sample], n: usize) -> Vec<usize> {
        let mut got = vec![0; samples.len()];
        for _ in 0..n {
            got[placement.place(|i| samples[i])] += 1;
        }
        got
    }

    #[test]
    fn a_light_load_stays_on_the_first_arbiter() {
        let mut p = Placement::new(2);
        // 100 sessions at 13 % (a paced load): one arbiter is plenty.
        for seq in 1..=20 {
            let samples = [sample(seq, 0.13, 100), sample(seq, 0.0, 0)];
            assert_eq!(place_n(&mut p, &samples, 5), [5, 0], "sample {seq}");
        }
    }

    #[test]
    fn sessions_spill_once_the_first_is_predicted_full() {
        let mut p = Placement::new(2);
        // 10 sessions make 50 %: 5 % each, so two more reach FILL.
        let samples = [sample(1, 0.5, 10), sample(1, 0.0, 0)];
        assert_eq!(place_n(&mut p, &samples, 2), [2, 0]);
        assert_eq!(place_n(&mut p, &samples, 3), [0, 3]);
    }

    #[test]
    fn a_burst_before_any_sample_is_spread() {
        let mut p = Placement::new(2);
        let nothing = [Sample::default(), Sample::default()];
        let got = place_n(&mut p, &nothing, 1000);
        assert_eq!(got[0] + got[1], 1000);
        assert!(got[0].abs_diff(got[1]) <= 1, "{got:?}");
    }

    #[test]
    fn the_burst_limit_grows_with_what_an_arbiter_holds() {
        let mut p = Placement::new(2);
        // 40 idle sessions (0 % busy): up to 40 more before the next sample.
        let samples = [sample(1, 0.0, 40), sample(1, 0.0, 0)];
        assert_eq!(place_n(&mut p, &samples, 40), [40, 0]);
        assert_eq!(p.place(|i| samples[i]), 1);
        // A new sample resets the count.
        let samples = [sample(2, 0.01, 80), sample(2, 0.0, 1)];
        assert_eq!(place_n(&mut p, &samples, 10), [10, 0]);
    }

    #[test]
    fn when_all_are_full_the_least_loaded_takes_it() {
        let mut p = Placement::new(3);
        let samples = [sample(1, 0.9, 50), sample(1, 0.7, 50), sample(1, 0.8, 10)];
        assert_eq!(p.place(|i| samples[i]), 1);
        // Equal shares: fewer sessions wins.
        let mut p = Placement::new(2);
        let samples = [sample(1, 0.9, 50), sample(1, 0.9, 20)];
        assert_eq!(p.place(|i| samples[i]), 1);
    }

    #[test]
    fn saturated_arbiters_share_new_sessions_by_prediction() {
        let mut p = Placement::new(2);
        // Both full; each session adds 1 %: they alternate as predictions grow.
        let samples = [sample(1, 0.95, 95), sample(1, 0.95, 95)];
        let got = place_n(&mut p, &samples, 20);
        assert_eq!(got, [10, 10]);
    }

    #[test]
    fn the_peak_window_remembers_a_burst_for_a_second() {
        let mut peak = PeakWindow::default();
        assert_eq!(peak.push(0.05), 0.05);
        assert_eq!(peak.push(0.9), 0.9, "a burst");
        for i in 0..PEAK_WINDOWS - 1 {
            assert_eq!(peak.push(0.05), 0.9, "window {i} after the burst");
        }
        assert_eq!(peak.push(0.1), 0.1, "the burst is older than the window");
    }

    #[test]
    fn one_arbiter_takes_everything() {
        let mut p = Placement::new(1);
        let samples = [sample(1, 1.0, 1000)];
        assert_eq!(place_n(&mut p, &samples, 50), [50]);
        let mut p = Placement::new(0);
        assert_eq!(p.place(|_| Sample::default()), 0);
    }
}
