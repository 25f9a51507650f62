//! The typed, validated scenario: what every other module reads.
//!
//! Values here are already checked and defaulted (`validate.rs` builds them),
//! so users of a [`Scenario`] never re-validate. `Duration` everywhere; no
//! strings standing for durations. `Debug` never shows a secret: header values
//! are [`Secret`], bodies print as written (before `${VAR}` expansion) and
//! [`Target`] prints without credentials.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::template::{BodyTemplate, Secret};
pub use crate::client::backoff::Jitter;
pub use crate::client::config::{Format, HttpSpec, StreamSpec};
pub use crate::load::executor::{ExecutorKind, Stage};
use crate::scenario::thresholds::Threshold;

/// A complete scenario (`streamsoak run` / `check`).
#[derive(Clone, Debug)]
pub struct Scenario {
    /// `name`: the only key without a default; names the report folder.
    pub name: String,
    /// The scenario file it was loaded from.
    pub file: PathBuf,
    /// `target`: the embedded server or a base URL.
    pub target: Target,
    /// `seed`: makes jitter, think time and arrivals reproducible (default 0).
    pub seed: u64,
    /// `proxy`: send traffic through the built-in fault proxy even when no
    /// fault needs it (default false). Proxy-kind faults on an external
    /// target ([`FaultKind::needs_proxy`]) need the proxy whatever this says.
    pub proxy: bool,
    /// `[server]`: how the embedded reference server behaves.
    pub server: ServerSpec,
    /// `[request]`.
    pub request: RequestSpec,
    /// `[stream]`.
    pub stream: StreamSpec,
    /// `[load]`.
    pub load: LoadSpec,
    /// `[retry]`.
    pub retry: RetrySpec,
    /// `[breaker]`.
    pub breaker: BreakerSpec,
    /// `[http]`.
    pub http: HttpSpec,
    /// `[[faults]]`, in file order.
    pub faults: Vec<FaultSpec>,
    /// `[thresholds]`, in file order.
    pub thresholds: Vec<Threshold>,
}

/// What the sessions talk to.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Target {
    /// The built-in reference server (`target = "embedded"`).
    #[default]
    Embedded,
    /// A base URL (`http`/`https`, no trailing slash, no query); may carry
    /// credentials, so print it with [`Target::display_redacted`].
    Url(String),
}

impl Target {
    /// The target for reports and logs: `embedded`, or the URL without
    /// `user:password@`.
    pub fn display_redacted(&self) -> String {
        match self {
            Target::Embedded => "embedded".to_owned(),
            Target::Url(url) => crate::client::redact_url(url),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Embedded => f.write_str("Embedded"),
            Target::Url(_) => f
                .debug_tuple("Url")
                .field(&self.display_redacted())
                .finish(),
        }
    }
}

/// `[server]`: the embedded reference server's default behaviour (request
/// body fields `events`, `interval_ms`, `first_delay_ms`, `payload_bytes`
/// override it per request).
#[derive(Clone, Debug, PartialEq)]
pub struct ServerSpec {
    /// Events per stream before the done event (default 4).
    pub events: u32,
    /// Gap between events (default 250ms).
    pub interval: Duration,
    /// Delay before the first event (default 0).
    pub first_event_delay: Duration,
    /// Padding added to each event's data (default 0).
    pub payload_bytes: usize,
    /// Share of requests answered 503 with Retry-After, 0..=1 (default 0).
    pub fail_rate: f64,
}

impl Default for ServerSpec {
    /// The embedded server's own defaults ([`ServerConfig`](crate::server::ServerConfig)).
    fn default() -> Self {
        let d = crate::server::ServerConfig::default();
        ServerSpec {
            events: d.events,
            interval: d.interval,
            first_event_delay: d.first_event_delay,
            payload_bytes: d.payload_bytes,
            fail_rate: d.fail_rate,
        }
    }
}

/// `[request]`: what each attempt sends.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    /// HTTP method, an RFC 9110 token, uppercased (default `POST`).
    pub method: String,
    /// Path (and query) appended to the target; starts with `/`
    /// (default `/trigger_invocation`).
    pub path: String,
    /// Headers in file order; values after `${VAR}` expansion, kept secret.
    pub headers: Vec<(String, Secret)>,
    /// The body (default `{"query": "load {{session}}/{{iteration}}"}` for
    /// methods that carry one, none for GET/HEAD/DELETE/OPTIONS).
    pub body: BodySource,
}

/// Where request bodies come from.
#[derive(Clone, Debug)]
pub enum BodySource {
    /// No body (and no `Content-Type`).
    None,
    /// `body = …`: one JSON template.
    Inline(BodyTemplate),
    /// `bodies_file`: one template per non-blank line, used round-robin.
    Lines(Vec<BodyTemplate>),
}

impl BodySource {
    /// Appends the body for a session's `iteration`-th stream to `out` (nothing
    /// for [`BodySource::None`]). `Lines` are taken round-robin starting at an
    /// offset per session: line `(session + iteration) % len`, so concurrent
    /// sessions spread over the file.
    pub fn render(&self, session: u64, iteration: u64, out: &mut Vec<u8>) {
        match self {
            BodySource::None => {}
            BodySource::Inline(t) => t.render(session, iteration, out),
            BodySource::Lines(lines) => {
                if !lines.is_empty() {
                    let i = (session.wrapping_add(iteration) % lines.len() as u64) as usize;
                    lines[i].render(session, iteration, out);
                }
            }
        }
    }

    /// Whether requests carry a body (and so a `Content-Type: application/json`).
    pub fn has_body(&self) -> bool {
        !matches!(self, BodySource::None)
    }
}

/// `[load]`: how many streams, when. [`LoadSpec::plan`] turns it into the
/// engine's `Plan`, the one home of the stage math.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSpec {
    /// Default ramping-sessions.
    pub executor: ExecutorKind,
    /// Never empty; total duration > 0. `rate` + `for` become one stage.
    /// Default: one session for 10 s (`[{for="0s",to=1},{for="10s",to=1}]`).
    pub stages: Vec<Stage>,
    /// Pause between a session's streams (default 0s).
    pub think_time: Duration,
    /// Open model only: concurrency cap; arrivals past it are dropped (default unset = no cap).
    pub max_sessions: Option<u32>,
    /// Report interval, key `interval` (default 1s).
    pub interval: Duration,
}

impl Default for LoadSpec {
    fn default() -> Self {
        LoadSpec {
            executor: ExecutorKind::RampingSessions,
            stages: vec![
                Stage {
                    duration: Duration::ZERO,
                    target: 1.0,
                },
                Stage {
                    duration: Duration::from_secs(10),
                    target: 1.0,
                },
            ],
            think_time: Duration::ZERO,
            max_sessions: None,
            interval: Duration::from_secs(1),
        }
    }
}

/// `[retry]`: plain validated values; `client::retry`/`backoff` build their
/// policies from these.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySpec {
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// `backoff.base`, > 0 (default 1s).
    pub base: Duration,
    /// `backoff.factor`, ≥ 1 (default 2.0).
    pub factor: f64,
    /// `backoff.max`, ≥ base (default 30s); also caps Retry-After.
    pub max: Duration,
    /// `backoff.jitter` (default full).
    pub jitter: Jitter,
    /// Use Retry-After on 429/503 (default true).
    pub honor_retry_after: bool,
    /// Kind or class names (validated, deduplicated, as written); default
    /// the kinds PRODUCT.md retries by default. See [`RetrySpec::retry_kinds`].
    pub retry_on: Vec<String>,
}

impl RetrySpec {
    /// `retry_on` expanded to kinds (classes become their kinds), without
    /// the kinds that are never retried whatever it says.
    /// Kinds are in report order; a name that is neither a kind nor a class
    /// (only in a hand-built spec: loading rejects it) adds nothing.
    pub fn retry_kinds(&self) -> Vec<crate::client::classify::FailureKind> {
        use crate::client::retry::RetrySet;
        let set: RetrySet = self
            .retry_on
            .iter()
            .filter_map(|name| RetrySet::from_names(&[name]).ok())
            .flat_map(RetrySet::iter)
            .collect();
        set.iter().filter(|kind| !kind.never_retried()).collect()
    }
}

impl Default for RetrySpec {
    /// The client's own defaults ([`RetryPolicy`](crate::client::retry::RetryPolicy)).
    fn default() -> Self {
        let d = crate::client::retry::RetryPolicy::default();
        RetrySpec {
            max_retries: d.max_retries,
            base: d.backoff.base(),
            factor: d.backoff.factor(),
            max: d.backoff.max(),
            jitter: d.backoff.jitter(),
            honor_retry_after: d.honor_retry_after,
            retry_on: d.retry_on.iter().map(|k| k.as_str().to_owned()).collect(),
        }
    }
}

/// `[breaker]` (Closed = admitting, Open = rejecting, HalfOpen = probing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakerSpec {
    /// Consecutive failed streams that open it, ≥ 1 (default 3).
    pub failure_threshold: u32,
    /// Time open before half-open, > 0 (default 30s).
    pub open_for: Duration,
    /// Successful probes that close it again, ≥ 1 (default 1).
    pub half_open_probes: u32,
}

impl Default for BreakerSpec {
    /// The client's own defaults ([`BreakerConfig`](crate::client::breaker::BreakerConfig)).
    fn default() -> Self {
        let d = crate::client::breaker::BreakerConfig::default();
        BreakerSpec {
            failure_threshold: d.failure_threshold,
            open_for: d.open_for,
            half_open_probes: d.half_open_probes,
        }
    }
}

/// One `[[faults]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpec {
    /// Start, from the beginning of the run.
    pub at: Duration,
    /// Length (key `for`), > 0; `at + duration` ≤ the plan's total duration.
    pub duration: Duration,
    /// What happens.
    pub kind: FaultKind,
    /// Line of the `[[faults]]` header (0 if set by `--set`).
    pub line: usize,
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Embedded target only: the server stops (listener closed, streams cut), restarts after `for`.
    Shutdown,
    /// Connections are refused.
    Refuse,
    /// Connections are reset mid-stream.
    Reset,
    /// Streams stop sending (no bytes) but stay open.
    Stall,
    /// Every response is delayed by this much (`latency = "300ms"`, required).
    Latency(Duration),
    /// Requests are answered with `status` (`status = 503` default; 400..=599).
    Status {
        /// The status code.
        status: u16,
        /// `retry_after`: a Retry-After header to send, if any.
        retry_after: Option<Duration>,
    },
    /// Runs shell command `start` at `at` and `end` (may be empty) after `for`.
    Exec {
        /// Command run at the fault's start.
        start: String,
        /// Command run at its end; empty = none.
        end: String,
    },
}

impl FaultKind {
    /// One fault of each kind, with placeholder settings; their
    /// [`name`](FaultKind::name)s are the valid `kind` spellings.
    pub(crate) const EACH: [FaultKind; 7] = [
        FaultKind::Shutdown,
        FaultKind::Refuse,
        FaultKind::Reset,
        FaultKind::Stall,
        FaultKind::Latency(Duration::ZERO),
        FaultKind::Status {
            status: 503,
            retry_after: None,
        },
        FaultKind::Exec {
            start: String::new(),
            end: String::new(),
        },
    ];

    /// The `kind` spelling.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Shutdown => "shutdown",
            FaultKind::Refuse => "refuse",
            FaultKind::Reset => "reset",
            FaultKind::Stall => "stall",
            FaultKind::Latency(_) => "latency",
            FaultKind::Status { .. } => "status",
            FaultKind::Exec { .. } => "exec",
        }
    }

    /// Whether the fault is applied by the built-in fault proxy (for an external target).
    pub fn needs_proxy(&self) -> bool {
        !matches!(self, FaultKind::Shutdown | FaultKind::Exec { .. })
    }
}

/// The settings `streamsoak stream --scenario` takes from a scenario file
/// (no `name`, `[load]`, faults or thresholds needed).
#[derive(Clone, Debug, Default)]
pub struct ClientSettings {
    /// `target` (the `--url` flag overrides it and `request.path`).
    pub target: Target,
    /// `seed`, for backoff jitter.
    pub seed: u64,
    /// `[server]`, for an embedded target.
    pub server: ServerSpec,
    /// `[request]`.
    pub request: RequestSpec,
    /// `[stream]`.
    pub stream: StreamSpec,
    /// `[retry]`.
    pub retry: RetrySpec,
    /// `[breaker]`.
    pub breaker: BreakerSpec,
    /// `[http]`.
    pub http: HttpSpec,
}

impl Default for RequestSpec {
    fn default() -> Self {
        let body = serde_json::json!({ "query": "load {{session}}/{{iteration}}" });
        let template = BodyTemplate::compile(&body, &|_| None)
            .expect("invariant: the default body has no ${VAR} and known placeholders");
        RequestSpec {
            method: "POST".to_owned(),
            path: "/trigger_invocation".to_owned(),
            headers: Vec::new(),
            body: BodySource::Inline(template),
        }
    }
}

impl Scenario {
    /// The client-side settings of this scenario (for `stream`-like use).
    pub fn client_settings(&self) -> ClientSettings {
        ClientSettings {
            target: self.target.clone(),
            seed: self.seed,
            server: self.server.clone(),
            request: self.request.clone(),
            stream: self.stream.clone(),
            retry: self.retry.clone(),
            breaker: self.breaker.clone(),
            http: self.http.clone(),
        }
    }
}
