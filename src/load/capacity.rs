//! Whether this machine can hold the planned peak of open streams: file
//! descriptors and ephemeral ports, checked before a run starts (issue #16).
//!
//! Pure: the caller reads the limits (`nofile` after raising it, the
//! kernel's ephemeral port range) and passes them in, so the rule is
//! table-tested. The rule:
//! - every open stream is one socket; with the embedded server in the same
//!   process it is two (the server's end too); plus a margin for the
//!   process's own files, listeners and connections still closing;
//! - towards one server address, each source address has one ephemeral
//!   port range (loopback: 32768–60999, about 28,000), so more streams need
//!   `[http] local_addresses` (or several server ports / shards against
//!   several servers).

/// Descriptors kept for everything that is not a stream (report files,
/// listeners, the runtime, sockets in TIME_WAIT-free closing).
pub const FD_MARGIN: u64 = 200;

/// What the check needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open-file limit of this process (after raising it as far as allowed).
    pub nofile: u64,
    /// Ephemeral ports per source address (`ip_local_port_range`), if known.
    pub ports: Option<u64>,
}

/// What the run plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Demand {
    /// Most streams open at once in this process (this shard's peak sessions).
    pub peak: u64,
    /// The embedded server runs in this process (two descriptors per stream).
    pub embedded: bool,
    /// Source addresses the streams are spread over (`local_addresses`; 0 = one).
    pub sources: u64,
}

/// The problems, as sentences for stderr (empty: the machine can hold it).
pub fn check(demand: Demand, limits: Limits) -> Vec<String> {
    let mut out = Vec::new();
    let per_stream = if demand.embedded { 2 } else { 1 };
    let fds = demand.peak * per_stream + FD_MARGIN;
    if fds > limits.nofile {
        let fit = limits.nofile.saturating_sub(FD_MARGIN) / per_stream;
        out.push(format!(
            "the planned peak of {} open streams needs about {fds} file descriptors{}, but this process may open {} (nofile): about {fit} streams fit; raise `ulimit -n`, or split the run with --shard I/N over several processes",
            demand.peak,
            if demand.embedded { " (two per stream: the embedded server is in this process)" } else { "" },
            limits.nofile
        ));
    }
    if let Some(ports) = limits.ports {
        let sources = demand.sources.max(1);
        let capacity = ports * sources;
        if demand.peak > capacity {
            out.push(format!(
                "the planned peak of {} open streams needs more ephemeral ports than {sources} source address(es) have towards one server address ({ports} each, {capacity} in all): add source IPs with [http] local_addresses = [\"127.0.0.2\", …], or spread the load over several server ports",
                demand.peak
            ));
        }
    }
    out
}

/// Ports in a Linux `ip_local_port_range` file's text (`"32768\t60999"`).
pub fn port_range(text: &str) -> Option<u64> {
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    let (low, high) = (it.next()?.ok()?, it.next()?.ok()?);
    (high >= low).then(|| high - low + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_table() {
        let here = Limits {
            nofile: 20_000,
            ports: Some(28_232),
        };
        // (peak, embedded, sources, limits, problems: fds, ports)
        let cases = [
            (19_000, false, 0, here, (false, false)),
            (19_900, false, 0, here, (true, false)),
            (9_000, true, 0, here, (false, false)),
            (10_000, true, 0, here, (true, false)),
            (
                30_000,
                false,
                0,
                Limits {
                    nofile: 1 << 20,
                    ports: Some(28_232),
                },
                (false, true),
            ),
            (
                30_000,
                false,
                2,
                Limits {
                    nofile: 1 << 20,
                    ports: Some(28_232),
                },
                (false, false),
            ),
            (
                60_000,
                false,
                2,
                Limits {
                    nofile: 1 << 20,
                    ports: Some(28_232),
                },
                (false, true),
            ),
            (
                60_000,
                false,
                0,
                Limits {
                    nofile: 1 << 20,
                    ports: None,
                },
                (false, false),
            ),
            (
                0,
                false,
                0,
                Limits {
                    nofile: 100,
                    ports: Some(10),
                },
                (true, false),
            ),
        ];
        for (peak, embedded, sources, limits, (fds, ports)) in cases {
            let problems = check(
                Demand {
                    peak,
                    embedded,
                    sources,
                },
                limits,
            );
            let has = |word: &str| problems.iter().any(|p| p.contains(word));
            assert_eq!(
                (has("file descriptors"), has("ephemeral ports")),
                (fds, ports),
                "{peak} {embedded} {sources} {limits:?}: {problems:?}"
            );
        }
        let fds = check(
            Demand {
                peak: 19_900,
                embedded: false,
                sources: 0,
            },
            here,
        );
        assert!(fds[0].contains("about 19800 streams fit"), "{fds:?}");
    }

    #[test]
    fn port_ranges() {
        for (text, want) in [
            ("32768\t60999\n", Some(28_232)),
            ("1024 65535", Some(64_512)),
            ("5 4", None),
            ("", None),
            ("a b", None),
        ] {
            assert_eq!(port_range(text), want, "{text:?}");
        }
    }
}
