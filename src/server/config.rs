//! Server-wide knobs ([`ServerConfig`]) and the pure decision of what one
//! request gets ([`plan_request`]): the config, overridden by the request
//! body's fields, plus the fault knobs a test puts in the body.
//!
//! Why body fields and not only a config? One server then serves every case
//! a test suite needs (normal streams, cuts, stalls, bad statuses) at once,
//! and the FastAPI test app takes exactly the same fields, so a test can run
//! against either. The body is parsed leniently: any content type, and an
//! empty, non-JSON or wrongly typed body or field means "use the default",
//! because the server under load must never be the thing that fails.
//!
//! Nothing here does I/O or owns a clock; the `fail_rate` draw is a pure
//! function of `(seed, request number)`, so runs are reproducible.

use std::time::Duration;

use rand::{rngs::SmallRng, Rng, SeedableRng};
use serde_json::Value;

use super::openai::{self, LlmPlan, ServerDialect, Shape};

/// Largest `payload_bytes` honoured (per event); larger values are clamped so
/// a typo cannot make the server allocate gigabytes.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// How the embedded reference server behaves when the request body does not
/// say otherwise. Defaults are PRODUCT.md's `[server]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Numbered events per stream before the completion event (body field `events`).
    pub events: u32,
    /// Pause after each numbered event (body field `interval_ms`); zero streams
    /// as fast as the connection takes it.
    pub interval: Duration,
    /// Pause between the response headers and the first event (body field `first_delay_ms`).
    pub first_event_delay: Duration,
    /// Bytes of `"Pad": "xxx…"` added to each numbered event (body field
    /// `payload_bytes`); clamped to [`MAX_PAYLOAD_BYTES`].
    pub payload_bytes: usize,
    /// Share of requests answered `503` with `Retry-After: 1`, in `[0, 1]`
    /// (values outside are clamped; NaN counts as 0).
    pub fail_rate: f64,
    /// Seeds the `fail_rate` draws: request `n` fails or not as a function of `(seed, n)`.
    pub seed: u64,
    /// Worker threads (actix arbiters) serving connections; 0 counts as 1.
    pub workers: usize,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with a certificate
    /// generated at start (`[server] tls`, `serve --tls`); plain HTTP/1.1
    /// and h2c (prior knowledge) otherwise.
    pub tls: bool,
    /// `[server] dialect`: the seed's stream, or OpenAI's chat and completions streams.
    pub dialect: ServerDialect,
    /// The scenario's request path, served in the dialect too (set by the
    /// scenario when it is not one of the dialect's own paths).
    pub path: Option<String>,
    /// `[server] mode`: per-request streams (default) or one broadcast (issue #16).
    pub mode: ServerMode,
}

/// `[server] mode`.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMode {
    /// Every request gets its own stream (the seed's server).
    Stream,
    /// One publisher sends every event to every subscriber of `GET /events`
    /// (and of `path`): global IDs from 1, a `ts` field (epoch ms), and a
    /// replay buffer served after `Last-Event-ID`.
    Broadcast(BroadcastConfig),
}

/// The broadcast publisher's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastConfig {
    /// Events per second, > 0.
    pub rate: f64,
    /// Most recent events kept to replay after `Last-Event-ID` (0: none).
    pub replay: usize,
    /// A second path served besides `/events` (the scenario's `request.path`).
    pub path: Option<String>,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        BroadcastConfig {
            rate: 10.0,
            replay: 0,
            path: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            events: 4,
            interval: Duration::from_millis(250),
            first_event_delay: Duration::ZERO,
            payload_bytes: 0,
            fail_rate: 0.0,
            seed: 0,
            workers: 1,
            tls: false,
            dialect: ServerDialect::Seed,
            path: None,
            mode: ServerMode::Stream,
        }
    }
}

/// What the handler answers to one `POST /trigger_invocation`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// An error status instead of a stream (the `status` knob or `fail_rate`).
    Status {
        /// HTTP status code, in `100..=999` and not 200.
        status: u16,
        /// Seconds for the `Retry-After` header, if any.
        retry_after: Option<u64>,
    },
    /// A `200` event stream.
    Stream(StreamPlan),
}

/// Everything an event stream needs to know, resolved once per request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StreamPlan {
    pub(crate) events: u32,
    pub(crate) interval: Duration,
    pub(crate) first_delay: Duration,
    pub(crate) payload_bytes: usize,
    /// `Some` replaces `text/event-stream` (the `content_type` knob).
    pub(crate) content_type: Option<String>,
    pub(crate) faults: StreamFaults,
    /// An OpenAI stream: how its events are rendered (`None`: the seed's).
    pub(crate) llm: Option<LlmPlan>,
}

/// Faults injected into one stream; event numbers are the 1-based `Count`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StreamFaults {
    /// Event k's data is not JSON; the stream goes on.
    pub(crate) malformed_at: Option<u32>,
    /// Event k is `{"error": "..."}` and the stream ends there (no completion).
    pub(crate) error_at: Option<u32>,
    /// After k numbered events the connection is closed mid-body (0: before any).
    pub(crate) cut_after: Option<u32>,
    /// After k numbered events nothing more is sent, the connection stays open.
    pub(crate) stall_after: Option<u32>,
}

/// Decides the reply to request number `request_no` (0-based) with `body`,
/// on a path of OpenAI `shape` (or the seed's path: `None`).
///
/// Order: a `status` knob wins; then the `fail_rate` draw; else a stream with
/// the body's overrides applied to `config` (for OpenAI, `max_tokens` sets
/// the token count, before `events`).
pub(crate) fn plan_request(
    config: &ServerConfig,
    body: &[u8],
    request_no: u64,
    shape: Option<Shape>,
) -> Reply {
    let fields = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let field = |name: &str| fields.get(name).and_then(number);

    if let Some(status) = field("status").filter(|s| (100..=999).contains(s) && *s != 200) {
        let retry_after = field("retry_after").or(match status {
            429 | 503 => Some(1),
            _ => None,
        });
        return Reply::Status {
            status: u16::try_from(status).expect("invariant: status checked to be <= 999"),
            retry_after,
        };
    }
    if fails(config.seed, request_no, config.fail_rate) {
        return Reply::Status {
            status: 503,
            retry_after: Some(1),
        };
    }

    let event_no = |name: &str| field(name).map(saturate_u32);
    let llm = shape.map(|shape| LlmPlan::new(shape, &fields));
    let events = match shape {
        Some(_) => openai::max_tokens(&fields).or_else(|| field("events")),
        None => field("events"),
    };
    Reply::Stream(StreamPlan {
        events: events.map_or(config.events, saturate_u32),
        interval: field("interval_ms").map_or(config.interval, Duration::from_millis),
        first_delay: field("first_delay_ms")
            .map_or(config.first_event_delay, Duration::from_millis),
        payload_bytes: field("payload_bytes")
            .map_or(config.payload_bytes, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            })
            .min(MAX_PAYLOAD_BYTES),
        content_type: fields
            .get("content_type")
            .and_then(Value::as_str)
            .map(str::to_owned),
        faults: StreamFaults {
            malformed_at: event_no("malformed_at").filter(|k| *k > 0),
            error_at: event_no("error_at").filter(|k| *k > 0),
            cut_after: event_no("cut_after"),
            stall_after: event_no("stall_after"),
        },
        llm,
    })
}

/// Whether request `request_no` is rejected under `fail_rate`: a pure
/// function of its inputs, so the same seed rejects the same requests.
pub(crate) fn fails(seed: u64, request_no: u64, fail_rate: f64) -> bool {
    if fail_rate.is_nan() || fail_rate <= 0.0 {
        return false;
    }
    if fail_rate >= 1.0 {
        return true;
    }
    SmallRng::seed_from_u64(seed ^ request_no.wrapping_mul(0x9E37_79B9_7F4A_7C15)).gen::<f64>()
        < fail_rate
}

/// A non-negative JSON number as `u64` (floats truncated); anything else is `None`.
fn number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            // Truncation and saturation are the intent for a lenient knob.
            .map(|f| f as u64)
    })
}

fn saturate_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_plan() -> StreamPlan {
        StreamPlan {
            events: 4,
            interval: Duration::from_millis(250),
            first_delay: Duration::ZERO,
            payload_bytes: 0,
            content_type: None,
            faults: StreamFaults::default(),
            llm: None,
        }
    }

    #[test]
    fn bodies_resolve_to_plans() {
        let config = ServerConfig::default();
        let with = |edit: fn(&mut StreamPlan)| {
            let mut plan = default_plan();
            edit(&mut plan);
            Reply::Stream(plan)
        };
        let cases: Vec<(&str, Reply)> = vec![
            ("", with(|_| {})),
            ("not json", with(|_| {})),
            ("[1, 2]", with(|_| {})),
            (r#"{"query": "hi"}"#, with(|_| {})),
            (r#"{"events": "seven"}"#, with(|_| {})),
            (r#"{"events": -1}"#, with(|_| {})),
            (r#"{"events": 7}"#, with(|p| p.events = 7)),
            (r#"{"events": 2.9}"#, with(|p| p.events = 2)),
            (r#"{"events": 1e20}"#, with(|p| p.events = u32::MAX)),
            (
                r#"{"interval_ms": 0, "first_delay_ms": 5}"#,
                with(|p| {
                    p.interval = Duration::ZERO;
                    p.first_delay = Duration::from_millis(5);
                }),
            ),
            (r#"{"payload_bytes": 3}"#, with(|p| p.payload_bytes = 3)),
            (
                r#"{"payload_bytes": 99999999999}"#,
                with(|p| p.payload_bytes = MAX_PAYLOAD_BYTES),
            ),
            (
                r#"{"content_type": "text/plain"}"#,
                with(|p| p.content_type = Some("text/plain".into())),
            ),
            (
                r#"{"malformed_at": 2, "error_at": 3, "cut_after": 0, "stall_after": 1}"#,
                with(|p| {
                    p.faults = StreamFaults {
                        malformed_at: Some(2),
                        error_at: Some(3),
                        cut_after: Some(0),
                        stall_after: Some(1),
                    }
                }),
            ),
            (r#"{"malformed_at": 0, "error_at": 0}"#, with(|_| {})),
            (r#"{"status": 200}"#, with(|_| {})),
            (r#"{"status": 1000}"#, with(|_| {})),
            (
                r#"{"status": 503}"#,
                Reply::Status {
                    status: 503,
                    retry_after: Some(1),
                },
            ),
            (
                r#"{"status": 429, "retry_after": 7}"#,
                Reply::Status {
                    status: 429,
                    retry_after: Some(7),
                },
            ),
            (
                r#"{"status": 404}"#,
                Reply::Status {
                    status: 404,
                    retry_after: None,
                },
            ),
            (
                r#"{"status": 500, "retry_after": 2}"#,
                Reply::Status {
                    status: 500,
                    retry_after: Some(2),
                },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                plan_request(&config, body.as_bytes(), 0, None),
                expected,
                "body {body:?}"
            );
        }
    }

    #[test]
    fn config_defaults_apply_without_overrides() {
        let config = ServerConfig {
            events: 9,
            interval: Duration::from_millis(1),
            first_event_delay: Duration::from_millis(2),
            payload_bytes: 10,
            ..ServerConfig::default()
        };
        let Reply::Stream(plan) = plan_request(&config, b"{}", 0, None) else {
            panic!("expected a stream");
        };
        assert_eq!(
            (
                plan.events,
                plan.interval,
                plan.first_delay,
                plan.payload_bytes
            ),
            (9, Duration::from_millis(1), Duration::from_millis(2), 10)
        );
    }

    #[test]
    fn fail_rate_extremes_and_share() {
        for (rate, expect_all) in [
            (1.0, true),
            (2.0, true),
            (0.0, false),
            (-1.0, false),
            (f64::NAN, false),
        ] {
            assert!(
                (0..100).all(|n| fails(1, n, rate) == expect_all),
                "rate {rate}"
            );
        }
        let failed = (0..10_000).filter(|n| fails(42, *n, 0.3)).count();
        assert!((2_500..3_500).contains(&failed), "{failed} of 10000 at 0.3");
        let again = (0..10_000).filter(|n| fails(42, *n, 0.3)).count();
        assert_eq!(failed, again, "same seed, same draws");
    }

    #[test]
    fn fail_rate_rejects_with_retry_after() {
        let config = ServerConfig {
            fail_rate: 1.0,
            ..ServerConfig::default()
        };
        assert_eq!(
            plan_request(&config, b"", 3, None),
            Reply::Status {
                status: 503,
                retry_after: Some(1)
            }
        );
    }
}
