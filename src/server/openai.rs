//! `[server] dialect = "openai"`: the embedded server as an OpenAI-compatible
//! streaming endpoint (`POST /v1/chat/completions`, `POST /v1/completions`,
//! and the scenario's `path`).
//!
//! The stream, as OpenAI sends it with `"stream": true`:
//!
//! ```text
//! data: {… "choices":[{"index":0,"delta":{"role":"assistant","content":""},…}]}      at once (not a token)
//! [first_event_delay] data: {… "delta":{"content":"tok1 "} …}  [interval] … token n   (n = max_tokens, else events)
//! data: {… "delta":{},"finish_reason":"length"}                                      right after token n
//! data: {… "choices":[],"usage":{"prompt_tokens":p,"completion_tokens":n,…}}        if stream_options.include_usage
//! data: [DONE]
//! ```
//!
//! `/v1/completions` sends `choices[0].text` chunks and no role chunk. The
//! cadence, `fail_rate` and the fault knobs (`error_at`, `malformed_at`,
//! `cut_after`, `stall_after`, `status`, counted in tokens) are the seed
//! stream's ([`super::stream`]): this file only renders the events and
//! reads the request's OpenAI fields, so every fault works alike in both.
//! An injected error is OpenAI's in-stream error object.

use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};
use serde_json::Value;

/// The dialect of the embedded server (`[server] dialect`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerDialect {
    /// The seed's `{"Count": n, "Data": "Event n"}` stream on `/trigger_invocation`.
    #[default]
    Seed,
    /// OpenAI chat completions and completions streams.
    OpenAi,
}

impl ServerDialect {
    /// Every dialect, as spelled in scenarios and `serve --dialect`.
    pub const ALL: [ServerDialect; 2] = [ServerDialect::Seed, ServerDialect::OpenAi];

    /// The spelling in scenarios and `serve --dialect`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerDialect::Seed => "seed",
            ServerDialect::OpenAi => "openai",
        }
    }
}

/// Which OpenAI endpoint's stream shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `/v1/chat/completions`: `choices[0].delta.content`, a role-only first chunk.
    Chat,
    /// `/v1/completions`: `choices[0].text`.
    Completions,
}

impl Shape {
    /// The shape a path serves: `…/completions` not under `chat/` is the
    /// legacy endpoint, anything else is chat.
    pub(crate) fn for_path(path: &str) -> Shape {
        if path.ends_with("/completions") && !path.ends_with("/chat/completions") {
            Shape::Completions
        } else {
            Shape::Chat
        }
    }
}

/// What an OpenAI request asked for, read leniently from its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LlmPlan {
    pub(crate) shape: Shape,
    /// `model` echoed back, as a JSON string literal (quotes included).
    model: String,
    /// `stream_options.include_usage`.
    include_usage: bool,
    /// Whitespace-separated words of the prompt (a stand-in tokenizer).
    prompt_tokens: u64,
}

/// The request's token count, when it sets one: `max_completion_tokens`
/// (chat's current name) or `max_tokens`.
pub(crate) fn max_tokens(fields: &Value) -> Option<u64> {
    ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| fields.get(*k).and_then(Value::as_u64))
}

impl LlmPlan {
    /// Reads the OpenAI fields of a request body (already parsed).
    pub(crate) fn new(shape: Shape, fields: &Value) -> LlmPlan {
        let model = fields
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("streamsoak");
        let include_usage = fields
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let words = |text: &str| text.split_whitespace().count() as u64;
        let prompt_tokens = match shape {
            Shape::Chat => fields
                .get("messages")
                .and_then(Value::as_array)
                .map_or(0, |messages| {
                    messages
                        .iter()
                        .filter_map(|m| m.get("content").and_then(Value::as_str))
                        .map(words)
                        .sum()
                }),
            Shape::Completions => fields
                .get("prompt")
                .and_then(Value::as_str)
                .map_or(0, words),
        };
        LlmPlan {
            shape,
            model: Value::String(model.to_owned()).to_string(),
            include_usage,
            prompt_tokens,
        }
    }

    fn head(&self, out: &mut BytesMut) {
        let (id, object) = match self.shape {
            Shape::Chat => ("chatcmpl-streamsoak", "chat.completion.chunk"),
            Shape::Completions => ("cmpl-streamsoak", "text_completion"),
        };
        write!(
            out,
            "data: {{\"id\":\"{id}\",\"object\":\"{object}\",\"created\":0,\"model\":{},",
            self.model
        )
        .expect("invariant: writing to BytesMut cannot fail");
    }

    /// The role-only first chunk of a chat stream (none for completions).
    pub(crate) fn preamble(&self) -> Option<Bytes> {
        if self.shape != Shape::Chat {
            return None;
        }
        let mut out = BytesMut::with_capacity(192);
        self.head(&mut out);
        out.extend_from_slice(
            b"\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        );
        Some(out.freeze())
    }

    /// Content chunk `n` (1-based): the text `tok<n> ` plus `pad`.
    pub(crate) fn token(&self, n: u32, pad: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(192 + pad.len());
        self.head(&mut out);
        let text = |out: &mut BytesMut| {
            write!(out, "\"tok{n} ").expect("invariant: writing to BytesMut cannot fail");
            out.extend_from_slice(pad);
            out.extend_from_slice(b"\"");
        };
        match self.shape {
            Shape::Chat => {
                out.extend_from_slice(b"\"choices\":[{\"index\":0,\"delta\":{\"content\":");
                text(&mut out);
                out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
            }
            Shape::Completions => {
                out.extend_from_slice(b"\"choices\":[{\"text\":");
                text(&mut out);
                out.extend_from_slice(
                    b",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n",
                );
            }
        }
        out.freeze()
    }

    /// After the last of `tokens` tokens: the `finish_reason` chunk, the
    /// usage chunk when asked for, and `data: [DONE]` (one write).
    pub(crate) fn completion(&self, tokens: u32) -> Bytes {
        let mut out = BytesMut::with_capacity(512);
        self.head(&mut out);
        match self.shape {
            Shape::Chat => out.extend_from_slice(
                b"\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n",
            ),
            Shape::Completions => out.extend_from_slice(
                b"\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n",
            ),
        }
        if self.include_usage {
            self.head(&mut out);
            let (p, n) = (self.prompt_tokens, u64::from(tokens));
            write!(
                out,
                "\"choices\":[],\"usage\":{{\"prompt_tokens\":{p},\"completion_tokens\":{n},\"total_tokens\":{}}}}}\n\n",
                p + n
            )
            .expect("invariant: writing to BytesMut cannot fail");
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        out.freeze()
    }

    /// OpenAI's in-stream error object, replacing token `n` (the `error_at` knob).
    pub(crate) fn error(&self, n: u32) -> Bytes {
        Bytes::from(format!(
            "data: {{\"error\":{{\"message\":\"injected error at token {n}\",\"type\":\"server_error\",\"param\":null,\"code\":null}}}}\n\n"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data of each event in `bytes`, parsed (`[DONE]` as a string).
    fn events(bytes: &Bytes) -> Vec<Value> {
        let text = std::str::from_utf8(bytes).expect("utf-8");
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let data = e.strip_prefix("data: ").expect("one data line");
                if data == "[DONE]" {
                    Value::String(data.to_owned())
                } else {
                    serde_json::from_str(data).expect("JSON data")
                }
            })
            .collect()
    }

    fn at<'v>(v: &'v Value, pointer: &str) -> &'v Value {
        v.pointer(pointer).unwrap_or(&Value::Null)
    }

    #[test]
    fn chat_stream_has_openais_shape() {
        let body: Value = serde_json::json!({
            "model": "m\"1",
            "messages": [{"role": "user", "content": "say three words"}],
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": 3
        });
        assert_eq!(max_tokens(&body), Some(3));
        let plan = LlmPlan::new(Shape::Chat, &body);
        let pre = events(&plan.preamble().expect("chat has a role chunk"));
        assert_eq!(at(&pre[0], "/choices/0/delta/role"), "assistant");
        assert_eq!(at(&pre[0], "/choices/0/delta/content"), "");
        assert_eq!(at(&pre[0], "/model"), "m\"1");
        assert_eq!(at(&pre[0], "/object"), "chat.completion.chunk");
        let token = events(&plan.token(1, b"xx"));
        assert_eq!(at(&token[0], "/choices/0/delta/content"), "tok1 xx");
        let tail = events(&plan.completion(3));
        assert_eq!(tail.len(), 3, "finish, usage, [DONE]");
        assert_eq!(at(&tail[0], "/choices/0/finish_reason"), "length");
        assert_eq!(at(&tail[1], "/choices"), &serde_json::json!([]));
        assert_eq!(
            at(&tail[1], "/usage"),
            &serde_json::json!({"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6})
        );
        assert_eq!(tail[2], "[DONE]");
        let error = events(&plan.error(2));
        assert_eq!(at(&error[0], "/error/type"), "server_error");
    }

    #[test]
    fn completions_stream_has_openais_shape() {
        let body =
            serde_json::json!({"prompt": "a b", "max_completion_tokens": 9, "max_tokens": 2});
        assert_eq!(max_tokens(&body), Some(9));
        let plan = LlmPlan::new(Shape::Completions, &body);
        assert_eq!(plan.preamble(), None);
        let token = events(&plan.token(7, b""));
        assert_eq!(at(&token[0], "/choices/0/text"), "tok7 ");
        assert_eq!(at(&token[0], "/object"), "text_completion");
        // No include_usage: no usage chunk.
        let tail = events(&plan.completion(1));
        assert_eq!(tail.len(), 2);
        assert_eq!(at(&tail[0], "/choices/0/text"), "");
        assert_eq!(tail[1], "[DONE]");
    }

    #[test]
    fn shapes_by_path() {
        for (path, shape) in [
            ("/v1/chat/completions", Shape::Chat),
            ("/v1/completions", Shape::Completions),
            ("/openai/deployments/x/completions", Shape::Completions),
            ("/trigger_invocation", Shape::Chat),
        ] {
            assert_eq!(Shape::for_path(path), shape, "{path}");
        }
    }
}
