//! The per-arbiter (thread-local) recording point.
//!
//! Every session on an arbiter thread records into the same
//! [`IntervalDelta`] through an `Rc<RefCell<…>>`: a borrow flag check, no
//! lock, no message. Once per interval the collector asks each arbiter to
//! [`take`] it (and the buffered `--events-out` lines), so what crosses
//! threads is bounded by arbiters × intervals.

use std::cell::RefCell;
use std::rc::Rc;

use crate::metrics::IntervalDelta;

thread_local! {
    static DELTA: Rc<RefCell<IntervalDelta>> = Rc::new(RefCell::new(IntervalDelta::default()));
    static EVENTS: Rc<RefCell<Vec<u8>>> = Rc::new(RefCell::new(Vec::new()));
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
    let delta = DELTA.with(|d| d.borrow_mut().take());
    let events = EVENTS.with(|err| std::mem::take(&mut *err.borrow_mut()));
    (delta, events)
}
