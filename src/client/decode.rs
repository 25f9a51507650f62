//! Response checks and body decoding, between the headers and the parser.
//!
//! [`check_head`] turns a non-2xx status or a wrong `Content-Type` into a
//! failure (with `Retry-After` for 429/503), [`check_framing`] names a body
//! awc cannot read, and [`Decoder`] undoes a `Content-Encoding` we did not
//! ask for, chunk by chunk, into one reused buffer.

use std::io::Write;
use std::time::SystemTime;

use awc::http::header::{HeaderMap, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};

use crate::client::attempt::Failure;
use crate::client::classify::FailureKind;
use crate::client::judge::truncate;
use crate::client::retry::parse_retry_after;

/// The status and `Content-Type` of a response: a 2xx `text/event-stream` or a failure.
pub(crate) fn check_head(status: u16, headers: &HeaderMap) -> Result<(), Failure> {
    if !(200..300).contains(&status) {
        let mut failure = Failure::new(FailureKind::from_status(status), format!("HTTP {status}"));
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
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("text/event-stream") {
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

/// awc reads an HTTP/1.1 response with neither `Content-Length` nor
/// chunked `Transfer-Encoding` (a body delimited by the connection close,
/// RFC 9112 §6.3) as an empty body. Rather than report a misleading `cut`
/// with 0 events, name the cause. HTTP/1.0 close-delimited bodies are read fine.
pub(crate) fn check_framing(
    version: awc::http::Version,
    headers: &HeaderMap,
) -> Result<(), Failure> {
    let framed = headers.contains_key(awc::http::header::CONTENT_LENGTH)
        || headers.contains_key(awc::http::header::TRANSFER_ENCODING);
    if version == awc::http::Version::HTTP_11 && !framed {
        return Err(Failure::new(
            FailureKind::MalformedResponse,
            "HTTP/1.1 event stream without Content-Length or chunked Transfer-Encoding (body delimited by the connection close): the HTTP client cannot read it; have the server use chunked encoding",
        ));
    }
    Ok(())
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
