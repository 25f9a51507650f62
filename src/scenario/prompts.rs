//! Prompts from a JSONL file into a request template: `body` with
//! `{{line.NAME}}` placeholders, filled from each line of `bodies_file`.
//!
//! LLM datasets come as one JSON object per line (`{"prompt": "…",
//! "max_tokens": 128}`), while the API wants a body with the prompt deep
//! inside (`messages[0].content`). So when a scenario sets both `body` and
//! `bodies_file`, each line fills the body once, at load time: a string
//! that is exactly `"{{line.NAME}}"` becomes the line's value itself (a
//! number stays a number: `"max_tokens" = "{{line.max_tokens}}"` sends
//! `128`), and `{{line.NAME}}` inside a longer string becomes the value's
//! text. The filled bodies are then ordinary templates (`{{session}}` …
//! still work), used round-robin like whole-body lines, so a run with the
//! same `seed` sends the same prompts in the same order.

use serde_json::{Map, Value};

/// The placeholder prefix.
const PREFIX: &str = "{{line.";

/// Whether `body` has any `{{line.…}}` placeholder (keys included).
pub(crate) fn has_placeholders(body: &Value) -> bool {
    match body {
        Value::String(s) => s.contains(PREFIX),
        Value::Array(items) => items.iter().any(has_placeholders),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains(PREFIX) || has_placeholders(v)),
        _ => false,
    }
}

/// `body` with every `{{line.NAME}}` replaced from `line`.
///
/// # Errors
/// The message names the field a placeholder asks for and the line lacks,
/// or a placeholder without its closing `}}`.
pub(crate) fn fill(body: &Value, line: &Map<String, Value>) -> Result<Value, String> {
    Ok(match body {
        Value::String(s) => fill_string(s, line)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill(v, line))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match fill_string(k, line)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, fill(v, line)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn lookup<'l>(line: &'l Map<String, Value>, name: &str) -> Result<&'l Value, String> {
    line.get(name).ok_or_else(|| {
        let mut have: Vec<&str> = line.keys().map(String::as_str).collect();
        have.sort_unstable();
        format!(
            "the line has no field `{name}` for {{{{line.{name}}}}} (its fields: {})",
            have.join(", ")
        )
    })
}

fn fill_string(s: &str, line: &Map<String, Value>) -> Result<Value, String> {
    if !s.contains(PREFIX) {
        return Ok(Value::String(s.to_owned()));
    }
    // The whole string is one placeholder: the value itself, any JSON type.
    if let Some(name) = s.strip_prefix(PREFIX).and_then(|r| r.strip_suffix("}}")) {
        if !name.contains("}}") {
            return lookup(line, name).cloned();
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find(PREFIX) {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + PREFIX.len()..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("`{PREFIX}` without its closing `}}}}` in \"{s}\""))?;
        match lookup(line, &after[..close])? {
            Value::String(text) => out.push_str(text),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_a_chat_template() {
        let body = json!({
            "model": "m",
            "stream": true,
            "messages": [{"role": "user", "content": "{{line.prompt}}"}],
            "max_tokens": "{{line.max_tokens}}",
            "user": "s{{session}}-{{line.id}}"
        });
        assert!(has_placeholders(&body));
        let line = json!({"prompt": "Why is the sky blue?", "max_tokens": 64, "id": 7});
        let filled = fill(&body, line.as_object().expect("object")).expect("fills");
        assert_eq!(
            filled,
            json!({
                "model": "m",
                "stream": true,
                "messages": [{"role": "user", "content": "Why is the sky blue?"}],
                "max_tokens": 64,
                "user": "s{{session}}-7"
            })
        );
    }

    #[test]
    fn errors_name_the_field() {
        let line = json!({"prompt": "p"});
        let line = line.as_object().expect("object");
        let cases = [
            (json!({"x": "{{line.max_tokens}}"}), "no field `max_tokens`"),
            (json!({"x": "a {{line.prompt"}), "without its closing"),
        ];
        for (body, want) in cases {
            let err = fill(&body, line).expect_err("fails");
            assert!(err.contains(want), "{err}");
        }
        assert!(!has_placeholders(&json!({"q": "{{session}}"})));
        assert_eq!(
            fill(&json!({"q": "{{session}}", "n": 1}), line).expect("nothing to fill"),
            json!({"q": "{{session}}", "n": 1})
        );
    }
}
