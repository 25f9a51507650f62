//! The fault schedule: which fault is active when, as pure data.
//!
//! [`FaultKind`] is the whole vocabulary of `[[faults]]` (the scenario loader
//! validates into it): the proxy's faults, [`ProxyFault`], written once and
//! wrapped as [`FaultKind::Proxy`], plus the kinds that act on the target
//! itself (`shutdown`, `exec`). A
//! [`FaultPlan`] owns no clock. Times are [`Duration`]s since the start of
//! the run, and the caller asks "what is active at `t`?" ([`FaultPlan::active_at`])
//! and "when does that next change?" ([`FaultPlan::next_change_after`]), then
//! sets a timer for the answer itself. That keeps the schedule testable
//! without a runtime and lets the engine drive it from its own tick.
//!
//! [`FaultSchedule`] is the plan plus which windows are open: the engine's
//! supervisor calls [`FaultSchedule::advance`] with the run time whenever
//! [`FaultSchedule::next_change_after`] said something changes, and applies
//! the [`FaultChange`]s it returns; nothing else keeps fault time.
//!
//! Windows are half-open, `[at, at + duration)`: a fault that starts at
//! 2 min and lasts 30 s is active at 2 min and no longer at 2 min 30 s, so
//! back-to-back windows do not overlap. A zero-length window is never active
//! and never overlaps anything.

use std::time::Duration;

use thiserror::Error;

/// One fault the built-in TCP proxy can apply (`kind = "refuse"`,
/// `"reset"`, `"stall"`, `"latency"`, `"status"`); see the `faults` module
/// doc for what each does on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyFault {
    /// Connections are refused: new connections are refused (the listener
    /// is closed for the window) and an open connection is dropped (RST)
    /// when a new request arrives on it; streams in flight continue.
    Refuse,
    /// Connections are reset mid-stream: open connections are reset (RST)
    /// and new ones are reset on accept.
    Reset,
    /// Streams stop sending: no bytes flow in either direction; connections
    /// stay open.
    Stall,
    /// Each chunk from the target to the client is delayed by this much
    /// (`latency = "300ms"`, required).
    Latency(Duration),
    /// New requests, on new connections and on open ones, get this HTTP
    /// status from the proxy itself (then the connection is closed); streams
    /// in flight continue.
    Status {
        /// The HTTP status code (`status`, default 503; 400..=599).
        status: u16,
        /// `retry_after`: sent as `Retry-After: <whole seconds, rounded up>`
        /// when set.
        retry_after: Option<Duration>,
    },
}

impl ProxyFault {
    /// The scenario's spelling of the kind (`kind = "..."`), as written in
    /// `faults.csv`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProxyFault::Refuse => "refuse",
            ProxyFault::Reset => "reset",
            ProxyFault::Stall => "stall",
            ProxyFault::Latency(_) => "latency",
            ProxyFault::Status { .. } => "status",
        }
    }
}

/// What a `[[faults]]` entry does (`kind = "..."`): a proxy fault, or one
/// of the kinds that act on the target itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Embedded target: the server stops (listener closed, streams cut) and
    /// listens again after `for`. External target: the proxy resets every
    /// connection, then refuses new ones.
    Shutdown,
    /// Applied by the built-in fault proxy.
    Proxy(ProxyFault),
    /// Runs shell command `start` at `at` and `end` (may be empty) after `for`.
    Exec {
        /// Command run at the fault's start.
        start: String,
        /// Command run at its end; empty = none.
        end: String,
    },
}

impl FaultKind {
    /// One fault of each kind, with placeholder settings; their
    /// [`name`](FaultKind::name)s are the valid `kind` spellings.
    pub const EACH: [FaultKind; 7] = [
        FaultKind::Shutdown,
        FaultKind::Proxy(ProxyFault::Refuse),
        FaultKind::Proxy(ProxyFault::Reset),
        FaultKind::Proxy(ProxyFault::Stall),
        FaultKind::Proxy(ProxyFault::Latency(Duration::ZERO)),
        FaultKind::Proxy(ProxyFault::Status {
            status: 503,
            retry_after: None,
        }),
        FaultKind::Exec {
            start: String::new(),
            end: String::new(),
        },
    ];

    /// The `kind` spelling (also the `kind` column of `faults.csv`).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Shutdown => "shutdown",
            FaultKind::Proxy(fault) => fault.as_str(),
            FaultKind::Exec { .. } => "exec",
        }
    }

    /// What the proxy does for this kind, when the proxy applies it
    /// (`shutdown` and `exec` act on the target itself).
    pub fn proxy_fault(&self) -> Option<ProxyFault> {
        match self {
            FaultKind::Proxy(fault) => Some(*fault),
            FaultKind::Shutdown | FaultKind::Exec { .. } => None,
        }
    }

    /// Whether the fault is applied by the built-in fault proxy.
    pub fn needs_proxy(&self) -> bool {
        self.proxy_fault().is_some()
    }
}

/// One scheduled fault (a validated `[[faults]]` entry): `kind` is active
/// during `[at, at + duration)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultWindow {
    /// Position of the fault in the scenario's `[[faults]]` list (the
    /// `fault` column of `faults.csv` is `index + 1`).
    pub index: usize,
    /// Start, from the start of the run.
    pub at: Duration,
    /// Length of the window (key `for`).
    pub duration: Duration,
    /// What happens during the window.
    pub kind: FaultKind,
    /// Line of the `[[faults]]` header in the scenario file (0: from `--set`).
    pub line: usize,
}

impl FaultWindow {
    /// First instant after the window (`at + duration`, saturating).
    pub fn end(&self) -> Duration {
        self.at.saturating_add(self.duration)
    }

    /// Whether `t` is inside `[at, end)`.
    pub fn contains(&self, t: Duration) -> bool {
        self.at <= t && t < self.end()
    }

    /// Whether the two windows share an instant. Zero-length windows
    /// overlap nothing.
    pub fn overlaps(&self, other: &FaultWindow) -> bool {
        !self.duration.is_zero()
            && !other.duration.is_zero()
            && self.at < other.end()
            && other.at < self.end()
    }
}

/// Two windows that share an instant. The rule is one fault at a time: a
/// proxy applies one fault at a time, and a shutdown composed with a proxy
/// fault or a command has no single meaning, so the scenario loader refuses
/// overlaps. Fix by moving or shortening one of the two faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("fault {first} overlaps fault {second} (from {at:?})")]
pub struct OverlapError {
    /// Index of the window that starts first.
    pub first: usize,
    /// Index of the window that starts inside it.
    pub second: usize,
    /// Where the overlap begins, from the start of the run.
    pub at: Duration,
}

/// The schedule of faults for one run, sorted by start.
///
/// ```
/// use std::time::Duration;
/// use streamsoak::faults::{FaultKind, FaultPlan, FaultWindow, ProxyFault};
///
/// let secs = Duration::from_secs;
/// let plan = FaultPlan::new(vec![FaultWindow {
///     index: 0,
///     at: secs(120),
///     duration: secs(30),
///     kind: FaultKind::Proxy(ProxyFault::Refuse),
///     line: 0,
/// }]);
/// let now = |t| plan.active_at(secs(t)).next().map(|w| w.kind.name());
/// assert_eq!(now(119), None);
/// assert_eq!(now(130), Some("refuse"));
/// assert_eq!(plan.next_change_after(secs(130)), Some(secs(150)));
/// assert_eq!(now(150), None);
/// assert_eq!(plan.next_change_after(secs(150)), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    windows: Vec<FaultWindow>,
}

impl FaultPlan {
    /// A plan of these windows, sorted by start then index. Overlaps are
    /// allowed here (see [`FaultPlan::ensure_disjoint`] to reject them).
    pub fn new(mut windows: Vec<FaultWindow>) -> Self {
        windows.sort_by_key(|w| (w.at, w.index));
        FaultPlan { windows }
    }

    /// The windows, sorted by start.
    pub fn windows(&self) -> &[FaultWindow] {
        &self.windows
    }

    /// The windows in `[[faults]]` order (by index), as reports list them.
    pub fn in_file_order(&self) -> Vec<&FaultWindow> {
        let mut out: Vec<&FaultWindow> = self.windows.iter().collect();
        out.sort_by_key(|w| w.index);
        out
    }

    /// How many windows.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether the plan has no window.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Whether any window is applied through the fault proxy, or is a
    /// `shutdown` (which the proxy applies for an external target).
    pub fn any(&self, f: impl Fn(&FaultKind) -> bool) -> bool {
        self.windows.iter().any(|w| f(&w.kind))
    }

    /// The windows active at `t`, in start order.
    pub fn active_at(&self, t: Duration) -> impl Iterator<Item = &FaultWindow> + '_ {
        self.windows.iter().filter(move |w| w.contains(t))
    }

    /// The first boundary (a window's start or end) strictly after `t`, i.e.
    /// when [`FaultPlan::active_at`] may next give a different answer; `None`
    /// once nothing is left to change. Zero-length windows are skipped.
    pub fn next_change_after(&self, t: Duration) -> Option<Duration> {
        self.windows
            .iter()
            .filter(|w| !w.duration.is_zero())
            .flat_map(|w| [w.at, w.end()])
            .filter(|&b| b > t)
            .min()
    }

    /// Every pair of overlapping windows, each pair in start order. Empty for
    /// a plan one proxy can apply.
    pub fn overlapping(&self) -> Vec<(&FaultWindow, &FaultWindow)> {
        let mut pairs = Vec::new();
        for (i, a) in self.windows.iter().enumerate() {
            for b in &self.windows[i + 1..] {
                if a.overlaps(b) {
                    pairs.push((a, b));
                }
            }
        }
        pairs
    }

    /// `Ok` if no two windows overlap, else the first overlapping pair.
    pub fn ensure_disjoint(&self) -> Result<(), OverlapError> {
        match self.overlapping().first() {
            None => Ok(()),
            Some((a, b)) => Err(OverlapError {
                first: a.index,
                second: b.index,
                at: b.at,
            }),
        }
    }
}

/// A window opening or closing, as [`FaultSchedule::advance`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultChange {
    /// Window `index` opened.
    Started(usize),
    /// Window `index` closed.
    Ended(usize),
}

/// A [`FaultPlan`] being run: which windows are open. Pure (the caller
/// passes the run time in), in the breaker's shape: `advance(t)` applies
/// what is due, `next_change_after(t)` says when to call it again.
#[derive(Debug, Clone)]
pub struct FaultSchedule {
    plan: FaultPlan,
    /// Open windows, by position in `plan.windows()`.
    open: Vec<bool>,
    /// Windows that opened once (a window opens at most once).
    done: Vec<bool>,
}

impl FaultSchedule {
    /// The schedule of `plan`, nothing open yet.
    pub fn new(plan: FaultPlan) -> FaultSchedule {
        let n = plan.len();
        FaultSchedule {
            plan,
            open: vec![false; n],
            done: vec![false; n],
        }
    }

    /// The plan.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// The changes due at run time `t`: windows that ended (first) and
    /// windows that started since the last call, each once. A window whose
    /// whole span passed between two calls starts and ends in the same answer.
    pub fn advance(&mut self, t: Duration) -> Vec<FaultChange> {
        let mut ended = Vec::new();
        let mut started = Vec::new();
        for (i, w) in self.plan.windows.iter().enumerate() {
            if self.open[i] && t >= w.end() {
                self.open[i] = false;
                ended.push(FaultChange::Ended(w.index));
            } else if !self.done[i] && t >= w.at && !w.duration.is_zero() {
                self.done[i] = true;
                started.push(FaultChange::Started(w.index));
                if t >= w.end() {
                    started.push(FaultChange::Ended(w.index));
                } else {
                    self.open[i] = true;
                }
            }
        }
        ended.extend(started);
        ended
    }

    /// When [`FaultSchedule::advance`] next has something to say, after `t`.
    pub fn next_change_after(&self, t: Duration) -> Option<Duration> {
        self.plan.next_change_after(t)
    }

    /// Closes every open window (the run is over): their `Ended` changes.
    pub fn end_all(&mut self) -> Vec<FaultChange> {
        let mut out = Vec::new();
        for (i, w) in self.plan.windows.iter().enumerate() {
            if std::mem::take(&mut self.open[i]) {
                out.push(FaultChange::Ended(w.index));
            }
            self.done[i] = true;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn window(index: usize, at: u64, len: u64, kind: FaultKind) -> FaultWindow {
        FaultWindow {
            index,
            at: s(at),
            duration: s(len),
            kind,
            line: 0,
        }
    }

    /// refuse [10, 20), stall [20, 25), latency [40, 70), empty status at 50.
    fn plan() -> FaultPlan {
        FaultPlan::new(vec![
            window(
                2,
                40,
                30,
                FaultKind::Proxy(ProxyFault::Latency(Duration::from_millis(300))),
            ),
            window(0, 10, 10, FaultKind::Proxy(ProxyFault::Refuse)),
            window(1, 20, 5, FaultKind::Proxy(ProxyFault::Stall)),
            window(
                3,
                50,
                0,
                FaultKind::Proxy(ProxyFault::Status {
                    status: 503,
                    retry_after: None,
                }),
            ),
        ])
    }

    #[test]
    fn new_sorts_by_start() {
        let starts: Vec<u64> = plan().windows().iter().map(|w| w.at.as_secs()).collect();
        assert_eq!(starts, [10, 20, 40, 50]);
    }

    #[test]
    fn active_at_uses_half_open_windows() {
        let plan = plan();
        let cases: &[(u64, &[usize])] = &[
            (0, &[]),
            (9, &[]),
            (10, &[0]),
            (19, &[0]),
            (20, &[1]),
            (24, &[1]),
            (25, &[]),
            (40, &[2]),
            (50, &[2]),
            (69, &[2]),
            (70, &[]),
            (1000, &[]),
        ];
        for &(t, want) in cases {
            let got: Vec<usize> = plan.active_at(s(t)).map(|w| w.index).collect();
            assert_eq!(got, want, "t = {t}s");
        }
    }

    #[test]
    fn active_at_sub_second_edges() {
        let plan = plan();
        let just_before = s(20) - Duration::from_nanos(1);
        assert_eq!(plan.active_at(just_before).next().map(|w| w.index), Some(0));
        assert_eq!(plan.active_at(s(20)).next().map(|w| w.index), Some(1));
    }

    #[test]
    fn next_change_after_walks_every_boundary() {
        let plan = plan();
        let cases: &[(u64, Option<u64>)] = &[
            (0, Some(10)),
            (10, Some(20)),
            (15, Some(20)),
            (20, Some(25)),
            (25, Some(40)),
            (40, Some(70)),
            (50, Some(70)),
            (70, None),
            (500, None),
        ];
        for &(t, want) in cases {
            assert_eq!(plan.next_change_after(s(t)), want.map(s), "t = {t}s");
        }
    }

    #[test]
    fn empty_plan_never_changes() {
        let plan = FaultPlan::default();
        assert!(plan.is_empty());
        assert_eq!(plan.active_at(s(0)).count(), 0);
        assert_eq!(plan.next_change_after(s(0)), None);
        assert!(plan.overlapping().is_empty());
        assert_eq!(plan.ensure_disjoint(), Ok(()));
    }

    #[test]
    fn overlapping_pairs() {
        /// Windows as (at, len) in seconds, indexed by position.
        type Spec = &'static [(u64, u64)];
        /// Expected overlapping pairs of indices.
        type Pairs = &'static [(usize, usize)];
        let r = FaultKind::Proxy(ProxyFault::Reset);
        let cases: &[(Spec, Pairs)] = &[
            (&[(0, 10), (10, 10)], &[]),
            (&[(0, 10), (9, 10)], &[(0, 1)]),
            (&[(0, 100), (10, 5), (20, 5)], &[(0, 1), (0, 2)]),
            (&[(5, 10), (5, 10)], &[(0, 1)]),
            (&[(0, 10), (5, 0)], &[]),
            (&[(20, 10), (0, 25)], &[(1, 0)]),
        ];
        for &(spec, want) in cases {
            let plan = FaultPlan::new(
                spec.iter()
                    .enumerate()
                    .map(|(i, &(at, len))| window(i, at, len, r.clone()))
                    .collect(),
            );
            let got: Vec<(usize, usize)> = plan
                .overlapping()
                .into_iter()
                .map(|(a, b)| (a.index, b.index))
                .collect();
            assert_eq!(got, want, "{spec:?}");
            assert_eq!(plan.ensure_disjoint().is_ok(), want.is_empty(), "{spec:?}");
        }
    }

    #[test]
    fn ensure_disjoint_names_the_first_pair() {
        let plan = FaultPlan::new(vec![
            window(0, 0, 30, FaultKind::Proxy(ProxyFault::Stall)),
            window(1, 20, 30, FaultKind::Proxy(ProxyFault::Refuse)),
        ]);
        let err = plan.ensure_disjoint().expect_err("windows overlap");
        assert_eq!(
            err,
            OverlapError {
                first: 0,
                second: 1,
                at: s(20)
            }
        );
        assert_eq!(err.to_string(), "fault 0 overlaps fault 1 (from 20s)");
    }

    #[test]
    fn end_saturates() {
        let w = FaultWindow {
            index: 0,
            at: s(10),
            duration: Duration::MAX,
            kind: FaultKind::Proxy(ProxyFault::Stall),
            line: 0,
        };
        assert_eq!(w.end(), Duration::MAX);
        assert!(w.contains(s(1_000_000)));
    }

    #[test]
    fn kind_names() {
        let cases = [
            (ProxyFault::Refuse, "refuse"),
            (ProxyFault::Reset, "reset"),
            (ProxyFault::Stall, "stall"),
            (ProxyFault::Latency(s(1)), "latency"),
            (
                ProxyFault::Status {
                    status: 503,
                    retry_after: Some(s(1)),
                },
                "status",
            ),
        ];
        for (fault, name) in cases {
            assert_eq!(fault.as_str(), name);
        }
    }

    #[test]
    fn kinds_map_to_proxy_faults() {
        for kind in FaultKind::EACH {
            let proxied = kind.proxy_fault();
            assert_eq!(proxied.is_some(), kind.needs_proxy(), "{}", kind.name());
            if let Some(p) = proxied {
                assert_eq!(p.as_str(), kind.name());
            }
        }
        assert!(!FaultKind::Shutdown.needs_proxy());
        assert_eq!(
            FaultKind::Proxy(ProxyFault::Latency(s(2))).proxy_fault(),
            Some(ProxyFault::Latency(s(2)))
        );
    }

    #[test]
    fn schedule_opens_and_closes_each_window_once() {
        use FaultChange::{Ended, Started};
        // refuse [10, 20), stall [20, 25), latency [40, 70); status at 50 has no length.
        let mut schedule = FaultSchedule::new(plan());
        let steps: &[(u64, &[FaultChange])] = &[
            (0, &[]),
            (10, &[Started(0)]),
            (15, &[]),
            (20, &[Ended(0), Started(1)]),
            (25, &[Ended(1)]),
            (39, &[]),
            (40, &[Started(2)]),
            (50, &[]),
            (70, &[Ended(2)]),
            (80, &[]),
        ];
        for &(t, want) in steps {
            assert_eq!(schedule.advance(s(t)), want, "t = {t}s");
        }
        assert_eq!(schedule.end_all(), []);
    }

    #[test]
    fn schedule_catches_up_on_a_late_call_and_end_all_closes_open_windows() {
        use FaultChange::{Ended, Started};
        let mut schedule = FaultSchedule::new(plan());
        // Called late: refuse and stall both passed; latency is open.
        assert_eq!(
            schedule.advance(s(45)),
            [Started(0), Ended(0), Started(1), Ended(1), Started(2)]
        );
        assert_eq!(schedule.next_change_after(s(45)), Some(s(70)));
        assert_eq!(schedule.end_all(), [Ended(2)]);
        assert_eq!(schedule.advance(s(100)), [], "nothing opens after end_all");
    }
}
