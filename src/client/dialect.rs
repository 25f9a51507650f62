//! LLM token streams: what one event of an OpenAI, Anthropic or custom
//! dialect means, and the token clock of one attempt.
//!
//! [`classify`] reads one event (its SSE type and data) the way the API
//! documents its stream and says which [`Chunk`] it is:
//!
//! | dialect | content chunk | not content | usage | completion | error |
//! |---|---|---|---|---|---|
//! | `openai-chat` | non-empty `/choices/0/delta/content` | the role-only first chunk, empty deltas, `finish_reason` chunks, tool-call deltas | `usage.completion_tokens` (the `stream_options.include_usage` chunk, `choices: []`) | `data: [DONE]` | an `error` object (or `"object": "error"`), an `event: error` |
//! | `openai-completions` | non-empty `/choices/0/text` | empty text | same | `data: [DONE]` | same |
//! | `anthropic` | non-empty `delta.text` of a `content_block_delta` (`text_delta`) | `message_start`, `content_block_start`/`_stop`, `ping`, other delta types | `usage.output_tokens` of `message_delta` | `message_stop` | the `error` event |
//! | `json` + `content_field` | non-empty string at the JSON pointer | anything else | either spelling of usage | `done` (the whole data, or the `data_field` value) | the `error_field` |
//!
//! Only content chunks are tokens: they start `ttft` and space `itl`. A
//! usage chunk, a role-only chunk or `[DONE]` is not a token, whatever the
//! time it arrives at ([`Tokens`]).
//!
//! Cost per event: one pass of serde_json over the data, keys compared in
//! place, the content string looked at as a borrowed [`RawValue`] (never
//! unescaped), every other value skipped without being built. Nothing is
//! allocated unless the event is a server-sent error.

use std::fmt;
use std::time::{Duration, Instant};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

pub use crate::client::fields::MalformedEvent;

/// A JSON pointer (RFC 6901) to an event's content, e.g. `/choices/0/delta/content`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentPointer {
    text: String,
    segments: Vec<String>,
}

/// Why a `content_field` is not a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    /// Empty, or not starting with `/`.
    #[error(
        "\"{0}\" is not a JSON pointer: write it as /key/0/key, e.g. \"/choices/0/delta/content\""
    )]
    NoSlash(String),
    /// A `~` not followed by `0` or `1`.
    #[error("\"{0}\" has a `~` not followed by 0 or 1 (write ~0 for ~ and ~1 for /)")]
    BadEscape(String),
}

impl ContentPointer {
    /// Parses `/a/0/b`; `~1` is `/` and `~0` is `~` in a segment.
    ///
    /// # Errors
    /// [`PointerError`] for an empty pointer, one without a leading `/`, or a bad `~` escape.
    pub fn parse(text: &str) -> Result<ContentPointer, PointerError> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(PointerError::NoSlash(text.to_owned()));
        };
        let mut segments = Vec::new();
        for raw in rest.split('/') {
            let mut seg = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => seg.push('~'),
                        Some('1') => seg.push('/'),
                        _ => return Err(PointerError::BadEscape(text.to_owned())),
                    }
                } else {
                    seg.push(c);
                }
            }
            segments.push(seg);
        }
        Ok(ContentPointer {
            text: text.to_owned(),
            segments,
        })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The unescaped segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The content pointer of an LLM preset (`/choices/0/delta/content`, …).
    pub fn of_preset(preset: Preset) -> ContentPointer {
        let segments: Vec<String> = preset_content(preset)
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        ContentPointer {
            text: segments.iter().map(|s| format!("/{s}")).collect(),
            segments,
        }
    }
}

impl fmt::Display for ContentPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Which API's stream shape an event is read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// OpenAI `POST /v1/chat/completions` with `stream: true`.
    OpenAiChat,
    /// OpenAI (legacy) `POST /v1/completions` with `stream: true`.
    OpenAiCompletions,
    /// Anthropic `POST /v1/messages` with `stream: true`.
    Anthropic,
    /// `format = "json"` with a `content_field`.
    Custom,
}

/// Everything [`classify`] needs, borrowed from the scenario's `[stream]`
/// ([`StreamSpec::dialect`](crate::client::config::StreamSpec::dialect)).
#[derive(Clone, Copy, Debug)]
pub struct Dialect<'s> {
    /// The stream shape.
    pub preset: Preset,
    /// Pointer segments to the content (the preset's, or `content_field`).
    pub content: &'s [String],
    /// Top-level field whose presence (not null) is a server-sent error.
    pub error_field: &'s str,
    /// [`Preset::Custom`]: data (whole, or the `data_field` value) that completes the stream.
    pub done: Option<&'s str>,
    /// [`Preset::Custom`]: the field compared with `done`.
    pub done_field: &'s str,
}

/// The pointer segments of each preset's content.
pub(crate) fn preset_content(preset: Preset) -> &'static [&'static str] {
    match preset {
        Preset::OpenAiChat => &["choices", "0", "delta", "content"],
        Preset::OpenAiCompletions => &["choices", "0", "text"],
        Preset::Anthropic => &["delta", "text"],
        Preset::Custom => &[],
    }
}

/// What one event of an LLM stream is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Non-empty content: one content chunk (one token unless the server's
    /// usage says otherwise); `usage` when the same event carries the
    /// server's running output-token count.
    Content {
        /// The server's output-token count sent with it, if any.
        usage: Option<u64>,
    },
    /// The server's output-token count, without content (OpenAI's usage
    /// chunk, Anthropic's `message_delta`).
    Usage(u64),
    /// Neither content nor usage: a role-only chunk, an empty delta, `ping`,
    /// `message_start`, a block start or stop, a `finish_reason` chunk.
    NoContent,
    /// The completion marker.
    Done,
    /// A server-sent error inside the stream (the message, at most 200 bytes).
    Error(String),
}

/// The literal completion data of the OpenAI presets.
const OPENAI_DONE: &str = "[DONE]";

/// Reads one event of type `kind` (the SSE `event:` field, `message` by
/// default) with `data`, as `dialect` says.
///
/// # Errors
/// [`MalformedEvent`] when the data is neither the completion marker nor one
/// JSON object (counted as `malformed-event`; the stream goes on).
pub fn classify(dialect: &Dialect<'_>, kind: &str, data: &str) -> Result<Chunk, MalformedEvent> {
    match dialect.preset {
        Preset::OpenAiChat | Preset::OpenAiCompletions if data.trim() == OPENAI_DONE => {
            return Ok(Chunk::Done);
        }
        Preset::Custom if dialect.done == Some(data) => return Ok(Chunk::Done),
        _ => {}
    }
    if dialect.preset == Preset::Anthropic && kind == "message_stop" {
        return Ok(Chunk::Done);
    }
    let parsed = match parse(dialect, data) {
        Ok(parsed) => parsed,
        // An `event: error` whose data is not JSON is still an error.
        Err(_) if kind == "error" => {
            return Ok(Chunk::Error(clip(&format!("error event: {data}"))));
        }
        Err(err) => return Err(err),
    };
    if let Some(message) = parsed.error {
        return Ok(Chunk::Error(message));
    }
    if parsed.object_error || kind == "error" || parsed.kind == Kind::Error {
        return Ok(Chunk::Error(clip(&format!("error event: {data}"))));
    }
    if parsed.done || parsed.kind == Kind::MessageStop {
        return Ok(Chunk::Done);
    }
    let content =
        parsed.content && (dialect.preset != Preset::Anthropic || parsed.kind == Kind::BlockDelta);
    Ok(match (content, parsed.usage) {
        (true, usage) => Chunk::Content { usage },
        (false, Some(n)) => Chunk::Usage(n),
        (false, None) => Chunk::NoContent,
    })
}

/// `text` cut to at most 200 bytes on a character boundary.
fn clip(text: &str) -> String {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The token clock of one attempt: content chunks, the server's count, and
/// the times of the first and last content.
///
/// ```
/// use std::time::{Duration, Instant};
/// use streamsoak::client::dialect::{Chunk, Tokens};
/// let t0 = Instant::now();
/// let ms = |n| t0 + Duration::from_millis(n);
/// let mut tokens = Tokens::default();
/// assert_eq!(tokens.observe(&Chunk::NoContent, ms(5)), None); // role-only: not a token
/// assert_eq!(tokens.observe(&Chunk::Content { usage: None }, ms(100)), None);
/// assert_eq!(tokens.observe(&Chunk::Content { usage: None }, ms(120)), Some(Duration::from_millis(20)));
/// assert_eq!(tokens.observe(&Chunk::Content { usage: None }, ms(160)), Some(Duration::from_millis(40)));
/// tokens.observe(&Chunk::Usage(3), ms(161));
/// assert_eq!(tokens.output_tokens(), 3);
/// assert_eq!(tokens.tpot(), Some(Duration::from_millis(30))); // (160 − 100) / (3 − 1)
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    chunks: u64,
    usage: Option<u64>,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Tokens {
    /// Notes `chunk`, read at `at`; returns the inter-chunk latency (`itl`)
    /// when it is a content chunk after another one.
    pub fn observe(&mut self, chunk: &Chunk, at: Instant) -> Option<Duration> {
        match *chunk {
            Chunk::Content { usage } => {
                if usage.is_some() {
                    self.usage = usage;
                }
                self.chunks += 1;
                let itl = self.last.map(|last| at.saturating_duration_since(last));
                self.first.get_or_insert(at);
                self.last = Some(at);
                itl
            }
            // Running counts (Anthropic, vLLM's continuous usage): the last one holds.
            Chunk::Usage(n) => {
                self.usage = Some(n);
                None
            }
            Chunk::NoContent | Chunk::Done | Chunk::Error(_) => None,
        }
    }

    /// Content chunks received.
    pub fn content_chunks(&self) -> u64 {
        self.chunks
    }

    /// Output tokens: the server's usage when it sent one, else content chunks.
    pub fn output_tokens(&self) -> u64 {
        self.usage.unwrap_or(self.chunks)
    }

    /// When the first content chunk was read.
    pub fn first_content(&self) -> Option<Instant> {
        self.first
    }

    /// Time per output token after the first: (last − first content) /
    /// (tokens − 1); `None` with fewer than two tokens.
    pub fn tpot(&self) -> Option<Duration> {
        let tokens = self.output_tokens();
        let (first, last) = (self.first?, self.last?);
        if tokens < 2 {
            return None;
        }
        let span = last.saturating_duration_since(first);
        let per = span.as_nanos() / u128::from(tokens - 1);
        Some(Duration::from_nanos(u64::try_from(per).unwrap_or(u64::MAX)))
    }
}

// ---- the one-pass reader -------------------------------------------------

/// Anthropic's event `type`, as far as it matters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Other,
    BlockDelta,
    MessageStop,
    Error,
}

#[derive(Default)]
struct Parsed {
    content: bool,
    usage: Option<u64>,
    error: Option<String>,
    object_error: bool,
    kind: Kind,
    done: bool,
}

fn parse(dialect: &Dialect<'_>, data: &str) -> Result<Parsed, MalformedEvent> {
    let mut de = serde_json::Deserializer::from_str(data);
    let parsed = TopSeed(dialect)
        .deserialize(&mut de)
        .map_err(MalformedEvent::from_json)?;
    de.end().map_err(MalformedEvent::from_json)?;
    Ok(parsed)
}

struct TopSeed<'d, 's>(&'d Dialect<'s>);

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = Parsed;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_map(self)
    }
}

#[derive(Clone, Copy)]
enum Which {
    Content,
    Error,
    Object,
    Type,
    Usage,
    DoneField,
    Other,
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let d = self.0;
        let mut out = Parsed::default();
        while let Some(which) = map.next_key_seed(TopKey(d))? {
            match which {
                Which::Content => {
                    out.content = map.next_value_seed(PointerSeed(&d.content[1..]))?;
                }
                Which::Error => out.error = map.next_value_seed(ErrorSeed)?,
                Which::Object => out.object_error = map.next_value_seed(StrIs("error"))?,
                Which::Type => out.kind = map.next_value_seed(KindSeed)?,
                Which::Usage => {
                    if let Some(n) = map.next_value_seed(UsageSeed)? {
                        out.usage = Some(n);
                    }
                }
                Which::DoneField => {
                    out.done = match d.done {
                        Some(done) => map.next_value_seed(StrIs(done))?,
                        None => {
                            map.next_value::<IgnoredAny>()?;
                            false
                        }
                    };
                }
                Which::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

struct TopKey<'d, 's>(&'d Dialect<'s>);

impl<'de> DeserializeSeed<'de> for TopKey<'_, '_> {
    type Value = Which;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Which, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for TopKey<'_, '_> {
    type Value = Which;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Which, E> {
        let d = self.0;
        Ok(if d.content.first().is_some_and(|first| first == key) {
            Which::Content
        } else if key == d.error_field {
            Which::Error
        } else if key == "usage" {
            Which::Usage
        } else if d.preset == Preset::Anthropic && key == "type" {
            Which::Type
        } else if d.preset != Preset::Custom && d.preset != Preset::Anthropic && key == "object" {
            Which::Object
        } else if d.preset == Preset::Custom && key == d.done_field {
            Which::DoneField
        } else {
            Which::Other
        })
    }
}

/// Follows the remaining pointer segments; true when they end at a non-empty string.
struct PointerSeed<'p>(&'p [String]);

impl<'de> DeserializeSeed<'de> for PointerSeed<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        if self.0.is_empty() {
            // Looked at, not unescaped: `""` is empty, any other string is content.
            let raw = <&RawValue as de::Deserialize>::deserialize(d)?;
            let raw = raw.get();
            return Ok(raw.len() > 2 && raw.starts_with('"'));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PointerSeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let (segment, rest) = (&self.0[0], &self.0[1..]);
        let mut found = false;
        while let Some(hit) = map.next_key_seed(StrIs(segment))? {
            if hit && !found {
                found = map.next_value_seed(PointerSeed(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let (segment, rest) = (&self.0[0], &self.0[1..]);
        let wanted = array_index(segment);
        let mut found = false;
        let mut i = 0usize;
        loop {
            if Some(i) == wanted {
                match seq.next_element_seed(PointerSeed(rest))? {
                    Some(hit) => found = hit,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// An RFC 6901 array index: `0`, or digits without a leading zero.
fn array_index(segment: &str) -> Option<usize> {
    let digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    if !digits || (segment.len() > 1 && segment.starts_with('0')) {
        return None;
    }
    segment.parse().ok()
}

/// True when the value is the string `self.0` (any other value: false).
struct StrIs<'s>(&'s str);

impl<'de> DeserializeSeed<'de> for StrIs<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

struct KindSeed;

impl<'de> DeserializeSeed<'de> for KindSeed {
    type Value = Kind;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        // One look at the raw value; the type is a short plain string.
        let raw = <&RawValue as de::Deserialize>::deserialize(d)?;
        let text = raw.get();
        let is = |name: &str| {
            text.len() == name.len() + 2
                && text.starts_with('"')
                && &text[1..text.len() - 1] == name
        };
        Ok(if is("content_block_delta") {
            Kind::BlockDelta
        } else if is("message_stop") {
            Kind::MessageStop
        } else if is("error") {
            Kind::Error
        } else {
            Kind::Other
        })
    }
}

/// `usage.completion_tokens` (OpenAI) or `usage.output_tokens` (Anthropic).
struct UsageSeed;

impl<'de> DeserializeSeed<'de> for UsageSeed {
    type Value = Option<u64>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UsageSeed {
    type Value = Option<u64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a usage object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<u64>, A::Error> {
        let mut tokens = None;
        while let Some(key) = map.next_key_seed(UsageKey)? {
            if key {
                if let Some(n) = map.next_value::<Option<serde_json::Number>>()? {
                    tokens = n.as_u64().or(tokens);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(tokens)
    }
    fn visit_unit<E>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<u64>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

struct UsageKey;

impl<'de> DeserializeSeed<'de> for UsageKey {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for UsageKey {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a usage key")
    }
    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == "completion_tokens" || key == "output_tokens")
    }
}

/// The error field: `None` when null; else its message (the rare path, so
/// it may allocate): `message (type)` of an error object, or the JSON.
struct ErrorSeed;

impl<'de> DeserializeSeed<'de> for ErrorSeed {
    type Value = Option<String>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        let value = <serde_json::Value as de::Deserialize>::deserialize(d)?;
        Ok(match &value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(clip(&format!("server-sent error: {s}"))),
            serde_json::Value::Object(map) => {
                let message = map.get("message").and_then(|m| m.as_str());
                let kind = map
                    .get("type")
                    .or_else(|| map.get("code"))
                    .filter(|v| !v.is_null());
                Some(clip(&match (message, kind) {
                    (Some(m), Some(k)) => format!("server-sent error: {m} ({})", plain(k)),
                    (Some(m), None) => format!("server-sent error: {m}"),
                    _ => format!("server-sent error: {value}"),
                }))
            }
            other => Some(clip(&format!("server-sent error: {other}"))),
        })
    }
}

/// A JSON value as text, strings without quotes.
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
