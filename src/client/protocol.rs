//! HTTP versions: the one a scenario asks for ([`VersionPref`], `[http]
//! version`) and the ones a run saw ([`HttpVersion`], [`VersionSet`],
//! `summary.csv`'s `http_versions`).
//!
//! Pure values, no I/O: the attempt notes the version of each response it
//! got, the recorder ORs it into the arbiter-local delta, and the report
//! prints the set (`1.1`, `2`, `1.1+2`). A set, not counts: the question a
//! user asks is "did the gateway really speak HTTP/2 to us?", and a set
//! merges across sessions, arbiters and shards with one OR.

use std::fmt;
use std::str::FromStr;

/// `[http] version`: which protocol the client offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VersionPref {
    /// HTTP/2 where TLS ALPN offers it, else HTTP/1.1 (plain `http://` is
    /// always HTTP/1.1).
    #[default]
    Auto,
    /// HTTP/1.1 only (ALPN offers `http/1.1` alone).
    Http1,
    /// HTTP/2 only: ALPN offers `h2` alone on `https://`; on `http://`,
    /// h2c with prior knowledge (RFC 9113 §3.3).
    Http2,
}

impl VersionPref {
    /// Every preference, in documentation order.
    pub const ALL: [VersionPref; 3] = [VersionPref::Auto, VersionPref::Http1, VersionPref::Http2];

    /// The scenario spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionPref::Auto => "auto",
            VersionPref::Http1 => "1.1",
            VersionPref::Http2 => "2",
        }
    }

    /// The ALPN protocol IDs offered in the TLS handshake, most wanted first.
    pub fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            VersionPref::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            VersionPref::Http1 => vec![b"http/1.1".to_vec()],
            VersionPref::Http2 => vec![b"h2".to_vec()],
        }
    }

    /// True when a plain `http://` target is spoken to in h2c (prior knowledge).
    pub fn h2c(self) -> bool {
        self == VersionPref::Http2
    }
}

impl FromStr for VersionPref {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VersionPref::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for VersionPref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP version of one response, as negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
    /// HTTP/2.
    Http2,
}

impl HttpVersion {
    /// Every version, in report order.
    pub const ALL: [HttpVersion; 3] =
        [HttpVersion::Http10, HttpVersion::Http11, HttpVersion::Http2];

    /// The spelling in `http_versions`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "1.0",
            HttpVersion::Http11 => "1.1",
            HttpVersion::Http2 => "2",
        }
    }

    /// The version of a response awc read; `None` for versions it never
    /// produces (0.9, 3).
    pub fn of(version: awc::http::Version) -> Option<HttpVersion> {
        use awc::http::Version as V;
        match version {
            V::HTTP_10 => Some(HttpVersion::Http10),
            V::HTTP_11 => Some(HttpVersion::Http11),
            V::HTTP_2 => Some(HttpVersion::Http2),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The versions seen, as a bit set (`Copy`, merged with OR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VersionSet(u8);

impl VersionSet {
    /// Adds one version.
    pub fn insert(&mut self, version: HttpVersion) {
        self.0 |= version.bit();
    }

    /// Adds every version of `other`.
    pub fn merge(&mut self, other: VersionSet) {
        self.0 |= other.0;
    }

    /// Whether `version` was seen.
    pub fn contains(self, version: HttpVersion) -> bool {
        self.0 & version.bit() != 0
    }

    /// True when no response arrived.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for VersionSet {
    /// `1.1`, `2`, `1.1+2`; empty when no response arrived.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for v in HttpVersion::ALL.into_iter().filter(|v| self.contains(*v)) {
            if !first {
                f.write_str("+")?;
            }
            f.write_str(v.as_str())?;
            first = false;
        }
        Ok(())
    }
}

impl FromStr for VersionSet {
    type Err = String;
    /// The inverse of `Display` (for reading `summary.csv` back).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = VersionSet::default();
        for part in s.split('+').filter(|p| !p.is_empty()) {
            let v = HttpVersion::ALL
                .into_iter()
                .find(|v| v.as_str() == part)
                .ok_or_else(|| format!("`{part}` is not an HTTP version (1.0, 1.1, 2)"))?;
            set.insert(v);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_print_in_version_order_and_round_trip() {
        use HttpVersion::*;
        for (seen, shown) in [
            (&[][..], ""),
            (&[Http11][..], "1.1"),
            (&[Http2][..], "2"),
            (&[Http2, Http11][..], "1.1+2"),
            (&[Http2, Http11, Http2, Http10][..], "1.0+1.1+2"),
        ] {
            let mut set = VersionSet::default();
            for v in seen {
                set.insert(*v);
            }
            assert_eq!(set.to_string(), shown);
            assert_eq!(shown.parse::<VersionSet>(), Ok(set), "{shown}");
        }
        assert!("1.1+3".parse::<VersionSet>().is_err());
    }

    #[test]
    fn merge_is_union() {
        let (mut a, mut b) = (VersionSet::default(), VersionSet::default());
        a.insert(HttpVersion::Http11);
        b.insert(HttpVersion::Http2);
        a.merge(b);
        assert_eq!(a.to_string(), "1.1+2");
    }

    #[test]
    fn preferences_offer_the_right_alpn() {
        for (pref, alpn, h2c) in [
            (VersionPref::Auto, &[&b"h2"[..], b"http/1.1"][..], false),
            (VersionPref::Http1, &[&b"http/1.1"[..]][..], false),
            (VersionPref::Http2, &[&b"h2"[..]][..], true),
        ] {
            assert_eq!(pref.alpn(), alpn, "{pref}");
            assert_eq!(pref.h2c(), h2c, "{pref}");
            assert_eq!(pref.as_str().parse::<VersionPref>(), Ok(pref));
        }
        assert!("1".parse::<VersionPref>().is_err());
    }
}
