//! Response checks and body decoding, between the headers and the parser.
//!
//! [`check_head`] applies the WHATWG EventSource rules to the response head
//! and [`Decoder`] undoes a `Content-Encoding` we did not ask for, chunk by
//! chunk, into one reused buffer.
//!
//! # Status and type (WHATWG "Server-sent events", establishing the connection)
//!
//! | response | kind |
//! |---|---|
//! | 200 with MIME type `text/event-stream` (any parameters, any case) | a stream |
//! | 200 with another or no `Content-Type` | `wrong-content-type` |
//! | another 2xx (201, 204, 206…) | `status-2xx` |
//! | 301/302/303/307/308 | followed by awc, up to 10 in a row (`http.rs`) |
//! | a 3xx that reaches us (no `Location`, the 11th redirect, 300, 304…) | `status-3xx` |
//! | 408 / 429 / 5xx / other 4xx | `status-408` / `status-429` (`Retry-After`) / `status-5xx` (503: `Retry-After`) / `status-4xx` |
//!
//! A refused response is never read: no event of its body is reported or counted.
//!
//! # Framing
//!
//! Every HTTP/1.1 framing is read (RFC 9112 §6.3): `Content-Length`,
//! chunked, and a body delimited by the connection close, for HTTP/1.1 as
//! for HTTP/1.0. awc's decoder (actix-http) read a close-delimited HTTP/1.1
//! body as empty and took a body cut before its last chunk (or before its
//! `Content-Length`) for a clean end; both are fixed in the decoder itself,
//! carried as a patched dependency (`vendor/README.md`), so a cut body
//! reaches the attempt as an error (`cut`), never as a clean end.

use std::io::Write;
use std::time::SystemTime;

use awc::http::header::{HeaderMap, CONTENT_ENCODING, CONTENT_TYPE, LOCATION, RETRY_AFTER};

use crate::client::attempt::Failure;
use crate::client::classify::FailureKind;
use crate::client::judge::truncate;
use crate::client::retry::parse_retry_after;

/// The status and `Content-Type` of a response: a 200 `text/event-stream` or a failure.
pub(crate) fn check_head(status: u16, headers: &HeaderMap) -> Result<(), Failure> {
    if status != 200 {
        let kind = FailureKind::from_status(status);
        let detail = match kind {
            FailureKind::Status2xx => {
                format!("HTTP {status}: only 200 is an event stream")
            }
            FailureKind::Status3xx if headers.contains_key(LOCATION) => {
                format!("HTTP {status}: redirect not followed (more than 10 in a row, or not a redirect status)")
            }
            FailureKind::Status3xx => format!("HTTP {status} without Location: nowhere to follow"),
            _ => format!("HTTP {status}"),
        };
        let mut failure = Failure::new(kind, detail);
        if status == 429 || status == 503 {
            failure.retry_after = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
        }
        return Err(failure);
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_event_stream(content_type) {
        let shown = if content_type.is_empty() {
            "no Content-Type"
        } else {
            content_type
        };
        return Err(Failure::new(
            FailureKind::WrongContentType,
            format!("expected text/event-stream, got {}", truncate(shown)),
        ));
    }
    Ok(())
}

/// Whether a `Content-Type` value's MIME type (its essence: type/subtype,
/// before any parameter, ASCII case-insensitive, whitespace trimmed) is
/// `text/event-stream`.
fn is_event_stream(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("");
    essence
        .trim_matches(|c: char| c == ' ' || c == '\t')
        .eq_ignore_ascii_case("text/event-stream")
}

/// Undoes a `Content-Encoding` we did not ask for, incrementally.
pub(crate) enum Decoder {
    Identity,
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
}

impl Decoder {
    /// The decoder for the response's `Content-Encoding`, or a failure naming it.
    pub(crate) fn for_headers(headers: &HeaderMap) -> Result<Decoder, Failure> {
        let encoding = headers
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .trim();
        match encoding.to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Decoder::Identity),
            "gzip" | "x-gzip" => Ok(Decoder::Gzip(flate2::write::GzDecoder::new(Vec::new()))),
            "deflate" => Ok(Decoder::Deflate(
                flate2::write::ZlibDecoder::new(Vec::new()),
            )),
            other => Err(Failure::new(
                FailureKind::MalformedResponse,
                format!("unsupported Content-Encoding `{}`", truncate(other)),
            )),
        }
    }

    /// Decodes one chunk; the result borrows the decoder's buffer until the next call.
    pub(crate) fn decode<'a>(&'a mut self, bytes: &'a [u8]) -> Result<&'a [u8], Failure> {
        let corrupt = |err: std::io::Error| {
            Failure::new(
                FailureKind::MalformedResponse,
                format!("bad compressed body: {err}"),
            )
        };
        match self {
            Decoder::Identity => Ok(bytes),
            Decoder::Gzip(d) => {
                d.get_mut().clear();
                d.write_all(bytes)
                    .and_then(|()| d.flush())
                    .map_err(corrupt)?;
                Ok(d.get_ref())
            }
            Decoder::Deflate(d) => {
                d.get_mut().clear();
                d.write_all(bytes)
                    .and_then(|()| d.flush())
                    .map_err(corrupt)?;
                Ok(d.get_ref())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use awc::http::header::HeaderValue;
    use std::time::Duration;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                awc::http::header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        }
        map
    }

    #[test]
    fn status_rules() {
        let sse = headers(&[("content-type", "text/event-stream")]);
        let moved = headers(&[("content-type", "text/event-stream"), ("location", "/x")]);
        let cases: [(u16, &HeaderMap, Option<FailureKind>, &str); 14] = [
            (200, &sse, None, ""),
            (201, &sse, Some(FailureKind::Status2xx), "only 200"),
            (204, &sse, Some(FailureKind::Status2xx), "only 200"),
            (206, &sse, Some(FailureKind::Status2xx), "only 200"),
            (299, &sse, Some(FailureKind::Status2xx), "only 200"),
            (301, &sse, Some(FailureKind::Status3xx), "without Location"),
            (307, &moved, Some(FailureKind::Status3xx), "not followed"),
            (304, &sse, Some(FailureKind::Status3xx), "without Location"),
            (400, &sse, Some(FailureKind::Status4xx), "HTTP 400"),
            (404, &sse, Some(FailureKind::Status4xx), "HTTP 404"),
            (408, &sse, Some(FailureKind::Status408), "HTTP 408"),
            (429, &sse, Some(FailureKind::Status429), "HTTP 429"),
            (500, &sse, Some(FailureKind::Status5xx), "HTTP 500"),
            (503, &sse, Some(FailureKind::Status5xx), "HTTP 503"),
        ];
        for (status, head, kind, detail) in cases {
            let got = check_head(status, head);
            assert_eq!(got.as_ref().err().map(|f| f.kind), kind, "{status}");
            if let Err(failure) = got {
                assert!(
                    failure.detail.contains(detail),
                    "{status}: {}",
                    failure.detail
                );
            }
        }
    }

    #[test]
    fn mime_type_rules() {
        for (value, stream) in [
            ("text/event-stream", true),
            ("Text/Event-Stream", true),
            ("text/event-stream; charset=utf-8", true),
            ("text/event-stream;charset=UTF-8", true),
            (" text/event-stream ; foo=bar", true),
            ("\ttext/event-stream", true),
            ("text/event-streams", false),
            ("text/event", false),
            ("text/plain", false),
            ("application/json", false),
            ("text/event-stream, text/html", false),
            ("", false),
        ] {
            assert_eq!(is_event_stream(value), stream, "{value:?}");
        }
    }

    #[test]
    fn head_checks() {
        let sse = headers(&[("content-type", "text/event-stream; charset=utf-8")]);
        assert!(check_head(200, &sse).is_ok());
        let upper = headers(&[("content-type", "Text/Event-Stream")]);
        assert!(check_head(200, &upper).is_ok());
        for (status, kind) in [
            (400, FailureKind::Status4xx),
            (408, FailureKind::Status408),
            (429, FailureKind::Status429),
            (503, FailureKind::Status5xx),
        ] {
            assert_eq!(check_head(status, &sse).map_err(|f| f.kind), Err(kind));
        }
        let html = headers(&[("content-type", "text/html")]);
        assert_eq!(
            check_head(200, &html).map_err(|f| f.kind),
            Err(FailureKind::WrongContentType)
        );
        assert_eq!(
            check_head(200, &HeaderMap::new()).map_err(|f| f.kind),
            Err(FailureKind::WrongContentType)
        );
        let limited = headers(&[("retry-after", "7"), ("content-type", "text/plain")]);
        let failure = check_head(503, &limited).expect_err("503 fails");
        assert_eq!(failure.retry_after, Some(Duration::from_secs(7)));
        let failure = check_head(500, &limited).expect_err("500 fails");
        assert_eq!(failure.retry_after, None, "only 429/503 carry Retry-After");
    }

    #[test]
    fn gzip_decoding_is_incremental() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"data: a\n\ndata: b\n\n").expect("in memory");
        let compressed = gz.finish().expect("in memory");
        let mut decoder = Decoder::for_headers(&headers(&[("content-encoding", "gzip")]))
            .expect("gzip supported");
        let mut plain = Vec::new();
        for chunk in compressed.chunks(3) {
            plain.extend_from_slice(decoder.decode(chunk).expect("valid gzip"));
        }
        assert_eq!(plain, b"data: a\n\ndata: b\n\n");
        assert!(Decoder::for_headers(&headers(&[("content-encoding", "br")])).is_err());
    }
}
