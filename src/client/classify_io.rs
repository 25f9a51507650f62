//! awc and I/O errors to [`FailureKind`]s: the transport half of [`crate::client::classify`].
//!
//! Kept apart from `classify.rs`, which names the kinds and knows no awc.
//!
//! Where awc's own text would mislead, the detail says what happened
//! instead: awc reports a server that accepts the connection and closes it
//! without a byte as "Failed to connect to host: Internal error: connector
//! has been disconnected" (`ConnectError::Disconnected`), which is a
//! `reset` by the server, not a failure to connect.

use awc::error::{ConnectError, PayloadError, SendRequestError};

use crate::client::attempt::Failure;
use crate::client::classify::FailureKind;

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
            _ => FailureKind::Reset,
        },
        SendRequestError::Send(io) => classify_io(io),
        SendRequestError::Response(parse) => match parse {
            actix_http::error::ParseError::Io(io) => classify_io(io),
            actix_http::error::ParseError::Incomplete => FailureKind::Reset,
            _ => FailureKind::MalformedResponse,
        },
        SendRequestError::Timeout => FailureKind::ConnectTimeout,
        SendRequestError::H2(_) | SendRequestError::Body(_) => FailureKind::Reset,
        _ => FailureKind::MalformedResponse,
    };
    let detail = match kind {
        FailureKind::ConnectRefused => {
            format!("{err} (is the server running on that port?)")
        }
        FailureKind::ConnectTimeout => {
            format!("{err} (connect + response headers exceeded http.timeout)")
        }
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
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.get_ref().map(|err| err as _);
    while let Some(inner) = source {
        if inner.is::<rustls::Error>() {
            return true;
        }
        source = inner.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

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
