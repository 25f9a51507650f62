//! Ctrl+C and SIGTERM, for every command that stops on them (`run`,
//! `stream`, `serve`). A room of its own so that commands need not import
//! the engine for it.

/// Ctrl+C and SIGTERM, listened to from its creation on: a signal that
/// arrives while its owner is busy (between two [`Signals::recv`]) is kept
/// for the next call, not lost.
pub struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Starts listening. Must be called inside a tokio runtime.
    pub fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// Resolves on the next Ctrl+C or SIGTERM (one already delivered since
    /// the last call included).
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            if self.interrupt.is_none() && self.terminate.is_none() {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            tokio::select! {
                () = next(&mut self.interrupt) => {}
                () = next(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Resolves on Ctrl+C or SIGTERM (the first one after this call).
pub async fn wait_for_signal() {
    Signals::listen().recv().await;
}
