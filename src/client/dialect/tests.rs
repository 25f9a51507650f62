//! Table tests built from the APIs' documented example streams.

use super::*;

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs `f` with the dialect of `preset` (its own content pointer).
fn with_preset<T>(preset: Preset, f: impl FnOnce(&Dialect<'_>) -> T) -> T {
    let content = strings(preset_content(preset));
    f(&Dialect {
        preset,
        content: &content,
        error_field: "error",
        done: None,
        done_field: "Data",
    })
}

fn content(usage: Option<u64>) -> Result<Chunk, ()> {
    Ok(Chunk::Content { usage })
}

fn run(preset: Preset, cases: &[(&str, &str, Result<Chunk, ()>)]) {
    with_preset(preset, |d| {
        for (kind, data, want) in cases {
            let got = classify(d, kind, data).map_err(|_| ());
            assert_eq!(&got, want, "{preset:?} event {kind}: {data}");
        }
    });
}

/// OpenAI chat completions, streamed (API reference "The chat completion
/// chunk object", with `stream_options: {"include_usage": true}`).
#[test]
fn openai_chat_stream() {
    run(
        Preset::OpenAiChat,
        &[
            // The role-only first chunk: not a token.
            ("message", r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#, Ok(Chunk::NoContent)),
            ("message", r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}"#, Ok(Chunk::NoContent)),
            ("message", r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}"#, content(None)),
            // Escapes are content too, never unescaped.
            ("message", r#"{"choices":[{"index":0,"delta":{"content":"\n\u00e9\""},"finish_reason":null}]}"#, content(None)),
            // Empty deltas and the finish_reason chunk.
            ("message", r#"{"choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}"#, Ok(Chunk::NoContent)),
            ("message", r#"{"choices":[{"index":0,"delta":{"content":null},"finish_reason":null}]}"#, Ok(Chunk::NoContent)),
            ("message", r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#, Ok(Chunk::NoContent)),
            // Tool-call deltas carry no content.
            ("message", r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]},"finish_reason":null}]}"#, Ok(Chunk::NoContent)),
            // The usage chunk: empty choices.
            ("message", r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"completion_tokens_details":{"reasoning_tokens":0}}}"#, Ok(Chunk::Usage(12))),
            // vLLM's continuous usage stats: content and a running count.
            ("message", r#"{"choices":[{"index":0,"delta":{"content":" world"}}],"usage":{"prompt_tokens":9,"total_tokens":11,"completion_tokens":2}}"#, content(Some(2))),
            ("message", "[DONE]", Ok(Chunk::Done)),
            ("message", "[DONE] ", Ok(Chunk::Done)),
            // A mid-stream error (OpenAI, and vLLM's older shape).
            ("message", r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#, Ok(Chunk::Error("server-sent error: The server had an error while processing your request. Sorry about that! (server_error)".to_owned()))),
            ("message", r#"{"object":"error","message":"boom","type":"InternalServerError","param":null,"code":500}"#, Ok(Chunk::Error(r#"error event: {"object":"error","message":"boom","type":"InternalServerError","param":null,"code":500}"#.to_owned()))),
            ("message", r#"{"error":"rate limited"}"#, Ok(Chunk::Error("server-sent error: rate limited".to_owned()))),
            ("error", "upstream gone", Ok(Chunk::Error("error event: upstream gone".to_owned()))),
            // `error: null` is no error; the choice's `object` is not the top-level one.
            ("message", r#"{"error":null,"choices":[{"object":"error","delta":{"content":"x"}}]}"#, content(None)),
            // Not JSON, not [DONE]: malformed (counted, the stream goes on).
            ("message", "not json", Err(())),
            ("message", r#"{"choices":[{"delta":{"content":"x"}}]} trailing"#, Err(())),
            ("message", "[1,2]", Err(())),
            // Only the first choice is the content; a second is skipped.
            ("message", r#"{"choices":[{"index":0,"delta":{}},{"index":1,"delta":{"content":"x"}}]}"#, Ok(Chunk::NoContent)),
            ("message", r#"{"choices":"nope"}"#, Ok(Chunk::NoContent)),
        ],
    );
}

/// OpenAI (legacy) completions, streamed.
#[test]
fn openai_completions_stream() {
    run(
        Preset::OpenAiCompletions,
        &[
            (
                "message",
                r#"{"id":"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe","object":"text_completion","created":1690759702,"choices":[{"text":"This","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct","system_fingerprint":"fp_44709d6fcb"}"#,
                content(None),
            ),
            (
                "message",
                r#"{"object":"text_completion","choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"model":"gpt-3.5-turbo-instruct"}"#,
                Ok(Chunk::NoContent),
            ),
            // A chat-shaped chunk is not completions content.
            (
                "message",
                r#"{"choices":[{"index":0,"delta":{"content":"Hello"}}]}"#,
                Ok(Chunk::NoContent),
            ),
            (
                "message",
                r#"{"object":"text_completion","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#,
                Ok(Chunk::Usage(7)),
            ),
            ("message", "[DONE]", Ok(Chunk::Done)),
            (
                "message",
                r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
                Ok(Chunk::Error(
                    "server-sent error: overloaded (server_error)".to_owned(),
                )),
            ),
        ],
    );
}

/// Anthropic Messages, streamed ("Streaming Messages": the basic example,
/// a thinking and a tool-use delta, and the error event).
#[test]
fn anthropic_stream() {
    run(
        Preset::Anthropic,
        &[
            (
                "message_start",
                r#"{"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-opus-4-20250514", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}"#,
                Ok(Chunk::NoContent),
            ),
            (
                "content_block_start",
                r#"{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}"#,
                Ok(Chunk::NoContent),
            ),
            ("ping", r#"{"type": "ping"}"#, Ok(Chunk::NoContent)),
            (
                "content_block_delta",
                r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}"#,
                content(None),
            ),
            (
                "content_block_delta",
                r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}"#,
                content(None),
            ),
            (
                "content_block_delta",
                r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ""}}"#,
                Ok(Chunk::NoContent),
            ),
            // Key order does not matter.
            (
                "content_block_delta",
                r#"{"delta": {"text": "Hi", "type": "text_delta"}, "index": 0, "type": "content_block_delta"}"#,
                content(None),
            ),
            (
                "content_block_delta",
                r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me solve this step by step"}}"#,
                Ok(Chunk::NoContent),
            ),
            (
                "content_block_delta",
                r#"{"type": "content_block_delta","index": 1,"delta": {"type": "input_json_delta","partial_json": "{\"location\": \"San Fra"}}"#,
                Ok(Chunk::NoContent),
            ),
            (
                "content_block_stop",
                r#"{"type": "content_block_stop", "index": 0}"#,
                Ok(Chunk::NoContent),
            ),
            (
                "message_delta",
                r#"{"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}"#,
                Ok(Chunk::Usage(15)),
            ),
            (
                "message_stop",
                r#"{"type": "message_stop"}"#,
                Ok(Chunk::Done),
            ),
            // The type in the data is enough when a proxy dropped `event:`.
            ("message", r#"{"type": "message_stop"}"#, Ok(Chunk::Done)),
            (
                "error",
                r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
                Ok(Chunk::Error(
                    "server-sent error: Overloaded (overloaded_error)".to_owned(),
                )),
            ),
            (
                "message",
                r#"{"type": "error", "error": null}"#,
                Ok(Chunk::Error(
                    r#"error event: {"type": "error", "error": null}"#.to_owned(),
                )),
            ),
            // [DONE] is not Anthropic's marker.
            ("message", "[DONE]", Err(())),
            // A `text` outside a content_block_delta is not content.
            (
                "message",
                r#"{"type": "other", "delta": {"text": "x"}}"#,
                Ok(Chunk::NoContent),
            ),
        ],
    );
}

/// `format = "json"` with `content_field`, `done` and `error_field`.
#[test]
fn custom_pointer() {
    /// (pointer, error_field, done, data, expected)
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
        Result<Chunk, ()>,
    );
    let cases: [Case<'_>; 12] = [
        ("/token", "error", None, r#"{"token": "hi"}"#, content(None)),
        (
            "/token",
            "error",
            None,
            r#"{"token": ""}"#,
            Ok(Chunk::NoContent),
        ),
        (
            "/token",
            "error",
            None,
            r#"{"token": 5}"#,
            Ok(Chunk::NoContent),
        ),
        (
            "/out/text",
            "error",
            None,
            r#"{"out": {"text": "a"}, "usage": {"output_tokens": 3}}"#,
            content(Some(3)),
        ),
        (
            "/a~1b/m~0n",
            "error",
            None,
            r#"{"a/b": {"m~n": "x"}}"#,
            content(None),
        ),
        (
            "/list/1",
            "error",
            None,
            r#"{"list": ["", "x"]}"#,
            content(None),
        ),
        (
            "/list/01",
            "error",
            None,
            r#"{"list": ["", "x"]}"#,
            Ok(Chunk::NoContent),
        ),
        (
            "/token",
            "err",
            None,
            r#"{"err": {"message": "bad"}}"#,
            Ok(Chunk::Error("server-sent error: bad".to_owned())),
        ),
        (
            "/token",
            "err",
            None,
            r#"{"error": "not my field", "token": "t"}"#,
            content(None),
        ),
        ("/token", "error", Some("[END]"), "[END]", Ok(Chunk::Done)),
        (
            "/token",
            "error",
            Some("Stream completed"),
            r#"{"Data": "Stream completed"}"#,
            Ok(Chunk::Done),
        ),
        ("/token", "error", None, "[DONE]", Err(())),
    ];
    for (pointer, error_field, done, data, want) in cases {
        let pointer = ContentPointer::parse(pointer).expect("valid pointer");
        let d = Dialect {
            preset: Preset::Custom,
            content: &pointer.segments,
            error_field,
            done,
            done_field: "Data",
        };
        assert_eq!(
            classify(&d, "message", data).map_err(|_| ()),
            want,
            "{pointer} {data}"
        );
    }
}

#[test]
fn pointers() {
    for (text, want) in [
        (
            "/choices/0/delta/content",
            Ok(vec!["choices", "0", "delta", "content"]),
        ),
        ("/a~1b/~0", Ok(vec!["a/b", "~"])),
        ("/", Ok(vec![""])),
        ("", Err(())),
        ("choices/0", Err(())),
        ("/a~2", Err(())),
        ("/a~", Err(())),
    ] {
        let got = ContentPointer::parse(text)
            .map(|p| p.segments)
            .map_err(|_| ());
        let want = want.map(|w| strings(&w));
        assert_eq!(got, want, "{text:?}");
    }
}

#[test]
fn token_clock() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let c = Chunk::Content { usage: None };
    // (chunks in order with their times, tokens, tpot)
    /// (chunks with their ms, tokens, tpot ms, first content ms)
    type Case<'a> = (&'a [(Chunk, u64)], u64, Option<u64>, Option<u64>);
    let cases: [Case<'_>; 5] = [
        (&[], 0, None, None),
        (&[(Chunk::NoContent, 1), (c.clone(), 10)], 1, None, Some(10)),
        // Chunks count when no usage comes.
        (
            &[
                (c.clone(), 10),
                (c.clone(), 20),
                (c.clone(), 40),
                (Chunk::Done, 41),
            ],
            3,
            Some(15),
            Some(10),
        ),
        // The server's usage wins over chunks; the last count holds.
        (
            &[
                (c.clone(), 10),
                (Chunk::Usage(1), 11),
                (c.clone(), 110),
                (Chunk::Usage(11), 111),
            ],
            11,
            Some(10),
            Some(10),
        ),
        // Usage before any content: no first content, no tpot.
        (&[(Chunk::Usage(5), 3)], 5, None, None),
    ];
    for (chunks, tokens, tpot_ms, first_ms) in cases {
        let mut clock = Tokens::default();
        for (chunk, at) in chunks {
            clock.observe(chunk, ms(*at));
        }
        assert_eq!(clock.output_tokens(), tokens, "{chunks:?}");
        assert_eq!(
            clock.tpot(),
            tpot_ms.map(Duration::from_millis),
            "{chunks:?}"
        );
        assert_eq!(clock.first_content(), first_ms.map(ms), "{chunks:?}");
    }
    // itl is every gap between content chunks, nothing else.
    let mut clock = Tokens::default();
    let itls: Vec<Option<Duration>> = [
        (Chunk::NoContent, 0),
        (c.clone(), 5),
        (Chunk::Usage(1), 6),
        (c.clone(), 9),
        (Chunk::NoContent, 10),
        (c.clone(), 15),
    ]
    .iter()
    .map(|(chunk, at)| clock.observe(chunk, ms(*at)))
    .collect();
    let d = |n| Some(Duration::from_millis(n));
    assert_eq!(itls, vec![None, None, None, d(4), None, d(6)]);
}
