//! Open model: the sessions waiting for an arrival, and the arrivals
//! waiting for a session.
//!
//! Two things go through here rather than through messages:
//! - A session that finished a stream takes the oldest waiting arrival at
//!   once, on its own thread; with none waiting it posts itself idle. No
//!   message per stream, so nobody's thread is woken for it (a message per
//!   stream cost the supervisor's thread an eventfd wake-up and a context
//!   switch per stream: a fifth of the client's CPU at 20,000 starts/s).
//! - An arrival due while every session is busy waits here, FIFO, for the
//!   first session to finish, while the supervisor opens new sessions for
//!   the waiting ones at a bounded pace ([`spawn_budget`] per wake-up).
//!   Opening a session is a new connection (about 100 µs of client CPU
//!   against 17 µs for a reused stream, and the server's accept): after a
//!   stall of the whole machine (a 16 ms pause puts 480 arrivals due at
//!   once at 30,000/s) one session per overdue arrival meant hundreds of
//!   connections at once, a longer stall, more overdue arrivals, until
//!   `max_sessions` was reached and arrivals were dropped. Latency is still
//!   measured from each arrival's scheduled instant, so the wait is in the
//!   figures.
//!
//! Waiting arrivals count against `max_sessions` like running streams: an
//! arrival is dropped when the sessions alive plus the arrivals already
//! waiting reach it.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// The most new sessions one wake-up of the supervisor opens.
pub(crate) const MAX_SPAWN_BURST: usize = 64;

/// New sessions the supervisor may open in one wake-up (it wakes at least
/// every 0.5 ms while arrivals wait) with `alive` sessions: one, so up to
/// 2,000 a second, until 256 are alive; then one per 256 alive (the pool
/// grows by e every ~128 ms: 100 to 3,000 sessions in about half a second
/// for a slow server), at most [`MAX_SPAWN_BURST`].
///
/// Why so few: a new session's first stream is a new connection, about
/// 100 µs of client CPU against 17 µs for a reused one (and the server's
/// accept). Sixteen per wake-up, tried first, still let a 16 ms pause of
/// the whole machine at 30,000 arrivals/s open 300 sessions in 20 ms, which
/// took more CPU than the client had, and the run ran into `max_sessions`.
pub(crate) fn spawn_budget(alive: u64) -> usize {
    usize::try_from(alive / 256)
        .unwrap_or(MAX_SPAWN_BURST)
        .clamp(1, MAX_SPAWN_BURST)
}

/// Idle sessions (`T`: how to reach one) and waiting arrivals, one lock.
pub(crate) struct OpenPool<T> {
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    /// Most recently idle last: its connection is the likeliest warm.
    idle: Vec<(u64, T)>,
    /// Scheduled instants, oldest first.
    waiting: VecDeque<Instant>,
    closed: bool,
}

/// The supervisor's hold on the pool for one dispatch.
pub(crate) struct PoolGuard<'a, T>(MutexGuard<'a, Inner<T>>);

impl<T> OpenPool<T> {
    /// An empty, open pool.
    pub(crate) fn new() -> OpenPool<T> {
        OpenPool {
            inner: Mutex::new(Inner {
                idle: Vec::new(),
                waiting: VecDeque::new(),
                closed: false,
            }),
        }
    }

    /// Held for one dispatch (a panic while held leaves valid queues).
    pub(crate) fn lock(&self) -> PoolGuard<'_, T> {
        PoolGuard(self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Session `id` finished a stream: the oldest waiting arrival's
    /// scheduled instant to start now, or `None` after posting the session
    /// idle (`me` is called only then; nothing is posted once closed).
    pub(crate) fn next_or_idle(&self, id: u64, me: impl FnOnce() -> T) -> Option<Instant> {
        let mut pool = self.lock();
        if let Some(at) = pool.0.waiting.pop_front() {
            return Some(at);
        }
        if !pool.0.closed {
            pool.0.idle.push((id, me()));
        }
        None
    }

    /// No more arrivals (the run is draining): idle sessions are let go;
    /// returns how many arrivals were still waiting (they never started:
    /// dropped).
    pub(crate) fn close(&self) -> usize {
        let mut pool = self.lock();
        pool.0.closed = true;
        pool.0.idle.clear();
        let waiting = pool.0.waiting.len();
        pool.0.waiting.clear();
        waiting
    }
}

impl<T> PoolGuard<'_, T> {
    /// The most recently idle session for which `alive` holds (one that
    /// stopped while idle is skipped and forgotten).
    pub(crate) fn pop_idle(&mut self, alive: impl Fn(u64) -> bool) -> Option<T> {
        while let Some((id, session)) = self.0.idle.pop() {
            if alive(id) {
                return Some(session);
            }
        }
        None
    }

    /// An arrival scheduled `at` waits for a session.
    pub(crate) fn wait(&mut self, at: Instant) {
        self.0.waiting.push_back(at);
    }

    /// Arrivals waiting.
    pub(crate) fn waiting(&self) -> usize {
        self.0.waiting.len()
    }

    /// The oldest waiting arrival, taken (for a new session).
    pub(crate) fn take_waiting(&mut self) -> Option<Instant> {
        self.0.waiting.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> Instant {
        // One base for the whole test binary, so instants compare.
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    #[test]
    fn one_new_session_per_wake_up_until_256_then_one_per_256_alive() {
        assert_eq!(spawn_budget(0), 1);
        assert_eq!(spawn_budget(255), 1);
        assert_eq!(spawn_budget(256), 1);
        assert_eq!(spawn_budget(511), 1);
        assert_eq!(spawn_budget(512), 2);
        assert_eq!(spawn_budget(4096), 16);
        assert_eq!(spawn_budget(1 << 20), MAX_SPAWN_BURST);
        assert_eq!(spawn_budget(u64::MAX), MAX_SPAWN_BURST);
    }

    #[test]
    fn a_finished_session_takes_the_oldest_waiting_arrival_before_going_idle() {
        let pool = OpenPool::new();
        {
            let mut p = pool.lock();
            p.wait(at(1));
            p.wait(at(2));
        }
        assert_eq!(pool.next_or_idle(7, || "s7"), Some(at(1)));
        assert_eq!(pool.next_or_idle(8, || "s8"), Some(at(2)));
        assert_eq!(pool.next_or_idle(7, || "s7"), None, "nothing waits: idle");
        let mut p = pool.lock();
        assert_eq!(p.pop_idle(|_| true), Some("s7"));
        assert_eq!(p.pop_idle(|_| true), None);
    }

    #[test]
    fn the_most_recently_idle_session_is_used_first_and_stopped_ones_are_skipped() {
        let pool = OpenPool::new();
        for id in 1..=3 {
            assert_eq!(pool.next_or_idle(id, || id), None);
        }
        let mut p = pool.lock();
        assert_eq!(p.pop_idle(|id| id != 3), Some(2), "3 stopped: skipped");
        assert_eq!(p.pop_idle(|_| true), Some(1));
        assert_eq!(p.pop_idle(|_| true), None, "3 is not offered again");
    }

    #[test]
    fn the_session_handle_is_made_only_when_the_session_goes_idle() {
        let pool: OpenPool<u64> = OpenPool::new();
        pool.lock().wait(at(5));
        let mut made = false;
        assert_eq!(
            pool.next_or_idle(1, || {
                made = true;
                1
            }),
            Some(at(5))
        );
        assert!(!made);
    }

    #[test]
    fn new_sessions_take_waiting_arrivals_oldest_first() {
        let pool: OpenPool<()> = OpenPool::new();
        let mut p = pool.lock();
        for ms in [3, 4, 5] {
            p.wait(at(ms));
        }
        assert_eq!(p.waiting(), 3);
        assert_eq!(p.take_waiting(), Some(at(3)));
        assert_eq!(p.take_waiting(), Some(at(4)));
        assert_eq!(p.waiting(), 1);
    }

    #[test]
    fn closing_counts_the_arrivals_that_never_started_and_refuses_idle_posts() {
        let pool = OpenPool::new();
        assert_eq!(pool.next_or_idle(1, || ()), None);
        {
            let mut p = pool.lock();
            p.wait(at(1));
            p.wait(at(2));
        }
        assert_eq!(pool.close(), 2);
        assert_eq!(pool.next_or_idle(2, || ()), None);
        let mut p = pool.lock();
        assert_eq!(p.pop_idle(|_| true), None, "idle sessions let go");
        assert_eq!(p.waiting(), 0);
    }

    #[test]
    fn sessions_on_other_threads_post_and_take_without_loss() {
        let pool = std::sync::Arc::new(OpenPool::new());
        {
            let mut p = pool.lock();
            for ms in 0..200 {
                p.wait(at(ms));
            }
        }
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let pool = std::sync::Arc::clone(&pool);
                std::thread::spawn(move || {
                    let mut took = 0;
                    for i in 0..100 {
                        if pool.next_or_idle(t * 1000 + i, || ()).is_some() {
                            took += 1;
                        }
                    }
                    took
                })
            })
            .collect();
        let took: usize = workers.into_iter().map(|w| w.join().unwrap_or(0)).sum();
        assert_eq!(took, 200, "every waiting arrival taken once");
        let mut p = pool.lock();
        let mut idle = 0;
        while p.pop_idle(|_| true).is_some() {
            idle += 1;
        }
        assert_eq!(idle, 200, "the other finishes went idle");
    }
}
