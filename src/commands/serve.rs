//! `streamsoak serve`: the embedded reference server, standalone.

use std::net::SocketAddr;
use std::time::Duration;

use crate::cli::{DialectArg, ServeArgs};
use crate::error::Error;
use crate::scenario::units::HumanDuration;
use crate::server::{BroadcastConfig, EmbeddedServer, ServerConfig, ServerDialect, ServerMode};

fn duration(flag: &str, value: &str) -> Result<Duration, Error> {
    value
        .parse::<HumanDuration>()
        .map(|d| d.0)
        .map_err(|err| Error::Usage(format!("--{flag} `{value}`: {err}")))
}

/// Serves until Ctrl+C / SIGTERM; prints what it served on exit.
pub(super) fn run(args: ServeArgs) -> Result<u8, Error> {
    if !(0.0..=1.0).contains(&args.fail_rate) {
        return Err(Error::Usage(format!(
            "--fail-rate {} must be between 0.0 and 1.0",
            args.fail_rate
        )));
    }
    let mode = if args.mode == "broadcast" {
        if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 1_000_000.0) {
            return Err(Error::Usage(format!(
                "--rate {} must be more than 0 and at most 1000000 events per second",
                args.rate
            )));
        }
        ServerMode::Broadcast(BroadcastConfig {
            rate: args.rate,
            replay: args.replay,
            path: None,
        })
    } else {
        ServerMode::Stream
    };
    let broadcast = matches!(mode, ServerMode::Broadcast(_));
    let config = ServerConfig {
        mode,
        events: args.events,
        interval: duration("interval", &args.interval)?,
        first_event_delay: duration("first-event-delay", &args.first_event_delay)?,
        payload_bytes: args.payload_bytes,
        fail_rate: args.fail_rate,
        seed: args.seed,
        workers: args.workers.max(1),
        tls: args.tls,
        dialect: match args.dialect {
            DialectArg::Seed => ServerDialect::Seed,
            DialectArg::Openai => ServerDialect::OpenAi,
        },
        path: None,
    };
    let addr = SocketAddr::new(args.bind, args.port);
    // Each open stream is a descriptor: thousands of clients need more than 1,024.
    super::run::raise_open_file_limit();
    actix_rt::System::new().block_on(async move {
        let server = EmbeddedServer::start(config, addr).await.map_err(|err| {
            Error::Runtime(format!(
                "cannot listen on {addr}: {err} (is another server using port {}? try --port)",
                args.port
            ))
        })?;
        if let Some(tls) = server.tls() {
            let path = args
                .ca_out
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("streamsoak-serve-ca.pem"));
            std::fs::write(&path, tls.ca_pem()).map_err(|err| Error::io(&path, err))?;
            eprintln!(
                "streamsoak serve: TLS with a generated CA (SHA-256 {}), written to {}: give it to clients as [http] ca_file = \"{}\" (HTTP/2 and HTTP/1.1 by ALPN)",
                tls.ca_fingerprint(),
                path.display(),
                path.display()
            );
        }
        let stream_route = if broadcast {
            "GET {}/events (broadcast)"
        } else {
            "POST {}/trigger_invocation"
        };
        eprintln!(
            "streamsoak serve: listening on {} — {}, GET {}/stats (Ctrl+C to stop)",
            server.local_addr(),
            stream_route.replace("{}", &server.base_url()),
            server.base_url()
        );
        if args.dialect == DialectArg::Openai {
            eprintln!(
                "streamsoak serve: OpenAI streams on POST {0}/v1/chat/completions and {0}/v1/completions",
                server.base_url()
            );
        }
        crate::signals::wait_for_signal().await;
        let stats = server.stats();
        server.stop().await;
        eprintln!(
            "streamsoak serve: stopped; served {} streams ({} completed, {} cut), {} events, {} published",
            stats.streams_started,
            stats.streams_completed,
            stats.streams_cut,
            stats.events_sent,
            stats.published
        );
        Ok(0)
    })
}
