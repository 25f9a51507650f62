//! The streaming client: one attempt over awc, error classes, breaker, retry,
//! and [`StreamService`] combining them.
//!
//! Plain async Rust with no actix types: the `stream` command and tests run
//! it directly, load sessions wrap it. The pure parts ([`breaker`],
//! [`backoff`], [`retry`], [`wanted`], [`classify`], [`fields`]) take time
//! and randomness as arguments and are unit-tested without a runtime.

pub mod attempt;
pub mod backoff;
pub mod breaker;
pub mod cancel;
pub mod classify;
mod classify_io;
pub mod config;
mod decode;
pub mod dialect;
pub mod fields;
mod gate;
pub mod http;
mod judge;
pub mod protocol;
pub mod retry;
pub mod service;
pub mod tls;
pub mod wanted;
mod watch;

use awc::http::header::{HeaderName, HeaderValue};
use awc::http::Method;

pub use attempt::{AttemptOutcome, Carry, EventSink, Failure, SeenEvent};
pub use cancel::{Cancel, CancelHandle};
pub use classify::{FailureClass, FailureKind};
pub use service::{Observer, StreamOutcome, StreamService};

/// Method, URL and headers of the streaming request, validated once.
///
/// Header values are marked sensitive so they never show in awc's debug
/// output; `Debug` here prints header names only.
#[derive(Clone)]
pub struct PreparedRequest {
    /// HTTP method.
    pub method: Method,
    /// Full URL (base + path).
    pub url: String,
    /// Extra headers (values secret).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for PreparedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("PreparedRequest")
            .field("method", &self.method)
            .field("url", &redact_url(&self.url))
            .field("headers", &names)
            .finish()
    }
}

/// `url` without its `user:password@`, for logs, reports and `Debug`.
///
/// Text without `://` comes back as it is.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

/// A request that could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The method is not a valid HTTP token.
    #[error("invalid HTTP method `{0}`")]
    Method(String),
    /// The URL is not absolute http(s).
    #[error("invalid URL `{0}`: use http://host:port/path or https://…")]
    Url(String),
    /// A header name or value is not valid HTTP.
    #[error("invalid header `{0}` (names are tokens; values printable ASCII)")]
    Header(String),
}

impl PreparedRequest {
    /// Validates method, URL and headers.
    ///
    /// # Errors
    /// [`RequestError`] naming the bad part (never a header value).
    pub fn new<'a>(
        method: &str,
        url: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<PreparedRequest, RequestError> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| RequestError::Method(method.to_owned()))?;
        let parsed: awc::http::Uri = url.parse().map_err(|_| RequestError::Url(url.to_owned()))?;
        match (parsed.scheme_str(), parsed.host()) {
            (Some("http" | "https"), Some(_)) => {}
            _ => return Err(RequestError::Url(url.to_owned())),
        }
        let mut prepared = Vec::new();
        for (name, value) in headers {
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| RequestError::Header(name.to_owned()))?;
            let mut header_value =
                HeaderValue::from_str(value).map_err(|_| RequestError::Header(name.to_owned()))?;
            header_value.set_sensitive(true);
            prepared.push((header_name, header_value));
        }
        if !prepared.iter().any(|(n, _)| n == "content-type") {
            prepared.push((
                HeaderName::from_static("content-type"),
                HeaderValue::from_static("application/json"),
            ));
        }
        Ok(PreparedRequest {
            method,
            url: url.to_owned(),
            headers: prepared,
        })
    }
}

impl PreparedRequest {
    /// The same method and headers against another `url`; the loader
    /// validated the parts, so only the URL changes (not re-parsed).
    pub fn with_url(&self, url: String) -> PreparedRequest {
        PreparedRequest {
            method: self.method.clone(),
            url,
            headers: self.headers.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepares_and_hides_values() {
        let req = PreparedRequest::new(
            "post",
            "http://127.0.0.1:8000/trigger_invocation",
            [("Authorization", "Bearer canary-secret")],
        )
        .expect("valid");
        assert_eq!(req.method, Method::POST);
        let debug = format!("{req:?}");
        assert!(!debug.contains("canary-secret"), "{debug}");
        assert!(req.headers[0].1.is_sensitive());
        assert!(req.headers.iter().any(|(n, _)| n == "content-type"));
    }

    #[test]
    fn redacts_credentials_only() {
        for (url, shown) in [
            ("http://u:p@h:8000/x?q=1", "http://h:8000/x?q=1"),
            ("https://token@h", "https://h"),
            ("http://h/a@b", "http://h/a@b"),
            ("http://a@b@h/p", "http://h/p"),
            ("http://h:1/", "http://h:1/"),
            ("no scheme u:p@h", "no scheme u:p@h"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn rejects_bad_parts() {
        assert!(matches!(
            PreparedRequest::new("GE T", "http://h/", []),
            Err(RequestError::Method(_))
        ));
        for url in ["localhost:8000/x", "ftp://h/x", "/path", ""] {
            assert!(
                matches!(
                    PreparedRequest::new("GET", url, []),
                    Err(RequestError::Url(_))
                ),
                "{url}"
            );
        }
        assert!(matches!(
            PreparedRequest::new("GET", "http://h/", [("bad header", "v")]),
            Err(RequestError::Header(_))
        ));
        let err = PreparedRequest::new("GET", "http://h/", [("X-Key", "line\nbreak-secret")])
            .expect_err("newline in value");
        assert!(!err.to_string().contains("secret"));
    }
}
