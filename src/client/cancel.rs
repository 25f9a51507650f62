//! Cooperative cancellation for attempts and backoff sleeps.
//!
//! A [`Cancel`] is cheap to clone and to poll; the [`CancelHandle`] that made
//! it flips every clone at once (Ctrl+C in `stream`, the end of a run's grace
//! period in `run`). Dropping the handle does *not* cancel: a dropped handle
//! simply means nobody will ever cancel.

use tokio::sync::watch;

/// The sending side: call [`CancelHandle::cancel`] to stop everything holding a [`Cancel`].
#[derive(Debug)]
pub struct CancelHandle(watch::Sender<bool>);

/// The receiving side, checked by attempts and sleeps.
#[derive(Debug, Clone)]
pub struct Cancel(watch::Receiver<bool>);

impl CancelHandle {
    /// A new handle and its first [`Cancel`].
    pub fn new() -> (CancelHandle, Cancel) {
        let (tx, rx) = watch::channel(false);
        (CancelHandle(tx), Cancel(rx))
    }

    /// Cancels every clone of the [`Cancel`]s made from this handle.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    /// Another receiver.
    pub fn token(&self) -> Cancel {
        Cancel(self.0.subscribe())
    }
}

impl Cancel {
    /// A token that is never cancelled.
    pub fn never() -> Cancel {
        CancelHandle::new().1
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when cancelled; never resolves if the handle is gone uncancelled.
    pub async fn cancelled(&mut self) {
        if self.0.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn cancel_reaches_clones() {
        let (handle, token) = CancelHandle::new();
        let mut clone = token.clone();
        assert!(!clone.is_cancelled());
        handle.cancel();
        clone.cancelled().await;
        assert!(token.is_cancelled());
    }

    #[actix_rt::test]
    async fn never_is_never() {
        let mut never = Cancel::never();
        assert!(!never.is_cancelled());
        let raced = tokio::select! {
            biased;
            _ = never.cancelled() => true,
            _ = std::future::ready(()) => false,
        };
        assert!(!raced);
    }
}
