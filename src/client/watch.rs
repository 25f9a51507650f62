//! The TCP stream under every TLS connection, watched for one thing: a
//! server that asked for a client certificate and then hung up.
//!
//! A TLS 1.3 client finishes its handshake before the server has checked
//! the client's certificate; a server that rejects it should send an alert
//! (`certificate_required`, `unknown_ca`…), which rustls reports and
//! [`crate::client::tls::hint`] explains. Some servers (Python's asyncio
//! TLS, so hypercorn and uvicorn) close the socket without flushing the
//! alert, and the client would see a bare `reset`. So: the handshake's
//! certificate request is noted by the resolver on this thread
//! ([`crate::client::tls::take_client_auth_request`]), taken by the next
//! write on this stream (the client's answer, in the same poll: no other
//! task runs in between), and if the server's next read is then an EOF or
//! an error before any byte, that read fails with
//! [`ClientCertRefused`](crate::client::tls::ClientCertRefused) as the
//! cause, which classifies as `tls` with a hint. A write that fails then
//! (the server's close reached us first as `EPIPE` or a reset, while the
//! client was sending its request) is the same refusal (under HTTP/2 that
//! error reaches the request through the vendored h2's patch,
//! `vendor/README.md`). Any byte from the
//! server disarms the watch; streams after the handshake are untouched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_rt::net::{ActixStream, Ready, TcpStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::client::tls::{take_client_auth_request, ClientCertRefused};

/// A TCP stream with the client-certificate watch.
#[derive(Debug)]
pub(crate) struct WatchedStream {
    io: TcpStream,
    /// `Some(had an identity)` between our answer to a certificate request
    /// and the server's next byte.
    armed: Option<bool>,
}

impl WatchedStream {
    pub(crate) fn new(io: TcpStream) -> WatchedStream {
        WatchedStream { io, armed: None }
    }
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        let Some(had_identity) = self.armed else {
            return polled;
        };
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                self.armed = None;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(result) => {
                self.armed = None;
                Poll::Ready(Err(refused(had_identity, result.err())))
            }
        }
    }
}

/// The error a refused client certificate surfaces as: `source` (none for
/// an EOF) kept as the cause, its kind kept.
fn refused(had_identity: bool, source: Option<io::Error>) -> io::Error {
    let kind = source
        .as_ref()
        .map_or(io::ErrorKind::ConnectionAborted, io::Error::kind);
    io::Error::new(
        kind,
        ClientCertRefused {
            had_identity,
            source,
        },
    )
}

impl WatchedStream {
    /// Arms the watch when this write answers a certificate request, and
    /// turns a write error while armed into the refusal it is.
    fn watch_write<T>(
        &mut self,
        write: impl FnOnce(Pin<&mut TcpStream>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if let Some(had_identity) = take_client_auth_request() {
            self.armed = Some(had_identity);
        }
        match (write(Pin::new(&mut self.io)), self.armed) {
            (Poll::Ready(Err(err)), Some(had_identity)) => {
                self.armed = None;
                Poll::Ready(Err(refused(had_identity, Some(err))))
            }
            (polled, _) => polled,
        }
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.watch_write(|io| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.watch_write(|io| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl ActixStream for WatchedStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        ActixStream::poll_read_ready(&self.io, cx)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        ActixStream::poll_write_ready(&self.io, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A watched client stream whose server has hung up with a reset
    /// (linger 0), as a server that refuses a certificate may.
    async fn reset_by_the_server() -> WatchedStream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (server, _) = accepted.expect("accept");
        server.set_zero_linger().expect("linger");
        drop(server);
        WatchedStream::new(client.expect("connect"))
    }

    /// Writes until one fails. The kernel may accept a write or two before
    /// the reset is in; it is already on its way, so this is bounded.
    async fn first_write_error(stream: &mut WatchedStream) -> io::Error {
        for _ in 0..1_000 {
            if let Err(err) = stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await {
                return err;
            }
            tokio::task::yield_now().await;
        }
        panic!("no write to a reset connection failed");
    }

    fn refusal(err: &io::Error) -> Option<&ClientCertRefused> {
        err.get_ref()
            .and_then(|e| e.downcast_ref::<ClientCertRefused>())
    }

    /// The server's reset reaching a client that is still writing its
    /// request: the write's error carries the refusal, as a read's would.
    #[actix_rt::test]
    async fn a_write_failing_while_armed_is_the_refusal() {
        let mut stream = reset_by_the_server().await;
        stream.armed = Some(true);
        let err = first_write_error(&mut stream).await;
        let refused = refusal(&err).unwrap_or_else(|| panic!("not a refusal: {err:?}"));
        assert!(refused.had_identity);
        assert!(
            refused.source.is_some(),
            "the socket's error is kept as the cause"
        );
        assert!(stream.armed.is_none(), "the watch fires once");
    }

    /// Unarmed, a write error is the socket's own.
    #[actix_rt::test]
    async fn a_write_failing_unarmed_is_left_alone() {
        let mut stream = reset_by_the_server().await;
        let err = first_write_error(&mut stream).await;
        assert!(refusal(&err).is_none(), "{err:?}");
    }
}
