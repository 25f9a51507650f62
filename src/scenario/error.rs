//! [`ScenarioError`]: every problem with a scenario, located by file, line,
//! column and key, plus the "did you mean" machinery shared with thresholds.
//!
//! One error type for the whole loading pipeline (read, parse, `--set`,
//! unknown keys, types, validation) because the user's fix is always the same
//! kind of thing: edit that key in that file. The CLI maps it to exit code 2.

use std::fmt;
use std::path::PathBuf;

/// A scenario that cannot be used, and where to fix it.
///
/// Displayed as `FILE:LINE:COL: key `KEY`: MESSAGE`. `line`/`column` are
/// 1-based; 0 means "no position" (the file could not be read, or the value
/// came from `--set`, which the message then names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The scenario file (or the `bodies_file` when a body line is bad).
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column in characters, 0 when unknown.
    pub column: usize,
    /// Dotted key path (`load.stages.1.to`), empty for file-level problems.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::error::Error for ScenarioError {}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(self, f)
    }
}

fn render(err: &ScenarioError, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}", err.file.display())?;
    if err.line > 0 {
        write!(f, ":{}:{}", err.line, err.column)?;
    }
    f.write_str(": ")?;
    if !err.key.is_empty() {
        write!(f, "key `{}`: ", err.key)?;
    }
    f.write_str(&err.message)
}

impl ScenarioError {
    /// An error with no position (I/O problems, `--set` syntax).
    pub fn unplaced(
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ScenarioError {
            file: file.into(),
            line: 0,
            column: 0,
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Formats a key path the way TOML would write it: bare segments joined by
/// `.`, quoting any segment that is not a bare key (`thresholds."ttfe.p99"`).
pub(crate) fn key_string<S: AsRef<str>>(path: &[S]) -> String {
    let mut out = String::new();
    for (i, seg) in path.iter().enumerate() {
        let seg = seg.as_ref();
        if i > 0 {
            out.push('.');
        }
        let bare = !seg.is_empty()
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if bare {
            out.push_str(seg);
        } else {
            out.push('"');
            out.push_str(&seg.replace('\\', "\\\\").replace('"', "\\\""));
            out.push('"');
        }
    }
    out
}

/// 1-based (line, column) of byte `offset` in `text`; the column counts characters.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Levenshtein distance in characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word` by edit distance, if it is close enough to
/// be a plausible typo (at most 2 edits, or a third of the word's length).
/// Ties go to the earlier candidate.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let d = distance(word, candidate);
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// "unknown key" message with a suggestion or the list of valid keys.
pub(crate) fn unknown_key_message(key: &str, valid: &[&str]) -> String {
    match nearest(key, valid.iter().copied()) {
        Some(best) => format!("unknown key; did you mean `{best}`?"),
        None => format!("unknown key (valid keys here: {})", valid.join(", ")),
    }
}

/// "unknown value" message for an enumerated string setting.
pub(crate) fn unknown_value_message(what: &str, value: &str, valid: &[&str]) -> String {
    let list = valid
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    match nearest(value, valid.iter().copied()) {
        Some(best) => {
            format!("unknown {what} \"{value}\"; did you mean \"{best}\"? (one of {list})")
        }
        None => format!("unknown {what} \"{value}\" (one of {list})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        let mut err = ScenarioError {
            file: "s.toml".into(),
            line: 3,
            column: 7,
            key: "server.evnts".into(),
            message: "unknown key; did you mean `events`?".into(),
        };
        assert_eq!(
            err.to_string(),
            "s.toml:3:7: key `server.evnts`: unknown key; did you mean `events`?"
        );
        err.line = 0;
        assert_eq!(
            err.to_string(),
            "s.toml: key `server.evnts`: unknown key; did you mean `events`?"
        );
        err.key.clear();
        assert_eq!(
            err.to_string(),
            "s.toml: unknown key; did you mean `events`?"
        );
    }

    #[test]
    fn suggestions() {
        let keys = [
            "events",
            "interval",
            "first_event_delay",
            "payload_bytes",
            "fail_rate",
        ];
        for (word, want) in [
            ("evnts", Some("events")),
            ("intervall", Some("interval")),
            ("first_event_dealy", Some("first_event_delay")),
            ("failrate", Some("fail_rate")),
            ("zzzzzz", None),
            ("x", None),
        ] {
            assert_eq!(nearest(word, keys), want, "{word}");
        }
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn key_paths_and_positions() {
        assert_eq!(
            key_string(&["load", "stages", "1", "to"]),
            "load.stages.1.to"
        );
        assert_eq!(
            key_string(&["thresholds", "ttfe.p99"]),
            "thresholds.\"ttfe.p99\""
        );
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 3)); // after the two-byte é
        assert_eq!(line_col(text, 999), (3, 1));
    }
}
