//! awc and I/O errors to [`FailureKind`]s: the transport half of [`crate::client::classify`].
//!
//! Kept apart from `classify.rs`, which names the kinds and knows no awc.
//!
//! Where awc's own text would mislead, the detail says what happened
//! instead: awc reports a server that accepts the connection and closes it
//! without a byte as "Failed to connect to host: Internal error: connector
//! has been disconnected" (`ConnectError::Disconnected`), which is a
//! `reset` by the server, not a failure to connect.
//!
//! # HTTP/2 means the same as HTTP/1.1
//!
//! An h2 error is first reduced to an [`H2Cause`], then [`h2_kind`] (pure,
//! table-tested) names it the way the same event is named on HTTP/1.1:
//!
//! | on HTTP/2 | before headers | in the body | the HTTP/1.1 event it matches |
//! |---|---|---|---|
//! | TCP reset under the connection | `reset` | `reset` | a TCP RST |
//! | connection closed (EOF, h2's "broken pipe") | `reset` | `cut` | FIN before the answer / mid-body |
//! | `GOAWAY` | `reset` | `cut` | the server closing the connection |
//! | `RST_STREAM` from the server (any code) | `reset` | `reset` | an abrupt reset of this stream |
//! | a protocol error h2 detected itself | `malformed-response` | `malformed-response` | an unparseable response |
//! | a TLS error under h2 | `tls` | `cut` | as on HTTP/1.1 |

use awc::error::{ConnectError, PayloadError, SendRequestError};

use crate::client::attempt::Failure;
use crate::client::classify::FailureKind;
use crate::client::tls::ClientCertRefused;

/// What an h2 error was, reduced to what decides its [`FailureKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum H2Cause {
    /// An I/O error under the connection, classified as on HTTP/1.1.
    Io(FailureKind),
    /// The connection ended without a `GOAWAY` (h2 reports "broken pipe").
    Closed,
    /// The server sent `GOAWAY`.
    GoAway,
    /// The server reset this stream (`RST_STREAM`).
    StreamReset,
    /// h2 found the peer broke the protocol (a malformed frame, flow control…).
    Protocol,
}

/// Where an error happened: before the response headers, or in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Headers,
    Body,
}

/// The kind an HTTP/2 failure gets (see the module's table).
pub(crate) fn h2_kind(cause: H2Cause, stage: Stage) -> FailureKind {
    match (cause, stage) {
        (H2Cause::Io(FailureKind::Tls), Stage::Headers) => FailureKind::Tls,
        (H2Cause::Io(FailureKind::Reset), _) => FailureKind::Reset,
        (H2Cause::Io(kind), Stage::Headers) => kind,
        (H2Cause::Io(_), Stage::Body) => FailureKind::Cut,
        (H2Cause::Closed | H2Cause::GoAway, Stage::Headers) => FailureKind::Reset,
        (H2Cause::Closed | H2Cause::GoAway, Stage::Body) => FailureKind::Cut,
        (H2Cause::StreamReset, _) => FailureKind::Reset,
        (H2Cause::Protocol, _) => FailureKind::MalformedResponse,
    }
}

fn h2_cause(err: &h2::Error) -> H2Cause {
    if let Some(io) = err.get_io() {
        return h2_io_cause(io);
    }
    if err.is_library() {
        // h2 itself saw the peer break the protocol and sent GOAWAY/RST_STREAM.
        return H2Cause::Protocol;
    }
    if err.is_go_away() {
        return H2Cause::GoAway;
    }
    if err.is_reset() {
        return H2Cause::StreamReset;
    }
    use h2::Reason as R;
    match err.reason() {
        Some(
            R::PROTOCOL_ERROR | R::FRAME_SIZE_ERROR | R::COMPRESSION_ERROR | R::FLOW_CONTROL_ERROR,
        ) => H2Cause::Protocol,
        _ => H2Cause::StreamReset,
    }
}

/// An I/O error under an h2 connection. h2 turns an EOF into BrokenPipe
/// ("connection closed because of a broken pipe"): that is the peer
/// closing, not a reset.
fn h2_io_cause(io: &std::io::Error) -> H2Cause {
    match (io.kind(), is_tls_error(io) || refused_in_text(io).is_some()) {
        (_, true) => H2Cause::Io(FailureKind::Tls),
        (std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::UnexpectedEof, _) => H2Cause::Closed,
        _ => H2Cause::Io(classify_io(io)),
    }
}

/// What fixes the TLS failure `err`, if an option of ours does.
fn tls_hint(err: &SendRequestError) -> Option<&'static str> {
    let io = send_io(err)?;
    if let Some(refused) = find::<ClientCertRefused>(io) {
        return Some(refused.hint());
    }
    if let Some(had_identity) = refused_in_text(io) {
        return Some(ClientCertRefused::hint_for(had_identity));
    }
    find::<rustls::Error>(io).and_then(crate::client::tls::hint)
}

/// The I/O error inside an awc send error, if any.
fn send_io(err: &SendRequestError) -> Option<&std::io::Error> {
    let io = match err {
        SendRequestError::Connect(ConnectError::Io(io)) | SendRequestError::Send(io) => io,
        SendRequestError::Connect(ConnectError::H2(h2)) | SendRequestError::H2(h2) => {
            h2.get_io()?
        }
        SendRequestError::Response(actix_http::error::ParseError::Io(io)) => io,
        _ => return None,
    };
    Some(io)
}

/// Classifies an awc send error (before response headers).
pub(crate) fn classify_send(err: SendRequestError) -> Failure {
    match &err {
        // awc: the response head stream ended before any byte.
        SendRequestError::Connect(ConnectError::Disconnected) => {
            return Failure::new(
                FailureKind::Reset,
                "the server closed the connection before answering (no response byte)",
            )
        }
        // The patched decoder (vendor/README.md): closed inside the head.
        SendRequestError::Response(actix_http::error::ParseError::Incomplete) => {
            return Failure::new(
                FailureKind::Reset,
                "the server closed the connection in the middle of the response headers",
            )
        }
        // Our own URL was validated up front, so this is a redirect's `Location`.
        SendRequestError::Url(url) => {
            return Failure::new(
                FailureKind::Status3xx,
                format!("redirect not followed: its Location is not a usable URL ({url})"),
            )
        }
        _ => {}
    }
    let kind = match &err {
        SendRequestError::Connect(connect) => match connect {
            ConnectError::Timeout => FailureKind::ConnectTimeout,
            ConnectError::Resolver(_) | ConnectError::NoRecords | ConnectError::Unresolved => {
                FailureKind::Dns
            }
            ConnectError::SslIsNotSupported => FailureKind::Tls,
            ConnectError::Io(io) => classify_io(io),
            ConnectError::H2(h2) => h2_kind(h2_cause(h2), Stage::Headers),
            _ => FailureKind::Reset,
        },
        SendRequestError::Send(io) => classify_io(io),
        SendRequestError::Response(parse) => match parse {
            actix_http::error::ParseError::Io(io) => classify_io(io),
            actix_http::error::ParseError::Incomplete => FailureKind::Reset,
            _ => FailureKind::MalformedResponse,
        },
        SendRequestError::Timeout => FailureKind::ConnectTimeout,
        SendRequestError::H2(h2) => h2_kind(h2_cause(h2), Stage::Headers),
        SendRequestError::Body(_) => FailureKind::Reset,
        _ => FailureKind::MalformedResponse,
    };
    let detail = match kind {
        FailureKind::ConnectRefused => {
            format!("{err} (is the server running on that port?)")
        }
        FailureKind::ConnectTimeout => {
            format!("{err} (connect + response headers exceeded http.timeout)")
        }
        FailureKind::Tls => match tls_hint(&err) {
            Some(hint) => format!("{err}: {hint}"),
            None => err.to_string(),
        },
        _ => err.to_string(),
    };
    Failure::new(kind, detail)
}

/// Classifies a body read error (after response headers).
pub(crate) fn classify_payload(err: PayloadError) -> Failure {
    let kind = match &err {
        PayloadError::Incomplete(Some(io)) | PayloadError::Io(io) => match classify_io(io) {
            FailureKind::Reset => FailureKind::Reset,
            _ => FailureKind::Cut,
        },
        PayloadError::Incomplete(None) => {
            return Failure::new(
                FailureKind::Cut,
                "the server closed the connection before the end of the body (a chunked body without its last chunk, or fewer bytes than Content-Length)",
            )
        }
        PayloadError::EncodingCorrupted | PayloadError::Overflow | PayloadError::UnknownLength => {
            FailureKind::MalformedResponse
        }
        PayloadError::Http2Payload(h2) => h2_kind(h2_cause(h2), Stage::Body),
        _ => FailureKind::Reset,
    };
    Failure::new(kind, err.to_string())
}

fn classify_io(err: &std::io::Error) -> FailureKind {
    use std::io::ErrorKind as K;
    if is_tls_error(err) {
        return FailureKind::Tls;
    }
    match err.kind() {
        K::ConnectionRefused => FailureKind::ConnectRefused,
        K::TimedOut => FailureKind::ConnectTimeout,
        K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
            FailureKind::Unreachable
        }
        K::ConnectionReset
        | K::ConnectionAborted
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::NotConnected => FailureKind::Reset,
        _ => match err.raw_os_error() {
            Some(101) | Some(113) => FailureKind::Unreachable,
            _ => FailureKind::Reset,
        },
    }
}

fn is_tls_error(err: &std::io::Error) -> bool {
    find::<rustls::Error>(err).is_some() || find::<ClientCertRefused>(err).is_some()
}

/// h2 keeps only the text of an I/O error (its errors are `Clone`), so a
/// [`ClientCertRefused`] under an HTTP/2 connection is recognised by it.
fn refused_in_text(err: &std::io::Error) -> Option<bool> {
    ClientCertRefused::parse(&err.to_string())
}

/// The first `T` in `err`'s chain of causes.
fn find<T: std::error::Error + 'static>(err: &std::io::Error) -> Option<&T> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.get_ref().map(|err| err as _);
    while let Some(inner) = source {
        if let Some(found) = inner.downcast_ref::<T>() {
            return Some(found);
        }
        source = inner.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h2_failures_mean_what_they_mean_on_http1() {
        use FailureKind as K;
        use H2Cause as C;
        for (cause, headers, body) in [
            (C::Io(K::Reset), K::Reset, K::Reset),
            (C::Io(K::ConnectRefused), K::ConnectRefused, K::Cut),
            (C::Io(K::Tls), K::Tls, K::Cut),
            (C::Closed, K::Reset, K::Cut),
            (C::GoAway, K::Reset, K::Cut),
            (C::StreamReset, K::Reset, K::Reset),
            (C::Protocol, K::MalformedResponse, K::MalformedResponse),
        ] {
            assert_eq!(
                h2_kind(cause, Stage::Headers),
                headers,
                "{cause:?} before headers"
            );
            assert_eq!(h2_kind(cause, Stage::Body), body, "{cause:?} in the body");
        }
    }

    #[test]
    fn h2_errors_reduce_to_causes() {
        use std::io::{Error, ErrorKind};
        let eof = Error::new(ErrorKind::BrokenPipe, "connection closed");
        assert_eq!(h2_io_cause(&eof), H2Cause::Closed);
        let rst = Error::from(ErrorKind::ConnectionReset);
        assert_eq!(h2_io_cause(&rst), H2Cause::Io(FailureKind::Reset));
        let tls = Error::new(ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(h2_io_cause(&tls), H2Cause::Io(FailureKind::Tls));
        let local = h2::Error::from(h2::Reason::PROTOCOL_ERROR);
        assert_eq!(h2_cause(&local), H2Cause::Protocol);
        let cancel = h2::Error::from(h2::Reason::CANCEL);
        assert_eq!(h2_cause(&cancel), H2Cause::StreamReset);
        assert_eq!(
            classify_payload(PayloadError::Http2Payload(local)).kind,
            FailureKind::MalformedResponse
        );
    }

    #[test]
    fn an_untrusted_certificate_says_which_option_fixes_it() {
        use std::io::{Error, ErrorKind};
        let io = Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let failure = classify_send(SendRequestError::Connect(ConnectError::Io(io)));
        assert_eq!(failure.kind, FailureKind::Tls);
        assert!(failure.detail.contains("ca_file"), "{}", failure.detail);
        assert!(
            failure.detail.contains("insecure_tls"),
            "{}",
            failure.detail
        );
    }

    #[test]
    fn a_refused_client_certificate_is_tls_and_says_so() {
        use std::io::{Error, ErrorKind};
        for (had_identity, needle) in [
            (false, "requires a client certificate"),
            (true, "refused our client certificate"),
        ] {
            let io = Error::new(
                ErrorKind::ConnectionAborted,
                ClientCertRefused {
                    had_identity,
                    source: None,
                },
            );
            let text = Error::new(ErrorKind::ConnectionAborted, io.to_string());
            let failure = classify_send(SendRequestError::Send(io));
            assert_eq!(failure.kind, FailureKind::Tls);
            assert!(failure.detail.contains(needle), "{}", failure.detail);
            assert!(failure.detail.contains("client_cert"), "{}", failure.detail);
            // Under HTTP/2 only the text survives (h2 errors are Clone).
            assert_eq!(refused_in_text(&text), Some(had_identity));
            assert_eq!(h2_io_cause(&text), H2Cause::Io(FailureKind::Tls));
        }
    }

    /// A transport that takes the HTTP/2 preface, then fails every write
    /// with `error()`; its reads never complete (the server said nothing).
    struct FailingWrites {
        preface_left: usize,
        error: fn() -> std::io::Error,
    }

    impl tokio::io::AsyncRead for FailingWrites {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Pending
        }
    }

    impl tokio::io::AsyncWrite for FailingWrites {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            if self.preface_left == 0 {
                return std::task::Poll::Ready(Err((self.error)()));
            }
            let n = buf.len().min(self.preface_left);
            self.preface_left -= n;
            std::task::Poll::Ready(Ok(n))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// What a request gets from an HTTP/2 connection whose writes fail
    /// with `error()` once the preface is out: the request's HEADERS (and
    /// our SETTINGS) are flushed by the connection's idle step, the path
    /// h2 0.3.27 returned the error from without giving it to the streams
    /// (vendor/README.md).
    async fn h2_request_when_writes_fail(error: fn() -> std::io::Error) -> h2::Error {
        let io = FailingWrites {
            preface_left: 24,
            error,
        };
        let (send, connection) = h2::client::handshake(io).await.expect("preface written");
        let mut send = send.ready().await.expect("a stream slot");
        let request = http::Request::post("https://127.0.0.1/")
            .body(())
            .expect("request");
        let (response, _) = send.send_request(request, true).expect("queued");
        let driver = actix_rt::spawn(connection);
        let err = response.await.expect_err("no write succeeds");
        assert!(
            driver.await.expect("driver").is_err(),
            "the connection fails"
        );
        err
    }

    #[actix_rt::test]
    async fn an_h2_write_error_reaches_the_stream_with_its_cause() {
        let err = h2_request_when_writes_fail(|| {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                ClientCertRefused {
                    had_identity: false,
                    source: None,
                },
            )
        })
        .await;
        let failure = classify_send(SendRequestError::H2(err));
        assert_eq!(failure.kind, FailureKind::Tls, "{}", failure.detail);
        assert!(failure.detail.contains("client_cert"), "{}", failure.detail);

        let err = h2_request_when_writes_fail(|| std::io::ErrorKind::ConnectionReset.into()).await;
        let io = err.get_io().expect("an I/O error");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset, "{io}");
        assert_eq!(h2_cause(&err), H2Cause::Io(FailureKind::Reset));
    }

    #[test]
    fn io_classes() {
        use std::io::{Error, ErrorKind};
        for (kind, expected) in [
            (ErrorKind::ConnectionRefused, FailureKind::ConnectRefused),
            (ErrorKind::ConnectionReset, FailureKind::Reset),
            (ErrorKind::BrokenPipe, FailureKind::Reset),
            (ErrorKind::TimedOut, FailureKind::ConnectTimeout),
            (ErrorKind::NetworkUnreachable, FailureKind::Unreachable),
        ] {
            assert_eq!(classify_io(&Error::from(kind)), expected, "{kind:?}");
        }
        let tls = Error::new(ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(classify_io(&tls), FailureKind::Tls);
        assert_eq!(
            classify_payload(PayloadError::Incomplete(None)).kind,
            FailureKind::Cut
        );
        assert_eq!(
            classify_payload(PayloadError::Io(Error::from(ErrorKind::ConnectionReset))).kind,
            FailureKind::Reset
        );
    }
}
