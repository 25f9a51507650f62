//! [`Gated`]: a future polled only after its own waker fired.
//!
//! The attempt waits on cancellation next to the body stream in a
//! `select!`; this keeps that wait from costing a contended lock per event.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// Counts the wake-ups of every gate in the process: bumped by a gate's
/// waker after it marks the gate fired and before it wakes the gate's task.
/// A task that finds it unchanged since its last look knows its gate did not
/// fire without touching the gate, whose own flag is a cold cache line by the
/// time the next event arrives (issue #12: this one shared word stays cached).
static WAKES: AtomicU64 = AtomicU64::new(0);

/// A future polled only after its own waker fired (and once to start).
///
/// Why: `select!` polls every branch each time the task wakes — once or
/// twice per event. A pending `Cancel::cancelled` (a `watch` wait) takes the
/// channel's mutex on every poll, and that channel is shared by every session
/// on every arbiter: a contended lock per event. Behind the gate the wait
/// registers once per attempt; later polls cost an uncontended atomic swap
/// and an [`AtomicWaker::register`] (measured in BENCHMARKS.md).
pub(crate) struct Gated<F> {
    inner: Pin<Box<F>>,
    wake: Arc<GateWake>,
    /// The waker last registered, while it is still registered: polls by the
    /// same task skip [`AtomicWaker::register`] (two atomic exchanges).
    registered: Option<Waker>,
    /// [`WAKES`] when [`Gated::poll_if_woken`] last looked.
    seen: u64,
}

struct GateWake {
    /// The inner future asked to be polled (true at first, to register it).
    fired: AtomicBool,
    /// The task polling the gate.
    task: AtomicWaker,
}

impl Wake for GateWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        WAKES.fetch_add(1, Ordering::AcqRel);
        self.task.wake();
    }
}

impl<F: Future> Gated<F> {
    pub(crate) fn new(inner: F) -> Self {
        Gated {
            inner: Box::pin(inner),
            wake: Arc::new(GateWake {
                fired: AtomicBool::new(true),
                task: AtomicWaker::new(),
            }),
            registered: None,
            seen: WAKES.load(Ordering::Acquire).wrapping_sub(1),
        }
    }

    /// [`Future::poll`], skipped (`Pending`) when no gate anywhere fired
    /// since the last call: then this one did not either, and its waker is
    /// still registered. The first call always polls.
    ///
    /// Why that is enough: a gate's waker sets `fired`, then bumps [`WAKES`],
    /// then wakes the task, so the poll that wake causes reads a new count
    /// and looks; and a count read here that already includes the bump comes
    /// with `fired` visible to the look that follows.
    pub(crate) fn poll_if_woken(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        let wakes = WAKES.load(Ordering::Acquire);
        if wakes == self.seen {
            return Poll::Pending;
        }
        self.seen = wakes;
        Pin::new(self).poll(cx)
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        // Register first: a wake between the check and the inner poll is not
        // lost. The same task's waker, once registered, stays registered
        // until a wake takes it, and then `fired` is set (handled below).
        if !this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            this.wake.task.register(cx.waker());
            this.registered = Some(cx.waker().clone());
        }
        if !this.wake.fired.load(Ordering::Acquire)
            || !this.wake.fired.swap(false, Ordering::AcqRel)
        {
            return Poll::Pending;
        }
        // The wake took the registered waker: register again before the
        // inner poll, so a wake during or after it reaches this task.
        this.wake.task.register(cx.waker());
        let waker = Waker::from(Arc::clone(&this.wake));
        this.inner.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Counts how often the inner future is polled.
    struct Counted<'a>(&'a std::cell::Cell<u32>);

    impl Future for Counted<'_> {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            self.0.set(self.0.get() + 1);
            Poll::Pending
        }
    }

    #[test]
    fn gate_polls_the_inner_future_once_until_it_wakes() {
        let polls = std::cell::Cell::new(0);
        let mut gated = Gated::new(Counted(&polls));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..5 {
            assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        }
        assert_eq!(polls.get(), 1, "registered once, never woken");
        Waker::from(Arc::clone(&gated.wake)).wake();
        assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        assert_eq!(polls.get(), 2, "polled again after its waker fired");
    }

    #[test]
    fn poll_if_woken_looks_only_after_a_gate_fired() {
        let polls = std::cell::Cell::new(0);
        let mut gated = Gated::new(Counted(&polls));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(gated.poll_if_woken(&mut cx).is_pending());
        assert_eq!(polls.get(), 1, "the first call polls (and registers)");
        let other_polls = std::cell::Cell::new(0);
        let other = Gated::new(Counted(&other_polls));
        // Nothing fired (unless a test running beside this one woke a
        // gate): the inner future is not polled again.
        let before = WAKES.load(Ordering::Acquire);
        let skipped = gated.poll_if_woken(&mut cx).is_pending() && polls.get() == 1;
        assert!(
            skipped || WAKES.load(Ordering::Acquire) != before,
            "no wake, no look"
        );
        // Another gate fired: this one looks, sees its own flag unset and
        // does not poll its inner future.
        Waker::from(Arc::clone(&other.wake)).wake();
        assert!(gated.poll_if_woken(&mut cx).is_pending());
        assert_eq!(polls.get(), 1, "another gate's wake is not this one's");
        // Its own waker fired: the inner future is polled.
        Waker::from(Arc::clone(&gated.wake)).wake();
        assert!(gated.poll_if_woken(&mut cx).is_pending());
        assert_eq!(polls.get(), 2, "polled after its own wake");
    }

    #[test]
    fn poll_if_woken_sees_a_wake_from_another_thread() {
        // The waker fires on another thread after the task's last look;
        // the task's next look must poll the inner future.
        for _ in 0..200 {
            let polls = std::cell::Cell::new(0);
            let mut gated = Gated::new(Counted(&polls));
            let waker = futures_util::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert!(gated.poll_if_woken(&mut cx).is_pending());
            let remote = Waker::from(Arc::clone(&gated.wake));
            std::thread::spawn(move || remote.wake())
                .join()
                .expect("waker thread");
            assert!(gated.poll_if_woken(&mut cx).is_pending());
            assert_eq!(polls.get(), 2, "the remote wake was seen");
        }
    }

    /// A task waker that counts its wakes.
    struct CountingWake(std::sync::atomic::AtomicU32);

    impl Wake for CountingWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Pending until its stored waker is woken; stores the waker each poll.
    struct Sleeper(Arc<std::sync::Mutex<Option<Waker>>>);

    impl Future for Sleeper {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            *self.0.lock().expect("lock") = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[test]
    fn every_wake_of_the_inner_future_reaches_the_task() {
        let slot = Arc::new(std::sync::Mutex::new(None));
        let mut gated = Gated::new(Sleeper(Arc::clone(&slot)));
        let task = Arc::new(CountingWake(std::sync::atomic::AtomicU32::new(0)));
        let waker = Waker::from(Arc::clone(&task));
        let mut cx = Context::from_waker(&waker);
        let wake_inner = || {
            slot.lock()
                .expect("lock")
                .take()
                .expect("inner waker")
                .wake()
        };
        assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        // Polls without a wake skip the registration and stay pending.
        assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        for round in 1..=3 {
            // Each wake comes right after the poll that handled the last one.
            wake_inner();
            assert_eq!(
                task.0.load(Ordering::SeqCst),
                round,
                "wake {round} reached the task"
            );
            assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        }
        // Another task polling it from now on is the one woken.
        let other = Arc::new(CountingWake(std::sync::atomic::AtomicU32::new(0)));
        let other_waker = Waker::from(Arc::clone(&other));
        assert!(Pin::new(&mut gated)
            .poll(&mut Context::from_waker(&other_waker))
            .is_pending());
        wake_inner();
        assert_eq!(other.0.load(Ordering::SeqCst), 1);
        assert_eq!(task.0.load(Ordering::SeqCst), 3);
    }

    #[actix_rt::test]
    async fn gated_cancel_still_wakes_the_task() {
        let (handle, mut token) = crate::client::cancel::CancelHandle::new();
        let mut gated = Gated::new(token.cancelled());
        let pending = tokio::select! {
            biased;
            _ = &mut gated => false,
            _ = std::future::ready(()) => true,
        };
        assert!(pending);
        let canceller = std::thread::spawn(move || handle.cancel());
        tokio::time::timeout(Duration::from_secs(5), &mut gated)
            .await
            .expect("a cancel from another thread wakes the gated future");
        canceller.join().expect("cancel thread");
    }
}
