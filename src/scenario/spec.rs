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
pub use crate::client::backoff::{Backoff, Jitter};
pub use crate::client::breaker::BreakerConfig;
pub use crate::client::config::{
    Format, HttpSpec, Sequence, StreamMode, StreamSpec, TimeUnit, Timestamp,
};
pub use crate::client::retry::{RetryPolicy, RetrySet};
use crate::client::PreparedRequest;
pub use crate::faults::{FaultKind, FaultPlan, FaultWindow, ProxyFault};
pub use crate::load::executor::{ExecutorKind, Plan, Stage};
pub use crate::metrics::Slo;
use crate::scenario::thresholds::Threshold;
pub use crate::server::{BroadcastConfig, ServerConfig, ServerDialect, ServerMode};

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
    /// `[server]`: how the embedded reference server behaves (its `seed` is
    /// the scenario's; `workers` is set by the engine from the core count).
    pub server: ServerConfig,
    /// `[request]`.
    pub request: RequestSpec,
    /// `[stream]`.
    pub stream: StreamSpec,
    /// `[load]`.
    pub load: LoadSpec,
    /// `[retry]`: the client's policy itself.
    pub retry: RetryPolicy,
    /// `[breaker]`: the client's breaker settings themselves.
    pub breaker: BreakerConfig,
    /// `[http]`.
    pub http: HttpSpec,
    /// `[[faults]]`: validated windows, no two overlapping.
    pub faults: FaultPlan,
    /// `${VAR}`s that were unset when the scenario was loaded for `check`
    /// ([`LoadOptions::lenient_env`](super::LoadOptions)); always empty for `run`.
    pub unset_vars: Vec<String>,
    /// `[slo]`: what a good LLM stream is, for `goodput`.
    pub slo: Slo,
    /// `[thresholds]`, in file order.
    pub thresholds: Vec<Threshold>,
    /// The document as run (`--target` and `--set` applied, header values
    /// redacted, `${VAR}` not expanded): the report folder's `scenario.toml`.
    pub resolved: String,
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
    /// Method and headers as awc takes them, validated by the loader
    /// against the target's URL; [`RequestSpec::prepare`] only sets the URL.
    pub prepared: PreparedRequest,
}

impl RequestSpec {
    /// The request against `base` (the target, the embedded server or the
    /// fault proxy: `scheme://host:port`, no trailing slash) + `path`.
    /// Infallible: method and headers were validated when loading.
    pub fn prepare(&self, base: &str) -> PreparedRequest {
        self.prepared.with_url(format!("{base}{}", self.path))
    }
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
        self.render_sharded(session, iteration, 0, out);
    }

    /// [`BodySource::render`] in shard `shard` of a `--shard I/N` run
    /// (`shard` = I, from 1; 0 for a run that is not sharded), which is what
    /// `{{shard}}` renders as.
    pub fn render_sharded(&self, session: u64, iteration: u64, shard: u64, out: &mut Vec<u8>) {
        match self {
            BodySource::None => {}
            BodySource::Inline(t) => t.render_sharded(session, iteration, shard, out),
            BodySource::Lines(lines) => {
                if !lines.is_empty() {
                    let i = (session.wrapping_add(iteration) % lines.len() as u64) as usize;
                    lines[i].render_sharded(session, iteration, shard, out);
                }
            }
        }
    }

    /// Whether requests carry a body (and so a `Content-Type: application/json`).
    pub fn has_body(&self) -> bool {
        !matches!(self, BodySource::None)
    }
}

/// `[load]`: how many streams, when. The stages are held as the validated
/// [`Plan`] itself, the one home of the stage math.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSpec {
    /// Executor (default ramping-sessions) and stages (never empty; total
    /// duration > 0; `rate` + `for` become one stage). Default: one session
    /// for 10 s (`[{for="0s",to=1},{for="10s",to=1}]`).
    pub plan: Plan,
    /// Pause between a session's streams (default 0s).
    pub think_time: Duration,
    /// Open model only: concurrency cap; arrivals past it are dropped (default unset = no cap).
    pub max_sessions: Option<u32>,
    /// Report interval, key `interval` (default 1s).
    pub interval: Duration,
}

impl Default for LoadSpec {
    fn default() -> Self {
        let stages = vec![
            Stage {
                duration: Duration::ZERO,
                target: 1.0,
            },
            Stage {
                duration: Duration::from_secs(10),
                target: 1.0,
            },
        ];
        LoadSpec {
            plan: Plan::new(ExecutorKind::RampingSessions, stages)
                .expect("invariant: the default stages make a plan"),
            think_time: Duration::ZERO,
            max_sessions: None,
            interval: Duration::from_secs(1),
        }
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
    pub server: ServerConfig,
    /// `[request]`.
    pub request: RequestSpec,
    /// `[stream]`.
    pub stream: StreamSpec,
    /// `[retry]`.
    pub retry: RetryPolicy,
    /// `[breaker]`.
    pub breaker: BreakerConfig,
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
            prepared: PreparedRequest::new("POST", "http://127.0.0.1/trigger_invocation", [])
                .expect("invariant: the default request is valid"),
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
            retry: self.retry,
            breaker: self.breaker,
            http: self.http.clone(),
        }
    }
}
