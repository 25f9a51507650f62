//! The settings the client reads: `[stream]` (how a response stream is read
//! and judged) and `[http]` (the transport).
//!
//! Defined here so that `client/` depends on nothing above it; `scenario/`
//! validates a file into these values and re-exports them
//! (`scenario::{StreamSpec, Format, HttpSpec}`), so they are built once and
//! carried as they are.

use std::time::Duration;

use crate::client::dialect::{ContentPointer, Dialect, Preset};
pub use crate::client::protocol::VersionPref;
pub use crate::client::tls::TlsFiles;

/// `[stream] format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Event data is a JSON object with the configured fields.
    Json,
    /// Event data is opaque text.
    Text,
    /// OpenAI chat completions stream (an LLM preset of `json`).
    OpenAiChat,
    /// OpenAI (legacy) completions stream.
    OpenAiCompletions,
    /// Anthropic Messages stream.
    Anthropic,
}

impl Format {
    /// Every format, in the order `check` suggests them.
    pub const ALL: [Format; 5] = [
        Format::Json,
        Format::Text,
        Format::OpenAiChat,
        Format::OpenAiCompletions,
        Format::Anthropic,
    ];

    /// The spelling in scenario files and `--format`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Text => "text",
            Format::OpenAiChat => "openai-chat",
            Format::OpenAiCompletions => "openai-completions",
            Format::Anthropic => "anthropic",
        }
    }

    /// `openai-chat` or `openai-completions`.
    pub fn is_openai(self) -> bool {
        matches!(self, Format::OpenAiChat | Format::OpenAiCompletions)
    }

    /// The LLM preset, for the three LLM formats.
    pub fn preset(self) -> Option<Preset> {
        match self {
            Format::Json | Format::Text => None,
            Format::OpenAiChat => Some(Preset::OpenAiChat),
            Format::OpenAiCompletions => Some(Preset::OpenAiCompletions),
            Format::Anthropic => Some(Preset::Anthropic),
        }
    }
}

/// `[stream]`: how a response stream is read and judged.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSpec {
    /// json (default) or text.
    pub format: Format,
    /// JSON field holding the event's data (default `Data`).
    pub data_field: String,
    /// JSON field holding the event counter (default `Count`).
    pub count_field: String,
    /// JSON field that, when set, makes the event a server-sent error (default `error`).
    pub error_field: String,
    /// Data that marks normal completion. json default `Stream completed`;
    /// text default none; `done = ""` means none (clean end of body completes).
    pub done: Option<String>,
    /// Longest wait for the first event (default 10s).
    pub first_event_timeout: Duration,
    /// Longest gap between events (default 10s).
    pub idle_timeout: Duration,
    /// Longest whole stream (default 120s).
    pub max_duration: Duration,
    /// Largest event or line; bigger fails the stream (default 1MiB).
    pub max_event_size: usize,
    /// Fewer events in a completed stream is a failure (default unset).
    pub expect_events: Option<u64>,
    /// Retries resume: they send `Last-Event-ID` with the last event ID
    /// received and the parser starts from it (default true).
    pub resume: bool,
    /// JSON pointer to the content of a token stream: set by the LLM
    /// presets (their content) or by `content_field` (which overrides a
    /// preset's). Set = the stream is read as an LLM token stream
    /// ([`StreamSpec::dialect`]).
    pub content: Option<ContentPointer>,
    /// `[stream] mode`: request (default) or a held subscription (issue #16).
    pub mode: StreamMode,
    /// `[stream] sequence`: what event IDs promise (issue #16).
    pub sequence: Sequence,
    /// `[stream] timestamp_field` + `timestamp_unit`: the server's send
    /// time in each event's JSON data, for the `delivery` latency (issue #16).
    pub timestamp: Option<Timestamp>,
}

impl StreamSpec {
    /// The JSON field names, borrowed, for [`crate::client::fields::parse`].
    pub fn field_names(&self) -> crate::client::fields::FieldNames<'_> {
        crate::client::fields::FieldNames {
            data: &self.data_field,
            count: &self.count_field,
            error: &self.error_field,
            timestamp: self.timestamp.as_ref().map(|t| t.field.as_str()),
        }
    }

    /// How events are read as an LLM token stream; `None` unless the
    /// format is an LLM preset or `content_field` is set.
    pub fn dialect(&self) -> Option<Dialect<'_>> {
        let content = self.content.as_ref()?;
        Some(Dialect {
            preset: self.format.preset().unwrap_or(Preset::Custom),
            content: content.segments(),
            error_field: &self.error_field,
            done: self.done.as_deref(),
            done_field: &self.data_field,
        })
    }

    /// Whether a stream must end with its completion marker (the `done`
    /// data, or an LLM preset's `[DONE]` / `message_stop`); otherwise a
    /// clean end of body completes it.
    pub fn needs_completion(&self) -> bool {
        self.done.is_some() || self.format.preset().is_some()
    }

    /// The defaults for `format`: `done` differs (`json`: `Stream
    /// completed`; the LLM presets have their own marker, so none), and
    /// the LLM presets point at their content.
    pub fn defaults_for(format: Format) -> StreamSpec {
        StreamSpec {
            content: format.preset().map(ContentPointer::of_preset),
            format,
            data_field: "Data".to_owned(),
            count_field: "Count".to_owned(),
            error_field: "error".to_owned(),
            done: (format == Format::Json).then(|| "Stream completed".to_owned()),
            first_event_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            max_duration: Duration::from_secs(120),
            max_event_size: 1 << 20,
            expect_events: None,
            resume: true,
            mode: StreamMode::Request,
            sequence: Sequence::None,
            timestamp: None,
        }
    }
}

impl Default for StreamSpec {
    fn default() -> Self {
        StreamSpec::defaults_for(Format::Json)
    }
}

/// `[stream] mode` (PRODUCT.md "Stream modes: request and subscribe").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamMode {
    /// A request whose stream ends (done marker, or a clean end of body).
    Request,
    /// An EventSource subscription held open for `hold`, then closed by
    /// us (a successful stream); an end or cut before it is a
    /// disconnection, followed by a reconnect with `Last-Event-ID`.
    Subscribe {
        /// How long each subscription is held.
        hold: Duration,
    },
}

impl StreamMode {
    /// The spelling in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamMode::Request => "request",
            StreamMode::Subscribe { .. } => "subscribe",
        }
    }

    /// `hold` in subscribe mode.
    pub fn hold(self) -> Option<Duration> {
        match self {
            StreamMode::Request => None,
            StreamMode::Subscribe { hold } => Some(hold),
        }
    }
}

/// `[stream] sequence`: what the event IDs promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sequence {
    /// Nothing: IDs are opaque (the default).
    None,
    /// IDs are increasing integers (per stream or global): gaps are lost
    /// events, repeats duplicates (see `metrics::sequence`).
    Id,
}

/// The unit of a timestamp field (`[stream] timestamp_unit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds since the Unix epoch (fractions allowed).
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds.
    Ns,
}

impl TimeUnit {
    /// Every unit, in scenario spelling order.
    pub const ALL: [TimeUnit; 4] = [TimeUnit::S, TimeUnit::Ms, TimeUnit::Us, TimeUnit::Ns];

    /// The spelling in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::S => "s",
            TimeUnit::Ms => "ms",
            TimeUnit::Us => "us",
            TimeUnit::Ns => "ns",
        }
    }

    /// Microseconds in one unit (as a float: `0.001` for ns).
    pub fn micros(self) -> f64 {
        match self {
            TimeUnit::S => 1e6,
            TimeUnit::Ms => 1e3,
            TimeUnit::Us => 1.0,
            TimeUnit::Ns => 1e-3,
        }
    }
}

/// Where an event carries its server send time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// Top-level JSON field (a number).
    pub field: String,
    /// Its unit.
    pub unit: TimeUnit,
}

/// `[http]`: connection settings (the seed client's transport).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSpec {
    /// Connect + response headers, > 0 (default 30s).
    pub timeout: Duration,
    /// Idle keep-alive connections kept per host (default 10). `0`: none,
    /// so every attempt opens a new connection (no keep-alive reuse). Any
    /// value ≥ 1 keeps connections alive for reuse: each session holds at
    /// most one connection at a time, so larger values change nothing.
    pub pool_max_idle_per_host: usize,
    /// How long an idle connection is kept, > 0 (default 90s).
    pub idle_conn_timeout: Duration,
    /// Accept any TLS certificate (default false).
    pub insecure_tls: bool,
    /// `auto` (default), `1.1` or `2` (see [`VersionPref`]).
    pub version: VersionPref,
    /// `false` (default): each session opens its own connection(s), as one
    /// user would; `true`: the sessions of one worker thread share its
    /// connection pool (HTTP/2 streams multiplex over shared connections).
    pub share_connections: bool,
    /// `ca_file` and `client_cert`/`client_key`, parsed at load.
    pub tls: TlsFiles,
    /// Source IPs to spread connections over (session `i` uses
    /// `local_addresses[i % len]`); empty: the system's choice (issue #16).
    pub local_addresses: Vec<std::net::IpAddr>,
}

impl Default for HttpSpec {
    fn default() -> Self {
        HttpSpec {
            timeout: Duration::from_secs(30),
            pool_max_idle_per_host: 10,
            idle_conn_timeout: Duration::from_secs(90),
            insecure_tls: false,
            version: VersionPref::Auto,
            share_connections: false,
            tls: TlsFiles::default(),
            local_addresses: Vec::new(),
        }
    }
}
