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
//! cause, which classifies as `tls` with a hint. Any byte from the server
//! disarms the watch; streams after the handshake are untouched.

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
                let source = result.err();
                let kind = source
                    .as_ref()
                    .map_or(io::ErrorKind::ConnectionAborted, io::Error::kind);
                Poll::Ready(Err(io::Error::new(
                    kind,
                    ClientCertRefused {
                        had_identity,
                        source,
                    },
                )))
            }
        }
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(had_identity) = take_client_auth_request() {
            self.armed = Some(had_identity);
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(had_identity) = take_client_auth_request() {
            self.armed = Some(had_identity);
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
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
