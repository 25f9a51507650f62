//! Command-line definitions (clap derive) — parsing only, no behaviour.
//!
//! Raw arguments are validated once into typed values by the command
//! modules in [`crate::commands`]; nothing downstream re-reads strings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load and soak tester for Server-Sent Events streaming endpoints.
///
/// Exit codes: 0 ran and every threshold held; 1 a threshold failed (for
/// `stream`: the stream failed); 2 bad usage or invalid scenario; 3 the
/// tool itself failed (e.g. cannot write the report).
#[derive(Debug, Parser)]
#[command(name = "streamsoak", version, about, long_about = None)]
pub struct Cli {
    /// -v: each attempt, its outcome and breaker changes; -vv: also each SSE line (stderr). RUST_LOG is honoured.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of PRODUCT.md.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: live progress, report folder, thresholds (exit 1 if one fails).
    Run(RunArgs),
    /// Validate a scenario and print the resolved plan without sending traffic.
    Check(CheckArgs),
    /// The seed's single client: print events as they arrive, then metrics and collected responses.
    Stream(StreamArgs),
    /// Run the embedded reference SSE server on 127.0.0.1.
    Serve(ServeArgs),
    /// Merge shard report folders losslessly into one report.
    Merge(MergeArgs),
    /// Regenerate the summaries and HTML of a report folder from its raw data.
    Report(ReportArgs),
}

/// Scenario overrides shared by `run` and `check`.
#[derive(Debug, Args, Clone, Default)]
pub struct ScenarioArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Override the scenario's target ("embedded" or a base URL).
    #[arg(long)]
    pub target: Option<String>,
    /// Override a scenario key, e.g. --set load.stages.1.to=200 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Run the I-th of N equal slices of the scenario (1-based), e.g. 2/4.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
}

/// `streamsoak run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Report folder (default `reports/<name>-<UTC timestamp>/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write into an existing non-empty --out folder.
    #[arg(long)]
    pub force: bool,
    /// Write every event as a JSON line to FILE.
    #[arg(long, value_name = "FILE")]
    pub events_out: Option<PathBuf>,
    /// Serve live Prometheus/OpenMetrics metrics at http://HOST:PORT/metrics during the run.
    #[arg(long, value_name = "HOST:PORT", env = "STREAMSOAK_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// After the run, keep /metrics up until it is scraped with the final figures, at most this long (e.g. your scrape interval, 15s).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "0s",
        env = "STREAMSOAK_METRICS_LINGER"
    )]
    pub metrics_linger: String,
    /// No live progress.
    #[arg(long, short)]
    pub quiet: bool,
    /// Prepare, then begin the plan at TIME (RFC 3339 UTC, e.g. 2025-06-01T12:00:00Z, or +90s): every shard's t = 0.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
}

/// `streamsoak check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
}

/// Event data format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    /// Data is a JSON object with Count/Data/error fields.
    Json,
    /// Data is opaque text.
    Text,
    /// OpenAI chat completions stream (content, `[DONE]`, usage).
    OpenaiChat,
    /// OpenAI (legacy) completions stream.
    OpenaiCompletions,
    /// Anthropic Messages stream.
    Anthropic,
}

/// `streamsoak stream`.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Full URL of the streaming endpoint [default: http://localhost:8000/trigger_invocation].
    #[arg(long)]
    pub url: Option<String>,
    /// Query sent as {"query": Q} [default: "test query"].
    #[arg(long)]
    pub query: Option<String>,
    /// Take `[request]`, `[stream]`, `[retry]`, `[breaker]` and `[http]` from a scenario file.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Event data format.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// HTTP method (POST by default; GET for plain SSE endpoints).
    #[arg(long)]
    pub method: Option<String>,
    /// Extra header K:V (repeatable).
    #[arg(long = "header", value_name = "K:V")]
    pub headers: Vec<String>,
    /// Request body as JSON (overrides --query).
    #[arg(long)]
    pub body: Option<String>,
    /// Maximum retries after the first attempt.
    #[arg(long)]
    pub retries: Option<u32>,
    /// Write each dispatched event as a JSON line {"t_ms","event","id","data"} to FILE.
    #[arg(long, value_name = "FILE")]
    pub events_out: Option<PathBuf>,
}

/// `streamsoak serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Events per stream (before the completion event).
    #[arg(long, default_value_t = 4)]
    pub events: u32,
    /// Interval between events, e.g. 250ms.
    #[arg(long, default_value = "250ms")]
    pub interval: String,
    /// Delay before the first event, e.g. 0ms.
    #[arg(long, default_value = "0ms")]
    pub first_event_delay: String,
    /// Padding bytes per event.
    #[arg(long, default_value_t = 0)]
    pub payload_bytes: usize,
    /// Share of requests answered 503 with Retry-After (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Seed for fail_rate draws.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with a CA and certificate
    /// generated at start; the CA is written to --ca-out for clients.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: where to write the generated CA certificate (PEM)
    /// [default: streamsoak-serve-ca.pem in the system's temp folder].
    #[arg(long, requires = "tls")]
    pub ca_out: Option<PathBuf>,
    /// Stream dialect: `seed` (POST /trigger_invocation) or `openai` (also
    /// POST /v1/chat/completions and /v1/completions, token streams).
    #[arg(long, value_enum, default_value = "seed")]
    pub dialect: DialectArg,
    /// "stream" (a stream per request) or "broadcast" (one publisher, every subscriber of GET /events).
    #[arg(long, default_value = "stream", value_parser = ["stream", "broadcast"])]
    pub mode: String,
    /// Broadcast: events per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Broadcast: most recent events replayed after Last-Event-ID (0: none).
    #[arg(long, default_value_t = 0)]
    pub replay: usize,
}

/// `serve --dialect`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DialectArg {
    /// The seed's `{"Count", "Data"}` events.
    Seed,
    /// OpenAI chat completions / completions streams.
    Openai,
}

/// `streamsoak merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard report folders.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Write into an existing non-empty --out folder.
    #[arg(long)]
    pub force: bool,
}

/// `streamsoak report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A report folder.
    pub dir: PathBuf,
    /// Re-gate with the `[thresholds]` of this TOML file instead of the run's.
    #[arg(long)]
    pub thresholds: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
