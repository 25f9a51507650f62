//! Event judging: what one decoded event means for the attempt.
//!
//! [`judge`] hands the event to the sink and says whether the stream goes
//! on, completed (the `done` marker), failed (an `error` event in `text`
//! format, the error field in `json` format) or carried malformed JSON
//! (counted, the stream goes on). `expect_events` is checked by the attempt
//! when the body ends. Per event: JSON fields are borrowed from the event
//! data ([`crate::client::fields`]), and nothing is allocated unless the
//! event fails the stream. LLM token streams (a preset or `content_field`)
//! are read by [`crate::client::dialect`] instead, which also keeps the
//! attempt's token clock.

use std::time::{Duration, Instant};

use crate::client::attempt::{EventSink, SeenEvent};
use crate::client::config::{Format, StreamSpec};
use crate::client::dialect::{self, Chunk, Dialect, Tokens};
use crate::client::fields;
use crate::sse;

/// What an event means for the attempt.
pub(crate) enum Verdict {
    /// An ordinary event: keep reading.
    Continue,
    /// Data that is not the JSON expected: counted, keep reading.
    Malformed,
    /// The completion marker: the stream completed.
    Done,
    /// A server-sent error: the attempt fails with this message.
    ServerError(String),
}

/// Hands `event` (read at `at`, `gap` after the previous one) to `sink` and
/// judges it as `stream` says; LLM token streams also tick `tokens`.
pub(crate) fn judge(
    event: &sse::Event<'_>,
    stream: &StreamSpec,
    sink: &mut impl EventSink,
    at: Instant,
    gap: Option<Duration>,
    tokens: &mut Tokens,
) -> Verdict {
    if let Some(dialect) = stream.dialect() {
        return judge_tokens(&dialect, event, sink, at, gap, tokens);
    }
    match stream.format {
        Format::Text => {
            sink.event(&SeenEvent {
                at,
                gap,
                event,
                fields: None,
                content: false,
                itl: None,
            });
            if event.kind == "error" {
                Verdict::ServerError(format!("error event: {}", truncate(event.data)))
            } else if stream.done.as_deref() == Some(event.data) {
                Verdict::Done
            } else {
                Verdict::Continue
            }
        }
        Format::Json => match fields::parse(stream.field_names(), event.data) {
            Err(_) => {
                sink.event(&SeenEvent {
                    at,
                    gap,
                    event,
                    fields: None,
                    content: false,
                    itl: None,
                });
                Verdict::Malformed
            }
            Ok(parsed) => {
                sink.event(&SeenEvent {
                    at,
                    gap,
                    event,
                    fields: Some(&parsed),
                    content: false,
                    itl: None,
                });
                if let Some(error) = &parsed.error {
                    Verdict::ServerError(format!("server-sent error: {}", truncate(error)))
                } else if stream.done.is_some() && parsed.data.as_deref() == stream.done.as_deref()
                {
                    Verdict::Done
                } else {
                    Verdict::Continue
                }
            }
        },
        // An LLM preset always has a dialect (its content pointer).
        Format::OpenAiChat | Format::OpenAiCompletions | Format::Anthropic => Verdict::Continue,
    }
}

/// An event of an LLM token stream: a content chunk ticks the token clock
/// (and gives the `itl`), the completion marker completes, an error fails.
fn judge_tokens(
    dialect: &Dialect<'_>,
    event: &sse::Event<'_>,
    sink: &mut impl EventSink,
    at: Instant,
    gap: Option<Duration>,
    tokens: &mut Tokens,
) -> Verdict {
    let chunk = dialect::classify(dialect, event.kind, event.data);
    let itl = chunk.as_ref().ok().and_then(|c| tokens.observe(c, at));
    sink.event(&SeenEvent {
        at,
        gap,
        event,
        fields: None,
        content: matches!(chunk, Ok(Chunk::Content { .. })),
        itl,
    });
    match chunk {
        Err(_) => Verdict::Malformed,
        Ok(Chunk::Done) => Verdict::Done,
        Ok(Chunk::Error(message)) => Verdict::ServerError(message),
        Ok(Chunk::Content { .. } | Chunk::Usage(_) | Chunk::NoContent) => Verdict::Continue,
    }
}

/// `text` cut to at most 200 bytes, on a character boundary (for details).
pub(crate) fn truncate(text: &str) -> &str {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remembers whether each event reached the sink with JSON fields.
    #[derive(Default)]
    struct Seen(Vec<bool>);

    impl EventSink for Seen {
        fn event(&mut self, seen: &SeenEvent<'_>) {
            self.0.push(seen.fields.is_some());
        }
    }

    /// The verdict as a comparable string: `continue`, `malformed`, `done`
    /// or the server-error message.
    fn verdict(stream: &StreamSpec, kind: &str, data: &str) -> (String, bool) {
        let event = sse::Event { kind, data, id: "" };
        let mut sink = Seen::default();
        let mut tokens = Tokens::default();
        let v = match judge(&event, stream, &mut sink, Instant::now(), None, &mut tokens) {
            Verdict::Continue => "continue".to_owned(),
            Verdict::Malformed => "malformed".to_owned(),
            Verdict::Done => "done".to_owned(),
            Verdict::ServerError(message) => message,
        };
        assert_eq!(sink.0.len(), 1, "every event reaches the sink once");
        (v, sink.0[0])
    }

    #[test]
    fn verdicts() {
        let json = StreamSpec::default();
        let text = StreamSpec::defaults_for(Format::Text);
        let text_done = StreamSpec {
            done: Some("[DONE]".to_owned()),
            ..StreamSpec::defaults_for(Format::Text)
        };
        let json_no_done = StreamSpec {
            done: None,
            ..StreamSpec::default()
        };
        let long = format!(r#"{{"error": "{}"}}"#, "é".repeat(150));
        let cases: [(&StreamSpec, &str, &str, &str, bool); 11] = [
            (
                &json,
                "message",
                r#"{"Count": 1, "Data": "Event 1"}"#,
                "continue",
                true,
            ),
            (
                &json,
                "message",
                r#"{"Data": "Stream completed"}"#,
                "done",
                true,
            ),
            (
                &json,
                "message",
                r#"{"error": "boom"}"#,
                "server-sent error: boom",
                true,
            ),
            (&json, "error", r#"{"Data": "x"}"#, "continue", true),
            (&json, "message", "not json", "malformed", false),
            (
                &json_no_done,
                "message",
                r#"{"Data": "Stream completed"}"#,
                "continue",
                true,
            ),
            (&json_no_done, "message", r#"{}"#, "continue", true),
            (&text, "message", "Stream completed", "continue", false),
            (&text, "error", "bad", "error event: bad", false),
            (&text_done, "message", "[DONE]", "done", false),
            (&text_done, "message", "not json", "continue", false),
        ];
        for (stream, kind, data, want, with_fields) in cases {
            assert_eq!(
                verdict(stream, kind, data),
                (want.to_owned(), with_fields),
                "{:?} {kind} {data}",
                stream.format
            );
        }
        // A long error is cut to 200 bytes on a character boundary.
        let (message, _) = verdict(&json, "message", &long);
        let shown = message.trim_start_matches("server-sent error: ");
        assert_eq!(shown.len(), 200);
        assert!(shown.chars().all(|c| c == 'é'));
    }
}
