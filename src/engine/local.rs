//! The per-arbiter (thread-local) recording point.
//!
//! Every session on an arbiter thread records into the same
//! [`IntervalDelta`] through an `Rc<RefCell<…>>`: a borrow flag check, no
//! lock, no message. Once per interval the collector asks each arbiter to
//! [`take`] it (and the buffered `--events-out` lines), so what crosses
//! threads is bounded by arbiters × intervals.

use std::cell::RefCell;
use std::rc::Rc;

use crate::metrics::{IntervalDelta, Latencies};

/// Spare histogram sets kept per thread (the collector hands merged ones back).
const SPARES: usize = 2;

thread_local! {
    static DELTA: Rc<RefCell<IntervalDelta>> = Rc::new(RefCell::new(IntervalDelta::default()));
    static EVENTS: Rc<RefCell<Vec<u8>>> = Rc::new(RefCell::new(Vec::new()));
    static SPARE: RefCell<Vec<Latencies>> = const { RefCell::new(Vec::new()) };
}

/// This thread's delta, shared by its sessions.
pub(crate) fn delta() -> Rc<RefCell<IntervalDelta>> {
    DELTA.with(Rc::clone)
}

/// This thread's buffer of `--events-out` JSON lines.
pub(crate) fn events_buffer() -> Rc<RefCell<Vec<u8>>> {
    EVENTS.with(Rc::clone)
}

/// Takes what this thread recorded since the last call.
pub(crate) fn take() -> (IntervalDelta, Vec<u8>) {
    // A recycled set when there is one: a fresh set is ~1.4 MB to allocate
    // and zero every interval, and the churn grows the allocator's arenas.
    let empty = SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default();
    let delta = DELTA.with(|d| d.borrow_mut().take(empty));
    let events = EVENTS.with(|err| std::mem::take(&mut *err.borrow_mut()));
    (delta, events)
}

/// Gives this thread a histogram set back for reuse (emptied here).
pub(crate) fn recycle(mut latencies: Latencies) {
    latencies.reset();
    SPARE.with(|s| {
        let mut spares = s.borrow_mut();
        if spares.len() < SPARES {
            spares.push(latencies);
        }
    });
}
