//! `${VAR}` expansion at load time, `{{session}}` / `{{iteration}}` /
//! `{{shard}}` placeholders at send time, and [`Secret`] values.
//!
//! Why two syntaxes: `${VAR}` is resolved once, when the scenario is loaded
//! (an unset variable is an error then, not a surprise mid-run), while
//! `{{…}}` changes on every request. A body is compiled once into a
//! [`BodyTemplate`]: the JSON is serialized to bytes and the placeholders are
//! recorded as splice points, so rendering a request body is a few
//! `extend_from_slice` calls and integer formatting — no JSON work, no
//! allocation beyond the output buffer's growth.
//!
//! Secrets: whatever `${VAR}` expands to may be a credential. Header values
//! are kept as [`Secret`] (whose `Debug`/`Display` print `<redacted>`), and a
//! body template's `Debug` shows the body as written, before expansion.

use std::fmt;

/// A value that must never be printed: header values and `${VAR}` expansions.
/// `Debug` and `Display` print `<redacted>`; [`Secret::expose`] gives the value
/// to the one place that sends it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for putting on the wire. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a template could not be expanded or compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${NAME}` with `NAME` unset in the environment (and no `:-default`).
    #[error("environment variable `{0}` is not set (export it, or write ${{{0}:-default}})")]
    Unset(String),
    /// `${` without a closing `}`.
    #[error("`${{` without a closing `}}` in `{0}`")]
    Unterminated(String),
    /// `${}` or a name with characters other than letters, digits and `_`.
    #[error("`${{{0}}}` is not a valid variable name (letters, digits and `_`)")]
    BadName(String),
    /// `{{name}}` where name is not a known placeholder.
    #[error("unknown placeholder `{{{{{0}}}}}` (use {{{{session}}}}, {{{{iteration}}}} or {{{{shard}}}})")]
    UnknownPlaceholder(String),
    /// A body that is not representable as JSON (e.g. a NaN float).
    #[error("{0}")]
    Json(String),
}

/// Expands `${NAME}` and `${NAME:-default}` in `text` using `env`.
///
/// `$$` is a literal `$`; a `$` not followed by `{` is kept as is.
pub fn expand_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let close = inner
                .find('}')
                .ok_or_else(|| TemplateError::Unterminated(text.to_owned()))?;
            let spec = &inner[..close];
            let (name, default) = match spec.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (spec, None),
            };
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(TemplateError::BadName(spec.to_owned()));
            }
            match (env(name), default) {
                (Some(value), Some(d)) if value.is_empty() => out.push_str(d),
                (Some(value), _) => out.push_str(&value),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(TemplateError::Unset(name.to_owned())),
            }
            rest = &inner[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    Literal { start: usize, end: usize },
    Session,
    Iteration,
    Shard,
}

/// A request body compiled once: JSON bytes with `{{session}}`,
/// `{{iteration}}` and `{{shard}}` splice points (placeholders may appear in
/// any JSON string, keys included; they become decimal digits, which need no
/// JSON escaping).
///
/// ```
/// use streamsoak::scenario::BodyTemplate;
///
/// let body = serde_json::json!({ "query": "load {{session}}/{{iteration}}" });
/// let template = BodyTemplate::compile(&body, &|_| None).unwrap();
/// let mut out = Vec::new();
/// template.render(7, 2, &mut out);
/// assert_eq!(out, br#"{"query":"load 7/2"}"#);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BodyTemplate {
    /// The body as written, before `${VAR}` expansion (safe to print).
    source: String,
    bytes: Vec<u8>,
    pieces: Vec<Piece>,
    placeholders: usize,
}

impl BodyTemplate {
    /// Compiles a JSON value: expands `${VAR}` in every string (keys and
    /// values), serializes it compactly, and records placeholder positions.
    pub fn compile(
        value: &serde_json::Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BodyTemplate, TemplateError> {
        let source =
            serde_json::to_string(value).map_err(|err| TemplateError::Json(err.to_string()))?;
        let expanded = expand_value(value, env)?;
        let bytes =
            serde_json::to_vec(&expanded).map_err(|err| TemplateError::Json(err.to_string()))?;
        Self::from_bytes(source, bytes)
    }

    /// Compiles one line of JSON text (a `bodies_file` line).
    pub fn compile_json_text(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BodyTemplate, TemplateError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|err| TemplateError::Json(err.to_string()))?;
        Self::compile(&value, env)
    }

    fn from_bytes(source: String, bytes: Vec<u8>) -> Result<BodyTemplate, TemplateError> {
        let mut pieces = Vec::new();
        let mut literal_start = 0;
        let mut i = 0;
        let mut placeholders = 0;
        while let Some(off) = find(&bytes[i..], b"{{") {
            let open = i + off;
            let Some(close_off) = find(&bytes[open + 2..], b"}}") else {
                break;
            };
            let name = &bytes[open + 2..open + 2 + close_off];
            let piece = match name {
                b"session" => Piece::Session,
                b"iteration" => Piece::Iteration,
                b"shard" => Piece::Shard,
                _ if !name.is_empty()
                    && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') =>
                {
                    return Err(TemplateError::UnknownPlaceholder(
                        String::from_utf8_lossy(name).into_owned(),
                    ));
                }
                _ => {
                    // Not a placeholder (`{{ x }}`, `{{}}`): keep scanning after `{{`.
                    i = open + 2;
                    continue;
                }
            };
            if open > literal_start {
                pieces.push(Piece::Literal {
                    start: literal_start,
                    end: open,
                });
            }
            pieces.push(piece);
            placeholders += 1;
            literal_start = open + 2 + close_off + 2;
            i = literal_start;
        }
        if literal_start < bytes.len() {
            pieces.push(Piece::Literal {
                start: literal_start,
                end: bytes.len(),
            });
        }
        Ok(BodyTemplate {
            source,
            bytes,
            pieces,
            placeholders,
        })
    }

    /// Appends the body for `session` / `iteration` to `out` (`{{shard}}`
    /// renders as 0). Allocates nothing except `out`'s growth.
    pub fn render(&self, session: u64, iteration: u64, out: &mut Vec<u8>) {
        self.render_sharded(session, iteration, 0, out);
    }

    /// Like [`BodyTemplate::render`], with the shard for `{{shard}}`: I of
    /// `--shard I/N` (from 1), 0 when the run is not sharded.
    pub fn render_sharded(&self, session: u64, iteration: u64, shard: u64, out: &mut Vec<u8>) {
        out.reserve(self.bytes.len() + self.placeholders * 20);
        for piece in &self.pieces {
            match *piece {
                Piece::Literal { start, end } => out.extend_from_slice(&self.bytes[start..end]),
                Piece::Session => push_decimal(session, out),
                Piece::Iteration => push_decimal(iteration, out),
                Piece::Shard => push_decimal(shard, out),
            }
        }
    }

    /// The body as written in the scenario, before `${VAR}` expansion.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the body changes per request (has any placeholder).
    pub fn is_static(&self) -> bool {
        self.placeholders == 0
    }
}

impl fmt::Debug for BodyTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BodyTemplate").field(&self.source).finish()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn push_decimal(mut n: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn expand_value(
    value: &serde_json::Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<serde_json::Value, TemplateError> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => Value::String(expand_env(s, env)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| expand_value(v, env))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(expand_env(k, env)?, expand_value(v, env)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            "QUOTE" => Some("a\"b".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_env() {
        for (text, want) in [
            ("plain", Ok("plain".to_owned())),
            ("Bearer ${TOKEN}", Ok("Bearer s3cr3t".to_owned())),
            ("${TOKEN}${TOKEN}", Ok("s3cr3ts3cr3t".to_owned())),
            ("cost $5 and $$HOME", Ok("cost $5 and $HOME".to_owned())),
            ("$${TOKEN}", Ok("${TOKEN}".to_owned())),
            ("${MISSING:-dflt}", Ok("dflt".to_owned())),
            ("${EMPTY:-dflt}", Ok("dflt".to_owned())),
            ("${EMPTY}", Ok(String::new())),
            ("${MISSING}", Err(TemplateError::Unset("MISSING".into()))),
            (
                "${TOKEN",
                Err(TemplateError::Unterminated("${TOKEN".into())),
            ),
            ("${}", Err(TemplateError::BadName(String::new()))),
            ("${A-B}", Err(TemplateError::BadName("A-B".into()))),
            ("${1X}", Err(TemplateError::BadName("1X".into()))),
        ] {
            assert_eq!(expand_env(text, &env), want, "{text}");
        }
        let msg = TemplateError::Unset("STAGING_TOKEN".into()).to_string();
        assert!(msg.contains("`STAGING_TOKEN` is not set"), "{msg}");
    }

    #[test]
    fn renders_placeholders() {
        for (body, session, iteration, shard, want) in [
            (
                json!({"query": "load {{session}}/{{iteration}}"}),
                7,
                0,
                0,
                r#"{"query":"load 7/0"}"#,
            ),
            (
                json!({"q": "{{shard}}-{{session}}"}),
                12,
                3,
                2,
                r#"{"q":"2-12"}"#,
            ),
            (
                json!({"{{iteration}}": true}),
                1,
                u64::MAX,
                0,
                r#"{"18446744073709551615":true}"#,
            ),
            (json!({"q": "static"}), 1, 2, 3, r#"{"q":"static"}"#),
            (
                json!({"q": "{{ session }} {{}}"}),
                1,
                2,
                3,
                r#"{"q":"{{ session }} {{}}"}"#,
            ),
            (json!({"q": "{{session}}"}), 0, 0, 0, r#"{"q":"0"}"#),
            (json!("{{session}}"), 5, 0, 0, r#""5""#),
        ] {
            let template = BodyTemplate::compile(&body, &env).expect("compiles");
            let mut out = b"prefix:".to_vec();
            template.render_sharded(session, iteration, shard, &mut out);
            assert_eq!(
                String::from_utf8(out).expect("utf8"),
                format!("prefix:{want}")
            );
        }
    }

    #[test]
    fn expands_env_in_body_with_json_escaping_and_hides_it() {
        let body = json!({"auth": "${TOKEN}", "q": "${QUOTE}"});
        let template = BodyTemplate::compile(&body, &env).expect("compiles");
        let mut out = Vec::new();
        template.render(1, 1, &mut out);
        assert_eq!(out, br#"{"auth":"s3cr3t","q":"a\"b"}"#);
        assert!(template.is_static());
        let shown = format!("{template:?}");
        assert!(
            !shown.contains("s3cr3t") && shown.contains("${TOKEN}"),
            "{shown}"
        );
    }

    #[test]
    fn rejects_bad_bodies() {
        let unknown = BodyTemplate::compile(&json!({"q": "{{sesion}}"}), &env);
        assert_eq!(
            unknown,
            Err(TemplateError::UnknownPlaceholder("sesion".into()))
        );
        let unset = BodyTemplate::compile(&json!({"q": "${NOPE}"}), &env);
        assert_eq!(unset, Err(TemplateError::Unset("NOPE".into())));
        assert!(matches!(
            BodyTemplate::compile_json_text("{\"q\":", &env),
            Err(TemplateError::Json(_))
        ));
    }

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("Bearer s3cr3t");
        assert_eq!(format!("{secret:?} {secret}"), "<redacted> <redacted>");
        assert_eq!(secret.expose(), "Bearer s3cr3t");
    }
}
