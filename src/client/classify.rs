//! Failure classes and kinds: how every failed attempt is named.
//!
//! A target failure is data, not an `Err`: each failed attempt gets exactly one
//! [`FailureKind`], which belongs to one [`FailureClass`] (the seed's four
//! families). The kebab-case spelling from [`FailureKind::as_str`] is the one
//! written in `errors.csv` and accepted in `retry_on` and thresholds
//! (`errors.<class>`, `errors.<kind>`), so it is part of the product contract.

use std::fmt;
use std::str::FromStr;

/// The family a failure belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureClass {
    /// The connection could not be made or was torn down.
    Network,
    /// The server answered, but not with an event stream we can read.
    Server,
    /// The event stream started but did not complete as it should.
    Stream,
    /// Our side: data we could not interpret, cancellation, breaker rejection.
    Application,
}

impl FailureClass {
    /// Every class, in report order.
    pub const ALL: [FailureClass; 4] = [
        FailureClass::Network,
        FailureClass::Server,
        FailureClass::Stream,
        FailureClass::Application,
    ];

    /// The spelling used in reports, `retry_on` and thresholds.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Network => "network",
            FailureClass::Server => "server",
            FailureClass::Stream => "stream",
            FailureClass::Application => "application",
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureClass {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FailureClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// One precise reason an attempt failed (or, for `malformed-event`, a
/// problem counted while the stream went on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// Connection refused: nothing listens on that port.
    ConnectRefused,
    /// The host name could not be resolved.
    Dns,
    /// No route to the host or network.
    Unreachable,
    /// Connect plus response headers took longer than `http.timeout`.
    ConnectTimeout,
    /// TLS handshake or certificate failure.
    Tls,
    /// The connection was reset or broken by the peer.
    Reset,
    /// HTTP 408 Request Timeout.
    Status408,
    /// HTTP 429 Too Many Requests.
    Status429,
    /// Any HTTP 5xx.
    Status5xx,
    /// Any other 4xx (nor 408 nor 429), or another status outside 2xx/3xx/5xx.
    Status4xx,
    /// A 2xx other than 200 (e.g. 201, 204): not an event stream (WHATWG).
    Status2xx,
    /// A 3xx that was not followed: a redirect without (a usable) `Location`,
    /// the 11th redirect in a row, or another 3xx (300, 304…).
    Status3xx,
    /// The response was not `text/event-stream`.
    WrongContentType,
    /// The response could not be parsed as HTTP, or used an encoding we cannot read.
    MalformedResponse,
    /// No event arrived within `first_event_timeout`.
    FirstEventTimeout,
    /// The gap between two events exceeded `idle_timeout`.
    IdleTimeout,
    /// The stream ran longer than `max_duration`.
    MaxDuration,
    /// The body ended (or the connection closed) before completion.
    Cut,
    /// An event or line larger than `max_event_size`.
    OversizedEvent,
    /// The server sent an event whose error field is set.
    ServerError,
    /// Event data was not the JSON expected (counted; the stream goes on).
    MalformedEvent,
    /// The attempt was cancelled by us (shutdown, Ctrl+C).
    Cancelled,
    /// The breaker was open: no attempt was made.
    ShortCircuited,
}

impl FailureKind {
    /// Every kind, in report order (grouped by class).
    pub const ALL: [FailureKind; 23] = [
        FailureKind::ConnectRefused,
        FailureKind::Dns,
        FailureKind::Unreachable,
        FailureKind::ConnectTimeout,
        FailureKind::Tls,
        FailureKind::Reset,
        FailureKind::Status408,
        FailureKind::Status429,
        FailureKind::Status5xx,
        FailureKind::Status4xx,
        FailureKind::Status2xx,
        FailureKind::Status3xx,
        FailureKind::WrongContentType,
        FailureKind::MalformedResponse,
        FailureKind::FirstEventTimeout,
        FailureKind::IdleTimeout,
        FailureKind::MaxDuration,
        FailureKind::Cut,
        FailureKind::OversizedEvent,
        FailureKind::ServerError,
        FailureKind::MalformedEvent,
        FailureKind::Cancelled,
        FailureKind::ShortCircuited,
    ];

    /// Number of kinds; counters are arrays of this length indexed by [`FailureKind::index`].
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index in `0..COUNT`, for array-backed counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The spelling used in `errors.csv`, `retry_on` and thresholds.
    pub fn as_str(self) -> &'static str {
        use FailureKind::*;
        match self {
            ConnectRefused => "connect-refused",
            Dns => "dns",
            Unreachable => "unreachable",
            ConnectTimeout => "connect-timeout",
            Tls => "tls",
            Reset => "reset",
            Status408 => "status-408",
            Status429 => "status-429",
            Status5xx => "status-5xx",
            Status4xx => "status-4xx",
            Status2xx => "status-2xx",
            Status3xx => "status-3xx",
            WrongContentType => "wrong-content-type",
            MalformedResponse => "malformed-response",
            FirstEventTimeout => "first-event-timeout",
            IdleTimeout => "idle-timeout",
            MaxDuration => "max-duration",
            Cut => "cut",
            OversizedEvent => "oversized-event",
            ServerError => "server-error",
            MalformedEvent => "malformed-event",
            Cancelled => "cancelled",
            ShortCircuited => "short-circuited",
        }
    }

    /// The class this kind belongs to.
    pub fn class(self) -> FailureClass {
        use FailureKind::*;
        match self {
            ConnectRefused | Dns | Unreachable | ConnectTimeout | Tls | Reset => {
                FailureClass::Network
            }
            Status408 | Status429 | Status5xx | Status4xx | Status2xx | Status3xx
            | WrongContentType | MalformedResponse => FailureClass::Server,
            FirstEventTimeout | IdleTimeout | MaxDuration | Cut | OversizedEvent | ServerError => {
                FailureClass::Stream
            }
            MalformedEvent | Cancelled | ShortCircuited => FailureClass::Application,
        }
    }

    /// Whether PRODUCT.md's default `retry_on` list retries this kind.
    pub fn retried_by_default(self) -> bool {
        use FailureKind::*;
        matches!(
            self,
            ConnectRefused
                | Dns
                | Unreachable
                | ConnectTimeout
                | Tls
                | Reset
                | Status408
                | Status429
                | Status5xx
                | FirstEventTimeout
                | IdleTimeout
                | Cut
        )
    }

    /// Kinds that are never retried whatever `retry_on` says: client errors
    /// (4xx other than 408/429), breaker rejections, cancellation.
    pub fn never_retried(self) -> bool {
        matches!(
            self,
            FailureKind::Status4xx | FailureKind::ShortCircuited | FailureKind::Cancelled
        )
    }

    /// The kind for an HTTP status that is not a stream's 200 (WHATWG
    /// EventSource: only 200 is a stream; a redirect reaching us was not followed).
    pub fn from_status(status: u16) -> FailureKind {
        match status {
            408 => FailureKind::Status408,
            429 => FailureKind::Status429,
            200..=299 => FailureKind::Status2xx,
            300..=399 => FailureKind::Status3xx,
            500..=599 => FailureKind::Status5xx,
            _ => FailureKind::Status4xx,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FailureKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// A class or kind name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error class or kind `{0}`")]
pub struct UnknownName(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (i, kind) in FailureKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i, "ALL is in declaration order");
            assert_eq!(kind.as_str().parse::<FailureKind>(), Ok(kind));
            assert!(seen.insert(kind.as_str()));
        }
        for class in FailureClass::ALL {
            assert_eq!(class.as_str().parse::<FailureClass>(), Ok(class));
        }
        assert!("status-1xx".parse::<FailureKind>().is_err());
    }

    #[test]
    fn default_retry_set_matches_product_table() {
        let retried: Vec<&str> = FailureKind::ALL
            .into_iter()
            .filter(|k| k.retried_by_default())
            .map(FailureKind::as_str)
            .collect();
        assert_eq!(
            retried,
            [
                "connect-refused",
                "dns",
                "unreachable",
                "connect-timeout",
                "tls",
                "reset",
                "status-408",
                "status-429",
                "status-5xx",
                "first-event-timeout",
                "idle-timeout",
                "cut"
            ]
        );
        assert!(FailureKind::ALL
            .into_iter()
            .filter(|k| k.class() == FailureClass::Application)
            .all(|k| !k.retried_by_default()));
    }

    #[test]
    fn status_mapping() {
        for (status, kind) in [
            (408, FailureKind::Status408),
            (429, FailureKind::Status429),
            (500, FailureKind::Status5xx),
            (503, FailureKind::Status5xx),
            (599, FailureKind::Status5xx),
            (400, FailureKind::Status4xx),
            (404, FailureKind::Status4xx),
            (100, FailureKind::Status4xx),
            (201, FailureKind::Status2xx),
            (204, FailureKind::Status2xx),
            (206, FailureKind::Status2xx),
            (299, FailureKind::Status2xx),
            (300, FailureKind::Status3xx),
            (302, FailureKind::Status3xx),
            (304, FailureKind::Status3xx),
            (308, FailureKind::Status3xx),
        ] {
            assert_eq!(FailureKind::from_status(status), kind, "{status}");
        }
    }
}
