//! Each arbiter's busy share, published for the supervisor's
//! [`Placement`](crate::load::placement::Placement) (issue #12).
//!
//! Every arbiter runs [`measure`]: every
//! [`SAMPLE_EVERY`](crate::load::placement::SAMPLE_EVERY) it reads its
//! thread's CPU time and its live sessions (the thread's `active_sessions`
//! gauge) and stores its busiest recent share and the sessions in its cell;
//! the supervisor reads the cells when it places a session. Three atomic
//! stores twenty times a second per arbiter: nothing crosses threads per
//! event or per session.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::engine::local;
use crate::load::placement::{PeakWindow, Sample, SAMPLE_EVERY};

/// One cell per arbiter.
#[derive(Debug)]
pub(crate) struct BusyCells {
    cells: Box<[Cell]>,
}

#[derive(Debug, Default)]
struct Cell {
    seq: AtomicU32,
    /// Busy share in millionths.
    busy_ppm: AtomicU32,
    sessions: AtomicU32,
}

impl BusyCells {
    pub(crate) fn new(arbiters: usize) -> Arc<BusyCells> {
        let cells = (0..arbiters).map(|_| Cell::default()).collect();
        Arc::new(BusyCells { cells })
    }

    /// Arbiter `i`'s latest sample (all zero before its first).
    pub(crate) fn sample(&self, i: usize) -> Sample {
        self.cells
            .get(i)
            .map_or_else(Sample::default, |cell| Sample {
                // Relaxed: a torn read (a new share beside an old count) only
                // skews one placement, and the next sample corrects it.
                seq: cell.seq.load(Relaxed),
                busy: f64::from(cell.busy_ppm.load(Relaxed)) / 1e6,
                sessions: cell.sessions.load(Relaxed),
            })
    }

    fn publish(&self, i: usize, busy: f64, sessions: u64) {
        if let Some(cell) = self.cells.get(i) {
            cell.busy_ppm
                .store((busy.clamp(0.0, 1.0) * 1e6) as u32, Relaxed);
            cell.sessions
                .store(u32::try_from(sessions).unwrap_or(u32::MAX), Relaxed);
            cell.seq.fetch_add(1, Relaxed);
        }
    }
}

/// Runs on arbiter `i` until the run lets go of `cells` (the supervisor
/// holds the only strong reference) or the arbiter stops and drops the task.
pub(crate) async fn measure(cells: Weak<BusyCells>, i: usize) {
    let Some(mut cpu_then) = thread_cpu() else {
        log::debug!("no thread CPU clock: sessions are spread without measuring");
        return;
    };
    let mut tick = actix_rt::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut then = Instant::now();
    let mut peak = PeakWindow::default();
    loop {
        tick.tick().await;
        let (Some(cells), now, Some(cpu)) = (cells.upgrade(), Instant::now(), thread_cpu()) else {
            return;
        };
        let wall = now.duration_since(then).as_secs_f64();
        if wall > 0.0 {
            let busy = cpu.saturating_sub(cpu_then).as_secs_f64() / wall;
            let sessions = local::delta().borrow().active_sessions;
            cells.publish(i, peak.push(busy), sessions);
        }
        (then, cpu_then) = (now, cpu);
    }
}

/// This thread's CPU time (user + system).
#[cfg(target_os = "linux")]
fn thread_cpu() -> Option<Duration> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .ok()
        .map(Duration::from)
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_publish_what_arbiters_measured() {
        let cells = BusyCells::new(2);
        assert_eq!(cells.sample(0), Sample::default());
        cells.publish(1, 0.25, 12);
        cells.publish(1, 1.5, 13);
        assert_eq!(
            cells.sample(1),
            Sample {
                seq: 2,
                busy: 1.0,
                sessions: 13
            }
        );
        assert_eq!(cells.sample(7), Sample::default(), "no such arbiter");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_thread_cpu_clock_counts_this_threads_work() {
        let before = thread_cpu().expect("thread CPU clock");
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        let spent = thread_cpu().expect("thread CPU clock") - before;
        assert!(
            spent > Duration::from_millis(1),
            "{spent:?} for 20 ms of spinning"
        );
    }
}
