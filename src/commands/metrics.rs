//! `run --metrics-addr HOST:PORT` and `--metrics-linger DURATION`, parsed
//! into typed values once.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::error::Error;
use crate::scenario::HumanDuration;

/// `--metrics-addr`: `127.0.0.1:9464`, `[::1]:9464`, `localhost:9464` or
/// `0.0.0.0:9464` (the address to listen on; any the machine has).
pub(super) fn metrics_addr(value: Option<&str>) -> Result<Option<SocketAddr>, Error> {
    let Some(value) = value else { return Ok(None) };
    let bad = |why: String| {
        Error::Usage(format!(
            "--metrics-addr `{value}`: {why}; write HOST:PORT, e.g. 127.0.0.1:9464"
        ))
    };
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(Some(addr));
    }
    if !value.contains(':') {
        return Err(bad("no port".to_owned()));
    }
    let mut addrs = value
        .to_socket_addrs()
        .map_err(|err| bad(format!("cannot be resolved ({err})")))?;
    addrs
        .next()
        .map(Some)
        .ok_or_else(|| bad("resolves to no address".to_owned()))
}

/// `--metrics-linger`: a duration such as `15s` (`0s`: do not wait).
pub(super) fn metrics_linger(value: &str) -> Result<Duration, Error> {
    value
        .parse::<HumanDuration>()
        .map(|d| d.get())
        .map_err(|err| Error::Usage(format!("--metrics-linger `{value}`: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for (text, expected) in [
            ("127.0.0.1:9464", Some("127.0.0.1:9464")),
            ("[::1]:9464", Some("[::1]:9464")),
            ("0.0.0.0:0", Some("0.0.0.0:0")),
        ] {
            let got = metrics_addr(Some(text))
                .ok()
                .flatten()
                .map(|a| a.to_string());
            assert_eq!(got.as_deref(), expected, "{text}");
        }
        assert!(
            matches!(metrics_addr(Some("localhost:9464")), Ok(Some(a)) if a.ip().is_loopback())
        );
        assert!(matches!(metrics_addr(None), Ok(None)));
        for bad in ["127.0.0.1", "127.0.0.1:99999", ":", "9464"] {
            let err = metrics_addr(Some(bad)).expect_err(bad);
            assert!(
                matches!(&err, Error::Usage(m) if m.contains("--metrics-addr") && m.contains("HOST:PORT")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn lingers() {
        assert_eq!(metrics_linger("15s").ok(), Some(Duration::from_secs(15)));
        assert_eq!(metrics_linger("0s").ok(), Some(Duration::ZERO));
        assert!(
            matches!(metrics_linger("soon"), Err(Error::Usage(m)) if m.contains("--metrics-linger"))
        );
    }
}
