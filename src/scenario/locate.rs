//! Mapping between key paths and places in the scenario text.
//!
//! serde forgets where a value came from, so errors are built from a key path
//! (`["load", "stages", "1", "to"]`) and [`Locator`] looks that path up in a
//! span-keeping `toml_edit::ImDocument` of the file as written. Paths set by
//! `--set` have no place in the file; their errors name the `--set` instead.
//! [`path_at`] goes the other way (a serde error's byte span → key path), and
//! [`check_unknown_keys`] walks the document against the serde field lists
//! before deserializing, so an unknown key gets its own position and a
//! "did you mean" suggestion. A syntax error has no document to look in:
//! [`syntax_error`] reads the key off the text of its line instead.

use std::ops::Range;
use std::path::Path;

use toml_edit::{ArrayOfTables, ImDocument, InlineTable, Item, Table, Value};

use super::error::{key_string, line_col, unknown_key_message, ScenarioError};
use super::overrides::Override;
use super::raw::{fields_at, pattern_of};

/// A read-only view of any TOML container or leaf.
#[derive(Clone, Copy)]
pub(crate) enum Node<'d> {
    Table(&'d Table),
    Inline(&'d InlineTable),
    Array(&'d toml_edit::Array),
    Tables(&'d ArrayOfTables),
    Leaf,
}

/// One child: (segment, key span, value span, node).
type Child<'d> = (String, Option<Range<usize>>, Option<Range<usize>>, Node<'d>);

impl<'d> Node<'d> {
    pub(crate) fn of_item(item: &'d Item) -> Node<'d> {
        match item {
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
            Item::Value(v) => Node::of_value(v),
            Item::None => Node::Leaf,
        }
    }

    fn of_value(value: &'d Value) -> Node<'d> {
        match value {
            Value::InlineTable(t) => Node::Inline(t),
            Value::Array(a) => Node::Array(a),
            _ => Node::Leaf,
        }
    }

    /// Whether this node holds keys (a table of either kind).
    fn is_table(self) -> bool {
        matches!(self, Node::Table(_) | Node::Inline(_))
    }

    fn children(self) -> Vec<Child<'d>> {
        match self {
            Node::Table(t) => t
                .iter()
                .map(|(k, item)| {
                    (
                        k.to_owned(),
                        t.key(k).and_then(|k| k.span()),
                        item.span(),
                        Node::of_item(item),
                    )
                })
                .collect(),
            Node::Inline(t) => t
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_owned(),
                        t.key(k).and_then(|k| k.span()),
                        v.span(),
                        Node::of_value(v),
                    )
                })
                .collect(),
            Node::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), None, v.span(), Node::of_value(v)))
                .collect(),
            Node::Tables(a) => a
                .iter()
                .enumerate()
                .map(|(i, t)| (i.to_string(), None, t.span(), Node::Table(t)))
                .collect(),
            Node::Leaf => Vec::new(),
        }
    }

    fn child(self, seg: &str) -> Option<Child<'d>> {
        self.children().into_iter().find(|(s, ..)| s == seg)
    }
}

fn contains(span: &Option<Range<usize>>, offset: usize) -> bool {
    span.as_ref()
        .is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
}

/// The deepest key path whose key or value span contains byte `offset`.
pub(crate) fn path_at(doc: &ImDocument<String>, offset: usize) -> Vec<String> {
    fn search(node: Node<'_>, offset: usize, path: &mut Vec<String>) -> bool {
        for (seg, key_span, value_span, child) in node.children() {
            path.push(seg);
            if search(child, offset, path)
                || contains(&key_span, offset)
                || contains(&value_span, offset)
            {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Vec::new();
    search(Node::Table(doc.as_table()), offset, &mut path);
    path
}

/// Finds errors' positions: in the file as written, or in a `--set`.
pub(crate) struct Locator<'a> {
    pub(crate) file: &'a Path,
    pub(crate) original: &'a ImDocument<String>,
    pub(crate) overrides: &'a [Override],
}

impl Locator<'_> {
    /// The `--set` that produced `path`, if any (the last one, when several
    /// did): one that set `path` or one of its ancestors, or one that
    /// created a table holding `path` — their common ancestor is not in the
    /// file. So `laod` is blamed on `--set laod.x=1`, and the default
    /// `retry.backoff.max` on `--set retry.backoff.base=1m` when the file
    /// has no `[retry]`.
    fn override_for(&self, path: &[String]) -> Option<&Override> {
        self.overrides.iter().rev().find(|o| {
            let common = o.path.iter().zip(path).take_while(|(a, b)| a == b).count();
            common == o.path.len() || !self.in_file(&path[..common])
        })
    }

    /// Whether `path` exists in the file as written.
    fn in_file(&self, path: &[String]) -> bool {
        let mut node = Node::Table(self.original.as_table());
        for seg in path {
            let Some((.., child)) = node.child(seg) else {
                return false;
            };
            node = child;
        }
        true
    }

    /// 1-based (line, column) of `path` in the file; the nearest existing
    /// ancestor when the key itself is absent; (1, 1) when nothing matches.
    pub(crate) fn position(&self, path: &[String]) -> (usize, usize) {
        let mut node = Node::Table(self.original.as_table());
        let mut best = None;
        for seg in path {
            let Some((_, key_span, value_span, child)) = node.child(seg) else {
                break;
            };
            if let Some(span) = key_span.or(value_span) {
                best = Some(span.start);
            }
            node = child;
        }
        best.map_or((1, 1), |offset| line_col(self.original.raw(), offset))
    }

    /// The line of `path` (for faults and thresholds), 0 if it came from `--set`.
    pub(crate) fn line(&self, path: &[String]) -> usize {
        if self.override_for(path).is_some() {
            0
        } else {
            self.position(path).0
        }
    }

    /// An error about the value at `path`.
    pub(crate) fn error(&self, path: &[String], message: impl Into<String>) -> ScenarioError {
        let mut message = message.into();
        let key = key_string(path);
        if let Some(o) = self.override_for(path) {
            message.push_str(&format!(" (from {})", o.spec));
            return ScenarioError::unplaced(self.file, key, message);
        }
        let (line, column) = self.position(path);
        ScenarioError {
            file: self.file.to_path_buf(),
            line,
            column,
            key,
            message,
        }
    }

    /// An error at a byte span of the *current* text (after `--set`):
    /// serde and parse errors. Without overrides the span is exact.
    pub(crate) fn error_at_span(
        &self,
        current: &ImDocument<String>,
        span: Option<Range<usize>>,
        message: &str,
    ) -> ScenarioError {
        let Some(span) = span else {
            return ScenarioError::unplaced(self.file, "", message);
        };
        let path = path_at(current, span.start);
        if self.overrides.is_empty() {
            let (line, column) = line_col(current.raw(), span.start);
            return ScenarioError {
                file: self.file.to_path_buf(),
                line,
                column,
                key: key_string(&path),
                message: message.to_owned(),
            };
        }
        self.error(&path, message)
    }
}

/// Reports the first key that no `Raw*` type declares, with a suggestion.
pub(crate) fn check_unknown_keys(
    current: &ImDocument<String>,
    locator: &Locator<'_>,
) -> Result<(), ScenarioError> {
    fn walk(
        node: Node<'_>,
        path: &mut Vec<String>,
        locator: &Locator<'_>,
    ) -> Result<(), ScenarioError> {
        let fields = if node.is_table() {
            fields_at(&pattern_of(path))
        } else {
            None
        };
        let checked = matches!(node, Node::Array(_) | Node::Tables(_)) || fields.is_some();
        if !checked {
            return Ok(());
        }
        for (seg, _, _, child) in node.children() {
            if let Some(fields) = fields {
                if !fields.contains(&seg.as_str()) {
                    path.push(seg.clone());
                    return Err(locator.error(path, unknown_key_message(&seg, fields)));
                }
            }
            path.push(seg);
            walk(child, path, locator)?;
            path.pop();
        }
        Ok(())
    }
    walk(Node::Table(current.as_table()), &mut Vec::new(), locator)
}

/// A TOML syntax error as a [`ScenarioError`]: the parser's position, the
/// key written on that line (see [`key_on_line`]) and the line itself, so
/// `events = four` reads "key `server.events`: invalid string in `events =
/// four`: expected …" rather than just "invalid string".
pub(crate) fn syntax_error(file: &Path, text: &str, err: &toml_edit::TomlError) -> ScenarioError {
    let (line, column) = err.span().map_or((0, 0), |s| line_col(text, s.start));
    let mut parts = err
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let mut message = parts.next().unwrap_or("invalid TOML").to_owned();
    let written = line
        .checked_sub(1)
        .and_then(|i| text.lines().nth(i))
        .map_or("", str::trim);
    let key = line
        .checked_sub(1)
        .map_or_else(String::new, |i| key_on_line(text, i));
    // Header values are secrets even when written literally: never echo them.
    let secret = key.contains("headers") || written.contains("headers");
    if !written.is_empty() && !secret {
        message.push_str(&format!(" in `{}`", shorten(written, 80)));
    }
    let detail = parts.collect::<Vec<_>>().join("; ");
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(&detail);
    }
    ScenarioError {
        file: file.to_path_buf(),
        line,
        column,
        key,
        message,
    }
}

/// `text` cut to at most `max` characters, marking the cut with `…`.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The dotted key written on 0-based line `index` of a scenario text that may
/// not parse: `key = …` there, prefixed with the table whose header is the
/// nearest above (`[[faults]]` numbered by its occurrence, as `faults.1`).
/// A line with no `key =` names its table; a broken header, or a line
/// before any header with no key, names nothing (""). A heuristic for
/// syntax errors only: it reads lines, not TOML, so a multi-line string or
/// array can mislead it (the message still shows the line itself).
pub(crate) fn key_on_line(text: &str, index: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(line) = lines.get(index) else {
        return String::new();
    };
    let own =
        parse_key(line).and_then(|(key, rest)| rest.trim_start().starts_with('=').then_some(key));
    if own.is_none() && line.trim_start().starts_with('[') && parse_header(line).is_none() {
        return String::new();
    }
    let table = (0..=index)
        .rev()
        .find_map(|i| parse_header(lines[i]).map(|header| (i, header)))
        .map_or_else(Vec::new, |(i, (mut path, array))| {
            if array {
                let n = lines[..i]
                    .iter()
                    .filter(|l| parse_header(l).is_some_and(|(p, a)| a && p == path))
                    .count();
                path.push(n.to_string());
            }
            path
        });
    let path: Vec<String> = table.into_iter().chain(own.unwrap_or_default()).collect();
    key_string(&path)
}

/// A table header line, `[a.b]` or `[[a.b]]` (then `true`), with an
/// optional comment after it.
fn parse_header(line: &str) -> Option<(Vec<String>, bool)> {
    let line = line.trim_start();
    let (array, inner) = match line.strip_prefix("[[") {
        Some(inner) => (true, inner),
        None => (false, line.strip_prefix('[')?),
    };
    let (path, rest) = parse_key(inner)?;
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix(if array { "]]" } else { "]" })?
        .trim_start();
    (rest.is_empty() || rest.starts_with('#')).then_some((path, array))
}

/// A dotted TOML key at the start of `text` (bare, "basic" or 'literal'
/// segments joined by `.`), and the text after it.
fn parse_key(text: &str) -> Option<(Vec<String>, &str)> {
    let mut rest = text.trim_start();
    let mut path = Vec::new();
    loop {
        let (segment, after) = if let Some(quoted) = rest.strip_prefix('"') {
            let mut segment = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => segment.push(chars.next()?.1),
                    (_, c) => segment.push(c),
                }
            };
            (segment, &quoted[end + 1..])
        } else if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'')?;
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            (rest[..end].to_owned(), &rest[end..])
        };
        path.push(segment);
        rest = after.trim_start();
        match rest.strip_prefix('.') {
            Some(next) => rest = next.trim_start(),
            None => return Some((path, rest)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> ImDocument<String> {
        ImDocument::parse(text.to_owned()).expect("valid toml")
    }

    #[test]
    fn positions_of_paths() {
        let d = doc("name = \"x\"\n[load]\nstages = [\n  { for = \"1s\", to = 1 },\n  { for = \"2s\", to = 2 },\n]\n\n[[faults]]\nat = \"1s\"\n\n[[faults]]\nat = \"2s\"\n");
        let locator = Locator {
            file: Path::new("s.toml"),
            original: &d,
            overrides: &[],
        };
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        for (path, want) in [
            (p(&["name"]), (1, 1)),
            (p(&["load", "stages"]), (3, 1)),
            (p(&["load", "stages", "1"]), (5, 3)),
            (p(&["load", "stages", "1", "to"]), (5, 17)),
            (p(&["load", "stages", "1", "missing"]), (5, 3)),
            (p(&["faults", "1", "at"]), (12, 1)),
            (p(&["nothing"]), (1, 1)),
        ] {
            assert_eq!(locator.position(&path), want, "{path:?}");
        }
        assert_eq!(locator.line(&p(&["faults", "1"])), 11);
    }

    #[test]
    fn errors_on_keys_a_set_created_name_the_set() {
        let d = doc("name = \"x\"\n[load]\nthink_time = \"1s\"\n\n[[faults]]\nat = \"1s\"\n");
        let p = |s: &str| s.split('.').map(str::to_owned).collect::<Vec<_>>();
        let overrides = [
            "laod.think_time=1s",
            "load.stages.0.to=1",
            "faults.0.at=2s",
            "faults.1.at=3s",
        ]
        .map(|s| Override::parse(s).expect("parses"));
        let locator = Locator {
            file: Path::new("s.toml"),
            original: &d,
            overrides: &overrides,
        };
        let err = locator.error(&p("laod"), "unknown key");
        assert_eq!((err.line, err.key.as_str()), (0, "laod"));
        assert!(
            err.message.ends_with("(from --set laod.think_time=1s)"),
            "{err}"
        );
        let err = locator.error(&p("load.stages"), "bad");
        assert!(
            err.message.ends_with("(from --set load.stages.0.to=1)"),
            "{err}"
        );
        // In the file: placed there, even though a --set edited below it.
        assert_eq!(locator.error(&p("load"), "bad").line, 2);
        assert_eq!(locator.line(&p("faults.0")), 5);
        // Appended by a --set.
        assert_eq!(locator.line(&p("faults.1")), 0);
    }

    #[test]
    fn spans_back_to_paths() {
        let text = "[server]\nevents = 4\n[load]\nstages = [{ for = \"1s\", to = 1 }]\n";
        let d = doc(text);
        for (needle, want) in [
            ("4", vec!["server", "events"]),
            ("1 }", vec!["load", "stages", "0", "to"]),
        ] {
            let offset = text.find(needle).expect("needle");
            assert_eq!(path_at(&d, offset), want, "{needle}");
        }
    }

    #[test]
    fn unknown_keys_are_found_with_suggestions() {
        for (text, key, msg) in [
            (
                "[server]\nevnts = 4\n",
                "server.evnts",
                "did you mean `events`?",
            ),
            ("nme = \"x\"\n", "nme", "did you mean `name`?"),
            (
                "[load]\nstages = [{ fr = \"1s\", to = 1 }]\n",
                "load.stages.0.fr",
                "did you mean `for`?",
            ),
            (
                "[retry]\nbackoff = { bse = \"1s\" }\n",
                "retry.backoff.bse",
                "did you mean `base`?",
            ),
            (
                "[[faults]]\nat = \"1s\"\nkindd = \"x\"\n",
                "faults.0.kindd",
                "did you mean `kind`?",
            ),
            ("[zzzz]\n", "zzzz", "valid keys here: name"),
        ] {
            let d = doc(text);
            let locator = Locator {
                file: Path::new("s.toml"),
                original: &d,
                overrides: &[],
            };
            let err = check_unknown_keys(&d, &locator).expect_err(text);
            assert_eq!(err.key, key);
            assert!(err.message.contains(msg), "{}", err.message);
            assert!(err.line > 0);
        }
        let free = doc("[request]\nheaders = { X-Any = \"1\" }\nbody = { anything = { deep = 1 } }\n[thresholds]\n\"ttfe.p99\" = \"< 1s\"\n");
        let locator = Locator {
            file: Path::new("s.toml"),
            original: &free,
            overrides: &[],
        };
        assert_eq!(check_unknown_keys(&free, &locator), Ok(()));
    }
}
