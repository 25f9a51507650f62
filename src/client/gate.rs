//! [`Gated`]: a future polled only after its own waker fired.
//!
//! The attempt waits on cancellation next to the body stream in a
//! `select!`; this keeps that wait from costing a contended lock per event.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

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
        }
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Register first: a wake between the swap and the inner poll is not lost.
        self.wake.task.register(cx.waker());
        if !self.wake.fired.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(Arc::clone(&self.wake));
        self.inner.as_mut().poll(&mut Context::from_waker(&waker))
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
